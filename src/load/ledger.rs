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
#[derive(Debug, Clone, PartialEq, Eq)]
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

/// Where an outcome puts its key, or what happens to the op next. The
/// result of [`classify`]; [`Summary::record`] counts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Class {
    /// Written, and no key was there before.
    Loaded,
    /// A key was there: settled as `action` (`rewritten`, `would-conflict`,
    /// or the policy's own). `busykey`: the target refused the write, so
    /// under `panic` the load stops here.
    Conflict { action: &'static str, busykey: bool },
    /// `--dry-run`: the key is not there; it would be loaded.
    WouldLoad,
    /// Every hash field had expired: nothing to write.
    SkippedExpired,
    /// Never sent: the load was stopping.
    NotAttempted,
    /// Failed, with what the report says.
    Failed(String),
    /// What one node said of a function library.
    Function(FnReply),
    /// Send the op again (see [`Redirect`]).
    Again(Redirect),
}

/// Classifies one outcome of an op of `kind`, without side effects.
/// `existed`: whether the key was there just before (rewrites); `node`
/// names the node in messages; `version` / `server_version` explain a
/// payload the target refuses.
pub(super) fn classify(
    kind: &OpKind<'_>,
    fate: Fate,
    existed: Option<bool>,
    node: &str,
    policy: OnConflict,
    version: u32,
    server_version: &str,
) -> Class {
    let reply = match fate {
        Fate::Reply(r) => r,
        Fate::NothingLeft => return Class::SkippedExpired,
        Fate::Stopped => return Class::NotAttempted,
        e @ Fate::NotWritable(_) => return Class::Failed(e.to_string()),
        e => return Class::Failed(format!("{node}: {e}")),
    };
    let busykey = Class::Conflict {
        action: policy.action(),
        busykey: true,
    };
    let written = if existed == Some(true) {
        // RESTORE ... REPLACE (or a rewrite) over a key that was there.
        Class::Conflict {
            action: "rewritten",
            busykey: false,
        }
    } else {
        Class::Loaded
    };
    // Command mode, existence check answered: absent -> write it now;
    // present -> a conflict, exactly like BUSYKEY from RESTORE.
    if let (
        OpKind::Commands { check: true, .. } | OpKind::Encoded { check: true, .. },
        Reply::Int(n),
    ) = (kind, &reply)
    {
        return if *n == 0 {
            Class::Again(Redirect::Proceed)
        } else {
            busykey
        };
    }
    match (kind, reply) {
        (OpKind::Exists, Reply::Int(n)) if n > 0 => Class::Conflict {
            action: "would-conflict",
            busykey: false,
        },
        (OpKind::Exists, Reply::Int(_)) => Class::WouldLoad,
        (OpKind::Function { .. }, Reply::Status(s)) if s == "OK" => {
            Class::Function(FnReply::Loaded)
        }
        (OpKind::Function { .. } | OpKind::FunctionLoad { .. }, Reply::Error(e))
            if ServerError::parse(&e).is_library_exists() =>
        {
            // Not a key: a library that is already there is kept (the
            // `rewrite` policy sends REPLACE) and reported, not failed.
            Class::Function(FnReply::Exists)
        }
        (OpKind::Function { .. } | OpKind::FunctionLoad { .. }, Reply::Error(e)) => {
            Class::Function(FnReply::Failed(e))
        }
        (
            OpKind::Function { .. } | OpKind::FunctionLoad { .. },
            Reply::Status(_) | Reply::Bulk(_),
        ) => Class::Function(FnReply::Loaded),
        // A redirect (MOVED, ASK) means the node executed none of the
        // key's commands: resend them. A transient refusal (LOADING,
        // BUSY, ...) of the first command says nothing of the later
        // ones: only a rewrite, which starts with DEL, is safe to resend.
        (
            OpKind::Commands { check: false, .. } | OpKind::Encoded { check: false, .. },
            Reply::Error(e),
        ) if !resendable(kind, &e) => Class::Failed(e),
        (OpKind::Commands { check: false, .. } | OpKind::Encoded { check: false, .. }, ref r)
            if !matches!(r, Reply::Error(_)) =>
        {
            written
        }
        (_, Reply::Status(s)) if s == "OK" => written,
        (_, Reply::Error(e)) => match ServerError::parse(&e) {
            ServerError::BusyKey(_) => busykey,
            ServerError::Moved { slot, addr, .. } => Class::Again(Redirect::Moved(slot, addr)),
            ServerError::Ask { addr, .. } => Class::Again(Redirect::Ask(addr)),
            s if s.is_transient() => Class::Again(Redirect::Retry(format!("{node}: {e}"))),
            s if s.is_payload_version() => Class::Failed(format!(
                "{e} (target {server_version} does not accept RDB version {version} payloads)"
            )),
            _ => Class::Failed(e),
        },
        (_, other) => Class::Failed(format!("unexpected reply {other:?}")),
    }
}

/// Where the accounting writes and what it needs to know of the run.
pub(super) struct Books<'r, 'f> {
    pub opts: &'r LoadOptions,
    pub conflicts_out: &'r mut Option<ReportFile>,
    pub failed_out: &'r mut Option<ReportFile>,
    pub files: &'r [InputFile<'f>],
    pub server_version: &'r str,
}

impl Summary {
    /// Accounts one outcome; returns the op if it must be sent again.
    pub(super) fn record<'a>(
        &mut self,
        o: Outcome<'a>,
        books: &mut Books<'_, '_>,
        version: u32,
    ) -> Option<(Op<'a>, Redirect)> {
        let existed = o.op.existed_before.or(o.existed);
        let policy = books.opts.on_conflict;
        let class = classify(
            &o.op.kind,
            o.fate,
            existed,
            &o.node,
            policy,
            version,
            books.server_version,
        );
        let op = o.op;
        match class {
            Class::Loaded => self.loaded += 1,
            Class::Conflict { action, busykey } => {
                let file = &books.files[op.file].name;
                self.conflict(&op, action, file, books.conflicts_out);
                if busykey && policy == OnConflict::Panic && self.first_conflict.is_none() {
                    self.first_conflict = Some(summary::FirstConflict {
                        db: op.db,
                        key: shown(&op.key),
                        file: file.clone(),
                        offset: op.offset,
                        loaded_then: self.loaded,
                    });
                }
            }
            Class::WouldLoad => {
                self.not_attempted += 1;
                self.would_load += 1;
            }
            Class::SkippedExpired => self.skipped_expired += 1,
            Class::NotAttempted => {
                if op.is_key() {
                    self.not_attempted += 1;
                }
            }
            Class::Failed(msg) => self.fail(&op, &msg, books.failed_out, version),
            Class::Function(r) => self.function(&op, r, &o.node),
            Class::Again(Redirect::Proceed) => {
                let mut next = op;
                if let OpKind::Commands { check, .. } | OpKind::Encoded { check, .. } =
                    &mut next.kind
                {
                    *check = false;
                }
                return Some((next, Redirect::Proceed));
            }
            Class::Again(r) => return Some((op, r)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(check: bool, replace: bool) -> OpKind<'static> {
        OpKind::Encoded {
            cmds: Vec::new(),
            n: 1,
            check,
            replace,
        }
    }

    fn err(e: &str) -> Fate {
        Fate::Reply(Reply::Error(e.into()))
    }

    fn ok() -> Fate {
        Fate::Reply(Reply::Status("OK".into()))
    }

    fn failed(m: &str) -> Class {
        Class::Failed(m.into())
    }

    fn conflict(action: &'static str, busykey: bool) -> Class {
        Class::Conflict { action, busykey }
    }

    /// Every way an outcome can go, for the op kinds that need no record.
    #[test]
    fn classifies_outcomes() {
        use OnConflict::*;
        let function = OpKind::Function {
            raw: b"",
            replace: false,
        };
        let moved = Class::Again(Redirect::Moved(Some(7), Some("h:2".into())));
        let table: Vec<(OpKind<'_>, Fate, Option<bool>, OnConflict, Class)> = vec![
            // No reply.
            (OpKind::Exists, Fate::NothingLeft, None, Panic, Class::SkippedExpired),
            (OpKind::Exists, Fate::Stopped, None, Panic, Class::NotAttempted),
            (
                OpKind::Exists,
                Fate::NotWritable("corrupt".into()),
                None,
                Panic,
                failed("cannot be written with commands: corrupt"),
            ),
            (
                OpKind::Exists,
                Fate::Unreplicated("written, but not confirmed".into()),
                None,
                Panic,
                failed("n:1: written, but not confirmed"),
            ),
            (
                OpKind::Exists,
                Fate::Refused("SELECT failed: ERR".into()),
                None,
                Panic,
                failed("n:1: SELECT failed: ERR"),
            ),
            // --dry-run / --preflight lookups.
            (OpKind::Exists, Fate::Reply(Reply::Int(1)), None, Panic, conflict("would-conflict", false)),
            (OpKind::Exists, Fate::Reply(Reply::Int(0)), None, Panic, Class::WouldLoad),
            // RESTORE-like replies.
            (OpKind::Exists, ok(), None, Panic, Class::Loaded),
            (OpKind::Exists, ok(), Some(true), Rewrite, conflict("rewritten", false)),
            (OpKind::Exists, err("BUSYKEY Target key name already exists."), None, Panic, conflict("stopped", true)),
            (OpKind::Exists, err("BUSYKEY x"), None, Ignore, conflict("ignored", true)),
            (OpKind::Exists, err("MOVED 7 h:2"), None, Panic, moved.clone()),
            (OpKind::Exists, err("ASK 7 h:3"), None, Panic, Class::Again(Redirect::Ask("h:3".into()))),
            (
                OpKind::Exists,
                err("LOADING Redis is loading"),
                None,
                Panic,
                Class::Again(Redirect::Retry("n:1: LOADING Redis is loading".into())),
            ),
            (OpKind::Exists, err("OOM command not allowed"), None, Panic, failed("OOM command not allowed")),
            (
                OpKind::Exists,
                err("ERR DUMP payload version or checksum are wrong"),
                None,
                Panic,
                failed("ERR DUMP payload version or checksum are wrong (target redis 7.0.15 does not accept RDB version 11 payloads)"),
            ),
            (
                encoded(true, false),
                Fate::Reply(Reply::Bulk(None)),
                None,
                Panic,
                failed("unexpected reply Bulk(None)"),
            ),
            // Command mode: the existence check, then the commands.
            (encoded(true, false), Fate::Reply(Reply::Int(0)), None, Panic, Class::Again(Redirect::Proceed)),
            (encoded(true, false), Fate::Reply(Reply::Int(1)), None, Panic, conflict("stopped", true)),
            (encoded(true, false), Fate::Reply(Reply::Int(1)), None, Ignore, conflict("ignored", true)),
            (encoded(true, false), err("MOVED 7 h:2"), None, Panic, moved.clone()),
            (encoded(false, false), Fate::Reply(Reply::Int(5)), None, Panic, Class::Loaded),
            (encoded(false, true), ok(), Some(true), Rewrite, conflict("rewritten", false)),
            (encoded(false, false), err("MOVED 7 h:2"), None, Panic, moved),
            // A transient refusal is resent only by a rewrite (it starts with DEL).
            (encoded(false, false), err("TRYAGAIN x"), None, Panic, failed("TRYAGAIN x")),
            (
                encoded(false, true),
                err("TRYAGAIN x"),
                None,
                Rewrite,
                Class::Again(Redirect::Retry("n:1: TRYAGAIN x".into())),
            ),
            (encoded(false, false), err("WRONGTYPE x"), None, Panic, failed("WRONGTYPE x")),
            // Function libraries.
            (function.clone(), ok(), None, Panic, Class::Function(FnReply::Loaded)),
            (
                function.clone(),
                err("ERR Library 'l' already exists"),
                None,
                Panic,
                Class::Function(FnReply::Exists),
            ),
            (function.clone(), err("ERR bad"), None, Panic, Class::Function(FnReply::Failed("ERR bad".into()))),
        ];
        for (i, (kind, fate, existed, policy, want)) in table.into_iter().enumerate() {
            let got = classify(&kind, fate, existed, "n:1", policy, 11, "redis 7.0.15");
            assert_eq!(got, want, "row {i}");
        }
    }

    #[test]
    fn lost_and_unsent_fail_naming_the_node() {
        // (The main loop retries these before they reach the ledger; if one
        // does, it fails with the node's address, never silently.)
        let lost = Fate::Lost("connection lost, reply unknown: reset".into());
        assert_eq!(
            classify(
                &OpKind::Exists,
                lost,
                None,
                "h:1",
                OnConflict::Panic,
                11,
                ""
            ),
            failed("h:1: connection lost, reply unknown: reset")
        );
    }
}
