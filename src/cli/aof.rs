//! AOF inputs on the command line: opening one (a file, a manifest or an
//! `appendonlydir/`) wherever an RDB is accepted, and the notes printed
//! about its commands.

use std::path::Path;

use rdbkit::aof::cluster::{self as aof_cluster, Access};
use rdbkit::aof::replay::{self, ReplaySummary};
use rdbkit::aof::route::{self, KeyFinder, Rules};
use rdbkit::aof::source::{self, Aof, Opened};
use rdbkit::aof::walk::{WalkError, Walked};
use rdbkit::input::Input;
use rdbkit::load::{self, LoadOptions};
use rdbkit::redis::Conn;

/// Opens `file` as an RDB or an AOF, recognised by content.
pub fn open_any(file: &Path) -> Result<Opened, String> {
    source::open(file, &super::files::open, &open_part)
}

/// An AOF's incremental file (possibly empty).
pub fn open_part(p: &Path) -> Result<Input, String> {
    Input::open_with(p, None).map_err(|e| format!("{}: {e}", p.display()))
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

/// `load` options for the AOF commands.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct AofArgs {
    /// AOF into a cluster: send the commands of a MULTI ... EXEC whose keys
    /// are in several slots one by one, without MULTI/EXEC (losing its
    /// atomicity); without it such a transaction is refused, with its
    /// offset, before anything is written.
    #[arg(long)]
    pub split_cross_slot_multi: bool,
}

/// What the check before the first write decided for the AOF commands.
pub struct Plan {
    cluster: bool,
    /// Commands' key positions (cluster, or key filters).
    finder: Option<KeyFinder>,
}

/// The db map the base's keys follow (`--target-db`, the URL's db,
/// `--db-map`), for the commands.
fn db_map(opts: &LoadOptions) -> impl Fn(u64) -> u64 + '_ {
    let keys = &opts.keys;
    let target_db = keys.db.or(opts.target.db);
    move |db: u64| {
        target_db.unwrap_or_else(|| {
            keys.db_map
                .iter()
                .find(|(f, _)| *f == db)
                .map_or(db, |(_, t)| *t)
        })
    }
}

/// Calls `f` with the replay rules of `opts`.
fn with_rules<R>(
    opts: &LoadOptions,
    args: &AofArgs,
    cluster: bool,
    f: impl FnOnce(&Rules<'_>) -> R,
) -> R {
    let map = db_map(opts);
    let filter = opts.engine.filter.as_deref();
    let rules = Rules {
        dbs: filter.map_or(&[][..], |f| &f.dbs[..]),
        map: &map,
        filter: filter.filter(|f| !f.keys.is_empty() || !f.not_keys.is_empty()),
        cluster,
        split_multi: args.split_cross_slot_multi,
    };
    f(&rules)
}

/// Checks, before anything is written, that the AOF commands among the
/// inputs can be replayed as asked (`route::check`: dbs in a cluster,
/// cross-slot transactions, commands half kept by the key filters), with
/// the target's command table fetched once for their keys.
pub fn prepare_replay(
    opened: &[Opened],
    opts: &LoadOptions,
    args: &AofArgs,
) -> Result<Option<Plan>, super::Fail> {
    if !opened.iter().any(|o| o.aof().is_some()) {
        return Ok(None);
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
    let mut plan = Plan {
        cluster,
        finder: None,
    };
    with_rules(opts, args, cluster, |rules| {
        if rules.needs_keys() {
            plan.finder = Some(KeyFinder::fetch(c)?);
        }
        // Standalone without key filters nothing can be refused: no walk.
        let needed = rules.needs_keys();
        for a in opened.iter().filter_map(|o| o.aof()).filter(|_| needed) {
            route::check(a, rules, plan.finder.as_mut()).map_err(|e| match e {
                WalkError::Bad(m) => super::Fail::Runtime(m),
                WalkError::Stop(m) => super::Fail::Usage(m),
            })?;
        }
        Ok::<(), super::Fail>(())
    })?;
    Ok(Some(plan))
}

/// Replays the commands of every AOF input after a base load that
/// completed. Always returns a summary accounting for every command: a
/// load that stopped, `--dry-run`, or a replay that stopped part-way
/// leave commands unsent, and the summary says so and where.
pub fn run_replay(
    opened: &[Opened],
    plan: Option<Plan>,
    opts: &LoadOptions,
    args: &AofArgs,
    base: &load::Summary,
) -> Option<ReplaySummary> {
    let mut plan = plan?;
    let aofs: Vec<&Aof> = opened.iter().filter_map(|o| o.aof()).collect();
    let mut total = ReplaySummary::default();
    let skip = if opts.dry_run {
        Some("--dry-run: the AOF commands were not sent")
    } else if base.ending != load::Ending::Completed {
        Some("the base load did not complete: the AOF commands were not sent")
    } else {
        None
    };
    for a in aofs {
        let r = match skip {
            Some(why) => ReplaySummary::unsent(a, why),
            None if total.stopped.is_some() => {
                ReplaySummary::unsent(a, "an earlier input's replay stopped")
            }
            None => with_rules(opts, args, plan.cluster, |rules| {
                replay_one(a, rules, opts, plan.finder.as_mut())
            }),
        };
        total.merge(r);
    }
    Some(total)
}

/// One AOF into the target (standalone or cluster).
fn replay_one(
    a: &Aof,
    rules: &Rules<'_>,
    opts: &LoadOptions,
    finder: Option<&mut KeyFinder>,
) -> ReplaySummary {
    let opened = Conn::open_target(&opts.target, &opts.tls, opts.io_timeout);
    let (mut c, connect) = match opened {
        Ok(x) => x,
        Err(e) => return ReplaySummary::unsent(a, &e.to_string()),
    };
    if !rules.cluster {
        return replay::replay(a, c, rules, finder);
    }
    let host = opts.target.host.clone();
    let topo = match rdbkit::redis::cluster::discover(&mut c, &host) {
        Ok(t) => t,
        Err(e) => return ReplaySummary::unsent(a, &e.to_string()),
    };
    let auth = &opts.target.auth;
    let open = |addr: &str| Conn::open(addr, auth, &connect).map_err(|e| e.to_string());
    let control = std::cell::RefCell::new(c);
    let discover = || {
        rdbkit::redis::cluster::discover(&mut control.borrow_mut(), &host)
            .map_err(|e| e.to_string())
    };
    let access = Access {
        open: &open,
        discover: &discover,
    };
    let Some(finder) = finder else {
        return ReplaySummary::unsent(a, "no command table (internal error)");
    };
    aof_cluster::replay(a, rules, finder, topo, &access)
}

/// The load summary's JSON object with the AOF member added.
pub fn with_member(json: String, r: Option<&ReplaySummary>) -> String {
    let Some(r) = r else { return json };
    match json.rfind('}') {
        Some(i) => format!("{},{}{}", &json[..i], r.to_json_member(), &json[i..]),
        None => json,
    }
}
