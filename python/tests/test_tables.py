"""to_parquet / memory / stats: the Parquet read back with pyarrow and with
DuckDB equals the truth (values) and the `memory` rows (key table)."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import rdbkit
from truth import TESTDATA, compare, golden_fixtures

FIXTURES = golden_fixtures()
ID = lambda p: str(p.relative_to(TESTDATA))  # noqa: E731


def _value(row):
    t = row["type"]
    if t == "string":
        return row["value_bytes"]
    if t == "list":
        return row["value_list"]
    if t == "set":
        return set(row["value_list"])
    if t == "zset":
        return [(z["member"], z["score"]) for z in row["value_zset"]]
    if t == "hash":
        return {h["field"]: h["value"] for h in row["value_hash"]}
    if t == "stream":
        s = dict(row["value_stream"])
        s["entries"] = [
            (e["id"], [(f["field"], f["value"]) for f in e["fields"]]) for e in s["entries"]
        ]
        for g in s["groups"]:
            g["pending"] = [
                (p["id"], p["consumer"], p["delivery_count"], p["delivery_time_ms"])
                for p in g["pending"]
            ]
        return s
    return json.loads(row["value_json"])


def _fexp(row):
    if row["type"] != "hash":
        return None
    d = {h["field"]: h["expire_ms"] for h in row["value_hash"] if h["expire_ms"] is not None}
    return d or None


@pytest.mark.parametrize("rdb", FIXTURES, ids=ID)
def test_parquet_values_equal_truth(rdb, tmp_path):
    out = tmp_path / "t.parquet"
    n = rdbkit.to_parquet(rdb, out, values=True, batch_rows=50)
    rows = pq.read_table(out).to_pylist()
    assert n == len(rows)
    ours = [
        (r["db"], r["key"], r["type"], r["expire_ms"], _value(r), _fexp(r)) for r in rows
    ]
    problems = compare(ours, rdb)
    assert not problems, "\n".join(problems[:5])


def _memory_key(k):
    import base64

    return base64.b64decode(k["b64"]) if isinstance(k, dict) else k.encode()


@pytest.mark.parametrize("rdb", FIXTURES, ids=ID)
def test_parquet_key_table_equals_memory_rows(rdb, tmp_path):
    out = tmp_path / "k.parquet"
    rdbkit.to_parquet(rdb, out)
    got = pq.read_table(out).to_pylist()
    want = rdbkit.memory(rdb)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g["key"] == _memory_key(w["key"])
        assert (g["db"], g["type"], g["encoding"]) == (w["database"], w["type"], w["encoding"])
        assert g["memory"] == w["size_in_bytes"]
        assert g["num_elements"] == w["num_elements"]
        assert g["len_largest_element"] == w["len_largest_element"]
        assert g["serialized_bytes"] == w["serialized_bytes"]
        assert g["rdb_encoding"] == w["rdb_encoding"]
        assert g["expire_ms"] == w.get("expire_ms")


def test_memory_as_table_matches_rows():
    p = TESTDATA / "redis-7.4.1/default.rdb"
    t = rdbkit.memory(p, as_table=True)
    assert isinstance(t, pa.Table)
    rows = rdbkit.memory(p)
    assert t.num_rows == len(rows)
    assert t.column("memory").to_pylist() == [r["size_in_bytes"] for r in rows]


def test_duckdb_group_by_agrees_with_stats_and_memory(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    files = [TESTDATA / "redis-7.4.1/default.rdb", TESTDATA / "valkey-8.1.7/default.rdb"]
    out = tmp_path / "fleet.parquet"
    rdbkit.to_parquet(files, out)
    q = f"""SELECT file, type, count(*) AS keys, sum(memory) AS mem
            FROM read_parquet('{out}') GROUP BY file, type ORDER BY file, type"""
    got = {(f, t): (k, m) for f, t, k, m in duckdb.sql(q).fetchall()}
    for f in files:
        want = {}
        for r in rdbkit.memory(f):
            k, m = want.get(r["type"], (0, 0))
            want[r["type"]] = (k + 1, m + r["size_in_bytes"])
        mine = {t: v for (ff, t), v in got.items() if ff == str(f)}
        assert mine == want, f
        by_type = {}
        for db in rdbkit.stats(f)["dbs"].values():
            for t, n in db["types"].items():
                by_type[t] = by_type.get(t, 0) + n
        assert by_type == {t: k for t, (k, _) in mine.items()}


def test_to_parquet_refuses_to_overwrite_its_input(tmp_path):
    p = tmp_path / "in.rdb"
    p.write_bytes((TESTDATA / "redis-7.4.1/default.rdb").read_bytes())
    with pytest.raises(ValueError):
        rdbkit.to_parquet(p, p)


def test_to_parquet_of_a_damaged_file_raises_and_writes_nothing(tmp_path):
    data = (TESTDATA / "redis-7.4.1/default.rdb").read_bytes()
    bad = tmp_path / "cut.rdb"
    bad.write_bytes(data[: len(data) // 3])
    out = tmp_path / "o.parquet"
    with pytest.raises(rdbkit.RdbError) as e:
        rdbkit.to_parquet(bad, out)
    assert isinstance(e.value.offset, int)
    assert sorted(x.name for x in tmp_path.iterdir()) == ["cut.rdb"]
