//! The command line: clap flags become a configuration for library calls.
//! No format or conversion logic lives here.

use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use rdbkit::filter::{self, Expiry, Filter, Pattern};
use rdbkit::input::Input;
use rdbkit::load::{self, Ending, LoadMode, LoadOptions};
use rdbkit::outpath::{self, Output};
use rdbkit::output::respout;
use rdbkit::rdb::value::Kind;
use rdbkit::redis::Target;
use rdbkit::restore::commands::{BatchLimits, TargetFeatures};
use rdbkit::restore::{self, InputFile, KeyOptions, OnConflict};
use rdbkit::scan::{Corrupt, CorruptPolicy, EngineOptions};
use rdbkit::sink::json::{self, JsonOptions};
use rdbkit::sink::{stats, SinkError};

mod aof;
mod export;
mod fetch;
mod memory;
mod progress;
mod rdb;
mod replicate;
mod serve;
mod verify;

/// Exit codes (documented in the README).
pub mod exit {
    pub const OK: u8 = 0;
    /// Format error in the input (with its byte offset), checksum mismatch,
    /// unreachable target, I/O error, or any other runtime failure.
    pub const FAILURE: u8 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: u8 = 2;
    /// `load --on-conflict panic` stopped at a key that already exists.
    pub const CONFLICT: u8 = 3;
    /// `load` finished (or stopped at `--max-errors`) with keys that failed.
    pub const FAILED_KEYS: u8 = 4;
    /// `--skip-corrupt`: the run finished, but damaged records were left out
    /// or the checksum did not match.
    pub const DAMAGED: u8 = 6;
    /// `verify` found keys missing or different on the target.
    pub const DIFFERENCES: u8 = 5;
}

/// Why a command failed, which decides the exit code.
#[derive(Debug)]
pub enum Fail {
    /// A bad command line found after parsing (exit 2).
    Usage(String),
    /// Anything else (exit 1).
    Runtime(String),
}

impl From<String> for Fail {
    fn from(s: String) -> Self {
        Fail::Runtime(s)
    }
}

impl From<&str> for Fail {
    fn from(s: &str) -> Self {
        Fail::Runtime(s.to_string())
    }
}

impl From<outpath::SamePathError> for Fail {
    fn from(e: outpath::SamePathError) -> Self {
        Fail::Usage(e.to_string())
    }
}

/// Refuses an output that is an input (exit 2); see [`outpath::check`].
fn check_outputs(inputs: &[PathBuf], outputs: &[(&str, Option<&PathBuf>)]) -> Result<(), Fail> {
    let ins: Vec<&Path> = inputs.iter().map(|p| p.as_path()).collect();
    let outs: Vec<(&str, &Path)> = outputs
        .iter()
        .filter_map(|(o, p)| p.map(|p| (*o, p.as_path())))
        .collect();
    Ok(outpath::check(&ins, &outs)?)
}

#[derive(Parser, Debug)]
#[command(
    name = "rdbkit",
    version,
    about = "Read Redis/Valkey RDB snapshot files: convert, load, inspect"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Debug, Clone)]
struct Common {
    /// Worker threads, 1 to 1024 (default: all cores).
    #[arg(long, short = 'j', value_parser = parse_threads)]
    threads: Option<usize>,
    /// No progress bar and no summary on stderr (errors and warnings still
    /// show; `--json` output still goes to stdout).
    #[arg(long, short)]
    quiet: bool,
    /// Do not verify the CRC-64 trailer.
    #[arg(long)]
    no_checksum: bool,
    /// Leave damaged records out (reported on stderr with their offset and
    /// key) and go on from the next readable record, instead of stopping at
    /// the first; a checksum mismatch becomes a warning. Exit code 6 if
    /// anything was skipped.
    #[arg(long)]
    skip_corrupt: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

/// Record filters, shared by every command. Checked on the key, type, expiry
/// and value span only: a dropped record's value is never decoded.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Filters")]
struct FilterArgs {
    /// Only keys of this source database (repeatable).
    #[arg(long = "db", value_name = "N")]
    dbs: Vec<u64>,
    /// Only keys matching this Redis glob (`*`, `?`, `[a-z]`, `\x`; repeatable).
    #[arg(long = "key", value_name = "GLOB")]
    keys: Vec<String>,
    /// Only keys matching this regex over the key's bytes (unanchored; repeatable).
    #[arg(long = "key-regex", value_name = "RE", value_parser = regex_arg)]
    key_regexes: Vec<String>,
    /// Leave out keys matching this glob (repeatable).
    #[arg(long = "not-key", value_name = "GLOB")]
    not_keys: Vec<String>,
    /// Leave out keys matching this regex (repeatable).
    #[arg(long = "not-key-regex", value_name = "RE", value_parser = regex_arg)]
    not_key_regexes: Vec<String>,
    /// Only these types: string,list,set,zset,hash,stream,module (repeatable).
    #[arg(long = "type", value_name = "TYPES", value_parser = filter::parse_types)]
    types: Vec<Vec<Kind>>,
    /// Only values of at least this serialized size (e.g. 512, 10k, 4M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    min_bytes: Option<u64>,
    /// Only values of at most this serialized size.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_bytes: Option<u64>,
    /// Only keys with an expiry.
    #[arg(long, conflicts_with = "persistent")]
    expiring: bool,
    /// Only keys without an expiry.
    #[arg(long)]
    persistent: bool,
    /// Leave out keys whose expiry is already past (now, by this machine's clock).
    #[arg(long)]
    skip_expired: bool,
}

/// `-j`: at least one thread, and no more than could ever help (each
/// thread holds chunks in flight; 100000 threads took seconds to start).
fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n @ 1..=1024) => Ok(n),
        Ok(0) => Err("must be at least 1".into()),
        Ok(_) => Err("at most 1024".into()),
        Err(_) => Err(format!("not a number: {s:?}")),
    }
}

/// A size flag that sizes a buffer (see [`parse_size`]).
fn parse_size_usize(s: &str) -> Result<usize, String> {
    parse_size(s).and_then(|n| usize::try_from(n).map_err(|_| format!("too large: {s:?}")))
}

/// Checks a regex at parse time, so a bad one is a usage error (exit 2).
fn regex_arg(s: &str) -> Result<String, String> {
    Pattern::regex(s).map(|_| s.to_string())
}

/// `123`, `10k`, `4M`, `1G` (binary multiples; a trailing `b`/`B`/`iB` is allowed).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix(['b', 'B']))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        Some('t' | 'T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("not a size: {s:?} (e.g. 512, 10k, 4M)"))
}

impl FilterArgs {
    fn build(&self) -> Result<Option<Filter>, String> {
        let mut keys: Vec<Pattern> = self.keys.iter().map(|g| Pattern::glob(g)).collect();
        for r in &self.key_regexes {
            keys.push(Pattern::regex(r)?);
        }
        let mut not_keys: Vec<Pattern> = self.not_keys.iter().map(|g| Pattern::glob(g)).collect();
        for r in &self.not_key_regexes {
            not_keys.push(Pattern::regex(r)?);
        }
        let f = Filter {
            dbs: self.dbs.clone(),
            keys,
            not_keys,
            types: self.types.iter().flatten().copied().collect(),
            min_bytes: self.min_bytes,
            max_bytes: self.max_bytes,
            expiry: if self.expiring {
                Some(Expiry::Expiring)
            } else if self.persistent {
                Some(Expiry::Persistent)
            } else {
                None
            },
            expired_before_ms: self.skip_expired.then(restore::now_ms),
        };
        Ok((!f.is_pass_all()).then_some(f))
    }
}

impl Common {
    /// The engine settings, with the filter and the `--skip-corrupt`
    /// reporter (`label` names the input in its messages).
    fn engine(&self, label: &str) -> Result<EngineOptions, String> {
        let label = label.to_string();
        let mut e = EngineOptions {
            verify_checksum: !self.no_checksum,
            filter: self.filter.build()?.map(Arc::new),
            skip_corrupt: self.skip_corrupt.then(|| {
                Arc::new(CorruptPolicy::new(move |c: &Corrupt| {
                    let key = match &c.key {
                        Some(k) => format!(" (key {})", restore::printable(k)),
                        None => String::new(),
                    };
                    let resumed = match c.resume {
                        Some(r) => format!("; resumed at byte offset {r}"),
                        None => "; nothing readable after it".to_string(),
                    };
                    eprintln!(
                        "rdbkit: warning: {label}: skipped a damaged record at byte offset {}{key}: {}{resumed}",
                        c.start, c.error
                    );
                }))
            }),
            ..Default::default()
        };
        if let Some(t) = self.threads {
            e.threads = t.max(1);
        }
        Ok(e)
    }
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Convert an RDB file to JSON Lines, one object per key, in file order.
    Json {
        /// The RDB file (`-` for standard input).
        file: PathBuf,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Also write non-key items: aux fields, functions, module aux data, EOF.
        #[arg(long)]
        meta: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Bulk-restore RDB files into a Redis/Valkey server or cluster.
    Load {
        /// RDB files (several: one per source shard; they load concurrently),
        /// or redis://, rediss://, sentinel://HOST:26379/MASTER URLs: a
        /// one-time snapshot is fetched first (see `fetch`), then loaded.
        /// An AOF (a file, a manifest, or an `appendonlydir/`) is recognised
        /// by content: its base's keys load as an RDB's, under the conflict
        /// policy; its commands are edits, replayed as they are after the
        /// base (no policy applies to them), each to the node owning its
        /// keys' slot in a cluster; key filters keep or drop a command by
        /// all its keys (one with keys on both sides is refused).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        load: LoadArgs,
        /// Print the summary as JSON on stdout.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Write the RESTORE command stream of a file, for `redis-cli --pipe`.
    Resp {
        /// The RDB file (`-` for standard input).
        file: PathBuf,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Overwrite keys that exist in the target: REPLACE on every RESTORE
        /// (in command mode: each key replaced atomically with
        /// MULTI/DEL/.../EXEC or a temporary key and RENAME). Without it an
        /// existing key makes its RESTORE fail with BUSYKEY, reported by
        /// whatever replays the stream. (No other conflict policy exists
        /// here: a stream written ahead cannot react to the server's replies;
        /// `rdbkit load` can.)
        #[arg(long)]
        replace: bool,
        /// Not offered by `resp` (see --replace); refused with the reason.
        #[arg(long, hide = true, value_name = "POLICY")]
        on_conflict: Option<String>,
        /// `restore`: RESTORE with the file's payloads; `commands`:
        /// SET/RPUSH/SADD/ZADD/HSET/XADD... for targets that cannot read this
        /// RDB version.
        #[arg(long, value_enum, default_value = "restore")]
        mode: ModeArg,
        /// Command mode: the target has hash field TTLs (Redis 7.4+, Valkey 9+).
        #[arg(long)]
        field_ttl: bool,
        /// Command mode: the target is Redis < 7.0 (no ENTRIESADDED/MAXDELETEDID/ENTRIESREAD).
        #[arg(long)]
        old_streams: bool,
        /// Command mode: the target is Redis 8.8+ (arrays with ARMSET/ARSEEK,
        /// NACKed stream entries with XNACK; implies --field-ttl).
        #[arg(long = "redis-8-8")]
        redis_8_8: bool,
        /// Command mode: leave out what the target cannot hold: hash field TTLs,
        /// arrays and NACKed stream entries before Redis 8.8 (the last two counted);
        /// otherwise such keys are reported as failed.
        #[arg(long)]
        lossy: bool,
        /// Command mode: elements per command.
        #[arg(long, default_value_t = 512)]
        batch_elements: usize,
        /// Command mode: bytes per command (e.g. 4M).
        #[arg(long, default_value = "4M", value_parser = parse_size_usize)]
        batch_bytes: usize,
        #[command(flatten)]
        keys: KeyArgs,
        #[command(flatten)]
        common: Common,
    },
    /// Estimated server memory per key (rdbtools-compatible CSV or JSON Lines),
    /// biggest keys, memory by key prefix, HTML report.
    Memory(memory::MemoryArgs),
    /// One row per key (memory estimate, encoding, TTL, ... and with
    /// --values the value) as Parquet, Arrow or CSV, for DuckDB, pandas, Spark.
    Export(export::ExportArgs),
    /// Compare a server or cluster with the snapshots: every key present, same type, value and TTL.
    Verify(verify::VerifyArgs),
    /// Write one RDB file from RDB and/or JSON Lines inputs: filter, merge,
    /// convert to what another server version reads.
    Rdb(rdb::RdbArgs),
    /// Split RDB/JSON Lines inputs into one RDB per cluster master (by slot:
    /// --shards N, --nodes nodes.conf, --cluster URL) or per database
    /// (--by-db), with a manifest.json.
    Split(rdb::SplitArgs),
    /// Download a one-time snapshot of a live server (redis://, rediss://,
    /// sentinel://HOST:26379/MASTER) over the replication protocol.
    Fetch(fetch::FetchArgs),
    /// Serve RDB files as a replication master: replicas pointed at
    /// --listen with REPLICAOF (and masterauth) get a full synchronisation.
    Serve(serve::ServeArgs),
    /// Whole-file statistics: keys per db and type, expiring keys, sizes, aux fields.
    Stats {
        /// The RDB file (`-` for standard input).
        file: PathBuf,
        /// Machine-readable JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum LoadModeArg {
    Restore,
    Commands,
    Auto,
    /// Serve the snapshot to an empty standalone target over the
    /// replication protocol: it loads at its own RDB-load speed, and
    /// everything it held is replaced (see --replace-all).
    Replicate,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ModeArg {
    Restore,
    Commands,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ConflictArg {
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
    fn name(self) -> &'static str {
        match self {
            ConflictArg::Panic => "panic",
            ConflictArg::Rewrite => "rewrite",
            ConflictArg::Ignore | ConflictArg::Skip => "ignore",
        }
    }
}

fn parse_db_map(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s.split_once('=').ok_or("expected FROM=TO, e.g. 3=0")?;
    Ok((
        a.trim().parse().map_err(|_| "FROM is not a db number")?,
        b.trim().parse().map_err(|_| "TO is not a db number")?,
    ))
}

#[derive(Args, Debug, Clone)]
struct KeyArgs {
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
    fn options(&self) -> KeyOptions {
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

#[derive(Args, Debug, Clone)]
struct LoadArgs {
    /// Target: redis://[user:pass@]host:port[/db], rediss://... for TLS, or
    /// host:port.
    #[arg(long, short = 't')]
    target: String,
    /// The target is a Redis Cluster (default: ask the server with INFO cluster).
    #[arg(long)]
    cluster: bool,
    /// Read the password from this file (first line). Also: REDISCLI_AUTH.
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// What to do when a key already exists in the target.
    #[arg(long, value_enum, default_value = "panic")]
    on_conflict: ConflictArg,
    /// Write every conflicting key (db, key, action) here as JSON Lines.
    #[arg(long)]
    conflicts: Option<PathBuf>,
    /// Write every key that could not be written here, as a replayable RESP stream.
    #[arg(long)]
    failed: Option<PathBuf>,
    /// Load nothing; report which keys would conflict (pipelined EXISTS).
    #[arg(long)]
    dry_run: bool,
    /// CA certificate(s) (PEM) that signed the server certificates, for rediss://.
    #[arg(long)]
    tls_ca: Option<PathBuf>,
    /// Client certificate chain (PEM), for servers that require client certificates.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Failed keys tolerated before the load stops.
    #[arg(long, default_value_t = 0)]
    max_errors: u64,
    /// `restore`: RESTORE payloads; `commands`: SET/RPUSH/SADD/ZADD/HSET/XADD...;
    /// `auto`: RESTORE where the target reads the file's RDB version, commands
    /// otherwise, and for keys over --max-restore-bytes.
    #[arg(long, value_enum, default_value = "auto")]
    mode: LoadModeArg,
    /// In auto mode, a key whose RESTORE payload is bigger goes as commands
    /// (e.g. 64M).
    #[arg(long, default_value = "64M", value_parser = parse_size)]
    max_restore_bytes: u64,
    /// Command mode: elements per command.
    #[arg(long, default_value_t = 512)]
    batch_elements: usize,
    /// Command mode: bytes per command (e.g. 4M).
    #[arg(long, default_value = "4M", value_parser = parse_size_usize)]
    batch_bytes: usize,
    /// Command mode: leave out what the target cannot hold: hash field TTLs,
    /// arrays (keys counted as dropped_lossy) and NACKed stream entries
    /// (counted as nacks_dropped) before Redis 8.8; otherwise those keys fail
    /// and are reported.
    #[arg(long)]
    lossy: bool,
    /// Seconds to wait for a stopped or hung target (no reply, or not reading
    /// what is sent) before its connection counts as lost; 0: no limit.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    timeout: u64,
    /// How long a key keeps being retried after a transient failure (a lost
    /// connection, a target restarting, a cluster failing over, LOADING,
    /// BUSY, TRYAGAIN, CLUSTERDOWN), with back-off from 50 ms to 2 s;
    /// then it fails with the last error. 0: no retries.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    retry_for: u64,
    /// Count a key as loaded only once N replicas of its master have it
    /// (`WAIT N` after every pipeline flush): a master that dies before
    /// passing writes on cannot lose them silently at a failover. Keys not
    /// confirmed within --wait-timeout fail.
    #[arg(long, value_name = "N")]
    wait_replicas: Option<u32>,
    /// --wait-replicas: how long one WAIT may take.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    wait_timeout: u64,
    /// Record progress in this file (atomically, several times a second),
    /// for --resume after a crash of rdbkit or of the target.
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Go on from a checkpoint (and keep updating it, unless --checkpoint
    /// names another file): nothing acknowledged is sent again, keys that
    /// were in flight are re-checked.
    #[arg(long, value_name = "FILE")]
    resume: Option<PathBuf>,
    /// --resume although the options differ from the checkpointed run's
    /// (policy, target, filters, mode...): without it such a resume is refused.
    #[arg(long)]
    resume_changed: bool,
    /// Before the first write, also look every key up in the target (a
    /// pipelined EXISTS pass, as --dry-run does): under --on-conflict panic an
    /// existing key then means nothing at all is written (exit 3, the keys in
    /// --conflicts). Without it, panic stops at the first existing key, and
    /// keys already in the pipeline then are still written. Not with --resume.
    #[arg(long)]
    preflight: bool,
    /// Skip the walk of every input file (record boundaries and checksum)
    /// before the first write. Without the walk, a damaged or truncated file
    /// is found only when the load reaches the damage, after writing what
    /// came before it.
    #[arg(long)]
    no_preflight: bool,
    #[command(flatten)]
    keys: KeyArgs,
    /// Boxed: it would make `Cmd::Load` too large a variant.
    #[command(flatten)]
    replicate: Box<replicate::ReplicateArgs>,
    #[command(flatten)]
    aof: aof::AofArgs,
}

/// The target URL, with the password from the URL, else `--password-file`
/// (first line), else `REDISCLI_AUTH`. Never printed.
fn parse_target(url: &str, password_file: Option<&Path>) -> Result<Target, Fail> {
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

fn load_options(a: &LoadArgs, engine: EngineOptions) -> Result<LoadOptions, Fail> {
    let target = parse_target(&a.target, a.password_file.as_deref())?;
    Ok(LoadOptions {
        target,
        cluster: if a.cluster { Some(true) } else { None },
        on_conflict: a.on_conflict.into(),
        conflicts_file: a.conflicts.clone(),
        failed_file: a.failed.clone(),
        dry_run: a.dry_run,
        max_errors: a.max_errors,
        keys: a.keys.options(),
        engine,
        mode: match a.mode {
            LoadModeArg::Restore => LoadMode::Restore,
            LoadModeArg::Commands => LoadMode::Commands,
            LoadModeArg::Auto | LoadModeArg::Replicate => LoadMode::Auto,
        },
        max_restore_bytes: a.max_restore_bytes,
        retry_for: std::time::Duration::from_secs(a.retry_for),
        wait_replicas: a.wait_replicas.map(|n| (n, a.wait_timeout.max(1))),
        limits: BatchLimits {
            elements: a.batch_elements.max(1),
            bytes: a.batch_bytes.max(1),
        },
        lossy: a.lossy,
        checkpoint: a.checkpoint.clone().or_else(|| a.resume.clone()),
        resume: match &a.resume {
            Some(p) => Some(load::checkpoint::Checkpoint::read(p)?),
            None => None,
        },
        io_timeout: rdbkit::redis::conn::io_timeout_secs(a.timeout),
        tls: rdbkit::redis::TlsFiles {
            ca: a.tls_ca.clone(),
            cert: a.tls_cert.clone(),
            key: a.tls_key.clone(),
        },
        preflight: !a.no_preflight,
        check_keys_first: a.preflight,
        allow_changed_options: a.resume_changed,
        warn: load::Warn(Some(std::sync::Arc::new(|m: &str| {
            eprintln!("rdbkit: warning: {m}")
        }))),
    })
}

/// The command that finishes a load that stopped or left keys failed: the
/// same command line (any password in a URL masked) going on from the
/// checkpoint, or, without one, run again with `--on-conflict ignore` (the
/// keys already loaded are then found identical and kept).
fn next_step(summary: &load::Summary, a: &LoadArgs) -> Option<String> {
    if summary.ending == Ending::Completed || a.dry_run {
        return None;
    }
    let mut args: Vec<String> = Vec::new();
    let mut it = std::env::args().skip(1);
    let drop_value = |x: &str| matches!(x, "--checkpoint" | "--resume" | "--on-conflict");
    while let Some(x) = it.next() {
        if drop_value(&x) {
            it.next();
        } else if !x.split_once('=').is_some_and(|(k, _)| drop_value(k)) && x != "--resume-changed"
        {
            args.push(mask_password(&x));
        }
    }
    let conflict = matches!(summary.ending, Ending::StoppedOnConflict(_));
    let policy = match (conflict, a.on_conflict) {
        // The user decides: keep the target's keys (ignore) or replace them.
        (true, _) => "ignore|rewrite",
        (false, ConflictArg::Rewrite) => "rewrite",
        (false, _) if summary.checkpoint.is_some() => "",
        (false, _) => "ignore",
    };
    let mut tail = String::new();
    if let Some(ck) = &summary.checkpoint {
        tail += &format!(" --resume {}", shell_word(&ck.display().to_string()));
        if !policy.is_empty() {
            tail += " --resume-changed";
        }
    }
    let policy = match policy {
        "" => format!(" --on-conflict {}", ConflictArg::name(a.on_conflict)),
        p => format!(" --on-conflict {p}"),
    };
    let mut cmd = String::from("rdbkit");
    for x in &args {
        cmd.push(' ');
        cmd += &shell_word(x);
    }
    cmd += &policy;
    cmd += &tail;
    if summary.checkpoint.is_none() {
        cmd += "   (next time add --checkpoint FILE: a resume then sends only what is left)";
    }
    Some(cmd)
}

/// A URL's password replaced by `***` (secrets never echoed).
fn mask_password(x: &str) -> String {
    let Some((scheme, rest)) = x.split_once("://") else {
        return x.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return x.to_string();
    };
    let user = userinfo.split_once(':').map_or("", |u| u.0);
    format!("{scheme}://{user}:***@{host}")
}

/// A word as a POSIX shell reads it back.
fn shell_word(x: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c);
    if !x.is_empty() && x.chars().all(plain) {
        x.to_string()
    } else {
        format!("'{}'", x.replace('\'', "'\\''"))
    }
}

pub fn main() -> ExitCode {
    use clap::{CommandFactory, FromArgMatches};
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|c| (c, m)));
    let cli = match parsed {
        Ok((c, m)) => {
            progress::set_quiet(
                m.subcommand()
                    .is_some_and(|(_, s)| matches!(s.try_get_one::<bool>("quiet"), Ok(Some(true)))),
            );
            c
        }
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(Fail::Usage(e)) => {
            eprintln!("rdbkit: error: {e}");
            ExitCode::from(exit::USAGE)
        }
        Err(Fail::Runtime(e)) => {
            eprintln!("rdbkit: error: {}", with_hint(e));
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn is_broken_pipe(e: &SinkError) -> bool {
    matches!(e, SinkError::Io(io) if io.kind() == io::ErrorKind::BrokenPipe)
}

/// Page-release hints for `inputs`, lent to [`InputFile::release`]: the
/// engine tells each file how far it will not read again, so its mapped
/// pages can go.
fn releases<'a>(inputs: impl IntoIterator<Item = &'a Input>) -> Vec<impl Fn(u64) + Sync + 'a> {
    inputs
        .into_iter()
        .map(|i| move |upto: u64| i.release_before(upto))
        .collect()
}

/// The engine's view of each input: its name, its bytes and the hint from
/// [`releases`] (in the same order).
fn named_inputs<'a>(
    inputs: impl IntoIterator<Item = (String, &'a [u8])>,
    releases: &'a [impl Fn(u64) + Sync],
) -> Vec<InputFile<'a>> {
    inputs
        .into_iter()
        .zip(releases)
        .map(|((name, data), r)| InputFile {
            name,
            data,
            release: Some(r as &(dyn Fn(u64) + Sync)),
        })
        .collect()
}

fn open(file: &Path) -> Result<Input, String> {
    // A compressed input shows a bar while it is decompressed.
    let bar = std::sync::OnceLock::<progress::Bar>::new();
    let cb = |done: u64, total: u64| {
        bar.get_or_init(|| {
            progress::Bar::new(progress::quiet() || !io::stderr().is_terminal(), total)
        })
        .set(done, "decompressing");
    };
    let r = Input::open_with(file, Some(&cb));
    if let Some(b) = bar.get() {
        b.finish();
    }
    let input = r.map_err(|e| format!("{}: {e}", file.display()))?;
    if input.is_empty() {
        return Err(format!("{}: empty file (0 bytes)", file.display()));
    }
    Ok(input)
}

/// A failure message, with what the user can do about a damaged file said
/// once at the end.
fn with_hint(msg: String) -> String {
    if msg.contains("checksum mismatch") {
        format!("{msg}\nrdbkit: hint: --no-checksum reads the file without checking its trailer; --skip-corrupt reads what it can and reports the rest")
    } else if msg.contains("unexpected end of data") || msg.contains("bytes that remain") {
        format!("{msg}\nrdbkit: hint: the file looks truncated; --skip-corrupt reads everything before the damage and reports it")
    } else {
        msg
    }
}

/// Standard output, or `path` written atomically (committed by the caller
/// once the run succeeded).
fn output(path: &Option<PathBuf>) -> Result<Output, String> {
    Output::open(path.as_deref()).map_err(|e| {
        format!(
            "{}: {e}",
            path.as_deref().unwrap_or(Path::new("-")).display()
        )
    })
}

fn finish<T>(file: &Path, r: Result<T, SinkError>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_broken_pipe(&e) => Ok(()),
        Err(e) => Err(format!("{}: {e}", file.display())),
    }
}

/// After a successful run: warns of checksum mismatches under
/// `--skip-corrupt` and turns `code` into [`exit::DAMAGED`] when anything
/// was skipped (a more specific failure code wins).
fn damage(engine: &EngineOptions, label: &str, code: u8) -> u8 {
    let Some(p) = &engine.skip_corrupt else {
        return code;
    };
    let mismatches = p.checksum_mismatches();
    for (stored, computed) in &mismatches {
        eprintln!(
            "rdbkit: warning: {label}: checksum mismatch: stored {stored:016x}, computed {computed:016x}"
        );
    }
    let damaged = p.count() > 0 || !mismatches.is_empty();
    if damaged {
        eprintln!(
            "rdbkit: {label}: {} damaged record(s) skipped{}",
            p.count(),
            if mismatches.is_empty() {
                ""
            } else {
                ", checksum mismatch"
            }
        );
    }
    if damaged && code == exit::OK {
        exit::DAMAGED
    } else {
        code
    }
}

fn run(cli: Cli) -> Result<u8, Fail> {
    match cli.cmd {
        Cmd::Memory(a) => memory::run(a),
        Cmd::Fetch(a) => fetch::run(a),
        Cmd::Serve(a) => serve::run(a),
        Cmd::Export(a) => export::run(a),
        Cmd::Verify(a) => verify::run(a),
        Cmd::Rdb(a) => rdb::run(a).map_err(Fail::from),
        Cmd::Split(a) => rdb::run_split(a).map_err(Fail::from),
        Cmd::Load {
            files,
            load,
            json,
            common,
        } => {
            let label = files
                .iter()
                .map(|f| mask_password(&f.display().to_string()))
                .collect::<Vec<_>>()
                .join(", ");
            check_outputs(
                &files,
                &[
                    ("--conflicts", load.conflicts.as_ref()),
                    ("--failed", load.failed.as_ref()),
                    (
                        "--checkpoint",
                        load.checkpoint.as_ref().or(load.resume.as_ref()),
                    ),
                ],
            )?;
            let engine = common.engine(&label)?;
            if matches!(load.mode, LoadModeArg::Replicate) {
                let inputs: Vec<Input> = files.iter().map(|f| open(f)).collect::<Result<_, _>>()?;
                return replicate::run(&files, &inputs, &load, engine, json, common.quiet);
            }
            let opts = load_options(&load, engine.clone())?;
            // redis://, rediss:// and sentinel:// inputs are fetched first.
            let tls = load::conn::TlsFiles {
                ca: load.tls_ca.clone(),
                cert: load.tls_cert.clone(),
                key: load.tls_key.clone(),
            };
            let opened: Vec<rdbkit::aof::source::Opened> = files
                .iter()
                .map(|f| {
                    aof::open_load_input(f, || fetch::open_or_fetch(f, tls.clone(), common.quiet))
                })
                .collect::<Result<_, _>>()?;
            let replay = aof::prepare_replay(&opened, &opts, &load.aof)?;
            let bases: Vec<(&str, &Input, &[u8])> = files
                .iter()
                .zip(&opened)
                .filter_map(|(f, o)| o.base().map(|(i, d)| (f.to_str().unwrap_or("?"), i, d)))
                .collect();
            let releases = releases(bases.iter().map(|&(_, i, _)| i));
            let named = named_inputs(
                bases.iter().map(|&(f, _, d)| (mask_password(f), d)),
                &releases,
            );
            let bar = progress::Bar::new(
                common.quiet || !io::stderr().is_terminal(),
                bases.iter().map(|(_, _, d)| d.len() as u64).sum(),
            );
            let cb = bar.load_callback();
            let was_empty = replicate::empty_standalone(&opts);
            let r = if named.is_empty() {
                Ok(load::Summary::default())
            } else {
                load::load(&named, &opts, Some(&cb))
            };
            bar.finish();
            let mut summary = match r {
                Ok(s) => s,
                Err(load::LoadError::Usage(m)) => return Err(Fail::Usage(m)),
                Err(e) => return Err(e.to_string().into()),
            };
            let replayed = aof::run_replay(&opened, replay, &opts, &load.aof, &summary);
            summary.next_step = next_step(&summary, &load);
            if was_empty && summary.ending == Ending::Completed && summary.loaded > 0 {
                summary.notes.push(replicate::FASTER_HINT.into());
            }
            if json {
                println!("{}", aof::with_member(summary.to_json(), replayed.as_ref()));
            } else if !common.quiet {
                eprint!("{}", summary.to_text());
                if let Some(r) = &replayed {
                    eprint!("{}", r.to_text());
                }
            }
            let replay_stop = replayed.as_ref().and_then(|r| r.stopped.as_ref());
            let code = match &summary.ending {
                Ending::Completed if !opts.dry_run && replay_stop.is_some() => {
                    let why = replay_stop.map_or("", |s| s.reason.as_str());
                    eprintln!("rdbkit: the AOF replay stopped part-way: {why} (see the summary)");
                    exit::FAILURE
                }
                Ending::Completed if replayed.as_ref().is_some_and(|r| r.failed > 0) => {
                    eprintln!("rdbkit: AOF commands failed (see the summary)");
                    exit::FAILED_KEYS
                }
                Ending::Completed => exit::OK,
                Ending::StoppedOnConflict(msg) => {
                    eprintln!("rdbkit: stopped on conflict: {msg}");
                    exit::CONFLICT
                }
                Ending::StoppedOnErrors | Ending::CompletedWithFailures => {
                    eprintln!(
                        "rdbkit: {} failed (see the summary{}){}",
                        load::summary::keys(summary.failed),
                        if load.failed.is_some() {
                            " and the --failed file"
                        } else {
                            ""
                        },
                        summary
                            .next_step
                            .as_ref()
                            .map_or(String::new(), |n| format!("; to finish the job: {n}"))
                    );
                    exit::FAILED_KEYS
                }
                Ending::WouldConflict => {
                    eprintln!(
                        "rdbkit: {} exist in the target: nothing was written (--on-conflict panic)",
                        load::summary::keys(summary.conflicts)
                    );
                    exit::CONFLICT
                }
                Ending::Error(e) => return Err(e.clone().into()),
            };
            Ok(damage(&engine, &label, code))
        }
        Cmd::Resp {
            file,
            output: out_path,
            replace,
            on_conflict,
            mode,
            field_ttl,
            old_streams,
            redis_8_8,
            lossy,
            batch_elements,
            batch_bytes,
            keys,
            common,
        } => {
            let mode = match mode {
                ModeArg::Restore => respout::Mode::Restore,
                ModeArg::Commands => respout::Mode::Commands {
                    limits: BatchLimits {
                        elements: batch_elements.max(1),
                        bytes: batch_bytes.max(1),
                    },
                    features: TargetFeatures {
                        field_ttl: field_ttl || redis_8_8,
                        stream_v2: !old_streams,
                        array: redis_8_8,
                        xnack: redis_8_8,
                        lossy,
                        now_ms: restore::now_ms(),
                    },
                },
            };
            check_outputs(
                std::slice::from_ref(&file),
                &[("--output", out_path.as_ref())],
            )?;
            let opened = aof::open_any(&file)?;
            if let Some(p) = on_conflict {
                return Err(Fail::Usage(format!(
                    "resp: --on-conflict {p}: a RESP stream is written before any server \
                     replies, so it cannot stop, skip or count on a conflict; use --replace \
                     to overwrite existing keys, or `rdbkit load --on-conflict` against the server"
                )));
            }
            let oc = if replace {
                OnConflict::Rewrite
            } else {
                OnConflict::Panic
            };
            let base = opened.base();
            let cfg = restore::worker_config(
                0,
                base.map_or(&[][..], |(_, d)| d),
                &keys.options(),
                false,
                oc,
                false,
                &file.display().to_string(),
            )
            .map_err(|e| e.to_string())?;
            let mut out = output(&out_path)?;
            let bar = progress::Bar::new(
                common.quiet || !io::stderr().is_terminal(),
                base.map_or(0, |(_, d)| d.len() as u64),
            );
            let label = file.display().to_string();
            let engine = common.engine(&label)?;
            aof::note_unfiltered(&opened, engine.filter.is_some());
            let r = match base {
                Some((input, data)) => {
                    let cb = bar.callback(input);
                    respout::write_resp(data, &cfg, mode, &engine, &mut out, Some(&cb))
                }
                None => Ok(respout::RespSummary::default()),
            };
            bar.finish();
            let r = r
                .and_then(|s| match opened.aof() {
                    Some(a) => aof::write_commands(a, &cfg, &mut out).map(|_| s),
                    None => Ok(s),
                })
                .and_then(|s| out.commit().map(|_| s).map_err(SinkError::Io));
            match r {
                Ok(s) => {
                    for e in &s.errors {
                        eprintln!("rdbkit: error: {e}");
                    }
                    if !common.quiet {
                        eprintln!(
                            "rdbkit: {} keys read, {} written, {} skipped (expired), {} skipped (empty), {} filtered out, {} failed, {} functions",
                            s.keys_read, s.written, s.skipped_expired, s.skipped_empty, s.filtered, s.failed, s.functions
                        );
                        if s.dropped_lossy + s.nacks_dropped > 0 {
                            eprintln!(
                                "rdbkit: --lossy left out {} arrays and {} NACKed stream entries the target cannot hold",
                                s.dropped_lossy, s.nacks_dropped
                            );
                        }
                    }
                    let code = if s.failed > 0 {
                        exit::FAILED_KEYS
                    } else {
                        exit::OK
                    };
                    Ok(damage(&engine, &label, code))
                }
                Err(e) if is_broken_pipe(&e) => Ok(exit::OK),
                Err(e) => Err(format!("{}: {e}", file.display()).into()),
            }
        }
        Cmd::Json {
            file,
            output: out_path,
            meta,
            common,
        } => {
            check_outputs(
                std::slice::from_ref(&file),
                &[("--output", out_path.as_ref())],
            )?;
            let opened = aof::open_any(&file)?;
            let opts = JsonOptions {
                meta,
                verify_checksum: !common.no_checksum,
            };
            let mut out = output(&out_path)?;
            let base = opened.base();
            let bar = progress::Bar::new(
                common.quiet || !io::stderr().is_terminal(),
                base.map_or(0, |(_, d)| d.len() as u64),
            );
            let label = file.display().to_string();
            let engine = common.engine(&label)?;
            aof::note_unfiltered(&opened, engine.filter.is_some());
            let r = match base {
                Some((input, data)) => {
                    let cb = bar.callback(input);
                    json::write_parallel(data, &opts, &engine, &mut out, Some(&cb)).map(|_| ())
                }
                None => Ok(()),
            };
            bar.finish();
            let r = r
                .and_then(|_| match opened.aof() {
                    Some(a) => rdbkit::aof::convert::write_json(a, meta, &mut out)
                        .map(|w| aof::note_truncated(&w))
                        .map_err(SinkError::from),
                    None => Ok(()),
                })
                .and_then(|_| out.commit().map_err(SinkError::Io));
            Ok(finish(&file, r).map(|_| damage(&engine, &label, exit::OK))?)
        }
        Cmd::Stats { file, json, common } => {
            let opened = aof::open_any(&file)?;
            let base = opened.base();
            let bar = progress::Bar::new(
                common.quiet || !io::stderr().is_terminal(),
                base.map_or(0, |(_, d)| d.len() as u64),
            );
            let label = file.display().to_string();
            let engine = common.engine(&label)?;
            let r = match base {
                Some((input, data)) => {
                    let cb = bar.callback(input);
                    stats::compute(data, &engine, Some(&cb))
                }
                None => Ok(stats::Stats::default()),
            };
            bar.finish();
            let st = match r {
                Ok(st) => st,
                Err(e) => return Ok(finish(&file, Err::<(), _>(e)).map(|_| exit::OK)?),
            };
            let cmds = match opened.aof() {
                Some(a) => Some(rdbkit::aof::convert::count(a).map_err(|e| e.to_string())?),
                None => None,
            };
            let text = aof::stats_text(&st, cmds.as_ref(), json);
            let mut out = io::stdout().lock();
            Ok(finish(
                &file,
                out.write_all(&text)
                    .and_then(|_| out.flush())
                    .map_err(SinkError::Io),
            )
            .map(|_| damage(&engine, &label, exit::OK))?)
        }
    }
}
