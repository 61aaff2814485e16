//! Bytes that are still arriving: how far an input that another thread is
//! writing (a decompression into a temporary file) can be read, and how
//! that writing ended.
//!
//! The engine reads a file while it is being decompressed rather than
//! after (`rdbkit json dump.rdb.zst` on two cores would otherwise spend the
//! whole decompression idle): the writer publishes each step with
//! [`Arrival::advance`], the reader parses only `data[..ready]`, and a
//! parse that runs out of bytes waits with [`Arrival::wait_beyond`] and
//! starts the item again, instead of reporting a truncation. Only when the
//! input is [complete](Arrival::is_complete) is an error an error.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

/// The progress of one input being written: `ready` bytes from its start
/// can be read; the total is known from the start (the compressed file's
/// frame headers declare it).
#[derive(Debug)]
pub struct Arrival {
    total: u64,
    ready: AtomicU64,
    end: Mutex<Option<Result<(), String>>>,
    moved: Condvar,
}

/// Why the bytes after `ready` will never arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// How many bytes had arrived.
    pub ready: u64,
    /// What the writer said (the decompressor's error, with the compressed
    /// byte offset).
    pub detail: String,
}

impl Unreadable {
    /// The parse error it is for a reader: at the first byte that did not arrive.
    pub fn into_error(self) -> crate::error::Error {
        crate::error::Error::new(
            self.ready,
            crate::error::ErrorKind::Unreadable {
                detail: self.detail,
            },
        )
    }
}

impl Arrival {
    /// An input of `total` bytes, none of them written yet.
    pub fn new(total: u64) -> Self {
        Arrival {
            total,
            ready: AtomicU64::new(0),
            end: Mutex::new(None),
            moved: Condvar::new(),
        }
    }

    /// The size the input will have.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Bytes that can be read now. The writer stored them before it
    /// published the count (release/acquire), so reading them is safe.
    pub fn ready(&self) -> u64 {
        self.ready.load(Ordering::Acquire)
    }

    /// Whether every byte has arrived and the writer ended well.
    pub fn is_complete(&self) -> bool {
        self.ready() == self.total && matches!(*self.lock(), Some(Ok(())))
    }

    /// The writer: bytes up to `to` are written.
    pub fn advance(&self, to: u64) {
        let to = to.min(self.total);
        let _g = self.lock();
        self.ready.store(to, Ordering::Release);
        self.moved.notify_all();
    }

    /// The writer is done: `Ok` once all `total` bytes are written (an
    /// `Ok` short of the total is taken as the error it is), or the error
    /// that stopped it.
    pub fn finish(&self, r: Result<(), String>) {
        let mut end = self.lock();
        let ready = self.ready.load(Ordering::Acquire);
        *end = Some(match r {
            Ok(()) if ready != self.total => Err(format!(
                "the input ended after {ready} of the {} bytes it declared",
                self.total
            )),
            r => r,
        });
        self.moved.notify_all();
    }

    /// Waits until more than `have` bytes are ready, or the writer is done.
    /// Returns the bytes ready (the total once complete, which may equal
    /// `have`), or why no more will come.
    pub fn wait_beyond(&self, have: u64) -> Result<u64, Unreadable> {
        let mut end = self.lock();
        loop {
            let ready = self.ready.load(Ordering::Acquire);
            match &*end {
                Some(Err(detail)) => {
                    return Err(Unreadable {
                        ready,
                        detail: detail.clone(),
                    })
                }
                Some(Ok(())) => return Ok(ready),
                None if ready > have => return Ok(ready),
                None => {}
            }
            end = self.moved.wait(end).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Waits until the writer is done: every byte ready, or why not.
    pub fn wait_complete(&self) -> Result<(), Unreadable> {
        let mut have = self.ready();
        loop {
            let now = self.wait_beyond(have)?;
            if self.is_complete() {
                return Ok(());
            }
            have = now;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Result<(), String>>> {
        self.end.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_reader_sees_each_step_and_the_end() {
        let a = Arc::new(Arrival::new(10));
        let w = Arc::clone(&a);
        let t = std::thread::spawn(move || {
            for to in [3, 7, 10] {
                w.advance(to);
            }
            w.finish(Ok(()));
        });
        let mut have = 0;
        while !a.is_complete() {
            let now = a.wait_beyond(have).unwrap();
            assert!(now > have || a.is_complete());
            have = now;
        }
        t.join().unwrap();
        assert_eq!((a.ready(), a.wait_beyond(10)), (10, Ok(10)));
        assert_eq!(a.wait_complete(), Ok(()));
    }

    #[test]
    fn an_early_end_is_an_error_even_when_the_writer_says_ok() {
        let a = Arrival::new(10);
        a.advance(4);
        a.finish(Ok(()));
        let e = a.wait_beyond(4).unwrap_err();
        assert_eq!(e.ready, 4);
        assert!(e.detail.contains("after 4 of the 10 bytes"), "{}", e.detail);
        assert!(!a.is_complete());
        assert!(a.wait_complete().is_err());
    }

    #[test]
    fn a_writer_error_reaches_the_waiting_reader() {
        let a = Arc::new(Arrival::new(100));
        let w = Arc::clone(&a);
        let t = std::thread::spawn(move || {
            w.advance(50);
            w.finish(Err("zstd input: corrupt block".into()));
        });
        let e = a.wait_complete().unwrap_err();
        t.join().unwrap();
        assert_eq!(
            (e.ready, e.detail.as_str()),
            (50, "zstd input: corrupt block")
        );
    }
}
