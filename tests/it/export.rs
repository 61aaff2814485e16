//! `rdbkit export`: the Parquet table read back with the `parquet` crate
//! must hold exactly what the server truth says (values) and exactly what
//! `rdbkit memory --format json` says (key table), for every fixture.
#![cfg(feature = "parquet")]

use crate::util as support;
use crate::util::common;
use crate::util::export as export_support;

use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::Array;
use common::*;
use export_support::*;
use rdbkit::inspect::report::{self, MemoryOptions};
use rdbkit::scan::EngineOptions;
use serde_json::Value;
use support::run::rdbkit;

/// `rdbkit export ARGS...`.
fn export_cmd<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> support::run::Out {
    let mut v: Vec<&std::ffi::OsStr> = vec!["export".as_ref()];
    v.extend(args.iter().map(|a| a.as_ref()));
    rdbkit(&v)
}

fn golden() -> Vec<PathBuf> {
    all_rdb_files()
        .into_iter()
        .filter(|p| sibling(p, ".expected.jsonl").exists())
        .collect()
}

/// Every key, read back from Parquet with its value, equals the truth.
#[test]
fn export_values_match_server_truth_for_every_fixture() {
    let files = golden();
    assert!(files.len() > 50, "only {} golden fixtures", files.len());
    let mut failures = Vec::new();
    let mut keys = 0;
    for rdb in &files {
        let truth = truth_content(rdb).unwrap();
        let out = export_parquet(&read(rdb), &rel(rdb), true, &EngineOptions::default())
            .unwrap_or_else(|e| panic!("{}: export failed: {e}", rel(rdb)));
        let ours: Vec<Value> = read_parquet(&out)
            .iter()
            .flat_map(|b| (0..b.num_rows()).map(move |i| json_line(b, i)))
            .collect();
        std::fs::remove_file(&out).unwrap();
        match compare_fixture(&ours, &truth, false, &skipped_empty_keys(rdb)) {
            Ok(n) => keys += n,
            Err(e) => failures.push(format!("  {}: {e}", rel(rdb))),
        }
    }
    println!(
        "export: {} fixtures, {keys} keys match the truth",
        files.len()
    );
    assert!(failures.is_empty(), "differences:\n{}", failures.join("\n"));
}

/// `rdbkit memory --format json` rows of a file, keys as bytes.
fn memory_rows(data: &[u8]) -> Vec<Value> {
    let opts = MemoryOptions {
        format: report::Format::Json,
        rows: true,
        ..Default::default()
    };
    let mut out = Vec::new();
    report::run(data, &opts, &EngineOptions::default(), &mut out, None).unwrap();
    let mut rows = parse_jsonl(&out).unwrap();
    for r in &mut rows {
        let o = r.as_object_mut().unwrap();
        let key = bytes_of(&o["key"]).unwrap();
        o.insert("key".into(), bytes(&key));
        o.remove("expiry");
        o.entry("expire_ms").or_insert(Value::Null);
    }
    rows
}

/// The key table says, row for row and in the same order, what `memory` says.
#[test]
fn export_key_table_matches_memory_rows_for_every_fixture() {
    let mut compared = 0;
    for rdb in golden() {
        let data = read(&rdb);
        let want = memory_rows(&data);
        let out = export_parquet(&data, &rel(&rdb), false, &EngineOptions::default()).unwrap();
        let batches = read_parquet(&out);
        std::fs::remove_file(&out).unwrap();
        let got: Vec<Value> = batches
            .iter()
            .flat_map(|b| (0..b.num_rows()).map(move |i| memory_row(b, i)))
            .collect();
        assert_eq!(got.len(), want.len(), "{}: row count", rel(&rdb));
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(g, w, "{}: key table row vs memory row", rel(&rdb));
        }
        for b in &batches {
            let f = b.column_by_name("file").unwrap().as_string::<i32>();
            assert!((0..f.len()).all(|i| f.value(i) == rel(&rdb)));
        }
        compared += got.len();
    }
    assert!(compared > 3000, "only {compared} rows compared");
}

fn fixture_path(name: &str) -> PathBuf {
    fixture(name)
}

fn parquet_rows(path: &Path) -> usize {
    read_parquet(path).iter().map(|b| b.num_rows()).sum()
}

fn key_count(rdb: &Path) -> usize {
    convert_keys(&read(rdb), true).unwrap().len()
}

/// Two inputs: one table with a `file` column, or one part file each.
#[test]
fn export_several_files_into_one_table_or_parts() {
    let a = fixture_path("redis-7.4.1/default.rdb");
    let b = fixture_path("valkey-8.1.7/default.rdb");
    let out = temp_path("two.parquet");
    export_cmd(&[
        a.as_os_str(),
        b.as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "-q".as_ref(),
    ])
    .expect_code(0);
    assert_eq!(parquet_rows(&out), key_count(&a) + key_count(&b));
    let mut files: Vec<String> = read_parquet(&out)
        .iter()
        .flat_map(|bt| {
            let f = bt
                .column_by_name("file")
                .unwrap()
                .as_string::<i32>()
                .clone();
            (0..f.len()).map(move |i| f.value(i).to_string())
        })
        .collect();
    files.dedup();
    assert_eq!(files, [a.display().to_string(), b.display().to_string()]);
    std::fs::remove_file(&out).unwrap();

    let dir = temp_path("parts");
    let args = [a.as_os_str(), b.as_os_str(), "--per-file".as_ref()];
    export_cmd(&[&args[..], &["-o".as_ref(), dir.as_os_str(), "-q".as_ref()]].concat())
        .expect_code(0);
    let mut parts: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    parts.sort();
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert!(
        parts[0].ends_with("part-00000-default.parquet"),
        "{parts:?}"
    );
    assert_eq!(parquet_rows(&parts[0]), key_count(&a));
    assert_eq!(parquet_rows(&parts[1]), key_count(&b));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Filters work as everywhere: `--type hash --db 0` keeps what `memory` keeps.
#[test]
fn export_applies_the_shared_filters() {
    let a = fixture_path("redis-7.4.1/default.rdb");
    let out = temp_path("f.parquet");
    let args = ["--type", "hash", "--db", "0", "-q", "-o"];
    let mut v: Vec<&std::ffi::OsStr> = vec![a.as_os_str()];
    v.extend(args.iter().map(std::ffi::OsStr::new));
    v.push(out.as_os_str());
    export_cmd(&v).expect_code(0);
    let want = convert_keys(&read(&a), true)
        .unwrap()
        .iter()
        .filter(|l| l["type"] == "hash" && l["db"] == 0)
        .count();
    let batches = read_parquet(&out);
    std::fs::remove_file(&out).unwrap();
    assert!(want > 5);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), want);
    for b in &batches {
        let t = b.column_by_name("type").unwrap().as_string::<i32>();
        assert!((0..t.len()).all(|i| t.value(i) == "hash"));
    }
}

/// Arrow IPC and CSV hold the same key table as Parquet.
#[test]
fn export_arrow_and_csv_hold_the_same_rows() {
    let a = fixture_path("redis-7.0.15/compact.rdb");
    let pq = temp_path("k.parquet");
    let ar = temp_path("k.arrow");
    let csv = temp_path("k.csv");
    for (out, fmt) in [(&pq, "parquet"), (&ar, "arrow"), (&csv, "csv")] {
        let mut v: Vec<&std::ffi::OsStr> = vec![a.as_os_str(), "--format".as_ref(), fmt.as_ref()];
        if fmt != "csv" {
            v.push("--values".as_ref());
        }
        v.extend(["-q".as_ref(), "-o".as_ref(), out.as_os_str()]);
        export_cmd(&v).expect_code(0);
    }
    let from_pq: Vec<Value> = read_parquet(&pq)
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(move |i| json_line(b, i)))
        .collect();
    let reader =
        arrow_ipc::reader::FileReader::try_new(std::fs::File::open(&ar).unwrap(), None).unwrap();
    let from_ipc: Vec<Value> = reader
        .map(|b| b.unwrap())
        .flat_map(|b| {
            (0..b.num_rows())
                .map(move |i| json_line(&b, i))
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(from_pq, from_ipc);
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("file,db,key,type,encoding,"));
    assert_eq!(lines.count(), from_pq.len());
    assert_eq!(from_pq.len(), key_count(&a));
    for p in [pq, ar, csv] {
        std::fs::remove_file(p).unwrap();
    }
}

/// A damaged file: an error naming the byte offset, and no output file.
#[test]
fn export_of_a_damaged_file_fails_with_the_offset_and_writes_nothing() {
    let data = read(&fixture_path("redis-7.4.1/default.rdb"));
    let bad = temp_path("cut.rdb");
    std::fs::write(&bad, &data[..data.len() / 2]).unwrap();
    let out = temp_path("cut.parquet");
    let r = export_cmd(&[
        bad.as_os_str(),
        "-q".as_ref(),
        "-o".as_ref(),
        out.as_os_str(),
    ]);
    assert_eq!(r.code, 1, "{}", r.describe());
    assert!(r.stderr.contains("offset"), "{}", r.describe());
    assert!(!out.exists(), "a failed export left {}", out.display());
    let leftovers = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter(|e| {
            let n = e.as_ref().unwrap().file_name();
            let n = n.to_string_lossy();
            n.contains(&*out.file_name().unwrap().to_string_lossy()) && n.ends_with(".tmp")
        })
        .count();
    assert_eq!(leftovers, 0, "temporary file left behind");
    std::fs::remove_file(&bad).unwrap();
}

/// The output may not be one of the inputs (exit 2, input untouched).
#[test]
fn export_refuses_to_overwrite_an_input() {
    let src = fixture_path("redis-7.4.1/default.rdb");
    let copy = temp_path("in.rdb");
    std::fs::copy(&src, &copy).unwrap();
    let r = export_cmd(&[copy.as_os_str(), "-o".as_ref(), copy.as_os_str()]);
    assert_eq!(r.code, 2, "{}", r.describe());
    assert_eq!(read(&copy), read(&src));
    std::fs::remove_file(&copy).unwrap();
}

/// The writer's choices per column, which only the file's metadata shows:
/// sizes and offsets delta-encoded (not eight plain bytes each for zstd),
/// no min/max for the key column (a comparison or two per key, pruning
/// nothing), min/max kept for the low-cardinality columns.
#[test]
fn export_parquet_column_encodings_and_statistics() {
    use parquet::basic::Encoding;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let a = fixture_path("redis-7.4.1/default.rdb");
    let out = temp_path("encodings.parquet");
    export_cmd(&[a.as_os_str(), "-o".as_ref(), out.as_os_str(), "-q".as_ref()]).expect_code(0);
    let reader = SerializedFileReader::new(std::fs::File::open(&out).unwrap()).unwrap();
    let meta = reader.metadata();
    assert!(meta.num_row_groups() > 0);
    for rg in meta.row_groups() {
        let col = |name: &str| {
            (0..rg.num_columns())
                .map(|i| rg.column(i))
                .find(|c| c.column_path().string() == name)
                .unwrap_or_else(|| panic!("no column {name}"))
        };
        for name in ["offset", "memory", "serialized_bytes", "num_elements"] {
            let encodings: Vec<Encoding> = col(name).encodings().collect();
            assert!(
                encodings.contains(&Encoding::DELTA_BINARY_PACKED),
                "{name}: {encodings:?}"
            );
        }
        assert!(col("key").statistics().is_none());
        assert!(col("type").statistics().is_some());
    }
    std::fs::remove_file(&out).unwrap();
}
