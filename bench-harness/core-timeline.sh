#!/usr/bin/env bash
# What a durable shard's core does, in order: a run-length timeline of its request reads
# (recvfrom), reply sends (sendto), harvests of ready sockets (epoll_wait), io_uring entries and
# the requests they submit (a journal batch is a WRITE_FIXED), and io_uring completions. Shows
# how reading, journal writes, waiting and sending overlap, or do not, under the issue-3 load.
#
# One keel shard on core 0 (appendfsync always), durable SETs from 50 clients at PIPELINE on
# core 1, core 0 traced for SECONDS with `perf record -C 0` on tracepoints (root, and a kernel
# with the syscalls and io_uring tracepoints). Tracing slows the shard by 10-20%: read the
# timeline's shape, not its rate. Prints the load's ops/s, the count of each event, and
# LINES lines of timeline from the middle of the trace: microseconds since its first line, the
# event, how many came in a row, and how long the run of them took.
#
# Usage: bench-harness/core-timeline.sh [PIPELINE [SECONDS [LINES]]]   (defaults: 1 0.3 60)
# Env: KEEL [target/release/keel], KEEL_BENCH [target/release/keel-bench], PORT [7796].
set -uo pipefail
PIPELINE=${1:-1}
SECONDS_TRACED=${2:-0.3}
LINES=${3:-60}
HERE=$(dirname "$(readlink -f "$0")")
KEEL=${KEEL:-$HERE/../target/release/keel}
BENCH=${KEEL_BENCH:-$HERE/../target/release/keel-bench}
PORT=${PORT:-7796}
ulimit -l unlimited 2>/dev/null || true
# shellcheck source=common.sh
. "$HERE/common.sh"

work=$(mktemp -d)
trap 'stop_port; rm -rf "$work"' EXIT
start_durable_shard "$work/data"
start_durable_load "$PIPELINE" 5 "$work/load.out"
sleep 2
perf record -C 0 -o "$work/trace.data" \
    -e syscalls:sys_enter_recvfrom -e syscalls:sys_enter_sendto \
    -e syscalls:sys_enter_epoll_wait -e syscalls:sys_enter_io_uring_enter \
    -e io_uring:io_uring_submit_req -e io_uring:io_uring_complete \
    -- sleep "$SECONDS_TRACED" >/dev/null 2>&1
wait "$LOAD_PID"
grep '^Totals' "$work/load.out" | awk '{ printf "load: %d ops/s\n", $2 }'
perf script -i "$work/trace.data" -F time,event,trace 2>/dev/null >"$work/trace.txt"
python3 - "$work/trace.txt" "$LINES" <<'PY'
import collections, re, sys

NAMES = {
    'sys_enter_recvfrom': 'read',
    'sys_enter_sendto': 'send',
    'sys_enter_epoll_wait': 'harvest',
    'sys_enter_io_uring_enter': 'io_uring_enter',
    'io_uring_complete': 'completion',
}
events = []
for line in open(sys.argv[1]):
    m = re.match(r'\s*([\d.]+):\s+\S+:(\S+):\s*(.*)', line)
    if not m:
        continue
    t, name, rest = float(m.group(1)) * 1e6, m.group(2), m.group(3)
    if name == 'io_uring_submit_req':
        op = re.search(r'opcode (\w+)', rest)
        events.append((t, 'submit ' + (op.group(1) if op else '?')))
    elif name in NAMES:
        events.append((t, NAMES[name]))
if not events:
    sys.exit('no events traced')
counts = collections.Counter(name for _, name in events)
print('events:', ', '.join(f'{n} {c}' for n, c in counts.most_common()))
runs = []
for t, name in events:
    if runs and runs[-1][1] == name:
        runs[-1][2] += 1
        runs[-1][3] = t
    else:
        runs.append([t, name, 1, t])
middle = runs[len(runs) // 2:][: int(sys.argv[2])]
t0 = middle[0][0]
print(f"{'us':>7}  {'event':<22} {'count':>5}  {'took us':>7}")
for start, name, count, end in middle:
    print(f'{start - t0:7.0f}  {name:<22} {count:5d}  {end - start:7.0f}')
PY
