//! `--sample N`: a uniform random sample of N keys, reproducible from a seed.
//!
//! Reservoir sampling (Vitter's algorithm R) over the keys that would be
//! checked, in file order (files in command-line order): the i-th key
//! (0-based) replaces a random slot of the reservoir with probability N/(i+1),
//! so every key ends up in the sample with probability N/population. The
//! generator is SplitMix64, seeded by the user (or by the clock, and then
//! reported), so the same seed over the same files picks the same keys.

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast and good enough for
/// choosing sample slots.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`), by multiply-shift: the bias is at most
    /// n / 2^64, far below anything a sample can show.
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// A seed from the clock, for runs without `--seed`.
pub fn clock_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    SplitMix64::new(t ^ (std::process::id() as u64) << 32).next_u64()
}

/// The reservoir: `(file index, record offset)` of the chosen keys.
#[derive(Debug, Clone)]
pub struct Reservoir {
    size: usize,
    seen: u64,
    rng: SplitMix64,
    items: Vec<(usize, u64)>,
}

impl Reservoir {
    pub fn new(size: usize, seed: u64) -> Self {
        Reservoir {
            size,
            seen: 0,
            rng: SplitMix64::new(seed),
            items: Vec::with_capacity(size.min(1 << 20)),
        }
    }

    /// Offers the next key of the population.
    pub fn offer(&mut self, item: (usize, u64)) {
        if self.items.len() < self.size {
            self.items.push(item);
        } else {
            let j = self.rng.below(self.seen + 1);
            if (j as usize) < self.size {
                self.items[j as usize] = item;
            }
        }
        self.seen += 1;
    }

    /// How many keys were offered.
    pub fn population(&self) -> u64 {
        self.seen
    }

    /// The chosen record offsets of each of `files` files, sorted.
    pub fn per_file(&self, files: usize) -> Vec<Vec<u64>> {
        let mut out = vec![Vec::new(); files];
        for &(f, off) in &self.items {
            out[f].push(off);
        }
        for v in &mut out {
            v.sort_unstable();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sample() {
        let run = |seed| {
            let mut r = Reservoir::new(10, seed);
            for i in 0..1000 {
                r.offer((0, i));
            }
            r.per_file(1)
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        assert_eq!(run(7)[0].len(), 10);
    }

    #[test]
    fn small_population_is_taken_whole() {
        let mut r = Reservoir::new(10, 1);
        for i in 0..4 {
            r.offer((i % 2, i as u64));
        }
        assert_eq!(r.population(), 4);
        assert_eq!(r.per_file(2), vec![vec![0, 2], vec![1, 3]]);
    }

    #[test]
    fn roughly_uniform() {
        // Each of 100 items should be picked about 10 % of the time over
        // 2000 samples of 10: 200 expected, allow a wide band.
        let mut hits = [0u32; 100];
        for seed in 0..2000 {
            let mut r = Reservoir::new(10, seed);
            for i in 0..100 {
                r.offer((0, i));
            }
            for off in &r.per_file(1)[0] {
                hits[*off as usize] += 1;
            }
        }
        assert!(hits.iter().all(|&h| (120..=290).contains(&h)), "{hits:?}");
    }

    #[test]
    fn below_stays_in_range() {
        let mut g = SplitMix64::new(3);
        for n in [1u64, 2, 3, 1000, u64::MAX] {
            for _ in 0..100 {
                assert!(g.below(n) < n);
            }
        }
    }
}
