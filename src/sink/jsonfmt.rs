//! Low-level JSON writing into a byte buffer: byte strings (UTF-8 as JSON
//! strings, anything else as `{"b64": ...}`), numbers, scores.
//!
//! Hand-written rather than serde because the hot path is "copy a borrowed
//! byte slice into the output with escaping", and that wants no
//! intermediate values.

use base64::Engine;

use crate::rdb::elem::Elem;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Which bytes need escaping in a JSON string: `"`, `\` and controls.
static ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t
};

/// Writes a valid UTF-8 string as a JSON string literal.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if ESCAPE[b as usize] {
            out.extend_from_slice(&s[start..i]);
            match b {
                b'"' => out.extend_from_slice(b"\\\""),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[(b >> 4) as usize],
                    HEX[(b & 15) as usize],
                ]),
            }
            start = i + 1;
        }
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// Is this byte string written as a plain JSON string?
#[inline]
pub fn is_text(b: &[u8]) -> bool {
    b.is_ascii() || std::str::from_utf8(b).is_ok()
}

/// Writes a byte string: a JSON string when it is UTF-8, else `{"b64":...}`.
#[inline]
pub fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if is_text(b) {
        write_str(out, b);
    } else {
        out.extend_from_slice(b"{\"b64\":\"");
        let n = out.len();
        let enc = base64::engine::general_purpose::STANDARD;
        out.resize(n + base64::encoded_len(b.len(), true).unwrap_or(0), 0);
        let w = enc.encode_slice(b, &mut out[n..]).unwrap_or(0);
        out.truncate(n + w);
        out.extend_from_slice(b"\"}");
    }
}

/// Writes an element as a byte string (integers in decimal, as the server
/// would return them).
#[inline]
pub(crate) fn write_elem(out: &mut Vec<u8>, e: Elem<'_>) {
    match e {
        Elem::Bytes(b) => write_bytes(out, b),
        Elem::Int(i) => {
            out.push(b'"');
            write_i64(out, i);
            out.push(b'"');
        }
    }
}

/// Is the element written as a JSON string (i.e. usable as an object key)?
#[inline]
pub(crate) fn elem_is_text(e: &Elem<'_>) -> bool {
    match e {
        Elem::Bytes(b) => is_text(b),
        Elem::Int(_) => true,
    }
}

#[inline]
pub fn write_i64(out: &mut Vec<u8>, i: i64) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

#[inline]
pub fn write_u64(out: &mut Vec<u8>, i: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

/// A zset score: the shortest round-trip decimal as a JSON number, or the
/// strings "inf", "-inf", "nan", which JSON numbers cannot express.
#[inline]
pub fn write_score(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(b"\"nan\"");
    } else if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 { b"\"inf\"" } else { b"\"-inf\"" });
    } else {
        out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl Fn(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn escapes_controls_quotes_and_backslashes() {
        assert_eq!(
            s(|o| write_bytes(o, b"a\"b\\c\n\x00\x1f")),
            r#""a\"b\\c\n\u0000\u001f""#
        );
        assert_eq!(s(|o| write_bytes(o, "ключ".as_bytes())), "\"ключ\"");
    }

    #[test]
    fn non_utf8_is_base64() {
        assert_eq!(
            s(|o| write_bytes(o, b"bin\x00key\xff")),
            r#"{"b64":"YmluAGtlef8="}"#
        );
        assert_eq!(s(|o| write_bytes(o, b"\xc3\x28")), r#"{"b64":"wyg="}"#);
    }

    #[test]
    fn scores() {
        assert_eq!(s(|o| write_score(o, 1.0)), "1.0");
        assert_eq!(s(|o| write_score(o, 0.1)), "0.1");
        assert_eq!(s(|o| write_score(o, 1e300)), "1e300");
        assert_eq!(s(|o| write_score(o, f64::NEG_INFINITY)), "\"-inf\"");
        assert_eq!(s(|o| write_score(o, f64::NAN)), "\"nan\"");
        let v: f64 = s(|o| write_score(o, 1.0 / 3.0)).parse().unwrap();
        assert_eq!(v, 1.0 / 3.0);
    }

    #[test]
    fn ints_as_strings() {
        assert_eq!(s(|o| write_elem(o, Elem::Int(-42))), "\"-42\"");
    }
}
