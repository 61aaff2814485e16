//! Replaying an AOF's commands into a standalone server after its base was
//! loaded. The commands are edits: they go as they are, in file order, with
//! no conflict policy (the policies decided the base's keys only).
//!
//! The file's own RESP bytes are sent unchanged (no re-encoding), pipelined
//! on one connection: this thread writes, a reader thread reads the replies
//! as they come, so the server is never waiting for us (as `redis-cli
//! --pipe` does). Each flushed block carries the offsets of its commands to
//! the reader, which names the offset of every error reply it reports.
//! `SELECT` is re-written with the mapped db; `MULTI ... EXEC` stays
//! together because the stream is sent in order on one connection.

use std::sync::mpsc;

use super::convert::select;
use super::source::Aof;
use super::walk::{walk, WalkError, Walked};
use crate::redis::resp::{read_reply, Reply};
use crate::redis::Conn;

/// How many error replies are kept with their offsets for the report.
pub const SHOWN_ERRORS: usize = 5;
const FLUSH_BYTES: usize = 256 << 10;

/// What happened to every command.
#[derive(Debug, Default, Clone)]
pub struct ReplaySummary {
    /// Sent and acknowledged without an error reply (SELECTs not counted).
    pub replayed: u64,
    /// Left out by `--db` (the command ran in a db not selected).
    pub filtered: u64,
    /// Answered with an error reply (inside `EXEC`: per failed command).
    pub failed: u64,
    pub walked: Walked,
    /// The first few errors: `FILE: byte offset N: COMMAND: error`.
    pub errors: Vec<String>,
}

/// Which source dbs are replayed, and where they go.
pub struct DbRules<'a> {
    /// Empty: every db.
    pub dbs: &'a [u64],
    pub map: &'a dyn Fn(u64) -> u64,
}

/// One sent command, for the reader: where it came from.
struct Sent {
    seg: usize,
    offset: u64,
    /// `SELECT`s are not counted as replayed commands.
    counted: bool,
}

/// Replays every command of `aof` on `conn`.
pub fn replay(aof: &Aof, conn: Conn, rules: &DbRules<'_>) -> Result<ReplaySummary, String> {
    let Conn {
        addr,
        mut reader,
        mut writer,
    } = conn;
    let names: Vec<String> = aof.segments.iter().map(|s| s.name.clone()).collect();
    let (tx, rx) = mpsc::sync_channel::<Vec<Sent>>(64);
    std::thread::scope(|s| {
        let read = s.spawn(move || read_replies(&mut reader, rx, &names));
        let mut st = ReplaySummary::default();
        let walked = send_all(aof, rules, &mut writer, tx, &mut st);
        let (replayed, failed, errors, io) = read.join().map_err(|_| "reader panicked")?;
        if let Some(e) = io {
            return Err(format!("{addr}: {e}"));
        }
        st.walked = walked.map_err(|e| format!("{addr}: {e}"))?;
        (st.replayed, st.failed, st.errors) = (replayed, failed, errors);
        Ok(st)
    })
}

fn send_all(
    aof: &Aof,
    rules: &DbRules<'_>,
    w: &mut crate::redis::conn::WriteHalf,
    tx: mpsc::SyncSender<Vec<Sent>>,
    st: &mut ReplaySummary,
) -> Result<Walked, WalkError<String>> {
    let mut buf = Vec::with_capacity(FLUSH_BYTES + 4096);
    let mut sent = Vec::new();
    let mut selected: Option<u64> = None;
    let mut flush = |buf: &mut Vec<u8>, sent: &mut Vec<Sent>| -> Result<(), String> {
        tx.send(std::mem::take(sent))
            .map_err(|_| "the reply reader stopped".to_string())?;
        w.write_all_timed(buf).map_err(|e| e.to_string())?;
        buf.clear();
        Ok(())
    };
    let walked = walk(aof, |c| {
        if !rules.dbs.is_empty() && !rules.dbs.contains(&c.db) {
            st.filtered += u64::from(!c.is(b"SELECT"));
            return Ok(());
        }
        let db = (rules.map)(c.db);
        if selected != Some(db) {
            select(&mut buf, db);
            sent.push(Sent {
                seg: c.seg,
                offset: c.offset,
                counted: false,
            });
            selected = Some(db);
        }
        if c.is(b"SELECT") {
            return Ok(());
        }
        buf.extend_from_slice(c.raw);
        sent.push(Sent {
            seg: c.seg,
            offset: c.offset,
            counted: true,
        });
        if buf.len() >= FLUSH_BYTES {
            flush(&mut buf, &mut sent)?;
        }
        Ok(())
    })?;
    flush(&mut buf, &mut sent).map_err(WalkError::Stop)?;
    drop(tx);
    Ok(walked)
}

type ReadResult = (u64, u64, Vec<String>, Option<String>);

/// Reads one reply per sent command; counts and keeps the first errors.
fn read_replies(
    r: &mut std::io::BufReader<crate::redis::conn::ReadHalf>,
    rx: mpsc::Receiver<Vec<Sent>>,
    names: &[String],
) -> ReadResult {
    let (mut ok, mut failed, mut errors) = (0u64, 0u64, Vec::new());
    let note = |s: &Sent, e: &str, errors: &mut Vec<String>| {
        if errors.len() < SHOWN_ERRORS {
            errors.push(format!("{}: byte offset {}: {e}", names[s.seg], s.offset));
        }
    };
    for batch in rx {
        for s in batch {
            let reply = match read_reply(r) {
                Ok(x) => x,
                Err(e) => {
                    return (
                        ok,
                        failed,
                        errors,
                        Some(crate::redis::conn::describe_io(&e)),
                    )
                }
            };
            let bad = errors_in(&reply);
            if bad.is_empty() {
                ok += u64::from(s.counted);
            } else {
                failed += bad.len() as u64;
                for e in bad {
                    note(&s, e, &mut errors);
                }
            }
        }
    }
    (ok, failed, errors, None)
}

/// The error replies in `r`: itself, or those inside an `EXEC` reply.
fn errors_in(r: &Reply) -> Vec<&str> {
    match r {
        Reply::Error(e) => vec![e.as_str()],
        Reply::Array(Some(a)) => a
            .iter()
            .filter_map(|x| match x {
                Reply::Error(e) => Some(e.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

impl ReplaySummary {
    /// Lines for the text summary.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "AOF commands: {} replayed, {} filtered out, {} failed, {} truncated\n",
            self.replayed,
            self.filtered,
            self.failed,
            u8::from(self.walked.truncated.is_some())
        );
        for e in &self.errors {
            s.push_str(&format!("  error: {e}\n"));
        }
        if let Some((f, off)) = &self.walked.truncated {
            s.push_str(&format!(
                "  the last command of {f} (byte offset {off}) is cut short: left out, as with aof-load-truncated yes\n"
            ));
        }
        s
    }

    /// `"aof":{...}`, a member for the load summary's JSON object.
    pub fn to_json_member(&self) -> String {
        let esc = |x: &str| serde_json::to_string(x).unwrap_or_default();
        let truncated = match &self.walked.truncated {
            Some((f, off)) => format!("{{\"file\":{},\"offset\":{off}}}", esc(f)),
            None => "null".into(),
        };
        let errors: Vec<String> = self.errors.iter().map(|e| esc(e)).collect();
        format!(
            "\"aof\":{{\"commands\":{},\"replayed\":{},\"filtered\":{},\"failed\":{},\"truncated\":{truncated},\"errors\":[{}]}}",
            self.walked.commands,
            self.replayed,
            self.filtered,
            self.failed,
            errors.join(",")
        )
    }
}
