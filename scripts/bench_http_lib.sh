# bench_http_lib.sh — sourced by bench_http.sh and bench_http_dpdk.sh: what
# both do the same way (a BUY script for wrk, one wrk run read back, waiting
# for the appliance to be ready). Not run on its own.

# A wrk script that POSTs /v1/buy for item $2, a fresh user per request
# (thread * 10^8 + n), into file $1.
wrk_buy_lua() { # file item
	cat > "$1" <<LUA
local threads = {}
function setup(t) t:set("tid", #threads + 1); table.insert(threads, t) end
local n = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  local u = tid * 100000000 + n
  return wrk.format(nil, nil, nil, '{"item":$2,"user":' .. u .. ',"request_id":' .. n .. ',"qty":1}')
end
LUA
}

# "R req/s (p50 X, p99 Y)" of one wrk run (-t2 -c$conns -d$secs, keep-alive),
# inside network namespace $1 unless it is empty; errors appended in brackets.
wrk_run() { # netns url [script]
	local ns=$1; shift
	${ns:+ip netns exec "$ns"} wrk -t2 -c"$conns" -d"${secs}s" --latency ${2:+-s "$2"} "$1" 2>&1 | awk '
		/Requests\/sec/ {r = $2}
		/^ +50%/ {p50 = $2} /^ +99%/ {p99 = $2}
		/Non-2xx|Socket errors/ {e = e " [" $0 "]"}
		END {printf "%s req/s (p50 %s, p99 %s)%s\n", r, p50, p99, e}'
}

# Wait up to $2 x 50 ms for " ready: " in the daemon log $1; 0 when ready,
# else the log on stderr and 1.
fs_wait_ready() { # log tries
	for _ in $(seq "$2"); do grep -q " ready: " "$1" && return 0; sleep 0.05; done
	cat "$1" >&2
	return 1
}
