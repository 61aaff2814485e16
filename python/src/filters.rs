//! Keyword filters (`db=`, `key=`, `type=`, ...) to the engine's options:
//! the same [`Filter`] the command line builds from its flags.

use std::sync::Arc;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use rdbkit::filter::{self, Expiry, Filter, Pattern};
use rdbkit::scan::EngineOptions;

/// One value or a list of them.
fn many<'py, T: FromPyObject<'py>>(v: Option<&Bound<'py, PyAny>>) -> PyResult<Vec<T>> {
    let Some(v) = v else { return Ok(Vec::new()) };
    if v.is_none() {
        return Ok(Vec::new());
    }
    if let Ok(one) = v.extract::<T>() {
        return Ok(vec![one]);
    }
    v.extract::<Vec<T>>()
        .map_err(|_| PyTypeError::new_err(format!("expected a value or a list, got {v}")))
}

/// The engine settings of a call; `kw` holds the filter keywords.
pub fn engine(kw: Option<&Bound<'_, pyo3::types::PyDict>>) -> PyResult<EngineOptions> {
    let get = |name: &str| -> PyResult<Option<Bound<'_, PyAny>>> {
        match kw {
            Some(d) => d.get_item(name),
            None => Ok(None),
        }
    };
    if let Some(d) = kw {
        for k in d.keys() {
            let k: String = k.extract()?;
            if !KNOWN.contains(&k.as_str()) {
                return Err(PyTypeError::new_err(format!(
                    "unknown keyword {k:?} (filters: {})",
                    KNOWN.join(", ")
                )));
            }
        }
    }
    let mut f = Filter {
        dbs: many(get("db")?.as_ref())?,
        ..Default::default()
    };
    let globs: Vec<String> = many(get("key")?.as_ref())?;
    f.keys = globs.iter().map(|g| Pattern::glob(g)).collect();
    for r in many::<String>(get("key_regex")?.as_ref())? {
        f.keys
            .push(Pattern::regex(&r).map_err(PyValueError::new_err)?);
    }
    let not: Vec<String> = many(get("not_key")?.as_ref())?;
    f.not_keys = not.iter().map(|g| Pattern::glob(g)).collect();
    for t in many::<String>(get("type")?.as_ref())? {
        f.types
            .extend(filter::parse_types(&t).map_err(PyValueError::new_err)?);
    }
    f.min_bytes = opt(get("min_bytes")?)?;
    f.max_bytes = opt(get("max_bytes")?)?;
    f.expiry = match opt::<bool>(get("expiring")?)? {
        Some(true) => Some(Expiry::Expiring),
        Some(false) => Some(Expiry::Persistent),
        None => None,
    };
    let mut e = EngineOptions {
        filter: (!f.is_pass_all()).then(|| Arc::new(f)),
        ..Default::default()
    };
    if let Some(t) = opt::<usize>(get("threads")?)? {
        e.threads = t.clamp(1, 1024);
    }
    if let Some(v) = opt::<bool>(get("verify_checksum")?)? {
        e.verify_checksum = v;
    }
    Ok(e)
}

fn opt<'py, T: FromPyObject<'py>>(v: Option<Bound<'py, PyAny>>) -> PyResult<Option<T>> {
    match v {
        Some(v) if !v.is_none() => Ok(Some(v.extract()?)),
        _ => Ok(None),
    }
}

/// The keywords [`engine`] understands.
pub const KNOWN: &[&str] = &[
    "db",
    "key",
    "key_regex",
    "not_key",
    "type",
    "min_bytes",
    "max_bytes",
    "expiring",
    "threads",
    "verify_checksum",
];
