//! Borrowed element and string types shared by every decoder.
//!
//! `RdbStr` is a string as it sits in the file (raw, integer-encoded or
//! LZF-compressed); it is decoded only when a consumer asks, into a scratch
//! buffer the consumer owns. `Elem` is one decoded element of a collection:
//! ziplists, listpacks and intsets keep small integers as integers, and
//! consumers that only need the number (scores, counters) never format it.

use crate::error::{Error, Result};
use crate::rdb::lzf;

/// LZF can expand at most ~88x (a 3-byte back reference copies up to 264
/// bytes); a declared size beyond this bound is a lie, and refusing it keeps
/// a hostile header from sizing an allocation.
pub const LZF_MAX_RATIO: u64 = 96;

/// One decoded element: bytes borrowed from the file or a scratch buffer, or
/// an integer from an integer encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem<'a> {
    Bytes(&'a [u8]),
    Int(i64),
}

impl<'a> Elem<'a> {
    /// Appends the element's byte form (integers as decimal ASCII, which is
    /// what the server returns for them) to `out`.
    #[inline]
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match *self {
            Elem::Bytes(b) => out.extend_from_slice(b),
            Elem::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
        }
    }

    /// The element as owned bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.write_to(&mut v);
        v
    }

    /// Byte form, formatting integers into `buf`.
    #[inline]
    pub fn as_bytes<'b>(&'b self, buf: &'b mut itoa::Buffer) -> &'b [u8]
    where
        'a: 'b,
    {
        match *self {
            Elem::Bytes(b) => b,
            Elem::Int(i) => buf.format(i).as_bytes(),
        }
    }

    /// Byte length of the element's byte form.
    pub fn byte_len(&self) -> usize {
        match *self {
            Elem::Bytes(b) => b.len(),
            Elem::Int(i) => itoa::Buffer::new().format(i).len(),
        }
    }

    /// Parses the element as an integer (for counters stored as strings).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Elem::Int(i) => Some(i),
            Elem::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
        }
    }

    /// Parses the element as a double (zset scores in ziplists/listpacks).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Elem::Int(i) => Some(i as f64),
            Elem::Bytes(b) => parse_f64(b),
        }
    }
}

/// An RDB string as stored: not decoded until asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdbStr<'a> {
    /// Plain bytes.
    Raw(&'a [u8]),
    /// `RDB_ENC_INT8/16/32`: the string is the decimal form of this number.
    Int(i64),
    /// `RDB_ENC_LZF`: `data` decompresses to `len` bytes; `offset` is where
    /// `data` starts in the file.
    Lzf {
        data: &'a [u8],
        len: u64,
        offset: u64,
    },
}

impl<'a> RdbStr<'a> {
    /// Decodes into an element, decompressing into `scratch` when needed.
    #[inline]
    pub fn resolve<'b>(&self, scratch: &'b mut Vec<u8>) -> Result<Elem<'b>>
    where
        'a: 'b,
    {
        match *self {
            RdbStr::Raw(b) => Ok(Elem::Bytes(b)),
            RdbStr::Int(i) => Ok(Elem::Int(i)),
            RdbStr::Lzf { data, len, offset } => {
                decompress(data, len, offset, scratch)?;
                Ok(Elem::Bytes(&scratch[..]))
            }
        }
    }

    /// Decodes into bytes (integers formatted), using `scratch` for LZF and
    /// integers.
    #[inline]
    pub fn bytes<'b>(&self, scratch: &'b mut Vec<u8>) -> Result<&'b [u8]>
    where
        'a: 'b,
    {
        match *self {
            RdbStr::Raw(b) => Ok(b),
            RdbStr::Int(i) => {
                scratch.clear();
                scratch.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
                Ok(&scratch[..])
            }
            RdbStr::Lzf { data, len, offset } => {
                decompress(data, len, offset, scratch)?;
                Ok(&scratch[..])
            }
        }
    }

    /// Decoded bytes as an owned vector.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        match *self {
            RdbStr::Raw(b) => Ok(b.to_vec()),
            _ => {
                let mut v = Vec::new();
                self.bytes(&mut v)?;
                Ok(v)
            }
        }
    }

    /// Length of the decoded string without decoding it.
    pub fn decoded_len(&self) -> u64 {
        match *self {
            RdbStr::Raw(b) => b.len() as u64,
            RdbStr::Int(i) => itoa::Buffer::new().format(i).len() as u64,
            RdbStr::Lzf { len, .. } => len,
        }
    }
}

/// Decompresses an LZF string into `out` (cleared first), after checking the
/// declared size against what the compressed bytes could possibly produce.
pub fn decompress(data: &[u8], len: u64, offset: u64, out: &mut Vec<u8>) -> Result<()> {
    check_lzf_len(data, len, offset)?;
    lzf::decompress_into(data, len as usize, out, offset)
}

/// [`decompress`] a block at a time (see [`lzf::decompress_blocks`]): for a
/// string too big to hold whole.
pub fn decompress_blocks(
    data: &[u8],
    len: u64,
    offset: u64,
    block: usize,
    buf: &mut Vec<u8>,
    emit: &mut dyn FnMut(&[u8]) -> Result<()>,
) -> Result<()> {
    check_lzf_len(data, len, offset)?;
    lzf::decompress_blocks(data, len as usize, offset, block, buf, emit)
}

fn check_lzf_len(data: &[u8], len: u64, offset: u64) -> Result<()> {
    if len > (data.len() as u64).saturating_mul(LZF_MAX_RATIO) + 64 {
        return Err(Error::invalid(
            offset,
            "LZF string",
            format!(
                "declared uncompressed size {len} is impossible for {} compressed bytes",
                data.len()
            ),
        ));
    }
    Ok(())
}

/// Re-anchors an error found inside decompressed bytes at the file offset
/// of the compressed data.
/// A visitor's [`Error::stop`] is not a fault and passes through as it is.
pub(crate) fn in_compressed(e: Error, offset: u64, what: &'static str) -> Error {
    if e.is_stop() {
        return e;
    }
    Error::invalid(
        offset,
        what,
        format!(
            "in the LZF-decompressed data, at byte {}: {}",
            e.offset, e.kind
        ),
    )
}

/// Parses the decimal text of a double as Redis writes it (`%.17g`, `inf`,
/// `-inf`, `nan`).
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let t = std::str::from_utf8(s).ok()?.trim();
    match t {
        "inf" | "+inf" | "Infinity" => Some(f64::INFINITY),
        "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
        "nan" | "-nan" => Some(f64::NAN),
        _ => t.parse::<f64>().ok(),
    }
}

/// The end of a fallible, fused iterator's `next`: `Ok(None)` (the end) and
/// `Err` (the first error) both finish it for good, so a caller that keeps
/// calling after an error cannot loop.
#[inline]
pub(crate) fn fuse<T>(done: &mut bool, r: Result<Option<T>>) -> Option<Result<T>> {
    match r {
        Ok(Some(e)) => Some(Ok(e)),
        Ok(None) => {
            *done = true;
            None
        }
        Err(e) => {
            *done = true;
            Some(Err(e))
        }
    }
}
