"""No amplification (PROTOCOL.md, and Hardening finding 5): the answers to one
request datagram leave as ONE response datagram, no larger than the request,
even when its messages are decided by several owner shards (4 workers here)
or wait for the write-ahead log. Counts datagrams and bytes both ways over
real UDP on loopback against the real daemon."""
import os
import select
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import Daemon, ST, buy_token, dgram, main, parse_response, req  # noqa: E402

WORKERS = 4
ITEM_IDS = list(range(1001, 1017))
ITEMS = "".join(f"""
[item.{i}]
activity = 1
total = 1000
per_user_limit = 4
max_per_order = 1
""" for i in ITEM_IDS)


def shard_of_item(item, n=WORKERS):
    """fs_shard_of_item (PROTOCOL.md leaves routing to us; docs/architecture.md)."""
    h = (item * 0x9E3779B1) & 0xFFFFFFFF
    h ^= h >> 16
    return h % n


class Counter:
    """One client socket that counts every datagram and byte each way."""

    def __init__(self, port, host="127.0.0.1", bind="127.0.0.1"):
        self.addr = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind((bind, 0))
        self.sent_dgrams = self.sent_bytes = self.recv_dgrams = self.recv_bytes = 0

    def close(self):
        self.sock.close()

    def exchange(self, data, want, timeout=5.0):
        """Send one request datagram; collect datagrams until `want` answers
        arrived. Returns the list of response datagrams."""
        self.sock.sendto(data, self.addr)
        self.sent_dgrams += 1
        self.sent_bytes += len(data)
        got, answers = [], 0
        end = time.monotonic() + timeout
        while answers < want:
            left = end - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                break
            resp, src = self.sock.recvfrom(65536)
            assert src == self.addr, "answer from %r, not the address we sent to" % (src,)
            self.recv_dgrams += 1
            self.recv_bytes += len(resp)
            got.append(resp)
            answers += len(parse_response(resp))
        return got

    def quiet(self, wait=0.5):
        """Nothing more may arrive (a second datagram for an answered request)."""
        r, _, _ = select.select([self.sock], [], [], wait)
        if r:
            data, _ = self.sock.recvfrom(65536)
            self.recv_dgrams += 1
            self.recv_bytes += len(data)
            return data
        return None


class Amplification(unittest.TestCase):
    def counter(self, d):
        return Counter(d.port)

    def check_one_each(self, d, batches):
        """batches: list of message lists. Each request datagram must get
        exactly one response datagram with every answer, no larger than it."""
        c = self.counter(d)
        try:
            for msgs in batches:
                data = dgram(*msgs)
                got = c.exchange(data, len(msgs))
                self.assertEqual(len(got), 1, "one response datagram per request datagram")
                self.assertLessEqual(len(got[0]), len(data))
                answers = parse_response(got[0])
                self.assertEqual(len(answers), len(msgs))
                want = sorted((int.from_bytes(m[8:16], "big"), int.from_bytes(m[16:24], "big"))
                              for m in msgs)
                self.assertEqual(sorted((a.user_id, a.request_id) for a in answers), want)
            self.assertIsNone(c.quiet(), "a stray response datagram arrived")
            self.assertEqual(c.recv_dgrams, c.sent_dgrams)
            self.assertLessEqual(c.recv_bytes, c.sent_bytes)
            print("%d request datagrams / %d bytes in, %d response datagrams / %d bytes out"
                  % (c.sent_dgrams, c.sent_bytes, c.recv_dgrams, c.recv_bytes))
        finally:
            c.close()

    def batches(self, user0, n, size=32, workers=WORKERS):
        """n datagrams of size messages spread over every shard: winning BUYs,
        ORDER_STATUS for orders of every shard (decided by their owners) and
        TIME (answered by the receiving worker)."""
        self.assertEqual(len({shard_of_item(i, workers) for i in ITEM_IDS}), workers)
        out, user = [], user0
        for k in range(n):
            msgs = []
            for m in range(size):
                user += 1
                if m % 8 == 7:
                    msgs.append(req("TIME", user=user, rid=1))
                elif m % 8 == 6:
                    msgs.append(req("ORDER_STATUS", user=user, rid=1,
                                    order=(1000 + m) << 8 | ((m // 8) % workers),
                                    token=buy_token(user, 1)))
                else:
                    msgs.append(req("BUY", user=user, rid=1, item=ITEM_IDS[(k + m) % len(ITEM_IDS)],
                                    qty=1, token=buy_token(user, 1)))
            out.append(msgs)
        return out

    def test_multi_owner_datagrams_get_one_response_each(self):
        with Daemon(items=ITEMS, workers=WORKERS) as d:
            b = self.batches(0, 24)
            self.check_one_each(d, b)
            # The same requests again: idempotent repeats, still one each.
            self.check_one_each(d, b)

    def test_small_mixed_datagrams(self):
        with Daemon(items=ITEMS, workers=WORKERS) as d:
            b = []
            for k in range(16):
                u = 5000 + 4 * k
                b.append([req("BUY", user=u + j, rid=7, item=ITEM_IDS[(k + 5 * j) % 16], qty=1,
                              token=buy_token(u + j, 1)) for j in range(1 + k % 4)])
            self.check_one_each(d, b)

    def test_held_for_the_log_one_response_each(self):
        d = Daemon(items=ITEMS, workers=WORKERS)
        with open(d.config) as f:
            text = f.read()
        self.assertIn("durability = none", text)
        with open(d.config, "w") as f:
            f.write(text.replace("durability = none", "durability = sync"))
        with d:
            self.check_one_each(d, self.batches(10000, 12))

    def test_sold_out_mixed_with_owner_answers(self):
        items = ITEMS.replace("total = 1000", "total = 1")
        with Daemon(items=items, workers=WORKERS) as d:
            b = self.batches(20000, 6)
            self.check_one_each(d, b)
            c = Counter(d.port)
            try:
                got = c.exchange(dgram(*b[0]), 32)
                self.assertEqual(len(got), 1)
                statuses = {a.status for a in parse_response(got[0])}
                self.assertIn(ST["OK"], statuses)  # repeats of stored wins
            finally:
                c.close()


if __name__ == "__main__":
    main()
