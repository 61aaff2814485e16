//! One synchronisation, from an admitted replica to a loaded target: the
//! stream, then the wait for the target's own loader — PINGs keep the link
//! alive (a replica drops a silent master after `repl-timeout`), the
//! replica's `REPLCONF ACK`s are read and dropped, and the control
//! connection watches `INFO replication` until the link is up with no
//! sync in progress.

use std::io::{self, Read, Write};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::control::link_state;
use super::link::Link;
use super::listener::Replica;
use super::stream::{self, Source, StreamError};
use crate::load::conn::Conn;
use crate::load::LoadError;
use crate::writer;

/// How a synchronisation ended.
pub enum Ended {
    /// The target loaded the snapshot and is linked to us.
    Loaded(Option<writer::Summary>),
    /// The replica's connection failed before the target had loaded.
    Dropped(String),
    /// The target no longer replicates from us (someone ran REPLICAOF).
    Left(Option<String>),
}

/// Streams to `rep` and waits for the target to load. `Err` only for
/// what ends the whole load (bad inputs, a control connection that failed).
pub fn run(
    rep: &Replica,
    control: &mut Conn,
    master: &str,
    src: &Source<'_>,
    sent: &Arc<AtomicU64>,
) -> Result<Ended, LoadError> {
    let replid = super::random_hex();
    let mark = super::random_hex();
    let psync = rep.psync.then_some(replid.as_str());
    let summary = match stream::send(&rep.link, psync, rep.eof_capa, &mark, src, sent) {
        Ok(s) => s,
        Err(StreamError::Input(e)) => return Err(stream::input_error(e)),
        Err(e) => return Ok(Ended::Dropped(e.to_string())),
    };
    wait_loaded(&rep.link, control, master).map(|e| match e {
        Ended::Loaded(_) => Ended::Loaded(summary),
        other => other,
    })
}

/// Reads whatever the replica sent; `Err` when it closed the connection.
fn drain(s: &mut Link) -> io::Result<()> {
    s.set_nonblocking(true)?;
    let mut buf = [0u8; 4096];
    let r = loop {
        match s.read(&mut buf) {
            Ok(0) => {
                break Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "closed by the replica",
                ))
            }
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    s.set_nonblocking(false)?;
    r
}

fn wait_loaded(sock: &Link, control: &mut Conn, master: &str) -> Result<Ended, LoadError> {
    let mut s = sock.clone();
    let mut last_ping = Instant::now();
    loop {
        if let Err(e) = drain(&mut s) {
            return Ok(Ended::Dropped(e.to_string()));
        }
        if last_ping.elapsed() >= Duration::from_secs(1) {
            if let Err(e) = s.write_all(b"*1\r\n$4\r\nPING\r\n").and_then(|_| s.flush()) {
                return Ok(Ended::Dropped(e.to_string()));
            }
            last_ping = Instant::now();
        }
        let st = link_state(control)?;
        if st.master.as_deref() != Some(master) {
            return Ok(Ended::Left(st.master));
        }
        if st.link_up && !st.sync_in_progress && !st.loading {
            return Ok(Ended::Loaded(None));
        }
        thread::sleep(Duration::from_millis(100));
    }
}
