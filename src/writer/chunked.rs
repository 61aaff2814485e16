//! The second pass over an RDB input on the parallel engine
//! ([`crate::scan`]): each worker turns a whole chunk into the bytes of
//! every output (records copied, filtered out, re-encoded, routed to their
//! shard), and the calling thread only appends those bytes in file order
//! (the CRC-64 and the `SELECTDB`/`RESIZEDB` framing live in
//! [`Emitter`]). The output is byte-identical whatever the thread count.
//!
//! ```text
//! chunk ──worker──▶ per output: [keys bytes | input span | hint | function ...]
//!                                     └──────▶ Emitter (in file order)
//! ```
//!
//! When the input's format is the output's, a kept record is its own input
//! bytes (`offset..end_offset`): consecutive kept records form one span of
//! the mapped input, and a long span (a whole chunk, when nothing is
//! filtered out) is written from the mapping without being copied.

use std::io::Write;

use crate::rdb::records::Record;
use crate::rdb::records::StoredValue;
use crate::rdb::value::Dialect;
use crate::rdb::write::{Encoded, Format};
use crate::scan::{self, Chunk, EngineOptions, ScanError, Worker};

use super::emit::{put_copy, put_copy_head, put_encoded, Emitter, DIRECT};
use super::keys::{InputPass, KeyAt, KeySink, KeyWriter, Refusal};
use super::plan::Plan;
use super::route::Route;
use super::{failed, in_file, out_err, source, Input, Options, Summary, WriteError};

/// One piece of an output's share of a chunk, in order.
enum Piece<'a> {
    /// `keys` whole keys of `db`, at `from..to` of the output's buffer.
    Keys {
        db: u64,
        keys: u64,
        from: usize,
        to: usize,
    },
    /// `keys` whole keys of `db`, as they are in the input.
    Span {
        db: u64,
        keys: u64,
        bytes: &'a [u8],
    },
    Hint {
        db: u64,
        keys: u64,
        expires: u64,
    },
    Function(Vec<u8>),
    ModuleAux(Vec<u8>),
    /// A list too big to be built by a worker: written node by node by
    /// the consumer ([`Emitter::list_by_nodes`]).
    List {
        db: u64,
        head: Vec<u8>,
        value: StoredValue<'a>,
        nodes: u64,
    },
}

/// Consecutive input records being copied as they are.
struct Run {
    db: u64,
    keys: u64,
    start: usize,
    end: usize,
}

/// One output's share of a chunk.
#[derive(Default)]
struct Share<'a> {
    buf: Vec<u8>,
    pieces: Vec<Piece<'a>>,
    run: Option<Run>,
}

/// No guess beyond this: four normal chunks' worth.
const CAPACITY_CAP: usize = 8 << 20;

/// A first guess at one output's share of `chunk`: the chunk spread
/// evenly, plus an eighth for re-encoding growth. Sizing the buffer once
/// spares the doubling reallocations of a buffer grown record by record
/// (each one a copy of everything gathered so far); the pages a guess
/// leaves untouched cost nothing.
fn share_capacity(chunk: &Chunk<'_>, outputs: usize) -> usize {
    let len = (chunk.end - chunk.start) as usize;
    let even = len / outputs.max(1);
    // A chunk of one big record is copied as a span, not through the buffer.
    (even + even / 8).min(CAPACITY_CAP)
}

impl<'a> Share<'a> {
    fn sized(capacity: usize) -> Self {
        Share {
            buf: Vec::with_capacity(capacity),
            ..Share::default()
        }
    }

    /// Counts `n` keys of `db` just appended to `buf` from `from`.
    fn owned(&mut self, db: u64, n: u64, from: usize) {
        let to = self.buf.len();
        match self.pieces.last_mut() {
            Some(Piece::Keys {
                db: d,
                keys,
                to: end,
                ..
            }) if *d == db && *end == from => {
                *keys += n;
                *end = to;
            }
            _ => self.pieces.push(Piece::Keys {
                db,
                keys: n,
                from,
                to,
            }),
        }
    }

    /// Ends the open run: a long one stays a span of the input, a short
    /// one is copied into the buffer (so the writer sees few pieces).
    fn close(&mut self, data: &'a [u8]) {
        let Some(r) = self.run.take() else { return };
        let bytes = &data[r.start..r.end];
        if bytes.len() >= DIRECT {
            self.pieces.push(Piece::Span {
                db: r.db,
                keys: r.keys,
                bytes,
            });
        } else {
            let from = self.buf.len();
            self.buf.extend_from_slice(bytes);
            self.owned(r.db, r.keys, from);
        }
    }

    /// Adds the input bytes `start..end` (one record) to the run.
    fn span(&mut self, data: &'a [u8], db: u64, start: usize, end: usize) {
        if let Some(r) = &mut self.run {
            if r.db == db && r.end == start {
                r.end = end;
                r.keys += 1;
                return;
            }
        }
        self.close(data);
        self.run = Some(Run {
            db,
            keys: 1,
            start,
            end,
        });
    }
}

/// The outputs' shares of one chunk, and its counters.
pub(crate) struct ChunkOut<'a> {
    shares: Vec<Share<'a>>,
    summary: Summary,
}

/// A worker's [`KeySink`]: the chunk's shares.
struct Shares<'a> {
    data: &'a [u8],
    fmt: Format,
    /// The input's format is the output's: records are copied as spans.
    verbatim: bool,
    shares: Vec<Share<'a>>,
}

impl<'a> KeySink for Shares<'a> {
    fn copy(
        &mut self,
        out: usize,
        db: u64,
        rec: &Record<'_>,
        keep_meta: bool,
    ) -> std::io::Result<()> {
        let data = self.data;
        let s = &mut self.shares[out];
        if self.verbatim && !rec.vendor_hints {
            s.span(data, db, rec.offset as usize, rec.end_offset() as usize);
        } else if rec.value.len() >= DIRECT {
            // A big value keeps its bytes where they are: its new head,
            // then a span of the input (a 100 MB hash copied into the
            // buffer would be 100 MB of memory).
            s.close(data);
            let from = s.buf.len();
            put_copy_head(&mut s.buf, self.fmt, rec, keep_meta);
            s.owned(db, 1, from);
            let bytes = input_bytes(data, rec.value_offset, rec.value);
            s.pieces.push(Piece::Span { db, keys: 0, bytes });
        } else {
            s.close(data);
            let from = s.buf.len();
            put_copy(&mut s.buf, self.fmt, rec, keep_meta);
            s.owned(db, 1, from);
        }
        Ok(())
    }

    fn encoded(&mut self, out: usize, at: &KeyAt<'_>, enc: &Encoded) -> std::io::Result<()> {
        let s = &mut self.shares[out];
        s.close(self.data);
        let from = s.buf.len();
        put_encoded(&mut s.buf, self.fmt, at.key, at.expire_ms, at.lru, enc);
        s.owned(at.db, 1, from);
        Ok(())
    }

    fn function(&mut self, code: &[u8]) {
        self.shares[0].close(self.data);
        self.shares[0].pieces.push(Piece::Function(code.to_vec()));
    }

    fn module_aux(&mut self, raw: &[u8]) {
        self.shares[0].close(self.data);
        self.shares[0].pieces.push(Piece::ModuleAux(raw.to_vec()));
    }

    fn list_by_nodes(
        &mut self,
        out: usize,
        db: u64,
        head: Vec<u8>,
        v: &StoredValue<'_>,
        nodes: u64,
    ) -> Result<(), Refusal> {
        let value = StoredValue {
            value: input_bytes(self.data, v.value_offset, v.value),
            ..*v
        };
        let s = &mut self.shares[out];
        s.close(self.data);
        s.pieces.push(Piece::List {
            db,
            head,
            value,
            nodes,
        });
        Ok(())
    }

    fn hint(&mut self, db: u64, keys: u64, expires: u64) {
        self.shares[0].close(self.data);
        self.shares[0]
            .pieces
            .push(Piece::Hint { db, keys, expires });
    }
}

/// `bytes`, which lie at `offset` of the input `data`, borrowed from
/// `data` itself: a chunk's pieces outlive the record they came from.
fn input_bytes<'a>(data: &'a [u8], offset: u64, bytes: &[u8]) -> &'a [u8] {
    let at = offset as usize;
    &data[at..at + bytes.len()]
}

/// Turns chunks of one input into [`ChunkOut`]s.
struct ChunkWriter<'p, 'a> {
    data: &'a [u8],
    plan: &'p Plan,
    route: &'p Route,
    opts: &'p Options,
    i: u32,
    name: &'p str,
    dialect: Dialect,
    verbatim: bool,
    outputs: usize,
}

impl<'a> Worker<'a> for ChunkWriter<'_, 'a> {
    type Out = ChunkOut<'a>;
    type Error = WriteError;

    fn process(&mut self, chunk: &Chunk<'a>) -> Result<ChunkOut<'a>, WriteError> {
        let mut sink = Shares {
            data: self.data,
            fmt: self.plan.fmt,
            verbatim: self.verbatim,
            shares: (0..self.outputs)
                .map(|_| Share::sized(share_capacity(chunk, self.outputs)))
                .collect(),
        };
        let mut summary = Summary::default();
        {
            let fmt = self.plan.fmt;
            let mut kw = KeyWriter::new(&mut sink, fmt, &mut summary, self.opts, self.dialect);
            let mut pass = InputPass::new(self.plan, self.route, self.opts, self.i, self.name);
            let r = chunk
                .parser()
                .and_then(|mut p| source::walk_parser(&mut p, |e| pass.entry(&mut kw, e)));
            pass.finish(r)?;
        }
        for s in &mut sink.shares {
            s.close(self.data);
        }
        Ok(ChunkOut {
            shares: sink.shares,
            summary,
        })
    }
}

/// Appends a chunk's shares to the outputs, in order.
fn append<W: Write>(
    ems: &mut [Emitter<W>],
    out: ChunkOut<'_>,
    summary: &mut Summary,
    name: &str,
) -> Result<(), WriteError> {
    summary.add(&out.summary);
    let io = |e: std::io::Error| out_err(Some("writing the output"))(e);
    for (em, share) in ems.iter_mut().zip(&out.shares) {
        for p in &share.pieces {
            match p {
                Piece::Keys { db, keys, from, to } => em
                    .keys_bytes(*db, &share.buf[*from..*to], *keys)
                    .map_err(io)?,
                Piece::Span { db, keys, bytes } => em.keys_bytes(*db, bytes, *keys).map_err(io)?,
                Piece::Hint { db, keys, expires } => em.hint(*db, *keys, *expires),
                Piece::Function(code) => em.function(code),
                Piece::ModuleAux(raw) => em.module_aux(raw),
                Piece::List {
                    db,
                    head,
                    value,
                    nodes,
                } => em
                    .list_by_nodes(*db, head, value, *nodes)
                    .map_err(|e| match e {
                        Refusal::Format(e) => in_file(name, e),
                        Refusal::Io(e) => io(e),
                        Refusal::Loss(_) => failed("a list written node by node lost a part"),
                    })?,
            }
        }
    }
    Ok(())
}

/// The second pass over RDB input `i` on the parallel engine: its winning
/// keys into `ems`.
pub(crate) fn write_input<W: Write>(
    ems: &mut [Emitter<W>],
    plan: &Plan,
    route: &Route,
    opts: &Options,
    i: u32,
    input: &Input<'_>,
    summary: &mut Summary,
) -> Result<(), WriteError> {
    let h = source::header_of(input.data)
        .map_err(|e| in_file(&input.name, e))?
        .ok_or_else(|| failed(format!("{}: not an RDB file", input.name)))?;
    let engine = EngineOptions {
        // A single pass verifies the checksum; otherwise the first pass did.
        verify_checksum: plan.streaming && opts.verify_checksum,
        grid: plan.grids.get(i as usize).cloned().flatten(),
        ..Default::default()
    };
    let outputs = ems.len();
    let make = || ChunkWriter {
        data: input.data,
        plan,
        route,
        opts,
        i,
        name: &input.name,
        dialect: h.dialect,
        verbatim: Format::new(h.dialect, h.version).ok() == Some(plan.fmt),
        outputs,
    };
    let r = scan::run(
        input.data,
        &engine,
        make,
        |out: ChunkOut<'_>, _: &Chunk<'_>| append(ems, out, summary, &input.name),
        None,
    );
    match r {
        Ok(_) => Ok(()),
        Err(ScanError::Format(e)) => Err(in_file(&input.name, e)),
        Err(ScanError::Consumer(e)) => Err(e),
    }
}
