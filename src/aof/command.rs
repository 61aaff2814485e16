//! Reading the RESP commands of an AOF (`*N\r\n$LEN\r\nARG\r\n...`), with
//! their byte offsets, in bounded memory (arguments borrow the mapped file).
//! A command cut short by the end of the file is reported as
//! [`Next::Truncated`] (what `aof-load-truncated yes` tolerates); anything
//! else that is not a command is an error naming its offset.

/// One step of the reader.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<'a> {
    Command {
        offset: u64,
        args: Vec<&'a [u8]>,
    },
    /// The file ends inside the command that starts at `offset`.
    Truncated {
        offset: u64,
    },
    End,
}

/// A reader over the commands of `data` (which starts at file offset `base`).
pub struct Commands<'a> {
    data: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Commands<'a> {
    pub fn new(data: &'a [u8], base: u64) -> Self {
        Commands { data, pos: 0, base }
    }

    /// Where the next command starts, in `data`.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The next command; `Err` names the offset of bad bytes. Annotation
    /// lines (`#TS:...` with `aof-timestamp-enabled`) are skipped, as the
    /// server's loader skips them.
    pub fn next_command(&mut self) -> Result<Next<'a>, String> {
        while self.data.get(self.pos) == Some(&b'#') {
            match self.data[self.pos..].iter().position(|b| *b == b'\n') {
                Some(nl) => self.pos += nl + 1,
                None => self.pos = self.data.len(),
            }
        }
        let start = self.pos;
        if start >= self.data.len() {
            return Ok(Next::End);
        }
        let offset = self.base + start as u64;
        match self.parse(start) {
            Ok(Some((args, end))) => {
                self.pos = end;
                Ok(Next::Command { offset, args })
            }
            Ok(None) => {
                self.pos = self.data.len();
                Ok(Next::Truncated { offset })
            }
            Err((at, why)) => Err(format!(
                "AOF byte offset {}: {why} (in the command at offset {offset})",
                self.base + at as u64
            )),
        }
    }

    /// `Ok(None)`: the data ends before the command does.
    #[allow(clippy::type_complexity)]
    fn parse(&self, mut p: usize) -> Result<Option<(Vec<&'a [u8]>, usize)>, (usize, &'static str)> {
        let d = self.data;
        if d[p] != b'*' {
            return Err((p, "expected '*' (a RESP array)"));
        }
        let Some((n, next)) = number(d, p + 1)? else {
            return Ok(None);
        };
        if n < 1 {
            return Err((p, "empty command"));
        }
        p = next;
        // Each argument takes at least 4 bytes: a count beyond what is left is damage.
        if n as usize > (d.len() - p) / 4 + 1 {
            return Ok(None);
        }
        let mut args = Vec::with_capacity(n as usize);
        for _ in 0..n {
            if p >= d.len() {
                return Ok(None);
            }
            if d[p] != b'$' {
                return Err((p, "expected '$' (a bulk string)"));
            }
            let Some((len, next)) = number(d, p + 1)? else {
                return Ok(None);
            };
            let len = usize::try_from(len).map_err(|_| (p, "negative length"))?;
            let end = next.checked_add(len).ok_or((p, "length too large"))?;
            if end + 2 > d.len() {
                return Ok(None);
            }
            if &d[end..end + 2] != b"\r\n" {
                return Err((end, "bulk string not followed by CRLF"));
            }
            args.push(&d[next..end]);
            p = end + 2;
        }
        Ok(Some((args, p)))
    }
}

/// A decimal number ending in CRLF at `p`; `Ok(None)` if the data ends first.
fn number(d: &[u8], p: usize) -> Result<Option<(i64, usize)>, (usize, &'static str)> {
    let Some(cr) = d[p.min(d.len())..]
        .iter()
        .take(21)
        .position(|b| *b == b'\r')
    else {
        return if d.len() - p.min(d.len()) < 21 {
            Ok(None)
        } else {
            Err((p, "bad number"))
        };
    };
    let end = p + cr;
    if end + 1 >= d.len() {
        return Ok(None);
    }
    if d[end + 1] != b'\n' {
        return Err((end, "expected CRLF"));
    }
    let n = std::str::from_utf8(&d[p..end])
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .ok_or((p, "bad number"))?;
    Ok(Some((n, end + 2)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_offsets_and_a_truncated_tail() {
        let data = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nv\n\r\n*2\r\n$3\r\nDEL";
        let mut c = Commands::new(data, 100);
        assert_eq!(
            c.next_command().unwrap(),
            Next::Command {
                offset: 100,
                args: vec![&b"SELECT"[..], b"0"]
            }
        );
        let Next::Command { offset, args } = c.next_command().unwrap() else {
            panic!()
        };
        assert_eq!((offset, args), (123, vec![&b"SET"[..], b"k", b"v\n"]));
        assert!(matches!(c.next_command().unwrap(), Next::Truncated { .. }));
        assert_eq!(c.next_command().unwrap(), Next::End);
        // Every cut of a whole command is a truncation, never an error.
        let whole = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nvv\r\n";
        for cut in 1..whole.len() {
            let mut c = Commands::new(&whole[..cut], 0);
            assert_eq!(
                c.next_command().unwrap(),
                Next::Truncated { offset: 0 },
                "{cut}"
            );
        }
        let mut c = Commands::new(b"*1\r\n#3\r\nabc\r\n", 0);
        assert!(c.next_command().unwrap_err().contains("offset 4"));
        let mut c = Commands::new(b"hello", 0);
        assert!(c.next_command().is_err());
    }
}
