/*
 * dp_http_addr.c — whose address a request counts against (HTTP-API.md "The
 * client's address") and the [net] trusted_proxies list.
 *
 * Rule, as pure functions of (TCP peer, header value, trusted CIDRs):
 *  - Peer not in trusted_proxies: the peer is the client; the client-IP
 *    header is ignored whatever it says (anyone can send one).
 *  - Peer trusted, header X-Forwarded-For: walk the comma-separated entries
 *    from the right (each proxy appends the address it received from); skip
 *    entries that are themselves trusted proxies; the first other entry is
 *    the client. If every entry is trusted, the leftmost is the client (the
 *    request started inside the trusted network). If the entry we stop at
 *    is not an address, the header is malformed and the peer is the client:
 *    that can only come from a misconfigured proxy chain, and charging the
 *    proxy is the conservative choice (it cannot be used to dodge a bucket).
 *  - Peer trusted, a single-address header (CF-Connecting-IP,
 *    True-Client-IP, Ali-CDN-Real-IP, or any other configured name): the
 *    whole value, blanks trimmed, must be one address; otherwise (malformed,
 *    or the header sent twice) the peer is the client.
 *  - Header absent: the peer.
 * Addresses are dotted-quad IPv4 (inet_pton, so no octal or short forms) or
 * IPv6 (bare or in brackets). Rate-limit buckets are keyed by IPv4, so an
 * IPv6 client is mapped to 240.0.0.0/4 (reserved, never a real peer) by a
 * hash of its /64, the block one subscriber usually holds: each IPv6
 * subscriber gets a bucket of its own, and rotating addresses inside a /64
 * does not escape it. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is that
 * IPv4 address.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "dp_http.h"
#include "fs_common.h"

#define ADDR_TEXT_MAX 64

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Trim blanks around s[0..len). */
static void trim(const char **s, size_t *len)
{
	while (*len && is_blank(**s))
		(*s)++, (*len)--;
	while (*len && is_blank((*s)[*len - 1]))
		(*len)--;
}

static uint32_t v6_to_key(const uint8_t a[16])
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a over the /64 */

	if (memcmp(a, mapped, sizeof(mapped)) == 0)
		return (uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 | (uint32_t)a[14] << 8 | a[15];
	for (int i = 0; i < 8; i++)
		h = (h ^ a[i]) * 0x100000001b3ull;
	return 0xf0000000u | (uint32_t)((h ^ (h >> 32)) & 0x0fffffffu);
}

/* Parse one address s[0..len) into a rate-limit key (host order). 0 or -EINVAL. */
static int parse_addr(const char *s, size_t len, uint32_t *out)
{
	char buf[ADDR_TEXT_MAX];
	uint8_t a[16];
	struct in_addr v4;

	trim(&s, &len);
	if (len >= 2 && s[0] == '[' && s[len - 1] == ']')
		s++, len -= 2;
	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &v4) == 1) {
		*out = ntohl(v4.s_addr);
		return 0;
	}
	if (inet_pton(AF_INET6, buf, a) == 1) {
		*out = v6_to_key(a);
		return 0;
	}
	return -EINVAL;
}

bool dp_http_cidr_match(const struct dp_http_cidr *list, unsigned n, uint32_t ip)
{
	for (unsigned i = 0; i < n; i++)
		if ((ip & list[i].mask) == list[i].net)
			return true;
	return false;
}

/* One "a.b.c.d[/len]" entry. */
static int parse_cidr(const char *s, size_t len, struct dp_http_cidr *out)
{
	char buf[ADDR_TEXT_MAX];
	const char *slash = memchr(s, '/', len);
	size_t alen = slash ? (size_t)(slash - s) : len;
	struct in_addr v4;
	unsigned bits = 32;

	if (alen == 0 || alen >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, alen);
	buf[alen] = '\0';
	if (inet_pton(AF_INET, buf, &v4) != 1)
		return -EINVAL;
	if (slash) {
		const char *d = slash + 1, *end = s + len;
		if (d == end || end - d > 2)
			return -EINVAL;
		bits = 0;
		for (; d < end; d++) {
			if (*d < '0' || *d > '9')
				return -EINVAL;
			bits = bits * 10 + (unsigned)(*d - '0');
		}
		if (bits > 32 || (end - slash > 2 && slash[1] == '0'))
			return -EINVAL;
	}
	out->mask = bits ? ~0u << (32 - bits) : 0;
	out->net = ntohl(v4.s_addr);
	if (out->net & ~out->mask)
		return -EINVAL; /* host bits set: almost certainly a typo */
	return 0;
}

int dp_http_cidr_parse(const char *text, struct dp_http_cidr *out, unsigned max, char *err,
		       size_t errlen)
{
	const char *p = text;
	unsigned n = 0;

	for (;;) {
		const char *start;
		size_t len;

		while (*p == ',' || is_blank(*p))
			p++;
		if (*p == '\0')
			return (int)n;
		start = p;
		while (*p && *p != ',' && !is_blank(*p))
			p++;
		len = (size_t)(p - start);
		if (n == max) {
			fs_errf(err, errlen, "trusted_proxies: more than %u entries", max);
			return -ENOSPC;
		}
		if (parse_cidr(start, len, &out[n]) != 0) {
			fs_errf(err, errlen,
				"trusted_proxies: '%.*s' is not an IPv4 address or CIDR "
				"(a.b.c.d or a.b.c.d/len with the host bits zero)",
				(int)(len > 48 ? 48 : len), start);
			return -EINVAL;
		}
		n++;
	}
}

/* X-Forwarded-For from a trusted peer. */
static uint32_t client_from_xff(uint32_t peer, const char *h, size_t len,
				const struct dp_http_cidr *trusted, unsigned ntrusted)
{
	size_t end = len;
	uint32_t ip = peer;

	for (;;) {
		size_t start = end;
		while (start > 0 && h[start - 1] != ',')
			start--;
		if (parse_addr(h + start, end - start, &ip) != 0)
			return peer;
		if (!dp_http_cidr_match(trusted, ntrusted, ip) || start == 0)
			return ip; /* the first untrusted from the right, or the leftmost */
		end = start - 1;
	}
}

uint32_t dp_http_client_ip(uint32_t peer, const char *hdr, size_t hdr_len, bool xff,
			   const struct dp_http_cidr *trusted, unsigned ntrusted)
{
	uint32_t ip;

	if (!hdr || !dp_http_cidr_match(trusted, ntrusted, peer))
		return peer;
	if (xff)
		return client_from_xff(peer, hdr, hdr_len, trusted, ntrusted);
	if (parse_addr(hdr, hdr_len, &ip) != 0)
		return peer;
	return ip;
}
