//! A whole file through the JSON sink (with `--meta` lines), as the CLI
//! runs it, and the invariants that tie the pieces together:
//!
//! - errors name an offset inside the file;
//! - the output and the result are the same whatever the chunk size and
//!   thread count (one record per chunk; sometimes two threads);
//! - a successful run writes valid JSON Lines, one key line per key;
//! - `stats` (which does not decode values) accepts what `json` accepts and
//!   counts the same keys;
//! - every record's value decodes to exactly the bytes the boundary pass
//!   assigned it.
//!
//! The last input byte picks the options, so the fuzzer explores them too.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rdbkit::rdb::cursor::Cursor;
use rdbkit::rdb::records::{Item, ParseOptions, Parser};
use rdbkit::rdb::value::{decode_value, Scratch};
use rdbkit::scan::EngineOptions;
use rdbkit::sink::json::{write_parallel, JsonOptions};
use rdbkit::sink::{stats, SinkError};
use rdbkit_fuzz::{assert_offset, Tally};

fn run(
    data: &[u8],
    opts: &JsonOptions,
    threads: usize,
    chunk_bytes: usize,
) -> (Vec<u8>, Result<u64, rdbkit::Error>) {
    let engine = EngineOptions {
        threads,
        chunk_bytes,
        verify_checksum: opts.verify_checksum,
        ..Default::default()
    };
    let mut out = Vec::new();
    let r = match write_parallel(data, opts, &engine, &mut out, None) {
        Ok(s) => Ok(s.keys),
        Err(SinkError::Format(e)) => Err(e),
        Err(e) => panic!("the JSON sink failed writing to a Vec: {e}"),
    };
    (out, r)
}

fuzz_target!(|data: &[u8]| {
    let n = data.len() as u64;
    let knob = data.last().copied().unwrap_or(0);
    let opts = JsonOptions {
        meta: true,
        verify_checksum: knob & 1 != 0,
    };

    // Reference: one thread, the default 2 MiB chunks (`write_all`).
    let (out, r) = run(data, &opts, 1, 2 << 20);
    if let Err(e) = &r {
        assert_offset(e, 0, n, "json");
    }

    // Tiny chunks: every record re-walked on its own by `Chunk::parser`.
    let small = 1 + (knob as usize >> 1) % 48;
    let (out2, r2) = run(data, &opts, 1, small);
    assert_eq!(r2, r, "result with {small}-byte chunks");
    assert!(out2 == out, "output with {small}-byte chunks differs");
    if knob & 0x70 == 0 {
        let (out3, r3) = run(data, &opts, 2, small);
        assert_eq!(r3, r, "result with 2 threads");
        assert!(out3 == out, "output with 2 threads differs");
    }

    if let Ok(keys) = r {
        assert!(
            out.is_empty() || out.ends_with(b"\n"),
            "output ends mid-line"
        );
        let mut key_lines = 0;
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let v: serde_json::Value = serde_json::from_slice(line)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(line)));
            assert!(v.is_object(), "line is not an object");
            key_lines += v.get("key").is_some() as u64;
        }
        assert_eq!(key_lines, keys, "key lines vs summary");

        let engine = EngineOptions {
            threads: 1,
            chunk_bytes: 2 << 20,
            verify_checksum: opts.verify_checksum,
            ..Default::default()
        };
        match stats::compute(data, &engine, None) {
            Ok(st) => assert_eq!(st.keys(), keys, "stats counts other keys than json"),
            Err(e) => panic!("json accepts the file, stats refuses it: {e}"),
        }
    }

    // Each record's value: decode ends where the boundary pass ended it.
    let Ok(mut p) = Parser::new(
        data,
        ParseOptions {
            verify_checksum: false,
        },
    ) else {
        return;
    };
    let mut scratch = Scratch::default();
    loop {
        match p.next_item() {
            Ok(Some(Item::Key(rec))) => {
                assert_eq!(rec.value_offset + rec.value.len() as u64, rec.end_offset());
                assert!(rec.offset < rec.value_offset && rec.end_offset() <= n);
                let mut cur = Cursor::new(rec.value, rec.value_offset);
                let mut t = Tally::default();
                match decode_value(&mut cur, rec.vtype, &mut scratch, &mut t) {
                    Ok(()) => assert_eq!(
                        cur.remaining(),
                        0,
                        "{:?} at {}: decode stops {} bytes before the boundary pass",
                        rec.vtype,
                        rec.offset,
                        cur.remaining()
                    ),
                    Err(e) => assert_offset(&e, rec.value_offset, rec.end_offset(), "decode"),
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                assert_offset(&e, 0, n, "parser");
                assert!(
                    matches!(p.next_item(), Ok(None)),
                    "parser goes on after an error"
                );
                break;
            }
        }
    }
});
