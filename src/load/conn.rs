//! One blocking connection to a server: connect with `TCP_NODELAY` (without
//! it, pipelined RESTOREs stall on delayed ACKs), authenticate, and run
//! commands. The pipelined load path splits the socket into a writer and a
//! reader (see `node.rs`); this type serves set-up and control commands.

use std::io::{BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::resp::{self, Reply};
use super::target::Auth;
use super::LoadError;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Conn {
    pub addr: String,
    pub reader: BufReader<TcpStream>,
    pub stream: TcpStream,
}

impl Conn {
    /// Connects and authenticates. Errors name the address, never the password.
    pub fn open(addr: &str, auth: &Auth) -> Result<Conn, LoadError> {
        let sa = addr
            .to_socket_addrs()
            .map_err(|e| LoadError::Target {
                addr: addr.to_string(),
                msg: format!("cannot resolve: {e}"),
            })?
            .next()
            .ok_or_else(|| LoadError::Target {
                addr: addr.to_string(),
                msg: "no address".into(),
            })?;
        let stream =
            TcpStream::connect_timeout(&sa, CONNECT_TIMEOUT).map_err(|e| LoadError::Target {
                addr: addr.to_string(),
                msg: format!("cannot connect: {e}"),
            })?;
        stream.set_nodelay(true).map_err(|e| LoadError::Target {
            addr: addr.to_string(),
            msg: e.to_string(),
        })?;
        let reader = BufReader::with_capacity(
            1 << 16,
            stream.try_clone().map_err(|e| LoadError::Target {
                addr: addr.to_string(),
                msg: e.to_string(),
            })?,
        );
        let mut c = Conn {
            addr: addr.to_string(),
            reader,
            stream,
        };
        if let Some(pass) = &auth.pass {
            let r = match &auth.user {
                Some(u) => c.call(&[b"AUTH", u.as_bytes(), pass.as_bytes()])?,
                None => c.call(&[b"AUTH", pass.as_bytes()])?,
            };
            if let Reply::Error(e) = r {
                // The server's message does not contain the password.
                return Err(LoadError::Target {
                    addr: addr.to_string(),
                    msg: format!("authentication failed: {e}"),
                });
            }
        }
        Ok(c)
    }

    /// Sends one command and reads its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> Result<Reply, LoadError> {
        let mut buf = Vec::new();
        resp::command(&mut buf, args);
        self.stream.write_all(&buf).map_err(|e| self.io(e))?;
        resp::read_reply(&mut self.reader).map_err(|e| self.io(e))
    }

    /// Like `call`, but an error reply is an error.
    pub fn call_ok(&mut self, args: &[&[u8]]) -> Result<Reply, LoadError> {
        match self.call(args)? {
            Reply::Error(e) => Err(LoadError::Target {
                addr: self.addr.clone(),
                msg: format!("{} failed: {e}", String::from_utf8_lossy(args[0])),
            }),
            r => Ok(r),
        }
    }

    pub fn io(&self, e: std::io::Error) -> LoadError {
        LoadError::Target {
            addr: self.addr.clone(),
            msg: e.to_string(),
        }
    }

    /// `INFO section` as key/value pairs.
    pub fn info(&mut self, section: &str) -> Result<Vec<(String, String)>, LoadError> {
        let r = self.call_ok(&[b"INFO", section.as_bytes()])?;
        let text = String::from_utf8_lossy(r.as_bytes().unwrap_or_default()).into_owned();
        Ok(text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect())
    }
}
