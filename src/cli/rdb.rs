//! `rdbkit rdb`: flags to [`rdbkit::writer::Options`]; the output goes to a
//! temporary file renamed into place at the end.

use std::path::PathBuf;

use clap::Args;

use rdbkit::rdb::value::Dialect;
use rdbkit::rdb::write::Format;
use rdbkit::writer::{self, output, Input, Options, WriteError};

use super::{exit, open, parse_db_map, ConflictArg, FilterArgs};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum DialectArg {
    Redis,
    Valkey,
}

#[derive(Args, Debug)]
pub struct RdbArgs {
    /// Input RDB files and/or rdbkit JSON Lines files (several are merged).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The RDB file to write (never one of the inputs).
    #[arg(short, long)]
    output: PathBuf,
    /// Write what this server reads: redis-2.8 ... redis-8.6, valkey-7.2 ... valkey-9.1
    /// (default: the first input's own version).
    #[arg(long, value_name = "SERVER", conflicts_with = "rdb_version")]
    to: Option<String>,
    /// Write this RDB version (with --dialect).
    #[arg(long, value_name = "N")]
    rdb_version: Option<u32>,
    /// The dialect of --rdb-version.
    #[arg(long, value_enum, default_value = "redis", requires = "rdb_version")]
    dialect: DialectArg,
    /// Map a source database to an output database (repeatable), e.g. 3=0.
    #[arg(long = "db-map", value_parser = parse_db_map)]
    db_map: Vec<(u64, u64)>,
    /// A key in more than one input: `panic` stops and names it (nothing is
    /// written), `rewrite` keeps the later input's, `ignore` the first's.
    #[arg(long, value_enum, default_value = "panic")]
    on_conflict: ConflictArg,
    /// Drop what the output version cannot hold (field TTLs, functions,
    /// stream metadata, keys of unknown types), counted in the summary,
    /// instead of refusing with the key named.
    #[arg(long)]
    lossy: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// No summary on stderr.
    #[arg(long, short)]
    quiet: bool,
    /// Do not verify the inputs' CRC-64 trailers.
    #[arg(long)]
    no_checksum: bool,
    #[command(flatten)]
    filter: FilterArgs,
}

/// The output format and version text of `--to` / `--rdb-version`.
fn format_of(a: &RdbArgs) -> Result<(Option<Format>, Option<String>, bool), String> {
    if let Some(t) = &a.to {
        let (f, ver) = Format::for_server(t)?;
        return Ok((
            Some(f),
            Some(ver),
            t.to_ascii_lowercase().starts_with("valkey"),
        ));
    }
    if let Some(v) = a.rdb_version {
        let d = match a.dialect {
            DialectArg::Redis => Dialect::Redis,
            DialectArg::Valkey => Dialect::Valkey,
        };
        return Ok((Some(Format::new(d, v)?), None, d == Dialect::Valkey));
    }
    Ok((None, None, false))
}

pub fn run(a: RdbArgs) -> Result<u8, String> {
    let (format, server_version, valkey) = format_of(&a)?;
    output::check_not_input(&a.output, &a.inputs)?;
    let files: Vec<_> = a.inputs.iter().map(|f| open(f)).collect::<Result<_, _>>()?;
    let inputs: Vec<Input<'_>> = a
        .inputs
        .iter()
        .zip(&files)
        .map(|(p, d)| Input {
            name: p.display().to_string(),
            data: d,
        })
        .collect();
    let opts = Options {
        format,
        server_version,
        valkey,
        filter: a.filter.build()?,
        db_map: a.db_map.clone(),
        on_conflict: a.on_conflict.into(),
        lossy: a.lossy,
        verify_checksum: !a.no_checksum,
        now_ms: rdbkit::load::now_ms(),
    };
    let (tmp, w) =
        output::TempFile::create(&a.output).map_err(|e| format!("{}: {e}", a.output.display()))?;
    let (w, summary) = match writer::write_rdb(&inputs, &opts, w) {
        Ok(r) => r,
        Err(WriteError::Conflict(m)) => {
            eprintln!("rdbkit: stopped on conflict: {m}");
            return Ok(exit::CONFLICT);
        }
        Err(WriteError::Failed(m)) => return Err(m),
    };
    let file = w
        .into_inner()
        .map_err(|e| format!("{}: {}", a.output.display(), e.error()))?;
    tmp.commit(file)
        .map_err(|e| format!("{}: {e}", a.output.display()))?;
    if a.json {
        println!("{}", summary.to_json());
    } else if !a.quiet {
        eprint!("{}", summary.to_text());
    }
    Ok(exit::OK)
}
