/*
 * fs_ops.h — the operations listener on [admin] address:port (see fs_ops.c):
 * /healthz, /readyz, /metrics, /items and the authenticated /admin/... API,
 * served by a thread of its own so that neither a snapshot on the control
 * plane nor a slow client can hold a health check.
 *
 *   fs_ops_open(cfg, &ops)            bind, start the thread (/healthz answers)
 *   fs_ops_set_admin(ops, fn, ctx)    where /admin/... requests go
 *   fs_ops_attach(ops, &view)         the engine exists: /metrics has counters
 *   fs_ops_set_ready(ops, true)       workers launched: /readyz 200
 *   loop: fs_ops_serve_admin(ops, ms) control thread: run queued /admin/... work
 *         fs_ops_publish(ops, &sample) control thread: numbers gathered on workers
 *   fs_ops_set_ready(ops, false); fs_ops_detach(ops); fs_ops_close(ops)
 */
#ifndef FS_OPS_H
#define FS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "dp.h"
#include "fs_repl.h"
#include "persist.h"
#include "store.h"

struct fs_ops;

/* Handle one authenticated /admin/ request on the control-plane thread:
 * method "GET"/"POST", path after "/admin" (e.g. "/snapshot"), body/len the
 * request body (may be empty). Writes the JSON answer into out (at most
 * outlen bytes), returns its length and sets *status (HTTP status). The
 * shape of fs_admin_handle (fs_admin.h). */
typedef size_t (*fs_ops_admin_fn)(void *ctx, const char *method, const char *path, const char *body,
				  size_t len, char *out, size_t outlen, int *status);

/* What the listener thread reads live. Only calls documented as safe from
 * any thread are made on these: dp_engine_stats (relaxed reads),
 * store_item_available (atomic), wal_position (atomics). */
struct fs_ops_view {
	struct dp_engine *engine;
	const struct store_catalog *cat;
	unsigned n_shards;
	struct wal *wal[FS_WORKERS_MAX];
};

/* Numbers the control thread gathers (on the workers, where the shards and
 * logs live) and hands over with fs_ops_publish; copied under a mutex. */
struct fs_ops_sample {
	bool have_shards;		      /* wal[] and items[] are filled */
	struct wal_stats wal[FS_WORKERS_MAX]; /* per shard */
	struct store_item_counts *items;      /* per catalog index, store_catalog_capacity(cfg) */
	int storage_failed;		      /* persist_failed() */
	uint64_t snapshots_ok, snapshots_failed;
	int64_t snapshot_last_ok_ns;	   /* fs_mono_ns of the last success; 0: none */
	int64_t snapshot_last_duration_ns; /* of the last attempt */
	int64_t snapshot_running_since_ns; /* 0 unless one is being written */
	bool have_repl;			   /* [replication] in use: repl is filled */
	struct fs_repl_stats repl;
};

/* Bind cfg->admin_address:admin_port and start the listener thread (with
 * SIGINT, SIGTERM and SIGHUP blocked: they stay with the main thread).
 * 0 or -errno (e.g. -EADDRINUSE). cfg must outlive the listener. */
int fs_ops_open(const struct cfg *cfg, struct fs_ops **out);

/* Route every authenticated /admin/ request to fn on the control thread
 * (fs_ops_serve_admin); NULL: 501. Before any traffic. */
void fs_ops_set_admin(struct fs_ops *o, fs_ops_admin_fn fn, void *ctx);

/* Give the listener the engine, catalog and logs (copied); detach before
 * they are freed. */
void fs_ops_attach(struct fs_ops *o, const struct fs_ops_view *v);
void fs_ops_detach(struct fs_ops *o);

/* /readyz answers 200 while ready and no log has failed. */
void fs_ops_set_ready(struct fs_ops *o, bool ready);

/* Control thread: copy s (and its items) for /metrics. */
void fs_ops_publish(struct fs_ops *o, const struct fs_ops_sample *s);

/* Control thread: wait up to timeout_ms for a queued /admin/ request, run it
 * through the admin function, hand the answer back. 1 if one ran, else 0. */
int fs_ops_serve_admin(struct fs_ops *o, int timeout_ms);

/* Stop the thread, close every connection, free. NULL is fine. */
void fs_ops_close(struct fs_ops *o);

#endif
