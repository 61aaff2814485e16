//! One pipelined connection per target node, as for `load`: a writer thread
//! sends each key's probes (building them first when a key comes back for
//! the decoded comparison), a reader thread reads the replies in order,
//! evaluates them and reports the verdict. Nothing waits for a round trip
//! per key.
//!
//! In flight per node: at most [`WINDOW`] keys and [`BUDGET_BYTES`] of
//! probes (commands plus expected values), whichever comes first. The
//! threads hand each other whole groups of keys (a flush's worth), and the
//! reader sends verdicts to the main thread in groups too: with millions of
//! small keys, a wake-up per key would cost more than the checking.
//! The thread loop, the writes and the reading of replies are
//! [`crate::redis::pipeline`]'s.

use std::sync::mpsc::{sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Condvar, Mutex};

use crate::rdb::value::Scratch;
use crate::redis::conn::Conn;
use crate::redis::pipeline::{self, Replies, Written, FLUSH_BYTES};
use crate::redis::resp::{self, Reply};

use super::eval::{Evaluator, Verdict};
use super::probe::{self, BuildCtx, BuildNotes, Built, Probes};
use super::{KeyCheck, Method, Msg, Outcome};

/// Keys awaiting replies on one connection.
pub const WINDOW: usize = 4096;
/// Bytes of probes in flight on one connection.
pub const BUDGET_BYTES: usize = 64 << 20;
/// Write when the buffer holds [`FLUSH_BYTES`], or this many keys.
const FLUSH_KEYS: usize = 512;

/// What a node needs to build and judge probes.
#[derive(Debug, Clone, Copy)]
pub struct NodeConfig {
    pub build: BuildCtx,
}

/// Keys and bytes in flight on one node; the writer waits while either is
/// at its limit, the reader gives back after each group of replies.
struct Budget {
    state: Mutex<(usize, usize, bool)>,
    freed: Condvar,
}

impl Budget {
    fn over(s: &(usize, usize, bool), bytes: usize) -> bool {
        s.0 > 0 && (s.0 >= WINDOW || s.1 + bytes > BUDGET_BYTES)
    }

    /// Would taking one more key of `bytes` wait?
    fn full(&self, bytes: usize) -> bool {
        Budget::over(&self.state.lock().unwrap_or_else(|e| e.into_inner()), bytes)
    }

    /// Takes one key of `bytes`, waiting while the budget is spent (a key
    /// bigger than the budget goes alone).
    fn take(&self, bytes: usize) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        while Budget::over(&s, bytes) {
            s.2 = true;
            s = self.freed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.0 += 1;
        s.1 += bytes;
    }

    fn give(&self, keys: usize, bytes: usize) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0 = s.0.saturating_sub(keys);
        s.1 = s.1.saturating_sub(bytes);
        if std::mem::take(&mut s.2) {
            self.freed.notify_all();
        }
    }
}

#[allow(clippy::large_enum_variant)] // keys are the common case; boxing them would cost an allocation each
enum Pending<'a> {
    /// `SELECT`: `+OK` expected.
    Select,
    /// A key, the number of replies its commands produce (ASKING included)
    /// and the bytes it holds of the budget.
    Key(KeyCheck<'a>, usize, usize),
}

/// Starts the writer and reader of a node within `s`.
pub fn spawn<'scope, 'env, 'a: 'scope>(
    s: &'scope std::thread::Scope<'scope, 'env>,
    conn: Conn,
    cfg: NodeConfig,
    to_main: Sender<Msg<'a>>,
) -> SyncSender<Vec<KeyCheck<'a>>> {
    let (tx, rx) = sync_channel::<Vec<KeyCheck<'a>>>(2);
    let (ptx, prx) = sync_channel::<Vec<Pending<'a>>>(2 * WINDOW / FLUSH_KEYS);
    let budget = Arc::new(Budget {
        state: Mutex::new((0, 0, false)),
        freed: Condvar::new(),
    });
    let addr: Arc<str> = conn.addr.as_str().into();
    let replies = Replies::new(conn.reader);
    let (to_main2, budget2, addr2) = (to_main.clone(), budget.clone(), addr.clone());
    s.spawn(move || read_loop(replies, prx, to_main2, budget2, cfg, addr2));
    let writer = Writer {
        wire: pipeline::Wire::new(conn.writer),
        buf: Vec::with_capacity(FLUSH_BYTES * 2),
        ptx,
        to_main,
        budget,
        cfg,
        addr,
        scratch: Scratch::default(),
        direct: Vec::new(),
    };
    s.spawn(move || pipeline::run_writer(writer, rx));
    tx
}

/// Builds the probes of a key that has none yet; `Err` is a verdict
/// reached without the target (too big, all fields expired, corrupt value).
pub fn ensure_probes(
    c: &mut KeyCheck<'_>,
    cfg: &NodeConfig,
    scratch: &mut Scratch,
) -> Result<(), Verdict> {
    if c.probes.is_some() {
        return Ok(());
    }
    let mut p = Box::<Probes>::default();
    let f = &cfg.build.features;
    match c.method {
        Method::Fast => probe::fast_probes(&mut p, &c.key, c.expire_ms, f),
        Method::Module if c.rec.vtype.kind() == crate::rdb::value::Kind::Array => {
            let t = probe::TypeName::Kind(crate::rdb::value::Kind::Array);
            probe::dump_probes(&mut p, &c.key, t, c.expire_ms, f);
        }
        Method::Module => {
            let name = probe::module_type_name(&c.rec, scratch)
                .map_err(|e| Verdict::Error(format!("corrupt value in the file: {e}")))?;
            probe::module_probes(&mut p, &c.key, &name, c.expire_ms, f);
        }
        Method::Decoded | Method::Paged => {
            let mut notes = BuildNotes::default();
            let r = probe::build(
                &mut p,
                &c.key,
                &c.rec,
                c.expire_ms,
                &cfg.build,
                scratch,
                None,
                &mut notes,
            );
            c.notes = notes;
            match r {
                Ok(Built::Ready) => {}
                Ok(Built::AllFieldsExpired) => return Err(Verdict::AllFieldsExpired),
                Ok(Built::TooBig | Built::Stopped) => return Err(Verdict::TooBig),
                Err(e) => return Err(Verdict::Error(format!("corrupt value in the file: {e}"))),
            }
        }
    }
    c.probes = Some(p);
    Ok(())
}

/// A node's writer thread: builds each key's probes if needed, buffers
/// them (with `SELECT` and `ASKING`) under the budget, and hands the reader
/// whole groups of keys.
struct Writer<'a> {
    wire: pipeline::Wire<Pending<'a>, String>,
    buf: Vec<u8>,
    ptx: SyncSender<Vec<Pending<'a>>>,
    to_main: Sender<Msg<'a>>,
    budget: Arc<Budget>,
    cfg: NodeConfig,
    addr: Arc<str>,
    scratch: Scratch,
    /// Verdicts reached without the target, sent after each batch.
    direct: Vec<Outcome<'a>>,
}

impl<'a> pipeline::Feeder for Writer<'a> {
    type Batch = Vec<KeyCheck<'a>>;

    fn has_staged(&self) -> bool {
        !self.wire.staged.is_empty()
    }

    /// Writes the buffer and hands the staged group to the reader; on a
    /// broken connection its keys fail with the reason instead.
    fn flush(&mut self) {
        let addr = &self.addr;
        let lost = |e: std::io::Error| format!("{addr}: write failed: {e}");
        let fail = match self.wire.write_out(&mut self.buf, lost) {
            Written::Sent => None,
            Written::Lost(b) | Written::Unsent(b) => Some(b),
        };
        if self.wire.staged.is_empty() {
            return;
        }
        let staged = std::mem::take(&mut self.wire.staged);
        match fail {
            // A stopped reader reports nothing more; the main thread then
            // sees the writer's channel closed.
            None => _ = self.ptx.send(staged),
            Some(err) => self.fail(staged, &err),
        }
    }

    fn feed(&mut self, batch: Vec<KeyCheck<'a>>) {
        for check in batch {
            self.key(check);
        }
        if !self.direct.is_empty() {
            let _ = self
                .to_main
                .send(Msg::Outcomes(std::mem::take(&mut self.direct)));
        }
    }

    fn finish(&mut self) {
        self.flush();
        self.wire.shutdown();
    }
}

impl<'a> Writer<'a> {
    /// Buffers one key's probes, or sets its verdict aside when it has
    /// one without the target.
    fn key(&mut self, mut check: KeyCheck<'a>) {
        if let Err(verdict) = ensure_probes(&mut check, &self.cfg, &mut self.scratch) {
            return self.direct.push(Outcome { check, verdict });
        }
        let p = check.probes.as_deref().expect("probes were just built");
        let mem = p.mem() + 256;
        if self.budget.full(mem) {
            // Hand over what is staged before waiting for replies.
            pipeline::Feeder::flush(self);
        }
        self.budget.take(mem);
        let buf = &mut self.buf;
        self.wire.select(buf, check.db, || Pending::Select);
        let replies = if check.ask.is_some() {
            // ASKING applies to the next command only.
            for i in 0..p.starts.len() {
                resp::command(buf, &[b"ASKING"]);
                buf.extend_from_slice(p.command(i));
            }
            2 * p.starts.len()
        } else {
            buf.extend_from_slice(&p.cmds);
            p.starts.len()
        };
        self.wire.staged.push(Pending::Key(check, replies, mem));
        if self.buf.len() >= FLUSH_BYTES || self.wire.staged.len() >= FLUSH_KEYS {
            pipeline::Feeder::flush(self);
        }
    }

    /// Fails the keys of a group that cannot go out, with `err`.
    fn fail(&mut self, staged: Vec<Pending<'a>>, err: &str) {
        let mut out = Vec::new();
        for p in staged {
            if let Pending::Key(mut check, _, mem) = p {
                self.budget.give(1, mem);
                check.probes = None;
                out.push(Outcome {
                    check,
                    verdict: Verdict::Error(err.to_string()),
                });
            }
        }
        let _ = self.to_main.send(Msg::Outcomes(out));
    }
}

fn read_loop<'a>(
    mut replies: Replies<String>,
    prx: Receiver<Vec<Pending<'a>>>,
    to_main: Sender<Msg<'a>>,
    budget: Arc<Budget>,
    cfg: NodeConfig,
    addr: Arc<str>,
) {
    let mut got: Vec<Reply> = Vec::new();
    let lost = |e: std::io::Error| format!("{addr}: connection lost: {e}");
    for group in prx.iter() {
        let mut out = Vec::with_capacity(group.len());
        let (mut keys, mut bytes) = (0, 0);
        for p in group {
            match p {
                Pending::Select => {
                    let mut refused = None;
                    let each = |r| {
                        if let Reply::Error(e) = r {
                            refused = Some(e);
                        }
                    };
                    if replies.read(1, each, lost).is_ok() {
                        if let Some(e) = refused {
                            // Keys after a failed SELECT would be read in
                            // the wrong db: nothing further here counts.
                            replies.refuse(format!("{addr}: SELECT failed: {e}"));
                        }
                    }
                }
                Pending::Key(mut check, n, mem) => {
                    got.clear();
                    let verdict = match replies.read(n, |r| got.push(r), lost) {
                        Err(e) => Verdict::Error(e),
                        Ok(()) => judge(&check, &mut got, &cfg),
                    };
                    keys += 1;
                    bytes += mem;
                    if !matches!(verdict, Verdict::Redirect(_)) {
                        check.probes = None;
                    }
                    out.push(Outcome { check, verdict });
                }
            }
        }
        budget.give(keys, bytes);
        if to_main.send(Msg::Outcomes(out)).is_err() {
            return;
        }
    }
}

/// The verdict on a key from its probes' replies (`ASKING`'s included).
fn judge(check: &KeyCheck<'_>, replies: &mut Vec<Reply>, cfg: &NodeConfig) -> Verdict {
    if check.ask.is_some() {
        // Drop the ASKING replies.
        let mut i = 0;
        replies.retain(|_| {
            i += 1;
            i % 2 == 0
        });
    }
    let p = check.probes.as_deref().expect("a sent key has probes");
    let mut ev = Evaluator::new(
        &check.rec,
        check.expire_ms,
        cfg.build.features.pexpiretime,
        cfg.build.tolerance_ms,
    );
    ev.feed(p, replies);
    ev.finish()
}
