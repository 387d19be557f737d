/*
 * flashsale_export.c — flashsale-export: tails the change feed of the
 * appliance's data directory and applies it to PostgreSQL, exactly once.
 *
 *   flashsale-export --config FILE --db CONNINFO [--name NAME] [--batch N]
 *
 * A separate executable (not a `flashsale export` command) so that libpq is
 * linked into nothing else and app/flashsale.c stays untouched.
 *
 * TABLES (app/export/schema.sql, compiled in and created when missing):
 * flashsale_orders (one row per order, its latest state), flashsale_items
 * (counts as of the last applied change), flashsale_offsets (per shard, the
 * last applied LSN).
 *
 * EXACTLY ONCE. Every transaction carries the rows of a batch of changes
 * AND the new offsets of the shards they came from, so the database never
 * holds a row without its offset or the reverse. At the start of a session
 * (start, or after any database error, including a COMMIT whose outcome is
 * unknown) the exporter reads the offsets back and repositions each shard's
 * reader at offset + 1; it keeps nothing in memory across sessions. Each
 * transaction also checks, under FOR UPDATE, that the offsets are still the
 * ones it started from (a second exporter on the same database takes a
 * session advisory lock and waits; were it to write anyway, this check stops
 * the first loudly). States only move forward (state_rank), which makes a
 * replay harmless as a second line of defence, not the first.
 *
 * READING THE LOG (persist/wal_tail.c, shared with the standby's sender).
 * wal_replay() reads a whole log per call, which suits
 * recovery, not a tail; so each shard has a reader that keeps its segment
 * open at a file offset and decodes records with the public record codec
 * (wal_record_decode, wal_change_decode) — the format stays in wal.c.
 * LSNs must be contiguous: a record whose LSN is not the next one is a gap
 * and stops the exporter (exit 1) naming file and offset. At the end of the
 * data a record cut short or failing its CRC is a batch still being written
 * (or a torn tail the appliance cuts at restart): the reader waits and reads
 * it again; only if a later segment exists and the bad record is still there
 * after WAL_TAIL_GRACE_NS is it corruption (exit 1). Only complete, valid
 * records are applied, and recovery never cuts before the first invalid
 * one, so nothing applied can be taken back by a restart of the appliance
 * (a power loss can: records are read once written, before their fsync; see
 * docs/operations.md).
 *
 * RESYNC. When the segment holding a shard's next LSN is gone (removed by
 * the snapshot's trim: the consumer fell past the retention bound, or was
 * never registered), the shard is reloaded from DIR/snapshot.db (opened
 * immutable: its orders and items of that shard, forward-only upserts) and
 * its offset set to the snapshot's LSN, in one transaction; reading goes on
 * from there.
 *
 * RETENTION. After each commit the offsets are written to
 * DIR/consumers/NAME (persist/retain.c), so the appliance keeps the
 * segments the exporter still needs (bounded; past the bound it resyncs).
 *
 * Batching: up to --batch changes (default 50,000) per transaction, all
 * shards together, folded in memory to one row per order. New orders are
 * COPYed straight into flashsale_orders (the offsets rule out a conflict;
 * 3x faster than going through a stage, docs/benchmarks.md), orders settled
 * whose RESERVE came in an earlier batch are COPYed into a temporary stage
 * table and applied with one UPDATE ... FROM; the touched items, the offsets
 * and COMMIT follow in one round trip. Should a new order be there already
 * (a database restored ahead of its offsets), the batch is redone through
 * the stage with INSERT ... ON CONFLICT (forward only) and the items are
 * recounted from the orders.
 *
 * Progress is logged every 10 s (changes/s, per-shard LSNs, lag from the
 * change's decision time to the DB commit, p50/p99); SIGTERM/SIGINT stop
 * after the current transaction. Exit: 0 stopped, 1 fatal (gap, corruption,
 * another writer), 2 usage or config error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "cfg.h"
#include "export_schema.h"
#include "fs_proto.h"
#include "persist.h"
#include "wal_tail.h"

#define EXIT_FATAL 1
#define EXIT_USAGE 2

#define BATCH_DEFAULT	  50000
#define BATCH_MAX	  1000000
#define IDLE_SLEEP_US	  5000
#define PROGRESS_NS	  (10 * FS_NS_PER_S)
#define LAG_BUCKETS	  10001			/* 1 ms buckets up to 10 s, then one overflow */
#define ROW_TEXT_MAX	  320			/* one stage row in COPY text */
#define ADVISORY_LOCK_KEY "7305627031858327929" /* 'flashsale-export', hashed */
#define CONSUMER_DEFAULT  "export"

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}

struct exporter;
static int tail_next(struct exporter *x, struct wal_tail *t, uint64_t *lsn,
		     struct store_change *ch);

/* ---- the stage: one row per order of the batch ---- */

struct row {
	uint64_t order_id, user_id, request_id, paid_ref, lsn;
	int64_t created_ns, deadline_ns, settled_ns;
	uint32_t item_id;
	uint16_t qty;
	uint8_t shard, state; /* FS_STATE_* */
	bool created;	      /* the RESERVE is in this batch (or the snapshot) */
	bool has_ref;
};

struct item {
	uint32_t id, activity_id;
	int64_t total, available, reserved, paid;
	int64_t pay_timeout_ns;
	bool dirty;
};

struct exporter {
	struct cfg cfg;
	const char *conninfo, *name, *dir;
	unsigned nshards, batch_cap;
	bool exit_when_idle;
	PGconn *db;
	struct wal_tail tails[FS_WORKERS_MAX];
	uint64_t applied[FS_WORKERS_MAX]; /* offsets as committed */
	uint64_t pending[FS_WORKERS_MAX]; /* offsets after the batch being built */
	struct item *items;		  /* sorted by id */
	unsigned nitems, cap_items;	  /* the config's, then those created at run time */
	struct {
		uint32_t id;
		int64_t pay_timeout_ns;
	} acts[FS_ACTIVITIES_MAX]; /* activities created at run time */
	unsigned nacts;
	struct row *rows; /* batch_cap */
	unsigned nrows;
	uint32_t *hash; /* 2 * batch_cap rounded to a power of 2: row index + 1 */
	uint32_t hash_mask;
	int64_t *lag_ts; /* per change of the batch: its time_ns */
	unsigned nlag;
	uint64_t batch_orders; /* RESERVEs in the batch */
	int gap_shard;	       /* a shard whose next LSN was trimmed; -1 none */
	char *copybuf;	       /* batch_cap * ROW_TEXT_MAX */
	char *sql;	       /* items + offsets statements */
	size_t sql_cap;
	/* stats */
	uint64_t changes, orders, txns, resyncs, sessions;
	uint64_t lag_hist[LAG_BUCKETS], lag_total_hist[LAG_BUCKETS];
	int64_t start_ns, last_progress_ns;
	uint64_t progress_changes, progress_orders;
	int64_t last_lag_ms;
};

/* ---- small helpers ---- */

static void log_pg(const char *what, PGconn *db, PGresult *r)
{
	const char *m = r ? PQresultErrorMessage(r) : "";
	if (!m || !*m)
		m = PQerrorMessage(db);
	fs_log("error", "export: %s: %.*s", what, (int)strcspn(m, "\n"), m);
}

/* Run SQL expecting status want; 0 or -EIO (logged). */
static int pg_exec(struct exporter *x, const char *what, const char *sql, ExecStatusType want)
{
	PGresult *r = PQexec(x->db, sql);
	int rc = PQresultStatus(r) == want ? 0 : -EIO;

	if (rc)
		log_pg(what, x->db, r);
	PQclear(r);
	return rc;
}

static char *fmt_ts(char *out, size_t cap, int64_t ns)
{
	time_t s = (time_t)(ns / FS_NS_PER_S);
	long us = (long)((ns % FS_NS_PER_S) / 1000);
	struct tm tm;
	size_t n;

	if (us < 0) {
		us += 1000000;
		s--;
	}
	gmtime_r(&s, &tm);
	n = strftime(out, cap, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(out + n, cap - n, ".%06ld+00", us);
	return out;
}

static const char *state_name(uint8_t st)
{
	switch (st) {
	case FS_STATE_RESERVED: return "RESERVED";
	case FS_STATE_PAID: return "PAID";
	case FS_STATE_CANCELLED: return "CANCELLED";
	case FS_STATE_EXPIRED: return "EXPIRED";
	default: return NULL;
	}
}

static int state_rank(uint8_t st)
{
	return st == FS_STATE_RESERVED ? 1 : 2;
}

static int cmp_item(const void *a, const void *b)
{
	const struct item *x = a, *y = b;
	return x->id < y->id ? -1 : x->id > y->id;
}

static struct item *item_find(struct exporter *x, uint32_t id)
{
	struct item key = {.id = id};
	return bsearch(&key, x->items, x->nitems, sizeof(key), cmp_item);
}

/* ---- the catalog created at run time (admin API) ----
 * A catalog definition in shard 0's log (or, for older ones, the snapshot's
 * catalog tables) creates activities and items: they join the item table
 * here, so a RESERVE of a new item is exported like any other. */

static int64_t act_pay_timeout_ns(const struct exporter *x, uint32_t id)
{
	for (unsigned a = 0; a < x->nacts; a++)
		if (x->acts[a].id == id)
			return x->acts[a].pay_timeout_ns;
	for (unsigned a = 0; a < x->cfg.n_activities; a++)
		if (x->cfg.activities[a].id == id)
			return (int64_t)x->cfg.activities[a].pay_timeout_s * FS_NS_PER_S;
	return -1;
}

static void learn_def(struct exporter *x, const struct store_catalog_def *d)
{
	int64_t pay;
	bool added = false;

	if (d->has_activity && act_pay_timeout_ns(x, d->act.id) < 0 &&
	    x->nacts < FS_ACTIVITIES_MAX) {
		x->acts[x->nacts].id = d->act.id;
		x->acts[x->nacts++].pay_timeout_ns = (int64_t)d->act.pay_timeout_s * FS_NS_PER_S;
	}
	pay = act_pay_timeout_ns(x, d->act.id);
	for (uint32_t k = 0; k < d->n_items && x->nitems < x->cap_items; k++) {
		if (item_find(x, d->items[k].id))
			continue;
		x->items[x->nitems++] = (struct item){
			.id = d->items[k].id,
			.activity_id = d->act.id,
			.total = d->items[k].total,
			.available = d->items[k].total,
			.pay_timeout_ns = pay < 0 ? 0 : pay,
			.dirty = true,
		};
		added = true;
	}
	if (added)
		qsort(x->items, x->nitems, sizeof(*x->items), cmp_item);
}

static int learn_from_log(void *ctx, uint64_t lsn, const uint8_t *p, uint32_t len)
{
	static struct store_catalog_def d;

	(void)lsn;
	if (wal_catalog_decode(p, len, &d) == 0)
		learn_def(ctx, &d);
	return 0;
}

/* At start: every definition still in shard 0's log and in snapshot.db. */
static void learn_catalog(struct exporter *x)
{
	static struct store_catalog_def d;
	struct wal_replay_info info;
	char uri[FS_PATH_MAX + 64], err[512];
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;

	snprintf(uri, sizeof(uri), "file:%s/snapshot.db?immutable=1", x->dir);
	if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db,
			       "SELECT a.activity_id, a.pay_timeout_s, i.item_id, i.total FROM "
			       "catalog_items i LEFT JOIN catalog_activities a ON "
			       "a.activity_id = i.activity_id ORDER BY i.idx",
			       -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			memset(&d, 0, sizeof(d));
			d.has_activity = sqlite3_column_type(st, 0) != SQLITE_NULL;
			d.act.id = (uint32_t)sqlite3_column_int64(st, 0);
			d.act.pay_timeout_s = (uint32_t)sqlite3_column_int64(st, 1);
			d.n_items = 1;
			d.items[0].id = (uint32_t)sqlite3_column_int64(st, 2);
			d.items[0].total = (uint32_t)sqlite3_column_int64(st, 3);
			learn_def(x, &d);
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	(void)wal_replay_ex(x->dir, 0, wal_ops_readonly(), 1, 0, NULL, learn_from_log, x, &info,
			    err, sizeof(err));
}

/* ---- the log readers (persist/wal_tail.c) ---- */

/* The next change of t's shard: WAL_TAIL_RECORD with *lsn and *ch, or
 * wal_tail_next's other answers. A record type the exporter does not know
 * stops it (exit 1), naming file and offset. */
static int tail_next(struct exporter *x, struct wal_tail *t, uint64_t *lsn,
		     struct store_change *ch)
{
	struct wal_record rec;
	const uint8_t *raw;
	size_t rawlen;
	int rc = wal_tail_next(t, &rec, &raw, &rawlen);

	if (rc != WAL_TAIL_RECORD)
		return rc;
	if (rec.type == WAL_REC_ADMIN) {
		static struct store_catalog_def d;
		if (wal_catalog_decode(rec.payload, rec.len, &d) == 0) {
			/* Not an order: new items join the table; the record only
			 * moves the offset (type 0). */
			learn_def(x, &d);
			memset(ch, 0, sizeof(*ch));
			*lsn = rec.lsn;
			return WAL_TAIL_RECORD;
		}
	}
	if (rec.type != WAL_REC_CHANGE || rec.len != WAL_CHANGE_BYTES ||
	    wal_change_decode(rec.payload, ch) < 0) {
		fs_log("error",
		       "export: shard %u: %s: offset %" PRIu64 ": record type %u "
		       "(LSN %" PRIu64 ") is not a change this exporter knows; stopping",
		       t->shard, t->path, t->off - rawlen, rec.type, rec.lsn);
		return -ENOTSUP;
	}
	*lsn = rec.lsn;
	return WAL_TAIL_RECORD;
}

/* ---- building a batch ---- */

static uint32_t hash64(uint64_t v)
{
	v ^= v >> 33;
	v *= 0xff51afd7ed558ccdull;
	v ^= v >> 33;
	return (uint32_t)v;
}

static struct row *row_get(struct exporter *x, uint64_t order_id, bool *fresh)
{
	uint32_t h = hash64(order_id) & x->hash_mask;

	while (x->hash[h]) {
		struct row *r = &x->rows[x->hash[h] - 1];
		if (r->order_id == order_id) {
			*fresh = false;
			return r;
		}
		h = (h + 1) & x->hash_mask;
	}
	FS_ASSERT(x->nrows < x->batch_cap);
	x->hash[h] = ++x->nrows;
	*fresh = true;
	memset(&x->rows[x->nrows - 1], 0, sizeof(struct row));
	return &x->rows[x->nrows - 1];
}

static void batch_reset(struct exporter *x)
{
	memset(x->hash, 0, (size_t)(x->hash_mask + 1) * sizeof(*x->hash));
	x->nrows = 0;
	x->nlag = 0;
	x->batch_orders = 0;
	memcpy(x->pending, x->applied, sizeof(x->pending));
}

/* Fold one change into the batch and the in-memory item counts. */
static int batch_add(struct exporter *x, unsigned shard, uint64_t lsn,
		     const struct store_change *ch)
{
	struct item *it = item_find(x, ch->item_id);
	uint8_t st = ch->type == STORE_CH_PAY	   ? FS_STATE_PAID
		     : ch->type == STORE_CH_CANCEL ? FS_STATE_CANCELLED
		     : ch->type == STORE_CH_EXPIRE ? FS_STATE_EXPIRED
						   : FS_STATE_RESERVED;
	struct row *r;
	bool fresh;

	if (ch->type == STORE_CH_WINDOW || ch->type == 0) {
		/* an activity's window, a catalog definition: no order in it */
		x->pending[shard] = lsn;
		return 0;
	}
	if (!it) {
		fs_log("error",
		       "export: shard %u LSN %" PRIu64 ": item %" PRIu32 " is not in %s; "
		       "stopping",
		       shard, lsn, ch->item_id, x->cfg.path);
		return -EINVAL;
	}
	if (ch->type == STORE_CH_STOCK) { /* admin stock change: ref = the item's new total */
		it->total = (int64_t)ch->ref;
		it->available = it->total - it->reserved - it->paid;
		it->dirty = true;
		x->pending[shard] = lsn;
		return 0;
	}
	r = row_get(x, ch->order_id, &fresh);
	if (ch->type == STORE_CH_RESERVE) {
		if (!fresh) {
			fs_log("error",
			       "export: shard %u LSN %" PRIu64 ": order %" PRIu64
			       " reserved twice; stopping",
			       shard, lsn, ch->order_id);
			return -EBADMSG;
		}
		*r = (struct row){
			.order_id = ch->order_id,
			.user_id = ch->user_id,
			.request_id = ch->request_id,
			.created_ns = ch->time_ns,
			.deadline_ns = ch->time_ns + it->pay_timeout_ns,
			.item_id = ch->item_id,
			.qty = ch->qty,
			.shard = (uint8_t)shard,
			.state = st,
			.created = true,
		};
		it->available -= ch->qty;
		it->reserved += ch->qty;
		x->batch_orders++;
	} else {
		if (fresh)
			*r = (struct row){.order_id = ch->order_id,
					  .user_id = ch->user_id,
					  .item_id = ch->item_id,
					  .qty = ch->qty,
					  .shard = (uint8_t)shard};
		r->state = st;
		r->settled_ns = ch->time_ns;
		if (ch->type == STORE_CH_PAY) {
			r->paid_ref = ch->ref;
			r->has_ref = true;
		}
		it->reserved -= ch->qty;
		if (ch->type == STORE_CH_PAY)
			it->paid += ch->qty;
		else
			it->available += ch->qty;
	}
	r->lsn = lsn;
	it->dirty = true;
	x->pending[shard] = lsn;
	x->lag_ts[x->nlag++] = ch->time_ns;
	return 0;
}

/* ---- applying a batch ---- */

static int load_items(struct exporter *x);

/* One row in COPY text, in flashsale_stage's column order; without the
 * "created" column (flashsale_orders' COPY) when !stage. */
static size_t row_text(char *o, const struct row *r, bool stage)
{
	char c[40], d[40], s[40];
	int n;

	fmt_ts(c, sizeof(c), r->created_ns);
	fmt_ts(d, sizeof(d), r->deadline_ns);
	fmt_ts(s, sizeof(s), r->settled_ns);
	n = snprintf(o, ROW_TEXT_MAX,
		     "%" PRIu64 "\t%u\t%" PRIu64 "\t%" PRIu32 "\t%u\t%s\t%d\t%s%s\t%s\t",
		     r->order_id, r->shard, r->user_id, r->item_id, r->qty, state_name(r->state),
		     state_rank(r->state),
		     !stage	  ? ""
		     : r->created ? "t\t"
				  : "f\t",
		     r->created ? c : "\\N", r->created ? d : "\\N");
	if (r->has_ref)
		n += snprintf(o + n, (size_t)(ROW_TEXT_MAX - n), "%" PRIu64 "\t", r->paid_ref);
	else
		n += snprintf(o + n, (size_t)(ROW_TEXT_MAX - n), "\\N\t");
	if (r->created && r->request_id)
		n += snprintf(o + n, (size_t)(ROW_TEXT_MAX - n), "%" PRIu64 "\t", r->request_id);
	else
		n += snprintf(o + n, (size_t)(ROW_TEXT_MAX - n), "\\N\t");
	n += snprintf(o + n, (size_t)(ROW_TEXT_MAX - n), "%s\t%" PRIu64 "\n",
		      r->settled_ns ? s : "\\N", r->lsn);
	FS_ASSERT(n > 0 && n < ROW_TEXT_MAX);
	return (size_t)n;
}

enum copy_what {
	COPY_ALL_TO_STAGE,     /* every row into flashsale_stage (the upsert path) */
	COPY_SETTLED_TO_STAGE, /* rows whose RESERVE came earlier */
	COPY_NEW_TO_ORDERS,    /* new orders straight into flashsale_orders */
};

#define ORDERS_COLUMNS                                                                \
	"order_id,shard,user_id,item_id,qty,state,state_rank,created_at,deadline_at," \
	"paid_ref,request_id,settled_at,lsn"

/* COPY the batch's rows (some of them); 0, -ENOTUNIQ (a new order already
 * in flashsale_orders), -EIO. Nothing to copy: 0 without a round trip. */
static int stage_copy(struct exporter *x, enum copy_what what)
{
	size_t len = 0;
	PGresult *r;
	int rc = 0;

	for (unsigned i = 0; i < x->nrows; i++) {
		const struct row *w = &x->rows[i];
		if ((what == COPY_SETTLED_TO_STAGE && w->created) ||
		    (what == COPY_NEW_TO_ORDERS && !w->created))
			continue;
		len += row_text(x->copybuf + len, w, what != COPY_NEW_TO_ORDERS);
	}
	if (len == 0)
		return 0;
	r = PQexec(x->db, what == COPY_NEW_TO_ORDERS ? "COPY flashsale_orders (" ORDERS_COLUMNS
						       ") FROM STDIN"
						     : "COPY flashsale_stage FROM STDIN");
	if (PQresultStatus(r) != PGRES_COPY_IN) {
		log_pg("COPY", x->db, r);
		PQclear(r);
		return -EIO;
	}
	PQclear(r);
	if (PQputCopyData(x->db, x->copybuf, (int)len) != 1 || PQputCopyEnd(x->db, NULL) != 1)
		rc = -EIO;
	r = PQgetResult(x->db);
	if (rc == 0 && PQresultStatus(r) != PGRES_COMMAND_OK) {
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		rc = state && strcmp(state, "23505") == 0 ? -ENOTUNIQ : -EIO;
	}
	if (rc == -EIO || (rc == -ENOTUNIQ && what != COPY_NEW_TO_ORDERS))
		log_pg("COPY", x->db, r);
	PQclear(r);
	while ((r = PQgetResult(x->db)))
		PQclear(r);
	return rc;
}

/* Offsets as this exporter believes them, checked under a row lock. */
static int offsets_check(struct exporter *x)
{
	PGresult *r = PQexec(x->db, "SELECT shard, lsn::text FROM flashsale_offsets FOR UPDATE");
	uint64_t seen[FS_WORKERS_MAX] = {0};
	int rc = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_pg("reading offsets", x->db, r);
		PQclear(r);
		return -EIO;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		long sh = strtol(PQgetvalue(r, i, 0), NULL, 10);
		if (sh >= 0 && sh < FS_WORKERS_MAX)
			seen[sh] = strtoull(PQgetvalue(r, i, 1), NULL, 10);
	}
	PQclear(r);
	for (unsigned s = 0; s < FS_WORKERS_MAX; s++)
		if (seen[s] != x->applied[s]) {
			fs_log("error",
			       "export: shard %u: flashsale_offsets says LSN %" PRIu64
			       ", this exporter applied up to %" PRIu64 ": another writer is "
			       "exporting into this database; stopping",
			       s, seen[s], x->applied[s]);
			rc = -EEXIST;
		}
	return rc;
}

static int sql_reserve(struct exporter *x, size_t need)
{
	if (need <= x->sql_cap)
		return 0;
	char *p = realloc(x->sql, need);
	if (!p)
		return -ENOMEM;
	x->sql = p;
	x->sql_cap = need;
	return 0;
}

/* Items touched and offsets moved, appended as two statements. */
static int sql_items_offsets(struct exporter *x, size_t *len)
{
	size_t n = *len;
	bool first = true;
	int rc = sql_reserve(x, n + 512 + (size_t)x->nitems * 160 + FS_WORKERS_MAX * 64);

	if (rc)
		return rc;
	for (unsigned i = 0; i < x->nitems; i++) {
		struct item *it = &x->items[i];
		if (!it->dirty)
			continue;
		n += (size_t)sprintf(
			x->sql + n,
			"%s(%" PRIu32 ",%" PRIu32 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
			")",
			first ? "INSERT INTO flashsale_items(item_id,activity_id,total,"
				"available,reserved,paid) VALUES "
			      : ",",
			it->id, it->activity_id, it->total, it->available, it->reserved, it->paid);
		first = false;
	}
	if (!first)
		n += (size_t)sprintf(
			x->sql + n,
			" ON CONFLICT (item_id) DO UPDATE SET activity_id=EXCLUDED."
			"activity_id,total=EXCLUDED.total,available=EXCLUDED.available,"
			"reserved=EXCLUDED.reserved,paid=EXCLUDED.paid,updated_at=now();");
	first = true;
	for (unsigned s = 0; s < x->nshards; s++) {
		if (x->pending[s] == x->applied[s])
			continue;
		n += (size_t)sprintf(x->sql + n, "%s(%u,%" PRIu64 ")",
				     first ? "INSERT INTO flashsale_offsets(shard,lsn) VALUES "
					   : ",",
				     s, x->pending[s]);
		first = false;
	}
	if (!first)
		n += (size_t)sprintf(x->sql + n, " ON CONFLICT (shard) DO UPDATE SET "
						 "lsn=EXCLUDED.lsn,updated_at=now();");
	*len = n;
	return 0;
}

static const char UPSERT_ORDERS[] =
	"INSERT INTO flashsale_orders(order_id,user_id,item_id,qty,state,created_at,"
	"deadline_at,paid_ref,shard,request_id,settled_at,state_rank,lsn) "
	"SELECT order_id,user_id,item_id,qty,state,created_at,deadline_at,paid_ref,shard,"
	"request_id,settled_at,state_rank,lsn FROM flashsale_stage WHERE created "
	"ON CONFLICT (order_id) DO UPDATE SET state=EXCLUDED.state,state_rank=EXCLUDED."
	"state_rank,paid_ref=COALESCE(EXCLUDED.paid_ref,flashsale_orders.paid_ref),"
	"settled_at=COALESCE(EXCLUDED.settled_at,flashsale_orders.settled_at),lsn=EXCLUDED.lsn "
	"WHERE flashsale_orders.state_rank < EXCLUDED.state_rank;"
	"UPDATE flashsale_orders o SET state=s.state,state_rank=s.state_rank,"
	"paid_ref=COALESCE(s.paid_ref,o.paid_ref),settled_at=s.settled_at,lsn=s.lsn "
	"FROM flashsale_stage s WHERE NOT s.created AND o.order_id=s.order_id "
	"AND o.state_rank < s.state_rank;";

/* Items recounted from every order (the upsert path: a batch that repeats
 * changes the database has must not count them twice). */
static const char ITEMS_RECOUNT[] =
	"UPDATE flashsale_items i SET reserved=c.r,paid=c.p,available=i.total-c.r-c.p,"
	"updated_at=now() FROM (SELECT item_id,COALESCE(sum(qty) FILTER (WHERE state="
	"'RESERVED'),0) r,COALESCE(sum(qty) FILTER (WHERE state='PAID'),0) p FROM "
	"flashsale_orders GROUP BY item_id) c WHERE i.item_id=c.item_id;";

/* The second statement of UPSERT_ORDERS alone. */
static const char UPDATE_SETTLED[] =
	"UPDATE flashsale_orders o SET state=s.state,state_rank=s.state_rank,"
	"paid_ref=COALESCE(s.paid_ref,o.paid_ref),settled_at=s.settled_at,lsn=s.lsn "
	"FROM flashsale_stage s WHERE NOT s.created AND o.order_id=s.order_id "
	"AND o.state_rank < s.state_rank;";

/* Settled orders of the batch whose RESERVE is in neither the batch nor the
 * database: something was skipped. */
static int check_missing(struct exporter *x)
{
	unsigned settled = 0;
	PGresult *r;

	for (unsigned i = 0; i < x->nrows && !settled; i++)
		settled += !x->rows[i].created;
	if (!settled)
		return 0;
	r = PQexec(x->db, "SELECT s.order_id::text, s.shard, s.lsn::text FROM "
			  "flashsale_stage s WHERE NOT s.created AND NOT EXISTS (SELECT 1 "
			  "FROM flashsale_orders o WHERE o.order_id = s.order_id) LIMIT 1");
	int rc = 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_pg("checking settled orders", x->db, r);
		rc = -EIO;
	} else if (PQntuples(r) > 0) {
		fs_log("error",
		       "export: shard %s LSN %s settles order %s, which is not in "
		       "flashsale_orders (its RESERVE was never applied); stopping",
		       PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 0));
		rc = -EBADMSG;
	}
	PQclear(r);
	return rc;
}

static void lag_note(struct exporter *x, int64_t commit_ns)
{
	for (unsigned i = 0; i < x->nlag; i++) {
		int64_t ms = (commit_ns - x->lag_ts[i]) / FS_NS_PER_MS;
		unsigned b = ms < 0 ? 0 : ms >= LAG_BUCKETS - 1 ? LAG_BUCKETS - 1 : (unsigned)ms;
		x->lag_hist[b]++;
		x->lag_total_hist[b]++;
	}
	if (x->nlag)
		x->last_lag_ms = (commit_ns - x->lag_ts[x->nlag - 1]) / FS_NS_PER_MS;
}

static void register_consumer(struct exporter *x)
{
	char err[512];

	if (retain_consumer_write(x->dir, x->name, x->nshards, x->applied, err, sizeof(err)) < 0)
		fs_log("warn",
		       "export: consumer file: %s (the appliance may trim what we still need)",
		       err);
}

/* One transaction. Fast path: new orders are COPYed straight into
 * flashsale_orders (the offsets make a conflict impossible), settled ones
 * through the stage; were a new order there already (-ENOTUNIQ: a database
 * restored from a backup ahead of its offsets, say), the batch is redone
 * through the stage with forward-only upserts. -EIO: database trouble (new
 * session); other: fatal. */
static int batch_txn(struct exporter *x, bool fast)
{
	const char *sql = fast ? UPDATE_SETTLED : UPSERT_ORDERS;
	size_t len = strlen(sql);
	int rc;

	if ((rc = pg_exec(x, "BEGIN", "BEGIN", PGRES_COMMAND_OK)))
		return rc;
	if ((rc = offsets_check(x)))
		goto fail;
	if (fast)
		rc = stage_copy(x, COPY_NEW_TO_ORDERS);
	if (rc == 0)
		rc = stage_copy(x, fast ? COPY_SETTLED_TO_STAGE : COPY_ALL_TO_STAGE);
	if (rc || (rc = check_missing(x)) || (rc = sql_reserve(x, len + 64)))
		goto fail;
	memcpy(x->sql, sql, len);
	if ((rc = sql_items_offsets(x, &len)) ||
	    (rc = sql_reserve(x, len + sizeof(ITEMS_RECOUNT) + 16)))
		goto fail;
	if (!fast) { /* the batch may repeat changes: count from the orders */
		memcpy(x->sql + len, ITEMS_RECOUNT, sizeof(ITEMS_RECOUNT) - 1);
		len += sizeof(ITEMS_RECOUNT) - 1;
	}
	memcpy(x->sql + len, "COMMIT;", 8);
	if ((rc = pg_exec(x, "applying a batch", x->sql, PGRES_COMMAND_OK)))
		goto fail;
	if (!fast && (rc = load_items(x)))
		return rc;
	lag_note(x, fs_now_ns());
	memcpy(x->applied, x->pending, sizeof(x->applied));
	for (unsigned i = 0; i < x->nitems; i++)
		x->items[i].dirty = false;
	x->txns++;
	x->changes += x->nlag;
	x->progress_changes += x->nlag;
	x->orders += x->batch_orders;
	x->progress_orders += x->batch_orders;
	register_consumer(x);
	return 0;
fail:
	PQclear(PQexec(x->db, "ROLLBACK"));
	return rc;
}

static int batch_apply(struct exporter *x)
{
	int rc = batch_txn(x, true);

	if (rc == -ENOTUNIQ) {
		fs_log("warn",
		       "export: a new order of this batch is already in flashsale_orders "
		       "(the database is ahead of its offsets?): applying it with forward-only "
		       "upserts");
		rc = batch_txn(x, false);
	}
	return rc;
}

/* ---- resync from snapshot.db ---- */

static int snap_open(struct exporter *x, sqlite3 **db)
{
	char uri[FS_PATH_MAX + 64];

	snprintf(uri, sizeof(uri), "file:%s/snapshot.db?immutable=1", x->dir);
	if (sqlite3_open_v2(uri, db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
		fs_log("error", "export: %s/snapshot.db: %s", x->dir, sqlite3_errmsg(*db));
		sqlite3_close(*db);
		return -EIO;
	}
	return 0;
}

/* The shard's items from the snapshot into memory (marked dirty). */
static int snap_items(struct exporter *x, sqlite3 *db, unsigned shard)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db,
			       "SELECT item_id, total, available, reserved, paid FROM items "
			       "WHERE shard = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -EBADMSG;
	sqlite3_bind_int(st, 1, (int)shard);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct item *it = item_find(x, (uint32_t)sqlite3_column_int64(st, 0));
		if (!it)
			continue; /* not in the config any more */
		it->total = sqlite3_column_int64(st, 1);
		it->available = sqlite3_column_int64(st, 2);
		it->reserved = sqlite3_column_int64(st, 3);
		it->paid = sqlite3_column_int64(st, 4);
		it->dirty = true;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -EBADMSG;
}

/* Stream the shard's snapshot orders into the stage, batch_cap at a time. */
static int snap_orders(struct exporter *x, sqlite3 *db, unsigned shard, uint64_t lsn,
		       uint64_t *count)
{
	sqlite3_stmt *st;
	int rc = 0, src;

	if (sqlite3_prepare_v2(db,
			       "SELECT order_id, user_id, item_id, qty, state, deadline_ns, "
			       "request_id, created_ns FROM orders WHERE shard = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -EBADMSG;
	sqlite3_bind_int(st, 1, (int)shard);
	x->nrows = 0;
	while (rc == 0 && (src = sqlite3_step(st)) == SQLITE_ROW) {
		struct row *r = &x->rows[x->nrows++];
		uint8_t state = (uint8_t)sqlite3_column_int(st, 4);
		*r = (struct row){
			.order_id = (uint64_t)sqlite3_column_int64(st, 0),
			.user_id = (uint64_t)sqlite3_column_int64(st, 1),
			.item_id = (uint32_t)sqlite3_column_int64(st, 2),
			.qty = (uint16_t)sqlite3_column_int(st, 3),
			.state = state,
			.deadline_ns = sqlite3_column_int64(st, 5),
			.request_id = (uint64_t)sqlite3_column_int64(st, 6),
			.created_ns = sqlite3_column_int64(st, 7),
			.shard = (uint8_t)shard,
			.created = true,
			.lsn = lsn,
		};
		if (!state_name(state))
			rc = -EBADMSG;
		(*count)++;
		if (rc == 0 && x->nrows == x->batch_cap) {
			rc = stage_copy(x, COPY_ALL_TO_STAGE);
			x->nrows = 0;
		}
	}
	sqlite3_finalize(st);
	if (rc == 0 && src != SQLITE_DONE)
		rc = -EBADMSG;
	if (rc == 0 && x->nrows)
		rc = stage_copy(x, COPY_ALL_TO_STAGE);
	x->nrows = 0;
	return rc;
}

static int snap_shard_lsn(sqlite3 *db, unsigned shard, uint64_t *lsn)
{
	sqlite3_stmt *st;
	int rc = -ENOENT;

	if (sqlite3_prepare_v2(db, "SELECT lsn FROM shards WHERE shard = ?", -1, &st, NULL) !=
	    SQLITE_OK)
		return -EBADMSG;
	sqlite3_bind_int(st, 1, (int)shard);
	if (sqlite3_step(st) == SQLITE_ROW) {
		*lsn = (uint64_t)sqlite3_column_int64(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	return rc;
}

static int resync(struct exporter *x, unsigned shard)
{
	uint64_t lsn = 0, count = 0;
	size_t len = 0;
	sqlite3 *db;
	int rc;

	fs_log("warn",
	       "export: shard %u: LSN %" PRIu64 " is no longer in the log (trimmed past "
	       "this consumer): resyncing the shard from %s/snapshot.db",
	       shard, x->applied[shard] + 1, x->dir);
	if ((rc = snap_open(x, &db)))
		return rc == -EIO ? -EBADMSG : rc;
	rc = snap_shard_lsn(db, shard, &lsn);
	if (rc == 0 && lsn < x->applied[shard]) {
		fs_log("error",
		       "export: shard %u: snapshot.db is at LSN %" PRIu64 ", behind what is "
		       "applied (%" PRIu64 "), and the log has a gap: stopping",
		       shard, lsn, x->applied[shard]);
		rc = -EBADMSG;
	}
	if (rc == 0 && (rc = pg_exec(x, "BEGIN", "BEGIN", PGRES_COMMAND_OK)) == 0) {
		batch_reset(x);
		if ((rc = offsets_check(x)) == 0 && (rc = snap_items(x, db, shard)) == 0 &&
		    (rc = snap_orders(x, db, shard, lsn, &count)) == 0) {
			x->pending[shard] = lsn;
			rc = sql_reserve(x, sizeof(UPSERT_ORDERS) + 64);
			if (rc == 0) {
				memcpy(x->sql, UPSERT_ORDERS, sizeof(UPSERT_ORDERS) - 1);
				len = sizeof(UPSERT_ORDERS) - 1;
				rc = sql_items_offsets(x, &len);
			}
			if (rc == 0 && (rc = sql_reserve(x, len + 16)) == 0) {
				memcpy(x->sql + len, "COMMIT;", 8);
				rc = pg_exec(x, "resync", x->sql, PGRES_COMMAND_OK);
			}
		}
		if (rc)
			PQclear(PQexec(x->db, "ROLLBACK"));
	}
	sqlite3_close(db);
	if (rc == -ENOENT)
		fs_log("error", "export: shard %u: not in %s/snapshot.db; stopping", shard, x->dir);
	if (rc)
		return rc == -ENOENT ? -EBADMSG : rc;
	x->applied[shard] = lsn;
	for (unsigned i = 0; i < x->nitems; i++)
		x->items[i].dirty = false;
	wal_tail_seek(&x->tails[shard], lsn + 1);
	x->resyncs++;
	register_consumer(x);
	fs_log("warn",
	       "export: shard %u: resynced %" PRIu64 " orders from snapshot.db; "
	       "continuing at LSN %" PRIu64,
	       shard, count, lsn + 1);
	return 0;
}

/* ---- sessions ---- */

static int load_offsets(struct exporter *x)
{
	PGresult *r = PQexec(x->db, "SELECT shard, lsn::text FROM flashsale_offsets");

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_pg("reading offsets", x->db, r);
		PQclear(r);
		return -EIO;
	}
	memset(x->applied, 0, sizeof(x->applied));
	for (int i = 0; i < PQntuples(r); i++) {
		long sh = strtol(PQgetvalue(r, i, 0), NULL, 10);
		if (sh >= 0 && sh < FS_WORKERS_MAX)
			x->applied[sh] = strtoull(PQgetvalue(r, i, 1), NULL, 10);
	}
	PQclear(r);
	return 0;
}

/* Items from the database; config items it lacks start at their total. */
static int load_items(struct exporter *x)
{
	PGresult *r = PQexec(x->db, "SELECT item_id, available, reserved, paid, total "
				    "FROM flashsale_items");

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		log_pg("reading items", x->db, r);
		PQclear(r);
		return -EIO;
	}
	for (unsigned i = 0; i < x->nitems; i++) {
		struct item *it = &x->items[i];
		it->available = it->total;
		it->reserved = it->paid = 0;
		it->dirty = true;
	}
	for (int i = 0; i < PQntuples(r); i++) {
		struct item *it = item_find(x, (uint32_t)strtoul(PQgetvalue(r, i, 0), NULL, 10));
		if (!it)
			continue;
		it->available = strtoll(PQgetvalue(r, i, 1), NULL, 10);
		it->reserved = strtoll(PQgetvalue(r, i, 2), NULL, 10);
		it->paid = strtoll(PQgetvalue(r, i, 3), NULL, 10);
		it->total = strtoll(PQgetvalue(r, i, 4), NULL, 10);
		it->dirty = false;
	}
	PQclear(r);
	return 0;
}

static const char STAGE_SQL[] =
	"CREATE TEMP TABLE IF NOT EXISTS flashsale_stage (order_id numeric(20), shard integer,"
	" user_id numeric(20), item_id bigint, qty integer, state text, state_rank smallint,"
	" created boolean, created_at timestamptz, deadline_at timestamptz, paid_ref numeric(20),"
	" request_id numeric(20), settled_at timestamptz, lsn numeric(20)) ON COMMIT DELETE ROWS";

/* "relation ... already exists, skipping" at every start: not news. */
static void quiet_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static void session_end(struct exporter *x)
{
	if (x->db)
		PQfinish(x->db);
	x->db = NULL;
}

/* Connect, take the lock, create what is missing, read the offsets back.
 * 0; -EAGAIN (retry later); other: fatal. */
static int session_start(struct exporter *x)
{
	PGresult *r;
	bool locked;
	int rc;

	x->db = PQconnectdb(x->conninfo);
	if (PQstatus(x->db) != CONNECTION_OK) {
		log_pg("connecting", x->db, NULL);
		return -EAGAIN;
	}
	PQsetNoticeProcessor(x->db, quiet_notice, NULL);
	r = PQexec(x->db, "SELECT pg_try_advisory_lock(" ADVISORY_LOCK_KEY ")");
	locked = PQresultStatus(r) == PGRES_TUPLES_OK && PQgetvalue(r, 0, 0)[0] == 't';
	PQclear(r);
	if (!locked) {
		fs_log("warn",
		       "export: another flashsale-export holds this database's lock: waiting");
		return -EAGAIN;
	}
	if ((rc = pg_exec(x, "creating the schema", EXPORT_SCHEMA_SQL, PGRES_COMMAND_OK)) ||
	    (rc = pg_exec(x, "creating the stage table", STAGE_SQL, PGRES_COMMAND_OK)) ||
	    (rc = pg_exec(x, "synchronous_commit", "SET synchronous_commit = on",
			  PGRES_COMMAND_OK)) ||
	    (rc = load_offsets(x)) || (rc = load_items(x)))
		return -EAGAIN;
	for (unsigned s = 0; s < x->nshards; s++)
		wal_tail_seek(&x->tails[s], x->applied[s] + 1);
	register_consumer(x);
	x->sessions++;
	fs_log("info",
	       "export: session %" PRIu64 ": connected; resuming at LSN %" PRIu64 " of shard 0%s",
	       x->sessions, x->applied[0] + 1,
	       x->nshards > 1 ? " (and the others "
				"at their offsets)"
			      : "");
	return 0;
}

/* ---- progress ---- */

static double lag_pct(const uint64_t *h, double p)
{
	uint64_t total = 0, acc = 0;

	for (unsigned i = 0; i < LAG_BUCKETS; i++)
		total += h[i];
	if (!total)
		return 0;
	for (unsigned i = 0; i < LAG_BUCKETS; i++) {
		acc += h[i];
		if ((double)acc >= p * (double)total)
			return (double)i + 1; /* upper bound of the bucket, ms */
	}
	return LAG_BUCKETS;
}

static void progress(struct exporter *x, bool force)
{
	int64_t now = fs_mono_ns();
	double dt = (double)(now - x->last_progress_ns) / 1e9;
	char lsns[256];
	size_t n = 0;

	if (!force && now - x->last_progress_ns < PROGRESS_NS)
		return;
	if (x->progress_changes == 0 && !force) {
		x->last_progress_ns = now;
		return;
	}
	for (unsigned s = 0; s < x->nshards && n < sizeof(lsns) - 24; s++)
		n += (size_t)snprintf(lsns + n, sizeof(lsns) - n, "%s%" PRIu64, s ? "," : "",
				      x->applied[s]);
	fs_log("info",
	       "export: %.0f changes/s, %.0f orders/s; applied LSNs %s; lag p50 %.0f ms "
	       "p99 %.0f ms (last %" PRId64 " ms)",
	       (double)x->progress_changes / dt, (double)x->progress_orders / dt, lsns,
	       lag_pct(x->lag_hist, 0.50), lag_pct(x->lag_hist, 0.99), x->last_lag_ms);
	memset(x->lag_hist, 0, sizeof(x->lag_hist));
	x->progress_changes = x->progress_orders = 0;
	x->last_progress_ns = now;
}

/* ---- the main loop ---- */

/* Gather up to batch_cap changes from every shard: 0 (x->nlag = how many;
 * x->gap_shard = a shard to resync after this batch, or -1), or fatal. */
static int gather(struct exporter *x)
{
	batch_reset(x);
	x->gap_shard = -1;
	for (unsigned s = 0; s < x->nshards; s++) {
		struct wal_tail *t = &x->tails[s];
		unsigned quota =
			x->batch_cap / x->nshards + (s == 0 ? x->batch_cap % x->nshards : 0);
		for (unsigned k = 0; k < quota; k++) {
			struct store_change ch = {0};
			uint64_t lsn = 0;
			int rc = tail_next(x, t, &lsn, &ch);
			if (rc == WAL_TAIL_GAP && x->gap_shard < 0)
				x->gap_shard = (int)s;
			if (rc == WAL_TAIL_GAP || rc == WAL_TAIL_NONE)
				break;
			if (rc < 0)
				return rc;
			if ((rc = batch_add(x, s, lsn, &ch)))
				return rc;
		}
	}
	return 0;
}

static int run(struct exporter *x)
{
	int64_t backoff_us = 100000;

	while (!g_stop) {
		int rc;

		if (!x->db) {
			rc = session_start(x);
			if (rc == -EAGAIN) {
				session_end(x);
				usleep((useconds_t)backoff_us);
				backoff_us = backoff_us * 2 > 5000000 ? 5000000 : backoff_us * 2;
				continue;
			}
			if (rc)
				return rc;
			backoff_us = 100000;
		}
		rc = gather(x);
		if (rc == 0 && x->nlag > 0)
			rc = batch_apply(x);
		if (rc == 0 && x->gap_shard >= 0)
			rc = resync(x, (unsigned)x->gap_shard);
		else if (rc == 0 && x->nlag == 0) {
			if (x->exit_when_idle)
				break;
			usleep(IDLE_SLEEP_US);
		}
		if (rc == -EIO) {
			fs_log("warn", "export: database trouble: reconnecting and resuming from "
				       "flashsale_offsets");
			session_end(x);
			continue;
		}
		if (rc)
			return rc;
		progress(x, false);
	}
	return 0;
}

/* ---- setup ---- */

static int setup(struct exporter *x)
{
	unsigned hcap = 1;

	x->dir = x->cfg.persist_dir;
	x->nshards = x->cfg.workers;
	x->nitems = x->cfg.n_items;
	x->cap_items = x->cfg.n_items + STORE_RUNTIME_ITEMS;
	x->items = calloc(x->cap_items, sizeof(*x->items));
	while (hcap < 2 * x->batch_cap)
		hcap <<= 1;
	x->hash_mask = hcap - 1;
	x->hash = calloc(hcap, sizeof(*x->hash));
	x->rows = calloc(x->batch_cap, sizeof(*x->rows));
	x->lag_ts = calloc(x->batch_cap, sizeof(*x->lag_ts));
	x->copybuf = malloc((size_t)x->batch_cap * ROW_TEXT_MAX);
	if (!x->items || !x->hash || !x->rows || !x->lag_ts || !x->copybuf)
		return -ENOMEM;
	for (unsigned i = 0; i < x->nitems; i++) {
		const struct cfg_item *ci = &x->cfg.items[i];
		const struct cfg_activity *a = &x->cfg.activities[ci->activity_index];
		x->items[i] = (struct item){
			.id = ci->id,
			.activity_id = ci->activity_id,
			.total = ci->total,
			.available = ci->total,
			.pay_timeout_ns = (int64_t)a->pay_timeout_s * FS_NS_PER_S,
		};
	}
	qsort(x->items, x->nitems, sizeof(*x->items), cmp_item);
	learn_catalog(x);
	for (unsigned s = 0; s < x->nshards; s++) {
		if (wal_tail_init(&x->tails[s], x->dir, "export", s, 1) < 0)
			return -ENOMEM;
	}
	return 0;
}

static void teardown(struct exporter *x)
{
	session_end(x);
	for (unsigned s = 0; s < x->nshards; s++) {
		if (x->tails[s].buf)
			wal_tail_free(&x->tails[s]);
	}
	free(x->items);
	free(x->hash);
	free(x->rows);
	free(x->lag_ts);
	free(x->copybuf);
	free(x->sql);
	cfg_free(&x->cfg);
}

static void usage(FILE *f)
{
	fputs("usage: flashsale-export --config FILE --db CONNINFO [--name NAME] [--batch N]\n"
	      "                        [--exit-when-idle]\n"
	      "\n"
	      "Tail the change feed of the appliance's data directory ([persist] dir of FILE)\n"
	      "and apply every reserve, pay, cancel and expiry to PostgreSQL, exactly once:\n"
	      "tables flashsale_orders, flashsale_items, flashsale_offsets (created when\n"
	      "missing). Resumes from flashsale_offsets after any crash; resyncs a shard\n"
	      "from snapshot.db when the log it needs was trimmed. Registers as a consumer\n"
	      "(DATA/consumers/NAME) so the appliance keeps the log it still needs.\n"
	      "\n"
	      "  --config FILE     the appliance's config (data directory, items, shards)\n"
	      "  --db CONNINFO     libpq connection string, e.g.\n"
	      "                    'host=/run/postgresql dbname=shop user=flashsale'\n"
	      "  --name NAME       consumer name (default " CONSUMER_DEFAULT "; [A-Za-z0-9_-])\n"
	      "  --batch N         changes per transaction (default 50000)\n"
	      "  --exit-when-idle  exit 0 once everything in the log is applied (backfills,\n"
	      "                    benchmarks, tests)\n"
	      "  --help            this text\n"
	      "\n"
	      "SIGTERM/SIGINT stop after the current transaction. Progress and lag are\n"
	      "logged every 10 s. Exit: 0 stopped, 1 fatal (gap or corruption in the log,\n"
	      "another writer), 2 usage or config error. docs/operations.md has the rest.\n",
	      f);
}

static int parse_args(struct exporter *x, int argc, char **argv, const char **config)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"db", required_argument, NULL, 'd'},
		{"name", required_argument, NULL, 'n'},
		{"batch", required_argument, NULL, 'b'},
		{"exit-when-idle", no_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'c': *config = optarg; break;
		case 'd': x->conninfo = optarg; break;
		case 'n': x->name = optarg; break;
		case 'i': x->exit_when_idle = true; break;
		case 'b':
			x->batch_cap = (unsigned)strtoul(optarg, &end, 10);
			if (*end || x->batch_cap < 1 || x->batch_cap > BATCH_MAX) {
				fprintf(stderr, "flashsale-export: --batch %s: 1..%d\n", optarg,
					BATCH_MAX);
				return EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc || !*config || !x->conninfo) {
		fprintf(stderr, "flashsale-export: %s\n",
			optind < argc ? "unexpected argument" : "--config and --db are required");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!retain_name_valid(x->name)) {
		fprintf(stderr, "flashsale-export: --name %s: use 1-%d of A-Z a-z 0-9 _ -\n",
			x->name, RETAIN_NAME_MAX - 1);
		return EXIT_USAGE;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct exporter x = {.name = CONSUMER_DEFAULT, .batch_cap = BATCH_DEFAULT};
	const char *config = NULL;
	struct sigaction sa = {.sa_handler = on_signal};
	char err[1024];
	int rc;

	if ((rc = parse_args(&x, argc, argv, &config)))
		return rc;
	if (cfg_load(config, fs_now_ns(), &x.cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "flashsale-export: %s\n", err);
		return EXIT_USAGE;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (setup(&x) < 0) {
		fprintf(stderr, "flashsale-export: out of memory\n");
		teardown(&x);
		return EXIT_FATAL;
	}
	x.start_ns = x.last_progress_ns = fs_mono_ns();
	fs_log("info", "export: %s (%u shards) -> PostgreSQL as consumer %s, batches of %u", x.dir,
	       x.nshards, x.name, x.batch_cap);
	rc = run(&x);
	progress(&x, true);
	fs_log(rc ? "error" : "info",
	       "export: %s: %" PRIu64 " changes (%" PRIu64 " orders) in %" PRIu64 " transactions, "
	       "%.1f s, %" PRIu64 " resyncs, %" PRIu64 " sessions; lag p50 %.0f ms p99 %.0f ms",
	       rc ? "stopped on an error" : "stopped", x.changes, x.orders, x.txns,
	       (double)(fs_mono_ns() - x.start_ns) / 1e9, x.resyncs, x.sessions,
	       lag_pct(x.lag_total_hist, 0.50), lag_pct(x.lag_total_hist, 0.99));
	teardown(&x);
	return rc ? EXIT_FATAL : 0;
}
