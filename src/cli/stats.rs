//! `rdbkit stats`: whole-file counts from [`rdbkit::sink::stats`] as a
//! table or JSON; an AOF adds its command counts.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use rdbkit::sink::{stats, SinkError};

use super::common::{damage, Common};
use super::files::finish;
use super::{aof, early, exit, Fail};

#[derive(Args, Debug)]
pub struct StatsArgs {
    /// The RDB file (`-` for standard input).
    file: PathBuf,
    /// Machine-readable JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    common: Common,
}

pub fn run(a: StatsArgs) -> Result<u8, Fail> {
    let StatsArgs { file, json, common } = a;
    let early = early::open(&file)?;
    let label = file.display().to_string();
    let engine = common.engine(&label)?;
    let quiet = common.quiet || !io::stderr().is_terminal();
    let (opened, r) = early.pass(&file, &engine, quiet, stats::compute)?;
    let st = match r {
        Ok(st) => st.unwrap_or_default(),
        Err(e) => return finish(&file, Err::<(), _>(e)).map(|_| exit::OK),
    };
    let cmds = match opened.as_ref().and_then(|o| o.aof()) {
        Some(a) => Some(rdbkit::aof::convert::count(a).map_err(|e| e.to_string())?),
        None => None,
    };
    let text = aof::stats_text(&st, cmds.as_ref(), json);
    let mut out = io::stdout().lock();
    finish(
        &file,
        out.write_all(&text)
            .and_then(|_| out.flush())
            .map_err(SinkError::Io),
    )
    .map(|_| damage(&engine, &label, exit::OK))
}
