//! `rdbkit load` against real Redis 7.0 servers started by the tests
//! (standalone and 3-master clusters): content equal to the fixtures'
//! truth, conflict policies, duplicate keys, slot migration during a load,
//! authentication, failed keys, DB filtering/mapping, LRU/LFU.
//!
//! Only fixtures Redis 7.0 accepts as RESTORE payloads are used (RDB
//! version <= 10, see `support::run::eligible_fixtures`).

use crate::util as support;
use crate::util::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use support::resp::{command_name, parse_command_stream, Conn};
use support::run::*;
use support::server::*;
use support::truth::*;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The counters every successful plain load of a fixture must show.
fn check_fixture_summary(s: &Value, rdb: &Path, masters: u64) -> Result<(), String> {
    check_summary(s, false);
    let want = [
        ("loaded", expected(rdb).len() as u64),
        ("skipped_expired", expired_keys(rdb).len() as u64),
        (
            "skipped_empty",
            common::skipped_empty_keys(rdb).len() as u64,
        ),
        ("filtered", 0),
        ("conflicts", 0),
        ("failed", 0),
        ("not_attempted", 0),
    ];
    for (k, v) in want {
        if n(s, k) != v {
            return Err(format!(
                "summary {k} = {}, expected {v}; summary: {s}",
                n(s, k)
            ));
        }
    }
    // Libraries, once each, however many masters got them.
    let _ = masters;
    let libs = expected_functions(rdb).len() as u64;
    let f = n(s, "functions_loaded");
    if f != libs {
        return Err(format!(
            "summary functions_loaded = {f}, expected {libs} (one per library); summary: {s}"
        ));
    }
    Ok(())
}

fn db0_only(rdb: &Path) -> bool {
    expected(rdb)
        .iter()
        .chain(expired_keys(rdb).iter())
        .all(|l| l["db"].as_u64() == Some(0))
}

// ---------------------------------------------------------------------------
// 2. standalone: every eligible fixture
// ---------------------------------------------------------------------------

#[test]
fn load_standalone_matches_truth() {
    let server = Server::start();
    check_fixtures(
        "load_standalone_matches_truth",
        &eligible_fixtures(),
        |_, rdb| {
            server.flush();
            let out = load(rdb, &server.url(), &[]);
            if out.code != 0 {
                return Err(format!("exit {}: {}", out.code, out.describe()));
            }
            check_fixture_summary(&out.summary(), rdb, 1)?;
            let mut c = server.conn();
            let k = compare_lines(&dump_server(&mut c), &expected(rdb))?;
            compare_functions(&mut c, rdb)?;
            Ok(k)
        },
    );
}

// ---------------------------------------------------------------------------
// 3. cluster: DB-0 fixtures, auto-detected and --cluster; DB checks
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// 4. conflict policies
// ---------------------------------------------------------------------------

const DEFAULT_RDB: &str = "redis-7.0.15/default.rdb";
/// `(db, key, seeded string value)`.
type Seed = (u64, &'static [u8], &'static str);
/// Keys of DEFAULT_RDB, seeded with other values (one of another type, one
/// not valid UTF-8).
const SEEDS: [Seed; 3] = [
    (0, b"str:short", "seeded-1"),
    (0, b"bin\x00key\xff", "seeded-2"),
    (15, b"db15:hash", "seeded-3"),
];
/// A key that is not in the file.
const EXTRA: Seed = (0, b"seed:extra", "untouched");

fn seed(s: &Server) {
    s.flush();
    let mut c = s.conn();
    for (db, k, v) in SEEDS.iter().chain([&EXTRA]) {
        c.ok(["SELECT", &db.to_string()]);
        c.ok([b"SET" as &[u8], k, v.as_bytes()]);
    }
    c.ok(["SELECT", "0"]);
}

/// Seeded values that differ from the seeds (empty = all intact).
fn seeds_changed(s: &Server, which: &[Seed]) -> Vec<String> {
    let mut c = s.conn();
    let mut bad = Vec::new();
    for (db, k, v) in which {
        c.ok(["SELECT", &db.to_string()]);
        let got = c.cmd([b"GET" as &[u8], k]);
        if got != support::resp::Reply::Bulk(Some(v.as_bytes().to_vec())) {
            bad.push(format!(
                "db {db} {}: {got:?}, seeded {v:?}",
                common::show(k)
            ));
        }
    }
    bad
}

fn seed_ids() -> BTreeSet<(u64, Vec<u8>)> {
    SEEDS.iter().map(|(d, k, _)| (*d, k.to_vec())).collect()
}

fn is_extra(l: &Value) -> bool {
    common::ident(l).unwrap() == (EXTRA.0, EXTRA.1.to_vec())
}

/// The server's content without the EXTRA key (which must be intact).
fn dump_without_extra(s: &Server) -> Vec<Value> {
    assert!(
        seeds_changed(s, &[EXTRA]).is_empty(),
        "the extra seeded key was changed"
    );
    let mut c = s.conn();
    dump_server(&mut c)
        .into_iter()
        .filter(|l| !is_extra(l))
        .collect()
}

/// The key member of every line of a `--conflicts` file must be a JSON
/// string when the key is UTF-8, else `{"b64": ...}`.
fn check_conflicts_key_encoding(path: &Path) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    for l in common::parse_jsonl(&data)? {
        let key = common::bytes_of(&l["key"])?;
        let utf8 = std::str::from_utf8(&key).is_ok();
        if utf8 != l["key"].is_string() {
            return Err(format!(
                "--conflicts line {}: key should be {}",
                l,
                if utf8 { "a string" } else { "{\"b64\": ...}" }
            ));
        }
    }
    Ok(())
}

/// Problems found in one case (all of them, not only the first).
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn check(&mut self, ok: bool, msg: impl FnOnce() -> String) {
        if !ok {
            self.0.push(msg());
        }
    }
    fn result(&mut self, r: Result<impl Sized, String>) {
        if let Err(e) = r {
            self.0.push(e);
        }
    }
    fn done(self) -> Result<(), String> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0.join("\n    also: "))
        }
    }
}

#[test]
fn load_conflict_policies() {
    let rdb = common::fixture(DEFAULT_RDB);
    let truth = expected(&rdb);
    let total = truth.len() as u64;
    for (db, k, _) in SEEDS {
        assert!(
            truth
                .iter()
                .any(|l| common::ident(l).unwrap() == (db, k.to_vec())),
            "seed {} is not a key of {DEFAULT_RDB}",
            common::show(k)
        );
    }
    let server = Server::start();
    let tmp = TempDir::new("conflicts");
    let mut failures = Vec::new();
    let ids = seed_ids();
    let not_seed = |l: &Value| !ids.contains(&common::ident(l).unwrap());

    // panic: stop at the first conflict, exit 3, nothing overwritten
    let r = attempt(|| {
        let mut p = Problems::default();
        seed(&server);
        let cf = tmp.join("panic.jsonl");
        let cfs = cf.to_str().unwrap();
        let out = load(
            &rdb,
            &server.url(),
            &["--on-conflict", "panic", "--conflicts", cfs],
        );
        out.expect_code(3);
        let named: Vec<_> = SEEDS
            .iter()
            .filter(|(_, k, _)| std::str::from_utf8(k).is_ok_and(|k| out.stderr.contains(k)))
            .collect();
        p.check(!named.is_empty(), || {
            format!("stderr names no seeded key: {}", out.describe())
        });
        if let Some((db, _, _)) = named.first() {
            p.check(
                mentions_db(&out.stderr, *db)
                    && out.stderr.contains("default.rdb")
                    && out.stderr.to_ascii_lowercase().contains("offset"),
                || {
                    format!(
                        "stderr should name db {db}, the file and the record offset: {}",
                        out.stderr
                    )
                },
            );
        }
        let bad = seeds_changed(&server, &SEEDS);
        p.check(bad.is_empty(), || format!("seeded keys changed: {bad:?}"));
        let s = out.summary();
        check_summary(&s, false);
        // Stopping is tested on a big file (load_stops_on_conflict_and_on_errors):
        // this file fits in one pipeline, so all three seeds may be in flight
        // when the first BUSYKEY comes back; those count as stopped too
        // (README: "Keys already in flight ... are counted as loaded or as
        // conflicts, as their replies say").
        let stopped = by_action(&s, "stopped");
        p.check(
            (1..=3).contains(&stopped) && n(&s, "conflicts") == stopped,
            || format!("expected 1..=3 stopped conflicts and nothing else: {s}"),
        );
        p.result(check_conflicts_key_encoding(&cf));
        let lines = read_conflicts(&cf);
        p.check(
            lines.len() as u64 == stopped
                && lines
                    .iter()
                    .all(|l| l.2 == "stopped" && ids.contains(&(l.0, l.1.clone()))),
            || format!("--conflicts file should list the {stopped} stopped seeds: {lines:?}"),
        );
        p.done()
    });
    if let Err(e) = r {
        failures.push(format!("panic: {e}"));
    }

    // rewrite: everything equals the truth, seeds overwritten
    let r = attempt(|| {
        let mut p = Problems::default();
        seed(&server);
        let cf = tmp.join("rewrite.jsonl");
        let cfs = cf.to_str().unwrap();
        let out = load(
            &rdb,
            &server.url(),
            &["--on-conflict", "rewrite", "--conflicts", cfs],
        );
        out.expect_code(0);
        p.result(compare_lines(&dump_without_extra(&server), &truth));
        p.result(compare_functions(&mut server.conn(), &rdb));
        let s = out.summary();
        check_summary(&s, false);
        p.check(
            by_action(&s, "rewritten") == 3
                && n(&s, "conflicts") == 3
                && n(&s, "loaded") == total - 3,
            || {
                format!(
                    "expected conflicts 3 (rewritten 3) and loaded {}: {s}",
                    total - 3
                )
            },
        );
        p.result(check_conflicts_key_encoding(&cf));
        let lines = read_conflicts(&cf);
        let want: Vec<_> = ids
            .iter()
            .map(|(d, k)| (*d, k.clone(), "rewritten".to_string()))
            .collect();
        p.check(lines == want, || {
            format!("--conflicts file: {lines:?}, expected {want:?}")
        });
        p.done()
    });
    if let Err(e) = r {
        failures.push(format!("rewrite: {e}"));
    }

    // ignore / skip: seeds kept, everything else loaded
    for policy in ["ignore", "skip"] {
        let r = attempt(|| {
            let mut p = Problems::default();
            seed(&server);
            let cf = tmp.join(&format!("{policy}.jsonl"));
            let cfs = cf.to_str().unwrap();
            let out = load(
                &rdb,
                &server.url(),
                &["--on-conflict", policy, "--conflicts", cfs],
            );
            out.expect_code(0);
            let bad = seeds_changed(&server, &SEEDS);
            p.check(bad.is_empty(), || format!("seeded keys changed: {bad:?}"));
            let have: Vec<Value> = dump_without_extra(&server)
                .into_iter()
                .filter(not_seed)
                .collect();
            let want: Vec<Value> = truth.iter().filter(|l| not_seed(l)).cloned().collect();
            p.result(compare_lines(&have, &want));
            p.result(compare_functions(&mut server.conn(), &rdb));
            let s = out.summary();
            check_summary(&s, false);
            p.check(
                by_action(&s, "ignored") == 3
                    && n(&s, "conflicts") == 3
                    && n(&s, "loaded") == total - 3,
                || {
                    format!(
                        "expected conflicts 3 (ignored 3) and loaded {}: {s}",
                        total - 3
                    )
                },
            );
            p.result(check_conflicts_key_encoding(&cf));
            let lines = read_conflicts(&cf);
            let want: Vec<_> = ids
                .iter()
                .map(|(d, k)| (*d, k.clone(), "ignored".to_string()))
                .collect();
            p.check(lines == want, || {
                format!("--conflicts file: {lines:?}, expected {want:?}")
            });
            p.done()
        });
        if let Err(e) = r {
            failures.push(format!("{policy}: {e}"));
        }
    }

    // dry run: nothing written, the 3 conflicts reported
    let r = attempt(|| {
        let mut p = Problems::default();
        seed(&server);
        let before = server.total_keys();
        let cf = tmp.join("dry.jsonl");
        let out = load(
            &rdb,
            &server.url(),
            &["--dry-run", "--conflicts", cf.to_str().unwrap()],
        );
        // Under the default `panic` a real load would stop: exit 3.
        out.expect_code(3);
        let after = server.total_keys();
        p.check(after == before, || {
            format!("DBSIZE changed from {before} to {after}")
        });
        let bad = seeds_changed(&server, &SEEDS);
        p.check(bad.is_empty(), || format!("seeded keys changed: {bad:?}"));
        p.check(function_libs(&mut server.conn()).is_empty(), || {
            "functions were loaded".into()
        });
        let s = out.summary();
        check_summary(&s, true);
        p.check(n(&s, "loaded") == 0 && n(&s, "conflicts") == 3, || {
            format!("expected loaded 0, conflicts 3: {s}")
        });
        p.result(check_conflicts_key_encoding(&cf));
        let keys: BTreeSet<_> = read_conflicts(&cf)
            .into_iter()
            .map(|(d, k, _)| (d, k))
            .collect();
        p.check(keys == ids, || format!("--conflicts file keys {keys:?}"));
        p.done()
    });
    if let Err(e) = r {
        failures.push(format!("dry-run: {e}"));
    }
    report("load_conflict_policies", &failures, 5);
}

// ---------------------------------------------------------------------------
// 5. duplicate keys in one file
// ---------------------------------------------------------------------------

/// `rdbkit json FILE` key lines, in file order.
fn json_lines(rdb: &Path) -> Vec<Value> {
    let out = rdbkit(&["json", rdb.to_str().unwrap(), "-q"]);
    out.expect_code(0);
    common::parse_jsonl(&out.stdout).unwrap()
}

#[test]
fn load_duplicate_keys() {
    let server = Server::start();
    let mut failures = Vec::new();

    // dump.rdb: key1 three times in DB 0 (the first duplicate in file order)
    let dump = common::fixture("public/redis-rdb-cli/dump.rdb");
    let r = attempt(|| {
        let mut p = Problems::default();
        server.flush();
        let out = load(&dump, &server.url(), &["--on-conflict", "panic"]);
        out.expect_code(3);
        p.check(
            out.stderr.contains("key1") && mentions_db(&out.stderr, 0),
            || format!("stderr should name key1 in db 0: {}", out.stderr),
        );
        let s = out.summary();
        check_summary(&s, false);
        // in-flight duplicates may be counted as stopped too (see above)
        p.check(
            by_action(&s, "stopped") >= 1 && n(&s, "conflicts") == by_action(&s, "stopped"),
            || format!("expected stopped >= 1 and no other conflicts: {s}"),
        );
        p.done()
    });
    if let Err(e) = r {
        failures.push(format!("dump.rdb panic: {e}"));
    }

    // 12.rdb: same duplicates, no module key; rewrite keeps the last copy,
    // ignore the first.
    let twelve = common::fixture("public/redis-rdb-cli/12.rdb");
    let lines = json_lines(&twelve);
    let ids: Vec<(u64, Vec<u8>)> = lines.iter().map(|l| common::ident(l).unwrap()).collect();
    let distinct: BTreeSet<_> = ids.iter().cloned().collect();
    let dups = (ids.len() - distinct.len()) as u64;
    let key1: Vec<&Value> = lines
        .iter()
        .filter(|l| l["db"] == 0 && l["key"] == "key1")
        .collect();
    assert!(key1.len() >= 2, "12.rdb should hold key1 more than once");
    assert_ne!(
        key1.first().unwrap()["value"],
        key1.last().unwrap()["value"],
        "first and last key1 should differ"
    );
    for (policy, action, last) in [("rewrite", "rewritten", true), ("ignore", "ignored", false)] {
        let r = attempt(|| {
            let mut p = Problems::default();
            server.flush();
            let out = load(&twelve, &server.url(), &["--on-conflict", policy]);
            out.expect_code(0);
            let mut c = server.conn();
            let have = dump_server(&mut c);
            let have_ids: BTreeSet<_> = have.iter().map(|l| common::ident(l).unwrap()).collect();
            p.check(have_ids == distinct, || {
                format!(
                    "server holds {} keys, the file {} distinct",
                    have_ids.len(),
                    distinct.len()
                )
            });
            for h in &have {
                let id = common::ident(h).unwrap();
                let copies: Vec<&Value> = lines
                    .iter()
                    .filter(|l| common::ident(l).unwrap() == id)
                    .collect();
                let want = if last { copies.last() } else { copies.first() }.unwrap();
                p.result(compare_json_line(want, h).map_err(|e| {
                    format!(
                        "{} should be the {} copy: {e}",
                        common::ident_str(&id),
                        if last { "last" } else { "first" }
                    )
                }));
            }
            c.ok(["SELECT", "0"]);
            let v = c.bulk(["GET", "key1"]).unwrap_or_default();
            let want = if last { "foobar" } else { "value1" };
            p.check(v == want.as_bytes(), || {
                format!(
                    "key1 = {:?}, expected {want:?}",
                    String::from_utf8_lossy(&v)
                )
            });
            let s = out.summary();
            check_summary(&s, false);
            p.check(
                by_action(&s, action) == dups && n(&s, "loaded") == distinct.len() as u64,
                || {
                    format!(
                        "expected conflicts {dups} ({action}), loaded {}: {s}",
                        distinct.len()
                    )
                },
            );
            p.done()
        });
        if let Err(e) = r {
            failures.push(format!("12.rdb {policy}: {e}"));
        }
    }
    report("load_duplicate_keys", &failures, 3);
}

// ---------------------------------------------------------------------------
// 6. slot migration (ASK / MOVED) during a cluster load
// ---------------------------------------------------------------------------

const SPREAD_KEYS: u64 = 200_000;
const HOT_KEYS: u64 = 100_000;

/// An RDB written by a real server after `DEBUG POPULATE count prefix 100`
/// for each `(count, prefix)` (keys `prefix:N`, values `value:N` padded with
/// zero bytes to 100 bytes), then SAVE.
fn populated_rdb(dir: &TempDir, spec: &[(u64, &str)]) -> PathBuf {
    let gen = Server::start_with(ServerOpts {
        args: vec!["--enable-debug-command".into(), "yes".into()],
        ..Default::default()
    });
    let mut c = gen.conn();
    for (count, prefix) in spec {
        c.ok(["DEBUG", "POPULATE", &count.to_string(), prefix, "100"]);
    }
    let total: u64 = spec.iter().map(|x| x.0).sum();
    assert_eq!(c.int(["DBSIZE"]) as u64, total);
    c.ok(["SAVE"]);
    let p = dir.join("populated.rdb");
    std::fs::copy(gen.dir.join("dump.rdb"), &p).expect("copy dump.rdb");
    p
}

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

// ---------------------------------------------------------------------------
// stopping: panic at a conflict, --max-errors, on a file bigger than what
// can be in flight at once
// ---------------------------------------------------------------------------

#[test]
fn load_stops_on_conflict_and_on_errors() {
    const KEYS: u64 = 50_000;
    let tmp = TempDir::new("stop");
    let rdb = populated_rdb(&tmp, &[(KEYS, "key")]);
    // the 100th key in file order
    let out = rdbkit(&["json", rdb.to_str().unwrap(), "-q"]);
    out.expect_code(0);
    let line = out.stdout.split(|&b| b == b'\n').nth(99).expect("100 keys");
    let early: Value = serde_json::from_slice(line).unwrap();
    let early = early["key"].as_str().unwrap().to_string();
    let server = Server::start();
    let mut c = server.conn();
    let mut failures = Vec::new();

    let r =
        attempt(|| {
            let mut p = Problems::default();
            server.flush();
            c.ok(["SET", &early, "seeded"]);
            let out = load(&rdb, &server.url(), &["--on-conflict", "panic"]);
            out.expect_code(3);
            p.check(out.stderr.contains(&early), || {
                format!("stderr does not name {early}: {}", out.stderr)
            });
            p.check(c.bulk(["GET", &early]) == Some(b"seeded".to_vec()), || {
                "the seeded key was changed".into()
            });
            let s = out.summary();
            check_summary(&s, false);
            let on_server = server.total_keys();
            p.check(on_server == n(&s, "loaded") + 1, || {
                format!("server holds {on_server} keys = loaded + the seed? summary {s}")
            });
            p.check(by_action(&s, "stopped") >= 1 && n(&s, "not_attempted") > 0, || {
            format!("a conflict at key 100 of {KEYS} should stop the load (not_attempted > 0): {s}")
        });
            eprintln!("load_stops_on_conflict_and_on_errors: panic at key 100 of {KEYS}: {s}");
            p.done()
        });
    if let Err(e) = r {
        failures.push(format!("panic: {e}"));
    }

    let r = attempt(|| {
        let mut p = Problems::default();
        server.flush();
        let used: u64 = c
            .info_field("memory", "used_memory")
            .unwrap()
            .parse()
            .unwrap();
        c.ok([
            "CONFIG",
            "SET",
            "maxmemory",
            &(used + 2_000_000).to_string(),
        ]);
        let out = load(&rdb, &server.url(), &[]); // --max-errors 0
        c.ok(["CONFIG", "SET", "maxmemory", "0"]);
        out.expect_code(4);
        let s = out.summary();
        check_summary(&s, false);
        let on_server = server.total_keys();
        p.check(on_server == n(&s, "loaded"), || {
            format!("server holds {on_server} keys, summary {s}")
        });
        p.check(n(&s, "failed") >= 1 && n(&s, "not_attempted") > 0, || {
            format!("OOM with --max-errors 0 should stop the load (not_attempted > 0): {s}")
        });
        eprintln!("load_stops_on_conflict_and_on_errors: OOM, --max-errors 0: {s}");
        p.done()
    });
    if let Err(e) = r {
        failures.push(format!("--max-errors 0: {e}"));
    }
    report("load_stops_on_conflict_and_on_errors", &failures, 2);
}

// ---------------------------------------------------------------------------
// 8. authentication
// ---------------------------------------------------------------------------

const PASSWORD: &str = "s3cret";
/// (what, rdbkit arguments, environment)
type AuthCase<'a> = (&'a str, Vec<String>, Vec<(&'a str, &'a str)>);
const WRONG: &str = "wr0ngPa55w0rd";

#[test]
fn load_with_password() {
    let rdb = common::fixture("redis-4.0.14/compact.rdb");
    let truth = expected(&rdb);
    let server = Server::start_with(ServerOpts {
        password: Some(PASSWORD.into()),
        ..Default::default()
    });
    server.conn().ok([
        "ACL",
        "SETUSER",
        "loader",
        "on",
        ">l0aderPW",
        "~*",
        "&*",
        "+@all",
    ]);
    let tmp = TempDir::new("auth");
    let pw_file = tmp.join("pw");
    std::fs::write(&pw_file, PASSWORD).unwrap();
    let pw_file_nl = tmp.join("pw-newline");
    std::fs::write(&pw_file_nl, format!("{PASSWORD}\n")).unwrap();
    let wrong_file = tmp.join("wrong");
    std::fs::write(&wrong_file, WRONG).unwrap();
    let rdb_s = rdb.to_str().unwrap().to_string();
    let plain = server.url();
    let with_pw = format!("redis://:{PASSWORD}@127.0.0.1:{}", server.port);
    let with_user = format!("redis://default:{PASSWORD}@127.0.0.1:{}", server.port);
    let acl_user = format!("redis://loader:l0aderPW@127.0.0.1:{}", server.port);
    let wrong_url = format!("redis://:{WRONG}@127.0.0.1:{}", server.port);

    let args = |target: &str, extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["load", &rdb_s, "--target", target, "--json", "-q"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let good: Vec<AuthCase> = vec![
        ("password in the URL", args(&with_pw, &[]), vec![]),
        ("user:password in the URL", args(&with_user, &[]), vec![]),
        ("ACL user in the URL", args(&acl_user, &[]), vec![]),
        (
            "REDISCLI_AUTH",
            args(&plain, &[]),
            vec![("REDISCLI_AUTH", PASSWORD)],
        ),
        (
            "--password-file",
            args(&plain, &["--password-file", pw_file.to_str().unwrap()]),
            vec![],
        ),
        (
            "--password-file with a trailing newline",
            args(&plain, &["--password-file", pw_file_nl.to_str().unwrap()]),
            vec![],
        ),
    ];
    let bad: Vec<AuthCase> = vec![
        ("wrong password in the URL", args(&wrong_url, &[]), vec![]),
        (
            "wrong REDISCLI_AUTH",
            args(&plain, &[]),
            vec![("REDISCLI_AUTH", WRONG)],
        ),
        (
            "wrong --password-file",
            args(&plain, &["--password-file", wrong_file.to_str().unwrap()]),
            vec![],
        ),
        ("no password", args(&plain, &[]), vec![]),
    ];
    let mut failures = Vec::new();
    for (what, a, env) in &good {
        let r = attempt(|| {
            server.flush();
            let out = rdbkit_env(a, env);
            if out.code != 0 {
                return Err(format!("exit {}: {}", out.code, out.describe()));
            }
            if out.all_text().contains(PASSWORD) {
                return Err(format!(
                    "the password appears in the output: {}",
                    out.describe()
                ));
            }
            let s = out.summary();
            check_summary(&s, false);
            if n(&s, "loaded") != truth.len() as u64 {
                return Err(format!("loaded {} of {}", n(&s, "loaded"), truth.len()));
            }
            compare_lines(&dump_server(&mut server.conn()), &truth)?;
            Ok(())
        });
        if let Err(e) = r {
            failures.push(format!("{what}: {e}"));
        }
    }
    for (what, a, env) in &bad {
        let r = attempt(|| {
            server.flush();
            let out = rdbkit_env(a, env);
            if out.code != 1 {
                return Err(format!("expected exit 1: {}", out.describe()));
            }
            let text = out.all_text();
            if text.contains(WRONG) || text.contains(PASSWORD) {
                return Err(format!(
                    "a password appears in the output: {}",
                    out.describe()
                ));
            }
            if server.total_keys() != 0 {
                return Err("keys were written".into());
            }
            Ok(())
        });
        if let Err(e) = r {
            failures.push(format!("{what}: {e}"));
        }
    }
    report("load_with_password", &failures, good.len() + bad.len());
}

// ---------------------------------------------------------------------------
// failed keys: exit 4, --failed is a replayable RESP stream
// ---------------------------------------------------------------------------

#[test]
fn load_failed_keys_are_counted_and_replayable() {
    let rdb = common::fixture(DEFAULT_RDB);
    let truth = expected(&rdb);
    let server = Server::start_with(ServerOpts {
        args: vec!["--maxmemory-policy".into(), "noeviction".into()],
        ..Default::default()
    });
    let mut c = server.conn();
    let used: u64 = c
        .info_field("memory", "used_memory")
        .unwrap()
        .parse()
        .unwrap();
    // room for part of the data set only (it holds a 1 MiB string alone)
    c.ok([
        "CONFIG",
        "SET",
        "maxmemory",
        &(used + 1_000_000).to_string(),
    ]);
    let tmp = TempDir::new("failed");
    let failed = tmp.join("failed.resp");
    let out = load(
        &rdb,
        &server.url(),
        &[
            "--failed",
            failed.to_str().unwrap(),
            "--max-errors",
            "1000000",
        ],
    );
    assert_eq!(
        out.code,
        4,
        "some keys must fail with OOM: {}",
        out.describe()
    );
    let s = out.summary();
    check_summary(&s, false);
    let nf = n(&s, "failed");
    assert!(nf > 0, "failed == 0: {s}");
    assert_eq!(
        n(&s, "loaded") + nf,
        truth.len() as u64,
        "loaded + failed: {s}"
    );
    let kinds = s["errors_by_kind"].as_object().unwrap();
    assert!(
        kinds.keys().any(|k| k.starts_with("OOM")),
        "errors_by_kind should have an OOM kind: {s}"
    );
    let cmds = parse_command_stream(&std::fs::read(&failed).expect("--failed file"))
        .unwrap_or_else(|e| panic!("--failed file is not a RESP command stream: {e}"));
    let restores = cmds.iter().filter(|c| command_name(c) == "RESTORE").count() as u64;
    assert_eq!(restores, nf, "RESTORE commands in the --failed file");
    eprintln!(
        "load_failed_keys_are_counted_and_replayable: {} loaded, {nf} failed ({:?})",
        n(&s, "loaded"),
        kinds
    );
    // replay after lifting the limit: the server ends up equal to the truth
    c.ok(["CONFIG", "SET", "maxmemory", "0"]);
    let (code, errors, _, text) = pipe(server.port, &failed);
    assert!(code == 0 && errors == 0, "replaying --failed: {text}");
    compare_lines(&dump_server(&mut c), &truth).unwrap_or_else(|e| panic!("after replay: {e}"));
    compare_functions(&mut c, &rdb).unwrap_or_else(|e| panic!("after replay: {e}"));

    // default --max-errors (0): the load stops at the first failed key, exit 4
    server.flush();
    let used: u64 = c
        .info_field("memory", "used_memory")
        .unwrap()
        .parse()
        .unwrap();
    c.ok([
        "CONFIG",
        "SET",
        "maxmemory",
        &(used + 1_000_000).to_string(),
    ]);
    let out = load(&rdb, &server.url(), &[]);
    assert_eq!(out.code, 4, "stopped on errors: {}", out.describe());
    let s = out.summary();
    check_summary(&s, false);
    assert!(n(&s, "failed") >= 1, "{s}");
    eprintln!("  with the default --max-errors: {s}");
    c.ok(["CONFIG", "SET", "maxmemory", "0"]);
}

// ---------------------------------------------------------------------------
// --db / --db-map / --keep-expired (standalone)
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// --lru / --lfu
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// the harness itself
// ---------------------------------------------------------------------------

/// The dump + comparison used above, checked without rdbkit: a server that
/// loads a fixture itself (as its dump.rdb) must compare equal to the
/// truth, and a changed value must be caught.
#[test]
fn harness_dump_matches_truth_on_native_load() {
    let mut failures = Vec::new();
    let fixtures = eligible_fixtures();
    let mut native = 0;
    for rdb in &fixtures {
        let r = attempt(|| {
            let s = Server::start_with(ServerOpts {
                rdb: Some(rdb.clone()),
                ..Default::default()
            });
            let mut c = s.conn();
            let have = dump_server(&mut c);
            compare_lines(&have, &expected(rdb))?;
            compare_functions(&mut c, rdb)?;
            // the dump is in the exact truth format (not only equivalent):
            // same JSON apart from `encoding` (this server runs with default
            // thresholds) for everything but streams (whose invented members
            // depend on the loading server)
            let strip = |l: &Value| {
                let mut l = l.clone();
                l.as_object_mut().unwrap().remove("encoding");
                l
            };
            for (h, t) in have.iter().zip(expected(rdb).iter()) {
                if t["type"] != "stream" && strip(h) != strip(t) {
                    return Err(format!(
                        "not the exact truth format:\n server {}\n truth  {}",
                        common::short(h),
                        common::short(t)
                    ));
                }
            }
            Ok(())
        });
        match r {
            Ok(()) => native += 1,
            Err(e) => failures.push(format!("{}: {e}", common::rel(rdb))),
        }
    }
    eprintln!(
        "harness_dump_matches_truth_on_native_load: {native} of {} fixtures",
        fixtures.len()
    );
    report(
        "harness_dump_matches_truth_on_native_load",
        &failures,
        fixtures.len(),
    );

    // a difference must be caught
    let rdb = common::fixture(DEFAULT_RDB);
    let s = Server::start_with(ServerOpts {
        rdb: Some(rdb.clone()),
        ..Default::default()
    });
    let mut c = s.conn();
    let truth = expected(&rdb);
    for (what, cmd) in [
        ("string value", vec!["SET", "str:short", "changed"]),
        ("list element", vec!["LSET", "list:small", "0", "changed"]),
        ("zset score", vec!["ZINCRBY", "zset:small", "0.5", "one"]),
        ("expire", vec!["PEXPIREAT", "str:short", "4102444800999"]),
        ("extra key", vec!["SET", "harness:extra", "x"]),
        (
            "stream PEL",
            vec!["XACK", "stream:groups", "g1", "1700000002000-0"],
        ),
    ] {
        let snapshot = c.must(["DUMP", cmd[1]]);
        let ttl = c.int(["PTTL", cmd[1]]);
        c.must(&cmd);
        let r = compare_lines(&dump_server(&mut c), &truth);
        assert!(r.is_err(), "the comparison did not notice a changed {what}");
        // restore the original
        c.must(["DEL", cmd[1]]);
        if let support::resp::Reply::Bulk(Some(p)) = snapshot {
            let ttl = if ttl < 0 { 0 } else { ttl };
            c.must([
                b"RESTORE" as &[u8],
                cmd[1].as_bytes(),
                ttl.to_string().as_bytes(),
                &p,
            ]);
        }
    }
    compare_lines(&dump_server(&mut c), &truth).expect("restored to the truth");
}

// ---------------------------------------------------------------------------
// human summary, exit codes of errors
// ---------------------------------------------------------------------------

#[test]
fn load_human_summary_and_error_exits() {
    let rdb = common::fixture(DEFAULT_RDB);
    let rdb_s = rdb.to_str().unwrap();
    let server = Server::start();
    let url = server.url();

    // without --json: nothing on stdout, a human summary on stderr
    let out = rdbkit(&["load", rdb_s, "--target", &url]);
    out.expect_code(0);
    assert!(
        out.stdout.is_empty(),
        "stdout without --json: {}",
        out.describe()
    );
    assert!(
        out.stderr.contains(&expected(&rdb).len().to_string()),
        "the human summary should give the number of loaded keys: {}",
        out.describe()
    );
    server.flush();

    // usage errors: exit 2
    rdbkit(&["load", rdb_s]).expect_code(2); // no --target
    rdbkit(&["load", rdb_s, "--target", &url, "--on-conflict", "bogus"]).expect_code(2);
    assert_eq!(server.total_keys(), 0);

    // runtime errors: exit 1
    let dead = format!("redis://127.0.0.1:{}", free_port(false)); // nothing listens
    let out = rdbkit(&["load", rdb_s, "--target", &dead, "-q"]);
    out.expect_code(1);
    let out = rdbkit(&["load", "/nonexistent/x.rdb", "--target", &url, "-q"]);
    out.expect_code(1);
    let tmp = TempDir::new("trunc");
    let cut = tmp.join("cut.rdb");
    let data = common::read(&rdb);
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let out = rdbkit(&["load", cut.to_str().unwrap(), "--target", &url, "-q"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("cut.rdb"),
        "a format error should name the file: {}",
        out.describe()
    );
}

// ---------------------------------------------------------------------------
// TLS: rediss:// with a CA and a client certificate (Redis' default
// `tls-auth-clients yes`), made with the openssl command line.
// ---------------------------------------------------------------------------

fn openssl(dir: &TempDir, args: &[&str]) {
    let st = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl");
    assert!(st.success(), "openssl {args:?} failed");
}

#[test]
fn load_over_tls() {
    let tmp = TempDir::new("tls");
    std::fs::write(tmp.join("server.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    std::fs::write(tmp.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    let days = ["-days", "2"];
    openssl(
        &tmp,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=rdbkit-test-ca",
            days[0],
            days[1],
        ],
    );
    for who in ["server", "client"] {
        openssl(
            &tmp,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &format!("{who}.key"),
                "-out",
                &format!("{who}.csr"),
                "-subj",
                &format!("/CN={who}"),
            ],
        );
        openssl(
            &tmp,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{who}.csr"),
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &format!("{who}.crt"),
                "-extfile",
                &format!("{who}.ext"),
                days[0],
                days[1],
            ],
        );
    }
    let p = |f: &str| tmp.join(f).to_str().unwrap().to_string();
    let tls_port = support::server::free_port(false);
    let server = Server::start_with(ServerOpts {
        args: vec![
            "--tls-port".into(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            p("server.crt"),
            "--tls-key-file".into(),
            p("server.key"),
            "--tls-ca-cert-file".into(),
            p("ca.crt"),
        ],
        ..Default::default()
    });
    let rdb = common::fixture("redis-7.0.15/default.rdb");
    let url = format!("rediss://127.0.0.1:{tls_port}");
    let (ca, cert, key) = (p("ca.crt"), p("client.crt"), p("client.key"));

    // With the CA and a client certificate: the content equals the truth.
    let out = load(
        &rdb,
        &url,
        &["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key],
    );
    out.expect_code(0);
    check_fixture_summary(&out.summary(), &rdb, 1).unwrap();
    let mut c = server.conn();
    compare_lines(&dump_server(&mut c), &expected(&rdb)).unwrap();

    // Without a client certificate the server refuses the handshake; without
    // the CA, or with a plain-TCP URL on the TLS port, it fails cleanly.
    server.flush();
    let out = load(&rdb, &url, &["--tls-ca", &ca]);
    assert_eq!(out.code, 1, "{}", out.describe());
    // A rediss:// URL without --tls-ca is a bad command line (exit 2).
    let out = load(&rdb, &url, &[]);
    assert_eq!(out.code, 2, "{}", out.describe());
    assert!(out.all_text().contains("--tls-ca"), "{}", out.describe());
    let out = load(
        &rdb,
        &format!("rediss://127.0.0.1:{}", server.port),
        &["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key],
    );
    assert_eq!(out.code, 1, "{}", out.describe());
    assert_eq!(
        server.total_keys(),
        0,
        "nothing may be written by failed TLS attempts"
    );

    // A TLS target that stops answering (SIGSTOP) does not hang the loader:
    // the I/O timeout holds for TLS too, and reconnecting gives up after
    // --retry-for.
    let big = populated_rdb(&tmp, &[(200_000, "key")]);
    let tls = ["--tls-ca", &ca, "--tls-cert", &cert, "--tls-key", &key];
    let mut args = vec!["load", big.to_str().unwrap(), "--target", &url];
    args.extend(tls);
    args.extend(["--timeout", "2", "--retry-for", "3", "--json", "-q"]);
    let (child, cmdline) = spawn_rdbkit(&args);
    wait_for_keys(&server, 10_000);
    let (out, waited) = hang_target_until_done(&server, child, cmdline);
    eprintln!(
        "hung TLS target: the load ended {waited:?} after the target stopped, exit {}",
        out.code
    );
    assert_ne!(out.code, 0, "{}", out.describe());
    assert!(
        waited < Duration::from_secs(20),
        "the loader waited {waited:?}"
    );
    let s = out.summary();
    check_summary(&s, false);
    assert!(n(&s, "failed") > 0, "{s}");
}

// ---------------------------------------------------------------------------
// command mode: `--mode auto` loads every fixture, of any RDB version, into
// Redis 7.0 (RESTORE where it can, commands where it cannot)
// ---------------------------------------------------------------------------

#[test]
fn load_auto_mode_matches_truth_for_every_version() {
    let server = Server::start();
    let mut as_commands = 0u64;
    check_fixtures("load_auto_mode", &command_mode_fixtures(), |_, rdb| {
        server.flush();
        let out = load(rdb, &server.url(), &["--lossy"]);
        if out.code != 0 {
            return Err(format!("exit {}: {}", out.code, out.describe()));
        }
        let s = out.summary();
        check_summary(&s, false);
        let newer = !matches!(version_of(rdb), Some(1..=10));
        let cmds = n(&s, "as_commands");
        if newer && cmds < n(&s, "loaded") {
            return Err(format!(
                "RDB {:?} needs commands for every key: {s}",
                version_of(rdb)
            ));
        }
        if !newer && cmds != 0 {
            return Err(format!(
                "RDB {:?} loads by RESTORE, yet {cmds} keys went as commands",
                version_of(rdb)
            ));
        }
        as_commands += cmds;
        let mut c = server.conn();
        // RESTOREd streams keep the length the file stores; only commands
        // need the adjusted truth.
        let truth = if newer {
            command_mode_truth(rdb)
        } else {
            strip_uncarried(&expected(rdb))
        };
        let k = compare_lines(&strip_uncarried(&dump_server(&mut c)), &truth)?;
        compare_functions(&mut c, rdb)?;
        Ok(k)
    });
    eprintln!("load_auto_mode: {as_commands} keys written as commands");
}

#[test]
fn load_command_mode_policies() {
    // RDB 12: every key goes as commands into Redis 7.0.
    let rdb = common::fixture("redis-7.4.1/default.rdb");
    let server = Server::start();
    let url = server.url();
    let first = load(&rdb, &url, &["--lossy"]);
    first.expect_code(0);
    let total = n(&first.summary(), "loaded");
    let before = dump_server(&mut server.conn());
    // panic: stops, nothing is touched
    let out = load(&rdb, &url, &["--lossy", "--on-conflict", "panic"]);
    assert_eq!(out.code, 3, "{}", out.describe());
    check_summary(&out.summary(), false);
    assert_eq!(
        dump_server(&mut server.conn()),
        before,
        "panic changed the target"
    );
    // ignore: every key is a conflict, nothing changes
    let out = load(&rdb, &url, &["--lossy", "--on-conflict", "ignore"]);
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    assert_eq!(
        (n(&s, "loaded"), by_action(&s, "ignored")),
        (0, total),
        "{s}"
    );
    assert_eq!(
        dump_server(&mut server.conn()),
        before,
        "ignore changed the target"
    );
    // rewrite: every key replaced atomically; the content stays the truth
    let out = load(&rdb, &url, &["--lossy", "--on-conflict", "rewrite"]);
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    assert_eq!(by_action(&s, "rewritten"), total, "{s}");
    compare_lines(
        &strip_uncarried(&dump_server(&mut server.conn())),
        &command_mode_truth(&rdb),
    )
    .unwrap();
    // without --lossy the hashes with field TTLs fail, reported, never silently
    server.flush();
    let out = load(&rdb, &url, &["--max-errors", "1000"]);
    assert_eq!(out.code, 4, "{}", out.describe());
    let s = out.summary();
    check_summary(&s, false);
    assert!(
        n(&s, "failed") > 0 && out.all_text().contains("field TTLs"),
        "{}",
        out.describe()
    );
}

#[test]
fn load_big_key_as_commands_in_bounded_commands() {
    // One 20k-field hash, sent as commands: --max-restore-bytes 1 forces
    // command mode for it; no command may carry more than the limits.
    let tmp = TempDir::new("bigkey");
    let src = Server::start();
    let mut c = src.conn();
    let mut args: Vec<String> = vec!["HSET".into(), "bighash".into()];
    for i in 0..20000 {
        args.push(format!("f{i}"));
        args.push(format!("value-{i}-{}", "x".repeat(i % 50)));
    }
    c.must(args);
    c.ok(["SAVE"]);
    let rdb = tmp.join("big.rdb");
    std::fs::copy(src.dir.join("dump.rdb"), &rdb).unwrap();
    let dst = Server::start();
    let out = load(
        &rdb,
        &dst.url(),
        &[
            "--max-restore-bytes",
            "1000",
            "--batch-elements",
            "100",
            "--batch-bytes",
            "2000",
        ],
    );
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    assert_eq!(n(&s, "as_commands"), 1, "{s}");
    let mut d = dst.conn();
    assert_eq!(d.int(["HLEN", "bighash"]), 20000);
    assert_eq!(
        d.bulk(["HGET", "bighash", "f12345"]),
        Some(format!("value-12345-{}", "x".repeat(12345 % 50)).into_bytes())
    );
    // The command stream shows the limits.
    let out = rdbkit(&[
        "resp",
        rdb.to_str().unwrap(),
        "--mode",
        "commands",
        "--batch-elements",
        "100",
        "--batch-bytes",
        "2000",
        "-q",
    ]);
    out.expect_code(0);
    for cmd in support::resp::parse_command_stream(&out.stdout).unwrap() {
        if cmd[0] == b"HSET" {
            assert!(cmd.len() - 2 <= 200, "HSET with {} args", cmd.len() - 2);
        }
    }
}

#[test]
fn load_jsonl_round_trip_matches_truth() {
    // RDB -> `rdbkit json` -> `rdbkit load` (detected as JSON Lines) -> server == truth
    let server = Server::start();
    let tmp = TempDir::new("jsonl");
    check_fixtures(
        "load_jsonl_round_trip",
        &command_mode_fixtures(),
        |i, rdb| {
            server.flush();
            let jl = tmp.join(&format!("{i}.jsonl"));
            let out = rdbkit(&[
                "json",
                rdb.to_str().unwrap(),
                "--meta",
                "-o",
                jl.to_str().unwrap(),
            ]);
            if out.code != 0 {
                return Err(format!("json: {}", out.describe()));
            }
            let out = load(&jl, &server.url(), &["--lossy"]);
            if out.code != 0 {
                return Err(format!("exit {}: {}", out.code, out.describe()));
            }
            check_summary(&out.summary(), false);
            let mut c = server.conn();
            let k = compare_lines(
                &strip_uncarried(&dump_server(&mut c)),
                &command_mode_truth(rdb),
            )?;
            compare_functions(&mut c, rdb)?;
            Ok(k)
        },
    );
}

/// Runs rdbkit and samples its anonymous memory (RssAnon) until it exits:
/// (outcome, peak RssAnon in bytes). File-backed pages of the input map are
/// not counted: they are page cache, released as the load goes.
fn run_sampling_rss(args: &[&str]) -> (Out, u64) {
    use std::process::{Command, Stdio};
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let t1 = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut b).unwrap();
        b
    });
    let t2 = std::thread::spawn(move || {
        let mut b = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut b).unwrap();
        b
    });
    let status = loop {
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
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        sleep(Duration::from_millis(2));
    };
    let out = Out {
        code: status.code().unwrap_or(-1),
        stdout: t1.join().unwrap(),
        stderr: t2.join().unwrap(),
        cmdline: args.join(" "),
    };
    (out, peak)
}

/// A 2M-field hash (about 100 MB as commands) loads as commands in memory
/// bounded by the write buffer, not by the key: fresh (EXISTS, then the
/// key's commands streamed) and over an existing key under `rewrite`
/// (streamed under a temporary key, then RENAME). The result is compared
/// with the source by `DEBUG DIGEST-VALUE`.
#[test]
fn load_huge_key_as_commands_in_bounded_memory() {
    const FIELDS: usize = 2_000_000;
    let tmp = TempDir::new("hugekey");
    let debug = ServerOpts {
        args: vec!["--enable-debug-command".into(), "yes".into()],
        ..Default::default()
    };
    let src = Server::start_with(debug.clone());
    let mut c = src.conn();
    for start in (0..FIELDS).step_by(20_000) {
        let mut args: Vec<String> = vec!["HSET".into(), "huge".into()];
        for i in start..start + 20_000 {
            args.push(format!("field:{i:08}"));
            args.push(format!("value-{i}-{}", "v".repeat(20 + i % 17)));
        }
        c.must(args);
    }
    c.ok(["SAVE"]);
    let digest = format!("{:?}", c.must(["DEBUG", "DIGEST-VALUE", "huge"]));
    let rdb = tmp.join("huge.rdb");
    std::fs::copy(src.dir.join("dump.rdb"), &rdb).unwrap();
    drop(c);
    drop(src);
    let file_mb = std::fs::metadata(&rdb).unwrap().len() >> 20;
    let dst = Server::start_with(debug);
    let url = dst.url();
    let mut d = dst.conn();
    for (policy, seed) in [("panic", false), ("rewrite", true)] {
        d.ok(["FLUSHALL"]);
        if seed {
            d.must(["HSET", "huge", "old-field", "old"]);
        }
        let (out, peak) = run_sampling_rss(&[
            "load",
            rdb.to_str().unwrap(),
            "--target",
            &url,
            "--mode",
            "commands",
            "--on-conflict",
            policy,
            "--json",
            "-q",
        ]);
        out.expect_code(0);
        let s = out.summary();
        check_summary(&s, false);
        // An overwritten key is reported as a conflict, rewritten.
        let (loaded, rewritten) = if seed { (0, 1) } else { (1, 0) };
        assert_eq!(n(&s, "loaded"), loaded, "{policy}: {s}");
        assert_eq!(n(&s, "conflicts"), rewritten, "{policy}: {s}");
        assert_eq!(d.int(["HLEN", "huge"]), FIELDS as i64, "{policy}");
        assert_eq!(
            format!("{:?}", d.must(["DEBUG", "DIGEST-VALUE", "huge"])),
            digest,
            "{policy}: content differs from the source"
        );
        assert_eq!(
            d.int(["EXISTS", "{huge}:rdbkit-tmp"]),
            0,
            "temporary key left"
        );
        eprintln!(
            "huge key ({FIELDS} fields, {file_mb} MB file), {policy}: peak RssAnon {} MB",
            peak >> 20
        );
        assert!(
            peak < 64 << 20,
            "{policy}: rdbkit used {} MB of anonymous memory for one key",
            peak >> 20
        );
    }
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

/// `--skip-corrupt` on load: a record the walk cannot pass is skipped and
/// counted (`skipped_corrupt`, in the balance), every other key loads and
/// equals its truth; exit code 6. Without the flag nothing past the damage
/// is read and the load fails.
#[test]
fn load_skip_corrupt_accounts_for_damaged_records() {
    use rdbkit::rdb::records::{Item, ParseOptions, Parser};
    let server = Server::start();
    let tmp = TempDir::new("corrupt");
    let rdb = common::fixture(DEFAULT_RDB);
    let data = common::read(&rdb);
    let mut p = Parser::new(&data, ParseOptions::default()).unwrap();
    let mut victim = None;
    let mut n_keys = 0;
    while let Some(item) = p.next_item().unwrap() {
        if let Item::Key(r) = item {
            n_keys += 1;
            if r.type_byte == 0 && r.expire_ms.is_none() && n_keys > 20 && victim.is_none() {
                victim = Some((r.value_offset as usize, r.key.to_vec().unwrap()));
            }
        }
    }
    let (at, key) = victim.expect("a plain string key");
    let mut bad = data.clone();
    bad[at] = 0xC7; // no such string encoding: the walk cannot pass it
    let f = tmp.join("bad.rdb");
    std::fs::write(&f, &bad).unwrap();
    let out = load(&f, &server.url(), &[]);
    assert_eq!(out.code, 1, "without --skip-corrupt: {}", out.describe());
    server.flush();
    let out = load(&f, &server.url(), &["--skip-corrupt"]);
    assert_eq!(out.code, 6, "{}", out.describe());
    let s = out.summary();
    check_summary(&s, false);
    assert_eq!(n(&s, "skipped_corrupt"), 1, "{s}");
    assert!(out.stderr.contains("checksum mismatch"), "{}", out.stderr);
    let want: Vec<Value> = expected(&rdb)
        .into_iter()
        .filter(|l| common::bytes_of(&l["key"]).unwrap() != key)
        .collect();
    assert_eq!(n(&s, "loaded"), want.len() as u64, "{s}");
    compare_lines(&dump_server(&mut server.conn()), &want).unwrap();
}

/// `--checkpoint` / `--resume`: a 1.2M-key load is killed with SIGKILL at
/// ten points, resumed each time from its checkpoint, and finished; then
/// `rdbkit verify` finds every key with its value and TTL. Keys acknowledged
/// by an interrupted run are not sent again; keys it had in flight are
/// re-checked by DUMP (identical: loaded, not a conflict), so the default
/// `panic` policy never stops on our own writes.
#[test]
fn load_killed_and_resumed_loses_and_duplicates_nothing() {
    const KEYS: u64 = 1_200_000;
    let tmp = TempDir::new("resume");
    let rdb = populated_rdb(&tmp, &[(KEYS, "key")]);
    let server = Server::start();
    let url = server.url();
    let ck = tmp.join("load.checkpoint");
    let ck_s = ck.to_str().unwrap().to_string();
    let (killed, offsets, _) = kill_resume_rounds(&rdb, &server, &ck);
    eprintln!("resume: {killed} of 10 rounds killed mid-load; acknowledged offsets {offsets:?}");
    assert!(
        killed >= 7,
        "the load finished too soon to be killed: {killed}"
    );
    assert!(
        offsets.windows(2).all(|w| w[0] <= w[1]) && offsets.last() > offsets.first(),
        "the checkpoint does not advance: {offsets:?}"
    );
    // Finish.
    let out = load(&rdb, &url, &["--resume", &ck_s]);
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    eprintln!("final resumed run: {s}");
    assert_eq!(
        n(&s, "conflicts"),
        0,
        "a key written by an interrupted run counted as a conflict: {s}"
    );
    assert_eq!(n(&s, "failed"), 0, "{s}");
    assert_eq!(server.conn().int(["DBSIZE"]), KEYS as i64);
    // A run on a completed checkpoint reads nothing.
    let out = load(&rdb, &url, &["--resume", &ck_s]);
    out.expect_code(0);
    assert_eq!(n(&out.summary(), "keys_read"), 0, "{}", out.describe());
    // And the target holds exactly the snapshot.
    let out = rdbkit(&[
        "verify",
        rdb.to_str().unwrap(),
        "--target",
        &url,
        "--json",
        "-q",
    ]);
    assert_eq!(out.code, 0, "verify: {}", out.describe());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["matched"], KEYS, "{v}");
    // A checkpoint does not fit another file.
    let other = common::fixture(DEFAULT_RDB);
    let out = load(&other, &url, &["--resume", &ck_s]);
    assert_eq!(out.code, 1, "{}", out.describe());
}

/// The target crashes (SIGKILL) mid-load and is restarted from its AOF
/// (`appendfsync always`: what it acknowledged is on disk). Without retries
/// (`--retry-for 0`) the load fails with the replies it lost; `--resume`
/// then sends again exactly what was not acknowledged, re-checks what was
/// in flight, and `rdbkit verify` finds every key.
#[test]
fn load_resumes_after_the_target_crashes() {
    const KEYS: u64 = 400_000;
    let tmp = TempDir::new("target-crash");
    let rdb = populated_rdb(&tmp, &[(KEYS, "key")]);
    let mut server = Server::start_with(ServerOpts {
        args: vec![
            "--appendonly".into(),
            "yes".into(),
            "--appendfsync".into(),
            "always".into(),
        ],
        ..Default::default()
    });
    let url = server.url();
    let ck = tmp.join("crash.checkpoint");
    let (child, cmdline) = spawn_rdbkit(&[
        "load",
        rdb.to_str().unwrap(),
        "--target",
        &url,
        "--checkpoint",
        ck.to_str().unwrap(),
        "--retry-for",
        "0",
        "--json",
        "-q",
    ]);
    // Crash the target once some keys are in.
    wait_for_keys(&server, 20_000);
    server.crash_and_restart();
    let out = wait_child(child, cmdline, Duration::from_secs(120));
    let before = server.conn().int(["DBSIZE"]);
    eprintln!(
        "target crashed: first run exit {}, {before} keys survived",
        out.code
    );
    assert_ne!(
        out.code,
        0,
        "the interrupted load must not report success: {}",
        out.describe()
    );
    assert!((before as u64) < KEYS, "the crash came too late");
    let out = load(&rdb, &url, &["--resume", ck.to_str().unwrap()]);
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    eprintln!("resumed after the target crash: {s}");
    assert_eq!(n(&s, "conflicts"), 0, "{s}");
    assert_eq!(server.conn().int(["DBSIZE"]), KEYS as i64);
    let out = rdbkit(&[
        "verify",
        rdb.to_str().unwrap(),
        "--target",
        &url,
        "--json",
        "-q",
    ]);
    assert_eq!(out.code, 0, "verify: {}", out.describe());
}

/// A target that stops answering (SIGSTOP) does not hang the loader: after
/// `--timeout` the connection counts as lost, the load ends with an error
/// naming it, and once the target is back `--resume` finishes the job.
#[test]
fn load_gives_up_on_a_hung_target_and_resumes() {
    const KEYS: u64 = 400_000;
    let tmp = TempDir::new("hung");
    let rdb = populated_rdb(&tmp, &[(KEYS, "key")]);
    let server = Server::start();
    let url = server.url();
    let ck = tmp.join("hung.checkpoint");
    let (child, cmdline) = spawn_rdbkit(&[
        "load",
        rdb.to_str().unwrap(),
        "--target",
        &url,
        "--checkpoint",
        ck.to_str().unwrap(),
        "--timeout",
        "2",
        "--retry-for",
        "3",
        "--json",
        "-q",
    ]);
    wait_for_keys(&server, 20_000);
    let (out, waited) = hang_target_until_done(&server, child, cmdline);
    eprintln!(
        "hung target: the load ended {waited:?} after the target stopped, exit {}",
        out.code
    );
    assert_ne!(out.code, 0, "{}", out.describe());
    assert!(
        waited < Duration::from_secs(20),
        "the loader waited {waited:?}"
    );
    assert!(
        out.all_text().contains("timed out") || out.all_text().contains("unknown"),
        "{}",
        out.describe()
    );
    // It spoke up while waiting (within half of --timeout here), and ends
    // with the command that finishes the job.
    assert!(
        out.all_text().contains("has not replied for 1 s")
            && out.all_text().contains("fail at about"),
        "no warning of the silent target: {}",
        out.describe()
    );
    assert!(
        out.summary()["next_step"]
            .as_str()
            .is_some_and(|x| x.contains("--resume")),
        "{}",
        out.describe()
    );
    let out = load(&rdb, &url, &["--resume", ck.to_str().unwrap()]);
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    assert_eq!(n(&s, "conflicts"), 0, "{s}");
    assert_eq!(server.conn().int(["DBSIZE"]), KEYS as i64);
    let out = rdbkit(&[
        "verify",
        rdb.to_str().unwrap(),
        "--target",
        &url,
        "--json",
        "-q",
    ]);
    assert_eq!(out.code, 0, "verify: {}", out.describe());
}

/// Stops the target (SIGSTOP) while the load in `child` runs, waits for the
/// load to end (60 s at most), and lets the target go on (SIGCONT). Returns
/// the load's output and how long it ran after the target stopped.
fn hang_target_until_done(
    server: &Server,
    child: std::process::Child,
    cmdline: String,
) -> (Out, Duration) {
    let pid = server.pid().to_string();
    let sig = |s: &str| {
        assert!(std::process::Command::new("kill")
            .args([s, &pid])
            .status()
            .unwrap()
            .success());
    };
    sig("-STOP");
    let stopped_at = Instant::now();
    let out = wait_child(child, cmdline, Duration::from_secs(60));
    let waited = stopped_at.elapsed();
    sig("-CONT");
    (out, waited)
}

/// Waits until a load has put `n` keys into the target.
fn wait_for_keys(server: &Server, n: i64) {
    let started = Instant::now();
    while server.conn().int(["DBSIZE"]) < n {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load does not start"
        );
        sleep(Duration::from_millis(5));
    }
}

/// `rdbkit verify` of `rdb` against `url`: every one of `keys` matches.
fn verify_matches_all(rdb: &Path, url: &str, keys: u64) {
    let out = rdbkit(&[
        "verify",
        rdb.to_str().unwrap(),
        "--target",
        url,
        "--json",
        "-q",
    ]);
    assert_eq!(out.code, 0, "verify: {}", out.describe());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["matched"], keys, "{v}");
}

/// The target crashes (SIGKILL) mid-load and comes back from its AOF while
/// the load goes on: the loader reconnects, re-checks by DUMP each key
/// whose reply was lost (under `panic`: a key of ours is not a conflict),
/// and finishes with every key in place — no --resume needed.
#[test]
fn load_rides_out_a_target_crash() {
    const KEYS: u64 = 400_000;
    let tmp = TempDir::new("target-crash-ride");
    let rdb = populated_rdb(&tmp, &[(KEYS, "key")]);
    let mut server = Server::start_with(ServerOpts {
        args: vec![
            "--appendonly".into(),
            "yes".into(),
            "--appendfsync".into(),
            "always".into(),
        ],
        ..Default::default()
    });
    let url = server.url();
    let (child, cmdline) = spawn_rdbkit(&[
        "load",
        rdb.to_str().unwrap(),
        "--target",
        &url,
        "--on-conflict",
        "panic",
        "--json",
        "-q",
    ]);
    wait_for_keys(&server, 20_000);
    let before = Instant::now();
    server.crash_and_restart();
    let survived = server.conn().int(["DBSIZE"]);
    eprintln!(
        "target crashed and restarted in {:?} with {survived} keys",
        before.elapsed()
    );
    assert!((survived as u64) < KEYS, "the crash came too late");
    let out = wait_child(child, cmdline, Duration::from_secs(120));
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    eprintln!("load across a target crash: {s}");
    assert!(n(&s, "reconnects") >= 1, "no connection was lost: {s}");
    assert_eq!(n(&s, "conflicts"), 0, "{s}");
    assert_eq!(n(&s, "failed"), 0, "{s}");
    assert_eq!(n(&s, "loaded"), KEYS, "{s}");
    assert_eq!(server.conn().int(["DBSIZE"]), KEYS as i64);
    verify_matches_all(&rdb, &url, KEYS);
}

/// A target still loading its own dataset answers `-LOADING`, and one
/// running a slow script answers `-BUSY`: the loader waits (back-off, no
/// busy loop of the main thread) and every key arrives.
#[test]
fn load_waits_for_loading_and_busy_targets() {
    const KEYS: u64 = 200_000;
    let tmp = TempDir::new("loading");
    let own = populated_rdb(&tmp, &[(20_000, "own")]);
    let own2 = tmp.join("own.rdb");
    std::fs::rename(&own, &own2).unwrap();
    let rdb = populated_rdb(&tmp, &[(KEYS, "key")]);

    // LOADING: 20,000 keys at 150 µs each keep the server loading ~3 s.
    let server = Server::start_with(ServerOpts {
        rdb: Some(own2.clone()),
        loading_ok: true,
        args: vec![
            "--key-load-delay".into(),
            "150".into(),
            "--loading-process-events-interval-bytes".into(),
            "1024".into(),
        ],
        ..Default::default()
    });
    let url = server.url();
    let loading = |c: &mut support::resp::Conn| matches!(c.try_cmd(["DBSIZE"]), Ok(support::resp::Reply::Error(e)) if e.starts_with("LOADING"));
    assert!(loading(&mut server.conn()), "the target is not loading");
    let out = load(&rdb, &url, &[]);
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    eprintln!("load into a LOADING target: {s}");
    assert!(n(&s, "retries") > 0, "no LOADING reply was met: {s}");
    assert_eq!(n(&s, "loaded"), KEYS, "{s}");
    assert_eq!(server.conn().int(["DBSIZE"]), (KEYS + 20_000) as i64);
    verify_matches_all(&rdb, &url, KEYS);

    // BUSY: a script spins for 1.5 s in the middle of the load.
    let server = Server::start_with(ServerOpts {
        args: vec!["--busy-reply-threshold".into(), "100".into()],
        ..Default::default()
    });
    let url = server.url();
    let (child, cmdline) = spawn_rdbkit(&[
        "load",
        rdb.to_str().unwrap(),
        "--target",
        &url,
        "--json",
        "-q",
    ]);
    wait_for_keys(&server, 10_000);
    let mut c = server.conn();
    let r = c.try_cmd([
        "EVAL",
        "local t0 = redis.call('TIME') local n = 0 \
         while true do n = n + 1 local t = redis.call('TIME') \
         if (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > 1500000 then return n end end",
        "0",
    ]);
    assert!(
        matches!(r, Ok(support::resp::Reply::Int(_))),
        "the script: {r:?}"
    );
    let out = wait_child(child, cmdline, Duration::from_secs(120));
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    eprintln!("load into a BUSY target: {s}");
    assert!(n(&s, "retries") > 0, "no BUSY reply was met: {s}");
    assert_eq!(n(&s, "conflicts"), 0, "{s}");
    assert_eq!(n(&s, "loaded"), KEYS, "{s}");
    verify_matches_all(&rdb, &url, KEYS);
}

/// A master of a cluster (3 masters, 3 replicas) is killed mid-load; its
/// replica takes over. The loader re-reads the slot map through a node that
/// is still up, reconnects to the new master, re-checks the keys whose
/// replies were lost, and finishes: every key is in the cluster.
#[test]
fn load_survives_a_cluster_failover() {
    const KEYS: u64 = 300_000;
    let tmp = TempDir::new("failover");
    let rdb = populated_rdb(&tmp, &[(KEYS, "key")]);
    let mut cluster = Cluster::start_with(6, 1, &["--cluster-node-timeout", "1000"]);
    // Replicas in sync before the load.
    let started = Instant::now();
    loop {
        let synced = cluster.nodes.iter().all(|s| {
            let info = s.conn().info("replication");
            let role = info
                .iter()
                .find(|(k, _)| k == "role")
                .map(|(_, v)| v.clone());
            role.as_deref() != Some("slave")
                || info
                    .iter()
                    .any(|(k, v)| k == "master_link_status" && v == "up")
        });
        if synced {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "replicas not in sync"
        );
        sleep(Duration::from_millis(100));
    }
    let masters: Vec<usize> = (0..cluster.nodes.len())
        .filter(|&i| {
            cluster.nodes[i]
                .conn()
                .info("replication")
                .iter()
                .any(|(k, v)| k == "role" && v == "master")
        })
        .collect();
    assert_eq!(masters.len(), 3);
    // The seed address given to the loader is the master that will die.
    let victim = masters[0];
    let url = cluster.nodes[victim].url();
    let (child, cmdline) = spawn_rdbkit(&[
        "load",
        rdb.to_str().unwrap(),
        "--target",
        &url,
        "--json",
        "-q",
    ]);
    wait_for_keys(&cluster.nodes[masters[1]], 10_000);
    cluster.nodes[victim].kill();
    let killed = Instant::now();
    let out = wait_child(child, cmdline, Duration::from_secs(180));
    eprintln!(
        "failover: the load ended {:?} after the kill",
        killed.elapsed()
    );
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    eprintln!("load across a cluster failover: {s}");
    assert!(n(&s, "reconnects") >= 1, "{s}");
    assert_eq!(n(&s, "conflicts"), 0, "{s}");
    assert_eq!(n(&s, "failed"), 0, "{s}");
    assert_eq!(n(&s, "loaded"), KEYS, "{s}");
    let alive = cluster.nodes[masters[1]].url();
    verify_matches_all(&rdb, &alive, KEYS);

    // --wait-replicas 1: a key counts once a replica of its master has it.
    drop(cluster);
    let master = Server::start();
    let replica = Server::start_with(ServerOpts {
        args: vec![
            "--replicaof".into(),
            "127.0.0.1".into(),
            master.port.to_string(),
        ],
        ..Default::default()
    });
    let started = Instant::now();
    while replica
        .conn()
        .info_field("replication", "master_link_status")
        .as_deref()
        != Some("up")
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "replica not in sync"
        );
        sleep(Duration::from_millis(50));
    }
    let out = load(&rdb, &master.url(), &["--wait-replicas", "1"]);
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    assert_eq!(n(&s, "loaded"), KEYS, "{s}");
    // Every key the loader counted is on the replica already.
    assert_eq!(replica.conn().int(["DBSIZE"]), KEYS as i64);

    // Without a replica, nothing is confirmed: every key fails, and says why.
    let lone = Server::start();
    let fixture = common::fixture(DEFAULT_RDB);
    let out = load(
        &fixture,
        &lone.url(),
        &[
            "--wait-replicas",
            "1",
            "--wait-timeout",
            "50",
            "--max-errors",
            "100000",
        ],
    );
    assert_eq!(out.code, 4, "{}", out.describe());
    let s = out.summary();
    check_summary(&s, false);
    assert_eq!(n(&s, "loaded"), 0, "{s}");
    assert!(n(&s, "failed") > 0, "{s}");
    for (kind, _) in s["errors_by_kind"].as_object().unwrap() {
        assert!(kind.contains("not confirmed by enough replicas"), "{kind}");
    }
}

/// The target drops the loader's connections (`CLIENT KILL`) in the middle
/// of pipelines: the commands it had executed lose their replies. The
/// loader reconnects; a RESTORE whose reply was lost is re-checked by DUMP
/// (found identical: loaded, not a conflict), a command-mode key under
/// `rewrite` is written again, and under `panic` a command-mode key found
/// there afterwards is reported failed (it could be incomplete), never
/// counted as loaded or as the target's own key.
#[test]
fn load_reconnects_after_dropped_connections() {
    const KEYS: u64 = 400_000;
    let tmp = TempDir::new("client-kill");
    let rdb = populated_rdb(&tmp, &[(KEYS, "key")]);
    let server = Server::start();
    let url = server.url();
    let run = |extra: &[&str]| {
        server.flush();
        let mut args = vec![
            "load",
            rdb.to_str().unwrap(),
            "--target",
            &url,
            "--json",
            "-q",
        ];
        args.extend(extra);
        let (child, cmdline) = spawn_rdbkit(&args);
        wait_for_keys(&server, 20_000);
        let mut c = server.conn();
        let mut kills = 0;
        for _ in 0..4 {
            if let Ok(support::resp::Reply::Int(n)) =
                c.try_cmd(["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"])
            {
                kills += n;
            }
            sleep(Duration::from_millis(80));
        }
        let out = wait_child(child, cmdline, Duration::from_secs(120));
        let s = out.summary();
        check_summary(&s, false);
        eprintln!("{extra:?}: {kills} connections killed: {s}");
        assert!(n(&s, "reconnects") >= 1, "{s}");
        (out, s)
    };

    let (out, s) = run(&["--on-conflict", "panic"]);
    out.expect_code(0);
    assert_eq!(n(&s, "conflicts"), 0, "{s}");
    assert_eq!(n(&s, "failed"), 0, "{s}");
    assert_eq!(n(&s, "loaded"), KEYS, "{s}");
    verify_matches_all(&rdb, &url, KEYS);

    // A key whose existence probe lost its reply too cannot be told from
    // a key that was there before: it counts as rewritten (never as loaded
    // over someone else's key). At most a pipeline window per lost connection.
    let (out, s) = run(&["--on-conflict", "rewrite", "--mode", "commands"]);
    out.expect_code(0);
    assert_eq!(n(&s, "failed"), 0, "{s}");
    assert_eq!(n(&s, "loaded") + by_action(&s, "rewritten"), KEYS, "{s}");
    assert!(n(&s, "conflicts") <= 4096 * n(&s, "reconnects"), "{s}");
    verify_matches_all(&rdb, &url, KEYS);

    let (out, s) = run(&[
        "--on-conflict",
        "panic",
        "--mode",
        "commands",
        "--max-errors",
        "1000000",
    ]);
    assert!(out.code == 0 || out.code == 4, "{}", out.describe());
    assert_eq!(n(&s, "loaded") + n(&s, "failed"), KEYS, "{s}");
    assert_eq!(n(&s, "conflicts"), 0, "{s}");
    for (kind, _) in s["errors_by_kind"].as_object().unwrap() {
        assert!(kind.contains("perhaps incomplete"), "{kind}");
    }
}

// ---------------------------------------------------------------------------
// Disaster-recovery paths: what the README's recipes promise
// ---------------------------------------------------------------------------

/// A reference digest: a server that loaded `rdb` itself at start-up.
fn digest_of_file(rdb: &Path) -> String {
    let s = Server::start_with(ServerOpts {
        rdb: Some(rdb.to_path_buf()),
        args: vec!["--enable-debug-command".into(), "yes".into()],
        ..Default::default()
    });
    let mut c = s.conn();
    c.must(["DEBUG", "DIGEST"]).text()
}

fn debug_server(extra: &[&str]) -> Server {
    let mut args: Vec<String> = vec!["--enable-debug-command".into(), "yes".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    Server::start_with(ServerOpts {
        args,
        ..Default::default()
    })
}

/// An RDB rich in values a server re-encodes when it restores them:
/// hashtable sets (members dumped in the server's own hash order),
/// skiplist zsets and hashtable hashes, plus plain strings.
fn reencoded_rdb(dir: &TempDir, n: usize, strings: u64) -> PathBuf {
    let gen = debug_server(&[]);
    let mut c = gen.conn();
    c.ok(["DEBUG", "POPULATE", &strings.to_string(), "str", "50"]);
    for i in 0..n {
        let mut set = vec!["SADD".to_string(), format!("set:{i:06}")];
        let mut zset = vec!["ZADD".to_string(), format!("zset:{i:06}")];
        let mut hash = vec!["HSET".to_string(), format!("hash:{i:06}")];
        for m in 0..300 {
            set.push(format!("member-{}-{m}", i * 7919 % 1000));
            zset.push(format!("{}", (m * 37 % 101) as f64 / 3.0));
            zset.push(format!("z{m}"));
            hash.push(format!("field{m}"));
            hash.push(format!("value-{i}-{m}"));
        }
        c.cmd(set);
        c.cmd(zset);
        c.cmd(hash);
    }
    c.ok(["SAVE"]);
    let p = dir.join("reencoded.rdb");
    std::fs::copy(gen.dir.join("dump.rdb"), &p).expect("copy dump.rdb");
    p
}

/// The offset of the first key record of an RDB file (a record boundary a
/// crafted checkpoint can name).
fn first_key_offset(rdb: &Path) -> u64 {
    use rdbkit::rdb::records::{Item, ParseOptions, Parser};
    let data = std::fs::read(rdb).unwrap();
    let mut p = Parser::new(
        &data,
        ParseOptions {
            verify_checksum: false,
        },
    )
    .unwrap();
    loop {
        let before = p.offset();
        match p.next_item().unwrap() {
            Some(Item::Key(r)) => return r.offset,
            Some(_) => {}
            None => panic!("no key in {} (after {before})", rdb.display()),
        }
    }
}

/// Issue: a resume skipped the keys that had failed (out of memory) and
/// exited 0. Now a failed key is never done: the resume retries it, the
/// summary says how many, the whole-job totals add up to the file, and the
/// target ends with the digest of a complete load.
#[test]
fn resume_retries_keys_that_failed_out_of_memory() {
    const KEYS: u64 = 300_000;
    let tmp = TempDir::new("oom-resume");
    let rdb = populated_rdb(&tmp, &[(KEYS, "key")]);
    let want = digest_of_file(&rdb);
    let server = debug_server(&["--maxmemory", "20mb", "--maxmemory-policy", "noeviction"]);
    let url = server.url();
    let ck = tmp.join("oom.checkpoint");
    let ck_s = ck.to_str().unwrap();
    let out = load(&rdb, &url, &["--checkpoint", ck_s]);
    out.expect_code(4);
    let s = out.summary();
    check_summary(&s, false);
    let failed = n(&s, "failed");
    assert!(failed > 0, "{s}");
    assert_eq!(s["ending"], "stopped-on-errors", "{s}");
    assert!(s["next_step"].as_str().unwrap().contains("--resume"), "{s}");
    let ckv: Value = serde_json::from_str(&std::fs::read_to_string(&ck).unwrap()).unwrap();
    assert_eq!(
        ckv["files"][0]["failed"].as_array().unwrap().len() as u64,
        failed,
        "the checkpoint keeps every failed key: {ckv}"
    );
    server.conn().ok(["CONFIG", "SET", "maxmemory", "0"]);
    let out = load(&rdb, &url, &["--resume", ck_s]);
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    assert_eq!(n(&s, "retried"), failed, "every failed key is retried: {s}");
    assert_eq!(n(&s, "failed"), 0, "{s}");
    let t = &s["totals"];
    assert_eq!(t["loaded"], KEYS, "whole-job totals: {s}");
    assert_eq!(t["runs"], 2, "{s}");
    assert_eq!(t["failed"], 0, "{s}");
    assert_eq!(n(&s, "never_sent"), 0, "{s}");
    assert_eq!(server.conn().int(["DBSIZE"]), KEYS as i64);
    assert_eq!(server.conn().must(["DEBUG", "DIGEST"]).text(), want);
}

/// Issue: the out-of-memory recipe lost 83% of the data and the text
/// summary never said the load had stopped. Now the first line says why it
/// stopped and how many keys were never sent, and the command it gives
/// (a rerun with `--on-conflict ignore`: no checkpoint here) completes the
/// load once memory is raised.
#[test]
fn out_of_memory_stop_says_so_and_its_recipe_completes_the_load() {
    const KEYS: u64 = 300_000;
    let tmp = TempDir::new("oom-recipe");
    let rdb = populated_rdb(&tmp, &[(KEYS, "key")]);
    let want = digest_of_file(&rdb);
    let server = debug_server(&["--maxmemory", "20mb", "--maxmemory-policy", "noeviction"]);
    let url = server.url();
    let out = rdbkit(&["load", rdb.to_str().unwrap(), "--target", &url]);
    assert_eq!(out.code, 4, "{}", out.describe());
    let err = out.stderr.clone();
    let first = err.lines().next().unwrap_or("");
    assert!(
        first.starts_with("STOPPED after") && first.contains("never sent"),
        "first line of the summary: {err}"
    );
    let never: u64 = first
        .split("; ")
        .nth(1)
        .and_then(|x| x.split(' ').next())
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("no count of keys never sent: {first}"));
    let held = server.conn().int(["DBSIZE"]) as u64;
    assert!(
        never > 0 && held + never <= KEYS,
        "{first} (target holds {held})"
    );
    let next = err
        .lines()
        .find_map(|l| l.strip_prefix("to finish the job: "))
        .unwrap_or_else(|| panic!("no next step: {err}"));
    assert!(next.contains("--on-conflict ignore"), "{next}");
    // The recipe: raise the limit, run the command given.
    server.conn().ok(["CONFIG", "SET", "maxmemory", "0"]);
    let words: Vec<&str> = next.split("   (").next().unwrap().split(' ').collect();
    assert_eq!(words[0], "rdbkit");
    let out = rdbkit(&words[1..]);
    assert_eq!(out.code, 0, "{}", out.describe());
    assert_eq!(server.conn().int(["DBSIZE"]), KEYS as i64);
    assert_eq!(server.conn().must(["DEBUG", "DIGEST"]).text(), want);
}

/// Issue: a resume under the default `panic` stopped on keys rdbkit had
/// written itself, because the server re-encodes some values (a hashtable
/// set's DUMP lists its members in its own order). Every key of the file is
/// marked in flight by a crafted checkpoint; the resume finds each one
/// identical by value, reports no conflict and exits 0.
#[test]
fn resume_finds_reencoded_keys_identical() {
    let tmp = TempDir::new("reencoded");
    let rdb = reencoded_rdb(&tmp, 300, 20_000);
    let server = Server::start();
    let url = server.url();
    let ck = tmp.join("all-in-flight.checkpoint");
    let out = load(&rdb, &url, &["--checkpoint", ck.to_str().unwrap()]);
    out.expect_code(0);
    let total = n(&out.summary(), "loaded");
    // The bytes differ for some keys (else this test proves nothing).
    let mut c = server.conn();
    let dumped = c.must(["DUMP", "set:000001"]).bytes();
    let file = std::fs::read(&rdb).unwrap();
    assert!(
        !file
            .windows(dumped.len() - 10)
            .any(|w| w == &dumped[..dumped.len() - 10]),
        "the server dumped set:000001 with the file's own bytes"
    );
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&ck).unwrap()).unwrap();
    let f = &mut v["files"][0];
    f["acked"] = first_key_offset(&rdb).into();
    f["sent"] = (file.len() as u64).into();
    f["done"] = Value::Array(vec![]);
    f["complete"] = false.into();
    std::fs::write(&ck, v.to_string()).unwrap();
    let out = load(&rdb, &url, &["--resume", ck.to_str().unwrap()]);
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    assert_eq!(n(&s, "conflicts"), 0, "{s}");
    assert_eq!(n(&s, "resumed_identical"), total, "{s}");
}

/// Issue: a resume with other options was taken without a word. The
/// checkpoint records them; a resume that differs is refused (exit 2),
/// naming each difference, unless confirmed with --resume-changed.
#[test]
fn resume_with_other_options_is_refused_unless_confirmed() {
    let tmp = TempDir::new("resume-options");
    let rdb = populated_rdb(&tmp, &[(50_000, "key")]);
    let server = debug_server(&["--maxmemory", "3mb", "--maxmemory-policy", "noeviction"]);
    let url = server.url();
    let ck = tmp.join("options.checkpoint");
    let ck_s = ck.to_str().unwrap();
    load(&rdb, &url, &["--checkpoint", ck_s]).expect_code(4);
    server.conn().ok(["CONFIG", "SET", "maxmemory", "0"]);
    let held = server.conn().int(["DBSIZE"]);
    let out = load(
        &rdb,
        &url,
        &[
            "--resume",
            ck_s,
            "--on-conflict",
            "rewrite",
            "--not-key",
            "x*",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.describe());
    assert_eq!(
        server.conn().int(["DBSIZE"]),
        held,
        "a refused resume wrote keys"
    );
    let text = out.all_text();
    assert!(
        text.contains("on_conflict: stopped in the checkpoint, rewritten now")
            && text.contains("filters:")
            && text.contains("--resume-changed"),
        "{text}"
    );
    let out = load(
        &rdb,
        &url,
        &[
            "--resume",
            ck_s,
            "--on-conflict",
            "rewrite",
            "--resume-changed",
        ],
    );
    out.expect_code(0);
    assert_eq!(server.conn().int(["DBSIZE"]), 50_000);
}

/// Issue: the stop message's "N keys were loaded before the stop" disagreed
/// with the summary's count. Now one count: the message gives the final
/// number loaded and how many of them came after the conflicting key.
#[test]
fn conflict_stop_message_agrees_with_the_summary() {
    let tmp = TempDir::new("conflict-count");
    let rdb = populated_rdb(&tmp, &[(200_000, "key")]);
    let server = Server::start();
    let url = server.url();
    server.conn().ok(["SET", "key:1000", "theirs"]);
    let out = load(&rdb, &url, &[]);
    out.expect_code(3);
    let s = out.summary();
    check_summary(&s, false);
    let stop = s["stop"].as_str().unwrap().to_string();
    let loaded = n(&s, "loaded");
    assert!(
        stop.contains(&format!("{loaded} keys loaded in all")),
        "stop message {stop:?} vs loaded {loaded}"
    );
    assert!(stop.contains("\"key:1000\""), "{stop}");
    assert_eq!(server.conn().int(["DBSIZE"]) as u64, loaded + 1);
}

/// Issue: the big-keys summary sent a key as commands without saying why.
/// Now the summary names the key and the reason.
#[test]
fn keys_sent_as_commands_for_their_size_are_named() {
    let tmp = TempDir::new("big-named");
    let gen = Server::start();
    let mut c = gen.conn();
    let mut cmd = vec!["RPUSH".to_string(), "biglist".to_string()];
    cmd.extend((0..5000).map(|i| format!("element-{i}")));
    c.cmd(cmd);
    c.ok(["SET", "small", "x"]);
    c.ok(["SAVE"]);
    let rdb = tmp.join("big.rdb");
    std::fs::copy(gen.dir.join("dump.rdb"), &rdb).unwrap();
    let server = Server::start();
    let out = load(&rdb, &server.url(), &["--max-restore-bytes", "1000"]);
    out.expect_code(0);
    let s = out.summary();
    assert_eq!(n(&s, "as_commands"), 1, "{s}");
    let notes = s["notes"].as_array().unwrap();
    assert!(
        notes.iter().any(|x| {
            let t = x.as_str().unwrap();
            t.contains("\"biglist\"") && t.contains("over --max-restore-bytes 1000")
        }),
        "{s}"
    );
}

/// Ten rounds of `load --checkpoint` (then `--resume`) killed with SIGKILL
/// 150–450 ms in (deterministic pseudo-random times). Returns how many
/// rounds were killed, the acknowledged offset after each, and the exit
/// codes of the rounds that ended by themselves.
fn kill_resume_rounds(rdb: &Path, server: &Server, ck: &Path) -> (u32, Vec<u64>, Vec<i32>) {
    let url = server.url();
    let ck_s = ck.to_str().unwrap().to_string();
    let mut killed = 0;
    let mut offsets = Vec::new();
    let mut codes = Vec::new();
    // Deterministic "random" kill times (xorshift), spread over the load.
    let mut x: u64 = 0x9E3779B97F4A7C15;
    for round in 0..10 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = 150 + x % 300;
        let mut args = vec![
            "load".to_string(),
            rdb.to_str().unwrap().into(),
            "--target".into(),
            url.clone(),
            "--json".into(),
            "-q".into(),
        ];
        if round == 0 {
            args.extend(["--checkpoint".into(), ck_s.clone()]);
        } else {
            args.extend(["--resume".into(), ck_s.clone()]);
        }
        let (mut child, cmdline) = spawn_rdbkit(&args);
        sleep(Duration::from_millis(delay));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        let out = wait_child(child, cmdline, Duration::from_secs(60));
        if out.code != -1 {
            eprintln!(
                "round {round}: finished before the kill: {}",
                out.describe()
            );
            codes.push(out.code);
        }
        let text = std::fs::read_to_string(ck).unwrap_or_default();
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        offsets.push(v["files"][0]["acked"].as_u64().unwrap_or(0));
        eprintln!(
            "round {round}: killed after {delay} ms, DBSIZE {}, acknowledged up to {}",
            server.conn().int(["DBSIZE"]),
            offsets.last().unwrap()
        );
    }
    (killed, offsets, codes)
}

/// Issue: one rehearsal needed 48 resumes (47 exits 3) because keys in
/// flight at the kill were re-encoded by the server and then taken for
/// someone else's. Ten kill-and-resume rounds under the default `panic`
/// on a file rich in hashtable sets, skiplist zsets and big hashes: no
/// resume stops on a conflict, and the end state has the digest of a
/// complete load.
#[test]
fn resume_rounds_on_reencoded_values_never_conflict() {
    let tmp = TempDir::new("resume-reencoded");
    // Big enough that each round is killed mid-load on a quiet machine.
    let rdb = reencoded_rdb(&tmp, 4000, 1_000_000);
    let want = digest_of_file(&rdb);
    let server = debug_server(&[]);
    let ck = tmp.join("load.checkpoint");
    let (killed, offsets, codes) = kill_resume_rounds(&rdb, &server, &ck);
    eprintln!("reencoded: {killed} of 10 rounds killed; offsets {offsets:?}; exits {codes:?}");
    assert!(
        killed >= 5,
        "the load finished too soon to be killed: {killed}"
    );
    assert!(
        !codes.contains(&3),
        "a resume stopped on a conflict: {codes:?}"
    );
    let out = load(&rdb, &server.url(), &["--resume", ck.to_str().unwrap()]);
    out.expect_code(0);
    let s = out.summary();
    check_summary(&s, false);
    assert_eq!(n(&s, "conflicts"), 0, "{s}");
    assert_eq!(server.conn().must(["DEBUG", "DIGEST"]).text(), want);
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

/// Issue: a load that met a damaged file part-way had written a million
/// keys and printed only an error. Now the file is walked first: a
/// truncated file writes nothing. Without the walk (`--no-preflight`) the
/// summary is still printed, with every counter, how far the file was
/// read, and the keys written.
#[test]
fn damaged_file_writes_nothing_and_a_stop_still_reports() {
    let tmp = TempDir::new("damaged-load");
    let rdb = populated_rdb(&tmp, &[(300_000, "key")]);
    let data = std::fs::read(&rdb).unwrap();
    let cut = tmp.join("cut.rdb");
    std::fs::write(&cut, &data[..data.len() * 6 / 10]).unwrap();
    let server = Server::start();
    let url = server.url();
    let out = load(&cut, &url, &[]);
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(
        out.all_text().contains("nothing was written") && out.all_text().contains("offset"),
        "{}",
        out.describe()
    );
    assert_eq!(
        server.conn().int(["DBSIZE"]),
        0,
        "a damaged file wrote keys"
    );
    let out = load(&cut, &url, &["--no-preflight"]);
    assert_eq!(out.code, 1, "{}", out.describe());
    let s = out.summary();
    check_summary(&s, false);
    assert_eq!(s["ending"], "error", "{s}");
    let stop = s["stop"].as_str().unwrap();
    assert!(stop.contains("read up to byte offset"), "{stop}");
    let held = server.conn().int(["DBSIZE"]) as u64;
    assert!(held > 0 && n(&s, "loaded") == held, "{s} vs DBSIZE {held}");
}

/// Issue: under `panic`, keys after the conflicting one were still written
/// (the pipeline window). With `--preflight` every key is looked up first:
/// an existing key means nothing at all is written (exit 3), and the
/// conflicts file lists it.
#[test]
fn preflight_under_panic_writes_nothing_when_a_key_exists() {
    let tmp = TempDir::new("preflight-keys");
    let rdb = populated_rdb(&tmp, &[(100_000, "key")]);
    let server = Server::start();
    let url = server.url();
    server.conn().ok(["SET", "key:99999", "theirs"]);
    let cf = tmp.join("conflicts.jsonl");
    let out = load(
        &rdb,
        &url,
        &["--preflight", "--conflicts", cf.to_str().unwrap()],
    );
    out.expect_code(3);
    let s = out.summary();
    assert_eq!(s["ending"], "would-conflict", "{s}");
    assert_eq!(n(&s, "conflicts"), 1, "{s}");
    assert_eq!(server.conn().int(["DBSIZE"]), 1, "keys were written");
    let text = std::fs::read_to_string(&cf).unwrap();
    assert!(text.contains("\"key:99999\""), "{text}");
    // Without a conflict it loads.
    server.flush();
    load(&rdb, &url, &["--preflight"]).expect_code(0);
    assert_eq!(server.conn().int(["DBSIZE"]), 100_000);
}

/// Issue: `--dry-run`'s table said "would-conflict1" and "not attempted
/// 124" instead of "would load 124".
#[test]
fn dry_run_report_reads_right() {
    let tmp = TempDir::new("dry-text");
    let rdb = populated_rdb(&tmp, &[(1000, "key")]);
    let server = Server::start();
    server.conn().ok(["SET", "key:7", "theirs"]);
    let out = rdbkit(&[
        "load",
        rdb.to_str().unwrap(),
        "--target",
        &server.url(),
        "--dry-run",
    ]);
    assert_eq!(out.code, 3, "{}", out.describe());
    let text = out.stderr.clone();
    assert!(text.contains("would-conflict  "), "{text}");
    assert!(text.contains("would load      999"), "{text}");
    assert!(!text.contains("not attempted"), "{text}");
}

/// Issue: the progress bar showed "0 keys/s" and 100 % while keys were
/// still in flight. It now counts keys whose reply came back, out of the
/// keys the walk counted: seen through a terminal (`script` gives the load
/// a pseudo-terminal), the bar's last state before the end is below the
/// total while a slowed-down target still holds keys in flight.
#[test]
fn progress_follows_acknowledged_keys() {
    if !Path::new("/usr/bin/script").exists() {
        eprintln!("SKIPPED: /usr/bin/script (util-linux) is not installed");
        return;
    }
    let tmp = TempDir::new("progress");
    let rdb = populated_rdb(&tmp, &[(200_000, "key")]);
    let server = Server::start();
    let bin = env!("CARGO_BIN_EXE_rdbkit");
    let cmd = format!(
        "{bin} load {} --target {}",
        rdb.to_str().unwrap(),
        server.url()
    );
    let out = std::process::Command::new("/usr/bin/script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{screen}");
    // Frames look like "... 12,345/200,000 keys 98,765/s ETA ...".
    let frames: Vec<(u64, u64)> = screen
        .split(" keys ")
        .filter_map(|f| {
            let last = f.rsplit(' ').next()?;
            let (a, b) = last.split_once('/')?;
            let num = |x: &str| x.replace(',', "").parse::<u64>().ok();
            Some((num(a)?, num(b)?))
        })
        .collect();
    assert!(!frames.is_empty(), "no progress frames: {screen:?}");
    assert!(
        frames.iter().all(|(_, total)| *total == 200_000),
        "the total is the file's keys: {frames:?}"
    );
    assert!(
        frames.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress went back: {frames:?}"
    );
    assert!(screen.contains("/s"), "no rate shown: {screen:?}");
}

// ---------------------------------------------------------------------------
// --skip-corrupt: one decision for every command
// ---------------------------------------------------------------------------

type KeySet = BTreeSet<(u64, Vec<u8>)>;

fn json_keys(file: &Path) -> KeySet {
    let o = rdbkit(&["json", &file.display().to_string(), "-q", "--skip-corrupt"]);
    common::parse_jsonl(&o.stdout)
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["db"].as_u64().unwrap(),
                common::bytes_of(&l["key"]).unwrap(),
            )
        })
        .collect()
}

fn resp_keys(file: &Path) -> KeySet {
    let o = rdbkit(&[
        "resp",
        &file.display().to_string(),
        "-q",
        "--skip-corrupt",
        "--keep-expired",
    ]);
    let mut db = 0;
    let mut out = KeySet::new();
    for c in parse_command_stream(&o.stdout).unwrap() {
        match command_name(&c).as_str() {
            "SELECT" => db = String::from_utf8_lossy(&c[1]).parse().unwrap(),
            "RESTORE" => {
                out.insert((db, c[1].clone()));
            }
            _ => {}
        }
    }
    out
}

fn server_keys(s: &Server) -> KeySet {
    let mut c = s.conn();
    let mut out = KeySet::new();
    for db in 0..16u64 {
        c.must(["SELECT", &db.to_string()]);
        for k in c.must(["KEYS", "*"]).array() {
            out.insert((db, k.bytes()));
        }
    }
    out
}

/// A damaged file (one value that does not decode, one record the walk
/// cannot pass): `json`, `resp` and `load` (into a real server) leave out
/// exactly the same keys, and `verify` of what was loaded finds nothing
/// missing or different. Before, `load` and `resp` sent the broken value as
/// a RESTORE payload while `json` left it out.
#[test]
fn skip_corrupt_leaves_out_the_same_keys_everywhere() {
    use rdbkit::rdb::records::{Item, ParseOptions, Parser};
    let clean_path = common::fixture("redis-7.0.15/default.rdb");
    let data = common::read(&clean_path);
    let mut recs = Vec::new();
    let mut p = Parser::new(&data, ParseOptions::default()).unwrap();
    while let Some(item) = p.next_item().unwrap() {
        if let Item::Key(r) = item {
            recs.push((
                r.type_byte,
                r.value_offset as usize,
                r.end_offset() as usize,
            ));
        }
    }
    let mut bad = data.clone();
    // A listpack hash (type 16): its terminator broken, the walk passes.
    let lp = recs.iter().find(|r| r.0 == 16).unwrap();
    bad[lp.2 - 1] ^= 0xFF;
    // A string further on: its length byte made an encoding that does not exist.
    let s = recs.iter().filter(|r| r.0 == 0).nth(20).unwrap();
    bad[s.1] = 0xC7;
    let dir = TempDir::new("skipsame");
    let bad_path = dir.join("bad.rdb");
    std::fs::write(&bad_path, &bad).unwrap();

    let left_out = |all: &KeySet, some: &KeySet| -> KeySet {
        assert!(
            some.is_subset(all),
            "keys appeared that the file does not hold"
        );
        all.difference(some).cloned().collect()
    };
    let json_lost = left_out(&json_keys(&clean_path), &json_keys(&bad_path));
    assert!(json_lost.len() >= 2, "{json_lost:?}");
    let resp_lost = left_out(&resp_keys(&clean_path), &resp_keys(&bad_path));
    assert_eq!(resp_lost, json_lost, "resp");

    let clean_server = Server::start();
    load(&clean_path, &clean_server.url(), &["--keep-expired"]).expect_code(0);
    let server = Server::start();
    let o = load(
        &bad_path,
        &server.url(),
        &["--keep-expired", "--skip-corrupt"],
    );
    o.expect_code(6);
    let load_lost = left_out(&server_keys(&clean_server), &server_keys(&server));
    assert_eq!(load_lost, json_lost, "load: {}", o.describe());

    let v = rdbkit(&[
        "verify",
        &bad_path.display().to_string(),
        "--target",
        &server.url(),
        "--keep-expired",
        "--skip-corrupt",
        "-q",
    ]);
    assert_eq!(v.code, 6, "verify: {}", v.describe());
}

/// `json --meta | load` then `verify` against the original file: no
/// difference, for every fixture a Redis 7.0 takes as commands. Stream
/// entries keep their field order through JSON Lines (before, the loader's
/// JSON map re-sorted them: "event tick seq 0 bin" came back as "bin event
/// seq tick 0", and verify found the streams different).
#[test]
fn load_jsonl_then_verify_finds_no_difference() {
    let server = Server::start();
    let tmp = TempDir::new("jsonlverify");
    check_fixtures(
        "load_jsonl_then_verify",
        &command_mode_fixtures(),
        |i, rdb| {
            server.flush();
            let jl = tmp.join(&format!("{i}.jsonl"));
            let r = rdb.to_str().unwrap();
            let out = rdbkit(&["json", r, "--meta", "-o", jl.to_str().unwrap()]);
            if out.code != 0 {
                return Err(format!("json: {}", out.describe()));
            }
            let out = load(&jl, &server.url(), &["--lossy"]);
            if out.code != 0 {
                return Err(format!("load: {}", out.describe()));
            }
            let verify = || rdbkit(&["verify", r, "--target", &server.url(), "-q", "--json"]);
            let v = verify();
            if v.code == 0 {
                return Ok(1);
            }
            // What no command can set (a stream length beyond its entries)
            // differs after a direct command-mode load too: not JSONL's doing.
            server.flush();
            load(rdb, &server.url(), &["--lossy", "--mode", "commands"]);
            match verify().code {
                0 => Err(format!("verify: {}", v.describe())),
                _ => Ok(0),
            }
        },
    );
}

/// A server that wants a password and got none: the message says where a
/// password can come from (it said only "INFO failed: NOAUTH").
#[test]
fn noauth_says_where_a_password_comes_from() {
    let server = Server::start_with(ServerOpts {
        password: Some("sekret".into()),
        ..Default::default()
    });
    let f = common::fixture("redis-7.0.15/default.rdb");
    for cmd in ["load", "verify"] {
        let o = rdbkit(&[cmd, f.to_str().unwrap(), "-t", &server.addr(), "-q"]);
        assert_eq!(o.code, 1, "{}", o.describe());
        for hint in [
            "NOAUTH",
            "redis://:PASSWORD@",
            "--password-file",
            "REDISCLI_AUTH",
        ] {
            assert!(o.stderr.contains(hint), "{cmd}: {hint}: {}", o.stderr);
        }
    }
}

/// JSON Lines input errors name the line number and the field, in words
/// (it was `unknown type Some("strin")` and an offset).
#[test]
fn jsonl_errors_name_the_line_and_field() {
    let server = Server::start();
    let tmp = TempDir::new("jsonlerr");
    let good = r#"{"db":0,"key":"a","type":"string","value":"x"}"#;
    let cases = [
        (
            r#"{"db":0,"key":"b","type":"strin","value":"x"}"#,
            "field \"type\": \"strin\"",
        ),
        (
            r#"{"db":0,"key":5,"type":"string","value":"x"}"#,
            "field \"key\"",
        ),
        (r#"{"db":0,"key":"b",,}"#, "not valid JSON"),
    ];
    for (i, (line, want)) in cases.iter().enumerate() {
        let f = tmp.join(&format!("{i}.jsonl"));
        std::fs::write(&f, format!("{good}\n\n{line}\n")).unwrap();
        let o = rdbkit(&[
            "load",
            f.to_str().unwrap(),
            "-t",
            &server.url(),
            "-q",
            "--on-conflict",
            "rewrite",
        ]);
        assert_eq!(o.code, 1, "{}", o.describe());
        assert!(o.stderr.contains("line 3: "), "{}", o.stderr);
        assert!(o.stderr.contains(want), "{}", o.stderr);
        assert!(!o.stderr.contains("Some("), "{}", o.stderr);
    }
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
