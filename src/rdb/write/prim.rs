//! The primitives every RDB writer needs, as `rdbSave*` in Redis' `rdb.c`
//! write them: lengths, strings (raw, integer-encoded or copied in their
//! LZF form), doubles, times, and the file-level opcodes.
//!
//! ```text
//! length   00pppppp                       0..=63
//!          01pppppp qqqqqqqq              14 bits, big endian
//!          10000000 <u32 BE>              RDB_32BITLEN
//!          10000001 <u64 BE>              RDB_64BITLEN
//! string   <length> <bytes>
//!          11000000 <i8>                  RDB_ENC_INT8   (rdbTryIntegerEncoding)
//!          11000001 <i16 LE>              RDB_ENC_INT16
//!          11000010 <i32 LE>              RDB_ENC_INT32
//!          11000011 <clen> <len> <data>   RDB_ENC_LZF
//! file     "REDIS" 4 digits | "VALKEY" 3 digits
//!          AUX       0xFA <string key> <string value>
//!          SELECTDB  0xFE <length db>
//!          RESIZEDB  0xFB <length db_size> <length expires_size>
//!          EXPIRETIME_MS 0xFC <i64 LE ms>
//!          IDLE      0xF8 <length seconds>     FREQ 0xF9 <u8>
//!          EOF       0xFF <u64 LE CRC-64 of everything before>  (RDB >= 5)
//! ```

use crate::rdb::consts::*;
use crate::rdb::elem::RdbStr;
use crate::rdb::value::Dialect;

/// `RDB_ENCVAL` with the integer and LZF sub-encodings.
const RDB_ENC_INT8: u8 = 0xC0;
const RDB_ENC_INT16: u8 = 0xC1;
const RDB_ENC_INT32: u8 = 0xC2;
const RDB_ENC_LZF: u8 = 0xC3;

/// Appends an RDB length (`rdbSaveLen`): the shortest of the four forms.
#[inline]
pub fn put_len(out: &mut Vec<u8>, n: u64) {
    if n < 1 << 6 {
        out.push(n as u8);
    } else if n < 1 << 14 {
        out.extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// The integer a string stands for when the server would store it
/// integer-encoded (`rdbTryIntegerEncoding`): at most 11 bytes, parsing
/// as a `long long` whose decimal form is the string itself (`string2ll`
/// then `ll2string`: no sign on zero, no leading zeros or `+`), and fitting
/// in 32 bits (`rdbEncodeInteger`).
#[inline]
pub fn int_encodable(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 11 {
        return None;
    }
    let v = canonical_int(s)?;
    (i32::MIN as i64..=i32::MAX as i64)
        .contains(&v)
        .then_some(v)
}

/// `s` as an `i64` if it is exactly the canonical decimal form of one
/// (what `string2ll` accepts and `ll2string` gives back unchanged); the
/// test ziplists and listpacks use to store an element as an integer.
#[inline]
pub fn canonical_int(s: &[u8]) -> Option<i64> {
    let digits = s.strip_prefix(b"-").unwrap_or(s);
    match digits {
        [] => return None,
        [b'0'] if digits.len() != s.len() => return None, // "-0"
        [b'0', _, ..] => return None,
        _ => {}
    }
    if !digits.iter().all(u8::is_ascii_digit) || s.len() > 20 {
        return None;
    }
    std::str::from_utf8(s).ok()?.parse::<i64>().ok()
}

/// Appends an integer-encoded string (`rdbEncodeInteger`); `v` must fit in
/// 32 bits.
#[inline]
pub fn put_int_string(out: &mut Vec<u8>, v: i64) {
    if let Ok(b) = i8::try_from(v) {
        out.extend_from_slice(&[RDB_ENC_INT8, b as u8]);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(RDB_ENC_INT16);
        out.extend_from_slice(&h.to_le_bytes());
    } else {
        out.push(RDB_ENC_INT32);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    }
}

/// Appends a string as the server saves an object's bytes
/// (`rdbSaveRawString` with compression off): integer-encoded when it can
/// be, else length and bytes.
#[inline]
pub fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    match int_encodable(s) {
        Some(v) => put_int_string(out, v),
        None => put_raw_string(out, s),
    }
}

/// Appends a string never integer-encoded (blobs: listpacks, ziplists,
/// intsets, whose bytes are not text): LZF-compressed when longer than 20
/// bytes and the compressed form saves at least 4 (`rdbSaveRawString` and
/// `rdbSaveLzfStringObject` with the default `rdbcompression yes`), else
/// length and bytes.
#[inline]
pub fn put_raw_string(out: &mut Vec<u8>, s: &[u8]) {
    if s.len() > super::lzf::MIN_LEN && put_lzf(out, s) {
        return;
    }
    put_plain_string(out, s);
}

/// Appends a string as length and bytes, uncompressed.
#[inline]
pub fn put_plain_string(out: &mut Vec<u8>, s: &[u8]) {
    put_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// `RDB_ENC_LZF <compressed length> <length> <data>`, when the data fits
/// in `len - 4` bytes: compressed at the end of `out`, then the header is
/// put in front of it.
fn put_lzf(out: &mut Vec<u8>, s: &[u8]) -> bool {
    let at = out.len();
    let Some(n) = super::lzf::compress_into(s, out, s.len() - 4) else {
        return false;
    };
    let mut head = [0u8; 19];
    head[0] = RDB_ENC_LZF;
    let a = 1 + len_form(n as u64, &mut head[1..]);
    let b = a + len_form(s.len() as u64, &mut head[a..]);
    out.splice(at..at, head[..b].iter().copied());
    true
}

/// The bytes of [`put_len`] into `buf`; returns how many.
fn len_form(n: u64, buf: &mut [u8]) -> usize {
    let mut v = Vec::with_capacity(9);
    put_len(&mut v, n);
    buf[..v.len()].copy_from_slice(&v);
    v.len()
}

/// Appends a string exactly as it was stored in a file: the same integer
/// encoding, or the same LZF bytes, so a copied key or blob costs no
/// decompression.
#[inline]
pub fn put_rdbstr(out: &mut Vec<u8>, s: &RdbStr<'_>) {
    match *s {
        RdbStr::Raw(b) => put_plain_string(out, b),
        RdbStr::Int(i) if i32::try_from(i).is_ok() => put_int_string(out, i),
        RdbStr::Int(i) => put_plain_string(out, itoa::Buffer::new().format(i).as_bytes()),
        RdbStr::Lzf { data, len, .. } => {
            out.push(RDB_ENC_LZF);
            put_len(out, data.len() as u64);
            put_len(out, len);
            out.extend_from_slice(data);
        }
    }
}

/// Appends a binary double (`rdbSaveBinaryDoubleValue`, RDB >= 8).
#[inline]
pub fn put_binary_double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Appends a double as RDB < 8 writes zset scores (`rdbSaveDoubleValue`):
/// one length byte then ASCII, or 253/254/255 for NaN/+inf/-inf. The text
/// is the shortest that reads back to the same double (the server's
/// `%.17g` is one such text; `strtod` reads either exactly).
pub fn put_ascii_double(out: &mut Vec<u8>, v: f64) {
    if v.is_nan() {
        out.push(253);
    } else if v.is_infinite() {
        out.push(if v > 0.0 { 254 } else { 255 });
    } else {
        let mut b = ryu::Buffer::new();
        let t = b.format_finite(v).as_bytes();
        out.push(t.len() as u8);
        out.extend_from_slice(t);
    }
}

/// Appends a millisecond time (`rdbSaveMillisecondTime`): 8 bytes LE.
#[inline]
pub fn put_ms(out: &mut Vec<u8>, ms: i64) {
    out.extend_from_slice(&ms.to_le_bytes());
}

/// Appends the magic and version (`"REDIS%04d"` / Valkey's `"VALKEY%03d"`).
pub fn put_header(out: &mut Vec<u8>, dialect: Dialect, version: u32) {
    match dialect {
        Dialect::Redis => out.extend_from_slice(format!("REDIS{version:04}").as_bytes()),
        Dialect::Valkey => out.extend_from_slice(format!("VALKEY{version:03}").as_bytes()),
    }
}

/// Appends an aux field (`rdbSaveAuxField`).
pub fn put_aux(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    out.push(RDB_OPCODE_AUX);
    put_string(out, key);
    put_string(out, value);
}

/// Appends `SELECTDB db`.
pub fn put_select_db(out: &mut Vec<u8>, db: u64) {
    out.push(RDB_OPCODE_SELECTDB);
    put_len(out, db);
}

/// Appends `RESIZEDB` (RDB >= 7): the key and expire counts of the db that
/// follows, a hint the loader sizes its tables by.
pub fn put_resize_db(out: &mut Vec<u8>, db_size: u64, expires_size: u64) {
    out.push(RDB_OPCODE_RESIZEDB);
    put_len(out, db_size);
    put_len(out, expires_size);
}

/// Appends a slot's counts (`RDB_OPCODE_SLOT_INFO`, Redis 7.4+: slot,
/// keys, keys with an expiry; `rdbSaveDb` in cluster mode).
pub fn put_slot_info(out: &mut Vec<u8>, slot: u16, keys: u64, expires: u64) {
    out.push(RDB_OPCODE_SLOT_INFO);
    put_len(out, slot as u64);
    put_len(out, keys);
    put_len(out, expires);
}

/// Appends the opcodes that precede a key's type byte, in the order
/// `rdbSaveKeyValuePair` writes them: expiry, then LRU idle or LFU freq.
pub fn put_key_prefix(
    out: &mut Vec<u8>,
    expire_ms: Option<i64>,
    idle: Option<u64>,
    freq: Option<u8>,
) {
    if let Some(ms) = expire_ms {
        out.push(RDB_OPCODE_EXPIRETIME_MS);
        put_ms(out, ms);
    }
    if let Some(s) = idle {
        out.push(RDB_OPCODE_IDLE);
        put_len(out, s);
    }
    if let Some(f) = freq {
        out.extend_from_slice(&[RDB_OPCODE_FREQ, f]);
    }
}

/// Appends a `FUNCTION2` item (RDB >= 10): one library's source code.
pub fn put_function(out: &mut Vec<u8>, code: &[u8]) {
    out.push(RDB_OPCODE_FUNCTION2);
    put_string(out, code);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::cursor::Cursor;

    #[test]
    fn lengths_read_back() {
        for n in [
            0u64,
            1,
            63,
            64,
            16383,
            16384,
            u32::MAX as u64,
            1 << 32,
            u64::MAX,
        ] {
            let mut v = Vec::new();
            put_len(&mut v, n);
            let mut c = Cursor::new(&v, 0);
            assert_eq!(c.length("n").unwrap(), n);
            assert!(c.is_empty());
        }
    }

    #[test]
    fn integer_encoding_as_the_server() {
        for (s, enc) in [
            ("0", Some(0)),
            ("-1", Some(-1)),
            ("2147483647", Some(i32::MAX as i64)),
            ("-2147483648", Some(i32::MIN as i64)),
            ("2147483648", None),
            ("007", None),
            ("-0", None),
            ("+1", None),
            (" 1", None),
            ("", None),
            ("12345678901", None),
        ] {
            assert_eq!(int_encodable(s.as_bytes()), enc, "{s:?}");
            let mut v = Vec::new();
            put_string(&mut v, s.as_bytes());
            let mut c = Cursor::new(&v, 0);
            let back = c.string("s").unwrap().to_vec().unwrap();
            assert_eq!(back, s.as_bytes());
            assert_eq!(matches!(c.data()[0] >> 6, 3), enc.is_some(), "{s:?}");
        }
        assert_eq!(canonical_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(canonical_int(b"9223372036854775808"), None);
    }

    #[test]
    fn ascii_doubles_read_back() {
        for x in [
            0.0,
            -1.5,
            1e300,
            f64::MIN_POSITIVE,
            0.1 + 0.2,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ] {
            let mut v = Vec::new();
            put_ascii_double(&mut v, x);
            assert_eq!(Cursor::new(&v, 0).ascii_double("d").unwrap(), x);
        }
        let mut v = Vec::new();
        put_ascii_double(&mut v, f64::NAN);
        assert!(Cursor::new(&v, 0).ascii_double("d").unwrap().is_nan());
    }
}
