#!/usr/bin/env bash
# Packs what device-run.sh needs into one folder, for a many-core machine that has no cargo and
# no redis package: release builds of keel and keel-bench (stripped), and redis-server with every
# shared library it loads and this host's dynamic loader, behind a wrapper that runs it through
# them (so the other machine's libc version does not matter).
#
# Usage: bench-harness/pack-for-device.sh DIR      (then carry DIR; see device-run.sh)
set -euo pipefail
DIR=${1:?usage: pack-for-device.sh DIR}
cd "$(dirname "$0")/.."
cargo build --release -p keel -p keel-bench
command -v redis-server >/dev/null || apt-get install -y redis-server
rm -rf "$DIR"; mkdir -p "$DIR/redis/lib"
strip -o "$DIR/keel" target/release/keel
strip -o "$DIR/keel-bench" target/release/keel-bench
cp "$(command -v redis-server)" "$DIR/redis/redis-server.bin"
ldd "$DIR/redis/redis-server.bin" | awk '/=>/ {print $3} /ld-linux/ {print $1}' |
    while read -r lib; do cp -L "$lib" "$DIR/redis/lib/"; done
loader=$(basename "$(ldd "$DIR/redis/redis-server.bin" | awk '/ld-linux/ {print $1}')")
cat >"$DIR/redis-server" <<WRAP
#!/bin/sh
# redis-server through the loader and libraries it was packed with
here=\$(dirname "\$(readlink -f "\$0")")
exec "\$here/redis/lib/$loader" --library-path "\$here/redis/lib" "\$here/redis/redis-server.bin" "\$@"
WRAP
chmod +x "$DIR/redis-server"
"$DIR/redis-server" --version
du -sh "$DIR"
