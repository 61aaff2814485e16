//! The stream part of the evaluation: `XRANGE` pages, `XINFO STREAM`,
//! `XINFO GROUPS`, `XINFO CONSUMERS` and `XPENDING` pages.

use crate::redis::resp::Reply;

use super::super::probe::{GroupExpect, PelExpect, Probes, StreamInfoExpect};
use super::{err, field, id_text, items, text, Diff, Evaluator, Shown, SHOWN_BYTES};

impl Evaluator<'_> {
    pub(super) fn check_stream_info(&mut self, want: &StreamInfoExpect, r: &Reply) {
        let Some(m) = items(r) else {
            self.end = Some(err("XINFO STREAM", r));
            return;
        };
        let id = |name| text(field(m, name));
        let mut checks: Vec<(&'static str, Shown, Option<Shown>)> = vec![(
            "last_id",
            Shown::Text(id_text(want.last_id)),
            id("last-generated-id").map(Shown::Text),
        )];
        if let (Some(w), Some(g)) = (want.max_deleted_id, id("max-deleted-entry-id")) {
            checks.push((
                "max_deleted_id",
                Shown::Text(id_text(w)),
                Some(Shown::Text(g)),
            ));
        }
        if let (Some(w), Some(g)) = (want.first_id, id("recorded-first-entry-id")) {
            checks.push(("first_id", Shown::Text(id_text(w)), Some(Shown::Text(g))));
        }
        if let (Some(w), Some(g)) = (
            want.entries_added,
            field(m, "entries-added").and_then(Reply::as_int),
        ) {
            checks.push(("entries_added", Shown::Int(w as i64), Some(Shown::Int(g))));
        }
        checks.push((
            "groups",
            Shown::Int(want.groups as i64),
            field(m, "groups").and_then(Reply::as_int).map(Shown::Int),
        ));
        for (attr, exp, got) in checks {
            if got.as_ref() != Some(&exp) {
                self.set_value(Diff::value("stream", exp, got.unwrap_or(Shown::Absent)).attr(attr));
                return;
            }
        }
    }

    pub(super) fn check_groups(&mut self, want: &[GroupExpect], r: &Reply) {
        let Some(got) = items(r) else {
            self.end = Some(err("XINFO GROUPS", r));
            return;
        };
        for g in want.iter() {
            let name = Shown::bytes(&g.name);
            let found = got
                .iter()
                .filter_map(items)
                .find(|m| field(m, "name").and_then(Reply::as_bytes) == Some(g.name.as_slice()));
            let Some(m) = found else {
                self.set_value(
                    Diff::value("group", Shown::Text("present".into()), Shown::Absent).item(name),
                );
                return;
            };
            let mut checks: Vec<(&'static str, Shown, Shown)> = vec![
                (
                    "last_delivered_id",
                    Shown::Text(id_text(g.last_delivered_id)),
                    text(field(m, "last-delivered-id"))
                        .map(Shown::Text)
                        .unwrap_or(Shown::Absent),
                ),
                (
                    "pending",
                    Shown::Int(g.pending as i64),
                    field(m, "pending")
                        .and_then(Reply::as_int)
                        .map(Shown::Int)
                        .unwrap_or(Shown::Absent),
                ),
                (
                    "consumers",
                    Shown::Int(g.consumers as i64),
                    field(m, "consumers")
                        .and_then(Reply::as_int)
                        .map(Shown::Int)
                        .unwrap_or(Shown::Absent),
                ),
            ];
            if let (Some(w), Some(f)) = (g.entries_read, field(m, "entries-read")) {
                checks.push((
                    "entries_read",
                    Shown::Int(w),
                    f.as_int().map(Shown::Int).unwrap_or(Shown::Absent),
                ));
            }
            for (attr, exp, got) in checks {
                if got != exp {
                    self.set_value(Diff::value("group", exp, got).item(name).attr(attr));
                    return;
                }
            }
        }
    }

    pub(super) fn check_consumers(
        &mut self,
        group: &[u8],
        consumers: &[(Vec<u8>, u64)],
        r: &Reply,
    ) {
        let Some(got) = items(r) else {
            self.end = Some(err("XINFO CONSUMERS", r));
            return;
        };
        if got.len() != consumers.len() {
            self.set_value(
                Diff::value(
                    "consumer",
                    Shown::Int(consumers.len() as i64),
                    Shown::Int(got.len() as i64),
                )
                .item(Shown::bytes(group))
                .attr("count"),
            );
            return;
        }
        for (name, pending) in consumers.iter() {
            let found = got
                .iter()
                .filter_map(items)
                .find(|m| field(m, "name").and_then(Reply::as_bytes) == Some(name.as_slice()));
            let n = found
                .and_then(|m| field(m, "pending"))
                .and_then(Reply::as_int);
            if n != Some(*pending as i64) {
                let found = n.map(Shown::Int).unwrap_or(Shown::Absent);
                self.set_value(
                    Diff::value("consumer", Shown::Int(*pending as i64), found)
                        .item(Shown::bytes(name))
                        .attr("pending"),
                );
                return;
            }
        }
    }

    pub(super) fn check_pel(&mut self, group: &[u8], entries: &[PelExpect], r: &Reply) {
        let Some(got) = items(r) else {
            self.end = Some(err("XPENDING", r));
            return;
        };
        for (k, w) in entries.iter().enumerate() {
            let g = got.get(k).and_then(items);
            let gid = g.and_then(|a| a.first()).and_then(Reply::as_bytes);
            let gowner = g.and_then(|a| a.get(1)).and_then(Reply::as_bytes);
            let gcount = g.and_then(|a| a.get(3)).and_then(Reply::as_int);
            let wid = id_text(w.id);
            let same = gid == Some(wid.as_bytes())
                && w.owner.as_deref().is_none_or(|o| gowner == Some(o))
                && gcount == Some(w.count as i64);
            if !same {
                let show = |id: &[u8], owner: Option<&[u8]>, n: Option<i64>| {
                    Shown::Text(format!(
                        "{} owned by {} delivered {} times",
                        String::from_utf8_lossy(id),
                        owner
                            .map(|o| String::from_utf8_lossy(o).into_owned())
                            .unwrap_or_else(|| "?".into()),
                        n.map(|n| n.to_string()).unwrap_or_else(|| "?".into())
                    ))
                };
                let found = match gid {
                    Some(id) => show(id, gowner, gcount),
                    None => Shown::Absent,
                };
                self.set_value(
                    Diff::value(
                        "pending entry",
                        show(wid.as_bytes(), w.owner.as_deref(), Some(w.count as i64)),
                        found,
                    )
                    .item(Shown::bytes(group)),
                );
                return;
            }
        }
        if got.len() > entries.len() {
            let extra = got[entries.len()]
                .clone()
                .into_array()
                .and_then(|a| a.first().and_then(|x| x.as_bytes()).map(Shown::bytes))
                .unwrap_or(Shown::Absent);
            self.set_value(
                Diff::value("pending entry", Shown::Absent, extra).item(Shown::bytes(group)),
            );
        }
    }

    pub(super) fn check_entries(&mut self, p: &Probes, entries: std::ops::Range<u32>, r: &Reply) {
        let Some(got) = items(r) else {
            self.end = Some(err("XRANGE", r));
            return;
        };
        for (k, ei) in entries.clone().enumerate() {
            let want = &p.entries[ei as usize];
            let wid = id_text(want.id);
            let g = got.get(k).and_then(items);
            let gid = g.and_then(|a| a.first()).and_then(Reply::as_bytes);
            if gid != Some(wid.as_bytes()) {
                let found = gid
                    .map(|b| Shown::Text(String::from_utf8_lossy(b).into_owned()))
                    .unwrap_or(Shown::Absent);
                self.set_value(Diff::value("entry", Shown::Text(wid), found).attr("id"));
                return;
            }
            let gf = g.and_then(|a| a.get(1)).and_then(items).unwrap_or(&[]);
            let n = (want.fields.end - want.fields.start) as usize;
            let same = gf.len() == n
                && want
                    .fields
                    .clone()
                    .zip(gf)
                    .all(|(i, x)| x.as_bytes() == Some(p.elem(i)));
            if !same {
                let fields = |v: &mut dyn Iterator<Item = &[u8]>| {
                    let parts: Vec<String> =
                        v.map(|b| String::from_utf8_lossy(b).into_owned()).collect();
                    let mut s = parts.join(" ");
                    if s.len() > 2 * SHOWN_BYTES {
                        let mut cut = 2 * SHOWN_BYTES;
                        while !s.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        s.truncate(cut);
                        s.push_str("...");
                    }
                    Shown::Text(s)
                };
                let exp = fields(&mut want.fields.clone().map(|i| p.elem(i)));
                let found = fields(&mut gf.iter().map(|x| x.as_bytes().unwrap_or(b"?")));
                self.set_value(
                    Diff::value("entry", exp, found)
                        .item(Shown::Text(wid))
                        .attr("fields"),
                );
                return;
            }
        }
        if got.len() > (entries.end - entries.start) as usize {
            let extra = got[(entries.end - entries.start) as usize]
                .clone()
                .into_array()
                .and_then(|a| {
                    a.first()
                        .and_then(|x| x.as_bytes())
                        .map(|b| Shown::Text(String::from_utf8_lossy(b).into_owned()))
                })
                .unwrap_or(Shown::Absent);
            self.set_value(Diff::value("entry", Shown::Absent, extra).attr("id"));
        }
    }
}
