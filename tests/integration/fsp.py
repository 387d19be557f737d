"""FSP/1 client and daemon harness for flashsale's integration tests.

Written against PROTOCOL.md, not against our C code: messages are packed with
struct, tokens are computed with libsodium through ctypes. The harness starts
the real flashsaled on a free loopback port with a config written for the test,
waits for its "ready" line, and stops it with SIGTERM, checking a clean exit
(its shutdown audit of every shard must pass).
"""
import atexit
import ctypes
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

BUILD = os.environ.get("FLASHSALE_BUILD", os.path.join(os.path.dirname(__file__), "..", "..", "build"))
DAEMON = os.path.join(BUILD, "app", "flashsaled")
CLI = os.path.join(BUILD, "app", "flashsale")
BENCH = os.path.join(BUILD, "app", "flashsale-bench")
PCAPGEN = os.path.join(BUILD, "app", "flashsale-pcapgen")

OP = {"BUY": 1, "CONFIRM": 2, "CANCEL": 3, "ORDER_STATUS": 4, "ITEM_STATUS": 5, "TIME": 6}
ST_NAMES = ["OK", "SOLD_OUT", "LIMIT_EXCEEDED", "NOT_STARTED", "ENDED", "BAD_TOKEN",
            "RATE_LIMITED", "BUSY", "NOT_FOUND", "BAD_REQUEST", "UNKNOWN_ITEM",
            "WRONG_STATE", "UNAVAILABLE"]
ST = {n: i for i, n in enumerate(ST_NAMES)}
STATE = {"RESERVED": 1, "PAID": 2, "CANCELLED": 3, "EXPIRED": 4}

TOKEN_KEY = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
PAYMENT_KEY = bytes.fromhex("f0e0d0c0b0a090807060504030201000")

_sodium = ctypes.CDLL("libsodium.so.23")
_sodium.sodium_init()


def siphashx24(key, msg):
    out = ctypes.create_string_buffer(16)
    rc = _sodium.crypto_shorthash_siphashx24(out, msg, ctypes.c_ulonglong(len(msg)), key)
    assert rc == 0
    return out.raw


def buy_token(user_id, activity_id, key=TOKEN_KEY):
    return siphashx24(key, struct.pack(">QI", user_id, activity_id))


def pay_token(order_id, user_id, ref, key=PAYMENT_KEY):
    return siphashx24(key, struct.pack(">QQQ", order_id, user_id, ref))


def req(op, user=0, rid=0, item=0, qty=0, order=0, token=b"", ref=0, flags=0):
    """One 64-byte request message."""
    op = OP[op] if isinstance(op, str) else op
    token = token.ljust(16, b"\0")
    return struct.pack(">BBHIQQQ16sQQ", op, flags, qty, item, user, rid, order, token, ref, 0)


def dgram(*msgs):
    return struct.pack(">HBBI", 0x4653, 1, len(msgs), 0) + b"".join(msgs)


class Resp:
    FIELDS = ("op", "status", "qty", "item_id", "user_id", "request_id", "order_id",
              "server_time", "deadline", "available", "state", "retry_after_ms")

    def __init__(self, m):
        (self.op, self.status, self.qty, self.item_id, self.user_id, self.request_id,
         self.order_id, self.server_time, self.deadline, self.available, self.state, _r1,
         self.retry_after_ms, _r2) = struct.unpack(">BBHIQQQQQIB3sII", m)

    @property
    def status_name(self):
        return ST_NAMES[self.status] if self.status < len(ST_NAMES) else str(self.status)

    def __repr__(self):
        return "Resp(%s)" % ", ".join("%s=%r" % (f, getattr(self, f)) for f in self.FIELDS)


def parse_response(data):
    """Strictly parse a response datagram into a list of Resp."""
    assert len(data) >= 8, "short response"
    magic, ver, count, _ = struct.unpack(">HBBI", data[:8])
    assert magic == 0x4653 and ver == 1, "bad response header"
    assert 1 <= count <= 32 and len(data) == 8 + 64 * count, "bad response length"
    return [Resp(data[8 + 64 * i: 8 + 64 * (i + 1)]) for i in range(count)]


class Client:
    def __init__(self, port, host="127.0.0.1"):
        self.addr = (host, port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.datagrams = []  # raw response datagrams seen, for size checks

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendto(data, self.addr)

    def recv_all(self, want, timeout=3.0):
        """Collect responses until `want` messages arrived or timeout."""
        out = []
        end = time.monotonic() + timeout
        while len(out) < want:
            left = end - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                break
            data, _ = self.sock.recvfrom(65536)
            self.datagrams.append(data)
            out.extend(parse_response(data))
        return out

    def call(self, *msgs, timeout=3.0):
        """Send one datagram of messages, return responses ordered like msgs."""
        self.send(dgram(*msgs))
        got = self.recv_all(len(msgs), timeout)
        by_key = {(r.user_id, r.request_id, r.op): r for r in got}
        res = []
        for m in msgs:
            op, _, _, _, user, rid = struct.unpack(">BBHIQQ", m[:24])
            res.append(by_key.get((user, rid, op)))
        return res

    def one(self, *args, **kw):
        r = self.call(req(*args, **kw))[0]
        assert r is not None, "no answer to %r %r" % (args, kw)
        return r

    def silent(self, data, wait=0.3):
        """Send raw bytes; return what came back within wait (expected: nothing)."""
        self.send(data)
        r, _, _ = select.select([self.sock], [], [], wait)
        return self.sock.recvfrom(65536)[0] if r else None


def scratch_dir(prefix):
    """A temporary directory removed when the test process exits (daemons
    preallocate 64 MiB log segments: leftovers would fill a CI disk).
    FLASHSALE_KEEP_TMP=1 keeps them for a post-mortem."""
    path = tempfile.mkdtemp(prefix=prefix)
    if not os.environ.get("FLASHSALE_KEEP_TMP"):
        atexit.register(shutil.rmtree, path, True)
    return path


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


DEFAULT_ITEMS = """
[item.1001]
activity = 1
total = 100
per_user_limit = 2
max_per_order = 1
"""


def make_config(tmp, port, items=DEFAULT_ITEMS, activity_extra="", limits="", workers=2,
                start="now-1s", end="now+1h", require_token="yes", extra="", http_port=0):
    path = os.path.join(tmp, "flashsale.ini")
    with open(path, "w") as f:
        f.write(f"""
[appliance]
mode = kernel
workers = {workers}
idle_sleep_us = 20000

[net]
address = 127.0.0.1
udp_port = {port}
http_port = {http_port}

[persist]
dir = {tmp}/data
durability = none

[limits]
{limits if "max_orders" in limits else "max_orders = 100000" + chr(10) + limits}

[activity.1]
name = test sale
start = {start}
end = {end}
require_token = {require_token}
token_key = 000102030405060708090a0b0c0d0e0f
payment_key = f0e0d0c0b0a090807060504030201000
pay_timeout_s = 900
{activity_extra}
{items}
{extra}
""")
    return path


class Daemon:
    """The real flashsaled on a free port; use as a context manager."""

    def __init__(self, **cfg):
        self.tmp = scratch_dir("fs-it-")
        self.port = free_port()
        self.config = make_config(self.tmp, self.port, **cfg)
        self.proc = None
        self.log_path = os.path.join(self.tmp, "daemon.log")
        self.initialized = False  # the first start is `flashsaled --init`

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop(check=exc[0] is None)

    def start(self, timeout=20.0, env=None):
        """Start and wait for "ready". The first start of a Daemon passes
        --init (a new appliance); every later one does not, so a lost data
        directory is refused as in production."""
        args = [DAEMON, "--config", self.config] + ([] if self.initialized else ["--init"])
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         env=env)
        atexit.register(self._reap, self.proc)  # never leave a daemon behind a failed test
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError("flashsaled exited %d at start:\n%s" % (self.proc.returncode, self.output()))
            if " ready: " in self.output():
                self.initialized = True
                return
            time.sleep(0.05)
        raise AssertionError("flashsaled not ready in %.0fs:\n%s" % (timeout, self.output()))

    @staticmethod
    def _reap(proc):
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    def output(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except FileNotFoundError:  # scratch directory already removed
            return "(log %s already removed)" % self.log_path

    def stop(self, check=True):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise AssertionError("flashsaled did not stop on SIGTERM:\n" + self.output())
        if check and rc != 0:
            raise AssertionError("flashsaled exit %d:\n%s" % (rc, self.output()))
        return rc

    def client(self):
        return Client(self.port)


def main():
    unittest.main(verbosity=2)
