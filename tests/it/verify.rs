//! `rdbkit verify` against real Redis 7.0 servers started by the tests
//! (standalone and a 3-master cluster): every fixture loaded with `rdbkit
//! load` verifies with 0 differences and the exact key count; mutations of
//! the target (deleted key, changed list element, zset score, TTL, hash
//! field, stream group, type, members, stream entries and PEL) are each
//! reported, with the right key and place, in `--diff`; huge keys are
//! checked page by page; `--sample` checks exactly the requested count,
//! reproducibly from its seed; database mapping, expired keys, passwords and
//! exit codes.

use crate::util as support;
use crate::util::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

use support::resp::Conn;
use support::run::*;
use support::server::*;
use support::truth::*;

/// `rdbkit verify FILES --target URL --json -q EXTRA...`.
fn verify(files: &[&Path], target: &str, extra: &[&str]) -> Out {
    let mut args: Vec<String> = vec!["verify".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend([
        "--target".into(),
        target.into(),
        "--json".into(),
        "-q".into(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    rdbkit(&args)
}

/// The `--json` summary of a verify run, with its accounting checked:
/// `keys_read = skipped_expired + skipped_empty + not_sampled + checked`,
/// `checked = matched + missing + different + uncomparable + errors`,
/// `different` = the sum of its reasons.
fn summary(out: &Out) -> Value {
    let s = out.summary();
    let parts = n(&s, "skipped_expired") + n(&s, "skipped_empty") + n(&s, "not_sampled");
    assert_eq!(
        n(&s, "keys_read"),
        parts + n(&s, "checked"),
        "keys_read does not add up: {s}"
    );
    let by = &s["different_by_reason"];
    let reasons = n(by, "type") + n(by, "value") + n(by, "ttl");
    assert_eq!(n(&s, "different"), reasons, "different != its reasons: {s}");
    assert_eq!(
        n(&s, "checked"),
        n(&s, "matched")
            + n(&s, "missing")
            + n(&s, "different")
            + n(&s, "uncomparable")
            + n(&s, "errors"),
        "checked does not add up: {s}"
    );
    assert_eq!(s["balanced"], Value::Bool(true), "{s}");
    s
}

/// A verify run that must match: exit 0, no difference, `checked` and
/// `matched` equal to the truth's key count, the expired and empty keys of
/// the file skipped.
fn expect_match(out: &Out, rdb: &Path, extra_checked: u64) -> Result<Value, String> {
    if out.code != 0 {
        return Err(format!("exit {}: {}", out.code, out.describe()));
    }
    let s = summary(out);
    let want = [
        ("checked", expected(rdb).len() as u64 + extra_checked),
        ("matched", expected(rdb).len() as u64 + extra_checked),
        ("missing", 0),
        ("different", 0),
        ("errors", 0),
        (
            "skipped_expired",
            expired_keys(rdb).len() as u64 - extra_checked,
        ),
        (
            "skipped_empty",
            common::skipped_empty_keys(rdb).len() as u64,
        ),
    ];
    for (k, v) in want {
        if n(&s, k) != v {
            return Err(format!("summary {k} = {}, expected {v}: {s}", n(&s, k)));
        }
    }
    Ok(s)
}

/// The lines of a `--diff` file, by (db, key).
fn diff_lines(path: &Path) -> Vec<Value> {
    let data = std::fs::read(path).unwrap_or_default();
    let mut v = common::parse_jsonl(&data).unwrap_or_else(|e| panic!("diff file: {e}"));
    v.sort_by_key(|l| common::ident(l).expect("diff line has db and key"));
    v
}

/// Finds the diff line of `key` in db `db`.
fn line_of<'a>(lines: &'a [Value], db: u64, key: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["db"] == db && l["key"] == key)
        .unwrap_or_else(|| panic!("no diff line for db {db} key {key:?} in {lines:#?}"))
}

fn pipeline(c: &mut Conn, cmds: &[Vec<Vec<u8>>]) {
    for cmd in cmds {
        c.send(cmd).expect("send");
    }
    for cmd in cmds {
        let r = c.read_reply().expect("reply");
        assert!(
            !r.is_error(),
            "{:?}: {r:?}",
            String::from_utf8_lossy(&cmd[0])
        );
    }
}

fn cmd(args: &[&[u8]]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.to_vec()).collect()
}

// ---------------------------------------------------------------------------
// Every fixture: 0 differences, exact counts
// ---------------------------------------------------------------------------

#[test]
fn verify_matches_every_restored_fixture() {
    let server = Server::start();
    let (mut by_dump, mut keys) = (0, 0);
    check_fixtures(
        "verify_matches_every_restored_fixture",
        &eligible_fixtures(),
        |_, rdb| {
            server.flush();
            let out = load(rdb, &server.url(), &[]);
            if out.code != 0 {
                return Err(format!("load: {}", out.describe()));
            }
            let s = expect_match(&verify(&[rdb], &server.url(), &[]), rdb, 0)?;
            by_dump += n(&s, "matched_by_dump");
            keys += n(&s, "checked");
            // Decoded only: the same verdict without DUMP.
            let s = expect_match(&verify(&[rdb], &server.url(), &["--no-dump"]), rdb, 0)?;
            if n(&s, "matched_by_dump") != 0 || n(&s, "compared_decoded") != n(&s, "checked") {
                return Err(format!("--no-dump used DUMP: {s}"));
            }
            Ok(expected(rdb).len())
        },
    );
    // Redis 7.0 re-encodes the older files' compact encodings, and hash
    // tables come back in another order; the rest matches by DUMP payload.
    assert!(
        by_dump * 4 > keys,
        "the DUMP fast path matched only {by_dump} of {keys} keys"
    );
}

#[test]
fn verify_matches_every_version_after_auto_load() {
    // RDB 11-13 and Valkey files go into Redis 7.0 as commands: their DUMP
    // payloads differ from the file, so this is the decoded comparison.
    let server = Server::start();
    check_fixtures(
        "verify_matches_every_version_after_auto_load",
        &command_mode_fixtures(),
        |_, rdb| {
            server.flush();
            let out = load(rdb, &server.url(), &["--lossy"]);
            if out.code != 0 {
                return Err(format!("load: {}", out.describe()));
            }
            let s = expect_match(&verify(&[rdb], &server.url(), &[]), rdb, 0)?;
            let has_field_ttls = common::read(&common::sibling(rdb, ".expected.jsonl"))
                .windows(17)
                .any(|w| w == b"\"field_expire_ms\"");
            if has_field_ttls && n(&s, "field_ttls_unchecked") == 0 {
                return Err(format!(
                    "Redis 7.0 has no HPEXPIRETIME, yet no field TTL was reported unchecked: {s}"
                ));
            }
            Ok(expected(rdb).len())
        },
    );
}

// ---------------------------------------------------------------------------
// Mutations of the target, each reported exactly
// ---------------------------------------------------------------------------

#[test]
fn verify_reports_each_mutation() {
    let rdb = common::fixture("redis-7.0.15/default.rdb");
    let server = Server::start();
    let url = server.url();
    load(&rdb, &url, &[]).expect_code(0);
    let total = expected(&rdb).len() as u64;
    let mut c = server.conn();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    c.int(["DEL", "str:short"]);
    c.ok(["LSET", "list:small", "2", "CHANGED"]);
    c.int(["ZADD", "zset:small", "99", "one"]);
    c.int(["PEXPIRE", "ttl:str:ms", "100000000"]);
    c.int(["HSET", "hash:small", "name", "bob"]);
    c.ok(["XGROUP", "SETID", "stream:groups", "g1", "0-1"]);
    c.int(["DEL", "set:small_strings"]);
    c.ok(["SET", "set:small_strings", "x"]);
    c.int(["PERSIST", "ttl:list"]);
    c.int(["SADD", "set:mixed", "extra"]);
    c.int(["SREM", "set:intset16", "100"]);
    c.int(["SADD", "set:intset16", "101"]);
    c.int(["HDEL", "hash:ints", "f"]);
    c.int(["XDEL", "stream:basic", "1700000000001-0"]);
    c.ok(["SELECT", "1"]);
    c.ok(["SET", "db1:str", "changed"]);
    c.ok(["SELECT", "0"]);

    // (db, key, reason, what)
    let want: BTreeSet<(u64, &str, &str, &str)> = [
        (0, "str:short", "missing", "key"),
        (0, "list:small", "value", "element"),
        (0, "zset:small", "value", "score"),
        (0, "ttl:str:ms", "ttl", "expiry"),
        (0, "hash:small", "value", "field"),
        (0, "stream:groups", "value", "group"),
        (0, "set:small_strings", "type", "type"),
        (0, "ttl:list", "ttl", "expiry"),
        (0, "set:mixed", "value", "length"),
        (0, "set:intset16", "value", "member"),
        (0, "hash:ints", "value", "field"),
        (0, "stream:basic", "value", "entry"),
        (1, "db1:str", "value", "bytes"),
    ]
    .into_iter()
    .collect();
    let dir = TempDir::new("verify-mut");
    let mut previous: Option<Vec<Value>> = None;
    for mode in [&[][..], &["--no-dump"][..]] {
        let diff = dir.join("diff.jsonl");
        let mut extra = vec!["--diff", diff.to_str().unwrap()];
        extra.extend_from_slice(mode);
        let out = verify(&[&rdb], &url, &extra);
        assert_eq!(out.code, 5, "{}", out.describe());
        let s = summary(&out);
        assert_eq!(n(&s, "checked"), total, "{s}");
        assert_eq!(n(&s, "missing"), 1, "{s}");
        assert_eq!(n(&s["different_by_reason"], "type"), 1, "{s}");
        assert_eq!(n(&s["different_by_reason"], "ttl"), 2, "{s}");
        assert_eq!(n(&s["different_by_reason"], "value"), 9, "{s}");
        assert_eq!(n(&s, "matched"), total - 13, "{s}");
        assert_eq!(s["result"], "differences");

        let lines = diff_lines(&diff);
        let got: BTreeSet<(u64, &str, &str, &str)> = lines
            .iter()
            .map(|l| {
                (
                    l["db"].as_u64().unwrap(),
                    l["key"].as_str().unwrap(),
                    l["reason"].as_str().unwrap(),
                    l["what"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(got, want, "{mode:?}: {lines:#?}");
        let l = line_of(&lines, 0, "list:small");
        assert_eq!(
            (&l["index"], &l["expected"], &l["found"]),
            (&Value::from(2), &Value::from("c"), &Value::from("CHANGED"))
        );
        let l = line_of(&lines, 0, "zset:small");
        assert_eq!(
            (&l["item"], &l["expected"], &l["found"]),
            (&Value::from("one"), &Value::from(1.0), &Value::from(99.0))
        );
        let l = line_of(&lines, 0, "ttl:str:ms");
        assert_eq!(l["expected"], 4102444800123i64);
        let found = l["found"].as_i64().expect("a found expiry");
        assert!((found - (now + 100_000_000)).abs() < 60_000, "{l}");
        let l = line_of(&lines, 0, "ttl:list");
        assert_eq!(
            (&l["expected"], &l["found"]),
            (&Value::from(4102444800123i64), &Value::Null)
        );
        let l = line_of(&lines, 0, "hash:small");
        assert_eq!(
            (&l["item"], &l["expected"], &l["found"]),
            (
                &Value::from("name"),
                &Value::from("alice"),
                &Value::from("bob")
            )
        );
        let l = line_of(&lines, 0, "stream:groups");
        assert_eq!(
            (&l["attr"], &l["item"], &l["expected"], &l["found"]),
            (
                &Value::from("last_delivered_id"),
                &Value::from("g1"),
                &Value::from("1700000002004-0"),
                &Value::from("0-1")
            )
        );
        let l = line_of(&lines, 0, "set:small_strings");
        assert_eq!(
            (&l["expected"], &l["found"]),
            (&Value::from("set"), &Value::from("string"))
        );
        let l = line_of(&lines, 0, "set:mixed");
        assert_eq!(
            (&l["expected"], &l["found"]),
            (&Value::from(4), &Value::from(5))
        );
        let l = line_of(&lines, 0, "set:intset16");
        assert_eq!(
            (&l["item"], &l["found"]),
            (&Value::from("100"), &Value::Null)
        );
        let l = line_of(&lines, 0, "hash:ints");
        assert_eq!((&l["item"], &l["found"]), (&Value::from("f"), &Value::Null));
        let l = line_of(&lines, 0, "stream:basic");
        assert_eq!(
            (&l["expected"], &l["found"]),
            (
                &Value::from("1700000000001-0"),
                &Value::from("1700000000003-0")
            )
        );
        let l = line_of(&lines, 1, "db1:str");
        assert_eq!(
            (&l["index"], &l["found"]),
            (&Value::from(0), &Value::from("changed"))
        );
        for l in &lines {
            assert!(l["file"].as_str().unwrap().ends_with("default.rdb"), "{l}");
            assert!(l["offset"].as_u64().unwrap() > 0, "{l}");
        }
        // Both ways of comparing tell the same.
        if let Some(p) = &previous {
            assert_eq!(p, &lines);
        }
        previous = Some(lines);
    }

    // Stream PEL: a changed owner and a changed delivery count.
    server.flush();
    load(&rdb, &url, &[]).expect_code(0);
    let mut c = server.conn();
    let pel = c.must(["XPENDING", "stream:groups", "g1", "-", "+", "10"]);
    let entries: Vec<(String, String)> = pel
        .array()
        .iter()
        .map(|e| (e.array()[0].text(), e.array()[1].text()))
        .collect();
    assert!(entries.len() >= 2, "{entries:?}");
    let (id, _) = &entries[0];
    c.must([
        "XCLAIM",
        "stream:groups",
        "g1",
        "bob",
        "0",
        id,
        "RETRYCOUNT",
        "77",
        "FORCE",
        "JUSTID",
    ]);
    let diff = TempDir::new("verify-pel");
    let d = diff.join("d.jsonl");
    let out = verify(&[&rdb], &url, &["--diff", d.to_str().unwrap(), "--no-dump"]);
    assert_eq!(out.code, 5, "{}", out.describe());
    let lines = diff_lines(&d);
    assert_eq!(lines.len(), 1, "{lines:#?}");
    assert_eq!(lines[0]["key"], "stream:groups");
    assert!(
        matches!(
            lines[0]["what"].as_str(),
            Some("consumer" | "pending entry")
        ),
        "{lines:#?}"
    );

    // TTL tolerance: an expiry 1.5 s off is equal by default (2 s), not with 1 s.
    server.flush();
    load(&rdb, &url, &[]).expect_code(0);
    let mut c = server.conn();
    c.int(["PEXPIREAT", "ttl:str:sec", "4102444802500"]);
    verify(&[&rdb], &url, &[]).expect_code(0);
    let out = verify(&[&rdb], &url, &["--ttl-tolerance", "1000"]);
    assert_eq!(out.code, 5, "{}", out.describe());
    let s = summary(&out);
    assert_eq!(n(&s["different_by_reason"], "ttl"), 1, "{s}");
    assert_eq!(s["ttl_tolerance_ms"], 1000);
}

// ---------------------------------------------------------------------------
// Huge keys: paged, and the first difference deep inside them
// ---------------------------------------------------------------------------

/// Printable pseudo-random bytes (LZF finds little to compress in them).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'!' + (x % 94) as u8
        })
        .collect()
}

/// An RDB written by a real server holding six keys over 4 MiB in the
/// file (one per type) and five multi-page keys under it.
fn big_rdb(dir: &TempDir) -> PathBuf {
    const N: usize = 45_000;
    let src = Server::start();
    let mut c = src.conn();
    let mut cmds = Vec::new();
    for chunk in 0..N / 1000 {
        let (mut l, mut h, mut z, mut s) = (
            cmd(&[b"RPUSH", b"big:list"]),
            cmd(&[b"HSET", b"big:hash"]),
            cmd(&[b"ZADD", b"big:zset"]),
            cmd(&[b"SADD", b"big:set"]),
        );
        for i in chunk * 1000..(chunk + 1) * 1000 {
            let v = noise(i as u64, 120);
            l.push(v.clone());
            h.push(format!("f{i:06}").into_bytes());
            h.push(v.clone());
            z.push(format!("{}", i as f64 * 0.5 - 1000.0).into_bytes());
            z.push([format!("m{i:06}-").as_bytes(), &v].concat());
            s.push([format!("s{i:06}-").as_bytes(), &v].concat());
        }
        cmds.extend([l, h, z, s]);
    }
    cmds.push(cmd(&[b"SET", b"big:string", &noise(7, 6_000_000)]));
    for i in 0..N {
        let id = format!("{}-1", 1000 + i);
        cmds.push(cmd(&[
            b"XADD",
            b"big:stream",
            id.as_bytes(),
            b"f",
            &noise(i as u64, 110),
        ]));
    }
    cmds.push(cmd(&[b"XGROUP", b"CREATE", b"big:stream", b"g", b"0"]));
    cmds.push(cmd(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c1",
        b"COUNT",
        b"1500",
        b"STREAMS",
        b"big:stream",
        b">",
    ]));
    // Multi-page keys under the paged threshold.
    let mut ml = cmd(&[b"RPUSH", b"mid:list"]);
    let mut mh = cmd(&[b"HSET", b"mid:hash"]);
    let mut mz = cmd(&[b"ZADD", b"mid:zset"]);
    let mut ms = cmd(&[b"SADD", b"mid:set"]);
    for i in 0..3000 {
        ml.push(format!("e{i}").into_bytes());
        mh.push(format!("f{i}").into_bytes());
        mh.push(format!("v{i}").into_bytes());
        mz.push(format!("{i}").into_bytes());
        mz.push(format!("m{i}").into_bytes());
        ms.push(format!("s{i}").into_bytes());
    }
    cmds.extend([ml, mh, mz, ms]);
    cmds.push(cmd(&[b"SET", b"mid:string", &noise(9, 2_500_000)]));
    pipeline(&mut c, &cmds);
    c.ok(["SAVE"]);
    let p = dir.join("big.rdb");
    std::fs::copy(src.dir.join("dump.rdb"), &p).expect("copy dump.rdb");
    p
}

#[test]
fn verify_checks_huge_keys_page_by_page() {
    let dir = TempDir::new("verify-big");
    let rdb = big_rdb(&dir);
    let server = Server::start();
    let url = server.url();
    load(&rdb, &url, &[]).expect_code(0);
    for mode in [&[][..], &["--no-dump"][..]] {
        let out = verify(&[&rdb], &url, mode);
        assert_eq!(out.code, 0, "{}", out.describe());
        let s = summary(&out);
        assert_eq!(
            (n(&s, "checked"), n(&s, "matched"), n(&s, "compared_paged")),
            (11, 11, 6),
            "{s}"
        );
    }
    let mut c = server.conn();
    c.ok(["LSET", "big:list", "39000", "X"]);
    c.int(["HSET", "big:hash", "f039999", "X"]);
    let m = [b"m039999-".as_slice(), &noise(39_999, 120)].concat();
    c.must([b"ZADD".as_slice(), b"big:zset", b"7", &m]);
    let s_member = [b"s039998-".as_slice(), &noise(39_998, 120)].concat();
    c.int([b"SREM".as_slice(), b"big:set", &s_member]);
    c.int(["SADD", "big:set", "other"]);
    c.int(["SETRANGE", "big:string", "5999999", "X"]);
    let pel = c.must(["XPENDING", "big:stream", "g", "-", "+", "1500"]);
    let id = pel.array()[1400].array()[0].text();
    c.must([
        "XCLAIM",
        "big:stream",
        "g",
        "c1",
        "0",
        &id,
        "RETRYCOUNT",
        "9",
        "JUSTID",
    ]);
    c.ok(["LSET", "mid:list", "2500", "X"]);
    c.int(["SETRANGE", "mid:string", "2200000", "X"]);

    let d = dir.join("diff.jsonl");
    for mode in [&[][..], &["--no-dump"][..]] {
        let mut extra = vec!["--diff", d.to_str().unwrap()];
        extra.extend_from_slice(mode);
        let out = verify(&[&rdb], &url, &extra);
        assert_eq!(out.code, 5, "{}", out.describe());
        let s = summary(&out);
        assert_eq!(n(&s["different_by_reason"], "value"), 8, "{s}");
        let lines = diff_lines(&d);
        let get = |k: &str| line_of(&lines, 0, k);
        assert_eq!(get("big:list")["index"], 39000);
        assert_eq!(get("big:list")["found"], "X");
        assert_eq!(
            (&get("big:hash")["what"], &get("big:hash")["item"]),
            (&Value::from("field"), &Value::from("f039999"))
        );
        assert_eq!(get("big:zset")["what"], "score");
        assert_eq!(get("big:zset")["found"], 7.0);
        assert_eq!(get("big:set")["what"], "member");
        assert_eq!(get("big:set")["item"]["len"], s_member.len());
        assert_eq!(
            (&get("big:string")["what"], &get("big:string")["index"]),
            (&Value::from("bytes"), &Value::from(5_999_999))
        );
        assert_eq!(get("big:stream")["what"], "pending entry");
        assert!(
            get("big:stream")["found"]
                .as_str()
                .unwrap()
                .contains("9 times"),
            "{lines:#?}"
        );
        assert_eq!(get("mid:list")["index"], 2500);
        assert_eq!(get("mid:string")["index"], 2_200_000);
    }
}

// ---------------------------------------------------------------------------
// --sample
// ---------------------------------------------------------------------------

#[test]
fn verify_sample_checks_the_requested_count() {
    let rdb = common::fixture("redis-7.0.15/default.rdb");
    let total = expected(&rdb).len() as u64;
    let server = Server::start();
    let url = server.url();
    // Against an empty server every sampled key is missing: the --diff file
    // names exactly the sampled keys.
    let dir = TempDir::new("verify-sample");
    let sampled = |seed: &str, name: &str| -> BTreeSet<(u64, Vec<u8>)> {
        let d = dir.join(name);
        let out = verify(
            &[&rdb],
            &url,
            &[
                "--sample",
                "10",
                "--seed",
                seed,
                "--diff",
                d.to_str().unwrap(),
            ],
        );
        assert_eq!(out.code, 5, "{}", out.describe());
        let s = summary(&out);
        assert_eq!((n(&s, "checked"), n(&s, "missing")), (10, 10), "{s}");
        assert_eq!(n(&s, "not_sampled"), total - 10, "{s}");
        assert_eq!(s["sample"]["seed"].as_u64(), seed.parse().ok(), "{s}");
        assert_eq!(n(&s["sample"], "population"), total, "{s}");
        assert_eq!(n(&s["sample"], "size"), 10, "{s}");
        diff_lines(&d)
            .iter()
            .map(|l| common::ident(l).unwrap())
            .collect()
    };
    let a = sampled("42", "a.jsonl");
    let b = sampled("42", "b.jsonl");
    let c = sampled("43", "c.jsonl");
    assert_eq!(a.len(), 10);
    assert_eq!(a, b, "the same seed drew different keys");
    assert_ne!(a, c, "another seed drew the same keys");

    load(&rdb, &url, &[]).expect_code(0);
    let out = verify(&[&rdb], &url, &["--sample", "25"]);
    out.expect_code(0);
    let s = summary(&out);
    assert_eq!((n(&s, "checked"), n(&s, "matched")), (25, 25), "{s}");
    assert!(s["sample"]["seed"].is_u64(), "the seed is reported: {s}");
    // A sample bigger than the file is the whole file.
    let s = summary(verify(&[&rdb], &url, &["--sample", "100000"]).expect_code(0));
    assert_eq!((n(&s, "checked"), n(&s, "not_sampled")), (total, 0), "{s}");
    // The text summary names the seed.
    let out = rdbkit(&[
        "verify",
        rdb.to_str().unwrap(),
        "--target",
        &url,
        "--sample",
        "5",
        "--seed",
        "1234",
    ]);
    out.expect_code(0);
    assert!(out.stderr.contains("seed 1234"), "{}", out.describe());
}

// ---------------------------------------------------------------------------
// Databases, expired keys
// ---------------------------------------------------------------------------

#[test]
fn verify_db_mapping_and_expired_keys() {
    let rdb = common::fixture("redis-7.0.15/default.rdb");
    let server = Server::start();
    let url = server.url();
    load(&rdb, &url, &["--db-map", "15=3"]).expect_code(0);
    let db15 = expected(&rdb).iter().filter(|l| l["db"] == 15).count() as u64;
    assert!(db15 > 0);
    let out = verify(&[&rdb], &url, &[]);
    assert_eq!(out.code, 5, "{}", out.describe());
    assert_eq!(n(&summary(&out), "missing"), db15);
    expect_match(&verify(&[&rdb], &url, &["--db-map", "15=3"]), &rdb, 0).unwrap();

    // A URL's /db is where every key goes, as for load.
    server.flush();
    let one_db = common::fixture("redis-7.0.15/expired.rdb");
    load(&one_db, &format!("{url}/2"), &[]).expect_code(0);
    expect_match(&verify(&[&one_db], &format!("{url}/2"), &[]), &one_db, 0).unwrap();
    let out = verify(&[&one_db], &url, &[]);
    assert_eq!(out.code, 5, "{}", out.describe());

    // Expired keys: skipped like load skips them; --keep-expired checks them
    // as load --keep-expired writes them (without their past expiry).
    let expired = expired_keys(&one_db).len() as u64;
    assert!(expired > 0);
    server.flush();
    load(&one_db, &url, &["--keep-expired"]).expect_code(0);
    expect_match(&verify(&[&one_db], &url, &[]), &one_db, 0).unwrap();
    expect_match(
        &verify(&[&one_db], &url, &["--keep-expired"]),
        &one_db,
        expired,
    )
    .unwrap();
    server.flush();
    load(&one_db, &url, &[]).expect_code(0);
    let out = verify(&[&one_db], &url, &["--keep-expired"]);
    assert_eq!(out.code, 5, "{}", out.describe());
    assert_eq!(n(&summary(&out), "missing"), expired);
}

// ---------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------

#[test]
fn verify_cluster() {
    let cluster = Cluster::start(3);
    let fixtures: Vec<PathBuf> = [
        "public/redis-rdb-tools/parser_filters.rdb",
        "public/redis-rdb-tools/redis_50_with_streams.rdb",
        "public/redis-replicator/dump-huge-kv.rdb",
        "public/hdt3213-rdb/listpack.rdb",
    ]
    .iter()
    .map(|f| common::fixture(f))
    .collect();
    let mut failures = Vec::new();
    for (i, rdb) in fixtures.iter().enumerate() {
        cluster.flush();
        load(rdb, &cluster.nodes[0].url(), &[]).expect_code(0);
        // Any node as the entry point; detected, then forced.
        let entry = cluster.nodes[(i + 1) % 3].url();
        for extra in [&[][..], &["--cluster"][..], &["--no-dump"][..]] {
            if let Err(e) = expect_match(&verify(&[rdb], &entry, extra), rdb, 0) {
                failures.push(format!("{} {extra:?}: {e}", common::rel(rdb)));
            }
        }
    }
    report("verify_cluster", &failures, fixtures.len() * 3);

    // A key deleted on its node, one changed on another.
    let rdb = &fixtures[0];
    cluster.flush();
    load(rdb, &cluster.nodes[0].url(), &[]).expect_code(0);
    let keys: Vec<Vec<u8>> = expected(rdb)
        .iter()
        .map(|l| common::ident(l).unwrap().1)
        .collect();
    let gone = &keys[0];
    let owner = cluster.owner_of(key_slot(gone) as i64);
    owner.conn().int([b"DEL".as_slice(), gone]);
    let changed = keys
        .iter()
        .find(|k| cluster.owner_of(key_slot(k) as i64).port != owner.port)
        .expect("a key on another node");
    let other = cluster.owner_of(key_slot(changed) as i64);
    other
        .conn()
        .int([b"PEXPIRE".as_slice(), changed, b"99999999"]);
    let dir = TempDir::new("verify-cluster");
    let d = dir.join("d.jsonl");
    let out = verify(
        &[rdb],
        &cluster.nodes[2].url(),
        &["--diff", d.to_str().unwrap()],
    );
    assert_eq!(out.code, 5, "{}", out.describe());
    let s = summary(&out);
    assert_eq!(n(&s, "missing"), 1, "{s}");
    assert_eq!(n(&s["different_by_reason"], "ttl"), 1, "{s}");
    let lines = diff_lines(&d);
    let got: BTreeSet<(Vec<u8>, String)> = lines
        .iter()
        .map(|l| {
            (
                common::ident(l).unwrap().1,
                l["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: BTreeSet<(Vec<u8>, String)> = [
        (gone.clone(), "missing".to_string()),
        (changed.clone(), "ttl".to_string()),
    ]
    .into_iter()
    .collect();
    assert_eq!(got, want);
}

// ---------------------------------------------------------------------------
// Passwords, exit codes
// ---------------------------------------------------------------------------

#[test]
fn verify_password_and_exit_codes() {
    let rdb = common::fixture("redis-7.0.15/compact.rdb");
    let server = Server::start_with(ServerOpts {
        password: Some("s3cret".into()),
        ..Default::default()
    });
    let with_pass = format!("redis://:s3cret@127.0.0.1:{}", server.port);
    load(&rdb, &with_pass, &[]).expect_code(0);
    expect_match(&verify(&[&rdb], &with_pass, &[]), &rdb, 0).unwrap();
    // From REDISCLI_AUTH, as for load.
    let out = rdbkit_env(
        &[
            "verify",
            rdb.to_str().unwrap(),
            "--target",
            &server.url(),
            "--json",
            "-q",
        ],
        &[("REDISCLI_AUTH", "s3cret")],
    );
    expect_match(&out, &rdb, 0).unwrap();
    // A wrong password: a runtime error, and the password is not shown.
    let out = verify(
        &[&rdb],
        &format!("redis://:wrong-pass@127.0.0.1:{}", server.port),
        &[],
    );
    assert_eq!(out.code, 1, "{}", out.describe());
    assert!(out.stderr.contains("rdbkit: error:"), "{}", out.describe());
    assert!(!out.all_text().contains("wrong-pass"), "{}", out.describe());
    // Nothing listening.
    let port = free_port(false);
    let out = verify(&[&rdb], &format!("redis://127.0.0.1:{port}"), &[]);
    assert_eq!(out.code, 1, "{}", out.describe());
    // Bad command lines.
    rdbkit(&["verify", rdb.to_str().unwrap()]).expect_code(2);
    rdbkit(&[
        "verify",
        rdb.to_str().unwrap(),
        "--target",
        &with_pass,
        "--seed",
        "1",
    ])
    .expect_code(2);
    // Not an RDB file.
    let dir = TempDir::new("verify-bad");
    let bad = dir.join("bad.rdb");
    std::fs::write(&bad, b"not an rdb").unwrap();
    let out = verify(&[&bad], &with_pass, &[]);
    assert_eq!(out.code, 1, "{}", out.describe());
    // The human summary goes to stderr, with the exit code of the result.
    let out = rdbkit(&["verify", rdb.to_str().unwrap(), "--target", &with_pass]);
    out.expect_code(0);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("matched"), "{}", out.describe());
}

/// A failed verify names the first differing keys on stderr (escaped,
/// shortened), without --diff, in words that agree in number.
#[test]
fn verify_names_the_first_differing_keys() {
    let rdb = common::fixture("redis-7.0.15/default.rdb");
    let server = Server::start();
    load(&rdb, &server.url(), &["--keep-expired"]).expect_code(0);
    let mut c = server.conn();
    c.must(["DEL", "str:short"]);
    let out = verify(&[&rdb], &server.url(), &[]);
    assert_eq!(out.code, 5, "{}", out.describe());
    assert!(
        out.stderr.contains("1 key differs (1 missing"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("db 0 \"str:short\" (missing)"),
        "{}",
        out.stderr
    );
    c.must(["SET", "str:utf8", "changed"]);
    let out = verify(&[&rdb], &server.url(), &[]);
    assert_eq!(out.code, 5, "{}", out.describe());
    assert!(out.stderr.contains("2 keys differ"), "{}", out.stderr);
    assert!(
        out.stderr.contains("db 0 \"str:utf8\" (value"),
        "{}",
        out.stderr
    );
}
