//! One unit of work for a target: restore a key, check a key's existence
//! (dry run), or restore a function library. Ops borrow the record bytes
//! from the input map; the command is encoded only when it is written.

use std::borrow::Cow;

use crate::rdb::records::Record;

use super::commands::{emit_key, function_load, BatchLimits, Sink, Spill, TargetFeatures};
use super::payload::{self, RestoreArgs};
use crate::rdb::value::Scratch;
use crate::redis::resp;

#[derive(Clone)]
pub enum OpKind<'a> {
    Restore {
        rec: Record<'a>,
        args: RestoreArgs,
    },
    /// Command mode (see `commands.rs`). With `check`, only `EXISTS` is sent
    /// first; the key's commands follow when it turns out absent (the
    /// `panic`/`ignore` policies never touch an existing key).
    Commands {
        rec: Record<'a>,
        args: RestoreArgs,
        check: bool,
    },
    Exists,
    Function {
        raw: &'a [u8],
        replace: bool,
    },
    /// Commands already encoded (a JSON Lines key): `n` commands. With
    /// `check`, `EXISTS` goes first as for `Commands`; `replace` marks a
    /// rewrite (the commands include their `MULTI`/`DEL`/`EXEC`).
    Encoded {
        cmds: Vec<u8>,
        n: usize,
        check: bool,
        replace: bool,
    },
    /// A function library as `FUNCTION LOAD` (command mode).
    FunctionLoad {
        code: Vec<u8>,
        replace: bool,
    },
    /// `DUMP`, to tell whether an existing key is the one this record would
    /// write (a key in flight when a checkpointed load was interrupted).
    DumpCheck {
        rec: Record<'a>,
        args: RestoreArgs,
    },
}

/// What command-mode encoding needs besides the op.
pub struct EncodeCtx {
    pub limits: BatchLimits,
    pub features: TargetFeatures,
    pub scratch: Scratch,
}

#[derive(Clone)]
pub struct Op<'a> {
    /// Index of the input file.
    pub file: usize,
    /// Offset of the record in its file (for messages and checkpoints).
    pub offset: u64,
    /// Database in the target.
    pub db: u64,
    pub key: Cow<'a, [u8]>,
    pub slot: u16,
    pub kind: OpKind<'a>,
    /// After an `-ASK` redirect: the node to send to, with `ASKING` first.
    pub ask: Option<String>,
    /// Redirects (`MOVED`, `ASK`) followed so far.
    pub attempts: u32,
    /// Transient failures so far (LOADING, BUSY, a lost connection, ...),
    /// and when the first happened: the back-off grows with the count, and
    /// the op gives up once `--retry-for` has passed since the first.
    pub retries: u32,
    pub retry_since: Option<std::time::Instant>,
    /// A rewrite whose reply was lost: what its first existence probe said
    /// (the target as it was before this load touched the key), so that a
    /// resend does not count our own earlier write as a conflict.
    pub existed_before: Option<bool>,
}

impl<'a> Op<'a> {
    /// Appends the op's commands; returns how many (replies to expect).
    /// After an `-ASK` redirect every command goes with an `ASKING` (which
    /// holds for one command, or for a whole transaction). `spill` lets a
    /// huge key (a RESTORE payload, command-mode commands) go out while it
    /// is encoded (see [`Spill`]); on an error after a spill the caller
    /// cleans up.
    pub fn encode(
        &self,
        out: &mut Vec<u8>,
        rdb_version: u32,
        ctx: &mut EncodeCtx,
        spill: Option<&mut dyn Spill>,
    ) -> crate::Result<usize> {
        let asking = self.ask.is_some();
        let ask = |out: &mut Vec<u8>| {
            if asking {
                resp::command(out, &[b"ASKING"]);
            }
            asking as usize
        };
        Ok(match &self.kind {
            OpKind::Restore { rec, args } => {
                let a = ask(out);
                match spill {
                    Some(s) => {
                        payload::write_restore_spilling(out, &self.key, rec, rdb_version, args, s)?
                    }
                    None => payload::write_restore(out, &self.key, rec, rdb_version, args),
                }
                a + 1
            }
            OpKind::Commands { check: true, .. }
            | OpKind::Encoded { check: true, .. }
            | OpKind::Exists => {
                let a = ask(out);
                resp::command(out, &[b"EXISTS", &self.key]);
                a + 1
            }
            OpKind::Commands {
                rec,
                args,
                check: false,
            } => emit_key(
                out,
                &self.key,
                rec,
                args.expire_ms,
                args.replace,
                ctx.limits,
                ctx.features,
                &mut ctx.scratch,
                Sink { asking, spill },
            )?,
            OpKind::Function { raw, replace } => {
                let a = ask(out);
                payload::write_function_restore(out, raw, rdb_version, *replace);
                a + 1
            }
            OpKind::Encoded {
                cmds,
                n,
                check: false,
                replace,
            } => {
                if asking {
                    let tmp = super::commands::temp_key(&self.key);
                    let in_place = replace.then_some((&tmp[..], &self.key[..]));
                    resp::with_asking(cmds, out, in_place).ok_or_else(|| {
                        crate::Error::invalid(self.offset, "commands", "not a command stream")
                    })?
                } else {
                    out.extend_from_slice(cmds);
                    *n
                }
            }
            OpKind::FunctionLoad { code, replace } => {
                let a = ask(out);
                function_load(out, code, *replace);
                a + 1
            }
            OpKind::DumpCheck { .. } => {
                let a = ask(out);
                resp::command(out, &[b"DUMP", &self.key]);
                a + 1
            }
        })
    }

    pub fn is_key(&self) -> bool {
        !matches!(
            self.kind,
            OpKind::Function { .. } | OpKind::FunctionLoad { .. }
        )
    }
}
