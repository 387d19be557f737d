/*
 * store.h — the shard engine: every purchase decision of the appliance.
 *
 * Plain C over preallocated memory: no DPDK, no liburing, no allocation and
 * no syscalls after create. Two parts:
 *
 *  - struct store_catalog: activities and items (read-only after create) plus
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
 * change): per item available + reserved + paid == total, none negative; per
 * (user, item) reserved + paid <= per_user_limit.
 *
 * Idempotency: answers that changed state (OK to BUY, CONFIRM, CANCEL) are
 * stored for idempotency_retention_s and returned for a repeat of the same
 * (user_id, request_id); a repeat with another op/item/order is BAD_REQUEST.
 * Rejections are not stored: they changed nothing, and a retry of a
 * NOT_STARTED/BUSY/SOLD_OUT is meant to be decided afresh.
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

/* Build the catalog for nshards shards from a validated config. The catalog
 * keeps a pointer to cfg, which must outlive it. 0, -ENOMEM, -EINVAL. */
int store_catalog_create(const struct cfg *cfg, unsigned nshards, struct store_catalog **out);
void store_catalog_free(struct store_catalog *cat);
unsigned store_catalog_nshards(const struct store_catalog *cat);

/* Receiving-core check of one request.
 * Returns true when resp is the final answer (nothing to hand off); false
 * when the request must go to shard *owner (resp untouched then). now_ns is
 * the wall clock. Thread-safe: only reads the catalog. */
bool store_gate(const struct store_catalog *cat, const struct fs_req *req, int64_t now_ns,
		struct fs_resp *resp, unsigned *owner);

/* Units still buyable of an item (relaxed read; -1 if unknown item). */
int64_t store_item_available(const struct store_catalog *cat, uint32_t item_id);

/* ---- journal records ---- */

enum store_change_type {
	STORE_CH_RESERVE = 1, /* BUY OK: new order */
	STORE_CH_PAY = 2,     /* CONFIRM OK */
	STORE_CH_CANCEL = 3,  /* CANCEL OK */
	STORE_CH_EXPIRE = 4,  /* reservation deadline passed */
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

/* Called by the shard for every change, in decision order, before
 * store_execute returns. ctx is the pointer given at create. */
typedef void (*store_journal_fn)(void *ctx, const struct store_change *ch);

/* ---- shards (one per worker core) ---- */

struct store_shard_params {
	unsigned shard_id;           /* < nshards of the catalog */
	uint64_t max_orders;         /* this shard's order capacity */
	uint64_t max_idempotency;    /* this shard's stored-answer capacity */
	int64_t idempotency_retention_ns;
	uint64_t first_seq;          /* first order seq to hand out (>= 1) */
	store_journal_fn journal;    /* may be NULL */
	void *journal_ctx;
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

/* store_execute over n requests in order, prefetching ahead: the same
 * answers and journal records as n calls of store_execute. changed[i]
 * (when changed is not NULL) tells whether request i changed state.
 * Returns how many did. */
unsigned store_execute_burst(struct store_shard *s, const struct fs_req *const reqs[], unsigned n,
			     int64_t now_ns, struct fs_resp resps[], bool changed[]);

/* Expire at most max reservations whose deadline is <= now_ns; returns how
 * many expired (each journalled). */
unsigned store_expire(struct store_shard *s, int64_t now_ns, unsigned max);

/* Drop idempotency entries older than the retention window, at most max. */
unsigned store_idem_trim(struct store_shard *s, int64_t now_ns, unsigned max);

/* Replay one journalled change (recovery). 0, or -EINVAL when the change
 * does not fit the current state (corruption: the caller refuses to start). */
int store_apply(struct store_shard *s, const struct store_change *ch);

/* While unavailable (storage fault), every state-changing request is answered
 * UNAVAILABLE and nothing changes; reads and rejections keep working. */
void store_shard_set_unavailable(struct store_shard *s, bool unavailable);

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
 * A fixed table of slots buckets (a power of two), indexed by a hash of the
 * key (a source address or a user id) and tagged with the key. A new key that
 * lands on a slot held by another key takes the slot over with a full bucket:
 * memory stays bounded under address-spraying bots at the price of
 * occasionally forgiving a colliding key. Not thread-safe: one per core. */
struct store_ratelimit;
/* rate_per_s > 0, burst >= 1, slots a power of two. 0, -EINVAL, -ENOMEM. */
int store_ratelimit_create(unsigned rate_per_s, unsigned burst, unsigned slots,
			   struct store_ratelimit **out);
void store_ratelimit_free(struct store_ratelimit *rl);
/* Take one token for key at now_ns (monotonic). true = allowed; false =
 * refused, with *retry_after_ms (>= 1) until a token is there. */
bool store_ratelimit_allow(struct store_ratelimit *rl, uint64_t key, int64_t now_ns,
			   uint32_t *retry_after_ms);

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

#endif
