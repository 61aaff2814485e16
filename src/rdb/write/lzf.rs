//! LZF compression of the strings a writer re-encodes, as a server saves
//! them with `rdbcompression yes` (the default): `rdbSaveRawString` offers
//! every string longer than 20 bytes to `rdbSaveLzfStringObject`, which
//! keeps the compressed form only when it fits in `len - 4` bytes. The
//! instruction format is drawn in [`crate::rdb::lzf`] (the decompressor).
//!
//! Hand-written rather than from a crate: the LZF crates (`lzf`,
//! `lzf-rust`) zero a 65,536-entry hash table on every call, which costs
//! more than compressing the 21–200 byte strings most values are; here the
//! table is sized to the input and kept per thread. Any valid LZF stream
//! reads back the same, so the output need not be liblzf's byte for byte.

use std::cell::RefCell;

/// `rdbSaveRawString`: only strings longer than this are compressed.
pub const MIN_LEN: usize = 20;

/// Longest back reference (`7 + 255 + 2`) and farthest (`2^13`).
const MAX_REF: usize = 264;
const WINDOW: usize = 1 << 13;
/// Longest literal run.
const MAX_LIT: usize = 32;

thread_local! {
    /// Hash of 3 bytes → position + 1 of their last occurrence.
    static TABLE: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
}

/// Appends the LZF form of `s` to `out` when it takes at most `max` bytes
/// and returns its length; otherwise leaves `out` as it was.
pub fn compress_into(s: &[u8], out: &mut Vec<u8>, max: usize) -> Option<usize> {
    // Table bits: about twice the input's positions, 2^8..2^14 entries.
    let bits = (usize::BITS - s.len().leading_zeros() + 1).clamp(8, 14);
    TABLE.with(|t| {
        let mut t = t.borrow_mut();
        t.clear();
        t.resize(1 << bits, 0);
        compress_with(s, out, max, &mut t, bits)
    })
}

/// Three bytes at `p` (and the byte after them, masked off): one load.
fn load3(s: &[u8], p: usize) -> u32 {
    u32::from_le_bytes([s[p], s[p + 1], s[p + 2], s[p + 3]]) & 0x00FF_FFFF
}

/// How many bytes `s[a..]` and `s[b..]` have in common, at most `most`:
/// eight at a time, the first difference found by the XOR's low zero bits.
fn common(s: &[u8], a: usize, b: usize, most: usize) -> usize {
    let word = |p: usize| u64::from_le_bytes(s[p..p + 8].try_into().unwrap_or([0; 8]));
    let mut len = 0;
    while len + 8 <= most {
        let x = word(a + len) ^ word(b + len);
        if x != 0 {
            return len + (x.trailing_zeros() / 8) as usize;
        }
        len += 8;
    }
    while len < most && s[a + len] == s[b + len] {
        len += 1;
    }
    len
}

/// The greedy match search of liblzf's format: a hash of the next 3
/// bytes names the last position they were seen at. After 32 misses in
/// a row the search steps over more bytes each time (as LZ4 does): random
/// bytes (most values) rarely hold a match, and probing each position
/// cost most of the time; a match resets the step. The last 3 bytes are
/// never a match start (4-byte loads); they go out as literals.
fn compress_with(
    s: &[u8],
    out: &mut Vec<u8>,
    max: usize,
    table: &mut [u32],
    bits: u32,
) -> Option<usize> {
    let start = out.len();
    let limit = start + max;
    out.reserve(max.min(s.len() + s.len() / MAX_LIT + 1) + 3);
    let (mut lit, mut i, mut misses) = (0usize, 0usize, 0usize);
    while i + 4 <= s.len() {
        let v = load3(s, i);
        let h = (v.wrapping_mul(0x9E37_79B1) >> (32 - bits)) as usize;
        let cand = table[h] as usize;
        table[h] = (i + 1) as u32;
        if cand > 0 && i - (cand - 1) <= WINDOW && load3(s, cand - 1) == v {
            let c = cand - 1;
            let most = (s.len() - i).min(MAX_REF);
            let len = 3 + common(s, c + 3, i + 3, most - 3);
            put_literals(out, &s[lit..i]);
            put_ref(out, len, i - c);
            if out.len() > limit {
                out.truncate(start);
                return None;
            }
            i += len;
            lit = i;
            misses = 0;
            continue;
        }
        misses += 1;
        i += 1 + (misses >> 5);
    }
    put_literals(out, &s[lit..]);
    if out.len() > limit {
        out.truncate(start);
        return None;
    }
    Some(out.len() - start)
}

/// Literal runs of at most 32 bytes: `000LLLLL` then the bytes.
fn put_literals(out: &mut Vec<u8>, mut b: &[u8]) {
    while !b.is_empty() {
        let n = b.len().min(MAX_LIT);
        out.push((n - 1) as u8);
        out.extend_from_slice(&b[..n]);
        b = &b[n..];
    }
}

/// A back reference of `len` (3..=264) bytes, `dist` (1..=8192) back.
fn put_ref(out: &mut Vec<u8>, len: usize, dist: usize) {
    let (l, o) = (len - 2, dist - 1);
    if l < 7 {
        out.extend_from_slice(&[((l << 5) | (o >> 8)) as u8, o as u8]);
    } else {
        out.extend_from_slice(&[((7 << 5) | (o >> 8)) as u8, (l - 7) as u8, o as u8]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn back(c: &[u8], n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        crate::rdb::lzf::decompress_into(c, n, &mut out, 0).unwrap();
        out
    }

    #[test]
    fn reads_back_through_the_decompressor() {
        let mut x: u32 = 7;
        let mut noise = || {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        };
        let mut inputs: Vec<Vec<u8>> = vec![
            vec![b'a'; 21],
            vec![b'a'; 10_000],
            b"user:1000:session:abcdef user:1000:session:abcdef".to_vec(),
            (0..70_000u32).map(|i| (i % 251) as u8).collect(),
        ];
        inputs.push((0..5000).map(|_| noise() % 4).collect());
        for s in &inputs {
            let mut c = Vec::new();
            let n = compress_into(s, &mut c, s.len()).expect("compressible");
            assert_eq!(n, c.len());
            assert!(n + 4 <= s.len(), "{} -> {n}", s.len());
            assert_eq!(back(&c, s.len()), *s);
        }
        // Incompressible input does not fit in len - 4 and leaves `out` alone.
        let rnd: Vec<u8> = (0..300).map(|_| noise()).collect();
        let mut c = b"prefix".to_vec();
        assert_eq!(compress_into(&rnd, &mut c, rnd.len() - 4), None);
        assert_eq!(c, b"prefix");
        // With room it is still a valid (literal) stream.
        let n = compress_into(&rnd, &mut c, rnd.len() + 20).unwrap();
        assert_eq!(back(&c[6..], rnd.len()), rnd);
        assert_eq!(n, c.len() - 6);
    }
}
