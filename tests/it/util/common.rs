//! Shared helpers of the fixture tests: locating fixtures, running the JSON
//! converter, reading the ground truth and comparing one converted key line
//! with one truth line semantically.
//!
//! The truth format is described in `testdata/README.md` ("Truth format").
//! Our format is the `rdbkit json` contract:
//! `{"db":0,"key":K,"type":T,"expire_ms":X,"value":V,"field_expire_ms":F}`
//! with `expire_ms` / `field_expire_ms` absent when there is nothing to say.
//!
//! Every comparison function returns `Err(message)` naming the first
//! differing element (a path such as `value.groups[1].pending[0] consumer`)
//! and both sides; callers prefix the fixture, DB and key.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rdbkit::sink::json::{to_vec, JsonOptions};
use serde_json::{Map, Value};

// ---------------------------------------------------------------------------
// Fixtures on disk
// ---------------------------------------------------------------------------

/// `<crate>/testdata`.
pub fn testdata_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// A fixture path relative to `testdata/` (for messages), `/`-separated.
pub fn rel(path: &Path) -> String {
    let base = testdata_dir();
    let p = path.strip_prefix(&base).unwrap_or(path);
    p.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// `testdata/<rel>`.
pub fn fixture(rel: &str) -> PathBuf {
    testdata_dir().join(rel)
}

/// Every `*.rdb` under `testdata/`, sorted by path.
pub fn all_rdb_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let rd =
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in rd {
            let entry = entry.expect("directory entry");
            let p = entry.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "rdb") {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(&testdata_dir(), &mut out);
    out.sort();
    assert!(
        !out.is_empty(),
        "no *.rdb fixtures under {}",
        testdata_dir().display()
    );
    out
}

/// `dir/name.rdb` -> `dir/name<suffix>` (e.g. `.expected.jsonl`).
pub fn sibling(rdb: &Path, suffix: &str) -> PathBuf {
    let name = rdb.file_name().unwrap().to_string_lossy();
    let stem = name.strip_suffix(".rdb").unwrap_or(&name);
    rdb.with_file_name(format!("{stem}{suffix}"))
}

pub fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// The parsed `<name>.meta.json` of a fixture.
pub fn meta_json(rdb: &Path) -> Value {
    let p = sibling(rdb, ".meta.json");
    serde_json::from_slice(&read(&p)).unwrap_or_else(|e| panic!("{}: bad JSON: {e}", rel(&p)))
}

/// Lines of a JSONL file (empty when the file does not exist).
pub fn read_jsonl(path: &Path) -> Vec<Value> {
    if !path.exists() {
        return Vec::new();
    }
    parse_jsonl(&read(path)).unwrap_or_else(|e| panic!("{}: {e}", rel(path)))
}

/// The RDB version of a file from its 9-byte header (`REDIS00NN` or
/// `VALKEYNNN`), or `None` when the header is not recognised.
pub fn rdb_version(data: &[u8]) -> Option<u32> {
    let digits = if data.starts_with(b"REDIS") && data.len() >= 9 {
        &data[5..9]
    } else if data.starts_with(b"VALKEY") && data.len() >= 9 {
        &data[6..9]
    } else {
        return None;
    };
    std::str::from_utf8(digits).ok()?.parse().ok()
}

// ---------------------------------------------------------------------------
// Running the converter
// ---------------------------------------------------------------------------

#[allow(clippy::needless_update)] // stays correct if JsonOptions gains fields
pub fn opts(meta: bool, verify_checksum: bool) -> JsonOptions {
    JsonOptions {
        meta,
        verify_checksum,
        ..JsonOptions::default()
    }
}

/// `to_vec` with the given options.
pub fn convert(data: &[u8], meta: bool, verify_checksum: bool) -> Result<Vec<u8>, rdbkit::Error> {
    to_vec(data, &opts(meta, verify_checksum))
}

/// Parses JSON Lines: every non-empty line must be a JSON object.
pub fn parse_jsonl(bytes: &[u8]) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.is_empty() {
            continue;
        }
        let v: Value = serde_json::from_slice(line)
            .map_err(|e| format!("line {}: not JSON ({e}): {}", i + 1, short_bytes(line)))?;
        if !v.is_object() {
            return Err(format!("line {}: not a JSON object: {}", i + 1, short(&v)));
        }
        out.push(v);
    }
    if !bytes.is_empty() && !bytes.ends_with(b"\n") {
        return Err("output does not end with a newline".into());
    }
    Ok(out)
}

/// Lines that describe keys (have a `key` member).
pub fn key_lines(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l.get("key").is_some()).collect()
}

/// Converts a fixture (default options) and returns its key lines.
pub fn convert_keys(data: &[u8], verify_checksum: bool) -> Result<Vec<Value>, String> {
    let out =
        convert(data, false, verify_checksum).map_err(|e| format!("conversion failed: {e}"))?;
    let lines = parse_jsonl(&out).map_err(|e| format!("bad output: {e}"))?;
    Ok(lines
        .into_iter()
        .filter(|l| l.get("key").is_some())
        .collect())
}

// ---------------------------------------------------------------------------
// Byte strings
// ---------------------------------------------------------------------------

/// Decodes a byte string: a JSON string (its UTF-8 bytes) or `{"b64": ...}`.
pub fn bytes_of(v: &Value) -> Result<Vec<u8>, String> {
    match v {
        Value::String(s) => Ok(s.as_bytes().to_vec()),
        Value::Object(m) if m.len() == 1 && m.contains_key("b64") => match &m["b64"] {
            Value::String(s) => b64decode(s).map_err(|e| format!("bad base64 {}: {e}", short(v))),
            other => Err(format!("b64 member is not a string: {}", short(other))),
        },
        other => Err(format!("not a byte string: {}", short(other))),
    }
}

/// Standard base64 with padding (RFC 4648 section 4), strict.
pub fn b64decode(s: &str) -> Result<Vec<u8>, String> {
    fn val(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some((c - b'A') as u32),
            b'a'..=b'z' => Some((c - b'a' + 26) as u32),
            b'0'..=b'9' => Some((c - b'0' + 52) as u32),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let b = s.as_bytes();
    if b.len() % 4 != 0 {
        return Err(format!("length {} is not a multiple of 4", b.len()));
    }
    let mut out = Vec::with_capacity(b.len() / 4 * 3);
    for (i, chunk) in b.chunks(4).enumerate() {
        let last = i == b.len() / 4 - 1;
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return Err("misplaced padding".into());
        }
        let mut n: u32 = 0;
        for &c in &chunk[..4 - pad] {
            n = (n << 6) | val(c).ok_or_else(|| format!("invalid character {:?}", c as char))?;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Ok(out)
}

/// A readable rendering of bytes: the UTF-8 text when valid, else escaped.
pub fn show(b: &[u8]) -> String {
    let s = match std::str::from_utf8(b) {
        Ok(s) => format!("{s:?}"),
        Err(_) => {
            let mut s = String::from("b\"");
            for &c in b {
                if c.is_ascii_graphic() || c == b' ' {
                    if c == b'"' || c == b'\\' {
                        s.push('\\');
                    }
                    s.push(c as char);
                } else {
                    let _ = write!(s, "\\x{c:02x}");
                }
            }
            s.push('"');
            s
        }
    };
    truncate(s, 160)
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// Compact JSON of a value, cut to a readable length.
pub fn short(v: &Value) -> String {
    truncate(v.to_string(), 200)
}

fn short_bytes(b: &[u8]) -> String {
    truncate(String::from_utf8_lossy(b).into_owned(), 200)
}

// ---------------------------------------------------------------------------
// Key identity
// ---------------------------------------------------------------------------

/// `(db, key bytes)` of a key line.
pub fn ident(line: &Value) -> Result<(u64, Vec<u8>), String> {
    let db = line
        .get("db")
        .and_then(Value::as_u64)
        .ok_or_else(|| format!("no integer db in {}", short(line)))?;
    let key = bytes_of(
        line.get("key")
            .ok_or_else(|| format!("no key in {}", short(line)))?,
    )?;
    Ok((db, key))
}

/// `db 0 key "name"` for messages.
pub fn ident_str(id: &(u64, Vec<u8>)) -> String {
    format!("db {} key {}", id.0, show(&id.1))
}

// ---------------------------------------------------------------------------
// Semantic comparison of one key line
// ---------------------------------------------------------------------------

type Cmp = Result<(), String>;

/// `(db, key bytes)`.
pub type KeyId = (u64, Vec<u8>);
/// Truth lines keyed by `(db, key)`, in truth order.
pub type Truth = Vec<(KeyId, Value)>;
/// `(name bytes, object)` of a named stream group / consumer.
type Named<'a> = Vec<(Vec<u8>, &'a Map<String, Value>)>;

const PLAIN_TYPES: [&str; 7] = ["string", "list", "set", "zset", "hash", "stream", "array"];

/// Compares one of our key lines with one truth line (see module docs).
/// Members of ours that the truth has no counterpart for (e.g. `idle`,
/// `freq`) are ignored.
pub fn compare_key(ours: &Value, truth: &Value) -> Cmp {
    let o = ours.as_object().ok_or("our line is not an object")?;
    let t = truth.as_object().ok_or("truth line is not an object")?;

    // db, key
    let (odb, okey) = ident(ours)?;
    let (tdb, tkey) = ident(truth)?;
    if odb != tdb {
        return Err(format!("db: ours {odb}, truth {tdb}"));
    }
    if okey != tkey {
        return Err(format!("key: ours {}, truth {}", show(&okey), show(&tkey)));
    }

    // type
    let ttype = t
        .get("type")
        .and_then(Value::as_str)
        .ok_or("truth has no type")?;
    let otype = o
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no string type in {}", short(ours)))?;
    let module_truth = !PLAIN_TYPES.contains(&ttype);
    if module_truth {
        if otype != "module" {
            return Err(format!(
                "type: ours {otype:?}, truth module type {ttype:?} (expected \"module\")"
            ));
        }
    } else if otype != ttype {
        return Err(format!("type: ours {otype:?}, truth {ttype:?}"));
    }

    // expire_ms: truth null <=> ours absent
    match (o.get("expire_ms"), t.get("expire_ms")) {
        (None, None) | (None, Some(Value::Null)) => {}
        (Some(Value::Null), _) => {
            return Err("expire_ms: ours null (the contract says absent when no TTL)".into())
        }
        (Some(ov), None | Some(Value::Null)) => {
            return Err(format!("expire_ms: ours {}, truth null", short(ov)))
        }
        (None, Some(tv)) => return Err(format!("expire_ms: ours absent, truth {}", short(tv))),
        (Some(ov), Some(tv)) => {
            if int_of(ov) != int_of(tv) || int_of(ov).is_none() {
                return Err(format!(
                    "expire_ms: ours {}, truth {}",
                    short(ov),
                    short(tv)
                ));
            }
        }
    }

    let oval = o.get("value").ok_or("ours has no value")?;
    let tval = t.get("value").ok_or("truth has no value")?;
    if module_truth {
        return compare_module(oval, ttype);
    }
    match ttype {
        "string" => compare_bytes("value", oval, tval),
        "list" => compare_list("value", oval, tval),
        "set" => compare_set("value", oval, tval),
        "zset" => compare_zset("value", oval, tval),
        "hash" => {
            compare_map("value", oval, tval)?;
            compare_field_expire(o.get("field_expire_ms"), t.get("field_expire_ms"))
        }
        "stream" => compare_stream(oval, tval),
        "array" => compare_array(oval, tval),
        _ => unreachable!(),
    }
    .and_then(|_| {
        if ttype != "hash" {
            if let Some(f) = o.get("field_expire_ms") {
                return Err(format!("field_expire_ms on a {ttype}: {}", short(f)));
            }
        }
        Ok(())
    })
}

/// An integer JSON number as i128 (covers u64 and i64).
fn int_of(v: &Value) -> Option<i128> {
    v.as_u64()
        .map(|u| u as i128)
        .or_else(|| v.as_i64().map(|i| i as i128))
}

fn compare_module(oval: &Value, module_name: &str) -> Cmp {
    let m = oval
        .as_object()
        .ok_or_else(|| format!("value: module value is not an object: {}", short(oval)))?;
    match m.get("module").and_then(Value::as_str) {
        Some(n) if n == module_name => {}
        other => {
            return Err(format!(
                "value.module: ours {other:?}, truth module type {module_name:?}"
            ))
        }
    }
    match m.get("b64") {
        Some(Value::String(s)) => b64decode(s)
            .map(|_| ())
            .map_err(|e| format!("value.b64: {e}")),
        other => Err(format!(
            "value.b64: expected a base64 string, got {other:?}"
        )),
    }
}

fn compare_bytes(path: &str, o: &Value, t: &Value) -> Cmp {
    let ob = bytes_of(o).map_err(|e| format!("{path}: ours: {e}"))?;
    let tb = bytes_of(t).map_err(|e| format!("{path}: truth: {e}"))?;
    if ob != tb {
        return Err(format!(
            "{path}: ours {} ({} B), truth {} ({} B)",
            show(&ob),
            ob.len(),
            show(&tb),
            tb.len()
        ));
    }
    Ok(())
}

fn array<'a>(path: &str, side: &str, v: &'a Value) -> Result<&'a Vec<Value>, String> {
    v.as_array()
        .ok_or_else(|| format!("{path}: {side} is not an array: {}", short(v)))
}

fn byte_list(path: &str, side: &str, v: &Value) -> Result<Vec<Vec<u8>>, String> {
    array(path, side, v)?
        .iter()
        .enumerate()
        .map(|(i, e)| bytes_of(e).map_err(|err| format!("{path}[{i}]: {side}: {err}")))
        .collect()
}

fn compare_list(path: &str, o: &Value, t: &Value) -> Cmp {
    let ol = byte_list(path, "ours", o)?;
    let tl = byte_list(path, "truth", t)?;
    for (i, (a, b)) in ol.iter().zip(&tl).enumerate() {
        if a != b {
            return Err(format!(
                "{path}[{i}]: ours {}, truth {} (lengths ours {}, truth {})",
                show(a),
                show(b),
                ol.len(),
                tl.len()
            ));
        }
    }
    if ol.len() != tl.len() {
        let i = ol.len().min(tl.len());
        let extra = if ol.len() > tl.len() {
            format!("ours has extra {}", show(&ol[i]))
        } else {
            format!("ours lacks {}", show(&tl[i]))
        };
        return Err(format!(
            "{path}: length ours {}, truth {}; at [{i}] {extra}",
            ol.len(),
            tl.len()
        ));
    }
    Ok(())
}

/// Sets: compared as multisets.
fn compare_set(path: &str, o: &Value, t: &Value) -> Cmp {
    let mut ol = byte_list(path, "ours", o)?;
    let mut tl = byte_list(path, "truth", t)?;
    ol.sort();
    tl.sort();
    compare_sorted_multisets(path, &ol, &tl)
}

fn compare_sorted_multisets(path: &str, ol: &[Vec<u8>], tl: &[Vec<u8>]) -> Cmp {
    let (mut i, mut j) = (0, 0);
    while i < ol.len() && j < tl.len() {
        match ol[i].cmp(&tl[j]) {
            std::cmp::Ordering::Equal => {
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                return Err(format!(
                    "{path}: ours has {} which the truth lacks (sizes ours {}, truth {})",
                    show(&ol[i]),
                    ol.len(),
                    tl.len()
                ))
            }
            std::cmp::Ordering::Greater => {
                return Err(format!(
                    "{path}: ours lacks {} (sizes ours {}, truth {})",
                    show(&tl[j]),
                    ol.len(),
                    tl.len()
                ))
            }
        }
    }
    if i < ol.len() {
        return Err(format!(
            "{path}: ours has {} which the truth lacks (sizes ours {}, truth {})",
            show(&ol[i]),
            ol.len(),
            tl.len()
        ));
    }
    if j < tl.len() {
        return Err(format!(
            "{path}: ours lacks {} (sizes ours {}, truth {})",
            show(&tl[j]),
            ol.len(),
            tl.len()
        ));
    }
    Ok(())
}

/// A zset score: truth uses strings (`"1.0"`, `"inf"`, `"1e+300"`), ours
/// numbers or `"inf"` / `"-inf"` / `"nan"`.
fn score_of(side: &str, v: &Value) -> Result<f64, String> {
    match v {
        Value::Number(n) if side == "ours" => n
            .as_f64()
            .ok_or_else(|| format!("score {n} not representable")),
        Value::String(s) if side == "ours" => match s.as_str() {
            "inf" => Ok(f64::INFINITY),
            "-inf" => Ok(f64::NEG_INFINITY),
            "nan" => Ok(f64::NAN),
            _ => Err(format!(
                "score string {s:?} (only \"inf\", \"-inf\", \"nan\" may be strings)"
            )),
        },
        Value::String(s) => s
            .parse::<f64>()
            .map_err(|e| format!("truth score {s:?}: {e}")),
        other => Err(format!("{side} score is not a number: {}", short(other))),
    }
}

fn same_f64(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a == b
}

fn zset_pairs(path: &str, side: &str, v: &Value) -> Result<Vec<(Vec<u8>, f64)>, String> {
    let mut out = Vec::new();
    for (i, e) in array(path, side, v)?.iter().enumerate() {
        let p = e.as_array().filter(|p| p.len() == 2).ok_or_else(|| {
            format!(
                "{path}[{i}]: {side}: not a [member, score] pair: {}",
                short(e)
            )
        })?;
        let m = bytes_of(&p[0]).map_err(|err| format!("{path}[{i}]: {side} member: {err}"))?;
        let s = score_of(side, &p[1]).map_err(|err| format!("{path}[{i}]: {err}"))?;
        out.push((m, s));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn compare_zset(path: &str, o: &Value, t: &Value) -> Cmp {
    let ol = zset_pairs(path, "ours", o)?;
    let tl = zset_pairs(path, "truth", t)?;
    for (i, (a, b)) in ol.iter().zip(&tl).enumerate() {
        if a.0 != b.0 {
            return Err(format!(
                "{path} (sorted by member) [{i}]: member ours {}, truth {} (sizes ours {}, truth {})",
                show(&a.0),
                show(&b.0),
                ol.len(),
                tl.len()
            ));
        }
        if !same_f64(a.1, b.1) {
            return Err(format!(
                "{path}: member {}: score ours {:?}, truth {:?}",
                show(&a.0),
                a.1,
                b.1
            ));
        }
    }
    if ol.len() != tl.len() {
        return Err(format!(
            "{path}: size ours {}, truth {}",
            ol.len(),
            tl.len()
        ));
    }
    Ok(())
}

/// A byte-keyed map in either shape (object, or array of `[k, v]` pairs),
/// as a list sorted by key bytes (duplicates kept, so they show up).
pub fn map_pairs<'a>(
    path: &str,
    side: &str,
    v: &'a Value,
) -> Result<Vec<(Vec<u8>, &'a Value)>, String> {
    let mut out = Vec::new();
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                out.push((k.as_bytes().to_vec(), val));
            }
        }
        Value::Array(a) => {
            for (i, e) in a.iter().enumerate() {
                let p = e.as_array().filter(|p| p.len() == 2).ok_or_else(|| {
                    format!(
                        "{path}[{i}]: {side}: not a [field, value] pair: {}",
                        short(e)
                    )
                })?;
                let k =
                    bytes_of(&p[0]).map_err(|err| format!("{path}[{i}]: {side} field: {err}"))?;
                out.push((k, &p[1]));
            }
        }
        other => {
            return Err(format!(
                "{path}: {side} is neither an object nor an array of pairs: {}",
                short(other)
            ))
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Generic comparison of two byte-keyed maps whose values are compared by `cmp`.
fn compare_map_with(
    path: &str,
    o: &Value,
    t: &Value,
    cmp: &dyn Fn(&str, &Value, &Value) -> Cmp,
) -> Cmp {
    let ol = map_pairs(path, "ours", o)?;
    let tl = map_pairs(path, "truth", t)?;
    for w in ol.windows(2) {
        if w[0].0 == w[1].0 {
            return Err(format!("{path}: ours has field {} twice", show(&w[0].0)));
        }
    }
    let okeys: Vec<Vec<u8>> = ol.iter().map(|p| p.0.clone()).collect();
    let tkeys: Vec<Vec<u8>> = tl.iter().map(|p| p.0.clone()).collect();
    compare_sorted_multisets(&format!("{path} fields"), &okeys, &tkeys)?;
    for ((k, ov), (_, tv)) in ol.iter().zip(&tl) {
        cmp(&format!("{path}[{}]", show(k)), ov, tv)?;
    }
    Ok(())
}

/// Hash values / stream entry field maps: byte-keyed maps of byte strings.
fn compare_map(path: &str, o: &Value, t: &Value) -> Cmp {
    compare_map_with(path, o, t, &compare_bytes)
}

/// Stream entry field maps: like a hash, but an entry may repeat a field
/// name (XADD allows it; the truth then uses the pairs shape), so they are
/// compared as multisets of (field, value) pairs.
fn compare_entry_fields(path: &str, o: &Value, t: &Value) -> Cmp {
    let decode = |side: &str, v: &Value| -> Result<Vec<Vec<u8>>, String> {
        let mut out = Vec::new();
        for (k, val) in map_pairs(path, side, v)? {
            let val = bytes_of(val).map_err(|e| format!("{path}[{}]: {side}: {e}", show(&k)))?;
            // one comparable item per pair: len(field) || field || value
            let mut item = (k.len() as u64).to_be_bytes().to_vec();
            item.extend_from_slice(&k);
            item.extend_from_slice(&val);
            out.push(item);
        }
        out.sort();
        Ok(out)
    };
    let (ol, tl) = (decode("ours", o)?, decode("truth", t)?);
    if ol != tl {
        let f = |v: &Value| short(v);
        return Err(format!("{path}: ours {}, truth {}", f(o), f(t)));
    }
    Ok(())
}

fn compare_int(path: &str, o: &Value, t: &Value) -> Cmp {
    match (int_of(o), int_of(t)) {
        (Some(a), Some(b)) if a == b => Ok(()),
        _ => Err(format!("{path}: ours {}, truth {}", short(o), short(t))),
    }
}

/// `field_expire_ms`: absent and empty are the same ("no field TTLs").
fn compare_field_expire(o: Option<&Value>, t: Option<&Value>) -> Cmp {
    let empty = Value::Object(Map::new());
    let norm = |v: Option<&Value>| match v {
        None | Some(Value::Null) => empty.clone(),
        Some(v) => v.clone(),
    };
    compare_map_with("field_expire_ms", &norm(o), &norm(t), &compare_int)
}

// ---------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------

fn parse_id(s: &str) -> Option<(u64, u64)> {
    let (a, b) = s.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn id_str<'a>(path: &str, side: &str, v: &'a Value) -> Result<&'a str, String> {
    let s = v
        .as_str()
        .ok_or_else(|| format!("{path}: {side} stream ID is not a string: {}", short(v)))?;
    parse_id(s).ok_or_else(|| format!("{path}: {side} stream ID {s:?} is not \"ms-seq\""))?;
    Ok(s)
}

fn obj<'a>(path: &str, side: &str, v: &'a Value) -> Result<&'a Map<String, Value>, String> {
    v.as_object()
        .ok_or_else(|| format!("{path}: {side} is not an object: {}", short(v)))
}

/// A member that the truth writes as `null` and ours omits when unknown.
fn compare_optional(
    path: &str,
    o: Option<&Value>,
    t: Option<&Value>,
    null_like: &dyn Fn(&Value) -> bool,
) -> Cmp {
    let tv = t.filter(|v| !v.is_null());
    let ov = o.filter(|v| !null_like(v));
    match (ov, tv) {
        (None, None) => Ok(()),
        (Some(a), None) => Err(format!("{path}: ours {}, truth null", short(a))),
        (None, Some(b)) => Err(format!("{path}: ours absent, truth {}", short(b))),
        (Some(a), Some(b)) => {
            if a == b || (int_of(a).is_some() && int_of(a) == int_of(b)) {
                Ok(())
            } else {
                Err(format!("{path}: ours {}, truth {}", short(a), short(b)))
            }
        }
    }
}

fn is_null(v: &Value) -> bool {
    v.is_null()
}

/// `entries_read`: the truth is null when the server holds no valid value,
/// which is what the file's "invalid" sentinel (-1 as a 64-bit length,
/// i.e. u64::MAX) means; ours may omit it or pass the sentinel through.
fn entries_read_unknown(v: &Value) -> bool {
    v.is_null() || v.as_u64() == Some(u64::MAX) || v.as_i64() == Some(-1)
}

fn compare_stream(o: &Value, t: &Value) -> Cmp {
    let o = obj("value", "ours", o)?;
    let t = obj("value", "truth", t)?;

    // entries
    let oe = array(
        "value.entries",
        "ours",
        o.get("entries").unwrap_or(&Value::Null),
    )?;
    let te = array(
        "value.entries",
        "truth",
        t.get("entries").unwrap_or(&Value::Null),
    )?;
    for (i, (a, b)) in oe.iter().zip(te).enumerate() {
        let p = format!("value.entries[{i}]");
        let a = a
            .as_array()
            .filter(|x| x.len() == 2)
            .ok_or_else(|| format!("{p}: ours is not [id, fields]: {}", short(a)))?;
        let b = b
            .as_array()
            .filter(|x| x.len() == 2)
            .ok_or_else(|| format!("{p}: truth is not [id, fields]: {}", short(b)))?;
        let (ai, bi) = (id_str(&p, "ours", &a[0])?, id_str(&p, "truth", &b[0])?);
        if ai != bi {
            return Err(format!(
                "{p} id: ours {ai}, truth {bi} (counts ours {}, truth {})",
                oe.len(),
                te.len()
            ));
        }
        compare_entry_fields(&format!("{p} ({ai}) fields"), &a[1], &b[1])?;
    }
    if oe.len() != te.len() {
        return Err(format!(
            "value.entries: count ours {}, truth {}",
            oe.len(),
            te.len()
        ));
    }

    compare_int(
        "value.length",
        o.get("length").unwrap_or(&Value::Null),
        t.get("length").unwrap_or(&Value::Null),
    )?;
    let ol = id_str(
        "value.last_id",
        "ours",
        o.get("last_id").unwrap_or(&Value::Null),
    )?;
    let tl = id_str(
        "value.last_id",
        "truth",
        t.get("last_id").unwrap_or(&Value::Null),
    )?;
    if ol != tl {
        return Err(format!("value.last_id: ours {ol}, truth {tl}"));
    }
    compare_optional(
        "value.first_id (truth first_entry_id)",
        o.get("first_id"),
        t.get("first_entry_id"),
        &is_null,
    )?;
    compare_optional(
        "value.max_deleted_id (truth max_deleted_entry_id)",
        o.get("max_deleted_id"),
        t.get("max_deleted_entry_id"),
        &is_null,
    )?;
    compare_optional(
        "value.entries_added",
        o.get("entries_added"),
        t.get("entries_added"),
        &is_null,
    )?;

    // groups: truth sorted by name bytes, ours in file order
    let empty = Vec::new();
    let og = match o.get("groups") {
        None => &empty,
        Some(v) => array("value.groups", "ours", v)?,
    };
    let tg = array(
        "value.groups",
        "truth",
        t.get("groups").unwrap_or(&Value::Null),
    )?;
    let mut og_named = named("value.groups", "ours", og)?;
    let mut tg_named = named("value.groups", "truth", tg)?;
    og_named.sort_by(|a, b| a.0.cmp(&b.0));
    tg_named.sort_by(|a, b| a.0.cmp(&b.0));
    let on: Vec<Vec<u8>> = og_named.iter().map(|g| g.0.clone()).collect();
    let tn: Vec<Vec<u8>> = tg_named.iter().map(|g| g.0.clone()).collect();
    compare_sorted_multisets("value.groups names", &on, &tn)?;
    for ((name, a), (_, b)) in og_named.iter().zip(&tg_named) {
        compare_group(&format!("value.groups[{}]", show(name)), a, b)?;
    }
    Ok(())
}

/// `(name bytes, object)` of each element of an array of named objects.
fn named<'a>(path: &str, side: &str, a: &'a [Value]) -> Result<Named<'a>, String> {
    a.iter()
        .enumerate()
        .map(|(i, g)| {
            let p = format!("{path}[{i}]");
            let m = obj(&p, side, g)?;
            let n = bytes_of(m.get("name").unwrap_or(&Value::Null))
                .map_err(|e| format!("{p}.name: {side}: {e}"))?;
            Ok((n, m))
        })
        .collect()
}

fn compare_group(p: &str, o: &Map<String, Value>, t: &Map<String, Value>) -> Cmp {
    let null = Value::Null;
    let ol = id_str(
        &format!("{p}.last_delivered_id"),
        "ours",
        o.get("last_delivered_id").unwrap_or(&null),
    )?;
    let tl = id_str(
        &format!("{p}.last_delivered_id"),
        "truth",
        t.get("last_delivered_id").unwrap_or(&null),
    )?;
    if ol != tl {
        return Err(format!("{p}.last_delivered_id: ours {ol}, truth {tl}"));
    }
    compare_optional(
        &format!("{p}.entries_read"),
        o.get("entries_read"),
        t.get("entries_read"),
        &entries_read_unknown,
    )?;

    // pending: truth [[id, consumer, count]] + pending_delivery_time_ms {id: ms};
    // ours [[id, consumer, count, time]]. Both compared in ID order.
    let tdt = obj(
        &format!("{p}.pending_delivery_time_ms"),
        "truth",
        t.get("pending_delivery_time_ms").unwrap_or(&null),
    )?;
    let mut tp = Vec::new();
    for (i, e) in array(
        &format!("{p}.pending"),
        "truth",
        t.get("pending").unwrap_or(&null),
    )?
    .iter()
    .enumerate()
    {
        let q = format!("{p}.pending[{i}]");
        let a = e
            .as_array()
            .filter(|a| a.len() == 3)
            .ok_or_else(|| format!("{q}: truth is not [id, consumer, count]"))?;
        let id = id_str(&q, "truth", &a[0])?;
        let time = tdt
            .get(id)
            .ok_or_else(|| format!("{q}: truth has no delivery time for {id}"))?;
        tp.push((parse_id(id).unwrap(), id, owner_of(&a[1])?, &a[2], time));
    }
    let mut op = Vec::new();
    let empty = Vec::new();
    let opv = match o.get("pending") {
        None => &empty,
        Some(v) => array(&format!("{p}.pending"), "ours", v)?,
    };
    for (i, e) in opv.iter().enumerate() {
        let q = format!("{p}.pending[{i}]");
        let a = e.as_array().filter(|a| a.len() == 4).ok_or_else(|| {
            format!(
                "{q}: ours is not [id, consumer, delivery_count, delivery_time_ms]: {}",
                short(e)
            )
        })?;
        let id = id_str(&q, "ours", &a[0])?;
        let c = owner_of(&a[1]).map_err(|err| format!("{q} consumer: ours: {err}"))?;
        op.push((parse_id(id).unwrap(), id, c, &a[2], &a[3]));
    }
    tp.sort_by_key(|x| x.0);
    op.sort_by_key(|x| x.0);
    for (a, b) in op.iter().zip(&tp) {
        let q = format!("{p}.pending (ID order)");
        if a.1 != b.1 {
            return Err(format!(
                "{q}: id ours {}, truth {} (counts ours {}, truth {})",
                a.1,
                b.1,
                op.len(),
                tp.len()
            ));
        }
        let q = format!("{p}.pending[{}]", a.1);
        if a.2 != b.2 {
            let s = |o: &Option<Vec<u8>>| o.as_deref().map_or("none".to_string(), show);
            return Err(format!("{q} consumer: ours {}, truth {}", s(&a.2), s(&b.2)));
        }
        compare_int(&format!("{q} delivery_count"), a.3, b.3)?;
        compare_int(&format!("{q} delivery_time_ms"), a.4, b.4)?;
    }
    if op.len() != tp.len() {
        return Err(format!(
            "{p}.pending: count ours {}, truth {}",
            op.len(),
            tp.len()
        ));
    }

    // consumers: truth [names] + consumer_seen_time_ms + consumer_active_time_ms | null
    let tnames = byte_list(
        &format!("{p}.consumers"),
        "truth",
        t.get("consumers").unwrap_or(&null),
    )?;
    let tseen = map_pairs(
        &format!("{p}.consumer_seen_time_ms"),
        "truth",
        t.get("consumer_seen_time_ms").unwrap_or(&null),
    )?;
    let tactive = match t.get("consumer_active_time_ms") {
        None | Some(Value::Null) => None,
        Some(v) => Some(map_pairs(
            &format!("{p}.consumer_active_time_ms"),
            "truth",
            v,
        )?),
    };
    let oc = match o.get("consumers") {
        None => &empty,
        Some(v) => array(&format!("{p}.consumers"), "ours", v)?,
    };
    let mut oc = named(&format!("{p}.consumers"), "ours", oc)?;
    oc.sort_by(|a, b| a.0.cmp(&b.0));
    let mut tn = tnames.clone();
    tn.sort();
    let on: Vec<Vec<u8>> = oc.iter().map(|c| c.0.clone()).collect();
    compare_sorted_multisets(&format!("{p}.consumers names"), &on, &tn)?;
    let lookup = |pairs: &[(Vec<u8>, &Value)], name: &[u8]| {
        pairs.iter().find(|x| x.0 == name).map(|x| x.1.clone())
    };
    for (name, c) in &oc {
        let q = format!("{p}.consumers[{}]", show(name));
        let ts = lookup(&tseen, name).ok_or_else(|| format!("{q}: truth has no seen time"))?;
        compare_int(
            &format!("{q}.seen_time_ms"),
            c.get("seen_time_ms").unwrap_or(&null),
            &ts,
        )?;
        let ta = tactive.as_ref().and_then(|m| lookup(m, name));
        compare_optional(
            &format!("{q}.active_time_ms"),
            c.get("active_time_ms"),
            ta.as_ref(),
            &is_null,
        )?;
        // the consumer's own PEL = the group PEL entries naming it
        let mut ours_ids: Vec<(u64, u64)> = Vec::new();
        if let Some(v) = c.get("pending") {
            for (i, e) in array(&format!("{q}.pending"), "ours", v)?
                .iter()
                .enumerate()
            {
                ours_ids.push(parse_id(id_str(&format!("{q}.pending[{i}]"), "ours", e)?).unwrap());
            }
        }
        let mut truth_ids: Vec<(u64, u64)> = tp
            .iter()
            .filter(|x| x.2.as_deref() == Some(&name[..]))
            .map(|x| x.0)
            .collect();
        ours_ids.sort();
        truth_ids.sort();
        if ours_ids != truth_ids {
            let f = |v: &[(u64, u64)]| {
                v.iter()
                    .map(|(a, b)| format!("{a}-{b}"))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            return Err(format!(
                "{q}.pending: ours [{}], truth (group PEL entries of this consumer) [{}]",
                f(&ours_ids),
                f(&truth_ids)
            ));
        }
    }
    compare_nacked(p, o.get("nacked"), t.get("nacked"))
}

/// A pending entry's owner: a consumer name, or `null` for an entry that
/// belongs to no consumer (NACKed by XNACK, Redis 8.8).
fn owner_of(v: &Value) -> Result<Option<Vec<u8>>, String> {
    match v {
        Value::Null => Ok(None),
        v => bytes_of(v).map(Some),
    }
}

/// The group's NACK zone: truth (a server with XNACK) lists the IDs sorted;
/// ours lists them as stored, or leaves `nacked` out for stream types
/// before 27 (then the zone must be empty). A truth without `nacked` comes
/// from a server without XNACK: nothing to compare.
fn compare_nacked(p: &str, o: Option<&Value>, t: Option<&Value>) -> Cmp {
    let Some(t) = t.filter(|t| !t.is_null()) else {
        return Ok(());
    };
    let ids = |side: &str, v: &Value| -> Result<Vec<(u64, u64)>, String> {
        let mut out = Vec::new();
        for (i, e) in array(&format!("{p}.nacked"), side, v)?.iter().enumerate() {
            out.push(parse_id(id_str(&format!("{p}.nacked[{i}]"), side, e)?).unwrap());
        }
        out.sort();
        Ok(out)
    };
    let ours = match o {
        None | Some(Value::Null) => Vec::new(),
        Some(v) => ids("ours", v)?,
    };
    let truth = ids("truth", t)?;
    if ours != truth {
        return Err(format!("{p}.nacked: ours {ours:?}, truth {truth:?}"));
    }
    Ok(())
}

/// Arrays (Redis 8.8): `{"count", "insert_idx", "elements": [[index, value]]}`
/// in both shapes; elements in index order, values as byte strings.
fn compare_array(o: &Value, t: &Value) -> Cmp {
    let o = obj("value", "ours", o)?;
    let t = obj("value", "truth", t)?;
    let null = Value::Null;
    compare_int(
        "value.count",
        o.get("count").unwrap_or(&null),
        t.get("count").unwrap_or(&null),
    )?;
    let (oi, ti) = (
        o.get("insert_idx").unwrap_or(&null),
        t.get("insert_idx").unwrap_or(&null),
    );
    if !(oi.is_null() && ti.is_null()) {
        compare_int("value.insert_idx", oi, ti)?;
    }
    let oe = array("value.elements", "ours", o.get("elements").unwrap_or(&null))?;
    let te = array(
        "value.elements",
        "truth",
        t.get("elements").unwrap_or(&null),
    )?;
    for (i, (a, b)) in oe.iter().zip(te).enumerate() {
        let q = format!("value.elements[{i}]");
        let (a, b) = match (a.as_array(), b.as_array()) {
            (Some(a), Some(b)) if a.len() == 2 && b.len() == 2 => (a, b),
            _ => {
                return Err(format!(
                    "{q}: not [index, value] pairs: {} / {}",
                    short(&oe[i]),
                    short(&te[i])
                ))
            }
        };
        compare_int(&format!("{q}.index"), &a[0], &b[0])?;
        compare_bytes(&format!("{q}.value"), &a[1], &b[1])?;
    }
    if oe.len() != te.len() {
        return Err(format!(
            "value.elements: count ours {}, truth {}",
            oe.len(),
            te.len()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Truth of a fixture
// ---------------------------------------------------------------------------

/// The full content of a file according to the truth:
/// `.expected.jsonl` ∪ `.expired.jsonl`, where a `"partially_expired": true`
/// line replaces the `.expected.jsonl` line of the same key (and loses that
/// member). Keyed by `(db, key)`, in truth order.
pub fn truth_content(rdb: &Path) -> Result<Truth, String> {
    let mut out: Vec<((u64, Vec<u8>), Value)> = Vec::new();
    let mut index: BTreeMap<(u64, Vec<u8>), usize> = BTreeMap::new();
    for line in read_jsonl(&sibling(rdb, ".expected.jsonl")) {
        let id = ident(&line)?;
        if index.insert(id.clone(), out.len()).is_some() {
            return Err(format!("truth lists {} twice", ident_str(&id)));
        }
        out.push((id, line));
    }
    for mut line in read_jsonl(&sibling(rdb, ".expired.jsonl")) {
        let id = ident(&line)?;
        let partial = line.as_object_mut().unwrap().remove("partially_expired");
        let partial = matches!(partial, Some(Value::Bool(true)));
        match index.get(&id) {
            Some(&i) if partial => out[i].1 = line,
            Some(_) => {
                return Err(format!(
                    "{} is in both .expected and .expired without partially_expired",
                    ident_str(&id)
                ))
            }
            None => {
                index.insert(id.clone(), out.len());
                out.push((id, line));
            }
        }
    }
    Ok(out)
}

/// Keys that the loading server skipped because they are empty collections
/// (its log in `meta.json` → `attempts[].log`: "skipping empty key: NAME").
/// They are in the file but not in the truth; a converter may print them
/// (with an empty value) or skip them.
pub fn skipped_empty_keys(rdb: &Path) -> Vec<Vec<u8>> {
    let p = sibling(rdb, ".meta.json");
    if !p.exists() {
        return Vec::new();
    }
    let meta = meta_json(rdb);
    let mut out = Vec::new();
    for a in meta
        .get("attempts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if a.get("loaded") != Some(&Value::Bool(true)) {
            continue;
        }
        for l in a.get("log").and_then(Value::as_array).into_iter().flatten() {
            if let Some((_, name)) = l
                .as_str()
                .and_then(|l| l.split_once("skipping empty key: "))
            {
                out.push(name.trim_end().as_bytes().to_vec());
            }
        }
    }
    out
}

fn is_empty_collection(line: &Value) -> bool {
    match line.get("value") {
        Some(Value::Array(a)) => a.is_empty(),
        Some(Value::Object(m)) => {
            m.is_empty()
                || m.get("entries")
                    .and_then(Value::as_array)
                    .is_some_and(|e| e.is_empty())
        }
        _ => false,
    }
}

/// Compares our key lines of a fixture with its truth content. Returns the
/// number of keys compared, or the first difference. `empty_skipped`: key
/// names (any DB) that may appear in ours as extra keys with an empty value
/// (see [`skipped_empty_keys`]).
pub fn compare_fixture(
    ours: &[Value],
    truth: &[(KeyId, Value)],
    allow_duplicates: bool,
    empty_skipped: &[Vec<u8>],
) -> Result<usize, String> {
    let mut truth_index: BTreeMap<&(u64, Vec<u8>), (usize, usize)> = BTreeMap::new();
    for (i, (id, _)) in truth.iter().enumerate() {
        truth_index.insert(id, (i, 0));
    }
    let mut errors: Vec<String> = Vec::new();
    let mut extra = 0usize;
    for line in ours {
        let id = match ident(line) {
            Ok(id) => id,
            Err(e) => {
                errors.push(format!("bad key line: {e}"));
                continue;
            }
        };
        match truth_index.get_mut(&id) {
            None if empty_skipped.contains(&id.1) && is_empty_collection(line) => {}
            None => {
                extra += 1;
                if extra == 1 {
                    errors.push(format!(
                        "{}: extra key, not in the truth (type {})",
                        ident_str(&id),
                        short(line.get("type").unwrap_or(&Value::Null))
                    ));
                }
            }
            Some((i, seen)) => {
                *seen += 1;
                if *seen > 1 && !allow_duplicates {
                    errors.push(format!(
                        "{}: appears {} times in our output",
                        ident_str(&id),
                        seen
                    ));
                    continue;
                }
                if let Err(e) = compare_key(line, &truth[*i].1) {
                    errors.push(format!("{}: {e}", ident_str(&id)));
                }
            }
        }
    }
    let missing: Vec<_> = truth_index
        .iter()
        .filter(|(_, (_, seen))| *seen == 0)
        .map(|(id, _)| *id)
        .collect();
    if let Some(first) = missing.first() {
        errors.push(format!(
            "{}: missing from our output ({} truth keys missing in all)",
            ident_str(first),
            missing.len()
        ));
    }
    if errors.is_empty() {
        Ok(ours.len())
    } else {
        let more = if errors.len() > 1 {
            format!(" (+{} more differing keys/problems)", errors.len() - 1)
        } else {
            String::new()
        };
        Err(format!("{}{more}", errors[0]))
    }
}

/// `len` bytes no compressor shrinks (xorshift64, a fixed seed): values
/// that servers store raw, not LZF-compressed.
pub fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
