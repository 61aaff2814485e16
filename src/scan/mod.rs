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
//! The CRC-64 of the whole file is computed on its own thread while the
//! pass runs, so verification costs no wall time on a multi-core machine.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::mpsc::{channel, sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use crate::error::{Error, ErrorKind};
use crate::filter::Filter;
use crate::rdb::crc64;
use crate::rdb::elem::RdbStr;
use crate::rdb::records::{Header, Item, ParseOptions, Parser, Record};
use crate::rdb::resync;
use crate::rdb::value::{Discard, Scratch};

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
}

/// A damaged record (or run of records) left out under `--skip-corrupt`.
#[derive(Debug, Clone)]
pub struct Corrupt {
    /// Offset of the damaged record's first byte.
    pub start: u64,
    /// Where reading went on (`None`: nothing readable followed).
    pub resume: Option<u64>,
    /// The record's key, when its opening was readable.
    pub key: Option<Vec<u8>>,
    /// What was wrong, with its own offset.
    pub error: Error,
}

/// Where damaged records are reported, and how many there were.
pub struct CorruptPolicy {
    report: Box<dyn Fn(&Corrupt) + Send + Sync>,
    count: std::sync::atomic::AtomicU64,
    regions: std::sync::atomic::AtomicU64,
    mismatches: Mutex<Vec<(u64, u64)>>,
}

impl CorruptPolicy {
    pub fn new(report: impl Fn(&Corrupt) + Send + Sync + 'static) -> Self {
        CorruptPolicy {
            report: Box::new(report),
            count: Default::default(),
            regions: Default::default(),
            mismatches: Default::default(),
        }
    }

    /// Checksum mismatches (stored, computed) seen, one per file.
    pub fn checksum_mismatches(&self) -> Vec<(u64, u64)> {
        self.mismatches
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    pub fn report(&self, c: &Corrupt) {
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (self.report)(c);
    }

    /// Damaged records reported so far.
    pub fn count(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Of those, the ones the record walk itself could not pass (each a
    /// record or a run of records no worker saw).
    pub fn regions(&self) -> u64 {
        self.regions.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl std::fmt::Debug for CorruptPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CorruptPolicy({} reported)", self.count())
    }
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

/// A chunk of consecutive whole items: a byte range that the boundary pass
/// found, which a worker walks again with [`Chunk::parser`]. Only offsets
/// travel between threads; records are rebuilt where they are used.
pub struct Chunk<'a> {
    pub seq: u64,
    data: &'a [u8],
    header: Header,
    /// Byte range of the chunk in the file.
    pub start: u64,
    pub end: u64,
    /// Database selected at `start`.
    pub db: u64,
    /// Keys in the chunk.
    pub keys: u64,
    /// Offset of the EOF opcode, when this is the last chunk.
    pub eof_at: Option<u64>,
    filter: Option<Arc<Filter>>,
    skip: Option<Arc<CorruptPolicy>>,
    /// Records starting before this offset are left out: they follow a
    /// damaged value before the grid is certain again
    /// ([`Chunk::certain_after`]).
    doubt_until: std::cell::Cell<u64>,
}

impl<'a> Chunk<'a> {
    /// A parser over exactly this chunk's items.
    pub fn parser(&self) -> Result<Parser<'a>, Error> {
        Parser::resume(
            self.data,
            self.header,
            self.start as usize,
            self.end as usize,
            self.db,
            ParseOptions {
                verify_checksum: false,
            },
        )
    }

    /// Whether the engine's filter keeps `rec`. Looks only at the key, type,
    /// expiry and value span, so a dropped value is never decoded.
    #[inline]
    pub fn keep(&self, rec: &Record<'_>, scratch: &mut Vec<u8>) -> Result<bool, Error> {
        match &self.filter {
            None => Ok(true),
            Some(f) => f.matches(rec, scratch),
        }
    }

    /// The one decision every command takes on a record before using it:
    /// dropped by the filter, or (under `--skip-corrupt`) damaged, or kept.
    /// A damaged value is one that does not decode; it is reported here, so
    /// that `json`, `resp`, `load`, `verify` and `memory` leave out exactly
    /// the same keys, whether or not they would decode the value themselves
    /// (a RESTORE payload is sent as it is in the file, and a server with
    /// `sanitize-dump-payload no` would take a broken one).
    pub fn admit(&self, rec: &Record<'_>, scratch: &mut Vec<u8>) -> Result<Admit, Error> {
        if rec.offset < self.doubt_until.get() {
            return Ok(Admit::Damaged); // reported with the record before it
        }
        if !self.keep(rec, scratch)? {
            return Ok(Admit::Filtered);
        }
        if self.skip.is_some() {
            let r = VALUE_SCRATCH.with(|s| rec.decode(&mut s.borrow_mut(), &mut Discard));
            if let Err(e) = r {
                self.value_error(rec, e)?;
                return Ok(Admit::Damaged);
            }
        }
        Ok(Admit::Keep)
    }

    /// Where the record grid is certain again after `rec`, whose value did
    /// not decode: the walk took `rec`'s lengths on trust, and a damaged
    /// length that still read as a well-formed string (an integer encoding,
    /// a shorter length) puts the next "records" inside the damaged value.
    /// So the records after it count only from where a resynchronisation
    /// with its full evidence (see [`resync`]) agrees; in a good file that
    /// is the very next record. Never past this chunk's end.
    fn certain_after(&self, rec: &Record<'_>) -> u64 {
        let next = rec.end_offset();
        let at = resync::resync(self.data, self.header, next as usize, rec.db);
        at.map_or(self.end, |p| p as u64).clamp(next, self.end)
    }

    /// A value of this chunk failed to decode: under `--skip-corrupt` it is
    /// reported and the worker goes on without it (`Ok`); otherwise the
    /// error comes back.
    pub fn value_error(&self, rec: &Record<'_>, error: Error) -> Result<(), Error> {
        match &self.skip {
            None => Err(error),
            Some(p) => {
                let resume = self.certain_after(rec);
                self.doubt_until.set(resume);
                p.report(&Corrupt {
                    start: rec.offset,
                    resume: Some(resume),
                    key: rec.key.to_vec().ok(),
                    error,
                });
                Ok(())
            }
        }
    }

    /// Whether damaged records are skipped (`--skip-corrupt`).
    pub fn skips_corrupt(&self) -> bool {
        self.skip.is_some()
    }
}

/// What [`Chunk::admit`] decided about a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Keep,
    /// Left out by the filter.
    Filtered,
    /// Its value does not decode; reported under `--skip-corrupt`.
    Damaged,
}

thread_local! {
    /// Decoder scratch of [`Chunk::admit`]'s check, one per worker thread.
    static VALUE_SCRATCH: std::cell::RefCell<Scratch> = Default::default();
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
    let mut parser = Parser::new(
        data,
        ParseOptions {
            verify_checksum: false,
        },
    )?;
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

/// Running CRC-64 over the file prefix up to and including the EOF opcode.
struct CrcState<'a> {
    data: &'a [u8],
    on: bool,
    pos: usize,
    crc: u64,
}

impl<'a> CrcState<'a> {
    fn new(data: &'a [u8], on: bool) -> Self {
        CrcState {
            data,
            on,
            pos: 0,
            crc: 0,
        }
    }

    /// Covers everything up to the end of `chunk` (up to its EOF opcode, if
    /// it holds one). Chunks arrive in file order and are contiguous.
    fn advance(&mut self, chunk: &Chunk<'_>) {
        if !self.on {
            return;
        }
        let upto = match chunk.eof_at {
            Some(eof) => eof as usize + 1,
            None => chunk.end as usize,
        }
        .min(self.data.len());
        if upto > self.pos {
            self.crc = crc64::crc64(self.crc, &self.data[self.pos..upto]);
            self.pos = upto;
        }
    }

    fn value(&self) -> Option<u64> {
        self.on.then_some(self.crc)
    }
}

type EofInfo = Option<(Option<u64>, u64, usize)>;

/// Cuts the item stream into chunks of about `target` input bytes.
struct Chunker<'a> {
    data: &'a [u8],
    parser: Parser<'a>,
    target: usize,
    seq: u64,
    done: bool,
    /// A big record already walked that forms the next chunk by itself:
    /// (start, db, end).
    pending: Option<(u64, u64, u64)>,
    filter: Option<Arc<Filter>>,
    skip: Option<Arc<CorruptPolicy>>,
    /// The key count the current segment declares (RESIZEDB or SLOT_INFO),
    /// and the keys accounted for in it so far (read, or lost to damage):
    /// the evidence a resynchronisation is checked against.
    segment: Option<u64>,
    segment_keys: u64,
    /// Under `--skip-corrupt`: the last chunk cut, kept back one turn so
    /// that damage found just after its end can still take back its last
    /// records ([`resync::misaligned_since`]); how the pass ended, once it
    /// has, to be told after that chunk; and the latest items.
    held: Option<Chunk<'a>>,
    finished: Option<Result<EofInfo, Error>>,
    recent: Recent<'a>,
}

/// The latest item starts, with the database and key (as stored) of those
/// that are keys.
type Recent<'a> = std::collections::VecDeque<(usize, Option<(u64, RdbStr<'a>)>)>;

/// The earliest start among `recent` of a key that the walk passed again
/// later in the same database. A keyspace holds each key once, so when the
/// walk then fails, it had left the record grid by the first of the two at
/// the latest: both are bytes of the damaged region read as records (zero
/// bytes read as `""` = `""` string records, over and over).
///
/// Likewise a tiny record with an empty key among the last
/// [`resync::LOOK_BACK_RECORDS`] items before the failure at `at`: two or
/// three small bytes of a damaged value read as a record with an empty key
/// (rule 3 of [`resync`]'s doc: type, length 0, length or count 0), and the
/// walk fails soon after; and an empty key of any size just before the
/// failure (a misread value ends off the record grid, and the next bytes
/// read as `""` with a value made of the following record's bytes). A real
/// empty key with a value is kept unless it is the record just before a
/// damaged one, where it is left out with the region and reported.
///
/// And an empty list, set, sorted set or hash among those last items: no
/// server saves one, and four small bytes of a damaged value read as one
/// ([`resync::empty_collection`]).
fn repeated_since(data: &[u8], header: Header, recent: &Recent<'_>, at: usize) -> Option<usize> {
    let keys: Vec<(usize, (u64, RdbStr<'_>))> =
        recent.iter().filter_map(|&(p, k)| Some((p, k?))).collect();
    let repeated = keys
        .iter()
        .enumerate()
        .find(|(i, (_, k))| keys[i + 1..].iter().any(|(_, l)| l == k))
        .map(|(_, &(p, _))| p);
    let last = recent.len().saturating_sub(resync::LOOK_BACK_RECORDS);
    let ends = recent.iter().skip(1).map(|r| r.0).chain([at]);
    let n = recent.len();
    let empty = recent
        .iter()
        .zip(ends)
        .enumerate()
        .skip(last)
        .find(|(i, ((p, k), end))| {
            let tiny = end - p <= TINY_RECORD || i + 1 == n;
            let empty_key = tiny && k.is_some_and(|(_, key)| key.decoded_len() == 0);
            empty_key || (k.is_some() && resync::empty_collection_at(data, header, *p))
        })
        .map(|(_, ((p, _), _))| *p);
    repeated.into_iter().chain(empty).min()
}

/// What [`Chunker::damaged`] decided after a damaged record.
struct Damaged {
    /// The start the resynchronisation found; the parser walks from there
    /// (delivering nothing) so that the segment's key count stays right.
    chosen: Option<usize>,
    /// Where records are delivered again; `None`: nothing after the damage
    /// is readable.
    resume: Option<usize>,
    /// The first record before the damaged one that is left out with it.
    from: Option<usize>,
}

/// Whether the record from `start` to `end` is the three bytes `00 00 00`:
/// a string with an empty key and an empty value. That is what zero-filled
/// damage (a lost page, a hole in a copied file) reads as, three bytes at
/// a time, and a flip can leave such bytes on the record grid with every
/// length still readable, so under `--skip-corrupt` it counts as damage:
/// left out and reported. (A real `SET "" ""` is written so too; it is
/// left out only under `--skip-corrupt`, and reported.)
fn zero_record(data: &[u8], start: u64, end: u64) -> bool {
    end == start + 3 && data.get(start as usize..end as usize) == Some(&[0u8, 0, 0][..])
}

/// The most bytes a record read out of a few small bytes of a damaged
/// value takes: type, empty key, an empty value or a count of 0, and a
/// spare byte.
const TINY_RECORD: usize = 4;

/// Item starts kept for the look back after damage.
const RECENT_ITEMS: usize = 64;

impl<'a> Chunker<'a> {
    fn new(data: &'a [u8], parser: Parser<'a>, target: usize, opts: &EngineOptions) -> Self {
        Chunker {
            filter: opts.filter.clone(),
            skip: opts.skip_corrupt.clone(),
            data,
            parser,
            target: target.max(1),
            seq: 0,
            done: false,
            pending: None,
            segment: None,
            segment_keys: 0,
            held: None,
            finished: None,
            recent: Default::default(),
        }
    }

    /// The next chunk (if any) and, once the pass is over, how it ended.
    /// Under `--skip-corrupt` each chunk is handed out one turn late (see
    /// `held`).
    #[allow(clippy::type_complexity)]
    fn next_chunk(&mut self) -> (Option<Chunk<'a>>, Option<Result<EofInfo, Error>>) {
        if self.skip.is_none() {
            return self.cut();
        }
        loop {
            if let Some(end) = self.finished.take() {
                return match self.held.take() {
                    Some(h) => {
                        self.finished = Some(end);
                        (Some(h), None)
                    }
                    None => (None, Some(end)),
                };
            }
            let (chunk, end) = self.cut();
            self.finished = end;
            if let Some(out) = chunk.and_then(|c| self.held.replace(c)) {
                return (Some(out), None);
            }
        }
    }

    /// Takes back the records from `from` on (a record start the look back
    /// found before damage at `at`) out of the held chunk and the chunk
    /// being cut (`start`, `end`, `keys`); returns where the left-out
    /// region really begins (not before what was already handed out).
    fn take_back(
        &mut self,
        from: usize,
        at: usize,
        start: u64,
        end: &mut u64,
        keys: &mut u64,
    ) -> u64 {
        let keys_from = |lo: u64, hi: u64, recent: &Recent<'a>| {
            recent
                .iter()
                .filter(|&&(p, k)| k.is_some() && (p as u64) >= lo && (p as u64) < hi)
                .count() as u64
        };
        let from = from as u64;
        if from >= start {
            *keys -= keys_from(from, at as u64, &self.recent);
            *end = from;
            return from;
        }
        *keys = 0;
        *end = start;
        let Some(h) = self.held.as_mut() else {
            return start;
        };
        let from = from.max(h.start);
        h.keys -= keys_from(from, h.end, &self.recent);
        h.end = from;
        if h.end == h.start {
            self.held = None;
        }
        from
    }

    /// A parser at `p`, a record start after damage, in database `db`.
    /// When the look back moved `p` past `chosen`, the start
    /// [`Self::resume_after`] chose, the items between are walked (not
    /// delivered), so that the database and the segment counts are those in
    /// force at `p`.
    fn parser_at(&mut self, chosen: usize, p: usize, db: u64) -> Option<Parser<'a>> {
        let opts = ParseOptions {
            verify_checksum: false,
        };
        let from = chosen.min(p);
        let mut parser = Parser::resume(
            self.data,
            self.parser.header(),
            from,
            self.data.len(),
            db,
            opts,
        )
        .ok()?;
        while (parser.offset() as usize) < p {
            match parser.next_item() {
                Ok(Some(item)) => self.note(&item),
                _ => return None,
            }
        }
        Some(parser)
    }

    /// Follows the segment counts as items go by.
    fn note(&mut self, item: &Item<'_>) {
        match item {
            Item::Key(_) => self.segment_keys += 1,
            Item::ResizeDb { db_size, .. } => {
                (self.segment, self.segment_keys) = (Some(*db_size), 0)
            }
            Item::SlotInfo { slot_size, .. } => {
                (self.segment, self.segment_keys) = (Some(*slot_size), 0)
            }
            Item::SelectDb(_) => (self.segment, self.segment_keys) = (None, 0),
            _ => {}
        }
    }

    /// Where to resume after damage at `at` (a record start) found at
    /// `error_at`: a [`resync::resync`] candidate whose walk reaches the end
    /// of its segment (else the region grows to where that walk failed and
    /// the search goes on from there), then moved past any keys that the
    /// segment's declared count shows cannot be real.
    fn resume_after(&mut self, at: usize, error_at: usize, db: u64) -> Option<usize> {
        let header = self.parser.header();
        self.segment_keys += resync::key_at(self.data, header, at).is_some() as u64;
        // The walk read everything up to the error as this record's
        // content: a record start found inside it would be made of the
        // damaged value's own bytes (a hash's `ttl field value` triples read
        // as string records), so the search starts at the error.
        let mut from = error_at.max(at + 1);
        let (resume, starts, keys, end) = loop {
            let resume = resync::resync(self.data, header, from, db)?;
            match resync::segment_keys(self.data, header, resume, db) {
                Ok((starts, keys, end)) => break (resume, starts, keys, end),
                Err(failed_at) => from = failed_at.max(resume + 1),
            }
        };
        let Some(declared) = self.segment else {
            return Some(resume);
        };
        let excess = (self.segment_keys + keys).saturating_sub(declared);
        if excess == 0 {
            return Some(resume);
        }
        self.segment_keys += excess.min(keys);
        Some(match starts.get(excess as usize) {
            Some(&p) if excess < keys => p,
            _ => end,
        })
    }

    /// The parser's next item; under `--skip-corrupt` a [`zero_record`] is
    /// an error at its start, so that it is left out like other damage.
    fn next_item_checked(&mut self, item_start: u64) -> Result<Option<Item<'a>>, Error> {
        match self.parser.next_item() {
            Ok(Some(Item::Key(_)))
                if self.skip.is_some()
                    && zero_record(self.data, item_start, self.parser.offset()) =>
            {
                Err(Error::invalid(
                    item_start,
                    "record",
                    "three zero bytes read as a string with an empty key and value \
                     (zero-filled damage)",
                ))
            }
            next => next,
        }
    }

    /// Where reading goes on after the damaged record at `at` that the walk
    /// read up to `error_at`: the resynchronised start ([`Self::resume_after`]),
    /// moved on to where the look back ([`resync::misaligned_since`]) and
    /// the damaged record's own extent ([`resync::rejoined_after`]) join
    /// it and past empty keys ([`resync::past_empty_keys`]); and the first
    /// record before `at` taken back into the region, if any.
    fn damaged(&mut self, at: usize, error_at: usize, db: u64) -> Damaged {
        let header = self.parser.header();
        let chosen = self.resume_after(at, error_at, db);
        let walked: Vec<usize> = self.recent.iter().map(|r| r.0).collect();
        let look = resync::misaligned_since(self.data, header, db, &walked, at, chosen);
        let resume = chosen.map(|p| {
            let p = look.map_or(p, |(_, joined)| p.max(joined));
            let p = resync::rejoined_after(self.data, header, db, at, error_at, p).unwrap_or(p);
            resync::past_empty_keys(self.data, header, db, p)
        });
        let from = look
            .map(|l| l.0)
            .into_iter()
            .chain(repeated_since(self.data, header, &self.recent, at))
            .min();
        Damaged {
            chosen,
            resume,
            from,
        }
    }

    /// The next chunk (if it holds any item) and, once the pass is over,
    /// how it ended: EOF info or the error that stopped the walk.
    #[allow(clippy::type_complexity)]
    fn cut(&mut self) -> (Option<Chunk<'a>>, Option<Result<EofInfo, Error>>) {
        if let Some((start, db, end)) = self.pending.take() {
            return (Some(self.chunk(start, end, db, 1, None)), None);
        }
        if self.done {
            return (None, Some(Ok(None)));
        }
        let start = self.parser.offset();
        let db = self.parser.db();
        let mut keys = 0;
        let mut end = None;
        let mut end_offset = start;
        let mut eof_at = None;
        loop {
            let item_start = self.parser.offset();
            let item_db = self.parser.db();
            let next = self.next_item_checked(item_start);
            if let Ok(Some(item)) = &next {
                self.note(item);
                self.remember(item_start, item);
            }
            match next {
                Ok(Some(Item::Key(_)))
                    if self.parser.offset() - item_start >= self.target as u64
                        && item_start > start =>
                {
                    // A big record goes into a chunk of its own, so that a
                    // sink can treat it specially (e.g. stream it).
                    self.pending = Some((item_start, item_db, self.parser.offset()));
                    end_offset = item_start;
                    break;
                }
                Ok(Some(Item::Eof {
                    offset,
                    checksum,
                    trailing,
                })) => {
                    end_offset = self.parser.offset();
                    eof_at = Some(offset);
                    end = Some(Ok(Some((checksum, offset, trailing))));
                    break;
                }
                Ok(Some(item)) => {
                    keys += matches!(item, Item::Key(_)) as u64;
                    end_offset = self.parser.offset();
                    if (end_offset - start) as usize >= self.target {
                        break;
                    }
                }
                Ok(None) => {
                    end = Some(Ok(None));
                    break;
                }
                Err(e) => {
                    let Some(policy) = self.skip.clone() else {
                        end = Some(Err(e));
                        break;
                    };
                    let so_far = ChunkSoFar {
                        start,
                        end: &mut end_offset,
                        keys: &mut keys,
                    };
                    if !self.skip_damage(&policy, e, item_start, item_db, so_far) {
                        end = Some(Ok(None));
                    }
                    break;
                }
            }
        }
        if end.is_some() {
            self.done = true;
        }
        let chunk = (end_offset > start).then(|| self.chunk(start, end_offset, db, keys, eof_at));
        (chunk, end)
    }

    /// Under `--skip-corrupt`, keeps the latest items for the look back
    /// after a failure ([`repeated_since`], [`resync::misaligned_since`]).
    fn remember(&mut self, item_start: u64, item: &Item<'a>) {
        if self.skip.is_none() {
            return;
        }
        if self.recent.len() == RECENT_ITEMS {
            self.recent.pop_front();
        }
        let key = match item {
            Item::Key(r) => Some((r.db, r.key)),
            _ => None,
        };
        self.recent.push_back((item_start as usize, key));
    }

    /// Leaves the record at `item_start` that failed with `e` out (with any
    /// records before it that the look back takes back from the chunk so
    /// far), reports the region, and moves the walk to where reading
    /// resumes. `false` when nothing after it can be read.
    fn skip_damage(
        &mut self,
        policy: &CorruptPolicy,
        e: Error,
        item_start: u64,
        item_db: u64,
        so_far: ChunkSoFar<'_>,
    ) -> bool {
        let header = self.parser.header();
        let at = item_start as usize;
        let Damaged {
            chosen,
            resume,
            from,
        } = self.damaged(at, e.offset as usize, item_db);
        let region = match from {
            Some(from) => self.take_back(from, at, so_far.start, so_far.end, so_far.keys),
            None => item_start,
        };
        self.recent.clear();
        policy
            .regions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        policy.report(&Corrupt {
            start: region,
            resume: resume.map(|p| p as u64),
            key: resync::key_at(self.data, header, region as usize),
            error: e,
        });
        match resume.and_then(|p| self.parser_at(chosen.unwrap_or(p), p, item_db)) {
            Some(p) => {
                self.parser = p;
                true
            }
            None => false,
        }
    }

    /// The next chunk, `start..end` of the file, opening in database `db`.
    fn chunk(
        &mut self,
        start: u64,
        end: u64,
        db: u64,
        keys: u64,
        eof_at: Option<u64>,
    ) -> Chunk<'a> {
        let c = Chunk {
            seq: self.seq,
            data: self.data,
            header: self.parser.header(),
            start,
            end,
            db,
            keys,
            eof_at,
            filter: self.filter.clone(),
            skip: self.skip.clone(),
            doubt_until: Default::default(),
        };
        self.seq += 1;
        c
    }
}

/// The chunk [`Chunker::cut`] is cutting: where it starts, and its end and
/// key count so far, which a look back after damage may take records from.
struct ChunkSoFar<'x> {
    start: u64,
    end: &'x mut u64,
    keys: &'x mut u64,
}

#[allow(clippy::too_many_arguments)]
fn parallel<'a, 's, W, F, C, R>(
    s: &'s std::thread::Scope<'s, '_>,
    parser: Parser<'a>,
    opts: &EngineOptions,
    threads: usize,
    make_worker: &'s F,
    consume: &mut C,
    info: &mut PassInfo,
    total: u64,
    progress: Option<Progress<'_>>,
    crc: &mut CrcState<'a>,
) -> Result<EofInfo, ScanError<W::Error>>
where
    'a: 's,
    W: Worker<'a> + 's,
    W::Out: 's,
    W::Error: 's,
    F: Fn() -> W + Sync,
    C: FnMut(W::Out, &Chunk<'a>) -> R,
    R: Consumed<W::Error>,
{
    let chunk_bytes = opts.chunk_bytes;
    let copts = opts.clone();
    let data = parser.data();
    let window = threads * 2 + 2;
    let (token_tx, token_rx) = sync_channel::<()>(window);
    for _ in 0..window {
        token_tx.send(()).expect("token");
    }
    let (work_tx, work_rx) = sync_channel::<Chunk<'a>>(window);
    let work_rx = Arc::new(Mutex::new(work_rx));
    type Done<'a, O, E> = (Chunk<'a>, Result<O, E>);
    let (done_tx, done_rx) = channel::<Done<'a, W::Out, W::Error>>();

    // Producer: the boundary pass.
    let producer = s.spawn(move || -> Result<EofInfo, Error> {
        let mut chunker = Chunker::new(data, parser, chunk_bytes, &copts);
        loop {
            let (chunk, end) = chunker.next_chunk();
            if let Some(c) = chunk {
                if token_rx.recv().is_err() {
                    return Ok(None); // consumer stopped
                }
                if work_tx.send(c).is_err() {
                    return Ok(None);
                }
            }
            if let Some(r) = end {
                return r;
            }
        }
    });

    for _ in 0..threads {
        let rx = Arc::clone(&work_rx);
        let tx = done_tx.clone();
        s.spawn(move || {
            let mut w = make_worker();
            loop {
                let next = rx
                    .lock()
                    .map(|r: std::sync::MutexGuard<'_, Receiver<Chunk<'a>>>| r.recv());
                let chunk = match next {
                    Ok(Ok(c)) => c,
                    _ => return,
                };
                let out = w.process(&chunk);
                if tx.send((chunk, out)).is_err() {
                    return;
                }
            }
        });
    }
    drop(done_tx);

    // Writer: reorder and consume on this thread.
    let mut pending: BTreeMap<u64, Done<'a, W::Out, W::Error>> = BTreeMap::new();
    let mut next_seq = 0u64;
    let mut failure: Option<W::Error> = None;
    for (chunk, out) in done_rx.iter() {
        pending.insert(chunk.seq, (chunk, out));
        while let Some((chunk, out)) = pending.remove(&next_seq) {
            next_seq += 1;
            let flow = match out.and_then(|o| consume(o, &chunk).flow()) {
                Ok(flow) => flow,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            crc.advance(&chunk);
            info.keys += chunk.keys;
            info.bytes_done = chunk.end;
            if let Some(p) = progress {
                p(info.bytes_done, total, info.keys);
            }
            let _ = token_tx.send(());
            if flow.is_break() {
                info.stopped = true;
                break;
            }
        }
        if failure.is_some() || info.stopped {
            break;
        }
    }
    // Stop the producer and workers: dropping the receivers makes their sends fail.
    drop(token_tx);
    drop(done_rx);
    if failure.is_some() || info.stopped {
        drop(work_rx);
        let _ = producer.join();
        return match failure {
            Some(e) => Err(ScanError::Consumer(e)),
            None => Ok(None),
        };
    }
    match producer.join() {
        Ok(r) => r.map_err(ScanError::Format),
        Err(p) => std::panic::resume_unwind(p),
    }
}
