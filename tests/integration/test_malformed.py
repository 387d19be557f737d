"""Malformed datagrams are dropped unanswered and counted; the daemon keeps
serving. A batched datagram of 32 mixed messages is answered in full."""
import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import Daemon, ST, buy_token, req, dgram, main  # noqa: E402


class Malformed(unittest.TestCase):
    def test_malformed_unanswered_and_still_serving(self):
        with Daemon() as d:
            c = d.client()
            good = req("TIME", user=1, rid=1)
            cases = {
                "empty": b"",
                "short header": b"FS\x01",
                "header only": struct.pack(">HBBI", 0x4653, 1, 1, 0),
                "bad magic": struct.pack(">HBBI", 0x4654, 1, 1, 0) + good,
                "bad version": struct.pack(">HBBI", 0x4653, 2, 1, 0) + good,
                "count 0": struct.pack(">HBBI", 0x4653, 1, 0, 0) + good,
                "count 33": struct.pack(">HBBI", 0x4653, 1, 33, 0) + good * 33,
                "one byte short": dgram(good)[:-1],
                "one byte long": dgram(good) + b"\0",
                "count says 2, has 1": struct.pack(">HBBI", 0x4653, 1, 2, 0) + good,
                "oversize": struct.pack(">HBBI", 0x4653, 1, 32, 0) + good * 40,
                "garbage": os.urandom(200),
            }
            for name, data in cases.items():
                with self.subTest(name):
                    self.assertIsNone(c.silent(data, wait=0.2), name)
            r = c.one("TIME", user=1, rid=2)
            self.assertEqual(r.status, ST["OK"])
            d.stop()
            out = d.output()
            self.assertRegex(out, r"malformed %d\b" % len(cases))
            c.close()

    def test_batched_datagram_of_32(self):
        with Daemon() as d:
            c = d.client()
            msgs = []
            for i in range(32):
                u = 1000 + i
                op = ["BUY", "ITEM_STATUS", "TIME", "ORDER_STATUS"][i % 4]
                msgs.append(req(op, user=u, rid=i + 1, item=1001, qty=1 if op == "BUY" else 0,
                                order=5 << 8 if op == "ORDER_STATUS" else 0, token=buy_token(u, 1)))
            res = c.call(*msgs)
            self.assertTrue(all(r is not None for r in res), res)
            for i, r in enumerate(res):
                want = {0: ST["OK"], 1: ST["OK"], 2: ST["OK"], 3: ST["NOT_FOUND"]}[i % 4]
                self.assertEqual(r.status, want, r)
            self.assertTrue(all(len(x) <= 8 + 64 * 32 for x in c.datagrams))
            c.close()


if __name__ == "__main__":
    main()
