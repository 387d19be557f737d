/*
 * fs_cksum.h — the Internet checksum (RFC 1071) of IPv4 headers and UDP
 * datagrams, written byte by byte without DPDK.
 *
 * The appliance itself uses DPDK's rte_ipv4_cksum and friends (dp_net.c);
 * this one is for the programs and tests that must not depend on DPDK or
 * must check the dataplane from outside: the pcap writer (flashsale-pcapgen)
 * and tests/test_net.c. A builder and a classifier that agree with each
 * other but not with the wire format are caught because this code shares
 * nothing with DPDK's.
 *
 * Sums are 32-bit accumulators of big-endian 16-bit words (an odd last byte
 * is the high byte of a word padded with zero); fold them to 16 bits at the
 * end. A block that holds a valid checksum folds to 0xffff. Callers own all
 * buffers; nothing here allocates or keeps state.
 */
#ifndef FS_CKSUM_H
#define FS_CKSUM_H

#include <stddef.h>
#include <stdint.h>

#define FS_CKSUM_OK 0xffff /* fs_cksum_fold of a block with a valid checksum */
#define FS_IPPROTO_UDP 17

/* sum plus the len bytes at p as big-endian words. Exact for len up to
 * 128 KiB per call from a zero sum (no carry out of 32 bits). */
uint32_t fs_cksum_add(uint32_t sum, const void *p, size_t len);

/* The end-around-carry fold of sum to 16 bits (not complemented). */
uint16_t fs_cksum_fold(uint32_t sum);

/* The header checksum to store at ip + 10 of the IPv4 header at ip (its
 * length from the IHL field); the stored field itself is not summed. */
uint16_t fs_cksum_ipv4_hdr(const uint8_t *ip);

/* The UDP checksum to store at udp + 6 for the datagram of udp_len bytes at
 * udp (header included) inside the IPv4 header at ip; the stored field is
 * not summed. A computed 0 is returned as 0xffff (0 means "no checksum"). */
uint16_t fs_cksum_udp4(const uint8_t *ip, const uint8_t *udp, uint16_t udp_len);

/* The IPv4 pseudo-header sum (addresses, protocol, length) of an L4
 * segment of l4_len bytes, for protocol ip[9]. */
uint32_t fs_cksum_ipv4_pseudo(const uint8_t *ip, uint16_t l4_len);

#endif
