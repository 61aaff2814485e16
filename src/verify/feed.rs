//! The readers: one scanner thread per input file runs the parallel engine
//! and sends its workers' batches of checks to the main thread, each file
//! within a window of two batches the main thread hands back as it routes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Sender, SyncSender};

use super::worker::{Shared, VBatch, VerifyWorker};
use super::Msg;
use crate::restore::worker::WorkerConfig;
use crate::restore::InputFile;
use crate::scan::{self, EngineOptions};
use crate::sink::SinkError;

/// Batches a file's reader may send before the main thread hands a token back.
const WINDOW: usize = 2;

/// What every file's reader shares.
pub(super) struct Readers<'s> {
    pub engine: &'s EngineOptions,
    /// The workers' settings common to every file.
    pub base: Shared<'s>,
    /// `--sample`: each file's chosen record offsets.
    pub selections: Option<&'s [Vec<u64>]>,
    pub stop: &'s AtomicBool,
}

/// Starts one scanner per file; returns each file's token sender, with
/// which the main thread lets its reader send one more batch.
pub(super) fn spawn<'s, 'env, 'a: 's>(
    s: &'s std::thread::Scope<'s, 'env>,
    files: &'s [InputFile<'a>],
    configs: &[(WorkerConfig, crate::rdb::value::Dialect)],
    r: Readers<'s>,
    to_main: &Sender<Msg<'a>>,
) -> Vec<SyncSender<()>> {
    let mut tokens = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let (tok_tx, tok_rx) = sync_channel::<()>(WINDOW);
        for _ in 0..WINDOW {
            let _ = tok_tx.send(());
        }
        tokens.push(tok_tx);
        let to_main = to_main.clone();
        let cfg = configs[i].0.clone();
        let sh = Shared {
            file_dialect: configs[i].1,
            selection: r.selections.map(|v| v[i].as_slice()),
            ..r.base
        };
        let (stop, engine) = (r.stop, r.engine);
        s.spawn(move || {
            let release = f.release;
            let hint = move |done: u64, _: u64, _: u64| {
                if let Some(r) = release {
                    r(done.saturating_sub(16 << 20));
                }
            };
            let r = scan::run(
                f.data,
                engine,
                || VerifyWorker::new(cfg.clone(), sh),
                |b: VBatch<'a>, _| {
                    if stop.load(Ordering::Relaxed) || tok_rx.recv().is_err() {
                        return Err(SinkError::Stopped);
                    }
                    to_main
                        .send(Msg::Batch(i, b))
                        .map_err(|_| SinkError::Stopped)
                },
                Some(&hint),
            )
            .map(|_| ())
            .map_err(SinkError::from);
            let _ = to_main.send(Msg::FileDone(i, r));
        });
    }
    tokens
}
