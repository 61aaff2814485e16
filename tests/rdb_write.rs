//! `rdbkit rdb` against real servers: every written file is the dump.rdb a
//! Redis 7.0 server starts from (with `sanitize-dump-payload yes`), and the
//! server's content must equal the fixture's truth; `redis-check-rdb` must
//! accept it. Also: conversions from newer versions and from Valkey
//! (`--to redis-7.0`), merges under each conflict policy, JSON Lines → RDB
//! → JSON Lines round trips, and damaged JSON Lines input.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use support::run::*;
use support::server::*;
use support::truth::*;

/// A fresh server whose dump.rdb is `rdb`, checking payloads deeply.
fn start_from(rdb: &Path) -> Server {
    Server::start_with(ServerOpts {
        rdb: Some(rdb.to_path_buf()),
        args: vec!["--sanitize-dump-payload".into(), "yes".into()],
        ..Default::default()
    })
}

/// `redis-check-rdb FILE` succeeds.
fn check_rdb(rdb: &Path) -> Result<(), String> {
    let out = Command::new("redis-check-rdb")
        .arg(rdb)
        .output()
        .map_err(|e| format!("redis-check-rdb: {e}"))?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() && text.contains("RDB looks OK") {
        Ok(())
    } else {
        Err(format!(
            "redis-check-rdb refused {}:\n{text}",
            rdb.display()
        ))
    }
}

/// `rdbkit rdb ARGS -o OUT --json`, its summary.
fn write(args: &[&str], out: &Path) -> Result<Value, String> {
    let mut a: Vec<String> = vec!["rdb".into()];
    a.extend(args.iter().map(|s| s.to_string()));
    a.extend(["-o".into(), out.display().to_string(), "--json".into()]);
    let r = rdbkit(&a);
    if r.code != 0 {
        return Err(r.describe());
    }
    Ok(r.summary())
}

/// Loads `rdb` into a fresh server and compares its content with `truth`.
fn server_equals(rdb: &Path, truth: &[Value]) -> Result<usize, String> {
    let s = start_from(rdb);
    let mut c = s.conn();
    compare_lines(&dump_server(&mut c), truth)
}

fn is_newer(p: &Path) -> bool {
    let h = std::fs::read(p)
        .map(|d| d[..9.min(d.len())].to_vec())
        .unwrap_or_default();
    h.starts_with(b"VALKEY") || common::rdb_version(&h).is_some_and(|v| v > 10)
}

#[test]
fn own_version_equals_truth_in_redis_7_0() {
    let dir = TempDir::new("rdbw");
    let fixtures = eligible_fixtures();
    check_fixtures(
        "own_version_equals_truth_in_redis_7_0",
        &fixtures,
        |i, rdb| {
            let out = dir.join(&format!("{i}.rdb"));
            let s = write(&[&rdb.display().to_string()], &out)?;
            if n(&s, "reencoded") != 0 || n(&s, "copied") != n(&s, "written") {
                return Err(format!("same version must copy every key: {s}"));
            }
            check_rdb(&out)?;
            let s2 = start_from(&out);
            let mut c = s2.conn();
            let k = compare_lines(&dump_server(&mut c), &expected(rdb))?;
            compare_functions(&mut c, rdb)?;
            Ok(k)
        },
    );
}

/// The truth as a Redis 7.0 holds it after `--lossy` dropped field TTLs
/// and consumers' active times (RDB 10 streams have none).
fn as_redis_7_0(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| {
            let mut l = l.clone();
            l.as_object_mut().unwrap().remove("field_expire_ms");
            if let Some(groups) = l["value"].get_mut("groups").and_then(Value::as_array_mut) {
                for g in groups {
                    g["consumer_active_time_ms"] = Value::Null;
                }
            }
            l
        })
        .collect()
}

/// Streams of the truth with a consumer whose active time differs from its
/// seen time: what `--lossy` must report as dropped stream metadata.
fn streams_losing_active_time(lines: &[Value]) -> u64 {
    lines
        .iter()
        .filter(|l| {
            l["value"]["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|g| {
                    let seen = &g["consumer_seen_time_ms"];
                    g["consumer_active_time_ms"]
                        .as_object()
                        .is_some_and(|a| a.iter().any(|(name, t)| seen.get(name) != Some(t)))
                })
        })
        .count() as u64
}

#[test]
fn newer_and_valkey_files_to_redis_7_0() {
    let dir = TempDir::new("rdbw");
    let fixtures: Vec<PathBuf> = command_mode_fixtures()
        .into_iter()
        .filter(|p| is_newer(p))
        .collect();
    assert!(
        fixtures.len() >= 10,
        "only {} newer fixtures",
        fixtures.len()
    );
    check_fixtures(
        "newer_and_valkey_files_to_redis_7_0",
        &fixtures,
        |i, rdb| {
            let out = dir.join(&format!("{i}.rdb"));
            let src = rdb.display().to_string();
            let truth = expected(rdb);
            let has_ttl = truth.iter().any(|l| l.get("field_expire_ms").is_some());
            // Without --lossy, a file with field TTLs is refused, naming a key.
            if has_ttl {
                let r = rdbkit(&[
                    "rdb",
                    src.as_str(),
                    "--to",
                    "redis-7.0",
                    "-o",
                    &out.display().to_string(),
                ]);
                if r.code != 1 || !r.all_text().contains("key ") || out.exists() {
                    return Err(format!("field TTLs not refused: {}", r.describe()));
                }
            }
            let s = write(&[&src, "--to", "redis-7.0", "--lossy"], &out)?;
            let dropped = s["lossy"]["dropped_field_ttls"].as_u64().unwrap();
            let want: u64 = truth
                .iter()
                .filter_map(|l| l.get("field_expire_ms"))
                .map(|m| {
                    m.as_object()
                        .map_or_else(|| m.as_array().map_or(0, |a| a.len()), |o| o.len())
                        as u64
                })
                .sum();
            let expired = s["lossy"]["expired_fields"].as_u64().unwrap();
            if dropped + expired < want {
                return Err(format!(
                    "dropped {dropped} field TTLs, truth holds {want}: {s}"
                ));
            }
            let streams = s["lossy"]["dropped_stream_fields"].as_u64().unwrap();
            if streams < streams_losing_active_time(&truth) {
                return Err(format!(
                    "dropped stream metadata of {streams} keys, truth has more: {s}"
                ));
            }
            check_rdb(&out)?;
            let s2 = start_from(&out);
            let mut c = s2.conn();
            let k = compare_lines(&dump_server(&mut c), &as_redis_7_0(&truth))?;
            compare_functions(&mut c, rdb)?;
            Ok(k)
        },
    );
}
