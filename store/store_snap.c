/*
 * store_snap.c — shard images and restores: how a shard's state leaves the
 * worker for a snapshot, and how it comes back at start-up.
 *
 * CAPTURE. A snapshot must not stop the data path for more than a burst, so
 * store_image_capture() runs on the worker thread between two bursts (the
 * engine's dp_engine_on_workers) and only copies memory into an image
 * allocated once at start (store_image_create, sized for the shard's
 * capacity): the orders array (all orders, with their activity-FIFO links),
 * the idempotency ring from head to tail (two memcpys around the wrap, dead
 * entries included: they count towards the ring's capacity), the per-item
 * reserved/paid counters, each owned item's published available, the
 * activity FIFO heads and the counters. No allocation, no hashing, no
 * syscall: ~40 bytes per order and per stored answer (bench_snap measures
 * it). The derived tables (holdings, idempotency index, winners filter,
 * per-state counts) are not copied; restores rebuild them.
 *
 * RESTORE. Two ways in, one set of rules:
 *  - store_shard_restore_image(): from an in-memory image (tests, and a
 *    restart that kept the image); the FIFOs are copied as they were, so
 *    even the lazy unlinking of settled orders is identical.
 *  - the streaming restore (store_restore_begin / _order / _idem / _end),
 *    fed row by row from SQLite: orders in sequence order (contiguous from
 *    first_seq), stored answers oldest first. The FIFOs are rebuilt from the
 *    RESERVED orders in creation order, which is deadline order within an
 *    activity (every reservation of an activity has the same pay timeout).
 *    Only store_expire's per-call bound on unlinking settled orders can see
 *    the difference (it may expire more in one call); what expires and when
 *    is the same.
 * Both rebuild, per order: the holding of (user, item) (created by the
 * user's first order of the item and never deleted, like store_shard.c;
 * units = reserved + paid), the winners-filter bits of (user, request), the
 * per-state and per-item counts; per stored answer, its index word. _end
 * then publishes each owned item's available (total - reserved - paid) for
 * the gates and runs store_audit. Input is checked as it comes: a snapshot
 * is input, so anything that does not fit (unknown or foreign item, bad
 * state, a gap in the sequence, over a limit or over the stock) is an error,
 * never an assert.
 *
 * The target must be a fresh shard of this catalog (nothing decided yet);
 * the restore sets first_seq from the image (today always 1: orders are
 * never freed, so an image holds every order the shard ever made).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

#define SEQ_LIMIT (1ULL << (64 - FS_ORDER_SHARD_BITS))

/* Region 0 of an image's raw form (store_image_region): what the other
 * regions need to be read back, and enough to refuse another layout. */
struct image_hdr {
	uint32_t layout;			    /* STORE_IMAGE_LAYOUT */
	uint16_t order_size, idem_size;		    /* sizeof the records */
	uint32_t shard_id, n_owned, n_act, unused;
	uint64_t first_seq, norders, ring_count;
	struct store_stats st;
};

struct store_image {
	struct image_hdr hdr; /* region 0; filled by capture, or by a load */
	const struct store_catalog *cat;
	unsigned shard_id;
	uint32_t n_owned, n_act;       /* at the last capture (or load) */
	uint32_t own_cap, act_cap;     /* capacities: the catalog grows at run time */
	uint64_t max_orders, ring_cap; /* capacities (of the shard it was made for) */
	uint64_t first_seq, norders, ring_count;
	struct store_stats st;
	struct store_order *orders;	/* max_orders */
	struct store_idem *ring;	/* ring_cap; [0] is the oldest entry */
	struct store_item_state *items; /* n_owned of own_cap */
	uint32_t *avail;		/* n_owned of own_cap */
	uint32_t *owned;		/* n_owned of own_cap: catalog index of each */
	struct store_fifo *fifo;	/* n_act of act_cap */
	struct store_change admin[STORE_ADMIN_RECENT]; /* recent admin changes, oldest first */
	uint32_t admin_count;
};

/* ---- images ---- */

void store_image_free(struct store_image *img)
{
	if (!img)
		return;
	free(img->orders);
	free(img->ring);
	free(img->items);
	free(img->avail);
	free(img->owned);
	free(img->fifo);
	free(img);
}

int store_image_create(const struct store_shard *s, struct store_image **out)
{
	struct store_image *img = calloc(1, sizeof(*img));

	*out = NULL;
	if (!img)
		return -ENOMEM;
	img->cat = s->cat;
	img->shard_id = s->shard_id;
	img->n_owned = s->n_owned;
	img->n_act = store_cat_nacts(s->cat);
	img->own_cap = s->own_cap;
	img->act_cap = s->cat->cap_acts;
	img->max_orders = s->max_orders;
	img->ring_cap = s->ring_cap;
	/* store_zalloc touches every page now, so no capture page-faults. */
	img->orders = store_zalloc(s->max_orders * sizeof(*img->orders));
	img->ring = store_zalloc(s->ring_cap * sizeof(*img->ring));
	img->items = store_zalloc((img->own_cap + 1) * sizeof(*img->items));
	img->avail = store_zalloc((img->own_cap + 1) * sizeof(*img->avail));
	img->owned = store_zalloc((img->own_cap + 1) * sizeof(*img->owned));
	img->fifo = store_zalloc((img->act_cap + 1) * sizeof(*img->fifo));
	if (!img->orders || !img->ring || !img->items || !img->avail || !img->owned ||
	    !img->fifo) {
		store_image_free(img);
		return -ENOMEM;
	}
	memcpy(img->owned, s->owned, img->n_owned * sizeof(*img->owned));
	*out = img;
	return 0;
}

uint64_t store_image_bytes(const struct store_catalog *cat, const struct store_shard_params *p)
{
	uint64_t nown =
		cat->owned_count[p->shard_id] + (cat->cap_items - store_cat_nitems(cat)) + 1;
	uint64_t nact = cat->cap_acts + 1;

	return sizeof(struct store_image) + p->max_orders * sizeof(struct store_order) +
	       p->max_idempotency * sizeof(struct store_idem) +
	       nown * (sizeof(struct store_item_state) + 2 * sizeof(uint32_t)) +
	       nact * sizeof(struct store_fifo);
}

void store_image_capture(const struct store_shard *s, struct store_image *img)
{
	uint64_t first = s->ring_cap - s->ring_head;

	FS_ASSERT(img->shard_id == s->shard_id && img->max_orders == s->max_orders &&
		  img->ring_cap == s->ring_cap && img->own_cap == s->own_cap &&
		  img->act_cap == s->cat->cap_acts && s->n_owned <= img->own_cap);
	img->n_owned = s->n_owned;
	img->n_act = store_cat_nacts(s->cat);
	memcpy(img->owned, s->owned, s->n_owned * sizeof(*img->owned));
	img->first_seq = s->first_seq;
	img->norders = s->norders;
	img->ring_count = s->ring_count;
	img->st = s->st;
	memcpy(img->orders, s->orders, s->norders * sizeof(*s->orders));
	if (first > s->ring_count)
		first = s->ring_count;
	memcpy(img->ring, s->ring + s->ring_head, first * sizeof(*s->ring));
	memcpy(img->ring + first, s->ring, (s->ring_count - first) * sizeof(*s->ring));
	memcpy(img->items, s->items, s->n_owned * sizeof(*s->items));
	img->admin_count = 0;
	while (store_admin_recent(s, img->admin_count, &img->admin[img->admin_count]) == 0)
		img->admin_count++;
	memcpy(img->fifo, s->fifo, img->n_act * sizeof(*s->fifo));
	for (uint32_t l = 0; l < s->n_owned; l++)
		img->avail[l] = atomic_load_explicit(&s->cat->items[s->owned[l]].available,
						     memory_order_relaxed);
	img->hdr = (struct image_hdr){
		.layout = STORE_IMAGE_LAYOUT,
		.order_size = sizeof(struct store_order),
		.idem_size = sizeof(struct store_idem),
		.shard_id = img->shard_id,
		.n_owned = img->n_owned,
		.n_act = img->n_act,
		.first_seq = img->first_seq,
		.norders = img->norders,
		.ring_count = img->ring_count,
		.st = img->st,
	};
}

/* ---- raw form (fast restarts) ---- */

/* Region i: its memory, bytes in use (per the header) and capacity. */
static void region_of(struct store_image *img, unsigned i, uint8_t **p, size_t *len, size_t *cap)
{
	const struct image_hdr *h = &img->hdr;

	switch (i) {
	case 0: *p = (uint8_t *)&img->hdr, *len = *cap = sizeof(img->hdr); break;
	case 1:
		*p = (uint8_t *)img->orders, *len = h->norders * sizeof(*img->orders);
		*cap = img->max_orders * sizeof(*img->orders);
		break;
	case 2:
		*p = (uint8_t *)img->ring, *len = h->ring_count * sizeof(*img->ring);
		*cap = img->ring_cap * sizeof(*img->ring);
		break;
	case 3:
		*p = (uint8_t *)img->items, *len = img->n_owned * sizeof(*img->items);
		*cap = img->own_cap * sizeof(*img->items);
		break;
	case 4:
		*p = (uint8_t *)img->avail, *len = img->n_owned * sizeof(*img->avail);
		*cap = img->own_cap * sizeof(*img->avail);
		break;
	default:
		*p = (uint8_t *)img->fifo, *len = img->n_act * sizeof(*img->fifo);
		*cap = img->act_cap * sizeof(*img->fifo);
		break;
	}
}

int store_image_region(const struct store_image *img, unsigned i, const void **data, size_t *len)
{
	size_t cap;
	uint8_t *p;

	if (i >= STORE_IMAGE_REGIONS)
		return -ENOENT;
	region_of((struct store_image *)img, i, &p, len, &cap);
	*data = p;
	return 0;
}

int store_image_region_load(struct store_image *img, unsigned i, uint64_t off, const void *src,
			    size_t n)
{
	size_t len, cap;
	uint8_t *p;

	if (i >= STORE_IMAGE_REGIONS)
		return -ENOENT;
	region_of(img, i, &p, &len, &cap);
	if (off > cap || n > cap - off)
		return -EINVAL; /* more than this shard's capacity */
	if (n) /* an empty SQLite blob comes back as NULL */
		memcpy(p + off, src, n);
	return 0;
}

int store_image_load_check(struct store_image *img, const size_t loaded[STORE_IMAGE_REGIONS])
{
	const struct image_hdr *h = &img->hdr;

	if (loaded[0] != sizeof(*h) || h->layout != STORE_IMAGE_LAYOUT || h->order_size != sizeof(struct store_order) ||
	    h->idem_size != sizeof(struct store_idem))
		return -EPROTO; /* another build's layout: use the rows */
	if (h->shard_id != img->shard_id || h->n_owned != img->n_owned || h->n_act != img->n_act ||
	    h->norders > img->max_orders || h->ring_count > img->ring_cap)
		return -EINVAL;
	img->first_seq = h->first_seq;
	img->norders = h->norders;
	img->ring_count = h->ring_count;
	img->st = h->st;
	for (unsigned i = 0; i < STORE_IMAGE_REGIONS; i++) {
		size_t len, cap;
		uint8_t *p;
		region_of(img, i, &p, &len, &cap);
		if (loaded[i] != len)
			return -EINVAL;
	}
	return 0;
}

void store_image_info(const struct store_image *img, struct store_image_info *out)
{
	*out = (struct store_image_info){
		.shard_id = img->shard_id,
		.first_seq = img->first_seq,
		.next_seq = img->first_seq + img->norders,
		.orders = img->norders,
		.idem_entries = img->ring_count,
		.items = img->n_owned,
	};
}

int store_image_order(const struct store_image *img, uint64_t i, struct store_order_view *out)
{
	const struct store_catalog *cat = img->cat;
	const struct store_order *o;
	const struct store_item *it;

	if (i >= img->norders)
		return -ENOENT;
	o = &img->orders[i];
	it = &cat->items[o->item];
	*out = (struct store_order_view){
		.order_id = fs_order_id(img->first_seq + i, img->shard_id),
		.user_id = o->user_id,
		.request_id = o->request_id,
		.deadline_ns = o->deadline_ns,
		.created_ns = o->deadline_ns == INT64_MAX
				      ? INT64_MAX
				      : o->deadline_ns - cat->pay_timeout_ns[it->act],
		.item_id = it->id,
		.qty = o->qty,
		.state = o->state,
	};
	return 0;
}

int store_image_idem(const struct store_image *img, uint64_t i, struct store_idem_view *out)
{
	const struct store_idem *e;

	if (i >= img->ring_count)
		return -ENOENT;
	e = &img->ring[i];
	*out = (struct store_idem_view){
		.user_id = e->user_id,
		.request_id = e->request_id,
		.order_id = e->order_id,
		.created_ns = e->created_ns,
		.item_id = e->item_id,
		.qty = e->qty,
		.op = e->op,
		.state = e->state,
	};
	return 0;
}

int store_image_admin(const struct store_image *img, uint32_t i, struct store_change *out)
{
	if (i >= img->admin_count)
		return -ENOENT;
	*out = img->admin[i];
	return 0;
}

const struct store_catalog *store_image_catalog(const struct store_image *img)
{
	return img->cat;
}

int store_image_item(const struct store_image *img, uint32_t l, struct store_item_counts *out)
{
	const struct store_catalog *cat = img->cat;
	uint32_t ci;

	if (l >= img->n_owned)
		return -ENOENT;
	ci = img->owned[l];
	*out = (struct store_item_counts){
		.item_id = cat->items[ci].id,
		.total = img->items[l].total,
		.available = img->avail[l],
		.reserved = img->items[l].reserved,
		.paid = img->items[l].paid,
	};
	return 0;
}

/* ---- restore: rebuilding the derived tables ---- */

/* Slot of (user, ci) in the holdings, or the empty slot where it goes. */
static uint64_t hold_slot(const struct store_shard *s, uint64_t user_id, uint32_t ci)
{
	uint64_t i = store_hash2(user_id, ci) & s->hold_mask;

	while (s->hold[i].user_id != 0 && (s->hold[i].user_id != user_id || s->hold[i].item != ci))
		i = (i + 1) & s->hold_mask;
	return i;
}

/* Account for order oi (already in s->orders): holding, counts, filter. */
static int restore_account(struct store_shard *s, uint32_t oi)
{
	const struct store_order *o = &s->orders[oi];
	struct store_holding *h;
	struct store_item_state *st;

	if (o->item >= s->cat->n_items || s->cat->items[o->item].owner != s->shard_id ||
	    o->state < FS_STATE_RESERVED || o->state > FS_STATE_EXPIRED || o->user_id == 0 ||
	    o->request_id == 0 || o->qty == 0)
		return -EINVAL;
	h = &s->hold[hold_slot(s, o->user_id, o->item)];
	if (h->user_id == 0) {
		if (s->nhold >= s->hold_max)
			return -EINVAL;
		h->user_id = o->user_id;
		h->item = (uint16_t)o->item;
		s->nhold++;
	}
	if ((o->state == FS_STATE_CANCELLED || o->state == FS_STATE_EXPIRED) &&
	    h->closed < UINT16_MAX)
		h->closed++;
	st = &s->items[s->cat->items[o->item].local];
	if (o->state == FS_STATE_RESERVED || o->state == FS_STATE_PAID) {
		h->units += o->qty;
		if (h->units > s->cat->defs[o->item].per_user_limit)
			return -EINVAL;
		if (o->state == FS_STATE_RESERVED)
			st->reserved += o->qty;
		else
			st->paid += o->qty;
		if (st->reserved + st->paid > st->total)
			return -EINVAL;
	}
	s->by_state[o->state]++;
	store_wf_add(s->wf, store_hash2(o->user_id, o->request_id));
	return 0;
}

/* Index ring slot `slot` (a live entry) under its key. Its item must be
 * known: a repeated BUY looks the item up and asserts it exists. */
static int restore_index(struct store_shard *s, uint64_t slot)
{
	const struct store_idem *e = &s->ring[slot];
	uint64_t h = store_hash2(e->user_id, e->request_id);
	uint32_t tag = (uint32_t)(h >> 32);
	uint64_t i = h & s->idx_mask;

	if (store_item_find(s->cat, e->item_id) == STORE_NONE)
		return -EINVAL;
	for (; s->idx[i] != 0; i = (i + 1) & s->idx_mask) {
		const struct store_idem *o = &s->ring[(uint32_t)s->idx[i] - 1];
		if ((uint32_t)(s->idx[i] >> 32) == tag && o->user_id == e->user_id &&
		    o->request_id == e->request_id)
			return -EINVAL; /* two live answers for one key */
	}
	s->idx[i] = (uint64_t)tag << 32 | (slot + 1);
	return 0;
}

static bool idem_valid(const struct store_idem *e)
{
	if (e->op == 0)
		return true; /* superseded on replay: only holds its ring slot */
	if (e->user_id == 0 || e->request_id == 0)
		return false;
	if (e->op == FS_OP_BUY)
		return e->state == 0;
	return (e->op == FS_OP_CONFIRM && e->state == FS_STATE_PAID) ||
	       (e->op == FS_OP_CANCEL && e->state == FS_STATE_CANCELLED);
}

/* ---- streaming restore ---- */

int store_restore_begin(struct store_shard *s, uint64_t first_seq, uint64_t next_seq)
{
	if (s->norders != 0 || s->ring_count != 0 || s->nhold != 0)
		return -EBUSY; /* not a fresh shard */
	if (first_seq == 0 || first_seq >= SEQ_LIMIT || next_seq < first_seq ||
	    s->max_orders > SEQ_LIMIT - first_seq)
		return -EINVAL;
	if (next_seq - first_seq > s->max_orders)
		return -ENOSPC;
	s->first_seq = first_seq;
	s->restore_next = next_seq;
	s->restoring = true;
	return 0;
}

int store_restore_order(struct store_shard *s, const struct store_order_view *v)
{
	uint32_t ci = store_item_find(s->cat, v->item_id);
	uint32_t oi = (uint32_t)s->norders;
	struct store_order *o;
	int rc;

	if (!s->restoring || s->first_seq + s->norders >= s->restore_next)
		return -EINVAL;
	if (ci == STORE_NONE || v->order_id != fs_order_id(s->first_seq + oi, s->shard_id))
		return -EINVAL;
	o = &s->orders[oi];
	*o = (struct store_order){
		.user_id = v->user_id,
		.request_id = v->request_id,
		.deadline_ns = v->deadline_ns,
		.item = ci,
		.next = STORE_NONE,
		.qty = v->qty,
		.state = v->state,
	};
	if ((rc = restore_account(s, oi)) != 0)
		return rc;
	s->norders++;
	if (o->state == FS_STATE_RESERVED) {
		struct store_fifo *f = &s->fifo[s->cat->items[ci].act];
		if (f->tail == STORE_NONE)
			f->head = oi;
		else
			s->orders[f->tail].next = oi;
		f->tail = oi;
	}
	return 0;
}

int store_restore_idem(struct store_shard *s, const struct store_idem_view *v)
{
	struct store_idem *e;

	if (!s->restoring)
		return -EINVAL;
	if (s->ring_count >= s->ring_cap)
		return -ENOSPC;
	e = &s->ring[s->ring_count];
	*e = (struct store_idem){
		.user_id = v->user_id,
		.request_id = v->request_id,
		.order_id = v->order_id,
		.created_ns = v->created_ns,
		.item_id = v->item_id,
		.qty = v->qty,
		.op = v->op,
		.state = v->state,
	};
	if (!idem_valid(e))
		return -EINVAL;
	if (e->op != 0 && restore_index(s, s->ring_count) != 0)
		return -EINVAL;
	s->ring_count++;
	return 0;
}

/* The latest time the restored state records: the shard's clock must not
 * read earlier (store.h "Time"). A reservation was made at its deadline minus
 * the pay timeout; an expiry happened at or after its deadline. */
static void restore_time_floor(struct store_shard *s)
{
	for (uint64_t oi = 0; oi < s->norders; oi++) {
		const struct store_order *o = &s->orders[oi];
		int64_t t = o->deadline_ns;

		if (o->state != FS_STATE_EXPIRED &&
		    (t == INT64_MAX ||
		     __builtin_sub_overflow(t, s->cat->pay_timeout_ns[s->cat->items[o->item].act], &t)))
			continue;
		store_time_floor(s, t);
	}
	for (uint64_t k = 0; k < s->ring_count; k++)
		store_time_floor(s, s->ring[k].created_ns);
}

int store_restore_end(struct store_shard *s, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!s->restoring)
		return -EINVAL;
	s->restoring = false;
	if (s->first_seq + s->norders != s->restore_next) {
		if (errlen)
			snprintf(err, errlen, "shard %u: %" PRIu64 " orders restored, %" PRIu64
				 " expected", s->shard_id, s->norders, s->restore_next - s->first_seq);
		return -EINVAL;
	}
	s->ring_head = 0;
	s->st.expired = s->by_state[FS_STATE_EXPIRED];
	restore_time_floor(s);
	for (uint32_t l = 0; l < s->n_owned; l++) {
		uint32_t ci = s->owned[l];
		const struct store_item_state *st = &s->items[l];

		atomic_store_explicit(&s->cat->items[ci].available,
				      (uint32_t)(st->total - st->reserved - st->paid),
				      memory_order_relaxed);
	}
	return store_audit(s, err, errlen);
}

/* ---- restore from an image ---- */

/* An image may come from disk: every FIFO link must name an order it has
 * (store_audit then checks the lists themselves). */
static bool fifo_links_ok(const struct store_image *img)
{
	for (uint64_t oi = 0; oi < img->norders; oi++)
		if (img->orders[oi].next != STORE_NONE && img->orders[oi].next >= img->norders)
			return false;
	for (uint32_t a = 0; a < img->n_act; a++) {
		const struct store_fifo *f = &img->fifo[a];
		if ((f->head == STORE_NONE) != (f->tail == STORE_NONE) ||
		    (f->head != STORE_NONE && (f->head >= img->norders || f->tail >= img->norders)))
			return false;
	}
	return true;
}

int store_shard_restore_image(struct store_shard *s, const struct store_image *img, char *err,
			      size_t errlen)
{
	int rc;

	if (errlen)
		err[0] = '\0';
	if (img->shard_id != s->shard_id || img->n_owned != s->n_owned ||
	    img->n_act != store_cat_nacts(s->cat) || img->ring_count > s->ring_cap)
		return -EINVAL;
	rc = store_restore_begin(s, img->first_seq, img->first_seq + img->norders);
	if (rc)
		return rc;
	memcpy(s->orders, img->orders, img->norders * sizeof(*s->orders));
	for (uint64_t oi = 0; oi < img->norders; oi++) {
		if ((rc = restore_account(s, (uint32_t)oi)) != 0) {
			if (errlen)
				snprintf(err, errlen, "shard %u: image order %" PRIu64 " invalid",
					 s->shard_id, fs_order_id(img->first_seq + oi, s->shard_id));
			s->restoring = false;
			return rc;
		}
		s->norders++;
	}
	if (!fifo_links_ok(img)) {
		if (errlen)
			snprintf(err, errlen, "shard %u: image FIFO link out of range", s->shard_id);
		s->restoring = false;
		return -EINVAL;
	}
	memcpy(s->fifo, img->fifo, img->n_act * sizeof(*s->fifo));
	memcpy(s->ring, img->ring, img->ring_count * sizeof(*s->ring));
	for (uint64_t k = 0; k < img->ring_count; k++) {
		if (!idem_valid(&s->ring[k]) ||
		    (s->ring[k].op != 0 && restore_index(s, k) != 0)) {
			if (errlen)
				snprintf(err, errlen, "shard %u: image stored answer %" PRIu64
					 " invalid or duplicate", s->shard_id, k);
			s->restoring = false;
			return -EINVAL;
		}
	}
	s->ring_count = img->ring_count;
	rc = store_restore_end(s, err, errlen);
	for (uint32_t l = 0; rc == 0 && l < img->n_owned; l++)
		if (img->owned[l] != s->owned[l] ||
		    img->avail[l] != atomic_load_explicit(&s->cat->items[s->owned[l]].available,
							  memory_order_relaxed)) {
			if (errlen)
				snprintf(err, errlen, "shard %u: image's available of item %u "
					 "does not match its orders", s->shard_id,
					 s->cat->items[s->owned[l]].id);
			rc = -EINVAL;
		}
	s->st = img->st; /* the counters as they were (stats only) */
	return rc;
}

/* ---- queries ---- */

int store_order_get(const struct store_shard *s, uint64_t order_id, struct store_order_view *out)
{
	uint64_t seq = fs_order_seq(order_id);
	const struct store_order *o;
	const struct store_item *it;

	if (fs_shard_of_order(order_id) != s->shard_id || seq < s->first_seq ||
	    seq - s->first_seq >= s->norders)
		return -ENOENT;
	o = &s->orders[seq - s->first_seq];
	it = &s->cat->items[o->item];
	*out = (struct store_order_view){
		.order_id = order_id,
		.user_id = o->user_id,
		.request_id = o->request_id,
		.deadline_ns = o->deadline_ns,
		.created_ns = o->deadline_ns == INT64_MAX
				      ? INT64_MAX
				      : o->deadline_ns - s->cat->pay_timeout_ns[it->act],
		.item_id = it->id,
		.qty = o->qty,
		.state = o->state,
	};
	return 0;
}
