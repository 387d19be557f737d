"""RX checksum offload end to end. The data port is a net_tap: its PMD
verifies IPv4 and UDP checksums itself and sets the mbuf's RX checksum
flags, as a NIC does, so the daemon runs with RX checksum offload on (its
log says so). From the kernel side of that TAP, inside a throw-away network
namespace, a raw AF_PACKET socket sends FSP/1 TIME requests: one valid, one
with a UDP checksum of 0 ("none"), one with a bad UDP checksum, one with a
bad IPv4 header checksum. The first two are answered, with valid checksums
(checked by test_dpdk_lib.Frame's strict parse); the bad ones are not
answered and are counted by reason: a frame the PMD calls bad is checked in
software, never dropped on the PMD's word alone, and the software check
agrees. Skipped (77) when not root or without /dev/net/tun.
"""
import json
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import OP, ST, dgram, parse_response, req  # noqa: E402
import test_dpdk_lib as L  # noqa: E402

IFACE = "fsrx0"
PEER_MAC = "02:00:00:00:00:01"
PEER_IP, APP_IP = "10.99.204.1", "10.99.204.2"
FSP_PORT = 7700

# Runs inside the namespace: send the frames (hex, argv[2]) on IFACE, then
# print every frame received from the UDP port FSP_PORT for 3 s, as JSON.
SENDER = r"""
import json, socket, sys, time
iface, frames = sys.argv[1], json.loads(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((iface, 0))
s.settimeout(0.1)
for f in frames:
    s.send(bytes.fromhex(f))
got, end = [], time.monotonic() + 3
while time.monotonic() < end:
    try:
        raw, addr = s.recvfrom(4096)
    except socket.timeout:
        continue
    if addr[2] == socket.PACKET_OUTGOING:
        continue
    if len(raw) >= 42 and raw[12:14] == b"\x08\x00" and raw[23] == 17 and \
            int.from_bytes(raw[34:36], "big") == %d:
        got.append(raw.hex())
print(json.dumps(got))
""" % FSP_PORT


def fsp(rid, sport, **kw):
    return L.udp_frame("ff:ff:ff:ff:ff:ff", PEER_MAC, PEER_IP, APP_IP, sport, FSP_PORT,
                       dgram(req("TIME", user=5, rid=rid)), **kw)


class RxChecksumOffload(unittest.TestCase):
    def test_offload_trusts_good_rechecks_bad(self):
        L.require_root()
        if not os.path.exists("/dev/net/tun"):
            L.skip("no /dev/net/tun: net_tap cannot be made here")
        tmp = L.tmpdir()
        ns = "fsR%x%04x" % (os.getpid() & 0xfffff, int(time.time() * 1000) & 0xffff)
        if L.sh("ip", "netns", "add", ns, check=False).returncode != 0:
            L.skip("cannot create a network namespace")
        try:
            self.run_in(tmp, ns)
        finally:
            L.sh("ip", "netns", "del", ns, check=False)

    def run_in(self, tmp, ns):
        eal = L.eal_words("--vdev=net_tap0,iface=%s" % IFACE)
        cfg = L.dpdk_config(tmp, eal, APP_IP, FSP_PORT, workers=1)
        d = L.DpdkDaemon(cfg, tmp, ns=ns).start()
        try:
            log = d.output()
            self.assertRegex(log, r"port 0 net_tap0 \(net_tap\).*RX checksum offload", log)
            L.sh("ip", "netns", "exec", ns, "ip", "link", "set", IFACE, "up")
            frames = [fsp(9, 40001), fsp(10, 40002, cksum="zero"), fsp(11, 40003, cksum="bad"),
                      fsp(12, 40004, bad_cksum=True)]
            p = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", SENDER, IFACE,
                                json.dumps([f.hex() for f in frames])],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            answers = [L.Frame(bytes.fromhex(h)) for h in json.loads(p.stdout)]
        finally:
            d.stop()
        log = d.output()
        got = {}
        for f in answers:  # Frame asserts valid IPv4 and UDP checksums
            self.assertEqual((f.ip["src"], f.ip["dst"]), (APP_IP, PEER_IP))
            for r in parse_response(f.udp["payload"]):
                self.assertEqual((r.op, r.status), (OP["TIME"], ST["OK"]))
                got[r.request_id] = f.udp["dport"]
        self.assertEqual(got, {9: 40001, 10: 40002}, log)
        for reason in ("bad_udp_cksum=1", "bad_ip_cksum=1"):
            self.assertIn(reason, log)


if __name__ == "__main__":
    L.main()
