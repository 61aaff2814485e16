//! A minimal blocking RESP2 client over `TcpStream` (binary-safe), and a
//! parser for RESP command streams (the output of `rdbkit resp`).

use std::io::{self, BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    /// `+...`
    Status(String),
    /// `-...`
    Error(String),
    /// `:...`
    Int(i64),
    /// `$...` (`None` for `$-1`)
    Bulk(Option<Vec<u8>>),
    /// `*...` (`None` for `*-1`)
    Array(Option<Vec<Reply>>),
}

impl Reply {
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    pub fn is_nil(&self) -> bool {
        matches!(self, Reply::Bulk(None) | Reply::Array(None))
    }

    /// Bytes of a bulk or status reply; panics otherwise.
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Reply::Bulk(Some(b)) => b.clone(),
            Reply::Status(s) => s.as_bytes().to_vec(),
            other => panic!("expected a bulk/status reply, got {other:?}"),
        }
    }

    /// A bulk or status reply as (lossy) text; panics otherwise.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    /// An integer reply; panics otherwise.
    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(i) => *i,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    /// An integer reply, `None` for a nil; panics otherwise.
    pub fn opt_int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            Reply::Bulk(None) | Reply::Array(None) => None,
            other => panic!("expected an integer or nil reply, got {other:?}"),
        }
    }

    /// The elements of an array reply (nil array = empty); panics otherwise.
    pub fn array(&self) -> &[Reply] {
        match self {
            Reply::Array(Some(a)) => a,
            Reply::Array(None) => &[],
            other => panic!("expected an array reply, got {other:?}"),
        }
    }

    /// A flat `[name, value, name, value, ...]` array reply as pairs.
    pub fn pairs(&self) -> Vec<(String, Reply)> {
        let a = self.array();
        assert!(a.len() % 2 == 0, "odd-length map reply: {self:?}");
        a.chunks(2).map(|c| (c[0].text(), c[1].clone())).collect()
    }

    /// Looks up `name` in a flat map reply.
    pub fn field(&self, name: &str) -> Reply {
        self.pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no field {name:?} in {self:?}"))
    }

    /// Same as [`Reply::field`] but `None` when absent.
    pub fn opt_field(&self, name: &str) -> Option<Reply> {
        self.pairs()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// A blocking connection.
pub struct Conn {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

/// Encodes one command as a RESP array of bulk strings.
pub fn encode<I, T>(args: I) -> Vec<u8>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    let args: Vec<T> = args.into_iter().collect();
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in &args {
        let a = a.as_ref();
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

impl Conn {
    pub fn connect(port: u16) -> io::Result<Conn> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        s.set_nodelay(true)?;
        Ok(Conn {
            r: BufReader::with_capacity(1 << 16, s.try_clone()?),
            w: s,
        })
    }

    /// Connects and authenticates (AUTH password) when a password is given.
    pub fn connect_auth(port: u16, password: Option<&str>) -> io::Result<Conn> {
        let mut c = Conn::connect(port)?;
        if let Some(p) = password {
            let r = c.try_cmd(["AUTH", p])?;
            if r != Reply::Status("OK".into()) {
                return Err(io::Error::other(format!("AUTH failed: {r:?}")));
            }
        }
        Ok(c)
    }

    pub fn send<I, T>(&mut self, args: I) -> io::Result<()>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.w.write_all(&encode(args))
    }

    pub fn read_reply(&mut self) -> io::Result<Reply> {
        read_reply(&mut self.r)
    }

    pub fn try_cmd<I, T>(&mut self, args: I) -> io::Result<Reply>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.send(args)?;
        self.read_reply()
    }

    /// Sends a command and returns its reply (error replies included);
    /// panics on I/O errors.
    pub fn cmd<I, T>(&mut self, args: I) -> Reply
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let args: Vec<Vec<u8>> = args.into_iter().map(|a| a.as_ref().to_vec()).collect();
        self.try_cmd(&args).unwrap_or_else(|e| {
            panic!(
                "I/O error on {:?}: {e}",
                args.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
            )
        })
    }

    /// Like [`Conn::cmd`], but panics on an error reply.
    pub fn must<I, T>(&mut self, args: I) -> Reply
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let args: Vec<Vec<u8>> = args.into_iter().map(|a| a.as_ref().to_vec()).collect();
        let r = self.cmd(&args);
        if let Reply::Error(e) = &r {
            panic!(
                "{:?} failed: {e}",
                args.iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
            );
        }
        r
    }

    /// A command that must answer `+OK`.
    pub fn ok<I, T>(&mut self, args: I)
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let r = self.must(args);
        assert_eq!(r, Reply::Status("OK".into()), "expected +OK");
    }

    pub fn int<I, T>(&mut self, args: I) -> i64
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        self.must(args).int()
    }

    /// `GET`-like: the bulk reply, `None` for nil.
    pub fn bulk<I, T>(&mut self, args: I) -> Option<Vec<u8>>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        match self.must(args) {
            Reply::Bulk(b) => b,
            other => panic!("expected a bulk reply, got {other:?}"),
        }
    }

    /// `INFO section` parsed into `(name, value)` lines.
    pub fn info(&mut self, section: &str) -> Vec<(String, String)> {
        let text = self.must(["INFO", section]).text();
        text.lines()
            .filter(|l| !l.starts_with('#') && l.contains(':'))
            .map(|l| {
                let (a, b) = l.split_once(':').unwrap();
                (a.trim().to_string(), b.trim().to_string())
            })
            .collect()
    }

    pub fn info_field(&mut self, section: &str, name: &str) -> Option<String> {
        self.info(section)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

fn read_line<R: BufRead>(r: &mut R) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    if !line.ends_with(b"\r\n") {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "reply line without CRLF: {:?}",
                String::from_utf8_lossy(&line)
            ),
        ));
    }
    line.truncate(line.len() - 2);
    Ok(line)
}

fn parse_int(b: &[u8]) -> io::Result<i64> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad integer {:?}", String::from_utf8_lossy(b)),
            )
        })
}

/// Reads one reply (binary-safe).
pub fn read_reply<R: BufRead>(r: &mut R) -> io::Result<Reply> {
    let line = read_line(r)?;
    let (&t, rest) = line
        .split_first()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "empty reply line"))?;
    Ok(match t {
        b'+' => Reply::Status(String::from_utf8_lossy(rest).into_owned()),
        b'-' => Reply::Error(String::from_utf8_lossy(rest).into_owned()),
        b':' => Reply::Int(parse_int(rest)?),
        b'$' => {
            let n = parse_int(rest)?;
            if n < 0 {
                Reply::Bulk(None)
            } else {
                let mut buf = vec![0u8; n as usize + 2];
                r.read_exact(&mut buf)?;
                if !buf.ends_with(b"\r\n") {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "bulk string not followed by CRLF",
                    ));
                }
                buf.truncate(n as usize);
                Reply::Bulk(Some(buf))
            }
        }
        b'*' => {
            let n = parse_int(rest)?;
            if n < 0 {
                Reply::Array(None)
            } else {
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(read_reply(r)?);
                }
                Reply::Array(Some(v))
            }
        }
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown reply type byte {:?}", other as char),
            ))
        }
    })
}

/// One command of a RESP command stream: its arguments.
pub type Command = Vec<Vec<u8>>;

/// Parses a RESP command stream: a sequence of arrays of bulk strings and
/// nothing else. Returns the commands or a message naming the byte offset of
/// the first problem.
pub fn parse_command_stream(data: &[u8]) -> Result<Vec<Command>, String> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let line = |pos: &mut usize| -> Result<&[u8], String> {
        let start = *pos;
        let rel = data[start..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| format!("offset {start}: no CRLF"))?;
        *pos = start + rel + 2;
        Ok(&data[start..start + rel])
    };
    while pos < data.len() {
        let at = pos;
        let l = line(&mut pos)?;
        let n = l
            .strip_prefix(b"*")
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(|| {
                format!(
                    "offset {at}: expected '*<count>', got {:?}",
                    String::from_utf8_lossy(&l[..l.len().min(40)])
                )
            })?;
        if n == 0 {
            return Err(format!("offset {at}: empty command array"));
        }
        let mut cmd = Vec::with_capacity(n);
        for _ in 0..n {
            let at = pos;
            let l = line(&mut pos)?;
            let len = l
                .strip_prefix(b"$")
                .and_then(|n| std::str::from_utf8(n).ok())
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| {
                    format!(
                        "offset {at}: expected '$<len>', got {:?}",
                        String::from_utf8_lossy(&l[..l.len().min(40)])
                    )
                })?;
            if pos + len + 2 > data.len() || &data[pos + len..pos + len + 2] != b"\r\n" {
                return Err(format!(
                    "offset {pos}: bulk of {len} bytes not followed by CRLF"
                ));
            }
            cmd.push(data[pos..pos + len].to_vec());
            pos += len + 2;
        }
        out.push(cmd);
    }
    Ok(out)
}

/// The command name of a parsed command, upper-cased (`FUNCTION RESTORE`
/// for the two-word function command).
pub fn command_name(c: &Command) -> String {
    let first = String::from_utf8_lossy(&c[0]).to_ascii_uppercase();
    if first == "FUNCTION" && c.len() > 1 {
        format!(
            "FUNCTION {}",
            String::from_utf8_lossy(&c[1]).to_ascii_uppercase()
        )
    } else {
        first
    }
}
