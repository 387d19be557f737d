/*
 * store_rate.c — per-core token buckets for the per-address and per-user
 * rate limits.
 *
 * Each bucket is kept as GCRA (the "generic cell rate algorithm", a token
 * bucket stored as one timestamp): tat is the theoretical arrival time of
 * the next request if the client sent at exactly rate_per_s. With
 * T = 1 s / rate and tolerance tau = (burst - 1) * T, a request at now is
 * allowed iff now >= tat - tau, and then tat = max(tat, now) + T. A bucket
 * whose tat is in the past is full, so a fresh slot needs no initialisation
 * beyond tat <= now, and refilling costs nothing.
 *
 * The table is a fixed array of slots (a power of two) indexed by a hash of
 * the key and tagged with the key. A key that finds its slot held by another
 * key takes it over with a full bucket: memory stays bounded however many
 * addresses a bot sprays, at the price of sometimes forgiving a colliding
 * key. 16 bytes a slot, four to a cache line; no allocation after create;
 * not thread-safe (one table per receiving core).
 */
#include <errno.h>
#include <stdlib.h>

#include "store_internal.h"

struct store_rl_slot {
	uint64_t key;
	int64_t tat_ns;
};

struct store_ratelimit {
	uint64_t mask;
	int64_t interval_ns;  /* T */
	int64_t tolerance_ns; /* tau = (burst - 1) * T */
	struct store_rl_slot *slots;
};

int store_ratelimit_create(unsigned rate_per_s, unsigned burst, unsigned slots,
			   struct store_ratelimit **out)
{
	struct store_ratelimit *rl;

	*out = NULL;
	if (rate_per_s == 0 || burst == 0 || slots == 0 || (slots & (slots - 1)) != 0)
		return -EINVAL;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -ENOMEM;
	rl->slots = store_zalloc((size_t)slots * sizeof(*rl->slots));
	if (!rl->slots) {
		free(rl);
		return -ENOMEM;
	}
	rl->mask = slots - 1;
	rl->interval_ns = FS_NS_PER_S / rate_per_s;
	if (rl->interval_ns == 0)
		rl->interval_ns = 1;
	rl->tolerance_ns = (int64_t)(burst - 1) * rl->interval_ns;
	for (uint64_t i = 0; i <= rl->mask; i++)
		rl->slots[i].tat_ns = INT64_MIN; /* full bucket for key 0 too */
	*out = rl;
	return 0;
}

void store_ratelimit_free(struct store_ratelimit *rl)
{
	if (!rl)
		return;
	free(rl->slots);
	free(rl);
}

bool store_ratelimit_allow(struct store_ratelimit *rl, uint64_t key, int64_t now_ns,
			   uint32_t *retry_after_ms)
{
	struct store_rl_slot *sl = &rl->slots[store_mix64(key) & rl->mask];
	int64_t tat;

	if (unlikely(sl->key != key)) {
		sl->key = key;
		sl->tat_ns = INT64_MIN;
	}
	tat = sl->tat_ns > now_ns ? sl->tat_ns : now_ns;
	if (likely(tat - now_ns <= rl->tolerance_ns)) {
		sl->tat_ns = tat + rl->interval_ns;
		return true;
	}
	/* Refused: a token is there once now >= tat - tau. */
	*retry_after_ms = store_ms_until(tat - rl->tolerance_ns, now_ns);
	if (*retry_after_ms == 0)
		*retry_after_ms = 1;
	return false;
}
