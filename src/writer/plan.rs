//! The first pass: which keys survive (filters, `--db-map`), which input
//! wins a key present more than once (`--on-conflict`), how many keys and
//! expires each output database gets (the `RESIZEDB` hint), the functions
//! and module aux data, and the output format and version aux field.

use std::collections::HashMap;
use std::sync::Arc;

use crate::rdb::records::Record;
use crate::rdb::value::Dialect;
use crate::rdb::write::Format;
use crate::restore::{printable, OnConflict};
use crate::scan::Grid;

use super::emit::{self, DbCounts};
use super::route::Route;
use super::source::{self, Entry, JsonKey};
use super::{failed, in_file, Input, Options, Summary, WriteError};

/// (output db, key) → (input index, record offset) of the copy written.
pub(crate) type Winners = HashMap<(u64, Vec<u8>), (u32, u64)>;

/// Everything the first pass found.
pub(crate) struct Plan {
    pub fmt: Format,
    pub winners: Option<Winners>,
    /// Per output file, its databases' key and expire counts.
    pub counts: Vec<DbCounts>,
    pub functions: Vec<Vec<u8>>,
    pub module_aux: Vec<Vec<u8>>,
    /// Keys and expires per cluster slot, for `RDB_OPCODE_SLOT_INFO`
    /// (empty unless a cluster layout is written at RDB 12+).
    pub slot_counts: Vec<(u64, u64)>,
    pub version_text: String,
    pub valkey: bool,
    pub used_mem: u64,
    /// One pass only (see [`streaming`]): functions, module aux data and
    /// the input's RESIZEDB hints are written where the input has them.
    pub streaming: bool,
    /// Per input (by index), the chunks pass 1 cut an RDB input into, for
    /// pass 2 to reuse instead of walking the boundaries again.
    pub grids: Vec<Option<Arc<Grid>>>,
}

impl Plan {
    /// A plan of one output with nothing found yet but the format and the
    /// first input's aux fields.
    fn bare(fmt: Format, first: FirstAux, opts: &Options) -> Plan {
        Plan {
            fmt,
            winners: None,
            counts: vec![DbCounts::new()],
            functions: Vec::new(),
            module_aux: Vec::new(),
            slot_counts: Vec::new(),
            version_text: opts
                .server_version
                .clone()
                .or(first.ver)
                .unwrap_or_else(|| emit::default_version_text(fmt).to_string()),
            valkey: opts.valkey || first.valkey || fmt.dialect == Dialect::Valkey,
            used_mem: first.used_mem,
            streaming: false,
            grids: Vec::new(),
        }
    }

    /// Whether the key `(db, key())` at `offset` of input `i` is the one
    /// written (always, when keys are not tracked).
    pub fn wins(&self, db: u64, key: &[u8], i: u32, offset: u64) -> bool {
        match &self.winners {
            None => true,
            Some(w) => w.get(&(db, key.to_vec())) == Some(&(i, offset)),
        }
    }
}

/// The decisions both passes share.
pub(crate) struct Rules<'o> {
    pub opts: &'o Options,
}

impl Rules<'_> {
    pub(crate) fn map_db(&self, db: u64) -> u64 {
        self.opts
            .db_map
            .iter()
            .find(|(from, _)| *from == db)
            .map_or(db, |(_, to)| *to)
    }

    /// The output database of a record, or `None` when filtered out.
    pub(crate) fn admit_record(
        &self,
        rec: &Record<'_>,
        scratch: &mut Vec<u8>,
    ) -> crate::Result<Option<u64>> {
        match &self.opts.filter {
            Some(f) if !f.matches(rec, scratch)? => Ok(None),
            _ => Ok(Some(self.map_db(rec.db))),
        }
    }

    pub(crate) fn admit_json(&self, k: &JsonKey) -> Option<u64> {
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

/// What stops a walk of pass 1.
struct Stop(WriteError);

fn stop_err(s: &mut Option<Stop>, e: WriteError) -> crate::Error {
    *s = Some(Stop(e));
    // Only a marker: the walk ends, and `stop` is what is reported.
    crate::Error::new(0, crate::ErrorKind::NotRdb)
}

/// The output format: the one asked for, else the first RDB input's (RDB
/// 1-5 become RDB 6, the oldest written: Redis 2.6+ reads every older
/// encoding), else (JSON Lines only) RDB 11.
fn output_format(inputs: &[Input<'_>], opts: &Options) -> Result<Format, WriteError> {
    let first = inputs
        .iter()
        .find_map(|i| source::header_of(i.data).ok().flatten());
    match (opts.format, first) {
        (Some(f), _) => Ok(f),
        (None, Some(h)) => {
            let v = h.version.max(crate::rdb::write::format::MIN_VERSION);
            Format::new(h.dialect, v).map_err(failed)
        }
        (None, None) => Format::new(Dialect::Redis, 11).map_err(failed),
    }
}

/// The version aux fields of the first input, when it has the output's
/// format: (version text, named valkey-ver, used-mem).
#[derive(Default)]
struct FirstAux {
    ver: Option<String>,
    valkey: bool,
    used_mem: u64,
}

impl FirstAux {
    fn note(&mut self, k: &[u8], v: &[u8]) {
        match k {
            b"redis-ver" | b"valkey-ver" => {
                self.valkey = k == b"valkey-ver";
                self.ver = Some(String::from_utf8_lossy(v).into_owned());
            }
            b"used-mem" => {
                self.used_mem = std::str::from_utf8(v)
                    .ok()
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(0)
            }
            _ => {}
        }
    }
}

/// Pass 1 over every input; `route` sends each kept key to an output. An
/// RDB input is read on the parallel engine (workers filter, read keys and
/// route them: [`super::plan_scan`]); JSON Lines on this thread. Both feed
/// one [`Tally`] in file order, so the outcome does not depend on which.
pub(crate) fn plan(
    inputs: &[Input<'_>],
    opts: &Options,
    route: &Route,
    summary: &mut Summary,
) -> Result<Plan, WriteError> {
    let fmt = output_format(inputs, opts)?;
    let mut t = Tally::new(opts, needs_tracking(inputs, opts), route.outputs());
    if route.slot_owners().is_some() && fmt.has_slot_info() {
        t.slots = vec![(0, 0); super::route::SLOTS];
    }
    let mut grids = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.iter().enumerate() {
        let head = source::header_of(input.data).map_err(|e| in_file(&input.name, e))?;
        let in_fmt = head.and_then(|h| Format::new(h.dialect, h.version).ok());
        let at = InputAt {
            i: i as u32,
            name: &input.name,
            own_aux: i == 0 && in_fmt == Some(fmt),
        };
        if head.is_some() {
            let grid = super::plan_scan::plan_input(&mut t, route, &at, input, summary)?;
            grids.push(Some(Arc::new(grid)));
        } else {
            plan_json(&mut t, route, &at, input, summary)?;
            grids.push(None);
        }
    }
    Ok(Plan {
        grids,
        ..t.into_plan(fmt, opts)
    })
}

/// Which input is being read.
pub(crate) struct InputAt<'n> {
    pub i: u32,
    pub name: &'n str,
    /// Its aux fields give the version text (the first input, when it has
    /// the output's format).
    pub own_aux: bool,
}

/// A key kept by the filters, routed to its output.
pub(crate) struct Kept {
    pub db: u64,
    /// Its bytes, when keys are tracked (empty otherwise).
    pub key: Vec<u8>,
    pub offset: u64,
    pub expires: bool,
    pub out: usize,
    /// Its cluster slot (a cluster layout).
    pub slot: Option<u16>,
}

/// Of a winning key: whether it expires, its output, its slot.
type Dest = (bool, usize, Option<u16>);

/// What pass 1 has found so far.
pub(crate) struct Tally<'o> {
    opts: &'o Options,
    /// Keys are remembered (see [`needs_tracking`]).
    pub track: bool,
    winners: Winners,
    /// Of each winner: whether it expires, its output and slot.
    dest: HashMap<(u64, Vec<u8>), Dest>,
    pub counts: Vec<DbCounts>,
    /// Keys and expires per slot, when SLOT_INFO is written (else empty).
    pub slots: Vec<(u64, u64)>,
    functions: Vec<Vec<u8>>,
    module_aux: Vec<Vec<u8>>,
    first: FirstAux,
}

impl<'o> Tally<'o> {
    fn new(opts: &'o Options, track: bool, outputs: usize) -> Self {
        Tally {
            opts,
            track,
            winners: Winners::new(),
            dest: HashMap::new(),
            counts: vec![DbCounts::new(); outputs],
            slots: Vec::new(),
            functions: Vec::new(),
            module_aux: Vec::new(),
            first: FirstAux::default(),
        }
    }

    /// A kept key, in file order: counted, or (tracked) its winner decided
    /// by `--on-conflict`.
    pub fn key(
        &mut self,
        at: &InputAt<'_>,
        k: Kept,
        summary: &mut Summary,
    ) -> Result<(), WriteError> {
        if !self.track {
            let c = self.counts[k.out].entry(k.db).or_default();
            c.0 += 1;
            c.1 += k.expires as u64;
            self.slot_key(k.slot, k.expires);
            return Ok(());
        }
        let id = (k.db, k.key);
        if self.winners.contains_key(&id) {
            summary.conflicts += 1;
            match self.opts.on_conflict {
                OnConflict::Panic => {
                    return Err(WriteError::Conflict(format!(
                        "{}: key {} (db {}, byte offset {}) is also in an earlier input; --on-conflict rewrite (the later wins) or ignore (the first wins)",
                        at.name,
                        printable(&id.1),
                        id.0,
                        k.offset
                    )));
                }
                OnConflict::Rewrite => summary.rewritten += 1,
                OnConflict::Ignore => {
                    summary.ignored += 1;
                    return Ok(());
                }
            }
        }
        self.dest.insert(id.clone(), (k.expires, k.out, k.slot));
        self.winners.insert(id, (at.i, k.offset));
        Ok(())
    }

    /// Counts a key of `slot` for SLOT_INFO.
    pub fn slot_key(&mut self, slot: Option<u16>, expires: bool) {
        if let (Some(s), false) = (slot, self.slots.is_empty()) {
            let c = &mut self.slots[s as usize];
            c.0 += 1;
            c.1 += expires as u64;
        }
    }

    pub fn opts(&self) -> &'o Options {
        self.opts
    }

    pub fn function(&mut self, at: &InputAt<'_>, code: Vec<u8>) -> Result<(), WriteError> {
        add_function(&mut self.functions, code, self.opts.on_conflict, at.name)
            .map_err(WriteError::Conflict)
    }

    pub fn module_aux(&mut self, raw: Vec<u8>) {
        self.module_aux.push(raw);
    }

    pub fn aux(&mut self, at: &InputAt<'_>, k: &[u8], v: &[u8]) {
        if at.own_aux {
            self.first.note(k, v);
        }
    }

    fn into_plan(mut self, fmt: Format, opts: &Options) -> Plan {
        let dest = std::mem::take(&mut self.dest);
        for ((db, _), (e, out, slot)) in dest {
            let c = self.counts[out].entry(db).or_default();
            c.0 += 1;
            c.1 += e as u64;
            self.slot_key(slot, e);
        }
        let track = self.track;
        Plan {
            winners: track.then_some(self.winners),
            counts: self.counts,
            functions: self.functions,
            module_aux: self.module_aux,
            slot_counts: self.slots,
            ..Plan::bare(fmt, self.first, opts)
        }
    }
}

/// The message of a key that has no output.
pub(crate) fn unrouted(at: &InputAt<'_>, db: u64, key: &[u8], why: String) -> WriteError {
    failed(format!(
        "{}: key {} (db {db}): {why}",
        at.name,
        printable(key)
    ))
}

/// Pass 1 over a JSON Lines input, on this thread.
fn plan_json(
    t: &mut Tally<'_>,
    route: &Route,
    at: &InputAt<'_>,
    input: &Input<'_>,
    summary: &mut Summary,
) -> Result<(), WriteError> {
    let rules = Rules { opts: t.opts };
    let mut stop: Option<Stop> = None;
    let r = source::walk(input.data, t.opts.verify_checksum, |e| {
        let res = match e {
            Entry::Json(k) => match rules.admit_json(&k) {
                None => Ok(()),
                Some(db) => match route.route_slot(db, &k.key) {
                    Err(m) => Err(unrouted(at, db, &k.key, m)),
                    Ok((out, slot)) => t.key(
                        at,
                        Kept {
                            db,
                            key: k.key,
                            offset: k.offset,
                            expires: k.expire_ms.is_some(),
                            out,
                            slot,
                        },
                        summary,
                    ),
                },
            },
            Entry::Function(code) => t.function(at, code),
            Entry::ModuleAux(m) => {
                t.module_aux(m.raw.to_vec());
                Ok(())
            }
            Entry::Aux(k, v) => {
                t.aux(at, &k, &v);
                Ok(())
            }
            Entry::Record(_) | Entry::ResizeDb { .. } => Ok(()),
        };
        res.map_err(|e| stop_err(&mut stop, e))
    });
    match (r, stop) {
        (_, Some(Stop(e))) => Err(e),
        (Err(e), None) => Err(in_file(at.name, e)),
        (Ok(()), None) => Ok(()),
    }
}

/// Whether keys must be remembered because they can meet: several inputs,
/// JSON Lines (hand-edited), or databases merged by --db-map.
pub(crate) fn needs_tracking(inputs: &[Input<'_>], opts: &Options) -> bool {
    inputs.len() > 1
        || !opts.db_map.is_empty()
        || inputs
            .iter()
            .any(|i| matches!(source::header_of(i.data), Ok(None)))
}

/// The plan of a single RDB input written to one output, without a first
/// pass: the aux fields at the head of the file give the version text;
/// functions and module aux data are written where the input has them, and
/// its RESIZEDB hints are kept when no filter can make them wrong (with a
/// filter the output has none: they are hints, and a wrong one would size
/// the loader's tables wrongly), unless the caller counted the keys
/// ([`Options::db_counts`]).
pub(crate) fn streaming(input: &Input<'_>, opts: &Options) -> Result<Plan, WriteError> {
    let fmt = output_format(std::slice::from_ref(input), opts)?;
    let mut first = FirstAux::default();
    let mut p = crate::rdb::records::Parser::new(
        input.data,
        crate::rdb::records::ParseOptions {
            verify_checksum: false,
        },
    )
    .map_err(|e| in_file(&input.name, e))?;
    if Format::new(p.header().dialect, p.header().version).ok() == Some(fmt) {
        // Aux fields come first; an error here is reported by the real pass.
        while let Ok(Some(crate::rdb::records::Item::Aux { key, value })) = p.next_item() {
            if let (Ok(k), Ok(v)) = (key.to_vec(), value.to_vec()) {
                first.note(&k, &v);
            }
        }
    }
    Ok(Plan {
        streaming: true,
        counts: vec![opts.db_counts.clone().unwrap_or_default()],
        ..Plan::bare(fmt, first, opts)
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
                "function library {} of {input} differs from one of an earlier input",
                printable(name.as_deref().unwrap_or_default())
            ))
        }
        (Some(i), OnConflict::Rewrite) => fns[i] = code,
        (Some(_), OnConflict::Ignore) => {}
    }
    Ok(())
}
