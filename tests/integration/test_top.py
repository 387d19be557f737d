"""`flashsale top` in a real terminal (tmux, detached, on its own server
socket): while flashsale-bench buys at a steady rate, the pane shows the
item's stock falling screen after screen; against a port where nothing
listens it shows the ALERT line. Skips when tmux is missing."""
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import BENCH, CLI, Daemon, ST, buy_token, free_tcp_port, main  # noqa: E402
from test_ops_listener import KEY  # noqa: E402

TMUX = shutil.which("tmux")
STOCK = 60000
ITEMS = "\n[item.1001]\nactivity = 1\ntotal = %d\nper_user_limit = 1\n" % STOCK


class Tmux:
    def __init__(self, cmd):
        self.sock = "fs-top-%d" % os.getpid()
        self.tmux(["new-session", "-d", "-s", "top", "-x", "150", "-y", "45", cmd])

    def tmux(self, args):
        return subprocess.run([TMUX, "-L", self.sock] + args, capture_output=True, text=True,
                              timeout=20, check=True).stdout

    def screen(self):
        return self.tmux(["capture-pane", "-p", "-t", "top"])

    def close(self):
        subprocess.run([TMUX, "-L", self.sock, "kill-server"], capture_output=True, timeout=20)


@unittest.skipIf(TMUX is None, "tmux is not installed (scripts/install-deps.sh)")
class Top(unittest.TestCase):
    def test_stock_falls_during_a_bench_run(self):
        port = free_tcp_port()
        with Daemon(admin_port=port, admin_key=KEY, items=ITEMS,
                    limits="max_orders = %d" % STOCK) as d:
            t = Tmux("%s top --admin 127.0.0.1:%d --interval-ms 300" % (CLI, port))
            bench = None
            try:
                bench = subprocess.Popen(
                    [BENCH, "--config", d.config, "--users", str(STOCK), "--rate", "12000",
                     "--threads", "1", "--no-verdict"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                seen, screens = [], []
                end = time.monotonic() + 60
                while time.monotonic() < end and bench.poll() is None:
                    s = t.screen()
                    m = re.search(r"^1001 +\[[#.]+\] +(\d+)/(\d+)", s, re.M)
                    if m:
                        self.assertEqual(int(m.group(2)), STOCK)
                        if not seen or int(m.group(1)) != seen[-1]:
                            seen.append(int(m.group(1)))
                            screens.append(s)
                    time.sleep(0.3)
                bench.wait(60)
                print("stock seen by top: %s" % seen, flush=True)
                self.assertGreaterEqual(len(seen), 3, "top never showed the stock moving:\n"
                                        + (screens[-1] if screens else t.screen()))
                self.assertEqual(seen, sorted(seen, reverse=True))
                self.assertLess(seen[-1], STOCK)
                last = screens[-1]
                self.assertIn("flashsale top", last)
                self.assertRegex(last, r"requests/s +OK \d+")
                self.assertRegex(last, r"workers busy %:  0: \d+%  1: \d+%")
                self.assertRegex(last, r"commit latency p99 (-|<= \d+\w+|> \d+s) +"
                                       r"decision latency p99 (<=|>) \d+")
                # A slow (sanitizer) build may fill a hand-off ring: then top
                # rightly says so; a storage alert would be wrong.
                self.assertRegex(last, r"no alerts|ALERT: hand-off ring full")
                self.assertNotIn("UNAVAILABLE", last)
            finally:
                if bench and bench.poll() is None:
                    bench.kill()
                    bench.wait()
                t.close()

    def test_alert_when_unreachable(self):
        port = free_tcp_port()
        t = Tmux("%s top --admin 127.0.0.1:%d --interval-ms 200" % (CLI, port))
        try:
            end = time.monotonic() + 10
            s = ""
            while time.monotonic() < end and "ALERT" not in s:
                time.sleep(0.2)
                s = t.screen()
            self.assertIn("ALERT: cannot read /metrics", s)
        finally:
            t.close()

    def test_alert_when_a_shard_is_unavailable(self):
        port = free_tcp_port()
        d = Daemon(admin_port=port, workers=1)
        d.start(env=dict(os.environ, FLASHSALE_TEST_FAULT="write-eio:0"))
        try:
            c = d.client()
            self.assertEqual(c.one("BUY", user=1, rid=1, item=1001, qty=1,
                                   token=buy_token(1, 1)).status, ST["UNAVAILABLE"])
            c.close()
            p = subprocess.run([CLI, "top", "--admin", "127.0.0.1:%d" % port, "--iterations", "2",
                                "--interval-ms", "200"], capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 0, p.stderr)
            last = p.stdout.split("\033[H\033[2J")[-1]
            self.assertIn("ALERT:", last)
            self.assertIn("shard 0 UNAVAILABLE", last)
            self.assertIn("storage fault", last)
            self.assertIn("not ready", last)
        finally:
            self.assertEqual(d.stop(check=False), 3)

    def test_help(self):
        p = subprocess.run([CLI, "top", "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("--admin ADDR:PORT", p.stdout)
        p = subprocess.run([CLI, "top", "--admin", "nonsense"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("expected IPv4:PORT", p.stderr)


if __name__ == "__main__":
    main()
