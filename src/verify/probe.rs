//! Probes: the read commands that check one key on the target, each paired
//! with what its reply must be ([`Expect`]). They are built from the
//! snapshot's record by walking its value with the decoders.
//!
//! | type | probes (after `TYPE` and `PEXPIRETIME`/`PTTL`) |
//! |---|---|
//! | string | `GETRANGE` windows of 1 MiB, `STRLEN` |
//! | list | `LRANGE` windows, `LLEN` |
//! | set | `SMISMEMBER` pages (`SISMEMBER` per member before 6.2), `SCARD` |
//! | zset | `ZMSCORE` pages (`ZSCORE` before 6.2), `ZCARD` |
//! | hash | `HMGET` pages (+ `HPEXPIRETIME ... FIELDS` for pages with field TTLs), `HLEN` |
//! | stream | `XRANGE first last` pages, `XLEN`, `XINFO STREAM`, `XINFO GROUPS`, `XINFO CONSUMERS` and `XPENDING start end` pages per group (a NACKed entry's owner is the empty string, as Redis 8.8 reports it) |
//! | module | `DUMP` |
//! | array (Redis 8.8) | `DUMP` (its payload is canonical: elements and the insert cursor only) |
//!
//! Unordered collections are checked by looking every snapshot member up on
//! the target, plus the cardinality: equal counts and every member present
//! with its value means equal content, and the memory needed is one page,
//! whatever the size of the key. Ordered ones are read in windows.
//!
//! The fast path is `PEXPIRETIME` + `DUMP` only: a payload equal to the
//! snapshot's bytes means an equal value without decoding anything.
//!
//! A page is at most [`PAGE_ELEMS`] elements or about [`PAGE_BYTES`] bytes.
//! Normally all pages of a key are built at once and pipelined; for a huge
//! key a [`PageSink`] runs each page as soon as it is built (see `big.rs`),
//! so memory stays at one page.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::rdb::array::{ArrayElem, ArrayHead};
use crate::rdb::elem::Elem;
use crate::rdb::module::ModuleValue;
use crate::rdb::records::Record;
use crate::rdb::stream::{StreamId, StreamMeta};
use crate::rdb::value::{Kind, Scratch, ValueVisitor};
use crate::redis::resp;

/// Elements per page.
pub const PAGE_ELEMS: usize = 512;
/// Bytes of expected data per page (a page closes after the element that
/// crosses it; a string is cut into windows of exactly this size).
pub const PAGE_BYTES: usize = 1 << 20;
/// A key whose probes would take more than this goes the paged way.
pub const NORMAL_CAP: usize = 16 << 20;

/// What a target can answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Features {
    /// `PEXPIRETIME` (Redis 7.0+, Valkey); otherwise `PTTL`.
    pub pexpiretime: bool,
    /// `SMISMEMBER`, `ZMSCORE` (6.2+).
    pub multi_lookup: bool,
    /// `HPEXPIRETIME` (Redis 7.4+, Valkey 9+).
    pub field_ttl: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            pexpiretime: true,
            multi_lookup: true,
            field_ttl: false,
        }
    }
}

/// A byte range in [`Probes::arena`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub at: u32,
    pub len: u32,
}

/// One expected stream entry: its ID and its field/value pairs (spans
/// `fields`, alternating field and value, in [`Probes::elems`]).
#[derive(Debug, Clone)]
pub struct EntryExpect {
    pub id: StreamId,
    pub fields: Range<u32>,
}

/// What `XINFO STREAM` must report.
#[derive(Debug, Clone)]
pub struct StreamInfoExpect {
    pub last_id: StreamId,
    pub first_id: Option<StreamId>,
    pub max_deleted_id: Option<StreamId>,
    pub entries_added: Option<u64>,
    pub groups: u64,
}

/// What `XINFO GROUPS` must report for one group.
#[derive(Debug, Clone)]
pub struct GroupExpect {
    pub name: Vec<u8>,
    pub last_delivered_id: StreamId,
    pub entries_read: Option<i64>,
    pub pending: u64,
    pub consumers: u64,
}

/// One expected pending entry: ID, owner (when the file names one) and
/// delivery count.
#[derive(Debug, Clone)]
pub struct PelExpect {
    pub id: StreamId,
    pub owner: Option<Vec<u8>>,
    pub count: u64,
}

/// The expected `TYPE` reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeName {
    Kind(Kind),
    /// A module type's 9-character name.
    Module(String),
}

impl TypeName {
    pub fn as_str(&self) -> &str {
        match self {
            TypeName::Kind(k) => k.name(),
            TypeName::Module(m) => m,
        }
    }
}

/// What one probe's reply must be.
#[derive(Debug, Clone)]
pub enum Expect {
    /// `TYPE key`.
    Type(TypeName),
    /// `PEXPIRETIME key` / `PTTL key`: the absolute expiry, if any.
    Expire(Option<i64>),
    /// `DUMP key`: the body equals the snapshot's payload. `fast`: a mismatch
    /// sends the key to the decoded comparison; otherwise (module values) it
    /// is a difference.
    Dump {
        fast: bool,
    },
    /// `STRLEN`/`LLEN`/`SCARD`/`ZCARD`/`HLEN`/`XLEN`: a count in `min..=max`.
    Len {
        min: u64,
        max: u64,
    },
    /// `GETRANGE key offset end`: exactly these bytes.
    Bytes {
        offset: u64,
        span: Span,
    },
    /// `LRANGE key start end`: exactly these elements.
    List {
        start: u64,
        elems: Range<u32>,
    },
    /// `SMISMEMBER` (`multi`) or `SISMEMBER`: every member present.
    Members {
        elems: Range<u32>,
        multi: bool,
    },
    /// `ZMSCORE` (`multi`) or `ZSCORE`: these scores (`scores` in
    /// [`Probes::scores`], one per member).
    Scores {
        elems: Range<u32>,
        scores: Range<u32>,
        multi: bool,
    },
    /// `HMGET key f...`: these values (`pairs`: field, value, field, ...;
    /// `ttls`: each field's TTL in [`Probes::ints`], -1 for none). A field
    /// whose TTL has come by the time of the reply may be absent.
    Values {
        pairs: Range<u32>,
        ttls: Range<u32>,
    },
    /// `HPEXPIRETIME key FIELDS n f...`: per field its TTL in
    /// [`Probes::ints`] (-1: none).
    FieldTtls {
        pairs: Range<u32>,
        ttls: Range<u32>,
    },
    /// `XRANGE key first last`: exactly these entries.
    Entries {
        entries: Range<u32>,
    },
    StreamInfo(Box<StreamInfoExpect>),
    Groups(Box<[GroupExpect]>),
    /// `XINFO CONSUMERS key group`: these consumers with their pending counts.
    Consumers {
        group: Vec<u8>,
        consumers: Box<[(Vec<u8>, u64)]>,
    },
    /// `XPENDING key group first last COUNT n+1`: exactly these entries.
    Pel {
        group: Vec<u8>,
        entries: Box<[PelExpect]>,
    },
}

/// A key's probes: RESP commands back to back, one expectation per command,
/// and the expected bytes they refer to.
#[derive(Debug, Default)]
pub struct Probes {
    pub cmds: Vec<u8>,
    /// Where each command starts in `cmds`.
    pub starts: Vec<usize>,
    pub expects: Vec<Expect>,
    pub arena: Vec<u8>,
    pub elems: Vec<Span>,
    pub scores: Vec<f64>,
    pub ints: Vec<i64>,
    pub entries: Vec<EntryExpect>,
}

impl Probes {
    /// The bytes of a span.
    #[inline]
    pub fn bytes(&self, s: Span) -> &[u8] {
        &self.arena[s.at as usize..(s.at + s.len) as usize]
    }

    /// The bytes of element `i`.
    #[inline]
    pub fn elem(&self, i: u32) -> &[u8] {
        self.bytes(self.elems[i as usize])
    }

    /// The command `i` as RESP bytes.
    pub fn command(&self, i: usize) -> &[u8] {
        let end = self.starts.get(i + 1).copied().unwrap_or(self.cmds.len());
        &self.cmds[self.starts[i]..end]
    }

    /// Are these the fast-path probes (expiry and `DUMP`)?
    pub fn fast(&self) -> bool {
        matches!(self.expects.last(), Some(Expect::Dump { fast: true }))
    }

    /// Approximate memory held, for the in-flight budget.
    pub fn mem(&self) -> usize {
        self.cmds.len()
            + self.arena.len()
            + self.elems.len() * 8
            + self.scores.len() * 8
            + self.ints.len() * 8
            + self.expects.len() * 48
            + self.entries.len() * 24
    }

    pub fn clear(&mut self) {
        self.cmds.clear();
        self.starts.clear();
        self.expects.clear();
        self.arena.clear();
        self.elems.clear();
        self.scores.clear();
        self.ints.clear();
        self.entries.clear();
    }

    /// Appends a command whose arguments are all given.
    pub fn push(&mut self, args: &[&[u8]], e: Expect) {
        self.starts.push(self.cmds.len());
        resp::command(&mut self.cmds, args);
        self.expects.push(e);
    }

    /// Appends `prefix... elems[range]` (every element, or every other one
    /// from the first with `step` 2).
    fn push_with_elems(&mut self, prefix: &[&[u8]], range: Range<u32>, step: usize, e: Expect) {
        self.starts.push(self.cmds.len());
        let n = range.clone().step_by(step).count();
        resp::array_header(&mut self.cmds, prefix.len() + n);
        for a in prefix {
            resp::bulk(&mut self.cmds, a);
        }
        for i in range.step_by(step) {
            let s = self.elems[i as usize];
            resp::bulk(
                &mut self.cmds,
                &self.arena[s.at as usize..(s.at + s.len) as usize],
            );
        }
        self.expects.push(e);
    }

    fn add_elem(&mut self, e: &Elem<'_>) -> u32 {
        let at = self.arena.len() as u32;
        e.write_to(&mut self.arena);
        self.elems.push(Span {
            at,
            len: self.arena.len() as u32 - at,
        });
        self.elems.len() as u32 - 1
    }

    fn add_bytes(&mut self, b: &[u8]) -> Span {
        let at = self.arena.len() as u32;
        self.arena.extend_from_slice(b);
        Span {
            at,
            len: b.len() as u32,
        }
    }
}

/// Returned by a [`PageSink`] when the key's verdict is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decided;

/// Runs the pages of a huge key as they are built.
pub trait PageSink {
    /// Runs (and then clears) the probes built so far. `Err(Decided)` stops
    /// the walk.
    fn page(&mut self, p: &mut Probes) -> std::result::Result<(), Decided>;
}

/// How building a key's probes ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Built {
    /// The probes are complete.
    Ready,
    /// A hash whose fields have all expired: nothing to check (the key is
    /// skipped as expired, as `load` does).
    AllFieldsExpired,
    /// Over [`NORMAL_CAP`]: check it page by page instead.
    TooBig,
    /// The page sink stopped the walk (the verdict is known).
    Stopped,
}

/// Everything building needs besides the record.
#[derive(Debug, Clone, Copy)]
pub struct BuildCtx {
    pub features: Features,
    /// Unix ms: hash fields whose TTL is at or before this are expected gone.
    pub now_ms: i64,
    /// TTL tolerance; fields expiring within it may or may not be there.
    pub tolerance_ms: i64,
}

/// Facts learnt while building, for the summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct BuildNotes {
    /// The hash has field TTLs the target cannot report (no `HPEXPIRETIME`).
    pub field_ttls_unchecked: bool,
}

/// The expiry probe.
pub fn push_expire(p: &mut Probes, key: &[u8], expire_ms: Option<i64>, f: &Features) {
    let cmd: &[u8] = if f.pexpiretime {
        b"PEXPIRETIME"
    } else {
        b"PTTL"
    };
    p.push(&[cmd, key], Expect::Expire(expire_ms));
}

/// The fast path: expiry and `DUMP`.
pub fn fast_probes(p: &mut Probes, key: &[u8], expire_ms: Option<i64>, f: &Features) {
    push_expire(p, key, expire_ms, f);
    p.push(&[b"DUMP", key], Expect::Dump { fast: true });
}

/// A module value: `TYPE`, expiry, `DUMP` (compared as bytes only).
pub fn module_probes(
    p: &mut Probes,
    key: &[u8],
    module_type: &str,
    expire_ms: Option<i64>,
    f: &Features,
) {
    let t = TypeName::Module(module_type.to_string());
    dump_probes(p, key, t, expire_ms, f);
}

/// `TYPE`, expiry, `DUMP` (compared as bytes only): module values, and
/// arrays, whose payload is canonical (elements and insert cursor only).
pub fn dump_probes(p: &mut Probes, key: &[u8], t: TypeName, expire_ms: Option<i64>, f: &Features) {
    p.push(&[b"TYPE", key], Expect::Type(t));
    push_expire(p, key, expire_ms, f);
    p.push(&[b"DUMP", key], Expect::Dump { fast: false });
}

/// The module type name of a module record.
pub fn module_type_name(rec: &Record<'_>, scratch: &mut Scratch) -> Result<String> {
    struct Name(Option<String>);
    impl ValueVisitor for Name {
        fn module(&mut self, v: &ModuleValue<'_>) -> Result<()> {
            self.0 = Some(v.name.clone());
            Ok(())
        }
    }
    let mut n = Name(None);
    rec.decode(scratch, &mut n)?;
    Ok(n.0.unwrap_or_default())
}

/// Builds the decoded-comparison probes of `rec` (not a module value) into
/// `p`: `TYPE`, expiry, then the value's pages. With a `sink`, each page is
/// run as soon as it is built.
#[allow(clippy::too_many_arguments)]
pub fn build(
    p: &mut Probes,
    key: &[u8],
    rec: &Record<'_>,
    expire_ms: Option<i64>,
    ctx: &BuildCtx,
    scratch: &mut Scratch,
    sink: Option<&mut dyn PageSink>,
    notes: &mut BuildNotes,
) -> Result<Built> {
    let kind = rec.vtype.kind();
    p.push(&[b"TYPE", key], Expect::Type(TypeName::Kind(kind)));
    push_expire(p, key, expire_ms, &ctx.features);
    let mut b = Builder::new(p, key, kind, *ctx, sink);
    let r = rec.decode(scratch, &mut b);
    let built = match (b.outcome, r) {
        (Some(o), _) => Ok(o),
        (None, Err(e)) => Err(e),
        (None, Ok(())) => Ok(b.finish()),
    };
    *notes = b.notes;
    built
}

/// The error that stops a walk early; the builder's `outcome` says why.
fn stop() -> Error {
    Error::invalid(0, "value", "walk stopped")
}

struct Builder<'p, 's> {
    p: &'p mut Probes,
    key: &'p [u8],
    kind: Kind,
    ctx: BuildCtx,
    sink: Option<&'s mut dyn PageSink>,
    /// Where the current page starts in `elems`, `scores`, `ints`, `entries`.
    page_elem: u32,
    page_score: u32,
    page_int: u32,
    page_entry: u32,
    page_bytes: usize,
    /// A hash page holds a field with a TTL.
    page_has_ttl: bool,
    /// Elements (list items, members, live fields, entries) so far.
    count: u64,
    /// Hash fields expiring within the tolerance, and already expired.
    soon: u64,
    expired: u64,
    /// Live hash fields with a TTL (they may expire during the run).
    volatile: u64,
    outcome: Option<Built>,
    notes: BuildNotes,
}

impl<'p, 's> Builder<'p, 's> {
    fn new(
        p: &'p mut Probes,
        key: &'p [u8],
        kind: Kind,
        ctx: BuildCtx,
        sink: Option<&'s mut dyn PageSink>,
    ) -> Self {
        Builder {
            p,
            key,
            kind,
            ctx,
            sink,
            page_elem: 0,
            page_score: 0,
            page_int: 0,
            page_entry: 0,
            page_bytes: 0,
            page_has_ttl: false,
            count: 0,
            soon: 0,
            expired: 0,
            volatile: 0,
            outcome: None,
            notes: BuildNotes::default(),
        }
    }

    /// Called after each element: closes the page when it is full.
    #[inline]
    fn after_elem(&mut self, bytes: usize) -> Result<()> {
        self.page_bytes += bytes;
        let n = match self.kind {
            Kind::Stream => self.p.entries.len() as u32 - self.page_entry,
            Kind::Hash => (self.p.elems.len() as u32 - self.page_elem) / 2,
            _ => self.p.elems.len() as u32 - self.page_elem,
        };
        if n as usize >= PAGE_ELEMS || self.page_bytes >= PAGE_BYTES {
            self.close_page()?;
        }
        Ok(())
    }

    /// Turns the elements gathered since the last page into a command.
    fn close_page(&mut self) -> Result<()> {
        let key = self.key;
        let elems = self.page_elem..self.p.elems.len() as u32;
        match self.kind {
            Kind::List if !elems.is_empty() => {
                let start = self.count - elems.len() as u64;
                let end = self.count - 1;
                let (s, e) = (start.to_string(), end.to_string());
                self.p.push(
                    &[b"LRANGE", key, s.as_bytes(), e.as_bytes()],
                    Expect::List {
                        start,
                        elems: elems.clone(),
                    },
                );
            }
            Kind::Set if !elems.is_empty() => {
                self.p.push_with_elems(
                    &[b"SMISMEMBER", key],
                    elems.clone(),
                    1,
                    Expect::Members {
                        elems: elems.clone(),
                        multi: true,
                    },
                );
            }
            Kind::ZSet if !elems.is_empty() => {
                let scores = self.page_score..self.p.scores.len() as u32;
                self.p.push_with_elems(
                    &[b"ZMSCORE", key],
                    elems.clone(),
                    1,
                    Expect::Scores {
                        elems: elems.clone(),
                        scores,
                        multi: true,
                    },
                );
            }
            Kind::Hash if !elems.is_empty() => {
                let ttls = self.page_int..self.p.ints.len() as u32;
                self.p.push_with_elems(
                    &[b"HMGET", key],
                    elems.clone(),
                    2,
                    Expect::Values {
                        pairs: elems.clone(),
                        ttls: ttls.clone(),
                    },
                );
                if self.page_has_ttl {
                    if self.ctx.features.field_ttl {
                        let n = (elems.len() / 2).to_string();
                        self.p.push_with_elems(
                            &[b"HPEXPIRETIME", key, b"FIELDS", n.as_bytes()],
                            elems.clone(),
                            2,
                            Expect::FieldTtls {
                                pairs: elems.clone(),
                                ttls,
                            },
                        );
                    } else {
                        self.notes.field_ttls_unchecked = true;
                    }
                }
            }
            Kind::Stream => {
                let entries = self.page_entry..self.p.entries.len() as u32;
                if !entries.is_empty() {
                    let first = self.p.entries[entries.start as usize].id.to_string();
                    let last = self.p.entries[entries.end as usize - 1].id.to_string();
                    self.p.push(
                        &[b"XRANGE", key, first.as_bytes(), last.as_bytes()],
                        Expect::Entries { entries },
                    );
                }
            }
            _ => {}
        }
        self.run_page()
    }

    /// With a sink, runs what is built; then starts a new page.
    fn run_page(&mut self) -> Result<()> {
        if let Some(s) = self.sink.as_deref_mut() {
            if !self.p.expects.is_empty() && s.page(self.p).is_err() {
                self.outcome = Some(Built::Stopped);
                return Err(stop());
            }
            self.p.clear();
        } else if self.p.arena.len() + self.p.cmds.len() > NORMAL_CAP {
            self.outcome = Some(Built::TooBig);
            return Err(stop());
        }
        self.page_elem = self.p.elems.len() as u32;
        self.page_score = self.p.scores.len() as u32;
        self.page_int = self.p.ints.len() as u32;
        self.page_entry = self.p.entries.len() as u32;
        self.page_bytes = 0;
        self.page_has_ttl = false;
        Ok(())
    }

    /// The last page and the count.
    fn finish(&mut self) -> Built {
        if self.kind != Kind::Stream && self.kind != Kind::String {
            if self.kind == Kind::Hash && self.count + self.soon == 0 && self.expired > 0 {
                return Built::AllFieldsExpired;
            }
            if self.close_page().is_err() {
                return self.outcome.unwrap_or(Built::Stopped);
            }
            let cmd: &[u8] = match self.kind {
                Kind::List => b"LLEN",
                Kind::Set => b"SCARD",
                Kind::ZSet => b"ZCARD",
                _ => b"HLEN",
            };
            // Fields expiring about now, or already expired in the file,
            // may or may not still be counted by the target; fields with a
            // TTL may expire during the run (each live field is looked up,
            // so the count only has to rule out extra fields).
            let (min, max) = (
                self.count - self.volatile,
                self.count + self.soon + self.expired,
            );
            self.p.push(&[cmd, self.key], Expect::Len { min, max });
        }
        if self.sink.is_some() && self.run_page().is_err() {
            return self.outcome.unwrap_or(Built::Stopped);
        }
        if self.p.arena.len() + self.p.cmds.len() > NORMAL_CAP && self.sink.is_none() {
            return Built::TooBig;
        }
        Built::Ready
    }
}

impl ValueVisitor for Builder<'_, '_> {
    fn string(&mut self, v: Elem<'_>) -> Result<()> {
        let mut tmp = itoa::Buffer::new();
        let bytes = v.as_bytes(&mut tmp);
        let key = self.key;
        let len = bytes.len();
        let mut off = 0usize;
        loop {
            let end = (off + PAGE_BYTES).min(len);
            let span = self.p.add_bytes(&bytes[off..end]);
            let (a, b) = (off.to_string(), (end as i64 - 1).to_string());
            self.p.push(
                &[b"GETRANGE", key, a.as_bytes(), b.as_bytes()],
                Expect::Bytes {
                    offset: off as u64,
                    span,
                },
            );
            off = end;
            if off >= len {
                break;
            }
            self.run_page()?;
        }
        self.p.push(
            &[b"STRLEN", key],
            Expect::Len {
                min: len as u64,
                max: len as u64,
            },
        );
        Ok(())
    }

    fn list_item(&mut self, v: Elem<'_>) -> Result<()> {
        let i = self.p.add_elem(&v);
        self.count += 1;
        self.after_elem(self.p.elems[i as usize].len as usize)
    }

    fn set_member(&mut self, v: Elem<'_>) -> Result<()> {
        let i = self.p.add_elem(&v);
        self.count += 1;
        if !self.ctx.features.multi_lookup {
            let s = self.p.elems[i as usize];
            let m = self.p.bytes(s).to_vec();
            self.p.push(
                &[b"SISMEMBER", self.key, &m],
                Expect::Members {
                    elems: i..i + 1,
                    multi: false,
                },
            );
            self.page_elem = self.p.elems.len() as u32;
            return self.after_elem(s.len as usize);
        }
        self.after_elem(self.p.elems[i as usize].len as usize)
    }

    fn zset_member(&mut self, member: Elem<'_>, score: f64) -> Result<()> {
        let i = self.p.add_elem(&member);
        self.p.scores.push(score);
        self.count += 1;
        if !self.ctx.features.multi_lookup {
            let s = self.p.elems[i as usize];
            let m = self.p.bytes(s).to_vec();
            let j = self.p.scores.len() as u32 - 1;
            self.p.push(
                &[b"ZSCORE", self.key, &m],
                Expect::Scores {
                    elems: i..i + 1,
                    scores: j..j + 1,
                    multi: false,
                },
            );
            self.page_elem = self.p.elems.len() as u32;
            self.page_score = self.p.scores.len() as u32;
            return self.after_elem(s.len as usize);
        }
        self.after_elem(self.p.elems[i as usize].len as usize)
    }

    fn hash_field(
        &mut self,
        field: Elem<'_>,
        value: Elem<'_>,
        expire_ms: Option<i64>,
    ) -> Result<()> {
        if let Some(t) = expire_ms {
            if t <= self.ctx.now_ms {
                self.expired += 1;
                return Ok(());
            }
            if t <= self.ctx.now_ms.saturating_add(self.ctx.tolerance_ms) {
                self.soon += 1;
                return Ok(());
            }
            self.page_has_ttl = true;
            self.volatile += 1;
        }
        let f = self.p.add_elem(&field);
        let v = self.p.add_elem(&value);
        self.p.ints.push(expire_ms.unwrap_or(-1));
        self.count += 1;
        let n = self.p.elems[f as usize].len + self.p.elems[v as usize].len;
        self.after_elem(n as usize)
    }

    fn stream_entry(&mut self, id: StreamId, fields: &[(Elem<'_>, Elem<'_>)]) -> Result<()> {
        let start = self.p.elems.len() as u32;
        let mut n = 16;
        for (f, v) in fields {
            let a = self.p.add_elem(f);
            let b = self.p.add_elem(v);
            n += (self.p.elems[a as usize].len + self.p.elems[b as usize].len) as usize;
        }
        self.p.entries.push(EntryExpect {
            id,
            fields: start..self.p.elems.len() as u32,
        });
        self.count += 1;
        self.after_elem(n)
    }

    fn stream_meta(&mut self, m: &StreamMeta) -> Result<()> {
        self.close_page()?;
        let key = self.key;
        self.p.push(
            &[b"XLEN", key],
            Expect::Len {
                min: m.length,
                max: m.length,
            },
        );
        self.p.push(
            &[b"XINFO", b"STREAM", key],
            Expect::StreamInfo(Box::new(StreamInfoExpect {
                last_id: m.last_id,
                first_id: m.first_id,
                max_deleted_id: m.max_deleted_id,
                entries_added: m.entries_added,
                groups: m.groups.len() as u64,
            })),
        );
        if m.groups.is_empty() {
            return Ok(());
        }
        let groups: Vec<GroupExpect> = m
            .groups
            .iter()
            .map(|g| GroupExpect {
                name: g.name.clone(),
                last_delivered_id: g.last_delivered_id,
                entries_read: g.entries_read,
                pending: g.pending.len() as u64,
                consumers: g.consumers.len() as u64,
            })
            .collect();
        self.p.push(
            &[b"XINFO", b"GROUPS", key],
            Expect::Groups(groups.into_boxed_slice()),
        );
        for g in &m.groups {
            let consumers: Vec<(Vec<u8>, u64)> = g
                .consumers
                .iter()
                .map(|c| (c.name.clone(), c.pending.len() as u64))
                .collect();
            self.p.push(
                &[b"XINFO", b"CONSUMERS", key, &g.name],
                Expect::Consumers {
                    group: g.name.clone(),
                    consumers: consumers.into_boxed_slice(),
                },
            );
            let mut owner = std::collections::HashMap::new();
            for c in &g.consumers {
                for id in &c.pending {
                    owner.insert(*id, c.name.as_slice());
                }
            }
            // NACKed entries (type 27) belong to no consumer: Redis 8.8's
            // XPENDING names the empty string for them.
            for id in g.nacked.iter().flatten() {
                owner.insert(*id, b"".as_slice());
            }
            for page in g.pending.chunks(PAGE_ELEMS) {
                let (first, last) = (page[0].id.to_string(), page[page.len() - 1].id.to_string());
                let count = (page.len() + 1).to_string();
                let entries: Vec<PelExpect> = page
                    .iter()
                    .map(|e| PelExpect {
                        id: e.id,
                        owner: owner.get(&e.id).map(|n| n.to_vec()),
                        count: e.delivery_count,
                    })
                    .collect();
                self.p.push(
                    &[
                        b"XPENDING",
                        key,
                        &g.name,
                        first.as_bytes(),
                        last.as_bytes(),
                        count.as_bytes(),
                    ],
                    Expect::Pel {
                        group: g.name.clone(),
                        entries: entries.into_boxed_slice(),
                    },
                );
                self.run_page()?;
            }
        }
        Ok(())
    }

    fn module(&mut self, _: &ModuleValue<'_>) -> Result<()> {
        Err(Error::invalid(
            0,
            "value",
            "module values are compared by DUMP only",
        ))
    }

    fn array_head(&mut self, _: ArrayHead) -> Result<()> {
        Err(Error::invalid(
            0,
            "value",
            "arrays are compared by DUMP only",
        ))
    }

    fn array_element(&mut self, _: u64, _: ArrayElem<'_>) -> Result<()> {
        Err(Error::invalid(
            0,
            "value",
            "arrays are compared by DUMP only",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes the RESP commands of `p` into argument lists.
    fn commands(p: &Probes) -> Vec<Vec<Vec<u8>>> {
        (0..p.starts.len())
            .map(|i| {
                let mut c = p.command(i);
                let mut out = Vec::new();
                let line = |c: &mut &[u8]| {
                    let n = c.windows(2).position(|w| w == b"\r\n").unwrap();
                    let l = c[1..n].to_vec();
                    *c = &c[n + 2..];
                    String::from_utf8(l).unwrap().parse::<usize>().unwrap()
                };
                let n = line(&mut c);
                for _ in 0..n {
                    let len = line(&mut c);
                    out.push(c[..len].to_vec());
                    c = &c[len + 2..];
                }
                out
            })
            .collect()
    }

    fn names(p: &Probes) -> Vec<String> {
        commands(p)
            .iter()
            .map(|c| String::from_utf8_lossy(&c[0]).into_owned())
            .collect()
    }

    struct Drive<'a> {
        kind: Kind,
        items: &'a [&'a [u8]],
    }

    fn run(d: Drive<'_>, f: Features) -> (Probes, Result<Built>) {
        let mut p = Probes::default();
        p.push(&[b"TYPE", b"k"], Expect::Type(TypeName::Kind(d.kind)));
        let mut b = Builder::new(
            &mut p,
            b"k",
            d.kind,
            BuildCtx {
                features: f,
                now_ms: 1000,
                tolerance_ms: 100,
            },
            None,
        );
        for (i, it) in d.items.iter().enumerate() {
            match d.kind {
                Kind::List => b.list_item(Elem::Bytes(it)).unwrap(),
                Kind::Set => b.set_member(Elem::Bytes(it)).unwrap(),
                Kind::ZSet => b.zset_member(Elem::Bytes(it), i as f64).unwrap(),
                Kind::Hash => b
                    .hash_field(
                        Elem::Bytes(it),
                        Elem::Int(i as i64),
                        if i % 2 == 1 { Some(5000) } else { None },
                    )
                    .unwrap(),
                _ => unreachable!(),
            }
        }
        let r = Ok(b.finish());
        (p, r)
    }

    #[test]
    fn lists_are_read_in_windows() {
        let items: Vec<Vec<u8>> = (0..1100).map(|i| format!("e{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = items.iter().map(|v| v.as_slice()).collect();
        let (p, r) = run(
            Drive {
                kind: Kind::List,
                items: &refs,
            },
            Features::default(),
        );
        assert_eq!(r.unwrap(), Built::Ready);
        let c = commands(&p);
        assert_eq!(names(&p), ["TYPE", "LRANGE", "LRANGE", "LRANGE", "LLEN"]);
        assert_eq!(c[1][2..], [b"0".to_vec(), b"511".to_vec()]);
        assert_eq!(c[3][2..], [b"1024".to_vec(), b"1099".to_vec()]);
        assert!(matches!(
            p.expects[4],
            Expect::Len {
                min: 1100,
                max: 1100
            }
        ));
    }

    #[test]
    fn sets_and_zsets_without_multi_lookup() {
        let refs: Vec<&[u8]> = vec![b"a", b"b"];
        let f = Features {
            multi_lookup: false,
            ..Default::default()
        };
        let (p, _) = run(
            Drive {
                kind: Kind::Set,
                items: &refs,
            },
            f,
        );
        assert_eq!(names(&p), ["TYPE", "SISMEMBER", "SISMEMBER", "SCARD"]);
        let (p, _) = run(
            Drive {
                kind: Kind::ZSet,
                items: &refs,
            },
            Features::default(),
        );
        assert_eq!(names(&p), ["TYPE", "ZMSCORE", "ZCARD"]);
        assert_eq!(commands(&p)[1][2..], [b"a".to_vec(), b"b".to_vec()]);
    }

    #[test]
    fn hash_pages_with_field_ttls() {
        let refs: Vec<&[u8]> = vec![b"f0", b"f1", b"f2"];
        let (p, _) = run(
            Drive {
                kind: Kind::Hash,
                items: &refs,
            },
            Features {
                field_ttl: true,
                ..Default::default()
            },
        );
        assert_eq!(names(&p), ["TYPE", "HMGET", "HPEXPIRETIME", "HLEN"]);
        let c = commands(&p);
        assert_eq!(c[1][2..], [b"f0".to_vec(), b"f1".to_vec(), b"f2".to_vec()]);
        assert_eq!(c[2][2..4], [b"FIELDS".to_vec(), b"3".to_vec()]);
        assert_eq!(p.ints, [-1, 5000, -1]);
        // Without HPEXPIRETIME the TTLs are noted as unchecked.
        let (p, _) = run(
            Drive {
                kind: Kind::Hash,
                items: &refs,
            },
            Features::default(),
        );
        assert_eq!(names(&p), ["TYPE", "HMGET", "HLEN"]);
    }

    #[test]
    fn expired_fields_are_left_out_and_counted_loosely() {
        let mut p = Probes::default();
        let mut b = Builder::new(
            &mut p,
            b"k",
            Kind::Hash,
            BuildCtx {
                features: Features::default(),
                now_ms: 1000,
                tolerance_ms: 100,
            },
            None,
        );
        b.hash_field(Elem::Bytes(b"old"), Elem::Int(1), Some(10))
            .unwrap();
        b.hash_field(Elem::Bytes(b"soon"), Elem::Int(1), Some(1050))
            .unwrap();
        b.hash_field(Elem::Bytes(b"live"), Elem::Int(1), None)
            .unwrap();
        assert_eq!(b.finish(), Built::Ready);
        assert!(matches!(
            p.expects.last(),
            Some(Expect::Len { min: 1, max: 3 })
        ));
        assert_eq!(commands(&p)[0][2..], [b"live".to_vec()]);
    }

    #[test]
    fn strings_are_read_in_windows() {
        let mut p = Probes::default();
        let big = vec![b'x'; PAGE_BYTES + 10];
        let mut b = Builder::new(
            &mut p,
            b"k",
            Kind::String,
            BuildCtx {
                features: Features::default(),
                now_ms: 0,
                tolerance_ms: 0,
            },
            None,
        );
        b.string(Elem::Bytes(&big)).unwrap();
        assert_eq!(b.finish(), Built::Ready);
        let c = commands(&p);
        assert_eq!(names(&p), ["GETRANGE", "GETRANGE", "STRLEN"]);
        assert_eq!(
            c[1][2..],
            [
                format!("{PAGE_BYTES}").into_bytes(),
                format!("{}", PAGE_BYTES + 9).into_bytes()
            ]
        );
        // An empty string is one empty window.
        let mut p = Probes::default();
        let mut b = Builder::new(
            &mut p,
            b"k",
            Kind::String,
            BuildCtx {
                features: Features::default(),
                now_ms: 0,
                tolerance_ms: 0,
            },
            None,
        );
        b.string(Elem::Int(-5)).unwrap();
        b.finish();
        assert_eq!(commands(&p)[0][2..], [b"0".to_vec(), b"1".to_vec()]);
    }
}
