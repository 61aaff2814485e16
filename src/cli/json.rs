//! `rdbkit json`: one JSON object per key, in file order, written by
//! [`rdbkit::sink::json`]; an AOF's commands follow its base's keys.

use std::io::{self, IsTerminal};
use std::path::PathBuf;

use clap::Args;

use rdbkit::sink::json::{self, JsonOptions};
use rdbkit::sink::SinkError;

use super::common::{damage, Common};
use super::files::{check_outputs, finish, output};
use super::{aof, early};
use super::{exit, Fail};

#[derive(Args, Debug)]
pub struct JsonArgs {
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
}

pub fn run(a: JsonArgs) -> Result<u8, Fail> {
    let JsonArgs {
        file,
        output: out_path,
        meta,
        common,
    } = a;
    check_outputs(
        std::slice::from_ref(&file),
        &[("--output", out_path.as_ref())],
    )?;
    let opts = JsonOptions {
        meta,
        verify_checksum: !common.no_checksum,
    };
    let label = file.display().to_string();
    let engine = common.engine(&label)?;
    let early = early::open(&file)?;
    let mut out = output(&out_path)?;
    let quiet = common.quiet || !io::stderr().is_terminal();
    let (opened, r) = early.pass(&file, &engine, quiet, |data, engine, cb| {
        json::write_parallel(data, &opts, engine, &mut out, cb)
    })?;
    if let Some(o) = &opened {
        aof::note_unfiltered(o, engine.filter.is_some());
    }
    let r = r
        .and_then(|_| match opened.as_ref().and_then(|o| o.aof()) {
            Some(a) => rdbkit::aof::convert::write_json(a, meta, &mut out)
                .map(|w| aof::note_truncated(&w))
                .map_err(SinkError::from),
            None => Ok(()),
        })
        .and_then(|_| out.commit().map_err(SinkError::Io));
    finish(&file, r).map(|_| damage(&engine, &label, exit::OK))
}
