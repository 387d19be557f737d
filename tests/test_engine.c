/*
 * test_engine.c — the worker engine (dataplane/dp_engine.c) driven through a
 * FAKE front end: no sockets, no ports, no lcores. The test queues request
 * datagrams per worker, runs single loop iterations of chosen workers on its
 * own thread (dp_engine_poll_once) and inspects every response datagram the
 * engine handed to the front end, so interleavings are exact and repeatable.
 *
 * Covered: hand-off to another worker's shard, BUSY when a hand-off ring is
 * full, answers held for the write-ahead log released in ticket order, a
 * stop in the middle of a burst (everything received is still answered),
 * and the return path: the answers to one request datagram, decided by
 * several owners or held for the log, leave the receiving worker as ONE
 * response datagram no larger than the request; a full pending table
 * answers BUSY; a full return ring makes the owner keep its answers.
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
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"
#include "dp.h"
#include "dp_engine.h"
#include "fs_common.h"
#include "persist.h"
#include "store.h"

#define NW 2
#define QMAX (DP_PENDING_DGRAMS_MAX + 64) /* queued request datagrams per worker */
#define OUTMAX 2048

/* ---- the fake front end ---- */

struct fake_dgram {
	uint8_t buf[DP_DGRAM_MAX_BYTES];
	size_t len;
	struct dp_peer peer;
};

struct fake_out {
	unsigned worker;          /* whose front end sent it */
	struct dp_peer dst;
	size_t len;
	struct fs_resp resp[FS_MSGS_MAX];
	unsigned count;
};

struct fake_w {
	unsigned id;
	unsigned qhead, qn;
	struct fake_dgram q[QMAX];
};

static struct fake {
	struct fake_w w[NW];
	struct fake_out out[OUTMAX];
	unsigned nout;
	unsigned created, freed;
} F;

static int fake_create(const struct cfg *cfg, unsigned n, void **fe, void *fw[], char *err,
		       size_t errlen)
{
	(void)cfg;
	(void)err;
	(void)errlen;
	*fe = &F;
	for (unsigned i = 0; i < n; i++) {
		F.w[i].id = i;
		fw[i] = &F.w[i];
	}
	F.created++;
	return 0;
}

static void fake_free(void *fe, void *fw[], unsigned n)
{
	(void)fe;
	for (unsigned i = 0; i < n; i++)
		fw[i] = NULL;
	F.freed++;
}

static unsigned fake_rx(void *fw, struct dp_worker *w, int64_t now_ns, int64_t mono_ns)
{
	struct fake_w *k = fw;
	unsigned n = 0;

	while (k->qn > 0 && n < FS_BURST_MAX) {
		struct fake_dgram *d = &k->q[k->qhead];
		/* as the DPDK front end does: a hint first, never a change */
		dp_engine_prefetch_dgram(w, d->buf, d->len);
		dp_engine_rx_dgram(w, d->buf, d->len, false, &d->peer, now_ns, mono_ns, NULL);
		k->qhead = (k->qhead + 1) % QMAX;
		k->qn--;
		n++;
	}
	return n;
}

static unsigned fake_tx(void *fw, const struct dp_txslot *t, unsigned n)
{
	struct fake_w *k = fw;

	for (unsigned i = 0; i < n; i++) {
		struct fake_out *o = &F.out[F.nout++];
		int count = dp_fsp_parse_header(t[i].buf, dp_txslot_len(&t[i]));

		assert_true(F.nout <= OUTMAX);
		assert_true(count > 0);
		o->worker = k->id;
		o->dst = t[i].dst;
		o->len = dp_txslot_len(&t[i]);
		o->count = (unsigned)count;
		for (int m = 0; m < count; m++)
			dp_fsp_decode_resp(t[i].buf + FSP_HDR_LEN + FSP_MSG_LEN * m, &o->resp[m]);
	}
	return n;
}

static bool fake_idle(void *fw, struct dp_worker *w, unsigned idle)
{
	(void)fw;
	(void)w;
	(void)idle;
	return true;
}

static struct dp_fe_ops fake_ops = {
	.name = "fake",
	.reply_from_any_worker = true,
	.create = fake_create,
	.free = fake_free,
	.rx = fake_rx,
	.tx = fake_tx,
	.idle = fake_idle,
};

/* ---- a world: config, catalog, shards, engine ---- */

struct world {
	struct cfg cfg;
	struct store_catalog *cat;
	struct store_shard *sh[NW];
	struct dp_journal jr[NW];
	struct dp_journal *jp[NW];
	struct dp_engine *e;
	char dir[64];
	bool logged;
	uint32_t item_of[NW];    /* an item owned by shard i */
};

static const char *CFG_TEXT =
	"[appliance]\nmode = kernel\nworkers = 2\n"
	"[net]\naddress = 127.0.0.1\nudp_port = 7700\nring_size = %u\n"
	"[persist]\ndir = /nonexistent\ndurability = none\n"
	"[limits]\nmax_orders = 10000\n"
	"[activity.1]\nname = t\nstart = now-1s\nend = now+1h\nrequire_token = no\n"
	"pay_timeout_s = 900\n"
	"[item.1]\nactivity = 1\ntotal = 1000\nper_user_limit = 5\nmax_per_order = 1\n"
	"[item.2]\nactivity = 1\ntotal = 1000\nper_user_limit = 5\nmax_per_order = 1\n"
	"[item.3]\nactivity = 1\ntotal = 1000\nper_user_limit = 5\nmax_per_order = 1\n"
	"[item.4]\nactivity = 1\ntotal = 1000\nper_user_limit = 5\nmax_per_order = 1\n";

static void world_start(struct world *w, unsigned ring_size, bool logged)
{
	char text[2048], err[256] = "";
	struct dp_engine_params p;

	memset(w, 0, sizeof(*w));
	memset(&F, 0, sizeof(F));
	fake_ops.reply_from_any_worker = true;
	snprintf(text, sizeof(text), CFG_TEXT, ring_size);
	assert_int_equal(cfg_load_string("test", text, fs_now_ns(), &w->cfg, err, sizeof(err)), 0);
	assert_int_equal(store_catalog_create(&w->cfg, NW, &w->cat), 0);
	w->logged = logged;
	if (logged) {
		snprintf(w->dir, sizeof(w->dir), "/tmp/fs-test-engine-XXXXXX");
		assert_non_null(mkdtemp(w->dir));
	}
	for (unsigned s = 0; s < NW; s++) {
		struct store_shard_params sp = {.shard_id = s, .first_seq = 1,
						.idempotency_retention_ns = 600 * FS_NS_PER_S};
		store_shard_capacity(w->cat, s, &sp);
		if (logged) {
			struct wal_params wp = {.dir = w->dir, .shard_id = s, .durability = WAL_DURABILITY_SYNC,
						.eventfd = true, .no_prealloc = true};
			struct wal_replay_info info;
			assert_int_equal(wal_replay(w->dir, s, NULL, 1, NULL, NULL, &info, err,
						    sizeof(err)), 0);
			assert_int_equal(wal_open(&wp, &info, &w->jr[s].wal, err, sizeof(err)), 0);
			sp.journal = dp_journal_hook;
			sp.journal_ctx = &w->jr[s];
		}
		w->jp[s] = &w->jr[s];
		assert_int_equal(store_shard_create(w->cat, &sp, &w->sh[s]), 0);
	}
	for (uint32_t item = 1; item <= 4; item++)
		w->item_of[fs_shard_of_item(item, NW)] = item;
	assert_int_not_equal(w->item_of[0], 0);
	assert_int_not_equal(w->item_of[1], 0);
	p = (struct dp_engine_params){.cfg = &w->cfg, .cat = w->cat, .shards = w->sh,
				      .journals = w->jp, .nworkers = NW};
	assert_int_equal(dp_engine_create_fe(&p, &fake_ops, &w->e, err, sizeof(err)), 0);
	assert_int_equal(F.created, 1);
}

static void world_stop(struct world *w)
{
	char err[256];

	dp_engine_free(w->e);
	assert_int_equal(F.freed, 1);
	for (unsigned s = 0; s < NW; s++) {
		assert_int_equal(store_audit(w->sh[s], err, sizeof(err)), 0);
		if (w->jr[s].wal)
			assert_int_equal(wal_close(w->jr[s].wal), 0);
		store_shard_free(w->sh[s]);
	}
	store_catalog_free(w->cat);
	cfg_free(&w->cfg);
	if (w->logged) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", w->dir);
		assert_int_equal(system(cmd), 0);
	}
}

/* ---- requests and answers ---- */

static struct dp_peer peer(unsigned n)
{
	struct dp_peer p;

	memset(&p, 0, sizeof(p));
	p.sa.sin_family = AF_INET;
	p.sa.sin_addr.s_addr = htonl(0x7f000001);
	p.sa.sin_port = htons((uint16_t)(40000 + n));
	return p;
}

static struct fs_req buy(uint64_t user, uint64_t rid, uint32_t item)
{
	struct fs_req r;

	memset(&r, 0, sizeof(r));
	r.op = FS_OP_BUY;
	r.user_id = user;
	r.request_id = rid;
	r.item_id = item;
	r.qty = 1;
	return r;
}

/* Queue one request datagram of n messages for worker i, from client c. */
static size_t send_dgram(unsigned i, unsigned c, const struct fs_req *reqs, unsigned n)
{
	struct fake_w *k = &F.w[i];
	struct fake_dgram *d;

	assert_true(k->qn < QMAX);
	d = &k->q[(k->qhead + k->qn++) % QMAX];
	dp_fsp_write_header(d->buf, n);
	for (unsigned m = 0; m < n; m++)
		dp_fsp_encode_req(&reqs[m], d->buf + FSP_HDR_LEN + FSP_MSG_LEN * m);
	d->len = FSP_HDR_LEN + FSP_MSG_LEN * (size_t)n;
	d->peer = peer(c);
	return d->len;
}

/* Run rounds of one loop per worker (worker 0 first). */
static void poll_rounds(struct world *w, unsigned rounds)
{
	for (unsigned r = 0; r < rounds; r++)
		for (unsigned i = 0; i < NW; i++)
			assert_true(dp_engine_poll_once(w->e, i));
}

/* Answers in all response datagrams to client c with status st. */
static unsigned count_status(unsigned c, uint8_t st)
{
	struct dp_peer p = peer(c);
	unsigned n = 0;

	for (unsigned o = 0; o < F.nout; o++)
		if (dp_peer_same(&F.out[o].dst, &p))
			for (unsigned m = 0; m < F.out[o].count; m++)
				n += F.out[o].resp[m].status == st;
	return n;
}

static unsigned dgrams_to(unsigned c)
{
	struct dp_peer p = peer(c);
	unsigned n = 0;

	for (unsigned o = 0; o < F.nout; o++)
		n += dp_peer_same(&F.out[o].dst, &p);
	return n;
}

static void assert_one_response(unsigned c, unsigned receiver, size_t req_len, unsigned count);

/* ---- tests ---- */

/* A BUY received by worker 0 for shard 1 is decided by worker 1. */
static void test_engine_handoff_to_owner(void **state)
{
	struct world w;
	struct fs_req r;
	struct dp_stats st;

	(void)state;
	world_start(&w, 64, false);
	r = buy(7, 1, w.item_of[1]);
	send_dgram(0, 1, &r, 1);
	assert_true(dp_engine_poll_once(w.e, 0));
	assert_int_equal(F.nout, 0); /* handed off, not answered yet */
	poll_rounds(&w, 2);
	assert_int_equal(dgrams_to(1), 1);
	assert_int_equal(count_status(1, FS_ST_OK), 1);
	dp_engine_stats(w.e, &st);
	assert_int_equal(st.handoffs, 1);
	assert_int_equal(st.executed, 1);
	assert_int_equal(st.rx_dgrams, 1);
	assert_int_equal(st.tx_dgrams, 1);
	world_stop(&w);
}

/* With the owner not running, the producer fills the hand-off ring; what does
 * not fit is answered BUSY at once, and everything else once the owner runs. */
static void test_engine_handoff_ring_full_busy(void **state)
{
	struct world w;
	struct fs_req r[FS_MSGS_MAX];
	struct dp_stats st;
	unsigned user = 1;

	(void)state;
	world_start(&w, 64, false);
	for (unsigned d = 0; d < 4; d++) {
		for (unsigned m = 0; m < FS_MSGS_MAX; m++, user++)
			r[m] = buy(user, 1, w.item_of[1]);
		send_dgram(0, d, r, FS_MSGS_MAX);
	}
	assert_true(dp_engine_poll_once(w.e, 0));
	dp_engine_stats(w.e, &st);
	assert_true(st.handoff_busy > 0);
	assert_int_equal(st.handoffs + st.handoff_busy, 4 * FS_MSGS_MAX);
	assert_true(st.handoffs < 64); /* the ring holds at most ring_size entries */
	poll_rounds(&w, 3);
	dp_engine_stats(w.e, &st);
	unsigned ok = 0, busy = 0;
	for (unsigned d = 0; d < 4; d++) {
		ok += count_status(d, FS_ST_OK);
		busy += count_status(d, FS_ST_BUSY);
	}
	assert_int_equal(ok, st.handoffs);
	assert_int_equal(busy, st.handoff_busy);
	for (unsigned o = 0; o < F.nout; o++)
		for (unsigned m = 0; m < F.out[o].count; m++)
			if (F.out[o].resp[m].status == FS_ST_BUSY)
				assert_int_equal(F.out[o].resp[m].retry_after_ms, DP_BUSY_RETRY_MS);
	world_stop(&w);
}

/* OK answers wait for their log batch and leave in ticket order. */
static void test_engine_held_released_in_ticket_order(void **state)
{
	struct world w;
	struct dp_stats st;
	uint64_t last_order = 0;

	(void)state;
	world_start(&w, 64, true);
	/* Three loops, each appending one record on shard 0: three batches. */
	for (unsigned u = 1; u <= 3; u++) {
		struct fs_req r = buy(u, 1, w.item_of[0]);
		send_dgram(0, u, &r, 1);
		assert_true(dp_engine_poll_once(w.e, 0));
	}
	for (unsigned i = 0; i < 10000 && F.nout < 3; i++) {
		assert_true(dp_engine_poll_once(w.e, 0));
		if (F.nout < 3)
			usleep(100);
	}
	assert_int_equal(F.nout, 3);
	dp_engine_stats(w.e, &st);
	assert_int_equal(st.held, 3);
	assert_true(st.wal_batches >= 1);
	for (unsigned o = 0; o < 3; o++) {
		const struct fs_resp *a = &F.out[o].resp[0];
		assert_int_equal(F.out[o].count, 1);
		assert_int_equal(a->status, FS_ST_OK);
		/* users 1, 2, 3 in the order their batches were submitted */
		assert_int_equal(a->user_id, o + 1);
		assert_true(a->order_id > last_order);
		last_order = a->order_id;
	}
	world_stop(&w);
}

/* A stop between bursts: what was received and handed off is still decided
 * and answered while the workers finish; nothing is left pending. */
static void test_engine_stop_mid_burst(void **state)
{
	struct world w;
	struct fs_req r[4];
	struct dp_stats st;
	bool run0 = true, run1 = true;

	(void)state;
	world_start(&w, 64, false);
	for (unsigned d = 0; d < 3; d++) {
		for (unsigned m = 0; m < 4; m++)
			r[m] = buy(100 + d * 4 + m, 1, w.item_of[m % 2]);
		send_dgram(0, d, r, 4);
	}
	assert_true(dp_engine_poll_once(w.e, 0)); /* received, half handed to worker 1 */
	dp_engine_stop(w.e);
	for (unsigned i = 0; i < 100 && (run0 || run1); i++) {
		if (run1)
			run1 = dp_engine_poll_once(w.e, 1);
		if (run0)
			run0 = dp_engine_poll_once(w.e, 0);
	}
	assert_false(run0);
	assert_false(run1);
	assert_false(dp_engine_poll_once(w.e, 0)); /* stays finished */
	dp_engine_stats(w.e, &st);
	assert_int_equal(st.rx_dgrams, 3);
	assert_int_equal(st.tx_msgs, 12);
	for (unsigned d = 0; d < 3; d++) {
		assert_int_equal(count_status(d, FS_ST_OK), 4);
		assert_one_response(d, 0, FSP_HDR_LEN + 4 * FSP_MSG_LEN, 4);
	}
	world_stop(&w);
}

/* One response datagram per request datagram, from the receiving worker,
 * never larger than the request: checked over everything sent to client c. */
static void assert_one_response(unsigned c, unsigned receiver, size_t req_len, unsigned count)
{
	struct dp_peer p = peer(c);
	unsigned n = 0;

	for (unsigned o = 0; o < F.nout; o++) {
		if (!dp_peer_same(&F.out[o].dst, &p))
			continue;
		n++;
		assert_int_equal(F.out[o].worker, receiver);
		assert_int_equal(F.out[o].count, count);
		assert_true(F.out[o].len <= req_len);
	}
	assert_int_equal(n, 1);
}

/* Messages for both shards and the gate in one datagram: one answer. */
static void test_engine_mixed_owners_one_response(void **state)
{
	struct world w;
	struct fs_req r[5];
	struct dp_stats st;
	size_t len[2];

	(void)state;
	world_start(&w, 64, false);
	for (unsigned recv = 0; recv < NW; recv++) {
		for (unsigned m = 0; m < 4; m++)
			r[m] = buy(10 + recv * 10 + m, 1, w.item_of[m % 2]);
		memset(&r[4], 0, sizeof(r[4]));
		r[4].op = FS_OP_TIME; /* answered by the gate */
		len[recv] = send_dgram(recv, recv, r, 5);
	}
	poll_rounds(&w, 4);
	for (unsigned recv = 0; recv < NW; recv++) {
		assert_one_response(recv, recv, len[recv], 5);
		assert_int_equal(count_status(recv, FS_ST_OK), 5);
	}
	dp_engine_stats(w.e, &st);
	assert_int_equal(st.returned, 4); /* two remote answers per datagram */
	assert_int_equal(st.tx_dgrams, 2);
	assert_int_equal(st.tx_msgs, 10);
	world_stop(&w);
}

/* Per-worker counters: answers by protocol, op and status where they are
 * produced, BUY attempts by item, cycles only in stages, one latency
 * observation per response datagram, the sums matching dp_engine_stats. */
static void test_engine_worker_stats_counts(void **state)
{
	struct world w;
	struct fs_req r[5];
	struct dp_stats st;
	struct dp_worker_stats ws[NW];
	uint64_t ok = 0, tx = 0, busy = 0, hist = 0, by = 0;

	(void)state;
	world_start(&w, 64, false);
	for (unsigned m = 0; m < 4; m++)
		r[m] = buy(100 + m, 1, w.item_of[m % 2]);
	memset(&r[4], 0, sizeof(r[4]));
	r[4].op = FS_OP_TIME;
	send_dgram(0, 1, r, 5);     /* 4 BUYs (2 local, 2 handed off) + TIME */
	r[0] = buy(200, 1, 9999);   /* unknown item: no attempt counted */
	send_dgram(1, 2, r, 1);
	poll_rounds(&w, 4);
	dp_engine_stats(w.e, &st);
	assert_int_equal(dp_engine_nworkers(w.e), NW);
	for (unsigned i = 0; i < NW; i++) {
		dp_engine_worker_stats(w.e, i, &ws[i]);
		ok += ws[i].requests[DP_PROTO_FSP][FS_OP_BUY][FS_ST_OK];
		by += ws[i].requests[DP_PROTO_FSP][FS_OP_TIME][FS_ST_OK];
		tx += ws[i].st.tx_dgrams;
		for (unsigned k = 0; k <= FS_LAT_BUCKETS; k++)
			hist += ws[i].decision_hist[k];
		for (unsigned s = 0; s < DP_STAGE_COUNT; s++)
			busy += s == DP_STAGE_IDLE ? 0 : ws[i].cycles[s];
		assert_int_equal(ws[i].busy_loops + ws[i].idle_loops, 4);
		assert_int_equal(ws[i].decision_count, ws[i].st.tx_dgrams);
		assert_int_equal(ws[i].handoff_ring_used + ws[i].return_ring_used, 0);
		for (unsigned op = 0; op <= FS_OP_MAX; op++)
			for (unsigned s = 0; s < FS_ST_COUNT; s++)
				assert_int_equal(ws[i].requests[DP_PROTO_HTTP][op][s], 0);
	}
	assert_int_equal(ok, 4);
	assert_int_equal(by, 1);
	assert_int_equal(ws[1].requests[DP_PROTO_FSP][FS_OP_BUY][FS_ST_UNKNOWN_ITEM], 1);
	assert_int_equal(tx, st.tx_dgrams);
	assert_int_equal(hist, 2);
	assert_true(busy > 0);
	assert_int_equal(dp_engine_item_attempts(w.e, w.item_of[0]), 2);
	assert_int_equal(dp_engine_item_attempts(w.e, w.item_of[1]), 2);
	assert_int_equal(dp_engine_item_attempts(w.e, 9999), 0);
	assert_int_equal(ws[0].attempts_overflow + ws[1].attempts_overflow, 0);
	assert_string_equal(dp_stage_name(DP_STAGE_OWNER), "owner");
	assert_string_equal(dp_stage_name(DP_STAGE_COUNT), "?");
	world_stop(&w);
}

/* A front end whose peers are tied to one worker (HTTP): even the answer to
 * a one-message datagram comes back to the receiving worker. */
static void test_engine_single_message_returns_without_any_worker_reply(void **state)
{
	struct world w;
	struct fs_req r;
	size_t len;

	(void)state;
	world_start(&w, 64, false);
	fake_ops.reply_from_any_worker = false;
	r = buy(5, 1, w.item_of[1]);
	len = send_dgram(0, 3, &r, 1);
	poll_rounds(&w, 3);
	assert_one_response(3, 0, len, 1);
	assert_int_equal(count_status(3, FS_ST_OK), 1);
	world_stop(&w);
}

/* More multi-owner datagrams than the pending table holds: the surplus is
 * answered BUSY at once, in one datagram each; nothing is dropped. */
static void test_engine_pending_full_busy(void **state)
{
	const unsigned extra = 8, total = DP_PENDING_DGRAMS_MAX + extra;
	struct world w;
	struct dp_stats st;
	unsigned busy = 0;

	(void)state;
	world_start(&w, 4096, false);
	for (unsigned d = 0; d < total; d++) {
		struct fs_req r[2] = {buy(1000 + d, 1, w.item_of[1]), buy(1000 + d, 2, w.item_of[1])};
		send_dgram(0, d, r, 2);
	}
	while (F.w[0].qn > 0)
		assert_true(dp_engine_poll_once(w.e, 0)); /* the owner does not run yet */
	dp_engine_stats(w.e, &st);
	assert_int_equal(st.pending_busy, 2 * extra);
	assert_int_equal(F.nout, extra);
	for (unsigned o = 0; o < F.nout; o++)
		for (unsigned m = 0; m < F.out[o].count; m++) {
			assert_int_equal(F.out[o].resp[m].status, FS_ST_BUSY);
			assert_int_equal(F.out[o].resp[m].retry_after_ms, DP_PENDING_BUSY_RETRY_MS);
		}
	poll_rounds(&w, 200);
	assert_int_equal(F.nout, total);
	for (unsigned d = 0; d < total; d++) {
		assert_int_equal(dgrams_to(d), 1);
		busy += count_status(d, FS_ST_BUSY);
	}
	assert_int_equal(busy, 2 * extra);
	world_stop(&w);
}

/* The producer does not run while the owner decides: once the return ring
 * and the owner's return stage are full the owner stops taking hand-offs and
 * keeps its answers; when the producer runs again every answer arrives. */
static void test_engine_return_ring_full_owner_keeps(void **state)
{
	struct world w;
	struct fs_req r[FS_MSGS_MAX];
	struct dp_stats st;
	uint64_t executed;

	(void)state;
	world_start(&w, 64, false);
	for (unsigned d = 0; d < 2; d++) {
		for (unsigned m = 0; m < FS_MSGS_MAX; m++)
			r[m] = buy(2000 + d * FS_MSGS_MAX + m, 1, w.item_of[1]);
		send_dgram(0, d, r, FS_MSGS_MAX);
	}
	for (unsigned d = 2; d < 4; d++) {
		for (unsigned m = 0; m < FS_MSGS_MAX; m++) {
			memset(&r[m], 0, sizeof(r[m]));
			r[m].op = FS_OP_ORDER_STATUS;
			r[m].user_id = 3000 + d * FS_MSGS_MAX + m;
			r[m].order_id = (uint64_t)(500 + m) << 8 | 1; /* shard 1, no such order */
		}
		send_dgram(0, d, r, FS_MSGS_MAX);
	}
	assert_true(dp_engine_poll_once(w.e, 0));
	dp_engine_stats(w.e, &st);
	assert_true(st.handoffs > 63 + DP_RETURN_STAGE_MSGS_MAX); /* both rings: more than fits back */
	for (unsigned i = 0; i < 8; i++)
		assert_true(dp_engine_poll_once(w.e, 1));
	dp_engine_stats(w.e, &st);
	executed = st.executed;
	assert_true(executed < st.handoffs); /* the owner stopped taking hand-offs */
	assert_true(executed >= 63);
	assert_int_equal(st.returned, 0);
	poll_rounds(&w, 10);
	dp_engine_stats(w.e, &st);
	assert_int_equal(st.executed, st.handoffs);
	assert_int_equal(st.returned, st.handoffs);
	for (unsigned d = 0; d < 4; d++)
		assert_int_equal(dgrams_to(d), 1);
	world_stop(&w);
}

/* Answers held for the log on two shards (one inline, one handed off) are
 * gathered too: one response datagram once both batches are durable. */
static void test_engine_held_answers_gathered(void **state)
{
	struct world w;
	struct fs_req r[3];
	size_t len;

	(void)state;
	world_start(&w, 64, true);
	r[0] = buy(41, 1, w.item_of[0]);
	r[1] = buy(42, 1, w.item_of[1]);
	memset(&r[2], 0, sizeof(r[2]));
	r[2].op = FS_OP_TIME;
	len = send_dgram(0, 9, r, 3);
	for (unsigned i = 0; i < 10000 && F.nout == 0; i++) {
		poll_rounds(&w, 1);
		if (F.nout == 0)
			usleep(100);
	}
	assert_one_response(9, 0, len, 3);
	assert_int_equal(count_status(9, FS_ST_OK), 3);
	world_stop(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_handoff_to_owner),
		cmocka_unit_test(test_engine_handoff_ring_full_busy),
		cmocka_unit_test(test_engine_held_released_in_ticket_order),
		cmocka_unit_test(test_engine_stop_mid_burst),
		cmocka_unit_test(test_engine_mixed_owners_one_response),
		cmocka_unit_test(test_engine_single_message_returns_without_any_worker_reply),
		cmocka_unit_test(test_engine_pending_full_busy),
		cmocka_unit_test(test_engine_return_ring_full_owner_keeps),
		cmocka_unit_test(test_engine_held_answers_gathered),
		cmocka_unit_test(test_engine_worker_stats_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
