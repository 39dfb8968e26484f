#!/usr/bin/env bash
# Two keel builds, A and B, on a lent many-core machine, interleaved (A B A B ...) so that the
# machine's drift hits both alike: shard scaling in cluster mode (pipeline 16 per shard
# connection), without and with the journal (appendfsync always, SET only). For telling a
# regression from a different machine when a device run's figures moved.
#
# Usage: bench-harness/pack-for-device.sh .devpack; strip -o .devpack/keel-b OTHER_KEEL
#        bench-harness/device-ab.sh .devpack/keel .devpack/keel-b .devpack/keel-bench OUT_DIR
# Env: SHARDS ["1 4 8"], DURATION [5] seconds per point, ROUNDS [2].
set -uo pipefail
A=$(readlink -f "${1:?usage: device-ab.sh KEEL_A KEEL_B KEEL_BENCH OUT_DIR}")
B=$(readlink -f "${2:?}")
BENCH=$(readlink -f "${3:?}")
OUT=$(mkdir -p "${4:?}" && readlink -f "$4")
HERE=$(dirname "$(readlink -f "$0")")
SHARDS=${SHARDS:-1 4 8}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-2}
export TMPDIR=$PWD/.device-tmp
mkdir -p "$TMPDIR"

for journal in no yes; do
    ratio=1:10; [ $journal = yes ] && ratio=1:0
    echo "== appendonly $journal, SET:GET $ratio: ops/s per shard count ($SHARDS)"
    for round in $(seq "$ROUNDS"); do
        for build in A B; do
            bin=$A; [ $build = B ] && bin=$B
            out=$OUT/$journal-$build-$round
            SHARDS=$SHARDS DURATION=$DURATION OUT=$out MODES=cluster PIPELINE_PER_SHARD=yes \
                APPENDONLY=$journal RATIO=$ratio "$HERE/scale.sh" "$bin" "$BENCH" >"$out.log" 2>&1
            echo "$build round $round: $(tail -n +2 "$out/results.csv" | cut -d, -f4 | cut -d. -f1 | tr '\n' ' ')"
        done
    done
done
