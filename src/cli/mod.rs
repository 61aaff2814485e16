//! The command line: clap flags become a configuration for library calls.
//! No format or conversion logic lives here.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use rdbkit::outpath;

mod aof;
mod common;
mod early;
mod export;
mod fetch;
mod files;
mod json;
mod load;
mod memory;
mod progress;
mod rdb;
mod replicate;
mod resp;
mod serve;
mod stats;
mod target;
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
    /// A damaged input (exit 1), with what the user can do about it.
    Damaged { msg: String, hint: Hint },
}

/// What the user can do about a damaged input, chosen from the format
/// error's kind (not its text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    /// The CRC-64 trailer does not match.
    Checksum,
    /// The input ended inside a record.
    Truncated,
    /// Bytes that are not a valid RDB where they were read.
    Corrupt,
}

impl Hint {
    /// The hint for `err`, from the first format error in its source
    /// chain (`err` itself included).
    fn of(err: &(dyn std::error::Error + 'static)) -> Option<Hint> {
        let mut at = Some(err);
        while let Some(e) = at {
            if let Some(f) = e.downcast_ref::<rdbkit::Error>() {
                return match f.kind {
                    rdbkit::ErrorKind::ChecksumMismatch { .. } => Some(Hint::Checksum),
                    rdbkit::ErrorKind::Truncated { .. } => Some(Hint::Truncated),
                    rdbkit::ErrorKind::Invalid { .. } => Some(Hint::Corrupt),
                    _ => None,
                };
            }
            at = e.source();
        }
        None
    }

    fn text(self) -> &'static str {
        match self {
            Hint::Checksum => "--no-checksum reads the file without checking its trailer; --skip-corrupt reads what it can and reports the rest",
            Hint::Truncated => "the file looks truncated; --skip-corrupt reads everything before the damage and reports it",
            Hint::Corrupt => "--skip-corrupt leaves the damaged region out, reads the rest and reports what it left",
        }
    }
}

impl Fail {
    /// A runtime failure said as `msg`, caused by `err`: a damaged input
    /// gets its hint.
    pub fn runtime(msg: String, err: &(dyn std::error::Error + 'static)) -> Fail {
        match Hint::of(err) {
            Some(hint) => Fail::Damaged { msg, hint },
            None => Fail::Runtime(msg),
        }
    }

    /// `err` said as it is, as [`Fail::runtime`].
    pub fn of(err: &(dyn std::error::Error + 'static)) -> Fail {
        Fail::runtime(err.to_string(), err)
    }
}

/// A load, replicate or serve run that failed: a usage error (exit 2) or a
/// runtime one, with its damage hint.
impl From<rdbkit::load::LoadError> for Fail {
    fn from(e: rdbkit::load::LoadError) -> Self {
        if e.is_usage() {
            Fail::Usage(e.to_string())
        } else {
            Fail::of(&e)
        }
    }
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

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Convert an RDB file to JSON Lines, one object per key, in file order.
    Json(json::JsonArgs),
    /// Bulk-restore RDB files into a Redis/Valkey server or cluster.
    Load(load::LoadArgs),
    /// Write the RESTORE command stream of a file, for `redis-cli --pipe`.
    Resp(resp::RespArgs),
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
    Stats(stats::StatsArgs),
}

fn run(cli: Cli) -> Result<u8, Fail> {
    match cli.cmd {
        Cmd::Json(a) => json::run(a),
        Cmd::Load(a) => load::run(a),
        Cmd::Resp(a) => resp::run(a),
        Cmd::Memory(a) => memory::run(a),
        Cmd::Export(a) => export::run(a),
        Cmd::Verify(a) => verify::run(a),
        Cmd::Rdb(a) => rdb::run(a),
        Cmd::Split(a) => rdb::run_split(a),
        Cmd::Fetch(a) => fetch::run(a),
        Cmd::Serve(a) => serve::run(a),
        Cmd::Stats(a) => stats::run(a),
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
            eprintln!("rdbkit: error: {e}");
            ExitCode::from(exit::FAILURE)
        }
        Err(Fail::Damaged { msg, hint }) => {
            eprintln!("rdbkit: error: {msg}\nrdbkit: hint: {}", hint.text());
            ExitCode::from(exit::FAILURE)
        }
    }
}
