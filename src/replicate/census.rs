//! The count before a replicated load: every input is walked (record
//! boundaries and CRC-64, as `load` does before its first write) and each
//! key is put in one bucket. The walk matters more here than for RESTORE:
//! a server that finds a damaged record in a replication stream does not
//! refuse one key, it exits. So nothing is sent before every input has
//! been read whole.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::filter::Filter;
use crate::load::{InputError, InputFile, LoadError};
use crate::rdb::empty::is_empty_collection;
use crate::rdb::records::Item;
use crate::scan::{self, Chunk, EngineOptions, Worker};
use crate::sink::SinkError;

/// What the inputs hold, as the target will see it.
#[derive(Debug, Clone, Default)]
pub struct Census {
    pub keys_read: u64,
    /// Left out by the user's filters.
    pub filtered: u64,
    /// Expired at `now_ms` (among the keys the filters keep).
    pub expired: u64,
    /// Empty collections (servers skip them on load).
    pub empty: u64,
    /// Keys to be loaded, per source database.
    pub per_db: BTreeMap<u64, u64>,
    /// Of those, keys with a TTL (they may expire before the count is
    /// checked), per source database.
    pub volatile_per_db: BTreeMap<u64, u64>,
    /// Keys whose prefix holds Redis Enterprise hint opcodes: a stock
    /// server cannot read them, so such a file is written, not sent raw.
    pub vendor_hints: u64,
    /// Per input: bytes after the checksum trailer (never streamed: the
    /// replica expects the end-of-stream mark right after the trailer).
    pub trailing: Vec<u64>,
}

impl Census {
    pub fn to_load(&self) -> u64 {
        self.per_db.values().sum()
    }

    /// Keys to be loaded that have a TTL.
    pub fn volatile(&self) -> u64 {
        self.volatile_per_db.values().sum()
    }

    fn add(&mut self, o: Census) {
        self.keys_read += o.keys_read;
        self.filtered += o.filtered;
        self.expired += o.expired;
        self.empty += o.empty;
        self.vendor_hints += o.vendor_hints;
        for (db, n) in o.per_db {
            *self.per_db.entry(db).or_default() += n;
        }
        for (db, n) in o.volatile_per_db {
            *self.volatile_per_db.entry(db).or_default() += n;
        }
    }
}

/// Counts one chunk.
struct Counter {
    filter: Option<Arc<Filter>>,
    now_ms: Option<i64>,
    scratch: Vec<u8>,
}

impl<'a> Worker<'a> for Counter {
    type Out = Census;
    type Error = SinkError;
    fn process(&mut self, chunk: &Chunk<'a>) -> Result<Census, SinkError> {
        let mut c = Census::default();
        let mut p = chunk.parser()?;
        while let Some(item) = p.next_item()? {
            let Item::Key(rec) = item else { continue };
            c.keys_read += 1;
            c.vendor_hints += u64::from(rec.vendor_hints);
            if let Some(f) = &self.filter {
                if !f.matches(&rec, &mut self.scratch)? {
                    c.filtered += 1;
                    continue;
                }
            }
            match (rec.expire_ms, self.now_ms) {
                (Some(e), Some(now)) if e <= now => c.expired += 1,
                _ if is_empty_collection(rec.vtype, rec.value) => c.empty += 1,
                (e, _) => {
                    if e.is_some() {
                        *c.volatile_per_db.entry(rec.db).or_default() += 1;
                    }
                    *c.per_db.entry(rec.db).or_default() += 1;
                }
            }
        }
        Ok(c)
    }
}

/// Walks every input. `filter` is the user's (its expiry cut-off is
/// ignored: `now_ms`, when set, says which keys count as expired).
pub fn take(
    files: &[InputFile<'_>],
    engine: &EngineOptions,
    filter: Option<&Filter>,
    now_ms: Option<i64>,
) -> Result<Census, LoadError> {
    let mut opts = engine.clone();
    opts.start = None;
    opts.filter = None;
    let filter = filter.cloned().map(|mut f| {
        f.expired_before_ms = None;
        f
    });
    let filter = filter.filter(|f| !f.is_pass_all()).map(Arc::new);
    let mut total = Census::default();
    for f in files {
        let mut sum = Census::default();
        let make = || Counter {
            filter: filter.clone(),
            now_ms,
            scratch: Vec::new(),
        };
        // The walk's pages leave the resident set as it goes (the census
        // reads a file at several GB/s: faster than any timer could
        // release them), and all of them at the end.
        let release = |done: u64, _: u64, _: u64| {
            if let Some(r) = f.release {
                r(done);
            }
        };
        let info = scan::run(
            f.data,
            &opts,
            make,
            |c, _| {
                sum.add(c);
                Ok(())
            },
            Some(&release),
        );
        if let Some(r) = f.release {
            r(u64::MAX);
        }
        let info = info.map_err(|e| {
            InputError::new(&*f.name, e.into())
                .note("found by the check before replicating: nothing was sent")
        })?;
        total.add(sum);
        total.trailing.push(info.trailing_bytes);
    }
    Ok(total)
}
