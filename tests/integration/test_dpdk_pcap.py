"""Golden test of the DPDK front end on net_pcap: a pcap file of hand-made
frames goes in, the daemon (mode = dpdk, durability sync) answers into
another pcap file, and every output frame is checked field by field.

In: ARP requests (ours / another IP), an ICMP echo, valid FSP datagrams
(BUY, ITEM_STATUS, TIME, a 3-message datagram, a bad token, a zero UDP
checksum), malformed FSP (magic, length), a bad IPv4 checksum, a bad UDP
checksum, an IP fragment, UDP for another IP and for another MAC, a TCP SYN.
Out: the gratuitous ARP first, one ARP reply, one echo reply, one UDP answer
per valid datagram with the right FSP statuses and valid checksums, nothing
for the dropped frames; the only other frames allowed are what the kernel
sends through the exception path for the TCP SYN (its ARP requests).

Runs inside a throw-away network namespace (the exception TAP the daemon
creates must not land in the host's); skipped (77) when not root.
"""
import os
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import ST, OP, buy_token, dgram, parse_response, req  # noqa: E402
import test_dpdk_lib as L  # noqa: E402

PEER_MAC = "02:00:00:00:00:01"
OTHER_MAC = "02:00:00:00:00:99"
PCAP_MAC = "02:70:63:61:70:00"  # net_pcap's MAC for its first port
PEER_IP, APP_IP, OTHER_IP = "10.99.201.1", "10.99.201.2", "10.99.201.3"
FSP_PORT = 7700


def fsp(payload, sport=40000, **kw):
    return L.udp_frame(PCAP_MAC, PEER_MAC, PEER_IP, APP_IP, sport, FSP_PORT, payload, **kw)


def buy(user, rid, token=None):
    return req("BUY", user=user, rid=rid, item=1001, qty=1,
               token=buy_token(user, 1) if token is None else token)


class PcapGolden(unittest.TestCase):
    def test_golden(self):
        L.require_root()
        tmp = L.tmpdir()
        ns = "fsG%x%04x" % (os.getpid() & 0xfffff, int(time.time() * 1000) & 0xffff)
        try:
            L.sh("ip", "netns", "add", ns)
        except Exception as e:  # noqa: BLE001
            L.skip("cannot create a network namespace: %s" % e)
        try:
            self.run_golden(tmp, ns)
        finally:
            L.sh("ip", "netns", "del", ns, check=False)

    def inputs(self):
        """(frame, expected answers: {(user, rid, op): status} or None)."""
        good = dgram(buy(777, 42))
        return [
            (L.arp_request(PEER_MAC, PEER_IP, APP_IP), "arp"),
            (L.arp_request(PEER_MAC, PEER_IP, OTHER_IP), None),
            (L.icmp_echo(PCAP_MAC, PEER_MAC, PEER_IP, APP_IP, 0x1234, 7, b"flashsale-ping!"), "icmp"),
            (fsp(good, sport=40001), {(777, 42, OP["BUY"]): "OK"}),
            (fsp(dgram(req("ITEM_STATUS", item=1001)), sport=40002), {(0, 0, OP["ITEM_STATUS"]): "OK"}),
            (fsp(dgram(req("TIME", user=5, rid=9)), sport=40003), {(5, 9, OP["TIME"]): "OK"}),
            (fsp(dgram(buy(778, 1), req("ITEM_STATUS", user=778, rid=2, item=1001),
                       req("TIME", user=778, rid=3)), sport=40004),
             {(778, 1, OP["BUY"]): "OK", (778, 2, OP["ITEM_STATUS"]): "OK",
              (778, 3, OP["TIME"]): "OK"}),
            (fsp(dgram(buy(779, 1, token=b"\x01" * 16)), sport=40005),
             {(779, 1, OP["BUY"]): "BAD_TOKEN"}),
            (fsp(dgram(buy(780, 1)), sport=40006, cksum="zero"), {(780, 1, OP["BUY"]): "OK"}),
            (fsp(b"XX" + good[2:], sport=40007), None),            # bad magic
            (fsp(good + b"\0" * 8, sport=40008), None),            # length != 8 + 64 * count
            (fsp(dgram(buy(781, 1)), sport=40009, bad_cksum=True), None),
            (fsp(dgram(buy(782, 1)), sport=40010, cksum="bad"), None),
            (fsp(dgram(buy(783, 1)), sport=40011, frag=0x2000), None),  # MF: a first fragment
            (L.udp_frame(PCAP_MAC, PEER_MAC, PEER_IP, OTHER_IP, 40012, FSP_PORT,
                         dgram(buy(784, 1))), None),
            (L.udp_frame(OTHER_MAC, PEER_MAC, PEER_IP, APP_IP, 40013, FSP_PORT,
                         dgram(buy(785, 1))), None),
            (L.tcp_syn(PCAP_MAC, PEER_MAC, PEER_IP, APP_IP, 40100, 80), "exception"),
        ]

    def run_golden(self, tmp, ns):
        cases = self.inputs()
        inp, out = os.path.join(tmp, "in.pcap"), os.path.join(tmp, "out.pcap")
        L.pcap_write(inp, [c[0] for c in cases])
        eal = L.eal_words("--vdev=net_pcap0,rx_pcap=%s,tx_pcap=%s" % (inp, out))
        cfg = L.dpdk_config(tmp, eal, APP_IP, FSP_PORT, workers=1, durability="sync")
        d = L.DpdkDaemon(cfg, tmp, ns=ns).start()
        try:
            time.sleep(1.5)  # net_pcap delivers the whole file at once
        finally:
            d.stop()
        log = d.output()
        frames = [L.Frame(f) for f in L.pcap_read(out)]
        self.assertTrue(frames, "no output at all:\n" + log)
        ours = L.mac_bytes(PCAP_MAC)
        for f in frames:
            self.assertEqual(f.src, ours, "every frame leaves from our MAC")

        # the gratuitous ARP comes first
        g = frames.pop(0)
        self.assertEqual(g.dst, b"\xff" * 6)
        self.assertEqual((g.arp["op"], g.arp["spa"], g.arp["tpa"], g.arp["sha"]),
                         (1, APP_IP, APP_IP, ours))

        arp_replies = [f for f in frames if f.arp and f.arp["op"] == 2]
        self.assertEqual(len(arp_replies), 1, log)
        a = arp_replies[0]
        self.assertEqual((a.dst, a.arp["sha"], a.arp["spa"], a.arp["tha"], a.arp["tpa"]),
                         (L.mac_bytes(PEER_MAC), ours, APP_IP, L.mac_bytes(PEER_MAC), PEER_IP))
        self.assertEqual((a.arp["htype"], a.arp["ptype"], a.arp["hlen"], a.arp["plen"]),
                         (1, 0x0800, 6, 4))

        echoes = [f for f in frames if f.icmp]
        self.assertEqual(len(echoes), 1, log)
        e = echoes[0]
        self.assertEqual((e.icmp["type"], e.icmp["code"], e.icmp["ident"], e.icmp["seq"],
                          e.icmp["data"]), (0, 0, 0x1234, 7, b"flashsale-ping!"))
        self.assertEqual((e.ip["src"], e.ip["dst"], e.dst), (APP_IP, PEER_IP, L.mac_bytes(PEER_MAC)))

        self.check_fsp([f for f in frames if f.udp], cases, log)

        # only the kernel's own ARP requests (for the SYN's answer) may remain
        for f in frames:
            if f.udp or f.icmp or (f.arp and f.arp["op"] == 2):
                continue
            if f.etype == 0x86DD:  # the TAP's own IPv6 chatter (MLD, router solicitation)
                continue
            if f.arp:
                self.assertEqual((f.arp["op"], f.arp["spa"]), (1, APP_IP), "unexpected ARP")
            else:
                self.assertTrue(f.ip and f.ip["src"] == APP_IP and f.ip["proto"] == 6,
                                "unexpected frame %r" % f.raw.hex())

        self.assertIn("ARP replies 1, ICMP echo replies 1, exception path: to kernel 1", log)
        for reason in ("bad_ip_cksum=1", "bad_udp_cksum=1", "ip_fragment=1", "not_for_us=3"):
            self.assertIn(reason, log)
        self.assertIn("malformed 2", log)

    def check_fsp(self, udps, cases, log):
        want = {}
        for _, exp in cases:
            if isinstance(exp, dict):
                want.update(exp)
        got = {}
        req_len = {struct.unpack("!H", c[0][34:36])[0]: len(c[0]) - 42 for c in cases
                   if isinstance(c[1], dict)}
        for f in udps:
            self.assertEqual((f.ip["src"], f.ip["dst"], f.udp["sport"]), (APP_IP, PEER_IP, FSP_PORT))
            self.assertEqual((f.ip["ttl"], f.ip["frag"]), (64, 0x4000))
            self.assertEqual(f.dst, L.mac_bytes(PEER_MAC))
            self.assertIn(f.udp["dport"], req_len, "answer to a datagram that was to be dropped")
            self.assertLessEqual(len(f.udp["payload"]), req_len[f.udp["dport"]], "amplification")
            for r in parse_response(f.udp["payload"]):
                key = (r.user_id, r.request_id, r.op)
                self.assertNotIn(key, got, "answered twice")
                got[key] = r
        self.assertEqual(set(got), set(want), log)
        for key, status in want.items():
            self.assertEqual(got[key].status, ST[status], got[key])
        self.assertEqual(got[(777, 42, OP["BUY"])].qty, 1)
        self.assertNotEqual(got[(777, 42, OP["BUY"])].order_id, 0)
        self.assertGreater(got[(777, 42, OP["BUY"])].deadline, 0)
        self.assertEqual(got[(0, 0, OP["ITEM_STATUS"])].available, 99)
        self.assertGreater(got[(5, 9, OP["TIME"])].server_time, 1_700_000_000 * 10**9)


if __name__ == "__main__":
    L.main()
