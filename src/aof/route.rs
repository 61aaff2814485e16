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
//!   0 is refused with its offset. A command whose keys are in several
//!   slots (a standalone server's `MSET a 1 b 2`) is sent as one command per
//!   slot when the target's command table tags it `request_policy:
//!   multi_shard` (MSET, DEL, UNLINK, TOUCH, EXISTS, MGET; not MSETNX), as
//!   Redis' cluster clients do: run in order, the data is the same. Any
//!   other cross-slot command is refused with its offset (the cluster would
//!   answer CROSSSLOT). A keyless command goes to every master (FLUSHALL, FUNCTION LOAD and
//!   SCRIPT LOAD act per node). `MULTI ... EXEC` is one unit sent to the
//!   owner of its single slot; across slots it is refused, or with
//!   `--split-cross-slot-multi` its commands go one by one without the
//!   `MULTI`/`EXEC` (losing the atomicity the source had).

use std::borrow::Cow;

use super::keys::{KeyTable, Positions};
use super::source::Aof;
use super::walk::{walk, Cmd, WalkError, Walked};
use crate::filter::Filter;
use crate::redis::{resp, slot::key_slot, Conn, Reply};

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

    /// The argument indices of `c`'s keys.
    fn positions(&mut self, c: &Cmd<'_>, file: &str) -> Result<Vec<usize>, String> {
        let at = || format!("{file}: byte offset {}: {}", c.offset, c.name());
        match self.table.positions(&c.args) {
            Positions::Known(p) => Ok(p),
            Positions::Unknown => Err(format!("{}: the target does not know this command", at())),
            Positions::AskServer => {
                let mut args: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYS"];
                args.extend(c.args.iter().copied());
                match self.conn.call(&args).map_err(|e| e.to_string())? {
                    Reply::Array(Some(keys)) => {
                        let keys: Vec<&[u8]> = keys.iter().filter_map(|k| k.as_bytes()).collect();
                        // Map the server's answer back onto the arguments.
                        Ok((1..c.args.len())
                            .filter(|&i| keys.contains(&c.args[i]))
                            .collect())
                    }
                    _ => Ok(Vec::new()), // "no key arguments"
                }
            }
        }
    }
}

/// A command's fate.
#[derive(Debug, Clone)]
pub enum Verdict<'a> {
    /// Sent; `slot` when it has keys and the target is a cluster.
    Keep {
        slot: Option<u16>,
    },
    /// Keys in several slots, of a command the server lets a client send as
    /// one command per slot: these commands, each with its slot.
    PerSlot(Vec<Part<'a>>),
    Filtered,
}

/// Decides one command (not a `SELECT`).
pub fn classify<'a>(
    c: &Cmd<'a>,
    file: &str,
    rules: &Rules<'_>,
    keys: Option<&mut KeyFinder>,
) -> Result<Verdict<'a>, String> {
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
    let pos = finder.positions(c, file)?;
    if let Some(f) = rules.filter {
        let pass = pos.iter().filter(|&&i| f.matches_key(c.args[i])).count();
        if pass == 0 && !pos.is_empty() {
            return Ok(Verdict::Filtered);
        }
        if pass < pos.len() {
            return Err(format!(
                "{}: {pass} of its {} keys pass the key filters: half a command cannot be replayed (widen or narrow the filters so that it is kept or left out whole)",
                at(),
                pos.len()
            ));
        }
    }
    if !rules.cluster {
        return Ok(Verdict::Keep { slot: None });
    }
    let mut slots = pos.iter().map(|&i| key_slot(c.args[i]));
    let slot = slots.next();
    if !slot.is_some_and(|s| slots.any(|x| x != s)) {
        return Ok(Verdict::Keep { slot });
    }
    if finder.table.per_slot(c.args[0]) {
        if let Some(parts) = per_slot(c, &pos) {
            return Ok(Verdict::PerSlot(parts));
        }
    }
    Err(format!(
        "{}: its keys are in different slots, which a cluster refuses (CROSSSLOT); only commands the target tags request_policy:multi_shard (MSET, DEL, UNLINK...) are sent as one command per slot",
        at()
    ))
}

/// `c` as one command per slot of its keys, in the order the slots first
/// appear; each key keeps the arguments up to the next key (`MSET`'s value)
/// and the keys of a slot keep their order. `None` when the arguments are
/// not such groups (keys from argument 1 at a fixed step to the end).
fn per_slot<'a>(c: &Cmd<'a>, pos: &[usize]) -> Option<Vec<Part<'a>>> {
    let step = pos.get(1)? - pos[0];
    let groups = step > 0
        && pos[0] == 1
        && pos.windows(2).all(|w| w[1] - w[0] == step)
        && pos.last()? + step == c.args.len();
    if !groups {
        return None;
    }
    let mut split: Vec<(u16, Vec<&'a [u8]>)> = Vec::new();
    for &p in pos {
        let slot = key_slot(c.args[p]);
        let i = match split.iter().position(|(s, _)| *s == slot) {
            Some(i) => i,
            None => {
                split.push((slot, vec![c.args[0]]));
                split.len() - 1
            }
        };
        split[i].1.extend_from_slice(&c.args[p..p + step]);
    }
    let part = |(slot, args): (u16, Vec<&'a [u8]>)| {
        let mut raw = Vec::new();
        resp::command(&mut raw, &args);
        let cmd = Cmd {
            args,
            raw: Cow::Owned(raw),
            ..c.clone()
        };
        Part {
            slot: Some(slot),
            cmds: vec![cmd],
        }
    };
    Some(split.into_iter().map(part).collect())
}

/// Commands that go to one slot's owner (`None`: keyless, every master).
#[derive(Debug, Clone)]
pub struct Part<'a> {
    pub slot: Option<u16>,
    /// In order (a transaction's `MULTI` and `EXEC` included).
    pub cmds: Vec<Cmd<'a>>,
}

/// One thing to send: a command, a transaction kept together, or a
/// command cut into one per slot. Whatever its parts, it counts as the
/// commands of one part (failed where any part failed).
pub struct Unit<'a> {
    pub parts: Vec<Part<'a>>,
    /// Commands left out (filters; the `MULTI`/`EXEC` of a split).
    pub filtered: u64,
    /// A cross-slot transaction split into its commands.
    pub split: bool,
    /// Commands cut into one per slot.
    pub per_slot: u64,
}

impl<'a> Unit<'a> {
    fn filtered(n: u64) -> Unit<'a> {
        Unit {
            parts: Vec::new(),
            filtered: n,
            split: false,
            per_slot: 0,
        }
    }

    fn of(v: Verdict<'a>, c: &Cmd<'a>) -> Unit<'a> {
        match v {
            Verdict::Filtered => Unit::filtered(1),
            Verdict::Keep { slot } => Unit {
                parts: vec![Part {
                    slot,
                    cmds: vec![c.clone()],
                }],
                ..Unit::filtered(0)
            },
            Verdict::PerSlot(parts) => Unit {
                parts,
                per_slot: 1,
                ..Unit::filtered(0)
            },
        }
    }
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
        f(Unit::of(v, c))
    })?;
    if let Some(unfinished) = multi {
        f(Unit::filtered(unfinished.len() as u64)).map_err(WalkError::Stop)?;
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
        let v = classify(&c, file, rules, keys.as_deref_mut())?;
        let s = match &v {
            // (`--db` leaves out the markers with the rest.)
            Verdict::Filtered => {
                filtered += 1;
                continue;
            }
            Verdict::Keep { slot } => *slot,
            Verdict::PerSlot(_) => {
                cross = true;
                None
            }
        };
        if let (Some(a), Some(b)) = (slot, s) {
            cross |= a != b;
        }
        slot = slot.or(s);
        kept.push((c, v));
    }
    if !cross {
        let cmds = kept.into_iter().map(|(c, _)| c).collect();
        return Ok(vec![Unit {
            parts: vec![Part { slot, cmds }],
            ..Unit::filtered(filtered)
        }]);
    }
    if !rules.split_multi {
        return Err(E::from(format!(
            "{file}: byte offset {first}: a MULTI ... EXEC whose keys are in different slots: a cluster cannot run it as one transaction (--split-cross-slot-multi sends its commands one by one, without the atomicity)"
        )));
    }
    let mut out: Vec<Unit<'a>> = Vec::new();
    for (c, v) in kept {
        if c.is(b"MULTI") || c.is(b"EXEC") {
            out.push(Unit {
                split: out.is_empty(),
                ..Unit::filtered(1)
            });
        } else {
            out.push(Unit::of(v, &c));
        }
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
    /// Commands that will be sent as one command per slot.
    pub per_slot: u64,
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
    let (mut split, mut per_slot) = (0, 0);
    let walked = units::<String>(aof, rules, keys, |u| {
        split += u64::from(u.split);
        per_slot += u.per_slot;
        Ok(())
    })?;
    Ok(Checked {
        walked,
        split,
        per_slot,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(args: &[&'static str]) -> Cmd<'static> {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        let mut raw = Vec::new();
        resp::command(&mut raw, &args);
        Cmd {
            seg: 0,
            offset: 7,
            args,
            raw: Cow::Owned(raw),
            db: 0,
        }
    }

    fn parts(c: &Cmd<'static>, pos: &[usize]) -> Option<Vec<(u16, Vec<u8>)>> {
        let ps = per_slot(c, pos)?;
        Some(
            ps.into_iter()
                .map(|p| (p.slot.unwrap(), p.cmds[0].raw.to_vec()))
                .collect(),
        )
    }

    fn raw(args: &[&'static str]) -> Vec<u8> {
        cmd(args).raw.to_vec()
    }

    #[test]
    fn a_command_is_cut_by_slot_keeping_each_keys_arguments_and_order() {
        // a: 15495, b: 3300, {a}x: 15495.
        let m = cmd(&["MSET", "a", "1", "b", "2", "{a}x", "3", "a", "4"]);
        assert_eq!(
            parts(&m, &[1, 3, 5, 7]),
            Some(vec![
                (15495, raw(&["MSET", "a", "1", "{a}x", "3", "a", "4"])),
                (3300, raw(&["MSET", "b", "2"])),
            ])
        );
        let d = cmd(&["DEL", "b", "a", "{b}y"]);
        assert_eq!(
            parts(&d, &[1, 2, 3]),
            Some(vec![
                (3300, raw(&["DEL", "b", "{b}y"])),
                (15495, raw(&["DEL", "a"])),
            ])
        );
        // Each part keeps the place of the command in the file.
        assert!(per_slot(&d, &[1, 2, 3])
            .unwrap()
            .iter()
            .all(|p| p.cmds[0].offset == 7));
    }

    #[test]
    fn only_key_groups_to_the_end_are_cut() {
        // Arguments after the last key (a destination, an option).
        let c = cmd(&["X", "a", "b", "opt"]);
        assert!(per_slot(&c, &[1, 2]).is_none());
        // Keys not from argument 1, or at an uneven step.
        let c = cmd(&["X", "n", "a", "b"]);
        assert!(per_slot(&c, &[2, 3]).is_none());
        let c = cmd(&["X", "a", "b", "v", "c"]);
        assert!(per_slot(&c, &[1, 2, 4]).is_none());
        // One key: nothing to cut.
        assert!(per_slot(&cmd(&["DEL", "a"]), &[1]).is_none());
    }
}
