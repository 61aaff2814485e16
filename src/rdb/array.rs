//! Array values: Redis 8.8's RDB type 28 (`RDB_TYPE_ARRAY`, the AR* commands).
//!
//! Layout, as written by `rdbSaveObject`/`rdbSaveArrayElement` and read by
//! `rdbLoadObject` in Redis `unstable` at e58041978 (after 8.8.0 GA); tag
//! names from `sparsearray.h`:
//!
//! ```text
//! len        count: number of elements (the loader refuses 0)
//! len        insert flag: 0 = no ARINSERT cursor, 1 = one follows
//! [flag 1]   len  insert_idx (next ARINSERT index)
//! per element (the saver walks slices in index order):
//!   len      index (a plain length; 2^64-1 is refused)
//!   len      tag:
//!            0 AR_RDB_TAG_SDS       string  (arString: any length)
//!            1 AR_RDB_TAG_INT       8 bytes little-endian int64
//!            2 AR_RDB_TAG_FLOAT     8 bytes little-endian double
//!            3 AR_RDB_TAG_SMALLSTR  string  (at most 7 bytes, inline)
//! ```
//!
//! Only present elements are stored: indices are sparse and can be as big
//! as 2^64-2, so nothing here sizes memory by an index. What a client sees
//! (`ARGET`) is the element as a string: integers in decimal, floats in
//! `arFormatFloat` form (see [`write_float`]), strings as stored.
//!
//! Checked beyond the layout, as the loader does: count > 0, flag 0 or 1,
//! index < 2^64-1, tag known, small strings at most 7 bytes. Also checked,
//! though the loader does not (it would let a later element overwrite an
//! earlier one): indices strictly increase — the saver never writes them
//! otherwise, and a repeated index would make `count` a lie.

use crate::error::{Error, Result};
use crate::rdb::cursor::Cursor;
use crate::rdb::elem::Elem;

/// `AR_RDB_TAG_SDS`.
pub const AR_RDB_TAG_SDS: u64 = 0;
/// `AR_RDB_TAG_INT`.
pub const AR_RDB_TAG_INT: u64 = 1;
/// `AR_RDB_TAG_FLOAT`.
pub const AR_RDB_TAG_FLOAT: u64 = 2;
/// `AR_RDB_TAG_SMALLSTR`.
pub const AR_RDB_TAG_SMALLSTR: u64 = 3;
/// `AR_SMALLSTR_MAXLEN` on 64-bit builds.
pub const AR_SMALLSTR_MAXLEN: usize = 7;

/// Smallest stored element: index, tag, a one-byte string.
const MIN_ELEMENT_BYTES: u64 = 3;

/// What precedes the elements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrayHead {
    /// Number of elements.
    pub count: u64,
    /// Where the next ARINSERT goes (`None`: no ARINSERT happened yet).
    pub insert_idx: Option<u64>,
}

/// One element's value, in its stored encoding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArrayElem<'a> {
    /// `AR_RDB_TAG_SDS`.
    Str(Elem<'a>),
    /// `AR_RDB_TAG_INT`.
    Int(i64),
    /// `AR_RDB_TAG_FLOAT`.
    Float(f64),
    /// `AR_RDB_TAG_SMALLSTR`.
    Small(Elem<'a>),
}

impl ArrayElem<'_> {
    /// Appends the value as `ARGET` returns it.
    pub fn write_text(&self, out: &mut Vec<u8>) {
        match *self {
            ArrayElem::Str(e) | ArrayElem::Small(e) => e.write_to(out),
            ArrayElem::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
            ArrayElem::Float(d) => write_float(d, out),
        }
    }

    /// The value as `ARGET` returns it, owned.
    pub fn text(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_text(&mut v);
        v
    }
}

/// Reads the head, then calls `f(index, value)` for every element in file
/// (= index) order, leaving the cursor after the value.
pub fn decode(
    cur: &mut Cursor<'_>,
    scratch: &mut Vec<u8>,
    mut head_fn: impl FnMut(ArrayHead) -> Result<()>,
    mut f: impl FnMut(u64, ArrayElem<'_>) -> Result<()>,
) -> Result<()> {
    let head = read_head(cur)?;
    head_fn(head)?;
    let mut prev: Option<u64> = None;
    for _ in 0..head.count {
        let idx = read_index(cur, prev)?;
        prev = Some(idx);
        let tag_at = cur.offset();
        match cur.length("array element tag")? {
            AR_RDB_TAG_INT => f(idx, ArrayElem::Int(cur.i64_le("array integer")?))?,
            AR_RDB_TAG_FLOAT => f(idx, ArrayElem::Float(cur.f64_le("array float")?))?,
            AR_RDB_TAG_SDS => {
                let e = cur.string("array string")?.resolve(scratch)?;
                f(idx, ArrayElem::Str(e))?
            }
            AR_RDB_TAG_SMALLSTR => {
                let at = cur.offset();
                let e = cur.string("array small string")?.resolve(scratch)?;
                if e.byte_len() > AR_SMALLSTR_MAXLEN {
                    return Err(small_too_long(at, e.byte_len()));
                }
                f(idx, ArrayElem::Small(e))?
            }
            t => return Err(bad_tag(tag_at, t)),
        }
    }
    Ok(())
}

/// Skips an array value with the same checks on the head, indices and tags
/// (strings are skipped unread).
pub fn skip(cur: &mut Cursor<'_>) -> Result<()> {
    let head = read_head(cur)?;
    let mut prev = None;
    for _ in 0..head.count {
        prev = Some(read_index(cur, prev)?);
        let tag_at = cur.offset();
        match cur.length("array element tag")? {
            AR_RDB_TAG_INT | AR_RDB_TAG_FLOAT => cur.skip(8, "array number")?,
            AR_RDB_TAG_SDS | AR_RDB_TAG_SMALLSTR => cur.skip_string("array string")?,
            t => return Err(bad_tag(tag_at, t)),
        }
    }
    Ok(())
}

fn read_head(cur: &mut Cursor<'_>) -> Result<ArrayHead> {
    let at = cur.offset();
    let count = cur.count("array element count", MIN_ELEMENT_BYTES)?;
    if count == 0 {
        // rdbLoadObject: "Empty array (count == 0) is invalid".
        return Err(Error::invalid(
            at,
            "array element count",
            "an array cannot be empty",
        ));
    }
    let flag_at = cur.offset();
    let insert_idx = match cur.length("array insert flag")? {
        0 => None,
        1 => {
            let at = cur.offset();
            match cur.length("array insert index")? {
                // rdbLoadLen's error value: the saver writes flag 0 instead.
                u64::MAX => {
                    return Err(Error::invalid(
                        at,
                        "array insert index",
                        "2^64-1 is not a valid cursor",
                    ))
                }
                i => Some(i),
            }
        }
        n => {
            return Err(Error::invalid(
                flag_at,
                "array insert flag",
                format!("expected 0 or 1, found {n}"),
            ))
        }
    };
    Ok(ArrayHead { count, insert_idx })
}

fn read_index(cur: &mut Cursor<'_>, prev: Option<u64>) -> Result<u64> {
    let at = cur.offset();
    let idx = cur.length("array index")?;
    if idx == u64::MAX {
        return Err(Error::invalid(
            at,
            "array index",
            "2^64-1 is not a valid index",
        ));
    }
    if let Some(p) = prev {
        if idx <= p {
            return Err(Error::invalid(
                at,
                "array index",
                format!("{idx} does not follow the previous index {p}"),
            ));
        }
    }
    Ok(idx)
}

fn bad_tag(at: u64, t: u64) -> Error {
    Error::invalid(
        at,
        "array element tag",
        format!("expected 0 (string), 1 (int), 2 (float) or 3 (small string), found {t}"),
    )
}

fn small_too_long(at: u64, n: usize) -> Error {
    Error::invalid(
        at,
        "array small string",
        format!("{n} bytes: an inline small string holds at most {AR_SMALLSTR_MAXLEN}"),
    )
}

/// Appends `d` as `arFormatFloat` does: Redis' `d2string` (integral values
/// within ±2^62 via `ll2string`, else `fpconv_dtoa`'s shortest digits), then
/// ".0" when a finite result has no '.' or exponent. The digits come from
/// `ryu` (shortest round-trip, as fpconv's Grisu2 gives for all but rare
/// values).
pub fn write_float(d: f64, out: &mut Vec<u8>) {
    let start = out.len();
    if d.is_nan() {
        out.extend_from_slice(b"nan");
        return;
    }
    if d.is_infinite() {
        out.extend_from_slice(if d < 0.0 { b"-inf" } else { b"inf" });
        return;
    }
    let half = (i64::MAX / 2) as f64;
    if d == 0.0 {
        out.extend_from_slice(if d.is_sign_negative() { b"-0" } else { b"0" });
    } else if (-half..=half).contains(&d) && (d as i64) as f64 == d {
        out.extend_from_slice(itoa::Buffer::new().format(d as i64).as_bytes());
    } else {
        fpconv_layout(d, out);
    }
    if !out[start..].iter().any(|&c| c == b'.' || c == b'e') {
        out.extend_from_slice(b".0");
    }
}

/// `emit_digits` of fpconv: plain integer, plain decimal, or d.ddde±x.
fn fpconv_layout(d: f64, out: &mut Vec<u8>) {
    let neg = d < 0.0;
    if neg {
        out.push(b'-');
    }
    // Shortest digits and exponent from ryu's scientific form "D.DDDDeX".
    let sci = format!("{:e}", d.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    let nd = digits.len() as i32;
    let k = exp - (nd - 1); // value = digits * 10^k
    let e = (k + nd - 1).abs();
    if k >= 0 && e < nd + 7 {
        out.extend_from_slice(&digits);
        out.extend(std::iter::repeat_n(b'0', k as usize));
    } else if k < 0 && (k > -7 || e < 4) {
        let offset = nd + k;
        if offset <= 0 {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat_n(b'0', (-offset) as usize));
            out.extend_from_slice(&digits);
        } else {
            out.extend_from_slice(&digits[..offset as usize]);
            out.push(b'.');
            out.extend_from_slice(&digits[offset as usize..]);
        }
    } else {
        let nd = (nd as usize).min(18 - neg as usize);
        out.push(digits[0]);
        if nd > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..nd]);
        }
        out.push(b'e');
        out.push(if k + nd as i32 - 1 < 0 { b'-' } else { b'+' });
        out.extend_from_slice(e.to_string().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::testutil::rlen as put_len;

    fn put_str(out: &mut Vec<u8>, s: &[u8]) {
        put_len(out, s.len() as u64);
        out.extend_from_slice(s);
    }

    fn float(d: f64) -> String {
        let mut v = Vec::new();
        write_float(d, &mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn floats_format_like_ar_format_float() {
        assert_eq!(float(3.25), "3.25");
        assert_eq!(float(2.71), "2.71");
        assert_eq!(float(3.0), "3.0");
        assert_eq!(float(-0.0), "-0.0");
        assert_eq!(float(0.0), "0.0");
        assert_eq!(float(0.0001), "0.0001");
        assert_eq!(float(1e300), "1e+300");
        assert_eq!(float(1.5e-7), "1.5e-7");
        assert_eq!(float(1e22), "1e+22");
        assert_eq!(float(123456789.125), "123456789.125");
        assert_eq!(float(f64::INFINITY), "inf");
    }

    fn value(elems: &[(u64, u64, &[u8])], insert: Option<u64>) -> Vec<u8> {
        let mut d = Vec::new();
        put_len(&mut d, elems.len() as u64);
        match insert {
            None => put_len(&mut d, 0),
            Some(i) => {
                put_len(&mut d, 1);
                put_len(&mut d, i);
            }
        }
        for &(idx, tag, v) in elems {
            put_len(&mut d, idx);
            put_len(&mut d, tag);
            if tag == AR_RDB_TAG_INT || tag == AR_RDB_TAG_FLOAT {
                d.extend_from_slice(v);
            } else {
                put_str(&mut d, v);
            }
        }
        d
    }

    type Elements = Vec<(u64, Vec<u8>)>;

    fn run(d: &[u8]) -> Result<(ArrayHead, Elements)> {
        let mut cur = Cursor::new(d, 100);
        let mut head = None;
        let mut got = Vec::new();
        decode(
            &mut cur,
            &mut Vec::new(),
            |h| {
                head = Some(h);
                Ok(())
            },
            |i, v| {
                got.push((i, v.text()));
                Ok(())
            },
        )?;
        assert_eq!(cur.pos(), d.len());
        let mut c2 = Cursor::new(d, 100);
        skip(&mut c2)?;
        assert_eq!(c2.pos(), d.len());
        Ok((head.unwrap(), got))
    }

    #[test]
    fn decodes_every_tag_at_sparse_indices() {
        let d = value(
            &[
                (0, AR_RDB_TAG_INT, &(-9223372036854775808i64).to_le_bytes()),
                (5, AR_RDB_TAG_FLOAT, &2.5f64.to_le_bytes()),
                (1 << 40, AR_RDB_TAG_SMALLSTR, b"abc"),
                (u64::MAX - 1, AR_RDB_TAG_SDS, b"a longer string"),
            ],
            Some(7),
        );
        let (h, got) = run(&d).unwrap();
        assert_eq!(
            h,
            ArrayHead {
                count: 4,
                insert_idx: Some(7)
            }
        );
        assert_eq!(
            got,
            vec![
                (0, b"-9223372036854775808".to_vec()),
                (5, b"2.5".to_vec()),
                (1 << 40, b"abc".to_vec()),
                (u64::MAX - 1, b"a longer string".to_vec()),
            ]
        );
    }

    #[test]
    fn refuses_what_the_server_refuses() {
        let empty = value(&[], None);
        assert!(run(&empty)
            .unwrap_err()
            .to_string()
            .contains("cannot be empty"));
        let mut flag = value(&[(1, AR_RDB_TAG_SDS, b"x")], None);
        flag[1] = 2;
        assert!(run(&flag)
            .unwrap_err()
            .to_string()
            .contains("expected 0 or 1"));
        let tag = value(&[(1, 9, b"x")], None);
        let e = run(&tag).unwrap_err();
        assert!(e.to_string().contains("found 9"), "{e}");
        assert_eq!(e.offset, 103);
        let long = value(&[(1, AR_RDB_TAG_SMALLSTR, b"12345678")], None);
        assert!(run(&long).unwrap_err().to_string().contains("at most 7"));
        let order = value(
            &[(3, AR_RDB_TAG_SDS, b"x"), (3, AR_RDB_TAG_SDS, b"y")],
            None,
        );
        assert!(run(&order)
            .unwrap_err()
            .to_string()
            .contains("does not follow"));
        let max = value(&[(u64::MAX, AR_RDB_TAG_SDS, b"x")], None);
        assert!(run(&max).unwrap_err().to_string().contains("2^64-1"));
    }

    #[test]
    fn a_hostile_count_is_refused_before_any_loop() {
        let mut d = Vec::new();
        put_len(&mut d, 1 << 40);
        put_len(&mut d, 0);
        let e = run(&d).unwrap_err();
        assert!(e.to_string().contains("cannot fit"), "{e}");
    }

    #[test]
    fn truncation_anywhere_is_an_error() {
        let d = value(
            &[
                (0, AR_RDB_TAG_INT, &7i64.to_le_bytes()),
                (9, AR_RDB_TAG_SDS, b"hello"),
            ],
            Some(1),
        );
        for n in 0..d.len() {
            assert!(run(&d[..n]).is_err(), "prefix of {n} bytes");
        }
    }
}
