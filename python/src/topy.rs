//! Owned values to Python objects that the arena path of `reader` does not
//! make: a dict for streams, and module values and arrays from their JSON
//! text.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use rdbkit::export::value::id_string;
use rdbkit::rdb::stream::{Group, StreamMeta};
use rdbkit::rdb::value::StreamEntry;

fn b<'py>(py: Python<'py>, v: &[u8]) -> Bound<'py, PyBytes> {
    PyBytes::new(py, v)
}

/// Module and array values: their JSON form, parsed by Python's `json`.
pub fn json<'py>(py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyAny>> {
    py.import("json")?.call_method1("loads", (text,))
}

/// A stream: `{"entries": [(id, [(field, value)])], "length": ..., "groups": [...]}`.
pub fn stream<'py>(
    py: Python<'py>,
    s: &[StreamEntry],
    m: &StreamMeta,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let mut entries = Vec::with_capacity(s.len());
    for (id, fields) in s {
        let fields: PyResult<Vec<Bound<'_, PyTuple>>> = fields
            .iter()
            .map(|(f, v)| PyTuple::new(py, [b(py, f), b(py, v)]))
            .collect();
        let fields = PyList::new(py, fields?)?;
        entries.push(PyTuple::new(
            py,
            [
                id_string(*id).into_pyobject(py)?.into_any(),
                fields.into_any(),
            ],
        )?);
    }
    d.set_item("entries", PyList::new(py, entries)?)?;
    d.set_item("length", m.length)?;
    d.set_item("last_id", id_string(m.last_id))?;
    d.set_item("first_id", m.first_id.map(id_string))?;
    d.set_item("max_deleted_id", m.max_deleted_id.map(id_string))?;
    d.set_item("entries_added", m.entries_added)?;
    let groups: PyResult<Vec<Bound<'_, PyDict>>> = m.groups.iter().map(|g| group(py, g)).collect();
    d.set_item("groups", PyList::new(py, groups?)?)?;
    Ok(d)
}

fn group<'py>(py: Python<'py>, g: &Group) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", b(py, &g.name))?;
    d.set_item("last_delivered_id", id_string(g.last_delivered_id))?;
    d.set_item("entries_read", g.entries_read)?;
    let owner = |id| {
        g.consumers
            .iter()
            .find(|c| c.pending.contains(id))
            .map(|c| b(py, &c.name))
    };
    let pending: PyResult<Vec<Bound<'_, PyTuple>>> = g
        .pending
        .iter()
        .map(|p| {
            (
                id_string(p.id),
                owner(&p.id),
                p.delivery_count,
                p.delivery_time_ms as i64,
            )
                .into_pyobject(py)
        })
        .collect();
    d.set_item("pending", PyList::new(py, pending?)?)?;
    let consumers: PyResult<Vec<Bound<'_, PyDict>>> = g
        .consumers
        .iter()
        .map(|c| {
            let cd = PyDict::new(py);
            cd.set_item("name", b(py, &c.name))?;
            cd.set_item("seen_time_ms", c.seen_time_ms as i64)?;
            cd.set_item("active_time_ms", c.active_time_ms.map(|t| t as i64))?;
            let ids: Vec<String> = c.pending.iter().map(|i| id_string(*i)).collect();
            cd.set_item("pending", ids)?;
            Ok(cd)
        })
        .collect();
    d.set_item("consumers", PyList::new(py, consumers?)?)?;
    let nacked = g
        .nacked
        .as_ref()
        .map(|ids| ids.iter().map(|i| id_string(*i)).collect::<Vec<_>>());
    d.set_item("nacked", nacked)?;
    Ok(d)
}
