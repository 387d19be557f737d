"""The control-plane HTTP endpoint of the real daemon: /healthz, /metrics
(Prometheus text with live counters), /items (JSON), 404 and 405."""
import json
import os
import socket
import sys
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from fsp import Daemon, ST, buy_token, main  # noqa: E402


def free_tcp_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


@unittest.skip("kernel mode: [net] http_port is the public API on the workers now "
               "(test_http_api.py); the control-plane endpoint moves to [admin] (ops branch)")
class Http(unittest.TestCase):
    def test_endpoints(self):
        port = free_tcp_port()
        with Daemon(http_port=port) as d:
            base = "http://127.0.0.1:%d" % port
            c = d.client()
            self.assertEqual(c.one("BUY", user=5, rid=1, item=1001, qty=1, token=buy_token(5, 1)).status, ST["OK"])
            self.assertEqual(c.one("BUY", user=5, rid=2, item=1001, qty=1, token=b"bad").status, ST["BAD_TOKEN"])
            c.send(b"garbage")
            c.close()
            with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
                self.assertEqual(r.read(), b"ok\n")
            # the garbage datagram was not answered, so nothing tells us when
            # the worker got to it: poll the counter (bounded) before checking
            deadline = time.monotonic() + 5
            while True:
                with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
                    text = r.read().decode()
                if "flashsale_malformed_total 1" in text or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            self.assertIn('flashsale_answers_total{status="OK"} 1', text)
            self.assertIn('flashsale_answers_total{status="BAD_TOKEN"} 1', text)
            self.assertIn('flashsale_item_available{item="1001"} 99', text)
            self.assertRegex(text, r"flashsale_malformed_total 1\b")
            with urllib.request.urlopen(base + "/items", timeout=5) as r:
                items = json.loads(r.read())
            self.assertEqual(items, [{"item_id": 1001, "activity_id": 1, "total": 100, "available": 99,
                                      "per_user_limit": 2}])
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(base + "/nope", timeout=5)
            self.assertEqual(e.exception.code, 404)
            req = urllib.request.Request(base + "/metrics", data=b"x", method="POST")
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=5)
            self.assertEqual(e.exception.code, 405)


    def test_admin_snapshot(self):
        port = free_tcp_port()
        key = "ab" * 32
        with Daemon(http_port=port, extra="[admin]\nkey = %s\n" % key) as d:
            url = "http://127.0.0.1:%d/admin/snapshot" % port
            for auth, code in ((None, 401), ("Bearer " + "cd" * 32, 401), ("Bearer " + key, 200)):
                req = urllib.request.Request(url, data=b"", method="POST")
                if auth:
                    req.add_header("Authorization", auth)
                try:
                    with urllib.request.urlopen(req, timeout=10) as r:
                        got, body = r.status, r.read()
                except urllib.error.HTTPError as e:
                    got, body = e.code, b""
                self.assertEqual(got, code, auth)
            self.assertEqual(json.loads(body), {"ok": True})
            self.assertIn("snapshot (admin request)", d.output())
            self.assertTrue(os.path.exists(os.path.join(d.tmp, "data", "snapshot.db")))
        with Daemon(http_port=port) as d:  # no [admin] key: admin API off
            req = urllib.request.Request("http://127.0.0.1:%d/admin/snapshot" % port, data=b"", method="POST")
            with self.assertRaises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(req, timeout=10)
            self.assertEqual(e.exception.code, 403)


if __name__ == "__main__":
    main()
