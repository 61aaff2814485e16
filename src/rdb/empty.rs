//! Empty collections: a list, set, sorted set or hash with no element.
//!
//! A server deletes a collection with its last element, so it never saves
//! an empty one, and its loader skips one ("empty key"; `redis-check-rdb`
//! refuses it, and `RESTORE` refuses one). So a written file leaves them
//! out, `load`, `resp` and `verify` skip them, a census does not count
//! them, and under `--skip-corrupt` one is no evidence of a record start
//! (four small bytes of a damaged value read as one very often: see
//! [`crate::rdb::resync`]). All of them ask [`is_empty_collection`].
//!
//! The answer comes from the value's counts alone, without decoding any
//! element:
//!
//! ```text
//! plain list/set/zset/hash   <len 0>
//! listpack   <u32 total> <u16 count> <0xFF end>       count 0, or end first
//! ziplist    <u32 bytes> <u32 tail> <u16 count> <0xFF end>      likewise
//! intset     <u32 encoding> <u32 count = 0>
//! zipmap     <u8 count> <0xFF end>                     end first
//! quicklist  <len nodes> every node an empty ziplist/listpack (v2: packed)
//! hash with field TTLs (Redis 7.4+ 24/25 carry a u64 minExpire first)
//!            <len 0>   or   <listpack>               Valkey 9 HASH_2: <len 0>
//! ```
//!
//! Every value that decodes with no element passes these tests (a
//! decoder also checks a header count against the entries, and 65535
//! means "count them", hence "or end first"); a value that does not read
//! this far counts as not empty (it is damage, and a decoder reports it).

use crate::rdb::cursor::Cursor;
use crate::rdb::elem::RdbStr;
use crate::rdb::hfe::HfeKind;
use crate::rdb::lzf;
use crate::rdb::value::ValueType;

/// The end byte of a listpack, ziplist and zipmap.
const END: u8 = 0xFF;

/// The largest blob that can hold no element (an empty ziplist: 11 bytes).
/// Only an LZF blob up to this size is decompressed: servers never
/// compress one so small, but damaged bytes can read as one.
const EMPTY_BLOB_MAX: u64 = 16;

/// A blob encoding: where its u16/u32 count sits, how wide it is, and
/// where its first entry (or end byte) starts (`None`: no end byte).
#[derive(Clone, Copy)]
struct Blob {
    count_at: usize,
    width: usize,
    first_at: Option<usize>,
}

const LISTPACK: Blob = Blob {
    count_at: 4,
    width: 2,
    first_at: Some(6),
};
const ZIPLIST: Blob = Blob {
    count_at: 8,
    width: 2,
    first_at: Some(10),
};
const INTSET: Blob = Blob {
    count_at: 4,
    width: 4,
    first_at: None,
};

/// Whether `value` (the bytes after a record's key) of type `vtype` is a
/// collection with no element. Strings, streams, module values and arrays
/// are no collection: `false`.
pub fn is_empty_collection(vtype: ValueType, value: &[u8]) -> bool {
    use ValueType::*;
    let mut cur = Cursor::new(value, 0);
    let cur = &mut cur;
    let empty = match vtype {
        List | Set | ZSet | ZSet2 | Hash => zero_length(cur),
        ListQuicklist => quicklist(cur, false),
        ListQuicklist2 => quicklist(cur, true),
        SetListpack | ZSetListpack | HashListpack => blob(cur, LISTPACK),
        ListZiplist | ZSetZiplist | HashZiplist => blob(cur, ZIPLIST),
        SetIntset => blob(cur, INTSET),
        HashZipmap => zipmap(cur),
        HashTtl(kind) => hash_ttl(cur, kind),
        String | ModulePreGa | Module2 | Stream(_) | Array => None,
    };
    empty.unwrap_or(false)
}

fn zero_length(cur: &mut Cursor<'_>) -> Option<bool> {
    cur.length("n").ok().map(|n| n == 0)
}

/// The five layouts of [`crate::rdb::hfe`]: a count, or a listpack, the
/// Redis 7.4+ ones after an 8-byte minExpire.
fn hash_ttl(cur: &mut Cursor<'_>, kind: HfeKind) -> Option<bool> {
    use HfeKind::*;
    if matches!(kind, RedisMetadata | RedisListpackEx) {
        cur.u64_le("minExpire").ok()?;
    }
    match kind {
        RedisMetadataPreGa | RedisMetadata | ValkeyHash2 => zero_length(cur),
        RedisListpackExPreGa | RedisListpackEx => blob(cur, LISTPACK),
    }
}

/// Every node empty; in v2 a node is a container kind first, and a plain
/// node (1) holds one element.
fn quicklist(cur: &mut Cursor<'_>, v2: bool) -> Option<bool> {
    let nodes = cur.length("quicklist nodes").ok()?;
    for _ in 0..nodes {
        if v2 && cur.length("container").ok()? == 1 {
            return Some(false);
        }
        let layout = if v2 { LISTPACK } else { ZIPLIST };
        if !blob(cur, layout)? {
            return Some(false);
        }
    }
    Some(true)
}

/// Whether the blob string next in `cur` holds no element.
fn blob(cur: &mut Cursor<'_>, layout: Blob) -> Option<bool> {
    with_blob(cur, |b| {
        let count = b.get(layout.count_at..layout.count_at + layout.width)?;
        let end_first = layout.first_at.is_some_and(|at| b.get(at) == Some(&END));
        Some(count.iter().all(|&x| x == 0) || end_first)
    })
}

/// A zipmap's count byte stops at 254 ("count them"), so only its end byte
/// right after the count tells.
fn zipmap(cur: &mut Cursor<'_>) -> Option<bool> {
    with_blob(cur, |b| Some(b.get(1) == Some(&END)))
}

/// Runs `f` on the bytes of the string next in `cur`; an LZF string only
/// when it is small enough to be an empty blob ([`EMPTY_BLOB_MAX`]).
fn with_blob(cur: &mut Cursor<'_>, f: impl Fn(&[u8]) -> Option<bool>) -> Option<bool> {
    match cur.string("blob").ok()? {
        RdbStr::Raw(b) => f(b),
        RdbStr::Lzf { data, len, offset } if len <= EMPTY_BLOB_MAX => {
            let mut out = Vec::new();
            lzf::decompress_into(data, len as usize, &mut out, offset).ok()?;
            f(&out)
        }
        _ => Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::hfe::HfeKind::*;
    use ValueType::*;

    const EMPTY_LP: &[u8] = &[7, 0, 0, 0, 0, 0, END];
    const EMPTY_ZL: &[u8] = &[11, 0, 0, 0, 10, 0, 0, 0, 0, 0, END];
    const EMPTY_IS: &[u8] = &[2, 0, 0, 0, 0, 0, 0, 0];

    /// An RDB string (6-bit length) holding `b`.
    fn s(b: &[u8]) -> Vec<u8> {
        [&[b.len() as u8][..], b].concat()
    }

    /// One-element blobs: a listpack and a ziplist holding the integer 1.
    fn one_lp() -> Vec<u8> {
        vec![9, 0, 0, 0, 1, 0, 0x01, 0x01, END]
    }
    fn one_zl() -> Vec<u8> {
        vec![13, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0xF2, END]
    }

    #[test]
    fn plain_collections_by_their_count() {
        for t in [List, Set, ZSet, ZSet2, Hash] {
            assert!(is_empty_collection(t, &[0]));
            assert!(!is_empty_collection(t, &[1, 1, b'a']));
        }
    }

    #[test]
    fn blobs_by_their_header() {
        for t in [SetListpack, ZSetListpack, HashListpack] {
            assert!(is_empty_collection(t, &s(EMPTY_LP)));
            assert!(!is_empty_collection(t, &s(&one_lp())));
        }
        // 65535 = "count them": the end byte right after the header tells.
        let unknown = [7, 0, 0, 0, 0xFF, 0xFF, END];
        assert!(is_empty_collection(SetListpack, &s(&unknown)));
        for t in [ListZiplist, ZSetZiplist, HashZiplist] {
            assert!(is_empty_collection(t, &s(EMPTY_ZL)));
            assert!(!is_empty_collection(t, &s(&one_zl())));
        }
        assert!(is_empty_collection(SetIntset, &s(EMPTY_IS)));
        assert!(!is_empty_collection(
            SetIntset,
            &s(&[2, 0, 0, 0, 1, 0, 0, 0, 7, 0])
        ));
    }

    #[test]
    fn zipmap_by_its_end_byte() {
        assert!(is_empty_collection(HashZipmap, &s(&[0, END])));
        assert!(is_empty_collection(HashZipmap, &s(&[254, END])));
        let one = b"\x01\x01a\x01\x00b\xff";
        assert!(!is_empty_collection(HashZipmap, &s(one)));
    }

    #[test]
    fn quicklists_when_every_node_is_empty() {
        let v1 = [&[2][..], &s(EMPTY_ZL), &s(EMPTY_ZL)].concat();
        assert!(is_empty_collection(ListQuicklist, &v1));
        let v1 = [&[2][..], &s(EMPTY_ZL), &s(&one_zl())].concat();
        assert!(!is_empty_collection(ListQuicklist, &v1));
        assert!(is_empty_collection(ListQuicklist2, &[0]));
        let packed = [&[1, 2][..], &s(EMPTY_LP)].concat();
        assert!(is_empty_collection(ListQuicklist2, &packed));
        let plain = [&[1, 1][..], &s(b"")].concat();
        assert!(!is_empty_collection(ListQuicklist2, &plain));
    }

    #[test]
    fn hashes_with_field_ttls() {
        let min = 5u64.to_le_bytes();
        assert!(is_empty_collection(HashTtl(RedisMetadataPreGa), &[0]));
        assert!(is_empty_collection(HashTtl(ValkeyHash2), &[0]));
        assert!(!is_empty_collection(HashTtl(ValkeyHash2), &[1]));
        assert!(is_empty_collection(
            HashTtl(RedisMetadata),
            &[&min[..], &[0]].concat()
        ));
        assert!(!is_empty_collection(
            HashTtl(RedisMetadata),
            &[&min[..], &[1]].concat()
        ));
        assert!(is_empty_collection(
            HashTtl(RedisListpackExPreGa),
            &s(EMPTY_LP)
        ));
        let ex = [&min[..], &s(EMPTY_LP)].concat();
        assert!(is_empty_collection(HashTtl(RedisListpackEx), &ex));
        let ex = [&min[..], &s(&one_lp())].concat();
        assert!(!is_empty_collection(HashTtl(RedisListpackEx), &ex));
    }

    #[test]
    fn no_collection_and_unreadable_values_are_not_empty() {
        assert!(!is_empty_collection(String, &[0]));
        assert!(!is_empty_collection(Array, &[0]));
        assert!(!is_empty_collection(List, &[]));
        assert!(!is_empty_collection(SetListpack, &s(&[7, 0])));
    }

    /// An LZF string (`0xC3 <clen> <len> <data>`) that decompresses to an
    /// empty listpack: servers never write one, damage can read as one.
    #[test]
    fn a_small_lzf_blob_is_looked_into() {
        // One literal run of 7 bytes: control byte 6, then the bytes.
        let lzf = [&[0xC3, 8, 7, 6][..], EMPTY_LP].concat();
        assert!(is_empty_collection(SetListpack, &lzf));
        let lzf = [&[0xC3, 10, 9, 8][..], &one_lp()].concat();
        assert!(!is_empty_collection(SetListpack, &lzf));
    }
}
