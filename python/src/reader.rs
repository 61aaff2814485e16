//! `rdbkit.open(path)`: records decoded on the parallel engine in a
//! background thread, handed to Python chunk by chunk in file order. Only
//! the conversion to Python objects runs under the GIL; the channel is
//! bounded, so a slow consumer holds the decoders back instead of letting
//! memory grow. Dropping the iterator stops the engine.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use rdbkit::export::value::{Collector, Value};
use rdbkit::input::Input;
use rdbkit::rdb::records::Item;
use rdbkit::scan::{self, Admit, Chunk, EngineOptions, Worker};
use rdbkit::sink::SinkError;

use crate::topy;

/// One record, owned, on its way to Python.
pub struct Owned {
    db: u64,
    key: Vec<u8>,
    kind: &'static str,
    encoding: &'static str,
    expire_ms: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
    offset: u64,
    value: Value,
}

/// A chunk's records, or the error that ended the run (message, offset).
type Msg = Result<Vec<Owned>, (String, Option<u64>)>;

struct PyWorker {
    collector: Collector,
    key: Vec<u8>,
}

impl<'a> Worker<'a> for PyWorker {
    type Out = Vec<Owned>;
    type Error = SinkError;

    fn process(&mut self, chunk: &Chunk<'a>) -> Result<Vec<Owned>, SinkError> {
        let mut out = Vec::new();
        let mut p = chunk.parser()?;
        while let Some(item) = p.next_item()? {
            let Item::Key(rec) = item else { continue };
            if chunk.admit(&rec, &mut self.key)? != Admit::Keep {
                continue;
            }
            let value = match self.collector.collect(&rec) {
                Ok(v) => v,
                Err(e) => {
                    chunk.value_error(&rec, e)?;
                    continue;
                }
            };
            out.push(Owned {
                db: rec.db,
                key: rec.key.bytes(&mut self.key)?.to_vec(),
                kind: rec.vtype.kind().name(),
                encoding: rec.vtype.encoding(),
                expire_ms: rec.expire_ms,
                idle: rec.idle,
                freq: rec.freq,
                offset: rec.offset,
                value,
            });
        }
        Ok(out)
    }
}

/// Runs the engine over `path`, sending chunks to `tx` until done, failed
/// or the receiver is gone.
fn produce(path: String, engine: EngineOptions, tx: SyncSender<Msg>) {
    let input = match Input::open(std::path::Path::new(&path)) {
        Ok(i) => i,
        Err(e) => {
            let _ = tx.send(Err((e.to_string(), None)));
            return;
        }
    };
    let r = scan::run(
        &input,
        &engine,
        || PyWorker {
            collector: Collector::default(),
            key: Vec::new(),
        },
        |recs: Vec<Owned>, _| {
            if recs.is_empty() {
                return Ok(());
            }
            tx.send(Ok(recs)).map_err(|_| SinkError::Stopped)
        },
        None,
    )
    .map_err(SinkError::from);
    let msg = match r {
        Ok(_) | Err(SinkError::Stopped) => return,
        Err(SinkError::Format(e)) => (e.to_string(), Some(e.offset)),
        Err(e) => (e.to_string(), None),
    };
    let _ = tx.send(Err(msg));
}

/// A key of the snapshot with its value as Python objects.
#[pyclass(frozen, module = "rdbkit")]
pub struct Record {
    #[pyo3(get)]
    db: u64,
    #[pyo3(get)]
    key: Py<PyBytes>,
    #[pyo3(get, name = "type")]
    kind: &'static str,
    /// The encoding stored in the file (`OBJECT ENCODING` words).
    #[pyo3(get)]
    encoding: &'static str,
    #[pyo3(get)]
    expire_ms: Option<i64>,
    #[pyo3(get)]
    idle: Option<u64>,
    #[pyo3(get)]
    freq: Option<u8>,
    #[pyo3(get)]
    offset: u64,
    #[pyo3(get)]
    value: PyObject,
    /// Hash field TTLs `{field: unix_ms}`, or None.
    #[pyo3(get)]
    field_expire_ms: Option<Py<PyDict>>,
}

#[pymethods]
impl Record {
    fn __repr__(&self, py: Python<'_>) -> String {
        let key = self.key.bind(py).to_string();
        format!("Record(db={}, key={key}, type={:?})", self.db, self.kind)
    }
}

fn record(py: Python<'_>, o: Owned) -> PyResult<Record> {
    let (value, fexp) = topy::value(py, &o.value)?;
    Ok(Record {
        db: o.db,
        key: PyBytes::new(py, &o.key).unbind(),
        kind: o.kind,
        encoding: o.encoding,
        expire_ms: o.expire_ms,
        idle: o.idle,
        freq: o.freq,
        offset: o.offset,
        value,
        field_expire_ms: fexp,
    })
}

/// The iterator `rdbkit.open` returns.
#[pyclass(module = "rdbkit")]
pub struct Records {
    path: String,
    rx: Mutex<Receiver<Msg>>,
    buf: Mutex<std::vec::IntoIter<Owned>>,
}

#[pymethods]
impl Records {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Record>> {
        loop {
            let next = self.buf.lock().map(|mut b| b.next()).unwrap_or(None);
            if let Some(o) = next {
                return record(py, o).map(Some);
            }
            let msg = py.allow_threads(|| self.rx.lock().ok().and_then(|rx| rx.recv().ok()));
            match msg {
                None => return Ok(None),
                Some(Ok(v)) => {
                    if let Ok(mut b) = self.buf.lock() {
                        *b = v.into_iter();
                    }
                }
                Some(Err((m, off))) => return Err(crate::rdb_error(py, &self.path, &m, off)),
            }
        }
    }
}

/// `open(path, **filters)`: see `rdbkit/__init__.pyi`.
#[pyfunction]
#[pyo3(signature = (path, **filters))]
pub fn open(path: std::path::PathBuf, filters: Option<&Bound<'_, PyDict>>) -> PyResult<Records> {
    let engine = crate::filters::engine(filters)?;
    let path = path.to_string_lossy().into_owned();
    let (tx, rx) = sync_channel::<Msg>(engine.threads * 2 + 2);
    let p = path.clone();
    std::thread::Builder::new()
        .name("rdbkit-reader".into())
        .spawn(move || produce(p, engine, tx))
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
    Ok(Records {
        path,
        rx: Mutex::new(rx),
        buf: Mutex::new(Vec::new().into_iter()),
    })
}
