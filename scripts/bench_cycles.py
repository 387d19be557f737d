#!/usr/bin/env python3
"""Cycles per datagram and per message, by worker stage, under the DPDK memif
bench (docs/benchmarks.md, "Cycle accounting").

Starts the appliance in mode = dpdk (one worker, net_memif server port, its
operations listener on the loopback of a throw-away network namespace),
then for each subject runs flashsale-bench-dpdk as the memif client and
scrapes /metrics before and after: the difference of
flashsale_worker_cycles_total{stage} over the difference of
flashsale_worker_rx_datagrams_total / _rx_messages_total is the cost of each
stage per datagram and per message while the bench ran (the idle stage is
per-second only: it is not work), and the datagrams per busy loop (32 = full
receive bursts). The worker busy-polls (idle_sleep_us = 0), as testpmd and
scripts/bench_dpdk.py's do. Needs root (netns, memif).

Subjects: soldout-1, soldout-16 (rejections on the receiving core's gate),
winning-1, winning-16 (fresh users, the owner decides and creates orders).

usage: scripts/bench_cycles.py [--build DIR] [--duration S] [--only a,b] [--window N]
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_ab  # noqa: E402  (write_config)

NS = "fscyc"
ADMIN_PORT = 18090
STAGES = ("rx", "decode", "gate", "handoff", "owner", "reply", "tx")


def write_config(path, data, sock):
    """bench_ab's config: one worker that busy-polls, /metrics on 127.0.0.1,
    item 1 sold out, item 1001 with 5 M units, max_orders 6 M."""
    bench_ab.write_config(path, mode="dpdk", port=7700, data=data, stock=3000000,
                          eal="--no-huge -m 512 --file-prefix fscycA --no-telemetry --lcores 0@0,1@1 "
                              "--vdev=net_memif0,role=server,socket=%s" % sock,
                          idle_sleep_us=0, admin_port=ADMIN_PORT, items=[(1, 0), (1001, 5000000)])


def scrape():
    """{"name{labels}": value} of /metrics, read inside the namespace."""
    return bench_ab.scrape_metrics(NS, ADMIN_PORT)


def delta(a, b, key):
    return b.get(key, 0) - a.get(key, 0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default="build")
    ap.add_argument("--duration", type=float, default=3)
    ap.add_argument("--window", type=int, default=1024)
    ap.add_argument("--only", default="soldout-1,soldout-16,winning-1,winning-16")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespace, memif)")
    tmp = tempfile.mkdtemp(prefix="fs-cyc-")
    sock, cfg, log = (os.path.join(tmp, n) for n in ("memif.sock", "c.ini", "d.log"))
    write_config(cfg, os.path.join(tmp, "data"), sock)
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    subprocess.run(["ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up"], check=True)
    logf = open(log, "w")
    d = subprocess.Popen(["ip", "netns", "exec", NS, os.path.join(a.build, "app", "flashsaled"),
                          "--config", cfg, "--init"], stdout=logf, stderr=logf)
    rows = []
    try:
        end = time.monotonic() + 60
        while " ready: " not in open(log).read():
            if d.poll() is not None or time.monotonic() > end:
                sys.exit("daemon not ready:\n" + open(log).read())
            time.sleep(0.05)
        for k, subject in enumerate(a.only.split(",")):
            item = "1" if subject.startswith("soldout") else "1001"
            batch = subject.rsplit("-", 1)[1]
            before = scrape()
            t0 = time.monotonic()
            p = subprocess.run(
                ["ip", "netns", "exec", NS, os.path.join(a.build, "app", "flashsale-bench-dpdk"),
                 "--no-huge", "-m", "512", "--file-prefix", "fscycG", "--no-pci", "--no-telemetry",
                 "--log-level=lib.eal:error", "--lcores", "0@0",
                 "--vdev=net_memif0,role=client,socket=%s" % sock, "--", "--config", cfg,
                 "--item", item, "--batch", batch, "--window", str(a.window),
                 "--duration", str(a.duration), "--user-base", str(100000000 * (k + 1))],
                capture_output=True, text=True, timeout=a.duration + 90)
            secs = time.monotonic() - t0
            after = scrape()
            m = re.search(r"answered \d+ \(([\d.]+) messages/s", p.stdout)
            if not m:
                sys.exit("bench-dpdk failed:\n%s%s" % (p.stdout, p.stderr))
            w = '{worker="0"}'
            dg = delta(before, after, "flashsale_worker_rx_datagrams_total" + w)
            msgs = delta(before, after, "flashsale_worker_rx_messages_total" + w)
            cyc = {s: delta(before, after, 'flashsale_worker_cycles_total{worker="0",stage="%s"}' % s)
                   for s in STAGES + ("idle",)}
            busy = sum(cyc[s] for s in STAGES)
            loops = delta(before, after, "flashsale_worker_busy_loops_total" + w)
            rows.append((subject, float(m.group(1)), dg, msgs, cyc, busy,
                         busy / (busy + cyc["idle"]) if busy + cyc["idle"] else 0,
                         dg / loops if loops else 0))
            print("%s: %.0f messages/s, %d datagrams, %d messages in %.1f s" %
                  (subject, float(m.group(1)), dg, msgs, secs), flush=True)
    finally:
        d.send_signal(signal.SIGTERM)
        try:
            d.wait(timeout=60)
        except subprocess.TimeoutExpired:
            d.kill()
        logf.close()
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    hz = after.get("flashsale_tsc_hz", 0)
    print("\nTSC %.2f GHz; cycles per datagram (per message) while the bench ran, worker 0:\n" % (hz / 1e9))
    print("| subject | msgs/s | busy | datagrams per busy loop | " + " | ".join(STAGES) + " | total |")
    print("| --- | --- | --- | --- | " + " | ".join("---" for _ in STAGES) + " | --- |")
    for subject, rate, dg, msgs, cyc, busy, share, per_loop in rows:
        cells = ["%.0f (%.0f)" % (cyc[s] / dg, cyc[s] / msgs) if dg and msgs else "-" for s in STAGES]
        total = "%.0f (%.0f)" % (busy / dg, busy / msgs) if dg and msgs else "-"
        print("| %s | %.2f M | %.0f %% | %.1f | %s | %s |" % (subject, rate / 1e6, 100 * share, per_loop,
                                                             " | ".join(cells), total))


if __name__ == "__main__":
    main()
