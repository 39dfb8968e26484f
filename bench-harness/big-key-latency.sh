#!/usr/bin/env bash
# Pauses that one big hash slot or one big value can cause, keel vs redis-server side by side.
# Each server in turn on core 0 (keel: 1 shard), redis-benchmark on core 1. The cases:
#   grow:      N random SETs into one slot ({t}:...), P32, 4 clients, journal off: the longest
#              request (a slot table's resize, all at once before keel's seventh session);
#   grow-hash: N random HSETs into one hash, P16, 4 clients, journal off: the longest request
#              (a hash's table resized at once before keel's twenty-first session);
#   grow-set:  the same with SADD into one set;
#   grow-zset: the same with ZADD into one sorted set (its tree's node array was copied as it
#              doubled, too, before keel's twenty-second session);
#   grow-list: the same with RPUSH onto one list (its array of elements was copied as it doubled
#              before keel's twenty-second session);
#   snap-slot: N keys in one slot, then BGSAVE while one client SETs into that slot at P1: the
#              longest SET (a whole-slot copy-on-write before the seventh session);
#   snap-big:  one sorted set of N members, then BGSAVE while one client SETs other keys at P1:
#              the longest SET (keel wrote a value out whole in one step before its eighth
#              session; now in parts);
#   snap-hot:  the same, but the client ZINCRBYs members of that sorted set: the longest ZINCRBY
#              (keel writes out first what a write replaces in a sorted set being written out);
#   snap-hash: a hash of N fields, then BGSAVE while one client HSETs fields of it: the longest
#              HSET (keel made writes to a big hash or set wait until its last part was out
#              before its twentieth session; now they do not);
#   snap-set:  the same with a set of N members and SADD;
#   snap-rename: a hash of N fields, then BGSAVE and at once a RENAME of it within its slot
#              ({t}table to {t}moved), while one client SETs other keys at P1: the longest SET
#              (during keel's twentieth session a RENAME of a big hash during a snapshot copied
#              it, then the snapshot followed it, and the journal logged the hash whole, then
#              the move alone);
#   snap-list: a list of N elements, then BGSAVE while one client LPUSHes to it: the longest
#              LPUSH (keel writes out first what a push or pop replaces in a list being written);
#   snap-str:  one string of N * 128 bytes (256 MB for N = 2M), made by SETRANGE, then BGSAVE
#              while one client SETs other keys at P1: the longest SET (keel wrote a string out
#              whole in one step before its nineteenth session; now in parts);
#   snap-stream: a stream of N entries, then BGSAVE while one client SETs other keys at P1: the
#              longest SET (a stream was written whole before keel's nineteenth session);
#   snap-xadd: the same, but the client XADDs to that stream: the longest XADD (keel's writes to
#              it waited for its last part for part of its nineteenth session; now they do not);
#   spop:      a set of N members, then one client SPOPs from it at P1, 1000 times, journal off:
#              each SPOP (keel walked the whole set for each pick before its twentieth session);
#   zrand:     a sorted set of N members, then one client ZRANDMEMBERs from it at P1, 1000
#              times, journal off: each ZRANDMEMBER (a walk before keel's twentieth session);
#   del-big:   a sorted set of N members, then UNLINK of it while one client SETs other keys at
#              P1: the longest SET (keel frees a big value in steps since its eighth session).
# Prints redis-benchmark's latency summary (ms) for each case and server.
#
# Usage: bench-harness/big-key-latency.sh [N [CASES]]
#        (2000000 "grow grow-hash grow-set grow-zset snap-slot snap-big snap-hot snap-hash snap-set snap-rename
#         snap-list snap-str snap-stream snap-xadd spop zrand del-big"); SERVERS="keel" runs one server only
set -euo pipefail
N=${1:-2000000}
CASES=${2:-grow grow-hash grow-set grow-zset snap-slot snap-big snap-hot snap-hash snap-set snap-rename snap-list snap-str snap-stream snap-xadd spop zrand del-big}
cd "$(dirname "$0")/.."
KEEL=${KEEL_BIN:-target/release/keel}
[ -x "$KEEL" ] || cargo build --release -p keel
command -v redis-server >/dev/null || apt-get install -y redis-server
PORT=7480
DIR=$(mktemp -d)
pid=""
stop() {
    [ -n "$pid" ] && { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    pid=""
    # a stopped keel's listening socket can outlive it for a moment; the next server needs the port
    for _ in $(seq 100); do ss -ltn "sport = :$PORT" | grep -q LISTEN || break; sleep 0.1; done
}
trap 'stop; rm -rf "$DIR"' EXIT

start() { # server, journal on?
    rm -rf "$DIR/data" && mkdir -p "$DIR/data"
    local journal=$2
    case $1 in
        keel) taskset -c 0 "$KEEL" --port $PORT --dir "$DIR/data" --shards 1 --appendonly "$journal" \
                  --appendfsync everysec --auto-aof-rewrite-percentage 0 >"$DIR/server.log" 2>&1 & ;;
        redis) taskset -c 0 redis-server --port $PORT --dir "$DIR/data" --save '' --appendonly "$journal" \
                   --appendfsync everysec --auto-aof-rewrite-percentage 0 >"$DIR/server.log" 2>&1 & ;;
    esac
    pid=$!
    for _ in $(seq 100); do redis-cli -p $PORT ping >/dev/null 2>&1 && break; sleep 0.1; done
}

# redis-benchmark's "avg min p50 p95 p99 max" line.
summary() {
    tr '\r' '\n' | grep -A2 "latency summary" | tail -1
}

load() { # redis-benchmark arguments after the common ones
    taskset -c 1 redis-benchmark -p $PORT -P 32 -c 4 -r 1000000000 "$@" >/dev/null 2>&1
}

# One client at P1 while commands run; the commands ("bgsave", "unlink board", "bgsave;rename a
# b": one after the other) are sent 0.3 s in.
during() { # commands, then the probe's redis-benchmark command
    local commands command
    IFS=';' read -ra commands <<<"$1"
    shift
    taskset -c 1 redis-benchmark -p $PORT -n 30000 -c 1 -r 1000000000 "$@" 2>&1 | summary >"$DIR/probe" &
    local probe=$!
    sleep 0.3
    for command in "${commands[@]}"; do redis-cli -p $PORT $command >/dev/null; done
    wait $probe
    cat "$DIR/probe"
}

echo "case       server  avg min p50 p95 p99 max (ms)"
for case in $CASES; do
    for server in ${SERVERS:-redis keel}; do
        case $case in
            grow)
                start $server no
                out=$(taskset -c 1 redis-benchmark -p $PORT -n "$N" -P 32 -c 4 -r 1000000000 \
                    SET "{t}:__rand_int__" v 2>&1 | summary) ;;
            grow-hash | grow-set | grow-zset | grow-list)
                start $server no
                case $case in
                    grow-hash) write=(HSET table __rand_int__ v) ;;
                    grow-set) write=(SADD tags __rand_int__) ;;
                    grow-zset) write=(ZADD board __rand_int__ __rand_int__) ;;
                    grow-list) write=(RPUSH queue __rand_int__) ;;
                esac
                out=$(taskset -c 1 redis-benchmark -p $PORT -n "$N" -P 16 -c 4 -r 1000000000 \
                    "${write[@]}" 2>&1 | summary) ;;
            snap-slot)
                start $server yes
                load -n "$N" SET "{t}:__rand_int__" v
                sleep 15 # keel: let the last resize's move end
                out=$(during bgsave SET "{t}:__rand_int__" v) ;;
            snap-big | snap-hot)
                start $server yes
                load -n "$N" ZADD board __rand_int__ "m:__rand_int__"
                if [ $case = snap-big ]; then
                    out=$(during bgsave SET "k:__rand_int__" v)
                else
                    out=$(during bgsave ZINCRBY board 1 "m:__rand_int__")
                fi ;;
            snap-hash)
                start $server yes
                load -n "$N" HSET table "f:__rand_int__" v
                out=$(during bgsave HSET table "f:__rand_int__" w) ;;
            snap-rename)
                start $server yes
                load -n "$N" HSET "{t}table" "f:__rand_int__" v
                out=$(during "bgsave;rename {t}table {t}moved" SET "k:__rand_int__" v) ;;
            snap-set)
                start $server yes
                load -n "$N" SADD tags "m:__rand_int__"
                out=$(during bgsave SADD tags "m:__rand_int__") ;;
            snap-list)
                start $server yes
                load -n "$N" RPUSH queue "e:__rand_int__"
                out=$(during bgsave LPUSH queue v) ;;
            snap-str)
                start $server yes
                redis-cli -p $PORT setrange blob $((N * 128 - 1)) x >/dev/null
                sleep 5 # keel journals the new string whole: let that write end
                out=$(during bgsave SET "k:__rand_int__" v) ;;
            snap-stream | snap-xadd)
                start $server yes
                load -n "$N" XADD events '*' f __rand_int__
                if [ $case = snap-stream ]; then
                    out=$(during bgsave SET "k:__rand_int__" v)
                else
                    out=$(during bgsave XADD events '*' f v)
                fi ;;
            spop)
                start $server no
                load -n "$N" SADD tags "m:__rand_int__"
                out=$(taskset -c 1 redis-benchmark -p $PORT -n 1000 -c 1 SPOP tags 2>&1 | summary) ;;
            zrand)
                start $server no
                load -n "$N" ZADD board __rand_int__ "m:__rand_int__"
                out=$(taskset -c 1 redis-benchmark -p $PORT -n 1000 -c 1 ZRANDMEMBER board 2>&1 | summary) ;;
            del-big)
                start $server no
                load -n "$N" ZADD board __rand_int__ "m:__rand_int__"
                out=$(during "unlink board" SET "k:__rand_int__" v) ;;
        esac
        printf '%-10s %-6s %s\n' "$case" "$server" "$out"
        stop
    done
done
