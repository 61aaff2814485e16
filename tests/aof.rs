//! AOF inputs (issue 17, item 1) against real servers: a Redis 7.0 server
//! with `appendonly yes` writes a multi-part `appendonlydir/` (with an RDB
//! or a RESP base), and `load`, `json`, `stats` and `resp` of it are checked
//! against that server's content (`DEBUG DIGEST`, which covers every key,
//! value and expiry of every db).
//!
//! Redis 7 cannot write the Redis 4–6 single-file form (an RDB preamble
//! followed by commands in one `appendonly.aof`), so that file is crafted
//! here from the real base RDB and the real incremental commands the server
//! wrote, concatenated as Redis 6 would have written them after a rewrite.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::thread::sleep;
use std::time::{Duration, Instant};

use support::resp::Conn;
use support::run::*;
use support::server::*;

fn aof_server(preamble: bool) -> Server {
    let args = [
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--aof-use-rdb-preamble",
        if preamble { "yes" } else { "no" },
        "--enable-debug-command",
        "yes",
    ];
    Server::start_with(ServerOpts {
        args: args.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    })
}

fn plain_server() -> Server {
    Server::start_with(ServerOpts {
        args: vec!["--enable-debug-command".into(), "yes".into()],
        ..Default::default()
    })
}

fn digest(s: &Server) -> String {
    s.conn().cmd(["DEBUG", "DIGEST"]).text()
}

fn wait_rewrite(c: &mut Conn) {
    let t = Instant::now();
    loop {
        let busy = c.info_field("persistence", "aof_rewrite_in_progress");
        let sched = c.info_field("persistence", "aof_rewrite_scheduled");
        if busy.as_deref() == Some("0") && sched.as_deref() == Some("0") {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "BGREWRITEAOF did not finish"
        );
        sleep(Duration::from_millis(50));
    }
}

/// Writes before and after a rewrite: several dbs, a MULTI/EXEC, expiring
/// keys, a delete and binary values. Returns the number of commands (not
/// SELECTs) written after the rewrite.
fn populate(s: &Server) -> u64 {
    let mut c = s.conn();
    c.ok(["SET", "a", "1"]);
    c.cmd(["RPUSH", "l", "x", "y", "z"]);
    c.ok(["SELECT", "2"]);
    c.ok(["SET", "b", "2"]);
    c.ok(["SET", "gone", "soon"]);
    c.ok(["SELECT", "0"]);
    c.cmd(["BGREWRITEAOF"]);
    wait_rewrite(&mut c);
    // After the rewrite: the incremental file.
    let mut n = 0;
    c.ok(["SET", "after", "1"]);
    c.ok(["SET", "ttl", "v", "EX", "1000"]);
    c.cmd(["HSET", "h", "f", "v", "g", "\u{0}\u{ff}"]);
    c.ok(["MULTI"]);
    c.cmd(["INCR", "counter"]);
    c.cmd(["LPUSH", "l", "w"]);
    c.cmd(["EXEC"]);
    n += 7;
    c.ok(["SELECT", "3"]);
    c.cmd(["SADD", "s", "m1", "m2"]);
    c.ok(["SELECT", "2"]);
    c.cmd(["DEL", "gone"]);
    c.cmd(["EXPIRE", "b", "5000"]);
    n + 3
}

fn aof_dir(s: &Server) -> PathBuf {
    s.dir.join("appendonlydir")
}

/// `load` of a directory equals the source; the summary accounts for the
/// incremental commands.
fn load_equals_source(src: &Server, input: &Path, cmds: u64) -> serde_json::Value {
    let dst = plain_server();
    let out = load(input, &dst.url(), &[]);
    out.expect_code(0);
    let sum = out.summary();
    assert_eq!(digest(&dst), digest(src), "{}", out.describe());
    assert_eq!(sum["aof"]["replayed"], cmds, "{sum}");
    assert_eq!(sum["aof"]["failed"], 0, "{sum}");
    sum
}

#[test]
fn multipart_dir_with_rdb_base_loads_equal() {
    let src = aof_server(true);
    let cmds = populate(&src);
    let dir = aof_dir(&src);
    let base = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().ends_with(".base.rdb"));
    assert!(base.is_some(), "Redis 7 wrote an RDB base");
    let sum = load_equals_source(&src, &dir, cmds);
    assert_eq!(sum["aof"]["truncated"], serde_json::Value::Null);
    // The manifest path works as the directory does.
    let manifest = dir.join("appendonly.aof.manifest");
    load_equals_source(&src, &manifest, cmds);
}

#[test]
fn multipart_dir_with_resp_base_loads_equal() {
    let src = aof_server(false);
    let cmds = populate(&src);
    let dir = aof_dir(&src);
    let base = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().ends_with(".base.aof"));
    assert!(base.is_some(), "aof-use-rdb-preamble no writes a RESP base");
    // The RESP base's commands are replayed too: more than the incrementals.
    let dst = plain_server();
    let out = load(&dir, &dst.url(), &[]);
    out.expect_code(0);
    assert_eq!(digest(&dst), digest(&src));
    assert!(out.summary()["aof"]["replayed"].as_u64().unwrap() > cmds);
}

#[test]
fn truncated_tail_is_reported_and_left_out() {
    let src = aof_server(true);
    let cmds = populate(&src);
    let expected = digest(&src);
    let copy = TempDir::new("aofcopy");
    for e in std::fs::read_dir(aof_dir(&src)).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), copy.join(&e.file_name().to_string_lossy())).unwrap();
    }
    let incr = std::fs::read_dir(copy.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".incr.aof"))
        .unwrap();
    let len = std::fs::metadata(&incr).unwrap().len();
    let mut data = std::fs::read(&incr).unwrap();
    data.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$5\r\nlate");
    std::fs::write(&incr, &data).unwrap();
    let sum = load_equals_source(&src, copy.path(), cmds);
    assert_eq!(sum["aof"]["truncated"]["offset"], len, "{sum}");
    assert_eq!(digest(&src), expected);
}

/// A Redis 4–6 single file: the base RDB, then the incremental commands.
#[test]
fn single_preamble_file_loads_equal_and_converts() {
    let src = aof_server(true);
    let cmds = populate(&src);
    let dir = aof_dir(&src);
    let mut single = Vec::new();
    for suffix in [".base.rdb", ".incr.aof"] {
        let p = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .unwrap();
        single.extend(std::fs::read(p).unwrap());
    }
    let tmp = TempDir::new("aof6");
    let file = tmp.join("appendonly.aof");
    std::fs::write(&file, &single).unwrap();
    load_equals_source(&src, &file, cmds);

    // resp piped into a fresh server equals the source too.
    let resp = tmp.join("out.resp");
    rdbkit(&[
        "resp",
        file.to_str().unwrap(),
        "-o",
        resp.to_str().unwrap(),
        "-q",
    ])
    .expect_code(0);
    let dst = plain_server();
    let (code, errors, _replies, msg) = pipe(dst.port, &resp);
    assert_eq!((code, errors), (0, 0), "{msg}");
    assert_eq!(digest(&dst), digest(&src));

    // json: the base's keys, then one line per command with its db.
    let out = rdbkit(&["json", file.to_str().unwrap(), "-q"]);
    out.expect_code(0);
    let lines: Vec<serde_json::Value> = out
        .stdout_text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let commands: Vec<_> = lines
        .iter()
        .filter(|l| l.get("command").is_some())
        .collect();
    assert_eq!(commands.len() as u64, cmds);
    assert!(lines[..lines.len() - commands.len()]
        .iter()
        .all(|l| l.get("key").is_some()));
    let named = |n: &str| {
        *commands
            .iter()
            .find(|l| {
                l["command"][0]
                    .as_str()
                    .is_some_and(|c| c.eq_ignore_ascii_case(n))
            })
            .unwrap()
    };
    let sadd = named("sadd");
    assert_eq!(sadd["db"], 3);
    assert_eq!(
        sadd["command"],
        serde_json::json!(["SADD", "s", "m1", "m2"])
    );
    let hset = named("hset");
    assert_eq!(hset["command"][5], "\u{0}\u{ff}");

    // stats: the base's keys and the command counts.
    let out = rdbkit(&["stats", file.to_str().unwrap(), "--json", "-q"]);
    out.expect_code(0);
    let st: serde_json::Value = serde_json::from_str(&out.stdout_text()).unwrap();
    assert_eq!(st["keys"], 4);
    assert_eq!(st["aof"]["by_name"]["SADD"], 1);
    assert_eq!(st["aof"]["by_name"]["MULTI"], 1);
}

#[test]
fn db_filter_and_map_apply_to_commands() {
    let src = aof_server(true);
    populate(&src);
    let dst = plain_server();
    let out = load(
        &aof_dir(&src),
        &dst.url(),
        &["--db", "3", "--db-map", "3=5"],
    );
    out.expect_code(0);
    let sum = out.summary();
    assert_eq!(sum["aof"]["replayed"], 1, "{sum}");
    assert_eq!(sum["aof"]["filtered"], 9, "{sum}");
    let mut c = dst.conn();
    c.ok(["SELECT", "5"]);
    assert_eq!(c.int(["SCARD", "s"]), 2);
    assert_eq!(dst.total_keys(), 1);
}

#[test]
fn cluster_target_is_refused_before_writing() {
    let src = aof_server(true);
    populate(&src);
    let dst = plain_server();
    let out = load(&aof_dir(&src), &dst.url(), &["--cluster"]);
    out.expect_code(2);
    assert_eq!(dst.total_keys(), 0);
}
