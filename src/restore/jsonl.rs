//! Loading what `rdbkit json` wrote: each JSON line becomes the commands of
//! its key (command mode), so users can convert, inspect or edit (`jq`), and
//! load back. The shape is the one documented in the README; byte strings
//! are JSON strings or `{"b64": ...}`.

use base64::Engine;
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::rdb::elem::Elem;
use crate::rdb::stream::{Consumer, Group, PendingEntry, StreamId, StreamMeta};
use crate::rdb::value::{Kind, ValueVisitor};

use super::commands::{emit_with, function_load, BatchLimits, Sink, TargetFeatures};

/// Does this input look like JSON Lines rather than an RDB file?
pub fn is_jsonl(data: &[u8]) -> bool {
    data.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// One parsed line.
pub enum Line {
    Key {
        db: u64,
        key: Vec<u8>,
        kind: Kind,
        expire_ms: Option<i64>,
        value: Value,
        field_expire: Option<Value>,
    },
    Function(Vec<u8>),
    /// `--meta` lines other than functions (aux, select_db, ...): nothing to load.
    Other,
}

fn bad(offset: u64, detail: impl Into<String>) -> Error {
    Error::new(
        offset,
        ErrorKind::Invalid {
            what: "JSON line",
            detail: detail.into(),
        },
    )
}

/// A byte string: a JSON string, or `{"b64": "..."}`.
pub fn bytes_of(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::String(s) => Some(s.as_bytes().to_vec()),
        Value::Object(o) if o.len() == 1 => {
            let b = o.get("b64")?.as_str()?;
            base64::engine::general_purpose::STANDARD.decode(b).ok()
        }
        _ => None,
    }
}

/// An object `{k: v}` or an array of `[k, v]` pairs, as pairs.
fn pairs(v: &Value) -> Option<Vec<(Vec<u8>, &Value)>> {
    match v {
        Value::Object(o) => Some(o.iter().map(|(k, v)| (k.as_bytes().to_vec(), v)).collect()),
        Value::Array(a) => a
            .iter()
            .map(|p| match p {
                Value::Array(kv) if kv.len() == 2 => Some((bytes_of(&kv[0])?, &kv[1])),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

fn id_of(v: &Value) -> Option<StreamId> {
    let (ms, seq) = v.as_str()?.split_once('-')?;
    Some(StreamId {
        ms: ms.parse().ok()?,
        seq: seq.parse().ok()?,
    })
}

/// Parses one line; `offset` (of the line in the file) goes into errors.
pub fn parse_line(line: &[u8], offset: u64) -> Result<Line> {
    let v: Value = serde_json::from_slice(line).map_err(|e| {
        // serde's own "at line 1 column N" counts within this one line.
        let what = e.to_string();
        let what = what
            .split(" at line ")
            .next()
            .unwrap_or_default()
            .to_string();
        bad(
            offset,
            format!("column {}: not valid JSON: {what}", e.column()),
        )
    })?;
    let o = v
        .as_object()
        .ok_or_else(|| bad(offset, "not a JSON object"))?;
    if let Some(code) = o.get("function") {
        let mut code =
            bytes_of(code).ok_or_else(|| bad(offset, "function code is not a byte string"))?;
        // The Redis 7.0 RC format keeps engine and name apart from the code.
        if !code.starts_with(b"#!") {
            if let (Some(engine), Some(name)) = (
                o.get("engine").and_then(bytes_of),
                o.get("name").and_then(bytes_of),
            ) {
                let mut c = b"#!".to_vec();
                c.extend_from_slice(&engine);
                c.extend_from_slice(b" name=");
                c.extend_from_slice(&name);
                c.push(b'\n');
                c.extend_from_slice(&code);
                code = c;
            }
        }
        return Ok(Line::Function(code));
    }
    let Some(key) = o.get("key") else {
        return Ok(Line::Other);
    };
    let key = bytes_of(key).ok_or_else(|| {
        bad(
            offset,
            "field \"key\": not a byte string (a JSON string or {\"b64\": ...})",
        )
    })?;
    let db = o.get("db").and_then(Value::as_u64).unwrap_or(0);
    let kind = match o.get("type").and_then(Value::as_str) {
        Some("string") => Kind::String,
        Some("list") => Kind::List,
        Some("set") => Kind::Set,
        Some("zset") => Kind::ZSet,
        Some("hash") => Kind::Hash,
        Some("stream") => Kind::Stream,
        Some("module") => Kind::Module,
        Some("array") => Kind::Array,
        _ => {
            let given = o
                .get("type")
                .map_or("nothing".to_string(), Value::to_string);
            return Err(bad(
                offset,
                format!("field \"type\": {given} is not a type (string, list, set, zset, hash, stream, module or array)"),
            ));
        }
    };
    Ok(Line::Key {
        db,
        key,
        kind,
        expire_ms: o.get("expire_ms").and_then(Value::as_i64),
        value: o.get("value").cloned().unwrap_or(Value::Null),
        field_expire: o.get("field_expire_ms").cloned(),
    })
}

/// Appends the commands of a parsed key line; returns how many.
#[allow(clippy::too_many_arguments)]
pub fn emit_line(
    out: &mut Vec<u8>,
    key: &[u8],
    kind: Kind,
    value: &Value,
    field_expire: Option<&Value>,
    expire_ms: Option<i64>,
    limits: BatchLimits,
    features: TargetFeatures,
    offset: u64,
    sink: Sink<'_>,
) -> Result<usize> {
    emit_with(
        out,
        key,
        kind,
        expire_ms,
        limits,
        features,
        offset,
        sink,
        |v| drive(v, kind, value, field_expire, offset),
    )
}

pub fn drive(
    v: &mut dyn ValueVisitor,
    kind: Kind,
    value: &Value,
    field_expire: Option<&Value>,
    offset: u64,
) -> Result<()> {
    let elem = |x: &Value| bytes_of(x).ok_or_else(|| bad(offset, "expected a byte string"));
    let arr = |x: &Value| {
        x.as_array()
            .cloned()
            .ok_or_else(|| bad(offset, "expected an array"))
    };
    match kind {
        Kind::String => v.string(Elem::Bytes(&elem(value)?)),
        Kind::List => arr(value)?.iter().try_for_each(|e| v.list_item(Elem::Bytes(&elem(e)?))),
        Kind::Set => arr(value)?.iter().try_for_each(|e| v.set_member(Elem::Bytes(&elem(e)?))),
        Kind::ZSet => arr(value)?.iter().try_for_each(|p| {
            let p = p.as_array().filter(|p| p.len() == 2).ok_or_else(|| bad(offset, "zset entry is not [member, score]"))?;
            let score = match &p[1] {
                Value::Number(n) => n.as_f64().ok_or_else(|| bad(offset, "bad score"))?,
                Value::String(s) => crate::rdb::cursor::parse_f64(s.as_bytes()).ok_or_else(|| bad(offset, "bad score"))?,
                _ => return Err(bad(offset, "bad score")),
            };
            v.zset_member(Elem::Bytes(&elem(&p[0])?), score)
        }),
        Kind::Hash => {
            let ttl: Vec<(Vec<u8>, i64)> = match field_expire {
                Some(fe) => pairs(fe)
                    .ok_or_else(|| bad(offset, "bad field_expire_ms"))?
                    .into_iter()
                    .filter_map(|(f, ms)| ms.as_i64().map(|ms| (f, ms)))
                    .collect(),
                None => Vec::new(),
            };
            for (f, val) in pairs(value).ok_or_else(|| bad(offset, "hash value is not an object or pairs"))? {
                let t = ttl.iter().find(|(tf, _)| *tf == f).map(|(_, ms)| *ms);
                v.hash_field(Elem::Bytes(&f), Elem::Bytes(&elem(val)?), t)?;
            }
            Ok(())
        }
        Kind::Stream => {
            let o = value.as_object().ok_or_else(|| bad(offset, "stream value is not an object"))?;
            for e in arr(o.get("entries").unwrap_or(&Value::Null))? {
                let e = e.as_array().filter(|e| e.len() == 2).ok_or_else(|| bad(offset, "stream entry is not [id, fields]"))?;
                let id = id_of(&e[0]).ok_or_else(|| bad(offset, "bad stream id"))?;
                let fields = pairs(&e[1]).ok_or_else(|| bad(offset, "bad stream entry fields"))?;
                let vals: Vec<(Vec<u8>, Vec<u8>)> = fields.into_iter().map(|(f, x)| Ok((f, elem(x)?))).collect::<Result<_>>()?;
                let refs: Vec<(Elem<'_>, Elem<'_>)> = vals.iter().map(|(f, x)| (Elem::Bytes(f), Elem::Bytes(x))).collect();
                v.stream_entry(id, &refs)?;
            }
            let get_id = |k: &str| o.get(k).and_then(id_of);
            let mut meta = StreamMeta {
                length: o.get("length").and_then(Value::as_u64).unwrap_or(0),
                last_id: get_id("last_id").unwrap_or_default(),
                first_id: get_id("first_id"),
                max_deleted_id: get_id("max_deleted_id"),
                entries_added: o.get("entries_added").and_then(Value::as_u64),
                groups: Vec::new(),
                idmp: None,
            };
            for g in o.get("groups").and_then(Value::as_array).cloned().unwrap_or_default() {
                let name = bytes_of(&g["name"]).ok_or_else(|| bad(offset, "bad group name"))?;
                let mut consumers = Vec::new();
                for c in g["consumers"].as_array().cloned().unwrap_or_default() {
                    consumers.push(Consumer {
                        name: bytes_of(&c["name"]).ok_or_else(|| bad(offset, "bad consumer name"))?,
                        seen_time_ms: c["seen_time_ms"].as_i64().unwrap_or(0) as u64,
                        active_time_ms: c["active_time_ms"].as_i64().map(|t| t as u64),
                        pending: c["pending"].as_array().cloned().unwrap_or_default().iter().filter_map(id_of).collect(),
                    });
                }
                let pending = g["pending"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|p| {
                        Some(PendingEntry {
                            id: id_of(&p[0])?,
                            delivery_count: p[2].as_u64()?,
                            delivery_time_ms: p[3].as_i64()? as u64,
                        })
                    })
                    .collect();
                meta.groups.push(Group {
                    name,
                    last_delivered_id: id_of(&g["last_delivered_id"]).unwrap_or_default(),
                    entries_read: g["entries_read"].as_i64(),
                    pending,
                    consumers,
                    nacked: g["nacked"].as_array().map(|a| a.iter().filter_map(id_of).collect()),
                });
            }
            v.stream_meta(&meta)
        }
        Kind::Array => drive_array(v, value, offset),
        Kind::Module => Err(Error::new(
            offset,
            ErrorKind::UnsupportedModule { detail: "a module value can only be loaded with RESTORE into a server that has the module".into() },
        )),
    }
}

/// Appends `FUNCTION LOAD` for a function line.
pub fn emit_function(out: &mut Vec<u8>, code: &[u8], replace: bool) {
    function_load(out, code, replace)
}

/// An array line's value, `{"count":n,"insert_idx":i|null,"elements":[[index,"value"],...]}`
/// (what `rdbkit json` writes): elements go by index, so a sparse array
/// stays as small as its JSON.
fn drive_array(v: &mut dyn ValueVisitor, value: &Value, offset: u64) -> Result<()> {
    use crate::rdb::array::{ArrayElem, ArrayHead};
    let elements = value["elements"]
        .as_array()
        .ok_or_else(|| bad(offset, "array value has no \"elements\" list"))?;
    if elements.is_empty() {
        return Err(bad(offset, "an array cannot be empty"));
    }
    if let Some(n) = value["count"].as_u64() {
        if n != elements.len() as u64 {
            return Err(bad(
                offset,
                "array \"count\" differs from its number of elements",
            ));
        }
    }
    let insert_idx = match &value["insert_idx"] {
        Value::Null => None,
        x => match x.as_u64() {
            Some(i) if i < u64::MAX => Some(i),
            _ => return Err(bad(offset, "bad array \"insert_idx\"")),
        },
    };
    v.array_head(ArrayHead {
        count: elements.len() as u64,
        insert_idx,
    })?;
    for e in elements {
        let (idx, val) = match e.as_array().map(|p| p.as_slice()) {
            Some([i, x]) => (i.as_u64(), bytes_of(x)),
            _ => (None, None),
        };
        match (idx, val) {
            (Some(i), Some(b)) if i < u64::MAX => {
                v.array_element(i, ArrayElem::Str(Elem::Bytes(&b)))?
            }
            _ => return Err(bad(offset, "array element is not [index, value]")),
        }
    }
    Ok(())
}

/// NACKed entries of a stream line's value (`groups[].nacked`).
pub fn nacked_count(value: &Value) -> u64 {
    value["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| g["nacked"].as_array().map_or(0, Vec::len) as u64)
        .sum()
}
