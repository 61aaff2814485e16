//! Rows to Arrow record batches. The key table is flat; with values, each
//! type has its own nullable column (a row fills the one of its type), so
//! every value keeps its natural Arrow shape and nothing is lost:
//!
//! | column | type | filled for |
//! |---|---|---|
//! | `value_bytes` | large_binary | string |
//! | `value_list` | large_list<large_binary> | list, set |
//! | `value_zset` | large_list<struct<member, score>> | zset |
//! | `value_hash` | large_list<struct<field, value, expire_ms>> | hash |
//! | `value_stream` | struct (see [`stream_type`]) | stream |
//! | `value_json` | large_utf8 | module, array (`rdbkit json`'s value) |
//!
//! Offsets are 64-bit everywhere a value lives, so no value or batch is
//! too big for its column.

use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, Float64Builder, Int32Builder, Int64Builder, LargeBinaryBuilder,
    LargeStringBuilder, StringBuilder,
};
use arrow_array::{
    ArrayRef, BinaryArray, Int64Array, LargeListArray, RecordBatch, StringArray, StructArray,
};
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};
use arrow_schema::{ArrowError, DataType, Field, FieldRef, Fields, Schema, SchemaRef};

use super::row::{Row, Rows};
use super::stream_cols::StreamCols;
use crate::rdb::value::Value;

/// The table's schema; value columns only with `values`.
pub fn schema(values: bool) -> SchemaRef {
    let mut f = vec![
        Field::new("file", DataType::Utf8, false),
        Field::new("db", DataType::Int64, false),
        Field::new("key", DataType::Binary, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("encoding", DataType::Utf8, false),
        Field::new("rdb_encoding", DataType::Utf8, false),
        Field::new("expire_ms", DataType::Int64, true),
        Field::new("idle", DataType::Int64, true),
        Field::new("freq", DataType::Int32, true),
        Field::new("serialized_bytes", DataType::Int64, false),
        Field::new("num_elements", DataType::Int64, false),
        Field::new("len_largest_element", DataType::Int64, false),
        Field::new("memory", DataType::Int64, false),
        Field::new("offset", DataType::Int64, false),
    ];
    if values {
        f.extend([
            Field::new("value_bytes", DataType::LargeBinary, true),
            Field::new("value_list", list_of(DataType::LargeBinary), true),
            Field::new("value_zset", zset_type(), true),
            Field::new("value_hash", hash_type(), true),
            Field::new("value_stream", stream_type(), true),
            Field::new("value_json", DataType::LargeUtf8, true),
        ]);
    }
    Arc::new(Schema::new(f))
}

/// `large_list<item>` with nullable items.
pub fn list_of(item: DataType) -> DataType {
    DataType::LargeList(Arc::new(Field::new("item", item, true)))
}

/// A struct of nullable fields.
pub fn struct_of(fields: &[(&str, DataType)]) -> DataType {
    let f: Vec<Field> = fields
        .iter()
        .map(|(n, t)| Field::new(*n, t.clone(), true))
        .collect();
    DataType::Struct(Fields::from(f))
}

fn zset_type() -> DataType {
    list_of(struct_of(&[
        ("member", DataType::LargeBinary),
        ("score", DataType::Float64),
    ]))
}

fn hash_type() -> DataType {
    list_of(struct_of(&[
        ("field", DataType::LargeBinary),
        ("value", DataType::LargeBinary),
        ("expire_ms", DataType::Int64),
    ]))
}

pub use super::stream_cols::stream_type;

/// Turns a chunk's rows into one batch; their key buffer becomes the key
/// column's values.
pub fn batch(all: Rows, file: &str, schema: &SchemaRef) -> Result<RecordBatch, ArrowError> {
    let rows = &all.rows[..];
    let n = rows.len();
    let key_offsets = OffsetBuffer::from_lengths(rows.iter().map(|r| r.key.len()));
    let keys = BinaryArray::try_new(key_offsets, Buffer::from_vec(all.keys), None)?;
    let mut cols: Vec<ArrayRef> = vec![
        repeated(file, n),
        int64(rows, |r| r.db as i64),
        Arc::new(keys),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.kind.name()),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.encoding),
        )),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| r.rdb_encoding),
        )),
        opt_int64(rows, |r| r.expire_ms),
        opt_int64(rows, |r| r.idle.map(|i| i.min(i64::MAX as u64) as i64)),
        {
            let mut b = Int32Builder::with_capacity(n);
            rows.iter()
                .for_each(|r| b.append_option(r.freq.map(i32::from)));
            Arc::new(b.finish())
        },
        int64(rows, |r| r.serialized as i64),
        int64(rows, |r| r.num_elements as i64),
        int64(rows, |r| r.len_largest_element as i64),
        int64(rows, |r| r.memory as i64),
        int64(rows, |r| r.offset as i64),
    ];
    if schema.fields().len() > cols.len() {
        cols.extend(value_columns(rows, schema)?);
    }
    RecordBatch::try_new(schema.clone(), cols)
}

/// The `file` column: one name `n` times, made from one buffer rather than
/// value by value (it is a column of every row).
fn repeated(s: &str, n: usize) -> ArrayRef {
    let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(s.len(), n));
    let values = Buffer::from(s.repeat(n).into_bytes());
    Arc::new(StringArray::new(offsets, values, None))
}

fn int64(rows: &[Row], f: impl Fn(&Row) -> i64) -> ArrayRef {
    Arc::new(Int64Array::from_iter_values(rows.iter().map(f)))
}

fn opt_int64(rows: &[Row], f: impl Fn(&Row) -> Option<i64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<Int64Array>())
}

/// The six value columns, in schema order.
fn value_columns(rows: &[Row], schema: &SchemaRef) -> Result<Vec<ArrayRef>, ArrowError> {
    let mut bytes = LargeBinaryBuilder::new();
    let mut list = ListCol::new();
    let mut list_items = LargeBinaryBuilder::new();
    let mut zset = ListCol::new();
    let (mut members, mut scores) = (LargeBinaryBuilder::new(), Float64Builder::new());
    let mut hash = ListCol::new();
    let (mut hf, mut hv, mut hx) = (
        LargeBinaryBuilder::new(),
        LargeBinaryBuilder::new(),
        Int64Builder::new(),
    );
    let mut stream = StreamCols::default();
    let mut json = LargeStringBuilder::new();
    for r in rows {
        let v = r.value.as_ref();
        match v {
            Some(Value::String(s)) => bytes.append_value(s),
            _ => bytes.append_null(),
        }
        match v {
            Some(Value::List(l) | Value::Set(l)) => {
                l.iter().for_each(|e| list_items.append_value(e));
                list.close(list_items.len(), true);
            }
            _ => list.close(list_items.len(), false),
        }
        match v {
            Some(Value::ZSet(z)) => {
                for (m, s) in z {
                    members.append_value(m);
                    scores.append_value(*s);
                }
                zset.close(members.len(), true);
            }
            _ => zset.close(members.len(), false),
        }
        match v {
            Some(Value::Hash(h)) => {
                for (f, v, expire_ms) in h {
                    hf.append_value(f);
                    hv.append_value(v);
                    hx.append_option(*expire_ms);
                }
                hash.close(hf.len(), true);
            }
            _ => hash.close(hf.len(), false),
        }
        match v {
            Some(Value::Stream(entries, meta)) => stream.push(Some((entries, &**meta))),
            _ => stream.push(None),
        }
        json.append_option(r.value_json.as_deref());
    }
    let ty = |name: &str| -> Result<DataType, ArrowError> {
        Ok(schema.field_with_name(name)?.data_type().clone())
    };
    let zset_items = strukt(
        &item_type(&ty("value_zset")?),
        vec![Arc::new(members.finish()), Arc::new(scores.finish())],
        None,
    )?;
    let hash_items = strukt(
        &item_type(&ty("value_hash")?),
        vec![
            Arc::new(hf.finish()),
            Arc::new(hv.finish()),
            Arc::new(hx.finish()),
        ],
        None,
    )?;
    Ok(vec![
        Arc::new(bytes.finish()),
        list.finish(&ty("value_list")?, Arc::new(list_items.finish()))?,
        zset.finish(&ty("value_zset")?, zset_items)?,
        hash.finish(&ty("value_hash")?, hash_items)?,
        stream.finish(&ty("value_stream")?)?,
        Arc::new(json.finish()),
    ])
}

/// Offsets and validity of a large list column being built; its items are
/// built beside it.
pub struct ListCol {
    offsets: Vec<i64>,
    valid: Vec<bool>,
}

impl ListCol {
    pub fn new() -> ListCol {
        ListCol {
            offsets: vec![0],
            valid: Vec::new(),
        }
    }

    /// Ends a row: its items are those up to `items_len`.
    pub fn close(&mut self, items_len: usize, valid: bool) {
        self.offsets.push(items_len as i64);
        self.valid.push(valid);
    }

    /// The list array of type `dt` (a large list) over `items`.
    pub fn finish(self, dt: &DataType, items: ArrayRef) -> Result<ArrayRef, ArrowError> {
        let field = item_field(dt)?;
        let nulls = Some(NullBuffer::from(self.valid));
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        Ok(Arc::new(LargeListArray::try_new(
            field, offsets, items, nulls,
        )?))
    }
}

impl Default for ListCol {
    fn default() -> Self {
        ListCol::new()
    }
}

/// The item field of a large list type.
pub fn item_field(dt: &DataType) -> Result<FieldRef, ArrowError> {
    match dt {
        DataType::LargeList(f) => Ok(f.clone()),
        other => Err(ArrowError::SchemaError(format!(
            "not a large list: {other}"
        ))),
    }
}

/// The item type of a large list type.
pub fn item_type(dt: &DataType) -> DataType {
    match dt {
        DataType::LargeList(f) => f.data_type().clone(),
        other => other.clone(),
    }
}

/// A struct array of type `dt` from its children.
pub fn strukt(
    dt: &DataType,
    cols: Vec<ArrayRef>,
    valid: Option<Vec<bool>>,
) -> Result<ArrayRef, ArrowError> {
    let DataType::Struct(fields) = dt else {
        return Err(ArrowError::SchemaError(format!("not a struct: {dt}")));
    };
    let nulls = valid.map(NullBuffer::from);
    Ok(Arc::new(StructArray::try_new(fields.clone(), cols, nulls)?))
}

/// A column of short strings (stream IDs).
pub fn ids() -> StringBuilder {
    StringBuilder::new()
}
