//! `--skip-corrupt`: a damaged record is reported (offset, key) and left
//! out, reading resumes at the next record, and everything else comes out
//! exactly as from the undamaged file; without the flag the first damage
//! is an error. Checked on real fixtures with damage put in by the test.

use crate::util::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use rdbkit::rdb::records::{Item, ParseOptions, Parser};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_rdbkit");

struct Rec {
    offset: usize,
    value_offset: usize,
    end: usize,
    key: Vec<u8>,
    type_byte: u8,
}

fn records(data: &[u8]) -> Vec<Rec> {
    let mut p = Parser::new(data, ParseOptions::default()).unwrap();
    let mut out = Vec::new();
    while let Some(item) = p.next_item().unwrap() {
        if let Item::Key(r) = item {
            out.push(Rec {
                offset: r.offset as usize,
                value_offset: r.value_offset as usize,
                end: r.end_offset() as usize,
                key: r.key.to_vec().unwrap(),
                type_byte: r.type_byte,
            });
        }
    }
    out
}

fn run(args: &[&str]) -> (i32, Vec<u8>, String) {
    let o = Command::new(BIN).args(args).output().unwrap();
    (
        o.status.code().unwrap_or(-1),
        o.stdout,
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn keys_of(json: &[u8]) -> Vec<Vec<u8>> {
    common::parse_jsonl(json)
        .unwrap()
        .iter()
        .map(|l| common::bytes_of(&l["key"]).unwrap())
        .collect()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("rdbkit-corrupt-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

fn write(path: &Path, data: &[u8]) -> String {
    std::fs::write(path, data).unwrap();
    path.to_str().unwrap().to_string()
}

/// Damage to a record's structure (a length the walk cannot pass): the
/// walk loses its way, resynchronises on the next record, and the
/// output is the undamaged output minus that one key.
#[test]
fn damaged_lengths_are_skipped_and_reading_resumes() {
    let mut checked = 0;
    for rel in [
        "redis-7.0.15/default.rdb",
        "redis-2.8.24/expanded.rdb",
        "valkey-8.0.1/default.rdb",
    ] {
        let path = common::fixture(rel);
        if !path.exists() {
            continue;
        }
        let data = common::read(&path);
        let recs = records(&data);
        let full = {
            let (code, out, err) = run(&["json", path.to_str().unwrap(), "-q"]);
            assert_eq!(code, 0, "{rel}: {err}");
            keys_of(&out)
        };
        // Damage three string records spread over the file.
        let strings: Vec<&Rec> = recs
            .iter()
            .filter(|r| r.type_byte == 0 && r.key.len() >= 3)
            .collect();
        assert!(strings.len() >= 3, "{rel}: not enough string keys");
        for r in [
            strings[1],
            strings[strings.len() / 2],
            strings[strings.len() - 2],
        ] {
            let mut bad = data.clone();
            // The value's length byte becomes string encoding 7, which does
            // not exist: the walk cannot pass this record. (Damage that still
            // reads as well-formed records, say a key length that swallows
            // the next record exactly, cannot be told from data: only the
            // checksum shows it.)
            bad[r.value_offset] = 0xC7;
            let f = write(&tmp("len.rdb"), &bad);
            let (code, _, err) = run(&["json", &f, "-q"]);
            assert_eq!(
                code, 1,
                "{rel}: without --skip-corrupt the damage is an error: {err}"
            );
            let (code, out, err) = run(&["json", &f, "-q", "--skip-corrupt", "-j", "2"]);
            assert_eq!(code, 6, "{rel}: {err}");
            // Every key out is an undamaged one, in file order; the damaged
            // key is not among them. When bytes of the damaged value can
            // also read as a record that ends where the next real one does,
            // no data tells which is real, so that next record is left out
            // too: at most one more key lost.
            let want: Vec<Vec<u8>> = full.iter().filter(|k| **k != r.key).cloned().collect();
            let got = keys_of(&out);
            let mut rest = want.iter();
            assert!(
                got.iter().all(|k| rest.any(|w| w == k)),
                "{rel}: damaged key {:?}: keys out of order or invented",
                String::from_utf8_lossy(&r.key)
            );
            assert!(
                got.len() + 1 >= want.len(),
                "{rel}: {} of {} kept",
                got.len(),
                want.len()
            );
            assert!(
                err.contains(&format!("byte offset {}", r.offset)),
                "{rel}: {err}"
            );
            let resumed: u64 = err
                .split("resumed at byte offset ")
                .nth(1)
                .and_then(|t| t.split(|c: char| !c.is_ascii_digit()).next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{rel}: {err}"));
            assert!(resumed >= r.end as u64, "{rel}: {err}");
            let has_crc = data[data.len() - 8..] != [0; 8];
            assert_eq!(err.contains("checksum mismatch"), has_crc, "{rel}: {err}");
            checked += 1;
        }
    }
    assert!(checked >= 6, "only {checked} cases");
}

/// Damage inside a value (the walk passes, decoding fails): that key is
/// left out and named; the rest is intact. `stats` does not decode values,
/// so it only sees the checksum.
#[test]
fn damaged_values_are_skipped_by_name() {
    let path = common::fixture("redis-7.0.15/default.rdb");
    let data = common::read(&path);
    let recs = records(&data);
    // A hash stored as a listpack (type 16): break its listpack terminator.
    let r = recs
        .iter()
        .find(|r| r.type_byte == 16)
        .expect("a listpack hash");
    let mut bad = data.clone();
    bad[r.end - 1] ^= 0xFF;
    let f = write(&tmp("value.rdb"), &bad);
    let (code, out, err) = run(&["json", &f, "-q", "--skip-corrupt"]);
    assert_eq!(code, 6, "{err}");
    let (_, full, _) = run(&["json", path.to_str().unwrap(), "-q"]);
    let want: Vec<Vec<u8>> = keys_of(&full).into_iter().filter(|k| *k != r.key).collect();
    assert_eq!(keys_of(&out), want);
    assert!(
        err.contains(&String::from_utf8_lossy(&r.key).to_string()),
        "{err}"
    );
    let (code, _, err) = run(&["json", &f, "-q"]);
    assert_eq!(code, 1, "{err}");
    // Stats: no value decoded, every key counted, the checksum a warning.
    let (code, out, err) = run(&["stats", &f, "--json", "-q", "--skip-corrupt"]);
    assert_eq!(code, 6, "{err}");
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["keys"], recs.len(), "{v}");
}

/// A clean file under --skip-corrupt: exit 0, identical output.
#[test]
fn clean_files_are_unaffected() {
    for p in common::all_rdb_files().into_iter().take(40) {
        let Some(f) = p.to_str() else { continue };
        let (c1, o1, _) = run(&["json", f, "-q"]);
        if c1 != 0 {
            continue;
        }
        let (c2, o2, e2) = run(&["json", f, "-q", "--skip-corrupt"]);
        assert_eq!((c2, &o2), (0, &o1), "{f}: {e2}");
    }
}

/// Truncation: everything before the cut, then a report; no EOF, so no
/// checksum to check.
#[test]
fn truncated_files_keep_everything_readable() {
    let path = common::fixture("redis-7.0.15/default.rdb");
    let data = common::read(&path);
    let recs = records(&data);
    let cut = recs[recs.len() / 2].offset + 3;
    let f = write(&tmp("cut.rdb"), &data[..cut]);
    let (code, out, err) = run(&["json", &f, "-q", "--skip-corrupt"]);
    assert_eq!(code, 6, "{err}");
    let want: Vec<Vec<u8>> = recs[..recs.len() / 2]
        .iter()
        .map(|r| r.key.clone())
        .collect();
    let got = keys_of(&out);
    // Expired keys are in the file and in json output alike.
    assert_eq!(got, want);
    assert!(err.contains("nothing readable after it"), "{err}");
}

// ---------------------------------------------------------------------------
// Random damage over every fixture: --skip-corrupt never invents a key
// ---------------------------------------------------------------------------

/// What `json --skip-corrupt` made of one damaged file: key lines without
/// their `db` (a flipped SELECTDB number moves keys to another database,
/// which only the checksum can show), and whether the checksum mismatch was
/// reported.
struct Salvage {
    lines: Vec<String>,
    mismatch: bool,
    /// Damaged regions reported.
    damaged: u64,
}

fn salvage(data: &[u8]) -> Option<Salvage> {
    use rdbkit::scan::{CorruptPolicy, EngineOptions};
    use rdbkit::sink::json::{write_parallel, JsonOptions};
    use std::sync::Arc;
    let policy = Arc::new(CorruptPolicy::new(|_| {}));
    let engine = EngineOptions {
        threads: 1,
        skip_corrupt: Some(Arc::clone(&policy)),
        ..Default::default()
    };
    let mut out = Vec::new();
    let opts = JsonOptions {
        meta: false,
        verify_checksum: true,
    };
    // An unreadable header is an error even under --skip-corrupt.
    write_parallel(data, &opts, &engine, &mut out, None).ok()?;
    Some(Salvage {
        lines: without_db(&out),
        mismatch: !policy.checksum_mismatches().is_empty(),
        damaged: policy.count(),
    })
}

fn without_db(jsonl: &[u8]) -> Vec<String> {
    common::parse_jsonl(jsonl)
        .unwrap()
        .into_iter()
        .map(|mut v| {
            v.as_object_mut().unwrap().remove("db");
            v.to_string()
        })
        .collect()
}

/// The CRC-64 trailer of an undamaged file (`None` before RDB 5).
fn stored_checksum(data: &[u8]) -> Option<u64> {
    let mut p = Parser::new(data, ParseOptions::default()).ok()?;
    while let Ok(Some(item)) = p.next_item() {
        if let Item::Eof { checksum, .. } = item {
            return checksum;
        }
    }
    None
}

/// A tiny deterministic generator (xorshift), so a failure names a case
/// that can be replayed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Random single-byte flips and truncations of every fixture, salvaged with
/// --skip-corrupt: no key line appears that the undamaged file does not
/// hold (same key, type, value, expiry), with one exception that data alone
/// cannot show: the one record the flip landed in (a flip inside raw string
/// bytes still reads as a string), and then only when the checksum mismatch
/// or a damaged region is reported (or the file has no checksum to report). Bounded count by
/// default; every offset of every fixture with RDBKIT_EXHAUSTIVE=1.
///
/// (Misaligned walks that read on without error are caught by the look
/// back and the keyspace rules of `rdb::resync`; `RDBKIT_DAMAGE_SAMPLES=N`
/// samples N offsets per file instead of 16.)
#[test]
fn random_damage_never_invents_keys() {
    let failures = damage_cases(1);
    assert!(
        failures.0.is_empty(),
        "{} of {} cases invented keys:\n{}",
        failures.0.len(),
        failures.1,
        failures.0.join("\n")
    );
}

/// The flips that still invented keys at 1,000 random offsets per fixture
/// (7 of 134,532 cases) before the look back widened over aux fields, the
/// damaged record's own extent was read again, and `00 00 00` or an empty
/// key just before a failure counted as damage. Each leaves at most the
/// flipped record itself different, and reports the damage.
///
/// And the cuts that did at 3,000 offsets per fixture (4 of 309,710 cases)
/// before a chain ending on an end of file had to pass a few keys: the last
/// 9 bytes of a cut file read as an end of file after a 0xFF, and an LZF
/// string's or a stream's bytes before them as a key. A cut invents
/// nothing at all.
///
/// And the three flips that still did at 3,000 offsets per fixture before
/// an empty collection counted as no evidence (a fake empty list just
/// before the failure) and the look back went wide (a damaged set member's
/// or hash field's length swallowed the records after it, and the walk read
/// a dozen small sets, or a string, out of a later value's bytes).
///
/// And the flip found at 300 offsets per fixture before an empty collection
/// under an empty key (`01 00 00`: every length valid) counted as damage:
/// three keys read out of the damaged record's bytes.
#[test]
fn hard_damage_found_by_sampling_invents_nothing() {
    let cases: [(&str, usize, Option<u8>); 15] = [
        (
            "newest/redis-unstable-20260609-no-stream-no-array.rdb",
            68982,
            Some(0x37),
        ),
        (
            "newest/redis-unstable-20260609-no-stream-no-array.rdb",
            75226,
            Some(0x33),
        ),
        ("newest/redis-unstable-20260609.rdb", 83499, Some(0x10)),
        ("public/redis/corrupt_empty_keys.rdb", 186, Some(0x2a)),
        ("public/redis-rdb-cli/filter.rdb", 87685, Some(0x01)),
        ("redis-8.0-m01/expanded.rdb", 321691, Some(0xab)),
        ("valkey-9.1.0/expired.rdb", 69, Some(0x34)),
        ("redis-4.0.14/default.rdb", 71681, None),
        ("valkey-8.1.7/default.rdb", 201683, None),
        ("valkey-9.1.0/compact.rdb", 201337, None),
        ("valkey-9.1.0/compact.rdb", 4441, None),
        ("public/redis-rdb-cli/filter.rdb", 95641, Some(0x4b)),
        ("valkey-8.1.7/default.rdb", 207350, Some(0xbe)),
        ("valkey-9.1.0/compact.rdb", 87394, Some(0x3d)),
        ("public/hdt3213-rdb/expiration.rdb", 94, Some(0xc7)),
    ];
    for (file, at, flip) in cases {
        let data = common::read(&common::testdata_dir().join(file));
        let good = salvage(&data).expect("clean fixture");
        let bad = match flip {
            Some(x) => {
                let mut b = data.clone();
                b[at] ^= x;
                b
            }
            None => data[..at].to_vec(),
        };
        let s = salvage(&bad).expect("header intact");
        let foreign: Vec<&String> = s.lines.iter().filter(|l| !good.lines.contains(l)).collect();
        let what = flip.map_or("cut".to_string(), |x| format!("^{x:#x}"));
        assert!(
            s.mismatch || s.damaged > 0,
            "{file} {what} at {at}: not reported"
        );
        let allowed = usize::from(flip.is_some());
        assert!(
            foreign.len() <= allowed,
            "{file} {what} at {at}: {} foreign lines: {foreign:?}",
            foreign.len()
        );
    }
}

/// Flips and cuts at random offsets of every fixture; the cases with more
/// foreign key lines than allowed (`allowed_when_warned` when the damage
/// was reported, none otherwise), and the number of cases.
fn damage_cases(allowed_when_warned: usize) -> (Vec<String>, usize) {
    let exhaustive = std::env::var("RDBKIT_EXHAUSTIVE").is_ok_and(|v| v == "1");
    let per_file = if exhaustive {
        usize::MAX
    } else {
        std::env::var("RDBKIT_DAMAGE_SAMPLES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(16)
    };
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut failures = Vec::new();
    let mut cases = 0;
    for path in common::all_rdb_files() {
        let data = common::read(&path);
        let Some(orig) = salvage(&data) else { continue };
        if orig.mismatch || data.len() < 10 {
            continue; // not a clean file to begin with
        }
        let good: std::collections::HashSet<&String> = orig.lines.iter().collect();
        let has_crc = stored_checksum(&data).is_some_and(|c| c != 0);
        let offsets: Vec<usize> = if exhaustive {
            (9..data.len()).collect()
        } else {
            (0..per_file.min(data.len()))
                .map(|_| 9 + (rng.next() as usize) % (data.len() - 9))
                .collect()
        };
        for at in offsets {
            let flip = (rng.next() % 255 + 1) as u8;
            for cut in [false, true] {
                let bad: Vec<u8> = if cut {
                    data[..at].to_vec()
                } else {
                    let mut b = data.clone();
                    b[at] ^= flip;
                    b
                };
                cases += 1;
                let Some(s) = salvage(&bad) else { continue };
                let foreign: Vec<&String> = s.lines.iter().filter(|l| !good.contains(l)).collect();
                // A length that swallows the rest of the file leaves no EOF
                // and so no checksum to compare: then the damage report at
                // the end is what says so.
                let warned = s.mismatch || s.damaged > 0 || !has_crc;
                let allowed = match (cut, warned) {
                    (false, true) => allowed_when_warned,
                    (true, true) if allowed_when_warned > 1 => allowed_when_warned,
                    _ => 0,
                };
                if foreign.len() > allowed {
                    failures.push(format!(
                        "{} {} at {at}{}: {} foreign key lines (mismatch reported: {}), first: {}",
                        common::rel(&path),
                        if cut { "cut" } else { "flip" },
                        if cut {
                            String::new()
                        } else {
                            format!(" ^{flip:#04x}")
                        },
                        foreign.len(),
                        s.mismatch,
                        foreign[0].chars().take(160).collect::<String>()
                    ));
                }
            }
        }
    }
    failures.truncate(30);
    (failures, cases)
}
