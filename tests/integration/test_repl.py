"""Hot standby ([replication], app/fs_repl.c): two real daemons on loopback.

- a standby follows the primary; after promote its items and orders equal
  the primary's, and retries get their original answers;
- ack = standby, kill -9 of the primary under BUY load, promote: every OK a
  client received is on the new primary, retries get the original order;
  the restarted old primary is fenced (UNAVAILABLE, /readyz 503) and then
  refuses to start as a primary; a new standby of the promoted one catches up;
- ack = standby, one BUY at a time: every answer arrives although the
  workers sleep long when idle (the standby's ACK wakes them);
- ack = standby with no standby: bounded wait, then UNAVAILABLE (wait) or
  local acks (degrade), logged and counted in /metrics;
- a proxy on the link that flips a byte of a record and cuts frames short:
  the standby refuses the frame, writes nothing of it, reconnects, and ends
  equal to the primary.
Bounded: a few thousand requests, seconds per case; no timing assertions.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
from test_durability import Loader  # noqa: E402
from fsp import CLI, DAEMON, ST, STATE, Client, Daemon, buy_token, free_tcp_port, req, main  # noqa: E402

KEY = "6b" * 32
ITEMS = """
[item.1001]
activity = 1
total = 100000
per_user_limit = 5
max_per_order = 1

[item.1002]
activity = 1
total = 100000
per_user_limit = 5
max_per_order = 1
"""


def node(repl, durability="sync"):
    port = free_tcp_port()
    d = Daemon(admin_port=port, admin_key=KEY, items=ITEMS, limits="max_orders = 400000",
               extra="[replication]\n" + repl)
    with open(d.config) as f:
        text = f.read()
    with open(d.config, "w") as f:
        f.write(text.replace("durability = none", "durability = " + durability))
    d.http = port
    return d


def set_repl(d, repl):
    with open(d.config) as f:
        text = f.read()
    text = text[:text.index("[replication]")] + "[replication]\n" + repl
    with open(d.config, "w") as f:
        f.write(text)


def call(d, method, path):
    r = urllib.request.Request("http://127.0.0.1:%d%s" % (d.http, path),
                               data=b"" if method == "POST" else None, method=method)
    r.add_header("Authorization", "Bearer " + KEY)
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            body = resp.read()
            return resp.status, body
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def check(d):
    st, body = call(d, "GET", "/admin/promote")
    assert st == 200, (st, body)
    return json.loads(body)


def metric(d, name):
    st, body = call(d, "GET", "/metrics")
    m = re.search(r"^flashsale_%s (\S+)$" % name, body.decode(), re.M)
    return float(m.group(1)) if m else None


def wait_for(fn, what, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def wait_log(d, text, timeout=20.0):
    wait_for(lambda: text in d.output(), repr(text), timeout)


def audit_against(a, b):
    """flashsale audit --against: (exit status, output)."""
    env = dict(os.environ, FLASHSALE_ADMIN_KEY=KEY)
    out = subprocess.run([CLI, "audit", "--config", a.config, "--against",
                          "127.0.0.1:%d" % b.http], capture_output=True, text=True, env=env,
                         timeout=60)
    return out.returncode, out.stdout + out.stderr


def promote(s):
    st, body = call(s, "POST", "/admin/promote")
    assert st == 200, (st, body)
    ans = json.loads(body)
    assert ans["promoted"] is True
    wait_log(s, " ready: FSP/1")
    return ans


def buy_some(c, base, n):
    """n sequential BUYs; {(user, rid): (order, item)} of the OKs."""
    oks = {}
    for k in range(n):
        u = base + k
        item = 1001 + k % 2
        r = c.one("BUY", user=u, rid=1, item=item, qty=1, token=buy_token(u, 1))
        if r.status == ST["OK"]:
            oks[(u, 1)] = (r.order_id, item)
    return oks


def verify(test, d, oks, sample_retries=200):
    c = d.client()
    for (user, rid), (order, item) in oks.items():
        s = c.one("ORDER_STATUS", user=user, rid=rid + 1000, order=order,
                  token=buy_token(user, 1))
        test.assertEqual(s.status, ST["OK"], "lost acknowledged order %d of user %d" % (order, user))
        test.assertEqual((s.state, s.item_id), (STATE["RESERVED"], item))
    for (user, rid), (order, item) in list(oks.items())[:sample_retries]:
        r = c.one("BUY", user=user, rid=rid, item=item, qty=1, token=buy_token(user, 1))
        test.assertEqual((r.status, r.order_id), (ST["OK"], order), "retry of user %d" % user)
    avail = {it: c.one("ITEM_STATUS", item=it).available for it in (1001, 1002)}
    c.close()
    return avail


class Proxy(threading.Thread):
    """TCP proxy standby -> primary. Per connection, in order: "flip" flips
    one bit at byte 300 of the primary->standby stream and goes on
    forwarding (the standby must refuse the frame and close); "cut"
    forwards up to mid-frame and closes (FIN). After `faults` faulty
    connections it forwards transparently."""

    def __init__(self, target_port, faults):
        super().__init__(daemon=True)
        self.target = target_port
        self.faults = list(faults)
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(4)
        self.port = self.ls.getsockname()[1]
        self.done = threading.Event()

    def run(self):
        self.ls.settimeout(0.2)
        while not self.done.is_set():
            try:
                a, _ = self.ls.accept()
            except socket.timeout:
                continue
            try:
                b = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                a.close()
                continue
            mode = self.faults.pop(0) if self.faults else None
            threading.Thread(target=self.pump, args=(a, b, None), daemon=True).start()
            threading.Thread(target=self.pump, args=(b, a, mode), daemon=True).start()

    @staticmethod
    def pump(src, dst, mode):
        seen = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if mode and seen + len(data) > 300:
                    at = max(0, 300 - seen)
                    if mode == "flip":  # one bit, then carry on: the standby must notice
                        data = data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1:]
                        mode = None
                    else:  # cut: part of the chunk only, mid-frame, then FIN
                        dst.sendall(data[:at + 37])
                        dst.shutdown(socket.SHUT_WR)
                        break
                seen += len(data)
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class Replication(unittest.TestCase):
    def pair(self, ack="local", loss="wait", via_proxy=None, durability="sync"):
        lport = free_tcp_port()
        p = node("listen = 127.0.0.1:%d\nack = %s\nstandby_timeout_ms = 2000\n"
                 "on_standby_loss = %s\n" % (lport, ack, loss), durability)
        target = via_proxy(lport) if via_proxy else lport
        s_listen = free_tcp_port()  # serves standbys after its promote
        s = node("role = standby\nprimary = 127.0.0.1:%d\nlisten = 127.0.0.1:%d\n"
                 % (target, s_listen), durability)
        s.lport_listen = s_listen
        return p, s

    def test_follow_and_promote(self):
        p, s = self.pair()
        p.start()
        s.start()
        self.assertIn("STANDBY", s.output())
        st, body = call(s, "GET", "/readyz")
        self.assertEqual(st, 503)
        self.assertIn(b"standby", body)
        # the standby answers no purchases
        c = p.client()
        oks = buy_some(c, 10**6, 400)
        self.assertEqual(len(oks), 400)
        c.close()
        wait_for(lambda: check(p)["connected"] and check(p)["lag_records"] == 0 and
                 sum(check(s)["lsn"]) >= 400, "the standby to have every record")
        want = verify(self, p, {})
        self.assertEqual(metric(s, "replication_connected"), 1)
        rc, out = audit_against(p, s)
        self.assertEqual(rc, 0, out)
        self.assertIn("the same records at the same LSNs", out)
        self.assertIn("shard 1: LSN 1..", out)
        # ... and the same state at the common LSNs: per-item counts, orders
        self.assertIn("the same item counts and orders at the same LSNs", out)
        for item in (1001, 1002):
            self.assertRegex(out, r"item %d \(shard \d\): total 100000 available \d+ "
                             r"reserved \d+ paid 0 \(equal\)" % item)
        self.assertRegex(out, r"shard 0: at LSN \d+: \d+ orders, digest ([0-9a-f]{16}) == "
                         r"\d+ orders, digest \1")
        p.stop()
        env = dict(os.environ, FLASHSALE_ADMIN_KEY=KEY)
        cli = [CLI, "admin", "promote", "--config", s.config]
        out = subprocess.run(cli + ["--check"], capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        chk = json.loads(out.stdout)
        self.assertEqual((chk["role"], chk["promoted"]), ("standby", False))
        self.assertGreaterEqual(sum(chk["lsn"]), 400)
        out = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        ans = json.loads(out.stdout)
        self.assertEqual((ans["promoted"], ans["epoch"]), (True, 1))
        wait_log(s, " ready: FSP/1")
        # a second promote is refused: it is the primary now
        out = subprocess.run(cli, capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(out.returncode, 1)
        got = verify(self, s, oks)
        self.assertEqual(got, want)
        self.assertIn("audit ok", s.output())
        s.stop()

    def test_audit_against_different_state(self):
        """Two appliances with other sales: audit --against names the item
        and the shard whose state differs at the common LSNs (exit 1)."""
        p = node("listen = 127.0.0.1:%d\n" % free_tcp_port())
        q = node("listen = 127.0.0.1:%d\n" % free_tcp_port())
        p.start()
        q.start()
        env = dict(os.environ, FLASHSALE_ADMIN_KEY=KEY)
        out = subprocess.run([CLI, "admin", "stock", "--config", q.config, "--item", "1001",
                              "--delta", "-7"], capture_output=True, text=True, env=env,
                             timeout=30)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        for d in (p, q):
            c = d.client()
            for k in range(20):  # item 1001 only: one shard
                u = 9 * 10**6 + k
                r = c.one("BUY", user=u, rid=1, item=1001, qty=1, token=buy_token(u, 1))
                self.assertEqual(r.status, ST["OK"])
            c.close()
        rc, out = audit_against(p, q)
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"item 1001 \(shard \d\): here total 100000 .*there total "
                         r"99993 .*DIFFERENT")
        self.assertRegex(out, r"shard \d: at LSN \d+: .* != .*DIFFERENT orders")
        self.assertIn("states disagree", out)
        # an appliance against itself: equal
        rc, out = audit_against(p, p)
        self.assertEqual(rc, 0, out)
        self.assertIn("the same item counts and orders at the same LSNs", out)
        # the endpoint: one LSN per shard; a snapshot past an LSN is 409
        st, body = call(p, "GET", "/admin/state/5")
        self.assertEqual(st, 400, body)
        st, body = call(p, "POST", "/admin/snapshot")
        self.assertEqual(st, 200, body)
        st, body = call(p, "GET", "/admin/state/0,0")
        self.assertEqual(st, 409, body)
        self.assertIn(b"snapshot", body)
        p.stop()
        q.stop()

    def test_ack_standby_kill9_promote_fence(self):
        p, s = self.pair(ack="standby")
        p.start()
        s.start()
        wait_for(lambda: check(p)["connected"], "the standby to connect")
        load = Loader(p.port, user_base=5 * 10**6, max_msgs=60000)
        load.start()
        time.sleep(1.0)
        p.proc.send_signal(signal.SIGKILL)  # under load
        p.proc.wait(timeout=10)
        load.stop.set()
        load.join(timeout=20)
        self.assertGreater(len(load.oks), 0, "no OK before the kill")
        promote(s)
        verify(self, s, load.oks)
        self.assertIn("audit ok", s.output())
        # the old primary comes back as a primary: fenced off
        p.start()
        wait_log(p, "FENCED by epoch 1", timeout=15)
        c = p.client()
        r = c.one("BUY", user=77, rid=1, item=1001, qty=1, token=buy_token(77, 1))
        self.assertEqual(r.status, ST["UNAVAILABLE"])
        c.close()
        st, body = call(p, "GET", "/readyz")
        self.assertEqual(st, 503)
        self.assertIn(b"fenced", body)
        self.assertEqual(metric(p, "replication_fenced"), 1)
        p.stop(check=False)
        # ... and refuses to start as a primary again
        out = subprocess.run([DAEMON, "--config", p.config], capture_output=True, text=True,
                             timeout=30)
        self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
        self.assertIn("FENCED OFF", out.stdout + out.stderr)
        # rejoined as a standby of the promoted appliance: it discards its
        # unreplicated tail (if any) and catches up
        set_repl(p, "role = standby\nprimary = 127.0.0.1:%d\n" % s.lport_listen)
        p.start()
        wait_for(lambda: check(s)["connected"] and check(s)["lag_records"] == 0 and
                 check(p)["lsn"] == check(s)["lsn"], "the old primary to rejoin and catch up")
        p.stop()
        # and it could take over again: everything acknowledged is there
        promote_ok = subprocess.run([DAEMON, "--config", p.config, "--check"],
                                    capture_output=True, text=True, timeout=30)
        self.assertEqual(promote_ok.returncode, 0)
        s.stop()

    def test_old_primary_tail_discarded_on_rejoin(self):
        p, s = self.pair()  # ack = local: the primary may run ahead
        p.start()
        s.start()
        c = p.client()
        oks = buy_some(c, 6 * 10**6, 100)
        wait_for(lambda: check(p)["connected"] and check(p)["lag_records"] == 0,
                 "the standby to follow")
        s.stop()
        tail = buy_some(c, 7 * 10**6, 60)  # only on the primary: its tail
        c.close()
        # a crash: no shutdown snapshot (one past the tail would make the
        # tail impossible to cut; then the new primary's refusal says reseed)
        p.proc.send_signal(signal.SIGKILL)
        p.proc.wait(timeout=10)
        s.start()  # the primary is gone; the standby takes over at its LSNs
        promote(s)
        c = s.client()
        oks.update(buy_some(c, 8 * 10**6, 40))  # epoch 1 writes the same LSNs anew
        c.close()
        set_repl(p, "role = standby\nprimary = 127.0.0.1:%d\n" % s.lport_listen)
        p.start()
        wait_log(p, "DISCARDED")
        wait_for(lambda: check(s)["connected"] and check(s)["lag_records"] == 0 and
                 check(p)["lsn"] == check(s)["lsn"], "the old primary to catch up")
        rc, out = audit_against(s, p)
        self.assertEqual(rc, 0, out)
        want = verify(self, s, {})
        s.stop()
        p.stop()
        # the rejoined old primary holds exactly the new primary's history
        set_repl(p, "role = standby\nprimary = 127.0.0.1:%d\n" % free_tcp_port())
        p.start()
        promote(p)
        self.assertEqual(verify(self, p, oks), want)
        c = p.client()
        for (user, rid), (order, item) in list(tail.items())[:20]:
            r = c.one("ORDER_STATUS", user=user, rid=rid + 1000, order=order,
                      token=buy_token(user, 1))
            self.assertNotEqual((r.status, r.user_id), (ST["OK"], user))
        c.close()
        p.stop()

    def test_ack_standby_lone_buys_woken(self):
        """One BUY at a time with ack = standby: each OK is held until the
        standby's ACK, and the ACK wakes the sleeping worker (gate eventfd),
        as a group commit wakes the replication sender (wal_notify). The
        primary's workers sleep up to idle_sleep_us = 1 s when idle, so a
        lost wake-up would leave an answer waiting for that sleep to end
        (about 1 s each). Every answer must arrive, and at most a tenth may
        take longer than half the idle sleep (an occasional slow fsync on a
        loaded machine), so broken wake-ups fail (every answer then waits
        ~1 s) while a slow machine does not; not a speed target: an answer
        normally takes about a millisecond."""
        p, s = self.pair(ack="standby")
        with open(p.config) as f:
            text = f.read()
        with open(p.config, "w") as f:
            f.write(re.sub(r"idle_sleep_us = \d+", "idle_sleep_us = 1000000", text))
        p.start()
        s.start()
        wait_for(lambda: check(p)["connected"], "the standby to connect")
        c = p.client()
        slow = 0
        for k in range(150):
            u = 7 * 10**6 + k
            t0 = time.monotonic()
            r = c.call(req("BUY", user=u, rid=1, item=1001 + k % 2, qty=1,
                           token=buy_token(u, 1)), timeout=10)[0]
            slow += time.monotonic() - t0 > 0.5
            self.assertIsNotNone(r, "BUY %d: no answer" % k)
            self.assertEqual(r.status, ST["OK"], "BUY %d" % k)
        c.close()
        self.assertLessEqual(slow, 15, "%d of 150 answers waited for the worker's idle sleep "
                             "(lost wake-ups)" % slow)
        self.assertNotIn("records wait for it", p.output())
        self.assertGreaterEqual(sum(check(p)["lsn"]), 150)
        p.stop()
        s.stop()

    def test_no_standby_wait_then_degrade(self):
        for loss, want in (("wait", "UNAVAILABLE"), ("degrade", "OK")):
            p = node("listen = 127.0.0.1:%d\nack = standby\nstandby_timeout_ms = 300\n"
                     "on_standby_loss = %s\n" % (free_tcp_port(), loss))
            p.start()
            c = p.client()
            r = c.call(req("BUY", user=1, rid=1, item=1001, qty=1, token=buy_token(1, 1)),
                       timeout=10)[0]
            self.assertEqual(r.status, ST[want], loss)
            wait_log(p, "records wait for it")
            if loss == "degrade":
                self.assertIn("DEGRADED to local acks", p.output())
                wait_for(lambda: metric(p, "replication_acks_degraded_total") == 1,
                         "acks_degraded_total 1 in /metrics (published each second)")
            wait_for(lambda: metric(p, "replication_standby_lost") == 1, "standby_lost 1")
            c.close()
            p.stop()

    def test_degrade_waits_for_a_handshake_after_restart(self):
        """A primary that had a standby and restarts without it must not
        acknowledge on its own (ack = standby with degrade, or ack = local)
        before a standby has connected again: that standby may have been
        promoted meanwhile (its FENCE still on the way), and a returning old
        primary must not accept a single BUY."""
        for ack in ("standby", "local"):
            with self.subTest(ack=ack):
                self.restart_without_standby(ack)

    def restart_without_standby(self, ack):
        p, s = self.pair(ack=ack, loss="degrade")
        p.start()
        s.start()
        wait_for(lambda: check(p)["connected"], "the standby to connect")
        c = p.client()
        r = c.call(req("BUY", user=1, rid=1, item=1001, qty=1, token=buy_token(1, 1)),
                   timeout=10)[0]
        self.assertEqual(r.status, ST["OK"])
        c.close()
        consumer = os.path.join(p.tmp, "data", "consumers", "standby")
        wait_for(lambda: os.path.exists(consumer), "the standby's consumer file")
        s.stop()
        p.stop()
        p.start()  # the standby is not there
        self.assertIn("until a standby connects", p.output())
        c = p.client()
        r = c.call(req("BUY", user=2, rid=1, item=1001, qty=1, token=buy_token(2, 1)),
                   timeout=10)[0]
        self.assertEqual(r.status, ST["UNAVAILABLE"], "degraded before any handshake")
        self.assertNotIn("DEGRADED to local acks", p.output())
        s.start()
        wait_for(lambda: check(p)["connected"], "the standby to reconnect")
        r = c.call(req("BUY", user=3, rid=1, item=1001, qty=1, token=buy_token(3, 1)),
                   timeout=10)[0]
        self.assertEqual(r.status, ST["OK"])
        c.close()
        p.stop()
        s.stop()

    def test_lagging_standby_reseeded_from_snapshot(self):
        lport = free_tcp_port()
        p = node("listen = 127.0.0.1:%d\n" % lport)
        with open(p.config) as f:
            text = f.read()
        with open(p.config, "w") as f:
            f.write(text.replace("[persist]\n", "[persist]\nsnapshot_interval_s = 1\n"
                                 "consumer_retention_mb = 0\n"))
        s = node("role = standby\nprimary = 127.0.0.1:%d\n" % lport)
        env = dict(os.environ, FLASHSALE_TEST_SEGMENT_BYTES="4096")
        p.start(env=env)
        s.start()
        c = p.client()
        oks = buy_some(c, 3 * 10**6, 50)
        wait_for(lambda: check(p)["connected"] and check(p)["lag_records"] == 0,
                 "the standby to follow")
        s.stop()
        oks.update(buy_some(c, 4 * 10**6, 600))  # ~10 segments per shard
        c.close()
        wait_log(p, "consumer standby cut loose", timeout=15)
        s.start()
        wait_log(s, "snapshot installed", timeout=15)
        wait_for(lambda: check(p)["connected"] and check(p)["lag_records"] == 0,
                 "the reseeded standby to catch up")
        self.assertGreaterEqual(metric(s, "replication_snapshots_total"), 1)
        want = verify(self, p, {})
        p.stop()
        promote(s)
        self.assertEqual(verify(self, s, oks), want)
        s.stop()

    def test_link_faults_never_apply_a_torn_record(self):
        proxies = []

        def via(lport):
            pr = Proxy(lport, ["flip", "cut", "cut"])
            pr.start()
            proxies.append(pr)
            return pr.port

        p, s = self.pair(via_proxy=via)
        p.start()
        c = p.client()
        oks = buy_some(c, 2 * 10**6, 300)
        c.close()
        s.start()
        wait_for(lambda: check(p)["connected"] and check(p)["lag_records"] == 0 and
                 sum(check(s)["lsn"]) >= 300, "the standby to catch up through the proxy")
        out = s.output()
        self.assertIn("nothing of it written", out)  # the flipped frame
        self.assertGreaterEqual(metric(s, "replication_refused_total"), 1)
        want = verify(self, p, {})
        p.stop()
        proxies[0].done.set()
        promote(s)
        self.assertEqual(verify(self, s, oks), want)
        s.stop()


if __name__ == "__main__":
    main()
