"""Shared helpers of the DPDK-mode integration tests (test_dpdk_*.py); not a
test itself.

- Frames: Ethernet/ARP/IPv4/ICMP/UDP/TCP builders with real checksums, and a
  strict parser for what the appliance sends, written from the RFCs (not from
  our C code).
- pcap: a libpcap file reader and writer (LINKTYPE_ETHERNET, microseconds).
- Namespaces: a throw-away pair of network namespaces joined by a veth pair
  (10.99.x.0/24 only, names unique per run, always deleted), after the recipe
  in DPDK-NOTES.md: the appliance in one namespace, the kernel peer in the
  other, so the peer's traffic really crosses the veth into DPDK.
- A daemon runner for mode = dpdk (EAL with --no-huge --no-shconf: tests run
  in parallel and there are no hugepages in CI).

Skips (unittest skips; exit 77, meson's "skipped", when every test of a file
skipped, see main()) when not root or when a namespace or veth cannot be
created.
"""
import atexit
import ctypes
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from fsp import DAEMON, DEFAULT_ITEMS  # noqa: E402

SKIP = 77
CLONE_NEWNET = 0x40000000


def skip(why):
    """Skip the current test (or class, from setUpClass); main() turns a run
    where everything was skipped into exit 77."""
    raise unittest.SkipTest(why)


def main():
    """unittest.main, with meson's exit codes: 77 when every test skipped."""
    prog = unittest.main(verbosity=2, exit=False)
    r = prog.result
    if not r.wasSuccessful():
        sys.exit(1)
    if r.testsRun == 0 or len(r.skipped) == r.testsRun:
        print("SKIP: " + "; ".join(sorted({why for _, why in r.skipped})))
        sys.exit(SKIP)
    sys.exit(0)


def require_root():
    if os.geteuid() != 0:
        skip("needs root (network namespaces, veth, TAP)")


# ---------------------------------------------------------------- checksums and frames

def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":")) if isinstance(mac, str) else mac


def mac_str(b):
    return ":".join("%02x" % x for x in b)


def ip_bytes(ip):
    return socket.inet_aton(ip) if isinstance(ip, str) else ip


def ether(dst, src, etype, payload):
    return mac_bytes(dst) + mac_bytes(src) + struct.pack("!H", etype) + payload


def ipv4(src, dst, proto, payload, ttl=64, ident=1, frag=0x4000, bad_cksum=False):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, ttl, proto, 0,
                      ip_bytes(src), ip_bytes(dst))
    c = csum(hdr)
    if bad_cksum:
        c ^= 0x5555
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


def udp(src, dst, sport, dport, payload, cksum="ok"):
    length = 8 + len(payload)
    hdr = struct.pack("!HHHH", sport, dport, length, 0)
    if cksum == "zero":
        return hdr + payload
    pseudo = ip_bytes(src) + ip_bytes(dst) + struct.pack("!BBH", 0, 17, length)
    c = csum(pseudo + hdr + payload) or 0xffff
    if cksum == "bad":
        c ^= 0x00ff
    return hdr[:6] + struct.pack("!H", c) + payload


def udp_frame(dst_mac, src_mac, src_ip, dst_ip, sport, dport, payload, cksum="ok", **ip_kw):
    return ether(dst_mac, src_mac, 0x0800,
                 ipv4(src_ip, dst_ip, 17, udp(src_ip, dst_ip, sport, dport, payload, cksum), **ip_kw))


def arp_request(src_mac, src_ip, target_ip):
    body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac_bytes(src_mac), ip_bytes(src_ip),
                       b"\0" * 6, ip_bytes(target_ip))
    return ether("ff:ff:ff:ff:ff:ff", src_mac, 0x0806, body)


def icmp_echo(dst_mac, src_mac, src_ip, dst_ip, ident, seq, data):
    msg = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
    msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
    return ether(dst_mac, src_mac, 0x0800, ipv4(src_ip, dst_ip, 1, msg))


def tcp_syn(dst_mac, src_mac, src_ip, dst_ip, sport, dport):
    hdr = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, 0x02, 65535, 0, 0)
    pseudo = ip_bytes(src_ip) + ip_bytes(dst_ip) + struct.pack("!BBH", 0, 6, len(hdr))
    hdr = hdr[:16] + struct.pack("!H", csum(pseudo + hdr)) + hdr[18:]
    return ether(dst_mac, src_mac, 0x0800, ipv4(src_ip, dst_ip, 6, hdr))


class Frame:
    """A strict parse of one Ethernet frame (the fields the tests check)."""

    def __init__(self, raw):
        self.raw = raw
        self.dst, self.src = raw[0:6], raw[6:12]
        self.etype = struct.unpack("!H", raw[12:14])[0]
        self.ip = self.arp = self.udp = self.icmp = None
        if self.etype == 0x0806:
            (htype, ptype, hlen, plen, op, sha, spa, tha, tpa) = struct.unpack(
                "!HHBBH6s4s6s4s", raw[14:42])
            self.arp = dict(htype=htype, ptype=ptype, hlen=hlen, plen=plen, op=op, sha=sha,
                            spa=socket.inet_ntoa(spa), tha=tha, tpa=socket.inet_ntoa(tpa))
        elif self.etype == 0x0800:
            vihl, _, total, _, frag, ttl, proto, ipc, src, dst = struct.unpack(
                "!BBHHHBBH4s4s", raw[14:34])
            assert vihl == 0x45, "IPv4 header with options or bad version"
            assert csum(raw[14:34]) == 0, "bad IPv4 header checksum"
            assert 14 + total <= len(raw), "IPv4 total length beyond the frame"
            self.ip = dict(total=total, frag=frag, ttl=ttl, proto=proto, src=socket.inet_ntoa(src),
                           dst=socket.inet_ntoa(dst))
            l4 = raw[34:14 + total]
            if proto == 17:
                sport, dport, length, ucs = struct.unpack("!HHHH", l4[:8])
                assert length == len(l4), "UDP length != IPv4 payload"
                assert ucs != 0, "reply without a UDP checksum"
                pseudo = src + dst + struct.pack("!BBH", 0, 17, length)
                assert csum(pseudo + l4) == 0, "bad UDP checksum"
                self.udp = dict(sport=sport, dport=dport, payload=l4[8:])
            elif proto == 1:
                assert csum(l4) == 0, "bad ICMP checksum"
                typ, code, _, ident, seq = struct.unpack("!BBHHH", l4[:8])
                self.icmp = dict(type=typ, code=code, ident=ident, seq=seq, data=l4[8:])


# ---------------------------------------------------------------- pcap

def pcap_write(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        t = int(time.time())
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", t, i, len(fr), len(fr)))
            f.write(fr)


def pcap_read(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    assert magic in (0xa1b2c3d4, 0xa1b23c4d), "not a little-endian pcap file"
    linktype = struct.unpack("<I", data[20:24])[0]
    assert linktype == 1, "not Ethernet"
    out, off = [], 24
    while off + 16 <= len(data):
        _, _, incl, orig = struct.unpack("<IIII", data[off:off + 16])
        off += 16
        out.append(data[off:off + incl])
        off += incl
    return out


# ---------------------------------------------------------------- namespaces

def _setns(path):
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + path)
    finally:
        os.close(fd)


def sh(*cmd, check=True, timeout=30):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=timeout)


SIOCETHTOOL = 0x8946
ETHTOOL_STXCSUM = 0x17


def ethtool_set(ifname, cmd, value):
    """ethtool -K without ethtool: SIOCETHTOOL with a struct ethtool_value."""
    import fcntl
    ev = ctypes.create_string_buffer(struct.pack("II", cmd, value))
    ifr = struct.pack("16sP16x", ifname.encode(), ctypes.addressof(ev))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), SIOCETHTOOL, ifr)


class NetPair:
    """Namespaces A (appliance, veth0 without an address: DPDK owns it) and P
    (peer, veth1 = 10.99.N.1/24); names unique per run; deleted by close()."""

    def __init__(self):
        tag = "%x%04x" % (os.getpid() & 0xfffff, random.randrange(0x10000))
        self.a, self.p = "fsA" + tag, "fsP" + tag
        self.net = 10 + os.getpid() % 200  # 10.99.<net>.0/24, inside 10.99/16 only
        self.peer_ip = "10.99.%d.1" % self.net
        self.app_ip = "10.99.%d.2" % self.net
        self.orig_ns = os.open("/proc/self/ns/net", os.O_RDONLY)
        self.made = []

    def create(self):
        try:
            for ns in (self.a, self.p):
                sh("ip", "netns", "add", ns)
                self.made.append(ns)
            sh("ip", "-n", self.a, "link", "add", "veth0", "type", "veth", "peer", "name", "veth1",
               "netns", self.p)
        except (subprocess.CalledProcessError, FileNotFoundError, OSError) as e:
            self.close()
            skip("cannot create a network namespace and veth pair: %s" %
                 (getattr(e, "stderr", "") or e))
        for ns in (self.a, self.p):
            sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
               "net.ipv6.conf.default.disable_ipv6=1", check=False)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", self.a, "link", "set", "veth0", "up")
        sh("ip", "-n", self.p, "addr", "add", self.peer_ip + "/24", "dev", "veth1")
        sh("ip", "-n", self.p, "link", "set", "veth1", "up")
        return self

    def enter_peer(self):
        """Move this (single-threaded) test process into the peer namespace,
        so plain sockets are the kernel peer's. veth1's TX checksum offload
        is turned off there: a veth hands AF_PACKET on the other end UDP
        packets whose checksum is not filled in yet (CHECKSUM_PARTIAL), which
        the appliance rightly drops as bad_udp_cksum."""
        _setns("/var/run/netns/" + self.p)
        ethtool_set(self.veth_peer, ETHTOOL_STXCSUM, 0)

    veth_peer = "veth1"

    def close(self):
        try:
            _setns("/proc/self/fd/%d" % self.orig_ns)
        except OSError:
            pass
        for ns in self.made:
            sh("ip", "netns", "del", ns, check=False)
        self.made = []


# ---------------------------------------------------------------- the daemon in dpdk mode

def dpdk_config(tmp, eal, address, port, workers=1, http_port=0, items=DEFAULT_ITEMS,
                durability="none", extra="", admin_port=0):
    path = os.path.join(tmp, "flashsale.ini")
    with open(path, "w") as f:
        f.write(f"""
[appliance]
mode = dpdk
workers = {workers}
eal = {eal}
idle_sleep_us = 20000

[net]
address = {address}
udp_port = {port}
http_port = {http_port}

[persist]
dir = {tmp}/data
durability = {durability}

[limits]
max_orders = 100000

[admin]
address = {address}
port = {admin_port}

[activity.1]
name = dpdk test sale
start = now-1s
end = now+1h
require_token = yes
token_key = 000102030405060708090a0b0c0d0e0f
payment_key = f0e0d0c0b0a090807060504030201000
pay_timeout_s = 900
{items}
{extra}
""")
    return path


def eal_words(extra):
    """EAL words for a test: no hugepages, no shared config (parallel runs)."""
    return "--no-huge --no-shconf -m 256 --no-telemetry " + extra


class DpdkDaemon:
    """flashsaled in mode = dpdk, optionally inside network namespace ns."""

    def __init__(self, config, tmp, ns=None):
        self.config, self.tmp, self.ns = config, tmp, ns
        self.log_path = os.path.join(tmp, "daemon.log")
        self.proc = None
        self.start_cmd_prefix = []  # e.g. setpriv --reuid=65534 ...

    def start(self, timeout=30.0):
        cmd = [DAEMON, "--config", self.config]
        if not os.path.exists(os.path.join(self.tmp, "data", "MANIFEST")):
            cmd.append("--init")  # a new appliance (these tests never lose state)
        if self.ns:
            cmd = ["ip", "netns", "exec", self.ns] + cmd
        cmd = self.start_cmd_prefix + cmd
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise AssertionError("flashsaled exited %d at start:\n%s" %
                                     (self.proc.returncode, self.output()))
            if " ready: " in self.output():
                return self
            time.sleep(0.05)
        self.proc.kill()
        raise AssertionError("flashsaled not ready in %.0fs:\n%s" % (timeout, self.output()))

    def output(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, check=True):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("flashsaled did not stop on SIGTERM:\n" + self.output())
        if check and rc != 0:
            raise AssertionError("flashsaled exit %d:\n%s" % (rc, self.output()))
        return rc


class VethDaemon:
    """A unittest.TestCase mixin: one flashsaled (mode = dpdk, net_af_packet on
    veth0 of a NetPair, two queue pairs, strict rp_filter and arp_ignore in
    the appliance's namespace) for the whole class, the test process in the
    peer's namespace; torn down at the end, or at once if set-up fails. A
    class gives make_config(tmp, eal) -> config path, and may check the host
    in check_host() (skip) before anything is made."""

    @classmethod
    def check_host(cls):
        pass

    @classmethod
    def setUpClass(cls):
        require_root()
        cls.check_host()
        cls.net = NetPair().create()
        try:
            sh("ip", "netns", "exec", cls.net.a, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1",
               "net.ipv4.conf.veth0.rp_filter=1", "net.ipv4.conf.veth0.arp_ignore=8")
            cls.tmp = tmpdir()
            cls.cfg = cls.make_config(cls.tmp, eal_words("--vdev=net_af_packet0,iface=veth0,qpairs=2"))
            cls.d = DpdkDaemon(cls.cfg, cls.tmp, ns=cls.net.a).start()
            cls.net.enter_peer()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            if getattr(cls, "d", None):
                cls.d.stop()
        finally:
            cls.net.close()


def tmpdir():
    """Removed at exit (64 MiB log segments each; FLASHSALE_KEEP_TMP=1 keeps it)."""
    path = tempfile.mkdtemp(prefix="fs-dpdk-")
    if not os.environ.get("FLASHSALE_KEEP_TMP"):
        atexit.register(shutil.rmtree, path, True)
    return path
