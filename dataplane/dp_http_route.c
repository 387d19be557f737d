/*
 * dp_http_route.c — HTTP-API.md "Endpoints": a parsed request (method,
 * request target, body) becomes one struct fs_req, the same message an FSP/1
 * client would have sent, so the shards make the same decision.
 *
 *   GET  /v1/time                          TIME
 *   GET  /v1/items/{item}                  ITEM_STATUS  item_id
 *   POST /v1/buy                           BUY          item, user, request_id, qty (1), token
 *   POST /v1/orders/{order}/confirm        CONFIRM      user, request_id, ref, token
 *   POST /v1/orders/{order}/cancel         CANCEL       user, request_id, ref (0), token
 *   GET  /v1/orders/{order}?user=&token=   ORDER_STATUS user, token
 *
 * Choices the contract leaves open, made here:
 *  - Paths match exactly (no trailing slash, no percent-decoding, no dot
 *    segments); anything else is 404. A path id is canonical decimal ("0" or
 *    no leading zero); a non-numeric id is 404 (the path is not served), a
 *    numeric id beyond its field (item > 2^32−1, order > 2^64−1) is 400.
 *  - The request target may be origin-form or absolute-form (RFC 9112 §3.2);
 *    the host part of an absolute-form target is not checked.
 *  - Wrong method on a served path is 405 with Allow (HEAD included: we
 *    send no bodiless variants).
 *  - Body fields: as the contract's examples, where every field but qty
 *    (default 1), token (default: all zero, which the shard answers
 *    BAD_TOKEN where one is required) and CANCEL's ref (default 0) is
 *    required. item ≤ 2^32−1 and qty ≤ 2^16−1 (the FSP/1 field widths);
 *    qty 0, user 0 or request_id 0 are in range and left to the shard,
 *    whose answer is BAD_REQUEST (HTTP 400) exactly as over FSP/1.
 *    Request bodies of GET routes are read and ignored.
 *  - ORDER_STATUS query: user (required) and token (optional); unknown
 *    parameters are ignored, a parameter given twice is 400 (as a duplicate
 *    JSON member), values are taken literally (no percent-decoding: ids and
 *    hex tokens never need it, so a '%' is simply a malformed value).
 *  - The request's Content-Type is not checked: the body must parse as
 *    JSON, whatever it is labelled.
 */
#include <errno.h>
#include <string.h>

#include "dp_http.h"
#include "fs_common.h"
#include "fs_token.h"

#define ID_NOT_NUMERIC (-1)
#define ID_TOO_BIG     (-2)

/* Canonical decimal s[0..len) into *v. 0, ID_NOT_NUMERIC or ID_TOO_BIG. */
static int parse_id(const char *s, size_t len, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;
	bool big = false;

	if (len == 0 || (len > 1 && s[0] == '0'))
		return ID_NOT_NUMERIC;
	for (size_t i = 0; i < len; i++) {
		unsigned d;
		if (s[i] < '0' || s[i] > '9')
			return ID_NOT_NUMERIC;
		d = (unsigned)(s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			big = true;
		else
			x = x * 10 + d;
	}
	if (big || x > max)
		return ID_TOO_BIG;
	*v = x;
	return 0;
}

static bool prefix(const char *s, size_t len, const char *p, size_t *plen)
{
	*plen = strlen(p);
	return len >= *plen && memcmp(s, p, *plen) == 0;
}

/* Which route path[0..len) is; its id in *id. DP_HTTP_R_NONE for 404; *big
 * when the id is numeric but out of range. */
static uint8_t match_path(const char *path, size_t len, uint64_t *id, bool *big)
{
	size_t n;
	const char *slash;
	int rc;

	*big = false;
	*id = 0;
	if (len == 8 && memcmp(path, "/v1/time", 8) == 0)
		return DP_HTTP_R_TIME;
	if (len == 7 && memcmp(path, "/v1/buy", 7) == 0)
		return DP_HTTP_R_BUY;
	if (prefix(path, len, "/v1/items/", &n)) {
		rc = parse_id(path + n, len - n, UINT32_MAX, id);
		*big = rc == ID_TOO_BIG;
		return rc == ID_NOT_NUMERIC ? DP_HTTP_R_NONE : DP_HTTP_R_ITEM;
	}
	if (!prefix(path, len, "/v1/orders/", &n))
		return DP_HTTP_R_NONE;
	path += n, len -= n;
	slash = memchr(path, '/', len);
	rc = parse_id(path, slash ? (size_t)(slash - path) : len, UINT64_MAX, id);
	if (rc == ID_NOT_NUMERIC)
		return DP_HTTP_R_NONE;
	*big = rc == ID_TOO_BIG;
	if (!slash)
		return DP_HTTP_R_ORDER;
	len -= (size_t)(slash - path);
	if (len == 8 && memcmp(slash, "/confirm", 8) == 0)
		return DP_HTTP_R_CONFIRM;
	if (len == 7 && memcmp(slash, "/cancel", 7) == 0)
		return DP_HTTP_R_CANCEL;
	return DP_HTTP_R_NONE;
}

static bool method_ok(uint8_t route, uint8_t method)
{
	bool post =
		route == DP_HTTP_R_BUY || route == DP_HTTP_R_CONFIRM || route == DP_HTTP_R_CANCEL;

	return method == (post ? HTTP_POST : HTTP_GET);
}

/* ORDER_STATUS's query "user=..&token=.." into req. 0 or 400. */
static int parse_order_query(const char *q, size_t len, struct fs_req *req, const char **why)
{
	bool have_user = false, have_token = false;
	size_t i = 0;

	while (i < len) {
		size_t j = i, eq;
		const char *k = q + i, *v;
		size_t klen, vlen;
		uint64_t x;

		while (j < len && q[j] != '&')
			j++;
		eq = i;
		while (eq < j && q[eq] != '=')
			eq++;
		klen = eq - i;
		v = q + eq + (eq < j);
		vlen = eq < j ? j - eq - 1 : 0;
		i = j + 1;
		if (klen == 4 && memcmp(k, "user", 4) == 0) {
			if (have_user) {
				*why = "user given twice";
				return 400;
			}
			have_user = true;
			if (parse_id(v, vlen, UINT64_MAX, &x) != 0) {
				*why = "user is not an integer up to 2^64-1";
				return 400;
			}
			req->user_id = x;
		} else if (klen == 5 && memcmp(k, "token", 5) == 0) {
			if (have_token) {
				*why = "token given twice";
				return 400;
			}
			have_token = true;
			if (vlen != 2 * FSP_TOKEN_LEN) {
				*why = "token is not 32 hex digits";
				return 400;
			}
			char hex[2 * FSP_TOKEN_LEN + 1];
			memcpy(hex, v, vlen);
			hex[vlen] = '\0';
			if (fs_hex_parse(hex, req->token, FSP_TOKEN_LEN) != 0) {
				*why = "token is not 32 hex digits";
				return 400;
			}
		}
	}
	if (!have_user) {
		*why = "user missing";
		return 400;
	}
	return 0;
}

/* The fields every POST body has, then one that depends on the route (BUY's
 * item, CONFIRM/CANCEL's ref), then BUY's qty. Only the route's own fields
 * are passed to the reader: the others are unknown members there. */
enum { F_USER, F_REQUEST_ID, F_TOKEN, F_ITEM_OR_REF, F_QTY, F_COUNT };

static int parse_body(const struct dp_http_msg *m, uint8_t route, struct fs_req *req,
		      const char **why)
{
	bool buy = route == DP_HTTP_R_BUY;
	struct dp_json_field f[F_COUNT] = {
		[F_USER] = {.name = "user",
			    .kind = DP_JSON_U64,
			    .max = UINT64_MAX,
			    .required = true},
		[F_REQUEST_ID] = {.name = "request_id",
				  .kind = DP_JSON_U64,
				  .max = UINT64_MAX,
				  .required = true},
		[F_TOKEN] = {.name = "token", .kind = DP_JSON_TOKEN},
		[F_ITEM_OR_REF] = {.name = buy ? "item" : "ref",
				   .kind = DP_JSON_U64,
				   .max = buy ? UINT32_MAX : UINT64_MAX,
				   .required = buy || route == DP_HTTP_R_CONFIRM},
		[F_QTY] = {.name = "qty", .kind = DP_JSON_U64, .max = UINT16_MAX},
	};
	int rc;

	rc = dp_json_read(m->body, m->body_len, f, buy ? F_COUNT : F_QTY);
	if (rc) {
		*why = dp_json_err_name(rc);
		return 400;
	}
	req->user_id = f[F_USER].u64;
	req->request_id = f[F_REQUEST_ID].u64;
	if (f[F_TOKEN].seen)
		memcpy(req->token, f[F_TOKEN].token, FSP_TOKEN_LEN);
	if (buy) {
		req->item_id = (uint32_t)f[F_ITEM_OR_REF].u64;
		req->qty = (uint16_t)(f[F_QTY].seen ? f[F_QTY].u64 : 1);
	} else {
		req->ref = f[F_ITEM_OR_REF].seen ? f[F_ITEM_OR_REF].u64 : 0;
	}
	return 0;
}

int dp_http_route_msg(const struct dp_http_msg *m, struct fs_req *req, uint8_t *route,
		      const char **why)
{
	struct http_parser_url u;
	const char *path, *query = NULL;
	size_t plen, qlen = 0;
	uint64_t id;
	bool big;
	static const uint8_t ops[] = {
		[DP_HTTP_R_TIME] = FS_OP_TIME,	   [DP_HTTP_R_ITEM] = FS_OP_ITEM_STATUS,
		[DP_HTTP_R_BUY] = FS_OP_BUY,	   [DP_HTTP_R_CONFIRM] = FS_OP_CONFIRM,
		[DP_HTTP_R_CANCEL] = FS_OP_CANCEL, [DP_HTTP_R_ORDER] = FS_OP_ORDER_STATUS,
	};

	memset(req, 0, sizeof(*req));
	*route = DP_HTTP_R_NONE;
	http_parser_url_init(&u);
	if (http_parser_parse_url(m->url, m->url_len, 0, &u) != 0 ||
	    !(u.field_set & (1u << UF_PATH))) {
		*why = "malformed request target";
		return 400;
	}
	path = m->url + u.field_data[UF_PATH].off;
	plen = u.field_data[UF_PATH].len;
	if (u.field_set & (1u << UF_QUERY)) {
		query = m->url + u.field_data[UF_QUERY].off;
		qlen = u.field_data[UF_QUERY].len;
	}
	*route = match_path(path, plen, &id, &big);
	if (*route == DP_HTTP_R_NONE) {
		*why = "no such path";
		return 404;
	}
	if (!method_ok(*route, m->method)) {
		*why = "method not allowed";
		return 405;
	}
	if (big) {
		*why = *route == DP_HTTP_R_ITEM ? "item out of range" : "order out of range";
		return 400;
	}
	req->op = ops[*route];
	switch (*route) {
	case DP_HTTP_R_TIME: return 0;
	case DP_HTTP_R_ITEM: req->item_id = (uint32_t)id; return 0;
	case DP_HTTP_R_ORDER: req->order_id = id; return parse_order_query(query, qlen, req, why);
	case DP_HTTP_R_BUY: return parse_body(m, *route, req, why);
	default: req->order_id = id; return parse_body(m, *route, req, why);
	}
}
