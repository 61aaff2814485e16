//! Throughput of the hot decoders: RDB lengths, listpack / ziplist / intset
//! iteration, LZF decompression, CRC-64, JSON string escaping, and whole-file
//! passes over a real fixture.
//!
//! Every group reports `Throughput::Bytes`, so criterion prints MB/s or GB/s
//! of *input* bytes (for LZF: decompressed output bytes; for scores: the
//! 8 bytes of each `f64` written).
//!
//! Inputs are built in this file (listpacks and ziplists byte by byte,
//! LZF streams with a tiny greedy compressor) and checked once with the
//! library's own validators before being measured. Run with
//! `cargo bench --bench decoders`; pass a filter such as `lzf` to run one
//! group.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

use rdbkit::rdb::crc64::{crc64, crc64_table};
use rdbkit::rdb::cursor::Cursor;
use rdbkit::rdb::elem::Elem;
use rdbkit::rdb::records::{Item, ParseOptions, Parser};
use rdbkit::rdb::{intset, listpack, lzf, ziplist};
use rdbkit::scan::EngineOptions;
use rdbkit::sink::{json, jsonfmt, stats};

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// Short measurement so the whole suite runs in a few minutes on 2 cores.
fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
) -> BenchmarkGroup<'a, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group(name);
    g.warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    g
}

/// Deterministic xorshift64* so inputs are identical across runs.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// Uniform in `0..n` (n > 0); bias is irrelevant here.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `len` bytes of lowercase ASCII words, deterministic.
fn ascii_words(rng: &mut Rng, len: usize) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "user", "session", "cart", "item", "price", "count", "redis", "value", "alpha", "beta",
        "gamma", "delta", "queue", "stream", "event", "order",
    ];
    let mut v = Vec::with_capacity(len + 16);
    while v.len() < len {
        v.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
        v.push(b' ');
    }
    v.truncate(len);
    v
}

/// ASCII words of a random length in `min..min + spread`.
fn words(rng: &mut Rng, min: usize, spread: u64) -> Vec<u8> {
    let len = min + rng.below(spread) as usize;
    ascii_words(rng, len)
}

/// A mixed value for collection builders.
#[derive(Debug, Clone)]
enum V {
    S(Vec<u8>),
    I(i64),
}

/// ~500 entries: strings of 0..=63, 64..=4095 (a few) and ints of every width.
fn mixed_values(n: usize) -> Vec<V> {
    let mut rng = Rng::new(0x5eed_1157);
    (0..n)
        .map(|i| match i % 10 {
            0 => V::I(rng.below(128) as i64),             // 7-bit / 0..=12
            1 => V::I(rng.below(8000) as i64 - 4000),     // 13-bit
            2 => V::I(rng.below(60_000) as i64 - 30_000), // 16-bit
            3 => V::I(rng.below(16_000_000) as i64 - 8_000_000), // 24-bit
            4 => V::I(rng.below(4_000_000_000) as i64 - 2_000_000_000), // 32-bit
            5 => V::I(rng.next() as i64),                 // 64-bit
            6 => V::S(words(&mut rng, 1, 12)),
            7 => V::S(words(&mut rng, 20, 44)),
            8 => V::S(words(&mut rng, 64, 200)),
            _ => {
                // Occasionally a longer string (12-bit listpack length,
                // 14-bit ziplist length, 5-byte ziplist prevlen after it).
                let len = if i % 50 == 9 {
                    300 + rng.below(1500)
                } else {
                    8
                };
                V::S(ascii_words(&mut rng, len as usize))
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// (1) RDB length decoding
// ---------------------------------------------------------------------------

/// ~1 MiB of RDB lengths: 50% 6-bit, 35% 14-bit, 15% 32-bit.
fn length_buffer() -> (Vec<u8>, usize, u64) {
    let mut rng = Rng::new(42);
    let mut buf = Vec::with_capacity(1 << 20);
    let mut count = 0;
    let mut sum = 0u64;
    while buf.len() < (1 << 20) - 5 {
        let r = rng.below(100);
        let v = if r < 50 {
            let v = rng.below(64);
            buf.push(v as u8);
            v
        } else if r < 85 {
            let v = 64 + rng.below((1 << 14) - 64);
            buf.push(0x40 | (v >> 8) as u8);
            buf.push(v as u8);
            v
        } else {
            let v = (1 << 14) + rng.below(u32::MAX as u64 - (1 << 14));
            buf.push(0x80);
            buf.extend_from_slice(&(v as u32).to_be_bytes());
            v
        };
        count += 1;
        sum = sum.wrapping_add(v);
    }
    (buf, count, sum)
}

fn decode_lengths(buf: &[u8]) -> u64 {
    let mut c = Cursor::new(buf, 0);
    let mut sum = 0u64;
    while !c.is_empty() {
        sum = sum.wrapping_add(c.length("bench length").unwrap());
    }
    sum
}

fn decode_len_or_enc(buf: &[u8]) -> u64 {
    let mut c = Cursor::new(buf, 0);
    let mut sum = 0u64;
    while !c.is_empty() {
        if let rdbkit::rdb::cursor::Len::Len(n) = c.len_or_enc("bench length").unwrap() {
            sum = sum.wrapping_add(n);
        }
    }
    sum
}

/// ~1 MiB of RDB strings: short raw strings and int-encoded strings.
fn string_buffer() -> (Vec<u8>, usize) {
    let mut rng = Rng::new(7);
    let mut buf = Vec::with_capacity(1 << 20);
    let mut count = 0;
    while buf.len() < (1 << 20) - 300 {
        match rng.below(4) {
            0 => {
                buf.push(0xc0);
                buf.push(rng.next() as u8);
            }
            1 => {
                buf.push(0xc2);
                buf.extend_from_slice(&(rng.next() as u32).to_le_bytes());
            }
            2 => {
                let n = rng.below(64) as usize;
                buf.push(n as u8);
                buf.extend_from_slice(&ascii_words(&mut rng, n));
            }
            _ => {
                let n = 64 + rng.below(200) as usize;
                buf.push(0x40 | (n >> 8) as u8);
                buf.push(n as u8);
                buf.extend_from_slice(&ascii_words(&mut rng, n));
            }
        }
        count += 1;
    }
    (buf, count)
}

fn bench_lengths(c: &mut Criterion) {
    let (lens, count, sum) = length_buffer();
    assert_eq!(decode_lengths(&lens), sum);
    assert_eq!(decode_len_or_enc(&lens), sum);
    let small_lens: Vec<u8> = (0..lens.len()).map(|i| (i % 64) as u8).collect();
    let (strs, nstr) = string_buffer();
    {
        let mut cur = Cursor::new(&strs, 0);
        let mut n = 0;
        while !cur.is_empty() {
            cur.string("s").unwrap();
            n += 1;
        }
        assert_eq!(n, nstr);
    }
    eprintln!(
        "length buffer: {} bytes, {count} lengths; string buffer: {} bytes, {nstr} strings",
        lens.len(),
        strs.len()
    );

    let mut g = group(c, "rdb_length");
    g.throughput(Throughput::Bytes(lens.len() as u64));
    g.bench_function("length_mixed_6_14_32", |b| {
        b.iter(|| decode_lengths(black_box(&lens)))
    });
    g.bench_function("len_or_enc_mixed_6_14_32", |b| {
        b.iter(|| decode_len_or_enc(black_box(&lens)))
    });
    // Same size, all 6-bit: no width mispredictions (random widths above
    // are mostly branch-miss bound).
    g.throughput(Throughput::Bytes(small_lens.len() as u64));
    g.bench_function("length_6bit_only", |b| {
        b.iter(|| decode_lengths(black_box(&small_lens)))
    });
    g.throughput(Throughput::Bytes(strs.len() as u64));
    g.bench_function("string_raw_and_int", |b| {
        b.iter(|| {
            let mut cur = Cursor::new(black_box(&strs), 0);
            let mut n = 0usize;
            while !cur.is_empty() {
                black_box(cur.string("s").unwrap());
                n += 1;
            }
            n
        })
    });
    g.bench_function("skip_string_raw_and_int", |b| {
        b.iter(|| {
            let mut cur = Cursor::new(black_box(&strs), 0);
            let mut n = 0usize;
            while !cur.is_empty() {
                cur.skip_string("s").unwrap();
                n += 1;
            }
            n
        })
    });
    g.finish();
}

// ---------------------------------------------------------------------------
// (2) Listpack, ziplist, intset iteration
// ---------------------------------------------------------------------------

/// Encodes one listpack entry (encoding + data) the way Redis picks
/// encodings (`lpEncodeGetType` / `lpEncodeString`), then its backlen.
fn listpack_entry(out: &mut Vec<u8>, v: &V) {
    let start = out.len();
    match *v {
        V::I(i) if (0..=127).contains(&i) => out.push(i as u8),
        V::I(i) if (-4096..=4095).contains(&i) => {
            let u = (i as u16) & 0x1fff;
            out.push(0xC0 | (u >> 8) as u8);
            out.push(u as u8);
        }
        V::I(i) if (i16::MIN as i64..=i16::MAX as i64).contains(&i) => {
            out.push(0xF1);
            out.extend_from_slice(&(i as i16).to_le_bytes());
        }
        V::I(i) if (-(1 << 23)..(1 << 23)).contains(&i) => {
            out.push(0xF2);
            out.extend_from_slice(&(i as i32).to_le_bytes()[..3]);
        }
        V::I(i) if (i32::MIN as i64..=i32::MAX as i64).contains(&i) => {
            out.push(0xF3);
            out.extend_from_slice(&(i as i32).to_le_bytes());
        }
        V::I(i) => {
            out.push(0xF4);
            out.extend_from_slice(&i.to_le_bytes());
        }
        V::S(ref s) => {
            let n = s.len();
            if n < 64 {
                out.push(0x80 | n as u8);
            } else if n < 4096 {
                out.push(0xE0 | (n >> 8) as u8);
                out.push(n as u8);
            } else {
                out.push(0xF0);
                out.extend_from_slice(&(n as u32).to_le_bytes());
            }
            out.extend_from_slice(s);
        }
    }
    let size = (out.len() - start) as u64;
    out.extend_from_slice(&listpack::encode_backlen(size));
}

fn build_listpack(values: &[V]) -> Vec<u8> {
    let mut lp = vec![0u8; 6];
    for v in values {
        listpack_entry(&mut lp, v);
    }
    lp.push(0xFF);
    let total = lp.len() as u32;
    lp[0..4].copy_from_slice(&total.to_le_bytes());
    let n = u16::try_from(values.len()).unwrap_or(u16::MAX);
    lp[4..6].copy_from_slice(&n.to_le_bytes());
    lp
}

/// Encodes one ziplist entry (without prevlen) as `zipStoreEntryEncoding`
/// and `zipTryEncoding` would.
fn ziplist_body(out: &mut Vec<u8>, v: &V) {
    match *v {
        V::I(i) if (0..=12).contains(&i) => out.push(0xF1 + i as u8),
        V::I(i) if (i8::MIN as i64..=i8::MAX as i64).contains(&i) => {
            out.push(0xFE);
            out.push(i as i8 as u8);
        }
        V::I(i) if (i16::MIN as i64..=i16::MAX as i64).contains(&i) => {
            out.push(0xC0);
            out.extend_from_slice(&(i as i16).to_le_bytes());
        }
        V::I(i) if (-(1 << 23)..(1 << 23)).contains(&i) => {
            out.push(0xF0);
            out.extend_from_slice(&(i as i32).to_le_bytes()[..3]);
        }
        V::I(i) if (i32::MIN as i64..=i32::MAX as i64).contains(&i) => {
            out.push(0xD0);
            out.extend_from_slice(&(i as i32).to_le_bytes());
        }
        V::I(i) => {
            out.push(0xE0);
            out.extend_from_slice(&i.to_le_bytes());
        }
        V::S(ref s) => {
            let n = s.len();
            if n <= 0x3f {
                out.push(n as u8);
            } else if n <= 0x3fff {
                out.push(0x40 | (n >> 8) as u8);
                out.push(n as u8);
            } else {
                out.push(0x80);
                out.extend_from_slice(&(n as u32).to_be_bytes());
            }
            out.extend_from_slice(s);
        }
    }
}

fn build_ziplist(values: &[V]) -> Vec<u8> {
    let mut zl = vec![0u8; 10];
    let mut prev_len = 0usize;
    let mut tail = 10usize;
    for v in values {
        let start = zl.len();
        if prev_len < 254 {
            zl.push(prev_len as u8);
        } else {
            zl.push(0xFE);
            zl.extend_from_slice(&(prev_len as u32).to_le_bytes());
        }
        ziplist_body(&mut zl, v);
        tail = start;
        prev_len = zl.len() - start;
    }
    zl.push(0xFF);
    let total = zl.len() as u32;
    zl[0..4].copy_from_slice(&total.to_le_bytes());
    zl[4..8].copy_from_slice(&(tail as u32).to_le_bytes());
    let n = u16::try_from(values.len()).unwrap_or(u16::MAX);
    zl[8..10].copy_from_slice(&n.to_le_bytes());
    zl
}

fn build_intset<T: Copy>(values: &[T], width: u32, le: impl Fn(T) -> Vec<u8>) -> Vec<u8> {
    let mut is = Vec::with_capacity(8 + values.len() * width as usize);
    is.extend_from_slice(&width.to_le_bytes());
    is.extend_from_slice(&(values.len() as u32).to_le_bytes());
    for &v in values {
        is.extend_from_slice(&le(v));
    }
    is
}

/// Consumes every element the way a sink would: byte length or integer.
#[inline]
fn fold_elems<'a>(it: impl Iterator<Item = rdbkit::Result<Elem<'a>>>) -> u64 {
    let mut acc = 0u64;
    for e in it {
        match e.unwrap() {
            Elem::Bytes(b) => acc = acc.wrapping_add(b.len() as u64),
            Elem::Int(i) => acc = acc.wrapping_add(i as u64),
        }
    }
    acc
}

fn bench_collections(c: &mut Criterion) {
    let values = mixed_values(500);
    // Small-element variant: what a typical hash/zset listpack holds.
    let small: Vec<V> = mixed_values(500)
        .into_iter()
        .map(|v| match v {
            V::S(s) if s.len() > 40 => V::S(s[..40].to_vec()),
            other => other,
        })
        .collect();

    let lp = build_listpack(&values);
    let lp_small = build_listpack(&small);
    let zl = build_ziplist(&values);
    let zl_small = build_ziplist(&small);
    for (name, buf) in [("listpack", &lp), ("listpack small", &lp_small)] {
        let n = listpack::parse(buf, 0).unwrap().validate().unwrap();
        assert_eq!(n, 500, "{name}");
        eprintln!("{name}: {} bytes, {n} entries", buf.len());
    }
    for (name, buf) in [("ziplist", &zl), ("ziplist small", &zl_small)] {
        let n = ziplist::parse(buf, 0).unwrap().validate().unwrap();
        assert_eq!(n, 500, "{name}");
        eprintln!("{name}: {} bytes, {n} entries", buf.len());
    }
    // Both encodings must decode to the same elements.
    {
        let a: Vec<_> = listpack::parse(&lp, 0)
            .unwrap()
            .iter()
            .map(|e| e.unwrap().to_vec())
            .collect();
        let b: Vec<_> = ziplist::parse(&zl, 0)
            .unwrap()
            .iter()
            .map(|e| e.unwrap().to_vec())
            .collect();
        assert_eq!(a, b);
    }

    let mut rng = Rng::new(99);
    let mut i16s: Vec<i16> = (0..512).map(|_| rng.next() as i16).collect();
    i16s.sort_unstable();
    i16s.dedup();
    let mut i64s: Vec<i64> = (0..512).map(|_| rng.next() as i64).collect();
    i64s.sort_unstable();
    i64s.dedup();
    let is16 = build_intset(&i16s, 2, |v| v.to_le_bytes().to_vec());
    let is64 = build_intset(&i64s, 8, |v| v.to_le_bytes().to_vec());
    for buf in [&is16, &is64] {
        let s = intset::parse(buf, 0).unwrap();
        s.validate_sorted().unwrap();
    }

    let mut g = group(c, "collections");
    for (name, buf) in [
        ("listpack_mixed_500", &lp),
        ("listpack_small_500", &lp_small),
    ] {
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| fold_elems(listpack::parse(black_box(buf), 0).unwrap().iter()))
        });
    }
    for (name, buf) in [("ziplist_mixed_500", &zl), ("ziplist_small_500", &zl_small)] {
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| fold_elems(ziplist::parse(black_box(buf), 0).unwrap().iter()))
        });
    }
    for (name, buf) in [("intset16", &is16), ("intset64", &is64)] {
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                intset::parse(black_box(buf), 0)
                    .unwrap()
                    .iter()
                    .fold(0i64, |a, v| a.wrapping_add(v))
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------
// (3) LZF decompression
// ---------------------------------------------------------------------------

/// A small greedy LZF compressor (hash of the next 3 bytes -> last
/// position) emitting liblzf's stream format; good enough to produce
/// realistic back-reference / literal mixes.
fn lzf_compress(src: &[u8]) -> Vec<u8> {
    const MAX_OFF: usize = 1 << 13;
    const MAX_REF: usize = 264;
    let mut out = Vec::with_capacity(src.len());
    let mut table = vec![usize::MAX; 1 << 14];
    let mut lit_start = 0;
    let mut i = 0;
    let flush = |out: &mut Vec<u8>, lits: &[u8]| {
        for chunk in lits.chunks(32) {
            out.push((chunk.len() - 1) as u8);
            out.extend_from_slice(chunk);
        }
    };
    while i + 2 < src.len() {
        let h = ((src[i] as usize) << 8 ^ (src[i + 1] as usize) << 4 ^ src[i + 2] as usize)
            .wrapping_mul(2_654_435_761)
            >> 18
            & 0x3fff;
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

/// JSON documents like those cached in Redis strings.
fn json_text(len: usize) -> Vec<u8> {
    let mut rng = Rng::new(2024);
    let mut v = Vec::with_capacity(len + 256);
    v.push(b'[');
    while v.len() < len {
        let id = rng.below(1_000_000);
        let name = words(&mut rng, 6, 14);
        let tags = words(&mut rng, 10, 30);
        v.extend_from_slice(
            format!(
                "{{\"id\":{id},\"name\":\"{}\",\"email\":\"user{id}@example.com\",\
                 \"score\":{}.{},\"active\":{},\"tags\":\"{}\"}},",
                String::from_utf8_lossy(&name).trim(),
                rng.below(1000),
                rng.below(100),
                rng.below(2) == 1,
                String::from_utf8_lossy(&tags).trim(),
            )
            .as_bytes(),
        );
    }
    v.truncate(len);
    v
}

/// Highly repetitive data: long runs and a short repeated record.
fn repetitive(len: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(len);
    let mut k = 0u32;
    while v.len() < len {
        v.extend(std::iter::repeat_n(b'0' + (k % 10) as u8, 300));
        v.extend_from_slice(b"key:0000:field:value|");
        v.extend(std::iter::repeat_n(0u8, 200));
        k += 1;
    }
    v.truncate(len);
    v
}

fn bench_lzf(c: &mut Criterion) {
    let inputs = [
        ("json_8k", json_text(8 << 10)),
        ("json_64k", json_text(64 << 10)),
        ("repetitive_64k", repetitive(64 << 10)),
    ];
    let mut g = group(c, "lzf_decompress");
    for (name, raw) in &inputs {
        let comp = lzf_compress(raw);
        let mut out = Vec::new();
        lzf::decompress_into(&comp, raw.len(), &mut out, 0).unwrap();
        assert_eq!(&out, raw, "{name}: LZF round trip");
        eprintln!(
            "lzf {name}: {} -> {} bytes (ratio {:.2})",
            raw.len(),
            comp.len(),
            raw.len() as f64 / comp.len() as f64
        );
        // Throughput is in decompressed (output) bytes.
        g.throughput(Throughput::Bytes(raw.len() as u64));
        g.bench_function(*name, |b| {
            b.iter(|| {
                lzf::decompress_into(black_box(&comp), raw.len(), &mut out, 0).unwrap();
                out.len()
            })
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------
// (4) CRC-64
// ---------------------------------------------------------------------------

fn bench_crc64(c: &mut Criterion) {
    let mut rng = Rng::new(64);
    let big: Vec<u8> = (0..1 << 20).map(|_| rng.next() as u8).collect();
    let small = big[..64].to_vec();
    assert_eq!(crc64(0, &big), crc64_table(0, &big));
    assert_eq!(crc64(0, b"123456789"), rdbkit::rdb::crc64::CHECK);

    let mut g = group(c, "crc64");
    for (size, buf) in [("1MiB", &big), ("64B", &small)] {
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(format!("crc64_{size}"), |b| {
            b.iter(|| crc64(0, black_box(buf)))
        });
        g.bench_function(format!("crc64_table_{size}"), |b| {
            b.iter(|| crc64_table(0, black_box(buf)))
        });
    }
    g.finish();
}

// ---------------------------------------------------------------------------
// (5) JSON string escaping
// ---------------------------------------------------------------------------

fn bench_jsonfmt(c: &mut Criterion) {
    let mut rng = Rng::new(5);
    let ascii = ascii_words(&mut rng, 64 << 10);
    // UTF-8 with an escape roughly every 40 bytes (quotes, backslashes,
    // newlines, tabs, a control byte).
    let utf8 = {
        let pieces: &[&str] = &[
            "héllo wörld ",
            "日本語のテキスト ",
            "emoji 🎉🚀 ",
            "say \"hi\" ",
            "C:\\path\\to ",
            "line\n",
            "tab\tsep ",
            "ctl\u{1} ",
            "plain ascii words here ",
        ];
        let mut v = Vec::with_capacity((64 << 10) + 64);
        while v.len() < 64 << 10 {
            v.extend_from_slice(pieces[rng.below(pieces.len() as u64) as usize].as_bytes());
        }
        v
    };
    let binary: Vec<u8> = {
        // Guarantee invalid UTF-8 early so the base64 path is taken.
        let mut v: Vec<u8> = (0..64 << 10).map(|_| rng.next() as u8).collect();
        v[0] = 0xff;
        v
    };
    // Many short keys/fields, as most JSON output actually is.
    let short: Vec<Vec<u8>> = (0..2000).map(|_| words(&mut rng, 8, 32)).collect();
    let short_bytes: usize = short.iter().map(Vec::len).sum();
    assert!(jsonfmt::is_text(&ascii) && jsonfmt::is_text(&utf8) && !jsonfmt::is_text(&binary));
    {
        // The escaped UTF-8 output must parse back to the input.
        let mut out = Vec::new();
        jsonfmt::write_bytes(&mut out, &utf8);
        let back: String = serde_json::from_slice(&out).unwrap();
        assert_eq!(back.as_bytes(), &utf8[..]);
    }
    let scores: Vec<f64> = (0..1000)
        .map(|i| match i % 4 {
            0 => rng.below(1000) as f64,
            1 => rng.below(1_000_000) as f64 / 100.0,
            2 => (rng.next() as f64) / (u64::MAX as f64),
            _ => rng.next() as i64 as f64 * 1e-3,
        })
        .collect();

    let mut g = group(c, "json_escape");
    let mut out = Vec::with_capacity(256 << 10);
    for (name, buf) in [
        ("write_bytes_ascii_64k", &ascii),
        ("write_bytes_utf8_escapes_64k", &utf8),
        ("write_bytes_binary_b64_64k", &binary),
    ] {
        g.throughput(Throughput::Bytes(buf.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                out.clear();
                jsonfmt::write_bytes(&mut out, black_box(buf));
                out.len()
            })
        });
    }
    g.throughput(Throughput::Bytes(ascii.len() as u64));
    g.bench_function("write_str_ascii_64k", |b| {
        b.iter(|| {
            out.clear();
            jsonfmt::write_str(&mut out, black_box(&ascii));
            out.len()
        })
    });
    g.throughput(Throughput::Bytes(short_bytes as u64));
    g.bench_function("write_bytes_short_ascii_x2000", |b| {
        b.iter(|| {
            out.clear();
            for s in black_box(&short) {
                jsonfmt::write_bytes(&mut out, s);
            }
            out.len()
        })
    });
    // 8 input bytes per f64.
    g.throughput(Throughput::Bytes((scores.len() * 8) as u64));
    g.bench_function("write_score_x1000", |b| {
        b.iter(|| {
            out.clear();
            for &f in black_box(&scores) {
                jsonfmt::write_score(&mut out, f);
            }
            out.len()
        })
    });
    g.finish();
}

// ---------------------------------------------------------------------------
// (6) Whole-file passes
// ---------------------------------------------------------------------------

const FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/redis-7.0.15/default.rdb"
);

fn walk(data: &[u8]) -> usize {
    let mut p = Parser::new(
        data,
        ParseOptions {
            verify_checksum: false,
        },
    )
    .unwrap();
    let mut keys = 0;
    while let Some(item) = p.next_item().unwrap() {
        if matches!(item, Item::Key(_)) {
            keys += 1;
        }
    }
    keys
}

fn bench_whole_file(c: &mut Criterion) {
    let data = std::fs::read(FIXTURE).unwrap_or_else(|e| panic!("reading {FIXTURE}: {e}"));
    let keys = walk(&data);
    let json_len = json::to_vec(&data, &json::JsonOptions::default())
        .unwrap()
        .len();
    let engine = EngineOptions {
        threads: 1,
        ..Default::default()
    };
    let st = stats::compute(&data, &engine, None).unwrap();
    assert_eq!(st.keys(), keys as u64);
    eprintln!(
        "{FIXTURE}: {} bytes, {keys} keys, {json_len} bytes of JSON",
        data.len()
    );

    let mut g = group(c, "whole_file");
    g.throughput(Throughput::Bytes(data.len() as u64));
    g.bench_function("parser_walk_default_rdb", |b| {
        b.iter(|| walk(black_box(&data)))
    });
    g.bench_function("stats_1thread_default_rdb", |b| {
        b.iter(|| stats::compute(black_box(&data), &engine, None).unwrap())
    });
    g.bench_function("json_to_vec_default_rdb", |b| {
        b.iter(|| {
            json::to_vec(black_box(&data), &json::JsonOptions::default())
                .unwrap()
                .len()
        })
    });
    g.finish();
}

criterion_group!(
    benches,
    bench_lengths,
    bench_collections,
    bench_lzf,
    bench_crc64,
    bench_jsonfmt,
    bench_whole_file
);
criterion_main!(benches);
