//! The snapshot on the wire: `+FULLRESYNC <replid> <offset>`, then the RDB
//! as one bulk — `$EOF:<40-byte mark>`, the bytes, the mark again when the
//! replica announced `capa eof` (so a written stream needs no length up
//! front), else `$<length>` and the bytes. The bytes are the input file's
//! own when the target reads it as it is, or the RDB writer's output
//! (filters, `--db-map`, expired keys left out, merged inputs, another
//! version) written straight into the socket.

use std::io::{self, BufWriter, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::link::Link;
use crate::load::LoadError;
use crate::restore::{InputCause, InputError};
use crate::writer::{self, route::Route, Input, WriteError};

/// What is streamed.
pub enum Source<'a> {
    /// One file's bytes, sent as they are (up to its checksum trailer),
    /// and the input's page release (sent pages are not read again).
    Raw(&'a [u8], Option<&'a (dyn Fn(u64) + Sync)>),
    /// Written on the fly.
    Written(Vec<Input<'a>>, Box<writer::Options>),
}

/// Bytes of a raw stream written between two page releases.
const RAW_SLICE: usize = 8 << 20;

/// Why a stream did not complete.
#[derive(Debug)]
pub enum StreamError {
    /// The replica's connection failed (it dropped, or the target died).
    Replica(io::Error),
    /// The replica did not announce `capa eof`, which a stream written on
    /// the fly needs (its length is not known up front).
    NoEofCapa,
    /// The inputs could not be written (nothing usable was sent).
    Input(WriteError),
}

impl std::fmt::Display for StreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StreamError::Replica(e) => e.fmt(f),
            StreamError::NoEofCapa => f.write_str(
                "the replica did not announce `capa eof`, which a stream written on the fly needs",
            ),
            StreamError::Input(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for StreamError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StreamError::Replica(e) => Some(e),
            StreamError::NoEofCapa => None,
            StreamError::Input(e) => Some(e),
        }
    }
}

/// The load's error for inputs the writer could not write.
pub fn input_error(e: WriteError) -> LoadError {
    InputError::new("the replication stream", InputCause::Write(Box::new(e))).into()
}

/// A socket writer that counts what it sent and keeps its first error, so
/// that a failure inside the RDB writer can be told apart from a bad input.
struct Counted {
    s: Link,
    sent: Arc<AtomicU64>,
    err: Arc<Mutex<Option<io::Error>>>,
}

impl Write for Counted {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        match self.s.write(b) {
            Ok(n) => {
                self.sent.fetch_add(n as u64, Ordering::Relaxed);
                Ok(n)
            }
            Err(e) => {
                // The first failure is kept as it is; the writer gets a
                // copy (same kind and text) to stop on.
                let copy = io::Error::new(e.kind(), e.to_string());
                if let Ok(mut g) = self.err.lock() {
                    if g.is_none() {
                        *g = Some(e);
                        return Err(copy);
                    }
                }
                Err(e)
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.s.flush()
    }
}

/// Sends the reply to `PSYNC` and the whole payload. Returns the writer's
/// summary when the payload was written on the fly. `sent` counts bytes.
pub fn send(
    sock: &Link,
    psync: Option<&str>,
    eof_capa: bool,
    mark: &str,
    src: &Source<'_>,
    sent: &Arc<AtomicU64>,
) -> Result<Option<writer::Summary>, StreamError> {
    let err = Arc::new(Mutex::new(None));
    let out = Counted {
        s: sock.clone(),
        sent: Arc::clone(sent),
        err: Arc::clone(&err),
    };
    let mut w = BufWriter::with_capacity(1 << 20, out);
    let io = StreamError::Replica;
    if let Some(replid) = psync {
        write!(w, "+FULLRESYNC {replid} 0\r\n").map_err(io)?;
    }
    match src {
        Source::Raw(data, release) => {
            if eof_capa {
                write!(w, "$EOF:{mark}\r\n").map_err(io)?;
            } else {
                write!(w, "${}\r\n", data.len()).map_err(io)?;
            }
            w.flush().map_err(io)?;
            // In slices, each released once sent: the socket is slower
            // than the page cache, so RSS stays at a slice or two.
            let mut at = 0;
            for part in data.chunks(RAW_SLICE) {
                w.get_mut().write_all(part).map_err(io)?;
                at += part.len() as u64;
                if let Some(r) = release {
                    r(at);
                }
            }
            if eof_capa {
                w.write_all(mark.as_bytes()).map_err(io)?;
            }
            w.flush().map_err(io)?;
            Ok(None)
        }
        Source::Written(inputs, opts) => {
            if !eof_capa {
                return Err(StreamError::NoEofCapa);
            }
            let mut first = Some(w);
            let made = writer::write_all(inputs, opts, &Route::One, |_| {
                let mut w = first
                    .take()
                    .ok_or(WriteError::Failed("one output".into()))?;
                write!(w, "$EOF:{mark}\r\n")
                    .map_err(|source| WriteError::Output { what: None, source })?;
                Ok(w)
            });
            let replica_err = err.lock().ok().and_then(|mut g| g.take());
            let (mut outs, summary) = match (made, replica_err) {
                (_, Some(e)) => return Err(StreamError::Replica(e)),
                (Err(e), None) => return Err(StreamError::Input(e)),
                (Ok(x), None) => x,
            };
            let (mut w, _, _) = outs.remove(0);
            w.write_all(mark.as_bytes()).map_err(io)?;
            w.flush().map_err(io)?;
            Ok(Some(summary))
        }
    }
}
