#!/usr/bin/env python3
"""Unattended pktgen-dpdk check of the flashsale appliance over net_memif.

The outside check of issue 12: the same subjects as scripts/bench_dpdk.py,
driven by pktgen-dpdk instead of flashsale-bench-dpdk. pktgen is not part of
this repository: build it yourself from its tag pktgen-23.06.1 with the two
local edits docs/benchmarks.md ("With pktgen") describes, and give its
source directory with --pktgen (default /tmp/pktgen). Root; a throw-away
network namespace created and deleted here. In order:

  ceiling      dpdk-testpmd macswap (memif server, lcores 0@1,1@1) <- pktgen
               (memif client, lcores 0@0,1@0) 64-byte frames at 100% rate
  soldout-1    flashsaled (dpdk, 1 worker, durability none, item total = 0)
               <- pktgen replaying a 100000-frame pcap, 1 BUY per datagram
  soldout-16   the same, 16 BUYs per datagram
  winning-16   item total = 3000000 (max_orders 6000000), 150000-frame pcap
               of fresh users (--user-base 20000000), 16 per datagram

Per subject: pktgen's tx/rx frames per second (from FSB_OUT, written by
scripts/pktgen_fsb.lua) and, for the appliance, the counts of
its final log line (stopped with SIGTERM after pktgen quit).

usage: scripts/pktgen_check.py [--duration S] [--win-duration S] [--only a,b]
                               [--pktgen DIR] [--main DIR] [--keep]
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

NS = "pgcheck"
PREFIXES = ("pgcT", "pgcA", "pgcP")  # testpmd, appliance, pktgen
SUBJECTS = ("ceiling", "soldout-1", "soldout-16", "winning-16")


def load():
    return " ".join(open("/proc/loadavg").read().split()[:3])


def cleanup_prefixes():
    for p in PREFIXES:
        shutil.rmtree("/var/run/dpdk/" + p, ignore_errors=True)


def write_config(path, *, data, total, eal):
    """bench_ab.write_config with only the one item the pcap targets
    (flashsale-pcapgen spreads its requests over every item of the file)."""
    bench_ab.write_config(path, mode="dpdk", port=7700, data=data, stock=total, eal=eal,
                          items=[(1, total)])


def kill(p, sig=signal.SIGTERM, timeout=30):
    if p is None or p.poll() is not None:
        return
    p.send_signal(sig)
    try:
        p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=30)


def run_pktgen(args, tmp, name, sock, seconds, pcap=None, mem=2048):
    """pktgen as memif client under `script` (it needs a terminal); returns the
    parsed FSB_OUT and the path of its screen log."""
    out = os.path.join(tmp, "pg-%s.txt" % name)
    screen = os.path.join(tmp, "pg-%s.screen" % name)
    inner = ("%s/build/app/pktgen --no-huge -m %d --no-pci --no-telemetry --file-prefix pgcP "
             "--lcores 0@0,1@0 --vdev=net_memif0,role=client,socket=%s -- -P -m 1.0 %s-f %s" %
             (args.pktgen, mem, sock, ("-s 0:%s " % pcap) if pcap else "",
              os.path.join(args.main, "scripts", "pktgen_fsb.lua")))
    env = dict(os.environ, FSB_OUT=out, FSB_SECONDS=str(int(seconds)), TERM="xterm")
    with open(screen, "wb") as scr:
        # stdin a pipe kept open: `script` passes an EOF on to pktgen's CLI
        p = subprocess.Popen(["ip", "netns", "exec", NS, "script", "-qfec", inner, "/dev/null"],
                             cwd=args.pktgen, env=env, stdin=subprocess.PIPE, stdout=scr,
                             stderr=subprocess.STDOUT)
        try:
            p.wait(timeout=seconds + 90)
        except subprocess.TimeoutExpired:
            print("%s: pktgen did not quit in time, killed" % name, file=sys.stderr)
            kill(p, signal.SIGKILL)
        finally:
            p.stdin.close()
    res = {"secs": [], "total": None, "raw": ""}
    if os.path.exists(out):
        res["raw"] = open(out).read()
        for m in re.finditer(r"sec (\d+) tx_pps (\d+) rx_pps (\d+)", res["raw"]):
            res["secs"].append((int(m.group(2)), int(m.group(3))))
        m = re.search(r"total tx (\d+) rx (\d+) seconds (\d+) tx_pps (\d+) rx_pps (\d+)", res["raw"])
        if m:
            res["total"] = tuple(int(x) for x in m.groups())
    if res["total"] is None:
        tail = open(screen, "rb").read()[-3000:].decode("utf-8", "replace")
        print("%s: no result from pktgen (%r); screen tail:\n%s" % (name, res["raw"], tail),
              file=sys.stderr)
    return res


def ceiling(args, tmp, seconds):
    sock = os.path.join(tmp, "tp.sock")
    log = os.path.join(tmp, "testpmd.log")
    with open(log, "w") as lf:
        srv = subprocess.Popen(["ip", "netns", "exec", NS, "dpdk-testpmd", "--no-huge", "-m", "1024",
                                "--no-pci", "--no-telemetry", "--log-level=lib.eal:error",
                                "--file-prefix", "pgcT", "--lcores", "0@1,1@1",
                                "--vdev=net_memif0,role=server,socket=" + sock, "--",
                                "--forward-mode=macswap", "--auto-start", "--stats-period", "1",
                                "--total-num-mbufs", "16384"],
                               stdout=lf, stderr=lf, stdin=subprocess.DEVNULL)
    # --stats-period: without it testpmd waits for "enter" and quits on stdin's EOF
    try:
        # memif's socket is abstract by default (no file): wait for forwarding to start
        end = time.monotonic() + 30
        started = lambda: "start packet forwarding" in open(log).read()
        while not started() and time.monotonic() < end and srv.poll() is None:
            time.sleep(0.1)
        if srv.poll() is not None or not started():
            print("ceiling: testpmd did not start:\n" + open(log).read()[-2000:], file=sys.stderr)
            return {"pg": {"secs": [], "total": None}, "app": "testpmd did not start", "batch": 1}
        pg = run_pktgen(args, tmp, "ceiling", sock, seconds)
    finally:
        kill(srv, signal.SIGINT)
        cleanup_prefixes()
    # Its forward statistics at exit read 0 once the memif client has gone:
    # take the per-second samples (--stats-period 1) instead.
    text = open(log).read()
    rx = [int(x) for x in re.findall(r"RX-packets:\s+(\d+)\s+RX-missed", text)]
    pps = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", text)]
    app = ("testpmd: max Rx-pps sample %.2f M, rx %d packets at its last sample" %
           (max(pps) / 1e6, max(rx))) if rx and pps else "-"
    return {"pg": pg, "app": app, "batch": 1}


def appliance(args, tmp, name, seconds, pcaps):
    total = 0 if name.startswith("soldout") else 3000000
    batch = int(name.rsplit("-", 1)[1])
    sock = os.path.join(tmp, "memif.sock")
    if os.path.exists(sock):
        os.unlink(sock)
    data = os.path.join(tmp, "data-" + name)
    cfg = os.path.join(tmp, name + ".ini")
    log = os.path.join(tmp, name + ".log")
    eal = ("--no-huge -m 512 --no-pci --no-telemetry --log-level=lib.eal:error --file-prefix pgcA "
           "--lcores 0@0,1@1 --vdev=net_memif0,role=server,socket=%s" % sock)
    write_config(cfg, data=data, total=total, eal=eal)
    pcap = pcaps[name]
    with open(log, "w") as lf:
        d = subprocess.Popen(["ip", "netns", "exec", NS, os.path.join(args.main, "build", "app", "flashsaled"),
                              "--config", cfg, "--init"], stdout=lf, stderr=lf, stdin=subprocess.DEVNULL)
    try:
        end = time.monotonic() + 90
        while time.monotonic() < end:
            if d.poll() is not None or " ready: " in open(log).read():
                break
            time.sleep(0.05)
        if d.poll() is not None or " ready: " not in open(log).read():
            print("%s: appliance not ready:\n%s" % (name, open(log).read()[-2000:]), file=sys.stderr)
            return {"pg": {"secs": [], "total": None}, "app": "appliance not ready", "batch": batch}
        pg = run_pktgen(args, tmp, name, sock, seconds, pcap=pcap,
                        mem=4096 if name.startswith("winning") else 2048)
    finally:
        kill(d, signal.SIGTERM, timeout=60)  # after pktgen quit: the client first
        cleanup_prefixes()
    text = open(log).read()
    m = re.search(r"final: rx (\d+) datagrams / (\d+) messages, malformed (\d+), tx (\d+) datagrams / "
                  r"(\d+) messages \(dropped (\d+)\)", text)
    s = re.search(r"final: answers by status:(.*)", text)
    if m:
        app = "rx %s dgrams / %s msgs, tx %s dgrams (dropped %s), malformed %s; %s" % (
            m.group(1), m.group(2), m.group(4), m.group(6), m.group(3), s.group(1).strip() if s else "")
    else:
        app = "no final log line"
        print("%s: appliance log tail:\n%s" % (name, text[-2000:]), file=sys.stderr)
    return {"pg": pg, "app": app, "batch": batch}


def make_pcaps(args, tmp, subjects):
    gen = os.path.join(args.main, "build", "app", "flashsale-pcapgen")
    spec = {"soldout-1": (0, 100000, 1, 1), "soldout-16": (0, 100000, 16, 1),
            "winning-16": (3000000, 150000, 16, 20000000)}
    pcaps = {}
    for name in subjects:
        if name not in spec:
            continue
        total, count, batch, base = spec[name]
        cfg = os.path.join(tmp, "gen-%s.ini" % name)
        write_config(cfg, data=os.path.join(tmp, "unused"), total=total, eal="--no-huge")
        out = os.path.join(tmp, name + ".pcap")
        subprocess.run([gen, "--config", cfg, "--out", out, "--count", str(count), "--batch", str(batch),
                        "--user-base", str(base)], check=True, stdout=subprocess.DEVNULL)
        pcaps[name] = out
    return pcaps


def fmt(r, seconds):
    pg = r["pg"]
    if pg["total"] is None:
        return "-", "-", "-"
    tx = [a for a, _ in pg["secs"]]
    _, _, _, tpps, rpps = pg["total"]
    rng = ("%.2f-%.2f M" % (min(tx) / 1e6, max(tx) / 1e6)) if tx else "-"
    avg = "%.2f M / %.2f M" % (tpps / 1e6, rpps / 1e6)
    msgs = "%.2f M" % (tpps * r["batch"] / 1e6)
    return rng, avg, msgs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5, help="seconds of ceiling and sold-out runs (default 5)")
    ap.add_argument("--win-duration", type=int, default=3, help="seconds of the winning run (default 3)")
    ap.add_argument("--only", help="comma-separated subjects (default: all)")
    ap.add_argument("--pktgen", default="/tmp/pktgen", help="pktgen source dir with build/app/pktgen")
    ap.add_argument("--main", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    help="flashsale tree with build/ (default: this script's)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir (logs, pcaps)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("pktgen_check: needs root (network namespace, memif)")
    for exe in (os.path.join(args.pktgen, "build", "app", "pktgen"),
                os.path.join(args.main, "build", "app", "flashsaled"),
                os.path.join(args.main, "build", "app", "flashsale-pcapgen")):
        if not os.access(exe, os.X_OK):
            sys.exit("pktgen_check: missing %s" % exe)
    subjects = [s for s in SUBJECTS if not args.only or s in args.only.split(",")]
    tmp = tempfile.mkdtemp(prefix="pgcheck-")
    t0 = time.monotonic()
    print("pktgen_check: %s, durations %d s (winning %d s), load %s" %
          (", ".join(subjects), args.duration, args.win_duration, load()), flush=True)
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)
    subprocess.run(["ip", "netns", "add", NS], check=True)
    subprocess.run(["ip", "netns", "exec", NS, "ip", "link", "set", "lo", "up"], check=True)
    cleanup_prefixes()
    res = {}
    try:
        pcaps = make_pcaps(args, tmp, subjects)
        for s in subjects:
            secs = args.win_duration if s.startswith("winning") else args.duration
            r = ceiling(args, tmp, secs) if s == "ceiling" else appliance(args, tmp, s, secs, pcaps)
            r["seconds"] = secs
            res[s] = r
            print("%-11s %s | %s" % (s, (r["pg"].get("raw") or "").strip().replace("\n", "; "), r["app"]),
                  file=sys.stderr, flush=True)
    finally:
        subprocess.run(["ip", "netns", "del", NS], capture_output=True)
        cleanup_prefixes()
        if args.keep:
            print("logs kept in %s" % tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("load at the end %s; pass took %.0f s" % (load(), time.monotonic() - t0))
    print("| subject | run | pktgen tx/s (per-second range) | pktgen avg tx / rx frames/s | "
          "messages/s sent | appliance / testpmd (final counts) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for s in subjects:
        r = res.get(s)
        if r is None:
            continue
        rng, avg, msgs = fmt(r, r["seconds"])
        print("| %s | %d s | %s | %s | %s | %s |" % (s, r["seconds"], rng, avg, msgs, r["app"]))


if __name__ == "__main__":
    main()
