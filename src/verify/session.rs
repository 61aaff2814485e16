//! The handshake with the target before anything is read: which server it
//! is (what it can answer), whether it is a cluster, whether it has modules,
//! and the control connection kept for `SELECT` checks and slot map
//! refreshes.

use super::{major_minor, target_features, VerifyError, VerifyOptions};
use crate::redis::conn::{Conn, ConnectOptions};
use crate::redis::resp::Reply;
use crate::redis::session::Handshake;
use crate::verify::probe::Features;

/// What the handshake learned of the target.
pub(super) struct Session {
    /// The control connection (not used for keys).
    pub control: Conn,
    /// How every further connection of the run is opened.
    pub connect: ConnectOptions,
    /// "redis 7.0.15" or the like, for the summary.
    pub target_name: String,
    pub features: Features,
    /// Valkey 9+ reads type bytes >= 22 in its own dialect.
    pub target_valkey_types: bool,
    pub cluster: bool,
    /// Module values can be compared (by `DUMP` payload only).
    pub modules: bool,
}

impl Session {
    /// The shared handshake, then `MODULE LIST`; refuses a database other
    /// than 0 on a cluster.
    pub fn open(opts: &VerifyOptions) -> Result<Session, VerifyError> {
        let mut hs = Handshake::open(&opts.target, &opts.tls, opts.io_timeout, opts.cluster)?;
        if hs.db_beyond_cluster(opts.target.db, opts.keys.db) {
            return Err(VerifyError::Usage(
                "a Redis Cluster has only database 0".into(),
            ));
        }
        let redis_version = hs.info.redis_version.as_deref().unwrap_or_default();
        let valkey_version = hs.info.valkey_version.as_deref();
        let features = target_features(redis_version, valkey_version);
        let target_valkey_types = valkey_version.is_some_and(|v| major_minor(v).0 >= 9);
        let modules = matches!(
            hs.control.call(&[b"MODULE", b"LIST"])?,
            Reply::Array(Some(m)) if !m.is_empty()
        );
        Ok(Session {
            target_name: hs.info.name(),
            control: hs.control,
            connect: hs.connect,
            features,
            target_valkey_types,
            cluster: hs.cluster,
            modules,
        })
    }
}
