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
//! The file is JSON, replaced atomically (written beside, synced, renamed),
//! so a crash while writing leaves the previous checkpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

/// Progress of one input file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileState {
    pub name: String,
    pub size: u64,
    /// CRC-64 of the file's first 64 KiB: a cheap check that `--resume`
    /// is given the same file.
    pub fingerprint: u64,
    pub acked: u64,
    pub done: BTreeSet<u64>,
    pub sent: u64,
    /// The file was read to its end and every record acknowledged.
    pub complete: bool,
}

/// A checkpoint: one state per input file, in the order of the command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoint {
    pub files: Vec<FileState>,
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
                })
            })
            .collect();
        json!({"rdbkit_checkpoint": 1, "files": files}).to_string()
    }

    pub fn parse(text: &str) -> Result<Checkpoint, String> {
        let v: Value = serde_json::from_str(text).map_err(|e| format!("not a checkpoint: {e}"))?;
        if v["rdbkit_checkpoint"] != 1 {
            return Err("not an rdbkit checkpoint (version 1)".into());
        }
        let mut out = Checkpoint::default();
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
                done: f["done"]
                    .as_array()
                    .ok_or("bad done")?
                    .iter()
                    .map(|x| x.as_u64().ok_or("bad done offset"))
                    .collect::<Result<_, _>>()?,
                sent: num("sent")?,
                complete: f["complete"].as_bool().unwrap_or(false),
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
        if let Some(n) = self.pending.get_mut(&offset) {
            *n -= 1;
            if *n == 0 {
                self.pending.remove(&offset);
                self.done.insert(offset);
            }
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
            .min(self.read_upto);
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
            }],
        };
        assert_eq!(Checkpoint::parse(&c.to_json()).unwrap(), c);
        assert!(Checkpoint::parse("{}").is_err());
    }
}
