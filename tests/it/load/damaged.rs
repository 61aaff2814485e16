//! Damaged input files: `--skip-corrupt` on load accounts for the damaged
//! records and leaves out the same keys as `json` and `resp`; without it the
//! preflight walk writes nothing, and a stop still reports.

use crate::util as support;
use crate::util::common;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use support::resp::{command_name, parse_command_stream};
use support::run::*;
use support::server::*;
use support::truth::*;

use super::{populated_rdb, DEFAULT_RDB};

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
