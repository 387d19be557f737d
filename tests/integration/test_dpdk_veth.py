"""The DPDK front end against a real kernel peer: a veth pair between two
throw-away network namespaces (DPDK-NOTES.md recipe; 10.99.N.0/24 only,
unique names, always deleted). The appliance runs in namespace A on
net_af_packet (veth0, two queue pairs, two workers: hand-offs between
shards), the test runs in namespace P as the kernel peer (veth1).

- the kernel resolves the appliance by ARP and pings it;
- the flashsale CLI buys, confirms and reads an order through it;
- the race of test_race.py through the DPDK path sells exactly the stock;
- the exception path: TCP to the appliance's operations port (GET /healthz) is
  served by the kernel behind the daemon's TAP.

In namespace A the kernel must not answer on veth0 itself (net_af_packet
shares the interface with it): rp_filter = 1 and arp_ignore = 8 there, so
everything the peer gets back really comes from the daemon. Skipped (77) when
not root or when namespaces/veth cannot be created.
"""
import json
import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import CLI, Client, ST, buy_token, dgram, req  # noqa: E402
import test_cli  # noqa: E402
import test_dpdk_lib as L  # noqa: E402
import test_race  # noqa: E402

FSP_PORT = 7700
HTTP_PORT = 8088
# The kernel-mode race's items and stock, unchanged, plus an item for the CLI.
ITEMS = test_race.ITEMS + """
[item.2001]
activity = 1
total = 10
per_user_limit = 1
max_per_order = 1
"""
STOCK = test_race.STOCK
KEYS = test_cli.KEYS


class PeerClient(Client):
    """fsp.Client, bound in the peer namespace instead of on loopback."""

    def __init__(self, host, port):  # noqa: super().__init__ binds to 127.0.0.1
        self.addr = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("0.0.0.0", 0))
        self.datagrams = []


class Veth(L.VethDaemon, unittest.TestCase):
    @classmethod
    def make_config(cls, tmp, eal):
        cls.app_mac = L.sh("ip", "netns", "exec", cls.net.a, "cat",
                           "/sys/class/net/veth0/address").stdout.strip()
        return L.dpdk_config(tmp, eal, cls.net.app_ip, FSP_PORT, workers=2,
                             admin_port=HTTP_PORT, items=ITEMS, durability="batch")

    def peer(self, *cmd, timeout=30):
        return subprocess.run(["ip", "netns", "exec", self.net.p, *cmd], capture_output=True,
                              text=True, timeout=timeout)

    def test_1_ping_and_arp(self):
        p = self.peer("ping", "-c", "3", "-i", "0.2", "-W", "2", self.net.app_ip)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr + self.d.output())
        self.assertIn("3 received", p.stdout)
        neigh = self.peer("ip", "neigh", "show", self.net.app_ip).stdout
        self.assertIn(self.app_mac, neigh.lower(), neigh)

    def cli_json(self, *args):
        p = self.peer(CLI, "--server", self.net.app_ip, "--port", str(FSP_PORT), "--json", *args)
        self.assertTrue(p.stdout.strip(), p.stderr + self.d.output())
        return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])

    def test_2_cli_buy_confirm_order(self):
        rc, j = self.cli_json("buy", "--user", "777", "--request-id", "42", "--item", "2001", *KEYS)
        self.assertEqual((rc, j["status"], j["op"]), (0, "OK", "BUY"), j)
        order = str(j["order_id"])
        rc, j = self.cli_json("confirm", "--user", "777", "--request-id", "43", "--order", order,
                              "--ref", "9", *KEYS)
        self.assertEqual((rc, j["status"], j["state"]), (0, "OK", "PAID"), j)
        rc, j = self.cli_json("order", "--user", "777", "--request-id", "44", "--order", order,
                              *KEYS)
        self.assertEqual((rc, j["state"]), (0, "PAID"), j)
        rc, j = self.cli_json("buy", "--user", "777", "--request-id", "42", "--item", "2001", *KEYS)
        self.assertEqual((j["status"], str(j["order_id"])), ("OK", order), "idempotent retry")

    def test_3_race_sells_exactly_the_stock(self):
        users = 1500
        clients = [PeerClient(self.net.app_ip, FSP_PORT) for _ in range(6)]
        msgs = [(u, a + 1, it, 2 if it == 1003 else 1)
                for u in range(1, users + 1) for it in STOCK for a in range(2)]
        wins, orders, answered = {}, set(), 0
        for i in range(0, len(msgs), 16 * len(clients)):
            for k, c in enumerate(clients):
                chunk = msgs[i + 16 * k: i + 16 * (k + 1)]
                c.pending = len(chunk)
                if chunk:
                    c.send(dgram(*[req("BUY", user=u, rid=r * 10000 + it, item=it, qty=q,
                                       token=buy_token(u, 1)) for u, r, it, q in chunk]))
            got_round = 0
            for c in clients:
                for resp in c.recv_all(c.pending, timeout=5 if answered else 3):
                    got_round += 1
                    answered += 1
                    if resp.status == ST["OK"]:
                        key = (resp.user_id, resp.item_id)
                        wins[key] = wins.get(key, 0) + resp.qty
                        self.assertNotIn(resp.order_id, orders)
                        orders.add(resp.order_id)
                    else:
                        self.assertIn(resp.status, (ST["SOLD_OUT"], ST["LIMIT_EXCEEDED"]), resp)
            self.assertGreater(got_round, 0, "no answers at all:\n" + self.d.output())
        self.assertEqual(answered, len(msgs), self.d.output())
        for item, (total, limit) in STOCK.items():
            sold = sum(q for (u, it), q in wins.items() if it == item)
            self.assertEqual(sold, total, "item %d" % item)
            self.assertEqual(clients[0].one("ITEM_STATUS", item=item).available, 0)
            self.assertTrue(all(q <= limit for (u, it), q in wins.items() if it == item))
        for c in clients:
            self.assertTrue(all(len(x) <= 8 + 64 * 16 for x in c.datagrams))
            c.close()

    def test_4_exception_path_http(self):
        if "exception path to the kernel through TAP" not in self.d.output():
            self.fail("no exception path:\n" + self.d.output())
        body = b""
        with socket.create_connection((self.net.app_ip, HTTP_PORT), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
            s.settimeout(10)
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                body += chunk
        self.assertTrue(body.startswith(b"HTTP/1."), body)
        self.assertIn(b" 200 ", body.split(b"\r\n")[0])
        self.assertTrue(body.endswith(b"ok\n"), body)


if __name__ == "__main__":
    L.main()
