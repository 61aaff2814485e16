//! Hand-built hostile files: lengths and counts that claim far more than the
//! file holds (2^63-byte strings, 4 billion elements in a 1 KB file, 2^40
//! quicklist nodes, LZF strings declaring gigabytes), blobs whose headers
//! lie, and structures without their terminator.
//!
//! Each must be refused with an error naming a byte offset inside the
//! hostile record: by the library, and by the `rdbkit` binary (`json` and
//! `stats`) running in a subprocess under a virtual-memory limit, quickly,
//! without a panic. What this guards against is a hang or an allocation
//! sized by a declared length: under the limit such an allocation aborts
//! the process ("memory allocation of N bytes failed"), and the test sees
//! no offset in the message.
//!
//! `stats` does not look inside compact encodings (listpacks, ziplists,
//! LZF data, ...), so for damage that is only inside such a blob it may
//! succeed; it must still finish quickly and cleanly.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdbkit::rdb::crc64::crc64;
use rdbkit::sink::json::{to_vec, JsonOptions};

/// Virtual memory limit for the subprocess, in KiB (`ulimit -v`): 512 MiB.
/// Normal runs on the fixtures with 8 threads pass under 150 MiB
/// (`limit_lets_normal_runs_through` checks them under this limit), so
/// only an allocation of hundreds of MB sized by a declared length fails.
const VMEM_LIMIT_KIB: u64 = 512 * 1024;
/// Wall-clock bound per subprocess run: generous, the runs take
/// milliseconds; it only has to tell a hang from a slow machine.
const TIME_LIMIT: Duration = Duration::from_secs(20);
/// Bound for the in-process conversion.
const LIB_TIME_LIMIT: Duration = Duration::from_secs(5);

// --- RDB writing -----------------------------------------------------------

/// Appends an RDB length (`rdbSaveLen`), in the smallest form.
fn rlen(out: &mut Vec<u8>, n: u64) {
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Appends a raw RDB string.
fn rstr(out: &mut Vec<u8>, s: &[u8]) {
    rlen(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// A listpack of small string entries (each shorter than 64 bytes).
fn listpack(entries: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for e in entries {
        assert!(e.len() < 64);
        body.push(0x80 | e.len() as u8);
        body.extend_from_slice(e);
        body.push(1 + e.len() as u8); // backlen
    }
    let total = 6 + body.len() + 1;
    let mut lp = (total as u32).to_le_bytes().to_vec();
    lp.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    lp.extend_from_slice(&body);
    lp.push(0xFF);
    lp
}

/// A listpack entry holding an i64 (`0xF4` encoding) and its backlen.
fn lp_i64(v: i64) -> Vec<u8> {
    let mut e = vec![0xF4];
    e.extend_from_slice(&v.to_le_bytes());
    e.push(9);
    e
}

/// A listpack entry holding a 7-bit unsigned integer.
fn lp_small(v: u8) -> Vec<u8> {
    assert!(v < 128);
    vec![v, 1]
}

/// Wraps raw listpack entries (already encoded, with backlens).
fn listpack_raw(entries: &[Vec<u8>]) -> Vec<u8> {
    let body: Vec<u8> = entries.concat();
    let mut lp = ((6 + body.len() + 1) as u32).to_le_bytes().to_vec();
    lp.extend_from_slice(&u16::MAX.to_le_bytes()); // "count them"
    lp.extend_from_slice(&body);
    lp.push(0xFF);
    lp
}

/// A file being written: header, items, then EOF and a correct CRC-64, so
/// that what fails is the structure and not the checksum.
struct File {
    data: Vec<u8>,
    /// Byte range of the hostile record.
    bad: Option<(u64, u64)>,
}

impl File {
    fn new(magic_version: &[u8]) -> File {
        File {
            data: magic_version.to_vec(),
            bad: None,
        }
    }

    /// An ordinary key before the hostile one, so the error is not at the
    /// first record.
    fn good_key(&mut self) -> &mut Self {
        self.data.push(0); // string
        rstr(&mut self.data, b"good");
        rstr(&mut self.data, b"value");
        self
    }

    /// Appends the hostile record (opcode or type byte and all that
    /// follows) and remembers where it is.
    fn bad(&mut self, bytes: &[u8]) -> &mut Self {
        let start = self.data.len() as u64;
        self.data.extend_from_slice(bytes);
        self.bad = Some((start, self.data.len() as u64));
        self
    }

    /// Filler bytes that belong to the hostile record (elements after a
    /// lying count, say), to bring the file to about 1 KB.
    fn filler(&mut self, n: usize) -> &mut Self {
        self.data.extend(std::iter::repeat_n(b'x', n));
        if let Some((_, end)) = &mut self.bad {
            *end = self.data.len() as u64;
        }
        self
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut d = self.data.clone();
        d.push(0xFF);
        let crc = crc64(0, &d);
        d.extend_from_slice(&crc.to_le_bytes());
        d
    }
}

/// A key record's head: type byte and key name.
fn key(type_byte: u8, name: &[u8]) -> Vec<u8> {
    let mut v = vec![type_byte];
    rstr(&mut v, name);
    v
}

/// `n` elements of 9 bytes each (a length byte and 8 characters).
fn elements(n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    for i in 0..n {
        rstr(&mut v, format!("elem{i:04}").as_bytes());
    }
    v
}

// --- the cases ---------------------------------------------------------------

struct Case {
    name: &'static str,
    data: Vec<u8>,
    /// Byte range of the hostile record: the error offset must be in it.
    bad: (u64, u64),
    expect: Expect,
}

/// Who must refuse the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// The boundary pass sees the problem: `json` and `stats` fail.
    Boundary,
    /// Only decoding sees it (inside a listpack, LZF data, ...): `json`
    /// fails, `stats` may succeed.
    Decode,
    /// Nothing reads the bytes (a module value is kept raw): every command
    /// succeeds, without acting on the declared size.
    Raw,
}
use Expect::*;

fn case(name: &'static str, f: &mut File, expect: Expect) -> Case {
    let data = f.finish();
    Case {
        name,
        bad: f.bad.expect("a hostile record"),
        data,
        expect,
    }
}

const GIB4: u64 = 4_000_000_000;

fn cases() -> Vec<Case> {
    let mut out = Vec::new();

    // Strings longer than any file.
    for (name, len) in [
        ("string of 2^63 bytes", 1u64 << 63),
        ("string of 2^32 bytes", 1u64 << 32),
        ("string of 2^32 - 1 bytes (32-bit length)", u32::MAX as u64),
        ("string of u64::MAX bytes", u64::MAX),
    ] {
        let mut r = key(0, b"big");
        rlen(&mut r, len);
        out.push(case(
            name,
            File::new(b"REDIS0011").good_key().bad(&r).filler(1000),
            Boundary,
        ));
    }

    // Plain collections claiming 4 billion elements, 100 real ones.
    for (name, t) in [
        ("list of 4e9 elements", 1u8),
        ("set of 4e9 members", 2),
        ("zset (string scores) of 4e9 members", 3),
        ("hash of 4e9 fields", 4),
        ("zset (binary scores) of 4e9 members", 5),
    ] {
        let mut r = key(t, b"coll");
        rlen(&mut r, GIB4);
        r.extend_from_slice(&elements(100));
        out.push(case(
            name,
            File::new(b"REDIS0011").good_key().bad(&r),
            Boundary,
        ));
    }

    // Quicklists with 2^40 nodes.
    let mut r = key(14, b"ql");
    rlen(&mut r, 1 << 40);
    r.extend_from_slice(&elements(100));
    out.push(case(
        "quicklist (ziplist nodes) of 2^40 nodes",
        File::new(b"REDIS0009").good_key().bad(&r),
        Boundary,
    ));
    let mut r = key(18, b"ql2");
    rlen(&mut r, 1 << 40);
    for _ in 0..30 {
        rlen(&mut r, 2);
        rstr(&mut r, &listpack(&[b"a", b"b"]));
    }
    out.push(case(
        "quicklist-2 of 2^40 nodes",
        File::new(b"REDIS0011").good_key().bad(&r),
        Boundary,
    ));

    // LZF strings declaring huge uncompressed sizes.
    for (name, declared, clen) in [
        ("LZF string declaring 4 GiB", 1u64 << 32, 12usize),
        ("LZF string declaring 2^63 bytes", 1u64 << 63, 12),
        ("LZF string declaring 100 MB, 16-byte body", 100_000_000, 16),
        (
            "LZF string declaring 100 MB, 900-byte body",
            100_000_000,
            900,
        ),
    ] {
        let mut r = key(0, b"lzf");
        r.push(0xC3);
        rlen(&mut r, clen as u64);
        rlen(&mut r, declared);
        // A plausible stream: a literal run, then back references.
        let mut body = vec![0x03, b'a', b'b', b'c', b'd'];
        while body.len() + 3 <= clen {
            body.extend_from_slice(&[0xE0, 0xFF, 0x00]); // copy 264 bytes from 1 back
        }
        body.resize(clen, 0x00);
        r.extend_from_slice(&body);
        out.push(case(
            name,
            File::new(b"REDIS0011").good_key().bad(&r).filler(0),
            Decode,
        ));
    }

    // A listpack whose header's total-bytes lies.
    for (name, total) in [
        ("listpack total-bytes says 2^31", 1u32 << 31),
        ("listpack total-bytes says 4 GiB - 1", u32::MAX),
        ("listpack total-bytes says 7 (too short)", 7),
    ] {
        let mut lp = listpack(&[b"one", b"two", b"three"]);
        lp[..4].copy_from_slice(&total.to_le_bytes());
        let mut r = key(20, b"lpset");
        rstr(&mut r, &lp);
        out.push(case(
            name,
            File::new(b"REDIS0011").good_key().bad(&r).filler(0),
            Decode,
        ));
    }
    // A listpack string entry claiming 2^32-1 bytes (0xF0 encoding).
    let mut e = vec![0xF0];
    e.extend_from_slice(&u32::MAX.to_le_bytes());
    e.extend_from_slice(b"abc");
    let mut r = key(20, b"lpset");
    rstr(&mut r, &listpack_raw(&[e]));
    out.push(case(
        "listpack entry of 2^32-1 bytes",
        File::new(b"REDIS0011").good_key().bad(&r),
        Decode,
    ));

    // A ziplist whose second entry's prevlen points 2 GB back, before the
    // ziplist itself.
    let mut entries = Vec::new();
    entries.extend_from_slice(&[0x00, 0x01, b'a']); // prevlen 0, 1-byte string
    entries.extend_from_slice(&[0xFE]);
    entries.extend_from_slice(&0x7FFF_FFF0u32.to_le_bytes());
    entries.extend_from_slice(&[0x01, b'b']);
    let total = 10 + entries.len() + 1;
    let mut zl = (total as u32).to_le_bytes().to_vec();
    zl.extend_from_slice(&3u32.to_le_bytes()); // zltail: the second entry
    zl.extend_from_slice(&2u16.to_le_bytes());
    zl.extend_from_slice(&entries);
    zl.push(0xFF);
    let mut r = key(10, b"zl");
    rstr(&mut r, &zl);
    out.push(case(
        "ziplist prevlen pointing 2 GB backwards",
        File::new(b"REDIS0009").good_key().bad(&r),
        Decode,
    ));
    // A ziplist whose zlbytes and zltail lie.
    let mut zl2 = zl.clone();
    zl2[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    zl2[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut r = key(10, b"zl");
    rstr(&mut r, &zl2);
    out.push(case(
        "ziplist zlbytes and zltail of 4 GiB",
        File::new(b"REDIS0009").good_key().bad(&r),
        Decode,
    ));

    // Zipmap field of 4 GiB; intset of 2^31 8-byte elements.
    let mut zm = vec![1u8, 0xFE];
    zm.extend_from_slice(&0xFFFF_FFF0u32.to_le_bytes());
    zm.extend_from_slice(b"field\x05\x00value\xff");
    let mut r = key(9, b"zm");
    rstr(&mut r, &zm);
    out.push(case(
        "zipmap field of 4 GiB",
        File::new(b"REDIS0003").good_key().bad(&r),
        Decode,
    ));
    let mut is = 8u32.to_le_bytes().to_vec();
    is.extend_from_slice(&(1u32 << 31).to_le_bytes());
    is.extend_from_slice(&1i64.to_le_bytes());
    let mut r = key(11, b"is");
    rstr(&mut r, &is);
    out.push(case(
        "intset of 2^31 elements",
        File::new(b"REDIS0006").good_key().bad(&r),
        Decode,
    ));

    // Streams (type 21): node count, master entry counts, PEL counts.
    let id = |ms: u64, seq: u64| {
        let mut v = ms.to_be_bytes().to_vec();
        v.extend_from_slice(&seq.to_be_bytes());
        v
    };
    let stream_tail = |groups: &[u8]| {
        // length 0, last id 0-0, first id, max deleted id, entries added
        let mut v = vec![0, 0, 0, 0, 0, 0, 0, 0];
        v.extend_from_slice(groups);
        v
    };
    let mut r = key(21, b"st");
    rlen(&mut r, 1 << 40);
    r.extend_from_slice(&elements(100));
    out.push(case(
        "stream of 2^40 listpack nodes",
        File::new(b"REDIS0011").good_key().bad(&r),
        Boundary,
    ));
    for (name, live, deleted, fields) in [
        ("stream node with 2^40 live entries", 1i64 << 40, 0i64, 1i64),
        ("stream node with i64::MAX entries", i64::MAX, 0, 1),
        (
            "stream node with i64::MAX + i64::MAX entries",
            i64::MAX,
            i64::MAX,
            1,
        ),
        ("stream master entry with 2^40 fields", 1, 0, 1 << 40),
    ] {
        let lp = listpack_raw(&[
            lp_i64(live),
            lp_i64(deleted),
            lp_i64(fields),
            vec![0x81, b'f', 2], // field "f"
            lp_small(0),
        ]);
        let mut r = key(21, b"st");
        rlen(&mut r, 1);
        rstr(&mut r, &id(1, 0));
        rstr(&mut r, &lp);
        r.extend_from_slice(&stream_tail(&[0]));
        out.push(case(
            name,
            File::new(b"REDIS0011").good_key().bad(&r),
            Decode,
        ));
    }
    let group = |pel: u64, consumers: u64, cpel: Option<u64>| {
        let mut g = vec![1]; // one group
        rstr(&mut g, b"g");
        g.extend_from_slice(&[0, 0, 0]); // last delivered 0-0, entries_read 0
        rlen(&mut g, pel);
        rlen(&mut g, consumers);
        if let Some(n) = cpel {
            rstr(&mut g, b"c");
            g.extend_from_slice(&[0; 16]); // seen, active time
            rlen(&mut g, n);
        }
        g
    };
    for (name, g, filler) in [
        (
            "stream group PEL of 4e9 entries",
            group(GIB4, 0, None),
            1000,
        ),
        (
            "stream group PEL of 2^62 entries",
            group(1 << 62, 0, None),
            1000,
        ),
        ("stream group of 4e9 consumers", group(0, GIB4, None), 1000),
        (
            "stream consumer PEL of 4e9 entries",
            group(0, 1, Some(GIB4)),
            1000,
        ),
        (
            "stream of 2^40 consumer groups",
            {
                let mut g = Vec::new();
                rlen(&mut g, 1 << 40);
                g
            },
            1000,
        ),
    ] {
        let mut r = key(21, b"st");
        rlen(&mut r, 0);
        r.extend_from_slice(&stream_tail(&g));
        out.push(case(
            name,
            File::new(b"REDIS0011").good_key().bad(&r).filler(filler),
            Boundary,
        ));
    }
    // IDMP (type 26, RDB 13): 4e9 producers.
    let mut r = key(26, b"st");
    rlen(&mut r, 0);
    r.extend_from_slice(&stream_tail(&[0]));
    r.extend_from_slice(&[0, 0]); // duration, max entries
    rlen(&mut r, GIB4);
    out.push(case(
        "stream IDMP block of 4e9 producers",
        File::new(b"REDIS0013").good_key().bad(&r).filler(1000),
        Boundary,
    ));

    // Module values and module aux data with huge lengths.
    let module_id: u64 = 0x1234_5678_9abc_d000; // some 9-character name, encver 0
    let mut r = key(7, b"mod");
    rlen(&mut r, module_id);
    rlen(&mut r, 5); // STRING
    rlen(&mut r, 1 << 62);
    out.push(case(
        "module value string of 2^62 bytes",
        File::new(b"REDIS0009").good_key().bad(&r).filler(1000),
        Boundary,
    ));
    let mut r = key(7, b"mod");
    rlen(&mut r, module_id);
    rlen(&mut r, 5); // STRING, LZF, declaring 2^40 bytes
    r.push(0xC3);
    rlen(&mut r, 4);
    rlen(&mut r, 1 << 40);
    r.extend_from_slice(&[0x00, b'a', 0x00, 0x00]);
    rlen(&mut r, 0);
    out.push(case(
        "module value: LZF string declaring 2^40 bytes, then EOF",
        File::new(b"REDIS0009").good_key().bad(&r),
        Raw,
    ));
    // An opcode stream with no end: 500 UINT items, then the file ends.
    let mut r = key(7, b"mod");
    rlen(&mut r, module_id);
    for i in 0..500 {
        rlen(&mut r, 2);
        rlen(&mut r, i);
    }
    out.push(case(
        "module value without its EOF opcode",
        File::new(b"REDIS0009").good_key().bad(&r),
        Boundary,
    ));
    let mut r = vec![247]; // MODULE_AUX
    rlen(&mut r, module_id);
    rlen(&mut r, 2); // UINT, then `when`
    rlen(&mut r, 2);
    rlen(&mut r, 5);
    rlen(&mut r, u64::MAX);
    out.push(case(
        "module aux string of u64::MAX bytes",
        File::new(b"REDIS0009").good_key().bad(&r).filler(1000),
        Boundary,
    ));

    // Hashes with field TTLs.
    let mut r = key(24, b"hfe");
    r.extend_from_slice(&1_700_000_000_000u64.to_le_bytes());
    rlen(&mut r, GIB4);
    out.push(case(
        "hash with field TTLs (type 24) of 4e9 fields",
        File::new(b"REDIS0012").good_key().bad(&r).filler(1000),
        Boundary,
    ));
    let mut r = key(22, b"hfe");
    rlen(&mut r, GIB4);
    out.push(case(
        "Valkey HASH_2 of 4e9 fields",
        File::new(b"VALKEY080").good_key().bad(&r).filler(1000),
        Boundary,
    ));

    // Opcodes with huge counts and lengths.
    let mut r = vec![243]; // KEY_META
    rlen(&mut r, GIB4);
    out.push(case(
        "KEY_META with 4e9 classes",
        File::new(b"REDIS0013").good_key().bad(&r).filler(1000),
        Boundary,
    ));
    let mut r = vec![243]; // Valkey SLOT_IMPORT
    rstr(&mut r, b"job");
    rlen(&mut r, GIB4);
    out.push(case(
        "Valkey SLOT_IMPORT with 4e9 ranges",
        File::new(b"VALKEY080").good_key().bad(&r).filler(1000),
        Boundary,
    ));
    let mut r = vec![250]; // AUX
    rlen(&mut r, 1 << 63);
    out.push(case(
        "AUX field name of 2^63 bytes",
        File::new(b"REDIS0011").good_key().bad(&r).filler(1000),
        Boundary,
    ));
    let mut r = vec![245]; // FUNCTION2
    rlen(&mut r, 1 << 33);
    out.push(case(
        "function library of 2^33 bytes",
        File::new(b"REDIS0011").good_key().bad(&r).filler(1000),
        Boundary,
    ));

    out
}

// --- running -----------------------------------------------------------------

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rdbkit")
}

fn scratch_dir() -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("hostile");
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Outcome {
    code: Option<i32>,
    stderr: String,
    elapsed: Duration,
}

/// Runs `rdbkit ARGS` under the memory limit; kills it at the time limit.
fn run_limited(args: &[&str]) -> Outcome {
    let start = Instant::now();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("ulimit -v {VMEM_LIMIT_KIB}; exec \"$0\" \"$@\""))
        .arg(bin())
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sh");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break Some(st);
        }
        if start.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    Outcome {
        code: status.and_then(|s| s.code()),
        stderr: reader.join().unwrap(),
        elapsed,
    }
}

/// The offset in `rdbkit: error: FILE: at byte offset N: ...`.
fn offset_in(stderr: &str) -> Option<u64> {
    let rest = stderr.split("at byte offset ").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// What a run must do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Fail,
    Either,
    Succeed,
}

/// Checks one subprocess run.
fn check_run(c: &Case, path: &Path, args: &[&str], want: Want) -> Result<String, String> {
    let mut full: Vec<&str> = args.to_vec();
    let p = path.to_str().unwrap();
    full.push(p);
    let o = run_limited(&full);
    let what = args.join(" ");
    if o.elapsed > TIME_LIMIT {
        return Err(format!(
            "{what}: still running after {TIME_LIMIT:?} (killed)"
        ));
    }
    if o.stderr.contains("panicked") {
        return Err(format!("{what}: panicked: {}", o.stderr.trim()));
    }
    match o.code {
        Some(0) if want != Want::Fail => Ok(format!("{what}: ok (exit 0) in {:?}", o.elapsed)),
        Some(1) if want != Want::Succeed => {
            let off = offset_in(&o.stderr).ok_or_else(|| {
                format!("{what}: no byte offset in the message: {}", o.stderr.trim())
            })?;
            let (lo, hi) = c.bad;
            if off < lo || off > hi {
                return Err(format!(
                    "{what}: offset {off} is outside the hostile record [{lo}, {hi}]: {}",
                    o.stderr.trim()
                ));
            }
            Ok(format!(
                "{what}: exit 1 in {:?}: {}",
                o.elapsed,
                o.stderr.trim()
            ))
        }
        other => Err(format!(
            "{what}: exit {other:?} (expected {want:?}): {}",
            o.stderr.trim()
        )),
    }
}

/// The library: an error inside the hostile record, fast, no panic.
fn check_lib(c: &Case) -> Result<String, String> {
    let opts = JsonOptions {
        meta: true,
        verify_checksum: true,
    };
    let start = Instant::now();
    let r = std::panic::catch_unwind(|| to_vec(&c.data, &opts))
        .map_err(|_| "library: panicked".to_string())?;
    let t = start.elapsed();
    if t > LIB_TIME_LIMIT {
        return Err(format!("library: took {t:?}"));
    }
    match r {
        Ok(out) if c.expect == Raw => Ok(format!("library: converted ({} bytes)", out.len())),
        Ok(out) => Err(format!("library: converted ({} bytes of JSON)", out.len())),
        Err(e) if c.expect == Raw => Err(format!("library: {e}")),
        Err(e) => {
            let (lo, hi) = c.bad;
            if e.offset < lo || e.offset > hi {
                return Err(format!(
                    "library: offset {} outside [{lo}, {hi}]: {e}",
                    e.offset
                ));
            }
            Ok(format!("{e}"))
        }
    }
}

#[test]
fn hostile_files_fail_fast_with_an_offset() {
    let dir = scratch_dir();
    let cases = cases();
    let mut failures = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        assert!(
            c.data.len() < 2048,
            "{}: the point is a small file ({} bytes)",
            c.name,
            c.data.len()
        );
        let path = dir.join(format!("case{i:02}.rdb"));
        std::fs::write(&path, &c.data).unwrap();
        let (json, stats) = match c.expect {
            Boundary => (Want::Fail, Want::Fail),
            Decode => (Want::Fail, Want::Either),
            Raw => (Want::Succeed, Want::Succeed),
        };
        let mut results = vec![
            check_run(c, &path, &["json", "-q", "-j", "4"], json),
            check_run(c, &path, &["json", "-q", "-j", "1", "--no-checksum"], json),
            check_run(c, &path, &["stats", "-q", "-j", "2"], stats),
        ];
        // In this process only when the limited runs were fine: an
        // allocation sized by a declared length would abort the test
        // binary itself.
        if results.iter().all(|r| r.is_ok()) {
            results.insert(0, check_lib(c));
        }
        let mut notes = Vec::new();
        for r in results {
            match r {
                Ok(n) => notes.push(n),
                Err(e) => failures.push(format!("{} ({} bytes): {e}", c.name, c.data.len())),
            }
        }
        println!(
            "{} ({} bytes):\n    {}",
            c.name,
            c.data.len(),
            notes.join("\n    ")
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} hostile cases misbehave:\n  {}",
        failures.len(),
        cases.len(),
        failures.join("\n  ")
    );
}

/// The memory limit is not what makes the cases fail: the same limit lets
/// real fixtures through with several threads.
#[test]
fn limit_lets_normal_runs_through() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata");
    for f in [
        "redis-7.4.1/default.rdb",
        "redis-7.0.15/default.rdb",
        "valkey-9.1.0/default.rdb",
    ] {
        let p = root.join(f);
        let p = p.to_str().unwrap();
        for args in [
            &["json", "-q", "-j", "4", p][..],
            &["stats", "-q", "-j", "4", p],
        ] {
            let o = run_limited(args);
            assert_eq!(
                o.code,
                Some(0),
                "{args:?} under ulimit -v {VMEM_LIMIT_KIB}: {}",
                o.stderr
            );
        }
    }
}

/// The good key before every hostile record converts on its own, so the
/// files are well-formed up to the hostile record.
#[test]
fn files_are_sound_up_to_the_hostile_record() {
    for c in cases() {
        let (lo, _) = c.bad;
        let mut prefix = c.data[..lo as usize].to_vec();
        prefix.push(0xFF);
        let crc = crc64(0, &prefix);
        prefix.extend_from_slice(&crc.to_le_bytes());
        let opts = JsonOptions {
            meta: false,
            verify_checksum: true,
        };
        let out = to_vec(&prefix, &opts).unwrap_or_else(|e| panic!("{}: prefix: {e}", c.name));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"db\":0,\"key\":\"good\",\"type\":\"string\",\"value\":\"value\"}\n",
            "{}",
            c.name
        );
    }
}
