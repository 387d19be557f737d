"""The public HTTP/1.1 API (HTTP-API.md) of the real daemon, served by the
workers on [net] http_port: curl for every endpoint, status code and header;
Python http.client keep-alive and raw pipelining; a retry after a lost answer;
per-IP limits keyed by X-Forwarded-For only from a trusted peer; the limits
(slowloris header timeout, oversized request line / headers / body, missing
and chunked bodies, bad JSON)."""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import CLI, Daemon, buy_token, main, pay_token  # noqa: E402


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def curl(*args):
    """(status, headers dict lower-case, body) of one curl call."""
    out = subprocess.run(["curl", "-s", "-i", "--max-time", "10"] + list(args),
                         capture_output=True, check=True).stdout.decode()
    head, _, body = out.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, body


def raw(port, data, timeout=5.0, half_close=False):
    """Send raw bytes, read until the server closes (or timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(data)
    if half_close:
        s.shutdown(socket.SHUT_WR)
    buf = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
    except socket.timeout:
        pass
    s.close()
    return buf


def statuses(buf):
    return [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", buf)]


def set_net(d, port, lines):
    """Add [net] keys to a Daemon's config before it starts."""
    with open(d.config) as f:
        text = f.read()
    with open(d.config, "w") as f:
        f.write(text.replace("http_port = %d" % port, "http_port = %d\n%s" % (port, lines)))


def tok(user):
    return buy_token(user, 1).hex()


def buy_body(user, rid, item=1001, qty=1, token=True):
    d = {"item": item, "user": user, "request_id": rid, "qty": qty}
    if token:
        d["token"] = tok(user)
    return json.dumps(d)


ITEMS = """
[item.1001]
activity = 1
total = 100
per_user_limit = 2
max_per_order = 1

[item.1002]
activity = 1
total = 1
per_user_limit = 1
"""


class Endpoints(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_tcp_port()
        cls.d = Daemon(http_port=cls.port, items=ITEMS)
        # short limits so the tests of them stay short
        set_net(cls.d, cls.port, "http_header_timeout_ms = 700\nhttp_head_max = 2048\nhttp_body_max = 512")
        cls.d.start()
        cls.base = "http://127.0.0.1:%d" % cls.port

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def check_common(self, hdrs, cache="no-store"):
        self.assertEqual(hdrs["content-type"], "application/json")
        self.assertIn("content-length", hdrs)
        self.assertEqual(hdrs["cache-control"], cache)
        self.assertRegex(hdrs["date"], r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$")

    def post(self, path, body, *extra):
        return curl("-X", "POST", "-H", "Content-Type: application/json", "--data-binary", body,
                    *extra, self.base + path)

    def test_time(self):
        st, h, body = curl(self.base + "/v1/time")
        self.assertEqual(st, 200)
        self.check_common(h)
        self.assertRegex(body, r'^\{"now_ms":\d+\}$')
        self.assertLess(abs(json.loads(body)["now_ms"] - time.time() * 1000), 5000)
        self.assertEqual(int(h["content-length"]), len(body))

    def test_item(self):
        st, h, body = curl(self.base + "/v1/items/1001")
        self.assertEqual(st, 200)
        self.check_common(h, "public, max-age=1")
        j = json.loads(body)
        self.assertEqual(j["status"], "OK")
        self.assertEqual(j["item"], 1001)
        st, _, body = curl(self.base + "/v1/items/4242")
        self.assertEqual((st, json.loads(body)["status"]), (200, "UNKNOWN_ITEM"))

    def test_buy_confirm_status_cancel(self):
        st, h, body = self.post("/v1/buy", buy_body(501, 1))
        self.assertEqual(st, 200, body)
        self.check_common(h)
        j = json.loads(body)
        self.assertEqual((j["status"], j["item"], j["qty"], j["state"]), ("OK", 1001, 1, "RESERVED"))
        self.assertIn("deadline_ms", j)
        self.assertIn("available", j)
        order = j["order"]
        # the same (user, request_id) again: the original order, nothing new
        st, _, body2 = self.post("/v1/buy", buy_body(501, 1))
        self.assertEqual(json.loads(body2)["order"], order)
        st, _, body = curl("%s/v1/orders/%d?user=501&token=%s" % (self.base, order, tok(501)))
        self.assertEqual((st, json.loads(body)["state"]), (200, "RESERVED"))
        ptok = pay_token(order, 501, 9).hex()
        st, _, body = self.post("/v1/orders/%d/confirm" % order,
                                json.dumps({"user": 501, "request_id": 2, "ref": 9, "token": ptok}))
        self.assertEqual((st, json.loads(body)["status"], json.loads(body)["state"]), (200, "OK", "PAID"))
        # a second order, cancelled by its buyer
        st, _, body = self.post("/v1/buy", buy_body(502, 1))
        order2 = json.loads(body)["order"]
        st, _, body = self.post("/v1/orders/%d/cancel" % order2,
                                json.dumps({"user": 502, "request_id": 2, "token": tok(502)}))
        self.assertEqual((st, json.loads(body)["state"]), (200, "CANCELLED"))
        # cancelling a paid order: WRONG_STATE (a business outcome: 200)
        st, _, body = self.post("/v1/orders/%d/cancel" % order,
                                json.dumps({"user": 501, "request_id": 3, "token": tok(501)}))
        self.assertEqual((st, json.loads(body)["status"]), (200, "WRONG_STATE"))

    def test_business_outcomes(self):
        st, _, body = self.post("/v1/buy", buy_body(601, 1, token=False))
        self.assertEqual((st, json.loads(body)["status"]), (200, "BAD_TOKEN"))
        bad = json.dumps({"item": 1001, "user": 601, "request_id": 2, "token": "0" * 32})
        st, _, body = self.post("/v1/buy", bad)
        self.assertEqual((st, json.loads(body)["status"]), (200, "BAD_TOKEN"))
        st, _, body = self.post("/v1/buy", buy_body(602, 1, item=1002))
        self.assertEqual(json.loads(body)["status"], "OK")
        st, _, body = self.post("/v1/buy", buy_body(603, 1, item=1002))
        self.assertEqual((st, json.loads(body)["status"], json.loads(body)["available"]),
                         (200, "SOLD_OUT", 0))
        for rid in (1, 2):
            self.post("/v1/buy", buy_body(604, rid))
        st, _, body = self.post("/v1/buy", buy_body(604, 3))
        self.assertEqual((st, json.loads(body)["status"]), (200, "LIMIT_EXCEEDED"))
        st, _, body = curl("%s/v1/orders/999999?user=604&token=%s" % (self.base, tok(604)))
        self.assertEqual((st, json.loads(body)["status"]), (200, "NOT_FOUND"))

    def test_errors(self):
        st, h, body = curl(self.base + "/metrics")
        self.assertEqual(st, 404)
        self.check_common(h)
        st, _, _ = curl(self.base + "/")
        self.assertEqual(st, 404)
        st, h, _ = curl(self.base + "/v1/buy")
        self.assertEqual(st, 405)
        self.assertEqual(h["allow"], "POST")
        st, h, _ = curl("-X", "POST", "--data-binary", "", self.base + "/v1/time")
        self.assertEqual((st, h["allow"]), (405, "GET"))
        for body in ("{", '{"item":"1001","user":1,"request_id":1}', '{"user":1,"request_id":1}',
                     '{"item":1001,"user":-1,"request_id":1}', '{"item":1001,"user":1,"request_id":1,"token":"abc"}'):
            st, h, out = self.post("/v1/buy", body)
            self.assertEqual(st, 400, body)
            self.assertEqual(json.loads(out)["status"], "BAD_REQUEST")
        # chunked body: 411, then close
        st, h, _ = curl("-X", "POST", "-H", "Transfer-Encoding: chunked", "--data-binary",
                        buy_body(1, 1), self.base + "/v1/buy")
        self.assertEqual(st, 411)
        # POST without Content-Length
        out = raw(self.port, b"POST /v1/buy HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(statuses(out), [411])
        # body over http_body_max (512 here)
        big = json.dumps({"item": 1001, "user": 1, "request_id": 1, "pad": "x" * 600})
        st, _, _ = self.post("/v1/buy", big)
        self.assertEqual(st, 413)
        # request line over the limit; headers over it
        st, _, _ = curl(self.base + "/v1/items/1001?" + "a" * 3000)
        self.assertEqual(st, 414)
        st, _, _ = curl("-H", "X-Big: " + "b" * 3000, self.base + "/v1/time")
        self.assertEqual(st, 431)

    def test_keepalive_http_client(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        for i in range(20):
            c.request("GET", "/v1/time")
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
        for rid in range(1, 4):
            c.request("POST", "/v1/buy", body=buy_body(701, rid),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            self.assertIn(json.loads(r.read())["status"], ("OK", "LIMIT_EXCEEDED"))
        c.close()

    def test_pipelining(self):
        reqs = b""
        expect = []
        for i in range(40):
            if i % 3 == 0:
                reqs += b"GET /v1/time HTTP/1.1\r\nHost: x\r\n\r\n"
                expect.append("time")
            elif i % 3 == 1:
                b = buy_body(800 + i, 1).encode()
                reqs += b"POST /v1/buy HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b)
                expect.append(800 + i)
            else:
                reqs += b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                expect.append(404)
        reqs += b"GET /v1/items/1001 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        expect.append("item")
        out = raw(self.port, reqs)
        # split into responses by Content-Length
        got = []
        while out:
            head, _, rest = out.partition(b"\r\n\r\n")
            n = int(re.search(rb"Content-Length: (\d+)", head).group(1))
            got.append((int(head.split()[1]), json.loads(rest[:n])))
            out = rest[n:]
        self.assertEqual(len(got), len(expect))
        orders = set()
        for (st, j), e in zip(got, expect):
            if e == "time":
                self.assertEqual((st, list(j)), (200, ["now_ms"]))
            elif e == 404:
                self.assertEqual(st, 404)
            elif e == "item":
                self.assertEqual((st, j["item"]), (200, 1001))
            else:
                self.assertEqual((st, j["status"]), (200, "OK"))
                orders.add(j["order"])
        self.assertEqual(len(orders), sum(1 for e in expect if isinstance(e, int) and e > 404))

    def test_cli_http(self):
        """flashsale --http URL speaks the public API (same request_id on retries)."""
        keys = ["--token-key", "000102030405060708090a0b0c0d0e0f", "--activity", "1"]
        cmd = [CLI, "--http", self.base, "--json"]
        r = subprocess.run(cmd + ["buy", "--user", "951", "--item", "1001", "--request-id", "5"] + keys,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        self.assertEqual(j["status"], "OK")
        r2 = subprocess.run(cmd + ["buy", "--user", "951", "--item", "1001", "--request-id", "5"] + keys,
                            capture_output=True, text=True, timeout=30)
        self.assertEqual(json.loads(r2.stdout)["order"], j["order"])
        r = subprocess.run(cmd + ["order", "--user", "951", "--order", str(j["order"])] + keys,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual((r.returncode, json.loads(r.stdout)["state"]), (0, "RESERVED"))
        r = subprocess.run([CLI, "--http", self.base, "item", "--item", "1001"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith("HTTP 200 {"), r.stdout)
        r = subprocess.run([CLI, "--http", self.base, "buy", "--user", "952", "--item", "1001"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)  # BAD_TOKEN: a business outcome, not OK
        self.assertIn("BAD_TOKEN", r.stdout)

    def test_half_close_and_http10(self):
        b = buy_body(901, 1).encode()
        out = raw(self.port, b"POST /v1/buy HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b),
                  half_close=True)
        self.assertEqual(statuses(out), [200])
        self.assertIn(b"Connection: close", out)

    def test_slowloris(self):
        """A client that dribbles its headers gets 408 at the header timeout
        and is closed; another client is answered meanwhile."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        s.sendall(b"GET /v1/time HTTP/1.1\r\nHost: x\r\n")
        for _ in range(3):
            st, _, _ = curl(self.base + "/v1/time")
            self.assertEqual(st, 200)
            try:
                s.sendall(b"X-A: b\r\n")
            except OSError:
                break
            time.sleep(0.1)
        buf = b""
        while True:
            b = s.recv(4096)
            if not b:
                break
            buf += b
        s.close()
        self.assertEqual(statuses(buf), [408])
        # an idle connection that never sends anything: also 408
        out = raw(self.port, b"")
        self.assertEqual(statuses(out), [408])


class Durable(unittest.TestCase):
    """durability = sync: pipelined buys for items on both shards (hand-offs
    and answers held for the log come back to the connection's worker, in
    order); after a restart every answered order is there."""

    def test_pipelined_sync_buys_survive_restart(self):
        items = "".join("[item.%d]\nactivity = 1\ntotal = 50\nper_user_limit = 1\n\n" % i
                        for i in range(2001, 2009))
        port = free_tcp_port()
        d = Daemon(http_port=port, require_token="no", items=items)
        with open(d.config) as f:
            text = f.read()
        with open(d.config, "w") as f:
            f.write(text.replace("durability = none", "durability = sync"))
        reqs, n = b"", 48
        for k in range(n):
            b = json.dumps({"item": 2001 + k % 8, "user": 3000 + k, "request_id": 1}).encode()
            reqs += b"POST /v1/buy HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(b), b)
        reqs += b"GET /v1/time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        with d:
            out = raw(port, reqs)
            bodies = [json.loads(m) for m in re.findall(rb"\r\n\r\n(\{[^\r]*?\})(?=HTTP/|$)", out)]
            self.assertEqual(len(bodies), n + 1, out[:2000])
            for k, j in enumerate(bodies[:n]):
                self.assertEqual((j["status"], j["item"]), ("OK", 2001 + k % 8))
            self.assertIn("now_ms", bodies[n])
            orders = [(3000 + k, j["order"]) for k, j in enumerate(bodies[:n])]
            d.stop()
            d.start()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            for user, order in orders:
                c.request("GET", "/v1/orders/%d?user=%d" % (order, user))
                j = json.loads(c.getresponse().read())
                self.assertEqual((j["status"], j["state"]), ("OK", "RESERVED"))
            c.close()


class NonReader(unittest.TestCase):
    def test_client_never_reads(self):
        """A client that pipelines and never reads its answers stalls only
        itself: others are served, and it is closed after the idle timeout."""
        port = free_tcp_port()
        d = Daemon(http_port=port, require_token="no")
        set_net(d, port, "http_idle_timeout_ms = 1000")
        with d:
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", port))
            s.settimeout(0.5)
            req = b"GET /v1/time HTTP/1.1\r\nHost: x\r\n\r\n" * 100
            try:
                for _ in range(200):
                    s.sendall(req)
            except socket.timeout:
                pass  # the server stopped reading it: back pressure
            for _ in range(5):
                st, _, _ = curl("http://127.0.0.1:%d/v1/time" % port)
                self.assertEqual(st, 200)
            time.sleep(2.5)  # no progress for longer than the idle timeout
            s.settimeout(2)
            closed = False
            end = time.monotonic() + 15
            try:
                while time.monotonic() < end:
                    try:
                        if not s.recv(1 << 20):
                            closed = True
                            break
                    except socket.timeout:
                        break
            except ConnectionResetError:
                closed = True
            s.close()
            self.assertTrue(closed, "the non-reading client was not closed")
        self.assertRegex(d.output(), r"http: .* [1-9]\d* timeouts")


class ClientAddress(unittest.TestCase):
    """per_ip limits: the buyer's address from X-Forwarded-For only when the
    TCP peer (127.0.0.1) is a trusted proxy."""

    def run_case(self, trusted, xffs):
        port = free_tcp_port()
        d = Daemon(http_port=port, require_token="no", limits="per_ip_rate = 1\nper_ip_burst = 2")
        if trusted:
            set_net(d, port, "trusted_proxies = 10.9.0.0/16, 127.0.0.1")
        with d:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)  # one worker
            codes = []
            for i, x in enumerate(xffs):
                c.request("GET", "/v1/time", headers={"X-Forwarded-For": x})
                r = c.getresponse()
                body = r.read()
                codes.append(r.status)
                if r.status == 429:
                    self.assertGreaterEqual(int(r.getheader("Retry-After")), 1)
                    self.assertGreater(json.loads(body)["retry_after_ms"], 0)
                    self.assertEqual(json.loads(body)["status"], "RATE_LIMITED")
            c.close()
            return codes

    def test_trusted(self):
        # rightmost untrusted entry is the client: 10.9.x.x is a trusted hop
        xffs = ["192.0.2.%d" % i for i in range(1, 5)] + ["192.0.2.%d, 10.9.1.1" % i for i in range(5, 8)]
        self.assertEqual(self.run_case(True, xffs), [200] * 7)
        same = ["198.51.100.7"] * 3
        self.assertEqual(self.run_case(True, same), [200, 200, 429])

    def test_config_errors(self):
        """Bad [net] trusted_proxies / client_ip_header: --check names file, line and key."""
        from fsp import DAEMON
        for line, why in (("trusted_proxies = 10.0.0.1/8", "has host bits set"),
                          ("trusted_proxies = 10.0.0.0/8 nope", "not an IPv4 address or CIDR: 'nope'"),
                          ("trusted_proxies = 10.0.0.0/33", "bad prefix length"),
                          ("client_ip_header = X Forwarded", "not a header name")):
            port = free_tcp_port()
            d = Daemon(http_port=port)
            set_net(d, port, line)
            r = subprocess.run([DAEMON, "--config", d.config, "--check"], capture_output=True,
                               text=True, timeout=30)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertRegex(r.stderr, r"flashsale\.ini:\d+: \[net\] %s: .*%s" % (line.split()[0], re.escape(why)))

    def test_untrusted(self):
        xffs = ["192.0.2.%d" % i for i in range(1, 5)]
        self.assertEqual(self.run_case(False, xffs), [200, 200, 429, 429])


def raw_from(src, port, data, timeout=10.0):
    """raw() from source address src (any 127/8 address is ours)."""
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    s.sendall(data)
    buf = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            buf += b
    except socket.timeout:
        pass
    s.close()
    return buf


def bad_buy(xff=None, close=False):
    """A POST /v1/buy whose body is not JSON (the codec answers it: 400)."""
    body = b"{not json"
    return (b"POST /v1/buy HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n" % len(body) +
            (b"X-Forwarded-For: %s\r\n" % xff.encode() if xff else b"") +
            (b"Connection: close\r\n" if close else b"") + b"\r\n" + body)


class RefusedRequestsCharged(unittest.TestCase):
    """Every request counts against its client's bucket (HTTP-API.md), the
    ones the codec refuses itself (bad JSON, unknown path, broken framing)
    included: a client sending garbage is rate-limited like any other.
    127.0.0.2 is the trusted proxy; 127.0.0.1 and 127.0.0.3 are not. One
    worker: buckets are per worker, and connections spread over workers."""

    @classmethod
    def setUpClass(cls):
        cls.port = free_tcp_port()
        cls.d = Daemon(http_port=cls.port, require_token="no", workers=1,
                       limits="per_ip_rate = 1\nper_ip_burst = 3")
        set_net(cls.d, cls.port, "trusted_proxies = 127.0.0.2")
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def check_429s(self, buf):
        for head in re.findall(rb"HTTP/1\.1 429 [^\r]*\r\n(.*?)\r\n\r\n", buf, re.S):
            m = re.search(rb"Retry-After: (\d+)", head)
            self.assertIsNotNone(m, head)
            self.assertGreaterEqual(int(m.group(1)), 1)
        self.assertIn(b'{"status":"RATE_LIMITED","retry_after_ms":', buf)

    def test_trusted_proxy_clients_charged_separately(self):
        # A burst of bad JSON from one buyer behind the edge empties its
        # bucket: 400 three times (per_ip_burst), then 429.
        burst = b"".join(bad_buy("198.51.100.1") for _ in range(8))
        # another buyer behind the same edge has a bucket of its own; the
        # first buyer's valid request is refused now too
        tail = (bad_buy("198.51.100.2") +
                b"GET /v1/time HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.1\r\n"
                b"Connection: close\r\n\r\n")
        buf = raw_from("127.0.0.2", self.port, burst + tail)
        codes = statuses(buf)
        self.assertEqual(len(codes), 10, buf)
        self.assertEqual(codes[:3], [400] * 3, buf)
        self.assertIn(429, codes[3:8], buf)
        self.assertEqual(codes[8:], [400, 429], buf)
        self.check_429s(buf)

    def test_untrusted_peer_header_ignored(self):
        # X-Forwarded-For from an untrusted peer: every request is the peer's.
        reqs = [bad_buy("198.51.100.%d" % (10 + i)) for i in range(7)]
        reqs.append(b"GET /nope HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 198.51.100.99\r\n"
                    b"Connection: close\r\n\r\n")
        buf = raw_from("127.0.0.1", self.port, b"".join(reqs))
        codes = statuses(buf)
        self.assertEqual(len(codes), 8, buf)
        self.assertEqual(codes[:3], [400] * 3, buf)
        self.assertIn(429, codes[3:7], buf)
        self.assertEqual(codes[7], 429, buf)  # a non-/v1 path counts too
        self.check_429s(buf)

    def test_broken_framing_charged_to_peer(self):
        # Refused before the headers are complete: the TCP peer is charged;
        # each such request closes its connection, 429 or not.
        codes = []
        for _ in range(6):
            buf = raw_from("127.0.0.3", self.port,
                           b"GET /v1/time HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
            self.assertIn(b"Connection: close", buf)
            codes += statuses(buf)
        self.assertEqual(len(codes), 6)
        self.assertEqual(codes[:3], [400] * 3)
        self.assertIn(429, codes[3:])


if __name__ == "__main__":
    main()
