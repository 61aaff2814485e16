//! What happens to each AOF command before it is replayed: the `--db`
//! filter, the key filters, the db it goes to, and (into a cluster) the slot
//! of its keys. One decision shared by the check run before anything is
//! written ([`check`]) and by the replay itself, so that what the check
//! accepted is what the replay sends.
//!
//! Choices (documented in the README and `load --help`):
//! - key filters: a command is kept when all its keys pass, left out
//!   (counted as filtered) when none does; one with keys on both sides is
//!   refused with its offset, since half a command cannot be replayed.
//!   Keyless commands (FLUSHALL, FUNCTION LOAD, SCRIPT LOAD...) are kept.
//! - cluster: a cluster has only db 0, so a command whose (mapped) db is not
//!   0 is refused with its offset. A command's keys must share one slot (a
//!   cross-slot command is refused: the cluster would answer CROSSSLOT). A
//!   keyless command goes to every master (FLUSHALL, FUNCTION LOAD and
//!   SCRIPT LOAD act per node). `MULTI ... EXEC` is one unit sent to the
//!   owner of its single slot; across slots it is refused, or with
//!   `--split-cross-slot-multi` its commands go one by one without the
//!   `MULTI`/`EXEC` (losing the atomicity the source had).

use super::keys::{KeyTable, Positions};
use super::source::Aof;
use super::walk::{walk, Cmd, WalkError, Walked};
use crate::filter::Filter;
use crate::redis::{slot::key_slot, Conn, Reply};

/// The rules a replay follows.
pub struct Rules<'a> {
    /// Source dbs replayed (empty: every db).
    pub dbs: &'a [u64],
    /// Source db to target db.
    pub map: &'a dyn Fn(u64) -> u64,
    /// Key filters, when there are key patterns.
    pub filter: Option<&'a Filter>,
    pub cluster: bool,
    pub split_multi: bool,
}

impl Rules<'_> {
    /// Whether commands' keys must be found.
    pub fn needs_keys(&self) -> bool {
        self.cluster || self.filter.is_some()
    }
}

/// Finds keys: the table, and the server for what the table cannot say.
pub struct KeyFinder {
    pub table: KeyTable,
    pub conn: Conn,
}

impl KeyFinder {
    /// Fetches the target's command table once.
    pub fn fetch(mut conn: Conn) -> Result<KeyFinder, String> {
        let r = conn.call_ok(&[b"COMMAND"]).map_err(|e| e.to_string())?;
        let table = KeyTable::from_reply(&r).map_err(|e| format!("{}: {e}", conn.addr))?;
        Ok(KeyFinder { table, conn })
    }

    fn keys<'a>(&mut self, c: &Cmd<'a>, file: &str) -> Result<Vec<&'a [u8]>, String> {
        let at = || format!("{file}: byte offset {}: {}", c.offset, c.name());
        let pos = match self.table.positions(&c.args) {
            Positions::Known(p) => p,
            Positions::Unknown => {
                return Err(format!("{}: the target does not know this command", at()))
            }
            Positions::AskServer => {
                let mut args: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYS"];
                args.extend(&c.args);
                match self.conn.call(&args).map_err(|e| e.to_string())? {
                    Reply::Array(Some(keys)) => {
                        let keys: Vec<&[u8]> = keys.iter().filter_map(|k| k.as_bytes()).collect();
                        // Map the server's answer back onto the arguments.
                        return Ok(c.args[1..]
                            .iter()
                            .copied()
                            .filter(|a| keys.contains(a))
                            .collect());
                    }
                    _ => Vec::new(), // "no key arguments"
                }
            }
        };
        Ok(pos
            .into_iter()
            .filter_map(|i| c.args.get(i).copied())
            .collect())
    }
}

/// A command's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Sent; `slot` when it has keys and the target is a cluster.
    Keep {
        slot: Option<u16>,
    },
    Filtered,
}

/// Decides one command (not a `SELECT`).
pub fn classify(
    c: &Cmd<'_>,
    file: &str,
    rules: &Rules<'_>,
    keys: Option<&mut KeyFinder>,
) -> Result<Verdict, String> {
    if !rules.dbs.is_empty() && !rules.dbs.contains(&c.db) {
        return Ok(Verdict::Filtered);
    }
    let at = || format!("{file}: byte offset {}: {}", c.offset, c.name());
    let to = (rules.map)(c.db);
    if rules.cluster && to != 0 {
        return Err(format!(
            "{}: runs in db {} (target db {to}), and a cluster has only db 0: map it with --db-map {}=0, or leave it out with --db",
            at(),
            c.db,
            c.db
        ));
    }
    let Some(finder) = keys.filter(|_| rules.needs_keys()) else {
        return Ok(Verdict::Keep { slot: None });
    };
    let ks = finder.keys(c, file)?;
    if let Some(f) = rules.filter {
        let pass = ks.iter().filter(|k| f.matches_key(k)).count();
        if pass == 0 && !ks.is_empty() {
            return Ok(Verdict::Filtered);
        }
        if pass < ks.len() {
            return Err(format!(
                "{}: {pass} of its {} keys pass the key filters: half a command cannot be replayed (widen or narrow the filters so that it is kept or left out whole)",
                at(),
                ks.len()
            ));
        }
    }
    if !rules.cluster {
        return Ok(Verdict::Keep { slot: None });
    }
    let mut slots = ks.iter().map(|k| key_slot(k));
    let slot = slots.next();
    if let Some(s) = slot {
        if slots.any(|x| x != s) {
            return Err(format!(
                "{}: its keys are in different slots, which a cluster refuses (CROSSSLOT)",
                at()
            ));
        }
    }
    Ok(Verdict::Keep { slot })
}

/// One thing to send: a command, or a transaction kept together.
pub struct Unit<'a> {
    /// The commands to send, in order (a transaction's `MULTI` and `EXEC`
    /// included unless it was split).
    pub cmds: Vec<Cmd<'a>>,
    /// Its slot (cluster); `None`: keyless, for every master.
    pub slot: Option<u16>,
    /// Commands left out (filters; the `MULTI`/`EXEC` of a split).
    pub filtered: u64,
    /// A cross-slot transaction split into its commands.
    pub split: bool,
}

/// Hands on every command of `aof` as units: into a cluster a transaction
/// is one unit (or, split, one per command); otherwise each command is one.
/// `SELECT`s are left out (`Cmd::db` says where each command runs). A
/// `MULTI` with no `EXEC` before the end is left out and counted as
/// filtered, as a server's own AOF load reverts an incomplete transaction.
pub fn units<'a, E: From<String>>(
    aof: &'a Aof,
    rules: &Rules<'_>,
    mut keys: Option<&mut KeyFinder>,
    mut f: impl FnMut(Unit<'a>) -> Result<(), E>,
) -> Result<Walked, WalkError<E>> {
    let names: Vec<&str> = aof.segments.iter().map(|s| s.name.as_str()).collect();
    let mut multi: Option<Vec<Cmd<'a>>> = None;
    let walked = walk(aof, |c| {
        if c.is(b"SELECT") {
            return Ok(());
        }
        let file = names[c.seg];
        if rules.cluster {
            if c.is(b"MULTI") && multi.is_none() {
                multi = Some(vec![c.clone()]);
                return Ok(());
            }
            if let Some(m) = multi.as_mut() {
                m.push(c.clone());
                if !c.is(b"EXEC") {
                    return Ok(());
                }
                let all = multi.take().unwrap_or_default();
                for u in transaction(all, file, rules, keys.as_deref_mut())? {
                    f(u)?;
                }
                return Ok(());
            }
        }
        let v = classify(c, file, rules, keys.as_deref_mut())?;
        f(match v {
            Verdict::Filtered => Unit {
                cmds: Vec::new(),
                slot: None,
                filtered: 1,
                split: false,
            },
            Verdict::Keep { slot } => Unit {
                cmds: vec![c.clone()],
                slot,
                filtered: 0,
                split: false,
            },
        })
    })?;
    if let Some(unfinished) = multi {
        f(Unit {
            cmds: Vec::new(),
            slot: None,
            filtered: unfinished.len() as u64,
            split: false,
        })
        .map_err(WalkError::Stop)?;
    }
    Ok(walked)
}

/// A whole `MULTI ... EXEC`, as one unit or (split) one per command.
fn transaction<'a, E: From<String>>(
    all: Vec<Cmd<'a>>,
    file: &str,
    rules: &Rules<'_>,
    mut keys: Option<&mut KeyFinder>,
) -> Result<Vec<Unit<'a>>, E> {
    let first = all[0].offset;
    let (mut kept, mut filtered, mut slot) = (Vec::new(), 0u64, None::<u16>);
    let mut cross = false;
    for c in all {
        match classify(&c, file, rules, keys.as_deref_mut())? {
            // (`--db` leaves out the markers with the rest.)
            Verdict::Filtered => filtered += 1,
            Verdict::Keep { slot: s } => {
                if let (Some(a), Some(b)) = (slot, s) {
                    cross |= a != b;
                }
                slot = slot.or(s);
                kept.push((c, s));
            }
        }
    }
    if !cross {
        return Ok(vec![Unit {
            cmds: kept.into_iter().map(|(c, _)| c).collect(),
            slot,
            filtered,
            split: false,
        }]);
    }
    if !rules.split_multi {
        return Err(E::from(format!(
            "{file}: byte offset {first}: a MULTI ... EXEC whose keys are in different slots: a cluster cannot run it as one transaction (--split-cross-slot-multi sends its commands one by one, without the atomicity)"
        )));
    }
    let mut out: Vec<Unit<'a>> = Vec::new();
    for (c, s) in kept {
        let marker = c.is(b"MULTI") || c.is(b"EXEC");
        out.push(Unit {
            cmds: if marker { Vec::new() } else { vec![c] },
            slot: s,
            filtered: u64::from(marker),
            split: marker && out.is_empty(),
        });
    }
    if let Some(u) = out.first_mut() {
        u.filtered += filtered;
    }
    Ok(out)
}

/// What the check before the first write found.
#[derive(Debug, Default)]
pub struct Checked {
    pub walked: Walked,
    /// Cross-slot transactions that will be split.
    pub split: u64,
}

/// Walks every command and applies the rules, without sending anything:
/// the first command the replay would refuse is reported with its offset
/// before the base is loaded (`WalkError::Stop`), and so is damage in the
/// AOF (`WalkError::Bad`).
pub fn check(
    aof: &Aof,
    rules: &Rules<'_>,
    keys: Option<&mut KeyFinder>,
) -> Result<Checked, WalkError<String>> {
    let mut split = 0;
    let walked = units::<String>(aof, rules, keys, |u| {
        split += u64::from(u.split);
        Ok(())
    })?;
    Ok(Checked { walked, split })
}
