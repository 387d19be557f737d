/*
 * fs_telemetry.h — the /metrics counters as DPDK telemetry commands (mode =
 * dpdk; fs_telemetry.c): /flashsale/stats, /flashsale/workers,
 * /flashsale/items and /flashsale/wal, readable with dpdk-telemetry.py.
 *
 *   fs_telemetry_register(cfg)          after EAL init (dpdk mode only)
 *   fs_telemetry_attach(e, cat)         the engine exists
 *   loop: fs_telemetry_publish(&sample) control thread, with fs_ops_publish
 *   fs_telemetry_detach()               before the engine is freed
 */
#ifndef FS_TELEMETRY_H
#define FS_TELEMETRY_H

#include "cfg.h"
#include "dp.h"
#include "fs_ops.h"
#include "store.h"

/* Register the /flashsale/... commands with EAL's telemetry (a no-op in
 * kernel mode, where EAL runs with --no-telemetry). Once, after
 * dp_eal_init. cfg must outlive the process's telemetry. 0 or -errno. */
int fs_telemetry_register(const struct cfg *cfg);

/* Give the commands the engine and catalog (they answer "not running"
 * before); detach before either is freed. Control thread. */
void fs_telemetry_attach(struct dp_engine *e, const struct store_catalog *cat);
void fs_telemetry_detach(void);

/* Control thread: copy the per-shard log counters and item counts gathered
 * on the workers (the same sample /metrics shows). */
void fs_telemetry_publish(const struct fs_ops_sample *s);

#endif
