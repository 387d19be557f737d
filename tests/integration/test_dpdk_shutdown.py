"""Clean shutdown of the appliance in mode = dpdk.

- Real hugepages: a few 2 MiB pages are reserved (/proc/sys/vm/nr_hugepages,
  the old value restored afterwards), the daemon runs with --in-memory on a
  net_pcap port and answers an ARP request, then SIGTERM: exit 0, no hugepage
  file in any hugetlbfs mount, no EAL runtime directory under /var/run/dpdk,
  and HugePages_Free back where it was. Skipped (that test only) when no
  hugepage can be reserved.
- net_memif: the daemon as memif server, flashsale-bench-dpdk as client. The
  client is stopped first (SIGTERM while it sends; the order DPDK-NOTES.md
  asks for), then the daemon: both exit 0, and the daemon logs the peer
  disconnecting. Every step is bounded in time.

Both run in throw-away network namespaces (the exception TAP and the abstract
memif socket stay out of the host's); skipped (77) when not root.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import BUILD  # noqa: E402
import test_dpdk_lib as L  # noqa: E402

GEN = os.path.join(BUILD, "app", "flashsale-bench-dpdk")
NR_HUGEPAGES = "/proc/sys/vm/nr_hugepages"
HUGEPAGES = 48  # 96 MiB: the daemon with one worker and one port uses ~40 MiB
SOLD_OUT = """
[item.1]
activity = 1
total = 0
per_user_limit = 1
"""
PEER_MAC, PEER_IP, APP_IP = "02:00:00:00:00:01", "10.99.204.1", "10.99.204.2"


def tag():
    return "%x%04x" % (os.getpid() & 0xfffff, int(time.time() * 1000) & 0xffff)


def meminfo(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def hugetlbfs_mounts():
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f if line.split()[2] == "hugetlbfs"]


def wait_for(pred, timeout, step=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()


class Netns:
    def __init__(self, name):
        self.name = name

    def __enter__(self):
        if L.sh("ip", "netns", "add", self.name, check=False).returncode != 0:
            L.skip("cannot create a network namespace")
        return self.name

    def __exit__(self, *exc):
        L.sh("ip", "netns", "del", self.name, check=False)


class Hugepages:
    """Reserve n more 2 MiB pages for the block; restore the old count."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        with open(NR_HUGEPAGES) as f:
            self.old = int(f.read())
        try:
            with open(NR_HUGEPAGES, "w") as f:
                f.write("%d\n" % (self.old + self.n))
        except OSError as e:
            L.skip("cannot reserve hugepages: %s" % e)
        if meminfo("HugePages_Free") < self.n:
            self.restore()
            L.skip("no hugepage could be reserved (HugePages_Free %d)" % meminfo("HugePages_Free"))
        return self

    def restore(self):
        with open(NR_HUGEPAGES, "w") as f:
            f.write("%d\n" % self.old)

    def __exit__(self, *exc):
        self.restore()


class Shutdown(unittest.TestCase):
    def test_hugepages_released(self):
        L.require_root()
        t = tag()
        prefix = "fsh" + t
        with Netns("fsH" + t) as ns, Hugepages(HUGEPAGES):
            free_before = meminfo("HugePages_Free")
            tmp = L.tmpdir()
            inp, out = os.path.join(tmp, "in.pcap"), os.path.join(tmp, "out.pcap")
            L.pcap_write(inp, [L.arp_request(PEER_MAC, PEER_IP, APP_IP)])
            eal = ("--in-memory --no-pci --no-telemetry --file-prefix %s "
                   "--vdev=net_pcap0,rx_pcap=%s,tx_pcap=%s" % (prefix, inp, out))
            cfg = L.dpdk_config(tmp, eal, APP_IP, 7700, workers=1)
            d = L.DpdkDaemon(cfg, tmp, ns=ns)
            try:
                d.start()
                time.sleep(1.0)  # net_pcap delivers its file at once
                in_use = free_before - meminfo("HugePages_Free")
            finally:
                rc = d.stop(check=False)
            log = d.output()
            self.assertEqual(rc, 0, log)
            self.assertGreater(in_use, 0, "the daemon used no hugepage:\n" + log)
            self.assertIn("ARP replies 1", log)
            print("hugepages in use while running: %d of %d reserved" % (in_use, HUGEPAGES))
            self.assertTrue(wait_for(lambda: meminfo("HugePages_Free") == free_before, 5.0),
                            "HugePages_Free %d after exit, %d before start" %
                            (meminfo("HugePages_Free"), free_before))
            for m in hugetlbfs_mounts():
                left = [n for n in os.listdir(m) if prefix in n]
                self.assertEqual(left, [], "hugepage files left in " + m)
            self.assertFalse(os.path.exists("/var/run/dpdk/" + prefix),
                             "EAL runtime directory left behind")

    def test_memif_client_then_daemon(self):
        L.require_root()
        t = tag()
        with Netns("fsS" + t) as ns:
            tmp = L.tmpdir()
            sock = os.path.join(tmp, "memif.sock")
            eal = L.eal_words("--file-prefix fsd%s --vdev=net_memif0,role=server,socket=%s"
                              % (t, sock))
            cfg = L.dpdk_config(tmp, eal, "10.99.205.2", 7700, workers=1, items=SOLD_OUT)
            d = L.DpdkDaemon(cfg, tmp, ns=ns)
            gen = None
            try:
                d.start()
                gen = subprocess.Popen(
                    ["ip", "netns", "exec", ns, GEN, "--no-huge", "--no-shconf", "-m", "256",
                     "--no-pci", "--no-telemetry", "--log-level=lib.eal:error",
                     "--file-prefix", "fsg" + t, "--vdev=net_memif0,role=client,socket=" + sock,
                     "--", "--config", cfg, "--item", "1", "--batch", "4", "--window", "256",
                     "--duration", "60"],
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                if not wait_for(lambda: "link up" in d.output() or gen.poll() is not None,
                                15.0):
                    gen.kill()
                if gen.poll() is not None:
                    self.fail("the client never connected:\n%s\n%s" %
                              (gen.communicate()[0], d.output()))
                time.sleep(1.0)  # traffic flows
                self.assertIsNone(gen.poll(), "the client stopped on its own")
                gen.send_signal(signal.SIGTERM)
                gout, _ = gen.communicate(timeout=15)
                print(gout)
                self.assertEqual(gen.returncode, 0, gout + d.output())
                m = re.search(r"answered (\d+)", gout)
                self.assertTrue(m and int(m.group(1)) > 0, gout)
                self.assertTrue(wait_for(lambda: "link down (peer disconnected" in d.output(),
                                         5.0), "no disconnect logged:\n" + d.output())
            finally:
                if gen is not None and gen.poll() is None:
                    gen.kill()
                    gen.wait()
                rc = d.stop(check=False)
            self.assertEqual(rc, 0, d.output())
            self.assertRegex(d.output(), r"final: frames rx [1-9]")


if __name__ == "__main__":
    L.main()
