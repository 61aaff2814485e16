//! The library's front door: open a snapshot, walk its keys.
//!
//! [`Rdb`] owns the file's bytes (a read-only memory map) and its checked
//! header; [`Rdb::records`] walks the keys in file order. Each [`Record`]
//! borrows from the map: its key and metadata are ready, its value is
//! decoded only when asked, either into an owned [`Value`] (convenient) or
//! element by element into a [`ValueVisitor`] (no copy, no allocation per
//! element: the hot path the command-line tool itself uses).
//!
//! ```no_run
//! let rdb = rdbkit::Rdb::open("dump.rdb")?;
//! for rec in rdb.records() {
//!     let rec = rec?;
//!     println!("{} {:?}", rec.kind().name(), String::from_utf8_lossy(rec.key()));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::ops::ControlFlow;
use std::path::Path;

use crate::error::{Error, Result};
use crate::input::Input;
use crate::rdb::records::{self, Header, Item, ParseOptions, Parser};
use crate::rdb::value::{Dialect, Kind, Scratch, Value, ValueVisitor};

/// An opened RDB snapshot.
pub struct Rdb {
    input: Input,
    header: Header,
}

/// Why [`Rdb::open`] failed: the file could not be read, or it is not an
/// RDB file this build reads (with the byte offset of the problem).
#[derive(Debug)]
pub enum OpenError {
    Io(std::io::Error),
    Format(Error),
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::Io(e) => write!(f, "reading the file: {e}"),
            OpenError::Format(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::Io(e) => Some(e),
            OpenError::Format(e) => Some(e),
        }
    }
}

impl Rdb {
    /// Maps the file at `path` read-only (`-` is standard input, spooled to
    /// an unlinked temporary file first) and checks its header.
    pub fn open(path: impl AsRef<Path>) -> std::result::Result<Rdb, OpenError> {
        let input = Input::open(path.as_ref()).map_err(OpenError::Io)?;
        Rdb::from_input(input).map_err(OpenError::Format)
    }

    /// A snapshot held in memory.
    ///
    /// ```
    /// // The smallest RDB file: header, EOF opcode, no checksum (version 4).
    /// let rdb = rdbkit::Rdb::from_bytes(b"REDIS0004\xff".to_vec())?;
    /// assert_eq!(rdb.version(), 4);
    /// assert_eq!(rdb.records().count(), 0);
    ///
    /// // Bad input is an error with an offset, never a panic.
    /// let e = rdbkit::Rdb::from_bytes(b"REDIS0099".to_vec()).err().unwrap();
    /// assert_eq!(e.offset, 5);
    /// # Ok::<(), rdbkit::Error>(())
    /// ```
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Rdb> {
        Rdb::from_input(Input::Owned(bytes))
    }

    fn from_input(input: Input) -> Result<Rdb> {
        let header = records::parse_header(&input)?;
        Ok(Rdb { input, header })
    }

    /// The RDB format version (e.g. 12 for Redis 7.4, 80 for Valkey 9).
    pub fn version(&self) -> u32 {
        self.header.version
    }

    /// Which server family wrote the file (from its magic).
    pub fn dialect(&self) -> Dialect {
        self.header.dialect
    }

    /// The checked header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// The whole file, for the lower-level [`Parser`] and the parallel
    /// engine ([`crate::scan::run`]).
    pub fn data(&self) -> &[u8] {
        &self.input
    }

    /// The keys in file order. The iterator ends after the first error (a
    /// damaged file never makes it loop), and checks the CRC-64 trailer
    /// when it reaches the end.
    pub fn records(&self) -> Records<'_> {
        let parser = Parser::new(self.data(), ParseOptions::default());
        match parser {
            Ok(p) => Records {
                parser: Some(p),
                error: None,
            },
            Err(e) => Records {
                parser: None,
                error: Some(e),
            },
        }
    }

    /// The snapshot's `ctime` aux field in Unix ms, if written.
    pub fn ctime_ms(&self) -> Option<i64> {
        Parser::snapshot_ctime_ms(self.data())
    }
}

/// The iterator of [`Rdb::records`].
pub struct Records<'a> {
    parser: Option<Parser<'a>>,
    error: Option<Error>,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(e) = self.error.take() {
            return Some(Err(e));
        }
        let parser = self.parser.as_mut()?;
        loop {
            match parser.next_item() {
                Ok(Some(Item::Key(raw))) => {
                    let r = Record::new(raw);
                    if r.is_err() {
                        self.parser = None;
                    }
                    return Some(r);
                }
                Ok(Some(_)) => continue,
                Ok(None) => {
                    self.parser = None;
                    return None;
                }
                Err(e) => {
                    self.parser = None;
                    return Some(Err(e));
                }
            }
        }
    }
}

impl std::iter::FusedIterator for Records<'_> {}

/// One key of the snapshot with its metadata. The value is decoded only
/// when asked ([`Record::value`], [`Record::visit`]).
#[derive(Debug, Clone)]
pub struct Record<'a> {
    raw: records::Record<'a>,
    key: Cow<'a, [u8]>,
}

impl<'a> Record<'a> {
    fn new(raw: records::Record<'a>) -> Result<Record<'a>> {
        let key = match raw.key {
            crate::rdb::RdbStr::Raw(b) => Cow::Borrowed(b),
            other => Cow::Owned(other.to_vec()?),
        };
        Ok(Record { raw, key })
    }

    /// The key's bytes (decompressed when the file stores it LZF-compressed).
    pub fn key(&self) -> &[u8] {
        &self.key
    }

    /// The database number (`SELECT`) the key lives in.
    pub fn db(&self) -> u64 {
        self.raw.db
    }

    /// Absolute expiry in Unix ms, if the key has one.
    pub fn expire_ms(&self) -> Option<i64> {
        self.raw.expire_ms
    }

    /// The type as `TYPE` names it.
    pub fn kind(&self) -> Kind {
        self.raw.vtype.kind()
    }

    /// The on-disk encoding (`OBJECT ENCODING` words: "listpack", ...).
    pub fn encoding(&self) -> &'static str {
        self.raw.vtype.encoding()
    }

    /// Byte offset of the record's first byte in the file.
    pub fn offset(&self) -> u64 {
        self.raw.offset
    }

    /// Bytes the record takes in the file (opcodes, key and value).
    pub fn size_in_file(&self) -> u64 {
        self.raw.end_offset() - self.raw.offset
    }

    /// Everything the format layer knows about the record (LRU/LFU hints,
    /// type byte, the value's raw bytes for a `RESTORE` payload...).
    pub fn raw(&self) -> &records::Record<'a> {
        &self.raw
    }

    /// Decodes the value into `visitor`, reusing `scratch` for compressed
    /// data. Returns [`ControlFlow::Break`] when the visitor stopped the
    /// walk with [`Error::stop`].
    ///
    /// ```
    /// use std::ops::ControlFlow;
    /// use rdbkit::{Elem, Scratch, ValueVisitor};
    ///
    /// /// Takes the first list element and stops.
    /// struct Head(Option<Vec<u8>>);
    /// impl ValueVisitor for Head {
    ///     fn list_item(&mut self, v: Elem<'_>) -> rdbkit::Result<()> {
    ///         self.0 = Some(v.to_vec());
    ///         Err(rdbkit::Error::stop())
    ///     }
    /// }
    ///
    /// // RDB 9: key "l" holds the list ["a", "b"] (type 1, plain list).
    /// let mut file = b"REDIS0009\x01\x01l\x02\x01a\x01b\xff".to_vec();
    /// file.extend_from_slice(&0u64.to_le_bytes()); // checksum off
    /// let rdb = rdbkit::Rdb::from_bytes(file)?;
    /// let rec = rdb.records().next().unwrap()?;
    /// let mut head = Head(None);
    /// let flow = rec.visit(&mut Scratch::default(), &mut head)?;
    /// assert_eq!(flow, ControlFlow::Break(()));
    /// assert_eq!(head.0.as_deref(), Some(&b"a"[..]));
    /// # Ok::<(), rdbkit::Error>(())
    /// ```
    pub fn visit<V: ValueVisitor + ?Sized>(
        &self,
        scratch: &mut Scratch,
        visitor: &mut V,
    ) -> Result<ControlFlow<()>> {
        match self.raw.decode(scratch, visitor) {
            Ok(()) => Ok(ControlFlow::Continue(())),
            Err(e) if e.is_stop() => Ok(ControlFlow::Break(())),
            Err(e) => Err(e),
        }
    }

    /// Decodes the whole value into owned memory: simple, but a value of
    /// millions of elements takes as much memory; [`Record::visit`] does not.
    ///
    /// ```
    /// use rdbkit::Value;
    ///
    /// // RDB 9: key "h" holds the hash {"f": "v"} (type 4, plain hash).
    /// let mut file = b"REDIS0009\x04\x01h\x01\x01f\x01v\xff".to_vec();
    /// file.extend_from_slice(&0u64.to_le_bytes());
    /// let rdb = rdbkit::Rdb::from_bytes(file)?;
    /// let rec = rdb.records().next().unwrap()?;
    /// assert_eq!(rec.key(), b"h");
    /// let Value::Hash(fields) = rec.value()? else { panic!("a hash") };
    /// assert_eq!(fields, vec![(b"f".to_vec(), b"v".to_vec(), None)]);
    /// # Ok::<(), rdbkit::Error>(())
    /// ```
    pub fn value(&self) -> Result<Value> {
        let mut v = Value::empty(self.kind());
        self.raw.decode(&mut Scratch::default(), &mut v)?;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(body: &[u8]) -> Vec<u8> {
        let mut f = b"REDIS0009".to_vec();
        f.extend_from_slice(body);
        f.push(0xff);
        f.extend_from_slice(&0u64.to_le_bytes());
        f
    }

    #[test]
    fn records_skip_opcodes_and_carry_metadata() {
        // SELECTDB 2, EXPIRETIME_MS 1000, string "k" = "v".
        let mut body = vec![0xfe, 0x02, 0xfc];
        body.extend_from_slice(&1000i64.to_le_bytes());
        body.extend_from_slice(b"\x00\x01k\x01v");
        let rdb = Rdb::from_bytes(file(&body)).unwrap();
        let recs: Vec<_> = rdb.records().collect::<Result<_>>().unwrap();
        assert_eq!(recs.len(), 1);
        let r = &recs[0];
        assert_eq!((r.key(), r.db(), r.expire_ms()), (&b"k"[..], 2, Some(1000)));
        assert_eq!(r.kind(), Kind::String);
        assert_eq!(r.value().unwrap(), Value::String(b"v".to_vec()));
    }

    #[test]
    fn records_end_after_an_error() {
        // A string whose value is cut short.
        let rdb = Rdb::from_bytes(b"REDIS0009\x00\x01k\x05ab".to_vec()).unwrap();
        let mut it = rdb.records();
        let e = it.next().unwrap().unwrap_err();
        assert_eq!(e.offset, 13);
        assert!(it.next().is_none());
        assert!(it.next().is_none());
    }

    #[test]
    fn a_bad_checksum_is_the_last_item() {
        let mut f = b"REDIS0009\x00\x01k\x01v\xff".to_vec();
        f.extend_from_slice(&1u64.to_le_bytes());
        let rdb = Rdb::from_bytes(f).unwrap();
        let mut it = rdb.records();
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_err());
        assert!(it.next().is_none());
    }
}
