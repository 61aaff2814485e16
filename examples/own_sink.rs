//! Streams a snapshot into your own sink on all cores: the engine cuts the
//! file into chunks of whole records, your worker turns each chunk into
//! output on some thread, and your consumer receives the outputs in file
//! order. Here: one tab-separated line per key (db, type, TTL, key).
//!
//! ```text
//! cargo run --release --example own_sink -- dump.rdb > keys.tsv
//! ```

use std::io::Write;
use std::ops::ControlFlow;

use rdbkit::rdb::records::Item;
use rdbkit::scan::{self, Chunk, EngineOptions, Worker};

/// Turns a chunk into the lines of its keys (one per thread, reused).
struct Lines;

/// Your side's error: here anything, boxed.
type Failure = Box<dyn std::error::Error + Send + Sync>;

impl<'a> Worker<'a> for Lines {
    type Out = Vec<u8>;
    type Error = Failure;

    fn process(&mut self, chunk: &Chunk<'a>) -> Result<Vec<u8>, Failure> {
        let mut out = Vec::new();
        let mut key = Vec::new();
        for item in chunk.parser()? {
            if let Item::Key(rec) = item? {
                let ttl = rec.expire_ms.map_or("-".to_string(), |ms| ms.to_string());
                let kind = rec.vtype.kind().name();
                write!(out, "{}\t{kind}\t{ttl}\t", rec.db)?;
                out.extend_from_slice(rec.key.bytes(&mut key)?);
                out.push(b'\n');
            }
        }
        Ok(out)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: own_sink FILE.rdb")?;
    let rdb = rdbkit::Rdb::open(&path)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let info = scan::run(
        rdb.data(),
        &EngineOptions::default(),
        || Lines,
        |lines: Vec<u8>, _: &Chunk<'_>| match out.write_all(&lines) {
            Ok(()) => Ok(ControlFlow::Continue(())),
            // A closed pipe (`| head`): stop cleanly, not an error.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ControlFlow::Break(())),
            Err(e) => Err(Failure::from(e)),
        },
        None,
    )?;
    eprintln!(
        "{} keys, checksum verified: {}",
        info.keys, info.checksum_verified
    );
    Ok(())
}
