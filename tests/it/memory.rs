//! Accuracy of the memory model against a real server, and the `memory`
//! command's outputs.
//!
//! Every fixture Redis 7.0 can load is restored into Debian's redis-server
//! 7.0.15 with `rdbkit load`; for every key that arrived, `MEMORY USAGE key
//! SAMPLES 0` is compared with the estimate (minus the expires-dict entry,
//! which `MEMORY USAGE` does not count). A second set of larger keys is made
//! with ordinary commands (big lists, hashes, zsets, sets of integers and of
//! strings, long strings, streams with consumer groups), saved, flushed and
//! loaded back the same way, so that non-tiny encodings are checked too.
//!
//! Debian links the system jemalloc (quantum 16) and the server is 7.0, so
//! the model runs with `--server 7.0 --jemalloc-quantum 16`.

use crate::util as support;
use crate::util::common;

use std::path::Path;

use rdbkit::inspect::alloc::Quantum;
use rdbkit::inspect::memory::{Buffers, Model, ModelConfig, ServerModel, EXPIRE_ENTRY_BYTES};
use rdbkit::rdb::records::{Item, ParseOptions, Parser};
use serde_json::Value;
use support::resp::{Conn, Reply};
use support::run::*;
use support::server::*;

fn model() -> Model {
    Model::new(ModelConfig {
        server: ServerModel::Redis70,
        quantum: Quantum::Q16,
        ..Default::default()
    })
}

/// One compared key.
#[derive(Debug, Clone)]
struct Sample {
    source: String,
    db: u64,
    key: String,
    kind: &'static str,
    encoding: &'static str,
    estimate: u64,
    actual: u64,
}

impl Sample {
    fn rel_err(&self) -> f64 {
        (self.estimate as f64 - self.actual as f64).abs() / self.actual as f64
    }
}

/// Estimates every key of `rdb` and asks the server (which has just loaded
/// the file) for its `MEMORY USAGE`; keys the server does not have
/// (expired, empty) are skipped.
fn compare(rdb: &Path, server: &Server, source: &str) -> Vec<Sample> {
    let data = common::read(rdb);
    let m = model();
    let mut bufs = Buffers::default();
    let mut c = server.conn();
    let mut db_selected = u64::MAX;
    let mut out = Vec::new();
    let mut p = Parser::new(&data, ParseOptions::default()).expect("header");
    while let Some(item) = p.next_item().unwrap_or_else(|e| panic!("{source}: {e}")) {
        let Item::Key(rec) = item else { continue };
        let km = m
            .estimate(&rec, &mut bufs)
            .unwrap_or_else(|e| panic!("{source}: estimate: {e}"));
        let key = rec.key.to_vec().unwrap();
        if rec.db != db_selected {
            c.ok(["SELECT", &rec.db.to_string()]);
            db_selected = rec.db;
        }
        let r = c.cmd([b"MEMORY".as_slice(), b"USAGE", &key, b"SAMPLES", b"0"]);
        let actual = match r {
            Reply::Int(n) => n as u64,
            Reply::Bulk(None) => continue,
            other => panic!("{source}: MEMORY USAGE {key:?}: {other:?}"),
        };
        let estimate = km.bytes
            - if rec.expire_ms.is_some() {
                EXPIRE_ENTRY_BYTES
            } else {
                0
            };
        out.push(Sample {
            source: source.to_string(),
            db: rec.db,
            key: String::from_utf8_lossy(&key).into_owned(),
            kind: rec.vtype.kind().name(),
            encoding: km.encoding,
            estimate,
            actual,
        });
    }
    out
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Prints the error distribution (overall and by type/encoding) and the
/// worst keys; returns (median, p90, worst ratio).
fn summarize(title: &str, samples: &[Sample]) -> (f64, f64, f64) {
    let mut errs: Vec<f64> = samples.iter().map(Sample::rel_err).collect();
    errs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let med = percentile(&errs, 0.5);
    let p90 = percentile(&errs, 0.9);
    let worst_ratio = samples
        .iter()
        .map(|s| {
            let r = s.estimate as f64 / s.actual as f64;
            r.max(1.0 / r)
        })
        .fold(1.0f64, f64::max);
    let est: u64 = samples.iter().map(|s| s.estimate).sum();
    let act: u64 = samples.iter().map(|s| s.actual).sum();
    eprintln!(
        "{title}: {} keys, relative error median {:.1}%, p90 {:.1}%, max {:.1}%; worst ratio {:.2}x; total estimate {est} vs MEMORY USAGE {act} ({:+.1}%)",
        samples.len(),
        med * 100.0,
        p90 * 100.0,
        errs.last().copied().unwrap_or(0.0) * 100.0,
        worst_ratio,
        (est as f64 - act as f64) * 100.0 / act.max(1) as f64
    );
    let mut groups: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    for s in samples {
        groups
            .entry(format!("{}/{}", s.kind, s.encoding))
            .or_default()
            .push(s.rel_err());
    }
    for (g, mut v) in groups {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        eprintln!(
            "  {g:<20} {:>5} keys  median {:>5.1}%  p90 {:>5.1}%  max {:>5.1}%",
            v.len(),
            percentile(&v, 0.5) * 100.0,
            percentile(&v, 0.9) * 100.0,
            v.last().unwrap() * 100.0
        );
    }
    let mut worst: Vec<&Sample> = samples.iter().collect();
    worst.sort_by(|a, b| b.rel_err().partial_cmp(&a.rel_err()).unwrap());
    for s in worst.iter().take(8) {
        eprintln!(
            "  worst: {} db{} {:?} {}/{} estimate {} actual {} ({:+.1}%)",
            s.source,
            s.db,
            s.key,
            s.kind,
            s.encoding,
            s.estimate,
            s.actual,
            (s.estimate as f64 - s.actual as f64) * 100.0 / s.actual as f64
        );
    }
    (med, p90, worst_ratio)
}

fn load_ok(file: &Path, server: &Server) {
    let out = load(file, &server.url(), &["--on-conflict", "rewrite"]);
    assert!(
        out.code == 0 || out.code == 4,
        "load failed: {}",
        out.describe()
    );
}

#[test]
fn estimates_match_memory_usage_on_fixtures() {
    let server = Server::start();
    let mut all = Vec::new();
    let fixtures = eligible_fixtures();
    for rdb in &fixtures {
        server.flush();
        load_ok(rdb, &server);
        let name = common::rel(rdb);
        all.extend(compare(rdb, &server, &name));
    }
    assert!(all.len() > 500, "only {} keys compared", all.len());
    let title = format!("{} fixtures vs Redis 7.0 MEMORY USAGE", fixtures.len());
    let (med, p90, worst) = summarize(&title, &all);
    // Exact but for skiplist levels (random in the server, expected here).
    assert!(med <= 0.02, "median relative error {:.1}%", med * 100.0);
    assert!(p90 <= 0.05, "p90 relative error {:.1}%", p90 * 100.0);
    assert!(worst <= 1.25, "a key is off by {worst:.2}x");
}

/// Larger keys made with ordinary commands.
fn make_big_keys(c: &mut Conn) {
    let batch = |c: &mut Conn, cmd: &[&str], items: Vec<String>| {
        for chunk in items.chunks(500) {
            let mut args: Vec<String> = cmd.iter().map(|s| s.to_string()).collect();
            args.extend(chunk.iter().cloned());
            c.must(&args);
        }
    };
    batch(
        c,
        &["RPUSH", "big:list"],
        (0..10_000).map(|i| format!("item:{i}")).collect(),
    );
    batch(
        c,
        &["RPUSH", "big:list:ints"],
        (0..5000).map(|i| (i * 7).to_string()).collect(),
    );
    batch(
        c,
        &["RPUSH", "big:list:long"],
        (0..300).map(|i| format!("{i:0>500}")).collect(),
    );
    batch(
        c,
        &["RPUSH", "list:small"],
        (0..20).map(|i| format!("v{i}")).collect(),
    );
    batch(
        c,
        &["HSET", "big:hash"],
        (0..1000)
            .flat_map(|i| [format!("field:{i}"), format!("value-{i:0>14}")])
            .collect(),
    );
    batch(
        c,
        &["HSET", "hash:longvalues"],
        (0..50)
            .flat_map(|i| [format!("f{i}"), "x".repeat(100 + i)])
            .collect(),
    );
    batch(
        c,
        &["HSET", "hash:small"],
        (0..10)
            .flat_map(|i| [format!("f{i}"), format!("{i}")])
            .collect(),
    );
    batch(
        c,
        &["ZADD", "big:zset"],
        (0..1000)
            .flat_map(|i| [format!("{}", i as f64 * 1.5 + 0.1), format!("member:{i}")])
            .collect(),
    );
    batch(
        c,
        &["ZADD", "zset:longmembers"],
        (0..40)
            .flat_map(|i| [i.to_string(), format!("{i:0>80}")])
            .collect(),
    );
    batch(
        c,
        &["ZADD", "zset:small"],
        (0..10)
            .flat_map(|i| [i.to_string(), format!("m{i}")])
            .collect(),
    );
    batch(
        c,
        &["SADD", "big:set:ints"],
        (0..10_000).map(|i| (i * 3).to_string()).collect(),
    );
    batch(
        c,
        &["SADD", "set:ints"],
        (0..300).map(|i| (i * 100_000).to_string()).collect(),
    );
    batch(
        c,
        &["SADD", "big:set:strs"],
        (0..2000).map(|i| format!("member-{i}")).collect(),
    );
    batch(
        c,
        &["SADD", "set:strs"],
        (0..50).map(|i| format!("s{i}")).collect(),
    );
    for (k, n) in [
        ("str:1000", 1000),
        ("str:100", 100),
        ("str:40", 40),
        ("str:20000", 20000),
    ] {
        c.ok(["SET", k, &"a".repeat(n)]);
    }
    c.ok(["SET", "str:int", "123456789"]);
    c.ok(["SET", "str:ttl", "with a ttl", "EX", "100000"]);
    c.ok(["SET", "str:1000:ttl", &"b".repeat(1000), "EX", "100000"]);
    // Streams: many entries, one with consumer groups and pending entries.
    for i in 0..1000 {
        c.must([
            "XADD",
            "stream:big",
            "*",
            "sensor",
            &format!("s{}", i % 7),
            "value",
            &format!("{}", i * 13),
        ]);
    }
    for i in 0..300 {
        c.must([
            "XADD",
            "stream:groups",
            &format!("{}-1", 1000 + i * 3),
            "f",
            &"x".repeat(30),
        ]);
    }
    c.ok(["XGROUP", "CREATE", "stream:groups", "g1", "0"]);
    c.ok(["XGROUP", "CREATE", "stream:groups", "g2", "0"]);
    c.must([
        "XREADGROUP",
        "GROUP",
        "g1",
        "alice",
        "COUNT",
        "100",
        "STREAMS",
        "stream:groups",
        ">",
    ]);
    c.must([
        "XREADGROUP",
        "GROUP",
        "g1",
        "bob",
        "COUNT",
        "50",
        "STREAMS",
        "stream:groups",
        ">",
    ]);
    c.must([
        "XREADGROUP",
        "GROUP",
        "g2",
        "carol",
        "COUNT",
        "7",
        "STREAMS",
        "stream:groups",
        ">",
    ]);
    c.must(["XADD", "stream:small", "*", "a", "1"]);
}

#[test]
fn estimates_match_memory_usage_on_big_keys() {
    let server = Server::start();
    let mut c = server.conn();
    make_big_keys(&mut c);
    c.ok(["SAVE"]);
    let tmp = TempDir::new("memory-big");
    let rdb = tmp.join("big.rdb");
    std::fs::copy(server.dir.join("dump.rdb"), &rdb).expect("copy dump.rdb");
    server.flush();
    load_ok(&rdb, &server);
    let samples = compare(&rdb, &server, "generated");
    let (med, p90, worst) = summarize("generated big keys vs Redis 7.0 MEMORY USAGE", &samples);
    assert_eq!(samples.len(), 24, "every generated key compared");
    assert!(med <= 0.02, "median relative error {:.1}%", med * 100.0);
    assert!(p90 <= 0.05, "p90 relative error {:.1}%", p90 * 100.0);
    assert!(worst <= 1.25, "a key is off by {worst:.2}x");
}

// ---------------------------------------------------------------------------
// The command's outputs
// ---------------------------------------------------------------------------

fn fixture() -> std::path::PathBuf {
    common::fixture("redis-7.0.15/default.rdb")
}

/// A minimal RFC 4180 reader (quoted fields, doubled quotes).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for line in text.lines() {
        let mut fields = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(ch) = chars.next() {
            match (quoted, ch) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    cur.push('"');
                    chars.next();
                }
                (true, '"') => quoted = false,
                (false, '"') if cur.is_empty() => quoted = true,
                (false, ',') => fields.push(std::mem::take(&mut cur)),
                (_, c) => cur.push(c),
            }
        }
        fields.push(cur);
        rows.push(fields);
    }
    rows
}

#[test]
fn csv_and_json_rows_agree() {
    let f = fixture();
    let csv = rdbkit(&["memory", f.to_str().unwrap(), "-j", "2"]);
    csv.expect_code(0);
    let rows = parse_csv(&csv.stdout_text());
    assert_eq!(
        rows[0].join(","),
        "database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry,serialized_bytes,rdb_encoding"
    );
    let json = rdbkit(&["memory", f.to_str().unwrap(), "--format", "json", "-j", "1"]);
    json.expect_code(0);
    let lines = common::parse_jsonl(&json.stdout).unwrap();
    assert_eq!(rows.len() - 1, lines.len());
    assert!(lines.len() > 50);
    for (r, j) in rows[1..].iter().zip(&lines) {
        assert_eq!(r.len(), 10, "{r:?}");
        assert_eq!(r[0], j["database"].to_string());
        assert_eq!(r[1], j["type"].as_str().unwrap());
        assert_eq!(r[3], j["size_in_bytes"].to_string());
        assert_eq!(r[4], j["encoding"].as_str().unwrap());
        assert_eq!(r[5], j["num_elements"].to_string());
        assert_eq!(r[7], j["expiry"].as_str().unwrap_or(""));
        if let Some(k) = j["key"].as_str() {
            if !k.chars().any(char::is_control) {
                assert_eq!(&r[2], k);
            }
        }
        let size: u64 = r[3].parse().unwrap();
        let ser: u64 = r[8].parse().unwrap();
        assert!(size > 0 && ser > 0);
    }
    // A TTL is written as ISO-8601.
    assert!(rows
        .iter()
        .any(|r| r[7].len() >= 19 && r[7].as_bytes()[10] == b'T'));
}

#[test]
fn top_and_prefix_tables() {
    let f = fixture();
    let out = rdbkit(&[
        "memory",
        f.to_str().unwrap(),
        "--top",
        "5",
        "--by-prefix",
        ":",
    ]);
    out.expect_code(0);
    let t = out.stdout_text();
    assert!(t.contains("Biggest keys by memory"), "{t}");
    assert!(t.contains("Biggest keys by elements"), "{t}");
    assert!(t.contains("Memory by prefix"), "{t}");
    assert!(t.contains("str:*"), "{t}");
    // JSON form: totals add up across types and the top list is sorted.
    let out = rdbkit(&[
        "memory",
        f.to_str().unwrap(),
        "--top",
        "5",
        "--by-prefix",
        ":",
        "--format",
        "json",
    ]);
    out.expect_code(0);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let total = v["totals"]["size_in_bytes"].as_u64().unwrap();
    let by_type: u64 = v["by_type"]
        .as_object()
        .unwrap()
        .values()
        .map(|t| t["size_in_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(total, by_type);
    let top: Vec<u64> = v["top_by_memory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["size_in_bytes"].as_u64().unwrap())
        .collect();
    assert_eq!(top.len(), 5);
    assert!(top.windows(2).all(|w| w[0] >= w[1]));
    let level1: u64 = v["prefixes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["level"] == 1)
        .map(|p| p["size_in_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(level1, total, "level-1 prefixes cover every key");
    // The sum of rows equals the total.
    let rows = rdbkit(&["memory", f.to_str().unwrap(), "--format", "json"]);
    let sum: u64 = common::parse_jsonl(&rows.stdout)
        .unwrap()
        .iter()
        .map(|l| l["size_in_bytes"].as_u64().unwrap())
        .sum();
    assert_eq!(sum, total);
}

#[test]
fn every_fixture_is_estimated() {
    // No panic, no error on any file the JSON converter reads.
    let m = Model::default();
    let mut bufs = Buffers::default();
    for rdb in common::all_rdb_files() {
        let data = common::read(&rdb);
        if common::convert(&data, false, false).is_err() {
            continue;
        }
        let mut p = Parser::new(&data, ParseOptions::default()).unwrap();
        while let Ok(Some(item)) = p.next_item() {
            if let Item::Key(rec) = item {
                let km = m
                    .estimate(&rec, &mut bufs)
                    .unwrap_or_else(|e| panic!("{}: {e}", common::rel(&rdb)));
                assert!(km.bytes > 0);
            }
        }
    }
}

#[test]
fn shared_filters_apply() {
    let f = fixture();
    let all = rdbkit(&["memory", f.to_str().unwrap(), "--format", "json"]);
    let all = common::parse_jsonl(&all.stdout).unwrap();
    let out = rdbkit(&[
        "memory",
        f.to_str().unwrap(),
        "--format",
        "json",
        "--type",
        "hash",
        "--key",
        "hash:*",
    ]);
    out.expect_code(0);
    let rows = common::parse_jsonl(&out.stdout).unwrap();
    let want: Vec<&Value> = all
        .iter()
        .filter(|r| {
            r["type"] == "hash" && r["key"].as_str().is_some_and(|k| k.starts_with("hash:"))
        })
        .collect();
    assert!(!rows.is_empty());
    assert_eq!(rows.len(), want.len());
    for (a, b) in rows.iter().zip(want) {
        assert_eq!(a, b);
    }
    let sum = rdbkit(&[
        "memory",
        f.to_str().unwrap(),
        "--type",
        "hash",
        "--top",
        "1",
        "--format",
        "json",
    ]);
    let v: Value = serde_json::from_slice(&sum.stdout).unwrap();
    assert_eq!(
        v["filtered"].as_u64().unwrap() + v["totals"]["keys"].as_u64().unwrap(),
        v["keys_read"].as_u64().unwrap()
    );
}

/// "Biggest keys by elements" ranks collections only (a string's bytes are
/// not elements; they were ranking first), and `--json` is `--format json`.
#[test]
fn by_elements_ranks_collections_only() {
    let f = fixture();
    let o = rdbkit(&[
        "memory",
        f.to_str().unwrap(),
        "--top",
        "500",
        "--json",
        "-q",
    ]);
    assert_eq!(o.code, 0, "{}", o.describe());
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let top = v["top_by_elements"].as_array().unwrap();
    assert!(!top.is_empty());
    for t in top {
        assert!(t["type"] != "string" && t["type"] != "module", "{t}");
    }
    // The strings are still ranked by memory.
    let by_bytes = v["top_by_memory"].as_array().unwrap();
    assert!(by_bytes.iter().any(|t| t["type"] == "string"));
}

/// `stats` shows the snapshot's ctime with its UTC date.
#[test]
fn stats_shows_ctime_as_a_date() {
    let f = fixture();
    let o = rdbkit(&["stats", f.to_str().unwrap(), "-q"]);
    assert_eq!(o.code, 0, "{}", o.describe());
    let text = o.stdout_text();
    let line = text.lines().find(|l| l.starts_with("aux ctime")).unwrap();
    let secs: i64 = line.split_whitespace().nth(2).unwrap().parse().unwrap();
    let want = std::process::Command::new("date")
        .args(["-u", "-d", &format!("@{secs}"), "+%Y-%m-%d %H:%M:%S UTC"])
        .output()
        .unwrap();
    let want = String::from_utf8_lossy(&want.stdout).trim().to_string();
    assert!(line.contains(&format!("({want})")), "{line} (want {want})");
}
