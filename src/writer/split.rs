//! `rdbkit split`: one RDB per master of a cluster layout (by slot), or per
//! database, plus a JSON manifest naming each file, its node, its slot
//! ranges and its key count. A new cluster whose masters start from these
//! files (slots assigned as the manifest says) holds exactly the source
//! keys, each on its slot's owner — the fastest restore onto a new shape.
//!
//! Every file and the manifest are written under temporary names and
//! renamed only when all of them are complete.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde_json::json;

use super::output::{check_not_input, TempFile};
use super::route::{even_ranges, owner_table, Route};
use super::{failed, out_err, write_all, Input, Options, Summary, WriteError};

/// A master of the target layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    pub id: Option<String>,
    pub addr: Option<String>,
    pub ranges: Vec<(u16, u16)>,
}

/// How to split.
#[derive(Debug, Clone)]
pub enum Layout {
    /// N masters with the slot ranges `redis-cli --cluster create` gives.
    Shards(usize),
    /// Masters from a nodes.conf or a live cluster.
    Masters(Vec<Master>),
    /// One file per (output) database.
    ByDb,
}

/// One written file, for the manifest.
#[derive(Debug, Clone)]
pub struct Part {
    pub file: String,
    pub master: Option<Master>,
    pub db: Option<u64>,
    pub keys: u64,
    pub bytes: u64,
}

/// The masters of `n` even shards.
pub fn shards(n: usize) -> Vec<Master> {
    even_ranges(n)
        .into_iter()
        .map(|r| Master {
            id: None,
            addr: None,
            ranges: vec![r],
        })
        .collect()
}

/// The masters of a live cluster (`CLUSTER SHARDS` / `CLUSTER SLOTS`).
pub fn masters_of_cluster(url: &str) -> Result<Vec<Master>, String> {
    use crate::redis::{cluster, conn, Target};
    let target = Target::parse(url).map_err(|e| e.to_string())?;
    let (mut c, _) = conn::Conn::open_target(
        &target,
        &conn::TlsFiles::default(),
        Some(conn::DEFAULT_IO_TIMEOUT),
    )
    .map_err(|e| e.to_string())?;
    let t = cluster::discover(&mut c, &target.host).map_err(|e| e.to_string())?;
    let mut masters: Vec<Master> = t
        .masters
        .iter()
        .map(|a| Master {
            id: None,
            addr: Some(a.clone()),
            ranges: Vec::new(),
        })
        .collect();
    for (slot, &o) in t.owner.iter().enumerate() {
        if let Some(m) = masters.get_mut(o as usize) {
            match m.ranges.last_mut() {
                Some(r) if r.1 as usize + 1 == slot => r.1 = slot as u16,
                _ => m.ranges.push((slot as u16, slot as u16)),
            }
        }
    }
    masters.retain(|m| !m.ranges.is_empty());
    Ok(masters)
}

/// Masters of a nodes.conf file.
pub fn masters_of_nodes_conf(path: &Path) -> Result<Vec<Master>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(super::route::parse_nodes_conf(&text)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .into_iter()
        .map(|(id, addr, ranges)| Master {
            id: Some(id),
            addr: Some(addr),
            ranges,
        })
        .collect())
}

/// Splits `inputs` into `dir`; `input_paths` are checked against every
/// output path. Returns the parts (also in `dir/manifest.json`).
pub fn split(
    inputs: &[Input<'_>],
    input_paths: &[PathBuf],
    opts: &Options,
    layout: &Layout,
    dir: &Path,
) -> Result<(Vec<Part>, Summary), WriteError> {
    let (route, masters, dbs) = match layout {
        Layout::Shards(n) => {
            let m = shards(*n);
            (slot_route(&m), Some(m), None)
        }
        Layout::Masters(m) => (slot_route(m), Some(m.clone()), None),
        Layout::ByDb => {
            // An extra first pass finds the output databases that keep keys.
            let dbs = present_dbs(inputs, opts)?;
            (Route::Dbs(dbs.clone()), None, Some(dbs))
        }
    };
    let names: Vec<String> = (0..route.outputs())
        .map(|i| match &dbs {
            Some(d) => format!("db-{}.rdb", d[i]),
            None => format!("shard-{i}.rdb"),
        })
        .collect();
    for n in names
        .iter()
        .map(|n| dir.join(n))
        .chain([dir.join("manifest.json")])
    {
        check_not_input(&n, input_paths).map_err(failed)?;
    }
    let mut temps: Vec<TempFile> = Vec::new();
    let (outs, summary) = write_all(inputs, opts, &route, |i| {
        let (t, w) = TempFile::create(&dir.join(&names[i]))
            .map_err(out_err(Some(&dir.display().to_string())))?;
        temps.push(t);
        Ok(w)
    })?;
    let mut parts = Vec::new();
    let mut files: Vec<File> = Vec::new();
    for (i, (w, bytes, keys)) in outs.into_iter().enumerate() {
        files.push(w.into_inner().map_err(|e| out_err(None)(e.into_error()))?);
        parts.push(Part {
            file: names[i].clone(),
            master: masters.as_ref().map(|m| m[i].clone()),
            db: dbs.as_ref().map(|d| d[i]),
            keys,
            bytes,
        });
    }
    let manifest = manifest(&parts, &summary);
    let (mt, mut mw) = TempFile::create(&dir.join("manifest.json")).map_err(out_err(None))?;
    std::io::Write::write_all(&mut mw, format!("{manifest:#}\n").as_bytes())
        .map_err(out_err(None))?;
    let mf = mw.into_inner().map_err(|e| out_err(None)(e.into_error()))?;
    for (t, f) in temps.into_iter().zip(files) {
        t.commit(f).map_err(out_err(None))?;
    }
    mt.commit(mf).map_err(out_err(None))?;
    Ok((parts, summary))
}

fn slot_route(masters: &[Master]) -> Route {
    let ranges: Vec<Vec<(u16, u16)>> = masters.iter().map(|m| m.ranges.clone()).collect();
    Route::Slots(owner_table(&ranges))
}

/// The output databases that keep at least one key, in order.
fn present_dbs(inputs: &[Input<'_>], opts: &Options) -> Result<Vec<u64>, WriteError> {
    let mut summary = Summary::default();
    let plan = super::plan::plan(inputs, opts, &Route::One, &mut summary)?;
    Ok(plan.counts[0].keys().copied().collect())
}

/// The manifest: format, files with node, slot ranges, db, keys, bytes.
pub fn manifest(parts: &[Part], s: &Summary) -> serde_json::Value {
    let files: Vec<serde_json::Value> = parts
        .iter()
        .map(|p| {
            json!({
                "file": p.file,
                "node": p.master.as_ref().map(|m| json!({"id": m.id, "addr": m.addr})),
                "slots": p.master.as_ref().map(|m| m.ranges.iter().map(|r| json!([r.0, r.1])).collect::<Vec<_>>()),
                "db": p.db,
                "keys": p.keys,
                "bytes": p.bytes,
            })
        })
        .collect();
    json!({"format": s.format, "files": files, "summary": s.to_json()})
}
