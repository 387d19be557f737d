"""DPDK telemetry of the daemon in mode = dpdk (app/fs_telemetry.c): a
net_pcap port delivers a known set of FSP frames (BUYs, a bad token, an
ITEM_STATUS, a malformed datagram); the test then speaks the telemetry
protocol itself on /var/run/dpdk/<file-prefix>/dpdk_telemetry.v2 (a
SOCK_SEQPACKET unix socket: JSON greeting, then one command per message, one
JSON answer each), as dpdk-telemetry.py does, and checks /flashsale/stats,
/flashsale/workers, /flashsale/workers,0, /flashsale/items and
/flashsale/wal against that traffic; then runs dpdk-telemetry.py itself
when installed. The same counters in /metrics are compared too.

Runs inside a throw-away network namespace (the exception TAP); skipped (77)
when not root."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import ST, buy_token, dgram, req  # noqa: E402
from test_ops_listener import parse_metrics, value  # noqa: E402
import test_dpdk_lib as L  # noqa: E402

PEER_MAC = "02:00:00:00:00:01"
PCAP_MAC = "02:70:63:61:70:00"
PEER_IP, APP_IP = "10.99.207.1", "10.99.207.2"
FSP_PORT = 7700
ADMIN_PORT = 18081  # inside the namespace: no other listener there


def fsp(payload, sport):
    return L.udp_frame(PCAP_MAC, PEER_MAC, PEER_IP, APP_IP, sport, FSP_PORT, payload)


def buy(user, token=None):
    return req("BUY", user=user, rid=1, item=1001, qty=1,
               token=buy_token(user, 1) if token is None else token)


class Telemetry:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.s.settimeout(10)
        self.s.connect(path)
        self.greeting = json.loads(self.s.recv(16384).decode())

    def cmd(self, c):
        self.s.send(c.encode())
        out = json.loads(self.s.recv(16384).decode())
        return out[c.split(",")[0]]  # answers are keyed by the command, params dropped

    def close(self):
        self.s.close()


class DpdkTelemetry(unittest.TestCase):
    def test_commands(self):
        L.require_root()
        tag = "%x%04x" % (os.getpid() & 0xfffff, int(time.time() * 1000) & 0xffff)
        ns = "fsT" + tag
        try:
            L.sh("ip", "netns", "add", ns)
        except Exception as e:  # noqa: BLE001
            L.skip("cannot create a network namespace: %s" % e)
        try:
            self.run_in(L.tmpdir(), ns, "fst" + tag)
        finally:
            L.sh("ip", "netns", "del", ns, check=False)

    def run_in(self, tmp, ns, prefix):
        frames = [fsp(dgram(buy(100 + k)), 41000 + k) for k in range(5)]
        frames += [fsp(dgram(buy(200, token=b"\x01" * 16)), 41100),
                   fsp(dgram(req("ITEM_STATUS", user=0, rid=0, item=1001)), 41101),
                   fsp(b"XX" + dgram(buy(300))[2:], 41102),  # bad magic: malformed
                   L.udp_frame(PCAP_MAC, PEER_MAC, PEER_IP, APP_IP, 41103, FSP_PORT,
                               dgram(buy(301)), cksum="bad")]  # dropped by the classifier
        inp, out = os.path.join(tmp, "in.pcap"), os.path.join(tmp, "out.pcap")
        L.pcap_write(inp, frames)
        # telemetry stays on (no --no-telemetry); its own file prefix
        eal = ("--no-huge --no-shconf -m 256 --file-prefix %s "
               "--vdev=net_pcap0,rx_pcap=%s,tx_pcap=%s" % (prefix, inp, out))
        cfg = L.dpdk_config(tmp, eal, APP_IP, FSP_PORT, workers=1, durability="sync",
                            admin_port=ADMIN_PORT)
        with open(cfg) as f:  # the operations listener on the namespace's loopback
            text = f.read()
        with open(cfg, "w") as f:
            f.write(text.replace("[admin]\naddress = %s" % APP_IP, "[admin]\naddress = 127.0.0.1"))
        L.sh("ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
        d = L.DpdkDaemon(cfg, tmp, ns=ns).start()
        try:
            path = "/var/run/dpdk/%s/dpdk_telemetry.v2" % prefix
            end = time.monotonic() + 10
            while not os.path.exists(path) and time.monotonic() < end:
                time.sleep(0.1)
            self.assertTrue(os.path.exists(path), "no telemetry socket:\n" + d.output())
            t = Telemetry(path)
            try:
                self.assertIn("version", t.greeting)
                self.assertIn("/flashsale/stats", t.cmd("/"))
                for _ in range(50):  # net_pcap delivers the file at once
                    st = t.cmd("/flashsale/stats")
                    if st.get("rx_datagrams") == 8 and st.get("tx_datagrams") == 7:
                        break
                    time.sleep(0.1)
                self.check_stats(st)
                self.check_workers(t.cmd("/flashsale/workers"), t.cmd("/flashsale/workers,0"))
                self.assertIsNone(t.cmd("/flashsale/workers,1"))  # no such worker
                for _ in range(50):  # the sample is gathered once a second
                    wal = t.cmd("/flashsale/wal")
                    if wal.get("commit_latency_count") == 5:  # records appended and durable
                        break
                    time.sleep(0.1)
                self.check_wal(wal)
                items = t.cmd("/flashsale/items")
                self.assertEqual((items["items"], items["id"], items["attempts"]),
                                 (1, [1001], [6]))
                self.assertEqual(items["available"][0] + items["reserved"][0] + items["paid"][0],
                                 items["total"][0])
                self.assertEqual(items["reserved"], [5])
            finally:
                t.close()
            self.check_metrics_agree(ns, st)
            self.run_dpdk_telemetry_py(prefix)
        finally:
            d.stop()

    def check_stats(self, st):
        self.assertEqual(st["rx_datagrams"], 8, st)
        self.assertEqual((st["malformed"], st["frames_dropped"]), (1, 1))
        self.assertEqual(st["tx_datagrams"], 7)
        names = st["status_names"]
        by = dict(zip(names, st["requests_fsp_BUY"]))
        self.assertEqual((by["OK"], by["BAD_TOKEN"]), (5, 1))
        self.assertEqual(dict(zip(names, st["requests_fsp_ITEM_STATUS"]))["OK"], 1)
        self.assertEqual(sum(st["requests_http_BUY"]), 0)
        b = st["decision_latency_buckets"]
        self.assertEqual(len(b), len(st["latency_bounds_ns"]) + 1)
        self.assertEqual(b, sorted(b))
        self.assertEqual(b[-1], st["decision_latency_count"])
        self.assertEqual(st["decision_latency_count"], 7)
        self.assertGreater(st["tsc_hz"], 10 ** 8)

    def check_workers(self, all_, w0):
        self.assertEqual(all_["workers"], 1)
        self.assertEqual(all_["rx_datagrams"], [8])
        stages = [k for k in w0 if k.startswith("cycles_")]
        self.assertEqual(sorted(stages), sorted("cycles_" + s for s in (
            "rx", "decode", "gate", "handoff", "owner", "reply", "tx", "idle")))
        self.assertGreater(w0["cycles_idle"], 0)
        self.assertEqual((w0["rx_datagrams"], w0["drops_malformed"], w0["frames_dropped"]),
                         (8, 1, 1))
        busy = sum(w0[k] for k in w0 if k.startswith("cycles_") and k != "cycles_idle")
        self.assertGreater(busy, 0)
        self.assertEqual(all_["busy_cycles"], [busy])

    def check_wal(self, wal):
        self.assertEqual(wal["shards"], 1)
        self.assertEqual(sum(wal["records"]), 5)
        self.assertGreaterEqual(sum(wal["fsyncs"]), 1)
        self.assertEqual(wal["commit_latency_count"], 5)
        self.assertEqual(wal["commit_latency_buckets"][-1], 5)

    def check_metrics_agree(self, ns, st):
        """/metrics shows the same counters (from inside the namespace)."""
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                              "import urllib.request,sys;sys.stdout.write(urllib.request.urlopen("
                              "'http://127.0.0.1:%d/metrics',timeout=10).read().decode())"
                              % ADMIN_PORT],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        fams = parse_metrics(out.stdout)
        self.assertEqual(value(fams, "flashsale_requests_total", protocol="fsp", op="BUY",
                               status="OK"), 5)
        self.assertEqual(value(fams, "flashsale_rx_datagrams_total"), st["rx_datagrams"])
        self.assertEqual(value(fams, "flashsale_item_attempts_total", item=1001), 6)
        self.assertEqual(value(fams, "flashsale_worker_frames_dropped_total", worker="0",
                               reason="bad_udp_cksum"), 1)
        self.assertEqual(value(fams, "flashsale_frames_dropped_total", reason="bad_udp_cksum"), 1)

    def run_dpdk_telemetry_py(self, prefix):
        tool = shutil.which("dpdk-telemetry.py")
        if tool is None:
            print("dpdk-telemetry.py not installed: only the protocol check ran")
            return
        r = subprocess.run([tool, "-f", prefix], input="/flashsale/stats\n", capture_output=True,
                           text=True, timeout=30)
        print("dpdk-telemetry.py:", r.stdout[-300:], r.stderr[-300:])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn('"rx_datagrams": 8', r.stdout)


if __name__ == "__main__":
    L.main()
