//! One blocking connection to a server: connect with `TCP_NODELAY` (without
//! it, pipelined RESTOREs stall on delayed ACKs), optionally TLS (rustls),
//! authenticate, and run commands. The pipelined load path splits the
//! connection into a [`ReadHalf`] and a [`WriteHalf`] used by two threads
//! (see [`super::pipeline`]); [`Conn::call`] serves set-up and control commands.
//!
//! A TLS session is one state machine, so its two halves share it behind a
//! mutex. The socket gets a short read timeout: a reader waiting for bytes
//! releases the lock every few milliseconds, so the writer is never blocked
//! for long; the reader gives up once it has waited the I/O timeout. (Redis buffers replies without limit for normal clients, so a
//! writer blocked on a full socket always makes progress.)

use std::io::{self, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

use super::error::{ClientError, ServerError};
use super::resp::{self, Reply};
use super::target::{Auth, Target};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The I/O timeout when the caller names none (`--timeout`'s default).
pub const DEFAULT_IO_TIMEOUT: Duration = Duration::from_secs(120);
const TLS_POLL: Duration = Duration::from_millis(2);

/// How connections are opened. One value serves every connection of a run
/// (control, per-node writers, re-connections), so they all behave alike.
#[derive(Clone)]
pub struct ConnectOptions {
    /// How long a connection may wait for the target to read what we write
    /// or to send an awaited reply before it counts as lost (a hung or
    /// stopped server must not hang the caller). `None`: no limit.
    pub io_timeout: Option<Duration>,
    /// How long the TCP connect (and the TLS handshake) may take.
    pub connect_timeout: Duration,
    /// The rustls configuration for `rediss://` targets.
    pub tls: Option<Arc<ClientConfig>>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            io_timeout: Some(DEFAULT_IO_TIMEOUT),
            connect_timeout: CONNECT_TIMEOUT,
            tls: None,
        }
    }
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectOptions")
            .field("io_timeout", &self.io_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// `--timeout` in seconds as an I/O timeout: 0 means no limit.
pub fn io_timeout_secs(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

type TlsStream = StreamOwned<ClientConnection, TcpStream>;

/// The byte stream under a connection.
#[derive(Clone)]
enum Transport {
    Tcp(Arc<TcpStream>),
    Tls(Arc<Mutex<TlsStream>>),
}

/// Reading side of a connection.
pub struct ReadHalf {
    t: Transport,
    io_timeout: Option<Duration>,
}

/// Writing side of a connection.
pub struct WriteHalf {
    t: Transport,
    io_timeout: Option<Duration>,
}

impl Read for ReadHalf {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.t {
            Transport::Tcp(s) => (&**s).read(buf),
            Transport::Tls(s) => {
                // Reads happen only while a reply is awaited: polling past
                // the I/O timeout means the target stopped answering.
                let deadline = self.io_timeout.map(|t| std::time::Instant::now() + t);
                loop {
                    let r = s
                        .lock()
                        .map_err(|_| io::Error::other("TLS stream lock poisoned"))?
                        .read(buf);
                    match r {
                        Err(e)
                            if matches!(
                                e.kind(),
                                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                            ) =>
                        {
                            if deadline.is_some_and(|d| std::time::Instant::now() > d) {
                                return Err(io::Error::new(
                                    io::ErrorKind::TimedOut,
                                    "no reply within the I/O timeout (--timeout)",
                                ));
                            }
                            std::thread::yield_now();
                            continue;
                        }
                        r => return r,
                    }
                }
            }
        }
    }
}

impl Write for WriteHalf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.t {
            Transport::Tcp(s) => (&**s).write(buf),
            Transport::Tls(s) => {
                let mut g = s
                    .lock()
                    .map_err(|_| io::Error::other("TLS stream lock poisoned"))?;
                g.write_all(buf)?;
                g.flush()?;
                Ok(buf.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &self.t {
            Transport::Tcp(s) => (&**s).flush(),
            Transport::Tls(s) => s
                .lock()
                .map_err(|_| io::Error::other("TLS stream lock poisoned"))?
                .flush(),
        }
    }
}

impl WriteHalf {
    /// `write_all` within the I/O timeout as a whole: a target that takes
    /// in a few bytes now and then (each write returning before the socket
    /// timeout) still counts as hung once the timeout has passed.
    pub fn write_all_timed(&mut self, mut buf: &[u8]) -> io::Result<()> {
        let deadline = self.io_timeout.map(|t| std::time::Instant::now() + t);
        while !buf.is_empty() {
            match self.write(buf) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
            if !buf.is_empty() && deadline.is_some_and(|d| std::time::Instant::now() > d) {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the target did not take what was sent within the I/O timeout (--timeout)",
                ));
            }
        }
        Ok(())
    }

    /// Closes the sending direction (plain TCP; a TLS stream is left to close
    /// with the connection).
    pub fn shutdown_write(&self) {
        if let Transport::Tcp(s) = &self.t {
            let _ = s.shutdown(std::net::Shutdown::Write);
        }
    }
}

/// An I/O error as a message: a socket timeout (which the OS reports as
/// "Resource temporarily unavailable") says what it means here.
pub fn describe_io(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            "timed out: no reply within the I/O timeout (--timeout)".to_string()
        }
        _ => e.to_string(),
    }
}

/// TLS settings for `rediss://` targets.
#[derive(Debug, Clone, Default)]
pub struct TlsFiles {
    /// PEM file with the CA certificate(s) that signed the servers' certificates.
    pub ca: Option<std::path::PathBuf>,
    /// PEM client certificate chain and key, for servers that require client
    /// authentication (Redis' default `tls-auth-clients yes`).
    pub cert: Option<std::path::PathBuf>,
    pub key: Option<std::path::PathBuf>,
}

fn tls_err(
    what: &str,
    p: &Path,
    e: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> ClientError {
    ClientError::Tls {
        what: format!("TLS {what} {}", p.display()),
        source: e.into(),
    }
}

/// Builds the rustls client configuration.
pub fn tls_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, ClientError> {
    let mut roots = RootCertStore::empty();
    let ca = files.ca.as_ref().ok_or_else(|| {
        ClientError::Usage("rediss:// needs --tls-ca FILE (the CA certificate, PEM)".into())
    })?;
    let certs = CertificateDer::pem_file_iter(ca).map_err(|e| tls_err("CA file", ca, e))?;
    for c in certs {
        roots
            .add(c.map_err(|e| tls_err("CA file", ca, e))?)
            .map_err(|e| tls_err("CA file", ca, e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ClientError::Tls {
            what: "TLS".into(),
            source: e.into(),
        })?
        .with_root_certificates(roots);
    let cfg = match (&files.cert, &files.key) {
        (Some(c), Some(k)) => {
            let chain = CertificateDer::pem_file_iter(c)
                .map_err(|e| tls_err("certificate file", c, e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| tls_err("certificate file", c, e))?;
            let key = PrivateKeyDer::from_pem_file(k).map_err(|e| tls_err("key file", k, e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ClientError::Tls {
                    what: "TLS client certificate".into(),
                    source: e.into(),
                })?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(ClientError::Usage(
                "--tls-cert and --tls-key go together".into(),
            ))
        }
    };
    Ok(Arc::new(cfg))
}

pub struct Conn {
    pub addr: String,
    pub reader: BufReader<ReadHalf>,
    pub writer: WriteHalf,
}

/// What `INFO server` says of a target's versions.
#[derive(Debug, Clone)]
pub struct ServerInfo {
    pub redis_version: Option<String>,
    /// Valkey reports its own version beside the Redis one it is based on.
    pub valkey_version: Option<String>,
}

impl ServerInfo {
    /// `redis 7.0.15` / `valkey 8.0.1`, for summaries and messages.
    pub fn name(&self) -> String {
        match &self.valkey_version {
            Some(v) => format!("valkey {v}"),
            None => format!("redis {}", self.redis_version.as_deref().unwrap_or("?")),
        }
    }
}

/// What a user whose server wants a password can do about it.
pub const NOAUTH_HINT: &str = " (the server needs a password: give it in the URL, \
redis://:PASSWORD@host:port or redis://USER:PASSWORD@host:port, or in a file with \
--password-file FILE, or in the REDISCLI_AUTH environment variable)";

fn connect_err<'a>(
    addr: &'a str,
    doing: &'static str,
) -> impl FnOnce(Box<dyn std::error::Error + Send + Sync>) -> ClientError + 'a {
    move |source| ClientError::Connect {
        addr: addr.to_string(),
        doing,
        source,
    }
}

fn io_err(addr: &str) -> impl FnOnce(io::Error) -> ClientError + '_ {
    move |source| ClientError::Io {
        addr: addr.to_string(),
        source,
    }
}

impl Conn {
    /// Connects (with TLS when `tls` is given) and authenticates. Errors name
    /// the address, never the password.
    pub fn open(addr: &str, auth: &Auth, opts: &ConnectOptions) -> Result<Conn, ClientError> {
        let (io_timeout, connect_timeout) = (opts.io_timeout, opts.connect_timeout);
        let sa = addr
            .to_socket_addrs()
            .map_err(|e| connect_err(addr, "cannot resolve")(e.into()))?
            .next()
            .ok_or_else(|| ClientError::Target {
                addr: addr.to_string(),
                msg: "no address".into(),
            })?;
        let stream = TcpStream::connect_timeout(&sa, connect_timeout)
            .map_err(|e| connect_err(addr, "cannot connect")(e.into()))?;
        stream.set_nodelay(true).map_err(io_err(addr))?;
        let transport = match &opts.tls {
            None => {
                // Reads happen only while a reply is awaited, so a timeout
                // here means the target stopped answering.
                stream
                    .set_read_timeout(io_timeout)
                    .and_then(|_| stream.set_write_timeout(io_timeout))
                    .map_err(io_err(addr))?;
                Transport::Tcp(Arc::new(stream))
            }
            Some(cfg) => {
                let host = addr
                    .rsplit_once(':')
                    .map(|(h, _)| h)
                    .unwrap_or(addr)
                    .trim_start_matches('[')
                    .trim_end_matches(']');
                let name = ServerName::try_from(host.to_string())
                    .map_err(|e| connect_err(addr, "TLS server name")(e.into()))?;
                let conn = ClientConnection::new(Arc::clone(cfg), name)
                    .map_err(|e| connect_err(addr, "TLS")(e.into()))?;
                // A peer that is not a TLS server (or a hung one) may never
                // answer the ClientHello: bound the handshake in time.
                let limit = io_timeout.map_or(connect_timeout, |t| t.min(connect_timeout));
                stream.set_read_timeout(Some(limit)).map_err(io_err(addr))?;
                stream
                    .set_write_timeout(Some(limit))
                    .map_err(io_err(addr))?;
                let mut s = StreamOwned::new(conn, stream);
                // Complete the handshake now, so certificate problems are
                // reported here, before any key is sent.
                while s.conn.is_handshaking() {
                    s.conn
                        .complete_io(&mut s.sock)
                        .map_err(|e| connect_err(addr, "TLS handshake failed")(e.into()))?;
                }
                s.sock
                    .set_read_timeout(Some(TLS_POLL))
                    .map_err(io_err(addr))?;
                // A target that stops reading what is sent fails the write
                // after the I/O timeout, as on plain TCP.
                s.sock.set_write_timeout(io_timeout).map_err(io_err(addr))?;
                Transport::Tls(Arc::new(Mutex::new(s)))
            }
        };
        let read = ReadHalf {
            t: transport.clone(),
            io_timeout,
        };
        let reader = BufReader::with_capacity(1 << 16, read);
        let mut c = Conn {
            addr: addr.to_string(),
            reader,
            writer: WriteHalf {
                t: transport,
                io_timeout,
            },
        };
        if let Some(pass) = &auth.pass {
            let r = match &auth.user {
                Some(u) => c.call(&[b"AUTH", u.as_bytes(), pass.as_bytes()])?,
                None => c.call(&[b"AUTH", pass.as_bytes()])?,
            };
            if let Reply::Error(e) = r {
                // The server's message does not contain the password.
                return Err(ClientError::Auth {
                    addr: addr.to_string(),
                    source: ServerError::parse(&e),
                });
            }
        }
        Ok(c)
    }

    /// Sends one command and reads its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Reply, ClientError> {
        let mut buf = Vec::new();
        resp::command(&mut buf, args);
        self.writer.write_all(&buf).map_err(|e| self.io(e))?;
        resp::read_reply(&mut self.reader).map_err(|e| self.io(e))
    }

    /// Like `call`, but an error reply is an error.
    pub fn call_ok(&mut self, args: &[&[u8]]) -> Result<Reply, ClientError> {
        match self.call(args)? {
            Reply::Error(e) => Err(ClientError::Refused {
                addr: self.addr.clone(),
                command: String::from_utf8_lossy(args[0]).into_owned(),
                source: ServerError::parse(&e),
            }),
            r => Ok(r),
        }
    }

    pub fn io(&self, e: std::io::Error) -> ClientError {
        io_err(&self.addr)(e)
    }

    /// The control connection to a target (TLS when its URL says so), with
    /// the options (TLS settings included) kept for the connections opened
    /// later.
    pub fn open_target(
        target: &Target,
        files: &TlsFiles,
        io_timeout: Option<Duration>,
    ) -> Result<(Conn, ConnectOptions), ClientError> {
        let opts = ConnectOptions {
            io_timeout,
            connect_timeout: CONNECT_TIMEOUT,
            tls: if target.tls {
                Some(tls_config(files)?)
            } else {
                None
            },
        };
        let c = Conn::open(&target.addr(), &target.auth, &opts)?;
        Ok((c, opts))
    }

    /// The server's versions, from `INFO server`.
    pub fn server_info(&mut self) -> Result<ServerInfo, ClientError> {
        let server = self.info("server")?;
        let get = |k: &str| server.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        Ok(ServerInfo {
            redis_version: get("redis_version"),
            valkey_version: get("valkey_version"),
        })
    }

    /// `INFO section` as key/value pairs.
    pub fn info(&mut self, section: &str) -> Result<Vec<(String, String)>, ClientError> {
        let r = self.call_ok(&[b"INFO", section.as_bytes()])?;
        let text = String::from_utf8_lossy(r.as_bytes().unwrap_or_default()).into_owned();
        Ok(text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect())
    }
}
