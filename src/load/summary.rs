//! The load summary: every key read lands in exactly one bucket.
//!
//! `keys_read = loaded + skipped_expired + skipped_empty + filtered +
//! conflicts + failed + not_attempted + skipped_corrupt + dropped_lossy`
//!
//! (`--skip-corrupt`: a damaged record, or a damaged run of records the
//! reader could not walk, counts as one record read and skipped.)

use std::collections::BTreeMap;
use std::time::Duration;

use super::LoadOptions;
use crate::sink::jsonfmt::{write_bytes, write_str, write_u64};

/// How the load ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Ending {
    #[default]
    Completed,
    /// `panic` policy met an existing key.
    StoppedOnConflict(String),
    /// More keys failed than `--max-errors` allows.
    StoppedOnErrors,
    /// Completed, but some keys failed (within `--max-errors`).
    CompletedWithFailures,
    /// A fatal error (bad input file, unreachable target).
    Error(String),
    /// A dry run (or `--preflight`) found keys that exist in the target,
    /// under `panic`: nothing was written.
    WouldConflict,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub keys_read: u64,
    pub loaded: u64,
    pub skipped_expired: u64,
    pub skipped_empty: u64,
    pub filtered: u64,
    /// Damaged records left out (`--skip-corrupt`).
    pub skipped_corrupt: u64,
    /// `--resume`: keys the interrupted run had loaded (acknowledged in its
    /// checkpoint), not sent again.
    pub already_loaded: u64,
    /// `--resume`: keys in flight when the run was interrupted, found in the
    /// target identical to the file (by `DUMP`): counted as loaded.
    pub resumed_identical: u64,
    /// Keys whose reply was lost with a connection, found in the target
    /// identical to the file (by `DUMP`) once reconnected: counted as loaded.
    pub rechecked_identical: u64,
    /// Connections lost during the load (each reopened when next needed).
    pub reconnects: u64,
    pub conflicts: u64,
    pub conflicts_by_action: BTreeMap<String, u64>,
    pub failed: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    pub not_attempted: u64,
    /// Dry run: keys that would load without conflict (also in `not_attempted`).
    pub would_load: u64,
    pub functions_loaded: u64,
    pub functions_failed: u64,
    /// Libraries already in the target (kept; `rewrite` replaces them).
    pub functions_existing: u64,
    pub function_errors: Vec<String>,
    pub redirects: u64,
    pub retries: u64,
    pub bytes_read: u64,
    /// `--resume`: keys that failed or conflicted in an earlier run and
    /// were sent again in this one.
    pub retried: u64,
    /// Keys in the input files, from the walk before loading (`None` when
    /// it was skipped or an input is JSON Lines).
    pub keys_in_files: Option<u64>,
    /// With a checkpoint: the whole job's totals over every run so far.
    pub totals: Option<super::checkpoint::Totals>,
    /// The checkpoint file, when one is kept.
    pub checkpoint: Option<std::path::PathBuf>,
    pub first_conflict: Option<FirstConflict>,
    pub first_errors: Vec<String>,
    pub server_version: String,
    pub duration: Duration,
    pub ending: Ending,
    /// `--lossy`: keys left out because the target cannot hold them at all
    /// (arrays into a server older than Redis 8.8).
    pub dropped_lossy: u64,
    /// `--lossy`: NACKed stream entries left out of loaded streams (target
    /// without XNACK); not keys.
    pub nacks_dropped: u64,
    /// Keys written as commands instead of RESTORE (the rest of `loaded`
    /// and `conflicts` went by RESTORE).
    pub as_commands: u64,
    /// Why commands were used, per file.
    pub notes: Vec<String>,
    pub(crate) encode_limits: crate::restore::commands::BatchLimits,
    pub(crate) encode_features: crate::restore::commands::TargetFeatures,
    /// With a checkpoint: keys whose outcome is known but that are not
    /// loaded (file, offset, conflict under `panic`), for the trackers.
    pub(crate) marks: Vec<(usize, u64, bool)>,
    /// Function libraries by (file, offset): counted once per library,
    /// whatever the number of masters, when the load ends.
    pub(crate) libraries: BTreeMap<(usize, u64), FnOutcome>,
    /// A dry run (`would_load` replaces `not_attempted` in reports).
    pub dry_run: bool,
    /// Keys accounted by earlier runs of a resumed job (for progress).
    pub earlier: u64,
    /// Per input file: how far it was read (`None`: to its end), and its size.
    pub reached: Vec<(String, Option<u64>, u64)>,
    pub(crate) track: bool,
    /// `--max-errors`, for the stop message.
    pub max_errors: u64,
    /// The command that finishes an interrupted job (set by the caller,
    /// who knows the command line).
    pub next_step: Option<String>,
}

/// "1 key", "2 keys".
pub fn keys(n: u64) -> String {
    format!("{n} key{}", if n == 1 { "" } else { "s" })
}

/// What one node said of one function library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FnReply {
    Loaded,
    Exists,
    Failed(String),
}

/// What the nodes said of one library (a cluster sends it to every master).
#[derive(Debug, Clone, Default)]
pub(crate) struct FnOutcome {
    exists: bool,
    failed: Vec<String>,
}

/// The existing key that stopped a `panic` load.
#[derive(Debug, Clone)]
pub struct FirstConflict {
    pub db: u64,
    /// Escaped and shortened for messages.
    pub key: String,
    pub file: String,
    pub offset: u64,
    /// Keys loaded when its reply came; the rest of the final count were
    /// already in the pipeline then.
    pub loaded_then: u64,
}

impl Summary {
    /// The accounting identity; true when no key is unaccounted for.
    pub fn balanced(&self) -> bool {
        self.keys_read
            == self.loaded
                + self.skipped_expired
                + self.skipped_empty
                + self.filtered
                + self.conflicts
                + self.failed
                + self.not_attempted
                + self.skipped_corrupt
                + self.already_loaded
                + self.dropped_lossy
    }

    /// Records what a node said of a function library.
    pub(crate) fn function(&mut self, op: &super::Op<'_>, r: FnReply, node: &str) {
        let o = self.libraries.entry((op.file, op.offset)).or_default();
        match r {
            FnReply::Loaded => {}
            FnReply::Exists => o.exists = true,
            FnReply::Failed(e) if node.is_empty() => o.failed.push(e),
            FnReply::Failed(e) => o.failed.push(format!("{node}: {e}")),
        }
    }

    /// Counts libraries (not library × master): failed when any master
    /// failed it, already there when any master had it, else loaded.
    fn count_functions(&mut self) {
        let (mut loaded, mut existing, mut failed) = (0, 0, 0);
        let mut errors = Vec::new();
        for o in self.libraries.values() {
            if !o.failed.is_empty() {
                failed += 1;
                errors.extend(o.failed.iter().cloned());
            } else if o.exists {
                existing += 1;
            } else {
                loaded += 1;
            }
        }
        self.functions_loaded = loaded;
        self.functions_existing = existing;
        self.functions_failed = failed;
        errors.dedup();
        self.function_errors = errors;
    }

    /// Keys settled so far, this run: every bucket but the keys held back
    /// or still in flight.
    pub fn settled(&self) -> u64 {
        self.loaded
            + self.skipped_expired
            + self.skipped_empty
            + self.filtered
            + self.skipped_corrupt
            + self.conflicts
            + self.failed
            + self.already_loaded
            + self.dropped_lossy
    }

    /// The one message about the conflict that stopped a `panic` load, with
    /// the final counts (the same as the summary's).
    fn conflict_message(&self, c: &FirstConflict) -> String {
        format!(
            "key {} in db {} already exists in the target (file {}, record at byte offset {}); \
             {} loaded in all, {} of them after that key (already in the pipeline when its reply came)",
            c.key,
            c.db,
            c.file,
            c.offset,
            keys(self.loaded),
            self.loaded.saturating_sub(c.loaded_then)
        )
    }

    /// Keys of the input never sent to the target: not attempted (read but
    /// held back by the stop) plus never read, when the walk counted them.
    pub fn never_sent(&self) -> Option<u64> {
        let total = self.keys_in_files?;
        Some(match &self.totals {
            Some(t) => total.saturating_sub(t.accounted()),
            None => self.not_attempted + total.saturating_sub(self.keys_read),
        })
    }

    /// The totals the checkpoint records after this run so far: the
    /// earlier runs' plus this one's; failed and open (`panic`) conflicts
    /// are the keys still to retry.
    pub(crate) fn totals_with(
        &self,
        prev: Option<&super::checkpoint::Checkpoint>,
        trackers: &[super::checkpoint::Tracker],
    ) -> super::checkpoint::Totals {
        let open_failed: u64 = trackers.iter().map(|t| t.failed.len() as u64).sum();
        let open_conflicts: u64 = trackers.iter().map(|t| t.conflicted.len() as u64).sum();
        let before = prev.map(|c| c.totals).unwrap_or_default();
        let open_before: u64 = prev.map_or(0, |c| {
            c.files.iter().map(|f| f.conflicted.len() as u64).sum()
        });
        let settled = |m: &BTreeMap<String, u64>| {
            m.get("rewritten").copied().unwrap_or(0) + m.get("ignored").copied().unwrap_or(0)
        };
        super::checkpoint::Totals {
            runs: before.runs + 1,
            loaded: before.loaded + self.loaded,
            skipped_expired: before.skipped_expired + self.skipped_expired,
            skipped_empty: before.skipped_empty + self.skipped_empty,
            filtered: before.filtered + self.filtered,
            skipped_corrupt: before.skipped_corrupt + self.skipped_corrupt,
            conflicts: before.conflicts.saturating_sub(open_before)
                + settled(&self.conflicts_by_action)
                + open_conflicts,
            failed: open_failed,
            dropped_lossy: before.dropped_lossy + self.dropped_lossy,
        }
    }

    /// Hands the keys marked failed or conflicting to the trackers.
    pub(crate) fn settle(&mut self, trackers: &mut [super::checkpoint::Tracker]) {
        for (file, offset, conflict) in self.marks.drain(..) {
            trackers[file].unsettled(offset, conflict);
        }
    }

    /// Whether the last key accounted was marked (failed or conflicting).
    pub(crate) fn marked(&self, file: usize, offset: u64) -> bool {
        self.marks
            .last()
            .is_some_and(|m| (m.0, m.1) == (file, offset))
    }

    pub(super) fn finish(&mut self, opts: &LoadOptions) {
        self.count_functions();
        self.ending = if let Some(c) = &self.first_conflict {
            Ending::StoppedOnConflict(self.conflict_message(c))
        } else if self.dry_run && opts.on_conflict == super::OnConflict::Panic && self.conflicts > 0
        {
            Ending::WouldConflict
        } else if self.failed > opts.max_errors {
            Ending::StoppedOnErrors
        } else if self.failed > 0 {
            Ending::CompletedWithFailures
        } else {
            Ending::Completed
        };
    }

    pub fn keys_per_s(&self) -> f64 {
        let s = self.duration.as_secs_f64();
        if s > 0.0 {
            (self.loaded + self.conflicts + self.would_load) as f64 / s
        } else {
            0.0
        }
    }

    /// One JSON object (no newline).
    pub fn to_json(&self) -> String {
        let mut o = Vec::new();
        let num = |o: &mut Vec<u8>, k: &str, v: u64| {
            o.extend_from_slice(b"\"");
            o.extend_from_slice(k.as_bytes());
            o.extend_from_slice(b"\":");
            write_u64(o, v);
            o.push(b',');
        };
        o.push(b'{');
        num(&mut o, "keys_read", self.keys_read);
        num(&mut o, "loaded", self.loaded);
        num(&mut o, "skipped_expired", self.skipped_expired);
        num(&mut o, "skipped_empty", self.skipped_empty);
        num(&mut o, "filtered", self.filtered);
        num(&mut o, "skipped_corrupt", self.skipped_corrupt);
        num(&mut o, "dropped_lossy", self.dropped_lossy);
        num(&mut o, "nacks_dropped", self.nacks_dropped);
        num(&mut o, "already_loaded", self.already_loaded);
        num(&mut o, "resumed_identical", self.resumed_identical);
        num(&mut o, "rechecked_identical", self.rechecked_identical);
        num(&mut o, "conflicts", self.conflicts);
        o.extend_from_slice(b"\"conflicts_by_action\":{");
        for (i, (k, v)) in self.conflicts_by_action.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            write_str(&mut o, k.as_bytes());
            o.push(b':');
            write_u64(&mut o, *v);
        }
        o.extend_from_slice(b"},");
        num(&mut o, "failed", self.failed);
        o.extend_from_slice(b"\"errors_by_kind\":{");
        for (i, (k, v)) in self.errors_by_kind.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            write_bytes(&mut o, k.as_bytes());
            o.push(b':');
            write_u64(&mut o, *v);
        }
        o.extend_from_slice(b"},");
        num(&mut o, "not_attempted", self.not_attempted);
        num(&mut o, "would_load", self.would_load);
        num(&mut o, "functions_loaded", self.functions_loaded);
        num(&mut o, "functions_failed", self.functions_failed);
        num(&mut o, "functions_existing", self.functions_existing);
        num(&mut o, "as_commands", self.as_commands);
        num(&mut o, "redirects", self.redirects);
        num(&mut o, "retries", self.retries);
        num(&mut o, "reconnects", self.reconnects);
        num(&mut o, "bytes_read", self.bytes_read);
        num(&mut o, "retried", self.retried);
        if let Some(n) = self.keys_in_files {
            num(&mut o, "keys_in_files", n);
        }
        if let Some(n) = self.never_sent() {
            num(&mut o, "never_sent", n);
        }
        if let Some(t) = &self.totals {
            o.extend_from_slice(b"\"totals\":");
            o.extend_from_slice(t.to_json().to_string().as_bytes());
            o.push(b',');
        }
        let strings = |o: &mut Vec<u8>, name: &str, items: &mut dyn Iterator<Item = &str>| {
            o.extend_from_slice(format!("\"{name}\":[").as_bytes());
            for (i, n) in items.enumerate() {
                if i > 0 {
                    o.push(b',');
                }
                write_str(o, n.as_bytes());
            }
            o.extend_from_slice(b"],");
        };
        strings(&mut o, "notes", &mut self.notes.iter().map(String::as_str));
        if let Some(line) = self.stop_line() {
            o.extend_from_slice(b"\"stop\":");
            write_str(&mut o, line.as_bytes());
            o.push(b',');
        }
        if let Some(next) = &self.next_step {
            o.extend_from_slice(b"\"next_step\":");
            write_str(&mut o, next.as_bytes());
            o.push(b',');
        }
        o.extend_from_slice(b"\"target\":");
        write_str(&mut o, self.server_version.as_bytes());
        o.extend_from_slice(
            format!(
                ",\"duration_s\":{:.3},\"keys_per_s\":{:.0},\"balanced\":{}",
                self.duration.as_secs_f64(),
                self.keys_per_s(),
                self.balanced()
            )
            .as_bytes(),
        );
        o.extend_from_slice(b",\"ending\":");
        let ending = match &self.ending {
            Ending::Completed => "completed".to_string(),
            Ending::StoppedOnConflict(_) => "stopped-on-conflict".to_string(),
            Ending::StoppedOnErrors => "stopped-on-errors".to_string(),
            Ending::CompletedWithFailures => "completed-with-failures".to_string(),
            Ending::Error(_) => "error".to_string(),
            Ending::WouldConflict => "would-conflict".to_string(),
        };
        write_str(&mut o, ending.as_bytes());
        o.push(b'}');
        String::from_utf8(o).unwrap_or_default()
    }

    /// Why the load stopped before the end of its input, and what of the
    /// input never reached the target; `None` for a load that went through.
    pub fn stop_line(&self) -> Option<String> {
        let why = match &self.ending {
            Ending::Completed | Ending::CompletedWithFailures => return None,
            Ending::StoppedOnConflict(m) => {
                format!("STOPPED on a key that exists in the target (--on-conflict panic): {m}")
            }
            Ending::StoppedOnErrors => format!(
                "STOPPED after {} failed (more than --max-errors {})",
                keys(self.failed),
                self.max_errors
            ),
            Ending::Error(e) => format!("STOPPED by an error: {e}"),
            Ending::WouldConflict => {
                return Some(format!(
                    "NOTHING WRITTEN: {} exist in the target, and --on-conflict panic would stop on the first; \
                     --conflicts FILE lists them",
                    keys(self.conflicts)
                ))
            }
        };
        let unsent = match (self.never_sent(), self.keys_in_files) {
            (Some(n), Some(total)) => format!(
                "; {} of the input's {total} never sent ({} not attempted, the rest not read)",
                keys(n),
                self.not_attempted
            ),
            _ => format!(
                "; {} not attempted, and the input was not read to its end",
                keys(self.not_attempted)
            ),
        };
        let reached: Vec<String> = self
            .reached
            .iter()
            .filter_map(|(f, at, size)| {
                at.map(|a| format!("{f} read up to byte offset {a} of {size}"))
            })
            .collect();
        let reached = if reached.is_empty() {
            String::new()
        } else {
            format!("; {}", reached.join(", "))
        };
        Some(why + &unsent + &reached)
    }

    /// Human-readable report.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        if let Some(line) = self.stop_line() {
            let _ = writeln!(s, "{line}");
            if let Some(next) = &self.next_step {
                let _ = writeln!(s, "to finish the job: {next}");
            }
        }
        let _ = writeln!(s, "target            {}", self.server_version);
        let _ = writeln!(s, "keys read         {}", self.keys_read);
        let _ = writeln!(s, "  loaded          {}", self.loaded);
        let _ = writeln!(s, "  skipped expired {}", self.skipped_expired);
        if self.skipped_empty > 0 {
            let _ = writeln!(s, "  skipped empty   {}", self.skipped_empty);
        }
        if self.filtered > 0 {
            let _ = writeln!(s, "  filtered        {}", self.filtered);
        }
        if self.skipped_corrupt > 0 {
            let _ = writeln!(s, "  skipped corrupt {}", self.skipped_corrupt);
        }
        if self.dropped_lossy > 0 {
            let _ = writeln!(
                s,
                "  dropped (lossy) {} (arrays: the target has no AR* commands)",
                self.dropped_lossy
            );
        }
        if self.nacks_dropped > 0 {
            let _ = writeln!(
                s,
                "NACKed entries dropped (lossy) {} (the target has no XNACK)",
                self.nacks_dropped
            );
        }
        if self.already_loaded > 0 {
            let _ = writeln!(
                s,
                "  already loaded  {} (by the interrupted run)",
                self.already_loaded
            );
        }
        if self.retried > 0 {
            let _ = writeln!(
                s,
                "  retried         {} (failed or conflicting in an earlier run)",
                self.retried
            );
        }
        if self.resumed_identical > 0 {
            let _ = writeln!(
                s,
                "  in flight then  {} (found identical, counted as loaded)",
                self.resumed_identical
            );
        }
        if self.rechecked_identical > 0 {
            let _ = writeln!(
                s,
                "  reply lost      {} (found identical after reconnecting, counted as loaded)",
                self.rechecked_identical
            );
        }
        let _ = writeln!(s, "  conflicts       {}", self.conflicts);
        for (k, v) in &self.conflicts_by_action {
            let _ = writeln!(s, "    {k:<16}{v}");
        }
        let _ = writeln!(s, "  failed          {}", self.failed);
        for (k, v) in &self.errors_by_kind {
            let _ = writeln!(s, "    {v:>8}  {k}");
        }
        if self.dry_run {
            let _ = writeln!(s, "  would load      {}", self.would_load);
        }
        if self.not_attempted > self.would_load {
            let _ = writeln!(
                s,
                "  not attempted   {}",
                self.not_attempted - self.would_load
            );
        }
        if self.functions_loaded + self.functions_failed + self.functions_existing > 0 {
            let _ = writeln!(
                s,
                "functions         {} loaded, {} already there, {} failed",
                self.functions_loaded, self.functions_existing, self.functions_failed
            );
            for e in &self.function_errors {
                let _ = writeln!(s, "    {e}");
            }
        }
        if self.as_commands > 0 {
            let _ = writeln!(s, "as commands       {} keys", self.as_commands);
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        if self.redirects + self.retries > 0 {
            let _ = writeln!(s, "redirects/retries {}/{}", self.redirects, self.retries);
        }
        if self.reconnects > 0 {
            let _ = writeln!(s, "connections lost  {} (reopened)", self.reconnects);
        }
        let _ = writeln!(
            s,
            "duration          {:.2} s, {:.0} keys/s, {:.1} MB/s",
            self.duration.as_secs_f64(),
            self.keys_per_s(),
            self.bytes_read as f64 / 1e6 / self.duration.as_secs_f64().max(1e-9)
        );
        if let Some(t) = &self.totals {
            let total = self
                .keys_in_files
                .map_or(String::new(), |n| format!(" of {}", keys(n)));
            let _ = writeln!(
                s,
                "whole job ({} run{}{total}): loaded {}, skipped {}, filtered {}, conflicts {}, failed {}{}",
                t.runs,
                if t.runs == 1 { "" } else { "s" },
                t.loaded,
                t.skipped_expired + t.skipped_empty + t.skipped_corrupt,
                t.filtered,
                t.conflicts,
                t.failed,
                self.never_sent()
                    .map_or(String::new(), |n| format!(", not yet sent {n}"))
            );
        }
        for e in &self.first_errors {
            let _ = writeln!(s, "error: {e}");
        }
        if self.stop_line().is_some() {
            if let Some(next) = &self.next_step {
                let _ = writeln!(s, "to finish the job: {next}");
            }
        }
        s
    }
}
