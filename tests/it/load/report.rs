//! What a load reports: failed keys (exit 4, `--failed` is a replayable
//! RESP stream), the human summary and the exit codes of errors,
//! `--dry-run`'s table, and progress that follows acknowledged keys.

use crate::util as support;
use crate::util::common;

use std::path::Path;

use support::resp::{command_name, parse_command_stream};
use support::run::*;
use support::server::*;
use support::truth::*;

use super::{populated_rdb, DEFAULT_RDB};

#[test]
fn load_failed_keys_are_counted_and_replayable() {
    let rdb = common::fixture(DEFAULT_RDB);
    let truth = expected(&rdb);
    let server = Server::start_with(ServerOpts {
        args: vec!["--maxmemory-policy".into(), "noeviction".into()],
        ..Default::default()
    });
    let mut c = server.conn();
    let used: u64 = c
        .info_field("memory", "used_memory")
        .unwrap()
        .parse()
        .unwrap();
    // room for part of the data set only (it holds a 1 MiB string alone)
    c.ok([
        "CONFIG",
        "SET",
        "maxmemory",
        &(used + 1_000_000).to_string(),
    ]);
    let tmp = TempDir::new("failed");
    let failed = tmp.join("failed.resp");
    let out = load(
        &rdb,
        &server.url(),
        &[
            "--failed",
            failed.to_str().unwrap(),
            "--max-errors",
            "1000000",
        ],
    );
    assert_eq!(
        out.code,
        4,
        "some keys must fail with OOM: {}",
        out.describe()
    );
    let s = out.summary();
    check_summary(&s, false);
    let nf = n(&s, "failed");
    assert!(nf > 0, "failed == 0: {s}");
    assert_eq!(
        n(&s, "loaded") + nf,
        truth.len() as u64,
        "loaded + failed: {s}"
    );
    let kinds = s["errors_by_kind"].as_object().unwrap();
    assert!(
        kinds.keys().any(|k| k.starts_with("OOM")),
        "errors_by_kind should have an OOM kind: {s}"
    );
    let cmds = parse_command_stream(&std::fs::read(&failed).expect("--failed file"))
        .unwrap_or_else(|e| panic!("--failed file is not a RESP command stream: {e}"));
    let restores = cmds.iter().filter(|c| command_name(c) == "RESTORE").count() as u64;
    assert_eq!(restores, nf, "RESTORE commands in the --failed file");
    eprintln!(
        "load_failed_keys_are_counted_and_replayable: {} loaded, {nf} failed ({:?})",
        n(&s, "loaded"),
        kinds
    );
    // replay after lifting the limit: the server ends up equal to the truth
    c.ok(["CONFIG", "SET", "maxmemory", "0"]);
    let (code, errors, _, text) = pipe(server.port, &failed);
    assert!(code == 0 && errors == 0, "replaying --failed: {text}");
    compare_lines(&dump_server(&mut c), &truth).unwrap_or_else(|e| panic!("after replay: {e}"));
    compare_functions(&mut c, &rdb).unwrap_or_else(|e| panic!("after replay: {e}"));

    // default --max-errors (0): the load stops at the first failed key, exit 4
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
        &(used + 1_000_000).to_string(),
    ]);
    let out = load(&rdb, &server.url(), &[]);
    assert_eq!(out.code, 4, "stopped on errors: {}", out.describe());
    let s = out.summary();
    check_summary(&s, false);
    assert!(n(&s, "failed") >= 1, "{s}");
    eprintln!("  with the default --max-errors: {s}");
    c.ok(["CONFIG", "SET", "maxmemory", "0"]);
}

#[test]
fn load_human_summary_and_error_exits() {
    let rdb = common::fixture(DEFAULT_RDB);
    let rdb_s = rdb.to_str().unwrap();
    let server = Server::start();
    let url = server.url();

    // without --json: nothing on stdout, a human summary on stderr
    let out = rdbkit(&["load", rdb_s, "--target", &url]);
    out.expect_code(0);
    assert!(
        out.stdout.is_empty(),
        "stdout without --json: {}",
        out.describe()
    );
    assert!(
        out.stderr.contains(&expected(&rdb).len().to_string()),
        "the human summary should give the number of loaded keys: {}",
        out.describe()
    );
    server.flush();

    // usage errors: exit 2
    rdbkit(&["load", rdb_s]).expect_code(2); // no --target
    rdbkit(&["load", rdb_s, "--target", &url, "--on-conflict", "bogus"]).expect_code(2);
    assert_eq!(server.total_keys(), 0);

    // runtime errors: exit 1
    let dead = format!("redis://127.0.0.1:{}", free_port(false)); // nothing listens
    let out = rdbkit(&["load", rdb_s, "--target", &dead, "-q"]);
    out.expect_code(1);
    let out = rdbkit(&["load", "/nonexistent/x.rdb", "--target", &url, "-q"]);
    out.expect_code(1);
    let tmp = TempDir::new("trunc");
    let cut = tmp.join("cut.rdb");
    let data = common::read(&rdb);
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let out = rdbkit(&["load", cut.to_str().unwrap(), "--target", &url, "-q"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("cut.rdb"),
        "a format error should name the file: {}",
        out.describe()
    );
}

/// Issue: `--dry-run`'s table said "would-conflict1" and "not attempted
/// 124" instead of "would load 124".
#[test]
fn dry_run_report_reads_right() {
    let tmp = TempDir::new("dry-text");
    let rdb = populated_rdb(&tmp, &[(1000, "key")]);
    let server = Server::start();
    server.conn().ok(["SET", "key:7", "theirs"]);
    let out = rdbkit(&[
        "load",
        rdb.to_str().unwrap(),
        "--target",
        &server.url(),
        "--dry-run",
    ]);
    assert_eq!(out.code, 3, "{}", out.describe());
    let text = out.stderr.clone();
    assert!(text.contains("would-conflict  "), "{text}");
    assert!(text.contains("would load      999"), "{text}");
    assert!(!text.contains("not attempted"), "{text}");
}

/// Issue: the progress bar showed "0 keys/s" and 100 % while keys were
/// still in flight. It now counts keys whose reply came back, out of the
/// keys the walk counted: seen through a terminal (`script` gives the load
/// a pseudo-terminal), the bar's last state before the end is below the
/// total while a slowed-down target still holds keys in flight.
#[test]
fn progress_follows_acknowledged_keys() {
    if !Path::new("/usr/bin/script").exists() {
        eprintln!("SKIPPED: /usr/bin/script (util-linux) is not installed");
        return;
    }
    let tmp = TempDir::new("progress");
    let rdb = populated_rdb(&tmp, &[(200_000, "key")]);
    let server = Server::start();
    let bin = env!("CARGO_BIN_EXE_rdbkit");
    let cmd = format!(
        "{bin} load {} --target {}",
        rdb.to_str().unwrap(),
        server.url()
    );
    let out = std::process::Command::new("/usr/bin/script")
        .args(["-qfec", &cmd, "/dev/null"])
        .env("COLUMNS", "200")
        .output()
        .unwrap();
    let screen = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{screen}");
    // Frames look like "... 12,345/200,000 keys 98,765/s ETA ...".
    let frames: Vec<(u64, u64)> = screen
        .split(" keys ")
        .filter_map(|f| {
            let last = f.rsplit(' ').next()?;
            let (a, b) = last.split_once('/')?;
            let num = |x: &str| x.replace(',', "").parse::<u64>().ok();
            Some((num(a)?, num(b)?))
        })
        .collect();
    assert!(!frames.is_empty(), "no progress frames: {screen:?}");
    assert!(
        frames.iter().all(|(_, total)| *total == 200_000),
        "the total is the file's keys: {frames:?}"
    );
    assert!(
        frames.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress went back: {frames:?}"
    );
    assert!(screen.contains("/s"), "no rate shown: {screen:?}");
}
