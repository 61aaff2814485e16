//! Cluster loads (3 masters): DB-0 fixtures, auto-detected and with
//! `--cluster`; keys outside DB 0 refused or remapped; slot migration
//! (ASK / MOVED) during a load, in RESTORE and in command mode; functions
//! counted once per library; `--cluster` against a standalone server.

use crate::util as support;
use crate::util::common;

use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::resp::Conn;
use support::run::*;
use support::server::*;
use support::truth::*;

use super::{check_fixture_summary, populated_rdb};

fn db0_only(rdb: &Path) -> bool {
    expected(rdb)
        .iter()
        .chain(expired_keys(rdb).iter())
        .all(|l| l["db"].as_u64() == Some(0))
}

#[test]
fn load_cluster_matches_truth() {
    let cluster = Cluster::start(3);
    let fixtures: Vec<PathBuf> = eligible_fixtures()
        .into_iter()
        .filter(|p| db0_only(p))
        .collect();
    assert!(
        fixtures.len() >= 40,
        "only {} DB-0 fixtures",
        fixtures.len()
    );
    let mut failures = Vec::new();
    let mut cases = 0;
    for (i, rdb) in fixtures.iter().enumerate() {
        for mode in ["auto-detect", "--cluster"] {
            cases += 1;
            cluster.flush();
            // any master as the entry point
            let entry = &cluster.nodes[(i + cases) % cluster.nodes.len()];
            let extra: &[&str] = if mode == "--cluster" {
                &["--cluster"]
            } else {
                &[]
            };
            let r = attempt(|| {
                let out = load(rdb, &entry.url(), extra);
                if out.code != 0 {
                    return Err(format!("exit {}: {}", out.code, out.describe()));
                }
                check_fixture_summary(&out.summary(), rdb, cluster.nodes.len() as u64)?;
                compare_lines(&dump_nodes(&cluster.nodes), &expected(rdb))?;
                for node in &cluster.nodes {
                    compare_functions(&mut node.conn(), rdb)
                        .map_err(|e| format!("master {}: {e}", node.port))?;
                }
                Ok(())
            });
            if let Err(e) = r {
                failures.push(format!("{} ({mode}): {e}", common::rel(rdb)));
            }
        }
    }
    eprintln!(
        "load_cluster_matches_truth: {} of {cases} cluster loads equal to the truth ({} fixtures)",
        cases - failures.len(),
        fixtures.len()
    );

    // Keys outside DB 0 cannot go to a cluster: an error naming the DB,
    // nothing loaded into DB 0 by mistake; fine with --db-map 1=0.
    let filter1 = common::fixture("public/redis-rdb-cli/filter1.rdb"); // 1 key in DB 1, 2 functions
    let r = attempt(|| {
        cluster.flush();
        let out = load(&filter1, &cluster.nodes[0].url(), &[]);
        if out.code != 1 {
            return Err(format!("DB 1 key into a cluster: {}", out.describe()));
        }
        if !mentions_db(&out.stderr, 1) {
            return Err(format!(
                "DB 1 key into a cluster: stderr does not name DB 1: {}",
                out.describe()
            ));
        }
        if cluster.total_keys() != 0 {
            return Err(format!(
                "DB 1 key into a cluster: {} keys were written anyway",
                cluster.total_keys()
            ));
        }
        cluster.flush();
        let out = load(&filter1, &cluster.nodes[1].url(), &["--db-map", "1=0"]);
        if out.code != 0 {
            return Err(format!("--db-map 1=0: {}", out.describe()));
        }
        let s = out.summary();
        check_summary(&s, false);
        if n(&s, "loaded") != 1 || ![2, 6].contains(&n(&s, "functions_loaded")) {
            return Err(format!("--db-map 1=0: summary {s}"));
        }
        let truth = remap_db(&expected(&filter1), &[(1, 0)]);
        compare_lines(&dump_nodes(&cluster.nodes), &truth)
            .map_err(|e| format!("--db-map 1=0: {e}"))?;
        for node in &cluster.nodes {
            compare_functions(&mut node.conn(), &filter1)
                .map_err(|e| format!("--db-map 1=0: master {}: {e}", node.port))?;
        }
        Ok(())
    });
    if let Err(e) = r {
        failures.push(format!("public/redis-rdb-cli/filter1.rdb: {e}"));
    }

    // DB 0 + DB 2: error naming DB 2; with --db 0 (every key into DB 0) both.
    let multi = common::fixture("public/redis-rdb-tools/multiple_databases.rdb");
    let r = attempt(|| {
        cluster.flush();
        let out = load(&multi, &cluster.nodes[2].url(), &["--cluster"]);
        if out.code != 1 || !mentions_db(&out.stderr, 2) {
            return Err(format!(
                "DB 2 key into a cluster: expected exit 1 naming DB 2: {}",
                out.describe()
            ));
        }
        cluster.flush();
        let out = load(
            &multi,
            &cluster.nodes[2].url(),
            &["--cluster", "--target-db", "0"],
        );
        if out.code != 0 {
            return Err(format!("--db 0: {}", out.describe()));
        }
        let s = out.summary();
        check_summary(&s, false);
        if n(&s, "loaded") != 2 {
            return Err(format!("--db 0: expected loaded 2: {s}"));
        }
        let truth = remap_db(&expected(&multi), &[(2, 0)]);
        compare_lines(&dump_nodes(&cluster.nodes), &truth).map_err(|e| format!("--db 0: {e}"))?;
        Ok(())
    });
    if let Err(e) = r {
        failures.push(format!(
            "public/redis-rdb-tools/multiple_databases.rdb: {e}"
        ));
    }
    report("load_cluster_matches_truth", &failures, cases + 2);
}

const SPREAD_KEYS: u64 = 200_000;

const HOT_KEYS: u64 = 100_000;

/// An RDB with SPREAD_KEYS keys `key:N` over all slots and HOT_KEYS keys
/// `{hot}:N` in one slot.
fn make_big_rdb(dir: &TempDir) -> PathBuf {
    populated_rdb(dir, &[(SPREAD_KEYS, "key"), (HOT_KEYS, "{hot}")])
}

fn keys_in_slot(c: &mut Conn, slot: i64) -> i64 {
    c.int(["CLUSTER", "COUNTKEYSINSLOT", &slot.to_string()])
}

#[test]
fn load_cluster_survives_slot_migration() {
    let tmp = TempDir::new("big");
    let big = make_big_rdb(&tmp);
    let total = SPREAD_KEYS + HOT_KEYS;
    let cluster = Cluster::start(3);
    let slot = cluster.nodes[0]
        .conn()
        .int(["CLUSTER", "KEYSLOT", "{hot}:0"]);
    {
        let mut c = cluster.nodes[0].conn();
        for k in ["key:1", "key:77", "{hot}:0", "a{b}c{d}", "{}x"] {
            assert_eq!(
                c.int(["CLUSTER", "KEYSLOT", k]),
                key_slot(k.as_bytes()) as i64,
                "key_slot({k})"
            );
        }
    }
    let src = cluster.owner_of(slot);
    let dst = cluster.nodes.iter().find(|s| s.port != src.port).unwrap();
    let third = cluster
        .nodes
        .iter()
        .find(|s| s.port != src.port && s.port != dst.port)
        .unwrap();
    let (src_id, dst_id) = (node_id(src), node_id(dst));
    let slot_s = slot.to_string();

    let started = Instant::now();
    let (mut child, cmdline) = spawn_rdbkit(&[
        "load",
        big.to_str().unwrap(),
        "--target",
        &src.url(),
        "--cluster",
        "--json",
        "-q",
    ]);
    let mut sc = src.conn();
    let mut dc = dst.conn();
    // start migrating as soon as the load has put some hot keys on the source
    loop {
        if keys_in_slot(&mut sc, slot) >= 100 || child.try_wait().unwrap().is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "load never reached the hot slot"
        );
        sleep(Duration::from_millis(2));
    }
    let running_at_start = child.try_wait().unwrap().is_none();
    let hot_on_src_at_start = keys_in_slot(&mut sc, slot);
    dc.ok(["CLUSTER", "SETSLOT", &slot_s, "IMPORTING", &src_id]);
    sc.ok(["CLUSTER", "SETSLOT", &slot_s, "MIGRATING", &dst_id]);
    let mut migrated = 0usize;
    let mut batches = 0usize;
    loop {
        let keys: Vec<Vec<u8>> = sc
            .must(["CLUSTER", "GETKEYSINSLOT", &slot_s, "1000"])
            .array()
            .iter()
            .map(|k| k.bytes())
            .collect();
        if keys.is_empty() {
            break;
        }
        let mut args: Vec<Vec<u8>> = [
            "MIGRATE",
            "127.0.0.1",
            &dst.port.to_string(),
            "",
            "0",
            "10000",
            "KEYS",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        migrated += keys.len();
        batches += 1;
        args.extend(keys);
        sc.must(args);
    }
    for node in [dst, src, third] {
        node.conn()
            .ok(["CLUSTER", "SETSLOT", &slot_s, "NODE", &dst_id]);
    }
    let running_at_end = child.try_wait().unwrap().is_none();
    let migration_s = started.elapsed().as_secs_f64();

    let out = wait_child(child, cmdline, Duration::from_secs(600));
    let load_s = started.elapsed().as_secs_f64();
    assert_eq!(out.code, 0, "load during migration: {}", out.describe());
    let s = out.summary();
    check_summary(&s, false);
    eprintln!(
        "load_cluster_survives_slot_migration: slot {slot} {}->{}: {hot_on_src_at_start} hot keys on the \
         source when migration started, {migrated} keys moved in {batches} MIGRATE batches; \
         load running at migration start: {running_at_start}, at migration end: {running_at_end}; \
         migration done at {migration_s:.2}s, load done at {load_s:.2}s; summary redirects: {}",
        src.port,
        dst.port,
        s.get("redirects").map(|v| v.to_string()).unwrap_or_else(|| "(not reported)".into())
    );
    assert_eq!(n(&s, "loaded"), total, "loaded: {s}");
    assert_eq!(n(&s, "failed"), 0, "failed: {s}");
    assert_eq!(
        cluster.total_keys(),
        total,
        "sum of DBSIZE over the masters"
    );
    let in_slot = HOT_KEYS
        + (0..SPREAD_KEYS)
            .filter(|i| key_slot(format!("key:{i}").as_bytes()) as i64 == slot)
            .count() as u64;
    assert_eq!(
        keys_in_slot(&mut dst.conn(), slot) as u64,
        in_slot,
        "hot slot keys on the new owner"
    );
    assert_eq!(
        keys_in_slot(&mut src.conn(), slot),
        0,
        "hot slot keys left on the old owner"
    );
    // sample values (DEBUG POPULATE: "value:N" zero-padded to 100 bytes)
    for i in [0u64, 4242, HOT_KEYS - 1] {
        let v = dst
            .conn()
            .bulk(["GET", &format!("{{hot}}:{i}")])
            .expect("hot key present");
        let mut want = format!("value:{i}").into_bytes();
        want.resize(100, 0);
        assert_eq!(v, want, "value of {{hot}}:{i}");
    }
    assert!(
        running_at_start,
        "the load finished before the slot migration started, so no redirect was exercised; \
         make the generated file bigger"
    );
}

/// After `-ASK`, every command of a multi-command key needs its own
/// `ASKING` (or one before `MULTI`): a slot is set MIGRATING/IMPORTING with
/// no key in it, so every key of the file is redirected, and must arrive
/// whole on the importing node. Command mode with one element per command,
/// from the RDB (panic and rewrite) and from its JSON Lines conversion.
#[test]
fn load_commands_follow_ask_redirects_for_every_command() {
    const HASHES: usize = 200;
    let tmp = TempDir::new("ask");
    let src_server = Server::start();
    let mut c = src_server.conn();
    for i in 0..HASHES {
        let k = format!("{{hot}}:{i}");
        c.must(["HSET", &k, "f1", "v1", "f2", &format!("v{i}"), "f3", "v3"]);
        if i % 3 == 0 {
            c.must(["PEXPIRE", &k, "100000000"]);
        }
    }
    let mut args: Vec<String> = vec!["RPUSH".into(), "{hot}:list".into()];
    args.extend((0..3000).map(|i| format!("e{i}")));
    c.must(args);
    c.ok(["SAVE"]);
    let rdb = tmp.join("ask.rdb");
    std::fs::copy(src_server.dir.join("dump.rdb"), &rdb).unwrap();
    let jsonl = tmp.join("ask.jsonl");
    std::fs::write(
        &jsonl,
        common::convert(&common::read(&rdb), false, true).unwrap(),
    )
    .unwrap();
    drop(c);
    drop(src_server);

    let cluster = Cluster::start(3);
    let slot = cluster.nodes[0].conn().int(["CLUSTER", "KEYSLOT", "{hot}"]);
    let slot_s = slot.to_string();
    let src = cluster.owner_of(slot);
    let dst = cluster.nodes.iter().find(|s| s.port != src.port).unwrap();
    let (src_id, dst_id) = (node_id(src), node_id(dst));
    for (input, policy) in [
        (&rdb, "panic"),
        (&rdb, "rewrite"),
        (&jsonl, "panic"),
        (&jsonl, "rewrite"),
    ] {
        cluster.flush();
        let (mut sc, mut dc) = (src.conn(), dst.conn());
        dc.ok(["CLUSTER", "SETSLOT", &slot_s, "IMPORTING", &src_id]);
        sc.ok(["CLUSTER", "SETSLOT", &slot_s, "MIGRATING", &dst_id]);
        let out = load(
            input,
            &src.url(),
            &[
                "--cluster",
                "--mode",
                "commands",
                "--on-conflict",
                policy,
                "--batch-elements",
                "1",
            ],
        );
        let what = format!("{} {policy}", input.display());
        out.expect_code(0);
        let s = out.summary();
        check_summary(&s, false);
        assert_eq!(n(&s, "loaded"), HASHES as u64 + 1, "{what}: {s}");
        assert!(
            n(&s, "redirects") >= HASHES as u64,
            "{what}: no ASK seen: {s}"
        );
        assert_eq!(
            keys_in_slot(&mut dc, slot),
            HASHES as i64 + 1,
            "{what}: keys on the importing node"
        );
        assert_eq!(
            keys_in_slot(&mut sc, slot),
            0,
            "{what}: keys left on the migrating node"
        );
        // Read on the importing node with ASKING (the slot is still the source's).
        for i in [0usize, 1, 199] {
            let k = format!("{{hot}}:{i}");
            dc.ok(["ASKING"]);
            assert_eq!(dc.int(["HLEN", &k]), 3, "{what}: {k}");
            dc.ok(["ASKING"]);
            assert_eq!(
                dc.bulk(["HGET", &k, "f2"]),
                Some(format!("v{i}").into_bytes()),
                "{what}"
            );
            dc.ok(["ASKING"]);
            let ttl = dc.int(["PTTL", &k]);
            assert_eq!(ttl > 0, i % 3 == 0, "{what}: {k} ttl {ttl}");
        }
        dc.ok(["ASKING"]);
        assert_eq!(dc.int(["LLEN", "{hot}:list"]), 3000, "{what}");
        dc.ok(["ASKING"]);
        assert_eq!(
            dc.bulk(["LINDEX", "{hot}:list", "2999"]),
            Some(b"e2999".to_vec()),
            "{what}"
        );
        // Stable again for the next round (whose flush empties both nodes).
        sc.ok(["CLUSTER", "SETSLOT", &slot_s, "STABLE"]);
        dc.ok(["CLUSTER", "SETSLOT", &slot_s, "STABLE"]);
    }
}

/// Issue: a 3-master cluster said "functions 6 loaded" for 2 libraries and
/// printed an "already exists" error line per master under `ignore`. Now
/// libraries are counted once each, and a library already there is
/// counted as such, without an error line.
#[test]
fn functions_are_counted_per_library_in_a_cluster() {
    let rdb = common::fixture("redis-7.0.15/default.rdb");
    let libs = expected_functions(&rdb).len() as u64;
    assert_eq!(libs, 2);
    let cluster = Cluster::start(3);
    let url = cluster.nodes[0].url();
    let out = load(&rdb, &url, &["--db", "0"]);
    out.expect_code(0);
    let s = out.summary();
    assert_eq!(n(&s, "functions_loaded"), libs, "{s}");
    let out = rdbkit(&[
        "load",
        rdb.to_str().unwrap(),
        "--target",
        &url,
        "--db",
        "0",
        "--on-conflict",
        "ignore",
    ]);
    out.expect_code(0);
    let text = out.stderr.clone();
    assert!(
        text.contains("functions         0 loaded, 2 already there, 0 failed"),
        "{text}"
    );
    assert!(!text.contains("already exists"), "{text}");
}

/// `--cluster` against a server that is not a cluster names the option.
#[test]
fn cluster_flag_against_a_standalone_server_names_the_option() {
    let server = Server::start();
    let f = common::fixture("redis-7.0.15/default.rdb");
    for cmd in ["load", "verify"] {
        let o = rdbkit(&[
            cmd,
            f.to_str().unwrap(),
            "-t",
            &server.url(),
            "--cluster",
            "-q",
        ]);
        assert_eq!(o.code, 1, "{}", o.describe());
        assert!(
            o.stderr.contains("--cluster") && o.stderr.contains("not a Redis Cluster"),
            "{cmd}: {}",
            o.stderr
        );
    }
}
