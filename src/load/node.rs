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
//! that many commands await replies.

use std::io::{BufReader, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, Sender, SyncSender};

use super::commands::{BatchLimits, TargetFeatures};
use super::conn::{Conn, ReadHalf, WriteHalf};
use super::op::{EncodeCtx, Op, OpKind};
use super::resp::{self, Reply};
use super::Msg;

/// Commands awaiting a reply on one connection.
pub const WINDOW: usize = 4096;
/// Write when the buffer holds this much.
const FLUSH_BYTES: usize = 256 << 10;

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
}

/// The `reply` error of an op that was never sent because the load stopped.
pub const NOT_SENT: &str = "not sent: the load stopped";
/// The `reply` error of an op with nothing left to write (all fields expired).
pub const NOTHING_LEFT: &str = "nothing left to write: every hash field has expired";
/// Prefix of the `reply` error of an op that cannot be encoded as commands.
pub const NOT_WRITABLE: &str = "cannot be written with commands: ";

/// What a node writer needs to encode ops.
#[derive(Debug, Clone, Copy)]
pub struct NodeConfig {
    pub rdb_version: u32,
    pub limits: BatchLimits,
    pub features: TargetFeatures,
}

/// The result of one operation, sent to the main thread.
pub struct Outcome<'a> {
    pub op: Op<'a>,
    pub node: std::sync::Arc<str>,
    /// The reply, or the I/O error that left the reply unknown.
    pub reply: Result<Reply, String>,
    /// For `RESTORE ... REPLACE`: whether the key existed just before.
    pub existed: Option<bool>,
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
    let reader = conn.reader;
    let stream = conn.writer;
    let to_main2 = to_main.clone();
    let addr2 = addr.clone();
    s.spawn(move || read_loop(reader, prx, to_main2, addr2));
    s.spawn(move || write_loop(stream, rx, ptx, to_main, addr, cfg, stop));
    tx
}

fn write_loop<'a>(
    mut stream: WriteHalf,
    rx: Receiver<NodeMsg<'a>>,
    ptx: SyncSender<Pending<'a>>,
    to_main: Sender<Msg<'a>>,
    addr: std::sync::Arc<str>,
    cfg: NodeConfig,
    stop: &AtomicBool,
) {
    let mut ctx = EncodeCtx {
        limits: cfg.limits,
        features: cfg.features,
        scratch: Default::default(),
    };
    let mut buf: Vec<u8> = Vec::with_capacity(FLUSH_BYTES * 2);
    let mut db = 0u64;
    let mut broken: Option<String> = None;
    // Ops whose command is in `buf` but not yet on the wire.
    let mut staged: Vec<Pending<'a>> = Vec::new();
    let flush = |stream: &mut WriteHalf,
                 buf: &mut Vec<u8>,
                 staged: &mut Vec<Pending<'a>>,
                 broken: &mut Option<String>| {
        if broken.is_none() && !buf.is_empty() {
            if let Err(e) = stream.write_all(buf) {
                *broken = Some(format!("write failed: {e}"));
            }
        }
        buf.clear();
        for p in staged.drain(..) {
            if let Some(err) = broken.as_ref() {
                if let Pending::Op(op, _) = p {
                    let _ = to_main.send(Msg::Outcome(Outcome {
                        op,
                        node: addr.clone(),
                        reply: Err(err.clone()),
                        existed: None,
                    }));
                }
            } else if ptx.send(p).is_err() {
                // The reader died; it reports what it had.
            }
        }
    };
    loop {
        // Block for the next batch only when nothing is staged.
        let msg = if staged.is_empty() {
            match rx.recv() {
                Ok(m) => m,
                Err(_) => break,
            }
        } else {
            match rx.try_recv() {
                Ok(m) => m,
                Err(_) => {
                    flush(&mut stream, &mut buf, &mut staged, &mut broken);
                    continue;
                }
            }
        };
        let NodeMsg::Batch(ops) = msg;
        for op in ops {
            // After a stop (conflict under `panic`, too many errors) nothing
            // further is sent; the op goes back as not attempted.
            if stop.load(Ordering::Relaxed) {
                let _ = to_main.send(Msg::Outcome(Outcome {
                    op,
                    node: addr.clone(),
                    reply: Err(NOT_SENT.to_string()),
                    existed: None,
                }));
                continue;
            }
            if op.db != db {
                resp::command(
                    &mut buf,
                    &[b"SELECT", itoa::Buffer::new().format(op.db).as_bytes()],
                );
                staged.push(Pending::Control("SELECT"));
                db = op.db;
            }
            let (mark, staged_mark) = (buf.len(), staged.len());
            // The probe goes first: ASKING applies to the next command only.
            let replace = match &op.kind {
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
            };
            {
                if replace {
                    resp::command(&mut buf, &[b"EXISTS", &op.key]);
                    staged.push(Pending::Probe);
                }
            }
            if op.ask.is_some() {
                resp::command(&mut buf, &[b"ASKING"]);
                staged.push(Pending::Control("ASKING"));
            }
            match op.encode(&mut buf, cfg.rdb_version, &mut ctx) {
                Ok(0) => {
                    // Nothing to write (a hash whose fields have all expired).
                    buf.truncate(mark);
                    staged.truncate(staged_mark);
                    let _ = to_main.send(Msg::Outcome(Outcome {
                        op,
                        node: addr.clone(),
                        reply: Err(NOTHING_LEFT.to_string()),
                        existed: None,
                    }));
                }
                Ok(n) => staged.push(Pending::Op(op, n)),
                Err(e) => {
                    // Cannot be written as commands (e.g. field TTLs the target
                    // lacks): fails here, nothing was sent for it.
                    // Take back the probe/ASKING written just for this op.
                    buf.truncate(mark);
                    staged.truncate(staged_mark);
                    let _ = to_main.send(Msg::Outcome(Outcome {
                        op,
                        node: addr.clone(),
                        reply: Err(format!("{NOT_WRITABLE}{}", e.kind)),
                        existed: None,
                    }));
                }
            }
            // Hand staged entries to the reader in window-sized steps, so
            // the in-flight queue (not this buffer) bounds memory.
            if buf.len() >= FLUSH_BYTES || staged.len() >= WINDOW / 2 {
                flush(&mut stream, &mut buf, &mut staged, &mut broken);
            }
        }
    }
    flush(&mut stream, &mut buf, &mut staged, &mut broken);
    stream.shutdown_write();
}

fn read_loop<'a>(
    mut reader: BufReader<ReadHalf>,
    prx: Receiver<Pending<'a>>,
    to_main: Sender<Msg<'a>>,
    addr: std::sync::Arc<str>,
) {
    let mut broken: Option<String> = None;
    let mut existed = None;
    for p in prx.iter() {
        let replies = match &p {
            Pending::Op(_, n) => *n,
            _ => 1,
        };
        let reply = match &broken {
            Some(e) => Err(e.clone()),
            None => read_replies(&mut reader, replies).map_err(|e| {
                let msg = format!("connection lost, reply unknown: {e}");
                broken = Some(msg.clone());
                msg
            }),
        };
        match p {
            Pending::Probe => existed = reply.ok().and_then(|r| r.as_int()).map(|n| n > 0),
            Pending::Op(op, _) => {
                let existed = existed.take();
                if to_main
                    .send(Msg::Outcome(Outcome {
                        op,
                        node: addr.clone(),
                        reply,
                        existed,
                    }))
                    .is_err()
                {
                    return;
                }
            }
            Pending::Control(what) => {
                if let Ok(Reply::Error(e)) = reply {
                    // A failed SELECT would send the following keys to the
                    // wrong db: treat the connection as broken from here.
                    broken = Some(format!("{what} failed: {e}"));
                }
            }
        }
    }
}

/// Reads the `n` replies of one op's commands and returns the one that
/// decides its fate: the first error (also inside an `EXEC` result), else
/// the last reply.
fn read_replies(reader: &mut BufReader<ReadHalf>, n: usize) -> std::io::Result<Reply> {
    let mut decisive: Option<Reply> = None;
    let mut last = Reply::Status("OK".into());
    for _ in 0..n.max(1) {
        let r = resp::read_reply(reader)?;
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
    }
    Ok(decisive.unwrap_or(last))
}

/// Whether an op kind expects `+OK`.
pub fn expects_ok(k: &OpKind<'_>) -> bool {
    !matches!(k, OpKind::Exists)
}
