//! The parallel engine must not change a single byte of output: for every
//! fixture, `json` with one thread and with several threads and tiny chunks
//! (so that every file is cut into many chunks, and big records get chunks
//! of their own) produces identical bytes, and a failing file fails with
//! the same error after the same output prefix.

use crate::util::common;

use rdbkit::scan::EngineOptions;
use rdbkit::sink::json::{write_parallel, JsonOptions};
use rdbkit::sink::SinkError;

fn run(data: &[u8], threads: usize, chunk_bytes: usize, meta: bool) -> (Vec<u8>, Option<String>) {
    let engine = EngineOptions {
        threads,
        chunk_bytes,
        verify_checksum: true,
        ..Default::default()
    };
    json(data, meta, &engine)
}

/// The JSON of `data` (with `--meta` if `meta`), and the error that ended it.
fn json(data: &[u8], meta: bool, engine: &EngineOptions) -> (Vec<u8>, Option<String>) {
    let opts = JsonOptions {
        meta,
        verify_checksum: true,
    };
    let mut out = Vec::new();
    let err = match write_parallel(data, &opts, engine, &mut out, None) {
        Ok(_) => None,
        Err(SinkError::Format(e)) => Some(e.to_string()),
        Err(e) => panic!("unexpected error writing to a Vec: {e}"),
    };
    (out, err)
}

#[test]
fn one_thread_and_many_threads_give_identical_bytes() {
    let files = common::all_rdb_files();
    assert!(files.len() > 100, "fixtures missing: {}", files.len());
    let mut compared = 0;
    for f in &files {
        let data = std::fs::read(f).unwrap();
        for meta in [false, true] {
            let (base, base_err) = run(&data, 1, 4 << 20, meta);
            for (threads, chunk) in [(1, 64), (2, 64), (4, 1), (4, 4096), (3, 1 << 20)] {
                let (out, err) = run(&data, threads, chunk, meta);
                assert_eq!(
                    err,
                    base_err,
                    "{}: threads={threads} chunk={chunk} meta={meta}: different outcome",
                    common::rel(f)
                );
                assert!(
                    out == base,
                    "{}: threads={threads} chunk={chunk} meta={meta}: output differs ({} vs {} bytes)",
                    common::rel(f),
                    out.len(),
                    base.len()
                );
                compared += 1;
            }
        }
    }
    eprintln!(
        "parallel: {compared} runs over {} files identical to the single-thread output",
        files.len()
    );
}

#[test]
fn checksum_mismatch_is_reported_after_the_same_output() {
    let data = std::fs::read(common::fixture("public/librdb/invalid_chksum_v8.rdb")).unwrap();
    let (out1, e1) = run(&data, 1, 4 << 20, false);
    let (out4, e4) = run(&data, 4, 1, false);
    assert_eq!(out1, out4);
    let e = e1.expect("checksum mismatch must be an error");
    assert!(e.contains("checksum mismatch"), "{e}");
    assert_eq!(Some(e), e4);
}

/// The engine reading bytes that are still arriving (a file being
/// decompressed, `rdbkit::arrival`) gives the bytes, or the error after the
/// same output, of reading the whole file: for every fixture, whose bytes
/// here arrive in uneven steps of 1 to 3000 bytes, so that the walk runs
/// out in the middle of every kind of item and reads it again.
#[test]
fn bytes_arriving_in_small_steps_give_identical_bytes() {
    let files = common::all_rdb_files();
    assert!(files.len() > 100, "fixtures missing: {}", files.len());
    for f in &files {
        let data = std::fs::read(f).unwrap();
        for threads in [1, 3] {
            let want = run(&data, 1, 1 << 20, true);
            let got = arriving(&data, threads, Ok(()));
            assert_eq!(
                (String::from_utf8_lossy(&got.0), &got.1),
                (String::from_utf8_lossy(&want.0), &want.1),
                "{} ({threads} threads)",
                common::rel(f)
            );
        }
    }
}

/// A writer that fails part way (a damaged compressed file) ends the run
/// with its error, at the first byte that did not arrive, after output of
/// only the records wholly before it.
#[test]
fn bytes_that_stop_arriving_end_the_run_with_the_writers_error() {
    let (f, data) = common::all_rdb_files()
        .into_iter()
        .map(|f| (std::fs::read(&f).unwrap(), f))
        .filter(|(d, _)| run(d, 1, 1 << 20, true).1.is_none())
        .max_by_key(|(d, _)| d.len())
        .map(|(d, f)| (f, d))
        .unwrap();
    assert!(data.len() > 64 << 10, "{}: too small", common::rel(&f));
    let (out, err) = arriving(&data, 2, Err("zstd input: corrupt block".into()));
    let half = data.len() / 2;
    let err = err.expect("an error");
    assert_eq!(
        err,
        format!("at byte offset {half}: the input cannot be read beyond here: zstd input: corrupt block"),
        "{}",
        common::rel(&f)
    );
    let whole = run(&data, 1, 1 << 20, true).0;
    assert!(out.len() < whole.len() && whole.starts_with(&out));
}

/// `run` over `data` arriving in uneven steps; with `end` an error, the
/// writer stops half way and says so.
fn arriving(data: &[u8], threads: usize, end: Result<(), String>) -> (Vec<u8>, Option<String>) {
    use rdbkit::arrival::Arrival;
    use std::sync::Arc;
    let arrival = Arc::new(Arrival::new(data.len() as u64));
    let writer = Arc::clone(&arrival);
    let stop = match end {
        Ok(()) => data.len(),
        Err(_) => data.len() / 2,
    };
    let feed = std::thread::spawn(move || {
        let steps = common::noise(4096);
        let mut at = 0;
        for b in steps.iter().cycle() {
            at = (at + 1 + usize::from(*b) * 12).min(stop);
            writer.advance(at as u64);
            std::thread::yield_now();
            if at == stop {
                break;
            }
        }
        writer.finish(end);
    });
    let engine = EngineOptions {
        threads,
        chunk_bytes: 2048,
        arrival: Some(arrival),
        ..Default::default()
    };
    let r = json(data, true, &engine);
    feed.join().unwrap();
    r
}
