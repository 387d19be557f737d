"""flashsale-export against a real PostgreSQL and the real daemon:

- a sale with buys, confirms, cancels and expiries, exported while it runs:
  the database equals the appliance's state (its snapshot.db at shutdown),
  order by order, item by item, with each shard's offset at its last LSN;
- crashes: the exporter is killed with SIGKILL again and again mid-stream
  (small batches), the appliance is killed with SIGKILL under load and
  restarted, PostgreSQL is restarted once (immediate mode): at the end every
  acknowledged order is in the database exactly once with its final state,
  and the offsets equal each shard's last LSN (the exporter checks LSN
  contiguity itself and would have stopped on a gap);
- a database ahead of its offsets: the replay moves no order backwards;
- resync: a consumer whose next LSN was trimmed from the log (the early
  segments are gone) reloads the shard from snapshot.db and ends equal.

The test starts its own PostgreSQL 15 (initdb in a scratch directory, a Unix
socket there, listen_addresses = '', as user nobody when run as root).
Skips (77) only when the PostgreSQL server binaries are not installed.
"""
import glob
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import BUILD, Daemon, ST, buy_token, pay_token, req, scratch_dir, main  # noqa: E402

EXPORT = os.path.join(BUILD, "app", "flashsale-export")
PG_BIN = "/usr/lib/postgresql/15/bin"
STATE_NAMES = {1: "RESERVED", 2: "PAID", 3: "CANCELLED", 4: "EXPIRED"}

ITEMS = """
[item.1001]
activity = 1
total = 20000
per_user_limit = 2
max_per_order = 1

[item.2002]
activity = 2
total = 20000
per_user_limit = 1
max_per_order = 1
"""

# A second activity whose reservations expire after 1 s.
FAST = """
[activity.2]
name = fast
start = now-1s
end = now+1h
require_token = yes
token_key = 000102030405060708090a0b0c0d0e0f
payment_key = f0e0d0c0b0a090807060504030201000
pay_timeout_s = 1
"""


class Postgres:
    """A throw-away PostgreSQL server on a Unix socket in a scratch dir."""

    def __init__(self):
        self.dir = scratch_dir("fs-pg-")
        self.data = os.path.join(self.dir, "pg")
        self.log = os.path.join(self.dir, "pg.log")
        self.as_user = []
        if os.getuid() == 0:  # initdb refuses root
            os.chown(self.dir, 65534, 65534)  # nobody
            self.as_user = ["runuser", "-u", "nobody", "--"]
        self.run(os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust", "-U",
                 "postgres", "--no-sync")
        self.start()
        self.run(os.path.join(PG_BIN, "createdb"), "-h", self.dir, "-U", "postgres", "shop")
        self.conninfo = "host=%s dbname=shop user=postgres" % self.dir

    def run(self, *args):
        r = subprocess.run(self.as_user + list(args), capture_output=True, text=True,
                           timeout=120)
        if r.returncode != 0:
            raise AssertionError("%s failed: %s%s" % (args[0], r.stdout, r.stderr))
        return r.stdout

    def start(self):
        self.run(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l", self.log, "-w",
                 "-o", "-c listen_addresses='' -k %s" % self.dir, "start")

    def stop(self, mode="fast"):
        self.run(os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop")

    def query(self, sql):
        out = self.run(os.path.join(PG_BIN, "psql"), "-h", self.dir, "-U", "postgres", "-d",
                       "shop", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1", "-c", sql)
        return [line.split("|") for line in out.splitlines() if line]

    def reset(self):
        self.query("DROP TABLE IF EXISTS flashsale_orders, flashsale_items, flashsale_offsets")


class Exporter:
    def __init__(self, daemon, pg, *extra):
        self.args = [EXPORT, "--config", daemon.config, "--db", pg.conninfo, *extra]
        self.log_path = os.path.join(daemon.tmp, "export.log")
        self.proc = None

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.args, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def kill(self):
        self.proc.kill()
        self.proc.wait(timeout=10)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        assert rc == 0, "exporter exit %d:\n%s" % (rc, self.output())

    def output(self):
        with open(self.log_path) as f:
            return f.read()

    def run_until_idle(self):
        r = subprocess.run(self.args + ["--exit-when-idle"], capture_output=True, text=True,
                           timeout=120)
        with open(self.log_path, "a") as f:
            f.write(r.stderr)
        assert r.returncode == 0, "exporter exit %d:\n%s" % (r.returncode, r.stderr)
        return r.stderr


def sync_daemon(**kw):
    d = Daemon(items=ITEMS, extra=FAST, **kw)
    with open(d.config) as f:
        text = f.read().replace("durability = none", "durability = sync")
    with open(d.config, "w") as f:
        f.write(text)
    return d


def u64(v):
    return v & 0xFFFFFFFFFFFFFFFF


def appliance_state(d):
    """Orders, items and shard LSNs from snapshot.db (written at clean shutdown)."""
    db = sqlite3.connect("file:%s?immutable=1" % os.path.join(d.tmp, "data", "snapshot.db"),
                         uri=True)
    orders = {u64(o): (u64(u), i, q, STATE_NAMES[s]) for o, u, i, q, s in db.execute(
        "SELECT order_id, user_id, item_id, qty, state FROM orders")}
    items = {i: (t, a, r, p) for i, t, a, r, p in db.execute(
        "SELECT item_id, total, available, reserved, paid FROM items")}
    lsns = {s: lsn for s, lsn in db.execute("SELECT shard, lsn FROM shards")}
    db.close()
    return orders, items, lsns


def database_state(pg):
    orders = {int(o): (int(u), int(i), int(q), s) for o, u, i, q, s in pg.query(
        "SELECT order_id, user_id, item_id, qty, state FROM flashsale_orders")}
    items = {int(i): (int(t), int(a), int(r), int(p)) for i, t, a, r, p in pg.query(
        "SELECT item_id, total, available, reserved, paid FROM flashsale_items")}
    lsns = {int(s): int(lsn) for s, lsn in pg.query("SELECT shard, lsn FROM flashsale_offsets")}
    return orders, items, lsns


class Shopper:
    """Drives a sale: BUYs, CONFIRMs, CANCELs; records what was acknowledged."""

    def __init__(self, d, first_user):
        self.d = d
        self.user = first_user
        self.acked = {}  # order_id -> state name the appliance acknowledged last

    def buy(self, c, item, activity):
        u = self.user
        self.user += 1
        r = c.call(req("BUY", user=u, rid=1, item=item, qty=1, token=buy_token(u, activity)),
                   timeout=1.0)[0]
        if r is None or r.status != ST["OK"]:  # no answer (appliance down): not acknowledged
            return None
        self.acked[r.order_id] = "RESERVED"
        return u, r.order_id

    def settle(self, c, u, order, op):
        ref = 7000 + u
        tok = pay_token(order, u, ref)
        r = c.call(req(op, user=u, rid=2, order=order, ref=ref, token=tok), timeout=1.0)[0]
        if r is not None and r.status == ST["OK"]:
            self.acked[order] = "PAID" if op == "CONFIRM" else "CANCELLED"

    def round(self, c, n):
        for k in range(n):
            item, act = (2002, 2) if k % 5 == 4 else (1001, 1)
            got = self.buy(c, item, act)
            if got and item == 1001:
                u, order = got
                if k % 3 == 0:
                    self.settle(c, u, order, "CONFIRM")
                elif k % 3 == 1:
                    self.settle(c, u, order, "CANCEL")


class Export(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pg = Postgres()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.pg.stop("immediate")
        except AssertionError:
            pass

    def setUp(self):
        self.pg.reset()

    def assert_equal_state(self, d, acked=None):
        a_orders, a_items, a_lsns = appliance_state(d)
        b_orders, b_items, b_lsns = database_state(self.pg)
        self.assertEqual(len(b_orders), len(a_orders))
        for oid, row in a_orders.items():
            self.assertEqual(b_orders.get(oid), row, "order %d" % oid)
        self.assertEqual(b_items, a_items)
        for shard, lsn in a_lsns.items():
            self.assertEqual(b_lsns.get(shard, 0), lsn, "shard %d offset" % shard)
        for oid, state in (acked or {}).items():
            self.assertIn(oid, b_orders, "acknowledged order %d missing" % oid)
            if state != "RESERVED":
                self.assertEqual(b_orders[oid][3], state, "acknowledged order %d" % oid)
        # exactly once: the primary key holds; no order row without its offset
        dup = self.pg.query("SELECT count(*) - count(DISTINCT order_id) FROM flashsale_orders")
        self.assertEqual(dup, [["0"]])
        beyond = self.pg.query("SELECT count(*) FROM flashsale_orders o JOIN flashsale_offsets f"
                               " USING (shard) WHERE o.lsn > f.lsn")
        self.assertEqual(beyond, [["0"]])

    def test_sale_equals_appliance(self):
        d = sync_daemon()
        d.start()
        x = Exporter(d, self.pg, "--batch", "100")
        x.start()
        shop = Shopper(d, 1)
        c = d.client()
        shop.round(c, 150)
        time.sleep(2.5)  # the activity-2 reservations expire
        shop.round(c, 30)
        c.close()
        time.sleep(2.5)
        d.stop()
        deadline = time.monotonic() + 60
        _, _, a_lsns = appliance_state(d)
        while time.monotonic() < deadline:
            if database_state(self.pg)[2] == a_lsns:
                break
            time.sleep(0.2)
        x.stop()
        states = {s for (_, _, _, s) in database_state(self.pg)[0].values()}
        self.assertEqual(states, {"RESERVED", "PAID", "CANCELLED", "EXPIRED"})
        self.assert_equal_state(d, shop.acked)
        row = self.pg.query("SELECT paid_ref, deadline_at - created_at FROM flashsale_orders "
                            "WHERE state = 'PAID' LIMIT 1")
        self.assertTrue(int(row[0][0]) > 7000)
        self.assertEqual(row[0][1], "00:15:00")
        with open(os.path.join(d.tmp, "data", "consumers", "export")) as f:
            self.assertIn("flashsale-consumer 1", f.read())
        # A database ahead of its offsets (restored from a backup, say): the
        # replayed changes go through forward-only upserts, items are
        # recounted from the orders, and a replayed RESERVED never
        # overwrites PAID, CANCELLED or EXPIRED.
        self.pg.query("UPDATE flashsale_offsets SET lsn = 0")
        out = x.run_until_idle()
        self.assertIn("forward-only", out)
        self.assert_equal_state(d, shop.acked)

    def test_crashes_lose_nothing_and_apply_nothing_twice(self):
        d = sync_daemon()
        d.start()
        x = Exporter(d, self.pg, "--batch", "7")
        x.start()
        shop = Shopper(d, 1)
        stop = threading.Event()
        errors = []

        def load():
            c = d.client()
            try:
                while not stop.is_set():
                    shop.round(c, 10)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)
            c.close()

        t = threading.Thread(target=load)
        t.start()
        rnd = random.Random(7)
        try:
            for i in range(12):
                time.sleep(0.2 + rnd.random() * 0.3)
                if i == 8:
                    self.pg.stop("immediate")  # PostgreSQL crashes and comes back
                    time.sleep(0.5)
                    self.pg.start()
                    continue
                x.kill()  # SIGKILL mid-stream, batches of 7
                if i == 4:
                    d.proc.kill()  # the appliance, under load
                    d.proc.wait(timeout=10)
                    d.start()
                x.start()
        finally:
            stop.set()
            t.join(timeout=60)
        self.assertEqual(errors, [])
        time.sleep(2.5)  # let activity-2 reservations expire
        x.stop()
        d.stop()
        x.run_until_idle()
        self.assertGreater(len(shop.acked), 100)
        self.assert_equal_state(d, shop.acked)
        out = x.output()
        print("\n  %d acknowledged orders, %d exporter sessions, %d database rows" % (
            len(shop.acked), out.count("session "), len(database_state(self.pg)[0])),
            file=sys.stderr)
        self.assertNotIn("stopping", out)
        # it saw the database go away (mid-batch, or while connecting)
        self.assertRegex(out, "reconnecting|export: connecting")

    def test_admin_changes_exported(self):
        # Stock changes (and a window change) made through the admin API are
        # log records like BUYs: the exporter applies the new totals to
        # flashsale_items and moves its offsets past both kinds.
        import test_admin as A
        d = A.admin_daemon()
        with open(d.config) as f:
            text = f.read()
        with open(d.config, "w") as f:
            f.write(text.replace(A.ITEMS, ITEMS + FAST))
        d.start()
        shop = Shopper(d, 1)
        c = d.client()
        shop.round(c, 30)
        st, _ = A.call(d, "POST", "/stock", {"request_id": 1, "item_id": 1001, "delta": -500})
        self.assertEqual(st, 200)
        st, _ = A.call(d, "POST", "/stock", {"request_id": 2, "item_id": 2002, "delta": 70})
        self.assertEqual(st, 200)
        st, _ = A.call(d, "POST", "/close", {"request_id": 3, "activity_id": 2})
        self.assertEqual(st, 200)
        # An activity and item created at run time: a CATALOG record in shard
        # 0's log, then orders of the new item in its owner's log.
        now = time.time_ns()
        st, _ = A.call(d, "POST", "/activities", {
            "request_id": 4, "activity_id": 7, "start_ns": now - 10**9, "end_ns": now + 3600 * 10**9,
            "items": [{"item_id": 7001, "total": 5, "per_user_limit": 1}]})
        self.assertEqual(st, 200)
        for u in (901, 902, 903):
            r = c.one("BUY", user=u, rid=1, item=7001, qty=1)
            self.assertEqual(r.status, ST["OK"])
            shop.acked[r.order_id] = "RESERVED"
        shop.round(c, 30)
        c.close()
        d.stop()
        x = Exporter(d, self.pg, "--batch", "10")
        out = x.run_until_idle()
        self.assertNotIn("stopping", out)
        self.assert_equal_state(d, shop.acked)
        totals = dict(self.pg.query("SELECT item_id, total FROM flashsale_items"))
        self.assertEqual(totals, {"1001": "19500", "2002": "20070", "7001": "5"})

    def test_resync_from_snapshot_after_trim(self):
        d = sync_daemon()
        d.start()
        shop = Shopper(d, 1)
        c = d.client()
        shop.round(c, 40)
        x = Exporter(d, self.pg, "--batch", "10")
        x.run_until_idle()
        shop.round(c, 40)  # not exported yet
        c.close()
        d.stop()  # snapshot at shutdown
        # The trim went past this consumer: the segments it needs are gone.
        # (Removing every segment also makes the appliance refuse to start:
        # its manifest names the newest one, docs/operations.md "Lost
        # state"; the exporter only needs snapshot.db, which holds it all.)
        for seg in glob.glob(os.path.join(d.tmp, "data", "shard-*", "wal-*.log")):
            os.remove(seg)
        out = x.run_until_idle()
        self.assertIn("resyncing the shard from", out)
        self.assertIn("resynced", out)
        self.assert_equal_state(d, shop.acked)


if __name__ == "__main__":
    if not os.path.exists(os.path.join(PG_BIN, "initdb")):
        print("SKIP: PostgreSQL 15 server binaries not installed (scripts/install-deps.sh)")
        sys.exit(77)
    if not os.path.exists(EXPORT):
        print("SKIP: flashsale-export not built (libpq-dev missing)")
        sys.exit(77)
    main()
