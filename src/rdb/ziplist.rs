//! Ziplists: the compact list encoding of Redis 2.6 - 6.2 (`RDB_TYPE_*_ZIPLIST`
//! values and the nodes of `RDB_TYPE_LIST_QUICKLIST`), stored as one RDB string.
//!
//! Mirrors `ziplistValidateIntegrity` / `zipEntrySafe` in Redis' `src/ziplist.c`.
//!
//! ```text
//! <zlbytes u32LE> <zltail u32LE> <zllen u16LE> <entry> ... <entry> <0xFF>
//!   zlbytes  total size of the ziplist, header and end byte included
//!   zltail   offset of the last entry (of the end byte's position, 10, when empty)
//!   zllen    number of entries; 65535 means "count them"
//!
//! entry: <prevlen> <encoding> [<data>]
//!   prevlen  size of the previous entry (0 for the first):
//!            1 byte 0..=253, or 0xFE followed by u32LE (any value: Redis never
//!            shrinks a 5-byte prevlen back)
//!   encoding
//!     00pppppp                        string, length 0..=63
//!     01pppppp qqqqqqqq               string, 14-bit length, big endian
//!     10______ <u32 BE>               string, 32-bit length (Redis masks the low bits)
//!     11000000 <i16 LE>               integer
//!     11010000 <i32 LE>               integer
//!     11100000 <i64 LE>               integer
//!     11110000 <i24 LE>               integer, sign-extended
//!     11111110 <i8>                   integer
//!     1111xxxx (xxxx = 0001..=1101)   integer xxxx - 1 (0..=12), no data
//! ```
//!
//! Note the mix of byte orders: string lengths are big endian, integers and
//! the header little endian.

use crate::error::{Error, Result};
use crate::rdb::elem::Elem;

const HEADER: usize = 10;
const END: u8 = 0xFF;
const UNKNOWN_COUNT: u16 = u16::MAX;
/// First byte of a 5-byte prevlen.
const BIG_PREVLEN: u8 = 0xFE;

/// A ziplist whose header has been checked; entries are checked as they are
/// iterated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ziplist<'a> {
    data: &'a [u8],
    offset: u64,
    zltail: u32,
    zllen: u16,
}

fn u32_le(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..)?
        .first_chunk::<4>()
        .map(|b| u32::from_le_bytes(*b))
}

/// Checks the header of a ziplist. `offset` is the absolute file offset of
/// `data[0]`.
pub fn parse(data: &[u8], offset: u64) -> Result<Ziplist<'_>> {
    let min = HEADER + 1;
    if data.len() < min {
        return Err(Error::truncated(
            offset,
            "ziplist header",
            min as u64,
            data.len() as u64,
        ));
    }
    let at = |pos: usize| offset.saturating_add(pos as u64);
    let zlbytes = u32_le(data, 0).unwrap_or_default();
    if zlbytes as u64 != data.len() as u64 {
        return Err(Error::invalid(
            offset,
            "ziplist header",
            format!(
                "zlbytes says {zlbytes} bytes but the ziplist string is {} bytes",
                data.len()
            ),
        ));
    }
    let zltail = u32_le(data, 4).unwrap_or_default();
    if zltail as u64 >= data.len() as u64 {
        return Err(Error::invalid(
            at(4),
            "ziplist header",
            format!(
                "zltail {zltail} points past the end of the {} byte ziplist",
                data.len()
            ),
        ));
    }
    let zllen = data
        .get(8..)
        .and_then(|b| b.first_chunk::<2>())
        .map(|b| u16::from_le_bytes(*b))
        .unwrap_or_default();
    let last = data.len() - 1;
    if data.get(last) != Some(&END) {
        return Err(Error::invalid(
            at(last),
            "ziplist end marker",
            format!(
                "expected 0xff, found 0x{:02x}",
                data.get(last).copied().unwrap_or_default()
            ),
        ));
    }
    Ok(Ziplist {
        data,
        offset,
        zltail,
        zllen,
    })
}

impl<'a> Ziplist<'a> {
    /// The entry count from the header (65535 = unknown, count by iterating).
    pub fn count_hint(&self) -> u16 {
        self.zllen
    }

    /// The entries in order, each checked as it is reached.
    pub fn iter(&self) -> ZiplistIter<'a> {
        ZiplistIter {
            data: self.data,
            offset: self.offset,
            pos: HEADER,
            prev_len: 0,
            prev_pos: HEADER,
            count: 0,
            zllen: self.zllen,
            zltail: self.zltail,
            done: false,
        }
    }

    /// Walks and checks every entry; returns the number of entries.
    pub fn validate(&self) -> Result<usize> {
        let mut n = 0;
        for e in self.iter() {
            e?;
            n += 1;
        }
        Ok(n)
    }
}

/// Iterator over the entries of a [`Ziplist`]. Yields `Err` once on the first
/// problem, then `None` forever.
///
/// Besides each entry's own bounds and encoding, it checks what Redis' deep
/// sanitization checks: every prevlen equals the size of the entry before it,
/// the end byte comes exactly at the end, the count matches `zllen` (unless
/// 65535), and `zltail` points at the last entry. The last two are reported
/// after the final entry, in place of the `None` that would end iteration.
#[derive(Debug, Clone)]
pub struct ZiplistIter<'a> {
    data: &'a [u8],
    offset: u64,
    /// Position of the next entry.
    pos: usize,
    /// Total size of the previous entry (0 before the first).
    prev_len: usize,
    /// Position of the previous entry; `HEADER` before the first, which is
    /// what `zltail` holds for an empty ziplist.
    prev_pos: usize,
    count: usize,
    zllen: u16,
    zltail: u32,
    done: bool,
}

impl<'a> ZiplistIter<'a> {
    /// Absolute file offset of the next entry (or of the end byte).
    pub fn offset(&self) -> u64 {
        self.at(self.pos)
    }

    #[inline]
    fn at(&self, pos: usize) -> u64 {
        self.offset.saturating_add(pos as u64)
    }

    /// Position of the end byte; entries must lie entirely before it.
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

    #[inline]
    fn array<const N: usize>(&self, pos: usize, what: &'static str) -> Result<[u8; N]> {
        let s = self.bytes_at(pos, N, what)?;
        s.first_chunk::<N>()
            .copied()
            .ok_or_else(|| Error::truncated(self.at(pos), what, N as u64, s.len() as u64))
    }

    fn step(&mut self) -> Result<Option<Elem<'a>>> {
        let start = self.pos;
        // `pos` never passes the end byte, which parse() checked is 0xFF, so
        // this byte exists and, if it is the end byte, stops the walk.
        let first = *self
            .data
            .get(start)
            .ok_or_else(|| Error::truncated(self.at(start), "ziplist entry", 1, 0))?;

        if first == END {
            return self.finish(start).map(|()| None);
        }

        let (prevlen, prevlen_size) = if first == BIG_PREVLEN {
            let b = self.array::<4>(start + 1, "ziplist entry prevlen")?;
            (u32::from_le_bytes(b) as u64, 5)
        } else {
            (first as u64, 1)
        };
        if prevlen != self.prev_len as u64 {
            return Err(Error::invalid(
                self.at(start),
                "ziplist entry prevlen",
                format!(
                    "says the previous entry is {prevlen} bytes, but it is {}",
                    self.prev_len
                ),
            ));
        }

        let p = start + prevlen_size;
        let [enc] = self.array::<1>(p, "ziplist entry encoding")?;
        // (bytes after prevlen, not counting string data; value)
        let (header, elem): (usize, Elem<'a>) = match enc >> 6 {
            0 => {
                let len = (enc & 0x3f) as usize;
                (1, Elem::Bytes(self.bytes_at(p + 1, len, "ziplist string")?))
            }
            1 => {
                let [lo] = self.array::<1>(p + 1, "ziplist string length")?;
                let len = (((enc & 0x3f) as usize) << 8) | lo as usize;
                (2, Elem::Bytes(self.bytes_at(p + 2, len, "ziplist string")?))
            }
            2 => {
                // Redis' ZIP_ENTRY_ENCODING keeps only the top two bits of a
                // string encoding, so 0x81..=0xbf read as 0x80 there too.
                let len = u32::from_be_bytes(self.array::<4>(p + 1, "ziplist string length")?);
                (
                    5,
                    Elem::Bytes(self.bytes_at(p + 5, len as usize, "ziplist string")?),
                )
            }
            _ => {
                let d = p + 1;
                let what = "ziplist integer";
                // (data bytes, value)
                let (size, v) = match enc {
                    0xC0 => (2, i16::from_le_bytes(self.array::<2>(d, what)?) as i64),
                    0xD0 => (4, i32::from_le_bytes(self.array::<4>(d, what)?) as i64),
                    0xE0 => (8, i64::from_le_bytes(self.array::<8>(d, what)?)),
                    0xF0 => {
                        let [a, b, c] = self.array::<3>(d, what)?;
                        // Place the 24 bits high and shift back to sign-extend.
                        (3, (i32::from_le_bytes([0, a, b, c]) >> 8) as i64)
                    }
                    0xFE => {
                        let [a] = self.array::<1>(d, what)?;
                        (1, a as i8 as i64)
                    }
                    0xF1..=0xFD => (0, ((enc & 0x0f) - 1) as i64),
                    _ => {
                        return Err(Error::invalid(
                            self.at(p),
                            "ziplist entry encoding",
                            format!("unknown encoding byte 0x{enc:02x}"),
                        ))
                    }
                };
                (1 + size, Elem::Int(v))
            }
        };
        let data_len = match elem {
            Elem::Bytes(b) => b.len(),
            Elem::Int(_) => 0,
        };
        // All parts were bounds-checked against the end byte, so these sums
        // are at most data.len().
        let size = prevlen_size + header + data_len;
        self.prev_pos = start;
        self.prev_len = size;
        self.pos = start + size;
        self.count += 1;
        Ok(Some(elem))
    }

    /// Checks made on reaching an end byte at `pos`.
    fn finish(&self, pos: usize) -> Result<()> {
        let end = self.end();
        if pos != end {
            return Err(Error::invalid(
                self.at(pos),
                "ziplist entry",
                format!(
                    "found the end byte 0xff {} bytes before the end of the ziplist",
                    end - pos
                ),
            ));
        }
        if self.zllen != UNKNOWN_COUNT && self.count != self.zllen as usize {
            return Err(Error::invalid(
                self.at(8),
                "ziplist header",
                format!(
                    "zllen says {} entries but the ziplist holds {}",
                    self.zllen, self.count
                ),
            ));
        }
        if self.zltail as usize != self.prev_pos {
            return Err(Error::invalid(
                self.at(4),
                "ziplist header",
                format!(
                    "zltail is {} but the last entry starts at {}",
                    self.zltail, self.prev_pos
                ),
            ));
        }
        Ok(())
    }
}

impl<'a> Iterator for ZiplistIter<'a> {
    type Item = Result<Elem<'a>>;

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
        // Every entry takes at least 2 bytes (prevlen + encoding).
        let left = self.end().saturating_sub(self.pos);
        (0, Some(left / 2 + 1))
    }
}

impl std::iter::FusedIterator for ZiplistIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[derive(Debug, Clone)]
    enum V {
        S(Vec<u8>),
        I(i64),
    }

    fn s(b: &[u8]) -> V {
        V::S(b.to_vec())
    }

    /// Encodes entry content (encoding + data) the way Redis picks encodings.
    fn encode(v: &V) -> Vec<u8> {
        let mut out = Vec::new();
        match v {
            V::S(b) => {
                let n = b.len();
                if n <= 0x3f {
                    out.push(n as u8);
                } else if n <= 0x3fff {
                    out.push(0x40 | (n >> 8) as u8);
                    out.push(n as u8);
                } else {
                    out.push(0x80);
                    out.extend_from_slice(&(n as u32).to_be_bytes());
                }
                out.extend_from_slice(b);
            }
            &V::I(i) => {
                if (0..=12).contains(&i) {
                    out.push(0xF1 + i as u8);
                } else if i8::try_from(i).is_ok() {
                    out.push(0xFE);
                    out.push(i as i8 as u8);
                } else if i16::try_from(i).is_ok() {
                    out.push(0xC0);
                    out.extend_from_slice(&(i as i16).to_le_bytes());
                } else if (-(1 << 23)..(1 << 23)).contains(&i) {
                    out.push(0xF0);
                    out.extend_from_slice(&(i as i32).to_le_bytes()[..3]);
                } else if i32::try_from(i).is_ok() {
                    out.push(0xD0);
                    out.extend_from_slice(&(i as i32).to_le_bytes());
                } else {
                    out.push(0xE0);
                    out.extend_from_slice(&i.to_le_bytes());
                }
            }
        }
        out
    }

    fn prevlen(n: usize, force_big: bool) -> Vec<u8> {
        if n < 254 && !force_big {
            vec![n as u8]
        } else {
            let mut v = vec![0xFE];
            v.extend_from_slice(&(n as u32).to_le_bytes());
            v
        }
    }

    /// Builds a ziplist; `big_prevlen` forces 5-byte prevlens everywhere.
    fn build_with(vals: &[V], big_prevlen: bool) -> Vec<u8> {
        let mut body = Vec::new();
        let mut prev = 0;
        let mut tail = HEADER;
        for v in vals {
            tail = HEADER + body.len();
            let mut e = prevlen(prev, big_prevlen);
            e.extend(encode(v));
            prev = e.len();
            body.extend(e);
        }
        let total = HEADER + body.len() + 1;
        let mut out = Vec::new();
        out.extend_from_slice(&(total as u32).to_le_bytes());
        out.extend_from_slice(&(tail as u32).to_le_bytes());
        out.extend_from_slice(&(vals.len().min(65535) as u16).to_le_bytes());
        out.extend(body);
        out.push(END);
        out
    }

    fn build(vals: &[V]) -> Vec<u8> {
        build_with(vals, false)
    }

    fn decode(d: &[u8]) -> Result<Vec<Elem<'_>>> {
        parse(d, 0)?.iter().collect()
    }

    fn check_round_trip(vals: &[V]) {
        for big in [false, true] {
            let d = build_with(vals, big);
            let got = decode(&d).unwrap_or_else(|e| panic!("{e} in {d:02x?}"));
            assert_eq!(got.len(), vals.len());
            for (g, v) in got.iter().zip(vals) {
                match v {
                    V::S(b) => assert_eq!(*g, Elem::Bytes(b)),
                    V::I(i) => assert_eq!(*g, Elem::Int(*i)),
                }
            }
            assert_eq!(parse(&d, 0).unwrap().validate().unwrap(), vals.len());
        }
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
        // The ziplist holding "2" and "5" from the comment in ziplist.c.
        let d = [
            0x0f, 0, 0, 0, 0x0c, 0, 0, 0, 0x02, 0, 0x00, 0xf3, 0x02, 0xf6, 0xff,
        ];
        let z = parse(&d, 0).unwrap();
        assert_eq!(z.count_hint(), 2);
        assert_eq!(decode(&d).unwrap(), [Elem::Int(2), Elem::Int(5)]);
        // Then "Hello World" appended.
        let mut d = vec![
            0x1c, 0, 0, 0, 0x0e, 0, 0, 0, 0x03, 0, 0x00, 0xf3, 0x02, 0xf6, 0x02, 0x0b,
        ];
        d.extend_from_slice(b"Hello World");
        d.push(0xff);
        assert_eq!(d.len(), 0x1c);
        assert_eq!(
            decode(&d).unwrap(),
            [Elem::Int(2), Elem::Int(5), Elem::Bytes(b"Hello World")]
        );
    }

    #[test]
    fn empty_ziplist() {
        let d = [11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xff];
        assert_eq!(parse(&d, 0).unwrap().validate().unwrap(), 0);
        assert_eq!(build(&[]), d);
    }

    #[test]
    fn integers_of_every_width() {
        let mut vals = Vec::new();
        for i in [
            0i64,
            1,
            12,
            13,
            -1,
            127,
            -128,
            128,
            -129,
            32767,
            -32768,
            32768,
            -32769,
            (1 << 23) - 1,
            -(1 << 23),
            1 << 23,
            -(1 << 23) - 1,
            i32::MAX as i64,
            i32::MIN as i64,
            i32::MAX as i64 + 1,
            i32::MIN as i64 - 1,
            i64::MAX,
            i64::MIN,
        ] {
            vals.push(V::I(i));
        }
        check_round_trip(&vals);
    }

    #[test]
    fn every_immediate() {
        for x in 0..=12u8 {
            let d = [13, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0x00, 0xF1 + x, 0xff];
            assert_eq!(decode(&d).unwrap(), [Elem::Int(x as i64)]);
        }
    }

    #[test]
    fn exact_integer_bytes() {
        // int24 -2 = fe ff ff; int16 0x1234; int8 -5.
        let entries: &[&[u8]] = &[
            &[0xF0, 0xfe, 0xff, 0xff],
            &[0xC0, 0x34, 0x12],
            &[0xFE, 0xfb],
        ];
        let mut body = Vec::new();
        let mut prev = 0u8;
        let mut tail = 0;
        for e in entries {
            tail = HEADER + body.len();
            body.push(prev);
            body.extend_from_slice(e);
            prev = e.len() as u8 + 1;
        }
        let mut d = ((HEADER + body.len() + 1) as u32).to_le_bytes().to_vec();
        d.extend_from_slice(&(tail as u32).to_le_bytes());
        d.extend_from_slice(&3u16.to_le_bytes());
        d.extend(body);
        d.push(0xff);
        assert_eq!(
            decode(&d).unwrap(),
            [Elem::Int(-2), Elem::Int(0x1234), Elem::Int(-5)]
        );
    }

    #[test]
    fn strings_of_every_width() {
        let vals: Vec<V> = [0usize, 1, 63, 64, 253, 254, 16383, 16384, 70000]
            .iter()
            .map(|&n| V::S((0..n).map(|i| (i * 7) as u8).collect()))
            .collect();
        check_round_trip(&vals);
    }

    #[test]
    fn string_length_byte_order() {
        // 14-bit length 0x0102 is 0x41 0x02 (big endian).
        let payload = vec![b'x'; 0x102];
        let d = build(&[V::S(payload.clone())]);
        assert_eq!(&d[10..13], &[0, 0x41, 0x02]);
        assert_eq!(decode(&d).unwrap(), [Elem::Bytes(&payload)]);
        // 32-bit length is big endian.
        let payload = vec![b'y'; 0x1_0203];
        let d = build(&[V::S(payload.clone())]);
        assert_eq!(&d[10..16], &[0, 0x80, 0x00, 0x01, 0x02, 0x03]);
        assert_eq!(decode(&d).unwrap(), [Elem::Bytes(&payload)]);
    }

    #[test]
    fn thirty_two_bit_string_encoding_ignores_low_bits_like_redis() {
        let mut d = build(&[V::S(vec![b'z'; 20_000])]);
        d[11] = 0x85;
        assert_eq!(decode(&d).unwrap().len(), 1);
    }

    #[test]
    fn mixed_content_and_big_prevlens() {
        let vals = vec![
            s(b"a"),
            V::S(vec![b'b'; 300]), // next prevlen needs 5 bytes
            V::I(42),
            s(b""),
            V::I(-7),
            V::S(vec![b'c'; 253]),
            V::I(1 << 40),
        ];
        check_round_trip(&vals);
    }

    #[test]
    fn unknown_count_accepts_any_number() {
        let mut d = build(&[V::I(1), V::I(2), V::I(3)]);
        d[8] = 0xff;
        d[9] = 0xff;
        let z = parse(&d, 0).unwrap();
        assert_eq!(z.count_hint(), 65535);
        assert_eq!(z.validate().unwrap(), 3);
    }

    #[test]
    fn ends_with_none_forever() {
        let d = build(&[V::I(1)]);
        let mut it = parse(&d, 0).unwrap().iter();
        assert_eq!(it.offset(), 10);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(it.offset(), 12);
        assert!(it.next().is_none());
        assert!(it.next().is_none());
    }

    #[test]
    fn truncated_header() {
        for n in 0..11 {
            let e = parse(&[11, 0, 0, 0, 10, 0, 0, 0, 0, 0, 0xff][..n], 1000).unwrap_err();
            assert_eq!(e.offset, 1000);
            assert!(matches!(
                e.kind,
                ErrorKind::Truncated {
                    what: "ziplist header",
                    needed: 11,
                    ..
                }
            ));
        }
    }

    #[test]
    fn wrong_total_bytes() {
        let mut d = build(&[V::I(1)]);
        d[0] += 1;
        let e = err(&d);
        assert_eq!(e.offset, 1000);
        assert!(e.to_string().contains("zlbytes says 14"), "{e}");
    }

    #[test]
    fn tail_offset_past_end() {
        let mut d = build(&[V::I(1)]);
        d[4] = d.len() as u8;
        let e = err(&d);
        assert_eq!(e.offset, 1004);
    }

    #[test]
    fn missing_end_byte() {
        let mut d = build(&[V::I(1)]);
        *d.last_mut().unwrap() = 0xfe;
        let e = err(&d);
        assert_eq!(e.offset, 1000 + d.len() as u64 - 1);
        assert!(matches!(
            e.kind,
            ErrorKind::Invalid {
                what: "ziplist end marker",
                ..
            }
        ));
    }

    #[test]
    fn string_running_past_end() {
        let mut d = build(&[s(b"abc"), s(b"defg")]);
        // Second entry at 15: prevlen 5, length byte 4 -> claim 5 (one too many).
        assert_eq!(&d[15..17], &[5, 4]);
        d[16] = 5;
        let e = err(&d);
        assert_eq!(e.offset, 1017);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "ziplist string",
                needed: 5,
                available: 4
            }
        ));
        // A 32-bit length of 4 GB.
        let mut d = build(&[V::S(vec![b'q'; 20_000])]);
        d[12..16].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        let e = err(&d);
        assert_eq!(e.offset, 1016);
    }

    #[test]
    fn integer_running_past_end() {
        // An int64 encoding with only 3 data bytes before the end byte.
        let d = [16, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0xE0, 1, 2, 3, 0xff];
        let e = err(&d);
        assert_eq!(e.offset, 1012);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "ziplist integer",
                needed: 8,
                available: 3
            }
        ));
    }

    #[test]
    fn big_prevlen_running_past_end() {
        let d = [14, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0xFE, 0, 0, 0xff];
        let e = err(&d);
        assert_eq!(e.offset, 1011);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "ziplist entry prevlen",
                ..
            }
        ));
    }

    #[test]
    fn encoding_byte_missing() {
        // prevlen byte then the end byte where the encoding should be.
        let d = [12, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0xff];
        let e = err(&d);
        assert_eq!(e.offset, 1011);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "ziplist entry encoding",
                ..
            }
        ));
    }

    #[test]
    fn bad_prevlen() {
        // First entry must have prevlen 0.
        let mut d = build(&[V::I(1), V::I(2)]);
        d[10] = 1;
        let e = err(&d);
        assert_eq!(e.offset, 1010);
        assert!(matches!(
            e.kind,
            ErrorKind::Invalid {
                what: "ziplist entry prevlen",
                ..
            }
        ));
        // Second entry's prevlen off by one.
        let mut d = build(&[V::I(1), V::I(2)]);
        d[12] = 3;
        let e = err(&d);
        assert_eq!(e.offset, 1012);
        assert!(
            e.to_string()
                .contains("previous entry is 3 bytes, but it is 2"),
            "{e}"
        );
        // Wrong 5-byte prevlen.
        let mut d = build_with(&[V::I(1), V::I(2)], true);
        d[16] = 7;
        let e = err(&d);
        assert_eq!(e.offset, 1016);
    }

    #[test]
    fn unknown_encodings() {
        for enc in [0xC1u8, 0xC8, 0xD1, 0xDF, 0xE1, 0xEF, 0xFF] {
            let d = [13, 0, 0, 0, 10, 0, 0, 0, 1, 0, 0, enc, 0xff];
            let e = err(&d);
            assert_eq!(e.offset, 1011, "enc {enc:02x}");
            assert!(
                matches!(
                    e.kind,
                    ErrorKind::Invalid {
                        what: "ziplist entry encoding",
                        ..
                    }
                ),
                "enc {enc:02x}: {e}"
            );
        }
    }

    #[test]
    fn early_end_byte() {
        let mut d = build(&[V::I(1), V::I(2)]);
        d[12] = 0xff; // start of the second entry
        let e = err(&d);
        assert_eq!(e.offset, 1012);
        assert!(e.to_string().contains("2 bytes before the end"), "{e}");
    }

    #[test]
    fn count_mismatch() {
        let mut d = build(&[V::I(1), V::I(2)]);
        d[8] = 3;
        let mut it = parse(&d, 1000).unwrap().iter();
        assert!(it.next().unwrap().is_ok());
        assert!(it.next().unwrap().is_ok());
        let e = it.next().unwrap().unwrap_err();
        assert_eq!(e.offset, 1008);
        assert!(
            e.to_string()
                .contains("zllen says 3 entries but the ziplist holds 2"),
            "{e}"
        );
        assert!(it.next().is_none());
        d[8] = 1;
        assert_eq!(err(&d).offset, 1008);
    }

    #[test]
    fn wrong_tail_offset() {
        let mut d = build(&[V::I(1), V::I(2)]);
        d[4] = 10;
        let e = err(&d);
        assert_eq!(e.offset, 1004);
        assert!(
            e.to_string()
                .contains("zltail is 10 but the last entry starts at 12"),
            "{e}"
        );
        // Empty ziplist: tail must be 10.
        let d = [11, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0xff];
        assert_eq!(err(&d).offset, 1004);
    }

    #[test]
    fn truncations_and_bit_flips_never_panic() {
        let d = build(&[
            s(b"hello"),
            V::I(-70000),
            V::S(vec![b'x'; 300]),
            V::I(12),
            V::I(i64::MIN),
            V::I(-5),
            V::I(300),
            V::S(vec![b'y'; 70]),
        ]);
        assert!(parse(&d, 0).unwrap().validate().is_ok());
        for n in 0..d.len() {
            // Shortened copies, both as-is and with the header patched to match.
            let mut t = d[..n].to_vec();
            assert!(decode(&t).is_err());
            if n >= 4 {
                t[..4].copy_from_slice(&(n as u32).to_le_bytes());
                if let Some(l) = t.last_mut() {
                    *l = 0xff;
                }
                let _ = decode(&t);
            }
        }
        for i in 0..d.len() {
            for flip in [0x01u8, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF] {
                let mut m = d.clone();
                m[i] ^= flip;
                if let Ok(z) = parse(&m, 0) {
                    let n = z.iter().count();
                    assert!(n <= m.len());
                }
            }
        }
    }
}
