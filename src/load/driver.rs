//! The main thread's event loop: it receives the readers' batches and the
//! nodes' outcomes and does all the accounting, so each key read lands in
//! exactly one bucket of the [`Summary`]. `on_batch` routes a batch,
//! `on_outcome` decides what an outcome means (with [`ledger`](super::ledger)
//! for the plain cases) and `on_tick` does what is due by time (back-offs,
//! silent nodes, slot map refreshes, checkpoints).

use std::collections::{BinaryHeap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::time::{Duration, Instant};

use super::checkpoint::{self, Tracker};
use super::ledger::{Books, Redirect};
use super::node::{Fate, Outcome};
use super::plan::Checkpointer;
use super::reports::ReportFile;
use super::retry::{after_lost_reply, defer, Delayed};
use super::router::{rediscover, Router};
use super::session::Session;
use super::{same, LoadError, LoadOptions, Msg, Summary};
use crate::redis::resp::Reply;
use crate::redis::{ClientError, ServerError};
use crate::restore::worker::Batch;
use crate::restore::{shown, InputError, InputFile, Op, OpKind};
use crate::sink::SinkError;

/// Notes a summary carries at most (keys sent as commands for their size).
const MAX_NOTES: usize = 20;

/// While this many ops wait out a back-off, no more of the file is read.
const MAX_DELAYED: usize = 200_000;

/// Redirects (`MOVED`, `ASK`) an op may follow before it fails.
const MAX_REDIRECTS: u32 = 16;

/// Redirected ops gathered before they are routed even while messages wait.
const RETRY_BATCH: usize = 1024;

/// Why a command-mode key fails after its connection was lost mid-write
/// (`panic`/`ignore`, which never overwrite).
const PARTIAL: &str = "the connection was lost while this key's commands were sent, and the target now holds the key, perhaps incomplete: load it again with --on-conflict rewrite";

/// What the run leaves behind: the counts, the checkpoint trackers, the
/// report files (committed by the caller) and the error that stopped it.
pub(super) struct Accounts {
    pub summary: Summary,
    pub trackers: Vec<Tracker>,
    pub conflicts_out: Option<ReportFile>,
    pub failed_out: Option<ReportFile>,
    pub fatal: Option<LoadError>,
}

/// What the driver reads and does not change.
pub(super) struct Inputs<'s, 'a> {
    pub opts: &'s LoadOptions,
    pub files: &'s [InputFile<'a>],
    /// Each file's payload version.
    pub versions: Vec<u32>,
    pub checkpointer: &'s Checkpointer<'s, 'a>,
    pub progress: Option<&'s (dyn Fn(&Summary) + Sync)>,
}

/// The event loop's state.
pub(super) struct Driver<'s, 'env, 'a> {
    inp: Inputs<'s, 'a>,
    session: Session,
    router: Router<'s, 'env, 'a>,
    from_nodes: Receiver<Msg<'a>>,
    /// Each file reader's token window (see [`feed`](super::feed)).
    tokens: Vec<SyncSender<()>>,
    stop: &'s AtomicBool,
    acc: Accounts,
    files_left: usize,
    /// Resumed ops the interrupted run had sent: a BUSYKEY may be its write.
    uncertain: HashSet<(usize, u64)>,
    /// Command-mode keys (panic/ignore) whose writing lost its connection:
    /// if the key is there when checked again, it may be incomplete.
    partial: HashSet<(usize, u64)>,
    /// Ops waiting out a back-off, with when they may go again.
    delayed: BinaryHeap<Delayed<'a>>,
    /// Ops to route again (redirected, re-checked, due), with their version.
    retry_q: Vec<(u32, Op<'a>)>,
    /// A connection was lost or refused: re-read the cluster slot map.
    refresh_due: bool,
    last_refresh: Instant,
    /// Scanners whose next batch waits until fewer ops are delayed.
    owed: Vec<usize>,
    stopped: bool,
    selected_dbs: Vec<u64>,
    last_progress: Instant,
    last_checkpoint: Instant,
}

/// What the loop does after looking for a message.
#[allow(clippy::large_enum_variant)]
enum Next<'a> {
    Msg(Msg<'a>),
    Again,
    End,
}

impl<'s, 'env, 'a: 's> Driver<'s, 'env, 'a> {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        inp: Inputs<'s, 'a>,
        session: Session,
        router: Router<'s, 'env, 'a>,
        from_nodes: Receiver<Msg<'a>>,
        tokens: Vec<SyncSender<()>>,
        stop: &'s AtomicBool,
        acc: Accounts,
    ) -> Self {
        let files_left = inp.files.len();
        Driver {
            inp,
            session,
            router,
            from_nodes,
            tokens,
            stop,
            acc,
            files_left,
            uncertain: HashSet::new(),
            partial: HashSet::new(),
            delayed: BinaryHeap::new(),
            retry_q: Vec::new(),
            refresh_due: false,
            last_refresh: Instant::now(),
            owed: Vec::new(),
            stopped: false,
            selected_dbs: Vec::new(),
            last_progress: Instant::now(),
            last_checkpoint: Instant::now(),
        }
    }

    /// Runs until every file is read and every op has its outcome.
    pub fn run(mut self) -> Accounts {
        while self.busy() {
            self.on_tick();
            let msg = match self.next_msg() {
                Next::Msg(m) => m,
                Next::Again => continue,
                Next::End => break,
            };
            match msg {
                Msg::Batch(i, batch) => self.on_batch(i, batch),
                Msg::FileDone(i, r) => self.on_file_done(i, r),
                Msg::Outcome(o) => self.on_outcome(o),
            }
            self.report_progress();
        }
        self.router.close();
        self.acc
    }

    fn busy(&self) -> bool {
        self.files_left > 0
            || self.router.outstanding > 0
            || !self.retry_q.is_empty()
            || !self.delayed.is_empty()
            || !self.router.unreachable.is_empty()
    }

    /// Stops reading and sending (an error, too many failures, a conflict
    /// under `panic`); the first error is the one reported.
    fn halt(&mut self, e: Option<LoadError>) {
        if let Some(e) = e {
            self.acc.fatal.get_or_insert(e);
        }
        self.stopped = true;
        self.stop.store(true, Ordering::Relaxed);
    }

    fn check_stop(&mut self) {
        if self.acc.summary.must_stop(self.inp.opts) && !self.stopped {
            self.halt(None);
        }
    }

    fn fail(&mut self, op: &Op<'_>, why: &str, version: u32) {
        let a = &mut self.acc;
        a.summary.fail(op, why, &mut a.failed_out, version);
    }

    /// Fails the ops the router could not place at all.
    fn fail_unplaced(&mut self) {
        for (version, op, why) in std::mem::take(&mut self.router.failed) {
            self.fail(&op, &why, version);
        }
    }

    /// See [`defer`]: after a back-off, or failed once `--retry-for` is spent.
    fn defer(&mut self, op: Op<'a>, why: &str, version: u32, sent: bool) {
        let a = &mut self.acc;
        let retry_for = self.inp.opts.retry_for;
        let (delayed, stopped) = (&mut self.delayed, self.stopped);
        let failed_out = &mut a.failed_out;
        defer(
            op,
            why,
            version,
            sent,
            delayed,
            &mut a.summary,
            failed_out,
            retry_for,
            stopped,
        );
    }

    fn route(&mut self, ops: Vec<Op<'a>>, version: u32) {
        self.router.route(ops, version);
        self.fail_unplaced();
    }

    fn flush_retries(&mut self) {
        self.router.flush(&mut self.retry_q);
        self.fail_unplaced();
    }

    /// Whether the readers may send more: few ops wait out a back-off (a
    /// target that is down must not make a whole file pile up in memory)
    /// and no node is congested.
    fn may_read(&self) -> bool {
        self.delayed.len() < MAX_DELAYED && !self.router.congested()
    }

    fn save_checkpoint(&mut self) {
        let a = &mut self.acc;
        a.summary.settle(&mut a.trackers);
        if let Err(e) = self.inp.checkpointer.save(&mut a.trackers, &a.summary) {
            self.halt(Some(e));
        }
        self.last_checkpoint = Instant::now();
    }

    fn report_progress(&mut self) {
        if let Some(p) = self.inp.progress {
            if self.last_progress.elapsed() > Duration::from_millis(100) {
                p(&self.acc.summary);
                self.last_progress = Instant::now();
            }
        }
    }

    /// Re-reads the cluster slot map; whether a node answered.
    fn refresh_topology(&mut self) -> bool {
        let target = &self.inp.opts.target;
        let s = &mut self.session;
        let known = self.router.topology.as_ref();
        let fresh = rediscover(&mut s.control, target, &s.connect, known);
        self.last_refresh = Instant::now();
        match fresh {
            Some(t) => {
                self.router.topology = Some(t);
                true
            }
            None => false,
        }
    }

    /// What is due by time or by the last message's effects: backlogs fed,
    /// readers let go on, back-offs started and ended, silent nodes
    /// reported, the slot map re-read, the checkpoint written.
    fn on_tick(&mut self) {
        let versions = &self.inp.versions;
        let dropped =
            self.router
                .feed_backlogs(self.stopped, |op| versions[op.file], &mut self.retry_q);
        self.acc.summary.not_attempted += dropped;
        if self.may_read() {
            for i in self.owed.drain(..) {
                let _ = self.tokens[i].send(());
            }
        }
        // Ops that found no connection wait out a back-off.
        for (version, op, why) in std::mem::take(&mut self.router.unreachable) {
            self.refresh_due |= self.router.topology.is_some();
            self.defer(op, &why, version, false);
        }
        self.check_stop();
        self.router.warn_silent();
        // A lost or refused connection in a cluster: a failover may have
        // moved the slots; re-read the map (at most twice a second).
        if self.refresh_due && self.last_refresh.elapsed() > Duration::from_millis(500) {
            self.refresh_due = !self.refresh_topology();
        }
        self.release_delayed();
        let every = Duration::from_millis(100);
        if self.inp.opts.checkpoint.is_some() && self.last_checkpoint.elapsed() > every {
            self.save_checkpoint();
        }
    }

    /// Ops whose back-off is over go out with the redirected ones; when
    /// stopping, none goes out again.
    fn release_delayed(&mut self) {
        if self.stopped {
            for d in std::mem::take(&mut self.delayed) {
                match &d.lost {
                    Some(why) => self.fail(&d.op, why, d.version),
                    None if d.op.is_key() => self.acc.summary.not_attempted += 1,
                    None => {}
                }
            }
            return;
        }
        let now = Instant::now();
        while self.delayed.peek().is_some_and(|d| d.due <= now) {
            if let Some(d) = self.delayed.pop() {
                self.retry_q.push((d.version, d.op));
            }
        }
    }

    /// The next message. Redirected ops go out in batches: when no message
    /// is waiting, or when many have gathered.
    fn next_msg(&mut self) -> Next<'a> {
        if let Ok(m) = self.from_nodes.try_recv() {
            if self.retry_q.len() >= RETRY_BATCH {
                self.flush_retries();
            }
            return Next::Msg(m);
        }
        self.flush_retries();
        if !self.router.unreachable.is_empty() || (!self.owed.is_empty() && self.may_read()) {
            return Next::Again;
        }
        if self.files_left == 0 && self.router.outstanding == 0 && self.delayed.is_empty() {
            return Next::End;
        }
        let r = match self.wake_at() {
            Some(due) => {
                let wait = due.saturating_duration_since(Instant::now());
                match self.from_nodes.recv_timeout(wait) {
                    Err(RecvTimeoutError::Timeout) => return Next::Again,
                    r => r.ok(),
                }
            }
            None => self.from_nodes.recv().ok(),
        };
        r.map_or(Next::End, Next::Msg)
    }

    /// When to wake without a message: for the first op whose back-off
    /// ends, soon when a busy node has batches waiting for it, and each
    /// second while ops are in flight (to notice a node that went silent).
    fn wake_at(&self) -> Option<Instant> {
        let mut due = self.delayed.peek().map(|d| d.due);
        if self.router.backlogged() {
            let soon = Instant::now() + Duration::from_millis(1);
            due = Some(due.map_or(soon, |d| d.min(soon)));
        }
        if self.router.in_flight() {
            let tick = Instant::now() + Duration::from_secs(1);
            due = Some(due.map_or(tick, |d| d.min(tick)));
        }
        due
    }

    fn on_file_done(&mut self, i: usize, r: Result<(), SinkError>) {
        self.files_left -= 1;
        match r {
            Ok(()) => {
                let t = &mut self.acc.trackers[i];
                t.complete = true;
                t.read_upto = u64::MAX;
            }
            Err(SinkError::Stopped) => {}
            Err(e) => self.halt(Some(
                InputError::new(&*self.inp.files[i].name, e.into()).into(),
            )),
        }
    }

    /// A batch of file `i`'s reader: accounted, routed, and its reader let
    /// go on (or owed a token until fewer ops wait).
    fn on_batch(&mut self, i: usize, mut batch: Batch<'a>) {
        let version = self.inp.versions[i];
        self.skip_resumed(i, &mut batch);
        let opts = self.inp.opts;
        if opts.checkpoint.is_some() && batch.end > self.acc.trackers[i].reserved {
            // Write-ahead: the checkpoint covers these records before any
            // of them can reach the target.
            self.acc.trackers[i].reserved = batch.end + checkpoint::RESERVE;
            self.save_checkpoint();
        }
        self.count_batch(i, &mut batch, version);
        if !self.stopped && self.router.topology.is_none() {
            self.select_dbs(&batch.ops);
        }
        if self.stopped {
            let keys = batch.ops.iter().filter(|o| o.is_key()).count() as u64;
            self.acc.summary.not_attempted += keys;
        } else {
            self.route(batch.ops, version);
        }
        if self.may_read() {
            let _ = self.tokens[i].send(());
        } else {
            self.owed.push(i);
        }
    }

    /// Resuming: records acknowledged in the interrupted run beyond its
    /// prefix are done; those it had in flight are re-checked on BUSYKEY.
    fn skip_resumed(&mut self, i: usize, batch: &mut Batch<'a>) {
        let Some(prev) = self.inp.opts.resume.as_ref().map(|c| &c.files[i]) else {
            return;
        };
        let t = &mut self.acc.trackers[i];
        let summary = &mut self.acc.summary;
        let uncertain = &mut self.uncertain;
        batch.ops.retain(|op| {
            if !prev.to_send(op.offset) {
                if op.is_key() {
                    summary.already_loaded += 1;
                }
                t.sent(op.offset);
                t.acked(op.offset);
                return false;
            }
            if op.offset < prev.sent {
                uncertain.insert((i, op.offset));
            }
            if op.is_key()
                && (prev.failed.contains(&op.offset) || prev.conflicted.contains(&op.offset))
            {
                summary.retried += 1;
            }
            true
        });
    }

    /// The batch's counts, its progress in the file, and its workers' failures.
    fn count_batch(&mut self, i: usize, batch: &mut Batch<'a>, version: u32) {
        let t = &mut self.acc.trackers[i];
        if self.inp.opts.checkpoint.is_some() {
            for op in &batch.ops {
                t.sent(op.offset);
            }
        }
        t.read_upto = t.read_upto.max(batch.end);
        t.sent = t.sent.max(batch.end);
        let s = &mut self.acc.summary;
        s.keys_read += batch.keys_read;
        s.skipped_expired += batch.skipped_expired;
        s.skipped_empty += batch.skipped_empty;
        s.filtered += batch.filtered;
        s.as_commands += batch.as_commands;
        for (db, key, len) in &batch.big {
            if s.notes.len() < MAX_NOTES {
                s.notes.push(format!(
                    "key {} in db {db} written as commands: its RESTORE payload of {len} bytes is over --max-restore-bytes {}",
                    shown(key),
                    self.inp.opts.max_restore_bytes
                ));
            }
        }
        s.dropped_lossy += batch.dropped_lossy;
        s.nacks_dropped += batch.nacks_dropped;
        s.bytes_read += batch.bytes;
        for (op, msg) in std::mem::take(&mut batch.failed) {
            self.fail(&op, &msg, version);
        }
    }

    /// Checks each new target db once (standalone), before keys are sent
    /// there: a db the server refuses stops the load.
    fn select_dbs(&mut self, ops: &[Op<'a>]) {
        for op in ops {
            if self.selected_dbs.contains(&op.db) {
                continue;
            }
            let db = op.db.to_string();
            match self.select(&db) {
                Ok(Reply::Error(e)) => {
                    self.halt(Some(LoadError::Client(ClientError::Refused {
                        addr: self.session.control.addr.clone(),
                        command: format!("SELECT {db}"),
                        source: ServerError::parse(&e),
                    })));
                    break;
                }
                Ok(_) => self.selected_dbs.push(op.db),
                // Unreachable now: the node writer's own SELECT will tell
                // once it connects.
                Err(_) => {}
            }
        }
    }

    /// `SELECT db` on the control connection, opened again if it is gone
    /// (a restarted target).
    fn select(&mut self, db: &str) -> Result<Reply, crate::redis::ClientError> {
        let s = &mut self.session;
        let r = s.control.call(&[b"SELECT", db.as_bytes()]);
        if r.is_ok() {
            return r;
        }
        let target = &self.inp.opts.target;
        match crate::redis::conn::Conn::open(&target.addr(), &target.auth, &s.connect) {
            Ok(c) => {
                s.control = c;
                s.control.call(&[b"SELECT", db.as_bytes()])
            }
            Err(_) => r,
        }
    }

    /// One op's outcome: lost connections and re-checks are handled here,
    /// the rest is accounted by the ledger.
    fn on_outcome(&mut self, o: Outcome<'a>) {
        self.router.outstanding -= 1;
        let version = self.inp.versions[o.op.file];
        self.router
            .heard(&o.node, version, o.gen, o.fate.is_reply());
        let o = match self.on_broken(o, version) {
            Some(o) => o,
            None => return,
        };
        if self.partly_there(&o, version) || self.busykey_recheck(&o, version) {
            return;
        }
        if let Some(o) = self.on_dump_check(o, version) {
            self.account(o, version);
        }
    }

    /// The connection broke before the reply came: forget the connection
    /// (the next send opens a new one), and send the op again after a
    /// back-off, re-checked where a second write could not be told from the
    /// first. `None` when handled.
    fn on_broken(&mut self, o: Outcome<'a>, version: u32) -> Option<Outcome<'a>> {
        match &o.fate {
            Fate::Unsent(e) => {
                let why = format!("{}: {e}", o.node);
                self.defer(o.op, &why, version, false);
            }
            Fate::Lost(e) => {
                let why = format!("{}: {e}", o.node);
                let retry = &mut self.retry_q;
                if self.router.drop_lost(&o.node, version, o.gen, retry) {
                    self.acc.summary.reconnects += 1;
                    self.refresh_due |= self.router.topology.is_some();
                }
                let mut op = o.op;
                op.existed_before = op.existed_before.or(o.existed);
                let op = after_lost_reply(op, &mut self.partial);
                self.defer(op, &why, version, true);
            }
            _ => return Some(o),
        }
        None
    }

    /// A command-mode key whose writing lost its connection and that is now
    /// in the target: perhaps only a part of it. Never counted as loaded,
    /// nor kept as "the target's own key". Whether it failed so.
    fn partly_there(&mut self, o: &Outcome<'a>, version: u32) -> bool {
        let (
            OpKind::Commands { check: true, .. } | OpKind::Encoded { check: true, .. },
            Fate::Reply(Reply::Int(n)),
        ) = (&o.op.kind, &o.fate)
        else {
            return false;
        };
        if self.partial.remove(&(o.op.file, o.op.offset)) && *n > 0 {
            self.fail(&o.op, PARTIAL, version);
            return true;
        }
        false
    }

    /// A key in flight when the checkpointed run stopped: a BUSYKEY may be
    /// our own earlier write. Compare (`DUMP`), don't guess. Whether so.
    fn busykey_recheck(&mut self, o: &Outcome<'a>, version: u32) -> bool {
        let (OpKind::Restore { rec, args }, Fate::Reply(Reply::Error(e))) = (&o.op.kind, &o.fate)
        else {
            return false;
        };
        if !matches!(ServerError::parse(e), ServerError::BusyKey(_))
            || !self.uncertain.remove(&(o.op.file, o.op.offset))
        {
            return false;
        }
        let mut op = o.op.clone();
        op.kind = OpKind::DumpCheck {
            rec: rec.clone(),
            args: *args,
        };
        self.retry_q.push((version, op));
        true
    }

    /// The `DUMP` of a re-checked key: ours (loaded, or a rewrite of
    /// another key), not there (written now), or another value (a conflict
    /// under the policy, returned for the ledger). `None` when handled.
    fn on_dump_check(&mut self, mut o: Outcome<'a>, version: u32) -> Option<Outcome<'a>> {
        let (OpKind::DumpCheck { rec, args }, Fate::Reply(Reply::Bulk(b))) = (&o.op.kind, &o.fate)
        else {
            return Some(o);
        };
        // The same bytes, or the same value re-encoded by the target (a
        // hashtable set's own order).
        let valkey = self.session.target_valkey;
        let same = b.as_ref().is_some_and(|p| {
            (p.len() >= 10 && p[0] == rec.type_byte && &p[1..p.len() - 10] == rec.value)
                || same::same_value(rec, p, valkey)
        });
        let (fi, off) = (o.op.file, o.op.offset);
        let tracking = self.inp.opts.checkpoint.is_some();
        if same {
            if o.op.existed_before == Some(true) {
                // A rewrite whose first probe found another key there: ours
                // replaced it.
                let a = &mut self.acc;
                let file = &self.inp.files[fi].name;
                a.summary
                    .conflict(&o.op, "rewritten", file, &mut a.conflicts_out);
            } else {
                let s = &mut self.acc.summary;
                s.loaded += 1;
                if o.op.retry_since.is_some() {
                    s.rechecked_identical += 1;
                } else {
                    s.resumed_identical += 1;
                }
            }
            if tracking {
                self.acc.trackers[fi].acked(off);
            }
            return None;
        }
        let restore = OpKind::Restore {
            rec: rec.clone(),
            args: *args,
        };
        if b.is_none() || args.replace {
            // Not there (the earlier write never ran), or a rewrite: write it now.
            let mut op = o.op;
            op.kind = restore;
            self.retry_q.push((version, op));
            return None;
        }
        // Another value: a conflict under the policy.
        o.op.kind = restore;
        o.fate = Fate::Reply(Reply::Error("BUSYKEY Target key name already exists with another value (compared decoded, not only as bytes)".into()));
        Some(o)
    }

    /// The ledger's verdict on an outcome: counted (and acknowledged in the
    /// checkpoint when its result is known), or sent again.
    fn account(&mut self, o: Outcome<'a>, version: u32) {
        let (fi, off) = (o.op.file, o.op.offset);
        // Only a known outcome is acknowledged: an op that was not sent, or
        // whose reply was lost with the connection, stays pending in the
        // checkpoint, so a resume sends it again.
        let not_sent = matches!(
            &o.fate,
            Fate::Stopped
                | Fate::Unsent(_)
                | Fate::Lost(_)
                | Fate::Unreplicated(_)
                | Fate::Refused(_)
        );
        let a = &mut self.acc;
        let mut books = Books {
            opts: self.inp.opts,
            conflicts_out: &mut a.conflicts_out,
            failed_out: &mut a.failed_out,
            files: self.inp.files,
            server_version: &self.session.server_version,
        };
        let retry = a.summary.record(o, &mut books, version);
        let tracking = self.inp.opts.checkpoint.is_some();
        if tracking && retry.is_none() && !not_sent && !a.summary.marked(fi, off) {
            a.trackers[fi].acked(off);
        }
        match retry {
            // A transient refusal: after a back-off.
            Some((op, Redirect::Retry(why))) => self.defer(op, &why, version, false),
            Some((op, redirect)) => self.redirect(op, redirect, version),
            None => {}
        }
        self.check_stop();
    }

    /// Sends an op again where the reply said (`MOVED`, `ASK`) or as its
    /// next step; it fails after [`MAX_REDIRECTS`].
    fn redirect(&mut self, mut op: Op<'a>, redirect: Redirect, version: u32) {
        if !matches!(redirect, Redirect::Proceed) {
            op.attempts += 1;
        }
        if op.attempts > MAX_REDIRECTS {
            self.fail(&op, "too many redirects", version);
            return;
        }
        match redirect {
            Redirect::Moved(slot, addr) => {
                op.ask = None;
                // Take the new owner from the reply; re-read the whole map
                // at most once a second.
                if let (Some(t), Some(slot), Some(addr)) =
                    (self.router.topology.as_mut(), slot, addr)
                {
                    t.set_owner(slot, addr);
                }
                if self.last_refresh.elapsed() > Duration::from_secs(1) {
                    self.refresh_topology();
                }
                self.acc.summary.redirects += 1;
            }
            Redirect::Ask(addr) => {
                op.ask = Some(addr);
                self.acc.summary.redirects += 1;
            }
            // Deferred by the caller, never here.
            Redirect::Proceed | Redirect::Retry(_) => {}
        }
        self.retry_q.push((version, op));
    }
}
