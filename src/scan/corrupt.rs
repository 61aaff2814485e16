//! What `--skip-corrupt` reports: each damaged record, and the running
//! counts the summaries print.

use std::sync::Mutex;

use crate::error::Error;

/// A damaged record (or run of records) left out under `--skip-corrupt`.
#[derive(Debug, Clone)]
pub struct Corrupt {
    /// Offset of the damaged record's first byte.
    pub start: u64,
    /// Where reading went on (`None`: nothing readable followed).
    pub resume: Option<u64>,
    /// The record's key, when its opening was readable.
    pub key: Option<Vec<u8>>,
    /// What was wrong, with its own offset.
    pub error: Error,
}

/// Where damaged records are reported, and how many there were.
pub struct CorruptPolicy {
    report: Box<dyn Fn(&Corrupt) + Send + Sync>,
    count: std::sync::atomic::AtomicU64,
    pub(super) regions: std::sync::atomic::AtomicU64,
    pub(super) mismatches: Mutex<Vec<(u64, u64)>>,
}

impl CorruptPolicy {
    pub fn new(report: impl Fn(&Corrupt) + Send + Sync + 'static) -> Self {
        CorruptPolicy {
            report: Box::new(report),
            count: Default::default(),
            regions: Default::default(),
            mismatches: Default::default(),
        }
    }

    /// Checksum mismatches (stored, computed) seen, one per file.
    pub fn checksum_mismatches(&self) -> Vec<(u64, u64)> {
        self.mismatches
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default()
    }

    pub fn report(&self, c: &Corrupt) {
        self.count
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (self.report)(c);
    }

    /// Damaged records reported so far.
    pub fn count(&self) -> u64 {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Of those, the ones the record walk itself could not pass (each a
    /// record or a run of records no worker saw).
    pub fn regions(&self) -> u64 {
        self.regions.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl std::fmt::Debug for CorruptPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CorruptPolicy({} reported)", self.count())
    }
}
