//! `rdbkit memory`: the per-key memory report on the parallel engine.
//!
//! Worker threads estimate every key of their chunk ([`Model::estimate`]),
//! format its row (CSV or JSON Lines) and keep the chunk's partial
//! aggregates (totals, top keys, prefixes); the consumer writes the rows in
//! file order and merges the aggregates. Memory stays bounded: top lists
//! hold N keys, prefix maps are capped (see [`prefix`](super::prefix)).
//!
//! Row format (`--format csv`, the default): the leading columns are those
//! of `rdbtools -c memory`, then rdbkit's own:
//!
//! ```text
//! database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry,serialized_bytes,rdb_encoding
//! ```
//!
//! - `key`: printable ASCII and other valid UTF-8 without control
//!   characters are written as they are; any other key is written the way
//!   `rdbtools --escape print` does, every byte outside `0x20..=0x7E` as
//!   `\xNN` (upper-case hex), and then a backslash as `\x5C` so the escaping
//!   can be undone. Fields with `,`, `"` or a line break are quoted as
//!   RFC 4180 says (quotes doubled).
//! - `expiry`: absolute expiry in UTC, ISO-8601 as Python's
//!   `datetime.isoformat()` writes it (what rdbtools prints):
//!   `2026-01-01T00:00:00`, with `.ffffff` when the milliseconds are not 0;
//!   empty without a TTL.
//! - `serialized_bytes`: bytes the record takes in the file (expiry, type,
//!   key and value).
//! - `rdb_encoding`: the encoding as stored in the file.
//!
//! With `--format json`, one object per key with the same names
//! (`database`, `type`, `key`, ...; `expiry` is `null` without a TTL and
//! `expire_ms` is added); keys are JSON strings when they are UTF-8,
//! otherwise `{"b64":"..."}` as in `rdbkit json`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::io::Write;

use crate::inspect::memory::{Buffers, KeyMemory, Model, ModelConfig};
use crate::inspect::prefix::{Agg, PrefixOptions, PrefixRow, Prefixes};
use crate::rdb::records::{Item, Record};
use crate::rdb::value::Kind;
use crate::scan::{self, Admit, Chunk, EngineOptions, Progress, Worker};
use crate::sink::jsonfmt::{write_bytes, write_str, write_u64};
use crate::sink::SinkError;

/// Per-key row format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Csv,
    Json,
}

/// The CSV header line.
pub(crate) const CSV_HEADER: &str = "database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry,serialized_bytes,rdb_encoding\n";

/// What to compute.
///
/// Records are filtered by the engine's filter ([`EngineOptions::filter`],
/// the shared `--db`/`--key`/`--type`/... flags): a key left out is counted
/// in [`MemoryReport::filtered`] and its value is never decoded.
#[derive(Clone, Default)]
pub struct MemoryOptions {
    pub model: ModelConfig,
    pub format: Format,
    /// Write per-key rows.
    pub rows: bool,
    /// Keep the N biggest keys by memory and by elements (0: none).
    pub top: usize,
    /// Aggregate by prefix.
    pub prefix: Option<PrefixOptions>,
}

/// One key of a top list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopKey {
    pub db: u64,
    pub key: Vec<u8>,
    pub kind: &'static str,
    pub encoding: &'static str,
    pub bytes: u64,
    pub num_elements: u64,
    pub len_largest_element: u64,
    pub serialized: u64,
    pub expire_ms: Option<i64>,
    pub offset: u64,
}

/// Totals of a set of keys.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub keys: u64,
    pub bytes: u64,
    pub serialized: u64,
    pub expiring: u64,
}

impl Totals {
    fn add(&mut self, o: &Totals) {
        self.keys += o.keys;
        self.bytes += o.bytes;
        self.serialized += o.serialized;
        self.expiring += o.expiring;
    }
}

/// The whole report.
#[derive(Debug, Default, Clone)]
pub struct MemoryReport {
    pub totals: Totals,
    /// By type name (`string`, `hash`, ...).
    pub by_type: BTreeMap<&'static str, Totals>,
    /// By database.
    pub by_db: BTreeMap<u64, Totals>,
    /// By `type/encoding` as the server would hold it.
    pub by_encoding: BTreeMap<String, Totals>,
    /// Keys read (before the filter).
    pub keys_read: u64,
    /// Keys left out by the engine's filter.
    pub filtered: u64,
    /// Biggest keys by estimated memory, largest first.
    pub top_by_bytes: Vec<TopKey>,
    /// Biggest keys by element count, largest first.
    pub top_by_elements: Vec<TopKey>,
    /// Prefix rows (level by level, largest first), when asked.
    pub prefixes: Vec<PrefixRow>,
    pub prefix_options: Option<PrefixOptions>,
    pub model: ModelConfig,
}

/// A bounded "N largest" set; ties keep the earlier key.
struct Top {
    n: usize,
    heap: BinaryHeap<Reverse<(u64, Reverse<u64>, usize)>>,
    items: Vec<Option<TopKey>>,
}

impl Top {
    fn new(n: usize) -> Top {
        Top {
            n,
            heap: BinaryHeap::new(),
            items: Vec::new(),
        }
    }

    /// Would a key with this score get in?
    #[inline]
    fn wants(&self, score: u64, offset: u64) -> bool {
        self.n > 0
            && (self.heap.len() < self.n
                || self.heap.peek().is_some_and(|Reverse((s, Reverse(o), _))| {
                    (score, Reverse(offset)) > (*s, Reverse(*o))
                }))
    }

    fn push(&mut self, score: u64, t: TopKey) {
        if !self.wants(score, t.offset) {
            return;
        }
        let off = t.offset;
        let slot = if self.heap.len() >= self.n {
            let Reverse((_, _, slot)) = self.heap.pop().expect("full heap");
            self.items[slot] = Some(t);
            slot
        } else {
            self.items.push(Some(t));
            self.items.len() - 1
        };
        self.heap.push(Reverse((score, Reverse(off), slot)));
    }

    fn into_sorted(mut self) -> Vec<TopKey> {
        let mut v: Vec<(u64, u64, TopKey)> = Vec::new();
        while let Some(Reverse((s, Reverse(o), slot))) = self.heap.pop() {
            if let Some(t) = self.items[slot].take() {
                v.push((s, o, t));
            }
        }
        v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        v.into_iter().map(|x| x.2).collect()
    }
}

/// A chunk's output.
struct Partial {
    rows: Vec<u8>,
    keys_read: u64,
    filtered: u64,
    by: Vec<((u64, Kind, &'static str), Totals)>,
    top_bytes: Vec<(u64, TopKey)>,
    top_elems: Vec<(u64, TopKey)>,
    prefixes: Option<Prefixes>,
}

struct MemWorker<'o> {
    model: &'o Model,
    opts: &'o MemoryOptions,
    bufs: Buffers,
    key_buf: Vec<u8>,
}

impl<'a> Worker<'a> for MemWorker<'_> {
    type Out = Partial;
    type Error = SinkError;

    fn process(&mut self, chunk: &Chunk<'a>) -> Result<Partial, SinkError> {
        let opts = self.opts;
        let mut p = Partial {
            rows: Vec::new(),
            keys_read: 0,
            filtered: 0,
            by: Vec::new(),
            top_bytes: Vec::new(),
            top_elems: Vec::new(),
            prefixes: opts.prefix.as_ref().map(|po| Prefixes::new(po.depth)),
        };
        let mut top_b = Top::new(opts.top);
        let mut top_e = Top::new(opts.top);
        if opts.rows {
            p.rows.reserve(((chunk.end - chunk.start) / 2) as usize);
        }
        let mut parser = chunk.parser()?;
        while let Some(item) = parser.next_item()? {
            let Item::Key(rec) = item else { continue };
            match chunk.admit(&rec, &mut self.key_buf)? {
                Admit::Damaged => continue,
                Admit::Filtered => {
                    p.keys_read += 1;
                    p.filtered += 1;
                    continue;
                }
                Admit::Keep => p.keys_read += 1,
            }
            let m = match self.model.estimate(&rec, &mut self.bufs) {
                Ok(m) => m,
                Err(e) => {
                    chunk.value_error(&rec, e)?;
                    continue;
                }
            };
            let serialized = rec.end_offset() - rec.offset;
            let kind = rec.vtype.kind();
            let key = rec.key.bytes(&mut self.key_buf)?;
            if opts.rows {
                match opts.format {
                    Format::Csv => csv_row(&mut p.rows, &rec, key, &m, serialized),
                    Format::Json => json_row(&mut p.rows, &rec, key, &m, serialized),
                }
            }
            let t = Totals {
                keys: 1,
                bytes: m.bytes,
                serialized,
                expiring: rec.expire_ms.is_some() as u64,
            };
            // A handful of groups per chunk: a linear search comparing the
            // encoding's address is cheaper than a map.
            match p
                .by
                .iter_mut()
                .find(|((db, k, e), _)| *db == rec.db && *k == kind && std::ptr::eq(*e, m.encoding))
            {
                Some((_, acc)) => acc.add(&t),
                None => p.by.push(((rec.db, kind, m.encoding), t)),
            }
            let top_key = || TopKey {
                db: rec.db,
                key: key.to_vec(),
                kind: kind.name(),
                encoding: m.encoding,
                bytes: m.bytes,
                num_elements: m.num_elements,
                len_largest_element: m.len_largest_element,
                serialized,
                expire_ms: rec.expire_ms,
                offset: rec.offset,
            };
            if top_b.wants(m.bytes, rec.offset) {
                top_b.push(m.bytes, top_key());
            }
            // Elements rank collections only: a string's "elements" would be
            // its bytes, already ranked by memory.
            let collection = !matches!(kind, Kind::String | Kind::Module);
            if collection && top_e.wants(m.num_elements, rec.offset) {
                top_e.push(m.num_elements, top_key());
            }
            if let (Some(px), Some(po)) = (p.prefixes.as_mut(), opts.prefix.as_ref()) {
                px.add_key(
                    key,
                    &po.separator,
                    &Agg {
                        keys: 1,
                        bytes: m.bytes,
                        serialized,
                    },
                );
            }
        }
        p.top_bytes = top_b
            .into_sorted()
            .into_iter()
            .map(|t| (t.bytes, t))
            .collect();
        p.top_elems = top_e
            .into_sorted()
            .into_iter()
            .map(|t| (t.num_elements, t))
            .collect();
        Ok(p)
    }
}

/// Runs the report over a whole file, writing per-key rows (when
/// `opts.rows`) to `out` in file order.
pub fn run(
    data: &[u8],
    opts: &MemoryOptions,
    engine: &EngineOptions,
    out: &mut dyn Write,
    progress: Option<Progress<'_>>,
) -> Result<MemoryReport, SinkError> {
    let model = Model::new(opts.model);
    let mut rep = MemoryReport {
        model: opts.model,
        prefix_options: opts.prefix.clone(),
        ..Default::default()
    };
    if opts.rows && opts.format == Format::Csv {
        out.write_all(CSV_HEADER.as_bytes())?;
    }
    let mut top_b = Top::new(opts.top);
    let mut top_e = Top::new(opts.top);
    let mut prefixes = opts.prefix.as_ref().map(|po| Prefixes::new(po.depth));
    let limit = opts.prefix.as_ref().map_or(0, |po| po.limit);
    scan::run(
        data,
        engine,
        || MemWorker {
            model: &model,
            opts,
            bufs: Buffers::default(),
            key_buf: Vec::new(),
        },
        |p: Partial, _| {
            if !p.rows.is_empty() {
                out.write_all(&p.rows)?;
            }
            rep.keys_read += p.keys_read;
            rep.filtered += p.filtered;
            for ((db, kind, enc), t) in p.by {
                rep.totals.add(&t);
                rep.by_type.entry(kind.name()).or_default().add(&t);
                rep.by_db.entry(db).or_default().add(&t);
                rep.by_encoding
                    .entry(format!("{}/{}", kind.name(), enc))
                    .or_default()
                    .add(&t);
            }
            for (s, t) in p.top_bytes {
                top_b.push(s, t);
            }
            for (s, t) in p.top_elems {
                top_e.push(s, t);
            }
            if let (Some(all), Some(px)) = (prefixes.as_mut(), p.prefixes) {
                all.merge(px, limit);
            }
            Ok(())
        },
        progress,
    )?;
    out.flush()?;
    rep.top_by_bytes = top_b.into_sorted();
    rep.top_by_elements = top_e.into_sorted();
    if let Some(px) = prefixes {
        rep.prefixes = px.rows(limit);
    }
    Ok(rep)
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

/// Writes a key for CSV (see the module docs), quoted when needed.
pub(crate) fn write_csv_key(out: &mut Vec<u8>, key: &[u8]) {
    // Fast path: printable ASCII without `,` and `"`.
    if key
        .iter()
        .all(|&b| b.wrapping_sub(0x20) < 0x5f && b != b',' && b != b'"')
    {
        out.extend_from_slice(key);
        return;
    }
    let plain = key.iter().all(|&b| (0x20..0x7f).contains(&b));
    let text =
        plain || (std::str::from_utf8(key).is_ok() && !key.iter().any(|&b| b < 0x20 || b == 0x7f));
    let needs_quotes = key.iter().any(|&b| b == b',' || b == b'"');
    if needs_quotes {
        out.push(b'"');
    }
    if text {
        for &b in key {
            if b == b'"' {
                out.push(b'"');
            }
            out.push(b);
        }
    } else {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for &b in key {
            match b {
                b'\\' => out.extend_from_slice(b"\\x5C"),
                b'"' => out.extend_from_slice(b"\"\""),
                0x20..=0x7e => out.push(b),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'x',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 15) as usize],
                ]),
            }
        }
    }
    if needs_quotes {
        out.push(b'"');
    }
}

/// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Unix milliseconds as `YYYY-MM-DDTHH:MM:SS[.ffffff]` (UTC).
pub(crate) fn iso8601(ms: i64) -> String {
    let mut v = Vec::with_capacity(26);
    write_iso8601(&mut v, ms);
    String::from_utf8(v).unwrap_or_default()
}

/// [`iso8601`] into a buffer.
pub(crate) fn write_iso8601(out: &mut Vec<u8>, ms: i64) {
    let secs = ms.div_euclid(1000);
    let frac = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil(days);
    let two = |out: &mut Vec<u8>, v: i64| {
        out.push(b'0' + (v / 10) as u8);
        out.push(b'0' + (v % 10) as u8);
    };
    if (0..10_000).contains(&y) {
        two(out, y / 100);
        two(out, y % 100);
    } else {
        out.extend_from_slice(itoa::Buffer::new().format(y).as_bytes());
    }
    out.push(b'-');
    two(out, m as i64);
    out.push(b'-');
    two(out, d as i64);
    out.push(b'T');
    two(out, sod / 3600);
    out.push(b':');
    two(out, sod / 60 % 60);
    out.push(b':');
    two(out, sod % 60);
    if frac != 0 {
        out.push(b'.');
        out.push(b'0' + (frac / 100) as u8);
        two(out, frac % 100);
        out.extend_from_slice(b"000");
    }
}

/// Decimal digits (itoa) pushed one by one: cheaper than a `memcpy` call
/// for the few bytes of a count.
#[inline]
fn push_u64(out: &mut Vec<u8>, v: u64) {
    let mut b = itoa::Buffer::new();
    for &c in b.format(v).as_bytes() {
        out.push(c);
    }
}

#[inline]
fn push_word(out: &mut Vec<u8>, w: &str) {
    for &b in w.as_bytes() {
        out.push(b);
    }
}

fn csv_row(out: &mut Vec<u8>, rec: &Record<'_>, key: &[u8], m: &KeyMemory, serialized: u64) {
    out.reserve(key.len() + 128);
    push_u64(out, rec.db);
    out.push(b',');
    push_word(out, rec.vtype.kind().name());
    out.push(b',');
    write_csv_key(out, key);
    out.push(b',');
    push_u64(out, m.bytes);
    out.push(b',');
    push_word(out, m.encoding);
    out.push(b',');
    push_u64(out, m.num_elements);
    out.push(b',');
    push_u64(out, m.len_largest_element);
    out.push(b',');
    if let Some(e) = rec.expire_ms {
        write_iso8601(out, e);
    }
    out.push(b',');
    push_u64(out, serialized);
    out.push(b',');
    push_word(out, rec.vtype.encoding());
    out.push(b'\n');
}

fn json_row(out: &mut Vec<u8>, rec: &Record<'_>, key: &[u8], m: &KeyMemory, serialized: u64) {
    out.extend_from_slice(b"{\"database\":");
    push_u64(out, rec.db);
    out.extend_from_slice(b",\"type\":\"");
    out.extend_from_slice(rec.vtype.kind().name().as_bytes());
    out.extend_from_slice(b"\",\"key\":");
    write_bytes(out, key);
    out.extend_from_slice(b",\"size_in_bytes\":");
    push_u64(out, m.bytes);
    out.extend_from_slice(b",\"encoding\":\"");
    out.extend_from_slice(m.encoding.as_bytes());
    out.extend_from_slice(b"\",\"num_elements\":");
    push_u64(out, m.num_elements);
    out.extend_from_slice(b",\"len_largest_element\":");
    push_u64(out, m.len_largest_element);
    out.extend_from_slice(b",\"expiry\":");
    match rec.expire_ms {
        Some(e) => {
            write_str(out, iso8601(e).as_bytes());
            out.extend_from_slice(b",\"expire_ms\":");
            out.extend_from_slice(itoa::Buffer::new().format(e).as_bytes());
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"serialized_bytes\":");
    push_u64(out, serialized);
    out.extend_from_slice(b",\"rdb_encoding\":\"");
    out.extend_from_slice(rec.vtype.encoding().as_bytes());
    out.extend_from_slice(b"\"}\n");
}

// ---------------------------------------------------------------------------
// Summaries
// ---------------------------------------------------------------------------

/// Bytes as `1.5 MiB`.
pub fn human(b: u64) -> String {
    const U: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < U.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", U[i])
    }
}

/// A key for a terminal: escaped like the CSV column, never quoted.
pub(crate) fn display_key(key: &[u8]) -> String {
    let mut v = Vec::new();
    write_csv_key(&mut v, key);
    let mut s = String::from_utf8_lossy(&v).into_owned();
    if key.iter().any(|&b| b == b',' || b == b'"') {
        // undo the CSV quoting for display
        s = s[1..s.len() - 1].replace("\"\"", "\"");
    }
    s
}

fn cut(s: &str, w: usize) -> String {
    if s.chars().count() <= w {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(w.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// The readable tables: headline totals, top keys, prefixes.
pub fn to_text(rep: &MemoryReport) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let t = &rep.totals;
    let _ = writeln!(
        s,
        "keys {}  memory estimate {} ({} bytes)  serialized {}  expiring {}",
        t.keys,
        human(t.bytes),
        t.bytes,
        human(t.serialized),
        t.expiring
    );
    if rep.filtered > 0 {
        let _ = writeln!(s, "  ({} keys left out by the filters)", rep.filtered);
    }
    for (k, v) in &rep.by_type {
        let _ = writeln!(
            s,
            "  {:<8} {:>12} keys {:>12} {:>6.1}%",
            k,
            v.keys,
            human(v.bytes),
            if t.bytes > 0 {
                v.bytes as f64 * 100.0 / t.bytes as f64
            } else {
                0.0
            }
        );
    }
    let table = |s: &mut String, title: &str, v: &[TopKey]| {
        if v.is_empty() {
            return;
        }
        let _ = writeln!(s, "\n{title}");
        let _ = writeln!(
            s,
            "{:>4} {:>3}  {:<48} {:<7} {:<10} {:>12} {:>12} {:>10}",
            "#", "db", "key", "type", "encoding", "memory", "elements", "largest"
        );
        for (i, k) in v.iter().enumerate() {
            let _ = writeln!(
                s,
                "{:>4} {:>3}  {:<48} {:<7} {:<10} {:>12} {:>12} {:>10}",
                i + 1,
                k.db,
                cut(&display_key(&k.key), 48),
                k.kind,
                k.encoding,
                human(k.bytes),
                k.num_elements,
                k.len_largest_element
            );
        }
    };
    table(&mut s, "Biggest keys by memory", &rep.top_by_bytes);
    table(&mut s, "Biggest keys by elements", &rep.top_by_elements);
    if !rep.prefixes.is_empty() {
        let sep = rep
            .prefix_options
            .as_ref()
            .map(|p| String::from_utf8_lossy(&p.separator).into_owned())
            .unwrap_or_default();
        let _ = writeln!(s, "\nMemory by prefix (separator {sep:?})");
        let _ = writeln!(
            s,
            "{:>5}  {:<48} {:>12} {:>12} {:>7} {:>12}",
            "level", "prefix", "keys", "memory", "share", "serialized"
        );
        for r in &rep.prefixes {
            let _ = writeln!(
                s,
                "{:>5}  {:<48} {:>12} {:>12} {:>6.1}% {:>12}",
                r.level,
                cut(&display_key(&r.prefix), 48),
                r.agg.keys,
                human(r.agg.bytes),
                if t.bytes > 0 {
                    r.agg.bytes as f64 * 100.0 / t.bytes as f64
                } else {
                    0.0
                },
                human(r.agg.serialized)
            );
        }
    }
    s
}

fn json_top(o: &mut Vec<u8>, v: &[TopKey]) {
    o.push(b'[');
    for (i, k) in v.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"database\":");
        write_u64(o, k.db);
        o.extend_from_slice(b",\"key\":");
        write_bytes(o, &k.key);
        o.extend_from_slice(b",\"type\":");
        write_str(o, k.kind.as_bytes());
        o.extend_from_slice(b",\"encoding\":");
        write_str(o, k.encoding.as_bytes());
        o.extend_from_slice(b",\"size_in_bytes\":");
        write_u64(o, k.bytes);
        o.extend_from_slice(b",\"num_elements\":");
        write_u64(o, k.num_elements);
        o.extend_from_slice(b",\"len_largest_element\":");
        write_u64(o, k.len_largest_element);
        o.extend_from_slice(b",\"serialized_bytes\":");
        write_u64(o, k.serialized);
        o.extend_from_slice(b",\"expiry\":");
        match k.expire_ms {
            Some(e) => write_str(o, iso8601(e).as_bytes()),
            None => o.extend_from_slice(b"null"),
        }
        o.push(b'}');
    }
    o.push(b']');
}

fn json_totals(o: &mut Vec<u8>, t: &Totals) {
    o.extend_from_slice(b"{\"keys\":");
    write_u64(o, t.keys);
    o.extend_from_slice(b",\"size_in_bytes\":");
    write_u64(o, t.bytes);
    o.extend_from_slice(b",\"serialized_bytes\":");
    write_u64(o, t.serialized);
    o.extend_from_slice(b",\"expiring\":");
    write_u64(o, t.expiring);
    o.push(b'}');
}

/// The summary as one JSON object: totals, by type/db/encoding, top lists,
/// prefixes.
pub fn to_json(rep: &MemoryReport) -> Vec<u8> {
    let mut o = Vec::new();
    o.extend_from_slice(b"{\"totals\":");
    json_totals(&mut o, &rep.totals);
    o.extend_from_slice(b",\"keys_read\":");
    write_u64(&mut o, rep.keys_read);
    o.extend_from_slice(b",\"filtered\":");
    write_u64(&mut o, rep.filtered);
    o.extend_from_slice(b",\"by_type\":{");
    for (i, (k, t)) in rep.by_type.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        write_str(&mut o, k.as_bytes());
        o.push(b':');
        json_totals(&mut o, t);
    }
    o.extend_from_slice(b"},\"by_encoding\":{");
    for (i, (k, t)) in rep.by_encoding.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        write_str(&mut o, k.as_bytes());
        o.push(b':');
        json_totals(&mut o, t);
    }
    o.extend_from_slice(b"},\"by_db\":{");
    for (i, (k, t)) in rep.by_db.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.push(b'"');
        write_u64(&mut o, *k);
        o.extend_from_slice(b"\":");
        json_totals(&mut o, t);
    }
    o.extend_from_slice(b"},\"top_by_memory\":");
    json_top(&mut o, &rep.top_by_bytes);
    o.extend_from_slice(b",\"top_by_elements\":");
    json_top(&mut o, &rep.top_by_elements);
    o.extend_from_slice(b",\"prefixes\":[");
    for (i, r) in rep.prefixes.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"level\":");
        write_u64(&mut o, r.level as u64);
        o.extend_from_slice(b",\"prefix\":");
        write_bytes(&mut o, &r.prefix);
        o.extend_from_slice(b",\"keys\":");
        write_u64(&mut o, r.agg.keys);
        o.extend_from_slice(b",\"size_in_bytes\":");
        write_u64(&mut o, r.agg.bytes);
        o.extend_from_slice(b",\"serialized_bytes\":");
        write_u64(&mut o, r.agg.serialized);
        o.push(b'}');
    }
    o.extend_from_slice(b"]}\n");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00");
        assert_eq!(iso8601(1_767_225_600_000), "2026-01-01T00:00:00");
        assert_eq!(iso8601(1_767_225_600_123), "2026-01-01T00:00:00.123000");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00");
        assert_eq!(iso8601(-1000), "1969-12-31T23:59:59");
    }

    #[test]
    fn csv_keys() {
        let k = |b: &[u8]| {
            let mut v = Vec::new();
            write_csv_key(&mut v, b);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(k(b"user:1"), "user:1");
        assert_eq!(k(b"a,b"), "\"a,b\"");
        assert_eq!(k(b"say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(k("clé".as_bytes()), "clé");
        assert_eq!(k(b"a\nb"), "a\\x0Ab");
        assert_eq!(k(b"\xff\\"), "\\xFF\\x5C");
        assert_eq!(k(b"back\\slash"), "back\\slash");
    }

    #[test]
    fn top_keeps_largest_and_earliest() {
        let mut t = Top::new(2);
        let mk = |o: u64| TopKey {
            db: 0,
            key: o.to_string().into_bytes(),
            kind: "string",
            encoding: "raw",
            bytes: 0,
            num_elements: 0,
            len_largest_element: 0,
            serialized: 0,
            expire_ms: None,
            offset: o,
        };
        for (s, o) in [(5, 1), (7, 2), (7, 3), (1, 4), (9, 5)] {
            t.push(s, mk(o));
        }
        let v: Vec<u64> = t.into_sorted().iter().map(|k| k.offset).collect();
        assert_eq!(v, vec![5, 2]);
    }
}
