//! `rdbkit json`: one JSON object per key, in file order, written by
//! [`rdbkit::sink::json`]; an AOF's commands follow its base's keys.

use std::io::{self, IsTerminal};
use std::path::PathBuf;

use clap::Args;

use rdbkit::sink::json::{self, JsonOptions};
use rdbkit::sink::SinkError;

use super::common::{damage, Common};
use super::files::{check_outputs, finish, output};
use super::{aof, exit, progress, Fail};

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
    let opened = aof::open_any(&file)?;
    let opts = JsonOptions {
        meta,
        verify_checksum: !common.no_checksum,
    };
    let mut out = output(&out_path)?;
    let base = opened.base();
    let bar = progress::Bar::new(
        common.quiet || !io::stderr().is_terminal(),
        base.map_or(0, |(_, d)| d.len() as u64),
    );
    let label = file.display().to_string();
    let engine = common.engine(&label)?;
    aof::note_unfiltered(&opened, engine.filter.is_some());
    let r = match base {
        Some((input, data)) => {
            let cb = bar.callback(input);
            json::write_parallel(data, &opts, &engine, &mut out, Some(&cb)).map(|_| ())
        }
        None => Ok(()),
    };
    bar.finish();
    let r = r
        .and_then(|_| match opened.aof() {
            Some(a) => rdbkit::aof::convert::write_json(a, meta, &mut out)
                .map(|w| aof::note_truncated(&w))
                .map_err(SinkError::from),
            None => Ok(()),
        })
        .and_then(|_| out.commit().map_err(SinkError::Io));
    finish(&file, r).map(|_| damage(&engine, &label, exit::OK))
}
