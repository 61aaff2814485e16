#!/usr/bin/env python3
"""Peer runner for the benchmark: rdb-py (PyPI `rdb-py`, a Rust-powered parser).

  rdbpy.py parse FILE   iterate every item, nothing else (parse-only speed)
  rdbpy.py json FILE    write one JSON object per key to stdout, bytes as
                        UTF-8 strings or {"b64":..} like rdbkit, so both do
                        comparable work
"""
import base64
import json
import sys

import rdb


def b(x):
    try:
        return x.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(x).decode()}


def conv(item):
    t = item["type"]
    out = {"key": b(item["key"]), "type": t, "expire_ms": item.get("expiry")}
    if t == "string":
        out["value"] = b(item["value"])
    elif t == "hash":
        out["value"] = {k.decode("utf-8", "replace"): b(v) for k, v in item["values"].items()}
    elif t == "list":
        out["value"] = [b(v) for v in item["values"]]
    elif t == "set":
        out["value"] = [b(v) for v in item["members"]]
    elif t == "sorted_set":
        out["value"] = [[b(m), s] for s, m in item["values"]]
    return out


def main():
    mode, path = sys.argv[1], sys.argv[2]
    skip = {"select_db", "resize_db", "aux_field", "checksum"}
    if mode == "parse":
        n = 0
        for _ in rdb.RdbDecoder(path):
            n += 1
        print(n)
        return
    w = sys.stdout.write
    dumps = json.dumps
    for item in rdb.RdbDecoder(path):
        if item["type"] in skip:
            continue
        w(dumps(conv(item)))
        w("\n")


if __name__ == "__main__":
    main()
