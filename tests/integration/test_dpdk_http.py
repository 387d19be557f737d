"""The public HTTP/1.1 API (HTTP-API.md) in DPDK mode: the daemon on
net_af_packet over a veth whose peer end is in a namespace this test makes
(10.99.N.0/24, same /24 as the appliance); TCP to http_port crosses the
exception path (DPDK port -> worker -> TAP -> kernel TCP -> the workers'
listeners, and back), served by the same HTTP code as kernel mode.

From inside the peer namespace: keep-alive GET /v1/time and GET
/v1/items/ID, POST /v1/buy winning then sold out, a retry of the same
(user, request_id) gets the original order, pipelined requests answered in
order (items on both shards: answers from the other worker and answers held
for the log come back to the connection's worker); FSP/1 over UDP through
the same port still answers; the operations listener (/metrics, on loopback
inside the appliance's namespace) counts every answered request; clients
still pipelining buys when SIGTERM arrives get an answer to every request
a worker took (the shutdown drain's answers leave through the TAP after the
workers returned: dp_dpdk.c http_linger); the shutdown audit is clean and
the final log counts the HTTP requests.

Skipped (77) only when not root, without /dev/net/tun (no exception TAP),
or when namespaces/veth cannot be created.
"""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import ST, buy_token  # noqa: E402
import test_dpdk_lib as L  # noqa: E402
from test_dpdk_veth import PeerClient  # noqa: E402

FSP_PORT = 7700
HTTP_PORT = 8090
ADMIN_PORT = 8091
ITEMS = """
[item.1001]
activity = 1
total = 100
per_user_limit = 2
max_per_order = 1

[item.1002]
activity = 1
total = 100
per_user_limit = 2
max_per_order = 1

[item.3001]
activity = 1
total = 1
per_user_limit = 1
max_per_order = 1
"""


def buy_body(user, rid, item):
    return json.dumps({"item": item, "user": user, "request_id": rid, "qty": 1,
                       "token": buy_token(user, 1).hex()})


def read_responses(sock, n):
    """n HTTP responses from sock (Content-Length framing): [(code, json)]."""
    buf, out = b"", []
    while len(out) < n:
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("closed after %d of %d responses: %r" % (len(out), n, buf))
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        code = int(head.split(b" ")[1])
        length = int(re.search(rb"\r\nContent-Length: (\d+)", head).group(1))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                raise AssertionError("closed inside a body")
            rest += chunk
        out.append((code, json.loads(rest[:length])))
        buf = rest[length:]
    return out


class DpdkHttp(L.VethDaemon, unittest.TestCase):
    requests = 0  # answers the workers gave (HTTP requests + FSP messages)

    @classmethod
    def check_host(cls):
        if not os.path.exists("/dev/net/tun"):
            L.skip("no /dev/net/tun: the exception TAP (HTTP's way in) cannot be created")

    @classmethod
    def make_config(cls, tmp, eal):
        cfg = L.dpdk_config(tmp, eal, cls.net.app_ip, FSP_PORT, workers=2,
                            http_port=HTTP_PORT, admin_port=ADMIN_PORT, items=ITEMS,
                            durability="sync")
        # the operations listener on loopback inside the appliance's namespace
        with open(cfg) as f:
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text.replace("[admin]\naddress = %s" % cls.net.app_ip,
                                 "[admin]\naddress = 127.0.0.1"))
        return cfg

    def conn(self):
        return http.client.HTTPConnection(self.net.app_ip, HTTP_PORT, timeout=10)

    def call(self, c, method, path, body=None):
        hdrs = {"Content-Type": "application/json"} if body is not None else {}
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        type(self).requests += 1
        return r.status, json.loads(data), r

    def test_1_served_through_the_exception_path(self):
        out = self.d.output()
        self.assertIn("exception path to the kernel through TAP", out)
        self.assertIn("public HTTP API on %s:%d (workers): /v1/*, on kernel TCP through the "
                      "exception path" % (self.net.app_ip, HTTP_PORT), out)

    def test_2_keepalive_time_and_item(self):
        c = self.conn()
        c.connect()
        sock = c.sock
        for _ in range(5):
            st, j, r = self.call(c, "GET", "/v1/time")
            self.assertEqual(st, 200)
            self.assertEqual(list(j), ["now_ms"])
            self.assertEqual(r.getheader("Cache-Control"), "no-store")
        st, j, r = self.call(c, "GET", "/v1/items/1001")
        self.assertEqual((st, j["status"], j["item"]), (200, "OK", 1001), j)
        self.assertEqual(r.getheader("Cache-Control"), "public, max-age=1")
        st, j, _ = self.call(c, "GET", "/v1/items/4242")
        self.assertEqual((st, j["status"]), (200, "UNKNOWN_ITEM"))
        self.assertIs(c.sock, sock, "the connection was not kept alive")
        c.close()

    def test_3_buy_win_sold_out_retry(self):
        c = self.conn()
        st, win, _ = self.call(c, "POST", "/v1/buy", buy_body(1, 7, 3001))
        self.assertEqual((st, win["status"], win["state"]), (200, "OK", "RESERVED"), win)
        st, j, _ = self.call(c, "POST", "/v1/buy", buy_body(2, 7, 3001))
        self.assertEqual((st, j["status"], j["available"]), (200, "SOLD_OUT", 0), j)
        # the winner's answer was "lost": the retry gets the original order
        st, j, _ = self.call(c, "POST", "/v1/buy", buy_body(1, 7, 3001))
        self.assertEqual((st, j["status"], j["order"]), (200, "OK", win["order"]), j)
        c.close()
        # on a new connection (maybe another worker) too
        c = self.conn()
        st, j, _ = self.call(c, "POST", "/v1/buy", buy_body(1, 7, 3001))
        self.assertEqual((st, j["status"], j["order"]), (200, "OK", win["order"]), j)
        c.close()

    def test_4_pipelined_in_order(self):
        reqs, want = [], []
        for k in range(4):
            for item in (1001, 1002):
                body = buy_body(100 + k, 1, item).encode()
                reqs.append(b"POST /v1/buy HTTP/1.1\r\nHost: a\r\nContent-Type: application/json"
                            b"\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
                want.append(("buy", item))
            reqs.append(b"GET /v1/time HTTP/1.1\r\nHost: a\r\n\r\n")
            want.append(("time", None))
            reqs.append(b"GET /v1/items/%d HTTP/1.1\r\nHost: a\r\n\r\n" % (1001 + k % 2))
            want.append(("item", 1001 + k % 2))
        for _ in range(3):  # several connections: both workers' listeners
            with socket.create_connection((self.net.app_ip, HTTP_PORT), timeout=10) as s:
                s.sendall(b"".join(reqs))
                got = read_responses(s, len(reqs))
            type(self).requests += len(reqs)
            orders = set()
            for (kind, item), (code, j) in zip(want, got):
                self.assertEqual(code, 200, j)
                if kind == "time":
                    self.assertEqual(list(j), ["now_ms"])
                    continue
                self.assertEqual(j["item"], item, (kind, j))
                if kind == "buy":
                    self.assertEqual(j["status"], "OK", j)
                    orders.add(j["order"])
            self.assertEqual(len(orders), 8)  # the same 8 orders on every round
            if not hasattr(self, "first_orders"):
                type(self).first_orders = orders
            self.assertEqual(orders, self.first_orders, "retries got other orders")

    def test_5_fsp_through_the_same_port(self):
        c = PeerClient(self.net.app_ip, FSP_PORT)
        r = c.one("TIME")
        self.assertEqual(r.status, ST["OK"])
        r = c.one("BUY", user=500, rid=1, item=1002, qty=1, token=buy_token(500, 1))
        self.assertEqual(r.status, ST["OK"])
        r = c.one("ITEM_STATUS", item=3001)
        self.assertEqual((r.status, r.available), (ST["OK"], 0))
        type(self).requests += 3
        c.close()

    def test_6_metrics_count_the_requests(self):
        p = subprocess.run(["ip", "netns", "exec", self.net.a, "curl", "-s", "--max-time", "10",
                            "http://127.0.0.1:%d/metrics" % ADMIN_PORT],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        total = sum(int(v) for v in re.findall(r"^flashsale_requests_total\{[^}]*\} (\d+)$",
                                                p.stdout, re.M))
        # every HTTP request and FSP message of tests 2..5 was answered by a
        # worker (the HTTP ones through dp_engine_rx_req)
        self.assertEqual(total, self.requests, p.stdout)
        self.assertGreater(int(re.search(r"^flashsale_exception_to_kernel_total (\d+)$",
                                         p.stdout, re.M).group(1)), 0)

    def test_7_stop_audit_and_counts(self):
        # Clients still pipelining buys when SIGTERM arrives: every request a
        # worker took is answered, and the answers of the shutdown drain leave
        # through the TAP and the port (flushed after the workers returned).
        import threading
        import time
        got = [0] * 8
        started = threading.Barrier(len(got) + 1)

        def client(k):
            reqs = b"".join(
                b"POST /v1/buy HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n%s" %
                (len(b), b) for b in (buy_body(1000 + k * 100 + i, 1, 1001 + i % 2).encode()
                                      for i in range(40)))
            s = socket.create_connection((self.net.app_ip, HTTP_PORT), timeout=20)
            started.wait()
            buf = b""
            try:
                for _ in range(20):  # keep sending until the daemon stops reading
                    s.settimeout(20)
                    s.sendall(reqs)
                    time.sleep(0.005)
                    s.settimeout(0.001)
                    while True:
                        try:
                            chunk = s.recv(1 << 20)
                        except socket.timeout:
                            break
                        if not chunk:
                            raise EOFError
                        buf += chunk
            except (EOFError, OSError):
                pass  # the daemon closed: what it sent before is still to be read
            s.settimeout(20)
            try:
                while True:  # the rest, up to the close (FIN, or RST over unread input)
                    chunk = s.recv(1 << 20)
                    if not chunk:
                        break
                    buf += chunk
            except OSError:
                pass
            s.close()
            got[k] = len(re.findall(rb"HTTP/1\.1 \d{3} [^\r]*\r\n(?:[^\r]+\r\n)*\r\n"
                                    rb"\{[^}]*\}", buf))

        threads = [threading.Thread(target=client, args=(k,)) for k in range(len(got))]
        for t in threads:
            t.start()
        started.wait()
        time.sleep(0.05)
        self.d.stop()
        for t in threads:
            t.join(60)
        out = self.d.output()
        final = out.split(" info  stopping\n")[-1]  # the shutdown audit, not the start's
        self.assertEqual(len(re.findall(r"shard \d+: audit ok", final)), 2, out)
        self.assertIn("stopped (exit 0)", final)
        m = re.search(r"http: (\d+) connections accepted \(\d+ open, 0 refused: table full\), "
                      r"(\d+) requests, 0 codec errors", out)
        self.assertIsNotNone(m, out)
        # every request a worker took got its answer to the client: before,
        # and during the stop (less the 3 FSP messages)
        self.assertEqual(int(m.group(2)), self.requests - 3 + sum(got), (got, out))
        self.assertGreater(sum(got), 0)
        self.assertGreaterEqual(int(m.group(1)), 6 + len(got))



class NoTap(unittest.TestCase):
    """Without an exception TAP (here: not root) HTTP cannot be reached in
    dpdk mode: the daemon says so and serves FSP/1; it does not fail."""

    def test_warned_not_fatal(self):
        L.require_root()  # to become someone who is not
        tmp = L.tmpdir()
        os.chmod(tmp, 0o777)
        cfg = L.dpdk_config(tmp, L.eal_words("--no-pci --vdev=net_null0"), "127.0.0.1",
                            FSP_PORT, workers=1, http_port=HTTP_PORT)
        d = L.DpdkDaemon(cfg, tmp)
        d.start_cmd_prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        try:
            d.start()
        except FileNotFoundError:
            L.skip("setpriv is missing")
        out = d.output()
        self.assertIn("no exception path", out)
        self.assertIn("the public HTTP API (/v1) is not reachable in dpdk mode without an "
                      "exception TAP (needs root and /dev/net/tun): http_port %d is unused; "
                      "FSP/1 is served" % HTTP_PORT, out)
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    L.main()
