"""The worker families of /metrics (app/fs_metrics.c) against the real
daemon, parsed by the strict exposition-format parser of test_ops_listener:
after a known set of FSP and HTTP requests, requests_total{protocol,op,status}
counts exactly those answers, item_attempts_total the BUYs, the per-worker
families add up to the global ones, cycle counters only grow, and every
histogram is cumulative with _count equal to its +Inf bucket."""
import http.client
import json
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import Daemon, ST, buy_token, free_tcp_port, main  # noqa: E402
from test_ops_listener import KEY, get, parse_metrics, value  # noqa: E402

ITEMS = """
[item.1001]
activity = 1
total = 5
per_user_limit = 1
max_per_order = 1

[item.1002]
activity = 1
total = 100
per_user_limit = 1
max_per_order = 1
"""


def drain(sk):
    out = b""
    while True:
        chunk = sk.recv(65536)
        if not chunk:
            return out
        out += chunk


def scrape(port):
    st, body, _ = get(port, "/metrics")
    assert st == 200, st
    return parse_metrics(body)


def series(fams, name):
    """{labels-dict-as-tuple: value} of one sample name."""
    out = {}
    for fam in fams.values():
        for (n, lab), v in fam["samples"].items():
            if n == name:
                out[tuple(sorted((k, x.strip('"')) for k, x in lab))] = v
    return out


def check_histogram(test, fams, name):
    fam = fams[name]
    test.assertEqual(fam["type"], "histogram")
    buckets = sorted(((float(dict(lab)["le"].strip('"')), v)
                      for (n, lab), v in fam["samples"].items() if n == name + "_bucket"))
    test.assertGreaterEqual(len(buckets), 2)
    test.assertEqual(buckets[-1][0], float("inf"))
    counts = [v for _, v in buckets]
    test.assertEqual(counts, sorted(counts), "%s buckets are not cumulative" % name)
    test.assertEqual(series(fams, name + "_count")[()], counts[-1])
    test.assertGreaterEqual(series(fams, name + "_sum")[()], 0)
    return counts[-1]


class Metrics(unittest.TestCase):
    def test_counts_match_known_traffic(self):
        port, hport = free_tcp_port(), free_tcp_port()
        d = Daemon(admin_port=port, admin_key=KEY, items=ITEMS, http_port=hport)
        with open(d.config) as f:
            text = f.read()
        with open(d.config, "w") as f:  # a real log: held answers, commit latency
            f.write(text.replace("durability = none", "durability = sync"))
        with d:
            before = scrape(port)
            c = d.client()
            # FSP: 8 BUYs of item 1001 (stock 5): 5 OK, 3 SOLD_OUT; one bad
            # token; 2 ITEM_STATUS; one BUY of an unknown item.
            fsp_ok = fsp_sold = 0
            for u in range(1, 9):
                r = c.one("BUY", user=u, rid=1, item=1001, qty=1, token=buy_token(u, 1))
                fsp_ok += r.status == ST["OK"]
                fsp_sold += r.status == ST["SOLD_OUT"]
            self.assertEqual((fsp_ok, fsp_sold), (5, 3))
            self.assertEqual(c.one("BUY", user=50, rid=1, item=1002, qty=1,
                                   token=b"\x01" * 16).status, ST["BAD_TOKEN"])
            for _ in range(2):
                c.one("ITEM_STATUS", item=1002)
            self.assertEqual(c.one("BUY", user=51, rid=1, item=9999, qty=1,
                                   token=buy_token(51, 1)).status, ST["UNKNOWN_ITEM"])
            # a multi-message datagram (pending table path): 3 BUYs of 1002
            rs = c.call(*[__import__("fsp").req("BUY", user=60 + k, rid=1, item=1002, qty=1,
                                                token=buy_token(60 + k, 1)) for k in range(3)])
            self.assertEqual([r.status for r in rs], [ST["OK"]] * 3)
            c.close()
            # HTTP: 4 BUYs of item 1002 (OK), one TIME
            h = http.client.HTTPConnection("127.0.0.1", hport, timeout=10)
            for k in range(4):
                body = json.dumps({"item": 1002, "user": 100 + k, "request_id": 1,
                                   "qty": 1, "token": buy_token(100 + k, 1).hex()})
                h.request("POST", "/v1/buy", body=body,
                          headers={"Content-Type": "application/json"})
                j = json.loads(h.getresponse().read())
                self.assertEqual(j["status"], "OK", j)
            h.request("GET", "/v1/time")
            h.getresponse().read()
            h.close()
            # closes by reason: one past the header limit (431), one that asks
            # to close, plus the connection above closed by the client
            with socket.create_connection(("127.0.0.1", hport), timeout=10) as sk:
                sk.sendall(b"GET /v1/time HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 +
                           b"\r\n\r\n")
                self.assertIn(b" 431 ", drain(sk))
            with socket.create_connection(("127.0.0.1", hport), timeout=10) as sk:
                sk.sendall(b"GET /v1/time HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                self.assertIn(b" 200 ", drain(sk))
            time.sleep(0.3)
            fams = scrape(port)

            def req(proto, op, status):
                return value(fams, "flashsale_requests_total", protocol=proto, op=op,
                             status=status)
            self.assertEqual(req("fsp", "BUY", "OK"), 8)
            self.assertEqual(req("fsp", "BUY", "SOLD_OUT"), 3)
            self.assertEqual(req("fsp", "BUY", "BAD_TOKEN"), 1)
            self.assertEqual(req("fsp", "BUY", "UNKNOWN_ITEM"), 1)
            self.assertEqual(req("fsp", "ITEM_STATUS", "OK"), 2)
            self.assertEqual(req("http", "BUY", "OK"), 4)
            self.assertEqual(req("http", "TIME", "OK"), 2)
            total = sum(series(fams, "flashsale_requests_total").values())
            self.assertEqual(total, 8 + 3 + 1 + 1 + 2 + 4 + 2)
            # attempts: every BUY of a known item that passed the rate limits
            self.assertEqual(value(fams, "flashsale_item_attempts_total", item=1001), 8)
            self.assertEqual(value(fams, "flashsale_item_attempts_total", item=1002), 1 + 3 + 4)
            self.assertEqual(value(fams, "flashsale_item_attempts_overflow_total"), 0)
            # per worker: two workers, sums equal the global counters
            for fam, glob in (("flashsale_worker_rx_datagrams_total", "flashsale_rx_datagrams_total"),
                              ("flashsale_worker_tx_messages_total", "flashsale_tx_messages_total"),
                              ("flashsale_worker_handoffs_total", "flashsale_handoffs_total")):
                per = series(fams, fam)
                self.assertEqual(sorted(dict(k)["worker"] for k in per), ["0", "1"], fam)
                self.assertEqual(sum(per.values()), value(fams, glob), fam)
            for w in ("0", "1"):
                for g in ("flashsale_worker_handoff_ring_entries",
                          "flashsale_worker_return_ring_entries"):
                    self.assertEqual(fams[g]["type"], "gauge")
                    self.assertGreaterEqual(value(fams, g, worker=w), 0)
                for r in ("malformed", "tx_refused", "handoff_ring_full", "pending_full"):
                    self.assertEqual(value(fams, "flashsale_worker_drops_total", worker=w,
                                           reason=r), 0)
            # cycles: every stage of every worker, only growing; busy work seen
            stages = ("rx", "decode", "gate", "handoff", "owner", "reply", "tx", "idle")
            cyc0, cyc1 = series(before, "flashsale_worker_cycles_total"), \
                series(fams, "flashsale_worker_cycles_total")
            self.assertEqual(len(cyc1), 2 * len(stages))
            for k, v in cyc1.items():
                self.assertGreaterEqual(v, cyc0.get(k, 0), k)
            busy = sum(v for k, v in cyc1.items() if dict(k)["stage"] != "idle")
            self.assertGreater(busy, 0)
            self.assertGreater(sum(v for k, v in cyc1.items() if dict(k)["stage"] == "idle"), 0)
            self.assertGreater(sum(series(fams, "flashsale_worker_busy_loops_total").values()), 0)
            self.assertGreater(value(fams, "flashsale_tsc_hz"), 1e8)
            # decision latency: one observation per response handed over
            n = check_histogram(self, fams, "flashsale_decision_latency_seconds")
            self.assertEqual(n, value(fams, "flashsale_tx_datagrams_total") + 6)  # + 6 HTTP answers
            # HTTP connections: all three closed (the server sees the first
            # client's close on its next read), each counted once by reason
            for _ in range(50):
                fams = scrape(port)
                if value(fams, "flashsale_http_connections_open") == 0:
                    break
                time.sleep(0.1)
            closed = series(fams, "flashsale_http_connections_closed_total")
            self.assertEqual(value(fams, "flashsale_http_connections_open"), 0)
            self.assertEqual(closed[(("reason", "limit"),)], 1)
            self.assertEqual(closed[(("reason", "client_close"),)], 2)
            self.assertEqual(sum(closed.values()), 3)
            self.assertEqual(value(fams, "flashsale_http_connections_accepted_total"), 3)
            self.assertEqual(value(fams, "flashsale_http_codec_errors_total"), 1)
            # commit latency: one observation per durable record (the
            # per-shard counters are gathered once a second)
            for _ in range(50):
                fams = scrape(port)
                if series(fams, "flashsale_wal_commit_latency_seconds_count").get(()) == 5 + 3 + 4:
                    break
                time.sleep(0.1)
            n = check_histogram(self, fams, "flashsale_wal_commit_latency_seconds")
            self.assertEqual(n, 5 + 3 + 4)  # one RESERVE per OK BUY, all durable
            self.assertGreater(series(fams, "flashsale_wal_commit_latency_seconds_sum")[()], 0)


if __name__ == "__main__":
    main()
