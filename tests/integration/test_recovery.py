"""Recovery edge cases and the offline tools, with the real daemon:

- a torn tail (a last, unacknowledged record cut short) is cut at start and
  logged; everything before it survives;
- a damaged record followed by good ones is corruption: the daemon refuses
  to start, naming the file and offset, and opens no port;
- `flashsale feed` prints every order event per shard with contiguous
  sequence numbers and resumes from an offset;
- `flashsale audit` passes on a healthy directory and fails on a damaged one.
"""
import glob
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import CLI, Daemon, ST, STATE, buy_token, pay_token, main  # noqa: E402

ITEMS = """
[item.1001]
activity = 1
total = 50
per_user_limit = 2
max_per_order = 1
"""


def sync_daemon(**kw):
    d = Daemon(items=ITEMS, workers=1, **kw)
    with open(d.config) as f:
        text = f.read().replace("durability = none", "durability = sync")
    with open(d.config, "w") as f:
        f.write(text)
    return d


def segments(d):
    return sorted(glob.glob(os.path.join(d.tmp, "data", "shard-00", "wal-*.log")))


def buy(c, u, rid=1):
    return c.one("BUY", user=u, rid=rid, item=1001, qty=1, token=buy_token(u, 1))


def cli(*args):
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=60)


class Recovery(unittest.TestCase):
    def kill_and_remove_snapshot(self, d):
        """Stop without leaving a snapshot, so the start has to read the log."""
        d.proc.kill()
        d.proc.wait(timeout=10)
        for f in glob.glob(os.path.join(d.tmp, "data", "snapshot.db*")):
            os.remove(f)

    def test_torn_tail_is_cut(self):
        """A write cut short by a crash was never acknowledged: it is cut,
        and every acknowledged order survives. (Damaging an acknowledged
        record instead is refused: test_lost_state.py.)"""
        d = sync_daemon()
        d.start()
        c = d.client()
        orders = [buy(c, u).order_id for u in range(1, 6)]
        c.close()
        self.kill_and_remove_snapshot(d)
        seg = segments(d)[-1]
        size = os.path.getsize(seg)
        with open(seg, "r+b") as f:  # a 6th record, half written: LSN 6, never acknowledged
            f.seek(size - 72)
            last = bytearray(f.read(72))
            last[8:16] = (6).to_bytes(8, "little")
            f.seek(size)
            f.write(bytes(last[:30]))
        d.start()
        out = d.output()
        self.assertIn("torn tail cut", out)
        self.assertIn("offset %d" % size, out)
        self.assertEqual(os.path.getsize(seg), size)
        c = d.client()
        for u, o in enumerate(orders, start=1):
            self.assertEqual(c.one("ORDER_STATUS", user=u, rid=9, order=o, token=buy_token(u, 1)).status, ST["OK"])
        c.close()
        d.stop()

    def test_mid_log_corruption_refuses_start(self):
        d = sync_daemon()
        d.start()
        c = d.client()
        for u in range(1, 6):
            self.assertEqual(buy(c, u).status, ST["OK"])
        c.close()
        self.kill_and_remove_snapshot(d)
        seg = segments(d)[-1]
        with open(seg, "r+b") as f:  # flip a payload byte of the 2nd record
            f.seek(72 + 40)
            b = f.read(1)
            f.seek(72 + 40)
            f.write(bytes([b[0] ^ 0xFF]))
        with self.assertRaises(AssertionError) as e:
            d.start()
        msg = str(e.exception)
        self.assertIn("recovery refused", msg)
        self.assertIn(os.path.basename(seg), msg)
        self.assertIn("offset 72", msg)
        p = cli("audit", "--config", d.config)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)

    def test_feed_and_audit(self):
        d = sync_daemon()
        d.start()
        c = d.client()
        o1 = buy(c, 1).order_id
        o2 = buy(c, 2).order_id
        o3 = buy(c, 3).order_id
        self.assertEqual(c.one("CONFIRM", user=1, rid=2, order=o1, ref=7, token=pay_token(o1, 1, 7)).state,
                         STATE["PAID"])
        self.assertEqual(c.one("CANCEL", user=2, rid=2, order=o2, token=buy_token(2, 1)).state,
                         STATE["CANCELLED"])
        c.close()
        data = os.path.join(d.tmp, "data")
        p = cli("feed", "--data", data, "--after", "0:0")
        self.assertEqual(p.returncode, 0, p.stderr)
        events = [json.loads(line) for line in p.stdout.splitlines()]
        self.assertEqual([e["event"] for e in events], ["RESERVED", "RESERVED", "RESERVED", "PAID", "CANCELLED"])
        self.assertEqual([e["seq"] for e in events], [1, 2, 3, 4, 5])
        self.assertEqual([e["order_id"] for e in events], [o1, o2, o3, o1, o2])
        self.assertEqual(events[3]["ref"], 7)
        p = cli("feed", "--data", data, "--after", "0:3")  # resume from an offset
        self.assertEqual([json.loads(line)["seq"] for line in p.stdout.splitlines()], [4, 5])
        d.stop()
        p = cli("audit", "--config", d.config)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("1001", p.stdout)


if __name__ == "__main__":
    main()
