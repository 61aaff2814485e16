//! Values as owned elements, and their encoding as a server of the output
//! format would save them (`rdbSaveObject` in Redis' `rdb.c`), choosing the
//! compact encodings under the servers' default thresholds:
//!
//! ```text
//! list   RDB >= 10  quicklist 2 (18): listpack nodes of <= 8 KiB (list-max-listpack-size -2)
//!        RDB 7-9    quicklist (14): ziplist nodes of <= 8 KiB
//!        RDB 6      ziplist (10) if <= 128 elements of <= 64 bytes, else list (1)
//! set    intset (11) if all integers and <= 512 (set-max-intset-entries)
//!        RDB >= 11  listpack (20) if <= 128 members of <= 64 bytes
//!        else set (2)
//! zset   <= 128 members of <= 64 bytes: listpack (17, RDB >= 10) or ziplist (12)
//!        else ZSET_2 (5, binary scores, RDB >= 8) or ZSET (3, ASCII scores)
//! hash   <= 512 fields, fields and values <= 64 bytes: listpack (16) or ziplist (13)
//!        else hash (4)
//! hash with field TTLs: Redis RDB >= 12: listpackex (25) when small, else 24;
//!        Valkey: HASH_2 (22)
//! stream see [`super::stream`]
//! ```
//!
//! The input is the format layer's one owned [`Value`] (collected from an
//! RDB record or a JSON line). What the output cannot hold is reported as
//! a [`Loss`]; the caller refuses it or (lossy) writes the rest and counts
//! it.

use crate::rdb::consts::*;
use crate::rdb::stream::StreamId;
use crate::rdb::value::{Dialect, Value};

use super::format::Format;
use super::intset;
use super::listpack::ListpackBuilder;
use super::prim::*;
use super::ziplist::ZiplistBuilder;

/// `*-max-listpack-entries` / `*-max-ziplist-entries` defaults.
pub const HASH_MAX_LISTPACK_ENTRIES: usize = 512;
pub const ZSET_MAX_LISTPACK_ENTRIES: usize = 128;
pub const SET_MAX_LISTPACK_ENTRIES: usize = 128;
pub const LIST_MAX_ZIPLIST_ENTRIES: usize = 128;
pub const SET_MAX_INTSET_ENTRIES: usize = 512;
/// `*-max-listpack-value` / `*-max-ziplist-value` defaults (bytes).
pub const MAX_LISTPACK_VALUE: usize = 64;
/// `list-max-listpack-size -2`: 8 KiB per quicklist node.
pub const LIST_NODE_MAX_BYTES: usize = 8192;
/// `packed_threshold`: an element this big gets a plain quicklist node.
pub const PACKED_THRESHOLD: usize = 1 << 30;

/// Checks what a server's loader refuses in a value and a hand-edited JSON
/// line can hold: NaN scores, repeated set members, zset members or hash
/// fields, stream entry IDs not strictly increasing (or 0-0, or above the
/// stream's last ID). Returns what is wrong.
pub fn validate(v: &Value) -> std::result::Result<(), String> {
    fn unique<'a>(
        items: impl Iterator<Item = &'a [u8]>,
        what: &str,
    ) -> std::result::Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for i in items {
            if !seen.insert(i) {
                return Err(format!(
                    "{what} {:?} appears twice",
                    String::from_utf8_lossy(i)
                ));
            }
        }
        Ok(())
    }
    match v {
        Value::Set(m) => unique(m.iter().map(Vec::as_slice), "set member"),
        Value::ZSet(m) => {
            if m.iter().any(|e| e.1.is_nan()) {
                return Err("a zset score is NaN".into());
            }
            unique(m.iter().map(|e| e.0.as_slice()), "zset member")
        }
        Value::Hash(f) => unique(f.iter().map(|e| e.0.as_slice()), "hash field"),
        Value::Stream(entries, meta) => {
            let mut prev = StreamId::default();
            for (id, _) in entries {
                if *id <= prev {
                    return Err(format!("stream entry ID {id} does not follow {prev}"));
                }
                prev = *id;
            }
            if prev > meta.last_id {
                return Err(format!(
                    "stream entry ID {prev} is above the last ID {}",
                    meta.last_id
                ));
            }
            Ok(())
        }
        Value::String(_) | Value::List(_) | Value::Module { .. } | Value::Array(_) => Ok(()),
    }
}

/// Something the output format cannot hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loss {
    /// The whole key (its type does not exist in the output's version).
    Key(String),
    /// This many field TTLs (the fields are kept without them).
    FieldTtls(u64),
    /// Stream metadata the output's stream type has no place for.
    StreamFields(String),
}

impl Loss {
    /// An array key: no output format written here holds one (they stop at
    /// RDB 13).
    pub fn array() -> Loss {
        Loss::Key("arrays need RDB 14 (Redis 8.8+), which rdbkit does not write".into())
    }
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loss::Key(why) => write!(f, "{why}"),
            Loss::FieldTtls(n) => write!(
                f,
                "{n} hash field TTL(s) (field TTLs need Redis 7.4+ / Valkey 9+)"
            ),
            Loss::StreamFields(what) => write!(f, "stream {what}"),
        }
    }
}

/// An encoded value: its type byte and bytes, plus what had to be left out.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoded {
    pub type_byte: u8,
    pub bytes: Vec<u8>,
    pub losses: Vec<Loss>,
}

/// Encodes `v` for `fmt`. `None` bytes with a `Loss::Key` when the type
/// cannot exist there at all.
pub fn encode(v: &Value, fmt: Format) -> std::result::Result<Encoded, Loss> {
    let mut out = Vec::new();
    let mut losses = Vec::new();
    let type_byte = match v {
        Value::String(s) => {
            put_string(&mut out, s);
            RDB_TYPE_STRING
        }
        Value::List(items) => encode_list(&mut out, items, fmt),
        Value::Set(members) => encode_set(&mut out, members, fmt),
        Value::ZSet(members) => encode_zset(&mut out, members, fmt),
        Value::Hash(fields) => encode_hash(&mut out, fields, fmt, &mut losses),
        Value::Stream(entries, meta) => {
            super::stream::encode(&mut out, entries, meta, fmt, &mut losses)?
        }
        Value::Array(_) => return Err(Loss::array()),
        Value::Module { raw, .. } => {
            if !fmt.has_modules() {
                return Err(Loss::Key("module values need RDB 8 (Redis 4.0+)".into()));
            }
            // The decoder hands out module values of this type only.
            out.extend_from_slice(raw);
            RDB_TYPE_MODULE_2
        }
    };
    Ok(Encoded {
        type_byte,
        bytes: out,
        losses,
    })
}

fn small(items: impl ExactSizeIterator<Item = usize>, max_entries: usize) -> bool {
    items.len() <= max_entries && { items }.all(|n| n <= MAX_LISTPACK_VALUE)
}

fn encode_list(out: &mut Vec<u8>, items: &[Vec<u8>], fmt: Format) -> u8 {
    if fmt.level() < 7 {
        if small(items.iter().map(Vec::len), LIST_MAX_ZIPLIST_ENTRIES) {
            let mut z = ZiplistBuilder::new();
            items.iter().for_each(|i| z.push(i));
            put_raw_string(out, &z.finish());
            return RDB_TYPE_LIST_ZIPLIST;
        }
        put_len(out, items.len() as u64);
        items.iter().for_each(|i| put_string(out, i));
        return RDB_TYPE_LIST;
    }
    let packed = fmt.has_listpacks();
    let mut nodes: Vec<(u64, Vec<u8>)> = Vec::new();
    let mut lp = ListpackBuilder::new();
    let mut zl = ZiplistBuilder::new();
    for item in items {
        let used = if packed { lp.bytes() } else { zl.bytes() };
        let count = if packed { lp.len() } else { zl.len() };
        if count > 0
            && (used + item.len() + 11 > LIST_NODE_MAX_BYTES
                || (packed && item.len() >= PACKED_THRESHOLD))
        {
            if packed {
                nodes.push((
                    QUICKLIST_NODE_CONTAINER_PACKED,
                    std::mem::take(&mut lp).finish(),
                ));
            } else {
                nodes.push((
                    QUICKLIST_NODE_CONTAINER_PACKED,
                    std::mem::take(&mut zl).finish(),
                ));
            }
        }
        if packed && item.len() >= PACKED_THRESHOLD {
            nodes.push((QUICKLIST_NODE_CONTAINER_PLAIN, item.clone()));
        } else if packed {
            lp.push(item);
        } else {
            zl.push(item);
        }
    }
    if !lp.is_empty() {
        nodes.push((QUICKLIST_NODE_CONTAINER_PACKED, lp.finish()));
    }
    if !zl.is_empty() {
        nodes.push((QUICKLIST_NODE_CONTAINER_PACKED, zl.finish()));
    }
    put_len(out, nodes.len() as u64);
    for (container, node) in &nodes {
        if packed {
            put_len(out, *container);
        }
        put_raw_string(out, node);
    }
    if packed {
        RDB_TYPE_LIST_QUICKLIST_2
    } else {
        RDB_TYPE_LIST_QUICKLIST
    }
}

fn encode_set(out: &mut Vec<u8>, members: &[Vec<u8>], fmt: Format) -> u8 {
    if members.len() <= SET_MAX_INTSET_ENTRIES {
        let ints: Option<Vec<i64>> = members.iter().map(|m| canonical_int(m)).collect();
        if let Some(mut ints) = ints {
            put_raw_string(out, &intset::build(&mut ints));
            return RDB_TYPE_SET_INTSET;
        }
    }
    if fmt.has_set_listpack() && small(members.iter().map(Vec::len), SET_MAX_LISTPACK_ENTRIES) {
        let mut lp = ListpackBuilder::new();
        members.iter().for_each(|m| lp.push(m));
        put_raw_string(out, &lp.finish());
        return RDB_TYPE_SET_LISTPACK;
    }
    put_len(out, members.len() as u64);
    members.iter().for_each(|m| put_string(out, m));
    RDB_TYPE_SET
}

/// A score as `d2string` writes it into a ziplist/listpack: integral
/// doubles within 2^53 as integers, others as a decimal that reads back
/// exactly (the server's `%.17g` is one; `zzlStrtod` reads either).
fn score_text(s: f64) -> Vec<u8> {
    if s.is_nan() {
        b"nan".to_vec()
    } else if s.is_infinite() {
        if s > 0.0 {
            b"inf".to_vec()
        } else {
            b"-inf".to_vec()
        }
    } else if s == s.trunc() && s.abs() < (1u64 << 53) as f64 && !(s == 0.0 && s.is_sign_negative())
    {
        itoa::Buffer::new().format(s as i64).as_bytes().to_vec()
    } else {
        ryu::Buffer::new().format_finite(s).as_bytes().to_vec()
    }
}

fn encode_zset(out: &mut Vec<u8>, members: &[(Vec<u8>, f64)], fmt: Format) -> u8 {
    if small(members.iter().map(|m| m.0.len()), ZSET_MAX_LISTPACK_ENTRIES) && fmt.level() >= 6 {
        let mut sorted: Vec<&(Vec<u8>, f64)> = members.iter().collect();
        // Compact zsets are kept in (score, member) order; the loader checks it.
        sorted.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        let blob = if fmt.has_listpacks() {
            let mut lp = ListpackBuilder::new();
            for (m, s) in sorted {
                lp.push(m);
                lp.push(&score_text(*s));
            }
            lp.finish()
        } else {
            let mut zl = ZiplistBuilder::new();
            for (m, s) in sorted {
                zl.push(m);
                zl.push(&score_text(*s));
            }
            zl.finish()
        };
        put_raw_string(out, &blob);
        return if fmt.has_listpacks() {
            RDB_TYPE_ZSET_LISTPACK
        } else {
            RDB_TYPE_ZSET_ZIPLIST
        };
    }
    put_len(out, members.len() as u64);
    for (m, s) in members {
        put_string(out, m);
        if fmt.level() >= 8 {
            put_binary_double(out, *s);
        } else {
            put_ascii_double(out, *s);
        }
    }
    if fmt.level() >= 8 {
        RDB_TYPE_ZSET_2
    } else {
        RDB_TYPE_ZSET
    }
}

type Field = (Vec<u8>, Vec<u8>, Option<i64>);

fn small_hash(fields: &[Field]) -> bool {
    fields.len() <= HASH_MAX_LISTPACK_ENTRIES
        && fields
            .iter()
            .all(|(f, v, _)| f.len() <= MAX_LISTPACK_VALUE && v.len() <= MAX_LISTPACK_VALUE)
}

fn encode_hash(out: &mut Vec<u8>, fields: &[Field], fmt: Format, losses: &mut Vec<Loss>) -> u8 {
    let ttls = fields.iter().filter(|f| f.2.is_some()).count() as u64;
    if ttls > 0 && fmt.has_field_ttl() {
        return encode_hash_ttl(out, fields, fmt);
    }
    if ttls > 0 {
        losses.push(Loss::FieldTtls(ttls));
    }
    if small_hash(fields) {
        let blob = if fmt.has_listpacks() {
            let mut lp = ListpackBuilder::new();
            for (f, v, _) in fields {
                lp.push(f);
                lp.push(v);
            }
            lp.finish()
        } else {
            let mut zl = ZiplistBuilder::new();
            for (f, v, _) in fields {
                zl.push(f);
                zl.push(v);
            }
            zl.finish()
        };
        put_raw_string(out, &blob);
        return if fmt.has_listpacks() {
            RDB_TYPE_HASH_LISTPACK
        } else {
            RDB_TYPE_HASH_ZIPLIST
        };
    }
    put_len(out, fields.len() as u64);
    for (f, v, _) in fields {
        put_string(out, f);
        put_string(out, v);
    }
    RDB_TYPE_HASH
}

/// Hashes with field TTLs: see the layouts in [`crate::rdb::hfe`].
fn encode_hash_ttl(out: &mut Vec<u8>, fields: &[Field], fmt: Format) -> u8 {
    if fmt.dialect == Dialect::Valkey {
        put_len(out, fields.len() as u64);
        for (f, v, ttl) in fields {
            put_string(out, f);
            put_string(out, v);
            put_ms(out, ttl.unwrap_or(crate::rdb::hfe::VALKEY_EXPIRY_NONE));
        }
        return VALKEY_RDB_TYPE_HASH_2;
    }
    let min = fields.iter().filter_map(|f| f.2).min().unwrap_or(0);
    out.extend_from_slice(&(min as u64).to_le_bytes());
    if small_hash(fields) {
        // A listpackex keeps fields with a TTL first, by ascending TTL, then
        // those without (`hashTypeSetEx`); the loader's deep check refuses
        // any other order (`_lpEntryValidation`).
        let mut ordered: Vec<&Field> = fields.iter().collect();
        ordered.sort_by_key(|f| (f.2.is_none(), f.2.unwrap_or(0)));
        let mut lp = ListpackBuilder::new();
        for (f, v, ttl) in ordered {
            lp.push(f);
            lp.push(v);
            lp.push_int(ttl.unwrap_or(0));
        }
        put_raw_string(out, &lp.finish());
        return RDB_TYPE_HASH_LISTPACK_EX;
    }
    put_len(out, fields.len() as u64);
    for (f, v, ttl) in fields {
        // Relative to minExpire, plus one so that 0 stays "no TTL".
        put_len(out, ttl.map_or(0, |t| (t - min) as u64 + 1));
        put_string(out, f);
        put_string(out, v);
    }
    RDB_TYPE_HASH_METADATA
}
