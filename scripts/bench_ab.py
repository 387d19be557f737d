#!/usr/bin/env python3
"""A/B benchmark of two builds of flashsale, interleaved in one run.

A refactor is judged by the ratio B/A measured in the same minutes on the
same machine: the host is shared and noisy, so absolute figures from two
sessions cannot be compared, but alternating the two builds run by run puts
the same noise on both. For every run and every subject, build A then build
B (then A first again next run, and so on) with a fresh appliance each.

Subjects (closed loop, the generators the other benchmarks use):
  kernel mode, 2 workers, flashsale-bench --threads 2:
    soldout-1, soldout-16   sold-out item, 1 and 16 messages per datagram
    winning-16              winning BUYs, fresh users, durability none
  dpdk mode over net_memif (root; a throw-away network namespace), 1 worker,
  flashsale-bench-dpdk on one lcore (--dpdk):
    memif-soldout-1, memif-soldout-16, memif-winning-16

Prints one line per measurement and a Markdown table of medians with B/A.

usage: scripts/bench_ab.py --a DIR --b DIR [--c DIR] [--runs N] [--duration S] [--dpdk]
                          [--no-kernel] [--only SUBJECT,...] [--gen DIR] [--sized]
(--c: a third build, e.g. an intermediate commit, interleaved the same way.
 --gen: drive every build's memif subjects with this build's
 flashsale-bench-dpdk, so only the appliance differs; sold-out memif runs
 then pass --reuse-users when it has it.
 --sized: every subject's config sized for a 3 M-unit sale (max_orders 6 M),
 as a sale that sold out is: the gate's winners filter is then MBs, not KBs.
 --nice N: the memif subjects' daemon and generator at nice N, so that other
 jobs on a shared box preempt them less.)
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

TOKEN_KEY = "000102030405060708090a0b0c0d0e0f"
PAY_KEY = "f0e0d0c0b0a090807060504030201000"


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def needs_init(build):
    """Builds with a data-directory manifest start a new appliance with --init (and run)."""
    p = subprocess.run([os.path.join(build, "app", "flashsaled"), "--help"], capture_output=True, text=True)
    return "--init" in p.stdout + p.stderr


def write_config(path, *, mode, port, data, stock, eal="", new=True, idle_sleep_us=None, admin_port=0,
                 items=None):
    """idle_sleep_us: written when given (0: workers never sleep, as testpmd);
    admin_port: the operations listener on 127.0.0.1 (0: off); items: the
    (item id, total) pairs, default item 1 sold out (total 0) and item 1001
    with stock units (max_orders is twice stock either way)."""
    items = [(1, 0), (1001, stock)] if items is None else items
    item_ini = "".join("[item.%d]\nactivity = 1\ntotal = %d\nper_user_limit = 1000\nmax_per_order = 1\n"
                       % (i, t) for i, t in items)
    with open(path, "w") as f:
        f.write(f"""[appliance]
mode = {mode}
workers = {2 if mode == 'kernel' else 1}
{('eal = ' + eal) if eal else ''}
{('idle_sleep_us = %d' % idle_sleep_us) if idle_sleep_us is not None else ''}
[net]
address = {'127.0.0.1' if mode == 'kernel' else '10.99.50.2'}
udp_port = {port}
http_port = 0
[persist]
dir = {data}
durability = none
[limits]
max_orders = {max(2 * stock, 1000)}
{'[admin]' + chr(10) + 'port = %d' % admin_port if new else ''}
[activity.1]
name = bench
start = now-1s
end = now+1h
require_token = yes
token_key = {TOKEN_KEY}
payment_key = {PAY_KEY}
{item_ini}""")


def scrape_metrics(ns, port, check=True):
    """{"name{labels}": value} of the appliance's /metrics on 127.0.0.1:port,
    read inside network namespace ns. check=False: {} when it cannot be read."""
    try:
        out = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                              "import urllib.request,sys;sys.stdout.write(urllib.request.urlopen("
                              "'http://127.0.0.1:%d/metrics',timeout=10).read().decode())" % port],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        if check:
            raise
        return {}
    m = {}
    for line in out.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            m[k] = float(v)
    return m


class Daemon:
    def __init__(self, build, config, log, prefix=()):
        exe = os.path.join(build, "app", "flashsaled")
        init = ["--init"] if needs_init(build) else []  # a new appliance each time
        self.logf = open(log, "w")
        self.log = log
        self.proc = subprocess.Popen(list(prefix) + [exe, "--config", config] + init, stdout=self.logf,
                                     stderr=self.logf)
        end = time.monotonic() + 90
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                sys.exit("daemon exited at start:\n" + open(log).read())
            if " ready: " in open(log).read():
                return
            time.sleep(0.05)
        sys.exit("daemon not ready:\n" + open(log).read())

    def stop(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=60)
        self.logf.close()


def kernel_run(build, tmp, subject, duration, seed):
    stock = 0 if subject.startswith("soldout") else int(duration * 4000000)
    batch = int(subject.rsplit("-", 1)[1])
    port = free_port()
    data = os.path.join(tmp, "data-k")
    shutil.rmtree(data, ignore_errors=True)
    cfg = os.path.join(tmp, "k.ini")
    write_config(cfg, mode="kernel", port=port, data=data, stock=stock, new=needs_init(build))
    d = Daemon(build, cfg, os.path.join(tmp, "k.log"))
    try:
        item = "1" if stock == 0 else "1001"
        cmd = [os.path.join(build, "app", "flashsale-bench"), "--loop", "--duration", str(duration),
               "--threads", "2", "--json", "--config", cfg, "--no-verdict", "--batch", str(batch),
               "--seed", str(seed), "--items", item, "--users", "1000000"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
        if p.returncode not in (0, 1):
            sys.exit("bench failed: %s\n%s" % (" ".join(cmd), p.stderr))
        j = json.loads(p.stdout.strip().splitlines()[-1])
        return j["answered_msgs_per_s"]
    finally:
        d.stop()


NS = "fsab"


GEN = None
SIZED = False
NICE = []
IDLE_SLEEP_US = None  # --idle-sleep-us: None = the config default


def gen_cmd(nice, ns, gen_bin, prefix, lcores, sock, cfg, item, batch, window, duration, seed,
            reuse=True):
    """flashsale-bench-dpdk as the memif client of the appliance's socket, in
    namespace ns (after the nice words), users from 10^8 x seed; with reuse,
    --reuse-users for the sold-out item 1 when the generator has it (older
    ones do not)."""
    cmd = nice + ["ip", "netns", "exec", ns, gen_bin, "--no-huge", "-m", "512", "--file-prefix", prefix,
                  "--no-pci", "--no-telemetry", "--log-level=lib.eal:error", "--lcores", lcores,
                  "--vdev=net_memif0,role=client,socket=%s" % sock, "--", "--config", cfg,
                  "--item", item, "--batch", str(batch), "--window", str(window),
                  "--duration", str(duration), "--user-base", str(100000000 * seed)]
    if reuse and item == "1" and b"--reuse-users" in open(gen_bin, "rb").read():
        cmd.append("--reuse-users")
    return cmd


def memif_run(build, tmp, subject, duration, seed):
    stock = 0 if "soldout" in subject else 3000000
    batch = int(subject.rsplit("-", 1)[1])
    sock = os.path.join(tmp, "memif.sock")
    data = os.path.join(tmp, "data-m")
    shutil.rmtree(data, ignore_errors=True)
    cfg = os.path.join(tmp, "m.ini")
    eal = ("--no-huge -m 512 --file-prefix fsabA --no-telemetry --lcores 0@0,1@1 "
           "--vdev=net_memif0,role=server,socket=%s" % sock)
    write_config(cfg, mode="dpdk", port=7700, data=data, stock=3000000 if SIZED else stock, eal=eal,
                 new=needs_init(build), idle_sleep_us=IDLE_SLEEP_US)
    d = Daemon(build, cfg, os.path.join(tmp, "m.log"), prefix=tuple(NICE) + ("ip", "netns", "exec", NS))
    try:
        item = "1" if stock == 0 else "1001"
        gen = os.path.join(GEN or build, "app", "flashsale-bench-dpdk")
        # each build with its own generator (no --gen): never --reuse-users
        cmd = gen_cmd(NICE, NS, gen, "fsabG", "0@0", sock, cfg, item, batch, 1024, duration, seed,
                      reuse=bool(GEN))
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 90)
        m = re.search(r"answered \d+ \(([\d.]+) messages/s", p.stdout)
        if not m:
            sys.exit("bench-dpdk failed: %s\n%s%s" % (" ".join(cmd), p.stdout, p.stderr))
        return float(m.group(1))
    finally:
        d.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="build directory A (before)")
    ap.add_argument("--b", required=True, help="build directory B (after)")
    ap.add_argument("--c", help="build directory C (a third build, optional)")
    ap.add_argument("--only", help="comma-separated subjects to run (default: all)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3)
    ap.add_argument("--dpdk", action="store_true", help="also the net_memif subjects (root)")
    ap.add_argument("--no-kernel", action="store_true")
    ap.add_argument("--gen", help="build dir whose flashsale-bench-dpdk drives every memif subject")
    ap.add_argument("--sized", action="store_true", help="configs sized for a 3 M-unit sale")
    ap.add_argument("--nice", type=int, default=0,
                    help="run the memif subjects at this nice level (e.g. -10 on a shared box)")
    ap.add_argument("--idle-sleep-us", type=int,
                    help="[appliance] idle_sleep_us of the memif subjects (0: the worker busy-polls, "
                         "as testpmd; default: the config default)")
    args = ap.parse_args()
    global GEN, SIZED, NICE, IDLE_SLEEP_US
    GEN, SIZED, IDLE_SLEEP_US = args.gen, args.sized, args.idle_sleep_us
    NICE = ["nice", "-n", str(args.nice)] if args.nice else []
    tmp = tempfile.mkdtemp(prefix="fs-ab-")
    subjects = []
    if not args.no_kernel:
        subjects += [("kernel", s) for s in ("soldout-1", "soldout-16", "winning-16")]
    if args.dpdk:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        subprocess.run(["ip", "netns", "add", NS], check=True)
        subjects += [("memif", s) for s in ("memif-soldout-1", "memif-soldout-16", "memif-winning-16")]
    if args.only:
        subjects = [(k, s) for k, s in subjects if s in args.only.split(",")]
    which_all = ("a", "b", "c") if args.c else ("a", "b")
    res = {}
    seed = 1
    try:
        for run in range(args.runs):
            for kind, subject in subjects:
                order = which_all if run % 2 == 0 else which_all[::-1]
                for which in order:
                    build = getattr(args, which)
                    fn = kernel_run if kind == "kernel" else memif_run
                    rate = fn(build, tmp, subject, args.duration, seed)
                    seed += 1
                    res.setdefault((subject, which), []).append(rate)
                    print("run %d %-18s %s %12.0f msgs/s" % (run + 1, subject, which.upper(), rate),
                          file=sys.stderr, flush=True)
    finally:
        if args.dpdk:
            subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    cols = [w.upper() for w in which_all]
    print("| subject | " + " | ".join("%s msgs/s (median of %d)" % (c, args.runs) for c in cols) + " | " +
          " | ".join("%s/A" % c for c in cols[1:]) + " | " + " | ".join("%s runs" % c for c in cols) + " |")
    print("|" + " --- |" * (1 + 2 * len(cols) + len(cols) - 1))
    for _, subject in subjects:
        runs = [res[(subject, w)] for w in which_all]
        meds = [statistics.median(r) for r in runs]
        print("| %s | %s | %s | %s |" % (
            subject, " | ".join("%.0f" % m for m in meds),
            " | ".join("%.2f" % (m / meds[0] if meds[0] else 0) for m in meds[1:]),
            " | ".join(" / ".join("%.2fM" % (x / 1e6) for x in r) for r in runs)))

if __name__ == "__main__":
    main()
