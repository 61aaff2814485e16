//! Streams as `rdbSaveObject` writes them, for types 15, 19, 21 and 26; the
//! layout is drawn in [`crate::rdb::stream`]. Nodes are rebuilt from the
//! live entries the way `streamAppendItem` fills them (`t_stream.c`):
//!
//! ```text
//! node: string master ID (16 bytes BE) | string listpack:
//!   count | deleted (0) | num-fields | master fields... | 0
//!   per entry: flags | ms-diff | seq-diff | [num-fields | field value ...]
//!              (SAMEFIELDS: values only) | lp-count
//! a new node starts at stream-node-max-entries (100) entries or
//! stream-node-max-bytes (4096) bytes
//! ```
//!
//! Deleted entries are not carried (only live ones are known), which is the
//! state the server itself reaches after compacting a node.

use crate::rdb::stream::{Group, StreamId, StreamMeta, StreamVersion};

use super::format::Format;
use super::listpack::ListpackBuilder;
use super::prim::*;
use super::value::Loss;
use crate::rdb::value::StreamEntry;

/// `stream-node-max-entries` / `stream-node-max-bytes` defaults.
pub const STREAM_NODE_MAX_ENTRIES: usize = 100;
pub const STREAM_NODE_MAX_BYTES: usize = 4096;
/// `STREAM_ITEM_FLAG_SAMEFIELDS`.
const FLAG_SAMEFIELDS: i64 = 2;
/// `SCG_INVALID_ENTRIES_READ` as `rdbSaveLen` writes -1.
const ENTRIES_READ_UNKNOWN: u64 = u64::MAX;

/// The stream type an output format writes.
fn version_for(fmt: Format, meta: &StreamMeta) -> Option<StreamVersion> {
    Some(match fmt.level() {
        ..=8 => return None,
        9 => StreamVersion::V1,
        10 => StreamVersion::V2,
        13.. if fmt.has_key_meta() && meta.idmp.is_some() => StreamVersion::V4,
        _ => StreamVersion::V3,
    })
}

/// Appends a stream value; returns its type byte. What the chosen type has
/// no place for (and the older server would not rebuild the same) goes to
/// `losses`.
pub fn encode(
    out: &mut Vec<u8>,
    entries: &[StreamEntry],
    meta: &StreamMeta,
    fmt: Format,
    losses: &mut Vec<Loss>,
) -> Result<u8, Loss> {
    let v = version_for(fmt, meta)
        .ok_or_else(|| Loss::Key("streams need RDB 9 (Redis 5.0+)".into()))?;
    note_losses(v, entries, meta, losses);
    put_nodes(out, entries);
    put_len(out, meta.length);
    put_len_id(out, meta.last_id);
    if v >= StreamVersion::V2 {
        let first = meta
            .first_id
            .or(entries.first().map(|e| e.0))
            .unwrap_or_default();
        put_len_id(out, first);
        put_len_id(out, meta.max_deleted_id.unwrap_or_default());
        put_len(out, meta.entries_added.unwrap_or(meta.length));
    }
    put_len(out, meta.groups.len() as u64);
    for g in &meta.groups {
        put_group(out, g, v);
    }
    if v == StreamVersion::V4 {
        put_idmp(out, meta);
    }
    Ok(v.type_byte())
}

fn note_losses(
    v: StreamVersion,
    entries: &[StreamEntry],
    meta: &StreamMeta,
    losses: &mut Vec<Loss>,
) {
    if v < StreamVersion::V2 {
        let first_default =
            meta.first_id.is_none() || meta.first_id == entries.first().map(|e| e.0);
        let changed = !first_default
            || meta
                .max_deleted_id
                .is_some_and(|m| m != StreamId::default())
            || meta.entries_added.is_some_and(|a| a != meta.length)
            || meta.groups.iter().any(|g| g.entries_read.is_some());
        if changed {
            losses.push(Loss::StreamFields(
                "first/max-deleted IDs, entries-added, groups' entries-read (need RDB 10, Redis 7.0+)".into(),
            ));
        }
    }
    if v < StreamVersion::V3 {
        let active = meta
            .groups
            .iter()
            .flat_map(|g| &g.consumers)
            .any(|c| c.active_time_ms.is_some_and(|a| a != c.seen_time_ms));
        if active {
            losses.push(Loss::StreamFields(
                "consumers' active times (need RDB 11, Redis 7.2+)".into(),
            ));
        }
    }
    // No output type written here (<= 26) holds Redis 8.8's NACK zone.
    let nacked: usize = meta
        .groups
        .iter()
        .map(|g| g.nacked.as_ref().map_or(0, Vec::len))
        .sum();
    if nacked > 0 {
        losses.push(Loss::StreamFields(format!(
            "{nacked} NACKed entries (XNACK, need RDB 14, Redis 8.8+)"
        )));
    }
    if v < StreamVersion::V4 {
        if let Some(i) = &meta.idmp {
            if !i.producers.is_empty() || i.counters != [0, 0] {
                losses.push(Loss::StreamFields(
                    "idempotent-producer (IDMP) state (needs RDB 13, Redis 8.6+)".into(),
                ));
            }
        }
    }
}

fn put_len_id(out: &mut Vec<u8>, id: StreamId) {
    put_len(out, id.ms);
    put_len(out, id.seq);
}

/// The node listpacks, each keyed by its first entry's ID.
fn put_nodes(out: &mut Vec<u8>, entries: &[StreamEntry]) {
    let mut nodes: Vec<(StreamId, Vec<u8>)> = Vec::new();
    let mut rest = entries;
    while let Some((first, _)) = rest.first() {
        let (lp, used) = build_node(rest);
        nodes.push((*first, lp));
        rest = &rest[used..];
    }
    put_len(out, nodes.len() as u64);
    for (id, lp) in &nodes {
        put_raw_string(out, &id.to_be_bytes());
        put_raw_string(out, lp);
    }
}

/// One node from the head of `entries`; returns it and how many it took.
fn build_node(entries: &[StreamEntry]) -> (Vec<u8>, usize) {
    let (master, master_fields) = (entries[0].0, &entries[0].1);
    let mut lp = ListpackBuilder::new();
    // Master entry: count (patched below: at most 100, one byte), deleted,
    // the master field names, and the zero terminator.
    lp.push_int(0);
    lp.push_int(0);
    lp.push_int(master_fields.len() as i64);
    master_fields.iter().for_each(|(f, _)| lp.push(f));
    lp.push_int(0);
    let mut n = 0;
    for (id, fields) in entries {
        if n > 0 && (n >= STREAM_NODE_MAX_ENTRIES || lp.bytes() >= STREAM_NODE_MAX_BYTES) {
            break;
        }
        let same = fields.len() == master_fields.len()
            && fields.iter().zip(master_fields).all(|(a, b)| a.0 == b.0);
        lp.push_int(if same { FLAG_SAMEFIELDS } else { 0 });
        lp.push_int(id.ms.wrapping_sub(master.ms) as i64);
        lp.push_int(id.seq.wrapping_sub(master.seq) as i64);
        if same {
            fields.iter().for_each(|(_, v)| lp.push(v));
        } else {
            lp.push_int(fields.len() as i64);
            for (f, v) in fields {
                lp.push(f);
                lp.push(v);
            }
        }
        let lp_count = if same {
            fields.len() + 3
        } else {
            2 * fields.len() + 4
        };
        lp.push_int(lp_count as i64);
        n += 1;
    }
    lp.set_first_small_int(n as u8);
    (lp.finish(), n)
}

fn put_group(out: &mut Vec<u8>, g: &Group, v: StreamVersion) {
    put_string(out, &g.name);
    put_len_id(out, g.last_delivered_id);
    if v >= StreamVersion::V2 {
        put_len(
            out,
            g.entries_read.map_or(ENTRIES_READ_UNKNOWN, |n| n as u64),
        );
    }
    // NACKed entries are owned by no consumer, which older loaders refuse:
    // they leave the PEL with the NACK zone (counted as a loss).
    let nacked = g.nacked.as_deref().unwrap_or(&[]);
    let pending: Vec<_> = g
        .pending
        .iter()
        .filter(|p| !nacked.contains(&p.id))
        .collect();
    put_len(out, pending.len() as u64);
    for p in pending {
        out.extend_from_slice(&p.id.to_be_bytes());
        out.extend_from_slice(&p.delivery_time_ms.to_le_bytes());
        put_len(out, p.delivery_count);
    }
    put_len(out, g.consumers.len() as u64);
    for c in &g.consumers {
        put_string(out, &c.name);
        out.extend_from_slice(&c.seen_time_ms.to_le_bytes());
        if v >= StreamVersion::V3 {
            out.extend_from_slice(&c.active_time_ms.unwrap_or(c.seen_time_ms).to_le_bytes());
        }
        put_len(out, c.pending.len() as u64);
        for id in &c.pending {
            out.extend_from_slice(&id.to_be_bytes());
        }
    }
}

fn put_idmp(out: &mut Vec<u8>, meta: &StreamMeta) {
    let i = meta.idmp.clone().unwrap_or_default();
    put_len(out, i.duration);
    put_len(out, i.max_entries);
    put_len(out, i.producers.len() as u64);
    for p in &i.producers {
        put_string(out, &p.id);
        put_len(out, p.entries.len() as u64);
        for (iid, id) in &p.entries {
            put_string(out, iid);
            put_len_id(out, *id);
        }
    }
    put_len(out, i.counters[0]);
    put_len(out, i.counters[1]);
}
