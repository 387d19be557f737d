/*
 * fs_admin.c — the admin API: running a sale without a restart.
 *
 *   GET  /admin/items      the items: total, available, reserved, paid, sold
 *   GET  /admin/catalog    the activities (current window) and the items
 *                          (both paged: ?from=INDEX&limit=N, "next" in the answer)
 *   POST /admin/activities a new activity with its items (fs_admin_def.c has the body)
 *   POST /admin/items      {"request_id","activity_id","items":[...]}: items added
 *   POST /admin/stock      {"request_id","item_id","delta"}: add or remove units
 *   POST /admin/open       {"request_id","activity_id"[,"end_ns"]}: open the sale now
 *   POST /admin/close      {"request_id","activity_id"}: close it now
 *   POST /admin/window     {"request_id","activity_id","start_ns","end_ns"}
 *   POST /admin/snapshot   take a snapshot now (persist_snapshot)
 *   GET  /admin/audit      store_audit on every live shard, and the sums
 *   GET  /admin/state/L0,L1,...  the state at those per-shard LSNs, from a
 *                          read-only recovery of the data directory
 *                          (fs_admin_state: flashsale audit --against)
 * (docs/operations.md "Admin API" has the answers and status codes.)
 *
 * Design. Everything runs on the control-plane thread, one call at a time.
 * Shard state is only touched on its worker's thread, between two bursts
 * (persist_run_durable / on_workers = dp_engine_on_workers), so no lock is
 * taken and the data path is unchanged:
 *  - stock: store_admin_stock on the item's owner shard; the change is a
 *    STORE_CH_STOCK record in that shard's log, ordered with its BUYs. It
 *    clamps so that total >= reserved + paid: the answer says how much was
 *    applied.
 *  - window: store_admin_window on shard 0 (a STORE_CH_WINDOW record in
 *    shard 0's log); every item's window is two atomic 64-bit stores the
 *    gates read.
 *  - the answer OK is sent only once the record is durable
 *    (persist_run_durable waits for every log as a snapshot does), so a
 *    kill -9 right after it cannot lose the change.
 *  - idempotency: every changing call carries a client-chosen request_id
 *    (!= 0). Each shard keeps its last STORE_ADMIN_RECENT admin records
 *    (rebuilt by replay and snapshots); before changing anything we look the
 *    request_id up on every shard: found with the same change, the answer
 *    is rebuilt from the record (exactly the first answer: it depends only
 *    on the record); found with another change: 409.
 *  - activities/items (the catalog grows): validated first
 *    (store_catalog_check_def: 400 naming the field, 404 no such activity,
 *    409 an id is taken, 507 no capacity left), then two steps on the
 *    workers: every shard makes room for the items it will own
 *    (store_shard_grow, on its thread), then shard 0 journals the whole
 *    definition as ONE admin record (dp_journal_admin) and publishes it
 *    (store_catalog_define: a gate sees an item whole or not at all); the
 *    OK waits for durability like every change. Idempotency: the catalog
 *    keeps the request_id of every activity and item a call created, so a
 *    retry is answered from the catalog (after kill -9 too: the record and
 *    snapshots carry it); the same request_id with another change is 409.
 * Reads (items, audit) also run on the workers, so each shard's numbers are
 * a consistent cut; the audit is O(shard) and stalls each worker for it.
 * Listings are paged (?from=catalog index&limit=N): a page ends where the
 * answer buffer would not hold the next item, and says where to go on
 * ("next"), so nothing is cut silently.
 *
 * Bodies are one flat JSON object of integer members; anything else (other
 * members, strings, duplicates, fractions, out of range) is 400. The
 * catalog calls take strings, booleans and an items array (fs_admin_def.c).
 */
#include "fs_admin.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs_common.h"

#define ADMIN_CALL_TIMEOUT_MS PERSIST_WORKER_CALL_TIMEOUT_MS
#define ADMIN_AUDIT_ERR_MAX   256

struct fs_admin {
	struct fs_admin_params p;
	unsigned n;
	struct store_shard **shards;
	struct store_item_counts *counts; /* per catalog index (capacity), filled on the workers */
	uint32_t cap_items;
	uint32_t list_from, list_to;  /* catalog indexes w_counts fills */
	struct store_catalog_def def; /* the definition in flight */
	bool grown[FS_WORKERS_MAX];
	bool catalog_stuck; /* a grow could not be undone: creation refused */
	uint8_t rec[WAL_PAYLOAD_MAX];
	int count_rc[FS_WORKERS_MAX];
	int audit_rc[FS_WORKERS_MAX];
	char audit_err[FS_WORKERS_MAX][ADMIN_AUDIT_ERR_MAX];
	/* one change in flight (control plane: one call at a time) */
	uint64_t rid;
	bool found[FS_WORKERS_MAX];
	struct store_change found_ch[FS_WORKERS_MAX];
	unsigned target;
	uint32_t id;
	int64_t delta, start_ns, end_ns;
	int rc;
	struct store_change ch;
};

/* ---- output ---- */

struct out {
	char *buf;
	size_t cap, n;
	bool full;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (o->full)
		return;
	va_start(ap, fmt);
	r = vsnprintf(o->buf + o->n, o->cap - o->n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= o->cap - o->n) {
		o->full = true;
		return;
	}
	o->n += (size_t)r;
}

/* A JSON string of s (quotes, backslashes and control characters escaped). */
static void put_str(struct out *o, const char *s)
{
	put(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			put(o, "\\%c", c);
		else if (c < 0x20)
			put(o, "\\u%04x", c);
		else
			put(o, "%c", c);
	}
	put(o, "\"");
}

static size_t finish(struct out *o, int *status, int code)
{
	if (o->full) {
		/* The answer did not fit the listener's buffer: say so instead. */
		o->full = false;
		o->n = 0;
		put(o, "{\"ok\":false,\"error\":\"answer too large for the response buffer\"}\n");
		*status = 500;
		return o->n;
	}
	*status = code;
	return o->n;
}

static size_t fail(struct out *o, int *status, int code, const char *msg)
{
	o->n = 0;
	o->full = false;
	put(o, "{\"ok\":false,\"error\":");
	put_str(o, msg);
	put(o, "}\n");
	return finish(o, status, code);
}

/* ---- the body: one flat object of integers ---- */

enum { F_REQUEST_ID, F_ITEM_ID, F_DELTA, F_ACTIVITY_ID, F_START_NS, F_END_NS, F_COUNT };
static const char *const FIELD_NAMES[F_COUNT] = {"request_id", "item_id",  "delta",
						 "activity_id", "start_ns", "end_ns"};

struct body {
	unsigned present; /* bit per F_ */
	bool neg[F_COUNT];
	uint64_t mag[F_COUNT]; /* magnitude */
};

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	return p;
}

/* 0, or -EINVAL with the reason in *why. */
static int parse_body(const char *s, size_t len, struct body *b, const char **why)
{
	const char *p = s, *end = s + len;

	memset(b, 0, sizeof(*b));
	p = skip_ws(p, end);
	if (p == end) /* an empty body is an empty object */
		return 0;
	if (*p++ != '{') {
		*why = "body must be a JSON object";
		return -EINVAL;
	}
	p = skip_ws(p, end);
	if (p < end && *p == '}')
		goto done;
	for (;;) {
		const char *k;
		size_t klen;
		int f;
		p = skip_ws(p, end);
		if (p >= end || *p++ != '"') {
			*why = "expected a member name";
			return -EINVAL;
		}
		k = p;
		while (p < end && *p != '"' && *p != '\\')
			p++;
		if (p >= end || *p != '"') {
			*why = "bad member name";
			return -EINVAL;
		}
		klen = (size_t)(p++ - k);
		for (f = 0; f < F_COUNT; f++)
			if (strlen(FIELD_NAMES[f]) == klen && memcmp(FIELD_NAMES[f], k, klen) == 0)
				break;
		if (f == F_COUNT) {
			*why = "unknown member";
			return -EINVAL;
		}
		if (b->present & (1u << f)) {
			*why = "duplicate member";
			return -EINVAL;
		}
		p = skip_ws(p, end);
		if (p >= end || *p++ != ':') {
			*why = "expected ':'";
			return -EINVAL;
		}
		p = skip_ws(p, end);
		if (p < end && *p == '-') {
			b->neg[f] = true;
			p++;
		}
		if (p >= end || !isdigit((unsigned char)*p)) {
			*why = "member values must be integers";
			return -EINVAL;
		}
		while (p < end && isdigit((unsigned char)*p)) {
			unsigned d = (unsigned)(*p++ - '0');
			if (b->mag[f] > (UINT64_MAX - d) / 10) {
				*why = "integer out of range";
				return -EINVAL;
			}
			b->mag[f] = b->mag[f] * 10 + d;
		}
		if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) {
			*why = "member values must be integers";
			return -EINVAL;
		}
		b->present |= 1u << f;
		p = skip_ws(p, end);
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == '}')
			break;
		*why = "expected ',' or '}'";
		return -EINVAL;
	}
done:
	p = skip_ws(p + 1, end);
	if (p != end) {
		*why = "trailing bytes after the object";
		return -EINVAL;
	}
	return 0;
}

static bool get_u(const struct body *b, int f, uint64_t max, uint64_t *v)
{
	if (!(b->present & (1u << f)) || b->neg[f] || b->mag[f] > max)
		return false;
	*v = b->mag[f];
	return true;
}

static bool get_i(const struct body *b, int f, int64_t *v)
{
	if (!(b->present & (1u << f)))
		return false;
	if (b->neg[f]) {
		if (b->mag[f] > (uint64_t)INT64_MAX + 1)
			return false;
		*v = b->mag[f] == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)b->mag[f];
	} else {
		if (b->mag[f] > (uint64_t)INT64_MAX)
			return false;
		*v = (int64_t)b->mag[f];
	}
	return true;
}

/* ---- running on the workers ---- */

static bool running(const struct fs_admin *a)
{
	return a->p.on_workers && (!a->p.workers_running || *a->p.workers_running);
}

static int on_all(struct fs_admin *a, persist_worker_fn fn)
{
	if (running(a))
		return a->p.on_workers(a->p.on_workers_ctx, fn, a, ADMIN_CALL_TIMEOUT_MS) < 0
			       ? -ETIMEDOUT
			       : 0;
	for (unsigned i = 0; i < a->n; i++)
		fn(a, i);
	return 0;
}

static int run_durable(struct fs_admin *a, persist_worker_fn fn)
{
	return persist_run_durable(a->p.ps, running(a) ? a->p.on_workers : NULL,
				   a->p.on_workers_ctx, fn, a);
}

static void w_find(void *ctx, unsigned i)
{
	struct fs_admin *a = ctx;

	a->found[i] = store_admin_find(a->shards[i], a->rid, &a->found_ch[i]) == 0;
}

static void w_stock(void *ctx, unsigned i)
{
	struct fs_admin *a = ctx;

	if (i == a->target)
		a->rc = store_admin_stock(a->shards[i], a->id, a->delta, a->rid, fs_now_ns(), &a->ch);
}

static void w_window(void *ctx, unsigned i)
{
	struct fs_admin *a = ctx;

	if (i == 0)
		a->rc = store_admin_window(a->shards[0], a->id, a->start_ns, a->end_ns, a->rid,
					   fs_now_ns(), &a->ch);
}

static void w_counts(void *ctx, unsigned i)
{
	struct fs_admin *a = ctx;
	struct cfg_item it;

	a->count_rc[i] = 0;
	for (uint32_t k = a->list_from; k < a->list_to; k++)
		if (store_catalog_item_at(a->p.cat, k, &it, NULL) == 0 &&
		    fs_shard_of_item(it.id, a->n) == i &&
		    store_item_counts(a->shards[i], it.id, &a->counts[k]) != 0)
			a->count_rc[i] = -ENOENT;
}

/* ---- the catalog grows (activities, items) ---- */

static void w_grow(void *ctx, unsigned i)
{
	struct fs_admin *a = ctx;

	(void)store_shard_grow(a->shards[i], &a->def);
	a->grown[i] = true;
}

static void w_ungrow(void *ctx, unsigned i)
{
	struct fs_admin *a = ctx;

	if (a->grown[i])
		store_shard_ungrow(a->shards[i], &a->def);
	a->grown[i] = false;
}

static int journal_def(struct fs_admin *a, const void *rec, uint32_t len)
{
	struct wal *w;
	int64_t r;

	if (a->p.journal)
		return a->p.journal(a->p.journal_ctx, 0, rec, len);
	if (!(w = persist_wal(a->p.ps, 0)))
		return 0; /* durability none: nothing is logged */
	r = wal_append_admin(w, rec, len);
	return r < 0 ? (int)r : 0;
}

/* Shard 0's thread: the record, then the publication. */
static void w_define(void *ctx, unsigned i)
{
	struct fs_admin *a = ctx;
	int n;

	if (i != 0)
		return;
	n = wal_catalog_encode(a->rec, sizeof(a->rec), &a->def);
	FS_ASSERT(n > 0);
	a->rc = journal_def(a, a->rec, (uint32_t)n);
	if (a->rc == 0)
		a->rc = store_catalog_define(a->p.cat, &a->def);
}

/* The request_id of a call that created catalog entries: 1 with its
 * activity and whether it created it, 0 when none did. */
static int catalog_rid(const struct fs_admin *a, uint64_t rid, uint32_t *act, bool *new_act)
{
	struct cfg_activity ca;
	struct cfg_item it;
	uint64_t r;

	for (uint32_t k = 0; store_catalog_activity_at(a->p.cat, k, &ca, &r) == 0; k++)
		if (r == rid) {
			*act = ca.id;
			*new_act = true;
			return 1;
		}
	for (uint32_t k = 0; store_catalog_item_at(a->p.cat, k, &it, &r) == 0; k++)
		if (r == rid) {
			*act = it.activity_id;
			*new_act = false;
			return 1;
		}
	return 0;
}

static void w_audit(void *ctx, unsigned i)
{
	struct fs_admin *a = ctx;

	a->audit_err[i][0] = '\0';
	a->audit_rc[i] = store_audit(a->shards[i], a->audit_err[i], sizeof(a->audit_err[i]));
}

/* A previous change with this request_id (any shard): 1 and *ch, 0, or -errno. */
static int find_previous(struct fs_admin *a, uint64_t rid, struct store_change *ch)
{
	int rc;

	a->rid = rid;
	memset(a->found, 0, sizeof(a->found));
	if ((rc = on_all(a, w_find)) < 0)
		return rc;
	for (unsigned i = 0; i < a->n; i++)
		if (a->found[i]) {
			*ch = a->found_ch[i];
			return 1;
		}
	return 0;
}

/* ---- answers rebuilt from records (the same for a retry) ---- */

static size_t answer_stock(struct out *o, int *status, const struct store_change *ch)
{
	put(o,
	    "{\"ok\":true,\"request_id\":%" PRIu64 ",\"item_id\":%" PRIu32 ",\"requested\":%" PRId64
	    ",\"applied\":%" PRId64 ",\"total\":%" PRIu64 "}\n",
	    ch->request_id, ch->item_id, (int64_t)ch->user_id,
	    (int64_t)(ch->ref - ch->order_id), ch->ref);
	return finish(o, status, 200);
}

static size_t answer_window(struct out *o, int *status, const struct store_change *ch)
{
	put(o,
	    "{\"ok\":true,\"request_id\":%" PRIu64 ",\"activity_id\":%" PRIu64
	    ",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 "}\n",
	    ch->request_id, ch->user_id, (int64_t)ch->order_id, (int64_t)ch->ref);
	return finish(o, status, 200);
}

static size_t storage_fail(struct out *o, int *status, int rc)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "not applied or not known durable: %s", fs_strerror(rc));
	return fail(o, status, 503, msg);
}

/* ---- handlers ---- */

static size_t h_stock(struct fs_admin *a, const struct body *b, struct out *o, int *status)
{
	uint64_t rid, item;
	int64_t delta;
	struct store_change prev;
	int rc;

	if (!get_u(b, F_REQUEST_ID, UINT64_MAX, &rid) || rid == 0 ||
	    !get_u(b, F_ITEM_ID, UINT32_MAX, &item) || item == 0 || !get_i(b, F_DELTA, &delta) ||
	    (b->present & ~(1u << F_REQUEST_ID | 1u << F_ITEM_ID | 1u << F_DELTA)))
		return fail(o, status, 400,
			    "stock needs exactly request_id (> 0), item_id (> 0) and delta");
	if (store_item_available(a->p.cat, (uint32_t)item) < 0)
		return fail(o, status, 404, "unknown item");
	if (catalog_rid(a, rid, &(uint32_t){0}, &(bool){false}) == 1)
		return fail(o, status, 409, "request_id already used for another change");
	if ((rc = find_previous(a, rid, &prev)) < 0)
		return storage_fail(o, status, rc);
	if (rc == 1) {
		if (prev.type != STORE_CH_STOCK || prev.item_id != item ||
		    (int64_t)prev.user_id != delta)
			return fail(o, status, 409, "request_id already used for another change");
		return answer_stock(o, status, &prev);
	}
	a->rid = rid;
	a->id = (uint32_t)item;
	a->delta = delta;
	a->target = fs_shard_of_item((uint32_t)item, a->n);
	a->rc = -ETIMEDOUT;
	rc = run_durable(a, w_stock);
	if (a->rc < 0 && a->rc != -ETIMEDOUT)
		return storage_fail(o, status, a->rc);
	if (rc < 0 || a->rc < 0)
		return storage_fail(o, status, rc < 0 ? rc : a->rc);
	return answer_stock(o, status, &a->ch);
}

/* The answer of a catalog call, rebuilt from the catalog (so a retry gets
 * the same one): what the call with this request_id created. */
static size_t answer_def(struct fs_admin *a, struct out *o, int *status, uint64_t rid, uint32_t act,
			 bool new_act)
{
	struct cfg_item it;
	uint64_t r;
	bool first = true;

	put(o,
	    "{\"ok\":true,\"request_id\":%" PRIu64 ",\"activity_id\":%" PRIu32
	    ",\"created_activity\":%s,\"items\":[",
	    rid, act, new_act ? "true" : "false");
	for (uint32_t k = 0; store_catalog_item_at(a->p.cat, k, &it, &r) == 0; k++) {
		if (r != rid || !store_catalog_is_runtime(a->p.cat, k))
			continue;
		put(o,
		    "%s{\"item_id\":%" PRIu32 ",\"shard\":%u,\"total\":%" PRIu32
		    ",\"price_cents\":%" PRIu64 ",\"per_user_limit\":%" PRIu32
		    ",\"max_per_order\":%u}",
		    first ? "" : ",", it.id, fs_shard_of_item(it.id, a->n), it.total,
		    it.price_cents, it.per_user_limit, it.max_per_order);
		first = false;
	}
	put(o, "]}\n");
	return finish(o, status, 200);
}

static size_t h_define(struct fs_admin *a, bool new_act, const char *body, size_t len,
		       struct out *o, int *status)
{
	static struct store_catalog_def def; /* 4 KiB; control thread only */
	struct store_change prev;
	char why[192];
	uint32_t act;
	bool was_new;
	int rc;

	if (fs_admin_parse_def(body ? body : "", body ? len : 0, new_act, &def, why, sizeof(why)) <
	    0)
		return fail(o, status, 400, why);
	if (catalog_rid(a, def.request_id, &act, &was_new) == 1) {
		if (was_new != new_act || act != def.act.id)
			return fail(o, status, 409, "request_id already used for another change");
		return answer_def(a, o, status, def.request_id, act, was_new);
	}
	if ((rc = find_previous(a, def.request_id, &prev)) < 0)
		return storage_fail(o, status, rc);
	if (rc == 1)
		return fail(o, status, 409, "request_id already used for another change");
	rc = store_catalog_check_def(a->p.cat, &def, why, sizeof(why));
	if (rc < 0)
		return fail(o, status,
			    rc == -EEXIST   ? 409
			    : rc == -ENOENT ? 404
			    : rc == -ENOSPC ? 507
					    : 400,
			    why);
	if (a->catalog_stuck)
		return fail(o, status, 503,
			    "a failed creation could not be undone on every worker: restart the "
			    "daemon before creating more");
	def.time_ns = fs_steady_ns();
	a->def = def;
	memset(a->grown, 0, sizeof(a->grown));
	a->rc = -ETIMEDOUT;
	if ((rc = on_all(a, w_grow)) == 0)
		rc = run_durable(a, w_define);
	if (a->rc < 0) { /* not journalled, not published: undo the room made */
		/* A call that timed out was withdrawn or finished (dp_engine_on_workers),
		 * so grown[] is exact; a shard that cannot be reached keeps its room,
		 * and the next definition would take the same indexes: refuse them. */
		if (on_all(a, w_ungrow) < 0)
			a->catalog_stuck = true;
		return storage_fail(o, status, a->rc == -ETIMEDOUT && rc < 0 ? rc : a->rc);
	}
	if (rc < 0)
		return storage_fail(o, status, rc);
	return answer_def(a, o, status, def.request_id, def.act.id, new_act);
}

enum win_kind { WIN_OPEN, WIN_CLOSE, WIN_SET };

static size_t h_window(struct fs_admin *a, enum win_kind kind, const struct body *b,
		       struct out *o, int *status)
{
	uint64_t rid, act;
	int64_t start, end, now = fs_now_ns(), given_start = 0, given_end = 0;
	unsigned allowed = 1u << F_REQUEST_ID | 1u << F_ACTIVITY_ID;
	bool has_end;
	struct store_change prev;
	int rc;

	allowed |= kind == WIN_OPEN ? 1u << F_END_NS : 0;
	allowed |= kind == WIN_SET ? (1u << F_START_NS | 1u << F_END_NS) : 0;
	if (!get_u(b, F_REQUEST_ID, UINT64_MAX, &rid) || rid == 0 ||
	    !get_u(b, F_ACTIVITY_ID, UINT32_MAX, &act) || act == 0 || (b->present & ~allowed) ||
	    (kind == WIN_SET && (!get_i(b, F_START_NS, &given_start) ||
				 !get_i(b, F_END_NS, &given_end))))
		return fail(o, status, 400,
			    kind == WIN_SET ? "window needs request_id, activity_id, start_ns, end_ns"
			    : kind == WIN_OPEN ? "open needs request_id and activity_id (end_ns optional)"
					       : "close needs request_id and activity_id");
	has_end = kind == WIN_OPEN && get_i(b, F_END_NS, &given_end);
	if ((b->present & (1u << F_END_NS)) && kind == WIN_OPEN && !has_end)
		return fail(o, status, 400, "end_ns out of range");
	if (store_catalog_window(a->p.cat, (uint32_t)act, &start, &end, NULL) != 0)
		return fail(o, status, 404, "unknown activity");
	if (catalog_rid(a, rid, &(uint32_t){0}, &(bool){false}) == 1)
		return fail(o, status, 409, "request_id already used for another change");
	if ((rc = find_previous(a, rid, &prev)) < 0)
		return storage_fail(o, status, rc);
	if (rc == 1) {
		if (prev.type != STORE_CH_WINDOW || prev.user_id != act)
			return fail(o, status, 409, "request_id already used for another change");
		return answer_window(o, status, &prev);
	}
	switch (kind) {
	case WIN_OPEN:
		start = now;
		if (has_end)
			end = given_end;
		if (end <= now)
			return fail(o, status, 409,
				    "the window has ended (or end_ns is not in the future): give a "
				    "later end_ns");
		break;
	case WIN_CLOSE:
		end = now;
		if (start >= end)
			start = end - 1;
		break;
	case WIN_SET:
		start = given_start;
		end = given_end;
		if (start >= end)
			return fail(o, status, 400, "start_ns must be before end_ns");
		break;
	}
	a->rid = rid;
	a->id = (uint32_t)act;
	a->start_ns = start;
	a->end_ns = end;
	a->rc = -ETIMEDOUT;
	rc = run_durable(a, w_window);
	if (rc < 0 || a->rc < 0)
		return storage_fail(o, status, rc < 0 ? rc : a->rc);
	return answer_window(o, status, &a->ch);
}

#define ADMIN_PAGE_DEFAULT  1000u
#define ADMIN_PAGE_MAX	    FS_ITEMS_MAX
#define ADMIN_ITEM_TEXT_MAX 320u /* one item's JSON, at most */

static void put_activities(struct fs_admin *a, struct out *o, int64_t now)
{
	struct cfg_activity act;

	put(o, "\"activities\":[");
	for (uint32_t k = 0; store_catalog_activity_at(a->p.cat, k, &act, NULL) == 0; k++) {
		int64_t start = act.start_ns, end = act.end_ns;
		(void)store_catalog_window(a->p.cat, act.id, &start, &end, NULL);
		put(o, "%s{\"activity_id\":%" PRIu32 ",\"name\":", k ? "," : "", act.id);
		put_str(o, act.name);
		put(o,
		    ",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"open\":%s"
		    ",\"pay_timeout_s\":%" PRIu32 ",\"require_token\":%s,\"runtime\":%s}",
		    start, end, now >= start && now < end ? "true" : "false", act.pay_timeout_s,
		    act.require_token ? "true" : "false",
		    store_catalog_act_is_runtime(a->p.cat, k) ? "true" : "false");
	}
	put(o, "],");
}

/* One page of the catalog: items from catalog index `from`, at most limit,
 * and no more than the answer buffer holds; "next" is where the following
 * page starts (null at the end). */
static size_t h_items(struct fs_admin *a, bool activities, uint32_t from, uint32_t limit,
		      struct out *o, int *status)
{
	uint32_t n = store_catalog_items(a->p.cat), k;
	int rc;

	if (from > n)
		from = n;
	a->list_from = from;
	a->list_to = limit > n - from ? n : from + limit;
	memset(a->counts + from, 0, (a->list_to - from) * sizeof(*a->counts));
	if ((rc = on_all(a, w_counts)) < 0)
		return storage_fail(o, status, rc);
	put(o, "{");
	if (activities)
		put_activities(a, o, fs_now_ns());
	put(o, "\"total_items\":%" PRIu32 ",\"from\":%" PRIu32 ",\"items\":[", n, from);
	for (k = from; k < a->list_to && !o->full; k++) {
		const struct store_item_counts *c = &a->counts[k];
		struct cfg_item it;
		if (o->cap - o->n < ADMIN_ITEM_TEXT_MAX + 64)
			break; /* the page is full: the client asks for "next" */
		FS_ASSERT(store_catalog_item_at(a->p.cat, k, &it, NULL) == 0);
		put(o,
		    "%s{\"item_id\":%" PRIu32 ",\"activity_id\":%" PRIu32 ",\"shard\":%u"
		    ",\"total\":%" PRIu64 ",\"available\":%" PRIu64 ",\"reserved\":%" PRIu64
		    ",\"paid\":%" PRIu64 ",\"sold\":%" PRIu64 ",\"per_user_limit\":%" PRIu32
		    ",\"max_per_order\":%u,\"price_cents\":%" PRIu64 "}",
		    k > from ? "," : "", it.id, it.activity_id, fs_shard_of_item(it.id, a->n),
		    c->total, c->available, c->reserved, c->paid, c->reserved + c->paid,
		    it.per_user_limit, it.max_per_order, it.price_cents);
	}
	if (k < n)
		put(o, "],\"next\":%" PRIu32 "}\n", k);
	else
		put(o, "],\"next\":null}\n");
	return finish(o, status, 200);
}

static size_t h_audit(struct fs_admin *a, struct out *o, int *status)
{
	uint64_t total = 0, avail = 0, reserved = 0, paid = 0;
	uint32_t n = store_catalog_items(a->p.cat);
	bool ok = true;
	int rc;

	a->list_from = 0;
	a->list_to = n;
	memset(a->counts, 0, n * sizeof(*a->counts));
	if ((rc = on_all(a, w_audit)) < 0 || (rc = on_all(a, w_counts)) < 0)
		return storage_fail(o, status, rc);
	for (unsigned i = 0; i < a->n; i++)
		ok &= a->audit_rc[i] == 0;
	for (uint32_t k = 0; k < n; k++) {
		const struct store_item_counts *c = &a->counts[k];
		total += c->total;
		avail += c->available;
		reserved += c->reserved;
		paid += c->paid;
	}
	ok &= avail + reserved + paid == total;
	put(o, "{\"ok\":%s,\"shards\":[", ok ? "true" : "false");
	for (unsigned i = 0; i < a->n; i++) {
		put(o, "%s{\"shard\":%u,\"ok\":%s", i ? "," : "", i, a->audit_rc[i] ? "false" : "true");
		if (a->audit_rc[i]) {
			put(o, ",\"error\":");
			put_str(o, a->audit_err[i]);
		}
		put(o, "}");
	}
	put(o,
	    "],\"items\":%" PRIu32 ",\"total\":%" PRIu64 ",\"available\":%" PRIu64
	    ",\"reserved\":%" PRIu64 ",\"paid\":%" PRIu64 "}\n",
	    n, total, avail, reserved, paid);
	return finish(o, status, 200);
}

static size_t h_snapshot(struct fs_admin *a, struct out *o, int *status)
{
	int rc = persist_snapshot(a->p.ps, running(a) ? a->p.on_workers : NULL,
				  a->p.on_workers_ctx, "admin request");

	if (rc < 0) {
		char msg[128];
		snprintf(msg, sizeof(msg), "snapshot not taken: %s", fs_strerror(rc));
		return fail(o, status, 500, msg);
	}
	put(o, "{\"ok\":true}\n");
	return finish(o, status, 200);
}

/* "from=K&limit=N" (both optional) of a listing. 0 or -EINVAL. */
static int parse_page(const char *q, uint32_t *from, uint32_t *limit)
{
	*from = 0;
	*limit = ADMIN_PAGE_DEFAULT;
	while (q && *q) {
		unsigned long long v;
		char *end;
		uint32_t *dst = strncmp(q, "from=", 5) == 0    ? from
				: strncmp(q, "limit=", 6) == 0 ? limit
							       : NULL;
		if (!dst)
			return -EINVAL;
		q = strchr(q, '=') + 1;
		if (!isdigit((unsigned char)*q))
			return -EINVAL;
		errno = 0;
		v = strtoull(q, &end, 10);
		if (errno || v > (dst == limit ? ADMIN_PAGE_MAX : UINT32_MAX) ||
		    (*end && *end != '&'))
			return -EINVAL;
		*dst = (uint32_t)v;
		q = *end ? end + 1 : end;
	}
	return *limit ? 0 : -EINVAL;
}

/* ---- GET /admin/state/L0,L1,...: the state at per-shard LSNs ----
 *
 * A read-only recovery of this appliance's own data directory (persist_open
 * with PERSIST_OPEN_READONLY and to_lsn: the snapshot, then each log up to
 * L_i, the way `flashsale audit` recovers offline), into shards of its own
 * (freed before answering): per item total/available/reserved/paid, per
 * shard the orders and an order digest (FNV-1a 64 over every order's
 * order_id, user_id, item_id, qty and state, in order-id order). The same
 * records give the same digest on any appliance, so a primary and its
 * standby compare equal at a common LSN. Runs on the caller's (control)
 * thread, synchronously: it costs what a restart's recovery costs (a
 * snapshot load and a log replay) and memory for one more set of shards. */
static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static void state_shard(struct out *o, const struct store_shard *s, unsigned i, uint64_t lsn)
{
	struct store_stats st;
	uint64_t h = 0xcbf29ce484222325ull, n = 0;

	store_shard_stats(s, &st);
	for (uint64_t seq = st.next_seq - st.orders; seq < st.next_seq; seq++) {
		struct store_order_view v;
		if (store_order_get(s, fs_order_id(seq, i), &v) != 0)
			continue;
		h = fnv(h, &v.order_id, sizeof(v.order_id));
		h = fnv(h, &v.user_id, sizeof(v.user_id));
		h = fnv(h, &v.item_id, sizeof(v.item_id));
		h = fnv(h, &v.qty, sizeof(v.qty));
		h = fnv(h, &v.state, sizeof(v.state));
		n++;
	}
	put(o, "%s{\"shard\":%u,\"lsn\":%" PRIu64 ",\"orders\":%" PRIu64 ",\"digest\":\"%016" PRIx64
	       "\"}",
	    i ? "," : "", i, lsn, n, h);
}

size_t fs_admin_state(const struct cfg *cfg, const char *method, const char *path, char *out,
		      size_t outlen, int *status)
{
	struct out o = {.buf = out, .cap = outlen};
	uint64_t lsn[FS_WORKERS_MAX];
	struct store_catalog *cat = NULL;
	struct persist *ps = NULL;
	const char *p = path + strlen("/state/");
	char err[1024];
	unsigned n = 0;
	int rc;

	FS_ASSERT(outlen >= 128);
	if (strcmp(method, "GET") != 0)
		return fail(&o, status, 405, "use GET");
	if (strncmp(path, "/state/", 7) != 0)
		return fail(&o, status, 404, "GET /admin/state/LSN0,LSN1,... (one LSN per shard)");
	while (n < FS_WORKERS_MAX && isdigit((unsigned char)*p)) {
		char *end;
		errno = 0;
		lsn[n++] = strtoull(p, &end, 10);
		if (errno)
			break;
		p = end;
		if (*p != ',')
			break;
		p++;
	}
	if (*p || n != cfg->workers) {
		snprintf(err, sizeof(err), "GET /admin/state/LSN0,LSN1,...: expected %u LSNs, one per shard",
			 cfg->workers);
		return fail(&o, status, 400, err);
	}
	if ((rc = store_catalog_create(cfg, cfg->workers, &cat)) < 0) {
		snprintf(err, sizeof(err), "catalog: %s", fs_strerror(rc));
		return fail(&o, status, 500, err);
	}
	struct persist_params pp = {.cfg = cfg, .cat = cat, .flags = PERSIST_OPEN_READONLY,
				    .to_lsn = lsn};
	err[0] = '\0';
	if ((rc = persist_open(&pp, &ps, err, sizeof(err))) < 0) {
		store_catalog_free(cat);
		return fail(&o, status, rc == -ERANGE ? 409 : 500, err[0] ? err : fs_strerror(rc));
	}
	struct store_shard **sh = persist_shards(ps);
	put(&o, "{\"ok\":true,\"shards\":[");
	for (unsigned i = 0; i < n; i++)
		state_shard(&o, sh[i], i, lsn[i]);
	put(&o, "],\"items\":[");
	struct cfg_item it;
	for (uint32_t k = 0, m = 0; store_catalog_item_at(store_shard_catalog(sh[0]), k, &it, NULL) == 0;
	     k++) {
		struct store_item_counts c;
		if (store_item_counts(sh[fs_shard_of_item(it.id, n)], it.id, &c) != 0)
			continue;
		put(&o, "%s{\"id\":%" PRIu32 ",\"total\":%" PRIu64 ",\"available\":%" PRIu64
			",\"reserved\":%" PRIu64 ",\"paid\":%" PRIu64 "}",
		    m++ ? "," : "", c.item_id, c.total, c.available, c.reserved, c.paid);
	}
	put(&o, "]}\n");
	persist_close(ps);
	store_catalog_free(cat);
	return finish(&o, status, 200);
}

size_t fs_admin_handle(struct fs_admin *a, const char *method, const char *target, const char *body,
		       size_t len, char *out, size_t outlen, int *status)
{
	struct out o = {.buf = out, .cap = outlen};
	bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
	const char *qm = strchr(target, '?'), *query = qm ? qm + 1 : NULL;
	char path[64];
	struct body b;
	const char *why = "bad body";
	uint32_t from, limit;

	FS_ASSERT(outlen >= 128);
	out[0] = '\0';
	snprintf(path, sizeof(path), "%.*s", qm ? (int)(qm - target) : (int)strlen(target), target);
	if (!get && !post)
		return fail(&o, status, 405, "only GET and POST");
	if (post && (strcmp(path, "/activities") == 0 || strcmp(path, "/items") == 0))
		return h_define(a, strcmp(path, "/activities") == 0, body, len, &o, status);
	if (strcmp(path, "/items") == 0 || strcmp(path, "/catalog") == 0 ||
	    strcmp(path, "/audit") == 0) {
		if (!get)
			return fail(&o, status, 405, "use GET");
		if (strcmp(path, "/audit") == 0)
			return h_audit(a, &o, status);
		if (parse_page(query, &from, &limit) < 0)
			return fail(&o, status, 400,
				    "query: from=INDEX and limit=N (1.."
				    "65536) only");
		return h_items(a, strcmp(path, "/catalog") == 0, from, limit, &o, status);
	}
	if (query)
		return fail(&o, status, 400, "no query string here");
	if (strcmp(path, "/stock") != 0 && strcmp(path, "/open") != 0 &&
	    strcmp(path, "/close") != 0 && strcmp(path, "/window") != 0 &&
	    strcmp(path, "/snapshot") != 0 && strcmp(path, "/activities") != 0)
		return fail(&o, status, 404,
			    "unknown admin path: items, catalog, audit, activities, stock, open, "
			    "close, window, snapshot");
	if (!post)
		return fail(&o, status, 405, "use POST");
	if (parse_body(body ? body : "", body ? len : 0, &b, &why) < 0)
		return fail(&o, status, 400, why);
	if (strcmp(path, "/snapshot") == 0)
		return h_snapshot(a, &o, status);
	if (strcmp(path, "/stock") == 0)
		return h_stock(a, &b, &o, status);
	return h_window(a, strcmp(path, "/open") == 0    ? WIN_OPEN
			   : strcmp(path, "/close") == 0 ? WIN_CLOSE
							 : WIN_SET,
			&b, &o, status);
}

int fs_admin_create(const struct fs_admin_params *p, struct fs_admin **out)
{
	struct fs_admin *a;

	*out = NULL;
	if (!p->cfg || !p->cat || !p->ps)
		return -EINVAL;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->p = *p;
	a->n = persist_nshards(p->ps);
	a->shards = persist_shards(p->ps);
	a->cap_items = store_catalog_capacity(p->cfg);
	a->counts = calloc(a->cap_items + 1, sizeof(*a->counts));
	if (!a->counts) {
		free(a);
		return -ENOMEM;
	}
	*out = a;
	return 0;
}

void fs_admin_free(struct fs_admin *a)
{
	if (!a)
		return;
	free(a->counts);
	free(a);
}
