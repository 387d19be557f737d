/*
 * fs_admin_def.c — the body of POST /admin/activities and POST /admin/items
 * into a struct store_catalog_def (store.h). Pure: no I/O, no allocation.
 *
 * The body is one JSON object (docs/operations.md "Admin API"):
 *
 *   activities: {"request_id":N, "activity_id":N, "start_ns":N, "end_ns":N,
 *                "name":"...", "pay_timeout_s":N, "require_token":true|false,
 *                "token_key":"32 hex", "payment_key":"32 hex", "items":[ITEM...]}
 *   items:      {"request_id":N, "activity_id":N, "items":[ITEM...]}
 *   ITEM:       {"item_id":N, "total":N, "price_cents":N, "per_user_limit":N,
 *                "max_per_order":N}
 *
 * Required: request_id (> 0), activity_id, and for a new activity start_ns
 * and end_ns; for items, at least one item; per item item_id and total.
 * Defaults as in the config: pay_timeout_s 900, require_token false
 * (a token_key is then required when it is true), no payment key,
 * per_user_limit 1, max_per_order 1, price_cents 0, name "activity N".
 * At most STORE_DEFINE_ITEMS_MAX items. Strings take the escapes \" \\ \/
 * only; numbers are decimal integers (a minus sign only on start_ns and
 * end_ns). Unknown or duplicate members, wrong types and trailing bytes
 * are refused with a sentence naming the member: the answer is a 400 that
 * tells the operator what to fix. Ranges (limits, window, ids taken) are
 * checked afterwards by store_catalog_check_def.
 */
#include "fs_admin.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct jp {
	const char *p, *end;
	char *why;
	size_t whylen;
};

static int bad(struct jp *j, const char *fmt, const char *what)
{
	if (j->why && j->whylen)
		snprintf(j->why, j->whylen, fmt, what);
	return -EINVAL;
}

static void ws(struct jp *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
		j->p++;
}

static bool eat(struct jp *j, char c)
{
	ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

/* A string into out (cap bytes with the NUL); -EINVAL. */
static int str(struct jp *j, char *out, size_t cap, const char *what)
{
	size_t n = 0;

	if (!eat(j, '"'))
		return bad(j, "%s must be a string", what);
	while (j->p < j->end && *j->p != '"') {
		char c = *j->p++;
		if ((unsigned char)c < 0x20)
			return bad(j, "%s: control character in string", what);
		if (c == '\\') {
			if (j->p >= j->end || (*j->p != '"' && *j->p != '\\' && *j->p != '/'))
				return bad(j, "%s: only the escapes \\\" \\\\ \\/ are accepted",
					   what);
			c = *j->p++;
		}
		if (n + 1 >= cap)
			return bad(j, "%s is too long", what);
		out[n++] = c;
	}
	if (!eat(j, '"'))
		return bad(j, "%s: unterminated string", what);
	out[n] = '\0';
	return 0;
}

static int integer(struct jp *j, bool neg_ok, int64_t min, uint64_t max, int64_t *out,
		   const char *what)
{
	bool neg = false;
	uint64_t v = 0;

	ws(j);
	if (j->p < j->end && *j->p == '-') {
		neg = true;
		j->p++;
	}
	if (j->p >= j->end || !isdigit((unsigned char)*j->p) || (neg && !neg_ok))
		return bad(j, "%s must be a non-negative integer", what);
	while (j->p < j->end && isdigit((unsigned char)*j->p)) {
		unsigned d = (unsigned)(*j->p++ - '0');
		if (v > (UINT64_MAX - d) / 10)
			return bad(j, "%s: integer out of range", what);
		v = v * 10 + d;
	}
	if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
		return bad(j, "%s must be an integer", what);
	if (neg && v > 0) {
		if (v > (uint64_t)INT64_MAX + 1 || -(int64_t)(v - 1) - 1 < min)
			return bad(j, "%s: integer out of range", what);
		*out = -(int64_t)(v - 1) - 1;
	} else {
		if (v > max)
			return bad(j, "%s: integer out of range", what);
		*out = (int64_t)v;
	}
	return 0;
}

static int boolean(struct jp *j, bool *out, const char *what)
{
	ws(j);
	if (j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0) {
		j->p += 4;
		*out = true;
		return 0;
	}
	if (j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0) {
		j->p += 5;
		*out = false;
		return 0;
	}
	return bad(j, "%s must be true or false", what);
}

static int hex16(struct jp *j, uint8_t out[16], const char *what)
{
	char s[40];
	int rc = str(j, s, sizeof(s), what);

	if (rc)
		return rc;
	if (strlen(s) != 32)
		return bad(j, "%s must be 32 hex digits", what);
	for (int i = 0; i < 16; i++) {
		unsigned v;
		if (!isxdigit((unsigned char)s[2 * i]) || !isxdigit((unsigned char)s[2 * i + 1]) ||
		    sscanf(s + 2 * i, "%2x", &v) != 1)
			return bad(j, "%s must be 32 hex digits", what);
		out[i] = (uint8_t)v;
	}
	return 0;
}

/* A member name into key; 0 at '}' (no more members: *done), -EINVAL. */
static int member(struct jp *j, char *key, size_t cap, bool first, bool *done)
{
	*done = false;
	if (eat(j, '}')) {
		*done = true;
		return 0;
	}
	if (!first && !eat(j, ','))
		return bad(j, "%s", "expected ',' or '}'");
	if (str(j, key, cap, "a member name"))
		return -EINVAL;
	if (!eat(j, ':'))
		return bad(j, "expected ':' after \"%s\"", key);
	return 0;
}

enum { I_ID, I_TOTAL, I_PRICE, I_LIMIT, I_MPO, I_COUNT };
static const char *const ITEM_KEYS[I_COUNT] = {"item_id", "total", "price_cents", "per_user_limit",
					       "max_per_order"};

static int item(struct jp *j, struct store_item_def *d, unsigned k)
{
	static const uint64_t max[I_COUNT] = {UINT32_MAX, UINT32_MAX, INT64_MAX, UINT32_MAX,
					      UINT16_MAX};
	int64_t v[I_COUNT] = {0, 0, 0, 1, 1};
	unsigned seen = 0;
	char key[32], what[64];
	bool done;

	if (!eat(j, '{'))
		return bad(j, "%s", "items[] must hold objects");
	for (bool first = true;; first = false) {
		int f;
		if (member(j, key, sizeof(key), first, &done))
			return -EINVAL;
		if (done)
			break;
		for (f = 0; f < I_COUNT && strcmp(key, ITEM_KEYS[f]) != 0; f++)
			;
		if (f == I_COUNT)
			return bad(j, "items[]: unknown member \"%s\"", key);
		snprintf(what, sizeof(what), "items[%u].%s", k, ITEM_KEYS[f]);
		if (seen & (1u << f))
			return bad(j, "%s given twice", what);
		seen |= 1u << f;
		if (integer(j, false, 0, max[f], &v[f], what))
			return -EINVAL;
	}
	if (!(seen & (1u << I_ID)) || v[I_ID] == 0) {
		snprintf(what, sizeof(what), "items[%u].item_id", k);
		return bad(j, "%s is required (> 0)", what);
	}
	if (!(seen & (1u << I_TOTAL))) {
		snprintf(what, sizeof(what), "items[%u].total", k);
		return bad(j, "%s is required", what);
	}
	*d = (struct store_item_def){.id = (uint32_t)v[I_ID],
				     .total = (uint32_t)v[I_TOTAL],
				     .price_cents = (uint64_t)v[I_PRICE],
				     .per_user_limit = (uint32_t)v[I_LIMIT],
				     .max_per_order = (uint16_t)v[I_MPO]};
	return 0;
}

static int items(struct jp *j, struct store_catalog_def *def)
{
	if (!eat(j, '['))
		return bad(j, "%s", "items must be an array");
	if (eat(j, ']'))
		return 0;
	do {
		if (def->n_items >= STORE_DEFINE_ITEMS_MAX) {
			char n[16];
			snprintf(n, sizeof(n), "%u", STORE_DEFINE_ITEMS_MAX);
			return bad(j, "at most %s items per call", n);
		}
		if (item(j, &def->items[def->n_items], def->n_items))
			return -EINVAL;
		def->n_items++;
	} while (eat(j, ','));
	if (!eat(j, ']'))
		return bad(j, "%s", "items: expected ',' or ']'");
	return 0;
}

enum {
	A_RID,
	A_ACT,
	A_START,
	A_END,
	A_NAME,
	A_PAY,
	A_REQTOK,
	A_TOKKEY,
	A_PAYKEY,
	A_ITEMS,
	A_COUNT
};
static const char *const ACT_KEYS[A_COUNT] = {
	"request_id",	 "activity_id",	  "start_ns",  "end_ns",      "name",
	"pay_timeout_s", "require_token", "token_key", "payment_key", "items"};

static int act_member(struct jp *j, int f, struct store_catalog_def *def)
{
	struct cfg_activity *a = &def->act;
	int64_t v;

	switch (f) {
	case A_RID:
		if (integer(j, false, 0, UINT64_MAX, &v, "request_id"))
			return -EINVAL;
		def->request_id = (uint64_t)v;
		return 0;
	case A_ACT:
		if (integer(j, false, 0, UINT32_MAX, &v, "activity_id"))
			return -EINVAL;
		a->id = (uint32_t)v;
		return 0;
	case A_START: return integer(j, true, INT64_MIN, INT64_MAX, &a->start_ns, "start_ns");
	case A_END: return integer(j, true, INT64_MIN, INT64_MAX, &a->end_ns, "end_ns");
	case A_NAME: return str(j, a->name, sizeof(a->name), "name");
	case A_PAY:
		if (integer(j, false, 0, UINT32_MAX, &v, "pay_timeout_s"))
			return -EINVAL;
		a->pay_timeout_s = (uint32_t)v;
		return 0;
	case A_REQTOK: return boolean(j, &a->require_token, "require_token");
	case A_TOKKEY: return hex16(j, a->token_key, "token_key");
	case A_PAYKEY: a->has_payment_key = true; return hex16(j, a->payment_key, "payment_key");
	default: return items(j, def);
	}
}

int fs_admin_parse_def(const char *body, size_t len, bool new_activity,
		       struct store_catalog_def *def, char *why, size_t whylen)
{
	struct jp j = {.p = body, .end = body + len, .why = why, .whylen = whylen};
	unsigned seen = 0, allowed;
	char key[32];
	bool done;

	memset(def, 0, sizeof(*def));
	def->has_activity = new_activity;
	def->act.pay_timeout_s = 900;
	allowed = new_activity ? (1u << A_COUNT) - 1 : (1u << A_RID | 1u << A_ACT | 1u << A_ITEMS);
	if (!eat(&j, '{'))
		return bad(&j, "%s", "the body must be a JSON object");
	for (bool first = true;; first = false) {
		int f;
		if (member(&j, key, sizeof(key), first, &done))
			return -EINVAL;
		if (done)
			break;
		for (f = 0; f < A_COUNT && strcmp(key, ACT_KEYS[f]) != 0; f++)
			;
		if (f == A_COUNT || !(allowed & (1u << f)))
			return bad(&j, "unknown member \"%s\"", key);
		if (seen & (1u << f))
			return bad(&j, "\"%s\" given twice", key);
		seen |= 1u << f;
		if (act_member(&j, f, def))
			return -EINVAL;
	}
	ws(&j);
	if (j.p != j.end)
		return bad(&j, "%s", "trailing bytes after the object");
	if (def->request_id == 0)
		return bad(&j, "%s", "request_id is required (> 0)");
	if (def->act.id == 0)
		return bad(&j, "%s", "activity_id is required (> 0)");
	if (!new_activity)
		return def->n_items ? 0 : bad(&j, "%s", "items is required (1 or more)");
	if (!(seen & (1u << A_START)) || !(seen & (1u << A_END)))
		return bad(&j, "%s", "start_ns and end_ns are required");
	if (def->act.require_token && !(seen & (1u << A_TOKKEY)))
		return bad(&j, "%s", "token_key is required when require_token is true");
	if (!def->act.name[0])
		snprintf(def->act.name, sizeof(def->act.name), "activity %" PRIu32, def->act.id);
	return 0;
}
