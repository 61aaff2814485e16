//! AOF inputs on the command line: opening one (a file, a manifest or an
//! `appendonlydir/`) wherever an RDB is accepted, and the notes printed
//! about its commands.

use std::path::Path;

use rdbkit::aof::replay::{self, DbRules, ReplaySummary};
use rdbkit::aof::source::{self, Opened};
use rdbkit::aof::walk::Walked;
use rdbkit::input::Input;
use rdbkit::load::{self, LoadOptions};
use rdbkit::redis::Conn;

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

/// A `load` input: an `appendonlydir/`, or a file (or URL) opened by
/// `open_file` and recognised by content.
pub fn open_load_input(
    file: &Path,
    open_file: impl FnOnce() -> Result<Input, super::Fail>,
) -> Result<Opened, super::Fail> {
    if file.is_dir() {
        return Ok(open_any(file)?);
    }
    let input = open_file()?;
    let part = |p: &Path| Input::open_with(p, None).map_err(|e| format!("{}: {e}", p.display()));
    Ok(source::from_input(file, input, &part)?)
}

/// Checks, before anything is written, that the AOF commands among the
/// inputs can be replayed as asked: key filters and cluster targets are
/// not supported for them yet, so they are refused here rather than after
/// the base was loaded.
pub fn prepare_replay(opened: &[Opened], opts: &LoadOptions) -> Result<bool, super::Fail> {
    if !opened.iter().any(|o| o.aof().is_some()) {
        return Ok(false);
    }
    if let Some(f) = &opts.engine.filter {
        if !f.keys.is_empty() || !f.not_keys.is_empty() {
            return Err(super::Fail::Usage(
                "--key/--key-regex/--not-key with an AOF input: its commands cannot be filtered by key yet (only --db applies to them)".into(),
            ));
        }
    }
    let (mut c, _) =
        Conn::open_target(&opts.target, &opts.tls, opts.io_timeout).map_err(|e| e.to_string())?;
    let cluster = match opts.cluster {
        Some(c) => c,
        None => c
            .info("cluster")
            .map_err(|e| e.to_string())?
            .iter()
            .any(|(k, v)| k == "cluster_enabled" && v == "1"),
    };
    if cluster {
        return Err(super::Fail::Usage(
            "replaying AOF commands into a Redis Cluster is not implemented yet: load the AOF into a standalone server, then `rdbkit fetch` a snapshot from it and load that into the cluster".into(),
        ));
    }
    Ok(true)
}

/// Replays the commands of every AOF input after a base load that
/// completed (a load that stopped leaves them unsent, and says so).
pub fn run_replay(
    opened: &[Opened],
    wanted: bool,
    opts: &LoadOptions,
    base: &load::Summary,
) -> Result<Option<ReplaySummary>, super::Fail> {
    if !wanted {
        return Ok(None);
    }
    if opts.dry_run || base.ending != load::Ending::Completed {
        eprintln!(
            "rdbkit: the AOF commands were not replayed ({})",
            if opts.dry_run {
                "--dry-run"
            } else {
                "the base load did not complete"
            }
        );
        return Ok(None);
    }
    let keys = &opts.keys;
    let target_db = keys.db.or(opts.target.db);
    let map = |db: u64| {
        target_db.unwrap_or_else(|| {
            keys.db_map
                .iter()
                .find(|(f, _)| *f == db)
                .map_or(db, |(_, t)| *t)
        })
    };
    let dbs = opts.engine.filter.as_ref().map_or(&[][..], |f| &f.dbs[..]);
    let rules = DbRules { dbs, map: &map };
    let mut total = ReplaySummary::default();
    for a in opened.iter().filter_map(|o| o.aof()) {
        let (c, _) = Conn::open_target(&opts.target, &opts.tls, opts.io_timeout)
            .map_err(|e| e.to_string())?;
        let r = replay::replay(a, c, &rules)?;
        total.replayed += r.replayed;
        total.filtered += r.filtered;
        total.failed += r.failed;
        total.walked.commands += r.walked.commands;
        total.walked.truncated = total.walked.truncated.or(r.walked.truncated);
        total.errors.extend(r.errors);
    }
    total.errors.truncate(replay::SHOWN_ERRORS);
    Ok(Some(total))
}

/// The load summary's JSON object with the AOF member added.
pub fn with_member(json: String, r: Option<&ReplaySummary>) -> String {
    let Some(r) = r else { return json };
    match json.rfind('}') {
        Some(i) => format!("{},{}{}", &json[..i], r.to_json_member(), &json[i..]),
        None => json,
    }
}
