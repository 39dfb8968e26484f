#!/usr/bin/env bash
# Where a journal batch's time goes, step by step: from the shard's write submission (io_uring)
# through the device's write and flush (block layer) to the completion posted on the shard's core
# and the first reply sent after it. Prints p10/p50/p90 of each step over the traced batches.
#
# One keel shard on core 0 (appendfsync always), durable SETs from 50 clients at PIPELINE on
# core 1, traced for SECONDS with `perf record -a` on tracepoints (root, and a kernel with the
# block, io_uring and syscalls tracepoints). A batch is followed by its io_uring request and its
# write's sector; its flush is taken to be the first flush issued after its write completed.
# Meant for a durable shard whose journal device has no FUA (a write and then a flush per batch).
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

stop() { pkill -9 -f -- "--port $PORT( |$)" 2>/dev/null; sleep 0.3; }
stop
work=$(mktemp -d)
trap 'stop; rm -rf "$work"' EXIT
taskset -c 0 "$KEEL" --port "$PORT" --dir "$work/data" --shards 1 --appendonly yes \
    --appendfsync always >/dev/null 2>&1 &
disown
wait_for_port || { echo "keel did not start" >&2; exit 1; }
taskset -c 1 "$BENCH" -s 127.0.0.1 -p "$PORT" -t 1 -c 50 --pipeline "$PIPELINE" \
    --workload durable-write --key-maximum 100000 --test-time $((SECONDS_TRACED + 4)) \
    >"$work/load.out" 2>&1 &
load=$!
sleep 1.5
perf record -a -o "$work/trace.data" \
    -e block:block_rq_issue -e block:block_rq_complete \
    -e io_uring:io_uring_submit_req -e io_uring:io_uring_complete \
    -e syscalls:sys_enter_sendto -- sleep "$SECONDS_TRACED" >/dev/null 2>&1
wait "$load"
grep '^Totals' "$work/load.out" | awk '{ printf "load: %d ops/s\n", $2 }'
perf script -i "$work/trace.data" -F cpu,comm,time,event,trace 2>/dev/null >"$work/trace.txt"
python3 - "$work/trace.txt" <<'PY'
import bisect, re, sys

events = []
for line in open(sys.argv[1]):
    m = re.match(r'\s*(\S+)\s+\[(\d+)\]\s+([\d.]+):\s+(\S+):\s+(.*)', line)
    if m:
        comm, cpu, t, name, rest = m.groups()
        events.append((float(t) * 1e6, int(cpu), comm, name, rest))
events.sort()
batches, by_sector, last = [], {}, None
flush_issued, flush_done = [], []
for t, cpu, comm, name, rest in events:
    if name == 'io_uring:io_uring_submit_req' and 'WRITE_FIXED' in rest:
        last = {'submit': t, 'req': re.search(r'req (\S+),', rest).group(1)}
        batches.append(last)
    elif name == 'block:block_rq_issue' and ' FF ' in rest:
        flush_issued.append(t)
    elif name == 'block:block_rq_complete' and ' FF ' in rest:
        flush_done.append(t)
    elif name == 'block:block_rq_issue' and ' WS ' in rest and comm == 'S0' and last and 'issue' not in last:
        sector = re.search(r'\(\) (\d+) \+', rest).group(1)
        last['issue'] = t
        by_sector[sector] = last
    elif name == 'block:block_rq_complete' and re.search(r' WS \(\) \d+ \+ 8', rest):
        batch = by_sector.pop(re.search(r'\(\) (\d+) \+', rest).group(1), None)
        if batch:
            batch['written'] = t
    elif name == 'io_uring:io_uring_complete' and 'result 4096' in rest:
        req = re.search(r'req (\S+),', rest).group(1)
        batch = next((b for b in batches if b['req'] == req and 'written' in b and 'done' not in b), None)
        if batch:
            batch['done'] = t
    elif name == 'syscalls:sys_enter_sendto' and comm == 'S0':
        for batch in batches[-8:]:
            if 'done' in batch and 'sent' not in batch:
                batch['sent'] = t
steps = []
for b in batches:
    if not all(k in b for k in ('issue', 'written', 'done', 'sent')):
        continue
    i = bisect.bisect_left(flush_issued, b['written'])
    if i == len(flush_issued):
        continue
    j = bisect.bisect_left(flush_done, flush_issued[i])
    if j == len(flush_done) or flush_done[j] > b['done']:
        continue
    steps.append((b['issue'] - b['submit'], b['written'] - b['issue'],
                  flush_issued[i] - b['written'], flush_done[j] - flush_issued[i],
                  b['done'] - flush_done[j], b['sent'] - b['done'], b['sent'] - b['submit']))
names = ['submission to the device queue', 'the write', 'write done to flush issued',
         'the flush', 'flush done to completion posted', 'completion to first reply sent', 'in all']
print(f'{len(steps)} batches traced (µs)')
if not steps:
    sys.exit('no batch could be followed through every step')
print(f'{"step":<34}{"p10":>7}{"p50":>7}{"p90":>7}')
for k, name in enumerate(names):
    v = sorted(s[k] for s in steps)
    n = len(v)
    print(f'{name:<34}{v[n // 10]:>7.0f}{v[n // 2]:>7.0f}{v[n * 9 // 10]:>7.0f}')
PY
