#!/bin/sh
# Runs fuzz targets one after the other, under `nice`, from their corpora
# (fuzz/seed.sh writes the seeds), until each has used CPU_SECONDS of CPU
# time (default 240; user + sys, measured with /usr/bin/time). On a shared
# machine wall time and CPU time differ, so a target runs in slices (each
# twice the CPU time still missing, at most SLICE seconds, default 300)
# until its CPU budget is spent or it crashes. Prints per target: CPU seconds, libFuzzer's executions (summed
# over the slices), final corpus, and crash status. Logs: fuzz/logs/.
#
#   fuzz/seed.sh && fuzz/run_all.sh [CPU_SECONDS [SLICE [TARGET...]]]
#
# -detect_leaks=0: LeakSanitizer reports the 32-byte glibc record
# (`__cxa_thread_atexit_impl`) of each thread the two-thread runs of
# `whole_file` spawn, a false positive; rdbkit has no manual memory
# management for it to check. Address errors and allocations over
# -malloc_limit_mb are still caught.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
budget=${1:-240}
slice=${2:-300}
[ $# -gt 0 ] && shift
[ $# -gt 0 ] && shift
targets=${*:-"whole_file restore_payload listpack ziplist intset zipmap lzf lzf_compress stream array jsonl_write"}
mkdir -p logs
nice cargo +nightly fuzz build -a >/dev/null 2>&1 || { echo "build failed"; exit 1; }
for t in $targets; do
    cpu=0
    execs=0
    n=0
    status="no crash"
    while [ "$cpu" -lt "$budget" ]; do
        n=$((n + 1))
        log=logs/$t.$n.log
        left=$((budget - cpu))
        secs=$((2 * left))
        [ "$secs" -gt "$slice" ] && secs=$slice
        [ "$secs" -lt 10 ] && secs=10
        /usr/bin/time -f "cpu_seconds %U %S" -o "logs/$t.$n.time" \
            nice cargo +nightly fuzz run -a "$t" "corpus/$t" -- \
            -max_total_time="$secs" -timeout=10 -detect_leaks=0 -rss_limit_mb=2048 -malloc_limit_mb=256 \
            -print_final_stats=1 >"$log" 2>&1
        c=$(awk '/cpu_seconds/ {printf "%.0f", $2 + $3}' "logs/$t.$n.time")
        e=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
        cpu=$((cpu + ${c:-0}))
        execs=$((execs + ${e:-0}))
        if grep -q 'ERROR: \|panicked\|^SUMMARY: ' "$log"; then
            status="CRASH (see $log and artifacts/$t/)"
            break
        fi
    done
    corpus=$(grep -Eo 'corp: [0-9]+/[0-9]+[a-zA-Z]*' "$log" | tail -1)
    echo "$t: cpu ${cpu}s in $n slice(s), executions $execs, $corpus, $status"
done
