#!/usr/bin/env bash
# Two keel builds, A and B, one shard each on core 0, interleaved (A B A B ...) so that a noisy
# host's drift hits both alike: durable SET (the issue-3 load: 50 clients, keel-bench on core 1),
# one line of ops/s and p99 per run, then the medians and B/A. For telling whether a change to the
# write path helped on the 2-core development VM, where back-to-back figures swing by 10%.
#
# Usage: bench-harness/ab.sh KEEL_A KEEL_B [PIPELINE [ROUNDS [APPENDONLY]]]
#        (defaults: pipeline 16, 5 rounds, appendonly yes with appendfsync always)
# Env: KEEL_BENCH [target/release/keel-bench], PORT [7799], SECONDS_PER_RUN [5],
#      WORKLOAD [durable-write] (any keel-bench --workload; its default key range is kept),
#      KEY_MAXIMUM [100000]: durable-write's key range (1000 fits in cache: no misses per key),
#      LOAD_THREADS [1]: the 50 clients split over this many load threads, on cores 1..N.
# Each run's line also shows commands per journal batch (from INFO; "-" without a journal) and
# the server's CPU time per command in µs (from /proc, over the load's run): the steadier figure
# for a change that saves CPU, since throughput here also swings with the virtual disk.
set -uo pipefail
A=$(readlink -f "${1:?usage: ab.sh KEEL_A KEEL_B [PIPELINE [ROUNDS [APPENDONLY]]]}")
B=$(readlink -f "${2:?usage: ab.sh KEEL_A KEEL_B [PIPELINE [ROUNDS [APPENDONLY]]]}")
PIPELINE=${3:-16}
ROUNDS=${4:-5}
APPENDONLY=${5:-yes}
HERE=$(dirname "$(readlink -f "$0")")
BENCH=${KEEL_BENCH:-$HERE/../target/release/keel-bench}
PORT=${PORT:-7799}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
WORKLOAD=${WORKLOAD:-durable-write}
LOAD_THREADS=${LOAD_THREADS:-1}
ulimit -l unlimited 2>/dev/null || true
# shellcheck source=common.sh
. "$HERE/common.sh"

stop() { pkill -9 -f -- "--port $PORT( |$)" 2>/dev/null; sleep 0.3; }

# One run: prints "ops/s p99-ms commands-per-batch cpu-us-per-command".
run() {
    stop
    local dir
    dir=$(mktemp -d)
    taskset -c 0 "$1" --port "$PORT" --dir "$dir" --shards 1 --appendonly "$APPENDONLY" \
        --appendfsync always >/dev/null 2>&1 &
    local pid=$!
    wait_for_port
    local figures commands batches ticks_before commands_before cpu_us
    ticks_before=$(cpu_ticks "$pid")
    commands_before=$(info_field total_commands_processed)
    figures=$(taskset -c "1-$LOAD_THREADS" "$BENCH" -s 127.0.0.1 -p "$PORT" -t "$LOAD_THREADS" \
        -c $((50 / LOAD_THREADS)) --pipeline "$PIPELINE" --workload "$WORKLOAD" "${KEY_RANGE[@]}" \
        --test-time "$SECONDS_PER_RUN" 2>/dev/null | awk '/^Totals/ { printf "%d %s", $2, $7 }')
    commands=$(info_field total_commands_processed)
    cpu_us=$(awk -v t="$(($(cpu_ticks "$pid") - ticks_before))" \
        -v c="$((commands - commands_before))" -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf "%.3f", t / hz * 1e6 / c }')
    batches=$(info_field journal_batches_written)
    if [ "${batches:-0}" -gt 0 ]; then
        echo "$figures $((commands / batches)) $cpu_us"
    else
        echo "$figures - $cpu_us"
    fi
    stop
    rm -rf "$dir"
}

# durable-write's default range (10M keys) would measure memory growth; 100k is the issue's load.
KEY_RANGE=()
[ "$WORKLOAD" = durable-write ] && KEY_RANGE=(--key-maximum "${KEY_MAXIMUM:-100000}")
trap stop EXIT
results=$(mktemp)
for round in $(seq "$ROUNDS"); do
    for build in A B; do
        bin=$A
        [ $build = B ] && bin=$B
        line="$build $(run "$bin")"
        echo "round $round: $line"
        echo "$line" >>"$results"
    done
done
python3 - "$results" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if len(l.split()) == 5]
med = {b: statistics.median(int(r[1]) for r in rows if r[0] == b) for b in "AB"}
p99 = {b: statistics.median(float(r[2]) for r in rows if r[0] == b) for b in "AB"}
cpu = {b: statistics.median(float(r[4]) for r in rows if r[0] == b) for b in "AB"}
print(f"median ops/s: A {med['A']:.0f}, B {med['B']:.0f}, B/A {med['B'] / med['A']:.3f}; "
      f"median p99 ms: A {p99['A']:.3f}, B {p99['B']:.3f}; "
      f"median CPU us/command: A {cpu['A']:.3f}, B {cpu['B']:.3f}, B/A {cpu['B'] / cpu['A']:.3f}")
EOF
rm -f "$results"
