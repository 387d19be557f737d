/*
 * store_shard.c — one shard: the single-threaded owner of some items, their
 * orders, holdings, stored answers and expiry queues. Every purchase
 * decision is made here, in arrival order, by exactly one core.
 *
 * Memory (all allocated in store_shard_create, cache-line aligned, nothing
 * later):
 *
 *  - orders: an array of struct store_order (40 bytes) indexed by
 *    seq - first_seq; order_id = fs_order_id(seq, shard_id). Orders are never
 *    freed or reused, so an order id names one order for the shard's life,
 *    and "orders full" (BUSY) is the only way the array ends. What keeps
 *    one buyer from ending it by BUY + CANCEL churn is the holding's count
 *    of orders closed unpaid (STORE_CLOSED_MAX per user and item).
 *
 *  - holdings: (user_id, item) → units reserved + paid, open addressing with
 *    linear probing, user_id 0 = empty (user 0 never buys). A holding is
 *    created by an order and never deleted (it may drop to 0 units; it
 *    also counts the user's orders of the item cancelled or expired), so
 *    holdings <= orders <= max_orders and a table of 2 * max_orders slots
 *    (rounded up to a power of two) stays at most half full.
 *
 *  - idempotency: stored answers (struct store_idem, 40 bytes) in a ring in
 *    creation order (capacity max_idempotency), so trimming by age pops the
 *    head; plus an index, (user_id, request_id) → ring slot, of 64-bit words
 *    (hash bits 32..63 as a tag << 32 | slot + 1; 0 = empty), linear probing,
 *    at most half full. Deleting (trim) uses backward-shift deletion, so there
 *    are no tombstones and probe sequences stay short and correct; the home
 *    slot of a moved word is recomputed from its ring entry. During replay a
 *    key may be stored again (a request_id reused after its entry was trimmed
 *    in the original run): the newer entry takes over the index word and the
 *    older ring entry is marked dead (op 0), which trimming skips.
 *
 *  - per-activity FIFO of reservations: a singly linked list through
 *    store_order.next, appended at BUY. All reservations of an activity share
 *    pay_timeout, so FIFO order is deadline order and store_expire() only
 *    looks at heads. Paid/cancelled/expired orders are unlinked lazily when
 *    they reach the head.
 *
 *  - per owned item: reserved and paid units; available lives in the
 *    catalog (struct store_item.available), written only here, read by gates.
 *
 *  - the winners filter (see store_internal.h): allocated here, published in
 *    the catalog, bits set for every order created (including on replay).
 *
 * Decision order for BUY: idempotency → qty > max_per_order → NOT_STARTED →
 * ENDED → SOLD_OUT → LIMIT_EXCEEDED (per user) → UNAVAILABLE → BUSY (full
 * table) → reserve. The rejections that change nothing come first and in the
 * gate's order, so a request answered here after a winners-filter false
 * positive gets the very answer the gate would have given; and rejections
 * keep flowing while the shard is UNAVAILABLE.
 *
 * Speed. A winning BUY touches three large tables at random places (the
 * idempotency index, the holdings, the winners filter) and appends to two
 * (orders, stored answers). exec_buy starts all five loads at once
 * (buy_prefetch) so that their misses overlap; store_execute_burst() does the
 * same a few requests ahead, which hides most of the memory latency when an
 * owner decides a burst, and store_execute_prefetch() lets a front end start
 * the loads of a whole datagram's BUYs before deciding the first. Tables of
 * 2 MiB and more use transparent huge pages (store_zalloc) so that random
 * probes do not also miss the TLB.
 *
 * Invariants: per item available + reserved + paid == total (FS_ASSERTed on
 * every change of that item), holding units <= per_user_limit (asserted on
 * every increase); store_audit() re-derives everything from the orders.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_token.h"
#include "store_internal.h"

#define IDEM_MISS     UINT64_MAX
#define BUSY_RETRY_MS 1000u
#define SEQ_LIMIT     (1ULL << (64 - FS_ORDER_SHARD_BITS))

/* struct store_order, store_holding, store_idem, store_item_state, store_fifo
 * and store_shard are in store_internal.h (store_snap.c copies them). */

/* ---- small helpers ---- */

static inline int64_t sat_add(int64_t a, int64_t b)
{
	int64_t r;

	return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}

/* The shard's steady time (store.h "Time"): params.steady_ns, kept at or
 * after the latest restored or replayed time; or the caller's now_ns. */
static int64_t shard_time(struct store_shard *s, int64_t now_ns)
{
	int64_t t;

	if (!s->steady)
		return now_ns;
	if (!s->ticked) {
		t = s->steady();
	} else {
		if (!s->steady_fresh) {
			s->steady_read = s->steady();
			s->steady_fresh = true;
		}
		t = s->steady_read;
	}
	t = sat_add(t, s->steady_adj_ns);
	if (unlikely(t < s->time_floor_ns)) {
		s->steady_adj_ns += s->time_floor_ns - t;
		t = s->time_floor_ns;
	}
	return t;
}

void store_shard_clock_tick(struct store_shard *s)
{
	s->ticked = true;
	s->steady_fresh = false;
}

/* Steady time t as the wall clock reads it now (what clients are told).
 * The offset wall - steady is constant but for the nanoseconds between the
 * two reads, until the wall clock is stepped; the shard keeps the offset it
 * last saw and only takes a new one that differs by more than a second, so a
 * repeat gets exactly the deadline of the first answer (and before any step
 * the offset is 0: the deadline as stored). */
#define WALL_STEP_NS FS_NS_PER_S

static uint64_t wall_of(struct store_shard *s, int64_t t, int64_t steady_now, int64_t wall_now)
{
	int64_t d, moved;

	if (__builtin_sub_overflow(wall_now, steady_now, &d))
		return (uint64_t)t;
	if (__builtin_sub_overflow(d, s->wall_off_ns, &moved) || moved > WALL_STEP_NS ||
	    moved < -WALL_STEP_NS)
		s->wall_off_ns = d;
	return (uint64_t)sat_add(t, s->wall_off_ns);
}

static inline uint64_t order_id_of(const struct store_shard *s, uint64_t oi)
{
	return fs_order_id(s->first_seq + oi, s->shard_id);
}

/* Index of an order of this shard, or STORE_NONE. */
static uint32_t order_index(const struct store_shard *s, uint64_t order_id)
{
	uint64_t seq = fs_order_seq(order_id);

	if (fs_shard_of_order(order_id) != s->shard_id || seq < s->first_seq ||
	    seq - s->first_seq >= s->norders)
		return STORE_NONE;
	return (uint32_t)(seq - s->first_seq);
}

static inline uint32_t load_avail(const struct store_shard *s, uint32_t ci)
{
	return atomic_load_explicit(&s->cat->items[ci].available, memory_order_relaxed);
}

static inline void publish_avail(struct store_shard *s, uint32_t ci, uint32_t v)
{
	atomic_store_explicit(&s->cat->items[ci].available, v, memory_order_relaxed);
}

static inline struct store_item_state *item_state(struct store_shard *s, uint32_t ci)
{
	return &s->items[s->cat->items[ci].local];
}

/* The per-item invariant, after every change of the item. */
static inline void item_check(struct store_shard *s, uint32_t ci)
{
	const struct store_item_state *st = item_state(s, ci);

	FS_ASSERT((uint64_t)load_avail(s, ci) + st->reserved + st->paid == st->total);
}

static void emit(struct store_shard *s, uint8_t type, uint32_t oi, uint64_t request_id,
		 uint64_t ref, int64_t now_ns)
{
	const struct store_order *o = &s->orders[oi];
	struct store_change ch;

	if (!s->journal)
		return;
	ch = (struct store_change){
		.type = type,
		.qty = o->qty,
		.item_id = s->cat->items[o->item].id,
		.order_id = order_id_of(s, oi),
		.user_id = o->user_id,
		.request_id = request_id,
		.ref = ref,
		.time_ns = now_ns,
	};
	s->journal(s->journal_ctx, &ch);
}

/* ---- holdings ---- */

/* Slot of (user, item): the holding, or the empty slot where it would go. */
static uint64_t hold_find(const struct store_shard *s, uint64_t h, uint64_t user_id, uint32_t ci)
{
	uint64_t i = h & s->hold_mask;

	for (;;) {
		const struct store_holding *h = &s->hold[i];
		if (h->user_id == 0 || (h->user_id == user_id && h->item == ci))
			return i;
		i = (i + 1) & s->hold_mask;
	}
}

static void hold_add(struct store_shard *s, uint64_t pos, uint64_t user_id, uint32_t ci,
		     uint16_t qty)
{
	struct store_holding *h = &s->hold[pos];

	if (h->user_id == 0) {
		FS_ASSERT(s->nhold < s->hold_max);
		h->user_id = user_id;
		h->item = (uint16_t)ci;
		h->units = 0;
		h->closed = 0;
		s->nhold++;
	}
	FS_ASSERT(h->user_id == user_id && h->item == ci);
	h->units += qty;
	FS_ASSERT(h->units <= s->cat->defs[ci].per_user_limit);
}

static void hold_sub(struct store_shard *s, uint64_t user_id, uint32_t ci, uint16_t qty)
{
	struct store_holding *h = &s->hold[hold_find(s, store_hash2(user_id, ci), user_id, ci)];

	FS_ASSERT(h->user_id == user_id && h->units >= qty);
	h->units -= qty;
	if (h->closed < UINT16_MAX) /* only ever a release without payment */
		h->closed++;
}

/* ---- idempotency ---- */

/* Ring slot of (user, request), or IDEM_MISS; *pos = its index word, or the
 * empty word where it would go (valid until the index changes). */
static uint64_t idem_find(const struct store_shard *s, uint64_t h, uint64_t user_id,
			  uint64_t request_id, uint64_t *pos)
{
	uint32_t tag = (uint32_t)(h >> 32);
	uint64_t i = h & s->idx_mask;

	for (;;) {
		uint64_t v = s->idx[i];
		if (v == 0)
			break;
		if ((uint32_t)(v >> 32) == tag) {
			const struct store_idem *e = &s->ring[(uint32_t)v - 1];
			if (e->user_id == user_id && e->request_id == request_id) {
				*pos = i;
				return (uint32_t)v - 1;
			}
		}
		i = (i + 1) & s->idx_mask;
	}
	*pos = i;
	return IDEM_MISS;
}

/* Append an entry at the ring tail and point index word pos (empty, or the
 * word of an entry it supersedes) at it. The ring must have room. */
static struct store_idem *idem_put(struct store_shard *s, uint64_t pos, uint64_t h,
				   const struct store_idem *val)
{
	uint64_t slot = s->ring_head + s->ring_count;
	struct store_idem *e;

	FS_ASSERT(s->ring_count < s->ring_cap);
	if (slot >= s->ring_cap)
		slot -= s->ring_cap;
	e = &s->ring[slot];
	*e = *val;
	s->idx[pos] = (h >> 32) << 32 | (slot + 1);
	s->ring_count++;
	return e;
}

/* Backward-shift deletion of index word i (linear probing, no tombstones). */
static void idx_remove(struct store_shard *s, uint64_t i)
{
	uint64_t mask = s->idx_mask, j = i;

	for (;;) {
		uint64_t v, home;
		const struct store_idem *e;

		j = (j + 1) & mask;
		v = s->idx[j];
		if (v == 0)
			break;
		e = &s->ring[(uint32_t)v - 1];
		home = store_hash2(e->user_id, e->request_id) & mask;
		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->idx[i] = v;
			i = j;
		}
	}
	s->idx[i] = 0;
}

static void idem_pop_head(struct store_shard *s)
{
	struct store_idem *e = &s->ring[s->ring_head];

	FS_ASSERT(s->ring_count > 0);
	if (e->op != 0) {
		uint64_t i = store_hash2(e->user_id, e->request_id) & s->idx_mask;
		uint32_t target = (uint32_t)s->ring_head + 1;

		while ((uint32_t)s->idx[i] != target) {
			FS_ASSERT(s->idx[i] != 0);
			i = (i + 1) & s->idx_mask;
		}
		idx_remove(s, i);
		e->op = 0;
	}
	s->ring_head = s->ring_head + 1 == s->ring_cap ? 0 : s->ring_head + 1;
	s->ring_count--;
}

/* ---- order state changes (shared by execute and apply) ---- */

static void fifo_push(struct store_shard *s, unsigned act, uint32_t oi)
{
	struct store_fifo *f = &s->fifo[act];

	s->orders[oi].next = STORE_NONE;
	if (f->tail == STORE_NONE)
		f->head = oi;
	else
		s->orders[f->tail].next = oi;
	f->tail = oi;
}

static void fifo_pop(struct store_shard *s, struct store_fifo *f)
{
	f->head = s->orders[f->head].next;
	if (f->head == STORE_NONE)
		f->tail = STORE_NONE;
}

/* Create a RESERVED order; hpos is hold_find's answer for (user, ci), h
 * the hash of (user, request). */
static uint32_t order_create(struct store_shard *s, uint32_t ci, uint64_t hpos, uint64_t h,
			     uint64_t user_id, uint64_t request_id, uint16_t qty, int64_t now_ns)
{
	const struct store_item *it = &s->cat->items[ci];
	uint32_t oi = (uint32_t)s->norders++;
	struct store_order *o = &s->orders[oi];
	uint32_t avail = load_avail(s, ci);

	FS_ASSERT(avail >= qty);
	o->user_id = user_id;
	o->request_id = request_id;
	o->deadline_ns = sat_add(now_ns, s->cat->pay_timeout_ns[it->act]);
	o->item = ci;
	o->qty = qty;
	o->state = FS_STATE_RESERVED;
	fifo_push(s, it->act, oi);
	hold_add(s, hpos, user_id, ci, qty);
	item_state(s, ci)->reserved += qty;
	publish_avail(s, ci, avail - qty);
	s->by_state[FS_STATE_RESERVED]++;
	store_wf_add(s->wf, h);
	item_check(s, ci);
	return oi;
}

/* RESERVED -> PAID, CANCELLED or EXPIRED. */
static void order_settle(struct store_shard *s, uint32_t oi, uint8_t state)
{
	struct store_order *o = &s->orders[oi];
	struct store_item_state *st = item_state(s, o->item);

	FS_ASSERT(o->state == FS_STATE_RESERVED && st->reserved >= o->qty);
	FS_ASSERT(state >= FS_STATE_PAID && state <= FS_STATE_EXPIRED);
	st->reserved -= o->qty;
	if (state == FS_STATE_PAID) {
		st->paid += o->qty;
	} else {
		publish_avail(s, o->item, load_avail(s, o->item) + o->qty);
		hold_sub(s, o->user_id, o->item, o->qty);
	}
	if (state == FS_STATE_EXPIRED)
		s->st.expired++;
	o->state = state;
	s->by_state[FS_STATE_RESERVED]--;
	s->by_state[state]++;
	item_check(s, o->item);
}

static void order_expire(struct store_shard *s, uint32_t oi, int64_t now_ns)
{
	order_settle(s, oi, FS_STATE_EXPIRED);
	emit(s, STORE_CH_EXPIRE, oi, 0, 0, now_ns);
}

/* ---- BUY ---- */

static void buy_replay(struct store_shard *s, const struct store_idem *e,
		       const struct fs_req *req, int64_t now_ns, struct fs_resp *resp)
{
	int64_t t;
	uint32_t ci = store_item_find(s->cat, e->item_id);

	if (e->op != FS_OP_BUY || e->item_id != req->item_id) {
		resp->status = FS_ST_BAD_REQUEST;
		return;
	}
	/* After a storage fault the stored answer may belong to a change that
	 * never reached the log: never repeat an OK we cannot stand behind. */
	if (unlikely(s->unavailable)) {
		resp->status = FS_ST_UNAVAILABLE;
		return;
	}
	FS_ASSERT(ci != STORE_NONE);
	resp->status = FS_ST_OK;
	resp->qty = e->qty;
	resp->order_id = e->order_id;
	t = shard_time(s, now_ns);
	resp->deadline_ns = wall_of(s,
		sat_add(e->created_ns, s->cat->pay_timeout_ns[s->cat->items[ci].act]), t, now_ns);
}

/* Every check of a BUY that changes nothing; FS_ST_OK when it may reserve.
 * *hpos is set once the holding was looked up. */
static uint8_t buy_check(struct store_shard *s, uint32_t ci, uint64_t hh, const struct fs_req *req,
			 int64_t now_ns, uint64_t *hpos, struct fs_resp *resp)
{
	const struct store_item *it = &s->cat->items[ci];
	const struct store_holding *h;
	int64_t start_ns = atomic_load_explicit(&it->start_ns, memory_order_relaxed);

	if (unlikely(req->qty > it->max_per_order))
		return FS_ST_LIMIT_EXCEEDED;
	if (unlikely(now_ns < start_ns)) {
		resp->retry_after_ms = store_ms_until(start_ns, now_ns);
		return FS_ST_NOT_STARTED;
	}
	if (unlikely(now_ns >= atomic_load_explicit(&it->end_ns, memory_order_relaxed)))
		return FS_ST_ENDED;
	if (load_avail(s, ci) < req->qty)
		return FS_ST_SOLD_OUT;
	*hpos = hold_find(s, hh, req->user_id, ci);
	h = &s->hold[*hpos];
	if ((h->user_id ? (uint64_t)h->units : 0) + req->qty > s->cat->defs[ci].per_user_limit)
		return FS_ST_LIMIT_EXCEEDED;
	if (unlikely(h->user_id && h->closed >= STORE_CLOSED_MAX))
		return FS_ST_LIMIT_EXCEEDED; /* BUY + CANCEL churn: see STORE_CLOSED_MAX */
	if (unlikely(s->unavailable))
		return FS_ST_UNAVAILABLE;
	if (unlikely(s->norders >= s->max_orders || s->ring_count >= s->ring_cap ||
		     (h->user_id == 0 && s->nhold >= s->hold_max))) {
		resp->retry_after_ms = BUSY_RETRY_MS;
		s->st.table_full++;
		return FS_ST_BUSY;
	}
	return FS_ST_OK;
}

/* h = hash of (user, request), hh = hash of (user, item). */
static bool buy_decide(struct store_shard *s, uint32_t ci, uint64_t h, uint64_t hh, uint64_t ipos,
		       const struct fs_req *req, int64_t now_ns, struct fs_resp *resp)
{
	uint64_t hpos = 0;
	struct store_idem e;
	uint32_t oi;
	int64_t t;

	resp->status = buy_check(s, ci, hh, req, now_ns, &hpos, resp);
	if (resp->status != FS_ST_OK)
		return false;
	t = shard_time(s, now_ns); /* the window was checked on the wall clock */
	oi = order_create(s, ci, hpos, h, req->user_id, req->request_id, req->qty, t);
	e = (struct store_idem){
		.user_id = req->user_id,
		.request_id = req->request_id,
		.order_id = order_id_of(s, oi),
		.created_ns = t,
		.item_id = req->item_id,
		.qty = req->qty,
		.op = FS_OP_BUY,
	};
	idem_put(s, ipos, h, &e);
	emit(s, STORE_CH_RESERVE, oi, req->request_id, 0, t);
	resp->qty = req->qty;
	resp->order_id = e.order_id;
	resp->deadline_ns = wall_of(s, s->orders[oi].deadline_ns, t, now_ns);
	return true;
}

/* The three tables a winning BUY touches at random places (idempotency
 * index, holdings, winners filter) are large; start all three loads at once
 * so that their cache misses overlap instead of following one another. */
static inline void buy_prefetch(const struct store_shard *s, uint32_t ci, uint64_t h, uint64_t hh,
				const struct fs_req *req)
{
	__builtin_prefetch(&s->idx[h & s->idx_mask]);
	if (load_avail(s, ci) >= req->qty) {
		uint64_t next = s->norders + 2, slot = s->ring_head + s->ring_count + 2;

		__builtin_prefetch(&s->hold[hh & s->hold_mask]);
		__builtin_prefetch(&s->wf_words[h & (s->wf_nwords - 1)], 1);
		/* The order and stored-answer records are appended in sequence;
		 * owning their lines before they are written keeps the store
		 * buffer from stalling on them. */
		if (next < s->max_orders)
			__builtin_prefetch(&s->orders[next], 1);
		if (slot >= s->ring_cap)
			slot -= s->ring_cap;
		if (slot < s->ring_cap)
			__builtin_prefetch(&s->ring[slot], 1);
	}
}

static bool exec_buy(struct store_shard *s, const struct fs_req *req, int64_t now_ns,
		     struct fs_resp *resp)
{
	uint64_t h, hh, ipos, slot;
	bool changed = false;
	uint32_t ci;

	if (unlikely(req->user_id == 0 || req->request_id == 0 || req->qty == 0)) {
		resp->status = FS_ST_BAD_REQUEST;
		return false;
	}
	ci = store_item_find(s->cat, req->item_id);
	if (unlikely(ci == STORE_NONE)) {
		resp->status = FS_ST_UNKNOWN_ITEM;
		return false;
	}
	h = store_hash2(req->user_id, req->request_id);
	hh = store_hash2(req->user_id, ci);
	buy_prefetch(s, ci, h, hh, req);
	slot = idem_find(s, h, req->user_id, req->request_id, &ipos);
	if (unlikely(slot != IDEM_MISS))
		buy_replay(s, &s->ring[slot], req, now_ns, resp);
	else if (unlikely(s->cat->items[ci].owner != s->shard_id))
		resp->status = FS_ST_BAD_REQUEST; /* mis-routed: not ours to decide */
	else
		changed = buy_decide(s, ci, h, hh, ipos, req, now_ns, resp);
	resp->available = load_avail(s, ci);
	return changed;
}

/* ---- CONFIRM / CANCEL / ORDER_STATUS ---- */

static bool buy_token_ok(const struct cfg_activity *a, const struct fs_req *req)
{
	uint8_t tok[FSP_TOKEN_LEN];

	fs_token_buy(a->token_key, req->user_id, a->id, tok);
	return fs_token_equal(tok, req->token);
}

static bool pay_token_ok(const struct cfg_activity *a, const struct fs_req *req)
{
	uint8_t tok[FSP_TOKEN_LEN];

	fs_token_pay(a->payment_key, req->order_id, req->user_id, req->ref, tok);
	return fs_token_equal(tok, req->token);
}

/* CONFIRM needs the payment token when the activity has a payment key.
 * CANCEL is accepted in either form (PROTOCOL.md): the user's form, which
 * needs the buy token only when the activity requires tokens, or the
 * payment system's form with a valid payment token. */
static bool settle_token_ok(const struct store_shard *s, const struct store_order *o,
			    const struct fs_req *req)
{
	const struct cfg_activity *a = &s->cat->acts[s->cat->items[o->item].act];

	if (req->op == FS_OP_CONFIRM)
		return !a->has_payment_key || pay_token_ok(a, req);
	if (!a->require_token || buy_token_ok(a, req))
		return true;
	return a->has_payment_key && pay_token_ok(a, req);
}

static bool settle_decide(struct store_shard *s, uint32_t oi, uint64_t h, uint64_t ipos,
			  const struct fs_req *req, int64_t now_ns, struct fs_resp *resp)
{
	struct store_order *o = &s->orders[oi];
	uint8_t state = req->op == FS_OP_CONFIRM ? FS_STATE_PAID : FS_STATE_CANCELLED;
	bool changed = false;
	struct store_idem e;
	int64_t t = 0;

	if (o->state == FS_STATE_RESERVED) {
		if (unlikely(s->unavailable)) {
			resp->status = FS_ST_UNAVAILABLE;
			return false;
		}
		t = shard_time(s, now_ns);
		if (o->deadline_ns <= t) {
			order_expire(s, oi, t);
			changed = true;
		}
	}
	if (o->state != FS_STATE_RESERVED) {
		resp->status = FS_ST_WRONG_STATE;
		resp->state = o->state;
		return changed;
	}
	if (unlikely(s->ring_count >= s->ring_cap)) {
		resp->status = FS_ST_BUSY;
		resp->retry_after_ms = BUSY_RETRY_MS;
		s->st.table_full++;
		return false;
	}
	order_settle(s, oi, state);
	e = (struct store_idem){
		.user_id = req->user_id,
		.request_id = req->request_id,
		.order_id = req->order_id,
		.created_ns = t,
		.item_id = resp->item_id,
		.qty = o->qty,
		.op = req->op,
		.state = state,
	};
	idem_put(s, ipos, h, &e);
	emit(s, state == FS_STATE_PAID ? STORE_CH_PAY : STORE_CH_CANCEL, oi, req->request_id,
	     req->ref, t);
	resp->status = FS_ST_OK;
	resp->state = state;
	return true;
}

static bool exec_settle(struct store_shard *s, const struct fs_req *req, int64_t now_ns,
			struct fs_resp *resp)
{
	uint64_t h, ipos, slot;
	uint32_t oi;

	if (unlikely(req->user_id == 0 || req->request_id == 0)) {
		resp->status = FS_ST_BAD_REQUEST;
		return false;
	}
	h = store_hash2(req->user_id, req->request_id);
	slot = idem_find(s, h, req->user_id, req->request_id, &ipos);
	if (unlikely(slot != IDEM_MISS)) {
		const struct store_idem *e = &s->ring[slot];
		if (e->op != req->op || e->order_id != req->order_id) {
			resp->status = FS_ST_BAD_REQUEST;
			return false;
		}
		if (unlikely(s->unavailable)) { /* see buy_replay */
			resp->status = FS_ST_UNAVAILABLE;
			return false;
		}
		resp->status = FS_ST_OK;
		resp->item_id = e->item_id;
		resp->state = e->state;
		return false;
	}
	oi = order_index(s, req->order_id);
	if (oi == STORE_NONE || s->orders[oi].user_id != req->user_id) {
		resp->status = FS_ST_NOT_FOUND;
		return false;
	}
	if (!settle_token_ok(s, &s->orders[oi], req)) {
		resp->status = FS_ST_BAD_TOKEN;
		return false;
	}
	resp->item_id = s->cat->items[s->orders[oi].item].id;
	return settle_decide(s, oi, h, ipos, req, now_ns, resp);
}

static void exec_order_status(struct store_shard *s, const struct fs_req *req, int64_t now_ns,
			      struct fs_resp *resp)
{
	const struct store_order *o;
	const struct cfg_activity *a;
	uint32_t oi;

	if (unlikely(req->user_id == 0)) {
		resp->status = FS_ST_BAD_REQUEST;
		return;
	}
	oi = order_index(s, req->order_id);
	if (oi == STORE_NONE || s->orders[oi].user_id != req->user_id) {
		resp->status = FS_ST_NOT_FOUND;
		return;
	}
	o = &s->orders[oi];
	a = &s->cat->acts[s->cat->items[o->item].act];
	if (a->require_token && !buy_token_ok(a, req)) {
		resp->status = FS_ST_BAD_TOKEN;
		return;
	}
	resp->status = FS_ST_OK;
	resp->qty = o->qty;
	resp->item_id = s->cat->items[o->item].id;
	resp->state = o->state;
	if (o->state == FS_STATE_RESERVED)
		resp->deadline_ns = wall_of(s, o->deadline_ns, shard_time(s, now_ns), now_ns);
}

bool store_execute(struct store_shard *s, const struct fs_req *req, int64_t now_ns,
		   struct fs_resp *resp)
{
	bool changed = false;
	unsigned owner;

	store_resp_init(resp, req, now_ns, FS_ST_OK);
	switch (req->op) {
	case FS_OP_BUY: changed = exec_buy(s, req, now_ns, resp); break;
	case FS_OP_CONFIRM:
	case FS_OP_CANCEL: changed = exec_settle(s, req, now_ns, resp); break;
	case FS_OP_ORDER_STATUS: exec_order_status(s, req, now_ns, resp); break;
	case FS_OP_ITEM_STATUS:
	case FS_OP_TIME:
		(void)store_gate(s->cat, req, now_ns, resp, &owner); /* always final */
		break;
	default: resp->status = FS_ST_BAD_REQUEST; break;
	}
	s->st.by_status[resp->status]++;
	return changed;
}

void store_prefetch(const struct store_shard *s, const struct fs_req *req)
{
	uint64_t h = store_hash2(req->user_id, req->request_id);

	if (req->op == FS_OP_BUY) {
		uint32_t ci = store_item_find(s->cat, req->item_id);
		if (ci != STORE_NONE)
			buy_prefetch(s, ci, h, store_hash2(req->user_id, ci), req);
	} else if (req->op >= FS_OP_CONFIRM && req->op <= FS_OP_ORDER_STATUS) {
		uint32_t oi = order_index(s, req->order_id);
		if (req->op != FS_OP_ORDER_STATUS)
			__builtin_prefetch(&s->idx[h & s->idx_mask]);
		if (oi != STORE_NONE)
			__builtin_prefetch(&s->orders[oi]);
	}
}

void store_execute_prefetch(const struct store_shard *s, const struct fs_req *req)
{
	uint32_t ci;
	uint64_t h;

	if (req->op != FS_OP_BUY || (ci = store_item_find(s->cat, req->item_id)) == STORE_NONE)
		return;
	/* Sold out (the gate answers) or not ours: nothing to load here. */
	if (s->cat->items[ci].owner != s->shard_id || load_avail(s, ci) == 0)
		return;
	h = store_hash2(req->user_id, req->request_id);
	__builtin_prefetch(&s->idx[h & s->idx_mask]);
	__builtin_prefetch(&s->hold[store_hash2(req->user_id, ci) & s->hold_mask]);
	__builtin_prefetch(&s->wf_words[h & (s->wf_nwords - 1)], 1);
}

#define BURST_PREFETCH_AHEAD 4u

unsigned store_execute_burst(struct store_shard *s, const struct fs_req *const reqs[], unsigned n,
			     int64_t now_ns, struct fs_resp resps[], bool changed[])
{
	unsigned nchanged = 0;

	for (unsigned i = 0; i < n && i < BURST_PREFETCH_AHEAD; i++)
		store_prefetch(s, reqs[i]);
	for (unsigned i = 0; i < n; i++) {
		bool c;

		if (i + BURST_PREFETCH_AHEAD < n)
			store_prefetch(s, reqs[i + BURST_PREFETCH_AHEAD]);
		c = store_execute(s, reqs[i], now_ns, &resps[i]);
		nchanged += c;
		if (changed)
			changed[i] = c;
	}
	return nchanged;
}

/* ---- expiry and trimming ---- */

static unsigned expire_fifo(struct store_shard *s, struct store_fifo *f, int64_t now_ns,
			    unsigned max, uint64_t *budget)
{
	unsigned n = 0;

	while (f->head != STORE_NONE && n < max) {
		const struct store_order *o = &s->orders[f->head];
		if (o->state == FS_STATE_RESERVED) {
			if (o->deadline_ns > now_ns)
				break;
			order_expire(s, f->head, now_ns);
			n++;
		} else if (*budget == 0) {
			break;
		} else {
			(*budget)--; /* settled earlier: unlink lazily */
		}
		fifo_pop(s, f);
	}
	return n;
}

unsigned store_expire(struct store_shard *s, int64_t now_ns, unsigned max)
{
	/* Unlinking settled orders is bounded too, so one call stays short. */
	uint64_t budget = (uint64_t)max * 16 + 1024;
	unsigned n = 0;

	if (s->unavailable) /* an expiry is a change that could not be made durable */
		return 0;
	now_ns = shard_time(s, now_ns);
	for (unsigned a = 0; a < store_cat_nacts(s->cat) && n < max; a++)
		n += expire_fifo(s, &s->fifo[a], now_ns, max - n, &budget);
	return n;
}

unsigned store_idem_trim(struct store_shard *s, int64_t now_ns, unsigned max)
{
	int64_t cutoff;
	unsigned n = 0;

	if (__builtin_sub_overflow(shard_time(s, now_ns), s->retention_ns, &cutoff))
		return 0;
	while (n < max && s->ring_count > 0 && s->ring[s->ring_head].created_ns <= cutoff) {
		idem_pop_head(s);
		n++;
	}
	return n;
}

/* ---- replay ---- */

/* Store an answer during replay: like execute, except that a full ring drops
 * its oldest entry (the original run had trimmed it by then) and an older
 * entry with the same key is superseded. */
static void apply_idem(struct store_shard *s, const struct store_idem *val)
{
	uint64_t h, pos, slot;

	if (s->ring_count == s->ring_cap)
		idem_pop_head(s);
	h = store_hash2(val->user_id, val->request_id);
	slot = idem_find(s, h, val->user_id, val->request_id, &pos);
	if (slot != IDEM_MISS)
		s->ring[slot].op = 0;
	idem_put(s, pos, h, val);
}

static int apply_reserve(struct store_shard *s, const struct store_change *ch)
{
	uint32_t ci = store_item_find(s->cat, ch->item_id);
	const struct store_holding *h;
	uint64_t hpos;

	if (ci == STORE_NONE || s->cat->items[ci].owner != s->shard_id)
		return -EINVAL;
	if (s->norders >= s->max_orders || ch->order_id != order_id_of(s, s->norders))
		return -EINVAL;
	if (ch->user_id == 0 || ch->request_id == 0 || ch->qty == 0 ||
	    ch->qty > s->cat->items[ci].max_per_order || load_avail(s, ci) < ch->qty)
		return -EINVAL;
	hpos = hold_find(s, store_hash2(ch->user_id, ci), ch->user_id, ci);
	h = &s->hold[hpos];
	if ((h->user_id ? h->units : 0) + (uint64_t)ch->qty > s->cat->defs[ci].per_user_limit ||
	    (h->user_id == 0 && s->nhold >= s->hold_max))
		return -EINVAL;
	(void)order_create(s, ci, hpos, store_hash2(ch->user_id, ch->request_id), ch->user_id,
			   ch->request_id, ch->qty, ch->time_ns);
	apply_idem(s, &(struct store_idem){
			      .user_id = ch->user_id,
			      .request_id = ch->request_id,
			      .order_id = ch->order_id,
			      .created_ns = ch->time_ns,
			      .item_id = ch->item_id,
			      .qty = ch->qty,
			      .op = FS_OP_BUY,
		      });
	return 0;
}

static int apply_settle(struct store_shard *s, const struct store_change *ch, uint8_t state)
{
	uint32_t oi = order_index(s, ch->order_id);
	const struct store_order *o;

	if (oi == STORE_NONE)
		return -EINVAL;
	o = &s->orders[oi];
	if (o->state != FS_STATE_RESERVED || o->user_id != ch->user_id)
		return -EINVAL;
	if (state == FS_STATE_EXPIRED && o->deadline_ns > ch->time_ns)
		return -EINVAL;
	order_settle(s, oi, state);
	if (state != FS_STATE_EXPIRED && ch->request_id != 0)
		apply_idem(s, &(struct store_idem){
				      .user_id = ch->user_id,
				      .request_id = ch->request_id,
				      .order_id = ch->order_id,
				      .created_ns = ch->time_ns,
				      .item_id = s->cat->items[o->item].id,
				      .qty = o->qty,
				      .op = state == FS_STATE_PAID ? FS_OP_CONFIRM : FS_OP_CANCEL,
				      .state = state,
			      });
	return 0;
}

/* ---- admin changes (stock, window) ---- */

static void admin_note(struct store_shard *s, const struct store_change *ch)
{
	uint32_t pos = (s->admin_head + s->admin_count) % STORE_ADMIN_RECENT;

	if (s->admin_count == STORE_ADMIN_RECENT) {
		s->admin_head = (s->admin_head + 1) % STORE_ADMIN_RECENT;
		pos = (s->admin_head + STORE_ADMIN_RECENT - 1) % STORE_ADMIN_RECENT;
	} else {
		s->admin_count++;
	}
	s->admin[pos] = *ch;
}

int store_admin_find(const struct store_shard *s, uint64_t request_id, struct store_change *out)
{
	for (uint32_t k = s->admin_count; k-- > 0;) {
		const struct store_change *ch = &s->admin[(s->admin_head + k) % STORE_ADMIN_RECENT];
		if (ch->request_id == request_id) {
			*out = *ch;
			return 0;
		}
	}
	return -ENOENT;
}

int store_admin_recent(const struct store_shard *s, uint32_t i, struct store_change *out)
{
	if (i >= s->admin_count)
		return -ENOENT;
	*out = s->admin[(s->admin_head + i) % STORE_ADMIN_RECENT];
	return 0;
}

int store_admin_restore(struct store_shard *s, const struct store_change *ch)
{
	if ((ch->type != STORE_CH_STOCK && ch->type != STORE_CH_WINDOW) || ch->request_id == 0)
		return -EINVAL;
	store_time_floor(s, ch->time_ns);
	admin_note(s, ch);
	return 0;
}

int store_shard_set_total(struct store_shard *s, uint32_t item_id, uint64_t total)
{
	uint32_t ci = store_item_find(s->cat, item_id);
	struct store_item_state *st;

	if (ci == STORE_NONE || s->cat->items[ci].owner != s->shard_id)
		return -ENOENT;
	if (s->norders != 0 || s->restoring || total > STORE_TOTAL_MAX)
		return -EINVAL;
	st = item_state(s, ci);
	FS_ASSERT(st->reserved == 0 && st->paid == 0);
	st->total = total;
	publish_avail(s, ci, (uint32_t)total);
	return 0;
}

/* Set an item's total to ch->ref (it was ch->order_id): the units held
 * (reserved + paid) stay, available takes the difference. */
static int stock_set(struct store_shard *s, const struct store_change *ch)
{
	uint32_t ci = store_item_find(s->cat, ch->item_id);
	struct store_item_state *st;

	if (ci == STORE_NONE || s->cat->items[ci].owner != s->shard_id || ch->request_id == 0)
		return -EINVAL;
	st = item_state(s, ci);
	if (st->total != ch->order_id || ch->ref > STORE_TOTAL_MAX ||
	    ch->ref < st->reserved + st->paid)
		return -EINVAL;
	st->total = ch->ref;
	publish_avail(s, ci, (uint32_t)(st->total - st->reserved - st->paid));
	item_check(s, ci);
	return 0;
}

static int window_set(struct store_shard *s, const struct store_change *ch)
{
	if (s->shard_id != 0 || ch->request_id == 0 || ch->user_id > UINT32_MAX)
		return -EINVAL;
	return store_catalog_set_window(s->cat, (uint32_t)ch->user_id, (int64_t)ch->order_id,
					(int64_t)ch->ref) == 0 ? 0 : -EINVAL;
}

int store_admin_stock(struct store_shard *s, uint32_t item_id, int64_t delta,
		      uint64_t request_id, int64_t now_ns, struct store_change *out)
{
	uint32_t ci = store_item_find(s->cat, item_id);
	const struct store_item_state *st;
	int64_t target, floor;
	int rc;

	if (ci == STORE_NONE || s->cat->items[ci].owner != s->shard_id)
		return -ENOENT;
	if (request_id == 0)
		return -EINVAL;
	if (s->unavailable)
		return -EIO;
	st = item_state(s, ci);
	floor = (int64_t)(st->reserved + st->paid);
	if (__builtin_add_overflow((int64_t)st->total, delta, &target))
		target = delta < 0 ? INT64_MIN : INT64_MAX;
	target = target < floor ? floor : target;
	target = target > (int64_t)STORE_TOTAL_MAX ? (int64_t)STORE_TOTAL_MAX : target;
	*out = (struct store_change){
		.type = STORE_CH_STOCK,
		.item_id = item_id,
		.user_id = (uint64_t)delta,
		.order_id = st->total,
		.ref = (uint64_t)target,
		.request_id = request_id,
		.time_ns = shard_time(s, now_ns),
	};
	rc = stock_set(s, out);
	FS_ASSERT(rc == 0);
	admin_note(s, out);
	if (s->journal)
		s->journal(s->journal_ctx, out);
	return 0;
}

int store_admin_window(struct store_shard *s, uint32_t activity_id, int64_t start_ns,
		       int64_t end_ns, uint64_t request_id, int64_t now_ns,
		       struct store_change *out)
{
	int64_t old_start, old_end;
	int rc;

	if (s->shard_id != 0 || request_id == 0 || start_ns >= end_ns)
		return -EINVAL;
	if (store_catalog_window(s->cat, activity_id, &old_start, &old_end, NULL) != 0)
		return -ENOENT;
	if (s->unavailable)
		return -EIO;
	*out = (struct store_change){
		.type = STORE_CH_WINDOW,
		.user_id = activity_id,
		.order_id = (uint64_t)start_ns,
		.ref = (uint64_t)end_ns,
		.request_id = request_id,
		.time_ns = shard_time(s, now_ns),
	};
	rc = window_set(s, out);
	FS_ASSERT(rc == 0);
	admin_note(s, out);
	if (s->journal)
		s->journal(s->journal_ctx, out);
	return 0;
}

static int apply_admin(struct store_shard *s, const struct store_change *ch)
{
	int rc = ch->type == STORE_CH_STOCK ? stock_set(s, ch) : window_set(s, ch);

	if (rc == 0)
		admin_note(s, ch);
	return rc;
}

int store_apply(struct store_shard *s, const struct store_change *ch)
{
	store_time_floor(s, ch->time_ns);
	switch (ch->type) {
	case STORE_CH_STOCK:
	case STORE_CH_WINDOW: return apply_admin(s, ch);
	case STORE_CH_RESERVE: return apply_reserve(s, ch);
	case STORE_CH_PAY: return apply_settle(s, ch, FS_STATE_PAID);
	case STORE_CH_CANCEL: return apply_settle(s, ch, FS_STATE_CANCELLED);
	case STORE_CH_EXPIRE: return apply_settle(s, ch, FS_STATE_EXPIRED);
	default: return -EINVAL;
	}
}

void store_shard_set_unavailable(struct store_shard *s, bool unavailable)
{
	s->unavailable = unavailable;
}

/* ---- audit ---- */

#define AUDIT_FAIL(...)                                     \
	do {                                                \
		if (errlen)                                 \
			snprintf(err, errlen, __VA_ARGS__); \
		return -EUCLEAN;                            \
	} while (0)

/* Re-derive per-item and per-holding units and state counts from the orders. */
static int audit_orders(const struct store_shard *s, char *err, size_t errlen)
{
	uint64_t by_state[FS_STATE_EXPIRED + 1] = {0};

	memset(s->audit_items, 0, s->n_owned * sizeof(*s->audit_items));
	memset(s->audit_units, 0, (s->hold_mask + 1) * sizeof(*s->audit_units));
	memset(s->audit_closed, 0, (s->hold_mask + 1) * sizeof(*s->audit_closed));
	for (uint64_t oi = 0; oi < s->norders; oi++) {
		const struct store_order *o = &s->orders[oi];
		uint64_t pos;

		if (o->state < FS_STATE_RESERVED || o->state > FS_STATE_EXPIRED)
			AUDIT_FAIL("order %" PRIu64 ": bad state %u", order_id_of(s, oi), o->state);
		if (o->item >= s->cat->n_items || s->cat->items[o->item].owner != s->shard_id)
			AUDIT_FAIL("order %" PRIu64 ": item not owned here", order_id_of(s, oi));
		by_state[o->state]++;
		pos = hold_find(s, store_hash2(o->user_id, o->item), o->user_id, o->item);
		if (s->hold[pos].user_id != o->user_id)
			AUDIT_FAIL("order %" PRIu64 ": no holding", order_id_of(s, oi));
		if (o->state != FS_STATE_RESERVED && o->state != FS_STATE_PAID) {
			if (s->audit_closed[pos] < UINT16_MAX)
				s->audit_closed[pos]++;
			continue;
		}
		s->audit_units[pos] += o->qty;
		if (o->state == FS_STATE_RESERVED)
			s->audit_items[s->cat->items[o->item].local].reserved += o->qty;
		else
			s->audit_items[s->cat->items[o->item].local].paid += o->qty;
	}
	for (unsigned st = FS_STATE_RESERVED; st <= FS_STATE_EXPIRED; st++)
		if (by_state[st] != s->by_state[st])
			AUDIT_FAIL("orders in state %s: counted %" PRIu64 ", kept %" PRIu64,
				   fs_state_name(st), by_state[st], s->by_state[st]);
	return 0;
}

static int audit_items(const struct store_shard *s, char *err, size_t errlen)
{
	for (uint32_t l = 0; l < s->n_owned; l++) {
		uint32_t ci = s->owned[l];
		uint64_t total = s->items[l].total;
		uint64_t avail =
			atomic_load_explicit(&s->cat->items[ci].available, memory_order_relaxed);
		const struct store_item_state *st = &s->items[l], *re = &s->audit_items[l];

		if (st->reserved != re->reserved || st->paid != re->paid)
			AUDIT_FAIL("item %u: reserved/paid %" PRIu64 "/%" PRIu64
				   ", orders say %" PRIu64 "/%" PRIu64,
				   s->cat->defs[ci].id, st->reserved, st->paid, re->reserved,
				   re->paid);
		if (avail + st->reserved + st->paid != total)
			AUDIT_FAIL("item %u: available %" PRIu64 " + reserved %" PRIu64
				   " + paid %" PRIu64 " != total %" PRIu64,
				   s->cat->defs[ci].id, avail, st->reserved, st->paid, total);
	}
	return 0;
}

static int audit_holdings(const struct store_shard *s, char *err, size_t errlen)
{
	uint64_t n = 0;

	for (uint64_t i = 0; i <= s->hold_mask; i++) {
		const struct store_holding *h = &s->hold[i];

		if (h->user_id == 0)
			continue;
		n++;
		if (h->units != s->audit_units[i])
			AUDIT_FAIL("holding user %" PRIu64 " item %u: %u units, orders say %u",
				   h->user_id, s->cat->defs[h->item].id, h->units,
				   s->audit_units[i]);
		if (h->closed != s->audit_closed[i])
			AUDIT_FAIL("holding user %" PRIu64
				   " item %u: %u closed orders, orders say %u",
				   h->user_id, s->cat->defs[h->item].id, h->closed,
				   s->audit_closed[i]);
		if (h->units > s->cat->defs[h->item].per_user_limit)
			AUDIT_FAIL("holding user %" PRIu64 " item %u: %u units > limit %u",
				   h->user_id, s->cat->defs[h->item].id, h->units,
				   s->cat->defs[h->item].per_user_limit);
		if (hold_find(s, store_hash2(h->user_id, h->item), h->user_id, h->item) != i)
			AUDIT_FAIL("holding user %" PRIu64 ": unreachable by probing", h->user_id);
	}
	if (n != s->nhold)
		AUDIT_FAIL("holdings: %" PRIu64 " in table, %" PRIu64 " counted", n, s->nhold);
	return 0;
}

/* Every RESERVED order is queued in its activity FIFO. */
static int audit_fifo(const struct store_shard *s, char *err, size_t errlen)
{
	uint64_t reserved = 0, seen = 0;

	for (unsigned a = 0; a < store_cat_nacts(s->cat); a++) {
		for (uint32_t oi = s->fifo[a].head; oi != STORE_NONE; oi = s->orders[oi].next) {
			if (++seen > s->norders)
				AUDIT_FAIL("activity FIFO %u: cycle", a);
			if (s->cat->items[s->orders[oi].item].act != a)
				AUDIT_FAIL("order %" PRIu64 " in the FIFO of another activity",
					   order_id_of(s, oi));
			if (s->orders[oi].next == STORE_NONE && s->fifo[a].tail != oi)
				AUDIT_FAIL("activity FIFO %u: bad tail", a);
			reserved += s->orders[oi].state == FS_STATE_RESERVED;
		}
	}
	if (reserved != s->by_state[FS_STATE_RESERVED])
		AUDIT_FAIL("%" PRIu64 " reserved orders queued for expiry, %" PRIu64 " exist",
			   reserved, s->by_state[FS_STATE_RESERVED]);
	return 0;
}

/* The index holds exactly the live ring entries, each reachable. */
static int audit_idem(const struct store_shard *s, char *err, size_t errlen)
{
	uint64_t live = 0, indexed = 0;

	for (uint64_t k = 0; k < s->ring_count; k++) {
		uint64_t slot = (s->ring_head + k) % s->ring_cap, pos;
		const struct store_idem *e = &s->ring[slot];

		if (e->op == 0)
			continue;
		live++;
		if (idem_find(s, store_hash2(e->user_id, e->request_id), e->user_id, e->request_id,
			      &pos) != slot)
			AUDIT_FAIL("stored answer user %" PRIu64 " request %" PRIu64
				   " not found by its key",
				   e->user_id, e->request_id);
	}
	for (uint64_t i = 0; i <= s->idx_mask; i++)
		indexed += s->idx[i] != 0;
	if (indexed != live)
		AUDIT_FAIL("idempotency index: %" PRIu64 " words for %" PRIu64 " entries", indexed,
			   live);
	return 0;
}

int store_audit(const struct store_shard *s, char *err, size_t errlen)
{
	int rc;

	if (errlen)
		err[0] = '\0';
	if ((rc = audit_orders(s, err, errlen)) != 0 || (rc = audit_items(s, err, errlen)) != 0 ||
	    (rc = audit_holdings(s, err, errlen)) != 0 || (rc = audit_fifo(s, err, errlen)) != 0 ||
	    (rc = audit_idem(s, err, errlen)) != 0)
		return rc;
	return 0;
}

/* ---- queries ---- */

int store_item_counts(const struct store_shard *s, uint32_t item_id, struct store_item_counts *out)
{
	uint32_t ci = store_item_find(s->cat, item_id);
	const struct store_item_state *st;

	if (ci == STORE_NONE || s->cat->items[ci].owner != s->shard_id)
		return -ENOENT;
	st = &s->items[s->cat->items[ci].local];
	out->item_id = item_id;
	out->total = st->total;
	out->available = atomic_load_explicit(&s->cat->items[ci].available, memory_order_relaxed);
	out->reserved = st->reserved;
	out->paid = st->paid;
	return 0;
}

void store_shard_stats(const struct store_shard *s, struct store_stats *out)
{
	*out = s->st;
	out->orders = s->norders;
	out->orders_capacity = s->max_orders;
	out->idem_entries = s->ring_count;
	out->idem_capacity = s->ring_cap;
	out->holdings = s->nhold;
	out->holdings_capacity = s->hold_max;
	out->next_seq = s->first_seq + s->norders;
}

/* ---- create / free ---- */

static uint64_t pow2_at_least(uint64_t n, uint64_t min)
{
	uint64_t p = min;

	while (p < n)
		p <<= 1;
	return p;
}

static int check_params(const struct store_catalog *cat, const struct store_shard_params *p)
{
	if (p->shard_id >= cat->nshards || cat->shards[p->shard_id] != NULL)
		return -EINVAL;
	if (p->max_orders == 0 || p->max_orders >= UINT32_MAX || p->max_idempotency == 0 ||
	    p->max_idempotency >= UINT32_MAX || p->idempotency_retention_ns < 0)
		return -EINVAL;
	if (p->first_seq == 0 || p->first_seq >= SEQ_LIMIT ||
	    p->max_orders > SEQ_LIMIT - p->first_seq)
		return -EINVAL;
	return 0;
}

/* Items a shard of cat can come to own: those it owns now plus every item
 * the catalog still has room for (any of them may hash to this shard). */
static uint32_t own_capacity(const struct store_catalog *cat, unsigned shard_id)
{
	return cat->owned_count[shard_id] + (cat->cap_items - store_cat_nitems(cat));
}

static int shard_alloc(struct store_shard *s)
{
	uint64_t nact = s->cat->cap_acts ? s->cat->cap_acts : 1;
	uint64_t nown = s->own_cap ? s->own_cap : 1;

	s->orders = store_zalloc(s->max_orders * sizeof(*s->orders));
	s->hold = store_zalloc((s->hold_mask + 1) * sizeof(*s->hold));
	s->ring = store_zalloc(s->ring_cap * sizeof(*s->ring));
	s->idx = store_zalloc((s->idx_mask + 1) * sizeof(*s->idx));
	s->fifo = store_zalloc(nact * sizeof(*s->fifo));
	s->items = store_zalloc(nown * sizeof(*s->items));
	s->owned = store_zalloc(nown * sizeof(*s->owned));
	s->audit_units = store_zalloc((s->hold_mask + 1) * sizeof(*s->audit_units));
	s->audit_closed = store_zalloc((s->hold_mask + 1) * sizeof(*s->audit_closed));
	s->audit_items = store_zalloc(nown * sizeof(*s->audit_items));
	s->wf_words = store_zalloc(s->wf_nwords * sizeof(*s->wf_words));
	if (!s->orders || !s->hold || !s->ring || !s->idx || !s->fifo || !s->items || !s->owned ||
	    !s->audit_units || !s->audit_closed || !s->audit_items || !s->wf_words)
		return -ENOMEM;
	for (uint64_t a = 0; a < nact; a++)
		s->fifo[a].head = s->fifo[a].tail = STORE_NONE;
	return 0;
}

/* A fresh shard starts with every unit of its items available. */
static void shard_init_items(struct store_shard *s)
{
	uint32_t l = 0, n = store_cat_nitems(s->cat);

	for (uint32_t ci = 0; ci < n; ci++) {
		if (s->cat->items[ci].owner != s->shard_id)
			continue;
		FS_ASSERT(s->cat->items[ci].local == l);
		s->items[l].total = s->cat->defs[ci].total;
		s->owned[l++] = ci;
		publish_avail(s, ci, s->cat->defs[ci].total);
	}
	FS_ASSERT(l == s->n_owned);
}

int store_shard_grow(struct store_shard *s, const struct store_catalog_def *def)
{
	uint32_t ci = store_cat_nitems(s->cat), added = 0;

	for (uint32_t k = 0; k < def->n_items; k++, ci++) {
		if (fs_shard_of_item(def->items[k].id, s->cat->nshards) != s->shard_id)
			continue;
		FS_ASSERT(s->n_owned < s->own_cap && ci < s->cat->cap_items);
		s->items[s->n_owned] = (struct store_item_state){.total = def->items[k].total};
		s->owned[s->n_owned++] = ci;
		added++;
	}
	return (int)added;
}

const struct store_catalog *store_shard_catalog(const struct store_shard *s)
{
	return s->cat;
}

bool store_shard_owns_index(const struct store_shard *s, uint32_t ci)
{
	for (uint32_t l = s->n_owned; l-- > 0;)
		if (s->owned[l] == ci)
			return true;
	return false;
}

void store_shard_ungrow(struct store_shard *s, const struct store_catalog_def *def)
{
	for (uint32_t k = 0; k < def->n_items; k++)
		if (fs_shard_of_item(def->items[k].id, s->cat->nshards) == s->shard_id) {
			FS_ASSERT(s->n_owned > s->cat->owned_count[s->shard_id]);
			s->n_owned--;
		}
}

int store_shard_create(struct store_catalog *cat, const struct store_shard_params *p,
		       struct store_shard **out)
{
	struct store_shard *s;
	uint64_t wf_bits;
	int rc;

	*out = NULL;
	if ((rc = check_params(cat, p)) != 0)
		return rc;
	s = store_zalloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cat = cat;
	s->cfg = cat->cfg;
	s->shard_id = p->shard_id;
	s->journal = p->journal;
	s->journal_ctx = p->journal_ctx;
	s->retention_ns = p->idempotency_retention_ns;
	s->steady = p->steady_ns;
	s->time_floor_ns = INT64_MIN;
	s->max_orders = p->max_orders;
	s->first_seq = p->first_seq;
	s->hold_mask = pow2_at_least(2 * p->max_orders, 16) - 1;
	s->hold_max = p->max_orders;
	s->ring_cap = p->max_idempotency;
	s->idx_mask = pow2_at_least(2 * p->max_idempotency, 16) - 1;
	s->n_owned = cat->owned_count[p->shard_id];
	s->own_cap = own_capacity(cat, p->shard_id);
	wf_bits = pow2_at_least(p->max_orders * STORE_WF_BITS_PER_ORDER, STORE_WF_MIN_BITS);
	s->wf_nwords = wf_bits / 64;
	if ((rc = shard_alloc(s)) != 0) {
		store_shard_free(s);
		return rc;
	}
	shard_init_items(s);
	FS_ASSERT(store_catalog_attach(cat, s->shard_id, s, s->wf_words, s->wf_nwords) == 0);
	s->attached = true;
	s->wf = &cat->winners[s->shard_id];
	*out = s;
	return 0;
}

void store_shard_free(struct store_shard *s)
{
	if (!s)
		return;
	if (s->attached)
		store_catalog_detach(s->cat, s->shard_id);
	free(s->orders);
	free(s->hold);
	free(s->ring);
	free(s->idx);
	free(s->fifo);
	free(s->items);
	free(s->owned);
	free(s->audit_units);
	free(s->audit_closed);
	free(s->audit_items);
	free((void *)s->wf_words);
	free(s);
}

void store_shard_bytes(const struct store_catalog *cat, const struct store_shard_params *p,
		       struct store_memory *out)
{
	uint64_t nact = cat->cap_acts ? cat->cap_acts : 1;
	uint64_t nown = own_capacity(cat, p->shard_id) ? own_capacity(cat, p->shard_id) : 1;
	uint64_t hold_slots = pow2_at_least(2 * p->max_orders, 16);
	uint64_t wf_bits = pow2_at_least(p->max_orders * STORE_WF_BITS_PER_ORDER, STORE_WF_MIN_BITS);

	out->orders = p->max_orders * sizeof(struct store_order);
	out->holdings = hold_slots * sizeof(struct store_holding);
	out->idem_ring = p->max_idempotency * sizeof(struct store_idem);
	out->idem_index = pow2_at_least(2 * p->max_idempotency, 16) * sizeof(uint64_t);
	out->winners = wf_bits / 64 * sizeof(uint64_t);
	out->other = sizeof(struct store_shard) + nact * sizeof(struct store_fifo) +
		     nown * (2 * sizeof(struct store_item_state) + sizeof(uint32_t)) +
		     hold_slots * (sizeof(uint32_t) + sizeof(uint16_t));
	out->total = out->orders + out->holdings + out->idem_ring + out->idem_index + out->winners +
		     out->other;
}

void store_shard_memory(const struct store_shard *s, struct store_memory *out)
{
	struct store_shard_params p = {.shard_id = s->shard_id,
				       .max_orders = s->max_orders,
				       .max_idempotency = s->ring_cap};

	store_shard_bytes(s->cat, &p, out);
}
