//! One walk over an input, RDB or rdbkit JSON Lines, yielding what the
//! writers need in file order: keys (an RDB record, or a parsed JSON line),
//! functions and module aux data. Both passes of a write use it.

use serde_json::Value as Json;

use crate::error::Result;
use crate::rdb::module::ModuleValue;
use crate::rdb::records::{Header, Item, ParseOptions, Parser, Record};
use crate::rdb::value::Value;
use crate::rdb::value::{Dialect, Kind};
use crate::restore::jsonl::{self, Line};

/// A key of a JSON line, parsed.
pub struct JsonKey {
    /// Offset of the line in the input.
    pub offset: u64,
    pub db: u64,
    pub key: Vec<u8>,
    pub kind: Kind,
    pub expire_ms: Option<i64>,
    pub value: Json,
    pub field_expire: Option<Json>,
    /// LRU idle seconds / LFU frequency (`rdbkit json` writes them when the
    /// file has them).
    pub idle: Option<u64>,
    pub freq: Option<u8>,
}

impl JsonKey {
    /// The value with owned elements (`jsonl::drive` is the loader's reading
    /// of the same shape). A module value has no JSON form to write from.
    pub fn to_value(&self) -> Result<Value> {
        let mut v = Value::empty(self.kind);
        jsonl::drive(
            &mut v,
            self.kind,
            &self.value,
            self.field_expire.as_ref(),
            self.offset,
        )?;
        Ok(v)
    }
}

/// One item of an input.
pub enum Entry<'a> {
    Record(Record<'a>),
    Json(JsonKey),
    /// A library's code (`FUNCTION2`, or a Redis 7.0 RC function turned into
    /// the same form).
    Function(Vec<u8>),
    /// `RDB_OPCODE_MODULE_AUX` data, kept raw.
    ModuleAux(ModuleValue<'a>),
    /// An aux field.
    Aux(Vec<u8>, Vec<u8>),
    /// The input's `RESIZEDB` hint for database `db`.
    ResizeDb {
        db: u64,
        keys: u64,
        expires: u64,
    },
}

/// What kind of input.
pub fn header_of(data: &[u8]) -> Result<Option<Header>> {
    if jsonl::is_jsonl(data) {
        return Ok(None);
    }
    Parser::new(data, ParseOptions::default()).map(|p| Some(p.header()))
}

/// Walks `data` (RDB or JSON Lines), calling `f` for every entry in order.
pub fn walk<'a>(
    data: &'a [u8],
    verify_checksum: bool,
    f: impl FnMut(Entry<'a>) -> Result<()>,
) -> Result<()> {
    if jsonl::is_jsonl(data) {
        return walk_jsonl(data, f);
    }
    let mut p = Parser::new(data, ParseOptions { verify_checksum })?;
    walk_parser(&mut p, f)
}

/// Walks the items `p` yields (a whole file, or one chunk of the parallel
/// engine), calling `f` for every entry in order.
pub fn walk_parser<'a>(
    p: &mut Parser<'a>,
    mut f: impl FnMut(Entry<'a>) -> Result<()>,
) -> Result<()> {
    let mut scratch = (Vec::new(), Vec::new());
    while let Some(item) = p.next_item()? {
        match item {
            Item::Key(rec) => f(Entry::Record(rec))?,
            Item::Function { code, .. } => f(Entry::Function(code.to_vec()?))?,
            Item::FunctionPreGa(pre) => {
                // As the loader does (`jsonl::parse_line`): a `#!engine name=`
                // shebang in front of the code makes it a FUNCTION2 library.
                let mut c = b"#!".to_vec();
                c.extend_from_slice(pre.engine.bytes(&mut scratch.0)?);
                c.extend_from_slice(b" name=");
                c.extend_from_slice(pre.name.bytes(&mut scratch.1)?);
                c.push(b'\n');
                c.extend_from_slice(pre.code.bytes(&mut scratch.0)?);
                f(Entry::Function(c))?
            }
            Item::ModuleAux(m) => f(Entry::ModuleAux(m))?,
            Item::Aux { key, value } => f(Entry::Aux(key.to_vec()?, value.to_vec()?))?,
            Item::ResizeDb {
                db_size,
                expires_size,
            } => f(Entry::ResizeDb {
                db: p.db(),
                keys: db_size,
                expires: expires_size,
            })?,
            Item::SelectDb(_)
            | Item::SlotInfo { .. }
            | Item::SlotImport { .. }
            | Item::Eof { .. } => {}
        }
    }
    Ok(())
}

fn walk_jsonl<'a>(data: &'a [u8], mut f: impl FnMut(Entry<'a>) -> Result<()>) -> Result<()> {
    let mut pos = 0usize;
    while pos < data.len() {
        let end = data[pos..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(data.len(), |i| pos + i);
        let line = &data[pos..end];
        let offset = pos as u64;
        pos = end + 1;
        if line.iter().all(|c| c.is_ascii_whitespace()) {
            continue;
        }
        match jsonl::parse_line(line, offset)? {
            Line::Other => {}
            Line::Function(code) => f(Entry::Function(code))?,
            Line::Key {
                db,
                key,
                kind,
                expire_ms,
                value,
                field_expire,
            } => {
                let (idle, freq) = lru_of(line);
                f(Entry::Json(JsonKey {
                    offset,
                    db,
                    key,
                    kind,
                    expire_ms,
                    value,
                    field_expire,
                    idle,
                    freq,
                }))?
            }
        }
    }
    Ok(())
}

/// `idle` / `freq` of a key line. The loader's line parser does not keep
/// them (RESTORE takes them from flags), so the few lines that have them
/// are read again here.
fn lru_of(line: &[u8]) -> (Option<u64>, Option<u8>) {
    let has = |w: &[u8]| line.windows(w.len()).any(|x| x == w);
    if !has(b"\"idle\"") && !has(b"\"freq\"") {
        return (None, None);
    }
    let Ok(v) = serde_json::from_slice::<Json>(line) else {
        return (None, None);
    };
    (
        v.get("idle").and_then(Json::as_u64),
        v.get("freq")
            .and_then(Json::as_u64)
            .and_then(|f| u8::try_from(f).ok()),
    )
}

/// The library name of a function's code (`#!lua name=NAME ...`), which
/// the server keys libraries by.
pub fn library_name(code: &[u8]) -> Option<&[u8]> {
    let first = code.split(|&c| c == b'\n').next()?;
    first
        .split(|&c| c == b' ')
        .find_map(|w| w.strip_prefix(b"name="))
}

/// The dialect an input's records use (JSON Lines: none; the type bytes
/// are chosen by the writer).
pub fn dialect_of(h: Option<Header>) -> Dialect {
    h.map_or(Dialect::Redis, |h| h.dialect)
}
