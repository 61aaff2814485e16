//! Accounting of outcomes: each op's [`Fate`] lands the key in exactly one
//! bucket of the [`Summary`] (loaded, conflicting, failed, skipped, not
//! attempted), or sends the op again ([`Redirect`]), following the server's
//! error replies as `redis::ServerError` classifies them.

use std::io::Write;

use crate::redis::resp::Reply;
use crate::redis::ServerError;
use crate::restore::op::{self, Op, OpKind};
use crate::restore::{printable, shown, InputFile, OnConflict};

use super::node::{Fate, Outcome};
use super::reports::{write_conflict, ReportFile};
use super::summary::{self, FnReply};
use super::{resp, LoadOptions, Summary};

/// Why an op must be sent again.
pub enum Redirect {
    /// Not a redirect: the next step of the op (command mode after its check).
    Proceed,
    /// `-MOVED slot addr`: the slot's owner changed.
    Moved(Option<u16>, Option<String>),
    Ask(String),
    /// A transient refusal (`LOADING`, `BUSY`, `TRYAGAIN`, `CLUSTERDOWN`),
    /// with the node and its message.
    Retry(String),
}

impl Summary {
    /// Accounts one outcome; returns the op if it must be sent again.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn record<'a>(
        &mut self,
        o: Outcome<'a>,
        opts: &LoadOptions,
        conflicts_out: &mut Option<ReportFile>,
        failed_out: &mut Option<ReportFile>,
        files: &[InputFile<'_>],
        version: u32,
        server_version: &str,
    ) -> Option<(Op<'a>, Redirect)> {
        let existed = o.op.existed_before.or(o.existed);
        let op = o.op;
        let reply = match o.fate {
            Fate::Reply(r) => r,
            Fate::NothingLeft => {
                self.skipped_expired += 1;
                return None;
            }
            Fate::Stopped => {
                if op.is_key() {
                    self.not_attempted += 1;
                }
                return None;
            }
            e @ Fate::NotWritable(_) => {
                self.fail(&op, &e.to_string(), failed_out, version);
                return None;
            }
            e => {
                self.fail(&op, &format!("{}: {e}", o.node), failed_out, version);
                return None;
            }
        };
        let file = &files[op.file].name;
        // Command mode, existence check answered: absent -> write it now;
        // present -> a conflict, exactly like BUSYKEY from RESTORE.
        if let (
            OpKind::Commands { check: true, .. } | OpKind::Encoded { check: true, .. },
            Reply::Int(n),
        ) = (&op.kind, &reply)
        {
            if *n == 0 {
                let mut next = op.clone();
                if let OpKind::Commands { check, .. } | OpKind::Encoded { check, .. } =
                    &mut next.kind
                {
                    *check = false;
                }
                return Some((next, Redirect::Proceed));
            }
            return self.record(
                Outcome {
                    op,
                    node: o.node,
                    fate: Fate::Reply(Reply::Error(
                        "BUSYKEY key exists (checked before writing commands)".into(),
                    )),
                    existed: None,
                    gen: o.gen,
                },
                opts,
                conflicts_out,
                failed_out,
                files,
                version,
                server_version,
            );
        }
        match (&op.kind, reply) {
            (OpKind::Exists, Reply::Int(n)) => {
                if n > 0 {
                    self.conflict(&op, "would-conflict", file, conflicts_out);
                } else {
                    self.not_attempted += 1;
                    self.would_load += 1;
                }
            }
            (OpKind::Function { .. }, Reply::Status(s)) if s == "OK" => {
                self.function(&op, FnReply::Loaded, &o.node)
            }
            (OpKind::Function { .. } | OpKind::FunctionLoad { .. }, Reply::Error(e))
                if e.contains("already exists") =>
            {
                // Not a key: a library that is already there is kept (the
                // `rewrite` policy sends REPLACE) and reported, not failed.
                self.function(&op, FnReply::Exists, &o.node)
            }
            (OpKind::Function { .. } | OpKind::FunctionLoad { .. }, Reply::Error(e)) => {
                self.function(&op, FnReply::Failed(e), &o.node)
            }
            (
                OpKind::Function { .. } | OpKind::FunctionLoad { .. },
                Reply::Status(_) | Reply::Bulk(_),
            ) => self.function(&op, FnReply::Loaded, &o.node),
            // A redirect (MOVED, ASK) means the node executed none of the
            // key's commands: resend them. A transient refusal (LOADING,
            // BUSY, ...) of the first command says nothing of the later
            // ones: only a rewrite, which starts with DEL, is safe to resend.
            (
                OpKind::Commands { check: false, .. } | OpKind::Encoded { check: false, .. },
                Reply::Error(e),
            ) if !resendable(&op.kind, &e) => {
                self.fail(&op, &e, failed_out, version);
            }
            (
                OpKind::Commands { check: false, .. } | OpKind::Encoded { check: false, .. },
                ref r,
            ) if !matches!(r, Reply::Error(_)) => {
                if existed == Some(true) {
                    self.conflict(&op, "rewritten", file, conflicts_out);
                } else {
                    self.loaded += 1;
                }
            }
            (_, Reply::Status(s)) if s == "OK" => {
                if existed == Some(true) {
                    // RESTORE ... REPLACE over a key that was there.
                    self.conflict(&op, "rewritten", file, conflicts_out);
                } else {
                    self.loaded += 1;
                }
            }
            (_, Reply::Error(e)) => match ServerError::parse(&e) {
                ServerError::BusyKey(_) => {
                    self.conflict(&op, opts.on_conflict.action(), file, conflicts_out);
                    if opts.on_conflict == OnConflict::Panic && self.first_conflict.is_none() {
                        self.first_conflict = Some(summary::FirstConflict {
                            db: op.db,
                            key: shown(&op.key),
                            file: file.clone(),
                            offset: op.offset,
                            loaded_then: self.loaded,
                        });
                    }
                }
                ServerError::Moved { slot, addr, .. } => {
                    return Some((op, Redirect::Moved(slot, addr)));
                }
                ServerError::Ask { addr, .. } => {
                    return Some((op, Redirect::Ask(addr)));
                }
                s if s.is_transient() => {
                    return Some((op, Redirect::Retry(format!("{}: {e}", o.node))))
                }
                _ => {
                    let msg = if e.contains("DUMP payload version") {
                        format!("{e} (target {server_version} does not accept RDB version {version} payloads)")
                    } else {
                        e
                    };
                    self.fail(&op, &msg, failed_out, version);
                }
            },
            (_, other) => self.fail(
                &op,
                &format!("unexpected reply {other:?}"),
                failed_out,
                version,
            ),
        }
        None
    }

    /// Counts a conflicting key under `action` and writes it to the
    /// conflicts file.
    pub(super) fn conflict(
        &mut self,
        op: &Op<'_>,
        action: &str,
        file: &str,
        conflicts_out: &mut Option<ReportFile>,
    ) {
        self.conflicts += 1;
        *self.conflicts_by_action.entry(action.into()).or_default() += 1;
        if self.track && action == OnConflict::Panic.action() {
            // Not loaded: a resume tries it again.
            self.marks.push((op.file, op.offset, true));
        }
        if let Some(w) = conflicts_out.as_mut() {
            write_conflict(w, op, action, file);
        }
    }

    /// Counts a failed op and writes it to the failed-keys stream.
    pub fn fail(
        &mut self,
        op: &Op<'_>,
        msg: &str,
        failed_out: &mut Option<ReportFile>,
        version: u32,
    ) {
        if !op.is_key() {
            self.function(op, FnReply::Failed(msg.to_string()), "");
            return;
        }
        self.failed += 1;
        if self.track {
            // Never done: a resume tries it again.
            self.marks.push((op.file, op.offset, false));
        }
        let kind: String = msg.chars().take(160).collect();
        *self.errors_by_kind.entry(kind).or_default() += 1;
        if self.first_errors.len() < 10 {
            self.first_errors
                .push(format!("db {} key {}: {msg}", op.db, printable(&op.key)));
        }
        if let Some(w) = failed_out.as_mut() {
            let mut b = Vec::new();
            if op.db != 0 {
                resp::command(&mut b, &[b"SELECT", op.db.to_string().as_bytes()]);
            }
            let mut ctx = op::EncodeCtx {
                limits: self.encode_limits,
                features: self.encode_features,
                scratch: Default::default(),
            };
            // A replay goes to whatever node owns the key then: no ASKING.
            let mut op = op.clone();
            op.ask = None;
            if let Err(e) = op.encode(&mut b, version, &mut ctx, None) {
                // Not replayable as commands either; the reason is in the summary.
                let _ = e;
                return;
            }
            if op.db != 0 {
                resp::command(&mut b, &[b"SELECT", b"0"]);
            }
            let _ = w.write_all(&b);
        }
    }

    pub(super) fn must_stop(&self, opts: &LoadOptions) -> bool {
        self.first_conflict.is_some() || self.failed > opts.max_errors
    }
}

/// Whether a command-mode key whose first error is `e` may be sent again.
fn resendable(kind: &OpKind<'_>, e: &str) -> bool {
    let replace = match kind {
        OpKind::Commands { args, .. } => args.replace,
        OpKind::Encoded { replace, .. } => *replace,
        _ => false,
    };
    match ServerError::parse(e) {
        ServerError::Moved { .. } | ServerError::Ask { .. } => true,
        s => s.is_transient() && replace,
    }
}
