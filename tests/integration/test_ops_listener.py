"""The operations listener of the real daemon on [admin] address:port:
/healthz, /readyz, /metrics (checked by a strict parser of the Prometheus text
exposition format 0.0.4), /items, the bearer-key rules of /admin/..., HTTP/1.1
keep-alive and the request bounds (431, 413, 501, 400, 404, 405)."""
import http.client
import json
import math
import os
import re
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import DAEMON, Daemon, ST, buy_token, free_tcp_port, main, make_config, scratch_dir  # noqa: E402

KEY = "5a" * 32

# ---------------------------------------------------------------- exposition format

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_VALUE = r'"(?:[^"\\\n]|\\[\\"n])*"'
_SAMPLE = re.compile(r"^(%s)(\{(?:%s=%s(?:,%s=%s)*,?)?\})? (\S+)(?: (-?\d+))?$"
                     % (_NAME, _LABEL, _VALUE, _LABEL, _VALUE))
_LABELS = re.compile(r"(%s)=(%s)" % (_LABEL, _VALUE))
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def _float(text, line):
    if text in ("+Inf", "Inf"):
        return math.inf
    if text == "-Inf":
        return -math.inf
    if text == "NaN":
        return math.nan
    if not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", text):
        raise AssertionError("line %d: bad value %r" % (line, text))
    return float(text)


def parse_metrics(text):
    """Strictly parse Prometheus text format 0.0.4. Returns
    {family: {"type", "help", "samples": {(name, ((label, value), ...)): float}}};
    raises AssertionError naming the line on anything a careful scraper
    would reject or we consider sloppy (interleaved families, duplicate
    series, TYPE after samples, a counter without _total, a negative counter,
    blank lines, no final newline)."""
    assert text.endswith("\n"), "no newline at the end"
    fams, order, done = {}, [], set()
    current = None

    def family(name, line):
        nonlocal current
        base = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[: -len(suffix)] in fams and \
                    fams[name[: -len(suffix)]]["type"] in ("histogram", "summary"):
                base = name[: -len(suffix)]
        if base != current:
            if base in done:
                raise AssertionError("line %d: family %s is not contiguous" % (line, base))
            if current is not None:
                done.add(current)
            current = base
        return fams.setdefault(base, {"type": "untyped", "help": None, "samples": {},
                                      "typed_at": None})

    for n, raw in enumerate(text[:-1].split("\n"), 1):
        if raw == "":
            raise AssertionError("line %d: blank line" % n)
        if raw.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) (%s) (.*)$" % _NAME, raw)
            if not m:
                if raw.startswith("# HELP") or raw.startswith("# TYPE"):
                    raise AssertionError("line %d: malformed %r" % (n, raw))
                continue  # a plain comment
            kind, name, rest = m.groups()
            f = family(name, n)
            if kind == "TYPE":
                if rest not in _TYPES:
                    raise AssertionError("line %d: unknown type %r" % (n, rest))
                if f["typed_at"] is not None or f["samples"]:
                    raise AssertionError("line %d: TYPE of %s repeated or after samples" % (n, name))
                f["type"], f["typed_at"] = rest, n
            else:
                if f["help"] is not None:
                    raise AssertionError("line %d: second HELP for %s" % (n, name))
                if re.search(r"\\[^\\n]", rest):
                    raise AssertionError("line %d: bad escape in HELP" % n)
                f["help"] = rest
            order.append(name)
            continue
        m = _SAMPLE.match(raw)
        if not m:
            raise AssertionError("line %d: not a sample: %r" % (n, raw))
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        lab = tuple(_LABELS.findall(labels))
        if len({k for k, _ in lab}) != len(lab):
            raise AssertionError("line %d: a label twice" % n)
        f = family(name, n)
        key = (name, lab)
        if key in f["samples"]:
            raise AssertionError("line %d: duplicate series %s%s" % (n, name, labels))
        v = _float(value, n)
        if f["type"] == "counter":
            if not name.endswith("_total"):
                raise AssertionError("line %d: counter %s without _total" % (n, name))
            if not v >= 0:
                raise AssertionError("line %d: counter %s is %r" % (n, name, v))
        f["samples"][key] = v
    return fams


def value(fams, name, **labels):
    want = tuple(sorted((k, '"%s"' % v) for k, v in labels.items()))
    for (n, lab), v in fams[name]["samples"].items():
        if n == name and tuple(sorted(lab)) == want:
            return v
    raise KeyError("%s%r" % (name, labels))


# ---------------------------------------------------------------- helpers

def get(port, path, method="GET", headers=None, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read().decode(), dict(r.getheaders())
    finally:
        c.close()


def raw(port, data, timeout=10):
    """Send raw bytes, read until the server closes; the whole answer."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


class OpsListener(unittest.TestCase):
    def test_endpoints_and_metrics(self):
        port = free_tcp_port()
        with Daemon(admin_port=port, admin_key=KEY) as d:
            self.assertEqual(get(port, "/healthz")[:2], (200, "ok\n"))
            self.assertEqual(get(port, "/readyz")[:2], (200, "ready\n"))
            c = d.client()
            self.assertEqual(c.one("BUY", user=5, rid=1, item=1001, qty=1,
                                   token=buy_token(5, 1)).status, ST["OK"])
            c.one("ITEM_STATUS", item=9999)
            c.close()
            # the per-item counts are gathered on the workers once a second
            for _ in range(50):
                st, body, hdr = get(port, "/metrics")
                self.assertEqual(st, 200)
                fams = parse_metrics(body)
                if value(fams, "flashsale_item_reserved", item=1001) == 1:
                    break
                time.sleep(0.1)
            self.assertTrue(hdr["Content-Type"].startswith("text/plain; version=0.0.4"))
            self.assertEqual(fams["flashsale_requests_total"]["type"], "counter")
            self.assertEqual(value(fams, "flashsale_requests_total", protocol="fsp", op="BUY",
                                   status="OK"), 1)
            self.assertEqual(value(fams, "flashsale_requests_total", protocol="fsp",
                                   op="ITEM_STATUS", status="UNKNOWN_ITEM"), 1)
            self.assertEqual(value(fams, "flashsale_item_available", item=1001), 99)
            self.assertEqual(value(fams, "flashsale_item_total", item=1001), 100)
            self.assertEqual(value(fams, "flashsale_item_reserved", item=1001), 1)
            self.assertEqual(value(fams, "flashsale_item_paid", item=1001), 0)
            self.assertEqual(value(fams, "flashsale_ready"), 1)
            self.assertEqual(value(fams, "flashsale_storage_failed"), 0)
            self.assertEqual(sum(v for (n, _), v in fams["flashsale_wal_records_total"]["samples"].items()), 1)
            for shard in ("0", "1"):
                self.assertEqual(value(fams, "flashsale_shard_unavailable", shard=shard), 0)
            for name in ("flashsale_wal_bytes_total", "flashsale_wal_fsyncs_total",
                         "flashsale_snapshot_age_seconds", "flashsale_snapshot_duration_seconds",
                         "flashsale_handoffs_total", "flashsale_ops_evicted_total"):
                self.assertIn(name, fams)
                self.assertIsNotNone(fams[name]["help"], name)
            st, body, _ = get(port, "/items")
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(body)[0]["available"], 99)
            # keep-alive: three requests on one connection
            k = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            for path in ("/healthz", "/metrics", "/readyz"):
                k.request("GET", path)
                r = k.getresponse()
                self.assertEqual(r.status, 200)
                r.read()
            k.close()
            # pipelined, then HTTP/1.0 closes
            ans = raw(port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                            b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                            b"GET /readyz HTTP/1.0\r\n\r\n")
            self.assertEqual(ans.count(b"HTTP/1.1 200 OK"), 3, ans)
            self.assertTrue(ans.endswith(b"ready\n"), ans)
            self.assertEqual(get(port, "/nope")[0], 404)
            self.assertEqual(get(port, "/metrics", method="POST", body=b"x")[0], 405)
        self.assertIn("operations listener on 127.0.0.1:%d" % port, d.output())

    def test_admin_key_rules(self):
        port = free_tcp_port()
        with Daemon(admin_port=port, admin_key=KEY) as d:
            url = "/admin/snapshot"
            self.assertEqual(get(port, url, "POST")[0], 401)  # missing
            st, body, hdr = get(port, url, "POST", {"Authorization": "Bearer " + "5b" * 32})
            self.assertEqual(st, 401)  # wrong
            self.assertEqual(hdr.get("WWW-Authenticate"), "Bearer")
            self.assertEqual(get(port, url, "POST", {"Authorization": "Bearer " + KEY[:-2]})[0], 401)
            self.assertEqual(get(port, url, "POST", {"Authorization": "Basic " + KEY})[0], 401)
            st, body, _ = get(port, url, "POST", {"Authorization": "Bearer " + KEY})
            self.assertEqual((st, json.loads(body)), (200, {"ok": True}))
            st, body, _ = get(port, url, "POST", {"Authorization": "bearer " + KEY.upper()})
            self.assertEqual(st, 200)
            self.assertEqual(get(port, url, "GET", {"Authorization": "Bearer " + KEY})[0], 405)
            # any other /admin/ path goes to the admin module (authorized)
            st, _, _ = get(port, "/admin/items", "GET", {"Authorization": "Bearer " + KEY})
            self.assertNotIn(st, (401, 403))
            self.assertEqual(get(port, "/admin/items", "GET")[0], 401)
            fams = parse_metrics(get(port, "/metrics")[1])
            self.assertGreaterEqual(value(fams, "flashsale_snapshots_total"), 2)
            self.assertEqual(value(fams, "flashsale_ops_admin_denied_total"), 5)
        out = d.output()
        self.assertIn("snapshot (admin request)", out)
        self.assertNotIn(KEY, out.lower())
        self.assertNotIn("5b" * 32, out)
        port = free_tcp_port()
        with Daemon(admin_port=port) as d:  # no [admin] key: the admin API is off
            self.assertEqual(get(port, "/admin/snapshot", "POST",
                                 {"Authorization": "Bearer " + KEY})[0], 403)
            self.assertEqual(get(port, "/admin/snapshot", "POST")[0], 403)
            self.assertEqual(get(port, "/healthz")[0], 200)

    def test_request_bounds(self):
        port = free_tcp_port()
        with Daemon(admin_port=port, admin_key=KEY):
            def status(data):
                a = raw(port, data)
                return int(a.split(b" ", 2)[1]) if a.startswith(b"HTTP/1.1 ") else a
            self.assertEqual(status(b"GET /healthz HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n"), 431)
            self.assertEqual(status(b"POST /admin/snapshot HTTP/1.1\r\nContent-Length: 9000\r\n\r\n"), 413)
            self.assertEqual(status(b"POST /admin/snapshot HTTP/1.1\r\n"
                                    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), 501)
            self.assertEqual(status(b"GET /healthz HTTP/2.0\r\n\r\n"), 505)
            self.assertEqual(status(b"get /healthz HTTP/1.1\r\n\r\n"), 400)
            self.assertEqual(status(b"GET /healthz HTTP/1.1\r\nBad Header: x\r\n\r\n"), 400)
            self.assertEqual(status(b"GET /healthz HTTP/1.1\r\n folded\r\n\r\n"), 400)
            self.assertEqual(status(b"GET /healthz HTTP/1.1\r\nContent-Length: 1\r\n"
                                    b"Content-Length: 2\r\n\r\n"), 400)
            self.assertEqual(status(b"GET /" + b"a" * 300 + b" HTTP/1.1\r\n\r\n"), 414)
            self.assertEqual(get(port, "/healthz")[0], 200)  # still serving

    def test_not_on_the_public_port(self):
        """/metrics, /healthz and /admin/ live on [admin] port only: the
        public [net] http_port (the buying API /v1/..., built elsewhere)
        answers them 404, or refuses the connection while it is not built."""
        port, public = free_tcp_port(), free_tcp_port()
        with Daemon(admin_port=port, admin_key=KEY, http_port=public):
            self.assertEqual(get(port, "/metrics")[0], 200)
            for path, method in (("/metrics", "GET"), ("/healthz", "GET"),
                                 ("/admin/snapshot", "POST")):
                try:
                    st = get(public, path, method, {"Authorization": "Bearer " + KEY})[0]
                except ConnectionRefusedError:
                    continue
                self.assertEqual(st, 404, path)

    def test_readyz_storage_fault(self):
        port = free_tcp_port()
        d = Daemon(admin_port=port, workers=1)
        d.start(env=dict(os.environ, FLASHSALE_TEST_FAULT="write-eio:0"))
        try:
            c = d.client()
            r = c.one("BUY", user=1, rid=1, item=1001, qty=1, token=buy_token(1, 1))
            c.close()
            self.assertEqual(r.status, ST["UNAVAILABLE"])
            st, body, _ = get(port, "/readyz")
            self.assertEqual(st, 503)
            self.assertIn("storage fault", body)
            self.assertEqual(get(port, "/healthz")[0], 200)  # alive, not ready
            fams = parse_metrics(get(port, "/metrics")[1])
            self.assertEqual(value(fams, "flashsale_shard_unavailable", shard="0"), 1)
            self.assertEqual(value(fams, "flashsale_ready"), 0)
        finally:
            self.assertEqual(d.stop(check=False), 3)

    def test_config_keys(self):
        tmp = scratch_dir("fs-admin-cfg-")
        good = make_config(tmp, 7700)
        text = open(good).read()
        for old, new, needle in [
                ("\nport = 0", "\nport = 70000", "[admin] port"),
                ("\nport = 0", "\naddress = 10.0.0.300\nport = 1", "[admin] address"),
        ]:
            self.assertIn(old, text)
            bad = os.path.join(tmp, "bad.ini")
            with open(bad, "w") as f:
                f.write(text.replace(old, new, 1))
            p = subprocess.run([DAEMON, "--config", bad, "--check"], capture_output=True, text=True)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertRegex(p.stderr, r"bad\.ini:\d+: \[admin\] (port|address)")
            self.assertIn(needle, p.stderr)
        # [admin] port = 0: no listener at all
        p = subprocess.run([DAEMON, "--config", good, "--check"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("operations listener off", p.stderr)


if __name__ == "__main__":
    main()
