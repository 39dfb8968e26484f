#!/usr/bin/env bash
# Latency of a steady load before and during a snapshot, keel vs redis-server, side by side (issue
# 3: "a snapshot of a shard must not show a latency spike"). Each server in turn on core 0 with
# appendfsync always (keel: 1 shard), KEYS keys loaded through redis-cli --pipe, automatic
# snapshots/rewrites off so that only the BGSAVE we send runs. Then, per round:
#   quiet:    an open-loop keel-bench load at RATE req/s (SET:GET 1:1 over the loaded keys) for 6 s;
#   snapshot: the same load, with BGSAVE sent 1.5 s in (keel: its fork-less snapshot; redis: fork
#             and an RDB written by the child).
# Prints p50/p99/p99.9/max of each window and the p99 of each second.
#
# Usage: bench-harness/snapshot-latency-side-by-side.sh [KEYS [RATE [ROUNDS]]]   (1200000 10000 2)
set -euo pipefail
KEYS=${1:-1200000}
RATE=${2:-10000}
ROUNDS=${3:-2}
cd "$(dirname "$0")/.."
KEEL=${KEEL_BIN:-target/release/keel}
BENCH=${KEEL_BENCH:-target/release/keel-bench}
[ -x "$KEEL" ] && [ -x "$BENCH" ] || cargo build --release -p keel -p keel-bench
command -v redis-server >/dev/null || apt-get install -y redis-server
PORT=7470
DIR=$(mktemp -d)
pid=""
stop() { [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }; pid=""; }
trap 'stop; rm -rf "$DIR"' EXIT

start() {
    rm -rf "$DIR/data" && mkdir -p "$DIR/data"
    case $1 in
        keel) taskset -c 0 "$KEEL" --port $PORT --dir "$DIR/data" --shards 1 \
                  --auto-aof-rewrite-percentage 0 >"$DIR/server.log" 2>&1 & ;;
        redis) taskset -c 0 redis-server --port $PORT --dir "$DIR/data" --save '' --appendonly yes \
                   --appendfsync always --auto-aof-rewrite-percentage 0 >"$DIR/server.log" 2>&1 & ;;
    esac
    pid=$!
    for _ in $(seq 100); do redis-cli -p $PORT ping >/dev/null 2>&1 && break; sleep 0.1; done
    awk -v n="$KEYS" 'BEGIN {for (i = 1; i <= n; i++) printf "*3\r\n$3\r\nSET\r\n$%d\r\nkey:%d\r\n$8\r\nvalue%03d\r\n", length("key:" i), i, i % 1000}' |
        redis-cli -p $PORT --pipe >/dev/null
    sleep 3
}

# window SECONDS [BGSAVE_AT] -> "p50 p99 p99.9 max | per-second p99s"
window() {
    local secs=$1 at=${2:-}
    if [ -n "$at" ]; then (sleep "$at"; redis-cli -p $PORT bgsave >/dev/null) & fi
    taskset -c 1 "$BENCH" -p $PORT -t 1 -c 20 --rate "$RATE" --ratio 1:1 --key-prefix key: \
        --key-minimum 1 --key-maximum "$KEYS" --test-time "$secs" --print-percentiles 50,99,99.9,100 \
        --hide-histogram 2>&1 | tr '\r' '\n' |
        awk '/^\[/ {s = s " " $10} /^Totals/ {t = $6 " " $7 " " $8 " " $9} END {print t " |" s}'
    wait
}

echo "keys=$KEYS rate=$RATE req/s (open loop, 20 clients, SET:GET 1:1), rounds=$ROUNDS; ms"
printf '%-6s %-9s %8s %8s %8s %8s   %s\n' server window p50 p99 p99.9 max "p99 of each second"
for server in keel redis; do
    start $server
    for _ in $(seq "$ROUNDS"); do
        read -r a b c d rest < <(window 6)
        printf '%-6s %-9s %8s %8s %8s %8s  %s\n' $server quiet "$a" "$b" "$c" "$d" "$rest"
        read -r a b c d rest < <(window 6 1.5)
        printf '%-6s %-9s %8s %8s %8s %8s  %s\n' $server snapshot "$a" "$b" "$c" "$d" "$rest"
        sleep 3
    done
    case $server in
        keel) grep -o 'done: .*' "$DIR/server.log" | tail -"$ROUNDS" | sed 's/^/  keel snapshot /' ;;
        redis) redis-cli -p $PORT info persistence | tr -d '\r' | grep -E 'rdb_last_bgsave_time_sec' | sed 's/^/  redis /'
               redis-cli -p $PORT info stats | tr -d '\r' | grep -E 'latest_fork_usec' | sed 's/^/  redis /' ;;
    esac
    stop
done
