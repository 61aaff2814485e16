//! `rdbkit._rdbkit`: the native half of the `rdbkit` Python package. The
//! Python half (`rdbkit/__init__.py`) adds the friendly signatures, JSON
//! parsing of reports and the pyarrow glue.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

mod filters;
mod reader;
mod reports;
mod topy;

create_exception!(
    _rdbkit,
    RdbError,
    PyException,
    "A snapshot could not be read: `.offset` is the byte offset of the problem (None for I/O errors), `.path` the file."
);

/// Raises `RdbError(message)` with `.offset` and `.path` set.
pub fn rdb_error(py: Python<'_>, path: &str, msg: &str, offset: Option<u64>) -> PyErr {
    let e = RdbError::new_err(format!("{path}: {msg}"));
    let v = e.value(py);
    let _ = v.setattr("offset", offset);
    let _ = v.setattr("path", path);
    e
}

/// An error of the sink layer as a Python exception.
pub fn sink_error(py: Python<'_>, path: &str, e: rdbkit::sink::SinkError) -> PyErr {
    match e {
        rdbkit::sink::SinkError::Format(f) => rdb_error(py, path, &f.to_string(), Some(f.offset)),
        other => rdb_error(py, path, &other.to_string(), None),
    }
}

#[pymodule]
fn _rdbkit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("RdbError", m.py().get_type::<RdbError>())?;
    m.add_class::<reader::Record>()?;
    m.add_class::<reader::Records>()?;
    m.add_function(wrap_pyfunction!(reader::open, m)?)?;
    m.add_function(wrap_pyfunction!(reports::stats_json, m)?)?;
    m.add_function(wrap_pyfunction!(reports::memory_jsonl, m)?)?;
    m.add_function(wrap_pyfunction!(reports::export_table, m)?)?;
    Ok(())
}
