/*
 * flashsale_bench_dpdk.c — flashsale-bench-dpdk: an FSP/1 load generator on
 * a DPDK port, for measuring the appliance's DPDK front end without the
 * kernel in the way (net_memif client of the appliance's net_memif server on
 * one box; a NIC port in a lab).
 *
 *   flashsale-bench-dpdk EAL-ARGS -- --config FILE [options]
 *
 * Send --batch BUY messages per datagram for fresh users (user-base,
 * user-base + 1, ...: every message is a new purchase attempt, never an
 * idempotent repeat) with valid tokens, receive the answers, count them by
 * status. Closed loop: at most --window messages in flight, so the figure is
 * what the appliance sustains, not how deep a queue grew; --rate caps
 * datagrams/s for latency at a fixed load.
 *
 * The generator must not be the bound, so sending is a copy (issue 12):
 * at start, --templates request frames (Ethernet + IPv4 + UDP + FSP, tokens
 * included, checksums done, padded) are built into one array, each with
 * the folded one's-complement sum of its UDP checksum taken with every
 * request_id zero. Sending a datagram is: an mbuf from a bulk allocation, a
 * memcpy of its template, the request_ids written (the TSC, for latency) and
 * the UDP checksum finished from the stored sum plus the request_ids' 16-bit
 * words (an incremental checksum: RFC 1624's arithmetic; the IPv4 header
 * does not change). When the ring of templates wraps, a template's users are
 * advanced by templates x batch and its tokens and checksum recomputed
 * before it is copied (so users stay fresh; that costs a SipHash per
 * message, counted below); --reuse-users skips that and re-sends the same
 * users with new request_ids (for a sold-out item the answer is the same:
 * the gate decides without state), so sending is only the copy.
 *
 * Its own cost is measured as the appliance's is: rte_rdtsc around the work
 * of every burst that moved something (idle polls excluded, as DPDK's
 * l3fwd-power and testpmd's --record-core-cycles do), reported as cycles per
 * datagram sent and per datagram received and as the share of the run its
 * lcores were busy: a generator busy near 100% is the bound, not the
 * appliance.
 *
 * Lcores: --lcores 1 (the default, as docs/benchmarks.md's commands run it)
 * does everything on the main lcore; --lcores 2 sends on the main lcore and
 * receives (answers, histogram) on the next EAL lcore, on the same port's
 * queue pair (an RX and a TX queue are independent), sharing only two
 * counters (messages sent, messages answered: one writer each, relaxed
 * atomics). Give EAL that many lcores (--lcores 0@0,1@1).
 *
 * Latency: each message's request_id is the TSC when its datagram was sent
 * (plus its index in the burst and in the datagram, so request ids stay
 * distinct); the answer echoes it, so latency = TSC on receipt - request_id
 * with no table, taken once per answer datagram (from its first message). The histogram is flashsale-bench's (app/bench/bench_hist.h:
 * log-linear, percentiles within 0.8%).
 *
 * Paths: --item of a sold-out item (total = 0, or an ended sale) measures
 * the rejection path (the receiving core's gate: the common case once a sale
 * is under way); an item with a large stock measures the winning path (owner
 * decision, order created, durability as configured) until the stock is gone.
 *
 * Frames are built and parsed with dataplane/dp_net (the generator is the
 * "local" side: its own MAC, IP and UDP port); --dst-mac defaults to
 * broadcast, which the appliance accepts.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_udp.h>
#include <rte_ip.h>

#include "bench/bench_hist.h"
#include "cfg.h"
#include "dp.h"
#include "dp_net.h"
#include "fs_common.h"
#include "fs_token.h"

#define GEN_BURST 32
#define GEN_POOL 16383
#define GEN_MSG_MAX 22
#define GEN_TMPL_DEFAULT 4096u
#define GEN_TMPL_MAX 1048576u
#define GEN_CHECK_EVERY 64u /* default --check-every */
/* Where a message's request_id sits: UDP payload offset + FSP header + 16. */
#define GEN_REQ_ID_OFF (DP_NET_UDP_HDRS_LEN + FSP_HDR_LEN + 16u)
#define GEN_USER_OFF (DP_NET_UDP_HDRS_LEN + FSP_HDR_LEN + 8u)
#define GEN_TOKEN_OFF (DP_NET_UDP_HDRS_LEN + FSP_HDR_LEN + 32u)
#define GEN_UDP_CKSUM_OFF (14u + 20u + 6u)

struct gen_opts {
	const char *config;
	uint32_t item;
	unsigned batch, window, templates, lcores, check_every;
	double duration_s, rate;
	uint64_t user_base;
	bool reuse_users;
	struct rte_ether_addr dst_mac;
};

/* One precomputed request frame. */
struct gen_tmpl {
	uint16_t len;                /* frame length, padded */
	uint16_t sum;                /* folded UDP sum with every request_id 0 */
};

struct gen {
	struct gen_opts o;
	struct dp_net_local local;
	uint32_t dst_ip_be;
	uint16_t dst_port_be, port;
	uint8_t key[16];
	uint32_t activity;
	bool token;
	struct rte_mempool *pool;
	uint64_t hz, start, end;
	/* templates: frames[i * stride], tmpl[i] */
	uint8_t *frames;
	struct gen_tmpl *tmpl;
	uint32_t stride, next_tmpl;
	uint64_t cycle;              /* times the template ring wrapped */
	/* TX side (the main lcore) */
	uint64_t sent_dgrams, tx_cyc, refills;
	_Atomic uint64_t sent_msgs;  /* written by TX only */
	atomic_bool tx_done;
	/* RX side (the main lcore, or the RX lcore with --lcores 2) */
	_Atomic uint64_t answered;   /* written by RX only */
	uint64_t bad, other, verified, rx_dgrams, rx_cyc;
	uint64_t by_status[FS_ST_COUNT];
	uint64_t hist[HIST_BUCKETS];
	uint64_t lat_count, lat_max_ns;
	uint64_t last_ok_tsc;
};

static atomic_bool g_stop;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&g_stop, true);
}

static void usage(void)
{
	fputs("usage: flashsale-bench-dpdk EAL-ARGS -- --config FILE --item ID [options]\n"
	      "  --config FILE    the appliance's INI (address, udp_port, token keys)\n"
	      "  --item ID        item to BUY (sold out: rejection path; stock: winning path)\n"
	      "  --batch M        messages per datagram, 1..22 (default 1)\n"
	      "  --window N       messages in flight at most (default 4096)\n"
	      "  --rate R         datagrams/s at most (default: as fast as the window allows)\n"
	      "  --duration S     seconds (default 5)\n"
	      "  --user-base N    first user id (default 1000000)\n"
	      "  --dst-mac MAC    the appliance's MAC (default broadcast)\n"
	      "  --templates N    request frames precomputed at start (default 4096)\n"
	      "  --reuse-users    re-send the templates' users when the ring wraps (new\n"
	      "                   request_ids, no SipHash on the send path; for sold-out runs)\n"
	      "  --check-every N  check one answer in N in full, headers and checksums\n"
	      "                   (default 64; 1: every answer; the rest: lengths and ports)\n"
	      "  --lcores N       1: all on the main lcore (default); 2: send on the main\n"
	      "                   lcore, receive on the next EAL lcore (give EAL two lcores)\n"
	      "Prints messages/s, answers by status, latency percentiles and the\n"
	      "generator's own cycles per datagram (idle polls excluded).\n"
	      "example:\n"
	      "  flashsale-bench-dpdk --no-huge --no-shconf -m 512 --no-pci --lcores 0@0 \\\n"
	      "    --vdev=net_memif0,role=client,socket=/tmp/fs-memif.sock -- \\\n"
	      "    --config bench.ini --item 1 --batch 16 --duration 5\n",
	      stderr);
}

static int parse_opts(int argc, char **argv, struct gen_opts *o)
{
	static const struct option opts[] = {
		{"config", 1, NULL, 'c'}, {"item", 1, NULL, 'i'},   {"batch", 1, NULL, 'b'},
		{"window", 1, NULL, 'w'}, {"rate", 1, NULL, 'r'},   {"duration", 1, NULL, 'd'},
		{"user-base", 1, NULL, 'u'}, {"dst-mac", 1, NULL, 'm'}, {"templates", 1, NULL, 't'},
		{"reuse-users", 0, NULL, 'R'}, {"lcores", 1, NULL, 'l'}, {"help", 0, NULL, 'h'},
		{"check-every", 1, NULL, 'k'},
		{NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct gen_opts){.batch = 1, .window = 4096, .duration_s = 5, .user_base = 1000000,
			       .templates = GEN_TMPL_DEFAULT, .lcores = 1, .check_every = GEN_CHECK_EVERY};
	memset(&o->dst_mac, 0xff, sizeof(o->dst_mac));
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'c': o->config = optarg; break;
		case 'i': o->item = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'b': o->batch = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'w': o->window = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'r': o->rate = strtod(optarg, NULL); break;
		case 'd': o->duration_s = strtod(optarg, NULL); break;
		case 'u': o->user_base = strtoull(optarg, NULL, 10); break;
		case 't': o->templates = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'R': o->reuse_users = true; break;
		case 'l': o->lcores = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'k': o->check_every = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'm':
			if (rte_ether_unformat_addr(optarg, &o->dst_mac) < 0)
				return -EINVAL;
			break;
		default: return -EINVAL;
		}
	}
	if (!o->config || !o->item || o->batch < 1 || o->batch > GEN_MSG_MAX ||
	    o->window < o->batch || !(o->duration_s > 0) || o->templates < 1 ||
	    o->templates > GEN_TMPL_MAX || o->lcores < 1 || o->lcores > 2 || o->check_every < 1)
		return -EINVAL;
	return 0;
}

static int setup_target(struct gen *g)
{
	struct cfg c;
	char err[1024];
	const struct cfg_item *it;
	const struct cfg_activity *a;

	if (cfg_load(g->o.config, fs_now_ns(), &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "flashsale-bench-dpdk: %s\n", err);
		return -EINVAL;
	}
	it = cfg_find_item(&c, g->o.item);
	a = it ? cfg_find_activity(&c, it->activity_id) : NULL;
	if (a == NULL) {
		fprintf(stderr, "flashsale-bench-dpdk: item %u is not in %s\n", g->o.item, g->o.config);
		cfg_free(&c);
		return -EINVAL;
	}
	g->dst_ip_be = c.address.s_addr;
	g->dst_port_be = htons(c.udp_port);
	g->activity = a->id;
	g->token = a->require_token;
	memcpy(g->key, a->token_key, sizeof(g->key));
	/* We are 10.99.0.1:40000 unless the appliance is in 10.99.0.0/24 already. */
	g->local.ip_be = htonl(ntohl(c.address.s_addr) == 0x0a630001 ? 0x0a630003 : 0x0a630001);
	g->local.udp_port_be = htons(40000);
	cfg_free(&c);
	return 0;
}

static int port_init(struct gen *g)
{
	struct rte_eth_conf conf;
	int rc;

	memset(&conf, 0, sizeof(conf));
	if (rte_eth_dev_count_avail() < 1) {
		fprintf(stderr, "flashsale-bench-dpdk: no port (give a --vdev)\n");
		return -ENODEV;
	}
	g->port = 0;
	g->pool = rte_pktmbuf_pool_create("gen", GEN_POOL, 256, 0,
					  RTE_PKTMBUF_HEADROOM + 2304, (int)rte_socket_id());
	if (g->pool == NULL)
		return -ENOMEM;
	if ((rc = rte_eth_dev_configure(g->port, 1, 1, &conf)) < 0 ||
	    (rc = rte_eth_rx_queue_setup(g->port, 0, 1024, rte_eth_dev_socket_id(g->port), NULL,
					 g->pool)) < 0 ||
	    (rc = rte_eth_tx_queue_setup(g->port, 0, 1024, rte_eth_dev_socket_id(g->port),
					 NULL)) < 0 ||
	    (rc = rte_eth_macaddr_get(g->port, &g->local.mac)) < 0 ||
	    (rc = rte_eth_dev_start(g->port)) < 0)
		return rc;
	for (int i = 0; i < 500; i++) {
		struct rte_eth_link link;
		if (rte_eth_link_get_nowait(g->port, &link) == 0 && link.link_status)
			return 0;
		rte_delay_ms(10);
	}
	fprintf(stderr, "flashsale-bench-dpdk: link down after 5 s (is the appliance's "
			"memif server up?)\n");
	return -ENOLINK;
}

/* ---------------------------------------------------------------- templates */

/* Template i's frame: batch BUYs for users first, first + 1, ..., request_ids
 * 0, with tokens and checksums; its UDP sum kept for the send path. */
static void tmpl_fill(struct gen *g, uint32_t i, uint64_t first)
{
	uint8_t payload[FSP_HDR_LEN + FSP_MSG_LEN * GEN_MSG_MAX];
	uint8_t *f = g->frames + (size_t)i * g->stride;
	uint16_t plen = (uint16_t)(FSP_HDR_LEN + FSP_MSG_LEN * g->o.batch);
	uint16_t ck;
	int len;

	dp_fsp_write_header(payload, g->o.batch);
	for (unsigned k = 0; k < g->o.batch; k++) {
		struct fs_req r = {.op = FS_OP_BUY, .qty = 1, .item_id = g->o.item,
				   .user_id = first + k, .request_id = 0};
		if (g->token)
			fs_token_buy(g->key, r.user_id, g->activity, r.token);
		dp_fsp_encode_req(&r, payload + FSP_HDR_LEN + FSP_MSG_LEN * k);
	}
	len = dp_net_udp_build(&g->local, f, (uint16_t)g->stride, &g->o.dst_mac, g->dst_ip_be,
			       g->dst_port_be, payload, plen);
	FS_ASSERT(len > 0);
	len = dp_net_pad(f, (uint16_t)len, (uint16_t)g->stride);
	FS_ASSERT(len > 0);
	memcpy(&ck, f + GEN_UDP_CKSUM_OFF, 2);
	/* dp_net never sends 0 (it writes 0xffff); both are -0, so ~ck is the sum. */
	g->tmpl[i] = (struct gen_tmpl){.len = (uint16_t)len, .sum = (uint16_t)~ck};
}

/* A wrapped template's users move on by templates x batch: fresh again. */
static void tmpl_refresh(struct gen *g, uint32_t i)
{
	uint64_t first = g->o.user_base +
			 (g->cycle * g->o.templates + i) * (uint64_t)g->o.batch;
	uint8_t *f = g->frames + (size_t)i * g->stride;
	uint16_t ck;

	for (unsigned k = 0; k < g->o.batch; k++) {
		uint64_t be = rte_cpu_to_be_64(first + k);
		memcpy(f + GEN_USER_OFF + FSP_MSG_LEN * k, &be, 8);
		if (g->token)
			fs_token_buy(g->key, first + k, g->activity,
				     f + GEN_TOKEN_OFF + FSP_MSG_LEN * k);
	}
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(f + 14);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(f + 34);
	udp->dgram_cksum = 0;
	ck = rte_ipv4_udptcp_cksum(ip, udp);
	g->tmpl[i].sum = (uint16_t)~ck;
	memcpy(f + GEN_UDP_CKSUM_OFF, &ck, 2);
	g->refills++;
}

static int tmpl_init(struct gen *g)
{
	uint32_t len = DP_NET_UDP_HDRS_LEN + FSP_HDR_LEN + FSP_MSG_LEN * g->o.batch;

	g->stride = RTE_ALIGN_CEIL(RTE_MAX(len, (uint32_t)DP_NET_ETHER_MIN_LEN), 64u);
	g->frames = rte_malloc("gen-frames", (size_t)g->stride * g->o.templates, 64);
	g->tmpl = rte_malloc("gen-tmpl", sizeof(*g->tmpl) * g->o.templates, 64);
	if (g->frames == NULL || g->tmpl == NULL) {
		fprintf(stderr, "flashsale-bench-dpdk: no memory for %u templates of %u bytes "
				"(raise EAL -m or lower --templates)\n", g->o.templates, g->stride);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < g->o.templates; i++)
		tmpl_fill(g, i, g->o.user_base + (uint64_t)i * g->o.batch);
	return 0;
}

/* Finish a 32-bit one's-complement accumulation into a UDP checksum. */
static inline uint16_t cksum_finish(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	uint16_t ck = (uint16_t)~sum;
	return ck ? ck : 0xffff; /* 0 would mean "no checksum" */
}

/* The next datagram into m: copy its template, stamp its request_ids (tsc + k)
 * and finish the UDP checksum incrementally. */
static inline void tmpl_send_into(struct gen *g, struct rte_mbuf *m, uint64_t tsc)
{
	uint32_t i = g->next_tmpl;
	uint8_t *dst = rte_pktmbuf_mtod(m, uint8_t *);
	uint32_t sum;
	uint16_t ck;

	if (g->cycle && !g->o.reuse_users)
		tmpl_refresh(g, i);
	memcpy(dst, g->frames + (size_t)i * g->stride, g->tmpl[i].len);
	sum = g->tmpl[i].sum;
	for (unsigned k = 0; k < g->o.batch; k++) {
		uint64_t be = rte_cpu_to_be_64(tsc + k);
		uint16_t w[4];
		memcpy(dst + GEN_REQ_ID_OFF + FSP_MSG_LEN * k, &be, 8);
		memcpy(w, &be, 8);
		sum += (uint32_t)w[0] + w[1] + w[2] + w[3];
	}
	ck = cksum_finish(sum);
	memcpy(dst + GEN_UDP_CKSUM_OFF, &ck, 2);
	m->data_len = g->tmpl[i].len;
	m->pkt_len = g->tmpl[i].len;
	if (++g->next_tmpl == g->o.templates) {
		g->next_tmpl = 0;
		g->cycle++;
	}
}

/* ---------------------------------------------------------------- rx / tx */

/* The answer's UDP payload when the frame is plainly one: IPv4 without
 * options, UDP, to our port, lengths consistent (the appliance answers so).
 * Checksums are not verified here; NULL sends the frame to dp_net_classify. */
static inline const uint8_t *answer_payload(const struct gen *g, const uint8_t *f, uint16_t len,
					   uint16_t *plen)
{
	uint16_t ulen;

	if (unlikely(len < DP_NET_UDP_HDRS_LEN + FSP_HDR_LEN || f[12] != 0x08 || f[13] != 0x00 ||
		     f[14] != 0x45 || f[23] != IPPROTO_UDP))
		return NULL;
	if (unlikely(memcmp(f + 36, &g->local.udp_port_be, 2) != 0))
		return NULL;
	ulen = (uint16_t)(f[38] << 8 | f[39]);
	if (unlikely(ulen < 8 || DP_NET_UDP_HDRS_LEN - 8u + ulen > len))
		return NULL;
	*plen = (uint16_t)(ulen - 8);
	return f + DP_NET_UDP_HDRS_LEN;
}

/* One answer datagram: count each message's status (byte 1 of a response)
 * and take the latency once, from the first message's request_id (every
 * message of a datagram was stamped at the same send, and the appliance
 * answers a request datagram with one response datagram). One datagram in
 * --check-every (and any that does not look plainly like an answer) is
 * checked in full by dp_net_classify, checksums included; a bad one is
 * counted and not taken. The others skip the checksum sums, which were an
 * eighth of the generator's cycles (perf, issue 12). */
static void take_answer(struct gen *g, struct rte_mbuf *m, uint64_t now, double ns_per_tsc)
{
	struct dp_net_pkt pkt;
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	const uint8_t *payload, *msg;
	uint16_t plen = 0;
	uint64_t req_be, req;
	int count;

	payload = (g->rx_dgrams % g->o.check_every) ? answer_payload(g, f, m->data_len, &plen) : NULL;
	if (payload == NULL) {
		if (dp_net_classify(&g->local, f, m->data_len, &pkt) != DP_NET_FSP) {
			/* Not IPv4/UDP at all (the appliance's gratuitous ARP at
			 * link-up, ...): not an answer. Else a broken one. */
			if (m->data_len < DP_NET_UDP_HDRS_LEN || f[12] != 0x08 || f[13] != 0x00 ||
			    f[23] != IPPROTO_UDP) {
				g->other++;
			} else {
				g->verified++;
				g->bad++;
			}
			return;
		}
		g->verified++;
		payload = f + pkt.payload_off;
		plen = pkt.payload_len;
	}
	if ((count = dp_fsp_parse_header(payload, plen)) < 0) {
		g->bad++;
		return;
	}
	msg = payload + FSP_HDR_LEN;
	for (int i = 0; i < count; i++) {
		uint8_t st = msg[FSP_MSG_LEN * (size_t)i + 1];
		g->by_status[st < FS_ST_COUNT ? st : 0]++;
		if (st == FS_ST_OK)
			g->last_ok_tsc = now;
	}
	memcpy(&req_be, msg + 16, 8);
	req = rte_be_to_cpu_64(req_be);
	if (req <= now) {
		uint64_t ns = (uint64_t)((double)(now - req) * ns_per_tsc);

		g->hist[bench_hist_index(ns)]++;
		g->lat_count++;
		g->lat_max_ns = RTE_MAX(g->lat_max_ns, ns);
	}
	g->rx_dgrams++;
	atomic_store_explicit(&g->answered,
			      atomic_load_explicit(&g->answered, memory_order_relaxed) + (unsigned)count,
			      memory_order_relaxed);
}

static void rx_some(struct gen *g, double ns_per_tsc)
{
	struct rte_mbuf *pkts[GEN_BURST];
	uint64_t t0 = rte_rdtsc();
	uint16_t n = rte_eth_rx_burst(g->port, 0, pkts, GEN_BURST);

	if (n == 0)
		return; /* an idle poll: not counted */
	for (uint16_t i = 0; i < n; i++)
		take_answer(g, pkts[i], t0, ns_per_tsc);
	rte_pktmbuf_free_bulk(pkts, n);
	g->rx_cyc += rte_rdtsc() - t0;
}

static uint64_t inflight(struct gen *g)
{
	uint64_t s = atomic_load_explicit(&g->sent_msgs, memory_order_relaxed);
	uint64_t a = atomic_load_explicit(&g->answered, memory_order_relaxed);

	return s > a ? s - a : 0;
}

static void tx_some(struct gen *g)
{
	struct rte_mbuf *pkts[GEN_BURST];
	uint64_t now = rte_rdtsc();
	uint64_t fl = inflight(g);
	unsigned room = (unsigned)((g->o.window - RTE_MIN(fl, (uint64_t)g->o.window)) / g->o.batch);

	if (g->o.rate > 0) {
		double due = (double)(now - g->start) / (double)g->hz * g->o.rate;
		room = RTE_MIN(room, due > (double)g->sent_dgrams ? (unsigned)(due - (double)g->sent_dgrams) : 0u);
	}
	room = RTE_MIN(room, (unsigned)GEN_BURST);
	if (room == 0 || rte_pktmbuf_alloc_bulk(g->pool, pkts, room) != 0)
		return; /* nothing to do (or the pool is empty: answers are in the RX ring) */
	for (unsigned i = 0; i < room; i++)
		tmpl_send_into(g, pkts[i], now + i * 32);
	uint16_t sent = rte_eth_tx_burst(g->port, 0, pkts, (uint16_t)room);
	if (sent < room) {
		/* The user ids of unsent datagrams are skipped, never reused. */
		rte_pktmbuf_free_bulk(pkts + sent, room - sent);
	}
	g->sent_dgrams += sent;
	atomic_store_explicit(&g->sent_msgs,
			      atomic_load_explicit(&g->sent_msgs, memory_order_relaxed) +
				      (uint64_t)sent * g->o.batch,
			      memory_order_relaxed);
	g->tx_cyc += rte_rdtsc() - now;
}

/* Receive until TX is done and every answer is in, or 2 s after TX stopped
 * (stragglers: a sanitizer build under load answers late). */
static void rx_drain(struct gen *g, double ns_per_tsc)
{
	uint64_t drain = rte_rdtsc() + 2 * g->hz;

	while (inflight(g) && rte_rdtsc() < drain)
		rx_some(g, ns_per_tsc);
}

static int rx_lcore(void *arg)
{
	struct gen *g = arg;
	double ns_per_tsc = 1e9 / (double)g->hz;

	while (!atomic_load_explicit(&g->tx_done, memory_order_acquire))
		rx_some(g, ns_per_tsc);
	rx_drain(g, ns_per_tsc);
	return 0;
}

/* ---------------------------------------------------------------- report */

static double pct_us(const struct gen *g, double q)
{
	return (double)bench_hist_pct(g->hist, g->lat_count, g->lat_max_ns, q) / 1e3;
}

static void report(const struct gen *g, double secs)
{
	uint64_t start = g->start, hz = g->hz;
	uint64_t answered = atomic_load(&g->answered), sent = atomic_load(&g->sent_msgs);
	double ok_secs = g->last_ok_tsc > start ? (double)(g->last_ok_tsc - start) / (double)hz : 0;
	double span = (double)(g->end - g->start);
	double tx_pd = g->sent_dgrams ? (double)g->tx_cyc / (double)g->sent_dgrams : 0;
	double rx_pd = g->rx_dgrams ? (double)g->rx_cyc / (double)g->rx_dgrams : 0;

	printf("flashsale-bench-dpdk: batch %u, window %u, %.2f s: sent %" PRIu64 " messages in %"
	       PRIu64 " datagrams, answered %" PRIu64 " (%.0f messages/s, %.0f datagrams/s)\n",
	       g->o.batch, g->o.window, secs, sent, g->sent_dgrams, answered,
	       (double)answered / secs, (double)answered / secs / g->o.batch);
	printf("  by status:");
	for (unsigned s = 0; s < FS_ST_COUNT; s++)
		if (g->by_status[s])
			printf(" %s=%" PRIu64, fs_status_name(s), g->by_status[s]);
	printf("%s\n", g->bad ? " (+ unparsable frames)" : "");
	printf("  checked in full (headers, checksums): %" PRIu64 " answers, %" PRIu64
	       " bad; %" PRIu64 " other frames (not IPv4/UDP: ARP, ...)\n",
	       g->verified, g->bad, g->other);
	if (g->by_status[FS_ST_OK] && ok_secs > 0)
		printf("  OK: %" PRIu64 " in %.3f s (%.0f orders/s until the last OK)\n",
		       g->by_status[FS_ST_OK], ok_secs, (double)g->by_status[FS_ST_OK] / ok_secs);
	printf("  latency: p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n",
	       pct_us(g, 0.5), pct_us(g, 0.99), pct_us(g, 0.999), (double)g->lat_max_ns / 1e3);
	/* Busy shares over the measured span; with one lcore both add up on it. */
	printf("  generator cycles: tx %.0f per datagram sent, rx %.0f per datagram answered "
	       "(%.0f ns together at %.2f GHz TSC; idle polls excluded); busy: tx %.0f%%, "
	       "rx %.0f%% of %s; %u templates, %" PRIu64 " refreshed%s\n",
	       tx_pd, rx_pd, (tx_pd + rx_pd) * 1e9 / (double)hz, (double)hz / 1e9,
	       span > 0 ? 100.0 * (double)g->tx_cyc / span : 0,
	       span > 0 ? 100.0 * (double)g->rx_cyc / span : 0,
	       g->o.lcores == 1 ? "one lcore" : "its lcore", g->o.templates, g->refills,
	       g->o.reuse_users ? " (--reuse-users)" : "");
}

int main(int argc, char **argv)
{
	static struct gen g;
	int used = rte_eal_init(argc, argv);
	unsigned rx_lc = RTE_MAX_LCORE;

	if (used < 0) {
		fprintf(stderr, "flashsale-bench-dpdk: EAL: %s\n", rte_strerror(rte_errno));
		return 2;
	}
	argc -= used, argv += used;
	argv[0] = "flashsale-bench-dpdk";
	if (parse_opts(argc, argv, &g.o) < 0 || fs_token_init() < 0) {
		usage();
		dp_eal_cleanup();
		return 2;
	}
	if (g.o.lcores == 2) {
		rx_lc = rte_get_next_lcore(-1, 1, 0);
		if (rx_lc >= RTE_MAX_LCORE) {
			fprintf(stderr, "flashsale-bench-dpdk: --lcores 2 needs a second EAL lcore "
					"(EAL --lcores 0@0,1@1)\n");
			dp_eal_cleanup();
			return 2;
		}
	}
	if (setup_target(&g) < 0 || port_init(&g) < 0 || tmpl_init(&g) < 0) {
		dp_eal_cleanup();
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	g.hz = rte_get_tsc_hz();
	double ns_per_tsc = 1e9 / (double)g.hz;
	g.start = rte_rdtsc();
	g.end = g.start + (uint64_t)(g.o.duration_s * (double)g.hz);
	if (rx_lc < RTE_MAX_LCORE && rte_eal_remote_launch(rx_lcore, &g, rx_lc) != 0) {
		fprintf(stderr, "flashsale-bench-dpdk: cannot launch the RX lcore %u\n", rx_lc);
		dp_eal_cleanup();
		return 2;
	}
	while (!atomic_load_explicit(&g_stop, memory_order_relaxed) && rte_rdtsc() < g.end) {
		if (rx_lc == RTE_MAX_LCORE)
			rx_some(&g, ns_per_tsc);
		tx_some(&g);
	}
	g.end = RTE_MIN(g.end, rte_rdtsc()); /* stopped early by a signal: the real span */
	if (rx_lc < RTE_MAX_LCORE) {
		atomic_store_explicit(&g.tx_done, true, memory_order_release);
		rte_eal_wait_lcore(rx_lc);
	} else {
		rx_drain(&g, ns_per_tsc);
	}
	report(&g, (double)(g.end - g.start) / (double)g.hz);
	rte_eth_dev_stop(g.port);
	rte_eth_dev_close(g.port);
	rte_free(g.frames);
	rte_free(g.tmpl);
	dp_eal_cleanup();
	return atomic_load(&g.answered) ? 0 : 3;
}
