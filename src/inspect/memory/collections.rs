//! Strings, lists, sets, sorted sets, hashes and arrays.

use super::sim::*;
use super::*;

impl Model {
    /// An array, approximately (see the module docs): slices of 4096
    /// indices (`AR_SLICE_SIZE_DEFAULT`), their directory, long strings.
    pub(super) fn array(&self, cur: &mut Cursor<'_>) -> Result<KeyMemory> {
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
    pub(super) fn big_plain(&self, vt: ValueType, d: &[u8], acc: &mut Elems) -> bool {
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
    pub(super) fn plain(
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

    pub(super) fn string(&self, s: RdbStr<'_>, buf: &mut Vec<u8>) -> Result<KeyMemory> {
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
    pub(super) fn quicklist2(&self, cur: &mut Cursor<'_>, buf: &mut Vec<u8>) -> Result<KeyMemory> {
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
    pub(super) fn small_list(&self, lp_bytes: u64, n: u64, max_len: u64) -> Option<KeyMemory> {
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
    pub(super) fn quicklist_ziplists(
        &self,
        cur: &mut Cursor<'_>,
        buf: &mut Vec<u8>,
    ) -> Result<KeyMemory> {
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

    pub(super) fn finish_list_plain(&self, acc: &mut Elems) -> KeyMemory {
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

    pub(super) fn set_ht(&self, n: u64, sds: u64, max_len: u64) -> KeyMemory {
        self.set_ht_with(self.dict(n), n, sds, max_len)
    }

    pub(super) fn set_ht_with(&self, dict: u64, n: u64, sds: u64, max_len: u64) -> KeyMemory {
        KeyMemory {
            bytes: ROBJ + dict + n * DICT_ENTRY + sds,
            encoding: "hashtable",
            num_elements: n,
            len_largest_element: max_len,
        }
    }

    /// A set's encoding from its members; `lp_blob` is the file's listpack
    /// size when the file holds one (kept as is).
    pub(super) fn finish_set(&self, acc: &Elems, lp_blob: Option<u64>) -> KeyMemory {
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

    pub(super) fn finish_zset(
        &self,
        acc: &Elems,
        lp_blob: Option<u64>,
        check_value: bool,
    ) -> KeyMemory {
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

    pub(super) fn finish_hash(&self, acc: &Elems, lp_blob: Option<u64>, ttl: bool) -> KeyMemory {
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
}
