"""The public HTTP API under load (real clients, real daemon, loopback):
- 10,000 idle keep-alive connections (each served one request) while a buyer
  on another connection still gets its answers;
- wrk (Debian `wrk`) for a short bounded run of POST /v1/buy with varying
  users (a Lua script), then a correctness check: units sold equal the OK
  answers wrk saw, no user over per_user_limit, the shutdown audit clean.
No timing is asserted; figures are printed."""
import http.client
import json
import os
import resource
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import Daemon, main  # noqa: E402

IDLE_CONNS = 10000


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def set_net(d, port, lines):
    with open(d.config) as f:
        text = f.read()
    with open(d.config, "w") as f:
        f.write(text.replace("http_port = %d" % port, "http_port = %d\n%s" % (port, lines)))


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1]) / 1024
    return 0


class IdleConnections(unittest.TestCase):
    def test_10k_idle_keepalive(self):
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = IDLE_CONNS + 512
        if hard != resource.RLIM_INFINITY and hard < want:
            self.skipTest("RLIMIT_NOFILE hard limit %d < %d" % (hard, want))
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        port = free_tcp_port()
        d = Daemon(http_port=port, require_token="no")
        set_net(d, port, "http_max_conns = 8192")
        socks = []
        with d:
            rss0 = rss_mib(d.proc.pid)
            try:
                req = b"GET /v1/time HTTP/1.1\r\nHost: x\r\n\r\n"
                for i in range(IDLE_CONNS):
                    s = socket.create_connection(("127.0.0.1", port), timeout=10)
                    s.sendall(req)
                    socks.append(s)
                    if len(socks) % 500 == 0:  # read the answers of this batch
                        for t in socks[-500:]:
                            self.assertIn(b" 200 ", t.recv(4096))
                rss1 = rss_mib(d.proc.pid)
                # a buyer on a new connection still gets answers
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                for rid in range(1, 6):
                    body = json.dumps({"item": 1001, "user": 4242, "request_id": rid})
                    c.request("POST", "/v1/buy", body=body,
                              headers={"Content-Type": "application/json"})
                    r = c.getresponse()
                    self.assertEqual(r.status, 200)
                    self.assertIn(json.loads(r.read())["status"], ("OK", "LIMIT_EXCEEDED"))
                c.close()
                # the idle ones are still open and served
                for t in socks[:: IDLE_CONNS // 20]:
                    t.sendall(req)
                    self.assertIn(b" 200 ", t.recv(4096))
                print("\n%d idle keep-alive connections: daemon RSS %.0f MiB -> %.0f MiB "
                      "(%.1f KiB per connection)" % (IDLE_CONNS, rss0, rss1,
                                                     (rss1 - rss0) * 1024 / IDLE_CONNS))
            finally:
                for s in socks:
                    s.close()
        self.assertRegex(d.output(), r"http: %d connections accepted" % (IDLE_CONNS + 1))


WRK_LUA = r"""
local counter = 0
local threads = {}
local last_user = 0
oks = 0
sold_out = 0
other = 0
per_user = ""

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(tid * 7919)
end

request = function()
  counter = counter + 1
  last_user = math.random(1, USERS)
  local body = '{"item":1001,"user":' .. last_user .. ',"request_id":' .. (tid * 1000000000 + counter) .. '}'
  return wrk.format("POST", "/v1/buy", {["Content-Type"] = "application/json"}, body)
end

response = function(status, headers, body)
  if status == 200 and body:find('"status":"OK"', 1, true) then
    oks = oks + 1
    per_user = per_user .. last_user .. ","
  elseif status == 200 and body:find('"status":"SOLD_OUT"', 1, true) then
    sold_out = sold_out + 1
  elseif not (status == 200 and body:find('"status":"LIMIT_EXCEEDED"', 1, true)) then
    other = other + 1
  end
end

done = function(summary, latency, requests)
  local o, s, x, pu = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    o = o + t:get("oks"); s = s + t:get("sold_out"); x = x + t:get("other")
    pu = pu .. t:get("per_user")
  end
  io.write(string.format("RESULT oks=%d sold_out=%d other=%d requests=%d\n", o, s, x, summary.requests))
  io.write("PERUSER " .. pu .. "\n")
end
"""


@unittest.skipIf(shutil.which("wrk") is None, "wrk not installed (Debian package wrk)")
class Wrk(unittest.TestCase):
    def test_wrk_buy_correct(self):
        total, users, limit = 300, 400, 2
        items = "[item.1001]\nactivity = 1\ntotal = %d\nper_user_limit = %d\nmax_per_order = 1\n" % (total, limit)
        port = free_tcp_port()
        tmp = tempfile.mkdtemp(prefix="fs-wrk-")
        try:
            script = os.path.join(tmp, "buy.lua")
            with open(script, "w") as f:
                f.write(WRK_LUA.replace("USERS", str(users)))
            with Daemon(http_port=port, require_token="no", items=items) as d:
                # one connection per thread: each response follows its request,
                # so the script knows whose OK it saw
                out = subprocess.run(["wrk", "-t4", "-c4", "-d2s", "--timeout", "5s", "-s", script,
                                      "http://127.0.0.1:%d/v1/buy" % port],
                                     capture_output=True, text=True, timeout=60).stdout
                print("\n" + out)
                m = re.search(r"RESULT oks=(\d+) sold_out=(\d+) other=(\d+) requests=(\d+)", out)
                self.assertIsNotNone(m, out)
                oks, sold_out, other, n = map(int, m.groups())
                self.assertEqual(other, 0)
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/v1/items/1001")
                available = json.loads(c.getresponse().read())["available"]
                c.close()
                self.assertEqual(total - available, oks)
                per = {}
                for u in re.search(r"PERUSER ([\d,]*)", out).group(1).split(",")[:-1]:
                    per[u] = per.get(u, 0) + 1
                self.assertEqual(sum(per.values()), oks)
                self.assertLessEqual(max(per.values() or [0]), limit)
            # leaving the with block stopped the daemon and checked its exit:
            # the shutdown audit of every shard passed
        finally:
            shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
