#!/usr/bin/env bash
# OK latency of durable reservations at fixed offered rates (open loop):
# for each rate, a fresh appliance (durability sync by default, 2 workers,
# 4 M units of stock) takes one-message BUYs at that rate for 5 s.
# usage: scripts/bench_openloop.sh [RATE...]   (default 20000 50000 80000 100000)
# env: DURABILITY=sync|batch|none  BUILD=build
set -euo pipefail
BUILD=${BUILD:-build}
RATES=${*:-20000 50000 80000 100000}
DIR=$(mktemp -d /tmp/flashsale-openloop.XXXXXX)
trap 'rm -rf "$DIR"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$DIR/ol.ini" <<INI
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
durability = ${DURABILITY:-sync}
[limits]
max_orders = 4100000
[activity.1]
name = open loop
start = now-1s
end = now+1d
require_token = yes
token_key = 000102030405060708090a0b0c0d0e0f
[item.1001]
activity = 1
total = 2000000
per_user_limit = 1000
[item.1002]
activity = 1
total = 2000000
per_user_limit = 1000
INI
for rate in $RATES; do
	rm -rf "$DIR/data"
	"$BUILD/app/flashsaled" --config "$DIR/ol.ini" --init >"$DIR/d.log" 2>&1 &
	PID=$!
	for _ in $(seq 1 200); do grep -q " ready: " "$DIR/d.log" && break; sleep 0.05; done
	echo "offered $rate BUYs/s (durability ${DURABILITY:-sync}):"
	"$BUILD/app/flashsale-bench" --config "$DIR/ol.ini" --loop --duration 5 --rate "$rate" \
		--batch 1 --threads 2 --no-verdict 2>/dev/null | grep -E "^throughput|^latency" | sed 's/^/  /'
	kill -KILL $PID; wait $PID 2>/dev/null || true
done
