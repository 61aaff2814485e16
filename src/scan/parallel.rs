//! Worker threads and the ordered reorder window (see the module diagram
//! in `scan`).

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use super::chunk::Chunk;
use super::chunk::EofInfo;
use super::chunker::Chunker;
use super::crc::CrcState;
use super::{Consumed, EngineOptions, PassInfo, Progress, ScanError, Worker};
use crate::error::Error;
use crate::rdb::records::Parser;

#[allow(clippy::too_many_arguments)]
pub(super) fn parallel<'a, 's, W, F, C, R>(
    s: &'s std::thread::Scope<'s, '_>,
    parser: Parser<'a>,
    opts: &EngineOptions,
    threads: usize,
    make_worker: &'s F,
    consume: &mut C,
    info: &mut PassInfo,
    total: u64,
    progress: Option<Progress<'_>>,
    crc: &mut CrcState<'a>,
) -> Result<EofInfo, ScanError<W::Error>>
where
    'a: 's,
    W: Worker<'a> + 's,
    W::Out: 's,
    W::Error: 's,
    F: Fn() -> W + Sync,
    C: FnMut(W::Out, &Chunk<'a>) -> R,
    R: Consumed<W::Error>,
{
    let chunk_bytes = opts.chunk_bytes;
    let copts = opts.clone();
    let data = parser.data();
    let window = threads * 2 + 2;
    let (token_tx, token_rx) = sync_channel::<()>(window);
    for _ in 0..window {
        token_tx.send(()).expect("token");
    }
    let (work_tx, work_rx) = sync_channel::<Chunk<'a>>(window);
    let work_rx = Arc::new(Mutex::new(work_rx));
    type Done<'a, O, E> = (Chunk<'a>, Result<O, E>);
    let (done_tx, done_rx) = channel::<Done<'a, W::Out, W::Error>>();

    // Producer: the boundary pass.
    let producer = s.spawn(move || -> Result<EofInfo, Error> {
        let mut chunker = Chunker::new(data, parser, chunk_bytes, &copts);
        loop {
            let (chunk, end) = chunker.next_chunk();
            if let Some(c) = chunk {
                if token_rx.recv().is_err() {
                    return Ok(None); // consumer stopped
                }
                if work_tx.send(c).is_err() {
                    return Ok(None);
                }
            }
            if let Some(r) = end {
                return r;
            }
        }
    });

    for _ in 0..threads {
        let rx = Arc::clone(&work_rx);
        let tx = done_tx.clone();
        s.spawn(move || {
            let mut w = make_worker();
            loop {
                let next = rx
                    .lock()
                    .map(|r: std::sync::MutexGuard<'_, Receiver<Chunk<'a>>>| r.recv());
                let chunk = match next {
                    Ok(Ok(c)) => c,
                    _ => return,
                };
                let out = w.process(&chunk);
                if tx.send((chunk, out)).is_err() {
                    return;
                }
            }
        });
    }
    drop(done_tx);

    // Writer: reorder and consume on this thread.
    let mut pending: BTreeMap<u64, Done<'a, W::Out, W::Error>> = BTreeMap::new();
    let mut next_seq = 0u64;
    let mut failure: Option<W::Error> = None;
    for (chunk, out) in done_rx.iter() {
        pending.insert(chunk.seq, (chunk, out));
        while let Some((chunk, out)) = pending.remove(&next_seq) {
            next_seq += 1;
            let flow = match out.and_then(|o| consume(o, &chunk).flow()) {
                Ok(flow) => flow,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            crc.advance(&chunk);
            info.keys += chunk.keys;
            info.bytes_done = chunk.end;
            if let Some(p) = progress {
                p(info.bytes_done, total, info.keys);
            }
            let _ = token_tx.send(());
            if flow.is_break() {
                info.stopped = true;
                break;
            }
        }
        if failure.is_some() || info.stopped {
            break;
        }
    }
    // Stop the producer and workers: dropping the receivers makes their sends fail.
    drop(token_tx);
    drop(done_rx);
    if failure.is_some() || info.stopped {
        drop(work_rx);
        let _ = producer.join();
        return match failure {
            Some(e) => Err(ScanError::Consumer(e)),
            None => Ok(None),
        };
    }
    match producer.join() {
        Ok(r) => r.map_err(ScanError::Format),
        Err(p) => std::panic::resume_unwind(p),
    }
}
