//! One pass over an input's base (`json`, `stats`): a zstd RDB is read
//! while it is decompressed ([`rdbkit::input::Arriving`]); anything else
//! is opened whole first, as every other command does.

use std::path::Path;

use rdbkit::aof::source::{self, Opened};
use rdbkit::input::{Arriving, Release};
use rdbkit::scan::{EngineOptions, Progress};
use rdbkit::sink::json::JsonSummary;
use rdbkit::sink::stats::Stats;
use rdbkit::sink::SinkError;

use super::{aof, progress};

/// An input for one pass over its base.
pub enum Early {
    Arriving(Arriving),
    Whole(Opened),
}

/// What a pass over an arriving input saw after the RDB's checksum: an
/// AOF's commands follow an RDB preamble there ([`Early::pass`]).
pub trait AfterRdb {
    fn trailing(&self) -> u64;
    /// The pass covered an AOF's commands too: count only the RDB part.
    fn rdb_only(&mut self) {}
}

impl AfterRdb for JsonSummary {
    fn trailing(&self) -> u64 {
        self.trailing
    }
}

impl AfterRdb for Stats {
    fn trailing(&self) -> u64 {
        self.trailing_bytes
    }
    fn rdb_only(&mut self) {
        self.file_bytes -= self.trailing_bytes;
        self.trailing_bytes = 0;
    }
}

/// Opens `file` for one pass over its base.
pub fn open(file: &Path) -> Result<Early, String> {
    let named = |e: std::io::Error| format!("{}: {e}", file.display());
    if file.as_os_str() == "-" {
        return aof::open_any(file).map(Early::Whole);
    }
    let Some(arr) = Arriving::open(file).map_err(named)? else {
        return aof::open_any(file).map(Early::Whole);
    };
    let a = arr.arrival();
    let mut have = a.ready();
    while have < 6 && !a.is_complete() {
        have = a
            .wait_beyond(have)
            .map_err(|u| format!("{}: {}", file.display(), u.detail))?;
    }
    let head = &arr.bytes()[..have as usize];
    if head.starts_with(b"REDIS") || head.starts_with(b"VALKEY") {
        return Ok(Early::Arriving(arr));
    }
    let input = arr.into_input().map_err(named)?;
    source::from_input(file, input, &aof::open_part).map(Early::Whole)
}

impl Early {
    /// Runs `pass` over the base (with a bar over its bytes unless
    /// `quiet`), then says what the file is: `None` when the pass failed
    /// over an arriving input (what follows its base is then unknown), and
    /// the pass's result (`None` for an AOF without an RDB base).
    #[allow(clippy::type_complexity)]
    pub fn pass<T: AfterRdb>(
        self,
        file: &Path,
        engine: &EngineOptions,
        quiet: bool,
        pass: impl FnOnce(&[u8], &EngineOptions, Option<Progress<'_>>) -> Result<T, SinkError>,
    ) -> Result<(Option<Opened>, Result<Option<T>, SinkError>), String> {
        let run = |data: &[u8], release: &(dyn Release + Sync), engine: &EngineOptions| {
            let bar = progress::Bar::new(quiet, data.len() as u64);
            let cb = bar.callback(release);
            let r = pass(data, engine, Some(&cb));
            bar.finish();
            r
        };
        match self {
            Early::Whole(opened) => {
                let r = match opened.base() {
                    Some((input, data)) => run(data, input, engine).map(Some),
                    None => Ok(None),
                };
                Ok((Some(opened), r))
            }
            Early::Arriving(arr) => {
                let reading = EngineOptions {
                    arrival: Some(arr.arrival()),
                    ..engine.clone()
                };
                let mut t = match run(arr.bytes(), &arr, &reading) {
                    Ok(t) => t,
                    Err(e) => return Ok((None, Err(e))),
                };
                let opened = after_base(file, arr, t.trailing())?;
                if matches!(opened, Some(Opened::Aof(_))) {
                    t.rdb_only();
                }
                Ok((opened, Ok(Some(t))))
            }
        }
    }
}

/// After one pass over the RDB part of an [`Arriving`] input (which read
/// it once: its bytes are gone), what follows it: the commands of an AOF
/// with an RDB preamble, found from the `trailing` bytes the pass saw
/// after the checksum; otherwise a plain RDB (trailing garbage is
/// ignored, as Redis does), of which only the pass's result matters.
fn after_base(file: &Path, arr: Arriving, trailing: u64) -> Result<Option<Opened>, String> {
    let input = arr
        .into_input()
        .map_err(|e| format!("{}: {e}", file.display()))?;
    let end = input.len() - (trailing as usize).min(input.len());
    Ok(source::preamble_at(file, input, end).map(Opened::Aof))
}
