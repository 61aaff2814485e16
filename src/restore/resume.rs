//! What a resumed run must send again of one file: the checkpoint's record
//! of it (`load::checkpoint` reads and writes it; the workers consult it).

use std::collections::BTreeSet;

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
    /// The file was read to its end and every record acknowledged, none of
    /// them failed.
    pub complete: bool,
    /// Keys in the file (from the preflight walk), when known.
    pub keys: Option<u64>,
    /// Keys that failed: retried by a resume, wherever they are.
    pub failed: BTreeSet<u64>,
    /// Keys that met an existing key under `panic`: retried by a resume
    /// (under the resumed run's policy).
    pub conflicted: BTreeSet<u64>,
}

impl FileState {
    /// Where a resume starts reading: the acknowledged prefix, or the first
    /// key to retry before it.
    pub fn resume_at(&self) -> u64 {
        let first = |s: &BTreeSet<u64>| s.first().copied().unwrap_or(u64::MAX);
        self.acked
            .min(first(&self.failed))
            .min(first(&self.conflicted))
    }

    /// Whether a resume must send the record at `offset`: not acknowledged,
    /// or acknowledged as failed or conflicting.
    pub fn to_send(&self, offset: u64) -> bool {
        (offset >= self.acked && !self.done.contains(&offset))
            || self.failed.contains(&offset)
            || self.conflicted.contains(&offset)
    }
}
