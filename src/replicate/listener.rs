//! The master side's front door. It admits one party: a connection from
//! the target's address that presents the one-time secret set as the
//! target's `masterauth`. Anyone else gets an error reply and the door
//! closed, and nothing of the data; each refusal is recorded for the
//! summary. The handshake a replica runs before `PSYNC` (PING, AUTH,
//! REPLCONF listening-port / ip-address / capa ...) is answered here; the
//! connection is handed over at `PSYNC`/`SYNC`. With a TLS configuration
//! the handshake runs inside a TLS session ([`super::link`]), opened only
//! for the admitted address.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rustls::ServerConfig;

use super::link::Link;

/// An authenticated replica that asked for a synchronisation.
pub struct Replica {
    pub link: Link,
    pub peer: SocketAddr,
    /// It announced `capa eof`: the payload may end with a mark instead of
    /// having its length up front.
    pub eof_capa: bool,
    /// It sent `PSYNC` (answered `+FULLRESYNC`), not the old `SYNC`.
    pub psync: bool,
}

/// The listening socket and its accept thread.
pub struct Listener {
    pub local: SocketAddr,
    rx: Receiver<Replica>,
    stop: Arc<AtomicBool>,
    /// One line per refused connection.
    pub refused: Arc<Mutex<Vec<String>>>,
}

impl Listener {
    /// Binds `bind` and starts admitting connections (over TLS with `tls`).
    pub fn open(
        bind: SocketAddr,
        allowed: Option<IpAddr>,
        secret: String,
        tls: Option<Arc<ServerConfig>>,
    ) -> io::Result<Listener> {
        let l = TcpListener::bind(bind)?;
        l.set_nonblocking(true)?;
        let local = l.local_addr()?;
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(Mutex::new(Vec::new()));
        let door = Door {
            allowed,
            secret: Arc::new(secret),
            tls,
            tx,
            refused: Arc::clone(&refused),
        };
        let stop2 = Arc::clone(&stop);
        thread::spawn(move || accept_loop(l, door, stop2));
        Ok(Listener {
            local,
            rx,
            stop,
            refused,
        })
    }

    /// The next admitted replica, if one comes within `wait`.
    pub fn next(&self, wait: Duration) -> Option<Replica> {
        self.rx.recv_timeout(wait).ok()
    }

    pub fn refusals(&self) -> Vec<String> {
        self.refused.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// What every connection's thread needs.
#[derive(Clone)]
struct Door {
    /// The only address admitted (`None`: any, with the secret: `serve`).
    allowed: Option<IpAddr>,
    secret: Arc<String>,
    tls: Option<Arc<ServerConfig>>,
    tx: Sender<Replica>,
    refused: Arc<Mutex<Vec<String>>>,
}

impl Door {
    fn refuse(&self, peer: SocketAddr, why: &str) {
        if let Ok(mut v) = self.refused.lock() {
            v.push(format!("{peer}: {why}"));
        }
    }
}

fn accept_loop(l: TcpListener, door: Door, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match l.accept() {
            Ok((s, peer)) => {
                let d = door.clone();
                thread::spawn(move || admit(s, peer, d));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(20))
            }
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Compares secrets in time independent of where they differ.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Runs one connection's handshake; errors just close it.
fn admit(s: TcpStream, peer: SocketAddr, door: Door) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(30)));
    if door.allowed.is_some_and(|a| a != peer.ip()) {
        if door.tls.is_none() {
            let _ = (&s).write_all(
                b"-ERR this rdbkit listener serves only the target it was opened for\r\n",
            );
        }
        door.refuse(peer, "not the target's address");
        return;
    }
    let link = match &door.tls {
        None => Link::plain(s),
        Some(cfg) => match Link::tls(s, Arc::clone(cfg)) {
            Ok(l) => l,
            Err(e) => {
                door.refuse(peer, &format!("TLS handshake failed: {e}"));
                return;
            }
        },
    };
    handshake(link, peer, &door);
}

/// The replica's commands up to `PSYNC`/`SYNC`, which hands it over.
fn handshake(link: Link, peer: SocketAddr, door: &Door) {
    let mut w = link.clone();
    let mut r = BufReader::new(link);
    let mut authed = false;
    let mut eof_capa = false;
    loop {
        let Ok(args) = read_command(&mut r) else {
            if !authed {
                door.refuse(peer, "closed before authenticating");
            }
            return;
        };
        let Some(name) = args.first().map(|a| a.to_ascii_uppercase()) else {
            continue;
        };
        let reply: &[u8] = match name.as_slice() {
            b"PING" => b"+PONG\r\n",
            b"AUTH" if args.len() >= 2 => {
                if same_secret(&args[args.len() - 1], door.secret.as_bytes()) {
                    authed = true;
                    b"+OK\r\n"
                } else {
                    let _ = w.write_all(b"-WRONGPASS invalid username-password pair\r\n");
                    door.refuse(peer, "wrong password");
                    return;
                }
            }
            _ if !authed => {
                let _ = w.write_all(b"-NOAUTH Authentication required.\r\n");
                door.refuse(peer, "did not authenticate");
                return;
            }
            b"REPLCONF" => {
                eof_capa |= args.windows(2).any(|p| {
                    p[0].eq_ignore_ascii_case(b"capa") && p[1].eq_ignore_ascii_case(b"eof")
                });
                b"+OK\r\n"
            }
            b"PSYNC" | b"SYNC" => {
                let _ = door.tx.send(Replica {
                    link: r.into_inner(),
                    peer,
                    eof_capa,
                    psync: name == b"PSYNC",
                });
                return;
            }
            _ => b"-ERR unknown command\r\n",
        };
        if w.write_all(reply).and_then(|_| w.flush()).is_err() {
            return;
        }
    }
}

const MAX_ARGS: usize = 32;
const MAX_ARG: usize = 64 * 1024;

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// One line, at most [`MAX_ARG`] bytes, without its CRLF.
fn read_line<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.by_ref()
        .take(MAX_ARG as u64)
        .read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(bad("line too long or connection closed"));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

fn number(b: &[u8], max: usize) -> io::Result<usize> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|&n| n <= max)
        .ok_or_else(|| bad("bad or too large count"))
}

/// A client command: a RESP array of bulk strings, or an inline line.
/// Sizes are bounded: a stranger cannot make us allocate much.
pub fn read_command<R: BufRead>(r: &mut R) -> io::Result<Vec<Vec<u8>>> {
    let line = read_line(r)?;
    let Some(n) = line.strip_prefix(b"*") else {
        return Ok(line
            .split(|c| c.is_ascii_whitespace())
            .filter(|a| !a.is_empty())
            .map(<[u8]>::to_vec)
            .collect());
    };
    let n = number(n, MAX_ARGS)?;
    let mut args = Vec::with_capacity(n);
    for _ in 0..n {
        let h = read_line(r)?;
        let len = number(
            h.strip_prefix(b"$").ok_or_else(|| bad("bulk expected"))?,
            MAX_ARG,
        )?;
        let mut a = vec![0; len + 2];
        r.read_exact(&mut a)?;
        a.truncate(len);
        args.push(a);
    }
    Ok(args)
}
