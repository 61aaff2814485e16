//! How a snapshot's keys become writes for a server, shared by `load`
//! (to a server), `output::respout` (to a file) and `verify` (the same
//! decisions, read back):
//!
//! - [`keys`]: per-key options and decisions (db map, expiry shift,
//!   conflict policy), what a target can take, keys in messages;
//! - [`worker`]: the engine worker that applies them to each record
//!   (expired and empty keys, filters, RESTORE or commands, resume);
//! - [`op`]: one key's write, and [`payload`] / [`commands`]: its
//!   encoders (the DUMP payload of RESTORE, or ordinary commands);
//! - [`jsonl`]: JSON Lines input turned into the same writes;
//! - [`resume`]: what a resumed run must send again of a file.
//!
//! Layering: this module uses `rdb`, `scan` and `redis::resp` (encoding,
//! `redis::slot`), never `load`, `verify` or `cli`.

pub mod commands;
pub mod jsonl;
pub mod keys;
pub mod op;
pub mod payload;
pub mod resume;
pub mod worker;

pub use self::keys::{
    now_ms, printable, shown, snapshot_ctime_ms, target_features, target_rdb_version,
    worker_config, InputCause, InputError, InputFile, KeyOptions, OnConflict,
};
pub use self::op::{Op, OpKind};
