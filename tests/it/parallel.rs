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
    let opts = JsonOptions {
        meta,
        verify_checksum: true,
    };
    let engine = EngineOptions {
        threads,
        chunk_bytes,
        verify_checksum: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    let err = match write_parallel(data, &opts, &engine, &mut out, None) {
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
