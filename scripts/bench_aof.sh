#!/usr/bin/env bash
# AOF replay speed: `rdbkit load` of a plain RESP AOF of N SET commands vs
# `redis-cli --pipe` of the same file, each into an empty Redis 7.0 started
# for the run (no persistence). Runs alternate; prints seconds and peak RSS.
# Usage: scripts/bench_aof.sh [N=2000000] [RUNS=3]
set -euo pipefail
N=${1:-2000000}
RUNS=${2:-3}
BIN=${RDBKIT:-target/release/rdbkit}
TMP=$(mktemp -d)
trap 'rm -rf $TMP' EXIT
python3 - "$N" "$TMP/cmds.aof" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, 'wb') as f:
    f.write(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n")
    buf = []
    for i in range(n):
        k = b"key:%d" % i; v = b"value-%d" % i
        buf.append(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(k), k, len(v), v))
        if len(buf) >= 100000:
            f.write(b"".join(buf)); buf = []
    f.write(b"".join(buf))
PY
PORT=$((20000 + RANDOM % 20000))
start() {
  redis-server --port $PORT --save '' --appendonly no --daemonize yes \
    --pidfile $TMP/pid --logfile $TMP/log --dir $TMP
  until redis-cli -p $PORT ping >/dev/null 2>&1; do sleep 0.1; done
}
stop() { redis-cli -p $PORT shutdown nosave >/dev/null 2>&1 || true; sleep 0.5; }
for r in $(seq "$RUNS"); do
  start
  /usr/bin/time -f "pipe   %e s  %M KB" redis-cli -p $PORT --pipe < $TMP/cmds.aof >/dev/null
  [ "$(redis-cli -p $PORT dbsize)" = "$N" ]
  stop; start
  /usr/bin/time -f "rdbkit %e s  %M KB" "$BIN" load $TMP/cmds.aof -t 127.0.0.1:$PORT -q
  [ "$(redis-cli -p $PORT dbsize)" = "$N" ]
  stop
done
