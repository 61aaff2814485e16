//! Compressed inputs and outputs: every fixture, compressed by the
//! standard tools (`gzip`, `zstd`, `lz4`, `bzip2`) in a temporary
//! directory, converts to byte-identical `json` output as the plain file;
//! `-o X.jsonl.zst` (and the other extensions) writes a file the standard
//! tool decompresses to the same output; a truncated compressed file is an
//! error naming the compressed byte offset and leaves no output file.

use crate::util as support;
use crate::util::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::run::*;
use support::server::TempDir;

/// (tool, extension, arguments that compress stdin to stdout).
const TOOLS: &[(&str, &str, &[&str])] = &[
    ("gzip", "gz", &["-c", "-6"]),
    ("zstd", "zst", &["-c", "-q", "-3"]),
    ("lz4", "lz4", &["-c", "-q"]),
    ("bzip2", "bz2", &["-c", "-9"]),
];

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Compresses `src` with `tool` into `dst`.
fn compress(tool: &str, args: &[&str], src: &Path, dst: &Path) {
    let out = Command::new(tool)
        .args(args)
        .stdin(std::fs::File::open(src).unwrap())
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(out.status.success(), "{tool} failed on {}", src.display());
    std::fs::write(dst, out.stdout).unwrap();
}

fn decompress(tool: &str, src: &Path) -> Vec<u8> {
    let out = Command::new(tool)
        .args(["-d", "-c"])
        .stdin(std::fs::File::open(src).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{tool} -d failed on {}",
        src.display()
    );
    out.stdout
}

fn json_of(file: &Path) -> Out {
    rdbkit(&[
        "json".as_ref(),
        file.as_os_str(),
        "--quiet".as_ref(),
        "--meta".as_ref(),
    ])
}

#[test]
fn every_fixture_compressed_converts_like_the_plain_file() {
    let tmp = TempDir::new("compressed-fixtures");
    let tools: Vec<_> = TOOLS.iter().filter(|t| have(t.0)).collect();
    assert!(
        tools.iter().any(|t| t.0 == "gzip"),
        "gzip is needed by this test"
    );
    let fixtures = common::all_rdb_files();
    assert!(!fixtures.is_empty());
    let mut compared = 0;
    for (i, f) in fixtures.iter().enumerate() {
        let plain = json_of(f);
        for (tool, ext, args) in &tools {
            let c = tmp.join(&format!("{i}.rdb.{ext}"));
            compress(tool, args, f, &c);
            let got = json_of(&c);
            assert_eq!(
                (got.code, &got.stdout),
                (plain.code, &plain.stdout),
                "{} compressed with {tool}: {}",
                common::rel(f),
                got.stderr
            );
            compared += 1;
            let _ = std::fs::remove_file(&c);
        }
    }
    eprintln!(
        "{compared} compressed variants of {} fixtures compared",
        fixtures.len()
    );
}

/// A plain RDB fixture that converts cleanly.
fn sample() -> PathBuf {
    common::all_rdb_files()
        .into_iter()
        .filter(|f| json_of(f).code == 0)
        .max_by_key(|f| std::fs::metadata(f).unwrap().len().min(1 << 20))
        .unwrap()
}

#[test]
fn compressed_outputs_by_extension() {
    let tmp = TempDir::new("compressed-out");
    let f = sample();
    let plain = json_of(&f);
    for (tool, ext, _) in TOOLS.iter().filter(|t| have(t.0)) {
        let out = tmp.join(&format!("out.jsonl.{ext}"));
        rdbkit(&[
            "json".as_ref(),
            f.as_os_str(),
            "--quiet".as_ref(),
            "--meta".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
        ])
        .expect_code(0);
        assert_eq!(decompress(tool, &out), plain.stdout, "{tool}");
        // `resp` output too.
        let resp_out = tmp.join(&format!("out.resp.{ext}"));
        rdbkit(&[
            "resp".as_ref(),
            f.as_os_str(),
            "--quiet".as_ref(),
            "-o".as_ref(),
            resp_out.as_os_str(),
        ]);
        let resp_plain = rdbkit(&["resp".as_ref(), f.as_os_str(), "--quiet".as_ref()]);
        assert_eq!(
            decompress(tool, &resp_out),
            resp_plain.stdout,
            "{tool} resp"
        );
    }
}

#[test]
fn compressed_standard_input() {
    let f = sample();
    let plain = json_of(&f);
    let gz = Command::new("gzip")
        .args(["-c"])
        .stdin(std::fs::File::open(&f).unwrap())
        .output()
        .unwrap()
        .stdout;
    let mut child = rdbkit_command(&["json", "-", "--quiet", "--meta"], &[])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let t = std::thread::spawn(move || {
        use std::io::Write;
        // Small writes: the magic must be recognised across short reads.
        for c in gz.chunks(3) {
            stdin.write_all(c).unwrap();
        }
    });
    let out = child.wait_with_output().unwrap();
    t.join().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout, plain.stdout);
}

#[test]
fn truncated_compressed_input_is_an_error_with_its_offset() {
    let tmp = TempDir::new("compressed-cut");
    let f = sample();
    for (tool, ext, args) in TOOLS.iter().filter(|t| have(t.0)) {
        let c = tmp.join(&format!("x.rdb.{ext}"));
        compress(tool, args, &f, &c);
        let bytes = std::fs::read(&c).unwrap();
        std::fs::write(&c, &bytes[..bytes.len() * 2 / 3]).unwrap();
        let out_path = tmp.join("out.jsonl");
        let r = rdbkit(&[
            "json".as_ref(),
            c.as_os_str(),
            "--quiet".as_ref(),
            "-o".as_ref(),
            out_path.as_os_str(),
        ]);
        assert_eq!(r.code, 1, "{tool}: {}", r.describe());
        assert!(
            r.stderr.contains("compressed byte offset"),
            "{tool}: {}",
            r.stderr
        );
        assert!(!out_path.exists(), "{tool}: an output was left");
    }
}

/// `-q` hides the decompression bar too (issue 17): run in a pseudo
/// terminal (`script`), where bars are drawn, a compressed input shows
/// "decompressing" without `-q` and nothing with it.
#[test]
fn quiet_hides_the_decompression_bar() {
    if !have("script") || !have("gzip") {
        eprintln!("skipped: script(1) or gzip not installed");
        return;
    }
    let tmp = TempDir::new("quietbar");
    let mut aof = Vec::new();
    for i in 0..300_000 {
        let k = format!("key:{i}");
        aof.extend(format!("*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n$5\r\nvalue\r\n", k.len()).bytes());
    }
    let plain = tmp.join("appendonly.aof");
    std::fs::write(&plain, &aof).unwrap();
    let gz = tmp.join("appendonly.aof.gz");
    compress("gzip", &["-c", "-1"], &plain, &gz);
    let run = |quiet: bool| {
        let cmd = format!(
            "{BIN} stats {} {}",
            gz.display(),
            if quiet { "-q" } else { "" }
        );
        let out = Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "{cmd}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let shown = run(false);
    assert!(
        shown.contains("decompressing"),
        "no bar without -q: {shown}"
    );
    let hidden = run(true);
    assert!(!hidden.contains("decompressing"), "a bar with -q: {hidden}");
    assert!(hidden.contains("SET"), "stats printed: {hidden}");
}
