//! `stats`, `memory` and `to_parquet`: the library calls the commands of
//! the same names make, with the GIL released while they run.

use std::path::{Path, PathBuf};

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use rdbkit::export::{self, table, ExportOptions, Format};
use rdbkit::input::Input;
use rdbkit::inspect::report::{self, MemoryOptions};
use rdbkit::sink::{stats, SinkError};

fn open_input(py: Python<'_>, path: &Path) -> PyResult<Input> {
    let label = path.display().to_string();
    Input::open(path).map_err(|e| crate::rdb_error(py, &label, &e.to_string(), None))
}

/// `rdbkit stats --json` of one file, as JSON bytes.
#[pyfunction]
#[pyo3(signature = (path, **filters))]
pub fn stats_json<'py>(
    py: Python<'py>,
    path: PathBuf,
    filters: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let engine = crate::filters::engine(filters)?;
    let input = open_input(py, &path)?;
    let r = py.allow_threads(|| stats::compute(&input, &engine, Some(&release(&input))));
    let st = r.map_err(|e| crate::sink_error(py, &path.display().to_string(), e))?;
    Ok(PyBytes::new(py, &stats::to_json(&st)))
}

/// `rdbkit memory --format json` rows of one file, as JSON Lines bytes.
#[pyfunction]
#[pyo3(signature = (path, **filters))]
pub fn memory_jsonl<'py>(
    py: Python<'py>,
    path: PathBuf,
    filters: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyBytes>> {
    let engine = crate::filters::engine(filters)?;
    let input = open_input(py, &path)?;
    let opts = MemoryOptions {
        format: report::Format::Json,
        rows: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    let r =
        py.allow_threads(|| report::run(&input, &opts, &engine, &mut out, Some(&release(&input))));
    r.map_err(|e| crate::sink_error(py, &path.display().to_string(), e))?;
    Ok(PyBytes::new(py, &out))
}

/// `rdbkit export PATHS... -o OUT`: returns the number of rows written.
#[pyfunction]
#[pyo3(name = "export", signature = (paths, out, format="parquet", values=false, batch_rows=131072, zstd_level=1, **filters))]
#[allow(clippy::too_many_arguments)]
pub fn export_table(
    py: Python<'_>,
    paths: Vec<PathBuf>,
    out: PathBuf,
    format: &str,
    values: bool,
    batch_rows: usize,
    zstd_level: i32,
    filters: Option<&Bound<'_, PyDict>>,
) -> PyResult<u64> {
    let engine = crate::filters::engine(filters)?;
    let format = match format {
        "parquet" => Format::Parquet,
        "arrow" => Format::Arrow,
        "csv" => Format::Csv,
        f => return Err(PyValueError::new_err(format!("unknown format {f:?}"))),
    };
    let opts = ExportOptions {
        format,
        values,
        batch_rows: batch_rows.max(1),
        zstd_level: (zstd_level > 0).then_some(zstd_level),
        ..Default::default()
    };
    let ins: Vec<&Path> = paths.iter().map(|p| p.as_path()).collect();
    rdbkit::outpath::check(&ins, &[("out", &out)])
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    let label = out.display().to_string();
    let mut sink = table::create(&out, &opts).map_err(|e| crate::sink_error(py, &label, e))?;
    let mut rows = 0;
    for p in &paths {
        let input = open_input(py, p)?;
        let name = p.display().to_string();
        let r: Result<_, SinkError> = py.allow_threads(|| {
            export::export_file(
                &input,
                &name,
                &opts,
                &engine,
                sink.as_mut(),
                Some(&release(&input)),
            )
        });
        rows += r.map_err(|e| crate::sink_error(py, &name, e))?.rows;
    }
    py.allow_threads(|| sink.finish())
        .map_err(|e| crate::sink_error(py, &label, e))?;
    Ok(rows)
}

/// The engine's progress callback: pages already read leave the resident
/// set (as in the CLI), so a mapped file does not count whole in the RSS.
fn release(input: &Input) -> impl Fn(u64, u64, u64) + Sync + '_ {
    move |done, _, _| input.release_before(done)
}
