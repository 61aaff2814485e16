//! CRC-64 of RDB files (the 8-byte trailer written since RDB version 5).
//!
//! Mirrors `crc64` in Redis' `src/crc64.c`: the "Jones" CRC-64, catalogued
//! as CRC-64/REDIS.
//!
//! ```text
//! width 64, poly 0xad93d23594c935a9 (reflected form 0x95ac9329ac4bc9b5),
//! init 0, refin true, refout true, xorout 0, check("123456789") = 0xe9c6d914c4b8d9ca
//!
//! file:  [ ... content ... ][ crc64(0, content) as u64 little endian ]
//! ```
//!
//! Because init and xorout are both zero, the register *is* the checksum,
//! so a running checksum can be continued directly:
//! `crc64(crc64(0, a), b) == crc64(0, a ++ b)`.
//!
//! [`crc64`] uses the `crc-fast` crate (carry-less multiply folding, several
//! GB/s); [`crc64_table`] is a portable slice-by-8 table implementation kept
//! as the reference for tests and as a fallback.

use std::sync::OnceLock;

use crc_fast::{checksum_with_params, CrcParams};

/// The Jones polynomial in normal (MSB-first) form, as the CRC catalogue
/// and `crc-fast` take it.
pub const POLY: u64 = 0xad93_d235_94c9_35a9;

/// The catalogue check value: CRC of `b"123456789"`.
pub const CHECK: u64 = 0xe9c6_d914_c4b8_d9ca;

/// The `crc-fast` parameters, built once: `CrcParams::new` derives the
/// folding keys (through a locked cache), which is too slow to repeat on
/// every call for small buffers.
fn params() -> &'static CrcParams {
    static PARAMS: OnceLock<CrcParams> = OnceLock::new();
    PARAMS.get_or_init(|| CrcParams::new("CRC-64/REDIS (Jones)", 64, POLY, 0, true, 0, CHECK))
}

/// Inputs shorter than this go to the table implementation.
const SMALL: usize = 128;

/// Continues the CRC-64 `crc` over `data` (start with `crc = 0`).
#[inline]
pub fn crc64(crc: u64, data: &[u8]) -> u64 {
    // Below this size the fixed cost of the SIMD path (copying the
    // parameters, CPU-feature dispatch, folding setup) outweighs its speed;
    // the table loop is faster there (measured crossover between 64 and 128
    // bytes on x86-64 with PCLMULQDQ).
    if data.len() < SMALL {
        return crc64_table(crc, data);
    }
    simd(crc, data)
}

/// The `crc-fast` path alone, whatever the length.
#[inline]
fn simd(crc: u64, data: &[u8]) -> u64 {
    // With init = xorout = 0 and a reflected 64-bit CRC, the algorithm's
    // internal state is the checksum itself, so a running value is resumed
    // by starting the calculation from it.
    let mut p = *params();
    p.init = crc;
    p.init_algorithm = crc;
    checksum_with_params(p, data)
}

/// Slice-by-8 tables for the reflected polynomial; `TABLES[0]` is the plain
/// byte-at-a-time table, `TABLES[k][b]` is the CRC of byte `b` followed by
/// `k` zero bytes.
static TABLES: [[u64; 256]; 8] = make_tables();

const fn make_tables() -> [[u64; 256]; 8] {
    let rpoly = POLY.reverse_bits();
    let mut t = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u64;
        let mut bit = 0;
        while bit < 8 {
            c = if c & 1 == 1 { (c >> 1) ^ rpoly } else { c >> 1 };
            bit += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

/// Continues the CRC-64 `crc` over `data` with a table-driven, slice-by-8
/// implementation (no SIMD, no dependencies).
pub fn crc64_table(mut crc: u64, data: &[u8]) -> u64 {
    let t = &TABLES;
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        crc ^= u64::from_le_bytes(w);
        crc = t[7][(crc & 0xff) as usize]
            ^ t[6][((crc >> 8) & 0xff) as usize]
            ^ t[5][((crc >> 16) & 0xff) as usize]
            ^ t[4][((crc >> 24) & 0xff) as usize]
            ^ t[3][((crc >> 32) & 0xff) as usize]
            ^ t[2][((crc >> 40) & 0xff) as usize]
            ^ t[1][((crc >> 48) & 0xff) as usize]
            ^ t[0][(crc >> 56) as usize];
    }
    for &b in chunks.remainder() {
        crc = t[0][((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bit-at-a-time definition, independent of both implementations.
    fn bitwise(mut crc: u64, data: &[u8]) -> u64 {
        let rpoly = POLY.reverse_bits();
        for &b in data {
            crc ^= b as u64;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ rpoly
                } else {
                    crc >> 1
                };
            }
        }
        crc
    }

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn check_value() {
        assert_eq!(crc64(0, b"123456789"), CHECK);
        assert_eq!(crc64_table(0, b"123456789"), CHECK);
        assert_eq!(bitwise(0, b"123456789"), CHECK);
    }

    #[test]
    fn redis_test_vector() {
        // From the self-test in Redis' crc64.c, which hashes `sizeof(li)`
        // bytes: the text plus its terminating NUL (446 bytes).
        let li = concat!(
            "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed ",
            "do eiusmod tempor incididunt ut labore et dolore magna ",
            "aliqua. Ut enim ad minim veniam, quis nostrud exercitation ",
            "ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis ",
            "aute irure dolor in reprehenderit in voluptate velit esse ",
            "cillum dolore eu fugiat nulla pariatur. Excepteur sint ",
            "occaecat cupidatat non proident, sunt in culpa qui officia ",
            "deserunt mollit anim id est laborum.\0"
        )
        .as_bytes();
        assert_eq!(li.len(), 446);
        assert_eq!(crc64(0, li), 0xc7794709e69683b3);
        assert_eq!(crc64_table(0, li), 0xc7794709e69683b3);
    }

    #[test]
    fn empty_input_is_identity() {
        assert_eq!(crc64(0, b""), 0);
        assert_eq!(crc64(0x1234, b""), 0x1234);
        assert_eq!(crc64_table(0x1234, b""), 0x1234);
    }

    #[test]
    fn matches_crc_fast_builtin_redis_algorithm() {
        let d = noise(10_000, 42);
        assert_eq!(
            crc64(0, &d),
            crc_fast::checksum(crc_fast::CrcAlgorithm::Crc64Redis, &d)
        );
    }

    #[test]
    fn incremental_equals_one_shot() {
        let d = noise(5000, 1);
        let whole = crc64(0, &d);
        assert_eq!(crc64_table(0, &d), whole);
        for split in [
            0, 1, 7, 8, 9, 63, 64, 65, 255, 256, 1000, 4095, 4096, 4999, 5000,
        ] {
            let (a, b) = d.split_at(split);
            assert_eq!(crc64(crc64(0, a), b), whole, "split {split}");
            assert_eq!(simd(simd(0, a), b), whole, "split {split}");
            assert_eq!(crc64_table(crc64_table(0, a), b), whole, "split {split}");
            // Mixing the two implementations must also work.
            assert_eq!(crc64_table(crc64(0, a), b), whole, "split {split}");
            assert_eq!(crc64(crc64_table(0, a), b), whole, "split {split}");
        }
    }

    #[test]
    fn implementations_agree_on_every_small_length() {
        let d = noise(300, 99);
        for n in 0..=300 {
            for start in [0, 1, 3] {
                let s = &d[start.min(n)..n];
                let want = bitwise(0, s);
                assert_eq!(crc64(0, s), want, "len {n} start {start}");
                assert_eq!(crc64_table(0, s), want, "len {n} start {start}");
                assert_eq!(simd(0, s), want, "len {n} start {start}");
                assert_eq!(
                    simd(0x0123_4567_89ab_cdef, s),
                    bitwise(0x0123_4567_89ab_cdef, s)
                );
                assert_eq!(crc64(0xdead_beef, s), bitwise(0xdead_beef, s));
            }
        }
    }

    #[test]
    fn implementations_agree_on_megabytes() {
        for (n, seed) in [(1 << 20, 5u64), (3 * (1 << 20) + 13, 6)] {
            let d = noise(n, seed);
            assert_eq!(crc64(0, &d), crc64_table(0, &d), "len {n}");
        }
    }

    #[test]
    fn matches_trailer_of_real_rdb() {
        let path = "/work/shared/fixtures/redis-7.0.15/default.rdb";
        let Ok(file) = std::fs::read(path) else {
            eprintln!("skipping: {path} not present");
            return;
        };
        let (body, trailer) = file.split_at(file.len() - 8);
        let stored = u64::from_le_bytes(trailer.try_into().unwrap());
        assert_ne!(stored, 0, "fixture has a checksum");
        assert_eq!(crc64(0, body), stored);
        assert_eq!(crc64_table(0, body), stored);
        // Streaming in uneven pieces, as a reader over a file would.
        let mut crc = 0;
        for piece in body.chunks(4093) {
            crc = crc64(crc, piece);
        }
        assert_eq!(crc, stored);
    }

    /// `cargo test --release --lib crc64::tests::throughput -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn throughput() {
        use std::hint::black_box;
        use std::time::Instant;
        let d = noise(64 << 20, 77);
        let mb = d.len() as f64 / 1e6;
        for (name, f) in [
            ("crc64", crc64 as fn(u64, &[u8]) -> u64),
            ("table", crc64_table),
            ("simd-only", simd),
        ] {
            let _ = f(0, black_box(&d)); // warm up
            let runs = 5;
            let t = Instant::now();
            let mut acc = 0;
            for _ in 0..runs {
                acc ^= f(0, black_box(&d));
            }
            let secs = t.elapsed().as_secs_f64();
            println!(
                "{name:>9}: {:>8.0} MB/s ({acc:016x})",
                mb * runs as f64 / secs
            );
        }
        // Small buffers: per-call overhead matters for record-by-record use.
        for size in [16usize, 32, 64, 128, 256, 4096] {
            let buf = &d[..size];
            for (name, f) in [
                ("crc64", crc64 as fn(u64, &[u8]) -> u64),
                ("table", crc64_table),
                ("simd-only", simd),
            ] {
                let iters = (256 << 20) / size;
                let t = Instant::now();
                let mut acc = 0;
                for _ in 0..iters {
                    acc = f(acc, black_box(buf));
                }
                let secs = t.elapsed().as_secs_f64();
                println!(
                    "{name:>9} {size:>5} B calls: {:>8.0} MB/s ({acc:016x})",
                    (iters * size) as f64 / 1e6 / secs
                );
            }
        }
    }
}
