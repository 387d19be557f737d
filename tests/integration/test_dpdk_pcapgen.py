"""`flashsale-pcapgen`: the pcap file pktgen replays against the appliance.

Reads the file back with an independent parser (test_dpdk_lib, written from
the RFCs and PROTOCOL.md): every frame is Ethernet/IPv4/UDP with valid
checksums, to the configured address and port, carrying one well-framed FSP/1
datagram of BUY messages with distinct (user, request id) and valid tokens.
Then, when root, the file is replayed into the daemon in mode = dpdk over
net_pcap (in a throw-away namespace) and every message must be answered OK:
the stock is exactly what the file buys. `flashsale-bench pcap`, the tool's
old name, must still write the same frames.
"""
import os
import socket
import struct
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import BENCH, OP, PCAPGEN, ST, buy_token, parse_response  # noqa: E402
import test_dpdk_lib as L  # noqa: E402

APP_IP = "10.99.202.2"
APP_MAC = "02:70:63:61:70:00"  # net_pcap's MAC for its first port


def parse_requests(payload):
    magic, ver, count, _ = struct.unpack(">HBBI", payload[:8])
    assert (magic, ver) == (0x4653, 1) and len(payload) == 8 + 64 * count
    out = []
    for i in range(count):
        m = payload[8 + 64 * i: 8 + 64 * (i + 1)]
        op, _, qty, item, user, rid, order, token, ref, _ = struct.unpack(">BBHIQQQ16sQQ", m)
        out.append((op, qty, item, user, rid, order, token))
    return out


class PcapGen(unittest.TestCase):
    def test_frames_valid_and_answered(self):
        tmp = L.tmpdir()
        out = os.path.join(tmp, "buy.pcap")
        cfg = L.dpdk_config(tmp, L.eal_words("--vdev=net_pcap0,rx_pcap=%s,tx_pcap=%s" %
                                             (out, os.path.join(tmp, "out.pcap"))),
                            APP_IP, 7700, workers=1)
        args = ["--config", cfg, "--out", out, "--count", "50", "--batch", "2",
                "--dst-mac", APP_MAC, "--src-ip", "10.99.202.1", "--src-ports", "8"]
        old = subprocess.run([BENCH, "pcap"] + args[:3] + [out + ".old"] + args[4:],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(old.returncode, 0, old.stderr)
        p = subprocess.run([PCAPGEN] + args, capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.replace(out, "F"), old.stdout.replace(out + ".old", "F"))
        frames = L.pcap_read(out)
        self.assertEqual(L.pcap_read(out + ".old"), frames)  # the stamps may differ
        self.assertEqual(len(frames), 50)
        seen, sports = set(), set()
        for raw in frames:
            f = L.Frame(raw)  # asserts the IPv4 and UDP checksums
            self.assertEqual((f.dst, f.src), (L.mac_bytes(APP_MAC), L.mac_bytes("02:00:00:00:00:01")))
            self.assertEqual((f.ip["src"], f.ip["dst"], f.ip["ttl"], f.ip["frag"]),
                             ("10.99.202.1", APP_IP, 64, 0x4000))
            self.assertEqual(f.udp["dport"], 7700)
            sports.add(f.udp["sport"])
            msgs = parse_requests(f.udp["payload"])
            self.assertEqual(len(msgs), 2)
            for op, qty, item, user, rid, order, token in msgs:
                self.assertEqual((op, qty, item, order), (OP["BUY"], 1, 1001, 0))
                self.assertEqual(token, buy_token(user, 1))
                self.assertNotIn((user, rid), seen)
                seen.add((user, rid))
        self.assertEqual(len(seen), 100)
        self.assertEqual(len({u for u, _ in seen}), 100)
        self.assertEqual(sports, set(range(40000, 40008)))
        for tool in ([PCAPGEN], [BENCH, "pcap"]):
            bad = subprocess.run(tool + ["--config", cfg, "--out", out, "--count", "0"],
                                 capture_output=True, text=True, timeout=30)
            self.assertEqual(bad.returncode, 2)
            self.assertIn("--count", bad.stderr)
        if os.geteuid() == 0:
            self.replay(tmp, cfg, os.path.join(tmp, "out.pcap"))

    def replay(self, tmp, cfg, out):
        ns = "fsR%x%04x" % (os.getpid() & 0xfffff, int(time.time() * 1000) & 0xffff)
        if L.sh("ip", "netns", "add", ns, check=False).returncode != 0:
            return
        try:
            d = L.DpdkDaemon(cfg, tmp, ns=ns).start()
            try:
                time.sleep(1.0)
            finally:
                d.stop()
        finally:
            L.sh("ip", "netns", "del", ns, check=False)
        answers = []
        for raw in L.pcap_read(out):
            f = L.Frame(raw)
            if f.udp:
                answers += parse_response(f.udp["payload"])
        self.assertEqual(len(answers), 100, d.output())
        self.assertTrue(all(r.status == ST["OK"] for r in answers), d.output())


if __name__ == "__main__":
    L.main()
