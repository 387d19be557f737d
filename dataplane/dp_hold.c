/*
 * dp_hold.c — the durability hold queue (design note in dp_hold.h).
 */
#include "dp_hold.h"

#include <errno.h>
#include <stdlib.h>

#include "fs_common.h"

int dp_hold_init(struct dp_hold *h)
{
	h->head = h->n = 0;
	h->last_pushed = h->last_popped = 0;
	h->q = calloc(DP_HELD_ANSWERS_MAX, sizeof(*h->q));
	return h->q ? 0 : -ENOMEM;
}

void dp_hold_fini(struct dp_hold *h)
{
	free(h->q);
	h->q = NULL;
	h->n = 0;
}

void dp_hold_push(struct dp_hold *h, const struct dp_held *e)
{
	FS_ASSERT(h->n < DP_HELD_ANSWERS_MAX);
	FS_ASSERT(e->ticket >= h->last_pushed);
	h->q[(h->head + h->n) % DP_HELD_ANSWERS_MAX] = *e;
	h->last_pushed = e->ticket;
	h->n++;
}

void dp_hold_pop(struct dp_hold *h)
{
	const struct dp_held *e = &h->q[h->head];

	FS_ASSERT(h->n > 0);
	FS_ASSERT(e->ticket >= h->last_popped);
	h->last_popped = e->ticket;
	h->head = (h->head + 1) % DP_HELD_ANSWERS_MAX;
	h->n--;
}
