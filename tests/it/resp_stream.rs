//! `rdbkit resp` output is pinned byte for byte: for every fixture under
//! `testdata/` and four ways of running it (RESTORE and command mode, each
//! plain and under `rewrite`), the output's length and CRC-64 and the run's
//! counts must equal `testdata/resp_golden.txt`, which was written by the
//! `resp` that built every key's commands in memory before writing them.
//!
//! Every run is repeated with every key taken down the streaming path
//! (written by the output thread as it is encoded) and with none of them:
//! all three outputs must be the same bytes.
//!
//! Set `RDBKIT_BLESS_RESP=1` to rewrite the golden file from the current
//! code (only when an output change is intended).
//!
//! Big keys made by a real server (each far over the streaming threshold
//! used here) go the same way, and the stream, replayed with
//! `redis-cli --pipe`, rebuilds the server's content exactly.

use crate::util as support;
use crate::util::common;

use std::path::Path;

use common::*;
use rdbkit::load::commands::{BatchLimits, TargetFeatures};
use rdbkit::load::{worker_config, KeyOptions, OnConflict};
use rdbkit::output::respout::{self, Mode};
use rdbkit::rdb::crc64::crc64;
use rdbkit::scan::EngineOptions;
use support::run::pipe;
use support::server::{Server, ServerOpts};
use support::truth::{compare_lines, dump_server, strip_uncarried};

/// "Now" for every run, so that expiry decisions do not drift with the clock.
const NOW_MS: i64 = 1_700_000_000_000;

/// One way of running `resp`.
struct Variant {
    name: &'static str,
    mode: Mode,
    policy: OnConflict,
}

fn variants() -> Vec<Variant> {
    let features = TargetFeatures {
        field_ttl: true,
        stream_v2: true,
        array: true,
        xnack: true,
        lossy: false,
        now_ms: NOW_MS,
    };
    vec![
        Variant {
            name: "restore",
            mode: Mode::Restore,
            policy: OnConflict::Panic,
        },
        Variant {
            name: "restore-rewrite",
            mode: Mode::Restore,
            policy: OnConflict::Rewrite,
        },
        Variant {
            name: "commands",
            mode: Mode::Commands {
                limits: BatchLimits::default(),
                features: TargetFeatures {
                    field_ttl: false,
                    ..features
                },
            },
            policy: OnConflict::Panic,
        },
        // Tiny commands: big fixture keys outgrow one transaction and are
        // written under a temporary name, then renamed.
        Variant {
            name: "commands-rewrite-small",
            mode: Mode::Commands {
                limits: BatchLimits {
                    elements: 3,
                    bytes: 64,
                },
                features,
            },
            policy: OnConflict::Rewrite,
        },
    ]
}

/// The output bytes of one run, and a line describing how it ended; keys
/// over `huge` bytes are streamed.
fn run(data: &[u8], v: &Variant, huge: usize) -> (Vec<u8>, String) {
    let keys = KeyOptions {
        now_ms: Some(NOW_MS),
        ..Default::default()
    };
    let cfg = match worker_config(0, data, &keys, false, v.policy, false, "fixture") {
        Ok(c) => c,
        Err(e) => {
            return (
                Vec::new(),
                format!("config-error crc={:016x}", crc(&e.to_string())),
            )
        }
    };
    let mut out = Vec::new();
    let engine = EngineOptions::default();
    let r = respout::write_resp_with(data, &cfg, v.mode, &engine, huge, &mut out, None);
    let end = match r {
        Ok(s) => format!(
            "ok read={} written={} expired={} empty={} filtered={} failed={} functions={} errors={:016x}",
            s.keys_read,
            s.written,
            s.skipped_expired,
            s.skipped_empty,
            s.filtered,
            s.failed,
            s.functions,
            crc(&s.errors.join("\n"))
        ),
        Err(e) => format!("error crc={:016x}", crc(&e.to_string())),
    };
    (out, end)
}

fn crc(s: &str) -> u64 {
    crc64(0, s.as_bytes())
}

/// The golden line of one fixture and variant, after checking that the
/// streaming path changes nothing.
fn line(rdb: &Path, v: &Variant) -> String {
    let data = read(rdb);
    let (out, end) = run(&data, v, respout::HUGE_KEY_BYTES);
    for huge in [0, usize::MAX] {
        let (o, e) = run(&data, v, huge);
        assert!(
            o == out && e == end,
            "{} {}: keys over {huge} bytes streamed: {} bytes ({e}), default: {} bytes ({end}){}",
            rel(rdb),
            v.name,
            o.len(),
            out.len(),
            first_difference(&o, &out)
        );
    }
    format!(
        "{} {} len={} crc={:016x} {end}",
        rel(rdb),
        v.name,
        out.len(),
        crc64(0, &out)
    )
}

fn first_difference(a: &[u8], b: &[u8]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!(", first difference at byte {i}"),
        None => String::new(),
    }
}

fn golden_path() -> std::path::PathBuf {
    testdata_dir().join("resp_golden.txt")
}

#[test]
fn resp_output_equals_golden_on_every_fixture() {
    let vs = variants();
    let ours: Vec<String> = all_rdb_files()
        .iter()
        .flat_map(|p| vs.iter().map(move |v| line(p, v)))
        .collect();
    if std::env::var_os("RDBKIT_BLESS_RESP").is_some() {
        std::fs::write(golden_path(), ours.join("\n") + "\n").unwrap();
        return;
    }
    let golden = std::fs::read_to_string(golden_path()).expect("testdata/resp_golden.txt");
    let golden: std::collections::HashMap<String, &str> = golden
        .lines()
        .filter_map(|l| {
            let mut w = l.splitn(3, ' ');
            Some((format!("{} {}", w.next()?, w.next()?), l))
        })
        .collect();
    // Fixtures added after the golden file was written have no line yet.
    let mut compared = 0;
    let mut bad = Vec::new();
    for l in &ours {
        let id: Vec<&str> = l.splitn(3, ' ').take(2).collect();
        if let Some(g) = golden.get(&id.join(" ")) {
            compared += 1;
            if g != l {
                bad.push(format!("want {g}\n got {l}"));
            }
        }
    }
    assert!(compared >= 500, "only {compared} runs had a golden line");
    assert!(
        bad.is_empty(),
        "{} runs differ:\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// Fills `c` with keys over the 64 KiB threshold of
/// [`big_keys_stream_into_a_real_server`] (a long raw string and a long
/// LZF one, over one 1 MiB block each), around small keys, in three dbs.
fn fill_big(c: &mut support::resp::Conn) {
    let far = "4102444800000"; // 2100-01-01
    let noise = common::noise(5 << 19);
    let text: Vec<u8> = (0..100_000)
        .flat_map(|i| format!("line {i:06} of a compressible string\n").into_bytes())
        .collect();
    for db in ["0", "1", "2"] {
        c.must(["SELECT", db]);
        c.must(["SET", &format!("small:{db}:a"), "v"]);
    }
    c.must(["SELECT", "0"]);
    c.must([&b"SET"[..], b"raw", &noise]);
    c.must(["PEXPIREAT", "raw", far]);
    c.must([&b"SET"[..], b"lzf", &text]);
    c.must(["SELECT", "1"]);
    for start in (0..60_000).step_by(1000) {
        let mut list = vec!["RPUSH".to_string(), "list".into()];
        let mut hash = vec!["HSET".to_string(), "hash".into()];
        for i in start..start + 1000 {
            list.push(format!("element:{i}:{}", "y".repeat(i % 13)));
            hash.push(format!("field:{i}"));
            hash.push(format!("value:{i}:{}", "x".repeat(i % 17)));
        }
        c.must(&list);
        c.must(&hash);
    }
    c.must(["PEXPIREAT", "hash", far]);
    c.must(["SET", "small:1:b", "w"]);
    c.must(["SELECT", "2"]);
    for start in (0..30_000).step_by(1000) {
        let mut set = vec!["SADD".to_string(), "set".into()];
        let mut zset = vec!["ZADD".to_string(), "zset".into()];
        for i in start..start + 1000 {
            set.push(format!("member:{i}"));
            zset.push(format!("{}", i as f64 / 7.0));
            zset.push(format!("m:{i}"));
        }
        c.must(&set);
        c.must(&zset);
    }
    for i in 0..4000 {
        let v = format!("payload {i} {}", "z".repeat(i % 29));
        c.must([
            "XADD",
            "stream",
            &format!("{}-{}", 1000 + i / 3, i % 3),
            "f",
            &v,
            "g",
            "h",
        ]);
    }
    c.must(["XGROUP", "CREATE", "stream", "grp", "0"]);
    c.must([
        "XREADGROUP",
        "GROUP",
        "grp",
        "alice",
        "COUNT",
        "25",
        "STREAMS",
        "stream",
        ">",
    ]);
    c.must(["SET", "small:2:b", "w"]);
    c.must(["SELECT", "0"]);
}

#[test]
fn big_keys_stream_into_a_real_server() {
    let source = Server::start();
    let mut c = source.conn();
    fill_big(&mut c);
    c.must(["SAVE"]);
    let truth = dump_server(&mut c);
    let data = std::fs::read(source.dir.join("dump.rdb")).unwrap();
    for v in variants() {
        let (out, end) = run(&data, &v, 64 << 10);
        assert!(end.contains("failed=0"), "{}: {end}", v.name);
        for huge in [0, usize::MAX] {
            let (o, e) = run(&data, &v, huge);
            assert!(
                o == out && e == end,
                "{}: keys over {huge} bytes streamed: {} bytes, over 64 KiB: {} bytes{}",
                v.name,
                o.len(),
                out.len(),
                first_difference(&o, &out)
            );
        }
        let target = Server::start_with(ServerOpts::default());
        let file = target.dir.join("cmds.resp");
        std::fs::write(&file, &out).unwrap();
        let (code, errors, _, text) = pipe(target.port, &file);
        assert!(code == 0 && errors == 0, "{}: {text}", v.name);
        let got = dump_server(&mut target.conn());
        // Consumers' seen times are set by the server that creates them.
        let (got, want) = match v.mode {
            Mode::Restore => (got, truth.clone()),
            Mode::Commands { .. } => (strip_uncarried(&got), strip_uncarried(&truth)),
        };
        if let Err(e) = compare_lines(&got, &want) {
            panic!("{}: the target differs from the source: {e}", v.name);
        }
    }
}
