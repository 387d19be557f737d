"""Bad configuration stops flashsaled before it opens a port, with a message
naming file, line and key; --check validates and exits."""
import os
import socket
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import DAEMON, Daemon, free_port, make_config, main, scratch_dir  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


class ConfigErrors(unittest.TestCase):
    def run_daemon(self, path, *args):
        return subprocess.run([DAEMON, "--config", path, *args], capture_output=True, text=True,
                              timeout=30)

    def test_check_shipped_configs(self):
        for name in ("flashsale.ini", "flashsale-dpdk.ini"):
            p = self.run_daemon(os.path.join(ROOT, "config", name), "--check")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("configuration OK", p.stdout)

    def test_errors_name_file_line_key_and_open_no_port(self):
        tmp = scratch_dir("fs-cfg-")
        port = free_port()
        good = make_config(tmp, port)
        text = open(good).read()
        cases = [
            ("workers = 2", "workers = banana", "[appliance] workers"),
            ("mode = kernel", "mode = kernel\nfrobnicate = 1", "[appliance] frobnicate"),
            ("[item.1001]", "[item.1001]\ntotal = 5\n[item.1001]", "[item.1001]"),
            ("activity = 1\ntotal = 100", "activity = 9\ntotal = 100", "[item.1001] activity"),
            ("max_orders = 100000", "max_orders = 10", "max_orders"),
            ("udp_port = %d" % port, "udp_port = 70000", "[net] udp_port"),
        ]
        for old, new, needle in cases:
            with self.subTest(needle):
                self.assertIn(old, text)
                path = os.path.join(tmp, "bad.ini")
                with open(path, "w") as f:
                    f.write(text.replace(old, new, 1))
                p = self.run_daemon(path)
                self.assertEqual(p.returncode, 2, p.stderr)
                self.assertRegex(p.stderr, r"bad\.ini:\d+: ")
                self.assertIn(needle, p.stderr)
                self.assertTrue(port_free(port))
        p = self.run_daemon(os.path.join(tmp, "missing.ini"))
        self.assertEqual(p.returncode, 2)
        self.assertIn("missing.ini", p.stderr)

    def test_second_daemon_refused(self):
        """SO_REUSEPORT would let a second daemon share the port and sell the
        stock twice: it must refuse, by port and by data directory."""
        with Daemon() as d:
            other = scratch_dir("fs-cfg-")
            same_port = make_config(other, d.port)
            p = self.run_daemon(same_port, "--init")  # a new appliance, the same port
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("already in use", p.stderr)
            same_dir = os.path.join(other, "same-dir.ini")
            with open(same_dir, "w") as f:
                f.write(open(d.config).read().replace("udp_port = %d" % d.port,
                                                      "udp_port = %d" % free_port()))
            p = self.run_daemon(same_dir)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("in use by another flashsaled", p.stderr)
            self.assertEqual(d.client().one("TIME").status, 0)

    def test_usage(self):
        p = subprocess.run([DAEMON], capture_output=True, text=True)
        self.assertEqual(p.returncode, 2)
        self.assertIn("--config", p.stderr)
        p = subprocess.run([DAEMON, "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)
        self.assertIn("usage:", p.stdout)


if __name__ == "__main__":
    main()
