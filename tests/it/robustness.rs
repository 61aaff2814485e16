//! Hostile-input tests: truncation at every byte and byte flips of the small
//! fixtures. The converter must never panic; a truncated file must be an
//! error; every error offset must lie within the input it was given.
//!
//! Default run: every fixture up to 4 KiB plus (up to) four between 4 and
//! 16 KiB, truncated at every offset; flips at every offset of files up to
//! 2 KiB and at 2000 pseudo-random offsets of the others. `RDBKIT_EXHAUSTIVE=1`: every fixture
//! up to 16 KiB at every offset, plus sampled offsets of every larger file.
//! `RDBKIT_ROBUST_TRACE=1` prints each case before running it (to find the
//! case when the process dies, e.g. on an allocation failure).

use crate::util::common;

use std::cell::{Cell, RefCell};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, Once};
use std::time::Instant;

use common::*;

const SMALL: u64 = 4 * 1024;
const MID: u64 = 16 * 1024;
const FLIP_ALL: usize = 2 * 1024;
const SAMPLES: usize = 2000;
const LARGE_SAMPLES: usize = 300;
const MASKS: [u8; 3] = [0xFF, 0x01, 0x80];

fn exhaustive() -> bool {
    std::env::var("RDBKIT_EXHAUSTIVE").is_ok_and(|v| v == "1")
}

fn trace() -> bool {
    std::env::var("RDBKIT_ROBUST_TRACE").is_ok_and(|v| v == "1")
}

// --- panic capture ---------------------------------------------------------

thread_local! {
    static IN_CASE: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Panics inside a case are recorded (message and location) instead of
/// printed; panics elsewhere go to the default hook.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CASE.with(Cell::get) {
                LAST_PANIC.with(|p| *p.borrow_mut() = Some(info.to_string().replace('\n', " ")));
            } else {
                prev(info);
            }
        }));
    });
}

/// Runs the converter; `Err(panic message)` if it panicked.
fn run_case(data: &[u8], verify: bool) -> Result<Result<Vec<u8>, rdbkit::Error>, String> {
    IN_CASE.with(|c| c.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        convert(data, false, verify)
    }));
    IN_CASE.with(|c| c.set(false));
    r.map_err(|_| {
        LAST_PANIC
            .with(|p| p.borrow_mut().take())
            .unwrap_or_else(|| "panic".into())
    })
}

// --- fixture selection -----------------------------------------------------

struct Target {
    path: PathBuf,
    data: Vec<u8>,
    /// Every offset (true) or a sample (false).
    all_offsets: bool,
    samples: usize,
}

fn targets() -> Vec<Target> {
    let mut files: Vec<(u64, PathBuf)> = all_rdb_files()
        .into_iter()
        .map(|p| (std::fs::metadata(&p).unwrap().len(), p))
        .collect();
    files.sort();
    let mut out = Vec::new();
    let mid: Vec<&(u64, PathBuf)> = files
        .iter()
        .filter(|(n, _)| *n > SMALL && *n <= MID)
        .collect();
    for (n, p) in &files {
        let (all, samples) = if *n <= SMALL {
            (true, SAMPLES)
        } else if *n <= MID {
            if exhaustive() {
                (true, SAMPLES)
            } else {
                // at most four mid-size files, spread over the range
                let idx = mid.iter().position(|(_, q)| q == p).unwrap();
                let pick = if mid.len() <= 4 {
                    true
                } else {
                    (0..4).any(|k| k * (mid.len() - 1) / 3 == idx)
                };
                if !pick {
                    continue;
                }
                (true, SAMPLES)
            }
        } else if exhaustive() {
            (false, LARGE_SAMPLES)
        } else {
            continue;
        };
        out.push(Target {
            data: read(p),
            path: p.clone(),
            all_offsets: all,
            samples,
        });
    }
    out
}

/// Deterministic sample of `k` offsets in `0..n` (all of them when small).
fn sample_offsets(name: &str, n: usize, k: usize) -> Vec<usize> {
    if n <= k {
        return (0..n).collect();
    }
    // FNV-1a of the name seeds a splitmix64 stream
    let mut seed: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        seed = (seed ^ b as u64).wrapping_mul(0x100000001b3);
    }
    let mut next = move || {
        seed = seed.wrapping_add(0x9e3779b97f4a7c15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
        z ^ (z >> 31)
    };
    // always include the first and last 64 bytes (header, trailer)
    let mut v: Vec<usize> = (0..64.min(n)).chain(n.saturating_sub(64)..n).collect();
    while v.len() < k {
        v.push((next() % n as u64) as usize);
    }
    v.sort();
    v.dedup();
    v
}

/// Offset of the EOF opcode, found without the parser under test: the byte
/// before the 8-byte CRC trailer (RDB >= 5) or the last byte (RDB < 5);
/// for files with bytes after the trailer, from the offset the server's own
/// redis-check-rdb reported after reading the checksum (meta.json).
fn eof_offset(t: &Target) -> Option<usize> {
    let d = &t.data;
    let v = rdb_version(d)?;
    let trailer = if v >= 5 { 8 } else { 0 };
    if d.len() > 9 + trailer && d[d.len() - 1 - trailer] == 0xFF {
        return Some(d.len() - 1 - trailer);
    }
    let meta = meta_json(&t.path);
    let lines = meta.pointer("/check_rdb/output")?.as_array()?;
    for l in lines {
        let l = l.as_str()?;
        if l.contains("Checksum OK") || l.contains("checksum disabled") {
            let n: usize = l
                .strip_prefix("[offset ")?
                .split(']')
                .next()?
                .parse()
                .ok()?;
            let p = n.checked_sub(1 + trailer)?;
            if d.get(p) == Some(&0xFF) {
                return Some(p);
            }
        }
    }
    None
}

/// Runs `f(target)` for every target on all cores, collecting failures.
fn for_all_targets(
    ts: &[Target],
    f: impl Fn(&Target, &mut Vec<String>) -> usize + Sync,
) -> (usize, Vec<String>) {
    install_hook();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let next = AtomicUsize::new(0);
    let total = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(t) = ts.get(i) else { break };
                let mut local = Vec::new();
                let n = f(t, &mut local);
                total.fetch_add(n, Ordering::Relaxed);
                failures.lock().unwrap().extend(local);
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    (total.into_inner(), failures)
}

fn report(what: &str, ts: &[Target], cases: usize, failures: Vec<String>, start: Instant) {
    println!(
        "{what}: {cases} cases over {} files in {:.1}s ({} mode), {} failures",
        ts.len(),
        start.elapsed().as_secs_f64(),
        if exhaustive() {
            "exhaustive"
        } else {
            "default"
        },
        failures.len()
    );
    if !failures.is_empty() {
        let shown: Vec<&String> = failures.iter().take(60).collect();
        panic!(
            "{what}: {} failing cases (first {} shown):\n{}",
            failures.len(),
            shown.len(),
            shown
                .iter()
                .map(|s| format!("  {s}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Keeps at most a few failures per file and kind, so one bug does not
/// flood the report.
fn push_limited(out: &mut Vec<String>, msg: String) {
    if out.len() < 5 {
        out.push(msg);
    } else if out.len() == 5 {
        out.push("... (more failures in this file)".into());
    }
}

#[test]
fn truncated_files_are_errors_never_panics() {
    let ts = targets();
    let start = Instant::now();
    let (cases, failures) = for_all_targets(&ts, |t, fails| {
        let name = rel(&t.path);
        let len = t.data.len();
        let eof = eof_offset(t);
        let has_trailer = rdb_version(&t.data).is_some_and(|v| v >= 5);
        let cuts: Vec<usize> = if t.all_offsets {
            (0..len).collect()
        } else {
            sample_offsets(&name, len, t.samples)
        };
        let mut n = 0;
        for &cut in &cuts {
            let prefix = &t.data[..cut];
            for verify in [false, true] {
                n += 1;
                if trace() {
                    eprintln!("trace: {name} cut {cut} verify {verify}");
                }
                let where_ = format!("{name}: cut at {cut} of {len} (verify_checksum={verify})");
                match run_case(prefix, verify) {
                    Err(p) => push_limited(fails, format!("{where_}: PANIC {p}")),
                    Ok(Err(e)) => {
                        if e.offset > cut as u64 {
                            push_limited(
                                fails,
                                format!(
                                    "{where_}: error offset {} beyond the {cut}-byte input: {e}",
                                    e.offset
                                ),
                            );
                        }
                    }
                    Ok(Ok(out)) => {
                        // bytes cut before the EOF opcode, or inside the 8-byte
                        // CRC trailer that RDB >= 5 always has (the servers
                        // refuse a short trailer even with checksums off)
                        let must_fail = match eof {
                            Some(p) => cut <= p || (has_trailer && cut < p + 9),
                            None => false,
                        };
                        if must_fail {
                            let what = if eof.is_some_and(|p| cut > p) {
                                "inside the CRC trailer"
                            } else {
                                "before the EOF opcode"
                            };
                            push_limited(
                                fails,
                                format!(
                                    "{where_}: Ok ({} output bytes) although cut {what}",
                                    out.len()
                                ),
                            );
                        }
                    }
                }
            }
        }
        if eof.is_none() && rdb_version(&t.data).is_some_and(|v| v < 90) {
            println!("note: {name}: EOF opcode position not determined; only checked for panics");
        }
        n
    });
    report("truncation", &ts, cases, failures, start);
}

#[test]
fn flipped_bytes_never_panic() {
    let ts = targets();
    let start = Instant::now();
    let (cases, failures) = for_all_targets(&ts, |t, fails| {
        let name = rel(&t.path);
        let len = t.data.len();
        let offsets: Vec<usize> = if len <= FLIP_ALL || (t.all_offsets && exhaustive()) {
            (0..len).collect()
        } else {
            sample_offsets(&format!("flip:{name}"), len, t.samples)
        };
        let mut buf = t.data.clone();
        let mut n = 0;
        for &off in &offsets {
            for mask in MASKS {
                n += 1;
                if trace() {
                    eprintln!("trace: {name} flip {off} ^ {mask:#04x}");
                }
                buf[off] ^= mask;
                match run_case(&buf, false) {
                    Err(p) => push_limited(fails, format!("{name}: byte {off} ^ {mask:#04x}: PANIC {p}")),
                    Ok(Err(e)) if e.offset > len as u64 => {
                        push_limited(fails, format!("{name}: byte {off} ^ {mask:#04x}: error offset {} beyond the input: {e}", e.offset))
                    }
                    Ok(_) => {}
                }
                buf[off] ^= mask;
            }
        }
        n
    });
    report("byte flips", &ts, cases, failures, start);
}
