//! Turning records into load operations, on the engine's worker threads:
//! target db, expiry (skip or shift), empty-collection check, slot, and the
//! kind of command. Counting happens here too, so the main thread only
//! adds up per-chunk numbers.

use std::borrow::Cow;

use crate::error::{Error, ErrorKind, Result};
use crate::rdb::array::ArrayElem;
use crate::rdb::elem::{Elem, RdbStr};
use crate::rdb::empty::is_empty_collection;
use crate::rdb::module::ModuleValue;
use crate::rdb::records::{Item, Record};
use crate::rdb::stream::{StreamId, StreamMeta};
use crate::rdb::value::{Kind, Scratch, ValueVisitor};
use crate::scan::{Admit, Chunk, Worker};
use crate::sink::SinkError;

use super::op::{Op, OpKind};
use super::payload::RestoreArgs;
use super::KeyOptions;
use crate::redis::slot::key_slot;

/// Per-file settings of the worker.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub file: usize,
    pub now_ms: i64,
    /// Added to every expiry (`--ttl-from-snapshot`).
    pub shift_ms: i64,
    pub keys: KeyOptions,
    pub cluster: bool,
    /// `RESTORE ... REPLACE`.
    pub replace: bool,
    /// `EXISTS` instead of `RESTORE`.
    pub dry_run: bool,
    /// Command mode for `load` (None: always RESTORE).
    pub commands: Option<CommandChoice>,
    /// `--resume`: the interrupted run's state of this file. Records it
    /// settled before its acknowledged prefix are passed over without being
    /// counted (they were, in that run); only keys it left failed or
    /// conflicting are read again.
    pub resume: Option<std::sync::Arc<super::resume::FileState>>,
}

/// When a key goes as commands instead of RESTORE.
#[derive(Debug, Clone, Copy)]
pub struct CommandChoice {
    /// Every key (the target cannot read this file's RDB version, or
    /// `--mode commands`).
    pub all: bool,
    /// Keys whose RESTORE payload is bigger than this.
    pub max_restore_bytes: u64,
    /// Check that the key is absent before writing it (`panic`, `ignore`).
    pub check: bool,
    /// What the target can hold (arrays, XNACK) and `--lossy`.
    pub features: super::commands::TargetFeatures,
}

impl WorkerConfig {
    /// The db a record goes to in the target.
    pub fn target_db(&self, db: u64) -> u64 {
        if let Some(d) = self.keys.db {
            return d;
        }
        self.keys
            .db_map
            .iter()
            .find(|(from, _)| *from == db)
            .map(|(_, to)| *to)
            .unwrap_or(db)
    }
}

/// A chunk's worth of work.
#[derive(Default)]
pub struct Batch<'a> {
    pub ops: Vec<Op<'a>>,
    /// Keys that cannot be sent, with the reason (e.g. a corrupt value).
    pub failed: Vec<(Op<'a>, String)>,
    pub keys_read: u64,
    pub skipped_expired: u64,
    pub skipped_empty: u64,
    /// Keys left out by the filter.
    pub filtered: u64,
    pub bytes: u64,
    /// End offset of the records this batch covers.
    pub end: u64,
    /// Keys sent as commands rather than RESTORE.
    pub as_commands: u64,
    /// Keys sent as commands because their RESTORE payload is over
    /// `--max-restore-bytes`: (db, key, payload bytes), the first few.
    pub big: Vec<(u64, Vec<u8>, u64)>,
    /// `--lossy`: keys left out because the target cannot hold them (arrays).
    pub dropped_lossy: u64,
    /// `--lossy`: NACKed stream entries left out (target without XNACK).
    pub nacks_dropped: u64,
}

/// How many keys sent as commands for their size a batch names.
const BIG_NAMED: usize = 10;

pub struct LoadWorker {
    cfg: WorkerConfig,
    scratch: Scratch,
    kscratch: Vec<u8>,
    /// `--lossy`: NACKed entries left out of keys sent so far (taken by
    /// [`LoadWorker::take_nacks_dropped`]).
    nacks_dropped: u64,
}

impl LoadWorker {
    pub fn new(cfg: WorkerConfig) -> Self {
        LoadWorker {
            kscratch: Vec::new(),
            cfg,
            scratch: Scratch::default(),
            nacks_dropped: 0,
        }
    }

    /// NACKed entries `--lossy` left out since the last call.
    pub fn take_nacks_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.nacks_dropped)
    }

    /// The op for one record, or why it is not sent.
    pub fn op_for<'a>(&mut self, rec: &Record<'a>) -> std::result::Result<Decision<'a>, SinkError> {
        let cfg = &self.cfg;
        let db = cfg.target_db(rec.db);
        if cfg.cluster && db != 0 {
            return Err(SinkError::Abort(format!(
                "a key in db {} cannot be loaded into a Redis Cluster, which has only db 0; map it with --db-map {}=0 or --target-db 0",
                rec.db, rec.db
            )));
        }
        let mut expire_ms = rec.expire_ms.map(|e| e.saturating_add(cfg.shift_ms));
        if let Some(e) = expire_ms {
            if e <= cfg.now_ms {
                if !cfg.keys.keep_expired {
                    return Ok(Decision::SkipExpired);
                }
                // RESTORE with a past ABSTTL deletes the key at once; to keep
                // an expired key it is restored without its (past) expiry.
                expire_ms = None;
            }
        }
        let key: Cow<'a, [u8]> = match rec.key {
            RdbStr::Raw(b) => Cow::Borrowed(b),
            other => match other.to_vec() {
                Ok(v) => Cow::Owned(v),
                Err(e) => return Err(SinkError::Format(e)),
            },
        };
        let slot = if cfg.cluster { key_slot(&key) } else { 0 };
        let mut op = Op {
            file: cfg.file,
            offset: rec.offset,
            db,
            key,
            slot,
            kind: OpKind::Exists,
            ask: None,
            attempts: 0,
            retries: 0,
            retry_since: None,
            existed_before: None,
        };
        // Servers skip an empty collection on load and refuse one in
        // RESTORE: skipped and counted, told from the value's counts as the
        // writer, census and resync tell it.
        if is_empty_collection(rec.vtype, rec.value) {
            return Ok(Decision::SkipEmpty);
        }
        if let Err(e) = check_head(rec, &mut self.scratch) {
            return Ok(Decision::Fail(
                op,
                format!("corrupt value in the file: {e}"),
            ));
        }
        if !cfg.dry_run {
            let args = RestoreArgs {
                replace: cfg.replace,
                expire_ms,
                idle: if cfg.keys.lru { rec.idle } else { None },
                freq: if cfg.keys.lfu { rec.freq } else { None },
            };
            op.kind = match cfg.commands {
                Some(c)
                    if c.all || super::payload::payload_len(rec) as u64 > c.max_restore_bytes =>
                {
                    use super::commands::{target_loss, Loss, NO_ARRAYS, NO_XNACK};
                    let lossy = c.features.lossy;
                    match target_loss(rec, c.features) {
                        Ok(None) => {}
                        Ok(Some(Loss::Array)) if lossy => return Ok(Decision::Dropped),
                        Ok(Some(Loss::Nacks(n))) if lossy => self.nacks_dropped += n,
                        Ok(Some(Loss::Array)) => return Ok(Decision::Fail(op, NO_ARRAYS.into())),
                        Ok(Some(Loss::Nacks(_))) => return Ok(Decision::Fail(op, NO_XNACK.into())),
                        Err(e) => {
                            return Ok(Decision::Fail(
                                op,
                                format!("corrupt value in the file: {e}"),
                            ))
                        }
                    }
                    OpKind::Commands {
                        rec: rec.clone(),
                        args,
                        check: c.check,
                    }
                }
                _ => OpKind::Restore {
                    rec: rec.clone(),
                    args,
                },
            };
        }
        Ok(Decision::Send(op))
    }
}

/// What becomes of one record.
pub enum Decision<'a> {
    Send(Op<'a>),
    SkipExpired,
    SkipEmpty,
    /// `--lossy`: left out, the target cannot hold it (an array).
    Dropped,
    Fail(Op<'a>, String),
}

impl<'a> Worker<'a> for LoadWorker {
    type Out = Batch<'a>;
    type Error = SinkError;
    fn process(&mut self, chunk: &Chunk<'a>) -> std::result::Result<Batch<'a>, SinkError> {
        let mut b = Batch {
            bytes: chunk.end - chunk.start,
            end: chunk.end,
            ..Default::default()
        };
        let mut p = chunk.parser()?;
        while let Some(item) = p.next_item()? {
            if let Some(r) = &self.cfg.resume {
                // Settled by the interrupted run (keys and functions alike).
                let at = match &item {
                    Item::Key(rec) => rec.offset,
                    _ => p.offset(),
                };
                if at < r.acked && !r.to_send(at) {
                    continue;
                }
            }
            match item {
                Item::Key(rec) => {
                    // A damaged value is counted by the engine's policy
                    // (as the records the walk could not pass are).
                    match chunk.admit(&rec, &mut self.kscratch)? {
                        Admit::Damaged => continue,
                        Admit::Filtered => {
                            b.keys_read += 1;
                            b.filtered += 1;
                            continue;
                        }
                        Admit::Keep => b.keys_read += 1,
                    }
                    match self.op_for(&rec)? {
                        Decision::Send(op) => {
                            if let OpKind::Commands { rec, .. } = &op.kind {
                                b.as_commands += 1;
                                let all = self.cfg.commands.is_some_and(|c| c.all);
                                if !all && b.big.len() < BIG_NAMED {
                                    let len = super::payload::payload_len(rec) as u64;
                                    b.big.push((op.db, op.key.to_vec(), len));
                                }
                            }
                            b.ops.push(op)
                        }
                        Decision::SkipExpired => b.skipped_expired += 1,
                        Decision::SkipEmpty => b.skipped_empty += 1,
                        Decision::Dropped => b.dropped_lossy += 1,
                        Decision::Fail(op, why) => b.failed.push((op, why)),
                    }
                }
                Item::Function { raw, .. }
                | Item::FunctionPreGa(crate::rdb::records::FunctionPreGa { raw, .. })
                    if !self.cfg.dry_run =>
                {
                    b.ops.push(Op {
                        file: self.cfg.file,
                        offset: p.offset(),
                        db: 0,
                        key: Cow::Borrowed(b""),
                        slot: 0,
                        kind: match self.cfg.commands {
                            Some(c) if c.all => OpKind::FunctionLoad {
                                code: super::commands::function_code(&item)?,
                                replace: self.cfg.replace,
                            },
                            _ => OpKind::Function {
                                raw,
                                replace: self.cfg.replace,
                            },
                        },
                        ask: None,
                        attempts: 0,
                        retries: 0,
                        retry_since: None,
                        existed_before: None,
                    });
                }
                _ => {}
            }
        }
        b.nacks_dropped = self.take_nacks_dropped();
        Ok(b)
    }
}

/// Decodes a collection up to its first element: a value damaged before
/// it is an error here, and its key failed, rather than bytes sent in a
/// `RESTORE` payload (which no decoder of ours reads) or a `resp` stream.
/// Whether the value is empty is [`is_empty_collection`]'s answer, not
/// this walk's.
fn check_head(rec: &Record<'_>, scratch: &mut Scratch) -> Result<()> {
    if matches!(
        rec.vtype.kind(),
        Kind::String | Kind::Stream | Kind::Module | Kind::Array
    ) {
        return Ok(());
    }
    /// Stops the decode at the first element, which sets `.0`.
    struct First(bool);
    fn found(f: &mut First) -> Result<()> {
        f.0 = true;
        Err(Error::new(
            0,
            ErrorKind::Invalid {
                what: "value",
                detail: "stopped at the first element".into(),
            },
        ))
    }
    impl ValueVisitor for First {
        fn string(&mut self, _: Elem<'_>) -> Result<()> {
            found(self)
        }
        fn list_item(&mut self, _: Elem<'_>) -> Result<()> {
            found(self)
        }
        fn set_member(&mut self, _: Elem<'_>) -> Result<()> {
            found(self)
        }
        fn zset_member(&mut self, _: Elem<'_>, _: f64) -> Result<()> {
            found(self)
        }
        fn hash_field(&mut self, _: Elem<'_>, _: Elem<'_>, _: Option<i64>) -> Result<()> {
            found(self)
        }
        fn stream_entry(&mut self, _: StreamId, _: &[(Elem<'_>, Elem<'_>)]) -> Result<()> {
            found(self)
        }
        fn stream_meta(&mut self, _: &StreamMeta) -> Result<()> {
            found(self)
        }
        fn module(&mut self, _: &ModuleValue<'_>) -> Result<()> {
            found(self)
        }
        fn array_element(&mut self, _: u64, _: ArrayElem<'_>) -> Result<()> {
            found(self)
        }
    }
    let mut first = First(false);
    match rec.decode(scratch, &mut first) {
        _ if first.0 => Ok(()),
        r => r,
    }
}

/// Reads a JSON Lines file (what `rdbkit json` writes) in batches of about
/// 2 MB of lines and hands each batch of ops to `send`, in file order. Every
/// key is encoded as commands here (command mode), with the same decisions
/// as for records: target db, expired keys, empty collections, slot.
pub fn jsonl_batches<'a>(
    data: &'a [u8],
    cfg: &WorkerConfig,
    limits: super::commands::BatchLimits,
    features: super::commands::TargetFeatures,
    filter: Option<&crate::filter::Filter>,
    send: &mut dyn FnMut(Batch<'a>) -> std::result::Result<(), SinkError>,
) -> std::result::Result<(), SinkError> {
    if filter.is_some_and(|f| f.has_size_bounds()) {
        return Err(SinkError::Abort(
            "--min-bytes/--max-bytes need an RDB input (JSON Lines has no serialized size)".into(),
        ));
    }
    use super::jsonl::{emit_line, parse_line, Line};
    let check = cfg.commands.map(|c| c.check).unwrap_or(true);
    let mut pos = 0usize;
    // Line numbers for messages: a user edits JSON Lines by line, not offset.
    let mut lineno = 0u64;
    while pos < data.len() {
        let mut b = Batch::default();
        let chunk_start = pos;
        while pos < data.len() && pos - chunk_start < (2 << 20) {
            let end = data[pos..]
                .iter()
                .position(|&c| c == b'\n')
                .map(|i| pos + i)
                .unwrap_or(data.len());
            let line = &data[pos..end];
            let offset = pos as u64;
            pos = end + 1;
            lineno += 1;
            if line.iter().all(|c| c.is_ascii_whitespace()) {
                continue;
            }
            match parse_line(line, offset).map_err(|e| SinkError::Format(at_line(e, lineno)))? {
                Line::Other => {}
                Line::Function(code) => {
                    if !cfg.dry_run {
                        let kind = OpKind::FunctionLoad {
                            code,
                            replace: cfg.replace,
                        };
                        b.ops.push(Op {
                            file: cfg.file,
                            offset,
                            db: 0,
                            key: Cow::Borrowed(b""),
                            slot: 0,
                            kind,
                            ask: None,
                            attempts: 0,
                            retries: 0,
                            retry_since: None,
                            existed_before: None,
                        });
                    }
                }
                Line::Key {
                    db,
                    key,
                    kind,
                    expire_ms,
                    value,
                    field_expire,
                } => {
                    b.keys_read += 1;
                    if let Some(f) = filter {
                        if !f.matches_meta(db, kind, None, expire_ms) || !f.matches_key(&key) {
                            b.filtered += 1;
                            continue;
                        }
                    }
                    let db = cfg.target_db(db);
                    if cfg.cluster && db != 0 {
                        return Err(SinkError::Abort(format!(
                            "a key in db {db} cannot be loaded into a Redis Cluster, which has only db 0; map it with --db-map {db}=0 or --target-db 0"
                        )));
                    }
                    let mut expire_ms = expire_ms.map(|e| e.saturating_add(cfg.shift_ms));
                    if let Some(e) = expire_ms {
                        if e <= cfg.now_ms {
                            if !cfg.keys.keep_expired {
                                b.skipped_expired += 1;
                                continue;
                            }
                            expire_ms = None;
                        }
                    }
                    let empty = match (&kind, &value) {
                        (
                            Kind::List | Kind::Set | Kind::ZSet | Kind::Hash,
                            serde_json::Value::Array(a),
                        ) => a.is_empty(),
                        (Kind::Hash, serde_json::Value::Object(o)) => o.is_empty(),
                        _ => false,
                    };
                    if empty {
                        b.skipped_empty += 1;
                        continue;
                    }
                    // --lossy: what the target cannot hold is counted here;
                    // without it, the encoder refuses the key (NO_ARRAYS, NO_XNACK).
                    if features.lossy && kind == Kind::Array && !features.array {
                        b.dropped_lossy += 1;
                        continue;
                    }
                    if features.lossy && kind == Kind::Stream && !features.xnack && !cfg.dry_run {
                        b.nacks_dropped += super::jsonl::nacked_count(&value);
                    }
                    let slot = if cfg.cluster { key_slot(&key) } else { 0 };
                    let mut op = Op {
                        file: cfg.file,
                        offset,
                        db,
                        key: Cow::Owned(key),
                        slot,
                        kind: OpKind::Exists,
                        ask: None,
                        attempts: 0,
                        retries: 0,
                        retry_since: None,
                        existed_before: None,
                    };
                    if !cfg.dry_run {
                        let fe = field_expire.as_ref();
                        let mut cmds = Vec::new();
                        let r = super::commands::with_replace(
                            &mut cmds,
                            &op.key,
                            cfg.replace,
                            Default::default(),
                            |o, k, s| {
                                emit_line(
                                    o, k, kind, &value, fe, expire_ms, limits, features, offset, s,
                                )
                            },
                        );
                        let n = match r {
                            Ok(0) => {
                                b.skipped_expired += 1;
                                continue;
                            }
                            Ok(n) => n,
                            Err(e) => {
                                let why = format!(
                                    "{}line {lineno}: {}",
                                    super::commands::NOT_WRITABLE,
                                    e.kind
                                );
                                b.failed.push((op, why));
                                continue;
                            }
                        };
                        op.kind = OpKind::Encoded {
                            cmds,
                            n,
                            check: check && !cfg.replace,
                            replace: cfg.replace,
                        };
                        b.as_commands += 1;
                    }
                    b.ops.push(op);
                }
            }
        }
        b.bytes = (pos.min(data.len()) - chunk_start) as u64;
        send(b)?;
    }
    Ok(())
}

/// A JSON Lines error with the line number put in front of what it says.
fn at_line(e: crate::Error, lineno: u64) -> crate::Error {
    match e.kind {
        crate::ErrorKind::Invalid { what, detail } => {
            crate::Error::invalid(e.offset, what, format!("line {lineno}: {detail}"))
        }
        kind => crate::Error::new(e.offset, kind),
    }
}
