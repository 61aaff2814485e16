//! `rdbkit export`: flags to [`rdbkit::export`] options. One table for all
//! inputs (`-o FILE`), or one part file per input (`--per-file -o DIR`).

use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use clap::Args;

use rdbkit::export::{self, table, ExportOptions, Format, TableSink};
use rdbkit::inspect::memory::ModelConfig;

use super::common::{damage, Common};
use super::files::{check_outputs, open};
use super::{exit, progress, Fail};

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum FormatArg {
    Parquet,
    Arrow,
    Csv,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// RDB files (several: one table with a `file` column, or --per-file).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// The table file (with --per-file: a directory for the part files).
    #[arg(short, long)]
    output: PathBuf,
    /// parquet, arrow (Arrow IPC file / Feather v2) or csv (key table only).
    #[arg(long, value_enum, default_value = "parquet")]
    format: FormatArg,
    /// Add the values: strings as binary, collections as list/struct
    /// columns, streams as a nested struct (see the README).
    #[arg(long)]
    values: bool,
    /// One part file per input in the --output directory (a fleet).
    #[arg(long)]
    per_file: bool,
    /// Rows per Parquet row group / Arrow record batch.
    #[arg(long, value_name = "N", default_value_t = 128 * 1024)]
    batch_rows: usize,
    /// zstd compression level (1-22), or 0 for none.
    #[arg(long, value_name = "LEVEL", default_value_t = 1)]
    zstd_level: i32,
    /// A memory-model setting, as `rdbkit memory --config` (repeatable).
    #[arg(long = "config", value_name = "NAME=VALUE")]
    config: Vec<String>,
    #[command(flatten)]
    common: Common,
}

pub fn run(a: ExportArgs) -> Result<u8, Fail> {
    let opts = options(&a)?;
    if !a.per_file {
        check_outputs(&a.files, &[("--output", Some(&a.output))])?;
        let mut sink = table::create(&a.output, &opts).map_err(|e| e.to_string())?;
        let code = export_all(&a, &opts, &a.files, sink.as_mut())?;
        sink.finish()
            .map_err(|e| format!("{}: {e}", a.output.display()))?;
        return Ok(code);
    }
    std::fs::create_dir_all(&a.output).map_err(|e| format!("{}: {e}", a.output.display()))?;
    let mut code = exit::OK;
    for (i, f) in a.files.iter().enumerate() {
        let part = part_path(&a.output, i, f, opts.format);
        check_outputs(&a.files, &[("--output", Some(&part))])?;
        let mut sink = table::create(&part, &opts).map_err(|e| e.to_string())?;
        code = code.max(export_all(
            &a,
            &opts,
            std::slice::from_ref(f),
            sink.as_mut(),
        )?);
        sink.finish()
            .map_err(|e| format!("{}: {e}", part.display()))?;
    }
    Ok(code)
}

fn options(a: &ExportArgs) -> Result<ExportOptions, Fail> {
    let mut model = ModelConfig::default();
    for c in &a.config {
        let (name, value) = c
            .split_once('=')
            .ok_or_else(|| Fail::Usage(format!("--config {c}: expected NAME=VALUE")))?;
        model.set(name, value).map_err(Fail::Usage)?;
    }
    if a.values && matches!(a.format, FormatArg::Csv) {
        return Err(Fail::Usage(
            "--values needs --format parquet or arrow (CSV holds the key table only)".into(),
        ));
    }
    Ok(ExportOptions {
        format: match a.format {
            FormatArg::Parquet => Format::Parquet,
            FormatArg::Arrow => Format::Arrow,
            FormatArg::Csv => Format::Csv,
        },
        values: a.values,
        batch_rows: a.batch_rows.max(1),
        zstd_level: (a.zstd_level > 0).then_some(a.zstd_level),
        model,
    })
}

/// `DIR/part-00003-NAME.parquet`: the index keeps inputs with the same
/// name apart and the parts in command-line order.
fn part_path(dir: &Path, i: usize, input: &Path, f: Format) -> PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "stdin".into());
    dir.join(format!("part-{i:05}-{stem}.{}", f.extension()))
}

/// Exports `files` into `sink`, in order; the exit code (damaged records).
fn export_all(
    a: &ExportArgs,
    opts: &ExportOptions,
    files: &[PathBuf],
    sink: &mut dyn TableSink,
) -> Result<u8, Fail> {
    let mut code = exit::OK;
    let mut rows = 0;
    for f in files {
        let input = open(f)?;
        let label = f.display().to_string();
        let engine = a.common.engine(&label)?;
        let bar = progress::Bar::new(
            a.common.quiet || !io::stderr().is_terminal(),
            input.len() as u64,
        );
        let cb = bar.callback(&input);
        let r = export::export_file(&input, &label, opts, &engine, sink, Some(&cb));
        bar.finish();
        rows += r.map_err(|e| format!("{label}: {e}"))?.rows;
        code = code.max(damage(&engine, &label, exit::OK));
    }
    if !a.common.quiet {
        eprintln!("rdbkit: exported {rows} keys from {} file(s)", files.len());
    }
    Ok(code)
}
