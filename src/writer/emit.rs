//! One output file being written: the preamble (aux fields, functions,
//! module aux data), keys grouped under `SELECTDB` with a `RESIZEDB` hint
//! the first time each database appears, and the EOF/CRC trailer.
//!
//! A key goes out either as the input's own bytes (the fast path: its type
//! byte is one the output's readers know) or re-encoded through
//! [`crate::rdb::write`]. Output is gathered in a buffer and handed to the
//! file in large pieces, so the CRC-64 runs on big blocks.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};

use crate::rdb::consts::{RDB_OPCODE_KEY_META, RDB_OPCODE_MODULE_AUX};
use crate::rdb::elem::RdbStr;
use crate::rdb::records::Record;
use crate::rdb::records::StoredValue;
use crate::rdb::value::{Dialect, Scratch};
use crate::rdb::write::direct;
use crate::rdb::write::file::RdbFile;
use crate::rdb::write::prim::*;
use crate::rdb::write::{Encoded, Format};

const FLUSH_AT: usize = 1 << 20;

/// Pieces at least this long skip the buffer (the file's `BufWriter`
/// passes them straight to `write(2)` too: see [`super::output`]).
pub const DIRECT: usize = 64 << 10;

/// Keys and keys with an expiry, per output database (the RESIZEDB hint).
pub type DbCounts = BTreeMap<u64, (u64, u64)>;

/// An output file.
pub struct Emitter<W: Write> {
    pub fmt: Format,
    file: RdbFile<W>,
    buf: Vec<u8>,
    db: Option<u64>,
    announced: HashSet<u64>,
    counts: DbCounts,
    /// Per slot of this output (Redis 7.4+ cluster files): (slot, keys,
    /// expires), written after db 0's RESIZEDB.
    slots: Vec<(u16, u64, u64)>,
    /// Keys written.
    pub keys: u64,
}

impl<W: Write> Emitter<W> {
    pub fn new(out: W, fmt: Format, counts: DbCounts) -> io::Result<Self> {
        Ok(Emitter {
            fmt,
            file: RdbFile::new(out, fmt)?,
            buf: Vec::with_capacity(FLUSH_AT + (64 << 10)),
            db: None,
            announced: HashSet::new(),
            counts,
            slots: Vec::new(),
            keys: 0,
        })
    }

    /// The per-slot counts to write (see [`put_slot_info`]).
    pub fn set_slot_info(&mut self, slots: Vec<(u16, u64, u64)>) {
        self.slots = slots;
    }

    fn flush_if_full(&mut self) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.file.write(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    pub fn aux(&mut self, key: &str, value: &str) {
        put_aux(&mut self.buf, key.as_bytes(), value.as_bytes());
    }

    pub fn function(&mut self, code: &[u8]) {
        put_function(&mut self.buf, code);
    }

    /// Module aux data as stored (the bytes after the opcode).
    pub fn module_aux(&mut self, raw: &[u8]) {
        self.buf.push(RDB_OPCODE_MODULE_AUX);
        self.buf.extend_from_slice(raw);
    }

    /// A RESIZEDB hint for `db`, used if the db has not been started yet.
    pub fn hint(&mut self, db: u64, keys: u64, expires: u64) {
        if !self.announced.contains(&db) {
            self.counts.insert(db, (keys, expires));
        }
    }

    fn select(&mut self, db: u64) {
        if self.db == Some(db) {
            return;
        }
        put_select_db(&mut self.buf, db);
        let first = self.announced.insert(db);
        if first && self.fmt.has_resize_db() {
            if let Some(&(n, e)) = self.counts.get(&db) {
                put_resize_db(&mut self.buf, n, e);
            }
        }
        // A server writes each slot's counts before that slot's keys (its
        // keys are grouped by slot); all of them ahead of the keys sizes
        // the same dictionaries before any key arrives.
        if first && db == 0 {
            for (slot, n, e) in std::mem::take(&mut self.slots) {
                put_slot_info(&mut self.buf, slot, n, e);
            }
        }
        self.db = Some(db);
    }

    /// Copies a record as stored: its expiry, LRU/LFU hint (where the
    /// output has them), key metadata (when `keep_meta`), type byte, key
    /// and value bytes.
    pub fn copy(&mut self, db: u64, rec: &Record<'_>, keep_meta: bool) -> io::Result<()> {
        self.select(db);
        self.keys += 1;
        if rec.value.len() >= DIRECT {
            // A big value goes from the input to the file, not through
            // the buffer (a 100 MB hash would be 100 MB of memory).
            put_copy_head(&mut self.buf, self.fmt, rec, keep_meta);
            return self.write_direct(rec.value);
        }
        put_copy(&mut self.buf, self.fmt, rec, keep_meta);
        self.flush_if_full()
    }

    /// Writes what the buffer holds, then `bytes` straight to the file.
    fn write_direct(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write(&self.buf)?;
        self.buf.clear();
        self.file.write(bytes)
    }

    /// Writes a re-encoded value.
    pub fn encoded(
        &mut self,
        db: u64,
        key: &RdbStr<'_>,
        expire_ms: Option<i64>,
        lru: (Option<u64>, Option<u8>),
        enc: &Encoded,
    ) -> io::Result<()> {
        self.select(db);
        put_encoded(&mut self.buf, self.fmt, key, expire_ms, lru, enc);
        self.keys += 1;
        self.flush_if_full()
    }

    /// Writes a list node by node ([`direct::write_list`]) after `head`
    /// (its prefix, type byte and key, see [`put_head`]): a list too big
    /// to be built in memory first.
    pub fn list_by_nodes<E: From<crate::Error> + From<io::Error>>(
        &mut self,
        db: u64,
        head: &[u8],
        v: &StoredValue<'_>,
        nodes: u64,
    ) -> Result<(), E> {
        self.select(db);
        self.buf.extend_from_slice(head);
        let mut scratch = Scratch::default();
        direct::write_list(v, nodes, &mut scratch, |b: &[u8]| -> Result<(), E> {
            self.buf.extend_from_slice(b);
            Ok(self.flush_if_full()?)
        })?;
        self.keys += 1;
        Ok(())
    }

    /// Appends `n` whole keys of database `db` already encoded for this
    /// output (a chunk of the parallel engine). A large piece goes to the
    /// file directly, without passing through the buffer.
    pub fn keys_bytes(&mut self, db: u64, bytes: &[u8], n: u64) -> io::Result<()> {
        self.select(db);
        self.keys += n;
        if bytes.len() >= DIRECT {
            return self.write_direct(bytes);
        }
        self.buf.extend_from_slice(bytes);
        self.flush_if_full()
    }

    /// Ends the file; returns the writer and the file's size.
    pub fn finish(mut self) -> io::Result<(W, u64)> {
        self.file.write(&self.buf)?;
        self.file.finish()
    }
}

/// The version text a server of `fmt` puts in its `*-ver` aux field, for
/// outputs that name no server.
pub fn default_version_text(fmt: Format) -> &'static str {
    match (fmt.dialect, fmt.version) {
        (Dialect::Valkey, _) => "9.0.0",
        (_, ..=6) => "2.8.24",
        (_, 7) => "3.2.13",
        (_, 8) => "4.0.14",
        (_, 9) => "6.2.16",
        (_, 10) => "7.0.15",
        (_, 11) => "7.2.0",
        (_, 12) => "7.4.0",
        _ => "8.6.0",
    }
}

/// A record as stored (see [`Emitter::copy`]), into `buf`.
pub fn put_copy(buf: &mut Vec<u8>, fmt: Format, rec: &Record<'_>, keep_meta: bool) {
    put_copy_head(buf, fmt, rec, keep_meta);
    buf.extend_from_slice(rec.value);
}

/// A record as stored up to its value: [`put_copy`] without the value
/// bytes (which a caller then writes from the input, without a copy).
pub fn put_copy_head(buf: &mut Vec<u8>, fmt: Format, rec: &Record<'_>, keep_meta: bool) {
    let lru = fmt.has_idle_freq();
    put_key_prefix(
        buf,
        rec.expire_ms,
        rec.idle.filter(|_| lru),
        rec.freq.filter(|_| lru),
    );
    if let (Some(m), true) = (rec.key_meta, keep_meta) {
        buf.push(RDB_OPCODE_KEY_META);
        buf.extend_from_slice(m);
    }
    buf.push(rec.type_byte);
    put_rdbstr(buf, &rec.key);
}

/// A re-encoded value with its key and prefix, into `buf`.
pub fn put_encoded(
    buf: &mut Vec<u8>,
    fmt: Format,
    key: &RdbStr<'_>,
    expire_ms: Option<i64>,
    lru: (Option<u64>, Option<u8>),
    enc: &Encoded,
) {
    put_head(buf, fmt, key, expire_ms, lru, enc.type_byte);
    buf.extend_from_slice(&enc.bytes);
}

/// What comes before a re-encoded value: its expiry, LRU/LFU hint (where
/// the output has them), type byte and key.
pub fn put_head(
    buf: &mut Vec<u8>,
    fmt: Format,
    key: &RdbStr<'_>,
    expire_ms: Option<i64>,
    lru: (Option<u64>, Option<u8>),
    type_byte: u8,
) {
    let keep = fmt.has_idle_freq();
    put_key_prefix(
        buf,
        expire_ms,
        lru.0.filter(|_| keep),
        lru.1.filter(|_| keep),
    );
    buf.push(type_byte);
    put_rdbstr(buf, key);
}
