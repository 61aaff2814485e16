#!/usr/bin/env bash
# Load benchmark: how fast `rdbkit load` fills a fresh standalone
# redis-server, next to the target's own limits, on the same file:
#   (a) redis-cli --pipe of the same RESTORE commands (`rdbkit resp` output,
#       prepared beforehand): no client cost, so the server's RESTORE rate;
#   (b) the server loading the RDB itself at start-up ("DB loaded from disk");
#   rdbkit load: wall time, peak RSS of rdbkit, and the server's CPU share
#       during the load (utime+stime of redis-server / wall);
#   rdbkit load --mode replicate: wall time and peak RSS, into another fresh
#       server (REPL_ARGS="--key 'a*'" etc. adds flags to that run only;
#       REPL_RDB=FILE replicates another file, e.g. the same keys written as
#       RDB 12 with `rdbkit rdb --to redis-7.4`, converted on the fly).
#   Rows of issue 16: --file small-keys, --file big-keys, REPL_ARGS with a
#   filter keeping half the keys ("--key '*[02468]'"), and REPL_RDB.
#
#   RDBKIT_BIN=PATH times that binary instead of this tree's release build
#   (an A/B of two builds in one sitting: run the script once per binary);
#   a build without --mode replicate gets no replicate row.
#
#   scripts/bench_load.sh [--runs N] [--data DIR] [--file small-keys]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${BENCH_DATA:-$ROOT/bench-data}
RUNS=3
FILE=small-keys
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --data) DATA=$2; shift 2 ;;
    --file) FILE=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--data DIR] [--file NAME]" >&2; exit 2 ;;
  esac
done
RDB=$DATA/$FILE.rdb
[ -s "$RDB" ] || python3 "$ROOT/scripts/make_rdb.py" --only small --out "$DATA"
if [ -n "${RDBKIT_BIN:-}" ]; then
  RDBKIT=$RDBKIT_BIN
else
  (cd "$ROOT" && cargo build --release --quiet)
  RDBKIT=$ROOT/target/release/rdbkit
fi
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

. "$ROOT/scripts/bench_server.sh"
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

cat "$RDB" > /dev/null
"$RDBKIT" resp -q "$RDB" -o "$TMP/cmds.resp"
HZ=$(getconf CLK_TCK)
HAS_REPL=0
"$RDBKIT" load --help | grep -q replicate && HAS_REPL=1

pipe_t=(); load_t=(); load_rss=(); load_cpu=(); boot_t=(); repl_t=(); repl_rss=()
for i in $(seq "$RUNS"); do
  mkdir -p "$TMP/s$i" && port=$(free_port) && pid=$(start_server "$TMP/s$i" "$port")
  t0=$(date +%s.%N)
  redis-cli -p "$port" --pipe < "$TMP/cmds.resp" > "$TMP/pipe.out"
  t1=$(date +%s.%N)
  grep -q "errors: 0" "$TMP/pipe.out" || { cat "$TMP/pipe.out"; exit 1; }
  pipe_t+=("$(calc "$t1 - $t0")")
  redis-cli -p "$port" flushall > /dev/null
  c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$TMP/rss" "$RDBKIT" load -q "$RDB" --target "redis://127.0.0.1:$port" --json > "$TMP/sum.json"
  t1=$(date +%s.%N); c1=$(cpu_ticks "$pid")
  grep -q '"balanced":true' "$TMP/sum.json" || { cat "$TMP/sum.json"; exit 1; }
  w=$(calc "$t1 - $t0")
  load_t+=("$w"); load_rss+=("$(cat "$TMP/rss")")
  load_cpu+=("$(calc "100 * ($c1 - $c0) / $HZ / $w")")
  kill -9 "$pid" 2>/dev/null || true
  # rdbkit load --mode replicate into another fresh server
  if [ "$HAS_REPL" = 1 ]; then
  mkdir -p "$TMP/r$i" && port=$(free_port) && pid=$(start_server "$TMP/r$i" "$port")
  t0=$(date +%s.%N)
  eval /usr/bin/time -f "%M" -o "$TMP/rss" "$RDBKIT" load -q "${REPL_RDB:-$RDB}" --target "redis://127.0.0.1:$port" \
    --mode replicate --json "${REPL_ARGS:-}" > "$TMP/sum.json"
  t1=$(date +%s.%N)
  grep -q '"ending":"completed"' "$TMP/sum.json" || { cat "$TMP/sum.json"; exit 1; }
  repl_t+=("$(calc "$t1 - $t0")"); repl_rss+=("$(cat "$TMP/rss")")
  kill -9 "$pid" 2>/dev/null || true
  rm -rf "$TMP/r$i"
  fi
  # (b) the server loads the file itself at start-up
  mkdir -p "$TMP/b$i" && cp "$RDB" "$TMP/b$i/dump.rdb" && port=$(free_port)
  pid=$(start_server "$TMP/b$i" "$port")
  boot_t+=("$(grep -o 'DB loaded from disk: [0-9.]* seconds' "$TMP/b$i/log" | awk '{print $5}')")
  kill -9 "$pid" 2>/dev/null || true
  rm -rf "$TMP/b$i" "$TMP/s$i"
done

p=$(printf '%s\n' "${pipe_t[@]}" | median)
l=$(printf '%s\n' "${load_t[@]}" | median)
b=$(printf '%s\n' "${boot_t[@]}" | median)
r=$(printf '%s\n' "${load_rss[@]}" | sort -n | tail -1)
c=$(printf '%s\n' "${load_cpu[@]}" | median)
if [ "$HAS_REPL" = 1 ]; then
  rt=$(printf '%s\n' "${repl_t[@]}" | median)
  rr=$(printf '%s\n' "${repl_rss[@]}" | sort -n | tail -1)
fi
echo "== load of $FILE.rdb into redis-server $(redis-server --version | awk '{print $3}'), runs=$RUNS (medians)"
printf '%-34s %8s s\n' "(a) redis-cli --pipe of RESTOREs" "$p"
printf '%-34s %8s s\n' "(b) server loads the RDB at start" "$b"
printf '%-34s %8s s   ratio to (a) %s   peak RSS %d MB   server CPU %s%%\n' "rdbkit load" "$l" \
  "$(calc "$l / $p")" "$((r / 1024))" "$c"
[ "$HAS_REPL" = 1 ] || exit 0
printf '%-34s %8s s   ratio to (b) %s   to (a) %s   peak RSS %d MB\n' "rdbkit load --mode replicate" "$rt" \
  "$(calc "$rt / $b")" "$(calc "$rt / $p")" "$((rr / 1024))"
