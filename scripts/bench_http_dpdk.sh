#!/usr/bin/env bash
# bench_http_dpdk.sh — what the public HTTP API costs in DPDK mode, where it
# runs on kernel TCP behind the exception TAP (docs/architecture.md, "HTTP
# front end"), against kernel mode in the same run on the same box. wrk
# keep-alive (-t2 -c CONNS) from a network namespace this script makes (a
# veth pair, 10.99.250.0/24, deleted at exit):
#
#   kernel, loopback   the daemon on 127.0.0.1, wrk beside it (bench_http.sh's setup)
#   kernel, veth       the daemon in namespace A on veth0's address, wrk in P
#   dpdk, veth         the daemon on net_af_packet over veth0 (TCP crosses
#                      port -> worker -> TAP -> kernel -> socket, and back), wrk in P
#
# each: GET /v1/time and POST /v1/buy on a sold-out item (durability none,
# 2 workers). Prints req/s with p50/p99 and the exception-path counters of
# the dpdk run; asserts nothing. Needs root (namespaces, TAP) and wrk.
#
# Usage: scripts/bench_http_dpdk.sh [seconds] [connections] [build dir]
#        scripts/bench_http_dpdk.sh --fsp-ab [rounds] [build dir]
#   --fsp-ab: what the HTTP poll costs FSP/1 in dpdk mode: flashsale-bench-dpdk
#   rejection runs over net_memif (1 worker, 1 message per datagram, window
#   1024, 3 s) alternating http_port = 0 and = 8080 (listener up, no HTTP
#   traffic), ROUNDS (5) of each, in a namespace this script makes.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0;; esac
. "$(dirname "$0")/bench_http_lib.sh"
if [ "${1:-}" = --fsp-ab ]; then
	rounds=${2:-5}; build=${3:-build}
	b=$(realpath "$build")/app
	[ -x "$b/flashsale-bench-dpdk" ] || { echo "no $b/flashsale-bench-dpdk: build first" >&2; exit 2; }
	[ "$(id -u)" = 0 ] || { echo "needs root (a network namespace, the exception TAP)" >&2; exit 2; }
	ns=fsbab$$; dir=$(mktemp -d); pid=""
	trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; ip netns del "$ns" 2>/dev/null; rm -rf "$dir"' EXIT
	ip netns add "$ns"
	base=100000000
	echo "FSP/1 rejections over net_memif, dpdk mode, 1 worker, batch 1, window 1024, 3 s (M messages/s):"
	for round in $(seq "$rounds"); do
		for hp in 0 8080; do
			rm -rf "$dir/data"
			cat > "$dir/bench.ini" <<INI
[appliance]
mode = dpdk
workers = 1
eal = --no-huge -m 512 --file-prefix fsbA$$ --no-telemetry --vdev=net_memif0,role=server,socket=$dir/memif.sock
[net]
address = 10.99.251.2
udp_port = 7700
http_port = $hp
[persist]
dir = $dir/data
durability = none
[limits]
max_orders = 100000
[admin]
port = 0
[activity.1]
start = now-1s
end = now+1h
require_token = yes
token_key = 000102030405060708090a0b0c0d0e0f
payment_key = f0e0d0c0b0a090807060504030201000
[item.1]
activity = 1
total = 0
INI
			ip netns exec "$ns" "$b/flashsaled" --config "$dir/bench.ini" --init > "$dir/d.log" 2>&1 & pid=$!
			fs_wait_ready "$dir/d.log" 400 || exit 1
			if [ "$hp" != 0 ] && ! grep -q "public HTTP API on" "$dir/d.log"; then
				echo "HTTP not served (no TAP?)" >&2; cat "$dir/d.log" >&2; exit 1
			fi
			sleep 0.5
			base=$((base + 10000000))
			r=$(ip netns exec "$ns" "$b/flashsale-bench-dpdk" --no-huge -m 512 --file-prefix fsbG$$ \
				--no-pci --no-telemetry --log-level=lib.eal:error --lcores 0@0 \
				--vdev=net_memif0,role=client,socket="$dir/memif.sock" -- --config "$dir/bench.ini" \
				--item 1 --batch 1 --window 1024 --duration 3 --user-base "$base" 2>&1 |
				sed -n 's/.*(\([0-9]*\) messages\/s.*/\1/p')
			kill "$pid"; wait "$pid" || true; pid=""
			awk -v r="$round" -v h="$hp" -v m="${r:-0}" 'BEGIN {
				printf "  round %d, http_port %-4s: %.2f\n", r, h, m / 1e6 }'
		done
	done
	exit 0
fi
secs=${1:-5}; conns=${2:-64}; build=${3:-build}
daemon="$(realpath "$build")/app/flashsaled"
here=$(cd "$(dirname "$0")/.." && pwd)
[ -x "$daemon" ] || { echo "no $daemon: build first (meson setup build && ninja -C build)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "wrk not installed (apt-get install wrk)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces, the exception TAP)" >&2; exit 2; }
A=fsbA$$; P=fsbP$$; net=10.99.250; app=$net.2; peer=$net.1
dir=$(mktemp -d); pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	ip netns del "$A" 2>/dev/null || true; ip netns del "$P" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
port=18280; uport=18270

ip netns add "$A"; ip netns add "$P"
ip -n "$A" link add veth0 type veth peer name veth1 netns "$P"
for ns in "$A" "$P"; do
	ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	ip -n "$ns" link set lo up
done
ip -n "$A" link set veth0 up
ip -n "$P" addr add "$peer/24" dev veth1; ip -n "$P" link set veth1 up
# a veth hands AF_PACKET packets whose checksums are not filled in (tests: enter_peer)
ip netns exec "$P" python3 -c "import sys; sys.path.insert(0, '$here/tests/integration')
import test_dpdk_lib as L; L.ethtool_set('veth1', L.ETHTOOL_STXCSUM, 0)"

start() { # mode address [netns]
	rm -rf "$dir/data"
	cat > "$dir/fs.ini" <<INI
[appliance]
mode = $1
workers = 2
$([ "$1" = dpdk ] && echo "eal = --no-huge --no-shconf -m 512 --no-telemetry --no-pci --vdev=net_af_packet0,iface=veth0,qpairs=2")
[net]
address = $2
udp_port = $uport
http_port = $port
http_max_conns = 1024
[persist]
dir = $dir/data
durability = none
[limits]
max_orders = 100000
[admin]
port = 0
[activity.1]
start = now-1s
end = now+1h
require_token = no
token_key = 000102030405060708090a0b0c0d0e0f
payment_key = f0e0d0c0b0a090807060504030201000
[item.1002]
activity = 1
total = 0
INI
	${3:+ip netns exec "$3"} "$daemon" --config "$dir/fs.ini" --init > "$dir/daemon.log" 2>&1 & pid=$!
	fs_wait_ready "$dir/daemon.log" 400 || exit 1
}
stop() { kill "$pid"; wait "$pid" || { echo "flashsaled exit $?" >&2; tail -5 "$dir/daemon.log" >&2; }; pid=""; }

wrk_buy_lua "$dir/soldout.lua" 1002
both() { # label netns url
	echo "$1 GET /v1/time:          $(wrk_run "$2" "$3/v1/time")"
	echo "$1 POST /v1/buy sold out: $(wrk_run "$2" "$3/v1/buy" "$dir/soldout.lua")"
}

echo "flashsale HTTP, kernel vs dpdk mode (exception path), wrk -t2 -c$conns -d${secs}s, 2 workers, $(nproc) CPUs:"
start kernel 127.0.0.1
both "  kernel, loopback:" "" "http://127.0.0.1:$port"
stop

ip -n "$A" addr add "$app/24" dev veth0
start kernel "$app" "$A"
both "  kernel, veth:    " "$P" "http://$app:$port"
stop
ip -n "$A" addr del "$app/24" dev veth0

ip netns exec "$A" sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.veth0.rp_filter=1 \
	net.ipv4.conf.veth0.arp_ignore=8
start dpdk "$app" "$A"
grep -q "public HTTP API on $app:$port" "$dir/daemon.log" || { cat "$dir/daemon.log" >&2; exit 1; }
both "  dpdk, veth:      " "$P" "http://$app:$port"
stop
grep -E "final: (frames rx|http:)" "$dir/daemon.log" | sed 's/^.*final: /  dpdk run: /'
