//! Walking the commands of every segment of an AOF in replay order, with
//! the database each one runs in. `SELECT` is passed on too (callers decide
//! whether to write it) and changes the db of the commands after it; every
//! segment starts in db 0, as a server loading the file does.
//!
//! A command cut short by the end of the *last* segment is what
//! `aof-load-truncated yes` tolerates: it is reported, not run. Cut short
//! anywhere else, it is damage (Redis refuses to start on it too).

use std::borrow::Cow;

use super::command::{Commands, Next};
use super::source::Aof;

/// One command, as the walk hands it on.
#[derive(Debug, Clone)]
pub struct Cmd<'a> {
    /// Index of the segment (file) in [`Aof::segments`].
    pub seg: usize,
    /// Byte offset of the command in its file.
    pub offset: u64,
    pub args: Vec<&'a [u8]>,
    /// The command exactly as the file holds it (RESP); owned only for a
    /// command cut into one per slot ([`super::route`]).
    pub raw: Cow<'a, [u8]>,
    /// The database the command runs in (for `SELECT`: the new one).
    pub db: u64,
}

impl Cmd<'_> {
    /// The command's name, upper-cased.
    pub fn name(&self) -> String {
        String::from_utf8_lossy(self.args[0]).to_ascii_uppercase()
    }

    pub fn is(&self, name: &[u8]) -> bool {
        self.args[0].eq_ignore_ascii_case(name)
    }
}

/// What the walk saw besides the commands.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Walked {
    pub commands: u64,
    /// The truncated last command: (file, offset).
    pub truncated: Option<(String, u64)>,
}

/// Why a walk ended early.
#[derive(Debug)]
pub enum WalkError<E> {
    /// The AOF is damaged: the message names the file and the offset.
    Bad(String),
    /// The callback stopped it.
    Stop(E),
}

impl<E: std::fmt::Display> std::fmt::Display for WalkError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalkError::Bad(m) => f.write_str(m),
            WalkError::Stop(e) => e.fmt(f),
        }
    }
}

/// Calls `f` for every command of `aof`, in order.
pub fn walk<'a, E>(
    aof: &'a Aof,
    mut f: impl FnMut(&Cmd<'a>) -> Result<(), E>,
) -> Result<Walked, WalkError<E>> {
    let mut w = Walked::default();
    let last = aof.segments.len().saturating_sub(1);
    for (seg, s) in aof.segments.iter().enumerate() {
        let data = s.commands();
        let base = s.rdb_end as u64;
        let mut cmds = Commands::new(data, base);
        let mut db = 0;
        loop {
            let next = cmds
                .next_command()
                .map_err(|e| WalkError::Bad(format!("{}: {e}", s.name)))?;
            let (offset, args) = match next {
                Next::End => break,
                Next::Truncated { offset } if seg == last => {
                    w.truncated = Some((s.name.clone(), offset));
                    break;
                }
                Next::Truncated { offset } => {
                    return Err(WalkError::Bad(format!(
                        "{}: AOF byte offset {offset}: the file ends inside a command, \
                         and it is not the last file of the AOF",
                        s.name
                    )))
                }
                Next::Command { offset, args } => (offset, args),
            };
            let raw = Cow::Borrowed(&data[(offset - base) as usize..cmds.position()]);
            let mut c = Cmd {
                seg,
                offset,
                args,
                raw,
                db,
            };
            if c.is(b"SELECT") {
                db = select_db(&c).map_err(|m| WalkError::Bad(format!("{}: {m}", s.name)))?;
                c.db = db;
            }
            w.commands += 1;
            f(&c).map_err(WalkError::Stop)?;
        }
    }
    Ok(w)
}

fn select_db(c: &Cmd<'_>) -> Result<u64, String> {
    c.args
        .get(1)
        .filter(|_| c.args.len() == 2)
        .and_then(|a| std::str::from_utf8(a).ok())
        .and_then(|a| a.parse::<u64>().ok())
        .ok_or_else(|| format!("AOF byte offset {}: a SELECT without a db number", c.offset))
}

impl From<WalkError<std::io::Error>> for crate::sink::SinkError {
    fn from(e: WalkError<std::io::Error>) -> Self {
        match e {
            WalkError::Bad(m) => crate::sink::SinkError::Abort(m),
            WalkError::Stop(io) => crate::sink::SinkError::Io(io),
        }
    }
}
