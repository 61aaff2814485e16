//! Append-only files (issue #17): recognising and opening them
//! ([`source`]: a single AOF, with or without an RDB preamble, or a Redis
//! 7+ directory and its [`manifest`]), reading their RESP commands
//! ([`command`], [`walk`]), converting them for `json`/`stats`/`resp`
//! ([`convert`]) and replaying them into a server (`replay`) or a cluster
//! (`cluster`) after the base was loaded, each command decided by `route`
//! (filters, db, slot) from the key positions of the target's command
//! table (`keys`).

#[cfg(feature = "cli")]
pub mod cluster;
pub mod command;
pub mod convert;
#[cfg(feature = "cli")]
pub mod keys;
pub mod manifest;
#[cfg(feature = "cli")]
pub mod replay;
#[cfg(feature = "cli")]
pub mod route;
pub mod source;
pub mod walk;
