"""flashsale-bench against the real daemon: a short sale to its verdict."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import BENCH, Daemon, main  # noqa: E402

ITEMS = """
[item.1001]
activity = 1
total = 300
per_user_limit = 2
max_per_order = 1

[item.1002]
activity = 1
total = 120
per_user_limit = 1
max_per_order = 1
"""


class Bench(unittest.TestCase):
    def test_sale_verdict_pass(self):
        with Daemon(items=ITEMS) as d:
            for batch in ("1", "16"):
                p = subprocess.run([BENCH, "--config", d.config, "--users", "2000", "--attempts", "2",
                                    "--batch", batch, "--threads", "2", "--json"],
                                   capture_output=True, text=True, timeout=120)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
                j = json.loads(p.stdout.strip().splitlines()[-1])
                self.assertIn("verdict", json.dumps(j))
                self.assertIn("PASS", json.dumps(j))


if __name__ == "__main__":
    main()
