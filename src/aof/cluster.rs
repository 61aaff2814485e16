//! Replaying an AOF's commands into a Redis Cluster: each part of a unit (a
//! command, a single-slot `MULTI ... EXEC`, or a cross-slot `MSET`/`DEL`
//! cut into one command per slot, see [`super::route`]) goes to the master
//! owning its slot; a keyless one (FLUSHALL, FUNCTION LOAD, SCRIPT LOAD) to
//! every master. No `SELECT` is sent: a cluster has only db 0,
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

/// `-TRYAGAIN` (a multi-key command whose keys a slot migration has split),
/// `-CLUSTERDOWN` (the slot is served by no one for the moment, e.g. during
/// a failover), `-LOADING` and `-BUSY` ([`ServerError::is_transient`]) all
/// mean the command did not run, and may succeed a little later.
fn is_transient(r: &Reply) -> bool {
    matches!(r, Reply::Error(e) if ServerError::parse(e).is_transient())
}

/// What the cluster replay needs from outside: connections and the map.
pub struct Access<'a> {
    /// Opens an authenticated connection to a node (`host:port`).
    pub open: &'a dyn Fn(&str) -> Result<Conn, String>,
    /// Reads the slot map again (after `-MOVED`).
    pub discover: &'a dyn Fn() -> Result<Topology, String>,
}

/// One part of a unit, sent to one node.
struct Sending<'a> {
    cmds: Vec<Cmd<'a>>,
    slot: Option<u16>,
    addr: String,
    /// The replies so far, one per command.
    replies: Vec<Reply>,
}

impl Sending<'_> {
    fn refused(&self) -> bool {
        self.replies.iter().any(is_transient)
    }

    /// Whether it must stay after `other` (earlier in the file): the same
    /// slot, or a keyless command on the same node.
    fn ordered_with(&self, other: &Sending<'_>) -> bool {
        match (self.slot, other.slot) {
            (Some(a), Some(b)) => a == b,
            _ => self.addr == other.addr,
        }
    }
}

/// A unit in the window: its parts (a keyless part once per master).
struct Pending<'a> {
    parts: Vec<Sending<'a>>,
}

struct Node {
    conn: Conn,
    buf: Vec<u8>,
    /// (index in the window, index in its parts) per command sent.
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
        st.per_slot += u.per_slot;
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
        let at = self.window.len();
        let mut parts = Vec::new();
        for part in u.parts {
            let targets: Vec<String> = match part.slot {
                Some(s) => vec![self
                    .topo
                    .node_of(s)
                    .ok_or_else(|| format!("slot {s} is served by no master"))?
                    .to_string()],
                None => self.topo.masters.clone(),
            };
            for addr in targets {
                let n = self.node(&addr)?;
                for c in &part.cmds {
                    n.buf.extend_from_slice(&c.raw);
                    n.sent.push((at, parts.len()));
                }
                self.bytes += part.cmds.iter().map(|c| c.raw.len()).sum::<usize>();
                parts.push(Sending {
                    cmds: part.cmds.clone(),
                    slot: part.slot,
                    addr,
                    replies: Vec::new(),
                });
            }
        }
        if !parts.is_empty() {
            self.window.push(Pending { parts });
        }
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
                    Ok(r) => self.window[u].parts[t].replies.push(r),
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
            let complete = p.parts.iter().all(|s| s.replies.len() == s.cmds.len());
            if !complete {
                // Each part is one command, or all of them are the same ones.
                self.unanswered += p.parts[0].cmds.len() as u64;
                if self.stopped.is_none() {
                    let c = &p.parts[0].cmds[0];
                    self.stopped = Some(Stop {
                        reason: lost.clone().unwrap_or_default(),
                        at: Some((self.names[c.seg].clone(), c.offset)),
                    });
                }
                continue;
            }
            for s in p.parts.iter_mut() {
                self.redirect(s);
            }
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

    /// Sends `s` again where a `-MOVED`/`-ASK` says its slot now is.
    fn redirect(&mut self, s: &mut Sending<'a>) {
        for _ in 0..MAX_REDIRECTS {
            let Some((ask, addr)) = s.replies.iter().find_map(|r| match r {
                Reply::Error(e) => match ServerError::parse(e) {
                    ServerError::Moved { addr, .. } => Some((false, addr)),
                    ServerError::Ask { addr, .. } => Some((true, Some(addr))),
                    _ => None,
                },
                _ => None,
            }) else {
                return;
            };
            if !ask {
                if let Ok(t) = (self.access.discover)() {
                    self.topo = t;
                }
            }
            let owner = s
                .slot
                .and_then(|x| self.topo.node_of(x))
                .map(str::to_string);
            let Some(to) = addr.or(owner) else { return };
            match self.send_now(&s.cmds, &to, ask) {
                Ok(replies) => (s.addr, s.replies) = (to, replies),
                Err(e) => {
                    // Keep the redirect replies: the unit counts as failed.
                    self.note(e);
                    return;
                }
            }
        }
    }

    fn note(&mut self, e: String) {
        if self.tally.errors.len() < super::replay::SHOWN_ERRORS {
            self.tally.errors.push(e);
        }
    }

    /// Sends the parts of a window again, after a back-off, while a node
    /// answers them with a transient error ([`is_transient`]); after
    /// [`MAX_TRANSIENT`] rounds they count as failed with the last error.
    /// None of these errors ran anything (in a transaction the refused
    /// command makes `EXEC` answer `EXECABORT`), so sending a whole part
    /// again neither doubles nor loses a write. One wait per round, not per
    /// part: a cluster that is down refuses the whole window at once.
    ///
    /// The order of the file holds per slot: a refused part is not sent
    /// again once a later part of its slot (or, keyless, of its node) has
    /// run, since it would then land after it: it counts as failed and says
    /// so. Within a round, a part waits while an earlier one of its slot is
    /// still refused.
    fn retry_transient(&mut self, ps: &mut [Pending<'a>]) {
        for n in 0..MAX_TRANSIENT {
            let waiting: Vec<(usize, usize)> = (0..ps.len())
                .flat_map(|i| (0..ps[i].parts.len()).map(move |j| (i, j)))
                .filter(|&(i, j)| ps[i].parts[j].refused())
                .collect();
            if waiting.is_empty() {
                return;
            }
            std::thread::sleep(backoff(n));
            // The slot may have moved (a failover, a finished migration).
            if let Ok(t) = (self.access.discover)() {
                self.topo = t;
            }
            let mut held: Vec<(usize, usize)> = Vec::new();
            for (i, j) in waiting {
                if let Some(reason) = overtaken(ps, i, j) {
                    let s = &mut ps[i].parts[j];
                    for r in s.replies.iter_mut().filter(|r| is_transient(r)) {
                        if let Reply::Error(e) = r {
                            *e = format!("{e} ({reason})");
                        }
                    }
                    continue;
                }
                if held
                    .iter()
                    .any(|&(a, b)| ps[i].parts[j].ordered_with(&ps[a].parts[b]))
                {
                    continue;
                }
                if let Err(e) = self.resend(&mut ps[i].parts[j]) {
                    self.note(e);
                    return;
                }
                if ps[i].parts[j].refused() {
                    held.push((i, j));
                }
            }
        }
    }

    /// Sends `s` again to its slot's owner (or, keyless or unmapped, to the
    /// node that refused it).
    fn resend(&mut self, s: &mut Sending<'a>) -> Result<(), String> {
        let owner = s.slot.and_then(|x| self.topo.node_of(x));
        let to = owner.unwrap_or(&s.addr).to_string();
        s.replies = self.send_now(&s.cmds, &to, false)?;
        s.addr = to;
        self.redirect(s);
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
            buf.extend_from_slice(&c.raw);
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

    /// Counts an answered unit: as the commands of its worst part (a part
    /// per master of a keyless command, or per slot of a command cut by
    /// slot: they stand for the same commands), failed where any failed.
    fn count(&mut self, p: &Pending<'a>) {
        let mut worst: Option<Tally> = None;
        for s in &p.parts {
            let mut t = Tally::default();
            for (c, r) in s.cmds.iter().zip(&s.replies) {
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
            self.note(e);
        }
    }
}

/// Why part `j` of unit `i`, refused for now, may no longer be sent: a
/// later part that must stay after it has already run.
fn overtaken(ps: &[Pending<'_>], i: usize, j: usize) -> Option<String> {
    let s = &ps[i].parts[j];
    let later = ps[i + 1..].iter().flat_map(|p| &p.parts);
    let ran = later
        .filter(|o| o.ordered_with(s) && !o.refused())
        .find_map(|o| o.cmds.first())?;
    Some(format!(
        "not sent again: the later command at byte offset {} of the same {} already ran, and this one would land after it",
        ran.offset,
        if s.slot.is_some() { "slot" } else { "node" }
    ))
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn sending(slot: Option<u16>, addr: &str, offset: u64, reply: Reply) -> Sending<'static> {
        let c = Cmd {
            seg: 0,
            offset,
            args: vec![b"SET"],
            raw: Cow::Borrowed(b""),
            db: 0,
        };
        Sending {
            cmds: vec![c],
            slot,
            addr: addr.into(),
            replies: vec![reply],
        }
    }

    fn unit(parts: Vec<Sending<'static>>) -> Pending<'static> {
        Pending { parts }
    }

    fn ok() -> Reply {
        Reply::Status("OK".into())
    }

    fn busy() -> Reply {
        Reply::Error("BUSY Redis is busy running a script".into())
    }

    #[test]
    fn a_refused_command_is_not_sent_after_a_later_one_of_its_slot_ran() {
        let ps = vec![
            unit(vec![sending(Some(1), "n1", 10, busy())]),
            unit(vec![sending(Some(2), "n1", 20, ok())]),
            unit(vec![sending(Some(1), "n1", 30, busy())]),
            unit(vec![sending(Some(1), "n1", 40, ok())]),
        ];
        // Another slot ran (20): no matter; the same slot ran (40): too late.
        let why = overtaken(&ps, 0, 0).expect("overtaken");
        assert!(
            why.contains("byte offset 40") && why.contains("slot"),
            "{why}"
        );
        assert!(overtaken(&ps, 2, 0).is_some());
        // Only refused ones after it: they are sent again in order.
        let ps = vec![
            unit(vec![sending(Some(1), "n1", 10, busy())]),
            unit(vec![sending(Some(1), "n1", 30, busy())]),
        ];
        assert_eq!(overtaken(&ps, 0, 0), None);
    }

    #[test]
    fn keyless_commands_keep_their_place_per_node() {
        let ps = vec![
            unit(vec![
                sending(None, "n1", 10, busy()),
                sending(None, "n2", 10, ok()),
            ]),
            unit(vec![sending(Some(5), "n2", 20, ok())]),
            unit(vec![sending(Some(6), "n1", 30, ok())]),
        ];
        let why = overtaken(&ps, 0, 0).expect("overtaken on n1");
        assert!(
            why.contains("byte offset 30") && why.contains("node"),
            "{why}"
        );
        let ps = vec![
            unit(vec![sending(Some(6), "n1", 10, busy())]),
            unit(vec![sending(None, "n2", 20, ok())]),
        ];
        assert_eq!(overtaken(&ps, 0, 0), None);
    }
}
