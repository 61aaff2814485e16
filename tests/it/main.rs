//! The integration tests as one binary (the ripgrep layout): one link step
//! instead of one per file, and the helpers in [`util`] compiled once.
//!
//! Each feature's tests are a module, so a test's path names its feature:
//! `cargo test --release --test it -- load::` runs the load tests,
//! `-- golden:: corrupt::` several modules at once.

mod util;

mod aof;
mod compressed;
mod corrupt;
mod export;
mod fetch;
mod filter;
mod fuzz_regressions;
mod golden;
mod hostile;
mod html;
mod load;
mod memory;
mod negative;
mod newest;
mod parallel;
mod rdb_write;
mod replicate;
mod resp;
mod resp_stream;
mod robustness;
mod verify;
