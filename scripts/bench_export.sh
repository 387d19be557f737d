#!/usr/bin/env bash
# flashsale-export into PostgreSQL on this machine: prints, asserts nothing.
#  1. throughput: N winning durable BUYs (durability = sync) are made with the
#     exporter stopped, then `flashsale-export --exit-when-idle` applies the
#     backlog: orders/s into PostgreSQL (one COPY + upsert per batch);
#  2. lag: the exporter tails the log while flashsale-bench makes M more
#     durable winning BUYs at RATE/s (open loop; default 20,000/s: a steady
#     stream, so that the figure is the pipeline's delay, not the time to
#     drain a burst, which part 1 measures); the exporter's own histogram of (DB commit time -
#     the change's decision time in the appliance, which precedes its log
#     commit by at most one group commit) gives p50/p99.
# PostgreSQL 15 runs in a scratch directory on a Unix socket (as nobody when
# run as root), synchronous_commit on, fsync on.
# usage: scripts/bench_export.sh [N] [M] [BUILD_DIR] [BATCH] [RATE]
set -euo pipefail
N=${1:-200000}
M=${2:-100000}
BUILD=${3:-build}
BATCH=${4:-50000}
RATE=${5:-20000}
PGBIN=/usr/lib/postgresql/15/bin
DIR=$(mktemp -d /tmp/flashsale-export-bench.XXXXXX)
AS=()
if [ "$(id -u)" = 0 ]; then chown nobody "$DIR"; AS=(runuser -u nobody --); fi
cleanup() {
  [ -n "${DPID:-}" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null || true
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/pg" -m immediate -w stop >/dev/null 2>&1 || true
  [ "${KEEP:-0}" = 1 ] || rm -rf "$DIR"
}
trap cleanup EXIT
"${AS[@]}" "$PGBIN/initdb" -D "$DIR/pg" -A trust -U postgres >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DIR/pg" -l "$DIR/pg.log" -w \
  -o "-c listen_addresses='' -k $DIR -c shared_buffers=256MB -c max_wal_size=4GB" start >/dev/null
"${AS[@]}" "$PGBIN/createdb" -h "$DIR" -U postgres shop
DB="host=$DIR dbname=shop user=postgres"

PORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
HALF=$(( (N + M + 1) / 2 ))
mkdir -p "$DIR/app"
cat >"$DIR/app/e.ini" <<INI
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
dir = $DIR/app/data
durability = sync
[limits]
max_orders = $(( 2 * HALF + 1000 ))
[activity.1]
name = export bench
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
"$BUILD/app/flashsaled" --config "$DIR/app/e.ini" --init >"$DIR/app/daemon.log" 2>&1 &
DPID=$!
for _ in $(seq 100); do grep -q " ready: " "$DIR/app/daemon.log" && break; sleep 0.1; done

echo "== 1. backlog: $N durable winning BUYs, then the exporter (batches of $BATCH)"
"$BUILD/app/flashsale-bench" --config "$DIR/app/e.ini" --users "$N" --batch 16 \
  --concurrency 64 --threads 2 --no-verdict 2>/dev/null | grep -E "^(answered|ok|throughput|OK)" || true
T0=$(date +%s.%N)
"$BUILD/app/flashsale-export" --config "$DIR/app/e.ini" --db "$DB" --batch "$BATCH" \
  --exit-when-idle 2>"$DIR/export1.log"
T1=$(date +%s.%N)
ROWS=$(psql -h "$DIR" -U postgres -At -c "SELECT count(*) FROM flashsale_orders" shop)
python3 -c "print('throughput: %d orders in %.2f s = %.0f orders/s into PostgreSQL' % ($ROWS, $T1 - $T0, $ROWS / ($T1 - $T0)))"
grep "stopped" "$DIR/export1.log" | sed 's/^.*export: /  exporter: /'

echo "== 2. lag: the exporter tails while flashsale-bench makes $M more durable winning BUYs at $RATE/s"
"$BUILD/app/flashsale-export" --config "$DIR/app/e.ini" --db "$DB" --batch "$BATCH" \
  2>"$DIR/export2.log" &
XPID=$!
sleep 1
"$BUILD/app/flashsale-bench" --config "$DIR/app/e.ini" --users "$M" --user-base $(( N + 1 )) \
  --batch 16 --rate "$RATE" --threads 2 --no-verdict 2>/dev/null \
  | grep -E "^(answered|ok|throughput|OK)" || true
sleep 3
kill -TERM "$XPID"; wait "$XPID" || true
grep -E "orders/s|stopped" "$DIR/export2.log" | sed 's/^.*export: /  exporter: /'
ROWS=$(psql -h "$DIR" -U postgres -At -c "SELECT count(*) FROM flashsale_orders" shop)
echo "rows in flashsale_orders: $ROWS (expected $(( N + M )))"
