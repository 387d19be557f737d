/*
 * bench_hist.c — the latency histogram: log-linear (HDR style), exact below
 * HIST_SUB ns, then HIST_HALF buckets per power of two up to 2^(HIST_MSB_MAX
 * + 1) - 1 ns, so a percentile is within 1 / HIST_HALF (0.8%) of the truth.
 * Each thread fills its own (no sharing); bench_merge adds them up.
 */
#include "bench.h"

#include <math.h>

unsigned bench_hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	if (v > HIST_VMAX)
		v = HIST_VMAX;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - (HIST_SUB_BITS - 1);
	return HIST_SUB + (shift - 1) * HIST_HALF + (unsigned)((v >> shift) - HIST_HALF);
}

/* The highest value that lands in bucket idx. */
static uint64_t hist_upper(unsigned idx)
{
	unsigned k, shift;

	if (idx < HIST_SUB)
		return idx;
	k = idx - HIST_SUB;
	shift = k / HIST_HALF + 1;
	return ((uint64_t)(HIST_HALF + k % HIST_HALF + 1) << shift) - 1;
}

uint64_t bench_hist_pct(const struct bench_stats *st, double q)
{
	uint64_t rank, acc = 0;

	if (st->lat_count == 0)
		return 0;
	rank = (uint64_t)ceil(q * (double)st->lat_count);
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		acc += st->hist[i];
		if (acc >= rank)
			return hist_upper(i) < st->lat_max_ns ? hist_upper(i) : st->lat_max_ns;
	}
	return st->lat_max_ns;
}
