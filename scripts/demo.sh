#!/usr/bin/env bash
# Build flashsale and watch a flash sale happen on this machine: the daemon
# on the embedded default config (kernel mode, loopback, no NIC, no
# hugepages) and thousands of simulated buyers racing for limited stock with
# flashsale-bench, which ends with its correctness verdict.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
echo "built: build/app/flashsaled build/app/flashsale build/app/flashsale-bench"

# The shipped config, on a fresh data directory so every demo starts with
# full stock (the appliance keeps its state across restarts).
DATA=$(mktemp -d /tmp/flashsale-demo.XXXXXX)
CONFIG=$DATA/flashsale.ini
sed "s#^dir = .*#dir = $DATA/data#" "${BASE_CONFIG:-config/flashsale.ini}" >"$CONFIG"
LOG=$DATA/flashsaled.log
build/app/flashsaled --config "$CONFIG" --init >"$LOG" 2>&1 &  # --init: a new appliance
PID=$!
cleanup() {
	kill "$PID" 2>/dev/null || true
	# The data dir holds 64 MiB preallocated log segments: keep it only on request.
	if [ -n "${FLASHSALE_KEEP_TMP:-}" ]; then echo "data kept in $DATA"; else rm -rf "$DATA"; fi
}
trap cleanup EXIT
for _ in $(seq 1 100); do
	grep -q " ready: " "$LOG" && break
	kill -0 "$PID" 2>/dev/null || { cat "$LOG"; exit 1; }
	sleep 0.1
done
sed 's/^/[flashsaled] /' "$LOG"

echo
echo "=== one buyer, by hand (the flashsale CLI):"
build/app/flashsale --config "$CONFIG" item --item 1001 || true
build/app/flashsale --config "$CONFIG" buy --user 424242 --item 1001 || true
echo
echo "=== the rush: 100,000 buyers, 3 attempts each, 16 requests per datagram"
status=0
build/app/flashsale-bench --config "$CONFIG" --users 100000 --attempts 3 --batch 16 --threads 2 || status=$?

kill -TERM "$PID"
wait "$PID" || status=$?
echo
echo "=== flashsaled after SIGTERM (final counters and per-shard audit):"
tail -n +1 "$LOG" | grep -E "final|audit|stopped" | sed 's/^/[flashsaled] /'
exit $status
