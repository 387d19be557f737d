/*
 * snap.c — SQLite snapshots of every shard: written from the control plane
 * out of struct store_image copies, read at start-up into fresh shards.
 *
 * FILES
 *
 *   DIR/snapshot.db        the newest complete snapshot (SQLite, WAL mode)
 *   DIR/snapshot.db.tmp    one being written; removed or replaced at the
 *                          start of the next write, ignored by readers
 *
 * WRITE (snap_write). Remove a leftover snapshot.db.tmp (and its -wal/-shm),
 * create it, write everything in ONE transaction with prepared statements
 * reused for every row, commit, checkpoint (TRUNCATE) so that the whole
 * database is in the main file, close, fsync the file, rename it over
 * snapshot.db, fsync the directory. A crash at any point leaves either the
 * previous snapshot.db or the new one, never a mix: the rename is the commit
 * point. Orders are inserted in order_id order across shards (seq-major, so
 * the B-tree only ever appends), which keeps the write sequential.
 * While the file is private (before the rename) it is written with
 * synchronous = OFF: durability comes from our own fsync before the rename.
 *
 * READ (snap_read). Opened with the URI parameter immutable=1: a snapshot
 * is never changed in place (only replaced by rename), and so a reader takes
 * no locks and creates no -wal/-shm files (offline tools must not change
 * the data directory). The format version and the shard count must match;
 * every activity and item in the snapshot must be in the config, with the
 * same activity (else an error naming it); items only in the config start
 * fresh (CONFIG.md). The snapshot's total is the truth (admin stock
 * changes; the file is never re-applied over sold units): it is set on the
 * fresh shard before the restore. Windows moved by admin calls
 * (admin_windows) are set on the catalog and each shard's recent admin
 * changes (admin_changes) go back into its ring. Then one of two ways in:
 *  - fast path: the images table holds each shard's store_image in raw form
 *    (the records as they sit in memory, 40 bytes per order and per stored
 *    answer, in 16 MiB chunks). They are copied into images and restored
 *    with store_shard_restore_image, which checks every record and rebuilds
 *    the hash tables. Measured ~3x faster than the rows (bench_snap): SQLite's
 *    per-row cost, not the restore, dominated a restart.
 *  - rows: when there is no images table, or it was written by a build with
 *    another record layout (STORE_IMAGE_LAYOUT or record sizes differ:
 *    -EPROTO), the orders and idempotency rows are streamed into the shards
 *    (store_restore_*; orders on this thread, stored answers on a second one
 *    with its own connection). FLASHSALE_SNAP_ROWS=1 forces this path.
 * A damaged image (lengths not matching its header or the shards table, a
 * record that does not fit) is an error, never a silent fallback. Either
 * way the items table is then compared with the restored counts, which also
 * ties the raw images to the rows that downstream systems read.
 *
 * SCHEMA (format version 1). Integers are SQLite INTEGERs (signed 64-bit);
 * the uint64 ids (user_id, request_id, ref, order_id) are stored bit for
 * bit, so a value >= 2^63 reads back negative: reinterpret it as unsigned.
 *
 *   meta(key TEXT PRIMARY KEY, value INTEGER)
 *       'format_version' = 1, 'created_ns' (unix ns), 'n_shards'
 *   shards(shard INTEGER PRIMARY KEY, lsn, first_seq, next_seq, orders,
 *          idem_entries)
 *       lsn: the shard's log is replayed from lsn + 1 on top of this
 *       snapshot; the change feed's sequence numbers are these LSNs.
 *       Orders of the shard are seqs first_seq .. next_seq - 1.
 *   activities(activity_id INTEGER PRIMARY KEY, name TEXT, start_ns,
 *              end_ns, pay_timeout_s)      the current window
 *   items(item_id INTEGER PRIMARY KEY, activity_id, shard, total,
 *         available, reserved, paid)   available + reserved + paid = total
 *   orders(order_id INTEGER PRIMARY KEY, shard, user_id, item_id, qty,
 *          state, deadline_ns, request_id, created_ns)
 *       order_id = seq << 8 | shard; state 1 RESERVED, 2 PAID,
 *       3 CANCELLED, 4 EXPIRED (names in table order_states); deadline_ns
 *       is the reservation deadline, created_ns the BUY's decision time.
 *       Every order the shard ever made is here, whatever its state.
 *   idempotency(pos INTEGER PRIMARY KEY, shard, user_id, request_id,
 *               order_id, item_id, qty, op, state, created_ns)
 *       stored answers, oldest first per shard (pos orders them); op 1 BUY,
 *       2 CONFIRM, 3 CANCEL, 0 = superseded (answers nothing, kept because
 *       it still holds a slot of the shard's table).
 *   order_states(state INTEGER PRIMARY KEY, name TEXT)
 *   admin_windows(activity_id INTEGER PRIMARY KEY, start_ns, end_ns)
 *       windows set by admin calls (they override the config's at start)
 *   admin_changes(pos INTEGER PRIMARY KEY, shard, type, item_id, order_id,
 *                 user_id, request_id, ref, time_ns)
 *       each shard's recent admin change records (store_admin_recent),
 *       oldest first: answers to retried admin requests. Both tables are
 *       new in format 1 files; a file without them has neither to restore.
 *   catalog_activities(idx INTEGER PRIMARY KEY, activity_id, name,
 *       start_ns, end_ns, require_token, token_key BLOB, has_payment_key,
 *       payment_key BLOB, pay_timeout_s, request_id)
 *   catalog_items(idx INTEGER PRIMARY KEY, item_id, activity_id, total,
 *       price_cents, per_user_limit, max_per_order, request_id)
 *       the activities and items created at run time (admin API), as they
 *       were defined (window and total at creation; the current ones are in
 *       admin_windows and items), with the request_id of the call that
 *       created them; idx is the catalog index, and they are defined again
 *       in idx order before anything else is read, so every catalog index
 *       (which the raw images refer to) comes back the same. New in format
 *       1 files; a file without them has none.
 *   images(id INTEGER PRIMARY KEY, shard, region, data BLOB)
 *       not for downstream use: each shard's image in raw form (region 0 a
 *       header with STORE_IMAGE_LAYOUT and record sizes, then orders, stored
 *       answers, per-item counts, published available, FIFO heads), chunks
 *       in id order. Doubles the file size (~100 bytes per order each for
 *       rows and images) to make a restart ~3x faster.
 */
#include "persist.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "fs_proto.h"

#define SNAP_FILE "snapshot.db"
#define SNAP_TMP  "snapshot.db.tmp"

static const char SCHEMA[] =
	"CREATE TABLE meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
	"CREATE TABLE shards(shard INTEGER PRIMARY KEY, lsn INTEGER NOT NULL,"
	" first_seq INTEGER NOT NULL, next_seq INTEGER NOT NULL, orders INTEGER NOT NULL,"
	" idem_entries INTEGER NOT NULL);"
	"CREATE TABLE activities(activity_id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
	" start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL, pay_timeout_s INTEGER NOT NULL);"
	"CREATE TABLE items(item_id INTEGER PRIMARY KEY, activity_id INTEGER NOT NULL,"
	" shard INTEGER NOT NULL, total INTEGER NOT NULL, available INTEGER NOT NULL,"
	" reserved INTEGER NOT NULL, paid INTEGER NOT NULL);"
	"CREATE TABLE orders(order_id INTEGER PRIMARY KEY, shard INTEGER NOT NULL,"
	" user_id INTEGER NOT NULL, item_id INTEGER NOT NULL, qty INTEGER NOT NULL,"
	" state INTEGER NOT NULL, deadline_ns INTEGER NOT NULL, request_id INTEGER NOT NULL,"
	" created_ns INTEGER NOT NULL);"
	"CREATE TABLE idempotency(pos INTEGER PRIMARY KEY, shard INTEGER NOT NULL,"
	" user_id INTEGER NOT NULL, request_id INTEGER NOT NULL, order_id INTEGER NOT NULL,"
	" item_id INTEGER NOT NULL, qty INTEGER NOT NULL, op INTEGER NOT NULL,"
	" state INTEGER NOT NULL, created_ns INTEGER NOT NULL);"
	"CREATE TABLE order_states(state INTEGER PRIMARY KEY, name TEXT NOT NULL);"
	"CREATE TABLE images(id INTEGER PRIMARY KEY, shard INTEGER NOT NULL,"
	" region INTEGER NOT NULL, data BLOB NOT NULL);"
	"CREATE TABLE admin_windows(activity_id INTEGER PRIMARY KEY, start_ns INTEGER NOT NULL,"
	" end_ns INTEGER NOT NULL);"
	"CREATE TABLE admin_changes(pos INTEGER PRIMARY KEY, shard INTEGER NOT NULL,"
	" type INTEGER NOT NULL, item_id INTEGER NOT NULL, order_id INTEGER NOT NULL,"
	" user_id INTEGER NOT NULL, request_id INTEGER NOT NULL, ref INTEGER NOT NULL,"
	" time_ns INTEGER NOT NULL);"
	"CREATE TABLE catalog_activities(idx INTEGER PRIMARY KEY, activity_id INTEGER NOT NULL,"
	" name TEXT NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,"
	" require_token INTEGER NOT NULL, token_key BLOB NOT NULL,"
	" has_payment_key INTEGER NOT NULL, payment_key BLOB NOT NULL,"
	" pay_timeout_s INTEGER NOT NULL, request_id INTEGER NOT NULL);"
	"CREATE TABLE catalog_items(idx INTEGER PRIMARY KEY, item_id INTEGER NOT NULL,"
	" activity_id INTEGER NOT NULL, total INTEGER NOT NULL, price_cents INTEGER NOT NULL,"
	" per_user_limit INTEGER NOT NULL, max_per_order INTEGER NOT NULL,"
	" request_id INTEGER NOT NULL);"
	"INSERT INTO order_states VALUES(1,'RESERVED'),(2,'PAID'),(3,'CANCELLED'),(4,'EXPIRED');";

static int snap_path(char out[FS_PATH_MAX], const char *dir, const char *name)
{
	int n = snprintf(out, FS_PATH_MAX, "%s/%s", dir, name);
	return n < 0 || n >= FS_PATH_MAX ? -ENAMETOOLONG : 0;
}

/* An SQLite failure as -errno, with "PATH: what: sqlite's message". */
static int sql_fail(sqlite3 *db, const char *path, const char *what, char *err, size_t errlen)
{
	int code = db ? sqlite3_errcode(db) : SQLITE_ERROR;

	fs_errf(err, errlen, "%s: %s: %s", path, what, db ? sqlite3_errmsg(db) : "out of memory");
	switch (code & 0xff) {
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_IOERR: return -EIO;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_CANTOPEN: return -ENOENT;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB: return -EBADMSG;
	default: return -EIO;
	}
}

static int fsync_path(const char *path, int flags)
{
	int fd = open(path, flags | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Writing                                                            */
/* ------------------------------------------------------------------ */

struct snap_writer {
	sqlite3 *db;
	sqlite3_stmt *order, *idem;
	const char *path;
	char *err;
	size_t errlen;
};

static int exec(struct snap_writer *w, const char *sql)
{
	if (sqlite3_exec(w->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		return sql_fail(w->db, w->path, sql, w->err, w->errlen);
	return 0;
}

/* Bind int64s to ?1.. and step once (an INSERT), then reset. */
static int insert(struct snap_writer *w, sqlite3_stmt *st, const int64_t *v, int n)
{
	for (int i = 0; i < n; i++)
		sqlite3_bind_int64(st, i + 1, v[i]);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return sql_fail(w->db, w->path, "insert", w->err, w->errlen);
	}
	sqlite3_reset(st);
	return 0;
}

static int prepare(struct snap_writer *w, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v3(w->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
		return sql_fail(w->db, w->path, sql, w->err, w->errlen);
	return 0;
}

static int meta_put(struct snap_writer *w, sqlite3_stmt *st, const char *key, int64_t value)
{
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, value);
	if (sqlite3_step(st) != SQLITE_DONE) {
		sqlite3_reset(st);
		return sql_fail(w->db, w->path, "meta", w->err, w->errlen);
	}
	sqlite3_reset(st);
	return 0;
}

static int write_meta(struct snap_writer *w, unsigned n_shards, struct store_image *const imgs[],
		      const uint64_t lsn[])
{
	sqlite3_stmt *st = NULL;
	int rc;

	if ((rc = prepare(w, "INSERT INTO meta VALUES(?1, ?2)", &st)))
		return rc;
	if ((rc = meta_put(w, st, "format_version", SNAP_FORMAT_VERSION)) == 0 &&
	    (rc = meta_put(w, st, "created_ns", fs_now_ns())) == 0)
		rc = meta_put(w, st, "n_shards", n_shards);
	sqlite3_finalize(st);
	if (rc || (rc = prepare(w, "INSERT INTO shards VALUES(?1,?2,?3,?4,?5,?6)", &st)))
		return rc;
	for (unsigned i = 0; rc == 0 && i < n_shards; i++) {
		struct store_image_info in;
		store_image_info(imgs[i], &in);
		rc = insert(w, st,
			    (const int64_t[]){i, (int64_t)lsn[i], (int64_t)in.first_seq,
					      (int64_t)in.next_seq, (int64_t)in.orders,
					      (int64_t)in.idem_entries},
			    6);
	}
	sqlite3_finalize(st);
	return rc;
}

/* The activities and items created at run time, as defined. */
static int write_runtime(struct snap_writer *w, const struct store_catalog *cat)
{
	sqlite3_stmt *st = NULL;
	struct cfg_activity a;
	struct cfg_item it;
	uint64_t rid;
	int rc;

	rc = prepare(w, "INSERT INTO catalog_activities VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11)",
		     &st);
	for (uint32_t k = 0; rc == 0 && store_catalog_activity_at(cat, k, &a, &rid) == 0; k++) {
		if (!store_catalog_act_is_runtime(cat, k))
			continue;
		sqlite3_bind_int64(st, 1, k);
		sqlite3_bind_int64(st, 2, a.id);
		sqlite3_bind_text(st, 3, a.name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 4, a.start_ns);
		sqlite3_bind_int64(st, 5, a.end_ns);
		sqlite3_bind_int64(st, 6, a.require_token);
		sqlite3_bind_blob(st, 7, a.token_key, 16, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 8, a.has_payment_key);
		sqlite3_bind_blob(st, 9, a.payment_key, 16, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 10, a.pay_timeout_s);
		sqlite3_bind_int64(st, 11, (int64_t)rid);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sql_fail(w->db, w->path, "catalog_activities", w->err, w->errlen);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (rc ||
	    (rc = prepare(w, "INSERT INTO catalog_items VALUES(?1,?2,?3,?4,?5,?6,?7,?8)", &st)))
		return rc;
	for (uint32_t k = 0; rc == 0 && store_catalog_item_at(cat, k, &it, &rid) == 0; k++)
		if (store_catalog_is_runtime(cat, k))
			rc = insert(w, st,
				    (const int64_t[]){k, it.id, it.activity_id, it.total,
						      (int64_t)it.price_cents, it.per_user_limit,
						      it.max_per_order, (int64_t)rid},
				    8);
	sqlite3_finalize(st);
	return rc;
}

static int write_catalog(struct snap_writer *w, unsigned n_shards, struct store_image *const imgs[],
			 uint64_t *items)
{
	const struct store_catalog *cat = store_image_catalog(imgs[0]);
	sqlite3_stmt *st = NULL;
	struct cfg_activity act;
	int rc;

	rc = prepare(w, "INSERT INTO activities VALUES(?1,?2,?3,?4,?5)", &st);
	for (uint32_t a = 0; rc == 0 && store_catalog_activity_at(cat, a, &act, NULL) == 0; a++) {
		int64_t start = act.start_ns, end = act.end_ns;
		(void)store_catalog_window(cat, act.id, &start, &end, NULL);
		sqlite3_bind_int64(st, 1, act.id);
		sqlite3_bind_text(st, 2, act.name, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 3, start);
		sqlite3_bind_int64(st, 4, end);
		sqlite3_bind_int64(st, 5, act.pay_timeout_s);
		if (sqlite3_step(st) != SQLITE_DONE)
			rc = sql_fail(w->db, w->path, "activities", w->err, w->errlen);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	if (rc || (rc = write_runtime(w, cat)) ||
	    (rc = prepare(w, "INSERT INTO items VALUES(?1,?2,?3,?4,?5,?6,?7)", &st)))
		return rc;
	for (unsigned i = 0; rc == 0 && i < n_shards; i++) {
		struct store_image_info in;
		store_image_info(imgs[i], &in);
		for (uint32_t l = 0; rc == 0 && l < in.items; l++) {
			struct store_item_counts c;
			struct cfg_item ci;
			FS_ASSERT(store_image_item(imgs[i], l, &c) == 0);
			FS_ASSERT(store_catalog_item_def(cat, c.item_id, &ci) == 0);
			rc = insert(w, st,
				    (const int64_t[]){c.item_id, ci.activity_id, i,
						      (int64_t)c.total, (int64_t)c.available,
						      (int64_t)c.reserved, (int64_t)c.paid},
				    7);
			(*items)++;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

/* What admin calls changed beyond the items' totals: windows moved by an
 * admin open/close (applied over the config's at restart), and each
 * shard's recent admin changes (answers to retried admin requests). */
static int write_admin(struct snap_writer *w, unsigned n_shards, struct store_image *const imgs[])
{
	sqlite3_stmt *st = NULL;
	struct cfg_activity act;
	int64_t pos = 0;
	int rc;

	if (n_shards == 0)
		return 0;
	if ((rc = prepare(w, "INSERT INTO admin_windows VALUES(?1,?2,?3)", &st)))
		return rc;
	for (uint32_t a = 0;
	     rc == 0 && store_catalog_activity_at(store_image_catalog(imgs[0]), a, &act, NULL) == 0;
	     a++) {
		int64_t start, end;
		bool moved = false;
		if (store_catalog_window(store_image_catalog(imgs[0]), act.id, &start, &end,
					 &moved) == 0 &&
		    moved)
			rc = insert(w, st, (const int64_t[]){act.id, start, end}, 3);
	}
	sqlite3_finalize(st);
	if (rc || (rc = prepare(w, "INSERT INTO admin_changes VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
				&st)))
		return rc;
	for (unsigned i = 0; rc == 0 && i < n_shards; i++) {
		struct store_change ch;
		for (uint32_t k = 0; rc == 0 && store_image_admin(imgs[i], k, &ch) == 0; k++)
			rc = insert(w, st,
				    (const int64_t[]){pos++, i, ch.type, ch.item_id,
						      (int64_t)ch.order_id, (int64_t)ch.user_id,
						      (int64_t)ch.request_id, (int64_t)ch.ref,
						      ch.time_ns},
				    9);
	}
	sqlite3_finalize(st);
	return rc;
}

/* Every order of every shard, in order_id order (seq-major). */
static int write_orders(struct snap_writer *w, unsigned n_shards, struct store_image *const imgs[],
			uint64_t *orders)
{
	struct store_image_info in[FS_WORKERS_MAX];
	uint64_t lo = UINT64_MAX, hi = 0;
	int rc = 0;

	for (unsigned i = 0; i < n_shards; i++) {
		store_image_info(imgs[i], &in[i]);
		lo = in[i].first_seq < lo ? in[i].first_seq : lo;
		hi = in[i].next_seq > hi ? in[i].next_seq : hi;
	}
	for (uint64_t seq = lo; rc == 0 && seq < hi; seq++) {
		for (unsigned i = 0; rc == 0 && i < n_shards; i++) {
			struct store_order_view o;
			if (seq < in[i].first_seq || seq >= in[i].next_seq)
				continue;
			FS_ASSERT(store_image_order(imgs[i], seq - in[i].first_seq, &o) == 0);
			rc = insert(w, w->order,
				    (const int64_t[]){(int64_t)o.order_id, i, (int64_t)o.user_id,
						      o.item_id, o.qty, o.state, o.deadline_ns,
						      (int64_t)o.request_id, o.created_ns},
				    9);
			(*orders)++;
		}
	}
	return rc;
}

static int write_idem(struct snap_writer *w, unsigned n_shards, struct store_image *const imgs[],
		      uint64_t *entries)
{
	int64_t pos = 0;
	int rc = 0;

	for (unsigned i = 0; rc == 0 && i < n_shards; i++) {
		struct store_image_info in;
		store_image_info(imgs[i], &in);
		for (uint64_t k = 0; rc == 0 && k < in.idem_entries; k++) {
			struct store_idem_view e;
			FS_ASSERT(store_image_idem(imgs[i], k, &e) == 0);
			rc = insert(w, w->idem,
				    (const int64_t[]){pos++, i, (int64_t)e.user_id,
						      (int64_t)e.request_id, (int64_t)e.order_id,
						      e.item_id, e.qty, e.op, e.state, e.created_ns},
				    10);
			(*entries)++;
		}
	}
	return rc;
}

/* The raw images (fast restarts): each region in chunks, in order. */
static int write_images(struct snap_writer *w, unsigned n_shards, struct store_image *const imgs[])
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = prepare(w, "INSERT INTO images(shard, region, data) VALUES(?1,?2,?3)", &st)))
		return rc;
	for (unsigned i = 0; rc == 0 && i < n_shards; i++) {
		for (unsigned r = 0; rc == 0 && r < STORE_IMAGE_REGIONS; r++) {
			const void *data;
			size_t len, off = 0;
			FS_ASSERT(store_image_region(imgs[i], r, &data, &len) == 0);
			do { /* an empty region still gets its (empty) row */
				size_t n = len - off < SNAP_IMAGE_CHUNK_BYTES ? len - off
									 : SNAP_IMAGE_CHUNK_BYTES;
				sqlite3_bind_int64(st, 1, i);
				sqlite3_bind_int64(st, 2, r);
				if (n)
					sqlite3_bind_blob(st, 3, (const uint8_t *)data + off,
							  (int)n, SQLITE_STATIC);
				else
					sqlite3_bind_zeroblob(st, 3, 0);
				if (sqlite3_step(st) != SQLITE_DONE)
					rc = sql_fail(w->db, w->path, "images", w->err, w->errlen);
				sqlite3_reset(st);
				off += n;
			} while (rc == 0 && off < len);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

/* Remove DIR/snapshot.db.tmp and SQLite's files next to it. */
static int tmp_remove(const char *tmp)
{
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	char p[FS_PATH_MAX + 16];

	for (unsigned i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", tmp, sfx[i]);
		if (unlink(p) < 0 && errno != ENOENT)
			return -errno;
	}
	return 0;
}

/* Build the whole database in one transaction. */
static int write_all(struct snap_writer *w, const struct cfg *cfg, unsigned n_shards,
		     struct store_image *const imgs[], const uint64_t lsn[], struct snap_stats *st)
{
	int rc;

	(void)cfg; /* the catalog (imgs[0]'s) holds the activities and items */
	/* The file is private until renamed: no need for SQLite to fsync (we do,
	 * once, before the rename); WAL mode so that readers of the published
	 * file use it. */
	if ((rc = exec(w, "PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;"
			  "PRAGMA cache_size=-262144; PRAGMA wal_autocheckpoint=0;")) ||
	    (rc = exec(w, "BEGIN")) || (rc = exec(w, SCHEMA)))
		return rc;
	if ((rc = prepare(w, "INSERT INTO orders VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)", &w->order)) ||
	    (rc = prepare(w, "INSERT INTO idempotency VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
			  &w->idem)))
		return rc;
	if ((rc = write_meta(w, n_shards, imgs, lsn)) ||
	    (n_shards && (rc = write_catalog(w, n_shards, imgs, &st->items))) ||
	    (rc = write_admin(w, n_shards, imgs)) ||
	    (rc = write_orders(w, n_shards, imgs, &st->orders)) ||
	    (rc = write_idem(w, n_shards, imgs, &st->idem_entries)) ||
	    (rc = write_images(w, n_shards, imgs)))
		return rc;
	if ((rc = exec(w, "COMMIT")))
		return rc;
	if (sqlite3_wal_checkpoint_v2(w->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL) !=
	    SQLITE_OK)
		return sql_fail(w->db, w->path, "checkpoint", w->err, w->errlen);
	return 0;
}

static int writer_close(struct snap_writer *w)
{
	sqlite3_finalize(w->order);
	sqlite3_finalize(w->idem);
	w->order = w->idem = NULL;
	if (w->db && sqlite3_close(w->db) != SQLITE_OK)
		return sql_fail(w->db, w->path, "close", w->err, w->errlen);
	w->db = NULL;
	return 0;
}

int snap_write(const char *dir, const struct cfg *cfg, unsigned n_shards,
	       struct store_image *const imgs[], const uint64_t lsn[], struct snap_stats *stats,
	       char *err, size_t errlen)
{
	char tmp[FS_PATH_MAX], final[FS_PATH_MAX];
	struct snap_writer w = {.path = tmp, .err = err, .errlen = errlen};
	struct snap_stats st = {0};
	int64_t t0 = fs_mono_ns();
	struct stat sb;
	int rc;

	fs_errf(err, errlen, "%s", "");
	if (!dir || n_shards == 0 || n_shards > FS_WORKERS_MAX)
		return -EINVAL;
	if ((rc = snap_path(tmp, dir, SNAP_TMP)) || (rc = snap_path(final, dir, SNAP_FILE))) {
		fs_errf(err, errlen, "%s: path too long", dir);
		return rc;
	}
	if ((rc = tmp_remove(tmp))) {
		fs_errf(err, errlen, "%s: cannot remove: %s", tmp, fs_strerror(rc));
		return rc;
	}
	if (sqlite3_open_v2(tmp, &w.db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		rc = sql_fail(w.db, tmp, "open", err, errlen);
	else
		rc = write_all(&w, cfg, n_shards, imgs, lsn, &st);
	if (rc) {
		sqlite3_finalize(w.order);
		sqlite3_finalize(w.idem);
		sqlite3_close(w.db);
		(void)tmp_remove(tmp);
		return rc;
	}
	if ((rc = writer_close(&w)))
		return rc;
	st.write_ns = fs_mono_ns() - t0;
	if ((rc = fsync_path(tmp, O_RDONLY)) || (rename(tmp, final) < 0 && (rc = -errno)) ||
	    (rc = fsync_path(dir, O_RDONLY | O_DIRECTORY))) {
		fs_errf(err, errlen, "%s: publishing the snapshot: %s", final, fs_strerror(rc));
		return rc;
	}
	st.total_ns = fs_mono_ns() - t0;
	st.bytes = stat(final, &sb) == 0 ? (uint64_t)sb.st_size : 0;
	if (stats)
		*stats = st;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Reading                                                            */
/* ------------------------------------------------------------------ */

struct snap_reader {
	sqlite3 *db;
	const struct cfg *cfg;
	struct store_catalog *cat;
	struct store_shard **shards;
	unsigned n_shards;
	char path[FS_PATH_MAX];
	char *err;
	size_t errlen;
};

/* "file:PATH?immutable=1" with URI-special characters of PATH escaped. */
static int uri_of(char out[FS_PATH_MAX * 3 + 32], const char *path)
{
	size_t n = 0;

	n += (size_t)sprintf(out, "file:");
	for (const char *p = path; *p; p++) {
		if (*p == '%' || *p == '?' || *p == '#')
			n += (size_t)sprintf(out + n, "%%%02X", (unsigned char)*p);
		else
			out[n++] = *p;
	}
	sprintf(out + n, "?immutable=1");
	return 0;
}

static int rd_prepare(struct snap_reader *r, const char *sql, sqlite3_stmt **st)
{
	if (sqlite3_prepare_v2(r->db, sql, -1, st, NULL) != SQLITE_OK)
		return sql_fail(r->db, r->path, sql, r->err, r->errlen);
	return 0;
}

/* Step a SELECT: 1 = a row, 0 = done, <0 error. */
static int rd_step(struct snap_reader *r, sqlite3_stmt *st)
{
	int s = sqlite3_step(st);

	if (s == SQLITE_ROW)
		return 1;
	if (s == SQLITE_DONE)
		return 0;
	return sql_fail(r->db, r->path, "read", r->err, r->errlen);
}

static int rd_meta(struct snap_reader *r, struct snap_meta *m)
{
	sqlite3_stmt *st;
	int rc, n = 0;

	memset(m, 0, sizeof(*m));
	if ((rc = rd_prepare(r, "SELECT key, value FROM meta", &st)))
		return rc;
	while ((rc = rd_step(r, st)) == 1) {
		const char *k = (const char *)sqlite3_column_text(st, 0);
		int64_t v = sqlite3_column_int64(st, 1);
		if (k && !strcmp(k, "format_version"))
			m->format_version = (unsigned)v, n++;
		else if (k && !strcmp(k, "created_ns"))
			m->created_ns = v;
		else if (k && !strcmp(k, "n_shards"))
			m->n_shards = (unsigned)v, n++;
	}
	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	if (n != 2 || m->format_version != SNAP_FORMAT_VERSION) {
		fs_errf(r->err, r->errlen, "%s: snapshot format version %u, this build reads %u",
		     r->path, m->format_version, SNAP_FORMAT_VERSION);
		return -EBADMSG;
	}
	if (m->n_shards == 0 || m->n_shards > FS_WORKERS_MAX) {
		fs_errf(r->err, r->errlen, "%s: bad shard count %u", r->path, m->n_shards);
		return -EBADMSG;
	}
	if ((rc = rd_prepare(r, "SELECT shard, lsn, first_seq, next_seq FROM shards ORDER BY shard",
			     &st)))
		return rc;
	for (n = 0; (rc = rd_step(r, st)) == 1; n++) {
		if (n >= (int)m->n_shards || sqlite3_column_int64(st, 0) != n)
			break;
		m->shard[n].lsn = (uint64_t)sqlite3_column_int64(st, 1);
		m->shard[n].first_seq = (uint64_t)sqlite3_column_int64(st, 2);
		m->shard[n].next_seq = (uint64_t)sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	if (rc < 0)
		return rc;
	if (rc == 1 || n != (int)m->n_shards) {
		fs_errf(r->err, r->errlen, "%s: table shards does not list shards 0..%u", r->path,
		     m->n_shards - 1);
		return -EBADMSG;
	}
	return 0;
}

static int rd_open(struct snap_reader *r, const char *dir, bool *found)
{
	char uri[FS_PATH_MAX * 3 + 32];
	struct stat sb;
	int rc;

	*found = false;
	if ((rc = snap_path(r->path, dir, SNAP_FILE))) {
		fs_errf(r->err, r->errlen, "%s: path too long", dir);
		return rc;
	}
	if (stat(r->path, &sb) < 0) {
		if (errno == ENOENT)
			return 0;
		rc = -errno;
		fs_errf(r->err, r->errlen, "%s: %s", r->path, fs_strerror(rc));
		return rc;
	}
	uri_of(uri, r->path);
	if (sqlite3_open_v2(uri, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		return sql_fail(r->db, r->path, "open", r->err, r->errlen);
	*found = true;
	return 0;
}

int snap_read_meta(const char *dir, struct snap_meta *meta, bool *found, char *err, size_t errlen)
{
	struct snap_reader r = {.err = err, .errlen = errlen};
	int rc;

	fs_errf(err, errlen, "%s", "");
	memset(meta, 0, sizeof(*meta));
	if (!dir)
		return -EINVAL;
	rc = rd_open(&r, dir, found);
	if (rc == 0 && *found)
		rc = rd_meta(&r, meta);
	sqlite3_close(r.db);
	return rc;
}

static int rd_has_table(struct snap_reader *r, const char *name);

/* The activities and items created at run time: defined again, in catalog
 * order (activities, then items one by one: each array keeps its order). */
static int rd_runtime(struct snap_reader *r)
{
	static struct store_catalog_def def; /* 4 KiB: not on the stack */
	char why[256];
	sqlite3_stmt *st;
	int rc = rd_has_table(r, "catalog_activities");

	if (rc <= 0)
		return rc;
	if ((rc = rd_prepare(r,
			     "SELECT activity_id, name, start_ns, end_ns, require_token,"
			     " token_key, has_payment_key, payment_key, pay_timeout_s, request_id"
			     " FROM catalog_activities ORDER BY idx",
			     &st)))
		return rc;
	while ((rc = rd_step(r, st)) == 1) {
		const unsigned char *name = sqlite3_column_text(st, 1);
		memset(&def, 0, sizeof(def));
		def.has_activity = true;
		def.act.id = (uint32_t)sqlite3_column_int64(st, 0);
		snprintf(def.act.name, sizeof(def.act.name), "%s", name ? (const char *)name : "");
		def.act.start_ns = sqlite3_column_int64(st, 2);
		def.act.end_ns = sqlite3_column_int64(st, 3);
		def.act.require_token = sqlite3_column_int64(st, 4) != 0;
		def.act.has_payment_key = sqlite3_column_int64(st, 6) != 0;
		def.act.pay_timeout_s = (uint32_t)sqlite3_column_int64(st, 8);
		def.request_id = (uint64_t)sqlite3_column_int64(st, 9);
		if (sqlite3_column_bytes(st, 5) == 16 && sqlite3_column_bytes(st, 7) == 16) {
			memcpy(def.act.token_key, sqlite3_column_blob(st, 5), 16);
			memcpy(def.act.payment_key, sqlite3_column_blob(st, 7), 16);
			rc = store_define_all(r->cat, r->shards, &def, why, sizeof(why));
		} else {
			snprintf(why, sizeof(why), "bad key length");
			rc = -EBADMSG;
		}
		if (rc < 0) {
			fs_errf(r->err, r->errlen, "%s: catalog_activities: activity %u: %s%s",
				r->path, def.act.id, why,
				rc == -EEXIST ? " (created by the admin API and now also in the "
						"config: remove it from the config)"
					      : "");
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc < 0 || (rc = rd_prepare(r,
				       "SELECT item_id, activity_id, total, price_cents,"
				       " per_user_limit, max_per_order, request_id"
				       " FROM catalog_items ORDER BY idx",
				       &st)))
		return rc;
	while ((rc = rd_step(r, st)) == 1) {
		memset(&def, 0, sizeof(def));
		def.act.id = (uint32_t)sqlite3_column_int64(st, 1);
		def.request_id = (uint64_t)sqlite3_column_int64(st, 6);
		def.n_items = 1;
		def.items[0] = (struct store_item_def){
			.id = (uint32_t)sqlite3_column_int64(st, 0),
			.total = (uint32_t)sqlite3_column_int64(st, 2),
			.price_cents = (uint64_t)sqlite3_column_int64(st, 3),
			.per_user_limit = (uint32_t)sqlite3_column_int64(st, 4),
			.max_per_order = (uint16_t)sqlite3_column_int64(st, 5)};
		rc = store_define_all(r->cat, r->shards, &def, why, sizeof(why));
		if (rc < 0) {
			fs_errf(r->err, r->errlen, "%s: catalog_items: item %u: %s%s", r->path,
				def.items[0].id, why,
				rc == -EEXIST ? " (created by the admin API and now also in the "
						"config: remove it from the config)"
					      : "");
			break;
		}
	}
	sqlite3_finalize(st);
	return rc < 0 ? rc : 0;
}

/* Every activity and item of the snapshot must be in the catalog (the
 * config's, or created at run time: rd_runtime), alike. */
static int rd_catalog(struct snap_reader *r)
{
	sqlite3_stmt *st;
	struct cfg_activity ca;
	int rc;

	if ((rc = rd_prepare(r, "SELECT activity_id FROM activities", &st)))
		return rc;
	while ((rc = rd_step(r, st)) == 1) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (id <= 0 || id > UINT32_MAX ||
		    store_catalog_activity(r->cat, (uint32_t)id, &ca)) {
			fs_errf(r->err, r->errlen,
			     "%s: activity %" PRId64 " is in the snapshot but not in %s", r->path,
			     id, r->cfg->path);
			rc = -EINVAL;
		}
		if (rc < 0)
			break;
	}
	sqlite3_finalize(st);
	if (rc < 0 || (rc = rd_prepare(r, "SELECT item_id, activity_id, shard, total FROM items",
				       &st)))
		return rc;
	while ((rc = rd_step(r, st)) == 1) {
		int64_t id = sqlite3_column_int64(st, 0), act = sqlite3_column_int64(st, 1);
		int64_t shard = sqlite3_column_int64(st, 2), total = sqlite3_column_int64(st, 3);
		struct cfg_item it;
		const struct cfg_item *ci =
			id > 0 && id <= UINT32_MAX &&
					store_catalog_item_def(r->cat, (uint32_t)id, &it) == 0
				? &it
				: NULL;
		rc = -EINVAL;
		if (!ci)
			fs_errf(r->err, r->errlen, "%s: item %" PRId64 " is in the snapshot but not in %s",
			     r->path, id, r->cfg->path);
		else if (ci->activity_id != act)
			fs_errf(r->err, r->errlen,
			     "%s: item %" PRId64 ": activity %" PRId64 " in the snapshot, %u in %s",
			     r->path, id, act, ci->activity_id, r->cfg->path);
		else if (shard != fs_shard_of_item(ci->id, r->n_shards))
			fs_errf(r->err, r->errlen, "%s: item %" PRId64 ": on shard %" PRId64
			     ", expected %u", r->path, id, shard, fs_shard_of_item(ci->id, r->n_shards));
		/* The snapshot's total is the truth (admin stock changes), not the
		 * file's: the file is never re-applied over sold units. */
		else if (total < 0 || store_shard_set_total(r->shards[shard], ci->id,
							    (uint64_t)total) != 0)
			fs_errf(r->err, r->errlen, "%s: item %" PRId64 ": total %" PRId64
			     " does not fit", r->path, id, total);
		else
			rc = 1;
		if (rc < 0)
			break;
	}
	sqlite3_finalize(st);
	return rc;
}

static int rd_orders(struct snap_reader *r)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = rd_prepare(r, "SELECT order_id, shard, user_id, item_id, qty, state, deadline_ns,"
				" request_id, created_ns FROM orders ORDER BY order_id", &st)))
		return rc;
	while ((rc = rd_step(r, st)) == 1) {
		struct store_order_view o = {
			.order_id = (uint64_t)sqlite3_column_int64(st, 0),
			.user_id = (uint64_t)sqlite3_column_int64(st, 2),
			.item_id = (uint32_t)sqlite3_column_int64(st, 3),
			.qty = (uint16_t)sqlite3_column_int64(st, 4),
			.state = (uint8_t)sqlite3_column_int64(st, 5),
			.deadline_ns = sqlite3_column_int64(st, 6),
			.request_id = (uint64_t)sqlite3_column_int64(st, 7),
			.created_ns = sqlite3_column_int64(st, 8),
		};
		int64_t shard = sqlite3_column_int64(st, 1);
		if (shard < 0 || shard >= r->n_shards || fs_shard_of_order(o.order_id) != shard)
			rc = -EINVAL;
		else
			rc = store_restore_order(r->shards[shard], &o);
		if (rc < 0) {
			fs_errf(r->err, r->errlen, "%s: order %" PRIu64 " (shard %" PRId64 "): %s",
			     r->path, o.order_id, shard,
			     rc == -EINVAL ? "does not fit the configured items or the sequence"
					   : fs_strerror(rc));
			break;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

static int rd_idem(struct snap_reader *r)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = rd_prepare(r, "SELECT shard, user_id, request_id, order_id, item_id, qty, op,"
				" state, created_ns FROM idempotency ORDER BY pos", &st)))
		return rc;
	while ((rc = rd_step(r, st)) == 1) {
		struct store_idem_view e = {
			.user_id = (uint64_t)sqlite3_column_int64(st, 1),
			.request_id = (uint64_t)sqlite3_column_int64(st, 2),
			.order_id = (uint64_t)sqlite3_column_int64(st, 3),
			.item_id = (uint32_t)sqlite3_column_int64(st, 4),
			.qty = (uint16_t)sqlite3_column_int64(st, 5),
			.op = (uint8_t)sqlite3_column_int64(st, 6),
			.state = (uint8_t)sqlite3_column_int64(st, 7),
			.created_ns = sqlite3_column_int64(st, 8),
		};
		int64_t shard = sqlite3_column_int64(st, 0);
		rc = shard < 0 || shard >= r->n_shards ? -EINVAL
						       : store_restore_idem(r->shards[shard], &e);
		if (rc < 0) {
			fs_errf(r->err, r->errlen, "%s: stored answer user %" PRIu64 " request %" PRIu64
			     " (shard %" PRId64 "): %s", r->path, e.user_id, e.request_id, shard,
			     rc == -EINVAL ? "invalid or duplicate" : fs_strerror(rc));
			break;
		}
	}
	sqlite3_finalize(st);
	return rc;
}

static int rd_has_table(struct snap_reader *r, const char *name)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = rd_prepare(r, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name=?1",
			     &st)))
		return rc;
	sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
	rc = rd_step(r, st);
	if (rc == 1)
		rc = sqlite3_column_int64(st, 0) > 0;
	sqlite3_finalize(st);
	return rc;
}

/* Windows moved by admin calls, and the shards' recent admin changes
 * (absent from snapshots older than the admin API: nothing to restore). */
static int rd_admin(struct snap_reader *r)
{
	sqlite3_stmt *st;
	int rc = rd_has_table(r, "admin_windows");

	if (rc <= 0)
		return rc;
	if ((rc = rd_prepare(r, "SELECT activity_id, start_ns, end_ns FROM admin_windows", &st)))
		return rc;
	while ((rc = rd_step(r, st)) == 1) {
		int64_t id = sqlite3_column_int64(st, 0);
		if (id <= 0 || id > UINT32_MAX ||
		    store_catalog_set_window(r->cat, (uint32_t)id, sqlite3_column_int64(st, 1),
					     sqlite3_column_int64(st, 2)) != 0) {
			fs_errf(r->err, r->errlen, "%s: admin_windows: activity %" PRId64
			     " is not in %s or its window is empty", r->path, id, r->cfg->path);
			rc = -EINVAL;
			break;
		}
	}
	sqlite3_finalize(st);
	if (rc < 0 || (rc = rd_prepare(r, "SELECT shard, type, item_id, order_id, user_id,"
					  " request_id, ref, time_ns FROM admin_changes ORDER BY pos",
				       &st)))
		return rc;
	while ((rc = rd_step(r, st)) == 1) {
		int64_t shard = sqlite3_column_int64(st, 0), type = sqlite3_column_int64(st, 1);
		struct store_change ch = {
			.type = (uint8_t)type,
			.item_id = (uint32_t)sqlite3_column_int64(st, 2),
			.order_id = (uint64_t)sqlite3_column_int64(st, 3),
			.user_id = (uint64_t)sqlite3_column_int64(st, 4),
			.request_id = (uint64_t)sqlite3_column_int64(st, 5),
			.ref = (uint64_t)sqlite3_column_int64(st, 6),
			.time_ns = sqlite3_column_int64(st, 7),
		};
		if (shard < 0 || shard >= r->n_shards || type < 0 || type > 255 ||
		    store_admin_restore(r->shards[shard], &ch) != 0) {
			fs_errf(r->err, r->errlen, "%s: admin_changes: bad row (shard %" PRId64
			     ", type %" PRId64 ")", r->path, shard, type);
			rc = -EBADMSG;
			break;
		}
	}
	sqlite3_finalize(st);
	return rc < 0 ? rc : 0;
}

/* The items table must agree with what the orders rebuilt. */
static int rd_items_check(struct snap_reader *r)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = rd_prepare(r, "SELECT item_id, shard, available, reserved, paid FROM items", &st)))
		return rc;
	while ((rc = rd_step(r, st)) == 1) {
		uint32_t id = (uint32_t)sqlite3_column_int64(st, 0);
		struct store_item_counts c;
		int64_t a = sqlite3_column_int64(st, 2), re = sqlite3_column_int64(st, 3),
			p = sqlite3_column_int64(st, 4);
		rc = store_item_counts(r->shards[sqlite3_column_int64(st, 1)], id, &c);
		if (rc == 0 && ((int64_t)c.available != a || (int64_t)c.reserved != re ||
				(int64_t)c.paid != p)) {
			fs_errf(r->err, r->errlen,
			     "%s: item %u: available/reserved/paid %" PRId64 "/%" PRId64 "/%" PRId64
			     " in the items table, the orders give %" PRIu64 "/%" PRIu64 "/%" PRIu64,
			     r->path, id, a, re, p, c.available, c.reserved, c.paid);
			rc = -EBADMSG;
		}
		if (rc < 0)
			break;
	}
	sqlite3_finalize(st);
	return rc;
}

struct idem_job {
	struct snap_reader r; /* its own connection and error buffer */
	char err[512];
	int rc;
};

static void *idem_thread(void *arg)
{
	struct idem_job *j = arg;

	j->rc = rd_idem(&j->r);
	return NULL;
}

/* The orders (this thread) and the stored answers (a second thread, on its
 * own connection) are read at the same time: they restore disjoint parts of
 * each shard (store.h allows it), and SQLite's per-row cost is most of a
 * restart's time. Without a thread, one after the other. */
static int rd_rows(struct snap_reader *r)
{
	struct idem_job j = {.r = *r};
	char uri[FS_PATH_MAX * 3 + 32];
	pthread_t t;
	bool threaded;
	int rc;

	j.r.err = j.err;
	j.r.errlen = sizeof(j.err);
	uri_of(uri, r->path);
	threaded = sqlite3_open_v2(uri, &j.r.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI |
					 SQLITE_OPEN_NOMUTEX, NULL) == SQLITE_OK &&
		   pthread_create(&t, NULL, idem_thread, &j) == 0;
	rc = rd_orders(r);
	if (threaded)
		pthread_join(t, NULL);
	sqlite3_close(j.r.db);
	if (rc < 0)
		return rc;
	if (!threaded)
		return rd_idem(r);
	if (j.rc < 0)
		fs_errf(r->err, r->errlen, "%s", j.err);
	return j.rc;
}

/* 1 if the snapshot has the raw images table (0 if not, <0 error). */
static int rd_has_images(struct snap_reader *r)
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = rd_prepare(r, "SELECT count(*) FROM sqlite_master WHERE name = 'images'", &st)))
		return rc;
	rc = rd_step(r, st);
	if (rc == 1)
		rc = sqlite3_column_int64(st, 0) > 0;
	sqlite3_finalize(st);
	return rc;
}

/* Copy the images table's chunks into imgs; loaded[i][region] = bytes. */
static int rd_image_rows(struct snap_reader *r, struct store_image **imgs,
			 size_t (*loaded)[STORE_IMAGE_REGIONS])
{
	sqlite3_stmt *st;
	int rc;

	if ((rc = rd_prepare(r, "SELECT shard, region, data FROM images ORDER BY id", &st)))
		return rc;
	while ((rc = rd_step(r, st)) == 1) {
		int64_t sh = sqlite3_column_int64(st, 0), reg = sqlite3_column_int64(st, 1);
		const void *data = sqlite3_column_blob(st, 2);
		size_t n = (size_t)sqlite3_column_bytes(st, 2);
		if (sh < 0 || sh >= r->n_shards || reg < 0 || reg >= STORE_IMAGE_REGIONS) {
			fs_errf(r->err, r->errlen, "%s: images: bad shard %" PRId64 " or region %" PRId64,
			     r->path, sh, reg);
			rc = -EBADMSG;
		} else if (store_image_region_load(imgs[sh], (unsigned)reg, loaded[sh][reg], data,
						   n) != 0) {
			fs_errf(r->err, r->errlen, "%s: shard %" PRId64 " holds more than its capacity",
			     r->path, sh);
			rc = -ENOSPC;
		} else {
			loaded[sh][reg] += n;
		}
		if (rc < 0)
			break;
	}
	sqlite3_finalize(st);
	return rc;
}

/* Check every loaded image against its header and the shards table. */
static int rd_image_check(struct snap_reader *r, const struct snap_meta *m,
			  struct store_image **imgs, size_t (*loaded)[STORE_IMAGE_REGIONS])
{
	for (unsigned i = 0; i < r->n_shards; i++) {
		struct store_image_info in;
		int rc = store_image_load_check(imgs[i], loaded[i]);

		if (rc == -EPROTO)
			return rc;
		store_image_info(imgs[i], &in);
		if (rc || in.first_seq != m->shard[i].first_seq ||
		    in.next_seq != m->shard[i].next_seq) {
			fs_errf(r->err, r->errlen, "%s: shard %u: image does not match its header or"
			     " the shards table", r->path, i);
			return -EBADMSG;
		}
	}
	return 0;
}

/* Fast path: restore every shard from its raw image. -EPROTO (or -ENOENT
 * without an images table) when the rows must be used instead. */
/* Restoring an image rebuilds that shard's hash tables: shards share
 * nothing, so each restores in its own thread. */
struct restore_job {
	struct store_shard *shard;
	struct store_image *img;
	int rc;
	char why[512];
};

static void *restore_job_run(void *arg)
{
	struct restore_job *j = arg;

	j->why[0] = '\0';
	j->rc = store_shard_restore_image(j->shard, j->img, j->why, sizeof(j->why));
	return NULL;
}

static int restore_images(struct snap_reader *r, struct store_image **imgs)
{
	struct restore_job *jobs = calloc(r->n_shards, sizeof(*jobs));
	pthread_t tid[FS_WORKERS_MAX];
	bool started[FS_WORKERS_MAX] = {false};
	int rc = 0;

	if (jobs == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < r->n_shards; i++) {
		jobs[i] = (struct restore_job){.shard = r->shards[i], .img = imgs[i]};
		started[i] = pthread_create(&tid[i], NULL, restore_job_run, &jobs[i]) == 0;
	}
	for (unsigned i = 0; i < r->n_shards; i++) {
		if (started[i])
			pthread_join(tid[i], NULL);
		else
			restore_job_run(&jobs[i]);
	}
	for (unsigned i = 0; rc == 0 && i < r->n_shards; i++)
		if ((rc = jobs[i].rc))
			fs_errf(r->err, r->errlen, "%s: shard %u: %s", r->path, i,
				jobs[i].why[0] ? jobs[i].why : fs_strerror(rc));
	free(jobs);
	return rc;
}

static int rd_images(struct snap_reader *r, const struct snap_meta *m)
{
	struct store_image *imgs[FS_WORKERS_MAX] = {0};
	size_t(*loaded)[STORE_IMAGE_REGIONS] = calloc(r->n_shards, sizeof(*loaded));
	int rc = loaded ? rd_has_images(r) : -ENOMEM;

	if (rc == 0)
		rc = -ENOENT;
	for (unsigned i = 0; rc == 1 && i < r->n_shards; i++)
		if (store_image_create(r->shards[i], &imgs[i]) != 0)
			rc = -ENOMEM;
	if (rc == 1 && (rc = rd_image_rows(r, imgs, loaded)) == 0)
		rc = rd_image_check(r, m, imgs, loaded);
	if (rc == 0)
		rc = restore_images(r, imgs);
	for (unsigned i = 0; i < r->n_shards; i++)
		store_image_free(imgs[i]);
	free(loaded);
	return rc;
}

static int rd_restore(struct snap_reader *r, const struct snap_meta *m, uint64_t lsn[])
{
	char why[512];
	int rc;

	for (unsigned i = 0; i < r->n_shards; i++)
		lsn[i] = m->shard[i].lsn;
	/* FLASHSALE_SNAP_ROWS=1 forces the row path (benchmarks, debugging). */
	rc = getenv("FLASHSALE_SNAP_ROWS") && *getenv("FLASHSALE_SNAP_ROWS") ? -ENOENT
									     : rd_images(r, m);
	if (rc == 0)
		return rd_items_check(r);
	if (rc != -EPROTO && rc != -ENOENT)
		return rc;
	for (unsigned i = 0; i < r->n_shards; i++) {
		rc = store_restore_begin(r->shards[i], m->shard[i].first_seq, m->shard[i].next_seq);
		if (rc) {
			fs_errf(r->err, r->errlen, "%s: shard %u: orders %" PRIu64 "..%" PRIu64
			     " do not fit the shard: %s", r->path, i, m->shard[i].first_seq,
			     m->shard[i].next_seq, fs_strerror(rc));
			return rc;
		}
	}
	if ((rc = rd_rows(r)) < 0)
		return rc;
	for (unsigned i = 0; i < r->n_shards; i++) {
		if ((rc = store_restore_end(r->shards[i], why, sizeof(why)))) {
			fs_errf(r->err, r->errlen, "%s: shard %u: %s", r->path, i, why);
			return rc;
		}
	}
	return rd_items_check(r);
}

int snap_read(const char *dir, const struct cfg *cfg, struct store_catalog *cat,
	      struct store_shard *const shards[], uint64_t lsn[], bool *found, char *err,
	      size_t errlen)
{
	struct snap_reader r = {
		.cfg = cfg,
		.cat = cat,
		.shards = (struct store_shard **)shards,
		.n_shards = store_catalog_nshards(cat),
		.err = err,
		.errlen = errlen,
	};
	struct snap_meta *m = calloc(1, sizeof(*m));
	int rc;

	fs_errf(err, errlen, "%s", "");
	for (unsigned i = 0; i < r.n_shards; i++)
		lsn[i] = 0;
	if (!m)
		return -ENOMEM;
	rc = dir ? rd_open(&r, dir, found) : -EINVAL;
	if (rc == 0 && *found && (rc = rd_meta(&r, m)) == 0 && m->n_shards != r.n_shards) {
		fs_errf(err, errlen, "%s: snapshot of %u shards, the config has %u workers", r.path,
		     m->n_shards, r.n_shards);
		rc = -EINVAL;
	}
	if (rc == 0 && *found && (rc = rd_runtime(&r)) == 0 && (rc = rd_catalog(&r)) == 0 &&
	    (rc = rd_admin(&r)) == 0)
		rc = rd_restore(&r, m, lsn);
	free(m);
	sqlite3_close(r.db);
	return rc;
}
