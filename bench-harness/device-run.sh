#!/usr/bin/env bash
# The one prepared run for a lent many-core machine, which has neither cargo nor redis:
#   1. the host: cores, kernel, memlock limit, file system, and the disk's sync floor
#      (dd of 4 KiB O_DIRECT|O_DSYNC writes);
#   2. shard scaling (scale.sh): 1, 2, 4, 8 and 14 shards through the main port, in cluster
#      mode (each shard connection keeping 16 requests in flight), and durable writes alone
#      (--appendonly yes, appendfsync always, SET only) in cluster mode;
#   3. durable SET side by side (keel-bench compare --persistence always, the issue-3 load:
#      one server core, 50 clients, pipeline 1 and 16) against the packed redis-server.
# Everything goes to OUT_DIR (logs, CSV, JSON); a summary goes to stdout.
#
# Usage: bench-harness/pack-for-device.sh .devpack          (here, with cargo)
#        bench-harness/device-run.sh .devpack OUT_DIR       (there; carry .devpack)
# Env: DURATION [6] seconds per scaling point, SHARDS ["1 2 4 8 14"], RUNS [5] compare runs.
set -uo pipefail
PACK=$(readlink -f "${1:?usage: device-run.sh PACK_DIR OUT_DIR}")
OUT=$(mkdir -p "${2:?usage: device-run.sh PACK_DIR OUT_DIR}" && readlink -f "$2")
HERE=$(dirname "$(readlink -f "$0")")
DURATION=${DURATION:-6}
SHARDS=${SHARDS:-1 2 4 8 14}
RUNS=${RUNS:-5}
# journals and snapshots on the disk under the working tree, not on a tmpfs /tmp
export TMPDIR=$PWD/.device-tmp
mkdir -p "$TMPDIR"

echo "== host"
echo "cores: $(nproc), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
echo "kernel: $(uname -r); memlock: $(ulimit -l); date: $(date -u +%FT%TZ)"
df -T "$TMPDIR" | tail -1
ulimit -l unlimited 2>/dev/null || echo "cannot raise memlock"
echo "disk sync floor (1000 x 4 KiB O_DIRECT|O_DSYNC writes):"
dd if=/dev/zero of="$TMPDIR/dd-sync" bs=4k count=1000 oflag=direct,dsync 2>&1 | tail -1
rm -f "$TMPDIR/dd-sync"
if ! timeout 20 "$PACK/keel" --port 7390 --bind 127.0.0.1 --dir "$TMPDIR/probe" --shards 2 \
    >"$OUT/probe.log" 2>&1 & then :; fi
sleep 3
if ! kill -0 $! 2>/dev/null; then
    echo "keel did not stay up; its log:"; cat "$OUT/probe.log"; exit 1
fi
kill $!; wait $! 2>/dev/null

echo; echo "== shard scaling, main port (keel forwards to the owning shard)"
SHARDS=$SHARDS DURATION=$DURATION OUT=$OUT/scale-main MODES=main \
    "$HERE/scale.sh" "$PACK/keel" "$PACK/keel-bench" 2>&1 | tail -10

echo; echo "== shard scaling, cluster mode (straight to each shard), pipeline 16 per shard connection"
SHARDS=$SHARDS DURATION=$DURATION OUT=$OUT/scale-cluster MODES=cluster PIPELINE_PER_SHARD=yes \
    "$HERE/scale.sh" "$PACK/keel" "$PACK/keel-bench" 2>&1 | tail -10

echo; echo "== durable shard scaling (appendfsync always, SET only), as the cluster-mode run"
SHARDS=$SHARDS DURATION=$DURATION OUT=$OUT/scale-durable MODES=cluster PIPELINE_PER_SHARD=yes \
    APPENDONLY=yes RATIO=1:0 "$HERE/scale.sh" "$PACK/keel" "$PACK/keel-bench" 2>&1 | tail -10

echo; echo "== durable SET, one server core, 2 load threads x 25 clients"
for p in 1 16; do
    "$PACK/keel-bench" compare --keel-bin "$PACK/keel" --redis-bin "$PACK/redis-server" \
        --runs "$RUNS" -t 2 -c 25 --pipeline "$p" --workload durable-write --key-maximum 100000 \
        --test-time 5 --persistence always --out-dir "$OUT/durable-p$p" \
        >"$OUT/durable-p$p.txt" 2>"$OUT/durable-p$p.err"
    echo "-- pipeline $p (exit $?)"
    tail -12 "$OUT/durable-p$p.txt"
done
