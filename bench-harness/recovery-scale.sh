#!/usr/bin/env bash
# Restart time against shard count: for each N in SHARDS, fill an N-shard keel with durable SETs
# (cluster mode, 200 B values over KEY_MAX keys, automatic snapshots off, so everything is in
# the journals) for FILL seconds, SIGKILL it, then start each given keel build on that data
# ROUNDS times and print its own load line ("DB loaded ... in S s (records/s, MB/s)").
# Needs only prebuilt binaries (no cargo, no redis); for a many-core machine.
#
# Usage: bench-harness/recovery-scale.sh KEEL_BENCH KEEL [KEEL ...]
# Env: SHARDS ["1 4 8"], FILL [4] seconds, ROUNDS [2], KEY_MAX [2000000],
#      DATA [$PWD/.device-tmp/recovery] (on the disk, not a tmpfs), PORT [7600]
set -uo pipefail
BENCH=$(readlink -f "${1:?usage: recovery-scale.sh KEEL_BENCH KEEL [KEEL ...]}")
shift
SHARDS=${SHARDS:-1 4 8}
FILL=${FILL:-4}
ROUNDS=${ROUNDS:-2}
KEY_MAX=${KEY_MAX:-2000000}
DATA=${DATA:-$PWD/.device-tmp/recovery}
PORT=${PORT:-7600}
NPROC=$(nproc)

wait_up() {
    for _ in $(seq 1200); do
        grep -q "Ready to accept connections" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

for n in $SHARDS; do
    rm -rf "$DATA" && mkdir -p "$DATA"
    load_cores=$((NPROC - n)); [ $load_cores -gt 8 ] && load_cores=8; [ $load_cores -lt 1 ] && load_cores=1
    taskset -c 0-$((n - 1)) "$1" --port $PORT --dir "$DATA" --shards "$n" --cluster-enabled yes \
        --auto-aof-rewrite-percentage 0 >"$DATA.fill.log" 2>&1 &
    server=$!
    wait_up "$DATA.fill.log" || { echo "keel did not start:"; cat "$DATA.fill.log"; exit 1; }
    taskset -c $((NPROC - load_cores))-$((NPROC - 1)) "$BENCH" -p $((PORT + 1)) --cluster-mode \
        -t "$load_cores" -c 25 --pipeline $((16 * n)) --ratio 1:0 -d 200 \
        --key-maximum "$KEY_MAX" --test-time "$FILL" --quiet >"$DATA.bench.log" 2>&1
    kill -9 $server; wait $server 2>/dev/null
    echo "== $n shards: $(du -sh "$DATA" | cut -f1) of journals; $(grep Totals "$DATA.bench.log" | awk '{printf "%.0f writes/s while filling", $2}')"
    for round in $(seq "$ROUNDS"); do
        for keel in "$@"; do
            taskset -c 0-$((n - 1)) "$keel" --port $PORT --dir "$DATA" --shards "$n" \
                --auto-aof-rewrite-percentage 0 >"$DATA.start.log" 2>&1 &
            server=$!
            wait_up "$DATA.start.log"
            echo "round $round $(basename "$keel"): $(grep -o 'in [0-9.]* s ([0-9]* records/s, [0-9.]* MB/s)' "$DATA.start.log")"
            kill -9 $server; wait $server 2>/dev/null
        done
    done
done
rm -rf "$DATA"
