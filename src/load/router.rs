//! Where ops go: the cluster slot map (or the one standalone address), one
//! pipelined connection per (node, payload version) with its backlog, and
//! memos of nodes that are down. The router never counts a key: ops it
//! cannot place come back to the driver ([`Router::failed`],
//! [`Router::unreachable`]), which does all the accounting.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Sender, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::node::{self, NodeMsg};
use super::{summary, LoadError, LoadOptions, Msg};
use crate::redis::cluster::{self, Topology};
use crate::redis::conn::{Conn, ConnectOptions};
use crate::redis::error::backoff;
use crate::redis::target::Target;
use crate::redis::ClientError;
use crate::restore::commands::TargetFeatures;
use crate::restore::Op;

/// One connection to a node, as the main thread sees it.
pub(super) struct Node<'a> {
    tx: SyncSender<NodeMsg<'a>>,
    /// Which connection this is: outcomes of a replaced one say so.
    pub(super) gen: u64,
    /// Batches routed here while the writer's channel was full, in order.
    /// The main thread never blocks on one busy node: it keeps reading
    /// outcomes (a stop, a checkpoint) and feeding the other nodes.
    pub(super) backlog: VecDeque<Vec<Op<'a>>>,
    /// Ops given to this connection whose outcome has not come back.
    pub(super) in_flight: u64,
    /// When it last answered (or was opened).
    last_heard: Instant,
    /// A warning that it went silent was given and still holds.
    warned: bool,
}

/// How long a node with ops in flight may be silent before the user is
/// told (a hung target is otherwise silent until `--timeout`).
const SILENT_WARN: Duration = Duration::from_secs(5);

/// What opening a node connection needs; fixed for the whole run.
pub(super) struct Spawner<'s, 'env, 'a> {
    pub scope: &'s std::thread::Scope<'s, 'env>,
    pub to_main: Sender<Msg<'a>>,
    pub stop: &'s AtomicBool,
    pub target: &'s Target,
    pub connect: ConnectOptions,
    pub opts: &'s LoadOptions,
    pub features: TargetFeatures,
}

/// Why and until when an address is left alone.
struct DownMemo {
    until: Instant,
    /// Failed connection attempts in a row.
    fails: u32,
    /// The error of the last attempt (every op refused meanwhile is failed
    /// with it).
    cause: Arc<ClientError>,
}

/// The nodes of the run and where each op goes.
pub(super) struct Router<'s, 'env, 'a> {
    spawner: Spawner<'s, 'env, 'a>,
    /// The cluster slot map; `None` for a standalone target.
    pub topology: Option<Topology>,
    /// Open connections, keyed by [`node_id`]: input files of different
    /// RDB versions each need their own payload trailer, and a node writes
    /// payloads of one version.
    pub nodes: HashMap<String, Node<'a>>,
    next_gen: u64,
    /// Addresses that refused a connection or did not answer: not tried
    /// again before their memo's time (then with a longer back-off), so a
    /// node that is down costs one attempt per back-off, not one per batch.
    down: HashMap<String, DownMemo>,
    /// Ops given to nodes whose outcome has not come back.
    pub outstanding: u64,
    /// Ops that found no connection (version, op, why): the driver retries
    /// them after a back-off.
    pub unreachable: Vec<(u32, Op<'a>, String)>,
    /// Ops that cannot be placed at all (version, op, why): they fail.
    pub failed: Vec<(u32, Op<'a>, String)>,
}

impl<'s, 'env, 'a: 's> Router<'s, 'env, 'a> {
    pub fn new(spawner: Spawner<'s, 'env, 'a>, topology: Option<Topology>) -> Self {
        Router {
            spawner,
            topology,
            nodes: HashMap::new(),
            next_gen: 0,
            down: HashMap::new(),
            outstanding: 0,
            unreachable: Vec::new(),
            failed: Vec::new(),
        }
    }

    /// The connection for `addr` and payload `version`, opened if needed;
    /// an address remembered as down fails at once until its back-off ends.
    fn open_node(&mut self, addr: &str, version: u32) -> Result<String, LoadError> {
        let id = node_id(addr, version);
        if self.nodes.contains_key(&id) {
            return Ok(id);
        }
        if let Some(memo) = self.down.get(addr) {
            if Instant::now() < memo.until {
                return Err(LoadError::Down(memo.cause.clone()));
            }
        }
        let sp = &self.spawner;
        // A PING proves the node answers (a stopped server still accepts
        // connections); any reply will do (-LOADING too).
        let c = Conn::open(addr, &sp.target.auth, &sp.connect).and_then(|mut c| {
            c.call(&[b"PING"])?;
            Ok(c)
        });
        let c = match c {
            Ok(c) => {
                self.down.remove(addr);
                c
            }
            Err(e) => {
                let e = Arc::new(e);
                self.mark_down(addr, &e);
                return Err(LoadError::Down(e));
            }
        };
        self.next_gen += 1;
        let gen = self.next_gen;
        let cfg = node::NodeConfig {
            rdb_version: version,
            gen,
            wait: sp.opts.wait_replicas,
            limits: sp.opts.limits,
            features: sp.features,
        };
        let tx = node::spawn(sp.scope, c, cfg, sp.to_main.clone(), sp.stop);
        let node = Node {
            tx,
            gen,
            backlog: VecDeque::new(),
            in_flight: 0,
            last_heard: Instant::now(),
            warned: false,
        };
        self.nodes.insert(id.clone(), node);
        Ok(id)
    }

    /// Remembers that `addr` failed to connect, with a longer back-off each time.
    fn mark_down(&mut self, addr: &str, e: &Arc<ClientError>) {
        let fails = self.down.get(addr).map_or(0, |m| m.fails);
        let memo = DownMemo {
            until: Instant::now() + backoff(fails),
            fails: fails + 1,
            cause: e.clone(),
        };
        self.down.insert(addr.to_string(), memo);
    }

    /// Sends ops to one node (opening it if needed). Every op ends up
    /// outstanding (an outcome will come back), unreachable or failed, never lost.
    fn route_to(&mut self, addr: &str, ops: Vec<Op<'a>>, version: u32) {
        let id = match self.open_node(addr, version) {
            Ok(id) => id,
            Err(e) => {
                // Nothing was sent: retried after a back-off (the node may
                // be restarting, or its replica taking over).
                let why = e.to_string();
                let u = &mut self.unreachable;
                u.extend(ops.into_iter().map(|op| (version, op, why.clone())));
                return;
            }
        };
        let Some(node) = self.nodes.get_mut(&id) else {
            let why = "no connection to the node";
            let f = &mut self.failed;
            f.extend(ops.into_iter().map(|op| (version, op, why.to_string())));
            return;
        };
        let n = ops.len() as u64;
        if node.in_flight == 0 {
            // Silence is counted from the first op it is waited for.
            node.last_heard = Instant::now();
        }
        node.in_flight += n;
        if !node.backlog.is_empty() {
            node.backlog.push_back(ops);
            self.outstanding += n;
            return;
        }
        match node.tx.try_send(NodeMsg::Batch(ops)) {
            Ok(()) => self.outstanding += n,
            Err(TrySendError::Full(NodeMsg::Batch(ops))) => {
                node.backlog.push_back(ops);
                self.outstanding += n;
            }
            Err(TrySendError::Disconnected(NodeMsg::Batch(ops))) => {
                node.in_flight -= n;
                let why = format!("{addr}: the connection's writer stopped");
                let f = &mut self.failed;
                f.extend(ops.into_iter().map(|op| (version, op, why.clone())));
            }
        }
    }

    /// Routes ops: grouped by address first (no allocation per op), each
    /// node opened once per batch.
    pub fn route(&mut self, ops: Vec<Op<'a>>, version: u32) {
        let standalone = self.spawner.target.addr();
        let per_addr: Vec<(String, Vec<Op<'a>>)>;
        let mut functions: Vec<Op<'a>> = Vec::new();
        let mut asked: Vec<Op<'a>> = Vec::new();
        {
            let mut per: HashMap<&str, Vec<Op<'a>>> = HashMap::new();
            for op in ops {
                let addr = match &self.topology {
                    _ if op.ask.is_some() => {
                        asked.push(op);
                        continue;
                    }
                    None => standalone.as_str(),
                    Some(_) if !op.is_key() => {
                        functions.push(op);
                        continue;
                    }
                    Some(t) => match t.node_of(op.slot) {
                        Some(a) => a,
                        None => {
                            let why =
                                format!("CLUSTERDOWN slot {} is not served by any node", op.slot);
                            self.failed.push((version, op, why));
                            continue;
                        }
                    },
                };
                per.entry(addr).or_default().push(op);
            }
            // Function libraries go to every master of a cluster.
            if let (Some(t), false) = (&self.topology, functions.is_empty()) {
                for m in &t.masters {
                    per.entry(m.as_str())
                        .or_default()
                        .extend(functions.iter().cloned());
                }
            }
            // Owned addresses: opening a node needs the router mutably.
            per_addr = per.into_iter().map(|(a, o)| (a.to_string(), o)).collect();
        }
        for (addr, ops) in per_addr {
            self.route_to(&addr, ops, version);
        }
        // After an -ASK redirect: to the node it named, which may be
        // outside the slot map.
        for op in asked {
            let addr = op.ask.clone().unwrap_or_default();
            self.route_to(&addr, vec![op], version);
        }
    }

    /// Routes the gathered redirected ops, grouped by payload version.
    pub fn flush(&mut self, q: &mut Vec<(u32, Op<'a>)>) {
        while let Some(&(v, _)) = q.first() {
            let (same, rest): (Vec<_>, Vec<_>) = q.drain(..).partition(|(x, _)| *x == v);
            *q = rest;
            self.route(same.into_iter().map(|(_, o)| o).collect(), v);
        }
    }

    /// Feeds the busy nodes what they can take now. Batches of a writer
    /// that is gone go to `retry`; when `stopping`, nothing is sent and the
    /// keys of the dropped batches are returned (they count as not attempted).
    pub fn feed_backlogs(
        &mut self,
        stopping: bool,
        version_of: impl Fn(&Op<'a>) -> u32,
        retry: &mut Vec<(u32, Op<'a>)>,
    ) -> u64 {
        let mut dropped_keys = 0;
        for node in self.nodes.values_mut() {
            while let Some(b) = node.backlog.pop_front() {
                if stopping {
                    // Stopping: never sent.
                    self.outstanding -= b.len() as u64;
                    node.in_flight -= b.len() as u64;
                    dropped_keys += b.iter().filter(|o| o.is_key()).count() as u64;
                    continue;
                }
                match node.tx.try_send(NodeMsg::Batch(b)) {
                    Ok(()) => {}
                    Err(TrySendError::Full(NodeMsg::Batch(b))) => {
                        node.backlog.push_front(b);
                        break;
                    }
                    Err(TrySendError::Disconnected(NodeMsg::Batch(b))) => {
                        // The writer is gone: its outcomes say why; these
                        // never reached it and are routed again.
                        self.outstanding -= b.len() as u64;
                        node.in_flight -= b.len() as u64;
                        retry.extend(b.into_iter().map(|op| (version_of(&op), op)));
                    }
                }
            }
        }
        dropped_keys
    }

    /// Notes an outcome of the connection `gen` to `addr`: it answered.
    /// Says so when it had been reported silent and this is a reply.
    pub fn heard(&mut self, addr: &str, version: u32, gen: u64, replied: bool) {
        let Some(n) = self.nodes.get_mut(&node_id(addr, version)) else {
            return;
        };
        if n.gen != gen {
            return;
        }
        n.in_flight = n.in_flight.saturating_sub(1);
        n.last_heard = Instant::now();
        if n.warned && replied {
            n.warned = false;
            let warn = &self.spawner.opts.warn;
            warn.say(&format!("target {addr} replies again"));
        }
    }

    /// Forgets the connection `gen` to `addr` after it was lost (the next
    /// send opens a new one); the batches it never got go to `retry`.
    /// Whether it was still the current connection.
    pub fn drop_lost(
        &mut self,
        addr: &str,
        version: u32,
        gen: u64,
        retry: &mut Vec<(u32, Op<'a>)>,
    ) -> bool {
        let id = node_id(addr, version);
        if self.nodes.get(&id).is_none_or(|n| n.gen != gen) {
            return false;
        }
        if let Some(n) = self.nodes.remove(&id) {
            for b in n.backlog {
                self.outstanding -= b.len() as u64;
                retry.extend(b.into_iter().map(|op| (version, op)));
            }
        }
        true
    }

    /// Whether a node has enough queued that the file readers should wait.
    pub fn congested(&self) -> bool {
        self.nodes.values().any(|n| n.backlog.len() >= 2)
    }

    /// Whether some node has batches waiting for room in its channel.
    pub fn backlogged(&self) -> bool {
        self.nodes.values().any(|n| !n.backlog.is_empty())
    }

    /// Whether some node has ops whose outcome has not come back.
    pub fn in_flight(&self) -> bool {
        self.nodes.values().any(|n| n.in_flight > 0)
    }

    /// Closes the node channels: writers and readers finish.
    pub fn close(&mut self) {
        self.nodes.clear();
    }

    /// Warns once per silence of a node that has ops in flight but has not
    /// answered for [`SILENT_WARN`]: which node, how long, and what the
    /// loader does next and when.
    pub fn warn_silent(&mut self) {
        let opts = self.spawner.opts;
        // Sooner when --timeout is short: the warning comes before the loss.
        let after = opts
            .io_timeout
            .map_or(SILENT_WARN, |t| SILENT_WARN.min(t / 2));
        for (id, n) in self.nodes.iter_mut() {
            let silent = n.last_heard.elapsed();
            if n.warned || n.in_flight == 0 || silent < after {
                continue;
            }
            n.warned = true;
            let addr = id.rsplit_once('#').map_or(id.as_str(), |x| x.0);
            opts.warn.say(&format!(
                "target {addr} has not replied for {} s ({} in flight); {}",
                silent.as_secs(),
                summary::keys(n.in_flight),
                next_after_silence(opts, silent)
            ));
        }
    }
}

/// What happens to a silent node's keys, and when (for [`Router::warn_silent`]).
fn next_after_silence(opts: &LoadOptions, silent: Duration) -> String {
    match opts.io_timeout {
        Some(t) => {
            let lost = t.saturating_sub(silent);
            format!(
                "its connection counts as lost when --timeout {} s has passed (at about {}); \
                 its keys are then retried for up to --retry-for {} s and fail at about {} if it stays silent",
                t.as_secs(),
                clock_in(lost),
                opts.retry_for.as_secs(),
                clock_in(lost + opts.retry_for + t)
            )
        }
        None => "--timeout 0: the load waits for it without limit".to_string(),
    }
}

/// The UTC wall-clock time `d` from now, as HH:MM:SS UTC.
fn clock_in(d: Duration) -> String {
    let t = (SystemTime::now() + d)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |x| x.as_secs());
    format!("{:02}:{:02}:{:02} UTC", t / 3600 % 24, t / 60 % 60, t % 60)
}

/// The id of a node connection: its address and payload version.
fn node_id(addr: &str, version: u32) -> String {
    format!("{addr}#{version}")
}

/// A fresh cluster slot map: through the control connection, else through
/// a new one to the seed address or any node seen before (the control
/// node may be the one that failed). `None` when no node answers.
pub(super) fn rediscover(
    control: &mut Conn,
    target: &Target,
    connect: &ConnectOptions,
    known: Option<&Topology>,
) -> Option<Topology> {
    if let Ok(t) = cluster::discover(control, &target.host) {
        return Some(t);
    }
    let mut candidates = vec![target.addr()];
    if let Some(k) = known {
        candidates.extend(k.nodes.iter().cloned());
    }
    candidates.dedup();
    for addr in candidates {
        if let Ok(mut c) = Conn::open(&addr, &target.auth, connect) {
            if let Ok(t) = cluster::discover(&mut c, &target.host) {
                *control = c;
                return Some(t);
            }
        }
    }
    None
}
