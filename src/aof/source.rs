//! Recognising an append-only file by its content and opening every part of
//! it: a single `appendonly.aof` (RESP commands, or an RDB preamble followed
//! by commands, as Redis 4–6 write it with `aof-use-rdb-preamble yes`), or a
//! Redis 7+ `appendonlydir/` (or its manifest) naming a base file and the
//! incremental files replayed after it.
//!
//! A plain RDB is recognised as such without walking it: a file that starts
//! with the `REDIS` magic and ends the way an RDB ends (the EOF opcode `0xff`
//! nine bytes before the end, followed by the CRC-64, or as the last byte
//! before RDB 5) is an RDB. Anything else that starts with the magic is
//! walked to its EOF opcode: bytes after the trailer make it a preamble AOF.
//! (A preamble AOF whose last command happens to put `0xff` nine bytes from
//! the end and is cut short is the one shape this reads as an RDB.)

use std::path::{Path, PathBuf};

use crate::input::Input;
use crate::rdb::records::{Item, ParseOptions, Parser};

/// What the bytes of one file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An RDB snapshot (or something that is neither of the others: the
    /// RDB path reports what is wrong with it).
    Rdb,
    /// An RDB whose trailer ends at `rdb_end`, followed by RESP commands.
    Preamble { rdb_end: usize },
    /// RESP commands only.
    Resp,
    /// A Redis 7+ manifest (`file NAME seq N type b|h|i` lines).
    Manifest,
}

/// One file of an AOF: `data[..rdb_end]` is an RDB (empty when `rdb_end`
/// is 0), `data[rdb_end..]` are commands.
pub struct Segment {
    /// The path as the user will recognise it in messages.
    pub name: String,
    pub input: Input,
    pub rdb_end: usize,
}

impl Segment {
    /// The RDB part, if the file has one.
    pub fn rdb(&self) -> Option<&[u8]> {
        (self.rdb_end > 0).then(|| &self.input[..self.rdb_end])
    }

    /// The RESP commands after the RDB part.
    pub fn commands(&self) -> &[u8] {
        &self.input[self.rdb_end..]
    }
}

/// An AOF: its segments in replay order (the base first).
pub struct Aof {
    pub segments: Vec<Segment>,
}

/// What an input path turned out to be.
pub enum Opened {
    Rdb(Input),
    Aof(Aof),
}

impl Opened {
    /// The RDB to convert or load the usual way: the whole input of an RDB,
    /// the base's RDB part of an AOF (none for a RESP base).
    pub fn base(&self) -> Option<(&Input, &[u8])> {
        match self {
            Opened::Rdb(i) => Some((i, &i[..])),
            Opened::Aof(a) => a.segments.first().and_then(|s| Some((&s.input, s.rdb()?))),
        }
    }

    pub fn aof(&self) -> Option<&Aof> {
        match self {
            Opened::Aof(a) => Some(a),
            Opened::Rdb(_) => None,
        }
    }
}

/// Classifies a file's bytes.
pub fn sniff(data: &[u8]) -> Kind {
    if data.starts_with(b"REDIS") {
        return match preamble_end(data) {
            Some(end) => Kind::Preamble { rdb_end: end },
            None => Kind::Rdb,
        };
    }
    if data.first() == Some(&b'*') {
        return Kind::Resp;
    }
    let text = data.iter().position(|b| !b.is_ascii_whitespace());
    if text.is_some_and(|i| data[i..].starts_with(b"file ")) {
        return Kind::Manifest;
    }
    Kind::Rdb
}

/// Where the RDB part ends when commands follow it; `None` for a plain RDB
/// (or one too damaged to walk: the RDB path then reports the damage).
fn preamble_end(data: &[u8]) -> Option<usize> {
    let n = data.len();
    let ends_like_rdb = (n >= 9 && data[n - 9] == 0xff) || data.last() == Some(&0xff);
    if ends_like_rdb && !data.ends_with(b"\r\n") {
        return None;
    }
    let opts = ParseOptions {
        verify_checksum: false,
    };
    let mut p = Parser::new(data, opts).ok()?;
    loop {
        match p.next_item() {
            Ok(Some(Item::Eof { trailing, .. })) if trailing > 0 => {
                let end = n - trailing;
                return (data[end] == b'*' || data[end] == b'#').then_some(end);
            }
            Ok(Some(Item::Eof { .. })) | Ok(None) | Err(_) => return None,
            Ok(Some(_)) => {}
        }
    }
}

/// Opens `path`: a directory holding a manifest, a manifest, a single AOF,
/// or an RDB. `open_file` opens one file (decompressing it if needed) and
/// may refuse an empty one; incremental files are opened with
/// `open_part`, which must accept an empty file (Redis creates an empty
/// incremental file at every rewrite).
pub fn open(
    path: &Path,
    open_file: &dyn Fn(&Path) -> Result<Input, String>,
    open_part: &dyn Fn(&Path) -> Result<Input, String>,
) -> Result<Opened, String> {
    if path.is_dir() {
        let manifest = find_manifest(path)?;
        let text = std::fs::read(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
        return open_manifest(&manifest, &text, path, open_part).map(Opened::Aof);
    }
    from_input(path, open_file(path)?, open_part)
}

/// What the already opened `input` (read from `path`) is.
pub fn from_input(
    path: &Path,
    input: Input,
    open_part: &dyn Fn(&Path) -> Result<Input, String>,
) -> Result<Opened, String> {
    let name = path.display().to_string();
    match sniff(&input) {
        Kind::Rdb => Ok(Opened::Rdb(input)),
        Kind::Preamble { rdb_end } => Ok(single(name, input, rdb_end)),
        Kind::Resp => Ok(single(name, input, 0)),
        Kind::Manifest => {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            let dir = dir.unwrap_or(Path::new("."));
            open_manifest(path, &input, dir, open_part).map(Opened::Aof)
        }
    }
}

/// The AOF whose RDB preamble ends at `rdb_end` of `input` (the commands
/// follow: a `*` or a `#` annotation), or `None` when nothing or something
/// else follows. Reads nothing before `rdb_end`.
pub fn preamble_at(path: &Path, input: Input, rdb_end: usize) -> Option<Aof> {
    let next = *input.get(rdb_end)?;
    if next != b'*' && next != b'#' {
        return None;
    }
    match single(path.display().to_string(), input, rdb_end) {
        Opened::Aof(a) => Some(a),
        Opened::Rdb(_) => None,
    }
}

fn single(name: String, input: Input, rdb_end: usize) -> Opened {
    Opened::Aof(Aof {
        segments: vec![Segment {
            name,
            input,
            rdb_end,
        }],
    })
}

/// The one `*.manifest` file in `dir` (Redis names it
/// `<appendfilename>.manifest`).
fn find_manifest(dir: &Path) -> Result<PathBuf, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut found: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "manifest") && p.is_file())
        .collect();
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(format!(
            "{}: a directory without an AOF manifest (*.manifest)",
            dir.display()
        )),
        _ => Err(format!(
            "{}: several AOF manifests; name the one to read",
            dir.display()
        )),
    }
}

fn open_manifest(
    manifest: &Path,
    text: &[u8],
    dir: &Path,
    open_part: &dyn Fn(&Path) -> Result<Input, String>,
) -> Result<Aof, String> {
    let text = std::str::from_utf8(text)
        .map_err(|_| format!("{}: the manifest is not text", manifest.display()))?;
    let m = super::manifest::parse(text).map_err(|e| format!("{}: {e}", manifest.display()))?;
    let mut segments = Vec::new();
    for (i, name) in m.base.iter().chain(&m.incr).enumerate() {
        let path = dir.join(name);
        let input = open_part(&path)?;
        let shown = path.display().to_string();
        let rdb_end = match sniff(&input) {
            Kind::Rdb if input.is_empty() => 0,
            Kind::Rdb if i == 0 && m.base.is_some() => input.len(),
            Kind::Preamble { rdb_end } if i == 0 && m.base.is_some() => rdb_end,
            Kind::Resp => 0,
            _ => {
                return Err(format!(
                    "{shown}: not a RESP AOF file (named by the manifest)"
                ))
            }
        };
        segments.push(Segment {
            name: shown,
            input,
            rdb_end,
        });
    }
    Ok(Aof { segments })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_content() {
        assert_eq!(sniff(b"*1\r\n$4\r\nPING\r\n"), Kind::Resp);
        assert_eq!(sniff(b"file a.rdb seq 1 type b\n"), Kind::Manifest);
        assert_eq!(sniff(b"garbage"), Kind::Rdb);
        // An empty RDB 9 (header, EOF, no checksum) with commands after it.
        let mut d = b"REDIS0009\xff\0\0\0\0\0\0\0\0".to_vec();
        assert_eq!(sniff(&d), Kind::Rdb);
        d.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(sniff(&d), Kind::Preamble { rdb_end: 18 });
    }
}
