//! `rdbkit memory`: flags to [`rdbkit::inspect::report`] options, and where
//! each output goes.
//!
//! - per-key rows (CSV or JSON Lines) go to `-o FILE`, or to stdout when no
//!   summary was asked for (`--top`, `--by-prefix`, `--html`);
//! - `--top` / `--by-prefix` print readable tables on stdout (one JSON
//!   object with `--format json`);
//! - `--html FILE` writes the page.
//!
//! The shared filter flags (`--db`, `--key`, `--type`, `--min-bytes`, ...)
//! come with [`Common`]; the engine applies them before a value is decoded.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use rdbkit::inspect::alloc::Quantum;
use rdbkit::inspect::html;
use rdbkit::inspect::memory::{ModelConfig, ServerModel};
use rdbkit::inspect::prefix::PrefixOptions;
use rdbkit::inspect::report::{self, Format, MemoryOptions};
use rdbkit::outpath::AtomicFile;
use rdbkit::sink::SinkError;

use super::common::{damage, Common};
use super::files::{check_outputs, finish, open, output};
use super::{exit, progress, Fail};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum FormatArg {
    Csv,
    Json,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum ServerArg {
    /// Redis 7.0: lists always quicklists, no listpack sets.
    #[value(name = "7.0")]
    V70,
    /// Redis 7.2+ and Valkey: listpack lists and sets.
    #[value(name = "7.2")]
    V72,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum QuantumArg {
    /// jemalloc bundled with Redis/Valkey (official builds, Docker images).
    #[value(name = "8")]
    Q8,
    /// system jemalloc (Debian/Ubuntu redis-server packages).
    #[value(name = "16")]
    Q16,
}

#[derive(Args, Debug)]
pub struct MemoryArgs {
    /// The RDB file (`-` for standard input).
    file: PathBuf,
    /// Write the per-key rows to this file.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Per-key rows (and summaries) as CSV or JSON Lines.
    #[arg(long, value_enum, default_value = "csv")]
    format: FormatArg,
    /// Same as --format json (the spelling every other command uses).
    #[arg(long)]
    json: bool,
    /// Show the N biggest keys by memory and by element count (instead of
    /// the per-key rows on stdout).
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    /// Aggregate memory by key prefix cut at this separator, e.g. ':'.
    #[arg(long, value_name = "SEP")]
    by_prefix: Option<String>,
    /// Prefix levels for --by-prefix (user:*, user:123:*, ...).
    #[arg(long, value_name = "D", default_value_t = 3)]
    prefix_depth: usize,
    /// Prefixes kept per level; smaller ones are folded into "(other)".
    #[arg(long, value_name = "N", default_value_t = 5000)]
    prefix_limit: usize,
    /// Write a self-contained HTML report (top keys, treemap by prefix).
    #[arg(long, value_name = "REPORT.html")]
    html: Option<PathBuf>,
    /// Server data structures to model.
    #[arg(long, value_enum, default_value = "7.2")]
    server: ServerArg,
    /// jemalloc quantum of the target server's build.
    #[arg(long, value_enum, default_value = "8")]
    jemalloc_quantum: QuantumArg,
    /// A server threshold other than the default, e.g.
    /// hash-max-listpack-entries=128 (repeatable; *-max-listpack-entries/-value,
    /// set-max-intset-entries, list-max-listpack-size).
    #[arg(long = "config", value_name = "NAME=VALUE", value_parser = parse_config)]
    config: Vec<(String, String)>,
    #[command(flatten)]
    common: Common,
}

/// `NAME=VALUE`, checked at parse time (a bad one is a usage error).
fn parse_config(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once('=')
        .ok_or("expected NAME=VALUE, e.g. hash-max-listpack-entries=128")?;
    ModelConfig::default().set(name, value)?;
    Ok((name.to_string(), value.to_string()))
}

pub fn run(a: MemoryArgs) -> Result<u8, Fail> {
    check_outputs(
        std::slice::from_ref(&a.file),
        &[("--output", a.output.as_ref()), ("--html", a.html.as_ref())],
    )?;
    let input = open(&a.file)?;
    let summary = a.top.is_some() || a.by_prefix.is_some();
    let rows = a.output.is_some() || !(summary || a.html.is_some());
    let top = a
        .top
        .unwrap_or(0)
        .max(if a.html.is_some() { 100 } else { 0 });
    let prefix = match (&a.by_prefix, &a.html) {
        (Some(sep), _) => Some(sep.clone()),
        (None, Some(_)) => Some(":".to_string()),
        (None, None) => None,
    };
    if prefix.as_deref() == Some("") {
        return Err("--by-prefix: the separator cannot be empty".into());
    }
    let mut model = ModelConfig {
        server: match a.server {
            ServerArg::V70 => ServerModel::Redis70,
            ServerArg::V72 => ServerModel::Redis72,
        },
        quantum: match a.jemalloc_quantum {
            QuantumArg::Q8 => Quantum::Q8,
            QuantumArg::Q16 => Quantum::Q16,
        },
        ..Default::default()
    };
    for (name, value) in &a.config {
        model.set(name, value)?;
    }
    let opts = MemoryOptions {
        model,
        format: match (a.format, a.json) {
            (_, true) | (FormatArg::Json, _) => Format::Json,
            (FormatArg::Csv, false) => Format::Csv,
        },
        rows,
        top,
        prefix: prefix.map(|sep| PrefixOptions {
            separator: sep.into_bytes(),
            depth: a.prefix_depth.max(1),
            limit: a.prefix_limit.max(1),
        }),
    };
    let label = a.file.display().to_string();
    let engine = a.common.engine(&label)?;
    let mut out = if rows { Some(output(&a.output)?) } else { None };
    let bar = progress::Bar::new(
        a.common.quiet || !io::stderr().is_terminal(),
        input.len() as u64,
    );
    let cb = bar.callback(&input);
    let r = match out.as_mut() {
        Some(o) => report::run(&input, &opts, &engine, o, Some(&cb)),
        None => report::run(&input, &opts, &engine, &mut io::sink(), Some(&cb)),
    };
    bar.finish();
    let mut rep = match r {
        Ok(rep) => rep,
        Err(e) => return finish(&a.file, Err::<(), _>(e)).map(|_| exit::OK),
    };
    if let Some(o) = out {
        finish(&a.file, o.commit().map_err(SinkError::Io))?;
    }
    if let Some(path) = &a.html {
        let title = a.file.display().to_string();
        AtomicFile::write_all_to(path, &html::page(&rep, &title))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if !a.common.quiet {
            eprintln!(
                "rdbkit: wrote {} ({} keys, {} estimated)",
                path.display(),
                rep.totals.keys,
                report::human(rep.totals.bytes)
            );
        }
    }
    if summary {
        // Show only what was asked for (the page may have needed more).
        let n = a.top.unwrap_or(0);
        rep.top_by_bytes.truncate(n);
        rep.top_by_elements.truncate(n);
        if a.by_prefix.is_none() {
            rep.prefixes.clear();
        }
        let text = match opts.format {
            Format::Json => report::to_json(&rep),
            Format::Csv => report::to_text(&rep).into_bytes(),
        };
        let mut so = io::stdout().lock();
        finish(
            &a.file,
            so.write_all(&text)
                .and_then(|_| so.flush())
                .map_err(SinkError::Io),
        )?;
    }
    Ok(damage(&engine, &label, exit::OK))
}
