//! Listpack-encoded values written for RDB 7–9 readers (Redis 3.2–6.2)
//! straight from the decoder's borrowed elements into ziplists, without
//! collecting owned elements first: the `--to redis-6.2` re-encoding of a
//! Redis 7 file is mostly this.
//!
//! ```text
//! hash listpack (16)        → hash ziplist (13)       fields in order
//! zset listpack (17)        → zset ziplist (12)       (member, score) in order
//! quicklist 2 (18) nodes    → quicklist (14): ziplist nodes of <= 8 KiB
//! ```
//!
//! The bytes are exactly those [`super::encode`] writes for the same value
//! (same thresholds, same integer encodings, same score texts, same node
//! cuts). A value that would not stay compact there (more entries or longer
//! elements than the default thresholds), an empty one, or a zset whose
//! listpack is not in (score, member) order gives `None`: the caller then
//! takes the general path, which sorts, checks and chooses the encoding.
//! (One difference: a hash's or zset's ziplist is offered to LZF only when
//! the listpack it comes from was stored compressed; see
//! [`source_compressed`].)
//!
//! A list too big to be built in memory first is written in two walks
//! ([`list_nodes`] counts the nodes, whose number comes first in the
//! format; [`write_list`] writes them one at a time), the same bytes in
//! memory bounded by one node.

use crate::error::{Error, ErrorKind, Result};
use crate::rdb::consts::*;
use crate::rdb::cursor::Cursor;
use crate::rdb::elem::{Elem, RdbStr};
use crate::rdb::records::{Record, StoredValue};
use crate::rdb::value::{Scratch, ValueType, ValueVisitor};

use super::format::Format;
use super::prim::{put_plain_string, put_raw_string};
use super::value::{
    Encoded, HASH_MAX_LISTPACK_ENTRIES, LIST_NODE_MAX_BYTES, MAX_LISTPACK_VALUE,
    ZSET_MAX_LISTPACK_ENTRIES,
};
use super::ziplist::ZiplistBuilder;

/// Re-encodes `rec` for `fmt` without owned elements, when it is a
/// listpack-encoded hash, zset or list and `fmt` is RDB 7–9; `None` when
/// this path does not apply (see the module docs).
pub fn listpack_to_ziplist(
    rec: &Record<'_>,
    fmt: Format,
    scratch: &mut Scratch,
) -> Result<Option<Encoded>> {
    if !(7..=9).contains(&fmt.level()) {
        return Ok(None);
    }
    let (kind, type_byte) = match rec.vtype {
        ValueType::HashListpack => (Shape::Hash, RDB_TYPE_HASH_ZIPLIST),
        ValueType::ZSetListpack => (Shape::ZSet, RDB_TYPE_ZSET_ZIPLIST),
        ValueType::ListQuicklist2 => return list_to_quicklist(rec, scratch),
        _ => return Ok(None),
    };
    let mut b = Builder {
        shape: kind,
        zl: ZiplistBuilder::new(),
        entries: 0,
        last_score: 0.0,
        last_member: Vec::new(),
        cur: Vec::new(),
        gave_up: false,
    };
    match rec.decode(scratch, &mut b) {
        Ok(()) => {}
        Err(_) if b.gave_up => return Ok(None),
        Err(e) => return Err(e),
    }
    if b.entries == 0 {
        return Ok(None);
    }
    let put = if source_compressed(rec) {
        put_raw_string
    } else {
        put_plain_string
    };
    let mut bytes = Vec::new();
    put(&mut bytes, &b.zl.finish());
    Ok(Some(Encoded {
        type_byte,
        bytes,
        losses: Vec::new(),
    }))
}

/// A quicklist 2 list as a quicklist of ziplist nodes, built whole. The
/// nodes are new cuts, which need not compress as the source nodes did:
/// they are always offered to LZF.
fn list_to_quicklist(rec: &Record<'_>, scratch: &mut Scratch) -> Result<Option<Encoded>> {
    let mut nodes = Vec::new();
    NodeCutter::new(|n| {
        nodes.push(n);
        true
    })
    .run(&rec.stored(), scratch)?;
    if nodes.is_empty() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    super::prim::put_len(&mut bytes, nodes.len() as u64);
    nodes.iter().for_each(|n| put_raw_string(&mut bytes, n));
    Ok(Some(Encoded {
        type_byte: RDB_TYPE_LIST_QUICKLIST,
        bytes,
        losses: Vec::new(),
    }))
}

/// Whether a hash's or zset's listpack is stored LZF-compressed. The
/// ziplist of the same elements compresses about as well, so a listpack the
/// source server could not compress is not offered to LZF again: that
/// attempt would fail for nearly every such value, and it is most of the
/// cost of re-encoding (a server writing the file would try, and store the
/// same uncompressed bytes).
fn source_compressed(rec: &Record<'_>) -> bool {
    let mut c = Cursor::new(rec.value, rec.value_offset);
    matches!(c.string("listpack"), Ok(RdbStr::Lzf { .. }))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shape {
    Hash,
    ZSet,
}

/// The visitor building a hash's or zset's ziplist.
struct Builder {
    shape: Shape,
    zl: ZiplistBuilder,
    /// Fields or members seen.
    entries: usize,
    /// The previous zset entry, to check the order (and a buffer).
    last_score: f64,
    last_member: Vec<u8>,
    cur: Vec<u8>,
    gave_up: bool,
}

impl Builder {
    /// Stops the decode: this value takes the general path.
    fn give_up(&mut self) -> Result<()> {
        self.gave_up = true;
        Err(Error::new(0, ErrorKind::NotRdb))
    }
}

/// Appends an element as [`ZiplistBuilder::push`] would its text.
fn push(zl: &mut ZiplistBuilder, e: Elem<'_>) {
    match e {
        Elem::Int(i) => zl.push_int(i),
        Elem::Bytes(b) => zl.push(b),
    }
}

/// The cut of `encode_list` (RDB 7-9): a node stays within 8 KiB, so `v`
/// starts a new node when the current one is not empty and would outgrow it.
fn cuts_before(zl: &ZiplistBuilder, v: &Elem<'_>) -> bool {
    !zl.is_empty() && zl.bytes() + v.byte_len() + 11 > LIST_NODE_MAX_BYTES
}

/// Cuts a list's items into ziplist nodes, handing each finished node to
/// `node`: the one walk both [`list_nodes`] and [`write_list`] make, so
/// that they agree on every cut.
struct NodeCutter<F: FnMut(Vec<u8>) -> bool> {
    zl: ZiplistBuilder,
    node: F,
    /// `node` asked to stop.
    stopped: bool,
}

impl<F: FnMut(Vec<u8>) -> bool> NodeCutter<F> {
    fn new(node: F) -> Self {
        NodeCutter {
            zl: ZiplistBuilder::new(),
            node,
            stopped: false,
        }
    }

    /// Walks `v`, then hands over the last node (none for an empty list).
    fn run(mut self, v: &StoredValue<'_>, scratch: &mut Scratch) -> Result<bool> {
        match v.decode(scratch, &mut self) {
            Err(e) if e.is_stop() && self.stopped => return Ok(false),
            r => r?,
        }
        if !self.zl.is_empty() && !(self.node)(self.zl.finish()) {
            return Ok(false);
        }
        Ok(true)
    }
}

impl<F: FnMut(Vec<u8>) -> bool> ValueVisitor for NodeCutter<F> {
    fn list_item(&mut self, v: Elem<'_>) -> Result<()> {
        if cuts_before(&self.zl, &v) {
            let full = std::mem::take(&mut self.zl).finish();
            if !(self.node)(full) {
                self.stopped = true;
                return Err(Error::stop());
            }
        }
        push(&mut self.zl, v);
        Ok(())
    }
}

/// The number of quicklist nodes [`write_list`] will write for `v`, when
/// `v` is a quicklist 2 list (type 18) and `fmt` is RDB 7–9; `None`
/// otherwise, or for an empty list (the general path's). The walk reads
/// the whole value, so a damaged one is an error here.
pub fn list_nodes(v: &StoredValue<'_>, fmt: Format, scratch: &mut Scratch) -> Result<Option<u64>> {
    if !(7..=9).contains(&fmt.level()) || v.vtype != ValueType::ListQuicklist2 {
        return Ok(None);
    }
    let mut n = 0u64;
    NodeCutter::new(|_| {
        n += 1;
        true
    })
    .run(v, scratch)?;
    Ok((n > 0).then_some(n))
}

/// Writes `v` as a quicklist (type 14) value of `nodes` ziplist nodes
/// (from [`list_nodes`]) through `out`, one node at a time: the bytes
/// [`listpack_to_ziplist`] builds whole. `out`'s first error stops the walk
/// and is returned.
pub fn write_list<E: From<Error>>(
    v: &StoredValue<'_>,
    nodes: u64,
    scratch: &mut Scratch,
    mut out: impl FnMut(&[u8]) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let mut buf = Vec::new();
    super::prim::put_len(&mut buf, nodes);
    out(&buf)?;
    let (mut written, mut failed) = (0u64, None);
    let whole = NodeCutter::new(|node: Vec<u8>| {
        written += 1;
        buf.clear();
        put_raw_string(&mut buf, &node);
        match out(&buf) {
            Ok(()) => written <= nodes,
            Err(e) => {
                failed = Some(e);
                false
            }
        }
    })
    .run(v, scratch)?;
    if let Some(e) = failed {
        return Err(e);
    }
    if !whole || written != nodes {
        // The bytes changed between the walks (they are the same map).
        return Err(Error::invalid(
            v.value_offset,
            "list",
            "cut into a different number of nodes on the second walk",
        )
        .into());
    }
    Ok(())
}

/// A score as `score_text` writes it, pushed without building the text in
/// a `Vec`: integral doubles within 2^53 (not -0) as integers.
fn push_score(zl: &mut ZiplistBuilder, s: f64) {
    if s.is_nan() {
        zl.push(b"nan");
    } else if s.is_infinite() {
        zl.push(if s > 0.0 { b"inf" } else { b"-inf" });
    } else if s == s.trunc() && s.abs() < (1u64 << 53) as f64 && !(s == 0.0 && s.is_sign_negative())
    {
        zl.push_int(s as i64);
    } else {
        zl.push(ryu::Buffer::new().format_finite(s).as_bytes());
    }
}

impl ValueVisitor for Builder {
    fn hash_field(&mut self, f: Elem<'_>, v: Elem<'_>, ttl: Option<i64>) -> Result<()> {
        self.entries += 1;
        if self.shape != Shape::Hash
            || ttl.is_some()
            || self.entries > HASH_MAX_LISTPACK_ENTRIES
            || f.byte_len() > MAX_LISTPACK_VALUE
            || v.byte_len() > MAX_LISTPACK_VALUE
        {
            return self.give_up();
        }
        push(&mut self.zl, f);
        push(&mut self.zl, v);
        Ok(())
    }

    fn zset_member(&mut self, m: Elem<'_>, score: f64) -> Result<()> {
        self.entries += 1;
        if self.shape != Shape::ZSet
            || score.is_nan()
            || self.entries > ZSET_MAX_LISTPACK_ENTRIES
            || m.byte_len() > MAX_LISTPACK_VALUE
        {
            return self.give_up();
        }
        // `encode_zset` sorts by (score, member); a listpack already in
        // that order (as servers keep it) is written as it is.
        self.cur.clear();
        m.write_to(&mut self.cur);
        if self.entries > 1 {
            let order = self
                .last_score
                .total_cmp(&score)
                .then_with(|| self.last_member.as_slice().cmp(&self.cur));
            if order != std::cmp::Ordering::Less {
                return self.give_up();
            }
        }
        std::mem::swap(&mut self.last_member, &mut self.cur);
        self.last_score = score;
        push(&mut self.zl, m);
        push_score(&mut self.zl, score);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::value::Dialect;
    use crate::rdb::value::Value;
    use crate::rdb::write::encode;
    use crate::rdb::write::listpack::ListpackBuilder;

    fn record<'a>(type_byte: u8, value: &'a [u8]) -> Record<'a> {
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

    fn strs(n: usize, len: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| format!("{i:0>len$}x").into_bytes())
            .collect()
    }

    /// Values a Redis 7 file holds as listpacks: written at RDB 10, then
    /// re-encoded for RDB 7-9 both ways, byte for byte the same.
    #[test]
    fn same_bytes_as_the_general_path() {
        let mut zset: Vec<(Vec<u8>, f64)> = vec![
            (b"a".to_vec(), 1.5),
            (b"b".to_vec(), -2.0),
            (b"c".to_vec(), f64::INFINITY),
            (b"d".to_vec(), 0.1),
            (b"e".to_vec(), -0.0),
            (b"f".to_vec(), 9e15),
            (b"g".to_vec(), 1e300),
            (b"12".to_vec(), 7.0),
        ];
        zset.extend(strs(100, 4).into_iter().map(|m| (m, 3.0)));
        let values = [
            Value::Hash(vec![
                (b"f".to_vec(), b"v".to_vec(), None),
                (b"n".to_vec(), b"42".to_vec(), None),
                (b"-7".to_vec(), b"-9223372036854775808".to_vec(), None),
                (b"s".to_vec(), vec![b'x'; 64], None),
            ]),
            Value::ZSet(zset),
            Value::List(strs(5, 3)),
            Value::List(strs(3000, 20)),
            Value::List(vec![b"1".to_vec(), b"-700".to_vec(), vec![b'q'; 9000]]),
        ];
        let from = Format::new(Dialect::Redis, 10).unwrap();
        let mut scratch = Scratch::default();
        for v in &values {
            let lp = encode(v, from).unwrap();
            let rec = record(lp.type_byte, &lp.bytes);
            for to in 7..=9 {
                let to = Format::new(Dialect::Redis, to).unwrap();
                let got = listpack_to_ziplist(&rec, to, &mut scratch)
                    .unwrap()
                    .unwrap_or_else(|| panic!("{v:?}: not taken"));
                assert_eq!(got, encode(v, to).unwrap(), "{to:?} {v:?}");
            }
            // RDB 6 and listpack outputs are not this path's.
            for to in [6, 10, 11] {
                let to = Format::new(Dialect::Redis, to).unwrap();
                assert!(listpack_to_ziplist(&rec, to, &mut scratch)
                    .unwrap()
                    .is_none());
            }
        }
    }

    /// A list written node by node is the list built whole, byte for byte,
    /// whatever its size; the count walk agrees with the write walk.
    #[test]
    fn lists_written_node_by_node_are_the_lists_built_whole() {
        let from = Format::new(Dialect::Redis, 10).unwrap();
        let to = Format::new(Dialect::Redis, 9).unwrap();
        let mut scratch = Scratch::default();
        for v in [
            Value::List(strs(1, 3)),
            Value::List(strs(3000, 20)),
            Value::List(vec![b"1".to_vec(), b"-700".to_vec(), vec![b'q'; 9000]]),
            Value::List(strs(50_000, 7)),
        ] {
            let lp = encode(&v, from).unwrap();
            let rec = record(lp.type_byte, &lp.bytes);
            let whole = listpack_to_ziplist(&rec, to, &mut scratch)
                .unwrap()
                .unwrap();
            let sv = rec.stored();
            let n = list_nodes(&sv, to, &mut scratch).unwrap().unwrap();
            let mut got = Vec::new();
            write_list::<Error>(&sv, n, &mut scratch, |b| {
                got.extend_from_slice(b);
                Ok(())
            })
            .unwrap();
            assert_eq!(got, whole.bytes, "{n} nodes");
            // A wrong count is caught, not written as a bad file.
            let r = write_list::<Error>(&sv, n + 1, &mut scratch, |_| Ok(()));
            assert!(r.is_err());
            if n > 1 {
                assert!(write_list::<Error>(&sv, n - 1, &mut scratch, |_| Ok(())).is_err());
            }
        }
        // Not a quicklist 2, or not RDB 7-9: not this path's.
        let hash = encode(
            &Value::Hash(vec![(b"f".to_vec(), b"v".to_vec(), None)]),
            from,
        )
        .unwrap();
        let rec = record(hash.type_byte, &hash.bytes);
        assert!(list_nodes(&rec.stored(), to, &mut scratch)
            .unwrap()
            .is_none());
        let lp = encode(&Value::List(strs(5, 3)), from).unwrap();
        let rec = record(lp.type_byte, &lp.bytes);
        assert!(list_nodes(&rec.stored(), from, &mut scratch)
            .unwrap()
            .is_none());
        // A damaged list is an error of the count walk.
        let mut bad = lp.bytes.clone();
        bad.truncate(bad.len() - 3);
        let rec = record(lp.type_byte, &bad);
        assert!(list_nodes(&rec.stored(), to, &mut scratch).is_err());
    }

    /// What the general path would encode otherwise (or refuse) is left
    /// to it.
    #[test]
    fn leaves_the_rest_to_the_general_path() {
        let to = Format::new(Dialect::Redis, 9).unwrap();
        let mut scratch = Scratch::default();
        let blob = |items: &[&[u8]]| {
            let mut lp = ListpackBuilder::new();
            items.iter().for_each(|i| lp.push(i));
            let mut out = Vec::new();
            put_raw_string(&mut out, &lp.finish());
            out
        };
        // A zset listpack out of (score, member) order; one with a repeated
        // member; a hash with a 65-byte value (a configured threshold).
        let long = vec![b'v'; 65];
        let cases: [(u8, Vec<u8>); 4] = [
            (RDB_TYPE_ZSET_LISTPACK, blob(&[b"b", b"1", b"a", b"1"])),
            (RDB_TYPE_ZSET_LISTPACK, blob(&[b"a", b"1", b"a", b"1"])),
            (RDB_TYPE_HASH_LISTPACK, blob(&[b"f", &long])),
            (RDB_TYPE_HASH_LISTPACK, blob(&[])),
        ];
        for (t, bytes) in &cases {
            let rec = record(*t, bytes);
            assert!(listpack_to_ziplist(&rec, to, &mut scratch)
                .unwrap()
                .is_none());
        }
        // A damaged value is still an error.
        let rec = record(RDB_TYPE_HASH_LISTPACK, &[5, 1, 2]);
        assert!(listpack_to_ziplist(&rec, to, &mut scratch).is_err());
    }
}
