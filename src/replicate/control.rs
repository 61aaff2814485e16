//! The control connection: what the target is (standalone, empty, which
//! RDB versions it reads), and the settings a replicated load changes —
//! saved first, restored at the end, also when the load fails.

use crate::load::conn::{Conn, ServerInfo};
use crate::load::resp::Reply;
use crate::load::{target_rdb_version, LoadError};
use crate::redis::ServerError;

/// What the target said about itself before anything was changed.
#[derive(Debug, Clone)]
pub struct TargetFacts {
    pub info: ServerInfo,
    /// The highest RDB version it loads, and whether it is Valkey.
    pub rdb_max: u32,
    pub valkey: bool,
    /// Keys per database (`INFO keyspace`).
    pub keys: Vec<(u64, u64)>,
    /// A replica of another server (`role:slave`).
    pub master_of_it: Option<String>,
    pub connected_replicas: u64,
}

impl TargetFacts {
    pub fn total_keys(&self) -> u64 {
        self.keys.iter().map(|(_, n)| n).sum()
    }
}

fn target_err(c: &Conn, msg: String) -> LoadError {
    LoadError::Target {
        addr: c.addr.clone(),
        msg,
    }
}

/// `db3:keys=5,expires=0,...` lines as (3, 5).
pub fn keyspace(c: &mut Conn) -> Result<Vec<(u64, u64)>, LoadError> {
    Ok(c.info("keyspace")?
        .iter()
        .filter_map(|(k, v)| {
            let db = k.strip_prefix("db")?.parse().ok()?;
            let n = v.split(',').find_map(|p| p.strip_prefix("keys="))?;
            Some((db, n.parse().ok()?))
        })
        .collect())
}

/// Reads what decides whether a replicated load may go ahead.
pub fn facts(c: &mut Conn) -> Result<TargetFacts, LoadError> {
    let info = c.server_info()?;
    let (rdb_max, valkey) = target_rdb_version(
        info.redis_version.as_deref().unwrap_or_default(),
        info.valkey_version.as_deref(),
    );
    let cluster = c.info("cluster")?;
    if cluster
        .iter()
        .any(|(k, v)| k == "cluster_enabled" && v == "1")
    {
        return Err(target_err(
            c,
            "is a cluster node, which cannot replicate from rdbkit (REPLICAOF is refused in \
             cluster mode): write one file per master with `rdbkit split` and load each into \
             an empty standalone server, or use --mode restore"
                .into(),
        ));
    }
    let repl = c.info("replication")?;
    let get = |k: &str| repl.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
    let master_of_it = (get("role").as_deref() == Some("slave")).then(|| {
        format!(
            "{}:{}",
            get("master_host").unwrap_or_default(),
            get("master_port").unwrap_or_default()
        )
    });
    let connected_replicas = get("connected_slaves")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let keys = keyspace(c)?;
    Ok(TargetFacts {
        info,
        rdb_max,
        valkey,
        keys,
        master_of_it,
        connected_replicas,
    })
}

/// A refusal of `CONFIG`/`REPLICAOF` (managed services rename or forbid
/// them), said as such with the way out.
pub fn forbidden(c: &Conn, cmd: &str, e: &str) -> LoadError {
    LoadError::Forbidden {
        addr: c.addr.clone(),
        command: cmd.to_string(),
        source: ServerError::parse(e),
    }
}

/// `CONFIG GET name`: `None` when the server has no such setting.
pub fn config_get(c: &mut Conn, name: &str) -> Result<Option<Vec<u8>>, LoadError> {
    match c.call(&[b"CONFIG", b"GET", name.as_bytes()])? {
        Reply::Error(e) => Err(forbidden(c, "CONFIG GET", &e)),
        r => Ok(r
            .into_array()
            .and_then(|a| a.into_iter().nth(1))
            .and_then(|v| v.as_bytes().map(<[u8]>::to_vec))),
    }
}

/// `CONFIG SET name value`. The value may be a secret: never in the error.
pub fn config_set(c: &mut Conn, name: &str, value: &[u8]) -> Result<(), LoadError> {
    match c.call(&[b"CONFIG", b"SET", name.as_bytes(), value])? {
        Reply::Error(e) => Err(forbidden(c, &format!("CONFIG SET {name}"), &e)),
        _ => Ok(()),
    }
}

/// `REPLICAOF host port` (`NO ONE` with `None`).
pub fn replicaof(c: &mut Conn, master: Option<(&str, u16)>) -> Result<(), LoadError> {
    let port;
    let args: [&[u8]; 3] = match master {
        Some((h, p)) => {
            port = p.to_string();
            [b"REPLICAOF", h.as_bytes(), port.as_bytes()]
        }
        None => [b"REPLICAOF", b"NO", b"ONE"],
    };
    match c.call(&args)? {
        Reply::Error(e) => Err(forbidden(c, "REPLICAOF", &e)),
        _ => Ok(()),
    }
}

/// `INFO replication` fields of a replica.
#[derive(Debug, Clone, Default)]
pub struct LinkState {
    pub master: Option<String>,
    pub link_up: bool,
    pub sync_in_progress: bool,
    pub loading: bool,
}

pub fn link_state(c: &mut Conn) -> Result<LinkState, LoadError> {
    let repl = c.info("replication")?;
    let get = |k: &str| repl.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str());
    let master = (get("role") == Some("slave")).then(|| {
        format!(
            "{}:{}",
            get("master_host").unwrap_or_default(),
            get("master_port").unwrap_or_default()
        )
    });
    let persistence = c.info("persistence")?;
    let loading = persistence
        .iter()
        .any(|(k, v)| (k == "loading" || k == "async_loading") && v == "1");
    Ok(LinkState {
        master,
        link_up: get("master_link_status") == Some("up"),
        sync_in_progress: get("master_sync_in_progress") == Some("1"),
        loading,
    })
}
