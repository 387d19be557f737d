/*
 * flashsale_bench_dpdk.c — flashsale-bench-dpdk: an FSP/1 load generator on
 * a DPDK port, for measuring the appliance's DPDK front end without the
 * kernel in the way (net_memif client of the appliance's net_memif server on
 * one box; a NIC port in a lab).
 *
 *   flashsale-bench-dpdk EAL-ARGS -- --config FILE [options]
 *
 * One lcore (the main one) does everything: build --batch BUY messages per
 * datagram for fresh users (user-base, user-base + 1, ...: every message is
 * a new purchase attempt, never an idempotent repeat) with valid tokens,
 * send bursts, receive answers, count them by status. Closed loop: at most
 * --window messages in flight, so the figure is what the appliance sustains,
 * not how deep a queue grew; --rate caps datagrams/s for latency at a fixed
 * load.
 *
 * Latency: each message's request_id is the TSC when its datagram was built
 * (plus its index in the datagram, so request ids stay distinct); the answer
 * echoes it, so latency = TSC on receipt - request_id with no table. The
 * histogram is flashsale-bench's (app/bench/bench_hist.h: log-linear,
 * percentiles within 0.8%).
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
#include <rte_mbuf.h>

#include "bench/bench_hist.h"
#include "cfg.h"
#include "dp.h"
#include "dp_net.h"
#include "fs_common.h"
#include "fs_token.h"

#define GEN_BURST 32
#define GEN_POOL 16383

struct gen_opts {
	const char *config;
	uint32_t item;
	unsigned batch, window;
	double duration_s, rate;
	uint64_t user_base;
	struct rte_ether_addr dst_mac;
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
	uint64_t next_user, sent_msgs, sent_dgrams, answered, inflight, bad;
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
		{"user-base", 1, NULL, 'u'}, {"dst-mac", 1, NULL, 'm'}, {NULL, 0, NULL, 0},
	};
	int c;

	*o = (struct gen_opts){.batch = 1, .window = 4096, .duration_s = 5, .user_base = 1000000};
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
		case 'm':
			if (rte_ether_unformat_addr(optarg, &o->dst_mac) < 0)
				return -EINVAL;
			break;
		default: return -EINVAL;
		}
	}
	if (!o->config || !o->item || o->batch < 1 || o->batch > 22 || o->window < o->batch ||
	    !(o->duration_s > 0))
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

/* One datagram of batch BUYs for fresh users, as a frame. */
static struct rte_mbuf *build(struct gen *g, uint64_t tsc)
{
	uint8_t payload[FSP_HDR_LEN + FSP_MSG_LEN * 22];
	struct rte_mbuf *m = rte_pktmbuf_alloc(g->pool);
	uint16_t plen = (uint16_t)(FSP_HDR_LEN + FSP_MSG_LEN * g->o.batch);
	int len;

	if (m == NULL)
		return NULL;
	dp_fsp_write_header(payload, g->o.batch);
	for (unsigned k = 0; k < g->o.batch; k++) {
		struct fs_req r = {.op = FS_OP_BUY, .qty = 1, .item_id = g->o.item,
				   .user_id = g->o.user_base + g->next_user++,
				   .request_id = tsc + k};
		if (g->token)
			fs_token_buy(g->key, r.user_id, g->activity, r.token);
		dp_fsp_encode_req(&r, payload + FSP_HDR_LEN + FSP_MSG_LEN * k);
	}
	len = dp_net_udp_build(&g->local, rte_pktmbuf_mtod(m, uint8_t *),
			       (uint16_t)(m->buf_len - m->data_off), &g->o.dst_mac, g->dst_ip_be,
			       g->dst_port_be, payload, plen);
	len = dp_net_pad(rte_pktmbuf_mtod(m, uint8_t *), (uint16_t)len,
			 (uint16_t)(m->buf_len - m->data_off));
	m->data_len = (uint16_t)len;
	m->pkt_len = (uint32_t)len;
	return m;
}

static void take_answer(struct gen *g, struct rte_mbuf *m, uint64_t now, double ns_per_tsc)
{
	struct dp_net_pkt pkt;
	uint8_t *f = rte_pktmbuf_mtod(m, uint8_t *);
	int count;

	if (dp_net_classify(&g->local, f, m->data_len, &pkt) != DP_NET_FSP ||
	    (count = dp_fsp_parse_header(f + pkt.payload_off, pkt.payload_len)) < 0) {
		g->bad++;
		return;
	}
	for (int i = 0; i < count; i++) {
		struct fs_resp r;
		dp_fsp_decode_resp(f + pkt.payload_off + FSP_HDR_LEN + FSP_MSG_LEN * (size_t)i, &r);
		g->by_status[r.status < FS_ST_COUNT ? r.status : 0]++;
		if (r.status == FS_ST_OK)
			g->last_ok_tsc = now;
		if (r.request_id <= now) {
			uint64_t ns = (uint64_t)((double)(now - r.request_id) * ns_per_tsc);

			g->hist[bench_hist_index(ns)]++;
			g->lat_count++;
			g->lat_max_ns = RTE_MAX(g->lat_max_ns, ns);
		}
	}
	g->answered += (unsigned)count;
	g->inflight -= RTE_MIN(g->inflight, (uint64_t)count);
}

static void rx_some(struct gen *g, double ns_per_tsc)
{
	struct rte_mbuf *pkts[GEN_BURST];
	uint16_t n = rte_eth_rx_burst(g->port, 0, pkts, GEN_BURST);
	uint64_t now = rte_rdtsc();

	for (uint16_t i = 0; i < n; i++)
		take_answer(g, pkts[i], now, ns_per_tsc);
	if (n)
		rte_pktmbuf_free_bulk(pkts, n);
}

static void tx_some(struct gen *g, uint64_t start, uint64_t hz)
{
	struct rte_mbuf *pkts[GEN_BURST];
	uint64_t now = rte_rdtsc();
	unsigned n = 0, room = (unsigned)((g->o.window - RTE_MIN(g->inflight, (uint64_t)g->o.window)) /
					  g->o.batch);

	if (g->o.rate > 0) {
		double due = (double)(now - start) / (double)hz * g->o.rate;
		room = RTE_MIN(room, due > (double)g->sent_dgrams ? (unsigned)(due - (double)g->sent_dgrams) : 0u);
	}
	while (n < RTE_MIN(room, (unsigned)GEN_BURST) && (pkts[n] = build(g, now + n * 32)) != NULL)
		n++;
	if (n == 0)
		return;
	uint16_t sent = rte_eth_tx_burst(g->port, 0, pkts, (uint16_t)n);
	if (sent < n) {
		/* The user ids of unsent datagrams are skipped, never reused. */
		rte_pktmbuf_free_bulk(pkts + sent, n - sent);
	}
	g->sent_dgrams += sent;
	g->sent_msgs += (uint64_t)sent * g->o.batch;
	g->inflight += (uint64_t)sent * g->o.batch;
}

static double pct_us(const struct gen *g, double q)
{
	return (double)bench_hist_pct(g->hist, g->lat_count, g->lat_max_ns, q) / 1e3;
}

static void report(const struct gen *g, double secs, uint64_t start, uint64_t hz)
{
	double ok_secs = g->last_ok_tsc > start ? (double)(g->last_ok_tsc - start) / (double)hz : 0;

	printf("flashsale-bench-dpdk: batch %u, window %u, %.2f s: sent %" PRIu64 " messages in %"
	       PRIu64 " datagrams, answered %" PRIu64 " (%.0f messages/s, %.0f datagrams/s)\n",
	       g->o.batch, g->o.window, secs, g->sent_msgs, g->sent_dgrams, g->answered,
	       (double)g->answered / secs, (double)g->answered / secs / g->o.batch);
	printf("  by status:");
	for (unsigned s = 0; s < FS_ST_COUNT; s++)
		if (g->by_status[s])
			printf(" %s=%" PRIu64, fs_status_name(s), g->by_status[s]);
	printf("%s\n", g->bad ? " (+ unparsable frames)" : "");
	if (g->by_status[FS_ST_OK] && ok_secs > 0)
		printf("  OK: %" PRIu64 " in %.3f s (%.0f orders/s until the last OK)\n",
		       g->by_status[FS_ST_OK], ok_secs, (double)g->by_status[FS_ST_OK] / ok_secs);
	printf("  latency: p50 %.1f us, p99 %.1f us, p99.9 %.1f us, max %.1f us\n",
	       pct_us(g, 0.5), pct_us(g, 0.99), pct_us(g, 0.999), (double)g->lat_max_ns / 1e3);
}

int main(int argc, char **argv)
{
	static struct gen g;
	int used = rte_eal_init(argc, argv);
	uint64_t hz, start, end, drain;

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
	if (setup_target(&g) < 0 || port_init(&g) < 0) {
		dp_eal_cleanup();
		return 2;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	hz = rte_get_tsc_hz();
	start = rte_rdtsc();
	end = start + (uint64_t)(g.o.duration_s * (double)hz);
	while (!atomic_load_explicit(&g_stop, memory_order_relaxed) && rte_rdtsc() < end) {
		rx_some(&g, 1e9 / (double)hz);
		tx_some(&g, start, hz);
	}
	end = RTE_MIN(end, rte_rdtsc()); /* stopped early by a signal: the real span */
	drain = rte_rdtsc() + 2 * hz; /* stragglers: up to 2 s (a sanitizer build under load answers late) */
	while (g.inflight && rte_rdtsc() < drain)
		rx_some(&g, 1e9 / (double)hz);
	report(&g, (double)(end - start) / (double)hz, start, hz);
	rte_eth_dev_stop(g.port);
	rte_eth_dev_close(g.port);
	dp_eal_cleanup();
	return g.answered ? 0 : 3;
}
