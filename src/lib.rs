//! rdbkit: read Redis/Valkey RDB snapshots offline.
//!
//! Open a file, walk its keys, decode the values you want:
//!
//! ```
//! use rdbkit::{Kind, Rdb, Value};
//!
//! // RDB 9 (Redis 5): SELECTDB 0, string "greeting" = "hello", EOF,
//! // and a zero checksum (the writer had checksums off).
//! let mut file = b"REDIS0009\xfe\x00\x00\x08greeting\x05hello\xff".to_vec();
//! file.extend_from_slice(&0u64.to_le_bytes());
//!
//! let rdb = Rdb::from_bytes(file)?; // or Rdb::open("dump.rdb"), a memory map
//! assert_eq!(rdb.version(), 9);
//! for rec in rdb.records() {
//!     let rec = rec?; // a damaged file is an error with a byte offset
//!     assert_eq!((rec.key(), rec.db(), rec.kind()), (&b"greeting"[..], 0, Kind::String));
//!     assert_eq!(rec.value()?, Value::String(b"hello".to_vec()));
//! }
//! # Ok::<(), rdbkit::Error>(())
//! ```
//!
//! [`Record::value`] is the convenient owned form; [`Record::visit`] pushes
//! elements into your [`ValueVisitor`] without copying them, and
//! [`scan::run`] decodes a whole file on all cores, handing chunk results
//! back in file order. The `examples/` folder has small programs of each.
//!
//! Layers, one way: `rdb` (pure decoders over `&[u8]`) <- `scan` (the
//! parallel engine) <- `sink`/`inspect` (JSON, reports) <- the command-line
//! tool. Build with `default-features = false` for the parser alone, without
//! the command-line and network dependencies.

pub mod aof;
pub mod arrival;
pub mod compress;
pub mod error;
#[cfg(feature = "parquet")]
pub mod export;
#[cfg(feature = "cli")]
pub mod fetch;
pub mod filter;
pub mod input;
pub mod inspect;
#[cfg(feature = "cli")]
pub mod load;
pub mod outpath;
#[cfg(feature = "cli")]
pub mod output;
pub mod rdb;
#[cfg(feature = "cli")]
pub mod redis;
#[cfg(feature = "cli")]
pub mod replicate;
#[cfg(feature = "cli")]
pub mod restore;
pub mod scan;
pub mod sink;
mod snapshot;
#[cfg(feature = "cli")]
pub mod verify;
#[cfg(feature = "cli")]
pub mod writer;

pub use error::{Error, ErrorKind, Result};
pub use rdb::array::{ArrayElem, ArrayHead};
pub use rdb::elem::Elem;
pub use rdb::module::ModuleValue;
pub use rdb::stream::{StreamId, StreamMeta};
pub use rdb::value::{Dialect, Discard, Kind, Scratch, StreamEntry, Value, ValueVisitor};
pub use snapshot::{OpenError, Rdb, Record, Records};
