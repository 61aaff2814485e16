//! Ground-truth tests: every fixture that a real server loaded is converted
//! and compared, key by key, with what that server reported
//! (`testdata/**/<name>.expected.jsonl` ∪ `<name>.expired.jsonl`).
//!
//! Set `RDBKIT_FIXTURE=<substring>` to run only the fixtures whose path
//! (relative to `testdata/`) contains that substring.

use crate::util::common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use common::*;
use serde_json::Value;

/// Fixtures with a truth file, honouring `RDBKIT_FIXTURE`.
fn golden_fixtures() -> Vec<PathBuf> {
    let filter = std::env::var("RDBKIT_FIXTURE").ok();
    all_rdb_files()
        .into_iter()
        .filter(|p| sibling(p, ".expected.jsonl").exists())
        .filter(|p| match &filter {
            Some(f) => rel(p).contains(f.as_str()),
            None => true,
        })
        .collect()
}

/// Runs `f` over `items` on all cores; results in input order.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(items.len().max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() {
                    break;
                }
                let r = f(&items[i]);
                results.lock().unwrap()[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("worker result"))
        .collect()
}

/// Converts one fixture and compares it with its truth. Ok(number of keys).
fn check_fixture(rdb: &Path) -> Result<usize, String> {
    let truth = truth_content(rdb).map_err(|e| format!("bad truth: {e}"))?;
    let data = read(rdb);
    let ours = std::panic::catch_unwind(|| convert_keys(&data, true))
        .map_err(|p| format!("PANIC: {}", panic_text(&p)))??;
    compare_fixture(&ours, &truth, false, &skipped_empty_keys(rdb))
}

fn panic_text(p: &Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(non-string panic payload)".into())
}

#[test]
fn golden_all_fixtures_match_server_truth() {
    let files = golden_fixtures();
    assert!(
        !files.is_empty(),
        "no fixture with a .expected.jsonl found (RDBKIT_FIXTURE filter too narrow?)"
    );
    let results = par_map(&files, |p| check_fixture(p));
    let mut failures = Vec::new();
    let mut keys = 0usize;
    for (f, r) in files.iter().zip(&results) {
        match r {
            Ok(n) => keys += n,
            Err(e) => failures.push(format!("  {}: {e}", rel(f))),
        }
    }
    let matched = files.len() - failures.len();
    println!("golden: {matched}/{} fixtures match their server truth ({keys} keys compared in matching fixtures)", files.len());
    if !failures.is_empty() {
        panic!(
            "{} of {} fixtures differ from the server truth (first difference of each):\n{}",
            failures.len(),
            files.len(),
            failures.join("\n")
        );
    }
}

/// `--meta` output of a Redis 7.0 file: aux fields and function libraries.
#[test]
fn meta_output_has_aux_and_functions() {
    let rdb = fixture("redis-7.0.15/default.rdb");
    let meta = meta_json(&rdb);
    let libs = meta
        .get("functions")
        .and_then(Value::as_array)
        .unwrap_or_else(|| {
            panic!(
                "{}: meta.json has no functions array",
                rel(&sibling(&rdb, ".meta.json"))
            )
        });
    let mut expected_code: Vec<Vec<u8>> = libs
        .iter()
        .map(|l| {
            l.get("code")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("meta.json functions[] entry without string code: {l}"))
                .as_bytes()
                .to_vec()
        })
        .collect();
    assert_eq!(
        expected_code.len(),
        2,
        "meta.json should list the 2 fixture libraries"
    );

    let data = read(&rdb);
    let out = convert(&data, true, true)
        .unwrap_or_else(|e| panic!("{}: --meta conversion failed: {e}", rel(&rdb)));
    let lines = parse_jsonl(&out).unwrap_or_else(|e| panic!("{}: --meta output: {e}", rel(&rdb)));

    let mut aux: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut code: Vec<Vec<u8>> = Vec::new();
    for l in lines.iter().filter(|l| l.get("key").is_none()) {
        if let Some(a) = l.get("aux") {
            for (k, v) in
                map_pairs("aux", "ours", a).unwrap_or_else(|e| panic!("aux line {l}: {e}"))
            {
                let v = bytes_of(v).unwrap_or_else(|e| panic!("aux value in {l}: {e}"));
                aux.push((k, v));
            }
        }
        if let Some(f) = l.get("function") {
            code.push(bytes_of(f).unwrap_or_else(|e| panic!("function line {l}: {e}")));
        }
    }
    let ver: Vec<&Vec<u8>> = aux
        .iter()
        .filter(|(k, _)| k == b"redis-ver")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(
        ver,
        vec![&b"7.0.15".to_vec()],
        "aux redis-ver in --meta output (all aux: {aux:?})"
    );
    code.sort();
    expected_code.sort();
    assert_eq!(
        code.iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>(),
        expected_code
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>(),
        "function code lines in --meta output vs meta.json functions[].code"
    );

    // keys are the same with and without --meta, in the same order
    let plain = convert(&data, false, true).unwrap();
    let plain = parse_jsonl(&plain).unwrap();
    let meta_keys = key_lines(&lines);
    assert_eq!(
        key_lines(&plain),
        meta_keys,
        "key lines differ between --meta and plain output"
    );
    assert!(
        plain.iter().all(|l| l.get("key").is_some()),
        "plain output (meta=false) has non-key lines"
    );
}

/// Without `meta` the output holds key lines only; with `meta` the key lines
/// are exactly the same, in the same order. Checked for every golden fixture
/// up to 256 KiB.
#[test]
fn meta_flag_does_not_change_key_lines() {
    let files: Vec<PathBuf> = golden_fixtures()
        .into_iter()
        .filter(|p| std::fs::metadata(p).unwrap().len() <= 256 * 1024)
        .collect();
    let failures: Vec<String> = par_map(&files, |rdb| {
        let data = read(rdb);
        let plain = convert(&data, false, true).ok()?;
        let meta = convert(&data, true, true);
        let msg = match meta {
            Err(e) => format!("meta=true fails while meta=false succeeds: {e}"),
            Ok(meta) => {
                let (Ok(p), Ok(m)) = (parse_jsonl(&plain), parse_jsonl(&meta)) else {
                    return Some(format!("  {}: output is not JSON Lines", rel(rdb)));
                };
                if let Some(l) = p.iter().find(|l| l.get("key").is_none()) {
                    format!("meta=false output has a non-key line: {}", short(l))
                } else if key_lines(&m) != key_lines(&p) {
                    "key lines differ between meta=true and meta=false".to_string()
                } else {
                    return None;
                }
            }
        };
        Some(format!("  {}: {msg}", rel(rdb)))
    })
    .into_iter()
    .flatten()
    .collect();
    println!("meta flag: {} fixtures checked", files.len());
    assert!(
        failures.is_empty(),
        "{} fixtures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The output is deterministic (two runs give identical bytes), and the
/// generated (server-written) files list DBs in ascending order, as a
/// server writes them: keys come out in file order, not re-sorted by key.
#[test]
fn output_is_deterministic_and_in_file_order() {
    let files: Vec<PathBuf> = golden_fixtures();
    let failures: Vec<String> = par_map(&files, |rdb| {
        let data = read(rdb);
        let a = convert(&data, false, true).ok()?;
        let b = convert(&data, false, true).ok()?;
        if a != b {
            return Some(format!("  {}: two runs give different output", rel(rdb)));
        }
        let lines = parse_jsonl(&a).ok()?;
        if !rel(rdb).starts_with("public/") {
            let dbs: Vec<u64> = key_lines(&lines)
                .iter()
                .filter_map(|l| l.get("db").and_then(Value::as_u64))
                .collect();
            if dbs.windows(2).any(|w| w[0] > w[1]) {
                return Some(format!(
                    "  {}: DB numbers not ascending (servers write DBs in order): {dbs:?}",
                    rel(rdb)
                ));
            }
        }
        None
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(
        failures.is_empty(),
        "{} fixtures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The comparator itself: equal values in different shapes compare equal,
/// real differences are reported. Guards the harness against false passes.
#[test]
fn comparator_self_test() {
    let j = |s: &str| -> Value { serde_json::from_str(s).unwrap() };
    // text vs b64 of the same bytes; hash object vs pairs; zset numbers vs strings; set order
    let truth = j(
        r#"{"db":0,"key":"k","type":"hash","encoding":"listpack","expire_ms":null,"value":{"a":"x","b":{"b64":"/w=="}}}"#,
    );
    let ours = j(
        r#"{"db":0,"key":{"b64":"aw=="},"type":"hash","value":[[{"b64":"Yg=="},{"b64":"/w=="}],["a","x"]]}"#,
    );
    compare_key(&ours, &truth).unwrap();
    let bad = j(r#"{"db":0,"key":"k","type":"hash","value":{"a":"x","b":"y"}}"#);
    assert!(compare_key(&bad, &truth).unwrap_err().contains("\"b\""));
    let ttl =
        j(r#"{"db":0,"key":"k","type":"hash","expire_ms":5,"value":{"a":"x","b":{"b64":"/w=="}}}"#);
    assert!(compare_key(&ttl, &truth).unwrap_err().contains("expire_ms"));

    let truth = j(
        r#"{"db":1,"key":"z","type":"zset","encoding":"listpack","expire_ms":7,"value":[["a","1.0"],["b","inf"],["c","1e+300"],["d","-0.5"]]}"#,
    );
    let ours = j(
        r#"{"db":1,"key":"z","type":"zset","expire_ms":7,"value":[["d",-0.5],["c",1e300],["b","inf"],["a",1]]}"#,
    );
    compare_key(&ours, &truth).unwrap();
    let ours = j(
        r#"{"db":1,"key":"z","type":"zset","expire_ms":7,"value":[["d",-0.5],["c",1e300],["b","-inf"],["a",1]]}"#,
    );
    assert!(compare_key(&ours, &truth).unwrap_err().contains("score"));

    let truth = j(
        r#"{"db":0,"key":"s","type":"set","encoding":"intset","expire_ms":null,"value":["1","2","3"]}"#,
    );
    compare_key(
        &j(r#"{"db":0,"key":"s","type":"set","value":["3","1","2"]}"#),
        &truth,
    )
    .unwrap();
    assert!(compare_key(
        &j(r#"{"db":0,"key":"s","type":"set","value":["3","1","1"]}"#),
        &truth
    )
    .is_err());
    assert!(compare_key(
        &j(r#"{"db":0,"key":"s","type":"list","value":["1","2","3"]}"#),
        &truth
    )
    .is_err());

    let truth =
        j(r#"{"db":0,"key":"m","type":"test__rdb","encoding":null,"expire_ms":null,"value":null}"#);
    compare_key(
        &j(r#"{"db":0,"key":"m","type":"module","value":{"module":"test__rdb","b64":"AAE="}}"#),
        &truth,
    )
    .unwrap();
    assert!(compare_key(
        &j(r#"{"db":0,"key":"m","type":"module","value":{"module":"hellotype","b64":""}}"#),
        &truth
    )
    .is_err());

    let truth = j(
        r#"{"db":0,"key":"st","type":"stream","encoding":"stream","expire_ms":null,"value":{
        "entries":[["1-0",{"f":"v"}],["2-0",{"g":"w"}]],"last_id":"3-0","length":2,
        "entries_added":3,"max_deleted_entry_id":"0-0","first_entry_id":"1-0",
        "groups":[
          {"name":"a","last_delivered_id":"2-0","entries_read":null,
           "pending":[["1-0","c1",1],["2-0","c2",2]],"pending_delivery_time_ms":{"1-0":100,"2-0":200},
           "consumers":["c1","c2","c3"],"consumer_seen_time_ms":{"c1":10,"c2":20,"c3":30},
           "consumer_active_time_ms":{"c1":11,"c2":21,"c3":31}},
          {"name":"b","last_delivered_id":"0-0","entries_read":0,"pending":[],"pending_delivery_time_ms":{},
           "consumers":[],"consumer_seen_time_ms":{},"consumer_active_time_ms":{}}]}}"#,
    );
    let ours_text = r#"{"db":0,"key":"st","type":"stream","value":{
        "entries":[["1-0",{"f":"v"}],["2-0",[["g","w"]]]],"length":2,"last_id":"3-0","first_id":"1-0",
        "max_deleted_id":"0-0","entries_added":3,
        "groups":[
          {"name":"b","last_delivered_id":"0-0","entries_read":0,"pending":[],"consumers":[]},
          {"name":"a","last_delivered_id":"2-0","entries_read":18446744073709551615,
           "pending":[["2-0","c2",2,200],["1-0","c1",1,100]],
           "consumers":[{"name":"c3","seen_time_ms":30,"active_time_ms":31,"pending":[]},
                        {"name":"c1","seen_time_ms":10,"active_time_ms":11,"pending":["1-0"]},
                        {"name":"c2","seen_time_ms":20,"active_time_ms":21,"pending":["2-0"]}]}]}}"#;
    compare_key(&j(ours_text), &truth).unwrap();
    for (from, to, what) in [
        (
            "[\"2-0\",\"c2\",2,200]",
            "[\"2-0\",\"c2\",2,201]",
            "delivery_time_ms",
        ),
        ("\"pending\":[\"2-0\"]", "\"pending\":[]", "c2"),
        ("\"active_time_ms\":31,", "", "active_time_ms"),
        ("\"first_id\":\"1-0\",", "", "first_id"),
        ("[[\"g\",\"w\"]]", "[[\"g\",\"W\"]]", "entries[1]"),
        ("\"entries_read\":0,", "\"entries_read\":1,", "entries_read"),
    ] {
        assert!(ours_text.contains(from), "self-test typo: {from}");
        let broken = j(&ours_text.replacen(from, to, 1));
        let err = compare_key(&broken, &truth).expect_err(what);
        assert!(err.contains(what), "message {err:?} should mention {what}");
    }
}

/// Rewrites a truth line into the shape of our output (renamed stream
/// members, PEL with delivery times, consumer objects, numeric scores,
/// absent instead of null, groups/sets in another order).
fn truth_as_ours(t: &Value) -> Value {
    let mut o = t.as_object().unwrap().clone();
    o.remove("encoding");
    o.remove("partially_expired");
    if o.get("expire_ms") == Some(&Value::Null) {
        o.remove("expire_ms");
    }
    let ty = o["type"].as_str().unwrap().to_string();
    let v = o["value"].clone();
    let new_value = match ty.as_str() {
        // Arrays: the same shape on both sides.
        "string" | "list" | "hash" | "array" => v,
        "set" => Value::Array(v.as_array().unwrap().iter().rev().cloned().collect()),
        "zset" => Value::Array(
            v.as_array()
                .unwrap()
                .iter()
                .rev()
                .map(|p| {
                    let s = p[1].as_str().unwrap();
                    let f: f64 = s.parse().unwrap();
                    let score = if f.is_finite() {
                        serde_json::Number::from_f64(f).map(Value::Number).unwrap()
                    } else {
                        Value::String(s.to_string())
                    };
                    Value::Array(vec![p[0].clone(), score])
                })
                .collect(),
        ),
        "stream" => {
            let mut s = serde_json::Map::new();
            s.insert("entries".into(), v["entries"].clone());
            s.insert("length".into(), v["length"].clone());
            s.insert("last_id".into(), v["last_id"].clone());
            for (from, to) in [
                ("first_entry_id", "first_id"),
                ("max_deleted_entry_id", "max_deleted_id"),
                ("entries_added", "entries_added"),
            ] {
                if !v[from].is_null() {
                    s.insert(to.into(), v[from].clone());
                }
            }
            let mut groups = Vec::new();
            for g in v["groups"].as_array().unwrap().iter().rev() {
                let mut og = serde_json::Map::new();
                og.insert("name".into(), g["name"].clone());
                og.insert("last_delivered_id".into(), g["last_delivered_id"].clone());
                if !g["entries_read"].is_null() {
                    og.insert("entries_read".into(), g["entries_read"].clone());
                }
                let pel: Vec<Value> = g["pending"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        let id = p[0].as_str().unwrap();
                        serde_json::json!([p[0], p[1], p[2], g["pending_delivery_time_ms"][id]])
                    })
                    .collect();
                let consumers: Vec<Value> = g["consumers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|c| {
                        let name = c.as_str().unwrap();
                        let mine: Vec<Value> = g["pending"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .filter(|p| p[1] == *c)
                            .map(|p| p[0].clone())
                            .collect();
                        let mut oc = serde_json::Map::new();
                        oc.insert("name".into(), c.clone());
                        oc.insert(
                            "seen_time_ms".into(),
                            g["consumer_seen_time_ms"][name].clone(),
                        );
                        if !g["consumer_active_time_ms"].is_null() {
                            oc.insert(
                                "active_time_ms".into(),
                                g["consumer_active_time_ms"][name].clone(),
                            );
                        }
                        oc.insert("pending".into(), Value::Array(mine));
                        Value::Object(oc)
                    })
                    .collect();
                og.insert("pending".into(), Value::Array(pel));
                og.insert("consumers".into(), Value::Array(consumers));
                if let Some(ids) = g["nacked"].as_array() {
                    // Ours keeps the stored (delivery-time) order: any order.
                    og.insert(
                        "nacked".into(),
                        Value::Array(ids.iter().rev().cloned().collect()),
                    );
                }
                groups.push(Value::Object(og));
            }
            s.insert("groups".into(), Value::Array(groups));
            Value::Object(s)
        }
        module => {
            o.insert("type".into(), Value::String("module".into()));
            serde_json::json!({"module": module, "b64": ""})
        }
    };
    o.insert("value".into(), new_value);
    Value::Object(o)
}

/// Every truth line, rewritten into our output shape, must compare equal to
/// itself: the comparator understands every construct the truth files use.
#[test]
fn comparator_accepts_every_truth_line_in_our_shape() {
    let mut n = 0;
    for rdb in all_rdb_files() {
        for suffix in [".expected.jsonl", ".expired.jsonl"] {
            let p = sibling(&rdb, suffix);
            for t in read_jsonl(&p) {
                let ours = truth_as_ours(&t);
                if let Err(e) = compare_key(&ours, &t) {
                    panic!(
                        "{}: {}: comparator rejects the truth itself: {e}",
                        rel(&p),
                        short(&t["key"])
                    );
                }
                n += 1;
            }
        }
    }
    println!("comparator self-check: {n} truth lines");
    assert!(n > 1000);
}

/// `-` (standard input) is spooled to an unlinked temporary file and mapped,
/// not held in memory: a 64 MiB RDB piped in keeps the process's anonymous
/// memory far below the input's size (it was the whole input before), the
/// output is the same as from the file, and no temporary file is left.
#[test]
fn stdin_input_is_spooled_not_held_in_memory() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    // RDB 9, checksum off: 65536 string keys with 1 KiB values.
    let mut f = b"REDIS0009\xfe\x00".to_vec();
    let value = vec![b'v'; 1024];
    for i in 0..65536u32 {
        let k = format!("key:{i:08}");
        f.push(0);
        f.push(k.len() as u8);
        f.extend_from_slice(k.as_bytes());
        f.extend_from_slice(&[0x44, 0x00]); // 14-bit length 1024
        f.extend_from_slice(&value);
    }
    f.push(0xFF);
    f.extend_from_slice(&[0; 8]);
    let tmpdir = std::env::temp_dir().join(format!("rdbkit-spool-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmpdir);
    std::fs::create_dir_all(&tmpdir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(["stats", "-", "--json", "-q", "-j", "1"])
        .env("TMPDIR", &tmpdir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        stdin.write_all(&f).unwrap();
    });
    let mut peak = 0u64;
    let out = loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(kb) = s
                .lines()
                .find(|l| l.starts_with("RssAnon:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
            {
                peak = peak.max(kb * 1024);
            }
        }
        if child.try_wait().unwrap().is_some() {
            break child.wait_with_output().unwrap();
        }
        std::thread::yield_now();
    };
    feeder.join().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["keys"], 65536, "{v}");
    assert!(
        peak < 24 << 20,
        "peak anonymous memory {} MiB for a 64 MiB input",
        peak >> 20
    );
    assert_eq!(
        std::fs::read_dir(&tmpdir).unwrap().count(),
        0,
        "spool file left"
    );
}
