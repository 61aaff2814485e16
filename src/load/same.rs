//! Is the value a target holds (its `DUMP` payload) the same value as a
//! file's record, even when the bytes differ?
//!
//! A server re-encodes some values when it restores them: a set in a
//! hashtable is dumped in the order of its own hash table, a skiplist zset
//! or a big hash likewise, an old ziplist comes back as a listpack. A key
//! rdbkit wrote itself, re-checked after a crash or a lost reply, must not
//! then count as "another value": the loader compares byte-exact first and,
//! when the bytes differ, compares the decoded values here.
//!
//! Both values are reduced to a digest as they are decoded, in constant
//! memory whatever the size: elements of ordered types (strings, lists,
//! stream entries and metadata) are hashed in sequence; elements of
//! unordered types (set members, hash fields with their value and TTL, zset
//! members with their score) each hash on their own and the hashes are
//! added up, so their order does not matter. Two independently keyed
//! 64-bit SipHashes make an accidental match practically impossible.

use std::collections::hash_map::DefaultHasher;
use std::hash::Hasher;

use crate::error::Result;
use crate::rdb::array::{ArrayElem, ArrayHead};
use crate::rdb::consts::RDB_OPCODE_KEY_META;
use crate::rdb::elem::Elem;
use crate::rdb::module::ModuleValue;
use crate::rdb::records::Record;
use crate::rdb::stream::{StreamId, StreamMeta};
use crate::rdb::value::{Dialect, Scratch, ValueType, ValueVisitor};

/// True when `payload` (a `DUMP` reply: value, 2-byte version, CRC-64)
/// holds the same value as `rec`. `valkey_target`: the payload came from a
/// Valkey server (its type bytes from 22 up mean Valkey's types when the
/// payload's version is Valkey's own, 80 and up).
pub fn same_value(rec: &Record<'_>, payload: &[u8], valkey_target: bool) -> bool {
    if payload.len() < 11 {
        return false;
    }
    let (body, trailer) = payload.split_at(payload.len() - 10);
    let version = u16::from_le_bytes([trailer[0], trailer[1]]);
    let dialect = if valkey_target && version >= 80 {
        Dialect::Valkey
    } else {
        Dialect::Redis
    };
    let body = match (body[0] == RDB_OPCODE_KEY_META, rec.key_meta) {
        (false, _) => body,
        // Key metadata the file holds too: compared as bytes.
        (true, Some(m)) if body.len() > m.len() + 1 && &body[1..=m.len()] == m => {
            &body[m.len() + 1..]
        }
        (true, _) => return false,
    };
    let Some(vtype) = ValueType::from_byte(body[0], dialect) else {
        return false;
    };
    if vtype.kind() != rec.vtype.kind() {
        return false;
    }
    let theirs = Record {
        type_byte: body[0],
        vtype,
        value: &body[1..],
        value_offset: 0,
        ..rec.clone()
    };
    match (digest(rec), digest(&theirs)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// The digest of one record's value.
fn digest(rec: &Record<'_>) -> Result<[u64; 5]> {
    let mut d = Digest::default();
    rec.decode(&mut Scratch::default(), &mut d)?;
    Ok([
        d.seq[0].finish(),
        d.seq[1].finish(),
        d.sum[0],
        d.sum[1],
        d.count,
    ])
}

/// Sequence hashers and order-free sums, each in two independent keyings.
#[derive(Default)]
struct Digest {
    seq: [DefaultHasher; 2],
    sum: [u64; 2],
    count: u64,
}

impl Digest {
    /// Hashes one unordered element (its parts in order) into the sums.
    fn unordered(&mut self, parts: &[&[u8]]) {
        self.count += 1;
        for (k, sum) in self.sum.iter_mut().enumerate() {
            let mut h = DefaultHasher::default();
            h.write_u8(k as u8);
            for p in parts {
                h.write_usize(p.len());
                h.write(p);
            }
            *sum = sum.wrapping_add(h.finish());
        }
    }

    /// Hashes one ordered element into the sequence.
    fn ordered(&mut self, parts: &[&[u8]]) {
        for h in &mut self.seq {
            for p in parts {
                h.write_usize(p.len());
                h.write(p);
            }
        }
    }
}

/// Element bytes go in by `Elem::as_bytes`: integer encodings compare as
/// their decimal text, as the server shows them.
impl ValueVisitor for Digest {
    fn string(&mut self, v: Elem<'_>) -> Result<()> {
        let mut b = itoa::Buffer::new();
        self.ordered(&[b"s", v.as_bytes(&mut b)]);
        Ok(())
    }
    fn list_item(&mut self, v: Elem<'_>) -> Result<()> {
        let mut b = itoa::Buffer::new();
        self.ordered(&[b"l", v.as_bytes(&mut b)]);
        Ok(())
    }
    fn set_member(&mut self, v: Elem<'_>) -> Result<()> {
        let mut b = itoa::Buffer::new();
        self.unordered(&[b"S", v.as_bytes(&mut b)]);
        Ok(())
    }
    fn zset_member(&mut self, member: Elem<'_>, score: f64) -> Result<()> {
        let mut b = itoa::Buffer::new();
        // -0.0 and 0.0 are one score to the server; NaN never stored.
        let score = if score == 0.0 { 0.0f64 } else { score };
        self.unordered(&[
            b"z",
            member.as_bytes(&mut b),
            &score.to_bits().to_le_bytes(),
        ]);
        Ok(())
    }
    fn hash_field(
        &mut self,
        field: Elem<'_>,
        value: Elem<'_>,
        expire_ms: Option<i64>,
    ) -> Result<()> {
        let (mut b1, mut b2) = (itoa::Buffer::new(), itoa::Buffer::new());
        let ttl = expire_ms.map_or([0u8; 9], |t| {
            let mut x = [1u8; 9];
            x[1..].copy_from_slice(&t.to_le_bytes());
            x
        });
        self.unordered(&[b"h", field.as_bytes(&mut b1), value.as_bytes(&mut b2), &ttl]);
        Ok(())
    }
    fn stream_entry(&mut self, id: StreamId, fields: &[(Elem<'_>, Elem<'_>)]) -> Result<()> {
        self.ordered(&[b"e", format!("{id:?}").as_bytes()]);
        for (f, v) in fields {
            let (mut b1, mut b2) = (itoa::Buffer::new(), itoa::Buffer::new());
            self.ordered(&[f.as_bytes(&mut b1), v.as_bytes(&mut b2)]);
        }
        Ok(())
    }
    fn stream_meta(&mut self, meta: &StreamMeta) -> Result<()> {
        self.ordered(&[b"m", format!("{meta:?}").as_bytes()]);
        Ok(())
    }
    fn module(&mut self, value: &ModuleValue<'_>) -> Result<()> {
        self.ordered(&[b"M", value.name.as_bytes(), value.raw]);
        Ok(())
    }
    fn array_head(&mut self, head: ArrayHead) -> Result<()> {
        let cursor = head.insert_idx.map_or([0u8; 9], |i| {
            let mut x = [1u8; 9];
            x[1..].copy_from_slice(&i.to_le_bytes());
            x
        });
        self.ordered(&[b"A", &head.count.to_le_bytes(), &cursor]);
        Ok(())
    }
    fn array_element(&mut self, index: u64, value: ArrayElem<'_>) -> Result<()> {
        self.ordered(&[b"a", &index.to_le_bytes(), &value.text()]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::elem::RdbStr;

    fn set_rec(value: &'static [u8], type_byte: u8) -> Record<'static> {
        Record {
            offset: 0,
            db: 0,
            key: RdbStr::Raw(b"k"),
            expire_ms: None,
            idle: None,
            freq: None,
            type_byte,
            vtype: ValueType::from_byte(type_byte, Dialect::Redis).unwrap(),
            value,
            value_offset: 0,
            key_meta: None,
            vendor_hints: false,
        }
    }

    fn payload(type_byte: u8, value: &[u8]) -> Vec<u8> {
        let mut p = vec![type_byte];
        p.extend_from_slice(value);
        p.extend_from_slice(&10u16.to_le_bytes());
        p.extend_from_slice(&[0; 8]);
        p
    }

    #[test]
    fn sets_in_another_order_are_the_same() {
        // RDB_TYPE_SET (2): a length, then that many strings.
        let rec = set_rec(b"\x03\x01a\x01b\x01c", 2);
        assert!(same_value(&rec, &payload(2, b"\x03\x01c\x01a\x01b"), false));
        assert!(!same_value(
            &rec,
            &payload(2, b"\x03\x01c\x01a\x01d"),
            false
        ));
        assert!(!same_value(&rec, &payload(2, b"\x02\x01a\x01b"), false));
        // A list with the same members is another value.
        assert!(!same_value(
            &rec,
            &payload(1, b"\x03\x01a\x01b\x01c"),
            false
        ));
    }

    #[test]
    fn lists_keep_their_order() {
        let rec = set_rec(b"\x02\x01a\x01b", 1);
        assert!(same_value(&rec, &payload(1, b"\x02\x01a\x01b"), false));
        assert!(!same_value(&rec, &payload(1, b"\x02\x01b\x01a"), false));
    }

    #[test]
    fn damaged_payloads_differ() {
        let rec = set_rec(b"\x02\x01a\x01b", 1);
        assert!(!same_value(&rec, &payload(1, b"\x05\x01a"), false));
        assert!(!same_value(&rec, b"\x01\x02", false));
    }
}
