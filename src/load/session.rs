//! The handshake with the target before anything is read: which server it
//! is (what payload versions and commands it takes), whether it is a
//! cluster, and the control connection kept for `SELECT` checks and slot
//! map refreshes.

use super::{LoadError, LoadOptions};
use crate::redis::conn::{Conn, ConnectOptions};
use crate::redis::session::Handshake;
use crate::restore::commands::TargetFeatures;
use crate::restore::{now_ms, target_features, target_rdb_version};

/// What the handshake learned of the target.
pub(super) struct Session {
    /// The control connection (not used for keys).
    pub control: Conn,
    /// How every further connection of the run is opened.
    pub connect: ConnectOptions,
    /// "redis 7.0.15" or the like, for notes and failure reasons.
    pub server_version: String,
    /// The newest RDB version whose payloads the target reads.
    pub target_max: u32,
    /// Valkey reads neither Redis's 12..=79 payload versions.
    pub target_valkey: bool,
    /// What command mode may use on this target.
    pub features: TargetFeatures,
    pub cluster: bool,
}

impl Session {
    /// The shared handshake, then what a load needs of the server; refuses
    /// a database other than 0 on a cluster.
    pub fn open(opts: &LoadOptions) -> Result<Session, LoadError> {
        let target = &opts.target;
        let hs = Handshake::open(target, &opts.tls, opts.io_timeout, opts.cluster)?;
        if hs.db_beyond_cluster(target.db, opts.keys.db) {
            return Err(LoadError::Usage(format!(
                "the target is a Redis Cluster, which has only database 0, but {} asks for database {}",
                if opts.keys.db.unwrap_or(0) != 0 {
                    "--target-db"
                } else {
                    "--target's /N"
                },
                opts.keys.db.or(target.db).unwrap_or(0)
            )));
        }
        let redis_version = hs.info.redis_version.as_deref().unwrap_or_default();
        let valkey = hs.info.valkey_version.as_deref();
        let (target_max, target_valkey) = target_rdb_version(redis_version, valkey);
        let mut features = target_features(redis_version, valkey);
        features.lossy = opts.lossy;
        features.now_ms = if opts.keys.keep_expired {
            0
        } else {
            opts.keys.now_ms.unwrap_or_else(now_ms)
        };
        Ok(Session {
            server_version: hs.info.name(),
            control: hs.control,
            connect: hs.connect,
            target_max,
            target_valkey,
            features,
            cluster: hs.cluster,
        })
    }

    /// Whether the target reads payloads of RDB `version` (`None`: JSON Lines).
    pub fn reads(&self, version: Option<u32>) -> bool {
        version.is_some_and(|v| {
            v <= self.target_max && !(self.target_valkey && (12..=79).contains(&v))
        })
    }
}
