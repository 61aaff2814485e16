//! Which output file a key goes to: the only one (`rdb`), the master that
//! owns its cluster slot (`split --shards/--nodes/--cluster`), or its
//! database (`split --by-db`).
//!
//! ```text
//! slot = CRC16(hash tag or key) mod 16384      (keyHashSlot, cluster.c)
//! --shards N: slot ranges as `redis-cli --cluster create` assigns them:
//!   per = 16384 / N (float); last_i = lround(cursor + per - 1), cursor += per;
//!   the last master takes the rest
//! ```

use crate::redis::slot::key_slot;

/// Number of cluster slots (`CLUSTER_SLOTS`).
pub const SLOTS: usize = 16384;

/// Where keys go.
#[derive(Debug, Clone)]
pub enum Route {
    One,
    /// Per slot, the output index (`u16::MAX`: no owner).
    Slots(Vec<u16>),
    /// Output index per database, in this order.
    Dbs(Vec<u64>),
}

impl Route {
    pub fn outputs(&self) -> usize {
        match self {
            Route::One => 1,
            Route::Slots(owner) => owner
                .iter()
                .filter(|&&o| o != u16::MAX)
                .max()
                .map_or(0, |&m| m as usize + 1),
            Route::Dbs(dbs) => dbs.len(),
        }
    }

    /// Whether routing looks at the key's bytes.
    pub fn needs_key(&self) -> bool {
        matches!(self, Route::Slots(_))
    }

    /// The output of key `key` of output database `db`.
    pub fn route(&self, db: u64, key: &[u8]) -> Result<usize, String> {
        self.route_slot(db, key).map(|(out, _)| out)
    }

    /// The output of a key and, for a cluster layout, its slot.
    pub fn route_slot(&self, db: u64, key: &[u8]) -> Result<(usize, Option<u16>), String> {
        match self {
            Route::One => Ok((0, None)),
            Route::Slots(owner) => {
                if db != 0 {
                    return Err(format!(
                        "a cluster has only db 0; map db {db} with --db-map {db}=0 (or leave it out with --db)"
                    ));
                }
                let slot = key_slot(key);
                match owner[slot as usize] {
                    u16::MAX => Err(format!("slot {slot} has no master in the given layout")),
                    o => Ok((o as usize, Some(slot))),
                }
            }
            Route::Dbs(dbs) => dbs
                .iter()
                .position(|&d| d == db)
                .map(|o| (o, None))
                .ok_or_else(|| format!("db {db} has no output")),
        }
    }

    /// Per slot, its output (a cluster layout).
    pub fn slot_owners(&self) -> Option<&[u16]> {
        match self {
            Route::Slots(owner) => Some(owner),
            _ => None,
        }
    }
}

/// The slot ranges of `n` masters as `redis-cli --cluster create` assigns
/// them (`clusterManagerCommandCreate`, single-precision like the original).
pub fn even_ranges(n: usize) -> Vec<(u16, u16)> {
    let per = SLOTS as f32 / n as f32;
    let mut cursor = 0f32;
    let mut first = 0i64;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut last = (cursor + per - 1.0).round() as i64;
        if last > SLOTS as i64 || i == n - 1 {
            last = SLOTS as i64 - 1;
        }
        if last < first {
            last = first;
        }
        out.push((first as u16, last as u16));
        first = last + 1;
        cursor += per;
    }
    out
}

/// The owner table of masters' slot ranges (index = master).
pub fn owner_table(masters: &[Vec<(u16, u16)>]) -> Vec<u16> {
    let mut owner = vec![u16::MAX; SLOTS];
    for (i, ranges) in masters.iter().enumerate() {
        for &(a, b) in ranges {
            for s in a..=b.min(SLOTS as u16 - 1) {
                owner[s as usize] = i as u16;
            }
        }
    }
    owner
}

/// A master of a nodes.conf: id, `host:port`, slot ranges.
pub type NodeLine = (String, String, Vec<(u16, u16)>);

/// Masters of a `nodes.conf` (cluster config file): `(id, address, slot
/// ranges)` of every line flagged `master` that owns slots. Migration
/// markers (`[slot->-node]`) are skipped; the `vars` line too.
pub fn parse_nodes_conf(text: &str) -> Result<Vec<NodeLine>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() || f[0] == "vars" {
            continue;
        }
        if f.len() < 8 {
            return Err(format!(
                "nodes.conf line {}: expected at least 8 fields",
                n + 1
            ));
        }
        if !f[2].split(',').any(|x| x == "master") {
            continue;
        }
        let addr = f[1].split(['@', ',']).next().unwrap_or("").to_string();
        let mut ranges = Vec::new();
        for tok in &f[8..] {
            if tok.starts_with('[') {
                continue;
            }
            let (a, b) = tok.split_once('-').unwrap_or((tok, tok));
            let parse = |x: &str| {
                x.parse::<u16>()
                    .ok()
                    .filter(|&s| (s as usize) < SLOTS)
                    .ok_or_else(|| format!("nodes.conf line {}: bad slot {x:?}", n + 1))
            };
            ranges.push((parse(a)?, parse(b)?));
        }
        if !ranges.is_empty() {
            out.push((f[0].to_string(), addr, ranges));
        }
    }
    if out.is_empty() {
        return Err("nodes.conf names no master with slots".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_cli_ranges() {
        assert_eq!(
            even_ranges(3),
            vec![(0, 5460), (5461, 10922), (10923, 16383)]
        );
        assert_eq!(even_ranges(1), vec![(0, 16383)]);
        let r = even_ranges(7);
        assert_eq!(r[0].0, 0);
        assert_eq!(r[6].1, 16383);
        assert!(r.windows(2).all(|w| w[1].0 == w[0].1 + 1));
    }

    #[test]
    fn nodes_conf() {
        let t = "a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5461->-b2]\n\
                 b2 127.0.0.1:7001@17001,host master - 0 0 2 connected 5461-10922 16000\n\
                 c3 127.0.0.1:7002@17002 slave a1 0 0 1 connected\n\
                 vars currentEpoch 3 lastVoteEpoch 0\n";
        let m = parse_nodes_conf(t).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(
            m[0],
            ("a1".into(), "127.0.0.1:7000".into(), vec![(0, 5460)])
        );
        assert_eq!(m[1].2, vec![(5461, 10922), (16000, 16000)]);
    }
}
