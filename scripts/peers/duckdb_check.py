#!/usr/bin/env python3
"""duckdb_check.py KEYS.parquet MEMORY.json STATS.json: the DuckDB query
`SELECT type, count(*), sum(memory) ... GROUP BY type` over the exported key
table must agree with `rdbkit memory --top 0 --format json` (by_type keys and
bytes) and `rdbkit stats --json` (keys per type). Prints the table; exit 1
on any difference."""
import json
import sys

import duckdb


def main():
    pq, mem, st = sys.argv[1:4]
    rows = duckdb.sql(
        f"SELECT type, count(*), sum(memory) FROM read_parquet('{pq}') GROUP BY type ORDER BY type"
    ).fetchall()
    got = {t: (n, int(m)) for t, n, m in rows}
    by_type = json.load(open(mem))["by_type"]
    want = {t: (v["keys"], v["size_in_bytes"]) for t, v in by_type.items()}
    stats_types = {}
    for db in json.load(open(st))["dbs"].values():
        for t, n in db["types"].items():
            stats_types[t] = stats_types.get(t, 0) + n
    print(f"{'type':8} {'keys':>10} {'sum(memory)':>14}   memory/stats agree")
    ok = True
    for t in sorted(set(got) | set(want)):
        g = got.get(t, (0, 0))
        same = g == want.get(t) and g[0] == stats_types.get(t)
        ok &= same
        print(f"{t:8} {g[0]:>10} {g[1]:>14}   {'yes' if same else 'NO: ' + str(want.get(t))}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
