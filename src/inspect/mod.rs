//! Reports about what a snapshot holds: the per-key memory model
//! ([`memory`], on top of the allocator arithmetic of [`alloc`]), the
//! `rdbkit memory` report built on the parallel engine ([`report`]),
//! prefix aggregation ([`prefix`]) and the HTML page ([`html`]).

pub mod alloc;
pub mod html;
pub mod memory;
pub mod prefix;
pub mod report;
