//! One pipelined connection to one server: a writer thread encodes commands
//! into a buffer and writes it whenever it is full or no more work is
//! queued; a reader thread reads replies in order and pairs each with the
//! operation that caused it. Nothing waits for a round trip per key.
//!
//! ```text
//! main ──batches──▶ writer ──bytes──▶ socket ──replies──▶ reader ──outcomes──▶ main
//!                      └──── in-flight queue (bounded) ────┘
//! ```
//!
//! The bounded in-flight queue is the pipeline window: the writer stops when
//! that many commands await replies. The thread loop, the writes and the
//! reading of replies are [`crate::redis::pipeline`]'s; what is here is
//! what a load sends (probes, `WAIT`, streamed keys and their undoing) and
//! what its replies mean.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, Sender, SyncSender};

use super::Msg;
use crate::redis::conn::{self, Conn};
use crate::redis::pipeline::{self, Replies, Written, FLUSH_BYTES};
use crate::redis::resp::{self, Reply};
use crate::restore::commands::{BatchLimits, Spill, TargetFeatures};
use crate::restore::op::{EncodeCtx, Op, OpKind};

/// Commands awaiting a reply on one connection.
pub const WINDOW: usize = 4096;

/// What the writer tells the reader to expect.
#[allow(clippy::large_enum_variant)] // ops are the common case; boxing them would cost an allocation each
enum Pending<'a> {
    /// A reply to an internal command (SELECT, ASKING): `+OK` expected.
    Control(&'static str),
    /// `EXISTS` sent just before a `RESTORE ... REPLACE` of the same key, so
    /// that a rewrite of an existing key can be reported as a conflict.
    Probe,
    /// An op and how many replies its commands produce.
    Op(Op<'a>, usize),
    /// An op that failed after part of it was sent: its replies are read
    /// and dropped, and it is reported with this error.
    Failed(Op<'a>, usize, Fate),
    /// `WAIT n timeout` after a flush (`--wait-replicas`): the outcomes of
    /// the ops before it are held until it says how many replicas have them.
    Wait(u32),
}

/// What [`Fate::Stopped`] says.
pub const NOT_SENT: &str = "not sent: the load stopped";
/// What [`Fate::NothingLeft`] says.
pub const NOTHING_LEFT: &str = "nothing left to write: every hash field has expired";
/// What [`Fate::NotWritable`] says before its reason.
pub use crate::restore::commands::NOT_WRITABLE;
/// How every [`Fate::Lost`] text begins.
pub const LOST: &str = "connection lost";
/// How every [`Fate::Unsent`] text begins.
pub const UNSENT: &str = "not sent, the connection was lost";
/// How every [`Fate::Unreplicated`] text begins.
pub const UNREPLICATED: &str = "written, but not confirmed by enough replicas";

/// What became of an op on its node: the server's reply, or why there is
/// none. The main thread decides on the variant (see `ledger`); the text
/// of a variant is what the user reads (summary, failed-keys report).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// The decisive reply of the op's commands (an error reply included).
    Reply(Reply),
    /// Never sent: the load was stopping (conflict under `panic`, too many
    /// errors). Counts as not attempted.
    Stopped,
    /// Nothing left to write: every hash field had expired.
    NothingLeft,
    /// Cannot be written as commands (the reason); nothing of it stays on
    /// the target.
    NotWritable(String),
    /// Never written: its connection had broken before (the text says
    /// why). Sent again as it is.
    Unsent(String),
    /// Written, perhaps in part, but the connection broke before the reply
    /// was read: it may or may not have run. The main thread reconnects and
    /// re-checks it (see `load::after_lost_reply`).
    Lost(String),
    /// The master took it, but fewer replicas than `--wait-replicas`
    /// confirmed it in time.
    Unreplicated(String),
    /// The connection could not be used for it (a `SELECT` failed, so the
    /// key would have gone to the wrong db).
    Refused(String),
}

impl Fate {
    /// Whether the op came back with a reply from the server.
    pub fn is_reply(&self) -> bool {
        matches!(self, Fate::Reply(_))
    }
}

impl std::fmt::Display for Fate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fate::Reply(r) => write!(f, "{r:?}"),
            Fate::Stopped => f.write_str(NOT_SENT),
            Fate::NothingLeft => f.write_str(NOTHING_LEFT),
            Fate::NotWritable(why) => write!(f, "{NOT_WRITABLE}{why}"),
            Fate::Unsent(t) | Fate::Lost(t) | Fate::Unreplicated(t) | Fate::Refused(t) => {
                f.write_str(t)
            }
        }
    }
}

/// What a node writer needs to encode ops.
#[derive(Debug, Clone, Copy)]
pub struct NodeConfig {
    pub rdb_version: u32,
    /// Which connection to this node this is (they are replaced when lost).
    pub gen: u64,
    /// `--wait-replicas N` and its timeout in ms: a `WAIT` follows every
    /// flush, and an op counts as done only once N replicas have it.
    pub wait: Option<(u32, u64)>,
    pub limits: BatchLimits,
    pub features: TargetFeatures,
}

/// The result of one operation, sent to the main thread.
pub struct Outcome<'a> {
    pub op: Op<'a>,
    pub node: std::sync::Arc<str>,
    /// The reply, or why there is none.
    pub fate: Fate,
    /// For `RESTORE ... REPLACE`: whether the key existed just before.
    pub existed: Option<bool>,
    /// The connection's generation (`NodeConfig::gen`).
    pub gen: u64,
}

/// Messages to a node's writer.
pub enum NodeMsg<'a> {
    Batch(Vec<Op<'a>>),
}

/// Starts the writer and reader threads of a node within `scope`.
pub fn spawn<'scope, 'env, 'a: 'scope>(
    s: &'scope std::thread::Scope<'scope, 'env>,
    conn: Conn,
    cfg: NodeConfig,
    to_main: Sender<Msg<'a>>,
    stop: &'scope AtomicBool,
) -> SyncSender<NodeMsg<'a>> {
    let (tx, rx) = sync_channel::<NodeMsg<'a>>(2);
    let (ptx, prx) = sync_channel::<Pending<'a>>(WINDOW);
    let addr: std::sync::Arc<str> = conn.addr.as_str().into();
    let reader = Replies::new(conn.reader);
    let to_main2 = to_main.clone();
    let addr2 = addr.clone();
    let gen = cfg.gen;
    let replicas = cfg.wait.map(|_| std::sync::Arc::new(WaitState::default()));
    let replicas2 = replicas.clone();
    s.spawn(move || read_loop(reader, prx, to_main2, addr2, gen, replicas2));
    let w = Wire {
        pipe: pipeline::Wire::new(conn.writer),
        ptx,
        to_main,
        addr,
        gen: cfg.gen,
        wait: cfg.wait,
        unwaited: false,
        last_wait: std::time::Instant::now(),
        replicas,
        short_since: None,
    };
    let writer = Writer {
        w,
        buf: Vec::with_capacity(FLUSH_BYTES * 2),
        ctx: EncodeCtx {
            limits: cfg.limits,
            features: cfg.features,
            scratch: Default::default(),
        },
        rdb_version: cfg.rdb_version,
        stop,
    };
    s.spawn(move || pipeline::run_writer(writer, rx));
    tx
}

/// `--wait-replicas`: what the reader tells the writer of the WAITs.
#[derive(Default)]
struct WaitState {
    /// Set while a `WAIT` is unanswered: no second one is sent meanwhile
    /// (each may block the connection for the WAIT timeout), except the
    /// one before idling.
    in_flight: AtomicBool,
    /// Set when a `WAIT` came back short (replicas missing): for a second
    /// from then, ops are handed back unsent (to be retried after a
    /// back-off) instead of piling up behind WAITs that each block for the
    /// WAIT timeout.
    short: AtomicBool,
}

impl WaitState {
    fn in_flight(s: &Option<std::sync::Arc<WaitState>>) -> bool {
        s.as_ref()
            .is_some_and(|s| s.in_flight.load(Ordering::Acquire))
    }
}

/// The writing end of a node connection: the shared pipeline half (socket,
/// staged entries, broken state), and how to report.
struct Wire<'a> {
    pipe: pipeline::Wire<Pending<'a>, Fate>,
    ptx: SyncSender<Pending<'a>>,
    to_main: Sender<Msg<'a>>,
    addr: std::sync::Arc<str>,
    gen: u64,
    wait: Option<(u32, u64)>,
    /// Ops written since the last `WAIT`, and when that was.
    unwaited: bool,
    last_wait: std::time::Instant,
    /// Shared with the reader (with `--wait-replicas`).
    replicas: Option<std::sync::Arc<WaitState>>,
    /// Since when ops are handed back after a short `WAIT`.
    short_since: Option<std::time::Instant>,
}

/// With `--wait-replicas`, a `WAIT` goes out at most this often while the
/// writer is busy (each one stalls the connection for a round trip to the
/// replicas), and always before the writer idles.
const WAIT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

impl<'a> Wire<'a> {
    /// Writes `buf` and hands the staged entries to the reader (or, on a
    /// broken connection, fails their ops with the write error).
    fn flush(&mut self, buf: &mut Vec<u8>) {
        self.flush_with(buf, Some(false))
    }

    /// `flush`, with a `WAIT` after the ops when `--wait-replicas` is set:
    /// `Some(force)` allows one (when due, or always with `force`), `None`
    /// not (in the middle of a key being streamed).
    fn flush_with(&mut self, buf: &mut Vec<u8>, wait: Option<bool>) {
        if let Some(force) = wait {
            self.stage_wait(buf, force);
        }
        let lost =
            |e: std::io::Error| Fate::Lost(format!("{LOST} while writing, reply unknown: {e}"));
        let fail = match self.pipe.write_out(buf, lost) {
            Written::Sent => None,
            Written::Lost(b) => Some(b),
            // Broken before this write: none of the buffer went out.
            Written::Unsent(b) => Some(Fate::Unsent(format!("{UNSENT} before ({b})"))),
        };
        for p in self.pipe.staged.drain(..) {
            if let Some(err) = &fail {
                if let Pending::Op(op, _) | Pending::Failed(op, _, _) = p {
                    let _ = self.to_main.send(Msg::Outcome(Outcome {
                        op,
                        node: self.addr.clone(),
                        fate: err.clone(),
                        existed: None,
                        gen: self.gen,
                    }));
                }
            } else if self.ptx.send(p).is_err() {
                // The reader died; it reports what it had.
            }
        }
    }

    /// With `--wait-replicas`, buffers a `WAIT` after the staged ops when
    /// one is due (or always with `force`) and none is in flight.
    fn stage_wait(&mut self, buf: &mut Vec<u8>, force: bool) {
        let Some((n, ms)) = self.wait else { return };
        if self
            .pipe
            .staged
            .iter()
            .any(|p| matches!(p, Pending::Op(..) | Pending::Failed(..)))
        {
            self.unwaited = true;
        }
        let busy = WaitState::in_flight(&self.replicas);
        if self.pipe.broken().is_none()
            && self.unwaited
            && (force || (!busy && self.last_wait.elapsed() >= WAIT_EVERY))
        {
            self.unwaited = false;
            if let Some(w) = &self.replicas {
                w.in_flight.store(true, Ordering::Release);
            }
            self.last_wait = std::time::Instant::now();
            resp::command(
                buf,
                &[
                    b"WAIT",
                    itoa::Buffer::new().format(n).as_bytes(),
                    itoa::Buffer::new().format(ms).as_bytes(),
                ],
            );
            self.pipe.staged.push(Pending::Wait(n));
        }
    }

    fn report(&self, op: Op<'a>, fate: Fate) {
        let _ = self.to_main.send(Msg::Outcome(Outcome {
            op,
            node: self.addr.clone(),
            fate,
            existed: None,
            gen: self.gen,
        }));
    }

    /// After a short `WAIT`, ops are handed back unsent for a second; then
    /// the next `WAIT` tells whether the replicas are back.
    fn replicas_short(&mut self) -> bool {
        if !self
            .replicas
            .as_ref()
            .is_some_and(|s| s.short.load(Ordering::Acquire))
        {
            return false;
        }
        let since = *self.short_since.get_or_insert_with(std::time::Instant::now);
        if since.elapsed() < std::time::Duration::from_secs(1) {
            return true;
        }
        if let Some(s) = &self.replicas {
            s.short.store(false, Ordering::Release);
        }
        self.short_since = None;
        false
    }
}

/// Puts a huge command-mode key on the wire while it is encoded: after each
/// complete command, a full buffer is written (with the entries staged
/// before the key, whose commands precede it). `sent` counts the key's
/// commands already written, which the writer must account for if the key
/// then fails.
struct Streaming<'w, 'a> {
    wire: &'w mut Wire<'a>,
    sent: usize,
}

impl Streaming<'_, '_> {
    /// Writes a full buffer; a broken connection stops the encoding.
    fn spill(&mut self, out: &mut Vec<u8>) -> crate::Result<bool> {
        if out.len() < FLUSH_BYTES {
            return Ok(false);
        }
        self.wire.flush_with(out, None);
        if let Some(b) = self.wire.pipe.broken() {
            return Err(crate::Error::invalid(0, "connection", b.to_string()));
        }
        Ok(true)
    }
}

impl Spill for Streaming<'_, '_> {
    fn after_command(&mut self, out: &mut Vec<u8>, count: usize) -> crate::Result<()> {
        if self.spill(out)? {
            self.sent = count;
        }
        Ok(())
    }

    /// Part of one long command goes out: a RESTORE payload or a long
    /// string is written as it is encoded, never held whole.
    fn mid_command(&mut self, out: &mut Vec<u8>) -> crate::Result<()> {
        self.spill(out).map(|_| ())
    }
}

/// A node's writer thread: encodes each op of a batch into the buffer
/// (with the `SELECT`, `ASKING` and `EXISTS` it needs) and stages what the
/// reader must expect of it.
struct Writer<'a, 's> {
    w: Wire<'a>,
    buf: Vec<u8>,
    ctx: EncodeCtx,
    rdb_version: u32,
    stop: &'s AtomicBool,
}

impl<'a> pipeline::Feeder for Writer<'a, '_> {
    type Batch = NodeMsg<'a>;

    fn has_staged(&self) -> bool {
        !self.w.pipe.staged.is_empty()
    }

    fn flush(&mut self) {
        self.w.flush(&mut self.buf)
    }

    fn idle(&mut self) -> Option<std::time::Duration> {
        if self.w.unwaited && WaitState::in_flight(&self.w.replicas) {
            // Ops await a WAIT, and one is in flight: look again soon (a
            // second WAIT would only queue behind the first).
            return Some(std::time::Duration::from_millis(5));
        }
        if self.w.unwaited {
            // Idle from here: confirm what was written.
            self.w.flush_with(&mut self.buf, Some(true));
        }
        None
    }

    fn feed(&mut self, NodeMsg::Batch(ops): NodeMsg<'a>) {
        for op in ops {
            self.op(op);
        }
    }

    fn finish(&mut self) {
        self.w.flush_with(&mut self.buf, Some(true));
        self.w.pipe.shutdown();
    }
}

impl<'a> Writer<'a, '_> {
    /// Encodes one op, or reports at once why it is not sent.
    fn op(&mut self, op: Op<'a>) {
        // After a stop (conflict under `panic`, too many errors) nothing
        // further is sent; the op goes back as not attempted.
        if self.stop.load(Ordering::Relaxed) {
            return self.w.report(op, Fate::Stopped);
        }
        if self.w.replicas_short() {
            let why = format!("{UNSENT}: replicas did not confirm earlier writes");
            return self.w.report(op, Fate::Unsent(why));
        }
        let (w, buf) = (&mut self.w, &mut self.buf);
        w.pipe.select(buf, op.db, || Pending::Control("SELECT"));
        let mark = (buf.len(), w.pipe.staged.len());
        let replace = replaces(&op.kind);
        if replace {
            // The probe goes first, with its own ASKING if redirected.
            if op.ask.is_some() {
                resp::command(buf, &[b"ASKING"]);
                w.pipe.staged.push(Pending::Control("ASKING"));
            }
            resp::command(buf, &[b"EXISTS", &op.key]);
            w.pipe.staged.push(Pending::Probe);
        }
        // A key that cannot be written as commands is refused before any
        // of it is sent (it could only show once streaming had begun).
        if let Some(why) = unwritable(&op.kind, &mut self.ctx) {
            self.take_back(mark);
            return self.w.report(op, Fate::NotWritable(why));
        }
        if self.encode(op, replace, mark) {
            // Hand staged entries to the reader in window-sized steps, so
            // the in-flight queue (not this buffer) bounds memory.
            if self.buf.len() >= FLUSH_BYTES || self.w.pipe.staged.len() >= WINDOW / 2 {
                self.w.flush(&mut self.buf);
            }
        }
    }

    /// Drops what was buffered and staged for an op since `mark`.
    fn take_back(&mut self, (buf, staged): (usize, usize)) {
        self.buf.truncate(buf);
        self.w.pipe.staged.truncate(staged);
    }

    /// Encodes the op's commands and stages it (or reports it). Returns
    /// false when the connection broke while the key was streamed.
    fn encode(&mut self, op: Op<'a>, replace: bool, mark: (usize, usize)) -> bool {
        let mut st = Streaming {
            wire: &mut self.w,
            sent: 0,
        };
        let r = op.encode(
            &mut self.buf,
            self.rdb_version,
            &mut self.ctx,
            Some(&mut st),
        );
        let sent = st.sent;
        match r {
            Ok(0) => {
                // Nothing to write (a hash whose fields have all expired).
                self.take_back(mark);
                self.w.report(op, Fate::NothingLeft);
            }
            Ok(n) => self.w.pipe.staged.push(Pending::Op(op, n)),
            Err(_) if self.w.pipe.broken().is_some() => {
                // The connection broke while the key was streamed: part
                // of it may be on the target.
                self.buf.clear();
                let b = self.w.pipe.broken().cloned();
                self.w.report(op, b.unwrap_or(Fate::Lost(LOST.into())));
                return false;
            }
            Err(e) if sent == 0 => {
                // Cannot be written as commands (e.g. a corrupt value):
                // fails here, nothing was sent for it. Take back the
                // probe/ASKING written just for this op.
                self.take_back(mark);
                self.w.report(op, Fate::NotWritable(e.kind.to_string()));
            }
            Err(e) => self.undo(op, replace, sent, e.kind.to_string()),
        }
        true
    }

    /// Part of the key is on the wire. Whatever of it is left in the buffer
    /// is dropped, and a DEL of the name being written undoes the part
    /// sent: the target is as before (under `rewrite` that name is the
    /// temporary key).
    fn undo(&mut self, op: Op<'a>, replace: bool, sent: usize, kind: String) {
        let buf = &mut self.buf;
        buf.clear();
        let name = if replace && op.ask.is_none() {
            crate::restore::commands::temp_key(&op.key)
        } else {
            op.key.to_vec()
        };
        let mut n = sent + 1;
        if op.ask.is_some() {
            resp::command(buf, &[b"ASKING"]);
            n += 1;
        }
        resp::command(buf, &[b"DEL", &name]);
        let why = format!("{kind} (the {sent} commands already sent were undone with DEL)");
        self.w
            .pipe
            .staged
            .push(Pending::Failed(op, n, Fate::NotWritable(why)));
    }
}

/// Whether an op is written with `REPLACE` (and so gets an `EXISTS`
/// probe first, to tell a rewrite of an existing key).
fn replaces(kind: &OpKind<'_>) -> bool {
    match kind {
        OpKind::Restore { args, .. }
        | OpKind::Commands {
            args, check: false, ..
        } => args.replace,
        OpKind::Encoded {
            replace,
            check: false,
            ..
        } => *replace,
        _ => false,
    }
}

/// Why a command-mode key cannot be written to this target, if it cannot.
fn unwritable(kind: &OpKind<'_>, ctx: &mut EncodeCtx) -> Option<String> {
    let OpKind::Commands {
        rec, check: false, ..
    } = kind
    else {
        return None;
    };
    match crate::restore::commands::unwritable(rec, ctx.features, &mut ctx.scratch) {
        Ok(false) => None,
        Ok(true) => Some(UNWRITABLE_TTL.to_string()),
        Err(e) => Some(e.kind.to_string()),
    }
}

/// Why a hash with field TTLs is refused by a target without them.
const UNWRITABLE_TTL: &str = "the hash has field TTLs, which the target does not support (use --lossy to load it without them)";

fn read_loop<'a>(
    mut replies: Replies<Fate>,
    prx: Receiver<Pending<'a>>,
    to_main: Sender<Msg<'a>>,
    addr: std::sync::Arc<str>,
    gen: u64,
    replicas: Option<std::sync::Arc<WaitState>>,
) {
    let wait = replicas.is_some();
    let mut existed = None;
    // With `--wait-replicas`: outcomes held until the next WAIT's reply.
    let mut held: Vec<Outcome<'a>> = Vec::new();
    let send = |o: Outcome<'a>, held: &mut Vec<Outcome<'a>>| -> bool {
        if wait {
            held.push(o);
            true
        } else {
            to_main.send(Msg::Outcome(o)).is_ok()
        }
    };
    // Releases held outcomes; a successful write whose replication is not
    // confirmed gets `unconfirmed` as its fate instead.
    let release = |held: &mut Vec<Outcome<'a>>, unconfirmed: Option<&Fate>| -> bool {
        for mut o in held.drain(..) {
            if let (Some(why), Fate::Reply(r)) = (unconfirmed, &o.fate) {
                if !matches!(r, Reply::Error(_)) {
                    o.fate = why.clone();
                }
            }
            if to_main.send(Msg::Outcome(o)).is_err() {
                return false;
            }
        }
        true
    };
    for p in prx.iter() {
        let n = match &p {
            Pending::Op(_, n) | Pending::Failed(_, n, _) => *n,
            _ => 1,
        };
        let reply = read_decisive(&mut replies, n);
        match p {
            Pending::Probe => existed = reply.ok().and_then(|r| r.as_int()).map(|n| n > 0),
            Pending::Failed(op, _, why) => {
                existed = None;
                let fate = match reply {
                    Err(e) => e,
                    Ok(_) => why,
                };
                let o = Outcome {
                    op,
                    node: addr.clone(),
                    fate,
                    existed: None,
                    gen,
                };
                if !send(o, &mut held) {
                    return;
                }
            }
            Pending::Op(op, _) => {
                let existed = existed.take();
                let o = Outcome {
                    op,
                    node: addr.clone(),
                    fate: reply.map_or_else(|e| e, Fate::Reply),
                    existed,
                    gen,
                };
                if !send(o, &mut held) {
                    return;
                }
            }
            Pending::Wait(needed) => {
                let unconfirmed = wait_reply(reply, needed, replicas.as_deref());
                if !release(&mut held, unconfirmed.as_ref()) {
                    return;
                }
            }
            Pending::Control(what) => {
                if let Ok(Reply::Error(e)) = reply {
                    // A failed SELECT would send the following keys to the
                    // wrong db: treat the connection as broken from here.
                    replies.refuse(Fate::Refused(format!("{what} failed: {e}")));
                }
            }
        }
    }
    // Outcomes no WAIT confirmed (the connection broke first).
    let why = replies
        .broken()
        .map(|b| Fate::Lost(format!("{LOST}, replication unknown: {b}")));
    release(&mut held, why.as_ref());
}

/// What a `WAIT`'s reply means for the ops before it: `None` when enough
/// replicas have them, else the fate of those that succeeded. A short one
/// makes the writer hand ops back for a while.
fn wait_reply(reply: Result<Reply, Fate>, needed: u32, state: Option<&WaitState>) -> Option<Fate> {
    if let Some(w) = state {
        w.in_flight.store(false, Ordering::Release);
    }
    let unconfirmed = match reply {
        Ok(Reply::Int(k)) if k >= needed as i64 => None,
        Ok(Reply::Int(k)) => Some(Fate::Unreplicated(format!(
            "{UNREPLICATED}: {k} of {needed} replica(s) within the WAIT timeout"
        ))),
        Ok(other) => Some(Fate::Unreplicated(format!(
            "{UNREPLICATED}: WAIT answered {other:?}"
        ))),
        // The connection broke: whether the replicas (or a
        // promoted one) have these writes is unknown.
        Err(e) => Some(e),
    };
    if let (Some(s), Some(Fate::Unreplicated(_))) = (state, &unconfirmed) {
        s.short.store(true, Ordering::Release);
    }
    unconfirmed
}

/// Reads the `n` replies of one op's commands and returns the one that
/// decides its fate: the first error (also inside an `EXEC` result), else
/// the last reply. Replies are judged as they are parsed, not kept.
fn read_decisive(replies: &mut Replies<Fate>, n: usize) -> Result<Reply, Fate> {
    let mut decisive: Option<Reply> = None;
    let mut last = Reply::Status("OK".into());
    let each = |r: Reply| {
        if decisive.is_none() {
            match &r {
                Reply::Error(_) => decisive = Some(r.clone()),
                Reply::Array(Some(items)) => {
                    if let Some(e) = items.iter().find(|i| matches!(i, Reply::Error(_))) {
                        decisive = Some(e.clone());
                    }
                }
                _ => {}
            }
        }
        last = r;
    };
    let lost =
        |e: std::io::Error| Fate::Lost(format!("{LOST}, reply unknown: {}", conn::describe_io(&e)));
    replies.read(n.max(1), each, lost)?;
    Ok(decisive.unwrap_or(last))
}

/// Whether an op kind expects `+OK`.
pub fn expects_ok(k: &OpKind<'_>) -> bool {
    !matches!(k, OpKind::Exists)
}
