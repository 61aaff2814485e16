//! The `--html` report renders in a real browser: headless Chromium loads
//! the page from disk (no network), the DOM it dumps must hold the table
//! rows and treemap rectangles that the page's script builds, and a
//! screenshot must be a real picture (more than one colour).
//!
//! Chromium is Debian's `chromium` package (`scripts/test.sh` installs it).
//! When it is missing the test tries `apt-get install -y chromium` (as root)
//! and skips, saying why, only if that fails.

use crate::util as support;
use crate::util::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::run::*;
use support::server::TempDir;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium() -> Option<PathBuf> {
    let p = PathBuf::from(CHROMIUM);
    if p.exists() {
        return Some(p);
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    if root {
        eprintln!("html: {CHROMIUM} missing; trying apt-get install -y chromium");
        let _ = Command::new("apt-get")
            .args(["install", "-y", "-q", "--no-install-recommends", "chromium"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status();
        if !p.exists() {
            let _ = Command::new("apt-get")
                .args(["update", "-q"])
                .stdin(Stdio::null())
                .status();
            let _ = Command::new("apt-get")
                .args(["install", "-y", "-q", "--no-install-recommends", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdin(Stdio::null())
                .status();
        }
    }
    p.exists().then_some(p)
}

/// Runs headless Chromium on `page` with `extra` arguments.
fn run_chromium(
    bin: &Path,
    profile: &Path,
    page: &Path,
    extra: &[String],
) -> (i32, Vec<u8>, String) {
    let mut cmd = Command::new(bin);
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .args(extra)
    .arg(format!("file://{}", page.display()))
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let child = cmd.spawn().expect("start chromium");
    let out = wait_child(child, "chromium".into(), Duration::from_secs(120));
    (out.code, out.stdout, out.stderr)
}

fn make_report(dir: &TempDir) -> (PathBuf, String) {
    let rdb = common::fixture("redis-7.0.15/default.rdb");
    let page = dir.join("report.html");
    let out = rdbkit(&[
        "memory",
        rdb.to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
        "--top",
        "25",
        "--format",
        "json",
        "-q",
    ]);
    out.expect_code(0);
    let v: Value = serde_json::from_slice(&out.stdout).expect("summary JSON");
    let top = v["top_by_memory"][0]["key"]
        .as_str()
        .expect("top key is text")
        .to_string();
    (page, top)
}

#[test]
fn page_is_self_contained() {
    let dir = TempDir::new("html-static");
    let (page, _) = make_report(&dir);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for banned in ["http://", "https://", "<link", "src="] {
        let hits: Vec<&str> = html
            .lines()
            .filter(|l| l.contains(banned) && !l.contains("http://www.w3.org/2000/svg"))
            .collect();
        assert!(hits.is_empty(), "external reference {banned:?}: {hits:?}");
    }
    // The data block is valid JSON.
    let start = html.find("id=\"rdbkit-data\">").unwrap() + "id=\"rdbkit-data\">".len();
    let end = start + html[start..].find("</script>").unwrap();
    let data: Value = serde_json::from_str(&html[start..end].replace("<\\/", "</")).unwrap();
    assert!(data["keys"].as_u64().unwrap() > 50);
    assert_eq!(data["top"].as_array().unwrap().len(), 100);
}

#[test]
fn renders_in_headless_chromium() {
    let Some(bin) = chromium() else {
        eprintln!(
            "SKIPPED renders_in_headless_chromium: {CHROMIUM} not found and `apt-get install chromium` failed"
        );
        return;
    };
    let dir = TempDir::new("html");
    let (page, top_key) = make_report(&dir);

    // The DOM after the page's script ran.
    let profile = dir.join("profile-dom");
    let (code, dom, err) = run_chromium(&bin, &profile, &page, &["--dump-dom".to_string()]);
    assert_eq!(code, 0, "chromium --dump-dom failed: {err}");
    let dom = String::from_utf8_lossy(&dom);
    let rows = dom.matches("class=\"key-row\"").count();
    assert_eq!(rows, 100, "table rows built by the script");
    let escaped = top_key
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    assert!(
        dom.contains(&format!(">{escaped}</td>")),
        "the biggest key {top_key:?} is not in a table cell"
    );
    let nodes = dom.matches("class=\"tm-node l1\"").count();
    assert!(nodes >= 3, "treemap has {nodes} top-level rectangles");
    assert!(
        dom.contains("class=\"tm-node l2\""),
        "treemap has no nested level"
    );
    assert!(dom.contains("class=\"type-seg\""), "type bar missing");
    assert!(dom.contains("Memory estimate"));

    // A screenshot that is a real picture.
    let png_path = dir.join("shot.png");
    let profile = dir.join("profile-shot");
    let (code, _, err) = run_chromium(
        &bin,
        &profile,
        &page,
        &[
            format!("--screenshot={}", png_path.display()),
            "--window-size=1280,1600".to_string(),
        ],
    );
    assert_eq!(code, 0, "chromium --screenshot failed: {err}");
    let (w, h, colours) = png_colours(&png_path);
    assert!(w >= 1000 && h >= 1000, "screenshot is {w}x{h}");
    assert!(colours > 20, "screenshot has only {colours} colours");
    eprintln!(
        "html: {rows} table rows, {nodes} treemap groups, screenshot {w}x{h} with {colours} colours ({})",
        png_path.display()
    );
    if let Ok(keep) = std::env::var("RDBKIT_KEEP_SCREENSHOT") {
        let _ = std::fs::copy(&png_path, keep);
    }
}

/// Width, height and number of distinct colours of a PNG.
fn png_colours(path: &Path) -> (u32, u32, usize) {
    let file = std::fs::File::open(path).expect("screenshot written");
    let mut dec = png::Decoder::new(file);
    dec.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = dec.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).expect("PNG frame");
    let px = info.color_type.samples();
    let mut seen = std::collections::HashSet::new();
    for p in buf[..info.buffer_size()].chunks(px) {
        seen.insert(p.to_vec());
        if seen.len() > 1000 {
            break;
        }
    }
    (info.width, info.height, seen.len())
}
