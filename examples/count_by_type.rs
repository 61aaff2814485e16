//! Counts the keys of a snapshot by type.
//!
//! ```text
//! cargo run --example count_by_type -- dump.rdb
//! ```

use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: count_by_type FILE.rdb")?;
    let rdb = rdbkit::Rdb::open(&path)?;
    let mut counts: BTreeMap<rdbkit::Kind, u64> = BTreeMap::new();
    for rec in rdb.records() {
        *counts.entry(rec?.kind()).or_default() += 1;
    }
    println!("{path}: {} RDB {}", rdb.dialect().name(), rdb.version());
    for (kind, n) in counts {
        println!("{:>8} {n}", kind.name());
    }
    Ok(())
}
