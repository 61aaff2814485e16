//! Finding the way back into a damaged file (`--skip-corrupt`).
//!
//! An RDB file has no record markers or index: a record is only found by
//! walking every length before it. When a length is damaged, the walk is
//! lost. To go on, [`resync`] tries later bytes as record starts, and the
//! evidence it asks for is strong, because a wrong answer invents keys out
//! of a damaged value's bytes (a stream's listpacks, a list's elements):
//!
//! 1. a *chain*: from the candidate, the walk must reach a well-formed end
//!    of file, or pass [`CHAIN_ITEMS`] items in a row. A truncated file has
//!    no such chain after the cut, so nothing after it is guessed at; but
//!    its last 9 bytes read as an end of file whenever the byte before them
//!    is 0xFF, and a value's bytes just before that read as a key or two
//!    often enough (LZF output, a stream's listpack): so where the chain
//!    reaches the end of file within fewer than [`MIN_KEYS_TO_EOF`] keys,
//!    reading resumes at that end, and those keys are left out.
//! 2. *agreement*: bytes of a damaged value can still read as a record
//!    that happens to end on a real record boundary, whose chain is then
//!    valid too. So every other candidate start inside the chain's first
//!    item is walked as well; where two chains disagree about a region,
//!    that region is left out, and reading resumes at the first offset that
//!    every valid chain passes through. Two chains that do not meet within
//!    [`CHAIN_ITEMS`] are followed on ([`meeting`]): the one that fails
//!    first was no record start, and where both read on they resume
//!    together where they meet.
//!
//! 3. *keys like a keyspace's*: a database holds each key once, so a
//!    chain that passes the same key twice in one database is no evidence;
//!    nor is one that opens on an empty key, which is what two or three
//!    small bytes of a damaged value read as (type 0 or a tiny list/zset,
//!    length 0, length 0); nor one that passes an empty list, set, sorted
//!    set or hash, which no server saves ([`empty_collection`]). At worst
//!    a real empty key just after damage is left out with its region, and
//!    reported.
//!
//! The caller adds a fourth check where the file gives one: the key count a
//! RESIZEDB or SLOT_INFO declares for its segment ([`segment_keys`]); and a
//! look back ([`misaligned_since`]): a damaged length can read on for a few
//! records, off the record grid, before anything fails, so the records just
//! before the failure are checked against the chain found after it.

use std::collections::HashSet;

use super::consts::*;
use super::cursor::Cursor;
use super::elem::RdbStr;
use super::empty::is_empty_collection;
use super::records::{Header, Item, ParseOptions, Parser, Record};

/// Items a chain must pass, when it does not reach the end of the file, for
/// its start to count as a record start.
pub(crate) const CHAIN_ITEMS: usize = 64;

/// Keys a resumed chain must pass before the end of the file for them to be
/// read (rule 1 of the module doc); fewer are left out, and reading resumes
/// at the end of file. The chain still counts as a chain, so that it
/// disputes a longer reading that starts inside it (a hash's `ttl field
/// value` triples read as string records). The price: damage among the
/// last few records of a file leaves the keys after it out, reported with
/// the damaged region.
pub(crate) const MIN_KEYS_TO_EOF: usize = 4;

/// The first offset in `from..` where parsing can resume with strong
/// evidence (see the module doc), with the database to assume there (`db`,
/// the one selected before the damage). `None` if there is none: the rest of
/// the file is lost.
pub(crate) fn resync(data: &[u8], header: Header, from: usize, db: u64) -> Option<usize> {
    let mut lo = from.max(header.len);
    loop {
        let (p0, chain0) = first_chain(data, header, lo, db)?;
        match agreement(data, header, db, p0, &chain0) {
            Agreement::At(at) => return Some(past_short_tail(data, header, at, db)),
            // A chain that began inside this one's first item read on
            // cleanly where this one failed: this one was no record start.
            Agreement::Refuted => lo = p0 + 1,
            // Two independent long chains: no way to tell which is real.
            Agreement::Ambiguous => lo = chain0.get(1).copied().unwrap_or(data.len()) + 1,
        }
    }
}

/// `at`, or the end of file when the walk from `at` reaches a clean one
/// after fewer than [`MIN_KEYS_TO_EOF`] keys.
fn past_short_tail(data: &[u8], header: Header, at: usize, db: u64) -> usize {
    let Ok(mut parser) = parser_at(data, header, at, db) else {
        return at;
    };
    let mut keys = 0;
    while keys < MIN_KEYS_TO_EOF {
        let item_at = parser.offset() as usize;
        match parser.next_item() {
            Ok(Some(Item::Key(_))) => keys += 1,
            Ok(Some(Item::Eof { trailing: 0, .. })) => return item_at,
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    at
}

/// The first candidate in `lo..` with a valid chain, and that chain's item
/// starts (the candidate first).
fn first_chain(data: &[u8], header: Header, lo: usize, db: u64) -> Option<(usize, Vec<usize>)> {
    (lo..data.len()).find_map(|p| match walk(data, header, p, db, None) {
        Walk::Valid(c) => Some((p, c)),
        _ => None,
    })
}

/// How the chains starting within `chain0`'s first item compare with it.
enum Agreement {
    /// They all meet `chain0` (or fail): the first offset on `chain0` that
    /// every one of them passes through.
    At(usize),
    /// One of them, followed further, outlives `chain0`.
    Refuted,
    /// One of them neither meets `chain0` nor fails.
    Ambiguous,
}

/// The first offset on `chain0` that every valid chain starting within the
/// lookahead passes through.
///
/// A chain that does not meet `chain0` within [`CHAIN_ITEMS`] items is
/// followed further ([`meeting`]): bytes of a big value read as records
/// (a hash's `ttl field value` triples are string records) make a long
/// chain that fails, or rejoins the real records only at the value's end,
/// while the real chain, started earlier, gets there record by record. The
/// two agree from there on, and only from there.
fn agreement(data: &[u8], header: Header, db: u64, p0: usize, chain0: &[usize]) -> Agreement {
    let on0: HashSet<usize> = chain0.iter().copied().collect();
    let Some(&last) = chain0.last() else {
        return Agreement::Ambiguous;
    };
    let horizon = chain0.get(1).copied().unwrap_or(last);
    let mut resume = p0;
    for q in p0 + 1..horizon {
        if on0.contains(&q) {
            continue;
        }
        match walk(data, header, q, db, Some(&on0)) {
            Walk::Merged(m) => resume = resume.max(m),
            Walk::Valid(_) => match meeting(data, header, db, p0, q) {
                Meeting::At(m) => resume = resume.max(m),
                Meeting::FirstFails => return Agreement::Refuted,
                Meeting::SecondFails => {}
                Meeting::Undecided => return Agreement::Ambiguous,
            },
            Walk::Invalid => {}
        }
    }
    Agreement::At(resume)
}

/// Items each of two chains may pass before [`meeting`] gives up.
const MEETING_ITEMS: usize = 16 << 10;

/// How two walks, followed on, compare.
enum Meeting {
    /// Both pass this item start.
    At(usize),
    /// The walk from the first start fails (or runs into the other's clean
    /// end of file) before they meet.
    FirstFails,
    SecondFails,
    /// Neither fails within [`MEETING_ITEMS`] items, or the data ends.
    Undecided,
}

/// Advances whichever of the walks from `a` and from `b` is behind, until
/// they meet or one of them fails.
fn meeting(data: &[u8], header: Header, db: u64, a: usize, b: usize) -> Meeting {
    let (Ok(mut pa), Ok(mut pb)) = (
        parser_at(data, header, a, db),
        parser_at(data, header, b, db),
    ) else {
        return Meeting::Undecided;
    };
    for _ in 0..2 * MEETING_ITEMS {
        let (oa, ob) = (pa.offset(), pb.offset());
        if oa == ob {
            return Meeting::At(oa as usize);
        }
        let a_behind = oa < ob;
        let (fails, other_fails) = match a_behind {
            true => (Meeting::FirstFails, Meeting::SecondFails),
            false => (Meeting::SecondFails, Meeting::FirstFails),
        };
        match if a_behind {
            pa.next_item()
        } else {
            pb.next_item()
        } {
            // A clean end the other walk has already passed over.
            Ok(Some(Item::Eof { trailing: 0, .. })) => return other_fails,
            Ok(Some(Item::Eof { .. })) | Err(_) => return fails,
            Ok(None) => return Meeting::Undecided,
            Ok(Some(_)) => {}
        }
    }
    Meeting::Undecided
}

/// Key starts kept by [`segment_keys`]; past this many the caller resumes
/// at the segment's end instead.
pub(crate) const SEGMENT_KEYS: usize = 4096;

/// The keys from `p` to the end of its segment (the next SELECTDB,
/// RESIZEDB, SLOT_INFO or EOF): the first [`SEGMENT_KEYS`] key starts, the
/// number of keys, and the offset of the item that ends the segment.
/// `Err(offset)` when the walk fails first, at `offset`: then the candidate
/// is not confirmed, and the caller treats everything up to there as one
/// damaged region.
///
/// RESIZEDB (and Valkey's SLOT_INFO) state how many keys the segment
/// holds, so after a resynchronisation the keys before the damage, the
/// damaged record and the keys of this walk must add up to that count; any
/// excess is records read out of the damaged value's bytes, and they come
/// first.
pub(crate) fn segment_keys(
    data: &[u8],
    header: Header,
    p: usize,
    db: u64,
) -> Result<(Vec<usize>, u64, usize), usize> {
    let mut parser = parser_at(data, header, p, db).map_err(|e| e.offset as usize)?;
    let (mut starts, mut n) = (Vec::new(), 0u64);
    loop {
        let at = parser.offset() as usize;
        match parser.next_item() {
            Ok(Some(Item::Key(_))) => {
                if starts.len() < SEGMENT_KEYS {
                    starts.push(at);
                }
                n += 1;
            }
            Ok(Some(
                Item::SelectDb(_)
                | Item::ResizeDb { .. }
                | Item::SlotInfo { .. }
                | Item::Eof { .. },
            )) => return Ok((starts, n, at)),
            Ok(Some(_)) => {}
            Ok(None) => return Err(data.len()),
            Err(e) => return Err((e.offset as usize).max(at)),
        }
    }
}

/// How a walk from a candidate start ended.
enum Walk {
    /// It reached the end of the file cleanly or passed [`CHAIN_ITEMS`]
    /// items; the item starts it passed.
    Valid(Vec<usize>),
    /// It reached an item start of the chain it was compared with.
    Merged(usize),
    Invalid,
}

fn walk(data: &[u8], header: Header, p: usize, db: u64, meet: Option<&HashSet<usize>>) -> Walk {
    // Zero-filled blocks are the commonest damage, and every three zero
    // bytes read as a string record with an empty key and value: a chain
    // that starts so is no evidence.
    if !opens_item(data[p], header) || data[p..].starts_with(&[0, 0, 0]) {
        return Walk::Invalid;
    }
    let Ok(mut parser) = parser_at(data, header, p, db) else {
        return Walk::Invalid;
    };
    let (mut starts, mut keys) = (Vec::new(), Keys::default());
    while starts.len() < CHAIN_ITEMS {
        let at = parser.offset() as usize;
        if meet.is_some_and(|m| m.contains(&at)) {
            return Walk::Merged(at);
        }
        starts.push(at);
        match parser.next_item() {
            Ok(Some(Item::Eof { trailing: 0, .. })) => return Walk::Valid(starts),
            Ok(Some(Item::Eof { .. })) | Ok(None) | Err(_) => return Walk::Invalid,
            Ok(Some(Item::Key(r))) if keys.doubtful(&r) => return Walk::Invalid,
            Ok(Some(_)) => {}
        }
    }
    Walk::Valid(starts)
}

/// The keys a walk has passed, for rule 3 of the module doc.
#[derive(Default)]
struct Keys<'a>(Vec<(u64, RdbStr<'a>)>);

impl<'a> Keys<'a> {
    /// Whether `r`, the next key of the walk, makes it no evidence: the
    /// walk's first key and empty, a key already passed in the same
    /// database (a keyspace holds each key once; garbage repeats itself,
    /// zero bytes most of all), or an empty collection anywhere
    /// ([`empty_collection`]). Keys are compared as stored, which is
    /// enough to catch repeated bytes.
    fn doubtful(&mut self, r: &Record<'a>) -> bool {
        let repeated = self.0.iter().any(|&(db, k)| db == r.db && k == r.key);
        let empty_first = self.0.is_empty() && r.key.decoded_len() == 0;
        self.0.push((r.db, r.key));
        repeated || empty_first || empty_collection(r)
    }
}

/// Whether `r` is a list, set, sorted set or hash with no element
/// ([`is_empty_collection`]): no server saves one, but four small bytes of
/// a damaged value read as one very often: a type byte 1 to 4, a one-byte
/// key, a count of 0 (`01 01 ff 00` closes a listpack followed by a string
/// record). So such a record is no evidence of a record start, and one
/// just before a failure is left out with the damage
/// (`scan::chunker::damage::repeated_since`), as an empty key is.
fn empty_collection(r: &Record<'_>) -> bool {
    is_empty_collection(r.vtype, r.value)
}

/// Whether the item at `p` (an item start) is an empty collection.
pub(crate) fn empty_collection_at(data: &[u8], header: Header, p: usize) -> bool {
    let Ok(mut parser) = parser_at(data, header, p, 0) else {
        return false;
    };
    matches!(parser.next_item(), Ok(Some(Item::Key(r))) if empty_collection(&r))
}

/// Bytes before a failure that [`misaligned_since`] looks into.
pub const LOOK_BACK_BYTES: usize = 256 << 10;

/// Records before a failure that [`misaligned_since`] looks into, and the
/// items an alternative reading may take to join the chain after the
/// damage. A misread length that the walk passes without error reads on
/// for a record or two (the bytes it lands on are soon not a record); the
/// bounds keep chance readings out of a long stretch of good records, which
/// would otherwise, among thousands of start offsets, find one that lands
/// on the chain by luck. Past these bounds a reading must also pass the
/// records the misread length swallowed (`Follow::wide`).
pub const LOOK_BACK_RECORDS: usize = 2;
pub const LOOK_BACK_ITEMS: usize = 8;

/// Where the walk left the record grid, if it did before failing at the
/// record starting at `at`: the earliest of `walked` (item starts the walk
/// passed just before `at`, ascending) whose extent holds another start
/// `q` with a valid reading that joins the chain found after the damage
/// (from `resume`). Two readings of the same bytes that both lead to the
/// real records after the damage mean the walk cannot tell which was real,
/// and the one it took failed: so the records from there on are as doubtful
/// as the failed one and are left out with it.
///
/// The second offset returned is where the last such reading joins the
/// chain. Before it, the chain and that reading disagree about where
/// records start (a damaged aux can swallow the records after it, and the
/// chain then resumes inside one of them: a hash's `ttl field value`
/// triples read as string records), so by rule 2 of the module doc the
/// chain's items before it are left out too, and reading resumes there.
///
/// Readings that land on one of `walked` go on exactly as the walk did and
/// fail the same way, so they are no alternative.
///
/// The window is the last [`LOOK_BACK_RECORDS`] items, widened back over
/// the aux fields just before them: a damaged aux length swallows the
/// SELECTDB, RESIZEDB and first records that follow it, and the walk then
/// passes a record or two made of their bytes before it fails. When that
/// finds nothing, the wide look back (`Follow::wide`) tries every
/// record the walk passed within [`LOOK_BACK_BYTES`].
pub fn misaligned_since(
    data: &[u8],
    header: Header,
    db: u64,
    walked: &[usize],
    at: usize,
    resume: Option<usize>,
) -> Option<(usize, usize)> {
    let resume = resume?;
    let meet = chain_set(data, header, db, resume)?;
    let dead: HashSet<usize> = walked.iter().copied().chain([at]).collect();
    let mut first = walked.len().saturating_sub(LOOK_BACK_RECORDS);
    while first > 0
        && walked.len() - first < LOOK_BACK_RECORDS + MAX_AUX_BACK
        && data[walked[first - 1]] == RDB_OPCODE_AUX
    {
        first -= 1;
    }
    let ends = Ends {
        meet: &meet,
        dead: &dead,
    };
    let narrow = Follow {
        items: LOOK_BACK_ITEMS,
        at,
        swallowed: 0,
    };
    joins_from(data, header, db, &walked[first..], at, &ends, narrow)
        .or_else(|| joins_from(data, header, db, walked, at, &ends, Follow::wide(at)))
}

/// How far [`walk_until`] follows a reading, and what it must pass.
#[derive(Clone, Copy)]
struct Follow {
    /// Items it may take before it joins.
    items: usize,
    /// The failed record's start, and how many item starts before it the
    /// reading must pass (the records the misread length swallowed).
    at: usize,
    swallowed: usize,
}

impl Follow {
    /// The wide look back of [`misaligned_since`]: a reading from inside
    /// any record the walk passed (within [`LOOK_BACK_BYTES`]) that joins
    /// the chain within [`LOOK_BACK_WIDE_ITEMS`] items, after it passed at
    /// least [`LOOK_BACK_SWALLOWED`] item starts before the failed record
    /// at `at`.
    ///
    /// A damaged length (a set member's, a hash field's) that still reads
    /// as a well-formed string swallows the records after it, and the walk
    /// then reads on through their bytes as records of their own (tiny sets
    /// out of a list's integers, a string out of a sorted set's members)
    /// for a dozen records before it fails; the real records, read from
    /// just after the damaged value's true end, rejoin the chain after the
    /// damage only after as many items again. The swallowed records are the
    /// evidence: a chance reading from inside a good record either lands on
    /// the record grid before the failure, where the walk has been (and is
    /// no alternative), or jumps over the failure at once; it does not pass
    /// several records in a row that the walk never saw. The price, when a
    /// chance reading does: the good records from where it starts are left
    /// out with the damage, and reported.
    fn wide(at: usize) -> Follow {
        Follow {
            items: LOOK_BACK_WIDE_ITEMS,
            at,
            swallowed: LOOK_BACK_SWALLOWED,
        }
    }
}

/// Items a reading of the wide look back ([`Follow::wide`]) may take to
/// join the chain: the records a damaged length swallowed (a few hundred
/// small ones in 256 KiB), and the chain's own start.
const LOOK_BACK_WIDE_ITEMS: usize = 1024;

/// Item starts before the failure that a reading of the wide look back
/// ([`Follow::wide`]) must pass.
const LOOK_BACK_SWALLOWED: usize = 4;

/// The item starts a reading of [`misaligned_since`] joins, or must not
/// pass.
struct Ends<'x> {
    meet: &'x HashSet<usize>,
    dead: &'x HashSet<usize>,
}

/// The earliest of `window` (item starts, ascending, the last one ending at
/// `at`) with a reading from inside it that joins `ends.meet` as `follow`
/// says, and the latest join of those readings.
fn joins_from(
    data: &[u8],
    header: Header,
    db: u64,
    window: &[usize],
    at: usize,
    ends: &Ends<'_>,
    follow: Follow,
) -> Option<(usize, usize)> {
    let lo = at.saturating_sub(LOOK_BACK_BYTES);
    let mut found: Option<(usize, usize)> = None;
    for (i, &w) in window.iter().enumerate() {
        let end = window.get(i + 1).copied().unwrap_or(at);
        if end <= lo {
            continue;
        }
        for q in (w + 1).max(lo)..end {
            if let Walk::Merged(m) = walk_until(data, header, q, db, ends, follow) {
                let (from, joined) = found.unwrap_or((w, m));
                found = Some((from, joined.max(m)));
            }
        }
    }
    found
}

/// Aux fields [`misaligned_since`] may widen its window by.
const MAX_AUX_BACK: usize = 16;

/// The item starts of the chain from `resume` (a confirmed start).
fn chain_set(data: &[u8], header: Header, db: u64, resume: usize) -> Option<HashSet<usize>> {
    match walk_plain(data, header, resume, db) {
        Walk::Valid(chain) => Some(chain.into_iter().collect()),
        _ => None,
    }
}

/// Where reading resumes after the damaged record at `at` that the walk
/// read up to `error_at`, given the chain found from `resume` (at or after
/// `error_at`): the last point where a reading that starts inside the
/// damaged record's extent joins that chain, if later than `resume`.
///
/// The damaged length swallowed the records that follow it, and the
/// search for a record start begins only where the walk failed, so the
/// first chain found there can open inside the next real value (a module
/// value's bytes read as a small set). The real records, read from inside
/// the swallowed extent, join the chain only where it is back on the
/// record grid: the chain's items before that are as doubtful as the
/// damaged record, and are left out with it.
pub(crate) fn rejoined_after(
    data: &[u8],
    header: Header,
    db: u64,
    at: usize,
    error_at: usize,
    resume: usize,
) -> Option<usize> {
    let meet = chain_set(data, header, db, resume)?;
    let dead: HashSet<usize> = [at].into();
    let ends = Ends {
        meet: &meet,
        dead: &dead,
    };
    let follow = Follow {
        items: LOOK_BACK_ITEMS,
        at,
        swallowed: 0,
    };
    let lo = (at + 1).max(error_at.saturating_sub(LOOK_BACK_BYTES));
    (lo..error_at.min(resume))
        .filter_map(|q| match walk_until(data, header, q, db, &ends, follow) {
            Walk::Merged(m) if m > resume => Some(m),
            _ => None,
        })
        .max()
}

/// [`walk`] from a confirmed start, without the evidence rules.
fn walk_plain(data: &[u8], header: Header, p: usize, db: u64) -> Walk {
    let Ok(mut parser) = parser_at(data, header, p, db) else {
        return Walk::Invalid;
    };
    let mut starts = Vec::new();
    while starts.len() < CHAIN_ITEMS {
        starts.push(parser.offset() as usize);
        match parser.next_item() {
            Ok(Some(Item::Eof { .. })) | Ok(None) => return Walk::Valid(starts),
            Err(_) => break,
            Ok(Some(_)) => {}
        }
    }
    Walk::Valid(starts)
}

/// A walk from `q` that counts only if it reaches `ends.meet` within
/// `follow.items` items, without passing an item start in `ends.dead`,
/// without the empty keys that [`walk`] also refuses, and after passing
/// `follow.swallowed` item starts before `follow.at`.
fn walk_until(
    data: &[u8],
    header: Header,
    q: usize,
    db: u64,
    ends: &Ends<'_>,
    follow: Follow,
) -> Walk {
    if !opens_item(data[q], header) || data[q..].starts_with(&[0, 0, 0]) {
        return Walk::Invalid;
    }
    let Ok(mut parser) = parser_at(data, header, q, db) else {
        return Walk::Invalid;
    };
    let (mut keys, mut before) = (Keys::default(), 0);
    for _ in 0..follow.items {
        let at = parser.offset() as usize;
        if ends.meet.contains(&at) {
            return match before >= follow.swallowed {
                true => Walk::Merged(at),
                false => Walk::Invalid,
            };
        }
        if ends.dead.contains(&at) {
            return Walk::Invalid;
        }
        before += usize::from(at < follow.at);
        match parser.next_item() {
            Ok(Some(Item::Key(r))) if keys.doubtful(&r) => return Walk::Invalid,
            Ok(Some(Item::Eof { .. })) | Ok(None) | Err(_) => return Walk::Invalid,
            Ok(Some(_)) => {}
        }
    }
    Walk::Invalid
}

/// `p`, or the first item after the empty-key records and empty
/// collections ([`empty_collection`]) that open there.
///
/// Reading resumes on a record start that the evidence confirmed, but the
/// confirmation is of the chain, and a join point can fall on the two or
/// three small bytes of a damaged value that read as an empty key (rule 3
/// of the module doc), or the four that read as an empty list; such a
/// record is left in the damaged region.
pub(crate) fn past_empty_keys(data: &[u8], header: Header, db: u64, mut p: usize) -> usize {
    for _ in 0..CHAIN_ITEMS {
        let Ok(mut parser) = parser_at(data, header, p, db) else {
            break;
        };
        match parser.next_item() {
            Ok(Some(Item::Key(r))) if r.key.decoded_len() == 0 || empty_collection(&r) => {
                p = parser.offset() as usize
            }
            _ => break,
        }
    }
    p
}

/// A walk from `p` to the end of the file (the checksum is the engine's job).
fn parser_at(data: &[u8], header: Header, p: usize, db: u64) -> crate::error::Result<Parser<'_>> {
    let opts = ParseOptions {
        verify_checksum: false,
    };
    Parser::resume(data, header, p, data.len(), db, opts)
}

/// Cheap filter: whether byte `b` can open an item at all.
fn opens_item(b: u8, header: Header) -> bool {
    matches!(
        b,
        RDB_OPCODE_EOF
            | RDB_OPCODE_SELECTDB
            | RDB_OPCODE_RESIZEDB
            | RDB_OPCODE_AUX
            | RDB_OPCODE_EXPIRETIME_MS
            | RDB_OPCODE_EXPIRETIME
            | RDB_OPCODE_IDLE
            | RDB_OPCODE_FREQ
    ) || super::value::ValueType::from_byte(b, header.dialect).is_some()
}

/// The key of the record starting at `at`, if its opening (expiry, LRU/LFU
/// opcodes, type byte, key string) is readable: for reports of a damaged
/// record whose value could not be walked.
pub(crate) fn key_at(data: &[u8], header: Header, at: usize) -> Option<Vec<u8>> {
    let mut cur = Cursor::new(data.get(at..)?, at as u64);
    loop {
        match cur.u8("opcode").ok()? {
            RDB_OPCODE_EXPIRETIME_MS => {
                cur.i64_le("expiry").ok()?;
            }
            RDB_OPCODE_EXPIRETIME => {
                cur.u32_le("expiry").ok()?;
            }
            RDB_OPCODE_IDLE => {
                cur.length("idle").ok()?;
            }
            RDB_OPCODE_FREQ => {
                cur.u8("freq").ok()?;
            }
            t => {
                super::value::ValueType::from_byte(t, header.dialect)?;
                let key = cur.string("key").ok()?;
                // An LZF key is decompressed only if it is small.
                if key.decoded_len() > 1 << 20 {
                    return None;
                }
                return key.to_vec().ok();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RDB 9 file with `n` string keys `kNN` = `vNN`.
    fn file(n: usize) -> Vec<u8> {
        let mut f = b"REDIS0009".to_vec();
        f.extend_from_slice(&[0xFE, 0x00]);
        for i in 0..n {
            let k = format!("k{i:02}");
            let v = format!("v{i:02}");
            f.push(0);
            f.push(k.len() as u8);
            f.extend_from_slice(k.as_bytes());
            f.push(v.len() as u8);
            f.extend_from_slice(v.as_bytes());
        }
        f.push(0xFF);
        f.extend_from_slice(&[0; 8]);
        f
    }

    fn header(f: &[u8]) -> Header {
        Parser::new(f, ParseOptions::default()).unwrap().header()
    }

    #[test]
    fn finds_the_next_record_after_a_damaged_length() {
        let mut f = file(10);
        let h = header(&f);
        // Record 3 starts at 11 + 3*9 = 38; its key length byte is 39.
        let rec3 = 11 + 3 * 9;
        assert_eq!(key_at(&f, h, rec3).as_deref(), Some(&b"k03"[..]));
        f[rec3 + 1] = 0x3F; // key length 63: swallows the following records
        assert_eq!(resync(&f, h, rec3 + 1, 0), Some(rec3 + 9));
    }

    /// Four bytes `01 01 ff 00` (an empty list under key "\xff") are no
    /// evidence; a list with one element, a string, or an empty string are
    /// no empty collection.
    #[test]
    fn empty_collections_are_no_evidence() {
        let mut f = b"REDIS0009".to_vec();
        f.extend_from_slice(&[0xFE, 0x00]);
        let mut records: Vec<Vec<u8>> = vec![
            vec![1, 1, 0xFF, 0],          // list "\xff" = []
            vec![1, 1, b'l', 1, 1, b'a'], // list "l" = ["a"]
            vec![0, 1, b'e', 0],          // string "e" = ""
        ];
        records.extend((0..4u8).map(|i| vec![0, 1, b'0' + i, 1, b'v'])); // strings
        let mut starts = Vec::new();
        for r in &records {
            starts.push(f.len());
            f.extend_from_slice(r);
        }
        f.push(0xFF);
        f.extend_from_slice(&[0; 8]);
        let h = header(&f);
        let empty: Vec<bool> = starts
            .iter()
            .map(|&p| empty_collection_at(&f, h, p))
            .collect();
        assert_eq!(empty, [true, false, false, false, false, false, false]);
        // The chain from the empty list is refused; the next record starts
        // one, and reading resumes past the empty list.
        assert_eq!(resync(&f, h, starts[0], 0), Some(starts[1]));
        assert_eq!(past_empty_keys(&f, h, 0, starts[0]), starts[1]);
    }

    #[test]
    fn near_the_end_the_eof_decides() {
        let f = file(6);
        let h = header(&f);
        let (first, last, eof) = (11 + 2 * 9, 11 + 5 * 9, 11 + 6 * 9);
        // Four keys, then EOF with exactly its 8-byte trailer: accepted.
        assert_eq!(resync(&f, h, first, 0), Some(first));
        // One key before the EOF is too little to tell from a value's bytes
        // in a cut file: the resume is the EOF itself.
        assert_eq!(resync(&f, h, last, 0), Some(eof));
        // No plausible start in pure noise.
        let mut g = f[..11].to_vec();
        g.extend((0..2000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8 | 0x80));
        assert_eq!(resync(&g, h, 11, 0), None);
    }
}
