"""Every op and status code of PROTOCOL.md over real UDP against flashsaled."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import (Daemon, ST, STATE, buy_token, pay_token, req, main)  # noqa: E402

ITEMS = """
[item.1001]
activity = 1
total = 3
per_user_limit = 2
max_per_order = 1

[item.1002]
activity = 1
total = 10
per_user_limit = 5
max_per_order = 2

[item.2001]
activity = 2
total = 5
per_user_limit = 1

[item.3001]
activity = 3
total = 5
per_user_limit = 1

[item.4001]
activity = 4
total = 1
per_user_limit = 1
"""

EXTRA = """
[activity.2]
name = not yet
start = now+1h
end = now+2h

[activity.3]
name = over
start = now-2h
end = now-1h

[activity.4]
name = quick expiry
start = now-1s
end = now+1h
pay_timeout_s = 1
"""


class Ops(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(items=ITEMS, extra=EXTRA)
        cls.d.start()
        cls.c = cls.d.client()

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        cls.d.stop()

    def buy(self, user, rid, item=1001, qty=1, token=None):
        if token is None:
            token = buy_token(user, 1)
        return self.c.one("BUY", user=user, rid=rid, item=item, qty=qty, token=token)

    def test_time(self):
        r = self.c.one("TIME")
        self.assertEqual(r.status, ST["OK"])
        self.assertLess(abs(r.server_time - time.time_ns()), 5 * 10**9)

    def test_item_status_and_unknown_item(self):
        r = self.c.one("ITEM_STATUS", item=1002)
        self.assertEqual((r.status, r.item_id), (ST["OK"], 1002))
        self.assertLessEqual(r.available, 10)
        self.assertEqual(self.c.one("ITEM_STATUS", item=999).status, ST["UNKNOWN_ITEM"])
        r = self.c.one("BUY", user=5, rid=1, item=999, qty=1)
        self.assertEqual(r.status, ST["UNKNOWN_ITEM"])

    def test_buy_confirm_order_status(self):
        r = self.buy(100, 1, item=1002, qty=2)
        self.assertEqual(r.status, ST["OK"], r)
        self.assertNotEqual(r.order_id, 0)
        self.assertEqual((r.qty, r.item_id, r.user_id, r.request_id), (2, 1002, 100, 1))
        self.assertGreater(r.deadline, r.server_time + 800 * 10**9)
        order = r.order_id
        s = self.c.one("ORDER_STATUS", user=100, rid=2, order=order, token=buy_token(100, 1))
        self.assertEqual((s.status, s.state, s.qty, s.item_id), (ST["OK"], STATE["RESERVED"], 2, 1002))
        self.assertEqual(s.deadline, r.deadline)
        p = self.c.one("CONFIRM", user=100, rid=3, order=order, ref=77, token=pay_token(order, 100, 77))
        self.assertEqual((p.status, p.state, p.order_id), (ST["OK"], STATE["PAID"], order))
        s = self.c.one("ORDER_STATUS", user=100, rid=4, order=order, token=buy_token(100, 1))
        self.assertEqual((s.state, s.deadline), (STATE["PAID"], 0))
        # confirming or cancelling again (new request id) is WRONG_STATE
        w = self.c.one("CANCEL", user=100, rid=5, order=order, token=buy_token(100, 1))
        self.assertEqual((w.status, w.state), (ST["WRONG_STATE"], STATE["PAID"]))
        # a payment-token CANCEL is also a valid form
        w = self.c.one("CANCEL", user=100, rid=6, order=order, ref=1, token=pay_token(order, 100, 1))
        self.assertEqual(w.status, ST["WRONG_STATE"])

    def test_cancel_releases_units(self):
        before = self.c.one("ITEM_STATUS", item=1002).available
        r = self.buy(101, 1, item=1002, qty=1)
        self.assertEqual(r.status, ST["OK"])
        self.assertEqual(self.c.one("ITEM_STATUS", item=1002).available, before - 1)
        x = self.c.one("CANCEL", user=101, rid=2, order=r.order_id, token=buy_token(101, 1))
        self.assertEqual((x.status, x.state), (ST["OK"], STATE["CANCELLED"]))
        self.assertEqual(self.c.one("ITEM_STATUS", item=1002).available, before)

    def test_limits(self):
        self.assertEqual(self.buy(102, 1, item=1002, qty=3).status, ST["LIMIT_EXCEEDED"])
        self.assertEqual(self.buy(102, 2, item=1002, qty=2).status, ST["OK"])
        self.assertEqual(self.buy(102, 3, item=1002, qty=2).status, ST["OK"])
        r = self.buy(102, 4, item=1002, qty=2)
        self.assertEqual(r.status, ST["LIMIT_EXCEEDED"])

    def test_sold_out_and_winning_retry(self):
        wins = []
        for u in range(200, 210):
            r = self.buy(u, 1, item=1001)
            if r.status == ST["OK"]:
                wins.append((u, r.order_id))
            else:
                self.assertEqual(r.status, ST["SOLD_OUT"], r)
                self.assertEqual(r.available, 0)
        self.assertEqual(len(wins), 3)
        # a retry of a winning BUY after the sell-out gets its OK again
        for u, order in wins:
            r = self.buy(u, 1, item=1001)
            self.assertEqual((r.status, r.order_id), (ST["OK"], order))
        self.assertEqual(self.c.one("ITEM_STATUS", item=1001).available, 0)

    def test_window(self):
        r = self.c.one("BUY", user=300, rid=1, item=2001, qty=1, token=buy_token(300, 2))
        self.assertEqual(r.status, ST["NOT_STARTED"])
        self.assertGreater(r.retry_after_ms, 3000 * 1000)
        r = self.c.one("BUY", user=300, rid=2, item=3001, qty=1, token=buy_token(300, 3))
        self.assertEqual(r.status, ST["ENDED"])

    def test_bad_token(self):
        self.assertEqual(self.buy(400, 1, item=1002, token=b"\x01" * 16).status, ST["BAD_TOKEN"])
        self.assertEqual(self.buy(400, 2, item=1002, token=b"").status, ST["BAD_TOKEN"])
        # a token for another user is wrong too
        self.assertEqual(self.buy(400, 3, item=1002, token=buy_token(401, 1)).status, ST["BAD_TOKEN"])
        r = self.buy(400, 4, item=1002)
        self.assertEqual(r.status, ST["OK"])
        bad = self.c.one("CONFIRM", user=400, rid=5, order=r.order_id, ref=1, token=pay_token(r.order_id, 400, 2))
        self.assertEqual(bad.status, ST["BAD_TOKEN"])

    def test_not_found_and_bad_request(self):
        self.assertEqual(self.c.one("ORDER_STATUS", user=500, rid=1, order=123456789 << 8,
                                    token=buy_token(500, 1)).status, ST["NOT_FOUND"])
        self.assertEqual(self.c.one("CONFIRM", user=500, rid=2, order=0).status, ST["NOT_FOUND"])
        r = self.buy(501, 1, item=1002)
        # someone else's order is NOT_FOUND for them
        self.assertEqual(self.c.one("ORDER_STATUS", user=500, rid=3, order=r.order_id,
                                    token=buy_token(500, 1)).status, ST["NOT_FOUND"])
        self.assertEqual(self.c.one(9, user=500, rid=4).status, ST["BAD_REQUEST"])
        self.assertEqual(self.buy(500, 5, item=1002, qty=0).status, ST["BAD_REQUEST"])
        self.assertEqual(self.c.one("BUY", user=0, rid=6, item=1002, qty=1).status, ST["BAD_REQUEST"])
        self.assertEqual(self.buy(500, 0, item=1002).status, ST["BAD_REQUEST"])

    def test_idempotent_retries(self):
        r1 = self.buy(600, 1, item=1002)
        r2 = self.buy(600, 1, item=1002)
        self.assertEqual((r2.status, r2.order_id, r2.deadline), (ST["OK"], r1.order_id, r1.deadline))
        s = self.c.one("ITEM_STATUS", item=1002).available
        self.buy(600, 1, item=1002)
        self.assertEqual(self.c.one("ITEM_STATUS", item=1002).available, s)
        c1 = self.c.one("CONFIRM", user=600, rid=2, order=r1.order_id, ref=5, token=pay_token(r1.order_id, 600, 5))
        c2 = self.c.one("CONFIRM", user=600, rid=2, order=r1.order_id, ref=5, token=pay_token(r1.order_id, 600, 5))
        self.assertEqual((c1.status, c2.status, c2.state), (ST["OK"], ST["OK"], STATE["PAID"]))
        # the same request id with another op or order is BAD_REQUEST
        self.assertEqual(self.c.one("CANCEL", user=600, rid=1, order=r1.order_id,
                                    token=buy_token(600, 1)).status, ST["BAD_REQUEST"])
        self.assertEqual(self.c.one("CONFIRM", user=600, rid=1, order=r1.order_id, ref=5,
                                    token=pay_token(r1.order_id, 600, 5)).status, ST["BAD_REQUEST"])

    def test_expiry(self):
        r = self.c.one("BUY", user=700, rid=1, item=4001, qty=1, token=buy_token(700, 4))
        self.assertEqual(r.status, ST["OK"])
        self.assertEqual(self.c.one("BUY", user=701, rid=1, item=4001, qty=1,
                                    token=buy_token(701, 4)).status, ST["SOLD_OUT"])
        time.sleep(1.3)
        s = self.c.one("ORDER_STATUS", user=700, rid=2, order=r.order_id, token=buy_token(700, 4))
        self.assertEqual(s.state, STATE["EXPIRED"])
        self.assertEqual(self.c.one("ITEM_STATUS", item=4001).available, 1)
        late = self.c.one("CONFIRM", user=700, rid=3, order=r.order_id, ref=1, token=pay_token(r.order_id, 700, 1))
        self.assertEqual((late.status, late.state), (ST["WRONG_STATE"], STATE["EXPIRED"]))
        self.assertEqual(self.c.one("BUY", user=701, rid=2, item=4001, qty=1,
                                    token=buy_token(701, 4)).status, ST["OK"])


class RateAndBusy(unittest.TestCase):
    def test_rate_limited(self):
        with Daemon(limits="per_ip_rate = 5\nper_ip_burst = 5", workers=1) as d:
            c = d.client()
            got = [c.one("TIME", user=1, rid=i).status for i in range(1, 21)]
            self.assertEqual(got[:5], [ST["OK"]] * 5)
            self.assertIn(ST["RATE_LIMITED"], got)
            r = [x for x in (c.one("TIME", user=1, rid=99),) if x.status == ST["RATE_LIMITED"]]
            for x in r:
                self.assertGreater(x.retry_after_ms, 0)
            c.close()

    def test_busy_when_order_table_full(self):
        items = "[item.1]\nactivity = 1\ntotal = 1\nper_user_limit = 1\n"
        with Daemon(items=items, limits="max_orders = 2", workers=1, require_token="no") as d:
            c = d.client()
            for i in range(2):
                r = c.one("BUY", user=1, rid=10 + i, item=1, qty=1)
                self.assertEqual(r.status, ST["OK"], r)
                self.assertEqual(c.one("CANCEL", user=1, rid=20 + i, order=r.order_id).status, ST["OK"])
            r = c.one("BUY", user=1, rid=30, item=1, qty=1)
            self.assertEqual(r.status, ST["BUSY"])
            self.assertGreater(r.retry_after_ms, 0)
            c.close()


if __name__ == "__main__":
    main()
