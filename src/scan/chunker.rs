//! The sequential boundary pass: walks the item stream and cuts it into
//! chunks of whole records (what happens at damage is in `damage`).

mod damage;

use std::sync::Arc;

use super::chunk::{Chunk, EofInfo};
use super::corrupt::CorruptPolicy;
use super::grid::Grid;
use super::EngineOptions;
use crate::arrival::Arrival;
use crate::error::Error;
use crate::filter::Filter;
use crate::rdb::elem::RdbStr;
use crate::rdb::records::{Item, ParseOptions, Parser};
use damage::{empty_nothing, zero_record};

/// Cuts the item stream into chunks of about `target` input bytes.
pub(super) struct Chunker<'a> {
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
    /// records ([`crate::rdb::resync::misaligned_since`]); how the pass ended, once it
    /// has, to be told after that chunk; and the latest items.
    held: Option<Chunk<'a>>,
    finished: Option<Result<EofInfo, Error>>,
    recent: Recent<'a>,
    /// Chunks to hand out as they are, from an earlier pass.
    replay: Option<Arc<Grid>>,
    /// An input still being written, and how far the parser may read it
    /// (`data.len()` once it is all there): see [`Chunker::more`].
    arrival: Option<Arc<Arrival>>,
    ready: usize,
}

/// What [`Chunker::more`] found after the walk ran out of bytes.
enum More {
    /// More bytes arrived: the parser starts the item again.
    Arrived,
    /// Every byte is there: the walk's error is the file's.
    Complete,
    /// The rest of the input cannot be produced.
    Failed(Error),
}

/// The latest item starts, with the database and key (as stored) of those
/// that are keys.
type Recent<'a> = std::collections::VecDeque<(usize, Option<(u64, RdbStr<'a>)>)>;

/// Item starts kept for the look back after damage.
const RECENT_ITEMS: usize = 64;

impl<'a> Chunker<'a> {
    pub(super) fn new(
        data: &'a [u8],
        parser: Parser<'a>,
        target: usize,
        opts: &EngineOptions,
    ) -> Self {
        Chunker {
            filter: opts.filter.clone(),
            skip: opts.skip_corrupt.clone(),
            data,
            target: target.max(1),
            seq: 0,
            done: false,
            pending: None,
            segment: None,
            segment_keys: 0,
            held: None,
            finished: None,
            recent: Default::default(),
            replay: opts
                .grid
                .clone()
                .filter(|g| g.is_complete() && opts.skip_corrupt.is_none() && opts.start.is_none()),
            ready: match opts.arrival {
                Some(_) => parser.view_end(),
                None => data.len(),
            },
            arrival: opts.arrival.clone(),
            parser,
        }
    }

    /// Whether the whole input is there (always, unless it is arriving).
    fn arrived(&self) -> bool {
        self.arrival.as_ref().is_none_or(|a| a.is_complete())
    }

    /// The walk failed at `item_start` (in database `db`), or reached the
    /// EOF opcode, with the input still arriving: waits for more bytes and
    /// starts that item again over them. An item is only ever read whole,
    /// so what the walk finds is what it finds in the complete file.
    fn more(&mut self, item_start: u64, db: u64) -> More {
        let Some(arrival) = &self.arrival else {
            return More::Complete;
        };
        if self.ready == self.data.len() && arrival.is_complete() {
            return More::Complete;
        }
        let ready = match arrival.wait_beyond(self.ready as u64) {
            Ok(r) => r as usize,
            Err(u) => return More::Failed(u.into_error()),
        };
        let opts = ParseOptions {
            verify_checksum: false,
        };
        let header = self.parser.header();
        match Parser::at(self.data, header, item_start as usize, ready, db, opts) {
            Ok(p) => {
                (self.parser, self.ready) = (p, ready);
                More::Arrived
            }
            Err(e) => More::Failed(e),
        }
    }

    /// The next chunk (if any) and, once the pass is over, how it ended.
    /// Under `--skip-corrupt` each chunk is handed out one turn late (see
    /// `held`).
    #[allow(clippy::type_complexity)]
    pub(super) fn next_chunk(&mut self) -> (Option<Chunk<'a>>, Option<Result<EofInfo, Error>>) {
        if let Some(grid) = self.replay.clone() {
            return self.replayed(&grid);
        }
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

    /// The next chunk of a replayed [`Grid`]; the last one comes with how
    /// the recorded pass ended.
    #[allow(clippy::type_complexity)]
    fn replayed(&mut self, grid: &Grid) -> (Option<Chunk<'a>>, Option<Result<EofInfo, Error>>) {
        let i = self.seq as usize;
        let Some(c) = grid.cuts.get(i) else {
            return (None, Some(Ok(grid.eof)));
        };
        let end = (i + 1 == grid.cuts.len()).then_some(Ok(grid.eof));
        (
            Some(self.chunk(c.start, c.end, c.db, c.keys, c.eof_at)),
            end,
        )
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

    /// The parser's next item; under `--skip-corrupt` a [`zero_record`] or
    /// an [`empty_nothing`] is an error at its start, so that it is left
    /// out like other damage.
    fn next_item_checked(&mut self, item_start: u64) -> Result<Option<Item<'a>>, Error> {
        let next = self.parser.next_item();
        if self.skip.is_none() {
            return next;
        }
        let Ok(Some(Item::Key(rec))) = &next else {
            return next;
        };
        let detail = if zero_record(self.data, item_start, self.parser.offset()) {
            "three zero bytes read as a string with an empty key and value \
             (zero-filled damage)"
        } else if empty_nothing(rec) {
            "an empty collection under an empty key (a flip's small bytes)"
        } else {
            return next;
        };
        Err(Error::invalid(item_start, "record", detail))
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
                Ok(Some(Item::Eof { .. })) if !self.arrived() => {
                    // The bytes after the trailer are counted against the
                    // whole input, and a decompression can still fail after
                    // its last byte (zstd's own checksum): read the EOF
                    // again once the input is complete (`more` cannot find
                    // it complete here).
                    match self.more(item_start, item_db) {
                        More::Arrived | More::Complete => continue,
                        More::Failed(e) => {
                            end = Some(Err(e));
                            break;
                        }
                    }
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
                    match self.more(item_start, item_db) {
                        More::Arrived => continue,
                        More::Failed(e) => {
                            end = Some(Err(e));
                            break;
                        }
                        More::Complete => {}
                    }
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
    /// after a failure (`damage::repeated_since`, [`crate::rdb::resync::misaligned_since`]).
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
