//! Flags every file-reading command shares ([`Common`]: threads, checksum,
//! `--skip-corrupt`, the record filters) and what they become: the engine's
//! options, and the exit code once damaged records were skipped.

use std::sync::Arc;

use clap::Args;

use rdbkit::filter::{self, Expiry, Filter, Pattern};
use rdbkit::rdb::value::Kind;
use rdbkit::restore;
use rdbkit::scan::{Corrupt, CorruptPolicy, EngineOptions};

use super::exit;

#[derive(Args, Debug, Clone)]
pub struct Common {
    /// Worker threads, 1 to 1024 (default: all cores).
    #[arg(long, short = 'j', value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// No progress bar and no summary on stderr (errors and warnings still
    /// show; `--json` output still goes to stdout).
    #[arg(long, short)]
    pub quiet: bool,
    /// Do not verify the CRC-64 trailer.
    #[arg(long)]
    pub no_checksum: bool,
    /// Leave damaged records out (reported on stderr with their offset and
    /// key) and go on from the next readable record, instead of stopping at
    /// the first; a checksum mismatch becomes a warning. Exit code 6 if
    /// anything was skipped.
    #[arg(long)]
    pub skip_corrupt: bool,
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Record filters, shared by every command. Checked on the key, type, expiry
/// and value span only: a dropped record's value is never decoded.
#[derive(Args, Debug, Clone, Default)]
#[command(next_help_heading = "Filters")]
pub struct FilterArgs {
    /// Only keys of this source database (repeatable).
    #[arg(long = "db", value_name = "N")]
    dbs: Vec<u64>,
    /// Only keys matching this Redis glob (`*`, `?`, `[a-z]`, `\x`; repeatable).
    #[arg(long = "key", value_name = "GLOB")]
    keys: Vec<String>,
    /// Only keys matching this regex over the key's bytes (unanchored; repeatable).
    #[arg(long = "key-regex", value_name = "RE", value_parser = regex_arg)]
    key_regexes: Vec<String>,
    /// Leave out keys matching this glob (repeatable).
    #[arg(long = "not-key", value_name = "GLOB")]
    not_keys: Vec<String>,
    /// Leave out keys matching this regex (repeatable).
    #[arg(long = "not-key-regex", value_name = "RE", value_parser = regex_arg)]
    not_key_regexes: Vec<String>,
    /// Only these types: string,list,set,zset,hash,stream,module (repeatable).
    #[arg(long = "type", value_name = "TYPES", value_parser = filter::parse_types)]
    types: Vec<Vec<Kind>>,
    /// Only values of at least this serialized size (e.g. 512, 10k, 4M).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    min_bytes: Option<u64>,
    /// Only values of at most this serialized size.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_bytes: Option<u64>,
    /// Only keys with an expiry.
    #[arg(long, conflicts_with = "persistent")]
    expiring: bool,
    /// Only keys without an expiry.
    #[arg(long)]
    persistent: bool,
    /// Leave out keys whose expiry is already past (now, by this machine's clock).
    #[arg(long)]
    skip_expired: bool,
}

/// `-j`: at least one thread, and no more than could ever help (each
/// thread holds chunks in flight; 100000 threads took seconds to start).
fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n @ 1..=1024) => Ok(n),
        Ok(0) => Err("must be at least 1".into()),
        Ok(_) => Err("at most 1024".into()),
        Err(_) => Err(format!("not a number: {s:?}")),
    }
}

/// A size flag that sizes a buffer (see [`parse_size`]).
pub fn parse_size_usize(s: &str) -> Result<usize, String> {
    parse_size(s).and_then(|n| usize::try_from(n).map_err(|_| format!("too large: {s:?}")))
}

/// Checks a regex at parse time, so a bad one is a usage error (exit 2).
fn regex_arg(s: &str) -> Result<String, String> {
    Pattern::regex(s).map(|_| s.to_string())
}

/// `123`, `10k`, `4M`, `1G` (binary multiples; a trailing `b`/`B`/`iB` is allowed).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix(['b', 'B']))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&t[..t.len() - 1], 1 << 20),
        Some('g' | 'G') => (&t[..t.len() - 1], 1 << 30),
        Some('t' | 'T') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    num.trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(|| format!("not a size: {s:?} (e.g. 512, 10k, 4M)"))
}

impl FilterArgs {
    pub fn build(&self) -> Result<Option<Filter>, String> {
        let mut keys: Vec<Pattern> = self.keys.iter().map(|g| Pattern::glob(g)).collect();
        for r in &self.key_regexes {
            keys.push(Pattern::regex(r)?);
        }
        let mut not_keys: Vec<Pattern> = self.not_keys.iter().map(|g| Pattern::glob(g)).collect();
        for r in &self.not_key_regexes {
            not_keys.push(Pattern::regex(r)?);
        }
        let f = Filter {
            dbs: self.dbs.clone(),
            keys,
            not_keys,
            types: self.types.iter().flatten().copied().collect(),
            min_bytes: self.min_bytes,
            max_bytes: self.max_bytes,
            expiry: if self.expiring {
                Some(Expiry::Expiring)
            } else if self.persistent {
                Some(Expiry::Persistent)
            } else {
                None
            },
            expired_before_ms: self.skip_expired.then(restore::now_ms),
        };
        Ok((!f.is_pass_all()).then_some(f))
    }
}

impl Common {
    /// The engine settings, with the filter and the `--skip-corrupt`
    /// reporter (`label` names the input in its messages).
    pub fn engine(&self, label: &str) -> Result<EngineOptions, String> {
        let label = label.to_string();
        let mut e = EngineOptions {
            verify_checksum: !self.no_checksum,
            filter: self.filter.build()?.map(Arc::new),
            skip_corrupt: self.skip_corrupt.then(|| {
                Arc::new(CorruptPolicy::new(move |c: &Corrupt| {
                    let key = match &c.key {
                        Some(k) => format!(" (key {})", restore::printable(k)),
                        None => String::new(),
                    };
                    let resumed = match c.resume {
                        Some(r) => format!("; resumed at byte offset {r}"),
                        None => "; nothing readable after it".to_string(),
                    };
                    eprintln!(
                        "rdbkit: warning: {label}: skipped a damaged record at byte offset {}{key}: {}{resumed}",
                        c.start, c.error
                    );
                }))
            }),
            ..Default::default()
        };
        if let Some(t) = self.threads {
            e.threads = t.max(1);
        }
        Ok(e)
    }
}

/// After a successful run: warns of checksum mismatches under
/// `--skip-corrupt` and turns `code` into [`exit::DAMAGED`] when anything
/// was skipped (a more specific failure code wins).
pub fn damage(engine: &EngineOptions, label: &str, code: u8) -> u8 {
    let Some(p) = &engine.skip_corrupt else {
        return code;
    };
    let mismatches = p.checksum_mismatches();
    for (stored, computed) in &mismatches {
        eprintln!(
            "rdbkit: warning: {label}: checksum mismatch: stored {stored:016x}, computed {computed:016x}"
        );
    }
    let damaged = p.count() > 0 || !mismatches.is_empty();
    if damaged {
        eprintln!(
            "rdbkit: {label}: {} damaged record(s) skipped{}",
            p.count(),
            if mismatches.is_empty() {
                ""
            } else {
                ", checksum mismatch"
            }
        );
    }
    if damaged && code == exit::OK {
        exit::DAMAGED
    } else {
        code
    }
}
