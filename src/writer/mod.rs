//! Writing RDB files: `rdbkit rdb` (filter, merge, convert between versions
//! and dialects, JSON Lines → RDB).
//!
//! Two passes over the inputs, both through [`source::walk`]:
//!
//! 1. **plan**: which keys survive the filters and `--db-map`, which input
//!    wins a key present in several (`--on-conflict`), the key and expire
//!    counts of every output database (for `RESIZEDB`), the functions and
//!    module aux data, and the output format (default: the first input's);
//! 2. **write**: every winning key, copied byte for byte when the output
//!    format knows its type byte, otherwise decoded and re-encoded as a
//!    server of that version would save it ([`crate::rdb::write`]).
//!
//! Keys are remembered (to resolve conflicts) only when there is more than
//! one input or the input is JSON Lines; a single RDB input is streamed with
//! memory independent of its size.

pub mod emit;
pub mod output;
pub mod source;

use std::collections::HashMap;
use std::io::Write;

use serde_json::json;

use crate::filter::Filter;
use crate::load::{printable, OnConflict};
use crate::rdb::elem::RdbStr;
use crate::rdb::records::Record;
use crate::rdb::value::{Dialect, Kind, Scratch};
use crate::rdb::write::{encode, Format, Loss, Value};

use emit::{DbCounts, Emitter};
use source::{Entry, JsonKey};

/// One input: a name for messages and its bytes.
pub struct Input<'a> {
    pub name: String,
    pub data: &'a [u8],
}

/// What to write.
#[derive(Debug, Clone)]
pub struct Options {
    /// Output format; `None`: the first RDB input's own (JSON Lines alone:
    /// RDB 11, which Redis 7.2+ and every Valkey read).
    pub format: Option<Format>,
    /// Version text for the `*-ver` aux field (from `--to`).
    pub server_version: Option<String>,
    /// Name the version aux field `valkey-ver` (a Valkey target).
    pub valkey: bool,
    pub filter: Option<Filter>,
    /// Source database → output database.
    pub db_map: Vec<(u64, u64)>,
    pub on_conflict: OnConflict,
    /// Drop what the output cannot hold (counted) instead of refusing.
    pub lossy: bool,
    pub verify_checksum: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            format: None,
            server_version: None,
            valkey: false,
            filter: None,
            db_map: Vec::new(),
            on_conflict: OnConflict::Panic,
            lossy: false,
            verify_checksum: true,
        }
    }
}

/// How a write ended badly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// `--on-conflict panic` met a key in two inputs (nothing written).
    Conflict(String),
    Failed(String),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Conflict(m) | WriteError::Failed(m) => f.write_str(m),
        }
    }
}

fn failed(e: impl std::fmt::Display) -> WriteError {
    WriteError::Failed(e.to_string())
}

/// Counters of a write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub inputs: u64,
    pub keys_read: u64,
    pub written: u64,
    /// Of those, copied as stored / re-encoded.
    pub copied: u64,
    pub reencoded: u64,
    pub filtered: u64,
    /// Keys met again in a later input (or later in the same one).
    pub conflicts: u64,
    pub rewritten: u64,
    pub ignored: u64,
    /// Empty collections (which servers never save and skip on load).
    pub skipped_empty: u64,
    /// `--lossy`: keys whose type the output has no place for.
    pub dropped_keys: u64,
    /// `--lossy`: hash field TTLs dropped (the fields are kept).
    pub dropped_field_ttls: u64,
    /// `--lossy`: streams written without metadata their type cannot hold.
    pub dropped_stream_fields: u64,
    /// `--lossy`: keys written without their KEY_META (Redis 8.6).
    pub dropped_key_meta: u64,
    pub functions: u64,
    pub dropped_functions: u64,
    pub module_aux: u64,
    pub dropped_module_aux: u64,
    pub bytes_written: u64,
    pub format: String,
}

impl Summary {
    pub fn to_json(&self) -> serde_json::Value {
        json!({
            "inputs": self.inputs,
            "format": self.format,
            "keys_read": self.keys_read,
            "written": self.written,
            "copied": self.copied,
            "reencoded": self.reencoded,
            "filtered": self.filtered,
            "conflicts": self.conflicts,
            "conflicts_by_action": {"rewritten": self.rewritten, "ignored": self.ignored},
            "skipped_empty": self.skipped_empty,
            "lossy": {
                "dropped_keys": self.dropped_keys,
                "dropped_field_ttls": self.dropped_field_ttls,
                "dropped_stream_fields": self.dropped_stream_fields,
                "dropped_key_meta": self.dropped_key_meta,
                "dropped_functions": self.dropped_functions,
                "dropped_module_aux": self.dropped_module_aux,
            },
            "functions": self.functions,
            "module_aux": self.module_aux,
            "bytes_written": self.bytes_written,
        })
    }

    pub fn to_text(&self) -> String {
        let mut s = format!(
            "rdbkit: {} input(s) → {}: {} keys read, {} written ({} copied, {} re-encoded), {} filtered out, {} conflicts ({} rewritten, {} ignored), {} empty skipped, {} functions, {} bytes\n",
            self.inputs, self.format, self.keys_read, self.written, self.copied, self.reencoded,
            self.filtered, self.conflicts, self.rewritten, self.ignored, self.skipped_empty,
            self.functions, self.bytes_written
        );
        let lossy = [
            (self.dropped_keys, "keys"),
            (self.dropped_field_ttls, "hash field TTLs"),
            (self.dropped_stream_fields, "streams' newer metadata"),
            (self.dropped_key_meta, "keys' KEY_META"),
            (self.dropped_functions, "functions"),
            (self.dropped_module_aux, "module aux data"),
        ];
        for (n, what) in lossy.iter().filter(|(n, _)| *n > 0) {
            s.push_str(&format!("rdbkit: --lossy dropped {n} {what}\n"));
        }
        s
    }
}

/// Everything the first pass found.
struct Plan {
    fmt: Format,
    winners: Option<HashMap<(u64, Vec<u8>), (u32, u64)>>,
    counts: DbCounts,
    functions: Vec<Vec<u8>>,
    module_aux: Vec<Vec<u8>>,
    version_text: String,
    valkey: bool,
    used_mem: u64,
}

/// The decisions both passes share.
struct Rules<'o> {
    opts: &'o Options,
}

impl Rules<'_> {
    fn map_db(&self, db: u64) -> u64 {
        self.opts
            .db_map
            .iter()
            .find(|(from, _)| *from == db)
            .map_or(db, |(_, to)| *to)
    }

    /// The output database of a record, or `None` when filtered out.
    fn admit_record(&self, rec: &Record<'_>, scratch: &mut Vec<u8>) -> crate::Result<Option<u64>> {
        match &self.opts.filter {
            Some(f) if !f.matches(rec, scratch)? => Ok(None),
            _ => Ok(Some(self.map_db(rec.db))),
        }
    }

    fn admit_json(&self, k: &JsonKey) -> Option<u64> {
        match &self.opts.filter {
            Some(f)
                if !f.matches_meta(k.db, k.kind, None, k.expire_ms) || !f.matches_key(&k.key) =>
            {
                None
            }
            _ => Some(self.map_db(k.db)),
        }
    }
}

/// Writes one RDB from `inputs` into `out`.
pub fn write_rdb<W: Write>(
    inputs: &[Input<'_>],
    opts: &Options,
    out: W,
) -> Result<(W, Summary), WriteError> {
    if opts.filter.as_ref().is_some_and(|f| f.has_size_bounds())
        && inputs
            .iter()
            .any(|i| source::header_of(i.data).ok().flatten().is_none())
    {
        return Err(failed(
            "--min-bytes/--max-bytes need RDB inputs (JSON Lines has no serialized size)",
        ));
    }
    let mut summary = Summary {
        inputs: inputs.len() as u64,
        ..Default::default()
    };
    let plan = plan(inputs, opts, &mut summary)?;
    summary.format = format_name(plan.fmt);
    let mut em = Emitter::new(out, plan.fmt, plan.counts.clone()).map_err(failed)?;
    preamble(&mut em, &plan, &mut summary);
    for (i, input) in inputs.iter().enumerate() {
        write_input(&mut em, &plan, opts, i as u32, input, &mut summary)?;
    }
    summary.written = em.keys;
    let (w, size) = em.finish().map_err(failed)?;
    summary.bytes_written = size;
    Ok((w, summary))
}

/// `Redis RDB 10`, `Valkey RDB 80`.
pub fn format_name(f: Format) -> String {
    format!("{} RDB {}", f.dialect.name(), f.version)
}

fn plan(inputs: &[Input<'_>], opts: &Options, summary: &mut Summary) -> Result<Plan, WriteError> {
    let rules = Rules { opts };
    let first_header = inputs
        .iter()
        .find_map(|i| source::header_of(i.data).ok().flatten());
    let fmt = match (opts.format, first_header) {
        (Some(f), _) => f,
        (None, Some(h)) => Format::new(h.dialect, h.version).map_err(failed)?,
        (None, None) => Format::new(Dialect::Redis, 11).map_err(failed)?,
    };
    let track = inputs.len() > 1 || first_header.is_none();
    let mut winners: HashMap<(u64, Vec<u8>), (u32, u64)> = HashMap::new();
    let mut expiring: HashMap<(u64, Vec<u8>), bool> = HashMap::new();
    let mut counts = DbCounts::new();
    let mut functions: Vec<Vec<u8>> = Vec::new();
    let mut module_aux = Vec::new();
    let (mut ver, mut valkey, mut used_mem) = (None, false, 0);
    let mut scratch = Vec::new();
    for (i, input) in inputs.iter().enumerate() {
        let in_fmt = source::header_of(input.data)
            .map_err(|e| failed(source::in_file(&input.name, e)))?
            .and_then(|h| Format::new(h.dialect, h.version).ok());
        let r = source::walk(input.data, opts.verify_checksum, |e| {
            let (db, key, offset, expires) = match e {
                Entry::Record(rec) => {
                    let Some(db) = rules.admit_record(&rec, &mut scratch)? else {
                        return Ok(());
                    };
                    let key = if track { rec.key.to_vec()? } else { Vec::new() };
                    (db, key, rec.offset, rec.expire_ms.is_some())
                }
                Entry::Json(k) => {
                    let Some(db) = rules.admit_json(&k) else {
                        return Ok(());
                    };
                    (db, k.key, k.offset, k.expire_ms.is_some())
                }
                Entry::Function(code) => {
                    add_function(&mut functions, code, opts.on_conflict, &input.name).map_err(
                        |m| {
                            crate::Error::new(
                                0,
                                crate::ErrorKind::Invalid {
                                    what: "function",
                                    detail: m,
                                },
                            )
                        },
                    )?;
                    return Ok(());
                }
                Entry::ModuleAux(m) => {
                    module_aux.push(m.raw.to_vec());
                    return Ok(());
                }
                Entry::Aux(k, v) => {
                    if i == 0 && in_fmt == Some(fmt) {
                        match &k[..] {
                            b"redis-ver" | b"valkey-ver" => {
                                valkey = &k[..] == b"valkey-ver";
                                ver = Some(String::from_utf8_lossy(&v).into_owned());
                            }
                            b"used-mem" => {
                                used_mem = std::str::from_utf8(&v)
                                    .ok()
                                    .and_then(|t| t.parse().ok())
                                    .unwrap_or(0)
                            }
                            _ => {}
                        }
                    }
                    return Ok(());
                }
            };
            if !track {
                let c = counts.entry(db).or_default();
                c.0 += 1;
                c.1 += expires as u64;
                return Ok(());
            }
            let id = (db, key);
            match winners.get(&id).copied() {
                None => {
                    expiring.insert(id.clone(), expires);
                    winners.insert(id, (i as u32, offset));
                }
                Some(_) => {
                    summary.conflicts += 1;
                    match opts.on_conflict {
                        OnConflict::Panic => {
                            return Err(crate::Error::new(offset, crate::ErrorKind::Invalid {
                                what: "key",
                                detail: format!("CONFLICT {} (db {}) is in more than one input; --on-conflict rewrite (the later wins) or ignore (the first wins)", printable(&id.1), id.0),
                            }));
                        }
                        OnConflict::Rewrite => {
                            summary.rewritten += 1;
                            expiring.insert(id.clone(), expires);
                            winners.insert(id, (i as u32, offset));
                        }
                        OnConflict::Ignore => summary.ignored += 1,
                    }
                }
            }
            Ok(())
        });
        if let Err(e) = r {
            let msg = source::in_file(&input.name, e);
            return Err(if msg.contains("CONFLICT ") {
                WriteError::Conflict(msg.replacen("CONFLICT ", "key ", 1))
            } else {
                failed(msg)
            });
        }
    }
    if track {
        for ((db, _), e) in &expiring {
            let c = counts.entry(*db).or_default();
            c.0 += 1;
            c.1 += *e as u64;
        }
    }
    let version_text = opts
        .server_version
        .clone()
        .or(ver)
        .unwrap_or_else(|| emit::default_version_text(fmt).to_string());
    Ok(Plan {
        fmt,
        winners: track.then_some(winners),
        counts,
        functions,
        module_aux,
        version_text,
        valkey: opts.valkey || valkey || fmt.dialect == Dialect::Valkey,
        used_mem,
    })
}

/// Adds a library unless the same code is there; a different library of
/// the same name follows the conflict policy.
fn add_function(
    fns: &mut Vec<Vec<u8>>,
    code: Vec<u8>,
    policy: OnConflict,
    input: &str,
) -> Result<(), String> {
    if fns.contains(&code) {
        return Ok(());
    }
    let name = source::library_name(&code).map(<[u8]>::to_vec);
    let same = fns
        .iter()
        .position(|c| name.is_some() && source::library_name(c).map(<[u8]>::to_vec) == name);
    match (same, policy) {
        (None, _) => fns.push(code),
        (Some(_), OnConflict::Panic) => {
            return Err(format!(
                "CONFLICT function library {} of {input} differs from one of an earlier input",
                printable(name.as_deref().unwrap_or_default())
            ))
        }
        (Some(i), OnConflict::Rewrite) => fns[i] = code,
        (Some(_), OnConflict::Ignore) => {}
    }
    Ok(())
}

fn preamble<W: Write>(em: &mut Emitter<W>, plan: &Plan, summary: &mut Summary) {
    let ctime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for (k, v) in plan
        .fmt
        .aux_fields(&plan.version_text, plan.valkey, ctime, plan.used_mem)
    {
        em.aux(&k, &v);
    }
    if plan.fmt.has_modules() {
        for m in &plan.module_aux {
            em.module_aux(m);
            summary.module_aux += 1;
        }
    } else {
        summary.dropped_module_aux += plan.module_aux.len() as u64;
    }
    if plan.fmt.has_functions() {
        for f in &plan.functions {
            em.function(f);
            summary.functions += 1;
        }
    } else {
        summary.dropped_functions += plan.functions.len() as u64;
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

fn write_input<W: Write>(
    em: &mut Emitter<W>,
    plan: &Plan,
    opts: &Options,
    i: u32,
    input: &Input<'_>,
    summary: &mut Summary,
) -> Result<(), WriteError> {
    let rules = Rules { opts };
    let dialect = source::header_of(input.data)
        .map_err(|e| failed(source::in_file(&input.name, e)))?
        .map_or(Dialect::Redis, |h| h.dialect);
    let mut scratch = Vec::new();
    let mut dec = Scratch::default();
    let mut lossy_error: Option<WriteError> = None;
    let r = source::walk(input.data, false, |e| {
        let io = |e: std::io::Error| {
            crate::Error::new(
                0,
                crate::ErrorKind::Invalid {
                    what: "output",
                    detail: e.to_string(),
                },
            )
        };
        match e {
            Entry::Record(rec) => {
                summary.keys_read += 1;
                let Some(db) = rules.admit_record(&rec, &mut scratch)? else {
                    summary.filtered += 1;
                    return Ok(());
                };
                if let Some(w) = &plan.winners {
                    if w.get(&(db, rec.key.to_vec()?)) != Some(&(i, rec.offset)) {
                        return Ok(());
                    }
                }
                match record(
                    em, plan.fmt, dialect, db, &rec, &mut dec, opts.lossy, summary,
                ) {
                    Ok(()) => Ok(()),
                    Err(Refusal::Format(e)) => Err(e),
                    Err(Refusal::Io(e)) => Err(io(e)),
                    Err(Refusal::Loss(l)) => {
                        lossy_error = Some(failed(format!(
                            "{}: the output ({}) cannot hold {l}; --lossy drops it and counts it",
                            key_ctx(&input.name, rec.db, &rec.key, rec.offset),
                            format_name(plan.fmt)
                        )));
                        Err(io(std::io::Error::other("refused")))
                    }
                }
            }
            Entry::Json(k) => {
                summary.keys_read += 1;
                let Some(db) = rules.admit_json(&k) else {
                    summary.filtered += 1;
                    return Ok(());
                };
                if let Some(w) = &plan.winners {
                    if w.get(&(db, k.key.clone())) != Some(&(i, k.offset)) {
                        return Ok(());
                    }
                }
                match json_key(em, plan.fmt, db, &k, opts.lossy, summary) {
                    Ok(()) => Ok(()),
                    Err(Refusal::Format(e)) => Err(e),
                    Err(Refusal::Io(e)) => Err(io(e)),
                    Err(Refusal::Loss(l)) => {
                        lossy_error = Some(failed(format!(
                            "{}: the output ({}) cannot hold {l}; --lossy drops it and counts it",
                            key_ctx(&input.name, k.db, &RdbStr::Raw(&k.key), k.offset),
                            format_name(plan.fmt)
                        )));
                        Err(io(std::io::Error::other("refused")))
                    }
                }
            }
            Entry::Function(_) | Entry::ModuleAux(_) | Entry::Aux(..) => Ok(()),
        }
    });
    match (r, lossy_error) {
        (_, Some(e)) => Err(e),
        (Err(e), None) => Err(failed(source::in_file(&input.name, e))),
        (Ok(()), None) => Ok(()),
    }
}

/// Why a key was not written.
enum Refusal {
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

/// Counts a loss under `--lossy`, or refuses.
fn accept(loss: &Loss, lossy: bool, summary: &mut Summary) -> Result<(), Refusal> {
    if !lossy {
        return Err(Refusal::Loss(loss.clone()));
    }
    match loss {
        Loss::Key(_) => summary.dropped_keys += 1,
        Loss::FieldTtls(n) => summary.dropped_field_ttls += n,
        Loss::StreamFields(_) => summary.dropped_stream_fields += 1,
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn record<W: Write>(
    em: &mut Emitter<W>,
    fmt: Format,
    dialect: Dialect,
    db: u64,
    rec: &Record<'_>,
    dec: &mut Scratch,
    lossy: bool,
    summary: &mut Summary,
) -> Result<(), Refusal> {
    let keep_meta = fmt.has_key_meta();
    if rec.key_meta.is_some() && !keep_meta {
        if !lossy {
            return Err(Refusal::Loss(Loss::Key(
                "its key metadata (KEY_META, Redis 8.6+)".into(),
            )));
        }
        summary.dropped_key_meta += 1;
    }
    if fmt.accepts_type(rec.type_byte, dialect) {
        em.copy(db, rec, keep_meta)?;
        summary.copied += 1;
        return Ok(());
    }
    if rec.vtype.kind() == Kind::Module {
        accept(
            &Loss::Key("a module value (RDB 8, Redis 4.0+)".into()),
            lossy,
            summary,
        )?;
        return Ok(());
    }
    let mut v = Value::empty(rec.vtype.kind());
    rec.decode(dec, &mut v)?;
    write_value(
        em,
        fmt,
        db,
        &rec.key,
        rec.expire_ms,
        (rec.idle, rec.freq),
        &v,
        lossy,
        summary,
    )
}

#[allow(clippy::too_many_arguments)]
fn write_value<W: Write>(
    em: &mut Emitter<W>,
    fmt: Format,
    db: u64,
    key: &RdbStr<'_>,
    expire_ms: Option<i64>,
    lru: (Option<u64>, Option<u8>),
    v: &Value,
    lossy: bool,
    summary: &mut Summary,
) -> Result<(), Refusal> {
    if v.is_empty_collection() {
        summary.skipped_empty += 1;
        return Ok(());
    }
    match encode(v, fmt) {
        Err(loss) => accept(&loss, lossy, summary),
        Ok(enc) => {
            for l in &enc.losses {
                accept(l, lossy, summary)?;
            }
            em.encoded(db, key, expire_ms, lru, &enc)?;
            summary.reencoded += 1;
            Ok(())
        }
    }
}

fn json_key<W: Write>(
    em: &mut Emitter<W>,
    fmt: Format,
    db: u64,
    k: &JsonKey,
    lossy: bool,
    summary: &mut Summary,
) -> Result<(), Refusal> {
    if k.kind == Kind::Module {
        return accept(
            &Loss::Key("a module value (JSON Lines hold no module encoding)".into()),
            lossy,
            summary,
        );
    }
    let v = k.to_value()?;
    write_value(
        em,
        fmt,
        db,
        &RdbStr::Raw(&k.key),
        k.expire_ms,
        (None, None),
        &v,
        lossy,
        summary,
    )
}
