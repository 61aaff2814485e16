//! Conflicts: the `--on-conflict` policies against seeded keys, duplicate
//! keys in one file, stopping (panic at a conflict, `--max-errors`) on a
//! file bigger than what can be in flight at once, the stop message, and
//! `--preflight` under `panic`.

use crate::util as support;
use crate::util::common;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use support::run::*;
use support::server::*;
use support::truth::*;

use super::{populated_rdb, DEFAULT_RDB};

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
