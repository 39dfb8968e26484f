#!/usr/bin/env bash
# Memory per key, side by side: loads the same N keys into keel (one shard, no journal) and into
# redis-server (no persistence), each started fresh, and reports the growth of the process's
# resident memory divided by N. Data sets (issue 5's):
#   hashes   user:<i> -> name n<i>, age <i>, city paris, plan gold      (a 4-field listpack hash)
#   zsets    board:<i> -> m0..m9 with scores 0, 1.5, 3, ... 13.5         (a 10-member listpack zset)
#   strings  user:<i> -> 1                                               (the keyspace table alone)
#
#   bench-harness/memory-side-by-side.sh [KEYS [SETS]]     e.g. memory-side-by-side.sh 1000000 "hashes zsets"
set -euo pipefail
keys=${1:-1000000}
sets=${2:-hashes zsets strings}
repo=$(cd "$(dirname "$0")/.." && pwd)
keel=${KEEL_BIN:-$repo/target/release/keel}
port=7603
command -v redis-server >/dev/null || { echo "installing redis-server"; apt-get install -y -qq redis-server >/dev/null; }
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

# Writes the RESP commands of data set $1 to stdout.
generate() {
    awk -v n="$keys" -v set="$1" 'BEGIN {
        for (i = 0; i < n; i++) {
            if (set == "hashes") {
                k = "user:" i; nm = "n" i; age = "" i
                printf "*10\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n$4\r\nname\r\n$%d\r\n%s\r\n$3\r\nage\r\n$%d\r\n%s\r\n$4\r\ncity\r\n$5\r\nparis\r\n$4\r\nplan\r\n$4\r\ngold\r\n", length(k), k, length(nm), nm, length(age), age
            } else if (set == "zsets") {
                k = "board:" i
                printf "*22\r\n$4\r\nZADD\r\n$%d\r\n%s\r\n", length(k), k
                for (m = 0; m < 10; m++) {
                    s = sprintf("%.1f", m * 1.5)
                    printf "$%d\r\n%s\r\n$2\r\nm%d\r\n", length(s), s, m
                }
            } else {
                k = "user:" i
                printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\n1\r\n", length(k), k
            }
        }
    }'
}

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# Prints the bytes per key of data set $2 in server $1 (keel or redis).
measure() {
    rm -rf "$work/data"; mkdir -p "$work/data"
    if [ "$1" = keel ]; then
        "$keel" --port $port --dir "$work/data" --shards 1 --appendonly no >"$work/keel.log" 2>&1 &
    else
        redis-server --port $port --save '' --appendonly no --dir "$work/data" >/dev/null 2>&1 &
    fi
    local pid=$!
    until redis-cli -p $port ping >/dev/null 2>&1; do sleep 0.05; done
    sleep 0.5
    local before; before=$(rss_kb $pid)
    redis-cli -p $port --pipe <"$work/$2.resp" >/dev/null
    sleep 1
    local after; after=$(rss_kb $pid)
    local loaded; loaded=$(redis-cli -p $port dbsize)
    [ "$loaded" = "$keys" ] || { echo "$1 $2: loaded $loaded keys, expected $keys" >&2; exit 1; }
    local encoding; encoding=$(redis-cli -p $port object encoding "$(redis-cli -p $port randomkey)")
    kill $pid; wait $pid 2>/dev/null || true
    echo "$(( (after - before) * 1024 / keys )) $encoding"
}

printf '%-8s %10s %12s %12s %8s\n' set encoding "redis B/key" "keel B/key" ratio
for set in $sets; do
    generate "$set" >"$work/$set.resp"
    read -r redis_bytes encoding < <(measure redis "$set")
    read -r keel_bytes _ < <(measure keel "$set")
    ratio=$(awk -v k="$keel_bytes" -v r="$redis_bytes" 'BEGIN {printf "%.2fx", k / r}')
    printf '%-8s %10s %12s %12s %8s\n' "$set" "$encoding" "$redis_bytes" "$keel_bytes" "$ratio"
done
