//! rdbkit: read Redis/Valkey RDB snapshots offline.
//!
//! ```
//! use rdbkit::rdb::records::{Item, ParseOptions, Parser};
//!
//! // The smallest RDB file: header, EOF opcode, no checksum (version 4).
//! let data = b"REDIS0004\xff";
//! let mut p = Parser::new(data, ParseOptions::default()).unwrap();
//! assert!(matches!(p.next_item(), Ok(Some(Item::Eof { .. }))));
//! assert!(matches!(p.next_item(), Ok(None)));
//!
//! // Bad input is an error with an offset, never a panic.
//! let e = Parser::new(b"REDIS0099", ParseOptions::default()).err().unwrap();
//! assert_eq!(e.offset, 5);
//! ```
//!
//! Layers, one way: `rdb` (pure decoders over `&[u8]`) <- `sink` (JSON,
//! RESP, reports) <- `cli`. See `DESIGN.md` in the shared folder and the
//! README.

pub mod error;
pub mod export;
pub mod filter;
pub mod input;
pub mod inspect;
pub mod load;
pub mod outpath;
pub mod rdb;
pub mod scan;
pub mod sink;
pub mod verify;
pub mod writer;

pub use error::{Error, ErrorKind, Result};
