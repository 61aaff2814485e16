//! Listpacks: the compact list encoding of Redis 7+ (`RDB_TYPE_*_LISTPACK`,
//! quicklist-2 nodes, stream nodes), stored as one RDB string.
//!
//! Mirrors `lpValidateIntegrity` / `lpValidateNext` in Redis' `src/listpack.c`.
//!
//! ```text
//! <total bytes u32LE> <num elements u16LE> <entry> ... <entry> <0xFF>
//!   num elements: 65535 means "count them"
//!
//! entry: <encoding+data> <backlen>
//!   0xxxxxxx                         7-bit unsigned integer
//!   10xxxxxx <data>                  string, length 0..=63
//!   110xxxxx yyyyyyyy                13-bit signed integer (x high bits)
//!   1110xxxx yyyyyyyy <data>         string, 12-bit length (x high bits)
//!   11110000 <u32 LE> <data>         string, 32-bit length
//!   11110001 <i16 LE>                integer
//!   11110010 <i24 LE>                integer
//!   11110011 <i32 LE>                integer
//!   11110100 <i64 LE>                integer
//!   11110101 ..= 11111110            unused
//!   11111111                         end of listpack
//!
//! backlen: size of <encoding+data>, 1..=5 bytes, 7 bits per byte, written so
//! it can be read right to left: the last byte holds the low 7 bits, every
//! byte but the first has its high bit set. Its byte count is fixed by the
//! size (lpEncodeBacklen): <=127: 1, <16383: 2, <2097151: 3, <268435455: 4, else 5.
//! ```
//!
//! Unlike ziplists, every multi-byte field is little endian.

use crate::error::{Error, Result};
use crate::rdb::elem::Elem;

const HEADER: usize = 6;
const END: u8 = 0xFF;
const UNKNOWN_COUNT: u16 = u16::MAX;

/// A listpack whose header has been checked; entries are checked as they
/// are iterated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listpack<'a> {
    data: &'a [u8],
    offset: u64,
    num_elements: u16,
}

/// Checks the header of a listpack. `offset` is the absolute file offset of
/// `data[0]`.
pub fn parse(data: &[u8], offset: u64) -> Result<Listpack<'_>> {
    let min = HEADER + 1;
    if data.len() < min {
        return Err(Error::truncated(
            offset,
            "listpack header",
            min as u64,
            data.len() as u64,
        ));
    }
    let total = data
        .first_chunk::<4>()
        .map(|b| u32::from_le_bytes(*b))
        .unwrap_or_default();
    if total as u64 != data.len() as u64 {
        return Err(Error::invalid(
            offset,
            "listpack header",
            format!(
                "total bytes says {total} but the listpack string is {} bytes",
                data.len()
            ),
        ));
    }
    let num_elements = data
        .get(4..)
        .and_then(|b| b.first_chunk::<2>())
        .map(|b| u16::from_le_bytes(*b))
        .unwrap_or_default();
    let last = data.len() - 1;
    if data.get(last) != Some(&END) {
        return Err(Error::invalid(
            offset.saturating_add(last as u64),
            "listpack end marker",
            format!(
                "expected 0xff, found 0x{:02x}",
                data.get(last).copied().unwrap_or_default()
            ),
        ));
    }
    Ok(Listpack {
        data,
        offset,
        num_elements,
    })
}

impl<'a> Listpack<'a> {
    /// The element count from the header (65535 = unknown, count by iterating).
    pub fn count_hint(&self) -> u16 {
        self.num_elements
    }

    /// The entries in order, each checked as it is reached.
    pub fn iter(&self) -> ListpackIter<'a> {
        ListpackIter {
            data: self.data,
            offset: self.offset,
            pos: HEADER,
            count: 0,
            num_elements: self.num_elements,
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

/// Number of backlen bytes Redis writes for an entry of `size` bytes
/// (`lpEncodeBacklen`; note the strict `<` bounds, so e.g. 16383 takes 3).
#[inline]
pub fn backlen_size(size: u64) -> usize {
    if size <= 127 {
        1
    } else if size < 16383 {
        2
    } else if size < 2_097_151 {
        3
    } else if size < 268_435_455 {
        4
    } else {
        5
    }
}

/// Reads a backlen right to left as `lpDecodeBacklen` does, using only the
/// bytes of `bl`; `None` if it does not terminate within them.
#[inline]
fn decode_backlen(bl: &[u8]) -> Option<u64> {
    let mut val = 0u64;
    for (i, &b) in bl.iter().rev().enumerate() {
        val |= ((b & 0x7f) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return Some(val);
        }
    }
    None
}

/// Iterator over the entries of a [`Listpack`]. Yields `Err` once on the
/// first problem, then `None` forever.
///
/// Checks what Redis' deep sanitization checks: each entry's encoding, that
/// it and its backlen lie before the end byte, that the backlen decodes to
/// the entry's size, that the end byte comes exactly at the end, and (after
/// the last entry, in place of the final `None`) that the count matches the
/// header unless it is 65535.
#[derive(Debug, Clone)]
pub struct ListpackIter<'a> {
    data: &'a [u8],
    offset: u64,
    /// Position of the next entry.
    pos: usize,
    count: usize,
    num_elements: u16,
    done: bool,
}

impl<'a> ListpackIter<'a> {
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
    fn bytes_at(&self, pos: usize, n: u64, what: &'static str) -> Result<&'a [u8]> {
        let end = self.end();
        usize::try_from(n)
            .ok()
            .and_then(|n| pos.checked_add(n))
            .filter(|&stop| stop <= end)
            .and_then(|stop| self.data.get(pos..stop))
            .ok_or_else(|| Error::truncated(self.at(pos), what, n, end.saturating_sub(pos) as u64))
    }

    #[inline]
    fn array<const N: usize>(&self, pos: usize, what: &'static str) -> Result<[u8; N]> {
        let s = self.bytes_at(pos, N as u64, what)?;
        s.first_chunk::<N>()
            .copied()
            .ok_or_else(|| Error::truncated(self.at(pos), what, N as u64, s.len() as u64))
    }

    fn step(&mut self) -> Result<Option<Elem<'a>>> {
        let start = self.pos;
        // `pos` never passes the end byte, which parse() checked is 0xFF, so
        // this byte exists and, if it is the end byte, stops the walk.
        let b = *self
            .data
            .get(start)
            .ok_or_else(|| Error::truncated(self.at(start), "listpack entry", 1, 0))?;
        if b == END {
            return self.finish(start).map(|()| None);
        }

        let d = start + 1;
        let int = "listpack integer";
        let str_len = "listpack string length";
        // (size of encoding + data, value)
        let (size, elem): (u64, Elem<'a>) = if b & 0x80 == 0 {
            (1, Elem::Int(b as i64))
        } else if b & 0xC0 == 0x80 {
            let len = (b & 0x3f) as u64;
            (
                1 + len,
                Elem::Bytes(self.bytes_at(d, len, "listpack string")?),
            )
        } else if b & 0xE0 == 0xC0 {
            let [lo] = self.array::<1>(d, int)?;
            let u = (((b & 0x1f) as i64) << 8) | lo as i64;
            // 13-bit two's complement.
            (2, Elem::Int(if u >= 1 << 12 { u - (1 << 13) } else { u }))
        } else if b & 0xF0 == 0xE0 {
            let [lo] = self.array::<1>(d, str_len)?;
            let len = (((b & 0x0f) as u64) << 8) | lo as u64;
            (
                2 + len,
                Elem::Bytes(self.bytes_at(start + 2, len, "listpack string")?),
            )
        } else {
            match b {
                0xF0 => {
                    let len = u32::from_le_bytes(self.array::<4>(d, str_len)?) as u64;
                    (
                        5 + len,
                        Elem::Bytes(self.bytes_at(start + 5, len, "listpack string")?),
                    )
                }
                0xF1 => (
                    3,
                    Elem::Int(i16::from_le_bytes(self.array::<2>(d, int)?) as i64),
                ),
                0xF2 => {
                    let [x, y, z] = self.array::<3>(d, int)?;
                    // Place the 24 bits high and shift back to sign-extend.
                    (4, Elem::Int((i32::from_le_bytes([0, x, y, z]) >> 8) as i64))
                }
                0xF3 => (
                    5,
                    Elem::Int(i32::from_le_bytes(self.array::<4>(d, int)?) as i64),
                ),
                0xF4 => (9, Elem::Int(i64::from_le_bytes(self.array::<8>(d, int)?))),
                _ => {
                    return Err(Error::invalid(
                        self.at(start),
                        "listpack entry encoding",
                        format!("unknown encoding byte 0x{b:02x}"),
                    ))
                }
            }
        };

        // The entry is in bounds, so `start + size` fits; the backlen follows.
        let bl_pos = start.saturating_add(size as usize);
        let bl_size = backlen_size(size);
        let bl = self.bytes_at(bl_pos, bl_size as u64, "listpack entry backlen")?;
        match decode_backlen(bl) {
            Some(v) if v == size => {}
            decoded => {
                let found = match decoded {
                    Some(v) => format!("{v}"),
                    None => "an unterminated value".to_string(),
                };
                return Err(Error::invalid(
                    self.at(bl_pos),
                    "listpack entry backlen",
                    format!(
                        "expected {size} in {bl_size} byte(s) ({:02x?}), found {found}",
                        encode_backlen(size).as_slice()
                    ),
                ));
            }
        }
        self.pos = bl_pos + bl_size;
        self.count += 1;
        Ok(Some(elem))
    }

    /// Checks made on reaching an end byte at `pos`.
    fn finish(&self, pos: usize) -> Result<()> {
        let end = self.end();
        if pos != end {
            return Err(Error::invalid(
                self.at(pos),
                "listpack entry",
                format!(
                    "found the end byte 0xff {} bytes before the end of the listpack",
                    end - pos
                ),
            ));
        }
        if self.num_elements != UNKNOWN_COUNT && self.count != self.num_elements as usize {
            return Err(Error::invalid(
                self.at(4),
                "listpack header",
                format!(
                    "num elements says {} but the listpack holds {}",
                    self.num_elements, self.count
                ),
            ));
        }
        Ok(())
    }
}

/// The backlen bytes Redis writes for an entry of `size` bytes, in file
/// order (used in error messages and tests).
pub fn encode_backlen(size: u64) -> Vec<u8> {
    let n = backlen_size(size);
    (0..n)
        .map(|i| {
            // Most significant group first; all but the first byte flagged.
            let group = ((size >> (7 * (n - 1 - i))) & 0x7f) as u8;
            if i == 0 {
                group
            } else {
                group | 0x80
            }
        })
        .collect()
}

impl<'a> Iterator for ListpackIter<'a> {
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
        // Every entry takes at least 2 bytes (encoding + backlen).
        let left = self.end().saturating_sub(self.pos);
        (0, Some(left / 2 + 1))
    }
}

impl std::iter::FusedIterator for ListpackIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[derive(Debug, Clone)]
    enum V {
        S(Vec<u8>),
        I(i64),
    }

    /// Encodes an entry (encoding + data, no backlen) the way Redis picks
    /// encodings (lpEncodeGetType / lpEncodeString).
    fn encode(v: &V) -> Vec<u8> {
        let mut out = Vec::new();
        match v {
            V::S(b) => {
                let n = b.len();
                if n < 64 {
                    out.push(0x80 | n as u8);
                } else if n < 4096 {
                    out.push(0xE0 | (n >> 8) as u8);
                    out.push(n as u8);
                } else {
                    out.push(0xF0);
                    out.extend_from_slice(&(n as u32).to_le_bytes());
                }
                out.extend_from_slice(b);
            }
            &V::I(i) => {
                if (0..=127).contains(&i) {
                    out.push(i as u8);
                } else if (-4096..=4095).contains(&i) {
                    let u = (i as u64) & 0x1fff;
                    out.push(0xC0 | (u >> 8) as u8);
                    out.push(u as u8);
                } else if i16::try_from(i).is_ok() {
                    out.push(0xF1);
                    out.extend_from_slice(&(i as i16).to_le_bytes());
                } else if (-(1 << 23)..(1 << 23)).contains(&i) {
                    out.push(0xF2);
                    out.extend_from_slice(&(i as i32).to_le_bytes()[..3]);
                } else if i32::try_from(i).is_ok() {
                    out.push(0xF3);
                    out.extend_from_slice(&(i as i32).to_le_bytes());
                } else {
                    out.push(0xF4);
                    out.extend_from_slice(&i.to_le_bytes());
                }
            }
        }
        out
    }

    fn with_backlen(mut e: Vec<u8>) -> Vec<u8> {
        let bl = encode_backlen(e.len() as u64);
        e.extend(bl);
        e
    }

    fn build_raw(entries: &[Vec<u8>], count: u16) -> Vec<u8> {
        let body: Vec<u8> = entries.concat();
        let total = HEADER + body.len() + 1;
        let mut out = (total as u32).to_le_bytes().to_vec();
        out.extend_from_slice(&count.to_le_bytes());
        out.extend(body);
        out.push(END);
        out
    }

    fn build(vals: &[V]) -> Vec<u8> {
        let entries: Vec<Vec<u8>> = vals.iter().map(|v| with_backlen(encode(v))).collect();
        build_raw(&entries, vals.len().min(65535) as u16)
    }

    fn decode(d: &[u8]) -> Result<Vec<Elem<'_>>> {
        parse(d, 0)?.iter().collect()
    }

    fn check_round_trip(vals: &[V]) {
        let d = build(vals);
        let got = decode(&d).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(got.len(), vals.len());
        for (g, v) in got.iter().zip(vals) {
            match v {
                V::S(b) => assert_eq!(*g, Elem::Bytes(b)),
                V::I(i) => assert_eq!(*g, Elem::Int(*i)),
            }
        }
        assert_eq!(parse(&d, 0).unwrap().validate().unwrap(), vals.len());
    }

    fn err(d: &[u8]) -> Error {
        match parse(d, 1000) {
            Err(e) => e,
            Ok(lp) => {
                let mut it = lp.iter();
                let e = it
                    .by_ref()
                    .find_map(|r| r.err())
                    .expect("expected an error");
                assert!(it.next().is_none(), "iterator must stop after an error");
                assert_eq!(lp.validate().unwrap_err(), e);
                e
            }
        }
    }

    #[test]
    fn backlen_encoding_matches_redis() {
        assert_eq!(encode_backlen(1), [1]);
        assert_eq!(encode_backlen(127), [127]);
        assert_eq!(encode_backlen(128), [1, 0x80]);
        assert_eq!(encode_backlen(16382), [127, 0xFE]);
        // 16383 takes 3 bytes because of lpEncodeBacklen's strict bound.
        assert_eq!(encode_backlen(16383), [0, 0xFF, 0xFF]);
        assert_eq!(encode_backlen(2_097_151), [0, 0xFF, 0xFF, 0xFF]);
        assert_eq!(encode_backlen(268_435_455), [0, 0xFF, 0xFF, 0xFF, 0xFF]);
        assert_eq!(
            encode_backlen(u32::MAX as u64 + 5),
            [0x10, 0x80, 0x80, 0x80, 0x84]
        );
        for size in [
            1u64,
            127,
            128,
            500,
            16382,
            16383,
            16384,
            2_097_150,
            2_097_151,
            1 << 28,
            1 << 32,
        ] {
            let b = encode_backlen(size);
            assert_eq!(b.len(), backlen_size(size));
            assert_eq!(decode_backlen(&b), Some(size), "size {size}");
        }
    }

    #[test]
    fn integers_of_every_width() {
        let vals: Vec<V> = [
            0i64,
            1,
            127,
            128,
            -1,
            -4096,
            4095,
            -4097,
            4096,
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
        ]
        .iter()
        .map(|&i| V::I(i))
        .collect();
        check_round_trip(&vals);
    }

    #[test]
    fn exact_integer_bytes() {
        let entries = vec![
            vec![0x00, 1],             // 0
            vec![0x7f, 1],             // 127
            vec![0xC0, 0x80, 2],       // 128 as 13-bit
            vec![0xDF, 0xFF, 2],       // -1 as 13-bit
            vec![0xD0, 0x00, 2],       // -4096 as 13-bit
            vec![0xCF, 0xFF, 2],       // 4095 as 13-bit
            vec![0xF1, 0x00, 0x80, 3], // -32768
            vec![0xF2, 0xff, 0xff, 0x7f, 4],
            vec![0xF2, 0x00, 0x00, 0x80, 4],
            vec![0xF3, 0x00, 0x00, 0x00, 0x80, 5],
            [vec![0xF4], i64::MIN.to_le_bytes().to_vec(), vec![9]].concat(),
        ];
        let d = build_raw(&entries, entries.len() as u16);
        let want = [
            0,
            127,
            128,
            -1,
            -4096,
            4095,
            -32768,
            (1 << 23) - 1,
            -(1 << 23),
            i32::MIN as i64,
            i64::MIN,
        ];
        let got = decode(&d).unwrap();
        assert_eq!(got, want.iter().map(|&i| Elem::Int(i)).collect::<Vec<_>>());
    }

    #[test]
    fn strings_of_every_width() {
        let vals: Vec<V> = [
            0usize, 1, 63, 64, 122, 123, 124, 125, 126, 127, 4095, 4096, 16377, 16378, 16379,
            70000, 2_097_145, 2_097_146,
        ]
        .iter()
        .map(|&n| V::S((0..n).map(|i| (i * 13) as u8).collect()))
        .collect();
        check_round_trip(&vals);
    }

    #[test]
    fn exact_string_bytes() {
        // "" as 6-bit, "abc" as 6-bit, 64 bytes as 12-bit: 0xE0 0x40, 4096 as 32-bit.
        let d = build(&[
            V::S(vec![]),
            V::S(b"abc".to_vec()),
            V::S(vec![b'm'; 64]),
            V::S(vec![b'n'; 4096]),
        ]);
        assert_eq!(&d[6..8], &[0x80, 1]);
        assert_eq!(&d[8..13], &[0x83, b'a', b'b', b'c', 4]);
        assert_eq!(&d[13..15], &[0xE0, 0x40]);
        assert_eq!(d[15 + 64], 66); // backlen of the 66-byte entry
        let p = 15 + 65;
        assert_eq!(&d[p..p + 5], &[0xF0, 0x00, 0x10, 0x00, 0x00]);
        assert_eq!(decode(&d).unwrap().len(), 4);
    }

    #[test]
    fn non_canonical_encodings_are_read() {
        // Redis never writes these, but they are valid listpack encodings.
        let entries = vec![
            vec![0xE0, 0x02, b'h', b'i', 4],       // 12-bit string of 2
            vec![0xF0, 1, 0, 0, 0, b'x', 6],       // 32-bit string of 1
            vec![0xF4, 5, 0, 0, 0, 0, 0, 0, 0, 9], // int64 5
        ];
        let d = build_raw(&entries, 3);
        assert_eq!(
            decode(&d).unwrap(),
            [Elem::Bytes(b"hi"), Elem::Bytes(b"x"), Elem::Int(5)]
        );
    }

    #[test]
    fn empty_listpack() {
        let d = [7, 0, 0, 0, 0, 0, 0xff];
        assert_eq!(parse(&d, 0).unwrap().validate().unwrap(), 0);
        assert_eq!(build(&[]), d);
    }

    #[test]
    fn unknown_count() {
        let mut d = build(&[V::I(1), V::I(2)]);
        d[4] = 0xff;
        d[5] = 0xff;
        let lp = parse(&d, 0).unwrap();
        assert_eq!(lp.count_hint(), 65535);
        assert_eq!(lp.validate().unwrap(), 2);
    }

    #[test]
    fn iterator_offsets() {
        let d = build(&[V::I(1), V::S(b"abc".to_vec())]);
        let mut it = parse(&d, 500).unwrap().iter();
        assert_eq!(it.offset(), 506);
        it.next().unwrap().unwrap();
        assert_eq!(it.offset(), 508);
        it.next().unwrap().unwrap();
        assert_eq!(it.offset(), 513);
        assert!(it.next().is_none());
        assert!(it.next().is_none());
    }

    #[test]
    fn truncated_header() {
        for n in 0..7 {
            let e = parse(&[7, 0, 0, 0, 0, 0, 0xff][..n], 1000).unwrap_err();
            assert_eq!(e.offset, 1000);
            assert!(matches!(
                e.kind,
                ErrorKind::Truncated { what: "listpack header", needed: 7, available } if available == n as u64
            ));
        }
    }

    #[test]
    fn wrong_total_bytes() {
        let mut d = build(&[V::I(1)]);
        d[0] = 99;
        let e = err(&d);
        assert_eq!(e.offset, 1000);
        assert!(e.to_string().contains("says 99"), "{e}");
    }

    #[test]
    fn missing_end_byte() {
        let mut d = build(&[V::I(1)]);
        *d.last_mut().unwrap() = 0;
        let e = err(&d);
        assert_eq!(e.offset, 1000 + 8);
        assert!(matches!(
            e.kind,
            ErrorKind::Invalid {
                what: "listpack end marker",
                ..
            }
        ));
    }

    #[test]
    fn entry_past_end() {
        // A 6-bit string claiming 5 bytes with 3 present.
        let d = build_raw(&[vec![0x85, b'a', b'b', b'c']], 1);
        let e = err(&d);
        assert_eq!(e.offset, 1007);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "listpack string",
                needed: 5,
                available: 3
            }
        ));
        // A 32-bit string length of 4 GB.
        let d = build_raw(&[vec![0xF0, 0xff, 0xff, 0xff, 0xff, 0]], 1);
        let e = err(&d);
        assert_eq!(e.offset, 1011);
        // A 32-bit length field cut by the end byte.
        let d = build_raw(&[vec![0xF0, 1, 0]], 1);
        let e = err(&d);
        assert_eq!(e.offset, 1007);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "listpack string length",
                ..
            }
        ));
        // An int64 with 2 data bytes.
        let d = build_raw(&[vec![0xF4, 1, 2]], 1);
        let e = err(&d);
        assert_eq!(e.offset, 1007);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "listpack integer",
                needed: 8,
                ..
            }
        ));
        // Entry fine but the backlen would overlap the end byte.
        let d = build_raw(&[vec![0x05]], 1);
        let e = err(&d);
        assert_eq!(e.offset, 1007);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                what: "listpack entry backlen",
                ..
            }
        ));
    }

    #[test]
    fn bad_backlen() {
        // Wrong value.
        let d = build_raw(&[vec![0x05, 2]], 1);
        let e = err(&d);
        assert_eq!(e.offset, 1007);
        assert!(matches!(
            e.kind,
            ErrorKind::Invalid {
                what: "listpack entry backlen",
                ..
            }
        ));
        assert!(e.to_string().contains("expected 1"), "{e}");
        // Unterminated (high bit set in a one-byte backlen).
        let d = build_raw(&[vec![0x05, 0x81]], 1);
        let e = err(&d);
        assert_eq!(e.offset, 1007);
        assert!(e.to_string().contains("unterminated"), "{e}");
        // Second entry's backlen wrong in a 2-byte backlen.
        let mut d = build(&[V::I(3), V::S(vec![b'z'; 200])]);
        let p = d.len() - 2; // last backlen byte
        d[p] ^= 1;
        let e = err(&d);
        assert_eq!(e.offset, 1000 + p as u64 - 1);
    }

    #[test]
    fn unknown_encodings() {
        for b in 0xF5u8..=0xFE {
            let d = build_raw(&[vec![b, 1]], 1);
            let e = err(&d);
            assert_eq!(e.offset, 1006, "byte {b:02x}");
            assert!(matches!(
                e.kind,
                ErrorKind::Invalid {
                    what: "listpack entry encoding",
                    ..
                }
            ));
        }
    }

    #[test]
    fn early_end_byte() {
        let d = build_raw(&[vec![0x01, 1], vec![0xff], vec![0x02, 1]], 2);
        let e = err(&d);
        assert_eq!(e.offset, 1008);
        assert!(e.to_string().contains("3 bytes before the end"), "{e}");
    }

    #[test]
    fn count_mismatch() {
        let d = build_raw(&[with_backlen(vec![1]), with_backlen(vec![2])], 3);
        let mut it = parse(&d, 1000).unwrap().iter();
        assert_eq!(it.next().unwrap().unwrap(), Elem::Int(1));
        assert_eq!(it.next().unwrap().unwrap(), Elem::Int(2));
        let e = it.next().unwrap().unwrap_err();
        assert_eq!(e.offset, 1004);
        assert!(
            e.to_string().contains("says 3 but the listpack holds 2"),
            "{e}"
        );
        assert!(it.next().is_none());
        let d = build_raw(&[with_backlen(vec![1]), with_backlen(vec![2])], 1);
        assert_eq!(err(&d).offset, 1004);
    }

    #[test]
    fn truncations_and_bit_flips_never_panic() {
        let d = build(&[
            V::S(b"hello".to_vec()),
            V::I(-70000),
            V::S(vec![b'x'; 300]),
            V::I(12),
            V::I(i64::MIN),
            V::I(-5),
            V::I(300),
            V::I(-40000),
            V::I(1 << 33),
            V::S(vec![b'y'; 70]),
        ]);
        assert!(parse(&d, 0).unwrap().validate().is_ok());
        for n in 0..d.len() {
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
                if let Ok(lp) = parse(&m, 0) {
                    assert!(lp.iter().count() <= m.len());
                }
            }
        }
    }
}
