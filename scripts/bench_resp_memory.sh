#!/usr/bin/env bash
# Memory check for huge keys (issue 19): peak anonymous RSS of `rdbkit resp`
# (RESTORE and command mode) on a file whose keys are each far bigger than
# that, next to `rdbkit json` and `rdbkit load` on the same file.
#
# The file is made by a real redis-server (filled with pipelined
# `redis-cli --pipe`, then SAVEd): a 2M-field hash, a 1M-element list, a
# 400 MB string of random bytes (stored raw) and a 100 MB compressible
# string (stored LZF-compressed). Peak RssAnon is polled from
# /proc/PID/status every 10 ms while each command runs; `load` goes into a
# fresh local redis-server on a free loopback port.
#
#   scripts/bench_resp_memory.sh [--data DIR] [--limit-mb 64]
#
# Exits 1 when `resp` or `resp --mode commands` peaks at or above the limit.
# RDBKIT=/path/to/rdbkit measures another build (default: release build here).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DATA=${BENCH_DATA:-$ROOT/bench-data}
LIMIT_MB=64
while [ $# -gt 0 ]; do
  case "$1" in
    --data) DATA=$2; shift 2 ;;
    --limit-mb) LIMIT_MB=$2; shift 2 ;;
    *) echo "usage: $0 [--data DIR] [--limit-mb N]" >&2; exit 2 ;;
  esac
done
if [ -z "${RDBKIT:-}" ]; then
  (cd "$ROOT" && cargo build --release --quiet)
  RDBKIT=$ROOT/target/release/rdbkit
fi
RDB=$DATA/huge-keys.rdb
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

. "$ROOT/scripts/bench_server.sh"

# --- the file ---------------------------------------------------------------
make_file() {
  mkdir -p "$DATA" "$TMP/gen"
  local port pid
  port=$(free_port)
  pid=$(start_server "$TMP/gen" "$port") && PIDS+=("$pid")
  python3 - <<'EOF' | redis-cli -p "$port" --pipe > "$TMP/gen/pipe.out"
import os, sys
out = sys.stdout.buffer
def cmd(*args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        parts += [b"$%d\r\n" % len(a), a, b"\r\n"]
    out.write(b"".join(parts))
for start in range(0, 2_000_000, 1000):
    args = [b"HSET", b"huge:hash"]
    for i in range(start, start + 1000):
        args += [b"field:%07d" % i, b"value:%07d:%s" % (i, b"x" * (i % 23))]
    cmd(*args)
for start in range(0, 1_000_000, 1000):
    cmd(b"RPUSH", b"huge:list", *[b"element:%07d:%s" % (i, b"y" * (i % 17)) for i in range(start, start + 1000)])
for _ in range(100):
    cmd(b"APPEND", b"huge:string", os.urandom(4_000_000))
block = b"".join(b"line %08d of a compressible string\n" % i for i in range(25_000))
for _ in range(100_000_000 // len(block)):
    cmd(b"APPEND", b"huge:lzf", block)
out.flush()
EOF
  grep -q "errors: 0" "$TMP/gen/pipe.out" || { cat "$TMP/gen/pipe.out"; exit 1; }
  redis-cli -p "$port" save > /dev/null
  cp "$TMP/gen/dump.rdb" "$RDB"
  kill -9 "$pid" 2>/dev/null || true
  rm -rf "$TMP/gen"
}
[ -s "$RDB" ] || make_file

# --- measuring ----------------------------------------------------------------
# peak_anon OUT CMD...: runs CMD with stdout to OUT; prints "peak_kB seconds exit".
peak_anon() {
  local out=$1; shift
  local t0 t1 pid peak=0 k v rest rc=0
  t0=$(date +%s.%N)
  "$@" > "$out" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    while read -r k v rest; do
      if [ "$k" = "RssAnon:" ] && [ "$v" -gt "$peak" ]; then peak=$v; fi
    done < "/proc/$pid/status" 2>/dev/null || true
    sleep 0.01
  done
  wait "$pid" || rc=$?
  t1=$(date +%s.%N)
  echo "$peak $(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }") $rc"
}

cat "$RDB" > /dev/null
echo "file: $RDB ($(du -m "$RDB" | cut -f1) MB); rdbkit: $RDBKIT"
printf '%-28s %14s %9s %5s\n' command "peak RssAnon" seconds exit
fail=0
row() { # name limit? result
  local name=$1 check=$2 peak secs rc
  read -r peak secs rc <<< "$3"
  printf '%-28s %11d MB %9s %5s\n' "$name" $((peak / 1024)) "$secs" "$rc"
  if [ "$rc" != 0 ]; then fail=1; fi
  if [ "$check" = check ] && [ "$peak" -ge $((LIMIT_MB * 1024)) ]; then
    echo "  over the ${LIMIT_MB} MB limit" >&2; fail=1
  fi
}
row "resp" check "$(peak_anon /dev/null "$RDBKIT" resp -q "$RDB")"
row "resp --mode commands" check "$(peak_anon /dev/null "$RDBKIT" resp -q --mode commands "$RDB")"
row "json" - "$(peak_anon /dev/null "$RDBKIT" json -q "$RDB")"
for mode in restore commands; do
  mkdir -p "$TMP/t" && port=$(free_port) && pid=$(start_server "$TMP/t" "$port") && PIDS+=("$pid")
  row "load --mode $mode" - "$(peak_anon "$TMP/sum.json" "$RDBKIT" load -q --json --mode "$mode" "$RDB" --target "redis://127.0.0.1:$port")"
  n=$(redis-cli -p "$port" dbsize)
  [ "$n" = 4 ] || { echo "  load --mode $mode: $n keys in the target, want 4" >&2; fail=1; }
  kill -9 "$pid" 2>/dev/null || true
  rm -rf "$TMP/t"
done
exit "$fail"
