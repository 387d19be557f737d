"""Per-user rate limits an attacker cannot steer (issue "Hardening", finding 4).

The daemon used to find a user's token bucket by an unkeyed hash into a
direct-mapped table, and a colliding user id took the slot over with a FULL
bucket: alternating two colliding ids let every request through. The two ids
below collide under that old hash (computed here from its code:
store_mix64(id) & (DP_RL_SLOTS - 1)); with the keyed, set-associative table
each keeps its own bucket and is limited."""
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import Daemon, ST, req, dgram, main  # noqa: E402

M64 = (1 << 64) - 1
RL_SLOTS = 65536  # DP_RL_SLOTS in dataplane/dp_internal.h
RATE, BURST = 10, 10


def old_mix64(x):
    """store_mix64 of store/store_internal.h: the hash the old table used."""
    x ^= x >> 33
    x = (x * 0xff51afd7ed558ccd) & M64
    x ^= x >> 33
    x = (x * 0xc4ceb9fe1a85ec53) & M64
    x ^= x >> 33
    return x


def colliding_pair(base=4242):
    slot = old_mix64(base) & (RL_SLOTS - 1)
    other = base + 1
    while old_mix64(other) & (RL_SLOTS - 1) != slot:
        other += 1
    return base, other


class RateLimit(unittest.TestCase):
    def test_colliding_user_ids_are_both_limited(self):
        a, b = colliding_pair()
        self.assertEqual(old_mix64(a) & (RL_SLOTS - 1), old_mix64(b) & (RL_SLOTS - 1))
        limits = "per_user_rate = %d\nper_user_burst = %d" % (RATE, BURST)
        with Daemon(limits=limits) as d:
            c = d.client()  # one socket: every datagram reaches the same worker
            sent = passed = limited = 0
            t0 = time.monotonic()
            for k in range(25):  # 500 requests, alternating the two ids
                msgs = [req("ITEM_STATUS", user=(a if i % 2 == 0 else b), rid=k * 20 + i + 1,
                            item=1001) for i in range(20)]
                c.send(dgram(*msgs))
                for r in c.recv_all(len(msgs), timeout=5):
                    if r.status == ST["RATE_LIMITED"]:
                        limited += 1
                        self.assertGreaterEqual(r.retry_after_ms, 1)
                    else:
                        passed += 1
                sent += len(msgs)
            elapsed = time.monotonic() - t0
            c.close()
        self.assertEqual(passed + limited, sent)
        # each id: its burst plus what refilled while we sent (with slack for
        # rounding), never the 500 the old table let through
        bound = 2 * (BURST + RATE * elapsed) + 4
        self.assertLessEqual(passed, bound, "passed %d of %d in %.2fs" % (passed, sent, elapsed))
        self.assertGreaterEqual(passed, 2 * BURST)


if __name__ == "__main__":
    main()
