//! The whole-file CRC-64, advanced over chunks as they are consumed.

use super::chunk::Chunk;
use crate::rdb::crc64;

/// Running CRC-64 over the file prefix up to and including the EOF opcode.
pub(super) struct CrcState<'a> {
    data: &'a [u8],
    on: bool,
    pos: usize,
    crc: u64,
}

impl<'a> CrcState<'a> {
    pub(super) fn new(data: &'a [u8], on: bool) -> Self {
        CrcState {
            data,
            on,
            pos: 0,
            crc: 0,
        }
    }

    /// Covers everything up to the end of `chunk` (up to its EOF opcode, if
    /// it holds one). Chunks arrive in file order and are contiguous.
    pub(super) fn advance(&mut self, chunk: &Chunk<'_>) {
        if !self.on {
            return;
        }
        let upto = match chunk.eof_at {
            Some(eof) => eof as usize + 1,
            None => chunk.end as usize,
        }
        .min(self.data.len());
        if upto > self.pos {
            self.crc = crc64::crc64(self.crc, &self.data[self.pos..upto]);
            self.pos = upto;
        }
    }

    pub(super) fn value(&self) -> Option<u64> {
        self.on.then_some(self.crc)
    }
}
