//! Record filters (`--db`, `--key`, `--key-regex`, `--not-key`, `--type`,
//! `--min-bytes`/`--max-bytes`, `--expiring`/`--persistent`,
//! `--skip-expired`): for every fixture, the filtered conversion must be
//! exactly the unfiltered conversion's lines that satisfy the condition,
//! computed here independently from the JSON lines; and a dropped value is
//! never decoded.

use crate::util::common;

use std::process::Command;
use std::sync::Arc;

use rdbkit::filter::{Expiry, Filter, Pattern};
use rdbkit::rdb::records::{Item, ParseOptions, Parser};
use rdbkit::rdb::value::Kind;
use rdbkit::scan::EngineOptions;
use rdbkit::sink::json::{write_parallel, JsonOptions};
use rdbkit::sink::stats;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rdbkit");

fn convert_filtered(data: &[u8], filter: Filter, threads: usize) -> Result<Vec<Value>, String> {
    let engine = EngineOptions {
        threads,
        chunk_bytes: 4096,
        verify_checksum: false,
        filter: Some(Arc::new(filter)),
        ..Default::default()
    };
    let mut out = Vec::new();
    write_parallel(
        data,
        &JsonOptions {
            meta: false,
            verify_checksum: false,
        },
        &engine,
        &mut out,
        None,
    )
    .map_err(|e| e.to_string())?;
    common::parse_jsonl(&out)
}

/// Fixtures that convert cleanly, with their key lines.
fn fixtures() -> Vec<(String, Vec<u8>, Vec<Value>)> {
    let mut out = Vec::new();
    for p in common::all_rdb_files() {
        let data = common::read(&p);
        if let Ok(lines) = common::convert_keys(&data, false) {
            if !lines.is_empty() {
                out.push((common::rel(&p), data, lines));
            }
        }
    }
    assert!(out.len() > 100, "only {} fixtures convert", out.len());
    out
}

fn key_bytes(l: &Value) -> Vec<u8> {
    common::bytes_of(&l["key"]).expect("key")
}

/// Checks `filtered == full lines where keep(line)`, in order.
fn check(
    name: &str,
    what: &str,
    data: &[u8],
    full: &[Value],
    filter: Filter,
    keep: impl Fn(&Value) -> bool,
    failures: &mut Vec<String>,
) -> usize {
    let want: Vec<&Value> = full.iter().filter(|l| keep(l)).collect();
    for threads in [1, 3] {
        match convert_filtered(data, filter.clone(), threads) {
            Ok(got) => {
                let got: Vec<&Value> = got.iter().collect();
                if got != want {
                    failures.push(format!(
                        "{name}: {what} ({threads} threads): {} lines, expected {}",
                        got.len(),
                        want.len()
                    ));
                }
            }
            Err(e) => failures.push(format!("{name}: {what}: {e}")),
        }
    }
    want.len()
}

#[test]
fn filters_select_exactly_the_matching_keys_of_every_fixture() {
    let mut failures = Vec::new();
    let (mut kept, mut total, mut cases) = (0usize, 0usize, 0usize);
    for (name, data, full) in fixtures() {
        total += full.len();
        let mut dbs: Vec<u64> = full.iter().map(|l| l["db"].as_u64().unwrap()).collect();
        dbs.dedup();
        for db in dbs.iter().copied().chain([99]) {
            let f = Filter {
                dbs: vec![db],
                ..Default::default()
            };
            kept += check(
                &name,
                &format!("--db {db}"),
                &data,
                &full,
                f,
                |l| l["db"] == db,
                &mut failures,
            );
            cases += 1;
        }
        for (t, kind) in [
            ("string", Kind::String),
            ("list", Kind::List),
            ("set", Kind::Set),
            ("zset", Kind::ZSet),
            ("hash", Kind::Hash),
            ("stream", Kind::Stream),
        ] {
            let f = Filter {
                types: vec![kind],
                ..Default::default()
            };
            kept += check(&name, t, &data, &full, f, |l| l["type"] == t, &mut failures);
            cases += 1;
        }
        let f = Filter {
            expiry: Some(Expiry::Expiring),
            ..Default::default()
        };
        kept += check(
            &name,
            "--expiring",
            &data,
            &full,
            f,
            |l| l.get("expire_ms").is_some(),
            &mut failures,
        );
        let f = Filter {
            expiry: Some(Expiry::Persistent),
            ..Default::default()
        };
        kept += check(
            &name,
            "--persistent",
            &data,
            &full,
            f,
            |l| l.get("expire_ms").is_none(),
            &mut failures,
        );
        // Expired relative to a fixed instant in the middle of the file's TTLs.
        let mut ttls: Vec<i64> = full
            .iter()
            .filter_map(|l| l["expire_ms"].as_i64())
            .collect();
        ttls.sort();
        if let Some(&mid) = ttls.get(ttls.len() / 2) {
            let f = Filter {
                expired_before_ms: Some(mid),
                ..Default::default()
            };
            kept += check(
                &name,
                "--skip-expired",
                &data,
                &full,
                f,
                |l| l["expire_ms"].as_i64().is_none_or(|e| e > mid),
                &mut failures,
            );
        }
        cases += 4;
        // A prefix of the first plain key, as a glob, a regex and an exclusion.
        let sample = full.iter().map(key_bytes).find(|k| {
            k.len() >= 2
                && k.iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b':' || *b == b'_')
        });
        if let Some(k) = sample {
            let prefix = &k[..(k.len() / 2).max(1)];
            let glob = format!("{}*", String::from_utf8_lossy(prefix));
            let starts = |l: &Value| key_bytes(l).starts_with(prefix);
            let f = Filter {
                keys: vec![Pattern::glob(&glob)],
                ..Default::default()
            };
            kept += check(
                &name,
                &format!("--key {glob}"),
                &data,
                &full,
                f,
                starts,
                &mut failures,
            );
            let re = format!("^{}", regex::escape(&String::from_utf8_lossy(prefix)));
            let f = Filter {
                keys: vec![Pattern::regex(&re).unwrap()],
                ..Default::default()
            };
            kept += check(
                &name,
                &format!("--key-regex {re}"),
                &data,
                &full,
                f,
                starts,
                &mut failures,
            );
            let f = Filter {
                not_keys: vec![Pattern::glob(&glob)],
                ..Default::default()
            };
            kept += check(
                &name,
                &format!("--not-key {glob}"),
                &data,
                &full,
                f,
                |l| !starts(l),
                &mut failures,
            );
            // Include and exclude together: the exact key is excluded.
            let exact = String::from_utf8_lossy(&k).into_owned();
            let f = Filter {
                keys: vec![Pattern::glob(&glob)],
                not_keys: vec![Pattern::glob(&exact)],
                ..Default::default()
            };
            kept += check(
                &name,
                "--key and --not-key",
                &data,
                &full,
                f,
                |l| starts(l) && key_bytes(l) != k,
                &mut failures,
            );
            cases += 4;
        }
    }
    println!(
        "filters: {cases} cases, {kept} of {total}×cases lines kept, {} failures",
        failures.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(kept > 1000, "the cases kept almost nothing ({kept})");
}

/// Size bounds use the encoded value's span: check against the parser's own
/// record spans, and that the bounds are inclusive.
#[test]
fn size_bounds_are_inclusive_and_use_the_serialized_value() {
    let mut checked = 0;
    for (name, data, full) in fixtures() {
        let mut p = Parser::new(
            &data,
            ParseOptions {
                verify_checksum: false,
            },
        )
        .unwrap();
        let mut sizes = Vec::new();
        while let Ok(Some(item)) = p.next_item() {
            if let Item::Key(r) = item {
                sizes.push(r.value.len() as u64);
            }
        }
        assert_eq!(sizes.len(), full.len(), "{name}");
        let mut sorted = sizes.clone();
        sorted.sort();
        let (lo, hi) = (sorted[sorted.len() / 4], sorted[sorted.len() * 3 / 4]);
        let f = Filter {
            min_bytes: Some(lo),
            max_bytes: Some(hi),
            ..Default::default()
        };
        let want: Vec<&Value> = full
            .iter()
            .zip(&sizes)
            .filter(|(_, &s)| s >= lo && s <= hi)
            .map(|(l, _)| l)
            .collect();
        let got = convert_filtered(&data, f, 2).unwrap();
        assert_eq!(
            got.iter().collect::<Vec<_>>(),
            want,
            "{name}: sizes {lo}..={hi}"
        );
        assert!(
            !want.is_empty(),
            "{name}: inclusive bounds keep the quartile keys"
        );
        checked += 1;
    }
    assert!(checked > 100);
}

/// A tiny RDB 9 file: `good` = "v", then `bad`, a hash whose listpack is
/// garbage (the boundary pass skips it by its length; decoding fails).
fn file_with_corrupt_value() -> Vec<u8> {
    let mut f = b"REDIS0009".to_vec();
    f.extend_from_slice(&[0xFE, 0x00]);
    f.extend_from_slice(&[0x00, 4]);
    f.extend_from_slice(b"good");
    f.extend_from_slice(&[1, b'v']);
    f.extend_from_slice(&[16, 3]);
    f.extend_from_slice(b"bad");
    f.extend_from_slice(&[8]);
    f.extend_from_slice(b"\xff\xff\xff\xffjunk");
    f.push(0xFF);
    f.extend_from_slice(&[0; 8]);
    f
}

#[test]
fn dropped_values_are_never_decoded() {
    let data = file_with_corrupt_value();
    let err = convert_filtered(&data, Filter::default(), 1).unwrap_err();
    assert!(
        err.contains("offset"),
        "unfiltered conversion must fail: {err}"
    );
    let f = Filter {
        keys: vec![Pattern::glob("good")],
        ..Default::default()
    };
    let got = convert_filtered(&data, f, 1).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["key"], "good");
    let f = Filter {
        types: vec![Kind::String],
        ..Default::default()
    };
    assert_eq!(convert_filtered(&data, f, 1).unwrap().len(), 1);
}

#[test]
fn stats_counts_filtered_keys() {
    let p = common::fixture("redis-7.0.15/all_types.rdb");
    let p = if p.exists() {
        p
    } else {
        common::all_rdb_files()
            .into_iter()
            .find(|p| common::rel(p).contains("7.0"))
            .unwrap()
    };
    let data = common::read(&p);
    let full = common::convert_keys(&data, false).unwrap();
    let strings = full.iter().filter(|l| l["type"] == "string").count() as u64;
    let engine = EngineOptions {
        threads: 2,
        verify_checksum: false,
        filter: Some(Arc::new(Filter {
            types: vec![Kind::String],
            ..Default::default()
        })),
        ..Default::default()
    };
    let st = stats::compute(&data, &engine, None).unwrap();
    assert_eq!(st.keys(), strings, "{}", p.display());
    assert_eq!(st.filtered, full.len() as u64 - strings);
}

fn run(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(BIN).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn cli_flags_reach_the_filter() {
    let dir = std::env::temp_dir().join(format!("rdbkit-filter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("corrupt.rdb");
    std::fs::write(&f, file_with_corrupt_value()).unwrap();
    let fs = f.to_str().unwrap();
    let (code, out, err) = run(&["json", fs, "--key", "go*", "-q", "--no-checksum"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1);
    assert!(out.contains("\"good\""));
    let (code, out, _) = run(&[
        "json",
        fs,
        "--not-key-regex",
        "^b",
        "--type",
        "string,list",
        "-q",
    ]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1);
    let (code, _, err) = run(&["json", fs, "-q"]);
    assert_eq!(code, 1, "unfiltered: the corrupt value is an error");
    assert!(err.contains("offset"), "{err}");
    let (code, _, err) = run(&["json", fs, "--key-regex", "("]);
    assert_eq!(code, 2, "a bad regex is a usage error: {err}");
    let (code, _, err) = run(&["json", fs, "--type", "blob"]);
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = run(&[
        "stats",
        fs,
        "--json",
        "--min-bytes",
        "3",
        "--max-bytes",
        "1k",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["filtered"], 1, "{out}");
    let (code, out, err) = run(&["resp", fs, "--key", "good", "-q"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("RESTORE") && out.contains("good") && !out.contains("bad"));
    let _ = std::fs::remove_dir_all(&dir);
}
