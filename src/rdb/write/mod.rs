//! The encoder layer: the inverse of the decoders, pure over `Vec<u8>` (no
//! I/O), so the `rdb`/`split` writers and the loader share it.
//!
//! - [`prim`]: lengths, strings, doubles, header and file-level opcodes;
//! - [`listpack`], [`ziplist`], [`intset`]: the compact blobs;
//! - [`lzf`]: LZF compression of long strings, as servers save them;
//! - [`value`]: owned values ([`crate::rdb::value::Value`]) encoded by output format;
//! - [`direct`]: listpacks re-encoded as ziplists without owned elements;
//! - [`stream`]: stream nodes and metadata;
//! - [`format`]: what an output version/dialect can hold;
//! - [`file`]: a whole file with its running CRC-64.

pub mod direct;
pub mod file;
pub mod format;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod prim;
pub mod stream;
pub mod value;
pub mod ziplist;

pub use format::Format;
pub use value::{encode, validate, Encoded, Loss};
#[cfg(test)]
mod tests;
