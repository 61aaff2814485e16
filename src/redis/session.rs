//! The handshake every run against a target begins with (`load` and
//! `verify` alike): open the control connection, learn which server it is,
//! and whether it is a cluster. What each command then derives from it
//! (payload versions, probe features, modules) stays with that command.

use std::time::Duration;

use super::conn::{Conn, ConnectOptions, ServerInfo, TlsFiles};
use super::error::ClientError;
use super::target::Target;

/// What the handshake learned of the target.
pub struct Handshake {
    /// The control connection (not used for keys).
    pub control: Conn,
    /// How every further connection of the run is opened.
    pub connect: ConnectOptions,
    /// The server's versions, from `INFO server`.
    pub info: ServerInfo,
    /// Whether the target is a Redis Cluster (asked unless the user said).
    pub cluster: bool,
}

impl Handshake {
    /// Connects and asks `INFO server`, then `INFO cluster` unless
    /// `cluster` says already whether the target is one.
    pub fn open(
        target: &Target,
        tls: &TlsFiles,
        io_timeout: Option<Duration>,
        cluster: Option<bool>,
    ) -> Result<Handshake, ClientError> {
        let (mut control, connect) = Conn::open_target(target, tls, io_timeout)?;
        let info = control.server_info()?;
        let cluster = match cluster {
            Some(c) => c,
            None => control
                .info("cluster")?
                .iter()
                .any(|(k, v)| k == "cluster_enabled" && v == "1"),
        };
        Ok(Handshake {
            control,
            connect,
            info,
            cluster,
        })
    }

    /// Whether a run asks for a database a cluster does not have (a
    /// cluster serves database 0 only): the URL's `/N` or `--target-db`.
    pub fn db_beyond_cluster(&self, url_db: Option<u64>, keys_db: Option<u64>) -> bool {
        self.cluster && (url_db.unwrap_or(0) != 0 || keys_db.unwrap_or(0) != 0)
    }
}
