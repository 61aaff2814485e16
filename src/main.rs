//! `rdbkit` binary: parse flags, run, map the outcome to an exit code.
//! A broken pipe (e.g. `rdbkit json f.rdb | head`) is a normal end.

use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    cli::main()
}
