//! Aggregation of keys by prefix levels: with separator `:` and depth 3, the
//! key `user:123:name` counts towards `user:*` (level 1) and `user:123:*`
//! (level 2); a key needs `d` separators to have a level-`d` prefix. Keys
//! without any separator are counted in a level-1 bucket `(no prefix)`.
//!
//! Memory is bounded whatever the number of keys: each level keeps at most
//! `limit` prefixes. When a level holds twice that many, the ones with the
//! fewest bytes are folded into the level's `(other)` bucket and only the
//! top `limit` stay. A prefix folded away that shows up again starts from
//! zero, so its own figures can be low and `(other)` correspondingly high;
//! prefixes whose keys are a large share of the memory are never folded.
//! Totals per level (named prefixes + `(other)`) are always exact.

use std::collections::HashMap;

/// Counts of one prefix.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Agg {
    pub keys: u64,
    pub bytes: u64,
    pub serialized: u64,
}

impl Agg {
    #[inline]
    pub fn add(&mut self, o: &Agg) {
        self.keys += o.keys;
        self.bytes += o.bytes;
        self.serialized += o.serialized;
    }
}

/// Name of the bucket for keys without a separator.
pub const NO_PREFIX: &[u8] = b"(no prefix)";
/// Name of the bucket of prefixes folded away.
pub const OTHER: &[u8] = b"(other)";

/// How to cut keys.
#[derive(Debug, Clone)]
pub struct PrefixOptions {
    pub separator: Vec<u8>,
    pub depth: usize,
    /// Prefixes kept per level (see the module docs).
    pub limit: usize,
}

impl Default for PrefixOptions {
    fn default() -> Self {
        PrefixOptions {
            separator: b":".to_vec(),
            depth: 3,
            limit: 5000,
        }
    }
}

/// Per-level maps of prefix (including the trailing separator, without the
/// `*`) to counts.
#[derive(Debug, Default, Clone)]
pub struct Prefixes {
    pub levels: Vec<HashMap<Vec<u8>, Agg>>,
    pub other: Vec<Agg>,
}

/// One row of the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixRow {
    /// 1-based level.
    pub level: usize,
    /// `user:123:*`, `(no prefix)` or `(other)`.
    pub prefix: Vec<u8>,
    pub agg: Agg,
}

impl Prefixes {
    pub fn new(depth: usize) -> Prefixes {
        Prefixes {
            levels: (0..depth.max(1)).map(|_| HashMap::new()).collect(),
            other: vec![Agg::default(); depth.max(1)],
        }
    }

    /// Counts one key at every level it has.
    #[inline]
    pub fn add_key(&mut self, key: &[u8], sep: &[u8], a: &Agg) {
        let mut level = 0;
        let mut from = 0;
        if sep.is_empty() {
            return;
        }
        while level < self.levels.len() {
            let Some(i) = find(&key[from..], sep) else {
                break;
            };
            let end = from + i + sep.len();
            bump(&mut self.levels[level], &key[..end], a);
            level += 1;
            from = end;
        }
        if level == 0 {
            bump(&mut self.levels[0], NO_PREFIX, a);
        }
    }

    /// Adds another partial result, then folds levels over the limit.
    pub fn merge(&mut self, o: Prefixes, limit: usize) {
        for (i, m) in o.levels.into_iter().enumerate() {
            if i >= self.levels.len() {
                break;
            }
            let dst = &mut self.levels[i];
            for (k, a) in m {
                dst.entry(k).or_default().add(&a);
            }
            self.other[i].add(&o.other[i]);
            if dst.len() > limit.max(1) * 2 {
                fold(dst, &mut self.other[i], limit.max(1));
            }
        }
    }

    /// The rows, level by level, each level by bytes (largest first), with
    /// `(other)` last; at most `limit` named prefixes per level.
    pub fn rows(mut self, limit: usize) -> Vec<PrefixRow> {
        let mut out = Vec::new();
        for (i, m) in self.levels.iter_mut().enumerate() {
            if m.len() > limit {
                fold(m, &mut self.other[i], limit);
            }
            let mut v: Vec<(Vec<u8>, Agg)> = m.drain().collect();
            v.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then_with(|| a.0.cmp(&b.0)));
            for (mut p, agg) in v {
                if p != NO_PREFIX {
                    p.push(b'*');
                }
                out.push(PrefixRow {
                    level: i + 1,
                    prefix: p,
                    agg,
                });
            }
            if self.other[i].keys > 0 {
                out.push(PrefixRow {
                    level: i + 1,
                    prefix: OTHER.to_vec(),
                    agg: self.other[i],
                });
            }
        }
        out
    }
}

#[inline]
fn bump(m: &mut HashMap<Vec<u8>, Agg>, k: &[u8], a: &Agg) {
    match m.get_mut(k) {
        Some(x) => x.add(a),
        None => {
            m.insert(k.to_vec(), *a);
        }
    }
}

/// Keeps the `limit` prefixes with the most bytes, folds the rest into `other`.
fn fold(m: &mut HashMap<Vec<u8>, Agg>, other: &mut Agg, limit: usize) {
    let mut v: Vec<(Vec<u8>, Agg)> = m.drain().collect();
    v.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then_with(|| a.0.cmp(&b.0)));
    for (k, a) in v.drain(limit.min(v.len())..) {
        if k == NO_PREFIX {
            // keep the no-prefix bucket whatever its size
            m.insert(k, a);
        } else {
            other.add(&a);
        }
    }
    m.extend(v);
}

#[inline]
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.len() == 1 {
        return hay.iter().position(|&b| b == needle[0]);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(bytes: u64) -> Agg {
        Agg {
            keys: 1,
            bytes,
            serialized: 1,
        }
    }

    #[test]
    fn levels() {
        let mut p = Prefixes::new(3);
        p.add_key(b"user:1:name", b":", &a(10));
        p.add_key(b"user:1:age", b":", &a(5));
        p.add_key(b"user:2", b":", &a(7));
        p.add_key(b"plain", b":", &a(3));
        let rows = p.rows(10);
        let get = |l: usize, k: &[u8]| {
            rows.iter()
                .find(|r| r.level == l && r.prefix == k)
                .map(|r| r.agg)
        };
        assert_eq!(get(1, b"user:*").unwrap().bytes, 22);
        assert_eq!(get(1, b"user:*").unwrap().keys, 3);
        assert_eq!(get(1, NO_PREFIX).unwrap().bytes, 3);
        assert_eq!(get(2, b"user:1:*").unwrap().keys, 2);
        assert_eq!(get(2, b"user:2:*"), None);
        assert!(rows.iter().all(|r| r.level < 3));
    }

    #[test]
    fn bounded() {
        let mut total = Prefixes::new(1);
        for chunk in 0..10 {
            let mut p = Prefixes::new(1);
            for i in 0..100u64 {
                let k = format!("p{}:x", chunk * 100 + i);
                p.add_key(k.as_bytes(), b":", &a(i + 1));
            }
            total.merge(p, 50);
            assert!(total.levels[0].len() <= 100);
        }
        let rows = total.rows(50);
        assert_eq!(rows.len(), 51);
        let sum: u64 = rows.iter().map(|r| r.agg.bytes).sum();
        assert_eq!(sum, 10 * (100 * 101 / 2));
        assert_eq!(rows.last().unwrap().prefix, OTHER);
    }

    #[test]
    fn multi_byte_separator() {
        let mut p = Prefixes::new(2);
        p.add_key(b"a::b::c", b"::", &a(1));
        let rows = p.rows(10);
        assert_eq!(rows[0].prefix, b"a::*");
        assert_eq!(rows[1].prefix, b"a::b::*");
    }
}
