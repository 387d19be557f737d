/*
 * bench_hist.c — the latency histogram (bench_hist.h): bucket index from
 * the most significant bit and the HIST_SUB_BITS - 1 bits below it, and the
 * inverse for percentiles. Shared by flashsale-bench and
 * flashsale-bench-dpdk, so both report percentiles the same way.
 */
#include "bench_hist.h"

#include <math.h>

unsigned bench_hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	if (v > HIST_VMAX_NS)
		v = HIST_VMAX_NS;
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

uint64_t bench_hist_pct(const uint64_t *hist, uint64_t count, uint64_t max_ns, double q)
{
	uint64_t rank, acc = 0;

	if (count == 0)
		return 0;
	rank = (uint64_t)ceil(q * (double)count);
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		acc += hist[i];
		if (acc >= rank)
			return hist_upper(i) < max_ns ? hist_upper(i) : max_ns;
	}
	return max_ns;
}
