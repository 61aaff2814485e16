//! Module values and module auxiliary data, kept raw.
//!
//! A module type is named by 9 characters from a 64-symbol alphabet and a
//! 10-bit encoding version, packed into a 64-bit id (`moduleTypeEncodeId` /
//! `moduleTypeNameByID` in Redis' `src/module.c`):
//!
//! ```text
//!  63          58 57         52        ...        15          10 9            0
//! [ char 0 (6b) ][ char 1 (6b) ]  ...  [ char 8 (6b) ][ encver (10 bits)     ]
//! alphabet: A-Z a-z 0-9 - _   (index 0 = 'A', 62 = '-', 63 = '_')
//! ```
//!
//! Layouts (Redis `src/rdb.c`: `rdbSaveObject`, `rdbLoadObject`,
//! `rdbSaveSingleModuleAux`, `rdbLoadRio`, `rdbLoadCheckModuleValue`):
//!
//! ```text
//! RDB_TYPE_MODULE_2 (7) value:  <len module id> <opcode stream>
//! RDB_OPCODE_MODULE_AUX (247):  <len module id> <len 2 = UINT> <len when> <opcode stream>
//! RDB_TYPE_MODULE_PRE_GA (6):   <len module id> <module-private bytes, no framing>
//!
//! opcode stream: repeated <len opcode> <operand>, ending with opcode 0:
//!     0 EOF      -
//!     1 SINT     <len> (the signed value cast to u64)
//!     2 UINT     <len>
//!     3 FLOAT    4 bytes, IEEE binary32 little endian
//!     4 DOUBLE   8 bytes, IEEE binary64 little endian
//!     5 STRING   <RDB string> (may be integer-encoded or LZF)
//! ```
//!
//! `when` is `REDISMODULE_AUX_BEFORE_RDB` (1) or `REDISMODULE_AUX_AFTER_RDB`
//! (2). The "UINT opcode before `when`" is there because everything after
//! the module id must be opcode-prefixed. The pre-GA type 6 (Redis 4.0
//! release candidates) has no opcodes and no end marker, so only the module
//! itself knows where the value ends: see [`pre_ga_error`].
//!
//! Unlike `rdbLoadCheckModuleValue`, which silently ignores an unknown
//! opcode and reads on, an opcode above 5 is reported as an error here: it
//! can only come from a corrupt stream.

use crate::error::{Error, ErrorKind, Result};
use crate::rdb::cursor::Cursor;
use crate::rdb::elem::RdbStr;

/// The 64 symbols of module type names, in id order (`ModuleTypeNameCharSet`).
pub const MODULE_TYPE_NAME_CHARSET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// `RDB_MODULE_OPCODE_*`.
pub const MODULE_OPCODE_EOF: u64 = 0;
pub const MODULE_OPCODE_SINT: u64 = 1;
pub const MODULE_OPCODE_UINT: u64 = 2;
pub const MODULE_OPCODE_FLOAT: u64 = 3;
pub const MODULE_OPCODE_DOUBLE: u64 = 4;
pub const MODULE_OPCODE_STRING: u64 = 5;

/// A module value kept raw: the module's 9-character type name decoded from
/// its 64-bit id, the encoding version, and the raw bytes of the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleValue<'a> {
    pub module_id: u64,
    pub name: String,
    pub encver: u64,
    /// For `RDB_OPCODE_MODULE_AUX`: the `when` value (1 = before the
    /// keyspace, 2 = after it). `None` for a key's module value.
    pub when: Option<u64>,
    /// The whole value span: from the first byte of the module id through
    /// the `RDB_MODULE_OPCODE_EOF` marker (for aux data: the module id, the
    /// `when` pair and the opcode stream; the 0xF7 opcode byte is not
    /// included; for a key's value the type byte and key are not included).
    pub raw: &'a [u8],
    /// Absolute file offset of `raw[0]`.
    pub offset: u64,
}

impl<'a> ModuleValue<'a> {
    /// The typed items of the opcode stream, without the final EOF.
    pub fn ops(&self) -> Ops<'a> {
        let mut cur = Cursor::new(self.raw, self.offset);
        // The header was read successfully once, so this cannot fail; if it
        // somehow does, the iterator yields that error.
        let err = cur.length("module id").err().or_else(|| {
            if self.when.is_some() {
                cur.length("module aux when opcode")
                    .and_then(|_| cur.length("module aux when"))
                    .err()
            } else {
                None
            }
        });
        Ops {
            cur,
            err,
            done: false,
        }
    }
}

/// One typed item of a module opcode stream.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ModuleOp<'a> {
    /// `RedisModule_SaveSigned`.
    SInt(i64),
    /// `RedisModule_SaveUnsigned`.
    UInt(u64),
    /// `RedisModule_SaveFloat`.
    Float(f32),
    /// `RedisModule_SaveDouble`.
    Double(f64),
    /// `RedisModule_SaveStringBuffer` / `SaveString`.
    String(RdbStr<'a>),
}

/// Iterator over [`ModuleOp`]s (see [`ModuleValue::ops`]).
pub struct Ops<'a> {
    cur: Cursor<'a>,
    err: Option<Error>,
    done: bool,
}

impl<'a> Iterator for Ops<'a> {
    type Item = Result<ModuleOp<'a>>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(e) = self.err.take() {
            self.done = true;
            return Some(Err(e));
        }
        match read_op(&mut self.cur) {
            Ok(Some(op)) => Some(Ok(op)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Decodes the 9-character type name and encoding version from a module id.
pub fn module_name(id: u64) -> (String, u64) {
    let mut name = [0u8; 9];
    let mut rest = id >> 10;
    for slot in name.iter_mut().rev() {
        *slot = MODULE_TYPE_NAME_CHARSET[(rest & 63) as usize];
        rest >>= 6;
    }
    // Every symbol is ASCII, so this is lossless.
    (String::from_utf8_lossy(&name).into_owned(), id & 1023)
}

/// Reads one item of a module opcode stream; `None` at `RDB_MODULE_OPCODE_EOF`.
pub(crate) fn read_op<'a>(cur: &mut Cursor<'a>) -> Result<Option<ModuleOp<'a>>> {
    let pos = cur.pos();
    let op = cur.length("module opcode")?;
    Ok(Some(match op {
        MODULE_OPCODE_EOF => return Ok(None),
        MODULE_OPCODE_SINT => ModuleOp::SInt(cur.length("module signed integer")? as i64),
        MODULE_OPCODE_UINT => ModuleOp::UInt(cur.length("module unsigned integer")?),
        MODULE_OPCODE_FLOAT => ModuleOp::Float(f32::from_bits(cur.u32_le("module float")?)),
        MODULE_OPCODE_DOUBLE => ModuleOp::Double(cur.f64_le("module double")?),
        MODULE_OPCODE_STRING => ModuleOp::String(cur.string("module string")?),
        other => {
            return Err(cur.invalid_at(
                pos,
                "module opcode",
                format!(
                    "unknown opcode {other} (expected 0 EOF, 1 SINT, 2 UINT, 3 FLOAT, 4 DOUBLE or 5 STRING)"
                ),
            ))
        }
    }))
}

/// Skips a module opcode stream (typed items up to and including
/// `RDB_MODULE_OPCODE_EOF`). Every item consumes at least one byte, so a
/// hostile stream ends at the end of the input at the latest.
pub(crate) fn skip_opcode_stream(cur: &mut Cursor<'_>) -> Result<()> {
    loop {
        let pos = cur.pos();
        let op = cur.length("module opcode")?;
        match op {
            MODULE_OPCODE_EOF => return Ok(()),
            MODULE_OPCODE_SINT | MODULE_OPCODE_UINT => {
                cur.length("module integer")?;
            }
            MODULE_OPCODE_FLOAT => cur.skip(4, "module float")?,
            MODULE_OPCODE_DOUBLE => cur.skip(8, "module double")?,
            MODULE_OPCODE_STRING => cur.skip_string("module string")?,
            other => {
                return Err(cur.invalid_at(
                    pos,
                    "module opcode",
                    format!(
                        "unknown opcode {other} (expected 0 EOF, 1 SINT, 2 UINT, 3 FLOAT, 4 DOUBLE or 5 STRING)"
                    ),
                ))
            }
        }
    }
}

/// Reads a `RDB_TYPE_MODULE_2` value (after the type byte and key): module
/// id, then the opcode stream up to `RDB_MODULE_OPCODE_EOF`.
pub(crate) fn read_module2<'a>(cur: &mut Cursor<'a>) -> Result<ModuleValue<'a>> {
    let start = cur.pos();
    let offset = cur.offset();
    let module_id = cur.length("module id")?;
    let (name, encver) = module_name(module_id);
    skip_opcode_stream(cur).map_err(|e| in_module(e, &name))?;
    Ok(ModuleValue {
        module_id,
        name,
        encver,
        when: None,
        raw: cur.since(start),
        offset,
    })
}

/// Skips a `RDB_OPCODE_MODULE_AUX` body (after the opcode byte): module id,
/// `RDB_MODULE_OPCODE_UINT` and the `when` value, then the opcode stream.
pub(crate) fn skip_module_aux<'a>(cur: &mut Cursor<'a>) -> Result<ModuleValue<'a>> {
    let start = cur.pos();
    let offset = cur.offset();
    let module_id = cur.length("module aux id")?;
    let (name, encver) = module_name(module_id);
    let wpos = cur.pos();
    let when_opcode = cur.length("module aux when opcode")?;
    if when_opcode != MODULE_OPCODE_UINT {
        return Err(cur.invalid_at(
            wpos,
            "module aux when opcode",
            format!("expected {MODULE_OPCODE_UINT} (UINT) before the 'when' value of module '{name}' aux data, found {when_opcode}"),
        ));
    }
    let when = cur.length("module aux when")?;
    skip_opcode_stream(cur).map_err(|e| in_module(e, &name))?;
    Ok(ModuleValue {
        module_id,
        name,
        encver,
        when: Some(when),
        raw: cur.since(start),
        offset,
    })
}

/// The error for a `RDB_TYPE_MODULE_PRE_GA` (type 6) value, whose end cannot
/// be found without the module. `cur` is just after the type byte and the
/// key, at the module id; it is not advanced. The error is
/// [`ErrorKind::UnsupportedModule`] at the module id's offset.
pub(crate) fn pre_ga_error(cur: &Cursor<'_>) -> Error {
    let mut c = cur.clone();
    let name = match c.length("module id") {
        Ok(id) => format!("'{}'", module_name(id).0),
        Err(_) => "(module id unreadable)".to_string(),
    };
    Error::new(
        cur.offset(),
        ErrorKind::UnsupportedModule {
            detail: format!(
                "module value of the pre-GA type 6 (Redis 4.0 RC) cannot be read without its module {name}"
            ),
        },
    )
}

/// Names the module in a format error from inside its opcode stream.
/// Truncation errors keep their kind (callers classify them) unchanged.
fn in_module(mut e: Error, name: &str) -> Error {
    if let ErrorKind::Invalid { detail, .. } = &mut e.kind {
        *detail = format!("{detail} (in a value of module '{name}')");
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Test-side encoder, the inverse of `module_name` (`moduleTypeEncodeId`).
    fn encode_id(name: &str, encver: u64) -> u64 {
        assert_eq!(name.len(), 9);
        let mut id = 0u64;
        for c in name.bytes() {
            let pos = MODULE_TYPE_NAME_CHARSET
                .iter()
                .position(|&x| x == c)
                .unwrap();
            id = (id << 6) | pos as u64;
        }
        (id << 10) | encver
    }

    use crate::rdb::testutil::rlen;

    #[test]
    fn names_round_trip() {
        for (name, ver) in [
            ("hellotype", 0),
            ("ReJSON-RL", 3),
            ("test__rdb", 1),
            ("graphdata", 1023),
            ("AAAAAAAAB", 7),
        ] {
            let id = encode_id(name, ver);
            assert_eq!(module_name(id), (name.to_string(), ver));
        }
        assert_eq!(module_name(0), ("AAAAAAAAA".to_string(), 0));
        assert_eq!(module_name(u64::MAX), ("_________".to_string(), 1023));
        assert_eq!(MODULE_TYPE_NAME_CHARSET[62], b'-');
    }

    /// A MODULE_2 value with every opcode kind; returns (bytes, id).
    fn module2_bytes() -> (Vec<u8>, u64) {
        let id = encode_id("hellotype", 2);
        let mut d = Vec::new();
        rlen(&mut d, id);
        rlen(&mut d, MODULE_OPCODE_UINT);
        rlen(&mut d, 300);
        rlen(&mut d, MODULE_OPCODE_SINT);
        rlen(&mut d, (-5i64) as u64);
        rlen(&mut d, MODULE_OPCODE_FLOAT);
        d.extend_from_slice(&1.5f32.to_le_bytes());
        rlen(&mut d, MODULE_OPCODE_DOUBLE);
        d.extend_from_slice(&(-0.25f64).to_le_bytes());
        rlen(&mut d, MODULE_OPCODE_STRING);
        d.extend_from_slice(&[3, b'a', b'b', b'c']);
        rlen(&mut d, MODULE_OPCODE_STRING);
        d.extend_from_slice(&[0xc0, 0x7f]);
        rlen(&mut d, MODULE_OPCODE_EOF);
        (d, id)
    }

    #[test]
    fn module2_value() {
        let (mut d, id) = module2_bytes();
        let n = d.len();
        d.push(0xfe); // next opcode: must be left alone
        let mut cur = Cursor::new(&d, 500);
        let m = read_module2(&mut cur).unwrap();
        assert_eq!(cur.pos(), n);
        assert_eq!(
            (m.module_id, m.name.as_str(), m.encver, m.when),
            (id, "hellotype", 2, None)
        );
        assert_eq!(m.raw, &d[..n]);
        assert_eq!(m.offset, 500);
        let ops: Vec<_> = m.ops().collect::<Result<_>>().unwrap();
        assert_eq!(
            ops,
            vec![
                ModuleOp::UInt(300),
                ModuleOp::SInt(-5),
                ModuleOp::Float(1.5),
                ModuleOp::Double(-0.25),
                ModuleOp::String(RdbStr::Raw(b"abc")),
                ModuleOp::String(RdbStr::Int(127)),
            ]
        );
        let mut cur = Cursor::new(&d, 500);
        cur.length("id").unwrap();
        skip_opcode_stream(&mut cur).unwrap();
        assert_eq!(cur.pos(), n);
    }

    #[test]
    fn module_aux() {
        let id = encode_id("test__rdb", 1);
        let mut d = Vec::new();
        rlen(&mut d, id);
        rlen(&mut d, MODULE_OPCODE_UINT);
        rlen(&mut d, 2); // AFTER_RDB
        rlen(&mut d, MODULE_OPCODE_STRING);
        d.extend_from_slice(&[1, b'x']);
        rlen(&mut d, MODULE_OPCODE_EOF);
        let mut cur = Cursor::new(&d, 10);
        let m = skip_module_aux(&mut cur).unwrap();
        assert_eq!(
            (m.name.as_str(), m.encver, m.when, m.raw.len()),
            ("test__rdb", 1, Some(2), d.len())
        );
        assert_eq!(
            m.ops().collect::<Result<Vec<_>>>().unwrap(),
            vec![ModuleOp::String(RdbStr::Raw(b"x"))]
        );
        // Empty aux payload: just the header and EOF.
        let mut e = Vec::new();
        rlen(&mut e, id);
        e.extend_from_slice(&[2, 1, 0]);
        let m = skip_module_aux(&mut Cursor::new(&e, 0)).unwrap();
        assert_eq!(
            (m.when, m.raw.len(), m.ops().count()),
            (Some(1), e.len(), 0)
        );
        // The 'when' must be announced by a UINT opcode.
        let mut bad = Vec::new();
        rlen(&mut bad, id);
        bad.extend_from_slice(&[1, 1, 0]);
        let err = skip_module_aux(&mut Cursor::new(&bad, 100)).unwrap_err();
        assert_eq!(err.offset, 100 + bad.len() as u64 - 3);
        assert!(err.to_string().contains("test__rdb"), "{err}");
    }

    #[test]
    fn unknown_opcode_names_offset_and_module() {
        let id = encode_id("hellotype", 0);
        let mut d = Vec::new();
        rlen(&mut d, id);
        let at = d.len();
        d.extend_from_slice(&[6, 0]);
        let e = read_module2(&mut Cursor::new(&d, 1000)).unwrap_err();
        assert_eq!(e.offset, 1000 + at as u64);
        let s = e.to_string();
        assert!(
            s.contains("unknown opcode 6") && s.contains("hellotype"),
            "{s}"
        );
        // An encoded-string marker in opcode position is not a length.
        let mut d = Vec::new();
        rlen(&mut d, id);
        d.push(0xc0);
        assert!(read_module2(&mut Cursor::new(&d, 0)).is_err());
    }

    #[test]
    fn truncation_at_every_byte() {
        let (d, _) = module2_bytes();
        for cut in 0..d.len() {
            let e = read_module2(&mut Cursor::new(&d[..cut], 1000)).unwrap_err();
            assert!(
                e.offset >= 1000 && e.offset <= 1000 + cut as u64,
                "{cut}: {e}"
            );
            let mut c = Cursor::new(&d[..cut], 0);
            assert!(c.length("id").is_err() || skip_opcode_stream(&mut c).is_err());
        }
        let mut aux = Vec::new();
        rlen(&mut aux, encode_id("graphdata", 1));
        aux.extend_from_slice(&[2, 2, 5, 2, b'h', b'i', 4]);
        aux.extend_from_slice(&[0; 8]);
        aux.push(0);
        assert!(skip_module_aux(&mut Cursor::new(&aux, 0)).is_ok());
        for cut in 0..aux.len() {
            assert!(
                skip_module_aux(&mut Cursor::new(&aux[..cut], 0)).is_err(),
                "{cut}"
            );
        }
    }

    #[test]
    fn every_single_byte_corruption_is_handled() {
        let (d, _) = module2_bytes();
        for i in 0..d.len() {
            for v in [0x00, 0x05, 0x06, 0x3f, 0x40, 0x80, 0x81, 0xc3, 0xff] {
                let mut m = d.clone();
                m[i] = v;
                if let Ok(mv) = read_module2(&mut Cursor::new(&m, 0)) {
                    let _ = mv.ops().count();
                }
                let _ = skip_module_aux(&mut Cursor::new(&m, 0));
            }
        }
    }

    #[test]
    fn hostile_string_length_in_stream() {
        let mut d = Vec::new();
        rlen(&mut d, encode_id("hellotype", 0));
        d.push(5);
        d.extend_from_slice(&[0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        let e = read_module2(&mut Cursor::new(&d, 0)).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Truncated { .. }), "{e}");
        assert_eq!(e.offset, d.len() as u64);
        // An LZF string claiming a huge size is skipped by its compressed length.
        let mut d = Vec::new();
        rlen(&mut d, encode_id("hellotype", 0));
        d.extend_from_slice(&[
            5, 0xc3, 1, 0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0,
        ]);
        assert!(read_module2(&mut Cursor::new(&d, 0)).is_ok());
    }

    #[test]
    fn pre_ga_error_names_module() {
        let mut d = Vec::new();
        rlen(&mut d, encode_id("hellotype", 0));
        d.extend_from_slice(&[1, 2, 3]);
        let cur = Cursor::new(&d, 77);
        let e = pre_ga_error(&cur);
        assert_eq!(e.offset, 77);
        assert!(matches!(e.kind, ErrorKind::UnsupportedModule { .. }));
        let s = e.to_string();
        assert!(
            s.contains("pre-GA type 6") && s.contains("'hellotype'"),
            "{s}"
        );
        assert_eq!(cur.pos(), 0);
        let e = pre_ga_error(&Cursor::new(&[], 5));
        assert!(e.to_string().contains("unreadable"));
    }
}
