//! Replies against expectations: the verdict on one key.
//!
//! Precedence when several things differ: a missing key, then a different
//! type, then the first different part of the value, then the expiry. The
//! verdict carries the primary difference first and the others after it.

use crate::rdb::consts::RDB_OPCODE_KEY_META;
use crate::rdb::records::Record;
use crate::rdb::stream::StreamId;
use crate::rdb::value::ValueType;
use crate::redis::resp::Reply;
use crate::redis::ServerError;

use super::probe::{Expect, Probes};

mod stream;

/// Why a key differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reason {
    Missing,
    Type,
    Value,
    Ttl,
}

impl Reason {
    pub fn name(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Type => "type",
            Reason::Value => "value",
            Reason::Ttl => "ttl",
        }
    }
}

/// Bytes shown in a difference report are cut to this many.
pub const SHOWN_BYTES: usize = 64;

/// A value as shown in a difference report.
#[derive(Debug, Clone, PartialEq)]
pub enum Shown {
    /// Not there (JSON `null`).
    Absent,
    Int(i64),
    Score(f64),
    /// Up to [`SHOWN_BYTES`] bytes, and the full length.
    Bytes(Vec<u8>, usize),
    Text(String),
}

impl Shown {
    pub fn bytes(b: &[u8]) -> Shown {
        Shown::Bytes(b[..b.len().min(SHOWN_BYTES)].to_vec(), b.len())
    }

    fn opt_ms(v: Option<i64>) -> Shown {
        v.map(Shown::Int).unwrap_or(Shown::Absent)
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    pub reason: Reason,
    /// What differs: `key`, `type`, `expiry`, `length`, `bytes`, `element`,
    /// `member`, `score`, `field`, `field expiry`, `entry`, `stream`, `group`,
    /// `consumer`, `pending entry`, `dump`.
    pub what: &'static str,
    /// Position (list element, string byte).
    pub index: Option<u64>,
    /// The member, field, entry ID, group or consumer concerned.
    pub item: Option<Shown>,
    /// For stream and group attributes: which one (`last_id`, ...).
    pub attr: Option<&'static str>,
    pub expected: Shown,
    pub found: Shown,
}

impl Diff {
    fn new(reason: Reason, what: &'static str, expected: Shown, found: Shown) -> Diff {
        Diff {
            reason,
            what,
            index: None,
            item: None,
            attr: None,
            expected,
            found,
        }
    }

    fn value(what: &'static str, expected: Shown, found: Shown) -> Diff {
        Diff::new(Reason::Value, what, expected, found)
    }

    fn at(mut self, i: u64) -> Diff {
        self.index = Some(i);
        self
    }

    fn item(mut self, s: Shown) -> Diff {
        self.item = Some(s);
        self
    }

    fn attr(mut self, a: &'static str) -> Diff {
        self.attr = Some(a);
        self
    }
}

/// The outcome of checking one key.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Equal; `fast`: by the DUMP payload.
    Match { fast: bool },
    /// Different: the primary difference first.
    Differ(Vec<Diff>),
    /// The DUMP payload differs: compare the decoded value.
    Fallback,
    /// The cluster sent the key elsewhere, or asked to retry.
    Redirect(RedirectKind),
    /// Missing, but its expiry has come meanwhile (or comes within the
    /// tolerance): counted as an expired key, not a difference.
    ExpiredMeanwhile,
    /// A hash whose fields have all expired: nothing to check.
    AllFieldsExpired,
    /// Too big to check in one go: check it page by page.
    TooBig,
    /// Could not be checked (error reply, lost connection, corrupt value).
    Error(String),
}

/// A cluster redirect or a transient refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectKind {
    Moved(Option<u16>, Option<String>),
    Ask(String),
    Retry,
}

/// Parses a redirect error reply.
pub fn redirect_of(e: &str) -> Option<RedirectKind> {
    match ServerError::parse(e) {
        ServerError::Moved { slot, addr, .. } => Some(RedirectKind::Moved(slot, addr)),
        ServerError::Ask { addr, .. } => Some(RedirectKind::Ask(addr)),
        s if s.is_transient() => Some(RedirectKind::Retry),
        _ => None,
    }
}

/// Accumulates the verdict on one key over one or more batches of replies.
pub struct Evaluator<'r> {
    rec: &'r Record<'r>,
    expire_ms: Option<i64>,
    /// The target answers `PEXPIRETIME` (absolute) rather than `PTTL`.
    absolute: bool,
    tolerance_ms: i64,
    value: Option<Diff>,
    ttl: Option<Diff>,
    fast_hit: bool,
    end: Option<Verdict>,
}

fn err(what: &str, r: &Reply) -> Verdict {
    Verdict::Error(format!("unexpected reply to {what}: {}", short(r)))
}

fn short(r: &Reply) -> String {
    let mut s = format!("{r:?}");
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    s
}

/// `Array` items; `None` for anything else (a nil array is empty).
fn items(r: &Reply) -> Option<&[Reply]> {
    match r {
        Reply::Array(Some(a)) => Some(a),
        Reply::Array(None) => Some(&[]),
        _ => None,
    }
}

/// Looks up `name` in a flat `[name, value, ...]` map reply.
fn field<'r>(m: &'r [Reply], name: &str) -> Option<&'r Reply> {
    m.chunks(2)
        .find(|p| p[0].as_bytes() == Some(name.as_bytes()))
        .and_then(|p| p.get(1))
}

fn id_text(id: StreamId) -> String {
    id.to_string()
}

fn text(r: Option<&Reply>) -> Option<String> {
    r.and_then(|r| r.as_bytes())
        .map(|b| String::from_utf8_lossy(b).into_owned())
}

fn parse_score(b: &[u8]) -> Option<f64> {
    crate::rdb::cursor::parse_f64(b)
}

/// Scores are equal when their bit patterns are (so `inf`, `-inf` and every
/// last digit count), except that -0 equals 0: servers store -0 as 0.
pub fn same_score(a: f64, b: f64) -> bool {
    a.to_bits() == b.to_bits() || (a == 0.0 && b == 0.0)
}

impl<'r> Evaluator<'r> {
    pub fn new(
        rec: &'r Record<'r>,
        expire_ms: Option<i64>,
        absolute: bool,
        tolerance_ms: i64,
    ) -> Self {
        Evaluator {
            rec,
            expire_ms,
            absolute,
            tolerance_ms,
            value: None,
            ttl: None,
            fast_hit: false,
            end: None,
        }
    }

    /// Is the verdict known (nothing further can change it)?
    pub fn decided(&self) -> bool {
        self.end.is_some() || self.value.is_some()
    }

    /// Ends with an error (the replies could not be read).
    pub fn fail(&mut self, msg: String) {
        if self.end.is_none() {
            self.end = Some(Verdict::Error(msg));
        }
    }

    /// The verdict.
    pub fn finish(self) -> Verdict {
        if let Some(v) = self.end {
            return v;
        }
        let diffs: Vec<Diff> = self.value.into_iter().chain(self.ttl).collect();
        if diffs.is_empty() {
            Verdict::Match {
                fast: self.fast_hit,
            }
        } else {
            Verdict::Differ(diffs)
        }
    }

    fn missing(&mut self, type_name: &str, fast: bool) {
        if fast && matches!(self.rec.vtype, ValueType::HashTtl(_)) {
            // Its fields may all have expired: only the decoded comparison
            // can tell a missing key from an expired one.
            self.end = Some(Verdict::Fallback);
            return;
        }
        let soon = crate::restore::now_ms().saturating_add(self.tolerance_ms);
        self.end = Some(match self.expire_ms {
            Some(e) if e <= soon => Verdict::ExpiredMeanwhile,
            _ => Verdict::Differ(vec![Diff::new(
                Reason::Missing,
                "key",
                Shown::Text(type_name.to_string()),
                Shown::Absent,
            )]),
        });
    }

    fn set_value(&mut self, d: Diff) {
        if self.value.is_none() {
            self.value = Some(d);
        }
    }

    fn type_name(&self) -> &'static str {
        self.rec.vtype.kind().name()
    }

    /// Takes the replies to `p`'s commands, in order.
    pub fn feed(&mut self, p: &Probes, replies: &[Reply]) {
        for (i, (e, r)) in p.expects.iter().zip(replies).enumerate() {
            if self.decided() {
                return;
            }
            if let Reply::Error(msg) = r {
                if let Some(rd) = redirect_of(msg) {
                    self.end = Some(Verdict::Redirect(rd));
                } else if matches!(ServerError::parse(msg), ServerError::WrongType(_)) {
                    // The type changed between two commands.
                    self.set_value(Diff::value(
                        "type",
                        Shown::Text(self.type_name().into()),
                        Shown::Text("another type".into()),
                    ));
                } else {
                    let cmd = p.command(i);
                    let name = cmd
                        .split(|&b| b == b'\n')
                        .nth(2)
                        .map(|l| String::from_utf8_lossy(l.strip_suffix(b"\r").unwrap_or(l)))
                        .unwrap_or_default()
                        .into_owned();
                    self.end = Some(Verdict::Error(format!("{name}: {msg}")));
                }
                continue;
            }
            self.check(p, e, r);
        }
        if replies.len() < p.expects.len() && !self.decided() {
            self.end = Some(Verdict::Error("fewer replies than commands".into()));
        }
    }

    fn check(&mut self, p: &Probes, e: &Expect, r: &Reply) {
        match e {
            Expect::Type(want) => match r {
                Reply::Status(s) if s == "none" => self.missing(want.as_str(), false),
                Reply::Status(s) if s == want.as_str() => {}
                Reply::Status(s) => {
                    self.end = Some(Verdict::Differ(vec![Diff::new(
                        Reason::Type,
                        "type",
                        Shown::Text(want.as_str().to_string()),
                        Shown::Text(s.clone()),
                    )]))
                }
                other => self.end = Some(err("TYPE", other)),
            },
            Expect::Expire(want) => {
                let Some(v) = r.as_int() else {
                    self.end = Some(err("PEXPIRETIME", r));
                    return;
                };
                let found = match v {
                    -2 => return self.missing(self.type_name(), p.fast()),
                    -1 => None,
                    v if self.absolute => Some(v),
                    v => Some(crate::restore::now_ms() + v),
                };
                let ok = match (*want, found) {
                    (None, None) => true,
                    (Some(a), Some(b)) => (a - b).abs() <= self.tolerance_ms,
                    _ => false,
                };
                if !ok {
                    self.ttl = Some(Diff::new(
                        Reason::Ttl,
                        "expiry",
                        Shown::opt_ms(*want),
                        Shown::opt_ms(found),
                    ));
                }
            }
            Expect::Dump { fast } => match r {
                Reply::Bulk(None) => self.missing(self.type_name(), *fast),
                Reply::Bulk(Some(b)) => {
                    if dump_matches(self.rec, b) {
                        self.fast_hit = *fast;
                    } else if *fast {
                        self.end = Some(Verdict::Fallback);
                    } else {
                        self.set_value(Diff::value(
                            "dump",
                            Shown::Text(format!("{} payload bytes", dump_body_len(self.rec))),
                            Shown::Text(format!(
                                "{} payload bytes, not equal",
                                b.len().saturating_sub(10)
                            )),
                        ));
                    }
                }
                other => self.end = Some(err("DUMP", other)),
            },
            Expect::Len { min, max } => match r.as_int() {
                Some(v) if (*min as i64..=*max as i64).contains(&v) => {}
                Some(v) => {
                    let exp = if min == max {
                        Shown::Int(*min as i64)
                    } else {
                        Shown::Text(format!("{min}..{max}"))
                    };
                    self.set_value(Diff::value("length", exp, Shown::Int(v)));
                }
                None => self.end = Some(err("a length", r)),
            },
            Expect::Bytes { offset, span } => match r {
                Reply::Bulk(Some(b)) => {
                    let want = p.bytes(*span);
                    if b.as_slice() != want {
                        let i = want
                            .iter()
                            .zip(b.iter())
                            .position(|(a, b)| a != b)
                            .unwrap_or(want.len().min(b.len()));
                        let found = if i < b.len() {
                            Shown::bytes(&b[i..])
                        } else {
                            Shown::Absent
                        };
                        let exp = if i < want.len() {
                            Shown::bytes(&want[i..])
                        } else {
                            Shown::Absent
                        };
                        self.set_value(Diff::value("bytes", exp, found).at(offset + i as u64));
                    }
                }
                other => self.end = Some(err("GETRANGE", other)),
            },
            Expect::List { start, elems } => {
                let Some(got) = items(r) else {
                    self.end = Some(err("LRANGE", r));
                    return;
                };
                for (k, i) in elems.clone().enumerate() {
                    let want = p.elem(i);
                    let g = got.get(k).and_then(|x| x.as_bytes());
                    if g != Some(want) {
                        let found = g.map(Shown::bytes).unwrap_or(Shown::Absent);
                        self.set_value(
                            Diff::value("element", Shown::bytes(want), found).at(start + k as u64),
                        );
                        return;
                    }
                }
            }
            Expect::Members { elems, multi } => {
                let flags: Vec<Option<i64>> = if *multi {
                    match items(r) {
                        Some(a) => a.iter().map(|x| x.as_int()).collect(),
                        None => return self.end = Some(err("SMISMEMBER", r)),
                    }
                } else {
                    vec![r.as_int()]
                };
                for (k, i) in elems.clone().enumerate() {
                    if flags.get(k).copied().flatten() != Some(1) {
                        self.set_value(
                            Diff::value("member", Shown::Text("present".into()), Shown::Absent)
                                .item(Shown::bytes(p.elem(i))),
                        );
                        return;
                    }
                }
            }
            Expect::Scores {
                elems,
                scores,
                multi,
            } => {
                let got: Vec<Option<&[u8]>> = if *multi {
                    match items(r) {
                        Some(a) => a.iter().map(|x| x.as_bytes()).collect(),
                        None => return self.end = Some(err("ZMSCORE", r)),
                    }
                } else {
                    vec![r.as_bytes()]
                };
                for (k, i) in elems.clone().enumerate() {
                    let want = p.scores[scores.start as usize + k];
                    let member = Shown::bytes(p.elem(i));
                    match got.get(k).copied().flatten() {
                        None => {
                            self.set_value(
                                Diff::value("member", Shown::Score(want), Shown::Absent)
                                    .item(member),
                            );
                            return;
                        }
                        Some(b) => {
                            let f = parse_score(b);
                            if !f.is_some_and(|f| same_score(f, want)) {
                                let found = f.map(Shown::Score).unwrap_or_else(|| Shown::bytes(b));
                                self.set_value(
                                    Diff::value("score", Shown::Score(want), found).item(member),
                                );
                                return;
                            }
                        }
                    }
                }
            }
            Expect::Values { pairs, ttls } => {
                let Some(got) = items(r) else {
                    self.end = Some(err("HMGET", r));
                    return;
                };
                let soon = crate::restore::now_ms().saturating_add(self.tolerance_ms);
                for (k, i) in pairs.clone().step_by(2).enumerate() {
                    let (f, want) = (p.elem(i), p.elem(i + 1));
                    let g = got.get(k).and_then(|x| x.as_bytes());
                    let ttl = p.ints.get(ttls.start as usize + k).copied().unwrap_or(-1);
                    if g.is_none() && (0..=soon).contains(&ttl) {
                        continue; // expired meanwhile
                    }
                    if g != Some(want) {
                        let found = g.map(Shown::bytes).unwrap_or(Shown::Absent);
                        self.set_value(
                            Diff::value("field", Shown::bytes(want), found).item(Shown::bytes(f)),
                        );
                        return;
                    }
                }
            }
            Expect::FieldTtls { pairs, ttls } => {
                let Some(got) = items(r) else {
                    self.end = Some(err("HPEXPIRETIME", r));
                    return;
                };
                for (k, i) in pairs.clone().step_by(2).enumerate() {
                    let want = p.ints[ttls.start as usize + k];
                    let g = got.get(k).and_then(|x| x.as_int());
                    let ok = match (want, g) {
                        (_, Some(-2)) => true, // field absent: HMGET reports it
                        (-1, Some(-1)) => true,
                        (w, Some(v)) if w >= 0 && v >= 0 => (w - v).abs() <= self.tolerance_ms,
                        _ => false,
                    };
                    if !ok && self.ttl.is_none() {
                        let show = |v: Option<i64>| match v {
                            Some(x) if x >= 0 => Shown::Int(x),
                            _ => Shown::Absent,
                        };
                        self.ttl = Some(
                            Diff::new(Reason::Ttl, "field expiry", show(Some(want)), show(g))
                                .item(Shown::bytes(p.elem(i))),
                        );
                    }
                }
            }
            Expect::Entries { entries } => self.check_entries(p, entries.clone(), r),
            Expect::StreamInfo(want) => self.check_stream_info(want, r),
            Expect::Groups(want) => self.check_groups(want, r),
            Expect::Consumers { group, consumers } => self.check_consumers(group, consumers, r),
            Expect::Pel { group, entries } => self.check_pel(group, entries, r),
        }
    }
}

/// The part of a `DUMP` payload before its version and CRC.
fn dump_body_len(rec: &Record<'_>) -> usize {
    rec.key_meta.map(|m| m.len() + 1).unwrap_or(0) + 1 + rec.value.len()
}

/// Does a `DUMP` payload hold exactly the record's value bytes (whatever
/// version its trailer names)?
pub fn dump_matches(rec: &Record<'_>, payload: &[u8]) -> bool {
    if payload.len() != dump_body_len(rec) + 10 {
        return false;
    }
    let mut b = &payload[..payload.len() - 10];
    if let Some(m) = rec.key_meta {
        if b[0] != RDB_OPCODE_KEY_META || &b[1..=m.len()] != m {
            return false;
        }
        b = &b[m.len() + 1..];
    }
    b[0] == rec.type_byte && &b[1..] == rec.value
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::elem::RdbStr;
    use crate::redis::resp::Reply::*;
    use crate::verify::probe::{Probes, Span, TypeName};

    fn rec(value: &'static [u8]) -> Record<'static> {
        Record {
            offset: 0,
            db: 0,
            key: RdbStr::Raw(b"k"),
            expire_ms: None,
            idle: None,
            freq: None,
            type_byte: 0,
            vtype: ValueType::String,
            value,
            value_offset: 0,
            key_meta: None,
            vendor_hints: false,
        }
    }

    fn bulk(b: &[u8]) -> Reply {
        Bulk(Some(b.to_vec()))
    }

    #[test]
    fn dump_body_compare() {
        let r = rec(b"\x03abc");
        let mut p = b"\x00\x03abc".to_vec();
        p.extend_from_slice(&[10, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(dump_matches(&r, &p));
        p[2] = b'x';
        assert!(!dump_matches(&r, &p));
        assert!(!dump_matches(&r, b"short"));
    }

    fn probes(expects: Vec<Expect>) -> Probes {
        let mut p = Probes::default();
        for e in expects {
            p.push(&[b"X", b"k"], e);
        }
        p
    }

    #[test]
    fn missing_type_ttl_and_precedence() {
        let r = rec(b"\x01a");
        let p = probes(vec![
            Expect::Type(TypeName::Kind(crate::rdb::value::Kind::String)),
            Expect::Expire(None),
        ]);
        let mut e = Evaluator::new(&r, None, true, 10);
        e.feed(&p, &[Status("none".into()), Int(-2)]);
        assert!(matches!(e.finish(), Verdict::Differ(d) if d[0].reason == Reason::Missing));

        let mut e = Evaluator::new(&r, None, true, 10);
        e.feed(&p, &[Status("list".into()), Int(-1)]);
        assert!(matches!(e.finish(), Verdict::Differ(d) if d[0].reason == Reason::Type));

        let mut e = Evaluator::new(&r, None, true, 10);
        e.feed(&p, &[Status("string".into()), Int(5000)]);
        match e.finish() {
            Verdict::Differ(d) => {
                assert_eq!(d[0].reason, Reason::Ttl);
                assert_eq!(d[0].found, Shown::Int(5000));
                assert_eq!(d[0].expected, Shown::Absent);
            }
            v => panic!("{v:?}"),
        }

        // Within the tolerance.
        let p2 = probes(vec![Expect::Expire(Some(1000))]);
        let mut e = Evaluator::new(&r, Some(1000), true, 10);
        e.feed(&p2, &[Int(1009)]);
        assert_eq!(e.finish(), Verdict::Match { fast: false });
        let mut e = Evaluator::new(&r, Some(1000), true, 10);
        e.feed(&p2, &[Int(1011)]);
        assert!(matches!(e.finish(), Verdict::Differ(_)));
        // A key whose expiry has passed is not "missing".
        let mut e = Evaluator::new(&r, Some(1000), true, 10);
        e.feed(&p2, &[Int(-2)]);
        assert_eq!(e.finish(), Verdict::ExpiredMeanwhile);
    }

    #[test]
    fn list_window_reports_first_differing_index() {
        let r = rec(b"");
        let mut p = Probes::default();
        for w in [b"a", b"b", b"c"] {
            let at = p.arena.len() as u32;
            p.arena.extend_from_slice(w);
            p.elems.push(Span { at, len: 1 });
        }
        p.push(
            &[b"LRANGE", b"k", b"10", b"12"],
            Expect::List {
                start: 10,
                elems: 0..3,
            },
        );
        p.push(&[b"LLEN", b"k"], Expect::Len { min: 13, max: 13 });
        let mut e = Evaluator::new(&r, None, true, 0);
        e.feed(
            &p,
            &[
                Array(Some(vec![bulk(b"a"), bulk(b"x"), bulk(b"c")])),
                Int(14),
            ],
        );
        match e.finish() {
            Verdict::Differ(d) => {
                assert_eq!(d.len(), 1);
                assert_eq!((d[0].what, d[0].index), ("element", Some(11)));
                assert_eq!(d[0].found, Shown::Bytes(b"x".to_vec(), 1));
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn scores_compare_bit_patterns() {
        let r = rec(b"");
        let mut p = Probes::default();
        for (m, s) in [(b"a", f64::INFINITY), (b"b", 0.1)] {
            let at = p.arena.len() as u32;
            p.arena.extend_from_slice(m);
            p.elems.push(Span { at, len: 1 });
            p.scores.push(s);
        }
        p.push(
            &[b"ZMSCORE"],
            Expect::Scores {
                elems: 0..2,
                scores: 0..2,
                multi: true,
            },
        );
        let mut e = Evaluator::new(&r, None, true, 0);
        e.feed(&p, &[Array(Some(vec![bulk(b"inf"), bulk(b"0.1")]))]);
        assert_eq!(e.finish(), Verdict::Match { fast: false });
        let mut e = Evaluator::new(&r, None, true, 0);
        e.feed(
            &p,
            &[Array(Some(vec![
                bulk(b"inf"),
                bulk(b"0.10000000000000002"),
            ]))],
        );
        assert!(
            matches!(e.finish(), Verdict::Differ(d) if d[0].what == "score" && d[0].item == Some(Shown::bytes(b"b")))
        );
        let mut e = Evaluator::new(&r, None, true, 0);
        e.feed(&p, &[Array(Some(vec![Bulk(None), bulk(b"0.1")]))]);
        assert!(matches!(e.finish(), Verdict::Differ(d) if d[0].what == "member"));
    }

    #[test]
    fn hash_values_and_field_ttls() {
        let r = rec(b"");
        let mut p = Probes::default();
        for w in [b"f1", b"v1", b"f2", b"v2"] {
            let at = p.arena.len() as u32;
            p.arena.extend_from_slice(w);
            p.elems.push(Span { at, len: 2 });
        }
        // f1 has no TTL, f2 expires at 1000 (long past by the clock).
        p.ints.extend([-1, 1000]);
        p.push(
            &[b"HMGET"],
            Expect::Values {
                pairs: 0..4,
                ttls: 0..2,
            },
        );
        p.push(
            &[b"HPEXPIRETIME"],
            Expect::FieldTtls {
                pairs: 0..4,
                ttls: 0..2,
            },
        );
        let judge = |hmget: Reply, ttls: Vec<i64>| {
            let mut e = Evaluator::new(&r, None, true, 10);
            e.feed(
                &p,
                &[hmget, Array(Some(ttls.into_iter().map(Int).collect()))],
            );
            e.finish()
        };
        let both = || Array(Some(vec![bulk(b"v1"), bulk(b"v2")]));
        assert_eq!(
            judge(both(), vec![-1, 1005]),
            Verdict::Match { fast: false }
        );
        // A TTL off by more than the tolerance, a TTL that should not be there.
        for ttls in [vec![-1, 1011], vec![-1, -1], vec![5000, 1000]] {
            match judge(both(), ttls.clone()) {
                Verdict::Differ(d) => {
                    assert_eq!(
                        (d[0].reason, d[0].what),
                        (Reason::Ttl, "field expiry"),
                        "{ttls:?}"
                    )
                }
                v => panic!("{ttls:?}: {v:?}"),
            }
        }
        // f2's TTL has come: its absence is no difference; f1's is.
        let gone = Array(Some(vec![bulk(b"v1"), Bulk(None)]));
        assert_eq!(judge(gone, vec![-1, -2]), Verdict::Match { fast: false });
        let gone = Array(Some(vec![Bulk(None), bulk(b"v2")]));
        match judge(gone, vec![-2, 1000]) {
            Verdict::Differ(d) => {
                assert_eq!((d[0].what, &d[0].found), ("field", &Shown::Absent));
                assert_eq!(d[0].item, Some(Shown::bytes(b"f1")));
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn redirects_and_errors() {
        let r = rec(b"");
        let p = probes(vec![Expect::Expire(None), Expect::Dump { fast: true }]);
        let mut e = Evaluator::new(&r, None, true, 0);
        e.feed(
            &p,
            &[
                Error("MOVED 3999 127.0.0.1:6381".into()),
                Error("MOVED 3999 127.0.0.1:6381".into()),
            ],
        );
        assert_eq!(
            e.finish(),
            Verdict::Redirect(RedirectKind::Moved(
                Some(3999),
                Some("127.0.0.1:6381".into())
            ))
        );
        let mut e = Evaluator::new(&r, None, true, 0);
        e.feed(&p, &[Int(-1), Error("ERR unknown command 'DUMP'".into())]);
        assert!(matches!(e.finish(), Verdict::Error(m) if m == "X: ERR unknown command 'DUMP'"));
        let mut e = Evaluator::new(&r, None, true, 0);
        e.feed(&p, &[Int(-1), bulk(b"0123456789x")]);
        assert_eq!(e.finish(), Verdict::Fallback);
    }
}
