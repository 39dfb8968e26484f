#!/usr/bin/env bash
# Side by side with redis-benchmark, as the issues state their targets: keel and redis-server each
# pinned to core 0 (one at a time), redis-benchmark pinned to core 1, runs interleaved, medians.
#
#   bench-harness/redis-benchmark-side-by-side.sh none|always PIPELINE [RUNS] [TESTS]
#
# `none`: keel --appendonly no vs redis --appendonly no --save ''.
# `always`: keel (default: journal, appendfsync always) vs redis --appendonly yes --appendfsync always.
set -euo pipefail
mode=${1:?none|always}
pipeline=${2:?pipeline}
runs=${3:-5}
tests=${4:-set,get}
clients=50
requests=${REQUESTS:-1000000}
repo=$(cd "$(dirname "$0")/.." && pwd)
keel=${KEEL_BIN:-$repo/target/release/keel}
command -v redis-server >/dev/null || { echo "installing redis-server"; apt-get install -y -qq redis-server >/dev/null; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; redis-cli -p 7602 shutdown nosave >/dev/null 2>&1; rm -rf "$work"' EXIT

case $mode in
    none) keel_args=(--appendonly no); redis_args=(--appendonly no --save '') ;;
    always) keel_args=(); redis_args=(--appendonly yes --appendfsync always --save '') ;;
    *) echo "mode: none or always" >&2; exit 2 ;;
esac

start_keel() {
    rm -rf "$work/keel"
    taskset -c 0 "$keel" --port 7601 --shards 1 --dir "$work/keel" "${keel_args[@]}" >"$work/keel.log" 2>&1 &
    until redis-cli -p 7601 ping >/dev/null 2>&1; do sleep 0.05; done
}
start_redis() {
    rm -rf "$work/redis"; mkdir -p "$work/redis"
    (cd "$work/redis" && taskset -c 0 redis-server --port 7602 "${redis_args[@]}" --daemonize yes >/dev/null)
    until redis-cli -p 7602 ping >/dev/null 2>&1; do sleep 0.05; done
}
# Prints "TEST rps p50 p99" lines for one run.
load() {
    taskset -c 1 redis-benchmark -p "$1" -t "$tests" -n "$requests" -P "$pipeline" -c $clients -r 100000 --csv 2>/dev/null |
        tail -n +2 | tr -d '"' | awk -F, '{print $1, $2, $4, $7}'
}
start_keel; start_redis
for run in $(seq "$runs"); do
    load 7601 | sed 's/^/keel /' >>"$work/results"
    load 7602 | sed 's/^/redis /' >>"$work/results"
done
echo "mode=$mode pipeline=$pipeline clients=$clients runs=$runs (medians; latency in ms)"
printf "%-6s %-6s %12s %8s %8s\n" server test "req/s" p50 p99
sort -k1,1 -k2,2 "$work/results" | awk '
    { key=$1" "$2; n[key]++; rps[key,n[key]]=$3; p50[key,n[key]]=$4; p99[key,n[key]]=$5 }
    function median(arr, key, count,   i, v, tmp, j, t) {
        for (i = 1; i <= count; i++) v[i] = arr[key, i] + 0
        for (i = 1; i <= count; i++) for (j = i + 1; j <= count; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
        return count % 2 ? v[(count + 1) / 2] : (v[count / 2] + v[count / 2 + 1]) / 2
    }
    END {
        for (key in n) {
            r[key] = median(rps, key, n[key]); a[key] = median(p50, key, n[key]); b[key] = median(p99, key, n[key])
            printf "%-6s %-6s %12.0f %8.3f %8.3f\n", substr(key, 1, index(key, " ") - 1), substr(key, index(key, " ") + 1), r[key], a[key], b[key]
            split(key, parts, " "); tests[parts[2]] = 1
        }
        for (t in tests) printf "keel/redis %-6s throughput %.2fx, p99 %.2fx\n", t, r["keel " t] / r["redis " t], b["keel " t] / b["redis " t]
    }'
