//! Append-only files (issue #17): recognising and opening them
//! ([`source`]: a single AOF, with or without an RDB preamble, or a Redis
//! 7+ directory and its [`manifest`]), reading their RESP commands
//! ([`command`], [`walk`]), converting them for `json`/`stats`/`resp`
//! ([`convert`]) and replaying them into a server or a cluster after the
//! base was loaded (`replay`, with the command key positions of `keys`).

pub mod command;
pub mod convert;
pub mod manifest;
#[cfg(feature = "cli")]
pub mod replay;
pub mod source;
pub mod walk;
