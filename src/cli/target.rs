//! Flags about the server written to and how keys land there (target URL
//! and password, conflict policy, target databases, expiries, LRU/LFU),
//! shared by `load`, `resp`, `verify`, `serve`, `rdb` and `split`.

use std::path::Path;

use clap::Args;

use rdbkit::redis::Target;
use rdbkit::restore::{KeyOptions, OnConflict};

use super::Fail;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ConflictArg {
    /// Stop at the first key that exists in the target; leave it untouched.
    Panic,
    /// Overwrite atomically with RESTORE ... REPLACE.
    Rewrite,
    /// Keep the target's key, count it, go on.
    Ignore,
    /// Same as ignore (RedisShake's name).
    Skip,
}

impl From<ConflictArg> for OnConflict {
    fn from(c: ConflictArg) -> Self {
        match c {
            ConflictArg::Panic => OnConflict::Panic,
            ConflictArg::Rewrite => OnConflict::Rewrite,
            ConflictArg::Ignore | ConflictArg::Skip => OnConflict::Ignore,
        }
    }
}

impl ConflictArg {
    pub fn name(self) -> &'static str {
        match self {
            ConflictArg::Panic => "panic",
            ConflictArg::Rewrite => "rewrite",
            ConflictArg::Ignore | ConflictArg::Skip => "ignore",
        }
    }
}

/// `--db-map FROM=TO`, checked at parse time (a bad one is a usage error).
pub fn parse_db_map(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once('=').ok_or("expected FROM=TO, e.g. 3=0")?;
    Ok((
        a.trim().parse().map_err(|_| "FROM is not a db number")?,
        b.trim().parse().map_err(|_| "TO is not a db number")?,
    ))
}

#[derive(Args, Debug, Clone)]
pub struct KeyArgs {
    /// Put every key into this target database (`--db` selects source databases).
    #[arg(long = "target-db")]
    db: Option<u64>,
    /// Map a source database to a target database (repeatable), e.g. 3=0.
    #[arg(long = "db-map", value_parser = parse_db_map)]
    db_map: Vec<(u64, u64)>,
    /// Also restore keys whose expiry has passed (without that expiry).
    #[arg(long)]
    keep_expired: bool,
    /// Shift every expiry by (now - the snapshot's ctime), keeping each key's remaining lifetime.
    #[arg(long)]
    ttl_from_snapshot: bool,
    /// Carry LRU idle times (RESTORE ... IDLETIME).
    #[arg(long)]
    lru: bool,
    /// Carry LFU frequencies (RESTORE ... FREQ).
    #[arg(long)]
    lfu: bool,
}

impl KeyArgs {
    pub fn options(&self) -> KeyOptions {
        KeyOptions {
            db: self.db,
            db_map: self.db_map.clone(),
            keep_expired: self.keep_expired,
            ttl_from_snapshot: self.ttl_from_snapshot,
            lru: self.lru,
            lfu: self.lfu,
            now_ms: None,
        }
    }
}

/// The target URL, with the password from the URL, else `--password-file`
/// (first line), else `REDISCLI_AUTH`. Never printed.
pub fn parse_target(url: &str, password_file: Option<&Path>) -> Result<Target, Fail> {
    let mut target = Target::parse(url).map_err(|e| match e {
        rdbkit::redis::ClientError::Usage(m) => {
            Fail::Usage(format!("--target {}: {m}", mask_password(url)))
        }
        other => Fail::Runtime(other.to_string()),
    })?;
    if target.auth.pass.is_none() {
        if let Some(p) = password_file {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            target.auth.pass = Some(text.lines().next().unwrap_or("").to_string());
        } else if let Ok(p) = std::env::var("REDISCLI_AUTH") {
            target.auth.pass = Some(p);
        }
    }
    Ok(target)
}

/// A URL's password replaced by `***` (secrets never echoed).
pub fn mask_password(x: &str) -> String {
    let Some((scheme, rest)) = x.split_once("://") else {
        return x.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return x.to_string();
    };
    let user = userinfo.split_once(':').map_or("", |u| u.0);
    format!("{scheme}://{user}:***@{host}")
}
