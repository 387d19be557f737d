/*
 * persist_state.c — the appliance's durable state as one object: what the
 * daemon opens before its first port and closes after its last worker, and
 * what the offline audit opens read-only.
 *
 * OPEN (persist_open)
 *  0. The data directory against its manifest (persist_manifest.c): with
 *     PERSIST_OPEN_INIT first create both (refused if DIR holds a manifest,
 *     a snapshot or a shard directory); then DIR, MANIFEST, every shard
 *     directory and each shard's newest recorded segment (or a later one)
 *     must exist, else -ENOENT naming what is missing.
 *  1. Create one shard per worker from the catalog, sized by
 *     store_shard_capacity, with the caller's journal hook (the data plane's
 *     link to the log); order sequences start at 1 and continue from the
 *     snapshot and the log.
 *  2. persist_recover_acked (recover.c): the newest snapshot, each shard's
 *     log after it, read with the manifest's high-water LSN as the
 *     acknowledged mark (torn tails above it cut and reported; anything else
 *     refuses the start naming file and offset), store_audit of every shard.
 *  3. Unless read-only, open each shard's log where its replay ended, and
 *     record the new positions in the manifest (everything replayed is
 *     durable now: wal_open fsynced it).
 * Any failure frees what was built and returns the reason: the caller
 * refuses to start.
 *
 * THE STORAGE WATCH (persist_watch, control plane, every
 * PERSIST_WATCH_INTERVAL_MS): the log keeps writing happily into a file
 * that was unlinked (rm -rf of the data directory) or replaced, and nothing
 * would notice until the next restart came up empty. So the watch keeps an
 * fd of its own on each shard's current segment (the log publishes which,
 * wal_position) and checks st_nlink > 0 on it and that the path still names
 * the same inode; if not, it fails that shard's log (wal_inject_fault: the
 * worker sees it at its next wal_poll, as a storage error) and the shard
 * answers UNAVAILABLE. Two stat calls per shard per second, none on the
 * data path. The same pass rewrites the manifest when a high-water LSN
 * moved.
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
#include "wal_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
	/* persist_run_durable */
	persist_worker_fn run_fn;
	void *run_ctx;
	uint64_t run_lsn[FS_WORKERS_MAX];
	/* manifest and storage watch */
	struct persist_manifest man; /* as last written */
	int lost;		     /* first failure the watch found (0: none) */
	bool man_warned;	     /* a failed manifest write was logged */
	int64_t next_watch_ns;
	struct {
		int fd;		     /* the current segment, opened by us; -1: none */
		uint64_t lsn;	     /* its name */
		dev_t dev;
		ino_t ino;
		bool failed;	     /* fault injected */
	} watch[FS_WORKERS_MAX];
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
			.steady_ns = p->steady_ns,
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
			.segment_bytes = p->segment_bytes,
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

static int watch_segment(struct persist *ps, unsigned i, uint64_t lsn, char *why, size_t len);

/* ---- the data directory against its manifest ---- */

static bool is_state_entry(const char *name)
{
	return strcmp(name, PERSIST_MANIFEST_FILE) == 0 || strncmp(name, "snapshot.db", 11) == 0 ||
	       strncmp(name, "shard-", 6) == 0;
}

/* --init: DIR may exist (the daemon's lock file is in it) but hold no state;
 * create it, one directory per shard, and the first manifest. */
static int state_init(const char *dir, unsigned n, char *err, size_t errlen)
{
	struct persist_manifest m = {.n_shards = n};
	char path[FS_PATH_MAX + 16];
	struct dirent *de;
	DIR *d = opendir(dir);
	int rc;

	if (d) {
		while ((de = readdir(d)))
			if (is_state_entry(de->d_name))
				break;
		if (de) {
			fs_errf(err, errlen, "%s: holds state already (%s): --init is only for a "
					     "new appliance; start without it",
				dir, de->d_name);
			closedir(d);
			return -EEXIST;
		}
		closedir(d);
	} else if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		fs_errf(err, errlen, "%s: cannot create: %s", dir, fs_strerror(rc));
		return rc;
	}
	for (unsigned i = 0; i < n; i++) {
		int k = snprintf(path, sizeof(path), "%s/shard-%02u", dir, i);
		if (k < 0 || (size_t)k >= sizeof(path))
			return -ENAMETOOLONG;
		if (mkdir(path, 0755) < 0 && errno != EEXIST) {
			rc = -errno;
			fs_errf(err, errlen, "%s: cannot create: %s", path, fs_strerror(rc));
			return rc;
		}
	}
	if ((rc = wal_fsync_dir(&wal_sys_ops, dir)) < 0) {
		fs_errf(err, errlen, "%s: fsync: %s", dir, fs_strerror(rc));
		return rc;
	}
	return persist_manifest_write(dir, &m, err, errlen);
}

/* Is there a segment of shard_dir named after lsn or later? */
static bool segment_or_later(const char *shard_dir, uint64_t lsn)
{
	struct dirent *de;
	DIR *d = opendir(shard_dir);
	bool found = false;

	if (!d)
		return false;
	while (!found && (de = readdir(d))) {
		uint64_t v;
		char tail[8];
		if (strlen(de->d_name) == 24 &&
		    sscanf(de->d_name, "wal-%16" SCNx64 "%7s", &v, tail) == 2 &&
		    strcmp(tail, ".log") == 0 && v >= lsn)
			found = true;
	}
	closedir(d);
	return found;
}

/* A start without --init: DIR, its manifest, every shard directory and each
 * shard's newest recorded segment (or a later one) must be there. */
static int state_check(const char *dir, unsigned workers, struct persist_manifest *m, char *err,
		       size_t errlen)
{
	char path[FS_PATH_MAX + 64];
	struct stat st;
	int rc;

	if (stat(dir, &st) < 0) {
		rc = -errno;
		fs_errf(err, errlen, "%s: the data directory is %s: its state is lost, or this is "
				     "a new appliance (start it once with flashsaled --init)",
			dir, rc == -ENOENT ? "missing" : fs_strerror(rc));
		return rc;
	}
	rc = persist_manifest_read(dir, m, err, errlen);
	if (rc == -ENOENT)
		fs_errf(err, errlen, "%s/%s: missing: the data directory's state is lost, or it "
				     "was never initialised (flashsaled --init)",
			dir, PERSIST_MANIFEST_FILE);
	if (rc < 0)
		return rc;
	if (m->n_shards != workers) {
		fs_errf(err, errlen, "%s/%s: %u shards, but the config has workers = %u", dir,
			PERSIST_MANIFEST_FILE, m->n_shards, workers);
		return -EINVAL;
	}
	for (unsigned i = 0; i < workers; i++) {
		const struct persist_manifest_shard *ms = &m->shard[i];
		int k = snprintf(path, sizeof(path), "%s/shard-%02u", dir, i);
		if (k < 0 || (size_t)k >= sizeof(path))
			return -ENAMETOOLONG;
		if (stat(path, &st) < 0) {
			rc = -errno;
			fs_errf(err, errlen, "%s: %s (the manifest lists shard %u, high-water LSN %"
					     PRIu64 "): its log is lost",
				path, rc == -ENOENT ? "missing" : fs_strerror(rc), i, ms->hw_lsn);
			return rc;
		}
		if (ms->segment_lsn && !segment_or_later(path, ms->segment_lsn)) {
			fs_errf(err, errlen, "%s/wal-%016" PRIx64 ".log: missing (the manifest's "
					     "newest segment of shard %u, and no later one): the log "
					     "is lost",
				path, ms->segment_lsn, i);
			return -ENOENT;
		}
	}
	return 0;
}

/* The high-water LSN to record: what is durable against power loss as the
 * durability mode promises it (batch: only what an fdatasync covered). */
static uint64_t hw_of(const struct persist *ps, const struct wal_position *pos)
{
	return ps->cfg->durability == CFG_DUR_BATCH ? pos->synced_lsn : pos->durable_lsn;
}

/* Record the logs' current positions (snap_lsn: a snapshot just written,
 * NULL: keep) in the manifest, if anything moved or force. */
static int manifest_update(struct persist *ps, const uint64_t *snap_lsn, bool force)
{
	struct persist_manifest m = ps->man;
	char err[FS_PATH_MAX + 128];
	bool moved = force;
	int rc;

	for (unsigned i = 0; i < ps->n; i++) {
		struct wal_position pos;
		if (!ps->wal[i])
			continue;
		wal_position(ps->wal[i], &pos);
		if (hw_of(ps, &pos) > m.shard[i].hw_lsn)
			m.shard[i].hw_lsn = hw_of(ps, &pos);
		if (pos.segment_lsn)
			m.shard[i].segment_lsn = pos.segment_lsn;
		if (snap_lsn)
			m.shard[i].snapshot_lsn = snap_lsn[i];
		moved |= memcmp(&m.shard[i], &ps->man.shard[i], sizeof(m.shard[i])) != 0;
	}
	if (!moved)
		return 0;
	rc = persist_manifest_write(ps->cfg->persist_dir, &m, err, sizeof(err));
	if (rc < 0) {
		if (!ps->man_warned)
			fs_log("error", "manifest not updated: %s", err);
		ps->man_warned = true;
		return rc;
	}
	ps->man = m;
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
	for (unsigned i = 0; i < FS_WORKERS_MAX; i++)
		ps->watch[i].fd = -1;
	rc = 0;
	if ((p->flags & PERSIST_OPEN_INIT) && !(p->flags & PERSIST_OPEN_READONLY)) {
		rc = state_init(p->cfg->persist_dir, ps->n, err, errlen);
		if (rc == 0)
			fs_log("info", "%s: initialised a new data directory (%u shards)",
			       p->cfg->persist_dir, ps->n);
	}
	if (rc == 0)
		rc = state_check(p->cfg->persist_dir, ps->n, &ps->man, err, errlen);
	if (rc == 0)
		rc = shards_create(ps, p, err, errlen);
	if (rc == 0) {
		uint64_t acked[FS_WORKERS_MAX];
		for (unsigned i = 0; i < ps->n; i++)
			acked[i] = ps->man.shard[i].hw_lsn;
		FS_ASSERT(!p->to_lsn || (p->flags & PERSIST_OPEN_READONLY));
		rc = persist_recover_upto(p->cfg, p->cat, ps->shards, ps->info, acked, p->to_lsn,
					   p->flags & PERSIST_OPEN_READONLY
						   ? PERSIST_RECOVER_READONLY
						   : 0,
					   err, errlen);
		if (rc < 0 && errlen && err[0] == '\0')
			fs_errf(err, errlen, "%s", fs_strerror(rc));
	}
	if (rc == 0 && !(p->flags & PERSIST_OPEN_READONLY)) {
		log_recovery(ps);
		rc = logs_open(ps, p, err, errlen);
	}
	if (rc == 0 && !(p->flags & PERSIST_OPEN_READONLY)) {
		/* Everything replayed is durable now (wal_open fsynced it). */
		uint64_t snap[FS_WORKERS_MAX];
		for (unsigned i = 0; i < ps->n; i++) {
			snap[i] = ps->info[i].snapshot_lsn;
			ps->man.shard[i].hw_lsn = ps->info[i].wal.next_lsn - 1;
		}
		rc = manifest_update(ps, snap, true);
		if (rc < 0)
			fs_errf(err, errlen, "%s/%s: cannot record the state: %s",
				p->cfg->persist_dir, PERSIST_MANIFEST_FILE, fs_strerror(rc));
		/* Learn each segment's inode now, before any port opens: a file
		 * replaced later is then told apart from the one being written. */
		for (unsigned i = 0; rc == 0 && i < ps->n; i++) {
			struct wal_position pos;
			wal_position(ps->wal[i], &pos);
			rc = watch_segment(ps, i, pos.segment_lsn, err, errlen);
		}
		ps->next_watch_ns = fs_mono_ns() + (int64_t)PERSIST_WATCH_INTERVAL_MS * 1000000;
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
	/* The workers are done: record where every log ends (unless the watch
	 * found the directory gone: nothing is recreated). */
	failed = persist_failed(ps);
	if (!ps->lost && ps->wal[0] && manifest_update(ps, NULL, false) < 0)
		failed = failed ? failed : -EIO;
	for (unsigned i = 0; i < ps->n; i++) {
		if (ps->watch[i].fd >= 0)
			close(ps->watch[i].fd);
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

/* Wait (bounded) until every shard's log is durable up to lsn[i]; the first
 * log failure, or -ETIMEDOUT. */
static int wait_durable(struct persist *ps, persist_on_workers_fn on_workers, void *ctx,
			const uint64_t *lsn)
{
	int64_t deadline = fs_mono_ns() + (int64_t)PERSIST_SNAPSHOT_DURABLE_WAIT_MS * 1000000;
	bool ready;
	int rc;

	do {
		ready = true;
		if ((rc = on_all(ps, on_workers, ctx, log_position)) < 0)
			return rc;
		for (unsigned i = 0; i < ps->n; i++) {
			if (ps->err[i])
				return ps->err[i];
			ready &= ps->durable[i] >= lsn[i];
		}
		if (!ready)
			usleep(PERSIST_DURABLE_POLL_US);
	} while (!ready && fs_mono_ns() < deadline);
	return ready ? 0 : -ETIMEDOUT;
}

/* Capture every shard and wait until each log is durable up to the
 * captured LSN. */
static int snapshot_capture(struct persist *ps, persist_on_workers_fn on_workers, void *ctx)
{
	int rc = snapshot_images(ps);

	if (rc == 0)
		rc = on_all(ps, on_workers, ctx, capture);
	if (rc < 0)
		return rc;
	return wait_durable(ps, on_workers, ctx, ps->lsn);
}

/* ---- admin changes: run on the workers, then wait for the logs ---- */

static void run_one(void *ctx, unsigned i)
{
	struct persist *ps = ctx;
	struct wal_stats ws;

	ps->run_fn(ps->run_ctx, i);
	wal_stats(ps->wal[i], &ws);
	ps->run_lsn[i] = ws.next_lsn - 1;
	ps->err[i] = ws.failed;
}

int persist_run_durable(struct persist *ps, persist_on_workers_fn on_workers, void *ctx,
			persist_worker_fn fn, void *fn_ctx)
{
	int rc;

	FS_ASSERT(!(ps->flags & PERSIST_OPEN_READONLY));
	ps->run_fn = fn;
	ps->run_ctx = fn_ctx;
	if ((rc = on_all(ps, on_workers, ctx, run_one)) < 0)
		return rc;
	return wait_durable(ps, on_workers, ctx, ps->run_lsn);
}

unsigned persist_nshards(const struct persist *ps)
{
	return ps->n;
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
		/* retain.c: keep what registered change-feed consumers still need */
		struct retain_report rr;
		rc = retain_trim(cfg->persist_dir, i, NULL, ps->lsn[i],
				 (uint64_t)cfg->consumer_retention_mb << 20, &rr,
				 err, sizeof(err));
		for (unsigned c = 0; c < rr.ncut_names; c++)
			fs_log("warn", "shard %u: consumer %s cut loose (over %llu MiB of log behind): "
			       "it must resync from snapshot.db", i, rr.cut_names[c],
			       (unsigned long long)cfg->consumer_retention_mb);
		if (rr.consumers_unreadable)
			fs_log("warn", "shard %u: consumers ignored by the trim: %s", i, err);
		if (rc == 0)
			removed += rr.removed;
		else
			fs_log("warn", "shard %u: removing log segments before LSN %" PRIu64 ": %s", i,
			       rr.plan.keep_lsn, fs_strerror(rc));
	}
	fs_log("info", "snapshot (%s): %" PRIu64 " orders, %" PRIu64 " stored answers, %.1f MB "
		       "in %.0f ms (worker stall at most %.2f ms); %u old log segments removed",
	       why, st.orders, st.idem_entries, (double)st.bytes / 1e6, (double)st.total_ns / 1e6,
	       (double)stall / 1e6, removed);
	return manifest_update(ps, ps->lsn, false);
}

/* ---- the storage watch ---- */

/* Is shard i's current segment (named lsn) still linked, and still what its
 * path names? 0 or -errno with why. */
static int watch_segment(struct persist *ps, unsigned i, uint64_t lsn, char *why, size_t len)
{
	char path[FS_PATH_MAX + 64];
	struct stat st;

	int k = snprintf(path, sizeof(path), "%s/shard-%02u/wal-%016" PRIx64 ".log",
			 ps->cfg->persist_dir, i, lsn);

	if (k < 0 || (size_t)k >= sizeof(path))
		return -ENAMETOOLONG;
	if (ps->watch[i].fd < 0 || ps->watch[i].lsn != lsn) {
		if (ps->watch[i].fd >= 0)
			close(ps->watch[i].fd);
		ps->watch[i].fd = open(path, O_RDONLY | O_CLOEXEC);
		if (ps->watch[i].fd < 0 || fstat(ps->watch[i].fd, &st) < 0) {
			int rc = -errno;
			fs_errf(why, len, "%s: %s", path, fs_strerror(rc));
			return rc;
		}
		ps->watch[i].lsn = lsn;
		ps->watch[i].dev = st.st_dev;
		ps->watch[i].ino = st.st_ino;
	}
	if (fstat(ps->watch[i].fd, &st) == 0 && st.st_nlink == 0) {
		fs_errf(why, len, "%s: unlinked (the segment or the data directory was removed, "
				  "or the segment replaced)",
			path);
		return -ENOENT;
	}
	if (stat(path, &st) < 0) {
		int rc = -errno;
		fs_errf(why, len, "%s: %s (the segment or the data directory was removed)", path,
			fs_strerror(rc));
		return rc;
	}
	if (st.st_dev != ps->watch[i].dev || st.st_ino != ps->watch[i].ino) {
		fs_errf(why, len, "%s: replaced by another file", path);
		return -ESTALE;
	}
	return 0;
}

int persist_watch(struct persist *ps, int64_t now_ns)
{
	char why[FS_PATH_MAX + 160];

	if ((ps->flags & PERSIST_OPEN_READONLY) || now_ns < ps->next_watch_ns)
		return ps->lost;
	ps->next_watch_ns = now_ns + (int64_t)PERSIST_WATCH_INTERVAL_MS * 1000000;
	for (unsigned i = 0; i < ps->n; i++) {
		struct wal_position pos;
		int rc;
		if (!ps->wal[i] || ps->watch[i].failed)
			continue;
		wal_position(ps->wal[i], &pos);
		if (pos.failed || !pos.segment_lsn)
			continue;
		rc = watch_segment(ps, i, pos.segment_lsn, why, sizeof(why));
		if (rc == 0)
			continue;
		fs_log("error", "shard %u: storage lost: %s: failing the shard closed", i, why);
		wal_inject_fault(ps->wal[i], rc);
		ps->watch[i].failed = true;
		ps->lost = ps->lost ? ps->lost : rc;
	}
	if (!ps->lost)
		(void)manifest_update(ps, NULL, false);
	return ps->lost;
}

int persist_failed(const struct persist *ps)
{
	if (ps->lost)
		return ps->lost;
	for (unsigned i = 0; i < ps->n; i++) {
		struct wal_position pos;
		if (!ps->wal[i])
			continue;
		wal_position(ps->wal[i], &pos);
		if (pos.failed)
			return pos.failed;
	}
	return 0;
}

void persist_repl_get(const struct persist *ps, uint64_t *cluster, uint64_t *epoch,
		      uint64_t *fenced)
{
	*cluster = ps->man.cluster;
	*epoch = ps->man.epoch;
	*fenced = ps->man.fenced;
}

int persist_repl_set(struct persist *ps, uint64_t cluster, uint64_t epoch, uint64_t fenced)
{
	char err[FS_PATH_MAX + 128];
	struct persist_manifest m = ps->man;
	int rc;

	FS_ASSERT(!(ps->flags & PERSIST_OPEN_READONLY));
	m.cluster = cluster;
	m.epoch = epoch;
	m.fenced = fenced;
	rc = persist_manifest_write(ps->cfg->persist_dir, &m, err, sizeof(err));
	if (rc < 0) {
		fs_log("error", "manifest not updated (replication): %s", err);
		return rc;
	}
	ps->man = m;
	return 0;
}
