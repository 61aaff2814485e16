//! Files from the newest servers (`testdata/newest/`, see its README): Redis
//! `unstable` after 8.8.0 GA (RDB 14: NACKed stream entries, arrays, vector
//! sets) and Valkey `unstable`. `golden.rs` compares `rdbkit json` with their
//! truth in CI; the tests here load them into servers:
//!
//! - into the Redis 8.8 build named by `RDBKIT_REDIS_UNSTABLE` (the path of
//!   its `redis-server`; built from the public fork `skaslev/redis` at
//!   e58041978): the truth is what that server reports after loading each
//!   file, and RESTORE, command mode and JSON Lines input all reproduce it.
//!   Without the binary these tests print why and pass.
//! - into Debian's Redis 7.0, which has neither arrays nor XNACK: command
//!   mode refuses those keys by name, and `--lossy` leaves out exactly the
//!   arrays and NACKed entries and counts them.
//!
//! `RDBKIT_WRITE_TRUTH=1` (with the 8.8 binary) rewrites the
//! `.expected.jsonl` files from the live server instead of comparing.

use crate::util as support;
use crate::util::common;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use support::run::*;
use support::server::*;
use support::truth::*;

/// The RDB 14 files (written by the Redis 8.8 build).
fn rdb14_files() -> Vec<PathBuf> {
    let dir = common::testdata_dir().join("newest");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "rdb"))
        .filter(|p| std::fs::read(p).unwrap().starts_with(b"REDIS0014"))
        .collect();
    v.sort();
    assert!(
        v.len() >= 3,
        "expected the RDB 14 fixtures in {}",
        dir.display()
    );
    v
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The truth lines still alive in a minute (some keys of the shared
/// fixtures have TTLs of about a day from when they were written).
fn live_truth(rdb: &Path) -> Vec<Value> {
    let limit = now_ms() + 60_000;
    expected(rdb)
        .into_iter()
        .filter(|l| l["expire_ms"].as_i64().is_none_or(|e| e > limit))
        .collect()
}

fn unstable_or_skip(test: &str) -> Option<PathBuf> {
    let b = redis_unstable();
    if b.is_none() {
        println!(
            "{test}: skipped: set RDBKIT_REDIS_UNSTABLE to a redis-server built from \
             skaslev/redis e58041978 (Redis 8.8, RDB 14)"
        );
    }
    b
}

fn start(binary: Option<PathBuf>, rdb: Option<&Path>) -> Server {
    Server::start_with(ServerOpts {
        binary,
        rdb: rdb.map(Path::to_path_buf),
        ..Default::default()
    })
}

/// The fixture's `meta.json`: which server wrote and reported it, and the
/// function libraries it holds after loading the file (`FUNCTION LIST`).
fn meta_text(rdb: &Path, s: &Server, keys: usize) -> String {
    let mut c = s.conn();
    let info: Vec<String> = c
        .info("server")
        .into_iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "redis_version" | "valkey_version" | "server_name"
            )
        })
        .map(|(k, v)| format!("{k}:{v}"))
        .collect();
    let data = std::fs::read(rdb).unwrap();
    let functions: Vec<Value> = function_libs(&mut c)
        .into_iter()
        .map(|(name, code)| json!({"library_name": name, "engine": "LUA", "code": code}))
        .collect();
    let meta = json!({
        "truth_server_reports": info.join(" "),
        "rdb_header": String::from_utf8_lossy(&data[..9]),
        "rdb_bytes": data.len(),
        "keys_loaded_same_server": keys,
        "functions": functions,
    });
    serde_json::to_string_pretty(&meta).unwrap() + "\n"
}

/// One truth line as `testdata/README.md` orders its members.
fn truth_text(l: &Value) -> String {
    let m: Vec<String> = [
        "db",
        "key",
        "type",
        "encoding",
        "expire_ms",
        "value",
        "field_expire_ms",
    ]
    .iter()
    .filter(|k| l.get(**k).is_some())
    .map(|k| format!("\"{k}\":{}", l[*k]))
    .collect();
    format!("{{{}}}", m.join(","))
}

/// Each file with the server that wrote it: the RDB 14 files with the
/// Redis 8.8 build, the Valkey file with the Valkey `unstable` build named
/// by `RDBKIT_VALKEY_UNSTABLE` (hanxizh9910/valkey 82740995).
#[test]
fn newest_truth_is_what_the_writing_server_reports() {
    let write = std::env::var_os("RDBKIT_WRITE_TRUTH").is_some();
    let mut files: Vec<(PathBuf, PathBuf)> = Vec::new();
    if let Some(bin) = unstable_or_skip("newest_truth") {
        files.extend(rdb14_files().into_iter().map(|f| (f, bin.clone())));
    }
    match std::env::var_os("RDBKIT_VALKEY_UNSTABLE").map(PathBuf::from) {
        Some(bin) if bin.is_file() => {
            let f = common::testdata_dir().join("newest/valkey-unstable-20260519.rdb");
            files.push((f, bin));
        }
        _ => println!(
            "newest_truth: Valkey file skipped: set RDBKIT_VALKEY_UNSTABLE to a valkey-server \
             built from hanxizh9910/valkey 82740995"
        ),
    }
    for (rdb, bin) in files {
        let s = start(Some(bin), Some(&rdb));
        let mut lines = dump_server(&mut s.conn());
        sort_lines(&mut lines);
        if write {
            let text: String = lines.iter().map(|l| truth_text(l) + "\n").collect();
            std::fs::write(common::sibling(&rdb, ".expected.jsonl"), text).unwrap();
            std::fs::write(
                common::sibling(&rdb, ".meta.json"),
                meta_text(&rdb, &s, lines.len()),
            )
            .unwrap();
            continue;
        }
        compare_functions(&mut s.conn(), &rdb)
            .unwrap_or_else(|e| panic!("{}: functions: {e}", rdb.display()));
        compare_lines(&lines, &live_truth(&rdb))
            .unwrap_or_else(|e| panic!("{}: server differs from the truth: {e}", rdb.display()));
    }
}

/// `rdbkit load` of `file` into `s`, then the server's content against
/// `truth` (as commands carry it, when `commands`); returns the summary.
fn load_and_compare(
    file: &Path,
    s: &Server,
    extra: &[&str],
    truth: &[Value],
    commands: bool,
) -> Value {
    let out = load(file, &s.url(), extra);
    out.expect_code(0);
    let sum = out.summary();
    check_summary(&sum, false);
    let have = dump_server(&mut s.conn());
    let r = if commands {
        compare_lines(&strip_uncarried(&have), &strip_uncarried(truth))
    } else {
        compare_lines(&have, truth)
    };
    r.unwrap_or_else(|e| panic!("{} {extra:?}: {e}", file.display()));
    sum
}

#[test]
fn newest_round_trip_into_redis_8_8_by_restore_commands_and_json() {
    let Some(bin) = unstable_or_skip("newest_round_trip") else {
        return;
    };
    let dir = TempDir::new("newest-json");
    for rdb in rdb14_files() {
        let truth = live_truth(&rdb);
        let s = start(Some(bin.clone()), None);
        // RESTORE with version-14 payloads (auto: the target reads RDB 14).
        let sum = load_and_compare(&rdb, &s, &["--mode", "auto"], &truth, false);
        assert_eq!(n(&sum, "as_commands"), 0, "{sum}");
        assert_eq!(n(&sum, "loaded") as usize, truth.len(), "{sum}");
        // Vector sets re-serialize their graph differently after a reload,
        // so their DUMP payloads (all verify can compare for a module
        // value) differ: left out here.
        let f = rdb.display().to_string();
        let v = rdbkit(&["verify", &f, "--target", &s.url(), "--not-key", "vset:*"]);
        v.expect_code(0);
        // Command mode: ARMSET/ARSEEK, XNACK ... FORCE.
        s.flush();
        let modules: Vec<&str> = vec!["--not-key", "vset:*"];
        let plain: Vec<Value> = truth
            .iter()
            .filter(|l| l["type"] != "vectorset")
            .cloned()
            .collect();
        let args = [&["--mode", "commands"][..], &modules].concat();
        load_and_compare(&rdb, &s, &args, &plain, true);
        // JSON Lines from `rdbkit json`, loaded back (arrays and NACKs too).
        s.flush();
        let jl = dir.join(&format!(
            "{}.jsonl",
            rdb.file_stem().unwrap().to_string_lossy()
        ));
        let j = rdbkit(&[
            "json",
            &rdb.display().to_string(),
            "-o",
            &jl.display().to_string(),
        ]);
        j.expect_code(0);
        load_and_compare(&jl, &s, &modules, &plain, true);
        // `resp --mode commands --redis-8-8` through redis-cli --pipe.
        s.flush();
        let rp = dir.join(&format!(
            "{}.resp",
            rdb.file_stem().unwrap().to_string_lossy()
        ));
        let (f, o) = (rdb.display().to_string(), rp.display().to_string());
        let r = rdbkit(&[
            "resp",
            &f,
            "--mode",
            "commands",
            "--redis-8-8",
            "--not-key",
            "vset:*",
            "-o",
            &o,
        ]);
        r.expect_code(0);
        let (code, errors, _, text) = pipe(s.port, &rp);
        assert_eq!((code, errors), (0, 0), "{text}");
        let have = strip_uncarried(&dump_server(&mut s.conn()));
        compare_lines(&have, &strip_uncarried(&plain))
            .unwrap_or_else(|e| panic!("{}: resp --redis-8-8: {e}", rdb.display()));
    }
}

/// The array keys and NACKed entries of a truth (what Redis 7.0 cannot hold).
fn new_state(truth: &[Value]) -> (u64, u64) {
    let arrays = truth.iter().filter(|l| l["type"] == "array").count() as u64;
    let nacks = truth
        .iter()
        .filter(|l| l["type"] == "stream")
        .flat_map(|l| l["value"]["groups"].as_array().cloned().unwrap_or_default())
        .map(|g| g["nacked"].as_array().map_or(0, Vec::len) as u64)
        .sum();
    (arrays, nacks)
}

/// The truth as Redis 7.0 holds it after a lossy load: no arrays, no module
/// values, streams without their NACKed entries (7.0 reports no NACK zone).
fn truth_for_redis_7(truth: &[Value]) -> Vec<Value> {
    let mut out = Vec::new();
    for l in truth {
        if l["type"] == "array" || l["type"] == "vectorset" {
            continue;
        }
        let mut l = l.clone();
        if let Some(groups) = l.pointer_mut("/value/groups").and_then(Value::as_array_mut) {
            for g in groups {
                let nacked: Vec<Value> = g["nacked"].as_array().cloned().unwrap_or_default();
                let keep = |p: &Value| !nacked.contains(&p[0]);
                let pending: Vec<Value> = g["pending"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|p| keep(p))
                    .cloned()
                    .collect();
                // IDs are ASCII, so this is always the object form.
                let times = g["pending_delivery_time_ms"].as_object().unwrap().clone();
                let times: serde_json::Map<String, Value> = times
                    .into_iter()
                    .filter(|(id, _)| !nacked.contains(&json!(id)))
                    .collect();
                g["pending"] = Value::Array(pending);
                g["pending_delivery_time_ms"] = Value::Object(times);
                g["nacked"] = Value::Null;
            }
        }
        out.push(l);
    }
    out
}

#[test]
fn newest_into_redis_7_0_refuses_arrays_and_nacks_by_name() {
    let rdb = common::testdata_dir().join("newest/redis-unstable-more.rdb");
    let truth = live_truth(&rdb);
    let (arrays, _) = new_state(&truth);
    let nack_streams = truth
        .iter()
        .filter(|l| {
            l["value"]["groups"].as_array().is_some_and(|g| {
                g.iter()
                    .any(|g| g["nacked"].as_array().is_some_and(|a| !a.is_empty()))
            })
        })
        .count() as u64;
    let s = start(None, None);
    let out = load(
        &rdb,
        &s.url(),
        &["--max-errors", "1000", "--not-key", "vset:*"],
    );
    let sum = out.summary();
    check_summary(&sum, false);
    // Hashes with field TTLs fail too (7.0 has none): counted separately.
    let ttl_hashes = truth
        .iter()
        .filter(|l| l.get("field_expire_ms").is_some())
        .count() as u64;
    assert_eq!(
        n(&sum, "failed"),
        arrays + nack_streams + ttl_hashes,
        "{sum}"
    );
    let text = out.all_text();
    assert!(
        text.contains("arrays (Redis 8.8+) cannot be written"),
        "{text}"
    );
    assert!(text.contains("NACKed entries (XNACK"), "{text}");
    assert_eq!(n(&sum, "dropped_lossy"), 0);
}

#[test]
fn newest_into_redis_7_0_lossy_drops_and_counts_exactly_the_new_state() {
    for rdb in rdb14_files() {
        let truth = live_truth(&rdb);
        let (arrays, nacks) = new_state(&truth);
        let s = start(None, None);
        let out = load(&rdb, &s.url(), &["--lossy", "--not-key", "vset:*"]);
        out.expect_code(0);
        let sum = out.summary();
        check_summary(&sum, false);
        assert_eq!(n(&sum, "dropped_lossy"), arrays, "{}: {sum}", rdb.display());
        assert_eq!(n(&sum, "nacks_dropped"), nacks, "{}: {sum}", rdb.display());
        let have = strip_uncarried(&dump_server(&mut s.conn()));
        compare_lines(&have, &strip_uncarried(&truth_for_redis_7(&truth)))
            .unwrap_or_else(|e| panic!("{}: {e}", rdb.display()));
    }
}

/// `stats`, `memory`, `--type array` and `resp --lossy` on the RDB 14 file
/// (no server needed): every array is counted, typed and sized, and the
/// lossy RESP stream reports exactly the arrays and NACKed entries left out.
#[test]
fn newest_stats_memory_filters_and_resp_know_the_new_types() {
    let rdb = common::testdata_dir().join("newest/redis-unstable-more.rdb");
    let f = rdb.display().to_string();
    // `stats`, `json` and `memory` show every record in the file, including
    // keys whose TTL has run out since it was written; `resp` (for a live
    // server) leaves those out, so it is checked against what is live now.
    let truth = common::read_jsonl(&common::sibling(&rdb, ".expected.jsonl"));
    let (arrays, _) = new_state(&truth);
    let (live_arrays, nacks) = new_state(&expected(&rdb));
    assert!(
        live_arrays >= 15 && nacks >= 160,
        "fixture holds {live_arrays} live arrays, {nacks} NACKs"
    );

    let s: Value = serde_json::from_str(&rdbkit(&["stats", &f, "--json"]).stdout_text()).unwrap();
    let per_db = |field: &str, name: &str| -> u64 {
        s["dbs"]
            .as_object()
            .unwrap()
            .values()
            .map(|d| d[field][name].as_u64().unwrap_or(0))
            .sum()
    };
    assert_eq!(per_db("types", "array"), arrays, "{s}");
    assert_eq!(per_db("encodings", "array/sliced-array"), arrays, "{s}");

    let j = rdbkit(&["json", &f, "--type", "array"]);
    j.expect_code(0);
    let lines: Vec<Value> = j
        .stdout_text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, arrays);
    assert!(lines.iter().all(|l| l["type"] == "array"));

    let m = rdbkit(&["memory", &f, "--format", "json", "--type", "array"]);
    m.expect_code(0);
    let rows: Vec<Value> = m
        .stdout_text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len() as u64, arrays);
    for r in &rows {
        let t = truth
            .iter()
            .find(|l| l["key"] == r["key"] && l["db"] == r["database"])
            .unwrap();
        assert_eq!(r["encoding"], "sliced-array");
        assert_eq!(r["num_elements"], t["value"]["count"], "{r}");
        assert!(r["size_in_bytes"].as_u64().unwrap() > 96, "{r}");
    }

    let r = rdbkit(&[
        "resp",
        &f,
        "--mode",
        "commands",
        "--lossy",
        "--not-key",
        "vset:*",
        "-o",
        "/dev/null",
    ]);
    r.expect_code(0);
    let want = format!("--lossy left out {live_arrays} arrays and {nacks} NACKed stream entries");
    assert!(r.all_text().contains(&want), "{}", r.all_text());
}

/// `verify` compares NACK state: after a NACKed entry is claimed by a
/// consumer on the target (pending count unchanged), the stream differs.
#[test]
fn newest_verify_sees_a_nacked_entry_claimed() {
    let Some(bin) = unstable_or_skip("newest_verify") else {
        return;
    };
    let rdb = common::testdata_dir().join("newest/redis-unstable-20260609.rdb");
    let f = rdb.display().to_string();
    let s = start(Some(bin), Some(&rdb));
    let args = [
        "verify",
        &f,
        "--target",
        &s.url(),
        "--no-dump",
        "--not-key",
        "vset:*",
    ];
    rdbkit(&args).expect_code(0);
    let mut c = s.conn();
    c.must([
        "XCLAIM",
        "stream:cg",
        "g1",
        "alice",
        "0",
        "1008-0",
        "JUSTID",
    ]);
    let out = rdbkit(&args);
    out.expect_code(5);
    assert!(
        out.all_text().contains("1 keys differ"),
        "{}",
        out.all_text()
    );
}
