//! Building ziplists (`ziplistPush` in Redis' `ziplist.c`, RDB < 10); the
//! layout is drawn in [`crate::rdb::ziplist`]:
//!
//! ```text
//! <zlbytes u32LE> <zltail u32LE> <zllen u16LE, 65535 when more> <entry>* <0xFF>
//! entry: <prevlen: 1 byte < 254, else 0xFE u32LE> <encoding> [<data>]
//! ```
//!
//! As `zipTryEncoding` does, a string of at most 32 bytes that is the
//! canonical decimal form of an `i64` is stored as an integer.

use super::prim::canonical_int;

const HEADER: usize = 10;
const END: u8 = 0xFF;

/// A ziplist under construction.
#[derive(Debug, Clone)]
pub struct ZiplistBuilder {
    buf: Vec<u8>,
    count: usize,
    /// Size of the last entry (the next one's prevlen) and where it starts.
    last: Option<(usize, usize)>,
}

impl Default for ZiplistBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ZiplistBuilder {
    pub fn new() -> Self {
        ZiplistBuilder {
            buf: vec![0; HEADER],
            count: 0,
            last: None,
        }
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the finished ziplist will take.
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    fn prevlen(&mut self) -> usize {
        let start = self.buf.len();
        let prev = self.last.map_or(0, |(size, _)| size);
        if prev < 254 {
            self.buf.push(prev as u8);
        } else {
            self.buf.push(0xFE);
            self.buf.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        start
    }

    /// Appends an element, as an integer when it is one.
    pub fn push(&mut self, s: &[u8]) {
        match (s.len() <= 32).then(|| canonical_int(s)).flatten() {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    fn push_str(&mut self, s: &[u8]) {
        let start = self.prevlen();
        let n = s.len();
        if n < 64 {
            self.buf.push(n as u8);
        } else if n < 16384 {
            self.buf
                .extend_from_slice(&[0x40 | (n >> 8) as u8, n as u8]);
        } else {
            self.buf.push(0x80);
            self.buf.extend_from_slice(&(n as u32).to_be_bytes());
        }
        self.buf.extend_from_slice(s);
        self.close(start);
    }

    /// Appends an integer in the smallest encoding (`zipTryEncoding`).
    pub fn push_int(&mut self, v: i64) {
        let start = self.prevlen();
        if (0..=12).contains(&v) {
            self.buf.push(0xF1 + v as u8);
        } else if let Ok(b) = i8::try_from(v) {
            self.buf.extend_from_slice(&[0xFE, b as u8]);
        } else if let Ok(h) = i16::try_from(v) {
            self.buf.push(0xC0);
            self.buf.extend_from_slice(&h.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(w) = i32::try_from(v) {
            self.buf.push(0xD0);
            self.buf.extend_from_slice(&w.to_le_bytes());
        } else {
            self.buf.push(0xE0);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.close(start);
    }

    fn close(&mut self, start: usize) {
        self.last = Some((self.buf.len() - start, start));
        self.count += 1;
    }

    /// The finished ziplist.
    pub fn finish(mut self) -> Vec<u8> {
        let tail = self.last.map_or(HEADER, |(_, at)| at) as u32;
        self.buf.push(END);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..8].copy_from_slice(&tail.to_le_bytes());
        let n = u16::try_from(self.count).unwrap_or(u16::MAX);
        self.buf[8..10].copy_from_slice(&n.to_le_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::elem::Elem;
    use crate::rdb::ziplist;

    #[test]
    fn every_encoding_reads_back() {
        let ints = [
            0i64,
            12,
            13,
            -1,
            127,
            -128,
            128,
            32767,
            -32768,
            32768,
            8388607,
            -8388608,
            8388608,
            i32::MAX as i64,
            i32::MIN as i64,
            i64::MAX,
            i64::MIN,
        ];
        let strs: Vec<Vec<u8>> = vec![
            b"".to_vec(),
            vec![b'x'; 63],
            vec![b'x'; 64],
            vec![b'y'; 300],
            vec![b'z'; 16384],
            b"01".to_vec(),
        ];
        let mut b = ZiplistBuilder::new();
        for &i in &ints {
            b.push_int(i);
        }
        for s in &strs {
            b.push(s);
        }
        let zl = b.finish();
        let p = ziplist::parse(&zl, 0).unwrap();
        assert_eq!(p.validate().unwrap(), ints.len() + strs.len());
        let got: Vec<Elem<'_>> = p.iter().collect::<Result<_, _>>().unwrap();
        let mut want: Vec<Elem<'_>> = ints.iter().map(|&i| Elem::Int(i)).collect();
        want.extend(strs.iter().map(|s| Elem::Bytes(s)));
        assert_eq!(got, want);
    }

    #[test]
    fn empty() {
        let zl = ZiplistBuilder::new().finish();
        assert_eq!(ziplist::parse(&zl, 0).unwrap().validate().unwrap(), 0);
    }
}
