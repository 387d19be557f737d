/*
 * bench_engine.c — the worker engine alone on one thread, for A/B runs of
 * engine-side costs such as cycle accounting (meson -Dcycle_accounting):
 * one worker, a fake front end (dp_engine.h) that hands the engine a burst
 * of FS_BURST_MAX prepared request datagrams every loop and takes the
 * answers without sending anything, so no generator, socket or NIC shares
 * the measurement. Each loop runs through dp_engine_poll_once, the real
 * worker loop.
 *
 * Workloads (--path): "soldout" — BUY of a sold-out item, answered by the
 * gate (the spike's common case); "item" — ITEM_STATUS, the gate alone;
 * "winning" — BUYs of fresh users on an item with stock, decided by the
 * owner (orders created; durability none). --msgs messages per datagram.
 *
 * Prints datagrams/s, messages/s and cycles per datagram (TSC) for each of
 * --runs runs of --loops loops as they finish, then the median and the best.
 *
 * usage: bench_engine [--path soldout|item|winning] [--msgs N] [--loops N] [--runs N]
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>

#include "cfg.h"
#include "dp.h"
#include "dp_engine.h"
#include "fs_common.h"
#include "fs_token.h"
#include "store.h"

struct fake {
	uint8_t buf[FS_BURST_MAX][DP_DGRAM_MAX_BYTES];
	size_t len;
	struct dp_peer peer;
	uint64_t next_user;
	unsigned msgs;
	bool fresh; /* rewrite user ids every burst (winning path) */
	uint64_t answered;
} F;

static int fake_create(const struct cfg *cfg, unsigned n, void **fe, void *fw[], char *err,
		       size_t errlen)
{
	(void)cfg, (void)err, (void)errlen;
	*fe = &F;
	for (unsigned i = 0; i < n; i++)
		fw[i] = &F;
	return 0;
}

static void fake_free(void *fe, void *fw[], unsigned n)
{
	(void)fe, (void)fw, (void)n;
}

static const uint8_t TOKEN_KEY[FS_KEY_LEN] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/* Message m of datagram d: a BUY (valid token) or ITEM_STATUS of a new user. */
static void put_msg(unsigned d, unsigned m, uint8_t op, uint32_t item)
{
	struct fs_req r = {.op = op, .qty = 1, .item_id = item, .user_id = ++F.next_user,
			   .request_id = 1};

	fs_token_buy(TOKEN_KEY, r.user_id, 1, r.token);
	dp_fsp_encode_req(&r, F.buf[d] + FSP_HDR_LEN + FSP_MSG_LEN * m);
}

/* The winning path: fresh users every burst (each BUY a new order). The
 * token computation is the generator's cost, inside the timed loop: the
 * figures are a lower bound for that path. */
static void fill(unsigned d)
{
	for (unsigned m = 0; m < F.msgs; m++)
		put_msg(d, m, FS_OP_BUY, 2);
}

static unsigned fake_rx(void *fw, struct dp_worker *w, int64_t now_ns, int64_t mono_ns)
{
	(void)fw;
	for (unsigned d = 0; d < FS_BURST_MAX; d++) {
		if (F.fresh)
			fill(d);
		dp_engine_rx_dgram(w, F.buf[d], F.len, false, &F.peer, now_ns, mono_ns, NULL);
	}
	return FS_BURST_MAX;
}

static unsigned fake_tx(void *fw, const struct dp_txslot *t, unsigned n)
{
	(void)fw;
	for (unsigned i = 0; i < n; i++)
		F.answered += t[i].count;
	return n;
}

static bool fake_idle(void *fw, struct dp_worker *w, unsigned idle)
{
	(void)fw, (void)w, (void)idle;
	return true;
}

static struct dp_fe_ops fake_ops = {
	.name = "bench",
	.reply_from_any_worker = true,
	.create = fake_create,
	.free = fake_free,
	.rx = fake_rx,
	.tx = fake_tx,
	.idle = fake_idle,
};

static const char *CFG_TEXT =
	"[appliance]\nmode = kernel\nworkers = 1\n"
	"[net]\naddress = 127.0.0.1\nudp_port = 7700\n"
	"[persist]\ndir = /nonexistent\ndurability = none\n"
	"[limits]\nmax_orders = %u\n"
	"[activity.1]\nname = b\nstart = now-1s\nend = now+1h\nrequire_token = yes\npay_timeout_s = 900\n"
	"token_key = 000102030405060708090a0b0c0d0e0f\npayment_key = f0e0d0c0b0a090807060504030201000\n"
	"[item.1]\nactivity = 1\ntotal = 0\nper_user_limit = 5\nmax_per_order = 1\n"
	"[item.2]\nactivity = 1\ntotal = %u\nper_user_limit = 5\nmax_per_order = 1\n";

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_engine [--path soldout|item|winning] [--msgs N (1..32)] "
		   "[--loops N] [--runs N]\n"
		   "The worker engine alone on one thread (fake front end): datagrams/s and\n"
		   "cycles per datagram; an A/B tool for engine-side costs.\n");
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"path", required_argument, NULL, 'p'},
					     {"msgs", required_argument, NULL, 'm'},
					     {"loops", required_argument, NULL, 'l'},
					     {"runs", required_argument, NULL, 'r'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const char *path = "soldout";
	unsigned msgs = 1, loops = 200000, runs = 5, c;
	char text[1024], err[256] = "";
	struct cfg cfg;
	struct store_catalog *cat;
	struct store_shard *sh;
	struct dp_engine *e;
	uint64_t rates[64], hz;
	int o;

	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'p': path = optarg; break;
		case 'm': msgs = (unsigned)atoi(optarg); break;
		case 'l': loops = (unsigned)atoi(optarg); break;
		case 'r': runs = (unsigned)atoi(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (msgs < 1 || msgs > FS_MSGS_MAX || runs < 1 || runs > 64 || loops < 1 ||
	    (strcmp(path, "soldout") && strcmp(path, "item") && strcmp(path, "winning"))) {
		usage(stderr);
		return 2;
	}
	if (fs_token_init() < 0)
		return 1;
	uint64_t need = strcmp(path, "winning") == 0 ? (uint64_t)loops * runs * FS_BURST_MAX * msgs + 1000 : 1000;
	snprintf(text, sizeof(text), CFG_TEXT, (unsigned)(need * 2), (unsigned)need);
	if (cfg_load_string("bench", text, fs_now_ns(), &cfg, err, sizeof(err)) < 0 ||
	    store_catalog_create(&cfg, 1, &cat) < 0) {
		fprintf(stderr, "config: %s\n", err);
		return 1;
	}
	struct store_shard_params sp = {.shard_id = 0, .first_seq = 1,
					.idempotency_retention_ns = 600 * FS_NS_PER_S};
	store_shard_capacity(cat, 0, &sp);
	if (store_shard_create(cat, &sp, &sh) < 0)
		return 1;
	struct dp_engine_params p = {.cfg = &cfg, .cat = cat, .shards = &sh, .nworkers = 1};
	if (dp_engine_create_fe(&p, &fake_ops, &e, err, sizeof(err)) < 0) {
		fprintf(stderr, "engine: %s\n", err);
		return 1;
	}
	F.msgs = msgs;
	F.fresh = strcmp(path, "winning") == 0;
	F.peer.sa.sin_family = AF_INET;
	F.peer.sa.sin_addr.s_addr = htonl(0x7f000001);
	F.peer.sa.sin_port = htons(40000);
	for (unsigned d = 0; d < FS_BURST_MAX; d++) {
		dp_fsp_write_header(F.buf[d], msgs);
		for (unsigned m = 0; m < msgs; m++)
			put_msg(d, m, strcmp(path, "item") == 0 ? FS_OP_ITEM_STATUS : FS_OP_BUY,
				strcmp(path, "soldout") == 0 ? 1 : 2);
	}
	F.len = FSP_HDR_LEN + (size_t)FSP_MSG_LEN * msgs;
	hz = rte_get_tsc_hz();
	if (hz == 0) { /* no EAL: measure it */
		uint64_t t0 = rte_rdtsc();
		int64_t n0 = fs_mono_ns();
		while (fs_mono_ns() - n0 < 200 * FS_NS_PER_MS)
			;
		hz = (rte_rdtsc() - t0) * 5;
	}
	printf("path %s, %u msgs/datagram, %u loops x %u datagrams, cycle accounting %s\n", path,
	       msgs, loops, FS_BURST_MAX, dp_engine_stage_accounting() ? "on" : "off");
	for (c = 0; c < runs; c++) {
		uint64_t t0 = rte_rdtsc(), dt;
		for (unsigned l = 0; l < loops; l++)
			dp_engine_poll_once(e, 0);
		dt = rte_rdtsc() - t0;
		rates[c] = (uint64_t)((double)loops * FS_BURST_MAX * (double)hz / (double)dt);
		printf("run %u: %.3f M datagrams/s, %.3f M messages/s, %.0f cycles/datagram\n", c + 1,
		       rates[c] / 1e6, rates[c] * msgs / 1e6, (double)dt / ((double)loops * FS_BURST_MAX));
		fflush(stdout);
	}
	qsort(rates, runs, sizeof(rates[0]), cmp_u64);
	/* On a shared host the best run is the one least disturbed. */
	printf("median: %.3f M datagrams/s, %.0f cycles/datagram; best: %.3f M, %.0f cycles/datagram "
	       "(answered %llu)\n",
	       rates[runs / 2] / 1e6, (double)hz / (double)rates[runs / 2], rates[runs - 1] / 1e6,
	       (double)hz / (double)rates[runs - 1], (unsigned long long)F.answered);
	dp_engine_stop(e);
	while (dp_engine_poll_once(e, 0))
		;
	dp_engine_free(e);
	store_shard_free(sh);
	store_catalog_free(cat);
	cfg_free(&cfg);
	return 0;
}
