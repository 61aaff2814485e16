#!/usr/bin/env python3
"""Adds to a server filled by ../../shared/fixtures/newest/fill.py (or an empty
one) what that script does not cover for Redis 8.8 (RDB 14): big and sparse
arrays (several slices, the super-directory of very sparse arrays), every
element tag and the edges between them, insert cursors, arrays in several dbs
with far-future TTLs, and streams whose groups hold many NACKed entries with
different delivery counts. Then SAVE. Usage: fill_more.py PORT"""
import sys

import redis

port = int(sys.argv[1])
FAR_MS = 4102444800000  # 2100-01-01: never expires while these files are used


def cli(db):
    c = redis.Redis(host="127.0.0.1", port=port, db=db, protocol=2)
    c.response_callbacks.clear()
    return c


r = cli(0)
x = r.execute_command

# Arrays: dense, three slices of 4096 indices, values of every tag.
vals = []
for i in range(10000):
    v = [str(i), f"{i}.5", f"s{i}", "L" * (i % 50)][i % 4] or "empty-is-not-allowed"
    vals.append(v)
for i in range(0, len(vals), 500):
    x("ARSET", "arr:big:dense", i, *vals[i:i + 500])
# Very sparse: 2000 elements a million indices apart (super-directory mode).
for i in range(0, 2000, 200):
    args = []
    for j in range(i, i + 200):
        args += [j * 1_000_003, f"v{j}"]
    x("ARMSET", "arr:big:sparse", *args)
# Tag edges: small strings up to 7 bytes, 8+ byte strings, integers at the
# 62-bit inline limit and beyond, floats in arFormatFloat form, lookalikes.
x("ARMSET", "arr:edges",
  0, "a", 1, "abcdefg", 2, "abcdefgh", 3, "007", 4, "12", 5, "-0",
  6, "2305843009213693951", 7, "2305843009213693952", 8, "-2305843009213693952",
  9, "-2305843009213693953", 10, "-0.0", 11, "100.0", 12, "0.1", 13, "3.0000000000000004",
  14, "1.5e3", 15, "123456789012345678.0", 16, "\x00\xff\x01", 17, "é", 18, " 5", 19, "+5")
# Compressible long strings (LZF in the file).
x("ARMSET", "arr:lzf", 1, "z" * 5000, 3, "abc" * 1000)
# Insert cursors: after ARINSERT, after ARSEEK far away, reset by ARSEEK 0.
x("ARINSERT", "arr:cursor:insert", "a", "b", "c", "d")
x("ARSET", "arr:cursor:seek", 7, "x")
x("ARSEEK", "arr:cursor:seek", 4611686018427387904)
x("ARINSERT", "arr:cursor:reset", "p", "q")
x("ARSEEK", "arr:cursor:reset", 0)
# Holes punched into a dense run; a ring buffer that wrapped twice.
x("ARSET", "arr:holes", 0, *[f"h{i}" for i in range(100)])
x("ARDELRANGE", "arr:holes", 10, 89)
x("ARRING", "arr:ring:wrapped", 5, *[f"r{i}" for i in range(12)])
x("PEXPIREAT", "arr:edges", FAR_MS)
for db in (1, 2, 15):
    c = cli(db)
    c.execute_command("ARMSET", f"db{db}:arr", 0, db, 1 << 40, f"far in db {db}")
    c.execute_command("PEXPIREAT", f"db{db}:arr", FAR_MS + db)

# Streams with big NACK zones: 300 entries, 200 delivered to three
# consumers, 150 of them NACKed in runs of different delivery counts.
for i in range(300):
    x("XADD", "stream:nack:big", f"{5000 + i}-{i % 3}", "i", i, "pad", "q" * (i % 40))
x("XGROUP", "CREATE", "stream:nack:big", "gA", "0")
x("XGROUP", "CREATE", "stream:nack:big", "gB", "0")
for who, n in (("c1", 80), ("c2", 70), ("c3", 50)):
    x("XREADGROUP", "GROUP", "gA", who, "COUNT", n, "STREAMS", "stream:nack:big", ">")
pend = [p[0] for p in x("XPENDING", "stream:nack:big", "gA", "-", "+", 300)]
for k, mode in enumerate(("SILENT", "FAIL", "FATAL")):
    ids = pend[k * 50:(k + 1) * 50:1]
    extra = ["RETRYCOUNT", 7 + k] if mode == "FAIL" else []
    x("XNACK", "stream:nack:big", "gA", mode, "IDS", len(ids), *ids, *extra)
x("XREADGROUP", "GROUP", "gB", "solo", "COUNT", 10, "STREAMS", "stream:nack:big", ">")
pb = [p[0] for p in x("XPENDING", "stream:nack:big", "gB", "-", "+", 10)]
x("XNACK", "stream:nack:big", "gB", "FAIL", "IDS", 10, *pb)
x("PEXPIREAT", "stream:nack:big", FAR_MS)
s1 = cli(1)
for i in range(5):
    s1.execute_command("XADD", "db1:stream:nack", f"{i + 1}-0", "f", i)
s1.execute_command("XGROUP", "CREATE", "db1:stream:nack", "g", "0")
s1.execute_command("XREADGROUP", "GROUP", "g", "w", "COUNT", 3, "STREAMS", "db1:stream:nack", ">")
s1.execute_command("XNACK", "db1:stream:nack", "g", "SILENT", "IDS", 1, "2-0")

print("dbsize0", x("DBSIZE"))
print("SAVE:", x("SAVE"))
