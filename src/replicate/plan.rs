//! What a replicated load sends, decided before the target is touched:
//! the refusals (a non-empty target without `--replace-all`, a replica, a
//! damaged input), the census of the inputs, and whether the file's own
//! bytes can go as they are or the RDB writer has to write the stream
//! (filters, `--db-map`/`--target-db`, expired keys, several inputs, a
//! version the target does not read). Also the summary at the end, with
//! the key counts per database checked against the census.

use std::collections::BTreeMap;
use std::time::Duration;

use super::census::{self, Census};
use super::control::{keyspace, TargetFacts};
use super::stream::Source;
use super::Options;
use crate::load::conn::Conn;
use crate::load::{jsonl, now_ms, InputError, InputFile, LoadError, OnConflict, Summary};
use crate::rdb::records::parse_header;
use crate::rdb::value::Dialect;
use crate::rdb::write::Format;
use crate::writer::emit::DbCounts;
use crate::writer::{self, format_name, Input};

pub struct Plan<'a> {
    pub source: Source<'a>,
    pub census: Census,
    /// Keys expected per target database.
    pub expected: BTreeMap<u64, u64>,
    /// Expired keys left out (else loaded, and expired by the server).
    pub skip_expired: bool,
    /// How the stream is made, for the summary.
    pub how: String,
    /// Bytes of the inputs.
    pub input_bytes: u64,
}

fn usage_refusal(opts: &Options, msg: String) -> LoadError {
    LoadError::Target {
        addr: opts.target.addr(),
        msg,
    }
}

/// Refuses what a full synchronisation must not do to this target.
fn check_target(opts: &Options, facts: &TargetFacts) -> Result<(), LoadError> {
    if let Some(m) = &facts.master_of_it {
        return Err(usage_refusal(
            opts,
            format!("is a replica of {m}: load its master instead (or REPLICAOF NO ONE first)"),
        ));
    }
    if facts.total_keys() > 0 && !opts.replace_all {
        let dbs: Vec<String> = facts
            .keys
            .iter()
            .map(|(d, n)| format!("db{d}: {n}"))
            .collect();
        return Err(usage_refusal(
            opts,
            format!(
                "holds {} keys ({}); a replicated load replaces everything a server holds, so it \
                 needs an empty target or --replace-all (or load with --mode restore, which keeps \
                 what is there under --on-conflict)",
                facts.total_keys(),
                dbs.join(", ")
            ),
        ));
    }
    Ok(())
}

/// The format the target reads best.
fn target_format(facts: &TargetFacts) -> Result<Format, LoadError> {
    let f = if facts.valkey && facts.rdb_max >= 80 {
        Format::new(Dialect::Valkey, facts.rdb_max.min(80))
    } else if facts.valkey {
        Format::new(Dialect::Redis, facts.rdb_max.min(11))
    } else {
        Format::new(Dialect::Redis, facts.rdb_max)
    };
    f.map_err(|e| LoadError::Usage(format!("cannot write for {}: {e}", facts.info.name())))
}

/// Whether the target loads a file of this dialect and version.
fn readable(facts: &TargetFacts, dialect: Dialect, version: u32) -> bool {
    match dialect {
        Dialect::Redis => {
            version
                <= if facts.valkey {
                    facts.rdb_max.min(11)
                } else {
                    facts.rdb_max
                }
        }
        Dialect::Valkey => facts.valkey && version <= facts.rdb_max,
    }
}

/// The target database of a source database.
fn db_of(opts: &Options, db: u64) -> u64 {
    if let Some(d) = opts.keys.db.or(opts.target.db) {
        return d;
    }
    opts.keys
        .db_map
        .iter()
        .find(|(from, _)| *from == db)
        .map_or(db, |(_, to)| *to)
}

pub fn make<'a>(
    files: &[InputFile<'a>],
    opts: &Options,
    facts: &TargetFacts,
) -> Result<Plan<'a>, LoadError> {
    if opts.engine.skip_corrupt.is_some() {
        return Err(LoadError::Usage(
            "--skip-corrupt is not available with --mode replicate (a server exits on a damaged \
             replication stream); write a clean file with `rdbkit rdb --skip-corrupt` first"
                .into(),
        ));
    }
    let mut headers = Vec::new();
    for f in files {
        if jsonl::is_jsonl(f.data) {
            return Err(LoadError::Usage(format!(
                "{}: JSON Lines input: write an RDB with `rdbkit rdb` first, or use --mode restore",
                f.name
            )));
        }
        headers.push(parse_header(f.data).map_err(|e| InputError::new(&*f.name, e.into()))?);
    }
    check_target(opts, facts)?;
    let skip_expired = !opts.keys.keep_expired
        || opts
            .engine
            .filter
            .as_ref()
            .is_some_and(|f| f.expired_before_ms.is_some());
    let now = now_ms();
    let filter = opts.engine.filter.as_deref();
    let census = census::take(files, &opts.engine, filter, skip_expired.then_some(now))?;
    let mut expected = BTreeMap::new();
    for (db, n) in &census.per_db {
        *expected.entry(db_of(opts, *db)).or_insert(0) += n;
    }
    let all_readable = headers
        .iter()
        .all(|h| readable(facts, h.dialect, h.version));
    let same_dbs = census.per_db.keys().all(|d| db_of(opts, *d) == *d);
    let user_filter = filter.is_some_and(|f| !f.is_pass_all());
    let raw = files.len() == 1
        && all_readable
        && same_dbs
        && !user_filter
        && census.expired == 0
        && census.vendor_hints == 0
        && opts.engine.verify_checksum;
    let (source, how) = if raw {
        let data = files[0].data;
        let end = data.len() - census.trailing[0] as usize;
        (
            Source::Raw(&data[..end], files[0].release),
            "the file's own bytes".to_string(),
        )
    } else {
        let fmt = if all_readable {
            None
        } else {
            Some(target_format(facts)?)
        };
        let how = match fmt {
            Some(f) => format!("written on the fly as {}", format_name(f)),
            None => "written on the fly".to_string(),
        };
        let wopts = writer_options(opts, &census, fmt, facts, skip_expired.then_some(now));
        let inputs = files
            .iter()
            .map(|f| Input {
                name: f.name.clone(),
                data: f.data,
            })
            .collect();
        (Source::Written(inputs, Box::new(wopts)), how)
    };
    Ok(Plan {
        source,
        census,
        expected,
        skip_expired,
        how,
        input_bytes: files.iter().map(|f| f.data.len() as u64).sum(),
    })
}

fn writer_options(
    opts: &Options,
    census: &Census,
    format: Option<Format>,
    facts: &TargetFacts,
    expired_before: Option<i64>,
) -> writer::Options {
    let mut filter = opts.engine.filter.as_deref().cloned().unwrap_or_default();
    filter.expired_before_ms = expired_before;
    let db_map = census
        .per_db
        .keys()
        .map(|d| (*d, db_of(opts, *d)))
        .filter(|(a, b)| a != b)
        .collect();
    writer::Options {
        format,
        server_version: None,
        valkey: facts.valkey,
        filter: (!filter.is_pass_all()).then_some(filter),
        db_map,
        on_conflict: OnConflict::Panic,
        lossy: opts.lossy,
        // The census verified every checksum already; a second whole-file
        // CRC pass would only pull the file into the resident set again.
        verify_checksum: false,
        now_ms: expired_before.unwrap_or_else(now_ms),
        // The census counted what is written: the stream keeps its
        // RESIZEDB hints under filters and expired-key skipping.
        db_counts: Some(output_counts(opts, census)),
        stream_values_above: writer::STREAM_VALUES_ABOVE,
    }
}

/// The census's keys and keys with a TTL, per target database.
fn output_counts(opts: &Options, census: &Census) -> DbCounts {
    let mut counts = DbCounts::new();
    for (db, n) in &census.per_db {
        let c: &mut (u64, u64) = counts.entry(db_of(opts, *db)).or_default();
        c.0 += n;
        c.1 += census.volatile_per_db.get(db).copied().unwrap_or(0);
    }
    counts
}

/// The load summary once the target has loaded: the census's buckets, the
/// key counts per database checked on the target.
pub fn summarise(
    plan: &Plan<'_>,
    facts: &TargetFacts,
    control: &mut Conn,
    written: Option<writer::Summary>,
    bytes: u64,
    refused: &[String],
    took: Duration,
) -> Result<Summary, LoadError> {
    let c = &plan.census;
    let mut s = Summary {
        keys_read: c.keys_read,
        filtered: c.filtered,
        skipped_expired: if plan.skip_expired { c.expired } else { 0 },
        skipped_empty: c.empty,
        keys_in_files: Some(c.keys_read),
        server_version: facts.info.name(),
        duration: took,
        ..Default::default()
    };
    let mut loaded = c.to_load() + if plan.skip_expired { 0 } else { c.expired };
    if let Some(w) = &written {
        s.dropped_lossy = w.dropped_keys;
        loaded = loaded.saturating_sub(w.dropped_keys);
        for l in w.to_text().lines().filter(|l| l.contains("--lossy")) {
            s.notes.push(l.trim_start_matches("rdbkit: ").to_string());
        }
    }
    s.bytes_read = plan.input_bytes;
    s.loaded = loaded;
    s.notes.push(format!(
        "replicated: {bytes} bytes streamed ({}), loaded by the target's own RDB loader",
        plan.how
    ));
    if !refused.is_empty() {
        s.notes
            .push(format!("refused connections: {}", refused.join("; ")));
    }
    let have: BTreeMap<u64, u64> = keyspace(control)?.into_iter().collect();
    let mismatch: Vec<String> = plan
        .expected
        .iter()
        .filter(|(db, n)| have.get(db).copied().unwrap_or(0) != **n)
        .map(|(db, n)| {
            format!(
                "db{db}: {} expected, {} held",
                n,
                have.get(db).copied().unwrap_or(0)
            )
        })
        .collect();
    if !mismatch.is_empty() && written.as_ref().is_none_or(|w| w.dropped_keys == 0) {
        let msg = format!("key counts differ on the target: {}", mismatch.join(", "));
        if c.volatile() > 0 || !plan.skip_expired {
            s.notes
                .push(format!("{msg} (keys with a TTL may have expired since)"));
        } else {
            s.ending = crate::load::Ending::Error(msg);
        }
    }
    Ok(s)
}
