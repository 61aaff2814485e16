//! Reading an exported table back (with the `parquet` crate) into the JSON
//! shapes of `rdbkit json` and `rdbkit memory --format json`, so the export
//! is checked with the same comparisons as the converter.

use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type};
use arrow_array::{Array, RecordBatch, StructArray};
use base64::Engine;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{json, Map, Value};

use rdbkit::export::{self, table, ExportOptions, Format};
use rdbkit::scan::EngineOptions;

/// A fresh path under the temporary directory.
pub fn temp_path(name: &str) -> PathBuf {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!("rdbkit-export-{}-{n}-{name}", std::process::id()))
}

/// Exports `data` (labelled `label`) to a Parquet file with the library.
pub fn export_parquet(
    data: &[u8],
    label: &str,
    values: bool,
    engine: &EngineOptions,
) -> Result<PathBuf, String> {
    let out = temp_path("t.parquet");
    let opts = ExportOptions {
        format: Format::Parquet,
        values,
        batch_rows: 64, // several row groups even for small fixtures
        ..Default::default()
    };
    let mut sink = table::create(&out, &opts).map_err(|e| e.to_string())?;
    export::export_file(data, label, &opts, engine, sink.as_mut(), None)
        .map_err(|e| e.to_string())?;
    sink.finish().map_err(|e| e.to_string())?;
    Ok(out)
}

/// All batches of a Parquet file.
pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let f = std::fs::File::open(path).unwrap();
    let r = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap();
    r.map(|b| b.unwrap()).collect()
}

pub fn bytes(b: &[u8]) -> Value {
    json!({"b64": base64::engine::general_purpose::STANDARD.encode(b)})
}

fn col<'a>(b: &'a RecordBatch, name: &str) -> &'a dyn Array {
    b.column_by_name(name)
        .unwrap_or_else(|| panic!("no column {name}"))
        .as_ref()
}

fn i64_at(a: &dyn Array, i: usize) -> Option<i64> {
    let a = a.as_primitive::<Int64Type>();
    a.is_valid(i).then(|| a.value(i))
}

fn str_at(a: &dyn Array, i: usize) -> Option<String> {
    let a = a.as_string::<i32>();
    a.is_valid(i).then(|| a.value(i).to_string())
}

fn lbin(a: &dyn Array, i: usize) -> Value {
    let a = a.as_binary::<i64>();
    if a.is_null(i) {
        Value::Null
    } else {
        bytes(a.value(i))
    }
}

/// Key-table columns of row `i` as `rdbkit memory --format json` names them.
pub fn memory_row(b: &RecordBatch, i: usize) -> Value {
    let key = col(b, "key").as_binary::<i32>().value(i);
    let mut m = Map::new();
    m.insert("database".into(), json!(i64_at(col(b, "db"), i)));
    m.insert("type".into(), json!(str_at(col(b, "type"), i)));
    m.insert("key".into(), bytes(key));
    m.insert("size_in_bytes".into(), json!(i64_at(col(b, "memory"), i)));
    m.insert("encoding".into(), json!(str_at(col(b, "encoding"), i)));
    for c in ["num_elements", "len_largest_element"] {
        m.insert(c.into(), json!(i64_at(col(b, c), i)));
    }
    m.insert("expire_ms".into(), json!(i64_at(col(b, "expire_ms"), i)));
    m.insert(
        "serialized_bytes".into(),
        json!(i64_at(col(b, "serialized_bytes"), i)),
    );
    m.insert(
        "rdb_encoding".into(),
        json!(str_at(col(b, "rdb_encoding"), i)),
    );
    Value::Object(m)
}

/// Row `i` in the shape of an `rdbkit json` line.
pub fn json_line(b: &RecordBatch, i: usize) -> Value {
    let kind = str_at(col(b, "type"), i).unwrap();
    let mut m = Map::new();
    m.insert("db".into(), json!(i64_at(col(b, "db"), i)));
    m.insert(
        "key".into(),
        bytes(col(b, "key").as_binary::<i32>().value(i)),
    );
    m.insert("type".into(), json!(kind));
    if let Some(x) = i64_at(col(b, "expire_ms"), i) {
        m.insert("expire_ms".into(), json!(x));
    }
    let freq = col(b, "freq").as_primitive::<Int32Type>();
    if freq.is_valid(i) {
        m.insert("freq".into(), json!(freq.value(i)));
    }
    let (value, fexp) = value_of(b, &kind, i);
    m.insert("value".into(), value);
    if let Some(f) = fexp {
        m.insert("field_expire_ms".into(), f);
    }
    Value::Object(m)
}

fn list_items(a: &dyn Array, i: usize) -> Option<arrow_array::ArrayRef> {
    let l = a.as_list::<i64>();
    l.is_valid(i).then(|| l.value(i))
}

fn value_of(b: &RecordBatch, kind: &str, i: usize) -> (Value, Option<Value>) {
    match kind {
        "string" => (lbin(col(b, "value_bytes"), i), None),
        "list" | "set" => {
            let items = list_items(col(b, "value_list"), i).expect("list value");
            let v = (0..items.len()).map(|j| lbin(&items, j)).collect();
            (Value::Array(v), None)
        }
        "zset" => {
            let items = list_items(col(b, "value_zset"), i).expect("zset value");
            let s = items.as_struct();
            let sc = s.column(1).as_primitive::<Float64Type>();
            let v = (0..s.len())
                .map(|j| json!([lbin(s.column(0), j), score(sc.value(j))]))
                .collect();
            (Value::Array(v), None)
        }
        "hash" => hash_value(&list_items(col(b, "value_hash"), i).expect("hash value")),
        "stream" => {
            let s = col(b, "value_stream").as_struct();
            (stream_value(s, i), None)
        }
        _ => {
            let j = col(b, "value_json").as_string::<i64>();
            (serde_json::from_str(j.value(i)).unwrap(), None)
        }
    }
}

fn score(s: f64) -> Value {
    if s.is_nan() {
        json!("nan")
    } else if s.is_infinite() {
        json!(if s > 0.0 { "inf" } else { "-inf" })
    } else {
        json!(s)
    }
}

fn hash_value(items: &dyn Array) -> (Value, Option<Value>) {
    let s = items.as_struct();
    let mut pairs = Vec::new();
    let mut fexp = Vec::new();
    for j in 0..s.len() {
        pairs.push(json!([lbin(s.column(0), j), lbin(s.column(1), j)]));
        if let Some(ms) = i64_at(s.column(2), j) {
            fexp.push(json!([lbin(s.column(0), j), ms]));
        }
    }
    let fexp = (!fexp.is_empty()).then_some(Value::Array(fexp));
    (Value::Array(pairs), fexp)
}

fn field<'a>(s: &'a StructArray, name: &str) -> &'a dyn Array {
    s.column_by_name(name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .as_ref()
}

fn ids(a: &dyn Array) -> Value {
    (0..a.len()).map(|j| json!(str_at(a, j))).collect()
}

fn stream_value(s: &StructArray, i: usize) -> Value {
    let mut m = Map::new();
    let entries = list_items(field(s, "entries"), i).unwrap();
    let e = entries.as_struct();
    let mut ev = Vec::new();
    for j in 0..e.len() {
        let f = list_items(field(e, "fields"), j).unwrap();
        let f = f.as_struct();
        let pairs: Vec<Value> = (0..f.len())
            .map(|k| json!([lbin(f.column(0), k), lbin(f.column(1), k)]))
            .collect();
        ev.push(json!([str_at(field(e, "id"), j), pairs]));
    }
    m.insert("entries".into(), Value::Array(ev));
    m.insert("length".into(), json!(i64_at(field(s, "length"), i)));
    m.insert("last_id".into(), json!(str_at(field(s, "last_id"), i)));
    for (name, arr) in [
        ("first_id", "first_id"),
        ("max_deleted_id", "max_deleted_id"),
    ] {
        if let Some(id) = str_at(field(s, arr), i) {
            m.insert(name.into(), json!(id));
        }
    }
    if let Some(n) = i64_at(field(s, "entries_added"), i) {
        m.insert("entries_added".into(), json!(n));
    }
    let groups = list_items(field(s, "groups"), i).unwrap();
    let g = groups.as_struct();
    let gv: Vec<Value> = (0..g.len()).map(|j| group_value(g, j)).collect();
    m.insert("groups".into(), Value::Array(gv));
    Value::Object(m)
}

fn group_value(g: &StructArray, j: usize) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), lbin(field(g, "name"), j));
    m.insert(
        "last_delivered_id".into(),
        json!(str_at(field(g, "last_delivered_id"), j)),
    );
    if let Some(n) = i64_at(field(g, "entries_read"), j) {
        m.insert("entries_read".into(), json!(n));
    }
    let p = list_items(field(g, "pending"), j).unwrap();
    let p = p.as_struct();
    let pv: Vec<Value> = (0..p.len())
        .map(|k| {
            json!([
                str_at(p.column(0), k),
                lbin(p.column(1), k),
                i64_at(p.column(2), k),
                i64_at(p.column(3), k)
            ])
        })
        .collect();
    m.insert("pending".into(), Value::Array(pv));
    let c = list_items(field(g, "consumers"), j).unwrap();
    let c = c.as_struct();
    let cv: Vec<Value> = (0..c.len())
        .map(|k| {
            let mut cm = Map::new();
            cm.insert("name".into(), lbin(c.column(0), k));
            cm.insert("seen_time_ms".into(), json!(i64_at(c.column(1), k)));
            if let Some(t) = i64_at(c.column(2), k) {
                cm.insert("active_time_ms".into(), json!(t));
            }
            cm.insert("pending".into(), ids(&list_items(c.column(3), k).unwrap()));
            Value::Object(cm)
        })
        .collect();
    m.insert("consumers".into(), Value::Array(cv));
    if let Some(n) = list_items(field(g, "nacked"), j) {
        m.insert("nacked".into(), ids(&n));
    }
    Value::Object(m)
}
