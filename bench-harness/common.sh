# Helpers for the bench-harness shell scripts (sourced; they need $PORT set). They use bash's
# /dev/tcp, not redis-cli: a lent machine has no redis tools.

# Waits up to 5 s for a server to accept connections on $PORT.
wait_for_port() {
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# A field of the server's INFO; empty when absent.
info_field() {
    exec 3<>"/dev/tcp/127.0.0.1/$PORT" || return
    printf '*1\r\n$4\r\nINFO\r\n' >&3
    timeout 1 cat <&3 | tr -d '\r' | awk -F: -v f="$1" '$1 == f { print $2 }'
    exec 3<&-
}

# CPU time (user + system, in clock ticks) that process $1 has used so far.
cpu_ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# Stops whatever server these scripts started on $PORT.
stop_port() {
    pkill -9 -f -- "--port $PORT( |$)" 2>/dev/null
    sleep 0.3
}

# Starts one durable keel shard ($KEEL, appendfsync always) on core 0 with its data in $1, and
# waits until it accepts connections; exits the script if it does not.
start_durable_shard() {
    stop_port
    taskset -c 0 "$KEEL" --port "$PORT" --dir "$1" --shards 1 --appendonly yes \
        --appendfsync always >/dev/null 2>&1 &
    disown
    wait_for_port || { echo "keel did not start" >&2; exit 1; }
}

# Starts the issue-3 load on core 1 in the background: durable SETs over 100k keys from 50
# clients at pipeline $1 for $2 seconds against $PORT ($BENCH is keel-bench), its output in $3;
# sets LOAD_PID.
start_durable_load() {
    taskset -c 1 "$BENCH" -s 127.0.0.1 -p "$PORT" -t 1 -c 50 --pipeline "$1" \
        --workload durable-write --key-maximum 100000 --test-time "$2" >"$3" 2>&1 &
    LOAD_PID=$!
}
