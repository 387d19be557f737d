/*
 * persist_state.c — the appliance's durable state as one object: what the
 * daemon opens before its first port and closes after its last worker, and
 * what the offline audit opens read-only.
 *
 * OPEN (persist_open)
 *  1. Create one shard per worker from the catalog, sized by
 *     store_shard_capacity, with the caller's journal hook (the data plane's
 *     link to the log); order sequences start at 1 and continue from the
 *     snapshot and the log.
 *  2. persist_recover (recover.c): the newest snapshot, each shard's log
 *     after it (torn tails cut and reported; anything else refuses the start
 *     naming file and offset), store_audit of every shard.
 *  3. Unless read-only, open each shard's log where its replay ended.
 * Any failure frees what was built and returns the reason: the caller
 * refuses to start.
 *
 * SNAPSHOTS (persist_snapshot) are taken without stopping the data path for
 * more than a burst: each worker copies its own shard into a preallocated
 * image between two bursts (the caller's on_workers callback: the data plane
 * owns the workers, persist/ does not link it) and notes the LSN of the last
 * record the image includes. The control plane then waits until every log is
 * durable up to that LSN (a snapshot must never hold a change the log could
 * still lose), writes all images to SQLite in one transaction (snap_write: a
 * new file renamed over snapshot.db), and removes log segments wholly before
 * the snapshot. Images are allocated at the first snapshot, not at open: an
 * image is as large as its shard's tables, and allocating it would slow
 * every restart.
 *
 * Budgets (PERSIST_*_MS/_US in persist.h): a worker must run the capture
 * within PERSIST_WORKER_CALL_TIMEOUT_MS, the logs must become durable up to
 * it within PERSIST_SNAPSHOT_DURABLE_WAIT_MS; else the snapshot is not taken
 * (-ETIMEDOUT) and the previous one stays.
 */
#include "persist.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"

struct persist_hook {
	struct persist *ps;
	unsigned shard;
};

struct persist {
	const struct cfg *cfg;
	unsigned n, flags;
	struct store_shard *shards[FS_WORKERS_MAX];
	struct wal *wal[FS_WORKERS_MAX];
	struct persist_recover_info info[FS_WORKERS_MAX];
	persist_io_hook_fn io_hook;
	void *io_hook_ctx;
	struct persist_hook hook[FS_WORKERS_MAX];
	/* snapshots */
	struct store_image *imgs[FS_WORKERS_MAX];
	uint64_t lsn[FS_WORKERS_MAX], durable[FS_WORKERS_MAX];
	int err[FS_WORKERS_MAX];
	int64_t capture_ns[FS_WORKERS_MAX];
};

static int io_hook(void *ctx, enum wal_io io, int res)
{
	struct persist_hook *h = ctx;

	return h->ps->io_hook(h->ps->io_hook_ctx, h->shard, io, res);
}

static int shards_create(struct persist *ps, const struct persist_params *p, char *err,
			 size_t errlen)
{
	const struct cfg *cfg = p->cfg;

	for (unsigned i = 0; i < ps->n; i++) {
		struct store_shard_params sp = {
			.shard_id = i,
			.idempotency_retention_ns =
				(int64_t)cfg->idempotency_retention_s * FS_NS_PER_S,
			.first_seq = 1,
			.journal = p->journal,
			.journal_ctx = p->journal_ctx[i],
		};
		int rc;

		store_shard_capacity(p->cat, i, &sp);
		rc = store_shard_create(p->cat, &sp, &ps->shards[i]);
		if (rc < 0) {
			fs_errf(err, errlen, "shard %u: cannot allocate %" PRIu64 " orders: %s", i,
				sp.max_orders, fs_strerror(rc));
			return rc;
		}
		if (!(ps->flags & PERSIST_OPEN_READONLY))
			fs_log("info", "shard %u: capacity %" PRIu64 " orders, %" PRIu64
				       " stored answers",
			       i, sp.max_orders, sp.max_idempotency);
	}
	return 0;
}

static void log_recovery(const struct persist *ps)
{
	for (unsigned i = 0; i < ps->n; i++) {
		const struct persist_recover_info *in = &ps->info[i];
		struct store_stats st;

		if (in->wal.torn)
			fs_log("warn", "shard %u: torn tail cut from %s at offset %" PRIu64
				       " (%" PRIu64 " bytes of a write never acknowledged)",
			       i, in->wal.torn_file, in->wal.torn_offset, in->wal.torn_bytes);
		fs_log("info", "shard %u: %s%" PRIu64 " orders from the snapshot (LSN %" PRIu64
			       "), then %" PRIu64 " log records from %u segments in %.1f ms; next LSN %"
			       PRIu64, i, in->snapshot ? "" : "no snapshot, ", in->snapshot_orders,
		       in->snapshot_lsn, in->wal.replayed, in->wal.segments,
		       (double)in->replay_ns / 1e6, in->wal.next_lsn);
		store_shard_stats(ps->shards[i], &st);
		fs_log("info", "shard %u: audit ok after recovery, %" PRIu64 " orders", i, st.orders);
	}
	if (ps->n)
		fs_log("info", "recovery: snapshot load %.1f ms", (double)ps->info[0].snapshot_ns / 1e6);
}

static int logs_open(struct persist *ps, const struct persist_params *p, char *err,
		     size_t errlen)
{
	const struct cfg *cfg = p->cfg;

	for (unsigned i = 0; i < ps->n; i++) {
		char why[1024] = "";
		struct wal_params wp = {
			.dir = cfg->persist_dir,
			.shard_id = i,
			.durability = (enum wal_durability)cfg->durability,
			.sync_interval_ms = cfg->sync_interval_ms,
			.eventfd = p->eventfd,
		};
		int rc;

		if (ps->io_hook) {
			ps->hook[i] = (struct persist_hook){ps, i};
			wp.io_hook = io_hook;
			wp.hook_ctx = &ps->hook[i];
		}
		rc = wal_open(&wp, &ps->info[i].wal, &ps->wal[i], why, sizeof(why));
		if (rc < 0) {
			fs_errf(err, errlen, "shard %u: cannot open the log: %s", i,
				why[0] ? why : fs_strerror(rc));
			return rc;
		}
	}
	return 0;
}

int persist_open(const struct persist_params *p, struct persist **out, char *err,
		 size_t errlen)
{
	struct persist *ps;
	int rc;

	fs_errf(err, errlen, "%s", "");
	*out = NULL;
	if (!p || !p->cfg || !p->cat || store_catalog_nshards(p->cat) != p->cfg->workers)
		return -EINVAL;
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->cfg = p->cfg;
	ps->n = p->cfg->workers;
	ps->flags = p->flags;
	ps->io_hook = p->io_hook;
	ps->io_hook_ctx = p->io_hook_ctx;
	rc = shards_create(ps, p, err, errlen);
	if (rc == 0) {
		rc = persist_recover(p->cfg, p->cat, ps->shards, ps->info,
				     p->flags & PERSIST_OPEN_READONLY ? PERSIST_RECOVER_READONLY
								       : 0,
				     err, errlen);
		if (rc < 0 && errlen && err[0] == '\0')
			fs_errf(err, errlen, "%s", fs_strerror(rc));
	}
	if (rc == 0 && !(p->flags & PERSIST_OPEN_READONLY)) {
		log_recovery(ps);
		rc = logs_open(ps, p, err, errlen);
	}
	if (rc < 0) {
		persist_close(ps);
		return rc;
	}
	*out = ps;
	return 0;
}

struct store_shard **persist_shards(struct persist *ps)
{
	return ps->shards;
}

struct wal *persist_wal(const struct persist *ps, unsigned shard)
{
	FS_ASSERT(shard < ps->n);
	return ps->wal[shard];
}

const struct persist_recover_info *persist_info(const struct persist *ps, unsigned shard)
{
	FS_ASSERT(shard < ps->n);
	return &ps->info[shard];
}

int persist_close(struct persist *ps)
{
	int failed = 0;

	if (!ps)
		return 0;
	for (unsigned i = 0; i < ps->n; i++) {
		if (ps->wal[i]) {
			int rc = wal_close(ps->wal[i]);
			if (rc < 0) {
				fs_log("error", "shard %u: closing the log: %s", i, fs_strerror(rc));
				failed = failed ? failed : rc;
			}
		}
		store_shard_free(ps->shards[i]);
		store_image_free(ps->imgs[i]);
	}
	free(ps);
	return failed;
}

/* ---- snapshots ---- */

static void log_position(void *ctx, unsigned i)
{
	struct persist *ps = ctx;
	struct wal_stats ws;

	wal_stats(ps->wal[i], &ws);
	ps->durable[i] = ws.durable_lsn;
	ps->err[i] = ws.failed;
}

static void capture(void *ctx, unsigned i)
{
	struct persist *ps = ctx;
	int64_t t0 = fs_mono_ns();
	struct wal_stats ws;

	store_image_capture(ps->shards[i], ps->imgs[i]);
	wal_stats(ps->wal[i], &ws);
	ps->lsn[i] = ws.next_lsn - 1;
	ps->err[i] = ws.failed;
	ps->capture_ns[i] = fs_mono_ns() - t0;
}

static int on_all(struct persist *ps, persist_on_workers_fn on_workers, void *ctx,
		  persist_worker_fn fn)
{
	if (on_workers)
		return on_workers(ctx, fn, ps, PERSIST_WORKER_CALL_TIMEOUT_MS) < 0 ? -ETIMEDOUT : 0;
	for (unsigned i = 0; i < ps->n; i++)
		fn(ps, i);
	return 0;
}

static int snapshot_images(struct persist *ps)
{
	for (unsigned i = 0; i < ps->n; i++) {
		int rc;
		if (ps->imgs[i])
			continue;
		rc = store_image_create(ps->shards[i], &ps->imgs[i]);
		if (rc < 0) {
			fs_log("error", "shard %u: no memory for its snapshot image: %s", i,
			       fs_strerror(rc));
			return rc;
		}
	}
	return 0;
}

/* Capture every shard and wait until each log is durable up to the
 * captured LSN. */
static int snapshot_capture(struct persist *ps, persist_on_workers_fn on_workers, void *ctx)
{
	int64_t deadline = fs_mono_ns() + (int64_t)PERSIST_SNAPSHOT_DURABLE_WAIT_MS * 1000000;
	bool ready;
	int rc = snapshot_images(ps);

	if (rc == 0)
		rc = on_all(ps, on_workers, ctx, capture);
	if (rc < 0)
		return rc;
	do {
		ready = true;
		if ((rc = on_all(ps, on_workers, ctx, log_position)) < 0)
			return rc;
		for (unsigned i = 0; i < ps->n; i++) {
			if (ps->err[i])
				return ps->err[i];
			ready &= ps->durable[i] >= ps->lsn[i];
		}
		if (!ready)
			usleep(PERSIST_DURABLE_POLL_US);
	} while (!ready && fs_mono_ns() < deadline);
	return ready ? 0 : -ETIMEDOUT;
}

int persist_snapshot(struct persist *ps, persist_on_workers_fn on_workers, void *ctx,
		     const char *why)
{
	const struct cfg *cfg = ps->cfg;
	struct snap_stats st = {0};
	char err[1024] = "";
	int64_t stall = 0;
	unsigned removed = 0;
	int rc;

	FS_ASSERT(!(ps->flags & PERSIST_OPEN_READONLY));
	rc = snapshot_capture(ps, on_workers, ctx);
	if (rc < 0) {
		fs_log("error", "snapshot (%s) not taken: %s", why,
		       rc == -ETIMEDOUT ? "workers or the log did not answer in time"
					: fs_strerror(rc));
		return rc;
	}
	rc = snap_write(cfg->persist_dir, cfg, ps->n, ps->imgs, ps->lsn, &st, err, sizeof(err));
	if (rc < 0) {
		fs_log("error", "snapshot (%s) not written: %s", why, err[0] ? err : fs_strerror(rc));
		return rc;
	}
	for (unsigned i = 0; i < ps->n; i++) {
		stall = ps->capture_ns[i] > stall ? ps->capture_ns[i] : stall;
		rc = wal_remove_before(cfg->persist_dir, i, NULL, ps->lsn[i] + 1);
		if (rc > 0)
			removed += (unsigned)rc;
		else if (rc < 0)
			fs_log("warn", "shard %u: removing log segments before LSN %" PRIu64 ": %s", i,
			       ps->lsn[i] + 1, fs_strerror(rc));
	}
	fs_log("info", "snapshot (%s): %" PRIu64 " orders, %" PRIu64 " stored answers, %.1f MB "
		       "in %.0f ms (worker stall at most %.2f ms); %u old log segments removed",
	       why, st.orders, st.idem_entries, (double)st.bytes / 1e6, (double)st.total_ns / 1e6,
	       (double)stall / 1e6, removed);
	return 0;
}
