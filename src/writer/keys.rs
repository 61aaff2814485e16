//! The second pass over one input: every winning key written, copied as
//! stored when the output knows its type byte, else decoded and re-encoded;
//! what the output cannot hold is refused with the key named, or (lossy)
//! dropped and counted.

use std::io::Write;

use crate::rdb::consts::RDB_TYPE_LIST_QUICKLIST;
use crate::rdb::elem::RdbStr;
use crate::rdb::empty::is_empty_collection;
use crate::rdb::records::Record;
use crate::rdb::records::StoredValue;
use crate::rdb::value::{Dialect, Discard, Kind, Scratch, Value};
use crate::rdb::write::{direct, encode, validate, Encoded, Format, Loss};
use crate::restore::printable;

use super::emit::{put_head, Emitter};
use super::plan::{Plan, Rules};
use super::route::Route;
use super::source::{self, Entry, JsonKey};
use super::{failed, format_name, in_file, out_err, Input, Options, Summary, WriteError};

/// Why a key was not written.
pub(crate) enum Refusal {
    Format(crate::Error),
    Io(std::io::Error),
    /// What the output cannot hold (without `--lossy`).
    Loss(Loss),
}

impl From<crate::Error> for Refusal {
    fn from(e: crate::Error) -> Self {
        Refusal::Format(e)
    }
}

impl From<std::io::Error> for Refusal {
    fn from(e: std::io::Error) -> Self {
        Refusal::Io(e)
    }
}

/// A key being re-encoded: where it goes and what comes with it.
pub(crate) struct KeyAt<'k> {
    pub db: u64,
    pub key: &'k RdbStr<'k>,
    pub expire_ms: Option<i64>,
    pub lru: (Option<u64>, Option<u8>),
    /// Input offset of its value (JSON: of its line), for errors.
    pub offset: u64,
}

/// Where written keys go: the output files themselves (one thread), or a
/// chunk's buffers (a worker of the parallel engine, see [`super::chunked`]).
pub(crate) trait KeySink {
    /// A record as stored (see [`Emitter::copy`]).
    fn copy(
        &mut self,
        out: usize,
        db: u64,
        rec: &Record<'_>,
        keep_meta: bool,
    ) -> std::io::Result<()>;
    /// A re-encoded value (see [`Emitter::encoded`]).
    fn encoded(&mut self, out: usize, at: &KeyAt<'_>, enc: &Encoded) -> std::io::Result<()>;
    /// A function library (single-pass writes: where the input has it).
    fn function(&mut self, code: &[u8]);
    /// Module aux data (single-pass writes: where the input has it).
    fn module_aux(&mut self, raw: &[u8]);
    /// The input's RESIZEDB hint (single-pass writes without a filter).
    fn hint(&mut self, db: u64, keys: u64, expires: u64);
    /// A list too big to be built in memory, written node by node (see
    /// [`Emitter::list_by_nodes`]); `head`: its prefix, type and key.
    fn list_by_nodes(
        &mut self,
        out: usize,
        db: u64,
        head: Vec<u8>,
        v: &StoredValue<'_>,
        nodes: u64,
    ) -> Result<(), Refusal>;
}

impl<W: Write> KeySink for [Emitter<W>] {
    fn copy(
        &mut self,
        out: usize,
        db: u64,
        rec: &Record<'_>,
        keep_meta: bool,
    ) -> std::io::Result<()> {
        self[out].copy(db, rec, keep_meta)
    }
    fn encoded(&mut self, out: usize, at: &KeyAt<'_>, enc: &Encoded) -> std::io::Result<()> {
        self[out].encoded(at.db, at.key, at.expire_ms, at.lru, enc)
    }
    fn function(&mut self, code: &[u8]) {
        self[0].function(code)
    }
    fn module_aux(&mut self, raw: &[u8]) {
        self[0].module_aux(raw)
    }
    fn hint(&mut self, db: u64, keys: u64, expires: u64) {
        self[0].hint(db, keys, expires)
    }
    fn list_by_nodes(
        &mut self,
        out: usize,
        db: u64,
        head: Vec<u8>,
        v: &StoredValue<'_>,
        nodes: u64,
    ) -> Result<(), Refusal> {
        self[out].list_by_nodes(db, &head, v, nodes)
    }
}

/// Writes keys of one input into one output.
pub(crate) struct KeyWriter<'a, S: KeySink + ?Sized> {
    /// The outputs, all of one format.
    pub ems: &'a mut S,
    fmt: Format,
    pub summary: &'a mut Summary,
    pub lossy: bool,
    pub now_ms: i64,
    /// See [`Options::stream_values_above`].
    stream_values_above: u64,
    /// The input's dialect (what its type bytes mean).
    pub dialect: Dialect,
    dec: Scratch,
}

impl<'a, S: KeySink + ?Sized> KeyWriter<'a, S> {
    pub fn new(
        ems: &'a mut S,
        fmt: Format,
        summary: &'a mut Summary,
        opts: &Options,
        dialect: Dialect,
    ) -> Self {
        KeyWriter {
            ems,
            fmt,
            summary,
            lossy: opts.lossy,
            now_ms: opts.now_ms,
            stream_values_above: opts.stream_values_above,
            dialect,
            dec: Scratch::default(),
        }
    }

    fn fmt(&self) -> Format {
        self.fmt
    }

    /// Counts a loss under `--lossy`, or refuses.
    fn accept(&mut self, loss: &Loss) -> Result<(), Refusal> {
        if !self.lossy {
            return Err(Refusal::Loss(loss.clone()));
        }
        match loss {
            Loss::Key(_) => self.summary.dropped_keys += 1,
            Loss::FieldTtls(n) => self.summary.dropped_field_ttls += n,
            Loss::StreamFields(_) => self.summary.dropped_stream_fields += 1,
        }
        Ok(())
    }

    /// A function library met in a single-pass write.
    fn function(&mut self, code: &[u8]) -> Result<(), Refusal> {
        if !self.fmt().has_functions() {
            self.summary.dropped_functions += 1;
            return self.accept_part("function libraries (RDB 10, Redis 7.0+)");
        }
        self.ems.function(code);
        self.summary.functions += 1;
        Ok(())
    }

    /// Module aux data met in a single-pass write.
    fn module_aux(&mut self, raw: &[u8]) -> Result<(), Refusal> {
        if !self.fmt().has_modules() {
            self.summary.dropped_module_aux += 1;
            return self.accept_part("module aux data (RDB 8, Redis 4.0+)");
        }
        self.ems.module_aux(raw);
        self.summary.module_aux += 1;
        Ok(())
    }

    /// A part of the file (not a key) the output cannot hold: counted by
    /// the caller under `--lossy`, refused otherwise.
    fn accept_part(&mut self, what: &str) -> Result<(), Refusal> {
        if self.lossy {
            Ok(())
        } else {
            Err(Refusal::Loss(Loss::Key(what.to_string())))
        }
    }

    fn record(&mut self, out: usize, db: u64, rec: &Record<'_>) -> Result<(), Refusal> {
        let keep_meta = self.fmt().has_key_meta();
        if rec.key_meta.is_some() && !keep_meta {
            if !self.lossy {
                return Err(Refusal::Loss(Loss::Key(
                    "its key metadata (KEY_META, Redis 8.6+)".into(),
                )));
            }
            self.summary.dropped_key_meta += 1;
        }
        if self.fmt().accepts_type(rec.type_byte, self.dialect) {
            if is_empty_collection(rec.vtype, rec.value) {
                self.summary.skipped_empty += 1;
                return Ok(());
            }
            self.ems.copy(out, db, rec, keep_meta)?;
            self.summary.copied += 1;
            return Ok(());
        }
        if rec.vtype.kind() == Kind::Module {
            return self.accept(&Loss::Key("a module value (RDB 8, Redis 4.0+)".into()));
        }
        if rec.vtype.kind() == Kind::Array {
            // No output written here holds one: the value is still read
            // through (damage is an error, as for any key), not collected.
            rec.decode(&mut self.dec, &mut Discard)?;
            return self.accept(&Loss::array());
        }
        let at = KeyAt {
            db,
            key: &rec.key,
            expire_ms: rec.expire_ms,
            lru: (rec.idle, rec.freq),
            offset: rec.value_offset,
        };
        if self.list_by_nodes(out, rec, &at)? {
            self.summary.reencoded += 1;
            return Ok(());
        }
        if let Some(enc) = direct::listpack_to_ziplist(rec, self.fmt(), &mut self.dec)? {
            self.ems.encoded(out, &at, &enc)?;
            self.summary.reencoded += 1;
            return Ok(());
        }
        let mut v = Value::empty(rec.vtype.kind());
        rec.decode(&mut self.dec, &mut v)?;
        self.value(out, &at, v)
    }

    /// Hands `rec` to the sink to be written node by node when it is a list
    /// too big to build ([`Options::stream_values_above`]) that the output
    /// holds as a quicklist; `false`: not such a list.
    fn list_by_nodes(
        &mut self,
        out: usize,
        rec: &Record<'_>,
        at: &KeyAt<'_>,
    ) -> Result<bool, Refusal> {
        if rec.value.len() as u64 <= self.stream_values_above {
            return Ok(false);
        }
        let v = rec.stored();
        let Some(nodes) = direct::list_nodes(&v, self.fmt(), &mut self.dec)? else {
            return Ok(false);
        };
        let mut head = Vec::new();
        let t = RDB_TYPE_LIST_QUICKLIST;
        put_head(&mut head, self.fmt(), at.key, at.expire_ms, at.lru, t);
        self.ems.list_by_nodes(out, at.db, head, &v, nodes)?;
        Ok(true)
    }

    fn json(&mut self, out: usize, db: u64, k: &JsonKey) -> Result<(), Refusal> {
        if k.kind == Kind::Module {
            return self.accept(&Loss::Key(
                "a module value (JSON Lines hold no module encoding)".into(),
            ));
        }
        let v = k.to_value()?;
        let key = RdbStr::Raw(&k.key);
        let at = KeyAt {
            db,
            key: &key,
            expire_ms: k.expire_ms,
            lru: (k.idle, k.freq),
            offset: k.offset,
        };
        self.value(out, &at, v)
    }

    fn value(&mut self, out: usize, at: &KeyAt<'_>, mut v: Value) -> Result<(), Refusal> {
        validate(&v).map_err(|m| crate::Error::invalid(at.offset, "value", m))?;
        if let (Value::Hash(fields), false) = (&mut v, self.fmt().has_field_ttl()) {
            // Without their TTLs, fields already past it would live again.
            let before = fields.len();
            let now = self.now_ms;
            fields.retain(|f| f.2.is_none_or(|t| t > now));
            self.summary.expired_fields += (before - fields.len()) as u64;
        }
        if v.is_empty_collection() {
            self.summary.skipped_empty += 1;
            return Ok(());
        }
        match encode(&v, self.fmt()) {
            Err(loss) => self.accept(&loss),
            Ok(enc) => {
                for l in &enc.losses {
                    self.accept(l)?;
                }
                self.ems.encoded(out, at, &enc)?;
                self.summary.reencoded += 1;
                Ok(())
            }
        }
    }
}

/// Names a key in messages.
fn key_ctx(input: &str, db: u64, key: &RdbStr<'_>, offset: u64) -> String {
    let k = key.to_vec().unwrap_or_default();
    format!(
        "{input}: key {} (db {db}, byte offset {offset})",
        printable(&k)
    )
}

/// The second pass's decisions on the entries of one input, shared by the
/// one-thread walk ([`write_input`]) and the parallel engine's workers.
pub(crate) struct InputPass<'p> {
    pub plan: &'p Plan,
    pub route: &'p Route,
    pub opts: &'p Options,
    /// The input's index and name.
    pub i: u32,
    pub name: &'p str,
    need_key: bool,
    scratch: Vec<u8>,
    /// Why the walk stopped, when not for a format error of the input.
    pub stop: Option<WriteError>,
}

impl<'p> InputPass<'p> {
    pub fn new(plan: &'p Plan, route: &'p Route, opts: &'p Options, i: u32, name: &'p str) -> Self {
        InputPass {
            plan,
            route,
            opts,
            i,
            name,
            need_key: plan.winners.is_some() || route.needs_key(),
            scratch: Vec::new(),
            stop: None,
        }
    }

    fn refused(&self, l: Loss, ctx: String) -> WriteError {
        failed(format!(
            "{ctx}: the output ({}) cannot hold {l}; --lossy drops it and counts it",
            format_name(self.plan.fmt)
        ))
    }

    /// Writes one entry through `kw`. An `Err` ends the walk: a format
    /// error of the input, or a marker with the reason in [`Self::stop`].
    pub fn entry<S: KeySink + ?Sized>(
        &mut self,
        kw: &mut KeyWriter<'_, S>,
        e: Entry<'_>,
    ) -> crate::Result<()> {
        let rules = Rules { opts: self.opts };
        let (plan, route) = (self.plan, self.route);
        let (r, ctx) = match e {
            Entry::Record(rec) => {
                kw.summary.keys_read += 1;
                let Some(db) = rules.admit_record(&rec, &mut self.scratch)? else {
                    kw.summary.filtered += 1;
                    return Ok(());
                };
                // The key's bytes only when a conflict or a route needs them.
                let out = if self.need_key {
                    let key = rec.key.bytes(&mut self.scratch)?;
                    if !plan.wins(db, key, self.i, rec.offset) {
                        return Ok(());
                    }
                    route.route(db, key).unwrap_or(0)
                } else {
                    // Routes that need no key (one output, by db); pass 1
                    // already refused keys without a route.
                    route.route(db, &[]).unwrap_or(0)
                };
                let r = kw.record(out, db, &rec);
                let ctx = r
                    .is_err()
                    .then(|| key_ctx(self.name, rec.db, &rec.key, rec.offset));
                (r, ctx)
            }
            Entry::Json(k) => {
                kw.summary.keys_read += 1;
                let Some(db) = rules.admit_json(&k) else {
                    kw.summary.filtered += 1;
                    return Ok(());
                };
                if !plan.wins(db, &k.key, self.i, k.offset) {
                    return Ok(());
                }
                let out = route.route(db, &k.key).unwrap_or(0);
                let r = kw.json(out, db, &k);
                let ctx = r
                    .is_err()
                    .then(|| key_ctx(self.name, k.db, &RdbStr::Raw(&k.key), k.offset));
                (r, ctx)
            }
            Entry::Function(code) if plan.streaming => {
                (kw.function(&code), Some(self.name.to_string()))
            }
            Entry::ModuleAux(m) if plan.streaming => {
                (kw.module_aux(m.raw), Some(self.name.to_string()))
            }
            Entry::ResizeDb { db, keys, expires }
                if plan.streaming
                    && self.opts.filter.is_none()
                    && self.opts.db_counts.is_none() =>
            {
                kw.ems.hint(db, keys, expires);
                return Ok(());
            }
            Entry::Function(_) | Entry::ModuleAux(_) | Entry::Aux(..) | Entry::ResizeDb { .. } => {
                return Ok(())
            }
        };
        match r {
            Ok(()) => Ok(()),
            Err(Refusal::Format(e)) => Err(e),
            Err(Refusal::Io(e)) => {
                self.stop = Some(out_err(Some("writing the output"))(e));
                Err(crate::Error::new(0, crate::ErrorKind::NotRdb))
            }
            Err(Refusal::Loss(l)) => {
                self.stop = Some(self.refused(l, ctx.unwrap_or_default()));
                Err(crate::Error::new(0, crate::ErrorKind::NotRdb))
            }
        }
    }

    /// The outcome of a walk that used [`Self::entry`].
    pub fn finish(self, r: crate::Result<()>) -> Result<(), WriteError> {
        match (r, self.stop) {
            (_, Some(e)) => Err(e),
            (Err(e), None) => Err(in_file(self.name, e)),
            (Ok(()), None) => Ok(()),
        }
    }
}

/// The second pass over input `i`, on this thread: its winning keys into
/// `ems` (JSON Lines inputs; RDB inputs go through [`super::chunked`]).
pub(crate) fn write_input<W: Write>(
    ems: &mut [Emitter<W>],
    plan: &Plan,
    route: &Route,
    opts: &Options,
    i: u32,
    input: &Input<'_>,
    summary: &mut Summary,
) -> Result<(), WriteError> {
    let dialect = source::header_of(input.data)
        .map_err(|e| in_file(&input.name, e))?
        .map_or(Dialect::Redis, |h| h.dialect);
    let mut kw = KeyWriter::new(ems, plan.fmt, summary, opts, dialect);
    let mut pass = InputPass::new(plan, route, opts, i, &input.name);
    // A single pass verifies the checksum; otherwise the first pass did.
    let verify = plan.streaming && opts.verify_checksum;
    let r = source::walk(input.data, verify, |e| pass.entry(&mut kw, e));
    pass.finish(r)
}
