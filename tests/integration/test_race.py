"""A flash-sale race over real UDP: many users, batched datagrams, limited
stock. Exactly the stock is sold, nobody passes their limit, order ids are
unique, and the daemon's shutdown audit passes."""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import Daemon, ST, buy_token, req, dgram, main  # noqa: E402

ITEMS = """
[item.1001]
activity = 1
total = 150
per_user_limit = 2
max_per_order = 1

[item.1002]
activity = 1
total = 77
per_user_limit = 1
max_per_order = 1

[item.1003]
activity = 1
total = 40
per_user_limit = 3
max_per_order = 3
"""
STOCK = {1001: (150, 2), 1002: (77, 1), 1003: (40, 3)}


class Race(unittest.TestCase):
    def test_race_sells_exactly_the_stock(self):
        users = 1500
        with Daemon(items=ITEMS) as d:
            clients = [d.client() for _ in range(6)]
            msgs = []
            for u in range(1, users + 1):
                for item in STOCK:
                    qty = 2 if item == 1003 else 1
                    for attempt in range(2):  # each user tries twice (distinct requests)
                        msgs.append((u, attempt + 1, item, qty))
            wins = {}
            orders = set()
            answered = 0
            # send in datagrams of 16 over several sockets, bounded in time
            for i in range(0, len(msgs), 16 * len(clients)):
                for k, c in enumerate(clients):
                    chunk = msgs[i + 16 * k: i + 16 * (k + 1)]
                    if chunk:
                        c.send(dgram(*[req("BUY", user=u, rid=r * 10000 + it, item=it, qty=q,
                                           token=buy_token(u, 1)) for u, r, it, q in chunk]))
                        c.pending = len(chunk)
                    else:
                        c.pending = 0
                for c in clients:
                    for resp in c.recv_all(c.pending, timeout=5):
                        answered += 1
                        if resp.status == ST["OK"]:
                            key = (resp.user_id, resp.item_id)
                            wins[key] = wins.get(key, 0) + resp.qty
                            self.assertNotIn(resp.order_id, orders)
                            orders.add(resp.order_id)
                        else:
                            self.assertIn(resp.status, (ST["SOLD_OUT"], ST["LIMIT_EXCEEDED"]), resp)
            self.assertEqual(answered, len(msgs))
            for item, (total, limit) in STOCK.items():
                sold = sum(q for (u, it), q in wins.items() if it == item)
                self.assertEqual(sold, total, "item %d" % item)
                self.assertEqual(clients[0].one("ITEM_STATUS", item=item).available, 0)
                self.assertTrue(all(q <= limit for (u, it), q in wins.items() if it == item))
            # no response datagram was larger than the 16-message requests
            for c in clients:
                self.assertTrue(all(len(x) <= 8 + 64 * 16 for x in c.datagrams))
                c.close()


if __name__ == "__main__":
    main()
