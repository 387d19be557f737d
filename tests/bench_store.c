/*
 * bench_store.c — single-core decision rates of the store (no network, no
 * WAL: the journal hook only copies the change into a small ring, as the
 * WAL's append would).
 *
 *   store.soldout_gate     BUYs against a sold-out hot item through
 *                          store_gate(), the receiving core's real path
 *                          (item lookup, window, available, winners filter)
 *   store.soldout_execute  the same BUYs decided by store_execute() on the
 *                          owner (idempotency probe included)
 *   store.win_execute      winning BUYs through store_execute(): large stock,
 *                          distinct users, tables sized like production
 *                          (max_idempotency = 2 * max_orders)
 *   store.spread_gate_exec BUYs spread over 10,000 items through store_gate()
 *                          (token checked) and store_execute()
 *
 * Each figure is the median of 5 runs of about 0.5 s (a run that fills its
 * shard's order table stops early). Tables are rebuilt, untimed, before each
 * run. Prints one line per figure and the memory a shard needs per order.
 *
 * Usage: bench_store [run_seconds [figure]]   (default 0.5 s, every figure;
 *        figure = soldout_gate, soldout_execute, win_execute, spread, memory)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs_token.h"
#include "store.h"

#define RUNS	     5
#define REQS	     65536u /* distinct pre-built requests, cycled */
#define SPREAD_ITEMS 10000u
#define WIN_ORDERS   4000000u

static double g_run_s = 0.5;
static volatile uint64_t g_sink;
static const uint8_t KEY[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const int64_t T_NOW = 1700000000LL * FS_NS_PER_S;

struct jring {
	struct store_change v[256];
	uint64_t n;
};

static void on_journal(void *ctx, const struct store_change *ch)
{
	struct jring *j = ctx;

	j->v[j->n++ & 255] = *ch;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

struct bench {
	struct cfg cfg;
	struct cfg_activity act;
	struct cfg_item *items;
	struct store_catalog *cat;
	struct store_shard *sh;
	struct jring j;
};

/* One activity (token required), n items of total units each, one shard. */
static void bench_setup(struct bench *b, unsigned n, uint32_t total, uint32_t limit,
			uint64_t max_orders)
{
	struct store_shard_params p = {0};

	memset(b, 0, sizeof(*b));
	b->act = (struct cfg_activity){.id = 1,
				       .start_ns = T_NOW - 3600 * FS_NS_PER_S,
				       .end_ns = T_NOW + 3600 * FS_NS_PER_S,
				       .require_token = true,
				       .pay_timeout_s = 900};
	memcpy(b->act.token_key, KEY, 16);
	b->items = calloc(n, sizeof(*b->items));
	for (unsigned i = 0; i < n; i++)
		b->items[i] = (struct cfg_item){.id = 1001 + i,
						.activity_id = 1,
						.total = total,
						.per_user_limit = limit,
						.max_per_order = 1};
	b->cfg.activities = &b->act;
	b->cfg.n_activities = 1;
	b->cfg.items = b->items;
	b->cfg.n_items = n;
	b->cfg.max_orders = max_orders;
	b->cfg.max_idempotency = 2 * max_orders;
	if (store_catalog_create(&b->cfg, 1, &b->cat) != 0)
		abort();
	store_shard_capacity(b->cat, 0, &p);
	p.first_seq = 1;
	p.idempotency_retention_ns = 600 * FS_NS_PER_S;
	p.journal = on_journal;
	p.journal_ctx = &b->j;
	if (store_shard_create(b->cat, &p, &b->sh) != 0)
		abort();
}

static void bench_teardown(struct bench *b)
{
	store_shard_free(b->sh);
	store_catalog_free(b->cat);
	free(b->items);
}

static struct fs_req *make_reqs(unsigned n, uint32_t first_item, unsigned nitems, uint64_t seed)
{
	struct fs_req *r = calloc(n, sizeof(*r));

	for (unsigned i = 0; i < n; i++) {
		r[i] = (struct fs_req){.op = FS_OP_BUY,
				       .qty = 1,
				       .user_id = 1 + rnd(&seed) % 1000000000,
				       .request_id = 1 + rnd(&seed) % 1000000};
		r[i].item_id = first_item + (uint32_t)(rnd(&seed) % nitems);
		fs_token_buy(KEY, r[i].user_id, 1, r[i].token);
	}
	return r;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void report(const char *name, double rates[RUNS])
{
	qsort(rates, RUNS, sizeof(double), cmp_double);
	printf("%-24s decisions/s=%.2fM  ns/op=%.1f  (runs: %.2fM..%.2fM)\n", name,
	       rates[RUNS / 2] / 1e6, 1e9 / rates[RUNS / 2], rates[0] / 1e6, rates[RUNS - 1] / 1e6);
}

/* (a) a sold-out hot item, answered by the gate / by the owner. */
static void bench_soldout(bool through_gate)
{
	struct fs_req *reqs = make_reqs(REQS, 1001, 1, 1);
	double rates[RUNS];
	struct bench b;
	uint64_t sink = 0;

	bench_setup(&b, 1, 0, 1, 1000000); /* total 0: sold out; 1 M orders of filter */
	for (int run = 0; run < RUNS; run++) {
		double t0 = now_s(), t;
		uint64_t n = 0;
		do {
			for (unsigned k = 0; k < 1u << 16; k++, n++) {
				struct fs_resp resp;
				unsigned owner;
				const struct fs_req *r = &reqs[n & (REQS - 1)];
				if (through_gate) {
					if (!store_gate(b.cat, r, T_NOW, &resp, &owner))
						abort();
				} else {
					store_execute(b.sh, r, T_NOW, &resp);
				}
				sink += resp.status;
			}
			t = now_s() - t0;
		} while (t < g_run_s);
		rates[run] = (double)n / t;
	}
	if (sink != (uint64_t)FS_ST_SOLD_OUT * sink / FS_ST_SOLD_OUT)
		abort();
	g_sink += sink;
	report(through_gate ? "store.soldout_gate" : "store.soldout_execute", rates);
	bench_teardown(&b);
	free(reqs);
}

#define BURST 32u

/* Decide reqs[n..n+k) (k <= BURST) one at a time or as a burst; when gate
 * is set, each request goes through store_gate first and only the routed
 * ones reach the owner. Returns how many were answered OK. */
static unsigned decide(struct bench *b, const struct fs_req *reqs, unsigned k, bool gate,
		       bool burst)
{
	const struct fs_req *routed[BURST];
	struct fs_resp resps[BURST];
	unsigned nr = 0, ok = 0;

	for (unsigned i = 0; i < k; i++) {
		unsigned owner;
		if (gate && store_gate(b->cat, &reqs[i], T_NOW, &resps[i], &owner))
			continue;
		if (burst)
			routed[nr++] = &reqs[i];
		else
			ok += store_execute(b->sh, &reqs[i], T_NOW, &resps[i]);
	}
	if (burst)
		ok += store_execute_burst(b->sh, routed, nr, T_NOW, resps, NULL);
	return ok;
}

/* Runs of BUYs from reqs (WIN_ORDERS of them) into a fresh shard each run:
 * nitems items of total units each. */
static void bench_buys(const char *name, const struct fs_req *reqs, unsigned nitems, uint32_t total,
		       uint32_t limit, bool gate, bool burst)
{
	double rates[RUNS];
	uint64_t ok = 0, all = 0;
	struct bench b;

	for (int run = 0; run < RUNS; run++) {
		double t0, t;
		unsigned n = 0;

		bench_setup(&b, nitems, total, limit, WIN_ORDERS);
		t0 = now_s();
		do {
			for (unsigned k = 0; k < 128 && n < WIN_ORDERS; k++, n += BURST)
				ok += decide(&b, &reqs[n], BURST, gate, burst);
			t = now_s() - t0;
		} while (t < g_run_s && n < WIN_ORDERS);
		all += n;
		rates[run] = (double)n / t;
		bench_teardown(&b);
	}
	report(name, rates);
	printf("%-24s (%.1f%% answered OK)\n", "", 100.0 * (double)ok / (double)all);
}

/* (b) winning BUYs straight into store_execute: one item with stock for
 * every request, distinct users. */
static void bench_win(bool burst)
{
	struct fs_req *reqs = calloc(WIN_ORDERS, sizeof(*reqs));
	uint64_t seed = 7;

	for (unsigned i = 0; i < WIN_ORDERS; i++)
		reqs[i] = (struct fs_req){.op = FS_OP_BUY,
					  .qty = 1,
					  .item_id = 1001,
					  .user_id = (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ULL,
					  .request_id = 1 + rnd(&seed) % 1000000};
	bench_buys(burst ? "store.win_execute_burst" : "store.win_execute", reqs, 1, WIN_ORDERS, 1,
		   false, burst);
	free(reqs);
}

/* (c) BUYs spread over 10,000 items through the gate (token checked) and
 * the owner. */
static void bench_spread(bool burst)
{
	struct fs_req *reqs = make_reqs(WIN_ORDERS, 1001, SPREAD_ITEMS, 3);

	bench_buys(burst ? "store.spread_gate_burst" : "store.spread_gate_exec", reqs, SPREAD_ITEMS,
		   1000, 4, true, burst);
	free(reqs);
}

static void print_memory(void)
{
	struct store_memory m;
	struct bench b;
	double n = 1000000;

	bench_setup(&b, 1, 1000000, 1, 1000000);
	store_shard_memory(b.sh, &m);
	printf("store.memory_per_order   bytes=%.1f  (orders %.1f, holdings %.1f, idem ring %.1f, "
	       "idem index %.1f, winners filter %.1f, other %.1f) at max_orders=1M, "
	       "max_idempotency=2M\n",
	       (double)m.total / n, (double)m.orders / n, (double)m.holdings / n,
	       (double)m.idem_ring / n, (double)m.idem_index / n, (double)m.winners / n,
	       (double)m.other / n);
	bench_teardown(&b);
}

static bool want(int argc, char **argv, const char *name)
{
	return argc < 3 || strcmp(argv[2], name) == 0;
}

int main(int argc, char **argv)
{
	printf("command: ");
	for (int i = 0; i < argc; i++)
		printf("%s%s", i ? " " : "", argv[i]);
	printf("\n");
	if (argc > 1)
		g_run_s = atof(argv[1]);
	if (g_run_s <= 0 || fs_token_init() != 0)
		return 2;
	if (want(argc, argv, "soldout_gate"))
		bench_soldout(true);
	if (want(argc, argv, "soldout_execute"))
		bench_soldout(false);
	if (want(argc, argv, "win_execute"))
		bench_win(false);
	if (want(argc, argv, "win_execute_burst"))
		bench_win(true);
	if (want(argc, argv, "spread"))
		bench_spread(false);
	if (want(argc, argv, "spread_burst"))
		bench_spread(true);
	if (want(argc, argv, "memory"))
		print_memory();
	return 0;
}
