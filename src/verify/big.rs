//! Huge keys, checked page by page on a thread of their own: each page of
//! probes is sent as soon as the decoder has produced it, its replies are
//! judged, and the walk stops at the first difference. Memory stays at one
//! page (about 1 MiB of expected data) whatever the size of the key.
//!
//! Redirects are followed here: `MOVED` to the named node, `ASK` with
//! `ASKING` before every command; the key is then checked again from the
//! start (at most 16 times).

use std::collections::HashMap;
use std::sync::mpsc::{Receiver, Sender};

use std::time::Duration;

use crate::rdb::value::Scratch;
use crate::redis::cluster::Topology;
use crate::redis::conn::{Conn, ConnectOptions};
use crate::redis::resp::{self, Reply};
use crate::redis::Auth;

use super::eval::{Evaluator, RedirectKind, Verdict};
use super::node::{ensure_probes, NodeConfig};
use super::probe::{self, BuildNotes, Built, Decided, PageSink, Probes};
use super::{KeyCheck, Method, Msg, Outcome};

/// Where the big-key thread connects.
pub struct BigTarget {
    pub standalone: String,
    pub topology: Option<Topology>,
    pub auth: Auth,
    pub connect: ConnectOptions,
}

struct Node {
    conn: Conn,
    db: u64,
}

/// Runs one page on a connection and feeds the evaluator.
struct Sink<'c, 'r> {
    conn: &'c mut Conn,
    eval: Evaluator<'r>,
    asking: bool,
    buf: Vec<u8>,
    /// A page could not be sent or its replies read: the connection is
    /// unusable and is dropped after this key.
    lost: bool,
}

impl PageSink for Sink<'_, '_> {
    fn page(&mut self, p: &mut Probes) -> Result<(), Decided> {
        let r = run_page(self.conn, p, self.asking, &mut self.buf);
        match r {
            Ok(replies) => self.eval.feed(p, &replies),
            Err(e) => {
                self.lost = true;
                self.eval.fail(e);
            }
        }
        if self.eval.decided() {
            Err(Decided)
        } else {
            Ok(())
        }
    }
}

/// Sends `p`'s commands and reads their replies.
fn run_page(
    conn: &mut Conn,
    p: &Probes,
    asking: bool,
    buf: &mut Vec<u8>,
) -> Result<Vec<Reply>, String> {
    use std::io::Write;
    buf.clear();
    for i in 0..p.starts.len() {
        if asking {
            resp::command(buf, &[b"ASKING"]);
        }
        buf.extend_from_slice(p.command(i));
    }
    conn.writer
        .write_all(buf)
        .map_err(|e| format!("{}: write failed: {e}", conn.addr))?;
    let mut out = Vec::with_capacity(p.starts.len());
    for _ in 0..p.starts.len() {
        if asking {
            resp::read_reply(&mut conn.reader)
                .map_err(|e| format!("{}: connection lost: {e}", conn.addr))?;
        }
        out.push(
            resp::read_reply(&mut conn.reader)
                .map_err(|e| format!("{}: connection lost: {e}", conn.addr))?,
        );
    }
    Ok(out)
}

/// The big-key loop: checks each key it receives and reports to `to_main`.
pub fn run<'a>(
    rx: Receiver<KeyCheck<'a>>,
    to_main: Sender<Msg<'a>>,
    target: BigTarget,
    cfg: NodeConfig,
) {
    let mut nodes: HashMap<String, Node> = HashMap::new();
    let mut scratch = Scratch::default();
    for mut check in rx.iter() {
        check.method = Method::Paged;
        let mut addr = match &target.topology {
            None => target.standalone.clone(),
            Some(t) => match t.node_of(check.slot) {
                Some(a) => a.to_string(),
                None => {
                    let verdict = Verdict::Error(format!(
                        "CLUSTERDOWN slot {} is not served by any node",
                        check.slot
                    ));
                    let _ = to_main.send(Msg::Outcomes(vec![Outcome { check, verdict }]));
                    continue;
                }
            },
        };
        let mut asking = false;
        let verdict = loop {
            let v = check_on(
                &mut nodes,
                &addr,
                &target,
                &cfg,
                &mut check,
                asking,
                &mut scratch,
            );
            match v {
                Verdict::Redirect(rd) if check.attempts < 16 => {
                    check.attempts += 1;
                    match rd {
                        RedirectKind::Moved(_, Some(a)) => {
                            addr = a;
                            asking = false;
                        }
                        RedirectKind::Ask(a) => {
                            addr = a;
                            asking = true;
                        }
                        RedirectKind::Moved(_, None) | RedirectKind::Retry => {
                            std::thread::sleep(Duration::from_millis(50 * check.attempts as u64));
                        }
                    }
                }
                Verdict::Redirect(_) => {
                    break Verdict::Error("too many redirects or retries".into())
                }
                v => break v,
            }
        };
        check.probes = None;
        if to_main
            .send(Msg::Outcomes(vec![Outcome { check, verdict }]))
            .is_err()
        {
            return;
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn check_on(
    nodes: &mut HashMap<String, Node>,
    addr: &str,
    target: &BigTarget,
    cfg: &NodeConfig,
    check: &mut KeyCheck<'_>,
    asking: bool,
    scratch: &mut Scratch,
) -> Verdict {
    if !nodes.contains_key(addr) {
        match Conn::open(addr, &target.auth, &target.connect) {
            Ok(conn) => {
                nodes.insert(addr.to_string(), Node { conn, db: 0 });
            }
            Err(e) => return Verdict::Error(e.to_string()),
        }
    }
    let node = nodes.get_mut(addr).expect("just opened");
    if node.db != check.db {
        match node
            .conn
            .call(&[b"SELECT", itoa::Buffer::new().format(check.db).as_bytes()])
        {
            Ok(Reply::Error(e)) => return Verdict::Error(format!("{addr}: SELECT failed: {e}")),
            Ok(_) => node.db = check.db,
            Err(e) => {
                nodes.remove(addr);
                return Verdict::Error(e.to_string());
            }
        }
    }
    if matches!(
        check.rec.vtype.kind(),
        crate::rdb::value::Kind::Module | crate::rdb::value::Kind::Array
    ) {
        // A module value (or array) is one DUMP, however big.
        check.method = Method::Module;
        check.probes = None;
        if let Err(v) = ensure_probes(check, cfg, scratch) {
            return v;
        }
        let p = check.probes.take().expect("built");
        let mut buf = Vec::new();
        let mut ev = Evaluator::new(
            &check.rec,
            check.expire_ms,
            cfg.build.features.pexpiretime,
            cfg.build.tolerance_ms,
        );
        match run_page(&mut node.conn, &p, asking, &mut buf) {
            Ok(replies) => ev.feed(&p, &replies),
            Err(e) => {
                nodes.remove(addr);
                return Verdict::Error(e);
            }
        }
        return ev.finish();
    }
    let rec = check.rec.clone();
    let mut sink = Sink {
        conn: &mut node.conn,
        eval: Evaluator::new(
            &rec,
            check.expire_ms,
            cfg.build.features.pexpiretime,
            cfg.build.tolerance_ms,
        ),
        asking,
        buf: Vec::new(),
        lost: false,
    };
    let mut p = Probes::default();
    let mut notes = BuildNotes::default();
    let r = probe::build(
        &mut p,
        &check.key,
        &rec,
        check.expire_ms,
        &cfg.build,
        scratch,
        Some(&mut sink),
        &mut notes,
    );
    check.notes = notes;
    let lost = sink.lost;
    let verdict = match r {
        Ok(Built::AllFieldsExpired) => Verdict::AllFieldsExpired,
        Ok(_) => sink.eval.finish(),
        Err(e) => Verdict::Error(format!("corrupt value in the file: {e}")),
    };
    if lost {
        nodes.remove(addr);
    }
    verdict
}
