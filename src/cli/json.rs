//! `rdbkit json`: one JSON object per key, in file order, written by
//! [`rdbkit::sink::json`]; an AOF's commands follow its base's keys.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use rdbkit::input::Release;
use rdbkit::scan::EngineOptions;
use rdbkit::sink::json::{self, JsonOptions, JsonSummary};
use rdbkit::sink::SinkError;

use super::aof::{self, Early};
use super::common::{damage, Common};
use super::files::{check_outputs, finish, output};
use super::{exit, progress, Fail};

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
    let early = aof::open_early(&file)?;
    let mut out = output(&out_path)?;
    let base = Base {
        quiet: common.quiet || !io::stderr().is_terminal(),
        opts: &opts,
    };
    let (opened, r) = match early {
        Early::Arriving(arr) => {
            let reading = EngineOptions {
                arrival: Some(arr.arrival()),
                ..engine.clone()
            };
            match base.write(arr.bytes(), &arr, &reading, &mut out) {
                // What follows the base (an AOF's commands after its RDB
                // preamble) is known once the file is all there.
                Ok(s) => (aof::after_base(&file, arr, s.trailing)?, Ok(())),
                Err(e) => (None, Err(e)),
            }
        }
        Early::Whole(opened) => {
            let r = match opened.base() {
                Some((input, data)) => base.write(data, input, &engine, &mut out).map(|_| ()),
                None => Ok(()),
            };
            (Some(opened), r)
        }
    };
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

/// Writing the keys of a base, with a bar over its bytes.
struct Base<'o> {
    quiet: bool,
    opts: &'o JsonOptions,
}

impl Base<'_> {
    fn write(
        &self,
        data: &[u8],
        input: &(impl Release + Sync),
        engine: &EngineOptions,
        out: &mut impl Write,
    ) -> Result<JsonSummary, SinkError> {
        let bar = progress::Bar::new(self.quiet, data.len() as u64);
        let cb = bar.callback(input);
        let r = json::write_parallel(data, self.opts, engine, out, Some(&cb));
        bar.finish();
        r
    }
}
