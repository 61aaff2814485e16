//! rdbkit: read Redis/Valkey RDB snapshots offline.
//!
//! Layers, one way: `rdb` (pure decoders over `&[u8]`) <- `sink` (JSON,
//! RESP, reports) <- `cli`. See `DESIGN.md` in the shared folder and the
//! README.

pub mod error;
pub mod input;
pub mod load;
pub mod rdb;
pub mod scan;
pub mod sink;

pub use error::{Error, ErrorKind, Result};
