//! The record iterator: header, opcodes and keys, in file order.
//!
//! It finds each value's byte span with [`skip_value`] and does not decode
//! it; callers decode the span later (possibly on another thread) with
//! [`Record::decode`]. After the first error it stops for good, so a file cut
//! at an opcode boundary can never make a caller loop.
//!
//! File layout (`rdbLoadRioWithLoadingCtx` in Redis' `rdb.c`):
//!
//! ```text
//! "REDIS" 4-digit version | "VALKEY" 3-digit version
//! { opcode ... | [EXPIRETIME(_MS)] [IDLE|FREQ] [KEY_META] type key value }*
//! 0xFF EOF, then (version >= 5) 8-byte little-endian CRC-64 of all before
//! ```

use crate::error::{Error, ErrorKind, Result};
use crate::rdb::consts::*;
use crate::rdb::crc64;
use crate::rdb::cursor::Cursor;
use crate::rdb::elem::RdbStr;
use crate::rdb::module::{self, ModuleValue};
use crate::rdb::newer;
use crate::rdb::value::{decode_value, skip_value, Dialect, Scratch, ValueType, ValueVisitor};

/// The file header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub dialect: Dialect,
    pub version: u32,
    /// Bytes taken by the magic and version.
    pub len: usize,
}

impl Header {
    /// Does this version end with a CRC-64 trailer? (RDB 5, Redis 2.6+.)
    pub fn has_checksum(&self) -> bool {
        self.version >= 5
    }
}

/// Parses and checks the magic and version.
pub fn parse_header(data: &[u8]) -> Result<Header> {
    let (dialect, digits) = if data.starts_with(b"REDIS") {
        (Dialect::Redis, 4)
    } else if data.starts_with(b"VALKEY") {
        (Dialect::Valkey, 3)
    } else if data.len() < 5 && (b"REDIS".starts_with(data) || b"VALKEY".starts_with(data)) {
        return Err(Error::truncated(0, "RDB magic", 9, data.len() as u64));
    } else if let Some(feature) = newer::compressed_input(data) {
        return Err(Error::new(0, ErrorKind::UnsupportedFeature { feature }));
    } else {
        return Err(Error::new(0, ErrorKind::NotRdb));
    };
    let magic_len = if dialect == Dialect::Redis { 5 } else { 6 };
    let len = magic_len + digits;
    if data.len() < len {
        return Err(Error::truncated(
            magic_len as u64,
            "RDB version",
            digits as u64,
            (data.len() - magic_len) as u64,
        ));
    }
    let vtext = &data[magic_len..len];
    if !vtext.iter().all(u8::is_ascii_digit) {
        return Err(Error::invalid(
            magic_len as u64,
            "RDB version",
            format!("expected {digits} ASCII digits, found {vtext:?}"),
        ));
    }
    let version: u32 = vtext.iter().fold(0, |a, d| a * 10 + (d - b'0') as u32);
    let ok = match dialect {
        Dialect::Redis => (1..=REDIS_RDB_VERSION_MAX).contains(&version),
        Dialect::Valkey => (VALKEY_RDB_VERSION_MIN..=VALKEY_RDB_VERSION_MAX).contains(&version),
    };
    if !ok {
        return Err(Error::new(
            magic_len as u64,
            ErrorKind::UnsupportedVersion {
                version,
                dialect: dialect.name(),
            },
        ));
    }
    Ok(Header {
        dialect,
        version,
        len,
    })
}

/// A value as stored: its type, its bytes and their offset in the file.
#[derive(Debug, Clone, Copy)]
pub struct StoredValue<'a> {
    pub vtype: ValueType,
    pub value: &'a [u8],
    pub value_offset: u64,
}

impl StoredValue<'_> {
    /// Decodes the value into a visitor.
    pub fn decode<V: ValueVisitor + ?Sized>(&self, scratch: &mut Scratch, v: &mut V) -> Result<()> {
        let mut cur = Cursor::new(self.value, self.value_offset);
        decode_value(&mut cur, self.vtype, scratch, v)
    }
}

/// One key with its metadata, borrowing from the input.
#[derive(Debug, Clone)]
pub struct Record<'a> {
    /// Offset of the first byte belonging to this key (its first opcode).
    pub offset: u64,
    pub db: u64,
    pub key: RdbStr<'a>,
    /// Absolute expiry in Unix ms, from EXPIRETIME (seconds) or EXPIRETIME_MS.
    pub expire_ms: Option<i64>,
    /// LRU idle time in seconds (`RDB_OPCODE_IDLE`).
    pub idle: Option<u64>,
    /// LFU frequency (`RDB_OPCODE_FREQ`).
    pub freq: Option<u8>,
    /// The type byte as written, for RESTORE payloads.
    pub type_byte: u8,
    pub vtype: ValueType,
    /// The encoded value (after the key), exactly as in the file.
    pub value: &'a [u8],
    /// Offset of `value[0]` in the file.
    pub value_offset: u64,
    /// Raw `RDB_OPCODE_KEY_META` body (Redis 8.6), if any.
    pub key_meta: Option<&'a [u8]>,
    /// The record's prefix holds Redis Enterprise hint opcodes (RAM LRU,
    /// slot number): skipped here, but a stock server cannot read them, so
    /// the record's bytes from `offset` must not be copied as they are.
    pub vendor_hints: bool,
}

impl<'a> Record<'a> {
    /// Decodes the value into a visitor.
    pub fn decode<V: ValueVisitor + ?Sized>(&self, scratch: &mut Scratch, v: &mut V) -> Result<()> {
        self.stored().decode(scratch, v)
    }

    /// The value alone (what a writer may hold on to after the record).
    pub fn stored(&self) -> StoredValue<'a> {
        StoredValue {
            vtype: self.vtype,
            value: self.value,
            value_offset: self.value_offset,
        }
    }

    /// End offset (exclusive) of the record in the file.
    pub fn end_offset(&self) -> u64 {
        self.value_offset + self.value.len() as u64
    }
}

/// A library of the Redis 7.0 release candidates' function format.
#[derive(Debug, Clone)]
pub struct FunctionPreGa<'a> {
    pub name: RdbStr<'a>,
    pub engine: RdbStr<'a>,
    pub description: Option<RdbStr<'a>>,
    pub code: RdbStr<'a>,
    /// The opcode and its body as in the file.
    pub raw: &'a [u8],
}

/// Everything the file holds, in order.
#[derive(Debug, Clone)]
pub enum Item<'a> {
    Key(Record<'a>),
    Aux {
        key: RdbStr<'a>,
        value: RdbStr<'a>,
    },
    SelectDb(u64),
    ResizeDb {
        db_size: u64,
        expires_size: u64,
    },
    SlotInfo {
        slot: u64,
        slot_size: u64,
        expires_slot_size: u64,
    },
    /// `RDB_OPCODE_FUNCTION2`: one library's source code; `raw` is the
    /// opcode and its string as in the file (a `FUNCTION RESTORE` body).
    Function {
        code: RdbStr<'a>,
        raw: &'a [u8],
    },
    FunctionPreGa(FunctionPreGa<'a>),
    ModuleAux(ModuleValue<'a>),
    /// Valkey 9 `RDB_OPCODE_SLOT_IMPORT`: a slot migration in progress when
    /// the file was written (job name and slot ranges).
    SlotImport {
        job: RdbStr<'a>,
        ranges: Vec<(u64, u64)>,
    },
    /// End of file. `checksum` is the stored trailer (`None` before RDB 5;
    /// `Some(0)` means the writer had checksums off).
    Eof {
        offset: u64,
        checksum: Option<u64>,
        trailing: usize,
    },
}

/// Options for [`Parser`].
#[derive(Debug, Clone, Copy)]
pub struct ParseOptions {
    /// Check the CRC-64 trailer when the parser reaches EOF.
    pub verify_checksum: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            verify_checksum: true,
        }
    }
}

/// Sequential parser over a whole file.
pub struct Parser<'a> {
    data: &'a [u8],
    cur: Cursor<'a>,
    header: Header,
    db: u64,
    opts: ParseOptions,
    done: bool,
    /// For a parser resumed over one chunk: stop cleanly at this position.
    stop_at: Option<usize>,
}

impl<'a> Parser<'a> {
    pub fn new(data: &'a [u8], opts: ParseOptions) -> Result<Self> {
        let header = parse_header(data)?;
        let mut cur = Cursor::new(data, 0);
        cur.skip(header.len as u64, "header")?;
        Ok(Parser {
            data,
            cur,
            header,
            db: 0,
            opts,
            done: false,
            stop_at: None,
        })
    }

    pub fn header(&self) -> Header {
        self.header
    }

    /// A parser over `data[start..end]`, which must be whole items as an
    /// earlier pass found them, with `db` the database selected at `start`.
    /// It returns `Ok(None)` at `end`. Used by workers to re-walk a chunk.
    pub fn resume(
        data: &'a [u8],
        header: Header,
        start: usize,
        end: usize,
        db: u64,
        opts: ParseOptions,
    ) -> Result<Self> {
        let end = end.min(data.len());
        let mut cur = Cursor::new(&data[..end], 0);
        cur.skip(start as u64, "chunk start")?;
        Ok(Parser {
            data,
            cur,
            header,
            db,
            opts,
            done: false,
            stop_at: Some(end),
        })
    }

    /// A parser over `data[..end]` at the item boundary `start`, with `db`
    /// selected there. Unlike [`Parser::resume`] it has no clean stop:
    /// running out of bytes is an error, as for [`Parser::new`] at the end
    /// of a file. The engine reads an input whose bytes are still arriving
    /// with it ([`crate::arrival`]): `end` is how far they have come, and an
    /// item cut short by it is read again once more has arrived.
    pub fn at(
        data: &'a [u8],
        header: Header,
        start: usize,
        end: usize,
        db: u64,
        opts: ParseOptions,
    ) -> Result<Self> {
        let mut p = Parser::resume(data, header, start, end, db, opts)?;
        p.stop_at = None;
        Ok(p)
    }

    /// Where the bytes this parser may read end.
    pub fn view_end(&self) -> usize {
        self.cur.pos() + self.cur.remaining()
    }

    /// The whole input.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// The database selected at the current position.
    pub fn db(&self) -> u64 {
        self.db
    }

    /// Current offset in the file.
    pub fn offset(&self) -> u64 {
        self.cur.offset()
    }

    /// The database selected at `offset`, which must be an item boundary
    /// (a resume point a checkpoint recorded): walks the items before it.
    pub fn db_at(data: &'a [u8], offset: u64) -> Result<u64> {
        let mut p = Parser::new(
            data,
            ParseOptions {
                verify_checksum: false,
            },
        )?;
        loop {
            if p.offset() == offset {
                return Ok(p.db());
            }
            if p.offset() > offset {
                return Err(Error::invalid(
                    offset,
                    "resume offset",
                    "not a record boundary",
                ));
            }
            if p.next_item()?.is_none() {
                return Err(Error::invalid(
                    offset,
                    "resume offset",
                    "beyond the end of the records",
                ));
            }
        }
    }

    /// The snapshot's `ctime` aux field (written in seconds) in Unix ms,
    /// when it comes before the first key as servers write it.
    pub fn snapshot_ctime_ms(data: &'a [u8]) -> Option<i64> {
        let opts = ParseOptions {
            verify_checksum: false,
        };
        let mut p = Parser::new(data, opts).ok()?;
        while let Ok(Some(item)) = p.next_item() {
            match item {
                Item::Aux { key, value } if key.to_vec().ok()? == b"ctime" => {
                    let v = value.to_vec().ok()?;
                    let secs: i64 = std::str::from_utf8(&v).ok()?.parse().ok()?;
                    return secs.checked_mul(1000);
                }
                Item::Key(_) | Item::Eof { .. } => return None,
                _ => {}
            }
        }
        None
    }

    /// The next item, `Ok(None)` after EOF, and nothing more after an error.
    pub fn next_item(&mut self) -> Result<Option<Item<'a>>> {
        if self.done || self.stop_at == Some(self.cur.pos()) {
            return Ok(None);
        }
        let r = self.read_item();
        if matches!(r, Ok(Some(Item::Eof { .. })) | Ok(None) | Err(_)) {
            self.done = true;
        }
        r
    }

    fn read_item(&mut self) -> Result<Option<Item<'a>>> {
        let dialect = self.header.dialect;
        let start = self.cur.offset();
        let mut expire_ms = None;
        let mut idle = None;
        let mut freq = None;
        let mut key_meta = None;
        let mut has_key_state = false;
        let mut vendor_hints = false;
        loop {
            let op_offset = self.cur.offset();
            let op = self.cur.u8("opcode or value type")?;
            match op {
                RDB_OPCODE_EOF => return self.eof(op_offset, has_key_state).map(Some),
                RDB_OPCODE_SELECTDB => {
                    self.no_pending(has_key_state, op_offset, "SELECTDB")?;
                    self.db = self.cur.length("SELECTDB db number")?;
                    return Ok(Some(Item::SelectDb(self.db)));
                }
                RDB_OPCODE_RESIZEDB => {
                    self.no_pending(has_key_state, op_offset, "RESIZEDB")?;
                    let db_size = self.cur.length("RESIZEDB db size")?;
                    let expires_size = self.cur.length("RESIZEDB expires size")?;
                    return Ok(Some(Item::ResizeDb {
                        db_size,
                        expires_size,
                    }));
                }
                RDB_OPCODE_AUX => {
                    self.no_pending(has_key_state, op_offset, "AUX")?;
                    let key = self.cur.string("AUX field name")?;
                    let value = self.cur.string("AUX field value")?;
                    return Ok(Some(Item::Aux { key, value }));
                }
                RDB_OPCODE_EXPIRETIME_MS => {
                    expire_ms = Some(self.cur.i64_le("EXPIRETIME_MS value")?);
                    has_key_state = true;
                }
                RDB_OPCODE_EXPIRETIME => {
                    // `rdbLoadTime`: a 32-bit signed count of seconds.
                    let s = self.cur.u32_le("EXPIRETIME value")? as i32 as i64;
                    expire_ms = Some(s * 1000);
                    has_key_state = true;
                }
                RDB_OPCODE_IDLE => {
                    idle = Some(self.cur.length("IDLE value")?);
                    has_key_state = true;
                }
                RDB_OPCODE_FREQ => {
                    freq = Some(self.cur.u8("FREQ value")?);
                    has_key_state = true;
                }
                RDB_OPCODE_MODULE_AUX => {
                    self.no_pending(has_key_state, op_offset, "MODULE_AUX")?;
                    let m = module::skip_module_aux(&mut self.cur)?;
                    return Ok(Some(Item::ModuleAux(m)));
                }
                RDB_OPCODE_FUNCTION2 => {
                    self.no_pending(has_key_state, op_offset, "FUNCTION2")?;
                    let code = self.cur.string("function library code")?;
                    let raw = &self.data[op_offset as usize..self.cur.offset() as usize];
                    return Ok(Some(Item::Function { code, raw }));
                }
                RDB_OPCODE_FUNCTION_PRE_GA => {
                    self.no_pending(has_key_state, op_offset, "FUNCTION")?;
                    let name = self.cur.string("function name")?;
                    let engine = self.cur.string("function engine")?;
                    let has_desc = self.cur.length("function description flag")?;
                    let description = if has_desc != 0 {
                        Some(self.cur.string("function description")?)
                    } else {
                        None
                    };
                    let code = self.cur.string("function code")?;
                    let raw = &self.data[op_offset as usize..self.cur.offset() as usize];
                    return Ok(Some(Item::FunctionPreGa(FunctionPreGa {
                        name,
                        engine,
                        description,
                        code,
                        raw,
                    })));
                }
                RDB_OPCODE_SLOT_INFO => {
                    self.no_pending(has_key_state, op_offset, "SLOT_INFO")?;
                    let slot = self.cur.length("SLOT_INFO slot id")?;
                    let slot_size = self.cur.length("SLOT_INFO slot size")?;
                    let expires_slot_size = self.cur.length("SLOT_INFO expires slot size")?;
                    return Ok(Some(Item::SlotInfo {
                        slot,
                        slot_size,
                        expires_slot_size,
                    }));
                }
                VALKEY_RDB_OPCODE_SLOT_IMPORT if dialect == Dialect::Valkey => {
                    // `clusterRDBLoadSlotImport`: job name, range count, (start, end) per range.
                    self.no_pending(has_key_state, op_offset, "SLOT_IMPORT")?;
                    let job = self.cur.string("SLOT_IMPORT job name")?;
                    let n = self.cur.count("SLOT_IMPORT range count", 2)?;
                    let mut ranges = Vec::with_capacity(n as usize);
                    for _ in 0..n {
                        let a = self.cur.length("SLOT_IMPORT range start")?;
                        let b = self.cur.length("SLOT_IMPORT range end")?;
                        ranges.push((a, b));
                    }
                    return Ok(Some(Item::SlotImport { job, ranges }));
                }
                RDB_OPCODE_KEY_META if dialect == Dialect::Redis => {
                    let s = self.cur.pos();
                    skip_key_meta(&mut self.cur)?;
                    key_meta = Some(self.cur.since(s));
                    has_key_state = true;
                }
                RDB_OPCODE_ENTERPRISE_RAM_LRU | RDB_OPCODE_ENTERPRISE_SLOT_NUM
                    if dialect == Dialect::Redis =>
                {
                    // Redis Enterprise hints: one length each, no meaning for a reader.
                    self.cur.length("Redis Enterprise opcode argument")?;
                    vendor_hints = true;
                }
                t => {
                    let vtype = match ValueType::from_byte(t, dialect) {
                        Some(vt) => vt,
                        None => return Err(self.unknown_byte(op_offset, t)),
                    };
                    let key = self.cur.string("key")?;
                    let value_pos = self.cur.pos();
                    let value_offset = self.cur.offset();
                    skip_value(&mut self.cur, vtype)?;
                    let value = self.cur.since(value_pos);
                    return Ok(Some(Item::Key(Record {
                        offset: start,
                        db: self.db,
                        key,
                        expire_ms,
                        idle,
                        freq,
                        type_byte: t,
                        vtype,
                        value,
                        value_offset,
                        key_meta,
                        vendor_hints,
                    })));
                }
            }
        }
    }

    /// The error for a byte that is neither a known opcode nor a known type:
    /// named when a newer server is known to write it.
    fn unknown_byte(&self, at: u64, t: u8) -> Error {
        let dialect = self.header.dialect;
        let feature = if t >= 200 {
            newer::opcode_feature(t, dialect).map(str::to_string)
        } else {
            newer::type_feature(t, dialect, self.header.version)
        };
        let kind = match feature {
            Some(feature) => ErrorKind::UnsupportedFeature { feature },
            None if t >= 200 => ErrorKind::UnsupportedOpcode { opcode: t },
            None => ErrorKind::UnsupportedType {
                type_byte: t,
                version: self.header.version,
                dialect: dialect.name(),
            },
        };
        Error::new(at, kind)
    }

    fn no_pending(&self, pending: bool, at: u64, what: &str) -> Result<()> {
        if pending {
            Err(Error::invalid(
                at,
                "key",
                format!(
                    "expected a value type after a key's EXPIRETIME/IDLE/FREQ, found opcode {what}"
                ),
            ))
        } else {
            Ok(())
        }
    }

    fn eof(&mut self, at: u64, pending: bool) -> Result<Item<'a>> {
        self.no_pending(pending, at, "EOF")?;
        let checksum = if self.header.has_checksum() {
            let c = self.cur.u64_le("CRC-64 checksum trailer")?;
            if self.opts.verify_checksum && c != 0 {
                let computed = crc64::crc64(0, &self.data[..(at + 1) as usize]);
                if computed != c {
                    return Err(Error::new(
                        at + 1,
                        ErrorKind::ChecksumMismatch {
                            stored: c,
                            computed,
                        },
                    ));
                }
            }
            Some(c)
        } else {
            None
        };
        Ok(Item::Eof {
            offset: at,
            checksum,
            trailing: self.cur.remaining(),
        })
    }
}

/// Skips an `RDB_OPCODE_KEY_META` body (Redis 8.6, `rdbSaveKeyMetadata`):
/// a count of metadata classes, then per class a 4-byte class spec and the
/// class's value as a module opcode stream ending in `RDB_MODULE_OPCODE_EOF`.
fn skip_key_meta(cur: &mut Cursor<'_>) -> Result<()> {
    let n = cur.count("KEY_META class count", 5)?;
    for _ in 0..n {
        cur.skip(4, "KEY_META class spec")?;
        module::skip_opcode_stream(cur)?;
    }
    Ok(())
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Item<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        self.next_item().transpose()
    }
}
