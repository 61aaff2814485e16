//! Running the `rdbkit` binary and `redis-cli --pipe`, checking `load`
//! summaries, and choosing the fixtures a Redis 7.0 server can load.

use std::ffi::OsStr;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::{self, sleep};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::common;
use super::server::REDIS_CLI;

pub const BIN: &str = env!("CARGO_BIN_EXE_rdbkit");

/// The outcome of a finished process.
#[derive(Debug)]
pub struct Out {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    pub stdout: Vec<u8>,
    pub stderr: String,
    /// The command line, for messages.
    pub cmdline: String,
}

impl Out {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Both streams, for "does this text appear anywhere" checks.
    pub fn all_text(&self) -> String {
        format!("{}\n{}", self.stdout_text(), self.stderr)
    }

    /// A description for assertion messages.
    pub fn describe(&self) -> String {
        let mut so = self.stdout_text();
        if so.len() > 2000 {
            so.truncate(2000);
            so.push_str("...");
        }
        let mut se = self.stderr.clone();
        if se.len() > 4000 {
            se.truncate(4000);
            se.push_str("...");
        }
        format!(
            "`{}` exited with {}\n--- stdout:\n{so}\n--- stderr:\n{se}",
            self.cmdline, self.code
        )
    }

    /// Asserts the exit code.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "unexpected exit code: {}", self.describe());
        self
    }

    /// The `--json` summary: stdout must be exactly one JSON object.
    pub fn summary(&self) -> Value {
        let text = self.stdout_text();
        let v: Value = serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}", self.describe()));
        assert!(
            v.is_object(),
            "summary is not an object: {}",
            self.describe()
        );
        v
    }
}

fn collect(mut child: Child, cmdline: String, timeout: Duration) -> Out {
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t1 = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t2 = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = String::from_utf8_lossy(&t2.join().unwrap()).into_owned();
            panic!("`{cmdline}` did not finish within {timeout:?}; stderr so far:\n{stderr}");
        }
        sleep(Duration::from_millis(5));
    };
    Out {
        code: status.code().unwrap_or(-1),
        stdout: t1.join().unwrap(),
        stderr: String::from_utf8_lossy(&t2.join().unwrap()).into_owned(),
        cmdline,
    }
}

fn cmdline_of<S: AsRef<OsStr>>(prog: &str, args: &[S]) -> String {
    let mut s = prog.rsplit('/').next().unwrap().to_string();
    for a in args {
        s.push(' ');
        s.push_str(&a.as_ref().to_string_lossy());
    }
    s
}

/// A prepared `rdbkit` command: no `REDISCLI_AUTH` inherited from the
/// environment, no stdin.
pub fn rdbkit_command<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Runs `rdbkit ARGS` with extra environment variables (300 s limit).
pub fn rdbkit_env<S: AsRef<OsStr>>(args: &[S], env: &[(&str, &str)]) -> Out {
    let child = rdbkit_command(args, env)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    collect(child, cmdline_of(BIN, args), Duration::from_secs(300))
}

/// Runs `rdbkit ARGS`.
pub fn rdbkit<S: AsRef<OsStr>>(args: &[S]) -> Out {
    rdbkit_env(args, &[])
}

/// Spawns `rdbkit ARGS` in the background; finish with [`wait_child`].
pub fn spawn_rdbkit<S: AsRef<OsStr>>(args: &[S]) -> (Child, String) {
    let child = rdbkit_command(args, &[])
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {BIN}: {e}"));
    (child, cmdline_of(BIN, args))
}

pub fn wait_child(child: Child, cmdline: String, timeout: Duration) -> Out {
    collect(child, cmdline, timeout)
}

/// `rdbkit load FILE --target URL --json -q EXTRA...`.
pub fn load(file: &Path, target: &str, extra: &[&str]) -> Out {
    let mut args: Vec<String> = vec![
        "load".into(),
        file.display().to_string(),
        "--target".into(),
        target.into(),
        "--json".into(),
        "-q".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    rdbkit(&args)
}

// ---------------------------------------------------------------------------
// Summaries
// ---------------------------------------------------------------------------

const COUNTERS: [&str; 10] = [
    "keys_read",
    "skipped_corrupt",
    "loaded",
    "skipped_expired",
    "skipped_empty",
    "filtered",
    "conflicts",
    "failed",
    "not_attempted",
    "functions_loaded",
];

/// A counter of a summary (panics when absent or not a non-negative integer).
pub fn n(s: &Value, name: &str) -> u64 {
    s.get(name)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("summary member {name:?} missing or not a count: {s}"))
}

/// `conflicts_by_action.<action>` (an absent action counts as 0; the
/// member itself must be an object).
pub fn by_action(s: &Value, action: &str) -> u64 {
    let m = s
        .get("conflicts_by_action")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("summary conflicts_by_action missing or not an object: {s}"));
    match m.get(action) {
        None => 0,
        Some(v) => v
            .as_u64()
            .unwrap_or_else(|| panic!("summary conflicts_by_action.{action} is not a count: {s}")),
    }
}

/// Checks the shape of a `load --json` summary and its invariant
/// `keys_read == loaded + skipped_expired + skipped_empty + filtered +
/// conflicts + failed + not_attempted`; also `failed` == sum of
/// `errors_by_kind` and (unless `dry_run`) `conflicts` == sum of
/// `conflicts_by_action`.
pub fn check_summary(s: &Value, dry_run: bool) {
    for c in COUNTERS {
        n(s, c);
    }
    for a in ["stopped", "rewritten", "ignored"] {
        by_action(s, a);
    }
    for f in ["duration_s", "keys_per_s"] {
        assert!(
            s.get(f).is_some_and(Value::is_number),
            "summary member {f:?} missing or not a number: {s}"
        );
    }
    let kinds = s
        .get("errors_by_kind")
        .and_then(Value::as_object)
        .unwrap_or_else(|| panic!("summary errors_by_kind missing or not an object: {s}"));
    let sum_kinds: u64 = kinds
        .iter()
        .map(|(k, v)| {
            v.as_u64()
                .unwrap_or_else(|| panic!("errors_by_kind[{k:?}] is not a count: {s}"))
        })
        .sum();
    let parts = n(s, "loaded")
        + n(s, "skipped_expired")
        + n(s, "skipped_empty")
        + n(s, "filtered")
        + n(s, "conflicts")
        + n(s, "failed")
        + n(s, "not_attempted")
        + n(s, "skipped_corrupt")
        + n(s, "already_loaded")
        + n(s, "dropped_lossy");
    assert_eq!(
        n(s, "keys_read"),
        parts,
        "summary invariant broken: keys_read != loaded + skipped_expired + skipped_empty + \
         filtered + conflicts + failed + not_attempted + skipped_corrupt + already_loaded + \
         dropped_lossy: {s}"
    );
    assert_eq!(
        n(s, "failed"),
        sum_kinds,
        "failed != sum of errors_by_kind: {s}"
    );
    if !dry_run {
        let acts = by_action(s, "stopped") + by_action(s, "rewritten") + by_action(s, "ignored");
        assert_eq!(
            n(s, "conflicts"),
            acts,
            "conflicts != sum of conflicts_by_action: {s}"
        );
    }
}

/// The lines of a `--conflicts` JSON Lines file as `(db, key bytes, action)`.
pub fn read_conflicts(path: &Path) -> Vec<(u64, Vec<u8>, String)> {
    let data = std::fs::read(path)
        .unwrap_or_else(|e| panic!("cannot read conflicts file {}: {e}", path.display()));
    let lines = common::parse_jsonl(&data)
        .unwrap_or_else(|e| panic!("conflicts file {}: {e}", path.display()));
    let mut v: Vec<(u64, Vec<u8>, String)> = lines
        .iter()
        .map(|l| {
            let (db, key) = common::ident(l).unwrap_or_else(|e| panic!("conflicts line: {e}"));
            let action = l
                .get("action")
                .and_then(Value::as_str)
                .unwrap_or_else(|| panic!("conflicts line without action: {l}"))
                .to_string();
            (db, key, action)
        })
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------
// redis-cli --pipe
// ---------------------------------------------------------------------------

/// `redis-cli -p PORT --pipe < file`: (exit code, errors, replies, output).
pub fn pipe(port: u16, file: &Path) -> (i32, u64, u64, String) {
    let data = std::fs::read(file).expect("read RESP file");
    let mut child = Command::new(REDIS_CLI)
        .arg("-p")
        .arg(port.to_string())
        .arg("--pipe")
        .env_remove("REDISCLI_AUTH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run redis-cli --pipe");
    let mut stdin = child.stdin.take().unwrap();
    let w = thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = collect(
        child,
        format!("redis-cli -p {port} --pipe < {}", file.display()),
        Duration::from_secs(300),
    );
    w.join().unwrap();
    let text = out.all_text();
    let find = |name: &str| -> u64 {
        text.split(name)
            .nth(1)
            .and_then(|r| {
                r.trim_start()
                    .split(|c: char| !c.is_ascii_digit())
                    .next()
                    .and_then(|d| d.parse().ok())
            })
            .unwrap_or_else(|| panic!("no {name:?} in redis-cli --pipe output:\n{text}"))
    };
    (out.code, find("errors:"), find("replies:"), text)
}

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

/// `(section, path)` of every entry of `public/NEGATIVE.md`.
pub fn negative_entries() -> Vec<(String, PathBuf)> {
    let md = String::from_utf8(common::read(&common::fixture("public/NEGATIVE.md"))).unwrap();
    let mut section = String::new();
    let mut out = Vec::new();
    for line in md.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            section = h.trim().to_string();
        } else if let Some(rest) = line.strip_prefix("- `") {
            let name = rest.split('`').next().unwrap();
            out.push((section.clone(), common::fixture("public").join(name)));
        }
    }
    assert!(out.len() >= 15, "NEGATIVE.md: only {} entries", out.len());
    out
}

/// The RDB version of a file's header.
pub fn version_of(rdb: &Path) -> Option<u32> {
    let mut h = [0u8; 9];
    let mut f = std::fs::File::open(rdb).ok()?;
    f.read_exact(&mut h).ok()?;
    if !h.starts_with(b"REDIS") {
        return None; // VALKEY080 etc.: not loadable by Redis 7.0
    }
    common::rdb_version(&h)
}

/// Fixtures Debian's Redis 7.0 can take as RESTORE payloads: header
/// `REDIS0001`..`REDIS0010`, with a `.expected.jsonl`, and not listed in
/// NEGATIVE.md except under "loadable only by an older server".
pub fn eligible_fixtures() -> Vec<PathBuf> {
    let negative = negative_entries();
    let v: Vec<PathBuf> = common::all_rdb_files()
        .into_iter()
        .filter(|p| matches!(version_of(p), Some(1..=10)))
        .filter(|p| common::sibling(p, ".expected.jsonl").exists())
        .filter(|p| {
            !negative
                .iter()
                .any(|(sec, np)| np == p && sec != "loadable only by an older server")
        })
        .collect();
    assert!(v.len() >= 50, "only {} eligible fixtures", v.len());
    v
}

/// Does `text` mention DB `db` ("db 1", "DB1", "db=1", "database 1", ...)?
pub fn mentions_db(text: &str, db: u64) -> bool {
    let t = text.to_ascii_lowercase();
    let d = db.to_string();
    for word in ["database", "db"] {
        let mut from = 0;
        while let Some(i) = t[from..].find(word) {
            let after = &t[from + i + word.len()..];
            let rest = after.trim_start_matches([' ', '=', ':', '#']);
            if rest.starts_with(&d) && !rest[d.len()..].starts_with(|c: char| c.is_ascii_digit()) {
                return true;
            }
            from += i + word.len();
        }
    }
    false
}

// ---------------------------------------------------------------------------
// Fixture loops
// ---------------------------------------------------------------------------

/// Runs `f`, turning a panic into `Err(message)` so that one fixture's
/// failure does not hide the others.
pub fn attempt<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => Err(p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())),
    }
}

/// Panics with every failure, if there are any.
pub fn report(test: &str, failures: &[String], total: usize) {
    if !failures.is_empty() {
        panic!(
            "{test}: {} of {total} cases failed:\n{}",
            failures.len(),
            failures.join("\n")
        );
    }
}

/// Runs `check(index, fixture)` (returning the number of keys compared) for
/// every fixture, prints how many matched, and reports all failures at once.
pub fn check_fixtures(
    test: &str,
    fixtures: &[PathBuf],
    mut check: impl FnMut(usize, &Path) -> Result<usize, String>,
) {
    let mut failures = Vec::new();
    let mut keys = 0;
    for (i, rdb) in fixtures.iter().enumerate() {
        match attempt(|| check(i, rdb)) {
            Ok(k) => keys += k,
            Err(e) => failures.push(format!("{}: {e}", common::rel(rdb))),
        }
    }
    eprintln!(
        "{test}: {} of {} fixtures equal to their truth ({keys} keys)",
        fixtures.len() - failures.len(),
        fixtures.len()
    );
    report(test, &failures, fixtures.len());
}
