//! `rdbkit rdb` against real servers: every written file is the dump.rdb a
//! Redis 7.0 server starts from (with `sanitize-dump-payload yes`), and the
//! server's content must equal the fixture's truth; `redis-check-rdb` must
//! accept it. Also: conversions from newer versions and from Valkey
//! (`--to redis-7.0`), merges under each conflict policy, JSON Lines → RDB
//! → JSON Lines round trips, and damaged JSON Lines input.

use crate::util as support;
use crate::util::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use support::run::*;
use support::server::*;
use support::truth::*;

/// A fresh server whose dump.rdb is `rdb`, checking payloads deeply.
fn start_from(rdb: &Path) -> Server {
    Server::start_with(ServerOpts {
        rdb: Some(rdb.to_path_buf()),
        args: vec!["--sanitize-dump-payload".into(), "yes".into()],
        ..Default::default()
    })
}

/// `redis-check-rdb FILE` succeeds.
fn check_rdb(rdb: &Path) -> Result<(), String> {
    let out = Command::new("redis-check-rdb")
        .arg(rdb)
        .output()
        .map_err(|e| format!("redis-check-rdb: {e}"))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() && text.contains("RDB looks OK") {
        Ok(())
    } else {
        Err(format!(
            "redis-check-rdb refused {}:\n{text}",
            rdb.display()
        ))
    }
}

/// `rdbkit rdb ARGS -o OUT --json`, its summary.
fn write(args: &[&str], out: &Path) -> Result<Value, String> {
    let mut a: Vec<String> = vec!["rdb".into()];
    a.extend(args.iter().map(|s| s.to_string()));
    a.extend(["-o".into(), out.display().to_string(), "--json".into()]);
    let r = rdbkit(&a);
    if r.code != 0 {
        return Err(r.describe());
    }
    Ok(r.summary())
}

/// `rdbkit rdb RDB --to TO [--lossy] -o OUT`, which must write `format`.
fn convert(rdb: &Path, out: &Path, to: &str, lossy: bool, format: &str) -> Result<Value, String> {
    let src = rdb.display().to_string();
    let mut args = vec![src.as_str(), "--to", to];
    if lossy {
        args.push("--lossy");
    }
    let s = write(&args, out)?;
    if s["format"] != format {
        return Err(format!("wrote {}, not {format}", s["format"]));
    }
    Ok(s)
}

/// Loads `rdb` into a fresh server and compares its content with `truth`.
fn server_equals(rdb: &Path, truth: &[Value]) -> Result<usize, String> {
    check_rdb(rdb)?;
    let s = start_from(rdb);
    let mut c = s.conn();
    compare_lines(&dump_server(&mut c), truth)
}

/// `rdbkit json FILE` as parsed lines (key lines only).
fn json_of(rdb: &Path) -> Vec<Value> {
    json_meta(rdb)
        .into_iter()
        .filter(|l| l.get("key").is_some())
        .collect()
}

/// `rdbkit json --meta FILE` as parsed lines.
fn json_meta(rdb: &Path) -> Vec<Value> {
    let r = rdbkit(&["json", "-q", "--meta", &rdb.display().to_string()]);
    assert_eq!(r.code, 0, "{}", r.describe());
    common::parse_jsonl(r.stdout.as_slice()).unwrap()
}

/// Writes lines as a JSON Lines file.
fn write_jsonl(path: &Path, lines: &[Value]) {
    std::fs::write(
        path,
        lines
            .iter()
            .map(|l| l.to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
}

/// `--rdb-version N --dialect D` of a file's own header (RDB 1-5: 6).
fn own_format(rdb: &Path) -> Vec<String> {
    let h = std::fs::read(rdb).unwrap()[..9].to_vec();
    if h.starts_with(b"VALKEY") {
        return vec![
            "--rdb-version".into(),
            "80".into(),
            "--dialect".into(),
            "valkey".into(),
        ];
    }
    let v = common::rdb_version(&h).unwrap().max(6);
    vec!["--rdb-version".into(), v.to_string()]
}

fn is_newer(p: &Path) -> bool {
    let h = std::fs::read(p)
        .map(|d| d[..9.min(d.len())].to_vec())
        .unwrap_or_default();
    h.starts_with(b"VALKEY") || common::rdb_version(&h).is_some_and(|v| v > 10)
}

#[test]
fn own_version_equals_truth_in_redis_7_0() {
    let dir = TempDir::new("rdbw");
    let fixtures = eligible_fixtures();
    check_fixtures(
        "own_version_equals_truth_in_redis_7_0",
        &fixtures,
        |i, rdb| {
            let out = dir.join(&format!("{i}.rdb"));
            let s = write(&[&rdb.display().to_string()], &out)?;
            if n(&s, "reencoded") != 0 || n(&s, "copied") != n(&s, "written") {
                return Err(format!("same version must copy every key: {s}"));
            }
            check_rdb(&out)?;
            let s2 = start_from(&out);
            let mut c = s2.conn();
            let k = compare_lines(&dump_server(&mut c), &expected(rdb))?;
            compare_functions(&mut c, rdb)?;
            Ok(k)
        },
    );
}

/// The truth as a Redis 7.0 holds it after `--lossy` dropped field TTLs
/// and consumers' active times (RDB 10 streams have none).
fn as_redis_7_0(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| {
            let mut l = l.clone();
            l.as_object_mut().unwrap().remove("field_expire_ms");
            if let Some(groups) = l["value"].get_mut("groups").and_then(Value::as_array_mut) {
                for g in groups {
                    g["consumer_active_time_ms"] = Value::Null;
                }
            }
            l
        })
        .collect()
}

/// Streams of the truth with a consumer whose active time differs from its
/// seen time: what `--lossy` must report as dropped stream metadata.
fn streams_losing_active_time(lines: &[Value]) -> u64 {
    lines
        .iter()
        .filter(|l| {
            l["value"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|g| {
                    let seen = &g["consumer_seen_time_ms"];
                    g["consumer_active_time_ms"]
                        .as_object()
                        .is_some_and(|a| a.iter().any(|(name, t)| seen.get(name) != Some(t)))
                })
        })
        .count() as u64
}

#[test]
fn newer_and_valkey_files_to_redis_7_0() {
    let dir = TempDir::new("rdbw");
    let fixtures: Vec<PathBuf> = command_mode_fixtures()
        .into_iter()
        .filter(|p| is_newer(p))
        .collect();
    assert!(
        fixtures.len() >= 10,
        "only {} newer fixtures",
        fixtures.len()
    );
    check_fixtures(
        "newer_and_valkey_files_to_redis_7_0",
        &fixtures,
        |i, rdb| {
            let out = dir.join(&format!("{i}.rdb"));
            let src = rdb.display().to_string();
            let truth = expected(rdb);
            let has_ttl = truth.iter().any(|l| l.get("field_expire_ms").is_some());
            // Without --lossy, a file with field TTLs is refused, naming a key.
            if has_ttl {
                let r = rdbkit(&[
                    "rdb",
                    src.as_str(),
                    "--to",
                    "redis-7.0",
                    "-o",
                    &out.display().to_string(),
                ]);
                if r.code != 1 || !r.all_text().contains("key ") || out.exists() {
                    return Err(format!("field TTLs not refused: {}", r.describe()));
                }
            }
            let s = write(&[&src, "--to", "redis-7.0", "--lossy"], &out)?;
            let dropped = s["lossy"]["dropped_field_ttls"].as_u64().unwrap();
            let want: u64 = truth
                .iter()
                .filter_map(|l| l.get("field_expire_ms"))
                .map(|m| {
                    m.as_object()
                        .map_or_else(|| m.as_array().map_or(0, |a| a.len()), |o| o.len())
                        as u64
                })
                .sum();
            let expired = s["lossy"]["expired_fields"].as_u64().unwrap();
            if dropped + expired < want {
                return Err(format!(
                    "dropped {dropped} field TTLs, truth holds {want}: {s}"
                ));
            }
            let streams = s["lossy"]["dropped_stream_fields"].as_u64().unwrap();
            if streams < streams_losing_active_time(&truth) {
                return Err(format!(
                    "dropped stream metadata of {streams} keys, truth has more: {s}"
                ));
            }
            check_rdb(&out)?;
            let s2 = start_from(&out);
            let mut c = s2.conn();
            let k = compare_lines(&dump_server(&mut c), &as_redis_7_0(&truth))?;
            compare_functions(&mut c, rdb)?;
            Ok(k)
        },
    );
}

/// A line in an order-free form: set members, zset entries and hash pairs
/// sorted (compact encodings change the order; the content is the same).
fn normalized(l: &Value) -> Value {
    let mut l = l.clone();
    let t = l["type"].as_str().unwrap_or("").to_string();
    let v = &mut l["value"];
    match t.as_str() {
        "set" | "zset" => {
            if let Some(a) = v.as_array_mut() {
                a.sort_by_key(|x| x.to_string());
            }
        }
        "hash" => {
            let mut pairs: Vec<Value> = match v {
                Value::Object(o) => o.iter().map(|(k, x)| serde_json::json!([k, x])).collect(),
                Value::Array(a) => a.clone(),
                _ => Vec::new(),
            };
            pairs.sort_by_key(|x| x.to_string());
            *v = Value::Array(pairs);
            if let Some(fe) = l.get_mut("field_expire_ms") {
                let mut pairs: Vec<Value> = match fe {
                    Value::Object(o) => o.iter().map(|(k, x)| serde_json::json!([k, x])).collect(),
                    Value::Array(a) => a.clone(),
                    _ => Vec::new(),
                };
                pairs.sort_by_key(|x| x.to_string());
                *fe = Value::Array(pairs);
            }
        }
        _ => {}
    }
    l
}

fn is_empty_value(l: &Value) -> bool {
    match &l["value"] {
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Every fixture with a truth → `rdbkit json` → `rdbkit rdb` at the
/// fixture's own version → `rdbkit json`: the same keys and values (empty
/// collections and module values, which have no JSON form to write from,
/// left out and counted). Files Redis 7.0 reads are also loaded into it and
/// compared with the truth; newer ones are written `--to redis-7.0 --lossy`
/// from the JSON and compared likewise.
#[test]
fn jsonl_to_rdb_round_trip_every_fixture() {
    let dir = TempDir::new("rdbw");
    let negative = negative_entries();
    let fixtures: Vec<PathBuf> = common::all_rdb_files()
        .into_iter()
        .filter(|p| common::sibling(p, ".expected.jsonl").exists())
        .filter(|p| !negative.iter().any(|(_, np)| np == p))
        // RDB 14 values (arrays, NACK zones) are not written from JSON Lines
        // yet (the writer re-encodes up to RDB 13; issue 15 stays open).
        .filter(|p| !common::rel(p).starts_with("newest/"))
        .collect();
    check_fixtures(
        "jsonl_to_rdb_round_trip_every_fixture",
        &fixtures,
        |i, rdb| {
            let jl = dir.join(&format!("{i}.jsonl"));
            let back = dir.join(&format!("{i}.rdb"));
            let meta = json_meta(rdb);
            write_jsonl(&jl, &meta);
            let lines: Vec<Value> = meta
                .into_iter()
                .filter(|l| l.get("key").is_some())
                .collect();
            let mut args = vec![jl.display().to_string(), "--lossy".into()];
            args.extend(own_format(rdb));
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let s = write(&argv, &back)?;
            let modules = lines.iter().filter(|l| l["type"] == "module").count() as u64;
            if s["lossy"]["dropped_keys"].as_u64() != Some(modules) {
                return Err(format!("{modules} module keys, summary: {s}"));
            }
            let want: Vec<Value> = lines
                .iter()
                .filter(|l| l["type"] != "module" && !is_empty_value(l))
                .map(normalized)
                .collect();
            let got: Vec<Value> = json_of(&back).iter().map(normalized).collect();
            let key = |l: &Value| (l["db"].as_u64(), l["key"].to_string());
            let mut w = want.clone();
            let mut g = got.clone();
            w.sort_by_key(key);
            g.sort_by_key(key);
            if w.len() != g.len() {
                return Err(format!("{} keys back, {} written", g.len(), w.len()));
            }
            for (a, b) in w.iter().zip(&g) {
                if a != b {
                    return Err(format!(
                        "round trip differs:\n before {}\n after  {}",
                        common::short(a),
                        common::short(b)
                    ));
                }
            }
            if modules > 0 {
                return Ok(g.len());
            }
            let truth = expected(rdb);
            if !is_newer(rdb) {
                server_equals(&back, &truth)?;
                let s = start_from(&back);
                compare_functions(&mut s.conn(), rdb)?;
            } else {
                let seven = dir.join(&format!("{i}-7.0.rdb"));
                write(
                    &[&jl.display().to_string(), "--to", "redis-7.0", "--lossy"],
                    &seven,
                )?;
                server_equals(&seven, &as_redis_7_0(&truth))?;
            }
            Ok(g.len())
        },
    );
}

/// Three string keys of `redis-7.0.15/default.rdb` changed and two new keys,
/// as a JSON Lines file merged after the fixture under each policy.
#[test]
fn merge_under_each_conflict_policy() {
    let dir = TempDir::new("rdbw");
    let base = common::fixture("redis-7.0.15/default.rdb");
    let truth = expected(&base);
    let strings: Vec<&Value> = truth
        .iter()
        .filter(|l| l["type"] == "string" && l["expire_ms"].is_null() && l["db"] == 0)
        .take(3)
        .collect();
    assert_eq!(strings.len(), 3);
    let mut changed: Vec<Value> = strings
        .iter()
        .map(|l| {
            let mut l = (*l).clone();
            l["value"] = Value::String(format!("changed {}", l["value"]));
            l.as_object_mut().unwrap().remove("encoding");
            l
        })
        .collect();
    for k in ["merge:new:1", "merge:new:2"] {
        changed.push(serde_json::json!({"db": 0, "key": k, "type": "string", "expire_ms": null, "value": "new"}));
    }
    let other = dir.join("other.jsonl");
    std::fs::write(
        &other,
        changed
            .iter()
            .map(|l| l.to_string() + "\n")
            .collect::<String>(),
    )
    .unwrap();
    let (a, b) = (base.display().to_string(), other.display().to_string());

    // panic: nothing written, the key named, exit 3
    let out = dir.join("panic.rdb");
    let r = rdbkit(&["rdb", &a, &b, "-o", &out.display().to_string()]);
    assert_eq!(r.code, 3, "{}", r.describe());
    assert!(
        r.all_text().contains(&common::short(&strings[0]["key"])),
        "{}",
        r.describe()
    );
    assert!(!out.exists(), "panic left an output");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        1,
        "a temporary file was left"
    );

    let new_lines = &changed[3..];
    for (policy, winners) in [("rewrite", &changed[..3]), ("ignore", &[][..])] {
        let out = dir.join(&format!("{policy}.rdb"));
        let s = write(&[&a, &b, "--on-conflict", policy], &out).unwrap();
        assert_eq!(n(&s, "conflicts"), 3, "{s}");
        let action = if policy == "rewrite" {
            "rewritten"
        } else {
            "ignored"
        };
        assert_eq!(by_action(&s, action), 3, "{s}");
        assert_eq!(n(&s, "written"), truth.len() as u64 + 2, "{s}");
        let mut want: Vec<Value> = truth
            .iter()
            .filter(|l| {
                !winners
                    .iter()
                    .any(|w| w["key"] == l["key"] && w["db"] == l["db"])
            })
            .cloned()
            .collect();
        want.extend(winners.iter().cloned());
        want.extend(new_lines.iter().cloned());
        server_equals(&out, &want).unwrap_or_else(|e| panic!("{policy}: {e}"));
    }
}

/// An output that is an input (by another name, through a hard link) is
/// refused before anything is written.
#[test]
fn output_that_is_an_input_is_refused() {
    let dir = TempDir::new("rdbw");
    let src = dir.join("in.rdb");
    std::fs::copy(common::fixture("redis-7.0.15/default.rdb"), &src).unwrap();
    let link = dir.join("link.rdb");
    std::fs::hard_link(&src, &link).unwrap();
    let before = std::fs::read(&src).unwrap();
    for out in [&src, &link] {
        let r = rdbkit(&[
            "rdb",
            &src.display().to_string(),
            "-o",
            &out.display().to_string(),
        ]);
        assert_eq!(r.code, 1, "{}", r.describe());
        assert!(r.all_text().contains("is the input"), "{}", r.describe());
    }
    assert_eq!(std::fs::read(&src).unwrap(), before);
}

/// Truncated and bit-flipped JSON Lines input: a clear error naming a byte
/// offset and no output left behind, or a file our own reader accepts.
#[test]
fn damaged_jsonl_input() {
    let dir = TempDir::new("rdbw");
    let lines = json_of(&common::fixture("redis-7.0.15/default.rdb"));
    let good: Vec<u8> = lines
        .iter()
        .map(|l| l.to_string() + "\n")
        .collect::<String>()
        .into_bytes();
    let mut cases: Vec<Vec<u8>> = Vec::new();
    for cut in (1..good.len()).step_by(good.len() / 40) {
        cases.push(good[..cut].to_vec());
    }
    let mut x = 0x2545F4914F6CDD1Du64;
    for _ in 0..40 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut d = good.clone();
        let at = (x % d.len() as u64) as usize;
        d[at] ^= 1 << (x % 8);
        cases.push(d);
    }
    let (mut ok, mut refused) = (0, 0);
    for (i, c) in cases.iter().enumerate() {
        let input = dir.join(&format!("d{i}.jsonl"));
        let out = dir.join(&format!("d{i}.rdb"));
        std::fs::write(&input, c).unwrap();
        let r = rdbkit(&[
            "rdb",
            &input.display().to_string(),
            "-o",
            &out.display().to_string(),
            "-q",
            "--lossy",
        ]);
        match r.code {
            0 => {
                json_of(&out);
                ok += 1;
            }
            1 => {
                assert!(
                    r.all_text().contains("byte offset") || r.all_text().contains("not an RDB"),
                    "case {i}: {}",
                    r.describe()
                );
                assert!(!out.exists(), "case {i}: output left after an error");
                refused += 1;
            }
            _ => panic!("case {i}: {}", r.describe()),
        }
    }
    eprintln!("damaged_jsonl_input: {ok} written, {refused} refused");
    assert!(refused > 0);
}

// ---------------------------------------------------------------------------
// split
// ---------------------------------------------------------------------------

/// A source of `n` keys of every type (some with hash tags and TTLs), as
/// JSON Lines written into an RDB 10 file, and its content as a Redis 7.0
/// server holds it after starting from that file.
fn split_source(dir: &TempDir, n: usize) -> (PathBuf, Vec<Value>) {
    use serde_json::json;
    let mut lines = String::new();
    for i in 0..n {
        let key = if i % 13 == 0 {
            format!("{{tag{}}}:k{i}", i % 5)
        } else {
            format!("k:{i}")
        };
        let l = match i % 6 {
            0 => json!({"db": 0, "key": key, "type": "string", "value": format!("v{i}")}),
            1 => {
                json!({"db": 0, "key": key, "type": "hash", "value": {"a": i.to_string(), "b": "x"}})
            }
            2 => json!({"db": 0, "key": key, "type": "list", "value": ["1", "two", i.to_string()]}),
            3 => json!({"db": 0, "key": key, "type": "set", "value": ["m1", "m2", i.to_string()]}),
            4 => json!({"db": 0, "key": key, "type": "zset", "value": [["a", 1.5], ["b", i]]}),
            _ => {
                json!({"db": 0, "key": key, "type": "string", "value": i.to_string(), "expire_ms": 4102444800000u64 + i as u64})
            }
        };
        lines.push_str(&l.to_string());
        lines.push('\n');
    }
    let jl = dir.join("source.jsonl");
    std::fs::write(&jl, lines).unwrap();
    let rdb = dir.join("source.rdb");
    write(&[&jl.display().to_string(), "--to", "redis-7.0"], &rdb).unwrap();
    let s = start_from(&rdb);
    let truth = dump_server(&mut s.conn());
    assert_eq!(truth.len(), n);
    (rdb, truth)
}

/// A file of a split: path, slot ranges, node id.
type Part = (PathBuf, Vec<(u16, u16)>, Option<String>);

/// `manifest.json` of a split: (file, slot ranges, node id) per file.
fn manifest_parts(dir: &Path) -> Vec<Part> {
    let m: Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let ranges = f["slots"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| (r[0].as_u64().unwrap() as u16, r[1].as_u64().unwrap() as u16))
                .collect();
            (
                dir.join(f["file"].as_str().unwrap()),
                ranges,
                f["node"]["id"].as_str().map(String::from),
            )
        })
        .collect()
}

/// Each node holds only keys of its own slots.
fn keys_on_owners(nodes: &[&Server], ranges: &[Vec<(u16, u16)>]) -> Result<(), String> {
    for (s, r) in nodes.iter().zip(ranges) {
        for k in scan_keys(&mut s.conn(), 0) {
            let slot = key_slot(&k);
            if !r.iter().any(|&(a, b)| a <= slot && slot <= b) {
                return Err(format!(
                    "key {} (slot {slot}) on node {} which owns {r:?}",
                    common::show(&k),
                    s.port
                ));
            }
        }
    }
    Ok(())
}

/// `split --shards 3`, then a new 3-master cluster whose nodes start from
/// those files: the slots with keys are claimed by the node holding them at
/// start-up, the rest of each manifest range added with CLUSTER ADDSLOTS,
/// then the nodes meet. The cluster holds exactly the source keys, each on
/// its slot's owner.
#[test]
fn split_shards_restores_a_new_cluster() {
    let dir = TempDir::new("rdbw");
    let (src, truth) = split_source(&dir, 4000);
    let out = dir.join("split");
    let r = rdbkit(&[
        "split",
        &src.display().to_string(),
        "--out-dir",
        &out.display().to_string(),
        "--shards",
        "3",
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let parts = manifest_parts(&out);
    assert_eq!(parts.len(), 3);
    assert_eq!(
        parts.iter().map(|p| p.1.clone()).collect::<Vec<_>>(),
        vec![vec![(0, 5460)], vec![(5461, 10922)], vec![(10923, 16383)]]
    );
    let nodes: Vec<Server> = parts
        .iter()
        .map(|(f, _, _)| {
            check_rdb(f).unwrap();
            Server::start_with(ServerOpts {
                cluster: true,
                rdb: Some(f.clone()),
                args: vec!["--sanitize-dump-payload".into(), "yes".into()],
                ..Default::default()
            })
        })
        .collect();
    for (i, (s, (_, ranges, _))) in nodes.iter().zip(&parts).enumerate() {
        let mut c = s.conn();
        let mut add: Vec<String> = Vec::new();
        for &(a, b) in ranges {
            for slot in a..=b {
                if c.int(["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()]) == 0 {
                    add.push(slot.to_string());
                }
            }
        }
        let mut cmd = vec!["CLUSTER".to_string(), "ADDSLOTS".into()];
        cmd.extend(add);
        c.ok(cmd);
        c.ok(["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()]);
    }
    for s in &nodes[1..] {
        nodes[0]
            .conn()
            .ok(["CLUSTER", "MEET", "127.0.0.1", &s.port.to_string()]);
    }
    let cluster = Cluster { nodes };
    cluster.wait_ok(std::time::Duration::from_secs(60));
    let ranges: Vec<Vec<(u16, u16)>> = parts.iter().map(|p| p.1.clone()).collect();
    keys_on_owners(&cluster.nodes.iter().collect::<Vec<_>>(), &ranges).unwrap();
    compare_lines(&dump_nodes(&cluster.nodes), &truth).unwrap();
}

/// `split --nodes` with a real cluster's nodes.conf: each master restarted
/// from the file the manifest gives its node id holds its slots' keys.
#[test]
fn split_nodes_conf_of_a_real_cluster() {
    let dir = TempDir::new("rdbw");
    let (src, truth) = split_source(&dir, 3000);
    let mut cluster = Cluster::start(3);
    let conf = cluster.nodes[0].dir.join("nodes.conf");
    let out = dir.join("split");
    let r = rdbkit(&[
        "split",
        &src.display().to_string(),
        "--out-dir",
        &out.display().to_string(),
        "--nodes",
        &conf.display().to_string(),
    ]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let parts = manifest_parts(&out);
    assert_eq!(parts.len(), 3);
    let mut ranges = Vec::new();
    for s in cluster.nodes.iter_mut() {
        let id = node_id(s);
        let (file, r, _) = parts
            .iter()
            .find(|p| p.2.as_deref() == Some(id.as_str()))
            .expect("manifest names every master");
        std::fs::copy(file, s.dir.join("dump.rdb")).unwrap();
        s.crash_and_restart();
        ranges.push(r.clone());
    }
    cluster.wait_ok(std::time::Duration::from_secs(60));
    keys_on_owners(&cluster.nodes.iter().collect::<Vec<_>>(), &ranges).unwrap();
    compare_lines(&dump_nodes(&cluster.nodes), &truth).unwrap();
}

/// `split --by-db`: one file per database, each holding exactly that
/// database's keys.
#[test]
fn split_by_db() {
    let dir = TempDir::new("rdbw");
    let src = common::fixture("redis-7.0.15/default.rdb");
    let truth = expected(&src);
    let out = dir.join("bydb");
    let r = rdbkit(&[
        "split",
        &src.display().to_string(),
        "--out-dir",
        &out.display().to_string(),
        "--by-db",
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let m: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let files = m["files"].as_array().unwrap();
    let mut dbs: Vec<u64> = truth.iter().map(|l| l["db"].as_u64().unwrap()).collect();
    dbs.sort();
    dbs.dedup();
    assert_eq!(
        files
            .iter()
            .map(|f| f["db"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        dbs
    );
    for f in files {
        let db = f["db"].as_u64().unwrap();
        let want: Vec<Value> = truth.iter().filter(|l| l["db"] == db).cloned().collect();
        assert_eq!(f["keys"].as_u64(), Some(want.len() as u64));
        server_equals(&out.join(f["file"].as_str().unwrap()), &want).unwrap();
    }
}

// ---------------------------------------------------------------------------
// Valkey 8.0 (Debian bookworm-backports' valkey-server)
// ---------------------------------------------------------------------------

const VALKEY_SERVER: &str = "/usr/bin/valkey-server";

/// A server of another build (`valkey-server`, a Redis built from source)
/// started from `rdb`, killed on drop.
struct Valkey {
    child: std::process::Child,
    port: u16,
    _dir: TempDir,
}

impl Valkey {
    fn start_from(rdb: &Path) -> Result<Valkey, String> {
        Valkey::start_bin(VALKEY_SERVER, rdb)
    }

    fn start_bin(bin: &str, rdb: &Path) -> Result<Valkey, String> {
        let dir = TempDir::new("valkey");
        std::fs::copy(rdb, dir.join("dump.rdb")).unwrap();
        let port = free_port(false);
        let child = Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(["--dbfilename", "dump.rdb", "--sanitize-dump-payload", "yes"])
            .arg("--dir")
            .arg(dir.path())
            .arg("--logfile")
            .arg(dir.join("server.log"))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| format!("{bin}: {e}"))?;
        let mut v = Valkey {
            child,
            port,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            if let Ok(Some(_)) = v.child.try_wait() {
                let log = std::fs::read_to_string(v._dir.join("server.log")).unwrap_or_default();
                return Err(format!("{bin} refused {}:\n{log}", rdb.display()));
            }
            if let Ok(mut c) = support::resp::Conn::connect(v.port) {
                if c.try_cmd(["PING"]).is_ok_and(|r| r.text() == "PONG") {
                    return Ok(v);
                }
            }
            if std::time::Instant::now() > deadline {
                return Err(format!("{bin} did not answer"));
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for Valkey {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every fixture without module keys → `--to valkey-8.0 --lossy` (RDB 11:
/// field TTLs dropped, Valkey 9 HASH_2 and Redis 7.4 types re-encoded) →
/// Valkey 8.0 started from it equals the truth minus the dropped TTLs.
/// Skipped with a message when valkey-server is not installed
/// (`scripts/test.sh` installs it from bookworm-backports).
#[test]
fn every_fixture_to_valkey_8_0() {
    if !Path::new(VALKEY_SERVER).exists() {
        eprintln!("every_fixture_to_valkey_8_0: SKIPPED: {VALKEY_SERVER} is not installed");
        return;
    }
    let dir = TempDir::new("rdbw");
    let fixtures = command_mode_fixtures();
    check_fixtures("every_fixture_to_valkey_8_0", &fixtures, |i, rdb| {
        let out = dir.join(&format!("{i}.rdb"));
        convert(rdb, &out, "valkey-8.0", true, "Redis RDB 11")?;
        let v = Valkey::start_from(&out)?;
        let mut c = support::resp::Conn::connect(v.port).map_err(|e| e.to_string())?;
        let truth: Vec<Value> = expected(rdb)
            .into_iter()
            .map(|mut l| {
                l.as_object_mut().unwrap().remove("field_expire_ms");
                with_active_times(l)
            })
            .collect();
        compare_lines(&dump_server(&mut c), &truth)
    });
}

/// Adds `field_expire_ms` (HPEXPIRETIME, Redis 7.4+) to the hash lines of
/// a server dump, in the truth's shape; the shared harness reads only what
/// Redis 7.0 reports.
fn with_field_ttls(c: &mut support::resp::Conn, lines: Vec<Value>) -> Vec<Value> {
    lines
        .into_iter()
        .map(|mut l| {
            if l["type"] != "hash" {
                return l;
            }
            let (db, key) = common::ident(&l).unwrap();
            c.ok(["SELECT", &db.to_string()]);
            let fields: Vec<Vec<u8>> = c
                .cmd([b"HKEYS".to_vec(), key.clone()])
                .array()
                .iter()
                .map(|f| f.bytes())
                .collect();
            let mut args = vec![
                b"HPEXPIRETIME".to_vec(),
                key,
                b"FIELDS".to_vec(),
                fields.len().to_string().into_bytes(),
            ];
            args.extend(fields.iter().cloned());
            let ttls = c.cmd(args);
            let pairs: Vec<(Vec<u8>, Value)> = fields
                .into_iter()
                .zip(ttls.array())
                .filter(|(_, t)| t.int() >= 0)
                .map(|(f, t)| (f, Value::from(t.int())))
                .collect();
            if !pairs.is_empty() {
                l["field_expire_ms"] = map_json(pairs);
            }
            l
        })
        .collect()
}

/// A stream of type 15/19 (kept as it is where the output reads it) has no
/// active times; the loading server sets them to the seen times
/// (`rdbLoadObject`).
fn with_active_times(mut l: Value) -> Value {
    for g in l["value"]
        .get_mut("groups")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        if g["consumer_active_time_ms"].is_null() {
            g["consumer_active_time_ms"] = g["consumer_seen_time_ms"].clone();
        }
    }
    l
}

/// Every fixture without module keys `--to TO --lossy`, and its JSON Lines
/// likewise → the server `bin` started from the file equals the truth,
/// field TTLs included. For servers built from source (`env` names the
/// binary); skipped with a message when it is not set (CI has none).
fn to_built_server(test: &str, env: &str, to: &str, format: &str) {
    let Some(bin) = std::env::var(env).ok().filter(|b| Path::new(b).exists()) else {
        eprintln!("{test}: SKIPPED: set {env} to a {to} server binary built from source");
        return;
    };
    let dir = TempDir::new("rdbw");
    let fixtures = command_mode_fixtures();
    check_fixtures(test, &fixtures, |i, rdb| {
        let out = dir.join(&format!("{i}.rdb"));
        // --lossy: Redis 8.6 IDMP stream state / KEY_META have no place here.
        convert(rdb, &out, to, true, format)?;
        let jl = dir.join(&format!("{i}.jsonl"));
        let meta = json_meta(rdb);
        write_jsonl(&jl, &meta);
        let from_json = dir.join(&format!("{i}-json.rdb"));
        write(
            &[&jl.display().to_string(), "--to", to, "--lossy"],
            &from_json,
        )?;
        let truth: Vec<Value> = expected(rdb).into_iter().map(with_active_times).collect();
        for f in [&out, &from_json] {
            let v = Valkey::start_bin(&bin, f)?;
            let mut c = support::resp::Conn::connect(v.port).map_err(|e| e.to_string())?;
            let dump = dump_server(&mut c);
            compare_lines(&with_field_ttls(&mut c, dump), &truth)?;
        }
        Ok(truth.len())
    });
}

/// Redis 7.4 (RDB 12): Valkey 9 HASH_2 becomes types 24/25.
#[test]
fn every_fixture_to_redis_7_4_with_field_ttls() {
    to_built_server(
        "every_fixture_to_redis_7_4_with_field_ttls",
        "RDBKIT_REDIS_7_4",
        "redis-7.4",
        "Redis RDB 12",
    );
}

/// Valkey 9 (VALKEY080): Redis 7.4+ field-TTL hashes become HASH_2.
#[test]
fn every_fixture_to_valkey_9_with_field_ttls() {
    to_built_server(
        "every_fixture_to_valkey_9_with_field_ttls",
        "RDBKIT_VALKEY_9",
        "valkey-9.1",
        "Valkey RDB 80",
    );
}

/// Every fixture Redis 7.0 reads → `--to redis-6.2 --lossy` (RDB 9: no
/// listpacks, stream type 15, no functions) → `redis-check-rdb` accepts it
/// and Redis 7.0 started from it holds the truth, with the stream members
/// RDB 9 has no place for as a loading server rebuilds them.
#[test]
fn fixtures_to_redis_6_2() {
    let dir = TempDir::new("rdbw");
    let fixtures = eligible_fixtures();
    check_fixtures("fixtures_to_redis_6_2", &fixtures, |i, rdb| {
        let out = dir.join(&format!("{i}.rdb"));
        convert(rdb, &out, "redis-6.2", true, "Redis RDB 9")?;
        let truth: Vec<Value> = expected(rdb).iter().map(as_type_15).collect();
        server_equals(&out, &truth)
    });
}

/// A stream as Redis 7.0 rebuilds it from type 15 (`rdbLoadObject`):
/// entries-added = length, max-deleted-entry-id 0-0, first entry ID from
/// the entries, groups' entries-read unknown.
fn as_type_15(l: &Value) -> Value {
    let mut l = l.clone();
    if l["type"] != "stream" {
        return l;
    }
    let v = &mut l["value"];
    v["entries_added"] = v["length"].clone();
    v["max_deleted_entry_id"] = Value::String("0-0".into());
    // Of a stream without entries, streamGetEdgeID gives the largest ID.
    let none = Value::String("18446744073709551615-18446744073709551615".into());
    let first = v["entries"]
        .as_array()
        .and_then(|e| e.first())
        .map_or(none, |e| e[0].clone());
    v["first_entry_id"] = first;
    for g in v
        .get_mut("groups")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
    {
        g["entries_read"] = Value::Null;
    }
    l
}

/// Hand-edited JSON Lines that a server would refuse to load (a repeated
/// hash field, a NaN score, stream IDs out of order) are refused naming the
/// line's byte offset, and nothing is written.
#[test]
fn invalid_edited_values_are_refused() {
    let dir = TempDir::new("rdbw");
    let good = r#"{"db":0,"key":"ok","type":"string","value":"v"}"#;
    for bad in [
        r#"{"db":0,"key":"h","type":"hash","value":[["f","1"],["f","2"]]}"#,
        r#"{"db":0,"key":"z","type":"zset","value":[["m","nan"]]}"#,
        r#"{"db":0,"key":"s","type":"stream","value":{"entries":[["5-0",{"a":"1"}],["4-0",{"a":"2"}]],"length":2,"last_id":"5-0","groups":[]}}"#,
    ] {
        let input = dir.join("bad.jsonl");
        std::fs::write(&input, format!("{good}\n{bad}\n")).unwrap();
        let out = dir.join("bad.rdb");
        let r = rdbkit(&[
            "rdb",
            &input.display().to_string(),
            "-o",
            &out.display().to_string(),
        ]);
        assert_eq!(r.code, 1, "{bad}: {}", r.describe());
        let offset = format!("byte offset {}", good.len() + 1);
        assert!(r.all_text().contains(&offset), "{bad}: {}", r.describe());
        assert!(!out.exists());
    }
}

/// `split --cluster URL` reads the live slot map: one file per master,
/// named by its address, with exactly the ranges `CLUSTER SLOTS` shows,
/// and every source key in the file of its slot's owner.
#[test]
fn split_cluster_url_follows_the_live_slot_map() {
    let dir = TempDir::new("rdbw");
    let (src, truth) = split_source(&dir, 2000);
    let cluster = Cluster::start(3);
    let out = dir.join("split");
    let r = rdbkit(&[
        "split",
        &src.display().to_string(),
        "--out-dir",
        &out.display().to_string(),
        "--cluster",
        &cluster.nodes[0].url(),
        "-q",
    ]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let m: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let mut got: Vec<(i64, i64, i64)> = Vec::new();
    let mut keys = 0;
    for f in m["files"].as_array().unwrap() {
        let port: i64 = f["node"]["addr"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        for r in f["slots"].as_array().unwrap() {
            got.push((r[0].as_i64().unwrap(), r[1].as_i64().unwrap(), port));
        }
        keys += f["keys"].as_u64().unwrap();
        // every key of the file hashes into the file's ranges
        for l in json_of(&out.join(f["file"].as_str().unwrap())) {
            let (_, key) = common::ident(&l).unwrap();
            let slot = key_slot(&key) as i64;
            assert!(
                got.iter()
                    .any(|&(a, b, p)| p == port && a <= slot && slot <= b),
                "{}",
                common::show(&key)
            );
        }
    }
    got.sort();
    assert_eq!(got, cluster.slot_map());
    assert_eq!(keys, truth.len() as u64);
}

/// Redis 8.8 files (RDB 14: arrays, streams with NACKed entries): at their
/// own version every record is copied and the file converts to the same
/// JSON; for an older server, arrays and NACK state are refused by name
/// unless `--lossy`, which drops exactly them and counts them.
#[test]
fn rdb_14_copies_at_its_version_and_drops_only_what_older_servers_lack() {
    let src = common::fixture("newest/redis-unstable-20260609.rdb");
    let tmp = TempDir::new("rdb14-write");
    let out = tmp.join("same.rdb");
    let r = rdbkit(&[
        "rdb",
        src.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let s: Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(s["reencoded"], 0, "{s}");
    let json = |p: &Path| rdbkit(&["json", p.to_str().unwrap()]).stdout;
    assert_eq!(json(&src), json(&out), "the copy converts differently");
    let old = tmp.join("old.rdb");
    let r = rdbkit(&[
        "rdb",
        src.to_str().unwrap(),
        "--to",
        "redis-7.4",
        "-o",
        old.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(r.all_text().contains("key \""), "{}", r.describe());
    assert!(!old.exists(), "a refused conversion left its output");
    let r = rdbkit(&[
        "rdb",
        src.to_str().unwrap(),
        "--to",
        "redis-7.4",
        "--lossy",
        "--json",
        "-o",
        old.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 0, "{}", r.describe());
    let s: Value = serde_json::from_slice(&r.stdout).unwrap();
    // Every array of the file, also one whose TTL has run out since it was
    // written: the writer drops them by type, before any expiry rule.
    let arrays = expected(&src)
        .iter()
        .chain(&expired_keys(&src))
        .filter(|l| l["type"] == "array")
        .count() as u64;
    assert!(arrays > 0);
    assert_eq!(s["lossy"]["dropped_keys"], arrays, "{s}");
    assert!(
        s["lossy"]["dropped_stream_fields"].as_u64().unwrap() > 0,
        "{s}"
    );
    // What is left reads back, without arrays and NACKs.
    let back = String::from_utf8(json(&old)).unwrap();
    assert!(!back.contains("\"type\":\"array\"") && !back.contains("\"nacked\""));
    assert_eq!(
        back.lines().count() as u64 + arrays,
        expected(&src).len() as u64 + expired_keys(&src).len() as u64
    );
}

/// The items of an RDB file, as rdbkit's parser reads them.
fn items_of(rdb: &Path, mut f: impl FnMut(rdbkit::rdb::records::Item<'_>)) {
    use rdbkit::rdb::records::{ParseOptions, Parser};
    let data = std::fs::read(rdb).unwrap();
    let mut p = Parser::new(&data, ParseOptions::default()).unwrap();
    while let Some(item) = p.next_item().unwrap() {
        f(item);
    }
}

/// `split --shards 3 --to redis-7.4` (RDB 12) gives each file the
/// per-slot counts a Redis 7.4+ cluster node writes (`RDB_OPCODE_SLOT_INFO`
/// after db 0's RESIZEDB): exactly the slots whose keys it holds, with
/// their key and expire counts, ahead of every key. RDB 10 files have none.
/// (Read back by rdbkit's parser: no Redis 7.4+ server is installed here.)
#[test]
fn split_writes_slot_info_where_the_version_has_it() {
    use rdbkit::rdb::records::Item;
    use std::collections::BTreeMap;
    let dir = TempDir::new("rdbw");
    let (src, _) = split_source(&dir, 3000);
    for (to, want_info) in [("redis-7.4", true), ("redis-7.0", false)] {
        let out = dir.join(&format!("split-{to}"));
        let r = rdbkit(&[
            "split",
            &src.display().to_string(),
            "--out-dir",
            &out.display().to_string(),
            "--shards",
            "3",
            "--to",
            to,
        ]);
        assert_eq!(r.code, 0, "{}", r.describe());
        let mut total = 0;
        for (file, ranges, _) in manifest_parts(&out) {
            // slot -> (keys, expires): from SLOT_INFO, and counted from keys.
            let mut info: BTreeMap<u16, (u64, u64)> = BTreeMap::new();
            let mut seen: BTreeMap<u16, (u64, u64)> = BTreeMap::new();
            let mut info_after_a_key = false;
            items_of(&file, |item| match item {
                Item::SlotInfo {
                    slot,
                    slot_size,
                    expires_slot_size,
                } => {
                    info_after_a_key |= !seen.is_empty();
                    let old = info.insert(slot as u16, (slot_size, expires_slot_size));
                    assert!(old.is_none(), "slot {slot} twice");
                }
                Item::Key(rec) => {
                    let key = rec.key.to_vec().unwrap();
                    let c = seen.entry(key_slot(&key)).or_default();
                    c.0 += 1;
                    c.1 += rec.expire_ms.is_some() as u64;
                }
                _ => {}
            });
            assert!(!seen.is_empty(), "{}: no keys", file.display());
            assert!(seen
                .keys()
                .all(|s| ranges.iter().any(|&(a, b)| a <= *s && *s <= b)));
            if want_info {
                assert!(
                    !info_after_a_key,
                    "{}: SLOT_INFO after a key",
                    file.display()
                );
                assert_eq!(info, seen, "{}", file.display());
                assert!(seen.values().any(|c| c.1 > 0), "no expires counted");
            } else {
                assert!(info.is_empty(), "{}: SLOT_INFO at RDB 10", file.display());
            }
            total += seen.values().map(|c| c.0).sum::<u64>();
        }
        assert_eq!(total, 3000);
    }
}

/// Values written from JSON Lines are LZF-compressed as a server saves
/// them (strings longer than 20 bytes, when that saves at least 4 bytes):
/// long repetitive values are stored compressed, short or random ones not,
/// and Redis 7.0 with `sanitize-dump-payload yes` loads exactly the data.
#[test]
fn reencoded_values_are_lzf_compressed_like_the_server() {
    use serde_json::json;
    let dir = TempDir::new("rdbw");
    let long = |c: &str, n: usize| c.repeat(n);
    let mut x: u32 = 12345;
    let mut random = || -> String {
        (0..40)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                char::from(b'!' + (x % 90) as u8)
            })
            .collect()
    };
    let lines = vec![
        json!({"db": 0, "key": "str", "type": "string", "value": long("abc", 200)}),
        json!({"db": 0, "key": "short", "type": "string", "value": "twenty-one bytes long"}),
        json!({"db": 0, "key": "noise", "type": "string", "value": random()}),
        json!({"db": 0, "key": "bighash", "type": "hash",
               "value": {"f1": long("x", 100), "f2": long("yz", 300), "f3": "v"}}),
        json!({"db": 0, "key": "smallhash", "type": "hash",
               "value": {"a": long("q", 30), "b": long("q", 30)}}),
        json!({"db": 0, "key": "list", "type": "list",
               "value": (0..200).map(|i| format!("item-{}", i % 7)).collect::<Vec<_>>()}),
        json!({"db": 0, "key": "set", "type": "set",
               "value": (0..300).map(|i| format!("member:{i:04}:{}", long("s", 20))).collect::<Vec<_>>()}),
        json!({"db": 0, "key": "zset", "type": "zset",
               "value": (0..200).map(|i| json!([long("m", 70) + &i.to_string(), format!("{i}.0")])).collect::<Vec<_>>()}),
    ];
    // In the truth's own shape, which is also what `rdbkit rdb` reads.
    let lines: Vec<Value> = lines
        .into_iter()
        .map(|mut l| {
            l["expire_ms"] = Value::Null;
            l
        })
        .collect();
    let jl = dir.join("in.jsonl");
    write_jsonl(&jl, &lines);
    let out = dir.join("out.rdb");
    write(&[&jl.display().to_string(), "--to", "redis-7.0"], &out).unwrap();
    let mut compressed = std::collections::BTreeMap::new();
    items_of(&out, |item| {
        if let rdbkit::rdb::records::Item::Key(rec) = item {
            let key = String::from_utf8(rec.key.to_vec().unwrap()).unwrap();
            compressed.insert(key, first_strings_lzf(rec.type_byte, rec.value));
        }
    });
    let want: std::collections::BTreeMap<String, bool> = [
        ("str", true),
        ("short", false),
        ("noise", false),
        ("bighash", true),
        ("smallhash", true),
        ("list", true),
        ("set", true),
        ("zset", true),
    ]
    .iter()
    .map(|(k, c)| (k.to_string(), *c))
    .collect();
    assert_eq!(compressed, want);
    let raw: usize = lines.iter().map(|l| l.to_string().len()).sum();
    let size = std::fs::metadata(&out).unwrap().len() as usize;
    assert!(
        size * 2 < raw,
        "{size} bytes written for {raw} bytes of JSON"
    );
    assert_eq!(server_equals(&out, &lines), Ok(lines.len()));
}

/// Whether one of the first two strings of a value (after its counts) is
/// stored LZF-compressed: a string, a blob, a plain collection's elements,
/// a quicklist 2 node.
fn first_strings_lzf(type_byte: u8, value: &[u8]) -> bool {
    use rdbkit::rdb::cursor::Cursor;
    use rdbkit::rdb::elem::RdbStr;
    let mut c = Cursor::new(value, 0);
    match type_byte {
        1 | 2 | 4 | 5 | 14 => {
            c.length("count").unwrap();
        }
        18 => {
            c.length("nodes").unwrap();
            c.length("container").unwrap();
        }
        _ => {}
    }
    let mut lzf = false;
    for _ in 0..if matches!(type_byte, 1 | 2 | 4) { 2 } else { 1 } {
        lzf |= matches!(c.string("s").unwrap(), RdbStr::Lzf { .. });
    }
    lzf
}

/// A list bigger than the writer builds in memory (one quicklist 2 value
/// of ~12 MB of incompressible items, over `writer::STREAM_VALUES_ABOVE`)
/// goes `--to redis-6.2` node by node: the same bytes as when it is built
/// whole, and Redis 7.0 started from the file holds the list item for item.
#[test]
fn a_list_too_big_to_build_is_written_node_by_node() {
    let src = Server::start();
    let mut c = src.conn();
    let items: Vec<Vec<u8>> = common::noise(200_000 * 60)
        .chunks(60)
        .map(|c| c.to_vec())
        .collect();
    for part in items.chunks(10_000) {
        let mut args: Vec<&[u8]> = vec![b"RPUSH", b"big"];
        args.extend(part.iter().map(|i| i.as_slice()));
        c.must(args);
    }
    c.ok(["SAVE"]);
    let rdb = src.dir.join("dump.rdb");
    let data = std::fs::read(&rdb).unwrap();
    assert!(data.len() > (rdbkit::writer::STREAM_VALUES_ABOVE + (1 << 20)) as usize);

    let write = |above: u64| {
        let opts = rdbkit::writer::Options {
            format: rdbkit::rdb::write::Format::new(rdbkit::Dialect::Redis, 9).ok(),
            stream_values_above: above,
            ..Default::default()
        };
        let input = rdbkit::writer::Input {
            name: "dump.rdb".into(),
            data: &data,
        };
        let (out, summary) = rdbkit::writer::write_rdb(&[input], &opts, Vec::new()).unwrap();
        assert_eq!(summary.reencoded, 1, "{summary:?}");
        out
    };
    let by_nodes = write(rdbkit::writer::STREAM_VALUES_ABOVE);
    let whole = write(u64::MAX);
    // The same key record, from its type byte to the end-of-file opcode
    // (the aux fields before it may differ in ctime).
    let record = |f: &[u8]| f[key_at_start(f) - 1..f.len() - 9].to_vec();
    assert_eq!(record(&by_nodes), record(&whole));
    assert_eq!(
        by_nodes[key_at_start(&by_nodes) - 1],
        14,
        "a quicklist (type 14)"
    );

    let dir = TempDir::new("rdbw-big-list");
    let out = dir.join("out.rdb");
    std::fs::write(&out, &by_nodes).unwrap();
    check_rdb(&out).unwrap();
    let s = start_from(&out);
    let mut d = s.conn();
    assert_eq!(d.int(["LLEN", "big"]), items.len() as i64);
    let got = d.must(["LRANGE", "big", "0", "-1"]);
    let got: Vec<Vec<u8>> = got.array().iter().map(|r| r.bytes()).collect();
    assert!(got == items, "the list read back differs");
}

/// Where the `big` key's length byte is in a written file.
fn key_at_start(f: &[u8]) -> usize {
    f.windows(4).position(|w| w == b"\x03big").expect("the key")
}
