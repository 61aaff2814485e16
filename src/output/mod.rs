//! Command streams written to a file rather than to a server.
//!
//! - [`respout`]: `rdbkit resp`, the RESTORE (or command-mode) stream of a
//!   snapshot for `redis-cli --pipe`, with the same per-key decisions as
//!   `load`.

pub mod respout;
