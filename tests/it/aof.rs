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

use crate::util as support;

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

/// The `"aof"` counts of a summary always add up to its commands.
fn assert_accounted(sum: &serde_json::Value) {
    let a = &sum["aof"];
    let n = |k: &str| a[k].as_u64().unwrap_or_else(|| panic!("{k} in {a}"));
    assert_eq!(
        n("replayed") + n("filtered") + n("failed") + n("unanswered") + n("not_sent"),
        n("commands"),
        "{a}"
    );
}

/// A RESP AOF of `before` SETs, then `cut` (a command the server answers
/// and then closes our connection on, or one that fails), then `after` SETs.
fn crafted_aof(dir: &TempDir, before: u64, cut: &[&str], after: u64) -> (PathBuf, u64) {
    let mut data = Vec::new();
    for i in 0..before {
        data.extend(support::resp::encode(["SET", &format!("k{i}"), "v"]));
    }
    let cut_at = data.len() as u64;
    data.extend(support::resp::encode(cut));
    for i in 0..after {
        data.extend(support::resp::encode(["SET", &format!("late{i}"), "v"]));
    }
    let file = dir.join("appendonly.aof");
    std::fs::write(&file, &data).unwrap();
    (file, cut_at)
}

/// The target closes the connection part-way (`CLIENT KILL ... SKIPME no`
/// in the stream: the server answers it, then drops us and discards what
/// follows): the summary still accounts for every command, names where the
/// replay stopped, and the exit code says it did not finish.
#[test]
fn replay_cut_short_by_the_target_still_reports_every_command() {
    let tmp = TempDir::new("aofcut");
    let kill = ["CLIENT", "KILL", "TYPE", "normal", "SKIPME", "no"];
    let (file, cut_at) = crafted_aof(&tmp, 1000, &kill, 5000);
    let dst = plain_server();
    let out = load(&file, &dst.url(), &[]);
    out.expect_code(1);
    let sum = out.summary();
    assert_accounted(&sum);
    let a = &sum["aof"];
    assert_eq!(a["commands"], 1000 + 1 + 5000, "{a}");
    // Every SET before the kill, and the kill itself, were answered.
    assert_eq!(a["replayed"], 1001, "{a}");
    assert_eq!(a["failed"], 0, "{a}");
    let after = a["unanswered"].as_u64().unwrap() + a["not_sent"].as_u64().unwrap();
    assert_eq!(after, 5000, "{a}");
    assert!(!a["stopped"]["reason"].as_str().unwrap().is_empty(), "{a}");
    // Where it stopped: the first command after the kill, unanswered.
    let kill_len = support::resp::encode(kill).len() as u64;
    assert_eq!(a["stopped"]["at"]["offset"], cut_at + kill_len, "{a}");
    // The server holds exactly what was answered.
    assert_eq!(dst.total_keys(), 1000);

    // The text summary says the same.
    let dst = plain_server();
    let out = rdbkit(&["load", file.to_str().unwrap(), "--target", &dst.url()]);
    out.expect_code(1);
    let text = out.all_text();
    assert!(text.contains("6001 in all: 1001 replayed"), "{text}");
    assert!(text.contains("the replay stopped"), "{text}");
    assert!(
        text.contains(&format!("byte offset {}", cut_at + kill_len)),
        "{text}"
    );
}

/// A target over `maxmemory` (noeviction) refuses writes: those commands
/// count as failed, with their offsets, and the exit code is 4.
#[test]
fn replay_into_a_full_target_counts_failures() {
    let tmp = TempDir::new("aofoom");
    let mut data = Vec::new();
    let big = "x".repeat(4096);
    for i in 0..2000 {
        data.extend(support::resp::encode(["SET", &format!("k{i}"), &big]));
    }
    let file = tmp.join("appendonly.aof");
    std::fs::write(&file, &data).unwrap();
    let dst = plain_server();
    let mut c = dst.conn();
    c.ok(["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    let used: u64 = c
        .info_field("memory", "used_memory")
        .unwrap()
        .parse()
        .unwrap();
    c.ok([
        "CONFIG",
        "SET",
        "maxmemory",
        &(used + (2 << 20)).to_string(),
    ]);
    let out = load(&file, &dst.url(), &[]);
    out.expect_code(4);
    let sum = out.summary();
    assert_accounted(&sum);
    let a = &sum["aof"];
    let (ok, failed) = (
        a["replayed"].as_u64().unwrap(),
        a["failed"].as_u64().unwrap(),
    );
    assert_eq!(ok + failed, 2000, "{a}");
    assert!(failed > 0 && ok > 0, "{a}");
    assert_eq!(a["stopped"], serde_json::Value::Null, "{a}");
    let first = a["errors"][0].as_str().unwrap();
    assert!(
        first.contains("byte offset") && first.contains("OOM"),
        "{first}"
    );
    assert_eq!(dst.total_keys(), ok);
}

/// Key filters apply to commands by their keys (positions from the
/// target's COMMAND table): a command is dropped when none of its keys
/// pass, and one whose keys fall on both sides is refused before writing.
#[test]
fn key_filters_apply_to_commands() {
    let src = aof_server(true);
    let cmds = populate(&src);
    let mut c = src.conn();
    c.ok(["MSET", "m1", "1", "m2", "2"]);
    c.cmd(["ZADD", "m1z", "1", "x"]);
    c.cmd(["ZUNIONSTORE", "mz", "2", "m1z", "m2z"]);
    let dir = aof_dir(&src);

    // m1 passes, m2 does not: the MSET is refused, nothing is written.
    let dst = plain_server();
    let out = load(&dir, &dst.url(), &["--not-key", "m2"]);
    out.expect_code(2);
    assert!(out.all_text().contains("byte offset"), "{}", out.describe());
    assert_eq!(dst.total_keys(), 0);

    // Neither passes: the MSET, the ZADD and the ZUNIONSTORE (keys found
    // through its numkeys argument) are left out; the rest equals the source.
    let out = load(&dir, &dst.url(), &["--not-key", "m*"]);
    out.expect_code(0);
    let sum = out.summary();
    assert_accounted(&sum);
    assert_eq!(sum["aof"]["filtered"], 3, "{sum}");
    assert_eq!(sum["aof"]["replayed"], cmds, "{sum}");
    c.cmd(["DEL", "m1", "m2", "m1z", "mz"]);
    assert_eq!(digest(&dst), digest(&src));
}

fn slot_of(cl: &Cluster, key: &str) -> i64 {
    cl.nodes[0].conn().int(["CLUSTER", "KEYSLOT", key])
}

/// Every key of every db of `src` is on the owner of its slot in `cl`
/// (all in db 0), with the same value (`DEBUG DIGEST-VALUE`) and an expiry
/// where it had one, and
/// the cluster has no other key.
fn assert_cluster_equals(src: &Server, cl: &Cluster, dbs: &[u64]) {
    let mut total = 0;
    let mut s = src.conn();
    for db in dbs {
        s.ok(["SELECT", &db.to_string()]);
        let keys = s.cmd(["KEYS", "*"]);
        for k in keys.array() {
            let k = k.text();
            total += 1;
            let mut owner = cl.owner_of(slot_of(cl, &k)).conn();
            // DIGEST-VALUE, not DUMP: a hash table set's order differs
            // from one process to the next.
            let digest = |c: &mut Conn| c.cmd(["DEBUG", "DIGEST-VALUE", &k]).array()[0].text();
            let want = digest(&mut s);
            assert_ne!(want, "0".repeat(40), "key {k} exists in the source");
            assert_eq!(digest(&mut owner), want, "key {k} (db {db})");
            let ttl = s.int(["PTTL", &k]);
            assert_eq!(owner.int(["PTTL", &k]) > 0, ttl > 0, "key {k}");
        }
    }
    assert_eq!(cl.total_keys(), total);
}

/// A multi-db AOF into a real 3-master cluster: dbs other than 0 need
/// `--db-map`; the cross-slot MULTI of `populate` (INCR counter, LPUSH l)
/// is refused unless split; a single-slot one goes whole to its owner, and
/// a keyless FUNCTION LOAD to every master.
#[test]
fn cluster_replay_of_a_multi_db_aof() {
    let src = aof_server(true);
    let cmds = populate(&src);
    let mut c = src.conn();
    c.ok(["MULTI"]);
    c.cmd(["SET", "{t}a", "1"]);
    c.cmd(["INCR", "{t}b"]);
    c.cmd(["EXEC"]);
    let lib =
        "#!lua name=aoflib\nredis.register_function('aoff', function(keys, args) return 1 end)";
    c.cmd(["FUNCTION", "LOAD", lib]);
    let cmds = cmds + 5;
    let dir = aof_dir(&src);
    let cl = Cluster::start_with(3, 0, &["--enable-debug-command", "yes"]);
    let url = cl.nodes[0].url();
    assert_ne!(slot_of(&cl, "counter"), slot_of(&cl, "l"));

    // db 3 without a mapping: refused with the offset, nothing written.
    let out = load(&dir, &url, &["--split-cross-slot-multi"]);
    out.expect_code(2);
    let text = out.all_text();
    assert!(
        text.contains("byte offset") && text.contains("only db 0"),
        "{text}"
    );
    assert_eq!(cl.total_keys(), 0);

    // Mapped, but the cross-slot transaction is refused.
    let map = ["--db-map", "2=0", "--db-map", "3=0"];
    let out = load(&dir, &url, &map);
    out.expect_code(2);
    let text = out.all_text();
    assert!(
        text.contains("MULTI") && text.contains("byte offset"),
        "{text}"
    );
    assert_eq!(cl.total_keys(), 0);

    // Split: everything lands, each key on its slot's owner.
    let mut args = map.to_vec();
    args.push("--split-cross-slot-multi");
    let out = load(&dir, &url, &args);
    out.expect_code(0);
    let sum = out.summary();
    assert_accounted(&sum);
    let a = &sum["aof"];
    assert_eq!(a["split_transactions"], 1, "{a}");
    assert_eq!(a["filtered"], 2, "{a}");
    assert_eq!(a["replayed"], cmds - 2, "{a}");
    assert_eq!(a["failed"], 0, "{a}");
    assert_cluster_equals(&src, &cl, &[0, 2, 3]);
    // The {t} transaction ran as one on its owner; no other MULTI was sent.
    let owner_port = cl.owner_of(slot_of(&cl, "{t}a")).port;
    for n in &cl.nodes {
        let multis = n
            .conn()
            .info_field("commandstats", "cmdstat_multi")
            .unwrap_or_default();
        assert_eq!(
            multis.starts_with("calls=1,"),
            n.port == owner_port,
            "node {}: {multis}",
            n.port
        );
        let f = n.conn().cmd(["FCALL", "aoff", "0"]);
        assert_eq!(f.int(), 1, "FUNCTION LOAD reached node {}", n.port);
    }
}

/// The key positions read from a real server's `COMMAND` table (key specs)
/// name the same keys as the server's own `COMMAND GETKEYS`, for the
/// commands an AOF holds (where the table cannot say, the replay asks
/// `COMMAND GETKEYS` itself).
#[test]
fn key_positions_match_command_getkeys() {
    use rdbkit::aof::keys::{KeyTable, Positions};
    use rdbkit::redis::{Auth, Conn as RConn, ConnectOptions, Reply};
    let s = plain_server();
    let opts = ConnectOptions::default();
    let mut c = RConn::open(&s.addr(), &Auth::default(), &opts).unwrap();
    let table = KeyTable::from_reply(&c.call_ok(&[b"COMMAND"]).unwrap()).unwrap();
    let cases: &[&[&str]] = &[
        &["SET", "k", "v", "PXAT", "123"],
        &["MSET", "a", "1", "b", "2", "c", "3"],
        &["DEL", "a", "b", "c"],
        &["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"],
        &["ZINTERSTORE", "d", "3", "a", "b", "c"],
        &["EVAL", "return 1", "2", "k1", "k2", "arg"],
        &[
            "EVALSHA",
            "0123456789012345678901234567890123456789",
            "1",
            "k1",
        ],
        &["FCALL", "f", "2", "k1", "k2", "arg"],
        &["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"],
        &["XADD", "s", "*", "f", "v"],
        &["XCLAIM", "s", "g", "c", "0", "1-1"],
        &["SORT", "k", "BY", "w_*", "STORE", "d"],
        &["LMOVE", "a", "b", "LEFT", "RIGHT"],
        &["BITOP", "AND", "d", "a", "b"],
        &["RENAME", "a", "b"],
        &["SMOVE", "a", "b", "m"],
        &["PFMERGE", "d", "a", "b"],
        &["GEOADD", "g", "0", "0", "m"],
        &["RESTORE", "k", "0", "payload", "REPLACE"],
        &["PEXPIREAT", "k", "1"],
        &["HSET", "h", "f", "v", "g", "w"],
        &["COPY", "a", "b", "REPLACE"],
        &["LMPOP", "2", "a", "b", "LEFT"],
        &["FLUSHALL"],
        &["MULTI"],
    ];
    let mut asked = Vec::new();
    for case in cases {
        let args: Vec<&[u8]> = case.iter().map(|a| a.as_bytes()).collect();
        let mut ask: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYS"];
        ask.extend(&args);
        let mut want: Vec<Vec<u8>> = match c.call(&ask).unwrap() {
            Reply::Array(Some(k)) => k.iter().map(|x| x.as_bytes().unwrap().to_vec()).collect(),
            _ => Vec::new(), // "The command has no key arguments"
        };
        match table.positions(&args) {
            Positions::Known(p) => {
                let mut got: Vec<Vec<u8>> = p.iter().map(|&i| args[i].to_vec()).collect();
                got.sort();
                want.sort();
                assert_eq!(got, want, "{case:?}");
            }
            Positions::AskServer => asked.push(case[0]),
            Positions::Unknown => panic!("{case:?}: unknown to the table"),
        }
    }
    // Only SORT's STORE is beyond the key specs (flagged INCOMPLETE).
    assert_eq!(asked, ["SORT"]);
}

/// A RESP AOF of `n` SETs of keys that all hash to the slot of `{d}`.
fn one_slot_aof(dir: &TempDir, n: u64) -> PathBuf {
    let mut data = Vec::new();
    for i in 0..n {
        data.extend(support::resp::encode(["SET", &format!("{{d}}{i}"), "v"]));
    }
    let file = dir.join("appendonly.aof");
    std::fs::write(&file, &data).unwrap();
    file
}

/// A master that has dropped one of its slots (`CLUSTER DELSLOTS`) sees
/// the cluster as down and answers every keyed command with
/// `-CLUSTERDOWN`, while the other masters still map the slot to it. The
/// replay sends the refused units again with a back-off: when the slot
/// never comes back, they count as failed (with the server's error and
/// their offsets, exit code 4, nothing written); when it comes back a few
/// hundred milliseconds in, everything lands.
#[test]
fn cluster_replay_retries_clusterdown() {
    let cl = Cluster::start(3);
    let slot = slot_of(&cl, "{d}");
    let owner = cl.owner_of(slot);
    let seed = cl.nodes.iter().find(|n| n.port != owner.port).unwrap();
    let tmp = TempDir::new("aofdown");
    let file = one_slot_aof(&tmp, 1000);
    let drop_slot = || {
        owner.conn().ok(["CLUSTER", "DELSLOTS", &slot.to_string()]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !owner.conn().cmd(["GET", "{d}probe"]).is_error() {
            assert!(Instant::now() < deadline, "owner never went down");
            sleep(Duration::from_millis(20));
        }
    };

    // The slot never comes back: bounded attempts, then failed.
    drop_slot();
    let out = load(&file, &seed.url(), &[]);
    out.expect_code(4);
    let sum = out.summary();
    assert_accounted(&sum);
    let a = &sum["aof"];
    assert_eq!(a["commands"], 1000, "{a}");
    assert_eq!(a["failed"], 1000, "{a}");
    assert_eq!(a["replayed"], 0, "{a}");
    let first = a["errors"][0].as_str().unwrap();
    assert!(
        first.contains("byte offset 0:") && first.contains("CLUSTERDOWN"),
        "{first}"
    );
    assert_eq!(cl.total_keys(), 0);

    // The slot comes back while the replay waits: everything lands.
    let back = std::thread::scope(|s| {
        s.spawn(|| {
            sleep(Duration::from_millis(400));
            owner.conn().ok(["CLUSTER", "ADDSLOTS", &slot.to_string()]);
        });
        load(&file, &seed.url(), &[])
    });
    back.expect_code(0);
    let sum = back.summary();
    assert_accounted(&sum);
    assert_eq!(sum["aof"]["replayed"], 1000, "{sum}");
    assert_eq!(sum["aof"]["failed"], 0, "{sum}");
    let mut c = owner.conn();
    for i in [0, 499, 999] {
        assert_eq!(c.bulk(["GET", &format!("{{d}}{i}")]), Some(b"v".to_vec()));
    }
    assert_eq!(cl.total_keys(), 1000);
}

/// A standalone server's AOF holds multi-key commands across slots
/// (`MSET a 1 b 2 ...`, `DEL a c`, `UNLINK b zz`): into a 3-master cluster
/// each goes as one command per slot (the target tags them
/// `request_policy:multi_shard`), and the cluster ends up with the
/// source's content. `MSETNX` across slots cannot be cut (it sets nothing
/// when any key exists): refused with its offset, before anything is
/// written.
#[test]
fn cluster_replay_cuts_cross_slot_commands_per_slot() {
    let src = aof_server(true);
    let mut c = src.conn();
    c.ok(["SET", "base", "0"]);
    c.cmd(["BGREWRITEAOF"]);
    wait_rewrite(&mut c);
    c.ok([
        "MSET", "a", "1", "b", "2", "c", "3", "d", "4", "{t}x", "5", "a", "6",
    ]);
    c.int(["DEL", "a", "c"]);
    c.int(["UNLINK", "b", "zz"]);
    c.ok(["MSET", "e", "7", "{t}y", "8", "f", "9"]);
    c.ok(["MSET", "{t}x", "10", "{t}z", "11"]); // one slot: sent as it is
    c.ok(["SET", "e", "12"]);
    let cl = Cluster::start_with(3, 0, &["--enable-debug-command", "yes"]);
    let url = cl.nodes[0].url();
    let slots: std::collections::HashSet<i64> = ["a", "b", "c", "d"]
        .iter()
        .map(|k| slot_of(&cl, k))
        .collect();
    assert_eq!(slots.len(), 4);

    let dir = aof_dir(&src);
    let out = load(&dir, &url, &[]);
    out.expect_code(0);
    let sum = out.summary();
    assert_accounted(&sum);
    let a = &sum["aof"];
    assert_eq!(a["commands"], 6, "{a}");
    assert_eq!(a["replayed"], 6, "{a}");
    assert_eq!(a["failed"], 0, "{a}");
    assert_eq!(a["per_slot_commands"], 4, "{a}");
    assert_cluster_equals(&src, &cl, &[0]);
    assert_eq!(
        cl.owner_of(slot_of(&cl, "e")).conn().bulk(["GET", "e"]),
        Some(b"12".to_vec())
    );

    // MSETNX across slots: refused, the cluster is left as it was.
    c.int(["MSETNX", "p", "1", "q", "2"]);
    assert_ne!(slot_of(&cl, "p"), slot_of(&cl, "q"));
    let keys = cl.total_keys();
    let out = load(&dir, &url, &["--on-conflict", "rewrite"]);
    out.expect_code(2);
    let text = out.all_text();
    assert!(
        text.contains("MSETNX") && text.contains("byte offset") && text.contains("CROSSSLOT"),
        "{text}"
    );
    assert_eq!(cl.total_keys(), keys);
}

/// A master busy with a long script answers every command with `-BUSY`
/// until the script ends: the replay sends the refused commands again with
/// its back-off, and everything lands once the script is over.
#[test]
fn cluster_replay_waits_out_a_busy_script() {
    let cl = Cluster::start_with(3, 0, &["--busy-reply-threshold", "100"]);
    let owner = cl.owner_of(slot_of(&cl, "{d}"));
    let seed = cl.nodes.iter().find(|n| n.port != owner.port).unwrap();
    let tmp = TempDir::new("aofbusy");
    let file = one_slot_aof(&tmp, 200);
    let spin = "local t = redis.call('TIME') local s = t[1] * 1000000 + t[2] \
                while true do local n = redis.call('TIME') \
                if n[1] * 1000000 + n[2] - s > 1000000 then break end end return 1";
    let out = std::thread::scope(|s| {
        let script = s.spawn(|| owner.conn().int(["EVAL", spin, "0"]));
        let deadline = Instant::now() + Duration::from_secs(5);
        while !owner.conn().cmd(["PING"]).is_error() {
            assert!(
                Instant::now() < deadline,
                "the script never made the node busy"
            );
            sleep(Duration::from_millis(10));
        }
        let out = load(&file, &seed.url(), &[]);
        assert_eq!(script.join().unwrap(), 1);
        out
    });
    out.expect_code(0);
    let sum = out.summary();
    assert_accounted(&sum);
    assert_eq!(sum["aof"]["replayed"], 200, "{sum}");
    assert_eq!(sum["aof"]["failed"], 0, "{sum}");
    assert_eq!(cl.total_keys(), 200);
}

/// Starts moving `slot` from `from` to `to` (`IMPORTING`/`MIGRATING`, no
/// key moved yet): `from` answers `-ASK` for a key it does not hold and
/// `-TRYAGAIN` for a multi-key command whose keys are on both sides.
fn begin_migration(slot: i64, from: &Server, to: &Server) -> (String, String) {
    let id = |s: &Server| s.conn().cmd(["CLUSTER", "MYID"]).text();
    let (fid, tid) = (id(from), id(to));
    let slot = slot.to_string();
    to.conn()
        .ok(["CLUSTER", "SETSLOT", &slot, "IMPORTING", &fid]);
    from.conn()
        .ok(["CLUSTER", "SETSLOT", &slot, "MIGRATING", &tid]);
    (fid, tid)
}

/// The count of `-TRYAGAIN` replies `s` has sent (`INFO errorstats`).
fn tryagains(s: &Server) -> i64 {
    let v = s.conn().info_field("errorstats", "errorstat_TRYAGAIN");
    v.and_then(|v| v.strip_prefix("count=")?.parse().ok())
        .unwrap_or(0)
}

/// A replay while a slot is being moved between two masters: a command
/// whose key the old owner no longer holds follows `-ASK` to the new one;
/// an `MSET` whose keys are on both sides gets `-TRYAGAIN` and is sent
/// again with the back-off, and once the move is over (`-MOVED`) it lands
/// on the new owner. When a later command of the same slot has already run
/// by then, the refused `MSET` is not sent after it (that would change the
/// file's order): it counts as failed, with its offset and why.
#[test]
fn cluster_replay_through_a_slot_migration() {
    let cl = Cluster::start(3);
    let slot = slot_of(&cl, "{m}");
    let from = cl.owner_of(slot);
    let to = cl.nodes.iter().find(|n| n.port != from.port).unwrap();
    let tmp = TempDir::new("aofmove");
    let aof = |name: &str, cmds: &[&[&str]]| {
        let mut data = Vec::new();
        for c in cmds {
            data.extend(support::resp::encode(c.iter().copied()));
        }
        let file = tmp.join(name);
        std::fs::write(&file, &data).unwrap();
        file
    };
    from.conn().ok(["SET", "{m}a", "old"]);
    let (_, tid) = begin_migration(slot, from, to);
    let file = aof(
        "move.aof",
        &[
            &["SET", "{m}a", "A"],
            &["SET", "{m}n", "N"],
            &["MSET", "{m}a", "1", "{m}n", "2"],
        ],
    );
    let out = std::thread::scope(|s| {
        let mover = s.spawn(|| {
            // Once the MSET was refused, finish the move.
            let deadline = Instant::now() + Duration::from_secs(10);
            while tryagains(from) == 0 {
                assert!(Instant::now() < deadline, "no TRYAGAIN was sent");
                sleep(Duration::from_millis(5));
            }
            let port = to.port.to_string();
            let moved = from.conn().cmd([
                "MIGRATE",
                "127.0.0.1",
                &port,
                "",
                "0",
                "5000",
                "KEYS",
                "{m}a",
            ]);
            assert!(!moved.is_error(), "{moved:?}");
            for n in [to, from] {
                n.conn()
                    .ok(["CLUSTER", "SETSLOT", &slot.to_string(), "NODE", &tid]);
            }
        });
        let out = load(&file, &from.url(), &[]);
        mover.join().unwrap();
        out
    });
    out.expect_code(0);
    let sum = out.summary();
    assert_accounted(&sum);
    assert_eq!(sum["aof"]["replayed"], 3, "{sum}");
    let mut c = to.conn();
    assert_eq!(c.bulk(["GET", "{m}a"]), Some(b"1".to_vec()));
    assert_eq!(c.bulk(["GET", "{m}n"]), Some(b"2".to_vec()));

    // The refused MSET is overtaken by a later SET of its slot.
    let slot = slot_of(&cl, "{q}");
    let from = cl.owner_of(slot);
    let to = cl.nodes.iter().find(|n| n.port != from.port).unwrap();
    from.conn().ok(["SET", "{q}a", "old"]);
    begin_migration(slot, from, to);
    let file = aof(
        "overtaken.aof",
        &[&["MSET", "{q}a", "1", "{q}n", "2"], &["SET", "{q}z", "3"]],
    );
    let out = load(&file, &from.url(), &[]);
    out.expect_code(4);
    let sum = out.summary();
    assert_accounted(&sum);
    let a = &sum["aof"];
    assert_eq!(
        (a["replayed"].as_u64(), a["failed"].as_u64()),
        (Some(1), Some(1)),
        "{a}"
    );
    let e = a["errors"][0].as_str().unwrap();
    assert!(
        e.contains("byte offset 0:") && e.contains("TRYAGAIN") && e.contains("not sent again"),
        "{e}"
    );
    assert_eq!(from.conn().bulk(["GET", "{q}a"]), Some(b"old".to_vec()));
    let mut c = to.conn();
    c.ok(["ASKING"]);
    assert_eq!(c.bulk(["GET", "{q}z"]), Some(b"3".to_vec()));
    c.ok(["ASKING"]);
    assert_eq!(c.bulk(["GET", "{q}n"]), None);
}

/// An AOF of `n` SETs, then `MULTI` and two SETs with no `EXEC` (a server
/// killed mid-transaction writes that).
fn open_multi_aof(dir: &TempDir, n: u64, key: &str) -> PathBuf {
    let mut data = Vec::new();
    for i in 0..n {
        data.extend(support::resp::encode(["SET", &format!("{key}{i}"), "v"]));
    }
    data.extend(support::resp::encode(["MULTI"]));
    data.extend(support::resp::encode(["SET", &format!("{key}open1"), "v"]));
    data.extend(support::resp::encode(["SET", &format!("{key}open2"), "v"]));
    let file = dir.join("appendonly.aof");
    std::fs::write(&file, &data).unwrap();
    file
}

/// A trailing `MULTI` without `EXEC` is not applied, as a server's own
/// AOF load reverts it, and its three commands are still accounted for:
/// into a standalone server and into a cluster.
#[test]
fn trailing_multi_without_exec_is_not_applied() {
    let tmp = TempDir::new("aofopen");
    let file = open_multi_aof(&tmp, 100, "k");
    let dst = plain_server();
    let out = load(&file, &dst.url(), &[]);
    let sum = out.summary();
    eprintln!("standalone: {sum}");
    assert_accounted(&sum);
    let a = &sum["aof"];
    assert_eq!(a["commands"], 103, "{a}");
    assert_eq!(a["failed"], 0, "{a}");
    assert_eq!(dst.total_keys(), 100);
    assert!(dst.conn().bulk(["GET", "kopen1"]).is_none());

    let file = open_multi_aof(&tmp, 100, "{c}");
    let cl = Cluster::start(3);
    let out = load(&file, &cl.nodes[0].url(), &[]);
    let sum = out.summary();
    eprintln!("cluster: {sum}");
    assert_accounted(&sum);
    let a = &sum["aof"];
    assert_eq!(a["commands"], 103, "{a}");
    assert_eq!(a["replayed"], 100, "{a}");
    assert_eq!(a["filtered"], 3, "{a}");
    assert_eq!(a["failed"], 0, "{a}");
    out.expect_code(0);
    assert_eq!(cl.total_keys(), 100);
    let owner = cl.owner_of(slot_of(&cl, "{c}"));
    assert!(owner.conn().bulk(["GET", "{c}open1"]).is_none());
}

/// The target is killed (SIGKILL) mid-replay: the replay ends with exit
/// code 1, no panic, and a summary that accounts for every command.
#[test]
fn target_killed_mid_replay_is_reported() {
    let tmp = TempDir::new("aofkill9");
    let mut data = Vec::new();
    let n = 1_500_000u64;
    for i in 0..n {
        data.extend(support::resp::encode(["SET", &format!("k{i}"), "v"]));
    }
    let file = tmp.join("appendonly.aof");
    std::fs::write(&file, &data).unwrap();
    let mut dst = plain_server();
    let url = dst.url();
    let args = [
        "load",
        file.to_str().unwrap(),
        "--target",
        &url,
        "--json",
        "-q",
    ];
    let (child, cmdline) = spawn_rdbkit(&args);
    let deadline = Instant::now() + Duration::from_secs(60);
    while dst.total_keys() < 1000 {
        assert!(Instant::now() < deadline, "the replay never started");
        sleep(Duration::from_millis(5));
    }
    dst.kill();
    let out = wait_child(child, cmdline, Duration::from_secs(120));
    out.expect_code(1);
    let text = out.all_text();
    assert!(!text.contains("panicked"), "{text}");
    let sum = out.summary();
    assert_accounted(&sum);
    let a = &sum["aof"];
    assert_eq!(a["commands"], n, "{a}");
    assert!(a["replayed"].as_u64().unwrap() >= 1000, "{a}");
    assert!(!a["stopped"]["reason"].as_str().unwrap().is_empty(), "{a}");
}

/// Into a standalone server the open transaction's `MULTI` and queued
/// commands get `+OK`/`+QUEUED` replies, but the server discards them when
/// the connection closes: they count as filtered out, as in a cluster, and
/// the queued key is not there.
#[test]
fn trailing_multi_without_exec_counts_as_filtered_standalone() {
    let tmp = TempDir::new("aofopen1");
    let file = open_multi_aof(&tmp, 100, "k");
    let dst = plain_server();
    let sum = load(&file, &dst.url(), &[]).summary();
    assert_eq!(sum["aof"]["replayed"], 100, "{sum}");
    assert_eq!(sum["aof"]["filtered"], 3, "{sum}");
    assert_eq!(sum["aof"]["unanswered"], 0, "{sum}");
    assert_eq!(dst.conn().must(["DBSIZE"]), support::resp::Reply::Int(100));
}
