"""The flashsale CLI against the real daemon: buy, confirm, cancel, order,
item, time; human and JSON output; exit codes."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import CLI, Daemon, free_port, main  # noqa: E402

KEYS = ["--token-key", "000102030405060708090a0b0c0d0e0f", "--activity", "1",
        "--payment-key", "f0e0d0c0b0a090807060504030201000"]


class Cli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        cls.d.start()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()

    def cli(self, *args):
        return subprocess.run([CLI, "--port", str(self.d.port), *args], capture_output=True,
                              text=True, timeout=30)

    def cli_json(self, *args):
        p = self.cli("--json", *args)
        return p.returncode, json.loads(p.stdout.strip().splitlines()[-1])

    def test_buy_confirm_order_json(self):
        rc, j = self.cli_json("buy", "--user", "777", "--request-id", "42", "--item", "1001", *KEYS)
        self.assertEqual((rc, j["status"], j["op"]), (0, "OK", "BUY"), j)
        order = str(j["order_id"])
        rc, j = self.cli_json("confirm", "--user", "777", "--request-id", "43", "--order", order,
                              "--ref", "9", *KEYS)
        self.assertEqual((rc, j["status"], j["state"]), (0, "OK", "PAID"), j)
        rc, j = self.cli_json("order", "--user", "777", "--request-id", "44", "--order", order, *KEYS)
        self.assertEqual((rc, j["state"]), (0, "PAID"))
        rc, j = self.cli_json("cancel", "--user", "777", "--request-id", "45", "--order", order, *KEYS)
        self.assertEqual((rc, j["status"]), (1, "WRONG_STATE"))

    def test_human_output_and_config_keys(self):
        p = self.cli("--config", self.d.config, "buy", "--user", "5", "--item", "1001")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertRegex(p.stdout, r"BUY OK order=\d+")
        p = self.cli("item", "--item", "1001")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("available=", p.stdout)
        p = self.cli("time")
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_non_ok_and_errors(self):
        p = self.cli("buy", "--user", "6", "--item", "1001")  # no token
        self.assertEqual(p.returncode, 1)
        self.assertIn("BAD_TOKEN", p.stdout)
        p = self.cli("buy", "--user", "6")
        self.assertEqual(p.returncode, 2)
        p = subprocess.run([CLI, "--port", str(free_port()), "--timeout-ms", "100", "--retries", "1", "time"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 3)
        p = subprocess.run([CLI, "--help"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0)

    def test_export_runs_flashsale_export(self):
        # `flashsale export` is flashsale-export (only it links libpq).
        if not os.path.exists(os.path.join(os.path.dirname(CLI), "flashsale-export")):
            self.skipTest("flashsale-export not built (libpq-dev missing)")
        p = subprocess.run([CLI, "export", "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("usage: flashsale-export --config FILE --db CONNINFO", p.stdout + p.stderr)
        p = subprocess.run([CLI, "export", "--config"], capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)


if __name__ == "__main__":
    main()
