//! The main thread's event loop of `verify`: it receives the readers'
//! batches of checks and the nodes' verdicts and does all the accounting.
//! `on_batch` routes a batch's checks (huge keys to the paged checker),
//! `on_outcomes` counts verdicts (with [`ledger`](super::ledger)) and sends
//! again what must go again (redirects, decoded comparisons, paged checks).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SendError, Sender, SyncSender};
use std::time::{Duration, Instant};

use super::eval::RedirectKind;
use super::ledger::{account, Next};
use super::node::{self, NodeConfig};
use super::session::Session;
use super::worker::{FastStats, VBatch};
use super::{KeyCheck, Msg, Outcome, Summary, VerifyError, VerifyOptions};
use crate::outpath::AtomicFile;
use crate::redis::cluster::{self, Topology};
use crate::redis::conn::Conn;
use crate::restore::{printable, InputError, InputFile};
use crate::sink::SinkError;

/// Redirected checks gathered before they are routed even while messages wait.
const RETRY_BATCH: usize = 1024;

/// What the run leaves behind.
pub(super) struct Ended {
    pub summary: Summary,
    pub diff_out: Option<AtomicFile>,
    pub fatal: Option<VerifyError>,
}

/// What the driver reads and does not change, and where it reports.
pub(super) struct Inputs<'s, 'a> {
    pub opts: &'s VerifyOptions,
    pub files: &'s [InputFile<'a>],
    pub node_cfg: NodeConfig,
    pub fast: &'s FastStats,
    pub stop: &'s AtomicBool,
    pub progress: Option<&'s (dyn Fn(&Summary) + Sync)>,
    pub started: Instant,
}

/// Where the driver sends and receives.
pub(super) struct Wires<'s, 'env, 'a> {
    pub scope: &'s std::thread::Scope<'s, 'env>,
    pub to_main: Sender<Msg<'a>>,
    pub from: Receiver<Msg<'a>>,
    /// To the paged checker of huge keys.
    pub big_tx: Sender<KeyCheck<'a>>,
    /// Each file reader's token window (see [`feed`](super::feed)).
    pub tokens: Vec<SyncSender<()>>,
}

/// The event loop's state.
pub(super) struct Driver<'s, 'env, 'a> {
    inp: Inputs<'s, 'a>,
    wires: Wires<'s, 'env, 'a>,
    session: Session,
    end: Ended,
    nodes: HashMap<String, SyncSender<Vec<KeyCheck<'a>>>>,
    topology: Option<Topology>,
    standalone: String,
    files_left: usize,
    /// Checks given to nodes (or the paged checker) without a verdict yet.
    outstanding: u64,
    retry_q: Vec<KeyCheck<'a>>,
    selected_dbs: Vec<u64>,
    last_refresh: Instant,
    last_progress: Instant,
    stopped: bool,
}

impl<'s, 'env, 'a: 's> Driver<'s, 'env, 'a> {
    pub fn new(
        inp: Inputs<'s, 'a>,
        wires: Wires<'s, 'env, 'a>,
        session: Session,
        topology: Option<Topology>,
        end: Ended,
    ) -> Self {
        Driver {
            standalone: inp.opts.target.addr(),
            files_left: inp.files.len(),
            inp,
            wires,
            session,
            end,
            nodes: HashMap::new(),
            topology,
            outstanding: 0,
            retry_q: Vec::new(),
            selected_dbs: Vec::new(),
            last_refresh: Instant::now(),
            last_progress: Instant::now(),
            stopped: false,
        }
    }

    /// Runs until every file is read and every check has its verdict.
    pub fn run(mut self) -> Ended {
        while self.files_left > 0 || self.outstanding > 0 || !self.retry_q.is_empty() {
            let Some(msg) = self.next_msg() else {
                break;
            };
            match msg {
                Msg::Batch(i, b) => self.on_batch(i, b),
                Msg::FileDone(i, r) => self.on_file_done(i, r),
                Msg::Outcomes(os) => self.on_outcomes(os),
            }
            self.report_progress();
        }
        // Closes the node channels and the paged checker's: they finish.
        self.nodes.clear();
        drop(self.wires.big_tx);
        self.end
    }

    /// The next message; redirected checks go out when no message is
    /// waiting, or when many have gathered. `None`: nothing more will come.
    fn next_msg(&mut self) -> Option<Msg<'a>> {
        if let Ok(m) = self.wires.from.try_recv() {
            if self.retry_q.len() >= RETRY_BATCH {
                let q = std::mem::take(&mut self.retry_q);
                self.route(q);
            }
            return Some(m);
        }
        if !self.retry_q.is_empty() {
            let q = std::mem::take(&mut self.retry_q);
            self.route(q);
        }
        if self.files_left == 0 && self.outstanding == 0 {
            return None;
        }
        self.wires.from.recv().ok()
    }

    /// Stops reading and checking; the first error is the one reported.
    fn halt(&mut self, e: VerifyError) {
        self.end.fatal.get_or_insert(e);
        self.stopped = true;
        self.inp.stop.store(true, Ordering::Relaxed);
    }

    fn report_progress(&mut self) {
        if let Some(p) = self.inp.progress {
            if self.last_progress.elapsed() > Duration::from_millis(100) {
                self.end.summary.duration = self.inp.started.elapsed();
                p(&self.end.summary);
                self.last_progress = Instant::now();
            }
        }
    }

    fn on_file_done(&mut self, i: usize, r: Result<(), SinkError>) {
        self.files_left -= 1;
        match r {
            Ok(()) | Err(SinkError::Stopped) => {}
            Err(e) => self.halt(InputError::new(&*self.inp.files[i].name, e.into()).into()),
        }
    }

    /// A batch of file `i`'s reader: counted, its checks routed, and its
    /// reader let go on.
    fn on_batch(&mut self, i: usize, b: VBatch<'a>) {
        let s = &mut self.end.summary;
        s.keys_read += b.keys_read;
        s.skipped_expired += b.skipped_expired;
        s.skipped_empty += b.skipped_empty;
        s.not_sampled += b.not_sampled;
        s.filtered += b.filtered;
        s.uncomparable += b.uncomparable;
        s.checked += b.uncomparable;
        s.bytes_read += b.bytes;
        for e in b.errors {
            s.checked += 1;
            s.error(e);
        }
        if !self.stopped && self.topology.is_none() {
            self.select_dbs(b.checks.iter().chain(&b.bigs));
        }
        if self.stopped {
            // Not checked: the run is failing anyway.
            let n = (b.checks.len() + b.bigs.len()) as u64;
            self.end.summary.checked += n;
            self.end.summary.errors += n;
        } else {
            for c in b.bigs {
                self.outstanding += 1;
                self.end.summary.compared_paged += 1;
                let _ = self.wires.big_tx.send(c);
            }
            self.route(b.checks);
        }
        let _ = self.wires.tokens[i].send(());
    }

    /// Checks each target db once (standalone), before keys are read there.
    fn select_dbs<'c>(&mut self, checks: impl Iterator<Item = &'c KeyCheck<'a>>)
    where
        'a: 'c,
    {
        for c in checks {
            if self.selected_dbs.contains(&c.db) {
                continue;
            }
            let db = c.db.to_string();
            if let Err(e) = self.session.control.call_ok(&[b"SELECT", db.as_bytes()]) {
                self.halt(e.into());
                break;
            }
            self.selected_dbs.push(c.db);
        }
    }

    /// Counts the verdicts; what must go again goes to the retry queue or
    /// the paged checker.
    fn on_outcomes(&mut self, os: Vec<Outcome<'a>>) {
        self.outstanding -= os.len() as u64;
        for Outcome { check, verdict } in os {
            let e = &mut self.end;
            let files = self.inp.files;
            match account(
                &mut e.summary,
                &mut e.diff_out,
                self.inp.fast,
                files,
                check,
                verdict,
            ) {
                Ok(Next::Done) => {}
                Ok(Next::Again(c)) => self.retry_q.push(c),
                Ok(Next::Paged(c)) => {
                    self.outstanding += 1;
                    let _ = self.wires.big_tx.send(c);
                }
                Ok(Next::Redirected(c, rd)) => self.redirect(c, rd),
                Err(e) => self.halt(e),
            }
        }
    }

    /// Sends a check again where the reply said (`MOVED`, `ASK`), or after
    /// a pause (a transient refusal).
    fn redirect(&mut self, mut c: KeyCheck<'a>, rd: RedirectKind) {
        match rd {
            RedirectKind::Moved(slot, addr) => {
                c.ask = None;
                if let (Some(t), Some(slot), Some(addr)) = (self.topology.as_mut(), slot, addr) {
                    t.set_owner(slot, addr);
                }
                // Re-read the whole map at most once a second.
                if self.last_refresh.elapsed() > Duration::from_secs(1) {
                    let host = &self.inp.opts.target.host;
                    if let Ok(t) = cluster::discover(&mut self.session.control, host) {
                        self.topology = Some(t);
                    }
                    self.last_refresh = Instant::now();
                }
                self.end.summary.redirects += 1;
            }
            RedirectKind::Ask(addr) => {
                c.ask = Some(addr);
                self.end.summary.redirects += 1;
            }
            RedirectKind::Retry => {
                std::thread::sleep(Duration::from_millis(50 * c.attempts as u64));
                self.end.summary.retries += 1;
            }
        }
        self.retry_q.push(c);
    }

    /// Counts a check that could not be made as an error.
    fn error(&mut self, c: &KeyCheck<'_>, why: &str) {
        let s = &mut self.end.summary;
        s.checked += 1;
        s.error(format!("db {} key {}: {why}", c.db, printable(&c.key)));
    }

    /// Sends checks to their nodes, grouped by address, opening
    /// connections as needed.
    fn route(&mut self, checks: Vec<KeyCheck<'a>>) {
        let mut per_addr: HashMap<String, Vec<KeyCheck<'a>>> = HashMap::new();
        let mut unserved = Vec::new();
        for c in checks {
            let ask = c.ask.clone();
            let addr: &str = match (&ask, &self.topology) {
                (Some(a), _) => a,
                (None, None) => &self.standalone,
                (None, Some(t)) => match t.node_of(c.slot) {
                    Some(a) => a,
                    None => {
                        unserved.push(c);
                        continue;
                    }
                },
            };
            // No allocation per key: the address is copied once per node.
            match per_addr.get_mut(addr) {
                Some(v) => v.push(c),
                None => {
                    per_addr.insert(addr.to_string(), vec![c]);
                }
            }
        }
        for c in unserved {
            let why = format!("CLUSTERDOWN slot {} is not served by any node", c.slot);
            self.error(&c, &why);
        }
        for (addr, cs) in per_addr {
            self.send_to(&addr, cs);
        }
    }

    /// Sends checks to one node, opened if needed; they count as errors
    /// when it cannot be reached.
    fn send_to(&mut self, addr: &str, cs: Vec<KeyCheck<'a>>) {
        if !self.nodes.contains_key(addr) {
            match self.open_node(addr) {
                Ok(tx) => {
                    self.nodes.insert(addr.to_string(), tx);
                }
                Err(e) => {
                    let why = e.to_string();
                    cs.iter().for_each(|c| self.error(c, &why));
                    return;
                }
            }
        }
        let n = cs.len() as u64;
        match self.nodes[addr].send(cs) {
            Ok(()) => self.outstanding += n,
            Err(SendError(cs)) => {
                let why = format!("{addr}: the connection's writer stopped");
                cs.iter().for_each(|c| self.error(c, &why));
            }
        }
    }

    fn open_node(&self, addr: &str) -> Result<SyncSender<Vec<KeyCheck<'a>>>, VerifyError> {
        let c = Conn::open(addr, &self.inp.opts.target.auth, &self.session.connect)?;
        let w = &self.wires;
        Ok(node::spawn(
            w.scope,
            c,
            self.inp.node_cfg,
            w.to_main.clone(),
        ))
    }
}
