//! `rdbkit resp`: the RESTORE command stream for a file, for
//! `redis-cli --pipe`. Same decisions as `load` (expired and empty keys are
//! skipped, db mapping, REPLACE under `rewrite`), produced on the parallel
//! engine; `SELECT` is written whenever the target db changes, in file order.

use std::io::Write;

use crate::scan::{self, Chunk, EngineOptions, Progress, Worker};
use crate::sink::SinkError;

use super::commands::{BatchLimits, TargetFeatures};
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
}

/// Commands of one key in command mode. Under `rewrite` the key is replaced
/// atomically: `MULTI`, `DEL`, the commands, `EXEC` when the key takes at
/// most `TX_MAX_COMMANDS` commands; a bigger key is built under a temporary
/// name in the same slot and `RENAME`d over the old one, so readers never
/// see a half-written key.
pub const TX_MAX_COMMANDS: usize = 1000;

/// Returns false when nothing was left to write (all hash fields expired).
pub fn emit_key(
    out: &mut Vec<u8>,
    op: &super::op::Op<'_>,
    replace: bool,
    limits: BatchLimits,
    features: TargetFeatures,
    scratch: &mut Scratch,
) -> crate::Result<bool> {
    let super::op::OpKind::Restore { rec, args } = &op.kind else {
        return Ok(false);
    };
    let mut body = Vec::new();
    let n = super::commands::emit_record(
        &mut body,
        &op.key,
        rec,
        args.expire_ms,
        limits,
        features,
        scratch,
    )?;
    if n == 0 {
        return Ok(false);
    }
    if !replace {
        out.extend_from_slice(&body);
    } else if n <= TX_MAX_COMMANDS {
        resp::command(out, &[b"MULTI"]);
        resp::command(out, &[b"DEL", &op.key]);
        out.extend_from_slice(&body);
        resp::command(out, &[b"EXEC"]);
    } else {
        let tmp = temp_key(&op.key);
        resp::command(out, &[b"DEL", &tmp]);
        super::commands::emit_record(out, &tmp, rec, args.expire_ms, limits, features, scratch)?;
        resp::command(out, &[b"RENAME", &tmp, &op.key]);
    }
    Ok(true)
}

/// A temporary name in the same cluster slot as `key`: the key itself plus a
/// suffix when it has a hash tag (the first tag still decides), else the
/// whole key made the tag. A key holding a `}` but no valid tag has no such
/// name, nor does the empty key; their `RENAME` then fails in a cluster
/// (CROSSSLOT) and is reported.
pub fn temp_key(key: &[u8]) -> Vec<u8> {
    let has_tag = super::slot::hash_tag(key).len() != key.len();
    let mut t = Vec::with_capacity(key.len() + 16);
    if !has_tag && !key.contains(&b'}') {
        t.push(b'{');
        t.extend_from_slice(key);
        t.push(b'}');
    } else {
        t.extend_from_slice(key);
    }
    t.extend_from_slice(b":rdbkit-tmp");
    t
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
                    out.sum.keys_read += 1;
                    match self.inner.op_for(&rec)? {
                        Decision::Send(op) => {
                            let v = self.version;
                            match self.mode {
                                Mode::Restore => {
                                    out.sum.written += 1;
                                    push(&mut out, op.db, &mut |b| op.encode(b, v));
                                }
                                Mode::Commands { limits, features } => {
                                    let mut buf = Vec::new();
                                    match emit_key(
                                        &mut buf,
                                        &op,
                                        self.replace,
                                        limits,
                                        features,
                                        &mut self.scratch,
                                    ) {
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
            sum.failed += out.sum.failed;
            sum.functions += out.sum.functions;
            sum.errors.extend(out.sum.errors);
            Ok(())
        },
        progress,
    )?;
    Ok(sum)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::slot::key_slot;

    #[test]
    fn temp_keys_stay_in_the_slot() {
        // (The empty key has no such name: its slot 0 needs a CRC16 of 0.)
        for k in [&b"plain"[..], b"{user1}:a", b"a{b}c", b"a{b", b"{x}{}"] {
            assert_eq!(
                key_slot(&temp_key(k)),
                key_slot(k),
                "{:?}",
                String::from_utf8_lossy(k)
            );
        }
    }
}
