//! The command line: clap flags become a configuration for library calls.
//! No format or conversion logic lives here.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use rdbkit::input::Input;
use rdbkit::scan::EngineOptions;
use rdbkit::sink::json::{self, JsonOptions};
use rdbkit::sink::{stats, SinkError};

mod progress;

/// Exit codes (documented in the README).
pub mod exit {
    pub const OK: u8 = 0;
    /// Format error in the input (with its byte offset), checksum mismatch,
    /// I/O error, or any other runtime failure.
    pub const FAILURE: u8 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: u8 = 2;
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
    /// Worker threads (default: all cores).
    #[arg(long, short = 'j')]
    threads: Option<usize>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    /// Do not verify the CRC-64 trailer.
    #[arg(long)]
    no_checksum: bool,
}

impl Common {
    fn engine(&self) -> EngineOptions {
        let mut e = EngineOptions {
            verify_checksum: !self.no_checksum,
            ..Default::default()
        };
        if let Some(t) = self.threads {
            e.threads = t.max(1);
        }
        e
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

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
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
        Ok(()) => ExitCode::from(exit::OK),
        Err(e) => {
            eprintln!("rdbkit: error: {e}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

fn is_broken_pipe(e: &SinkError) -> bool {
    matches!(e, SinkError::Io(io) if io.kind() == io::ErrorKind::BrokenPipe)
}

fn open(file: &Path) -> Result<Input, String> {
    Input::open(file).map_err(|e| format!("{}: {e}", file.display()))
}

fn output(path: &Option<PathBuf>) -> Result<Box<dyn Write>, String> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::with_capacity(
            1 << 16,
            File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        None => Box::new(io::stdout().lock()),
    })
}

fn finish<T>(file: &Path, r: Result<T, SinkError>) -> Result<(), String> {
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_broken_pipe(&e) => Ok(()),
        Err(e) => Err(format!("{}: {e}", file.display())),
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Json {
            file,
            output: out_path,
            meta,
            common,
        } => {
            let input = open(&file)?;
            let opts = JsonOptions {
                meta,
                verify_checksum: !common.no_checksum,
            };
            let mut out = output(&out_path)?;
            let bar = progress::Bar::new(
                common.quiet || !io::stderr().is_terminal(),
                input.len() as u64,
            );
            let cb = bar.callback(&input);
            let r = json::write_parallel(&input, &opts, &common.engine(), &mut out, Some(&cb))
                .and_then(|_| out.flush().map_err(SinkError::Io));
            bar.finish();
            finish(&file, r)
        }
        Cmd::Stats { file, json, common } => {
            let input = open(&file)?;
            let bar = progress::Bar::new(
                common.quiet || !io::stderr().is_terminal(),
                input.len() as u64,
            );
            let cb = bar.callback(&input);
            let r = stats::compute(&input, &common.engine(), Some(&cb));
            bar.finish();
            let st = match r {
                Ok(st) => st,
                Err(e) => return finish(&file, Err::<(), _>(e)),
            };
            let text = if json {
                stats::to_json(&st)
            } else {
                stats::to_text(&st).into_bytes()
            };
            let mut out = io::stdout().lock();
            finish(
                &file,
                out.write_all(&text)
                    .and_then(|_| out.flush())
                    .map_err(SinkError::Io),
            )
        }
    }
}
