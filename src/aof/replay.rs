//! Replaying an AOF's commands into a standalone server after its base was
//! loaded (into a cluster: [`super::cluster`]). The commands are edits:
//! they go as they are, in file order, with no conflict policy (the
//! policies decided the base's keys only).
//!
//! The file's own RESP bytes are sent unchanged (no re-encoding), pipelined
//! on one connection: this thread writes, a reader thread reads the replies
//! as they come, so the server is never waiting for us (as `redis-cli
//! --pipe` does). Each flushed block carries the offsets of its commands to
//! the reader, which names the offset of every error reply it reports.
//! `SELECT` is re-written with the mapped db; `MULTI ... EXEC` stays
//! together because the stream is sent in order on one connection.
//!
//! A replay that stops part-way (a lost connection, damage in the AOF)
//! still returns its [`ReplaySummary`]: every command is accounted for as
//! replayed, filtered, failed, unanswered (sent, no reply: it may or may
//! not have run) or not sent, with the offset of the first command whose
//! fate is unknown.

use std::sync::mpsc;

use super::convert::select;
use super::route::{classify, KeyFinder, Rules, Verdict};
use super::source::Aof;
use super::walk::{walk, Cmd, WalkError, Walked};
use crate::redis::resp::{read_reply, Reply};
use crate::redis::Conn;

/// How many error replies are kept with their offsets for the report.
pub const SHOWN_ERRORS: usize = 5;
pub(crate) const FLUSH_BYTES: usize = 256 << 10;

/// Why a replay stopped before the end, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub reason: String,
    /// The first command whose fate is unknown (file, byte offset).
    pub at: Option<(String, u64)>,
}

/// What happened to every command (`SELECT`s aside, which are not counted).
#[derive(Debug, Default, Clone)]
pub struct ReplaySummary {
    /// Commands in the AOF (`SELECT`s not counted): the sum of the five
    /// counts below.
    pub commands: u64,
    /// Sent and acknowledged without an error reply.
    pub replayed: u64,
    /// Left out by `--db` or the key filters (and the `MULTI`/`EXEC` of a
    /// split transaction).
    pub filtered: u64,
    /// Answered with an error reply (inside `EXEC`: per failed command; a
    /// transaction the server aborted: each of its commands).
    pub failed: u64,
    /// Sent, but the connection ended before the reply came.
    pub unanswered: u64,
    /// Never sent: the replay stopped before them.
    pub not_sent: u64,
    /// Cross-slot transactions sent as separate commands.
    pub split: u64,
    /// Cross-slot commands (MSET, DEL...) sent as one command per slot.
    pub per_slot: u64,
    pub walked: Walked,
    /// The first few errors: `FILE: byte offset N: error`.
    pub errors: Vec<String>,
    pub stopped: Option<Stop>,
}

/// Which role a sent command plays for the reply count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// Not counted (a `SELECT` written by us, an `ASKING`).
    Ours,
    Plain,
    Multi,
    Exec,
}

/// One sent command, for the reply reader: where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub seg: usize,
    pub offset: u64,
    pub role: Role,
}

impl Sent {
    pub fn of(c: &Cmd<'_>) -> Sent {
        let role = if c.is(b"MULTI") {
            Role::Multi
        } else if c.is(b"EXEC") {
            Role::Exec
        } else {
            Role::Plain
        };
        Sent {
            seg: c.seg,
            offset: c.offset,
            role,
        }
    }
}

/// Reply counts. Inside `MULTI` a `QUEUED` counts as replayed until the
/// `EXEC` reply says otherwise.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    pub ok: u64,
    pub failed: u64,
    pub errors: Vec<String>,
    in_multi: bool,
    queued: u64,
}

impl Tally {
    pub fn add(&mut self, s: &Sent, r: &Reply, names: &[String]) {
        let note = |e: &str, errors: &mut Vec<String>| {
            if errors.len() < SHOWN_ERRORS {
                errors.push(format!("{}: byte offset {}: {e}", names[s.seg], s.offset));
            }
        };
        match (s.role, r) {
            (Role::Ours, Reply::Error(e)) => note(e, &mut self.errors),
            (Role::Ours, _) => {}
            (Role::Exec, Reply::Array(Some(a))) => {
                let bad: Vec<&str> = a
                    .iter()
                    .filter_map(|x| match x {
                        Reply::Error(e) => Some(e.as_str()),
                        _ => None,
                    })
                    .collect();
                let n = (bad.len() as u64).min(self.queued);
                self.ok = self.ok - n + 1;
                self.failed += n;
                bad.iter().for_each(|e| note(e, &mut self.errors));
                self.in_multi = false;
            }
            (Role::Exec, Reply::Error(e)) => {
                // EXECABORT: none of the queued commands ran.
                self.ok -= self.queued;
                self.failed += self.queued + 1;
                note(e, &mut self.errors);
                self.in_multi = false;
            }
            (_, Reply::Error(e)) => {
                self.failed += 1;
                note(e, &mut self.errors);
            }
            (role, _) => {
                self.ok += 1;
                if role == Role::Multi {
                    (self.in_multi, self.queued) = (true, 0);
                } else if self.in_multi && role == Role::Plain {
                    self.queued += 1;
                } else if role == Role::Exec {
                    self.in_multi = false;
                }
            }
        }
    }

    /// The connection ended: a transaction left open never ran. Returns
    /// how many counted commands that takes back (they are unanswered).
    pub fn cut(&mut self) -> u64 {
        if !self.in_multi {
            return 0;
        }
        self.in_multi = false;
        let n = self.queued + 1; // the MULTI too
        self.ok -= n;
        n
    }
}

/// Replays every command of `aof` on `conn`. `keys` finds commands' keys
/// when key filters apply (the rules were checked by `route::check`).
pub fn replay(
    aof: &Aof,
    conn: Conn,
    rules: &Rules<'_>,
    keys: Option<&mut KeyFinder>,
) -> ReplaySummary {
    let Conn {
        addr,
        mut reader,
        mut writer,
    } = conn;
    let names: Vec<String> = aof.segments.iter().map(|s| s.name.clone()).collect();
    let (tx, rx) = mpsc::sync_channel::<Vec<Sent>>(64);
    let mut st = ReplaySummary::default();
    std::thread::scope(|s| {
        let names = &names;
        let read = s.spawn(move || read_replies(&mut reader, rx, names));
        let mut out = Out::default();
        let walked = send_all(aof, rules, keys, &mut writer, tx, &mut st, &mut out);
        let r = read.join().unwrap_or_else(|_| Read {
            io: Some("the reply reader panicked".into()),
            ..Read::default()
        });
        let mut t = r.tally;
        st.filtered += r.open_multi;
        st.unanswered = out.counted.saturating_sub(t.ok + t.failed + r.open_multi);
        (st.replayed, st.failed, st.errors) = (t.ok, t.failed, std::mem::take(&mut t.errors));
        let at = |(seg, off): (usize, u64)| (names[seg].clone(), off);
        st.stopped = match (walked, r.io) {
            (Ok(w), None) => {
                st.walked = w;
                None
            }
            (_, Some(e)) => Some(Stop {
                reason: format!("{addr}: {e}"),
                at: r.waiting.or(out.failed_at).map(at),
            }),
            (Err(WalkError::Stop(e)), None) => Some(Stop {
                reason: format!("{addr}: {e}"),
                at: out.failed_at.map(at),
            }),
            (Err(WalkError::Bad(m)), None) => Some(Stop {
                reason: m,
                at: None,
            }),
        };
    });
    st.finish(aof);
    st
}

/// What the writer sent.
#[derive(Default)]
struct Out {
    /// Counted commands handed to the connection.
    counted: u64,
    /// The command being written when the connection failed.
    failed_at: Option<(usize, u64)>,
}

fn send_all(
    aof: &Aof,
    rules: &Rules<'_>,
    keys: Option<&mut KeyFinder>,
    w: &mut crate::redis::conn::WriteHalf,
    tx: mpsc::SyncSender<Vec<Sent>>,
    st: &mut ReplaySummary,
    out: &mut Out,
) -> Result<Walked, WalkError<String>> {
    let mut buf = Vec::with_capacity(FLUSH_BYTES + 4096);
    let mut sent: Vec<Sent> = Vec::new();
    let mut selected: Option<u64> = None;
    let mut flush =
        |buf: &mut Vec<u8>, sent: &mut Vec<Sent>, out: &mut Out| -> Result<(), String> {
            let first = sent.first().map(|s| (s.seg, s.offset));
            let counted = sent.iter().filter(|s| s.role != Role::Ours).count() as u64;
            tx.send(std::mem::take(sent))
                .map_err(|_| "the reply reader stopped".to_string())?;
            out.counted += counted;
            if let Err(e) = w.write_all_timed(buf) {
                out.failed_at = first;
                w.shutdown_write();
                return Err(crate::redis::conn::describe_io(&e));
            }
            buf.clear();
            Ok(())
        };
    let names: Vec<&str> = aof.segments.iter().map(|s| s.name.as_str()).collect();
    let mut keys = keys;
    // Command by command (no transaction grouping on one connection): the
    // walk's own borrowed command, nothing copied.
    let walked = walk(aof, |c| {
        if c.is(b"SELECT") {
            return Ok(());
        }
        if matches!(
            classify(c, names[c.seg], rules, keys.as_deref_mut())?,
            Verdict::Filtered
        ) {
            st.filtered += 1;
            return Ok(());
        }
        let db = (rules.map)(c.db);
        if selected != Some(db) {
            select(&mut buf, db);
            sent.push(Sent {
                seg: c.seg,
                offset: c.offset,
                role: Role::Ours,
            });
            selected = Some(db);
        }
        buf.extend_from_slice(&c.raw);
        sent.push(Sent::of(c));
        if buf.len() >= FLUSH_BYTES {
            flush(&mut buf, &mut sent, out)?;
        }
        Ok::<(), String>(())
    })?;
    flush(&mut buf, &mut sent, out).map_err(WalkError::Stop)?;
    drop(tx);
    Ok(walked)
}

#[derive(Default)]
struct Read {
    tally: Tally,
    io: Option<String>,
    /// The command whose reply was awaited when the connection failed.
    waiting: Option<(usize, u64)>,
    /// Commands of a `MULTI` left open at the end of the file (the `MULTI`
    /// included): the server discards them when the connection closes, as
    /// its own AOF load reverts an incomplete transaction, so they count as
    /// filtered out, as in a cluster replay.
    open_multi: u64,
}

/// Reads one reply per sent command.
fn read_replies(
    r: &mut std::io::BufReader<crate::redis::conn::ReadHalf>,
    rx: mpsc::Receiver<Vec<Sent>>,
    names: &[String],
) -> Read {
    let mut out = Read::default();
    for batch in rx {
        for s in batch {
            match read_reply(r) {
                Ok(reply) => out.tally.add(&s, &reply, names),
                Err(e) => {
                    out.io = Some(crate::redis::conn::describe_io(&e));
                    out.waiting = Some((s.seg, s.offset));
                    out.tally.cut();
                    return out;
                }
            }
        }
    }
    out.open_multi = out.tally.cut();
    out
}

/// Counts the commands of `aof` (`SELECT`s aside), up to any damage.
pub fn count_commands(aof: &Aof) -> u64 {
    let mut n = 0u64;
    let _ = walk(aof, |c| {
        n += u64::from(!c.is(b"SELECT"));
        Ok::<(), ()>(())
    });
    n
}

impl ReplaySummary {
    /// Fills `commands` and `not_sent` so that the counts add up.
    pub fn finish(&mut self, aof: &Aof) {
        let done = self.replayed + self.filtered + self.failed + self.unanswered;
        // A replay that ran to the end handed every command on: a second
        // walk (a noticeable share of a fast replay) only when it stopped.
        self.commands = match self.stopped {
            None => done,
            Some(_) => count_commands(aof),
        };
        self.not_sent = self.commands.saturating_sub(done);
    }

    /// Nothing sent, for `reason` (a base load that stopped, `--dry-run`).
    pub fn unsent(aof: &Aof, reason: &str) -> ReplaySummary {
        let mut s = ReplaySummary {
            stopped: Some(Stop {
                reason: reason.into(),
                at: None,
            }),
            ..ReplaySummary::default()
        };
        s.finish(aof);
        s
    }

    /// Adds the summary of another AOF input.
    pub fn merge(&mut self, r: ReplaySummary) {
        self.commands += r.commands;
        self.replayed += r.replayed;
        self.filtered += r.filtered;
        self.failed += r.failed;
        self.unanswered += r.unanswered;
        self.not_sent += r.not_sent;
        self.split += r.split;
        self.per_slot += r.per_slot;
        self.walked.commands += r.walked.commands;
        self.walked.truncated = self.walked.truncated.take().or(r.walked.truncated);
        self.errors.extend(r.errors);
        self.errors.truncate(SHOWN_ERRORS);
        self.stopped = self.stopped.take().or(r.stopped);
    }

    /// Lines for the text summary.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "AOF commands: {} in all: {} replayed, {} filtered out, {} failed, {} unanswered, {} not sent; {} truncated\n",
            self.commands,
            self.replayed,
            self.filtered,
            self.failed,
            self.unanswered,
            self.not_sent,
            u8::from(self.walked.truncated.is_some())
        );
        if self.split > 0 {
            s.push_str(&format!(
                "  {} cross-slot MULTI ... EXEC sent as separate commands (--split-cross-slot-multi; their MULTI/EXEC counted as filtered out)\n",
                self.split
            ));
        }
        if self.per_slot > 0 {
            s.push_str(&format!(
                "  {} cross-slot commands (MSET, DEL...) sent as one command per slot, as a cluster client does\n",
                self.per_slot
            ));
        }
        for e in &self.errors {
            s.push_str(&format!("  error: {e}\n"));
        }
        if let Some((f, off)) = &self.walked.truncated {
            s.push_str(&format!(
                "  the last command of {f} (byte offset {off}) is cut short: left out, as with aof-load-truncated yes\n"
            ));
        }
        if let Some(st) = &self.stopped {
            s.push_str(&format!("  the replay stopped: {}\n", st.reason));
            if let Some((f, off)) = &st.at {
                s.push_str(&format!(
                    "  reached {f} byte offset {off}: the commands before it were answered, that one and those after were not\n"
                ));
            }
        }
        s
    }

    /// `"aof":{...}`, a member for the load summary's JSON object.
    pub fn to_json_member(&self) -> String {
        let esc = |x: &str| serde_json::to_string(x).unwrap_or_default();
        let place = |p: &Option<(String, u64)>| match p {
            Some((f, off)) => format!("{{\"file\":{},\"offset\":{off}}}", esc(f)),
            None => "null".into(),
        };
        let stopped = match &self.stopped {
            Some(s) => format!("{{\"reason\":{},\"at\":{}}}", esc(&s.reason), place(&s.at)),
            None => "null".into(),
        };
        let errors: Vec<String> = self.errors.iter().map(|e| esc(e)).collect();
        format!(
            "\"aof\":{{\"commands\":{},\"replayed\":{},\"filtered\":{},\"failed\":{},\"unanswered\":{},\"not_sent\":{},\"split_transactions\":{},\"per_slot_commands\":{},\"truncated\":{},\"stopped\":{stopped},\"errors\":[{}]}}",
            self.commands,
            self.replayed,
            self.filtered,
            self.failed,
            self.unanswered,
            self.not_sent,
            self.split,
            self.per_slot,
            place(&self.walked.truncated),
            errors.join(",")
        )
    }
}
