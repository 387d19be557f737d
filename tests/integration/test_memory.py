"""A config the machine cannot hold is refused before anything big is
allocated (issue "Hardening", finding 7).

max_orders = 1000000000 is inside the documented range; the daemon used to
allocate (and zero) 18 GB of it on a 24 GB box on its way to the OOM killer.
Now --check and the start both compute what the tables need, compare it with
what the machine (MemAvailable) or its cgroup (memory.max) allows, and exit 2
naming both numbers, before any port opens."""
import os
import re
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import DAEMON, free_port, make_config, main, scratch_dir  # noqa: E402

HUGE = "max_orders = 1000000000\nmax_idempotency = 4000000000"


def mem_available():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    return 0


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class MemoryBudget(unittest.TestCase):
    def run_daemon(self, path, *args):
        return subprocess.run([DAEMON, "--config", path, *args], capture_output=True, text=True,
                              timeout=60)

    def check_refusal(self, p):
        self.assertEqual(p.returncode, 2, p.stderr[-2000:])
        m = re.search(r"max_orders = 1000000000 .*needs (\d+) bytes .*this machine allows (\d+) bytes",
                      p.stderr)
        self.assertIsNotNone(m, p.stderr[-2000:])
        need, allowed = int(m.group(1)), int(m.group(2))
        self.assertGreater(need, allowed)
        # the tables alone: 40-byte orders and 40-byte stored answers, twice
        # (shard and snapshot image)
        self.assertGreater(need, 2 * 40 * (10**9 + 4 * 10**9))
        self.assertNotIn(" ready: ", p.stderr)

    def test_huge_max_orders_refused_by_check_and_start(self):
        if mem_available() > 10**12:
            raise unittest.SkipTest("this machine has more than 1 TB available")
        tmp = scratch_dir("fs-mem-")
        port = free_port()
        path = make_config(tmp, port, limits=HUGE)
        self.check_refusal(self.run_daemon(path, "--check"))
        p = self.run_daemon(path)
        self.check_refusal(p)
        self.assertTrue(port_free(port))
        self.assertFalse(os.path.exists(os.path.join(tmp, "data", "snapshot.db")))

    def test_config_that_fits_reports_its_need(self):
        tmp = scratch_dir("fs-mem-")
        path = make_config(tmp, free_port(), limits="max_orders = 100000")
        p = self.run_daemon(path, "--check")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("configuration OK", p.stdout)
        self.assertRegex(p.stderr, r"memory: [0-9.]+ MiB \(shard tables")


if __name__ == "__main__":
    main()
