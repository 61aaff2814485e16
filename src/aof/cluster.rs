//! Replaying an AOF's commands into a Redis Cluster: each unit (a command,
//! or a single-slot `MULTI ... EXEC`, see [`super::route`]) goes to the
//! master owning its slot; a keyless one (FLUSHALL, FUNCTION LOAD, SCRIPT
//! LOAD) to every master. No `SELECT` is sent: a cluster has only db 0,
//! which `route` made sure every replayed command maps to.
//!
//! Sending is pipelined in windows of about 256 KiB: every node's share of
//! the window is written, then every node's replies are read, then the
//! units are counted in file order. Per node the file order is kept (one
//! connection each); across nodes only per-slot order matters, and a slot
//! lives on one node. A `-MOVED` reply refreshes the slot map and sends the
//! unit again to the new owner; `-ASK` sends it once to the importing node
//! after `ASKING` (before each command, and before `MULTI` for a
//! transaction), as the load path does. Units of the same slot in one
//! window are all redirected together, so their order holds.

use std::collections::HashMap;

use super::replay::{ReplaySummary, Role, Sent, Stop, Tally, FLUSH_BYTES};
use super::route::{units, KeyFinder, Rules, Unit};
use super::source::Aof;
use super::walk::{Cmd, WalkError};
use crate::redis::cluster::Topology;
use crate::redis::error::backoff;
use crate::redis::resp::{read_reply, Reply};
use crate::redis::{Conn, ServerError};

/// How often one unit may be redirected before it counts as failed.
const MAX_REDIRECTS: usize = 5;

/// How often a unit refused with `-TRYAGAIN`/`-CLUSTERDOWN` is sent again
/// before it counts as failed: with [`backoff`], about 3 s of waiting.
const MAX_TRANSIENT: u32 = 6;

/// `-TRYAGAIN` (a multi-key command whose keys a slot migration has split)
/// and `-CLUSTERDOWN` (the slot is served by no one for the moment, e.g.
/// during a failover or while coverage is incomplete) both mean the
/// command did not run, and may succeed a little later.
fn is_transient(r: &Reply) -> bool {
    match r {
        Reply::Error(e) => matches!(
            ServerError::parse(e),
            ServerError::TryAgain(_) | ServerError::ClusterDown(_)
        ),
        _ => false,
    }
}

/// What the cluster replay needs from outside: connections and the map.
pub struct Access<'a> {
    /// Opens an authenticated connection to a node (`host:port`).
    pub open: &'a dyn Fn(&str) -> Result<Conn, String>,
    /// Reads the slot map again (after `-MOVED`).
    pub discover: &'a dyn Fn() -> Result<Topology, String>,
}

struct Pending<'a> {
    cmds: Vec<Cmd<'a>>,
    slot: Option<u16>,
    /// The nodes it was sent to, and their replies so far.
    targets: Vec<(String, Vec<Reply>)>,
}

struct Node {
    conn: Conn,
    buf: Vec<u8>,
    /// (index in the window, index in its targets) per command sent.
    sent: Vec<(usize, usize)>,
}

struct Replayer<'a, 'x> {
    access: &'x Access<'x>,
    topo: Topology,
    nodes: HashMap<String, Node>,
    window: Vec<Pending<'a>>,
    bytes: usize,
    names: Vec<String>,
    tally: Tally,
    unanswered: u64,
    stopped: Option<Stop>,
}

/// Replays every command of `aof` into the cluster mapped by `topo`.
pub fn replay(
    aof: &Aof,
    rules: &Rules<'_>,
    keys: &mut KeyFinder,
    topo: Topology,
    access: &Access<'_>,
) -> ReplaySummary {
    let mut r = Replayer {
        access,
        topo,
        nodes: HashMap::new(),
        window: Vec::new(),
        bytes: 0,
        names: aof.segments.iter().map(|s| s.name.clone()).collect(),
        tally: Tally::default(),
        unanswered: 0,
        stopped: None,
    };
    let mut st = ReplaySummary::default();
    let walked = units(aof, rules, Some(keys), |u: Unit<'_>| {
        st.filtered += u.filtered;
        st.split += u64::from(u.split);
        r.push(u)?;
        if r.bytes >= FLUSH_BYTES {
            r.flush()?;
        }
        Ok::<(), String>(())
    });
    let walked = walked.and_then(|w| r.flush().map(|_| w).map_err(WalkError::Stop));
    match walked {
        Ok(w) => st.walked = w,
        Err(WalkError::Bad(m)) => {
            r.flush().ok();
            r.stopped = r.stopped.take().or(Some(Stop {
                reason: m,
                at: None,
            }));
        }
        Err(WalkError::Stop(m)) => {
            // Units already queued (before the one that failed) still go.
            r.flush().ok();
            r.stopped = r.stopped.take().or(Some(Stop {
                reason: m,
                at: None,
            }))
        }
    }
    st.replayed = r.tally.ok;
    st.failed = r.tally.failed;
    st.errors = std::mem::take(&mut r.tally.errors);
    st.unanswered = r.unanswered;
    st.stopped = r.stopped;
    st.finish(aof);
    st
}

impl<'a> Replayer<'a, '_> {
    fn node(&mut self, addr: &str) -> Result<&mut Node, String> {
        if !self.nodes.contains_key(addr) {
            let conn = (self.access.open)(addr)?;
            let n = Node {
                conn,
                buf: Vec::with_capacity(FLUSH_BYTES),
                sent: Vec::new(),
            };
            self.nodes.insert(addr.to_string(), n);
        }
        Ok(self.nodes.get_mut(addr).expect("inserted above"))
    }

    fn push(&mut self, u: Unit<'a>) -> Result<(), String> {
        if u.cmds.is_empty() {
            return Ok(());
        }
        let targets: Vec<String> = match u.slot {
            Some(s) => vec![self
                .topo
                .node_of(s)
                .ok_or_else(|| format!("slot {s} is served by no master"))?
                .to_string()],
            None => self.topo.masters.clone(),
        };
        let at = self.window.len();
        for (ti, addr) in targets.iter().enumerate() {
            let n = self.node(addr)?;
            for c in &u.cmds {
                n.buf.extend_from_slice(c.raw);
                n.sent.push((at, ti));
            }
        }
        self.bytes += u.cmds.iter().map(|c| c.raw.len()).sum::<usize>() * targets.len();
        self.window.push(Pending {
            cmds: u.cmds,
            slot: u.slot,
            targets: targets.into_iter().map(|a| (a, Vec::new())).collect(),
        });
        Ok(())
    }

    /// Writes the window, reads its replies, counts its units in order.
    fn flush(&mut self) -> Result<(), String> {
        let mut lost: Option<String> = None;
        for (addr, n) in self.nodes.iter_mut() {
            if n.sent.is_empty() {
                continue;
            }
            if let Err(e) = n.conn.writer.write_all_timed(&n.buf) {
                lost.get_or_insert(format!("{addr}: {}", crate::redis::conn::describe_io(&e)));
                n.buf.clear();
                n.sent.clear();
                continue;
            }
            n.buf.clear();
            for (u, t) in std::mem::take(&mut n.sent) {
                match read_reply(&mut n.conn.reader) {
                    Ok(r) => self.window[u].targets[t].1.push(r),
                    Err(e) => {
                        lost.get_or_insert(format!(
                            "{addr}: {}",
                            crate::redis::conn::describe_io(&e)
                        ));
                        break;
                    }
                }
            }
        }
        self.bytes = 0;
        let mut answered = Vec::new();
        for mut p in std::mem::take(&mut self.window) {
            let complete = p.targets.iter().all(|(_, r)| r.len() == p.cmds.len());
            if !complete {
                self.unanswered += p.cmds.len() as u64;
                if self.stopped.is_none() {
                    let c = &p.cmds[0];
                    self.stopped = Some(Stop {
                        reason: lost.clone().unwrap_or_default(),
                        at: Some((self.names[c.seg].clone(), c.offset)),
                    });
                }
                continue;
            }
            self.redirect(&mut p);
            answered.push(p);
        }
        self.retry_transient(&mut answered);
        for p in &answered {
            self.count(p);
        }
        match lost {
            Some(e) => {
                self.nodes.clear();
                Err(e)
            }
            None => Ok(()),
        }
    }

    /// Sends `p` again where a `-MOVED`/`-ASK` says its slot now is.
    fn redirect(&mut self, p: &mut Pending<'a>) {
        for _ in 0..MAX_REDIRECTS {
            let Some((ask, addr)) = p.targets.iter().find_map(|(_, rs)| {
                rs.iter().find_map(|r| match r {
                    Reply::Error(e) => match ServerError::parse(e) {
                        ServerError::Moved { addr, .. } => Some((false, addr)),
                        ServerError::Ask { addr, .. } => Some((true, Some(addr))),
                        _ => None,
                    },
                    _ => None,
                })
            }) else {
                return;
            };
            if !ask {
                if let Ok(t) = (self.access.discover)() {
                    self.topo = t;
                }
            }
            let owner = p
                .slot
                .and_then(|s| self.topo.node_of(s))
                .map(str::to_string);
            let Some(to) = addr.or(owner) else { return };
            match self.send_now(&p.cmds, &to, ask) {
                Ok(replies) => p.targets = vec![(to, replies)],
                Err(e) => {
                    // Keep the redirect replies: the unit counts as failed.
                    self.tally.errors.truncate(super::replay::SHOWN_ERRORS);
                    if self.tally.errors.len() < super::replay::SHOWN_ERRORS {
                        self.tally.errors.push(e);
                    }
                    return;
                }
            }
        }
    }

    /// Sends the units of a window again, after a back-off, while a node
    /// answers them with `-TRYAGAIN` or `-CLUSTERDOWN`; after
    /// [`MAX_TRANSIENT`] rounds they count as failed with the last error.
    /// Neither error ran anything (in a transaction the refused command
    /// makes `EXEC` answer `EXECABORT`), so sending a whole unit again
    /// neither doubles nor loses a write. One wait per round, not per unit:
    /// a cluster that is down refuses the whole window at once.
    fn retry_transient(&mut self, ps: &mut [Pending<'a>]) {
        let refused = |p: &Pending<'a>| p.targets.iter().any(|(_, rs)| rs.iter().any(is_transient));
        for n in 0..MAX_TRANSIENT {
            let waiting: Vec<usize> = (0..ps.len()).filter(|&i| refused(&ps[i])).collect();
            if waiting.is_empty() {
                return;
            }
            std::thread::sleep(backoff(n));
            // The slot may have moved (a failover, a finished migration).
            if let Ok(t) = (self.access.discover)() {
                self.topo = t;
            }
            for i in waiting {
                if let Err(e) = self.resend(&mut ps[i]) {
                    if self.tally.errors.len() < super::replay::SHOWN_ERRORS {
                        self.tally.errors.push(e);
                    }
                    return;
                }
            }
        }
    }

    /// Sends `p` again to its slot's owner (or, keyless or unmapped, to
    /// the node that refused it), wherever it was refused for now.
    fn resend(&mut self, p: &mut Pending<'a>) -> Result<(), String> {
        for t in p.targets.iter_mut() {
            if !t.1.iter().any(is_transient) {
                continue;
            }
            let owner = p.slot.and_then(|s| self.topo.node_of(s));
            let to = owner.unwrap_or(&t.0).to_string();
            *t = (to.clone(), self.send_now(&p.cmds, &to, false)?);
        }
        self.redirect(p);
        Ok(())
    }

    /// Sends `cmds` to `addr` and waits for their replies (without the
    /// `ASKING` ones).
    fn send_now(&mut self, cmds: &[Cmd<'a>], addr: &str, ask: bool) -> Result<Vec<Reply>, String> {
        let mut buf = Vec::new();
        let mut ours = Vec::new();
        let mut in_multi = false;
        for c in cmds {
            let role = Sent::of(c).role;
            if ask && !in_multi {
                buf.extend_from_slice(b"*1\r\n$6\r\nASKING\r\n");
                ours.push(true);
            }
            in_multi = (in_multi || role == Role::Multi) && role != Role::Exec;
            buf.extend_from_slice(c.raw);
            ours.push(false);
        }
        let n = self.node(addr)?;
        let fail = |e: std::io::Error| format!("{addr}: {}", crate::redis::conn::describe_io(&e));
        n.conn.writer.write_all_timed(&buf).map_err(fail)?;
        let mut replies = Vec::new();
        for o in ours {
            let r = read_reply(&mut n.conn.reader).map_err(fail)?;
            if !o {
                replies.push(r);
            }
        }
        Ok(replies)
    }

    /// Counts an answered unit: per command, failed where any node failed.
    fn count(&mut self, p: &Pending<'a>) {
        let mut worst: Option<Tally> = None;
        for (_, replies) in &p.targets {
            let mut t = Tally::default();
            for (c, r) in p.cmds.iter().zip(replies) {
                t.add(&Sent::of(c), r, &self.names);
            }
            if worst.as_ref().is_none_or(|w| t.failed > w.failed) {
                worst = Some(t);
            }
        }
        let Some(t) = worst else { return };
        self.tally.ok += t.ok;
        self.tally.failed += t.failed;
        for e in t.errors {
            if self.tally.errors.len() < super::replay::SHOWN_ERRORS {
                self.tally.errors.push(e);
            }
        }
    }
}
