//! `rdbkit load` and `rdbkit resp`: RESTORE every key of one or more RDB
//! files into a standalone server or a Redis Cluster, pipelined, with an
//! explicit policy for keys that already exist.
//!
//! Flow: one scanner thread per input file runs the parallel engine; its
//! workers turn records into [`Op`]s (expired and empty keys are counted and
//! dropped there). The main thread routes ops to per-node pipelines
//! ([`node`]), receives every outcome, and does all accounting, so each key
//! read lands in exactly one bucket of the [`Summary`].

pub mod checkpoint;
mod ledger;
pub mod node;
pub mod preflight;
mod reports;
mod retry;
mod same;
pub mod summary;

use self::ledger::Books;
pub use self::ledger::Redirect;
use self::reports::{commit_report, report_file, ReportFile};
use self::retry::{after_lost_reply, backoff, defer, Delayed};

/// The client modules under their old paths (`load::conn`, ...), for code
/// written before they moved to [`crate::redis`]; new code names `redis::`.
pub use crate::redis::{cluster, conn, resp, slot, target};
/// The per-key decisions and encoders under their old paths (`load::op`,
/// `load::worker_config`, ...), now in [`crate::restore`].
pub use crate::restore::{commands, jsonl, op, payload, worker};
pub use crate::restore::{
    now_ms, printable, shown, snapshot_ctime_ms, target_features, target_rdb_version,
    worker_config, InputError, InputFile, KeyOptions, OnConflict,
};

use std::collections::HashMap;
use std::fmt;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::rdb::records::{ParseOptions, Parser};
use crate::scan::{self, EngineOptions};

use crate::sink::SinkError;

use self::node::{Fate, NodeMsg, Outcome};

pub use self::summary::{Ending, Summary};
use crate::redis::cluster::Topology;
use crate::redis::conn::{Conn, ConnectOptions};
use crate::redis::resp::Reply;
pub use crate::redis::target::{Auth, Target};
use crate::redis::{ClientError, ServerError};
pub use crate::restore::op::{Op, OpKind};
use crate::restore::worker::{Batch, LoadWorker};

/// Errors of the load layer. None of them carries a password.
#[derive(Debug)]
pub enum LoadError {
    /// A bad option or URL.
    Usage(String),
    /// A target refused or failed (address, what happened).
    Target { addr: String, msg: String },
    /// An input file failed to parse.
    Input { file: String, msg: String },
    /// A local file could not be written.
    Io(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Usage(m) => write!(f, "{m}"),
            LoadError::Target { addr, msg } => write!(f, "target {addr}: {msg}"),
            LoadError::Input { file, msg } => write!(f, "{file}: {msg}"),
            LoadError::Io(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for LoadError {}

impl From<InputError> for LoadError {
    fn from(e: InputError) -> Self {
        LoadError::Input {
            file: e.file,
            msg: e.msg,
        }
    }
}

impl From<ClientError> for LoadError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Usage(m) => LoadError::Usage(m),
            ClientError::Target { addr, msg } => LoadError::Target { addr, msg },
        }
    }
}

/// Everything `load` needs besides the inputs.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub target: Target,
    /// `Some(true)`: cluster; `Some(false)`: standalone; `None`: ask the server.
    pub cluster: Option<bool>,
    pub on_conflict: OnConflict,
    pub conflicts_file: Option<PathBuf>,
    pub failed_file: Option<PathBuf>,
    pub dry_run: bool,
    /// Failed keys tolerated before the load stops.
    pub max_errors: u64,
    pub keys: KeyOptions,
    pub engine: EngineOptions,
    /// CA and client certificate files for `rediss://` targets.
    pub tls: conn::TlsFiles,
    /// `--timeout`: how long a connection may wait on the target before it
    /// counts as lost (`None`: no limit).
    pub io_timeout: Option<Duration>,
    /// RESTORE, commands, or RESTORE where the target can read the payload.
    pub mode: LoadMode,
    /// In `auto` mode, keys whose RESTORE payload is bigger go as commands.
    pub max_restore_bytes: u64,
    /// Command mode: size of one command.
    pub limits: commands::BatchLimits,
    /// Command mode: drop field TTLs the target cannot hold (else such keys fail).
    pub lossy: bool,
    /// Record progress here (see [`checkpoint`]).
    pub checkpoint: Option<PathBuf>,
    /// Go on from this checkpoint.
    pub resume: Option<checkpoint::Checkpoint>,
    /// How long an op is retried after transient failures (see `Op::retries`).
    pub retry_for: Duration,
    /// `--wait-replicas N` (with its timeout in ms): a key counts as loaded
    /// only once `WAIT` says N replicas have it.
    pub wait_replicas: Option<(u32, u64)>,
    /// Walk every input file (boundaries and checksum) before the first
    /// write, so a damaged file writes nothing (see [`preflight`]).
    pub preflight: bool,
    /// `--preflight`: look every key up before the first write; under
    /// `panic`, an existing key means nothing is written.
    pub check_keys_first: bool,
    /// `--resume` with options other than the checkpoint's: go on anyway.
    pub allow_changed_options: bool,
    /// Where warnings go while the load runs (a node that stopped replying).
    pub warn: Warn,
}

/// A function that receives warnings.
pub type WarnFn = std::sync::Arc<dyn Fn(&str) + Send + Sync>;

/// A receiver of warnings (text without a trailing newline).
#[derive(Clone, Default)]
pub struct Warn(pub Option<WarnFn>);

impl Warn {
    fn say(&self, msg: &str) {
        if let Some(f) = &self.0 {
            f(msg);
        }
    }
}

impl fmt::Debug for Warn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Warn(..)"
        } else {
            "Warn(none)"
        })
    }
}

impl LoadOptions {
    /// The options that decide what the target ends up holding, as the
    /// checkpoint records them (no password, no clock).
    pub fn recorded(&self) -> std::collections::BTreeMap<String, String> {
        let mut filter = self.engine.filter.as_deref().cloned().unwrap_or_default();
        // "Now" moves between runs; whether expired keys are dropped does not.
        filter.expired_before_ms = filter.expired_before_ms.map(|_| 0);
        let mut keys = self.keys.clone();
        keys.now_ms = None;
        let t = &self.target;
        [
            (
                "target",
                format!("{}:{}/{}", t.host, t.port, t.db.unwrap_or(0)),
            ),
            ("cluster", format!("{:?}", self.cluster)),
            ("on_conflict", self.on_conflict.action().to_string()),
            ("mode", format!("{:?}", self.mode)),
            ("max_restore_bytes", self.max_restore_bytes.to_string()),
            ("lossy", self.lossy.to_string()),
            ("dry_run", self.dry_run.to_string()),
            ("keys", format!("{keys:?}")),
            ("filters", format!("{filter:?}")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// How keys are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadMode {
    Restore,
    Commands,
    Auto,
}

/// Messages to the main thread.
#[allow(clippy::large_enum_variant)]
pub enum Msg<'a> {
    Batch(usize, Batch<'a>),
    Outcome(Outcome<'a>),
    FileDone(usize, Result<(), SinkError>),
}

/// The database selected at `offset`, which must be an item boundary (a
/// checkpoint offset): the file is walked from its start, lengths only.
pub fn db_at(data: &[u8], offset: u64) -> Result<u64, String> {
    let mut p = Parser::new(
        data,
        ParseOptions {
            verify_checksum: false,
        },
    )
    .map_err(|e| e.to_string())?;
    loop {
        if p.offset() == offset {
            return Ok(p.db());
        }
        if p.offset() > offset {
            return Err("not a record boundary".into());
        }
        match p.next_item() {
            Ok(Some(_)) => {}
            Ok(None) => return Err("beyond the end of the records".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Refuses a resume whose options differ from the checkpoint's (what the
/// target ends up holding would then be neither run's), naming each
/// difference, unless `allow`.
fn changed_options(
    recorded: &std::collections::BTreeMap<String, String>,
    now: &std::collections::BTreeMap<String, String>,
    allow: bool,
) -> Result<(), LoadError> {
    // A version-1 checkpoint recorded no options.
    if recorded.is_empty() || allow {
        return Ok(());
    }
    let diffs: Vec<String> = now
        .iter()
        .filter(|(k, v)| recorded.get(*k) != Some(v))
        .map(|(k, v)| {
            let was = recorded.get(k).map_or("(not recorded)", String::as_str);
            format!("{k}: {was} in the checkpoint, {v} now")
        })
        .collect();
    if diffs.is_empty() {
        return Ok(());
    }
    Err(LoadError::Usage(format!(
        "--resume with options other than the checkpointed run's ({}); give the same options, \
         or --resume-changed to go on with the new ones",
        diffs.join("; ")
    )))
}

struct Node<'a> {
    tx: SyncSender<NodeMsg<'a>>,
    /// Which connection this is: outcomes of a replaced one say so.
    gen: u64,
    /// Batches routed here while the writer's channel was full, in order.
    /// The main thread never blocks on one busy node: it keeps reading
    /// outcomes (a stop, a checkpoint) and feeding the other nodes.
    backlog: std::collections::VecDeque<Vec<Op<'a>>>,
    /// Ops given to this connection whose outcome has not come back.
    in_flight: u64,
    /// When it last answered (or was opened).
    last_heard: Instant,
    /// A warning that it went silent was given and still holds.
    warned: bool,
}

/// How long a node with ops in flight may be silent before the user is
/// told (a hung target is otherwise silent until `--timeout`).
const SILENT_WARN: Duration = Duration::from_secs(5);

/// Warns once per silence of a node that has ops in flight but has not
/// answered for [`SILENT_WARN`]: which node, how long, and what the loader
/// does next and when.
fn warn_silent(nodes: &mut HashMap<String, Node<'_>>, opts: &LoadOptions) {
    // Sooner when --timeout is short: the warning comes before the loss.
    let after = opts
        .io_timeout
        .map_or(SILENT_WARN, |t| SILENT_WARN.min(t / 2));
    for (id, n) in nodes.iter_mut() {
        let silent = n.last_heard.elapsed();
        if n.warned || n.in_flight == 0 || silent < after {
            continue;
        }
        n.warned = true;
        let addr = id.rsplit_once('#').map_or(id.as_str(), |x| x.0);
        let next = match opts.io_timeout {
            Some(t) => {
                let lost = t.saturating_sub(silent);
                format!(
                    "its connection counts as lost when --timeout {} s has passed (at about {}); \
                     its keys are then retried for up to --retry-for {} s and fail at about {} if it stays silent",
                    t.as_secs(),
                    clock_in(lost),
                    opts.retry_for.as_secs(),
                    clock_in(lost + opts.retry_for + t)
                )
            }
            None => "--timeout 0: the load waits for it without limit".to_string(),
        };
        opts.warn.say(&format!(
            "target {addr} has not replied for {} s ({} in flight); {next}",
            silent.as_secs(),
            summary::keys(n.in_flight)
        ));
    }
}

/// The UTC wall-clock time `d` from now, as HH:MM:SS UTC.
fn clock_in(d: Duration) -> String {
    let t = (SystemTime::now() + d)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |x| x.as_secs());
    format!("{:02}:{:02}:{:02} UTC", t / 3600 % 24, t / 60 % 60, t % 60)
}

/// Whether a node has enough queued that the file readers should wait.
fn congested(nodes: &HashMap<String, Node<'_>>) -> bool {
    nodes.values().any(|n| n.backlog.len() >= 2)
}

/// Loads `files` into the target.
pub fn load<'a>(
    files: &[InputFile<'a>],
    opts: &LoadOptions,
    progress: Option<&(dyn Fn(&Summary) + Sync)>,
) -> Result<Summary, LoadError> {
    // `--preflight`: every key is looked up (a dry run) before anything is
    // written, so under `panic` an existing key means nothing is written.
    // (Not for a resume: the earlier run's own keys would all "exist".)
    if opts.check_keys_first && !opts.dry_run && opts.resume.is_none() {
        let dry = LoadOptions {
            dry_run: true,
            checkpoint: None,
            failed_file: None,
            ..opts.clone()
        };
        let s = load_once(files, &dry, progress)?;
        if s.ending != Ending::Completed {
            return Ok(s);
        }
    }
    load_once(files, opts, progress)
}

fn load_once<'a>(
    files: &[InputFile<'a>],
    opts: &LoadOptions,
    progress: Option<&(dyn Fn(&Summary) + Sync)>,
) -> Result<Summary, LoadError> {
    let started = Instant::now();
    let target = &opts.target;
    let (mut control, connect) = Conn::open_target(target, &opts.tls, opts.io_timeout)?;
    let info = control.server_info()?;
    let server_version = info.name();
    let redis_version = info.redis_version.unwrap_or_default();
    let valkey_version = info.valkey_version;
    let (target_max, target_valkey) = target_rdb_version(&redis_version, valkey_version.as_deref());
    let mut features = target_features(&redis_version, valkey_version.as_deref());
    features.lossy = opts.lossy;
    features.now_ms = if opts.keys.keep_expired {
        0
    } else {
        opts.keys.now_ms.unwrap_or_else(now_ms)
    };
    let cluster = match opts.cluster {
        Some(c) => c,
        None => control
            .info("cluster")?
            .iter()
            .any(|(k, v)| k == "cluster_enabled" && v == "1"),
    };
    if cluster && (target.db.unwrap_or(0) != 0 || opts.keys.db.unwrap_or(0) != 0) {
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
    let mut keys = opts.keys.clone();
    if keys.db.is_none() {
        keys.db = target.db;
    }
    let mut configs = Vec::new();
    let mut summary_notes = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let is_json = jsonl::is_jsonl(f.data);
        let h = if is_json {
            // JSON Lines from `rdbkit json`: always written as commands.
            crate::rdb::records::Header {
                dialect: crate::rdb::value::Dialect::Redis,
                version: 0,
                len: 0,
            }
        } else {
            crate::rdb::records::parse_header(f.data).map_err(|e| LoadError::Input {
                file: f.name.clone(),
                msg: e.to_string(),
            })?
        };
        let mut cfg = worker_config(
            i,
            f.data,
            &keys,
            cluster,
            opts.on_conflict,
            opts.dry_run,
            &f.name,
        )?;
        // Can the target read this file's payloads?
        let readable = !is_json
            && h.version <= target_max
            && !(target_valkey && (12..=79).contains(&h.version));
        let all = match opts.mode {
            LoadMode::Restore => false,
            LoadMode::Commands => true,
            LoadMode::Auto => !readable,
        };
        if is_json && opts.mode == LoadMode::Restore {
            return Err(LoadError::Usage(format!(
                "{}: JSON Lines input can only be loaded as commands (--mode commands or auto)",
                f.name
            )));
        }
        if opts.mode != LoadMode::Restore || is_json {
            cfg.commands = Some(worker::CommandChoice {
                all,
                max_restore_bytes: if opts.mode == LoadMode::Auto {
                    opts.max_restore_bytes
                } else {
                    u64::MAX
                },
                check: opts.on_conflict != OnConflict::Rewrite,
                features,
            });
        }
        if all && !is_json {
            summary_notes.push(match opts.mode {
                LoadMode::Commands => format!("{}: written as commands (--mode commands)", f.name),
                _ => format!("{}: written as commands: target {server_version} does not accept RDB version {} payloads", f.name, h.version),
            });
        }
        if let Some(prev) = opts.resume.as_ref().and_then(|c| c.files.get(i)) {
            cfg.resume = Some(std::sync::Arc::new(prev.clone()));
        }
        configs.push((cfg, h.version));
    }
    // Keys per file, from the walk below (or the resumed run's walk).
    let keys_in_files = std::cell::RefCell::new(vec![None; files.len()]);

    // Where each file starts: from a checkpoint, after its acknowledged
    // prefix (with the database selected there); a completed file not at all.
    let mut starts: Vec<Option<(u64, u64)>> = vec![None; files.len()];
    let mut skip_file = vec![false; files.len()];
    let mut trackers: Vec<checkpoint::Tracker> =
        (0..files.len()).map(|_| Default::default()).collect();
    if opts.checkpoint.is_some() || opts.resume.is_some() {
        if let Some(f) = files.iter().find(|f| jsonl::is_jsonl(f.data)) {
            return Err(LoadError::Usage(format!(
                "{}: --checkpoint/--resume work with RDB files, not JSON Lines",
                f.name
            )));
        }
    }
    if let Some(ck) = &opts.resume {
        if ck.files.len() != files.len() {
            return Err(LoadError::Usage(format!(
                "the checkpoint is of {} input file(s), not {}",
                ck.files.len(),
                files.len()
            )));
        }
        changed_options(&ck.options, &opts.recorded(), opts.allow_changed_options)?;
        for (i, (f, st)) in files.iter().zip(&ck.files).enumerate() {
            if st.size != f.data.len() as u64 || st.fingerprint != checkpoint::fingerprint(f.data) {
                return Err(LoadError::Input {
                    file: f.name.clone(),
                    msg: format!("not the file the checkpoint was made with ({})", st.name),
                });
            }
            let t = &mut trackers[i];
            t.failed = st.failed.clone();
            t.conflicted = st.conflicted.clone();
            t.floor = st.acked;
            if st.complete {
                skip_file[i] = true;
                continue;
            }
            // Keys that failed before the acknowledged prefix are read again.
            // (0: the interrupted run acknowledged nothing; from the start.)
            let at = st.resume_at();
            if at > 0 {
                let db = db_at(f.data, at).map_err(|e| LoadError::Input {
                    file: f.name.clone(),
                    msg: format!("checkpoint offset {at}: {e}"),
                })?;
                starts[i] = Some((at, db));
            }
            t.start(at);
        }
    }
    let mut last_checkpoint = Instant::now();
    // Per-record bookkeeping only when a checkpoint is kept.
    let tracking = opts.checkpoint.is_some();
    let recorded = opts.recorded();
    let save_checkpoint =
        |trackers: &mut Vec<checkpoint::Tracker>, summary: &Summary| -> Result<(), LoadError> {
            let Some(path) = &opts.checkpoint else {
                return Ok(());
            };
            let ck = checkpoint::Checkpoint {
                options: recorded.clone(),
                totals: summary.totals_with(opts.resume.as_ref(), &trackers[..]),
                files: files
                    .iter()
                    .zip(trackers.iter_mut())
                    .enumerate()
                    .map(|(i, (f, t))| {
                        let prev = opts.resume.as_ref().map(|c| &c.files[i]);
                        let complete = prev.is_some_and(|p| p.complete)
                            || (t.complete
                                && t.pending.is_empty()
                                && t.failed.is_empty()
                                && t.conflicted.is_empty());
                        let acked = t.prefix().min(f.data.len() as u64);
                        checkpoint::FileState {
                            name: f.name.clone(),
                            size: f.data.len() as u64,
                            fingerprint: checkpoint::fingerprint(f.data),
                            acked,
                            done: t.done.clone(),
                            sent: t.sent.max(t.reserved).max(prev.map_or(0, |p| p.sent)),
                            complete,
                            keys: keys_in_files.borrow()[i].or(prev.and_then(|p| p.keys)),
                            failed: t.failed.clone(),
                            conflicted: t.conflicted.clone(),
                        }
                    })
                    .collect(),
            };
            ck.write(path)
                .map_err(|e| LoadError::Io(format!("checkpoint {}: {e}", path.display())))
        };
    // A checkpoint exists from the start: a crash at once can be resumed.
    save_checkpoint(&mut trackers, &Summary::default())?;
    // Nothing is written before every file has been walked: a damaged
    // file stops here, with the target untouched. A resume takes the
    // counts of the run that walked the same files (same size and
    // fingerprint, checked above) instead of walking again.
    let walked: Option<Vec<Option<u64>>> = opts.resume.as_ref().and_then(|c| {
        c.files
            .iter()
            .map(|f| f.keys.map(Some))
            .collect::<Option<Vec<_>>>()
            .filter(|v| v.len() == files.len())
    });
    match walked {
        Some(k) => *keys_in_files.borrow_mut() = k,
        None if opts.preflight => {
            *keys_in_files.borrow_mut() = preflight::walk(files, &opts.engine)?;
            save_checkpoint(&mut trackers, &Summary::default())?;
        }
        None => {}
    }

    let mut conflicts_out = report_file(&opts.conflicts_file)?;
    let mut failed_out = report_file(&opts.failed_file)?;

    let mut summary = Summary {
        notes: summary_notes,
        encode_limits: opts.limits,
        encode_features: features,
        server_version: server_version.clone(),
        track: tracking,
        max_errors: opts.max_errors,
        dry_run: opts.dry_run,
        earlier: opts.resume.as_ref().map_or(0, |c| c.totals.accounted()),
        keys_in_files: keys_in_files.borrow().iter().copied().sum(),
        checkpoint: opts.checkpoint.clone(),
        ..Default::default()
    };
    let stop = AtomicBool::new(false);
    let mut fatal: Option<LoadError> = None;

    std::thread::scope(|s| {
        let (to_main, from_nodes): (_, Receiver<Msg<'a>>) = channel();
        let mut topology: Option<Topology> = None;
        let mut nodes: HashMap<String, Node<'a>> = HashMap::new();
        // Input files of different RDB versions each need their own payload
        // trailer; a node writes payloads of one version, so key the nodes
        // by (address, version).
        let next_gen = std::cell::Cell::new(0u64);
        // Addresses that refused a connection or did not answer: not tried
        // again before the time given (then with a longer back-off), so a
        // node that is down costs one attempt per back-off, not one per batch.
        let down: std::cell::RefCell<HashMap<String, (Instant, u32, String)>> = Default::default();
        let open_node = |addr: &str,
                         version: u32,
                         nodes: &mut HashMap<String, Node<'a>>|
         -> Result<String, LoadError> {
            let id = node_id(addr, version);
            if !nodes.contains_key(&id) {
                if let Some((until, _, why)) = down.borrow().get(addr) {
                    if Instant::now() < *until {
                        return Err(LoadError::Target {
                            addr: addr.to_string(),
                            msg: why.clone(),
                        });
                    }
                }
                // A PING proves the node answers (a stopped server still
                // accepts connections); any reply will do (-LOADING too).
                let c = Conn::open(addr, &target.auth, &connect).and_then(|mut c| {
                    c.call(&[b"PING"])?;
                    Ok(c)
                });
                let c = match c {
                    Ok(c) => {
                        down.borrow_mut().remove(addr);
                        c
                    }
                    Err(e) => {
                        let why = match &e {
                            ClientError::Target { msg, .. } => msg.clone(),
                            e => e.to_string(),
                        };
                        let mut d = down.borrow_mut();
                        let fails = d.get(addr).map_or(0, |x| x.1);
                        d.insert(
                            addr.to_string(),
                            (Instant::now() + backoff(fails), fails + 1, why),
                        );
                        return Err(e.into());
                    }
                };
                let gen = next_gen.get() + 1;
                next_gen.set(gen);
                let tx = node::spawn(
                    s,
                    c,
                    node::NodeConfig {
                        rdb_version: version,
                        gen,
                        wait: opts.wait_replicas,
                        limits: opts.limits,
                        features,
                    },
                    to_main.clone(),
                    &stop,
                );
                nodes.insert(
                    id.clone(),
                    Node {
                        tx,
                        gen,
                        backlog: Default::default(),
                        in_flight: 0,
                        last_heard: Instant::now(),
                        warned: false,
                    },
                );
            }
            Ok(id)
        };
        if cluster {
            match cluster::discover(&mut control, &target.host) {
                Ok(t) => topology = Some(t),
                Err(e) => {
                    fatal = Some(e.into());
                    return;
                }
            }
        }

        // Scanners, one per file, with a token window each.
        let mut tokens = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let (tok_tx, tok_rx) = sync_channel::<()>(2);
            if skip_file[i] {
                // Completed in the checkpointed run.
                tokens.push(tok_tx);
                let _ = to_main.send(Msg::FileDone(i, Ok(())));
                continue;
            }
            for _ in 0..2 {
                let _ = tok_tx.send(());
            }
            tokens.push(tok_tx);
            let to_main = to_main.clone();
            let cfg = configs[i].0.clone();
            let mut engine = opts.engine.clone();
            engine.start = starts[i];
            if opts.checkpoint.is_some() {
                // Smaller batches: less in flight at a crash, so less to
                // re-check on resume, and a checkpoint that keeps up.
                engine.chunk_bytes = engine.chunk_bytes.min(128 << 10);
            }
            let limits = opts.limits;
            let stop = &stop;
            let data = f.data;
            let release = f.release;
            s.spawn(move || {
                // Pages behind the consumed chunks may still be read by a node
                // writer encoding a payload; a released page just faults back
                // in from the page cache, so lag the release by a margin.
                let hint = move |done: u64, _: u64, _: u64| {
                    if let Some(r) = release {
                        r(done.saturating_sub(16 << 20));
                    }
                };
                let mut send = |batch: Batch<'a>| {
                    if stop.load(Ordering::Relaxed) {
                        return Err(SinkError::Stopped);
                    }
                    if tok_rx.recv().is_err() {
                        return Err(SinkError::Stopped);
                    }
                    to_main
                        .send(Msg::Batch(i, batch))
                        .map_err(|_| SinkError::Stopped)
                };
                let r = if jsonl::is_jsonl(data) {
                    worker::jsonl_batches(
                        data,
                        &cfg,
                        limits,
                        features,
                        engine.filter.as_deref(),
                        &mut send,
                    )
                } else {
                    scan::run(
                        data,
                        &engine,
                        || LoadWorker::new(cfg.clone()),
                        |batch: Batch<'a>, _| send(batch),
                        Some(&hint),
                    )
                    .map(|_| ())
                    .map_err(SinkError::from)
                };
                let _ = to_main.send(Msg::FileDone(i, r));
            });
        }

        let mut files_left = files.len();
        let mut uncertain: std::collections::HashSet<(usize, u64)> = Default::default();
        // Command-mode keys (panic/ignore) whose writing lost its connection:
        // if the key is there when checked again, it may be incomplete.
        let mut partial: std::collections::HashSet<(usize, u64)> = Default::default();
        // Ops that found no connection (the node is down or restarting):
        // they are retried after a back-off.
        let unreachable: std::cell::RefCell<Vec<(u32, Op<'a>, String)>> = Default::default();
        // Ops waiting out a back-off, with when they may go again.
        let mut delayed: std::collections::BinaryHeap<Delayed<'a>> = Default::default();
        // A connection was lost or refused: re-read the cluster slot map.
        let mut refresh_due = false;
        // Scanners whose next batch waits until fewer ops are delayed.
        let mut owed: Vec<usize> = Vec::new();
        let mut outstanding: u64 = 0;
        let mut stopped = false;
        let mut selected_dbs: Vec<u64> = Vec::new();
        let mut last_progress = Instant::now();

        // Sends ops to one node (opening it if needed). Every op ends up
        // outstanding (an outcome will come back) or failed, never lost.
        let route_to = |addr: &str,
                        ops: Vec<Op<'a>>,
                        version: u32,
                        nodes: &mut HashMap<String, Node<'a>>,
                        summary: &mut Summary,
                        outstanding: &mut u64,
                        failed_out: &mut Option<ReportFile>| {
            let id = match open_node(addr, version, nodes) {
                Ok(id) => id,
                Err(e) => {
                    // Nothing was sent: retried after a back-off (the node
                    // may be restarting, or its replica taking over).
                    let why = e.to_string();
                    let mut u = unreachable.borrow_mut();
                    u.extend(ops.into_iter().map(|op| (version, op, why.clone())));
                    return;
                }
            };
            let Some(node) = nodes.get_mut(&id) else {
                for op in &ops {
                    summary.fail(op, "no connection to the node", failed_out, version);
                }
                return;
            };
            let n = ops.len() as u64;
            if node.in_flight == 0 {
                // Silence is counted from the first op it is waited for.
                node.last_heard = Instant::now();
            }
            node.in_flight += n;
            if !node.backlog.is_empty() {
                node.backlog.push_back(ops);
                *outstanding += n;
                return;
            }
            match node.tx.try_send(NodeMsg::Batch(ops)) {
                Ok(()) => *outstanding += n,
                Err(std::sync::mpsc::TrySendError::Full(NodeMsg::Batch(ops))) => {
                    node.backlog.push_back(ops);
                    *outstanding += n;
                }
                Err(std::sync::mpsc::TrySendError::Disconnected(NodeMsg::Batch(ops))) => {
                    node.in_flight -= n;
                    for op in &ops {
                        summary.fail(
                            op,
                            &format!("{addr}: the connection's writer stopped"),
                            failed_out,
                            version,
                        );
                    }
                }
            }
        };

        // Routes ops: grouped by address first (no allocation per op), each
        // node opened once per batch.
        let standalone = target.addr();
        let route = |ops: Vec<Op<'a>>,
                     version: u32,
                     topology: &Option<Topology>,
                     nodes: &mut HashMap<String, Node<'a>>,
                     summary: &mut Summary,
                     outstanding: &mut u64,
                     failed_out: &mut Option<ReportFile>| {
            let mut per_addr: HashMap<&str, Vec<Op<'a>>> = HashMap::new();
            let mut functions: Vec<Op<'a>> = Vec::new();
            let mut asked: Vec<Op<'a>> = Vec::new();
            for op in ops {
                let addr = match topology {
                    _ if op.ask.is_some() => {
                        asked.push(op);
                        continue;
                    }
                    None => standalone.as_str(),
                    Some(_) if !op.is_key() => {
                        functions.push(op);
                        continue;
                    }
                    Some(t) => match t.node_of(op.slot) {
                        Some(a) => a,
                        None => {
                            summary.fail(
                                &op,
                                &format!("CLUSTERDOWN slot {} is not served by any node", op.slot),
                                failed_out,
                                version,
                            );
                            continue;
                        }
                    },
                };
                per_addr.entry(addr).or_default().push(op);
            }
            // Function libraries go to every master of a cluster.
            if let (Some(t), false) = (topology, functions.is_empty()) {
                for m in &t.masters {
                    per_addr
                        .entry(m.as_str())
                        .or_default()
                        .extend(functions.iter().cloned());
                }
            }
            for (addr, ops) in per_addr {
                route_to(addr, ops, version, nodes, summary, outstanding, failed_out);
            }
            // After an -ASK redirect: to the node it named, which may be
            // outside the slot map.
            for op in asked {
                let addr = op.ask.clone().unwrap_or_default();
                route_to(
                    &addr,
                    vec![op],
                    version,
                    nodes,
                    summary,
                    outstanding,
                    failed_out,
                );
            }
        };

        let mut retry_q: Vec<(u32, Op<'a>)> = Vec::new();
        let mut last_refresh = Instant::now();
        while files_left > 0
            || outstanding > 0
            || !retry_q.is_empty()
            || !delayed.is_empty()
            || !unreachable.borrow().is_empty()
        {
            // Feed the busy nodes what they can take now.
            for node in nodes.values_mut() {
                while let Some(b) = node.backlog.pop_front() {
                    if stopped {
                        // Stopping: never sent.
                        outstanding -= b.len() as u64;
                        node.in_flight -= b.len() as u64;
                        summary.not_attempted += b.iter().filter(|o| o.is_key()).count() as u64;
                        continue;
                    }
                    match node.tx.try_send(NodeMsg::Batch(b)) {
                        Ok(()) => {}
                        Err(std::sync::mpsc::TrySendError::Full(NodeMsg::Batch(b))) => {
                            node.backlog.push_front(b);
                            break;
                        }
                        Err(std::sync::mpsc::TrySendError::Disconnected(NodeMsg::Batch(b))) => {
                            // The writer is gone: its outcomes say why; these
                            // never reached it and are routed again.
                            outstanding -= b.len() as u64;
                            node.in_flight -= b.len() as u64;
                            for op in b {
                                let version = configs[op.file].1;
                                retry_q.push((version, op));
                            }
                        }
                    }
                }
            }
            if delayed.len() < MAX_DELAYED && !congested(&nodes) {
                for i in owed.drain(..) {
                    let _ = tokens[i].send(());
                }
            }
            // Ops that found no connection wait out a back-off.
            for (version, op, why) in unreachable.take() {
                refresh_due |= topology.is_some();
                defer(
                    op,
                    &why,
                    version,
                    false,
                    &mut delayed,
                    &mut summary,
                    &mut failed_out,
                    opts.retry_for,
                    stopped,
                );
            }
            if summary.must_stop(opts) && !stopped {
                stopped = true;
                stop.store(true, Ordering::Relaxed);
            }
            warn_silent(&mut nodes, opts);
            // A lost or refused connection in a cluster: a failover may
            // have moved the slots; re-read the map (at most twice a second).
            if refresh_due && last_refresh.elapsed() > Duration::from_millis(500) {
                if let Some(t) = rediscover(&mut control, target, &connect, topology.as_ref()) {
                    topology = Some(t);
                    refresh_due = false;
                }
                last_refresh = Instant::now();
            }
            // Ops whose back-off is over go out with the redirected ones.
            if stopped {
                // Stopping: nothing more is sent.
                for d in delayed.drain() {
                    match &d.lost {
                        Some(why) => summary.fail(&d.op, why, &mut failed_out, d.version),
                        None if d.op.is_key() => summary.not_attempted += 1,
                        None => {}
                    }
                }
            } else if !delayed.is_empty() {
                let now = Instant::now();
                while delayed.peek().is_some_and(|d| d.due <= now) {
                    if let Some(d) = delayed.pop() {
                        retry_q.push((d.version, d.op));
                    }
                }
            }
            if opts.checkpoint.is_some() && last_checkpoint.elapsed() > Duration::from_millis(100) {
                summary.settle(&mut trackers);
                if let Err(e) = save_checkpoint(&mut trackers, &summary) {
                    fatal.get_or_insert(e);
                    stopped = true;
                    stop.store(true, Ordering::Relaxed);
                }
                last_checkpoint = Instant::now();
            }
            // Redirected ops go out in batches: when no message is waiting,
            // or when many have gathered.
            let msg = match from_nodes.try_recv() {
                Ok(m) => {
                    if retry_q.len() >= 1024 {
                        flush_retries(
                            &mut retry_q,
                            &route,
                            &topology,
                            &mut nodes,
                            &mut summary,
                            &mut outstanding,
                            &mut failed_out,
                        );
                    }
                    m
                }
                Err(_) => {
                    flush_retries(
                        &mut retry_q,
                        &route,
                        &topology,
                        &mut nodes,
                        &mut summary,
                        &mut outstanding,
                        &mut failed_out,
                    );
                    if !unreachable.borrow().is_empty()
                        || (!owed.is_empty() && delayed.len() < MAX_DELAYED && !congested(&nodes))
                    {
                        continue;
                    }
                    if files_left == 0 && outstanding == 0 && delayed.is_empty() {
                        break;
                    }
                    // Wake for the first op whose back-off ends, or soon
                    // when a busy node has batches waiting for it.
                    let mut due = delayed.peek().map(|d| d.due);
                    if nodes.values().any(|n| !n.backlog.is_empty()) {
                        let soon = Instant::now() + Duration::from_millis(1);
                        due = Some(due.map_or(soon, |d| d.min(soon)));
                    }
                    if nodes.values().any(|n| n.in_flight > 0) {
                        // Wake to notice a node that went silent.
                        let tick = Instant::now() + Duration::from_secs(1);
                        due = Some(due.map_or(tick, |d| d.min(tick)));
                    }
                    match due {
                        Some(due) => match from_nodes
                            .recv_timeout(due.saturating_duration_since(Instant::now()))
                        {
                            Ok(m) => m,
                            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                            Err(_) => break,
                        },
                        None => match from_nodes.recv() {
                            Ok(m) => m,
                            Err(_) => break,
                        },
                    }
                }
            };
            match msg {
                Msg::Batch(i, mut batch) => {
                    let version = configs[i].1;
                    if let Some(prev) = opts.resume.as_ref().map(|c| &c.files[i]) {
                        // Records acknowledged in the interrupted run beyond
                        // its prefix are done; those it had in flight are
                        // re-checked on BUSYKEY.
                        let t = &mut trackers[i];
                        batch.ops.retain(|op| {
                            if !prev.to_send(op.offset) {
                                if op.is_key() {
                                    summary.already_loaded += 1;
                                }
                                t.sent(op.offset);
                                t.acked(op.offset);
                                false
                            } else {
                                if op.offset < prev.sent {
                                    uncertain.insert((i, op.offset));
                                }
                                if op.is_key()
                                    && (prev.failed.contains(&op.offset)
                                        || prev.conflicted.contains(&op.offset))
                                {
                                    summary.retried += 1;
                                }
                                true
                            }
                        });
                    }
                    if opts.checkpoint.is_some() && batch.end > trackers[i].reserved {
                        // Write-ahead: the checkpoint covers these records
                        // before any of them can reach the target.
                        trackers[i].reserved = batch.end + checkpoint::RESERVE;
                        summary.settle(&mut trackers);
                        if let Err(e) = save_checkpoint(&mut trackers, &summary) {
                            fatal.get_or_insert(e);
                            stopped = true;
                            stop.store(true, Ordering::Relaxed);
                        }
                        last_checkpoint = Instant::now();
                    }
                    if tracking {
                        for op in &batch.ops {
                            trackers[i].sent(op.offset);
                        }
                    }
                    trackers[i].read_upto = trackers[i].read_upto.max(batch.end);
                    trackers[i].sent = trackers[i].sent.max(batch.end);
                    summary.keys_read += batch.keys_read;
                    summary.skipped_expired += batch.skipped_expired;
                    summary.skipped_empty += batch.skipped_empty;
                    summary.filtered += batch.filtered;
                    summary.as_commands += batch.as_commands;
                    for (db, key, len) in &batch.big {
                        if summary.notes.len() < MAX_NOTES {
                            summary.notes.push(format!(
                                "key {} in db {db} written as commands: its RESTORE payload of {len} bytes is over --max-restore-bytes {}",
                                shown(key),
                                opts.max_restore_bytes
                            ));
                        }
                    }
                    summary.dropped_lossy += batch.dropped_lossy;
                    summary.nacks_dropped += batch.nacks_dropped;
                    summary.bytes_read += batch.bytes;
                    for (op, msg) in batch.failed {
                        summary.fail(&op, &msg, &mut failed_out, version);
                    }
                    if stopped {
                        summary.not_attempted +=
                            batch.ops.iter().filter(|o| o.is_key()).count() as u64;
                    } else {
                        // Check each new target db once, before sending keys there.
                        if topology.is_none() {
                            for op in &batch.ops {
                                if !selected_dbs.contains(&op.db) {
                                    let db = op.db.to_string();
                                    let mut r = control.call(&[b"SELECT", db.as_bytes()]);
                                    if r.is_err() {
                                        // The control connection is gone (a
                                        // restarted target): open it again.
                                        if let Ok(c) =
                                            Conn::open(&target.addr(), &target.auth, &connect)
                                        {
                                            control = c;
                                            r = control.call(&[b"SELECT", db.as_bytes()]);
                                        }
                                    }
                                    match r {
                                        Ok(Reply::Error(e)) => {
                                            fatal.get_or_insert(LoadError::Target {
                                                addr: control.addr.clone(),
                                                msg: format!("SELECT {db} failed: {e}"),
                                            });
                                            stopped = true;
                                            stop.store(true, Ordering::Relaxed);
                                            break;
                                        }
                                        Ok(_) => selected_dbs.push(op.db),
                                        // Unreachable now: the node writer's own
                                        // SELECT will tell once it connects.
                                        Err(_) => {}
                                    }
                                }
                            }
                        }
                        if stopped {
                            summary.not_attempted +=
                                batch.ops.iter().filter(|o| o.is_key()).count() as u64;
                        } else {
                            route(
                                batch.ops,
                                version,
                                &topology,
                                &mut nodes,
                                &mut summary,
                                &mut outstanding,
                                &mut failed_out,
                            );
                        }
                    }
                    // The reader goes on only while few ops wait out a
                    // back-off: a target that is down must not make the
                    // whole file pile up in memory.
                    if delayed.len() < MAX_DELAYED && !congested(&nodes) {
                        let _ = tokens[i].send(());
                    } else {
                        owed.push(i);
                    }
                }
                Msg::FileDone(i, r) => {
                    files_left -= 1;
                    match r {
                        Ok(()) => {
                            trackers[i].complete = true;
                            trackers[i].read_upto = u64::MAX;
                        }
                        Err(SinkError::Stopped) => {}
                        Err(e) => {
                            fatal.get_or_insert(LoadError::Input {
                                file: files[i].name.clone(),
                                msg: e.to_string(),
                            });
                            stopped = true;
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
                Msg::Outcome(mut o) => {
                    outstanding -= 1;
                    let version = configs[o.op.file].1;
                    if let Some(n) = nodes
                        .get_mut(&node_id(&o.node, version))
                        .filter(|n| n.gen == o.gen)
                    {
                        n.in_flight = n.in_flight.saturating_sub(1);
                        n.last_heard = Instant::now();
                        if n.warned && o.fate.is_reply() {
                            n.warned = false;
                            opts.warn.say(&format!("target {} replies again", o.node));
                        }
                    }
                    let (fi, off) = (o.op.file, o.op.offset);
                    // The connection broke before the reply came: forget the
                    // connection (the next send opens a new one), and send
                    // the op again after a back-off, re-checked where a
                    // second write could not be told from the first.
                    {
                        if let Fate::Unsent(e) = &o.fate {
                            let why = format!("{}: {e}", o.node);
                            defer(
                                o.op,
                                &why,
                                version,
                                false,
                                &mut delayed,
                                &mut summary,
                                &mut failed_out,
                                opts.retry_for,
                                stopped,
                            );
                            continue;
                        }
                        if let Fate::Lost(e) = &o.fate {
                            let id = node_id(&o.node, version);
                            if nodes.get(&id).is_some_and(|n| n.gen == o.gen) {
                                if let Some(n) = nodes.remove(&id) {
                                    // Batches it never got: routed again.
                                    for b in n.backlog {
                                        outstanding -= b.len() as u64;
                                        for op in b {
                                            retry_q.push((version, op));
                                        }
                                    }
                                }
                                summary.reconnects += 1;
                                refresh_due |= topology.is_some();
                            }
                            let why = format!("{}: {e}", o.node);
                            let mut op = o.op;
                            op.existed_before = op.existed_before.or(o.existed);
                            let op = after_lost_reply(op, &mut partial);
                            defer(
                                op,
                                &why,
                                version,
                                true,
                                &mut delayed,
                                &mut summary,
                                &mut failed_out,
                                opts.retry_for,
                                stopped,
                            );
                            continue;
                        }
                    }
                    // A command-mode key whose writing lost its connection
                    // and that is now in the target: perhaps only a part of
                    // it. Never counted as loaded, nor kept as "the
                    // target's own key".
                    if let (
                        OpKind::Commands { check: true, .. } | OpKind::Encoded { check: true, .. },
                        Fate::Reply(Reply::Int(n)),
                    ) = (&o.op.kind, &o.fate)
                    {
                        if partial.remove(&(fi, off)) && *n > 0 {
                            summary.fail(&o.op, PARTIAL, &mut failed_out, version);
                            continue;
                        }
                    }
                    // Only a known outcome is acknowledged: an op that was not
                    // sent, or whose reply was lost with the connection, stays
                    // pending in the checkpoint, so a resume sends it again.
                    let not_sent = matches!(
                        &o.fate,
                        Fate::Stopped
                            | Fate::Unsent(_)
                            | Fate::Lost(_)
                            | Fate::Unreplicated(_)
                            | Fate::Refused(_)
                    );
                    // A key in flight when the checkpointed run stopped: a
                    // BUSYKEY may be our own earlier write. Compare, don't guess.
                    if let (OpKind::Restore { rec, args }, Fate::Reply(Reply::Error(e))) =
                        (&o.op.kind, &o.fate)
                    {
                        if matches!(ServerError::parse(e), ServerError::BusyKey(_))
                            && uncertain.remove(&(fi, off))
                        {
                            let mut op = o.op.clone();
                            op.kind = OpKind::DumpCheck {
                                rec: rec.clone(),
                                args: *args,
                            };
                            retry_q.push((version, op));
                            continue;
                        }
                    }
                    if let OpKind::DumpCheck { rec, args } = &o.op.kind {
                        if let Fate::Reply(Reply::Bulk(b)) = &o.fate {
                            // The same bytes, or the same value re-encoded
                            // by the target (a hashtable set's own order).
                            let same = b.as_ref().is_some_and(|p| {
                                (p.len() >= 10
                                    && p[0] == rec.type_byte
                                    && &p[1..p.len() - 10] == rec.value)
                                    || same::same_value(rec, p, target_valkey)
                            });
                            if same && o.op.existed_before == Some(true) {
                                // A rewrite whose first probe found another
                                // key there: ours replaced it.
                                summary.conflict(
                                    &o.op,
                                    "rewritten",
                                    &files[fi].name,
                                    &mut conflicts_out,
                                );
                                if tracking {
                                    trackers[fi].acked(off);
                                }
                                continue;
                            }
                            if same {
                                summary.loaded += 1;
                                if o.op.retry_since.is_some() {
                                    summary.rechecked_identical += 1;
                                } else {
                                    summary.resumed_identical += 1;
                                }
                                if tracking {
                                    trackers[fi].acked(off);
                                }
                                continue;
                            }
                            let restore = OpKind::Restore {
                                rec: rec.clone(),
                                args: *args,
                            };
                            if b.is_none() || args.replace {
                                // Not there (the earlier write never ran), or
                                // a rewrite: write it now.
                                let mut op = o.op;
                                op.kind = restore;
                                retry_q.push((version, op));
                                continue;
                            }
                            // Another value: a conflict under the policy.
                            o.op.kind = restore;
                            o.fate = Fate::Reply(Reply::Error("BUSYKEY Target key name already exists with another value (compared decoded, not only as bytes)".into()));
                        }
                    }
                    let mut books = Books {
                        opts,
                        conflicts_out: &mut conflicts_out,
                        failed_out: &mut failed_out,
                        files,
                        server_version: &server_version,
                    };
                    let retry = summary.record(o, &mut books, version);
                    if tracking && retry.is_none() && !not_sent && !summary.marked(fi, off) {
                        trackers[fi].acked(off);
                    }
                    if let Some((op, Redirect::Retry(why))) = retry {
                        // A transient refusal: after a back-off.
                        defer(
                            op,
                            &why,
                            version,
                            false,
                            &mut delayed,
                            &mut summary,
                            &mut failed_out,
                            opts.retry_for,
                            stopped,
                        );
                    } else if let Some((mut op, redirect)) = retry {
                        if !matches!(redirect, Redirect::Proceed) {
                            op.attempts += 1;
                        }
                        if op.attempts > MAX_REDIRECTS {
                            summary.fail(&op, "too many redirects", &mut failed_out, version);
                        } else {
                            match redirect {
                                Redirect::Proceed => {}
                                Redirect::Moved(slot, addr) => {
                                    op.ask = None;
                                    // Take the new owner from the reply; re-read the
                                    // whole map at most once a second.
                                    if let (Some(t), Some(slot), Some(addr)) =
                                        (topology.as_mut(), slot, addr)
                                    {
                                        t.set_owner(slot, addr);
                                    }
                                    if last_refresh.elapsed() > Duration::from_secs(1) {
                                        if let Some(t) = rediscover(
                                            &mut control,
                                            target,
                                            &connect,
                                            topology.as_ref(),
                                        ) {
                                            topology = Some(t);
                                        }
                                        last_refresh = Instant::now();
                                    }
                                    summary.redirects += 1;
                                }
                                Redirect::Ask(addr) => {
                                    op.ask = Some(addr);
                                    summary.redirects += 1;
                                }
                                // Deferred above, never here.
                                Redirect::Retry(_) => {}
                            }
                            retry_q.push((version, op));
                        }
                    }
                    if summary.must_stop(opts) && !stopped {
                        stopped = true;
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            }
            if let Some(p) = progress {
                if last_progress.elapsed() > Duration::from_millis(100) {
                    p(&summary);
                    last_progress = Instant::now();
                }
            }
        }
        nodes.clear(); // closes the node channels: writers and readers finish
    });

    commit_report(conflicts_out, "conflicts file")?;
    summary.settle(&mut trackers);
    if fatal.is_none() {
        save_checkpoint(&mut trackers, &summary)?;
    }
    commit_report(failed_out, "failed-keys file")?;
    summary.duration = started.elapsed();
    if let Some(p) = &opts.engine.skip_corrupt {
        // Records the walk lost were never read by a worker.
        // (Damaged values are left out by the workers, uncounted, and
        // counted here with the regions, once each.)
        summary.skipped_corrupt += p.count();
        summary.keys_read += p.count();
        for (stored, computed) in p.checksum_mismatches() {
            summary.notes.push(format!(
                "checksum mismatch: stored {stored:016x}, computed {computed:016x}"
            ));
        }
    }
    if opts.checkpoint.is_some() {
        summary.totals = Some(summary.totals_with(opts.resume.as_ref(), &trackers[..]));
    }
    summary.reached = files
        .iter()
        .zip(&trackers)
        .map(|(f, t)| {
            let at = (t.read_upto != u64::MAX).then_some(t.read_upto);
            (f.name.clone(), at, f.data.len() as u64)
        })
        .collect();
    summary.finish(opts);
    if let Some(e) = fatal {
        // Keys may have been written: the summary still accounts for them.
        summary.ending = Ending::Error(e.to_string());
    }
    Ok(summary)
}

/// Routes the gathered redirected ops, grouped by payload version.
#[allow(clippy::too_many_arguments)]
fn flush_retries<'a, R>(
    q: &mut Vec<(u32, Op<'a>)>,
    route: &R,
    topology: &Option<Topology>,
    nodes: &mut HashMap<String, Node<'a>>,
    summary: &mut Summary,
    outstanding: &mut u64,
    failed_out: &mut Option<ReportFile>,
) where
    R: Fn(
        Vec<Op<'a>>,
        u32,
        &Option<Topology>,
        &mut HashMap<String, Node<'a>>,
        &mut Summary,
        &mut u64,
        &mut Option<ReportFile>,
    ),
{
    while let Some(&(v, _)) = q.first() {
        let (same, rest): (Vec<_>, Vec<_>) = q.drain(..).partition(|(x, _)| *x == v);
        *q = rest;
        route(
            same.into_iter().map(|(_, o)| o).collect(),
            v,
            topology,
            nodes,
            summary,
            outstanding,
            failed_out,
        );
    }
}

/// Notes a summary carries at most (keys sent as commands for their size).
const MAX_NOTES: usize = 20;

/// While this many ops wait out a back-off, no more of the file is read.
const MAX_DELAYED: usize = 200_000;

/// Redirects (`MOVED`, `ASK`) an op may follow before it fails.
const MAX_REDIRECTS: u32 = 16;

/// Why a command-mode key fails after its connection was lost mid-write
/// (`panic`/`ignore`, which never overwrite).
const PARTIAL: &str = "the connection was lost while this key's commands were sent, and the target now holds the key, perhaps incomplete: load it again with --on-conflict rewrite";

/// The id of a node connection: its address and payload version.
fn node_id(addr: &str, version: u32) -> String {
    format!("{addr}#{version}")
}

/// A fresh cluster slot map: through the control connection, else through
/// a new one to the seed address or any node seen before (the control
/// node may be the one that failed). `None` when no node answers.
fn rediscover(
    control: &mut Conn,
    target: &Target,
    connect: &ConnectOptions,
    known: Option<&Topology>,
) -> Option<Topology> {
    if let Ok(t) = cluster::discover(control, &target.host) {
        return Some(t);
    }
    let mut candidates = vec![target.addr()];
    if let Some(k) = known {
        candidates.extend(k.nodes.iter().cloned());
    }
    candidates.dedup();
    for addr in candidates {
        if let Ok(mut c) = Conn::open(&addr, &target.auth, connect) {
            if let Ok(t) = cluster::discover(&mut c, &target.host) {
                *control = c;
                return Some(t);
            }
        }
    }
    None
}
