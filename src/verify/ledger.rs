//! What a verdict means for the counts: [`account`] counts it (and writes
//! its `--diff` line) and says what becomes of the key next.

use std::io::Write;

use super::eval::{self, RedirectKind, Verdict};
use super::report;
use super::worker::FastStats;
use super::{KeyCheck, Method, Summary, VerifyError};
use crate::outpath::AtomicFile;
use crate::restore::{printable, InputFile};

/// What becomes of a key after a verdict.
pub(super) enum Next<'a> {
    /// Counted.
    Done,
    /// Send it again (decoded comparison after a DUMP mismatch).
    Again(KeyCheck<'a>),
    /// Check it page by page.
    Paged(KeyCheck<'a>),
    /// Send it again after a cluster redirect.
    Redirected(KeyCheck<'a>, RedirectKind),
}

/// Differing keys named on stderr after a failed verify.
pub const FIRST_DIFFERENCES: usize = 5;

/// A key for a message: escaped, and cut to about 60 characters.
fn shortened(key: &[u8]) -> String {
    let p = printable(key);
    if p.chars().count() <= 60 {
        return p;
    }
    let head: String = p.chars().take(56).collect();
    format!("{head}...\" ({} bytes)", key.len())
}

/// Counts a verdict (and writes its `--diff` line); says what comes next.
pub(super) fn account<'a>(
    summary: &mut Summary,
    diff_out: &mut Option<AtomicFile>,
    fast: &FastStats,
    files: &[InputFile<'_>],
    mut check: KeyCheck<'a>,
    verdict: Verdict,
) -> Result<Next<'a>, VerifyError> {
    let final_verdict = !matches!(
        verdict,
        Verdict::Fallback | Verdict::Redirect(_) | Verdict::TooBig
    );
    if final_verdict && check.notes.field_ttls_unchecked {
        summary.field_ttls_unchecked += 1;
    }
    let decoded = matches!(check.method, Method::Decoded | Method::Paged);
    match verdict {
        Verdict::Match { fast: by_dump } => {
            summary.checked += 1;
            summary.matched += 1;
            if by_dump {
                summary.matched_by_dump += 1;
                fast.record(check.rec.type_byte, true);
            }
            summary.compared_decoded += decoded as u64;
        }
        Verdict::Differ(diffs) => {
            summary.checked += 1;
            summary.count(diffs[0].reason);
            if summary.first_differences.len() < FIRST_DIFFERENCES {
                let d = &diffs[0];
                let what = match d.reason {
                    eval::Reason::Missing => "missing".to_string(),
                    r => format!("{}: {}", r.name(), d.what),
                };
                summary.first_differences.push(format!(
                    "db {} {} ({what})",
                    check.db,
                    shortened(&check.key)
                ));
            }
            summary.compared_decoded += decoded as u64;
            if let Some(w) = diff_out.as_mut() {
                let mut line = Vec::new();
                report::diff_line(
                    &mut line,
                    check.db,
                    &check.key,
                    check.rec.vtype.kind().name(),
                    &diffs,
                    &files[check.file].name,
                    check.offset,
                );
                w.write_all(&line).map_err(|source| VerifyError::Io {
                    what: "diff file".into(),
                    source,
                })?;
            }
        }
        Verdict::Fallback => {
            fast.record(check.rec.type_byte, false);
            check.method = Method::Decoded;
            check.probes = None;
            return Ok(Next::Again(check));
        }
        Verdict::Redirect(rd) => {
            check.attempts += 1;
            if check.attempts <= 16 {
                return Ok(Next::Redirected(check, rd));
            }
            summary.checked += 1;
            summary.error(format!(
                "db {} key {}: too many redirects or retries",
                check.db,
                printable(&check.key)
            ));
        }
        Verdict::ExpiredMeanwhile | Verdict::AllFieldsExpired => summary.skipped_expired += 1,
        Verdict::TooBig => {
            summary.compared_paged += 1;
            check.method = Method::Paged;
            check.probes = None;
            return Ok(Next::Paged(check));
        }
        Verdict::Error(m) => {
            summary.checked += 1;
            summary.error(format!(
                "db {} key {}: {m}",
                check.db,
                printable(&check.key)
            ));
        }
    }
    Ok(Next::Done)
}
