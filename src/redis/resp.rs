//! RESP2: encoding commands (arrays of bulk strings) and reading replies.
//!
//! Commands are written straight into a caller's buffer, so a RESTORE
//! payload goes from the file's bytes to the socket buffer with one copy.

use std::io::{self, BufRead};

/// Appends `*n\r\n`.
#[inline]
pub fn array_header(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends `$len\r\n` (the bulk's bytes and `\r\n` must follow).
#[inline]
pub fn bulk_header(out: &mut Vec<u8>, len: usize) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends one bulk string.
#[inline]
pub fn bulk(out: &mut Vec<u8>, b: &[u8]) {
    bulk_header(out, b.len());
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// Appends a bulk string holding a decimal integer.
#[inline]
pub fn bulk_int(out: &mut Vec<u8>, i: i64) {
    bulk(out, itoa::Buffer::new().format(i).as_bytes());
}

/// Appends a whole command.
pub fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    array_header(out, args.len());
    for a in args {
        bulk(out, a);
    }
}

/// A RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn is_ok(&self) -> bool {
        matches!(self, Reply::Status(s) if s == "OK")
    }

    /// Bytes of a bulk or status reply.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(Some(b)) => Some(b),
            Reply::Status(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            _ => None,
        }
    }

    pub fn into_array(self) -> Option<Vec<Reply>> {
        match self {
            Reply::Array(Some(a)) => Some(a),
            _ => None,
        }
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("malformed RESP reply: {what}"),
    )
}

fn read_line<R: BufRead>(r: &mut R, line: &mut Vec<u8>) -> io::Result<()> {
    line.clear();
    let n = r.read_until(b'\n', line)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed by the server",
        ));
    }
    if line.len() < 2 || line[line.len() - 2] != b'\r' {
        return Err(bad("line not terminated by CRLF"));
    }
    line.truncate(line.len() - 2);
    Ok(())
}

fn parse_int(b: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("integer expected"))
}

/// Reads one reply. Nesting depth is bounded: a hostile or broken server
/// cannot make the client recurse without limit.
/// Copies a stream of commands that this crate encoded, with `ASKING`
/// before each command outside `MULTI` ... `EXEC` and before `MULTI` itself
/// (the server keeps the flag for the whole transaction). With `in_place`
/// = (temporary name, key), a key built under a temporary name is written
/// in place instead: the key argument is renamed and the final `RENAME`
/// dropped (an importing node refuses RENAME onto a key it does not hold).
/// Returns the number of commands written, or `None` if `cmds` is not a
/// well-formed command stream.
pub fn with_asking(
    cmds: &[u8],
    out: &mut Vec<u8>,
    in_place: Option<(&[u8], &[u8])>,
) -> Option<usize> {
    fn line(b: &[u8], at: usize) -> Option<(usize, usize)> {
        let end = at + b.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        let n = std::str::from_utf8(&b[at..end]).ok()?.parse().ok()?;
        Some((n, end + 2))
    }
    let (mut pos, mut n, mut in_multi) = (0usize, 0usize, false);
    let mut args: Vec<&[u8]> = Vec::new();
    while pos < cmds.len() {
        if cmds[pos] != b'*' {
            return None;
        }
        let (argc, mut p) = line(cmds, pos + 1)?;
        args.clear();
        for _ in 0..argc {
            if cmds.get(p) != Some(&b'$') {
                return None;
            }
            let (len, q) = line(cmds, p + 1)?;
            let end = q.checked_add(len)?;
            args.push(cmds.get(q..end)?);
            p = end + 2;
            if p > cmds.len() {
                return None;
            }
        }
        pos = p;
        let name = *args.first()?;
        if let Some((tmp, key)) = in_place {
            if name.eq_ignore_ascii_case(b"RENAME") && args.get(1) == Some(&tmp) {
                continue;
            }
            // The key is the first argument (the second for XGROUP).
            let at = if name.eq_ignore_ascii_case(b"XGROUP") {
                2
            } else {
                1
            };
            if args.get(at) == Some(&tmp) {
                args[at] = key;
            }
        }
        if !in_multi {
            command(out, &[b"ASKING"]);
            n += 1;
        }
        if name.eq_ignore_ascii_case(b"MULTI") {
            in_multi = true;
        } else if name.eq_ignore_ascii_case(b"EXEC") {
            in_multi = false;
        }
        command(out, &args);
        n += 1;
    }
    Some(n)
}

pub fn read_reply<R: BufRead>(r: &mut R) -> io::Result<Reply> {
    let mut line = Vec::with_capacity(64);
    read_reply_depth(r, &mut line, 0)
}

fn read_reply_depth<R: BufRead>(r: &mut R, line: &mut Vec<u8>, depth: usize) -> io::Result<Reply> {
    if depth > 32 {
        return Err(bad("nesting too deep"));
    }
    read_line(r, line)?;
    let (&t, rest) = line.split_first().ok_or_else(|| bad("empty line"))?;
    match t {
        b'+' => Ok(Reply::Status(String::from_utf8_lossy(rest).into_owned())),
        b'-' => Ok(Reply::Error(String::from_utf8_lossy(rest).into_owned())),
        b':' => Ok(Reply::Int(parse_int(rest)?)),
        b'$' => {
            let n = parse_int(rest)?;
            if n < 0 {
                return Ok(Reply::Bulk(None));
            }
            let n = n as usize;
            let mut buf = vec![0u8; n.min(1 << 20)];
            // Grow as bytes arrive rather than trusting the length up front.
            let mut got = 0;
            while got < n {
                if buf.len() < n && got == buf.len() {
                    buf.resize((buf.len() * 2).min(n), 0);
                }
                let k = r.read(&mut buf[got..])?;
                if k == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside a bulk reply",
                    ));
                }
                got += k;
            }
            buf.truncate(n);
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf)?;
            if crlf != *b"\r\n" {
                return Err(bad("bulk not terminated by CRLF"));
            }
            Ok(Reply::Bulk(Some(buf)))
        }
        b'*' => {
            let n = parse_int(rest)?;
            if n < 0 {
                return Ok(Reply::Array(None));
            }
            let mut v = Vec::with_capacity((n as usize).min(1024));
            for _ in 0..n {
                v.push(read_reply_depth(r, line, depth + 1)?);
            }
            Ok(Reply::Array(Some(v)))
        }
        _ => Err(bad("unknown type byte")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_commands() {
        let mut v = Vec::new();
        command(&mut v, &[b"SET", b"k", b"v\r\n"]);
        assert_eq!(v, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n");
    }

    #[test]
    fn parses_replies() {
        let mut r = &b"+OK\r\n-BUSYKEY Target key name already exists.\r\n:42\r\n$4\r\na\r\nb\r\n$-1\r\n*2\r\n:1\r\n*1\r\n$0\r\n\r\n"[..];
        assert!(read_reply(&mut r).unwrap().is_ok());
        assert_eq!(
            read_reply(&mut r).unwrap(),
            Reply::Error("BUSYKEY Target key name already exists.".into())
        );
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Int(42));
        assert_eq!(
            read_reply(&mut r).unwrap(),
            Reply::Bulk(Some(b"a\r\nb".to_vec()))
        );
        assert_eq!(read_reply(&mut r).unwrap(), Reply::Bulk(None));
        let a = read_reply(&mut r).unwrap().into_array().unwrap();
        assert_eq!(a[0], Reply::Int(1));
        assert_eq!(a[1], Reply::Array(Some(vec![Reply::Bulk(Some(vec![]))])));
    }

    #[test]
    fn truncated_replies_are_errors() {
        for input in [
            &b"$5\r\nab"[..],
            b"*2\r\n:1\r\n",
            b"+OK",
            b":x\r\n",
            b"?\r\n",
        ] {
            let mut r = input;
            assert!(read_reply(&mut r).is_err(), "{input:?}");
        }
    }
}

#[cfg(test)]
mod asking_tests {
    use super::*;

    fn names(b: &[u8]) -> Vec<String> {
        let mut r = b;
        let mut out = Vec::new();
        while !r.is_empty() {
            match read_reply(&mut r).unwrap() {
                Reply::Array(Some(a)) => {
                    out.push(String::from_utf8_lossy(a[0].as_bytes().unwrap()).into_owned())
                }
                other => panic!("{other:?}"),
            }
        }
        out
    }

    #[test]
    fn asking_before_each_command_and_once_per_transaction() {
        let mut cmds = Vec::new();
        command(&mut cmds, &[b"RPUSH", b"k", b"a\r\nb"]);
        command(&mut cmds, &[b"PEXPIREAT", b"k", b"1"]);
        command(&mut cmds, &[b"MULTI"]);
        command(&mut cmds, &[b"DEL", b"k"]);
        command(&mut cmds, &[b"SET", b"k", b""]);
        command(&mut cmds, &[b"EXEC"]);
        let mut out = Vec::new();
        assert_eq!(with_asking(&cmds, &mut out, None), Some(9));
        assert_eq!(
            names(&out),
            [
                "ASKING",
                "RPUSH",
                "ASKING",
                "PEXPIREAT",
                "ASKING",
                "MULTI",
                "DEL",
                "SET",
                "EXEC"
            ]
        );
        assert_eq!(
            with_asking(b"*1\r\n$4\r\nPING", &mut Vec::new(), None),
            None
        );
        assert_eq!(with_asking(b"+OK\r\n", &mut Vec::new(), None), None);
        // A key built under a temporary name goes in place.
        let mut cmds = Vec::new();
        command(&mut cmds, &[b"DEL", b"t"]);
        command(&mut cmds, &[b"RPUSH", b"t", b"t"]);
        command(&mut cmds, &[b"XGROUP", b"CREATE", b"t", b"g", b"0"]);
        command(&mut cmds, &[b"RENAME", b"t", b"k"]);
        let mut out = Vec::new();
        assert_eq!(with_asking(&cmds, &mut out, Some((b"t", b"k"))), Some(6));
        let mut r = &out[..];
        let mut all = Vec::new();
        while !r.is_empty() {
            if let Reply::Array(Some(a)) = read_reply(&mut r).unwrap() {
                all.push(
                    a.iter()
                        .map(|x| String::from_utf8_lossy(x.as_bytes().unwrap()).into_owned())
                        .collect::<Vec<_>>()
                        .join(" "),
                );
            }
        }
        assert_eq!(
            all,
            [
                "ASKING",
                "DEL k",
                "ASKING",
                "RPUSH k t",
                "ASKING",
                "XGROUP CREATE k g 0"
            ]
        );
    }
}
