//! Per-key decisions shared by `load`, `resp` and `verify`: the options
//! that map a snapshot's keys onto a target (db, expiry shift, conflict
//! policy), what a target can take (by version), and how keys are named in
//! messages.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::rdb::records::{Item, ParseOptions, Parser};
use crate::scan::ScanError;
use crate::sink::SinkError;

use super::commands::TargetFeatures;
use super::worker::WorkerConfig;

/// What to do when `RESTORE` answers `BUSYKEY` (the key exists).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnConflict {
    /// Stop at the first existing key, leave it untouched, report it.
    Panic,
    /// `RESTORE ... REPLACE`: overwrite atomically (never DEL + RESTORE).
    Rewrite,
    /// Keep the target's key, count it, go on.
    Ignore,
}

impl OnConflict {
    pub fn action(self) -> &'static str {
        match self {
            OnConflict::Panic => "stopped",
            OnConflict::Rewrite => "rewritten",
            OnConflict::Ignore => "ignored",
        }
    }
}

/// An input that cannot be used as asked. The message is one line:
/// `FILE: [CONTEXT: ]CAUSE[ (NOTE)]`.
#[derive(Debug)]
pub struct InputError {
    /// The file's name as the user gave it (or what stands for it, e.g.
    /// "the replication stream").
    pub file: String,
    /// Where the problem is, said before the cause (e.g. "checkpoint
    /// offset 4096").
    pub context: Option<String>,
    pub cause: InputCause,
    /// What the failure means for the run, said after the cause.
    pub note: Option<&'static str>,
}

/// What is wrong with an input.
#[derive(Debug)]
pub enum InputCause {
    /// The file is not what the run needs, in words (it may be a fine file).
    Unusable(String),
    /// The file's bytes are not a valid RDB where they were read.
    Format(crate::Error),
    /// Reading the file's records failed (a walk of the parallel engine;
    /// the consumers' error type is a layer above this one).
    Read(Box<dyn std::error::Error + Send + Sync>),
    /// The RDB writer could not write the inputs. (Boxed and untyped here:
    /// the writer is a layer above this one; the box keeps every input
    /// error small.)
    Write(Box<dyn std::error::Error + Send + Sync>),
}

impl From<crate::Error> for InputCause {
    fn from(e: crate::Error) -> Self {
        InputCause::Format(e)
    }
}

/// A failed walk of the engine (whose consumers speak the sink layer's
/// error), as an input's cause.
impl From<SinkError> for InputCause {
    fn from(e: SinkError) -> Self {
        InputCause::Read(Box::new(e))
    }
}

impl From<ScanError<SinkError>> for InputCause {
    fn from(e: ScanError<SinkError>) -> Self {
        InputCause::Read(Box::new(SinkError::from(e)))
    }
}

impl InputError {
    pub fn new(file: impl Into<String>, cause: InputCause) -> Self {
        InputError {
            file: file.into(),
            context: None,
            cause,
            note: None,
        }
    }

    /// The file is not what the run needs (`msg` says why).
    pub fn unusable(file: impl Into<String>, msg: impl Into<String>) -> Self {
        InputError::new(file, InputCause::Unusable(msg.into()))
    }

    /// Says where the problem is, before the cause.
    pub fn at(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }

    /// Says what the failure means for the run, after the cause.
    pub fn note(mut self, note: &'static str) -> Self {
        self.note = Some(note);
        self
    }
}

impl fmt::Display for InputCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputCause::Unusable(m) => f.write_str(m),
            InputCause::Format(e) => e.fmt(f),
            InputCause::Read(e) => e.fmt(f),
            InputCause::Write(e) => e.fmt(f),
        }
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.file)?;
        if let Some(c) = &self.context {
            write!(f, "{c}: ")?;
        }
        self.cause.fmt(f)?;
        if let Some(n) = self.note {
            write!(f, " ({n})")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.cause {
            InputCause::Unusable(_) => None,
            InputCause::Format(e) => Some(e),
            InputCause::Read(e) => Some(&**e),
            InputCause::Write(e) => Some(&**e),
        }
    }
}

/// The highest RDB version a server accepts in RESTORE payloads, and whether
/// it is Valkey (which refuses the "foreign" versions 12-79), from its
/// `INFO server` version strings.
pub fn target_rdb_version(redis_version: &str, valkey_version: Option<&str>) -> (u32, bool) {
    let parse = |v: &str| -> (u32, u32) {
        let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    };
    if let Some(v) = valkey_version {
        let (ma, mi) = parse(v);
        let max = match (ma, mi) {
            (0..=8, _) => 11,
            (9, 0..=1) => 80,
            (9, _) => 81,
            _ => 81,
        };
        return (max, true);
    }
    let (ma, mi) = parse(redis_version);
    let max = match (ma, mi) {
        (0..=2, 0..=5) => 5,
        (2, _) | (3, 0..=1) => 6,
        (3, _) => 7,
        (4, _) => 8,
        (5..=6, _) => 9,
        (7, 0..=1) => 10,
        (7, 2..=3) => 11,
        (7, _) | (8, 0..=5) => 12,
        (8, 6..=7) => 13,
        (8, 8..=9) => 14,
        // `unstable` builds report 255.255.255; the one known here
        // (e58041978, after 8.8.0 GA) reads up to 14.
        (255, _) => 14,
        _ => 15,
    };
    (max, false)
}

/// Command-mode features of a target, from its version.
pub fn target_features(redis_version: &str, valkey_version: Option<&str>) -> TargetFeatures {
    let major_minor = |v: &str| -> (u32, u32) {
        let mut it = v.split('.').map(|x| x.parse::<u32>().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    };
    match valkey_version {
        Some(v) => TargetFeatures {
            field_ttl: major_minor(v).0 >= 9,
            stream_v2: true,
            ..Default::default()
        },
        None => {
            let v = major_minor(redis_version);
            TargetFeatures {
                field_ttl: v >= (7, 4),
                stream_v2: v >= (7, 0),
                // Redis 8.8+ (and `unstable`, 255.255.255): AR*, XNACK.
                array: v >= (8, 8),
                xnack: v >= (8, 8),
                ..Default::default()
            }
        }
    }
}

/// How records become RESTORE commands (shared by `load` and `resp`).
#[derive(Debug, Clone, Default)]
pub struct KeyOptions {
    /// Put every key into this db.
    pub db: Option<u64>,
    /// Source db -> target db.
    pub db_map: Vec<(u64, u64)>,
    pub keep_expired: bool,
    /// Shift expiries by (now - the snapshot's ctime).
    pub ttl_from_snapshot: bool,
    pub lru: bool,
    pub lfu: bool,
    /// "Now" in Unix ms (tests set it; default: the clock).
    pub now_ms: Option<i64>,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One input: a name for messages and its bytes.
pub struct InputFile<'a> {
    pub name: String,
    pub data: &'a [u8],
    /// Called with the offset below which the input will not be read again
    /// (e.g. to release mapped pages); `None` for no such hint.
    pub release: Option<&'a (dyn Fn(u64) + Sync)>,
}

/// Reads the snapshot's `ctime` aux field (seconds) before the first key.
pub fn snapshot_ctime_ms(data: &[u8]) -> Option<i64> {
    let mut p = Parser::new(
        data,
        ParseOptions {
            verify_checksum: false,
        },
    )
    .ok()?;
    while let Ok(Some(item)) = p.next_item() {
        match item {
            Item::Aux { key, value } if key.to_vec().ok()? == b"ctime" => {
                let v = value.to_vec().ok()?;
                return std::str::from_utf8(&v)
                    .ok()?
                    .parse::<i64>()
                    .ok()
                    .map(|s| s * 1000);
            }
            Item::Key(_) | Item::Eof { .. } => return None,
            _ => {}
        }
    }
    None
}

/// Builds each file's worker configuration (expiry shift, db mapping).
pub fn worker_config(
    file: usize,
    data: &[u8],
    keys: &KeyOptions,
    cluster: bool,
    policy: OnConflict,
    dry_run: bool,
    name: &str,
) -> Result<WorkerConfig, InputError> {
    let now = keys.now_ms.unwrap_or_else(now_ms);
    let shift = if keys.ttl_from_snapshot {
        match snapshot_ctime_ms(data) {
            Some(ctime) => now - ctime,
            None => return Err(InputError::unusable(
                name,
                "--ttl-from-snapshot needs the snapshot's ctime aux field, which this file lacks",
            )),
        }
    } else {
        0
    };
    Ok(WorkerConfig {
        file,
        now_ms: now,
        shift_ms: shift,
        keys: keys.clone(),
        cluster,
        replace: policy == OnConflict::Rewrite,
        dry_run,
        commands: None,
        resume: None,
    })
}

/// A key for messages: escaped, and cut to 80 characters with its length
/// when longer.
pub fn shown(b: &[u8]) -> String {
    const MAX: usize = 80;
    if b.len() <= MAX {
        return printable(b);
    }
    let p = printable(&b[..MAX]);
    format!("{}…\" ({} bytes)", &p[..p.len() - 1], b.len())
}

/// Printable, escaped form of a key for messages (never raw binary).
pub fn printable(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(t) => format!("{t:?}"),
        Err(_) => {
            let mut s = String::from("\"");
            for c in b.escape_ascii() {
                s.push(c as char);
            }
            s.push('"');
            s
        }
    }
}
