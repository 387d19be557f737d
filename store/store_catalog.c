/*
 * store_catalog.c — the catalog shared by every core, and store_gate(), the
 * receiving core's check of a request.
 *
 * Layout. The catalog is built once from the config and then only read,
 * except for each activity's sale window (admin open/close: every item's
 * start_ns/end_ns, atomic 64-bit stores from shard 0's thread,
 * store_catalog_set_window) and two things owners publish with relaxed
 * atomics: each item's
 * available count (struct store_item.available, written only by the item's
 * owner) and each shard's winners filter (written only by that shard). A
 * gate that reads a stale value only routes a request it could have answered
 * (or answers SOLD_OUT for units freed a moment ago, which is the answer it
 * would have got a moment earlier); it never lets a purchase through that the
 * owner would refuse, because the owner decides again.
 *
 * item_id -> index is an open-addressing table (linear probing, Fibonacci
 * hashing on the top bits, at most half full), built once. The item records
 * the gate needs are 32 bytes each, so the sold-out path of a hot item reads
 * one hash slot, one item record and one filter word: no locks, no
 * allocation, no writes to shared memory.
 *
 * Gate order for BUY (PROTOCOL.md, store.h): BAD_REQUEST (user, request or
 * qty 0) → UNKNOWN_ITEM → LIMIT_EXCEEDED (qty > max_per_order) →
 * NOT_STARTED → ENDED → SOLD_OUT (available < qty) → BAD_TOKEN → route.
 * ENDED and SOLD_OUT are only answered here when the owner's winners filter
 * says the (user, request_id) never won: a retried winning BUY must reach the
 * owner to get its stored OK back. A "maybe" with an invalid token cannot be
 * a winner (the token of a user never changes), so it gets the plain
 * ENDED/SOLD_OUT: the answer never depends on a filter false positive. The
 * sold-out state is public, so it is checked before the (costlier) token.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "fs_token.h"
#include "store_internal.h"

/* Tables of 2 MiB and more are aligned to 2 MiB and asked for transparent
 * huge pages: their probes are random, and with 4 KiB pages nearly every
 * probe of a large table would also miss the TLB. Failure of madvise only
 * costs speed. Memory is touched here (memset), so no page fault is left for
 * the data path. */
void *store_zalloc(size_t n)
{
	size_t align = n >= STORE_HUGE_PAGE ? STORE_HUGE_PAGE : STORE_CACHE_LINE;
	size_t sz = (n + align - 1) & ~(align - 1);
	void *p;

	if (sz == 0)
		sz = align;
	p = aligned_alloc(align, sz);
	if (!p)
		return NULL;
	if (align == STORE_HUGE_PAGE)
		(void)madvise(p, sz, MADV_HUGEPAGE);
	memset(p, 0, sz);
	return p;
}

/* Index of the activity an item belongs to: trust activity_index when it
 * agrees with activity_id (the loader sets it), else search (hand-built
 * configs in tests). -1 if there is none. */
static int resolve_activity(const struct cfg *cfg, const struct cfg_item *ci)
{
	if (ci->activity_index < cfg->n_activities &&
	    cfg->activities[ci->activity_index].id == ci->activity_id)
		return ci->activity_index;
	for (unsigned a = 0; a < cfg->n_activities; a++)
		if (cfg->activities[a].id == ci->activity_id)
			return (int)a;
	return -1;
}

static int check_cfg(const struct cfg *cfg, unsigned nshards)
{
	if (nshards == 0 || nshards > FS_WORKERS_MAX)
		return -EINVAL;
	if (cfg->n_items > FS_ITEMS_MAX || cfg->n_activities > FS_ACTIVITIES_MAX)
		return -EINVAL;
	if ((cfg->n_items && !cfg->items) || (cfg->n_activities && !cfg->activities))
		return -EINVAL;
	for (unsigned a = 0; a < cfg->n_activities; a++)
		if (cfg->activities[a].pay_timeout_s == 0)
			return -EINVAL;
	for (unsigned i = 0; i < cfg->n_items; i++) {
		const struct cfg_item *ci = &cfg->items[i];
		if (ci->id == 0 || ci->per_user_limit == 0 || ci->max_per_order == 0 ||
		    ci->total > INT32_MAX || resolve_activity(cfg, ci) < 0)
			return -EINVAL;
	}
	return 0;
}

/* Insert item idx into the id table: the slot's idx first, then its id with
 * release, so a gate that finds the id finds the whole item. -EEXIST on a
 * duplicate id (the table is never full: at most half of it is used). */
static int index_insert(struct store_catalog *cat, uint32_t id, uint32_t idx)
{
	uint32_t pos = (id * 0x9E3779B1u) >> cat->slot_shift;

	for (;;) {
		uint32_t cur = atomic_load_explicit(&cat->slots[pos].id, memory_order_relaxed);
		if (cur == 0)
			break;
		if (cur == id)
			return -EEXIST;
		pos = (pos + 1) & cat->slot_mask;
	}
	cat->slots[pos].idx = idx;
	atomic_store_explicit(&cat->slots[pos].id, id, memory_order_release);
	return 0;
}

/* Activity a's record and window; publishes it (n_acts, release). */
static void put_activity(struct store_catalog *cat, const struct cfg_activity *a, uint64_t rid)
{
	uint32_t k = atomic_load_explicit(&cat->n_acts, memory_order_relaxed);

	FS_ASSERT(k < cat->cap_acts);
	cat->acts[k] = *a;
	cat->act_rid[k] = rid;
	cat->pay_timeout_ns[k] = (int64_t)a->pay_timeout_s * FS_NS_PER_S;
	cat->act_start_ns[k] = a->start_ns;
	cat->act_end_ns[k] = a->end_ns;
	cat->act_moved[k] = 0;
	atomic_store_explicit(&cat->n_acts, k + 1, memory_order_release);
}

/* Item ci's records, then its slot (the publication), then n_items. */
static int put_item(struct store_catalog *cat, const struct cfg_item *ci, unsigned act,
		    uint64_t rid)
{
	uint32_t i = atomic_load_explicit(&cat->n_items, memory_order_relaxed);
	const struct cfg_activity *a = &cat->acts[act];
	struct store_item *it = &cat->items[i];
	int rc;

	FS_ASSERT(i < cat->cap_items);
	cat->defs[i] = *ci;
	cat->defs[i].activity_index = (uint16_t)act;
	cat->item_rid[i] = rid;
	it->id = ci->id;
	atomic_store_explicit(&it->start_ns, cat->act_start_ns[act], memory_order_relaxed);
	atomic_store_explicit(&it->end_ns, cat->act_end_ns[act], memory_order_relaxed);
	it->max_per_order = ci->max_per_order;
	it->act = (uint16_t)act;
	it->owner = (uint8_t)fs_shard_of_item(ci->id, cat->nshards);
	it->local = (uint16_t)cat->owned_count[it->owner];
	it->require_token = a->require_token;
	atomic_store_explicit(&it->available, ci->total, memory_order_relaxed);
	if ((rc = index_insert(cat, ci->id, i)) != 0)
		return rc;
	cat->owned_count[it->owner]++;
	atomic_store_explicit(&cat->n_items, i + 1, memory_order_release);
	return 0;
}

static int build_items(struct store_catalog *cat)
{
	const struct cfg *cfg = cat->cfg;
	int rc;

	for (unsigned a = 0; a < cfg->n_activities; a++)
		put_activity(cat, &cfg->activities[a], 0);
	for (uint32_t i = 0; i < cfg->n_items; i++)
		if ((rc = put_item(cat, &cfg->items[i],
				   (unsigned)resolve_activity(cfg, &cfg->items[i]), 0)) != 0)
			return -EINVAL; /* duplicate id */
	cat->n_cfg_items = cfg->n_items;
	cat->n_cfg_acts = cfg->n_activities;
	return 0;
}

uint32_t store_catalog_capacity(const struct cfg *cfg)
{
	uint64_t n = (uint64_t)cfg->n_items + STORE_RUNTIME_ITEMS;

	return n > FS_ITEMS_MAX ? FS_ITEMS_MAX : (uint32_t)n;
}

int store_catalog_create(const struct cfg *cfg, unsigned nshards, struct store_catalog **out)
{
	struct store_catalog *cat;
	uint32_t nslots = 16, bits = 4, cap, cap_acts = FS_ACTIVITIES_MAX;
	int rc;

	*out = NULL;
	if (!cfg || (rc = check_cfg(cfg, nshards)) != 0)
		return -EINVAL;
	cap = store_catalog_capacity(cfg);
	while (nslots < 2 * cap) {
		nslots <<= 1;
		bits++;
	}
	cat = store_zalloc(sizeof(*cat));
	if (!cat)
		return -ENOMEM;
	cat->cfg = cfg;
	cat->nshards = nshards;
	cat->cap_items = cap;
	cat->cap_acts = cap_acts;
	cat->slot_mask = nslots - 1;
	cat->slot_shift = 32 - bits;
	cat->slots = store_zalloc(nslots * sizeof(*cat->slots));
	cat->items = store_zalloc((size_t)cap * sizeof(*cat->items));
	cat->defs = store_zalloc((size_t)cap * sizeof(*cat->defs));
	cat->item_rid = store_zalloc((size_t)cap * sizeof(*cat->item_rid));
	cat->acts = store_zalloc(cap_acts * sizeof(*cat->acts));
	cat->act_rid = store_zalloc(cap_acts * sizeof(*cat->act_rid));
	cat->pay_timeout_ns = store_zalloc(cap_acts * sizeof(int64_t));
	cat->owned_count = store_zalloc(nshards * sizeof(uint32_t));
	cat->act_start_ns = store_zalloc(cap_acts * sizeof(int64_t));
	cat->act_end_ns = store_zalloc(cap_acts * sizeof(int64_t));
	cat->act_moved = store_zalloc(cap_acts);
	if (!cat->slots || !cat->items || !cat->defs || !cat->item_rid || !cat->acts ||
	    !cat->act_rid || !cat->pay_timeout_ns || !cat->owned_count || !cat->act_start_ns ||
	    !cat->act_end_ns || !cat->act_moved) {
		store_catalog_free(cat);
		return -ENOMEM;
	}
	for (unsigned s = 0; s < FS_WORKERS_MAX; s++) {
		cat->winners[s].words = &cat->no_filter;
		cat->winners[s].mask = 0;
	}
	if ((rc = build_items(cat)) != 0) {
		store_catalog_free(cat);
		return rc;
	}
	*out = cat;
	return 0;
}

uint64_t store_catalog_bytes(const struct cfg *cfg, unsigned nshards)
{
	uint64_t cap = store_catalog_capacity(cfg), nslots = 16;

	while (nslots < 2 * cap)
		nslots <<= 1;
	return sizeof(struct store_catalog) + nslots * sizeof(struct store_item_slot) +
	       cap * (sizeof(struct store_item) + sizeof(struct cfg_item) + sizeof(uint64_t)) +
	       FS_ACTIVITIES_MAX * (sizeof(struct cfg_activity) + 4 * sizeof(int64_t) + 1) +
	       nshards * sizeof(uint32_t);
}

void store_catalog_free(struct store_catalog *cat)
{
	if (!cat)
		return;
	free(cat->slots);
	free(cat->items);
	free(cat->defs);
	free(cat->item_rid);
	free(cat->acts);
	free(cat->act_rid);
	free(cat->pay_timeout_ns);
	free(cat->owned_count);
	free(cat->act_start_ns);
	free(cat->act_end_ns);
	free(cat->act_moved);
	free(cat);
}

unsigned store_catalog_nshards(const struct store_catalog *cat)
{
	return cat->nshards;
}

int store_catalog_attach(struct store_catalog *cat, unsigned shard_id, struct store_shard *s,
			 _Atomic uint64_t *words, uint64_t nwords)
{
	if (shard_id >= cat->nshards || cat->shards[shard_id] != NULL)
		return -EINVAL;
	FS_ASSERT(nwords && (nwords & (nwords - 1)) == 0);
	cat->shards[shard_id] = s;
	cat->winners[shard_id].words = words;
	cat->winners[shard_id].mask = nwords - 1;
	return 0;
}

void store_catalog_detach(struct store_catalog *cat, unsigned shard_id)
{
	cat->shards[shard_id] = NULL;
	cat->winners[shard_id].words = &cat->no_filter;
	cat->winners[shard_id].mask = 0;
}

int64_t store_item_available(const struct store_catalog *cat, uint32_t item_id)
{
	uint32_t idx = store_item_find(cat, item_id);

	if (idx == STORE_NONE)
		return -1;
	return atomic_load_explicit(&cat->items[idx].available, memory_order_relaxed);
}

/* ---- the sale window (admin open/close) ---- */

static int act_index(const struct store_catalog *cat, uint32_t activity_id)
{
	uint32_t n = store_cat_nacts(cat);

	for (uint32_t a = 0; a < n; a++)
		if (cat->acts[a].id == activity_id)
			return (int)a;
	return -1;
}

int store_catalog_window(const struct store_catalog *cat, uint32_t activity_id,
			 int64_t *start_ns, int64_t *end_ns, bool *moved)
{
	int a = act_index(cat, activity_id);

	if (a < 0)
		return -ENOENT;
	*start_ns = cat->act_start_ns[a];
	*end_ns = cat->act_end_ns[a];
	if (moved)
		*moved = cat->act_moved[a] != 0;
	return 0;
}

int store_catalog_set_window(struct store_catalog *cat, uint32_t activity_id, int64_t start_ns,
			     int64_t end_ns)
{
	int a = act_index(cat, activity_id);

	if (a < 0)
		return -ENOENT;
	if (start_ns >= end_ns)
		return -EINVAL;
	cat->act_start_ns[a] = start_ns;
	cat->act_end_ns[a] = end_ns;
	cat->act_moved[a] = 1;
	/* Each bound is one atomic store; gates read them relaxed. */
	for (uint32_t i = 0, n = store_cat_nitems(cat); i < n; i++) {
		struct store_item *it = &cat->items[i];
		if (it->act != (uint16_t)a)
			continue;
		atomic_store_explicit(&it->start_ns, start_ns, memory_order_relaxed);
		atomic_store_explicit(&it->end_ns, end_ns, memory_order_relaxed);
	}
	return 0;
}

void store_shard_capacity(const struct store_catalog *cat, unsigned shard_id,
			  struct store_shard_params *p)
{
	const struct cfg *cfg = cat->cfg;
	uint64_t stock_all = 0, stock = 0, idem_max = cfg->max_idempotency;
	uint64_t orders_share = 0, idem_share = 0;

	for (uint32_t i = 0; i < cat->n_cfg_items; i++) {
		stock_all += cfg->items[i].total;
		if (cat->items[i].owner == shard_id)
			stock += cfg->items[i].total;
	}
	if (idem_max == 0) /* unset in a hand-built config: the loader's default */
		idem_max = 2 * cfg->max_orders;
	if (cfg->max_orders > stock_all)
		orders_share = (cfg->max_orders - stock_all) / cat->nshards;
	if (idem_max > stock_all)
		idem_share = (idem_max - stock_all) / cat->nshards;
	p->max_orders = stock + orders_share;
	p->max_idempotency = stock + idem_share;
	if (p->max_orders == 0)
		p->max_orders = 1;
	if (p->max_idempotency == 0)
		p->max_idempotency = 1;
}

/* ---- the gate ---- */

static bool buy_token_ok(const struct store_catalog *cat, const struct store_item *it,
			 const struct fs_req *req)
{
	const struct cfg_activity *a = &cat->acts[it->act];
	uint8_t tok[FSP_TOKEN_LEN];

	fs_token_buy(a->token_key, req->user_id, a->id, tok);
	return fs_token_equal(tok, req->token);
}

/* Could this BUY be the retry of a winner? Only then may it pass a closed or
 * sold-out item on to the owner. */
static bool maybe_winner(const struct store_catalog *cat, const struct store_item *it,
			 const struct fs_req *req)
{
	if (!store_wf_maybe(&cat->winners[it->owner], req->user_id, req->request_id))
		return false;
	return !it->require_token || buy_token_ok(cat, it, req);
}

void store_gate_prefetch(const struct store_catalog *cat, uint32_t item_id, uint64_t user_id,
			 uint64_t request_id)
{
	uint32_t idx = store_item_find(cat, item_id);
	const struct store_item *it;
	const struct store_winners *w;
	uint64_t h;

	if (idx == STORE_NONE)
		return;
	it = &cat->items[idx];
	/* Open and in stock: the gate does not read the filter (the owner
	 * decides); not worth a line of cache. */
	if (atomic_load_explicit(&it->available, memory_order_relaxed) != 0)
		return;
	w = &cat->winners[it->owner];
	h = store_hash2(user_id, request_id);
	__builtin_prefetch((const void *)&w->words[h & w->mask], 0, 0);
}

#define GATE_ROUTE 0xffu

/* The gate's answer to a BUY of a known item, or GATE_ROUTE. */
static unsigned gate_buy_status(const struct store_catalog *cat, const struct store_item *it,
				const struct fs_req *req, int64_t now_ns, uint32_t avail,
				uint32_t *retry_after_ms)
{
	int64_t start_ns = atomic_load_explicit(&it->start_ns, memory_order_relaxed);

	if (unlikely(req->qty > it->max_per_order))
		return FS_ST_LIMIT_EXCEEDED;
	if (unlikely(now_ns < start_ns)) {
		*retry_after_ms = store_ms_until(start_ns, now_ns);
		return FS_ST_NOT_STARTED;
	}
	if (unlikely(now_ns >= atomic_load_explicit(&it->end_ns, memory_order_relaxed)))
		return maybe_winner(cat, it, req) ? GATE_ROUTE : FS_ST_ENDED;
	if (avail < req->qty)
		return maybe_winner(cat, it, req) ? GATE_ROUTE : FS_ST_SOLD_OUT;
	if (it->require_token && !buy_token_ok(cat, it, req))
		return FS_ST_BAD_TOKEN;
	return GATE_ROUTE;
}

static bool gate_buy(const struct store_catalog *cat, const struct fs_req *req, int64_t now_ns,
		     struct fs_resp *resp, unsigned *owner)
{
	const struct store_item *it;
	uint32_t idx, avail, retry = 0;
	unsigned st;

	if (unlikely(req->user_id == 0 || req->request_id == 0 || req->qty == 0)) {
		store_resp_init(resp, req, now_ns, FS_ST_BAD_REQUEST);
		return true;
	}
	idx = store_item_find(cat, req->item_id);
	if (unlikely(idx == STORE_NONE)) {
		store_resp_init(resp, req, now_ns, FS_ST_UNKNOWN_ITEM);
		return true;
	}
	it = &cat->items[idx];
	avail = atomic_load_explicit(&it->available, memory_order_relaxed);
	st = gate_buy_status(cat, it, req, now_ns, avail, &retry);
	if (st == GATE_ROUTE) {
		*owner = it->owner;
		return false;
	}
	store_resp_init(resp, req, now_ns, (uint8_t)st);
	resp->available = avail;
	resp->retry_after_ms = retry;
	return true;
}

static bool gate_order(const struct store_catalog *cat, const struct fs_req *req, int64_t now_ns,
		       struct fs_resp *resp, unsigned *owner)
{
	unsigned shard = fs_shard_of_order(req->order_id);

	if (unlikely(req->user_id == 0 ||
		     (req->op != FS_OP_ORDER_STATUS && req->request_id == 0))) {
		store_resp_init(resp, req, now_ns, FS_ST_BAD_REQUEST);
		return true;
	}
	if (unlikely(req->order_id == 0 || shard >= cat->nshards)) {
		store_resp_init(resp, req, now_ns, FS_ST_NOT_FOUND);
		return true;
	}
	*owner = shard;
	return false;
}

static bool gate_item_status(const struct store_catalog *cat, const struct fs_req *req,
			     int64_t now_ns, struct fs_resp *resp)
{
	uint32_t idx = store_item_find(cat, req->item_id);

	if (idx == STORE_NONE) {
		store_resp_init(resp, req, now_ns, FS_ST_UNKNOWN_ITEM);
		return true;
	}
	store_resp_init(resp, req, now_ns, FS_ST_OK);
	resp->available = atomic_load_explicit(&cat->items[idx].available, memory_order_relaxed);
	return true;
}

bool store_gate(const struct store_catalog *cat, const struct fs_req *req, int64_t now_ns,
		struct fs_resp *resp, unsigned *owner)
{
	switch (req->op) {
	case FS_OP_BUY: return gate_buy(cat, req, now_ns, resp, owner);
	case FS_OP_CONFIRM:
	case FS_OP_CANCEL:
	case FS_OP_ORDER_STATUS: return gate_order(cat, req, now_ns, resp, owner);
	case FS_OP_ITEM_STATUS: return gate_item_status(cat, req, now_ns, resp);
	case FS_OP_TIME: store_resp_init(resp, req, now_ns, FS_ST_OK); return true;
	default: store_resp_init(resp, req, now_ns, FS_ST_BAD_REQUEST); return true;
	}
}

/* ---- growth at run time (store_catalog_define) ---- */

/* rc, with the reason (a sentence naming the field or id) in why. */
static int def_fail(char *why, size_t whylen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int def_fail(char *why, size_t whylen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* One item of a definition: its fields in range (the config's rules). */
static int check_item_def(const struct store_item_def *d, char *why, size_t whylen)
{
	if (d->id == 0)
		return def_fail(why, whylen, -EINVAL, "items[].item_id must be > 0");
	if (d->total > STORE_TOTAL_MAX)
		return def_fail(why, whylen, -EINVAL, "item %" PRIu32 ": total above 2^31-1",
				d->id);
	if (d->per_user_limit == 0)
		return def_fail(why, whylen, -EINVAL,
				"item %" PRIu32 ": per_user_limit must be >= 1", d->id);
	if (d->max_per_order == 0 || d->max_per_order > d->per_user_limit)
		return def_fail(why, whylen, -EINVAL,
				"item %" PRIu32 ": max_per_order must be 1..per_user_limit", d->id);
	return 0;
}

int store_catalog_check_def(const struct store_catalog *cat, const struct store_catalog_def *def,
			    char *why, size_t whylen)
{
	uint32_t n_items = store_cat_nitems(cat), n_acts = store_cat_nacts(cat);
	const struct cfg_activity *a = &def->act;
	int rc;

	if (def->n_items > STORE_DEFINE_ITEMS_MAX)
		return def_fail(why, whylen, -EINVAL, "at most %" PRIu32 " items per call",
				STORE_DEFINE_ITEMS_MAX);
	if (a->id == 0)
		return def_fail(why, whylen, -EINVAL, "activity_id must be > 0");
	if (def->has_activity) {
		if (act_index(cat, a->id) >= 0)
			return def_fail(why, whylen, -EEXIST, "activity %" PRIu32 " already exists",
					a->id);
		if (a->start_ns >= a->end_ns)
			return def_fail(why, whylen, -EINVAL, "start_ns must be before end_ns");
		if (a->pay_timeout_s == 0 || a->pay_timeout_s > 86400)
			return def_fail(why, whylen, -EINVAL, "pay_timeout_s must be 1..86400");
		if (n_acts >= cat->cap_acts)
			return def_fail(why, whylen, -ENOSPC,
					"no room for another activity (capacity %" PRIu32 ")",
					cat->cap_acts);
	} else if (act_index(cat, a->id) < 0) {
		return def_fail(why, whylen, -ENOENT, "activity %" PRIu32 " does not exist", a->id);
	}
	if (def->n_items > cat->cap_items - n_items)
		return def_fail(why, whylen, -ENOSPC,
				"no room for more items (capacity %" PRIu32 ")", cat->cap_items);
	for (uint32_t k = 0; k < def->n_items; k++) {
		if ((rc = check_item_def(&def->items[k], why, whylen)) != 0)
			return rc;
		if (store_item_find(cat, def->items[k].id) != STORE_NONE)
			return def_fail(why, whylen, -EEXIST, "item %" PRIu32 " already exists",
					def->items[k].id);
		for (uint32_t j = 0; j < k; j++)
			if (def->items[j].id == def->items[k].id)
				return def_fail(why, whylen, -EINVAL,
						"item %" PRIu32 " given twice", def->items[k].id);
	}
	return 0;
}

int store_catalog_define(struct store_catalog *cat, const struct store_catalog_def *def)
{
	uint32_t base = store_cat_nitems(cat);
	int act;

	if (store_catalog_check_def(cat, def, NULL, 0) != 0)
		return -EINVAL;
	/* Every owner grew first (store_shard_grow), so an item routed to its
	 * owner the instant it is published finds its state there. */
	for (uint32_t k = 0; k < def->n_items; k++) {
		unsigned o = fs_shard_of_item(def->items[k].id, cat->nshards);
		FS_ASSERT(cat->shards[o] == NULL ||
			  store_shard_owns_index(cat->shards[o], base + k));
	}
	if (def->has_activity)
		put_activity(cat, &def->act, def->request_id);
	act = act_index(cat, def->act.id);
	FS_ASSERT(act >= 0);
	for (uint32_t k = 0; k < def->n_items; k++) {
		const struct store_item_def *d = &def->items[k];
		struct cfg_item ci = {.id = d->id,
				      .activity_id = def->act.id,
				      .total = d->total,
				      .price_cents = d->price_cents,
				      .per_user_limit = d->per_user_limit,
				      .max_per_order = d->max_per_order};
		int rc = put_item(cat, &ci, (unsigned)act, def->request_id);
		FS_ASSERT(rc == 0); /* checked above: the id is free */
	}
	return 0;
}

int store_define_all(struct store_catalog *cat, struct store_shard *const shards[],
		     const struct store_catalog_def *def, char *why, size_t whylen)
{
	int rc = store_catalog_check_def(cat, def, why, whylen);

	if (rc)
		return rc;
	for (unsigned i = 0; i < cat->nshards; i++)
		if (shards[i])
			(void)store_shard_grow(shards[i], def);
	return store_catalog_define(cat, def);
}

uint32_t store_catalog_items(const struct store_catalog *cat)
{
	return store_cat_nitems(cat);
}

uint32_t store_catalog_activities(const struct store_catalog *cat)
{
	return store_cat_nacts(cat);
}

int store_catalog_item_at(const struct store_catalog *cat, uint32_t idx, struct cfg_item *out,
			  uint64_t *request_id)
{
	if (idx >= store_cat_nitems(cat))
		return -ENOENT;
	*out = cat->defs[idx];
	if (request_id)
		*request_id = idx < cat->n_cfg_items ? 0 : cat->item_rid[idx];
	return 0;
}

int store_catalog_item_def(const struct store_catalog *cat, uint32_t item_id, struct cfg_item *out)
{
	uint32_t idx = store_item_find(cat, item_id);

	if (idx == STORE_NONE)
		return -ENOENT;
	*out = cat->defs[idx];
	return 0;
}

int store_catalog_activity_at(const struct store_catalog *cat, uint32_t idx,
			      struct cfg_activity *out, uint64_t *request_id)
{
	if (idx >= store_cat_nacts(cat))
		return -ENOENT;
	*out = cat->acts[idx];
	if (request_id)
		*request_id = idx < cat->n_cfg_acts ? 0 : cat->act_rid[idx];
	return 0;
}

int store_catalog_activity(const struct store_catalog *cat, uint32_t activity_id,
			   struct cfg_activity *out)
{
	int a = act_index(cat, activity_id);

	if (a < 0)
		return -ENOENT;
	*out = cat->acts[a];
	return 0;
}

bool store_catalog_is_runtime(const struct store_catalog *cat, uint32_t item_idx)
{
	return item_idx >= cat->n_cfg_items;
}

bool store_catalog_act_is_runtime(const struct store_catalog *cat, uint32_t act_idx)
{
	return act_idx >= cat->n_cfg_acts;
}
