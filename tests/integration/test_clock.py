"""A wall-clock step changes neither when a reservation expires nor how long a
retry keeps its answer (issue "Hardening", finding 2).

The daemon runs under libfaketime (Debian package faketime) with its wall
clock read from a timestamp file that the test rewrites while the daemon
runs (FAKETIME_NO_CACHE=1: every clock read sees the file). CLOCK_MONOTONIC
is left alone (FAKETIME_DONT_FAKE_MONOTONIC=1): libfaketime fakes it by
default, and a real step of the system clock never moves it. Skipped (77)
without libfaketime."""
import glob
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import Daemon, ST, STATE, buy_token, req, main  # noqa: E402

LIBS = (glob.glob("/usr/lib/*/faketime/libfaketimeMT.so.1") +
        glob.glob("/usr/lib/*/faketime/libfaketime.so.1") +
        glob.glob("/usr/local/lib/faketime/libfaketime*.so.1"))

ITEMS = """
[item.1001]
activity = 1
total = 1
per_user_limit = 1
max_per_order = 1

[item.1002]
activity = 1
total = 10
per_user_limit = 5
max_per_order = 1
"""

# A sale window that stays open when the clock goes back an hour, and a
# pay timeout of 2 s.
SHORT = """
[activity.2]
name = short pay timeout
start = now-3h
end = now+3h
require_token = no
pay_timeout_s = 2

[item.2001]
activity = 2
total = 1
per_user_limit = 1
max_per_order = 1
"""


class FakedDaemon(Daemon):
    """flashsaled whose wall clock is the real one plus the offset in a file."""

    def __init__(self, **cfg):
        super().__init__(**cfg)
        self.rc = os.path.join(self.tmp, "faketime.rc")
        self.step("+0")

    def step(self, offset):
        tmp = self.rc + ".tmp"
        with open(tmp, "w") as f:
            f.write(offset + "\n")
        os.replace(tmp, self.rc)  # the daemon never reads half a file

    def start(self, timeout=20.0):
        env = {"LD_PRELOAD": LIBS[0], "FAKETIME_TIMESTAMP_FILE": self.rc,
               "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
               "FAKETIME_DONT_RESET": "1",
               # a sanitizer build: ASan wants to be first in the library
               # list, and libfaketime is preloaded before it
               "ASAN_OPTIONS": ":".join(x for x in (os.environ.get("ASAN_OPTIONS", ""),
                                                    "verify_asan_link_order=0") if x)}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            super().start(timeout)
        finally:
            for k, v in saved.items():
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v


def wait_for(fn, limit_s):
    """Poll fn() every 50 ms until it is true or limit_s passed."""
    end = time.monotonic() + limit_s
    while time.monotonic() < end:
        if fn():
            return True
        time.sleep(0.05)
    return fn()


class ClockStep(unittest.TestCase):
    def setUp(self):
        if not LIBS:
            raise unittest.SkipTest("libfaketime not installed (Debian package faketime)")

    def test_step_back_an_hour_reservation_expires_on_time(self):
        with FakedDaemon(items=ITEMS + SHORT) as d:
            c = d.client()
            t = c.one("TIME")
            b = c.one("BUY", user=1, rid=1, item=2001, qty=1)
            self.assertEqual(b.status, ST["OK"], b)
            self.assertTrue(0 < b.deadline - t.server_time <= 3 * 10**9)
            d.step("-1h")
            self.assertTrue(wait_for(lambda: c.one("TIME").server_time < t.server_time - 3000 * 10**9, 5),
                            "the daemon's clock did not step back")
            # the reservation lapses after its 2 s, not an hour later
            status = lambda: c.one("ORDER_STATUS", user=1, rid=2, order=b.order_id)  # noqa: E731
            self.assertTrue(wait_for(lambda: status().state == STATE["EXPIRED"], 30),
                            "still %r" % status())
            # and the unit is back in stock for the next buyer
            b2 = c.one("BUY", user=2, rid=1, item=2001, qty=1)
            self.assertEqual(b2.status, ST["OK"], b2)
            self.assertNotEqual(b2.order_id, b.order_id)
            # the deadline told is on the wall clock the daemon now has
            now = c.one("TIME").server_time
            self.assertTrue(now < b2.deadline <= now + 3 * 10**9, (now, b2.deadline))
            c.close()

    def test_step_forward_a_day_and_back_retry_gets_original_order(self):
        with FakedDaemon(items=ITEMS) as d:
            c = d.client()
            t = c.one("TIME")
            b = c.one("BUY", user=7, rid=77, item=1002, qty=1, token=buy_token(7, 1))
            self.assertEqual(b.status, ST["OK"], b)
            d.step("+1d")
            self.assertTrue(wait_for(lambda: c.one("TIME").server_time > t.server_time + 80000 * 10**9, 5),
                            "the daemon's clock did not step forward")
            time.sleep(0.5)  # many 10 ms timer rounds (expiry, idempotency trim) at +1 day
            d.step("+0")
            self.assertTrue(wait_for(lambda: c.one("TIME").server_time < t.server_time + 3600 * 10**9, 5))
            r = c.one("BUY", user=7, rid=77, item=1002, qty=1, token=buy_token(7, 1))
            self.assertEqual(r.status, ST["OK"], r)
            self.assertEqual(r.order_id, b.order_id, "a retry got a new order: a duplicate from one click")
            st = c.one("ORDER_STATUS", user=7, rid=78, order=b.order_id, token=buy_token(7, 1))
            self.assertEqual(st.state, STATE["RESERVED"], st)  # 900 s pay timeout: still reserved
            self.assertEqual(c.one("ITEM_STATUS", item=1002).available, 9)
            c.close()


if __name__ == "__main__":
    main()
