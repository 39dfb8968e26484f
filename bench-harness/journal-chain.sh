#!/usr/bin/env bash
# Where a journal batch's time goes, step by step: from the shard's write submission (io_uring)
# through the device's write (block layer), the kernel worker that O_DSYNC then runs to issue the
# flush and wait for it (workqueue), to the completion posted on the shard's core and the first
# reply sent after it. Prints p10/p50/p90 of each step over the traced batches.
#
# One keel shard on core 0 (appendfsync always), durable SETs from 50 clients at PIPELINE on
# core 1, traced for SECONDS with `perf record -a` on tracepoints (root, and a kernel with the
# block, workqueue, io_uring and syscalls tracepoints). A batch is followed by its io_uring
# request, its write's sector and its completion work item. Meant for a durable shard whose
# journal device has no FUA, so that O_DSYNC completes each write in a worker that flushes.
#
# Usage: bench-harness/journal-chain.sh [PIPELINE [SECONDS]]   (defaults: 1 1)
# Env: KEEL [target/release/keel], KEEL_BENCH [target/release/keel-bench], PORT [7797].
set -uo pipefail
PIPELINE=${1:-1}
SECONDS_TRACED=${2:-1}
HERE=$(dirname "$(readlink -f "$0")")
KEEL=${KEEL:-$HERE/../target/release/keel}
BENCH=${KEEL_BENCH:-$HERE/../target/release/keel-bench}
PORT=${PORT:-7797}
ulimit -l unlimited 2>/dev/null || true
# shellcheck source=common.sh
. "$HERE/common.sh"

work=$(mktemp -d)
trap 'stop_port; rm -rf "$work"' EXIT
start_durable_shard "$work/data"
start_durable_load "$PIPELINE" $((SECONDS_TRACED + 4)) "$work/load.out"
sleep 1.5
perf record -a -o "$work/trace.data" \
    -e block:block_rq_issue -e block:block_rq_complete \
    -e workqueue:workqueue_queue_work -e workqueue:workqueue_execute_start \
    -e workqueue:workqueue_execute_end \
    -e io_uring:io_uring_submit_req -e io_uring:io_uring_complete \
    -e syscalls:sys_enter_sendto -- sleep "$SECONDS_TRACED" >/dev/null 2>&1
wait "$LOAD_PID"
grep '^Totals' "$work/load.out" | awk '{ printf "load: %d ops/s\n", $2 }'
perf script -i "$work/trace.data" -F cpu,comm,time,event,trace 2>/dev/null >"$work/trace.txt"
python3 - "$work/trace.txt" <<'PY'
import re, sys

events = []
for line in open(sys.argv[1]):
    m = re.match(r'\s*(\S+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s+(.*)', line)
    if m:
        comm, cpu, t, name, rest = m.groups()
        events.append((float(t) * 1e6, int(cpu), comm, name, rest))
events.sort()
batches, by_sector, by_req = [], {}, {}
last_submitted = None
written_on_cpu = {}  # a write just completed on this CPU, waiting for its completion work
by_work = {}  # the completion work item of each batch whose work was queued
for t, cpu, comm, name, rest in events:
    if name == 'io_uring:io_uring_submit_req' and 'WRITE_FIXED' in rest:
        last_submitted = {'submit': t}
        by_req[re.search(r'req (\S+),', rest).group(1)] = last_submitted
        batches.append(last_submitted)
    elif name == 'block:block_rq_issue' and ' WS ' in rest and comm == 'S0':
        if last_submitted and 'issue' not in last_submitted:
            last_submitted['issue'] = t
            by_sector[re.search(r'\(\) (\d+) \+', rest).group(1)] = last_submitted
    elif name == 'block:block_rq_complete' and re.search(r' WS \(\) \d+ \+ 8', rest):
        batch = by_sector.pop(re.search(r'\(\) (\d+) \+', rest).group(1), None)
        if batch:
            batch['written'] = t
            written_on_cpu[cpu] = batch
    elif name == 'workqueue:workqueue_queue_work' and 'iomap_dio_complete_work' in rest:
        batch = written_on_cpu.pop(cpu, None)
        if batch:
            by_work[re.search(r'work struct=(\S+)', rest).group(1)] = batch
    elif name == 'workqueue:workqueue_execute_start' and 'iomap_dio_complete_work' in rest:
        batch = by_work.get(re.search(r'work struct (\S+):', rest).group(1))
        if batch and 'worker' not in batch:
            batch['worker'] = t
    elif name == 'workqueue:workqueue_execute_end' and 'iomap_dio_complete_work' in rest:
        batch = by_work.pop(re.search(r'work struct (\S+):', rest).group(1), None)
        if batch and 'worker' in batch:
            batch['synced'] = t
    elif name == 'io_uring:io_uring_complete' and 'result 4096' in rest:
        batch = by_req.pop(re.search(r'req (\S+),', rest).group(1), None)
        if batch and 'synced' in batch:
            batch['done'] = t
    elif name == 'syscalls:sys_enter_sendto' and comm == 'S0':
        for batch in batches[-8:]:
            if 'done' in batch and 'sent' not in batch:
                batch['sent'] = t
keys = ['submit', 'issue', 'written', 'worker', 'synced', 'done', 'sent']
steps = [[b[keys[k + 1]] - b[keys[k]] for k in range(len(keys) - 1)] + [b['sent'] - b['submit']]
         for b in batches if all(k in b for k in keys)]
names = ['submission to the device queue', 'the write',
         'write done to its worker running', 'the flush, issued and waited by the worker',
         'worker done to completion posted', 'completion to first reply sent', 'in all']
print(f'{len(steps)} of {len(batches)} batches followed through every step (µs)')
if not steps:
    sys.exit('no batch could be followed through every step')
print(f'{"step":<44}{"p10":>7}{"p50":>7}{"p90":>7}')
for k, name in enumerate(names):
    v = sorted(s[k] for s in steps)
    n = len(v)
    print(f'{name:<44}{v[n // 10]:>7.0f}{v[n // 2]:>7.0f}{v[n * 9 // 10]:>7.0f}')
PY
