#!/usr/bin/env bash
# The export and Python figures of issue 18, on one file (default
# bench-data/small-keys.rdb), with farm-bench (A/B in turn, medians):
#
#   1. iterating every record into Python objects: rdbkit.open vs rdb-py
#      (PyPI `rdb-py`, its Rust core) doing the same (scripts/peers/*.py);
#   2. `rdbkit export --format parquet` (key table) vs `rdbkit memory -o`
#      (per-key CSV rows), and the export's peak RSS;
#   3. DuckDB over the Parquet: SELECT type, count(*), sum(memory) GROUP BY
#      type, checked against `rdbkit memory` and `rdbkit stats`.
#
#   scripts/bench_python.sh [--runs N] [--file PATH]
#
# Needs the venv that scripts/test.sh makes (target/pyenv, with the rdbkit
# wheel); adds rdb-py to it. The machine is shared: quote medians, and read
# min/max as the noise.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=5
FILE=${BENCH_DATA:-$ROOT/bench-data}/small-keys.rdb
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --file) FILE=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--file PATH]" >&2; exit 2 ;;
  esac
done
VENV=$ROOT/target/pyenv
BIN=$ROOT/target/release/rdbkit
[ -x "$VENV/bin/python" ] || { echo "run scripts/test.sh first (target/pyenv)" >&2; exit 1; }
[ -x "$BIN" ] || cargo build --release --manifest-path "$ROOT/Cargo.toml"
"$VENV/bin/python" -c 'import rdb' 2>/dev/null || "$VENV/bin/pip" install -q rdb-py
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PY=$VENV/bin/python
TIMEOUT=3000

echo "== 1. every record into Python objects: rdbkit.open (A) vs rdb-py (B)"
farm-bench -n "$RUNS" --timeout "$TIMEOUT" \
  --vs "$PY $ROOT/scripts/peers/rdbpy.py parse $FILE" \
  -- "$PY" "$ROOT/scripts/peers/rdbkit_py.py" parse "$FILE"

echo "== 2. export --format parquet (A) vs memory -o CSV (B)"
farm-bench -n "$RUNS" --timeout "$TIMEOUT" \
  --vs "$BIN memory $FILE -q -o $TMP/m.csv" \
  -- "$BIN" export "$FILE" -q -o "$TMP/k.parquet"
/usr/bin/time -v "$BIN" export "$FILE" -q -o "$TMP/k.parquet" 2>"$TMP/time"
echo "export peak RSS: $(awk '/Maximum resident/ {printf "%.0f MB", $6/1024}' "$TMP/time"), parquet $(du -m "$TMP/k.parquet" | cut -f1) MB"

echo "== 3. DuckDB over the Parquet vs rdbkit memory / stats"
"$BIN" memory "$FILE" -q --top 0 --format json >"$TMP/mem.json"
"$BIN" stats "$FILE" -q --json >"$TMP/stats.json"
"$PY" -m pip show -q duckdb >/dev/null 2>&1 || "$VENV/bin/pip" install -q duckdb
"$PY" "$ROOT/scripts/peers/duckdb_check.py" "$TMP/k.parquet" "$TMP/mem.json" "$TMP/stats.json"
