/*
 * pcap.c — flashsale-pcapgen (also `flashsale-bench pcap`, its old name):
 * BUY datagrams as Ethernet frames, for pktgen replay.
 *
 * flashsale-pcapgen --config FILE --out F.pcap --count N writes N frames,
 * each one Ethernet II + IPv4 (no options, DF, TTL 64, valid header checksum)
 * + UDP (valid checksum) + one FSP/1 datagram of --batch BUY messages, to a
 * classic libpcap file (LINKTYPE_ETHERNET). Every message has its own user
 * (user-base + index) and request id (seed << 32 | index + 1) and a valid
 * token for its item's activity, so a replay is N * batch distinct purchase
 * attempts, not one attempt repeated (the appliance would answer repeats
 * from its idempotency table). Source ports cycle over --src-ports values,
 * so a NIC with RSS spreads the replay over its queues. The frames are built
 * here byte by byte (no DPDK): the file is an outside check of what the
 * appliance parses; its checksums come from common/fs_cksum, not DPDK.
 * Frames are written as built, one at a time, into a classic pcap file in
 * host byte order with microsecond stamps one apart from the start time.
 */

#include "bench.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "dp.h"
#include "fs_cksum.h"

#define ETH_HDR_LEN 14
#define IPV4_HDR_LEN 20
#define UDP_HDR_LEN 8
#define ETH_TYPE_IPV4 0x0800
#define IPV4_VER_IHL 0x45      /* version 4, 5 words: no options */
#define IPV4_FLAG_DF 0x4000
#define IPV4_TTL 64
#define PCAP_L3_OFF ETH_HDR_LEN
#define PCAP_L4_OFF (ETH_HDR_LEN + IPV4_HDR_LEN)
#define PCAP_PAYLOAD_OFF (PCAP_L4_OFF + UDP_HDR_LEN)
#define PCAP_MAGIC_US 0xa1b2c3d4u /* classic pcap, microsecond stamps */
#define PCAP_VERSION (2 | 4 << 16) /* 2.4, as two host-order 16-bit words */
#define PCAP_SNAPLEN 65535
#define PCAP_LINKTYPE_ETHERNET 1
#define PCAP_US_PER_S 1000000
#define PCAP_NS_PER_US 1000

_Static_assert(PCAP_FRAME_MAX_BYTES ==
		       PCAP_PAYLOAD_OFF + FSP_HDR_LEN + FSP_MSG_LEN * PCAP_BATCH_MAX,
	       "the frame buffer holds the largest frame");

struct pcap_opts {
	const char *prog;         /* prefixes every message */
	const char *out, *config_path;
	uint64_t count, batch, user_base, seed, src_port, src_ports, port;
	uint8_t dst_mac[6], src_mac[6];
	struct in_addr src_ip, dst_ip;
	bool dst_ip_set;
};

struct pcap_item {
	uint32_t id, activity_id;
	bool token;
	uint8_t key[FS_KEY_LEN];
};

static void pcap_usage(FILE *f, const char *prog)
{
	fprintf(f, "usage: %s --config FILE --out F.pcap --count N [options]\n", prog);
	fputs("Write N Ethernet frames, each a UDP datagram of --batch distinct FSP/1 BUY\n"
	      "messages (distinct users and request ids, valid tokens) for pktgen's\n"
	      "`-s P:F.pcap` replay.\n"
	      "  --config FILE   appliance INI: items, token keys, address, udp_port\n"
	      "  --out FILE      the pcap file to write\n"
	      "  --count N       frames, 1..10000000\n"
	      "  --batch M       BUY messages per datagram, 1..22 (default 1)\n"
	      "  --user-base N   first user id (default 1)\n"
	      "  --seed N        high 32 bits of every request id (default 1)\n"
	      "  --dst-mac MAC   the appliance's MAC (default ff:ff:ff:ff:ff:ff)\n"
	      "  --src-mac MAC   (default 02:00:00:00:00:01)\n"
	      "  --dst-ip ADDR   (default: [net] address of the config)\n"
	      "  --src-ip ADDR   (default 10.99.0.1)\n"
	      "  --port N        destination UDP port (default: [net] udp_port)\n"
	      "  --src-port N    first source port (default 40000)\n"
	      "  --src-ports N   source ports to cycle over, for RSS (default 64)\n",
	      f);
	fprintf(f, "example: %s --config config/flashsale.ini --out buy.pcap \\\n"
		   "           --count 100000 --dst-mac 02:00:00:00:00:02\n", prog);
}

static int pcap_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

static int pcap_opt(struct pcap_opts *o, const char *name, const char *arg)
{
	static const struct { const char *name; uint64_t min, max; size_t off; } nums[] = {
		{"count", 1, PCAP_COUNT_MAX, offsetof(struct pcap_opts, count)},
		{"batch", 1, PCAP_BATCH_MAX, offsetof(struct pcap_opts, batch)},
		{"user-base", 1, UINT64_MAX / 2, offsetof(struct pcap_opts, user_base)},
		{"seed", 0, UINT32_MAX, offsetof(struct pcap_opts, seed)},
		{"port", 1, 65535, offsetof(struct pcap_opts, port)},
		{"src-port", 1, 65535, offsetof(struct pcap_opts, src_port)},
		{"src-ports", 1, 65535, offsetof(struct pcap_opts, src_ports)},
	};
	int rc = 0;

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (strcmp(name, nums[i].name) == 0)
			return bench_parse_u64(o->prog, name, arg, nums[i].min, nums[i].max,
					       (uint64_t *)((char *)o + nums[i].off));
	if (strcmp(name, "out") == 0)
		o->out = arg;
	else if (strcmp(name, "config") == 0)
		o->config_path = arg;
	else if (strcmp(name, "dst-mac") == 0)
		rc = pcap_mac(arg, o->dst_mac);
	else if (strcmp(name, "src-mac") == 0)
		rc = pcap_mac(arg, o->src_mac);
	else if (strcmp(name, "dst-ip") == 0)
		rc = inet_pton(AF_INET, arg, &o->dst_ip) == 1 ? (o->dst_ip_set = true, 0) : -EINVAL;
	else if (strcmp(name, "src-ip") == 0)
		rc = inet_pton(AF_INET, arg, &o->src_ip) == 1 ? 0 : -EINVAL;
	else
		rc = -EINVAL;
	if (rc < 0)
		fprintf(stderr, "%s: --%s: bad value '%s'\n", o->prog, name, arg);
	return rc;
}

/* Returns 0 to run, 1 after --help, -EINVAL on a usage error. */
static int pcap_args(const char *prog, int argc, char **argv, struct pcap_opts *o)
{
	static const char *const names[] = {"out", "config", "count", "batch", "user-base",
					    "seed", "dst-mac", "src-mac", "dst-ip", "src-ip",
					    "port", "src-port", "src-ports"};
	struct option opts[sizeof(names) / sizeof(names[0]) + 2];
	int c, idx, rc = 0;

	memset(o, 0, sizeof(*o));
	o->prog = prog;
	o->batch = 1, o->user_base = 1, o->seed = 1, o->src_port = 40000, o->src_ports = 64;
	memset(o->dst_mac, 0xff, 6);
	memcpy(o->src_mac, (uint8_t[6]){0x02, 0, 0, 0, 0, 0x01}, 6);
	o->src_ip.s_addr = htonl(0x0a630001); /* 10.99.0.1 */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		opts[i] = (struct option){names[i], required_argument, NULL, 0};
	opts[sizeof(names) / sizeof(names[0])] = (struct option){"help", no_argument, NULL, 'h'};
	opts[sizeof(names) / sizeof(names[0]) + 1] = (struct option){NULL, 0, NULL, 0};
	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		if (c == 'h') {
			pcap_usage(stdout, prog);
			return 1;
		}
		rc = c == 0 ? pcap_opt(o, opts[idx].name, optarg) : -EINVAL;
	}
	if (rc == 0 && (optind < argc || !o->out || !o->config_path || !o->count)) {
		fprintf(stderr, "%s: --config, --out and --count are required\n", prog);
		rc = -EINVAL;
	}
	if (rc == 0 && o->src_port + o->src_ports - 1 > 65535)
		rc = -EINVAL, fprintf(stderr, "%s: --src-port + --src-ports > 65536\n", prog);
	if (rc != 0)
		fprintf(stderr, "%s: --help for usage\n", prog);
	return rc;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* Ethernet + IPv4 + UDP headers around the payload_len bytes at
 * f + PCAP_PAYLOAD_OFF. */
static void pcap_headers(const struct pcap_opts *o, uint8_t *f, uint16_t sport, uint16_t id,
			 size_t payload_len)
{
	uint8_t *ip = f + PCAP_L3_OFF, *udp = f + PCAP_L4_OFF;
	uint16_t udp_len = (uint16_t)(UDP_HDR_LEN + payload_len);

	memcpy(f, o->dst_mac, 6);
	memcpy(f + 6, o->src_mac, 6);
	put16(f + 12, ETH_TYPE_IPV4);
	ip[0] = IPV4_VER_IHL, ip[1] = 0;
	put16(ip + 2, (uint16_t)(IPV4_HDR_LEN + udp_len));
	put16(ip + 4, id);
	put16(ip + 6, IPV4_FLAG_DF);
	ip[8] = IPV4_TTL, ip[9] = FS_IPPROTO_UDP;
	memcpy(ip + 12, &o->src_ip, 4);
	memcpy(ip + 16, &o->dst_ip, 4);
	put16(ip + 10, fs_cksum_ipv4_hdr(ip));
	put16(udp, sport);
	put16(udp + 2, (uint16_t)o->port);
	put16(udp + 4, udp_len);
	put16(udp + 6, fs_cksum_udp4(ip, udp, udp_len));
}

static int pcap_items(const struct cfg *c, struct pcap_item *items)
{
	for (unsigned i = 0; i < c->n_items; i++) {
		const struct cfg_activity *a = cfg_find_activity(c, c->items[i].activity_id);
		items[i].id = c->items[i].id;
		items[i].activity_id = c->items[i].activity_id;
		items[i].token = a && a->require_token;
		if (a)
			memcpy(items[i].key, a->token_key, FS_KEY_LEN);
	}
	return (int)c->n_items;
}

/* Frame i: batch messages for users user_base + i * batch + k. */
static size_t pcap_frame(const struct pcap_opts *o, const struct pcap_item *items,
			 unsigned n_items, uint64_t i, uint8_t *f)
{
	uint8_t *dg = f + PCAP_PAYLOAD_OFF;

	dp_fsp_write_header(dg, (unsigned)o->batch);
	for (uint64_t k = 0; k < o->batch; k++) {
		uint64_t idx = i * o->batch + k;
		const struct pcap_item *it = &items[idx % n_items];
		struct fs_req r = {.op = FS_OP_BUY, .qty = 1, .item_id = it->id,
				   .user_id = o->user_base + idx,
				   .request_id = o->seed << 32 | (idx + 1)};
		if (it->token)
			fs_token_buy(it->key, r.user_id, it->activity_id, r.token);
		dp_fsp_encode_req(&r, dg + FSP_HDR_LEN + FSP_MSG_LEN * k);
	}
	pcap_headers(o, f, (uint16_t)(o->src_port + i % o->src_ports), (uint16_t)i,
		     FSP_HDR_LEN + FSP_MSG_LEN * o->batch);
	return PCAP_PAYLOAD_OFF + FSP_HDR_LEN + FSP_MSG_LEN * o->batch;
}

static int pcap_write_file(const struct pcap_opts *o, const struct pcap_item *items,
			   unsigned n_items)
{
	static const uint32_t hdr[6] = {PCAP_MAGIC_US, PCAP_VERSION, 0, 0, PCAP_SNAPLEN,
					PCAP_LINKTYPE_ETHERNET};
	uint8_t frame[PCAP_FRAME_MAX_BYTES];
	FILE *f = fopen(o->out, "wb");
	int64_t t0 = fs_now_ns() / PCAP_NS_PER_US;

	if (f == NULL) {
		int rc = -errno;

		fprintf(stderr, "%s: %s: %s\n", o->prog, o->out, strerror(-rc));
		return rc;
	}
	/* Host-order (little-endian here) classic pcap, microsecond stamps. */
	fwrite(hdr, sizeof(hdr), 1, f);
	for (uint64_t i = 0; i < o->count; i++) {
		uint32_t len = (uint32_t)pcap_frame(o, items, n_items, i, frame);
		int64_t us = t0 + (int64_t)i;
		uint32_t rec[4] = {(uint32_t)(us / PCAP_US_PER_S), (uint32_t)(us % PCAP_US_PER_S), len,
				   len};
		fwrite(rec, sizeof(rec), 1, f);
		fwrite(frame, len, 1, f);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "%s: %s: %s\n", o->prog, o->out, strerror(errno));
		return -EIO;
	}
	return 0;
}

int pcapgen_main(const char *prog, int argc, char **argv)
{
	struct pcap_opts o;
	struct pcap_item *items;
	struct cfg c;
	char err[PCAP_ERR_BYTES];
	int rc = pcap_args(prog, argc, argv, &o);

	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (cfg_load(o.config_path, fs_now_ns(), &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		return 2;
	}
	if (!o.dst_ip_set)
		o.dst_ip = c.address;
	if (!o.port)
		o.port = c.udp_port;
	items = calloc(c.n_items ? c.n_items : 1, sizeof(*items));
	rc = items == NULL || c.n_items == 0
		     ? -EINVAL
		     : pcap_write_file(&o, items, (unsigned)pcap_items(&c, items));
	if (rc == 0)
		printf("%s: %" PRIu64 " frames, %" PRIu64 " BUY messages (users %" PRIu64 "..%" PRIu64
		       ") to %s:%" PRIu64 "\n", o.out, o.count, o.count * o.batch, o.user_base,
		       o.user_base + o.count * o.batch - 1, inet_ntoa(o.dst_ip), o.port);
	free(items);
	cfg_free(&c);
	return rc == 0 ? 0 : 2;
}
