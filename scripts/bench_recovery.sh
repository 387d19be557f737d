#!/usr/bin/env bash
# Restart time with N orders in the write-ahead log (default 1,000,000):
# fills a fresh appliance with N winning BUYs through flashsale-bench
# (durability none: we measure recovery, not the fill), stops it, and times a
# restart from exec to "ready" (log replay + start-up audit included).
# usage: scripts/bench_recovery.sh [N] [BUILD_DIR]
set -euo pipefail
N=${1:-1000000}
BUILD=${2:-build}
DIR=$(mktemp -d /tmp/flashsale-recovery.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
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
"$BUILD/app/flashsaled" --config "$DIR/r.ini" >"$DIR/fill.log" 2>&1 &
PID=$!
wait_ready "$DIR/fill.log"
echo "filling: $N orders"
"$BUILD/app/flashsale-bench" --config "$DIR/r.ini" --users "$N" --batch 16 --threads 2 --no-verdict | grep -E "^status|^throughput"
kill -TERM $PID; wait $PID
echo "log on disk: $(du -s --apparent-size --block-size=1 "$DIR/data" | cut -f1) bytes ($(( $(du -s --apparent-size --block-size=1 "$DIR/data" | cut -f1) / N )) per order)"
start=$(date +%s%N)
"$BUILD/app/flashsaled" --config "$DIR/r.ini" >"$DIR/restart.log" 2>&1 &
PID=$!
wait_ready "$DIR/restart.log"
end=$(date +%s%N)
grep -E "replayed|audit ok" "$DIR/restart.log" | sed 's/^[^ ]* //'
echo "restart with $N orders: $(( (end - start) / 1000000 )) ms from exec to ready"
echo "memory of the restarted daemon: $(awk '/VmRSS/ {print $2 " kB RSS"}' /proc/$PID/status)"
kill -TERM $PID; wait $PID
