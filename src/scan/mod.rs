//! The parallel engine: a sequential boundary pass cuts the file into chunks
//! of whole records, worker threads decode chunks in parallel, and the
//! caller's consumer receives the chunks' output strictly in file order.
//! (Plain threads and channels, not rayon: a rayon pool of one job per chunk
//! measured slower; see the closing note of issue 14.)
//!
//! ```text
//!  boundary pass ──chunks──▶ workers (N) ──outputs──▶ reorder ──▶ consume (in order)
//!        ▲                                                  │
//!        └──────────────── tokens (bounded window) ◀────────┘
//! ```
//!
//! Memory stays bounded whatever the file size: the producer must take a
//! token before it hands out a chunk, and a token comes back only when that
//! chunk's output has been consumed, so at most `window` chunks (input spans
//! plus their outputs) exist at once. The only thing that can grow is the
//! output of the single largest value.
//!
//! The CRC-64 of the whole file (up to and including the EOF opcode) is
//! computed on the consuming thread, the caller's: over each chunk right
//! after its output is consumed, in file order (`crc.rs`). No thread of its
//! own: at the speed of the SIMD CRC (>20 GB/s) that costs far less than a
//! thread touching every page ahead of the workers would, and the bytes are
//! checked just after the workers brought them into memory. A run the
//! consumer stops early checks no checksum.

mod chunk;
mod chunker;
mod corrupt;
mod crc;
mod grid;
mod parallel;

use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

pub use chunk::{Admit, Chunk};
pub use corrupt::{Corrupt, CorruptPolicy};
pub use grid::Grid;

use chunker::Chunker;
use crc::CrcState;
use parallel::parallel;

use crate::arrival::Arrival;
use crate::error::{Error, ErrorKind};
use crate::filter::Filter;
use crate::rdb::records::{Header, ParseOptions, Parser};

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Worker threads; 1 runs everything on the calling thread.
    pub threads: usize,
    /// Target input bytes per chunk (a chunk never splits a record; one huge
    /// record is a chunk of its own).
    pub chunk_bytes: usize,
    /// Verify the CRC-64 trailer.
    pub verify_checksum: bool,
    /// Records to keep; workers ask [`Chunk::keep`] before decoding a value.
    pub filter: Option<Arc<Filter>>,
    /// `--skip-corrupt`: damaged records are reported here and left out
    /// instead of ending the run, and a checksum mismatch is reported in
    /// [`PassInfo::checksum_mismatch`] instead of being an error.
    pub skip_corrupt: Option<Arc<CorruptPolicy>>,
    /// Start reading at this item boundary, with this database selected
    /// (a resumed load); the checksum still covers the whole file.
    pub start: Option<(u64, u64)>,
    /// The chunks of an earlier whole pass over the same bytes, to be
    /// handed out again instead of walking the boundaries ([`Grid`]).
    pub grid: Option<Arc<Grid>>,
    /// The input is still being written (decompressed) by another thread:
    /// the walk reads only the bytes that have arrived and waits for the
    /// rest ([`crate::arrival`]). With `start`, `grid` or `skip_corrupt`
    /// the run first waits for the whole input (their look-ups and look
    /// backs are not bounded by what has arrived).
    pub arrival: Option<Arc<Arrival>>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            chunk_bytes: 2 << 20,
            verify_checksum: true,
            filter: None,
            skip_corrupt: None,
            start: None,
            grid: None,
            arrival: None,
        }
    }
}

/// What the boundary pass saw, for summaries.
#[derive(Debug, Clone, Copy, Default)]
pub struct PassInfo {
    pub header: Option<Header>,
    /// Bytes of the input covered by consumed chunks.
    pub bytes_done: u64,
    pub keys: u64,
    /// Stored CRC-64 trailer (None before RDB 5), and whether it was verified.
    pub checksum: Option<u64>,
    pub checksum_verified: bool,
    /// Bytes after the checksum trailer (ignored, as Redis does).
    pub trailing_bytes: u64,
    /// Under `--skip-corrupt`: (stored, computed) when they differ.
    pub checksum_mismatch: Option<(u64, u64)>,
    /// The consumer stopped the run ([`ControlFlow::Break`]) before the end;
    /// the checksum was not checked.
    pub stopped: bool,
}

/// Per-thread decoder. Each worker thread makes its own with the factory.
pub trait Worker<'a> {
    /// What one chunk turns into (handed to the consumer in file order).
    type Out: Send;
    /// The consumer side's own error (I/O, a refused value...); the engine
    /// only carries it back, as [`ScanError::Consumer`].
    type Error: Send;
    fn process(&mut self, chunk: &Chunk<'a>) -> Result<Self::Out, Self::Error>;
}

/// Why a run ended early: the file (its walk or its checksum), or the
/// worker/consumer side, whose error type the engine does not know.
#[derive(Debug)]
pub enum ScanError<E> {
    Format(Error),
    Consumer(E),
}

impl<E: fmt::Display> fmt::Display for ScanError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScanError::Format(e) => e.fmt(f),
            ScanError::Consumer(e) => e.fmt(f),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for ScanError<E> {}

impl<E> From<Error> for ScanError<E> {
    fn from(e: Error) -> Self {
        ScanError::Format(e)
    }
}

/// What a consumer returns for one chunk: `Result<(), E>` (go on, or fail)
/// or `Result<ControlFlow<()>, E>` (go on, stop cleanly, or fail). A clean
/// stop ends the run with [`PassInfo::stopped`] set.
pub trait Consumed<E> {
    fn flow(self) -> Result<ControlFlow<()>, E>;
}

impl<E> Consumed<E> for Result<(), E> {
    #[inline]
    fn flow(self) -> Result<ControlFlow<()>, E> {
        self.map(ControlFlow::Continue)
    }
}

impl<E> Consumed<E> for Result<ControlFlow<()>, E> {
    #[inline]
    fn flow(self) -> Result<ControlFlow<()>, E> {
        self
    }
}

/// Progress callback: (bytes done, total bytes, keys done).
pub type Progress<'p> = &'p (dyn Fn(u64, u64, u64) + Sync);

/// Runs the pipeline. `consume` sees every chunk's output in file order;
/// the first error (format, I/O, checksum) stops the run after all output
/// before it has been consumed, so a failing run's output is a prefix of
/// the successful one. A consumer that returns [`ControlFlow::Break`] ends
/// the run there, cleanly.
pub fn run<'a, W, F, C, R>(
    data: &'a [u8],
    opts: &EngineOptions,
    make_worker: F,
    mut consume: C,
    progress: Option<Progress<'_>>,
) -> Result<PassInfo, ScanError<W::Error>>
where
    W: Worker<'a>,
    F: Fn() -> W + Sync,
    C: FnMut(W::Out, &Chunk<'a>) -> R,
    R: Consumed<W::Error>,
{
    let mut parser = first_parser(data, opts)?;
    if let Some((at, db)) = opts.start {
        parser = Parser::resume(
            data,
            parser.header(),
            at as usize,
            data.len(),
            db,
            ParseOptions {
                verify_checksum: false,
            },
        )?;
    }
    let mut info = PassInfo {
        header: Some(parser.header()),
        ..Default::default()
    };
    let total = data.len() as u64;
    let threads = opts.threads.max(1);

    std::thread::scope(|s| -> Result<PassInfo, ScanError<W::Error>> {
        // CRC-64 runs over each chunk as it is consumed, in order: at the
        // speed of the SIMD CRC (>20 GB/s) that costs far less than another
        // thread touching every page ahead of the workers would.
        let mut crc = CrcState::new(data, opts.verify_checksum && parser.header().has_checksum());

        let eof = if threads > 1 {
            parallel(
                s,
                parser,
                opts,
                threads,
                &make_worker,
                &mut consume,
                &mut info,
                total,
                progress,
                &mut crc,
            )?
        } else {
            let mut w = make_worker();
            let mut chunks = Chunker::new(data, parser, opts.chunk_bytes, opts);
            loop {
                let (chunk, end) = chunks.next_chunk();
                if let Some(chunk) = chunk {
                    let out = w.process(&chunk).map_err(ScanError::Consumer)?;
                    let flow = consume(out, &chunk).flow().map_err(ScanError::Consumer)?;
                    crc.advance(&chunk);
                    info.keys += chunk.keys;
                    info.bytes_done = chunk.end;
                    if let Some(p) = progress {
                        p(info.bytes_done, total, info.keys);
                    }
                    if flow.is_break() {
                        info.stopped = true;
                        return Ok(info);
                    }
                }
                match end {
                    None => continue,
                    Some(r) => break r?,
                }
            }
        };
        if info.stopped {
            return Ok(info);
        }

        if let Some((checksum, eof_offset, trailing)) = eof {
            info.checksum = checksum;
            info.trailing_bytes = trailing as u64;
            if let (Some(stored), Some(computed)) = (checksum, crc.value()) {
                if stored != 0 {
                    if let (true, Some(p)) = (computed != stored, &opts.skip_corrupt) {
                        info.checksum_mismatch = Some((stored, computed));
                        if let Ok(mut m) = p.mismatches.lock() {
                            m.push((stored, computed));
                        }
                    } else if computed != stored {
                        return Err(ScanError::Format(Error::new(
                            eof_offset + 1,
                            ErrorKind::ChecksumMismatch { stored, computed },
                        )));
                    }
                    info.checksum_verified = true;
                }
            }
        }
        info.bytes_done = total;
        Ok(info)
    })
}

/// The parser at the first item. For an input still arriving, over the
/// bytes there so far (waiting until the header is among them); a run
/// that cannot be bounded by them waits for all of it first.
fn first_parser<'a>(data: &'a [u8], opts: &EngineOptions) -> Result<Parser<'a>, Error> {
    let popts = ParseOptions {
        verify_checksum: false,
    };
    let Some(arrival) = &opts.arrival else {
        return Parser::new(data, popts);
    };
    if opts.start.is_some() || opts.grid.is_some() || opts.skip_corrupt.is_some() {
        arrival.wait_complete().map_err(|u| u.into_error())?;
    }
    let mut have = arrival.ready() as usize;
    loop {
        match Parser::new(&data[..have], popts) {
            Ok(p) => return Parser::at(data, p.header(), p.offset() as usize, have, 0, popts),
            Err(e) if have == data.len() && arrival.is_complete() => return Err(e),
            Err(_) => {
                have = arrival
                    .wait_beyond(have as u64)
                    .map_err(|u| u.into_error())? as usize
            }
        }
    }
}
