//! Value types and the two walks over a value: `skip_value` (find where it
//! ends without decoding — the boundary pass) and `decode_value` (push every
//! element into a [`ValueVisitor`]).
//!
//! Decoding is push-based on purpose: elements of LZF-compressed quicklist
//! nodes or listpacks live in a scratch buffer owned by the decoder, and a
//! visitor can borrow them for the duration of one call without any copy. A
//! pull iterator would have to hand out owned bytes for those.
//!
//! Layouts mirror `rdbLoadObject` in Redis' `rdb.c`.

use crate::error::{Error, Result};
use crate::rdb::array::{self, ArrayElem, ArrayHead};
use crate::rdb::consts::*;
use crate::rdb::cursor::Cursor;
use crate::rdb::elem::{decompress, in_compressed, Elem, RdbStr};
use crate::rdb::hfe::{self, HfeKind};
use crate::rdb::module::{self, ModuleValue};
use crate::rdb::stream::{self, StreamId, StreamMeta, StreamVersion};
use crate::rdb::{intset, listpack, ziplist, zipmap};

mod owned;
pub use owned::{StreamEntry, Value};

/// Which server family wrote the file: decides what type bytes ≥ 22 and
/// opcode 243 mean. Chosen from the magic, never from type bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Redis,
    Valkey,
}

impl Dialect {
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Redis => "Redis",
            Dialect::Valkey => "Valkey",
        }
    }
}

/// The logical type a user sees (`TYPE` reply), plus `module`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    String,
    List,
    Set,
    ZSet,
    Hash,
    Stream,
    Module,
    /// Redis 8.8 sparse array (`TYPE` says "array").
    Array,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::String => "string",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::ZSet => "zset",
            Kind::Hash => "hash",
            Kind::Stream => "stream",
            Kind::Module => "module",
            Kind::Array => "array",
        }
    }
}

/// A value's on-disk encoding, resolved from the type byte and the dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Set,
    ZSet,
    Hash,
    ZSet2,
    ModulePreGa,
    Module2,
    HashZipmap,
    ListZiplist,
    SetIntset,
    ZSetZiplist,
    HashZiplist,
    ListQuicklist,
    Stream(StreamVersion),
    HashListpack,
    ZSetListpack,
    ListQuicklist2,
    SetListpack,
    HashTtl(HfeKind),
    /// Type 28 (Redis 8.8).
    Array,
}

impl ValueType {
    /// Resolves a type byte in the given dialect; `None` for unknown bytes.
    pub fn from_byte(t: u8, dialect: Dialect) -> Option<ValueType> {
        use ValueType::*;
        Some(match t {
            RDB_TYPE_STRING => String,
            RDB_TYPE_LIST => List,
            RDB_TYPE_SET => Set,
            RDB_TYPE_ZSET => ZSet,
            RDB_TYPE_HASH => Hash,
            RDB_TYPE_ZSET_2 => ZSet2,
            RDB_TYPE_MODULE_PRE_GA => ModulePreGa,
            RDB_TYPE_MODULE_2 => Module2,
            RDB_TYPE_HASH_ZIPMAP => HashZipmap,
            RDB_TYPE_LIST_ZIPLIST => ListZiplist,
            RDB_TYPE_SET_INTSET => SetIntset,
            RDB_TYPE_ZSET_ZIPLIST => ZSetZiplist,
            RDB_TYPE_HASH_ZIPLIST => HashZiplist,
            RDB_TYPE_LIST_QUICKLIST => ListQuicklist,
            RDB_TYPE_STREAM_LISTPACKS => Stream(StreamVersion::V1),
            RDB_TYPE_HASH_LISTPACK => HashListpack,
            RDB_TYPE_ZSET_LISTPACK => ZSetListpack,
            RDB_TYPE_LIST_QUICKLIST_2 => ListQuicklist2,
            RDB_TYPE_STREAM_LISTPACKS_2 => Stream(StreamVersion::V2),
            RDB_TYPE_SET_LISTPACK => SetListpack,
            RDB_TYPE_STREAM_LISTPACKS_3 => Stream(StreamVersion::V3),
            _ => match dialect {
                Dialect::Redis => match t {
                    RDB_TYPE_HASH_METADATA_PRE_GA => HashTtl(HfeKind::RedisMetadataPreGa),
                    RDB_TYPE_HASH_LISTPACK_EX_PRE_GA => HashTtl(HfeKind::RedisListpackExPreGa),
                    RDB_TYPE_HASH_METADATA => HashTtl(HfeKind::RedisMetadata),
                    RDB_TYPE_HASH_LISTPACK_EX => HashTtl(HfeKind::RedisListpackEx),
                    RDB_TYPE_STREAM_LISTPACKS_4 => Stream(StreamVersion::V4),
                    RDB_TYPE_STREAM_LISTPACKS_5 => Stream(StreamVersion::V5),
                    RDB_TYPE_ARRAY => Array,
                    _ => return None,
                },
                Dialect::Valkey => match t {
                    VALKEY_RDB_TYPE_HASH_2 => HashTtl(HfeKind::ValkeyHash2),
                    _ => return None,
                },
            },
        })
    }

    pub fn kind(self) -> Kind {
        use ValueType::*;
        match self {
            String => Kind::String,
            List | ListZiplist | ListQuicklist | ListQuicklist2 => Kind::List,
            Set | SetIntset | SetListpack => Kind::Set,
            ZSet | ZSet2 | ZSetZiplist | ZSetListpack => Kind::ZSet,
            Hash | HashZipmap | HashZiplist | HashListpack | HashTtl(_) => Kind::Hash,
            Stream(_) => Kind::Stream,
            ModulePreGa | Module2 => Kind::Module,
            Array => Kind::Array,
        }
    }

    /// The encoding as stored in the file, in `OBJECT ENCODING` words.
    pub fn encoding(self) -> &'static str {
        use ValueType::*;
        match self {
            String => "string",
            List => "linkedlist",
            ListZiplist => "ziplist",
            ListQuicklist | ListQuicklist2 => "quicklist",
            Set | Hash => "hashtable",
            SetIntset => "intset",
            SetListpack | HashListpack | ZSetListpack => "listpack",
            ZSet | ZSet2 => "skiplist",
            ZSetZiplist | HashZiplist => "ziplist",
            HashZipmap => "zipmap",
            HashTtl(HfeKind::RedisListpackEx | HfeKind::RedisListpackExPreGa) => "listpackex",
            HashTtl(_) => "hashtable",
            Stream(_) => "stream",
            ModulePreGa | Module2 => "module",
            Array => "sliced-array",
        }
    }
}

/// Receives the elements of one value. Only the methods matching the value's
/// kind are called; element bytes are borrowed for the duration of one call
/// (they may live in the decoder's scratch buffer, so there is no copy).
///
/// Every method has a no-op default, so a visitor writes only the methods it
/// cares about. A method returns `Err` to end the walk: with a real error, or
/// with [`Error::stop`] to stop early on purpose, which
/// [`Record::visit`](crate::rdb::records::Record::visit) reports as
/// [`ControlFlow::Break`](std::ops::ControlFlow::Break). Keeping `Result`
/// (rather than returning `ControlFlow`) lets visitors use `?` on their own
/// fallible steps; on the hot path both are one compare of the same width.
///
/// ```
/// use rdbkit::{Elem, ValueVisitor};
///
/// /// Counts the hash fields that carry a TTL.
/// #[derive(Default)]
/// struct FieldTtls(u64);
///
/// impl ValueVisitor for FieldTtls {
///     fn hash_field(&mut self, _: Elem<'_>, _: Elem<'_>, ttl: Option<i64>) -> rdbkit::Result<()> {
///         self.0 += ttl.is_some() as u64;
///         Ok(())
///     }
/// }
/// # let _ = FieldTtls::default();
/// ```
pub trait ValueVisitor {
    /// A string value (one call).
    fn string(&mut self, _v: Elem<'_>) -> Result<()> {
        Ok(())
    }
    /// One list element, head to tail.
    fn list_item(&mut self, _v: Elem<'_>) -> Result<()> {
        Ok(())
    }
    /// One set member.
    fn set_member(&mut self, _v: Elem<'_>) -> Result<()> {
        Ok(())
    }
    /// One sorted-set member with its score.
    fn zset_member(&mut self, _member: Elem<'_>, _score: f64) -> Result<()> {
        Ok(())
    }
    /// One hash field with its value and (hash field expiry) absolute TTL
    /// in Unix ms.
    fn hash_field(
        &mut self,
        _field: Elem<'_>,
        _value: Elem<'_>,
        _expire_ms: Option<i64>,
    ) -> Result<()> {
        Ok(())
    }
    /// One live stream entry, in ID order.
    fn stream_entry(&mut self, _id: StreamId, _fields: &[(Elem<'_>, Elem<'_>)]) -> Result<()> {
        Ok(())
    }
    /// A stream's metadata (last ID, groups, consumers), after its entries.
    fn stream_meta(&mut self, _meta: &StreamMeta) -> Result<()> {
        Ok(())
    }
    /// A module value, as stored (never decoded).
    fn module(&mut self, _value: &ModuleValue<'_>) -> Result<()> {
        Ok(())
    }
    /// An array's head, before its elements.
    fn array_head(&mut self, _head: ArrayHead) -> Result<()> {
        Ok(())
    }
    /// One array element, in index order.
    fn array_element(&mut self, _index: u64, _value: ArrayElem<'_>) -> Result<()> {
        Ok(())
    }
}

/// Skips one value of type `vt`, leaving the cursor just after it. Plain
/// collections are walked only as far as their lengths; compact encodings
/// are one string each and are not looked into.
pub fn skip_value(cur: &mut Cursor<'_>, vt: ValueType) -> Result<()> {
    use ValueType::*;
    match vt {
        String | HashZipmap | ListZiplist | SetIntset | ZSetZiplist | HashZiplist
        | HashListpack | ZSetListpack | SetListpack => cur.skip_string("value"),
        List | Set => {
            let n = cur.count("collection length", 1)?;
            for _ in 0..n {
                cur.skip_string("collection element")?;
            }
            Ok(())
        }
        ListQuicklist => {
            let n = cur.count("quicklist node count", 1)?;
            for _ in 0..n {
                cur.skip_string("quicklist node")?;
            }
            Ok(())
        }
        ListQuicklist2 => {
            let n = cur.count("quicklist node count", 2)?;
            for _ in 0..n {
                cur.length("quicklist node container")?;
                cur.skip_string("quicklist node")?;
            }
            Ok(())
        }
        ZSet => {
            let n = cur.count("zset length", 2)?;
            for _ in 0..n {
                cur.skip_string("zset member")?;
                // 253..=255 are NaN/+inf/-inf with no digits following.
                let l = cur.u8("zset score")?;
                if l < 253 {
                    cur.skip(l as u64, "zset score")?;
                }
            }
            Ok(())
        }
        ZSet2 => {
            let n = cur.count("zset length", 9)?;
            for _ in 0..n {
                cur.skip_string("zset member")?;
                cur.skip(8, "zset score")?;
            }
            Ok(())
        }
        Hash => {
            let n = cur.count("hash length", 2)?;
            for _ in 0..n {
                cur.skip_string("hash field")?;
                cur.skip_string("hash value")?;
            }
            Ok(())
        }
        HashTtl(k) => hfe::skip(cur, k),
        Stream(v) => stream::skip(cur, v),
        Module2 => module::read_module2(cur).map(|_| ()),
        ModulePreGa => Err(module::pre_ga_error(cur)),
        Array => array::skip(cur),
    }
}

/// Scratch buffers reused across values, so that decoding LZF-compressed
/// strings and nodes allocates only when a value is bigger than any before.
#[derive(Default)]
pub struct Scratch {
    a: Vec<u8>,
    b: Vec<u8>,
    node: Vec<u8>,
}

/// Decodes one value of type `vt` from `cur` (positioned just after the type
/// byte), pushing every element into `v`.
pub fn decode_value<V: ValueVisitor + ?Sized>(
    cur: &mut Cursor<'_>,
    vt: ValueType,
    scratch: &mut Scratch,
    v: &mut V,
) -> Result<()> {
    use ValueType::*;
    match vt {
        String => {
            let s = cur.string("string value")?;
            v.string(s.resolve(&mut scratch.a)?)
        }
        List | Set => {
            let n = cur.count("collection length", 1)?;
            for _ in 0..n {
                let e = cur.string("collection element")?.resolve(&mut scratch.a)?;
                if vt == List {
                    v.list_item(e)?;
                } else {
                    v.set_member(e)?;
                }
            }
            Ok(())
        }
        ZSet | ZSet2 => {
            let n = cur.count("zset length", if vt == ZSet { 2 } else { 9 })?;
            for _ in 0..n {
                let m = cur.string("zset member")?;
                let score = if vt == ZSet {
                    cur.ascii_double("zset score")?
                } else {
                    cur.f64_le("zset score")?
                };
                v.zset_member(m.resolve(&mut scratch.a)?, score)?;
            }
            Ok(())
        }
        Hash => {
            let n = cur.count("hash length", 2)?;
            for _ in 0..n {
                let f = cur.string("hash field")?;
                let val = cur.string("hash value")?;
                v.hash_field(
                    f.resolve(&mut scratch.a)?,
                    val.resolve(&mut scratch.b)?,
                    None,
                )?;
            }
            Ok(())
        }
        HashZipmap => with_blob(cur, &mut scratch.node, "zipmap", |data, off| {
            for pair in zipmap::parse(data, off)?.iter() {
                let (f, val) = pair?;
                v.hash_field(Elem::Bytes(f), Elem::Bytes(val), None)?;
            }
            Ok(())
        }),
        SetIntset => with_blob(cur, &mut scratch.node, "intset", |data, off| {
            for i in intset::parse(data, off)?.iter() {
                v.set_member(Elem::Int(i))?;
            }
            Ok(())
        }),
        ListZiplist | ZSetZiplist | HashZiplist => {
            with_blob(cur, &mut scratch.node, "ziplist", |data, off| {
                let it = ziplist::parse(data, off)?.iter();
                match vt {
                    ListZiplist => each_single(it, |e| v.list_item(e)),
                    ZSetZiplist => each_zset(it, off, v),
                    _ => each_pair(it, off, "hash ziplist", |f, val| v.hash_field(f, val, None)),
                }
            })
        }
        SetListpack | ZSetListpack | HashListpack => {
            with_blob(cur, &mut scratch.node, "listpack", |data, off| {
                let it = listpack::parse(data, off)?.iter();
                match vt {
                    SetListpack => each_single(it, |e| v.set_member(e)),
                    ZSetListpack => each_zset(it, off, v),
                    _ => each_pair(it, off, "hash listpack", |f, val| {
                        v.hash_field(f, val, None)
                    }),
                }
            })
        }
        ListQuicklist => {
            let n = cur.count("quicklist node count", 1)?;
            for _ in 0..n {
                with_blob(
                    cur,
                    &mut scratch.node,
                    "quicklist ziplist node",
                    |data, off| each_single(ziplist::parse(data, off)?.iter(), |e| v.list_item(e)),
                )?;
            }
            Ok(())
        }
        ListQuicklist2 => {
            let n = cur.count("quicklist node count", 2)?;
            for _ in 0..n {
                let cpos = cur.pos();
                let container = cur.length("quicklist node container")?;
                match container {
                    QUICKLIST_NODE_CONTAINER_PLAIN => {
                        let e = cur
                            .string("quicklist plain node")?
                            .resolve(&mut scratch.a)?;
                        v.list_item(e)?;
                    }
                    QUICKLIST_NODE_CONTAINER_PACKED => {
                        with_blob(
                            cur,
                            &mut scratch.node,
                            "quicklist listpack node",
                            |data, off| {
                                each_single(listpack::parse(data, off)?.iter(), |e| v.list_item(e))
                            },
                        )?;
                    }
                    other => {
                        return Err(cur.invalid_at(
                            cpos,
                            "quicklist node container",
                            format!("expected 1 (plain) or 2 (packed), found {other}"),
                        ))
                    }
                }
            }
            Ok(())
        }
        HashTtl(k) => hfe::decode(cur, k, |f, val, ttl| v.hash_field(f, val, ttl)),
        Stream(sv) => {
            struct Entries<'v, V: ?Sized>(&'v mut V);
            impl<V: ValueVisitor + ?Sized> stream::StreamVisitor for Entries<'_, V> {
                fn entry(&mut self, id: StreamId, fields: &[(Elem<'_>, Elem<'_>)]) -> Result<()> {
                    self.0.stream_entry(id, fields)
                }
            }
            let meta = stream::decode(cur, sv, &mut Entries(v))?;
            v.stream_meta(&meta)
        }
        Module2 => {
            let m = module::read_module2(cur)?;
            v.module(&m)
        }
        ModulePreGa => Err(module::pre_ga_error(cur)),
        Array => {
            // Two borrows of `v` cannot live in two closures at once.
            let v = std::cell::RefCell::new(v);
            array::decode(
                cur,
                &mut scratch.a,
                |h| v.borrow_mut().array_head(h),
                |i, e| v.borrow_mut().array_element(i, e),
            )
        }
    }
}

/// Reads a string that holds an encoded blob (ziplist, listpack, intset,
/// zipmap) and runs `f` over its bytes with their file offset. A blob stored
/// LZF-compressed is decompressed into `buf` first; offsets inside it do not
/// exist in the file, so an error there is reported at the compressed
/// string's offset with the position inside the decompressed bytes.
fn with_blob<R>(
    cur: &mut Cursor<'_>,
    buf: &mut Vec<u8>,
    what: &'static str,
    f: impl FnOnce(&[u8], u64) -> Result<R>,
) -> Result<R> {
    let at = cur.offset();
    match cur.string(what)? {
        RdbStr::Raw(b) => f(b, cur.offset() - b.len() as u64),
        RdbStr::Lzf { data, len, offset } => {
            decompress(data, len, offset, buf)?;
            f(buf, 0).map_err(|e| in_compressed(e, offset, what))
        }
        RdbStr::Int(_) => Err(Error::invalid(at, what, "found an integer-encoded string")),
    }
}

fn each_single<'a, I, F>(it: I, mut f: F) -> Result<()>
where
    I: Iterator<Item = Result<Elem<'a>>>,
    F: FnMut(Elem<'a>) -> Result<()>,
{
    for e in it {
        f(e?)?;
    }
    Ok(())
}

fn each_pair<'a, I, F>(mut it: I, off: u64, what: &'static str, mut f: F) -> Result<()>
where
    I: Iterator<Item = Result<Elem<'a>>>,
    F: FnMut(Elem<'a>, Elem<'a>) -> Result<()>,
{
    while let Some(a) = it.next() {
        let a = a?;
        match it.next() {
            Some(b) => f(a, b?)?,
            None => {
                return Err(Error::invalid(
                    off,
                    what,
                    "odd number of elements: a field without a value",
                ))
            }
        }
    }
    Ok(())
}

fn each_zset<'a, I, V: ValueVisitor + ?Sized>(it: I, off: u64, v: &mut V) -> Result<()>
where
    I: Iterator<Item = Result<Elem<'a>>>,
{
    each_pair(it, off, "zset entries", |m, s| {
        let score = s
            .as_f64()
            .ok_or_else(|| Error::invalid(off, "zset score", "element is not a number"))?;
        v.zset_member(m, score)
    })
}

/// A visitor that only lets the decoder walk (and check) a value.
pub struct Discard;

impl ValueVisitor for Discard {}
