#!/usr/bin/env bash
# bench_http.sh — the public HTTP API under wrk, in the same run as the
# anchors of /work/shared/bench/http_anchor.sh (nginx fixed-JSON ceiling and
# nginx + Lua + Redis seckill), same machine, same wrk settings (keep-alive,
# -t2 -c CONNS). Prints figures and ratios; asserts nothing.
#
#   1. POST /v1/buy on a sold-out item (total 0), varying users
#   2. POST /v1/buy winning (a fresh user per request), durability none
#   3. GET /v1/time
#   4. POST /v1/buy winning, durability sync (p50 / p99 from wrk --latency)
#   5. FSP/1 sold-out BUYs (flashsale-bench, one message per datagram) alone,
#      then again while wrk loads POST /v1/buy sold-out at the same time: the
#      share of its throughput FSP/1 keeps (team target: loses <= 10%). On a
#      2-CPU box wrk and flashsale-bench take CPU from the daemon too, so this
#      is an upper bound on what HTTP costs FSP/1, not a clean isolation.
#
# Usage: scripts/bench_http.sh [seconds] [connections] [build dir]
#        (Debian: wrk; for the anchors also nginx, libnginx-mod-http-lua,
#        redis-server: scripts/install-deps.sh with FLASHSALE_BENCH_DEPS=1)
#        FLASHSALE_HTTP_ANCHOR=path overrides the anchor script; =none skips it.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
. "$(dirname "$0")/bench_http_lib.sh"
secs=${1:-5}; conns=${2:-64}; build=${3:-build}
daemon="$build/app/flashsaled"
anchor=${FLASHSALE_HTTP_ANCHOR:-/work/shared/bench/http_anchor.sh}
[ -x "$daemon" ] || { echo "no $daemon: build first (meson setup build && ninja -C build)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)" >&2; exit 2; }
dir=$(mktemp -d); pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
port=18180; uport=18170

start() { # durability
	rm -rf "$dir/data"
	cat > "$dir/fs.ini" <<INI
[appliance]
mode = kernel
workers = 2
[net]
address = 127.0.0.1
udp_port = $uport
http_port = $port
http_max_conns = 1024
[persist]
dir = $dir/data
durability = $1
[limits]
max_orders = 3000000
[activity.1]
start = now-1s
end = now+1h
require_token = no
token_key = 000102030405060708090a0b0c0d0e0f
payment_key = f0e0d0c0b0a090807060504030201000
[item.1001]
activity = 1
total = 3000000
per_user_limit = 1
[item.1002]
activity = 1
total = 0
INI
	"$daemon" --config "$dir/fs.ini" --init > "$dir/daemon.log" 2>&1 & pid=$!
	fs_wait_ready "$dir/daemon.log" 200 || exit 1
}
stop() { kill "$pid"; wait "$pid" || { echo "flashsaled exit $?" >&2; tail -5 "$dir/daemon.log" >&2; }; pid=""; }

wrk_buy_lua "$dir/soldout.lua" 1002
wrk_buy_lua "$dir/win.lua" 1001

run() { wrk_run "" "$@"; } # url [script]
rate() { echo "${1%% *}"; }

url="http://127.0.0.1:$port"
start none
sold=$(run "$url/v1/buy" "$dir/soldout.lua")
win=$(run "$url/v1/buy" "$dir/win.lua")
tim=$(run "$url/v1/time")
bench="$build/app/flashsale-bench"
fsp() { # msgs/s of a sold-out FSP/1 loop for secs seconds
	"$bench" --config "$dir/fs.ini" --items 1002 --loop --duration "$secs" --no-verdict --json 2>/dev/null |
		python3 -c 'import json,sys; print(round(json.load(sys.stdin)["answered_msgs_per_s"]))'
}
fsp_alone=$(fsp)
run "$url/v1/buy" "$dir/soldout.lua" > "$dir/mixed_http" & wpid=$!
sleep 0.5
fsp_mixed=$(fsp)
wait "$wpid"
mixed_http=$(cat "$dir/mixed_http")
stop
start sync
wsync=$(run "$url/v1/buy" "$dir/win.lua")
stop

echo "flashsale HTTP, wrk -t2 -c$conns -d${secs}s, 2 workers, $(nproc) CPUs:"
echo "  POST /v1/buy sold out:          $sold"
echo "  POST /v1/buy winning, none:     $win"
echo "  GET /v1/time:                   $tim"
echo "  POST /v1/buy winning, sync:     $wsync"
echo "  FSP/1 sold-out alone:           $fsp_alone msgs/s"
echo "  FSP/1 sold-out with HTTP load:  $fsp_mixed msgs/s (HTTP meanwhile: $mixed_http)"
awk -v a="$fsp_alone" -v m="$fsp_mixed" 'BEGIN { if (a > 0) printf "  FSP/1 keeps %.0f%% of its throughput under HTTP load (target >= 90%%)\n", 100*m/a }'
if [ "$anchor" != none ] && [ -x "$anchor" ] && command -v nginx >/dev/null; then
	a=$("$anchor" "$secs" "$conns")
	echo "$a"
	ceil=$(echo "$a" | sed -n 's/.*ceiling: \([0-9.]*\) req.*/\1/p')
	lua=$(echo "$a" | sed -n 's/.*seckill: *\([0-9.]*\) req.*/\1/p')
	awk -v s="$(rate "$sold")" -v w="$(rate "$win")" -v t="$(rate "$tim")" -v c="$ceil" -v l="$lua" 'BEGIN {
		printf "ratios: sold-out %.0f%% of nginx (target >= 90%%), winning %.0f%% (>= 60%%), time %.0f%% (>= 100%%)\n", 100*s/c, 100*w/c, 100*t/c
		printf "        vs nginx+Lua+Redis: winning %.2fx (target >= 2x), sold-out %.2fx (>= 2.3x)\n", w/l, s/l }'
else
	echo "(anchors skipped: $anchor or nginx missing)"
fi
