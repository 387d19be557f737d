"""Durability over real UDP with the real daemon (durability = sync):

- kill -9 under BUY load, many times in a row on the same data directory:
  after each restart every OK the clients received is there (ORDER_STATUS),
  a retry of it returns the same order, and the daemon's start-up audit and
  final audit pass;
- injected storage faults (EIO and ENOSPC on write, a failed fdatasync) make
  the shard answer UNAVAILABLE and never acknowledge after the fault, while
  rejections keep flowing; a short write is resubmitted and loses nothing.
"""
import os
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import Client, Daemon, ST, STATE, buy_token, dgram, req, main  # noqa: E402

ITEMS = """
[item.1001]
activity = 1
total = 100000
per_user_limit = 5
max_per_order = 1

[item.1002]
activity = 1
total = 100000
per_user_limit = 5
max_per_order = 1
"""


def sync_daemon(durability="sync", **kw):
    d = Daemon(items=ITEMS, limits="max_orders = 400000", **kw)
    with open(d.config) as f:
        text = f.read().replace("durability = none", "durability = " + durability)
    with open(d.config, "w") as f:
        f.write(text)
    return d


class Loader(threading.Thread):
    """Sends BUY datagrams of 8 from several sockets until stopped; records
    every OK answer. Bounded by count and time."""

    def __init__(self, port, user_base, max_msgs=200000, max_s=10):
        super().__init__(daemon=True)
        self.port, self.user_base = port, user_base
        self.max_msgs, self.max_s = max_msgs, max_s
        self.stop = threading.Event()
        self.oks = {}  # (user, rid) -> (order_id, item)
        self.sent = 0

    def run(self):
        clients = [Client(self.port) for _ in range(3)]
        end = time.monotonic() + self.max_s
        n = 0
        while not self.stop.is_set() and self.sent < self.max_msgs and time.monotonic() < end:
            for c in clients:
                msgs = []
                for _ in range(8):
                    n += 1
                    u = self.user_base + n
                    item = 1001 + n % 2
                    msgs.append(req("BUY", user=u, rid=1, item=item, qty=1, token=buy_token(u, 1)))
                try:
                    c.send(dgram(*msgs))
                except OSError:
                    pass
                self.sent += 8
            for c in clients:
                try:
                    for r in c.recv_all(8, timeout=0.2):
                        if r.status == ST["OK"]:
                            self.oks[(r.user_id, r.request_id)] = (r.order_id, r.item_id)
                except (OSError, AssertionError):
                    pass
        for c in clients:
            c.close()


class Durability(unittest.TestCase):
    def test_kill9_under_load_loses_no_ok(self):
        d = sync_daemon()
        all_oks = {}
        rounds = 5
        for rnd in range(rounds):
            d.start()
            load = Loader(d.port, user_base=(rnd + 1) * 10**6)
            load.start()
            time.sleep(0.6)
            d.proc.send_signal(signal.SIGKILL)  # under load, no warning
            d.proc.wait(timeout=10)
            load.stop.set()
            load.join(timeout=20)
            self.assertGreater(len(load.oks), 0, "round %d: no OK before the kill" % rnd)
            all_oks.update(load.oks)
            # restart on the same data directory and check every OK so far
            d.start()
            out = d.output()
            self.assertIn("audit ok", out)
            c = d.client()
            sample = list(all_oks.items())
            if len(sample) > 3000:  # bounded check per round; the last round checks all
                sample = sample[-3000:] if rnd < rounds - 1 else sample
            for (user, rid), (order, item) in sample:
                s = c.one("ORDER_STATUS", user=user, rid=rid + 1000, order=order, token=buy_token(user, 1))
                self.assertEqual(s.status, ST["OK"], "lost acknowledged order %d of user %d" % (order, user))
                self.assertEqual((s.state, s.item_id), (STATE["RESERVED"], item))
            for (user, rid), (order, item) in sample[:200]:
                r = c.one("BUY", user=user, rid=rid, item=item, qty=1, token=buy_token(user, 1))
                self.assertEqual((r.status, r.order_id), (ST["OK"], order))
            # stock adds up: at least our acknowledged units are gone
            for item in (1001, 1002):
                avail = c.one("ITEM_STATUS", item=item).available
                mine = sum(1 for (o, it) in all_oks.values() if it == item)
                self.assertLessEqual(avail, 100000 - mine)
            c.close()
            if rnd < rounds - 1:
                d.proc.send_signal(signal.SIGKILL)
                d.proc.wait(timeout=10)
        d.stop()  # clean stop: final audit must pass (exit 0)
        self.assertIn("audit ok", d.output())


    def test_kill9_batch_mode_loses_no_ok(self):
        """durability = batch acknowledges after the write, before fdatasync:
        a process crash (the page cache survives) still loses nothing."""
        d = sync_daemon(durability="batch")
        d.start()
        load = Loader(d.port, user_base=9 * 10**7)
        load.start()
        time.sleep(0.6)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
        load.stop.set()
        load.join(timeout=20)
        self.assertGreater(len(load.oks), 0)
        d.start()
        c = d.client()
        for (user, rid), (order, item) in load.oks.items():
            s = c.one("ORDER_STATUS", user=user, rid=rid + 1000, order=order, token=buy_token(user, 1))
            self.assertEqual(s.status, ST["OK"], "lost acknowledged order %d" % order)
        c.close()
        d.stop()


class Snapshots(unittest.TestCase):
    def test_periodic_snapshot_then_kill9(self):
        """Snapshots every second under load, then kill -9: the restart loads
        the snapshot, replays only the log after it, and has every OK."""
        d = sync_daemon(extra="")
        with open(d.config) as f:
            text = f.read().replace("durability = sync", "durability = sync\nsnapshot_interval_s = 1")
        with open(d.config, "w") as f:
            f.write(text)
        d.start()
        load = Loader(d.port, user_base=5 * 10**7, max_s=20)
        load.start()
        deadline = time.monotonic() + 15
        while "snapshot (periodic)" not in d.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(timeout=10)
        load.stop.set()
        load.join(timeout=20)
        self.assertIn("snapshot (periodic)", d.output())
        self.assertGreater(len(load.oks), 0)
        d.start()
        out = d.output()
        self.assertRegex(out, r"shard \d: [1-9]\d* orders from the snapshot")
        c = d.client()
        for (user, rid), (order, item) in load.oks.items():
            s = c.one("ORDER_STATUS", user=user, rid=rid + 1000, order=order, token=buy_token(user, 1))
            self.assertEqual(s.status, ST["OK"], "lost acknowledged order %d" % order)
        c.close()
        d.stop()
        self.assertIn("snapshot (shutdown)", d.output())


class Faults(unittest.TestCase):
    def run_fault(self, kind, after=3, buys=20):
        d = sync_daemon(workers=1)
        os.environ["FLASHSALE_TEST_FAULT"] = "%s:%d" % (kind, after)
        try:
            d.start()
        finally:
            del os.environ["FLASHSALE_TEST_FAULT"]
        c = d.client()
        statuses, oks = [], {}
        for u in range(1, buys + 1):
            r = c.one("BUY", user=u, rid=7, item=1001, qty=1, token=buy_token(u, 1))
            statuses.append(r.status)
            if r.status == ST["OK"]:
                oks[u] = r.order_id
        # rejections and reads keep flowing
        self.assertEqual(c.one("TIME").status, ST["OK"])
        self.assertEqual(c.one("BUY", user=99, rid=1, item=4242, qty=1).status, ST["UNKNOWN_ITEM"])
        self.assertEqual(c.one("BUY", user=99, rid=2, item=1001, qty=1, token=b"x").status, ST["BAD_TOKEN"])
        c.close()
        d.stop(check=False)
        d.start()  # no fault now: recovery from what reached the log
        c = d.client()
        for u, order in oks.items():
            s = c.one("ORDER_STATUS", user=u, rid=100, order=order, token=buy_token(u, 1))
            self.assertEqual(s.status, ST["OK"], "acknowledged order of user %d lost" % u)
        c.close()
        d.stop()
        return statuses, d.output()

    def check_fail_closed(self, statuses, after):
        # sequential BUYs on one shard: one group commit each, so the fault
        # hits exactly BUY number after+1, which must not be acknowledged
        self.assertIn(ST["UNAVAILABLE"], statuses)
        first_bad = statuses.index(ST["UNAVAILABLE"])
        self.assertEqual(statuses[:first_bad], [ST["OK"]] * first_bad)
        self.assertEqual(first_bad, after, statuses)
        self.assertEqual(statuses[first_bad:], [ST["UNAVAILABLE"]] * (len(statuses) - first_bad),
                         "an OK after the storage fault")

    def test_write_eio_fails_closed(self):
        statuses, out = self.run_fault("write-eio")
        self.check_fail_closed(statuses, 3)

    def test_write_enospc_fails_closed(self):
        statuses, out = self.run_fault("write-enospc")
        self.check_fail_closed(statuses, 3)

    def test_fsync_eio_fails_closed(self):
        statuses, out = self.run_fault("fsync-eio")
        self.check_fail_closed(statuses, 3)

    def test_short_write_is_resubmitted(self):
        statuses, out = self.run_fault("short-write")
        self.assertEqual(statuses, [ST["OK"]] * len(statuses))


if __name__ == "__main__":
    main()
