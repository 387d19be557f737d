/*
 * dp_hold.h — the durability hold queue of one worker: OK answers waiting
 * until the write-ahead-log batch (ticket) holding their record is durable.
 * Private to dataplane/.
 *
 * A bounded FIFO of DP_HELD_ANSWERS_MAX entries, allocated once. Tickets are
 * handed out by the log in increasing order and an answer is pushed with the
 * ticket of the batch open at the time, so tickets never decrease from tail
 * to head; answers therefore leave in ticket order, and release is a walk
 * from the head that stops at the first ticket not yet durable. Both
 * properties are asserted on push and on pop.
 */
#ifndef DP_HOLD_H
#define DP_HOLD_H

#include <stdbool.h>
#include <stdint.h>

#include "dp_engine.h"
#include "fs_proto.h"

/* An OK answer waiting until its WAL batch (ticket) is durable. */
struct dp_held {
	uint64_t ticket;
	uint64_t lsn;         /* the shard's newest record when decided (standby acks) */
	struct dp_peer dst;   /* where a direct answer goes */
	uint32_t tag;         /* the receiving worker's pending slot, or DP_TAG_DIRECT */
	uint16_t producer;    /* the receiving worker */
	uint64_t tsc;         /* when its request was taken (decision-latency histogram) */
	struct fs_resp resp;
};

struct dp_hold {
	unsigned head, n;
	uint64_t last_pushed;  /* ticket of the newest entry */
	uint64_t last_popped;  /* ticket of the last entry released */
	struct dp_held *q;     /* DP_HELD_ANSWERS_MAX */
};

/* Allocate the queue. 0 or -ENOMEM. */
int dp_hold_init(struct dp_hold *h);
void dp_hold_fini(struct dp_hold *h);

static inline bool dp_hold_full(const struct dp_hold *h)
{
	return h->n == DP_HELD_ANSWERS_MAX;
}

/* Append a held answer; the queue must not be full and ticket must not be
 * below the newest entry's (asserted). */
void dp_hold_push(struct dp_hold *h, const struct dp_held *e);

/* The oldest entry, or NULL when empty. */
static inline struct dp_held *dp_hold_head(const struct dp_hold *h)
{
	return h->n ? &h->q[h->head] : NULL;
}

/* Remove the oldest entry (asserted: tickets leave in non-decreasing order). */
void dp_hold_pop(struct dp_hold *h);

#endif
