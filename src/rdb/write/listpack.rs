//! Building listpacks (`lpAppend` in Redis' `listpack.c`); the layout is
//! drawn in [`crate::rdb::listpack`]:
//!
//! ```text
//! <total bytes u32LE> <num elements u16LE, 65535 when more> <entry>* <0xFF>
//! entry: <encoding+data> <backlen>
//! ```
//!
//! A string element that is the canonical decimal form of an `i64` is
//! stored as an integer, as `lpAppend` → `lpEncodeGetType` does (the server
//! tries `lpStringToInt64` on every string it appends).

use super::prim::canonical_int;

const HEADER: usize = 6;
const END: u8 = 0xFF;

/// A listpack under construction.
#[derive(Debug, Clone)]
pub struct ListpackBuilder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ListpackBuilder {
    pub fn new() -> Self {
        ListpackBuilder {
            buf: vec![0; HEADER],
            count: 0,
        }
    }

    /// Elements appended so far.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Bytes the finished listpack will take.
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Appends a string element (as an integer when it is one).
    pub fn push(&mut self, s: &[u8]) {
        match canonical_int(s) {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    /// Appends a string element as a string, whatever it holds.
    pub fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let n = s.len();
        if n < 64 {
            self.buf.push(0x80 | n as u8);
        } else if n < 4096 {
            self.buf
                .extend_from_slice(&[0xE0 | (n >> 8) as u8, n as u8]);
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(n as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        self.close(start);
    }

    /// Appends an integer element in the smallest encoding that holds it.
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let u = (v as u16) & 0x1fff;
            self.buf
                .extend_from_slice(&[0xC0 | (u >> 8) as u8, u as u8]);
        } else if let Ok(h) = i16::try_from(v) {
            self.buf.push(0xF1);
            self.buf.extend_from_slice(&h.to_le_bytes());
        } else if (-(1 << 23)..(1 << 23)).contains(&v) {
            self.buf.push(0xF2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if let Ok(w) = i32::try_from(v) {
            self.buf.push(0xF3);
            self.buf.extend_from_slice(&w.to_le_bytes());
        } else {
            self.buf.push(0xF4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        self.close(start);
    }

    /// Writes the backlen of the entry that started at `start`
    /// (`lpEncodeBacklen`: most significant 7-bit group first, every byte
    /// after the first flagged, so it reads back from the right).
    fn close(&mut self, start: usize) {
        let size = (self.buf.len() - start) as u64;
        let n = crate::rdb::listpack::backlen_size(size);
        for i in 0..n {
            let group = ((size >> (7 * (n - 1 - i))) & 0x7f) as u8;
            self.buf.push(if i == 0 { group } else { group | 0x80 });
        }
        self.count += 1;
    }

    /// Rewrites the first element, which must have been pushed as a 7-bit
    /// integer, to `v` (< 128): for counts known only after the elements
    /// that follow them (a stream node's entry count).
    pub fn set_first_small_int(&mut self, v: u8) {
        assert!(v < 128 && self.buf.len() > HEADER && self.buf[HEADER] < 128);
        self.buf[HEADER] = v;
    }

    /// The finished listpack.
    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(END);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let n = u16::try_from(self.count).unwrap_or(u16::MAX);
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::elem::Elem;
    use crate::rdb::listpack;

    #[test]
    fn every_encoding_reads_back() {
        let ints = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -4097,
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
            b"a".to_vec(),
            vec![b'x'; 63],
            vec![b'x'; 64],
            vec![b'y'; 4095],
            vec![b'z'; 4096],
            vec![b'w'; 70000],
            b"007".to_vec(),
        ];
        let mut b = ListpackBuilder::new();
        for &i in &ints {
            b.push_int(i);
        }
        for s in &strs {
            b.push(s);
        }
        b.push(b"-12");
        let lp = b.finish();
        let p = listpack::parse(&lp, 0).unwrap();
        let got: Vec<Elem<'_>> = p.iter().collect::<Result<_, _>>().unwrap();
        let mut want: Vec<Elem<'_>> = ints.iter().map(|&i| Elem::Int(i)).collect();
        want.extend(strs.iter().map(|s| Elem::Bytes(s)));
        want.push(Elem::Int(-12));
        assert_eq!(got, want);
    }

    #[test]
    fn count_saturates() {
        let mut b = ListpackBuilder::new();
        for _ in 0..70000 {
            b.push_int(1);
        }
        let lp = b.finish();
        assert_eq!(&lp[4..6], &[0xff, 0xff]);
        assert_eq!(listpack::parse(&lp, 0).unwrap().iter().count(), 70000);
    }
}
