//! The command line: clap flags become a configuration for library calls.
//! No format or conversion logic lives here.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use rdbkit::input::Input;
use rdbkit::sink::json::{self, JsonOptions};
use rdbkit::sink::SinkError;

/// Exit codes (documented in the README).
pub mod exit {
    pub const OK: u8 = 0;
    /// Format error in the input, I/O error, or any other runtime failure.
    pub const FAILURE: u8 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: u8 = 2;
}

#[derive(Parser, Debug)]
#[command(name = "rdbkit", version, about = "Read Redis/Valkey RDB snapshot files: convert, load, inspect")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
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
        /// Do not verify the CRC-64 trailer.
        #[arg(long)]
        no_checksum: bool,
    },
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { exit::USAGE } else { exit::OK };
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

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Json { file, output, meta, no_checksum } => {
            let input = Input::open(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            let opts = JsonOptions { meta, verify_checksum: !no_checksum };
            let mut out: Box<dyn Write> = match &output {
                Some(p) => Box::new(BufWriter::with_capacity(
                    1 << 16,
                    File::create(p).map_err(|e| format!("{}: {e}", p.display()))?,
                )),
                None => Box::new(io::stdout().lock()),
            };
            let r = json::write_all(&input, &opts, &mut out).and_then(|_| out.flush().map_err(SinkError::Io));
            match r {
                Ok(_) => Ok(()),
                Err(e) if is_broken_pipe(&e) => Ok(()),
                Err(e) => Err(format!("{}: {e}", file.display())),
            }
        }
    }
}
