/*
 * test_store.c — unit tests of store/: the gate, every op and status code of
 * the owner, tokens (PROTOCOL.md test vectors), expiry, idempotency, replay,
 * the rate limiter, and a seeded random sequence checked against an
 * independent reference model (plain arrays, no hashing) with store_audit()
 * after every operation, followed by a replay of its journal into fresh
 * shards.
 *
 * Configs are built by hand in C (no INI loader). Time is a fake wall clock
 * around T0.
 */
#include <errno.h>
#include <pthread.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fs_token.h"
#include "store.h"

#define T0	  (1700000000LL * FS_NS_PER_S)
#define SEC	  FS_NS_PER_S
#define MAX_ACTS  4
#define MAX_ITEMS 8

static const uint8_t KEY_TOKEN[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
static const uint8_t KEY_PAY[16] = {0xf0, 0xe0, 0xd0, 0xc0, 0xb0, 0xa0, 0x90, 0x80,
				    0x70, 0x60, 0x50, 0x40, 0x30, 0x20, 0x10, 0x00};

/* ---- a world: config, catalog, shards, recorded journal ---- */

struct jrec {
	unsigned shard;
	struct store_change ch;
};

struct world;
struct jctx {
	struct world *w;
	unsigned shard;
};

struct world {
	struct cfg cfg;
	struct cfg_activity acts[MAX_ACTS];
	struct cfg_item items[MAX_ITEMS];
	struct store_catalog *cat;
	struct store_shard *sh[FS_WORKERS_MAX];
	struct store_shard_params params[FS_WORKERS_MAX];
	struct jctx jctx[FS_WORKERS_MAX];
	unsigned nshards;
	struct jrec *jv;
	size_t jn, jcap;
	bool forbid_journal;
	bool audit_each;
};

static void on_journal(void *ctx, const struct store_change *ch)
{
	struct jctx *jc = ctx;
	struct world *w = jc->w;

	assert_false(w->forbid_journal);
	if (w->jn == w->jcap) {
		w->jcap = w->jcap ? 2 * w->jcap : 256;
		w->jv = realloc(w->jv, w->jcap * sizeof(*w->jv));
		assert_non_null(w->jv);
	}
	w->jv[w->jn].shard = jc->shard;
	w->jv[w->jn].ch = *ch;
	w->jn++;
}

static void add_act(struct world *w, uint32_t id, int64_t start, int64_t end, bool tok, bool pay,
		    uint32_t timeout_s)
{
	struct cfg_activity *a = &w->acts[w->cfg.n_activities++];

	assert_true(w->cfg.n_activities <= MAX_ACTS);
	a->id = id;
	snprintf(a->name, sizeof(a->name), "act%u", id);
	a->start_ns = start;
	a->end_ns = end;
	a->require_token = tok;
	if (tok)
		memcpy(a->token_key, KEY_TOKEN, 16);
	a->has_payment_key = pay;
	if (pay)
		memcpy(a->payment_key, KEY_PAY, 16);
	a->pay_timeout_s = timeout_s;
}

static void add_item(struct world *w, uint32_t id, uint32_t act_id, uint32_t total, uint32_t limit,
		     uint16_t mpo)
{
	struct cfg_item *it = &w->items[w->cfg.n_items++];

	assert_true(w->cfg.n_items <= MAX_ITEMS);
	it->id = id;
	it->activity_id = act_id;
	it->total = total;
	it->per_user_limit = limit;
	it->max_per_order = mpo;
	it->price_cents = 100;
	it->activity_index = 0xffff; /* resolved by id in the catalog */
}

/* The standard unit-test config: activity 1 with both keys, 2 without
 * tokens, 3 not started yet. */
static void std_cfg(struct world *w)
{
	memset(w, 0, sizeof(*w));
	w->cfg.activities = w->acts;
	w->cfg.items = w->items;
	w->cfg.max_orders = 100;
	w->cfg.max_idempotency = 200;
	w->cfg.idempotency_retention_s = 600;
	add_act(w, 1, T0, T0 + 3600 * SEC, true, true, 60);
	add_act(w, 2, T0, T0 + 3600 * SEC, false, false, 30);
	add_act(w, 3, T0 + 1000 * SEC, T0 + 2000 * SEC, false, false, 60);
	add_item(w, 1001, 1, 3, 2, 1);
	add_item(w, 2001, 2, 5, 3, 2);
	add_item(w, 2002, 2, 1, 1, 1);
	add_item(w, 3001, 3, 10, 1, 1);
}

static void world_start(struct world *w, unsigned nshards)
{
	w->nshards = nshards;
	w->audit_each = true;
	assert_int_equal(store_catalog_create(&w->cfg, nshards, &w->cat), 0);
	for (unsigned s = 0; s < nshards; s++) {
		struct store_shard_params *p = &w->params[s];
		if (p->max_orders == 0) {
			store_shard_capacity(w->cat, s, p);
			p->idempotency_retention_ns = (int64_t)w->cfg.idempotency_retention_s * SEC;
			p->first_seq = 1;
		}
		p->shard_id = s;
		p->journal = on_journal;
		w->jctx[s] = (struct jctx){w, s};
		p->journal_ctx = &w->jctx[s];
		assert_int_equal(store_shard_create(w->cat, p, &w->sh[s]), 0);
	}
}

static void world_stop(struct world *w)
{
	for (unsigned s = 0; s < w->nshards; s++)
		store_shard_free(w->sh[s]);
	store_catalog_free(w->cat);
	free(w->jv);
	w->jv = NULL;
	w->jn = w->jcap = 0;
}

static void audit_all(struct world *w)
{
	char err[256];

	for (unsigned s = 0; s < w->nshards; s++) {
		int rc = store_audit(w->sh[s], err, sizeof(err));
		if (rc != 0)
			fail_msg("audit of shard %u: %s", s, err);
	}
}

/* Gate, then the owner if routed. Returns the owner shard, or -1 when the
 * gate answered. */
static int submit(struct world *w, const struct fs_req *req, int64_t now, struct fs_resp *resp)
{
	unsigned owner = 999;
	int routed = -1;

	if (!store_gate(w->cat, req, now, resp, &owner)) {
		assert_true(owner < w->nshards);
		store_execute(w->sh[owner], req, now, resp);
		routed = (int)owner;
	}
	assert_int_equal(resp->op, req->op);
	assert_int_equal(resp->user_id, req->user_id);
	assert_int_equal(resp->request_id, req->request_id);
	assert_int_equal(resp->server_time_ns, (uint64_t)now);
	if (w->audit_each)
		audit_all(w);
	return routed;
}

static const struct cfg_item *find_item(struct world *w, uint32_t item_id)
{
	for (unsigned i = 0; i < w->cfg.n_items; i++)
		if (w->items[i].id == item_id)
			return &w->items[i];
	return NULL;
}

static const struct cfg_activity *find_act(struct world *w, uint32_t act_id)
{
	for (unsigned a = 0; a < w->cfg.n_activities; a++)
		if (w->acts[a].id == act_id)
			return &w->acts[a];
	return NULL;
}

static const struct cfg_activity *act_of_item(struct world *w, uint32_t item_id)
{
	const struct cfg_item *it = find_item(w, item_id);

	assert_non_null(it);
	return find_act(w, it->activity_id);
}

static struct fs_req mk_buy(struct world *w, uint64_t user, uint64_t rid, uint32_t item,
			    uint16_t qty)
{
	struct fs_req r = {
		.op = FS_OP_BUY, .qty = qty, .item_id = item, .user_id = user, .request_id = rid};
	const struct cfg_item *it = find_item(w, item);

	if (it) {
		const struct cfg_activity *a = find_act(w, it->activity_id);
		if (a->require_token)
			fs_token_buy(a->token_key, user, a->id, r.token);
	}
	return r;
}

enum tok_kind { TOK_NONE, TOK_BUY, TOK_PAY, TOK_BAD };

static struct fs_req mk_op(struct world *w, uint8_t op, uint64_t user, uint64_t rid, uint64_t order,
			   uint32_t item, uint64_t ref, enum tok_kind kind)
{
	struct fs_req r = {
		.op = op, .user_id = user, .request_id = rid, .order_id = order, .ref = ref};
	const struct cfg_activity *a = act_of_item(w, item);

	if (kind == TOK_BUY)
		fs_token_buy(a->token_key, user, a->id, r.token);
	else if (kind == TOK_PAY)
		fs_token_pay(a->payment_key, order, user, ref, r.token);
	else if (kind == TOK_BAD)
		memset(r.token, 0x5a, sizeof(r.token));
	return r;
}

static uint64_t buy_ok(struct world *w, uint64_t user, uint64_t rid, uint32_t item, uint16_t qty,
		       int64_t now)
{
	struct fs_req r = mk_buy(w, user, rid, item, qty);
	struct fs_resp resp;

	submit(w, &r, now, &resp);
	assert_int_equal(resp.status, FS_ST_OK);
	return resp.order_id;
}

static int setup_std(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	std_cfg(w);
	world_start(w, 2);
	*state = w;
	return 0;
}

static int teardown_world(void **state)
{
	struct world *w = *state;

	world_stop(w);
	free(w);
	return 0;
}

static void cmp_resp(const struct fs_resp *e, const struct fs_resp *g, unsigned step);

/* ---- tokens ---- */

static void test_fs_token_vectors(void **state)
{
	static const uint8_t buy_vec[16] = {0x86, 0x62, 0x5a, 0x50, 0x2a, 0xcb, 0xba, 0x02,
					    0x62, 0x47, 0x97, 0xa4, 0xa0, 0x9b, 0x3a, 0xca};
	static const uint8_t pay_vec[16] = {0x2a, 0xab, 0x79, 0x30, 0x9e, 0x8e, 0xce, 0xa7,
					    0xc4, 0xf0, 0x43, 0xf1, 0x99, 0xfe, 0x45, 0xaa};
	uint8_t out[16];

	(void)state;
	fs_token_buy(KEY_TOKEN, 777, 1, out);
	assert_memory_equal(out, buy_vec, 16);
	fs_token_pay(KEY_PAY, 5, 777, 9, out);
	assert_memory_equal(out, pay_vec, 16);
}

static void test_store_gate_buy_token_vector(void **state)
{
	static const uint8_t buy_vec[16] = {0x86, 0x62, 0x5a, 0x50, 0x2a, 0xcb, 0xba, 0x02,
					    0x62, 0x47, 0x97, 0xa4, 0xa0, 0x9b, 0x3a, 0xca};
	struct world *w = *state;
	struct fs_req r = {
		.op = FS_OP_BUY, .qty = 1, .item_id = 1001, .user_id = 777, .request_id = 42};
	struct fs_resp resp;

	memcpy(r.token, buy_vec, 16);
	assert_true(submit(w, &r, T0 + SEC, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
	r.request_id = 43;
	r.token[15] ^= 1;
	assert_int_equal(submit(w, &r, T0 + SEC, &resp), -1);
	assert_int_equal(resp.status, FS_ST_BAD_TOKEN);
	r.user_id = 778; /* the token of user 777 */
	r.token[15] ^= 1;
	assert_int_equal(submit(w, &r, T0 + SEC, &resp), -1);
	assert_int_equal(resp.status, FS_ST_BAD_TOKEN);
}

/* ---- catalog ---- */

static void test_store_catalog_create_invalid(void **state)
{
	struct world w;
	struct store_catalog *cat = (void *)1;

	(void)state;
	std_cfg(&w);
	assert_int_equal(store_catalog_create(&w.cfg, 0, &cat), -EINVAL);
	assert_null(cat);
	assert_int_equal(store_catalog_create(&w.cfg, FS_WORKERS_MAX + 1, &cat), -EINVAL);
	w.items[1].id = 1001; /* duplicate */
	assert_int_equal(store_catalog_create(&w.cfg, 2, &cat), -EINVAL);
	std_cfg(&w);
	w.items[0].activity_id = 99; /* no such activity */
	assert_int_equal(store_catalog_create(&w.cfg, 2, &cat), -EINVAL);
	std_cfg(&w);
	w.items[2].id = 0;
	assert_int_equal(store_catalog_create(&w.cfg, 2, &cat), -EINVAL);
	std_cfg(&w);
	assert_int_equal(store_catalog_create(&w.cfg, 2, &cat), 0);
	assert_int_equal(store_catalog_nshards(cat), 2);
	assert_int_equal(store_item_available(cat, 2001), 5);
	assert_int_equal(store_item_available(cat, 9999), -1);
	store_catalog_free(cat);
}

static void test_store_shard_capacity_split(void **state)
{
	struct world *w = *state;
	struct store_shard_params p0 = {0}, p1 = {0};
	uint64_t stock[2] = {0, 0};

	for (unsigned i = 0; i < w->cfg.n_items; i++)
		stock[fs_shard_of_item(w->items[i].id, 2)] += w->items[i].total;
	store_shard_capacity(w->cat, 0, &p0);
	store_shard_capacity(w->cat, 1, &p1);
	/* stock 19, max_orders 100: each shard its stock + (100 - 19) / 2 */
	assert_int_equal(p0.max_orders, stock[0] + 40);
	assert_int_equal(p1.max_orders, stock[1] + 40);
	assert_int_equal(p0.max_idempotency, stock[0] + 90);
	assert_int_equal(p1.max_idempotency, stock[1] + 90);
	assert_true(p0.max_orders + p1.max_orders <= 100);
}

static void test_store_shard_create_invalid(void **state)
{
	struct world *w = *state;
	struct store_shard_params p = {
		.shard_id = 0, .max_orders = 10, .max_idempotency = 10, .first_seq = 1};
	struct store_shard *s = (void *)1;

	assert_int_equal(store_shard_create(w->cat, &p, &s), -EINVAL); /* shard 0 exists */
	assert_null(s);
	p.shard_id = 2;
	assert_int_equal(store_shard_create(w->cat, &p, &s), -EINVAL);
	store_shard_free(w->sh[1]);
	w->sh[1] = NULL;
	p.shard_id = 1;
	p.max_orders = 0;
	assert_int_equal(store_shard_create(w->cat, &p, &s), -EINVAL);
	p.max_orders = 10;
	p.first_seq = 0;
	assert_int_equal(store_shard_create(w->cat, &p, &s), -EINVAL);
	p.first_seq = 1ULL << 56;
	assert_int_equal(store_shard_create(w->cat, &p, &s), -EINVAL);
	p.first_seq = 1;
	assert_int_equal(store_shard_create(w->cat, &p, &w->sh[1]), 0);
}

/* ---- the gate ---- */

static void test_store_gate_bad_op(void **state)
{
	struct world *w = *state;
	struct fs_resp resp;
	unsigned owner;

	for (unsigned op = 0; op < 256; op += (op == 0 ? 7 : 50)) {
		struct fs_req r = {.op = (uint8_t)op,
				   .user_id = 5,
				   .request_id = 6,
				   .item_id = 1001,
				   .order_id = 77};
		assert_true(store_gate(w->cat, &r, T0, &resp, &owner));
		assert_int_equal(resp.status, FS_ST_BAD_REQUEST);
		assert_int_equal(resp.item_id, 1001);
		assert_int_equal(resp.order_id, 77);
		assert_int_equal(resp.available, 0);
		assert_int_equal(resp.state, 0);
	}
}

static void test_store_gate_time_ok(void **state)
{
	struct world *w = *state;
	struct fs_req r = {.op = FS_OP_TIME, .request_id = 9};
	struct fs_resp resp;
	unsigned owner;

	assert_true(store_gate(w->cat, &r, T0 + 123, &resp, &owner));
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.server_time_ns, T0 + 123);
	assert_int_equal(resp.request_id, 9);
	assert_int_equal(resp.deadline_ns, 0);
	/* also answered when it reaches an owner */
	store_execute(w->sh[0], &r, T0 + 5, &resp);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.server_time_ns, T0 + 5);
}

static void test_store_gate_item_status(void **state)
{
	struct world *w = *state;
	struct fs_req r = {.op = FS_OP_ITEM_STATUS, .item_id = 2001};
	struct fs_resp resp;

	assert_int_equal(submit(w, &r, T0, &resp), -1);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.available, 5);
	assert_int_equal(resp.item_id, 2001);
	buy_ok(w, 1, 1, 2001, 2, T0 + 1);
	assert_int_equal(submit(w, &r, T0 + 2, &resp), -1);
	assert_int_equal(resp.available, 3);
	r.item_id = 4242;
	assert_int_equal(submit(w, &r, T0, &resp), -1);
	assert_int_equal(resp.status, FS_ST_UNKNOWN_ITEM);
	assert_int_equal(resp.available, 0);
}

static void test_store_gate_buy_bad_request(void **state)
{
	struct world *w = *state;
	struct fs_resp resp;
	struct fs_req r = mk_buy(w, 0, 1, 2001, 1);

	assert_int_equal(submit(w, &r, T0, &resp), -1);
	assert_int_equal(resp.status, FS_ST_BAD_REQUEST);
	r = mk_buy(w, 1, 0, 2001, 1);
	assert_int_equal(submit(w, &r, T0, &resp), -1);
	assert_int_equal(resp.status, FS_ST_BAD_REQUEST);
	r = mk_buy(w, 1, 1, 2001, 0);
	assert_int_equal(submit(w, &r, T0, &resp), -1);
	assert_int_equal(resp.status, FS_ST_BAD_REQUEST);
	/* the owner checks too when called directly */
	store_execute(w->sh[0], &r, T0, &resp);
	assert_int_equal(resp.status, FS_ST_BAD_REQUEST);
}

static void test_store_gate_buy_unknown_item(void **state)
{
	struct world *w = *state;
	struct fs_req r = {
		.op = FS_OP_BUY, .qty = 1, .item_id = 5555, .user_id = 1, .request_id = 1};
	struct fs_resp resp;

	assert_int_equal(submit(w, &r, T0, &resp), -1);
	assert_int_equal(resp.status, FS_ST_UNKNOWN_ITEM);
	assert_int_equal(resp.item_id, 5555);
	store_execute(w->sh[1], &r, T0, &resp);
	assert_int_equal(resp.status, FS_ST_UNKNOWN_ITEM);
}

static void test_store_gate_buy_limit_exceeded(void **state)
{
	struct world *w = *state;
	struct fs_req r = mk_buy(w, 1, 1, 2001, 3); /* max_per_order 2 */
	struct fs_resp resp;

	assert_int_equal(submit(w, &r, T0, &resp), -1);
	assert_int_equal(resp.status, FS_ST_LIMIT_EXCEEDED);
	assert_int_equal(resp.available, 5);
	assert_int_equal(resp.qty, 0);
}

static void test_store_gate_buy_not_started(void **state)
{
	struct world *w = *state;
	struct fs_req r = mk_buy(w, 1, 1, 3001, 1);
	struct fs_resp resp;

	assert_int_equal(submit(w, &r, T0, &resp), -1);
	assert_int_equal(resp.status, FS_ST_NOT_STARTED);
	assert_int_equal(resp.retry_after_ms, 1000 * 1000);
	assert_int_equal(submit(w, &r, T0 + 1000 * SEC - 1, &resp), -1);
	assert_int_equal(resp.retry_after_ms, 1); /* rounded up */
	/* far in the future: saturates */
	assert_int_equal(submit(w, &r, INT64_MIN + 5, &resp), -1);
	assert_int_equal(resp.status, FS_ST_NOT_STARTED);
	assert_int_equal(resp.retry_after_ms, UINT32_MAX);
	/* at start it is open */
	assert_true(submit(w, &r, T0 + 1000 * SEC, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
}

static void test_store_gate_buy_ended(void **state)
{
	struct world *w = *state;
	struct fs_req r = mk_buy(w, 1, 1, 2001, 1);
	struct fs_resp resp;

	assert_int_equal(submit(w, &r, T0 + 3600 * SEC, &resp), -1);
	assert_int_equal(resp.status, FS_ST_ENDED);
	assert_int_equal(resp.retry_after_ms, 0);
	/* the owner re-checks at its own time */
	store_execute(w->sh[fs_shard_of_item(2001, 2)], &r, T0 + 3601 * SEC, &resp);
	assert_int_equal(resp.status, FS_ST_ENDED);
}

static void test_store_gate_buy_bad_token(void **state)
{
	struct world *w = *state;
	struct fs_req r = mk_buy(w, 1, 1, 1001, 1);
	struct fs_resp resp;

	r.token[0] ^= 0x80;
	assert_int_equal(submit(w, &r, T0, &resp), -1);
	assert_int_equal(resp.status, FS_ST_BAD_TOKEN);
	memset(r.token, 0, sizeof(r.token));
	assert_int_equal(submit(w, &r, T0, &resp), -1);
	assert_int_equal(resp.status, FS_ST_BAD_TOKEN);
}

static void test_store_gate_buy_sold_out(void **state)
{
	struct world *w = *state;
	struct fs_req r;
	struct fs_resp resp;

	buy_ok(w, 1, 1, 1001, 1, T0);
	buy_ok(w, 2, 1, 1001, 1, T0);
	buy_ok(w, 3, 1, 1001, 1, T0);
	r = mk_buy(w, 4, 1, 1001, 1);
	assert_int_equal(submit(w, &r, T0, &resp), -1); /* no hand-off */
	assert_int_equal(resp.status, FS_ST_SOLD_OUT);
	assert_int_equal(resp.available, 0);
	/* sold out is checked before the token */
	memset(r.token, 0, sizeof(r.token));
	assert_int_equal(submit(w, &r, T0, &resp), -1);
	assert_int_equal(resp.status, FS_ST_SOLD_OUT);
	/* qty above what is left is refused at the gate too */
	buy_ok(w, 1, 2, 2001, 2, T0);
	buy_ok(w, 2, 2, 2001, 2, T0);
	r = mk_buy(w, 3, 2, 2001, 2);
	assert_int_equal(submit(w, &r, T0, &resp), -1);
	assert_int_equal(resp.status, FS_ST_SOLD_OUT);
	assert_int_equal(resp.available, 1);
}

static void test_store_gate_winner_retry_after_sold_out(void **state)
{
	struct world *w = *state;
	struct fs_req r = mk_buy(w, 7, 70, 1001, 1);
	struct fs_resp first, again;
	size_t jn;

	assert_true(submit(w, &r, T0, &first) >= 0);
	assert_int_equal(first.status, FS_ST_OK);
	buy_ok(w, 8, 1, 1001, 1, T0);
	buy_ok(w, 9, 1, 1001, 1, T0);
	jn = w->jn;
	assert_int_equal(submit(w, &r, T0 + SEC, &again), (int)fs_shard_of_item(1001, 2));
	assert_int_equal(again.status, FS_ST_OK);
	assert_int_equal(again.order_id, first.order_id);
	assert_int_equal(again.qty, 1);
	assert_int_equal(again.deadline_ns, first.deadline_ns);
	assert_int_equal(again.available, 0);
	assert_int_equal(w->jn, jn); /* nothing changed */
	/* the same key with a bad token is no winner: plain SOLD_OUT */
	memset(r.token, 0, sizeof(r.token));
	assert_int_equal(submit(w, &r, T0 + SEC, &again), -1);
	assert_int_equal(again.status, FS_ST_SOLD_OUT);
}

static void test_store_gate_winner_retry_after_end(void **state)
{
	struct world *w = *state;
	struct fs_req r = mk_buy(w, 7, 70, 2001, 2);
	struct fs_resp first, again;
	int64_t end = T0 + 3600 * SEC;

	assert_true(submit(w, &r, T0, &first) >= 0);
	assert_int_equal(first.status, FS_ST_OK);
	assert_true(submit(w, &r, end + 5 * SEC, &again) >= 0);
	assert_int_equal(again.status, FS_ST_OK);
	assert_int_equal(again.order_id, first.order_id);
	assert_int_equal(again.qty, 2);
	assert_int_equal(again.deadline_ns, first.deadline_ns);
	/* a new request after the end is ENDED at the gate */
	r.request_id = 71;
	assert_int_equal(submit(w, &r, end + 5 * SEC, &again), -1);
	assert_int_equal(again.status, FS_ST_ENDED);
}

static void test_store_gate_order_ops(void **state)
{
	struct world *w = *state;
	struct fs_resp resp;
	unsigned owner = 99;
	struct fs_req r = {
		.op = FS_OP_CONFIRM, .user_id = 0, .request_id = 1, .order_id = fs_order_id(1, 1)};

	assert_true(store_gate(w->cat, &r, T0, &resp, &owner));
	assert_int_equal(resp.status, FS_ST_BAD_REQUEST);
	r.op = FS_OP_CANCEL;
	r.user_id = 1;
	r.request_id = 0;
	assert_true(store_gate(w->cat, &r, T0, &resp, &owner));
	assert_int_equal(resp.status, FS_ST_BAD_REQUEST);
	r.op = FS_OP_ORDER_STATUS; /* request_id 0 is fine for a status query */
	assert_false(store_gate(w->cat, &r, T0, &resp, &owner));
	assert_int_equal(owner, 1);
	r.user_id = 0;
	assert_true(store_gate(w->cat, &r, T0, &resp, &owner));
	assert_int_equal(resp.status, FS_ST_BAD_REQUEST);
	r = (struct fs_req){.op = FS_OP_CONFIRM, .user_id = 1, .request_id = 1, .order_id = 0};
	assert_true(store_gate(w->cat, &r, T0, &resp, &owner));
	assert_int_equal(resp.status, FS_ST_NOT_FOUND);
	r.order_id = fs_order_id(1, 2); /* shard 2 of 2 */
	assert_true(store_gate(w->cat, &r, T0, &resp, &owner));
	assert_int_equal(resp.status, FS_ST_NOT_FOUND);
	assert_int_equal(resp.order_id, fs_order_id(1, 2));
	r.order_id = fs_order_id(12, 0);
	assert_false(store_gate(w->cat, &r, T0, &resp, &owner));
	assert_int_equal(owner, 0);
}

/* Filled to its order capacity, the winners filter routes few losers. */
static void test_store_gate_winners_filter_false_positives(void **state)
{
	struct world w;
	struct fs_resp resp;
	unsigned owner, routed = 0;
	const unsigned n = 20000, probes = 100000;

	(void)state;
	memset(&w, 0, sizeof(w));
	w.cfg.activities = w.acts;
	w.cfg.items = w.items;
	w.cfg.max_orders = n;
	add_act(&w, 2, T0, T0 + 3600 * SEC, false, false, 30);
	add_item(&w, 2001, 2, n, 1, 1);
	world_start(&w, 1);
	w.audit_each = false;
	for (unsigned i = 1; i <= n; i++)
		buy_ok(&w, i, 7, 2001, 1, T0);
	assert_int_equal(store_item_available(w.cat, 2001), 0);
	for (unsigned i = 1; i <= probes; i++) {
		struct fs_req r = mk_buy(&w, i, 8, 2001, 1); /* never won */
		if (!store_gate(w.cat, &r, T0, &resp, &owner))
			routed++;
		else
			assert_int_equal(resp.status, FS_ST_SOLD_OUT);
	}
	print_message("winners filter: %u of %u losers routed\n", routed, probes);
	assert_true(routed < probes / 100);
	for (unsigned i = 1; i <= n; i += 97) { /* and every winner is */
		struct fs_req r = mk_buy(&w, i, 7, 2001, 1);
		assert_false(store_gate(w.cat, &r, T0, &resp, &owner));
	}
	world_stop(&w);
}

/* store_gate_prefetch is a hint: a burst prefetched first (as the DPDK
 * front end does) gets the same answers as one gated without it, on a
 * sold-out item (the filter is read), an item in stock and an unknown one. */
static void test_store_gate_prefetch_changes_nothing(void **state)
{
	struct world w;
	struct fs_resp a, b;
	unsigned oa, ob;
	const unsigned n = 1000;

	(void)state;
	memset(&w, 0, sizeof(w));
	w.cfg.activities = w.acts;
	w.cfg.items = w.items;
	w.cfg.max_orders = 4 * n;
	add_act(&w, 2, T0, T0 + 3600 * SEC, false, false, 30);
	add_item(&w, 2001, 2, n, 1, 1);
	add_item(&w, 2002, 2, n, 1, 1);
	world_start(&w, 2);
	w.audit_each = false;
	for (unsigned i = 1; i <= n; i++)
		buy_ok(&w, i, 7, 2001, 1, T0);
	for (unsigned i = 1; i <= 2 * n; i++) {
		uint32_t items[3] = {2001, 2002, 9999};
		for (unsigned k = 0; k < 3; k++) {
			struct fs_req r = mk_buy(&w, i, i % 3 ? 8 : 7, items[k], 1);
			bool ga = store_gate(w.cat, &r, T0, &a, &oa);
			store_gate_prefetch(w.cat, r.item_id, r.user_id, r.request_id);
			bool gb = store_gate(w.cat, &r, T0, &b, &ob);
			assert_int_equal(ga, gb);
			if (ga)
				assert_memory_equal(&a, &b, sizeof(a));
			else
				assert_int_equal(oa, ob);
		}
	}
	store_gate_prefetch(w.cat, 0, 0, 0);
	world_stop(&w);
}

/* ---- BUY at the owner ---- */

static void test_store_execute_buy_ok(void **state)
{
	struct world *w = *state;
	struct fs_req r = mk_buy(w, 11, 5, 2001, 2);
	unsigned sh = fs_shard_of_item(2001, 2);
	struct store_item_counts c;
	struct fs_resp resp;
	struct store_stats st;

	assert_int_equal(submit(w, &r, T0 + 7, &resp), (int)sh);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.qty, 2);
	assert_int_equal(resp.item_id, 2001);
	assert_int_equal(fs_shard_of_order(resp.order_id), sh);
	assert_int_equal(fs_order_seq(resp.order_id), 1);
	assert_int_equal(resp.deadline_ns, T0 + 7 + 30 * SEC);
	assert_int_equal(resp.available, 3);
	assert_int_equal(resp.state, 0);
	assert_int_equal(resp.retry_after_ms, 0);
	assert_int_equal(w->jn, 1);
	assert_int_equal(w->jv[0].shard, sh);
	assert_int_equal(w->jv[0].ch.type, STORE_CH_RESERVE);
	assert_int_equal(w->jv[0].ch.order_id, resp.order_id);
	assert_int_equal(w->jv[0].ch.user_id, 11);
	assert_int_equal(w->jv[0].ch.request_id, 5);
	assert_int_equal(w->jv[0].ch.item_id, 2001);
	assert_int_equal(w->jv[0].ch.qty, 2);
	assert_int_equal(w->jv[0].ch.time_ns, T0 + 7);
	assert_int_equal(store_item_counts(w->sh[sh], 2001, &c), 0);
	assert_int_equal(c.total, 5);
	assert_int_equal(c.available, 3);
	assert_int_equal(c.reserved, 2);
	assert_int_equal(c.paid, 0);
	assert_int_equal(store_item_counts(w->sh[sh], 9999, &c), -ENOENT);
	assert_int_equal(store_item_available(w->cat, 2001), 3);
	store_shard_stats(w->sh[sh], &st);
	assert_int_equal(st.orders, 1);
	assert_int_equal(st.holdings, 1);
	assert_int_equal(st.idem_entries, 1);
	assert_int_equal(st.next_seq, 2);
	assert_int_equal(st.by_status[FS_ST_OK], 1);
	/* the next order gets the next seq */
	assert_int_equal(fs_order_seq(buy_ok(w, 12, 5, 2001, 1, T0 + 8)), 2);
}

static void test_store_execute_buy_wrong_shard(void **state)
{
	struct world *w = *state;
	unsigned sh = fs_shard_of_item(2001, 2);
	struct fs_req r = mk_buy(w, 11, 5, 2001, 1);
	struct fs_resp resp;

	assert_false(store_execute(w->sh[1 - sh], &r, T0, &resp));
	assert_int_equal(resp.status, FS_ST_BAD_REQUEST);
	assert_int_equal(w->jn, 0);
}

static void test_store_execute_buy_limit_exceeded(void **state)
{
	struct world *w = *state;
	struct fs_req r;
	struct fs_resp resp;

	buy_ok(w, 1, 1, 2001, 2, T0); /* limit 3 */
	r = mk_buy(w, 1, 2, 2001, 2);
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_LIMIT_EXCEEDED);
	assert_int_equal(resp.available, 3);
	r.qty = 1;
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
	r = mk_buy(w, 1, 3, 2001, 1);
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_LIMIT_EXCEEDED);
	/* other users are not affected */
	buy_ok(w, 2, 3, 2001, 1, T0);
}

static void test_store_execute_buy_sold_out(void **state)
{
	struct world *w = *state;
	unsigned sh = fs_shard_of_item(2001, 2);
	struct fs_req r;
	struct fs_resp resp;

	buy_ok(w, 1, 1, 2001, 2, T0);
	buy_ok(w, 2, 1, 2001, 2, T0);
	r = mk_buy(w, 3, 1, 2001, 2); /* 1 left */
	assert_false(store_execute(w->sh[sh], &r, T0, &resp));
	assert_int_equal(resp.status, FS_ST_SOLD_OUT);
	assert_int_equal(resp.available, 1);
	r.qty = 1;
	assert_true(store_execute(w->sh[sh], &r, T0, &resp));
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.available, 0);
	r.request_id = 2;
	assert_false(store_execute(w->sh[sh], &r, T0, &resp));
	assert_int_equal(resp.status, FS_ST_SOLD_OUT);
	audit_all(w);
}

static void test_store_execute_buy_busy_orders_full(void **state)
{
	struct world w;
	struct fs_req r;
	struct fs_resp resp;
	struct store_stats st;
	unsigned sh = fs_shard_of_item(2001, 2);

	(void)state;
	std_cfg(&w);
	w.params[sh] =
		(struct store_shard_params){.max_orders = 2, .max_idempotency = 10, .first_seq = 1};
	world_start(&w, 2);
	buy_ok(&w, 1, 1, 2001, 1, T0);
	buy_ok(&w, 2, 1, 2001, 1, T0);
	r = mk_buy(&w, 3, 1, 2001, 1);
	assert_true(submit(&w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_BUSY);
	assert_int_equal(resp.retry_after_ms, 1000);
	assert_int_equal(resp.available, 3);
	store_shard_stats(w.sh[sh], &st);
	assert_int_equal(st.table_full, 1);
	assert_int_equal(st.by_status[FS_ST_BUSY], 1);
	assert_int_equal(st.orders, 2);
	world_stop(&w);
}

static void test_store_execute_buy_busy_idem_full(void **state)
{
	struct world w;
	struct fs_req r;
	struct fs_resp resp;
	uint64_t o1;
	unsigned sh = fs_shard_of_item(2001, 2);

	(void)state;
	std_cfg(&w);
	w.params[sh] = (struct store_shard_params){.max_orders = 10,
						   .max_idempotency = 2,
						   .first_seq = 1,
						   .idempotency_retention_ns = 600 * SEC};
	world_start(&w, 2);
	o1 = buy_ok(&w, 1, 1, 2001, 1, T0);
	buy_ok(&w, 2, 1, 2001, 1, T0);
	r = mk_buy(&w, 3, 1, 2001, 1);
	assert_true(submit(&w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_BUSY);
	/* a CONFIRM needs a stored answer too */
	r = mk_op(&w, FS_OP_CONFIRM, 1, 2, o1, 2001, 0, TOK_NONE);
	assert_true(submit(&w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_BUSY);
	assert_int_equal(resp.retry_after_ms, 1000);
	/* once the old answers are trimmed there is room again */
	assert_int_equal(store_idem_trim(w.sh[sh], T0 + 600 * SEC, 100), 2);
	assert_true(submit(&w, &r, T0 + 600 * SEC, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_WRONG_STATE); /* 30 s timeout: expired */
	assert_int_equal(resp.state, FS_STATE_EXPIRED);
	world_stop(&w);
}

static void test_store_execute_buy_idempotent(void **state)
{
	struct world *w = *state;
	struct fs_req r = mk_buy(w, 5, 50, 2001, 2), other;
	struct fs_resp first, again;
	size_t jn;

	assert_true(submit(w, &r, T0, &first) >= 0);
	jn = w->jn;
	assert_true(submit(w, &r, T0 + 10 * SEC, &again) >= 0);
	assert_int_equal(again.status, FS_ST_OK);
	assert_int_equal(again.order_id, first.order_id);
	assert_int_equal(again.deadline_ns, first.deadline_ns);
	assert_int_equal(again.qty, 2);
	assert_int_equal(again.available, 3);
	assert_int_equal(again.server_time_ns, T0 + 10 * SEC);
	assert_int_equal(w->jn, jn);
	/* same key, other item on the same shard: BAD_REQUEST */
	other = mk_buy(w, 5, 50, 2002, 1);
	if (fs_shard_of_item(2002, 2) == fs_shard_of_item(2001, 2)) {
		assert_true(submit(w, &other, T0, &again) >= 0);
		assert_int_equal(again.status, FS_ST_BAD_REQUEST);
	}
	/* same key, other op */
	other = mk_op(w, FS_OP_CONFIRM, 5, 50, first.order_id, 2001, 0, TOK_NONE);
	assert_true(submit(w, &other, T0, &again) >= 0);
	assert_int_equal(again.status, FS_ST_BAD_REQUEST);
	other.op = FS_OP_CANCEL;
	assert_true(submit(w, &other, T0, &again) >= 0);
	assert_int_equal(again.status, FS_ST_BAD_REQUEST);
	assert_int_equal(w->jn, jn);
	/* the order was not touched */
	other = mk_op(w, FS_OP_ORDER_STATUS, 5, 0, first.order_id, 2001, 0, TOK_NONE);
	submit(w, &other, T0, &again);
	assert_int_equal(again.state, FS_STATE_RESERVED);
}

static void test_store_execute_buy_unavailable(void **state)
{
	struct world *w = *state;
	unsigned sh = fs_shard_of_item(2001, 2);
	struct fs_req r = mk_buy(w, 5, 50, 2001, 2);
	struct fs_resp resp;

	buy_ok(w, 5, 49, 2001, 1, T0);
	store_shard_set_unavailable(w->sh[sh], true);
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_UNAVAILABLE);
	assert_int_equal(resp.available, 4);
	/* a stored OK is not repeated (it may be a change the log never got);
	 * rejections still flow */
	r.request_id = 49;
	r.qty = 1;
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_UNAVAILABLE);
	r = mk_buy(w, 5, 51, 2001, 3);
	assert_int_equal(submit(w, &r, T0, &resp), -1);
	assert_int_equal(resp.status, FS_ST_LIMIT_EXCEEDED);
	r = mk_buy(w, 5, 52, 2001, 2);
	r.qty = 2;
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_UNAVAILABLE);
	assert_int_equal(store_item_available(w->cat, 2001), 4);
	store_shard_set_unavailable(w->sh[sh], false);
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
}

/* ---- CONFIRM / CANCEL / ORDER_STATUS ---- */

static void test_store_execute_confirm_ok(void **state)
{
	struct world *w = *state;
	uint64_t o = buy_ok(w, 777, 1, 1001, 1, T0);
	struct fs_req r = mk_op(w, FS_OP_CONFIRM, 777, 2, o, 1001, 99, TOK_PAY);
	unsigned sh = fs_shard_of_item(1001, 2);
	struct store_item_counts c;
	struct fs_resp resp;

	assert_int_equal(submit(w, &r, T0 + SEC, &resp), (int)sh);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.state, FS_STATE_PAID);
	assert_int_equal(resp.order_id, o);
	assert_int_equal(resp.item_id, 1001);
	assert_int_equal(resp.deadline_ns, 0);
	assert_int_equal(w->jv[w->jn - 1].ch.type, STORE_CH_PAY);
	assert_int_equal(w->jv[w->jn - 1].ch.ref, 99);
	assert_int_equal(w->jv[w->jn - 1].ch.request_id, 2);
	assert_int_equal(store_item_counts(w->sh[sh], 1001, &c), 0);
	assert_int_equal(c.paid, 1);
	assert_int_equal(c.reserved, 0);
	assert_int_equal(c.available, 2);
	/* retried: same answer, nothing changes, even after the deadline */
	assert_true(submit(w, &r, T0 + 3000 * SEC, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.state, FS_STATE_PAID);
	assert_int_equal(w->jv[w->jn - 1].ch.type, STORE_CH_PAY);
	/* a new CONFIRM of the paid order */
	r = mk_op(w, FS_OP_CONFIRM, 777, 3, o, 1001, 99, TOK_PAY);
	assert_true(submit(w, &r, T0 + 2 * SEC, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_WRONG_STATE);
	assert_int_equal(resp.state, FS_STATE_PAID);
	/* the same request_id for another order is a BAD_REQUEST */
	r = mk_op(w, FS_OP_CONFIRM, 777, 2, o + 256, 1001, 99, TOK_PAY);
	assert_true(submit(w, &r, T0 + 2 * SEC, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_BAD_REQUEST);
}

static void test_store_execute_confirm_bad_token(void **state)
{
	struct world *w = *state;
	uint64_t o = buy_ok(w, 777, 1, 1001, 1, T0);
	struct fs_req r = mk_op(w, FS_OP_CONFIRM, 777, 2, o, 1001, 99, TOK_PAY);
	struct fs_resp resp;

	r.ref = 98; /* token made for ref 99 */
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_BAD_TOKEN);
	r = mk_op(w, FS_OP_CONFIRM, 777, 2, o, 1001, 99, TOK_BUY);
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_BAD_TOKEN);
	/* activity 2 has no payment key: no token needed */
	o = buy_ok(w, 777, 3, 2001, 1, T0);
	r = mk_op(w, FS_OP_CONFIRM, 777, 4, o, 2001, 5, TOK_NONE);
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
}

static void test_store_execute_confirm_not_found(void **state)
{
	struct world *w = *state;
	uint64_t o = buy_ok(w, 1, 1, 2001, 1, T0);
	struct fs_req r = mk_op(w, FS_OP_CONFIRM, 2, 2, o, 2001, 0, TOK_NONE);
	struct fs_resp resp;

	assert_true(submit(w, &r, T0, &resp) >= 0); /* another user's order */
	assert_int_equal(resp.status, FS_ST_NOT_FOUND);
	assert_int_equal(resp.item_id, 0);
	r.user_id = 1;
	r.order_id = o + 256; /* next seq, not created */
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_NOT_FOUND);
	r.order_id = fs_order_id(1, 1 - fs_shard_of_order(o)); /* shard mismatch */
	assert_false(store_execute(w->sh[fs_shard_of_order(o)], &r, T0, &resp));
	assert_int_equal(resp.status, FS_ST_NOT_FOUND);
}

static void test_store_execute_confirm_expired_on_the_spot(void **state)
{
	struct world *w = *state;
	uint64_t o = buy_ok(w, 1, 1, 2001, 2, T0); /* 30 s */
	struct fs_req r = mk_op(w, FS_OP_CONFIRM, 1, 2, o, 2001, 0, TOK_NONE);
	unsigned sh = fs_shard_of_item(2001, 2);
	struct fs_resp resp;

	assert_true(store_execute(w->sh[sh], &r, T0 + 30 * SEC, &resp));
	assert_int_equal(resp.status, FS_ST_WRONG_STATE);
	assert_int_equal(resp.state, FS_STATE_EXPIRED);
	assert_int_equal(w->jv[w->jn - 1].ch.type, STORE_CH_EXPIRE);
	assert_int_equal(w->jv[w->jn - 1].ch.request_id, 0);
	assert_int_equal(store_item_available(w->cat, 2001), 5);
	audit_all(w);
	/* the retry is decided afresh: still WRONG_STATE, no new change */
	assert_false(store_execute(w->sh[sh], &r, T0 + 31 * SEC, &resp));
	assert_int_equal(resp.status, FS_ST_WRONG_STATE);
	/* the user can buy again */
	buy_ok(w, 1, 3, 2001, 2, T0 + 31 * SEC);
}

static void test_store_execute_confirm_unavailable(void **state)
{
	struct world *w = *state;
	uint64_t o = buy_ok(w, 1, 1, 2001, 1, T0);
	struct fs_req r = mk_op(w, FS_OP_CONFIRM, 1, 2, o, 2001, 0, TOK_NONE);
	unsigned sh = fs_shard_of_item(2001, 2);
	struct fs_resp resp;
	size_t jn = w->jn;

	store_shard_set_unavailable(w->sh[sh], true);
	assert_false(store_execute(w->sh[sh], &r, T0 + 60 * SEC, &resp));
	assert_int_equal(resp.status, FS_ST_UNAVAILABLE);
	assert_int_equal(store_expire(w->sh[sh], T0 + 60 * SEC, 10), 0);
	r.op = FS_OP_CANCEL;
	assert_false(store_execute(w->sh[sh], &r, T0, &resp));
	assert_int_equal(resp.status, FS_ST_UNAVAILABLE);
	assert_int_equal(w->jn, jn);
	store_shard_set_unavailable(w->sh[sh], false);
	assert_true(store_execute(w->sh[sh], &r, T0, &resp));
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.state, FS_STATE_CANCELLED);
	/* a settled order answers WRONG_STATE even while unavailable */
	store_shard_set_unavailable(w->sh[sh], true);
	r.request_id = 3;
	assert_false(store_execute(w->sh[sh], &r, T0, &resp));
	assert_int_equal(resp.status, FS_ST_WRONG_STATE);
	assert_int_equal(resp.state, FS_STATE_CANCELLED);
}

static void test_store_execute_cancel_tokens(void **state)
{
	struct world *w = *state;
	uint64_t o1 = buy_ok(w, 777, 1, 1001, 1, T0);
	uint64_t o2 = buy_ok(w, 778, 1, 1001, 1, T0);
	uint64_t o3 = buy_ok(w, 779, 1, 1001, 1, T0);
	struct fs_req r;
	struct fs_resp resp;

	r = mk_op(w, FS_OP_CANCEL, 777, 2, o1, 1001, 0, TOK_BUY); /* the user's token */
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.state, FS_STATE_CANCELLED);
	assert_int_equal(w->jv[w->jn - 1].ch.type, STORE_CH_CANCEL);
	assert_int_equal(store_item_available(w->cat, 1001), 1);
	r = mk_op(w, FS_OP_CANCEL, 778, 2, o2, 1001, 31, TOK_PAY); /* the payment system's */
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
	r = mk_op(w, FS_OP_CANCEL, 779, 2, o3, 1001, 0, TOK_BAD);
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_BAD_TOKEN);
	r = mk_op(w, FS_OP_CANCEL, 779, 2, o3, 1001, 0, TOK_NONE);
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_BAD_TOKEN);
	/* cancel twice: the retry gets OK, a new request WRONG_STATE */
	r = mk_op(w, FS_OP_CANCEL, 777, 2, o1, 1001, 0, TOK_NONE);
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
	r = mk_op(w, FS_OP_CANCEL, 777, 3, o1, 1001, 0, TOK_BUY);
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_WRONG_STATE);
	assert_int_equal(resp.state, FS_STATE_CANCELLED);
	/* a cancelled order cannot be paid */
	r = mk_op(w, FS_OP_CONFIRM, 777, 4, o1, 1001, 1, TOK_PAY);
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_WRONG_STATE);
	/* activity 2 needs no token at all */
	o1 = buy_ok(w, 777, 5, 2001, 1, T0);
	r = mk_op(w, FS_OP_CANCEL, 777, 6, o1, 2001, 0, TOK_NONE);
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
}

static void test_store_execute_order_status(void **state)
{
	struct world *w = *state;
	uint64_t o = buy_ok(w, 777, 1, 1001, 1, T0);
	struct fs_req r = mk_op(w, FS_OP_ORDER_STATUS, 777, 0, o, 1001, 0, TOK_BUY);
	struct fs_resp resp;

	assert_true(submit(w, &r, T0 + SEC, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.state, FS_STATE_RESERVED);
	assert_int_equal(resp.qty, 1);
	assert_int_equal(resp.item_id, 1001);
	assert_int_equal(resp.order_id, o);
	assert_int_equal(resp.deadline_ns, T0 + 60 * SEC);
	r = mk_op(w, FS_OP_ORDER_STATUS, 777, 0, o, 1001, 0, TOK_BAD);
	assert_true(submit(w, &r, T0 + SEC, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_BAD_TOKEN);
	assert_int_equal(resp.qty, 0);
	r = mk_op(w, FS_OP_ORDER_STATUS, 778, 0, o, 1001, 0, TOK_BUY);
	assert_true(submit(w, &r, T0 + SEC, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_NOT_FOUND);
	assert_int_equal(store_expire(w->sh[fs_shard_of_order(o)], T0 + 60 * SEC, 10), 1);
	r = mk_op(w, FS_OP_ORDER_STATUS, 777, 0, o, 1001, 0, TOK_BUY);
	assert_true(submit(w, &r, T0 + 61 * SEC, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.state, FS_STATE_EXPIRED);
	assert_int_equal(resp.deadline_ns, 0);
	/* activity 2: no token needed */
	o = buy_ok(w, 777, 2, 2001, 1, T0);
	r = mk_op(w, FS_OP_ORDER_STATUS, 777, 0, o, 2001, 0, TOK_NONE);
	assert_true(submit(w, &r, T0, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
}

static void test_store_execute_bad_op(void **state)
{
	struct world *w = *state;
	struct fs_req r = {.op = 9, .user_id = 1, .request_id = 1};
	struct fs_resp resp;

	assert_false(store_execute(w->sh[0], &r, T0, &resp));
	assert_int_equal(resp.status, FS_ST_BAD_REQUEST);
	r = (struct fs_req){.op = FS_OP_CONFIRM, .user_id = 1, .request_id = 0, .order_id = 1};
	assert_false(store_execute(w->sh[0], &r, T0, &resp));
	assert_int_equal(resp.status, FS_ST_BAD_REQUEST);
	r = (struct fs_req){.op = FS_OP_ORDER_STATUS, .user_id = 0, .order_id = 256};
	assert_false(store_execute(w->sh[0], &r, T0, &resp));
	assert_int_equal(resp.status, FS_ST_BAD_REQUEST);
}

/* store_execute_prefetch is a hint: a world that prefetches every request of
 * a batch before deciding them one by one (as
 * dp_engine_rx_dgram does for a datagram) gives the same answers, journal
 * and state as one that does not (known, unknown and sold-out items alike). */
static void test_store_execute_prefetch_changes_nothing(void **state)
{
	static const uint32_t items[] = {1001, 2001, 2002, 3001, 4242};
	struct world a, b;
	struct fs_req reqs[16];
	struct fs_resp ra, rb;
	uint64_t seed = 4242;

	(void)state;
	std_cfg(&a);
	std_cfg(&b);
	world_start(&a, 1);
	world_start(&b, 1);
	a.audit_each = b.audit_each = false;
	for (unsigned round = 0; round < 1000; round++) {
		int64_t now = T0 + (int64_t)round * 500 * FS_NS_PER_MS;

		for (unsigned i = 0; i < 16; i++) {
			uint64_t r =
				(seed = seed * 6364136223846793005ULL + 1442695040888963407ULL) >>
				16;
			uint64_t user = 1 + r % 7, rid = 1 + (r >> 8) % 5000;
			uint8_t op = (uint8_t)(1 + (r >> 20) % 4);
			uint32_t item = items[(r >> 24) % 5];

			if (op == FS_OP_BUY || (r >> 40) % 2) {
				reqs[i] =
					mk_buy(&a, user, rid, item, (uint16_t)(1 + (r >> 30) % 2));
			} else {
				uint64_t order = fs_order_id(1 + (r >> 30) % (round + 1), 0);
				reqs[i] = mk_op(&a, op, user, rid, order, 2001, 0, TOK_NONE);
			}
			store_execute_prefetch(b.sh[0], &reqs[i]);
		}
		for (unsigned i = 0; i < 16; i++) {
			bool ca = store_execute(a.sh[0], &reqs[i], now, &ra);
			bool cb = store_execute(b.sh[0], &reqs[i], now, &rb);

			assert_int_equal(ca, cb);
			cmp_resp(&ra, &rb, round);
		}
		assert_int_equal(store_expire(a.sh[0], now, 100), store_expire(b.sh[0], now, 100));
	}
	audit_all(&a);
	audit_all(&b);
	assert_int_equal(a.jn, b.jn);
	assert_true(a.jn > 60);
	for (size_t k = 0; k < a.jn; k++) {
		const struct store_change *x = &a.jv[k].ch, *y = &b.jv[k].ch;

		assert_int_equal(x->type, y->type);
		assert_int_equal(x->qty, y->qty);
		assert_int_equal(x->item_id, y->item_id);
		assert_int_equal(x->order_id, y->order_id);
		assert_int_equal(x->user_id, y->user_id);
		assert_int_equal(x->request_id, y->request_id);
		assert_int_equal(x->ref, y->ref);
		assert_int_equal(x->time_ns, y->time_ns);
	}
	world_stop(&a);
	world_stop(&b);
}

/* store_execute_burst gives the answers and journal of one call per request. */
static void test_store_execute_burst_matches_single(void **state)
{
	static const uint32_t items[] = {1001, 2001, 2002, 3001, 4242};
	struct world a, b;
	struct fs_req reqs[7];
	const struct fs_req *ptrs[7];
	struct fs_resp ra[7], rb[7];
	bool changed[7];
	uint64_t seed = 99;

	(void)state;
	std_cfg(&a);
	std_cfg(&b);
	world_start(&a, 1);
	world_start(&b, 1);
	a.audit_each = b.audit_each = false;
	for (unsigned round = 0; round < 1000; round++) {
		int64_t now = T0 + (int64_t)round * 500 * FS_NS_PER_MS;
		unsigned nchanged = 0;

		for (unsigned i = 0; i < 7; i++) {
			uint64_t r =
				(seed = seed * 6364136223846793005ULL + 1442695040888963407ULL) >>
				16;
			uint64_t user = 1 + r % 5, rid = 1 + (r >> 8) % 5000;
			uint8_t op = (uint8_t)(1 + (r >> 20) % 4);
			uint32_t item = items[(r >> 24) % 5];

			if (op == FS_OP_BUY) {
				reqs[i] =
					mk_buy(&a, user, rid, item, (uint16_t)(1 + (r >> 30) % 2));
			} else {
				uint64_t order = fs_order_id(1 + (r >> 30) % (round + 1), 0);
				reqs[i] = mk_op(&a, op, user, rid, order, 2001, 0, TOK_NONE);
			}
			ptrs[i] = &reqs[i];
			nchanged += store_execute(a.sh[0], &reqs[i], now, &ra[i]);
		}
		assert_int_equal(store_execute_burst(b.sh[0], ptrs, 7, now, rb, changed), nchanged);
		for (unsigned i = 0; i < 7; i++)
			cmp_resp(&ra[i], &rb[i], round);
		assert_int_equal(store_expire(a.sh[0], now, 100), store_expire(b.sh[0], now, 100));
	}
	audit_all(&a);
	audit_all(&b);
	assert_int_equal(a.jn, b.jn);
	assert_true(a.jn > 60);
	for (size_t k = 0; k < a.jn; k++) {
		assert_int_equal(a.jv[k].ch.type, b.jv[k].ch.type);
		assert_int_equal(a.jv[k].ch.order_id, b.jv[k].ch.order_id);
		assert_int_equal(a.jv[k].ch.request_id, b.jv[k].ch.request_id);
		assert_int_equal(a.jv[k].ch.time_ns, b.jv[k].ch.time_ns);
	}
	world_stop(&a);
	world_stop(&b);
}

/* ---- expiry and trimming ---- */

static void test_store_expire_releases_units(void **state)
{
	struct world *w = *state;
	unsigned sh = fs_shard_of_item(2001, 2);
	uint64_t o[3];
	struct fs_req r;
	struct fs_resp resp;
	struct store_item_counts c;
	struct store_stats st;

	o[0] = buy_ok(w, 1, 1, 2001, 2, T0);
	o[1] = buy_ok(w, 2, 1, 2001, 1, T0 + SEC);
	o[2] = buy_ok(w, 3, 1, 2001, 2, T0 + 2 * SEC);
	r = mk_op(w, FS_OP_CONFIRM, 2, 2, o[1], 2001, 0, TOK_NONE);
	submit(w, &r, T0 + 3 * SEC, &resp);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(store_expire(w->sh[sh], T0 + 30 * SEC - 1, 10), 0);
	assert_int_equal(store_expire(w->sh[sh], T0 + 40 * SEC, 1), 1); /* max 1 */
	assert_int_equal(w->jv[w->jn - 1].ch.type, STORE_CH_EXPIRE);
	assert_int_equal(w->jv[w->jn - 1].ch.order_id, o[0]);
	assert_int_equal(w->jv[w->jn - 1].ch.time_ns, T0 + 40 * SEC);
	audit_all(w);
	assert_int_equal(store_expire(w->sh[sh], T0 + 40 * SEC, 10), 1); /* skips the paid one */
	assert_int_equal(w->jv[w->jn - 1].ch.order_id, o[2]);
	assert_int_equal(store_expire(w->sh[sh], T0 + 40 * SEC, 10), 0);
	assert_int_equal(store_item_counts(w->sh[sh], 2001, &c), 0);
	assert_int_equal(c.available, 4);
	assert_int_equal(c.paid, 1);
	assert_int_equal(c.reserved, 0);
	store_shard_stats(w->sh[sh], &st);
	assert_int_equal(st.expired, 2);
	audit_all(w);
	/* holdings were released: user 1 may buy its limit again */
	buy_ok(w, 1, 2, 2001, 2, T0 + 41 * SEC);
	buy_ok(w, 1, 3, 2001, 1, T0 + 41 * SEC);
}

static void test_store_idem_trim_retention(void **state)
{
	struct world *w = *state;
	unsigned sh = fs_shard_of_item(2001, 2);
	struct fs_req r = mk_buy(w, 1, 1, 2001, 1);
	struct fs_resp resp;
	struct store_stats st;

	submit(w, &r, T0, &resp);
	r.request_id = 2;
	submit(w, &r, T0 + 100 * SEC, &resp);
	assert_int_equal(store_idem_trim(w->sh[sh], T0 + 600 * SEC - 1, 100), 0);
	assert_int_equal(store_idem_trim(w->sh[sh], T0 + 600 * SEC, 100), 1);
	store_shard_stats(w->sh[sh], &st);
	assert_int_equal(st.idem_entries, 1);
	audit_all(w);
	/* request 2 still has its answer, request 1 is decided afresh */
	assert_true(submit(w, &r, T0 + 601 * SEC, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(fs_order_seq(resp.order_id), 2);
	r.request_id = 1;
	assert_true(submit(w, &r, T0 + 601 * SEC, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(fs_order_seq(resp.order_id), 3); /* orders expired: a new one */
}

/* Many entries with trims in between exercise backward-shift deletion. */
static void test_store_idem_trim_many(void **state)
{
	struct world w;
	unsigned sh = fs_shard_of_item(2001, 2);
	struct fs_resp resp;

	(void)state;
	std_cfg(&w);
	w.items[1].total = 100000;
	w.items[1].per_user_limit = 100000;
	w.cfg.max_orders = 200000;
	w.params[sh] = (struct store_shard_params){.max_orders = 5000,
						   .max_idempotency = 700,
						   .first_seq = 1,
						   .idempotency_retention_ns = 10 * SEC};
	world_start(&w, 2); /* submit() audits after every request */
	for (unsigned i = 1; i <= 4000; i++) {
		struct fs_req r = mk_buy(&w, 1 + i % 37, i, 2001, 1);
		int64_t now = T0 + (int64_t)i * SEC / 50;

		store_idem_trim(w.sh[sh], now, 1000);
		submit(&w, &r, now, &resp);
		assert_int_equal(resp.status, FS_ST_OK);
		/* the previous few are still answered from the table */
		if (i > 3) {
			struct fs_req old = mk_buy(&w, 1 + (i - 3) % 37, i - 3, 2001, 1);
			submit(&w, &old, now, &resp);
			assert_int_equal(resp.status, FS_ST_OK);
			assert_int_equal(fs_order_seq(resp.order_id), i - 3);
		}
	}
	audit_all(&w);
	world_stop(&w);
}

/* ---- replay ---- */

static void test_store_apply_invalid(void **state)
{
	struct world *w = *state;
	unsigned sh = fs_shard_of_item(2001, 2);
	struct store_change ch = {.type = STORE_CH_RESERVE,
				  .qty = 1,
				  .item_id = 2001,
				  .order_id = fs_order_id(2, sh),
				  .user_id = 1,
				  .request_id = 1,
				  .time_ns = T0};
	size_t jn = w->jn;

	assert_int_equal(store_apply(w->sh[sh], &ch), -EINVAL); /* seq 1 is next */
	ch.order_id = fs_order_id(1, sh);
	ch.item_id = 9999;
	assert_int_equal(store_apply(w->sh[sh], &ch), -EINVAL);
	ch.item_id = 2001;
	ch.qty = 3; /* > max_per_order */
	assert_int_equal(store_apply(w->sh[sh], &ch), -EINVAL);
	ch.qty = 2;
	assert_int_equal(store_apply(w->sh[1 - sh], &ch), -EINVAL); /* not its item */
	assert_int_equal(store_apply(w->sh[sh], &ch), 0);
	assert_int_equal(w->jn, jn); /* apply does not journal */
	ch.type = STORE_CH_PAY;
	ch.user_id = 2; /* not the buyer */
	assert_int_equal(store_apply(w->sh[sh], &ch), -EINVAL);
	ch.user_id = 1;
	ch.type = STORE_CH_EXPIRE;
	ch.time_ns = T0 + 29 * SEC; /* before the deadline */
	assert_int_equal(store_apply(w->sh[sh], &ch), -EINVAL);
	ch.type = STORE_CH_PAY;
	ch.request_id = 2;
	assert_int_equal(store_apply(w->sh[sh], &ch), 0);
	assert_int_equal(store_apply(w->sh[sh], &ch), -EINVAL); /* not RESERVED any more */
	ch.type = STORE_CH_CANCEL;
	assert_int_equal(store_apply(w->sh[sh], &ch), -EINVAL);
	ch.order_id = fs_order_id(7, sh);
	assert_int_equal(store_apply(w->sh[sh], &ch), -EINVAL);
	ch.type = 9;
	assert_int_equal(store_apply(w->sh[sh], &ch), -EINVAL);
	audit_all(w);
	assert_int_equal(w->jn, jn);
}

/* ---- admin changes: stock and window, journalled, replayed, remembered ---- */

static void test_store_admin_stock_window_replay(void **state)
{
	struct world *w = *state, *b = calloc(1, sizeof(*b));
	unsigned sh = fs_shard_of_item(2001, 2);
	struct store_change ch, got;
	struct store_item_counts c;
	struct fs_req r;
	struct fs_resp resp;
	int64_t start, end;
	bool moved = true;

	assert_non_null(b);
	buy_ok(w, 11, 1, 2001, 2, T0 + 1);
	/* Removing more than is free stops at what is held. */
	assert_int_equal(store_admin_stock(w->sh[sh], 2001, -100, 501, T0 + 2, &ch), 0);
	assert_int_equal(ch.type, STORE_CH_STOCK);
	assert_int_equal(ch.order_id, 5);
	assert_int_equal(ch.ref, 2);
	assert_int_equal((int64_t)ch.user_id, -100);
	assert_int_equal(w->jv[w->jn - 1].shard, sh);
	assert_int_equal(w->jv[w->jn - 1].ch.type, STORE_CH_STOCK);
	assert_int_equal(store_item_available(w->cat, 2001), 0);
	r = mk_buy(w, 12, 1, 2001, 1);
	submit(w, &r, T0 + 3, &resp);
	assert_int_equal(resp.status, FS_ST_SOLD_OUT);
	assert_int_equal(store_admin_stock(w->sh[sh], 2001, 4, 502, T0 + 4, &ch), 0);
	assert_int_equal(store_item_counts(w->sh[sh], 2001, &c), 0);
	assert_true(c.total == 6 && c.available == 4 && c.reserved == 2);
	buy_ok(w, 12, 2, 2001, 1, T0 + 5);
	/* Wrong shard, request_id 0, unavailable. */
	assert_int_equal(store_admin_stock(w->sh[1 - sh], 2001, 1, 503, T0, &ch), -ENOENT);
	assert_int_equal(store_admin_stock(w->sh[sh], 2001, 1, 0, T0, &ch), -EINVAL);
	store_shard_set_unavailable(w->sh[sh], true);
	assert_int_equal(store_admin_stock(w->sh[sh], 2001, 1, 503, T0, &ch), -EIO);
	store_shard_set_unavailable(w->sh[sh], false);
	/* The window: shard 0 only; the gate sees it at once. */
	assert_int_equal(store_admin_window(w->sh[1], 2, T0, T0 + 10, 504, T0, &ch), -EINVAL);
	assert_int_equal(store_admin_window(w->sh[0], 99, T0, T0 + 10, 504, T0, &ch), -ENOENT);
	assert_int_equal(store_admin_window(w->sh[0], 2, T0 + 10, T0, 504, T0, &ch), -EINVAL);
	assert_int_equal(store_catalog_window(w->cat, 2, &start, &end, &moved), 0);
	assert_false(moved);
	assert_int_equal(store_admin_window(w->sh[0], 2, T0, T0 + 10, 504, T0 + 6, &ch), 0);
	assert_int_equal(w->jv[w->jn - 1].shard, 0);
	r = mk_buy(w, 13, 1, 2001, 1);
	submit(w, &r, T0 + 20, &resp);
	assert_int_equal(resp.status, FS_ST_ENDED);
	/* Remembered by request_id on the shard that made it. */
	assert_int_equal(store_admin_find(w->sh[sh], 501, &got), 0);
	assert_int_equal(got.ref, 2);
	assert_int_equal(store_admin_find(w->sh[0], 504, &got), 0);
	assert_int_equal(got.type, STORE_CH_WINDOW);
	assert_int_equal(store_admin_find(w->sh[1 - sh], 501, &got), -ENOENT);
	audit_all(w);

	/* Replay the journal into a fresh world: the same totals, window and
	 * remembered answers. */
	std_cfg(b);
	world_start(b, 2);
	b->forbid_journal = true;
	for (size_t k = 0; k < w->jn; k++)
		assert_int_equal(store_apply(b->sh[w->jv[k].shard], &w->jv[k].ch), 0);
	b->forbid_journal = false;
	audit_all(b);
	assert_int_equal(store_item_counts(b->sh[sh], 2001, &c), 0);
	assert_true(c.total == 6 && c.available == 3 && c.reserved == 3);
	assert_int_equal(store_catalog_window(b->cat, 2, &start, &end, &moved), 0);
	assert_true(start == T0 && end == T0 + 10 && moved);
	assert_int_equal(store_admin_find(b->sh[sh], 502, &got), 0);
	assert_int_equal(got.ref, 6);
	/* A stock record that does not fit the state is corruption. */
	ch = (struct store_change){.type = STORE_CH_STOCK, .item_id = 2001, .order_id = 7,
				   .ref = 9, .request_id = 600, .time_ns = T0};
	assert_int_equal(store_apply(b->sh[sh], &ch), -EINVAL); /* total is 6, not 7 */
	ch.order_id = 6;
	ch.ref = 2; /* below reserved */
	assert_int_equal(store_apply(b->sh[sh], &ch), -EINVAL);
	ch.ref = 3;
	assert_int_equal(store_apply(b->sh[1 - sh], &ch), -EINVAL); /* not its item */
	assert_int_equal(store_apply(b->sh[sh], &ch), 0);
	assert_int_equal(store_item_available(b->cat, 2001), 0);
	ch = (struct store_change){.type = STORE_CH_WINDOW, .user_id = 2, .order_id = 5,
				   .ref = 4, .request_id = 601, .time_ns = T0};
	assert_int_equal(store_apply(b->sh[0], &ch), -EINVAL); /* empty window */
	ch.ref = 6;
	assert_int_equal(store_apply(b->sh[1], &ch), -EINVAL); /* not shard 0 */
	/* A fresh shard takes a snapshot's total; a used one does not. */
	assert_int_equal(store_shard_set_total(b->sh[sh], 2001, 10), -EINVAL);
	world_stop(b);
	std_cfg(b);
	world_start(b, 2);
	assert_int_equal(store_shard_set_total(b->sh[sh], 2001, 9), 0);
	assert_int_equal(store_item_available(b->cat, 2001), 9);
	assert_int_equal(store_shard_set_total(b->sh[1 - sh], 2001, 9), -ENOENT);
	assert_int_equal(store_shard_set_total(b->sh[sh], 2001, STORE_TOTAL_MAX + 1), -EINVAL);
	audit_all(b);
	world_stop(b);
	free(b);
}

/* The remembered admin changes are a bounded ring: the oldest go. */
static void test_store_admin_recent_bounded(void **state)
{
	struct world *w = *state;
	unsigned sh = fs_shard_of_item(2001, 2);
	struct store_change ch;
	uint32_t n = 0;

	for (uint64_t k = 1; k <= STORE_ADMIN_RECENT + 6; k++)
		assert_int_equal(store_admin_stock(w->sh[sh], 2001, 1, 1000 + k, T0, &ch), 0);
	assert_int_equal(store_admin_find(w->sh[sh], 1001, &ch), -ENOENT);
	assert_int_equal(store_admin_find(w->sh[sh], 1006, &ch), -ENOENT);
	assert_int_equal(store_admin_find(w->sh[sh], 1007, &ch), 0);
	assert_int_equal(store_admin_find(w->sh[sh], 1000 + STORE_ADMIN_RECENT + 6, &ch), 0);
	while (store_admin_recent(w->sh[sh], n, &ch) == 0)
		n++;
	assert_int_equal(n, STORE_ADMIN_RECENT);
	assert_int_equal(store_admin_recent(w->sh[sh], 0, &ch), 0);
	assert_int_equal(ch.request_id, 1007);
	ch.type = STORE_CH_RESERVE;
	assert_int_equal(store_admin_restore(w->sh[sh], &ch), -EINVAL);
	audit_all(w);
}

/* ---- the steady clock: a wall-clock step moves neither expiry nor retention ---- */

static int64_t g_steady;
static int64_t fake_steady(void)
{
	return g_steady;
}

static void steady_world(struct world *w)
{
	std_cfg(w);
	for (unsigned s = 0; s < 2; s++)
		w->params[s].steady_ns = fake_steady;
	g_steady = T0;
	world_start(w, 2);
}

static unsigned g_steady_reads;
static int64_t counting_steady(void)
{
	g_steady_reads++;
	return g_steady;
}

/* store_shard_clock_tick: one steady-clock read per tick, however many
 * decisions need it; the reading is used until the next tick; a shard never
 * ticked reads the clock for each decision, as before. */
static void test_store_clock_tick_reads_once_per_tick(void **state)
{
	struct world w;
	unsigned sh = fs_shard_of_item(2001, 2);
	unsigned before;

	(void)state;
	std_cfg(&w);
	for (unsigned s = 0; s < 2; s++)
		w.params[s].steady_ns = counting_steady;
	g_steady = T0;
	world_start(&w, 2);
	/* not ticked: every BUY reads the clock */
	before = g_steady_reads;
	buy_ok(&w, 1, 1, 2001, 1, T0);
	buy_ok(&w, 2, 1, 2001, 1, T0);
	assert_true(g_steady_reads >= before + 2);
	/* ticked: two BUYs, one read, both at that reading (item 2001 has 5 units) */
	store_shard_clock_tick(w.sh[sh]);
	before = g_steady_reads;
	g_steady = T0 + 5 * SEC;
	buy_ok(&w, 3, 1, 2001, 1, T0 + 5 * SEC);
	g_steady = T0 + 6 * SEC; /* later reads would see this; the tick's does not */
	buy_ok(&w, 4, 1, 2001, 1, T0 + 6 * SEC);
	assert_int_equal(g_steady_reads, before + 1);
	assert_int_equal(w.jv[w.jn - 1].ch.time_ns, T0 + 5 * SEC);
	/* the next tick reads again */
	store_shard_clock_tick(w.sh[sh]);
	buy_ok(&w, 5, 1, 2001, 1, T0 + 6 * SEC);
	assert_int_equal(g_steady_reads, before + 2);
	assert_int_equal(w.jv[w.jn - 1].ch.time_ns, T0 + 6 * SEC);
	audit_all(&w);
	world_stop(&w);
}

/* The wall clock steps back an hour after a BUY: the reservation still
 * expires after its 30 s pay timeout (old code: an hour later), and the
 * deadline the client is told follows the wall clock it now has. */
static void test_store_steady_step_back_expires_on_time(void **state)
{
	struct world w;
	unsigned sh = fs_shard_of_item(2001, 2);
	int64_t back = T0 - 3600 * SEC;
	uint64_t o;
	struct fs_req r;
	struct fs_resp resp;

	(void)state;
	steady_world(&w);
	o = buy_ok(&w, 1, 1, 2001, 2, T0);
	assert_int_equal(w.jv[w.jn - 1].ch.time_ns, T0);
	g_steady = T0 + 10 * SEC;
	r = mk_op(&w, FS_OP_ORDER_STATUS, 1, 2, o, 2001, 0, TOK_NONE);
	submit(&w, &r, back + 10 * SEC, &resp);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.deadline_ns, (uint64_t)(back + 30 * SEC));
	/* the sale window is on the wall clock: an hour before the start */
	r = mk_buy(&w, 2, 1, 2001, 1);
	submit(&w, &r, back + 10 * SEC, &resp);
	assert_int_equal(resp.status, FS_ST_NOT_STARTED);
	g_steady = T0 + 30 * SEC - 1;
	assert_int_equal(store_expire(w.sh[sh], back + 30 * SEC, 10), 0);
	g_steady = T0 + 30 * SEC;
	assert_int_equal(store_expire(w.sh[sh], back + 30 * SEC, 10), 1);
	assert_int_equal(w.jv[w.jn - 1].ch.type, STORE_CH_EXPIRE);
	assert_int_equal(w.jv[w.jn - 1].ch.time_ns, T0 + 30 * SEC);
	audit_all(&w);
	/* a CONFIRM of an order whose deadline passed on the steady clock is
	 * refused, whatever the wall clock says */
	o = buy_ok(&w, 3, 1, 2001, 1, T0 + 100 * SEC);
	g_steady = T0 + 200 * SEC;
	r = mk_op(&w, FS_OP_CONFIRM, 3, 2, o, 2001, 0, TOK_NONE);
	submit(&w, &r, T0 + 101 * SEC, &resp);
	assert_int_equal(resp.status, FS_ST_WRONG_STATE);
	assert_int_equal(resp.state, FS_STATE_EXPIRED);
	world_stop(&w);
}

/* Forward a day and back: the stored answer survives (retention runs on the
 * steady clock), so the retry gets the ORIGINAL order, not a second one. */
static void test_store_steady_step_forward_keeps_answer(void **state)
{
	struct world w;
	unsigned sh = fs_shard_of_item(2001, 2);
	struct fs_req r;
	struct fs_resp resp;
	uint64_t o;

	(void)state;
	steady_world(&w);
	o = buy_ok(&w, 1, 7, 2001, 1, T0);
	g_steady = T0 + SEC;
	assert_int_equal(store_idem_trim(w.sh[sh], T0 + 86400 * SEC, 100), 0);
	assert_int_equal(store_expire(w.sh[sh], T0 + 86400 * SEC, 100), 0);
	g_steady = T0 + 2 * SEC;
	r = mk_buy(&w, 1, 7, 2001, 1);
	submit(&w, &r, T0 + 2 * SEC, &resp);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.order_id, o);
	assert_int_equal(resp.deadline_ns, (uint64_t)(T0 + 30 * SEC));
	/* retention still ends on the steady clock */
	g_steady = T0 + 600 * SEC;
	assert_int_equal(store_idem_trim(w.sh[sh], T0 - 86400 * SEC, 100), 1);
	world_stop(&w);
}

/* A restart whose steady clock reads an hour earlier than the replayed log
 * (wall clock stepped back while down): the shard's clock continues from the
 * log, so new reservations queue behind the old ones in deadline order. */
static void test_store_steady_not_behind_replayed_log(void **state)
{
	struct world w, w2;
	unsigned sh = fs_shard_of_item(2001, 2);
	struct fs_resp resp;
	struct fs_req r;
	uint64_t o1, o2;

	(void)state;
	steady_world(&w);
	g_steady = T0 + 50 * SEC;
	o1 = buy_ok(&w, 1, 1, 2001, 1, T0 + 50 * SEC);
	steady_world(&w2);
	for (size_t i = 0; i < w.jn; i++)
		assert_int_equal(store_apply(w2.sh[w.jv[i].shard], &w.jv[i].ch), 0);
	g_steady = T0 - 3600 * SEC;
	r = mk_buy(&w2, 2, 1, 2001, 1);
	submit(&w2, &r, T0 + 60 * SEC, &resp);
	assert_int_equal(resp.status, FS_ST_OK);
	o2 = resp.order_id;
	assert_true(w2.jv[w2.jn - 1].ch.time_ns >= T0 + 50 * SEC);
	/* 31 s later on the steady clock both have expired, oldest first */
	g_steady = T0 - 3600 * SEC + 31 * SEC;
	assert_int_equal(store_expire(w2.sh[sh], T0, 10), 2);
	assert_int_equal(w2.jv[w2.jn - 2].ch.order_id, o1);
	assert_int_equal(w2.jv[w2.jn - 1].ch.order_id, o2);
	audit_all(&w2);
	world_stop(&w2);
	world_stop(&w);
}

/* ---- churn: one buyer's BUY + CANCEL loop cannot fill the order table ---- */

static void test_store_churn_capped_per_user_item(void **state)
{
	struct world *w = *state, w2;
	unsigned sh = fs_shard_of_item(2001, 2);
	struct store_stats st;
	struct fs_resp resp;
	struct fs_req r;
	uint64_t rid = 1, first = 0;

	store_shard_stats(w->sh[sh], &st);
	for (unsigned cycle = 0; cycle < 200; cycle++) {
		uint64_t o;

		r = mk_buy(w, 1, rid++, 2001, 1);
		submit(w, &r, T0 + cycle * SEC, &resp);
		if (cycle == STORE_CLOSED_MAX) {
			assert_int_equal(resp.status, FS_ST_LIMIT_EXCEEDED);
			break;
		}
		assert_int_equal(resp.status, FS_ST_OK);
		o = resp.order_id;
		if (!first)
			first = o;
		/* half cancelled, half left to lapse (30 s pay timeout) */
		if (cycle % 2 == 0) {
			r = mk_op(w, FS_OP_CANCEL, 1, rid++, o, 2001, 0, TOK_NONE);
			submit(w, &r, T0 + cycle * SEC, &resp);
			assert_int_equal(resp.status, FS_ST_OK);
		} else {
			assert_int_equal(store_expire(w->sh[sh], T0 + (cycle + 31) * SEC, 100), 1);
		}
	}
	/* still refused later, also for another qty; other items are not touched */
	r = mk_buy(w, 1, rid++, 2001, 2);
	submit(w, &r, T0 + 500 * SEC, &resp);
	assert_int_equal(resp.status, FS_ST_LIMIT_EXCEEDED);
	buy_ok(w, 1, rid++, 2002, 1, T0 + 500 * SEC);
	/* the other buyers get the whole stock */
	buy_ok(w, 2, 1, 2001, 2, T0 + 500 * SEC);
	buy_ok(w, 3, 1, 2001, 2, T0 + 500 * SEC);
	buy_ok(w, 4, 1, 2001, 1, T0 + 500 * SEC);
	/* an old closed order still answers ORDER_STATUS */
	r = mk_op(w, FS_OP_ORDER_STATUS, 1, rid++, first, 2001, 0, TOK_NONE);
	submit(w, &r, T0 + 500 * SEC, &resp);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.state, FS_STATE_CANCELLED);
	/* a replay of the journal rebuilds the count (store_audit checks it) */
	std_cfg(&w2);
	world_start(&w2, 2);
	w2.forbid_journal = true;
	for (size_t k = 0; k < w->jn; k++)
		assert_int_equal(store_apply(w2.sh[w->jv[k].shard], &w->jv[k].ch), 0);
	w2.forbid_journal = false;
	audit_all(&w2);
	r = mk_buy(&w2, 1, rid++, 2001, 1);
	assert_true(store_expire(w2.sh[sh], T0 + 600 * SEC, 100) >= 3); /* stock is back */
	submit(&w2, &r, T0 + 600 * SEC, &resp);
	assert_int_equal(resp.status, FS_ST_LIMIT_EXCEEDED);
	world_stop(&w2);
}

/* ---- memory budget ---- */

/* store_shard_bytes predicts exactly what a shard allocates, and the budget
 * adds up every shard and image. */
static void test_store_memory_need_matches_create(void **state)
{
	struct world *w = *state;
	struct store_budget b;
	uint64_t shards = 0;

	for (unsigned i = 0; i < w->nshards; i++) {
		struct store_memory before, after;
		store_shard_bytes(w->cat, &w->params[i], &before);
		store_shard_memory(w->sh[i], &after);
		assert_memory_equal(&before, &after, sizeof(before));
		shards += after.total;
	}
	assert_int_equal(store_memory_need(&w->cfg, w->nshards, 123, &b), 0);
	assert_int_equal(b.shards, shards);
	assert_int_equal(b.other, 123);
	assert_true(b.images >= 40 * (w->cfg.max_orders + w->cfg.max_idempotency) / 2);
	assert_int_equal(b.total, b.catalog + b.shards + b.images + b.other);
}

/* A config far beyond any machine is refused with both numbers; a small one
 * passes. */
static void test_store_memory_check_refuses_huge(void **state)
{
	struct world *w = *state;
	struct store_budget b;
	char err[1024], num[32];
	uint64_t allowed = store_memory_allowed(NULL, 0);

	(void)state;
	assert_int_equal(store_memory_check(&w->cfg, 2, 0, &b, err, sizeof(err)), 0);
	w->cfg.max_orders = 1000000000;
	w->cfg.max_idempotency = 4000000000u;
	if (allowed > 1000ULL << 30)
		skip();
	assert_int_equal(store_memory_check(&w->cfg, 2, 0, &b, err, sizeof(err)), -ENOMEM);
	assert_true(b.total > 2 * 40 * 5000000000ULL);
	snprintf(num, sizeof(num), "needs %" PRIu64 " bytes", b.total);
	assert_non_null(strstr(err, num));
	assert_non_null(strstr(err, "this machine allows "));
	assert_non_null(strstr(err, "max_orders = 1000000000"));
}

/* ---- rate limiter ---- */

static void test_store_ratelimit_burst_then_refuse(void **state)
{
	struct store_ratelimit *rl;
	uint32_t retry = 0;
	int64_t t = 1000 * SEC;

	(void)state;
	assert_int_equal(store_ratelimit_create(10, 3, 64, &rl), 0);
	for (int i = 0; i < 3; i++)
		assert_true(store_ratelimit_allow(rl, 42, t, &retry));
	assert_false(store_ratelimit_allow(rl, 42, t, &retry));
	assert_int_equal(retry, 100);
	assert_false(store_ratelimit_allow(rl, 42, t + 50 * FS_NS_PER_MS, &retry));
	assert_int_equal(retry, 50);
	assert_true(store_ratelimit_allow(rl, 42, t + 100 * FS_NS_PER_MS, &retry));
	assert_false(store_ratelimit_allow(rl, 42, t + 100 * FS_NS_PER_MS, &retry));
	/* an idle key refills up to burst, not more */
	t += 10 * SEC;
	for (int i = 0; i < 3; i++)
		assert_true(store_ratelimit_allow(rl, 42, t, &retry));
	assert_false(store_ratelimit_allow(rl, 42, t, &retry));
	assert_true(retry >= 1);
	/* another key has its own bucket (0 is a key too) */
	assert_true(store_ratelimit_allow(rl, 0, t, &retry));
	store_ratelimit_free(rl);
}

static void test_store_ratelimit_steady_rate(void **state)
{
	struct store_ratelimit *rl;
	uint32_t retry;
	unsigned ok = 0;

	(void)state;
	assert_int_equal(store_ratelimit_create(100, 1, 16, &rl), 0);
	/* 10 s of requests every 1 ms: 100/s get through (plus the first) */
	for (int64_t t = 0; t < 10 * SEC; t += FS_NS_PER_MS)
		ok += store_ratelimit_allow(rl, 7, t, &retry);
	assert_in_range(ok, 1000, 1001);
	store_ratelimit_free(rl);
}

static void test_store_ratelimit_collision_shares_not_forgives(void **state)
{
	struct store_ratelimit *rl;
	uint32_t retry;

	(void)state;
	assert_int_equal(store_ratelimit_create(1, 1, 1, &rl), 0); /* one bucket: all collide */
	assert_true(store_ratelimit_allow(rl, 1, 0, &retry));
	assert_false(store_ratelimit_allow(rl, 1, 0, &retry));
	assert_int_equal(retry, 1000);
	/* key 2 finds the only bucket refilling: it shares it, and is refused */
	assert_false(store_ratelimit_allow(rl, 2, 0, &retry));
	assert_false(store_ratelimit_allow(rl, 1, 0, &retry));
	/* once the bucket is full again a newcomer may take it over */
	assert_true(store_ratelimit_allow(rl, 2, 2 * SEC, &retry));
	assert_false(store_ratelimit_allow(rl, 1, 2 * SEC, &retry));
	store_ratelimit_free(rl);
}

static const uint8_t RL_KEY[STORE_RL_KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* n ids (starting at first) that land in the same set as base under rl's key. */
static unsigned rl_colliders(const struct store_ratelimit *rl, uint64_t base, uint64_t *out,
			     unsigned n)
{
	unsigned k = 0;

	for (uint64_t id = base + 1; k < n && id < base + 100000000; id++)
		if (store_ratelimit_set_of(rl, id) == store_ratelimit_set_of(rl, base))
			out[k++] = id;
	return k;
}

/* Many ids in one set, sending far over the limit for 2 s: no id ever gets
 * more than its own limit (burst + rate x elapsed), however they alternate. */
static void test_store_ratelimit_colliding_ids_each_limited(void **state)
{
	enum { N = 9, RATE = 10, BURST = 10 };
	struct store_ratelimit *rl;
	uint64_t ids[N];
	unsigned ok[N] = {0};
	uint32_t retry;

	(void)state;
	assert_int_equal(store_ratelimit_create(RATE, BURST, 65536, &rl), 0);
	store_ratelimit_set_key(rl, RL_KEY);
	ids[0] = 1000;
	assert_int_equal(rl_colliders(rl, ids[0], ids + 1, N - 1), N - 1);
	for (unsigned n = 2; n <= N; n++) { /* two colliding ids, then 3, ... 9 */
		int64_t t0 = (int64_t)n * 100 * SEC;

		memset(ok, 0, sizeof(ok));
		for (int64_t t = t0, i = 0; t < t0 + 2 * SEC; t += FS_NS_PER_MS, i++)
			ok[i % n] += store_ratelimit_allow(rl, ids[i % n], t, &retry);
		for (unsigned k = 0; k < n; k++)
			assert_in_range(ok[k], 1, BURST + 2 * RATE + 1);
	}
	/* the old direct-mapped table's attack: two ids alternating 500 times */
	memset(ok, 0, sizeof(ok));
	for (int i = 0; i < 500; i++)
		ok[0] += store_ratelimit_allow(rl, ids[i & 1], 10000 * SEC + i * FS_NS_PER_MS, &retry);
	assert_in_range(ok[0], 2 * BURST, 2 * (BURST + RATE) + 2);
	store_ratelimit_free(rl);
}

/* Distinct ids, one request each: every one has a full bucket, even where
 * several share a set; and the set of an id depends on the hash key. */
static void test_store_ratelimit_many_ids_and_the_key(void **state)
{
	struct store_ratelimit *rl, *rl2;
	uint8_t key2[STORE_RL_KEY_LEN] = {0};
	unsigned differ = 0;
	uint32_t retry;

	(void)state;
	assert_int_equal(store_ratelimit_create(10, 2, 1024, &rl), 0);
	assert_int_equal(store_ratelimit_create(10, 2, 1024, &rl2), 0);
	store_ratelimit_set_key(rl, RL_KEY);
	store_ratelimit_set_key(rl2, key2);
	/* one new id a millisecond: ~100 buckets refilling at any time, in
	 * 256 sets of 4 ways, so every id finds a full bucket to take */
	for (uint64_t id = 1; id <= 20000; id++) {
		assert_true(store_ratelimit_allow(rl, id, (int64_t)id * FS_NS_PER_MS, &retry));
		assert_true(store_ratelimit_set_of(rl, id) < 1024 / 4);
		differ += store_ratelimit_set_of(rl, id) != store_ratelimit_set_of(rl2, id);
	}
	assert_true(differ > 19000);
	/* an id that keeps its bucket is limited as before */
	assert_true(store_ratelimit_allow(rl, 7, 100 * SEC, &retry));
	assert_true(store_ratelimit_allow(rl, 7, 100 * SEC, &retry));
	assert_false(store_ratelimit_allow(rl, 7, 100 * SEC, &retry));
	/* a spray of new ids at one instant overflows the 1024 buckets: the
	 * overflow shares drained buckets and is refused rather than forgiven */
	unsigned refused = 0;
	for (uint64_t id = 100000; id < 104096; id++)
		refused += !store_ratelimit_allow(rl, id, 200 * SEC, &retry);
	assert_true(refused > 0 && refused < 4096 - 1024);
	store_ratelimit_free(rl);
	store_ratelimit_free(rl2);
}

static void test_store_ratelimit_create_invalid(void **state)
{
	struct store_ratelimit *rl = (void *)1;

	(void)state;
	assert_int_equal(store_ratelimit_create(0, 1, 16, &rl), -EINVAL);
	assert_null(rl);
	assert_int_equal(store_ratelimit_create(1, 0, 16, &rl), -EINVAL);
	assert_int_equal(store_ratelimit_create(1, 1, 12, &rl), -EINVAL);
	assert_int_equal(store_ratelimit_create(1, 1, 0, &rl), -EINVAL);
	assert_int_equal(store_ratelimit_create(2000000000u, 1, 1, &rl), 0);
	store_ratelimit_free(rl);
}

/* ---- the seeded random sequence and its reference model ----
 *
 * The model is deliberately naive: plain arrays indexed by (shard, user,
 * request_id), orders in creation order, linear scans. It mirrors PROTOCOL.md
 * and store.h, including the gate/owner split (a gate's "maybe a winner" is
 * "this (user, request_id) ever won a BUY on the item's shard").
 */

#define M_USERS	 10
#define M_REQ	 16384
#define M_SHARDS 2
#define M_ITEMS	 4
#define M_ORDERS 8192
#define M_START	 (T0 + 2 * SEC)
#define M_END	 (T0 + 300 * SEC)

static const struct {
	uint32_t id, act_id, total, limit;
	uint16_t mpo;
} M_ITEM[M_ITEMS] = {
	{11, 1, 12, 2, 1}, /* shard 1 */
	{13, 1, 20, 3, 2}, /* shard 0 */
	{21, 2, 6, 1, 1},  /* shard 1 */
	{22, 2, 15, 2, 2}, /* shard 0 */
};

struct m_order {
	uint64_t id, user;
	int64_t deadline;
	int item;
	uint16_t qty;
	uint8_t state;
};

struct m_key {
	bool used, won;
	uint8_t op, state;
	uint16_t qty;
	uint32_t item_id;
	uint64_t order_id;
	int64_t deadline, created;
};

struct m_trim {
	uint8_t shard, user;
	uint16_t req;
	int64_t created;
};

struct m_logged {
	struct fs_req req;
	enum tok_kind kind;
};

struct model {
	struct world *w;
	int64_t now;
	uint64_t rng;
	uint32_t avail[M_ITEMS], reserved[M_ITEMS], paid[M_ITEMS];
	uint32_t hold[M_USERS + 1][M_ITEMS];
	uint32_t closed[M_USERS + 1][M_ITEMS]; /* cancelled + expired orders */
	struct m_order orders[M_SHARDS][M_ORDERS];
	uint64_t norders[M_SHARDS], idem_count[M_SHARDS];
	uint64_t max_orders[M_SHARDS], max_idem[M_SHARDS];
	int64_t retention;
	struct m_key keys[M_SHARDS][M_USERS + 1][M_REQ];
	struct m_trim *trim;
	size_t trim_n, trim_head, trim_cap;
	bool unavailable[M_SHARDS];
	uint32_t next_req[M_USERS + 1];
	uint64_t hist[FS_ST_COUNT];
	uint64_t expired, trimmed;
	uint64_t closed_refused; /* BUYs refused by STORE_CLOSED_MAX */
	struct m_logged *oks;
	size_t ok_n, ok_cap;
	unsigned unavail_until[M_SHARDS];
};

static uint64_t m_rand(struct model *m)
{
	uint64_t z = (m->rng += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static unsigned m_below(struct model *m, unsigned n)
{
	return (unsigned)(m_rand(m) % n);
}

static bool m_chance(struct model *m, unsigned per_mille)
{
	return m_below(m, 1000) < per_mille;
}

static int m_item(uint32_t item_id)
{
	for (int i = 0; i < M_ITEMS; i++)
		if (M_ITEM[i].id == item_id)
			return i;
	return -1;
}

static unsigned m_owner(int i)
{
	return fs_shard_of_item(M_ITEM[i].id, M_SHARDS);
}

static const struct cfg_activity *m_act(struct model *m, int i)
{
	return &m->w->acts[M_ITEM[i].act_id - 1];
}

static void m_cfg(struct world *w)
{
	memset(w, 0, sizeof(*w));
	w->cfg.activities = w->acts;
	w->cfg.items = w->items;
	w->cfg.max_orders = 1000;
	w->cfg.idempotency_retention_s = 600;
	add_act(w, 1, M_START, M_END, true, true, 5);
	add_act(w, 2, M_START, M_END, false, false, 3);
	for (int i = 0; i < M_ITEMS; i++)
		add_item(w, M_ITEM[i].id, M_ITEM[i].act_id, M_ITEM[i].total, M_ITEM[i].limit,
			 M_ITEM[i].mpo);
	/* shard 0 runs out of orders late in the run, shard 1 of stored answers */
	w->params[0] = (struct store_shard_params){.max_orders = 500,
						   .max_idempotency = 3000,
						   .first_seq = 1,
						   .idempotency_retention_ns = 20 * SEC};
	w->params[1] = (struct store_shard_params){.max_orders = 3000,
						   .max_idempotency = 25,
						   .first_seq = 1,
						   .idempotency_retention_ns = 20 * SEC};
}

static void m_init(struct model *m, struct world *w, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	m->w = w;
	m->rng = seed;
	m->now = T0;
	m->retention = 20 * SEC;
	for (int i = 0; i < M_ITEMS; i++)
		m->avail[i] = M_ITEM[i].total;
	for (unsigned s = 0; s < M_SHARDS; s++) {
		m->max_orders[s] = w->params[s].max_orders;
		m->max_idem[s] = w->params[s].max_idempotency;
	}
	for (unsigned u = 0; u <= M_USERS; u++)
		m->next_req[u] = 1;
}

static void m_free(struct model *m)
{
	free(m->trim);
	free(m->oks);
}

static void m_resp(struct fs_resp *e, const struct fs_req *req, int64_t now, uint8_t status)
{
	*e = (struct fs_resp){.op = req->op,
			      .status = status,
			      .item_id = req->item_id,
			      .user_id = req->user_id,
			      .request_id = req->request_id,
			      .order_id = req->order_id,
			      .server_time_ns = (uint64_t)now};
}

static struct m_order *m_find_order(struct model *m, uint64_t order_id)
{
	unsigned sh = fs_shard_of_order(order_id);
	uint64_t seq = fs_order_seq(order_id);

	if (sh >= M_SHARDS || seq == 0 || seq > m->norders[sh])
		return NULL;
	return &m->orders[sh][seq - 1];
}

static void m_store_key(struct model *m, unsigned sh, const struct fs_req *req, struct m_key *k)
{
	assert_true(!k->used);
	k->used = true;
	k->created = m->now;
	if (m->trim_n == m->trim_cap) {
		m->trim_cap = m->trim_cap ? 2 * m->trim_cap : 1024;
		m->trim = realloc(m->trim, m->trim_cap * sizeof(*m->trim));
		assert_non_null(m->trim);
	}
	m->trim[m->trim_n++] = (struct m_trim){(uint8_t)sh, (uint8_t)req->user_id,
					       (uint16_t)req->request_id, m->now};
	m->idem_count[sh]++;
}

static void m_release(struct model *m, struct m_order *o, uint8_t state)
{
	o->state = state;
	m->avail[o->item] += o->qty;
	m->reserved[o->item] -= o->qty;
	m->hold[o->user][o->item] -= o->qty;
	m->closed[o->user][o->item]++;
}

/* Owner part of a BUY that passed the gate. */
static void m_buy_owner(struct model *m, int i, unsigned sh, struct m_key *k,
			const struct fs_req *req, struct fs_resp *e)
{
	struct m_order *o;

	if (k->used) {
		if (k->op != FS_OP_BUY || k->item_id != req->item_id) {
			e->status = FS_ST_BAD_REQUEST;
			return;
		}
		if (m->unavailable[sh]) { /* never repeat an OK after a storage fault */
			e->status = FS_ST_UNAVAILABLE;
			return;
		}
		e->qty = k->qty;
		e->order_id = k->order_id;
		e->deadline_ns = (uint64_t)k->deadline;
		return;
	}
	if (m->now >= M_END) {
		e->status = FS_ST_ENDED;
		return;
	}
	if (m->avail[i] < req->qty) {
		e->status = FS_ST_SOLD_OUT;
		return;
	}
	if (m->hold[req->user_id][i] + req->qty > M_ITEM[i].limit) {
		e->status = FS_ST_LIMIT_EXCEEDED;
		return;
	}
	if (m->closed[req->user_id][i] >= STORE_CLOSED_MAX) {
		m->closed_refused++;
		e->status = FS_ST_LIMIT_EXCEEDED;
		return;
	}
	if (m->unavailable[sh]) {
		e->status = FS_ST_UNAVAILABLE;
		return;
	}
	if (m->norders[sh] >= m->max_orders[sh] || m->idem_count[sh] >= m->max_idem[sh]) {
		e->status = FS_ST_BUSY;
		e->retry_after_ms = 1000;
		return;
	}
	assert_true(m->norders[sh] < M_ORDERS);
	o = &m->orders[sh][m->norders[sh]++];
	*o = (struct m_order){.id = fs_order_id(m->norders[sh], sh),
			      .user = req->user_id,
			      .item = i,
			      .qty = req->qty,
			      .state = FS_STATE_RESERVED,
			      .deadline = m->now + (int64_t)m_act(m, i)->pay_timeout_s * SEC};
	m->avail[i] -= req->qty;
	m->reserved[i] += req->qty;
	m->hold[req->user_id][i] += req->qty;
	k->won = true;
	k->op = FS_OP_BUY;
	k->state = 0;
	k->item_id = req->item_id;
	k->qty = req->qty;
	k->order_id = o->id;
	k->deadline = o->deadline;
	m_store_key(m, sh, req, k);
	e->qty = req->qty;
	e->order_id = o->id;
	e->deadline_ns = (uint64_t)o->deadline;
}

static void m_buy(struct model *m, const struct fs_req *req, bool tok_ok, struct fs_resp *e)
{
	int i = m_item(req->item_id);
	const struct cfg_activity *a;
	struct m_key *k;
	unsigned sh;
	bool maybe;

	m_resp(e, req, m->now, FS_ST_OK);
	if (req->user_id == 0 || req->request_id == 0 || req->qty == 0) {
		e->status = FS_ST_BAD_REQUEST;
		return;
	}
	if (i < 0) {
		e->status = FS_ST_UNKNOWN_ITEM;
		return;
	}
	a = m_act(m, i);
	sh = m_owner(i);
	k = &m->keys[sh][req->user_id][req->request_id];
	maybe = k->won && (tok_ok || !a->require_token);
	e->available = m->avail[i];
	if (req->qty > M_ITEM[i].mpo) {
		e->status = FS_ST_LIMIT_EXCEEDED;
	} else if (m->now < M_START) {
		e->status = FS_ST_NOT_STARTED;
		e->retry_after_ms =
			(uint32_t)((M_START - m->now + FS_NS_PER_MS - 1) / FS_NS_PER_MS);
	} else if (m->now >= M_END && !maybe) {
		e->status = FS_ST_ENDED;
	} else if (m->now < M_END && m->avail[i] < req->qty && !maybe) {
		e->status = FS_ST_SOLD_OUT;
	} else if (m->now < M_END && m->avail[i] >= req->qty && a->require_token && !tok_ok) {
		e->status = FS_ST_BAD_TOKEN;
	} else {
		m_buy_owner(m, i, sh, k, req, e);
		e->available = m->avail[i];
	}
}

static bool m_token_ok(const struct cfg_activity *a, uint8_t op, enum tok_kind kind)
{
	if (op == FS_OP_CONFIRM)
		return !a->has_payment_key || kind == TOK_PAY;
	if (op == FS_OP_ORDER_STATUS)
		return !a->require_token || kind == TOK_BUY;
	/* CANCEL: the user's form (a buy token only when required) or the
	 * payment system's form. */
	if (!a->require_token || kind == TOK_BUY)
		return true;
	return a->has_payment_key && kind == TOK_PAY;
}

static void m_settle_order(struct model *m, unsigned sh, struct m_order *o,
			   const struct fs_req *req, struct fs_resp *e)
{
	struct m_key *k = &m->keys[sh][req->user_id][req->request_id];
	uint8_t state = req->op == FS_OP_CONFIRM ? FS_STATE_PAID : FS_STATE_CANCELLED;

	if (o->state == FS_STATE_RESERVED) {
		if (m->unavailable[sh]) {
			e->status = FS_ST_UNAVAILABLE;
			return;
		}
		if (o->deadline <= m->now) {
			m_release(m, o, FS_STATE_EXPIRED);
			m->expired++;
		}
	}
	if (o->state != FS_STATE_RESERVED) {
		e->status = FS_ST_WRONG_STATE;
		e->state = o->state;
		return;
	}
	if (m->idem_count[sh] >= m->max_idem[sh]) {
		e->status = FS_ST_BUSY;
		e->retry_after_ms = 1000;
		return;
	}
	if (state == FS_STATE_PAID) {
		o->state = state;
		m->reserved[o->item] -= o->qty;
		m->paid[o->item] += o->qty;
	} else {
		m_release(m, o, state);
	}
	k->op = req->op;
	k->state = state;
	k->item_id = M_ITEM[o->item].id;
	k->qty = o->qty;
	k->order_id = o->id;
	m_store_key(m, sh, req, k);
	e->state = state;
}

static void m_order_op(struct model *m, const struct fs_req *req, enum tok_kind kind,
		       struct fs_resp *e)
{
	unsigned sh = fs_shard_of_order(req->order_id);
	struct m_order *o;

	m_resp(e, req, m->now, FS_ST_OK);
	if (req->user_id == 0 || (req->op != FS_OP_ORDER_STATUS && req->request_id == 0)) {
		e->status = FS_ST_BAD_REQUEST;
		return;
	}
	if (req->order_id == 0 || sh >= M_SHARDS) {
		e->status = FS_ST_NOT_FOUND;
		return;
	}
	if (req->op != FS_OP_ORDER_STATUS) {
		const struct m_key *k = &m->keys[sh][req->user_id][req->request_id];
		if (k->used) {
			if (k->op != req->op || k->order_id != req->order_id) {
				e->status = FS_ST_BAD_REQUEST;
			} else if (m->unavailable[sh]) {
				e->status = FS_ST_UNAVAILABLE;
			} else {
				e->item_id = k->item_id;
				e->state = k->state;
			}
			return;
		}
	}
	o = m_find_order(m, req->order_id);
	if (!o || o->user != req->user_id) {
		e->status = FS_ST_NOT_FOUND;
		return;
	}
	if (!m_token_ok(m_act(m, o->item), req->op, kind)) {
		e->status = FS_ST_BAD_TOKEN;
		return;
	}
	e->item_id = M_ITEM[o->item].id;
	if (req->op != FS_OP_ORDER_STATUS) {
		m_settle_order(m, sh, o, req, e);
		return;
	}
	e->qty = o->qty;
	e->state = o->state;
	if (o->state == FS_STATE_RESERVED)
		e->deadline_ns = (uint64_t)o->deadline;
}

static unsigned m_expire(struct model *m, unsigned sh)
{
	unsigned n = 0;

	if (m->unavailable[sh])
		return 0;
	for (uint64_t k = 0; k < m->norders[sh]; k++) {
		struct m_order *o = &m->orders[sh][k];
		if (o->state == FS_STATE_RESERVED && o->deadline <= m->now) {
			m_release(m, o, FS_STATE_EXPIRED);
			n++;
		}
	}
	m->expired += n;
	return n;
}

static void m_trim(struct model *m, unsigned n[M_SHARDS])
{
	n[0] = n[1] = 0;
	while (m->trim_head < m->trim_n && m->trim[m->trim_head].created <= m->now - m->retention) {
		const struct m_trim *t = &m->trim[m->trim_head++];
		struct m_key *k = &m->keys[t->shard][t->user][t->req];

		assert_true(k->used && k->created == t->created);
		k->used = false;
		m->idem_count[t->shard]--;
		n[t->shard]++;
	}
	m->trimmed += n[0] + n[1];
}

static void cmp_resp(const struct fs_resp *e, const struct fs_resp *g, unsigned step)
{
	if (e->op == g->op && e->status == g->status && e->qty == g->qty &&
	    e->item_id == g->item_id && e->user_id == g->user_id &&
	    e->request_id == g->request_id && e->order_id == g->order_id &&
	    e->server_time_ns == g->server_time_ns && e->deadline_ns == g->deadline_ns &&
	    e->available == g->available && e->state == g->state &&
	    e->retry_after_ms == g->retry_after_ms)
		return;
	fail_msg("step %u op %s user %" PRIu64 " req %" PRIu64 " item %u order %" PRIu64
		 ": expected %s qty %u order %" PRIu64 " deadline %" PRIu64
		 " avail %u state %u retry %u item %u; got %s qty %u order %" PRIu64
		 " deadline %" PRIu64 " avail %u state %u retry %u item %u",
		 step, fs_op_name(e->op), e->user_id, e->request_id, e->item_id, e->order_id,
		 fs_status_name(e->status), e->qty, e->order_id, e->deadline_ns, e->available,
		 e->state, e->retry_after_ms, e->item_id, fs_status_name(g->status), g->qty,
		 g->order_id, g->deadline_ns, g->available, g->state, g->retry_after_ms,
		 g->item_id);
}

static void m_log_ok(struct model *m, const struct fs_req *req, enum tok_kind kind)
{
	if (m->ok_n == m->ok_cap) {
		m->ok_cap = m->ok_cap ? 2 * m->ok_cap : 1024;
		m->oks = realloc(m->oks, m->ok_cap * sizeof(*m->oks));
		assert_non_null(m->oks);
	}
	m->oks[m->ok_n++] = (struct m_logged){*req, kind};
}

/* A request id for user u: mostly fresh, sometimes reused. */
static uint64_t m_req_id(struct model *m, uint64_t u, unsigned reuse_per_mille)
{
	if (u == 0)
		return 1 + m_below(m, 50);
	if (m->next_req[u] > 1 && m_chance(m, reuse_per_mille))
		return 1 + m_below(m, m->next_req[u] - 1);
	assert_true(m->next_req[u] < M_REQ);
	return m->next_req[u]++;
}

static void m_set_token(struct model *m, struct fs_req *r, int i, enum tok_kind kind)
{
	const struct cfg_activity *a = m_act(m, i);

	memset(r->token, 0, sizeof(r->token));
	if (kind == TOK_BUY)
		fs_token_buy(a->token_key, r->user_id, a->id, r->token);
	else if (kind == TOK_PAY)
		fs_token_pay(a->payment_key, r->order_id, r->user_id, r->ref, r->token);
	else if (kind == TOK_BAD)
		memset(r->token, 0xa5, sizeof(r->token));
}

static void m_step_buy(struct model *m, struct fs_req *r, enum tok_kind *kind)
{
	uint64_t u = m_chance(m, 30) ? 0 : 1 + m_below(m, M_USERS);
	int i = m_below(m, M_ITEMS);

	*r = (struct fs_req){.op = FS_OP_BUY,
			     .user_id = u,
			     .request_id = m_req_id(m, u, 150),
			     .item_id = m_chance(m, 20) ? 99 : M_ITEM[i].id,
			     .qty = (uint16_t)(m_chance(m, 20) ? 0 : 1 + m_below(m, 3))};
	*kind = m_chance(m, 80) ? TOK_BAD : TOK_BUY;
	m_set_token(m, r, i, *kind);
}

/* An order id: mostly a real one, sometimes one that does not exist. */
static uint64_t m_pick_order(struct model *m, int *item, uint64_t *owner)
{
	unsigned sh = m_below(m, M_SHARDS), x = m_below(m, 100);

	*item = m_below(m, M_ITEMS);
	*owner = 1 + m_below(m, M_USERS);
	if (x < 3)
		return 0;
	if (x < 6)
		return fs_order_id(1, 7);
	if (x < 10 || m->norders[sh] == 0)
		return fs_order_id(m->norders[sh] + 1 + m_below(m, 3), sh);
	{
		const struct m_order *o = &m->orders[sh][m_below(m, (unsigned)m->norders[sh])];
		*item = o->item;
		*owner = o->user;
		return o->id;
	}
}

static void m_step_order(struct model *m, uint8_t op, struct fs_req *r, enum tok_kind *kind)
{
	int i;
	uint64_t owner, order = m_pick_order(m, &i, &owner);
	uint64_t u = m_chance(m, 150) ? (m_chance(m, 100) ? 0 : 1 + m_below(m, M_USERS)) : owner;
	unsigned t = m_below(m, 100);

	*r = (struct fs_req){.op = op, .user_id = u, .order_id = order, .ref = m_below(m, 1000)};
	r->request_id = op == FS_OP_ORDER_STATUS ? m_below(m, 3) : m_req_id(m, u, 150);
	if (op == FS_OP_CONFIRM)
		*kind = t < 20 ? TOK_PAY : TOK_BAD;
	else if (op == FS_OP_CANCEL)
		*kind = t < 40 ? TOK_BUY : t < 80 ? TOK_PAY : t < 90 ? TOK_BAD : TOK_NONE;
	else
		*kind = t < 90 ? TOK_BUY : TOK_BAD;
	m_set_token(m, r, i, *kind);
}

/* One request through the store and the model; the answers must agree. */
static void m_request(struct model *m, const struct fs_req *r, enum tok_kind kind, unsigned step)
{
	struct fs_resp e, g;

	if (r->op == FS_OP_BUY)
		m_buy(m, r, kind == TOK_BUY, &e);
	else if (r->op <= FS_OP_ORDER_STATUS)
		m_order_op(m, r, kind, &e);
	else if (r->op == FS_OP_ITEM_STATUS) {
		int i = m_item(r->item_id);
		m_resp(&e, r, m->now, i < 0 ? FS_ST_UNKNOWN_ITEM : FS_ST_OK);
		e.available = i < 0 ? 0 : m->avail[i];
	} else {
		m_resp(&e, r, m->now, FS_ST_OK);
	}
	submit(m->w, r, m->now, &g);
	cmp_resp(&e, &g, step);
	m->hist[g.status]++;
	if (g.status == FS_ST_OK && r->op <= FS_OP_CANCEL)
		m_log_ok(m, r, kind);
}

static void m_check_counts(struct model *m)
{
	for (int i = 0; i < M_ITEMS; i++) {
		struct store_item_counts c;
		assert_int_equal(store_item_counts(m->w->sh[m_owner(i)], M_ITEM[i].id, &c), 0);
		assert_int_equal(c.available, m->avail[i]);
		assert_int_equal(c.reserved, m->reserved[i]);
		assert_int_equal(c.paid, m->paid[i]);
	}
}

static void m_housekeeping(struct model *m, unsigned x, unsigned step)
{
	if (x < 50) {
		for (unsigned s = 0; s < M_SHARDS; s++) {
			unsigned want = m_expire(m, s);
			assert_int_equal(store_expire(m->w->sh[s], m->now, UINT32_MAX), want);
		}
	} else if (x < 70) {
		unsigned n[M_SHARDS];
		m_trim(m, n);
		for (unsigned s = 0; s < M_SHARDS; s++)
			assert_int_equal(store_idem_trim(m->w->sh[s], m->now, UINT32_MAX), n[s]);
	} else if (x < 71) { /* a storage fault for a while */
		unsigned s = m_below(m, M_SHARDS);
		m->unavailable[s] = true;
		m->unavail_until[s] = step + 30 + m_below(m, 100);
		store_shard_set_unavailable(m->w->sh[s], true);
	}
	audit_all(m->w);
}

static void m_step(struct model *m, unsigned step)
{
	unsigned x = m_below(m, 1000);
	enum tok_kind kind = TOK_NONE;
	struct fs_req r;

	for (unsigned s = 0; s < M_SHARDS; s++) {
		if (m->unavailable[s] && step >= m->unavail_until[s]) {
			m->unavailable[s] = false;
			store_shard_set_unavailable(m->w->sh[s], false);
		}
	}
	if (m_chance(m, 300))
		m->now += (int64_t)m_below(m, 30) * FS_NS_PER_MS;
	if (m_chance(m, 2))
		m->now += (int64_t)m_below(m, 8000) * FS_NS_PER_MS;
	if (x < 400) {
		m_step_buy(m, &r, &kind);
	} else if (x < 520 && m->ok_n) { /* an exact retry of an answered request */
		const struct m_logged *l = &m->oks[m_below(m, (unsigned)m->ok_n)];
		r = l->req;
		kind = l->kind;
	} else if (x < 600) {
		m_step_order(m, FS_OP_CONFIRM, &r, &kind);
	} else if (x < 770) {
		m_step_order(m, FS_OP_CANCEL, &r, &kind);
	} else if (x < 850) {
		m_step_order(m, FS_OP_ORDER_STATUS, &r, &kind);
	} else if (x < 880) {
		r = (struct fs_req){.op = FS_OP_ITEM_STATUS,
				    .item_id = m_chance(m, 100) ? 98 : M_ITEM[m_below(m, 4)].id};
	} else if (x < 890) {
		r = (struct fs_req){.op = m_chance(m, 300) ? 0 : FS_OP_TIME, .request_id = step};
	} else {
		m_housekeeping(m, x - 890, step);
		return;
	}
	if (r.op == 0) {
		struct fs_resp g;
		submit(m->w, &r, m->now, &g);
		assert_int_equal(g.status, FS_ST_BAD_REQUEST);
		m->hist[g.status]++;
		return;
	}
	m_request(m, &r, kind, step);
	if (step % 64 == 0)
		m_check_counts(m);
}

#define M_STEPS 30000

static void m_run(struct model *m, struct world *w, uint64_t seed, unsigned steps)
{
	m_cfg(w);
	world_start(w, M_SHARDS);
	m_init(m, w, seed);
	for (unsigned step = 0; step < steps; step++)
		m_step(m, step);
	m_check_counts(m);
}

static void test_store_random_sequence_matches_model(void **state)
{
	static const uint8_t must[] = {
		FS_ST_OK,	   FS_ST_SOLD_OUT,     FS_ST_LIMIT_EXCEEDED, FS_ST_NOT_STARTED,
		FS_ST_ENDED,	   FS_ST_BAD_TOKEN,    FS_ST_BUSY,	     FS_ST_NOT_FOUND,
		FS_ST_BAD_REQUEST, FS_ST_UNKNOWN_ITEM, FS_ST_WRONG_STATE,    FS_ST_UNAVAILABLE,
	};
	struct model *m = calloc(1, sizeof(*m));
	struct world *w = calloc(1, sizeof(*w));

	(void)state;
	assert_non_null(m);
	assert_non_null(w);
	for (uint64_t seed = 1; seed <= 2; seed++) {
		m_run(m, w, seed * 0x1234567ULL, M_STEPS);
		print_message("seed %" PRIu64 ": %u steps, orders %" PRIu64 "+%" PRIu64
			      ", expired %" PRIu64 ", trimmed %" PRIu64 ", journal %zu"
			      ", refused for churn %" PRIu64 "\n",
			      seed, M_STEPS, m->norders[0], m->norders[1], m->expired, m->trimmed,
			      w->jn, m->closed_refused);
		/* users who cancelled or let lapse STORE_CLOSED_MAX orders of an
		 * item were refused it, and the shards agreed at every step */
		assert_true(m->closed_refused > 0);
		for (int i = 0; i < M_ITEMS; i++)
			print_message("  item %u: available %u reserved %u paid %u\n", M_ITEM[i].id,
				      m->avail[i], m->reserved[i], m->paid[i]);
		for (unsigned st = 0; st < FS_ST_COUNT; st++)
			if (m->hist[st])
				print_message("  %-15s %" PRIu64 "\n", fs_status_name(st),
					      m->hist[st]);
		for (size_t k = 0; k < sizeof(must); k++)
			if (m->hist[must[k]] == 0)
				fail_msg("status %s never seen", fs_status_name(must[k]));
		m_free(m);
		world_stop(w);
	}
	free(w);
	free(m);
}

/* Replay world a's journal into a fresh world b. */
static void replay_into(struct world *a, struct world *b)
{
	m_cfg(b);
	world_start(b, M_SHARDS);
	b->forbid_journal = true;
	for (size_t k = 0; k < a->jn; k++) {
		const struct jrec *j = &a->jv[k];
		assert_int_equal(j->shard, fs_shard_of_order(j->ch.order_id));
		if (store_apply(b->sh[j->shard], &j->ch) != 0)
			fail_msg("record %zu (type %u order %" PRIu64 ") refused", k, j->ch.type,
				 j->ch.order_id);
	}
	b->forbid_journal = false;
	audit_all(b);
}

static void cmp_worlds(struct model *m, struct world *a, struct world *b)
{
	struct fs_resp ra, rb;

	for (unsigned s = 0; s < M_SHARDS; s++) {
		struct store_stats sa, sb;
		store_shard_stats(a->sh[s], &sa);
		store_shard_stats(b->sh[s], &sb);
		assert_int_equal(sa.next_seq, sb.next_seq);
		assert_int_equal(sa.holdings, sb.holdings);
		assert_int_equal(sa.idem_entries, sb.idem_entries);
		assert_int_equal(sa.expired, sb.expired);
	}
	for (int i = 0; i < M_ITEMS; i++) {
		struct store_item_counts ca, cb;
		assert_int_equal(store_item_counts(a->sh[m_owner(i)], M_ITEM[i].id, &ca), 0);
		assert_int_equal(store_item_counts(b->sh[m_owner(i)], M_ITEM[i].id, &cb), 0);
		assert_int_equal(ca.item_id, cb.item_id);
		assert_int_equal(ca.total, cb.total);
		assert_int_equal(ca.available, cb.available);
		assert_int_equal(ca.reserved, cb.reserved);
		assert_int_equal(ca.paid, cb.paid);
	}
	for (unsigned s = 0; s < M_SHARDS; s++) {
		for (uint64_t k = 0; k < m->norders[s]; k++) {
			const struct m_order *o = &m->orders[s][k];
			struct fs_req r = {
				.op = FS_OP_ORDER_STATUS, .user_id = o->user, .order_id = o->id};
			m_set_token(m, &r, o->item, TOK_BUY);
			submit(a, &r, m->now, &ra);
			submit(b, &r, m->now, &rb);
			assert_int_equal(ra.status, FS_ST_OK);
			cmp_resp(&ra, &rb, (unsigned)k);
		}
	}
	/* every answered request, retried: the same answer in both worlds */
	for (size_t k = 0; k < m->ok_n; k++) {
		submit(a, &m->oks[k].req, m->now, &ra);
		submit(b, &m->oks[k].req, m->now, &rb);
		cmp_resp(&ra, &rb, (unsigned)k);
	}
}

static void test_store_apply_replay_matches_original(void **state)
{
	struct model *m = calloc(1, sizeof(*m));
	struct world *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
	size_t ok_stored = 0;

	(void)state;
	assert_true(m && a && b);
	m_run(m, a, 77, M_STEPS / 2);
	replay_into(a, b);
	/* trim both at the same time so that both keep the same answers */
	for (unsigned s = 0; s < M_SHARDS; s++) {
		store_idem_trim(a->sh[s], m->now, UINT32_MAX);
		store_idem_trim(b->sh[s], m->now, UINT32_MAX);
	}
	for (unsigned s = 0; s < M_SHARDS; s++) {
		struct store_stats st;
		store_shard_stats(b->sh[s], &st);
		ok_stored += st.idem_entries;
	}
	assert_true(ok_stored > 0); /* some answers are compared as stored ones */
	cmp_worlds(m, a, b);
	m_free(m);
	world_stop(a);
	world_stop(b);
	free(a);
	free(b);
	free(m);
}

/* ---- the catalog at run time (store_catalog_define) ---- */

static void def_item(struct store_catalog_def *d, uint32_t id, uint32_t total, uint32_t limit)
{
	d->items[d->n_items++] = (struct store_item_def){.id = id,
							 .total = total,
							 .per_user_limit = limit,
							 .max_per_order = 1,
							 .price_cents = 500};
}

static void def_activity(struct store_catalog_def *d, uint64_t rid, uint32_t act, bool tok)
{
	memset(d, 0, sizeof(*d));
	d->request_id = rid;
	d->has_activity = true;
	d->act.id = act;
	snprintf(d->act.name, sizeof(d->act.name), "runtime %u", act);
	d->act.start_ns = T0;
	d->act.end_ns = T0 + 3600 * SEC;
	d->act.pay_timeout_s = 45;
	d->act.require_token = tok;
	if (tok)
		memcpy(d->act.token_key, KEY_TOKEN, 16);
}

static struct fs_req rt_buy(uint32_t act, bool tok, uint64_t user, uint64_t rid, uint32_t item)
{
	struct fs_req r = {
		.op = FS_OP_BUY, .qty = 1, .item_id = item, .user_id = user, .request_id = rid};

	if (tok)
		fs_token_buy(KEY_TOKEN, user, act, r.token);
	return r;
}

static void test_store_catalog_define_publish(void **state)
{
	struct world *w = *state;
	struct store_catalog_def d;
	struct fs_resp resp;
	struct fs_req r = rt_buy(9, true, 7, 1, 9001);
	struct store_item_counts c;
	struct cfg_item ci;
	struct cfg_activity ca;
	uint64_t rid;
	char why[128];

	assert_int_equal(submit(w, &r, T0 + SEC, &resp), -1);
	assert_int_equal(resp.status, FS_ST_UNKNOWN_ITEM);
	def_activity(&d, 77, 9, true);
	def_item(&d, 9001, 2, 1);
	def_item(&d, 9002, 5, 2);
	assert_int_equal(store_define_all(w->cat, w->sh, &d, why, sizeof(why)), 0);
	assert_int_equal(store_catalog_items(w->cat), 6);
	assert_int_equal(store_catalog_activities(w->cat), 4);
	assert_int_equal(store_catalog_item_at(w->cat, 4, &ci, &rid), 0);
	assert_int_equal(ci.id, 9001);
	assert_int_equal(rid, 77);
	assert_int_equal(store_catalog_item_at(w->cat, 0, &ci, &rid), 0);
	assert_int_equal(rid, 0);
	assert_true(store_catalog_is_runtime(w->cat, 5) && !store_catalog_is_runtime(w->cat, 3));
	assert_int_equal(store_catalog_activity(w->cat, 9, &ca), 0);
	assert_int_equal(ca.pay_timeout_s, 45);
	/* the new item sells through gate and owner, with its own limit and token */
	assert_true(submit(w, &r, T0 + SEC, &resp) >= 0);
	assert_int_equal(resp.status, FS_ST_OK);
	assert_int_equal(resp.deadline_ns, (uint64_t)(T0 + SEC + 45 * SEC));
	r.request_id = 2;
	submit(w, &r, T0 + SEC, &resp);
	assert_int_equal(resp.status, FS_ST_LIMIT_EXCEEDED);
	r = rt_buy(9, false, 8, 1, 9001);
	assert_int_equal(submit(w, &r, T0 + SEC, &resp), -1);
	assert_int_equal(resp.status, FS_ST_BAD_TOKEN);
	assert_int_equal(store_item_counts(w->sh[fs_shard_of_item(9001, 2)], 9001, &c), 0);
	assert_int_equal(c.total, 2);
	assert_int_equal(c.reserved, 1);
	assert_int_equal(store_item_available(w->cat, 9002), 5);
	/* add items to it later; refusals name the reason */
	memset(&d, 0, sizeof(d));
	d.request_id = 78;
	d.act.id = 9;
	def_item(&d, 9003, 1, 1);
	assert_int_equal(store_define_all(w->cat, w->sh, &d, why, sizeof(why)), 0);
	assert_int_equal(store_item_available(w->cat, 9003), 1);
	assert_int_equal(store_define_all(w->cat, w->sh, &d, why, sizeof(why)), -EEXIST);
	assert_non_null(strstr(why, "item 9003"));
	d.act.id = 55;
	d.items[0].id = 9004;
	assert_int_equal(store_define_all(w->cat, w->sh, &d, why, sizeof(why)), -ENOENT);
	def_activity(&d, 79, 1, false);
	assert_int_equal(store_define_all(w->cat, w->sh, &d, why, sizeof(why)), -EEXIST);
	def_activity(&d, 79, 10, false);
	def_item(&d, 9005, 1, 1);
	d.items[0].max_per_order = 2;
	assert_int_equal(store_define_all(w->cat, w->sh, &d, why, sizeof(why)), -EINVAL);
	assert_non_null(strstr(why, "max_per_order"));
	def_activity(&d, 79, 10, false);
	def_item(&d, 1001, 1, 1); /* a config item's id */
	assert_int_equal(store_define_all(w->cat, w->sh, &d, why, sizeof(why)), -EEXIST);
	assert_int_equal(store_catalog_activities(w->cat), 4); /* nothing half-created */
	audit_all(w);
}

static void test_store_catalog_define_full(void **state)
{
	struct world *w = *state;
	struct store_catalog_def d;
	uint32_t id = 100000, cap = w->cfg.n_items + STORE_RUNTIME_ITEMS;
	char why[128];
	int rc = 0;

	def_activity(&d, 1, 20, false);
	assert_int_equal(store_define_all(w->cat, w->sh, &d, why, sizeof(why)), 0);
	while (store_catalog_items(w->cat) < cap) {
		memset(&d, 0, sizeof(d));
		d.act.id = 20;
		d.request_id = id;
		while (d.n_items < STORE_DEFINE_ITEMS_MAX &&
		       store_catalog_items(w->cat) + d.n_items < cap)
			def_item(&d, id++, 1, 1);
		assert_int_equal(store_define_all(w->cat, w->sh, &d, why, sizeof(why)), 0);
	}
	memset(&d, 0, sizeof(d));
	d.act.id = 20;
	def_item(&d, id, 1, 1);
	rc = store_define_all(w->cat, w->sh, &d, why, sizeof(why));
	assert_int_equal(rc, -ENOSPC);
	assert_non_null(strstr(why, "capacity"));
	assert_int_equal(store_item_available(w->cat, id - 1), 1);
	assert_int_equal(store_item_available(w->cat, id), -1);
	for (unsigned a = store_catalog_activities(w->cat); a < FS_ACTIVITIES_MAX; a++) {
		def_activity(&d, 1, 1000 + a, false);
		assert_int_equal(store_define_all(w->cat, w->sh, &d, why, sizeof(why)), 0);
	}
	def_activity(&d, 1, 5000, false);
	assert_int_equal(store_define_all(w->cat, w->sh, &d, why, sizeof(why)), -ENOSPC);
	audit_all(w);
}

/* A gate on another thread sees a defined item whole or not at all. */
#define RACE_ITEMS 2000u
struct race {
	struct store_catalog *cat;
	volatile int done, started;
	uint64_t seen, missing;
	int bad;
};

static void *race_reader(void *arg)
{
	struct race *r = arg;

	for (int last = 0; !last;) {
		last = r->done; /* one whole pass after the writer finished */
		r->started = 1;
		for (uint32_t id = 50000; id < 50000 + RACE_ITEMS; id++) {
			struct fs_req q = {.op = FS_OP_ITEM_STATUS, .item_id = id, .user_id = 1};
			struct fs_resp resp;
			unsigned owner;
			store_gate(r->cat, &q, T0, &resp, &owner);
			if (resp.status == FS_ST_UNKNOWN_ITEM) {
				r->missing++;
				continue;
			}
			r->seen++;
			if (resp.status != FS_ST_OK || resp.available != id % 97 + 1)
				r->bad++;
		}
	}
	return NULL;
}

static void test_store_catalog_define_concurrent_reader(void **state)
{
	struct world *w = *state;
	struct store_catalog_def d;
	struct race r = {.cat = w->cat};
	pthread_t t;

	def_activity(&d, 1, 30, false);
	assert_int_equal(store_define_all(w->cat, w->sh, &d, NULL, 0), 0);
	assert_int_equal(pthread_create(&t, NULL, race_reader, &r), 0);
	while (!r.started)
		;
	for (uint32_t id = 50000; id < 50000 + RACE_ITEMS; id++) {
		memset(&d, 0, sizeof(d));
		d.act.id = 30;
		d.request_id = id;
		def_item(&d, id, id % 97 + 1, 1);
		assert_int_equal(store_define_all(w->cat, w->sh, &d, NULL, 0), 0);
	}
	r.done = 1;
	pthread_join(t, NULL);
	assert_int_equal(r.bad, 0);
	assert_true(r.seen >= RACE_ITEMS);
	print_message("concurrent reader: %" PRIu64 " found, %" PRIu64 " not yet\n", r.seen,
		      r.missing);
	audit_all(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fs_token_vectors),
		cmocka_unit_test_setup_teardown(test_store_gate_buy_token_vector, setup_std,
						teardown_world),
		cmocka_unit_test(test_store_catalog_create_invalid),
#define T(f) cmocka_unit_test_setup_teardown(f, setup_std, teardown_world)
		T(test_store_shard_capacity_split),
		T(test_store_catalog_define_publish),
		T(test_store_catalog_define_full),
		T(test_store_catalog_define_concurrent_reader),
		T(test_store_shard_create_invalid),
		T(test_store_gate_bad_op),
		T(test_store_gate_time_ok),
		T(test_store_gate_item_status),
		T(test_store_gate_buy_bad_request),
		T(test_store_gate_buy_unknown_item),
		T(test_store_gate_buy_limit_exceeded),
		T(test_store_gate_buy_not_started),
		T(test_store_gate_buy_ended),
		T(test_store_gate_buy_bad_token),
		T(test_store_gate_buy_sold_out),
		T(test_store_gate_winner_retry_after_sold_out),
		T(test_store_gate_winner_retry_after_end),
		T(test_store_gate_order_ops),
		cmocka_unit_test(test_store_gate_winners_filter_false_positives),
		cmocka_unit_test(test_store_gate_prefetch_changes_nothing),
		T(test_store_execute_buy_ok),
		T(test_store_execute_buy_wrong_shard),
		T(test_store_execute_buy_limit_exceeded),
		T(test_store_execute_buy_sold_out),
		cmocka_unit_test(test_store_execute_buy_busy_orders_full),
		cmocka_unit_test(test_store_execute_buy_busy_idem_full),
		T(test_store_execute_buy_idempotent),
		T(test_store_execute_buy_unavailable),
		T(test_store_execute_confirm_ok),
		T(test_store_execute_confirm_bad_token),
		T(test_store_execute_confirm_not_found),
		T(test_store_execute_confirm_expired_on_the_spot),
		T(test_store_execute_confirm_unavailable),
		T(test_store_execute_cancel_tokens),
		T(test_store_execute_order_status),
		T(test_store_execute_bad_op),
		cmocka_unit_test(test_store_execute_burst_matches_single),
		cmocka_unit_test(test_store_execute_prefetch_changes_nothing),
		T(test_store_expire_releases_units),
		T(test_store_idem_trim_retention),
		cmocka_unit_test(test_store_idem_trim_many),
		T(test_store_apply_invalid),
		T(test_store_admin_stock_window_replay),
		T(test_store_admin_recent_bounded),
		T(test_store_churn_capped_per_user_item),
		T(test_store_memory_need_matches_create),
		T(test_store_memory_check_refuses_huge),
#undef T
		cmocka_unit_test(test_store_ratelimit_burst_then_refuse),
		cmocka_unit_test(test_store_ratelimit_steady_rate),
		cmocka_unit_test(test_store_steady_step_back_expires_on_time),
		cmocka_unit_test(test_store_clock_tick_reads_once_per_tick),
		cmocka_unit_test(test_store_steady_step_forward_keeps_answer),
		cmocka_unit_test(test_store_steady_not_behind_replayed_log),
		cmocka_unit_test(test_store_ratelimit_collision_shares_not_forgives),
		cmocka_unit_test(test_store_ratelimit_colliding_ids_each_limited),
		cmocka_unit_test(test_store_ratelimit_many_ids_and_the_key),
		cmocka_unit_test(test_store_ratelimit_create_invalid),
		cmocka_unit_test(test_store_random_sequence_matches_model),
		cmocka_unit_test(test_store_apply_replay_matches_original),
	};

	if (fs_token_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
