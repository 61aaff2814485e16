//! `load --checkpoint FILE` / `--resume FILE`: where a load got to, so that
//! after a crash of rdbkit or of the target the next run goes on from there.
//!
//! Per input file the loader keeps:
//! - `acked`: the offset below which every record is accounted for (loaded,
//!   skipped, conflicting or failed, with the reply read);
//! - `done`: the records beyond `acked` whose reply was read as well (the
//!   pipeline acknowledges out of order, several nodes at once);
//! - `sent`: the end of the records handed to the target so far. A record
//!   between `acked` and `sent` that is not in `done` was in flight: its
//!   outcome is unknown, so a resumed run re-checks it — if `RESTORE`
//!   answers `BUSYKEY`, the key's `DUMP` is compared with the file's value
//!   and an identical key counts as loaded (by the interrupted run), any
//!   other as a conflict under the policy. Nothing is guessed.
//!
//! A key that failed (any error, OOM included) or met an existing key under
//! `panic` is never done: it is kept in `failed` / `conflicted` — even below
//! `acked` — and a resume reads it again and retries it.
//!
//! The checkpoint also keeps the options that decide what a key becomes in
//! the target ([`Checkpoint::options`]: a resume with other ones is refused
//! unless confirmed) and the whole-file totals over every run so far
//! ([`Totals`]), so a resumed run can say how far the whole job got.
//!
//! The file is JSON, replaced atomically (written beside, synced, renamed),
//! so a crash while writing leaves the previous checkpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

pub use crate::restore::resume::FileState;

/// Whole-file totals over every run of one checkpointed load. Keys in
/// flight or not yet sent are in none of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub runs: u64,
    pub loaded: u64,
    pub skipped_expired: u64,
    pub skipped_empty: u64,
    pub filtered: u64,
    pub skipped_corrupt: u64,
    /// Conflicts settled by the policy (`rewrite`, `ignore`) plus those still
    /// open (`panic`: retried by a resume).
    pub conflicts: u64,
    /// Keys failed and not loaded since.
    pub failed: u64,
    /// `--lossy`: keys the target cannot hold, left out.
    pub dropped_lossy: u64,
}

impl Totals {
    const FIELDS: [&'static str; 9] = [
        "runs",
        "loaded",
        "skipped_expired",
        "skipped_empty",
        "filtered",
        "skipped_corrupt",
        "conflicts",
        "failed",
        "dropped_lossy",
    ];

    fn values(&self) -> [u64; 9] {
        [
            self.runs,
            self.loaded,
            self.skipped_expired,
            self.skipped_empty,
            self.filtered,
            self.skipped_corrupt,
            self.conflicts,
            self.failed,
            self.dropped_lossy,
        ]
    }

    fn from_values(v: [u64; 9]) -> Totals {
        Totals {
            runs: v[0],
            loaded: v[1],
            skipped_expired: v[2],
            skipped_empty: v[3],
            filtered: v[4],
            skipped_corrupt: v[5],
            conflicts: v[6],
            failed: v[7],
            dropped_lossy: v[8],
        }
    }

    /// Keys accounted for.
    pub fn accounted(&self) -> u64 {
        self.values()[1..].iter().sum()
    }

    pub fn to_json(&self) -> Value {
        Value::Object(
            Self::FIELDS
                .iter()
                .zip(self.values())
                .map(|(k, v)| (k.to_string(), json!(v)))
                .collect(),
        )
    }

    fn parse(v: &Value) -> Totals {
        let mut out = [0u64; 9];
        for (o, k) in out.iter_mut().zip(Self::FIELDS) {
            *o = v[k].as_u64().unwrap_or(0);
        }
        Totals::from_values(out)
    }
}

/// A checkpoint: one state per input file, in the order of the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub files: Vec<FileState>,
    /// The options that decide what the target ends up holding (name →
    /// value; no secrets): a resume compares its own with these.
    pub options: BTreeMap<String, String>,
    pub totals: Totals,
}

pub fn fingerprint(data: &[u8]) -> u64 {
    crate::rdb::crc64::crc64(0, &data[..data.len().min(64 << 10)])
}

impl Checkpoint {
    pub fn to_json(&self) -> String {
        let files: Vec<Value> = self
            .files
            .iter()
            .map(|f| {
                json!({
                    "name": f.name,
                    "size": f.size,
                    "fingerprint": format!("{:016x}", f.fingerprint),
                    "acked": f.acked,
                    "done": f.done.iter().collect::<Vec<_>>(),
                    "sent": f.sent,
                    "complete": f.complete,
                    "keys": f.keys,
                    "failed": f.failed.iter().collect::<Vec<_>>(),
                    "conflicted": f.conflicted.iter().collect::<Vec<_>>(),
                })
            })
            .collect();
        json!({
            "rdbkit_checkpoint": 2,
            "files": files,
            "options": self.options,
            "totals": self.totals.to_json(),
        })
        .to_string()
    }

    pub fn parse(text: &str) -> Result<Checkpoint, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not a checkpoint: {e}"))?;
        // Version 1 (no failed keys, options or totals kept) still reads.
        if v["rdbkit_checkpoint"] != 1 && v["rdbkit_checkpoint"] != 2 {
            return Err("not an rdbkit checkpoint (version 1 or 2)".into());
        }
        let mut out = Checkpoint {
            totals: Totals::parse(&v["totals"]),
            ..Default::default()
        };
        if let Some(o) = v["options"].as_object() {
            for (k, x) in o {
                out.options
                    .insert(k.clone(), x.as_str().unwrap_or_default().to_string());
            }
        }
        let offsets = |x: &Value, what: &str| -> Result<BTreeSet<u64>, String> {
            match x {
                Value::Null => Ok(BTreeSet::new()),
                Value::Array(a) => a
                    .iter()
                    .map(|o| o.as_u64().ok_or(format!("bad {what} offset")))
                    .collect(),
                _ => Err(format!("bad {what}")),
            }
        };
        for f in v["files"].as_array().ok_or("no files")? {
            let num = |k: &str| f[k].as_u64().ok_or(format!("bad {k}"));
            out.files.push(FileState {
                name: f["name"].as_str().unwrap_or("").to_string(),
                size: num("size")?,
                fingerprint: f["fingerprint"]
                    .as_str()
                    .and_then(|s| u64::from_str_radix(s, 16).ok())
                    .ok_or("bad fingerprint")?,
                acked: num("acked")?,
                done: offsets(&f["done"], "done")?,
                sent: num("sent")?,
                complete: f["complete"].as_bool().unwrap_or(false),
                keys: f["keys"].as_u64(),
                failed: offsets(&f["failed"], "failed")?,
                conflicted: offsets(&f["conflicted"], "conflicted")?,
            });
        }
        Ok(out)
    }

    pub fn read(path: &Path) -> Result<Checkpoint, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Checkpoint::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes atomically: a crash leaves the old file or the new one.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp: PathBuf = {
            let mut s = path.as_os_str().to_owned();
            s.push(".tmp");
            s.into()
        };
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(self.to_json().as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

/// The loader's live view of one file: records handed out but not yet
/// acknowledged, by offset (a record may be several ops: a key and its
/// retries are one; functions count too).
#[derive(Debug, Default)]
pub struct Tracker {
    pub pending: BTreeMap<u64, u32>,
    /// End of the last batch received from the reader: every record before
    /// it is either pending or accounted for.
    pub read_upto: u64,
    /// Acknowledged records at or beyond the acknowledged prefix.
    pub done: BTreeSet<u64>,
    pub sent: u64,
    /// What the checkpoint on disk already says may have been sent: it is
    /// written *before* records past it are handed out (write-ahead, in
    /// steps of [`RESERVE`]), so a crash never leaves a written key outside
    /// the range a resume re-checks.
    pub reserved: u64,
    pub complete: bool,
    /// Keys that failed, in this run or an earlier one and not loaded
    /// since (acknowledged, but never done).
    pub failed: BTreeSet<u64>,
    /// Keys that met an existing key under `panic`, likewise.
    pub conflicted: BTreeSet<u64>,
    /// The acknowledged prefix of the run resumed: below it every record is
    /// done or in `failed`/`conflicted`, so the prefix never goes back.
    pub floor: u64,
}

/// How far ahead of the records handed out the checkpoint reserves.
pub const RESERVE: u64 = 16 << 20;

impl Tracker {
    pub fn start(&mut self, at: u64) {
        self.read_upto = at;
        self.sent = at;
    }

    pub fn sent(&mut self, offset: u64) {
        *self.pending.entry(offset).or_default() += 1;
    }

    pub fn acked(&mut self, offset: u64) {
        // A key retried from an earlier run is settled now.
        self.failed.remove(&offset);
        self.conflicted.remove(&offset);
        if let Some(n) = self.pending.get_mut(&offset) {
            *n -= 1;
            if *n == 0 {
                self.pending.remove(&offset);
                self.done.insert(offset);
            }
        }
    }

    /// A key's outcome is known and it is not loaded: acknowledged (the
    /// prefix may pass it) but kept for a resume to retry.
    pub fn unsettled(&mut self, offset: u64, conflict: bool) {
        self.acked(offset);
        if conflict {
            self.conflicted.insert(offset);
        } else {
            self.failed.insert(offset);
        }
    }

    /// The acknowledged prefix; trims `done` below it.
    pub fn prefix(&mut self) -> u64 {
        let p = self
            .pending
            .keys()
            .next()
            .copied()
            .unwrap_or(self.read_upto)
            .min(self.read_upto)
            .max(self.floor);
        self.done = self.done.split_off(&p);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_prefix() {
        let mut t = Tracker::default();
        t.start(9);
        for o in [9, 20, 30, 40] {
            t.sent(o);
        }
        t.read_upto = 50;
        t.sent = 50;
        t.acked(20);
        t.acked(40);
        assert_eq!(t.prefix(), 9);
        t.acked(9);
        assert_eq!(t.prefix(), 30);
        assert_eq!(t.done.iter().copied().collect::<Vec<_>>(), vec![40]);
        t.acked(30);
        assert_eq!(t.prefix(), 50);
        assert!(t.done.is_empty());
        let c = Checkpoint {
            files: vec![FileState {
                name: "a.rdb".into(),
                size: 100,
                fingerprint: 0xdead,
                acked: 30,
                done: [40, 41].into_iter().collect(),
                sent: 50,
                complete: false,
                keys: Some(7),
                failed: [12].into_iter().collect(),
                conflicted: [45].into_iter().collect(),
            }],
            options: [("on_conflict".to_string(), "panic".to_string())]
                .into_iter()
                .collect(),
            totals: Totals {
                runs: 1,
                loaded: 3,
                failed: 1,
                ..Default::default()
            },
        };
        assert_eq!(Checkpoint::parse(&c.to_json()).unwrap(), c);
        assert!(Checkpoint::parse("{}").is_err());
        let st = &c.files[0];
        assert_eq!(st.resume_at(), 12);
        assert!(st.to_send(12) && st.to_send(45) && st.to_send(30));
        assert!(!st.to_send(20) && !st.to_send(40));
    }

    #[test]
    fn failed_keys_are_never_done() {
        let mut t = Tracker::default();
        t.start(9);
        for o in [9, 20, 30] {
            t.sent(o);
        }
        t.read_upto = 40;
        t.acked(9);
        t.unsettled(20, false);
        t.acked(30);
        // The prefix passes the failed key, which stays to be retried.
        assert_eq!(t.prefix(), 40);
        assert_eq!(t.failed.iter().copied().collect::<Vec<_>>(), vec![20]);
    }
}
