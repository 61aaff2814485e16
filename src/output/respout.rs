//! `rdbkit resp`: the RESTORE command stream for a file, for
//! `redis-cli --pipe`. Same decisions as `load` (expired and empty keys are
//! skipped, db mapping, REPLACE under `rewrite`), produced on the parallel
//! engine; `SELECT` is written whenever the target db changes, in file order.
//!
//! Memory stays flat whatever a key's size: a key whose commands would
//! take more than [`HUGE_KEY_BYTES`] is not built by a worker but handed
//! on, and the thread writing the output encodes it there, in order,
//! writing as it goes through a [`Spill`] — the mechanism the loader's node
//! writer uses to put huge keys on the wire. A RESTORE payload goes out as
//! the file's value bytes with the CRC-64 computed on the way; command mode
//! writes complete commands as they are built.

use std::io::Write;

use crate::scan::{self, Admit, Chunk, EngineOptions, Progress, Worker};
use crate::sink::SinkError;

use crate::rdb::records::{parse_header, FunctionPreGa, Item, Record};
use crate::rdb::value::{Kind, Scratch};
use crate::redis::resp;
use crate::restore::commands::{emit_key, string_len, BatchLimits, Sink, Spill, TargetFeatures};
use crate::restore::op::{Op, OpKind};
use crate::restore::payload::{payload_len, write_restore, write_restore_spilling};
use crate::restore::worker::{Decision, LoadWorker, WorkerConfig};

/// Keys whose commands would take more than this many bytes are written
/// by the output thread as they are encoded, instead of built whole.
pub const HUGE_KEY_BYTES: usize = 8 << 20;

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
    /// `--lossy`: keys left out (arrays for a target without them).
    pub dropped_lossy: u64,
    /// `--lossy`: NACKed stream entries left out (target without XNACK).
    pub nacks_dropped: u64,
    pub errors: Vec<String>,
}

impl RespSummary {
    /// Adds `o`'s counts (not its errors).
    fn add_counts(&mut self, o: &RespSummary) {
        self.keys_read += o.keys_read;
        self.written += o.written;
        self.skipped_expired += o.skipped_expired;
        self.skipped_empty += o.skipped_empty;
        self.filtered += o.filtered;
        self.failed += o.failed;
        self.functions += o.functions;
        self.dropped_lossy += o.dropped_lossy;
        self.nacks_dropped += o.nacks_dropped;
    }
}

/// A chunk's output, in file order.
enum Piece<'a> {
    /// Commands of keys and functions of one target db.
    Bytes { db: u64, bytes: Vec<u8> },
    /// A key too big to build in memory, for the output thread; `errors`:
    /// how many of the chunk's error messages come before it.
    Huge { op: Box<Op<'a>>, errors: usize },
}

/// Builds a chunk's pieces; `db` is that of the last thing written.
#[derive(Default)]
struct Pieces<'a> {
    done: Vec<Piece<'a>>,
    db: Option<u64>,
    bytes: Vec<u8>,
}

impl<'a> Pieces<'a> {
    /// Where bytes for `db` go (a new piece when the db changes).
    fn bytes_for(&mut self, db: u64) -> &mut Vec<u8> {
        if self.db != Some(db) {
            self.cut();
            self.db = Some(db);
        }
        &mut self.bytes
    }

    fn cut(&mut self) {
        if let (false, Some(db)) = (self.bytes.is_empty(), self.db) {
            let bytes = std::mem::take(&mut self.bytes);
            self.done.push(Piece::Bytes { db, bytes });
        }
    }

    fn huge(&mut self, op: Op<'a>, errors: usize) {
        self.cut();
        self.db = Some(op.db);
        self.done.push(Piece::Huge {
            op: Box::new(op),
            errors,
        });
    }

    fn finish(mut self) -> Vec<Piece<'a>> {
        self.cut();
        self.done
    }
}

#[derive(Default)]
struct Out<'a> {
    pieces: Vec<Piece<'a>>,
    sum: RespSummary,
}

/// How keys are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `RESTORE` with the file's own payload.
    Restore,
    /// Ordinary commands ([`commands`](crate::restore::commands)), for targets that
    /// cannot read the snapshot's RDB version.
    Commands {
        limits: BatchLimits,
        features: TargetFeatures,
    },
}

/// What became of one key.
enum Fate {
    Written,
    /// Left out under `--lossy` (an array for a target without arrays).
    Dropped,
    /// Nothing left to write (every hash field expired).
    Expired,
    Huge,
    Failed(crate::Error),
}

/// How keys are encoded, shared by the workers and the output thread.
struct Enc {
    version: u32,
    replace: bool,
    mode: Mode,
    scratch: Scratch,
}

impl Enc {
    /// A key's commands (command mode; 0 in RESTORE mode).
    fn commands(
        &mut self,
        buf: &mut Vec<u8>,
        op: &Op<'_>,
        rec: &Record<'_>,
        expire_ms: Option<i64>,
        spill: Option<&mut dyn Spill>,
    ) -> crate::Result<usize> {
        let Mode::Commands { limits, features } = self.mode else {
            return Ok(0);
        };
        emit_key(
            buf,
            &op.key,
            rec,
            expire_ms,
            self.replace,
            limits,
            features,
            &mut self.scratch,
            Sink {
                asking: false,
                spill,
            },
        )
    }
}

struct RespWorker {
    inner: LoadWorker,
    enc: Enc,
    huge: usize,
    kscratch: Vec<u8>,
    buf: Vec<u8>,
}

impl RespWorker {
    /// Encodes one key into `pieces`, unless it is huge.
    fn key(&mut self, op: &Op<'_>, pieces: &mut Pieces<'_>, sum: &mut RespSummary) -> Fate {
        let (rec, args) = match &op.kind {
            OpKind::Restore { rec, args } | OpKind::Commands { rec, args, .. } => (rec, args),
            _ => return Fate::Expired,
        };
        if let Mode::Commands { features, .. } = self.enc.mode {
            // What an older target cannot hold: left out under --lossy
            // (counted), else refused by the encoder with the key named.
            use crate::restore::commands::{target_loss, Loss};
            match target_loss(rec, features) {
                Ok(Some(Loss::Array)) if features.lossy => return Fate::Dropped,
                Ok(Some(Loss::Nacks(n))) if features.lossy => sum.nacks_dropped += n,
                _ => {}
            }
        }
        if self.enc.mode == Mode::Restore {
            if payload_len(rec) > self.huge {
                return Fate::Huge;
            }
            write_restore(
                pieces.bytes_for(op.db),
                &op.key,
                rec,
                self.enc.version,
                args,
            );
            return Fate::Written;
        }
        // A string's size is known up front; anything else is encoded
        // until it outgrows the limit.
        let string = rec.vtype.kind() == Kind::String;
        if string_len(rec).is_some_and(|n| n > self.huge as u64) {
            return Fate::Huge;
        }
        self.buf.clear();
        let mut cap = Cap {
            limit: self.huge,
            hit: false,
        };
        let spill = (!string).then_some(&mut cap as &mut dyn Spill);
        let r = self
            .enc
            .commands(&mut self.buf, op, rec, args.expire_ms, spill);
        match r {
            Err(_) if cap.hit => Fate::Huge,
            Err(e) => Fate::Failed(e),
            Ok(0) => Fate::Expired,
            Ok(_) if self.buf.len() > self.huge => Fate::Huge,
            Ok(_) => {
                pieces.bytes_for(op.db).extend_from_slice(&self.buf);
                Fate::Written
            }
        }
    }
}

/// Stops a worker's encoding of a key that outgrows `limit` bytes.
struct Cap {
    limit: usize,
    hit: bool,
}

impl Spill for Cap {
    fn after_command(&mut self, out: &mut Vec<u8>, _: usize) -> crate::Result<()> {
        self.mid_command(out)
    }

    fn mid_command(&mut self, out: &mut Vec<u8>) -> crate::Result<()> {
        if out.len() > self.limit {
            self.hit = true;
            return Err(crate::Error::invalid(
                0,
                "key",
                "huge: written by the output thread",
            ));
        }
        Ok(())
    }
}

fn key_error(op: &Op<'_>, why: impl std::fmt::Display) -> String {
    format!(
        "db {} key {}: {why}",
        op.db,
        crate::restore::printable(&op.key)
    )
}

impl<'a> Worker<'a> for RespWorker {
    type Out = Out<'a>;
    type Error = SinkError;
    fn process(&mut self, chunk: &Chunk<'a>) -> Result<Out<'a>, SinkError> {
        let mut sum = RespSummary::default();
        let mut pieces = Pieces::default();
        let mut p = chunk.parser()?;
        while let Some(item) = p.next_item()? {
            match item {
                Item::Key(rec) => {
                    // A damaged value is counted by the engine's policy.
                    match chunk.admit(&rec, &mut self.kscratch)? {
                        Admit::Damaged => continue,
                        Admit::Filtered => {
                            sum.keys_read += 1;
                            sum.filtered += 1;
                            continue;
                        }
                        Admit::Keep => sum.keys_read += 1,
                    }
                    match self.inner.op_for(&rec)? {
                        Decision::Send(op) => match self.key(&op, &mut pieces, &mut sum) {
                            Fate::Written => sum.written += 1,
                            Fate::Dropped => sum.dropped_lossy += 1,
                            Fate::Expired => sum.skipped_expired += 1,
                            Fate::Huge => pieces.huge(op, sum.errors.len()),
                            Fate::Failed(e) => {
                                sum.failed += 1;
                                sum.errors.push(key_error(&op, e));
                            }
                        },
                        Decision::SkipExpired => sum.skipped_expired += 1,
                        Decision::SkipEmpty => sum.skipped_empty += 1,
                        Decision::Dropped => sum.dropped_lossy += 1,
                        Decision::Fail(op, why) => {
                            sum.failed += 1;
                            sum.errors.push(key_error(&op, why));
                        }
                    }
                }
                Item::Function { .. } | Item::FunctionPreGa(_) => {
                    sum.functions += 1;
                    self.function(&item, &mut pieces)?;
                }
                _ => {}
            }
        }
        Ok(Out {
            pieces: pieces.finish(),
            sum,
        })
    }
}

impl RespWorker {
    /// A function library, in the db of what came before it in the chunk.
    fn function(&mut self, item: &Item<'_>, pieces: &mut Pieces<'_>) -> Result<(), SinkError> {
        let (v, r) = (self.enc.version, self.enc.replace);
        let db = pieces.db.unwrap_or(0);
        match (self.enc.mode, item) {
            (
                Mode::Restore,
                Item::Function { raw, .. } | Item::FunctionPreGa(FunctionPreGa { raw, .. }),
            ) => crate::restore::payload::write_function_restore(pieces.bytes_for(db), raw, v, r),
            (Mode::Commands { .. }, _) => {
                let code = crate::restore::commands::function_code(item)?;
                crate::restore::commands::function_load(pieces.bytes_for(db), &code, r)
            }
            _ => {}
        }
        Ok(())
    }
}

/// Writes full blocks of a huge key to the output as they are encoded.
struct ToOutput<'w> {
    w: &'w mut dyn Write,
    /// Write when this much is buffered.
    block: usize,
    /// Some of the key is written: it can no longer be taken back.
    spilled: bool,
    io: Option<std::io::Error>,
}

impl Spill for ToOutput<'_> {
    fn after_command(&mut self, out: &mut Vec<u8>, _: usize) -> crate::Result<()> {
        self.mid_command(out)
    }

    fn mid_command(&mut self, out: &mut Vec<u8>) -> crate::Result<()> {
        if out.len() < self.block {
            return Ok(());
        }
        if let Err(e) = self.w.write_all(out) {
            self.io = Some(e);
            // Replaced by the I/O error when it reaches the writer.
            return Err(crate::Error::invalid(0, "output", "write failed"));
        }
        out.clear();
        self.spilled = true;
        Ok(())
    }
}

/// Discards a key's commands as they are built: a dry run of a huge key,
/// which finds an error before any of the key is written.
struct Discard;

impl Spill for Discard {
    fn after_command(&mut self, out: &mut Vec<u8>, _: usize) -> crate::Result<()> {
        out.clear();
        Ok(())
    }

    fn mid_command(&mut self, out: &mut Vec<u8>) -> crate::Result<()> {
        out.clear();
        Ok(())
    }
}

/// The output thread: pieces in file order, `SELECT`s, huge keys.
struct Writer<'w> {
    w: &'w mut dyn Write,
    enc: Enc,
    huge: usize,
    db: u64,
    sum: RespSummary,
    buf: Vec<u8>,
}

impl Writer<'_> {
    /// Appends `SELECT db` to `buf` when the db changes.
    fn select(&mut self, db: u64) {
        if db != self.db {
            resp::command(
                &mut self.buf,
                &[b"SELECT", itoa::Buffer::new().format(db).as_bytes()],
            );
        }
    }

    fn chunk(&mut self, out: Out<'_>) -> Result<(), SinkError> {
        let Out { pieces, mut sum } = out;
        let mut errors = std::mem::take(&mut sum.errors).into_iter();
        let mut taken = 0;
        for piece in pieces {
            match piece {
                Piece::Bytes { db, bytes } => {
                    self.buf.clear();
                    self.select(db);
                    self.db = db;
                    self.w.write_all(&self.buf)?;
                    self.w.write_all(&bytes)?;
                }
                Piece::Huge { op, errors: at } => {
                    self.sum.errors.extend(errors.by_ref().take(at - taken));
                    taken = at;
                    self.huge_key(&op)?;
                }
            }
        }
        self.sum.errors.extend(errors);
        self.sum.add_counts(&sum);
        Ok(())
    }

    /// Writes a huge key as it is encoded. Command mode first encodes it
    /// once into nothing, so that a key that fails (a corrupt value) fails
    /// before any of it is written, as a key built whole does.
    fn huge_key(&mut self, op: &Op<'_>) -> Result<(), SinkError> {
        let (rec, args) = match &op.kind {
            OpKind::Restore { rec, args } | OpKind::Commands { rec, args, .. } => (rec, args),
            _ => return Ok(()),
        };
        if let Mode::Commands { .. } = self.enc.mode {
            // A long string checks itself before its first block is written.
            if rec.vtype.kind() != Kind::String {
                self.buf.clear();
                let r =
                    (self.enc).commands(&mut self.buf, op, rec, args.expire_ms, Some(&mut Discard));
                match r {
                    Ok(0) => return self.not_written(op, None),
                    Err(e) => return self.not_written(op, Some(e)),
                    Ok(_) => {}
                }
            }
        }
        self.buf.clear();
        self.select(op.db);
        let mut to = ToOutput {
            w: &mut *self.w,
            block: self.huge.clamp(1, crate::restore::commands::LONG_BLOCK),
            spilled: false,
            io: None,
        };
        let buf = &mut self.buf;
        let r = match self.enc.mode {
            Mode::Restore => {
                write_restore_spilling(buf, &op.key, rec, self.enc.version, args, &mut to)
                    .map(|_| 1)
            }
            Mode::Commands { .. } => {
                (self.enc).commands(buf, op, rec, args.expire_ms, Some(&mut to))
            }
        };
        if let Some(e) = to.io.take() {
            return Err(SinkError::Io(e));
        }
        let spilled = to.spilled;
        match r {
            Ok(n) if n > 0 => {
                self.w.write_all(&self.buf)?;
                self.db = op.db;
                self.sum.written += 1;
                Ok(())
            }
            Ok(_) if !spilled => self.not_written(op, None),
            Err(e) if !spilled => self.not_written(op, Some(e)),
            // Cannot happen after the dry run; never leave it unsaid.
            Ok(_) | Err(_) => Err(SinkError::Format(crate::Error::invalid(
                rec.offset,
                "key",
                "failed after part of its commands were written",
            ))),
        }
    }

    /// A huge key with nothing written: all fields expired, or failed.
    fn not_written(&mut self, op: &Op<'_>, e: Option<crate::Error>) -> Result<(), SinkError> {
        self.buf.clear();
        match e {
            None => self.sum.skipped_expired += 1,
            Some(e) => {
                self.sum.failed += 1;
                self.sum.errors.push(key_error(op, e));
            }
        }
        Ok(())
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
    write_resp_with(data, cfg, mode, engine, HUGE_KEY_BYTES, w, progress)
}

/// [`write_resp`], with keys whose commands would take more than `huge`
/// bytes written as they are encoded, in writes of about `huge` bytes (at
/// most 1 MiB). The output is the same whatever `huge` is; tests pass 0 to
/// take every key down the streaming path.
pub fn write_resp_with<W: Write>(
    data: &[u8],
    cfg: &WorkerConfig,
    mode: Mode,
    engine: &EngineOptions,
    huge: usize,
    w: &mut W,
    progress: Option<Progress<'_>>,
) -> Result<RespSummary, SinkError> {
    let version = parse_header(data)?.version;
    let enc = || Enc {
        version,
        replace: cfg.replace,
        mode,
        scratch: Scratch::default(),
    };
    let mut writer = Writer {
        w,
        enc: enc(),
        huge,
        db: 0,
        sum: RespSummary::default(),
        buf: Vec::new(),
    };
    scan::run(
        data,
        engine,
        || RespWorker {
            kscratch: Vec::new(),
            inner: LoadWorker::new(cfg.clone()),
            enc: enc(),
            huge,
            buf: Vec::new(),
        },
        |out: Out, _| writer.chunk(out),
        progress,
    )?;
    Ok(writer.sum)
}
