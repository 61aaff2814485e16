//! `rdbkit verify`: compares a target server (standalone or cluster) with
//! one or more snapshots. Every key the snapshot holds (expired and empty
//! keys are skipped, as `load` skips them; same db mapping as `load`) must
//! exist on the target with the same type, the same value, and an expiry
//! within a tolerance (no expiry in the file: none on the target).
//!
//! Flow (the same shape as `load`): one scanner thread per file runs the
//! parallel engine, whose workers make `load`'s decisions for each record
//! and build its probes (`probe.rs`); the main thread routes key checks to
//! one pipelined connection per node (`node.rs`), whose reader judges the
//! replies (`eval.rs`); huge keys go to a thread that checks them page by
//! page (`big.rs`). The main thread does all accounting and writes the
//! `--diff` lines (`report.rs`). `--sample N` first draws N keys with a
//! seeded reservoir (`sample.rs`), then checks only those.
//!
//! Reading the target: the fast path asks for `PEXPIRETIME` and `DUMP`; a
//! payload equal to the snapshot's bytes is an equal value. Otherwise (a
//! server of another version re-encodes values) the value is compared
//! decoded: ordered types in windows, unordered ones by looking every
//! snapshot member up plus the cardinality.

pub mod big;
mod driver;
pub mod eval;
mod feed;
mod ledger;
pub mod node;
pub mod probe;
pub mod report;
pub mod sample;
mod session;
pub mod worker;

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::channel;
use std::time::{Duration, Instant};

use crate::outpath::AtomicFile;
use crate::rdb::records::{parse_header, Record};
use crate::rdb::value::Dialect;
use crate::redis::cluster;
use crate::redis::conn;
use crate::redis::ClientError;
use crate::redis::Target;
use crate::restore::worker::WorkerConfig;
use crate::restore::{self, jsonl, InputError, InputFile, KeyOptions, OnConflict};
use crate::scan::{self, EngineOptions};
use crate::sink::SinkError;

use self::driver::Driver;
use self::eval::Verdict;
pub use self::ledger::FIRST_DIFFERENCES;
use self::node::NodeConfig;
use self::probe::{BuildCtx, BuildNotes, Features, Probes};
pub use self::report::{SampleInfo, Summary};
use self::session::Session;
use self::worker::{FastStats, Shared, VBatch, VerifyWorker};

/// Errors of `verify`. None of them carries a password. (The messages are
/// the ones `load` gives for the same causes.) Each keeps its cause as a
/// value ([`std::error::Error::source`]).
#[derive(Debug)]
pub enum VerifyError {
    /// A bad option or URL. The text is the message.
    Usage(String),
    /// The client layer failed: a target refused or failed (or a TLS file
    /// could not be used).
    Client(ClientError),
    /// An input file cannot be used. (Boxed: the biggest cause, and the
    /// rarest.)
    Input(Box<InputError>),
    /// A local file could not be written (`what`: which one).
    Io {
        what: String,
        source: std::io::Error,
    },
}

impl VerifyError {
    fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> VerifyError {
        let what = what.into();
        move |source| VerifyError::Io { what, source }
    }
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::Usage(m) => write!(f, "{m}"),
            VerifyError::Client(e) => e.fmt(f),
            VerifyError::Input(e) => e.fmt(f),
            VerifyError::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for VerifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VerifyError::Usage(_) => None,
            VerifyError::Client(e) => e.source(),
            VerifyError::Input(e) => e.source(),
            VerifyError::Io { source, .. } => Some(source),
        }
    }
}

impl From<ClientError> for VerifyError {
    fn from(e: ClientError) -> Self {
        VerifyError::Client(e)
    }
}

impl From<InputError> for VerifyError {
    fn from(e: InputError) -> Self {
        VerifyError::Input(Box::new(e))
    }
}

/// Default `--ttl-tolerance`.
pub const DEFAULT_TTL_TOLERANCE_MS: i64 = 2000;

/// Everything `verify` needs besides the inputs.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub target: Target,
    /// `Some(true)`: cluster; `Some(false)`: standalone; `None`: ask the server.
    pub cluster: Option<bool>,
    pub tls: conn::TlsFiles,
    /// How long a connection may wait on the target (`None`: no limit).
    pub io_timeout: Option<Duration>,
    /// Target db, db map, `keep_expired` and "now", as for `load`.
    pub keys: KeyOptions,
    pub engine: EngineOptions,
    /// Check a uniform random sample of this many keys.
    pub sample: Option<u64>,
    /// Seed of the sample (default: from the clock; reported either way).
    pub seed: Option<u64>,
    /// Write every missing or different key here as JSON Lines.
    pub diff_file: Option<PathBuf>,
    pub ttl_tolerance_ms: i64,
    /// Try `DUMP` before decoding.
    pub fast_path: bool,
}

/// How a key is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `DUMP` payload first.
    Fast,
    /// Decoded value, all probes pipelined.
    Decoded,
    /// Decoded value, page by page (huge keys).
    Paged,
    /// Module value: `DUMP` only.
    Module,
}

/// One key to check.
pub struct KeyCheck<'a> {
    pub file: usize,
    /// Offset of the record in its file.
    pub offset: u64,
    /// Database in the target.
    pub db: u64,
    pub key: Cow<'a, [u8]>,
    pub slot: u16,
    pub rec: Record<'a>,
    /// Expected absolute expiry (`None`: the key must have none).
    pub expire_ms: Option<i64>,
    pub method: Method,
    pub probes: Option<Box<Probes>>,
    /// After an `-ASK` redirect: the node to ask.
    pub ask: Option<String>,
    pub attempts: u32,
    pub notes: BuildNotes,
}

/// A verdict on a key.
pub struct Outcome<'a> {
    pub check: KeyCheck<'a>,
    pub verdict: Verdict,
}

/// Messages to the main thread.
#[allow(clippy::large_enum_variant)]
pub enum Msg<'a> {
    Batch(usize, VBatch<'a>),
    Outcomes(Vec<Outcome<'a>>),
    FileDone(usize, Result<(), SinkError>),
}

fn major_minor(v: &str) -> (u32, u32) {
    let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

/// What a target answers, from its `INFO server` versions.
pub fn target_features(redis_version: &str, valkey_version: Option<&str>) -> Features {
    let v = major_minor(redis_version);
    Features {
        pexpiretime: valkey_version.is_some() || v >= (7, 0),
        multi_lookup: valkey_version.is_some() || v >= (6, 2),
        field_ttl: restore::target_features(redis_version, valkey_version).field_ttl,
    }
}

/// Verifies the target against `files`: the handshake, each file's plan,
/// the `--sample` draw, then the driver's event loop.
pub fn verify(
    files: &[InputFile<'_>],
    opts: &VerifyOptions,
    progress: Option<&(dyn Fn(&Summary) + Sync)>,
) -> Result<Summary, VerifyError> {
    let started = Instant::now();
    let mut session = Session::open(opts)?;
    let keys = key_options(opts);
    let node_cfg = NodeConfig {
        build: BuildCtx {
            features: session.features,
            now_ms: keys.now_ms.unwrap_or_default(),
            tolerance_ms: opts.ttl_tolerance_ms.max(0),
        },
    };
    let configs = file_configs(files, &keys, session.cluster)?;
    let topology = match session.cluster {
        true => Some(cluster::discover(&mut session.control, &opts.target.host)?),
        false => None,
    };
    let diff_out = diff_file(opts)?;
    let mut summary = first_summary(opts, &session, node_cfg);
    let engine = EngineOptions {
        chunk_bytes: 256 << 10,
        ..opts.engine.clone()
    };
    let fast = FastStats::default();
    let base = shared(node_cfg, &fast, opts, &session);
    let sample = |n| draw_sample(files, &configs, &engine, base, opts, n, &mut summary);
    let selections = opts.sample.map(sample).transpose()?;
    let stop = AtomicBool::new(false);
    let inp = driver::Inputs {
        opts,
        files,
        node_cfg,
        fast: &fast,
        stop: &stop,
        progress,
        started,
    };
    let readers = feed::Readers {
        engine: &engine,
        base,
        selections: selections.as_deref(),
        stop: &stop,
    };
    let end = driver::Ended {
        summary,
        diff_out,
        fatal: None,
    };
    let run = Run {
        inp,
        readers,
        configs: &configs,
    };
    let end = std::thread::scope(|s| drive(s, run, session, topology, end));
    finish(end, started)
}

/// After the loop: the error that stopped the run, or the summary with the
/// diff file committed (only a finished run's diff file takes its name,
/// see `outpath`).
fn finish(end: driver::Ended, started: Instant) -> Result<Summary, VerifyError> {
    let mut summary = end.summary;
    summary.duration = started.elapsed();
    if let Some(e) = end.fatal {
        return Err(e);
    }
    if let Some(w) = end.diff_out {
        w.commit().map_err(VerifyError::io("diff file"))?;
    }
    Ok(summary)
}

/// The workers' settings common to every file.
fn shared<'s>(
    node: NodeConfig,
    fast: &'s FastStats,
    opts: &VerifyOptions,
    session: &Session,
) -> Shared<'s> {
    Shared {
        node,
        fast,
        fast_path: opts.fast_path,
        modules: session.modules,
        file_dialect: Dialect::Redis,
        target_valkey_types: session.target_valkey_types,
        selection: None,
        population: false,
    }
}

/// What the event loop is started with.
struct Run<'r, 'a> {
    inp: driver::Inputs<'r, 'a>,
    readers: feed::Readers<'r>,
    configs: &'r [(WorkerConfig, Dialect)],
}

/// Starts the paged checker and the readers, and runs the driver within
/// the thread scope `s`.
fn drive<'s, 'env, 'a: 's>(
    s: &'s std::thread::Scope<'s, 'env>,
    run: Run<'s, 'a>,
    session: Session,
    topology: Option<cluster::Topology>,
    end: driver::Ended,
) -> driver::Ended {
    let (to_main, from) = channel();
    let (big_tx, big_rx) = channel::<KeyCheck<'a>>();
    let target = &run.inp.opts.target;
    let bt = big::BigTarget {
        standalone: target.addr(),
        topology: topology.clone(),
        auth: target.auth.clone(),
        connect: session.connect.clone(),
    };
    let (to_big, node_cfg) = (to_main.clone(), run.inp.node_cfg);
    s.spawn(move || big::run(big_rx, to_big, bt, node_cfg));
    let files = run.inp.files;
    let tokens = feed::spawn(s, files, run.configs, run.readers, &to_main);
    let wires = driver::Wires {
        scope: s,
        to_main,
        from,
        big_tx,
        tokens,
    };
    Driver::new(run.inp, wires, session, topology, end).run()
}

/// `--diff`: the file, under a temporary name until the run finishes.
fn diff_file(opts: &VerifyOptions) -> Result<Option<AtomicFile>, VerifyError> {
    let Some(p) = &opts.diff_file else {
        return Ok(None);
    };
    let f = AtomicFile::create(p).map_err(VerifyError::io(p.display().to_string()))?;
    Ok(Some(f))
}

/// `load`'s key options, with one "now" for every decision (so that both
/// passes of a sample agree) and no LRU/LFU hints.
fn key_options(opts: &VerifyOptions) -> KeyOptions {
    let mut keys = opts.keys.clone();
    if keys.db.is_none() {
        keys.db = opts.target.db;
    }
    keys.now_ms = Some(keys.now_ms.unwrap_or_else(restore::now_ms));
    keys.lru = false;
    keys.lfu = false;
    keys
}

/// Each file's worker configuration (`load`'s decisions) and dialect.
fn file_configs(
    files: &[InputFile<'_>],
    keys: &KeyOptions,
    cluster: bool,
) -> Result<Vec<(WorkerConfig, Dialect)>, VerifyError> {
    let mut configs = Vec::new();
    for (i, f) in files.iter().enumerate() {
        if jsonl::is_jsonl(f.data) {
            return Err(VerifyError::Usage(format!(
                "{}: verify reads RDB files, not JSON Lines",
                f.name
            )));
        }
        let h = parse_header(f.data).map_err(|e| InputError::new(&*f.name, e.into()))?;
        let policy = OnConflict::Ignore;
        let cfg = restore::worker_config(i, f.data, keys, cluster, policy, false, &f.name)?;
        configs.push((cfg, h.dialect));
    }
    Ok(configs)
}

/// The summary before the first key: the target and how it is compared.
fn first_summary(opts: &VerifyOptions, session: &Session, node_cfg: NodeConfig) -> Summary {
    let mut summary = Summary {
        target: session.target_name.clone(),
        ttl_tolerance_ms: node_cfg.build.tolerance_ms,
        ..Default::default()
    };
    if session.modules {
        summary
            .notes
            .push("the target has modules: module values are compared by DUMP payload".into());
    }
    if !opts.fast_path {
        summary
            .notes
            .push("DUMP fast path off: every value compared decoded".into());
    }
    summary
}

/// `--sample N`: a first pass lists the keys that would be checked and a
/// seeded reservoir draws N of them; each file's chosen offsets, sorted.
#[allow(clippy::too_many_arguments)]
fn draw_sample(
    files: &[InputFile<'_>],
    configs: &[(WorkerConfig, Dialect)],
    engine: &EngineOptions,
    base: Shared<'_>,
    opts: &VerifyOptions,
    n: u64,
    summary: &mut Summary,
) -> Result<Vec<Vec<u64>>, VerifyError> {
    let seed = opts.seed.unwrap_or_else(sample::clock_seed);
    let mut res = sample::Reservoir::new(n as usize, seed);
    for (i, f) in files.iter().enumerate() {
        let cfg = configs[i].0.clone();
        let sh = Shared {
            file_dialect: configs[i].1,
            population: true,
            ..base
        };
        scan::run(
            f.data,
            engine,
            || VerifyWorker::new(cfg.clone(), sh),
            |b: VBatch<'_>, _| {
                for off in b.offsets {
                    res.offer((i, off));
                }
                Ok(())
            },
            None,
        )
        .map_err(|e| InputError::new(&*f.name, e.into()))?;
    }
    summary.sample = Some(SampleInfo {
        size: n,
        seed,
        population: res.population(),
    });
    Ok(res.per_file(files.len()))
}
