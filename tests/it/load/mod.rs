//! `rdbkit load` against real Redis 7.0 servers started by the tests
//! (standalone and 3-master clusters), one file per feature:
//!
//! - [`standalone`]: every eligible fixture loaded into one server equals
//!   its truth; the dump-and-compare harness checked on a native load.
//! - [`cluster`]: DB-0 fixtures into a cluster (auto-detected and
//!   `--cluster`), keys outside DB 0, slot migration (ASK / MOVED) during a
//!   load, functions counted per library, `--cluster` against a standalone
//!   server.
//! - [`conflicts`]: conflict policies, duplicate keys in one file, stopping
//!   at a conflict or after `--max-errors`, `--preflight`.
//! - [`commands`]: command mode (`--mode auto`/`commands`, no RESTORE): every
//!   RDB version into Redis 7.0, big and huge keys in bounded commands and
//!   memory.
//! - [`jsonl`]: loading JSON Lines (`json --meta | load`).
//! - [`options`]: `--db` / `--db-map` / `--keep-expired` / filters,
//!   `--lru` / `--lfu`.
//! - [`auth`] and [`tls`]: passwords, `rediss://` with client certificates.
//! - [`report`]: what a load tells: failed keys (`--failed`), the human
//!   summary and exit codes, `--dry-run`'s table, the progress bar.
//! - [`resume`]: `--checkpoint` / `--resume` and the README's
//!   disaster-recovery recipes.
//! - [`faults`]: targets that crash, hang, are loading or busy, fail over,
//!   or drop connections mid-load.
//! - [`damaged`]: damaged input files (`--skip-corrupt`, the preflight walk).
//!
//! This file holds the helpers more than one of them uses.
//!
//! The RESTORE tests use only fixtures Redis 7.0 accepts as RESTORE
//! payloads (RDB version <= 10, see `support::run::eligible_fixtures`);
//! command mode takes every version.

use crate::util as support;
use crate::util::common;

use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use support::run::*;
use support::server::*;
use support::truth::*;

mod auth;
mod cluster;
mod commands;
mod conflicts;
mod damaged;
mod faults;
mod jsonl;
mod options;
mod report;
mod resume;
mod standalone;
mod tls;

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

/// The fixture most of these tests load (Redis 7.0.15, several DBs).
const DEFAULT_RDB: &str = "redis-7.0.15/default.rdb";

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
