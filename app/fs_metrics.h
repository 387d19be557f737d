/*
 * fs_metrics.h — the /metrics families of the workers (fs_metrics.c):
 * requests by protocol, op and status; per-item BUY attempts; per worker
 * packets, loops, TSC cycles by stage, ring occupancy, hand-offs and drops by
 * reason; the decision-latency and WAL commit-latency histograms. fs_ops.c
 * calls it from its /metrics render; fs_telemetry.c shows the same numbers
 * as DPDK telemetry dicts. Its bounded buffer and printf are the ones
 * fs_ops.c renders all of /metrics with.
 */
#ifndef FS_METRICS_H
#define FS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "dp.h"
#include "persist.h"

/* A bounded text buffer; overflow latches (the caller answers 500 rather
 * than truncate). */
struct fs_metrics_out {
	char *p;
	size_t n, cap;
	bool overflow;
};

void fs_metrics_put(struct fs_metrics_out *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* A family's "# HELP" and "# TYPE" lines (name without the flashsale_ prefix). */
void fs_metrics_family(struct fs_metrics_out *b, const char *name, const char *type,
		       const char *help);

/* Read every worker's counters of engine e (live, relaxed reads) into
 * ws[0..n) and their sum into ws[n] (n = dp_engine_nworkers; ws has
 * FS_WORKERS_MAX + 1 entries, the caller's scratch). Any thread. */
void fs_metrics_gather(const struct dp_engine *e, struct dp_worker_stats *ws);

/* Render the worker families of engine e for cat's items, gathering into
 * the scratch ws (as fs_metrics_gather). wal (nshards entries; NULL: not
 * gathered yet) gives the WAL commit-latency histogram. Any thread. */
struct store_catalog;
void fs_metrics_render(struct fs_metrics_out *b, const struct cfg *cfg,
		       const struct store_catalog *cat, const struct dp_engine *e,
		       const struct wal_stats *wal, unsigned nshards, struct dp_worker_stats *ws);

/* Name of a drop reason of flashsale_worker_drops_total (i < FS_METRICS_DROPS)
 * and its counter in a worker's dp_stats. */
#define FS_METRICS_DROPS 4
const char *fs_metrics_drop_name(unsigned i);
uint64_t fs_metrics_drop_value(const struct dp_stats *s, unsigned i);

#endif
