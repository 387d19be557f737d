/*
 * dp_net.c — the per-core user-space network stack of the DPDK front end:
 * a classifier and in-place reply builders over a frame in a plain buffer.
 *
 * In mode = dpdk the appliance owns its IP on the port: it answers ARP for
 * it, answers ICMP echo, serves FSP on its UDP port, and hands everything
 * else that is addressed to it to the kernel through the exception path
 * (ARCHITECTURE.md, "Two ways in"). These functions decide which, per frame,
 * with no state, no mbuf and no EAL, so they are unit-tested directly.
 *
 * What is parsed. Ethernet II only (802.1Q/802.1ad tags are not parsed).
 * Frames to another unicast MAC are dropped (NOT_FOR_US); frames to our MAC,
 * broadcast or a multicast MAC go on; a group (multicast) source MAC is never
 * legitimate and is dropped (BAD_SRC). Then by ethertype:
 *   - ARP: Ethernet/IPv4 only (else ARP_FORMAT). Target IP not ours:
 *     NOT_FOR_US. Sender IP ours (an address conflict, or our own
 *     announcement looped back) or a group sender MAC: BAD_SRC. A request for
 *     our IP, including an RFC 5227 probe (sender IP 0), is ARP_REQUEST;
 *     other operations for us (replies to the kernel's own requests) go to
 *     the exception path.
 *   - IPv4: version 4 and IHL >= 5 (IP_HDR); options are not supported on
 *     the fast path (IP_OPTIONS: legitimate clients do not send them); total
 *     length >= 20 and not beyond the frame (IP_LEN; a frame longer than the
 *     total length carries Ethernet padding, which is ignored: pkt_len tells
 *     where the packet ends); header checksum (IP_CKSUM); fragments (MF or an
 *     offset) are dropped (FRAGMENT: we do not reassemble, so an FSP
 *     datagram must fit one packet — 22 messages at MTU 1500); TTL 0 (TTL).
 *     Then the destination: another unicast address is NOT_FOR_US; limited
 *     broadcast and multicast go to the kernel (EXCEPTION) and are never
 *     answered here. For our address the source must be one we may answer
 *     (BAD_SRC: 0/8, 127/8, 224/4 and above, our own address — Linux's
 *     "martians"), so a reply can never be aimed at a group or at ourselves.
 *   - UDP to our IP: UDP length must be >= 8 and equal the IPv4 payload
 *     length (UDP_LEN; stricter than Linux, which trims a shorter one, but no
 *     real stack sends that). To our FSP port: source port 0 cannot be
 *     answered (BAD_SRC); the checksum is verified unless it is 0, which means
 *     none (UDP_CKSUM); then FSP with the payload's offset and length. UDP to
 *     other ports goes to the kernel, which checks its own checksums.
 *   - ICMP to our IP: an echo request (type 8, code 0) of at least 8 bytes
 *     with a valid checksum is ICMP_ECHO (else ICMP); any other ICMP (errors
 *     for the kernel's TCP, echo replies to its pings) goes to the kernel.
 *   - Everything else addressed to us — TCP, other IP protocols, IPv6, VLAN
 *     tagged frames, other ethertypes — goes to the kernel (EXCEPTION).
 * The classifier reads only frame[0, len) and checks each header's length
 * before touching it; it never writes the frame.
 *
 * Replies. The builders rewrite every header field they depend on rather
 * than trusting what the request carried (a reply is always from our MAC, IP
 * and FSP port to the requester, TTL 64). The UDP reply is built exactly like
 * a fresh frame (DF, id 0) around a payload already in place, so the FSP
 * layer can answer in the request's own mbuf.
 *
 * Checksums. Receive: the IPv4 header checksum of every IPv4 packet, the
 * ICMP checksum of echo requests and the UDP checksum of FSP datagrams are
 * verified in software with sum16 (DPDK's rte_raw_cksum, 16 bytes per step:
 * see there; rte_raw_cksum itself for ICMP). Transmit: in software by default
 * (the IPv4 header and UDP with sum16, UDP turning a computed 0 into
 * 0xffff so a reply never says "no checksum"; ICMP by recomputing over the
 * whole ICMP message). With the offload flags of struct dp_net_local the
 * IPv4 checksum is left 0 and the UDP field holds the pseudo-header sum, for
 * the NIC to finish (see dp_net.h for the mbuf flags the front end must set).
 */
#include "dp_net.h"

#include <errno.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_udp.h>

#include "fs_common.h"

#define ETH_LEN ((uint16_t)sizeof(struct rte_ether_hdr))
#define IP_LEN ((uint16_t)sizeof(struct rte_ipv4_hdr))
#define UDP_LEN ((uint16_t)sizeof(struct rte_udp_hdr))
#define ICMP_LEN ((uint16_t)sizeof(struct rte_icmp_hdr))
#define ARP_LEN ((uint16_t)sizeof(struct rte_arp_hdr))
#define L4_OFF (ETH_LEN + IP_LEN)
#define CKSUM_OK 0xffff /* one's complement sum of a block with a valid checksum */
/* 224.0.0.0-239.255.255.255, host order. Not RTE_IS_IPV4_MCAST: DPDK 22.11's
 * RTE_IPV4() shifts a signed int (224 << 24 overflows; UBSan reports it). */
#define IPV4_MCAST_FIRST 0xe0000000u
#define IPV4_MCAST_LAST 0xefffffffu

_Static_assert(sizeof(struct rte_ether_hdr) == 14, "Ethernet header");
_Static_assert(sizeof(struct rte_ipv4_hdr) == 20, "IPv4 header without options");
_Static_assert(sizeof(struct rte_udp_hdr) == 8, "UDP header");
_Static_assert(sizeof(struct rte_icmp_hdr) == 8, "ICMP echo header");
_Static_assert(sizeof(struct rte_arp_hdr) == 28, "ARP for IPv4 over Ethernet");
_Static_assert(DP_NET_UDP_HDRS_LEN == ETH_LEN + IP_LEN + UDP_LEN, "FSP payload offset");
_Static_assert(DP_NET_ARP_FRAME_LEN == ETH_LEN + ARP_LEN, "ARP frame length");

static inline enum dp_net_verdict drop(struct dp_net_pkt *out, enum dp_net_drop why)
{
	out->drop = why;
	return DP_NET_DROP;
}

/* ---------------------------------------------------------------- classify */

/* Limited broadcast or multicast: for the kernel, never answered here. */
static inline bool ipv4_is_group(uint32_t ip_be)
{
	uint32_t ip = rte_be_to_cpu_32(ip_be);

	return ip == UINT32_MAX || (ip >= IPV4_MCAST_FIRST && ip <= IPV4_MCAST_LAST);
}

/* A source we must not answer: 0/8, loopback, 224/4 and above (multicast,
 * reserved, broadcast), or our own address. */
static inline bool ipv4_src_bad(uint32_t ip_be, uint32_t our_ip_be)
{
	uint32_t ip = rte_be_to_cpu_32(ip_be);

	return ip_be == our_ip_be || (ip >> 24) == 0 || (ip >> 24) == 127 ||
	       ip >= IPV4_MCAST_FIRST;
}

static enum dp_net_verdict classify_arp(const struct dp_net_local *local, const uint8_t *frame,
					uint16_t len, struct dp_net_pkt *out)
{
	const struct rte_arp_hdr *arp = (const struct rte_arp_hdr *)(frame + ETH_LEN);
	const struct rte_arp_ipv4 *a;

	if (len < ETH_LEN + ARP_LEN)
		return drop(out, DP_NET_DROP_SHORT);
	a = &arp->arp_data;
	if (arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != sizeof(uint32_t))
		return drop(out, DP_NET_DROP_ARP_FORMAT);
	out->l3_off = ETH_LEN;
	if (a->arp_tip != local->ip_be)
		return drop(out, DP_NET_DROP_NOT_FOR_US);
	if (a->arp_sip == local->ip_be || rte_is_multicast_ether_addr(&a->arp_sha))
		return drop(out, DP_NET_DROP_BAD_SRC);
	if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST))
		return DP_NET_ARP_REQUEST;
	return DP_NET_EXCEPTION;
}

/* The one's-complement sum of len bytes at p plus sum, folded to 16 bits
 * (not complemented): the same value as rte_raw_cksum, which adds one 16-bit
 * word per step. Here four 32-bit words per step go into two 64-bit
 * accumulators, which cannot carry out for any frame (2^32 words), and the
 * fold at the end is the end-around carry (2^16 = 1 mod 0xffff, so word
 * width and byte order do not change the folded sum). The UDP checksum of a
 * 16-message datagram (1 KiB, summed once on receipt and once for the
 * reply) was a quarter of the worker's time with the 16-bit loop. */
static inline uint16_t sum16(const void *p, size_t len, uint64_t sum)
{
	const uint8_t *b = p;
	uint64_t s2 = 0;
	uint32_t w[4];
	uint16_t h;

	for (; len >= 16; len -= 16, b += 16) {
		memcpy(w, b, 16);
		sum += (uint64_t)w[0] + w[2];
		s2 += (uint64_t)w[1] + w[3];
	}
	sum += s2;
	if (len >= 8) {
		memcpy(w, b, 8);
		sum += (uint64_t)w[0] + w[1];
		b += 8, len -= 8;
	}
	if (len >= 4) {
		memcpy(w, b, 4);
		sum += w[0];
		b += 4, len -= 4;
	}
	if (len >= 2) {
		memcpy(&h, b, 2);
		sum += h;
		b += 2, len -= 2;
	}
	if (len) { /* the odd last byte, as the first byte of a zero-padded word */
		h = 0;
		memcpy(&h, b, 1);
		sum += h;
	}
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)sum;
}

/* The folded sum of the IPv4 pseudo-header and the UDP datagram (header
 * with its checksum field as it is, payload): CKSUM_OK when a stored
 * checksum is valid; with the field 0, its complement is the checksum. */
static inline uint16_t udp_sum(const struct rte_ipv4_hdr *ip, const struct rte_udp_hdr *udp)
{
	uint64_t ph = (uint64_t)ip->src_addr + ip->dst_addr +
		      rte_cpu_to_be_16((uint16_t)IPPROTO_UDP) + udp->dgram_len;

	return sum16(udp, rte_be_to_cpu_16(udp->dgram_len), ph);
}

/* UDP to our IP; the IPv4 header is valid and total bytes are in the frame. */
static enum dp_net_verdict classify_udp(const struct dp_net_local *local, const uint8_t *frame,
					uint16_t total, struct dp_net_pkt *out, unsigned hw)
{
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(frame + ETH_LEN);
	const struct rte_udp_hdr *udp = (const struct rte_udp_hdr *)(frame + L4_OFF);
	uint16_t ip_payload = (uint16_t)(total - IP_LEN);

	if (ip_payload < UDP_LEN || rte_be_to_cpu_16(udp->dgram_len) != ip_payload)
		return drop(out, DP_NET_DROP_UDP_LEN);
	if (udp->dst_port != local->udp_port_be)
		return DP_NET_EXCEPTION;
	if (udp->src_port == 0)
		return drop(out, DP_NET_DROP_BAD_SRC);
	/* Sums the total_length - 20 bytes from udp: all inside the frame. */
	if (!(hw & DP_NET_HW_L4_GOOD) && udp->dgram_cksum != 0 && udp_sum(ip, udp) != CKSUM_OK)
		return drop(out, DP_NET_DROP_UDP_CKSUM);
	out->payload_off = DP_NET_UDP_HDRS_LEN;
	out->payload_len = (uint16_t)(ip_payload - UDP_LEN);
	out->src_port_be = udp->src_port;
	return DP_NET_FSP;
}

static enum dp_net_verdict classify_icmp(const uint8_t *frame, uint16_t total,
					 struct dp_net_pkt *out)
{
	const struct rte_icmp_hdr *icmp = (const struct rte_icmp_hdr *)(frame + L4_OFF);
	uint16_t icmp_len = (uint16_t)(total - IP_LEN);

	if (icmp_len < ICMP_LEN)
		return drop(out, DP_NET_DROP_ICMP);
	if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0)
		return DP_NET_EXCEPTION;
	if (rte_raw_cksum(icmp, icmp_len) != CKSUM_OK)
		return drop(out, DP_NET_DROP_ICMP);
	return DP_NET_ICMP_ECHO;
}

/* Header checks in a fixed order, so each frame has exactly one reason. */
static enum dp_net_drop ipv4_check(const struct rte_ipv4_hdr *ip, uint16_t len, unsigned hw)
{
	uint8_t ihl = ip->version_ihl & RTE_IPV4_HDR_IHL_MASK;
	uint16_t total = rte_be_to_cpu_16(ip->total_length);

	if ((ip->version_ihl >> 4) != IPVERSION || ihl < RTE_IPV4_MIN_IHL)
		return DP_NET_DROP_IP_HDR;
	if (ihl != RTE_IPV4_MIN_IHL)
		return DP_NET_DROP_IP_OPTIONS;
	if (total < IP_LEN || total > len - ETH_LEN)
		return DP_NET_DROP_IP_LEN;
	if (!(hw & DP_NET_HW_IP_GOOD) && sum16(ip, IP_LEN, 0) != CKSUM_OK)
		return DP_NET_DROP_IP_CKSUM;
	if (ip->fragment_offset & rte_cpu_to_be_16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK))
		return DP_NET_DROP_FRAGMENT;
	if (ip->time_to_live == 0)
		return DP_NET_DROP_TTL;
	return DP_NET_DROP_NONE;
}

static enum dp_net_verdict classify_ipv4(const struct dp_net_local *local, const uint8_t *frame,
					 uint16_t len, struct dp_net_pkt *out, unsigned hw)
{
	const struct rte_ipv4_hdr *ip = (const struct rte_ipv4_hdr *)(frame + ETH_LEN);
	enum dp_net_drop why;
	uint16_t total;

	if (len < ETH_LEN + IP_LEN)
		return drop(out, DP_NET_DROP_SHORT);
	why = ipv4_check(ip, len, hw);
	if (why != DP_NET_DROP_NONE)
		return drop(out, why);
	total = rte_be_to_cpu_16(ip->total_length);
	out->l3_off = ETH_LEN;
	out->l4_off = L4_OFF;
	out->pkt_len = (uint16_t)(ETH_LEN + total);
	out->src_ip_be = ip->src_addr;
	if (ip->dst_addr != local->ip_be)
		return ipv4_is_group(ip->dst_addr) ? DP_NET_EXCEPTION
						   : drop(out, DP_NET_DROP_NOT_FOR_US);
	if (ipv4_src_bad(ip->src_addr, local->ip_be))
		return drop(out, DP_NET_DROP_BAD_SRC);
	switch (ip->next_proto_id) {
	case IPPROTO_UDP:
		return classify_udp(local, frame, total, out, hw);
	case IPPROTO_ICMP:
		return classify_icmp(frame, total, out);
	default:
		return DP_NET_EXCEPTION;
	}
}

enum dp_net_verdict dp_net_classify_hw(const struct dp_net_local *local, uint8_t *frame,
				       uint16_t len, struct dp_net_pkt *out, unsigned hw)
{
	const struct rte_ether_hdr *eth = (const struct rte_ether_hdr *)frame;

	memset(out, 0, sizeof(*out));
	if (len < ETH_LEN)
		return drop(out, DP_NET_DROP_SHORT);
	if (rte_is_unicast_ether_addr(&eth->dst_addr) &&
	    !rte_is_same_ether_addr(&eth->dst_addr, &local->mac))
		return drop(out, DP_NET_DROP_NOT_FOR_US);
	if (rte_is_multicast_ether_addr(&eth->src_addr))
		return drop(out, DP_NET_DROP_BAD_SRC);
	rte_ether_addr_copy(&eth->src_addr, &out->src_mac);
	switch (rte_be_to_cpu_16(eth->ether_type)) {
	case RTE_ETHER_TYPE_IPV4:
		return classify_ipv4(local, frame, len, out, hw);
	case RTE_ETHER_TYPE_ARP:
		return classify_arp(local, frame, len, out);
	default:
		/* IPv6, VLAN/QinQ tags, LLDP, 802.3 lengths, ...: the kernel's. */
		return DP_NET_EXCEPTION;
	}
}

enum dp_net_verdict dp_net_classify(const struct dp_net_local *local, uint8_t *frame,
				    uint16_t len, struct dp_net_pkt *out)
{
	return dp_net_classify_hw(local, frame, len, out, 0);
}

/* ---------------------------------------------------------------- replies */

int dp_net_arp_reply(const struct dp_net_local *local, uint8_t *frame, uint16_t len)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(frame + ETH_LEN);
	struct rte_arp_ipv4 *a = &arp->arp_data;
	struct rte_ether_addr requester;

	if (len < DP_NET_ARP_FRAME_LEN)
		return -EINVAL;
	/* Like Linux: the reply goes to the sender hardware address. */
	rte_ether_addr_copy(&a->arp_sha, &requester);
	rte_ether_addr_copy(&requester, &eth->dst_addr);
	rte_ether_addr_copy(&local->mac, &eth->src_addr);
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
	rte_ether_addr_copy(&requester, &a->arp_tha);
	a->arp_tip = a->arp_sip;
	rte_ether_addr_copy(&local->mac, &a->arp_sha);
	a->arp_sip = local->ip_be;
	return DP_NET_ARP_FRAME_LEN;
}

int dp_net_icmp_echo_reply(const struct dp_net_local *local, uint8_t *frame, uint16_t len)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(frame + ETH_LEN);
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)(frame + L4_OFF);
	struct rte_ether_addr requester;
	uint16_t total;

	if (len < L4_OFF + ICMP_LEN || ip->version_ihl != RTE_IPV4_VHL_DEF)
		return -EINVAL;
	total = rte_be_to_cpu_16(ip->total_length);
	if (total < IP_LEN + ICMP_LEN || total > len - ETH_LEN)
		return -EINVAL;
	/* From our MAC even if the request was sent to broadcast. */
	rte_ether_addr_copy(&eth->src_addr, &requester);
	rte_ether_addr_copy(&requester, &eth->dst_addr);
	rte_ether_addr_copy(&local->mac, &eth->src_addr);
	ip->dst_addr = ip->src_addr;
	ip->src_addr = local->ip_be;
	ip->time_to_live = DP_NET_TTL;
	ip->hdr_checksum = 0;
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_code = 0;
	icmp->icmp_cksum = 0;
	/* Recomputed rather than patched: a few hundred bytes at most per ping,
	 * and the reply is right whatever the request's checksum was. */
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, (size_t)(total - IP_LEN));
	if (!local->tx_ip_cksum_offload)
		ip->hdr_checksum = rte_ipv4_cksum(ip);
	return ETH_LEN + total;
}

/* Write Ethernet, IPv4 and UDP headers from us to dst for a payload of
 * payload_len bytes already at DP_NET_UDP_HDRS_LEN, checksum fields 0
 * (udp_checksums fills them). */
static void udp_headers_only(const struct dp_net_local *local, uint8_t *frame,
			     const struct rte_ether_addr *dst_mac, uint32_t dst_ip_be,
			     uint16_t dst_port_be, uint16_t payload_len)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(frame + ETH_LEN);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(frame + L4_OFF);
	uint16_t udp_len = (uint16_t)(UDP_LEN + payload_len);

	rte_ether_addr_copy(dst_mac, &eth->dst_addr);
	rte_ether_addr_copy(&local->mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(IP_LEN + udp_len));
	ip->packet_id = 0;
	ip->fragment_offset = rte_cpu_to_be_16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = DP_NET_TTL;
	ip->next_proto_id = IPPROTO_UDP;
	ip->hdr_checksum = 0;
	ip->src_addr = local->ip_be;
	ip->dst_addr = dst_ip_be;
	udp->src_port = local->udp_port_be;
	udp->dst_port = dst_port_be;
	udp->dgram_len = rte_cpu_to_be_16(udp_len);
	udp->dgram_cksum = 0;
}

/* The checksums of a frame udp_headers_only wrote (fields 0): in software,
 * or the pseudo-header sum the NIC completes when it offloads. */
static void udp_checksums(const struct dp_net_local *local, uint8_t *frame)
{
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(frame + ETH_LEN);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(frame + L4_OFF);

	if (local->tx_udp_cksum_offload) {
		udp->dgram_cksum = rte_ipv4_phdr_cksum(ip, 0);
	} else {
		uint16_t ck = (uint16_t)~udp_sum(ip, udp);
		udp->dgram_cksum = ck ? ck : 0xffff; /* 0 would say "no checksum" */
	}
	if (!local->tx_ip_cksum_offload)
		ip->hdr_checksum = (uint16_t)~sum16(ip, IP_LEN, 0); /* rte_ipv4_cksum, 16 bytes a step */
}

static void udp_headers(const struct dp_net_local *local, uint8_t *frame,
			const struct rte_ether_addr *dst_mac, uint32_t dst_ip_be,
			uint16_t dst_port_be, uint16_t payload_len)
{
	udp_headers_only(local, frame, dst_mac, dst_ip_be, dst_port_be, payload_len);
	udp_checksums(local, frame);
}

/* capacity is a uint16_t, so a frame that fits it also fits an IPv4 total
 * length (capacity - 14 <= 65521). */
static inline bool udp_fits(uint16_t capacity, uint16_t payload_len)
{
	return (uint32_t)DP_NET_UDP_HDRS_LEN + payload_len <= capacity;
}

int dp_net_udp_reply_headers(const struct dp_net_local *local, uint8_t *frame, uint16_t capacity,
			     const struct dp_net_pkt *req, uint16_t payload_len)
{
	struct rte_ether_addr dst;

	if (req->payload_off != DP_NET_UDP_HDRS_LEN)
		return -EINVAL;
	if (!udp_fits(capacity, payload_len))
		return -ENOSPC;
	rte_ether_addr_copy(&req->src_mac, &dst);
	udp_headers_only(local, frame, &dst, req->src_ip_be, req->src_port_be, payload_len);
	return DP_NET_UDP_HDRS_LEN + payload_len;
}

void dp_net_udp_reply_checksums(const struct dp_net_local *local, uint8_t *frame)
{
	udp_checksums(local, frame);
}

int dp_net_udp_reply_inplace(const struct dp_net_local *local, uint8_t *frame, uint16_t capacity,
			     const struct dp_net_pkt *req, uint16_t payload_len)
{
	int len = dp_net_udp_reply_headers(local, frame, capacity, req, payload_len);

	if (len > 0)
		udp_checksums(local, frame);
	return len;
}

int dp_net_udp_build(const struct dp_net_local *local, uint8_t *frame, uint16_t capacity,
		     const struct rte_ether_addr *dst_mac, uint32_t dst_ip_be, uint16_t dst_port_be,
		     const void *payload, uint16_t payload_len)
{
	struct rte_ether_addr dst;

	if (!udp_fits(capacity, payload_len))
		return -ENOSPC;
	/* Copies first: dst_mac and payload may point into frame. */
	rte_ether_addr_copy(dst_mac, &dst);
	if (payload_len != 0)
		memmove(frame + DP_NET_UDP_HDRS_LEN, payload, payload_len);
	udp_headers(local, frame, &dst, dst_ip_be, dst_port_be, payload_len);
	return DP_NET_UDP_HDRS_LEN + payload_len;
}

int dp_net_gratuitous_arp(const struct dp_net_local *local, uint8_t *frame, uint16_t capacity)
{
	struct rte_ether_hdr *eth = (struct rte_ether_hdr *)frame;
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(frame + ETH_LEN);
	struct rte_arp_ipv4 *a = &arp->arp_data;

	if (capacity < DP_NET_ARP_FRAME_LEN)
		return -ENOSPC;
	memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
	rte_ether_addr_copy(&local->mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = sizeof(uint32_t);
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	rte_ether_addr_copy(&local->mac, &a->arp_sha);
	a->arp_sip = local->ip_be;
	memset(&a->arp_tha, 0, sizeof(a->arp_tha));
	a->arp_tip = local->ip_be;
	return DP_NET_ARP_FRAME_LEN;
}

int dp_net_pad(uint8_t *frame, uint16_t len, uint16_t capacity)
{
	if (len >= DP_NET_ETHER_MIN_LEN)
		return len;
	if (capacity < DP_NET_ETHER_MIN_LEN)
		return -ENOSPC;
	memset(frame + len, 0, (size_t)(DP_NET_ETHER_MIN_LEN - len));
	return DP_NET_ETHER_MIN_LEN;
}

/* ---------------------------------------------------------------- counters */

void dp_net_count(struct dp_net_stats *stats, enum dp_net_verdict verdict,
		  enum dp_net_drop reason)
{
	FS_ASSERT((unsigned)verdict < DP_NET_VERDICT_COUNT);
	stats->verdict[verdict]++;
	if (verdict == DP_NET_DROP) {
		FS_ASSERT((unsigned)reason < DP_NET_DROP_COUNT);
		stats->drop[reason]++;
	}
}

static const char *const verdict_names[DP_NET_VERDICT_COUNT] = {
	[DP_NET_DROP] = "drop",
	[DP_NET_FSP] = "fsp",
	[DP_NET_ARP_REQUEST] = "arp_request",
	[DP_NET_ICMP_ECHO] = "icmp_echo",
	[DP_NET_EXCEPTION] = "exception",
};

static const char *const drop_names[DP_NET_DROP_COUNT] = {
	[DP_NET_DROP_NONE] = "none",
	[DP_NET_DROP_SHORT] = "too_short",
	[DP_NET_DROP_IP_HDR] = "bad_ip_version_ihl",
	[DP_NET_DROP_IP_OPTIONS] = "ip_options",
	[DP_NET_DROP_IP_CKSUM] = "bad_ip_cksum",
	[DP_NET_DROP_IP_LEN] = "bad_ip_length",
	[DP_NET_DROP_FRAGMENT] = "ip_fragment",
	[DP_NET_DROP_TTL] = "ttl_zero",
	[DP_NET_DROP_NOT_FOR_US] = "not_for_us",
	[DP_NET_DROP_BAD_SRC] = "bad_source",
	[DP_NET_DROP_ARP_FORMAT] = "bad_arp_format",
	[DP_NET_DROP_ICMP] = "bad_icmp_echo",
	[DP_NET_DROP_UDP_LEN] = "bad_udp_length",
	[DP_NET_DROP_UDP_CKSUM] = "bad_udp_cksum",
};

const char *dp_net_verdict_name(enum dp_net_verdict verdict)
{
	if ((unsigned)verdict >= DP_NET_VERDICT_COUNT || verdict_names[verdict] == NULL)
		return "?";
	return verdict_names[verdict];
}

const char *dp_net_drop_name(enum dp_net_drop reason)
{
	if ((unsigned)reason >= DP_NET_DROP_COUNT || drop_names[reason] == NULL)
		return "?";
	return drop_names[reason];
}
