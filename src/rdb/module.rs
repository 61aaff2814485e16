//! STUB: owned by the module helper. Replace (keep the public names).
use crate::error::{Error, Result};
use crate::rdb::cursor::Cursor;

/// A module value kept raw: the module's 9-character type name decoded from
/// its 64-bit id, the encoding version, and the raw bytes of the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleValue<'a> {
    pub module_id: u64,
    pub name: String,
    pub encver: u64,
    /// The whole value span including the module id.
    pub raw: &'a [u8],
}

/// Decodes the 9-character type name and encoding version from a module id.
pub fn module_name(id: u64) -> (String, u64) {
    let _ = id;
    (String::new(), 0)
}

/// Reads a `RDB_TYPE_MODULE_2` value (after the type byte): module id, then
/// the opcode stream up to `RDB_MODULE_OPCODE_EOF`.
pub fn read_module2<'a>(cur: &mut Cursor<'a>) -> Result<ModuleValue<'a>> {
    Err(Error::invalid(cur.offset(), "module value", "stub"))
}

/// Skips a `RDB_OPCODE_MODULE_AUX` body (after the opcode byte).
pub fn skip_module_aux<'a>(cur: &mut Cursor<'a>) -> Result<ModuleValue<'a>> {
    Err(Error::invalid(cur.offset(), "module aux", "stub"))
}

/// Skips a module opcode stream (typed items up to `RDB_MODULE_OPCODE_EOF`).
pub fn skip_opcode_stream(cur: &mut Cursor<'_>) -> Result<()> {
    Err(Error::invalid(cur.offset(), "module opcode stream", "stub"))
}
