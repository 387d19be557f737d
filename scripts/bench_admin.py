#!/usr/bin/env python3
"""Latency of admin API calls against the real daemon (loopback).

Starts flashsaled (tests/integration/fsp.py's Daemon) with the given
durability, then times N sequential calls of each kind over HTTP and prints
p50/p99/max in milliseconds: POST /admin/stock (durable before the answer),
a retry of the same request_id (answered from the shards' admin records),
GET /admin/items, GET /admin/audit. Figures only; no assertions.

usage: scripts/bench_admin.py [--build DIR] [--durability sync|batch|none] [-n N]
"""
import argparse
import os
import sys
import time

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
ap.add_argument("--durability", default="sync", choices=("sync", "batch", "none"))
ap.add_argument("-n", type=int, default=200)
args = ap.parse_args()
os.environ["FLASHSALE_BUILD"] = os.path.abspath(args.build)
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "integration"))
from test_admin import admin_daemon, call  # noqa: E402


def timed(label, fn):
    lat = []
    for k in range(args.n):
        t = time.perf_counter()
        st, body = fn(k)
        lat.append((time.perf_counter() - t) * 1e3)
        assert st == 200, (st, body)
    lat.sort()
    print("%-28s n=%d p50 %.2f ms  p99 %.2f ms  max %.2f ms" %
          (label, len(lat), lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1], lat[-1]))


d = admin_daemon(args.durability)
d.start()
try:
    print("durability = %s, 2 workers, loopback" % args.durability)
    timed("POST /admin/stock", lambda k: call(d, "POST", "/stock", {"request_id": 1000 + k, "item_id": 1001, "delta": 1}))
    timed("POST /admin/stock (retry)", lambda k: call(d, "POST", "/stock", {"request_id": 1000 + args.n - 1, "item_id": 1001, "delta": 1}))
    timed("GET /admin/items", lambda k: call(d, "GET", "/items"))
    timed("GET /admin/audit", lambda k: call(d, "GET", "/audit"))
finally:
    d.stop()
