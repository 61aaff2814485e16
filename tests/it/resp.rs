//! `rdbkit resp`: the RESP command stream, replayed into a real Redis 7.0
//! with `redis-cli --pipe`, must leave the server equal to the fixture's
//! truth; plus REPLACE under `--replace`, expired keys, `--db` /
//! `--db-map` and LRU/LFU arguments.

use crate::util as support;
use crate::util::common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use support::resp::{command_name, parse_command_stream, Command};
use support::run::*;
use support::server::*;
use support::truth::*;

/// `rdbkit resp FILE -o OUT -q EXTRA...` → (output path, parsed commands).
fn resp(
    rdb: &Path,
    dir: &TempDir,
    name: &str,
    extra: &[&str],
) -> Result<(PathBuf, Vec<Command>), String> {
    let outp = dir.join(name);
    let mut args: Vec<String> = vec![
        "resp".into(),
        rdb.display().to_string(),
        "-o".into(),
        outp.display().to_string(),
        "-q".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let out = rdbkit(&args);
    if out.code != 0 {
        return Err(format!("exit {}: {}", out.code, out.describe()));
    }
    let data = std::fs::read(&outp).map_err(|e| format!("no output file: {e}"))?;
    let cmds =
        parse_command_stream(&data).map_err(|e| format!("not a RESP command stream: {e}"))?;
    Ok((outp, cmds))
}

/// One RESTORE of the stream with the DB it runs in (tracked through SELECT).
struct Restore {
    db: u64,
    key: Vec<u8>,
    ttl: i64,
    args: Vec<String>, // upper-cased options after the payload
    opt_values: Vec<Vec<u8>>,
}

fn restores(cmds: &[Command]) -> Result<Vec<Restore>, String> {
    let mut db = 0u64;
    let mut out = Vec::new();
    for (i, c) in cmds.iter().enumerate() {
        match command_name(c).as_str() {
            "SELECT" => {
                db = std::str::from_utf8(&c[1])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("command {i}: bad SELECT"))?;
            }
            "RESTORE" => {
                if c.len() < 4 {
                    return Err(format!("command {i}: RESTORE with {} arguments", c.len()));
                }
                let ttl = std::str::from_utf8(&c[2])
                    .ok()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("command {i}: bad RESTORE ttl"))?;
                out.push(Restore {
                    db,
                    key: c[1].clone(),
                    ttl,
                    args: c[4..]
                        .iter()
                        .map(|a| String::from_utf8_lossy(a).to_ascii_uppercase())
                        .collect(),
                    opt_values: c[4..].to_vec(),
                });
            }
            "FUNCTION RESTORE" => {}
            other => return Err(format!("command {i}: unexpected command {other}")),
        }
    }
    Ok(out)
}

fn function_restores(cmds: &[Command]) -> Vec<&Command> {
    cmds.iter()
        .filter(|c| command_name(c) == "FUNCTION RESTORE")
        .collect()
}

/// Checks the RESTOREs of a stream against truth lines: one per key, in
/// the right DB, TTL = expire_ms (0 when none), ABSTTL present.
fn check_restores(rs: &[Restore], truth: &[Value]) -> Result<(), String> {
    let want: BTreeMap<(u64, Vec<u8>), i64> = truth
        .iter()
        .map(|l| {
            (
                common::ident(l).unwrap(),
                l["expire_ms"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    let mut seen = BTreeMap::new();
    for r in rs {
        let id = (r.db, r.key.clone());
        match want.get(&id) {
            None => {
                return Err(format!(
                    "RESTORE of {}, not a live key of the truth",
                    common::ident_str(&id)
                ))
            }
            Some(&ttl) if ttl != r.ttl => {
                return Err(format!(
                    "RESTORE {}: ttl {}, truth expire_ms {ttl}",
                    common::ident_str(&id),
                    r.ttl
                ))
            }
            _ => {}
        }
        if !r.args.iter().any(|a| a == "ABSTTL") && r.ttl != 0 {
            return Err(format!("RESTORE {} without ABSTTL", common::ident_str(&id)));
        }
        *seen.entry(id).or_insert(0) += 1;
    }
    if seen.len() != want.len() || seen.values().any(|&c| c != 1) {
        return Err(format!(
            "{} RESTOREs for {} distinct keys; truth has {}",
            rs.len(),
            seen.len(),
            want.len()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// every eligible fixture through redis-cli --pipe
// ---------------------------------------------------------------------------

#[test]
fn resp_pipe_matches_truth() {
    let server = Server::start();
    let dir = TempDir::new("resp");
    let fixtures = eligible_fixtures();
    let mut failures = Vec::new();
    let mut keys = 0;
    for (i, rdb) in fixtures.iter().enumerate() {
        server.flush();
        let r = attempt(|| {
            let truth = expected(rdb);
            let (path, cmds) = resp(rdb, &dir, &format!("{i}.resp"), &[])?;
            let rs = restores(&cmds)?;
            check_restores(&rs, &truth)?;
            if let Some(r) = rs.iter().find(|r| {
                r.args
                    .iter()
                    .any(|a| a == "REPLACE" || a == "IDLETIME" || a == "FREQ")
            }) {
                return Err(format!("default output has RESTORE options {:?}", r.args));
            }
            let nf = function_restores(&cmds).len();
            if nf != expected_functions(rdb).len() {
                return Err(format!(
                    "{nf} FUNCTION RESTORE commands, truth has {} libraries",
                    expected_functions(rdb).len()
                ));
            }
            let (code, errors, replies, text) = pipe(server.port, &path);
            if code != 0 || errors != 0 || replies != cmds.len() as u64 {
                return Err(format!(
                    "redis-cli --pipe ({} commands): {text}",
                    cmds.len()
                ));
            }
            let mut c = server.conn();
            let k = compare_lines(&dump_server(&mut c), &truth)?;
            compare_functions(&mut c, rdb)?;
            Ok(k)
        });
        match r {
            Ok(k) => keys += k,
            Err(e) => failures.push(format!("{}: {e}", common::rel(rdb))),
        }
    }
    eprintln!(
        "resp_pipe_matches_truth: {} of {} fixtures equal to their truth after redis-cli --pipe ({keys} keys)",
        fixtures.len() - failures.len(),
        fixtures.len()
    );
    report("resp_pipe_matches_truth", &failures, fixtures.len());
}

/// Standard output is the same stream as `-o`.
#[test]
fn resp_stdout_equals_output_file() {
    let rdb = common::fixture("redis-7.0.15/default.rdb");
    let dir = TempDir::new("resp-stdout");
    let (path, _) = resp(&rdb, &dir, "o.resp", &[]).unwrap();
    let out = rdbkit(&["resp", rdb.to_str().unwrap(), "-q"]);
    out.expect_code(0);
    assert!(
        out.stdout == std::fs::read(&path).unwrap(),
        "`rdbkit resp` to stdout differs from -o ({} vs {} bytes)",
        out.stdout.len(),
        std::fs::metadata(&path).unwrap().len()
    );
}

// ---------------------------------------------------------------------------
// expired keys
// ---------------------------------------------------------------------------

#[test]
fn resp_expired_keys() {
    let rdb = common::fixture("redis-7.0.15/expired.rdb");
    let truth = expected(&rdb);
    let expired = expired_keys(&rdb);
    assert!(!expired.is_empty());
    let dir = TempDir::new("resp-exp");
    let server = Server::start();

    let (_, cmds) = resp(&rdb, &dir, "default.resp", &[]).unwrap();
    let rs = restores(&cmds).unwrap();
    check_restores(&rs, &truth).unwrap_or_else(|e| panic!("default (expired keys skipped): {e}"));

    // --keep-expired: restored too, without their (past) expiry
    let (path, cmds) = resp(&rdb, &dir, "keep.resp", &["--keep-expired"]).unwrap();
    let rs = restores(&cmds).unwrap();
    let mut all = truth.clone();
    all.extend(expired.iter().map(|l| {
        let mut l = l.clone();
        l["expire_ms"] = Value::Null;
        l
    }));
    sort_lines(&mut all);
    check_restores(&rs, &all).unwrap_or_else(|e| panic!("--keep-expired: {e}"));
    let (code, errors, _, text) = pipe(server.port, &path);
    assert!(code == 0 && errors == 0, "redis-cli --pipe: {text}");
    compare_lines(&dump_server(&mut server.conn()), &all).unwrap();
}

// ---------------------------------------------------------------------------
// REPLACE under --replace
// ---------------------------------------------------------------------------

const SEEDS: [(u64, &str, &str); 3] = [
    (0, "str:short", "seeded-1"),
    (0, "list:small", "seeded-2"),
    (15, "db15:hash", "seeded-3"),
];
const EXTRA: (u64, &str, &str) = (0, "seed:extra", "untouched");

fn seed(s: &Server) {
    s.flush();
    let mut c = s.conn();
    for (db, k, v) in SEEDS.iter().chain([&EXTRA]) {
        c.ok(["SELECT", &db.to_string()]);
        c.ok(["SET", k, v]);
    }
    c.ok(["SELECT", "0"]);
    // a library with the name of one in the file, other code
    c.must([
        "FUNCTION",
        "LOAD",
        "#!lua name=fixturelib\nredis.register_function('seeded_fn', function() return 1 end)",
    ]);
}

fn values_of(s: &Server, which: &[(u64, &str, &str)]) -> Vec<Option<Vec<u8>>> {
    let mut c = s.conn();
    which
        .iter()
        .map(|(db, k, _)| {
            c.ok(["SELECT", &db.to_string()]);
            match c.cmd(["GET", k]) {
                support::resp::Reply::Bulk(b) => b,
                _ => None,
            }
        })
        .collect()
}

#[test]
fn resp_rewrite_replaces_existing_keys() {
    let rdb = common::fixture("redis-7.0.15/default.rdb");
    let truth = expected(&rdb);
    let dir = TempDir::new("resp-rw");
    let server = Server::start();
    let seeded: Vec<Option<Vec<u8>>> = SEEDS
        .iter()
        .map(|s| Some(s.2.as_bytes().to_vec()))
        .collect();

    // default (panic) output: no REPLACE, so the pre-seeded keys and the
    // library are refused by the server and stay as they were
    let (path, cmds) = resp(&rdb, &dir, "panic.resp", &[]).unwrap();
    assert!(
        !cmds
            .iter()
            .any(|c| c.iter().any(|a| a.eq_ignore_ascii_case(b"REPLACE"))),
        "default output contains REPLACE"
    );
    seed(&server);
    let (_, errors, _, text) = pipe(server.port, &path);
    assert_eq!(errors, 4, "3 BUSYKEY + 1 existing library expected: {text}");
    assert_eq!(
        values_of(&server, &SEEDS),
        seeded,
        "seeded values after a non-REPLACE stream"
    );

    // rewrite: REPLACE on every RESTORE and FUNCTION RESTORE
    let (path, cmds) = resp(&rdb, &dir, "rewrite.resp", &["--replace"]).unwrap();
    let rs = restores(&cmds).unwrap();
    check_restores(&rs, &truth).unwrap();
    for r in &rs {
        assert!(
            r.args.iter().any(|a| a == "REPLACE"),
            "RESTORE {} without REPLACE",
            common::show(&r.key)
        );
    }
    let fr = function_restores(&cmds);
    assert_eq!(fr.len(), 2);
    for f in fr {
        assert!(
            f[2..].iter().any(|a| a.eq_ignore_ascii_case(b"REPLACE")),
            "FUNCTION RESTORE without REPLACE"
        );
    }
    seed(&server);
    let (code, errors, _, text) = pipe(server.port, &path);
    assert!(code == 0 && errors == 0, "redis-cli --pipe: {text}");
    assert_eq!(
        values_of(&server, &[EXTRA]),
        vec![Some(EXTRA.2.as_bytes().to_vec())],
        "extra key"
    );
    let mut c = server.conn();
    let have: Vec<Value> = dump_server(&mut c)
        .into_iter()
        .filter(|l| !(l["db"] == EXTRA.0 && l["key"] == EXTRA.1))
        .collect();
    compare_lines(&have, &truth).unwrap();
    compare_functions(&mut c, &rdb).unwrap();
}

// ---------------------------------------------------------------------------
// --db / --db-map
// ---------------------------------------------------------------------------

#[test]
fn resp_db_and_db_map() {
    let rdb = common::fixture("redis-7.0.15/default.rdb");
    let truth = expected(&rdb);
    let dir = TempDir::new("resp-db");
    let server = Server::start();
    let mut failures = Vec::new();

    // --db N: every key into DB N (this file's DB-0 and DB-2 keys differ)
    let multi = common::fixture("public/redis-rdb-tools/multiple_databases.rdb");
    let r = attempt(|| {
        let want = remap_db(&expected(&multi), &[(0, 4), (2, 4)]);
        let (path, cmds) = resp(&multi, &dir, "db4.resp", &["--target-db", "4"])?;
        check_restores(&restores(&cmds)?, &want)?;
        server.flush();
        let (code, errors, _, text) = pipe(server.port, &path);
        if code != 0 || errors != 0 {
            return Err(format!("redis-cli --pipe: {text}"));
        }
        compare_lines(&dump_server(&mut server.conn()), &want)?;
        Ok(())
    });
    if let Err(e) = r {
        failures.push(format!("--db 4: {e}"));
    }
    let r = attempt(|| {
        let want = remap_db(&truth, &[(15, 3), (0, 5)]);
        let (path, cmds) = resp(
            &rdb,
            &dir,
            "map.resp",
            &["--db-map", "15=3", "--db-map", "0=5"],
        )?;
        check_restores(&restores(&cmds)?, &want)?;
        server.flush();
        let (code, errors, _, text) = pipe(server.port, &path);
        if code != 0 || errors != 0 {
            return Err(format!("redis-cli --pipe: {text}"));
        }
        compare_lines(&dump_server(&mut server.conn()), &want)?;
        Ok(())
    });
    if let Err(e) = r {
        failures.push(format!("--db-map 15=3 --db-map 0=5: {e}"));
    }
    report("resp_db_and_db_map", &failures, 2);
}

// ---------------------------------------------------------------------------
// --lru / --lfu
// ---------------------------------------------------------------------------

fn option_value(r: &Restore, name: &str) -> Option<String> {
    let i = r.args.iter().position(|a| a == name)?;
    r.opt_values
        .get(i + 1)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

#[test]
fn resp_lru_lfu() {
    // per `rdbkit json`: dump-lru.rdb key1 idle 1914611, dump-lfu.rdb key1 freq 1
    let dir = TempDir::new("resp-lru");
    let lru = common::fixture("public/redis-replicator/dump-lru.rdb");
    let lfu = common::fixture("public/redis-replicator/dump-lfu.rdb");
    let find = |cmds: &[Command]| -> Restore {
        restores(cmds)
            .unwrap()
            .into_iter()
            .find(|r| r.key == b"key1")
            .expect("RESTORE key1")
    };
    let (_, cmds) = resp(&lru, &dir, "lru.resp", &["--lru"]).unwrap();
    assert_eq!(
        option_value(&find(&cmds), "IDLETIME").as_deref(),
        Some("1914611"),
        "--lru"
    );
    let (_, cmds) = resp(&lfu, &dir, "lfu.resp", &["--lfu"]).unwrap();
    assert_eq!(
        option_value(&find(&cmds), "FREQ").as_deref(),
        Some("1"),
        "--lfu"
    );
    let (_, cmds) = resp(&lfu, &dir, "plain.resp", &[]).unwrap();
    let r = find(&cmds);
    assert!(
        option_value(&r, "FREQ").is_none() && option_value(&r, "IDLETIME").is_none(),
        "{:?}",
        r.args
    );
    let (_, cmds) = resp(&lru, &dir, "plain2.resp", &[]).unwrap();
    let r = find(&cmds);
    assert!(
        option_value(&r, "FREQ").is_none() && option_value(&r, "IDLETIME").is_none(),
        "{:?}",
        r.args
    );
}

// ---------------------------------------------------------------------------
// command mode: every fixture (any RDB version, Valkey too) rebuilt with
// ordinary commands in Redis 7.0
// ---------------------------------------------------------------------------

#[test]
fn resp_command_mode_matches_truth_for_every_version() {
    let server = Server::start();
    let dir = TempDir::new("resp-cmd");
    let fixtures = command_mode_fixtures();
    assert!(fixtures.len() >= 100, "only {} fixtures", fixtures.len());
    let newer = fixtures
        .iter()
        .filter(|p| !matches!(version_of(p), Some(1..=10)))
        .count();
    eprintln!(
        "resp_command_mode: {newer} of {} fixtures are newer than RDB 10",
        fixtures.len()
    );
    check_fixtures("resp_command_mode", &fixtures, |i, rdb| {
        server.flush();
        let truth = command_mode_truth(rdb);
        let (path, cmds) = resp(
            rdb,
            &dir,
            &format!("{i}.resp"),
            &["--mode", "commands", "--lossy"],
        )?;
        if let Some(c) = cmds
            .iter()
            .find(|c| matches!(command_name(c).as_str(), "RESTORE" | "FUNCTION RESTORE"))
        {
            return Err(format!("command mode wrote {:?}", command_name(c)));
        }
        let (code, errors, _replies, text) = pipe(server.port, &path);
        if code != 0 || errors != 0 {
            return Err(format!(
                "redis-cli --pipe ({} commands): {text}",
                cmds.len()
            ));
        }
        let mut c = server.conn();
        let k = compare_lines(&strip_uncarried(&dump_server(&mut c)), &truth)?;
        compare_functions(&mut c, rdb)?;
        Ok(k)
    });
}

#[test]
fn resp_command_mode_splits_big_collections() {
    let dir = TempDir::new("resp-split");
    let rdb = common::fixture("redis-7.0.15/default.rdb");
    let (_, cmds) = resp(
        &rdb,
        &dir,
        "s.resp",
        &[
            "--mode",
            "commands",
            "--batch-elements",
            "7",
            "--batch-bytes",
            "300",
        ],
    )
    .unwrap();
    let mut multi = 0;
    for c in &cmds {
        let name = command_name(c);
        if matches!(name.as_str(), "RPUSH" | "SADD" | "HSET" | "ZADD") {
            let per = if matches!(name.as_str(), "HSET" | "ZADD") {
                2
            } else {
                1
            };
            let elements = (c.len() - 2) / per;
            let bytes: usize = c[2..].iter().map(|a| a.len()).sum();
            assert!(elements <= 7, "{name} with {elements} elements");
            assert!(
                elements == 1 || bytes <= 300,
                "{name} with {bytes} bytes of {elements} elements"
            );
            multi += 1;
        }
    }
    assert!(multi > 50, "only {multi} collection commands");
}

#[test]
fn resp_command_mode_never_drops_field_ttls_silently() {
    let rdb = common::fixture("redis-7.4.1/default.rdb");
    let out = rdbkit(&[
        "resp",
        rdb.to_str().unwrap(),
        "--mode",
        "commands",
        "-o",
        "/dev/null",
    ]);
    assert_eq!(out.code, 4, "{}", out.describe());
    assert!(out.all_text().contains("field TTLs"), "{}", out.describe());
    // With a target that has them, they are written as HPEXPIREAT.
    let out = rdbkit(&[
        "resp",
        rdb.to_str().unwrap(),
        "--mode",
        "commands",
        "--field-ttl",
        "-q",
    ]);
    out.expect_code(0);
    let cmds = parse_command_stream(&out.stdout).unwrap();
    assert!(
        cmds.iter().any(|c| command_name(c) == "HPEXPIREAT"),
        "no HPEXPIREAT"
    );
}

/// `resp` offers only what a stream written ahead of any reply can honour:
/// `--replace`. Every `--on-conflict` policy is refused as a usage error
/// that says why (before, `panic`, `ignore` and `skip` all wrote the same
/// bytes, silently).
#[test]
fn resp_refuses_conflict_policies_it_cannot_honour() {
    let rdb = common::fixture("redis-7.0.15/default.rdb");
    for policy in ["panic", "ignore", "skip", "rewrite"] {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_rdbkit"))
            .args(["resp", rdb.to_str().unwrap(), "--on-conflict", policy])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{policy}: {err}");
        assert!(o.stdout.is_empty(), "{policy}: wrote output");
        assert!(
            err.contains("--replace") && err.contains("cannot"),
            "{policy}: {err}"
        );
    }
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(["resp", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--replace") && !help.contains("--on-conflict"),
        "{help}"
    );
}
