//! `rdbkit json`: one JSON object per key, in file order, lossless.
//!
//! ```text
//! {"db":0,"key":K,"type":T,"expire_ms":X,"idle":S,"freq":F,"value":V,"field_expire_ms":{..}}
//! ```
//! `expire_ms`, `idle`, `freq` and `field_expire_ms` are present only when
//! the file has them. With `meta`, non-key items are written too
//! (`{"aux":{..}}`, `{"function":..}`, `{"module_aux":..}`, ...), so nothing
//! in the file is invisible. The shapes are documented in the README.

use std::collections::BTreeMap;
use std::io::Write;

use crate::error::Result;
use crate::rdb::array::{ArrayElem, ArrayHead};
use crate::rdb::elem::Elem;
use crate::rdb::module::ModuleValue;
use crate::rdb::records::{Item, Record};
use crate::rdb::stream::{StreamId, StreamMeta};
use crate::rdb::value::{Kind, Scratch, ValueVisitor};
use crate::scan::{self, Chunk, EngineOptions, Progress, Worker};
use crate::sink::jsonfmt::*;
use crate::sink::SinkError;

/// Options of the JSON converter.
#[derive(Debug, Clone, Copy)]
pub struct JsonOptions {
    /// Also write non-key items (aux fields, functions, module aux, ...).
    pub meta: bool,
    /// Check the CRC-64 trailer.
    pub verify_checksum: bool,
}

impl Default for JsonOptions {
    fn default() -> Self {
        JsonOptions {
            meta: false,
            verify_checksum: true,
        }
    }
}

/// Counts from one conversion.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JsonSummary {
    pub keys: u64,
    /// Bytes after the checksum trailer (an AOF's commands after its RDB
    /// preamble, or garbage Redis ignores).
    pub trailing: u64,
}

/// Converts a whole file into JSON Lines in memory (tests, small files).
pub fn to_vec(data: &[u8], opts: &JsonOptions) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match write_all(data, opts, &mut out) {
        Ok(_) => Ok(out),
        Err(SinkError::Format(e)) => Err(e),
        Err(SinkError::Io(e)) => unreachable!("writing to a Vec cannot fail: {e}"),
        Err(e @ (SinkError::Stopped | SinkError::Abort(_))) => {
            unreachable!("the JSON sink does not stop: {e}")
        }
    }
}

/// Converts a whole file on one thread, streaming to `w`.
pub fn write_all<W: Write>(
    data: &[u8],
    opts: &JsonOptions,
    w: &mut W,
) -> std::result::Result<JsonSummary, SinkError> {
    let engine = EngineOptions {
        threads: 1,
        verify_checksum: opts.verify_checksum,
        ..Default::default()
    };
    write_parallel(data, opts, &engine, w, None)
}

/// Converts a whole file on the parallel engine; the output is byte-identical
/// whatever the thread count.
pub fn write_parallel<W: Write>(
    data: &[u8],
    opts: &JsonOptions,
    engine: &EngineOptions,
    w: &mut W,
    progress: Option<Progress<'_>>,
) -> std::result::Result<JsonSummary, SinkError> {
    let engine = EngineOptions {
        verify_checksum: opts.verify_checksum,
        ..engine.clone()
    };
    let meta = opts.meta;
    let mut enc = JsonEncoder::default();
    let mut buf = Vec::new();
    let info = scan::run(
        data,
        &engine,
        || JsonWorker {
            kscratch: Vec::new(),
            enc: JsonEncoder::default(),
            meta,
        },
        |out: JsonOut, chunk| match out {
            JsonOut::Ready(b) => w.write_all(&b).map_err(SinkError::Io),
            JsonOut::Failed(b, e) => {
                w.write_all(&b)?;
                Err(SinkError::Format(e))
            }
            JsonOut::Huge => {
                // One huge record: encode it here, in order, streaming to the
                // output in blocks, so memory does not grow with the value.
                let mut p = chunk.parser()?;
                while let Some(item) = p.next_item()? {
                    match &item {
                        Item::Key(rec) => {
                            // Under --skip-corrupt this walks the value once
                            // before any of it is written: streamed output
                            // cannot be taken back.
                            if chunk.admit(rec, &mut buf)? != scan::Admit::Keep {
                                continue;
                            }
                            enc.record_streaming(w, &mut buf, rec)?
                        }
                        other if meta => {
                            buf.clear();
                            enc.meta_item(&mut buf, other)?;
                            w.write_all(&buf)?;
                        }
                        _ => {}
                    }
                }
                Ok(())
            }
        },
        progress,
    )?;
    Ok(JsonSummary {
        keys: info.keys,
        trailing: info.trailing_bytes,
    })
}

/// Records whose encoded value is larger than this are not encoded by a
/// worker into a buffer but streamed by the writer (see [`JsonOut::Huge`]).
pub const HUGE_RECORD_BYTES: u64 = 8 << 20;

struct JsonWorker {
    kscratch: Vec<u8>,
    enc: JsonEncoder,
    meta: bool,
}

/// A worker's result for one chunk.
enum JsonOut {
    Ready(Vec<u8>),
    /// The chunk is one huge record: the writer encodes it, streaming.
    Huge,
    /// The lines before a format error, and the error: written, then
    /// reported, so the output does not depend on where chunks were cut.
    Failed(Vec<u8>, crate::Error),
}

impl<'a> Worker<'a> for JsonWorker {
    type Out = JsonOut;
    type Error = SinkError;
    fn process(&mut self, chunk: &Chunk<'a>) -> std::result::Result<JsonOut, SinkError> {
        if chunk.keys == 1 && chunk.end - chunk.start > HUGE_RECORD_BYTES {
            return Ok(JsonOut::Huge);
        }
        let mut out = Vec::with_capacity(
            (chunk.end - chunk.start) as usize + (chunk.end - chunk.start) as usize / 4,
        );
        let r = (|| {
            let mut p = chunk.parser()?;
            while let Some(item) = p.next_item()? {
                match &item {
                    Item::Key(rec) => {
                        if chunk.admit(rec, &mut self.kscratch)? != scan::Admit::Keep {
                            continue;
                        }
                        let mark = out.len();
                        if let Err(e) = self.enc.record(&mut out, rec) {
                            out.truncate(mark);
                            chunk.value_error(rec, e)?;
                        }
                    }
                    other if self.meta => self.enc.meta_item(&mut out, other)?,
                    _ => {}
                }
            }
            Ok(())
        })();
        if let Err(e) = r {
            return Ok(JsonOut::Failed(out, e));
        }
        Ok(JsonOut::Ready(out))
    }
}

/// Encodes records as JSON lines; holds reusable buffers.
#[derive(Default)]
pub struct JsonEncoder {
    scratch: Scratch,
    key: Vec<u8>,
    fexp: Vec<u8>,
}

impl JsonEncoder {
    /// Appends one key's line to `out`.
    pub fn record(&mut self, out: &mut Vec<u8>, rec: &Record<'_>) -> Result<()> {
        self.record_impl(out, rec, None, false)
            .map_err(|e| match e {
                SinkError::Format(e) => e,
                SinkError::Io(_) | SinkError::Stopped | SinkError::Abort(_) => {
                    unreachable!("no sink, no I/O")
                }
            })
    }

    /// Writes one key's line to `w`, in blocks of about 1 MiB, using `out`
    /// as the block buffer: memory stays flat however big the value is. A
    /// hash is checked for non-UTF-8 field names first (one extra decode),
    /// since a streamed object cannot be rewritten as pairs afterwards.
    pub fn record_streaming(
        &mut self,
        w: &mut dyn Write,
        out: &mut Vec<u8>,
        rec: &Record<'_>,
    ) -> std::result::Result<(), SinkError> {
        out.clear();
        let pairs = rec.vtype.kind() == Kind::Hash && {
            let mut c = TextCheck(true);
            rec.decode(&mut self.scratch, &mut c)?;
            !c.0
        };
        self.record_impl(out, rec, Some(w), pairs)?;
        w.write_all(out)?;
        out.clear();
        Ok(())
    }

    fn record_impl(
        &mut self,
        out: &mut Vec<u8>,
        rec: &Record<'_>,
        sink: Option<&mut (dyn Write + '_)>,
        pairs: bool,
    ) -> std::result::Result<(), SinkError> {
        let line_start = out.len();
        out.extend_from_slice(b"{\"db\":");
        write_u64(out, rec.db);
        out.extend_from_slice(b",\"key\":");
        write_bytes(out, rec.key.bytes(&mut self.key)?);
        out.extend_from_slice(b",\"type\":\"");
        let kind = rec.vtype.kind();
        out.extend_from_slice(kind.name().as_bytes());
        out.push(b'"');
        if let Some(x) = rec.expire_ms {
            out.extend_from_slice(b",\"expire_ms\":");
            write_i64(out, x);
        }
        if let Some(x) = rec.idle {
            out.extend_from_slice(b",\"idle\":");
            write_u64(out, x);
        }
        if let Some(x) = rec.freq {
            out.extend_from_slice(b",\"freq\":");
            write_u64(out, x as u64);
        }
        out.extend_from_slice(b",\"value\":");
        let value_start = out.len();
        let r = self.value(out, rec, kind, pairs, sink);
        let r = match r {
            Ok(true) => {
                // A hash field or TTL field is not UTF-8: redo as [field, value] pairs.
                out.truncate(value_start);
                self.value(out, rec, kind, true, None).map(|_| ())
            }
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = r {
            out.truncate(line_start);
            return Err(e);
        }
        if !self.fexp.is_empty() {
            out.extend_from_slice(b",\"field_expire_ms\":");
            out.extend_from_slice(&self.fexp);
        }
        out.extend_from_slice(b"}\n");
        Ok(())
    }

    /// Writes the value; returns Ok(true) when a hash needs the pairs form.
    fn value(
        &mut self,
        out: &mut Vec<u8>,
        rec: &Record<'_>,
        kind: Kind,
        pairs: bool,
        sink: Option<&mut (dyn Write + '_)>,
    ) -> std::result::Result<bool, SinkError> {
        self.fexp.clear();
        let mut v = Visit {
            out,
            fexp: &mut self.fexp,
            first: true,
            fexp_first: true,
            pairs,
            need_pairs: false,
            fields: Vec::new(),
            sink,
            io_err: None,
        };
        match kind {
            Kind::String | Kind::Module | Kind::Array => {}
            Kind::Hash if !pairs => v.out.push(b'{'),
            Kind::Stream => v.out.extend_from_slice(b"{\"entries\":["),
            _ => v.out.push(b'['),
        }
        let r = rec.decode(&mut self.scratch, &mut v);
        if let Some(e) = v.io_err.take() {
            return Err(SinkError::Io(e));
        }
        r?;
        if v.need_pairs {
            return Ok(true);
        }
        match kind {
            Kind::String | Kind::Module | Kind::Stream => {}
            Kind::Array => v.out.extend_from_slice(b"]}"),
            Kind::Hash if !pairs => v.out.push(b'}'),
            _ => v.out.push(b']'),
        }
        if !v.fexp_first {
            v.fexp.push(if pairs { b']' } else { b'}' });
        }
        Ok(false)
    }

    /// Appends a line for a non-key item (`--meta`).
    pub fn meta_item(&mut self, out: &mut Vec<u8>, item: &Item<'_>) -> Result<()> {
        let mut a = Vec::new();
        match item {
            Item::Key(_) => {}
            Item::Aux { key, value } => {
                // `{"aux":{name:value}}`, or `{"aux":[name,value]}` when the
                // name is not UTF-8 (it cannot be an object key then).
                let k = key.bytes(&mut a)?;
                let text = is_text(k);
                out.extend_from_slice(if text { b"{\"aux\":{" } else { b"{\"aux\":[" });
                write_bytes(out, k);
                out.push(if text { b':' } else { b',' });
                write_bytes(out, value.bytes(&mut self.key)?);
                out.extend_from_slice(if text { b"}}\n" } else { b"]}\n" });
            }
            Item::SelectDb(db) => {
                out.extend_from_slice(b"{\"select_db\":");
                write_u64(out, *db);
                out.extend_from_slice(b"}\n");
            }
            Item::ResizeDb {
                db_size,
                expires_size,
            } => {
                out.extend_from_slice(b"{\"resize_db\":{\"db_size\":");
                write_u64(out, *db_size);
                out.extend_from_slice(b",\"expires_size\":");
                write_u64(out, *expires_size);
                out.extend_from_slice(b"}}\n");
            }
            Item::SlotInfo {
                slot,
                slot_size,
                expires_slot_size,
            } => {
                out.extend_from_slice(b"{\"slot_info\":{\"slot\":");
                write_u64(out, *slot);
                out.extend_from_slice(b",\"slot_size\":");
                write_u64(out, *slot_size);
                out.extend_from_slice(b",\"expires_slot_size\":");
                write_u64(out, *expires_slot_size);
                out.extend_from_slice(b"}}\n");
            }
            Item::Function { code, .. } => {
                out.extend_from_slice(b"{\"function\":");
                write_bytes(out, code.bytes(&mut a)?);
                out.extend_from_slice(b"}\n");
            }
            Item::FunctionPreGa(f) => {
                out.extend_from_slice(b"{\"function\":");
                write_bytes(out, f.code.bytes(&mut a)?);
                out.extend_from_slice(b",\"name\":");
                write_bytes(out, f.name.bytes(&mut a)?);
                out.extend_from_slice(b",\"engine\":");
                write_bytes(out, f.engine.bytes(&mut a)?);
                if let Some(d) = &f.description {
                    out.extend_from_slice(b",\"description\":");
                    write_bytes(out, d.bytes(&mut a)?);
                }
                out.extend_from_slice(b"}\n");
            }
            Item::ModuleAux(m) => {
                out.extend_from_slice(b"{\"module_aux\":");
                write_module(out, m);
                out.extend_from_slice(b"}\n");
            }
            Item::SlotImport { job, ranges } => {
                out.extend_from_slice(b"{\"slot_import\":{\"job\":");
                write_bytes(out, job.bytes(&mut a)?);
                out.extend_from_slice(b",\"ranges\":[");
                for (i, (x, y)) in ranges.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.push(b'[');
                    write_u64(out, *x);
                    out.push(b',');
                    write_u64(out, *y);
                    out.push(b']');
                }
                out.extend_from_slice(b"]}}\n");
            }
            Item::Eof { checksum, .. } => {
                out.extend_from_slice(b"{\"eof\":{\"checksum\":");
                match checksum {
                    Some(c) => {
                        out.push(b'"');
                        out.extend_from_slice(format!("{c:016x}").as_bytes());
                        out.push(b'"');
                    }
                    None => out.extend_from_slice(b"null"),
                }
                out.extend_from_slice(b"}}\n");
            }
        }
        Ok(())
    }
}

fn write_module(out: &mut Vec<u8>, m: &ModuleValue<'_>) {
    out.extend_from_slice(b"{\"module\":");
    write_bytes(out, m.name.as_bytes());
    out.extend_from_slice(b",\"encver\":");
    write_u64(out, m.encver);
    if let Some(w) = m.when {
        out.extend_from_slice(b",\"when\":");
        write_u64(out, w);
    }
    out.extend_from_slice(b",\"b64\":\"");
    // Always base64, even when the bytes happen to be UTF-8: it is binary.
    use base64::Engine;
    out.extend_from_slice(
        base64::engine::general_purpose::STANDARD
            .encode(m.raw)
            .as_bytes(),
    );
    out.push(b'"');
    out.push(b'}');
}

struct Visit<'o, 'w> {
    out: &'o mut Vec<u8>,
    fexp: &'o mut Vec<u8>,
    first: bool,
    fexp_first: bool,
    /// Hash in `[field, value]` pairs form.
    pairs: bool,
    /// Set when an object form turned out impossible.
    need_pairs: bool,
    fields: Vec<Vec<u8>>,
    /// Streaming mode: where full blocks go.
    sink: Option<&'o mut (dyn Write + 'w)>,
    io_err: Option<std::io::Error>,
}

impl Visit<'_, '_> {
    /// In streaming mode, hands a full block to the sink. An I/O error is
    /// kept aside and decoding is stopped with a placeholder format error
    /// that the caller replaces with the I/O error.
    #[inline]
    fn flush(&mut self) -> Result<()> {
        if let Some(w) = self.sink.as_deref_mut() {
            if self.out.len() >= 1 << 20 {
                if let Err(e) = w.write_all(self.out) {
                    self.io_err = Some(e);
                    return Err(crate::Error::invalid(0, "output", "write failed"));
                }
                self.out.clear();
            }
        }
        Ok(())
    }

    #[inline]
    fn sep(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.out.push(b',');
        }
    }
}

impl ValueVisitor for Visit<'_, '_> {
    fn string(&mut self, v: Elem<'_>) -> Result<()> {
        write_elem(self.out, v);
        Ok(())
    }

    fn list_item(&mut self, v: Elem<'_>) -> Result<()> {
        self.sep();
        write_elem(self.out, v);
        self.flush()
    }

    fn set_member(&mut self, v: Elem<'_>) -> Result<()> {
        self.list_item(v)
    }

    fn zset_member(&mut self, member: Elem<'_>, score: f64) -> Result<()> {
        self.sep();
        self.out.push(b'[');
        write_elem(self.out, member);
        self.out.push(b',');
        write_score(self.out, score);
        self.out.push(b']');
        self.flush()
    }

    fn hash_field(
        &mut self,
        field: Elem<'_>,
        value: Elem<'_>,
        expire_ms: Option<i64>,
    ) -> Result<()> {
        if self.need_pairs {
            return Ok(());
        }
        if !self.pairs && !elem_is_text(&field) {
            self.need_pairs = true;
            return Ok(());
        }
        self.sep();
        if self.pairs {
            self.out.push(b'[');
            write_elem(self.out, field);
            self.out.push(b',');
            write_elem(self.out, value);
            self.out.push(b']');
        } else {
            write_elem(self.out, field);
            self.out.push(b':');
            write_elem(self.out, value);
        }
        if let Some(ms) = expire_ms {
            if self.fexp_first {
                self.fexp_first = false;
                self.fexp.push(if self.pairs { b'[' } else { b'{' });
            } else {
                self.fexp.push(b',');
            }
            if self.pairs {
                self.fexp.push(b'[');
                write_elem(self.fexp, field);
                self.fexp.push(b',');
                write_i64(self.fexp, ms);
                self.fexp.push(b']');
            } else {
                write_elem(self.fexp, field);
                self.fexp.push(b':');
                write_i64(self.fexp, ms);
            }
        }
        self.flush()
    }

    fn stream_entry(&mut self, id: StreamId, fields: &[(Elem<'_>, Elem<'_>)]) -> Result<()> {
        self.sep();
        self.out.extend_from_slice(b"[\"");
        write_id(self.out, id);
        self.out.extend_from_slice(b"\",");
        // Object form unless a field is not UTF-8 or repeats within the entry.
        let mut object = fields.iter().all(|(f, _)| elem_is_text(f));
        if object && fields.len() > 1 {
            object = !has_duplicate_field(fields, &mut self.fields);
        }
        self.out.push(if object { b'{' } else { b'[' });
        for (i, (f, v)) in fields.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            if object {
                write_elem(self.out, *f);
                self.out.push(b':');
                write_elem(self.out, *v);
            } else {
                self.out.push(b'[');
                write_elem(self.out, *f);
                self.out.push(b',');
                write_elem(self.out, *v);
                self.out.push(b']');
            }
        }
        self.out
            .extend_from_slice(if object { b"}]" } else { b"]]" });
        self.flush()
    }

    fn stream_meta(&mut self, m: &StreamMeta) -> Result<()> {
        let out = &mut *self.out;
        out.extend_from_slice(b"],\"length\":");
        write_u64(out, m.length);
        out.extend_from_slice(b",\"last_id\":");
        write_id_str(out, m.last_id);
        if let Some(id) = m.first_id {
            out.extend_from_slice(b",\"first_id\":");
            write_id_str(out, id);
        }
        if let Some(id) = m.max_deleted_id {
            out.extend_from_slice(b",\"max_deleted_id\":");
            write_id_str(out, id);
        }
        if let Some(n) = m.entries_added {
            out.extend_from_slice(b",\"entries_added\":");
            write_u64(out, n);
        }
        out.extend_from_slice(b",\"groups\":[");
        for (gi, g) in m.groups.iter().enumerate() {
            if gi > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"name\":");
            write_bytes(out, &g.name);
            out.extend_from_slice(b",\"last_delivered_id\":");
            write_id_str(out, g.last_delivered_id);
            if let Some(n) = g.entries_read {
                out.extend_from_slice(b",\"entries_read\":");
                write_i64(out, n);
            }
            let mut owner: BTreeMap<StreamId, &[u8]> = BTreeMap::new();
            for c in &g.consumers {
                for id in &c.pending {
                    owner.insert(*id, &c.name);
                }
            }
            out.extend_from_slice(b",\"pending\":[");
            for (i, p) in g.pending.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.push(b'[');
                write_id_str(out, p.id);
                out.push(b',');
                match owner.get(&p.id) {
                    Some(name) => write_bytes(out, name),
                    None => out.extend_from_slice(b"null"),
                }
                out.push(b',');
                write_u64(out, p.delivery_count);
                out.push(b',');
                write_i64(out, p.delivery_time_ms as i64);
                out.push(b']');
            }
            out.extend_from_slice(b"],\"consumers\":[");
            for (i, c) in g.consumers.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"name\":");
                write_bytes(out, &c.name);
                out.extend_from_slice(b",\"seen_time_ms\":");
                write_i64(out, c.seen_time_ms as i64);
                if let Some(t) = c.active_time_ms {
                    out.extend_from_slice(b",\"active_time_ms\":");
                    write_i64(out, t as i64);
                }
                out.extend_from_slice(b",\"pending\":[");
                for (j, id) in c.pending.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write_id_str(out, *id);
                }
                out.extend_from_slice(b"]}");
            }
            out.push(b']');
            if let Some(ids) = &g.nacked {
                out.extend_from_slice(b",\"nacked\":[");
                for (j, id) in ids.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    write_id_str(out, *id);
                }
                out.push(b']');
            }
            out.push(b'}');
        }
        out.push(b']');
        if let Some(idmp) = &m.idmp {
            out.extend_from_slice(b",\"idmp\":{\"duration\":");
            write_u64(out, idmp.duration);
            out.extend_from_slice(b",\"max_entries\":");
            write_u64(out, idmp.max_entries);
            out.extend_from_slice(b",\"producers\":[");
            for (i, p) in idmp.producers.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"id\":");
                write_bytes(out, &p.id);
                out.extend_from_slice(b",\"entries\":[");
                for (j, (iid, id)) in p.entries.iter().enumerate() {
                    if j > 0 {
                        out.push(b',');
                    }
                    out.push(b'[');
                    write_bytes(out, iid);
                    out.push(b',');
                    write_id_str(out, *id);
                    out.push(b']');
                }
                out.extend_from_slice(b"]}");
            }
            out.extend_from_slice(b"],\"counters\":[");
            write_u64(out, idmp.counters[0]);
            out.push(b',');
            write_u64(out, idmp.counters[1]);
            out.extend_from_slice(b"]}");
        }
        out.push(b'}');
        Ok(())
    }

    fn module(&mut self, value: &ModuleValue<'_>) -> Result<()> {
        write_module(self.out, value);
        Ok(())
    }

    /// `{"count":n,"insert_idx":i|null,"elements":[[index,"value"],...]}`:
    /// only present elements, so a sparse array never grows in JSON.
    fn array_head(&mut self, head: ArrayHead) -> Result<()> {
        self.out.extend_from_slice(b"{\"count\":");
        write_u64(self.out, head.count);
        self.out.extend_from_slice(b",\"insert_idx\":");
        match head.insert_idx {
            Some(i) => write_u64(self.out, i),
            None => self.out.extend_from_slice(b"null"),
        }
        self.out.extend_from_slice(b",\"elements\":[");
        Ok(())
    }

    fn array_element(&mut self, index: u64, value: ArrayElem<'_>) -> Result<()> {
        self.sep();
        self.out.push(b'[');
        write_u64(self.out, index);
        self.out.push(b',');
        match value {
            ArrayElem::Str(e) | ArrayElem::Small(e) => write_elem(self.out, e),
            _ => {
                self.out.push(b'"');
                value.write_text(self.out);
                self.out.push(b'"');
            }
        }
        self.out.push(b']');
        self.flush()
    }
}

/// Does a stream entry repeat a field name? Pairwise for the usual few
/// fields (no allocation); sorted copies in `buf` for many.
fn has_duplicate_field(fields: &[(Elem<'_>, Elem<'_>)], buf: &mut Vec<Vec<u8>>) -> bool {
    if fields.len() <= 32 {
        let (mut x, mut y) = (itoa::Buffer::new(), itoa::Buffer::new());
        for (i, (a, _)) in fields.iter().enumerate() {
            for (b, _) in &fields[i + 1..] {
                if a.as_bytes(&mut x) == b.as_bytes(&mut y) {
                    return true;
                }
            }
        }
        return false;
    }
    buf.clear();
    buf.extend(fields.iter().map(|(f, _)| f.to_vec()));
    buf.sort_unstable();
    buf.windows(2).any(|w| w[0] == w[1])
}

/// Finds whether every hash field name is UTF-8 (for streaming a hash).
struct TextCheck(bool);

impl ValueVisitor for TextCheck {
    fn hash_field(&mut self, field: Elem<'_>, _: Elem<'_>, _: Option<i64>) -> Result<()> {
        self.0 &= elem_is_text(&field);
        Ok(())
    }
}

fn write_id(out: &mut Vec<u8>, id: StreamId) {
    write_u64(out, id.ms);
    out.push(b'-');
    write_u64(out, id.seq);
}

fn write_id_str(out: &mut Vec<u8>, id: StreamId) {
    out.push(b'"');
    write_id(out, id);
    out.push(b'"');
}
