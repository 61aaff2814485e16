//! The chunk grid of a finished pass, replayed by a later pass over the
//! same bytes.
//!
//! The boundary walk is the one sequential part of a pass (every record's
//! length fields are read in file order). A command that reads its input
//! twice — `split` counts each output's keys first, because the RESIZEDB
//! hints and slot counts come before the keys they describe — records the
//! grid of its first pass and hands it to the second, whose chunks then
//! come straight from the list. Chunks are cut from the items alone, so
//! the grid does not depend on the filter or the workers; it is only
//! replayed when nothing else can move a boundary (no `--skip-corrupt`
//! look back, no resumed start).

use super::chunk::{Chunk, EofInfo};
use super::PassInfo;

/// One chunk's place: what [`Chunk`] carries besides the data.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cut {
    pub start: u64,
    pub end: u64,
    pub db: u64,
    pub keys: u64,
    pub eof_at: Option<u64>,
}

/// The chunks of one whole pass, in file order, and how the pass ended.
/// About 40 bytes per chunk of 2 MiB: a few KiB for a large file.
#[derive(Debug, Clone, Default)]
pub struct Grid {
    pub(super) cuts: Vec<Cut>,
    pub(super) eof: EofInfo,
    complete: bool,
}

impl Grid {
    /// Notes a consumed chunk (call it for every chunk, in order).
    pub fn record(&mut self, c: &Chunk<'_>) {
        self.cuts.push(Cut {
            start: c.start,
            end: c.end,
            db: c.db,
            keys: c.keys,
            eof_at: c.eof_at,
        });
    }

    /// Closes the grid after a pass that ran to its end; a grid of a pass
    /// that stopped early is never replayed.
    pub fn complete(&mut self, info: &PassInfo) {
        if info.stopped {
            return;
        }
        let eof_at = self.cuts.last().and_then(|c| c.eof_at);
        self.eof = eof_at.map(|at| (info.checksum, at, info.trailing_bytes as usize));
        self.complete = true;
    }

    /// Whether a later pass may take its chunks from this grid.
    pub fn is_complete(&self) -> bool {
        self.complete
    }
}
