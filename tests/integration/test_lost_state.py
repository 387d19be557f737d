"""Lost or damaged durable state is noticed, with the real daemon:

- the data directory removed under load: every shard answers UNAVAILABLE
  within a bounded time (the storage watch), the daemon exits 3, and a
  restart refuses, naming the missing directory (before: it kept answering
  OK, and the restart served a fresh sale);
- a segment replaced under load: that shard (only) answers UNAVAILABLE;
- a shard directory removed, or a segment truncated to 0 bytes, between
  runs: the start refuses, naming it (with and without a snapshot);
- a flipped bit in the last acknowledged record: the start refuses, naming
  the file and offset (before: cut as a torn tail, an acknowledged order
  silently gone); a genuinely torn, unacknowledged tail is still cut
  (test_recovery.py);
- exit codes: 3 after an injected storage fault and after a failed shutdown
  snapshot; --init refuses existing state (2).
"""
import glob
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import CLI, DAEMON, Daemon, ST, buy_token, main  # noqa: E402

# 1001 is owned by shard 1 and 1002 by shard 0 with two workers
# (fs_shard_of_item), so both shards take traffic.
ITEMS = """
[item.1001]
activity = 1
total = 100000
per_user_limit = 1
max_per_order = 1

[item.1002]
activity = 1
total = 100000
per_user_limit = 1
max_per_order = 1
"""
WATCH_BOUND_S = 15  # the watch runs every second; generous for a loaded CI box


def daemon(durability="sync", **kw):
    d = Daemon(items=ITEMS, limits="max_orders = 400000", **kw)
    with open(d.config) as f:
        text = f.read().replace("durability = none", "durability = " + durability)
    with open(d.config, "w") as f:
        f.write(text)
    return d


def data(d, *parts):
    return os.path.join(d.tmp, "data", *parts)


def buy(c, user, item):
    return c.one("BUY", user=user, rid=1, item=item, qty=1, token=buy_token(user, 1))


def refused(testcase, d):
    """Start d, expect a refusal; return (exit status, output)."""
    with testcase.assertRaises(AssertionError):
        d.start()
    return d.proc.returncode, d.output()


def manifest_hw(d, shard):
    try:
        with open(data(d, "MANIFEST")) as f:
            for line in f:
                w = line.split()
                if w[:2] == ["shard", str(shard)]:
                    return int(w[3])
    except OSError:
        pass
    return 0


def wait_manifest_hw(testcase, d, shard, hw):
    """Until the running daemon's storage watch recorded hw (bounded)."""
    end = time.monotonic() + WATCH_BOUND_S
    while manifest_hw(d, shard) < hw and time.monotonic() < end:
        time.sleep(0.05)
    testcase.assertEqual(manifest_hw(d, shard), hw)


class LostState(unittest.TestCase):
    def test_data_dir_removed_under_load(self):
        d = daemon(durability="none")
        d.start()
        c = d.client()
        user = 1
        for item in (1001, 1002):
            self.assertEqual(buy(c, user, item).status, ST["OK"])
            user += 1
        shutil.rmtree(data(d))
        # Under load: each shard answers UNAVAILABLE once the watch saw it.
        unavailable = set()
        end = time.monotonic() + WATCH_BOUND_S
        sent = 0
        while unavailable != {1001, 1002} and time.monotonic() < end and sent < 20000:
            for item in (1001, 1002):
                st = buy(c, user, item).status
                user += 1
                sent += 1
                if st == ST["UNAVAILABLE"]:
                    unavailable.add(item)
                else:
                    self.assertEqual(st, ST["OK"])
            time.sleep(0.005)
        self.assertEqual(unavailable, {1001, 1002}, d.output())
        for item in (1001, 1002):  # and it stays that way
            self.assertEqual(buy(c, user, item).status, ST["UNAVAILABLE"])
            user += 1
        c.close()
        out = d.output()
        self.assertIn("storage lost", out)
        self.assertEqual(d.stop(check=False), 3, d.output())
        rc, out = refused(self, d)
        self.assertEqual(rc, 3, out)
        self.assertIn(data(d), out)
        self.assertIn("data directory is missing", out)
        self.assertNotIn(" ready: ", out)

    def test_segment_replaced_under_load(self):
        """Only the shard whose segment was replaced fails closed."""
        d = daemon(durability="none")
        d.start()
        c = d.client()
        user = 1
        for item in (1001, 1002):
            self.assertEqual(buy(c, user, item).status, ST["OK"])
            user += 1
        seg = sorted(glob.glob(data(d, "shard-00", "wal-*.log")))[-1]
        shutil.copyfile(seg, seg + ".copy")
        os.replace(seg + ".copy", seg)  # same name and bytes, another inode
        end = time.monotonic() + WATCH_BOUND_S
        st = ST["OK"]
        while st == ST["OK"] and time.monotonic() < end:
            st = buy(c, user, 1002).status  # shard 0
            user += 1
            time.sleep(0.01)
        self.assertEqual(st, ST["UNAVAILABLE"], d.output())
        self.assertEqual(buy(c, user, 1001).status, ST["OK"])  # shard 1 is fine
        c.close()
        self.assertIn("storage lost: " + seg, d.output())
        self.assertEqual(d.stop(check=False), 3, d.output())

    def test_shard_dir_removed_between_runs(self):
        for snapshot in (True, False):
            with self.subTest(snapshot=snapshot):
                d = daemon()
                d.start()
                c = d.client()
                for u in range(1, 6):
                    self.assertEqual(buy(c, u, 1001).status, ST["OK"])
                    self.assertEqual(buy(c, u, 1002).status, ST["OK"])
                c.close()
                if snapshot:
                    self.assertEqual(d.stop(), 0)
                else:
                    d.proc.kill()
                    d.proc.wait(timeout=10)
                    for f in glob.glob(data(d, "snapshot.db*")):
                        os.remove(f)
                shutil.rmtree(data(d, "shard-01"))
                rc, out = refused(self, d)
                self.assertEqual(rc, 3, out)
                self.assertIn(data(d, "shard-01") + ": missing", out)
                p = subprocess.run([CLI, "audit", "--config", d.config], capture_output=True,
                                   text=True, timeout=60)
                self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
                self.assertIn("shard-01: missing", p.stdout)

    def test_segment_truncated_to_zero(self):
        for crash in (False, True):
            with self.subTest(crash=crash):
                d = daemon()
                d.start()
                c = d.client()
                for u in range(1, 6):
                    self.assertEqual(buy(c, u, 1002).status, ST["OK"])
                c.close()
                if crash:  # no snapshot: the log is all there is
                    wait_manifest_hw(self, d, 0, 5)
                    d.proc.kill()
                    d.proc.wait(timeout=10)
                    for f in glob.glob(data(d, "snapshot.db*")):
                        os.remove(f)
                else:
                    self.assertEqual(d.stop(), 0)
                seg = sorted(glob.glob(data(d, "shard-00", "wal-*.log")))[-1]
                os.truncate(seg, 0)
                rc, out = refused(self, d)
                self.assertEqual(rc, 3, out)
                self.assertIn(seg, out)

    def test_segment_removed_between_runs(self):
        d = daemon()
        d.start()
        c = d.client()
        self.assertEqual(buy(c, 1, 1002).status, ST["OK"])
        c.close()
        self.assertEqual(d.stop(), 0)
        seg = sorted(glob.glob(data(d, "shard-00", "wal-*.log")))[-1]
        os.remove(seg)
        rc, out = refused(self, d)
        self.assertEqual(rc, 3, out)
        self.assertIn(os.path.basename(seg) + ": missing", out)

    def test_bit_flip_in_last_acknowledged_record(self):
        for crash in (False, True):
            with self.subTest(crash=crash):
                d = daemon(workers=1)
                d.start()
                c = d.client()
                for u in range(1, 6):
                    self.assertEqual(buy(c, u, 1001).status, ST["OK"])
                c.close()
                if crash:  # the running daemon recorded the high-water mark
                    wait_manifest_hw(self, d, 0, 5)
                    d.proc.kill()
                    d.proc.wait(timeout=10)
                else:
                    self.assertEqual(d.stop(), 0)
                seg = sorted(glob.glob(data(d, "shard-00", "wal-*.log")))[-1]
                self.assertEqual(os.path.getsize(seg), 5 * 72)
                with open(seg, "r+b") as f:  # one bit of the 5th record's payload
                    f.seek(4 * 72 + 24 + 3)
                    b = f.read(1)
                    f.seek(4 * 72 + 24 + 3)
                    f.write(bytes([b[0] ^ 0x01]))
                rc, out = refused(self, d)
                self.assertEqual(rc, 3, out)
                self.assertIn(os.path.basename(seg), out)
                self.assertIn("offset %d" % (4 * 72), out)
                self.assertIn("acknowledged", out)
                self.assertNotIn("torn tail cut", out)
                self.assertEqual(os.path.getsize(seg), 5 * 72)  # nothing was cut


class ExitCodes(unittest.TestCase):
    def test_storage_fault_exits_3(self):
        d = daemon()
        d.start(env=dict(os.environ, FLASHSALE_TEST_FAULT="write-eio:2"))
        c = d.client()
        seen = []
        for u in range(1, 30):
            seen.append(buy(c, u, 1002).status)
            if seen[-1] == ST["UNAVAILABLE"]:
                break
        c.close()
        self.assertIn(ST["UNAVAILABLE"], seen)
        self.assertEqual(d.stop(check=False), 3, d.output())
        self.assertIn("storage fault during the run", d.output())

    def test_failed_shutdown_snapshot_exits_3(self):
        d = daemon()
        d.start()
        c = d.client()
        self.assertEqual(buy(c, 1, 1001).status, ST["OK"])
        c.close()
        os.mkdir(data(d, "snapshot.db"))  # the rename over it must fail
        self.assertEqual(d.stop(check=False), 3, d.output())
        self.assertIn("no shutdown snapshot", d.output())

    def test_init_refuses_existing_state(self):
        d = daemon()
        d.start()
        self.assertEqual(d.stop(), 0)
        p = subprocess.run([DAEMON, "--config", d.config, "--init"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("holds state already", p.stderr)
        d.start()  # and without --init it starts as before
        self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    main()
