//! A small blocking Redis/Valkey client: what `load` and `verify` share to
//! talk to servers. Nothing here knows about RDB files or keys' meaning.
//!
//! - [`target`]: the `redis://` / `rediss://` URL and its credentials;
//! - [`conn`]: one connection (TCP or TLS, authenticated) and its
//!   [`conn::ConnectOptions`] (timeouts are per connection, not global);
//! - [`resp`]: RESP2 encoding of commands and parsing of replies;
//! - [`error`]: error replies parsed once into [`ServerError`], and the
//!   client's own [`ClientError`];
//! - [`cluster`] / [`slot`]: the slot map of a Redis Cluster and key slots;
//! - [`session`]: the handshake a run begins with (server, cluster or not);
//! - [`pipeline`]: the writer/reader thread pair of a pipelined connection.
//!
//! Layering: this module imports nothing from `load`, `verify` or `cli`.

pub mod cluster;
pub mod conn;
pub mod error;
pub mod pipeline;
pub mod resp;
pub mod session;
pub mod slot;
pub mod target;

pub use self::conn::{Conn, ConnectOptions, TlsFiles};
pub use self::error::{ClientError, ServerError};
pub use self::resp::Reply;
pub use self::target::{Auth, Target};
