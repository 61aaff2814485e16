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
mod driver;
mod feed;
mod ledger;
pub mod node;
mod plan;
pub mod preflight;
mod reports;
mod retry;
mod router;
mod same;
mod session;
pub mod summary;

pub use self::ledger::Redirect;
use self::reports::{commit_report, report_file};

/// The client modules under their old paths (`load::conn`, ...), for code
/// written before they moved to [`crate::redis`]; new code names `redis::`.
pub use crate::redis::{cluster, conn, resp, slot, target};
/// The per-key decisions and encoders under their old paths (`load::op`,
/// `load::worker_config`, ...), now in [`crate::restore`].
pub use crate::restore::{commands, jsonl, op, payload, worker};
pub use crate::restore::{
    now_ms, printable, shown, snapshot_ctime_ms, target_features, target_rdb_version,
    worker_config, InputCause, InputError, InputFile, KeyOptions, OnConflict,
};

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use self::driver::{Accounts, Driver};
use self::node::Outcome;
use self::plan::Checkpointer;
use self::router::Router;
use self::session::Session;
use crate::rdb::records::{ParseOptions, Parser};
use crate::redis::cluster::Topology;
use crate::redis::{ClientError, ServerError};
use crate::restore::worker::{Batch, WorkerConfig};
use crate::scan::EngineOptions;
use crate::sink::SinkError;

pub use self::summary::{Ending, Summary};
pub use crate::redis::target::{Auth, Target};
pub use crate::restore::op::{Op, OpKind};

/// Errors of the load layer. None of them carries a password. Each keeps
/// its cause as a value ([`std::error::Error::source`]); the message is one
/// line with the context and the cause's text.
#[derive(Debug)]
pub enum LoadError {
    /// A bad option or URL. The text is the message.
    Usage(String),
    /// The client layer failed: a target refused or failed (or a TLS file
    /// could not be used, which is a usage error).
    Client(ClientError),
    /// A node that failed to connect a moment ago and is still in its
    /// back-off: the error that put it there, shared by every op that
    /// meets the memo.
    Down(std::sync::Arc<ClientError>),
    /// A target is in a state the load cannot work with (address, what is
    /// wrong, in words).
    Target { addr: String, msg: String },
    /// A target refused a command a replicated load cannot do without
    /// (`CONFIG`, `REPLICAOF`: managed services rename or forbid them).
    Forbidden {
        addr: String,
        command: String,
        source: ServerError,
    },
    /// An input file cannot be used. (Boxed: the biggest cause, and the
    /// rarest.)
    Input(Box<InputError>),
    /// A local file could not be written (`what`: which one).
    Io {
        what: String,
        source: std::io::Error,
    },
    /// The run gave up waiting for something (a replica of `serve` that
    /// did not come), in words.
    GaveUp(String),
    /// A failure, and what it left behind (`state`: the target after a
    /// failed replicated load).
    Aftermath {
        error: Box<LoadError>,
        state: String,
    },
}

impl LoadError {
    /// Whether the user's input is at fault (exit code 2), not the target
    /// or a file.
    pub fn is_usage(&self) -> bool {
        match self {
            LoadError::Usage(_) => true,
            LoadError::Client(e) => e.is_usage(),
            LoadError::Aftermath { error, .. } => error.is_usage(),
            LoadError::Target { .. }
            | LoadError::Down(_)
            | LoadError::Forbidden { .. }
            | LoadError::Input(_)
            | LoadError::Io { .. }
            | LoadError::GaveUp(_) => false,
        }
    }

    /// A local file could not be written.
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> LoadError {
        let what = what.into();
        move |source| LoadError::Io { what, source }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Usage(m) => write!(f, "{m}"),
            LoadError::Client(e) => e.fmt(f),
            LoadError::Down(e) => e.fmt(f),
            LoadError::Target { addr, msg } => write!(f, "target {addr}: {msg}"),
            LoadError::Forbidden {
                addr,
                command,
                source,
            } => write!(
                f,
                "target {addr}: {command} was refused ({source}); replicated loading needs \
                 CONFIG and REPLICAOF (managed services often forbid them): use --mode restore"
            ),
            LoadError::Input(e) => e.fmt(f),
            LoadError::Io { what, source } => write!(f, "{what}: {source}"),
            LoadError::GaveUp(m) => f.write_str(m),
            LoadError::Aftermath { error, state } => write!(f, "{error}; {state}"),
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Usage(_) | LoadError::Target { .. } | LoadError::GaveUp(_) => None,
            LoadError::Client(e) => e.source(),
            LoadError::Down(e) => e.source(),
            LoadError::Forbidden { source, .. } => Some(source),
            LoadError::Input(e) => e.source(),
            LoadError::Io { source, .. } => Some(source),
            LoadError::Aftermath { error, .. } => Some(&**error),
        }
    }
}

impl From<InputError> for LoadError {
    fn from(e: InputError) -> Self {
        LoadError::Input(Box::new(e))
    }
}

impl From<ClientError> for LoadError {
    fn from(e: ClientError) -> Self {
        LoadError::Client(e)
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
pub fn db_at(data: &[u8], offset: u64) -> Result<u64, InputCause> {
    let mut p = Parser::new(
        data,
        ParseOptions {
            verify_checksum: false,
        },
    )?;
    loop {
        if p.offset() == offset {
            return Ok(p.db());
        }
        if p.offset() > offset {
            return Err(InputCause::Unusable("not a record boundary".into()));
        }
        match p.next_item() {
            Ok(Some(_)) => {}
            Ok(None) => return Err(InputCause::Unusable("beyond the end of the records".into())),
            Err(e) => return Err(e.into()),
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

/// One load: the handshake, each file's plan, the checkpoint and preflight
/// walk, then the driver's event loop, then the summary.
fn load_once(
    files: &[InputFile<'_>],
    opts: &LoadOptions,
    progress: Option<&(dyn Fn(&Summary) + Sync)>,
) -> Result<Summary, LoadError> {
    let started = Instant::now();
    let mut session = Session::open(opts)?;
    let (configs, notes) = plan::configs(files, opts, &session)?;
    let mut starts = plan::starts(files, opts)?;
    let mut trackers = std::mem::take(&mut starts.trackers);
    let mut ck = Checkpointer::new(files, opts);
    // A checkpoint exists from the start: a crash at once can be resumed.
    ck.save(&mut trackers, &Summary::default())?;
    walk_first(files, opts, &mut ck, &mut trackers)?;
    let mut acc = Accounts {
        summary: first_summary(opts, &session, notes, &ck.keys_in_files),
        trackers,
        conflicts_out: report_file(&opts.conflicts_file)?,
        failed_out: report_file(&opts.failed_file)?,
        fatal: None,
    };
    let topology = match session.cluster {
        true => cluster::discover(&mut session.control, &opts.target.host).map(Some),
        false => Ok(None),
    };
    let stop = AtomicBool::new(false);
    match topology {
        Ok(topology) => {
            let inp = driver::Inputs {
                opts,
                files,
                versions: configs.iter().map(|c| c.1).collect(),
                checkpointer: &ck,
                progress,
            };
            let run = Run {
                inp,
                configs: &configs,
                starts: &starts,
                stop: &stop,
            };
            acc = std::thread::scope(|s| drive(s, run, session, topology, acc));
        }
        Err(e) => acc.fatal = Some(e.into()),
    }
    finish(files, opts, &ck, acc, started)
}

/// What the event loop is started with.
struct Run<'r, 'a> {
    inp: driver::Inputs<'r, 'a>,
    configs: &'r [(WorkerConfig, u32)],
    starts: &'r plan::Starts,
    stop: &'r AtomicBool,
}

/// Starts the readers and runs the driver within the thread scope `s`.
fn drive<'s, 'env, 'a: 's>(
    s: &'s std::thread::Scope<'s, 'env>,
    run: Run<'s, 'a>,
    session: Session,
    topology: Option<Topology>,
    acc: Accounts,
) -> Accounts {
    let (to_main, from_nodes) = channel();
    let opts = run.inp.opts;
    let features = session.features;
    let spawner = router::Spawner {
        scope: s,
        to_main: to_main.clone(),
        stop: run.stop,
        target: &opts.target,
        connect: session.connect.clone(),
        opts,
        features,
    };
    let router = Router::new(spawner, topology);
    let files = run.inp.files;
    let tokens = feed::spawn(
        s,
        files,
        run.configs,
        run.starts,
        opts,
        features,
        &to_main,
        run.stop,
    );
    drop(to_main);
    let d = Driver::new(run.inp, session, router, from_nodes, tokens, run.stop, acc);
    d.run()
}

/// Nothing is written before every file has been walked (`--preflight`): a
/// damaged file stops here, with the target untouched. A resume takes the
/// counts of the run that walked the same files (same size and
/// fingerprint, checked before) instead of walking again.
fn walk_first(
    files: &[InputFile<'_>],
    opts: &LoadOptions,
    ck: &mut Checkpointer<'_, '_>,
    trackers: &mut [checkpoint::Tracker],
) -> Result<(), LoadError> {
    let walked: Option<Vec<Option<u64>>> = opts.resume.as_ref().and_then(|c| {
        c.files
            .iter()
            .map(|f| f.keys.map(Some))
            .collect::<Option<Vec<_>>>()
            .filter(|v| v.len() == files.len())
    });
    match walked {
        Some(k) => ck.keys_in_files = k,
        None if opts.preflight => {
            ck.keys_in_files = preflight::walk(files, &opts.engine)?;
            ck.save(trackers, &Summary::default())?;
        }
        None => {}
    }
    Ok(())
}

/// The summary before the first key: what is known of the run.
fn first_summary(
    opts: &LoadOptions,
    session: &Session,
    notes: Vec<String>,
    keys_in_files: &[Option<u64>],
) -> Summary {
    Summary {
        notes,
        encode_limits: opts.limits,
        encode_features: session.features,
        server_version: session.server_version.clone(),
        track: opts.checkpoint.is_some(),
        max_errors: opts.max_errors,
        dry_run: opts.dry_run,
        earlier: opts.resume.as_ref().map_or(0, |c| c.totals.accounted()),
        keys_in_files: keys_in_files.iter().copied().sum(),
        checkpoint: opts.checkpoint.clone(),
        ..Default::default()
    }
}

/// After the loop: the report files committed, the last checkpoint
/// written (not after an error), and the summary completed.
fn finish(
    files: &[InputFile<'_>],
    opts: &LoadOptions,
    ck: &Checkpointer<'_, '_>,
    acc: Accounts,
    started: Instant,
) -> Result<Summary, LoadError> {
    let Accounts {
        mut summary,
        mut trackers,
        conflicts_out,
        failed_out,
        fatal,
    } = acc;
    commit_report(conflicts_out, "conflicts file")?;
    summary.settle(&mut trackers);
    if fatal.is_none() {
        ck.save(&mut trackers, &summary)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn error_messages_name_the_context_and_keep_the_cause() {
        let format = crate::Error::invalid(12, "length", "too big");
        let e: LoadError = InputError::new("a.rdb", format.clone().into())
            .at("checkpoint offset 12")
            .note("nothing was written")
            .into();
        assert_eq!(
            e.to_string(),
            "a.rdb: checkpoint offset 12: at byte offset 12: invalid length: too big \
             (nothing was written)"
        );
        assert_eq!(e.source().and_then(|s| s.downcast_ref()), Some(&format));
        assert!(!e.is_usage());

        let io = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "denied");
        let e = LoadError::io("checkpoint ck.json")(io);
        assert_eq!(e.to_string(), "checkpoint ck.json: denied");
        assert!(e.source().is_some_and(|s| s.is::<std::io::Error>()));

        let e = LoadError::Aftermath {
            error: Box::new(LoadError::Target {
                addr: "h:1".into(),
                msg: "dropped".into(),
            }),
            state: "its settings were restored".into(),
        };
        assert_eq!(
            e.to_string(),
            "target h:1: dropped; its settings were restored"
        );
        assert!(e.source().is_some_and(|s| s.is::<LoadError>()));

        let tls = LoadError::from(ClientError::Tls {
            what: "TLS CA file ca.pem".into(),
            source: "no certificates".into(),
        });
        assert!(tls.is_usage());
        assert_eq!(tls.to_string(), "TLS CA file ca.pem: no certificates");
    }

    #[test]
    fn db_at_says_why_an_offset_is_unusable() {
        assert!(matches!(
            db_at(b"NOT AN RDB", 0),
            Err(InputCause::Format(_))
        ));
    }
}
