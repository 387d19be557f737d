#!/usr/bin/env bash
# Restart time with N orders (default 1,000,000), both ways: fills a fresh
# appliance with N winning BUYs through flashsale-bench (durability none: we
# measure recovery, not the fill), kills it (-9: no snapshot), times a restart
# from exec to "ready" (log replay + start-up audit), stops that one cleanly
# (its shutdown snapshot is timed), and times a restart from the snapshot.
# usage: scripts/bench_recovery.sh [N] [BUILD_DIR]
set -euo pipefail
N=${1:-1000000}
BUILD=${2:-build}
DIR=$(mktemp -d /tmp/flashsale-recovery.XXXXXX)
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$DIR"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HALF=$(( (N + 1) / 2 ))
cat >"$DIR/r.ini" <<INI
[appliance]
mode = kernel
workers = 2
[net]
address = 127.0.0.1
udp_port = $PORT
http_port = 0
[admin]
port = 0
[persist]
dir = $DIR/data
durability = none
[limits]
max_orders = $(( N + N / 25 + 1000 ))
[activity.1]
name = recovery bench
start = now-1s
end = now+1d
require_token = no
[item.1001]
activity = 1
total = $HALF
per_user_limit = 1
[item.1002]
activity = 1
total = $HALF
per_user_limit = 1
INI
wait_ready() {
	for _ in $(seq 1 600); do grep -q " ready: " "$1" && return 0; sleep 0.05; done
	echo "not ready:"; cat "$1"; exit 1
}
"$BUILD/app/flashsaled" --config "$DIR/r.ini" --init >"$DIR/fill.log" 2>&1 &
PID=$!
wait_ready "$DIR/fill.log"
echo "filling: $N orders"
"$BUILD/app/flashsale-bench" --config "$DIR/r.ini" --users "$N" --batch 16 --threads 2 --no-verdict | grep -E "^status|^throughput"
kill -KILL $PID; wait $PID 2>/dev/null || true
echo "log on disk: $(du -s --apparent-size --block-size=1 "$DIR/data" | cut -f1) bytes ($(( $(du -s --apparent-size --block-size=1 "$DIR/data" | cut -f1) / N )) per order)"
restart() {  # name
	local start end
	start=$(date +%s%N)
	"$BUILD/app/flashsaled" --config "$DIR/r.ini" >"$DIR/$1.log" 2>&1 &
	PID=$!
	wait_ready "$DIR/$1.log"
	end=$(date +%s%N)
	grep -E "orders from the snapshot|audit ok" "$DIR/$1.log" | sed 's/^[^ ]* //'
	echo "restart ($1) with $N orders: $(( (end - start) / 1000000 )) ms from exec to ready"
	echo "memory after start: $(awk '/VmRSS/ {print $2 " kB RSS"}' /proc/$PID/status)"
}
restart from-log
kill -TERM $PID; wait $PID
grep -E "snapshot \(shutdown\)" "$DIR/from-log.log" | sed 's/^[^ ]* //'
echo "snapshot file: $(stat -c %s "$DIR/data/snapshot.db") bytes ($(( $(stat -c %s "$DIR/data/snapshot.db") / N )) per order)"
restart from-snapshot
kill -KILL $PID; wait $PID 2>/dev/null || true
