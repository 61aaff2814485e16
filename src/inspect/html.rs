//! `rdbkit memory --html REPORT.html`: one self-contained page (inline CSS
//! and JavaScript, no network assets) with the headline totals, memory by
//! type, a sortable table of the biggest keys and a treemap of memory by
//! key prefix.
//!
//! The report's figures are embedded as a JSON block
//! (`<script type="application/json" id="rdbkit-data">`) and the page's
//! script builds the table and the treemap from it, so the same file is
//! also machine-readable.

use crate::inspect::prefix::{NO_PREFIX, OTHER};
use crate::inspect::report::{display_key, human, iso8601, MemoryReport, TopKey};
use crate::sink::jsonfmt::{write_str, write_u64};

fn json_key(o: &mut Vec<u8>, k: &[u8]) {
    write_str(o, display_key(k).as_bytes());
}

fn top_json(o: &mut Vec<u8>, v: &[TopKey]) {
    o.push(b'[');
    for (i, k) in v.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"db\":");
        write_u64(o, k.db);
        o.extend_from_slice(b",\"key\":");
        json_key(o, &k.key);
        o.extend_from_slice(b",\"type\":");
        write_str(o, k.kind.as_bytes());
        o.extend_from_slice(b",\"encoding\":");
        write_str(o, k.encoding.as_bytes());
        o.extend_from_slice(b",\"bytes\":");
        write_u64(o, k.bytes);
        o.extend_from_slice(b",\"elements\":");
        write_u64(o, k.num_elements);
        o.extend_from_slice(b",\"largest\":");
        write_u64(o, k.len_largest_element);
        o.extend_from_slice(b",\"serialized\":");
        write_u64(o, k.serialized);
        o.extend_from_slice(b",\"expiry\":");
        match k.expire_ms {
            Some(e) => write_str(o, iso8601(e).as_bytes()),
            None => o.extend_from_slice(b"\"\""),
        }
        o.push(b'}');
    }
    o.push(b']');
}

/// The page's data block.
pub(crate) fn data_json(rep: &MemoryReport, title: &str) -> Vec<u8> {
    let mut o = Vec::new();
    o.extend_from_slice(b"{\"title\":");
    write_str(&mut o, title.as_bytes());
    o.extend_from_slice(b",\"keys\":");
    write_u64(&mut o, rep.totals.keys);
    o.extend_from_slice(b",\"bytes\":");
    write_u64(&mut o, rep.totals.bytes);
    o.extend_from_slice(b",\"serialized\":");
    write_u64(&mut o, rep.totals.serialized);
    o.extend_from_slice(b",\"expiring\":");
    write_u64(&mut o, rep.totals.expiring);
    o.extend_from_slice(b",\"human\":");
    write_str(&mut o, human(rep.totals.bytes).as_bytes());
    o.extend_from_slice(b",\"types\":[");
    let mut types: Vec<_> = rep.by_type.iter().collect();
    types.sort_by_key(|t| std::cmp::Reverse(t.1.bytes));
    for (i, (k, t)) in types.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"type\":");
        write_str(&mut o, k.as_bytes());
        o.extend_from_slice(b",\"keys\":");
        write_u64(&mut o, t.keys);
        o.extend_from_slice(b",\"bytes\":");
        write_u64(&mut o, t.bytes);
        o.push(b'}');
    }
    o.extend_from_slice(b"],\"top\":");
    top_json(&mut o, &rep.top_by_bytes);
    o.extend_from_slice(b",\"sep\":");
    let sep = rep
        .prefix_options
        .as_ref()
        .map(|p| p.separator.clone())
        .unwrap_or_default();
    write_str(&mut o, String::from_utf8_lossy(&sep).as_bytes());
    o.extend_from_slice(b",\"prefixes\":[");
    for (i, r) in rep.prefixes.iter().enumerate() {
        if i > 0 {
            o.push(b',');
        }
        o.extend_from_slice(b"{\"level\":");
        write_u64(&mut o, r.level as u64);
        o.extend_from_slice(b",\"prefix\":");
        json_key(&mut o, &r.prefix);
        o.extend_from_slice(b",\"special\":");
        o.extend_from_slice(if r.prefix == NO_PREFIX || r.prefix == OTHER {
            b"true"
        } else {
            b"false"
        });
        o.extend_from_slice(b",\"keys\":");
        write_u64(&mut o, r.agg.keys);
        o.extend_from_slice(b",\"bytes\":");
        write_u64(&mut o, r.agg.bytes);
        o.extend_from_slice(b",\"serialized\":");
        write_u64(&mut o, r.agg.serialized);
        o.push(b'}');
    }
    o.extend_from_slice(b"]}");
    o
}

/// The whole page.
pub fn page(rep: &MemoryReport, title: &str) -> Vec<u8> {
    let data = data_json(rep, title);
    // `</` cannot appear inside a script element.
    let data = String::from_utf8_lossy(&data).replace("</", "<\\/");
    let mut s = String::with_capacity(data.len() + TEMPLATE.len() + 256);
    let esc_title = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    for (i, part) in TEMPLATE.split("@@").enumerate() {
        match (i % 2, part) {
            (1, "TITLE") => s.push_str(&esc_title),
            (1, "DATA") => s.push_str(&data),
            (1, other) => s.push_str(other),
            _ => s.push_str(part),
        }
    }
    s.into_bytes()
}

const TEMPLATE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rdbkit memory report: @@TITLE@@</title>
<style>
:root { --fg:#1d2330; --muted:#5d6778; --line:#dde2ea; --bg:#f6f7fa; --card:#fff; --accent:#2f6fde; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; color:var(--fg); background:var(--bg); }
header { padding:18px 28px 8px; }
h1 { font-size:20px; margin:0 0 2px; }
h2 { font-size:16px; margin:0 0 10px; }
.sub { color:var(--muted); }
main { padding:8px 28px 28px; display:grid; grid-template-columns:minmax(0,1fr); gap:18px; }
.card { min-width:0; background:var(--card); border:1px solid var(--line); border-radius:8px; padding:16px 18px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(160px,1fr)); gap:12px; }
.stat .v { font-size:22px; font-weight:600; }
.stat .l { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.bar { display:flex; height:22px; border-radius:4px; overflow:hidden; margin:6px 0 8px; }
.bar div { height:100%; }
.legend { display:flex; flex-wrap:wrap; gap:6px 16px; font-size:13px; }
.legend i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:5px; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { padding:5px 8px; border-bottom:1px solid var(--line); text-align:left; white-space:nowrap; }
th { cursor:pointer; user-select:none; background:#f0f3f8; position:sticky; top:0; }
th.num, td.num { text-align:right; font-variant-numeric:tabular-nums; }
th .arrow { color:var(--accent); }
td.key { font-family:ui-monospace,"DejaVu Sans Mono",monospace; max-width:420px; overflow:hidden; text-overflow:ellipsis; }
.scroll { max-height:520px; overflow:auto; }
#treemap { position:relative; width:100%; height:440px; }
#treemap svg { width:100%; height:100%; display:block; }
.tm-node rect { stroke:#fff; stroke-width:1; }
.tm-node text { font-size:11px; fill:#fff; pointer-events:none; }
.tm-node.l2 rect { stroke:rgba(255,255,255,.6); }
.tm-label { font-size:12px; font-weight:600; fill:#fff; pointer-events:none; }
.empty { color:var(--muted); padding:20px 0; }
footer { color:var(--muted); font-size:12px; padding:0 28px 20px; }
</style>
</head>
<body>
<header>
<h1>Memory report</h1>
<div class="sub" id="title"></div>
</header>
<main>
<section class="card">
<div class="cards" id="headline"></div>
<h2 style="margin-top:16px">Memory by type</h2>
<div class="bar" id="typebar"></div>
<div class="legend" id="typelegend"></div>
</section>
<section class="card">
<h2>Memory by key prefix <span class="sub" id="tm-sub"></span></h2>
<div id="treemap"></div>
</section>
<section class="card">
<h2>Biggest keys <span class="sub">(click a column to sort)</span></h2>
<div class="scroll"><table id="topkeys"><thead></thead><tbody></tbody></table></div>
</section>
</main>
<footer>Estimates of the server memory each key takes after loading the snapshot (see the rdbkit README, "Memory report"). Generated by rdbkit.</footer>
<script type="application/json" id="rdbkit-data">@@DATA@@</script>
<script>
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("rdbkit-data").textContent);
  var COLORS = ["#2f6fde", "#e0793a", "#2ba37a", "#b04bc9", "#d6465c", "#8a6d3b", "#4c9bd6", "#7aa33a", "#c9a227", "#5a5fc7"];
  var TYPE_COLORS = { string: "#2f6fde", hash: "#e0793a", list: "#2ba37a", set: "#b04bc9", zset: "#d6465c", stream: "#8a6d3b", module: "#7d8796" };
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) { for (var k in attrs) { e.setAttribute(k, attrs[k]); } }
    if (text !== undefined) { e.textContent = text; }
    return e;
  }
  function human(b) {
    var u = ["B", "KiB", "MiB", "GiB", "TiB"], i = 0;
    while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
    return i === 0 ? b + " B" : b.toFixed(1) + " " + u[i];
  }
  function fmt(n) { return n.toLocaleString("en-US"); }
  function pct(a, b) { return b > 0 ? (100 * a / b).toFixed(1) + "%" : "0%"; }

  document.getElementById("title").textContent = D.title;

  // Headline totals.
  var head = document.getElementById("headline");
  [["Keys", fmt(D.keys)], ["Memory estimate", human(D.bytes)], ["Serialized (RDB)", human(D.serialized)],
   ["Expiring keys", fmt(D.expiring)], ["Bytes per key", D.keys ? fmt(Math.round(D.bytes / D.keys)) : "0"]]
    .forEach(function (p) {
      var c = el("div", { "class": "stat" });
      c.appendChild(el("div", { "class": "v" }, p[1]));
      c.appendChild(el("div", { "class": "l" }, p[0]));
      head.appendChild(c);
    });

  // Memory by type.
  var bar = document.getElementById("typebar"), legend = document.getElementById("typelegend");
  D.types.forEach(function (t) {
    var color = TYPE_COLORS[t.type] || "#999";
    var seg = el("div", { "class": "type-seg", title: t.type + ": " + human(t.bytes) });
    seg.style.width = (D.bytes > 0 ? 100 * t.bytes / D.bytes : 0) + "%";
    seg.style.background = color;
    bar.appendChild(seg);
    var item = el("span", { "class": "type-item" });
    var sw = el("i"); sw.style.background = color; item.appendChild(sw);
    item.appendChild(document.createTextNode(t.type + " " + human(t.bytes) + " (" + pct(t.bytes, D.bytes) + ", " + fmt(t.keys) + " keys)"));
    legend.appendChild(item);
  });

  // Sortable table of the biggest keys.
  var cols = [
    { k: "rank", t: "#", num: true }, { k: "db", t: "db", num: true }, { k: "key", t: "key" },
    { k: "type", t: "type" }, { k: "encoding", t: "encoding" }, { k: "bytes", t: "memory", num: true, h: true },
    { k: "elements", t: "elements", num: true }, { k: "largest", t: "largest element", num: true },
    { k: "serialized", t: "serialized", num: true, h: true }, { k: "expiry", t: "expiry" }
  ];
  var rows = D.top.map(function (r, i) { var o = Object.assign({}, r); o.rank = i + 1; return o; });
  var sortKey = "bytes", sortDesc = true;
  var table = document.getElementById("topkeys");
  function renderTable() {
    var thead = table.tHead, tbody = table.tBodies[0];
    thead.textContent = ""; tbody.textContent = "";
    var tr = el("tr");
    cols.forEach(function (c) {
      var th = el("th", { "class": c.num ? "num" : "", "data-key": c.k }, c.t);
      if (c.k === sortKey) { th.appendChild(el("span", { "class": "arrow" }, sortDesc ? " \u25BC" : " \u25B2")); }
      th.addEventListener("click", function () {
        if (sortKey === c.k) { sortDesc = !sortDesc; } else { sortKey = c.k; sortDesc = !!c.num; }
        renderTable();
      });
      tr.appendChild(th);
    });
    thead.appendChild(tr);
    var sorted = rows.slice().sort(function (a, b) {
      var x = a[sortKey], y = b[sortKey];
      var r = (typeof x === "number") ? x - y : String(x).localeCompare(String(y));
      if (r === 0) { r = a.rank - b.rank; return r; }
      return sortDesc ? -r : r;
    });
    if (!sorted.length) {
      var e = el("tr"); e.appendChild(el("td", { colspan: cols.length, "class": "empty" }, "No keys.")); tbody.appendChild(e);
    }
    sorted.forEach(function (r) {
      var row = el("tr", { "class": "key-row" });
      cols.forEach(function (c) {
        var v = r[c.k];
        var text = c.h ? human(v) : (typeof v === "number" ? fmt(v) : v);
        var td = el("td", { "class": (c.num ? "num" : "") + (c.k === "key" ? " key" : "") }, text);
        if (c.k === "key") { td.title = v; }
        if (c.h) { td.title = fmt(v) + " bytes"; }
        row.appendChild(td);
      });
      tbody.appendChild(row);
    });
  }
  renderTable();

  // Treemap of memory by prefix: level-1 prefixes, their level-2 children inside.
  var roots = [], byPrefix = {};
  D.prefixes.forEach(function (p) {
    var node = { name: p.prefix, bytes: p.bytes, keys: p.keys, level: p.level, children: [] };
    if (p.level === 1) { roots.push(node); }
    if (!p.special) { byPrefix[p.level + "\u0000" + p.prefix] = node; }
    if (p.level > 1 && !p.special) {
      var base = p.prefix.slice(0, p.prefix.length - 1 - D.sep.length);
      var cut = base.lastIndexOf(D.sep);
      var parent = byPrefix[(p.level - 1) + "\u0000" + base.slice(0, cut + D.sep.length) + "*"];
      if (parent) { parent.children.push(node); }
    }
  });
  function squarify(items, x, y, w, h) {
    var out = [], total = 0;
    items.forEach(function (it) { total += it.bytes; });
    if (total <= 0 || w <= 0 || h <= 0) { return out; }
    var scale = (w * h) / total, rest = items.slice().sort(function (a, b) { return b.bytes - a.bytes; });
    while (rest.length) {
      var side = Math.min(w, h), row = [], rowSum = 0, best = Infinity;
      while (rest.length) {
        var it = rest[0], s = rowSum + it.bytes * scale;
        var mx = Math.max.apply(null, row.map(function (r) { return r.bytes * scale; }).concat([it.bytes * scale]));
        var mn = Math.min.apply(null, row.map(function (r) { return r.bytes * scale; }).concat([it.bytes * scale]));
        var worst = Math.max(side * side * mx / (s * s), (s * s) / (side * side * mn));
        if (row.length && worst > best) { break; }
        best = worst; row.push(it); rowSum = s; rest.shift();
      }
      var thick = rowSum / side, off = 0;
      row.forEach(function (it) {
        var len = it.bytes * scale / thick;
        if (w >= h) { out.push({ n: it, x: x, y: y + off, w: thick, h: len }); }
        else { out.push({ n: it, x: x + off, y: y, w: len, h: thick }); }
        off += len;
      });
      if (w >= h) { x += thick; w -= thick; } else { y += thick; h -= thick; }
    }
    return out;
  }
  var NS = "http://www.w3.org/2000/svg";
  function svgEl(tag, attrs) {
    var e = document.createElementNS(NS, tag);
    for (var k in attrs) { e.setAttribute(k, attrs[k]); }
    return e;
  }
  function drawTreemap() {
    var box = document.getElementById("treemap");
    box.textContent = "";
    var W = box.clientWidth || 900, H = box.clientHeight || 440;
    if (!roots.length) {
      box.appendChild(el("div", { "class": "empty" }, "No prefix data (run with --by-prefix SEP)."));
      return;
    }
    document.getElementById("tm-sub").textContent = "(separator \u201C" + D.sep + "\u201D, " + roots.length + " top-level groups)";
    var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, role: "img" });
    squarify(roots, 0, 0, W, H).forEach(function (c, i) {
      var color = COLORS[i % COLORS.length];
      var g = svgEl("g", { "class": "tm-node l1", "data-prefix": c.n.name });
      var r = svgEl("rect", { x: c.x, y: c.y, width: Math.max(0, c.w), height: Math.max(0, c.h), fill: color });
      var t = svgEl("title", {}); t.textContent = c.n.name + "\n" + human(c.n.bytes) + " (" + pct(c.n.bytes, D.bytes) + "), " + fmt(c.n.keys) + " keys";
      g.appendChild(t); g.appendChild(r); svg.appendChild(g);
      var kids = c.n.children.slice(), sum = 0;
      kids.forEach(function (k) { sum += k.bytes; });
      if (kids.length && c.w > 30 && c.h > 30) {
        if (c.n.bytes > sum) { kids.push({ name: "(rest)", bytes: c.n.bytes - sum, keys: 0, children: [] }); }
        squarify(kids, c.x + 2, c.y + 16, c.w - 4, c.h - 18).forEach(function (k) {
          var g2 = svgEl("g", { "class": "tm-node l2", "data-prefix": k.n.name });
          var r2 = svgEl("rect", { x: k.x, y: k.y, width: Math.max(0, k.w), height: Math.max(0, k.h), fill: color, "fill-opacity": k.n.name === "(rest)" ? 0.55 : 0.8 });
          var t2 = svgEl("title", {}); t2.textContent = k.n.name + "\n" + human(k.n.bytes) + " (" + pct(k.n.bytes, D.bytes) + ")";
          g2.appendChild(t2); g2.appendChild(r2);
          if (k.w > 60 && k.h > 14) {
            var tx = svgEl("text", { x: k.x + 4, y: k.y + 12 }); tx.textContent = k.n.name; g2.appendChild(tx);
          }
          svg.appendChild(g2);
        });
      }
      if (c.w > 50 && c.h > 14) {
        var lab = svgEl("text", { x: c.x + 4, y: c.y + 12, "class": "tm-label" });
        lab.textContent = c.n.name + "  " + human(c.n.bytes);
        svg.appendChild(lab);
      }
    });
    box.appendChild(svg);
  }
  drawTreemap();
  window.addEventListener("resize", drawTreemap);
})();
</script>
</body>
</html>
"##;
