//! `rdbkit load --mode replicate` against real servers: rdbkit serves the
//! snapshot as the target's master for one full synchronisation. Content is
//! compared with `DEBUG DIGEST` of a server that loaded the same file at
//! start-up; every failure path of issue 16 is run for real (unreachable
//! listener, a stranger on the listener, the replica dropping mid-transfer,
//! the target killed mid-load, a control user without CONFIG/REPLICAOF),
//! and each checks that the target's settings were put back.
//!
//! Servers other than Debian's Redis 7.0 are used when named by
//! `RDBKIT_REDIS_7_4`, `RDBKIT_REDIS_UNSTABLE`, `RDBKIT_VALKEY_9`,
//! `RDBKIT_VALKEY_UNSTABLE` (and `/usr/bin/valkey-server` when present);
//! the tests say which they skip.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::resp::{Conn, Reply};
use support::run::*;
use support::server::*;

fn testdata(rel: &str) -> PathBuf {
    common::testdata_dir().join(rel)
}

/// A server with DEBUG enabled (for DEBUG DIGEST).
fn debug_server(binary: Option<PathBuf>, rdb: Option<&Path>, extra: &[&str]) -> Server {
    let mut args: Vec<String> = vec!["--enable-debug-command".into(), "yes".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    Server::start_with(ServerOpts {
        args,
        binary,
        rdb: rdb.map(Path::to_path_buf),
        ..Default::default()
    })
}

fn digest(s: &Server) -> String {
    s.conn().must(["DEBUG", "DIGEST"]).text()
}

/// The digest of a server (of `binary`) that loaded `rdb` itself at start-up.
fn digest_of_file(binary: Option<PathBuf>, rdb: &Path) -> String {
    digest(&debug_server(binary, Some(rdb), &[]))
}

/// `rdbkit load FILES --target URL --mode replicate --json -q EXTRA...`.
fn replicate(files: &[&Path], target: &str, extra: &[&str]) -> Out {
    let mut args: Vec<String> = vec!["load".into()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    args.extend(
        ["--target", target, "--mode", "replicate", "--json", "-q"]
            .iter()
            .map(|s| s.to_string()),
    );
    args.extend(extra.iter().map(|s| s.to_string()));
    rdbkit(&args)
}

/// The settings a replicated load changes, and the role.
fn settings(s: &Server) -> Vec<String> {
    let mut c = s.conn();
    let mut v: Vec<String> = ["masterauth", "masteruser", "repl-diskless-load"]
        .iter()
        .map(|k| c.must(["CONFIG", "GET", k]).array()[1].text())
        .collect();
    v.push(c.info_field("replication", "role").unwrap_or_default());
    v
}

fn assert_restored(s: &Server, before: &[String], ctx: &str) {
    assert_eq!(settings(s), before, "{ctx}: settings not restored");
}

fn skip_unless(var: &str, test: &str) -> Option<PathBuf> {
    match std::env::var_os(var).map(PathBuf::from) {
        Some(p) if p.is_file() => Some(p),
        _ => {
            println!("{test}: SKIPPED: set {var} to a server binary to run it");
            None
        }
    }
}

#[test]
fn replicated_load_equals_start_up_load() {
    for rel in [
        "redis-7.0.15/default.rdb",
        "redis-7.0.15/compact.rdb",
        "redis-7.0.15/expanded.rdb",
        "redis-6.2.16/default.rdb",
        "redis-4.0.14/default.rdb",
    ] {
        let f = testdata(rel);
        let want = digest_of_file(None, &f);
        let s = debug_server(None, None, &[]);
        let before = settings(&s);
        let out = replicate(&[&f], &s.url(), &[]);
        out.expect_code(0);
        let sum = out.summary();
        assert_eq!(
            digest(&s),
            want,
            "{rel}: content differs from a start-up load"
        );
        assert_eq!(n(&sum, "loaded"), s.total_keys(), "{rel}: {sum}");
        assert_eq!(
            n(&sum, "keys_read"),
            n(&sum, "loaded")
                + n(&sum, "skipped_expired")
                + n(&sum, "skipped_empty")
                + n(&sum, "filtered"),
            "{rel}: buckets do not add up: {sum}"
        );
        assert_restored(&s, &before, rel);
        assert!(!out.all_text().contains(&before[0]) || before[0].is_empty());
    }
}

#[test]
fn expired_keys_are_left_out_as_restore_mode_does() {
    let f = testdata("redis-7.0.15/expired.rdb");
    let s = debug_server(None, None, &[]);
    let out = replicate(&[&f], &s.url(), &[]);
    out.expect_code(0);
    let sum = out.summary();
    assert!(n(&sum, "skipped_expired") > 0, "{sum}");
    assert_eq!(n(&sum, "loaded"), s.total_keys(), "{sum}");
    let r = debug_server(None, None, &[]);
    load(&f, &r.url(), &["--mode", "restore"]).expect_code(0);
    assert_eq!(digest(&s), digest(&r), "replicate and restore modes differ");
}

#[test]
fn conversion_filter_and_db_map_are_written_on_the_fly() {
    // An RDB 12 file into Redis 7.0 (RDB 10): converted by the writer.
    let f = testdata("redis-7.4.1/default.rdb");
    let dir = TempDir::new("repl-conv");
    let conv = dir.join("conv.rdb");
    rdbkit(&[
        "rdb",
        f.to_str().unwrap(),
        "-o",
        conv.to_str().unwrap(),
        "--to",
        "redis-7.0",
        "--lossy",
        "-q",
    ])
    .expect_code(0);
    let want = digest_of_file(None, &conv);
    let s = debug_server(None, None, &[]);
    let out = replicate(&[&f], &s.url(), &["--lossy"]);
    out.expect_code(0);
    assert!(
        out.stdout_text().contains("as Redis RDB 10"),
        "{}",
        out.describe()
    );
    assert_eq!(digest(&s), want);

    // A filter and a database map.
    let f = testdata("redis-7.0.15/default.rdb");
    let s = debug_server(None, None, &[]);
    let out = replicate(
        &[&f],
        &s.url(),
        &["--db", "0", "--db-map", "0=5", "--type", "hash"],
    );
    out.expect_code(0);
    let sum = out.summary();
    let mut c = s.conn();
    c.ok(["SELECT", "5"]);
    let in5 = c.int(["DBSIZE"]) as u64;
    assert!(
        in5 > 0 && in5 == n(&sum, "loaded") && in5 == s.total_keys(),
        "{sum}"
    );
    assert!(n(&sum, "filtered") > 0, "{sum}");
    let r = debug_server(None, None, &[]);
    load(
        &f,
        &r.url(),
        &[
            "--db", "0", "--db-map", "0=5", "--type", "hash", "--mode", "restore",
        ],
    )
    .expect_code(0);
    assert_eq!(
        digest(&s),
        digest(&r),
        "filtered replicate differs from filtered restore"
    );

    // Two inputs merged.
    let a = testdata("redis-7.0.15/default.rdb");
    let b = testdata("redis-6.2.16/expired.rdb");
    let s = debug_server(None, None, &[]);
    let out = replicate(&[&a, &b], &s.url(), &["--target-db", "2"]);
    if out.code == 0 {
        let sum = out.summary();
        assert_eq!(n(&sum, "loaded"), s.total_keys(), "{sum}");
    } else {
        // Keys in both inputs: the writer's panic policy names one.
        assert!(
            out.stderr.contains("conflict") || out.stderr.contains("both"),
            "{}",
            out.describe()
        );
        assert_eq!(s.total_keys(), 0);
    }
}

#[test]
fn a_non_empty_target_is_refused_unless_replace_all() {
    let f = testdata("redis-7.0.15/default.rdb");
    let s = debug_server(None, None, &[]);
    s.conn().ok(["SELECT", "3"]);
    let mut c = s.conn();
    c.ok(["SELECT", "3"]);
    c.ok(["SET", "mine", "1"]);
    let before = settings(&s);
    let out = replicate(&[&f], &s.url(), &[]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("--replace-all") && out.stderr.contains("db3: 1"),
        "{}",
        out.describe()
    );
    assert_eq!(s.total_keys(), 1);
    assert_restored(&s, &before, "refused");
    let out = replicate(&[&f], &s.url(), &["--replace-all"]);
    out.expect_code(0);
    assert_eq!(
        digest(&s),
        digest_of_file(None, &f),
        "--replace-all: not the file's content"
    );
    assert_restored(&s, &before, "--replace-all");
}

#[test]
fn a_cluster_target_is_refused_with_the_way_out() {
    let f = testdata("redis-7.0.15/default.rdb");
    let s = Server::start_with(ServerOpts {
        cluster: true,
        ..Default::default()
    });
    let out = replicate(&[&f], &s.url(), &[]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("split") && out.stderr.contains("--mode restore"),
        "{}",
        out.describe()
    );
}

#[test]
fn an_unreachable_listener_names_both_addresses_and_changes_nothing() {
    let f = testdata("redis-7.0.15/default.rdb");
    let s = debug_server(None, None, &[]);
    let before = settings(&s);
    let listen = format!("127.0.0.1:{}", free_port(false));
    // Nothing listens at the advertised address.
    let adv = format!("127.0.0.1:{}", free_port(false));
    let out = replicate(
        &[&f],
        &s.url(),
        &[
            "--listen",
            &listen,
            "--advertise",
            &adv,
            "--connect-wait",
            "3",
        ],
    );
    out.expect_code(1);
    assert!(
        out.stderr.contains(&adv) && out.stderr.contains(&listen),
        "{}",
        out.describe()
    );
    assert!(out.stderr.contains(&s.addr()), "{}", out.describe());
    assert!(
        out.stderr.contains("holds nothing of this load"),
        "{}",
        out.describe()
    );
    assert_eq!(s.total_keys(), 0);
    assert_restored(&s, &before, "unreachable");
}

/// Reads what the listener sends back (until it closes or 2 s pass).
fn talk(port: u16, send: &[u8]) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut t = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let _ = t.write_all(send);
    let mut got = Vec::new();
    let _ = t.read_to_end(&mut got);
    got
}

#[test]
fn a_stranger_on_the_listener_gets_an_error_and_no_data() {
    let f = testdata("redis-7.0.15/default.rdb");
    let s = debug_server(None, None, &[]);
    let before = settings(&s);
    let port = free_port(false);
    let listen = format!("127.0.0.1:{port}");
    // The target is sent elsewhere, so the stranger is alone on the listener.
    let adv = format!("127.0.0.1:{}", free_port(false));
    let (child, cmd) = spawn_rdbkit(&[
        "load",
        f.to_str().unwrap(),
        "--target",
        &s.url(),
        "--mode",
        "replicate",
        "-q",
        "--listen",
        &listen,
        "--advertise",
        &adv,
        "--connect-wait",
        "4",
    ]);
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the listener never opened"
        );
        sleep(Duration::from_millis(20));
    }
    let a = talk(port, b"*1\r\n$4\r\nSYNC\r\n");
    assert!(a.starts_with(b"-NOAUTH"), "{}", String::from_utf8_lossy(&a));
    let b = talk(
        port,
        b"*2\r\n$4\r\nAUTH\r\n$5\r\nguess\r\n*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n",
    );
    assert!(
        b.starts_with(b"-WRONGPASS"),
        "{}",
        String::from_utf8_lossy(&b)
    );
    assert!(b.len() < 100, "data was sent to a stranger");
    let out = wait_child(child, cmd, Duration::from_secs(60));
    out.expect_code(1);
    assert!(
        out.stderr.contains("refused") && out.stderr.contains("wrong password"),
        "{}",
        out.describe()
    );
    assert_eq!(s.total_keys(), 0);
    assert_restored(&s, &before, "stranger");
}

#[test]
fn a_control_user_without_config_or_replicaof_is_told_to_use_restore_mode() {
    let f = testdata("redis-7.0.15/default.rdb");
    let s = debug_server(None, None, &[]);
    let before = settings(&s);
    for rule in ["-config", "-replicaof"] {
        s.conn().ok([
            "ACL", "SETUSER", "app", "reset", "on", ">pw", "~*", "+@all", rule,
        ]);
        let out = replicate(&[&f], &format!("redis://app:pw@127.0.0.1:{}", s.port), &[]);
        out.expect_code(1);
        assert!(
            out.stderr.contains("--mode restore"),
            "{rule}: {}",
            out.describe()
        );
        assert!(!out.stderr.contains(":pw@"), "the password was printed");
        assert_eq!(s.total_keys(), 0);
        assert_restored(&s, &before, rule);
    }
}

/// An RDB of `keys` keys (~100-byte values), written by a server.
fn big_rdb(dir: &TempDir, keys: u64) -> PathBuf {
    let s = debug_server(None, None, &[]);
    let mut c = s.conn();
    c.ok(["DEBUG", "POPULATE", &keys.to_string(), "key", "100"]);
    c.ok(["SAVE"]);
    let p = dir.join("big.rdb");
    std::fs::copy(s.dir.join("dump.rdb"), &p).unwrap();
    p
}

/// Waits until the target is receiving or loading a synchronisation.
fn wait_syncing(c: &mut Conn, limit: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        let r = c.try_cmd(["INFO", "replication"]);
        if let Ok(Reply::Bulk(Some(b))) = r {
            if String::from_utf8_lossy(&b).contains("master_sync_in_progress:1") {
                return true;
            }
        }
        sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn the_target_killed_mid_load_ends_with_a_clear_state() {
    let dir = TempDir::new("repl-kill");
    let f = big_rdb(&dir, 1_500_000);
    let mut s = debug_server(None, None, &[]);
    let (child, cmd) = spawn_rdbkit(&[
        "load",
        f.to_str().unwrap(),
        "--target",
        &s.url(),
        "--mode",
        "replicate",
        "-q",
    ]);
    let mut c = s.conn();
    assert!(
        wait_syncing(&mut c, Duration::from_secs(60)),
        "the sync never started"
    );
    s.kill();
    let out = wait_child(child, cmd, Duration::from_secs(120));
    out.expect_code(1);
    assert!(
        out.stderr.contains(&s.addr()) && out.stderr.contains("state is unknown"),
        "{}",
        out.describe()
    );
}

#[test]
fn a_replica_dropping_mid_transfer_is_served_again() {
    let dir = TempDir::new("repl-drop");
    let f = big_rdb(&dir, 1_500_000);
    let want = digest_of_file(None, &f);
    // The target gives up on a master silent for 1 s.
    let s = debug_server(None, None, &["--repl-timeout", "1"]);
    let before = settings(&s);
    let (child, cmd) = spawn_rdbkit(&[
        "load",
        f.to_str().unwrap(),
        "--target",
        &s.url(),
        "--mode",
        "replicate",
        "--json",
        "-q",
    ]);
    let mut c = s.conn();
    assert!(
        wait_syncing(&mut c, Duration::from_secs(60)),
        "the sync never started"
    );
    let pid = child.id().to_string();
    Command::new("kill").args(["-STOP", &pid]).status().unwrap();
    sleep(Duration::from_secs(4));
    Command::new("kill").args(["-CONT", &pid]).status().unwrap();
    let out = wait_child(child, cmd, Duration::from_secs(300));
    out.expect_code(0);
    let sum = out.summary();
    assert!(n(&sum, "retries") >= 1, "no drop was seen: {sum}");
    assert_eq!(digest(&s), want);
    assert_restored(&s, &before, "drop");
}

#[test]
fn a_target_with_a_replica_ends_with_the_replica_holding_the_same_keys() {
    let f = testdata("redis-7.0.15/default.rdb");
    let s = debug_server(None, None, &[]);
    let r = debug_server(None, None, &[]);
    r.conn().ok(["REPLICAOF", "127.0.0.1", &s.port.to_string()]);
    let out = replicate(&[&f], &s.url(), &[]);
    out.expect_code(0);
    let want = digest(&s);
    let t0 = Instant::now();
    while digest(&r) != want {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the replica never caught up"
        );
        sleep(Duration::from_millis(200));
    }
    assert_eq!(r.total_keys(), s.total_keys());
}

#[test]
fn other_servers() {
    let mut bins: Vec<(String, PathBuf)> = Vec::new();
    for var in [
        "RDBKIT_REDIS_7_4",
        "RDBKIT_REDIS_UNSTABLE",
        "RDBKIT_VALKEY_9",
        "RDBKIT_VALKEY_UNSTABLE",
    ] {
        if let Some(b) = skip_unless(var, "other_servers") {
            bins.push((var.into(), b));
        }
    }
    let valkey8 = PathBuf::from("/usr/bin/valkey-server");
    if valkey8.is_file() {
        bins.push(("valkey-server".into(), valkey8));
    } else {
        println!("other_servers: /usr/bin/valkey-server absent: Valkey 8 skipped");
    }
    for (name, bin) in bins {
        for rel in [
            "redis-7.0.15/default.rdb",
            "valkey-9.1.0/default.rdb",
            "redis-7.4.1/default.rdb",
        ] {
            let f = testdata(rel);
            let s = debug_server(Some(bin.clone()), None, &[]);
            let before = settings(&s);
            let out = replicate(&[&f], &s.url(), &[]);
            if out.code != 0 {
                // Field TTLs a Valkey 8 cannot hold: refused with --lossy named.
                assert!(
                    out.stderr.contains("--lossy"),
                    "{name} {rel}: {}",
                    out.describe()
                );
                assert_eq!(s.total_keys(), 0);
                continue;
            }
            let reference = debug_server(Some(bin.clone()), None, &[]);
            // Auto mode: RESTORE where the server reads the payload, commands elsewhere.
            load(&f, &reference.url(), &[]).expect_code(0);
            assert_eq!(digest(&s), digest(&reference), "{name} {rel}");
            assert_restored(&s, &before, &name);
            println!("other_servers: {name} {rel}: ok");
        }
    }
}

/// Whether a summary's notes hold the RESTORE mode's pointer to this mode.
fn has_faster_hint(sum: &serde_json::Value) -> bool {
    sum["notes"].as_array().is_some_and(|v| {
        v.iter().any(|n| {
            n.as_str().is_some_and(|t| {
                t.contains("the target was empty") && t.contains("--mode replicate")
            })
        })
    })
}

#[test]
fn a_restore_load_into_an_empty_target_points_to_this_mode() {
    let f = testdata("redis-7.0.15/default.rdb");
    let s = Server::start();
    let out = load(&f, &s.url(), &[]);
    out.expect_code(0);
    let sum = out.summary();
    assert!(n(&sum, "loaded") > 0, "{sum}");
    assert!(has_faster_hint(&sum), "empty target, no hint: {sum}");
    // The same load again: the target held keys at the start, no hint.
    let out = load(&f, &s.url(), &["--on-conflict", "rewrite"]);
    out.expect_code(0);
    let sum = out.summary();
    assert_eq!(n(&sum, "conflicts"), n(&sum, "keys_read"), "{sum}");
    assert!(!has_faster_hint(&sum), "non-empty target, hint: {sum}");
}

#[test]
fn a_target_replicating_over_tls_is_refused_and_left_as_it_was() {
    let tmp = TempDir::new("repl-tls");
    let st = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes"])
        .args([
            "-keyout",
            "k.pem",
            "-out",
            "c.pem",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-days", "2"])
        .current_dir(tmp.path())
        .output()
        .expect("openssl");
    assert!(st.status.success(), "openssl failed: {st:?}");
    let p = |f: &str| tmp.join(f).display().to_string();
    let s = debug_server(
        None,
        None,
        &[
            "--tls-port",
            &free_port(false).to_string(),
            "--tls-cert-file",
            &p("c.pem"),
            "--tls-key-file",
            &p("k.pem"),
            "--tls-ca-cert-file",
            &p("c.pem"),
            "--tls-auth-clients",
            "no",
            "--tls-replication",
            "yes",
        ],
    );
    let before = settings(&s);
    let f = testdata("redis-7.0.15/default.rdb");
    let out = replicate(&[&f], &s.url(), &[]);
    assert_ne!(out.code, 0, "{}", out.describe());
    let text = out.all_text();
    assert!(
        text.contains("tls-replication yes") && text.contains("--mode restore"),
        "{}",
        out.describe()
    );
    assert_eq!(s.total_keys(), 0);
    assert_restored(&s, &before, "tls-replication target");
}

/// Waits until something listens on `port`.
fn wait_listening(port: u16) {
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the listener never opened"
        );
        sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_gives_an_authenticated_replica_the_snapshot_and_a_stranger_nothing() {
    let f = testdata("redis-7.0.15/default.rdb");
    let want = digest_of_file(None, &f);
    let port = free_port(false);
    let listen = format!("127.0.0.1:{port}");
    let secret = format!("serve-test-{}", std::process::id());
    let args = [
        "serve",
        f.to_str().unwrap(),
        "--listen",
        &listen,
        "--json",
        "--accept-wait",
        "60",
    ];
    let child = support::run::rdbkit_command(&args, &[("RDBKIT_SERVE_PASSWORD", &secret)])
        .spawn()
        .expect("rdbkit serve");
    wait_listening(port);
    // Strangers: no password, a wrong one. Each gets an error and nothing.
    let a = talk(port, b"*1\r\n$4\r\nSYNC\r\n");
    assert!(a.starts_with(b"-NOAUTH"), "{}", String::from_utf8_lossy(&a));
    let b = talk(
        port,
        b"*2\r\n$4\r\nAUTH\r\n$5\r\nguess\r\n*3\r\n$5\r\nPSYNC\r\n$1\r\n?\r\n$2\r\n-1\r\n",
    );
    assert!(
        b.starts_with(b"-WRONGPASS") && b.len() < 100,
        "{}",
        String::from_utf8_lossy(&b)
    );
    // A real replica started pointing at rdbkit, with the password.
    let r = debug_server(
        None,
        None,
        &[
            "--replicaof",
            "127.0.0.1",
            &port.to_string(),
            "--masterauth",
            &secret,
        ],
    );
    let out = wait_child(child, args.join(" "), Duration::from_secs(120));
    out.expect_code(0);
    assert!(!out.all_text().contains(&secret), "the password was echoed");
    let sum: serde_json::Value = serde_json::from_str(out.stdout_text().trim()).unwrap();
    let served = sum["served"].as_array().unwrap();
    assert_eq!(served.len(), 1, "{sum}");
    assert!(n(&served[0], "bytes") > 0, "{sum}");
    // (The probe that waited for the listener is refused too.)
    let refused = sum["refused"].to_string();
    assert!(
        refused.contains("did not authenticate") && refused.contains("wrong password"),
        "{sum}"
    );
    // The replica acknowledged, so it holds the snapshot: same content as
    // a server that loaded the file at start-up.
    assert_eq!(digest(&r), want, "the replica's content differs");
    assert_eq!(r.total_keys(), n(&sum, "keys"), "{sum}");
}
