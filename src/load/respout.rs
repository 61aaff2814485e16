//! `rdbkit resp`: the RESTORE command stream for a file, for
//! `redis-cli --pipe`. Same decisions as `load` (expired and empty keys are
//! skipped, db mapping, REPLACE under `rewrite`), produced on the parallel
//! engine; `SELECT` is written whenever the target db changes, in file order.

use std::io::Write;

use crate::scan::{self, Admit, Chunk, EngineOptions, Progress, Worker};
use crate::sink::SinkError;

use super::commands::{emit_key, BatchLimits, TargetFeatures};
use super::op::OpKind;
use super::resp;
use super::worker::{Decision, LoadWorker, WorkerConfig};
use crate::rdb::records::{parse_header, FunctionPreGa, Item};
use crate::rdb::value::Scratch;

/// Counts of one `resp` run.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RespSummary {
    pub keys_read: u64,
    pub written: u64,
    pub skipped_expired: u64,
    pub skipped_empty: u64,
    /// Keys left out by the filter.
    pub filtered: u64,
    /// Keys whose value is corrupt in the file (message on stderr).
    pub failed: u64,
    pub functions: u64,
    pub errors: Vec<String>,
}

struct Segment {
    db: u64,
    bytes: Vec<u8>,
}

#[derive(Default)]
struct Out {
    segments: Vec<Segment>,
    sum: RespSummary,
}

/// How keys are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `RESTORE` with the file's own payload.
    Restore,
    /// Ordinary commands ([`commands`](super::commands)), for targets that
    /// cannot read the snapshot's RDB version.
    Commands {
        limits: BatchLimits,
        features: TargetFeatures,
    },
}

struct RespWorker {
    inner: LoadWorker,
    version: u32,
    replace: bool,
    mode: Mode,
    scratch: Scratch,
    kscratch: Vec<u8>,
}

impl<'a> Worker<'a> for RespWorker {
    type Out = Out;
    fn process(&mut self, chunk: &Chunk<'a>) -> Result<Out, SinkError> {
        let mut out = Out::default();
        let mut p = chunk.parser()?;
        let push = |out: &mut Out, db: u64, f: &mut dyn FnMut(&mut Vec<u8>)| {
            if out.segments.last().map(|s| s.db) != Some(db) {
                out.segments.push(Segment {
                    db,
                    bytes: Vec::new(),
                });
            }
            if let Some(s) = out.segments.last_mut() {
                f(&mut s.bytes);
            }
        };
        while let Some(item) = p.next_item()? {
            match item {
                Item::Key(rec) => {
                    // A damaged value is counted by the engine's policy.
                    match chunk.admit(&rec, &mut self.kscratch)? {
                        Admit::Damaged => continue,
                        Admit::Filtered => {
                            out.sum.keys_read += 1;
                            out.sum.filtered += 1;
                            continue;
                        }
                        Admit::Keep => out.sum.keys_read += 1,
                    }
                    match self.inner.op_for(&rec)? {
                        Decision::Send(op) => {
                            let v = self.version;
                            match self.mode {
                                Mode::Restore => {
                                    out.sum.written += 1;
                                    push(&mut out, op.db, &mut |b| {
                                        if let OpKind::Restore { rec, args } = &op.kind {
                                            super::payload::write_restore(b, &op.key, rec, v, args)
                                        }
                                    });
                                }
                                Mode::Commands { limits, features } => {
                                    let mut buf = Vec::new();
                                    let r = match &op.kind {
                                        OpKind::Restore { rec, args }
                                        | OpKind::Commands { rec, args, .. } => emit_key(
                                            &mut buf,
                                            &op.key,
                                            rec,
                                            args.expire_ms,
                                            self.replace,
                                            limits,
                                            features,
                                            &mut self.scratch,
                                            Default::default(),
                                        ),
                                        _ => Ok(0),
                                    };
                                    match r.map(|n| n > 0) {
                                        Ok(true) => {
                                            out.sum.written += 1;
                                            push(&mut out, op.db, &mut |b| {
                                                b.extend_from_slice(&buf)
                                            });
                                        }
                                        Ok(false) => out.sum.skipped_expired += 1,
                                        Err(e) => {
                                            out.sum.failed += 1;
                                            out.sum.errors.push(format!(
                                                "db {} key {}: {e}",
                                                op.db,
                                                super::printable(&op.key)
                                            ));
                                        }
                                    }
                                }
                            }
                        }
                        Decision::SkipExpired => out.sum.skipped_expired += 1,
                        Decision::SkipEmpty => out.sum.skipped_empty += 1,
                        Decision::Fail(op, why) => {
                            out.sum.failed += 1;
                            out.sum.errors.push(format!(
                                "db {} key {}: {why}",
                                op.db,
                                super::printable(&op.key)
                            ));
                        }
                    }
                }
                Item::Function { .. } | Item::FunctionPreGa(_) => {
                    out.sum.functions += 1;
                    let (v, r) = (self.version, self.replace);
                    let db = out.segments.last().map(|s| s.db).unwrap_or(0);
                    match (self.mode, &item) {
                        (
                            Mode::Restore,
                            Item::Function { raw, .. }
                            | Item::FunctionPreGa(FunctionPreGa { raw, .. }),
                        ) => push(&mut out, db, &mut |b| {
                            super::payload::write_function_restore(b, raw, v, r)
                        }),
                        (Mode::Commands { .. }, _) => {
                            let code = super::commands::function_code(&item)?;
                            push(&mut out, db, &mut |b| {
                                super::commands::function_load(b, &code, r)
                            })
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

/// Writes the command stream of `data` to `w`.
pub fn write_resp<W: Write>(
    data: &[u8],
    cfg: &WorkerConfig,
    mode: Mode,
    engine: &EngineOptions,
    w: &mut W,
    progress: Option<Progress<'_>>,
) -> Result<RespSummary, SinkError> {
    let version = parse_header(data)?.version;
    let mut cur_db = 0u64;
    let mut sum = RespSummary::default();
    let mut select = Vec::new();
    scan::run(
        data,
        engine,
        || RespWorker {
            kscratch: Vec::new(),
            inner: LoadWorker::new(cfg.clone()),
            version,
            replace: cfg.replace,
            mode,
            scratch: Scratch::default(),
        },
        |out: Out, _| {
            for s in out.segments {
                if s.db != cur_db {
                    select.clear();
                    resp::command(&mut select, &[b"SELECT", s.db.to_string().as_bytes()]);
                    w.write_all(&select)?;
                    cur_db = s.db;
                }
                w.write_all(&s.bytes)?;
            }
            sum.keys_read += out.sum.keys_read;
            sum.written += out.sum.written;
            sum.skipped_expired += out.sum.skipped_expired;
            sum.skipped_empty += out.sum.skipped_empty;
            sum.filtered += out.sum.filtered;
            sum.failed += out.sum.failed;
            sum.functions += out.sum.functions;
            sum.errors.extend(out.sum.errors);
            Ok(())
        },
        progress,
    )?;
    Ok(sum)
}
