//! Load options on a standalone target: key filters, `--db` / `--db-map` /
//! `--keep-expired`, and `--lru` / `--lfu`.

use crate::util as support;
use crate::util::common;

use serde_json::Value;

use support::run::*;
use support::server::*;
use support::truth::*;

use super::DEFAULT_RDB;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Filters on load: only the selected keys are written, the others are
/// counted as `filtered`, and the summary still balances.
#[test]
fn load_with_filters() {
    let server = Server::start();
    let rdb = common::fixture(DEFAULT_RDB);
    let truth = expected(&rdb);
    // The same filter on the RDB and on its JSON Lines conversion.
    let tmp = TempDir::new("filter");
    let jsonl = tmp.join("default.jsonl");
    std::fs::write(
        &jsonl,
        common::convert(&common::read(&rdb), false, true).unwrap(),
    )
    .unwrap();
    for input in [&rdb, &jsonl] {
        let r = attempt(|| {
            server.flush();
            let out = load(
                input,
                &server.url(),
                &["--type", "list,zset", "--not-key-regex", "^list:l"],
            );
            out.expect_code(0);
            let s = out.summary();
            check_summary(&s, false);
            let want: Vec<Value> = truth
                .iter()
                .filter(|l| {
                    (l["type"] == "list" || l["type"] == "zset")
                        && !l["key"].as_str().is_some_and(|k| k.starts_with("list:l"))
                })
                .cloned()
                .collect();
            if want.is_empty() || want.len() == truth.len() {
                return Err(format!(
                    "the filter case is vacuous: {} of {}",
                    want.len(),
                    truth.len()
                ));
            }
            eprintln!("filtered load: {s}");
            // Expired keys the filter drops count as filtered, not expired.
            if n(&s, "loaded") != want.len() as u64
                || n(&s, "filtered") < (truth.len() - want.len()) as u64
            {
                return Err(format!("expected {} loaded: {s}", want.len()));
            }
            compare_lines(&dump_server(&mut server.conn()), &want)?;
            Ok(())
        });
        if let Err(e) = r {
            panic!("{}: {e}", input.display());
        }
    }
    let out = load(&jsonl, &server.url(), &["--min-bytes", "10"]);
    assert_eq!(out.code, 1, "size bounds on JSON Lines: {}", out.describe());
    assert!(out.stderr.contains("--min-bytes"), "{}", out.stderr);
}

#[test]
fn load_db_options_and_keep_expired() {
    let server = Server::start();
    let mut failures = Vec::new();
    // --db N: every key into DB N (this file's DB-0 and DB-2 keys differ)
    let multi = common::fixture("public/redis-rdb-tools/multiple_databases.rdb");
    let r = attempt(|| {
        server.flush();
        let out = load(&multi, &server.url(), &["--target-db", "7"]);
        out.expect_code(0);
        let s = out.summary();
        check_summary(&s, false);
        if n(&s, "loaded") != 2 {
            return Err(format!("expected loaded 2: {s}"));
        }
        compare_lines(
            &dump_server(&mut server.conn()),
            &remap_db(&expected(&multi), &[(0, 7), (2, 7)]),
        )?;
        Ok(())
    });
    if let Err(e) = r {
        failures.push(format!("--db 7: {e}"));
    }
    let rdb = common::fixture(DEFAULT_RDB);
    let truth = expected(&rdb);
    let r = attempt(|| {
        server.flush();
        let out = load(
            &rdb,
            &server.url(),
            &["--db-map", "15=2", "--db-map", "1=3"],
        );
        out.expect_code(0);
        let s = out.summary();
        check_summary(&s, false);
        if n(&s, "loaded") != truth.len() as u64 {
            return Err(format!("loaded: {s}"));
        }
        compare_lines(
            &dump_server(&mut server.conn()),
            &remap_db(&truth, &[(15, 2), (1, 3)]),
        )?;
        Ok(())
    });
    if let Err(e) = r {
        failures.push(format!("--db-map 15=2 --db-map 1=3: {e}"));
    }
    // --keep-expired: the expired keys are restored too, without their expiry
    let cases = [
        "redis-7.0.15/expired.rdb",
        "redis-4.0.14/expired.rdb",
        "public/redis-replicator/dump-lru.rdb",
    ];
    for rel in cases {
        let rdb = common::fixture(rel);
        let r = attempt(|| {
            server.flush();
            let out = load(&rdb, &server.url(), &["--keep-expired"]);
            out.expect_code(0);
            let s = out.summary();
            check_summary(&s, false);
            let exp = expired_keys(&rdb);
            let mut want = expected(&rdb);
            want.extend(exp.iter().map(|l| {
                let mut l = l.clone();
                l["expire_ms"] = Value::Null;
                l
            }));
            sort_lines(&mut want);
            if n(&s, "loaded") != want.len() as u64
                || n(&s, "skipped_expired") != 0
                || exp.is_empty()
            {
                return Err(format!(
                    "expected loaded {}, skipped_expired 0: {s}",
                    want.len()
                ));
            }
            compare_lines(&dump_server(&mut server.conn()), &want)?;
            Ok(())
        });
        if let Err(e) = r {
            failures.push(format!("{rel} --keep-expired: {e}"));
        }
    }
    // --ttl-from-snapshot: every expiry shifted by (now - the snapshot's ctime)
    let r = attempt(|| {
        let meta = common::parse_jsonl(&common::convert(&common::read(&rdb), true, true).unwrap())
            .unwrap();
        let ctime_s: i64 = meta
            .iter()
            .find_map(|l| {
                l.get("aux")
                    .and_then(|a| a.get("ctime"))
                    .and_then(Value::as_str)
            })
            .expect("ctime aux field")
            .parse()
            .unwrap();
        server.flush();
        let before = now_ms();
        let out = load(&rdb, &server.url(), &["--ttl-from-snapshot"]);
        let after = now_ms();
        out.expect_code(0);
        check_summary(&out.summary(), false);
        let mut have = dump_server(&mut server.conn());
        let mut shift = None;
        for (h, t) in have.iter_mut().zip(truth.iter()) {
            if let (Some(he), Some(te)) = (h["expire_ms"].as_i64(), t["expire_ms"].as_i64()) {
                let d = he - te;
                if *shift.get_or_insert(d) != d {
                    return Err(format!(
                        "{}: shifted by {d}, others by {shift:?}",
                        common::short(&t["key"])
                    ));
                }
                h["expire_ms"] = serde_json::json!(te);
            }
        }
        let d = shift.ok_or("no key with a TTL")?;
        let (lo, hi) = (
            before - ctime_s * 1000 - 1000,
            after - ctime_s * 1000 + 1000,
        );
        if !(lo..=hi).contains(&d) {
            return Err(format!(
                "expiries shifted by {d} ms, expected now - ctime in {lo}..={hi}"
            ));
        }
        compare_lines(&have, &truth)?;
        Ok(())
    });
    if let Err(e) = r {
        failures.push(format!("--ttl-from-snapshot: {e}"));
    }
    report(
        "load_db_options_and_keep_expired",
        &failures,
        3 + cases.len(),
    );
}

#[test]
fn load_lru_lfu() {
    // per `rdbkit json`: dump-lfu.rdb key1 has freq 1, dump-lru.rdb key1 idle 1914611 s;
    // "key" in both expired in 2018
    let lfu = common::fixture("public/redis-replicator/dump-lfu.rdb");
    let lru = common::fixture("public/redis-replicator/dump-lru.rdb");
    let server = Server::start_with(ServerOpts {
        args: vec!["--maxmemory-policy".into(), "allkeys-lfu".into()],
        ..Default::default()
    });
    let mut c = server.conn();

    server.flush();
    let out = load(&lfu, &server.url(), &["--lfu"]);
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    assert_eq!((n(&s, "loaded"), n(&s, "skipped_expired")), (1, 1), "{s}");
    assert_eq!(
        c.int(["OBJECT", "FREQ", "key1"]),
        1,
        "OBJECT FREQ after --lfu"
    );
    server.flush();
    load(&lfu, &server.url(), &[]).expect_code(0);
    assert_ne!(
        c.int(["OBJECT", "FREQ", "key1"]),
        1,
        "OBJECT FREQ without --lfu (server default)"
    );

    c.ok(["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"]);
    server.flush();
    let out = load(&lru, &server.url(), &["--lru"]);
    out.expect_code(0);
    check_summary(&out.summary(), false);
    let idle = c.int(["OBJECT", "IDLETIME", "key1"]);
    assert!(
        (1_914_611..1_914_611 + 30).contains(&idle),
        "OBJECT IDLETIME after --lru: {idle}, file says 1914611"
    );
    server.flush();
    load(&lru, &server.url(), &[]).expect_code(0);
    let idle = c.int(["OBJECT", "IDLETIME", "key1"]);
    assert!(idle < 30, "OBJECT IDLETIME without --lru: {idle}");
}
