//! Finding the server to fetch from through Redis Sentinel:
//! `sentinel://[user:pass@]host:26379[,host2:26379...]/MASTER_NAME[?role=replica|master]`.
//!
//! Sentinels are asked in the order given until one answers. With
//! `role=replica` (the default) the snapshot is taken from a healthy
//! replica of the master (no `s_down`/`o_down`/`disconnected` flag, master
//! link up), the one most advanced in replication; the master itself is
//! never loaded with a fork for a backup. `role=master` asks the master.
//! Credentials in the URL are for the data node (as in a `redis://` URL);
//! sentinels are asked without a password unless `sentinel_auth` is given.

use crate::load::conn::Conn;
use crate::load::resp::Reply;
use crate::load::target::{Auth, Target};

/// Which node of the replication group the snapshot comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Replica,
    Master,
}

/// A parsed `sentinel://` URL.
#[derive(Debug, Clone)]
pub struct SentinelUrl {
    /// `host:port` of each sentinel.
    pub sentinels: Vec<String>,
    pub master: String,
    pub role: Role,
    /// Credentials of the data node (never printed).
    pub auth: Auth,
    /// Connect to the data node with TLS (`?tls=1`).
    pub tls: bool,
}

impl SentinelUrl {
    /// Parses the URL. Errors never echo the credentials.
    pub fn parse(url: &str) -> Result<SentinelUrl, String> {
        let rest = url
            .strip_prefix("sentinel://")
            .ok_or("a sentinel URL starts with sentinel://")?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (auth, rest) = match rest.rfind('@') {
            Some(i) => {
                // Reuse the target parser for the user:password part.
                let t = Target::parse(&format!("redis://{}@h:1", &rest[..i]))
                    .map_err(|e| e.to_string())?;
                (t.auth, &rest[i + 1..])
            }
            None => (Auth::default(), rest),
        };
        let (hosts, master) = rest
            .split_once('/')
            .ok_or("the sentinel URL names no master: sentinel://host:26379/MASTER_NAME")?;
        if master.is_empty() {
            return Err(
                "the sentinel URL names no master: sentinel://host:26379/MASTER_NAME".into(),
            );
        }
        let sentinels: Vec<String> = hosts
            .split(',')
            .filter(|h| !h.is_empty())
            .map(|h| {
                if h.contains(':') {
                    h.to_string()
                } else {
                    format!("{h}:26379")
                }
            })
            .collect();
        if sentinels.is_empty() {
            return Err("the sentinel URL names no sentinel".into());
        }
        let mut role = Role::Replica;
        let mut tls = false;
        for kv in query.split('&').filter(|s| !s.is_empty()) {
            match kv.split_once('=').unwrap_or((kv, "")) {
                ("role", "replica" | "slave") => role = Role::Replica,
                ("role", "master") => role = Role::Master,
                ("tls", "1" | "true" | "yes") => tls = true,
                ("tls", "0" | "false" | "no") => tls = false,
                (k, _) => {
                    return Err(format!(
                        "unknown sentinel URL option {k:?} (role=replica|master, tls=1)"
                    ))
                }
            }
        }
        Ok(SentinelUrl {
            sentinels,
            master: master.to_string(),
            role,
            auth,
            tls,
        })
    }

    /// The data node to fetch from, asking each sentinel in turn.
    pub fn resolve(&self, sentinel_auth: &Auth) -> Result<Target, String> {
        let mut errors = Vec::new();
        for s in &self.sentinels {
            match self.ask(s, sentinel_auth) {
                Ok((host, port)) => {
                    return Ok(Target {
                        host,
                        port,
                        db: None,
                        tls: self.tls,
                        auth: self.auth.clone(),
                    })
                }
                Err(e) => errors.push(format!("sentinel {s}: {e}")),
            }
        }
        Err(errors.join("; "))
    }

    fn ask(&self, sentinel: &str, auth: &Auth) -> Result<(String, u16), String> {
        let mut c = Conn::open(sentinel, auth, &crate::redis::ConnectOptions::default())
            .map_err(|e| e.to_string())?;
        let name = self.master.as_bytes();
        let master = c
            .call_ok(&[b"SENTINEL", b"get-master-addr-by-name", name])
            .map_err(|e| e.to_string())?;
        let addr = master
            .into_array()
            .ok_or_else(|| format!("knows no master named {:?}", self.master))?;
        let host_port = |ip: Option<&[u8]>, port: Option<&[u8]>| -> Option<(String, u16)> {
            let ip = String::from_utf8(ip?.to_vec()).ok()?;
            let port = std::str::from_utf8(port?).ok()?.parse().ok()?;
            Some((ip, port))
        };
        let master = host_port(
            addr.first().and_then(Reply::as_bytes),
            addr.get(1).and_then(Reply::as_bytes),
        )
        .ok_or("bad reply to SENTINEL get-master-addr-by-name")?;
        if self.role == Role::Master {
            return Ok(master);
        }
        let replicas = c
            .call_ok(&[b"SENTINEL", b"replicas", name])
            .map_err(|e| e.to_string())?
            .into_array()
            .unwrap_or_default();
        let mut best: Option<(i64, (String, u16))> = None;
        for r in replicas {
            let fields = fields(r);
            let get = |k: &str| fields.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
            let flags = get("flags").unwrap_or("");
            let healthy = !flags
                .split(',')
                .any(|f| matches!(f, "s_down" | "o_down" | "disconnected"))
                && get("master-link-status") == Some("ok");
            let addr = host_port(get("ip").map(str::as_bytes), get("port").map(str::as_bytes));
            let offset = get("slave-repl-offset")
                .and_then(|o| o.parse().ok())
                .unwrap_or(0);
            if let (true, Some(a)) = (healthy, addr) {
                if best.as_ref().is_none_or(|(o, _)| offset > *o) {
                    best = Some((offset, a));
                }
            }
        }
        best.map(|(_, a)| a).ok_or_else(|| {
            format!(
                "no healthy replica of {:?} (add ?role=master to take the snapshot from the master)",
                self.master
            )
        })
    }
}

/// A sentinel's flat `[k1, v1, k2, v2...]` (or RESP3 map) as text pairs.
fn fields(r: Reply) -> Vec<(String, String)> {
    let items = r.into_array().unwrap_or_default();
    items
        .chunks(2)
        .filter_map(|kv| {
            let k = String::from_utf8_lossy(kv.first()?.as_bytes()?).into_owned();
            let v = String::from_utf8_lossy(kv.get(1)?.as_bytes()?).into_owned();
            Some((k, v))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let u = SentinelUrl::parse("sentinel://:pw@a:1,b/mymaster?role=master&tls=1").unwrap();
        assert_eq!(u.sentinels, ["a:1", "b:26379"]);
        assert_eq!(u.master, "mymaster");
        assert_eq!(u.role, Role::Master);
        assert!(u.tls);
        assert_eq!(u.auth.pass.as_deref(), Some("pw"));
        let u = SentinelUrl::parse("sentinel://h:26379/m").unwrap();
        assert_eq!(u.role, Role::Replica);
        assert!(SentinelUrl::parse("sentinel://h:26379/").is_err());
        assert!(SentinelUrl::parse("sentinel://h/m?x=1").is_err());
        let e = SentinelUrl::parse("sentinel://u:secret@h/m?x=1").unwrap_err();
        assert!(!e.contains("secret"));
    }
}
