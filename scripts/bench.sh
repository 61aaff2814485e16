#!/usr/bin/env bash
# Side-by-side benchmark of rdbkit and its peers on the shared benchmark files.
#
#   scripts/bench.sh [--runs N] [--data DIR] [--files "small-keys big-keys"] [--no-peers]
#                    [--sections "parse memory write python"]
#
# Generates the files with scripts/make_rdb.py (a real redis-server, seed 42)
# when they are missing, warms the page cache, then runs every tool N times
# (default 3) on the same file in the same run and prints, per file, the
# median wall time, throughput, peak RSS (/usr/bin/time -v "Maximum resident
# set size") and the ratio of each tool's time to `rdbkit json` (all threads).
# Peers that install from the package registries here are set up in a venv
# under DATA: rdbtools (+python-lzf) and rdb-py. redis-check-rdb comes with
# Debian's redis-tools.
#
# The `memory` section compares `rdbkit memory` (per-key CSV rows; and the
# --top/--by-prefix summary) with `rdbkit stats` on the same file, and with
# `rdbtools -c memory` on small-keys-compat (rdbtools reads RDB <= 10 only and
# needs minutes per million keys, so it runs once, on that file only). rdb-py
# has no memory report.
#
# The `write` section times `rdbkit rdb` / `rdbkit split` (README, "Writing
# RDB files"): the copy path (same version; all keys, and a filter keeping
# about half of them), `split --shards 3`, and `--to redis-6.2` (every
# listpack re-encoded as a ziplist/plain type). Their peak RSS includes the
# input's mapped pages.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${BENCH_DATA:-$ROOT/bench-data}
RUNS=3
FILES="small-keys big-keys"
PEERS=1
SECTIONS="parse memory write"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --files) FILES=$2; shift 2 ;;
    --no-peers) PEERS=0; shift ;;
    --sections) SECTIONS=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--data DIR] [--files LIST] [--no-peers] [--sections \"parse memory\"]" >&2; exit 2 ;;
  esac
done

need() { command -v "$1" >/dev/null 2>&1; }
if ! need redis-server || ! need redis-check-rdb || [ ! -x /usr/bin/time ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools time >/dev/null
  else
    echo "bench: need redis-server, redis-tools and time (apt-get install redis-server redis-tools time)" >&2; exit 1
  fi
fi

# RDBKIT_BIN=PATH times that binary instead of this tree's release build
# (an A/B of two builds in one sitting).
if [ -n "${RDBKIT_BIN:-}" ]; then
  RDBKIT=$RDBKIT_BIN
else
  (cd "$ROOT" && cargo build --release --quiet)
  RDBKIT=$ROOT/target/release/rdbkit
fi
mkdir -p "$DATA"

for f in $FILES; do
  if [ ! -s "$DATA/$f.rdb" ]; then
    case "$f" in
      small-keys) only=small ;; big-keys) only=big ;; small-keys-compat) only=compat ;;
      *) echo "bench: unknown file $f" >&2; exit 2 ;;
    esac
    python3 "$ROOT/scripts/make_rdb.py" --only "$only" --out "$DATA"
  fi
done

VENV=$DATA/venv
if [ "$PEERS" = 1 ] && [ ! -x "$VENV/bin/rdb" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q rdbtools python-lzf rdb-py
  # rdbtools 0.1.15 refuses RDB versions above 9; the compat file is RDB 10
  # without any encoding rdbtools lacks, so relax only the version check.
  sed -i 's/if version < 1 or version > 9:/if version < 1 or version > 10:/' \
    "$VENV"/lib/python3*/site-packages/rdbtools/parser.py
fi

NPROC=$(nproc)
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

# measure NAME CMD...: runs CMD (stdout to /dev/null) RUNS times; prints
# "NAME median_s peak_rss_mb" (peak = max over runs).
measure() {
  local name=$1; shift
  local times=() rss=0
  for _ in $(seq "$RUNS"); do
    if ! /usr/bin/time -v -o "$TMP/t" "$@" >/dev/null 2>"$TMP/err"; then
      echo "$name FAILED $(tail -1 "$TMP/err")" >&2
      echo "$name - -"
      return
    fi
    local wall; wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$TMP/t")
    times+=("$(echo "$wall" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')")
    local r; r=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$TMP/t")
    [ "$r" -gt "$rss" ] && rss=$r
  done
  local med; med=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  echo "$name $med $((rss / 1024))"
}

# table REF ROW...: prints the rows ("NAME median_s peak_mb") with MB/s of
# $bytes and each time as a multiple of REF's.
table() {
  local refname=$1; shift
  local ref; ref=$(printf '%s\n' "$@" | awk -v n="$refname" '$1==n {print $2}')
  printf '%-18s %10s %10s %10s %14s\n' tool "median s" "MB/s" "peak MB" "x $refname"
  for r in "$@"; do
    set -- $r
    if [ "$2" = "-" ]; then printf '%-18s %10s\n' "$1" failed; continue; fi
    awk -v n="$1" -v t="$2" -v m="$3" -v b="$bytes" -v ref="$ref" 'BEGIN {
      mbs = (t > 0) ? b / 1e6 / t : 0;
      printf "%-18s %10.2f %10.0f %10d %14.2f\n", n, t, mbs, m, (ref > 0 ? t / ref : 0) }'
  done
}

has_section() { case " $SECTIONS " in *" $1 "*) return 0 ;; esac; return 1; }

for f in $FILES; do
  has_section parse || break
  file=$DATA/$f.rdb
  bytes=$(stat -c %s "$file")
  cat "$file" >/dev/null  # page cache
  echo
  echo "== $f.rdb: $((bytes / 1000000)) MB, runs=$RUNS, $NPROC cores, $(date -u +%F)"
  rows=()
  rows+=("$(measure "cat" cat "$file")")
  rows+=("$(measure "rdbkit-stats" "$RDBKIT" stats -q "$file")")
  rows+=("$(measure "rdbkit-json-1t" "$RDBKIT" json -q -j 1 "$file")")
  rows+=("$(measure "rdbkit-json-${NPROC}t" "$RDBKIT" json -q "$file")")
  rows+=("$(measure "redis-check-rdb" redis-check-rdb "$file")")
  if [ "$PEERS" = 1 ]; then
    rows+=("$(measure "rdb-py-parse" "$VENV/bin/python" "$ROOT/scripts/peers/rdbpy.py" parse "$file")")
    rows+=("$(measure "rdb-py-json" "$VENV/bin/python" "$ROOT/scripts/peers/rdbpy.py" json "$file")")
    if [ "$f" = small-keys-compat ]; then
      rows+=("$(measure "rdbtools-json" "$VENV/bin/rdb" --command json "$file")")
    fi
  fi
  table "rdbkit-json-${NPROC}t" "${rows[@]}"
done

# --- memory report ----------------------------------------------------------
for f in $FILES; do
  has_section memory || break
  file=$DATA/$f.rdb
  bytes=$(stat -c %s "$file")
  cat "$file" >/dev/null  # page cache
  echo
  echo "== memory: $f.rdb: $((bytes / 1000000)) MB, runs=$RUNS, $NPROC cores, $(date -u +%F)"
  rows=()
  rows+=("$(measure "rdbkit-stats" "$RDBKIT" stats -q "$file")")
  rows+=("$(measure "rdbkit-memory-csv" "$RDBKIT" memory -q "$file")")
  rows+=("$(measure "rdbkit-memory-top" "$RDBKIT" memory -q --top 20 --by-prefix : "$file")")
  rows+=("$(measure "rdbkit-memory-1t" "$RDBKIT" memory -q -j 1 "$file")")
  if [ "$PEERS" = 1 ] && [ "$f" = small-keys-compat ]; then
    saved=$RUNS; RUNS=1
    rows+=("$(measure "rdbtools-memory" "$VENV/bin/rdb" -c memory "$file")")
    RUNS=$saved
  fi
  table "rdbkit-stats" "${rows[@]}"
done

# --- writing RDB files -------------------------------------------------------
for f in $FILES; do
  has_section write || break
  file=$DATA/$f.rdb
  bytes=$(stat -c %s "$file")
  cat "$file" >/dev/null  # page cache
  echo
  echo "== write: $f.rdb: $((bytes / 1000000)) MB, runs=$RUNS, $NPROC cores, $(date -u +%F)"
  rows=()
  rows+=("$(measure "rdbkit-stats" "$RDBKIT" stats -q "$file")")
  rows+=("$(measure "rdb-copy-all" "$RDBKIT" rdb -q "$file" -o "$TMP/out.rdb")")
  rows+=("$(measure "rdb-copy-half" "$RDBKIT" rdb -q "$file" --key '*[02468]' -o "$TMP/out.rdb")")
  rows+=("$(measure "split-shards-3" "$RDBKIT" split -q "$file" --out-dir "$TMP/split" --shards 3)")
  rows+=("$(measure "rdb-to-redis-6.2" "$RDBKIT" rdb -q --lossy "$file" --to redis-6.2 -o "$TMP/out.rdb")")
  rm -rf "$TMP/out.rdb" "$TMP/split"
  table "rdbkit-stats" "${rows[@]}"
done

# The `python` section (not in the default list: it needs the venv of
# scripts/test.sh): export vs memory, rdbkit.open vs rdb-py, DuckDB check.
if has_section python; then
  echo
  "$ROOT/scripts/bench_python.sh" --runs "$RUNS" --file "$DATA/small-keys.rdb"
fi
