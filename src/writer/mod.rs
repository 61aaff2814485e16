//! Writing RDB files: `rdbkit rdb` (filter, merge, convert between versions
//! and dialects, JSON Lines → RDB).
//!
//! Two passes over the inputs, both through [`source::walk`] (one, when a
//! single RDB input is written to one file: see [`plan::streaming`]):
//!
//! 1. **plan**: which keys survive the filters and `--db-map`, which input
//!    wins a key present in several (`--on-conflict`), the key and expire
//!    counts of every output database (for `RESIZEDB`), the functions and
//!    module aux data, and the output format (default: the first input's);
//! 2. **write**: every winning key, copied byte for byte when the output
//!    format knows its type byte, otherwise decoded and re-encoded as a
//!    server of that version would save it ([`crate::rdb::write`]).
//!
//! The second pass over an RDB input runs on the parallel engine
//! ([`chunked`]): workers produce each chunk's output bytes, the calling
//! thread appends them in file order. The first pass over an RDB input
//! runs there too ([`plan_scan`]); JSON Lines inputs are walked on one
//! thread.
//!
//! Keys are remembered (to resolve conflicts) only when there is more than
//! one input, the input is JSON Lines, or `--db-map` merges databases; a
//! single RDB input is otherwise streamed with memory independent of its
//! size.

mod chunked;
pub mod emit;
mod keys;
pub mod output;
mod plan;
mod plan_scan;
pub mod route;
pub mod source;
pub mod split;

use std::io::Write;

use serde_json::json;

use crate::filter::Filter;
use crate::rdb::write::Format;
use crate::restore::OnConflict;

use emit::Emitter;
use route::Route;

/// One input: a name for messages and its bytes.
pub struct Input<'a> {
    pub name: String,
    pub data: &'a [u8],
}

/// What to write.
#[derive(Debug, Clone)]
pub struct Options {
    /// Output format; `None`: the first RDB input's own (at least RDB 6;
    /// JSON Lines alone: RDB 11, which Redis 7.2+ and every Valkey read).
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
    /// Unix ms: hash fields whose TTL is past are left out when their TTLs
    /// have to be dropped (they would come back to life otherwise).
    pub now_ms: i64,
    /// Per output database, the keys and keys with an expiry this run will
    /// write, when the caller counted them in a pass of its own (`load
    /// --mode replicate`'s census): a single-pass write then still gives
    /// the loader its RESIZEDB hints under a filter. Without them a server
    /// grows its tables by doubling while it loads millions of keys (Redis
    /// 7.0 loads small-keys about 1.5x slower).
    pub db_counts: Option<emit::DbCounts>,
    /// A quicklist 2 list whose stored value is bigger than this is written
    /// for RDB 7–9 node by node, straight into the output by the thread
    /// that writes it, instead of being built whole in memory first (twice:
    /// built, then copied into its chunk's buffer). This bounds the memory
    /// of `--to redis-6.2` on a file with a list of any size.
    pub stream_values_above: u64,
}

/// The default [`Options::stream_values_above`]: with two workers, each
/// holding a value built and its copy, values under it cost < 40 MB.
pub const STREAM_VALUES_ABOVE: u64 = 8 << 20;

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
            now_ms: crate::restore::now_ms(),
            db_counts: None,
            stream_values_above: STREAM_VALUES_ABOVE,
        }
    }
}

/// How a write ended badly. Each variant keeps its cause as a value
/// ([`std::error::Error::source`]); the message is one line.
#[derive(Debug)]
pub enum WriteError {
    /// `--on-conflict panic` met a key in two inputs (nothing written).
    Conflict(String),
    /// An input could not be read (`file`: its name).
    Input { file: String, source: crate::Error },
    /// An output could not be written (`what`: which one, or what was
    /// being done, when the cause does not say it).
    Output {
        what: Option<String>,
        source: std::io::Error,
    },
    /// The write was refused (the output cannot hold what the inputs
    /// hold, options that do not go together), in words.
    Failed(String),
}

impl std::fmt::Display for WriteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WriteError::Conflict(m) | WriteError::Failed(m) => f.write_str(m),
            WriteError::Input { file, source } => write!(f, "{file}: {source}"),
            WriteError::Output {
                what: Some(w),
                source,
            } => write!(f, "{w}: {source}"),
            WriteError::Output { what: None, source } => source.fmt(f),
        }
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            WriteError::Conflict(_) | WriteError::Failed(_) => None,
            WriteError::Input { source, .. } => Some(source),
            WriteError::Output { source, .. } => Some(source),
        }
    }
}

fn failed(e: impl std::fmt::Display) -> WriteError {
    WriteError::Failed(e.to_string())
}

/// An input could not be read.
fn in_file(name: &str, source: crate::Error) -> WriteError {
    WriteError::Input {
        file: name.to_string(),
        source,
    }
}

/// An output could not be written.
fn out_err(what: Option<&str>) -> impl FnOnce(std::io::Error) -> WriteError {
    let what = what.map(str::to_string);
    move |source| WriteError::Output { what, source }
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
    /// Hash fields left out because their TTL had passed and the output
    /// could not carry it.
    pub expired_fields: u64,
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
    /// Adds the counters of `o` (a chunk's, from a worker of the parallel
    /// engine) to these.
    pub fn add(&mut self, o: &Summary) {
        self.keys_read += o.keys_read;
        self.written += o.written;
        self.copied += o.copied;
        self.reencoded += o.reencoded;
        self.filtered += o.filtered;
        self.conflicts += o.conflicts;
        self.rewritten += o.rewritten;
        self.ignored += o.ignored;
        self.skipped_empty += o.skipped_empty;
        self.dropped_keys += o.dropped_keys;
        self.dropped_field_ttls += o.dropped_field_ttls;
        self.expired_fields += o.expired_fields;
        self.dropped_stream_fields += o.dropped_stream_fields;
        self.dropped_key_meta += o.dropped_key_meta;
        self.functions += o.functions;
        self.dropped_functions += o.dropped_functions;
        self.module_aux += o.module_aux;
        self.dropped_module_aux += o.dropped_module_aux;
        self.bytes_written += o.bytes_written;
    }

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
                "expired_fields": self.expired_fields,
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

/// Writes one RDB from `inputs` into `out`.
pub fn write_rdb<W: Write>(
    inputs: &[Input<'_>],
    opts: &Options,
    out: W,
) -> Result<(W, Summary), WriteError> {
    let mut made = Some(out);
    let (mut outs, summary) = write_all(inputs, opts, &Route::One, |_| {
        made.take().ok_or_else(|| failed("one output only"))
    })?;
    let (w, _, _) = outs.remove(0);
    Ok((w, summary))
}

/// One written output: the writer, its size, its key count.
pub type Written<W> = (W, u64, u64);

/// Writes `route.outputs()` files (the writer of output `i` comes from
/// `make(i)`, called once the first pass has succeeded).
pub fn write_all<W: Write>(
    inputs: &[Input<'_>],
    opts: &Options,
    route: &Route,
    mut make: impl FnMut(usize) -> Result<W, WriteError>,
) -> Result<(Vec<Written<W>>, Summary), WriteError> {
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
    let plan = if matches!(route, Route::One) && !plan::needs_tracking(inputs, opts) {
        plan::streaming(&inputs[0], opts)?
    } else {
        plan::plan(inputs, opts, route, &mut summary)?
    };
    summary.format = format_name(plan.fmt);
    refuse_preamble_losses(&plan, opts)?;
    let mut ems = Vec::with_capacity(route.outputs());
    for (i, counts) in plan.counts.iter().enumerate() {
        let mut em = Emitter::new(make(i)?, plan.fmt, counts.clone()).map_err(failed)?;
        em.set_slot_info(slot_info(&plan, route, i));
        let mut s = Summary::default();
        preamble(&mut em, &plan, &mut s);
        if i == 0 {
            summary.functions = s.functions;
            summary.dropped_functions = s.dropped_functions;
            summary.module_aux = s.module_aux;
            summary.dropped_module_aux = s.dropped_module_aux;
        }
        ems.push(em);
    }
    for (i, input) in inputs.iter().enumerate() {
        let i = i as u32;
        if source::header_of(input.data).ok().flatten().is_some() {
            chunked::write_input(&mut ems, &plan, route, opts, i, input, &mut summary)?;
        } else {
            keys::write_input(&mut ems, &plan, route, opts, i, input, &mut summary)?;
        }
    }
    let mut outs = Vec::with_capacity(ems.len());
    for em in ems {
        let keys = em.keys;
        summary.written += keys;
        let (w, size) = em.finish().map_err(failed)?;
        summary.bytes_written += size;
        outs.push((w, size, keys));
    }
    Ok((outs, summary))
}

/// The SLOT_INFO entries of output `i`: its slots that hold keys, in order.
fn slot_info(plan: &plan::Plan, route: &Route, i: usize) -> Vec<(u16, u64, u64)> {
    let (Some(owner), false) = (route.slot_owners(), plan.slot_counts.is_empty()) else {
        return Vec::new();
    };
    (0..route::SLOTS)
        .filter(|&s| owner[s] as usize == i && plan.slot_counts[s].0 > 0)
        .map(|s| (s as u16, plan.slot_counts[s].0, plan.slot_counts[s].1))
        .collect()
}

/// `Redis RDB 10`, `Valkey RDB 80`.
pub fn format_name(f: Format) -> String {
    format!("{} RDB {}", f.dialect.name(), f.version)
}

/// Functions and module aux data the output cannot hold are refused
/// unless `--lossy` (which drops them, counted by [`preamble`]).
fn refuse_preamble_losses(plan: &plan::Plan, opts: &Options) -> Result<(), WriteError> {
    if opts.lossy {
        return Ok(());
    }
    let name = format_name(plan.fmt);
    if !plan.fmt.has_functions() && !plan.functions.is_empty() {
        return Err(failed(format!(
            "the output ({name}) cannot hold the {} function librar(y/ies) of the inputs (functions need RDB 10, Redis 7.0+); --lossy drops them and counts them",
            plan.functions.len()
        )));
    }
    if !plan.fmt.has_modules() && !plan.module_aux.is_empty() {
        return Err(failed(format!(
            "the output ({name}) cannot hold module aux data (RDB 8, Redis 4.0+); --lossy drops it and counts it"
        )));
    }
    Ok(())
}

fn preamble<W: Write>(em: &mut Emitter<W>, plan: &plan::Plan, summary: &mut Summary) {
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
