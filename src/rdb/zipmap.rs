//! Zipmaps: the compact hash encoding of Redis before 2.6
//! (`RDB_TYPE_HASH_ZIPMAP`), stored as one RDB string.
//!
//! Mirrors `zipmapValidateIntegrity` in Redis' `src/zipmap.c`.
//!
//! ```text
//! <zmlen u8> <len> key <len> <free u8> value <free bytes> ... <0xFF>
//!   zmlen   number of pairs; 254 means "count them" (Redis stops counting
//!           in the header once it reaches 254)
//!   len     0..=253: the length itself
//!           254 followed by u32LE: the length
//!           255: end of zipmap (only valid where a key would start)
//!   free    unused bytes left after the value by an in-place update
//! ```
//!
//! `{"foo" => "bar", "hello" => "world"}` is
//! `\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff`.

use crate::error::{Error, Result};

const END: u8 = 0xFF;
const BIG_LEN: u8 = 0xFE;
const UNKNOWN_COUNT: u8 = 254;

/// A zipmap whose framing has been checked; pairs are checked as they are
/// iterated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zipmap<'a> {
    data: &'a [u8],
    offset: u64,
    zmlen: u8,
}

/// Checks the framing of a zipmap (length byte and end byte). `offset` is
/// the absolute file offset of `data[0]`.
pub fn parse(data: &[u8], offset: u64) -> Result<Zipmap<'_>> {
    let (&zmlen, _) = data
        .split_first()
        .filter(|_| data.len() >= 2)
        .ok_or_else(|| Error::truncated(offset, "zipmap", 2, data.len() as u64))?;
    let last = data.len() - 1;
    if data.get(last) != Some(&END) {
        return Err(Error::invalid(
            offset.saturating_add(last as u64),
            "zipmap end marker",
            format!(
                "expected 0xff, found 0x{:02x}",
                data.get(last).copied().unwrap_or_default()
            ),
        ));
    }
    Ok(Zipmap {
        data,
        offset,
        zmlen,
    })
}

impl<'a> Zipmap<'a> {
    /// The pair count from the header (254 = unknown, count by iterating).
    pub fn count_hint(&self) -> u8 {
        self.zmlen
    }

    /// The (field, value) pairs in order, each checked as it is reached.
    pub fn iter(&self) -> ZipmapIter<'a> {
        ZipmapIter {
            data: self.data,
            offset: self.offset,
            pos: 1,
            count: 0,
            zmlen: self.zmlen,
            done: false,
        }
    }

    /// Walks and checks every pair; returns the number of pairs.
    pub fn validate(&self) -> Result<usize> {
        let mut n = 0;
        for e in self.iter() {
            e?;
            n += 1;
        }
        Ok(n)
    }
}

/// Iterator over the pairs of a [`Zipmap`]. Yields `Err` once on the first
/// problem, then `None` forever.
///
/// Checks that every length, string and free area lies before the end byte,
/// that the end byte comes exactly at the end, and (after the last pair, in
/// place of the final `None`) that the count matches `zmlen` unless it is 254.
#[derive(Debug, Clone)]
pub struct ZipmapIter<'a> {
    data: &'a [u8],
    offset: u64,
    /// Position of the next pair.
    pos: usize,
    count: usize,
    zmlen: u8,
    done: bool,
}

impl<'a> ZipmapIter<'a> {
    /// Absolute file offset of the next pair (or of the end byte).
    pub fn offset(&self) -> u64 {
        self.at(self.pos)
    }

    #[inline]
    fn at(&self, pos: usize) -> u64 {
        self.offset.saturating_add(pos as u64)
    }

    /// Position of the end byte; pairs must lie entirely before it.
    #[inline]
    fn end(&self) -> usize {
        self.data.len().saturating_sub(1)
    }

    /// `n` bytes at `pos`, which must end before the end byte.
    #[inline]
    fn bytes_at(&self, pos: usize, n: usize, what: &'static str) -> Result<&'a [u8]> {
        let end = self.end();
        pos.checked_add(n)
            .filter(|&stop| stop <= end)
            .and_then(|stop| self.data.get(pos..stop))
            .ok_or_else(|| {
                Error::truncated(self.at(pos), what, n as u64, end.saturating_sub(pos) as u64)
            })
    }

    /// The byte at `pos`, which must come before the end byte.
    #[inline]
    fn byte_at(&self, pos: usize, what: &'static str) -> Result<u8> {
        let b = self.bytes_at(pos, 1, what)?;
        b.first()
            .copied()
            .ok_or_else(|| Error::truncated(self.at(pos), what, 1, 0))
    }

    /// Reads a `<len>` at `pos`; returns the length and the position after it.
    fn len_at(&self, pos: usize, what: &'static str) -> Result<(usize, usize)> {
        match self.byte_at(pos, what)? {
            END => Err(Error::invalid(
                self.at(pos),
                what,
                "found the end byte 0xff where a length was expected",
            )),
            BIG_LEN => {
                let b = self.bytes_at(pos + 1, 4, what)?;
                let n = b
                    .first_chunk::<4>()
                    .map(|b| u32::from_le_bytes(*b))
                    .ok_or_else(|| Error::truncated(self.at(pos + 1), what, 4, b.len() as u64))?;
                Ok((n as usize, pos + 5))
            }
            n => Ok((n as usize, pos + 1)),
        }
    }

    fn step(&mut self) -> Result<Option<(&'a [u8], &'a [u8])>> {
        let start = self.pos;
        // `pos` never passes the end byte, which parse() checked is 0xFF.
        let first = *self
            .data
            .get(start)
            .ok_or_else(|| Error::truncated(self.at(start), "zipmap entry", 1, 0))?;
        if first == END {
            return self.finish(start).map(|()| None);
        }
        let (klen, p) = self.len_at(start, "zipmap field length")?;
        let key = self.bytes_at(p, klen, "zipmap field")?;
        let (vlen, p) = self.len_at(p + klen, "zipmap value length")?;
        let free = self.byte_at(p, "zipmap value free byte count")?;
        let value = self.bytes_at(p + 1, vlen, "zipmap value")?;
        let p = p + 1 + vlen;
        self.bytes_at(p, free as usize, "zipmap value free space")?;
        self.pos = p + free as usize;
        self.count += 1;
        Ok(Some((key, value)))
    }

    /// Checks made on reaching an end byte at `pos`.
    fn finish(&self, pos: usize) -> Result<()> {
        let end = self.end();
        if pos != end {
            return Err(Error::invalid(
                self.at(pos),
                "zipmap entry",
                format!(
                    "found the end byte 0xff {} bytes before the end of the zipmap",
                    end - pos
                ),
            ));
        }
        if self.zmlen != UNKNOWN_COUNT && self.count != self.zmlen as usize {
            return Err(Error::invalid(
                self.offset,
                "zipmap length",
                format!(
                    "zmlen says {} pairs but the zipmap holds {}",
                    self.zmlen, self.count
                ),
            ));
        }
        Ok(())
    }
}

impl<'a> Iterator for ZipmapIter<'a> {
    type Item = Result<(&'a [u8], &'a [u8])>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let r = self.step();
        crate::rdb::elem::fuse(&mut self.done, r)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        // Every pair takes at least 3 bytes (two lengths and the free byte).
        let left = self.end().saturating_sub(self.pos);
        (0, Some(left / 3 + 1))
    }
}

impl std::iter::FusedIterator for ZipmapIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn len_bytes(n: usize) -> Vec<u8> {
        if n < 254 {
            vec![n as u8]
        } else {
            let mut v = vec![BIG_LEN];
            v.extend_from_slice(&(n as u32).to_le_bytes());
            v
        }
    }

    /// Builds a zipmap; each pair may carry `free` trailing bytes.
    fn build(pairs: &[(&[u8], &[u8], u8)]) -> Vec<u8> {
        let mut out = vec![pairs.len().min(254) as u8];
        for &(k, v, free) in pairs {
            out.extend(len_bytes(k.len()));
            out.extend_from_slice(k);
            out.extend(len_bytes(v.len()));
            out.push(free);
            out.extend_from_slice(v);
            out.resize(out.len() + free as usize, b'#');
        }
        out.push(END);
        out
    }

    fn decode(d: &[u8]) -> Result<Vec<(&[u8], &[u8])>> {
        parse(d, 0)?.iter().collect()
    }

    fn err(d: &[u8]) -> Error {
        match parse(d, 1000) {
            Err(e) => e,
            Ok(z) => {
                let mut it = z.iter();
                let e = it
                    .by_ref()
                    .find_map(|r| r.err())
                    .expect("expected an error");
                assert!(it.next().is_none(), "iterator must stop after an error");
                assert_eq!(z.validate().unwrap_err(), e);
                e
            }
        }
    }

    #[test]
    fn redis_documentation_example() {
        let d = b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff";
        let z = parse(d, 0).unwrap();
        assert_eq!(z.count_hint(), 2);
        assert_eq!(
            decode(d).unwrap(),
            [(&b"foo"[..], &b"bar"[..]), (&b"hello"[..], &b"world"[..])]
        );
        assert_eq!(build(&[(b"foo", b"bar", 0), (b"hello", b"world", 0)]), d);
    }

    #[test]
    fn empty_zipmap() {
        let d = [0, 0xff];
        assert_eq!(parse(&d, 0).unwrap().validate().unwrap(), 0);
    }

    #[test]
    fn free_space_is_skipped() {
        // "foo" set to "bar" then to "hi": one free byte after the value.
        let d = b"\x01\x03foo\x02\x01hi#\xff";
        assert_eq!(decode(d).unwrap(), [(&b"foo"[..], &b"hi"[..])]);
        let d = build(&[(b"a", b"", 4), (b"b", b"xyz", 255), (b"", b"v", 0)]);
        assert_eq!(
            decode(&d).unwrap(),
            [
                (&b"a"[..], &b""[..]),
                (&b"b"[..], &b"xyz"[..]),
                (&b""[..], &b"v"[..])
            ]
        );
    }

    #[test]
    fn lengths_of_every_width() {
        for n in [0usize, 1, 253, 254, 255, 256, 70000] {
            let k: Vec<u8> = (0..n).map(|i| i as u8).collect();
            let v: Vec<u8> = (0..n).map(|i| (i * 3) as u8).collect();
            let d = build(&[(&k, &v, 1), (b"x", &k, 0)]);
            assert_eq!(
                decode(&d).unwrap(),
                [(&k[..], &v[..]), (&b"x"[..], &k[..])],
                "len {n}"
            );
        }
        // A 5-byte length for a short string is read as written.
        let d = b"\x01\xfe\x02\x00\x00\x00ab\xfe\x01\x00\x00\x00\x00c\xff";
        assert_eq!(decode(d).unwrap(), [(&b"ab"[..], &b"c"[..])]);
    }

    #[test]
    fn unknown_count() {
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0..300)
            .map(|i| (format!("f{i}").into_bytes(), format!("{i}").into_bytes()))
            .collect();
        let refs: Vec<(&[u8], &[u8], u8)> =
            pairs.iter().map(|(k, v)| (&k[..], &v[..], 0)).collect();
        let d = build(&refs);
        assert_eq!(d[0], 254);
        let z = parse(&d, 0).unwrap();
        assert_eq!(z.count_hint(), 254);
        assert_eq!(z.validate().unwrap(), 300);
        // 254 really means unknown: fewer pairs are fine too.
        let d = [254, 1, b'a', 1, 0, b'b', 0xff];
        assert_eq!(parse(&d, 0).unwrap().validate().unwrap(), 1);
    }

    #[test]
    fn iterator_offsets() {
        let d = build(&[(b"k", b"v", 2)]);
        let mut it = parse(&d, 40).unwrap().iter();
        assert_eq!(it.offset(), 41);
        it.next().unwrap().unwrap();
        assert_eq!(it.offset(), 40 + d.len() as u64 - 1);
        assert!(it.next().is_none());
        assert!(it.next().is_none());
    }

    #[test]
    fn truncated() {
        for d in [&[][..], &[0]] {
            let e = parse(d, 1000).unwrap_err();
            assert_eq!(e.offset, 1000);
            assert!(matches!(
                e.kind,
                ErrorKind::Truncated {
                    what: "zipmap",
                    needed: 2,
                    ..
                }
            ));
        }
    }

    #[test]
    fn missing_end_byte() {
        let e = err(b"\x01\x01a\x01\x00b");
        assert_eq!(e.offset, 1005);
        assert!(matches!(
            e.kind,
            ErrorKind::Invalid {
                what: "zipmap end marker",
                ..
            }
        ));
    }

    #[test]
    fn field_past_end() {
        let e = err(b"\x01\x05ab\xff");
        assert_eq!(e.offset, 1002);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "zipmap field",
                needed: 5,
                available: 2
            }
        ));
        // Huge 5-byte length.
        let e = err(b"\x01\xfe\xff\xff\xff\xffab\xff");
        assert_eq!(e.offset, 1006);
        // 5-byte length cut short by the end byte.
        let e = err(b"\x01\xfe\x01\x00\xff");
        assert_eq!(e.offset, 1002);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "zipmap field length",
                ..
            }
        ));
    }

    #[test]
    fn value_parts_past_end() {
        // No value length at all.
        let e = err(b"\x01\x01a\xff");
        assert_eq!(e.offset, 1003);
        assert!(e.to_string().contains("zipmap value length"), "{e}");
        // No free byte.
        let e = err(b"\x01\x01a\x01\xff");
        assert_eq!(e.offset, 1004);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "zipmap value free byte count",
                ..
            }
        ));
        // Value too long.
        let e = err(b"\x01\x01a\x03\x00bc\xff");
        assert_eq!(e.offset, 1005);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "zipmap value",
                needed: 3,
                available: 2
            }
        ));
        // Free space runs past the end.
        let e = err(b"\x01\x01a\x01\x05b##\xff");
        assert_eq!(e.offset, 1006);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "zipmap value free space",
                ..
            }
        ));
    }

    #[test]
    fn end_byte_as_value_length() {
        // An end marker where the value length should be, with more bytes after.
        let e = err(b"\x01\x01a\xff\x00\xff");
        assert_eq!(e.offset, 1003);
        assert!(matches!(
            e.kind,
            ErrorKind::Invalid {
                what: "zipmap value length",
                ..
            }
        ));
    }

    #[test]
    fn early_end_byte() {
        let e = err(b"\x01\x01a\x01\x00b\xff\x01\xff");
        assert_eq!(e.offset, 1006);
        assert!(e.to_string().contains("2 bytes before the end"), "{e}");
    }

    #[test]
    fn count_mismatch() {
        let mut d = build(&[(b"a", b"1", 0), (b"b", b"2", 0)]);
        d[0] = 3;
        let mut it = parse(&d, 1000).unwrap().iter();
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_ok());
        let e = it.next().unwrap().unwrap_err();
        assert_eq!(e.offset, 1000);
        assert!(
            e.to_string()
                .contains("zmlen says 3 pairs but the zipmap holds 2"),
            "{e}"
        );
        assert!(it.next().is_none());
        d[0] = 255;
        assert_eq!(err(&d).offset, 1000);
    }

    #[test]
    fn truncations_and_bit_flips_never_panic() {
        let big = vec![b'z'; 300];
        let d = build(&[
            (b"name", b"foo", 0),
            (&big, b"v", 3),
            (b"k", &big, 1),
            (b"", b"", 0),
        ]);
        assert_eq!(parse(&d, 0).unwrap().validate().unwrap(), 4);
        for n in 0..d.len() {
            let mut t = d[..n].to_vec();
            assert!(decode(&t).is_err());
            if let Some(l) = t.last_mut() {
                *l = 0xff;
            }
            let _ = decode(&t);
        }
        for i in 0..d.len() {
            for flip in [0x01u8, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF] {
                let mut m = d.clone();
                m[i] ^= flip;
                if let Ok(z) = parse(&m, 0) {
                    assert!(z.iter().count() <= m.len());
                }
            }
        }
    }
}
