"""The fixtures' ground truth (testdata/**/X.expected.jsonl, written from
what a real server reported) and normalisers that put rdbkit's Python
objects and the truth in the same comparable shape."""

import base64
import json
import math
from pathlib import Path

TESTDATA = Path(__file__).resolve().parents[2] / "testdata"
PLAIN = {"string", "list", "set", "zset", "hash", "stream", "array"}


def golden_fixtures():
    return sorted(
        p for p in TESTDATA.rglob("*.rdb") if p.with_name(p.stem + ".expected.jsonl").exists()
    )


def b(v):
    """A truth byte string: JSON string (UTF-8) or {"b64": ...}."""
    if isinstance(v, dict):
        return base64.b64decode(v["b64"])
    return v.encode("utf-8")


def pairs(v):
    """A truth map: {field: value} or [[field, value], ...]."""
    if isinstance(v, dict):
        return [(b(k), x) for k, x in v.items()]
    return [(b(k), x) for k, x in v]


def _jsonl(p):
    if not p.exists():
        return []
    return [json.loads(line) for line in p.read_text("utf-8").splitlines() if line.strip()]


def truth(rdb):
    """{(db, key): line}: .expected ∪ .expired (a partially_expired line
    replaces the expected one)."""
    out = {}
    for line in _jsonl(rdb.with_name(rdb.stem + ".expected.jsonl")):
        out[(line["db"], b(line["key"]))] = line
    for line in _jsonl(rdb.with_name(rdb.stem + ".expired.jsonl")):
        line.pop("partially_expired", None)
        out[(line["db"], b(line["key"]))] = line
    return out


def skipped_empty(rdb):
    """Keys the loading server skipped as empty collections (meta.json log)."""
    meta = rdb.with_name(rdb.stem + ".meta.json")
    if not meta.exists():
        return set()
    names = set()
    for a in json.loads(meta.read_text("utf-8")).get("attempts", []):
        if a.get("loaded") is True:
            for line in a.get("log", []):
                if "skipping empty key: " in line:
                    names.add(line.split("skipping empty key: ", 1)[1].rstrip().encode())
    return names


def score(s):
    return float(s)


def same_score(a, c):
    return (math.isnan(a) and math.isnan(c)) or a == c


def norm_truth_value(t, v):
    if t == "string":
        return b(v)
    if t == "list":
        return [b(x) for x in v]
    if t == "set":
        return sorted(b(x) for x in v)
    if t == "zset":
        return sorted((b(m), score(s)) for m, s in v)
    if t == "hash":
        return sorted((k, b(x)) for k, x in pairs(v))
    if t == "stream":
        return norm_truth_stream(v)
    return None


def norm_truth_stream(v):
    groups = []
    for g in v["groups"]:
        times = g["pending_delivery_time_ms"]
        seen = dict(pairs(g["consumer_seen_time_ms"]))
        groups.append(
            {
                "name": b(g["name"]),
                "last_delivered_id": g["last_delivered_id"],
                "entries_read": g["entries_read"],
                "pending": sorted(
                    (i, b(c) if c is not None else None, n, times[i]) for i, c, n in g["pending"]
                ),
                "consumers": sorted((b(c), seen[b(c)]) for c in g["consumers"]),
            }
        )
    return {
        # the truth lists an entry's fields in raw-byte order, not stored order
        "entries": [(i, sorted((k, b(x)) for k, x in pairs(f))) for i, f in v["entries"]],
        "last_id": v["last_id"],
        "length": v["length"],
        "entries_added": v.get("entries_added"),
        "max_deleted_id": v.get("max_deleted_entry_id"),
        "first_id": v.get("first_entry_id"),
        "groups": sorted(groups, key=lambda g: g["name"]),
    }


def norm_ours_value(t, v):
    """rdbkit's Python value in the shape of norm_truth_value."""
    if t == "string":
        return v
    if t == "list":
        return list(v)
    if t == "set":
        return sorted(v)
    if t == "zset":
        return sorted((m, float(s)) for m, s in v)
    if t == "hash":
        return sorted(v.items())
    if t == "stream":
        return norm_ours_stream(v)
    return None


def norm_ours_stream(v):
    groups = []
    for g in v["groups"]:
        er = g["entries_read"]
        groups.append(
            {
                "name": g["name"],
                "last_delivered_id": g["last_delivered_id"],
                "entries_read": None if er in (-1, 2**64 - 1) else er,
                "pending": sorted(tuple(p) for p in g["pending"]),
                "consumers": sorted((c["name"], c["seen_time_ms"]) for c in g["consumers"]),
            }
        )
    return {
        "entries": [(i, sorted((k, x) for k, x in f)) for i, f in v["entries"]],
        "last_id": v["last_id"],
        "length": v["length"],
        "entries_added": v["entries_added"],
        "max_deleted_id": v["max_deleted_id"],
        "first_id": v["first_id"],
        "groups": sorted(groups, key=lambda g: g["name"]),
    }


def compare(ours, rdb):
    """ours: list of (db, key, type, expire_ms, value, field_expire_ms) with
    Python-native values. Returns a list of problems (empty: equal)."""
    want = truth(rdb)
    empty_ok = skipped_empty(rdb)
    seen = set()
    problems = []
    for db, key, t, exp, value, fexp in ours:
        line = want.get((db, key))
        if line is None:
            if key in empty_ok and not value:
                continue
            problems.append(f"extra key {db}:{key!r}")
            continue
        if (db, key) in seen:
            problems.append(f"duplicate {db}:{key!r}")
        seen.add((db, key))
        tt = line["type"] if line["type"] in PLAIN else "module"
        if t != tt:
            problems.append(f"{key!r}: type {t} vs {tt}")
            continue
        if exp != line.get("expire_ms"):
            problems.append(f"{key!r}: expire_ms {exp} vs {line.get('expire_ms')}")
        if tt in ("module", "array"):
            continue
        o, w = norm_ours_value(t, value), norm_truth_value(t, line["value"])
        if tt == "stream":
            _clear_unknown_entries_read(o, w)
        if o != w:
            problems.append(f"{key!r}: value differs:\n  ours  {o!r:.300}\n  truth {w!r:.300}")
        if tt == "hash":
            tf = sorted((k, x) for k, x in pairs(line.get("field_expire_ms") or {}))
            of = sorted((fexp or {}).items())
            if of != tf:
                problems.append(f"{key!r}: field_expire_ms {of} vs {tf}")
    missing = [k for k in want if k not in seen]
    if missing:
        problems.append(f"{len(missing)} keys missing, e.g. {missing[0]!r}")
    return problems


def _clear_unknown_entries_read(o, w):
    """The truth's entries_read is null when the server holds no valid
    value; compare it only where the truth knows it."""
    for go, gw in zip(o["groups"], w["groups"]):
        if gw["entries_read"] is None:
            go["entries_read"] = None
