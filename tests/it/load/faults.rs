//! Faults of the target mid-load: a crash (with and without `--resume`), a
//! hang (SIGSTOP), `-LOADING` / `-BUSY`, a cluster failover, dropped
//! connections. Every key arrives, checked by `rdbkit verify`.

use crate::util as support;
use crate::util::common;

use std::path::Path;
use std::thread::sleep;
use std::time::{Duration, Instant};

use serde_json::Value;

use support::run::*;
use support::server::*;

use super::{hang_target_until_done, populated_rdb, wait_for_keys, DEFAULT_RDB};

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
