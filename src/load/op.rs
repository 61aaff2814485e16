//! One unit of work for a target: restore a key, check a key's existence
//! (dry run), or restore a function library. Ops borrow the record bytes
//! from the input map; the command is encoded only when it is written.

use std::borrow::Cow;

use crate::rdb::records::Record;

use super::payload::{self, RestoreArgs};
use super::resp;

#[derive(Clone)]
pub enum OpKind<'a> {
    Restore { rec: Record<'a>, args: RestoreArgs },
    Exists,
    Function { raw: &'a [u8], replace: bool },
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
    /// Redirects and retries so far.
    pub attempts: u32,
}

impl<'a> Op<'a> {
    /// Appends the op's command.
    pub fn encode(&self, out: &mut Vec<u8>, rdb_version: u32) {
        match &self.kind {
            OpKind::Restore { rec, args } => {
                payload::write_restore(out, &self.key, rec, rdb_version, args)
            }
            OpKind::Exists => resp::command(out, &[b"EXISTS", &self.key]),
            OpKind::Function { raw, replace } => {
                payload::write_function_restore(out, raw, rdb_version, *replace)
            }
        }
    }

    pub fn is_key(&self) -> bool {
        !matches!(self.kind, OpKind::Function { .. })
    }
}
