#!/usr/bin/env bash
# Packs what the device-*.sh scripts need into one folder, for a many-core machine that has no
# cargo and no redis package: release builds of keel and keel-bench (stripped; keel.sym keeps
# its symbol table, for profiles), and redis-server and perf with every shared library they load
# and this host's dynamic loader, behind wrappers that run them through those (so the other
# machine's libc version does not matter). perf is packed only where this host has it.
# With PGO=yes it also builds the profile-guided keel (tuning/build-pgo, about 5 minutes) and
# packs it as keel-pgo.
#
# Usage: [PGO=yes] bench-harness/pack-for-device.sh DIR      (then carry DIR; see device-run.sh)
set -euo pipefail
DIR=${1:?usage: pack-for-device.sh DIR}
cd "$(dirname "$0")/.."
cargo build --release -p keel -p keel-bench
command -v redis-server >/dev/null || apt-get install -y redis-server
rm -rf "$DIR"; mkdir -p "$DIR/bin" "$DIR/lib"
strip -o "$DIR/keel" target/release/keel
strip --strip-debug -o "$DIR/keel.sym" target/release/keel
strip -o "$DIR/keel-bench" target/release/keel-bench
if [ "${PGO:-no}" = yes ]; then
    tuning/build-pgo target/pgo/keel
    strip -o "$DIR/keel-pgo" target/pgo/keel
fi

# pack NAME: the binary NAME on PATH, its libraries, and a wrapper DIR/NAME
pack() {
    cp "$(readlink -f "$(command -v "$1")")" "$DIR/bin/$1"
    ldd "$DIR/bin/$1" | awk '/=>/ {print $3} /ld-linux/ {print $1}' |
        while read -r lib; do cp -Ln "$lib" "$DIR/lib/"; done
    local loader
    loader=$(basename "$(ldd "$DIR/bin/$1" | awk '/ld-linux/ {print $1}')")
    cat >"$DIR/$1" <<WRAP
#!/bin/sh
# $1 through the loader and libraries it was packed with
here=\$(dirname "\$(readlink -f "\$0")")
exec "\$here/lib/$loader" --library-path "\$here/lib" "\$here/bin/$1" "\$@"
WRAP
    chmod +x "$DIR/$1"
}
pack redis-server
"$DIR/redis-server" --version
if command -v perf >/dev/null; then
    pack perf
    "$DIR/perf" --version
fi
du -sh "$DIR"
