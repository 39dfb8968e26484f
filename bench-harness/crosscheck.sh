#!/usr/bin/env bash
# Cross-checks keel-bench against redis-benchmark and against redis-server's own counters.
#
# For each case, the two tools run the same closed-loop load (connections, pipeline, value size,
# key range, request count) against one redis-server, alternating, RUNS times. For every run the
# script also counts what the server itself executed (INFO commandstats calls, reset before the
# run) over the run's wall-clock time, so each tool's reported ops/s can be checked against the
# server's count. Printed: medians of reported ops/s, server-counted ops/s, p50 and p99.
#
# Cases:
#   c=1 and c=4, P=1     few connections: neither tool's core is busy, throughput is set by the
#                        round trip, so the two tools must agree on ops/s and latency
#   c=50, P=1 and P=16   many connections, no persistence: one load core is the bottleneck; the
#                        tools differ by how much load one core of each can drive, and each is
#                        checked against the server's own count
#   aof-always SET       redis --appendfsync always: fsync-bound, but batch sizes still depend on
#                        how fast the client turns replies into new requests
#
# Usage: bench-harness/crosscheck.sh [RUNS]          (default 5)
# Env:   KEEL_BENCH  keel-bench binary (default target/release/keel-bench)
#        SERVER_CPU / LOAD_CPU  cores for taskset (default 0 and 1; unpinned if taskset absent)
# Needs redis-server, redis-cli and redis-benchmark. Loopback only; every run is bounded by its
# request count and by `timeout`.
set -euo pipefail
RUNS=${1:-5}
KEEL_BENCH=${KEEL_BENCH:-target/release/keel-bench}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
KEYS=1000000

for tool in redis-server redis-cli redis-benchmark; do
    command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install redis-server)" >&2; exit 1; }
done
[ -x "$KEEL_BENCH" ] || { echo "keel-bench not found at $KEEL_BENCH" >&2; exit 1; }
if command -v taskset >/dev/null; then PIN_S=(taskset -c "$SERVER_CPU"); PIN_L=(taskset -c "$LOAD_CPU"); else PIN_S=(); PIN_L=(); fi

work=$(mktemp -d)
port=""
server=""
stop() {
    [ -n "$port" ] && redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
    port=""; server=""
}
trap 'stop; rm -rf "$work"' EXIT

# start_redis EXTRA_ARGS...
start_redis() {
    stop
    rm -rf "$work/data"; mkdir -p "$work/data"
    port=$(( 20000 + RANDOM % 20000 ))
    "${PIN_S[@]}" redis-server --port "$port" --bind 127.0.0.1 --save '' --dir "$work/data" \
        --logfile "$work/redis.log" "$@" &
    server=$!
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && return; sleep 0.1; done
    echo "redis-server did not start" >&2; exit 1
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
now_ns() { date +%s%N; }
server_calls() { redis-cli -p "$port" info commandstats | awk -F'[:=,]' -v c="cmdstat_$1" '$1==c {print $3}'; }

# one_run TOOL TEST CLIENTS PIPELINE TOTAL -> appends "reported_ops p50 p99 server_ops" to $work/TOOL
one_run() {
    local tool=$1 test=$2 clients=$3 pipeline=$4 total=$5 t0 t1 line calls ratio
    [ "$test" = set ] && ratio=1:0 || ratio=0:1
    redis-cli -p "$port" config resetstat >/dev/null
    t0=$(now_ns)
    if [ "$tool" = rb ]; then
        line=$("${PIN_L[@]}" timeout 300 redis-benchmark -p "$port" -t "$test" -n "$total" \
            -c "$clients" -P "$pipeline" -d 32 -r "$KEYS" --csv 2>/dev/null \
            | awk -F, 'NR==2 {gsub(/"/,""); print $2, $5, $7}')
    else
        line=$("${PIN_L[@]}" timeout 300 "$KEEL_BENCH" -p "$port" -t 1 -c "$clients" \
            -n $(( total / clients )) --pipeline "$pipeline" -d 32 --ratio "$ratio" \
            --key-maximum $(( KEYS - 1 )) --hide-histogram --quiet --print-percentiles 50,99 \
            2>/dev/null | awk '$1=="Totals" {print $2, $6, $7}')
    fi
    t1=$(now_ns)
    calls=$(server_calls "$test")
    echo "$line $(awk -v c="$calls" -v ns=$(( t1 - t0 )) 'BEGIN {printf "%.2f", c / (ns / 1e9)}')" >>"$work/$tool"
}

col() { cut -d' ' -f"$1" "$work/$2" | median; }

# run_case NAME TEST CLIENTS PIPELINE TOTAL
run_case() {
    local name=$1
    : >"$work/rb"; : >"$work/kb"
    for _ in $(seq "$RUNS"); do
        one_run rb "$2" "$3" "$4" "$5"
        one_run kb "$2" "$3" "$4" "$5"
    done
    for tool in rb kb; do
        local label=redis-benchmark
        [ "$tool" = kb ] && label=keel-bench
        printf '%-26s %-16s %12.0f %12.0f %8.3f %8.3f %8.3f\n' "$name" "$label" \
            "$(col 1 $tool)" "$(col 4 $tool)" \
            "$(awk -v a="$(col 1 $tool)" -v b="$(col 4 $tool)" 'BEGIN {print a / b}')" \
            "$(col 2 $tool)" "$(col 3 $tool)"
        echo "  $label runs (reported_ops p50 p99 server_ops): $(tr '\n' ';' <"$work/$tool")" >&2
    done
    printf '%-26s %-16s %12.3f\n' "$name" "keel/redis-bench" \
        "$(awk -v a="$(col 1 kb)" -v b="$(col 1 rb)" 'BEGIN {print a / b}')"
}

echo "redis-server $(redis-server --version | awk '{print $3}'), server core $SERVER_CPU, load core $LOAD_CPU; $RUNS alternating runs per tool, medians"
printf '%-26s %-16s %12s %12s %8s %8s %8s\n' case tool "reported/s" "server/s" rep/srv p50_ms p99_ms
start_redis --appendonly no
run_case "none SET c=1 P=1" set 1 1 40000
run_case "none GET c=4 P=1" get 4 1 100000
run_case "none SET c=50 P=1" set 50 1 200000
run_case "none GET c=50 P=1" get 50 1 200000
run_case "none SET c=50 P=16" set 50 16 2000000
run_case "none GET c=50 P=16" get 50 16 2000000
start_redis --appendonly yes --appendfsync always
run_case "aof-always SET c=50 P=1" set 50 1 100000
