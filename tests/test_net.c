/*
 * test_net.c — the DPDK front end's network stack (dataplane/dp_net.c):
 * classification of Ethernet/ARP/IPv4/ICMP/UDP frames and the in-place reply
 * builders, without EAL or mbufs.
 *
 * Frames are written byte by byte by the helpers below (big-endian stores,
 * no DPDK structs), and every checksum is checked with common/fs_cksum, an
 * RFC 1071 sum over bytes that shares nothing with DPDK's, so a builder and
 * a classifier that agree with each other but not with the wire format
 * still fail. The classification cases are a table:
 * each row is its own cmocka test (test_dp_net_classify_<condition>), one
 * test checks that the table produces every verdict and every drop reason,
 * and one replays every row truncated at every length into an exactly-sized
 * heap buffer, so an over-read shows up under AddressSanitizer
 * (meson setup build-asan -Db_sanitize=address,undefined -Db_lundef=false).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include <cmocka.h>

#include "dp_net.h"
#include "fs_cksum.h"

#define FRAME_MAX 2048
#define OFF_IP 14
#define OFF_L4 34
#define OFF_PAY 42
#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define OUR_IP 0x0a630002u   /* 10.99.0.2 */
#define PEER_IP 0x0a630001u  /* 10.99.0.1 */
#define OTHER_IP 0x0a630003u /* 10.99.0.3 */
#define OUR_PORT 7700
#define PEER_PORT 40000

static const uint8_t our_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
static const uint8_t peer_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
static const uint8_t other_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x03};
static const uint8_t bcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* ---------------------------------------------------------------- helpers */

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* Checksums: common/fs_cksum (RFC 1071 over bytes, nothing shared with
 * DPDK's rte_*_cksum that dp_net.c uses). */
static bool ip_cksum_ok(const uint8_t *f)
{
	return fs_cksum_fold(fs_cksum_add(0, f + OFF_IP, (size_t)(f[OFF_IP] & 15) * 4)) ==
	       FS_CKSUM_OK;
}

static bool udp_cksum_ok(const uint8_t *f)
{
	uint16_t ulen = get16(f + OFF_L4 + 4);

	return fs_cksum_fold(fs_cksum_ipv4_pseudo(f + OFF_IP, ulen) +
			     fs_cksum_add(0, f + OFF_L4, ulen)) == FS_CKSUM_OK;
}

static void fix_ip(uint8_t *f)
{
	put16(f + OFF_IP + 10, fs_cksum_ipv4_hdr(f + OFF_IP));
}

static uint16_t udp_cksum_of(const uint8_t *f)
{
	return fs_cksum_udp4(f + OFF_IP, f + OFF_L4, get16(f + OFF_L4 + 4));
}

static void fix_udp(uint8_t *f)
{
	put16(f + OFF_L4 + 6, udp_cksum_of(f));
}

static void fix_icmp(uint8_t *f)
{
	uint16_t len = (uint16_t)(get16(f + OFF_IP + 2) - 20);

	put16(f + OFF_L4 + 2, 0);
	put16(f + OFF_L4 + 2, (uint16_t)~fs_cksum_fold(fs_cksum_add(0, f + OFF_L4, len)));
}

static void put_eth(uint8_t *f, const uint8_t *dst, const uint8_t *src, uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	put16(f + 12, type);
}

/* IPv4 header without options: id 0x1234, DF, TTL 64, valid checksum. */
static void put_ipv4(uint8_t *f, uint8_t proto, uint16_t l4_len, uint32_t src, uint32_t dst)
{
	uint8_t *ip = f + OFF_IP;

	ip[0] = 0x45;
	ip[1] = 0;
	put16(ip + 2, (uint16_t)(20 + l4_len));
	put16(ip + 4, 0x1234);
	put16(ip + 6, 0x4000);
	ip[8] = 64;
	ip[9] = proto;
	put32(ip + 12, src);
	put32(ip + 16, dst);
	fix_ip(f);
}

static void fill(uint8_t *p, uint16_t n, uint8_t seed)
{
	for (uint16_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static uint16_t udp_frame(uint8_t *f, uint32_t src_ip, uint32_t dst_ip, uint16_t sport,
			  uint16_t dport, uint16_t plen)
{
	put_eth(f, our_mac, peer_mac, 0x0800);
	put_ipv4(f, 17, (uint16_t)(8 + plen), src_ip, dst_ip);
	put16(f + OFF_L4, sport);
	put16(f + OFF_L4 + 2, dport);
	put16(f + OFF_L4 + 4, (uint16_t)(8 + plen));
	fill(f + OFF_PAY, plen, 1);
	fix_udp(f);
	return (uint16_t)(OFF_PAY + plen);
}

/* An FSP datagram from the peer to us with plen payload bytes. */
static uint16_t fsp_frame(uint8_t *f, uint16_t plen)
{
	return udp_frame(f, PEER_IP, OUR_IP, PEER_PORT, OUR_PORT, plen);
}

static uint16_t echo_frame(uint8_t *f, uint16_t data_len)
{
	put_eth(f, our_mac, peer_mac, 0x0800);
	put_ipv4(f, 1, (uint16_t)(8 + data_len), PEER_IP, OUR_IP);
	f[OFF_L4] = 8;
	f[OFF_L4 + 1] = 0;
	put16(f + OFF_L4 + 4, 0xbeef);
	put16(f + OFF_L4 + 6, 7);
	fill(f + OFF_L4 + 8, data_len, 3);
	fix_icmp(f);
	return (uint16_t)(OFF_L4 + 8 + data_len);
}

static uint16_t arp_frame(uint8_t *f, uint16_t op, uint32_t sip, uint32_t tip)
{
	uint8_t *a = f + OFF_IP;

	put_eth(f, bcast_mac, peer_mac, 0x0806);
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, peer_mac, 6);
	put32(a + 14, sip);
	memset(a + 18, 0, 6);
	put32(a + 24, tip);
	return 42;
}

static const struct dp_net_local *our_local(void)
{
	static struct dp_net_local l;

	memcpy(l.mac.addr_bytes, our_mac, 6);
	l.ip_be = htonl(OUR_IP);
	l.udp_port_be = htons(OUR_PORT);
	return &l;
}

/* The peer's view, to check that what we send is what the peer expects. */
static const struct dp_net_local *peer_local(void)
{
	static struct dp_net_local l;

	memcpy(l.mac.addr_bytes, peer_mac, 6);
	l.ip_be = htonl(PEER_IP);
	l.udp_port_be = htons(PEER_PORT);
	return &l;
}

/* ---------------------------------------------------------------- frame builders for the table */

static uint16_t b_fsp(uint8_t *f) { return fsp_frame(f, 72); }

static uint16_t b_fsp_zero_cksum(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 72);

	put16(f + OFF_L4 + 6, 0);
	return n;
}

/* A 60-byte minimum frame: 46 bytes of packet, 14 of non-zero padding. */
static uint16_t b_fsp_padded(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 4);

	memset(f + n, 0xa5, (size_t)(60 - n));
	return 60;
}

static uint16_t b_fsp_odd_len(uint8_t *f) { return fsp_frame(f, 73); }

static uint16_t b_fsp_bcast_mac(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 8);

	memcpy(f, bcast_mac, 6);
	return n;
}

static uint16_t b_arp_req(uint8_t *f) { return arp_frame(f, 1, PEER_IP, OUR_IP); }
static uint16_t b_arp_probe(uint8_t *f) { return arp_frame(f, 1, 0, OUR_IP); }

static uint16_t b_arp_req_padded(uint8_t *f)
{
	arp_frame(f, 1, PEER_IP, OUR_IP);
	memset(f + 42, 0x5a, 18);
	return 60;
}

static uint16_t b_arp_reply_for_us(uint8_t *f)
{
	uint16_t n = arp_frame(f, 2, PEER_IP, OUR_IP);

	memcpy(f, our_mac, 6);
	return n;
}

static uint16_t b_echo(uint8_t *f) { return echo_frame(f, 56); }
static uint16_t b_echo_odd(uint8_t *f) { return echo_frame(f, 57); }

static uint16_t b_echo_padded(uint8_t *f)
{
	uint16_t n = echo_frame(f, 0);

	memset(f + n, 0xee, (size_t)(60 - n));
	return 60;
}

static uint16_t b_icmp_unreach(uint8_t *f)
{
	uint16_t n = echo_frame(f, 28);

	f[OFF_L4] = 3;
	f[OFF_L4 + 1] = 3;
	fix_icmp(f);
	return n;
}

static uint16_t b_echo_code1(uint8_t *f)
{
	uint16_t n = echo_frame(f, 8);

	f[OFF_L4 + 1] = 1;
	fix_icmp(f);
	return n;
}

static uint16_t b_tcp(uint8_t *f)
{
	put_eth(f, our_mac, peer_mac, 0x0800);
	put_ipv4(f, 6, 20, PEER_IP, OUR_IP);
	memset(f + OFF_L4, 0, 20);
	put16(f + OFF_L4, PEER_PORT);
	put16(f + OFF_L4 + 2, 22);
	f[OFF_L4 + 12] = 5 << 4;
	f[OFF_L4 + 13] = 0x02; /* SYN */
	return OFF_L4 + 20;
}

static uint16_t b_udp_other_port(uint8_t *f)
{
	return udp_frame(f, PEER_IP, OUR_IP, PEER_PORT, 53, 20);
}

static uint16_t b_gre(uint8_t *f)
{
	put_eth(f, our_mac, peer_mac, 0x0800);
	put_ipv4(f, 47, 8, PEER_IP, OUR_IP);
	memset(f + OFF_L4, 0, 8);
	return OFF_L4 + 8;
}

static uint16_t b_ipv6(uint8_t *f)
{
	put_eth(f, our_mac, peer_mac, 0x86dd);
	memset(f + 14, 0, 40);
	f[14] = 0x60;
	f[14 + 6] = 59; /* no next header */
	f[14 + 7] = 64;
	return 54;
}

static uint16_t b_vlan(uint8_t *f)
{
	uint16_t n = fsp_frame(f + 4, 16); /* an FSP packet, but behind a tag */

	put_eth(f, our_mac, peer_mac, 0x8100);
	put16(f + 14, 5);
	put16(f + 16, 0x0800);
	return (uint16_t)(n + 4);
}

static uint16_t b_qinq(uint8_t *f)
{
	uint16_t n = b_vlan(f);

	put16(f + 12, 0x88a8);
	return n;
}

static uint16_t b_lldp(uint8_t *f)
{
	static const uint8_t lldp_mac[6] = {0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e};

	put_eth(f, lldp_mac, peer_mac, 0x88cc);
	fill(f + 14, 46, 9);
	return 60;
}

static uint16_t b_llc(uint8_t *f)
{
	put_eth(f, bcast_mac, peer_mac, 46); /* 802.3 length field */
	fill(f + 14, 46, 9);
	return 60;
}

static uint16_t b_ip_bcast(uint8_t *f)
{
	uint16_t n = udp_frame(f, 0, 0xffffffffu, 68, 67, 32);

	memcpy(f, bcast_mac, 6);
	return n;
}

static uint16_t b_ip_mcast(uint8_t *f)
{
	static const uint8_t mc_mac[6] = {0x01, 0x00, 0x5e, 0x01, 0x01, 0x01};
	uint16_t n = udp_frame(f, PEER_IP, 0xef010101u, PEER_PORT, OUR_PORT, 16);

	memcpy(f, mc_mac, 6);
	return n;
}

static uint16_t b_short_empty(uint8_t *f) { (void)f; return 0; }
static uint16_t b_short_eth(uint8_t *f) { fsp_frame(f, 8); return 13; }
static uint16_t b_short_arp(uint8_t *f) { arp_frame(f, 1, PEER_IP, OUR_IP); return 41; }
static uint16_t b_short_ipv4(uint8_t *f) { fsp_frame(f, 8); return 33; }

static uint16_t b_ip_version6(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 8);

	f[OFF_IP] = 0x65;
	fix_ip(f);
	return n;
}

static uint16_t b_ip_ihl4(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 8);

	f[OFF_IP] = 0x44;
	fix_ip(f);
	return n;
}

/* IHL 6: four NOP option bytes, then a valid UDP datagram to our port. */
static uint16_t b_ip_options(uint8_t *f)
{
	uint8_t *ip = f + OFF_IP, *udp = f + OFF_IP + 24;

	put_eth(f, our_mac, peer_mac, 0x0800);
	put_ipv4(f, 17, 4 + 8 + 8, PEER_IP, OUR_IP);
	ip[0] = 0x46;
	memset(ip + 20, 1, 4);
	fix_ip(f);
	put16(udp, PEER_PORT);
	put16(udp + 2, OUR_PORT);
	put16(udp + 4, 16);
	put16(udp + 6, 0);
	fill(udp + 8, 8, 1);
	return OFF_IP + 24 + 16;
}

static uint16_t b_ip_cksum(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 8);

	f[OFF_IP + 10] ^= 0x01;
	return n;
}

static uint16_t b_ip_len_long(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 8);

	put16(f + OFF_IP + 2, (uint16_t)(n - OFF_IP + 1));
	fix_ip(f);
	return n;
}

static uint16_t b_ip_len_below_hdr(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 8);

	put16(f + OFF_IP + 2, 19);
	fix_ip(f);
	return n;
}

static uint16_t b_frag_mf(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 8);

	put16(f + OFF_IP + 6, 0x2000);
	fix_ip(f);
	return n;
}

static uint16_t b_frag_offset(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 8);

	put16(f + OFF_IP + 6, 0x0001);
	fix_ip(f);
	return n;
}

static uint16_t b_ttl0(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 8);

	f[OFF_IP + 8] = 0;
	fix_ip(f);
	return n;
}

static uint16_t b_other_mac(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 8);

	memcpy(f, other_mac, 6);
	return n;
}

static uint16_t b_other_ip(uint8_t *f)
{
	return udp_frame(f, PEER_IP, OTHER_IP, PEER_PORT, OUR_PORT, 8);
}

static uint16_t b_arp_other_ip(uint8_t *f) { return arp_frame(f, 1, PEER_IP, OTHER_IP); }

static uint16_t b_src_mac_mcast(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 8);

	f[6] |= 0x01;
	return n;
}

static uint16_t b_src_ip_loopback(uint8_t *f)
{
	return udp_frame(f, 0x7f000001u, OUR_IP, PEER_PORT, OUR_PORT, 8);
}

static uint16_t b_src_ip_zero(uint8_t *f)
{
	return udp_frame(f, 0, OUR_IP, PEER_PORT, OUR_PORT, 8);
}

static uint16_t b_src_ip_mcast(uint8_t *f)
{
	return udp_frame(f, 0xe0000001u, OUR_IP, PEER_PORT, OUR_PORT, 8);
}

static uint16_t b_src_ip_bcast(uint8_t *f)
{
	return udp_frame(f, 0xffffffffu, OUR_IP, PEER_PORT, OUR_PORT, 8);
}

static uint16_t b_src_ip_ours(uint8_t *f)
{
	return udp_frame(f, OUR_IP, OUR_IP, PEER_PORT, OUR_PORT, 8);
}

static uint16_t b_src_port_zero(uint8_t *f)
{
	return udp_frame(f, PEER_IP, OUR_IP, 0, OUR_PORT, 8);
}

static uint16_t b_src_ip_ours_icmp(uint8_t *f)
{
	uint16_t n = echo_frame(f, 8);

	put32(f + OFF_IP + 12, OUR_IP);
	fix_ip(f);
	return n;
}

static uint16_t b_arp_claims_our_ip(uint8_t *f) { return arp_frame(f, 1, OUR_IP, OUR_IP); }

static uint16_t b_arp_sha_mcast(uint8_t *f)
{
	uint16_t n = arp_frame(f, 1, PEER_IP, OUR_IP);

	f[OFF_IP + 8] |= 0x01;
	return n;
}

static uint16_t b_arp_htype(uint8_t *f)
{
	uint16_t n = arp_frame(f, 1, PEER_IP, OUR_IP);

	put16(f + OFF_IP, 6);
	return n;
}

static uint16_t b_arp_ptype(uint8_t *f)
{
	uint16_t n = arp_frame(f, 1, PEER_IP, OUR_IP);

	put16(f + OFF_IP + 2, 0x86dd);
	return n;
}

static uint16_t b_arp_plen(uint8_t *f)
{
	uint16_t n = arp_frame(f, 1, PEER_IP, OUR_IP);

	f[OFF_IP + 5] = 16;
	return n;
}

static uint16_t b_icmp_cksum(uint8_t *f)
{
	uint16_t n = echo_frame(f, 56);

	f[n - 1] ^= 0x40;
	return n;
}

static uint16_t b_icmp_short(uint8_t *f)
{
	put_eth(f, our_mac, peer_mac, 0x0800);
	put_ipv4(f, 1, 4, PEER_IP, OUR_IP);
	f[OFF_L4] = 8;
	f[OFF_L4 + 1] = 0;
	put16(f + OFF_L4 + 2, 0xf7ff);
	return OFF_L4 + 4;
}

static uint16_t b_udp_len_7(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 0);

	put16(f + OFF_L4 + 4, 7);
	return n;
}

static uint16_t b_udp_len_long(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 16);

	put16(f + OFF_L4 + 4, 8 + 16 + 1);
	return n;
}

static uint16_t b_udp_len_short(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 16);

	put16(f + OFF_L4 + 4, 8 + 16 - 1);
	return n;
}

static uint16_t b_udp_no_header(uint8_t *f)
{
	put_eth(f, our_mac, peer_mac, 0x0800);
	put_ipv4(f, 17, 4, PEER_IP, OUR_IP);
	put16(f + OFF_L4, PEER_PORT);
	put16(f + OFF_L4 + 2, OUR_PORT);
	return OFF_L4 + 4;
}

static uint16_t b_udp_cksum(uint8_t *f)
{
	uint16_t n = fsp_frame(f, 72);

	f[OFF_PAY + 10] ^= 0x01;
	return n;
}

/* ---------------------------------------------------------------- the table */

struct frame_case {
	const char *name;
	uint16_t (*build)(uint8_t *f);
	enum dp_net_verdict verdict;
	enum dp_net_drop drop;
};

#define FSP(n, b) {"test_dp_net_classify_" #n, b, DP_NET_FSP, DP_NET_DROP_NONE}
#define VERDICT(n, b, v) {"test_dp_net_classify_" #n, b, v, DP_NET_DROP_NONE}
#define DROP(n, b, r) {"test_dp_net_classify_" #n, b, DP_NET_DROP, DP_NET_DROP_##r}

static const struct frame_case cases[] = {
	FSP(udp_to_our_port_is_fsp, b_fsp),
	FSP(udp_zero_cksum_accepted, b_fsp_zero_cksum),
	FSP(min_frame_padding_ignored, b_fsp_padded),
	FSP(udp_odd_payload_is_fsp, b_fsp_odd_len),
	FSP(broadcast_mac_unicast_ip_is_fsp, b_fsp_bcast_mac),
	VERDICT(arp_request_for_us, b_arp_req, DP_NET_ARP_REQUEST),
	VERDICT(arp_probe_for_us, b_arp_probe, DP_NET_ARP_REQUEST),
	VERDICT(arp_request_padded, b_arp_req_padded, DP_NET_ARP_REQUEST),
	VERDICT(arp_reply_for_us_is_exception, b_arp_reply_for_us, DP_NET_EXCEPTION),
	VERDICT(icmp_echo_request, b_echo, DP_NET_ICMP_ECHO),
	VERDICT(icmp_echo_request_odd_len, b_echo_odd, DP_NET_ICMP_ECHO),
	VERDICT(icmp_echo_request_padded, b_echo_padded, DP_NET_ICMP_ECHO),
	VERDICT(icmp_unreachable_is_exception, b_icmp_unreach, DP_NET_EXCEPTION),
	VERDICT(icmp_echo_code1_is_exception, b_echo_code1, DP_NET_EXCEPTION),
	VERDICT(tcp_is_exception, b_tcp, DP_NET_EXCEPTION),
	VERDICT(udp_other_port_is_exception, b_udp_other_port, DP_NET_EXCEPTION),
	VERDICT(other_ip_proto_is_exception, b_gre, DP_NET_EXCEPTION),
	VERDICT(ipv6_is_exception, b_ipv6, DP_NET_EXCEPTION),
	VERDICT(vlan_is_exception, b_vlan, DP_NET_EXCEPTION),
	VERDICT(qinq_is_exception, b_qinq, DP_NET_EXCEPTION),
	VERDICT(lldp_is_exception, b_lldp, DP_NET_EXCEPTION),
	VERDICT(llc_is_exception, b_llc, DP_NET_EXCEPTION),
	VERDICT(ip_broadcast_is_exception, b_ip_bcast, DP_NET_EXCEPTION),
	VERDICT(ip_multicast_is_exception, b_ip_mcast, DP_NET_EXCEPTION),
	DROP(empty_frame_short, b_short_empty, SHORT),
	DROP(ethernet_short, b_short_eth, SHORT),
	DROP(arp_short, b_short_arp, SHORT),
	DROP(ipv4_short, b_short_ipv4, SHORT),
	DROP(ip_version_6_bad_hdr, b_ip_version6, IP_HDR),
	DROP(ip_ihl_4_bad_hdr, b_ip_ihl4, IP_HDR),
	DROP(ip_options_dropped, b_ip_options, IP_OPTIONS),
	DROP(ip_bad_cksum, b_ip_cksum, IP_CKSUM),
	DROP(ip_total_len_beyond_frame, b_ip_len_long, IP_LEN),
	DROP(ip_total_len_below_header, b_ip_len_below_hdr, IP_LEN),
	DROP(fragment_mf_set, b_frag_mf, FRAGMENT),
	DROP(fragment_offset_set, b_frag_offset, FRAGMENT),
	DROP(ttl_zero, b_ttl0, TTL),
	DROP(other_unicast_mac_not_for_us, b_other_mac, NOT_FOR_US),
	DROP(other_ip_not_for_us, b_other_ip, NOT_FOR_US),
	DROP(arp_other_ip_not_for_us, b_arp_other_ip, NOT_FOR_US),
	DROP(multicast_src_mac_bad_src, b_src_mac_mcast, BAD_SRC),
	DROP(loopback_src_ip_bad_src, b_src_ip_loopback, BAD_SRC),
	DROP(zero_src_ip_bad_src, b_src_ip_zero, BAD_SRC),
	DROP(multicast_src_ip_bad_src, b_src_ip_mcast, BAD_SRC),
	DROP(broadcast_src_ip_bad_src, b_src_ip_bcast, BAD_SRC),
	DROP(our_src_ip_bad_src, b_src_ip_ours, BAD_SRC),
	DROP(our_src_ip_icmp_bad_src, b_src_ip_ours_icmp, BAD_SRC),
	DROP(udp_src_port_zero_bad_src, b_src_port_zero, BAD_SRC),
	DROP(arp_claiming_our_ip_bad_src, b_arp_claims_our_ip, BAD_SRC),
	DROP(arp_multicast_sha_bad_src, b_arp_sha_mcast, BAD_SRC),
	DROP(arp_htype_bad_format, b_arp_htype, ARP_FORMAT),
	DROP(arp_ptype_bad_format, b_arp_ptype, ARP_FORMAT),
	DROP(arp_plen_bad_format, b_arp_plen, ARP_FORMAT),
	DROP(icmp_echo_bad_cksum, b_icmp_cksum, ICMP),
	DROP(icmp_short, b_icmp_short, ICMP),
	DROP(udp_len_7, b_udp_len_7, UDP_LEN),
	DROP(udp_len_beyond_ip, b_udp_len_long, UDP_LEN),
	DROP(udp_len_short_of_ip, b_udp_len_short, UDP_LEN),
	DROP(udp_header_truncated_by_ip_len, b_udp_no_header, UDP_LEN),
	DROP(udp_bad_cksum, b_udp_cksum, UDP_CKSUM),
};

/* One row: the verdict, the reason, and the frame left untouched. */
static void test_case_row(void **state)
{
	const struct frame_case *c = *state;
	_Alignas(64) uint8_t f[FRAME_MAX] = {0};
	_Alignas(64) uint8_t copy[FRAME_MAX];
	struct dp_net_pkt out;
	uint16_t n = c->build(f);
	enum dp_net_verdict v;

	memcpy(copy, f, n);
	v = dp_net_classify(our_local(), f, n, &out);
	if (v != c->verdict || out.drop != c->drop)
		print_error("%s: got %s/%s, want %s/%s\n", c->name, dp_net_verdict_name(v),
			    dp_net_drop_name(out.drop), dp_net_verdict_name(c->verdict),
			    dp_net_drop_name(c->drop));
	assert_int_equal(v, c->verdict);
	assert_int_equal(out.drop, c->drop);
	assert_memory_equal(copy, f, n);
}

static void test_dp_net_classify_table_covers_every_verdict_and_reason(void **state)
{
	bool verdict_seen[DP_NET_VERDICT_COUNT] = {0}, drop_seen[DP_NET_DROP_COUNT] = {0};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		verdict_seen[cases[i].verdict] = true;
		drop_seen[cases[i].drop] = true;
	}
	for (unsigned v = 0; v < DP_NET_VERDICT_COUNT; v++)
		assert_true(verdict_seen[v]);
	for (unsigned r = 0; r < DP_NET_DROP_COUNT; r++) {
		if (!drop_seen[r])
			print_error("no frame for drop reason %s\n", dp_net_drop_name(r));
		assert_true(drop_seen[r]);
	}
}

/* RX checksum offload: the hardware's GOOD verdicts skip exactly the two
 * sums they vouch for. Every row of the table classifies the same with
 * both bits set, but for the bad-checksum rows, which the (here lying)
 * hardware vouches for; each bit skips only its own sum; 0 is
 * dp_net_classify. */
static void test_dp_net_classify_hw_good_skips_only_its_sum(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const struct frame_case *c = &cases[i];
		_Alignas(64) uint8_t f[FRAME_MAX] = {0};
		struct dp_net_pkt out;
		uint16_t n = c->build(f);
		enum dp_net_verdict v;
		bool ip_ck = c->drop == DP_NET_DROP_IP_CKSUM, udp_ck = c->drop == DP_NET_DROP_UDP_CKSUM;

		v = dp_net_classify_hw(our_local(), f, n, &out, 0);
		assert_int_equal(v, c->verdict);
		assert_int_equal(out.drop, c->drop);
		v = dp_net_classify_hw(our_local(), f, n, &out, DP_NET_HW_IP_GOOD | DP_NET_HW_L4_GOOD);
		if (ip_ck || udp_ck) {
			if (v == DP_NET_DROP)
				print_error("%s: still dropped (%s) with hardware GOOD\n", c->name,
					    dp_net_drop_name(out.drop));
			assert_int_not_equal(v, DP_NET_DROP);
		} else {
			if (v != c->verdict || out.drop != c->drop)
				print_error("%s: with hardware GOOD got %s/%s\n", c->name,
					    dp_net_verdict_name(v), dp_net_drop_name(out.drop));
			assert_int_equal(v, c->verdict);
			assert_int_equal(out.drop, c->drop);
		}
		/* one bit does not vouch for the other checksum */
		if (ip_ck) {
			assert_int_equal(dp_net_classify_hw(our_local(), f, n, &out, DP_NET_HW_L4_GOOD),
					 DP_NET_DROP);
			assert_int_equal(out.drop, DP_NET_DROP_IP_CKSUM);
		}
		if (udp_ck) {
			assert_int_equal(dp_net_classify_hw(our_local(), f, n, &out, DP_NET_HW_IP_GOOD),
					 DP_NET_DROP);
			assert_int_equal(out.drop, DP_NET_DROP_UDP_CKSUM);
			assert_int_equal(dp_net_classify_hw(our_local(), f, n, &out, DP_NET_HW_L4_GOOD),
					 DP_NET_FSP);
		}
	}
}

/* Classify the heap copy truncated to n, and run the in-place builders on
 * it: none may touch a byte at or beyond n. */
static void truncated_run(const uint8_t *full, uint16_t n, uint16_t full_pkt_len)
{
	uint8_t *t = malloc(n ? n : 1);
	struct dp_net_pkt out;
	enum dp_net_verdict v;

	assert_non_null(t);
	memcpy(t, full, n);
	v = dp_net_classify(our_local(), t, n, &out);
	if (n < OFF_IP)
		assert_int_equal(out.drop, DP_NET_DROP_SHORT);
	if (v == DP_NET_FSP) {
		assert_true(out.pkt_len <= n);
		assert_true(n >= full_pkt_len);
		assert_int_equal(dp_net_udp_reply_inplace(our_local(), t, n, &out, out.payload_len),
				 OFF_PAY + out.payload_len);
	} else if (v == DP_NET_ICMP_ECHO || v == DP_NET_ARP_REQUEST) {
		assert_true(n >= full_pkt_len);
	}
	memcpy(t, full, n);
	(void)dp_net_icmp_echo_reply(our_local(), t, n);
	memcpy(t, full, n);
	(void)dp_net_arp_reply(our_local(), t, n);
	free(t);
}

static void test_dp_net_classify_truncated_never_reads_out_of_bounds(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		_Alignas(64) uint8_t f[FRAME_MAX] = {0};
		struct dp_net_pkt out;
		uint16_t n = cases[i].build(f);
		uint16_t pkt_len;

		dp_net_classify(our_local(), f, n, &out);
		pkt_len = cases[i].verdict == DP_NET_ARP_REQUEST ? DP_NET_ARP_FRAME_LEN : out.pkt_len;
		for (uint16_t len = 0; len <= n; len++)
			truncated_run(f, len, pkt_len);
	}
}

/* ---------------------------------------------------------------- classify: parse results */

static void test_dp_net_classify_fsp_fills_pkt(void **state)
{
	_Alignas(64) uint8_t f[FRAME_MAX];
	struct dp_net_pkt out;
	uint16_t n = fsp_frame(f, 72);

	(void)state;
	assert_int_equal(dp_net_classify(our_local(), f, n, &out), DP_NET_FSP);
	assert_int_equal(out.drop, DP_NET_DROP_NONE);
	assert_int_equal(out.l3_off, 14);
	assert_int_equal(out.l4_off, 34);
	assert_int_equal(out.payload_off, DP_NET_UDP_HDRS_LEN);
	assert_int_equal(out.payload_len, 72);
	assert_int_equal(out.pkt_len, n);
	assert_memory_equal(out.src_mac.addr_bytes, peer_mac, 6);
	assert_int_equal(ntohl(out.src_ip_be), PEER_IP);
	assert_int_equal(ntohs(out.src_port_be), PEER_PORT);
}

static void test_dp_net_classify_min_frame_padding_excluded_from_payload(void **state)
{
	_Alignas(64) uint8_t f[FRAME_MAX];
	struct dp_net_pkt out;
	uint16_t n = b_fsp_padded(f);

	(void)state;
	assert_int_equal(n, 60);
	assert_int_equal(dp_net_classify(our_local(), f, n, &out), DP_NET_FSP);
	assert_int_equal(out.payload_len, 4);
	assert_int_equal(out.pkt_len, 46);
}

/* ---------------------------------------------------------------- ARP */

static void test_dp_net_arp_reply_fields(void **state)
{
	static const uint8_t want[42] = {
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02,     /* Ethernet dst: the requester */
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01,     /* Ethernet src: us */
		0x08, 0x06,
		0x00, 0x01, 0x08, 0x00, 0x06, 0x04,     /* Ethernet, IPv4, 6, 4 */
		0x00, 0x02,                             /* reply */
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01,     /* sender MAC: us */
		0x0a, 0x63, 0x00, 0x02,                 /* sender IP: us */
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02,     /* target MAC: requester */
		0x0a, 0x63, 0x00, 0x01,                 /* target IP: requester */
	};
	_Alignas(64) uint8_t f[FRAME_MAX];
	struct dp_net_pkt out;
	uint16_t n = b_arp_req_padded(f);

	(void)state;
	assert_int_equal(dp_net_classify(our_local(), f, n, &out), DP_NET_ARP_REQUEST);
	assert_int_equal(dp_net_arp_reply(our_local(), f, n), 42);
	assert_memory_equal(f, want, sizeof(want));
	for (unsigned i = 42; i < 60; i++)
		assert_int_equal(f[i], 0x5a); /* beyond the reply: untouched */
}

static void test_dp_net_arp_reply_probe_answers_to_zero_ip(void **state)
{
	_Alignas(64) uint8_t f[FRAME_MAX];
	uint16_t n = b_arp_probe(f);

	(void)state;
	assert_int_equal(dp_net_arp_reply(our_local(), f, n), 42);
	assert_memory_equal(f, peer_mac, 6);
	assert_int_equal(get16(f + OFF_IP + 6), 2);
	assert_memory_equal(f + OFF_IP + 18, peer_mac, 6);
	assert_int_equal(get32(f + OFF_IP + 24), 0);
	assert_int_equal(get32(f + OFF_IP + 14), OUR_IP);
}

static void test_dp_net_arp_reply_short_einval(void **state)
{
	_Alignas(64) uint8_t f[FRAME_MAX];

	(void)state;
	b_arp_req(f);
	assert_int_equal(dp_net_arp_reply(our_local(), f, 41), -EINVAL);
}

static void test_dp_net_gratuitous_arp_fields(void **state)
{
	static const uint8_t want[42] = {
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
		0x08, 0x06,
		0x00, 0x01, 0x08, 0x00, 0x06, 0x04,
		0x00, 0x01,                             /* request */
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
		0x0a, 0x63, 0x00, 0x02,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00,     /* target MAC: zero (RFC 5227) */
		0x0a, 0x63, 0x00, 0x02,                 /* target IP = sender IP */
	};
	_Alignas(64) uint8_t f[FRAME_MAX];
	struct dp_net_pkt out;

	(void)state;
	memset(f, 0xcc, sizeof(f));
	assert_int_equal(dp_net_gratuitous_arp(our_local(), f, 42), 42);
	assert_memory_equal(f, want, sizeof(want));
	assert_int_equal(f[42], 0xcc);
	/* Looped back to us it is our own claim: never answered. */
	assert_int_equal(dp_net_classify(our_local(), f, 42, &out), DP_NET_DROP);
	assert_int_equal(out.drop, DP_NET_DROP_BAD_SRC);
	assert_int_equal(dp_net_gratuitous_arp(our_local(), f, 41), -ENOSPC);
}

/* ---------------------------------------------------------------- ICMP */

static void check_echo_reply(uint16_t data_len, bool padded)
{
	_Alignas(64) uint8_t f[FRAME_MAX], req[FRAME_MAX];
	uint16_t n = echo_frame(f, data_len), pkt = n, icmp_len = (uint16_t)(8 + data_len);
	uint8_t *icmp = f + OFF_L4;
	uint16_t got;
	struct dp_net_pkt out;

	if (padded && n < 60) {
		memset(f + n, 0x77, (size_t)(60 - n));
		n = 60;
	}
	memcpy(req, f, n);
	assert_int_equal(dp_net_classify(our_local(), f, n, &out), DP_NET_ICMP_ECHO);
	assert_int_equal(dp_net_icmp_echo_reply(our_local(), f, n), pkt);
	assert_memory_equal(f, peer_mac, 6);
	assert_memory_equal(f + 6, our_mac, 6);
	assert_int_equal(get16(f + 12), 0x0800);
	assert_int_equal(f[OFF_IP], 0x45);
	assert_int_equal(get16(f + OFF_IP + 2), 20 + icmp_len);
	assert_int_equal(f[OFF_IP + 8], 64);
	assert_int_equal(f[OFF_IP + 9], 1);
	assert_int_equal(get32(f + OFF_IP + 12), OUR_IP);
	assert_int_equal(get32(f + OFF_IP + 16), PEER_IP);
	assert_true(ip_cksum_ok(f));
	assert_int_equal(icmp[0], 0);
	assert_int_equal(icmp[1], 0);
	assert_memory_equal(icmp + 4, req + OFF_L4 + 4, icmp_len - 4u); /* id, seq, data */
	/* The checksum is the RFC 1071 one over the whole ICMP message. */
	got = get16(icmp + 2);
	put16(icmp + 2, 0);
	assert_int_equal(got, (uint16_t)~fs_cksum_fold(fs_cksum_add(0, icmp, icmp_len)));
	put16(icmp + 2, got);
	assert_int_equal(fs_cksum_fold(fs_cksum_add(0, icmp, icmp_len)), 0xffff);
}

static void test_dp_net_icmp_echo_reply_checksums(void **state)
{
	static const uint16_t lens[] = {0, 1, 2, 7, 56, 57, 1000, 1472};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(lens); i++)
		check_echo_reply(lens[i], false);
}

static void test_dp_net_icmp_echo_reply_padded_frame(void **state)
{
	(void)state;
	check_echo_reply(0, true);
	check_echo_reply(5, true);
}

static void test_dp_net_icmp_echo_reply_bad_frame_einval(void **state)
{
	_Alignas(64) uint8_t f[FRAME_MAX];
	uint16_t n = echo_frame(f, 16);

	(void)state;
	assert_int_equal(dp_net_icmp_echo_reply(our_local(), f, 41), -EINVAL);
	assert_int_equal(dp_net_icmp_echo_reply(our_local(), f, (uint16_t)(n - 1)), -EINVAL);
	f[OFF_IP] = 0x46;
	assert_int_equal(dp_net_icmp_echo_reply(our_local(), f, n), -EINVAL);
}

static void test_dp_net_icmp_echo_reply_ip_offload_leaves_zero(void **state)
{
	struct dp_net_local l = *our_local();
	_Alignas(64) uint8_t f[FRAME_MAX];
	uint16_t n = echo_frame(f, 8);

	(void)state;
	l.tx_ip_cksum_offload = true;
	assert_int_equal(dp_net_icmp_echo_reply(&l, f, n), n);
	assert_int_equal(get16(f + OFF_IP + 10), 0);
	assert_int_equal(fs_cksum_fold(fs_cksum_add(0, f + OFF_L4, 16)), 0xffff);
}

/* ---------------------------------------------------------------- UDP */

/* A reply frame from us to the peer with plen payload bytes seeded seed. */
static void check_udp_reply_frame(const uint8_t *f, uint16_t plen, uint8_t seed)
{
	_Alignas(64) uint8_t want[FRAME_MAX];
	_Alignas(64) uint8_t copy[FRAME_MAX];
	struct dp_net_pkt out;

	assert_memory_equal(f, peer_mac, 6);
	assert_memory_equal(f + 6, our_mac, 6);
	assert_int_equal(get16(f + 12), 0x0800);
	assert_int_equal(f[OFF_IP], 0x45);
	assert_int_equal(f[OFF_IP + 1], 0);
	assert_int_equal(get16(f + OFF_IP + 2), 28 + plen);
	assert_int_equal(get16(f + OFF_IP + 4), 0);
	assert_int_equal(get16(f + OFF_IP + 6), 0x4000); /* DF */
	assert_int_equal(f[OFF_IP + 8], 64);
	assert_int_equal(f[OFF_IP + 9], 17);
	assert_int_equal(get32(f + OFF_IP + 12), OUR_IP);
	assert_int_equal(get32(f + OFF_IP + 16), PEER_IP);
	assert_true(ip_cksum_ok(f));
	assert_int_equal(get16(f + OFF_L4), OUR_PORT);
	assert_int_equal(get16(f + OFF_L4 + 2), PEER_PORT);
	assert_int_equal(get16(f + OFF_L4 + 4), 8 + plen);
	assert_int_not_equal(get16(f + OFF_L4 + 6), 0);
	assert_int_equal(get16(f + OFF_L4 + 6), udp_cksum_of(f));
	assert_true(udp_cksum_ok(f));
	fill(want, plen, seed);
	if (plen != 0)
		assert_memory_equal(f + OFF_PAY, want, plen);
	/* The peer's stack takes it as a datagram from our FSP port. */
	memcpy(copy, f, (size_t)OFF_PAY + plen);
	assert_int_equal(dp_net_classify(peer_local(), copy, (uint16_t)(OFF_PAY + plen), &out),
			 DP_NET_FSP);
	assert_int_equal(out.payload_len, plen);
	assert_int_equal(ntohl(out.src_ip_be), OUR_IP);
	assert_int_equal(ntohs(out.src_port_be), OUR_PORT);
	assert_memory_equal(out.src_mac.addr_bytes, our_mac, 6);
}

static void test_dp_net_udp_reply_inplace_swaps_and_checksums(void **state)
{
	(void)state;
	for (uint16_t plen = 0; plen <= 300; plen++) {
		_Alignas(64) uint8_t f[FRAME_MAX];
		struct dp_net_pkt req;
		uint16_t n = fsp_frame(f, 72);

		assert_int_equal(dp_net_classify(our_local(), f, n, &req), DP_NET_FSP);
		fill(f + req.payload_off, plen, 0x40);
		assert_int_equal(dp_net_udp_reply_inplace(our_local(), f, sizeof(f), &req, plen),
				 OFF_PAY + plen);
		check_udp_reply_frame(f, plen, 0x40);
	}
}

/* The two-step reply of a burst (headers, then checksums) is the same frame
 * as the one-step reply, byte for byte; between the steps both checksum
 * fields are 0. */
static void test_dp_net_udp_reply_two_steps_same_frame(void **state)
{
	(void)state;
	for (uint16_t plen = 0; plen <= 300; plen += 7) {
		_Alignas(64) uint8_t a[FRAME_MAX], b[FRAME_MAX];
		struct dp_net_pkt req;
		uint16_t n = fsp_frame(a, 72);

		assert_int_equal(dp_net_classify(our_local(), a, n, &req), DP_NET_FSP);
		fill(a + req.payload_off, plen, 0x21);
		memcpy(b, a, sizeof(a));
		assert_int_equal(dp_net_udp_reply_inplace(our_local(), a, sizeof(a), &req, plen),
				 OFF_PAY + plen);
		assert_int_equal(dp_net_udp_reply_headers(our_local(), b, sizeof(b), &req, plen),
				 OFF_PAY + plen);
		assert_int_equal(get16(b + OFF_L4 + 6), 0);
		assert_int_equal(get16(b + OFF_IP + 10), 0);
		dp_net_udp_reply_checksums(our_local(), b);
		assert_memory_equal(a, b, OFF_PAY + plen);
		check_udp_reply_frame(b, plen, 0x21);
	}
}

/* A payload whose sum makes the computed checksum 0: sent as 0xffff. */
static void test_dp_net_udp_reply_inplace_zero_cksum_sent_as_ffff(void **state)
{
	_Alignas(64) uint8_t f[FRAME_MAX];
	struct dp_net_pkt req;
	uint16_t n = fsp_frame(f, 72), c0;

	(void)state;
	assert_int_equal(dp_net_classify(our_local(), f, n, &req), DP_NET_FSP);
	put16(f + OFF_PAY, 0);
	assert_int_equal(dp_net_udp_reply_inplace(our_local(), f, sizeof(f), &req, 2), 44);
	c0 = get16(f + OFF_L4 + 6);
	assert_int_not_equal(c0, 0xffff);
	assert_true(udp_cksum_ok(f));
	/* sum + ~sum = 0xffff, whose complement is 0. */
	put16(f + OFF_PAY, c0);
	assert_int_equal(dp_net_udp_reply_inplace(our_local(), f, sizeof(f), &req, 2), 44);
	assert_int_equal(get16(f + OFF_L4 + 6), 0xffff);
	assert_true(udp_cksum_ok(f));
}

static void test_dp_net_udp_reply_inplace_bad_args(void **state)
{
	_Alignas(64) uint8_t f[FRAME_MAX];
	struct dp_net_pkt req, none = {0};
	uint16_t n = fsp_frame(f, 72);

	(void)state;
	assert_int_equal(dp_net_classify(our_local(), f, n, &req), DP_NET_FSP);
	assert_int_equal(dp_net_udp_reply_inplace(our_local(), f, sizeof(f), &none, 8), -EINVAL);
	assert_int_equal(dp_net_udp_reply_inplace(our_local(), f, 42 + 63, &req, 64), -ENOSPC);
	assert_int_equal(dp_net_udp_reply_inplace(our_local(), f, 41, &req, 0), -ENOSPC);
	assert_int_equal(dp_net_udp_reply_inplace(our_local(), f, 42 + 64, &req, 64), 42 + 64);
}

static struct rte_ether_addr mac_of(const uint8_t *b)
{
	struct rte_ether_addr m;

	memcpy(m.addr_bytes, b, 6);
	return m;
}

static void test_dp_net_udp_build_round_trips_as_fsp(void **state)
{
	static const uint16_t lens[] = {0, 1, 3, 63, 64, 72, 513, 1472};
	struct rte_ether_addr dst = mac_of(our_mac);

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(lens); i++) {
		_Alignas(64) uint8_t f[FRAME_MAX], payload[FRAME_MAX];
		struct dp_net_pkt out;
		uint16_t plen = lens[i];
		int n;

		fill(payload, plen, 0x11);
		n = dp_net_udp_build(peer_local(), f, sizeof(f), &dst, htonl(OUR_IP), htons(OUR_PORT),
				     payload, plen);
		assert_int_equal(n, OFF_PAY + plen);
		assert_true(ip_cksum_ok(f));
		assert_int_not_equal(get16(f + OFF_L4 + 6), 0);
		assert_true(udp_cksum_ok(f));
		assert_int_equal(get16(f + OFF_IP + 4), 0);
		assert_int_equal(get16(f + OFF_IP + 6), 0x4000);
		assert_int_equal(f[OFF_IP + 8], 64);
		assert_int_equal(dp_net_classify(our_local(), f, (uint16_t)n, &out), DP_NET_FSP);
		assert_int_equal(out.payload_off, OFF_PAY);
		assert_int_equal(out.payload_len, plen);
		assert_int_equal(ntohl(out.src_ip_be), PEER_IP);
		assert_int_equal(ntohs(out.src_port_be), PEER_PORT);
		assert_memory_equal(out.src_mac.addr_bytes, peer_mac, 6);
		if (plen != 0)
			assert_memory_equal(f + OFF_PAY, payload, plen);
	}
}

/* The UDP checksum (dataplane's sum16: 16 bytes per step) against
 * fs_cksum's byte-by-byte recomputation over random frames: random payload
 * bytes and lengths (odd ones too), at 2-byte-aligned starts that are not
 * 8- or 16-byte aligned; built, classified, corrupted by one byte (then
 * dropped as UDP_CKSUM), and answered in place with a random shorter
 * payload. */
static void test_dp_net_udp_cksum_random_frames_match_fs_cksum(void **state)
{
	struct rte_ether_addr dst = mac_of(our_mac);
	unsigned seed = 12;

	(void)state;
	for (unsigned iter = 0; iter < 3000; iter++) {
		_Alignas(64) uint8_t buf[FRAME_MAX + 16], payload[FRAME_MAX];
		uint8_t *f = buf + 2 * (unsigned)(rand_r(&seed) % 8);
		uint16_t plen = (uint16_t)(rand_r(&seed) % 1473), rlen;
		struct dp_net_pkt pkt;
		int n;

		for (unsigned i = 0; i < plen; i++)
			payload[i] = (uint8_t)rand_r(&seed);
		n = dp_net_udp_build(peer_local(), f, FRAME_MAX, &dst, htonl(OUR_IP), htons(OUR_PORT),
				     payload, plen);
		assert_int_equal(n, OFF_PAY + plen);
		assert_int_equal(get16(f + OFF_L4 + 6), udp_cksum_of(f));
		assert_int_equal(dp_net_classify(our_local(), f, (uint16_t)n, &pkt), DP_NET_FSP);
		if (plen) {
			unsigned at = OFF_PAY + (unsigned)rand_r(&seed) % plen;
			uint8_t flip = (uint8_t)(1 + rand_r(&seed) % 255);
			struct dp_net_pkt bad;

			f[at] ^= flip;
			assert_int_equal(dp_net_classify(our_local(), f, (uint16_t)n, &bad), DP_NET_DROP);
			assert_int_equal(bad.drop, DP_NET_DROP_UDP_CKSUM);
			f[at] ^= flip;
		}
		rlen = plen ? (uint16_t)(rand_r(&seed) % (plen + 1)) : 0;
		for (unsigned i = 0; i < rlen; i++)
			f[OFF_PAY + i] = (uint8_t)rand_r(&seed);
		assert_int_equal(dp_net_udp_reply_inplace(our_local(), f, FRAME_MAX, &pkt, rlen),
				 OFF_PAY + rlen);
		assert_int_equal(get16(f + OFF_L4 + 4), 8 + rlen);
		assert_int_equal(get16(f + OFF_L4 + 6), udp_cksum_of(f));
		assert_true(udp_cksum_ok(f));
		assert_true(ip_cksum_ok(f));
	}
}

/* The payload may already sit in the frame, before or after its place. */
static void test_dp_net_udp_build_payload_inside_frame(void **state)
{
	static const uint16_t at[] = {0, 10, 42, 43, 100};
	struct rte_ether_addr dst = mac_of(peer_mac);

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(at); i++) {
		_Alignas(64) uint8_t f[FRAME_MAX];

		memset(f, 0, sizeof(f));
		fill(f + at[i], 200, 0x21);
		assert_int_equal(dp_net_udp_build(our_local(), f, sizeof(f), &dst, htonl(PEER_IP),
						  htons(PEER_PORT), f + at[i], 200),
				 OFF_PAY + 200);
		check_udp_reply_frame(f, 200, 0x21);
	}
}

static void test_dp_net_udp_build_enospc(void **state)
{
	_Alignas(64) uint8_t f[FRAME_MAX], payload[64] = {0};
	struct rte_ether_addr dst = mac_of(peer_mac);

	(void)state;
	assert_int_equal(dp_net_udp_build(our_local(), f, 41, &dst, htonl(PEER_IP), htons(PEER_PORT),
					  NULL, 0),
			 -ENOSPC);
	assert_int_equal(dp_net_udp_build(our_local(), f, 42 + 63, &dst, htonl(PEER_IP),
					  htons(PEER_PORT), payload, 64),
			 -ENOSPC);
	assert_int_equal(dp_net_udp_build(our_local(), f, UINT16_MAX, &dst, htonl(PEER_IP),
					  htons(PEER_PORT), payload, UINT16_MAX - 41),
			 -ENOSPC);
	assert_int_equal(dp_net_udp_build(our_local(), f, 42, &dst, htonl(PEER_IP), htons(PEER_PORT),
					  NULL, 0),
			 42);
}

/* The largest frame a uint16_t length allows is still a valid IPv4 packet. */
static void test_dp_net_udp_build_largest_frame(void **state)
{
	uint16_t plen = UINT16_MAX - OFF_PAY;
	uint8_t *f = malloc(UINT16_MAX), *payload = malloc(plen);
	struct rte_ether_addr dst = mac_of(our_mac);
	struct dp_net_pkt out;

	(void)state;
	assert_non_null(f);
	assert_non_null(payload);
	fill(payload, plen, 5);
	assert_int_equal(dp_net_udp_build(peer_local(), f, UINT16_MAX, &dst, htonl(OUR_IP),
					  htons(OUR_PORT), payload, plen),
			 UINT16_MAX);
	assert_int_equal(get16(f + OFF_IP + 2), UINT16_MAX - 14);
	assert_true(udp_cksum_ok(f));
	assert_int_equal(dp_net_classify(our_local(), f, UINT16_MAX, &out), DP_NET_FSP);
	assert_int_equal(out.payload_len, plen);
	free(payload);
	free(f);
}

/* Offload: IPv4 checksum 0, UDP field = pseudo-header sum; a NIC that sums
 * the UDP segment over it and stores the complement gets the real one. */
static void test_dp_net_udp_build_cksum_offload(void **state)
{
	struct dp_net_local l = *our_local();
	struct rte_ether_addr dst = mac_of(peer_mac);
	_Alignas(64) uint8_t f[FRAME_MAX], payload[33];
	uint16_t ulen = 8 + sizeof(payload);

	(void)state;
	l.tx_ip_cksum_offload = true;
	l.tx_udp_cksum_offload = true;
	fill(payload, sizeof(payload), 0x21);
	assert_int_equal(dp_net_udp_build(&l, f, sizeof(f), &dst, htonl(PEER_IP), htons(PEER_PORT),
					  payload, sizeof(payload)),
			 OFF_PAY + (int)sizeof(payload));
	assert_int_equal(get16(f + OFF_IP + 10), 0);
	assert_int_equal(get16(f + OFF_L4 + 6), fs_cksum_fold(fs_cksum_ipv4_pseudo(f + OFF_IP, ulen)));
	put16(f + OFF_L4 + 6, (uint16_t)~fs_cksum_fold(fs_cksum_add(0, f + OFF_L4, ulen)));
	fix_ip(f);
	assert_true(udp_cksum_ok(f));
	check_udp_reply_frame(f, sizeof(payload), 0x21);
}

/* ---------------------------------------------------------------- pad, counters, names */

static void test_dp_net_pad_short_frame_to_60(void **state)
{
	_Alignas(64) uint8_t f[FRAME_MAX];

	(void)state;
	memset(f, 0xab, sizeof(f));
	assert_int_equal(dp_net_pad(f, 42, 60), 60);
	for (unsigned i = 42; i < 60; i++)
		assert_int_equal(f[i], 0);
	assert_int_equal(f[60], 0xab);
	assert_int_equal(dp_net_pad(f, 61, 61), 61);
	assert_int_equal(dp_net_pad(f, 42, 59), -ENOSPC);
}

static void test_dp_net_count_verdicts_and_reasons(void **state)
{
	struct dp_net_stats st;

	(void)state;
	memset(&st, 0, sizeof(st));
	dp_net_count(&st, DP_NET_FSP, DP_NET_DROP_NONE);
	dp_net_count(&st, DP_NET_FSP, DP_NET_DROP_NONE);
	dp_net_count(&st, DP_NET_DROP, DP_NET_DROP_UDP_CKSUM);
	dp_net_count(&st, DP_NET_EXCEPTION, DP_NET_DROP_NONE);
	assert_int_equal(st.verdict[DP_NET_FSP], 2);
	assert_int_equal(st.verdict[DP_NET_DROP], 1);
	assert_int_equal(st.verdict[DP_NET_EXCEPTION], 1);
	assert_int_equal(st.drop[DP_NET_DROP_UDP_CKSUM], 1);
	assert_int_equal(st.drop[DP_NET_DROP_NONE], 0);
}

/* Each table row, classified and counted: one verdict each, and the drop
 * counters add up to the drop verdicts. */
static void test_dp_net_count_table_adds_up(void **state)
{
	struct dp_net_stats st;
	uint64_t drops = 0;

	(void)state;
	memset(&st, 0, sizeof(st));
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		_Alignas(64) uint8_t f[FRAME_MAX] = {0};
		struct dp_net_pkt out;
		uint16_t n = cases[i].build(f);
		/* Sequenced: out.drop is only set once classify has run. */
		enum dp_net_verdict v = dp_net_classify(our_local(), f, n, &out);

		dp_net_count(&st, v, out.drop);
	}
	for (unsigned r = 0; r < DP_NET_DROP_COUNT; r++)
		drops += st.drop[r];
	assert_int_equal(drops, st.verdict[DP_NET_DROP]);
	assert_int_equal(st.drop[DP_NET_DROP_NONE], 0);
}

static void test_dp_net_names_distinct_and_bounded(void **state)
{
	(void)state;
	for (unsigned a = 0; a < DP_NET_DROP_COUNT; a++) {
		assert_string_not_equal(dp_net_drop_name(a), "?");
		for (unsigned b = a + 1; b < DP_NET_DROP_COUNT; b++)
			assert_string_not_equal(dp_net_drop_name(a), dp_net_drop_name(b));
	}
	for (unsigned a = 0; a < DP_NET_VERDICT_COUNT; a++) {
		assert_string_not_equal(dp_net_verdict_name(a), "?");
		for (unsigned b = a + 1; b < DP_NET_VERDICT_COUNT; b++)
			assert_string_not_equal(dp_net_verdict_name(a), dp_net_verdict_name(b));
	}
	assert_string_equal(dp_net_drop_name(DP_NET_DROP_COUNT), "?");
	assert_string_equal(dp_net_verdict_name(DP_NET_VERDICT_COUNT), "?");
	assert_string_equal(dp_net_drop_name(DP_NET_DROP_UDP_CKSUM), "bad_udp_cksum");
	assert_string_equal(dp_net_verdict_name(DP_NET_FSP), "fsp");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dp_net_classify_table_covers_every_verdict_and_reason),
		cmocka_unit_test(test_dp_net_classify_hw_good_skips_only_its_sum),
		cmocka_unit_test(test_dp_net_classify_truncated_never_reads_out_of_bounds),
		cmocka_unit_test(test_dp_net_classify_fsp_fills_pkt),
		cmocka_unit_test(test_dp_net_classify_min_frame_padding_excluded_from_payload),
		cmocka_unit_test(test_dp_net_arp_reply_fields),
		cmocka_unit_test(test_dp_net_arp_reply_probe_answers_to_zero_ip),
		cmocka_unit_test(test_dp_net_arp_reply_short_einval),
		cmocka_unit_test(test_dp_net_gratuitous_arp_fields),
		cmocka_unit_test(test_dp_net_icmp_echo_reply_checksums),
		cmocka_unit_test(test_dp_net_icmp_echo_reply_padded_frame),
		cmocka_unit_test(test_dp_net_icmp_echo_reply_bad_frame_einval),
		cmocka_unit_test(test_dp_net_icmp_echo_reply_ip_offload_leaves_zero),
		cmocka_unit_test(test_dp_net_udp_reply_inplace_swaps_and_checksums),
		cmocka_unit_test(test_dp_net_udp_reply_two_steps_same_frame),
		cmocka_unit_test(test_dp_net_udp_reply_inplace_zero_cksum_sent_as_ffff),
		cmocka_unit_test(test_dp_net_udp_reply_inplace_bad_args),
		cmocka_unit_test(test_dp_net_udp_build_round_trips_as_fsp),
		cmocka_unit_test(test_dp_net_udp_cksum_random_frames_match_fs_cksum),
		cmocka_unit_test(test_dp_net_udp_build_payload_inside_frame),
		cmocka_unit_test(test_dp_net_udp_build_enospc),
		cmocka_unit_test(test_dp_net_udp_build_largest_frame),
		cmocka_unit_test(test_dp_net_udp_build_cksum_offload),
		cmocka_unit_test(test_dp_net_pad_short_frame_to_60),
		cmocka_unit_test(test_dp_net_count_verdicts_and_reasons),
		cmocka_unit_test(test_dp_net_count_table_adds_up),
		cmocka_unit_test(test_dp_net_names_distinct_and_bounded),
	};
	struct CMUnitTest rows[ARRAY_LEN(cases)];
	int failed;

	/* One named cmocka test per table row: the group macro needs a static
	 * array, so the runner behind it is called directly. */
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		rows[i] = (struct CMUnitTest){.name = cases[i].name,
					      .test_func = test_case_row,
					      .initial_state = (void *)&cases[i]};
	failed = cmocka_run_group_tests_name("dp_net", tests, NULL, NULL);
	failed += _cmocka_run_group_tests("dp_net_classify_cases", rows, ARRAY_LEN(rows), NULL, NULL);
	return failed != 0;
}
