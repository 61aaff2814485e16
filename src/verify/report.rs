//! The verification summary and the `--diff` lines.
//!
//! Every key read lands in exactly one bucket:
//!
//! ```text
//! keys_read = skipped_expired + skipped_empty + filtered + not_sampled + checked
//! checked   = matched + missing + different + uncomparable + errors
//! different = type + value + ttl
//! ```

use std::time::Duration;

use crate::sink::jsonfmt::{is_text, write_bytes, write_i64, write_score, write_str, write_u64};

use super::eval::{Diff, Reason, Shown, SHOWN_BYTES};

/// How a `--sample` was drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleInfo {
    /// Requested size.
    pub size: u64,
    pub seed: u64,
    /// Keys the sample was drawn from (those that would be checked).
    pub population: u64,
}

#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub keys_read: u64,
    pub skipped_expired: u64,
    pub skipped_empty: u64,
    pub not_sampled: u64,
    /// Keys left out by the filter.
    pub filtered: u64,
    pub checked: u64,
    pub matched: u64,
    pub missing: u64,
    pub different_type: u64,
    pub different_value: u64,
    pub different_ttl: u64,
    /// Module values the target cannot show (it has no modules).
    pub uncomparable: u64,
    /// Keys that could not be checked (error replies, corrupt values).
    pub errors: u64,
    /// Matched by the DUMP payload alone.
    pub matched_by_dump: u64,
    /// Compared decoded (including after a DUMP payload differed).
    pub compared_decoded: u64,
    /// Of those, checked page by page (huge keys).
    pub compared_paged: u64,
    /// Hashes with field TTLs the target cannot report (no HPEXPIRETIME).
    pub field_ttls_unchecked: u64,
    pub redirects: u64,
    pub retries: u64,
    pub bytes_read: u64,
    pub sample: Option<SampleInfo>,
    pub ttl_tolerance_ms: i64,
    /// `redis 7.0.15`, `valkey 8.1.1`.
    pub target: String,
    pub duration: Duration,
    pub first_errors: Vec<String>,
    /// The first few keys that differ (`db 0 "key" (missing)`), escaped and
    /// shortened, so a failed verify names them without --diff.
    pub first_differences: Vec<String>,
    pub notes: Vec<String>,
}

impl Summary {
    pub fn different(&self) -> u64 {
        self.different_type + self.different_value + self.different_ttl
    }

    /// Missing or different keys.
    pub fn differences(&self) -> u64 {
        self.missing + self.different()
    }

    /// The accounting identity.
    pub fn balanced(&self) -> bool {
        self.keys_read
            == self.skipped_expired
                + self.skipped_empty
                + self.filtered
                + self.not_sampled
                + self.checked
            && self.checked
                == self.matched + self.missing + self.different() + self.uncomparable + self.errors
    }

    pub fn keys_per_s(&self) -> f64 {
        let s = self.duration.as_secs_f64();
        if s > 0.0 {
            self.checked as f64 / s
        } else {
            0.0
        }
    }

    /// Counts a difference by its primary reason.
    pub fn count(&mut self, r: Reason) {
        match r {
            Reason::Missing => self.missing += 1,
            Reason::Type => self.different_type += 1,
            Reason::Value => self.different_value += 1,
            Reason::Ttl => self.different_ttl += 1,
        }
    }

    pub fn error(&mut self, msg: String) {
        self.errors += 1;
        if self.first_errors.len() < 10 {
            self.first_errors.push(msg);
        }
    }

    /// One JSON object (no newline).
    pub fn to_json(&self) -> String {
        let mut o = Vec::new();
        let num = |o: &mut Vec<u8>, k: &str, v: u64| {
            o.push(b'"');
            o.extend_from_slice(k.as_bytes());
            o.extend_from_slice(b"\":");
            write_u64(o, v);
            o.push(b',');
        };
        o.push(b'{');
        num(&mut o, "keys_read", self.keys_read);
        num(&mut o, "skipped_expired", self.skipped_expired);
        num(&mut o, "skipped_empty", self.skipped_empty);
        num(&mut o, "not_sampled", self.not_sampled);
        num(&mut o, "filtered", self.filtered);
        num(&mut o, "checked", self.checked);
        num(&mut o, "matched", self.matched);
        num(&mut o, "missing", self.missing);
        num(&mut o, "different", self.different());
        o.extend_from_slice(b"\"different_by_reason\":{");
        num(&mut o, "type", self.different_type);
        num(&mut o, "value", self.different_value);
        num(&mut o, "ttl", self.different_ttl);
        o.pop();
        o.extend_from_slice(b"},");
        num(&mut o, "uncomparable", self.uncomparable);
        num(&mut o, "errors", self.errors);
        num(&mut o, "matched_by_dump", self.matched_by_dump);
        num(&mut o, "compared_decoded", self.compared_decoded);
        num(&mut o, "compared_paged", self.compared_paged);
        num(&mut o, "field_ttls_unchecked", self.field_ttls_unchecked);
        num(&mut o, "redirects", self.redirects);
        num(&mut o, "retries", self.retries);
        num(&mut o, "bytes_read", self.bytes_read);
        o.extend_from_slice(b"\"sample\":");
        match &self.sample {
            Some(s) => {
                o.extend_from_slice(b"{\"size\":");
                write_u64(&mut o, s.size);
                o.extend_from_slice(b",\"seed\":");
                write_u64(&mut o, s.seed);
                o.extend_from_slice(b",\"population\":");
                write_u64(&mut o, s.population);
                o.push(b'}');
            }
            None => o.extend_from_slice(b"null"),
        }
        o.extend_from_slice(b",\"ttl_tolerance_ms\":");
        write_i64(&mut o, self.ttl_tolerance_ms);
        o.extend_from_slice(b",\"target\":");
        write_str(&mut o, self.target.as_bytes());
        o.extend_from_slice(
            format!(
                ",\"duration_s\":{:.3},\"keys_per_s\":{:.0},\"balanced\":{}",
                self.duration.as_secs_f64(),
                self.keys_per_s(),
                self.balanced()
            )
            .as_bytes(),
        );
        o.extend_from_slice(b",\"first_errors\":[");
        for (i, e) in self.first_errors.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            write_bytes(&mut o, e.as_bytes());
        }
        o.extend_from_slice(b"],\"notes\":[");
        for (i, e) in self.notes.iter().enumerate() {
            if i > 0 {
                o.push(b',');
            }
            write_bytes(&mut o, e.as_bytes());
        }
        o.extend_from_slice(b"],\"result\":");
        write_str(
            &mut o,
            if self.errors > 0 {
                b"errors"
            } else if self.differences() > 0 {
                b"differences"
            } else {
                b"match"
            },
        );
        o.push(b'}');
        String::from_utf8(o).unwrap_or_default()
    }

    /// Human-readable report.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(s, "target            {}", self.target);
        let _ = writeln!(s, "keys read         {}", self.keys_read);
        let _ = writeln!(s, "  skipped expired {}", self.skipped_expired);
        if self.skipped_empty > 0 {
            let _ = writeln!(s, "  skipped empty   {}", self.skipped_empty);
        }
        if self.filtered > 0 {
            let _ = writeln!(s, "  filtered        {}", self.filtered);
        }
        if let Some(x) = &self.sample {
            let _ = writeln!(
                s,
                "  not sampled     {} (sample of {} from {} keys, seed {})",
                self.not_sampled, x.size, x.population, x.seed
            );
        }
        let _ = writeln!(s, "  checked         {}", self.checked);
        let _ = writeln!(
            s,
            "    matched       {} ({} by DUMP payload, {} decoded)",
            self.matched,
            self.matched_by_dump,
            self.matched - self.matched_by_dump
        );
        let _ = writeln!(s, "    missing       {}", self.missing);
        let _ = writeln!(
            s,
            "    different     {} (type {}, value {}, ttl {})",
            self.different(),
            self.different_type,
            self.different_value,
            self.different_ttl
        );
        if self.uncomparable > 0 {
            let _ = writeln!(s, "    uncomparable  {}", self.uncomparable);
        }
        if self.errors > 0 {
            let _ = writeln!(s, "    errors        {}", self.errors);
        }
        if self.field_ttls_unchecked > 0 {
            let _ = writeln!(
                s,
                "note: field TTLs of {} hashes not checked (the target has no HPEXPIRETIME)",
                self.field_ttls_unchecked
            );
        }
        for n in &self.notes {
            let _ = writeln!(s, "note: {n}");
        }
        if self.redirects + self.retries > 0 {
            let _ = writeln!(s, "redirects/retries {}/{}", self.redirects, self.retries);
        }
        let _ = writeln!(
            s,
            "duration          {:.2} s, {:.0} keys/s",
            self.duration.as_secs_f64(),
            self.keys_per_s()
        );
        for e in &self.first_errors {
            let _ = writeln!(s, "error: {e}");
        }
        s
    }
}

/// Writes a shown value as JSON.
fn write_shown(out: &mut Vec<u8>, v: &Shown) {
    match v {
        Shown::Absent => out.extend_from_slice(b"null"),
        Shown::Int(i) => write_i64(out, *i),
        Shown::Score(f) => write_score(out, *f),
        Shown::Text(t) => write_str(out, t.as_bytes()),
        Shown::Bytes(b, len) if *len <= SHOWN_BYTES => write_bytes(out, b),
        Shown::Bytes(b, len) => {
            // Cut at a character boundary when the bytes are text, so that
            // the prefix stays a plain string.
            let mut b = &b[..];
            if !is_text(b) {
                for cut in (b.len().saturating_sub(3)..b.len()).rev() {
                    if is_text(&b[..cut]) {
                        b = &b[..cut];
                        break;
                    }
                }
            }
            out.extend_from_slice(b"{\"len\":");
            write_u64(out, *len as u64);
            out.extend_from_slice(b",\"prefix\":");
            write_bytes(out, b);
            out.push(b'}');
        }
    }
}

fn write_diff_members(out: &mut Vec<u8>, d: &Diff) {
    out.extend_from_slice(b"\"reason\":\"");
    out.extend_from_slice(d.reason.name().as_bytes());
    out.extend_from_slice(b"\",\"what\":");
    write_str(out, d.what.as_bytes());
    if let Some(a) = d.attr {
        out.extend_from_slice(b",\"attr\":");
        write_str(out, a.as_bytes());
    }
    if let Some(i) = d.index {
        out.extend_from_slice(b",\"index\":");
        write_u64(out, i);
    }
    if let Some(it) = &d.item {
        out.extend_from_slice(b",\"item\":");
        write_shown(out, it);
    }
    out.extend_from_slice(b",\"expected\":");
    write_shown(out, &d.expected);
    out.extend_from_slice(b",\"found\":");
    write_shown(out, &d.found);
}

/// Appends one `--diff` line:
/// `{"db","key","type","reason","what",["attr"],["index"],["item"],"expected","found",["also"],"file","offset"}`.
pub fn diff_line(
    out: &mut Vec<u8>,
    db: u64,
    key: &[u8],
    type_name: &str,
    diffs: &[Diff],
    file: &str,
    offset: u64,
) {
    out.extend_from_slice(b"{\"db\":");
    write_u64(out, db);
    out.extend_from_slice(b",\"key\":");
    write_bytes(out, key);
    out.extend_from_slice(b",\"type\":");
    write_str(out, type_name.as_bytes());
    out.push(b',');
    if let Some(d) = diffs.first() {
        write_diff_members(out, d);
    }
    if diffs.len() > 1 {
        out.extend_from_slice(b",\"also\":[");
        for (i, d) in diffs[1..].iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.push(b'{');
            write_diff_members(out, d);
            out.push(b'}');
        }
        out.push(b']');
    }
    out.extend_from_slice(b",\"file\":");
    write_bytes(out, file.as_bytes());
    out.extend_from_slice(b",\"offset\":");
    write_u64(out, offset);
    out.extend_from_slice(b"}\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lines_are_json() {
        let d = vec![
            Diff {
                reason: Reason::Value,
                what: "element",
                index: Some(3),
                item: None,
                attr: None,
                expected: Shown::bytes(b"a"),
                found: Shown::bytes(&[b'z'; 100]),
            },
            Diff {
                reason: Reason::Ttl,
                what: "expiry",
                index: None,
                item: None,
                attr: None,
                expected: Shown::Int(5),
                found: Shown::Absent,
            },
        ];
        let mut out = Vec::new();
        diff_line(&mut out, 2, b"k\xff", "list", &d, "f.rdb", 9);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["key"]["b64"], "a/8=");
        assert_eq!(v["reason"], "value");
        assert_eq!(v["index"], 3);
        assert_eq!(v["found"]["len"], 100);
        assert_eq!(v["found"]["prefix"].as_str().unwrap().len(), SHOWN_BYTES);
        assert_eq!(v["also"][0]["reason"], "ttl");
        assert_eq!(v["also"][0]["found"], serde_json::Value::Null);
    }

    #[test]
    fn summary_json_balances() {
        let s = Summary {
            keys_read: 10,
            skipped_expired: 1,
            checked: 9,
            matched: 7,
            missing: 1,
            different_value: 1,
            ..Default::default()
        };
        assert!(s.balanced());
        let v: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(v["different"], 1);
        assert_eq!(v["different_by_reason"]["value"], 1);
        assert_eq!(v["result"], "differences");
        assert_eq!(v["sample"], serde_json::Value::Null);
    }
}
