//! The `--conflicts` and `--failed` report files: written under a
//! temporary name and renamed into place when the load ends.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::restore::Op;
use crate::sink::jsonfmt::{write_bytes, write_u64};

use super::LoadError;

/// `--conflicts` / `--failed`: written under a temporary name, renamed
/// into place when the load ends (stopped or not: the lists then hold what
/// the summary counts), so no half-written list is ever taken for whole.
pub(super) type ReportFile = BufWriter<crate::outpath::AtomicFile>;

/// Opens a report file (see [`ReportFile`]).
pub(super) fn report_file(p: &Option<PathBuf>) -> Result<Option<ReportFile>, LoadError> {
    p.as_ref()
        .map(|p| {
            crate::outpath::AtomicFile::create(p)
                .map(BufWriter::new)
                .map_err(LoadError::io(p.display().to_string()))
        })
        .transpose()
}

/// Flushes a report file and renames it into place.
pub(super) fn commit_report(w: Option<ReportFile>, what: &str) -> Result<(), LoadError> {
    let Some(w) = w else { return Ok(()) };
    w.into_inner()
        .map_err(|e| LoadError::io(what)(e.into_error()))?
        .commit()
        .map_err(LoadError::io(what))
}

/// Appends a conflict line.
pub(super) fn write_conflict(w: &mut ReportFile, op: &Op<'_>, action: &str, file: &str) {
    let mut l = Vec::new();
    l.extend_from_slice(b"{\"db\":");
    write_u64(&mut l, op.db);
    l.extend_from_slice(b",\"key\":");
    write_bytes(&mut l, &op.key);
    l.extend_from_slice(b",\"action\":\"");
    l.extend_from_slice(action.as_bytes());
    l.extend_from_slice(b"\",\"file\":");
    write_bytes(&mut l, file.as_bytes());
    l.extend_from_slice(b",\"offset\":");
    write_u64(&mut l, op.offset);
    l.extend_from_slice(b"}\n");
    let _ = w.write_all(&l);
}
