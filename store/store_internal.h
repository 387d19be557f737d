/*
 * store_internal.h — private layouts shared by store_catalog.c and
 * store_shard.c. Never included outside store/ (CONVENTIONS.md).
 *
 * The catalog is the only memory shared between cores. Everything a gate
 * reads on the sold-out path sits in one 32-byte struct store_item (two per
 * cache line): the window, max_per_order, the owner and the owner-published
 * available count. Per-item data only owners and the control plane need
 * (initial total, per_user_limit, price) and the activities (keys, pay
 * timeout) are the catalog's own copies (defs[], acts[]), preallocated to
 * the catalog's capacity: items created at run time (store_catalog_define)
 * live there exactly like the config's, which are catalog items
 * 0 .. n_cfg_items - 1.
 */
#ifndef STORE_INTERNAL_H
#define STORE_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "fs_common.h"
#include "store.h"

#define STORE_NONE	 UINT32_MAX /* "no index" in uint32 links */
#define STORE_CACHE_LINE 64u
#define STORE_HUGE_PAGE	 ((size_t)2 << 20)
#define STORE_RL_WAYS	 4u /* rate-limit buckets per set (store_rate.c) */

/* Winners filter: a blocked Bloom filter with one 64-bit word per key and
 * k = 3 bits set in that word (store_wf_bits). One word means one cache line and one
 * relaxed load per check; at 16 bits per order the false-positive rate is
 * about 1%, which only costs a hand-off. */
#define STORE_WF_BITS_PER_ORDER 16u
#define STORE_WF_MIN_BITS	(64u * 1024u)

/* One item as every core reads it: 32 bytes, read-only after create except
 * available, which only the owner shard writes (relaxed store), and the
 * window, which an admin open/close moves (each bound one atomic 64-bit
 * store; a gate may for an instant see one bound moved and not the other,
 * which only answers NOT_STARTED/ENDED or routes a request a moment early
 * or late: the window is wall-clock policy, not an invariant). */
struct store_item {
	_Atomic uint32_t available;
	uint32_t id;
	_Atomic int64_t start_ns; /* the activity's window: moved by admin (relaxed stores) */
	_Atomic int64_t end_ns;
	uint16_t max_per_order;
	uint16_t act;	/* index into cfg->activities */
	uint16_t local; /* index among the owner shard's items */
	uint8_t owner;	/* fs_shard_of_item(id, nshards) */
	uint8_t require_token;
};
_Static_assert(sizeof(struct store_item) == 32, "two items per cache line");

/* item_id -> catalog index, open addressing with linear probing; id 0 = empty
 * (item ids are >= 1). */
struct store_item_slot {
	_Atomic uint32_t id; /* stored last, with release: the slot publishes the item */
	uint32_t idx;
};

struct store_winners {
	_Atomic uint64_t *words;
	uint64_t mask; /* words - 1 */
};

struct store_catalog {
	const struct cfg *cfg;
	unsigned nshards;
	_Atomic uint32_t n_items; /* published items (release store after each define) */
	_Atomic uint32_t n_acts;  /* published activities */
	uint32_t n_cfg_items;	  /* the first ones, from the config */
	uint32_t n_cfg_acts;
	uint32_t cap_items;	   /* capacity of every per-item array */
	uint32_t cap_acts;	   /* capacity of every per-activity array */
	struct cfg_item *defs;	   /* per item: the definition (cold: owners, control plane) */
	uint64_t *item_rid;	   /* per item: admin request_id that created it (0: config) */
	struct cfg_activity *acts; /* per activity */
	uint64_t *act_rid;	   /* per activity: admin request_id that created it */
	uint32_t slot_mask;
	uint32_t slot_shift; /* 32 - log2(slots): Fibonacci hashing uses the top bits */
	struct store_item_slot *slots;
	struct store_item *items;		    /* n_items, cache aligned */
	int64_t *pay_timeout_ns;		    /* per activity */
	int64_t *act_start_ns, *act_end_ns;	    /* per activity: current window */
	uint8_t *act_moved;			    /* per activity: window set by admin */
	uint32_t *owned_count;			    /* per shard: items it owns */
	struct store_shard *shards[FS_WORKERS_MAX]; /* registered at shard create */
	struct store_winners winners[FS_WORKERS_MAX];
	_Atomic uint64_t no_filter; /* the empty filter of a shard not created */
};

static inline uint64_t store_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Hash of a pair of 64-bit keys ((user, request) or (user, item)). */
static inline uint64_t store_hash2(uint64_t a, uint64_t b)
{
	return store_mix64(a * 0x9E3779B97F4A7C15ULL + (b ^ (b >> 29)) * 0xBF58476D1CE4E5B9ULL);
}

/* Catalog index of item_id, or STORE_NONE. */
static inline uint32_t store_item_find(const struct store_catalog *cat, uint32_t item_id)
{
	uint32_t i = (item_id * 0x9E3779B1u) >> cat->slot_shift;

	if (unlikely(item_id == 0))
		return STORE_NONE;
	for (;;) {
		const struct store_item_slot *sl = &cat->slots[i];
		/* Acquire pairs with the define's release store of the id: a slot
		 * that shows the id shows a fully written item. */
		uint32_t id = atomic_load_explicit(&sl->id, memory_order_acquire);
		if (likely(id == item_id))
			return sl->idx;
		if (id == 0)
			return STORE_NONE;
		i = (i + 1) & cat->slot_mask;
	}
}

/* Activities published so far (acquire: their records are complete). */
static inline uint32_t store_cat_nacts(const struct store_catalog *cat)
{
	return atomic_load_explicit(&cat->n_acts, memory_order_acquire);
}

static inline uint32_t store_cat_nitems(const struct store_catalog *cat)
{
	return atomic_load_explicit(&cat->n_items, memory_order_acquire);
}

/* The filter word and bit pattern of a (user_id, request_id). */
static inline uint64_t store_wf_bits(uint64_t h)
{
	return (1ULL << ((h >> 40) & 63)) | (1ULL << ((h >> 46) & 63)) | (1ULL << ((h >> 52) & 63));
}

static inline bool store_wf_maybe(const struct store_winners *w, uint64_t user_id,
				  uint64_t request_id)
{
	uint64_t h = store_hash2(user_id, request_id);
	uint64_t bits = store_wf_bits(h);
	uint64_t word = atomic_load_explicit(&w->words[h & w->mask], memory_order_relaxed);

	return (word & bits) == bits;
}

/* Owner only, h = store_hash2(user_id, request_id). The owner is the single
 * writer, so load|bits then store is race free, and gates see either the old
 * or the new word. */
static inline void store_wf_add(struct store_winners *w, uint64_t h)
{
	_Atomic uint64_t *p = &w->words[h & w->mask];

	atomic_store_explicit(p, atomic_load_explicit(p, memory_order_relaxed) | store_wf_bits(h),
			      memory_order_relaxed);
}

/* A response that echoes the request (op, user, request, item, order), with
 * server_time = now and every other field 0. */
static inline void store_resp_init(struct fs_resp *resp, const struct fs_req *req, int64_t now_ns,
				   uint8_t status)
{
	*resp = (struct fs_resp){
		.op = req->op,
		.status = status,
		.item_id = req->item_id,
		.user_id = req->user_id,
		.request_id = req->request_id,
		.order_id = req->order_id,
		.server_time_ns = (uint64_t)now_ns,
	};
}

/* Milliseconds from now until t (t > now), rounded up, saturating. */
static inline uint32_t store_ms_until(int64_t t, int64_t now)
{
	uint64_t d = (uint64_t)t - (uint64_t)now;
	uint64_t ms = d / FS_NS_PER_MS + (d % FS_NS_PER_MS != 0);

	return ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms;
}

/* ---- the shard's layout (store_shard.c; store_snap.c images and restores it:
 * a field added here must be handled there too) ---- */

struct store_order {
	uint64_t user_id;
	uint64_t request_id; /* of the BUY that created it */
	int64_t deadline_ns;
	uint32_t item; /* catalog index */
	uint32_t next; /* next order of the activity FIFO, STORE_NONE at the tail */
	uint16_t qty;
	uint8_t state; /* enum fs_order_state */
	uint8_t unused;
};
_Static_assert(sizeof(struct store_order) == 40, "order record size");

struct store_holding {
	uint64_t user_id; /* 0 = empty slot */
	uint32_t units;	  /* reserved + paid */
	uint16_t item;	  /* catalog index */
	uint16_t closed;  /* orders cancelled or expired (saturating): STORE_CLOSED_MAX */
};
_Static_assert(sizeof(struct store_holding) == 16, "holding slot size");
_Static_assert(FS_ITEMS_MAX <= 65536, "a catalog index fits the holding's 16-bit item");

struct store_idem {
	uint64_t user_id;
	uint64_t request_id;
	uint64_t order_id;
	int64_t created_ns;
	uint32_t item_id;
	uint16_t qty;
	uint8_t op;    /* BUY, CONFIRM, CANCEL; 0 = dead (superseded on replay) */
	uint8_t state; /* state reported by the stored answer (0 for BUY) */
};
_Static_assert(sizeof(struct store_idem) == 40, "idempotency entry size");

struct store_item_state {
	uint64_t reserved;
	uint64_t paid;
	uint64_t total; /* units of the item: the config's, then admin stock changes */
};

struct store_fifo {
	uint32_t head, tail; /* order indexes, STORE_NONE when empty */
};

struct store_shard {
	struct store_catalog *cat;
	const struct cfg *cfg;
	struct store_winners *wf;
	unsigned shard_id;
	bool unavailable;
	bool attached;
	store_journal_fn journal;
	void *journal_ctx;
	int64_t retention_ns;
	int64_t (*steady)(void); /* params.steady_ns; NULL: the caller's now_ns */
	int64_t steady_read;	 /* steady() as read once this tick (store_shard_clock_tick) */
	bool ticked;		 /* store_shard_clock_tick was called: one read per tick */
	bool steady_fresh;	 /* steady_read is this tick's */
	int64_t steady_adj_ns;	 /* added to steady() so it never reads below floor */
	int64_t time_floor_ns;	 /* latest time restored or replayed */
	int64_t wall_off_ns;	 /* wall - steady told to clients (store_shard.c wall_of) */

	struct store_order *orders;
	uint64_t max_orders, first_seq, norders;
	uint64_t by_state[FS_STATE_EXPIRED + 1];

	struct store_holding *hold;
	uint64_t hold_mask, nhold, hold_max;

	struct store_idem *ring;
	uint64_t ring_cap, ring_head, ring_count;
	uint64_t *idx;
	uint64_t idx_mask;

	struct store_fifo *fifo;	/* per activity */
	struct store_item_state *items; /* per owned item (local index) */
	uint32_t *owned;		/* local index -> catalog index */
	uint32_t n_owned;		/* grows by store_shard_grow (owner thread) */
	uint32_t own_cap;		/* capacity of items/owned/audit_items */
	_Atomic uint64_t *wf_words;
	uint64_t wf_nwords;

	uint32_t *audit_units; /* store_audit scratch, per holding slot */
	uint16_t *audit_closed; /* the same, closed orders */
	struct store_item_state *audit_items;

	struct store_stats st; /* by_status, expired, table_full */

	struct store_change admin[STORE_ADMIN_RECENT]; /* admin changes, ring */
	uint32_t admin_head, admin_count;

	bool restoring;	      /* between store_restore_begin and _end (store_snap.c) */
	uint64_t restore_next; /* next_seq the restore must reach */
};

/* A time found in a restore or a replay: the shard's clock will not read
 * earlier than it. */
static inline void store_time_floor(struct store_shard *s, int64_t t)
{
	if (t > s->time_floor_ns)
		s->time_floor_ns = t;
}

/* Shard registration (store_catalog.c): the shard allocates its filter and
 * hands it to the catalog so that gates see it. -EINVAL if the id is taken. */
int store_catalog_attach(struct store_catalog *cat, unsigned shard_id, struct store_shard *s,
			 _Atomic uint64_t *words, uint64_t nwords);
void store_catalog_detach(struct store_catalog *cat, unsigned shard_id);

/* Whether s already holds the state of catalog index ci (grown for it). */
bool store_shard_owns_index(const struct store_shard *s, uint32_t ci);

/* Allocate n bytes aligned to a cache line, zeroed; NULL on failure. */
void *store_zalloc(size_t n);

#endif
