/*
 * fs_http.h — the daemon's control-plane HTTP endpoint (see fs_http.c).
 */
#ifndef FS_HTTP_H
#define FS_HTTP_H

#include <stdarg.h>
#include <stdlib.h>

#include "cfg.h"
#include "dp.h"
#include "store.h"

struct fs_http;

/* Fills *out with the current front-end counters. */
typedef void (*fs_http_stats_fn)(void *ctx, struct dp_stats *out);

/* Listen on cfg address:http_port. 0 or -errno (e.g. -EADDRINUSE). */
int fs_http_open(const struct cfg *cfg, const struct store_catalog *cat, fs_http_stats_fn stats,
		 void *ctx, struct fs_http **out);

/* Enable the admin API: POST /admin/snapshot with "Authorization: Bearer
 * <64 hex digits of key>" calls snapshot(ctx) (0 or -errno). key NULL: the
 * admin API answers 403. */
void fs_http_set_admin(struct fs_http *h, const uint8_t *key, int (*snapshot)(void *ctx),
		       void *ctx);

struct fs_admin;
/* Route every GET/POST /admin/... (after the bearer check above) to the
 * admin API (fs_admin_handle), POST /admin/snapshot included. */
void fs_http_set_admin_api(struct fs_http *h, struct fs_admin *a);

/* Serve whatever is ready, waiting at most timeout_ms. */
void fs_http_poll(struct fs_http *h, int timeout_ms);

void fs_http_close(struct fs_http *h);

#endif
