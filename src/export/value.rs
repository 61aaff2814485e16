//! A record's value as owned data, for consumers that need a whole value at
//! once (Arrow columns, Python objects) rather than a stream of borrowed
//! elements. Built by [`collect`] through the ordinary [`ValueVisitor`], so
//! it sees exactly what `rdbkit json` sees.

use crate::error::Result;
use crate::rdb::array::{ArrayElem, ArrayHead};
use crate::rdb::elem::Elem;
use crate::rdb::module::ModuleValue;
use crate::rdb::records::Record;
use crate::rdb::stream::{StreamId, StreamMeta};
use crate::rdb::value::{Kind, Scratch, ValueVisitor};
use crate::sink::json::JsonEncoder;

/// One hash field: name, value and its own TTL (Unix ms) when it has one.
#[derive(Debug, Clone, PartialEq)]
pub struct HashField {
    pub field: Vec<u8>,
    pub value: Vec<u8>,
    pub expire_ms: Option<i64>,
}

/// A stream entry: its ID and its field/value pairs in stored order.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEntry {
    pub id: StreamId,
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A whole stream: entries in ID order and everything else about it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stream {
    pub entries: Vec<StreamEntry>,
    pub meta: StreamMeta,
}

/// A decoded value. Integers of compact encodings are given as their
/// decimal bytes (what the server returns for them).
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    String(Vec<u8>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    /// (member, score) in stored order.
    ZSet(Vec<(Vec<u8>, f64)>),
    Hash(Vec<HashField>),
    Stream(Box<Stream>),
    /// Module values and arrays: the `value` member of `rdbkit json`'s line,
    /// as JSON text (their shapes are open-ended).
    Json(String),
}

/// Reusable buffers for [`collect`].
#[derive(Default)]
pub struct Collector {
    scratch: Scratch,
    json: JsonEncoder,
    line: Vec<u8>,
}

impl Collector {
    /// Decodes `rec`'s value into an owned [`Value`].
    pub fn collect(&mut self, rec: &Record<'_>) -> Result<Value> {
        let kind = rec.vtype.kind();
        if matches!(kind, Kind::Module | Kind::Array) {
            return self.json_value(rec);
        }
        let mut v = Visit::new(kind);
        rec.decode(&mut self.scratch, &mut v)?;
        Ok(v.value)
    }

    /// Decodes `rec`'s value into a visitor of the caller's, with this
    /// collector's scratch buffers: for consumers that keep values their
    /// own way (the Python package keeps a chunk's bytes in one buffer).
    pub fn visit(&mut self, rec: &Record<'_>, v: &mut impl ValueVisitor) -> Result<()> {
        rec.decode(&mut self.scratch, v)
    }

    /// Module and array values: reuse the JSON encoder and cut out `value`.
    fn json_value(&mut self, rec: &Record<'_>) -> Result<Value> {
        self.line.clear();
        self.json.record(&mut self.line, rec)?;
        let parsed: serde_json::Value = serde_json::from_slice(&self.line).unwrap_or_default();
        let value = parsed.get("value").cloned().unwrap_or_default();
        Ok(Value::Json(value.to_string()))
    }
}

struct Visit {
    value: Value,
}

impl Visit {
    fn new(kind: Kind) -> Visit {
        let value = match kind {
            Kind::String => Value::String(Vec::new()),
            Kind::List => Value::List(Vec::new()),
            Kind::Set => Value::Set(Vec::new()),
            Kind::ZSet => Value::ZSet(Vec::new()),
            Kind::Hash => Value::Hash(Vec::new()),
            Kind::Stream => Value::Stream(Box::default()),
            Kind::Module | Kind::Array => Value::Json(String::new()),
        };
        Visit { value }
    }
}

impl ValueVisitor for Visit {
    fn string(&mut self, e: Elem<'_>) -> Result<()> {
        if let Value::String(s) = &mut self.value {
            e.write_to(s);
        }
        Ok(())
    }
    fn list_item(&mut self, e: Elem<'_>) -> Result<()> {
        if let Value::List(l) = &mut self.value {
            l.push(e.to_vec());
        }
        Ok(())
    }
    fn set_member(&mut self, e: Elem<'_>) -> Result<()> {
        if let Value::Set(l) = &mut self.value {
            l.push(e.to_vec());
        }
        Ok(())
    }
    fn zset_member(&mut self, m: Elem<'_>, score: f64) -> Result<()> {
        if let Value::ZSet(l) = &mut self.value {
            l.push((m.to_vec(), score));
        }
        Ok(())
    }
    fn hash_field(&mut self, f: Elem<'_>, v: Elem<'_>, expire_ms: Option<i64>) -> Result<()> {
        if let Value::Hash(l) = &mut self.value {
            l.push(HashField {
                field: f.to_vec(),
                value: v.to_vec(),
                expire_ms,
            });
        }
        Ok(())
    }
    fn stream_entry(&mut self, id: StreamId, fields: &[(Elem<'_>, Elem<'_>)]) -> Result<()> {
        if let Value::Stream(s) = &mut self.value {
            let fields = fields.iter().map(|(f, v)| (f.to_vec(), v.to_vec()));
            s.entries.push(StreamEntry {
                id,
                fields: fields.collect(),
            });
        }
        Ok(())
    }
    fn stream_meta(&mut self, meta: &StreamMeta) -> Result<()> {
        if let Value::Stream(s) = &mut self.value {
            s.meta = meta.clone();
        }
        Ok(())
    }
    fn module(&mut self, _: &ModuleValue<'_>) -> Result<()> {
        Ok(()) // handled by Collector::json_value
    }
    fn array_head(&mut self, _: ArrayHead) -> Result<()> {
        Ok(())
    }
    fn array_element(&mut self, _: u64, _: ArrayElem<'_>) -> Result<()> {
        Ok(())
    }
}

/// A stream ID as `ms-seq`.
pub fn id_string(id: StreamId) -> String {
    format!("{}-{}", id.ms, id.seq)
}
