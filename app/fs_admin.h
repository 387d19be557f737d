/*
 * fs_admin.h — the admin API's handlers (/admin/..., JSON); see fs_admin.c
 * and docs/operations.md "Admin API". The HTTP listener authenticates the
 * request (bearer key) and hands it here.
 */
#ifndef FS_ADMIN_H
#define FS_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"
#include "persist.h"
#include "store.h"

struct fs_admin;

/* Writes an admin record into shard's log (on that worker's thread,
 * dp_journal_admin): 0 or -errno. */
typedef int (*fs_admin_journal_fn)(void *ctx, unsigned shard, const void *rec, uint32_t len);

struct fs_admin_params {
	const struct cfg *cfg;
	struct store_catalog *cat;
	struct persist *ps;		  /* opened read-write: shards and logs */
	/* How a catalog definition reaches shard 0's log; NULL: straight into
	 * persist_wal(ps, 0) (only while the workers do not run). */
	fs_admin_journal_fn journal;
	void *journal_ctx;
	persist_on_workers_fn on_workers; /* run on every worker (dp_engine_on_workers) */
	void *on_workers_ctx;
	/* Whether the workers run (else calls run on this thread); NULL: they do. */
	const bool *workers_running;
};

/* 0, -ENOMEM, -EINVAL. */
int fs_admin_create(const struct fs_admin_params *p, struct fs_admin **out);
void fs_admin_free(struct fs_admin *a);

/* Handle one authenticated /admin/ request. method "GET"/"POST"; path
 * after "/admin" (e.g. "/items"); body/len the JSON body (may be empty).
 * Writes a JSON answer into out (at most outlen bytes) and returns its
 * length; *status gets the HTTP status. Runs on the control-plane thread. */
size_t fs_admin_handle(struct fs_admin *a, const char *method, const char *path, const char *body,
		       size_t len, char *out, size_t outlen, int *status);

/* GET /admin/state/L0,L1,... (path after "/admin"): a read-only recovery of
 * cfg->persist_dir stopped at LSN L_i in shard i (persist_recover_upto),
 * answered as {"ok":true,"shards":[{"shard","lsn","orders","digest"}...],
 * "items":[{"id","total","available","reserved","paid"}...]}; 409 when a
 * shard's snapshot is past L_i or its log ends before it. Needs no running
 * workers (a standby answers it); runs synchronously on the caller's thread
 * for as long as a recovery takes. */
size_t fs_admin_state(const struct cfg *cfg, const char *method, const char *path, char *out,
		      size_t outlen, int *status);

/* The body of POST /admin/activities (new_activity) or POST /admin/items
 * into *def (fs_admin_def.c has the members and defaults). 0, or -EINVAL
 * with a sentence naming the member in why. Pure. */
int fs_admin_parse_def(const char *body, size_t len, bool new_activity,
		       struct store_catalog_def *def, char *why, size_t whylen);

#endif
