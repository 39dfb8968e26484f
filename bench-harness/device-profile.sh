#!/usr/bin/env bash
# Where one durable shard's core goes, per command, as the same 50 clients are spread over more
# load threads (on a lent machine, each thread on a core of its own): keel on core 0, keel-bench
# on cores 1..N, `perf record -C 0` while the commands are counted over the same window; then
# perf's per-symbol shares as nanoseconds of core 0 per command. For finding why keel's rate
# moves with the load's spread when the server's core is saturated either way.
#
# Usage: bench-harness/pack-for-device.sh .devpack      (here: packs perf and keel.sym too)
#        bench-harness/device-profile.sh .devpack OUT_DIR      (there; carry .devpack)
# Env: THREADS ["2 5"], PIPELINE [16], APPENDONLY [yes], PROFILE_SECONDS [3], TOP [45] symbols.
set -uo pipefail
PACK=$(readlink -f "${1:?usage: device-profile.sh PACK_DIR OUT_DIR}")
OUT=$(mkdir -p "${2:?usage: device-profile.sh PACK_DIR OUT_DIR}" && readlink -f "$2")
HERE=$(dirname "$(readlink -f "$0")")
THREADS=${THREADS:-2 5}
PIPELINE=${PIPELINE:-16}
APPENDONLY=${APPENDONLY:-yes}
PROFILE_SECONDS=${PROFILE_SECONDS:-3}
TOP=${TOP:-45}
PORT=7398
export TMPDIR=$PWD/.device-tmp
mkdir -p "$TMPDIR"
ulimit -l unlimited 2>/dev/null || true
# shellcheck source=common.sh
. "$HERE/common.sh"

for t in $THREADS; do
    dir=$(mktemp -d)
    taskset -c 0 "$PACK/keel.sym" --port $PORT --dir "$dir" --shards 1 --appendonly "$APPENDONLY" \
        --appendfsync always >"$TMPDIR/profile-server.log" 2>&1 &
    server=$!
    wait_for_port || { echo "keel did not start"; cat "$TMPDIR/profile-server.log"; exit 1; }
    taskset -c "1-$t" "$PACK/keel-bench" -s 127.0.0.1 -p $PORT -t "$t" -c $((50 / t)) \
        --pipeline "$PIPELINE" --workload durable-write --key-maximum 100000 \
        --test-time $((PROFILE_SECONDS + 4)) >"$TMPDIR/profile-load-t$t.log" 2>&1 &
    load=$!
    sleep 2
    # The rate is taken over the whole window, perf's start and end included; the shares are of
    # the part perf recorded. Steady load makes the two alike.
    started=$(date +%s.%N)
    before=$(info_field total_commands_processed)
    "$PACK/perf" record -q -B -o "$TMPDIR/t$t.data" -C 0 -F 999 -- sleep "$PROFILE_SECONDS" 2>/dev/null
    after=$(info_field total_commands_processed)
    ended=$(date +%s.%N)
    wait $load
    kill -9 $server; wait $server 2>/dev/null; rm -rf "$dir"
    "$PACK/perf" report -i "$TMPDIR/t$t.data" --no-children --sort dso,sym --stdio 2>/dev/null |
        python3 -c '
import re, sys
rate, top = float(sys.argv[1]), int(sys.argv[2])
rows = []
for line in sys.stdin:
    m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(.*)", line)
    if m:
        rows.append((float(m.group(1)) / 100 * 1e9 / rate, m.group(3), m.group(4)[:100]))
kernel = sum(r[0] for r in rows if r[1] == "k")
print(f"{rate:.0f} commands/s; core 0 per command: {sum(r[0] for r in rows):.0f} ns, "
      f"kernel {kernel:.0f} ns")
for ns, kind, sym in rows[:top]:
    print(f"{ns:8.1f} ns [{kind}] {sym}")
' "$(awk -v c=$((after - before)) -v a="$started" -v b="$ended" 'BEGIN { print c / (b - a) }')" \
        "$TOP" >"$OUT/profile-t$t.txt"
    echo "-- load threads $t: $(head -1 "$OUT/profile-t$t.txt")"
done
