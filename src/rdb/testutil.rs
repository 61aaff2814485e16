//! Helpers shared by the decoders' unit tests.

/// Appends an RDB length in its 6/14/32/64-bit form (`rdbSaveLen`).
pub fn rlen(out: &mut Vec<u8>, n: u64) {
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// A string record of key `k` whose encoded value is `value`.
pub fn string_record(value: &[u8]) -> crate::rdb::records::Record<'_> {
    crate::rdb::records::Record {
        offset: 9,
        db: 0,
        key: crate::rdb::elem::RdbStr::Raw(b"k"),
        expire_ms: None,
        idle: None,
        freq: None,
        type_byte: 0,
        vtype: crate::rdb::value::ValueType::String,
        value,
        value_offset: 12,
        key_meta: None,
        vendor_hints: false,
    }
}
