//! Files that no current server loads (`testdata/public/NEGATIVE.md`): each
//! gets the treatment its section of NEGATIVE.md asks for. Plus a few inputs
//! that are not RDB files at all.

use crate::util::common;

use std::path::{Path, PathBuf};

use common::*;
use rdbkit::ErrorKind;
use serde_json::Value;

/// One entry of NEGATIVE.md: section title, file path, the rest of the line.
struct Entry {
    section: String,
    path: PathBuf,
    line: String,
}

fn negative_entries() -> Vec<Entry> {
    let md_path = fixture("public/NEGATIVE.md");
    let md = String::from_utf8(read(&md_path)).expect("NEGATIVE.md is UTF-8");
    let mut section = String::new();
    let mut out = Vec::new();
    for line in md.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = h.trim().to_string();
        } else if let Some(rest) = line.strip_prefix("- `") {
            let name = rest.split('`').next().unwrap();
            assert!(
                !section.is_empty(),
                "NEGATIVE.md entry {name} before any section"
            );
            let path = fixture("public").join(name);
            assert!(
                path.exists(),
                "NEGATIVE.md lists {name}, but {} does not exist",
                path.display()
            );
            out.push(Entry {
                section: section.clone(),
                path,
                line: line.to_string(),
            });
        }
    }
    assert!(
        out.len() >= 15,
        "NEGATIVE.md: only {} entries parsed",
        out.len()
    );
    out
}

/// The text between `<marker>'` and the next `'` of a NEGATIVE.md line.
fn quoted_after<'a>(line: &'a str, marker: &str) -> Option<&'a str> {
    let start = line.find(marker)? + marker.len();
    line[start..]
        .trim_start()
        .strip_prefix('\'')?
        .split('\'')
        .next()
}

/// `[info] N keys read` of the file's own redis-check-rdb run, when it passed.
fn checker_key_count(rdb: &Path) -> Option<usize> {
    let meta = meta_json(rdb);
    let cr = meta.get("check_rdb")?;
    if cr.get("rc")?.as_i64()? != 0 {
        return None;
    }
    cr.get("output")?.as_array()?.iter().find_map(|l| {
        let l = l.as_str()?;
        l.strip_prefix("[info] ")?
            .strip_suffix(" keys read")?
            .parse()
            .ok()
    })
}

/// Converts; Ok(key lines) or Err(message); a panic becomes Err too.
fn run(data: &[u8], verify: bool) -> Result<Result<Vec<Value>, rdbkit::Error>, String> {
    let r = std::panic::catch_unwind(|| convert(data, false, verify))
        .map_err(|_| "PANIC".to_string())?;
    match r {
        Err(e) => Ok(Err(e)),
        Ok(out) => {
            let lines = parse_jsonl(&out).map_err(|e| format!("bad output: {e}"))?;
            Ok(Ok(lines
                .into_iter()
                .filter(|l| l.get("key").is_some())
                .collect()))
        }
    }
}

fn expect_ok(data: &[u8], verify: bool) -> Result<Vec<Value>, String> {
    match run(data, verify)? {
        Ok(keys) => Ok(keys),
        Err(e) => Err(format!(
            "expected success (verify_checksum={verify}), got error: {e}"
        )),
    }
}

fn expect_err(data: &[u8], verify: bool) -> Result<rdbkit::Error, String> {
    match run(data, verify)? {
        Err(e) => {
            if e.offset >= data.len() as u64 {
                return Err(format!(
                    "error offset {} is not inside the file ({} bytes): {e}",
                    e.offset,
                    data.len()
                ));
            }
            let text = e.to_string();
            if !text.starts_with(&format!("at byte offset {}", e.offset)) {
                return Err(format!(
                    "Display does not start with \"at byte offset {}\": {text}",
                    e.offset
                ));
            }
            Ok(e)
        }
        Ok(keys) => Err(format!(
            "expected an error (verify_checksum={verify}), got Ok with {} keys",
            keys.len()
        )),
    }
}

fn check_key_count(rdb: &Path, keys: &[Value]) -> Result<(), String> {
    match checker_key_count(rdb) {
        Some(n) if n != keys.len() => Err(format!(
            "{} keys in our output, the server's redis-check-rdb read {n}",
            keys.len()
        )),
        _ => Ok(()),
    }
}

fn module_names(keys: &[Value]) -> Vec<String> {
    keys.iter()
        .filter(|k| k.get("type").and_then(Value::as_str) == Some("module"))
        .map(|k| {
            k.pointer("/value/module")
                .and_then(Value::as_str)
                .unwrap_or("<no value.module>")
                .to_string()
        })
        .collect()
}

fn check_entry(e: &Entry) -> Result<String, String> {
    let data = read(&e.path);
    let name = rel(&e.path);
    let s = e.section.as_str();
    if s.starts_with("corrupt") {
        if name.ends_with("invalid_chksum_v8.rdb") {
            let err = expect_err(&data, true)?;
            if !matches!(err.kind, ErrorKind::ChecksumMismatch { .. }) {
                return Err(format!("expected a ChecksumMismatch error, got: {err}"));
            }
            let keys = expect_ok(&data, false)?;
            let meta = meta_json(&e.path);
            let truth_keys = meta
                .pointer("/content_if_checksum_ignored/keys")
                .and_then(Value::as_array)
                .ok_or("meta.json has no content_if_checksum_ignored.keys")?;
            if truth_keys.len() != 3 {
                return Err(format!(
                    "meta.json content_if_checksum_ignored lists {} keys, expected 3",
                    truth_keys.len()
                ));
            }
            let truth: Vec<_> = truth_keys
                .iter()
                .map(|l| (ident(l).unwrap(), l.clone()))
                .collect();
            compare_fixture(&keys, &truth, false, &[])
                .map_err(|d| format!("with verify_checksum=false: {d}"))?;
            Ok(format!(
                "ChecksumMismatch ({err}); 3 keys without the check"
            ))
        } else {
            let a = expect_err(&data, true)?;
            let b = expect_err(&data, false)?;
            if matches!(b.kind, ErrorKind::ChecksumMismatch { .. }) {
                return Err(format!(
                    "verify_checksum=false still reports a checksum error: {b}"
                ));
            }
            Ok(format!("error: {a}"))
        }
    } else if s.starts_with("module") {
        if e.line.contains("Pre-release module format") {
            let ty = quoted_after(&e.line, "no matching module type")
                .ok_or("cannot read the module type from NEGATIVE.md")?;
            let err = expect_err(&data, true)?;
            if !matches!(err.kind, ErrorKind::UnsupportedModule { .. }) {
                return Err(format!("expected an UnsupportedModule error, got: {err}"));
            }
            if !err.to_string().contains(ty) {
                return Err(format!(
                    "error message does not name module type '{ty}': {err}"
                ));
            }
            Ok(format!("error: {err}"))
        } else if let Some(ty) = quoted_after(&e.line, "no matching module type") {
            let keys = expect_ok(&data, true)?;
            let names = module_names(&keys);
            if names.is_empty() {
                return Err(format!(
                    "no key of type \"module\" in the output (expected module type '{ty}')"
                ));
            }
            if let Some(bad) = names.iter().find(|n| *n != ty) {
                return Err(format!(
                    "module key with value.module {bad:?}, expected {ty:?}"
                ));
            }
            for k in keys
                .iter()
                .filter(|k| k.get("type").and_then(Value::as_str) == Some("module"))
            {
                let b = k
                    .pointer("/value/b64")
                    .and_then(Value::as_str)
                    .ok_or_else(|| format!("module value without b64: {}", short(k)))?;
                b64decode(b).map_err(|err| format!("module value b64: {err}"))?;
            }
            check_key_count(&e.path, &keys)?;
            Ok(format!(
                "{} keys, {} of module type {ty}",
                keys.len(),
                names.len()
            ))
        } else if e.line.contains("AUX module data") {
            let keys = expect_ok(&data, true)?;
            check_key_count(&e.path, &keys)?;
            Ok(format!("{} keys", keys.len()))
        } else {
            Err(format!(
                "don't know what NEGATIVE.md expects of this module entry: {}",
                e.line
            ))
        }
    } else if s.starts_with("duplicate-keys") {
        let key = quoted_after(&e.line, "duplicated key")
            .ok_or("cannot read the duplicated key from NEGATIVE.md")?;
        let db: u64 = e
            .line
            .split("' in DB ")
            .nth(1)
            .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|d| d.parse().ok())
            .ok_or("cannot read the DB of the duplicated key from NEGATIVE.md")?;
        let keys = expect_ok(&data, true)?;
        let id = (db, key.as_bytes().to_vec());
        let n = keys
            .iter()
            .filter(|k| ident(k).ok().as_ref() == Some(&id))
            .count();
        if n < 2 {
            return Err(format!(
                "{} appears {n} time(s) in the output, expected at least twice",
                ident_str(&id)
            ));
        }
        check_key_count(&e.path, &keys)?;
        Ok(format!(
            "{} keys, {} appears {n} times",
            keys.len(),
            ident_str(&id)
        ))
    } else if s.starts_with("loadable only by an older server")
        || s.starts_with("vendor opcodes")
        || s.starts_with("newest formats: truth from a rewritten copy")
    {
        // must convert; content is compared in golden.rs (these have a truth)
        let keys = expect_ok(&data, true)?;
        if !sibling(&e.path, ".expected.jsonl").exists() {
            return Err("expected a .expected.jsonl for this entry".into());
        }
        Ok(format!(
            "{} keys (content checked by golden.rs)",
            keys.len()
        ))
    } else if s.starts_with("newest formats without truth") {
        let version: u32 = rdb_version(&data).ok_or("unreadable header")?;
        for verify in [true, false] {
            let err = expect_err(&data, verify)?;
            match err.kind {
                ErrorKind::UnsupportedVersion { version: v, .. } if v == version => {}
                _ => {
                    return Err(format!(
                        "expected UnsupportedVersion {{ version: {version} }}, got: {err}"
                    ))
                }
            }
            if !err.to_string().contains(&version.to_string()) {
                return Err(format!("message does not name version {version}: {err}"));
            }
        }
        Ok(format!("unsupported version {version}"))
    } else {
        Err(format!(
            "unknown NEGATIVE.md section {s:?}: this test needs to learn what it expects"
        ))
    }
}

#[test]
fn negative_md_entries_behave_as_documented() {
    let entries = negative_entries();
    let mut failures = Vec::new();
    for e in &entries {
        match check_entry(e) {
            Ok(note) => println!("ok   {} [{}]: {note}", rel(&e.path), e.section),
            Err(msg) => failures.push(format!("  {} [{}]: {msg}", rel(&e.path), e.section)),
        }
    }
    println!(
        "NEGATIVE.md: {}/{} entries behave as documented",
        entries.len() - failures.len(),
        entries.len()
    );
    assert!(
        failures.is_empty(),
        "{} NEGATIVE.md entries fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The three module files named in the brief, with their module type names.
#[test]
fn module_2_values_carry_module_names() {
    for (file, ty) in [
        ("public/redis-rdb-cli/89.rdb", "hellotype"),
        (
            "public/redis-rdb-tools/redis_40_with_module.rdb",
            "ReJSON-RL",
        ),
        ("public/redis-replicator/dump-module-2.rdb", "hellotype"),
        ("public/librdb/module.rdb", "test__rdb"),
        ("public/librdb/module_aux_v12.rdb", "test__rdb"),
    ] {
        let keys =
            convert_keys(&read(&fixture(file)), true).unwrap_or_else(|e| panic!("{file}: {e}"));
        let names = module_names(&keys);
        assert!(
            !names.is_empty() && names.iter().all(|n| n == ty),
            "{file}: module names {names:?}, expected all {ty:?}"
        );
    }
}

#[test]
fn pre_ga_module_type_is_refused_by_name() {
    let file = "public/redis-replicator/module.rdb";
    let data = read(&fixture(file));
    for verify in [true, false] {
        let err = convert(&data, false, verify).expect_err(file);
        assert!(
            matches!(err.kind, ErrorKind::UnsupportedModule { .. }),
            "{file}: {err}"
        );
        assert!(
            err.to_string().contains("hellotype"),
            "{file}: message should name 'hellotype': {err}"
        );
        assert!(
            err.offset < data.len() as u64,
            "{file}: offset {} outside the file",
            err.offset
        );
    }
}

#[test]
fn future_version_is_refused() {
    let data = read(&fixture("public/librdb/future_v19.rdb"));
    let err = convert(&data, false, true).expect_err("future_v19.rdb");
    assert!(
        matches!(err.kind, ErrorKind::UnsupportedVersion { version: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("99"), "{err}");
}

#[test]
fn checksum_mismatch_is_reported_unless_disabled() {
    let data = read(&fixture("public/librdb/invalid_chksum_v8.rdb"));
    let err = convert(&data, false, true).expect_err("invalid_chksum_v8.rdb");
    assert!(
        matches!(err.kind, ErrorKind::ChecksumMismatch { .. }),
        "{err}"
    );
    assert!(
        err.offset < data.len() as u64,
        "checksum error offset {} not inside the {}-byte file",
        err.offset,
        data.len()
    );
    let keys =
        convert_keys(&data, false).expect("invalid_chksum_v8.rdb with verify_checksum=false");
    let names: Vec<Vec<u8>> = keys.iter().map(|k| ident(k).unwrap().1).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, vec![b"etc".to_vec(), b"x".to_vec(), b"x2".to_vec()]);
}

#[test]
fn stream_v13_converts() {
    let data = read(&fixture("public/librdb/stream_v13_idmp.rdb"));
    let keys = convert_keys(&data, true).expect("stream_v13_idmp.rdb");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["type"], "stream");
}

#[test]
fn not_rdb_inputs_are_errors() {
    let cases: [(&str, &[u8]); 6] = [
        ("empty input", b""),
        ("text", b"hello world"),
        ("magic only", b"REDIS"),
        ("header only", b"REDIS0011"),
        ("bad version digits", b"REDIS00x1\xff\0\0\0\0\0\0\0\0"),
        ("header and EOF without checksum bytes", b"REDIS0011\xff"),
    ];
    for (what, data) in cases {
        for verify in [true, false] {
            let r = std::panic::catch_unwind(|| convert(data, false, verify));
            let r = r.unwrap_or_else(|_| panic!("{what}: panicked"));
            let err = r.err().unwrap_or_else(|| {
                panic!("{what} (verify_checksum={verify}): expected an error, got Ok")
            });
            assert!(
                err.offset <= data.len() as u64,
                "{what}: offset {} beyond the input",
                err.offset
            );
            assert!(
                err.to_string().starts_with("at byte offset "),
                "{what}: Display: {err}"
            );
        }
    }
}

/// The smallest valid files: header + EOF (+ a zero checksum = "not
/// computed", which must be accepted even when verifying).
#[test]
fn minimal_files_convert_to_nothing() {
    let cases: [(&str, &[u8]); 3] = [
        ("RDB 11, zero checksum", b"REDIS0011\xff\0\0\0\0\0\0\0\0"),
        ("RDB 12, zero checksum", b"REDIS0012\xff\0\0\0\0\0\0\0\0"),
        ("RDB 3, no checksum", b"REDIS0003\xff"),
    ];
    for (what, data) in cases {
        for verify in [true, false] {
            let out = convert(data, false, verify)
                .unwrap_or_else(|e| panic!("{what} (verify_checksum={verify}): {e}"));
            assert!(
                out.is_empty(),
                "{what}: output should be empty, got {:?}",
                String::from_utf8_lossy(&out)
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Command lines that would destroy an input
// ---------------------------------------------------------------------------

const BIN: &str = env!("CARGO_BIN_EXE_rdbkit");

fn rdbkit(args: &[&str]) -> (i32, String) {
    let o = std::process::Command::new(BIN).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rdbkit-neg-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Every written path of every command is refused (exit 2, named) when it
/// is the input itself, a symlink to it or a hard link to it; the input
/// keeps every byte. (`json X.rdb -o X.rdb` used to truncate the input and
/// die of SIGBUS.)
#[test]
fn outputs_that_are_inputs_are_refused() {
    let d = scratch("same");
    let original = read(&fixture("redis-7.0.15/default.rdb"));
    let input = d.join("in.rdb");
    std::fs::write(&input, &original).unwrap();
    let sym = d.join("sym.rdb");
    std::os::unix::fs::symlink(&input, &sym).unwrap();
    let hard = d.join("hard.rdb");
    std::fs::hard_link(&input, &hard).unwrap();
    let i = input.to_str().unwrap();
    for out in [&input, &sym, &hard] {
        let o = out.to_str().unwrap();
        let t = "redis://127.0.0.1:1";
        let cases: Vec<(&str, Vec<&str>)> = vec![
            ("--output", vec!["json", i, "-o", o]),
            ("--output", vec!["resp", i, "-o", o]),
            ("--output", vec!["memory", i, "-o", o]),
            ("--html", vec!["memory", i, "--html", o]),
            ("--failed", vec!["load", i, "-t", t, "--failed", o]),
            ("--conflicts", vec!["load", i, "-t", t, "--conflicts", o]),
            ("--checkpoint", vec!["load", i, "-t", t, "--checkpoint", o]),
            ("--diff", vec!["verify", i, "-t", t, "--diff", o]),
        ];
        for (opt, args) in cases {
            let (code, err) = rdbkit(&args);
            assert_eq!(code, 2, "{args:?}: {err}");
            assert!(
                err.contains(opt) && err.contains("same file as the input"),
                "{args:?}: {err}"
            );
            assert_eq!(read(&input), original, "{args:?} changed the input");
        }
    }
    // Two outputs of one run may not be one file either.
    let f = d.join("f.resp");
    let f = f.to_str().unwrap();
    let args = [
        "load",
        i,
        "-t",
        "redis://127.0.0.1:1",
        "--failed",
        f,
        "--conflicts",
        f,
    ];
    let (code, err) = rdbkit(&args);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("--conflicts") && err.contains("--failed"),
        "{err}"
    );
}

/// A run that fails part-way leaves no output file that looks complete:
/// outputs are written under a temporary name and renamed at the end, so
/// the named path keeps what it held before (here: nothing, or the
/// previous run's complete output) and no temporary file is left.
#[test]
fn a_failed_run_leaves_no_truncated_output() {
    let d = scratch("atomic");
    let data = read(&fixture("redis-7.0.15/default.rdb"));
    let cut = d.join("cut.rdb");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let c = cut.to_str().unwrap();
    for cmd in ["json", "resp", "memory"] {
        let out = d.join(format!("{cmd}.out"));
        let o = out.to_str().unwrap();
        let (code, err) = rdbkit(&[cmd, c, "-q", "-o", o]);
        assert_eq!(code, 1, "{cmd}: {err}");
        assert!(!out.exists(), "{cmd}: a partial output was left at {o}");
        std::fs::write(&out, b"previous complete output").unwrap();
        let (code, err) = rdbkit(&[cmd, c, "-q", "-o", o]);
        assert_eq!(code, 1, "{cmd}: {err}");
        assert_eq!(read(&out), b"previous complete output", "{cmd}");
    }
    let html = d.join("r.html");
    let (code, _) = rdbkit(&["memory", c, "-q", "--html", html.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(!html.exists());
    let names: Vec<String> = std::fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.ends_with(".tmp")),
        "temporary files left: {names:?}"
    );
    // A complete run writes the whole output under the name.
    let out = d.join("ok.jsonl");
    let full = fixture("redis-7.0.15/default.rdb");
    let (code, err) = rdbkit(&[
        "json",
        full.to_str().unwrap(),
        "-q",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(read(&out).iter().filter(|b| **b == b'\n').count(), 125);
}

/// Command-line mistakes are usage errors (exit 2) that name the option,
/// and every size flag takes the same sizes.
#[test]
fn command_line_mistakes_are_usage_errors() {
    let f = fixture("redis-7.0.15/default.rdb");
    let f = f.to_str().unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["json", f, "-j", "0"], "--threads"),
        (vec!["json", f, "-j", "100000"], "--threads"),
        (vec!["load", f, "-t", "http://127.0.0.1:1"], "--target"),
        (vec!["load", f, "-t", "redis://127.0.0.1:99999"], "--target"),
        (vec!["load", f, "-t", "redis://127.0.0.1:1/abc"], "--target"),
        (
            vec!["verify", f, "-t", "redis://127.0.0.1:1", "--sample", "0"],
            "--sample",
        ),
        (
            vec!["load", f, "-t", "127.0.0.1:1", "--max-restore-bytes", "64Q"],
            "--max-restore-bytes",
        ),
    ];
    for (args, opt) in cases {
        let (code, err) = rdbkit(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(opt), "{args:?}: {err}");
    }
    // `64M` is a size for every size flag; host:port is a target. The
    // target is closed: exit 1 from the connection, not 2 from the flags.
    let (code, err) = rdbkit(&[
        "load",
        f,
        "-t",
        "127.0.0.1:1",
        "--max-restore-bytes",
        "64M",
        "--batch-bytes",
        "1M",
        "--min-bytes",
        "1k",
        "-q",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(!err.contains("invalid"), "{err}");
    let (code, err) = rdbkit(&["resp", f, "-o", "/dev/null", "--batch-bytes", "64k", "-q"]);
    assert_eq!(code, 0, "{err}");
    // `memory --json` is `--format json`.
    let o = std::process::Command::new(BIN)
        .args(["memory", f, "--json", "--top", "1", "-q"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&o.stdout).expect("memory --json prints JSON");
    assert!(v["totals"]["keys"].as_u64().is_some(), "{v}");
}

/// An empty file says so; a truncated or checksum-failing file says once
/// what can be done about it.
#[test]
fn damaged_and_empty_files_say_what_to_do() {
    let d = scratch("hints");
    let empty = d.join("empty.rdb");
    std::fs::write(&empty, b"").unwrap();
    let (code, err) = rdbkit(&["json", empty.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("empty file"), "{err}");
    let data = read(&fixture("redis-7.0.15/default.rdb"));
    let cut = d.join("cut.rdb");
    std::fs::write(&cut, &data[..data.len() / 2]).unwrap();
    let (code, err) = rdbkit(&["json", cut.to_str().unwrap(), "-q", "-o", "/dev/null"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.matches("--skip-corrupt").count(), 1, "{err}");
    let mut flipped = data.clone();
    let n = flipped.len();
    flipped[n - 1] ^= 1; // the checksum trailer itself
    let bad = d.join("crc.rdb");
    std::fs::write(&bad, &flipped).unwrap();
    let (code, err) = rdbkit(&["json", bad.to_str().unwrap(), "-q", "-o", "/dev/null"]);
    assert_eq!(code, 1, "{err}");
    assert_eq!(err.matches("--no-checksum").count(), 1, "{err}");
}
