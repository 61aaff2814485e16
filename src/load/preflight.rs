//! The walk before the first write: a load checks the whole of every input
//! file — record boundaries and the CRC-64 trailer, values not decoded —
//! before it sends anything, so that a truncated or damaged file writes
//! nothing into the target (unless `--skip-corrupt` says to load what can
//! be read). The walk also counts the file's keys, so that a load that stops
//! part-way can say how many keys it never sent.
//!
//! The boundary pass is the engine's own (lengths only); no worker does
//! anything, so this costs a fraction of a second per GB of input.

use std::sync::Arc;

use crate::scan::{self, Chunk, CorruptPolicy, EngineOptions, Worker};
use crate::sink::SinkError;

use super::LoadError;
use crate::restore::{jsonl, InputError, InputFile};

/// A worker with nothing to do: the boundary pass alone counts the keys.
struct Nothing;

impl<'a> Worker<'a> for Nothing {
    type Out = ();
    type Error = SinkError;
    fn process(&mut self, _: &Chunk<'a>) -> Result<(), SinkError> {
        Ok(())
    }
}

/// Keys in each input file (`None` for JSON Lines, which has no walk), or
/// the first damage found, with its offset. Under `--skip-corrupt` damage
/// is not an error (the load reports it as it goes) and the count is of the
/// keys the walk could read.
pub fn walk(
    files: &[InputFile<'_>],
    engine: &EngineOptions,
) -> Result<Vec<Option<u64>>, LoadError> {
    let mut opts = engine.clone();
    opts.start = None;
    opts.filter = None;
    if opts.skip_corrupt.is_some() {
        // The load itself reports each damaged record once.
        opts.skip_corrupt = Some(Arc::new(CorruptPolicy::new(|_| {})));
    }
    files
        .iter()
        .map(|f| {
            if jsonl::is_jsonl(f.data) {
                return Ok(None);
            }
            // The walk's pages leave the resident set as it goes, and all
            // of them at the end: the load reads the file again from its start.
            let release = |done: u64, _: u64, _: u64| {
                if let Some(r) = f.release {
                    r(done);
                }
            };
            let walked = scan::run(f.data, &opts, || Nothing, |(), _| Ok(()), Some(&release));
            if let Some(r) = f.release {
                r(u64::MAX);
            }
            let info = walked.map_err(|e| {
                InputError::new(&*f.name, e.into()).note(
                    "found by the check before loading: nothing was written; \
                     --skip-corrupt loads what can be read, --no-checksum ignores a \
                     checksum mismatch",
                )
            })?;
            Ok(Some(info.keys))
        })
        .collect()
}
