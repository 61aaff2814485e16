//! Element accounting: lengths, listpack entry sizes, and step-by-step
//! simulations of the quicklist fill rule and of dict growth.

use super::*;

/// Decimal/byte length of an element.
#[inline]
pub(super) fn elem_len(e: &Elem<'_>) -> u64 {
    match *e {
        Elem::Bytes(b) => b.len() as u64,
        Elem::Int(i) => dec_len(i),
    }
}

/// Listpack entry bytes of an element as `lpAppend` would store it.
#[inline]
pub(super) fn elem_lp(e: &Elem<'_>) -> u64 {
    match *e {
        Elem::Bytes(b) => lp_str_entry(b),
        Elem::Int(i) => lp_int_entry(i),
    }
}

/// What the model needs of one element: its length and whether it is an
/// integer the server would store as one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Lens {
    pub(super) len: u64,
    pub(super) int: Option<i64>,
}

impl Lens {
    #[inline]
    pub(super) fn of(e: &Elem<'_>) -> Lens {
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
    pub(super) fn of_str(s: RdbStr<'_>, buf: &mut Vec<u8>, need_int: bool) -> Result<Lens> {
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
    pub(super) fn lp(&self) -> u64 {
        match self.int {
            Some(i) => lp_int_entry(i),
            None => lp_strlen_entry(self.len),
        }
    }
}

/// Element facts gathered in one walk.
pub(super) struct Elems {
    /// Elements (pairs for hashes and zsets).
    pub(super) n: u64,
    pub(super) max_len: u64,
    /// Σ sds allocation of members / fields and values.
    pub(super) sds: u64,
    /// Σ listpack entry bytes the elements would take.
    pub(super) lp: u64,
    /// Some element is longer than the listpack value limit.
    pub(super) over_value: bool,
    pub(super) value_limit: u64,
    pub(super) all_int: bool,
    pub(super) int_width: u64,
    pub(super) ttl_fields: u64,
    /// Index of the first hash field whose field or value is over the limit.
    pub(super) first_long_at: Option<u64>,
    /// Index of the first set member that is not an integer.
    pub(super) first_nonint_at: Option<u64>,
    pub(super) ql: QuicklistSim,
}

impl Elems {
    pub(super) fn new(m: &Model) -> Elems {
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
    pub(super) fn touch(&mut self, m: &Model, e: &Lens) -> u64 {
        let l = e.len;
        self.max_len = self.max_len.max(l);
        self.sds += m.sds(l);
        self.over_value |= l > self.value_limit;
        l
    }

    /// A set member.
    #[inline]
    pub(super) fn single(&mut self, m: &Model, e: Lens) {
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
    pub(super) fn hash_field(&mut self, m: &Model, f: Lens, v: Lens) {
        let index = self.n;
        self.n += 1;
        let long = self.touch(m, &f).max(self.touch(m, &v)) > self.value_limit;
        if long && self.first_long_at.is_none() {
            self.first_long_at = Some(index);
        }
        self.lp += f.lp() + v.lp();
    }

    #[inline]
    pub(super) fn zset_member(&mut self, m: &Model, member: Lens, score_lp: u64) {
        self.n += 1;
        self.touch(m, &member);
        self.lp += member.lp() + score_lp;
    }

    /// A list element into the quicklist simulation.
    #[inline]
    pub(super) fn list_item(&mut self, m: &Model, e: Lens) {
        self.n += 1;
        self.max_len = self.max_len.max(e.len);
        self.ql.push(m, e.len, e.lp());
    }

    pub(super) fn pairs_hash<'a, I>(&mut self, m: &Model, mut it: I, off: u64) -> Result<()>
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

    pub(super) fn pairs_zset<'a, I>(&mut self, m: &Model, mut it: I, off: u64) -> Result<()>
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
pub(super) struct QuicklistSim {
    pub(super) nodes: u64,
    /// Bytes of the open node's listpack (0: none open).
    pub(super) cur: u64,
    pub(super) cur_count: u64,
    pub(super) alloc: u64,
    pub(super) last_lp: u64,
}

impl QuicklistSim {
    #[inline]
    pub(super) fn push(&mut self, m: &Model, sz: u64, entry: u64) {
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

    pub(super) fn close(&mut self, m: &Model) {
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
pub(super) fn dict_size(n: u64) -> u64 {
    n.max(4).next_power_of_two()
}

/// A Redis dict growing by insertions (`dictAdd`): expands to the next power
/// of two when the load reaches 1:1, and every insertion during a rehash
/// first moves one non-empty bucket of the old table.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct DictSim {
    /// Buckets of table 0 (0: not allocated yet).
    s0: u64,
    /// Buckets of table 1 while rehashing, else 0.
    s1: u64,
    used0: u64,
    used1: u64,
    /// Non-empty buckets of table 0 still to move.
    pub(super) left: u64,
}

impl DictSim {
    pub(super) fn slots(&self) -> u64 {
        self.s0 + self.s1
    }

    /// `dictExpand(size)`: ignored while rehashing or when too small.
    pub(super) fn expand(&mut self, size: u64) {
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

    pub(super) fn finish(&mut self) {
        self.s0 = self.s1;
        self.s1 = 0;
        self.used0 += self.used1;
        self.used1 = 0;
        self.left = 0;
    }

    pub(super) fn add(&mut self) {
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

    pub(super) fn add_n(&mut self, n: u64) {
        for _ in 0..n {
            self.add();
        }
    }
}

/// Feeds decoded elements into [`Elems`].
pub(super) struct Visit<'m, 'e> {
    pub(super) m: &'m Model,
    pub(super) acc: &'e mut Elems,
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
pub(super) fn score_lp(m: &Model, score: f64) -> u64 {
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
