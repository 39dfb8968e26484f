#!/usr/bin/env bash
# The application workloads (orderbook, leaderboard, session) on keel and redis-server side by
# side, through `keel-bench compare` (servers pinned to core 0, load on the other cores, runs
# interleaved, medians): one summary line per workload and persistence mode.
#
#   bench-harness/workloads-side-by-side.sh [RUNS] [PIPELINE] [PERSISTENCE...]
#
# Defaults: 3 runs, pipeline 16, persistence `none` and `always`. Needs target/release/keel and
# target/release/keel-bench (`cargo build --release --workspace`).
set -euo pipefail
runs=${1:-3}
pipeline=${2:-16}
shift $(( $# > 2 ? 2 : $# ))
modes=("${@:-none always}")
read -r -a modes <<<"${modes[*]}"
repo=$(cd "$(dirname "$0")/.." && pwd)
bench=${KEEL_BENCH:-$repo/target/release/keel-bench}
out=$(mktemp -d)
printf "%-12s %-8s %12s %12s %8s %10s %10s\n" workload fsync "redis ops/s" "keel ops/s" ratio "p99 redis" "p99 keel"
for mode in "${modes[@]}"; do
    for workload in orderbook leaderboard session; do
        "$bench" compare --runs "$runs" -c 50 --pipeline "$pipeline" --workload "$workload" \
            --test-time 5 --persistence "$mode" --out-dir "$out/$workload-$mode" >"$out/$workload-$mode.log" 2>&1
        awk -v w="$workload" -v m="$mode" '
            $1 == "ops/s" { r = $2; k = $3; ratio = $4 }
            $1 == "p99" && $2 == "ms" { pr = $3; pk = $4 }
            END { printf "%-12s %-8s %12s %12s %8s %10s %10s\n", w, m, r, k, ratio, pr, pk }
        ' "$out/$workload-$mode.log"
    done
done
echo "(medians of $runs runs, 50 clients, pipeline $pipeline; logs and SVGs in $out)"
