//! AOF inputs on the command line: opening one (a file, a manifest or an
//! `appendonlydir/`) wherever an RDB is accepted, and the notes printed
//! about its commands.

use std::path::Path;

use rdbkit::aof::source::{self, Opened};
use rdbkit::aof::walk::Walked;
use rdbkit::input::Input;

/// Opens `file` as an RDB or an AOF, recognised by content.
pub fn open_any(file: &Path) -> Result<Opened, String> {
    let part = |p: &Path| Input::open_with(p, None).map_err(|e| format!("{}: {e}", p.display()));
    source::open(file, &super::open, &part)
}

/// Says on stderr that a truncated last command was left out.
pub fn note_truncated(w: &Walked) {
    if let Some((file, off)) = &w.truncated {
        eprintln!(
            "rdbkit: warning: {file}: the last command (at byte offset {off}) is cut short by the end of the file; left out, as Redis does with aof-load-truncated yes"
        );
    }
}

/// The commands of an AOF are not filtered by key offline (their key
/// positions come from a server's COMMAND table, which `load` asks for).
pub fn note_unfiltered(opened: &Opened, has_filter: bool) {
    if opened.aof().is_some() && has_filter {
        eprintln!("rdbkit: warning: filters apply to the base's keys; the AOF's commands are written unfiltered (`load` filters them by key)");
    }
}

/// The stats of the base, with the AOF's command counts after them (in
/// JSON, an `"aof"` member of the same object).
pub fn stats_text(
    st: &rdbkit::sink::stats::Stats,
    cmds: Option<&rdbkit::aof::convert::CommandStats>,
    json: bool,
) -> Vec<u8> {
    use rdbkit::sink::stats;
    let Some(c) = cmds else {
        return if json {
            stats::to_json(st)
        } else {
            stats::to_text(st).into_bytes()
        };
    };
    note_truncated(&c.walked);
    if json {
        let mut o = stats::to_json(st);
        // `{...}\n`: the member goes before the closing brace.
        let close = o.iter().rposition(|b| *b == b'}').unwrap_or(o.len());
        let member = c.to_json_member();
        o.splice(close..close, std::iter::once(b',').chain(member));
        o
    } else {
        let mut t = stats::to_text(st);
        t.push_str(&c.to_text());
        t.into_bytes()
    }
}

/// `resp`: the AOF's commands after the base's RESTOREs, `SELECT`s mapped
/// as the base's keys are (`--db-map`, `--target-db`).
pub fn write_commands<W: std::io::Write>(
    a: &rdbkit::aof::source::Aof,
    cfg: &rdbkit::restore::worker::WorkerConfig,
    out: &mut W,
) -> Result<(), rdbkit::sink::SinkError> {
    let map = |db: u64| cfg.target_db(db);
    let w = rdbkit::aof::convert::write_resp(a, &map, out)?;
    note_truncated(&w);
    Ok(())
}
