#!/usr/bin/env bash
# Shard scaling on a many-core host: for shards = 1, 2, 4, 8, ... (up to the cores left after the
# load's), start keel, drive it with keel-bench in cluster mode (straight to the shard ports) and
# in main-port mode, and print throughput and scaling efficiency per shard count:
#     efficiency = ops/s / (shards x single-shard ops/s of the same mode)
# and how busy the shards were (keel's CPU time / (wall time x shards)): a point whose shards
# are well under 100% busy was held back by the load, not by keel.
#
# Needs only the two prebuilt binaries (no cargo, no redis); loopback only.
#
# Usage: bench-harness/scale.sh [KEEL_BIN [KEEL_BENCH_BIN]]
# Env (defaults in brackets):
#   KEEL_BIN [./keel, else target/release/keel]   KEEL_BENCH [./keel-bench, else target/release/keel-bench]
#   LOAD_CORES [per point: the cores the shards leave, at most LOAD_CORES_MAX [8]]
#                   load threads, pinned to the last LOAD_CORES cores
#   DURATION [10]   seconds per measurement      CLIENTS [50]  connections per load thread
#   PIPELINE [16]   requests in flight per client  RATIO [1:10]  SET:GET
#   PIPELINE_PER_SHARD [no]  yes: in cluster mode, a client keeps PIPELINE x shards in flight,
#                   so that each of its shard connections still has about PIPELINE (a client's
#                   pipeline is spread over all its shard connections)
#   KEY_MAX [1000000]  key range                 SHARDS ["1 2 4 ..."]  shard counts to try
#   MODES ["cluster main"]                       APPENDONLY [no]  keel --appendonly
#   PORT [7400]     keel's main port (cluster shard i listens on PORT+1+i)
#   OUT [./scale-results-<time>]  logs, JSON and results.csv
set -euo pipefail

pick() { for p in "$@"; do [ -x "$p" ] && { echo "$p"; return; }; done; echo "$1"; }
KEEL_BIN=${1:-${KEEL_BIN:-$(pick ./keel target/release/keel)}}
KEEL_BENCH=${2:-${KEEL_BENCH:-$(pick ./keel-bench target/release/keel-bench)}}
NPROC=$(nproc)
LOAD_CORES_MAX=${LOAD_CORES_MAX:-8}
DURATION=${DURATION:-10}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}
PIPELINE_PER_SHARD=${PIPELINE_PER_SHARD:-no}
RATIO=${RATIO:-1:10}
KEY_MAX=${KEY_MAX:-1000000}
MODES=${MODES:-cluster main}
APPENDONLY=${APPENDONLY:-no}
PORT=${PORT:-7400}
OUT=${OUT:-./scale-results-$(date +%Y%m%d-%H%M%S)}
STARTUP_TIMEOUT_S=20

die() { echo "scale.sh: $*" >&2; exit 1; }
[ -x "$KEEL_BIN" ] || die "keel binary not found at $KEEL_BIN (pass it as the first argument or KEEL_BIN)"
[ -x "$KEEL_BENCH" ] || die "keel-bench binary not found at $KEEL_BENCH (second argument or KEEL_BENCH)"
[ "${LOAD_CORES:-1}" -lt "$NPROC" ] || die "LOAD_CORES=$LOAD_CORES leaves no core for keel (nproc=$NPROC)"
MAX_SHARDS=$(( NPROC - ${LOAD_CORES:-1} ))
if [ -z "${SHARDS:-}" ]; then
    SHARDS=""; n=1
    while [ "$n" -le "$MAX_SHARDS" ]; do SHARDS="$SHARDS $n"; n=$(( n * 2 )); done
fi
# load_cores SHARDS -> the load threads for that point
load_cores() {
    local rest=$(( NPROC - $1 > 1 ? NPROC - $1 : 1 ))
    echo "${LOAD_CORES:-$(( rest < LOAD_CORES_MAX ? rest : LOAD_CORES_MAX ))}"
}
if command -v taskset >/dev/null; then
    pin() { local cpus=$1; shift; taskset -c "$cpus" "$@"; }
else
    echo "taskset not found: nothing is pinned" >&2
    pin() { shift; "$@"; }
fi
mkdir -p "$OUT"
echo "host: $NPROC cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')"
echo "keel: $KEEL_BIN   keel-bench: $KEEL_BENCH   out: $OUT"
echo "load: ${LOAD_CORES:-up to $LOAD_CORES_MAX} thread(s) on the last cores x $CLIENTS clients, pipeline $PIPELINE (x shards in cluster mode: $PIPELINE_PER_SHARD), SET:GET $RATIO, ${DURATION}s per point; shards:$SHARDS"

# True when a RESP server on $1 answers PING (bash's /dev/tcp; no redis-cli needed).
pong() {
    local reply
    { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
    printf 'PING\r\n' >&3
    read -r -t 1 reply <&3 || true
    exec 3<&- 3>&-
    [ "${reply%$'\r'}" = "+PONG" ]
}

server_pid=""
stop_server() {
    [ -n "$server_pid" ] || return 0
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}
trap 'stop_server' EXIT

# start_keel SHARDS MODE -> sets server_pid; waits for PING on every port the mode uses
start_keel() {
    local shards=$1 mode=$2 cluster=no dir ports
    [ "$mode" = cluster ] && cluster=yes
    dir=$(mktemp -d "$OUT/keel-data-XXXX")
    # started directly (not via a function) so that $! is keel itself; taskset execs it
    if command -v taskset >/dev/null; then
        taskset -c "0-$(( shards - 1 ))" "$KEEL_BIN" --port "$PORT" --bind 127.0.0.1 --dir "$dir" \
            --shards "$shards" --appendonly "$APPENDONLY" --cluster-enabled "$cluster" \
            >"$OUT/keel-$mode-$shards.log" 2>&1 &
    else
        "$KEEL_BIN" --port "$PORT" --bind 127.0.0.1 --dir "$dir" --shards "$shards" \
            --appendonly "$APPENDONLY" --cluster-enabled "$cluster" >"$OUT/keel-$mode-$shards.log" 2>&1 &
    fi
    server_pid=$!
    ports=$PORT
    [ "$mode" = cluster ] && ports=$(seq $(( PORT + 1 )) $(( PORT + shards )))
    local deadline=$(( SECONDS + STARTUP_TIMEOUT_S ))
    for p in $ports; do
        until pong "$p"; do
            kill -0 "$server_pid" 2>/dev/null || { tail -20 "$OUT/keel-$mode-$shards.log" >&2; die "keel exited during startup ($mode, $shards shards)"; }
            [ "$SECONDS" -lt "$deadline" ] || die "keel did not answer PING on port $p within ${STARTUP_TIMEOUT_S}s"
            sleep 0.2
        done
    done
}

# cpu_ticks PID -> user + system CPU time of the process so far, in clock ticks
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure SHARDS MODE -> prints "ops p50 p99 load_threads"
measure() {
    local shards=$1 mode=$2 target=$PORT extra=() load pipeline=$PIPELINE
    load=$(load_cores "$shards")
    if [ "$mode" = cluster ]; then
        target=$(( PORT + 1 )); extra=(--cluster-mode)
        [ "$PIPELINE_PER_SHARD" = yes ] && pipeline=$(( PIPELINE * shards ))
    fi
    pin "$(( NPROC - load ))-$(( NPROC - 1 ))" timeout $(( DURATION + 60 )) "$KEEL_BENCH" -s 127.0.0.1 -p "$target" \
        "${extra[@]}" -t "$load" -c "$CLIENTS" --pipeline "$pipeline" --ratio "$RATIO" \
        --key-maximum "$KEY_MAX" --test-time "$DURATION" --distinct-client-seed \
        --hide-histogram --quiet --print-percentiles 50,99 \
        --json-out-file "$OUT/bench-$mode-$shards.json" 2>"$OUT/bench-$mode-$shards.err" \
        | tee "$OUT/bench-$mode-$shards.txt" | awk -v t="$load" '$1=="Totals" {print $2, $6, $7, t}'
}

echo "mode,shards,load_threads,ops_per_sec,p50_ms,p99_ms,efficiency,shard_busy" >"$OUT/results.csv"
printf '\n%-8s %6s %5s %14s %9s %9s %11s %11s\n' mode shards load ops/s p50_ms p99_ms efficiency shard_busy
for mode in $MODES; do
    base=""
    for shards in $SHARDS; do
        start_keel "$shards" "$mode"
        ticks0=$(cpu_ticks "$server_pid"); t0=$(date +%s.%N)
        read -r ops p50 p99 load < <(measure "$shards" "$mode") || true
        ticks1=$(cpu_ticks "$server_pid"); t1=$(date +%s.%N)
        stop_server
        [ -n "${ops:-}" ] || die "no result for $mode/$shards; see $OUT/bench-$mode-$shards.err"
        [ -n "$base" ] || base=$ops
        eff=$(awk -v o="$ops" -v b="$base" -v s="$shards" 'BEGIN {printf "%.2f", o / (s * b)}')
        busy=$(awk -v d=$(( ticks1 - ticks0 )) -v hz="$(getconf CLK_TCK)" -v w="$t1" -v v="$t0" -v s="$shards" \
            'BEGIN {printf "%.0f%%", 100 * d / hz / ((w - v) * s)}')
        printf '%-8s %6d %5d %14.0f %9.3f %9.3f %11s %11s\n' "$mode" "$shards" "$load" "$ops" "$p50" "$p99" "$eff" "$busy"
        echo "$mode,$shards,$load,$ops,$p50,$p99,$eff,$busy" >>"$OUT/results.csv"
        ops=""
    done
done
echo; echo "results: $OUT/results.csv"
echo "note: where shard_busy is well under 100%, the load threads were the limit, not keel."
