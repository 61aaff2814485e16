//! A replica's connection to rdbkit's listener: plain TCP, or TLS when the
//! target replicates over TLS (`tls-replication yes`: its replica side
//! opens a TLS session to its master and checks the master's certificate
//! against its `tls-ca-cert-file`; it checks no host name). rdbkit is the
//! TLS server here, with the certificate given by `--listen-cert` /
//! `--listen-key`; it asks for no client certificate (the one-time secret
//! and the target's address admit the replica).
//!
//! A TLS session is one state machine, so the handles a [`Link`] is cloned
//! into share it behind a mutex. Each handle is used by one thread at a
//! time (the stream is written, then the link is watched), so the lock is
//! never contended; socket options (timeouts, non-blocking) go to the TCP
//! socket underneath and hold for the session too.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

type Tls = StreamOwned<ServerConnection, TcpStream>;

/// One replica connection; clones share it.
#[derive(Clone)]
pub struct Link {
    tcp: Arc<TcpStream>,
    tls: Option<Arc<Mutex<Tls>>>,
}

impl Link {
    pub fn plain(s: TcpStream) -> Link {
        Link {
            tcp: Arc::new(s),
            tls: None,
        }
    }

    /// Runs the TLS handshake as the server (within the socket's timeouts).
    pub fn tls(s: TcpStream, cfg: Arc<ServerConfig>) -> io::Result<Link> {
        let conn = ServerConnection::new(cfg).map_err(io::Error::other)?;
        let tcp = Arc::new(s.try_clone()?);
        let mut t = StreamOwned::new(conn, s);
        while t.conn.is_handshaking() {
            t.conn.complete_io(&mut t.sock)?;
        }
        Ok(Link {
            tcp,
            tls: Some(Arc::new(Mutex::new(t))),
        })
    }

    fn session(t: &Mutex<Tls>) -> io::Result<MutexGuard<'_, Tls>> {
        t.lock()
            .map_err(|_| io::Error::other("TLS session lock poisoned"))
    }

    pub fn set_read_timeout(&self, d: Option<Duration>) -> io::Result<()> {
        self.tcp.set_read_timeout(d)
    }

    pub fn set_nonblocking(&self, on: bool) -> io::Result<()> {
        self.tcp.set_nonblocking(on)
    }

    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &self.tls {
            None => (&*self.tcp).read(buf),
            Some(t) => Self::session(t)?.read(buf),
        }
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &self.tls {
            None => (&*self.tcp).write(buf),
            Some(t) => Self::session(t)?.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &self.tls {
            None => (&*self.tcp).flush(),
            Some(t) => Self::session(t)?.flush(),
        }
    }
}

/// The listener's TLS configuration from PEM files (`--listen-cert`, the
/// certificate chain; `--listen-key`, its private key).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, String> {
    let bad =
        |what: &str, p: &Path, e: &dyn std::fmt::Display| format!("{what} {}: {e}", p.display());
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("--listen-cert", cert, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad("--listen-cert", cert, &e))?;
    if chain.is_empty() {
        return Err(bad("--listen-cert", cert, &"no PEM certificate in it"));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("--listen-key", key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|e| format!("--listen-cert/--listen-key: {e}"))?;
    Ok(Arc::new(cfg))
}
