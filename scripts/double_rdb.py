#!/usr/bin/env python3
"""Write an RDB twice the size of IN: everything between the header and the
EOF opcode (aux fields, SELECTDB, keys) appears twice, so every key is there
twice (duplicate keys are fine for the json/stats benchmarks). The checksum
trailer is zero ("checksum disabled"). Used by scripts/bench.sh to show that
rdbkit's memory does not grow with the file size.

  double_rdb.py IN OUT
"""
import sys

src, dst = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()
if data[:5] != b"REDIS":
    sys.exit("only REDIS-magic files")
version = int(data[5:9])
eof = len(data) - (9 if version >= 5 else 1)
if data[eof] != 0xFF:
    sys.exit("EOF opcode not where expected (trailing bytes?)")
with open(dst, "wb") as out:
    out.write(data[:eof])
    out.write(data[9:eof])
    out.write(b"\xff" + (b"\x00" * 8 if version >= 5 else b""))
