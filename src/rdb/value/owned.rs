//! A value with owned elements: the one owned form of a decoded value.
//!
//! It lives in the format layer because both directions of the format use
//! it: [`Record::value`](crate::Record::value) collects a record into it
//! (the library's convenient form), and the RDB encoder
//! ([`crate::rdb::write::encode`]) takes it as input, whether collected
//! from another RDB file or from a JSON line. Consumers that show a value
//! their own way convert at their end (the Parquet export and the Python
//! package show module values and arrays as `rdbkit json` writes them).
//!
//! Collecting copies every element once ([`Elem::to_vec`]) and nothing
//! more: the writer's re-encode path runs through [`Value`]'s visitor for
//! every key it cannot copy or convert blob to blob.

use crate::error::Result;
use crate::rdb::array::{ArrayElem, ArrayHead};
use crate::rdb::elem::Elem;
use crate::rdb::module::ModuleValue;
use crate::rdb::stream::{StreamId, StreamMeta};

use super::{Kind, ValueVisitor};

/// One stream entry: its ID and field/value pairs in stored order.
pub type StreamEntry = (StreamId, Vec<(Vec<u8>, Vec<u8>)>);

/// A decoded value with owned elements ([`Record::value`](crate::Record::value)).
/// Integers stored in integer encodings come back as their decimal text,
/// as the server returns them.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    String(Vec<u8>),
    /// Elements head to tail.
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    /// Members with their scores, in file order.
    ZSet(Vec<(Vec<u8>, f64)>),
    /// Fields with their values and absolute expiry in Unix ms, if any.
    Hash(Vec<(Vec<u8>, Vec<u8>, Option<i64>)>),
    /// Live entries in ID order, and the metadata (last ID, groups).
    Stream(Vec<StreamEntry>, Box<StreamMeta>),
    /// A module value, never decoded: the module's type name and the value
    /// bytes as stored (`RDB_TYPE_MODULE_2`: from the module id through the
    /// EOF marker).
    Module {
        name: String,
        raw: Vec<u8>,
    },
    /// A Redis 8.8 sparse array: `(index, value as ARGET returns it)`.
    Array(Vec<(u64, Vec<u8>)>),
}

impl Value {
    /// An empty value of `kind` to collect into: decode a record of that
    /// kind with this value as the [`ValueVisitor`].
    pub fn empty(kind: Kind) -> Value {
        match kind {
            Kind::String => Value::String(Vec::new()),
            Kind::List => Value::List(Vec::new()),
            Kind::Set => Value::Set(Vec::new()),
            Kind::ZSet => Value::ZSet(Vec::new()),
            Kind::Hash => Value::Hash(Vec::new()),
            Kind::Stream => Value::Stream(Vec::new(), Box::default()),
            Kind::Module => Value::Module {
                name: String::new(),
                raw: Vec::new(),
            },
            Kind::Array => Value::Array(Vec::new()),
        }
    }

    /// A list, set, sorted set or hash without elements (servers never
    /// save one; their loaders skip it as an "empty key"). The owned twin
    /// of [`crate::rdb::empty::is_empty_collection`], for a value built or
    /// filtered after decoding (a JSON line, a hash without its expired
    /// fields).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::List(v) | Value::Set(v) => v.is_empty(),
            Value::ZSet(v) => v.is_empty(),
            Value::Hash(v) => v.is_empty(),
            Value::String(_) | Value::Stream(..) | Value::Module { .. } | Value::Array(_) => false,
        }
    }
}

/// Collects into the variant [`Value::empty`] chose from the record's kind.
impl ValueVisitor for Value {
    fn string(&mut self, v: Elem<'_>) -> Result<()> {
        if let Value::String(s) = self {
            *s = v.to_vec();
        }
        Ok(())
    }
    fn list_item(&mut self, v: Elem<'_>) -> Result<()> {
        if let Value::List(l) = self {
            l.push(v.to_vec());
        }
        Ok(())
    }
    fn set_member(&mut self, v: Elem<'_>) -> Result<()> {
        if let Value::Set(l) = self {
            l.push(v.to_vec());
        }
        Ok(())
    }
    fn zset_member(&mut self, m: Elem<'_>, score: f64) -> Result<()> {
        if let Value::ZSet(l) = self {
            l.push((m.to_vec(), score));
        }
        Ok(())
    }
    fn hash_field(&mut self, f: Elem<'_>, v: Elem<'_>, ttl: Option<i64>) -> Result<()> {
        if let Value::Hash(l) = self {
            l.push((f.to_vec(), v.to_vec(), ttl));
        }
        Ok(())
    }
    fn stream_entry(&mut self, id: StreamId, fields: &[(Elem<'_>, Elem<'_>)]) -> Result<()> {
        if let Value::Stream(e, _) = self {
            let fields = fields.iter().map(|(f, v)| (f.to_vec(), v.to_vec()));
            e.push((id, fields.collect()));
        }
        Ok(())
    }
    fn stream_meta(&mut self, meta: &StreamMeta) -> Result<()> {
        if let Value::Stream(_, m) = self {
            **m = meta.clone();
        }
        Ok(())
    }
    fn module(&mut self, value: &ModuleValue<'_>) -> Result<()> {
        if let Value::Module { name, raw } = self {
            name.clone_from(&value.name);
            *raw = value.raw.to_vec();
        }
        Ok(())
    }
    fn array_head(&mut self, head: ArrayHead) -> Result<()> {
        if let Value::Array(a) = self {
            // The count is checked against the input by the decoder; still
            // cap the reservation so a lie costs nothing up front.
            a.reserve(head.count.min(1 << 16) as usize);
        }
        Ok(())
    }
    fn array_element(&mut self, index: u64, value: ArrayElem<'_>) -> Result<()> {
        if let Value::Array(a) = self {
            a.push((index, value.text()));
        }
        Ok(())
    }
}
