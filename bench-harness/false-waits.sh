#!/usr/bin/env bash
# How often a read waits for a sync it did not need. No dirty reads marks each key written in a
# direct-mapped table (`src/shard/unsynced.rs`), so a read of a key sharing a mark with a write in
# flight waits for that write's sync too. Here writers and readers use disjoint keys, so every read
# that waited (INFO persistence `journal_reads_waited`) waited needlessly.
#
# One keel shard on core 0 (appendfsync always). On core 1: durable SETs of keys `w-*` from
# WRITERS clients at PIPELINE, and 25 clients GETting keys `r-*` (written beforehand) one at a
# time. Prints reads, reads that waited, and their share.
#
# Usage: bench-harness/false-waits.sh [PIPELINE [WRITERS [SECONDS]]]   (defaults: 16 25 5)
# Env: KEEL [target/release/keel], KEEL_BENCH [target/release/keel-bench], PORT [7798].
set -uo pipefail
PIPELINE=${1:-16}
WRITERS=${2:-25}
SECONDS_RUN=${3:-5}
HERE=$(dirname "$(readlink -f "$0")")
KEEL=${KEEL:-$HERE/../target/release/keel}
BENCH=${KEEL_BENCH:-$HERE/../target/release/keel-bench}
PORT=${PORT:-7798}
KEYS=100000
ulimit -l unlimited 2>/dev/null || true
# shellcheck source=common.sh
. "$HERE/common.sh"

dir=$(mktemp -d)
trap 'stop_port; rm -rf "$dir"' EXIT
start_durable_shard "$dir"
load() { taskset -c 1 "$BENCH" -s 127.0.0.1 -p "$PORT" -t 1 --key-maximum "$KEYS" "$@"; }
load -c 5 --ratio 1:0 --key-prefix r- --key-pattern S:S --requests $((KEYS / 5)) >/dev/null 2>&1
reads_before=$(($(info_field keyspace_hits) + $(info_field keyspace_misses)))
waited_before=$(info_field journal_reads_waited)
load -c "$WRITERS" --pipeline "$PIPELINE" --workload durable-write --key-prefix w- \
    --test-time $((SECONDS_RUN + 1)) >/dev/null 2>&1 &
writers=$!
sleep 0.5
load -c 25 --ratio 0:1 --key-prefix r- --test-time "$SECONDS_RUN" >/dev/null 2>&1
wait "$writers"
reads=$(($(info_field keyspace_hits) + $(info_field keyspace_misses) - reads_before))
waited=$(($(info_field journal_reads_waited) - waited_before))
awk -v p="$PIPELINE" -v w="$WRITERS" -v r="$reads" -v n="$waited" 'BEGIN {
    printf "writers: %d clients at pipeline %d; reads of other keys: %d, waited: %d (%.3f%%)\n",
        w, p, r, n, r ? 100 * n / r : 0 }'
