"""Creating activities and items on a running appliance (POST /admin/activities,
POST /admin/items) against the real daemon.

A new activity and its items are bought at once over FSP/1 and the public
HTTP API; a kill -9 right after the admin OK keeps them (with their sold
counts), a snapshot then a restart keeps them, a retried request_id gets its
first answer (also after the restart), refusals name their reason, listings
page, `flashsale feed` prints the CATALOG record and `flashsale audit` is clean
offline. Loopback only, bounded request counts."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from fsp import CLI, ST, Daemon, buy_token, free_tcp_port, main  # noqa: E402
from test_admin import ITEMS, KEY, call  # noqa: E402

KEY7 = "101112131415161718191a1b1c1d1e1f"
NS = 10**9


def catalog_daemon():
    admin, public = free_tcp_port(), free_tcp_port()
    d = Daemon(admin_port=admin, admin_key=KEY, items=ITEMS, http_port=public)
    with open(d.config) as f:
        text = f.read()
    with open(d.config, "w") as f:
        f.write(text.replace("durability = none", "durability = sync"))
    d.http, d.public = admin, public  # test_admin.call uses d.http
    return d


def activity7(rid=101):
    now = time.time_ns()
    return {"request_id": rid, "activity_id": 7, "name": "Flash \"7\"", "start_ns": now - NS,
            "end_ns": now + 3600 * NS, "pay_timeout_s": 600, "require_token": True,
            "token_key": KEY7,
            "items": [{"item_id": 7001, "total": 30, "per_user_limit": 2, "max_per_order": 1,
                       "price_cents": 1999},
                      {"item_id": 7002, "total": 3}]}


def http_buy(d, user, rid, item, key=KEY7, activity=7):
    body = json.dumps({"item": item, "user": user, "request_id": rid, "qty": 1,
                       "token": buy_token(user, activity, bytes.fromhex(key)).hex()}).encode()
    r = urllib.request.Request("http://127.0.0.1:%d/v1/buy" % d.public, data=body, method="POST")
    r.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return json.loads(resp.read())["status"]
    except urllib.error.HTTPError as e:
        return json.loads(e.read())["status"]


def fsp_buy(c, user, rid, item, key=KEY7, activity=7):
    return c.one("BUY", user=user, rid=rid, item=item, qty=1,
                 token=buy_token(user, activity, bytes.fromhex(key))).status


def counts(d):
    """Every item of the catalog, following the pages."""
    out, nxt = {}, 0
    while nxt is not None:
        st, body = call(d, "GET", "/items?from=%d&limit=2" % nxt)
        assert st == 200, (st, body)
        out.update({it["item_id"]: it for it in body["items"]})
        nxt = body["next"]
    return out


class AdminCatalog(unittest.TestCase):
    def test_create_buy_kill9_restart(self):
        d = catalog_daemon()
        d.start()
        c = d.client()
        self.assertEqual(c.one("ITEM_STATUS", user=1, rid=1, item=7001).status, ST["UNKNOWN_ITEM"])
        st, a = call(d, "POST", "/activities", activity7())
        self.assertEqual(st, 200, a)
        self.assertTrue(a["created_activity"])
        self.assertEqual([i["item_id"] for i in a["items"]], [7001, 7002])
        # Retried: the same answer; the request_id for something else: 409.
        self.assertEqual(call(d, "POST", "/activities", activity7()), (200, a))
        other = activity7()
        other["activity_id"] = 8
        self.assertEqual(call(d, "POST", "/activities", other)[0], 409)
        self.assertEqual(call(d, "POST", "/stock", {"request_id": 101, "item_id": 1001, "delta": 1})[0], 409)
        # Refusals name their reason.
        st, e = call(d, "POST", "/activities", activity7(rid=102))
        self.assertEqual(st, 409)
        self.assertIn("activity 7 already exists", e["error"])
        dup = activity7(rid=103)
        dup["activity_id"] = 9
        dup["items"] = [{"item_id": 1001, "total": 1}]
        st, e = call(d, "POST", "/activities", dup)
        self.assertEqual(st, 409)
        self.assertIn("item 1001", e["error"])
        bad = activity7(rid=104)
        bad["activity_id"] = 9
        bad["items"][0]["max_per_order"] = 5
        st, e = call(d, "POST", "/activities", bad)
        self.assertEqual(st, 400)
        self.assertIn("max_per_order", e["error"])
        st, e = call(d, "POST", "/activities", {"request_id": 105, "activity_id": 9, "start_ns": 1,
                                               "end_ns": 2, "token_key": "xyz"})
        self.assertEqual(st, 400)
        self.assertIn("token_key", e["error"])
        self.assertEqual(call(d, "POST", "/items", {"request_id": 106, "activity_id": 55,
                                                    "items": [{"item_id": 5501, "total": 1}]})[0], 404)
        # Bought at once over FSP/1 and HTTP; limits and tokens apply.
        results = []

        def http_side():
            for u in range(1000, 1012):
                results.append(http_buy(d, u, 1, 7001))
        t = threading.Thread(target=http_side)
        t.start()
        fsp = [fsp_buy(c, u, 1, 7001) for u in range(2000, 2012)]
        t.join()
        self.assertEqual(fsp.count(ST["OK"]), 12, fsp)
        self.assertEqual(results.count("OK"), 12, results)
        self.assertEqual(fsp_buy(c, 3000, 1, 7001, key="00" * 16), ST["BAD_TOKEN"])
        self.assertEqual(fsp_buy(c, 2000, 2, 7001), ST["OK"])
        self.assertEqual(fsp_buy(c, 2000, 3, 7001), ST["LIMIT_EXCEEDED"])
        self.assertEqual([fsp_buy(c, u, 1, 7002) for u in (1, 2, 3, 4)],
                         [ST["OK"]] * 3 + [ST["SOLD_OUT"]])
        self.assertEqual(c.one("ITEM_STATUS", user=1, rid=1, item=7001).available, 5)
        # Items added to it later, then kill -9 right after that OK.
        more = {"request_id": 107, "activity_id": 7, "items": [{"item_id": 7003, "total": 4}]}
        st, m = call(d, "POST", "/items", more)
        self.assertEqual((st, m["created_activity"], m["items"][0]["item_id"]), (200, False, 7003))
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        c.close()
        d.start()
        c = d.client()
        it = counts(d)
        self.assertEqual((it[7001]["total"], it[7001]["sold"], it[7001]["available"]), (30, 25, 5))
        self.assertEqual((it[7002]["sold"], it[7003]["total"], it[7003]["available"]), (3, 4, 4))
        self.assertEqual(call(d, "POST", "/activities", activity7()), (200, a))
        self.assertEqual(call(d, "POST", "/items", more), (200, m))
        self.assertEqual(fsp_buy(c, 2000, 4, 7001), ST["LIMIT_EXCEEDED"])
        self.assertEqual(fsp_buy(c, 4000, 1, 7003), ST["OK"])
        self.assertEqual(http_buy(d, 4001, 1, 7003), "OK")
        st, cat = call(d, "GET", "/catalog")
        self.assertEqual([x["activity_id"] for x in cat["activities"]], [1, 7])
        self.assertTrue(cat["activities"][1]["runtime"])
        # A snapshot, a restart: still there.
        self.assertEqual(call(d, "POST", "/snapshot")[0], 200)
        self.assertEqual(fsp_buy(c, 4002, 1, 7003), ST["OK"])
        c.close()
        d.stop()
        d.start()
        c = d.client()
        it = counts(d)
        self.assertEqual((it[7001]["sold"], it[7003]["sold"], it[7003]["available"]), (25, 3, 1))
        self.assertEqual(call(d, "POST", "/activities", activity7()), (200, a))
        st, au = call(d, "GET", "/audit")
        self.assertTrue(au["ok"], au)
        self.assertEqual(au["items"], 5)
        with urllib.request.urlopen("http://127.0.0.1:%d/items" % d.http, timeout=30) as r:
            self.assertIn(7003, [x["item_id"] for x in json.loads(r.read())])
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % d.http, timeout=30) as r:
            text = r.read().decode()
        self.assertIn('flashsale_item_available{item="7003"} 1', text)
        # BUY attempts are counted for items created at run time too
        # (counters start at 0 with each run: one BUY of 7003 now; user
        # 4002's limit of 1 is used up, so it changes no stock).
        self.assertEqual(fsp_buy(c, 4002, 2, 7003), ST["LIMIT_EXCEEDED"])
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % d.http, timeout=30) as r:
            text = r.read().decode()
        m = re.search(r'^flashsale_item_attempts_total\{item="7003"\} (\d+)$', text, re.M)
        self.assertIsNotNone(m, "no attempts counter for a created item")
        self.assertEqual(int(m.group(1)), 1)
        with urllib.request.urlopen("http://127.0.0.1:%d/v1/items/7001" % d.public, timeout=30) as r:
            self.assertEqual(json.loads(r.read())["available"], 5)
        c.close()
        d.stop()
        out = subprocess.run([CLI, "audit", "--config", d.config], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertNotIn("VIOLATION", out.stdout)
        self.assertIn("item 7003:", out.stdout)
        data = os.path.join(d.tmp, "data")
        out = subprocess.run([CLI, "feed", "--data", data, "--after", "0:0"],
                             capture_output=True, text=True, timeout=60)
        events = [json.loads(line) for line in out.stdout.splitlines()]
        cat = [e for e in events if e["event"] == "CATALOG"]
        self.assertGreaterEqual(len(cat), 1, out.stdout[-2000:] + out.stderr)
        self.assertTrue(all(e["shard"] == 0 for e in cat))

    def test_cli_create_from_file(self):
        d = catalog_daemon()
        with d:
            env = dict(os.environ, FLASHSALE_ADMIN_KEY=KEY)
            path = os.path.join(d.tmp, "act.json")
            with open(path, "w") as f:
                json.dump(activity7(rid=201), f)
            out = subprocess.run([CLI, "admin", "create-activity", "--config", d.config, "--file", path],
                                 env=env, capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(json.loads(out.stdout)["activity_id"], 7)
            with open(path, "w") as f:
                json.dump({"request_id": 202, "activity_id": 7, "items": [{"item_id": 7009, "total": 2}]}, f)
            out = subprocess.run([CLI, "admin", "add-items", "--config", d.config, "--file", path],
                                 env=env, capture_output=True, text=True, timeout=30)
            self.assertEqual(out.returncode, 0, out.stderr)
            c = d.client()
            self.assertEqual(c.one("ITEM_STATUS", user=1, rid=1, item=7009).available, 2)
            c.close()


if __name__ == "__main__":
    main()
