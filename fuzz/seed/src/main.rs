//! Seed corpora for the fuzz targets, extracted from the fixtures.
//!
//! `rdbkit-fuzz-seed TESTDATA_DIR CORPUS_DIR` writes, under
//! `CORPUS_DIR/<target>/`:
//!
//! - `whole_file`, `restore_payload`: every fixture of at most 64 KiB;
//! - `listpack`, `ziplist`, `intset`, `zipmap`: every blob of that encoding
//!   in any fixture (values, quicklist nodes, stream nodes, hashes with
//!   field TTLs), decompressed when stored LZF-compressed;
//! - `lzf`: every LZF-compressed string (u32 LE uncompressed length, then
//!   the compressed bytes); `lzf_compress`: the same strings decompressed
//!   (a slack byte of 4, then the bytes), what a server chose to compress;
//! - `stream`: every stream value (a layout byte 0..=3, then the value).
//!
//! File names are a hash of the content, so reruns are idempotent and
//! duplicates collapse. Values are found with rdbkit's own parser; a
//! fixture it refuses (the negative ones) still seeds the file targets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rdbkit::rdb::cursor::Cursor;
use rdbkit::rdb::elem::{decompress, RdbStr};
use rdbkit::rdb::hfe::HfeKind;
use rdbkit::rdb::records::{Item, ParseOptions, Parser};
use rdbkit::rdb::stream::StreamVersion;
use rdbkit::rdb::value::ValueType;

const MAX_FILE: u64 = 64 * 1024;
/// Decoder seeds above this size slow the fuzzer down for little gain.
const MAX_BLOB: usize = 16 * 1024;

#[derive(Default)]
struct Seeds {
    by_target: BTreeMap<&'static str, BTreeMap<u64, Vec<u8>>>,
}

impl Seeds {
    fn add(&mut self, target: &'static str, bytes: Vec<u8>) {
        if bytes.len() > MAX_BLOB && !matches!(target, "whole_file" | "restore_payload") {
            return;
        }
        self.by_target
            .entry(target)
            .or_default()
            .insert(fnv1a(&bytes), bytes);
    }

    /// A blob stored as an RDB string: the blob itself (decompressed) for
    /// `target`, and the compressed form for `lzf`.
    fn add_string(&mut self, target: &'static str, s: RdbStr<'_>) {
        match s {
            RdbStr::Raw(b) => self.add(target, b.to_vec()),
            RdbStr::Lzf { data, len, offset } => {
                self.add_lzf(data, len);
                let mut out = Vec::new();
                if decompress(data, len, offset, &mut out).is_ok() {
                    self.add(target, out);
                }
            }
            RdbStr::Int(_) => {}
        }
    }

    fn add_lzf(&mut self, data: &[u8], len: u64) {
        let Ok(n) = u32::try_from(len) else { return };
        let mut v = n.to_le_bytes().to_vec();
        v.extend_from_slice(data);
        self.add("lzf", v);
        let mut plain = Vec::new();
        if decompress(data, len, 0, &mut plain).is_ok() {
            plain.insert(0, 4);
            self.add("lzf_compress", plain);
        }
    }
}

fn fnv1a(b: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for &x in b {
        h = (h ^ x as u64).wrapping_mul(0x100000001b3);
    }
    h
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "rdb") {
            out.push(p);
        }
    }
}

/// Pulls the encoded blobs out of one value. Errors just end the search:
/// the fixtures include deliberately broken files.
fn value_seeds(seeds: &mut Seeds, vt: ValueType, value: &[u8]) -> Option<()> {
    use ValueType::*;
    let mut cur = Cursor::new(value, 0);
    match vt {
        String => {
            if let Ok(RdbStr::Lzf { data, len, .. }) = cur.string("") {
                seeds.add_lzf(data, len);
            }
        }
        SetListpack | ZSetListpack | HashListpack => {
            seeds.add_string("listpack", cur.string("").ok()?)
        }
        ListZiplist | ZSetZiplist | HashZiplist => {
            seeds.add_string("ziplist", cur.string("").ok()?)
        }
        SetIntset => seeds.add_string("intset", cur.string("").ok()?),
        HashZipmap => seeds.add_string("zipmap", cur.string("").ok()?),
        ListQuicklist => {
            let n = cur.length("").ok()?;
            for _ in 0..n {
                seeds.add_string("ziplist", cur.string("").ok()?);
            }
        }
        ListQuicklist2 => {
            let n = cur.length("").ok()?;
            for _ in 0..n {
                let container = cur.length("").ok()?;
                let s = cur.string("").ok()?;
                if container == 2 {
                    seeds.add_string("listpack", s);
                }
            }
        }
        HashTtl(HfeKind::RedisListpackExPreGa) => {
            seeds.add_string("listpack", cur.string("").ok()?)
        }
        HashTtl(HfeKind::RedisListpackEx) => {
            cur.skip(8, "").ok()?;
            seeds.add_string("listpack", cur.string("").ok()?);
        }
        Stream(v) => {
            let sel = match v {
                StreamVersion::V1 => 0,
                StreamVersion::V2 => 1,
                StreamVersion::V3 => 2,
                StreamVersion::V4 => 3,
                StreamVersion::V5 => 4,
            };
            let mut s = vec![sel];
            s.extend_from_slice(value);
            seeds.add("stream", s);
            let n = cur.length("").ok()?;
            for _ in 0..n {
                cur.string("").ok()?; // master ID
                seeds.add_string("listpack", cur.string("").ok()?);
            }
        }
        _ => {}
    }
    Some(())
}

fn main() {
    let args: Vec<std::string::String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: {} TESTDATA_DIR CORPUS_DIR", args[0]);
        std::process::exit(2);
    }
    let (testdata, corpus) = (Path::new(&args[1]), Path::new(&args[2]));
    let mut files = Vec::new();
    walk(testdata, &mut files);
    let mut seeds = Seeds::default();
    for f in &files {
        let data = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        if data.len() as u64 <= MAX_FILE {
            seeds.add("whole_file", data.clone());
            seeds.add("restore_payload", data.clone());
        }
        let Ok(mut p) = Parser::new(
            &data,
            ParseOptions {
                verify_checksum: false,
            },
        ) else {
            continue;
        };
        while let Ok(Some(item)) = p.next_item() {
            if let Item::Key(rec) = item {
                value_seeds(&mut seeds, rec.vtype, rec.value);
            }
        }
    }
    for (target, blobs) in &seeds.by_target {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for (h, b) in blobs {
            let p = dir.join(format!("seed-{h:016x}"));
            std::fs::write(&p, b).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        }
        println!("{target}: {} seeds", blobs.len());
    }
}
