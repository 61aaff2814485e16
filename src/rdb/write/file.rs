//! A whole RDB file written through any `io::Write`, keeping the running
//! CRC-64 the EOF trailer needs (`rdbSaveRio` updates it as it writes):
//!
//! ```text
//! header | items ... | 0xFF | CRC-64/Jones of all before, u64 LE (RDB >= 5)
//! ```
//!
//! Callers build items with [`super::prim`] into a buffer and hand whole
//! buffers over; nothing here knows about keys.

use std::io::{self, Write};

use crate::rdb::consts::RDB_OPCODE_EOF;
use crate::rdb::crc64;

use super::format::Format;
use super::prim::put_header;

/// A file being written.
pub struct RdbFile<W: Write> {
    out: W,
    crc: u64,
    bytes: u64,
    checksum: bool,
}

impl<W: Write> RdbFile<W> {
    /// Starts a file: writes the magic and version.
    pub fn new(out: W, fmt: Format) -> io::Result<Self> {
        let mut f = RdbFile {
            out,
            crc: 0,
            bytes: 0,
            checksum: fmt.has_checksum(),
        };
        let mut h = Vec::new();
        put_header(&mut h, fmt.dialect, fmt.version);
        f.write(&h)?;
        Ok(f)
    }

    /// Appends encoded bytes.
    pub fn write(&mut self, b: &[u8]) -> io::Result<()> {
        if self.checksum {
            self.crc = crc64::crc64(self.crc, b);
        }
        self.bytes += b.len() as u64;
        self.out.write_all(b)
    }

    /// Bytes written so far.
    pub fn len(&self) -> u64 {
        self.bytes
    }

    pub fn is_empty(&self) -> bool {
        self.bytes == 0
    }

    /// Writes EOF and the checksum; returns the writer and the file size.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.write(&[RDB_OPCODE_EOF])?;
        if self.checksum {
            let c = self.crc.to_le_bytes();
            self.out.write_all(&c)?;
            self.bytes += 8;
        }
        self.out.flush()?;
        Ok((self.out, self.bytes))
    }
}
