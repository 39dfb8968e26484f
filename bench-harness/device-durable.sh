#!/usr/bin/env bash
# Durable SET against redis-server on a lent many-core machine, with the load spread over more
# cores than the 2-core VM has: is the issue-3 comparison bound by the server or by the load?
#   1. the disk's sync floor (dd of 4 KiB O_DIRECT|O_DSYNC writes);
#   2. keel-bench compare (one server core, 50 clients) at pipeline 1 with 2 and 5 load threads,
#      durable (appendfsync always) and without persistence, and at pipeline 16 durable; each
#      table has the cores the server and the load kept busy;
#   3. when PACK/keel-b exists: ab.sh of keel against keel-b at pipeline 1 and 16 (5 load
#      threads), with commands per journal batch.
# The summary goes to stdout; the compare tables to OUT_DIR.
#
# Usage: bench-harness/pack-for-device.sh .devpack [; strip -o .devpack/keel-b OTHER_KEEL]
#        bench-harness/device-durable.sh .devpack OUT_DIR      (there; carry .devpack)
# Env: RUNS [3] compare runs, RUN_SECONDS [4] per run, CASES: the compares to run, as
#      NAME:PIPELINE:LOAD_THREADS:PERSISTENCE words (default: the four above); BUILDS [keel]:
#      the keel builds in the pack that each case compares with redis-server, in turn (keel-pgo
#      is the profile-guided one: PGO=yes pack-for-device.sh).
set -uo pipefail
PACK=$(readlink -f "${1:?usage: device-durable.sh PACK_DIR OUT_DIR}")
OUT=$(mkdir -p "${2:?usage: device-durable.sh PACK_DIR OUT_DIR}" && readlink -f "$2")
HERE=$(dirname "$(readlink -f "$0")")
RUNS=${RUNS:-3}
SECONDS_PER_RUN=${RUN_SECONDS:-4}
CASES=${CASES:-p1-always-t2:1:2:always p1-always-t5:1:5:always p1-none-t5:1:5:none p16-always-t5:16:5:always}
BUILDS=${BUILDS:-keel}
# journals on the disk under the working tree, not on a tmpfs /tmp
export TMPDIR=$PWD/.device-tmp
mkdir -p "$TMPDIR"
ulimit -l unlimited 2>/dev/null || echo "cannot raise memlock"

echo "== host: $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(uname -r)"
echo "disk sync floor (1000 x 4 KiB O_DIRECT|O_DSYNC writes):"
dd if=/dev/zero of="$TMPDIR/dd-sync" bs=4k count=1000 oflag=direct,dsync 2>&1 | tail -1
rm -f "$TMPDIR/dd-sync"

# compare NAME PIPELINE THREADS PERSISTENCE BUILD
compare() {
    "$PACK/keel-bench" compare --keel-bin "$PACK/$5" --redis-bin "$PACK/redis-server" \
        --runs "$RUNS" -t "$3" -c $((50 / $3)) --pipeline "$2" --workload durable-write \
        --key-maximum 100000 --test-time "$SECONDS_PER_RUN" --persistence "$4" \
        --out-dir "$TMPDIR/$5-$1" >"$OUT/$5-$1.txt" 2>"$TMPDIR/$5-$1.err"
    local rc=$?
    echo; echo "-- $5, $1: pipeline $2, $3 load threads x $((50 / $3)) clients, persistence $4 (exit $rc)"
    grep -E "^(ops/s|p99 ms|server cores|load cores)" "$OUT/$5-$1.txt"
}
for case in $CASES; do
    IFS=: read -r name pipeline threads persistence <<<"$case"
    for build in $BUILDS; do
        compare "$name" "$pipeline" "$threads" "$persistence" "$build"
    done
done

if [ -x "$PACK/keel-b" ]; then
    for p in 1 16; do
        echo; echo "-- ab.sh keel (A) against keel-b (B), pipeline $p, 5 load threads"
        KEEL_BENCH=$PACK/keel-bench LOAD_THREADS=5 SECONDS_PER_RUN=$SECONDS_PER_RUN \
            "$HERE/ab.sh" "$PACK/keel" "$PACK/keel-b" "$p" 3
    done
fi
