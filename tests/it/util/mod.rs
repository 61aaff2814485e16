//! Helpers shared by the test modules:
//!
//! - [`common`]: locating fixtures, running the JSON converter, reading the
//!   ground truth and comparing converted key lines with truth lines;
//! - [`export`]: reading an exported Parquet/Arrow table back into the JSON
//!   shapes of `rdbkit json` / `rdbkit memory` (feature `parquet`);
//!
//! and the support code of the tests that run `rdbkit load` / `rdbkit resp`
//! against real `redis-server` processes (Debian's Redis 7.0.15 at
//! `/usr/bin/redis-server`):
//!
//! - [`server`]: standalone servers and 3-master clusters on free loopback
//!   ports, each in its own temporary directory, killed on drop;
//! - [`resp`]: a minimal blocking RESP2 client and a RESP command-stream parser;
//! - [`truth`]: a server's content read back in the fixtures' truth format
//!   (`testdata/README.md`) and compared with `.expected.jsonl` through the
//!   comparator of [`common`];
//! - [`run`]: running the binary and `redis-cli --pipe`, `load --json`
//!   summary checks, and the fixtures Redis 7.0 can load.

pub mod common;
#[cfg(feature = "parquet")]
pub mod export;
pub mod resp;
pub mod run;
pub mod server;
pub mod truth;
