#!/usr/bin/env bash
# Hot standby cost on this machine: prints, asserts nothing.
# A primary and a standby (kernel mode, 2 workers each, durability = sync on
# both, loopback) run for the whole script; the same flashsale-bench
# closed-loop workload (N users, one winning BUY each, batches of BATCH,
# concurrency CONC) runs twice against the primary in one run of the
# script: first with [replication] ack = local, then, after a restart of
# the primary on the same data directory, with ack = standby. Each run sells
# fresh stock (distinct items per run), so every BUY wins and is durable
# (locally, and with ack = standby on the standby too) before its OK. Each
# mode also runs N/100 BUYs one at a time (batch 1, concurrency 1): the
# latency of a lone BUY, without queueing behind the others.
# usage: scripts/bench_repl.sh [N] [BUILD_DIR] [BATCH] [CONC]
set -euo pipefail
N=${1:-200000}
BUILD=${2:-build}
BATCH=${3:-16}
CONC=${4:-64}
DIR=$(mktemp -d /tmp/flashsale-repl-bench.XXXXXX)
cleanup() {
  for p in ${PPID_:-} ${SPID:-}; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  [ "${KEEP:-0}" = 1 ] || rm -rf "$DIR"
}
trap cleanup EXIT
port() { python3 -c 'import socket,sys; s=socket.socket(socket.AF_INET, socket.SOCK_STREAM if sys.argv[1]=="t" else socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "$1"; }
LPORT=$(port t)
conf() { # name udp_port replication-lines
  cat >"$DIR/$1.ini" <<INI
[appliance]
mode = kernel
workers = 2
[net]
address = 127.0.0.1
udp_port = $2
http_port = 0
[admin]
port = 0
[persist]
dir = $DIR/$1
durability = sync
snapshot_interval_s = 3600
[limits]
max_orders = $(( 2 * N + N / 25 + 1000 ))
[activity.1]
name = repl bench
start = now-1s
end = now+1d
require_token = no
[item.1001]
activity = 1
total = $(( N + N / 50 ))
per_user_limit = 1
[item.1002]
activity = 1
total = $(( N + N / 50 ))
per_user_limit = 1
[replication]
$3
INI
}
PPORT=$(port u)
conf primary "$PPORT" "listen = 127.0.0.1:$LPORT
ack = local"
conf standby "$(port u)" "role = standby
primary = 127.0.0.1:$LPORT"
start() { # name [--init]; sets LAST
  "$BUILD/app/flashsaled" --config "$DIR/$1.ini" ${2:-} >>"$DIR/$1.log" 2>&1 &
  LAST=$!
}
wait_ready() { for _ in $(seq 200); do grep -q " ready: " "$DIR/$1.log" && return; sleep 0.1; done; echo "no ready: $1" >&2; cat "$DIR/$1.log" >&2; exit 1; }
start primary --init; PPID_=$LAST; wait_ready primary
start standby --init; SPID=$LAST; wait_ready standby
sleep 0.5
run() { # label item user-base users batch concurrency
  echo "== $1"
  "$BUILD/app/flashsale-bench" --config "$DIR/primary.ini" --items "$2" --users "$4" \
    --user-base "$3" --batch "$5" --concurrency "$6" --no-verdict 2>/dev/null |
    grep -E "OK|ok|/s|p50|p99|latency" | head -12
}
L=$(( N / 100 ))
run "ack = local (standby connected, not waited for)" 1001 1 "$N" "$BATCH" "$CONC"
run "ack = local, one BUY at a time" 1001 $(( 3 * N )) "$L" 1 1
kill "$PPID_"; wait "$PPID_" || true
sed -i 's/^ack = local$/ack = standby/' "$DIR/primary.ini"
: >"$DIR/primary.log"
start primary; PPID_=$LAST; wait_ready primary
for _ in $(seq 100); do grep -q "standby 127.0.0.1:.* connected" "$DIR/primary.log" && break; sleep 0.1; done
run "ack = standby (an OK waits for the standby's fdatasync)" 1002 $(( N + 1 )) "$N" "$BATCH" "$CONC"
run "ack = standby, one BUY at a time" 1002 $(( 4 * N )) "$L" 1 1
grep -E "records wait|DEGRADED" "$DIR/primary.log" || echo "(the standby was never lost)"
