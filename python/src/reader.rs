//! `rdbkit.open(path)`: records decoded on the parallel engine in a
//! background thread, handed to Python chunk by chunk in file order. Only
//! the conversion to Python objects runs under the GIL; the channel is
//! bounded, so a slow consumer holds the decoders back instead of letting
//! memory grow. Dropping the iterator stops the engine.

use std::ops::Range;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyFloat, PyList, PySet, PyTuple};

use rdbkit::export::value::Collector;
use rdbkit::input::Input;
use rdbkit::rdb::elem::Elem;
use rdbkit::rdb::records::{Item, Record as RdbRecord};
use rdbkit::rdb::stream::StreamMeta;
use rdbkit::rdb::value::{Kind, StreamEntry, Value, ValueVisitor};
use rdbkit::scan::{self, Admit, Chunk, EngineOptions, Worker};
use rdbkit::sink::SinkError;

use crate::topy;

/// One record, owned, on its way to Python. Its key (and a string's value)
/// are ranges of the chunk's arena: one allocation a chunk instead of one or
/// two a record, which made glibc's malloc the decoders' and the GIL
/// thread's first cost.
pub struct Owned {
    db: u64,
    key: Range<usize>,
    kind: &'static str,
    encoding: &'static str,
    expire_ms: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
    offset: u64,
    value: Val,
}

/// A value whose bytes are ranges of the chunk's arena (strings and the
/// plain collections: one vector a key at most, not one a member), a
/// stream with owned elements, or a module value or array as JSON text.
enum Val {
    Bytes(Range<usize>),
    List(Vec<Range<usize>>),
    Set(Vec<Range<usize>>),
    ZSet(Vec<(Range<usize>, f64)>),
    /// Field, value and the field's TTL (Unix ms).
    Hash(Vec<(Range<usize>, Range<usize>, Option<i64>)>),
    Stream(Vec<StreamEntry>, Box<StreamMeta>),
    /// The `value` member of the key's `rdbkit json` line.
    Json(String),
}

/// Decodes a value into the arena.
struct ArenaVisit<'o> {
    arena: &'o mut Vec<u8>,
    val: Val,
}

impl ArenaVisit<'_> {
    fn put(&mut self, e: Elem<'_>) -> Range<usize> {
        let start = self.arena.len();
        e.write_to(self.arena);
        start..self.arena.len()
    }
}

impl ValueVisitor for ArenaVisit<'_> {
    fn string(&mut self, e: Elem<'_>) -> rdbkit::error::Result<()> {
        self.val = Val::Bytes(self.put(e));
        Ok(())
    }
    fn list_item(&mut self, e: Elem<'_>) -> rdbkit::error::Result<()> {
        let r = self.put(e);
        if let Val::List(l) = &mut self.val {
            l.push(r);
        }
        Ok(())
    }
    fn set_member(&mut self, e: Elem<'_>) -> rdbkit::error::Result<()> {
        let r = self.put(e);
        if let Val::Set(l) = &mut self.val {
            l.push(r);
        }
        Ok(())
    }
    fn zset_member(&mut self, m: Elem<'_>, score: f64) -> rdbkit::error::Result<()> {
        let r = self.put(m);
        if let Val::ZSet(l) = &mut self.val {
            l.push((r, score));
        }
        Ok(())
    }
    fn hash_field(
        &mut self,
        f: Elem<'_>,
        v: Elem<'_>,
        expire_ms: Option<i64>,
    ) -> rdbkit::error::Result<()> {
        let (f, v) = (self.put(f), self.put(v));
        if let Val::Hash(l) = &mut self.val {
            l.push((f, v, expire_ms));
        }
        Ok(())
    }
}

/// A chunk's records and the arena their bytes live in.
#[derive(Default)]
pub struct Batch {
    arena: Vec<u8>,
    recs: Vec<Owned>,
}

impl Batch {
    fn put(&mut self, bytes: &[u8]) -> Range<usize> {
        let start = self.arena.len();
        self.arena.extend_from_slice(bytes);
        start..self.arena.len()
    }
}

/// A chunk's records, or the error that ended the run (message, offset).
type Msg = Result<Batch, (String, Option<u64>)>;

struct PyWorker {
    collector: Collector,
    key: Vec<u8>,
}

impl<'a> Worker<'a> for PyWorker {
    type Out = Batch;
    type Error = SinkError;

    fn process(&mut self, chunk: &Chunk<'a>) -> Result<Batch, SinkError> {
        // Sized from the chunk up front: growing the arena by doubling
        // copied it and faulted in fresh pages a few times a chunk.
        let bytes = (chunk.end - chunk.start).min(ARENA_MAX) as usize;
        let mut out = Batch {
            arena: Vec::with_capacity(bytes),
            recs: Vec::with_capacity(chunk.keys.min(bytes as u64) as usize),
        };
        let mut p = chunk.parser()?;
        while let Some(item) = p.next_item()? {
            let Item::Key(rec) = item else { continue };
            if chunk.admit(&rec, &mut self.key)? != Admit::Keep {
                continue;
            }
            let value = match self.value(&rec, &mut out.arena) {
                Ok(v) => v,
                Err(e) => {
                    chunk.value_error(&rec, e)?;
                    continue;
                }
            };
            let key = out.put(rec.key.bytes(&mut self.key)?);
            out.recs.push(Owned {
                db: rec.db,
                key,
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

/// The arena's first reservation at most (a chunk's size otherwise).
const ARENA_MAX: u64 = 16 << 20;

impl PyWorker {
    /// A record's value; strings' and plain collections' bytes go
    /// straight into the arena (on an error it is left as it was).
    fn value(&mut self, rec: &RdbRecord<'_>, arena: &mut Vec<u8>) -> rdbkit::error::Result<Val> {
        let val = match rec.vtype.kind() {
            Kind::String => Val::Bytes(0..0),
            Kind::List => Val::List(Vec::new()),
            Kind::Set => Val::Set(Vec::new()),
            Kind::ZSet => Val::ZSet(Vec::new()),
            Kind::Hash => Val::Hash(Vec::new()),
            Kind::Stream => {
                return match self.collector.collect(rec)? {
                    Value::Stream(entries, meta) => Ok(Val::Stream(entries, meta)),
                    _ => unreachable!("a stream record collects a stream"),
                }
            }
            Kind::Module | Kind::Array => return self.collector.json(rec).map(Val::Json),
        };
        let start = arena.len();
        let mut v = ArenaVisit { arena, val };
        let r = self.collector.visit(rec, &mut v);
        if r.is_err() {
            v.arena.truncate(start);
        }
        r.map(|()| v.val)
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
    // Pages already read leave the resident set, as in the CLI: without
    // this a whole mapped file counts in the process's RSS.
    let release = |done: u64, _: u64, _: u64| input.release_before(done);
    let r = scan::run(
        &input,
        &engine,
        || PyWorker {
            collector: Collector::default(),
            key: Vec::new(),
        },
        |recs: Batch, _| {
            if recs.recs.is_empty() {
                return Ok(());
            }
            tx.send(Ok(recs)).map_err(|_| SinkError::Stopped)
        },
        Some(&release),
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
// A free list keeps spent objects for reuse: one is made per key, and
// allocating them was a visible share of the iteration's time.
#[pyclass(frozen, freelist = 256, module = "rdbkit")]
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

fn record(py: Python<'_>, arena: &[u8], o: &Owned) -> PyResult<Record> {
    let (value, fexp) = arena_value(py, arena, &o.value)?;
    Ok(Record {
        db: o.db,
        key: PyBytes::new(py, &arena[o.key.clone()]).unbind(),
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

/// A value as Python objects (bytes, list, set, list of (member, score),
/// dict; streams and JSON text through [`topy`]), and for hashes with field
/// TTLs `{field: unix_ms}`.
fn arena_value(py: Python<'_>, arena: &[u8], v: &Val) -> PyResult<(PyObject, Option<Py<PyDict>>)> {
    let b = |r: &Range<usize>| PyBytes::new(py, &arena[r.clone()]);
    let mut fexp = None;
    let obj = match v {
        Val::Bytes(r) => b(r).into_any(),
        Val::List(l) => PyList::new(py, l.iter().map(b))?.into_any(),
        Val::Set(l) => PySet::new(py, l.iter().map(b))?.into_any(),
        Val::ZSet(z) => {
            let items = z
                .iter()
                .map(|(m, s)| PyTuple::new(py, [b(m).into_any(), PyFloat::new(py, *s).into_any()]));
            PyList::new(py, items.collect::<PyResult<Vec<_>>>()?)?.into_any()
        }
        Val::Hash(h) => {
            let d = PyDict::new(py);
            for (f, v, ms) in h {
                let field = b(f);
                if let Some(ms) = ms {
                    let fd = fexp.get_or_insert_with(|| PyDict::new(py));
                    fd.set_item(&field, ms)?;
                }
                d.set_item(field, b(v))?;
            }
            d.into_any()
        }
        Val::Stream(entries, meta) => topy::stream(py, entries, meta)?.into_any(),
        Val::Json(text) => topy::json(py, text)?,
    };
    Ok((obj.unbind(), fexp.map(|d| d.unbind())))
}

/// The batch being handed out and the index of its next record.
#[derive(Default)]
struct Current {
    batch: Batch,
    next: usize,
}

/// The iterator `rdbkit.open` returns.
#[pyclass(module = "rdbkit")]
pub struct Records {
    path: String,
    rx: Mutex<Receiver<Msg>>,
    cur: Mutex<Current>,
    /// Spent batches go to a thread of their own to be freed: freeing
    /// a chunk's values is as costly as making them, and the GIL thread
    /// is the iteration's bottleneck.
    spent: Mutex<Sender<Batch>>,
}

impl Records {
    fn retire(&self, b: Batch) {
        // The freeing thread is gone only if it panicked: then free here.
        if let Ok(tx) = self.spent.lock() {
            let _ = tx.send(b);
        }
    }
}

#[pymethods]
impl Records {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Record>> {
        loop {
            if let Ok(mut c) = self.cur.lock() {
                if let Some(o) = c.batch.recs.get(c.next) {
                    let r = record(py, &c.batch.arena, o);
                    c.next += 1;
                    return r.map(Some);
                }
            }
            let msg = py.allow_threads(|| self.rx.lock().ok().and_then(|rx| rx.recv().ok()));
            match msg {
                None => return Ok(None),
                Some(Ok(v)) => {
                    let spent = match self.cur.lock() {
                        Ok(mut c) => std::mem::replace(&mut *c, Current { batch: v, next: 0 }),
                        Err(_) => return Ok(None),
                    };
                    self.retire(spent.batch);
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
    let (spent, freed) = channel::<Batch>();
    std::thread::Builder::new()
        .name("rdbkit-free".into())
        .spawn(move || freed.into_iter().for_each(drop))
        .map_err(|e| pyo3::exceptions::PyOSError::new_err(e.to_string()))?;
    Ok(Records {
        path,
        rx: Mutex::new(rx),
        cur: Mutex::new(Current::default()),
        spent: Mutex::new(spent),
    })
}
