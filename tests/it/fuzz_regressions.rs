//! Inputs that once crashed a fuzz target (`fuzz/`), kept under
//! `testdata/fuzz/<target>/`: each is run through the entry point its
//! target exercises and must give a clean error (offset inside the input)
//! or a correct result, never a panic. `fuzz/seed.sh` also copies them into
//! the fuzz corpora.
//!
//! The directory name says how a file is read:
//!
//! | directory | input | entry points |
//! |---|---|---|
//! | `whole_file` | an RDB file | JSON (one and two threads, tiny chunks), `stats` |
//! | `restore_payload` | an RDB file | the above, plus RESTORE payloads and commands of every record |
//! | `listpack`, `ziplist`, `intset`, `zipmap` | one encoded blob | the decoder, and the blob as a value |
//! | `lzf` | u32 LE declared length, compressed bytes | `lzf::decompress_into`, `elem::decompress` |
//! | `stream` | a layout byte (mod 4: type 15, 19, 21, 26), a stream value | `decode_value`, `skip_value` |

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use rdbkit::load::payload::{payload_len, write_payload, write_restore, RestoreArgs, MAX_IDLETIME};
use rdbkit::rdb::crc64::crc64;
use rdbkit::rdb::cursor::Cursor;
use rdbkit::rdb::elem;
use rdbkit::rdb::hfe::HfeKind;
use rdbkit::rdb::records::{Item, ParseOptions, Parser, Record};
use rdbkit::rdb::stream::StreamVersion;
use rdbkit::rdb::value::{decode_value, skip_value, Scratch, ValueType, ValueVisitor};
use rdbkit::rdb::{intset, listpack, lzf, ziplist, zipmap};
use rdbkit::scan::EngineOptions;
use rdbkit::sink::json::{write_parallel, JsonOptions};
use rdbkit::sink::{stats, SinkError};
use rdbkit::Error;

const TARGETS: [&str; 8] = [
    "whole_file",
    "restore_payload",
    "listpack",
    "ziplist",
    "intset",
    "zipmap",
    "lzf",
    "stream",
];

/// File offset given to blob inputs (as the fuzz targets do), so that an
/// offset computed without it shows.
const BASE: u64 = 1 << 20;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/fuzz")
}

/// Every regression input, as (target, path), sorted.
fn inputs() -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for d in std::fs::read_dir(fuzz_dir()).expect("testdata/fuzz") {
        let d = d.unwrap().path();
        if !d.is_dir() {
            continue;
        }
        let target = d.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            TARGETS.contains(&target.as_str()),
            "testdata/fuzz/{target}: not a fuzz target this test knows how to run"
        );
        for f in std::fs::read_dir(&d).unwrap() {
            out.push((target.clone(), f.unwrap().path()));
        }
    }
    out.sort();
    out
}

/// An error must name an offset in `[lo, hi]` and say so in its text.
fn check_offset(e: &Error, lo: u64, hi: u64, what: &str) -> Result<(), String> {
    if e.offset < lo || e.offset > hi {
        return Err(format!(
            "{what}: error offset {} outside [{lo}, {hi}]: {e}",
            e.offset
        ));
    }
    if !e
        .to_string()
        .starts_with(&format!("at byte offset {}: ", e.offset))
    {
        return Err(format!("{what}: message does not name the offset: {e}"));
    }
    Ok(())
}

/// Accepts every element; counts nothing. The entry points under test are
/// the decoders, not a sink.
struct Discard;

impl ValueVisitor for Discard {}

/// Decodes and skips `value` as `vt` at offset [`BASE`]: errors inside the
/// value, and a decoded value ends where the skip ends.
fn value(value: &[u8], vt: ValueType) -> Result<bool, String> {
    let hi = BASE + value.len() as u64;
    let mut cur = Cursor::new(value, BASE);
    let r = decode_value(&mut cur, vt, &mut Scratch::default(), &mut Discard);
    let mut skip = Cursor::new(value, BASE);
    let s = skip_value(&mut skip, vt);
    if let Err(e) = &s {
        check_offset(e, BASE, hi, "skip_value")?;
    }
    match r {
        Err(e) => {
            check_offset(&e, BASE, hi, &format!("{vt:?}"))?;
            Ok(false)
        }
        Ok(()) if s.is_err() || skip.pos() != cur.pos() => Err(format!(
            "{vt:?}: decoded to byte {}, but skip_value gives {s:?} at {}",
            cur.pos(),
            skip.pos()
        )),
        Ok(()) => Ok(true),
    }
}

/// A blob as a raw RDB string.
fn as_string(blob: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    let n = blob.len() as u64;
    if n < 64 {
        v.push(n as u8);
    } else if n < 16384 {
        v.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else {
        v.push(0x80);
        v.extend_from_slice(&(n as u32).to_be_bytes());
    }
    v.extend_from_slice(blob);
    v
}

fn whole_file(data: &[u8]) -> Result<String, String> {
    let n = data.len() as u64;
    let mut summary = String::new();
    for verify in [false, true] {
        let opts = JsonOptions {
            meta: true,
            verify_checksum: verify,
        };
        let mut results = Vec::new();
        for (threads, chunk) in [(1, 2 << 20), (1, 1), (2, 7)] {
            let engine = EngineOptions {
                threads,
                chunk_bytes: chunk,
                verify_checksum: verify,
                ..Default::default()
            };
            let mut out = Vec::new();
            let r = match write_parallel(data, &opts, &engine, &mut out, None) {
                Ok(s) => Ok(s.keys),
                Err(SinkError::Format(e)) => {
                    check_offset(&e, 0, n, "json")?;
                    Err(e)
                }
                Err(e) => return Err(format!("json: {e}")),
            };
            results.push((out, r));
        }
        if results.iter().any(|x| *x != results[0]) {
            return Err(format!(
                "json (verify_checksum={verify}): output or result depends on threads/chunks"
            ));
        }
        let engine = EngineOptions {
            threads: 1,
            chunk_bytes: 2 << 20,
            verify_checksum: verify,
            ..Default::default()
        };
        match (stats::compute(data, &engine, None), &results[0].1) {
            (Ok(st), Ok(keys)) if st.keys() != *keys => {
                return Err(format!("stats counts {} keys, json {keys}", st.keys()))
            }
            (Err(e), Ok(_)) => return Err(format!("json accepts, stats refuses: {e}")),
            (Err(SinkError::Format(e)), _) => check_offset(&e, 0, n, "stats")?,
            _ => {}
        }
        summary = match &results[0].1 {
            Ok(k) => format!("converts ({k} keys)"),
            Err(e) => format!("error: {e}"),
        };
    }
    Ok(summary)
}

/// Payload and RESTORE command of one record.
fn restore(rec: &Record<'_>, version: u32) -> Result<(), String> {
    let mut p = Vec::new();
    write_payload(&mut p, rec, version);
    if p.len() != payload_len(rec) {
        return Err(format!(
            "payload is {} bytes, payload_len says {}",
            p.len(),
            payload_len(rec)
        ));
    }
    let (body, crc) = p.split_at(p.len() - 8);
    if crc64(0, body).to_le_bytes() != crc {
        return Err("payload CRC-64 does not match".into());
    }
    if body[body.len() - 2..] != (version as u16).to_le_bytes() {
        return Err("payload version".into());
    }
    let args = RestoreArgs {
        replace: true,
        expire_ms: None,
        idle: rec.idle,
        freq: rec.freq,
    };
    let mut cmd = Vec::new();
    write_restore(&mut cmd, b"key", rec, version, &args);
    if let Some(idle) = rec.idle {
        // `$<len>\r\n<digits>\r\n` after IDLETIME
        let text = String::from_utf8_lossy(&cmd);
        let arg = text
            .split("IDLETIME\r\n")
            .nth(1)
            .and_then(|t| t.split("\r\n").nth(1))
            .ok_or("no IDLETIME argument")?;
        let got: i64 = arg.parse().map_err(|_| format!("IDLETIME {arg:?}"))?;
        let want = i64::try_from(idle).unwrap_or(i64::MAX).min(MAX_IDLETIME);
        if got != want {
            return Err(format!("IDLETIME {got} for idle {idle} (want {want})"));
        }
    }
    Ok(())
}

fn restore_payload(data: &[u8]) -> Result<String, String> {
    let s = whole_file(data)?;
    let mut p = Parser::new(
        data,
        ParseOptions {
            verify_checksum: false,
        },
    )
    .map_err(|e| e.to_string())?;
    let version = p.header().version;
    let mut n = 0;
    while let Ok(Some(item)) = p.next_item() {
        if let Item::Key(rec) = item {
            restore(&rec, version).map_err(|e| format!("record at {}: {e}", rec.offset))?;
            n += 1;
        }
    }
    Ok(format!("{s}; {n} RESTORE payloads"))
}

/// Walks an iterator of fallible elements from a decoder.
fn walk<T>(
    it: impl Iterator<Item = rdbkit::Result<T>>,
    hi: u64,
    what: &str,
) -> Result<bool, String> {
    for e in it {
        if let Err(e) = e {
            check_offset(&e, BASE, hi, what)?;
            return Ok(false);
        }
    }
    Ok(true)
}

/// A decoder's parse and walk: `Ok(true)` when it accepts the blob.
fn decoder<T, I>(parsed: rdbkit::Result<I>, hi: u64, what: &str) -> Result<bool, String>
where
    I: Iterator<Item = rdbkit::Result<T>>,
{
    match parsed {
        Err(e) => check_offset(&e, BASE, hi, what).map(|()| false),
        Ok(it) => walk(it, hi, what),
    }
}

fn blob(target: &str, data: &[u8]) -> Result<String, String> {
    let hi = BASE + data.len() as u64;
    let (direct, types): (bool, &[ValueType]) = match target {
        "listpack" => (
            decoder(listpack::parse(data, BASE).map(|l| l.iter()), hi, target)?,
            &[
                ValueType::SetListpack,
                ValueType::ZSetListpack,
                ValueType::HashListpack,
                ValueType::HashTtl(HfeKind::RedisListpackExPreGa),
            ],
        ),
        "ziplist" => (
            decoder(ziplist::parse(data, BASE).map(|z| z.iter()), hi, target)?,
            &[
                ValueType::ListZiplist,
                ValueType::ZSetZiplist,
                ValueType::HashZiplist,
            ],
        ),
        "intset" => (
            decoder(
                intset::parse(data, BASE).map(|s| s.iter().map(Ok)),
                hi,
                target,
            )?,
            &[ValueType::SetIntset],
        ),
        "zipmap" => (
            decoder(zipmap::parse(data, BASE).map(|z| z.iter()), hi, target)?,
            &[ValueType::HashZipmap],
        ),
        _ => unreachable!(),
    };
    let wrapped = as_string(data);
    let mut ok = Vec::new();
    for &vt in types {
        let accepted = value(&wrapped, vt)?;
        if accepted && !direct {
            return Err(format!(
                "{vt:?} accepts a blob the {target} decoder refuses"
            ));
        }
        ok.push(accepted);
    }
    Ok(format!("decoder accepts: {direct}; as values: {ok:?}"))
}

fn lzf_input(data: &[u8]) -> Result<String, String> {
    let Some((len, input)) = data.split_first_chunk::<4>() else {
        return Ok("shorter than its length prefix".into());
    };
    let declared = u32::from_le_bytes(*len);
    let hi = BASE + input.len() as u64;
    let mut out = Vec::new();
    let r = lzf::decompress_into(input, declared as usize, &mut out, BASE);
    if out.len() > declared as usize {
        return Err(format!("{} bytes out, {declared} declared", out.len()));
    }
    if let Err(e) = &r {
        check_offset(e, BASE, hi, "decompress_into")?;
    }
    let mut out2 = Vec::new();
    match elem::decompress(input, declared as u64, BASE, &mut out2) {
        Ok(()) if r.is_err() || out2 != out => Err("elem::decompress disagrees".into()),
        Err(e) => {
            check_offset(&e, BASE, hi, "elem::decompress")?;
            Ok(format!("error: {e}"))
        }
        Ok(()) => Ok(format!("{} bytes", out.len())),
    }
}

fn stream(data: &[u8]) -> Result<String, String> {
    let Some((&sel, v)) = data.split_first() else {
        return Ok("empty".into());
    };
    let version = [
        StreamVersion::V1,
        StreamVersion::V2,
        StreamVersion::V3,
        StreamVersion::V4,
    ][(sel % 4) as usize];
    value(v, ValueType::Stream(version)).map(|ok| format!("{version:?}: decodes {ok}"))
}

fn run(target: &str, data: &[u8]) -> Result<String, String> {
    match target {
        "whole_file" => whole_file(data),
        "restore_payload" => restore_payload(data),
        "listpack" | "ziplist" | "intset" | "zipmap" => blob(target, data),
        "lzf" => lzf_input(data),
        "stream" => stream(data),
        _ => unreachable!(),
    }
}

fn rel(p: &Path) -> String {
    p.strip_prefix(fuzz_dir())
        .unwrap_or(p)
        .display()
        .to_string()
}

#[test]
fn fuzz_crashes_stay_fixed() {
    let inputs = inputs();
    assert!(!inputs.is_empty(), "no inputs under testdata/fuzz");
    let mut failures = Vec::new();
    for (target, path) in &inputs {
        let data = std::fs::read(path).unwrap();
        match catch_unwind(AssertUnwindSafe(|| run(target, &data))) {
            Ok(Ok(note)) => println!("ok {}: {note}", rel(path)),
            Ok(Err(e)) => failures.push(format!("{}: {e}", rel(path))),
            Err(_) => failures.push(format!("{}: panicked", rel(path))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fuzz regressions fail:\n  {}",
        failures.len(),
        inputs.len(),
        failures.join("\n  ")
    );
}

/// The first crash found (`restore_payload`): an IDLE opcode of 2^63 and
/// more. It converts, and its RESTORE carries the largest IDLETIME.
#[test]
fn huge_idle_converts_and_restores() {
    let path = fuzz_dir().join("restore_payload/idle-2pow63-negative-idletime.bin");
    let data = std::fs::read(&path).unwrap();
    let note = restore_payload(&data).unwrap();
    assert!(note.starts_with("converts (1 keys)"), "{note}");
    let mut p = Parser::new(&data, ParseOptions::default()).unwrap();
    let Ok(Some(Item::Key(rec))) = p.next_item() else {
        panic!("one key expected")
    };
    assert!(
        rec.idle.unwrap() >= 1 << 63,
        "the input still has a huge idle time"
    );
    let mut cmd = Vec::new();
    let args = RestoreArgs {
        idle: rec.idle,
        ..Default::default()
    };
    write_restore(&mut cmd, b"k", &rec, 9, &args);
    let want = format!(
        "IDLETIME\r\n${}\r\n{MAX_IDLETIME}\r\n",
        MAX_IDLETIME.to_string().len()
    );
    assert!(
        String::from_utf8_lossy(&cmd).contains(&want),
        "{:?}",
        String::from_utf8_lossy(&cmd)
    );
}

/// Redis 8.8's new values (arrays, type-27 streams) from the RDB 14
/// fixtures, cut at every byte and with every byte flipped: never a panic,
/// errors inside the value, and a value that decodes ends where the skip
/// ends (what the `array` and `stream` fuzz targets check, on real values).
#[test]
fn rdb14_values_survive_truncation_and_bit_flips() {
    let data = std::fs::read(common_newest("redis-unstable-20260609.rdb")).unwrap();
    let mut checked = 0;
    for item in Parser::new(&data, ParseOptions::default()).unwrap() {
        let Item::Key(rec) = item.unwrap() else {
            continue;
        };
        let new = matches!(
            rec.vtype,
            ValueType::Array | ValueType::Stream(StreamVersion::V5)
        );
        if !new || rec.value.len() > 4096 {
            continue;
        }
        assert_eq!(value(rec.value, rec.vtype), Ok(true), "the value itself");
        for n in 0..rec.value.len() {
            value(&rec.value[..n], rec.vtype).unwrap();
            let mut v = rec.value.to_vec();
            v[n] ^= 0xFF;
            value(&v, rec.vtype).unwrap();
            v[n] ^= 0x7E;
            value(&v, rec.vtype).unwrap();
        }
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} RDB 14 values checked");
}

fn common_newest(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/newest")
        .join(name)
}
