//! A bounds-checked reader over a byte slice that knows where that slice sits
//! in the file, so that every error names an absolute offset.
//!
//! RDB length encoding (`rdbLoadLenByRef` in Redis' `rdb.c`):
//!
//! ```text
//! 00|XXXXXX                      6-bit length
//! 01|XXXXXX XXXXXXXX             14-bit length, big endian
//! 10|000000 [u32 BE]             32-bit length
//! 10|000001 [u64 BE]             64-bit length
//! 11|XXXXXX                      special string encoding (RDB_ENC_*):
//!                                0 int8, 1 int16 LE, 2 int32 LE, 3 LZF
//! ```

use crate::error::{Error, Result};
use crate::rdb::elem::RdbStr;

/// A length-or-encoding as read from the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Len {
    /// A plain length.
    Len(u64),
    /// A special encoding marker (`RDB_ENC_*`).
    Encoded(u8),
}

/// Bounds-checked reader. `base` is the absolute file offset of `data[0]`.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Cursor<'a> {
    pub fn new(data: &'a [u8], base: u64) -> Self {
        Cursor { data, pos: 0, base }
    }

    /// Position relative to the start of `data`.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Absolute file offset of the next byte.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Absolute file offset of `data[0]`.
    #[inline]
    pub fn base(&self) -> u64 {
        self.base
    }

    #[inline]
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The whole underlying slice.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Bytes from `start` (relative) up to the current position.
    #[inline]
    pub fn since(&self, start: usize) -> &'a [u8] {
        &self.data[start..self.pos]
    }

    /// The bytes not read yet.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    /// An error at the current position.
    pub fn invalid(&self, what: &'static str, detail: impl Into<String>) -> Error {
        Error::invalid(self.offset(), what, detail)
    }

    /// An error at an earlier relative position.
    pub fn invalid_at(&self, pos: usize, what: &'static str, detail: impl Into<String>) -> Error {
        Error::invalid(self.base + pos as u64, what, detail)
    }

    #[inline]
    fn need(&self, n: u64, what: &'static str) -> Result<()> {
        if n > self.remaining() as u64 {
            Err(Error::truncated(
                self.offset(),
                what,
                n,
                self.remaining() as u64,
            ))
        } else {
            Ok(())
        }
    }

    /// Fails unless at least `n` bytes remain; used to reject element counts
    /// that the remaining input cannot possibly hold before acting on them.
    #[inline]
    pub fn ensure(&self, n: u64, what: &'static str) -> Result<()> {
        self.need(n, what)
    }

    #[inline]
    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(Error::truncated(self.offset(), what, 1, 0)),
        }
    }

    #[inline]
    pub fn peek_u8(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    #[inline]
    pub fn take(&mut self, n: u64, what: &'static str) -> Result<&'a [u8]> {
        self.need(n, what)?;
        let n = n as usize;
        let s = &self.data[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    pub fn skip(&mut self, n: u64, what: &'static str) -> Result<()> {
        self.need(n, what)?;
        self.pos += n as usize;
        Ok(())
    }

    #[inline]
    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let s = self.take(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u16_le(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }
    pub fn u32_le(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }
    pub fn u64_le(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }
    pub fn u32_be(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_be_bytes(self.array(what)?))
    }
    pub fn u64_be(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }
    pub fn i64_le(&mut self, what: &'static str) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }
    /// Binary double (`rdbLoadBinaryDoubleValue`): 8 bytes little endian.
    pub fn f64_le(&mut self, what: &'static str) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    /// Reads a length or a special-encoding marker.
    #[inline]
    pub fn len_or_enc(&mut self, what: &'static str) -> Result<Len> {
        let start = self.pos;
        let b = self.u8(what)?;
        match b >> 6 {
            0 => Ok(Len::Len((b & 0x3f) as u64)),
            1 => {
                let b2 = self.u8(what)?;
                Ok(Len::Len((((b & 0x3f) as u64) << 8) | b2 as u64))
            }
            3 => Ok(Len::Encoded(b & 0x3f)),
            _ => match b {
                0x80 => Ok(Len::Len(self.u32_be(what)? as u64)),
                0x81 => Ok(Len::Len(self.u64_be(what)?)),
                _ => Err(self.invalid_at(
                    start,
                    what,
                    format!("unknown length prefix byte 0x{b:02x}"),
                )),
            },
        }
    }

    /// Reads a plain length; a special-encoding marker is an error here.
    #[inline]
    pub fn length(&mut self, what: &'static str) -> Result<u64> {
        let start = self.pos;
        match self.len_or_enc(what)? {
            Len::Len(n) => Ok(n),
            Len::Encoded(e) => Err(self.invalid_at(
                start,
                what,
                format!("expected a length, found string encoding marker {e}"),
            )),
        }
    }

    /// Reads a count of items each at least `min_item_bytes` long, and rejects
    /// counts the rest of the input cannot hold. This is what keeps a
    /// hostile "4 billion elements" header from driving a long loop or a big
    /// allocation.
    #[inline]
    pub fn count(&mut self, what: &'static str, min_item_bytes: u64) -> Result<u64> {
        let start = self.pos;
        let n = self.length(what)?;
        if n.saturating_mul(min_item_bytes) > self.remaining() as u64 {
            return Err(self.invalid_at(
                start,
                what,
                format!(
                    "count {n} cannot fit in the {} bytes that remain",
                    self.remaining()
                ),
            ));
        }
        Ok(n)
    }

    /// Reads an RDB string (`rdbGenericLoadStringObject`) without decoding it.
    #[inline]
    pub fn string(&mut self, what: &'static str) -> Result<RdbStr<'a>> {
        let start = self.pos;
        match self.len_or_enc(what)? {
            Len::Len(n) => Ok(RdbStr::Raw(self.take(n, what)?)),
            Len::Encoded(0) => Ok(RdbStr::Int(self.u8(what)? as i8 as i64)),
            Len::Encoded(1) => Ok(RdbStr::Int(self.u16_le(what)? as i16 as i64)),
            Len::Encoded(2) => Ok(RdbStr::Int(self.u32_le(what)? as i32 as i64)),
            Len::Encoded(3) => {
                let clen = self.length("LZF compressed length")?;
                let len = self.length("LZF uncompressed length")?;
                let offset = self.offset();
                let data = self.take(clen, "LZF compressed data")?;
                Ok(RdbStr::Lzf { data, len, offset })
            }
            Len::Encoded(e) => {
                Err(self.invalid_at(start, what, format!("unknown string encoding {e}")))
            }
        }
    }

    /// Skips an RDB string without looking at its content.
    #[inline]
    pub fn skip_string(&mut self, what: &'static str) -> Result<()> {
        // Fast path: a 6-bit length (`00xxxxxx`, strings under 64 bytes) is
        // most elements of a plain collection, and this walk is the
        // sequential part of every parallel read.
        if let Some(&b) = self.data.get(self.pos) {
            let n = b as usize;
            if b < 0x40 && n < self.data.len() - self.pos {
                self.pos += 1 + n;
                return Ok(());
            }
        }
        self.skip_string_general(what)
    }

    /// [`skip_string`](Self::skip_string) for every prefix the fast path does
    /// not take (and for its errors).
    fn skip_string_general(&mut self, what: &'static str) -> Result<()> {
        let start = self.pos;
        match self.len_or_enc(what)? {
            Len::Len(n) => self.skip(n, what),
            Len::Encoded(0) => self.skip(1, what),
            Len::Encoded(1) => self.skip(2, what),
            Len::Encoded(2) => self.skip(4, what),
            Len::Encoded(3) => {
                let clen = self.length("LZF compressed length")?;
                self.length("LZF uncompressed length")?;
                self.skip(clen, "LZF compressed data")
            }
            Len::Encoded(e) => {
                Err(self.invalid_at(start, what, format!("unknown string encoding {e}")))
            }
        }
    }

    /// Reads a string that must hold an integer in decimal ASCII or in an
    /// integer encoding (e.g. a module id or a stream counter stored as a
    /// string is *not* this; this is for `rdbLoadLen`-style strings like
    /// legacy ziplist-free counters).
    pub fn string_as_u64(&mut self, what: &'static str) -> Result<u64> {
        let start = self.pos;
        let s = self.string(what)?;
        match s {
            RdbStr::Int(i) if i >= 0 => Ok(i as u64),
            RdbStr::Raw(b) => std::str::from_utf8(b)
                .ok()
                .and_then(|t| t.parse::<u64>().ok())
                .ok_or_else(|| self.invalid_at(start, what, "not a decimal integer")),
            _ => Err(self.invalid_at(start, what, "not a non-negative integer")),
        }
    }

    /// Score of a v1 zset (`rdbLoadDoubleValue`): one length byte, then that
    /// many ASCII bytes; 253 = NaN, 254 = +inf, 255 = -inf.
    pub fn ascii_double(&mut self, what: &'static str) -> Result<f64> {
        let start = self.pos;
        let n = self.u8(what)?;
        match n {
            253 => Ok(f64::NAN),
            254 => Ok(f64::INFINITY),
            255 => Ok(f64::NEG_INFINITY),
            _ => {
                let s = self.take(n as u64, what)?;
                parse_f64(s).ok_or_else(|| {
                    self.invalid_at(start, what, "not a decimal floating point number")
                })
            }
        }
    }
}

/// Re-exported from [`crate::rdb::elem`], where it lives below both.
pub use crate::rdb::elem::parse_f64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_of_every_width() {
        let data = [
            0x05, 0x41, 0x02, 0x80, 0, 1, 0, 0, 0x81, 0, 0, 0, 1, 0, 0, 0, 0,
        ];
        let mut c = Cursor::new(&data, 100);
        assert_eq!(c.length("l").unwrap(), 5);
        assert_eq!(c.length("l").unwrap(), 0x102);
        assert_eq!(c.length("l").unwrap(), 65536);
        assert_eq!(c.length("l").unwrap(), 1 << 32);
        assert!(c.is_empty());
    }

    #[test]
    fn bad_length_prefix_names_offset() {
        let mut c = Cursor::new(&[0x85], 40);
        let e = c.length("len").unwrap_err();
        assert_eq!(e.offset, 40);
    }

    #[test]
    fn int_encoded_strings() {
        let data = [0xc0, 0xff, 0xc1, 0x00, 0x80, 0xc2, 0x01, 0x00, 0x00, 0x80];
        let mut c = Cursor::new(&data, 0);
        assert_eq!(c.string("s").unwrap(), RdbStr::Int(-1));
        assert_eq!(c.string("s").unwrap(), RdbStr::Int(-32768));
        assert_eq!(c.string("s").unwrap(), RdbStr::Int(-2147483647));
    }

    #[test]
    fn truncated_string_is_an_error_not_a_panic() {
        let mut c = Cursor::new(&[0x0a, b'a'], 7);
        let e = c.string("s").unwrap_err();
        assert_eq!(e.offset, 8);
        assert!(e.to_string().contains("needed 10"));
    }

    #[test]
    fn hostile_count_is_rejected_before_looping() {
        let mut c = Cursor::new(&[0x81, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], 0);
        assert!(c.count("n", 1).is_err());
    }

    #[test]
    fn ascii_doubles() {
        let data = [3, b'1', b'.', b'5', 253, 254, 255];
        let mut c = Cursor::new(&data, 0);
        assert_eq!(c.ascii_double("d").unwrap(), 1.5);
        assert!(c.ascii_double("d").unwrap().is_nan());
        assert_eq!(c.ascii_double("d").unwrap(), f64::INFINITY);
        assert_eq!(c.ascii_double("d").unwrap(), f64::NEG_INFINITY);
    }
}
