//! Sending an op again: the back-off heap of ops waiting after a transient
//! failure, and what to send for an op whose reply was lost with its
//! connection.

use std::time::{Duration, Instant};

use crate::redis::error::backoff;
use crate::restore::{Op, OpKind};

use super::reports::ReportFile;
use super::Summary;

/// Schedules an op again after a transient failure (`why`), after a
/// back-off; it fails with `why` once `retry_for` has passed since its
/// first failure, or at once when the load is stopping (then an op that was
/// never `sent` counts as not attempted).
#[allow(clippy::too_many_arguments)]
pub(super) fn defer<'a>(
    mut op: Op<'a>,
    why: &str,
    version: u32,
    sent: bool,
    delayed: &mut std::collections::BinaryHeap<Delayed<'a>>,
    summary: &mut Summary,
    failed_out: &mut Option<ReportFile>,
    retry_for: Duration,
    stopping: bool,
) {
    let since = *op.retry_since.get_or_insert_with(Instant::now);
    if stopping {
        if sent {
            summary.fail(&op, why, failed_out, version);
        } else if op.is_key() {
            summary.not_attempted += 1;
        }
        return;
    }
    let spent = since.elapsed();
    if spent >= retry_for {
        let msg = if retry_for.is_zero() {
            why.to_string()
        } else {
            format!("{why} (still failing after --retry-for {retry_for:?})")
        };
        summary.fail(&op, &msg, failed_out, version);
        return;
    }
    summary.retries += 1;
    let wait = backoff(op.retries).min(retry_for - spent);
    op.retries += 1;
    delayed.push(Delayed {
        due: Instant::now() + wait,
        version,
        op,
        lost: sent.then(|| why.to_string()),
    });
}

/// An op waiting out its back-off. Kept in a heap ordered by `due`, the
/// soonest on top, so finding the ops that are due costs no scan.
pub(super) struct Delayed<'a> {
    pub(super) due: Instant,
    pub(super) version: u32,
    pub(super) op: Op<'a>,
    /// For an op whose reply was lost: why (it fails with this if the load
    /// stops before it is re-checked; an op never sent is "not attempted").
    pub(super) lost: Option<String>,
}

impl PartialEq for Delayed<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}

impl Eq for Delayed<'_> {}

impl PartialOrd for Delayed<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Delayed<'_> {
    /// Reversed: `BinaryHeap` is a max-heap, the soonest must come first.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.due.cmp(&self.due)
    }
}

/// What to send again for an op whose reply was lost with its connection:
/// a `RESTORE` becomes a `DUMP` first (the key may be ours already, and a
/// second `RESTORE` would say BUSYKEY); a command-mode key under
/// `panic`/`ignore` is checked for existence again (and remembered in
/// `partial`: a part of it may be there). Everything else is idempotent,
/// or reports an existing result (a rewrite starts with `DEL` or writes a
/// temporary key; an `EXISTS` or `DUMP` only reads).
pub(super) fn after_lost_reply<'a>(
    mut op: Op<'a>,
    partial: &mut std::collections::HashSet<(usize, u64)>,
) -> Op<'a> {
    let key = (op.file, op.offset);
    op.kind = match op.kind {
        OpKind::Restore { rec, args } => OpKind::DumpCheck { rec, args },
        OpKind::Commands {
            rec,
            args,
            check: false,
        } if !args.replace => {
            partial.insert(key);
            OpKind::Commands {
                rec,
                args,
                check: true,
            }
        }
        OpKind::Encoded {
            cmds,
            n,
            check: false,
            replace: false,
        } => {
            partial.insert(key);
            OpKind::Encoded {
                cmds,
                n,
                check: true,
                replace: false,
            }
        }
        k => k,
    };
    op
}
