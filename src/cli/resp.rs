//! `rdbkit resp`: the RESTORE (or plain command) stream of a file, written
//! by [`respout`] for `redis-cli --pipe`; an AOF's commands follow its
//! base's keys.

use std::io::{self, IsTerminal};
use std::path::PathBuf;

use clap::Args;

use rdbkit::output::respout;
use rdbkit::restore::commands::{BatchLimits, TargetFeatures};
use rdbkit::restore::{self, OnConflict};
use rdbkit::sink::SinkError;

use super::common::{damage, parse_size_usize, Common};
use super::files::{check_outputs, is_broken_pipe, output};
use super::target::KeyArgs;
use super::{aof, exit, progress, Fail};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
enum ModeArg {
    Restore,
    Commands,
}

#[derive(Args, Debug)]
pub struct RespArgs {
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
}

pub fn run(a: RespArgs) -> Result<u8, Fail> {
    let mode = mode(&a);
    let file = &a.file;
    check_outputs(
        std::slice::from_ref(file),
        &[("--output", a.output.as_ref())],
    )?;
    let opened = aof::open_any(file)?;
    if let Some(p) = &a.on_conflict {
        return Err(Fail::Usage(format!(
            "resp: --on-conflict {p}: a RESP stream is written before any server \
             replies, so it cannot stop, skip or count on a conflict; use --replace \
             to overwrite existing keys, or `rdbkit load --on-conflict` against the server"
        )));
    }
    let oc = if a.replace {
        OnConflict::Rewrite
    } else {
        OnConflict::Panic
    };
    let base = opened.base();
    let cfg = restore::worker_config(
        0,
        base.map_or(&[][..], |(_, d)| d),
        &a.keys.options(),
        false,
        oc,
        false,
        &file.display().to_string(),
    )
    .map_err(|e| e.to_string())?;
    let mut out = output(&a.output)?;
    let bar = progress::Bar::new(
        a.common.quiet || !io::stderr().is_terminal(),
        base.map_or(0, |(_, d)| d.len() as u64),
    );
    let label = file.display().to_string();
    let engine = a.common.engine(&label)?;
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
        Ok(s) => Ok(damage(&engine, &label, report(&s, a.common.quiet))),
        Err(e) if is_broken_pipe(&e) => Ok(exit::OK),
        Err(e) => Err(format!("{}: {e}", file.display()).into()),
    }
}

/// `--mode` and the command-mode flags: what the stream's target can read.
fn mode(a: &RespArgs) -> respout::Mode {
    match a.mode {
        ModeArg::Restore => respout::Mode::Restore,
        ModeArg::Commands => respout::Mode::Commands {
            limits: BatchLimits {
                elements: a.batch_elements.max(1),
                bytes: a.batch_bytes.max(1),
            },
            features: TargetFeatures {
                field_ttl: a.field_ttl || a.redis_8_8,
                stream_v2: !a.old_streams,
                array: a.redis_8_8,
                xnack: a.redis_8_8,
                lossy: a.lossy,
                now_ms: restore::now_ms(),
            },
        },
    }
}

/// Prints the failed keys and (unless `quiet`) the counts on stderr; the
/// exit code is [`exit::FAILED_KEYS`] if any key could not be written.
fn report(s: &respout::RespSummary, quiet: bool) -> u8 {
    for e in &s.errors {
        eprintln!("rdbkit: error: {e}");
    }
    if !quiet {
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
    if s.failed > 0 {
        exit::FAILED_KEYS
    } else {
        exit::OK
    }
}
