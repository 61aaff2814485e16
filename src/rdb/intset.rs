//! Intsets: the compact encoding of small all-integer sets
//! (`RDB_TYPE_SET_INTSET`, stored as one RDB string).
//!
//! Mirrors `intsetValidateIntegrity` in Redis' `src/intset.c`.
//!
//! ```text
//! +----------------+----------------+------------------------------------+
//! | encoding u32LE | length u32LE   | length × encoding bytes            |
//! | 2, 4 or 8      | element count  | signed little-endian integers      |
//! +----------------+----------------+------------------------------------+
//! ```
//!
//! Redis keeps the elements sorted and unique (it binary-searches them), but
//! only checks that in its "deep" sanitization; [`Intset::validate_sorted`]
//! offers the same check without making it a condition of reading.

use crate::error::{Error, Result};

const HEADER: usize = 8;

/// A validated intset borrowed from the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intset<'a> {
    /// The element bytes (after the header).
    contents: &'a [u8],
    /// Bytes per element: 2, 4 or 8.
    encoding: u32,
    /// Absolute file offset of the first element.
    contents_offset: u64,
}

/// Checks the header and the total size of an intset. `offset` is the
/// absolute file offset of `data[0]`.
pub fn parse(data: &[u8], offset: u64) -> Result<Intset<'_>> {
    let (header, contents) = data.split_first_chunk::<HEADER>().ok_or_else(|| {
        Error::truncated(offset, "intset header", HEADER as u64, data.len() as u64)
    })?;
    // `header` is a `&[u8; 8]`: constant indexes are checked at compile time.
    let encoding = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let length = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if !matches!(encoding, 2 | 4 | 8) {
        return Err(Error::invalid(
            offset,
            "intset encoding",
            format!("element width {encoding} is not 2, 4 or 8"),
        ));
    }
    // Both factors fit in 32 bits, so the product cannot overflow a u64.
    let want = length as u64 * encoding as u64;
    let have = contents.len() as u64;
    let contents_offset = offset.saturating_add(HEADER as u64);
    if have < want {
        return Err(Error::truncated(
            contents_offset,
            "intset elements",
            want,
            have,
        ));
    }
    if have > want {
        return Err(Error::invalid(
            contents_offset.saturating_add(want),
            "intset",
            format!(
                "{} bytes follow the {length} elements of {encoding} bytes the header declares",
                have - want
            ),
        ));
    }
    Ok(Intset {
        contents,
        encoding,
        contents_offset,
    })
}

impl<'a> Intset<'a> {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.contents.len() / self.encoding as usize
    }

    pub fn is_empty(&self) -> bool {
        self.contents.is_empty()
    }

    /// Bytes per element: 2, 4 or 8.
    pub fn encoding(&self) -> u32 {
        self.encoding
    }

    /// The elements in stored order.
    pub fn iter(&self) -> IntsetIter<'a> {
        IntsetIter {
            rest: self.contents,
            encoding: self.encoding as u8,
        }
    }

    /// Checks that the elements are strictly increasing, as Redis' deep
    /// sanitization does; the error names the first element out of order.
    pub fn validate_sorted(&self) -> Result<()> {
        let mut prev: Option<i64> = None;
        for (i, v) in self.iter().enumerate() {
            if let Some(p) = prev {
                if v <= p {
                    let at = (i as u64).saturating_mul(self.encoding as u64);
                    return Err(Error::invalid(
                        self.contents_offset.saturating_add(at),
                        "intset",
                        format!("element {i} ({v}) is not greater than the one before it ({p})"),
                    ));
                }
            }
            prev = Some(v);
        }
        Ok(())
    }
}

/// Iterator over the elements of an [`Intset`]; infallible because the size
/// was checked by [`parse`].
#[derive(Debug, Clone)]
pub struct IntsetIter<'a> {
    rest: &'a [u8],
    encoding: u8,
}

impl Iterator for IntsetIter<'_> {
    type Item = i64;

    #[inline]
    fn next(&mut self) -> Option<i64> {
        match self.encoding {
            2 => {
                let (v, rest) = self.rest.split_first_chunk::<2>()?;
                self.rest = rest;
                Some(i16::from_le_bytes(*v) as i64)
            }
            4 => {
                let (v, rest) = self.rest.split_first_chunk::<4>()?;
                self.rest = rest;
                Some(i32::from_le_bytes(*v) as i64)
            }
            _ => {
                let (v, rest) = self.rest.split_first_chunk::<8>()?;
                self.rest = rest;
                Some(i64::from_le_bytes(*v))
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.rest.len() / (self.encoding.max(1) as usize);
        (n, Some(n))
    }
}

impl ExactSizeIterator for IntsetIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn build(encoding: u32, values: &[i64]) -> Vec<u8> {
        let mut v = encoding.to_le_bytes().to_vec();
        v.extend_from_slice(&(values.len() as u32).to_le_bytes());
        for &x in values {
            v.extend_from_slice(&x.to_le_bytes()[..encoding as usize]);
        }
        v
    }

    fn values(data: &[u8]) -> Vec<i64> {
        parse(data, 0).unwrap().iter().collect()
    }

    #[test]
    fn sixteen_bit() {
        let vals = [
            i16::MIN as i64,
            -1,
            0,
            1,
            127,
            128,
            255,
            256,
            i16::MAX as i64,
        ];
        let d = build(2, &vals);
        let s = parse(&d, 0).unwrap();
        assert_eq!(s.encoding(), 2);
        assert_eq!(s.len(), vals.len());
        assert!(!s.is_empty());
        assert_eq!(s.iter().len(), vals.len());
        assert_eq!(values(&d), vals);
        s.validate_sorted().unwrap();
    }

    #[test]
    fn thirty_two_bit() {
        let vals = [
            i32::MIN as i64,
            -32769,
            -1,
            0,
            32768,
            65536,
            i32::MAX as i64,
        ];
        assert_eq!(values(&build(4, &vals)), vals);
    }

    #[test]
    fn sixty_four_bit() {
        let vals = [i64::MIN, -(1 << 31) - 1, 0, 1 << 31, 1 << 40, i64::MAX];
        assert_eq!(values(&build(8, &vals)), vals);
    }

    #[test]
    fn exact_bytes() {
        // Encoding 2, three elements: -2, 5, 0x1234.
        let d = [2, 0, 0, 0, 3, 0, 0, 0, 0xfe, 0xff, 5, 0, 0x34, 0x12];
        assert_eq!(values(&d), [-2, 5, 0x1234]);
    }

    #[test]
    fn empty_intset_parses() {
        let d = build(4, &[]);
        let s = parse(&d, 0).unwrap();
        assert!(s.is_empty());
        assert_eq!(s.len(), 0);
        assert_eq!(s.iter().next(), None);
    }

    #[test]
    fn truncated_header() {
        for n in 0..8 {
            let e = parse(&[2, 0, 0, 0, 0, 0, 0, 0][..n], 50).unwrap_err();
            assert_eq!(e.offset, 50);
            assert!(matches!(
                e.kind,
                ErrorKind::Truncated { what: "intset header", needed: 8, available } if available == n as u64
            ));
        }
    }

    #[test]
    fn bad_encodings() {
        for enc in [0u32, 1, 3, 5, 6, 7, 9, 16, 0x0200_0000, u32::MAX] {
            let mut d = enc.to_le_bytes().to_vec();
            d.extend_from_slice(&[0, 0, 0, 0]);
            let e = parse(&d, 10).unwrap_err();
            assert_eq!(e.offset, 10, "encoding {enc}");
            assert!(matches!(
                e.kind,
                ErrorKind::Invalid {
                    what: "intset encoding",
                    ..
                }
            ));
        }
    }

    #[test]
    fn elements_missing() {
        let mut d = build(4, &[1, 2, 3]);
        d.pop();
        let e = parse(&d, 100).unwrap_err();
        assert_eq!(e.offset, 108);
        assert!(matches!(
            e.kind,
            ErrorKind::Truncated {
                needed: 12,
                available: 11,
                ..
            }
        ));
    }

    #[test]
    fn huge_length_is_rejected_without_looping() {
        let mut d = 8u32.to_le_bytes().to_vec();
        d.extend_from_slice(&u32::MAX.to_le_bytes());
        let e = parse(&d, 0).unwrap_err();
        assert!(
            matches!(e.kind, ErrorKind::Truncated { needed, .. } if needed == u32::MAX as u64 * 8)
        );
    }

    #[test]
    fn trailing_bytes() {
        let mut d = build(2, &[1, 2]);
        d.push(0);
        let e = parse(&d, 1000).unwrap_err();
        assert_eq!(e.offset, 1000 + 8 + 4);
        assert!(matches!(e.kind, ErrorKind::Invalid { what: "intset", .. }));
    }

    #[test]
    fn unsorted_and_duplicate_elements() {
        let d = build(2, &[1, 5, 3]);
        let e = parse(&d, 20).unwrap().validate_sorted().unwrap_err();
        assert_eq!(e.offset, 20 + 8 + 4);
        let d = build(8, &[1, 2, 2]);
        let e = parse(&d, 0).unwrap().validate_sorted().unwrap_err();
        assert_eq!(e.offset, 8 + 16);
        // Reading does not require order.
        assert_eq!(values(&build(2, &[3, 1])), [3, 1]);
    }

    #[test]
    fn truncations_and_bit_flips_never_panic() {
        let d = build(4, &[-70000, -1, 0, 1, 70000]);
        for n in 0..=d.len() {
            let r = parse(&d[..n], 0);
            assert_eq!(r.is_ok(), n == d.len());
        }
        for i in 0..d.len() {
            for flip in [0x01u8, 0x02, 0x04, 0x08, 0x80, 0xFF] {
                let mut m = d.clone();
                m[i] ^= flip;
                if let Ok(s) = parse(&m, 0) {
                    assert_eq!(s.iter().count(), s.len());
                    let _ = s.validate_sorted();
                }
            }
        }
    }
}
