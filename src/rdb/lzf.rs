//! LZF decompression, as Redis stores compressed strings (`RDB_ENC_LZF`).
//!
//! Mirrors `lzf_decompress` in Redis' `src/lzf_d.c` (liblzf 3.x). The
//! compressed stream is a sequence of instructions, each starting with a
//! control byte:
//!
//! ```text
//! 000LLLLL <L+1 literal bytes>            literal run, 1..=32 bytes
//! LLLooooo oooooooo                       back reference, L in 1..=6
//! 111ooooo LLLLLLLL oooooooo              back reference, long form
//!
//! length   = L + 2                        (long form: 7 + LLLLLLLL + 2, so 3..=264)
//! distance = (ooooo << 8 | oooooooo) + 1  (1..=8192 bytes back from the output end)
//! ```
//!
//! A back reference copies `length` bytes starting `distance` bytes before
//! the current end of the output; when `distance < length` the source
//! overlaps the bytes being written, which is how LZF encodes runs.

use crate::error::{Error, Result};

/// Largest output one input byte can produce: a 3-byte long back reference
/// yields at most 264 bytes. Used only to cap the up-front reservation, so a
/// caller that passes an unchecked `out_len` cannot make us allocate more
/// than the input could ever justify.
const MAX_EXPANSION: usize = 88;

/// Longest distance a back reference reaches: all the history a streaming
/// decompressor has to keep.
const WINDOW: usize = 1 << 13;

/// Decompresses `input` into `out` (cleared first), which must come out to
/// exactly `out_len` bytes. `offset` is the absolute file offset of
/// `input[0]`; errors name the offset of the instruction at fault.
pub fn decompress_into(input: &[u8], out_len: usize, out: &mut Vec<u8>, offset: u64) -> Result<()> {
    out.clear();
    out.reserve(out_len.min(input.len().saturating_mul(MAX_EXPANSION)));
    let mut never = |_: &[u8]| -> Result<()> { Ok(()) };
    let mut w = Window {
        out,
        block: usize::MAX,
        emitted: 0,
        dropped: 0,
        emit: &mut never,
    };
    decode(input, out_len, offset, &mut w)
}

/// Decompresses `input` (which must come out to exactly `out_len` bytes) a
/// block at a time: `emit` receives the output in order, in pieces of about
/// `block` bytes, and `buf` (cleared first) only ever holds one block plus
/// the 8 KiB of history back references reach. For strings too big to hold
/// whole: memory does not depend on `out_len`. An error may come after some
/// blocks were emitted; a caller that cannot take output back decompresses
/// once with a no-op `emit` first.
pub fn decompress_blocks(
    input: &[u8],
    out_len: usize,
    offset: u64,
    block: usize,
    buf: &mut Vec<u8>,
    emit: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    buf.clear();
    let block = block.max(1);
    let most = out_len.min(input.len().saturating_mul(MAX_EXPANSION));
    buf.reserve(block.saturating_add(WINDOW + 264).min(most));
    let mut w = Window {
        out: buf,
        block,
        emitted: 0,
        dropped: 0,
        emit,
    };
    decode(input, out_len, offset, &mut w)?;
    let rest = &w.out[w.emitted..];
    if rest.is_empty() {
        Ok(())
    } else {
        (w.emit)(rest)
    }
}

/// The decompressor's output: `out` holds the tail of what was produced
/// (`dropped` bytes before it were emitted and let go); `out[..emitted]`
/// has been emitted.
struct Window<'o, 'e> {
    out: &'o mut Vec<u8>,
    block: usize,
    emitted: usize,
    dropped: usize,
    emit: &'e mut dyn FnMut(&[u8]) -> Result<()>,
}

impl Window<'_, '_> {
    /// Bytes produced so far.
    #[inline]
    fn produced(&self) -> usize {
        self.dropped + self.out.len()
    }

    /// Emits a full block and lets go of all but the history.
    #[inline]
    fn maybe_emit(&mut self) -> Result<()> {
        if self.out.len() - self.emitted < self.block {
            return Ok(());
        }
        (self.emit)(&self.out[self.emitted..])?;
        let cut = self.out.len().saturating_sub(WINDOW);
        self.out.drain(..cut);
        self.dropped += cut;
        self.emitted = self.out.len();
        Ok(())
    }
}

fn decode(input: &[u8], out_len: usize, offset: u64, w: &mut Window<'_, '_>) -> Result<()> {
    let at = |pos: usize| offset.saturating_add(pos as u64);
    let mut ip = 0usize;
    while let Some(&ctrl) = input.get(ip) {
        let ctrl_pos = ip;
        ip += 1;
        // Invariant: produced <= out_len, so the subtraction cannot underflow.
        let room = out_len - w.produced();
        if ctrl < 32 {
            let run = ctrl as usize + 1;
            let lit = input.get(ip..ip.saturating_add(run)).ok_or_else(|| {
                Error::truncated(
                    at(ip),
                    "LZF literal run",
                    run as u64,
                    (input.len() - ip) as u64,
                )
            })?;
            if run > room {
                return Err(Error::invalid(
                    at(ctrl_pos),
                    "LZF literal run",
                    format!("{run} literal bytes would exceed the declared length {out_len}"),
                ));
            }
            w.out.extend_from_slice(lit);
            ip += run;
        } else {
            let mut len = (ctrl >> 5) as usize;
            if len == 7 {
                let &extra = input
                    .get(ip)
                    .ok_or_else(|| Error::truncated(at(ip), "LZF back reference length", 2, 0))?;
                len += extra as usize;
                ip += 1;
            }
            let &low = input
                .get(ip)
                .ok_or_else(|| Error::truncated(at(ip), "LZF back reference distance", 1, 0))?;
            ip += 1;
            len += 2;
            let dist = ((((ctrl & 0x1f) as usize) << 8) | low as usize) + 1;
            // Once bytes were let go, `out` keeps WINDOW >= dist of history.
            if dist > w.out.len() {
                return Err(Error::invalid(
                    at(ctrl_pos),
                    "LZF back reference",
                    format!(
                        "points {dist} bytes back but only {} bytes have been decompressed",
                        w.produced()
                    ),
                ));
            }
            if len > room {
                return Err(Error::invalid(
                    at(ctrl_pos),
                    "LZF back reference",
                    format!(
                        "copying {len} bytes would exceed the declared length {out_len} \
                         ({} bytes decompressed so far)",
                        w.produced()
                    ),
                ));
            }
            copy_back_reference(w.out, dist, len);
        }
        w.maybe_emit()?;
    }

    if w.produced() != out_len {
        return Err(Error::invalid(
            at(input.len()),
            "LZF compressed data",
            format!(
                "stream ended after {} decompressed bytes, expected {out_len}",
                w.produced()
            ),
        ));
    }
    Ok(())
}

/// Appends `len` bytes copied from `dist` bytes before the end of `out`.
/// The caller guarantees `1 <= dist <= out.len()`.
#[inline]
fn copy_back_reference(out: &mut Vec<u8>, dist: usize, len: usize) {
    let start = out.len() - dist;
    if dist >= len {
        // Source and destination do not overlap: one memcpy.
        out.extend_from_within(start..start + len);
        return;
    }
    // Overlapping copy: the byte-at-a-time semantics of LZF make the output
    // periodic with period `dist` from `start` on. Copying the whole span
    // `start..out.len()` at each step reproduces exactly what a byte-by-byte
    // copy would write, while doubling the chunk size each round, so even a
    // 264-byte run of one byte takes only ~9 memcpys.
    let mut remaining = len;
    while remaining > 0 {
        let chunk = remaining.min(out.len() - start);
        out.extend_from_within(start..start + chunk);
        remaining -= chunk;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>> {
        let mut out = vec![0xAA; 3]; // must be cleared
        decompress_into(input, out_len, &mut out, 1000)?;
        Ok(out)
    }

    /// Reference decoder: byte-by-byte, as straightforward as possible.
    fn naive(input: &[u8]) -> Option<Vec<u8>> {
        let mut out: Vec<u8> = Vec::new();
        let mut i = 0;
        while i < input.len() {
            let c = input[i] as usize;
            i += 1;
            if c < 32 {
                out.extend_from_slice(input.get(i..i + c + 1)?);
                i += c + 1;
            } else {
                let mut len = c >> 5;
                if len == 7 {
                    len += *input.get(i)? as usize;
                    i += 1;
                }
                let d = (((c & 0x1f) << 8) | *input.get(i)? as usize) + 1;
                i += 1;
                let s = out.len().checked_sub(d)?;
                for k in 0..len + 2 {
                    let b = out[s + k];
                    out.push(b);
                }
            }
        }
        Some(out)
    }

    /// A small greedy LZF compressor (hash of the next 3 bytes -> last
    /// position), producing streams in the liblzf format.
    fn compress(src: &[u8]) -> Vec<u8> {
        const MAX_OFF: usize = 1 << 13;
        const MAX_REF: usize = 264;
        let mut out = Vec::new();
        let mut table = vec![usize::MAX; 1 << 12];
        let mut lit_start = 0;
        let mut i = 0;
        let flush = |out: &mut Vec<u8>, lits: &[u8]| {
            for chunk in lits.chunks(32) {
                out.push((chunk.len() - 1) as u8);
                out.extend_from_slice(chunk);
            }
        };
        while i + 2 < src.len() {
            let h =
                ((src[i] as usize) << 4 ^ (src[i + 1] as usize) << 2 ^ src[i + 2] as usize) & 0xfff;
            let cand = table[h];
            table[h] = i;
            if cand != usize::MAX && i - cand <= MAX_OFF && src[cand..cand + 3] == src[i..i + 3] {
                let mut len = 3;
                while len < MAX_REF && i + len < src.len() && src[cand + len] == src[i + len] {
                    len += 1;
                }
                flush(&mut out, &src[lit_start..i]);
                let off = i - cand - 1;
                let l = len - 2;
                if l < 7 {
                    out.push(((l as u8) << 5) | (off >> 8) as u8);
                } else {
                    out.push((7 << 5) | (off >> 8) as u8);
                    out.push((l - 7) as u8);
                }
                out.push(off as u8);
                i += len;
                lit_start = i;
            } else {
                i += 1;
            }
        }
        flush(&mut out, &src[lit_start..]);
        out
    }

    /// Deterministic pseudo-random bytes (xorshift).
    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect()
    }

    fn samples() -> Vec<Vec<u8>> {
        let mut v: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            b"a".to_vec(),
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            b"hello hello hello hello, world world world".to_vec(),
            vec![0u8; 10_000],
            noise(5000, 7),
        ];
        // Text-like data with long and short repeats.
        let mut t = Vec::new();
        for i in 0..2000 {
            t.extend_from_slice(format!("key:{i}:field:{} ", i % 37).as_bytes());
        }
        v.push(t);
        // Repeats at distances near the 8 KiB window limit.
        let mut far = noise(8192, 3);
        far.extend_from_within(0..600);
        far.extend(noise(100, 9));
        far.extend_from_within(100..400);
        v.push(far);
        // Low-entropy noise: many short matches.
        v.push(noise(20_000, 11).into_iter().map(|b| b & 3).collect());
        v
    }

    #[test]
    fn hand_made_literal_only() {
        assert_eq!(decompress(&[2, b'a', b'b', b'c'], 3).unwrap(), b"abc");
        let mut s = vec![31];
        s.extend(0..32u8);
        assert_eq!(decompress(&s, 32).unwrap(), (0..32u8).collect::<Vec<_>>());
    }

    #[test]
    fn hand_made_short_back_reference() {
        // "abc" then copy 3 bytes from 3 back: "abcabc".
        assert_eq!(
            decompress(&[2, b'a', b'b', b'c', 0x20, 2], 6).unwrap(),
            b"abcabc"
        );
        // L=6: 8 bytes copied from distance 3 (overlapping).
        assert_eq!(
            decompress(&[2, b'a', b'b', b'c', 0xC0, 2], 11).unwrap(),
            b"abcabcabcab"
        );
    }

    #[test]
    fn hand_made_long_back_reference() {
        // 1 literal 'x', then 7+255+2 = 264 copies of it (distance 1).
        let out = decompress(&[0, b'x', 0xE0, 255, 0], 265).unwrap();
        assert_eq!(out, vec![b'x'; 265]);
        // Long form with extra length 0: 9 bytes.
        let out = decompress(&[1, b'p', b'q', 0xE0, 0, 1], 11).unwrap();
        assert_eq!(out, b"pqpqpqpqpqp");
    }

    #[test]
    fn back_reference_with_high_distance_bits() {
        // 300 literal bytes, then copy 4 bytes from distance 257+1..: dist = (1<<8 | 0x2b) + 1 = 300.
        let lits = noise(300, 5);
        let mut s = Vec::new();
        for c in lits.chunks(32) {
            s.push((c.len() - 1) as u8);
            s.extend_from_slice(c);
        }
        s.extend_from_slice(&[0x40 | 0x01, 0x2b]);
        let out = decompress(&s, 304).unwrap();
        assert_eq!(&out[300..], &lits[..4]);
    }

    #[test]
    fn overlapping_copies_of_every_distance_and_length() {
        let prefix = b"0123456789abcdefghij";
        for dist in 1..=prefix.len() {
            for len in 3..=264usize {
                let mut s = vec![(prefix.len() - 1) as u8];
                s.extend_from_slice(prefix);
                let d = dist - 1;
                if len - 2 < 7 {
                    s.push((((len - 2) as u8) << 5) | (d >> 8) as u8);
                } else {
                    s.push(0xE0 | (d >> 8) as u8);
                    s.push((len - 9) as u8);
                }
                s.push(d as u8);
                let want = naive(&s).unwrap();
                assert_eq!(
                    decompress(&s, want.len()).unwrap(),
                    want,
                    "dist {dist} len {len}"
                );
            }
        }
    }

    #[test]
    fn round_trips_through_the_test_compressor() {
        for src in samples() {
            let c = compress(&src);
            assert_eq!(naive(&c).unwrap(), src, "compressor self-check");
            assert_eq!(decompress(&c, src.len()).unwrap(), src);
        }
    }

    #[test]
    fn compressor_actually_compresses() {
        let src = vec![7u8; 10_000];
        assert!(compress(&src).len() < 200);
    }

    #[test]
    fn reuses_the_output_buffer() {
        let mut out = Vec::with_capacity(4);
        decompress_into(&[2, b'a', b'b', b'c'], 3, &mut out, 0).unwrap();
        decompress_into(&[0, b'z'], 1, &mut out, 0).unwrap();
        assert_eq!(out, b"z");
    }

    fn err(input: &[u8], out_len: usize) -> Error {
        decompress(input, out_len).unwrap_err()
    }

    #[test]
    fn literal_run_past_input_end() {
        let e = err(&[4, b'a', b'b'], 5);
        assert_eq!(e.offset, 1001);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "LZF literal run",
                needed: 5,
                available: 2
            }
        ));
    }

    #[test]
    fn back_reference_missing_distance_byte() {
        let e = err(&[0, b'a', 0x20], 4);
        assert_eq!(e.offset, 1003);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "LZF back reference distance",
                ..
            }
        ));
    }

    #[test]
    fn long_back_reference_missing_length_byte() {
        let e = err(&[0, b'a', 0xE0], 20);
        assert_eq!(e.offset, 1003);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "LZF back reference length",
                ..
            }
        ));
        // Length present, distance missing.
        let e = err(&[0, b'a', 0xE0, 5], 20);
        assert_eq!(e.offset, 1004);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "LZF back reference distance",
                ..
            }
        ));
    }

    #[test]
    fn back_reference_before_start_of_output() {
        // Back reference as the very first instruction.
        let e = err(&[0x20, 0], 3);
        assert_eq!(e.offset, 1000);
        assert!(e.to_string().contains("only 0 bytes"), "{e}");
        // Distance 3 with only 2 bytes decoded.
        let e = err(&[1, b'a', b'b', 0x20, 2], 5);
        assert_eq!(e.offset, 1003);
        assert!(e.to_string().contains("points 3 bytes back"), "{e}");
    }

    #[test]
    fn literal_exceeding_declared_length() {
        let e = err(&[2, b'a', b'b', b'c'], 2);
        assert_eq!(e.offset, 1000);
        assert!(matches!(
            e.kind,
            ErrorKind::Invalid {
                what: "LZF literal run",
                ..
            }
        ));
    }

    #[test]
    fn back_reference_exceeding_declared_length() {
        let e = err(&[1, b'a', b'b', 0x20, 1], 4);
        assert_eq!(e.offset, 1003);
        assert!(matches!(
            e.kind,
            ErrorKind::Invalid {
                what: "LZF back reference",
                ..
            }
        ));
    }

    #[test]
    fn output_shorter_than_declared() {
        let e = err(&[2, b'a', b'b', b'c'], 4);
        assert_eq!(e.offset, 1004);
        assert!(
            e.to_string()
                .contains("after 3 decompressed bytes, expected 4"),
            "{e}"
        );
        // Empty input, non-empty expectation.
        let e = err(&[], 1);
        assert_eq!(e.offset, 1000);
        // Empty input, empty expectation is fine.
        assert_eq!(decompress(&[], 0).unwrap(), b"");
    }

    #[test]
    fn huge_declared_length_does_not_allocate_it() {
        let mut out = Vec::new();
        let e = decompress_into(&[0, b'a'], usize::MAX, &mut out, 0).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Invalid { .. }));
        assert!(out.capacity() < 1024);
    }

    #[test]
    fn truncations_and_bit_flips_never_panic() {
        let mut src = Vec::new();
        for i in 0..300 {
            src.extend_from_slice(format!("v{} ", i % 17).as_bytes());
        }
        let c = compress(&src);
        let mut out = Vec::new();
        for n in 0..=c.len() {
            let r = decompress_into(&c[..n], src.len(), &mut out, 0);
            assert_eq!(r.is_ok(), n == c.len());
            let _ = decompress_into(&c[..n], n * 2, &mut out, 0);
        }
        for i in 0..c.len() {
            for flip in [0x01u8, 0x10, 0x80, 0xFF] {
                let mut m = c.clone();
                m[i] ^= flip;
                // Any outcome but a panic is fine; a success must match the naive decoder.
                if decompress_into(&m, src.len(), &mut out, 0).is_ok() {
                    assert_eq!(Some(out.clone()), naive(&m));
                }
            }
        }
    }

    /// `decompress_blocks` with a given block size: the emitted pieces
    /// concatenated, and the largest the working buffer grew.
    fn in_blocks(input: &[u8], out_len: usize, block: usize) -> (Result<Vec<u8>>, usize) {
        let (mut got, mut buf, mut peak) = (Vec::new(), Vec::new(), 0);
        let r = decompress_blocks(input, out_len, 1000, block, &mut buf, &mut |b| {
            got.extend_from_slice(b);
            Ok(())
        });
        peak = peak.max(buf.capacity());
        (r.map(|_| got), peak)
    }

    /// Streaming decompression gives the same bytes (or the same error) as
    /// the whole-buffer one, whatever the block size, including blocks
    /// smaller than the 8 KiB back-reference window and repeats right at it.
    #[test]
    fn blocks_agree_with_whole_buffer() {
        let mut cases: Vec<(Vec<u8>, usize)> =
            samples().iter().map(|s| (compress(s), s.len())).collect();
        // Long enough to let go of history many times.
        let mut long = Vec::new();
        for i in 0..40_000u32 {
            long.extend_from_slice(format!("{i}:{} ", i % 97).as_bytes());
        }
        long.extend(noise(30_000, 5).iter().map(|b| b & 7));
        cases.push((compress(&long), long.len()));
        for seed in 1..300u64 {
            let s = noise((seed % 64) as usize, seed);
            if let Some(want) = naive(&s) {
                cases.push((s, want.len()));
            } else {
                cases.push((s, 1 << 20));
            }
        }
        // Corrupt tails: errors after blocks went out.
        let mut bad = compress(&long);
        let n = bad.len();
        bad.truncate(n - 5);
        cases.push((bad, long.len()));
        for (input, out_len) in &cases {
            let whole = decompress(input, *out_len);
            for block in [1, 7, 4096, 8192, 70_000, usize::MAX] {
                let (got, _) = in_blocks(input, *out_len, block);
                match (&whole, &got) {
                    (Ok(w), Ok(g)) => assert_eq!(w, g, "block {block}"),
                    (Err(w), Err(g)) => assert_eq!(w.to_string(), g.to_string(), "block {block}"),
                    _ => panic!("block {block}: {whole:?} vs {got:?}"),
                }
            }
        }
    }

    /// The working buffer stays near one block plus the window, however
    /// long the output.
    #[test]
    fn blocks_keep_memory_flat() {
        let src = vec![b'z'; 4 << 20];
        let c = compress(&src);
        let (got, peak) = in_blocks(&c, src.len(), 64 << 10);
        assert_eq!(got.unwrap(), src);
        assert!(peak < 256 << 10, "buffer grew to {peak}");
    }

    #[test]
    fn random_streams_agree_with_naive_decoder() {
        let mut out = Vec::new();
        for seed in 1..2000u64 {
            let s = noise((seed % 64) as usize, seed);
            match naive(&s) {
                Some(want) => {
                    decompress_into(&s, want.len(), &mut out, 0).unwrap();
                    assert_eq!(out, want);
                }
                None => assert!(decompress_into(&s, 1 << 20, &mut out, 0).is_err()),
            }
        }
    }

    /// `cargo test --release --lib lzf::tests::throughput -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn throughput() {
        use std::time::Instant;
        let mut text = Vec::new();
        let mut i = 0u64;
        while text.len() < 32 << 20 {
            text.extend_from_slice(
                format!("{{\"id\":{i},\"name\":\"user{}\",\"ok\":true}} ", i % 977).as_bytes(),
            );
            i += 1;
        }
        for (name, src) in [
            ("json-like", text),
            ("runs", vec![b'a'; 32 << 20]),
            ("noise", noise(32 << 20, 1)),
        ] {
            let c = compress(&src);
            let mut out = Vec::new();
            decompress_into(&c, src.len(), &mut out, 0).unwrap();
            let runs = 5;
            let t = Instant::now();
            for _ in 0..runs {
                decompress_into(std::hint::black_box(&c), src.len(), &mut out, 0).unwrap();
            }
            let secs = t.elapsed().as_secs_f64();
            println!(
                "{name:>10}: ratio {:.2}, {:.0} MB/s of output",
                src.len() as f64 / c.len() as f64,
                (src.len() * runs) as f64 / 1e6 / secs
            );
        }
    }
}
