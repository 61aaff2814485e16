//! The commands of an AOF as `json`, `stats` and `resp` write them, after
//! the base's keys (which go through the usual RDB converters).
//!
//! - JSON: one line per command, `{"db":0,"command":["SET","k","v"]}`, each
//!   argument a byte string written as keys are (a JSON string when it is
//!   UTF-8, else `{"b64":...}`). `SELECT` is not a line of its own: it
//!   changes the `db` of the lines after it. With `meta`, each line also
//!   names its `file` and byte `offset` there (to find it with a hex editor
//!   or cut the AOF at it).
//! - stats: command counts by upper-cased name (`SELECT` included).
//! - RESP: each command's bytes exactly as the file holds them; `SELECT`
//!   re-written with the mapped db, and a `SELECT` of the first command's db
//!   written first, since the base's RESTOREs may have left another db
//!   selected.

use std::collections::BTreeMap;
use std::io::Write;

use super::source::Aof;
use super::walk::{walk, Cmd, WalkError, Walked};
use crate::sink::jsonfmt::{write_bytes, write_str, write_u64};

/// Writes one JSON line per command.
pub fn write_json<W: Write>(
    aof: &Aof,
    meta: bool,
    w: &mut W,
) -> Result<Walked, WalkError<std::io::Error>> {
    let mut buf = Vec::with_capacity(1 << 16);
    let r = walk(aof, |c| {
        if c.is(b"SELECT") {
            return Ok(());
        }
        json_line(&mut buf, c, meta.then(|| aof.segments[c.seg].name.as_str()));
        if buf.len() >= 1 << 16 {
            w.write_all(&buf)?;
            buf.clear();
        }
        Ok(())
    })?;
    w.write_all(&buf).map_err(WalkError::Stop)?;
    Ok(r)
}

fn json_line(out: &mut Vec<u8>, c: &Cmd<'_>, file: Option<&str>) {
    out.extend_from_slice(b"{\"db\":");
    write_u64(out, c.db);
    out.extend_from_slice(b",\"command\":[");
    for (i, a) in c.args.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_bytes(out, a);
    }
    out.push(b']');
    if let Some(f) = file {
        out.extend_from_slice(b",\"file\":");
        write_str(out, f.as_bytes());
        out.extend_from_slice(b",\"offset\":");
        write_u64(out, c.offset);
    }
    out.extend_from_slice(b"}\n");
}

/// Command counts by name.
#[derive(Debug, Default, Clone)]
pub struct CommandStats {
    pub by_name: BTreeMap<String, u64>,
    pub walked: Walked,
}

/// Counts the commands of `aof` by name.
pub fn count(aof: &Aof) -> Result<CommandStats, String> {
    let mut by_name = BTreeMap::new();
    let walked = walk(aof, |c| {
        *by_name.entry(c.name()).or_insert(0u64) += 1;
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|e| e.to_string())?;
    Ok(CommandStats { by_name, walked })
}

impl CommandStats {
    /// The counts as text lines, appended to the base's stats.
    pub fn to_text(&self) -> String {
        let mut s = format!("\nAOF commands: {}\n", self.walked.commands);
        for (name, n) in &self.by_name {
            s.push_str(&format!("  {name:<20} {n}\n"));
        }
        if let Some((file, off)) = &self.walked.truncated {
            s.push_str(&format!(
                "  truncated last command at byte offset {off} of {file} (left out)\n"
            ));
        }
        s
    }

    /// `"aof":{"commands":N,"by_name":{...},"truncated":...}` (a JSON
    /// member, to put into the base's stats object).
    pub fn to_json_member(&self) -> Vec<u8> {
        let mut o = b"\"aof\":{\"commands\":".to_vec();
        write_u64(&mut o, self.walked.commands);
        o.extend_from_slice(b",\"by_name\":{");
        for (i, (name, n)) in self.by_name.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            write_str(&mut o, name.as_bytes());
            o.push(b':');
            write_u64(&mut o, *n);
        }
        o.extend_from_slice(b"},\"truncated\":");
        match &self.walked.truncated {
            Some((file, off)) => {
                o.extend_from_slice(b"{\"file\":");
                write_str(&mut o, file.as_bytes());
                o.extend_from_slice(b",\"offset\":");
                write_u64(&mut o, *off);
                o.push(b'}');
            }
            None => o.extend_from_slice(b"null"),
        }
        o.push(b'}');
        o
    }
}

/// Writes the commands as RESP, `SELECT`s mapped by `map_db`.
pub fn write_resp<W: Write>(
    aof: &Aof,
    map_db: &dyn Fn(u64) -> u64,
    w: &mut W,
) -> Result<Walked, WalkError<std::io::Error>> {
    let mut buf = Vec::with_capacity(1 << 16);
    let mut selected: Option<u64> = None;
    let r = walk(aof, |c| {
        let db = map_db(c.db);
        if c.is(b"SELECT") || selected != Some(db) {
            if selected != Some(db) {
                select(&mut buf, db);
                selected = Some(db);
            }
            if c.is(b"SELECT") {
                return Ok(());
            }
        }
        buf.extend_from_slice(&c.raw);
        if buf.len() >= 1 << 16 {
            w.write_all(&buf)?;
            buf.clear();
        }
        Ok(())
    })?;
    w.write_all(&buf).map_err(WalkError::Stop)?;
    Ok(r)
}

/// `SELECT db` in RESP.
pub fn select(out: &mut Vec<u8>, db: u64) {
    let n = db.to_string();
    out.extend_from_slice(format!("*2\r\n$6\r\nSELECT\r\n${}\r\n{n}\r\n", n.len()).as_bytes());
}
