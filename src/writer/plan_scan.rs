//! Pass 1 over an RDB input on the parallel engine ([`crate::scan`]): each
//! worker filters its chunk's records, reads the keys it must (to route
//! them by slot, or to resolve conflicts) and routes them; the calling
//! thread folds the chunks into the [`Tally`] in file order. When keys are
//! not tracked a worker only counts (no key is copied), so a `split` plan
//! costs a parallel read of the file instead of a sequential one.
//!
//! ```text
//! chunk ──worker──▶ PlanChunk { counts | kept keys, functions, aux, in order }
//!                        └──────▶ Tally (in file order: conflicts, winners)
//! ```

use crate::scan::{self, Chunk, EngineOptions, Grid, ScanError, Worker};

use super::emit::DbCounts;
use super::plan::{unrouted, InputAt, Kept, Rules, Tally};
use super::route::Route;
use super::source::{self, Entry};
use super::{in_file, Input, Options, Summary, WriteError};

/// What a chunk holds for pass 1, in file order.
enum Found {
    Key(Kept),
    Function(Vec<u8>),
    ModuleAux(Vec<u8>),
    Aux(Vec<u8>, Vec<u8>),
}

/// One chunk's share of pass 1.
pub(crate) struct PlanChunk {
    /// Untracked keys: counts per output database, per output.
    counts: Vec<DbCounts>,
    /// Untracked keys, when SLOT_INFO is written: (slot, expires).
    slots: Vec<(u16, bool)>,
    found: Vec<Found>,
}

/// Turns chunks into [`PlanChunk`]s.
struct PlanWorker<'p> {
    opts: &'p Options,
    route: &'p Route,
    at: &'p InputAt<'p>,
    track: bool,
    /// Per-slot counts are wanted (SLOT_INFO).
    slots: bool,
    outputs: usize,
    scratch: Vec<u8>,
}

impl PlanWorker<'_> {
    /// One entry of the chunk into `pc`.
    fn entry(&mut self, pc: &mut PlanChunk, e: Entry<'_>) -> Result<(), Stop> {
        match e {
            Entry::Record(rec) => {
                let rules = Rules { opts: self.opts };
                let Some(db) = rules.admit_record(&rec, &mut self.scratch)? else {
                    return Ok(());
                };
                let key: &[u8] = if self.track || self.route.needs_key() {
                    rec.key.bytes(&mut self.scratch)?
                } else {
                    &[]
                };
                let (out, slot) = self
                    .route
                    .route_slot(db, key)
                    .map_err(|m| Stop::Write(unrouted(self.at, db, key, m)))?;
                let expires = rec.expire_ms.is_some();
                if self.track {
                    pc.found.push(Found::Key(Kept {
                        db,
                        key: key.to_vec(),
                        offset: rec.offset,
                        expires,
                        out,
                        slot,
                    }));
                } else {
                    let c = pc.counts[out].entry(db).or_default();
                    c.0 += 1;
                    c.1 += expires as u64;
                    if let (Some(s), true) = (slot, self.slots) {
                        pc.slots.push((s, expires));
                    }
                }
            }
            Entry::Function(code) => pc.found.push(Found::Function(code)),
            Entry::ModuleAux(m) => pc.found.push(Found::ModuleAux(m.raw.to_vec())),
            Entry::Aux(k, v) if self.at.own_aux => pc.found.push(Found::Aux(k, v)),
            Entry::Aux(..) | Entry::ResizeDb { .. } | Entry::Json(_) => {}
        }
        Ok(())
    }
}

/// Why a chunk's walk stopped.
enum Stop {
    Format(crate::Error),
    Write(WriteError),
}

impl From<crate::Error> for Stop {
    fn from(e: crate::Error) -> Self {
        Stop::Format(e)
    }
}

impl<'a> Worker<'a> for PlanWorker<'_> {
    type Out = PlanChunk;
    type Error = WriteError;

    fn process(&mut self, chunk: &Chunk<'a>) -> Result<PlanChunk, WriteError> {
        let mut pc = PlanChunk {
            counts: vec![DbCounts::new(); if self.track { 0 } else { self.outputs }],
            found: Vec::new(),
            slots: Vec::new(),
        };
        let mut stop = None;
        let r = chunk.parser().and_then(|mut p| {
            source::walk_parser(&mut p, |e| {
                self.entry(&mut pc, e).map_err(|s| match s {
                    Stop::Format(e) => e,
                    Stop::Write(w) => {
                        stop = Some(w);
                        // Only a marker: `stop` is what is reported.
                        crate::Error::new(0, crate::ErrorKind::NotRdb)
                    }
                })
            })
        });
        match (r, stop) {
            (_, Some(w)) => Err(w),
            (Err(e), None) => Err(in_file(self.at.name, e)),
            (Ok(()), None) => Ok(pc),
        }
    }
}

/// Adds a chunk's findings to the tally, in order.
fn fold(
    t: &mut Tally<'_>,
    at: &InputAt<'_>,
    pc: PlanChunk,
    summary: &mut Summary,
) -> Result<(), WriteError> {
    for (mine, theirs) in t.counts.iter_mut().zip(&pc.counts) {
        for (db, (n, e)) in theirs {
            let c = mine.entry(*db).or_default();
            c.0 += n;
            c.1 += e;
        }
    }
    for (s, e) in pc.slots {
        t.slot_key(Some(s), e);
    }
    for f in pc.found {
        match f {
            Found::Key(k) => t.key(at, k, summary)?,
            Found::Function(code) => t.function(at, code)?,
            Found::ModuleAux(raw) => t.module_aux(raw),
            Found::Aux(k, v) => t.aux(at, &k, &v),
        }
    }
    Ok(())
}

/// Pass 1 over RDB input `at` on the parallel engine (which also checks
/// its CRC-64, when asked); returns the pass's chunk grid for pass 2.
pub(crate) fn plan_input(
    t: &mut Tally<'_>,
    route: &Route,
    at: &InputAt<'_>,
    input: &Input<'_>,
    summary: &mut Summary,
) -> Result<Grid, WriteError> {
    let engine = EngineOptions {
        verify_checksum: t.opts().verify_checksum,
        ..Default::default()
    };
    let (opts, track, outputs) = (t.opts(), t.track, route.outputs());
    let slots = !t.slots.is_empty();
    let make = || PlanWorker {
        opts,
        route,
        at,
        track,
        slots,
        outputs,
        scratch: Vec::new(),
    };
    let mut grid = Grid::default();
    let r = scan::run(
        input.data,
        &engine,
        make,
        |pc: PlanChunk, c: &Chunk<'_>| {
            grid.record(c);
            fold(t, at, pc, summary)
        },
        None,
    );
    match r {
        Ok(info) => {
            grid.complete(&info);
            Ok(grid)
        }
        Err(ScanError::Format(e)) => Err(in_file(&input.name, e)),
        Err(ScanError::Consumer(e)) => Err(e),
    }
}
