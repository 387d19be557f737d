/*
 * store.h — the shard engine: every purchase decision of the appliance.
 *
 * Plain C over preallocated memory: no DPDK, no liburing, no allocation and
 * no syscalls after create. Two parts:
 *
 *  - struct store_catalog: activities and items (the config's at create,
 *    more defined at run time: store_catalog_define; an activity's window
 *    moves by admin call: store_admin_window) plus
 *    what owners publish for every core to read with relaxed atomics: each
 *    item's available units (the "sold-out flag" is available == 0) and a
 *    per-shard "winners filter" (a Bloom filter of (user_id, request_id) of
 *    BUYs answered OK). store_gate() runs on the receiving core and answers
 *    everything that needs no shard state (malformed fields, TIME,
 *    ITEM_STATUS, unknown item, qty > max_per_order, sale window, BUY token,
 *    sold out); before answering SOLD_OUT or ENDED it consults the winners
 *    filter, so that a retry of a BUY that won still reaches the owner and
 *    gets its original OK back (idempotency). A false positive only costs a
 *    hand-off.
 *
 *  - struct store_shard: owned by one worker core, single threaded. Items
 *    whose fs_shard_of_item() is this shard, orders created here (order_id =
 *    seq << 8 | shard), holdings per (user, item), the idempotency table and
 *    per-activity FIFO expiry queues. store_execute() decides one request.
 *
 * Invariants (store_audit checks them over a whole shard, FS_ASSERT on every
 * change): per item available + reserved + paid == total (total starts as
 * the config's and moves by admin stock changes, never below reserved +
 * paid), none negative; per
 * (user, item) reserved + paid <= per_user_limit.
 *
 * Idempotency: answers that changed state (OK to BUY, CONFIRM, CANCEL) are
 * stored for idempotency_retention_s and returned for a repeat of the same
 * (user_id, request_id); a repeat with another op/item/order is BAD_REQUEST.
 * Rejections are not stored: they changed nothing, and a retry of a
 * NOT_STARTED/BUSY/SOLD_OUT is meant to be decided afresh.
 *
 * Time: each call's now_ns is the wall clock; it decides the sale window and
 * is the server_time of answers. Deadlines and retention run on the shard's
 * steady clock (store_shard_params.steady_ns), which the shard reads only
 * when it needs it (a state change, a deadline to report). The times in
 * journal records, images and restores are on that clock: the wall clock as
 * of the start of the run that wrote them. A shard never lets its clock go
 * back behind a time it restored or replayed (it adds the difference), so
 * after a restart whose wall clock was stepped back, reservations still
 * expire in creation order and no earlier than they would have. Deadlines
 * sent to clients are converted to the current wall clock (now_ns). A caller
 * that decides many requests in a burst calls store_shard_clock_tick once per
 * burst: the shard then reads its steady clock at most once per tick (the
 * first decision that needs it), not once per decision (a clock_gettime was
 * ~7% of a worker deciding 3 M BUYs/s); the time is then at most one burst
 * old, nothing for deadlines of seconds to minutes.
 *
 * Journal: every state change is reported as a struct store_change through
 * the journal hook given at create (the WAL appends it); store_apply() replays
 * one onto a shard during recovery and must reach the identical state.
 */
#ifndef STORE_H
#define STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "fs_proto.h"

struct store_catalog;
struct store_shard;

/* ---- catalog (shared, read-mostly) ---- */

/* Items the catalog can take beyond the config's (created at run time by
 * the admin API): every per-item array of the catalog and of each shard is
 * preallocated for them, so growth allocates nothing. Activities: up to
 * FS_ACTIVITIES_MAX in all. */
#define STORE_RUNTIME_ITEMS 4096u
/* Items one definition (one admin call, one log record) may carry. */
#define STORE_DEFINE_ITEMS_MAX 64u

/* Build the catalog for nshards shards from a validated config. The catalog
 * keeps a pointer to cfg, which must outlive it; it copies the activities
 * and items, so runtime definitions live beside them. 0, -ENOMEM, -EINVAL. */
int store_catalog_create(const struct cfg *cfg, unsigned nshards, struct store_catalog **out);
/* Item capacity of a catalog built from cfg: n_items + STORE_RUNTIME_ITEMS,
 * at most FS_ITEMS_MAX; and the bytes the catalog allocates. */
uint32_t store_catalog_capacity(const struct cfg *cfg);
uint64_t store_catalog_bytes(const struct cfg *cfg, unsigned nshards);
void store_catalog_free(struct store_catalog *cat);
unsigned store_catalog_nshards(const struct store_catalog *cat);

/* Receiving-core check of one request.
 * Returns true when resp is the final answer (nothing to hand off); false
 * when the request must go to shard *owner (resp untouched then). now_ns is
 * the wall clock. Thread-safe: only reads the catalog. */
bool store_gate(const struct store_catalog *cat, const struct fs_req *req, int64_t now_ns,
		struct fs_resp *resp, unsigned *owner);

/* A hint before store_gate on a burst (no effect on any answer): start
 * loading the cache lines the gate will read for a BUY of item_id by
 * (user_id, request_id) — the winners filter word it consults when the item
 * is sold out or closed, a random line of a large array, so a cache miss per
 * rejection unless fetched ahead for the whole burst. Only reads (relaxed). */
void store_gate_prefetch(const struct store_catalog *cat, uint32_t item_id, uint64_t user_id,
			 uint64_t request_id);

/* Units still buyable of an item (relaxed read; -1 if unknown item). */
int64_t store_item_available(const struct store_catalog *cat, uint32_t item_id);

/* ---- the catalog at run time: definitions, and reading it ----
 *
 * A definition is an activity with its items (has_activity) or items added
 * to an existing activity (act.id names it; the rest of act is unused). It
 * is applied all or nothing, in two steps, so that a gate either does not
 * see an item (UNKNOWN_ITEM) or sees all of it:
 *  1. store_shard_grow on every shard, on its own thread: each owner makes
 *     room for the items it will own (state, total) — invisible until 2;
 *  2. store_catalog_define (control plane or shard 0's thread; one at a
 *     time): copies the records, then publishes each item with a release
 *     store of its id-table slot (gates load it with acquire).
 * store_shard_ungrow undoes 1 when 2 is not reached. store_define_all does
 * both for shards that are not running (recovery, tests). request_id is
 * kept with every item and activity the definition creates, so a retried
 * admin call finds its first answer (store_catalog_item_at). */
struct store_item_def {
	uint32_t id;
	uint32_t total;
	uint32_t per_user_limit;
	uint16_t max_per_order;
	uint64_t price_cents;
};

struct store_catalog_def {
	uint64_t request_id;
	int64_t time_ns;
	bool has_activity;
	struct cfg_activity act;
	uint32_t n_items;
	struct store_item_def items[STORE_DEFINE_ITEMS_MAX];
};

/* 0, or why not (a sentence in why): -EINVAL (a field: the sentence names
 * it), -EEXIST (an id is taken), -ENOENT (no such activity to add items
 * to), -ENOSPC (capacity full). Read-only. */
int store_catalog_check_def(const struct store_catalog *cat, const struct store_catalog_def *def,
			    char *why, size_t whylen);
/* Step 1 on shard s (owner thread): returns how many of the items it owns. */
int store_shard_grow(struct store_shard *s, const struct store_catalog_def *def);
void store_shard_ungrow(struct store_shard *s, const struct store_catalog_def *def);
/* Step 2. 0, -EINVAL (store_catalog_check_def refuses it). */
int store_catalog_define(struct store_catalog *cat, const struct store_catalog_def *def);
/* Both steps on shards that are not running (NULL entries are skipped);
 * store_catalog_check_def's returns. */
int store_define_all(struct store_catalog *cat, struct store_shard *const shards[],
		     const struct store_catalog_def *def, char *why, size_t whylen);

/* Items and activities published so far (catalog indexes 0 .. n-1; the
 * config's come first), the idx-th of each with the request_id of the
 * definition that created it (0: from the config), by id. Any thread. */
uint32_t store_catalog_items(const struct store_catalog *cat);
uint32_t store_catalog_activities(const struct store_catalog *cat);
int store_catalog_item_at(const struct store_catalog *cat, uint32_t idx, struct cfg_item *out,
			  uint64_t *request_id);
int store_catalog_item_def(const struct store_catalog *cat, uint32_t item_id, struct cfg_item *out);
int store_catalog_activity_at(const struct store_catalog *cat, uint32_t idx,
			      struct cfg_activity *out, uint64_t *request_id);
int store_catalog_activity(const struct store_catalog *cat, uint32_t activity_id,
			   struct cfg_activity *out);
const struct store_catalog *store_shard_catalog(const struct store_shard *s);
bool store_catalog_is_runtime(const struct store_catalog *cat, uint32_t item_idx);
bool store_catalog_act_is_runtime(const struct store_catalog *cat, uint32_t act_idx);

/* ---- journal records ---- */

enum store_change_type {
	STORE_CH_RESERVE = 1, /* BUY OK: new order */
	STORE_CH_PAY = 2,     /* CONFIRM OK */
	STORE_CH_CANCEL = 3,  /* CANCEL OK */
	STORE_CH_EXPIRE = 4,  /* reservation deadline passed */
	STORE_CH_STOCK = 5,   /* admin: item's total set (see store_admin_stock) */
	STORE_CH_WINDOW = 6,  /* admin: activity's window set (store_admin_window) */
};

struct store_change {
	uint8_t type;          /* enum store_change_type */
	uint16_t qty;
	uint32_t item_id;
	uint64_t order_id;
	uint64_t user_id;
	uint64_t request_id;   /* the request that caused it; 0 for EXPIRE */
	uint64_t ref;          /* CONFIRM payment reference */
	int64_t time_ns;       /* decision time (deadline derives from it for RESERVE) */
};

/* The admin records reuse the fields:
 *   STOCK:  item_id; order_id = total before, ref = total after,
 *           user_id = the delta asked for (int64 as uint64); request_id =
 *           the admin request_id; time_ns.
 *   WINDOW: user_id = activity_id; order_id = start_ns, ref = end_ns (int64
 *           as uint64); request_id; time_ns. Journalled by shard 0 only. */

/* Called by the shard for every change, in decision order, before
 * store_execute returns. ctx is the pointer given at create. */
typedef void (*store_journal_fn)(void *ctx, const struct store_change *ch);

/* ---- shards (one per worker core) ---- */

/* Orders one user may let close without paying (cancelled or expired) per
 * item; past it a BUY of that item is LIMIT_EXCEEDED. Order slots are never
 * reused (an order id answers ORDER_STATUS for the shard's life), so this is
 * what keeps one buyer's BUY + CANCEL loop from filling the order table
 * while stock remains: a user can take at most per_user_limit + STORE_CLOSED_MAX
 * slots of an item. */
#define STORE_CLOSED_MAX 16u

struct store_shard_params {
	unsigned shard_id;           /* < nshards of the catalog */
	uint64_t max_orders;         /* this shard's order capacity */
	uint64_t max_idempotency;    /* this shard's stored-answer capacity */
	int64_t idempotency_retention_ns;
	uint64_t first_seq;          /* first order seq to hand out (>= 1) */
	store_journal_fn journal;    /* may be NULL */
	void *journal_ctx;
	/* The shard's clock for reservation deadlines and idempotency retention
	 * (the daemon gives fs_steady_ns, which a wall-clock step does not
	 * move). NULL: the now_ns of each call serves for those too (tests). */
	int64_t (*steady_ns)(void);
};

/* Split of the config's appliance-wide capacities for one shard: each shard
 * gets the stock of the items it owns plus an equal part of the rest.
 * Fills max_orders and max_idempotency of *p. */
void store_shard_capacity(const struct store_catalog *cat, unsigned shard_id,
			  struct store_shard_params *p);

/* Allocate a shard (all tables sized here, nothing later). 0, -ENOMEM, -EINVAL. */
int store_shard_create(struct store_catalog *cat, const struct store_shard_params *p,
		       struct store_shard **out);
void store_shard_free(struct store_shard *s);

/* Decide one request that store_gate routed to this shard. Fills resp
 * (server_time_ns = now_ns). Returns true when state changed (the caller
 * must make the journal records durable before sending an OK). */
bool store_execute(struct store_shard *s, const struct fs_req *req, int64_t now_ns,
		   struct fs_resp *resp);

/* Hint: start loading the table lines that deciding req will touch (its
 * idempotency index slot, holding and winners-filter word for a BUY; the
 * order for CONFIRM/CANCEL/ORDER_STATUS). Changes nothing. An owner that
 * holds a burst calls it a few requests ahead of store_execute so that the
 * cache misses of successive requests overlap. */
void store_prefetch(const struct store_shard *s, const struct fs_req *req);

/* Hint for a BUY this shard may decide: when it owns req's item and the
 * item is in stock (the gate then routes the BUY here), start loading the
 * lines its decision reads at random places: the idempotency index slot,
 * the holding and the winners-filter word. Changes nothing; anything else
 * is ignored. A front end calls it for every message of a datagram before
 * deciding the first, so that their cache misses overlap. */
void store_execute_prefetch(const struct store_shard *s, const struct fs_req *req);

/* store_execute over n requests in order, prefetching ahead: the same
 * answers and journal records as n calls of store_execute. changed[i]
 * (when changed is not NULL) tells whether request i changed state.
 * Returns how many did. */
unsigned store_execute_burst(struct store_shard *s, const struct fs_req *const reqs[], unsigned n,
			     int64_t now_ns, struct fs_resp resps[], bool changed[]);

/* Expire at most max reservations whose deadline has passed on the shard's
 * steady clock (now_ns when it has none); returns how many expired (each
 * journalled). */
unsigned store_expire(struct store_shard *s, int64_t now_ns, unsigned max);

/* Drop idempotency entries older than the retention window (on the steady
 * clock, as store_expire), at most max. */
unsigned store_idem_trim(struct store_shard *s, int64_t now_ns, unsigned max);

/* Replay one journalled change (recovery). 0, or -EINVAL when the change
 * does not fit the current state (corruption: the caller refuses to start). */
int store_apply(struct store_shard *s, const struct store_change *ch);

/* ---- admin changes (control plane, run on the owner's thread) ----
 *
 * Stock lives on the item's owner shard: store_admin_stock runs on that
 * shard's thread (dp_engine_on_workers), adds delta to the item's total,
 * clamped so that total >= reserved + paid (units held are never taken
 * away) and total <= STORE_TOTAL_MAX, publishes the new available, and
 * journals a STORE_CH_STOCK through the shard's hook, so it is ordered with
 * the shard's BUYs in its log. *out is the record (applied = ref -
 * order_id). 0, -ENOENT (not an item of this shard), -EINVAL (request_id 0),
 * -EIO (shard unavailable: storage fault). Adding stock does not grow the
 * order table: a shard whose table fills answers BUSY ([limits] max_orders
 * bounds it).
 *
 * The sale window is catalog state: store_admin_window runs on shard 0's
 * thread, moves every item of the activity (atomic 64-bit stores the gates
 * read) and journals a STORE_CH_WINDOW in shard 0's log. 0, -EINVAL
 * (not shard 0, start >= end, request_id 0), -ENOENT (no such activity),
 * -EIO.
 *
 * Each shard remembers its last STORE_ADMIN_RECENT admin changes (live,
 * replayed, or restored from a snapshot) so a retried admin request gets its
 * first answer: store_admin_find (newest first by request_id; 0/-ENOENT),
 * store_admin_recent (i-th oldest; snapshots write them),
 * store_admin_restore (a snapshot's; -EINVAL for another record type).
 * Owner thread, or the control plane while the workers are not running. */
#define STORE_TOTAL_MAX	   ((uint64_t)INT32_MAX)
#define STORE_ADMIN_RECENT 64u /* admin changes each shard remembers */
int store_admin_stock(struct store_shard *s, uint32_t item_id, int64_t delta,
		      uint64_t request_id, int64_t now_ns, struct store_change *out);
int store_admin_window(struct store_shard *s, uint32_t activity_id, int64_t start_ns,
		       int64_t end_ns, uint64_t request_id, int64_t now_ns,
		       struct store_change *out);
int store_admin_find(const struct store_shard *s, uint64_t request_id, struct store_change *out);
int store_admin_recent(const struct store_shard *s, uint32_t i, struct store_change *out);
int store_admin_restore(struct store_shard *s, const struct store_change *ch);

/* The total of an owned item in a FRESH shard (a snapshot's total replaces
 * the config's before the restore). 0, -ENOENT, -EINVAL (not fresh, too big). */
int store_shard_set_total(struct store_shard *s, uint32_t item_id, uint64_t total);

/* An activity's current window (and whether an admin call set it);
 * -ENOENT. Set it (snapshot restore; replays go through store_apply): 0,
 * -ENOENT, -EINVAL (start >= end). Control plane, or shard 0's thread. */
int store_catalog_window(const struct store_catalog *cat, uint32_t activity_id,
			 int64_t *start_ns, int64_t *end_ns, bool *moved);
int store_catalog_set_window(struct store_catalog *cat, uint32_t activity_id, int64_t start_ns,
			     int64_t end_ns);

/* While unavailable (storage fault), every state-changing request is answered
 * UNAVAILABLE and nothing changes; reads and rejections keep working. */
void store_shard_set_unavailable(struct store_shard *s, bool unavailable);

/* A new burst of decisions (see "Time" above): the next one that needs the
 * steady clock reads it, the rest of the burst reuse that reading. Without a
 * first call the shard reads the clock for every decision that needs it. */
void store_shard_clock_tick(struct store_shard *s);

/* Check every invariant over the whole shard. 0, or -EUCLEAN with a
 * description of the first violation in err. */
int store_audit(const struct store_shard *s, char *err, size_t errlen);

struct store_item_counts {
	uint32_t item_id;
	uint64_t total, available, reserved, paid;
};
/* Counts of one item owned by this shard; -ENOENT if not owned here. */
int store_item_counts(const struct store_shard *s, uint32_t item_id, struct store_item_counts *out);

/* ---- rate limiting (token buckets, one set per receiving core) ----
 *
 * A fixed table of slots buckets (a power of two) in sets of 4, each bucket
 * tagged with its key (a source address or a user id); the set is chosen by
 * SipHash under a random key drawn at create, so clients cannot aim at each
 * other's buckets. A key not in its set takes over only a FULL bucket; when
 * every way is refilling it shares the most-drained one (conservative: never
 * forgiving). Buckets are per core: a client spread over every worker gets
 * up to workers x the limit. Not thread-safe: one per core. */
struct store_ratelimit;
#define STORE_RL_KEY_LEN 16
/* rate_per_s > 0, burst >= 1, slots a power of two. 0, -EINVAL, -ENOMEM,
 * -EIO (libsodium would not initialise). */
int store_ratelimit_create(unsigned rate_per_s, unsigned burst, unsigned slots,
			   struct store_ratelimit **out);
void store_ratelimit_free(struct store_ratelimit *rl);
/* Take one token for key at now_ns (monotonic). true = allowed; false =
 * refused, with *retry_after_ms (>= 1) until a token is there. */
bool store_ratelimit_allow(struct store_ratelimit *rl, uint64_t key, int64_t now_ns,
			   uint32_t *retry_after_ms);
/* Tests: replace the random hash key (before any allow), and the set a key
 * lands in under the current hash key. */
void store_ratelimit_set_key(struct store_ratelimit *rl, const uint8_t key[STORE_RL_KEY_LEN]);
uint64_t store_ratelimit_set_of(const struct store_ratelimit *rl, uint64_t key);

struct store_stats {
	uint64_t by_status[FS_ST_COUNT]; /* answers given by store_execute */
	uint64_t orders, orders_capacity;
	uint64_t idem_entries, idem_capacity;
	uint64_t holdings, holdings_capacity;
	uint64_t expired;
	uint64_t table_full;             /* BUSY answers caused by a full table */
	uint64_t next_seq;
};
void store_shard_stats(const struct store_shard *s, struct store_stats *out);

/* Bytes a shard allocated at create, by table (capacity, not use): orders,
 * holdings, idempotency ring, idempotency index, winners filter, and the
 * rest (per-item and per-activity arrays, audit scratch). */
struct store_memory {
	uint64_t orders, holdings, idem_ring, idem_index, winners, other, total;
};
void store_shard_memory(const struct store_shard *s, struct store_memory *out);
/* The same, before create: what store_shard_create will allocate for p
 * (shard_id, max_orders and max_idempotency are read). */
void store_shard_bytes(const struct store_catalog *cat, const struct store_shard_params *p,
		       struct store_memory *out);

/* ---- memory budget (store_budget.c; start-up only) ----
 *
 * What the store will allocate for a config, computed before anything big
 * is allocated, and whether the machine can give it: the daemon refuses to
 * start (and --check fails) rather than allocate its way into the OOM
 * killer. Every table is touched when allocated (store_zalloc zeroes it), so
 * a start that passed the check cannot later die of a page fault. */
struct store_budget {
	uint64_t catalog;  /* items index and published values */
	uint64_t shards;   /* every shard's tables (store_shard_bytes) */
	uint64_t images;   /* every shard's snapshot image (store_image_bytes) */
	uint64_t other;    /* what the caller adds (rings, log buffers, EAL) */
	uint64_t total;
	uint64_t max_orders_shard; /* the largest shard's order capacity */
};
/* Fill *out for cfg on nshards shards plus other_bytes. 0, -EINVAL (a
 * config store_catalog_create refuses), -ENOMEM (no room for the small
 * catalog it builds to split the capacities). */
int store_memory_need(const struct cfg *cfg, unsigned nshards, uint64_t other_bytes,
		      struct store_budget *out);
/* Bytes this process may still allocate: the least of MemAvailable
 * (/proc/meminfo) and the headroom (memory.max - memory.current) of its
 * cgroup and every ancestor (cgroup v2; v1 memory.limit_in_bytes), with a
 * phrase naming the source in what. UINT64_MAX when nothing is known. */
uint64_t store_memory_allowed(char *what, size_t whatlen);
/* Compare the need of cfg with what the machine allows. 0 (*out filled),
 * or -ENOMEM with a sentence naming both numbers in err (or another
 * -errno from store_memory_need). */
int store_memory_check(const struct cfg *cfg, unsigned nshards, uint64_t other_bytes,
		       struct store_budget *out, char *err, size_t errlen);

/* ---- snapshots (store_snap.c) ----
 *
 * A struct store_image is a copy of one shard's state, allocated once at
 * start for the shard's capacity and refilled by store_image_capture on the
 * worker thread between two bursts (memcpys only: no allocation, no hashing).
 * The control plane then reads it (store_image_info/_order/_idem/_item) to
 * write the snapshot. A shard is brought back either from an image or row
 * by row (store_restore_*), into a FRESH shard of the same catalog; both
 * rebuild holdings, idempotency index, winners filter, FIFOs and the
 * published available, then run store_audit. */
struct store_image;

/* Bytes store_image_create allocates for a shard of params p. */
uint64_t store_image_bytes(const struct store_catalog *cat, const struct store_shard_params *p);
/* Allocate an image able to hold s at its capacity. 0, -ENOMEM. */
int store_image_create(const struct store_shard *s, struct store_image **out);
void store_image_free(struct store_image *img);

/* Copy s's state into img (made by store_image_create for s). Owner thread
 * only, between bursts; cannot fail. */
void store_image_capture(const struct store_shard *s, struct store_image *img);

struct store_image_info {
	unsigned shard_id;
	uint64_t first_seq, next_seq; /* orders are seqs first_seq .. next_seq - 1 */
	uint64_t orders, idem_entries;
	uint32_t items;		      /* items this shard owns */
};
void store_image_info(const struct store_image *img, struct store_image_info *out);

/* One order as it is written to and read from a snapshot. */
struct store_order_view {
	uint64_t order_id;   /* fs_order_id(seq, shard) */
	uint64_t user_id;
	uint64_t request_id; /* of the BUY that created it */
	int64_t deadline_ns; /* reservation deadline (meaningful while RESERVED) */
	int64_t created_ns;  /* deadline_ns - the activity's pay timeout */
	uint32_t item_id;
	uint16_t qty;
	uint8_t state;       /* enum fs_order_state, RESERVED..EXPIRED */
};

/* One stored answer (idempotency entry). op 0 = superseded during a replay:
 * it answers nothing but still holds its place in the ring. */
struct store_idem_view {
	uint64_t user_id, request_id, order_id;
	int64_t created_ns;
	uint32_t item_id;
	uint16_t qty;
	uint8_t op;    /* FS_OP_BUY, FS_OP_CONFIRM, FS_OP_CANCEL, or 0 */
	uint8_t state; /* state the answer reported (0 for BUY) */
};

/* The i-th order (i < info.orders, in sequence order), the i-th stored
 * answer (i < info.idem_entries, oldest first), the l-th owned item
 * (l < info.items). 0 or -ENOENT past the end. The image keeps a pointer
 * to its shard's catalog, which must outlive it. */
int store_image_order(const struct store_image *img, uint64_t i, struct store_order_view *out);
int store_image_idem(const struct store_image *img, uint64_t i, struct store_idem_view *out);
int store_image_item(const struct store_image *img, uint32_t l, struct store_item_counts *out);
/* The i-th oldest of the shard's recent admin changes (store_admin_recent)
 * at capture; 0 or -ENOENT. The image's catalog. */
int store_image_admin(const struct store_image *img, uint32_t i, struct store_change *out);
const struct store_catalog *store_image_catalog(const struct store_image *img);

/* One order of shard s by id (control plane, or owner thread; audits).
 * 0 or -ENOENT. */
int store_order_get(const struct store_shard *s, uint64_t order_id, struct store_order_view *out);

/* Raw form of an image, for fast restarts: STORE_IMAGE_REGIONS byte
 * strings (region 0 is a header) that only a build with the same record
 * layout reads back (STORE_IMAGE_LAYOUT and the record sizes are checked).
 * store_image_region: region i of a captured image and its length.
 * Loading into an image made by store_image_create for a fresh shard:
 * store_image_region_load copies n bytes at offset off of region i
 * (-EINVAL past the shard's capacity); then store_image_load_check with the
 * bytes loaded per region: 0, -EPROTO (another layout: fall back to a
 * row-by-row restore), -EINVAL (not this shard, too big, lengths do not
 * match its header). Then store_shard_restore_image checks every record. */
#define STORE_IMAGE_LAYOUT  2 /* bump when a record layout of store_internal.h changes */
#define STORE_IMAGE_REGIONS 6
int store_image_region(const struct store_image *img, unsigned i, const void **data, size_t *len);
int store_image_region_load(struct store_image *img, unsigned i, uint64_t off, const void *src,
			    size_t n);
int store_image_load_check(struct store_image *img, const size_t loaded[STORE_IMAGE_REGIONS]);

/* Restore a fresh shard s from img (same shard id and catalog; s's capacity
 * >= what img holds). Sets first_seq from the image. 0; -EINVAL (image does
 * not fit this shard or config), -ENOSPC, -EBUSY (s not fresh), -EUCLEAN
 * (audit failed); a sentence in err. On error discard s. */
int store_shard_restore_image(struct store_shard *s, const struct store_image *img, char *err,
			      size_t errlen);

/* Streaming restore into a fresh shard: begin with the sequence range, then
 * every order in sequence order (exactly next_seq - first_seq of them), then
 * the stored answers oldest first, then end (publishes available, audits).
 * begin: 0, -EBUSY (not fresh), -EINVAL, -ENOSPC (more orders than
 * capacity). order/idem: 0, -EINVAL (does not fit: unknown or foreign item,
 * bad state, out of sequence, over a per-user limit or over the stock,
 * duplicate key), -ENOSPC (ring full). end: 0, -EINVAL (orders missing),
 * -EUCLEAN (audit) with a sentence in err. On error discard s.
 * Between begin and end, the orders and the stored answers may be fed from
 * two threads at once (they rebuild disjoint tables); each kind in order. */
int store_restore_begin(struct store_shard *s, uint64_t first_seq, uint64_t next_seq);
int store_restore_order(struct store_shard *s, const struct store_order_view *o);
int store_restore_idem(struct store_shard *s, const struct store_idem_view *e);
int store_restore_end(struct store_shard *s, char *err, size_t errlen);

#endif
