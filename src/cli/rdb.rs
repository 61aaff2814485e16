//! `rdbkit rdb`: flags to [`rdbkit::writer::Options`]; the output goes to a
//! temporary file renamed into place at the end.

use std::path::PathBuf;

use clap::Args;

use rdbkit::rdb::value::Dialect;
use rdbkit::rdb::write::Format;
use rdbkit::writer::split::{self, Layout};
use rdbkit::writer::{self, output, Input, Options, WriteError};

use super::common::FilterArgs;
use super::files::open;
use super::target::{parse_db_map, ConflictArg};
use super::{exit, Fail};

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
    #[command(flatten)]
    w: WriteArgs,
}

#[derive(Args, Debug)]
#[group(id = "split_layout", required = true, multiple = false)]
pub struct LayoutArgs {
    /// N masters with the slot ranges `redis-cli --cluster create` assigns.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=16384))]
    shards: Option<u16>,
    /// The masters and slots of a Redis Cluster config file (nodes.conf).
    #[arg(long, value_name = "FILE")]
    nodes: Option<PathBuf>,
    /// The masters and slots of a live cluster: redis://host:port
    #[arg(long, value_name = "URL")]
    cluster: Option<String>,
    /// One file per database instead.
    #[arg(long)]
    by_db: bool,
}

#[derive(Args, Debug)]
pub struct SplitArgs {
    /// Input RDB files and/or rdbkit JSON Lines files (merged first).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Directory for the files and manifest.json (created if absent).
    #[arg(long, value_name = "DIR")]
    out_dir: PathBuf,
    #[command(flatten)]
    layout: LayoutArgs,
    #[command(flatten)]
    w: WriteArgs,
}

/// Flags shared by `rdb` and `split`.
#[derive(Args, Debug)]
pub struct WriteArgs {
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
fn format_of(a: &WriteArgs) -> Result<(Option<Format>, Option<String>, bool), String> {
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

impl WriteArgs {
    fn options(&self) -> Result<Options, String> {
        let a = self;
        let (format, server_version, valkey) = format_of(a)?;
        Ok(Options {
            format,
            server_version,
            valkey,
            filter: a.filter.build()?,
            db_map: a.db_map.clone(),
            on_conflict: a.on_conflict.into(),
            lossy: a.lossy,
            verify_checksum: !a.no_checksum,
            now_ms: rdbkit::restore::now_ms(),
            db_counts: None,
            stream_values_above: writer::STREAM_VALUES_ABOVE,
        })
    }

    fn report(&self, s: &writer::Summary) {
        if self.json {
            println!("{}", s.to_json());
        } else if !self.quiet {
            eprint!("{}", s.to_text());
        }
    }
}

fn inputs<'a>(paths: &[PathBuf], files: &'a [rdbkit::input::Input]) -> Vec<Input<'a>> {
    paths
        .iter()
        .zip(files)
        .map(|(p, d)| Input {
            name: p.display().to_string(),
            data: d,
        })
        .collect()
}

pub fn run(a: RdbArgs) -> Result<u8, Fail> {
    let opts = a.w.options()?;
    output::check_not_input(&a.output, &a.inputs)?;
    let files: Vec<_> = a.inputs.iter().map(|f| open(f)).collect::<Result<_, _>>()?;
    let inputs = inputs(&a.inputs, &files);
    let (tmp, w) =
        output::TempFile::create(&a.output).map_err(|e| format!("{}: {e}", a.output.display()))?;
    let (w, summary) = match writer::write_rdb(&inputs, &opts, w) {
        Ok(r) => r,
        Err(WriteError::Conflict(m)) => {
            eprintln!("rdbkit: stopped on conflict: {m}");
            return Ok(exit::CONFLICT);
        }
        Err(e) => return Err(Fail::of(&e)),
    };
    let file = w
        .into_inner()
        .map_err(|e| format!("{}: {}", a.output.display(), e.error()))?;
    tmp.commit(file)
        .map_err(|e| format!("{}: {e}", a.output.display()))?;
    a.w.report(&summary);
    Ok(exit::OK)
}

pub fn run_split(a: SplitArgs) -> Result<u8, Fail> {
    let opts = a.w.options()?;
    let l = &a.layout;
    let layout = if let Some(n) = l.shards {
        Layout::Shards(n as usize)
    } else if let Some(p) = &l.nodes {
        Layout::Masters(split::masters_of_nodes_conf(p)?)
    } else if let Some(u) = &l.cluster {
        Layout::Masters(split::masters_of_cluster(u)?)
    } else {
        Layout::ByDb
    };
    std::fs::create_dir_all(&a.out_dir).map_err(|e| format!("{}: {e}", a.out_dir.display()))?;
    let files: Vec<_> = a.inputs.iter().map(|f| open(f)).collect::<Result<_, _>>()?;
    let inputs = inputs(&a.inputs, &files);
    match split::split(&inputs, &a.inputs, &opts, &layout, &a.out_dir) {
        Ok((parts, summary)) => {
            a.w.report(&summary);
            if !a.w.quiet && !a.w.json {
                for p in &parts {
                    eprintln!("rdbkit: {}: {} keys, {} bytes", p.file, p.keys, p.bytes);
                }
            }
            Ok(exit::OK)
        }
        Err(WriteError::Conflict(m)) => {
            eprintln!("rdbkit: stopped on conflict: {m}");
            Ok(exit::CONFLICT)
        }
        Err(e) => Err(Fail::of(&e)),
    }
}
