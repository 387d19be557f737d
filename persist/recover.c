/*
 * recover.c — start-up recovery of every shard: the newest snapshot, then
 * each shard's log after it.
 *
 * ALGORITHM (ARCHITECTURE.md, "Durability")
 *  1. snap_read(DIR): if DIR/snapshot.db exists, check it against the config
 *     and stream it into the (fresh) shards; lsn[i] = shard i's snapshot LSN,
 *     0 without a snapshot. A snapshot.db.tmp is a write that never finished
 *     and is ignored (snap_write removes it next time).
 *  2a. Catalog definitions first: shard 0's log after lsn[0] is read once
 *     (read-only) for its admin records, and each catalog definition is
 *     applied to the catalog and every shard (store_define_all), in log
 *     order. They are only ever in shard 0's log, and a change of a new
 *     item in any shard's log was made after its definition was durable, so
 *     applying every definition before any change replays them in an order
 *     consistent with what happened; shards then replay independently.
 *  2. For each shard, wal_replay_acked(from lsn[i] + 1, the manifest's
 *     high-water LSN, if the caller has one) with store_apply: the log
 *     must reach back to lsn[i] + 1 (else records are missing: refused) and
 *     must not end before lsn[i] (a snapshot ahead of its log: refused). A
 *     torn tail is cut and reported; anything else invalid refuses the start
 *     with the file and offset.
 *  3. store_audit every shard (the restores already did, the replay keeps
 *     the invariants by construction; this is the last check before traffic).
 * Steps 2 and 3 run in one thread per shard: shards share nothing.
 * The shards' journal hooks are not called: store_apply and the restores
 * emit nothing, so the caller may create shards with their final hooks and
 * open the logs afterwards with infos[i].wal.
 *
 * UP TO AN LSN (persist_recover_upto, read-only): records after to_lsn[i]
 * are read and checked as always but not applied (catalog definitions: after
 * to_lsn[0]), so the shards hold the state at exactly those LSNs; a snapshot
 * past to_lsn[i], or a log that ends before it, is -ERANGE.
 *
 * READ-ONLY (PERSIST_RECOVER_READONLY): the same, with wal_ops_readonly(),
 * so a torn tail is reported and left in place, and snapshot.db is opened
 * immutable anyway: nothing in DIR changes, so offline tools (flashsale
 * audit) may run next to a live daemon (they then see a prefix of the log).
 */
#include "persist.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"

/* A shard's replay target: changes up to `to` (UINT64_MAX: all) are applied. */
struct replay_target {
	struct store_shard *s;
	uint64_t to;
};

static int replay_apply(void *ctx, uint64_t lsn, const struct store_change *ch)
{
	const struct replay_target *t = ctx;

	return lsn > t->to ? 0 : store_apply(t->s, ch);
}

/* Step 2: admin records were applied in step 2a; check they still decode. */
static int replay_admin_skip(void *ctx, uint64_t lsn, const uint8_t *p, uint32_t len)
{
	struct store_catalog_def def;

	(void)ctx;
	(void)lsn;
	return wal_catalog_decode(p, len, &def);
}

struct catalog_pass {
	struct store_catalog *cat;
	struct store_shard *const *shards;
	char why[256];
	uint64_t defs, to; /* to: the last LSN applied (UINT64_MAX: all) */
	int refused; /* a definition that did not apply (-errno), 0 */
};

static int replay_define(void *ctx, uint64_t lsn, const uint8_t *p, uint32_t len)
{
	struct catalog_pass *cp = ctx;
	struct store_catalog_def def;
	int rc;

	if ((rc = wal_catalog_decode(p, len, &def)) != 0) {
		snprintf(cp->why, sizeof(cp->why), "bad catalog record");
		return cp->refused = rc;
	}
	if (lsn > cp->to)
		return 0;
	rc = store_define_all(cp->cat, cp->shards, &def, cp->why, sizeof(cp->why));
	if (rc == 0)
		cp->defs++;
	else
		cp->refused = rc == -EEXIST ? -EEXIST : -EINVAL;
	return cp->refused;
}

/* Step 2a. */
static int recover_catalog(const struct cfg *cfg, struct store_catalog *cat,
			   struct store_shard *const shards[], uint64_t from_lsn, uint64_t to_lsn,
			   char *err, size_t errlen)
{
	static struct catalog_pass cp; /* a definition is 4 KiB: not on the stack */
	struct wal_replay_info info;
	char why[1024];
	int rc;

	cp = (struct catalog_pass){.cat = cat, .shards = shards, .to = to_lsn};
	rc = wal_replay_ex(cfg->persist_dir, 0, wal_ops_readonly(), from_lsn, 0, NULL,
			   replay_define, &cp, &info, why, sizeof(why));
	if (rc && !cp.refused)
		return 0; /* the log itself: step 2 reads it again, as strictly as it
			   * may (acknowledged LSNs), and names what is wrong */
	if (rc && errlen)
		snprintf(err, errlen, "shard 0: catalog definitions: %s%s%s%s", why,
			 cp.why[0] ? ": " : "", cp.why,
			 cp.refused == -EEXIST ? " (created by the admin API and now also in the "
						 "config: remove it from the config)"
					       : "");
	else if (cp.defs)
		fs_log("info", "catalog: %" PRIu64 " definition(s) replayed from shard 0's log",
		       cp.defs);
	return rc;
}

static int recover_log(const struct cfg *cfg, unsigned i, struct store_shard *s,
		       struct persist_recover_info *info, const struct wal_ops *ops,
		       uint64_t acked_lsn, uint64_t to_lsn, char *err, size_t errlen)
{
	struct replay_target t = {.s = s, .to = to_lsn};
	char why[1024];
	int64_t t0 = fs_mono_ns();
	int rc;

	if (info->snapshot_lsn > to_lsn) {
		snprintf(err, errlen, "shard %u: the snapshot (LSN %" PRIu64 ") is past LSN %" PRIu64,
			 i, info->snapshot_lsn, to_lsn);
		return -ERANGE;
	}
	rc = wal_replay_ex(cfg->persist_dir, i, ops, info->snapshot_lsn + 1, acked_lsn,
			   replay_apply, replay_admin_skip, &t, &info->wal, why, sizeof(why));
	info->replay_ns = fs_mono_ns() - t0;
	if (rc == 0 && to_lsn != UINT64_MAX && info->wal.next_lsn <= to_lsn) {
		snprintf(err, errlen, "shard %u: the log ends at LSN %" PRIu64 ", before LSN %" PRIu64,
			 i, info->wal.next_lsn - 1, to_lsn);
		return -ERANGE;
	}
	if (rc == 0)
		return 0;
	if (errlen)
		snprintf(err, errlen, "shard %u: %s%s", i, why[0] ? why : fs_strerror(rc),
			 rc == -EINVAL ? " (a logged change does not fit the state: was the "
					 "config changed under existing state?)"
				       : "");
	return rc;
}

/* One shard's log replay and audit; shards share nothing, so they recover
 * in parallel (one thread each), which halves restart time on two cores. */
struct shard_job {
	const struct cfg *cfg;
	unsigned shard;
	struct store_shard *s;
	struct persist_recover_info *info;
	const struct wal_ops *ops;
	uint64_t acked_lsn, to_lsn;
	int rc;
	char err[1536]; /* "shard N: " + a 1 KiB replay message + a hint */
};

static void *shard_job_run(void *arg)
{
	struct shard_job *j = arg;
	char why[512];

	j->rc = recover_log(j->cfg, j->shard, j->s, j->info, j->ops, j->acked_lsn, j->to_lsn,
			    j->err, sizeof(j->err));
	if (j->rc == 0 && (j->rc = store_audit(j->s, why, sizeof(why))))
		snprintf(j->err, sizeof(j->err), "shard %u: audit after recovery: %s", j->shard, why);
	return NULL;
}

/* Run every shard's job; the first failure (in shard order) wins. A shard
 * whose thread cannot be created runs here. */
static int shard_jobs(struct shard_job *jobs, unsigned n, char *err, size_t errlen)
{
	pthread_t tid[FS_WORKERS_MAX];
	bool started[FS_WORKERS_MAX] = {false};

	for (unsigned i = 0; i < n; i++)
		started[i] = pthread_create(&tid[i], NULL, shard_job_run, &jobs[i]) == 0;
	for (unsigned i = 0; i < n; i++) {
		if (started[i])
			pthread_join(tid[i], NULL);
		else
			shard_job_run(&jobs[i]);
	}
	for (unsigned i = 0; i < n; i++)
		if (jobs[i].rc) {
			if (errlen)
				snprintf(err, errlen, "%s", jobs[i].err);
			return jobs[i].rc;
		}
	return 0;
}

int persist_recover(const struct cfg *cfg, struct store_catalog *cat,
		    struct store_shard *const shards[], struct persist_recover_info infos[],
		    unsigned flags, char *err, size_t errlen)
{
	return persist_recover_acked(cfg, cat, shards, infos, NULL, flags, err, errlen);
}

int persist_recover_acked(const struct cfg *cfg, struct store_catalog *cat,
			  struct store_shard *const shards[], struct persist_recover_info infos[],
			  const uint64_t acked_lsn[], unsigned flags, char *err, size_t errlen)
{
	return persist_recover_upto(cfg, cat, shards, infos, acked_lsn, NULL, flags, err, errlen);
}

int persist_recover_upto(const struct cfg *cfg, struct store_catalog *cat,
			 struct store_shard *const shards[], struct persist_recover_info infos[],
			 const uint64_t acked_lsn[], const uint64_t to_lsn[], unsigned flags,
			 char *err, size_t errlen)
{
	const struct wal_ops *ops =
		flags & PERSIST_RECOVER_READONLY ? wal_ops_readonly() : wal_ops_default();
	unsigned n = store_catalog_nshards(cat);
	uint64_t lsn[FS_WORKERS_MAX];
	int64_t t0 = fs_mono_ns();
	bool found = false;
	int rc;

	if (errlen)
		err[0] = '\0';
	memset(infos, 0, n * sizeof(*infos));
	rc = snap_read(cfg->persist_dir, cfg, cat, shards, lsn, &found, err, errlen);
	if (rc)
		return rc;
	for (unsigned i = 0; i < n; i++) {
		struct store_stats st;
		store_shard_stats(shards[i], &st);
		infos[i].snapshot = found;
		infos[i].snapshot_lsn = lsn[i];
		infos[i].snapshot_orders = found ? st.orders : 0;
		infos[i].snapshot_ns = fs_mono_ns() - t0;
	}
	if ((rc = recover_catalog(cfg, cat, shards, lsn[0] + 1, to_lsn ? to_lsn[0] : UINT64_MAX,
				  err, errlen)) != 0)
		return rc;
	static struct shard_job jobs[FS_WORKERS_MAX]; /* 1.5 KiB of text each: not on the stack */
	for (unsigned i = 0; i < n; i++)
		jobs[i] = (struct shard_job){.cfg = cfg, .shard = i, .s = shards[i],
					     .info = &infos[i], .ops = ops,
					     .acked_lsn = acked_lsn ? acked_lsn[i] : 0,
					     .to_lsn = to_lsn ? to_lsn[i] : UINT64_MAX};
	return shard_jobs(jobs, n, err, errlen);
}
