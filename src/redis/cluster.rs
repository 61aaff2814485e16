//! Cluster topology: which master serves each of the 16384 slots, from
//! `CLUSTER SHARDS` (Redis 7.0+), falling back to `CLUSTER SLOTS`.

use super::conn::Conn;
use super::error::{ClientError, ServerError};
use super::resp::Reply;
use super::slot::SLOTS;

/// Slot owners.
#[derive(Debug, Clone)]
pub struct Topology {
    /// Master addresses (`host:port`).
    pub masters: Vec<String>,
    /// Per slot, an index into `masters` (`u16::MAX` when unassigned).
    pub owner: Vec<u16>,
    /// Every node seen (masters and replicas): where to ask for the map
    /// again when the node we asked fails.
    pub nodes: Vec<String>,
}

impl Topology {
    pub fn node_of(&self, slot: u16) -> Option<&str> {
        match self.owner.get(slot as usize) {
            Some(&i) if i != u16::MAX => self.masters.get(i as usize).map(|s| s.as_str()),
            _ => None,
        }
    }

    /// Records a new owner for one slot (from a `-MOVED` reply).
    pub fn set_owner(&mut self, slot: u16, addr: String) {
        if (slot as usize) < self.owner.len() {
            let _ = self.add(addr, slot as i64, slot as i64);
        }
    }

    /// Remembers a node (any role) to ask for the map later.
    fn note_node(&mut self, addr: String) {
        if !self.nodes.contains(&addr) {
            self.nodes.push(addr);
        }
    }

    fn add(&mut self, addr: String, start: i64, end: i64) -> Result<(), String> {
        if !(0..SLOTS as i64).contains(&start) || !(0..SLOTS as i64).contains(&end) || start > end {
            return Err(format!("bad slot range {start}-{end}"));
        }
        let idx = match self.masters.iter().position(|m| *m == addr) {
            Some(i) => i,
            None => {
                self.masters.push(addr);
                self.masters.len() - 1
            }
        } as u16;
        for s in start..=end {
            self.owner[s as usize] = idx;
        }
        Ok(())
    }
}

/// `host:port` and port of a `CLUSTER SLOTS` node entry (`[ip, port, id,
/// ...]`), with `fallback_host` for an unknown IP (port -1 when missing).
fn slots_node(n: &[Reply], fallback_host: &str) -> (String, i64) {
    let ip = String::from_utf8_lossy(n.first().and_then(|v| v.as_bytes()).unwrap_or_default())
        .into_owned();
    let ip = if ip.is_empty() || ip == "?" {
        fallback_host
    } else {
        &ip
    };
    let port = n.get(1).and_then(|v| v.as_int()).unwrap_or(-1);
    (join(ip, port), port)
}

fn join(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Reads the slot map through `conn`. `fallback_host` replaces an empty or
/// `?` announced IP (a node that does not know its own address).
pub fn discover(conn: &mut Conn, fallback_host: &str) -> Result<Topology, ClientError> {
    let mut t = Topology {
        masters: Vec::new(),
        owner: vec![u16::MAX; SLOTS as usize],
        nodes: Vec::new(),
    };
    let addr = conn.addr.clone();
    let bad = |m: String| ClientError::Target {
        addr: addr.clone(),
        msg: format!("cannot read the cluster slot map: {m}"),
    };
    match conn.call(&[b"CLUSTER", b"SHARDS"])? {
        Reply::Array(Some(shards)) => {
            for shard in shards {
                let kv = shard
                    .into_array()
                    .ok_or_else(|| bad("shard is not an array".into()))?;
                let (mut slots, mut nodes) = (Vec::new(), Vec::new());
                for pair in kv.chunks(2) {
                    match (pair[0].as_bytes(), pair.get(1)) {
                        (Some(b"slots"), Some(Reply::Array(Some(s)))) => slots = s.clone(),
                        (Some(b"nodes"), Some(Reply::Array(Some(n)))) => nodes = n.clone(),
                        _ => {}
                    }
                }
                let mut master = None;
                for n in nodes {
                    let kv = n.into_array().unwrap_or_default();
                    let (mut ip, mut port, mut role, mut health) =
                        (String::new(), -1i64, String::new(), String::from("online"));
                    for p in kv.chunks(2) {
                        let k = p[0].as_bytes().unwrap_or_default();
                        let v = p.get(1);
                        match k {
                            b"ip" | b"endpoint" if ip.is_empty() || ip == "?" => {
                                ip = String::from_utf8_lossy(
                                    v.and_then(|v| v.as_bytes()).unwrap_or_default(),
                                )
                                .into_owned()
                            }
                            b"port" => port = v.and_then(|v| v.as_int()).unwrap_or(-1),
                            b"role" => {
                                role = String::from_utf8_lossy(
                                    v.and_then(|v| v.as_bytes()).unwrap_or_default(),
                                )
                                .into_owned()
                            }
                            b"health" => {
                                health = String::from_utf8_lossy(
                                    v.and_then(|v| v.as_bytes()).unwrap_or_default(),
                                )
                                .into_owned()
                            }
                            _ => {}
                        }
                    }
                    if ip.is_empty() || ip == "?" {
                        ip = fallback_host.to_string();
                    }
                    if port > 0 {
                        t.note_node(join(&ip, port));
                    }
                    if role == "master" && health != "failed" && port > 0 {
                        master = Some(join(&ip, port));
                    }
                }
                if let Some(m) = master {
                    let ints: Vec<i64> = slots.iter().filter_map(|r| r.as_int()).collect();
                    for r in ints.chunks(2) {
                        if r.len() == 2 {
                            t.add(m.clone(), r[0], r[1]).map_err(bad)?;
                        }
                    }
                }
            }
        }
        Reply::Error(e) if ServerError::parse(&e).is_cluster_disabled() => {
            return Err(ClientError::Target {
                addr: addr.clone(),
                msg: "--cluster: this server is not a Redis Cluster (cluster support \
                      disabled); leave --cluster out"
                    .into(),
            })
        }
        Reply::Error(_) => {
            // Older than 7.0: CLUSTER SLOTS.
            let r = conn.call_ok(&[b"CLUSTER", b"SLOTS"])?;
            for range in r
                .into_array()
                .ok_or_else(|| bad("CLUSTER SLOTS reply is not an array".into()))?
            {
                let a = range
                    .into_array()
                    .ok_or_else(|| bad("slot range is not an array".into()))?;
                if a.len() < 3 {
                    return Err(bad("short slot range".into()));
                }
                let (start, end) = (a[0].as_int().unwrap_or(-1), a[1].as_int().unwrap_or(-1));
                let Reply::Array(Some(node)) = &a[2] else {
                    return Err(bad("node is not an array".into()));
                };
                t.add(slots_node(node, fallback_host).0, start, end)
                    .map_err(bad)?;
                // The master and its replicas.
                for n in &a[2..] {
                    if let Reply::Array(Some(n)) = n {
                        if let (addr, 1..) = slots_node(n, fallback_host) {
                            t.note_node(addr);
                        }
                    }
                }
            }
        }
        other => return Err(bad(format!("unexpected reply {other:?}"))),
    }
    if t.masters.is_empty() {
        return Err(bad("no master serves any slot".into()));
    }
    Ok(t)
}
