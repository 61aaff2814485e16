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
    pub first_conflict: Option<String>,
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
    pub(crate) encode_limits: super::commands::BatchLimits,
    pub(crate) encode_features: super::commands::TargetFeatures,
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

    pub(super) fn finish(&mut self, opts: &LoadOptions) {
        self.ending = if let Some(c) = &self.first_conflict {
            Ending::StoppedOnConflict(c.clone())
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
            (self.loaded + self.conflicts) as f64 / s
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
        };
        write_str(&mut o, ending.as_bytes());
        o.push(b'}');
        String::from_utf8(o).unwrap_or_default()
    }

    /// Human-readable report.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
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
            let _ = writeln!(s, "    {k:<14}{v}");
        }
        let _ = writeln!(s, "  failed          {}", self.failed);
        for (k, v) in &self.errors_by_kind {
            let _ = writeln!(s, "    {v:>8}  {k}");
        }
        if self.not_attempted > 0 {
            let _ = writeln!(s, "  not attempted   {}", self.not_attempted);
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
        for e in &self.first_errors {
            let _ = writeln!(s, "error: {e}");
        }
        s
    }
}
