//! STUB: owned by the stream helper. Replace (keep the public names).
use crate::error::{Error, Result};
use crate::rdb::cursor::Cursor;
use crate::rdb::elem::Elem;

/// A stream ID `ms-seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Which stream layout: RDB types 15, 19, 21 and Redis 8.6's 26.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamVersion { V1, V2, V3, V4 }

#[derive(Debug, Clone, PartialEq)]
pub struct PendingEntry { pub id: StreamId, pub delivery_time_ms: u64, pub delivery_count: u64 }

#[derive(Debug, Clone, PartialEq)]
pub struct Consumer { pub name: Vec<u8>, pub seen_time_ms: u64, pub active_time_ms: Option<u64>, pub pending: Vec<StreamId> }

#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub name: Vec<u8>,
    pub last_delivered_id: StreamId,
    pub entries_read: Option<i64>,
    pub pending: Vec<PendingEntry>,
    pub consumers: Vec<Consumer>,
}

/// Redis 8.6 (type 26) idempotent-producer block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Idmp {
    pub duration: u64,
    pub max_entries: u64,
    pub producers: Vec<IdmpProducer>,
    pub counters: [u64; 2],
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct IdmpProducer { pub id: Vec<u8>, pub entries: Vec<(Vec<u8>, StreamId)> }

#[derive(Debug, Clone, PartialEq, Default)]
pub struct StreamMeta {
    pub length: u64,
    pub last_id: StreamId,
    pub first_id: Option<StreamId>,
    pub max_deleted_id: Option<StreamId>,
    pub entries_added: Option<u64>,
    pub groups: Vec<Group>,
    pub idmp: Option<Idmp>,
}

/// Receives stream entries in ID order.
pub trait StreamVisitor {
    fn entry(&mut self, id: StreamId, fields: &[(Elem<'_>, Elem<'_>)]) -> Result<()>;
}

/// Decodes a stream value starting at the cursor (just after the type byte).
pub fn decode<V: StreamVisitor>(cur: &mut Cursor<'_>, version: StreamVersion, visitor: &mut V) -> Result<StreamMeta> {
    let _ = (version, visitor);
    Err(Error::invalid(cur.offset(), "stream", "stub"))
}

/// Skips a stream value, leaving the cursor just after it.
pub fn skip(cur: &mut Cursor<'_>, version: StreamVersion) -> Result<()> {
    let _ = version;
    Err(Error::invalid(cur.offset(), "stream", "stub"))
}
