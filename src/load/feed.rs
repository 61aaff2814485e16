//! The readers: one scanner thread per input file runs the parallel engine
//! and sends its workers' batches to the main thread, each file within a
//! window of tokens the main thread hands back as it routes (so a slow or
//! down target holds the readers back instead of filling memory).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Sender, SyncSender};

use super::plan::Starts;
use super::{LoadOptions, Msg};
use crate::restore::commands::TargetFeatures;
use crate::restore::worker::{self, Batch, LoadWorker, WorkerConfig};
use crate::restore::{jsonl, InputFile};
use crate::scan;
use crate::sink::SinkError;

/// Batches a file's reader may send before the main thread hands a token back.
const WINDOW: usize = 2;

/// Starts one scanner per file that is to be read (a file completed in the
/// checkpointed run is reported done at once); returns each file's token
/// sender, with which the main thread lets its reader send one more batch.
#[allow(clippy::too_many_arguments)]
pub(super) fn spawn<'s, 'env, 'a: 's>(
    s: &'s std::thread::Scope<'s, 'env>,
    files: &'s [InputFile<'a>],
    configs: &[(WorkerConfig, u32)],
    starts: &Starts,
    opts: &'s LoadOptions,
    features: TargetFeatures,
    to_main: &Sender<Msg<'a>>,
    stop: &'s AtomicBool,
) -> Vec<SyncSender<()>> {
    let mut tokens = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let (tok_tx, tok_rx) = sync_channel::<()>(WINDOW);
        if starts.skip[i] {
            // Completed in the checkpointed run.
            tokens.push(tok_tx);
            let _ = to_main.send(Msg::FileDone(i, Ok(())));
            continue;
        }
        for _ in 0..WINDOW {
            let _ = tok_tx.send(());
        }
        tokens.push(tok_tx);
        let to_main = to_main.clone();
        let cfg = configs[i].0.clone();
        let mut engine = opts.engine.clone();
        engine.start = starts.at[i];
        if opts.checkpoint.is_some() {
            // Smaller batches: less in flight at a crash, so less to
            // re-check on resume, and a checkpoint that keeps up.
            engine.chunk_bytes = engine.chunk_bytes.min(128 << 10);
        }
        s.spawn(move || {
            let mut send = |batch: Batch<'a>| {
                if stop.load(Ordering::Relaxed) || tok_rx.recv().is_err() {
                    return Err(SinkError::Stopped);
                }
                to_main
                    .send(Msg::Batch(i, batch))
                    .map_err(|_| SinkError::Stopped)
            };
            let r = read_file(f, &cfg, &engine, opts, features, &mut send);
            let _ = to_main.send(Msg::FileDone(i, r));
        });
    }
    tokens
}

/// Reads one file (JSON Lines or RDB) into batches given to `send`.
fn read_file<'a>(
    f: &InputFile<'a>,
    cfg: &WorkerConfig,
    engine: &scan::EngineOptions,
    opts: &LoadOptions,
    features: TargetFeatures,
    send: &mut dyn FnMut(Batch<'a>) -> Result<(), SinkError>,
) -> Result<(), SinkError> {
    let data = f.data;
    if jsonl::is_jsonl(data) {
        let filter = engine.filter.as_deref();
        return worker::jsonl_batches(data, cfg, opts.limits, features, filter, send);
    }
    let release = f.release;
    // Pages behind the consumed chunks may still be read by a node writer
    // encoding a payload; a released page just faults back in from the
    // page cache, so lag the release by a margin.
    let hint = move |done: u64, _: u64, _: u64| {
        if let Some(r) = release {
            r(done.saturating_sub(16 << 20));
        }
    };
    scan::run(
        data,
        engine,
        || LoadWorker::new(cfg.clone()),
        |batch: Batch<'a>, _| send(batch),
        Some(&hint),
    )
    .map(|_| ())
    .map_err(SinkError::from)
}
