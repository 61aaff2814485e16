//! The `value_stream` column: a stream as one nested struct, entries and
//! consumer groups included, so a stream survives the trip to Parquet.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{
    ArrayBuilder, Int64Builder, LargeBinaryBuilder, LargeStringBuilder, StringBuilder,
};
use arrow_array::ArrayRef;
use arrow_schema::{ArrowError, DataType};

use super::arrow::{item_type, list_of, struct_of, strukt, ListCol};
use super::value::id_string;
use crate::rdb::stream::{Group, Idmp, StreamId, StreamMeta};
use crate::rdb::value::StreamEntry;

/// The stream struct type. Times are Unix ms as stored (signed); `pending`
/// holds `[id, consumer, delivery_count, delivery_time_ms]` rows (consumer
/// null when no consumer owns the entry), `idmp` the Redis 8.6 IDMP block as
/// JSON text.
pub fn stream_type() -> DataType {
    let pair = struct_of(&[
        ("field", DataType::LargeBinary),
        ("value", DataType::LargeBinary),
    ]);
    let entry = struct_of(&[("id", DataType::Utf8), ("fields", list_of(pair))]);
    let pending = struct_of(&[
        ("id", DataType::Utf8),
        ("consumer", DataType::LargeBinary),
        ("delivery_count", DataType::Int64),
        ("delivery_time_ms", DataType::Int64),
    ]);
    let consumer = struct_of(&[
        ("name", DataType::LargeBinary),
        ("seen_time_ms", DataType::Int64),
        ("active_time_ms", DataType::Int64),
        ("pending", list_of(DataType::Utf8)),
    ]);
    let group = struct_of(&[
        ("name", DataType::LargeBinary),
        ("last_delivered_id", DataType::Utf8),
        ("entries_read", DataType::Int64),
        ("pending", list_of(pending)),
        ("consumers", list_of(consumer)),
        ("nacked", list_of(DataType::Utf8)),
    ]);
    struct_of(&[
        ("entries", list_of(entry)),
        ("length", DataType::Int64),
        ("last_id", DataType::Utf8),
        ("first_id", DataType::Utf8),
        ("max_deleted_id", DataType::Utf8),
        ("entries_added", DataType::Int64),
        ("groups", list_of(group)),
        ("idmp", DataType::LargeUtf8),
    ])
}

/// Builders of every level of the stream struct.
#[derive(Default)]
pub struct StreamCols {
    valid: Vec<bool>,
    entries: ListCol,
    entry_id: StringBuilder,
    entry_fields: ListCol,
    field: LargeBinaryBuilder,
    value: LargeBinaryBuilder,
    length: Int64Builder,
    last_id: StringBuilder,
    first_id: StringBuilder,
    max_deleted_id: StringBuilder,
    entries_added: Int64Builder,
    groups: Groups,
    idmp: LargeStringBuilder,
}

#[derive(Default)]
struct Groups {
    list: ListCol,
    name: LargeBinaryBuilder,
    last_delivered: StringBuilder,
    entries_read: Int64Builder,
    pending: ListCol,
    p_id: StringBuilder,
    p_consumer: LargeBinaryBuilder,
    p_count: Int64Builder,
    p_time: Int64Builder,
    consumers: ListCol,
    c_name: LargeBinaryBuilder,
    c_seen: Int64Builder,
    c_active: Int64Builder,
    c_pending: ListCol,
    c_pending_id: StringBuilder,
    nacked: ListCol,
    nacked_id: StringBuilder,
}

fn opt_id(b: &mut StringBuilder, id: Option<StreamId>) {
    b.append_option(id.map(id_string));
}

impl StreamCols {
    /// Adds a row: a stream (entries and metadata), or null for a row of
    /// another type.
    pub fn push(&mut self, s: Option<(&[StreamEntry], &StreamMeta)>) {
        self.valid.push(s.is_some());
        let Some((entries, m)) = s else {
            self.entries.close(self.entry_id.len(), false);
            self.length.append_null();
            self.last_id.append_null();
            self.first_id.append_null();
            self.max_deleted_id.append_null();
            self.entries_added.append_null();
            self.groups.list.close(self.groups.name.len(), false);
            self.idmp.append_null();
            return;
        };
        for (id, fields) in entries {
            self.entry_id.append_value(id_string(*id));
            for (f, v) in fields {
                self.field.append_value(f);
                self.value.append_value(v);
            }
            self.entry_fields.close(self.field.len(), true);
        }
        self.entries.close(self.entry_id.len(), true);
        self.length.append_value(m.length as i64);
        self.last_id.append_value(id_string(m.last_id));
        opt_id(&mut self.first_id, m.first_id);
        opt_id(&mut self.max_deleted_id, m.max_deleted_id);
        self.entries_added
            .append_option(m.entries_added.map(|n| n as i64));
        for g in &m.groups {
            self.groups.push(g);
        }
        self.groups.list.close(self.groups.name.len(), true);
        self.idmp.append_option(m.idmp.as_ref().map(idmp_json));
    }

    /// The struct array, of type `dt` ([`stream_type`]).
    pub fn finish(mut self, dt: &DataType) -> Result<ArrayRef, ArrowError> {
        let DataType::Struct(fields) = dt else {
            return Err(ArrowError::SchemaError(
                "value_stream is not a struct".into(),
            ));
        };
        let ty = |i: usize| fields[i].data_type().clone();
        let entry_t = item_type(&ty(0));
        let DataType::Struct(ef) = &entry_t else {
            return Err(ArrowError::SchemaError("bad entry type".into()));
        };
        let pair_t = item_type(ef[1].data_type());
        let pairs = strukt(
            &pair_t,
            vec![Arc::new(self.field.finish()), Arc::new(self.value.finish())],
            None,
        )?;
        let fields_col = self.entry_fields.finish(ef[1].data_type(), pairs)?;
        let entries = strukt(
            &entry_t,
            vec![Arc::new(self.entry_id.finish()), fields_col],
            None,
        )?;
        let cols: Vec<ArrayRef> = vec![
            self.entries.finish(&ty(0), entries)?,
            Arc::new(self.length.finish()),
            Arc::new(self.last_id.finish()),
            Arc::new(self.first_id.finish()),
            Arc::new(self.max_deleted_id.finish()),
            Arc::new(self.entries_added.finish()),
            self.groups.finish(&ty(6))?,
            Arc::new(self.idmp.finish()),
        ];
        strukt(dt, cols, Some(std::mem::take(&mut self.valid)))
    }
}

impl Groups {
    fn push(&mut self, g: &Group) {
        self.name.append_value(&g.name);
        self.last_delivered
            .append_value(id_string(g.last_delivered_id));
        self.entries_read.append_option(g.entries_read);
        let mut owner: BTreeMap<StreamId, &[u8]> = BTreeMap::new();
        for c in &g.consumers {
            for id in &c.pending {
                owner.insert(*id, &c.name);
            }
        }
        for p in &g.pending {
            self.p_id.append_value(id_string(p.id));
            self.p_consumer.append_option(owner.get(&p.id));
            self.p_count.append_value(p.delivery_count as i64);
            self.p_time.append_value(p.delivery_time_ms as i64);
        }
        self.pending.close(self.p_id.len(), true);
        for c in &g.consumers {
            self.c_name.append_value(&c.name);
            self.c_seen.append_value(c.seen_time_ms as i64);
            self.c_active
                .append_option(c.active_time_ms.map(|t| t as i64));
            for id in &c.pending {
                self.c_pending_id.append_value(id_string(*id));
            }
            self.c_pending.close(self.c_pending_id.len(), true);
        }
        self.consumers.close(self.c_name.len(), true);
        if let Some(ids) = &g.nacked {
            for id in ids {
                self.nacked_id.append_value(id_string(*id));
            }
        }
        self.nacked.close(self.nacked_id.len(), g.nacked.is_some());
    }

    fn finish(mut self, list_t: &DataType) -> Result<ArrayRef, ArrowError> {
        let group_t = item_type(list_t);
        let DataType::Struct(gf) = &group_t else {
            return Err(ArrowError::SchemaError("bad group type".into()));
        };
        let pending_t = gf[3].data_type();
        let pending = strukt(
            &item_type(pending_t),
            vec![
                Arc::new(self.p_id.finish()),
                Arc::new(self.p_consumer.finish()),
                Arc::new(self.p_count.finish()),
                Arc::new(self.p_time.finish()),
            ],
            None,
        )?;
        let consumer_t = item_type(gf[4].data_type());
        let DataType::Struct(cf) = &consumer_t else {
            return Err(ArrowError::SchemaError("bad consumer type".into()));
        };
        let c_pending = self
            .c_pending
            .finish(cf[3].data_type(), Arc::new(self.c_pending_id.finish()))?;
        let consumers = strukt(
            &consumer_t,
            vec![
                Arc::new(self.c_name.finish()),
                Arc::new(self.c_seen.finish()),
                Arc::new(self.c_active.finish()),
                c_pending,
            ],
            None,
        )?;
        let groups = strukt(
            &group_t,
            vec![
                Arc::new(self.name.finish()),
                Arc::new(self.last_delivered.finish()),
                Arc::new(self.entries_read.finish()),
                self.pending.finish(pending_t, pending)?,
                self.consumers.finish(gf[4].data_type(), consumers)?,
                self.nacked
                    .finish(gf[5].data_type(), Arc::new(self.nacked_id.finish()))?,
            ],
            None,
        )?;
        self.list.finish(list_t, groups)
    }
}

/// The IDMP block as JSON text (rare; kept whole rather than modelled).
fn idmp_json(i: &Idmp) -> String {
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let producers: Vec<serde_json::Value> = i
        .producers
        .iter()
        .map(|p| {
            let entries: Vec<serde_json::Value> = p
                .entries
                .iter()
                .map(|(iid, id)| serde_json::json!([text(iid), id_string(*id)]))
                .collect();
            serde_json::json!({"id": text(&p.id), "entries": entries})
        })
        .collect();
    serde_json::json!({
        "duration": i.duration,
        "max_entries": i.max_entries,
        "producers": producers,
        "counters": i.counters,
    })
    .to_string()
}
