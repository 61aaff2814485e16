//! The machinery of a pipelined connection, shared by `load` and `verify`:
//! a writer thread encodes commands into a buffer and writes it whenever it
//! is full or no more work is queued; a reader thread reads the replies in
//! order and pairs them with what caused them. Nothing waits for a round
//! trip per command.
//!
//! ```text
//! caller ──batches──▶ writer ──bytes──▶ socket ──replies──▶ reader ──outcomes──▶ caller
//!                        └────── staged entries (bounded queue) ──────┘
//! ```
//!
//! What is generic here is the wire: when to block for work and when to
//! write ([`run_writer`]), writing a buffer and remembering that the
//! connection broke ([`Wire`]), and reading a command's replies after a
//! break without touching the socket again ([`Replies`]). What a command
//! sends, how its entries reach the reader (one by one for `load`, whose
//! bounded queue is its pipeline window; in groups under a byte budget for
//! `verify`) and what a reply means stay with the caller: `B` is the
//! caller's reason for a broken connection, `P` its staged entry.

use std::io::{self, BufReader};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use super::conn::{ReadHalf, WriteHalf};
use super::resp::{self, Reply};

/// Write when the buffer holds this much.
pub const FLUSH_BYTES: usize = 256 << 10;

/// The writing half of a pipeline: the socket, the entries whose commands
/// are buffered but not yet handed to the reader, the database the
/// connection is in, and why it broke (if it did). The command buffer
/// itself is the caller's: encoders stream into it while holding the wire.
pub struct Wire<P, B> {
    stream: WriteHalf,
    /// Entries whose commands are in the buffer, in order.
    pub staged: Vec<P>,
    db: u64,
    broken: Option<B>,
}

/// What became of a buffer handed to [`Wire::write_out`].
pub enum Written<B> {
    /// On the wire (or nothing to write): the staged entries go to the reader.
    Sent,
    /// This write failed: its commands may have reached the server in part.
    Lost(B),
    /// Not written: the connection had broken before.
    Unsent(B),
}

impl<P, B: Clone> Wire<P, B> {
    pub fn new(stream: WriteHalf) -> Self {
        Wire {
            stream,
            staged: Vec::new(),
            db: 0,
            broken: None,
        }
    }

    /// Why the connection is unusable, once a write failed.
    pub fn broken(&self) -> Option<&B> {
        self.broken.as_ref()
    }

    /// Buffers a `SELECT` (staging `entry` for its reply) when `db` is not
    /// the connection's database.
    pub fn select(&mut self, buf: &mut Vec<u8>, db: u64, entry: impl FnOnce() -> P) {
        if db != self.db {
            resp::command(buf, &[b"SELECT", itoa::Buffer::new().format(db).as_bytes()]);
            self.staged.push(entry());
            self.db = db;
        }
    }

    /// Writes `buf` (within the I/O timeout as a whole) unless the
    /// connection broke before, and empties it. A failed write breaks the
    /// connection for good, with `lost(error)` as the reason.
    pub fn write_out(
        &mut self,
        buf: &mut Vec<u8>,
        lost: impl FnOnce(io::Error) -> B,
    ) -> Written<B> {
        let written = match &self.broken {
            Some(b) => Written::Unsent(b.clone()),
            None if buf.is_empty() => Written::Sent,
            None => match self.stream.write_all_timed(buf) {
                Ok(()) => Written::Sent,
                Err(e) => {
                    let b = lost(e);
                    self.broken = Some(b.clone());
                    Written::Lost(b)
                }
            },
        };
        buf.clear();
        written
    }

    /// Closes the sending direction: the server then ends the connection
    /// once it has answered everything, and the reader sees the end.
    pub fn shutdown(&self) {
        self.stream.shutdown_write();
    }
}

/// The caller's side of a writer thread, driven by [`run_writer`].
pub trait Feeder {
    /// What the caller sends the writer.
    type Batch;
    /// Whether commands are buffered or entries staged, not yet handed over.
    fn has_staged(&self) -> bool;
    /// Writes what is buffered and hands the staged entries to the reader.
    fn flush(&mut self);
    /// Encodes a batch (flushing on the way when the buffer is full).
    fn feed(&mut self, batch: Self::Batch);
    /// Nothing is staged and no batch is queued: the last moment to write
    /// before blocking. Returns how long to block at most before asking
    /// again (`None`: until a batch comes).
    fn idle(&mut self) -> Option<Duration> {
        None
    }
    /// The batches have ended: write what is left.
    fn finish(&mut self) {
        self.flush()
    }
}

/// The writer thread's loop: blocks for the next batch only when nothing is
/// staged; with entries staged, takes a queued batch if there is one, else
/// writes (so a batch arriving meanwhile joins the same write).
pub fn run_writer<F: Feeder>(mut f: F, rx: Receiver<F::Batch>) {
    loop {
        let batch = if !f.has_staged() {
            match f.idle() {
                Some(poll) => match rx.recv_timeout(poll) {
                    Ok(b) => b,
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match rx.recv() {
                    Ok(b) => b,
                    Err(_) => break,
                },
            }
        } else {
            match rx.try_recv() {
                Ok(b) => b,
                Err(_) => {
                    f.flush();
                    continue;
                }
            }
        };
        f.feed(batch);
    }
    f.finish();
}

/// The reading half of a pipeline: the socket and why it broke. After a
/// break nothing more is read; every later command gets the same reason.
pub struct Replies<B> {
    reader: BufReader<ReadHalf>,
    broken: Option<B>,
}

impl<B: Clone> Replies<B> {
    pub fn new(reader: BufReader<ReadHalf>) -> Self {
        Replies {
            reader,
            broken: None,
        }
    }

    /// Why the connection is unusable, once it broke.
    pub fn broken(&self) -> Option<&B> {
        self.broken.as_ref()
    }

    /// Reads `n` replies in order, handing each to `each` (so a caller may
    /// fold them as they are parsed instead of keeping them). A read error
    /// breaks the connection for good with `lost(error)` as the reason;
    /// once broken, nothing is read and the reason is returned.
    pub fn read(
        &mut self,
        n: usize,
        mut each: impl FnMut(Reply),
        lost: impl FnOnce(io::Error) -> B,
    ) -> Result<(), B> {
        if let Some(b) = &self.broken {
            return Err(b.clone());
        }
        for _ in 0..n {
            match resp::read_reply(&mut self.reader) {
                Ok(r) => each(r),
                Err(e) => {
                    let b = lost(e);
                    self.broken = Some(b.clone());
                    return Err(b);
                }
            }
        }
        Ok(())
    }

    /// Reads no more from here, for `why` (a refused `SELECT`: later
    /// commands would have gone to the wrong database).
    pub fn refuse(&mut self, why: B) {
        self.broken = Some(why);
    }
}
