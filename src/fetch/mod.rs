//! `rdbkit fetch`: a one-time snapshot of a live server, downloaded over
//! the replication protocol (see [`sync`]), from a `redis://`/`rediss://`
//! URL or through Sentinel (`sentinel://`, see [`sentinel`]).
//!
//! The RDB's CRC-64 is computed while it arrives and checked against its
//! trailer before the file is renamed into place: an interrupted transfer
//! or a server that dies mid-way leaves nothing at the destination. This is
//! not continuous replication: what is written after the snapshot is not
//! fetched.

pub mod sentinel;
pub mod sync;

use std::io::{self, Write};
use std::path::Path;

use crate::load::conn::{Conn, TlsFiles};
use crate::load::target::{Auth, Target};
use crate::outpath::AtomicFile;
use crate::rdb::crc64::crc64;

pub use sentinel::SentinelUrl;

/// Where a snapshot comes from.
#[derive(Debug, Clone)]
pub enum Source {
    Server(Target),
    Sentinel(SentinelUrl),
}

impl Source {
    /// `Some` for `redis://`, `rediss://` and `sentinel://` URLs; `None`
    /// for anything else (a file path).
    pub fn parse(s: &str) -> Option<Result<Source, String>> {
        if s.starts_with("sentinel://") {
            return Some(SentinelUrl::parse(s).map(Source::Sentinel));
        }
        if s.starts_with("redis://") || s.starts_with("rediss://") {
            return Some(
                Target::parse(s)
                    .map(Source::Server)
                    .map_err(|e| e.to_string()),
            );
        }
        None
    }

    /// The password of the data node, when the URL has none (from a file
    /// or the environment).
    pub fn set_default_password(&mut self, pass: String) {
        let auth = match self {
            Source::Server(t) => &mut t.auth,
            Source::Sentinel(s) => &mut s.auth,
        };
        if auth.pass.is_none() {
            auth.pass = Some(pass);
        }
    }
}

/// Settings of a fetch.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    pub tls: TlsFiles,
    /// `--timeout`: how long a read may wait (`None`: no limit).
    pub io_timeout: Option<std::time::Duration>,
    /// Credentials for the sentinels themselves.
    pub sentinel_auth: Auth,
}

/// What the trailer said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// Stored and computed CRC-64 agree.
    Verified(u64),
    /// The server writes no checksum (`rdbchecksum no`, or RDB < 5).
    Absent,
}

/// A finished fetch.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// `host:port` the snapshot came from.
    pub from: String,
    pub bytes: u64,
    pub checksum: Checksum,
    /// The server honoured `REPLCONF rdb-only`.
    pub rdb_only: bool,
}

/// Progress: bytes received, and the total when the server announced it.
pub type Progress<'a> = &'a mut dyn FnMut(u64, Option<u64>);

/// Downloads a snapshot into `out` and checks it. The caller keeps `out`
/// only on `Ok`.
pub fn fetch_into(
    source: &Source,
    opts: &FetchOptions,
    out: &mut dyn Write,
    progress: Progress<'_>,
) -> Result<Fetched, String> {
    let target = match source {
        Source::Server(t) => t.clone(),
        Source::Sentinel(s) => s.resolve(&opts.sentinel_auth)?,
    };
    let (mut conn, _) =
        Conn::open_target(&target, &opts.tls, opts.io_timeout).map_err(|e| e.to_string())?;
    let hs = sync::start(&mut conn)?;
    let total = match hs.payload {
        sync::Payload::Len(n) => Some(n),
        sync::Payload::Mark(_) => None,
    };
    let mut w = CrcWriter::new(out);
    let bytes = sync::copy_payload(&mut conn.reader, &hs.payload, &mut w, &mut |d| {
        progress(d, total)
    })
    .map_err(|e| format!("{}: {}", conn.addr, crate::load::conn::describe_io(&e)))?;
    w.out.flush().map_err(|e| e.to_string())?;
    let checksum = w.check().map_err(|e| format!("{}: {e}", conn.addr))?;
    Ok(Fetched {
        from: conn.addr.clone(),
        bytes,
        checksum,
        rdb_only: hs.rdb_only,
    })
}

/// Downloads a snapshot to `dest`, written under a temporary name beside
/// it and renamed into place only once complete and checked.
pub fn fetch_file(
    source: &Source,
    opts: &FetchOptions,
    dest: &Path,
    progress: Progress<'_>,
) -> Result<Fetched, String> {
    let mut f = AtomicFile::create(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    let r = fetch_into(source, opts, &mut f, progress)?;
    f.commit().map_err(|e| format!("{}: {e}", dest.display()))?;
    Ok(r)
}

/// A writer that computes the CRC-64 of everything but the last 8 bytes
/// (the trailer) and keeps those 8 to compare at the end.
struct CrcWriter<'a> {
    out: &'a mut dyn Write,
    crc: u64,
    /// The last bytes written, at most 8, not yet in `crc`.
    tail: Vec<u8>,
    /// The first bytes, for the `REDIS` magic and version.
    head: Vec<u8>,
    /// The last byte that went into `crc` (the EOF opcode, at the end).
    last: Option<u8>,
    total: u64,
}

impl<'a> CrcWriter<'a> {
    fn new(out: &'a mut dyn Write) -> Self {
        CrcWriter {
            out,
            crc: 0,
            tail: Vec::with_capacity(16),
            head: Vec::with_capacity(9),
            last: None,
            total: 0,
        }
    }

    fn feed(&mut self, data: &[u8]) {
        if !data.is_empty() {
            self.crc = crc64(self.crc, data);
            self.last = data.last().copied();
        }
    }

    /// Checks magic, EOF opcode and checksum once everything was written.
    fn check(&self) -> Result<Checksum, String> {
        if !self.head.starts_with(b"REDIS") || self.head.len() < 9 {
            return Err(format!(
                "the server sent {} bytes that are not an RDB file",
                self.total
            ));
        }
        let version: u32 = std::str::from_utf8(&self.head[5..9])
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if version < 5 {
            return Ok(Checksum::Absent);
        }
        if self.tail.len() < 8 || self.last != Some(0xff) {
            return Err(format!(
                "the snapshot ({} bytes) does not end with an RDB trailer: truncated",
                self.total
            ));
        }
        let stored = u64::from_le_bytes(self.tail[..8].try_into().unwrap_or_default());
        match stored {
            0 => Ok(Checksum::Absent),
            s if s == self.crc => Ok(Checksum::Verified(s)),
            s => Err(format!(
                "checksum mismatch in the snapshot: stored {s:016x}, computed {:016x}",
                self.crc
            )),
        }
    }
}

impl Write for CrcWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.out.write_all(buf)?;
        self.total += buf.len() as u64;
        if self.head.len() < 9 {
            let n = (9 - self.head.len()).min(buf.len());
            self.head.extend_from_slice(&buf[..n]);
        }
        if buf.len() >= 8 {
            let held = std::mem::take(&mut self.tail);
            self.feed(&held);
            self.feed(&buf[..buf.len() - 8]);
            self.tail.extend_from_slice(&buf[buf.len() - 8..]);
        } else {
            self.tail.extend_from_slice(buf);
            if self.tail.len() > 8 {
                let extra = self.tail.len() - 8;
                let spill: Vec<u8> = self.tail.drain(..extra).collect();
                self.feed(&spill);
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rdb() -> Vec<u8> {
        let mut f = b"REDIS0011\xfe\x00\x00\x01k\x01v\xff".to_vec();
        let c = crc64(0, &f);
        f.extend(c.to_le_bytes());
        f
    }

    #[test]
    fn checksum_in_any_pieces() {
        let f = rdb();
        for step in [1, 3, 8, 9, 100] {
            let mut sink = Vec::new();
            let mut w = CrcWriter::new(&mut sink);
            for c in f.chunks(step) {
                w.write_all(c).unwrap();
            }
            assert!(matches!(w.check(), Ok(Checksum::Verified(_))), "{step}");
        }
        let mut bad = f.clone();
        bad[12] ^= 1;
        let mut sink = Vec::new();
        let mut w = CrcWriter::new(&mut sink);
        w.write_all(&bad).unwrap();
        assert!(w.check().unwrap_err().contains("mismatch"));
        let mut sink = Vec::new();
        let mut w = CrcWriter::new(&mut sink);
        w.write_all(&f[..f.len() - 3]).unwrap();
        assert!(w.check().is_err());
    }
}
