/*
 * fs_cksum.c — RFC 1071 Internet checksum over bytes (fs_cksum.h).
 *
 * Plain and byte-wise on purpose: this is the independent check of the
 * dataplane's DPDK checksums and the builder of the pcap writer's frames,
 * never on the appliance's data path, so clarity beats speed.
 */
#include "fs_cksum.h"

#include "fs_common.h"

#define IPV4_CKSUM_OFF 10
#define IPV4_ADDRS_OFF 12
#define IPV4_ADDRS_LEN 8
#define IPV4_PROTO_OFF 9
#define IPV4_IHL_MASK 0x0f
#define UDP_CKSUM_OFF 6
#define UDP_HDR_LEN 8

uint32_t fs_cksum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)b[i] << 8 | b[i + 1];
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	return sum;
}

uint16_t fs_cksum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint16_t fs_cksum_ipv4_hdr(const uint8_t *ip)
{
	size_t hlen = (size_t)(ip[0] & IPV4_IHL_MASK) * 4;
	uint32_t sum;

	FS_ASSERT(hlen >= IPV4_CKSUM_OFF + 2);
	sum = fs_cksum_add(0, ip, IPV4_CKSUM_OFF);

	sum = fs_cksum_add(sum, ip + IPV4_CKSUM_OFF + 2, hlen - IPV4_CKSUM_OFF - 2);
	return (uint16_t)~fs_cksum_fold(sum);
}

uint32_t fs_cksum_ipv4_pseudo(const uint8_t *ip, uint16_t l4_len)
{
	return fs_cksum_add(0, ip + IPV4_ADDRS_OFF, IPV4_ADDRS_LEN) + ip[IPV4_PROTO_OFF] + l4_len;
}

uint16_t fs_cksum_udp4(const uint8_t *ip, const uint8_t *udp, uint16_t udp_len)
{
	uint32_t sum = fs_cksum_ipv4_pseudo(ip, udp_len);
	uint16_t c;

	FS_ASSERT(udp_len >= UDP_HDR_LEN);
	sum = fs_cksum_add(sum, udp, UDP_CKSUM_OFF);
	sum = fs_cksum_add(sum, udp + UDP_HDR_LEN, (size_t)udp_len - UDP_HDR_LEN);
	c = (uint16_t)~fs_cksum_fold(sum);
	return c == 0 ? 0xffff : c;
}
