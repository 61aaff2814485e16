//! Under `--skip-corrupt`: the decision, when the boundary pass fails on
//! a record, of which records around it are left out and where reading
//! resumes.

use super::{ChunkSoFar, Chunker, Recent};
use crate::error::Error;
use crate::rdb::elem::RdbStr;
use crate::rdb::empty::is_empty_collection;
use crate::rdb::records::{Header, ParseOptions, Parser, Record};
use crate::rdb::resync;
use crate::scan::corrupt::{Corrupt, CorruptPolicy};

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
/// ([`crate::rdb::empty`]).
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
pub(super) fn zero_record(data: &[u8], start: u64, end: u64) -> bool {
    end == start + 3 && data.get(start as usize..end as usize) == Some(&[0u8, 0, 0][..])
}

/// Whether `rec` is an empty list, set, sorted set or hash under an empty
/// key (`01 00 00`: type, key length 0, count 0, and the like). No server
/// saves an empty collection ([`crate::rdb::empty`]), and three small
/// bytes a flip left on the record grid read as one with every length
/// readable, the walk going on without an error; so under
/// `--skip-corrupt` it counts as damage, like a [`zero_record`].
pub(super) fn empty_nothing(rec: &Record<'_>) -> bool {
    rec.key.decoded_len() == 0 && is_empty_collection(rec.vtype, rec.value)
}

/// The most bytes a record read out of a few small bytes of a damaged
/// value takes: type, empty key, an empty value or a count of 0, and a
/// spare byte.
const TINY_RECORD: usize = 4;

impl<'a> Chunker<'a> {
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

    /// Leaves the record at `item_start` that failed with `e` out (with any
    /// records before it that the look back takes back from the chunk so
    /// far), reports the region, and moves the walk to where reading
    /// resumes. `false` when nothing after it can be read.
    pub(super) fn skip_damage(
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
}
