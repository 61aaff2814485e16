//! Stream values: RDB types 15 (`STREAM_LISTPACKS`), 19 (`STREAM_LISTPACKS_2`),
//! 21 (`STREAM_LISTPACKS_3`), Redis 8.6's 26 (`STREAM_LISTPACKS_4`) and
//! Redis 8.8's 27 (`STREAM_LISTPACKS_5`).
//!
//! Layout, as written by `rdbSaveObject` and read by `rdbLoadObject` in
//! Redis' `rdb.c` ("len" is an RDB length, "string" an RDB string that may be
//! integer-encoded or LZF-compressed, "ms-time" 8 bytes little endian as
//! `rdbSaveMillisecondTime` writes a signed `mstime_t`, "raw id" 16 bytes: the
//! stream ID as a 128-bit big-endian number, ms then seq):
//!
//! ```text
//! len        number of listpack nodes
//! per node:  string  master ID (must decode to a 16-byte raw id)
//!            string  listpack (see below; a server never writes an empty one)
//! len        length (live entries)
//! len len    last_id ms, seq                      (last generated ID)
//! [>= 19]    len len  first_id ms, seq            (recorded first entry ID)
//!            len len  max_deleted_id ms, seq
//!            len      entries_added
//! len        number of consumer groups; per group (in name order):
//!   string   name
//!   len len  last_delivered_id ms, seq
//!   [>= 19]  len  entries_read (SCG_INVALID_ENTRIES_READ = -1, written by
//!                 rdbSaveLen as 2^64-1, means "unknown")
//!   len      group PEL size; per entry (in ID order):
//!            raw id, ms-time delivery time, len delivery count
//!   len      number of consumers; per consumer (in name order):
//!            string name, ms-time seen time, [>= 21] ms-time active time,
//!            len consumer PEL size, then that many raw ids (each one must
//!            be in the group PEL: that is how a pending entry gets its owner)
//!   [27]     len      NACK zone size, then that many raw ids: the entries
//!                     XNACK gave back to the group (in the group PEL, owned
//!                     by no consumer; in the group's delivery-time order)
//! [>= 26]    IDMP block (idempotent producers, Redis 8.6):
//!            len      idmp_duration (seconds, IDMP-DURATION)
//!            len      idmp_max_entries (IDMP-MAXSIZE)
//!            len      number of producers; per producer (in pid order):
//!                     string pid, len number of entries, per entry
//!                     (oldest first): string iid, len ms, len seq
//!            len      iids_added
//!            len      iids_duplicates
//! ```
//!
//! The listpack of a node (`t_stream.c`, `streamAppendItem`) starts with the
//! master entry, then holds `count + deleted` entries, then ends:
//!
//! ```text
//! count | deleted | num-fields | field_1 ... field_N | 0
//! flags | ms-diff | seq-diff | num-fields | field_1 | value_1 ... | lp-count
//! flags | ms-diff | seq-diff | value_1 ... value_N | lp-count     (SAMEFIELDS)
//! ```
//!
//! `flags` bit 0 marks a deleted entry (skipped here), bit 1 (SAMEFIELDS)
//! says the entry has exactly the master entry's field names, which are then
//! omitted. The entry ID is the master ID plus the two diffs (wrapping
//! `uint64_t` arithmetic, as the server does). `lp-count` is the number of
//! listpack elements of the entry before it (from `flags` on): `N + 3` with
//! SAMEFIELDS, `2N + 4` without; it is checked, as Redis' deep sanitizer
//! (`streamValidateListpackIntegrity`) does, and so is the absence of
//! elements after the last entry.
//!
//! What the decoder checks beyond the byte layout, following what Redis'
//! loader refuses: the master ID is 16 bytes; no listpack is empty; a stream
//! with `length > 0` has at least one node; node master IDs are strictly
//! increasing (the server writes them in rax order; a duplicate is refused by
//! Redis, and an out-of-order one could not be streamed in ID order); group
//! names, consumer names, group PEL IDs and each consumer's PEL IDs are
//! unique; every consumer PEL ID is in the group PEL. Not checked (Redis'
//! loader does not either, or only under deep sanitization): that the live
//! entries add up to `length` (public files exist where they do not; the
//! server keeps the stored length), that entry IDs inside a node increase,
//! that every group PEL entry has an owner, the IDMP duration / max-entries
//! ranges.
//!
//! The NACK zone (type 27) follows `rdbSaveObject`/`rdbLoadObject` of Redis
//! `unstable` at e58041978 (after 8.8.0 GA): the loader refuses an ID that is
//! not in the group PEL or that a consumer owns, and so does this decoder; a
//! repeated ID is refused too (the server would unlink the entry twice).
//!
//! The IDMP layout was checked against the bytes of librdb's
//! `stream_v13_idmp.rdb` (written by Redis 8.6): the block is exactly the 69
//! bytes between the last consumer and the EOF opcode, and the two closing
//! counters are the ones Redis 8.6's loader reports as "Stream iids_added /
//! iids_duplicates loading failed".
//!
//! [`skip`] walks the same structure without looking into listpacks or
//! checking cross references; it only does what is needed to find the end.

use crate::error::{Error, Result};
use crate::rdb::cursor::Cursor;
use crate::rdb::elem::{self, Elem, RdbStr};
use crate::rdb::listpack;

/// A stream ID `ms-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    /// Decodes the 128-bit big-endian form used for node keys and PELs.
    #[inline]
    pub fn from_be_bytes(b: [u8; 16]) -> Self {
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        StreamId {
            ms: u64::from_be_bytes(ms),
            seq: u64::from_be_bytes(seq),
        }
    }

    /// The 128-bit big-endian form used for node keys and PELs.
    #[inline]
    pub fn to_be_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.ms.to_be_bytes());
        b[8..].copy_from_slice(&self.seq.to_be_bytes());
        b
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Which stream layout: RDB types 15, 19, 21 and Redis 8.6's 26. Each
/// version holds everything the previous one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StreamVersion {
    /// Type 15 (`RDB_TYPE_STREAM_LISTPACKS`, Redis 5.0 to 6.2, RDB 9).
    V1,
    /// Type 19 (`RDB_TYPE_STREAM_LISTPACKS_2`, Redis 7.0, RDB 10): adds
    /// first_id, max_deleted_id, entries_added and groups' entries_read.
    V2,
    /// Type 21 (`RDB_TYPE_STREAM_LISTPACKS_3`, Redis 7.2+, Valkey): adds
    /// consumers' active time.
    V3,
    /// Type 26 (`RDB_TYPE_STREAM_LISTPACKS_4`, Redis 8.6, RDB 13): type 21
    /// followed by the IDMP block.
    V4,
    /// Type 27 (`RDB_TYPE_STREAM_LISTPACKS_5`, Redis 8.8, RDB 14): type 26
    /// with each group's NACK zone after its consumers.
    V5,
}

impl StreamVersion {
    /// The layout of a stream type byte (26 is Redis-dialect only; the
    /// caller picks the table by magic).
    pub fn from_type_byte(t: u8) -> Option<Self> {
        match t {
            15 => Some(StreamVersion::V1),
            19 => Some(StreamVersion::V2),
            21 => Some(StreamVersion::V3),
            26 => Some(StreamVersion::V4),
            27 => Some(StreamVersion::V5),
            _ => None,
        }
    }

    /// The RDB type byte of this layout.
    pub fn type_byte(self) -> u8 {
        match self {
            StreamVersion::V1 => 15,
            StreamVersion::V2 => 19,
            StreamVersion::V3 => 21,
            StreamVersion::V4 => 26,
            StreamVersion::V5 => 27,
        }
    }

    #[inline]
    fn has_v2_meta(self) -> bool {
        self >= StreamVersion::V2
    }

    #[inline]
    fn has_active_time(self) -> bool {
        self >= StreamVersion::V3
    }

    #[inline]
    fn has_idmp(self) -> bool {
        self >= StreamVersion::V4
    }

    /// Does this layout store each group's NACK zone (XNACK)?
    #[inline]
    pub fn has_nacks(self) -> bool {
        self >= StreamVersion::V5
    }
}

/// One entry of a group's pending entries list (a `streamNACK`).
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEntry {
    pub id: StreamId,
    /// Last delivery time in Unix ms, as stored: the server's signed
    /// `mstime_t` in 8 little-endian bytes (cast to `i64` to see it signed).
    pub delivery_time_ms: u64,
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    pub name: Vec<u8>,
    /// Last time the consumer was seen (Unix ms, stored as a signed
    /// `mstime_t`; cast to `i64` to see it signed).
    pub seen_time_ms: u64,
    /// Last time the consumer was active (type 21+; `None` for older types,
    /// which do not store it). Same signed storage as `seen_time_ms`: a
    /// consumer that was never active (created with XGROUP CREATECONSUMER)
    /// holds -1, which reads as `u64::MAX` here.
    pub active_time_ms: Option<u64>,
    /// The IDs this consumer owns, as stored (ID order); each is in the
    /// group's `pending`.
    pub pending: Vec<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: Vec<u8>,
    pub last_delivered_id: StreamId,
    /// The group's logical read counter (type 19+). `None` when the type does
    /// not store it (15) or when the file holds the "unknown" sentinel
    /// (`SCG_INVALID_ENTRIES_READ`, -1, stored as the length 2^64-1); any
    /// other stored length is kept as the server's `long long` would see it.
    pub entries_read: Option<i64>,
    /// The group PEL, as stored (ID order).
    pub pending: Vec<PendingEntry>,
    pub consumers: Vec<Consumer>,
    /// The NACK zone (type 27+; `None` for older types): pending entries
    /// that XNACK released, owned by no consumer, as stored.
    pub nacked: Option<Vec<StreamId>>,
}

/// Redis 8.6 (type 26) idempotent-producer block (IDMP, `XADD ... IDMP`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Idmp {
    /// `idmp_duration`: how long an IID is remembered, in seconds
    /// (IDMP-DURATION of XCFGSET).
    pub duration: u64,
    /// `idmp_max_entries`: how many IIDs are remembered per producer
    /// (IDMP-MAXSIZE of XCFGSET).
    pub max_entries: u64,
    /// The producers, in the stored order (by producer ID).
    pub producers: Vec<IdmpProducer>,
    /// The two all-time counters that close the block, in file order:
    /// `[iids_added, iids_duplicates]` (see [`Idmp::iids_added`] and
    /// [`Idmp::iids_duplicates`]).
    pub counters: [u64; 2],
}

impl Idmp {
    /// All-time count of entries added with an IID (`iids_added`).
    pub fn iids_added(&self) -> u64 {
        self.counters[0]
    }

    /// All-time count of duplicate IIDs detected (`iids_duplicates`).
    pub fn iids_duplicates(&self) -> u64 {
        self.counters[1]
    }
}

/// One idempotent producer: its ID (`pid`) and the remembered
/// `(iid, stream ID)` pairs, oldest first.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct IdmpProducer {
    pub id: Vec<u8>,
    pub entries: Vec<(Vec<u8>, StreamId)>,
}

/// Everything about a stream except its entries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamMeta {
    /// Number of live entries, as stored.
    pub length: u64,
    /// Last generated ID.
    pub last_id: StreamId,
    /// Recorded first entry ID (type 19+).
    pub first_id: Option<StreamId>,
    /// Maximal deleted entry ID (type 19+).
    pub max_deleted_id: Option<StreamId>,
    /// All-time count of added entries (type 19+).
    pub entries_added: Option<u64>,
    pub groups: Vec<Group>,
    /// The IDMP block (type 26 only).
    pub idmp: Option<Idmp>,
}

/// Receives stream entries in ID order.
pub trait StreamVisitor {
    fn entry(&mut self, id: StreamId, fields: &[(Elem<'_>, Elem<'_>)]) -> Result<()>;
}

/// `STREAM_ITEM_FLAG_DELETED`.
const FLAG_DELETED: i64 = 1 << 0;
/// `STREAM_ITEM_FLAG_SAMEFIELDS`.
const FLAG_SAMEFIELDS: i64 = 1 << 1;
/// `SCG_INVALID_ENTRIES_READ` (-1) as `rdbSaveLen` writes it.
const ENTRIES_READ_UNKNOWN: u64 = u64::MAX;

/// Smallest possible encoding of one node: the master ID string decodes to
/// 16 bytes, so it takes at least 4 (LZF marker, two lengths, one byte of
/// data), and so does the (non-empty) listpack string.
const MIN_NODE_BYTES: u64 = 8;
/// Raw id + delivery time + one-byte delivery count.
const MIN_PEL_ENTRY_BYTES: u64 = 16 + 8 + 1;
/// A raw id.
const RAW_ID_BYTES: u64 = 16;

fn min_group_bytes(v: StreamVersion) -> u64 {
    // name, last id ms + seq, [entries_read], PEL size, consumer count
    if v.has_v2_meta() {
        6
    } else {
        5
    }
}

fn min_consumer_bytes(v: StreamVersion) -> u64 {
    // name, seen time, [active time], PEL size
    if v.has_active_time() {
        1 + 8 + 8 + 1
    } else {
        1 + 8 + 1
    }
}

/// Buffers reused across the nodes of one stream.
#[derive(Default)]
struct NodeBuffers {
    /// Decompressed listpack of an LZF-compressed node.
    lzf: Vec<u8>,
    /// Decoded master ID when it is not stored raw.
    id: Vec<u8>,
    /// Always empty between nodes; only its allocation is kept.
    master_fields: Vec<Elem<'static>>,
    /// Always empty between nodes; only its allocation is kept.
    fields: Vec<(Elem<'static>, Elem<'static>)>,
}

/// Re-types an emptied vector so that its allocation can hold elements that
/// borrow from another buffer. `collect` reuses the allocation in place when
/// the layouts match (they do: only lifetimes differ); if it ever did not,
/// this would merely allocate.
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// Decodes a stream value starting at the cursor (just after the type byte),
/// calling `visitor.entry` for every live entry in file (= ID) order, and
/// leaves the cursor just after the value.
pub fn decode<V: StreamVisitor>(
    cur: &mut Cursor<'_>,
    version: StreamVersion,
    visitor: &mut V,
) -> Result<StreamMeta> {
    let nodes_at = cur.offset();
    let nodes = cur.count("stream listpack node count", MIN_NODE_BYTES)?;
    let mut bufs = NodeBuffers::default();
    let mut prev: Option<StreamId> = None;
    for _ in 0..nodes {
        let at = cur.offset();
        let master = read_master_id(cur, &mut bufs.id)?;
        if let Some(p) = prev {
            if master <= p {
                return Err(Error::invalid(
                    at,
                    "stream node master ID",
                    format!("{master} does not follow the previous node's {p}"),
                ));
            }
        }
        prev = Some(master);
        decode_node(cur, master, &mut bufs, visitor)?;
    }

    let length = cur.length("stream length")?;
    let last_id = read_len_id(cur, "stream last ID")?;
    let (first_id, max_deleted_id, entries_added) = if version.has_v2_meta() {
        let first = read_len_id(cur, "stream first ID")?;
        let max_deleted = read_len_id(cur, "stream max deleted ID")?;
        let added = cur.length("stream entries added")?;
        (Some(first), Some(max_deleted), Some(added))
    } else {
        (None, None, None)
    };
    if length > 0 && nodes == 0 {
        return Err(Error::invalid(
            nodes_at,
            "stream listpack node count",
            format!("no nodes for a stream of length {length}"),
        ));
    }

    let groups = read_groups(cur, version)?;
    let idmp = if version.has_idmp() {
        Some(read_idmp(cur)?)
    } else {
        None
    };
    Ok(StreamMeta {
        length,
        last_id,
        first_id,
        max_deleted_id,
        entries_added,
        groups,
        idmp,
    })
}

/// Skips a stream value, leaving the cursor just after it. Listpacks are
/// skipped as opaque strings.
pub fn skip(cur: &mut Cursor<'_>, version: StreamVersion) -> Result<()> {
    let nodes = cur.count("stream listpack node count", MIN_NODE_BYTES)?;
    for _ in 0..nodes {
        let at = cur.offset();
        if let RdbStr::Raw(b) = cur.string("stream node master ID")? {
            if b.len() != 16 {
                return Err(master_id_len_error(at, b.len()));
            }
        }
        cur.skip_string("stream node listpack")?;
    }
    cur.length("stream length")?;
    let meta_lens = if version.has_v2_meta() { 7 } else { 2 };
    for _ in 0..meta_lens {
        cur.length("stream metadata")?;
    }

    let groups = cur.count("stream consumer group count", min_group_bytes(version))?;
    for _ in 0..groups {
        cur.skip_string("stream consumer group name")?;
        cur.length("stream group last delivered ID ms")?;
        cur.length("stream group last delivered ID seq")?;
        if version.has_v2_meta() {
            cur.length("stream group entries_read")?;
        }
        let pel = cur.count("stream group PEL size", MIN_PEL_ENTRY_BYTES)?;
        for _ in 0..pel {
            cur.skip(RAW_ID_BYTES + 8, "stream group PEL entry")?;
            cur.length("stream PEL delivery count")?;
        }
        let consumers = cur.count("stream consumer count", min_consumer_bytes(version))?;
        let times = if version.has_active_time() { 16 } else { 8 };
        for _ in 0..consumers {
            cur.skip_string("stream consumer name")?;
            cur.skip(times, "stream consumer times")?;
            let n = cur.count("stream consumer PEL size", RAW_ID_BYTES)?;
            // `count` guarantees n * 16 <= remaining, so this cannot overflow.
            cur.skip(n * RAW_ID_BYTES, "stream consumer PEL")?;
        }
        if version.has_nacks() {
            let n = cur.count("stream group NACK zone size", RAW_ID_BYTES)?;
            cur.skip(n * RAW_ID_BYTES, "stream group NACK zone")?;
        }
    }

    if version.has_idmp() {
        cur.length("stream IDMP duration")?;
        cur.length("stream IDMP max entries")?;
        let producers = cur.count("stream IDMP producer count", 2)?;
        for _ in 0..producers {
            cur.skip_string("stream IDMP producer ID")?;
            let n = cur.count("stream IDMP producer entry count", 3)?;
            for _ in 0..n {
                cur.skip_string("stream IDMP entry IID")?;
                cur.length("stream IDMP entry ID ms")?;
                cur.length("stream IDMP entry ID seq")?;
            }
        }
        cur.length("stream IDMP iids_added")?;
        cur.length("stream IDMP iids_duplicates")?;
    }
    Ok(())
}

fn master_id_len_error(at: u64, len: usize) -> Error {
    Error::invalid(
        at,
        "stream node master ID",
        format!("expected a 16-byte stream ID, found {len} bytes"),
    )
}

/// Reads a node's master ID: an RDB string holding a 16-byte raw id.
fn read_master_id(cur: &mut Cursor<'_>, scratch: &mut Vec<u8>) -> Result<StreamId> {
    let at = cur.offset();
    let s = cur.string("stream node master ID")?;
    let b = s.bytes(scratch)?;
    let raw: [u8; 16] = b.try_into().map_err(|_| master_id_len_error(at, b.len()))?;
    Ok(StreamId::from_be_bytes(raw))
}

/// Reads a raw 16-byte big-endian ID (PEL entries).
fn read_raw_id(cur: &mut Cursor<'_>, what: &'static str) -> Result<StreamId> {
    let b = cur.take(RAW_ID_BYTES, what)?;
    let mut raw = [0u8; 16];
    raw.copy_from_slice(b);
    Ok(StreamId::from_be_bytes(raw))
}

/// Reads an ID stored as two RDB lengths, ms then seq.
fn read_len_id(cur: &mut Cursor<'_>, what: &'static str) -> Result<StreamId> {
    let ms = cur.length(what)?;
    let seq = cur.length(what)?;
    Ok(StreamId { ms, seq })
}

/// Reads an RDB string into an owned vector (names, IIDs).
fn read_owned(cur: &mut Cursor<'_>, what: &'static str) -> Result<Vec<u8>> {
    match cur.string(what)? {
        RdbStr::Raw(b) => Ok(b.to_vec()),
        s => {
            // Integers are formatted and LZF is decompressed into `v`.
            let mut v = Vec::new();
            s.bytes(&mut v)?;
            Ok(v)
        }
    }
}

/// Reads one node's listpack string and reports its live entries.
fn decode_node<V: StreamVisitor>(
    cur: &mut Cursor<'_>,
    master: StreamId,
    bufs: &mut NodeBuffers,
    visitor: &mut V,
) -> Result<()> {
    let at = cur.offset();
    let (data, base, compressed): (&[u8], u64, Option<u64>) =
        match cur.string("stream node listpack")? {
            RdbStr::Raw(b) => (b, cur.offset() - b.len() as u64, None),
            // Decompressed bytes have no file offsets: walk them from 0 and
            // re-anchor any error at the compressed data.
            RdbStr::Lzf { data, len, offset } => {
                elem::decompress(data, len, offset, &mut bufs.lzf)?;
                (&bufs.lzf[..], 0, Some(offset))
            }
            RdbStr::Int(_) => {
                return Err(Error::invalid(
                    at,
                    "stream node listpack",
                    "found an integer-encoded string, not a listpack",
                ))
            }
        };
    let mut master_fields = recycle(std::mem::take(&mut bufs.master_fields));
    let mut fields = recycle(std::mem::take(&mut bufs.fields));
    let r = walk_node(
        data,
        base,
        at,
        master,
        &mut master_fields,
        &mut fields,
        visitor,
    );
    bufs.master_fields = recycle(master_fields);
    bufs.fields = recycle(fields);
    match compressed {
        Some(at) => r.map_err(|e| crate::rdb::elem::in_compressed(e, at, "stream node listpack")),
        None => r,
    }
}

fn int_elem(e: Elem<'_>, at: u64, what: &'static str) -> Result<i64> {
    e.as_i64()
        .ok_or_else(|| Error::invalid(at, what, "expected an integer listpack element"))
}

fn non_negative(n: i64, at: u64, what: &'static str) -> Result<i64> {
    if n < 0 {
        Err(Error::invalid(at, what, format!("negative count {n}")))
    } else {
        Ok(n)
    }
}

/// Walks the entries of one node's listpack (see the module docs).
fn walk_node<'l, V: StreamVisitor>(
    data: &'l [u8],
    base: u64,
    string_at: u64,
    master: StreamId,
    master_fields: &mut Vec<Elem<'l>>,
    fields: &mut Vec<(Elem<'l>, Elem<'l>)>,
    visitor: &mut V,
) -> Result<()> {
    let lp = listpack::parse(data, base)?;
    let mut it = lp.iter();

    // The next element, or an error naming what was expected there.
    macro_rules! next_elem {
        ($what:expr) => {{
            let at = it.offset();
            match it.next() {
                Some(r) => (r?, at),
                None => {
                    return Err(Error::invalid(
                        at,
                        $what,
                        "the stream listpack ends where this element should be",
                    ))
                }
            }
        }};
    }
    macro_rules! next_int {
        ($what:expr) => {{
            let (e, at) = next_elem!($what);
            (int_elem(e, at, $what)?, at)
        }};
    }

    // Master entry.
    let at = it.offset();
    let live = match it.next() {
        None => {
            return Err(Error::invalid(
                string_at,
                "stream node listpack",
                "empty listpack inside a stream",
            ))
        }
        Some(r) => int_elem(r?, at, "stream node entry count")?,
    };
    let live = non_negative(live, at, "stream node entry count")?;
    let (deleted, at) = next_int!("stream node deleted entry count");
    let deleted = non_negative(deleted, at, "stream node deleted entry count")?;
    let (nfields, at) = next_int!("stream master entry field count");
    let nfields = non_negative(nfields, at, "stream master entry field count")?;
    master_fields.clear();
    // Each step consumes an element or fails, so a hostile count cannot
    // drive this loop (or the vector) past the listpack's real size.
    for _ in 0..nfields {
        let (f, _) = next_elem!("stream master entry field");
        master_fields.push(f);
    }
    let (zero, at) = next_int!("stream master entry terminator");
    if zero != 0 {
        return Err(Error::invalid(
            at,
            "stream master entry terminator",
            format!("expected 0, found {zero}"),
        ));
    }

    let total = live
        .checked_add(deleted)
        .ok_or_else(|| Error::invalid(base, "stream node entry count", "entry counts overflow"))?;
    for _ in 0..total {
        let (flags, _) = next_int!("stream listpack entry flags");
        let (ms_diff, _) = next_int!("stream listpack entry ID ms delta");
        let (seq_diff, _) = next_int!("stream listpack entry ID seq delta");
        let id = StreamId {
            ms: master.ms.wrapping_add(ms_diff as u64),
            seq: master.seq.wrapping_add(seq_diff as u64),
        };
        fields.clear();
        let expected_lp_count = if flags & FLAG_SAMEFIELDS != 0 {
            for &f in master_fields.iter() {
                let (v, _) = next_elem!("stream listpack entry value");
                fields.push((f, v));
            }
            (master_fields.len() as i64).saturating_add(3)
        } else {
            let (n, at) = next_int!("stream listpack entry field count");
            let n = non_negative(n, at, "stream listpack entry field count")?;
            for _ in 0..n {
                let (f, _) = next_elem!("stream listpack entry field");
                let (v, _) = next_elem!("stream listpack entry value");
                fields.push((f, v));
            }
            n.saturating_mul(2).saturating_add(4)
        };
        let (lp_count, at) = next_int!("stream listpack entry lp-count");
        if lp_count != expected_lp_count {
            return Err(Error::invalid(
                at,
                "stream listpack entry lp-count",
                format!("expected {expected_lp_count}, found {lp_count}"),
            ));
        }
        if flags & FLAG_DELETED == 0 {
            visitor.entry(id, fields)?;
        }
    }

    let at = it.offset();
    if let Some(r) = it.next() {
        r?;
        return Err(Error::invalid(
            at,
            "stream node listpack",
            format!("elements follow the last of the node's {total} entries"),
        ));
    }
    Ok(())
}

fn read_groups(cur: &mut Cursor<'_>, version: StreamVersion) -> Result<Vec<Group>> {
    let count_at = cur.offset();
    let n = cur.count("stream consumer group count", min_group_bytes(version))?;
    let mut groups: Vec<Group> = Vec::with_capacity(n.min(64) as usize);
    let mut sorted = true;
    for _ in 0..n {
        let at = cur.offset();
        let g = read_group(cur, version)?;
        if let Some(prev) = groups.last() {
            if g.name == prev.name {
                return Err(duplicate_name(at, "stream consumer group name", &g.name));
            }
            sorted &= g.name > prev.name;
        }
        groups.push(g);
    }
    if !sorted {
        let mut names: Vec<&[u8]> = groups.iter().map(|g| &g.name[..]).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(duplicate_name(count_at, "stream consumer group name", w[0]));
        }
    }
    Ok(groups)
}

fn duplicate_name(at: u64, what: &'static str, name: &[u8]) -> Error {
    Error::invalid(
        at,
        what,
        format!("duplicate name \"{}\"", name.escape_ascii()),
    )
}

/// Returns the first ID that occurs twice in `ids` (which need not be
/// sorted).
fn first_duplicate(ids: impl Iterator<Item = StreamId>) -> Option<StreamId> {
    let mut v: Vec<StreamId> = ids.collect();
    v.sort_unstable();
    v.windows(2).find(|w| w[0] == w[1]).map(|w| w[0])
}

fn read_group(cur: &mut Cursor<'_>, version: StreamVersion) -> Result<Group> {
    let name = read_owned(cur, "stream consumer group name")?;
    let last_delivered_id = read_len_id(cur, "stream group last delivered ID")?;
    let entries_read = if version.has_v2_meta() {
        match cur.length("stream group entries_read")? {
            ENTRIES_READ_UNKNOWN => None,
            n => Some(n as i64),
        }
    } else {
        None
    };

    // Group PEL, normally in ID order; a duplicate is refused like Redis
    // does ("Duplicated global PEL entry").
    let pel_at = cur.offset();
    let n = cur.count("stream group PEL size", MIN_PEL_ENTRY_BYTES)?;
    // `count` bounds n by the remaining bytes / 25, so this allocation is
    // proportional to the input.
    let mut pending: Vec<PendingEntry> = Vec::with_capacity(n as usize);
    let mut sorted = true;
    for _ in 0..n {
        let at = cur.offset();
        let id = read_raw_id(cur, "stream group PEL ID")?;
        let delivery_time_ms = cur.u64_le("stream PEL delivery time")?;
        let delivery_count = cur.length("stream PEL delivery count")?;
        if let Some(prev) = pending.last() {
            if id == prev.id {
                return Err(duplicate_id(at, "stream group PEL ID", id));
            }
            sorted &= id > prev.id;
        }
        pending.push(PendingEntry {
            id,
            delivery_time_ms,
            delivery_count,
        });
    }
    let sorted_ids: Option<Vec<StreamId>> = if sorted {
        None
    } else {
        if let Some(id) = first_duplicate(pending.iter().map(|p| p.id)) {
            return Err(duplicate_id(pel_at, "stream group PEL ID", id));
        }
        let mut v: Vec<StreamId> = pending.iter().map(|p| p.id).collect();
        v.sort_unstable();
        Some(v)
    };
    let in_pel = |id: StreamId| match &sorted_ids {
        None => pending.binary_search_by(|p| p.id.cmp(&id)).is_ok(),
        Some(v) => v.binary_search(&id).is_ok(),
    };

    let consumers_at = cur.offset();
    let n = cur.count("stream consumer count", min_consumer_bytes(version))?;
    let mut consumers: Vec<Consumer> = Vec::with_capacity(n.min(1024) as usize);
    let mut names_sorted = true;
    for _ in 0..n {
        let at = cur.offset();
        let name = read_owned(cur, "stream consumer name")?;
        if let Some(prev) = consumers.last() {
            if name == prev.name {
                return Err(duplicate_name(at, "stream consumer name", &name));
            }
            names_sorted &= name > prev.name;
        }
        let seen_time_ms = cur.u64_le("stream consumer seen time")?;
        let active_time_ms = if version.has_active_time() {
            Some(cur.u64_le("stream consumer active time")?)
        } else {
            None
        };
        let cpel_at = cur.offset();
        let m = cur.count("stream consumer PEL size", RAW_ID_BYTES)?;
        let mut ids: Vec<StreamId> = Vec::with_capacity(m as usize);
        let mut ids_sorted = true;
        for _ in 0..m {
            let at = cur.offset();
            let id = read_raw_id(cur, "stream consumer PEL ID")?;
            if !in_pel(id) {
                return Err(Error::invalid(
                    at,
                    "stream consumer PEL ID",
                    format!("consumer PEL id {id} not in group PEL"),
                ));
            }
            if let Some(&prev) = ids.last() {
                if id == prev {
                    return Err(duplicate_id(at, "stream consumer PEL ID", id));
                }
                ids_sorted &= id > prev;
            }
            ids.push(id);
        }
        if !ids_sorted {
            if let Some(id) = first_duplicate(ids.iter().copied()) {
                return Err(duplicate_id(cpel_at, "stream consumer PEL ID", id));
            }
        }
        consumers.push(Consumer {
            name,
            seen_time_ms,
            active_time_ms,
            pending: ids,
        });
    }
    if !names_sorted {
        let mut names: Vec<&[u8]> = consumers.iter().map(|c| &c.name[..]).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(duplicate_name(consumers_at, "stream consumer name", w[0]));
        }
    }

    let nacked = if version.has_nacks() {
        Some(read_nacked(cur, &consumers, in_pel)?)
    } else {
        None
    };

    Ok(Group {
        name,
        last_delivered_id,
        entries_read,
        pending,
        consumers,
        nacked,
    })
}

/// Reads a group's NACK zone (type 27): each ID must be a group PEL entry
/// that no consumer owns (`rdbLoadObject`: "Stream NACK zone entry not found
/// in group global PEL" / "... has a consumer assigned"), and appear once.
fn read_nacked(
    cur: &mut Cursor<'_>,
    consumers: &[Consumer],
    in_pel: impl Fn(StreamId) -> bool,
) -> Result<Vec<StreamId>> {
    let n = cur.count("stream group NACK zone size", RAW_ID_BYTES)?;
    if n == 0 {
        return Ok(Vec::new());
    }
    let owned: std::collections::HashSet<StreamId> = consumers
        .iter()
        .flat_map(|c| c.pending.iter().copied())
        .collect();
    let mut seen = std::collections::HashSet::with_capacity(n as usize);
    let mut ids = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let at = cur.offset();
        let id = read_raw_id(cur, "stream NACK zone ID")?;
        let problem = if !in_pel(id) {
            "is not in the group PEL"
        } else if owned.contains(&id) {
            "is owned by a consumer"
        } else if !seen.insert(id) {
            "appears twice"
        } else {
            ids.push(id);
            continue;
        };
        return Err(Error::invalid(
            at,
            "stream NACK zone ID",
            format!("NACKed id {id} {problem}"),
        ));
    }
    Ok(ids)
}

fn duplicate_id(at: u64, what: &'static str, id: StreamId) -> Error {
    Error::invalid(at, what, format!("duplicate ID {id}"))
}

fn read_idmp(cur: &mut Cursor<'_>) -> Result<Idmp> {
    let duration = cur.length("stream IDMP duration")?;
    let max_entries = cur.length("stream IDMP max entries")?;
    // pid (>= 1 byte) + entry count (>= 1 byte)
    let n = cur.count("stream IDMP producer count", 2)?;
    let mut producers = Vec::with_capacity(n.min(1024) as usize);
    for _ in 0..n {
        let id = read_owned(cur, "stream IDMP producer ID")?;
        // iid (>= 1 byte) + ms (>= 1) + seq (>= 1)
        let m = cur.count("stream IDMP producer entry count", 3)?;
        let mut entries = Vec::with_capacity(m.min(1024) as usize);
        for _ in 0..m {
            let iid = read_owned(cur, "stream IDMP entry IID")?;
            let sid = read_len_id(cur, "stream IDMP entry ID")?;
            entries.push((iid, sid));
        }
        producers.push(IdmpProducer { id, entries });
    }
    let iids_added = cur.length("stream IDMP iids_added")?;
    let iids_duplicates = cur.length("stream IDMP iids_duplicates")?;
    Ok(Idmp {
        duration,
        max_entries,
        producers,
        counters: [iids_added, iids_duplicates],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // ---- builders -------------------------------------------------------

    use crate::rdb::testutil::rlen as put_len;

    fn put_str(out: &mut Vec<u8>, s: &[u8]) {
        put_len(out, s.len() as u64);
        out.extend_from_slice(s);
    }

    /// An RDB string holding `s` as literal-only LZF (valid LZF: every
    /// control byte < 32 is a run of that many + 1 literal bytes).
    fn put_lzf(out: &mut Vec<u8>, s: &[u8]) {
        let mut c = Vec::new();
        for chunk in s.chunks(32) {
            c.push(chunk.len() as u8 - 1);
            c.extend_from_slice(chunk);
        }
        out.push(0xc3);
        put_len(out, c.len() as u64);
        put_len(out, s.len() as u64);
        out.extend_from_slice(&c);
    }

    #[derive(Clone, Copy)]
    enum Lp<'a> {
        I(i64),
        S(&'a [u8]),
    }

    fn lp_backlen(l: usize) -> Vec<u8> {
        let l = l as u64;
        if l <= 127 {
            vec![l as u8]
        } else if l < 16383 {
            vec![(l >> 7) as u8, (l & 127) as u8 | 128]
        } else {
            vec![
                (l >> 14) as u8,
                ((l >> 7) & 127) as u8 | 128,
                (l & 127) as u8 | 128,
            ]
        }
    }

    /// Encodes a listpack as `listpack.c` does.
    fn listpack(items: &[Lp<'_>]) -> Vec<u8> {
        let mut body = Vec::new();
        for it in items {
            let mut e = Vec::new();
            match *it {
                Lp::I(v) if (0..=127).contains(&v) => e.push(v as u8),
                Lp::I(v) if (-4096..=4095).contains(&v) => {
                    let u = (v as u16) & 0x1fff;
                    e.push(0xc0 | (u >> 8) as u8);
                    e.push(u as u8);
                }
                Lp::I(v) if (-32768..=32767).contains(&v) => {
                    e.push(0xf1);
                    e.extend_from_slice(&(v as i16).to_le_bytes());
                }
                Lp::I(v) if (-(1 << 23)..(1 << 23)).contains(&v) => {
                    e.push(0xf2);
                    e.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
                }
                Lp::I(v) if (i32::MIN as i64..=i32::MAX as i64).contains(&v) => {
                    e.push(0xf3);
                    e.extend_from_slice(&(v as i32).to_le_bytes());
                }
                Lp::I(v) => {
                    e.push(0xf4);
                    e.extend_from_slice(&v.to_le_bytes());
                }
                Lp::S(s) if s.len() < 64 => {
                    e.push(0x80 | s.len() as u8);
                    e.extend_from_slice(s);
                }
                Lp::S(s) if s.len() < 4096 => {
                    e.push(0xe0 | (s.len() >> 8) as u8);
                    e.push(s.len() as u8);
                    e.extend_from_slice(s);
                }
                Lp::S(s) => {
                    e.push(0xf0);
                    e.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    e.extend_from_slice(s);
                }
            }
            let bl = lp_backlen(e.len());
            body.extend_from_slice(&e);
            body.extend_from_slice(&bl);
        }
        let total = 6 + body.len() + 1;
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&(items.len().min(65535) as u16).to_le_bytes());
        out.extend_from_slice(&body);
        out.push(0xff);
        out
    }

    fn sid(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    /// One entry to put into a test node.
    struct E<'a> {
        id: StreamId,
        fields: Vec<(&'a str, &'a str)>,
        deleted: bool,
    }

    fn e<'a>(id: StreamId, fields: &[(&'a str, &'a str)]) -> E<'a> {
        E {
            id,
            fields: fields.to_vec(),
            deleted: false,
        }
    }

    fn del<'a>(id: StreamId, fields: &[(&'a str, &'a str)]) -> E<'a> {
        E {
            id,
            fields: fields.to_vec(),
            deleted: true,
        }
    }

    /// The listpack of one node, laid out like `streamAppendItem` (values
    /// that look like integers are stored as integers, like `lpAppend`
    /// does with `lpStringToInt64`).
    fn node_lp(master: StreamId, master_fields: &[&str], entries: &[E<'_>]) -> Vec<u8> {
        fn val(s: &str) -> Lp<'_> {
            match s.parse::<i64>() {
                Ok(v) if v.to_string() == s => Lp::I(v),
                _ => Lp::S(s.as_bytes()),
            }
        }
        let live = entries.iter().filter(|e| !e.deleted).count() as i64;
        let deleted = entries.len() as i64 - live;
        let mut items = vec![
            Lp::I(live),
            Lp::I(deleted),
            Lp::I(master_fields.len() as i64),
        ];
        items.extend(master_fields.iter().map(|f| Lp::S(f.as_bytes())));
        items.push(Lp::I(0));
        for en in entries {
            let same = en.fields.len() == master_fields.len()
                && en
                    .fields
                    .iter()
                    .zip(master_fields)
                    .all(|((f, _), m)| f == m);
            let mut flags = 0;
            if same {
                flags |= FLAG_SAMEFIELDS;
            }
            if en.deleted {
                flags |= FLAG_DELETED;
            }
            items.push(Lp::I(flags));
            items.push(Lp::I(en.id.ms.wrapping_sub(master.ms) as i64));
            items.push(Lp::I(en.id.seq.wrapping_sub(master.seq) as i64));
            let n = en.fields.len() as i64;
            if !same {
                items.push(Lp::I(n));
            }
            for (f, v) in &en.fields {
                if !same {
                    items.push(Lp::S(f.as_bytes()));
                }
                items.push(val(v));
            }
            items.push(Lp::I(if same { n + 3 } else { 2 * n + 4 }));
        }
        listpack(&items)
    }

    /// A node as stored: master ID string + listpack string.
    fn put_node(out: &mut Vec<u8>, master: StreamId, lp: &[u8], lzf: bool) {
        put_str(out, &master.to_be_bytes());
        if lzf {
            put_lzf(out, lp);
        } else {
            put_str(out, lp);
        }
    }

    /// Everything after the nodes, from a `StreamMeta`.
    fn put_meta(out: &mut Vec<u8>, v: StreamVersion, m: &StreamMeta) {
        put_len(out, m.length);
        put_len(out, m.last_id.ms);
        put_len(out, m.last_id.seq);
        if v.has_v2_meta() {
            let f = m.first_id.unwrap();
            let d = m.max_deleted_id.unwrap();
            for n in [f.ms, f.seq, d.ms, d.seq, m.entries_added.unwrap()] {
                put_len(out, n);
            }
        }
        put_len(out, m.groups.len() as u64);
        for g in &m.groups {
            put_str(out, &g.name);
            put_len(out, g.last_delivered_id.ms);
            put_len(out, g.last_delivered_id.seq);
            if v.has_v2_meta() {
                put_len(out, g.entries_read.map_or(u64::MAX, |n| n as u64));
            }
            put_len(out, g.pending.len() as u64);
            for p in &g.pending {
                out.extend_from_slice(&p.id.to_be_bytes());
                out.extend_from_slice(&p.delivery_time_ms.to_le_bytes());
                put_len(out, p.delivery_count);
            }
            put_len(out, g.consumers.len() as u64);
            for c in &g.consumers {
                put_str(out, &c.name);
                out.extend_from_slice(&c.seen_time_ms.to_le_bytes());
                if v.has_active_time() {
                    out.extend_from_slice(&c.active_time_ms.unwrap().to_le_bytes());
                }
                put_len(out, c.pending.len() as u64);
                for id in &c.pending {
                    out.extend_from_slice(&id.to_be_bytes());
                }
            }
            if v.has_nacks() {
                let ids = g.nacked.as_deref().unwrap_or_default();
                put_len(out, ids.len() as u64);
                for id in ids {
                    out.extend_from_slice(&id.to_be_bytes());
                }
            }
        }
        if v.has_idmp() {
            let i = m.idmp.as_ref().unwrap();
            put_len(out, i.duration);
            put_len(out, i.max_entries);
            put_len(out, i.producers.len() as u64);
            for p in &i.producers {
                put_str(out, &p.id);
                put_len(out, p.entries.len() as u64);
                for (iid, id) in &p.entries {
                    put_str(out, iid);
                    put_len(out, id.ms);
                    put_len(out, id.seq);
                }
            }
            put_len(out, i.counters[0]);
            put_len(out, i.counters[1]);
        }
    }

    type Entries = Vec<(StreamId, Vec<(Vec<u8>, Vec<u8>)>)>;

    #[derive(Default)]
    struct Rec {
        entries: Entries,
        ints: usize,
    }

    impl StreamVisitor for Rec {
        fn entry(&mut self, id: StreamId, fields: &[(Elem<'_>, Elem<'_>)]) -> Result<()> {
            self.ints += fields
                .iter()
                .filter(|(_, v)| matches!(v, Elem::Int(_)))
                .count();
            self.entries.push((
                id,
                fields
                    .iter()
                    .map(|(f, v)| (f.to_vec(), v.to_vec()))
                    .collect(),
            ));
            Ok(())
        }
    }

    fn want(list: &[(StreamId, &[(&str, &str)])]) -> Entries {
        list.iter()
            .map(|(id, f)| {
                (
                    *id,
                    f.iter()
                        .map(|(a, b)| (a.as_bytes().to_vec(), b.as_bytes().to_vec()))
                        .collect(),
                )
            })
            .collect()
    }

    /// Decodes `data` as a whole value; checks that decode and skip both
    /// consume all of it.
    fn run(data: &[u8], v: StreamVersion) -> Result<(Entries, StreamMeta, usize)> {
        let mut cur = Cursor::new(data, 1000);
        let mut rec = Rec::default();
        let meta = decode(&mut cur, v, &mut rec)?;
        assert_eq!(cur.pos(), data.len(), "decode must consume the whole value");
        let mut c2 = Cursor::new(data, 1000);
        skip(&mut c2, v).expect("skip after a successful decode");
        assert_eq!(c2.pos(), data.len(), "skip must end where decode ends");
        Ok((rec.entries, meta, rec.ints))
    }

    fn group_fixture() -> Group {
        Group {
            name: b"g1".to_vec(),
            last_delivered_id: sid(100, 2),
            entries_read: Some(3),
            pending: vec![
                PendingEntry {
                    id: sid(100, 0),
                    delivery_time_ms: 1_700_000_000_000,
                    delivery_count: 1,
                },
                PendingEntry {
                    id: sid(100, 1),
                    delivery_time_ms: 1_700_000_000_001,
                    delivery_count: 2,
                },
                PendingEntry {
                    id: sid(100, 2),
                    delivery_time_ms: 1_700_000_000_002,
                    delivery_count: 300,
                },
            ],
            consumers: vec![
                Consumer {
                    name: b"alice".to_vec(),
                    seen_time_ms: 1_700_000_000_010,
                    active_time_ms: Some(1_700_000_000_009),
                    pending: vec![sid(100, 0), sid(100, 2)],
                },
                Consumer {
                    name: b"bob".to_vec(),
                    seen_time_ms: 1_700_000_000_011,
                    active_time_ms: Some(u64::MAX), // -1: never active
                    pending: vec![sid(100, 1)],
                },
                Consumer {
                    name: b"carol".to_vec(),
                    seen_time_ms: 5,
                    active_time_ms: Some(5),
                    pending: vec![],
                },
            ],
            nacked: None,
        }
    }

    /// Drops what `v` cannot hold from a meta written for V4.
    fn meta_for(v: StreamVersion, mut m: StreamMeta) -> StreamMeta {
        if !v.has_v2_meta() {
            m.first_id = None;
            m.max_deleted_id = None;
            m.entries_added = None;
            for g in &mut m.groups {
                g.entries_read = None;
            }
        }
        if !v.has_active_time() {
            for g in &mut m.groups {
                for c in &mut g.consumers {
                    c.active_time_ms = None;
                }
            }
        }
        if !v.has_idmp() {
            m.idmp = None;
        }
        for g in &mut m.groups {
            if !v.has_nacks() {
                g.nacked = None;
            } else if g.nacked.is_none() {
                g.nacked = Some(Vec::new());
            }
        }
        m
    }

    fn full_meta() -> StreamMeta {
        let mut g2 = group_fixture();
        g2.name = b"g2".to_vec();
        g2.entries_read = None;
        g2.pending.clear();
        for c in &mut g2.consumers {
            c.pending.clear();
        }
        StreamMeta {
            length: 4,
            last_id: sid(200, 7),
            first_id: Some(sid(100, 0)),
            max_deleted_id: Some(sid(100, 3)),
            entries_added: Some(9),
            groups: vec![group_fixture(), g2],
            idmp: Some(Idmp {
                duration: 100,
                max_entries: 1000,
                producers: vec![
                    IdmpProducer {
                        id: b"p1".to_vec(),
                        entries: vec![(b"i1".to_vec(), sid(100, 1))],
                    },
                    IdmpProducer {
                        id: b"p2".to_vec(),
                        entries: vec![(b"i2".to_vec(), sid(100, 2)), (b"42".to_vec(), sid(200, 7))],
                    },
                ],
                counters: [3, 1],
            }),
        }
    }

    /// Two nodes: deleted entries, SAMEFIELDS and own-field entries,
    /// integer-looking values; the second node LZF-compressed if `lzf`.
    fn two_node_value(v: StreamVersion, lzf: bool) -> (Vec<u8>, StreamMeta, Entries) {
        let mut out = Vec::new();
        put_len(&mut out, 2);
        let m1 = sid(100, 0);
        let lp1 = node_lp(
            m1,
            &["name", "n"],
            &[
                e(sid(100, 0), &[("name", "a"), ("n", "1")]),
                e(sid(100, 1), &[("name", "b"), ("n", "-5000")]),
                del(sid(100, 2), &[("name", "c"), ("n", "3")]),
                e(sid(100, 2), &[("other", "x")]),
                del(sid(100, 3), &[("zzz", "y")]),
            ],
        );
        put_node(&mut out, m1, &lp1, false);
        let m2 = sid(200, 5);
        let long = "v".repeat(70);
        let lp2 = node_lp(
            m2,
            &["f"],
            &[
                e(sid(200, 7), &[("f", &long), ("g", "123456789012")]),
                e(sid(300, 0), &[("f", "")]),
            ],
        );
        put_node(&mut out, m2, &lp2, lzf);
        let meta = meta_for(v, full_meta());
        let mut meta = meta;
        meta.length = 5;
        put_meta(&mut out, v, &meta);
        let entries = want(&[
            (sid(100, 0), &[("name", "a"), ("n", "1")]),
            (sid(100, 1), &[("name", "b"), ("n", "-5000")]),
            (sid(100, 2), &[("other", "x")]),
            (sid(200, 7), &[("f", long.as_str()), ("g", "123456789012")]),
            (sid(300, 0), &[("f", "")]),
        ]);
        (out, meta, entries)
    }

    const ALL: [StreamVersion; 5] = [
        StreamVersion::V1,
        StreamVersion::V2,
        StreamVersion::V3,
        StreamVersion::V4,
        StreamVersion::V5,
    ];

    // ---- tests ----------------------------------------------------------

    #[test]
    fn ids_round_trip_big_endian() {
        let id = sid(0x0102030405060708, 0x1112131415161718);
        let b = id.to_be_bytes();
        assert_eq!(b[0], 1);
        assert_eq!(b[15], 0x18);
        assert_eq!(StreamId::from_be_bytes(b), id);
        assert_eq!(id.to_string(), "72623859790382856-1230066625199609624");
        for v in ALL {
            assert_eq!(StreamVersion::from_type_byte(v.type_byte()), Some(v));
        }
        assert_eq!(StreamVersion::from_type_byte(20), None);
    }

    #[test]
    fn every_version_decodes_entries_and_meta() {
        for v in ALL {
            for lzf in [false, true] {
                let (data, meta, entries) = two_node_value(v, lzf);
                let (got, got_meta, ints) = run(&data, v).unwrap();
                assert_eq!(got, entries, "{v:?} lzf={lzf}");
                assert_eq!(got_meta, meta, "{v:?} lzf={lzf}");
                // "1", "-5000" and "123456789012" are integers in the listpack
                assert_eq!(ints, 3);
            }
        }
    }

    #[test]
    fn version_differences_in_layout() {
        // The same meta takes 0 / 5+1 / 5+1+8*3 / ... more bytes per version.
        let sizes: Vec<usize> = ALL
            .iter()
            .map(|&v| two_node_value(v, false).0.len())
            .collect();
        assert!(sizes[0] < sizes[1] && sizes[1] < sizes[2] && sizes[2] < sizes[3]);
        // first_id (3 bytes: 100 takes a 14-bit length, 0), max_deleted
        // (3), entries_added (1), entries_read for two groups: 1 byte (3)
        // and 9 bytes (2^64-1 as a 64-bit length).
        assert_eq!(sizes[1] - sizes[0], 3 + 3 + 1 + 1 + 9);
        // one active time per consumer, 3 consumers in each of 2 groups
        assert_eq!(sizes[2] - sizes[1], 8 * 6);
        // A V1 value read as V2 goes wrong somewhere, without panicking.
        let (v1, _, _) = two_node_value(StreamVersion::V1, false);
        let mut cur = Cursor::new(&v1, 0);
        let r = decode(&mut cur, StreamVersion::V2, &mut Rec::default());
        assert!(r.is_err() || cur.pos() != v1.len());
    }

    #[test]
    fn entries_read_sentinel_is_none_and_other_values_are_kept() {
        let (data, _, _) = two_node_value(StreamVersion::V2, false);
        let (_, m, _) = run(&data, StreamVersion::V2).unwrap();
        assert_eq!(m.groups[0].entries_read, Some(3));
        assert_eq!(m.groups[1].entries_read, None);
        let (data, _, _) = two_node_value(StreamVersion::V1, false);
        let (_, m, _) = run(&data, StreamVersion::V1).unwrap();
        assert!(m.groups.iter().all(|g| g.entries_read.is_none()));
        assert!(m.groups[0]
            .consumers
            .iter()
            .all(|c| c.active_time_ms.is_none()));
    }

    #[test]
    fn idmp_block_bytes_of_redis_8_6() {
        // The IDMP trailer of librdb's stream_v13_idmp.rdb (Redis 8.6), byte
        // for byte: duration 100, max entries 100, two producers with one
        // IID each, iids_added 2, iids_duplicates 0.
        let trailer: &[u8] = b"\x40\x64\x40\x64\x02\
            \x09producer1\x01\x09iid_p1_e1\x81\x00\x00\x01\x9c\x90\x2d\xea\xd3\x01\
            \x09producer2\x01\x09iid_p2_e1\x81\x00\x00\x01\x9c\x90\x2d\xea\xd3\x02\
            \x02\x00";
        assert_eq!(trailer.len(), 69);
        let mut data = Vec::new();
        put_len(&mut data, 0); // no nodes
        let m = StreamMeta {
            length: 0,
            last_id: sid(1771945454291, 2),
            first_id: Some(sid(0, 0)),
            max_deleted_id: Some(sid(0, 0)),
            entries_added: Some(3),
            groups: vec![],
            idmp: None,
        };
        put_meta(&mut data, StreamVersion::V3, &m);
        data.extend_from_slice(trailer);
        let (_, got, _) = run(&data, StreamVersion::V4).unwrap();
        let idmp = got.idmp.unwrap();
        assert_eq!(idmp.duration, 100);
        assert_eq!(idmp.max_entries, 100);
        assert_eq!(idmp.iids_added(), 2);
        assert_eq!(idmp.iids_duplicates(), 0);
        assert_eq!(
            idmp.producers,
            vec![
                IdmpProducer {
                    id: b"producer1".to_vec(),
                    entries: vec![(b"iid_p1_e1".to_vec(), sid(1771945454291, 1))]
                },
                IdmpProducer {
                    id: b"producer2".to_vec(),
                    entries: vec![(b"iid_p2_e1".to_vec(), sid(1771945454291, 2))]
                },
            ]
        );
        // The same bytes as type 21 stop before the trailer.
        let mut cur = Cursor::new(&data, 0);
        decode(&mut cur, StreamVersion::V3, &mut Rec::default()).unwrap();
        assert_eq!(cur.pos(), data.len() - 69);
    }

    #[test]
    fn idmp_strings_may_be_integer_encoded() {
        let (data, meta, _) = two_node_value(StreamVersion::V4, false);
        let (_, got, _) = run(&data, StreamVersion::V4).unwrap();
        assert_eq!(got.idmp, meta.idmp);
        // and by hand: an IID "42" stored as RDB_ENC_INT8
        let mut d = Vec::new();
        put_len(&mut d, 0);
        put_meta(
            &mut d,
            StreamVersion::V3,
            &meta_for(
                StreamVersion::V3,
                StreamMeta {
                    length: 0,
                    groups: vec![],
                    ..full_meta()
                },
            ),
        );
        d.extend_from_slice(&[1, 1, 1, 1, b'p', 1, 0xc0, 42, 5, 6, 0, 0]);
        let (_, got, _) = run(&d, StreamVersion::V4).unwrap();
        let idmp = got.idmp.unwrap();
        assert_eq!(idmp.producers[0].entries, vec![(b"42".to_vec(), sid(5, 6))]);
    }

    #[test]
    fn many_nodes_and_an_empty_stream() {
        let mut out = Vec::new();
        put_len(&mut out, 50);
        let mut expect = Vec::new();
        for i in 0..50u64 {
            let m = sid(1000 + i, 0);
            let lp = node_lp(
                m,
                &["k"],
                &[e(m, &[("k", "v")]), e(sid(1000 + i, 1), &[("k", "w")])],
            );
            put_node(&mut out, m, &lp, i % 2 == 1);
            expect.push((m, vec![(b"k".to_vec(), b"v".to_vec())]));
            expect.push((sid(1000 + i, 1), vec![(b"k".to_vec(), b"w".to_vec())]));
        }
        let meta = StreamMeta {
            length: 100,
            last_id: sid(1049, 1),
            ..Default::default()
        };
        put_meta(&mut out, StreamVersion::V1, &meta);
        let (got, got_meta, _) = run(&out, StreamVersion::V1).unwrap();
        assert_eq!(got, expect);
        assert_eq!(got_meta, meta);

        // No nodes, length 0, a group (XGROUP CREATE ... MKSTREAM).
        let mut out = Vec::new();
        put_len(&mut out, 0);
        let mut g = group_fixture();
        g.pending.clear();
        g.consumers.clear();
        let meta = StreamMeta {
            length: 0,
            last_id: sid(5, 5),
            first_id: Some(sid(0, 0)),
            max_deleted_id: Some(sid(5, 5)),
            entries_added: Some(1),
            groups: vec![g],
            idmp: None,
        };
        put_meta(&mut out, StreamVersion::V3, &meta);
        let (got, got_meta, _) = run(&out, StreamVersion::V3).unwrap();
        assert!(got.is_empty());
        assert_eq!(got_meta, meta);
    }

    #[test]
    fn node_with_only_deleted_entries() {
        let mut out = Vec::new();
        put_len(&mut out, 1);
        let m = sid(7, 0);
        put_node(
            &mut out,
            m,
            &node_lp(m, &["a"], &[del(m, &[("a", "1")])]),
            false,
        );
        put_meta(
            &mut out,
            StreamVersion::V1,
            &StreamMeta {
                length: 0,
                last_id: m,
                ..Default::default()
            },
        );
        let (got, _, _) = run(&out, StreamVersion::V1).unwrap();
        assert!(got.is_empty());
    }

    /// A type-27 value with no entries and one group whose PEL entry
    /// 100-1 belongs to no consumer, NACK zone `nacked`.
    fn v5_with_nacks(nacked: Vec<StreamId>) -> Vec<u8> {
        let mut g = group_fixture();
        g.consumers[1].pending.clear();
        g.nacked = Some(nacked);
        let mut m = meta_for(StreamVersion::V5, full_meta());
        m.length = 0;
        m.groups = vec![g];
        let mut out = Vec::new();
        put_len(&mut out, 0);
        put_meta(&mut out, StreamVersion::V5, &m);
        out
    }

    #[test]
    fn v5_nack_zone_is_read_per_group() {
        let d = v5_with_nacks(vec![sid(100, 1)]);
        let (_, meta, _) = run(&d, StreamVersion::V5).unwrap();
        assert_eq!(meta.groups[0].nacked, Some(vec![sid(100, 1)]));
        // An unowned PEL entry outside the NACK zone is still valid.
        let (_, meta, _) = run(&v5_with_nacks(vec![]), StreamVersion::V5).unwrap();
        assert_eq!(meta.groups[0].nacked, Some(vec![]));
        // Older layouts have no NACK zone at all.
        let (_, meta, _) = run(
            &two_node_value(StreamVersion::V4, false).0,
            StreamVersion::V4,
        )
        .unwrap();
        assert!(meta.groups.iter().all(|g| g.nacked.is_none()));
    }

    #[test]
    fn v5_nack_zone_refuses_what_the_loader_refuses() {
        for (ids, why) in [
            (vec![sid(100, 0)], "is owned by a consumer"),
            (vec![sid(100, 9)], "is not in the group PEL"),
            (vec![sid(100, 1), sid(100, 1)], "appears twice"),
        ] {
            let e = err_of(&v5_with_nacks(ids), StreamVersion::V5);
            assert!(e.to_string().contains(why), "{e}");
        }
        let mut d = v5_with_nacks(vec![sid(100, 1)]);
        d.truncate(d.len() - 20);
        assert!(err_of(&d, StreamVersion::V5)
            .to_string()
            .contains("unexpected end"));
    }

    fn err_of(data: &[u8], v: StreamVersion) -> Error {
        let mut cur = Cursor::new(data, 1000);
        decode(&mut cur, v, &mut Rec::default()).unwrap_err()
    }

    fn single_node(lp: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_len(&mut out, 1);
        put_node(&mut out, sid(1, 0), lp, false);
        put_meta(
            &mut out,
            StreamVersion::V1,
            &StreamMeta {
                length: 1,
                last_id: sid(1, 0),
                ..Default::default()
            },
        );
        out
    }

    #[test]
    fn corrupt_listpacks_are_reported() {
        // empty listpack
        let e1 = err_of(&single_node(&listpack(&[])), StreamVersion::V1);
        assert!(e1.to_string().contains("empty listpack"), "{e1}");
        assert_eq!(e1.offset, 1000 + 1 + 17);
        // master entry terminator is not 0
        let lp = listpack(&[Lp::I(1), Lp::I(0), Lp::I(1), Lp::S(b"f"), Lp::I(7)]);
        let e2 = err_of(&single_node(&lp), StreamVersion::V1);
        assert!(
            e2.to_string().contains("stream master entry terminator"),
            "{e2}"
        );
        // a string where the flags integer belongs
        let lp = listpack(&[Lp::I(1), Lp::I(0), Lp::I(0), Lp::I(0), Lp::S(b"x")]);
        let e3 = err_of(&single_node(&lp), StreamVersion::V1);
        assert!(
            e3.to_string().contains("stream listpack entry flags"),
            "{e3}"
        );
        // the listpack ends inside an entry
        let lp = listpack(&[
            Lp::I(1),
            Lp::I(0),
            Lp::I(0),
            Lp::I(0),
            Lp::I(0),
            Lp::I(0),
            Lp::I(0),
        ]);
        let e4 = err_of(&single_node(&lp), StreamVersion::V1);
        assert!(
            e4.to_string().contains("stream listpack entry field count"),
            "{e4}"
        );
        // wrong lp-count
        let lp = listpack(&[
            Lp::I(1),
            Lp::I(0),
            Lp::I(0),
            Lp::I(0),
            Lp::I(0),
            Lp::I(0),
            Lp::I(0),
            Lp::I(1),
            Lp::S(b"f"),
            Lp::S(b"v"),
            Lp::I(5),
        ]);
        let e5 = err_of(&single_node(&lp), StreamVersion::V1);
        assert!(e5.to_string().contains("lp-count"), "{e5}");
        // elements after the last entry
        let lp = listpack(&[Lp::I(0), Lp::I(0), Lp::I(0), Lp::I(0), Lp::I(9)]);
        let e6 = err_of(&single_node(&lp), StreamVersion::V1);
        assert!(e6.to_string().contains("elements follow"), "{e6}");
        // negative counts
        let lp = listpack(&[Lp::I(-1), Lp::I(0), Lp::I(0), Lp::I(0)]);
        let e7 = err_of(&single_node(&lp), StreamVersion::V1);
        assert!(e7.to_string().contains("negative"), "{e7}");
        // integer-encoded string as the listpack
        let mut out = Vec::new();
        put_len(&mut out, 1);
        put_str(&mut out, &sid(1, 0).to_be_bytes());
        out.extend_from_slice(&[0xc0, 5]);
        let e8 = err_of(&out, StreamVersion::V1);
        assert!(e8.to_string().contains("integer-encoded"), "{e8}");
    }

    #[test]
    fn hostile_counts_fail_fast() {
        // 2^62 nodes
        let mut d = vec![0x81];
        d.extend_from_slice(&(1u64 << 62).to_be_bytes());
        d.extend_from_slice(&[0; 64]);
        assert!(err_of(&d, StreamVersion::V3)
            .to_string()
            .contains("cannot fit"));
        let mut c = Cursor::new(&d, 0);
        assert!(skip(&mut c, StreamVersion::V3).is_err());
        // a listpack claiming i64::MAX entries and i64::MAX master fields
        for items in [
            vec![Lp::I(i64::MAX), Lp::I(0), Lp::I(0), Lp::I(0)],
            vec![Lp::I(i64::MAX), Lp::I(i64::MAX), Lp::I(0), Lp::I(0)],
            vec![Lp::I(1), Lp::I(0), Lp::I(i64::MAX), Lp::S(b"f")],
            vec![
                Lp::I(1),
                Lp::I(0),
                Lp::I(0),
                Lp::I(0),
                Lp::I(0),
                Lp::I(0),
                Lp::I(0),
                Lp::I(i64::MAX),
            ],
        ] {
            let e = err_of(&single_node(&listpack(&items)), StreamVersion::V1);
            assert!(e.to_string().contains("stream"), "{e}");
        }
        // huge group / PEL / consumer / consumer PEL / IDMP counts
        let huge = [0x80, 0xff, 0xff, 0xff, 0xff];
        let v1_head = vec![0u8, 0, 0, 0]; // no nodes, length, last id
        let v4_head = vec![0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0]; // ... + V2 fields, no groups
        let group = [1u8, 1, b'g', 0, 0];
        let mut consumer = vec![1u8, 1, b'c'];
        consumer.extend_from_slice(&[0; 8]);
        let cases: Vec<(StreamVersion, Vec<Vec<u8>>)> = vec![
            (StreamVersion::V1, vec![v1_head.clone(), huge.to_vec()]),
            (
                StreamVersion::V1,
                vec![v1_head.clone(), group.to_vec(), huge.to_vec()],
            ),
            (
                StreamVersion::V1,
                vec![v1_head.clone(), group.to_vec(), vec![0], huge.to_vec()],
            ),
            (
                StreamVersion::V1,
                vec![v1_head, group.to_vec(), vec![0], consumer, huge.to_vec()],
            ),
            (
                StreamVersion::V4,
                vec![v4_head.clone(), vec![0, 0], huge.to_vec()],
            ),
            (
                StreamVersion::V4,
                vec![v4_head, vec![0, 0, 1, 1, b'p'], huge.to_vec()],
            ),
        ];
        for (v, parts) in cases {
            let mut d = parts.concat();
            d.extend_from_slice(&[0; 40]);
            let mut c = Cursor::new(&d, 0);
            let e = decode(&mut c, v, &mut Rec::default()).unwrap_err();
            assert!(e.to_string().contains("cannot fit"), "{v:?} {e}");
            let mut c = Cursor::new(&d, 0);
            let e = skip(&mut c, v).unwrap_err();
            assert!(e.to_string().contains("cannot fit"), "{v:?} {e}");
        }
    }

    fn with_groups(v: StreamVersion, groups: Vec<Group>) -> Vec<u8> {
        let mut out = Vec::new();
        put_len(&mut out, 0);
        let m = meta_for(
            v,
            StreamMeta {
                length: 0,
                groups,
                idmp: None,
                ..full_meta()
            },
        );
        put_meta(&mut out, v, &m);
        out
    }

    #[test]
    fn group_cross_references_are_checked() {
        // consumer PEL id not in the group PEL
        let mut g = group_fixture();
        g.consumers[1].pending.push(sid(999, 0));
        let e = err_of(&with_groups(StreamVersion::V3, vec![g]), StreamVersion::V3);
        assert!(
            e.to_string()
                .contains("consumer PEL id 999-0 not in group PEL"),
            "{e}"
        );
        // duplicate group PEL entry
        let mut g = group_fixture();
        let p = g.pending[1].clone();
        g.pending.insert(1, p);
        let e = err_of(&with_groups(StreamVersion::V3, vec![g]), StreamVersion::V3);
        assert!(e.to_string().contains("duplicate ID 100-1"), "{e}");
        // duplicate in an unsorted group PEL
        let mut g = group_fixture();
        let p = g.pending[0].clone();
        g.pending.push(p);
        let e = err_of(&with_groups(StreamVersion::V3, vec![g]), StreamVersion::V3);
        assert!(e.to_string().contains("duplicate ID 100-0"), "{e}");
        // duplicate consumer PEL id
        let mut g = group_fixture();
        g.consumers[0].pending.push(sid(100, 0));
        let e = err_of(&with_groups(StreamVersion::V3, vec![g]), StreamVersion::V3);
        assert!(e.to_string().contains("duplicate ID 100-0"), "{e}");
        // duplicate consumer name, duplicate group name
        let mut g = group_fixture();
        g.consumers[2].name = b"alice".to_vec();
        let e = err_of(&with_groups(StreamVersion::V3, vec![g]), StreamVersion::V3);
        assert!(e.to_string().contains("duplicate name \"alice\""), "{e}");
        let e = err_of(
            &with_groups(StreamVersion::V3, vec![group_fixture(), group_fixture()]),
            StreamVersion::V3,
        );
        assert!(e.to_string().contains("stream consumer group name"), "{e}");
        // unsorted (but unique) PELs and names are accepted as stored
        let mut g = group_fixture();
        g.pending.reverse();
        g.consumers.reverse();
        g.consumers[0].pending.reverse();
        let mut g0 = group_fixture();
        g0.name = b"a".to_vec();
        let data = with_groups(StreamVersion::V3, vec![g.clone(), g0.clone()]);
        let (_, m, _) = run(&data, StreamVersion::V3).unwrap();
        assert_eq!(m.groups, vec![g, g0]);
    }

    #[test]
    fn node_order_and_length_are_checked() {
        let mut out = Vec::new();
        put_len(&mut out, 2);
        let a = sid(5, 0);
        let lp = node_lp(a, &["k"], &[e(a, &[("k", "v")])]);
        put_node(&mut out, a, &lp, false);
        put_node(&mut out, a, &lp, false);
        put_meta(
            &mut out,
            StreamVersion::V1,
            &StreamMeta {
                length: 2,
                last_id: a,
                ..Default::default()
            },
        );
        let e = err_of(&out, StreamVersion::V1);
        assert!(e.to_string().contains("does not follow"), "{e}");

        let mut out = Vec::new();
        put_len(&mut out, 0);
        put_meta(
            &mut out,
            StreamVersion::V1,
            &StreamMeta {
                length: 3,
                ..Default::default()
            },
        );
        let e = err_of(&out, StreamVersion::V1);
        assert!(e.to_string().contains("no nodes"), "{e}");
        assert_eq!(e.offset, 1000);

        // a master ID that is not 16 bytes
        let mut out = Vec::new();
        put_len(&mut out, 1);
        put_str(&mut out, b"0123456789");
        put_str(&mut out, &lp);
        put_meta(
            &mut out,
            StreamVersion::V1,
            &StreamMeta {
                length: 1,
                last_id: a,
                ..Default::default()
            },
        );
        let e = err_of(&out, StreamVersion::V1);
        assert!(e.to_string().contains("16-byte"), "{e}");
        assert_eq!(e.offset, 1001);
        let mut c = Cursor::new(&out, 1000);
        assert!(skip(&mut c, StreamVersion::V1).is_err());
    }

    #[test]
    fn entry_ids_wrap_like_the_server() {
        // Deltas are signed 64-bit in the listpack and added modulo 2^64.
        let m = sid(10, 5);
        let lp = listpack(&[
            Lp::I(1),
            Lp::I(0),
            Lp::I(0),
            Lp::I(0),
            Lp::I(0),
            Lp::I(-1),
            Lp::I(-5),
            Lp::I(0),
            Lp::I(4),
        ]);
        let mut out = Vec::new();
        put_len(&mut out, 1);
        put_node(&mut out, m, &lp, false);
        put_meta(
            &mut out,
            StreamVersion::V1,
            &StreamMeta {
                length: 1,
                ..Default::default()
            },
        );
        let (got, _, _) = run(&out, StreamVersion::V1).unwrap();
        assert_eq!(got, vec![(sid(9, 0), vec![])]);
    }

    #[test]
    fn visitor_errors_stop_decoding() {
        struct Fail;
        impl StreamVisitor for Fail {
            fn entry(&mut self, _: StreamId, _: &[(Elem<'_>, Elem<'_>)]) -> Result<()> {
                Err(Error::invalid(7, "sink", "stop"))
            }
        }
        let (data, _, _) = two_node_value(StreamVersion::V3, false);
        let mut cur = Cursor::new(&data, 0);
        let e = decode(&mut cur, StreamVersion::V3, &mut Fail).unwrap_err();
        assert_eq!(e.offset, 7);
    }

    #[test]
    fn truncation_at_every_byte_is_an_error() {
        for v in ALL {
            for lzf in [false, true] {
                let (data, _, _) = two_node_value(v, lzf);
                for n in 0..data.len() {
                    let mut c = Cursor::new(&data[..n], 0);
                    assert!(
                        decode(&mut c, v, &mut Rec::default()).is_err(),
                        "{v:?} cut at {n}"
                    );
                    let mut c = Cursor::new(&data[..n], 0);
                    assert!(skip(&mut c, v).is_err(), "{v:?} skip cut at {n}");
                }
            }
        }
    }

    #[test]
    fn byte_flips_never_panic() {
        for v in ALL {
            for lzf in [false, true] {
                let (data, _, _) = two_node_value(v, lzf);
                let mut d = data.clone();
                for i in 0..d.len() {
                    for mask in [0x01u8, 0x80, 0xff, 0x40] {
                        d[i] ^= mask;
                        let mut c = Cursor::new(&d, 0);
                        let r = decode(&mut c, v, &mut Rec::default());
                        let mut c2 = Cursor::new(&d, 0);
                        let s = skip(&mut c2, v);
                        // decode checks strictly more than skip
                        if r.is_ok() {
                            assert!(
                                s.is_ok(),
                                "{v:?} flip {i}^{mask:#x}: skip failed, decode did not"
                            );
                            assert_eq!(c.pos(), c2.pos(), "{v:?} flip {i}^{mask:#x}");
                        }
                        d[i] ^= mask;
                    }
                }
            }
        }
    }

    #[test]
    fn fields_buffer_is_reused_across_nodes() {
        // Not a guarantee of the language, but the point of `recycle`.
        let mut v: Vec<(Elem<'static>, Elem<'static>)> = Vec::with_capacity(16);
        v.push((Elem::Int(1), Elem::Int(2)));
        let p = v.as_ptr() as usize;
        let w: Vec<(Elem<'_>, Elem<'_>)> = recycle(v);
        assert_eq!(w.capacity(), 16);
        assert_eq!(w.as_ptr() as usize, p);
    }
}
