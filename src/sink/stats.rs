//! `rdbkit stats`: the fastest whole-file pass. Counts come from the
//! boundary pass alone (type bytes, key and value spans); no value is
//! decoded, so this runs at the speed of the record walk.

use std::collections::BTreeMap;

use crate::rdb::elem::RdbStr;
use crate::rdb::records::{Header, Item};
use crate::rdb::value::{Dialect, ValueType};
use crate::scan::{self, Chunk, EngineOptions, Progress, Worker};
use crate::sink::jsonfmt::{write_bytes, write_str, write_u64};
use crate::sink::SinkError;

/// Per-database counts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DbStats {
    pub keys: u64,
    pub expiring: u64,
    /// Keys by logical type name (`string`, `list`, ...).
    pub by_type: BTreeMap<&'static str, u64>,
    /// Keys by on-disk encoding, as `type/encoding`.
    pub by_encoding: BTreeMap<String, u64>,
    pub key_bytes: u64,
    pub value_bytes: u64,
}

/// The biggest value seen.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Largest {
    pub db: u64,
    pub key: Vec<u8>,
    pub kind: &'static str,
    pub bytes: u64,
}

/// Whole-file statistics.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Stats {
    pub file_bytes: u64,
    pub version: u32,
    pub dialect: &'static str,
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    pub dbs: BTreeMap<u64, DbStats>,
    pub largest: Option<Largest>,
    pub functions: u64,
    pub module_aux: u64,
    pub checksum: Option<u64>,
    pub checksum_verified: bool,
    /// Keys left out by the filter (not counted anywhere else).
    pub filtered: u64,
    /// Bytes after the checksum trailer (an AOF's commands after its RDB
    /// preamble, or garbage Redis ignores); counted in `file_bytes`.
    pub trailing_bytes: u64,
}

impl Stats {
    pub fn keys(&self) -> u64 {
        self.dbs.values().map(|d| d.keys).sum()
    }
}

/// Per-db counters of one chunk, indexed by type byte so the per-key work
/// is a few additions (no map look-ups, no string compares).
#[derive(Default, Clone)]
struct Acc {
    keys: u64,
    expiring: u64,
    key_bytes: u64,
    value_bytes: u64,
    by_type_byte: [u64; 32],
}

impl Acc {
    fn add(&mut self, o: &Acc) {
        self.keys += o.keys;
        self.expiring += o.expiring;
        self.key_bytes += o.key_bytes;
        self.value_bytes += o.value_bytes;
        for (a, b) in self.by_type_byte.iter_mut().zip(o.by_type_byte.iter()) {
            *a += b;
        }
    }
}

#[derive(Default)]
struct Partial {
    aux: Vec<(Vec<u8>, Vec<u8>)>,
    dbs: BTreeMap<u64, Acc>,
    largest: Option<Largest>,
    functions: u64,
    module_aux: u64,
    filtered: u64,
}

#[derive(Default)]
struct StatsWorker {
    scratch: Vec<u8>,
}

fn str_bytes(s: &RdbStr<'_>) -> Vec<u8> {
    s.to_vec().unwrap_or_else(|_| b"<undecodable>".to_vec())
}

impl<'a> Worker<'a> for StatsWorker {
    type Out = Partial;
    type Error = SinkError;
    fn process(&mut self, chunk: &Chunk<'a>) -> Result<Partial, SinkError> {
        let mut p = Partial::default();
        // Consecutive records share a db: look the entry up once per run.
        let mut cur_db = u64::MAX;
        let mut acc = Acc::default();
        let mut parser = chunk.parser()?;
        while let Some(item) = parser.next_item()? {
            match &item {
                Item::Key(r) => {
                    if !chunk.keep(r, &mut self.scratch)? {
                        p.filtered += 1;
                        continue;
                    }
                    if r.db != cur_db {
                        if cur_db != u64::MAX {
                            p.dbs.entry(cur_db).or_default().add(&acc);
                            acc = Acc::default();
                        }
                        cur_db = r.db;
                    }
                    acc.keys += 1;
                    acc.expiring += r.expire_ms.is_some() as u64;
                    acc.by_type_byte[(r.type_byte & 31) as usize] += 1;
                    acc.key_bytes += r.key.decoded_len();
                    let vb = r.value.len() as u64;
                    acc.value_bytes += vb;
                    if p.largest.as_ref().is_none_or(|l| vb > l.bytes) {
                        p.largest = Some(Largest {
                            db: r.db,
                            key: str_bytes(&r.key),
                            kind: r.vtype.kind().name(),
                            bytes: vb,
                        });
                    }
                }
                Item::Aux { key, value } => p.aux.push((str_bytes(key), str_bytes(value))),
                Item::Function { .. } | Item::FunctionPreGa(_) => p.functions += 1,
                Item::ModuleAux(_) => p.module_aux += 1,
                _ => {}
            }
        }
        if cur_db != u64::MAX {
            p.dbs.entry(cur_db).or_default().add(&acc);
        }
        Ok(p)
    }
}

/// Computes statistics over a whole file.
pub fn compute(
    data: &[u8],
    engine: &EngineOptions,
    progress: Option<Progress<'_>>,
) -> Result<Stats, SinkError> {
    let mut st = Stats {
        file_bytes: data.len() as u64,
        ..Default::default()
    };
    let mut accs: BTreeMap<u64, Acc> = BTreeMap::new();
    let info = scan::run(
        data,
        engine,
        StatsWorker::default,
        |p: Partial, _| {
            st.aux.extend(p.aux);
            for (db, a) in p.dbs {
                accs.entry(db).or_default().add(&a);
            }
            if let Some(l) = p.largest {
                if st.largest.as_ref().is_none_or(|m| l.bytes > m.bytes) {
                    st.largest = Some(l);
                }
            }
            st.functions += p.functions;
            st.module_aux += p.module_aux;
            st.filtered += p.filtered;
            Ok(())
        },
        progress,
    )?;
    let dialect = info.header.map(|h| h.dialect).unwrap_or(Dialect::Redis);
    if let Some(Header { version, .. }) = info.header {
        st.version = version;
        st.dialect = match dialect {
            Dialect::Redis => "redis",
            Dialect::Valkey => "valkey",
        };
    }
    for (db, a) in accs {
        let mut d = DbStats {
            keys: a.keys,
            expiring: a.expiring,
            key_bytes: a.key_bytes,
            value_bytes: a.value_bytes,
            ..Default::default()
        };
        for (t, &n) in a.by_type_byte.iter().enumerate() {
            if n == 0 {
                continue;
            }
            if let Some(vt) = ValueType::from_byte(t as u8, dialect) {
                let kind = vt.kind().name();
                *d.by_type.entry(kind).or_default() += n;
                *d.by_encoding
                    .entry(format!("{kind}/{}", vt.encoding()))
                    .or_default() += n;
            }
        }
        st.dbs.insert(db, d);
    }
    st.checksum = info.checksum;
    st.trailing_bytes = info.trailing_bytes;
    st.checksum_verified = info.checksum_verified;
    Ok(st)
}

/// Machine-readable form.
pub fn to_json(st: &Stats) -> Vec<u8> {
    let mut o = Vec::new();
    o.extend_from_slice(b"{\"file_bytes\":");
    write_u64(&mut o, st.file_bytes);
    o.extend_from_slice(b",\"rdb_version\":");
    write_u64(&mut o, st.version as u64);
    o.extend_from_slice(b",\"dialect\":");
    write_str(&mut o, st.dialect.as_bytes());
    o.extend_from_slice(b",\"keys\":");
    write_u64(&mut o, st.keys());
    o.extend_from_slice(b",\"aux\":{");
    for (i, (k, v)) in st.aux.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        write_bytes(&mut o, k);
        o.push(b':');
        write_bytes(&mut o, v);
    }
    o.extend_from_slice(b"},\"dbs\":{");
    for (i, (db, d)) in st.dbs.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.push(b'"');
        write_u64(&mut o, *db);
        o.extend_from_slice(b"\":{\"keys\":");
        write_u64(&mut o, d.keys);
        o.extend_from_slice(b",\"expiring\":");
        write_u64(&mut o, d.expiring);
        o.extend_from_slice(b",\"key_bytes\":");
        write_u64(&mut o, d.key_bytes);
        o.extend_from_slice(b",\"value_bytes\":");
        write_u64(&mut o, d.value_bytes);
        o.extend_from_slice(b",\"types\":{");
        for (j, (t, n)) in d.by_type.iter().enumerate() {
            if j > 0 {
                o.push(b',');
            }
            write_str(&mut o, t.as_bytes());
            o.push(b':');
            write_u64(&mut o, *n);
        }
        o.extend_from_slice(b"},\"encodings\":{");
        for (j, (t, n)) in d.by_encoding.iter().enumerate() {
            if j > 0 {
                o.push(b',');
            }
            write_str(&mut o, t.as_bytes());
            o.push(b':');
            write_u64(&mut o, *n);
        }
        o.extend_from_slice(b"}}");
    }
    o.extend_from_slice(b"},\"largest\":");
    match &st.largest {
        Some(l) => {
            o.extend_from_slice(b"{\"db\":");
            write_u64(&mut o, l.db);
            o.extend_from_slice(b",\"key\":");
            write_bytes(&mut o, &l.key);
            o.extend_from_slice(b",\"type\":");
            write_str(&mut o, l.kind.as_bytes());
            o.extend_from_slice(b",\"value_bytes\":");
            write_u64(&mut o, l.bytes);
            o.push(b'}');
        }
        None => o.extend_from_slice(b"null"),
    }
    o.extend_from_slice(b",\"functions\":");
    write_u64(&mut o, st.functions);
    o.extend_from_slice(b",\"module_aux\":");
    write_u64(&mut o, st.module_aux);
    o.extend_from_slice(b",\"checksum\":");
    match st.checksum {
        Some(c) => o.extend_from_slice(format!("\"{c:016x}\"").as_bytes()),
        None => o.extend_from_slice(b"null"),
    }
    o.extend_from_slice(b",\"filtered\":");
    write_u64(&mut o, st.filtered);
    o.extend_from_slice(b",\"checksum_verified\":");
    o.extend_from_slice(if st.checksum_verified {
        b"true"
    } else {
        b"false"
    });
    o.extend_from_slice(b"}\n");
    o
}

/// Human-readable table.
/// `2026-12-03 14:14:48 UTC` for seconds since the Unix epoch (the
/// snapshot's `ctime`, which a user otherwise has to convert by hand).
pub fn utc_date(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

pub fn to_text(st: &Stats) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "file            {} bytes", st.file_bytes);
    let _ = writeln!(
        s,
        "format          {} RDB version {}",
        st.dialect, st.version
    );
    let checksum = match (st.checksum, st.checksum_verified) {
        (None, _) => "none (RDB < 5)".to_string(),
        (Some(0), _) => "disabled (trailer is zero)".to_string(),
        (Some(c), true) => format!("{c:016x} (verified)"),
        (Some(c), false) => format!("{c:016x} (not verified)"),
    };
    let _ = writeln!(s, "checksum        {checksum}");
    for (k, v) in &st.aux {
        let text = String::from_utf8_lossy(v);
        let date = match (k.as_slice(), text.parse::<i64>()) {
            (b"ctime", Ok(secs)) => format!("  ({})", utc_date(secs)),
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "aux {:<12}{}{date}",
            String::from_utf8_lossy(k),
            text.escape_debug()
        );
    }
    let _ = writeln!(s, "keys            {}", st.keys());
    if st.filtered > 0 {
        let _ = writeln!(s, "filtered out    {}", st.filtered);
    }
    if st.functions > 0 {
        let _ = writeln!(s, "functions       {}", st.functions);
    }
    if st.module_aux > 0 {
        let _ = writeln!(s, "module aux      {}", st.module_aux);
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:>4} {:>12} {:>10} {:>14} {:>16}  types",
        "db", "keys", "expiring", "key bytes", "value bytes"
    );
    for (db, d) in &st.dbs {
        let types: Vec<String> = d
            .by_encoding
            .iter()
            .map(|(t, n)| format!("{t}={n}"))
            .collect();
        let _ = writeln!(
            s,
            "{:>4} {:>12} {:>10} {:>14} {:>16}  {}",
            db,
            d.keys,
            d.expiring,
            d.key_bytes,
            d.value_bytes,
            types.join(" ")
        );
    }
    if let Some(l) = &st.largest {
        let _ = writeln!(
            s,
            "\nlargest value   db {} {} {:?} ({} bytes serialized)",
            l.db,
            l.kind,
            String::from_utf8_lossy(&l.key),
            l.bytes
        );
    }
    s
}
