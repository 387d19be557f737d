"""The daemon as a systemd service: systemd/flashsaled.service passes
`systemd-analyze verify` (skipped when systemd-analyze is missing), the real
daemon sends READY=1 to $NOTIFY_SOCKET (a path and an abstract name) once
/readyz is 200 and STOPPING=1 on SIGTERM, and SIGHUP is logged and changes
nothing."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import DAEMON, Daemon, free_tcp_port, main, scratch_dir  # noqa: E402
from test_ops_listener import get  # noqa: E402

UNIT = os.path.join(os.path.dirname(__file__), "..", "..", "systemd", "flashsaled.service")


def notify_socket(tmp, abstract=False):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = "@flashsale-test-%d-%d" % (os.getpid(), time.monotonic_ns())
        s.bind("\0" + name[1:])
    else:
        name = os.path.join(tmp, "notify.sock")
        s.bind(name)
    s.settimeout(30)
    return s, name


class Systemd(unittest.TestCase):
    def test_unit_verifies(self):
        sa = shutil.which("systemd-analyze")
        if sa is None:
            self.skipTest("systemd-analyze is not installed")
        tmp = scratch_dir("fs-unit-")
        unit = os.path.join(tmp, "flashsaled.service")
        with open(UNIT) as f:
            text = f.read()
        for key in ("Type=notify", "RestartPreventExitStatus=2 3", "LimitMEMLOCK=",
                    "--check", "ExecReload=/bin/kill -HUP $MAINPID"):
            self.assertIn(key, text)
        self.assertNotIn("--init", text.split("[Unit]")[1])  # only in the comment above
        with open(unit, "w") as f:  # verify checks that ExecStart's binary exists
            f.write(text.replace("/usr/local/bin/flashsaled", os.path.abspath(DAEMON)))
        p = subprocess.run([sa, "verify", unit], capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def check_ready(self, abstract):
        port = free_tcp_port()
        d = Daemon(admin_port=port)
        sock, name = notify_socket(d.tmp, abstract)
        try:
            d.start(env=dict(os.environ, NOTIFY_SOCKET=name))
            msg = sock.recv(4096).decode()
            self.assertIn("READY=1", msg.split("\n"))
            self.assertEqual(get(port, "/readyz")[0], 200)  # ready means ready
            self.assertEqual(d.stop(), 0)
            self.assertIn("STOPPING=1", sock.recv(4096).decode().split("\n"))
        finally:
            d.stop(check=False)
            sock.close()

    def test_notify_ready_path(self):
        self.check_ready(abstract=False)

    def test_notify_ready_abstract(self):
        self.check_ready(abstract=True)

    def test_sighup_changes_nothing(self):
        port = free_tcp_port()
        with Daemon(admin_port=port) as d:
            d.proc.send_signal(signal.SIGHUP)
            end = time.monotonic() + 10
            while "SIGHUP" not in d.output() and time.monotonic() < end:
                time.sleep(0.05)
            self.assertIn("SIGHUP: nothing is reloadable yet", d.output())
            self.assertIsNone(d.proc.poll())
            self.assertEqual(get(port, "/readyz")[0], 200)
            self.assertEqual(d.client().one("TIME").status, 0)


if __name__ == "__main__":
    main()
