//! Turning records into key checks, on the scan engine's worker threads:
//! the same decisions as `load` (target db, expired and empty keys, slot;
//! `LoadWorker::op_for` itself), the sample filter, and the probes, so the
//! decoding of snapshot values runs in parallel.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::rdb::consts::RDB_TYPE_HASH_METADATA_PRE_GA;
use crate::rdb::records::{Item, Record};
use crate::rdb::value::{Dialect, Kind, Scratch};
use crate::restore::payload::payload_len;
use crate::restore::worker::{Decision, LoadWorker, WorkerConfig};
use crate::restore::{printable, OpKind};
use crate::scan::{Admit, Chunk, Worker};
use crate::sink::SinkError;

use super::eval::Verdict;
use super::node::{ensure_probes, NodeConfig};
use super::probe::NORMAL_CAP;
use super::{KeyCheck, Method};

/// Keys whose RESTORE payload is at most this big try the DUMP fast path.
pub const FAST_MAX: usize = 1 << 20;
/// Values bigger than this in the file go straight to the paged check.
pub const BIG_VALUE: usize = NORMAL_CAP / 4;

/// DUMP fast-path hits and tries per type byte (encoding). An encoding
/// whose payloads keep differing stops trying: an older file in a newer
/// server is re-encoded, and a hash-table set or hash comes back from the
/// server in another order.
#[derive(Debug, Default)]
pub struct FastStats {
    tries: [AtomicU64; 32],
    hits: [AtomicU64; 32],
}

impl FastStats {
    pub fn enabled(&self, type_byte: u8) -> bool {
        let i = type_byte as usize % 32;
        let t = self.tries[i].load(Ordering::Relaxed);
        let h = self.hits[i].load(Ordering::Relaxed);
        t < 64 || h * 2 >= t
    }

    pub fn record(&self, type_byte: u8, hit: bool) {
        let i = type_byte as usize % 32;
        self.tries[i].fetch_add(1, Ordering::Relaxed);
        if hit {
            self.hits[i].fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// What every worker of one file shares.
#[derive(Clone, Copy)]
pub struct Shared<'s> {
    pub node: NodeConfig,
    pub fast: &'s FastStats,
    /// Try the DUMP fast path at all.
    pub fast_path: bool,
    /// The target has modules loaded (module values can be compared).
    pub modules: bool,
    /// The file's dialect and whether the target is Valkey 9+ (type bytes
    /// from 22 up mean different things in the two dialects).
    pub file_dialect: Dialect,
    pub target_valkey_types: bool,
    /// `--sample`: the chosen record offsets of this file, sorted.
    pub selection: Option<&'s [u64]>,
    /// First pass of `--sample`: only list the keys that would be checked.
    pub population: bool,
}

/// A chunk's worth of checks.
#[derive(Default)]
pub struct VBatch<'a> {
    pub checks: Vec<KeyCheck<'a>>,
    /// Keys for the paged check.
    pub bigs: Vec<KeyCheck<'a>>,
    /// Population pass: offsets of the keys that would be checked.
    pub offsets: Vec<u64>,
    pub keys_read: u64,
    pub skipped_expired: u64,
    pub skipped_empty: u64,
    pub not_sampled: u64,
    /// Keys left out by the filter (`--key`, `--type`, ...).
    pub filtered: u64,
    pub uncomparable: u64,
    /// Keys that cannot be checked (corrupt value), with the message.
    pub errors: Vec<String>,
    pub bytes: u64,
}

pub struct VerifyWorker<'s> {
    kscratch: Vec<u8>,
    load: LoadWorker,
    shared: Shared<'s>,
    scratch: Scratch,
}

impl<'s> VerifyWorker<'s> {
    pub fn new(cfg: WorkerConfig, shared: Shared<'s>) -> Self {
        VerifyWorker {
            kscratch: Vec::new(),
            load: LoadWorker::new(cfg),
            shared,
            scratch: Scratch::default(),
        }
    }

    fn record<'a>(&mut self, rec: &Record<'a>, b: &mut VBatch<'a>) -> Result<(), SinkError> {
        let sh = self.shared;
        b.keys_read += 1;
        let op = match self.load.op_for(rec)? {
            Decision::SkipExpired => {
                b.skipped_expired += 1;
                return Ok(());
            }
            Decision::SkipEmpty => {
                b.skipped_empty += 1;
                return Ok(());
            }
            // Only load's command mode drops keys (verify sends no commands).
            Decision::Dropped => return Ok(()),
            Decision::Fail(op, why) => {
                if sh.population {
                    b.offsets.push(rec.offset);
                } else if sh
                    .selection
                    .is_none_or(|s| s.binary_search(&rec.offset).is_ok())
                {
                    b.errors
                        .push(format!("db {} key {}: {why}", op.db, printable(&op.key)));
                } else {
                    b.not_sampled += 1;
                }
                return Ok(());
            }
            Decision::Send(op) => op,
        };
        if sh.population {
            b.offsets.push(rec.offset);
            return Ok(());
        }
        if let Some(sel) = sh.selection {
            if sel.binary_search(&rec.offset).is_err() {
                b.not_sampled += 1;
                return Ok(());
            }
        }
        let expire_ms = match &op.kind {
            OpKind::Restore { args, .. } => args.expire_ms,
            _ => rec.expire_ms,
        };
        let kind = rec.vtype.kind();
        let key: Cow<'a, [u8]> = op.key;
        let mut check = KeyCheck {
            file: op.file,
            offset: rec.offset,
            db: op.db,
            key,
            slot: op.slot,
            rec: rec.clone(),
            expire_ms,
            method: Method::Decoded,
            probes: None,
            ask: None,
            attempts: 0,
            notes: Default::default(),
        };
        if kind == Kind::Array {
            // Compared by DUMP: an array's payload is canonical (elements
            // and insert cursor only, `rdbSaveObject`), whatever its slices.
            check.method = Method::Module;
        } else if kind == Kind::Module {
            if !sh.modules {
                b.uncomparable += 1;
                return Ok(());
            }
            check.method = Method::Module;
        } else if sh.fast_path
            && payload_len(rec) <= FAST_MAX
            && (rec.type_byte < RDB_TYPE_HASH_METADATA_PRE_GA
                || (sh.file_dialect == Dialect::Valkey) == sh.target_valkey_types)
            && sh.fast.enabled(rec.type_byte)
        {
            // The node writer builds the two fast-path probes when it sends
            // them: nothing to hold meanwhile.
            check.method = Method::Fast;
            b.checks.push(check);
            return Ok(());
        } else if rec.value.len() > BIG_VALUE {
            check.method = Method::Paged;
            b.bigs.push(check);
            return Ok(());
        }
        match ensure_probes(&mut check, &sh.node, &mut self.scratch) {
            Ok(()) => b.checks.push(check),
            Err(Verdict::AllFieldsExpired) => b.skipped_expired += 1,
            Err(Verdict::TooBig) => {
                check.method = Method::Paged;
                b.bigs.push(check);
            }
            Err(Verdict::Error(m)) => b.errors.push(format!(
                "db {} key {}: {m}",
                check.db,
                printable(&check.key)
            )),
            Err(other) => b.errors.push(format!("unexpected verdict {other:?}")),
        }
        Ok(())
    }
}

impl<'a> Worker<'a> for VerifyWorker<'_> {
    type Out = VBatch<'a>;
    type Error = SinkError;
    fn process(&mut self, chunk: &Chunk<'a>) -> Result<VBatch<'a>, SinkError> {
        let mut b = VBatch {
            bytes: chunk.end - chunk.start,
            ..Default::default()
        };
        let mut p = chunk.parser()?;
        while let Some(item) = p.next_item()? {
            if let Item::Key(rec) = item {
                match chunk.admit(&rec, &mut self.kscratch)? {
                    // Counted by the engine's policy, as `json` leaves it out.
                    Admit::Damaged => continue,
                    Admit::Filtered => {
                        b.keys_read += 1;
                        b.filtered += 1;
                        continue;
                    }
                    Admit::Keep => {}
                }
                self.record(&rec, &mut b)?;
            }
        }
        Ok(b)
    }
}
