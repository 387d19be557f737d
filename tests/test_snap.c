/*
 * test_snap.c — shard images, SQLite snapshots and recovery (store_snap.c,
 * persist/snap.c, persist/recover.c).
 *
 * The central check is behavioural: a shard is driven by a seeded random
 * sequence of BUY / CONFIRM / CANCEL / ORDER_STATUS requests, expiries and
 * idempotency trims (the same sequence can be replayed on any number of
 * worlds, because requests depend only on the seed, never on state); it is
 * then captured and restored (from an image, from SQLite, or from SQLite +
 * log) into a fresh world, and both worlds are driven on by the same further
 * sequence: every answer and every journal record must be identical.
 *
 * Everything on disk lives in a mkdtemp directory removed at the end.
 * FLASHSALE_SNAP_BIG_ORDERS sets the size of the large round trip (default
 * 1,000,000, also under AddressSanitizer: ~13 s there).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "cfg.h"
#include "persist.h"
#include "store.h"

#define T0  (1700000000LL * FS_NS_PER_S)
#define SEC FS_NS_PER_S

/* One million everywhere: ~5 s in the normal build, ~13 s under ASan. */
#define BIG_ORDERS_DEFAULT 1000000u

static char g_dir[256];

/* ---- config ---- */

struct tcfg {
	struct cfg cfg;
	struct cfg_activity acts[2];
	struct cfg_item items[4];
};

static void tcfg_init(struct tcfg *t, unsigned workers)
{
	static const struct {
		uint32_t id, act, total, limit;
		uint16_t mpo;
	} it[4] = {{11, 1, 200, 3, 2}, {12, 1, 50, 2, 1}, {21, 2, 100, 5, 3}, {22, 2, 30, 1, 1}};

	memset(t, 0, sizeof(*t));
	snprintf(t->cfg.path, sizeof(t->cfg.path), "test.ini");
	snprintf(t->cfg.persist_dir, sizeof(t->cfg.persist_dir), "%s", g_dir);
	t->cfg.workers = workers;
	t->cfg.max_orders = 4000;
	t->cfg.max_idempotency = 8000;
	t->cfg.idempotency_retention_s = 120;
	t->cfg.activities = t->acts;
	t->cfg.items = t->items;
	t->cfg.n_activities = 2;
	for (unsigned a = 0; a < 2; a++)
		t->acts[a] = (struct cfg_activity){.id = a + 1,
						   .start_ns = T0 - 3600 * SEC,
						   .end_ns = T0 + 36000 * SEC,
						   .pay_timeout_s = a ? 45 : 30};
	t->cfg.n_items = 4;
	for (unsigned i = 0; i < 4; i++)
		t->items[i] = (struct cfg_item){.id = it[i].id,
						.activity_id = it[i].act,
						.total = it[i].total,
						.per_user_limit = it[i].limit,
						.max_per_order = it[i].mpo,
						.activity_index = (uint16_t)(it[i].act - 1)};
}

/* ---- a world: catalog, shards, optional logs, recorded journal ---- */

struct world;
struct jctx {
	struct world *w;
	unsigned shard;
};

struct world {
	const struct cfg *cfg;
	struct store_catalog *cat;
	struct store_shard *sh[FS_WORKERS_MAX];
	struct jctx jctx[FS_WORKERS_MAX];
	struct wal *wal[FS_WORKERS_MAX];
	uint64_t last_lsn[FS_WORKERS_MAX];
	unsigned n;
	struct store_change last; /* newest journal record */
	uint64_t njournal;
	uint64_t jhash; /* hash of every journal record, in order */
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ULL;
	return h;
}

static void on_journal(void *ctx, const struct store_change *ch)
{
	struct jctx *jc = ctx;
	struct world *w = jc->w;
	uint64_t f[8] = {ch->type, ch->qty, ch->item_id, ch->order_id, ch->user_id,
			 ch->request_id, ch->ref, (uint64_t)ch->time_ns};

	w->jhash = fnv(w->jhash ^ jc->shard, f, sizeof(f));
	w->njournal++;
	w->last = *ch;
	if (w->wal[jc->shard]) {
		int64_t lsn = wal_append(w->wal[jc->shard], ch);
		if (lsn == -ENOBUFS) {
			uint64_t t;
			assert_int_equal(wal_submit(w->wal[jc->shard], &t), 0);
			assert_int_equal(wal_wait(w->wal[jc->shard], &t), 0);
			lsn = wal_append(w->wal[jc->shard], ch);
		}
		assert_true(lsn > 0);
		w->last_lsn[jc->shard] = (uint64_t)lsn;
	}
}

static void world_init(struct world *w, const struct cfg *cfg, bool journal)
{
	memset(w, 0, sizeof(*w));
	w->cfg = cfg;
	w->n = cfg->workers;
	assert_int_equal(store_catalog_create(cfg, w->n, &w->cat), 0);
	for (unsigned i = 0; i < w->n; i++) {
		struct store_shard_params p = {
			.shard_id = i,
			.idempotency_retention_ns = (int64_t)cfg->idempotency_retention_s * SEC,
			.first_seq = 1,
		};
		store_shard_capacity(w->cat, i, &p);
		w->jctx[i] = (struct jctx){w, i};
		p.journal = journal ? on_journal : NULL;
		p.journal_ctx = &w->jctx[i];
		assert_int_equal(store_shard_create(w->cat, &p, &w->sh[i]), 0);
	}
}

static void world_logs_open(struct world *w, uint64_t segment_bytes)
{
	for (unsigned i = 0; i < w->n; i++) {
		struct wal_replay_info info;
		char err[512];
		struct wal_params p = {.dir = g_dir,
				       .shard_id = i,
				       .durability = WAL_DURABILITY_NONE,
				       .segment_bytes = segment_bytes,
				       .no_prealloc = true};
		assert_int_equal(wal_replay(g_dir, i, NULL, 1, NULL, NULL, &info, err, sizeof(err)),
				 0);
		assert_int_equal(wal_open(&p, &info, &w->wal[i], err, sizeof(err)), 0);
	}
}

/* Make everything appended so far durable (as configured). */
static void world_logs_flush(struct world *w)
{
	for (unsigned i = 0; i < w->n; i++) {
		uint64_t t;
		if (!w->wal[i])
			continue;
		assert_int_equal(wal_submit(w->wal[i], &t), 0);
		assert_int_equal(wal_wait(w->wal[i], &t), 0);
	}
}

static void world_logs_close(struct world *w)
{
	world_logs_flush(w);
	for (unsigned i = 0; i < w->n; i++) {
		if (w->wal[i])
			assert_int_equal(wal_close(w->wal[i]), 0);
		w->wal[i] = NULL;
	}
}

static void world_free(struct world *w)
{
	world_logs_close(w);
	for (unsigned i = 0; i < w->n; i++)
		store_shard_free(w->sh[i]);
	store_catalog_free(w->cat);
	memset(w, 0, sizeof(*w));
}

static void audit_world(struct world *w)
{
	for (unsigned i = 0; i < w->n; i++) {
		char err[256];
		int rc = store_audit(w->sh[i], err, sizeof(err));
		if (rc)
			fail_msg("shard %u: %s", i, err);
	}
}

/* ---- the random script (depends only on its seed) ---- */

struct script {
	uint64_t rng;
	int64_t now;
	uint64_t ops;
};

static uint64_t rnd(struct script *sc)
{
	uint64_t z = (sc->rng += 0x9E3779B97F4A7C15ULL);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

static void script_init(struct script *sc, uint64_t seed, int64_t now)
{
	*sc = (struct script){.rng = seed, .now = now};
}

static const uint32_t ITEMS[4] = {11, 12, 21, 22};

static void next_req(struct script *sc, unsigned nshards, struct fs_req *req, unsigned *owner)
{
	uint64_t r = rnd(sc);
	unsigned kind = (unsigned)(r % 100);

	memset(req, 0, sizeof(*req));
	req->user_id = 1 + rnd(sc) % 40;
	req->request_id = 1 + rnd(sc) % 300;
	if (kind < 50) {
		req->op = FS_OP_BUY;
		req->item_id = ITEMS[rnd(sc) % 4];
		req->qty = (uint16_t)(1 + rnd(sc) % 3);
		*owner = fs_shard_of_item(req->item_id, nshards);
		return;
	}
	req->op = kind < 70 ? FS_OP_CONFIRM : kind < 85 ? FS_OP_CANCEL : FS_OP_ORDER_STATUS;
	*owner = (unsigned)(rnd(sc) % nshards);
	req->order_id = fs_order_id(1 + rnd(sc) % (sc->ops / 4 + 8), *owner);
	req->ref = rnd(sc);
	/* Usually the order's owner asks (found); sometimes a stranger. */
	if (rnd(sc) % 4 == 0)
		req->user_id = 1 + rnd(sc) % 40;
}

static void cmp_resp(const struct fs_resp *a, const struct fs_resp *b, uint64_t step)
{
	if (a->op != b->op || a->status != b->status || a->qty != b->qty ||
	    a->item_id != b->item_id || a->user_id != b->user_id ||
	    a->request_id != b->request_id || a->order_id != b->order_id ||
	    a->server_time_ns != b->server_time_ns || a->deadline_ns != b->deadline_ns ||
	    a->available != b->available || a->state != b->state ||
	    a->retry_after_ms != b->retry_after_ms)
		fail_msg("step %" PRIu64 ": op %u status %u/%u order %" PRIu64 "/%" PRIu64
			 " qty %u/%u state %u/%u avail %u/%u",
			 step, a->op, a->status, b->status, a->order_id, b->order_id, a->qty, b->qty,
			 a->state, b->state, a->available, b->available);
}

/* Drive nw worlds with nops steps of the script; every answer, expiry count
 * and journal record must agree with world 0's. The user of a CONFIRM or
 * CANCEL is, three times in four, the order's real owner in world 0. */
static void drive(struct world *const ws[], unsigned nw, struct script *sc, unsigned nops)
{
	for (unsigned k = 0; k < nops; k++, sc->ops++) {
		struct fs_req req;
		struct fs_resp r0, r;
		unsigned owner;

		sc->now += (int64_t)(rnd(sc) % 1500) * FS_NS_PER_MS;
		next_req(sc, ws[0]->n, &req, &owner);
		if (req.op != FS_OP_BUY && req.user_id % 4 != 0) {
			struct store_order_view o;
			if (store_order_get(ws[0]->sh[owner], req.order_id, &o) == 0)
				req.user_id = o.user_id;
		}
		store_execute(ws[0]->sh[owner], &req, sc->now, &r0);
		for (unsigned i = 1; i < nw; i++) {
			store_execute(ws[i]->sh[owner], &req, sc->now, &r);
			cmp_resp(&r0, &r, sc->ops);
		}
		if (rnd(sc) % 8 == 0) {
			unsigned sh = (unsigned)(rnd(sc) % ws[0]->n), max = 1 + (unsigned)(rnd(sc) % 5);
			unsigned e0 = store_expire(ws[0]->sh[sh], sc->now, max);
			unsigned t0 = store_idem_trim(ws[0]->sh[sh], sc->now, max);
			for (unsigned i = 1; i < nw; i++) {
				assert_int_equal(store_expire(ws[i]->sh[sh], sc->now, max), e0);
				assert_int_equal(store_idem_trim(ws[i]->sh[sh], sc->now, max), t0);
			}
		}
		for (unsigned i = 1; i < nw; i++) {
			assert_int_equal(ws[i]->njournal - ws[0]->njournal, 0);
			assert_int_equal(ws[i]->jhash, ws[0]->jhash);
		}
	}
}

/* Drive the world alone (its journal may go to its logs). */
static void drive1(struct world *w, struct script *sc, unsigned nops)
{
	struct world *ws[1] = {w};

	for (unsigned k = 0; k < nops; k += 25) {
		drive(ws, 1, sc, nops - k < 25 ? nops - k : 25);
		world_logs_flush(w); /* small batches: several segments */
	}
}

/* Reset the journal fingerprints so that two worlds compare from here. */
static void jreset(struct world *w)
{
	w->njournal = 0;
	w->jhash = 0;
}

/* Counts of orders by state over all shards. */
static void count_states(struct world *w, uint64_t by_state[5])
{
	memset(by_state, 0, 5 * sizeof(*by_state));
	for (unsigned i = 0; i < w->n; i++) {
		struct store_stats st;
		store_shard_stats(w->sh[i], &st);
		for (uint64_t seq = 1; seq < st.next_seq; seq++) {
			struct store_order_view o;
			assert_int_equal(store_order_get(w->sh[i], fs_order_id(seq, i), &o), 0);
			by_state[o.state]++;
		}
	}
}

/* Every order and stored answer of a and b equal (via images). */
static void cmp_worlds(struct world *a, struct world *b)
{
	for (unsigned i = 0; i < a->n; i++) {
		struct store_image *ia, *ib;
		struct store_image_info na, nb;
		assert_int_equal(store_image_create(a->sh[i], &ia), 0);
		assert_int_equal(store_image_create(b->sh[i], &ib), 0);
		store_image_capture(a->sh[i], ia);
		store_image_capture(b->sh[i], ib);
		store_image_info(ia, &na);
		store_image_info(ib, &nb);
		if (na.orders != nb.orders || na.idem_entries != nb.idem_entries)
			print_message("shard %u: orders %" PRIu64 "/%" PRIu64 " answers %" PRIu64
				      "/%" PRIu64 "\n", i, na.orders, nb.orders, na.idem_entries,
				      nb.idem_entries);
		assert_true(na.first_seq == nb.first_seq && na.next_seq == nb.next_seq &&
			    na.orders == nb.orders && na.idem_entries == nb.idem_entries &&
			    na.items == nb.items);
		for (uint64_t k = 0; k < na.orders; k++) {
			struct store_order_view x, y;
			assert_int_equal(store_image_order(ia, k, &x), 0);
			assert_int_equal(store_image_order(ib, k, &y), 0);
			assert_true(x.order_id == y.order_id && x.user_id == y.user_id &&
				    x.request_id == y.request_id && x.deadline_ns == y.deadline_ns &&
				    x.created_ns == y.created_ns && x.item_id == y.item_id &&
				    x.qty == y.qty && x.state == y.state);
		}
		for (uint64_t k = 0; k < na.idem_entries; k++) {
			struct store_idem_view x, y;
			assert_int_equal(store_image_idem(ia, k, &x), 0);
			assert_int_equal(store_image_idem(ib, k, &y), 0);
			assert_true(x.user_id == y.user_id && x.request_id == y.request_id &&
				    x.order_id == y.order_id && x.created_ns == y.created_ns &&
				    x.item_id == y.item_id && x.qty == y.qty && x.op == y.op &&
				    x.state == y.state);
		}
		for (uint32_t l = 0; l < na.items; l++) {
			struct store_item_counts x, y;
			assert_int_equal(store_image_item(ia, l, &x), 0);
			assert_int_equal(store_image_item(ib, l, &y), 0);
			assert_true(x.item_id == y.item_id && x.total == y.total &&
				    x.available == y.available && x.reserved == y.reserved &&
				    x.paid == y.paid);
		}
		store_image_free(ia);
		store_image_free(ib);
	}
}

/* ---- files ---- */

static void path_of(char *out, const char *name)
{
	snprintf(out, FS_PATH_MAX, "%.256s/%.256s", g_dir, name);
}

/* Remove everything in g_dir (snapshot files and shard directories). */
static void dir_clear(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[FS_PATH_MAX + 256];
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
			dir_clear(p);
			rmdir(p);
		} else {
			unlink(p);
		}
	}
	closedir(d);
}

static int setup_dir(void **state)
{
	(void)state;
	dir_clear(g_dir);
	return 0;
}

/* A fingerprint of every file under dir: names, sizes, contents, mtimes. */
static uint64_t dir_fingerprint(const char *dir, unsigned *nfiles)
{
	struct dirent **ents;
	uint64_t h = 0xcbf29ce484222325ULL;
	int n = scandir(dir, &ents, NULL, alphasort);

	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		char p[FS_PATH_MAX + 256];
		struct stat st;
		if (strcmp(ents[i]->d_name, ".") && strcmp(ents[i]->d_name, "..")) {
			snprintf(p, sizeof(p), "%s/%s", dir, ents[i]->d_name);
			assert_int_equal(lstat(p, &st), 0);
			h = fnv(h, ents[i]->d_name, strlen(ents[i]->d_name));
			if (S_ISDIR(st.st_mode)) {
				h = fnv(h, "/", 1) ^ dir_fingerprint(p, nfiles);
			} else {
				char buf[65536];
				ssize_t k;
				int fd = open(p, O_RDONLY);
				assert_true(fd >= 0);
				while ((k = read(fd, buf, sizeof(buf))) > 0)
					h = fnv(h, buf, (size_t)k);
				close(fd);
				h = fnv(h, &st.st_size, sizeof(st.st_size));
				h = fnv(h, &st.st_mtim, sizeof(st.st_mtim));
				(*nfiles)++;
			}
		}
		free(ents[i]);
	}
	free(ents);
	return h;
}

/* Capture every shard of w and write a snapshot at the shards' last LSNs. */
static void snapshot_world(struct world *w, uint64_t lsn[])
{
	struct store_image *imgs[FS_WORKERS_MAX];
	struct snap_stats st;
	char err[512];
	int rc;

	world_logs_flush(w);
	for (unsigned i = 0; i < w->n; i++) {
		assert_int_equal(store_image_create(w->sh[i], &imgs[i]), 0);
		store_image_capture(w->sh[i], imgs[i]);
		lsn[i] = w->last_lsn[i];
	}
	rc = snap_write(g_dir, w->cfg, w->n, imgs, lsn, &st, err, sizeof(err));
	if (rc)
		fail_msg("snap_write: %s", err);
	for (unsigned i = 0; i < w->n; i++)
		store_image_free(imgs[i]);
}

/* ---- tests: images ---- */

static void test_store_image_capture_restore_identical(void **state)
{
	struct tcfg t;
	struct world a, b;
	struct world *ws[2] = {&a, &b};
	struct script sc;
	uint64_t by_state[5];
	char err[256];

	(void)state;
	tcfg_init(&t, 2);
	world_init(&a, &t.cfg, true);
	script_init(&sc, 42, T0);
	drive1(&a, &sc, 6000);
	count_states(&a, by_state);
	for (unsigned st = FS_STATE_RESERVED; st <= FS_STATE_EXPIRED; st++)
		assert_true(by_state[st] > 0); /* every state is covered */
	world_init(&b, &t.cfg, true);
	for (unsigned i = 0; i < a.n; i++) {
		struct store_image *img;
		assert_int_equal(store_image_create(a.sh[i], &img), 0);
		store_image_capture(a.sh[i], img);
		if (store_shard_restore_image(b.sh[i], img, err, sizeof(err)))
			fail_msg("restore: %s", err);
		store_image_free(img);
	}
	audit_world(&b);
	cmp_worlds(&a, &b);
	jreset(&a);
	drive(ws, 2, &sc, 6000);
	audit_world(&a);
	audit_world(&b);
	cmp_worlds(&a, &b);
	world_free(&a);
	world_free(&b);
}

static void test_store_shard_restore_image_not_fresh(void **state)
{
	struct tcfg t;
	struct world a;
	struct script sc;
	struct store_image *img;
	char err[256];

	(void)state;
	tcfg_init(&t, 1);
	world_init(&a, &t.cfg, false);
	script_init(&sc, 7, T0);
	drive1(&a, &sc, 200);
	assert_int_equal(store_image_create(a.sh[0], &img), 0);
	store_image_capture(a.sh[0], img);
	assert_int_equal(store_shard_restore_image(a.sh[0], img, err, sizeof(err)), -EBUSY);
	store_image_free(img);
	world_free(&a);
}

static void test_store_restore_order_invalid(void **state)
{
	struct tcfg t;
	struct world a;
	struct store_order_view o = {.order_id = fs_order_id(1, 0), .user_id = 5,
				     .request_id = 9, .deadline_ns = T0, .item_id = 11,
				     .qty = 1, .state = FS_STATE_RESERVED};
	char err[256];

	(void)state;
	tcfg_init(&t, 1);
	world_init(&a, &t.cfg, false);
	assert_int_equal(store_restore_begin(a.sh[0], 1, 3), 0);
	o.item_id = 999;
	assert_int_equal(store_restore_order(a.sh[0], &o), -EINVAL); /* unknown item */
	o.item_id = 11;
	o.order_id = fs_order_id(2, 0);
	assert_int_equal(store_restore_order(a.sh[0], &o), -EINVAL); /* out of sequence */
	o.order_id = fs_order_id(1, 0);
	assert_int_equal(store_restore_order(a.sh[0], &o), 0);
	assert_int_equal(store_restore_end(a.sh[0], err, sizeof(err)), -EINVAL); /* 1 missing */
	world_free(&a);
}

/* ---- tests: SQLite snapshots ---- */

static void test_snap_write_read_round_trip(void **state)
{
	struct tcfg t;
	struct world a, b;
	struct world *ws[2] = {&a, &b};
	struct script sc;
	uint64_t lsn[FS_WORKERS_MAX], got[FS_WORKERS_MAX], by_state[5];
	bool found = false;
	char err[512];

	(void)state;
	tcfg_init(&t, 3);
	world_init(&a, &t.cfg, true);
	script_init(&sc, 4242, T0);
	drive1(&a, &sc, 8000);
	count_states(&a, by_state);
	for (unsigned st = FS_STATE_RESERVED; st <= FS_STATE_EXPIRED; st++)
		assert_true(by_state[st] > 0);
	for (unsigned i = 0; i < a.n; i++)
		a.last_lsn[i] = 100 + i; /* no logs here: any LSNs */
	snapshot_world(&a, lsn);
	world_init(&b, &t.cfg, true);
	if (snap_read(g_dir, &t.cfg, b.cat, b.sh, got, &found, err, sizeof(err)))
		fail_msg("snap_read: %s", err);
	assert_true(found);
	for (unsigned i = 0; i < a.n; i++)
		assert_int_equal(got[i], 100 + i);
	audit_world(&b);
	cmp_worlds(&a, &b);
	jreset(&a);
	drive(ws, 2, &sc, 8000);
	cmp_worlds(&a, &b);
	world_free(&a);
	world_free(&b);
}

static void sql_on_snapshot(const char *sql)
{
	char db[FS_PATH_MAX];
	sqlite3 *h;

	path_of(db, "snapshot.db");
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_close(h), SQLITE_OK);
}

/* The raw images are only a fast path: a snapshot without them, or with
 * images of another layout, is restored row by row to the same state. */
static void test_snap_read_rows_when_images_unusable(void **state)
{
	static const char *const sql[] = {
		"UPDATE images SET data = zeroblob(length(data)) WHERE region = 0",
		"DROP TABLE images",
	};
	struct tcfg t;
	struct world a, b, c;
	struct world *ws[3] = {&a, &b, &c};
	struct script sc;
	uint64_t lsn[FS_WORKERS_MAX], got[FS_WORKERS_MAX];
	bool found = false;
	char err[512];

	(void)state;
	tcfg_init(&t, 2);
	world_init(&a, &t.cfg, true);
	script_init(&sc, 777, T0);
	drive1(&a, &sc, 5000);
	snapshot_world(&a, lsn);
	world_init(&b, &t.cfg, true);
	world_init(&c, &t.cfg, true);
	sql_on_snapshot(sql[0]); /* another layout: -EPROTO, rows */
	if (snap_read(g_dir, &t.cfg, b.cat, b.sh, got, &found, err, sizeof(err)))
		fail_msg("snap_read: %s", err);
	sql_on_snapshot(sql[1]); /* no images at all (an older snapshot) */
	if (snap_read(g_dir, &t.cfg, c.cat, c.sh, got, &found, err, sizeof(err)))
		fail_msg("snap_read: %s", err);
	cmp_worlds(&a, &b);
	cmp_worlds(&a, &c);
	jreset(&a);
	drive(ws, 3, &sc, 5000);
	cmp_worlds(&a, &c);
	world_free(&a);
	world_free(&b);
	world_free(&c);
}

/* Damage in the raw images is an error, not a silent fallback. */
static void test_snap_read_damaged_image_refused(void **state)
{
	struct tcfg t;
	struct world a, b;
	struct script sc;
	uint64_t lsn[FS_WORKERS_MAX], got[FS_WORKERS_MAX];
	bool found;
	char err[512];

	(void)state;
	tcfg_init(&t, 2);
	world_init(&a, &t.cfg, false);
	script_init(&sc, 778, T0);
	drive1(&a, &sc, 3000);
	snapshot_world(&a, lsn);
	/* Orders of shard 0 cut short: lengths no longer match the header. */
	sql_on_snapshot("UPDATE images SET data = substr(data, 1, 40) WHERE shard = 0 AND "
			"region = 1");
	world_init(&b, &t.cfg, false);
	assert_int_equal(snap_read(g_dir, &t.cfg, b.cat, b.sh, got, &found, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "shard 0"));
	world_free(&a);
	world_free(&b);
}

static void test_snap_read_missing_not_found(void **state)
{
	struct tcfg t;
	struct world a;
	uint64_t lsn[FS_WORKERS_MAX];
	bool found = true;
	char err[256];

	(void)state;
	tcfg_init(&t, 2);
	world_init(&a, &t.cfg, false);
	assert_int_equal(snap_read(g_dir, &t.cfg, a.cat, a.sh, lsn, &found, err, sizeof(err)), 0);
	assert_false(found);
	assert_int_equal(lsn[0], 0);
	world_free(&a);
}

static void test_snap_read_config_mismatch_names_item(void **state)
{
	struct tcfg t, t2;
	struct world a, b;
	struct script sc;
	uint64_t lsn[FS_WORKERS_MAX];
	bool found;
	char err[512];

	(void)state;
	tcfg_init(&t, 2);
	world_init(&a, &t.cfg, false);
	script_init(&sc, 3, T0);
	drive1(&a, &sc, 500);
	snapshot_world(&a, lsn);
	/* A different total: the snapshot's wins (CONFIG.md: once the
	 * appliance has state, the file is not re-applied over sold units). */
	tcfg_init(&t2, 2);
	t2.items[1].total = 51;
	world_init(&b, &t2.cfg, false);
	assert_int_equal(snap_read(g_dir, &t2.cfg, b.cat, b.sh, lsn, &found, err, sizeof(err)),
			 0);
	{
		struct store_item_counts c;
		assert_int_equal(store_item_counts(b.sh[fs_shard_of_item(12, 2)], 12, &c), 0);
		assert_int_equal(c.total, 50);
	}
	audit_world(&b);
	world_free(&b);
	/* An item of the snapshot missing from the config. */
	tcfg_init(&t2, 2);
	t2.cfg.n_items = 3; /* drops item 22 */
	world_init(&b, &t2.cfg, false);
	assert_int_equal(snap_read(g_dir, &t2.cfg, b.cat, b.sh, lsn, &found, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "item 22 is in the snapshot but not in test.ini"));
	world_free(&b);
	/* Another shard count. */
	tcfg_init(&t2, 3);
	world_init(&b, &t2.cfg, false);
	assert_int_equal(snap_read(g_dir, &t2.cfg, b.cat, b.sh, lsn, &found, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "snapshot of 2 shards"));
	world_free(&b);
	world_free(&a);
}

/* Admin changes (a stock change, a moved window) and the shards' recent
 * admin records come back from a snapshot, by both restore paths. */
static void test_snap_admin_changes_round_trip(void **state)
{
	struct tcfg t;
	struct world a, b;
	struct script sc;
	struct store_change ch;
	struct store_item_counts c;
	uint64_t lsn[FS_WORKERS_MAX], got[FS_WORKERS_MAX];
	unsigned sh = fs_shard_of_item(21, 2);
	int64_t start, end;
	bool found, moved;
	char err[512];

	(void)state;
	tcfg_init(&t, 2);
	world_init(&a, &t.cfg, false);
	script_init(&sc, 77, T0);
	drive1(&a, &sc, 300);
	assert_int_equal(store_admin_stock(a.sh[sh], 21, 17, 9001, T0, &ch), 0);
	assert_int_equal(store_admin_window(a.sh[0], 2, T0 - SEC, T0 + 99 * SEC, 9002, T0, &ch), 0);
	snapshot_world(&a, lsn);
	for (int rows = 0; rows < 2; rows++) {
		if (rows)
			setenv("FLASHSALE_SNAP_ROWS", "1", 1);
		world_init(&b, &t.cfg, false);
		if (snap_read(g_dir, &t.cfg, b.cat, b.sh, got, &found, err, sizeof(err)))
			fail_msg("snap_read: %s", err);
		audit_world(&b);
		cmp_worlds(&a, &b);
		assert_int_equal(store_item_counts(b.sh[sh], 21, &c), 0);
		assert_int_equal(c.total, 117);
		assert_int_equal(store_catalog_window(b.cat, 2, &start, &end, &moved), 0);
		assert_true(start == T0 - SEC && end == T0 + 99 * SEC && moved);
		assert_int_equal(store_catalog_window(b.cat, 1, &start, &end, &moved), 0);
		assert_false(moved);
		assert_int_equal(store_admin_find(b.sh[sh], 9001, &ch), 0);
		assert_int_equal(ch.ref, 117);
		assert_int_equal(store_admin_find(b.sh[0], 9002, &ch), 0);
		world_free(&b);
	}
	unsetenv("FLASHSALE_SNAP_ROWS");
	world_free(&a);
}

static void copy_prefix(const char *from, const char *to, off_t len)
{
	int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char *buf = malloc((size_t)len);

	assert_true(in >= 0 && out >= 0 && buf);
	assert_int_equal(pread(in, buf, (size_t)len, 0), len);
	assert_int_equal(write(out, buf, (size_t)len), len);
	free(buf);
	close(in);
	close(out);
}

/* A crash in the middle of snap_write leaves a partial snapshot.db.tmp:
 * readers use the previous snapshot.db, the next write replaces the tmp. */
static void test_snap_read_crash_mid_write_uses_old(void **state)
{
	struct tcfg t;
	struct world a, b;
	struct script sc;
	uint64_t lsn[FS_WORKERS_MAX], got[FS_WORKERS_MAX];
	char db[FS_PATH_MAX], tmp[FS_PATH_MAX], err[512];
	struct stat st;
	bool found;

	(void)state;
	tcfg_init(&t, 2);
	world_init(&a, &t.cfg, false);
	script_init(&sc, 11, T0);
	drive1(&a, &sc, 1500);
	a.last_lsn[0] = 7, a.last_lsn[1] = 8;
	snapshot_world(&a, lsn);
	path_of(db, "snapshot.db");
	path_of(tmp, "snapshot.db.tmp");
	assert_int_equal(stat(db, &st), 0);
	copy_prefix(db, tmp, st.st_size / 2); /* the new one, cut short */
	world_init(&b, &t.cfg, false);
	if (snap_read(g_dir, &t.cfg, b.cat, b.sh, got, &found, err, sizeof(err)))
		fail_msg("snap_read: %s", err);
	assert_true(found);
	assert_int_equal(got[0], 7);
	assert_int_equal(got[1], 8);
	cmp_worlds(&a, &b);
	world_free(&b);
	/* The next write starts over. */
	a.last_lsn[0] = 9;
	snapshot_world(&a, lsn);
	assert_int_equal(stat(tmp, &st), -1);
	world_free(&a);
}

/* ---- tests: recovery ---- */

/* Trims are not journalled: after a replay the ring still holds answers the
 * original had trimmed, until the first trim. Trim both worlds fully at now. */
static void trim_all(struct world *w, int64_t now)
{
	for (unsigned i = 0; i < w->n; i++)
		(void)store_idem_trim(w->sh[i], now, UINT32_MAX);
}

static void recover_into(struct world *w, unsigned flags, struct persist_recover_info *infos)
{
	char err[1024];
	int rc = persist_recover(w->cfg, w->cat, w->sh, infos, flags, err, sizeof(err));

	if (rc)
		fail_msg("persist_recover: %s (%d)", err, rc);
	assert_int_equal(w->njournal, 0); /* recovery journals nothing */
}

static void test_persist_recover_snapshot_then_log(void **state)
{
	struct tcfg t;
	struct world a, b;
	struct world *ws[2] = {&a, &b};
	struct persist_recover_info infos[FS_WORKERS_MAX];
	struct script sc;
	uint64_t lsn[FS_WORKERS_MAX];

	(void)state;
	tcfg_init(&t, 2);
	world_init(&a, &t.cfg, true);
	world_logs_open(&a, 4096);
	script_init(&sc, 99, T0);
	drive1(&a, &sc, 3000);
	snapshot_world(&a, lsn);
	for (unsigned i = 0; i < a.n; i++) {
		assert_true(lsn[i] > 0);
		assert_true(wal_remove_before(g_dir, i, NULL, lsn[i] + 1) > 0);
	}
	drive1(&a, &sc, 3000);
	world_logs_close(&a);
	world_init(&b, &t.cfg, true);
	recover_into(&b, 0, infos);
	for (unsigned i = 0; i < a.n; i++) {
		assert_true(infos[i].snapshot);
		assert_int_equal(infos[i].snapshot_lsn, lsn[i]);
		assert_true(infos[i].wal.replayed > 0);
		assert_int_equal(infos[i].wal.next_lsn, a.last_lsn[i] + 1);
		assert_false(infos[i].wal.torn);
	}
	trim_all(&a, sc.now);
	trim_all(&b, sc.now);
	cmp_worlds(&a, &b);
	jreset(&a);
	drive(ws, 2, &sc, 3000);
	cmp_worlds(&a, &b);
	world_free(&a);
	world_free(&b);
}

/* A log whose first retained record is after the snapshot's LSN + 1 lost
 * records: refused, naming the file. */
static void test_persist_recover_log_gap_refused(void **state)
{
	struct tcfg t;
	struct world a, b;
	struct persist_recover_info infos[FS_WORKERS_MAX];
	struct script sc;
	uint64_t lsn[FS_WORKERS_MAX];
	char err[1024];

	(void)state;
	tcfg_init(&t, 1);
	world_init(&a, &t.cfg, true);
	world_logs_open(&a, 4096);
	script_init(&sc, 5, T0);
	drive1(&a, &sc, 1000);
	snapshot_world(&a, lsn);
	drive1(&a, &sc, 2000);
	world_logs_flush(&a);
	assert_true(wal_remove_before(g_dir, 0, NULL, a.last_lsn[0]) > 0); /* too many */
	world_logs_close(&a);
	world_init(&b, &t.cfg, true);
	assert_int_equal(persist_recover(&t.cfg, b.cat, b.sh, infos, 0, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, "records missing"));
	world_free(&a);
	world_free(&b);
}

static void last_segment(unsigned shard, char *out)
{
	char d[300];
	struct dirent **ents;
	int n;

	snprintf(d, sizeof(d), "%s/shard-%02u", g_dir, shard);
	n = scandir(d, &ents, NULL, alphasort);
	assert_true(n > 2);
	snprintf(out, FS_PATH_MAX, "%.300s/%.256s", d, ents[n - 1]->d_name);
	for (int i = 0; i < n; i++)
		free(ents[i]);
	free(ents);
}

static void test_persist_recover_readonly_leaves_files_identical(void **state)
{
	struct tcfg t;
	struct world a, b, c;
	struct persist_recover_info infos[FS_WORKERS_MAX];
	struct script sc;
	uint64_t lsn[FS_WORKERS_MAX], before, after;
	unsigned nb = 0, na = 0;
	char seg[FS_PATH_MAX];
	static const uint8_t junk[20] = {0x31, 0x41, 0x59, 0x26, 0x53, 0x58, 0x97, 0x93,
					 0x23, 0x84, 0x62, 0x64, 0x33, 0x83, 0x27, 0x95};
	int fd;

	(void)state;
	tcfg_init(&t, 2);
	world_init(&a, &t.cfg, true);
	world_logs_open(&a, 8192);
	script_init(&sc, 1234, T0);
	drive1(&a, &sc, 2000);
	snapshot_world(&a, lsn);
	drive1(&a, &sc, 1000);
	world_logs_close(&a);
	last_segment(1, seg);
	fd = open(seg, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), sizeof(junk)); /* a torn write */
	close(fd);
	before = dir_fingerprint(g_dir, &nb);
	world_init(&b, &t.cfg, true);
	recover_into(&b, PERSIST_RECOVER_READONLY, infos);
	after = dir_fingerprint(g_dir, &na);
	assert_int_equal(na, nb);
	assert_true(before == after);
	assert_true(infos[1].wal.torn && infos[1].wal.torn_kept);
	assert_int_equal(infos[1].wal.torn_bytes, sizeof(junk));
	assert_false(infos[0].wal.torn);
	trim_all(&a, sc.now);
	trim_all(&b, sc.now);
	cmp_worlds(&a, &b);
	/* A normal recovery cuts the tail, and reaches the same state. */
	world_init(&c, &t.cfg, true);
	recover_into(&c, 0, infos);
	assert_true(infos[1].wal.torn && !infos[1].wal.torn_kept);
	na = 0;
	assert_true(dir_fingerprint(g_dir, &na) != before);
	trim_all(&c, sc.now);
	cmp_worlds(&b, &c);
	world_free(&a);
	world_free(&b);
	world_free(&c);
}

/* ---- tests: a large snapshot ---- */

static unsigned big_orders(void)
{
	const char *e = getenv("FLASHSALE_SNAP_BIG_ORDERS");

	return e && atoi(e) > 0 ? (unsigned)atoi(e) : BIG_ORDERS_DEFAULT;
}

static void big_cfg(struct tcfg *t, unsigned n)
{
	tcfg_init(t, 2);
	t->cfg.max_orders = n;
	t->cfg.max_idempotency = 2ull * n;
	for (unsigned i = 0; i < 4; i++) {
		t->items[i].total = n / 4 + 1;
		t->items[i].per_user_limit = 1;
		t->items[i].max_per_order = 1;
	}
}

/* n BUYs (one per user), a third confirmed, a seventh cancelled. */
static void big_fill(struct world *w, unsigned n)
{
	for (uint64_t u = 1; u <= n; u++) {
		struct fs_req req = {.op = FS_OP_BUY, .user_id = u, .request_id = u,
				     .item_id = ITEMS[u % 4], .qty = 1};
		unsigned owner = fs_shard_of_item(req.item_id, w->n);
		struct fs_resp r;
		store_execute(w->sh[owner], &req, T0, &r);
		assert_int_equal(r.status, FS_ST_OK);
		if (u % 3 == 0 || u % 7 == 0) {
			req.op = u % 3 == 0 ? FS_OP_CONFIRM : FS_OP_CANCEL;
			req.order_id = r.order_id;
			req.request_id = u + (1ull << 40);
			store_execute(w->sh[owner], &req, T0 + SEC, &r);
			assert_int_equal(r.status, FS_ST_OK);
		}
	}
}

static double ms_since(int64_t t0)
{
	return (double)(fs_mono_ns() - t0) / 1e6;
}

static void test_snap_write_read_million_orders(void **state)
{
	unsigned n = big_orders();
	struct tcfg t;
	struct world a, b;
	uint64_t lsn[FS_WORKERS_MAX] = {0}, got[FS_WORKERS_MAX];
	struct store_image *imgs[FS_WORKERS_MAX];
	struct snap_stats st;
	char err[512];
	bool found;
	int64_t t0;

	(void)state;
	big_cfg(&t, n);
	world_init(&a, &t.cfg, false);
	big_fill(&a, n);
	t0 = fs_mono_ns();
	for (unsigned i = 0; i < a.n; i++) {
		assert_int_equal(store_image_create(a.sh[i], &imgs[i]), 0);
		store_image_capture(a.sh[i], imgs[i]);
	}
	print_message("capture %u orders: %.1f ms\n", n, ms_since(t0));
	if (snap_write(g_dir, &t.cfg, a.n, imgs, lsn, &st, err, sizeof(err)))
		fail_msg("snap_write: %s", err);
	print_message("snap_write: %" PRIu64 " orders %" PRIu64 " answers, %.1f ms, %" PRIu64
		      " bytes\n", st.orders, st.idem_entries, (double)st.total_ns / 1e6, st.bytes);
	assert_int_equal(st.orders, n);
	for (unsigned i = 0; i < a.n; i++)
		store_image_free(imgs[i]);
	world_init(&b, &t.cfg, false);
	t0 = fs_mono_ns();
	if (snap_read(g_dir, &t.cfg, b.cat, b.sh, got, &found, err, sizeof(err)))
		fail_msg("snap_read: %s", err);
	print_message("snap_read + restore (images): %.1f ms\n", ms_since(t0));
	assert_true(found);
	cmp_worlds(&a, &b);
	world_free(&b);
	/* The same snapshot row by row (the streaming restore). */
	world_init(&b, &t.cfg, false);
	setenv("FLASHSALE_SNAP_ROWS", "1", 1);
	t0 = fs_mono_ns();
	if (snap_read(g_dir, &t.cfg, b.cat, b.sh, got, &found, err, sizeof(err)))
		fail_msg("snap_read: %s", err);
	print_message("snap_read + restore (rows): %.1f ms\n", ms_since(t0));
	unsetenv("FLASHSALE_SNAP_ROWS");
	cmp_worlds(&a, &b);
	/* Expiries and retries behave alike. */
	for (unsigned i = 0; i < a.n; i++)
		assert_int_equal(store_expire(a.sh[i], T0 + 3600 * SEC, 1000),
				 store_expire(b.sh[i], T0 + 3600 * SEC, 1000));
	for (uint64_t u = 1; u <= n; u += n / 100 + 1) {
		struct fs_req req = {.op = FS_OP_BUY, .user_id = u, .request_id = u,
				     .item_id = ITEMS[u % 4], .qty = 1};
		unsigned owner = fs_shard_of_item(req.item_id, a.n);
		struct fs_resp ra, rb;
		store_execute(a.sh[owner], &req, T0 + 2 * SEC, &ra);
		store_execute(b.sh[owner], &req, T0 + 2 * SEC, &rb);
		cmp_resp(&ra, &rb, u);
		assert_int_equal(ra.status, FS_ST_OK);
	}
	world_free(&a);
	world_free(&b);
}

/* ---- the catalog created at run time: in snapshots and in shard 0's log ---- */

/* What the admin API does: every shard grows, the definition goes into
 * shard 0's log as one record, then the catalog publishes it. */
static void define_logged(struct world *w, uint32_t act, uint32_t first_item, uint32_t n,
			  uint64_t rid)
{
	static struct store_catalog_def d;
	uint8_t buf[WAL_PAYLOAD_MAX];
	int len;

	memset(&d, 0, sizeof(d));
	d.request_id = rid;
	d.has_activity = true;
	d.act = (struct cfg_activity){.id = act,
				      .start_ns = T0 - 10 * SEC,
				      .end_ns = T0 + 3600 * SEC,
				      .pay_timeout_s = 60};
	snprintf(d.act.name, sizeof(d.act.name), "runtime %u", act);
	for (uint32_t k = 0; k < n; k++)
		d.items[d.n_items++] = (struct store_item_def){.id = first_item + k,
							       .total = 20 + k,
							       .per_user_limit = 2,
							       .max_per_order = 1};
	assert_int_equal(store_catalog_check_def(w->cat, &d, NULL, 0), 0);
	for (unsigned i = 0; i < w->n; i++)
		(void)store_shard_grow(w->sh[i], &d);
	len = wal_catalog_encode(buf, sizeof(buf), &d);
	assert_true(len > 0);
	if (w->wal[0]) {
		int64_t lsn = wal_append_admin(w->wal[0], buf, (uint32_t)len);
		assert_true(lsn > 0);
		w->last_lsn[0] = (uint64_t)lsn;
	}
	assert_int_equal(store_catalog_define(w->cat, &d), 0);
}

static void buy_some(struct world *w, uint32_t item, uint64_t first_user, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		struct fs_req req = {.op = FS_OP_BUY,
				     .qty = 1,
				     .item_id = item,
				     .user_id = first_user + k,
				     .request_id = 1};
		struct fs_resp resp;
		unsigned owner;
		if (!store_gate(w->cat, &req, T0, &resp, &owner))
			store_execute(w->sh[owner], &req, T0, &resp);
		assert_int_equal(resp.status, FS_ST_OK);
	}
}

static void assert_same_item(struct world *a, struct world *b, uint32_t item)
{
	unsigned o = fs_shard_of_item(item, a->n);
	struct store_item_counts ca, cb;
	struct cfg_item da, db;

	assert_int_equal(store_item_counts(a->sh[o], item, &ca), 0);
	assert_int_equal(store_item_counts(b->sh[o], item, &cb), 0);
	assert_int_equal(ca.total, cb.total);
	assert_int_equal(ca.available, cb.available);
	assert_int_equal(ca.reserved, cb.reserved);
	assert_int_equal(ca.paid, cb.paid);
	assert_int_equal(store_catalog_item_def(a->cat, item, &da), 0);
	assert_int_equal(store_catalog_item_def(b->cat, item, &db), 0);
	assert_int_equal(da.activity_id, db.activity_id);
	assert_int_equal(da.total, db.total);
	assert_int_equal(da.per_user_limit, db.per_user_limit);
}

static void test_persist_recover_runtime_catalog(void **state)
{
	struct tcfg t;
	struct world a, b;
	struct persist_recover_info infos[FS_WORKERS_MAX];
	uint64_t lsn[FS_WORKERS_MAX], rid;
	struct cfg_item it;
	struct cfg_activity ca;

	(void)state;
	tcfg_init(&t, 3);
	world_init(&a, &t.cfg, true);
	world_logs_open(&a, 4096);
	define_logged(&a, 5, 501, 4, 1234);
	buy_some(&a, 501, 100, 3);
	buy_some(&a, 503, 100, 5);
	snapshot_world(&a, lsn);
	/* after the snapshot: only in the logs (the BUYs of 601 may sit in
	 * another shard's log than its definition) */
	define_logged(&a, 6, 601, 3, 1235);
	buy_some(&a, 601, 200, 4);
	buy_some(&a, 602, 200, 1);
	buy_some(&a, 501, 300, 2);
	world_logs_close(&a);
	world_init(&b, &t.cfg, true);
	recover_into(&b, 0, infos);
	assert_int_equal(store_catalog_items(b.cat), 4 + 4 + 3);
	assert_int_equal(store_catalog_activities(b.cat), 4);
	for (uint32_t id = 501; id <= 504; id++)
		assert_same_item(&a, &b, id);
	for (uint32_t id = 601; id <= 603; id++)
		assert_same_item(&a, &b, id);
	assert_int_equal(store_catalog_item_at(b.cat, 8, &it, &rid), 0);
	assert_int_equal(it.id, 601);
	assert_int_equal(rid, 1235);
	assert_int_equal(store_catalog_activity(b.cat, 6, &ca), 0);
	assert_int_equal(ca.pay_timeout_s, 60);
	audit_world(&b);
	world_free(&a);
	world_free(&b);
}

/* A snapshot written before activities could be created at run time has no
 * catalog tables: it reads as one with none created; a snapshot that holds
 * runtime items without its catalog tables (damage) names the item. */
static void test_snap_read_without_catalog_tables(void **state)
{
	struct tcfg t;
	struct world a, b, c;
	struct script sc;
	uint64_t lsn[FS_WORKERS_MAX], got[FS_WORKERS_MAX];
	bool found = false;
	char err[512];

	(void)state;
	tcfg_init(&t, 2);
	world_init(&a, &t.cfg, true);
	script_init(&sc, 31, T0);
	drive1(&a, &sc, 2000);
	snapshot_world(&a, lsn);
	sql_on_snapshot("DROP TABLE catalog_items; DROP TABLE catalog_activities");
	world_init(&b, &t.cfg, true);
	if (snap_read(g_dir, &t.cfg, b.cat, b.sh, got, &found, err, sizeof(err)))
		fail_msg("snap_read: %s", err);
	assert_true(found);
	assert_int_equal(store_catalog_items(b.cat), 4);
	cmp_worlds(&a, &b);
	world_free(&b);
	define_logged(&a, 5, 501, 2, 99);
	buy_some(&a, 501, 10, 2);
	snapshot_world(&a, lsn);
	sql_on_snapshot("DELETE FROM catalog_items");
	world_init(&c, &t.cfg, true);
	assert_int_equal(snap_read(g_dir, &t.cfg, c.cat, c.sh, got, &found, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "item 501"));
	world_free(&a);
	world_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_store_image_capture_restore_identical, setup_dir),
		cmocka_unit_test_setup(test_store_shard_restore_image_not_fresh, setup_dir),
		cmocka_unit_test_setup(test_store_restore_order_invalid, setup_dir),
		cmocka_unit_test_setup(test_snap_write_read_round_trip, setup_dir),
		cmocka_unit_test_setup(test_snap_read_rows_when_images_unusable, setup_dir),
		cmocka_unit_test_setup(test_snap_read_damaged_image_refused, setup_dir),
		cmocka_unit_test_setup(test_snap_read_missing_not_found, setup_dir),
		cmocka_unit_test_setup(test_snap_read_config_mismatch_names_item, setup_dir),
		cmocka_unit_test_setup(test_snap_admin_changes_round_trip, setup_dir),
		cmocka_unit_test_setup(test_snap_read_crash_mid_write_uses_old, setup_dir),
		cmocka_unit_test_setup(test_persist_recover_snapshot_then_log, setup_dir),
		cmocka_unit_test_setup(test_persist_recover_runtime_catalog, setup_dir),
		cmocka_unit_test_setup(test_snap_read_without_catalog_tables, setup_dir),
		cmocka_unit_test_setup(test_persist_recover_log_gap_refused, setup_dir),
		cmocka_unit_test_setup(test_persist_recover_readonly_leaves_files_identical,
				       setup_dir),
		cmocka_unit_test_setup(test_snap_write_read_million_orders, setup_dir),
	};
	char tmpl[] = "/tmp/test_snap.XXXXXX";
	int rc;

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(g_dir, sizeof(g_dir), "%s", tmpl);
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	dir_clear(g_dir);
	rmdir(g_dir);
	return rc;
}
