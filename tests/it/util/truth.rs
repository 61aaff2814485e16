//! Reading a live server's content back in the truth format of
//! `testdata/README.md` ("Truth format"), and comparing it with a fixture's
//! `.expected.jsonl` through the comparator of `super::common`.
//!
//! What the server reports is read: hash field TTLs (`HPEXPIRETIME`) where
//! the server has them (7.4+), arrays and NACKed stream entries on Redis
//! 8.8+; no consumer `active-time` (7.2+; always `null` here).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use base64::Engine as _;
use serde_json::{json, Map, Value};

use super::common;
use super::resp::{Conn, Reply};

// ---------------------------------------------------------------------------
// Byte strings and maps in the truth format
// ---------------------------------------------------------------------------

/// A byte string: JSON string when valid UTF-8, else `{"b64": ...}`.
pub fn bytes_json(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => json!({ "b64": base64::engine::general_purpose::STANDARD.encode(b) }),
    }
}

/// A byte-keyed map: an object (members in raw key byte order) when every
/// key is valid UTF-8 and no key repeats, else an array of `[key, value]`
/// pairs in raw key byte order.
pub fn map_json(mut pairs: Vec<(Vec<u8>, Value)>) -> Value {
    pairs.sort_by(|a, b| a.0.cmp(&b.0));
    let utf8 = pairs.iter().all(|p| std::str::from_utf8(&p.0).is_ok());
    let unique = pairs.windows(2).all(|w| w[0].0 != w[1].0);
    if utf8 && unique {
        let mut m = Map::new();
        for (k, v) in pairs {
            m.insert(String::from_utf8(k).unwrap(), v);
        }
        Value::Object(m)
    } else {
        Value::Array(
            pairs
                .into_iter()
                .map(|(k, v)| Value::Array(vec![bytes_json(&k), v]))
                .collect(),
        )
    }
}

/// Python `repr()` of a double (the truth's zset score format).
pub fn py_repr(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    // shortest round-trip digits and the decimal exponent
    let e = format!("{f:e}"); // e.g. "-1.2345e-5", "1e300", "0e0"
    let (mant, exp) = e.split_once('e').unwrap();
    let exp: i32 = exp.parse().unwrap();
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let sign = if neg { "-" } else { "" };
    if (-4..16).contains(&exp) {
        let s = if exp < 0 {
            format!("0.{}{}", "0".repeat((-exp - 1) as usize), digits)
        } else {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                format!("{}{}.0", digits, "0".repeat(int_len - digits.len()))
            } else {
                format!("{}.{}", &digits[..int_len], &digits[int_len..])
            }
        };
        format!("{sign}{s}")
    } else {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits
        };
        let es = if exp < 0 { "-" } else { "+" };
        format!("{sign}{m}e{es}{:02}", exp.abs())
    }
}

// ---------------------------------------------------------------------------
// Dumping a server
// ---------------------------------------------------------------------------

/// DB numbers that hold keys (`INFO keyspace`).
pub fn dbs_with_keys(c: &mut Conn) -> Vec<u64> {
    let mut v: Vec<u64> = c
        .info("keyspace")
        .into_iter()
        .filter_map(|(k, _)| k.strip_prefix("db").and_then(|n| n.parse().ok()))
        .collect();
    v.sort();
    v
}

/// Every key of one DB (SCAN), sorted by raw bytes, deduplicated.
pub fn scan_keys(c: &mut Conn, db: u64) -> Vec<Vec<u8>> {
    c.ok(["SELECT", &db.to_string()]);
    let mut keys = BTreeSet::new();
    let mut cursor = b"0".to_vec();
    loop {
        let r = c.must(vec![
            b"SCAN".to_vec(),
            cursor.clone(),
            b"COUNT".to_vec(),
            b"1000".to_vec(),
        ]);
        let a = r.array();
        cursor = a[0].bytes();
        for k in a[1].array() {
            keys.insert(k.bytes());
        }
        if cursor == b"0" {
            break;
        }
    }
    keys.into_iter().collect()
}

/// One key in the truth format (the connection must have SELECTed `db`).
pub fn key_line(c: &mut Conn, db: u64, key: &[u8]) -> Value {
    let k = key;
    let ty = match c.must([b"TYPE" as &[u8], k]) {
        Reply::Status(s) => s,
        other => panic!("TYPE: {other:?}"),
    };
    assert_ne!(
        ty,
        "none",
        "key {} vanished during the dump",
        common::show(k)
    );
    let enc = c.must([b"OBJECT" as &[u8], b"ENCODING", k]).text();
    let pexp = c.int([b"PEXPIRETIME" as &[u8], k]);
    let expire = match pexp {
        -1 => Value::Null,
        -2 => panic!("key {} vanished during the dump", common::show(k)),
        ms => json!(ms),
    };
    let value = match ty.as_str() {
        "string" => bytes_json(&c.bulk([b"GET" as &[u8], k]).expect("GET nil")),
        "list" => Value::Array(
            c.must([b"LRANGE" as &[u8], k, b"0", b"-1"])
                .array()
                .iter()
                .map(|e| bytes_json(&e.bytes()))
                .collect(),
        ),
        "set" => {
            let mut m: Vec<Vec<u8>> = c
                .must([b"SMEMBERS" as &[u8], k])
                .array()
                .iter()
                .map(|e| e.bytes())
                .collect();
            m.sort();
            Value::Array(m.iter().map(|e| bytes_json(e)).collect())
        }
        "zset" => {
            let r = c.must([b"ZRANGE" as &[u8], k, b"0", b"-1", b"WITHSCORES"]);
            let a = r.array();
            let mut pairs: Vec<(Vec<u8>, f64)> = a
                .chunks(2)
                .map(|p| {
                    let s = p[1].text();
                    let f: f64 = s
                        .parse()
                        .unwrap_or_else(|e| panic!("ZRANGE score {s:?}: {e}"));
                    (p[0].bytes(), f)
                })
                .collect();
            pairs.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Array(
                pairs
                    .iter()
                    .map(|(m, s)| json!([bytes_json(m), py_repr(*s)]))
                    .collect(),
            )
        }
        "hash" => {
            let r = c.must([b"HGETALL" as &[u8], k]);
            map_json(
                r.array()
                    .chunks(2)
                    .map(|p| (p[0].bytes(), bytes_json(&p[1].bytes())))
                    .collect(),
            )
        }
        "stream" => stream_value(c, k),
        "array" => array_value(c, k),
        // A module value: TYPE answers the module type's 9-character name;
        // its content is compared by type name only (see compare_module).
        other if other.len() == 9 => Value::Null,
        other => panic!("key {}: unsupported type {other}", common::show(k)),
    };
    let mut line = json!({
        "db": db,
        "key": bytes_json(k),
        "type": ty,
        "encoding": enc,
        "expire_ms": expire,
        "value": value,
    });
    if ty == "hash" {
        if let Some(fe) = field_expire(c, k) {
            line["field_expire_ms"] = fe;
        }
    }
    line
}

/// A hash's field TTLs (`HPEXPIRETIME`, Redis 7.4+), in the truth's
/// object-or-pairs form; `None` when no field has one or the server has no
/// field TTLs.
fn field_expire(c: &mut Conn, key: &[u8]) -> Option<Value> {
    let fields: Vec<Vec<u8>> = c
        .must([b"HKEYS" as &[u8], key])
        .array()
        .iter()
        .map(|f| f.bytes())
        .collect();
    let n = fields.len().to_string();
    let mut args: Vec<&[u8]> = vec![b"HPEXPIRETIME", key, b"FIELDS", n.as_bytes()];
    args.extend(fields.iter().map(|f| f.as_slice()));
    let r = c.try_cmd(args).ok()?;
    if r.is_error() {
        return None;
    }
    let ttls: Vec<(Vec<u8>, Value)> = fields
        .iter()
        .zip(r.array())
        .filter(|(_, t)| t.int() >= 0)
        .map(|(f, t)| (f.clone(), json!(t.int())))
        .collect();
    (!ttls.is_empty()).then(|| map_json(ttls))
}

/// An array (Redis 8.8) as the truth's value: `ARCOUNT`, `ARNEXT` (the
/// next ARINSERT index; the stored cursor is one less, none when 0, 2^64-2
/// when nil) and `ARSCAN` pages of `[index, value]`, in index order.
pub fn array_value(c: &mut Conn, key: &[u8]) -> Value {
    let count = c.int([b"ARCOUNT" as &[u8], key]);
    let insert_idx = match c.must([b"ARNEXT" as &[u8], key]) {
        Reply::Int(0) => Value::Null,
        Reply::Int(n) => json!(n as u64 - 1),
        r if r.is_nil() => json!(u64::MAX - 1),
        other => panic!("ARNEXT: {other:?}"),
    };
    let mut elements = Vec::new();
    let mut start: u64 = 0;
    loop {
        let (s, e) = (start.to_string(), (u64::MAX - 1).to_string());
        let r = c.must([
            b"ARSCAN" as &[u8],
            key,
            s.as_bytes(),
            e.as_bytes(),
            b"LIMIT",
            b"1000",
        ]);
        let page = r.array();
        for p in page {
            let a = p.array();
            elements.push(json!([a[0].int(), bytes_json(&a[1].bytes())]));
        }
        match page.last() {
            Some(p) if page.len() == 1000 => start = p.array()[0].int() as u64 + 1,
            _ => break,
        }
    }
    assert_eq!(
        elements.len() as i64,
        count,
        "ARSCAN vs ARCOUNT of {}",
        common::show(key)
    );
    json!({ "count": count, "insert_idx": insert_idx, "elements": elements })
}

fn id_text(r: &Reply) -> Value {
    Value::String(r.text())
}

/// `XINFO STREAM key FULL COUNT 0` as the truth's stream value.
pub fn stream_value(c: &mut Conn, key: &[u8]) -> Value {
    let r = c.must([b"XINFO" as &[u8], b"STREAM", key, b"FULL", b"COUNT", b"0"]);
    let entries: Vec<Value> = r
        .field("entries")
        .array()
        .iter()
        .map(|e| {
            let a = e.array();
            let fields = a[1]
                .array()
                .chunks(2)
                .map(|p| (p[0].bytes(), bytes_json(&p[1].bytes())))
                .collect();
            json!([id_text(&a[0]), map_json(fields)])
        })
        .collect();
    let mut groups: Vec<(Vec<u8>, Value)> = Vec::new();
    for g in r.field("groups").array() {
        let name = g.field("name").bytes();
        let consumer_names: Vec<Vec<u8>> = g
            .field("consumers")
            .array()
            .iter()
            .map(|c| c.field("name").bytes())
            .collect();
        let mut pending = Vec::new();
        let mut times = Vec::new();
        let mut nacked = Vec::new();
        for p in g.field("pending").array() {
            // [id, consumer, delivery-time, delivery-count]; Redis 8.8 names
            // no consumer ("") for an entry owned by none (NACKed).
            let a = p.array();
            let owner = a[1].bytes();
            let unowned = owner.is_empty() && !consumer_names.contains(&owner);
            if unowned {
                nacked.push(id_text(&a[0]));
            }
            pending.push(json!([
                id_text(&a[0]),
                if unowned {
                    Value::Null
                } else {
                    bytes_json(&owner)
                },
                a[3].int()
            ]));
            times.push((a[0].bytes(), json!(a[2].int())));
        }
        // Servers with XNACK report the NACK zone's size: every unowned
        // entry must be in it (the truth lists the zone in ID order).
        let nacked = match g.opt_field("nacked-count").map(|n| n.int()) {
            Some(n) => {
                assert_eq!(
                    n as usize,
                    nacked.len(),
                    "nacked-count vs unowned PEL entries"
                );
                Value::Array(nacked)
            }
            None => Value::Null,
        };
        let mut consumers = Vec::new();
        let mut seen = Vec::new();
        let mut active = Vec::new();
        let mut any_active = false;
        for cons in g.field("consumers").array() {
            let cname = cons.field("name").bytes();
            seen.push((cname.clone(), json!(cons.field("seen-time").int())));
            if let Some(a) = cons.opt_field("active-time") {
                any_active = true;
                active.push((cname.clone(), json!(a.int())));
            }
            consumers.push(cname);
        }
        consumers.sort();
        let entries_read = match g.field("entries-read").opt_int() {
            Some(n) => json!(n),
            None => Value::Null,
        };
        groups.push((
            name.clone(),
            json!({
                "name": bytes_json(&name),
                "last_delivered_id": id_text(&g.field("last-delivered-id")),
                "entries_read": entries_read,
                "pending": pending,
                "pending_delivery_time_ms": map_json(times),
                "consumers": consumers.iter().map(|c| bytes_json(c)).collect::<Vec<_>>(),
                "consumer_seen_time_ms": map_json(seen),
                "consumer_active_time_ms": if any_active { map_json(active) } else { Value::Null },
                "nacked": nacked,
            }),
        ));
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    let opt_id = |name: &str| match r.opt_field(name) {
        Some(v) if !v.is_nil() => id_text(&v),
        _ => Value::Null,
    };
    json!({
        "entries": entries,
        "last_id": id_text(&r.field("last-generated-id")),
        "length": r.field("length").int(),
        "entries_added": r.opt_field("entries-added").and_then(|v| v.opt_int()),
        "max_deleted_entry_id": opt_id("max-deleted-entry-id"),
        "first_entry_id": opt_id("recorded-first-entry-id"),
        "groups": groups.into_iter().map(|g| g.1).collect::<Vec<_>>(),
    })
}

/// Every key of one DB in the truth format, sorted by raw key bytes.
pub fn dump_db(c: &mut Conn, db: u64) -> Vec<Value> {
    let keys = scan_keys(c, db);
    keys.iter().map(|k| key_line(c, db, k)).collect()
}

/// Every key of every DB of a server, in truth order (DB, raw key bytes).
pub fn dump_server(c: &mut Conn) -> Vec<Value> {
    let mut out = Vec::new();
    for db in dbs_with_keys(c) {
        out.extend(dump_db(c, db));
    }
    c.ok(["SELECT", "0"]);
    out
}

/// Sorts truth lines by (DB, raw key bytes).
pub fn sort_lines(lines: &mut [Value]) {
    lines.sort_by_key(|l| common::ident(l).expect("key line"));
}

/// Every key of DB 0 of every node, merged in truth order.
pub fn dump_nodes<'a, I>(servers: I) -> Vec<Value>
where
    I: IntoIterator<Item = &'a super::server::Server>,
{
    let mut out = Vec::new();
    for s in servers {
        let mut c = s.conn();
        let dbs = dbs_with_keys(&mut c);
        assert!(
            dbs.iter().all(|&d| d == 0),
            "cluster node {} holds DBs {dbs:?}",
            s.port
        );
        out.extend(dump_db(&mut c, 0));
    }
    sort_lines(&mut out);
    out
}

// ---------------------------------------------------------------------------
// Comparing with the truth
// ---------------------------------------------------------------------------

/// Turns one server line (truth format) into the `rdbkit json` shape that
/// `common::compare_key` expects on its "ours" side. Stream members that the
/// truth has as `null` (the file's stream encoding cannot hold them, so a
/// loading server invents them) are nulled, as are group `entries_read`
/// values the truth does not know.
fn as_ours(line: &Value, truth: Option<&Value>) -> Value {
    let mut o = line.as_object().expect("object").clone();
    o.remove("encoding");
    if o.get("expire_ms").is_some_and(Value::is_null) {
        o.remove("expire_ms");
    }
    let ty = o
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let tval = truth.and_then(|t| t.get("value"));
    let value = o.get("value").cloned().unwrap_or(Value::Null);
    match ty.as_str() {
        "zset" => {
            let pairs: Vec<Value> = value
                .as_array()
                .expect("zset value")
                .iter()
                .map(|p| {
                    let s = p[1].as_str().expect("score string");
                    let f: f64 = s.parse().expect("score");
                    let score = if f.is_finite() { json!(f) } else { json!(s) };
                    json!([p[0].clone(), score])
                })
                .collect();
            o.insert("value".into(), Value::Array(pairs));
        }
        "stream" => {
            o.insert("value".into(), stream_as_ours(&value, tval));
        }
        // A module type's name (TYPE): ours says "module" with its name.
        t if t.len() == 9 => {
            o.insert("type".into(), json!("module"));
            o.insert("value".into(), json!({ "module": t, "b64": "" }));
        }
        _ => {}
    }
    Value::Object(o)
}

fn stream_as_ours(v: &Value, t: Option<&Value>) -> Value {
    let truth_null = |name: &str| t.is_none_or(|t| t.get(name).is_none_or(Value::is_null));
    let keep = |name: &str| {
        if truth_null(name) {
            Value::Null
        } else {
            v.get(name).cloned().unwrap_or(Value::Null)
        }
    };
    let tgroups: Vec<Value> = t
        .and_then(|t| t.get("groups"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut groups = Vec::new();
    for g in v
        .get("groups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let tg = tgroups.iter().find(|x| x.get("name") == g.get("name"));
        let entries_read = match tg.and_then(|x| x.get("entries_read")) {
            Some(Value::Null) | None => Value::Null,
            Some(_) => g.get("entries_read").cloned().unwrap_or(Value::Null),
        };
        let times = g
            .get("pending_delivery_time_ms")
            .cloned()
            .unwrap_or(json!({}));
        let pending: Vec<Value> = g
            .get("pending")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|p| {
                let id = p[0].as_str().unwrap();
                json!([
                    p[0],
                    p[1],
                    p[2],
                    times.get(id).cloned().unwrap_or(Value::Null)
                ])
            })
            .collect();
        let seen = common::map_pairs("seen", "server", g.get("consumer_seen_time_ms").unwrap())
            .expect("seen map")
            .into_iter()
            .map(|(k, v)| (k, v.clone()))
            .collect::<Vec<_>>();
        let active: Vec<(Vec<u8>, Value)> = match g.get("consumer_active_time_ms") {
            Some(Value::Null) | None => Vec::new(),
            Some(m) => common::map_pairs("active", "server", m)
                .expect("active map")
                .into_iter()
                .map(|(k, v)| (k, v.clone()))
                .collect(),
        };
        let mut consumers = Vec::new();
        for c in g
            .get("consumers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = common::bytes_of(c).unwrap();
            let mut m = Map::new();
            m.insert("name".into(), c.clone());
            if let Some((_, s)) = seen.iter().find(|x| x.0 == name) {
                m.insert("seen_time_ms".into(), s.clone());
            }
            if let Some((_, a)) = active.iter().find(|x| x.0 == name) {
                m.insert("active_time_ms".into(), a.clone());
            }
            let own: Vec<Value> = pending
                .iter()
                .filter(|p| common::bytes_of(&p[1]).ok().as_deref() == Some(&name[..]))
                .map(|p| p[0].clone())
                .collect();
            m.insert("pending".into(), Value::Array(own));
            consumers.push(Value::Object(m));
        }
        groups.push(json!({
            "name": g.get("name").cloned().unwrap_or(Value::Null),
            "last_delivered_id": g.get("last_delivered_id").cloned().unwrap_or(Value::Null),
            "entries_read": entries_read,
            "pending": pending,
            "consumers": consumers,
            "nacked": g.get("nacked").cloned().unwrap_or(Value::Null),
        }));
    }
    json!({
        "entries": v.get("entries").cloned().unwrap_or(json!([])),
        "length": v.get("length").cloned().unwrap_or(Value::Null),
        "last_id": v.get("last_id").cloned().unwrap_or(Value::Null),
        "first_id": keep("first_entry_id"),
        "max_deleted_id": keep("max_deleted_entry_id"),
        "entries_added": keep("entries_added"),
        "groups": groups,
    })
}

/// Compares a server's content (truth format, from [`dump_server`] /
/// [`dump_nodes`]) with truth lines: every key of the truth present and
/// equal (type, expire_ms exactly, value; `encoding` is not compared), no
/// extra key. Returns the number of keys, or the first difference.
pub fn compare_lines(server: &[Value], truth: &[Value]) -> Result<usize, String> {
    let truth: common::Truth = truth
        .iter()
        .map(|l| (common::ident(l).expect("truth key line"), l.clone()))
        .collect();
    let index: BTreeMap<&common::KeyId, &Value> = truth.iter().map(|(k, v)| (k, v)).collect();
    let ours: Vec<Value> = server
        .iter()
        .map(|l| {
            let id = common::ident(l).expect("server key line");
            as_ours(l, index.get(&id).copied())
        })
        .collect();
    common::compare_fixture(&ours, &truth, false, &[])
}

/// `.expected.jsonl` of a fixture, without the keys whose TTL has run out
/// since the file was written: what a server holds after loading it now
/// (the loader skips them, as a server's own load does). Some fixtures hold
/// keys with TTLs of a day or so from when they were written; those count
/// with [`expired_keys`] once their time has passed.
///
/// Hash fields whose own TTL (`field_expire_ms`) has run out are left out
/// of their hash likewise: a server drops them as it loads the file, and
/// the loader leaves them out of what it sends.
pub fn expected(rdb: &Path) -> Vec<Value> {
    common::read_jsonl(&common::sibling(rdb, ".expected.jsonl"))
        .into_iter()
        .filter(|l| !ran_out(l))
        .map(without_ran_out_fields)
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Whether a truth line's TTL has passed by now.
fn ran_out(line: &Value) -> bool {
    line["expire_ms"].as_i64().is_some_and(|e| e <= now_ms())
}

/// `line` without the hash fields whose TTL has passed by now.
fn without_ran_out_fields(mut line: Value) -> Value {
    let now = now_ms();
    let Some(fe) = line
        .get_mut("field_expire_ms")
        .and_then(Value::as_object_mut)
    else {
        return line;
    };
    let gone: Vec<String> = fe
        .iter()
        .filter(|(_, t)| t.as_i64().is_some_and(|t| t <= now))
        .map(|(f, _)| f.clone())
        .collect();
    if gone.is_empty() {
        return line;
    }
    for f in &gone {
        fe.remove(f);
    }
    if fe.is_empty() {
        line.as_object_mut().unwrap().remove("field_expire_ms");
    }
    if let Some(v) = line.get_mut("value").and_then(Value::as_object_mut) {
        for f in &gone {
            v.remove(f);
        }
    }
    assert!(
        line["value"].as_object().is_none_or(|v| !v.is_empty()),
        "every field of {} has run out: count the key as expired",
        line["key"]
    );
    line
}

/// Lines of `.expired.jsonl` that are whole expired keys (not the
/// `partially_expired` hashes, which are live).
/// With them, the lines of `.expected.jsonl` whose TTL has run out since
/// (see [`expected`]), so that the two together are always the whole file.
pub fn expired_keys(rdb: &Path) -> Vec<Value> {
    common::read_jsonl(&common::sibling(rdb, ".expired.jsonl"))
        .into_iter()
        .filter(|l| l.get("partially_expired") != Some(&Value::Bool(true)))
        .chain(
            common::read_jsonl(&common::sibling(rdb, ".expected.jsonl"))
                .into_iter()
                .filter(ran_out),
        )
        .collect()
}

/// Truth lines with their DB renumbered by `map` (`--db-map`).
pub fn remap_db(lines: &[Value], map: &[(u64, u64)]) -> Vec<Value> {
    let mut out: Vec<Value> = lines
        .iter()
        .map(|l| {
            let mut l = l.clone();
            let db = l["db"].as_u64().unwrap();
            if let Some((_, to)) = map.iter().find(|(from, _)| *from == db) {
                l["db"] = json!(to);
            }
            l
        })
        .collect();
    sort_lines(&mut out);
    out
}

// ---------------------------------------------------------------------------
// Functions
// ---------------------------------------------------------------------------

/// `(library name, code)` of every library (`FUNCTION LIST WITHCODE`), sorted.
pub fn function_libs(c: &mut Conn) -> Vec<(String, String)> {
    let r = c.must(["FUNCTION", "LIST", "WITHCODE"]);
    let mut v: Vec<(String, String)> = r
        .array()
        .iter()
        .map(|l| {
            (
                l.field("library_name").text(),
                l.field("library_code").text(),
            )
        })
        .collect();
    v.sort();
    v
}

/// `(library name, code)` of the fixture's `meta.json` → `functions`, sorted.
pub fn expected_functions(rdb: &Path) -> Vec<(String, String)> {
    let meta = common::meta_json(rdb);
    let mut v: Vec<(String, String)> = meta
        .get("functions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| {
            (
                f["library_name"].as_str().unwrap().to_string(),
                f["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// Compares the server's function libraries with the fixture's.
pub fn compare_functions(c: &mut Conn, rdb: &Path) -> Result<(), String> {
    let have = function_libs(c);
    let want = expected_functions(rdb);
    if have != want {
        let names = |v: &[(String, String)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
        return Err(format!(
            "function libraries: server {:?}, truth {:?}{}",
            names(&have),
            names(&want),
            if names(&have) == names(&want) {
                " (same names, different code)"
            } else {
                ""
            }
        ));
    }
    Ok(())
}

/// Compares one `rdbkit json` line (ours) with one server line (truth
/// format) via `common::compare_key`. Stream members that our line does
/// not have (the file's stream encoding cannot hold them; a loading server
/// invents them) are nulled on the server side first.
pub fn compare_json_line(ours: &Value, server: &Value) -> Result<(), String> {
    let mut t = server.clone();
    if t["type"] == "stream" {
        let ov = &ours["value"];
        let absent = |name: &str| ov.get(name).is_none_or(Value::is_null);
        for (o, s) in [
            ("first_id", "first_entry_id"),
            ("max_deleted_id", "max_deleted_entry_id"),
            ("entries_added", "entries_added"),
        ] {
            if absent(o) {
                t["value"][s] = Value::Null;
            }
        }
        let ogroups = ov
            .get("groups")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if let Some(groups) = t["value"].get_mut("groups").and_then(Value::as_array_mut) {
            for g in groups {
                let og = ogroups.iter().find(|x| x.get("name") == g.get("name"));
                if og.is_none_or(|x| x.get("entries_read").is_none_or(Value::is_null)) {
                    g["entries_read"] = Value::Null;
                }
            }
        }
    }
    common::compare_key(ours, &t)
}

// ---------------------------------------------------------------------------
// command mode
// ---------------------------------------------------------------------------

/// What plain commands cannot carry into Redis 7.0, removed from both sides:
/// hash field TTLs (7.0 has none; `--lossy` drops them), consumers' seen and
/// active times (set by the server when the consumer is created).
pub fn strip_uncarried(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| {
            let mut l = l.clone();
            if let Some(o) = l.as_object_mut() {
                o.remove("field_expire_ms");
                o.remove("encoding");
                if let Some(groups) = o
                    .get_mut("value")
                    .and_then(|v| v.get_mut("groups"))
                    .and_then(|g| g.as_array_mut())
                {
                    for g in groups {
                        if let Some(g) = g.as_object_mut() {
                            // Every consumer keeps a seen time, all the same.
                            let names: Vec<Value> = g
                                .get("consumers")
                                .and_then(Value::as_array)
                                .cloned()
                                .unwrap_or_default();
                            let seen: Vec<Value> = names.iter().map(|n| json!([n, 0])).collect();
                            g.insert("consumer_seen_time_ms".into(), Value::Array(seen));
                            g.insert("consumer_active_time_ms".into(), Value::Null);
                        }
                    }
                }
            }
            l
        })
        .collect()
}

/// Every fixture with a truth whose keys can all be written as commands
/// (no module-typed keys), of any RDB version.
pub fn command_mode_fixtures() -> Vec<std::path::PathBuf> {
    let negative = super::run::negative_entries();
    common::all_rdb_files()
        .into_iter()
        .filter(|p| common::sibling(p, ".expected.jsonl").exists())
        .filter(|p| {
            !negative.iter().any(|(sec, np)| {
                np == p
                    && sec != "loadable only by an older server"
                    && !sec.contains("rewritten")
                    && !sec.contains("vendor")
            })
        })
        .filter(|p| {
            expected(p).iter().all(|l| {
                matches!(
                    l["type"].as_str(),
                    Some("string" | "list" | "set" | "zset" | "hash" | "stream")
                )
            })
        })
        .collect()
}

/// The truth of a fixture as command mode can rebuild it in Redis 7.0:
/// [`strip_uncarried`], and for the two files whose stored stream `length`
/// disagrees with the entries they hold (120 vs 118, 130 vs 128; the server
/// reports the stored number) the real entry count, which is all commands
/// can create.
pub fn command_mode_truth(rdb: &Path) -> Vec<Value> {
    let inconsistent_length = [
        "hdt3213-rdb/stream_listpacks_1.rdb",
        "redis-replicator/dump-stream.rdb",
    ];
    let mut truth = expected(rdb);
    if inconsistent_length
        .iter()
        .any(|f| common::rel(rdb).ends_with(f))
    {
        for l in truth.iter_mut() {
            if l["type"] == "stream" {
                let n = l["value"]["entries"]
                    .as_array()
                    .map(|a| a.len())
                    .unwrap_or(0);
                l["value"]["length"] = json!(n);
            }
        }
    }
    strip_uncarried(&truth)
}
