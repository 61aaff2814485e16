//! The unit of work the boundary pass hands to workers, and the one
//! keep/filter/damage decision workers take on each of its records.

use std::sync::Arc;

use super::corrupt::{Corrupt, CorruptPolicy};
use crate::error::Error;
use crate::filter::Filter;
use crate::rdb::records::{Header, ParseOptions, Parser, Record};
use crate::rdb::resync;
use crate::rdb::value::{Discard, Scratch};

/// A chunk of consecutive whole items: a byte range that the boundary pass
/// found, which a worker walks again with [`Chunk::parser`]. Only offsets
/// travel between threads; records are rebuilt where they are used.
pub struct Chunk<'a> {
    pub seq: u64,
    pub(super) data: &'a [u8],
    pub(super) header: Header,
    /// Byte range of the chunk in the file.
    pub start: u64,
    pub end: u64,
    /// Database selected at `start`.
    pub db: u64,
    /// Keys in the chunk.
    pub keys: u64,
    /// Offset of the EOF opcode, when this is the last chunk.
    pub eof_at: Option<u64>,
    pub(super) filter: Option<Arc<Filter>>,
    pub(super) skip: Option<Arc<CorruptPolicy>>,
    /// Records starting before this offset are left out: they follow a
    /// damaged value before the grid is certain again
    /// ([`Chunk::certain_after`]).
    pub(super) doubt_until: std::cell::Cell<u64>,
}

impl<'a> Chunk<'a> {
    /// A parser over exactly this chunk's items.
    pub fn parser(&self) -> Result<Parser<'a>, Error> {
        Parser::resume(
            self.data,
            self.header,
            self.start as usize,
            self.end as usize,
            self.db,
            ParseOptions {
                verify_checksum: false,
            },
        )
    }

    /// Whether the engine's filter keeps `rec`. Looks only at the key, type,
    /// expiry and value span, so a dropped value is never decoded.
    #[inline]
    pub fn keep(&self, rec: &Record<'_>, scratch: &mut Vec<u8>) -> Result<bool, Error> {
        match &self.filter {
            None => Ok(true),
            Some(f) => f.matches(rec, scratch),
        }
    }

    /// The one decision every command takes on a record before using it:
    /// dropped by the filter, or (under `--skip-corrupt`) damaged, or kept.
    /// A damaged value is one that does not decode; it is reported here, so
    /// that `json`, `resp`, `load`, `verify` and `memory` leave out exactly
    /// the same keys, whether or not they would decode the value themselves
    /// (a RESTORE payload is sent as it is in the file, and a server with
    /// `sanitize-dump-payload no` would take a broken one).
    pub fn admit(&self, rec: &Record<'_>, scratch: &mut Vec<u8>) -> Result<Admit, Error> {
        if rec.offset < self.doubt_until.get() {
            return Ok(Admit::Damaged); // reported with the record before it
        }
        if !self.keep(rec, scratch)? {
            return Ok(Admit::Filtered);
        }
        if self.skip.is_some() {
            let r = VALUE_SCRATCH.with(|s| rec.decode(&mut s.borrow_mut(), &mut Discard));
            if let Err(e) = r {
                self.value_error(rec, e)?;
                return Ok(Admit::Damaged);
            }
        }
        Ok(Admit::Keep)
    }

    /// Where the record grid is certain again after `rec`, whose value did
    /// not decode: the walk took `rec`'s lengths on trust, and a damaged
    /// length that still read as a well-formed string (an integer encoding,
    /// a shorter length) puts the next "records" inside the damaged value.
    /// So the records after it count only from where a resynchronisation
    /// with its full evidence (see [`resync`]) agrees; in a good file that
    /// is the very next record. Never past this chunk's end.
    fn certain_after(&self, rec: &Record<'_>) -> u64 {
        let next = rec.end_offset();
        let at = resync::resync(self.data, self.header, next as usize, rec.db);
        at.map_or(self.end, |p| p as u64).clamp(next, self.end)
    }

    /// A value of this chunk failed to decode: under `--skip-corrupt` it is
    /// reported and the worker goes on without it (`Ok`); otherwise the
    /// error comes back.
    pub fn value_error(&self, rec: &Record<'_>, error: Error) -> Result<(), Error> {
        match &self.skip {
            None => Err(error),
            Some(p) => {
                let resume = self.certain_after(rec);
                self.doubt_until.set(resume);
                p.report(&Corrupt {
                    start: rec.offset,
                    resume: Some(resume),
                    key: rec.key.to_vec().ok(),
                    error,
                });
                Ok(())
            }
        }
    }

    /// Whether damaged records are skipped (`--skip-corrupt`).
    pub fn skips_corrupt(&self) -> bool {
        self.skip.is_some()
    }
}

/// What [`Chunk::admit`] decided about a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    Keep,
    /// Left out by the filter.
    Filtered,
    /// Its value does not decode; reported under `--skip-corrupt`.
    Damaged,
}

thread_local! {
    /// Decoder scratch of [`Chunk::admit`]'s check, one per worker thread.
    static VALUE_SCRATCH: std::cell::RefCell<Scratch> = Default::default();
}

/// How a walk ended, when it reached the end-of-file opcode: the stored
/// CRC-64 (`None` for files without one), the opcode's offset, and the
/// bytes after the trailer. `None`: the walk stopped before the end.
pub(super) type EofInfo = Option<(Option<u64>, u64, usize)>;
