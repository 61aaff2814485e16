//! STUB: owned by the hash-field-expiry helper. Replace (keep the public names).
use crate::error::{Error, Result};
use crate::rdb::cursor::Cursor;
use crate::rdb::elem::Elem;

/// Which hash-with-field-TTL layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HfeKind {
    /// Redis 7.4 RC type 22 (`RDB_TYPE_HASH_METADATA_PRE_GA`).
    RedisMetadataPreGa,
    /// Redis 7.4 RC type 23 (`RDB_TYPE_HASH_LISTPACK_EX_PRE_GA`).
    RedisListpackExPreGa,
    /// Redis 7.4+ type 24 (`RDB_TYPE_HASH_METADATA`).
    RedisMetadata,
    /// Redis 7.4+ type 25 (`RDB_TYPE_HASH_LISTPACK_EX`).
    RedisListpackEx,
    /// Valkey 9 type 22 (`RDB_TYPE_HASH_2`).
    ValkeyHash2,
}

/// Decodes a hash with field TTLs; calls `f(field, value, expire_ms)` per field.
pub fn decode<F>(cur: &mut Cursor<'_>, kind: HfeKind, f: F) -> Result<()>
where
    F: FnMut(Elem<'_>, Elem<'_>, Option<i64>) -> Result<()>,
{
    let _ = (kind, f);
    Err(Error::invalid(cur.offset(), "hash", "stub"))
}

/// Skips such a value.
pub fn skip(cur: &mut Cursor<'_>, kind: HfeKind) -> Result<()> {
    let _ = kind;
    Err(Error::invalid(cur.offset(), "hash", "stub"))
}
