//! The format layer: pure decoders over `&[u8]`. Nothing here touches files,
//! threads, sockets or output, so tests and fuzzers call it directly.

pub mod array;
pub mod consts;
pub mod crc64;
pub mod cursor;
pub mod elem;
pub mod empty;
pub mod hfe;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod module;
pub mod newer;
pub mod records;
pub(crate) mod resync;
pub mod stream;
#[cfg(test)]
pub(crate) mod testutil;
pub mod value;
pub mod write;
pub mod ziplist;
pub mod zipmap;

pub use cursor::Cursor;
pub use elem::{Elem, RdbStr};
