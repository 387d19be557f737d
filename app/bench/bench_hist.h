/*
 * bench_hist.h — the latency histogram of the load generators
 * (flashsale-bench and flashsale-bench-dpdk): log-linear, HDR style. Values
 * below HIST_SUB ns are exact; above, each power of two is split into
 * HIST_HALF buckets, so a bucket's width is at most 1 / HIST_HALF (0.8%) of
 * its values; values clamp at HIST_VMAX_NS (2^40 - 1 ns, 18 minutes). The
 * caller owns the bucket array (HIST_BUCKETS counters, zeroed), the sample
 * count and the largest sample; nothing here allocates or locks, so each
 * thread fills its own and the arrays are summed afterwards.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 8
#define HIST_SUB (1u << HIST_SUB_BITS)  /* values below are exact */
#define HIST_HALF (HIST_SUB / 2)        /* buckets per power of two above */
#define HIST_MSB_MAX 39                 /* values clamp at 2^40 - 1 ns (18 min) */
#define HIST_VMAX_NS ((1ull << (HIST_MSB_MAX + 1)) - 1)
#define HIST_BUCKETS (HIST_SUB + (HIST_MSB_MAX - HIST_SUB_BITS + 1) * HIST_HALF)

/* The bucket of a latency of ns nanoseconds. */
unsigned bench_hist_index(uint64_t ns);

/* The q-quantile (0 < q <= 1) of count samples in hist, in ns: the upper
 * bound of the bucket that holds it, capped at max_ns (the largest sample);
 * 0 without samples. */
uint64_t bench_hist_pct(const uint64_t *hist, uint64_t count, uint64_t max_ns, double q);

#endif
