/*
 * fuzz_net.c — the DPDK stack's frame classifier and in-place reply
 * builders on arbitrary frames: classify must never read past len, and a
 * frame it accepts must be turned into a reply that classifies again.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "dp.h"
#include "dp_net.h"
#include "fs_common.h"
#include "fuzz.h"

#define FRAME_MAX 4096

static const struct dp_net_local local = {
	.mac = {.addr_bytes = {0x02, 0, 0, 0, 0, 0x01}},
	.ip_be = 0x0200630a, /* 10.99.0.2 */
	.udp_port_be = 0x141e,  /* 7700 */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dp_net_pkt pkt;
	enum dp_net_verdict v;
	uint8_t *f;

	if (size > FRAME_MAX)
		return 0;
	f = malloc(size ? size : 1); /* exactly sized: ASan catches over-reads */
	memcpy(f, data, size);
	v = dp_net_classify(&local, f, (uint16_t)size, &pkt);
	FS_ASSERT(v < DP_NET_VERDICT_COUNT);
	if (v == DP_NET_ARP_REQUEST)
		FS_ASSERT(dp_net_arp_reply(&local, f, (uint16_t)size) > 0);
	else if (v == DP_NET_ICMP_ECHO)
		FS_ASSERT(dp_net_icmp_echo_reply(&local, f, (uint16_t)size) > 0);
	else if (v == DP_NET_FSP) {
		FS_ASSERT((size_t)pkt.payload_off + pkt.payload_len <= size);
		(void)dp_fsp_parse_header(f + pkt.payload_off, pkt.payload_len);
		FS_ASSERT(dp_net_udp_reply_inplace(&local, f, (uint16_t)size, &pkt,
						   pkt.payload_len) > 0);
	}
	free(f);
	return 0;
}

size_t fuzz_seed(size_t i, const uint8_t **data)
{
	static uint8_t udp[128], arp[64], icmp[98];
	static const uint8_t fsp[72] = {0x46, 0x53, 1, 1, 0, 0, 0, 0, 6};
	struct rte_ether_addr peer = {.addr_bytes = {0x02, 0, 0, 0, 0, 0x02}};
	struct dp_net_local them = local;
	int n;

	switch (i) {
	case 0: /* an FSP TIME request from a peer to us */
		them.mac = peer;
		them.ip_be = 0x0100630a;
		them.udp_port_be = htons(40000);
		n = dp_net_udp_build(&them, udp, sizeof(udp), &local.mac, local.ip_be,
				     local.udp_port_be, fsp, sizeof(fsp));
		*data = udp;
		return n > 0 ? (size_t)n : 0;
	case 1: /* a gratuitous ARP is an ARP request frame */
		n = dp_net_gratuitous_arp(&local, arp, sizeof(arp));
		*data = arp;
		return n > 0 ? (size_t)n : 0;
	case 2: /* Ethernet + IPv4 + ICMP echo request, checksums left to mutation */
		memset(icmp, 0, sizeof(icmp));
		memcpy(icmp, local.mac.addr_bytes, 6);
		memcpy(icmp + 6, peer.addr_bytes, 6);
		icmp[12] = 0x08;
		icmp[14] = 0x45;
		icmp[17] = 84;
		icmp[22] = 64;
		icmp[23] = 1;
		memcpy(icmp + 26, "\x0a\x63\x00\x01\x0a\x63\x00\x02", 8);
		icmp[34] = 8;
		*data = icmp;
		return sizeof(icmp);
	default:
		return 0;
	}
}
