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

/// `zstd FILE` (not a pipe) writes the decompressed size in the frame
/// header (the `zstd -c` of the test above does not): every fixture so
/// compressed converts like the plain file, and so does a file of two such
/// frames (each half of a fixture).
#[test]
fn zstd_with_declared_size_converts_like_the_plain_file() {
    if !have("zstd") {
        eprintln!("skipped: zstd not installed");
        return;
    }
    let tmp = TempDir::new("zstd-sized");
    for (i, f) in common::all_rdb_files().iter().enumerate() {
        let plain = json_of(f);
        let c = tmp.join(&format!("{i}.rdb.zst"));
        zstd_file(f, &c);
        assert!(declared_size(&std::fs::read(&c).unwrap()).is_some());
        let got = json_of(&c);
        assert_eq!(
            (got.code, &got.stdout),
            (plain.code, &plain.stdout),
            "{} compressed with zstd FILE: {}",
            common::rel(f),
            got.stderr
        );
    }
    let f = sample();
    let bytes = std::fs::read(&f).unwrap();
    let (a, b) = bytes.split_at(bytes.len() / 2);
    let mut two = Vec::new();
    for (n, half) in [a, b].iter().enumerate() {
        let p = tmp.join(&format!("half{n}"));
        std::fs::write(&p, half).unwrap();
        zstd_file(&p, &tmp.join("h.zst"));
        two.extend(std::fs::read(tmp.join("h.zst")).unwrap());
        std::fs::remove_file(tmp.join("h.zst")).unwrap();
    }
    let c = tmp.join("two.rdb.zst");
    std::fs::write(&c, &two).unwrap();
    let got = json_of(&c);
    let plain = json_of(&f);
    assert_eq!(
        (got.code, &got.stdout),
        (plain.code, &plain.stdout),
        "{}",
        got.stderr
    );
}

/// A truncated `.zst` with a declared size, a frame declaring more bytes
/// than it holds and one declaring fewer: each is an error naming the
/// compressed offset, with no output and nothing left in `$TMPDIR`.
#[test]
fn zstd_shorter_or_longer_than_declared_is_an_error() {
    if !have("zstd") {
        eprintln!("skipped: zstd not installed");
        return;
    }
    let tmp = TempDir::new("zstd-declared");
    let f = sample();
    let c = tmp.join("x.rdb.zst");
    zstd_file(&f, &c);
    let good = std::fs::read(&c).unwrap();
    let (at, width) = declared_size(&good).expect("zstd FILE declares the size");
    let with_size = |delta: i64| {
        let mut v = good.clone();
        let mut field = [0u8; 8];
        field[..width].copy_from_slice(&v[at..at + width]);
        let n = (u64::from_le_bytes(field) as i64 + delta) as u64;
        assert!(
            width == 8 || n >> (8 * width) == 0,
            "the new size fits its field"
        );
        v[at..at + width].copy_from_slice(&n.to_le_bytes()[..width]);
        v
    };
    let cases = [
        ("truncated", good[..good.len() * 2 / 3].to_vec()),
        ("declares more", with_size(1000)),
        ("declares fewer", with_size(-1000)),
    ];
    let tmpdir = tmp.join("tmpdir");
    std::fs::create_dir(&tmpdir).unwrap();
    for (what, bytes) in cases {
        std::fs::write(&c, &bytes).unwrap();
        let out_path = tmp.join("out.jsonl");
        let r = rdbkit_env(
            &[
                "json".as_ref(),
                c.as_os_str(),
                "--quiet".as_ref(),
                "-o".as_ref(),
                out_path.as_os_str(),
            ],
            &[("TMPDIR", tmpdir.to_str().unwrap())],
        );
        assert_eq!(r.code, 1, "{what}: {}", r.describe());
        assert!(
            r.stderr.contains("compressed byte offset"),
            "{what}: {}",
            r.stderr
        );
        assert!(!out_path.exists(), "{what}: an output was left");
        let left: Vec<_> = std::fs::read_dir(&tmpdir).unwrap().collect();
        assert!(left.is_empty(), "{what}: left in TMPDIR: {left:?}");
    }
}

/// `zstd -q -3 SRC -o DST`: compressed from a file, so the frame header
/// carries the decompressed size.
fn zstd_file(src: &Path, dst: &Path) {
    let st = Command::new("zstd")
        .args(["-q", "-f", "-3"])
        .arg(src)
        .arg("-o")
        .arg(dst)
        .status()
        .unwrap();
    assert!(st.success(), "zstd {}", src.display());
}

/// Where the first frame's `Frame_Content_Size` field is and its width
/// (RFC 8878 §3.1.1.1), if the header has one.
fn declared_size(f: &[u8]) -> Option<(usize, usize)> {
    assert_eq!(&f[..4], &[0x28, 0xb5, 0x2f, 0xfd]);
    let fhd = f[4];
    let single = fhd & 0x20 != 0;
    let dict = [0, 1, 2, 4][(fhd & 3) as usize];
    let width = match fhd >> 6 {
        0 if single => 1,
        0 => return None,
        1 => 2,
        2 => 4,
        _ => 8,
    };
    Some((5 + usize::from(!single) + dict, width))
}

/// A `.zst` bigger than the steps in which `json` lets go of what it read
/// (2 MiB: the temporary file is punched out behind the reader) converts
/// like the plain file; so does an AOF whose RDB preamble is that file,
/// whose commands are read after the base from what is left (the preamble
/// file is crafted: the RDB a real server saved, then RESP commands).
#[test]
fn a_big_zstd_file_read_while_decompressed_converts_like_the_plain_file() {
    if !have("zstd") {
        eprintln!("skipped: zstd not installed");
        return;
    }
    let tmp = TempDir::new("zstd-big");
    let gen = support::server::Server::start_with(support::server::ServerOpts {
        args: ["--enable-debug-command", "yes", "--rdbcompression", "no"]
            .map(String::from)
            .to_vec(),
        ..Default::default()
    });
    let mut c = gen.conn();
    c.ok(["DEBUG", "POPULATE", "60000", "key", "100"]);
    c.ok(["SAVE"]);
    let rdb = std::fs::read(gen.dir.join("dump.rdb")).unwrap();
    assert!(rdb.len() > 6 << 20, "{} bytes", rdb.len());
    let mut aof = rdb.clone();
    aof.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$5\r\nafter\r\n$1\r\n1\r\n");
    for (name, bytes, tail) in [("dump.rdb", rdb, false), ("preamble.aof", aof, true)] {
        let plain = tmp.join(name);
        std::fs::write(&plain, &bytes).unwrap();
        let c = tmp.join(&format!("{name}.zst"));
        zstd_file(&plain, &c);
        let (want, got) = (json_of(&plain), json_of(&c));
        assert_eq!(want.code, 0, "{name}: {}", want.describe());
        assert_eq!(got.code, 0, "{name}: {}", got.describe());
        // A command's line names the file it came from.
        let want = String::from_utf8_lossy(&want.stdout).replace(
            &format!("{:?}", plain.display().to_string()),
            &format!("{:?}", c.display().to_string()),
        );
        let got = String::from_utf8_lossy(&got.stdout).into_owned();
        assert!(want.lines().count() > 60000, "{name}");
        let first_diff = want.lines().zip(got.lines()).position(|(a, b)| a != b);
        assert_eq!(
            (first_diff, want.lines().count()),
            (None, got.lines().count()),
            "{name}: the first differing line, and the line counts"
        );
        let cmd = got.contains(r#""command":["SET","after","1"]"#);
        assert_eq!(cmd, tail, "{name}: the command after the preamble");
    }
}
