/*
 * dp_net.h — the per-core user-space network stack of the DPDK front end:
 * classify a received Ethernet frame and build ARP, ICMP echo and UDP replies
 * in place. Private to dataplane/ (and tests/test_net.c).
 *
 * Everything here is a pure function over a frame in a plain byte buffer: no
 * rte_mbuf, no EAL, no allocation, no logging. The front end passes
 * rte_pktmbuf_mtod(m, uint8_t *) and the mbuf's data_len (or, for builders,
 * the writable room rte_pktmbuf_tailroom() + data_len). Frames must start on
 * a 2-byte boundary (mbuf data always does): DPDK's struct rte_ether_hdr and
 * struct rte_arp_hdr are 2-byte aligned. The design note is at the top of
 * dp_net.c.
 *
 * Byte order: every *_be field and parameter is in network byte order, as it
 * sits in the packet (cfg's struct in_addr s_addr, htons(port)).
 */
#ifndef DP_NET_H
#define DP_NET_H

#include <stdbool.h>
#include <stdint.h>

#include <rte_ether.h>

/* Ethernet + IPv4 (no options) + UDP: where an FSP payload starts. */
#define DP_NET_UDP_HDRS_LEN 42
/* Ethernet + ARP for IPv4 over Ethernet. */
#define DP_NET_ARP_FRAME_LEN 42
/* Minimum Ethernet frame without the FCS (the NIC appends the FCS). */
#define DP_NET_ETHER_MIN_LEN 60
/* TTL of every IPv4 packet we originate or answer. */
#define DP_NET_TTL 64

/* Who we are on one port, fixed at start.
 *
 * Checksum offload: with tx_ip_cksum_offload set, every builder leaves the
 * IPv4 header checksum 0 and the front end must send the frame with
 * ol_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM, l2_len = 14,
 * l3_len = 20. With tx_udp_cksum_offload set, the UDP builders write the
 * non-complemented pseudo-header checksum (rte_ipv4_phdr_cksum(ip, 0)) into
 * the UDP checksum field, as DPDK's offload convention requires, and the
 * front end must add RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_UDP_CKSUM (same l2/l3
 * lengths). Set a flag only when the port reports the matching
 * RTE_ETH_TX_OFFLOAD_*_CKSUM capability and it was enabled. Both false (the
 * default of a zeroed struct): checksums are computed in software and the
 * frame is complete as built. Receive checksums are always verified in
 * software. */
struct dp_net_local {
	struct rte_ether_addr mac;
	uint32_t ip_be;
	uint16_t udp_port_be;        /* the FSP port */
	bool tx_ip_cksum_offload;
	bool tx_udp_cksum_offload;
};

/* What to do with a received frame. */
enum dp_net_verdict {
	DP_NET_DROP = 0,         /* drop it and count dp_net_pkt.drop */
	DP_NET_FSP,              /* UDP to our IP and FSP port: payload in dp_net_pkt */
	DP_NET_ARP_REQUEST,      /* ARP request for our IP: dp_net_arp_reply() */
	DP_NET_ICMP_ECHO,        /* echo request to our IP: dp_net_icmp_echo_reply() */
	DP_NET_EXCEPTION,        /* ours, but not fast path: hand the frame to the kernel */
	DP_NET_VERDICT_COUNT
};

/* Why a frame was dropped (DP_NET_DROP); DP_NET_DROP_NONE otherwise. */
enum dp_net_drop {
	DP_NET_DROP_NONE = 0,
	DP_NET_DROP_SHORT,       /* frame shorter than the headers it announces */
	DP_NET_DROP_IP_HDR,      /* IPv4 version != 4 or IHL < 5 */
	DP_NET_DROP_IP_OPTIONS,  /* IHL > 5 */
	DP_NET_DROP_IP_CKSUM,    /* bad IPv4 header checksum */
	DP_NET_DROP_IP_LEN,      /* total length < 20 or longer than the frame */
	DP_NET_DROP_FRAGMENT,    /* MF set or fragment offset != 0 */
	DP_NET_DROP_TTL,         /* TTL 0 */
	DP_NET_DROP_NOT_FOR_US,  /* unicast to another MAC or IPv4 address, ARP for another IP */
	DP_NET_DROP_BAD_SRC,     /* source we must not answer: group MAC, 0/127/multicast/
				  * broadcast/our own IPv4, UDP port 0, ARP claiming our IP */
	DP_NET_DROP_ARP_FORMAT,  /* ARP that is not Ethernet/IPv4 (htype, ptype, hlen, plen) */
	DP_NET_DROP_ICMP,        /* echo request shorter than 8 bytes or with a bad checksum */
	DP_NET_DROP_UDP_LEN,     /* UDP length < 8 or != IPv4 payload length */
	DP_NET_DROP_UDP_CKSUM,   /* bad UDP checksum (0 = none is accepted) */
	DP_NET_DROP_COUNT
};

/* The parse of one frame: offsets into the frame and the requester's
 * addresses, for the reply builders. Only the fields of the returned verdict
 * are meaningful; drop is always set. */
struct dp_net_pkt {
	enum dp_net_drop drop;
	uint16_t l3_off;             /* IPv4 or ARP header (14) */
	uint16_t l4_off;             /* IPv4 payload (34) */
	uint16_t pkt_len;            /* 14 + IPv4 total length: Ethernet padding excluded */
	uint16_t payload_off;        /* FSP: UDP payload (DP_NET_UDP_HDRS_LEN) */
	uint16_t payload_len;        /* FSP: UDP length - 8 */
	uint16_t src_port_be;        /* FSP */
	uint32_t src_ip_be;          /* FSP, ICMP_ECHO */
	struct rte_ether_addr src_mac; /* FSP, ICMP_ECHO, ARP_REQUEST: Ethernet source */
};

/* Per-core counters; all uint64_t words so the control plane can sum them
 * word by word. */
struct dp_net_stats {
	uint64_t verdict[DP_NET_VERDICT_COUNT];
	uint64_t drop[DP_NET_DROP_COUNT];
};

/* Classify frame[0..len): parse Ethernet II, ARP, IPv4, ICMP and UDP, verify
 * the IPv4 header checksum, the UDP checksum of FSP datagrams and the ICMP
 * checksum of echo requests. Fills *out (offsets, requester, drop reason).
 * Never reads at or beyond frame + len and never writes the frame. */
enum dp_net_verdict dp_net_classify(const struct dp_net_local *local, uint8_t *frame,
				    uint16_t len, struct dp_net_pkt *out);

/* What the port's hardware already verified of a received frame (from the
 * mbuf's RX checksum flags, when the port offers RX checksum offload): a
 * checksum it reports GOOD is not summed again. BAD or unknown is checked in
 * software exactly as without offload, so a NIC's verdict alone never drops
 * a frame (some report BAD for a UDP checksum of 0, "none"). */
#define DP_NET_HW_IP_GOOD 1u  /* IPv4 header checksum good */
#define DP_NET_HW_L4_GOOD 2u  /* UDP checksum good */

/* dp_net_classify with the hardware's verdicts (DP_NET_HW_* bits; 0: none). */
enum dp_net_verdict dp_net_classify_hw(const struct dp_net_local *local, uint8_t *frame,
				       uint16_t len, struct dp_net_pkt *out, unsigned hw);

/* Turn an ARP request for our IP (classified DP_NET_ARP_REQUEST) into our
 * reply, in place. Returns the reply length (DP_NET_ARP_FRAME_LEN; bytes
 * beyond it are left as they were) or -EINVAL if len is too short. */
int dp_net_arp_reply(const struct dp_net_local *local, uint8_t *frame, uint16_t len);

/* Turn an ICMP echo request (classified DP_NET_ICMP_ECHO) into the echo
 * reply, in place: addresses swapped, type 0, ICMP checksum recomputed, TTL
 * 64, new IPv4 checksum. Returns the reply length (14 + IPv4 total length,
 * Ethernet padding dropped) or -EINVAL if the frame does not hold the
 * packet. */
int dp_net_icmp_echo_reply(const struct dp_net_local *local, uint8_t *frame, uint16_t len);

/* Rewrite the request frame classified DP_NET_FSP (req from
 * dp_net_classify) into a UDP reply to the requester whose payload_len bytes
 * the caller has already written at req->payload_off. capacity is the room
 * in the buffer from frame. Every header field is rewritten (DF, TTL 64,
 * id 0, UDP checksum valid and never 0 in software mode). Returns the new
 * frame length, -ENOSPC if it does not fit capacity or an IPv4 packet, or
 * -EINVAL if req is not an FSP parse. No-amplification (reply <= request) is
 * the caller's rule; this function does not enforce it. */
int dp_net_udp_reply_inplace(const struct dp_net_local *local, uint8_t *frame, uint16_t capacity,
			     const struct dp_net_pkt *req, uint16_t payload_len);

/* dp_net_udp_reply_inplace in two steps, for a burst: the headers with both
 * checksum fields 0 (same returns), then, once every reply of the burst is
 * written, the checksums (software or the offload's pseudo-header sum). A
 * checksum summed right after the encoder's narrow stores reads them back
 * through the store buffer (a store-forwarding stall per 16-byte load that
 * spans several of them); a burst later they are in L1. Nothing may send
 * the frame between the two. */
int dp_net_udp_reply_headers(const struct dp_net_local *local, uint8_t *frame, uint16_t capacity,
			     const struct dp_net_pkt *req, uint16_t payload_len);
void dp_net_udp_reply_checksums(const struct dp_net_local *local, uint8_t *frame);

/* Build a new Ethernet + IPv4 + UDP frame from us to dst around payload
 * (copied to DP_NET_UDP_HDRS_LEN; it may live inside frame). Returns the
 * frame length or -ENOSPC if it does not fit capacity or an IPv4 packet. */
int dp_net_udp_build(const struct dp_net_local *local, uint8_t *frame, uint16_t capacity,
		     const struct rte_ether_addr *dst_mac, uint32_t dst_ip_be, uint16_t dst_port_be,
		     const void *payload, uint16_t payload_len);

/* Build a gratuitous ARP announcement (broadcast request, sender = target =
 * our IP, target MAC zero; RFC 5227). Returns DP_NET_ARP_FRAME_LEN or
 * -ENOSPC. */
int dp_net_gratuitous_arp(const struct dp_net_local *local, uint8_t *frame, uint16_t capacity);

/* Zero-fill a frame up to the 60-byte Ethernet minimum for PMDs that do not
 * pad short frames themselves. Returns the new length (len if already long
 * enough) or -ENOSPC if capacity is below 60. */
int dp_net_pad(uint8_t *frame, uint16_t len, uint16_t capacity);

/* Count one classified frame: verdict, and the reason when it is a drop. */
void dp_net_count(struct dp_net_stats *stats, enum dp_net_verdict verdict,
		  enum dp_net_drop reason);

/* Short names for logs and metrics ("fsp", "bad_udp_cksum", ...); "?" for an
 * out-of-range value. */
const char *dp_net_verdict_name(enum dp_net_verdict verdict);
const char *dp_net_drop_name(enum dp_net_drop reason);

#endif
