/*
 * store_rate.c — per-core token buckets for the per-address and per-user
 * rate limits.
 *
 * Each bucket is kept as GCRA (the "generic cell rate algorithm", a token
 * bucket stored as one timestamp): tat is the theoretical arrival time of
 * the next request if the client sent at exactly rate_per_s. With
 * T = 1 s / rate and tolerance tau = (burst - 1) * T, a request at now is
 * allowed iff now >= tat - tau, and then tat = max(tat, now) + T. A bucket
 * whose tat is at or before now is full, so a fresh bucket needs no
 * initialisation beyond tat <= now, and refilling costs nothing.
 *
 * The table is set-associative: slots / STORE_RL_WAYS sets of STORE_RL_WAYS
 * buckets (16 bytes each, so a set is one cache line), each bucket tagged
 * with its key. The set of a key is chosen by SipHash-2-4 (libsodium
 * crypto_shorthash) under a key drawn from randombytes at create, so a
 * client cannot compute which ids or addresses share a set with its own.
 *
 * A key not in its set takes a bucket over only when that bucket is full
 * (tat <= now): handing the newcomer a full bucket then forgives nothing,
 * since the evicted key would have had a full bucket itself. When every way
 * of the set is still refilling, the newcomer does not get a bucket of its
 * own: it is charged to the set's most-drained bucket (the largest tat), so
 * colliding keys share a limit. This is conservative — a key may be limited
 * by another's traffic — and never forgiving: alternating ids cannot reset
 * a bucket (the old direct-mapped table handed a colliding key a full
 * bucket, which let two colliding ids through without limit).
 *
 * Buckets are per receiving core (no sharing, no atomics): a client whose
 * datagrams are spread over all workers gets up to workers x the limit.
 * No allocation after create; not thread-safe (one table per core).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store_internal.h"

struct store_rl_slot {
	uint64_t key;
	int64_t tat_ns;
};
_Static_assert(sizeof(struct store_rl_slot) * STORE_RL_WAYS == STORE_CACHE_LINE,
	       "one set per cache line");

struct store_ratelimit {
	uint64_t set_mask;    /* sets - 1 */
	unsigned ways;	      /* STORE_RL_WAYS, or fewer for a tiny table */
	int64_t interval_ns;  /* T */
	int64_t tolerance_ns; /* tau = (burst - 1) * T */
	uint8_t hkey[crypto_shorthash_KEYBYTES];
	struct store_rl_slot *slots;
};

int store_ratelimit_create(unsigned rate_per_s, unsigned burst, unsigned slots,
			   struct store_ratelimit **out)
{
	struct store_ratelimit *rl;

	*out = NULL;
	if (rate_per_s == 0 || burst == 0 || slots == 0 || (slots & (slots - 1)) != 0)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -ENOMEM;
	rl->slots = store_zalloc((size_t)slots * sizeof(*rl->slots));
	if (!rl->slots) {
		free(rl);
		return -ENOMEM;
	}
	rl->ways = slots < STORE_RL_WAYS ? slots : STORE_RL_WAYS;
	rl->set_mask = slots / rl->ways - 1;
	rl->interval_ns = FS_NS_PER_S / rate_per_s;
	if (rl->interval_ns == 0)
		rl->interval_ns = 1;
	rl->tolerance_ns = (int64_t)(burst - 1) * rl->interval_ns;
	for (uint64_t i = 0; i < slots; i++)
		rl->slots[i].tat_ns = INT64_MIN; /* a full bucket (of key 0) */
	randombytes_buf(rl->hkey, sizeof(rl->hkey));
	*out = rl;
	return 0;
}

void store_ratelimit_free(struct store_ratelimit *rl)
{
	if (!rl)
		return;
	sodium_memzero(rl->hkey, sizeof(rl->hkey));
	free(rl->slots);
	free(rl);
}

void store_ratelimit_set_key(struct store_ratelimit *rl, const uint8_t key[STORE_RL_KEY_LEN])
{
	_Static_assert(STORE_RL_KEY_LEN == crypto_shorthash_KEYBYTES, "SipHash key size");
	memcpy(rl->hkey, key, sizeof(rl->hkey));
}

uint64_t store_ratelimit_set_of(const struct store_ratelimit *rl, uint64_t key)
{
	uint8_t in[8], h[crypto_shorthash_BYTES];
	uint64_t v;

	for (unsigned i = 0; i < 8; i++)
		in[i] = (uint8_t)(key >> (8 * i));
	crypto_shorthash(h, in, sizeof(in), rl->hkey);
	memcpy(&v, h, sizeof(v));
	return v & rl->set_mask;
}

/* The bucket key is charged to: its own, a full one it takes over, or
 * (every way refilling) the most-drained bucket of its set, shared. */
static struct store_rl_slot *bucket_of(struct store_ratelimit *rl, uint64_t key, int64_t now_ns)
{
	struct store_rl_slot *set = &rl->slots[store_ratelimit_set_of(rl, key) * rl->ways];
	struct store_rl_slot *full = NULL, *drained = &set[0];

	for (unsigned w = 0; w < rl->ways; w++) {
		if (set[w].key == key)
			return &set[w];
		if (set[w].tat_ns <= now_ns && full == NULL)
			full = &set[w];
		if (set[w].tat_ns > drained->tat_ns)
			drained = &set[w];
	}
	if (full != NULL) {
		full->key = key;
		full->tat_ns = INT64_MIN;
		return full;
	}
	return drained;
}

bool store_ratelimit_allow(struct store_ratelimit *rl, uint64_t key, int64_t now_ns,
			   uint32_t *retry_after_ms)
{
	struct store_rl_slot *sl = bucket_of(rl, key, now_ns);
	int64_t tat = sl->tat_ns > now_ns ? sl->tat_ns : now_ns;

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
