//! `rdbkit load`: flags to [`LoadOptions`] for [`load::load`]; URL inputs
//! are fetched first, an AOF's commands are replayed after its base's keys,
//! `--mode replicate` goes to [`replicate`]. The exit code tells how the
//! load ended.

use std::io::{self, IsTerminal};
use std::path::PathBuf;

use clap::Args;

use rdbkit::aof::replay::ReplaySummary;
use rdbkit::input::Input;
use rdbkit::load::{self, Ending, LoadMode, LoadOptions};
use rdbkit::restore::commands::BatchLimits;
use rdbkit::scan::EngineOptions;

use super::common::{damage, parse_size, parse_size_usize, Common};
use super::files::{check_outputs, named_inputs, open, releases};
use super::target::{mask_password, parse_target, ConflictArg, KeyArgs};
use super::{aof, exit, fetch, progress, replicate, Fail};

#[derive(Args, Debug)]
pub struct LoadArgs {
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
    load: LoadFlags,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

pub fn run(a: LoadArgs) -> Result<u8, Fail> {
    let LoadArgs {
        files,
        load,
        json,
        common,
    } = a;
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
        .map(|f| aof::open_load_input(f, || fetch::open_or_fetch(f, tls.clone(), common.quiet)))
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
    let mut summary = r?;
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
    let code = exit_code(&summary, replayed.as_ref(), &load)?;
    Ok(damage(&engine, &label, code))
}

/// How the load ended, as an exit code, with the reason on stderr. An AOF
/// replay that stopped or had failed commands counts only when the keys
/// themselves all loaded.
fn exit_code(
    summary: &load::Summary,
    replayed: Option<&ReplaySummary>,
    load: &LoadFlags,
) -> Result<u8, Fail> {
    let replay_stop = replayed.and_then(|r| r.stopped.as_ref());
    Ok(match &summary.ending {
        Ending::Completed if !load.dry_run && replay_stop.is_some() => {
            let why = replay_stop.map_or("", |s| s.reason.as_str());
            eprintln!("rdbkit: the AOF replay stopped part-way: {why} (see the summary)");
            exit::FAILURE
        }
        Ending::Completed if replayed.is_some_and(|r| r.failed > 0) => {
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
    })
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum LoadModeArg {
    Restore,
    Commands,
    Auto,
    /// Serve the snapshot to an empty standalone target over the
    /// replication protocol: it loads at its own RDB-load speed, and
    /// everything it held is replaced (see --replace-all).
    Replicate,
}

#[derive(Args, Debug, Clone)]
pub struct LoadFlags {
    /// Target: redis://[user:pass@]host:port[/db], rediss://... for TLS, or
    /// host:port.
    #[arg(long, short = 't')]
    pub target: String,
    /// The target is a Redis Cluster (default: ask the server with INFO cluster).
    #[arg(long)]
    pub cluster: bool,
    /// Read the password from this file (first line). Also: REDISCLI_AUTH.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// What to do when a key already exists in the target.
    #[arg(long, value_enum, default_value = "panic")]
    pub on_conflict: ConflictArg,
    /// Write every conflicting key (db, key, action) here as JSON Lines.
    #[arg(long)]
    pub conflicts: Option<PathBuf>,
    /// Write every key that could not be written here, as a replayable RESP stream.
    #[arg(long)]
    pub failed: Option<PathBuf>,
    /// Load nothing; report which keys would conflict (pipelined EXISTS).
    #[arg(long)]
    pub dry_run: bool,
    /// CA certificate(s) (PEM) that signed the server certificates, for rediss://.
    #[arg(long)]
    pub tls_ca: Option<PathBuf>,
    /// Client certificate chain (PEM), for servers that require client certificates.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Client private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Failed keys tolerated before the load stops.
    #[arg(long, default_value_t = 0)]
    pub max_errors: u64,
    /// `restore`: RESTORE payloads; `commands`: SET/RPUSH/SADD/ZADD/HSET/XADD...;
    /// `auto`: RESTORE where the target reads the file's RDB version, commands
    /// otherwise, and for keys over --max-restore-bytes.
    #[arg(long, value_enum, default_value = "auto")]
    pub mode: LoadModeArg,
    /// In auto mode, a key whose RESTORE payload is bigger goes as commands
    /// (e.g. 64M).
    #[arg(long, default_value = "64M", value_parser = parse_size)]
    pub max_restore_bytes: u64,
    /// Command mode: elements per command.
    #[arg(long, default_value_t = 512)]
    pub batch_elements: usize,
    /// Command mode: bytes per command (e.g. 4M).
    #[arg(long, default_value = "4M", value_parser = parse_size_usize)]
    pub batch_bytes: usize,
    /// Command mode: leave out what the target cannot hold: hash field TTLs,
    /// arrays (keys counted as dropped_lossy) and NACKed stream entries
    /// (counted as nacks_dropped) before Redis 8.8; otherwise those keys fail
    /// and are reported.
    #[arg(long)]
    pub lossy: bool,
    /// Seconds to wait for a stopped or hung target (no reply, or not reading
    /// what is sent) before its connection counts as lost; 0: no limit.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub timeout: u64,
    /// How long a key keeps being retried after a transient failure (a lost
    /// connection, a target restarting, a cluster failing over, LOADING,
    /// BUSY, TRYAGAIN, CLUSTERDOWN), with back-off from 50 ms to 2 s;
    /// then it fails with the last error. 0: no retries.
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub retry_for: u64,
    /// Count a key as loaded only once N replicas of its master have it
    /// (`WAIT N` after every pipeline flush): a master that dies before
    /// passing writes on cannot lose them silently at a failover. Keys not
    /// confirmed within --wait-timeout fail.
    #[arg(long, value_name = "N")]
    pub wait_replicas: Option<u32>,
    /// --wait-replicas: how long one WAIT may take.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub wait_timeout: u64,
    /// Record progress in this file (atomically, several times a second),
    /// for --resume after a crash of rdbkit or of the target.
    #[arg(long, value_name = "FILE")]
    pub checkpoint: Option<PathBuf>,
    /// Go on from a checkpoint (and keep updating it, unless --checkpoint
    /// names another file): nothing acknowledged is sent again, keys that
    /// were in flight are re-checked.
    #[arg(long, value_name = "FILE")]
    pub resume: Option<PathBuf>,
    /// --resume although the options differ from the checkpointed run's
    /// (policy, target, filters, mode...): without it such a resume is refused.
    #[arg(long)]
    pub resume_changed: bool,
    /// Before the first write, also look every key up in the target (a
    /// pipelined EXISTS pass, as --dry-run does): under --on-conflict panic an
    /// existing key then means nothing at all is written (exit 3, the keys in
    /// --conflicts). Without it, panic stops at the first existing key, and
    /// keys already in the pipeline then are still written. Not with --resume.
    #[arg(long)]
    pub preflight: bool,
    /// Skip the walk of every input file (record boundaries and checksum)
    /// before the first write. Without the walk, a damaged or truncated file
    /// is found only when the load reaches the damage, after writing what
    /// came before it.
    #[arg(long)]
    pub no_preflight: bool,
    #[command(flatten)]
    pub keys: KeyArgs,
    /// Boxed: it would make `Cmd::Load` too large a variant.
    #[command(flatten)]
    pub replicate: Box<replicate::ReplicateArgs>,
    #[command(flatten)]
    pub aof: aof::AofArgs,
}

fn load_options(a: &LoadFlags, engine: EngineOptions) -> Result<LoadOptions, Fail> {
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
fn next_step(summary: &load::Summary, a: &LoadFlags) -> Option<String> {
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

/// A word as a POSIX shell reads it back.
fn shell_word(x: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c);
    if !x.is_empty() && x.chars().all(plain) {
        x.to_string()
    } else {
        format!("'{}'", x.replace('\'', "'\\''"))
    }
}
