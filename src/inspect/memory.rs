//! The memory model: how many bytes of server memory one key of a snapshot
//! takes once a server has loaded it.
//!
//! # What is estimated
//!
//! The number mirrors what `MEMORY USAGE key SAMPLES 0` (`objectComputeSize`
//! in Redis' `object.c`) reports right after the server loaded the file (or
//! `RESTORE`d the key), **plus 24 bytes for the entry in the expires dict**
//! when the key has a TTL (`MEMORY USAGE` leaves that out; it is real
//! memory). Per key:
//!
//! - the main dict entry (`sizeof(dictEntry)` = 24) and the key's sds
//!   (header + bytes + NUL, rounded to a jemalloc size class);
//! - the value: `robj` (16 bytes) and what hangs off it, in the encoding the
//!   server picks when it loads the value with **default thresholds**
//!   ([`ModelConfig::default`], the servers' compiled-in defaults; the sample
//!   `redis.conf` lowers `hash-max-listpack-entries` to 128, see
//!   [`ModelConfig::set`]): `hash-max-listpack-entries 512`,
//!   `hash-max-listpack-value 64`, `zset-max-listpack-entries 128`,
//!   `zset-max-listpack-value 64`,
//!   `set-max-intset-entries 512`, `set-max-listpack-entries 128` /
//!   `-value 64` (Redis 7.2+), `list-max-listpack-size -2` (8 KiB nodes).
//!
//! # How each type is sized (Redis 7.0 / 7.2+)
//!
//! | type | encoding | bytes |
//! |---|---|---|
//! | string | `int` (fits a `long`, ≤ 20 chars) | 16 (the robj; shared integers are reported the same way) |
//! | string | `embstr` (≤ 44 bytes) | class(16 + 3 + len + 1): robj and sds in one allocation |
//! | string | `raw` | 16 + class(sds header + len + 1) |
//! | list | `quicklist` | 16 + 40 + per node 40 + class(listpack bytes) |
//! | list | `listpack` (7.2+, one node ≤ 8 KiB) | 16 + class(listpack bytes) |
//! | set | `intset` | 16 + class(8 + n × width) |
//! | set | `listpack` (7.2+) | 16 + class(listpack bytes) |
//! | set | `hashtable` | 16 + 56 + 8 × buckets + per member 24 + class(sds) |
//! | zset | `listpack` | 16 + class(listpack bytes) |
//! | zset | `skiplist` | 16 + 16 + 32 + 56 + 8 × buckets + class(536) + per member class(sds) + 24 + E[class(24 + 16 × level)] |
//! | hash | `listpack` | 16 + class(listpack bytes) |
//! | hash | `hashtable` | 16 + 56 + 8 × buckets + per field 24 + class(sds field) + class(sds value) |
//! | stream | `stream` | 16 + 80 + rax(nodes) + Σ class(node listpack) + groups, consumers and PELs as `objectComputeSize` counts them |
//! | module | `module` | the serialized size (a module's own `mem_usage` cannot be known offline) |
//! | array (Redis 8.8) | `sliced-array` | **approximate**: 16 + 80 (`redisArray`) + per 4096-index slice class(40 + 10 × its elements) + the slice directory (8 per slice slot up to the highest; 24 + 8 × 2048 per 2048-slice block once sparse beyond 2^16 slices) + class(8 + len) per string over 7 bytes |
//!
//! Where the file keeps a listpack, intset or quicklist node the server keeps
//! the same bytes (one allocation of exactly that size), so the file's
//! encoded length gives the exact number. Where the file holds an encoding
//! the server converts at load (ziplists, zipmaps, plain collections written
//! by a server that used a hashtable or skiplist), the listpack the server
//! would build is sized entry by entry from the elements (integers as
//! integers, as `lpAppend` does), and plain lists are cut into quicklist
//! nodes with the server's own fill rule (`node bytes + element + 8 <=
//! 8192`).
//!
//! # Approximations
//!
//! - Hash table buckets: a table the server pre-sizes has `max(4, next power
//!   of two ≥ n)` buckets. A table that grows while loading (a zset listpack
//!   over the limit converted to a skiplist, a small hash or set that meets
//!   a long or non-integer element half-way) is replayed step by step:
//!   doubling at a 1:1 load, one bucket moved per insertion, so a table can
//!   end in the middle of a rehash and hold both arrays, as the server's
//!   does. Which buckets are empty depends on the server's hash seed; the
//!   expected count is used.
//! - Skiplist node levels are random (p = 1/4); the expected allocation per
//!   node is used.
//! - Stream radix trees: `objectComputeSize` charges 16 bytes per element
//!   and 244 per rax node; the node count is computed exactly for the
//!   canonical compressed trie of the IDs (node master IDs, PEL IDs).
//!   The last node of a live stream may be over-allocated until the server
//!   restarts; a loaded stream's nodes are exact.
//! - Hash field TTLs (Redis 7.4+ `listpackex` / metadata, Valkey 9): the
//!   listpack holds a TTL entry per field; a hashtable field with a TTL is
//!   charged 16 more bytes and the hash 48 bytes of expiry metadata.
//! - Not counted: the main dict's bucket array (amortised ~8–16 bytes per
//!   key), the cluster-mode per-key metadata (16 bytes), LRU/LFU bits (inside
//!   the robj anyway), allocator fragmentation.
//! - Arrays (Redis 8.8) are not modelled allocation by allocation: the
//!   slice layout (dense windows vs sparse offsets, `ar-slice-size`) is the
//!   server's choice; the row above gives the order of magnitude only.
//! - Valkey 8.0+ lays keys out differently (the key is embedded in the
//!   object, 8.1 drops `dictEntry`); the 7.2 layout is used for it.
//!
//! The allocator's size classes depend on its quantum ([`Quantum`]): 8 for
//! the jemalloc bundled with Redis (the default), 16 for distribution
//! packages that use the system jemalloc (Debian, Ubuntu).

use crate::error::{Error, Result};
use crate::inspect::alloc::{
    dec_len, intset_bytes, intset_width, lp_int_entry, lp_str_entry, lp_strlen_entry, sds_alloc,
    size_class, strict_i64, Quantum, LP_OVERHEAD,
};
use crate::rdb::cursor::Cursor;
use crate::rdb::elem::{Elem, RdbStr};
use crate::rdb::hfe;
use crate::rdb::records::Record;
use crate::rdb::stream::{self, StreamId, StreamMeta, StreamVersion};
use crate::rdb::value::{Kind, Scratch, ValueType, ValueVisitor};
use crate::rdb::{intset, listpack, ziplist};

/// `sizeof(robj)`.
pub const ROBJ: u64 = 16;
/// `sizeof(dictEntry)` (what `MEMORY USAGE` charges per entry, unrounded).
pub const DICT_ENTRY: u64 = 24;
/// The entry of a key with a TTL in the db's expires dict (it shares the key
/// sds). Not part of `MEMORY USAGE`.
pub const EXPIRE_ENTRY_BYTES: u64 = DICT_ENTRY;
/// `sizeof(dict)` (Redis 7.0–7.4).
const DICT: u64 = 56;
/// `sizeof(quicklist)`.
const QUICKLIST: u64 = 40;
/// `sizeof(quicklistNode)`.
const QUICKLIST_NODE: u64 = 40;
/// `sizeof(zset)` + `sizeof(zskiplist)`.
const ZSET_STRUCTS: u64 = 16 + 32;
/// `ZSKIPLIST_MAXLEVEL`.
const ZSKIPLIST_MAXLEVEL: u32 = 32;
/// `sizeof(stream)`.
const STREAM: u64 = 80;
/// `sizeof(streamCG)`.
const STREAM_CG: u64 = 40;
/// `sizeof(streamNACK)`.
const STREAM_NACK: u64 = 24;
/// `quicklistNodeExceedsLimit`'s `SIZE_SAFETY_LIMIT`.
const SIZE_SAFETY_LIMIT: u64 = 8192;
/// `SIZE_ESTIMATE_OVERHEAD` of `_quicklistNodeAllowInsert`.
const SIZE_ESTIMATE_OVERHEAD: u64 = 8;
/// Per-field TTL bookkeeping of a hashtable-encoded hash (approximation).
const HFE_FIELD_EXTRA: u64 = 16;
/// Per-hash TTL metadata (approximation: `listpackEx` / dict metadata).
const HFE_HASH_EXTRA: u64 = 48;

/// Which server's data structures to model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerModel {
    /// Redis 7.0: lists are always quicklists, sets are intsets or
    /// hashtables, scores are formatted with `%.17g`.
    Redis70,
    /// Redis 7.2 and later (and Valkey 7.2+): small lists and sets are
    /// listpacks, scores are formatted shortest-round-trip.
    #[default]
    Redis72,
}

/// Server configuration the estimate assumes.
#[derive(Debug, Clone, Copy)]
pub struct ModelConfig {
    pub server: ServerModel,
    pub quantum: Quantum,
    pub list_max_listpack_size: i64,
    pub hash_max_listpack_entries: u64,
    pub hash_max_listpack_value: u64,
    pub zset_max_listpack_entries: u64,
    pub zset_max_listpack_value: u64,
    pub set_max_intset_entries: u64,
    pub set_max_listpack_entries: u64,
    pub set_max_listpack_value: u64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            server: ServerModel::default(),
            quantum: Quantum::default(),
            list_max_listpack_size: -2,
            hash_max_listpack_entries: 512,
            hash_max_listpack_value: 64,
            zset_max_listpack_entries: 128,
            zset_max_listpack_value: 64,
            set_max_intset_entries: 512,
            set_max_listpack_entries: 128,
            set_max_listpack_value: 64,
        }
    }
}

impl ModelConfig {
    /// Sets a threshold by its server config name (`hash-max-listpack-entries`,
    /// `-value`, the `zset-` and `set-` ones, `set-max-intset-entries`,
    /// `list-max-listpack-size`; the old `*-ziplist-*` names too).
    pub fn set(&mut self, name: &str, value: &str) -> std::result::Result<(), String> {
        let name = name
            .trim()
            .to_ascii_lowercase()
            .replace("ziplist", "listpack");
        let value = value.trim();
        if name == "list-max-listpack-size" {
            self.list_max_listpack_size = value
                .parse()
                .map_err(|_| format!("{name}: not a number: {value:?}"))?;
            return Ok(());
        }
        let v: u64 = value
            .parse()
            .map_err(|_| format!("{name}: not a number: {value:?}"))?;
        let slot = match name.as_str() {
            "hash-max-listpack-entries" => &mut self.hash_max_listpack_entries,
            "hash-max-listpack-value" => &mut self.hash_max_listpack_value,
            "zset-max-listpack-entries" => &mut self.zset_max_listpack_entries,
            "zset-max-listpack-value" => &mut self.zset_max_listpack_value,
            "set-max-intset-entries" => &mut self.set_max_intset_entries,
            "set-max-listpack-entries" => &mut self.set_max_listpack_entries,
            "set-max-listpack-value" => &mut self.set_max_listpack_value,
            _ => return Err(format!("unknown setting {name:?}")),
        };
        *slot = v;
        Ok(())
    }
}

/// A configured model with its precomputed constants.
#[derive(Debug, Clone)]
pub struct Model {
    pub cfg: ModelConfig,
    /// Expected `zmalloc_size` of a skiplist node without its sds.
    skiplist_node: u64,
    /// `zmalloc_size` of a skiplist header (32 levels).
    skiplist_header: u64,
    /// (byte limit, count limit) of a quicklist node.
    ql_limit: (u64, u64),
}

impl Default for Model {
    fn default() -> Self {
        Model::new(ModelConfig::default())
    }
}

/// One key's estimate and the facts the reports show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyMemory {
    /// Estimated bytes (key, value, dict entries; see the module docs).
    pub bytes: u64,
    /// The encoding the server would use (`OBJECT ENCODING` words).
    pub encoding: &'static str,
    /// Elements: string length, list/set/zset length, hash fields, stream
    /// entries, 1 for a module value.
    pub num_elements: u64,
    /// Length of the longest element (hash: field or value; stream: field
    /// or value of an entry; string: its length).
    pub len_largest_element: u64,
}

impl Model {
    pub fn new(cfg: ModelConfig) -> Model {
        let q = cfg.quantum;
        // E[class(24 + 16 L)] with P(L = l) = 3/4 (1/4)^(l-1), capped at 32.
        let mut expect = 0f64;
        let mut p = 0.75f64;
        let mut rest = 1.0f64;
        for l in 1..ZSKIPLIST_MAXLEVEL {
            expect += p * size_class(24 + 16 * l as u64, q) as f64;
            rest -= p;
            p /= 4.0;
        }
        expect += rest * size_class(24 + 16 * ZSKIPLIST_MAXLEVEL as u64, q) as f64;
        let fill = cfg.list_max_listpack_size;
        let ql_limit = if fill < 0 {
            let lv = [4096u64, 8192, 16384, 32768, 65536];
            let i = ((-fill - 1) as usize).min(lv.len() - 1);
            (lv[i], u64::MAX)
        } else {
            (SIZE_SAFETY_LIMIT, fill.max(1) as u64)
        };
        Model {
            cfg,
            skiplist_node: expect.round() as u64,
            skiplist_header: size_class(24 + 16 * ZSKIPLIST_MAXLEVEL as u64, q),
            ql_limit,
        }
    }

    fn class(&self, n: u64) -> u64 {
        size_class(n, self.cfg.quantum)
    }

    fn sds(&self, len: u64) -> u64 {
        sds_alloc(len, self.cfg.quantum)
    }

    /// Bytes of the key itself: main dict entry, key sds, and the expires
    /// dict entry when `expiring`.
    pub fn key_overhead(&self, key_len: u64, expiring: bool) -> u64 {
        DICT_ENTRY + self.sds(key_len) + if expiring { EXPIRE_ENTRY_BYTES } else { 0 }
    }

    /// Hash table memory: struct and bucket array for `n` entries in a
    /// pre-sized table.
    fn dict(&self, n: u64) -> u64 {
        DICT + 8 * dict_size(n)
    }

    /// The same for a table grown by `sim`.
    fn dict_sim(&self, sim: &DictSim) -> u64 {
        DICT + 8 * sim.slots()
    }

    /// Estimates one record. `bufs` holds decompressed blobs between calls.
    pub fn estimate(&self, rec: &Record<'_>, bufs: &mut Buffers) -> Result<KeyMemory> {
        let mut m = self.estimate_value(rec, &mut bufs.scratch, &mut bufs.blob)?;
        m.bytes += self.key_overhead(rec.key.decoded_len(), rec.expire_ms.is_some());
        Ok(m)
    }

    fn estimate_value(
        &self,
        rec: &Record<'_>,
        scratch: &mut Scratch,
        buf: &mut Vec<u8>,
    ) -> Result<KeyMemory> {
        use ValueType::*;
        let mut cur = Cursor::new(rec.value, rec.value_offset);
        match rec.vtype {
            String => self.string(cur.string("string value")?, buf),
            ListQuicklist2 => self.quicklist2(&mut cur, buf),
            ListQuicklist => self.quicklist_ziplists(&mut cur, buf),
            SetIntset => {
                let b = cur.string("intset")?.bytes(buf)?;
                let is = intset::parse(b, rec.value_offset)?;
                let n = is.len() as u64;
                let mut max_len = 0;
                let mut sds = 0;
                for i in is.iter() {
                    let l = dec_len(i);
                    max_len = max_len.max(l);
                    sds += self.sds(l);
                }
                if n > self.cfg.set_max_intset_entries {
                    Ok(self.set_ht(n, sds, max_len))
                } else {
                    Ok(KeyMemory {
                        bytes: ROBJ + self.class(b.len() as u64),
                        encoding: "intset",
                        num_elements: n,
                        len_largest_element: max_len,
                    })
                }
            }
            SetListpack | ZSetListpack | HashListpack => {
                let b = cur.string("listpack")?.bytes(buf)?;
                let blob = b.len() as u64;
                let lp = listpack::parse(b, rec.value_offset)?;
                let mut acc = Elems::new(self);
                match rec.vtype {
                    SetListpack => {
                        for e in lp.iter() {
                            acc.single(self, Lens::of(&e?));
                        }
                        Ok(self.finish_set(&acc, Some(blob)))
                    }
                    ZSetListpack => {
                        acc.pairs_zset(self, lp.iter(), rec.value_offset)?;
                        Ok(self.finish_zset(&acc, Some(blob), false))
                    }
                    _ => {
                        acc.pairs_hash(self, lp.iter(), rec.value_offset)?;
                        Ok(self.finish_hash(&acc, Some(blob), false))
                    }
                }
            }
            Stream(v) => self.stream(rec, v, buf),
            Array => self.array(&mut cur),
            Module2 | ModulePreGa => Ok(KeyMemory {
                bytes: ROBJ + rec.value.len() as u64,
                encoding: "module",
                num_elements: 1,
                len_largest_element: rec.value.len() as u64,
            }),
            HashTtl(kind) => {
                let mut acc = Elems::new(self);
                hfe::decode(&mut cur, kind, |f, v, ttl| {
                    acc.hash_field(self, Lens::of(&f), Lens::of(&v));
                    acc.lp += lp_int_entry(ttl.unwrap_or(0).max(0));
                    acc.ttl_fields += ttl.is_some() as u64;
                    Ok(())
                })?;
                Ok(self.finish_hash(&acc, None, true))
            }
            // Plain collections: lengths are enough, no decompression.
            List | Set | ZSet | ZSet2 | Hash => {
                let mut acc = Elems::new(self);
                // Big hashtables and skiplists need only the lengths: a
                // tight loop over the raw bytes; anything unusual takes the
                // checked walk, which also reports errors.
                if !self.big_plain(rec.vtype, rec.value, &mut acc) {
                    acc = Elems::new(self);
                    self.plain(rec.vtype, &mut cur, buf, &mut acc)?;
                }
                Ok(match rec.vtype.kind() {
                    Kind::List => self.finish_list_plain(&mut acc),
                    Kind::Set => self.finish_set(&acc, None),
                    Kind::ZSet => self.finish_zset(&acc, None, true),
                    _ => self.finish_hash(&acc, None, false),
                })
            }
            // Other encodings are converted at load: walk the elements.
            ListZiplist | HashZipmap | HashZiplist | ZSetZiplist => {
                let mut acc = Elems::new(self);
                {
                    let mut v = Visit {
                        m: self,
                        acc: &mut acc,
                    };
                    rec.decode(scratch, &mut v)?;
                }
                match rec.vtype.kind() {
                    Kind::List => Ok(self.finish_list_plain(&mut acc)),
                    Kind::Set => Ok(self.finish_set(&acc, None)),
                    // Ziplists are checked against the entry count only.
                    Kind::ZSet => Ok(self.finish_zset(&acc, None, rec.vtype != ZSetZiplist)),
                    _ => {
                        // A zipmap is checked against the value limit too;
                        // ziplists only against the entry count.
                        if matches!(rec.vtype, HashZiplist) {
                            acc.over_value = false;
                        }
                        Ok(self.finish_hash(&acc, None, false))
                    }
                }
            }
        }
    }

    /// An array, approximately (see the module docs): slices of 4096
    /// indices (`AR_SLICE_SIZE_DEFAULT`), their directory, long strings.
    fn array(&self, cur: &mut Cursor<'_>) -> Result<KeyMemory> {
        const SLICE_BITS: u32 = 12;
        const BLOCK_SLOTS: u64 = 2048;
        let mut bytes = ROBJ + 80;
        let (mut n, mut longest) = (0u64, 0u64);
        let (mut slice, mut in_slice) = (None::<u64>, 0u64);
        let (mut blocks, mut last_block) = (0u64, None::<u64>);
        let close = |in_slice: u64, bytes: &mut u64| {
            if in_slice > 0 {
                *bytes += self.class(40 + 10 * in_slice);
            }
        };
        crate::rdb::array::decode(
            cur,
            &mut Vec::new(),
            |_| Ok(()),
            |idx, v| {
                let s = idx >> SLICE_BITS;
                if slice != Some(s) {
                    close(in_slice, &mut bytes);
                    slice = Some(s);
                    in_slice = 0;
                    if last_block != Some(s / BLOCK_SLOTS) {
                        last_block = Some(s / BLOCK_SLOTS);
                        blocks += 1;
                    }
                }
                in_slice += 1;
                n += 1;
                let len = v.text().len() as u64;
                longest = longest.max(len);
                if let crate::rdb::array::ArrayElem::Str(_) = v {
                    if len > 7 {
                        bytes += self.class(8 + len);
                    }
                }
                Ok(())
            },
        )?;
        close(in_slice, &mut bytes);
        let highest = slice.unwrap_or(0);
        bytes += if highest < 1 << 16 {
            8 * (highest + 1).next_power_of_two()
        } else {
            blocks * (24 + 8 * BLOCK_SLOTS)
        };
        Ok(KeyMemory {
            bytes,
            encoding: "sliced-array",
            num_elements: n,
            len_largest_element: longest,
        })
    }

    /// Sizes a plain set, zset or hash too big for a compact encoding from
    /// the string lengths alone. `false` (and `acc` unusable) when the value
    /// is not such a collection or does not parse.
    fn big_plain(&self, vt: ValueType, d: &[u8], acc: &mut Elems) -> bool {
        use ValueType::*;
        let mut cur = Cursor::new(d, 0);
        let Ok(n) = cur.length("collection length") else {
            return false;
        };
        let c = &self.cfg;
        let (per, big) = match vt {
            Set => (1, n > c.set_max_intset_entries),
            Hash => (2, n > c.hash_max_listpack_entries),
            ZSet | ZSet2 => (1, n > c.zset_max_listpack_entries),
            _ => return false,
        };
        if !big || n > (d.len() as u64) {
            return false;
        }
        let q = c.quantum;
        let mut sds = 0u64;
        let mut max_len = 0u64;
        for _ in 0..n {
            for _ in 0..per {
                // The decoded length, without decoding: LZF strings say it.
                let Ok(s) = cur.string("collection element") else {
                    return false;
                };
                let l = s.decoded_len();
                sds += sds_alloc(l, q);
                max_len = max_len.max(l);
            }
            let score = match vt {
                ZSet2 => cur.skip(8, "zset score"),
                // 253..=255 are NaN/+inf/-inf with no digits following.
                ZSet => match cur.u8("zset score") {
                    Ok(l) if l < 253 => cur.skip(l as u64, "zset score"),
                    other => other.map(|_| ()),
                },
                _ => Ok(()),
            };
            if score.is_err() {
                return false;
            }
        }
        if !cur.is_empty() {
            return false;
        }
        acc.n = n;
        acc.sds = sds;
        acc.max_len = max_len;
        acc.all_int = false;
        acc.over_value = true;
        true
    }

    /// Walks a plain list, set, zset or hash (`rdbLoadObject` order) with
    /// the lengths of its strings.
    fn plain(
        &self,
        vt: ValueType,
        cur: &mut Cursor<'_>,
        buf: &mut Vec<u8>,
        acc: &mut Elems,
    ) -> Result<()> {
        use ValueType::*;
        match vt {
            List | Set => {
                let n = cur.count("collection length", 1)?;
                // A big set becomes a hashtable: only lengths matter.
                let need_int = vt == List || n <= self.cfg.set_max_intset_entries;
                for _ in 0..n {
                    let e = Lens::of_str(cur.string("collection element")?, buf, need_int)?;
                    if vt == List {
                        acc.list_item(self, e);
                    } else {
                        acc.single(self, e);
                    }
                }
            }
            ZSet | ZSet2 => {
                let n = cur.count("zset length", if vt == ZSet { 2 } else { 9 })?;
                let small = n <= self.cfg.zset_max_listpack_entries;
                for _ in 0..n {
                    let m = Lens::of_str(cur.string("zset member")?, buf, small)?;
                    let score_lp = if vt == ZSet {
                        let s = cur.ascii_double("zset score")?;
                        if small {
                            score_lp(self, s)
                        } else {
                            0
                        }
                    } else {
                        let s = cur.f64_le("zset score")?;
                        if small {
                            score_lp(self, s)
                        } else {
                            0
                        }
                    };
                    acc.zset_member(self, m, score_lp);
                }
            }
            _ => {
                let n = cur.count("hash length", 2)?;
                let small = n <= self.cfg.hash_max_listpack_entries;
                for _ in 0..n {
                    let f = Lens::of_str(cur.string("hash field")?, buf, small)?;
                    let v = Lens::of_str(cur.string("hash value")?, buf, small)?;
                    acc.hash_field(self, f, v);
                }
            }
        }
        Ok(())
    }

    fn string(&self, s: RdbStr<'_>, buf: &mut Vec<u8>) -> Result<KeyMemory> {
        let len = s.decoded_len();
        let is_int = match s {
            RdbStr::Int(_) => true,
            RdbStr::Raw(b) => b.len() <= 20 && strict_i64(b).is_some(),
            RdbStr::Lzf { .. } if len <= 20 => strict_i64(s.bytes(buf)?).is_some(),
            RdbStr::Lzf { .. } => false,
        };
        let (bytes, encoding) = if is_int {
            (ROBJ, "int")
        } else if len <= 44 {
            (self.class(ROBJ + 3 + len + 1), "embstr")
        } else {
            (ROBJ + self.sds(len), "raw")
        };
        Ok(KeyMemory {
            bytes,
            encoding,
            num_elements: len,
            len_largest_element: len,
        })
    }

    /// `RDB_TYPE_LIST_QUICKLIST_2`: nodes are kept as they are in the file.
    fn quicklist2(&self, cur: &mut Cursor<'_>, buf: &mut Vec<u8>) -> Result<KeyMemory> {
        let nodes = cur.count("quicklist node count", 2)?;
        let mut n = 0u64;
        let mut max_len = 0u64;
        let mut alloc = 0u64;
        let mut single_packed: Option<u64> = None;
        for i in 0..nodes {
            let container = cur.length("quicklist node container")?;
            let s = cur.string("quicklist node")?;
            let len = s.decoded_len();
            alloc += QUICKLIST_NODE + self.class(len);
            if container == crate::rdb::consts::QUICKLIST_NODE_CONTAINER_PLAIN {
                n += 1;
                max_len = max_len.max(len);
                continue;
            }
            if i == 0 {
                single_packed = Some(len);
            }
            let b = s.bytes(buf)?;
            let lp = listpack::parse(b, cur.offset())?;
            for e in lp.iter() {
                max_len = max_len.max(elem_len(&e?));
                n += 1;
            }
        }
        if nodes == 1 {
            if let Some(lp_bytes) = single_packed {
                if let Some(km) = self.small_list(lp_bytes, n, max_len) {
                    return Ok(km);
                }
            }
        }
        Ok(KeyMemory {
            bytes: ROBJ + QUICKLIST + alloc,
            encoding: "quicklist",
            num_elements: n,
            len_largest_element: max_len,
        })
    }

    /// Redis 7.2+: a list of one packed node within the node limits is a
    /// plain listpack.
    fn small_list(&self, lp_bytes: u64, n: u64, max_len: u64) -> Option<KeyMemory> {
        (self.cfg.server == ServerModel::Redis72
            && lp_bytes <= self.ql_limit.0
            && n <= self.ql_limit.1)
            .then(|| KeyMemory {
                bytes: ROBJ + self.class(lp_bytes),
                encoding: "listpack",
                num_elements: n,
                len_largest_element: max_len,
            })
    }

    /// `RDB_TYPE_LIST_QUICKLIST`: every ziplist node becomes a listpack node
    /// of its own (shrunk to fit).
    fn quicklist_ziplists(&self, cur: &mut Cursor<'_>, buf: &mut Vec<u8>) -> Result<KeyMemory> {
        let nodes = cur.count("quicklist node count", 1)?;
        let mut n = 0u64;
        let mut max_len = 0u64;
        let mut alloc = 0u64;
        let mut last_lp = 0;
        for _ in 0..nodes {
            let b = cur.string("quicklist ziplist node")?.bytes(buf)?;
            let zl = ziplist::parse(b, cur.offset())?;
            let mut lp = LP_OVERHEAD;
            let mut k = 0;
            for e in zl.iter() {
                let e = e?;
                max_len = max_len.max(elem_len(&e));
                lp += elem_lp(&e);
                k += 1;
            }
            if k == 0 {
                continue; // the server drops empty nodes
            }
            n += k;
            last_lp = lp;
            alloc += QUICKLIST_NODE + self.class(lp);
        }
        if nodes == 1 {
            if let Some(km) = self.small_list(last_lp, n, max_len) {
                return Ok(km);
            }
        }
        Ok(KeyMemory {
            bytes: ROBJ + QUICKLIST + alloc,
            encoding: "quicklist",
            num_elements: n,
            len_largest_element: max_len,
        })
    }

    fn finish_list_plain(&self, acc: &mut Elems) -> KeyMemory {
        acc.ql.close(self);
        if acc.ql.nodes == 1 {
            if let Some(km) = self.small_list(acc.ql.last_lp, acc.n, acc.max_len) {
                return km;
            }
        }
        KeyMemory {
            bytes: ROBJ + QUICKLIST + acc.ql.alloc,
            encoding: "quicklist",
            num_elements: acc.n,
            len_largest_element: acc.max_len,
        }
    }

    fn set_ht(&self, n: u64, sds: u64, max_len: u64) -> KeyMemory {
        self.set_ht_with(self.dict(n), n, sds, max_len)
    }

    fn set_ht_with(&self, dict: u64, n: u64, sds: u64, max_len: u64) -> KeyMemory {
        KeyMemory {
            bytes: ROBJ + dict + n * DICT_ENTRY + sds,
            encoding: "hashtable",
            num_elements: n,
            len_largest_element: max_len,
        }
    }

    /// A set's encoding from its members; `lp_blob` is the file's listpack
    /// size when the file holds one (kept as is).
    fn finish_set(&self, acc: &Elems, lp_blob: Option<u64>) -> KeyMemory {
        let c = &self.cfg;
        let n = acc.n;
        let km = |bytes, encoding| KeyMemory {
            bytes,
            encoding,
            num_elements: n,
            len_largest_element: acc.max_len,
        };
        if acc.all_int && n <= c.set_max_intset_entries && lp_blob.is_none() {
            return km(ROBJ + self.class(intset_bytes(n, acc.int_width)), "intset");
        }
        if c.server == ServerModel::Redis72 {
            if let Some(blob) = lp_blob {
                if n <= c.set_max_listpack_entries {
                    return km(ROBJ + self.class(blob), "listpack");
                }
            } else if n <= c.set_max_listpack_entries && acc.max_len <= c.set_max_listpack_value {
                return km(ROBJ + self.class(LP_OVERHEAD + acc.lp), "listpack");
            }
        } else if lp_blob.is_some() && acc.all_int && n <= c.set_max_intset_entries {
            return km(ROBJ + self.class(intset_bytes(n, acc.int_width)), "intset");
        }
        match acc.first_nonint_at {
            Some(k) if lp_blob.is_none() && n <= c.set_max_intset_entries => {
                // an intset until member k, then converted and expanded to n
                let mut d = DictSim::default();
                d.expand(k);
                d.add_n(k);
                d.expand(n);
                d.add_n(n - k);
                self.set_ht_with(self.dict_sim(&d), n, acc.sds, acc.max_len)
            }
            _ => self.set_ht(n, acc.sds, acc.max_len),
        }
    }

    fn finish_zset(&self, acc: &Elems, lp_blob: Option<u64>, check_value: bool) -> KeyMemory {
        let c = &self.cfg;
        let n = acc.n;
        let km = |bytes, encoding| KeyMemory {
            bytes,
            encoding,
            num_elements: n,
            len_largest_element: acc.max_len,
        };
        match lp_blob {
            Some(blob) if n <= c.zset_max_listpack_entries => {
                return km(ROBJ + self.class(blob), "listpack")
            }
            None if n <= c.zset_max_listpack_entries
                && (!check_value || acc.max_len <= c.zset_max_listpack_value) =>
            {
                return km(ROBJ + self.class(LP_OVERHEAD + acc.lp), "listpack")
            }
            _ => {}
        }
        let dict = if lp_blob.is_some() || !check_value {
            // converted from a listpack/ziplist: the dict grows from empty
            let mut d = DictSim::default();
            d.add_n(n);
            self.dict_sim(&d)
        } else {
            self.dict(n)
        };
        let bytes = ROBJ
            + ZSET_STRUCTS
            + dict
            + self.skiplist_header
            + acc.sds
            + n * (DICT_ENTRY + self.skiplist_node);
        km(bytes, "skiplist")
    }

    fn finish_hash(&self, acc: &Elems, lp_blob: Option<u64>, ttl: bool) -> KeyMemory {
        let c = &self.cfg;
        let n = acc.n;
        let km = |bytes, encoding| KeyMemory {
            bytes,
            encoding,
            num_elements: n,
            len_largest_element: acc.max_len,
        };
        let ttl_extra = if ttl { HFE_HASH_EXTRA } else { 0 };
        match lp_blob {
            Some(blob) if n <= c.hash_max_listpack_entries => {
                return km(ROBJ + self.class(blob), "listpack")
            }
            None if n <= c.hash_max_listpack_entries && !acc.over_value => {
                return if ttl {
                    km(
                        ROBJ + ttl_extra + self.class(LP_OVERHEAD + acc.lp),
                        "listpackex",
                    )
                } else {
                    km(ROBJ + self.class(LP_OVERHEAD + acc.lp), "listpack")
                };
            }
            _ => {}
        }
        let dict = match acc.first_long_at {
            Some(k) if lp_blob.is_none() && n <= c.hash_max_listpack_entries && !ttl => {
                // plain hash: a listpack until field k, then converted
                let mut d = DictSim::default();
                d.expand(k);
                d.add_n(k + 1);
                let rest = n - k - 1;
                if rest > 4 {
                    d.expand(rest);
                }
                d.add_n(rest);
                self.dict_sim(&d)
            }
            _ => self.dict(n),
        };
        let bytes =
            ROBJ + dict + n * DICT_ENTRY + acc.sds + ttl_extra + acc.ttl_fields * HFE_FIELD_EXTRA;
        km(bytes, "hashtable")
    }

    fn stream(
        &self,
        rec: &Record<'_>,
        version: StreamVersion,
        buf: &mut Vec<u8>,
    ) -> Result<KeyMemory> {
        // Pass 1: node master IDs and listpack sizes (no decompression).
        let mut cur = Cursor::new(rec.value, rec.value_offset);
        let nodes = cur.count("stream listpack node count", 8)?;
        let mut ids: Vec<[u8; 16]> = Vec::with_capacity(nodes as usize);
        let mut lp_alloc = 0u64;
        for _ in 0..nodes {
            let at = cur.offset();
            let b = cur.string("stream node master ID")?.bytes(buf)?;
            let id: [u8; 16] = b
                .try_into()
                .map_err(|_| Error::invalid(at, "stream node master ID", "not 16 bytes"))?;
            ids.push(id);
            lp_alloc += self.class(cur.string("stream node listpack")?.decoded_len());
        }
        // Pass 2: entries (for the largest element) and groups.
        struct Entries {
            max_len: u64,
        }
        impl stream::StreamVisitor for Entries {
            fn entry(&mut self, _id: StreamId, fields: &[(Elem<'_>, Elem<'_>)]) -> Result<()> {
                for (f, v) in fields {
                    self.max_len = self.max_len.max(elem_len(f)).max(elem_len(v));
                }
                Ok(())
            }
        }
        let mut cur = Cursor::new(rec.value, rec.value_offset);
        let mut ev = Entries { max_len: 0 };
        let meta = stream::decode(&mut cur, version, &mut ev)?;
        let consumer = if self.cfg.server == ServerModel::Redis70 {
            24
        } else {
            32
        };
        let bytes =
            ROBJ + STREAM + rax_memory(&mut ids) + lp_alloc + groups_memory(&meta, consumer);
        Ok(KeyMemory {
            bytes,
            encoding: "stream",
            num_elements: meta.length,
            len_largest_element: ev.max_len,
        })
    }
}

/// Buffers reused across keys (decompressed strings and blobs).
#[derive(Default)]
pub struct Buffers {
    scratch: Scratch,
    blob: Vec<u8>,
}

/// Memory of consumer groups as `objectComputeSize` counts it.
fn groups_memory(meta: &StreamMeta, consumer_struct: u64) -> u64 {
    let mut total = 0;
    for g in &meta.groups {
        let mut pel: Vec<[u8; 16]> = g.pending.iter().map(|p| p.id.to_be_bytes()).collect();
        total += STREAM_CG + rax_memory(&mut pel) + STREAM_NACK * g.pending.len() as u64;
        for c in &g.consumers {
            let mut cp: Vec<[u8; 16]> = c.pending.iter().map(|id| id.to_be_bytes()).collect();
            total += consumer_struct + c.name.len() as u64 + rax_memory(&mut cp);
        }
    }
    total
}

/// `streamRadixTreeMemoryUsage`: 16 bytes per element and 4 + 30 × 8 per
/// node (its first line's `sizeof(rax)` is overwritten by the second).
pub fn rax_memory(keys: &mut [[u8; 16]]) -> u64 {
    keys.sort_unstable();
    16 * keys.len() as u64 + 244 * rax_nodes(keys)
}

/// Number of nodes of a Redis rax holding `keys` (sorted, distinct, all 16
/// bytes long): the compressed trie's branching and leaf nodes, one
/// compressed node for every edge longer than one byte, and the root.
pub fn rax_nodes(keys: &[[u8; 16]]) -> u64 {
    if keys.is_empty() {
        return 1;
    }
    const LEAF: u32 = 16;
    let mut stack: Vec<u32> = vec![LEAF];
    let mut internal = 0u64;
    let mut long_edges = 0u64;
    let mut edge = |child: u32, parent: u32| {
        if child - parent >= 2 {
            long_edges += 1;
        }
    };
    for w in keys.windows(2) {
        let l = w[0]
            .iter()
            .zip(w[1].iter())
            .take_while(|(a, b)| a == b)
            .count() as u32;
        let mut popped: Option<u32> = None;
        while let Some(&top) = stack.last() {
            if top <= l {
                break;
            }
            stack.pop();
            if let Some(p) = popped {
                edge(p, top);
            }
            popped = Some(top);
        }
        if stack.last() != Some(&l) {
            internal += 1;
            stack.push(l);
        }
        if let Some(p) = popped {
            edge(p, l);
        }
        stack.push(LEAF);
    }
    let mut child = stack.pop();
    while let Some(parent) = stack.pop() {
        if let Some(c) = child {
            edge(c, parent);
        }
        child = Some(parent);
    }
    let root_depth = child.unwrap_or(0);
    keys.len() as u64 + internal + long_edges + (root_depth > 0) as u64
}

/// Decimal/byte length of an element.
#[inline]
fn elem_len(e: &Elem<'_>) -> u64 {
    match *e {
        Elem::Bytes(b) => b.len() as u64,
        Elem::Int(i) => dec_len(i),
    }
}

/// Listpack entry bytes of an element as `lpAppend` would store it.
#[inline]
fn elem_lp(e: &Elem<'_>) -> u64 {
    match *e {
        Elem::Bytes(b) => lp_str_entry(b),
        Elem::Int(i) => lp_int_entry(i),
    }
}

/// What the model needs of one element: its length and whether it is an
/// integer the server would store as one.
#[derive(Debug, Clone, Copy)]
struct Lens {
    len: u64,
    int: Option<i64>,
}

impl Lens {
    #[inline]
    fn of(e: &Elem<'_>) -> Lens {
        match *e {
            Elem::Int(i) => Lens {
                len: dec_len(i),
                int: Some(i),
            },
            Elem::Bytes(b) => Lens {
                len: b.len() as u64,
                int: if b.len() <= 20 { strict_i64(b) } else { None },
            },
        }
    }

    /// From a string as stored, decompressing only short LZF strings (the
    /// only ones that could be integers).
    /// With `need_int` false only the length is looked at.
    #[inline]
    fn of_str(s: RdbStr<'_>, buf: &mut Vec<u8>, need_int: bool) -> Result<Lens> {
        if !need_int {
            return Ok(Lens {
                len: s.decoded_len(),
                int: None,
            });
        }
        Ok(match s {
            RdbStr::Int(i) => Lens {
                len: dec_len(i),
                int: Some(i),
            },
            RdbStr::Raw(b) => Lens::of(&Elem::Bytes(b)),
            RdbStr::Lzf { len, .. } if len > 20 => Lens { len, int: None },
            RdbStr::Lzf { .. } => Lens::of(&Elem::Bytes(s.bytes(buf)?)),
        })
    }

    /// Listpack entry bytes as `lpAppend` would store the element.
    #[inline]
    fn lp(&self) -> u64 {
        match self.int {
            Some(i) => lp_int_entry(i),
            None => lp_strlen_entry(self.len),
        }
    }
}

/// Element facts gathered in one walk.
struct Elems {
    /// Elements (pairs for hashes and zsets).
    n: u64,
    max_len: u64,
    /// Σ sds allocation of members / fields and values.
    sds: u64,
    /// Σ listpack entry bytes the elements would take.
    lp: u64,
    /// Some element is longer than the listpack value limit.
    over_value: bool,
    value_limit: u64,
    all_int: bool,
    int_width: u64,
    ttl_fields: u64,
    /// Index of the first hash field whose field or value is over the limit.
    first_long_at: Option<u64>,
    /// Index of the first set member that is not an integer.
    first_nonint_at: Option<u64>,
    ql: QuicklistSim,
}

impl Elems {
    fn new(m: &Model) -> Elems {
        Elems {
            n: 0,
            max_len: 0,
            sds: 0,
            lp: 0,
            over_value: false,
            value_limit: m.cfg.hash_max_listpack_value,
            all_int: true,
            int_width: 2,
            ttl_fields: 0,
            first_long_at: None,
            first_nonint_at: None,
            ql: QuicklistSim::default(),
        }
    }

    #[inline]
    fn touch(&mut self, m: &Model, e: &Lens) -> u64 {
        let l = e.len;
        self.max_len = self.max_len.max(l);
        self.sds += m.sds(l);
        self.over_value |= l > self.value_limit;
        l
    }

    /// A set member.
    #[inline]
    fn single(&mut self, m: &Model, e: Lens) {
        let index = self.n;
        self.n += 1;
        self.touch(m, &e);
        self.lp += e.lp();
        if self.all_int {
            match e.int {
                Some(i) => self.int_width = self.int_width.max(intset_width(i)),
                None => {
                    self.all_int = false;
                    self.first_nonint_at = Some(index);
                }
            }
        }
    }

    #[inline]
    fn hash_field(&mut self, m: &Model, f: Lens, v: Lens) {
        let index = self.n;
        self.n += 1;
        let long = self.touch(m, &f).max(self.touch(m, &v)) > self.value_limit;
        if long && self.first_long_at.is_none() {
            self.first_long_at = Some(index);
        }
        self.lp += f.lp() + v.lp();
    }

    #[inline]
    fn zset_member(&mut self, m: &Model, member: Lens, score_lp: u64) {
        self.n += 1;
        self.touch(m, &member);
        self.lp += member.lp() + score_lp;
    }

    /// A list element into the quicklist simulation.
    #[inline]
    fn list_item(&mut self, m: &Model, e: Lens) {
        self.n += 1;
        self.max_len = self.max_len.max(e.len);
        self.ql.push(m, e.len, e.lp());
    }

    fn pairs_hash<'a, I>(&mut self, m: &Model, mut it: I, off: u64) -> Result<()>
    where
        I: Iterator<Item = Result<Elem<'a>>>,
    {
        while let Some(f) = it.next() {
            let f = f?;
            let v = it
                .next()
                .ok_or_else(|| Error::invalid(off, "hash listpack", "a field without a value"))??;
            self.hash_field(m, Lens::of(&f), Lens::of(&v));
        }
        Ok(())
    }

    fn pairs_zset<'a, I>(&mut self, m: &Model, mut it: I, off: u64) -> Result<()>
    where
        I: Iterator<Item = Result<Elem<'a>>>,
    {
        while let Some(member) = it.next() {
            let member = member?;
            let s = it.next().ok_or_else(|| {
                Error::invalid(off, "zset listpack", "a member without a score")
            })??;
            self.zset_member(m, Lens::of(&member), elem_lp(&s));
        }
        Ok(())
    }
}

/// Quicklist node packing as `quicklistPushTail` does it.
#[derive(Default)]
struct QuicklistSim {
    nodes: u64,
    /// Bytes of the open node's listpack (0: none open).
    cur: u64,
    cur_count: u64,
    alloc: u64,
    last_lp: u64,
}

impl QuicklistSim {
    #[inline]
    fn push(&mut self, m: &Model, sz: u64, entry: u64) {
        let (limit, count_limit) = m.ql_limit;
        let new_sz = self.cur + sz + SIZE_ESTIMATE_OVERHEAD;
        let fits = self.cur > 0
            && if count_limit == u64::MAX {
                new_sz <= limit
            } else {
                new_sz <= SIZE_SAFETY_LIMIT && self.cur_count < count_limit
            };
        if fits {
            self.cur += entry;
            self.cur_count += 1;
        } else {
            self.close(m);
            self.cur = LP_OVERHEAD + entry;
            self.cur_count = 1;
        }
    }

    fn close(&mut self, m: &Model) {
        if self.cur > 0 {
            self.nodes += 1;
            self.alloc += QUICKLIST_NODE + m.class(self.cur);
            self.last_lp = self.cur;
            self.cur = 0;
            self.cur_count = 0;
        }
    }
}

/// Buckets of a pre-sized table: `_dictNextExp`, at least 4.
fn dict_size(n: u64) -> u64 {
    n.max(4).next_power_of_two()
}

/// A Redis dict growing by insertions (`dictAdd`): expands to the next power
/// of two when the load reaches 1:1, and every insertion during a rehash
/// first moves one non-empty bucket of the old table.
#[derive(Debug, Default, Clone, Copy)]
struct DictSim {
    /// Buckets of table 0 (0: not allocated yet).
    s0: u64,
    /// Buckets of table 1 while rehashing, else 0.
    s1: u64,
    used0: u64,
    used1: u64,
    /// Non-empty buckets of table 0 still to move.
    left: u64,
}

impl DictSim {
    fn slots(&self) -> u64 {
        self.s0 + self.s1
    }

    /// `dictExpand(size)`: ignored while rehashing or when too small.
    fn expand(&mut self, size: u64) {
        if self.s1 != 0 || self.used0 > size {
            return;
        }
        let new = dict_size(size);
        if self.s0 == 0 {
            self.s0 = new;
        } else if new != self.s0 {
            self.s1 = new;
            // expected non-empty buckets: s (1 - (1 - 1/s)^used)
            let s = self.s0 as f64;
            let ne = s * (1.0 - (1.0 - 1.0 / s).powf(self.used0 as f64));
            self.left = ne.round() as u64;
            if self.left == 0 {
                self.finish();
            }
        }
    }

    fn finish(&mut self) {
        self.s0 = self.s1;
        self.s1 = 0;
        self.used0 += self.used1;
        self.used1 = 0;
        self.left = 0;
    }

    fn add(&mut self) {
        if self.s1 != 0 {
            // one bucket moves (with its share of the entries)
            let moved = self.used0 / self.left.max(1);
            self.used0 -= moved;
            self.used1 += moved;
            self.left -= 1;
            if self.left == 0 {
                self.used1 += self.used0;
                self.used0 = 0;
                self.finish();
            }
        }
        if self.s1 == 0 {
            if self.s0 == 0 {
                self.expand(4);
            } else if self.used0 >= self.s0 {
                self.expand(self.used0 + 1);
            }
        }
        if self.s1 != 0 {
            self.used1 += 1;
        } else {
            self.used0 += 1;
        }
    }

    fn add_n(&mut self, n: u64) {
        for _ in 0..n {
            self.add();
        }
    }
}

/// Feeds decoded elements into [`Elems`].
struct Visit<'m, 'e> {
    m: &'m Model,
    acc: &'e mut Elems,
}

impl ValueVisitor for Visit<'_, '_> {
    fn list_item(&mut self, v: Elem<'_>) -> Result<()> {
        self.acc.list_item(self.m, Lens::of(&v));
        Ok(())
    }
    fn set_member(&mut self, v: Elem<'_>) -> Result<()> {
        self.acc.single(self.m, Lens::of(&v));
        Ok(())
    }
    fn zset_member(&mut self, member: Elem<'_>, score: f64) -> Result<()> {
        // The listpack size only matters while the zset may still be one.
        let s = if self.acc.n < self.m.cfg.zset_max_listpack_entries {
            score_lp(self.m, score)
        } else {
            0
        };
        self.acc.zset_member(self.m, Lens::of(&member), s);
        Ok(())
    }
    fn hash_field(&mut self, f: Elem<'_>, v: Elem<'_>, _e: Option<i64>) -> Result<()> {
        self.acc.hash_field(self.m, Lens::of(&f), Lens::of(&v));
        Ok(())
    }
}

/// Listpack bytes of a score as `zzlInsertAt` writes it.
fn score_lp(m: &Model, score: f64) -> u64 {
    match m.cfg.server {
        ServerModel::Redis70 => crate::inspect::alloc::lp_score_entry(score),
        ServerModel::Redis72 => {
            if score.is_finite() && score.fract() == 0.0 && score.abs() < 4.5e15 && score != 0.0
                || score == 0.0 && score.is_sign_positive()
            {
                return lp_int_entry(score as i64);
            }
            let mut b = ryu::Buffer::new();
            let l = if score.is_finite() {
                b.format_finite(score).len() as u64
            } else {
                3 + (score < 0.0) as u64
            };
            let body = if l < 64 { 1 + l } else { 2 + l };
            body + listpack::backlen_size(body) as u64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(ms: u64, seq: u64) -> [u8; 16] {
        StreamId { ms, seq }.to_be_bytes()
    }

    #[test]
    fn rax_node_counts() {
        assert_eq!(rax_nodes(&[]), 1);
        // one key: compressed root + leaf
        assert_eq!(rax_nodes(&[id(5, 0)]), 2);
        // two keys differing in the last byte: compressed root (15 bytes),
        // branching node, two leaves
        assert_eq!(rax_nodes(&[id(5, 0), id(5, 1)]), 4);
        // differing in byte 7 (ms low byte): root compressed (7 bytes) ->
        // branch -> two compressed tails (8 bytes) -> two leaves
        assert_eq!(rax_nodes(&[id(5, 0), id(6, 0)]), 6);
        // three keys under one branch
        assert_eq!(rax_nodes(&[id(5, 0), id(5, 1), id(5, 2)]), 5);
    }

    #[test]
    fn config_names() {
        let mut c = ModelConfig::default();
        c.set("hash-max-ziplist-entries", "128").unwrap();
        c.set("list-max-listpack-size", "-3").unwrap();
        c.set("SET-MAX-INTSET-ENTRIES", " 1000 ").unwrap();
        assert_eq!(c.hash_max_listpack_entries, 128);
        assert_eq!(c.list_max_listpack_size, -3);
        assert_eq!(c.set_max_intset_entries, 1000);
        assert!(c.set("maxmemory", "1").is_err());
        assert!(c.set("zset-max-listpack-value", "x").is_err());
    }

    #[test]
    fn dict_growth() {
        let mut d = DictSim::default();
        d.add_n(4);
        assert_eq!(d.slots(), 4);
        d.add_n(1); // 5th: expand to 8, rehash 4 -> 8 in progress
        assert_eq!(d.slots(), 12);
        d.add_n(3);
        assert_eq!(d.slots(), 8);
        // 200 insertions from empty: the 129th doubles to 256, and 71 steps
        // do not finish moving the ~81 non-empty buckets of 128.
        let mut d = DictSim::default();
        d.add_n(200);
        assert_eq!(d.slots(), 128 + 256);
        let mut d = DictSim::default();
        d.add_n(250);
        assert_eq!(d.slots(), 256);
        // pre-sized
        let mut d = DictSim::default();
        d.expand(1000);
        d.add_n(1000);
        assert_eq!(d.slots(), 1024);
    }

    #[test]
    fn rax_memory_sorts() {
        let mut v = vec![id(5, 2), id(5, 0), id(5, 1)];
        assert_eq!(rax_memory(&mut v), 3 * 16 + 5 * 244);
    }
}
