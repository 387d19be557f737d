"""One buyer's BUY + CANCEL loop cannot make honest buyers BUSY while stock
remains (issue "Hardening", finding 3).

Order slots are never reused, and a token holder cycling BUY + CANCEL used
to take one per cycle until the order table was full: every honest BUY then
got BUSY with stock still there. Now a user may let at most STORE_CLOSED_MAX
(16) orders of an item close unpaid; after that a BUY of the item is
LIMIT_EXCEEDED for that user, and nobody else notices. The table here is
small (max_orders = 60: 40 order slots on the owning shard) and the churner
runs 1,000 cycles."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import Daemon, ST, STATE, buy_token, main  # noqa: E402

ITEMS = """
[item.1001]
activity = 1
total = 20
per_user_limit = 1
max_per_order = 1
"""
CHURNER = 666
CLOSED_MAX = 16


class Churn(unittest.TestCase):
    def test_buy_cancel_churn_does_not_starve_honest_buyers(self):
        with Daemon(items=ITEMS, limits="max_orders = 60\nmax_idempotency = 200") as d:
            c = d.client()
            tok = buy_token(CHURNER, 1)
            honest = iter(range(1, 21))
            wins, churned, refused, first = 0, 0, 0, None
            for cycle in range(1000):
                b = c.one("BUY", user=CHURNER, rid=2 * cycle + 1, item=1001, qty=1, token=tok)
                if b.status == ST["OK"]:
                    first = first or b.order_id
                    x = c.one("CANCEL", user=CHURNER, rid=2 * cycle + 2, order=b.order_id, token=tok)
                    self.assertEqual(x.status, ST["OK"], x)
                    churned += 1
                else:
                    self.assertEqual(b.status, ST["LIMIT_EXCEEDED"], b)
                    refused += 1
                if cycle % 50 == 49:  # an honest buyer now and then, while stock remains
                    u = next(honest)
                    h = c.one("BUY", user=u, rid=1, item=1001, qty=1, token=buy_token(u, 1))
                    self.assertEqual(h.status, ST["OK"], "honest buyer %d after %d churn cycles: %r"
                                     % (u, cycle + 1, h))
                    wins += 1
                    self.last_honest = h.order_id
            self.assertEqual(wins, 20)
            self.assertEqual(churned, CLOSED_MAX)
            self.assertEqual(refused, 1000 - CLOSED_MAX)
            # the stock went to the honest buyers: the next one is told SOLD_OUT, not BUSY
            h = c.one("BUY", user=21, rid=1, item=1001, qty=1, token=buy_token(21, 1))
            self.assertEqual(h.status, ST["SOLD_OUT"], h)
            # the churner's old cancelled order still answers ORDER_STATUS
            s = c.one("ORDER_STATUS", user=CHURNER, rid=5000, order=first, token=tok)
            self.assertEqual((s.status, s.state), (ST["OK"], STATE["CANCELLED"]), s)
            c.close()
            # after a restart (snapshot + log) the count is rebuilt from the
            # orders: with a unit back in stock the churner is still refused
            d.stop()
            d.start()
            c = d.client()
            x = c.one("CANCEL", user=20, rid=2, order=self.last_honest, token=buy_token(20, 1))
            self.assertEqual(x.status, ST["OK"], x)
            b = c.one("BUY", user=CHURNER, rid=9001, item=1001, qty=1, token=tok)
            self.assertEqual(b.status, ST["LIMIT_EXCEEDED"], b)
            h = c.one("BUY", user=22, rid=1, item=1001, qty=1, token=buy_token(22, 1))
            self.assertEqual(h.status, ST["OK"], h)
            c.close()


if __name__ == "__main__":
    main()
