//! The encoder layer: the inverse of the decoders, pure over `Vec<u8>` (no
//! I/O), so the `rdb`/`split` writers and the loader share it.
//!
//! - [`prim`]: lengths, strings, doubles, header and file-level opcodes;
//! - [`listpack`], [`ziplist`], [`intset`]: the compact blobs;
//! - [`value`]: values as owned elements and their encoding by output format;
//! - [`stream`]: stream nodes and metadata;
//! - [`format`]: what an output version/dialect can hold;
//! - [`file`]: a whole file with its running CRC-64.

pub mod file;
pub mod format;
pub mod intset;
pub mod listpack;
pub mod prim;
pub mod stream;
pub mod value;
pub mod ziplist;

pub use format::Format;
pub use value::{encode, validate, Encoded, Loss, Value};
#[cfg(test)]
mod tests;
