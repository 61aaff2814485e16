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
pub mod eval;
pub mod node;
pub mod probe;
pub mod report;
pub mod sample;
pub mod worker;

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::time::{Duration, Instant};

use crate::outpath::AtomicFile;
use crate::rdb::records::{parse_header, Record};
use crate::rdb::value::Dialect;
use crate::redis::cluster::{self, Topology};
use crate::redis::conn::{self, Conn};
use crate::redis::resp::Reply;
use crate::redis::ClientError;
use crate::redis::Target;
use crate::restore::{self, jsonl, printable, InputError, InputFile, KeyOptions, OnConflict};
use crate::scan::{self, EngineOptions};
use crate::sink::SinkError;

use self::eval::{RedirectKind, Verdict};
use self::node::NodeConfig;
use self::probe::{BuildCtx, BuildNotes, Features, Probes};
pub use self::report::{SampleInfo, Summary};
use self::worker::{FastStats, Shared, VBatch, VerifyWorker};

/// Errors of `verify`. None of them carries a password. (The messages are
/// the ones `load` gives for the same causes.)
#[derive(Debug)]
pub enum VerifyError {
    /// A bad option or URL.
    Usage(String),
    /// A target refused or failed (address, what happened).
    Target { addr: String, msg: String },
    /// An input file failed to parse.
    Input { file: String, msg: String },
    /// A local file could not be written.
    Io(String),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::Usage(m) => write!(f, "{m}"),
            VerifyError::Target { addr, msg } => write!(f, "target {addr}: {msg}"),
            VerifyError::Input { file, msg } => write!(f, "{file}: {msg}"),
            VerifyError::Io(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for VerifyError {}

impl From<ClientError> for VerifyError {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Usage(m) => VerifyError::Usage(m),
            ClientError::Target { addr, msg } => VerifyError::Target { addr, msg },
        }
    }
}

impl From<InputError> for VerifyError {
    fn from(e: InputError) -> Self {
        VerifyError::Input {
            file: e.file,
            msg: e.msg,
        }
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

/// Verifies the target against `files`.
pub fn verify<'a>(
    files: &[InputFile<'a>],
    opts: &VerifyOptions,
    progress: Option<&(dyn Fn(&Summary) + Sync)>,
) -> Result<Summary, VerifyError> {
    let started = Instant::now();
    let target = &opts.target;
    let (mut control, connect) = Conn::open_target(target, &opts.tls, opts.io_timeout)?;
    let info = control.server_info()?;
    let target_name = info.name();
    let redis_version = info.redis_version.unwrap_or_default();
    let valkey_version = info.valkey_version;
    let features = target_features(&redis_version, valkey_version.as_deref());
    // Valkey 9+ reads type bytes >= 22 in its own dialect.
    let target_valkey_types = valkey_version
        .as_deref()
        .is_some_and(|v| major_minor(v).0 >= 9);
    let cluster = match opts.cluster {
        Some(c) => c,
        None => control
            .info("cluster")?
            .iter()
            .any(|(k, v)| k == "cluster_enabled" && v == "1"),
    };
    if cluster && (target.db.unwrap_or(0) != 0 || opts.keys.db.unwrap_or(0) != 0) {
        return Err(VerifyError::Usage(
            "a Redis Cluster has only database 0".into(),
        ));
    }
    let modules = matches!(
        control.call(&[b"MODULE", b"LIST"])?,
        Reply::Array(Some(m)) if !m.is_empty()
    );
    let mut keys = opts.keys.clone();
    if keys.db.is_none() {
        keys.db = target.db;
    }
    // One "now" for every decision, so that both passes of a sample agree.
    keys.now_ms = Some(keys.now_ms.unwrap_or_else(restore::now_ms));
    keys.lru = false;
    keys.lfu = false;
    let now = keys.now_ms.unwrap_or_default();
    let node_cfg = NodeConfig {
        build: BuildCtx {
            features,
            now_ms: now,
            tolerance_ms: opts.ttl_tolerance_ms.max(0),
        },
    };

    let mut configs = Vec::new();
    for (i, f) in files.iter().enumerate() {
        if jsonl::is_jsonl(f.data) {
            return Err(VerifyError::Usage(format!(
                "{}: verify reads RDB files, not JSON Lines",
                f.name
            )));
        }
        let h = parse_header(f.data).map_err(|e| VerifyError::Input {
            file: f.name.clone(),
            msg: e.to_string(),
        })?;
        let cfg = restore::worker_config(
            i,
            f.data,
            &keys,
            cluster,
            OnConflict::Ignore,
            false,
            &f.name,
        )?;
        configs.push((cfg, h.dialect));
    }
    let topology = if cluster {
        Some(cluster::discover(&mut control, &target.host)?)
    } else {
        None
    };
    let mut diff_out = match &opts.diff_file {
        Some(p) => Some(
            AtomicFile::create(p).map_err(|e| VerifyError::Io(format!("{}: {e}", p.display())))?,
        ),
        None => None,
    };
    let mut summary = Summary {
        target: target_name,
        ttl_tolerance_ms: node_cfg.build.tolerance_ms,
        ..Default::default()
    };
    if modules {
        summary
            .notes
            .push("the target has modules: module values are compared by DUMP payload".into());
    }
    if !opts.fast_path {
        summary
            .notes
            .push("DUMP fast path off: every value compared decoded".into());
    }
    let engine = EngineOptions {
        chunk_bytes: 256 << 10,
        ..opts.engine.clone()
    };
    let fast = FastStats::default();
    let base = Shared {
        node: node_cfg,
        fast: &fast,
        fast_path: opts.fast_path,
        modules,
        file_dialect: Dialect::Redis,
        target_valkey_types,
        selection: None,
        population: false,
    };

    // --sample: draw the keys first.
    let mut selections: Option<Vec<Vec<u64>>> = None;
    if let Some(n) = opts.sample {
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
                &engine,
                || VerifyWorker::new(cfg.clone(), sh),
                |b: VBatch<'_>, _| {
                    for off in b.offsets {
                        res.offer((i, off));
                    }
                    Ok(())
                },
                None,
            )
            .map_err(|e| VerifyError::Input {
                file: f.name.clone(),
                msg: e.to_string(),
            })?;
        }
        summary.sample = Some(SampleInfo {
            size: n,
            seed,
            population: res.population(),
        });
        selections = Some(res.per_file(files.len()));
    }

    let stop = AtomicBool::new(false);
    let mut fatal: Option<VerifyError> = None;

    std::thread::scope(|s| {
        let (to_main, from): (Sender<Msg<'a>>, Receiver<Msg<'a>>) = channel();
        let (big_tx, big_rx) = channel::<KeyCheck<'a>>();
        {
            let to_main = to_main.clone();
            let bt = big::BigTarget {
                standalone: target.addr(),
                topology: topology.clone(),
                auth: target.auth.clone(),
                connect: connect.clone(),
            };
            s.spawn(move || big::run(big_rx, to_main, bt, node_cfg));
        }

        // Scanners, one per file, with a window of two batches each.
        let mut tokens = Vec::new();
        for (i, f) in files.iter().enumerate() {
            let (tok_tx, tok_rx) = sync_channel::<()>(2);
            for _ in 0..2 {
                let _ = tok_tx.send(());
            }
            tokens.push(tok_tx);
            let to_main = to_main.clone();
            let cfg = configs[i].0.clone();
            let sh = Shared {
                file_dialect: configs[i].1,
                selection: selections.as_ref().map(|v| v[i].as_slice()),
                ..base
            };
            let (stop, data, release) = (&stop, f.data, f.release);
            let engine = engine.clone();
            s.spawn(move || {
                let hint = move |done: u64, _: u64, _: u64| {
                    if let Some(r) = release {
                        r(done.saturating_sub(16 << 20));
                    }
                };
                let r = scan::run(
                    data,
                    &engine,
                    || VerifyWorker::new(cfg.clone(), sh),
                    |b: VBatch<'a>, _| {
                        if stop.load(Ordering::Relaxed) || tok_rx.recv().is_err() {
                            return Err(SinkError::Stopped);
                        }
                        to_main
                            .send(Msg::Batch(i, b))
                            .map_err(|_| SinkError::Stopped)
                    },
                    Some(&hint),
                )
                .map(|_| ())
                .map_err(SinkError::from);
                let _ = to_main.send(Msg::FileDone(i, r));
            });
        }

        let standalone = target.addr();
        let open_node = |addr: &str| -> Result<SyncSender<Vec<KeyCheck<'a>>>, VerifyError> {
            let c = Conn::open(addr, &target.auth, &connect)?;
            Ok(node::spawn(s, c, node_cfg, to_main.clone()))
        };
        let mut nodes: HashMap<String, SyncSender<Vec<KeyCheck<'a>>>> = HashMap::new();
        let mut topology = topology;
        let mut files_left = files.len();
        let mut outstanding: u64 = 0;
        let mut retry_q: Vec<KeyCheck<'a>> = Vec::new();
        let mut selected_dbs: Vec<u64> = Vec::new();
        let mut last_refresh = Instant::now();
        let mut last_progress = Instant::now();
        let mut stopped = false;

        let route = |checks: Vec<KeyCheck<'a>>,
                     topology: &Option<Topology>,
                     nodes: &mut HashMap<String, SyncSender<Vec<KeyCheck<'a>>>>,
                     summary: &mut Summary,
                     outstanding: &mut u64| {
            let mut per_addr: HashMap<String, Vec<KeyCheck<'a>>> = HashMap::new();
            for c in checks {
                let ask = c.ask.clone();
                let addr: &str = match (&ask, topology) {
                    (Some(a), _) => a,
                    (None, None) => &standalone,
                    (None, Some(t)) => match t.node_of(c.slot) {
                        Some(a) => a,
                        None => {
                            summary.checked += 1;
                            summary.error(format!(
                                "db {} key {}: CLUSTERDOWN slot {} is not served by any node",
                                c.db,
                                printable(&c.key),
                                c.slot
                            ));
                            continue;
                        }
                    },
                };
                match per_addr.get_mut(addr) {
                    Some(v) => v.push(c),
                    None => {
                        per_addr.insert(addr.to_string(), vec![c]);
                    }
                }
            }
            for (addr, cs) in per_addr {
                if !nodes.contains_key(&addr) {
                    match open_node(&addr) {
                        Ok(tx) => {
                            nodes.insert(addr.clone(), tx);
                        }
                        Err(e) => {
                            for c in cs {
                                summary.checked += 1;
                                summary.error(format!(
                                    "db {} key {}: {e}",
                                    c.db,
                                    printable(&c.key)
                                ));
                            }
                            continue;
                        }
                    }
                }
                let n = cs.len() as u64;
                match nodes[&addr].send(cs) {
                    Ok(()) => *outstanding += n,
                    Err(std::sync::mpsc::SendError(cs)) => {
                        for c in cs {
                            summary.checked += 1;
                            summary.error(format!(
                                "db {} key {}: {addr}: the connection's writer stopped",
                                c.db,
                                printable(&c.key)
                            ));
                        }
                    }
                }
            }
        };

        while files_left > 0 || outstanding > 0 || !retry_q.is_empty() {
            let msg = match from.try_recv() {
                Ok(m) => {
                    if retry_q.len() >= 1024 {
                        route(
                            std::mem::take(&mut retry_q),
                            &topology,
                            &mut nodes,
                            &mut summary,
                            &mut outstanding,
                        );
                    }
                    m
                }
                Err(_) => {
                    if !retry_q.is_empty() {
                        route(
                            std::mem::take(&mut retry_q),
                            &topology,
                            &mut nodes,
                            &mut summary,
                            &mut outstanding,
                        );
                    }
                    if files_left == 0 && outstanding == 0 {
                        break;
                    }
                    match from.recv() {
                        Ok(m) => m,
                        Err(_) => break,
                    }
                }
            };
            match msg {
                Msg::Batch(i, b) => {
                    summary.keys_read += b.keys_read;
                    summary.skipped_expired += b.skipped_expired;
                    summary.skipped_empty += b.skipped_empty;
                    summary.not_sampled += b.not_sampled;
                    summary.filtered += b.filtered;
                    summary.uncomparable += b.uncomparable;
                    summary.checked += b.uncomparable;
                    summary.bytes_read += b.bytes;
                    for e in b.errors {
                        summary.checked += 1;
                        summary.error(e);
                    }
                    if stopped {
                        // Not checked: the run is failing anyway.
                        summary.checked += (b.checks.len() + b.bigs.len()) as u64;
                        summary.errors += (b.checks.len() + b.bigs.len()) as u64;
                    } else {
                        if topology.is_none() {
                            // Check each target db once, before reading keys there.
                            for c in b.checks.iter().chain(&b.bigs) {
                                if !selected_dbs.contains(&c.db) {
                                    let db = c.db.to_string();
                                    if let Err(e) = control.call_ok(&[b"SELECT", db.as_bytes()]) {
                                        fatal.get_or_insert(e.into());
                                        stopped = true;
                                        stop.store(true, Ordering::Relaxed);
                                        break;
                                    }
                                    selected_dbs.push(c.db);
                                }
                            }
                        }
                        if stopped {
                            summary.checked += (b.checks.len() + b.bigs.len()) as u64;
                            summary.errors += (b.checks.len() + b.bigs.len()) as u64;
                        } else {
                            for c in b.bigs {
                                outstanding += 1;
                                summary.compared_paged += 1;
                                let _ = big_tx.send(c);
                            }
                            route(
                                b.checks,
                                &topology,
                                &mut nodes,
                                &mut summary,
                                &mut outstanding,
                            );
                        }
                    }
                    let _ = tokens[i].send(());
                }
                Msg::FileDone(i, r) => {
                    files_left -= 1;
                    match r {
                        Ok(()) | Err(SinkError::Stopped) => {}
                        Err(e) => {
                            fatal.get_or_insert(VerifyError::Input {
                                file: files[i].name.clone(),
                                msg: e.to_string(),
                            });
                            stopped = true;
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                }
                Msg::Outcomes(os) => {
                    outstanding -= os.len() as u64;
                    for Outcome { check, verdict } in os {
                        let next =
                            account(&mut summary, &mut diff_out, &fast, files, check, verdict);
                        match next {
                            Ok(Next::Done) => {}
                            Ok(Next::Again(c)) => retry_q.push(c),
                            Ok(Next::Paged(c)) => {
                                outstanding += 1;
                                let _ = big_tx.send(c);
                            }
                            Ok(Next::Redirected(mut c, rd)) => {
                                match rd {
                                    RedirectKind::Moved(slot, addr) => {
                                        c.ask = None;
                                        if let (Some(t), Some(slot), Some(addr)) =
                                            (topology.as_mut(), slot, addr)
                                        {
                                            t.set_owner(slot, addr);
                                        }
                                        // Re-read the whole map at most once a second.
                                        if last_refresh.elapsed() > Duration::from_secs(1) {
                                            if let Ok(t) =
                                                cluster::discover(&mut control, &target.host)
                                            {
                                                topology = Some(t);
                                            }
                                            last_refresh = Instant::now();
                                        }
                                        summary.redirects += 1;
                                    }
                                    RedirectKind::Ask(addr) => {
                                        c.ask = Some(addr);
                                        summary.redirects += 1;
                                    }
                                    RedirectKind::Retry => {
                                        std::thread::sleep(Duration::from_millis(
                                            50 * c.attempts as u64,
                                        ));
                                        summary.retries += 1;
                                    }
                                }
                                retry_q.push(c);
                            }
                            Err(e) => {
                                fatal.get_or_insert(e);
                                stopped = true;
                                stop.store(true, Ordering::Relaxed);
                            }
                        }
                    }
                }
            }
            if let Some(p) = progress {
                if last_progress.elapsed() > Duration::from_millis(100) {
                    summary.duration = started.elapsed();
                    p(&summary);
                    last_progress = Instant::now();
                }
            }
        }
        nodes.clear();
        drop(big_tx);
    });

    summary.duration = started.elapsed();
    if let Some(e) = fatal {
        return Err(e);
    }
    // Only a finished run's diff file takes its name (see `outpath`).
    if let Some(w) = diff_out {
        w.commit()
            .map_err(|e| VerifyError::Io(format!("diff file: {e}")))?;
    }
    Ok(summary)
}

/// What becomes of a key after a verdict.
enum Next<'a> {
    /// Counted.
    Done,
    /// Send it again (decoded comparison after a DUMP mismatch).
    Again(KeyCheck<'a>),
    /// Check it page by page.
    Paged(KeyCheck<'a>),
    /// Send it again after a cluster redirect.
    Redirected(KeyCheck<'a>, RedirectKind),
}

/// Counts a verdict (and writes its `--diff` line); says what comes next.
/// Differing keys named on stderr after a failed verify.
pub const FIRST_DIFFERENCES: usize = 5;

/// A key for a message: escaped, and cut to about 60 characters.
fn shortened(key: &[u8]) -> String {
    let p = printable(key);
    if p.chars().count() <= 60 {
        return p;
    }
    let head: String = p.chars().take(56).collect();
    format!("{head}...\" ({} bytes)", key.len())
}

fn account<'a>(
    summary: &mut Summary,
    diff_out: &mut Option<AtomicFile>,
    fast: &FastStats,
    files: &[InputFile<'_>],
    mut check: KeyCheck<'a>,
    verdict: Verdict,
) -> Result<Next<'a>, VerifyError> {
    let final_verdict = !matches!(
        verdict,
        Verdict::Fallback | Verdict::Redirect(_) | Verdict::TooBig
    );
    if final_verdict && check.notes.field_ttls_unchecked {
        summary.field_ttls_unchecked += 1;
    }
    let decoded = matches!(check.method, Method::Decoded | Method::Paged);
    match verdict {
        Verdict::Match { fast: by_dump } => {
            summary.checked += 1;
            summary.matched += 1;
            if by_dump {
                summary.matched_by_dump += 1;
                fast.record(check.rec.type_byte, true);
            }
            summary.compared_decoded += decoded as u64;
        }
        Verdict::Differ(diffs) => {
            summary.checked += 1;
            summary.count(diffs[0].reason);
            if summary.first_differences.len() < FIRST_DIFFERENCES {
                let d = &diffs[0];
                let what = match d.reason {
                    eval::Reason::Missing => "missing".to_string(),
                    r => format!("{}: {}", r.name(), d.what),
                };
                summary.first_differences.push(format!(
                    "db {} {} ({what})",
                    check.db,
                    shortened(&check.key)
                ));
            }
            summary.compared_decoded += decoded as u64;
            if let Some(w) = diff_out.as_mut() {
                let mut line = Vec::new();
                report::diff_line(
                    &mut line,
                    check.db,
                    &check.key,
                    check.rec.vtype.kind().name(),
                    &diffs,
                    &files[check.file].name,
                    check.offset,
                );
                w.write_all(&line)
                    .map_err(|e| VerifyError::Io(format!("diff file: {e}")))?;
            }
        }
        Verdict::Fallback => {
            fast.record(check.rec.type_byte, false);
            check.method = Method::Decoded;
            check.probes = None;
            return Ok(Next::Again(check));
        }
        Verdict::Redirect(rd) => {
            check.attempts += 1;
            if check.attempts <= 16 {
                return Ok(Next::Redirected(check, rd));
            }
            summary.checked += 1;
            summary.error(format!(
                "db {} key {}: too many redirects or retries",
                check.db,
                printable(&check.key)
            ));
        }
        Verdict::ExpiredMeanwhile | Verdict::AllFieldsExpired => summary.skipped_expired += 1,
        Verdict::TooBig => {
            summary.compared_paged += 1;
            check.method = Method::Paged;
            check.probes = None;
            return Ok(Next::Paged(check));
        }
        Verdict::Error(m) => {
            summary.checked += 1;
            summary.error(format!(
                "db {} key {}: {m}",
                check.db,
                printable(&check.key)
            ));
        }
    }
    Ok(Next::Done)
}
