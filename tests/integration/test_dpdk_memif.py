"""flashsale-bench-dpdk against the appliance over net_memif, both in a
throw-away network namespace (memif sockets are abstract: per namespace; the
daemon's exception TAP stays out of the host's).

A short winning-path run with 16 messages per datagram: every message is a
fresh user, so exactly the stock is sold (OK) and the rest is SOLD_OUT, all
answered; then the daemon's shutdown audit passes. The generator's ring of
precomputed frames is kept at 16 datagrams (256 users), so the stock of
5000 (per_user_limit 1) is only sold if every wrap really moves the ring on
to fresh users. Then a sold-out run with the generator's RX on a second
lcore (--lcores 2) and re-sent users (--reuse-users): every datagram
answered, all SOLD_OUT, and every answer (replies turned around in place,
checksums summed after the burst: dp_dpdk.c replies_send) checked in full by
the generator (--check-every 1: headers and checksums). Figures are printed, never
asserted (docs/benchmarks.md has measured ones). Skipped (77) when not root.
"""
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import BUILD  # noqa: E402
import test_dpdk_lib as L  # noqa: E402

GEN = os.path.join(BUILD, "app", "flashsale-bench-dpdk")
ITEMS = """
[item.1]
activity = 1
total = 0
per_user_limit = 1

[item.2]
activity = 1
total = 5000
per_user_limit = 1
"""


class Memif(unittest.TestCase):
    def generate(self, ns, tag, sock, d, eal_extra, args):
        """One flashsale-bench-dpdk run against d: it exits 0 and every message
        sent is answered. Returns its output, the messages answered and its
        "checked in full" (answers, bad) counts."""
        gen = subprocess.run(
            ["ip", "netns", "exec", ns, GEN, "--no-huge", "-m", "256", "--no-pci",
             "--no-telemetry", "--log-level=lib.eal:error", "--file-prefix", "fsg" + tag] +
            eal_extra + ["--vdev=net_memif0,role=client,socket=" + sock, "--"] + args,
            capture_output=True, text=True, timeout=60)
        print(gen.stdout)
        self.assertEqual(gen.returncode, 0, gen.stdout + gen.stderr + d.output())
        m = re.search(r"sent (\d+) messages .* answered (\d+)", gen.stdout)
        self.assertTrue(m, gen.stdout)
        self.assertEqual(m.group(1), m.group(2), "every message answered")
        c = re.search(r"checked in full \(headers, checksums\): (\d+) answers, (\d+) bad", gen.stdout)
        self.assertTrue(c, gen.stdout)
        return gen.stdout, m.group(2), (c.group(1), c.group(2))

    def test_generator_sells_exactly_the_stock(self):
        L.require_root()
        tag = "%x%04x" % (os.getpid() & 0xfffff, int(time.time() * 1000) & 0xffff)
        ns = "fsM" + tag
        if L.sh("ip", "netns", "add", ns, check=False).returncode != 0:
            L.skip("cannot create a network namespace")
        tmp = L.tmpdir()
        sock = os.path.join(tmp, "memif.sock")
        eal = ("--no-huge -m 256 --no-telemetry --file-prefix fsd%s "
               "--vdev=net_memif0,role=server,socket=%s" % (tag, sock))
        cfg = L.dpdk_config(tmp, eal, "10.99.203.2", 7700, workers=1, items=ITEMS)
        d = L.DpdkDaemon(cfg, tmp, ns=ns)
        try:
            d.start()
            out, _, checked = self.generate(
                ns, tag, sock, d, [], ["--config", cfg, "--item", "2", "--batch", "16", "--window",
                                       "1024", "--duration", "1.5", "--templates", "16"])
            self.assertRegex(out, r"by status: OK=5000 SOLD_OUT=\d+")
            self.assertIn("generator cycles:", out)
            self.assertTrue(int(checked[0]) >= 1 and checked[1] == "0", out)
            out, answered, checked = self.generate(
                ns, tag, sock, d, ["--lcores", "0@0,1@1"],
                ["--config", cfg, "--item", "1", "--batch", "1", "--window", "512", "--duration",
                 "1", "--templates", "8", "--reuse-users", "--lcores", "2", "--check-every", "1"])
            self.assertRegex(out, r"by status: SOLD_OUT=\d+\n")
            self.assertEqual(checked, (answered, "0"), "every answer checked, none bad")
        finally:
            try:
                d.stop()
            finally:
                L.sh("ip", "netns", "del", ns, check=False)
                for prefix in ("fsd", "fsg"):  # EAL's runtime dirs (--file-prefix)
                    shutil.rmtree("/var/run/dpdk/" + prefix + tag, ignore_errors=True)
        self.assertIn("audit ok, 5000 orders", d.output())


if __name__ == "__main__":
    L.main()
