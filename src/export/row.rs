//! One row of the key table: the facts `rdbkit memory` reports about a key
//! (from [`Model::estimate`], not recomputed here) plus what the record
//! itself says (TTL, LRU/LFU, offset), and optionally the value.

use std::ops::Range;

use crate::error::Result;
use crate::inspect::memory::{Buffers, Model};
use crate::rdb::records::Record;
use crate::rdb::value::{Kind, Value};

use super::value::Collector;

/// A key's facts, owned, so a chunk's rows can travel to the writer.
#[derive(Debug, Clone)]
pub struct Row {
    pub db: u64,
    /// The key's bytes in [`Rows::keys`].
    pub key: Range<usize>,
    pub kind: Kind,
    /// The encoding the modelled server would use (as in `rdbkit memory`).
    pub encoding: &'static str,
    /// The encoding stored in the file.
    pub rdb_encoding: &'static str,
    pub expire_ms: Option<i64>,
    pub idle: Option<u64>,
    pub freq: Option<u8>,
    /// Bytes of the record in the file (opcodes, key and value).
    pub serialized: u64,
    /// Estimated server memory (the `memory` model).
    pub memory: u64,
    pub num_elements: u64,
    pub len_largest_element: u64,
    /// Offset of the record's first byte in its file.
    pub offset: u64,
    /// The value, with `--values` (module values and arrays: `value_json`).
    pub value: Option<Value>,
    /// A module value or array with `--values`: the `value` member of its
    /// `rdbkit json` line, as JSON text ([`Collector::json`]).
    pub value_json: Option<String>,
}

/// A chunk's rows and the one buffer their keys live in, in row order:
/// it becomes the key column as it is (no allocation and copy a key).
#[derive(Debug, Clone, Default)]
pub struct Rows {
    pub rows: Vec<Row>,
    pub keys: Vec<u8>,
}

impl Rows {
    /// The key of `r`, one of these rows.
    pub fn key(&self, r: &Row) -> &[u8] {
        &self.keys[r.key.clone()]
    }
}

/// Per-thread buffers to make rows.
#[derive(Default)]
pub struct RowMaker {
    bufs: Buffers,
    key: Vec<u8>,
    collector: Collector,
}

impl RowMaker {
    /// Adds the row of `rec` to `rows`; decodes the value a second time
    /// when `values`. On an error `rows` is as it was.
    pub fn push(
        &mut self,
        rows: &mut Rows,
        model: &Model,
        rec: &Record<'_>,
        values: bool,
    ) -> Result<()> {
        let m = model.estimate(rec, &mut self.bufs)?;
        let kind = rec.vtype.kind();
        let (value, value_json) = match values {
            false => (None, None),
            true if Collector::shows_json(kind) => (None, Some(self.collector.json(rec)?)),
            true => (Some(self.collector.collect(rec)?), None),
        };
        let start = rows.keys.len();
        rows.keys.extend_from_slice(rec.key.bytes(&mut self.key)?);
        rows.rows.push(Row {
            db: rec.db,
            key: start..rows.keys.len(),
            kind,
            encoding: m.encoding,
            rdb_encoding: rec.vtype.encoding(),
            expire_ms: rec.expire_ms,
            idle: rec.idle,
            freq: rec.freq,
            serialized: rec.end_offset() - rec.offset,
            memory: m.bytes,
            num_elements: m.num_elements,
            len_largest_element: m.len_largest_element,
            offset: rec.offset,
            value,
            value_json,
        });
        Ok(())
    }
}
