"""No amplification in DPDK mode: the checks of test_amplification.py through
the DPDK front end (net_af_packet on a veth pair between two throw-away
network namespaces, two workers, durability batch so OKs wait for the log),
the test acting as the kernel peer. Datagrams carry at most 22 messages so
they fit one 1500-byte frame (DPDK mode drops IPv4 fragments). Every request
datagram must get exactly one response datagram, no larger than it. Skipped
(77) when not root or when namespaces/veth cannot be created."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from fsp import main  # noqa: E402
import test_amplification as A  # noqa: E402
import test_dpdk_lib as L  # noqa: E402

FSP_PORT = 7700
WORKERS = 2
MSGS_PER_DGRAM = 22


class DpdkAmplification(L.VethDaemon, A.Amplification):
    @classmethod
    def make_config(cls, tmp, eal):
        return L.dpdk_config(tmp, eal, cls.net.app_ip, FSP_PORT, workers=WORKERS,
                             items=A.ITEMS, durability="batch")

    def counter(self, d):
        return A.Counter(FSP_PORT, host=self.net.app_ip, bind="0.0.0.0")

    # The kernel-mode cases start their own daemons; here one DPDK daemon
    # serves both cases below.
    test_multi_owner_datagrams_get_one_response_each = None
    test_small_mixed_datagrams = None
    test_held_for_the_log_one_response_each = None
    test_sold_out_mixed_with_owner_answers = None

    def test_dpdk_multi_owner_datagrams(self):
        b = self.batches(0, 20, size=MSGS_PER_DGRAM, workers=WORKERS)
        self.check_one_each(self.d, b)
        self.check_one_each(self.d, b)  # idempotent repeats

    def test_dpdk_small_datagrams(self):
        b = [bb[:1 + k % 4] for k, bb in enumerate(self.batches(50000, 16, size=4,
                                                                 workers=WORKERS))]
        self.check_one_each(self.d, b)


if __name__ == "__main__":
    main()
