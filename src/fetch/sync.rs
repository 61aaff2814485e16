//! Downloading a snapshot over the replication protocol, as `redis-cli
//! --rdb` does: `REPLCONF capa eof` (so a diskless master can stream the
//! RDB with an end mark instead of a length), `REPLCONF rdb-only 1` where
//! the server knows it (Redis 7+: the server then sends the snapshot alone,
//! no replication stream after it), then `SYNC`.
//!
//! The reply to `SYNC` is `$<len>\r\n` followed by `len` bytes (disk-based
//! transfer), or `$EOF:<40 random bytes>\r\n` followed by the RDB and the
//! same 40 bytes (diskless). Before it the server may send bare `\n`
//! keep-alives while it prepares the snapshot.

use std::io::{self, BufRead, Read, Write};

use crate::load::conn::Conn;
use crate::load::resp::Reply;

/// The length of the diskless end mark.
const EOF_MARK: usize = 40;

/// How the server announced the payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    Len(u64),
    Mark([u8; EOF_MARK]),
}

/// What the handshake learned.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The server accepted `REPLCONF rdb-only`.
    pub rdb_only: bool,
    pub payload: Payload,
}

/// Sends the replication handshake and `SYNC`, and reads the payload header.
pub fn start(c: &mut Conn) -> Result<Handshake, String> {
    let err = |e: crate::redis::ClientError| e.to_string();
    if let Reply::Error(e) = c.call(&[b"REPLCONF", b"capa", b"eof"]).map_err(err)? {
        return Err(format!("{}: REPLCONF capa eof refused: {e}", c.addr));
    }
    // Older servers answer an error: they then stream commands after the
    // snapshot, which we never read.
    let rdb_only = matches!(
        c.call(&[b"REPLCONF", b"rdb-only", b"1"]).map_err(err)?,
        Reply::Status(_)
    );
    c.writer
        .write_all(b"SYNC\r\n")
        .map_err(|e| c.io(e).to_string())?;
    let line = header_line(c).map_err(|e| format!("{}: waiting for the snapshot: {e}", c.addr))?;
    let payload = parse_header(&line).map_err(|e| format!("{}: {e}", c.addr))?;
    Ok(Handshake { rdb_only, payload })
}

/// The first non-empty line after `SYNC` (keep-alive newlines skipped).
fn header_line(c: &mut Conn) -> io::Result<Vec<u8>> {
    loop {
        let mut line = Vec::new();
        let n = (&mut c.reader).take(1024).read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        if !line.ends_with(b"\n") {
            return Err(io::Error::other("over-long reply line"));
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        if !line.is_empty() {
            return Ok(line);
        }
    }
}

fn parse_header(line: &[u8]) -> Result<Payload, String> {
    let text = String::from_utf8_lossy(line);
    if let Some(e) = text.strip_prefix('-') {
        return Err(format!("SYNC refused: {e}"));
    }
    let Some(rest) = line.strip_prefix(b"$") else {
        return Err(format!("unexpected reply to SYNC: {text:?}"));
    };
    if let Some(mark) = rest.strip_prefix(b"EOF:") {
        let mark: [u8; EOF_MARK] = mark
            .try_into()
            .map_err(|_| format!("bad end mark in the reply to SYNC: {text:?}"))?;
        return Ok(Payload::Mark(mark));
    }
    std::str::from_utf8(rest)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .map(Payload::Len)
        .ok_or_else(|| format!("bad length in the reply to SYNC: {text:?}"))
}

/// Copies the payload from `r` to `out`, calling `progress(bytes)` as it
/// goes. Returns the RDB's length. A connection that ends early is an
/// error naming how many bytes arrived.
pub fn copy_payload(
    r: &mut dyn Read,
    payload: &Payload,
    out: &mut dyn Write,
    progress: &mut dyn FnMut(u64),
) -> io::Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut done = 0u64;
    let early = |done: u64| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("the connection ended after {done} bytes of the snapshot"),
        )
    };
    match payload {
        Payload::Len(len) => {
            while done < *len {
                let want = (*len - done).min(buf.len() as u64) as usize;
                let n = read_some(r, &mut buf[..want])?;
                if n == 0 {
                    return Err(early(done));
                }
                out.write_all(&buf[..n])?;
                done += n as u64;
                progress(done);
            }
            Ok(done)
        }
        Payload::Mark(mark) => {
            // The tail that could be the start of the mark is held back
            // until more arrives; whatever follows the mark (a replication
            // stream from a server without rdb-only) is not part of the file.
            let mut held: Vec<u8> = Vec::with_capacity(buf.len() + EOF_MARK);
            loop {
                let n = read_some(r, &mut buf)?;
                if n == 0 {
                    return Err(early(done + held.len() as u64));
                }
                held.extend_from_slice(&buf[..n]);
                if let Some(p) = held.windows(EOF_MARK).position(|w| w == mark) {
                    out.write_all(&held[..p])?;
                    done += p as u64;
                    progress(done);
                    return Ok(done);
                }
                let flush = held.len().saturating_sub(EOF_MARK - 1);
                out.write_all(&held[..flush])?;
                done += flush as u64;
                held.drain(..flush);
                progress(done);
            }
        }
    }
}

fn read_some(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(parse_header(b"$12").unwrap(), Payload::Len(12));
        let mut m = b"$EOF:".to_vec();
        m.extend([b'a'; 40]);
        assert_eq!(parse_header(&m).unwrap(), Payload::Mark([b'a'; 40]));
        assert!(parse_header(b"-ERR no").unwrap_err().contains("refused"));
        assert!(parse_header(b"$EOF:short").is_err());
    }

    #[test]
    fn end_mark_is_cut_off_across_reads() {
        let mark = [b'z'; 40];
        let body: Vec<u8> = (0..5000u32).map(|i| (i % 200) as u8).collect();
        let mut stream = body.clone();
        stream.extend(mark);
        stream.extend(b"trailing replication stream");
        // A reader that returns 7 bytes at a time.
        struct Slow<'a>(&'a [u8]);
        impl Read for Slow<'_> {
            fn read(&mut self, b: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(7).min(b.len());
                b[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut out = Vec::new();
        let n = copy_payload(
            &mut Slow(&stream),
            &Payload::Mark(mark),
            &mut out,
            &mut |_| {},
        )
        .unwrap();
        assert_eq!(n as usize, body.len());
        assert_eq!(out, body);
        let cut = &stream[..3000];
        let e = copy_payload(&mut Slow(cut), &Payload::Mark(mark), &mut out, &mut |_| {});
        assert!(e.is_err());
        let e = copy_payload(&mut &body[..10], &Payload::Len(20), &mut out, &mut |_| {});
        assert!(e.unwrap_err().to_string().contains("after 10 bytes"));
    }
}
