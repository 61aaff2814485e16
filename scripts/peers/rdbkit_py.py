#!/usr/bin/env python3
"""Benchmark runner for the rdbkit Python package, the counterpart of
rdbpy.py: `rdbkit_py.py parse FILE` iterates every record (value included,
as Python objects) and prints the count."""
import sys

import rdbkit


def main():
    mode, path = sys.argv[1], sys.argv[2]
    assert mode == "parse"
    n = 0
    for _ in rdbkit.open(path):
        n += 1
    print(n)


if __name__ == "__main__":
    main()
