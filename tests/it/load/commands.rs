//! Command mode: `--mode auto` loads every fixture, of any RDB version,
//! into Redis 7.0 (RESTORE where it can, commands where it cannot); the
//! conflict policies as commands; big and huge keys streamed in bounded
//! commands and memory, and named in the summary.

use crate::util as support;
use crate::util::common;

use std::thread::sleep;
use std::time::Duration;

use support::run::*;
use support::server::*;
use support::truth::*;

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
