//! Standalone loads: every eligible fixture loaded into one Redis 7.0
//! equals its truth; and the harness itself (dump + comparison) checked
//! against a server that loaded the fixture natively.

use crate::util as support;
use crate::util::common;

use serde_json::Value;

use support::run::*;
use support::server::*;
use support::truth::*;

use super::{check_fixture_summary, DEFAULT_RDB};

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
