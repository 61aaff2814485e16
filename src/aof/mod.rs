//! Append-only files (issue #17, first parts): the Redis 7+ multi-part
//! manifest ([`manifest`]) and the RESP command reader ([`command`]).
//! Replaying them (`load`) and converting them (`json`/`stats`/`resp`)
//! are not wired yet.

pub mod command;
pub mod manifest;
