#!/usr/bin/env python3
"""End-to-end benchmark of the kernel-mode appliance on this machine.

In one run, interleaved so that machine noise hits every subject alike:
  - the ceiling: tests/bench_echo (recvmmsg/sendmmsg echo, same SO_REUSEPORT
    socket setup as the appliance, same number of workers);
  - flashsaled on a sold-out sale (the spike after its first milliseconds:
    rejections) and on a sale with ample stock (winning BUYs), at 1 and 16
    messages per datagram;
  - optionally a Redis Lua stock script driven by redis-benchmark (50 clients).
Each figure is the median of --runs runs. Prints a Markdown section and, with
--write, replaces the matching section of docs/benchmarks.md.

usage: scripts/bench_kernel.py [--build DIR] [--runs N] [--duration S] [--redis] [--write]
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_ready(log_path, proc, timeout=90):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            sys.exit("daemon exited at start:\n" + open(log_path).read())
        if " ready: " in open(log_path).read():
            return
        time.sleep(0.05)
    sys.exit("daemon not ready")


def bench_config(tmp, port, stock, durability):
    path = os.path.join(tmp, "bench-%d-%s.ini" % (stock, durability))
    with open(path, "w") as f:
        f.write(f"""[appliance]
mode = kernel
workers = 2
[net]
address = 127.0.0.1
udp_port = {port}
http_port = 0
[admin]
port = 0
[persist]
dir = {tmp}/data-{stock}-{durability}
durability = {durability}
[limits]
max_orders = {2 * stock + 1000}
[activity.1]
name = bench
start = now-1s
end = now+1h
require_token = yes
token_key = 000102030405060708090a0b0c0d0e0f
payment_key = f0e0d0c0b0a090807060504030201000
[item.1001]
activity = 1
total = {stock}
per_user_limit = 1000
max_per_order = 1
[item.1002]
activity = 1
total = {stock}
per_user_limit = 1000
max_per_order = 1
""")
    return path


def run_bench(args, extra):
    cmd = [os.path.join(args.build, "app", "flashsale-bench"), "--loop", "--duration",
           str(args.duration), "--threads", "2", "--json"] + extra
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60)
    if p.returncode not in (0, 1):
        sys.exit("bench failed: %s\n%s" % (" ".join(cmd), p.stderr))
    return json.loads(p.stdout.strip().splitlines()[-1]), " ".join(cmd)


class Daemon:
    def __init__(self, args, tmp, stock, durability="none"):
        self.port = free_port()
        self.config = bench_config(tmp, self.port, stock, durability)
        self.log = os.path.join(tmp, "daemon-%d-%s.log" % (stock, durability))
        data = os.path.join(tmp, "data-%d-%s" % (stock, durability))
        init = [] if os.path.exists(os.path.join(data, "MANIFEST")) else ["--init"]
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([os.path.join(args.build, "app", "flashsaled"),
                                          "--config", self.config] + init, stdout=log, stderr=log)
        wait_ready(self.log, self.proc)

    def stop(self, kill=False):
        """kill: the data is thrown away, so skip the shutdown snapshot."""
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        self.proc.wait(timeout=120)


def redis_lua(args, tmp):
    if not shutil.which("redis-server") or not shutil.which("redis-benchmark"):
        return None
    port = free_port()
    srv = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                            "--appendonly", "no", "--dir", tmp], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    cli = ["redis-cli", "-p", str(port)]
    subprocess.run(cli + ["SET", "stock:1001", "1000000000"], check=True, capture_output=True)
    # The usual seckill script: one purchase per user, then decrement stock.
    script = ("if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then return -1 end "
              "local s = tonumber(redis.call('GET', KEYS[1])) "
              "if s <= 0 then return 0 end "
              "redis.call('DECR', KEYS[1]) redis.call('SADD', KEYS[2], ARGV[1]) return 1")
    rates = []
    for _ in range(args.runs):
        p = subprocess.run(["redis-benchmark", "-p", str(port), "-c", "50", "-n", "300000", "-r",
                            "100000000", "-q", "EVAL", script, "2", "stock:1001", "buyers:1001",
                            "user:__rand_int__"], capture_output=True, text=True, timeout=300)
        m = re.search(r"([\d.]+) requests per second", p.stdout)
        if m:
            rates.append(float(m.group(1)))
    srv.terminate()
    srv.wait()
    return statistics.median(rates) if rates else None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=4)
    ap.add_argument("--redis", action="store_true")
    ap.add_argument("--write", action="store_true")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="fs-bench-")
    results = {}
    echo_port = free_port()
    echo = subprocess.Popen([os.path.join(args.build, "tests", "bench_echo"), "--port", str(echo_port),
                             "--workers", "2", "--duration", "3600"], stdout=subprocess.DEVNULL)
    soldout = Daemon(args, tmp, 100)
    # Winning runs get a fresh appliance each, with stock for the whole run.
    stock = int(args.duration * 4000000) // 2
    try:
        for run in range(args.runs):
            for batch in (1, 16):
                for name in ("echo", "soldout", "winning", "durable"):
                    fresh = None
                    if name == "echo":
                        extra = ["--echo", "--server", "127.0.0.1", "--port", str(echo_port)]
                    elif name == "soldout":
                        extra = ["--config", soldout.config, "--no-verdict"]
                    else:
                        fresh = Daemon(args, tmp, stock, "sync" if name == "durable" else "none")
                        extra = ["--config", fresh.config, "--no-verdict"]
                    j, _ = run_bench(args, extra + ["--batch", str(batch), "--seed", str(1000 * run + batch)])
                    if fresh:
                        fresh.stop(kill=True)
                        shutil.rmtree(os.path.join(tmp, "data-%d-%s" % (stock, "sync" if name == "durable" else "none")),
                                      ignore_errors=True)
                    results.setdefault((name, batch), []).append(j)
                    print("run %d batch %2d %-8s %12.0f msgs/s  p50 %7.0f us  p99 %7.0f us" % (
                        run + 1, batch, name, j["answered_msgs_per_s"], j["latency_us"]["p50"],
                        j["latency_us"]["p99"]), file=sys.stderr, flush=True)
    finally:
        echo.terminate()
        soldout.stop()
    redis = redis_lua(args, tmp) if args.redis else None

    def med(name, batch, key):
        vals = [j[key] if key != "p50" and key != "p99" else j["latency_us"][key] for j in results[(name, batch)]]
        return statistics.median(vals)

    lines = ["| batch | subject | messages/s (median of %d) | datagrams/s | p50 µs | p99 µs | vs echo ceiling |" % args.runs,
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for batch in (1, 16):
        ceiling = med("echo", batch, "answered_msgs_per_s")
        for name, label in (("echo", "echo ceiling (bench_echo)"),
                            ("soldout", "flashsaled, sold-out sale (rejections)"),
                            ("winning", "flashsaled, winning BUYs (durability none)"),
                            ("durable", "flashsaled, winning BUYs (durability sync)")):
            rate = med(name, batch, "answered_msgs_per_s")
            lines.append("| %d | %s | %.0f | %.0f | %.0f | %.0f | %.0f%% |" % (
                batch, label, rate, rate / batch, med(name, batch, "p50"), med(name, batch, "p99"),
                100.0 * rate / ceiling))
    if redis is not None:
        lines.append("")
        lines.append("Redis 7 Lua stock script (one purchase per user, then DECR), redis-benchmark "
                     "-c 50 -n 300000, median of %d: **%.0f requests/s**." % (args.runs, redis))
    cpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    section = "\n".join([
        "Measured %s on this %s-core machine with `scripts/bench_kernel.py --runs %d --duration %g%s`" % (
            time.strftime("%Y-%m-%d"), cpu, args.runs, args.duration, " --redis" if args.redis else ""),
        "(flashsale-bench with 2 threads, closed loop, 64 datagrams in flight per thread, on the same 2 cores as the server).",
        "", *lines])
    print(section)
    if args.write:
        path = os.path.join(ROOT, "docs", "benchmarks.md")
        text = open(path).read()
        start, end = "<!-- bench_kernel:start -->", "<!-- bench_kernel:end -->"
        text = re.sub(re.escape(start) + ".*?" + re.escape(end), start + "\n" + section + "\n" + end, text,
                      flags=re.S)
        open(path, "w").write(text)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
