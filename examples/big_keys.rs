//! Lists the biggest keys of a snapshot: by bytes in the file, with their
//! element counts (counted by a visitor that copies nothing).
//!
//! ```text
//! cargo run --release --example big_keys -- dump.rdb 10
//! ```

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rdbkit::{Elem, Scratch, StreamId, ValueVisitor};

/// Counts elements; every method it does not write is a no-op.
#[derive(Default)]
struct Count(u64);

impl ValueVisitor for Count {
    fn list_item(&mut self, _: Elem<'_>) -> rdbkit::Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn set_member(&mut self, _: Elem<'_>) -> rdbkit::Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn zset_member(&mut self, _: Elem<'_>, _: f64) -> rdbkit::Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn hash_field(&mut self, _: Elem<'_>, _: Elem<'_>, _: Option<i64>) -> rdbkit::Result<()> {
        self.0 += 1;
        Ok(())
    }
    fn stream_entry(&mut self, _: StreamId, _: &[(Elem<'_>, Elem<'_>)]) -> rdbkit::Result<()> {
        self.0 += 1;
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().ok_or("usage: big_keys FILE.rdb [N]")?;
    let top: usize = args.next().map_or(Ok(10), |n| n.parse())?;
    let rdb = rdbkit::Rdb::open(&path)?;

    // A min-heap of the `top` biggest so far: (size, offset, key).
    let mut heap = BinaryHeap::new();
    for rec in rdb.records() {
        let rec = rec?;
        heap.push(Reverse((
            rec.size_in_file(),
            rec.offset(),
            rec.key().to_vec(),
        )));
        if heap.len() > top {
            heap.pop();
        }
    }

    // Decode only the winners, found again by their offsets.
    let mut scratch = Scratch::default();
    let winners: Vec<_> = heap.into_sorted_vec().into_iter().map(|r| r.0).collect();
    for rec in rdb.records() {
        let rec = rec?;
        if let Some((size, _, key)) = winners.iter().find(|w| w.1 == rec.offset()) {
            let mut n = Count::default();
            let _ = rec.visit(&mut scratch, &mut n)?; // Count never stops early
            println!(
                "{size:>12} bytes {:>10} elements  {:<6} {}",
                n.0,
                rec.kind().name(),
                String::from_utf8_lossy(key)
            );
        }
    }
    Ok(())
}
