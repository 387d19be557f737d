"""Benchmark (prints figures, asserts no speed): how long POST /admin/activities
takes on a running appliance with durability = sync, each call creating one
activity with 32 items (one log record, durable before the answer), then
POST /admin/items adding 32 more to it; then the catalog listing, page by
page.

    FLASHSALE_BUILD=build python3 tests/integration/bench_admin_catalog.py [CALLS]

CALLS (default 40, at most 60: 64 items per round must fit the catalog's
room of 4,096 items beyond the config's)."""
import json
import os
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from fsp import Daemon, free_tcp_port  # noqa: E402
from test_admin import ITEMS, KEY  # noqa: E402


def post(port, path, body):
    data = json.dumps(body, separators=(",", ":")).encode()
    r = urllib.request.Request("http://127.0.0.1:%d/admin%s" % (port, path), data=data, method="POST")
    r.add_header("Authorization", "Bearer " + KEY)
    t0 = time.perf_counter()
    with urllib.request.urlopen(r, timeout=60) as resp:
        resp.read()
        assert resp.status == 200
    return time.perf_counter() - t0


def get(port, path):
    r = urllib.request.Request("http://127.0.0.1:%d/admin%s" % (port, path))
    r.add_header("Authorization", "Bearer " + KEY)
    with urllib.request.urlopen(r, timeout=60) as resp:
        return json.loads(resp.read())


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100.0 * len(xs)))]


def main():
    calls = min(int(sys.argv[1]) if len(sys.argv) > 1 else 40, 60)
    port = free_tcp_port()
    d = Daemon(admin_port=port, admin_key=KEY, items=ITEMS)
    with open(d.config) as f:
        text = f.read()
    with open(d.config, "w") as f:
        f.write(text.replace("durability = none", "durability = sync"))
    with d:
        now = time.time_ns()
        acts, adds = [], []
        for k in range(calls):
            items = [{"item_id": 100000 + 64 * k + i, "total": 1000, "per_user_limit": 2}
                     for i in range(32)]
            acts.append(post(port, "/activities", {
                "request_id": 1000 + k, "activity_id": 100 + k, "start_ns": now,
                "end_ns": now + 3600 * 10**9, "items": items}))
            items = [{"item_id": 100032 + 64 * k + i, "total": 1000} for i in range(32)]
            adds.append(post(port, "/items", {"request_id": 5000 + k, "activity_id": 100 + k,
                                              "items": items}))
            print("\r%d/%d calls" % (k + 1, calls), end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        t0, pages, n, nxt = time.perf_counter(), 0, 0, 0
        while nxt is not None:
            body = get(port, "/items?from=%d" % nxt)
            n += len(body["items"])
            nxt = body["next"]
            pages += 1
        listing = time.perf_counter() - t0
    print("admin.create_activity_32_items  calls=%d  p50_ms=%.2f  p99_ms=%.2f  max_ms=%.2f"
          % (calls, 1e3 * pct(acts, 50), 1e3 * pct(acts, 99), 1e3 * max(acts)))
    print("admin.add_32_items              calls=%d  p50_ms=%.2f  p99_ms=%.2f  max_ms=%.2f"
          % (calls, 1e3 * pct(adds, 50), 1e3 * pct(adds, 99), 1e3 * max(adds)))
    print("admin.items_listing             items=%d  pages=%d  total_ms=%.1f" % (n, pages, 1e3 * listing))


if __name__ == "__main__":
    main()
