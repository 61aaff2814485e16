#!/usr/bin/env bash
# The export and Python figures of issue 18, on one file (default
# bench-data/small-keys.rdb), timed with /usr/bin/time -v (A and B in
# turn, medians of wall and CPU seconds, largest peak RSS):
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

# one NAME CMD...: one run; appends "wall cpu rss_kb" to $TMP/NAME.
one() {
  local name=$1; shift
  /usr/bin/time -v -o "$TMP/t" "$@" >/dev/null 2>"$TMP/err" \
    || { echo "$name FAILED: $(tail -1 "$TMP/err")" >&2; exit 1; }
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,p,":"); w=(n==3)?p[1]*3600+p[2]*60+p[3]:p[1]*60+p[2]}
    /User time/ {u=$2} /System time/ {s=$2} /Maximum resident/ {r=$2}
    END {print w, u+s, r}' "$TMP/t" >>"$TMP/$name"
}

# med FILE COL: the median of a column.
med() { awk -v c="$2" '{print $c}' "$1" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# pair "A CMD" "B CMD": RUNS runs of each in turn (after one warm-up
# each); medians, peak RSS and the ratio A/B of the median walls.
pair() {
  rm -f "$TMP/A" "$TMP/B"
  $1 >/dev/null 2>&1; $2 >/dev/null 2>&1
  for _ in $(seq "$RUNS"); do one A $1; one B $2; done
  for x in A B; do
    printf '%s: wall %ss (median of %s), cpu %ss, peak RSS %s MB\n' "$x" \
      "$(med "$TMP/$x" 1)" "$RUNS" "$(med "$TMP/$x" 2)" \
      "$(awk '$3>m {m=$3} END {printf "%.0f", m/1024}' "$TMP/$x")"
  done
  echo "A/B wall: $(awk -v a="$(med "$TMP/A" 1)" -v b="$(med "$TMP/B" 1)" 'BEGIN {printf "%.2f", a/b}')"
}

echo "== 1. every record into Python objects: rdbkit.open (A) vs rdb-py (B)"
pair "$PY $ROOT/scripts/peers/rdbkit_py.py parse $FILE" \
  "$PY $ROOT/scripts/peers/rdbpy.py parse $FILE"

echo "== 2. export --format parquet (A) vs memory -o CSV (B)"
pair "$BIN export $FILE -q -o $TMP/k.parquet" "$BIN memory $FILE -q -o $TMP/m.csv"
/usr/bin/time -v "$BIN" export "$FILE" -q -o "$TMP/k.parquet" 2>"$TMP/time"
echo "export peak RSS: $(awk '/Maximum resident/ {printf "%.0f MB", $6/1024}' "$TMP/time"), parquet $(du -m "$TMP/k.parquet" | cut -f1) MB"

echo "== 3. DuckDB over the Parquet vs rdbkit memory / stats"
"$BIN" memory "$FILE" -q --top 0 --format json >"$TMP/mem.json"
"$BIN" stats "$FILE" -q --json >"$TMP/stats.json"
"$PY" -m pip show -q duckdb >/dev/null 2>&1 || "$VENV/bin/pip" install -q duckdb
"$PY" "$ROOT/scripts/peers/duckdb_check.py" "$TMP/k.parquet" "$TMP/mem.json" "$TMP/stats.json"
