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

mod collections;
mod sim;
mod streams;

use self::sim::*;
pub use self::streams::{rax_memory, rax_nodes};

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
}

/// Buffers reused across keys (decompressed strings and blobs).
#[derive(Default)]
pub struct Buffers {
    scratch: Scratch,
    blob: Vec<u8>,
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
