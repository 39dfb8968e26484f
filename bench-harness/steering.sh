#!/usr/bin/env bash
# What connection steering saves: keel with 2 shards, every key in one hash slot (so a connection
# that the other shard accepted forwards every command), `--steer-connections yes` against `no`,
# runs alternating. Prints throughput and latency per run.
#
#   bench-harness/steering.sh [RUNS [CLIENTS [PIPELINE]]]      defaults: 3 50 1
#
# On a 2-core machine the load shares core 1 with shard 1 in both settings.
set -euo pipefail
runs=${1:-3}
clients=${2:-50}
pipeline=${3:-1}
repo=$(cd "$(dirname "$0")/.." && pwd)
keel=${KEEL_BIN:-$repo/target/release/keel}
bench=${KEEL_BENCH:-$repo/target/release/keel-bench}
port=7604
work=$(mktemp -d)
trap 'redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

load_core=$(( $(nproc) - 1 ))
echo "steering  clients pipeline  ops/s        p50 ms   p99 ms"
for _ in $(seq "$runs"); do
    for steer in yes no; do
        rm -rf "$work/data"
        "$keel" --port $port --dir "$work/data" --shards 2 --appendonly no \
            --steer-connections $steer >"$work/keel.log" 2>&1 &
        until redis-cli -p $port ping >/dev/null 2>&1; do sleep 0.05; done
        taskset -c "$load_core" "$bench" -p $port -t 1 -c "$clients" --pipeline "$pipeline" \
            --ratio 1:1 --key-prefix '{s}k' --key-maximum 10000 --test-time 5 --quiet \
            --hide-histogram 2>&1 |
            awk -v s=$steer -v c="$clients" -v p="$pipeline" \
                '$1 == "Totals" {printf "%-9s %7s %8s  %-12s %-8s %s\n", s, c, p, $2, $6, $7}'
        redis-cli -p $port shutdown nosave >/dev/null 2>&1 || true
        wait
    done
done
