/*
 * dp_http_resp.c — struct fs_resp → one HTTP/1.1 response, byte for byte as
 * HTTP-API.md prescribes, plus the Date header's clock.
 *
 * Every response:
 *
 *   HTTP/1.1 <code> <reason>\r\n
 *   Date: <IMF-fixdate>\r\n
 *   Content-Type: application/json\r\n
 *   Content-Length: <n>\r\n
 *   Cache-Control: no-store\r\n           (GET /v1/items/{id}: public, max-age=1)
 *   Retry-After: <s>\r\n                  (429 and 503: whole seconds, at least 1)
 *   Allow: GET|POST\r\n                    (405)
 *   Connection: close|keep-alive\r\n      (closing; HTTP/1.0 keep-alive)
 *   \r\n
 *   <JSON body>
 *
 * Status codes: OK and the business outcomes 200, RATE_LIMITED 429,
 * BUSY/UNAVAILABLE 503, BAD_REQUEST 400. The JSON carries "status" (the
 * PROTOCOL.md name) and the fields that apply, in this order:
 *   TIME OK:              {"now_ms":N} only (the compact countdown answer)
 *   RATE_LIMITED, BUSY, UNAVAILABLE, BAD_REQUEST (any op):
 *                         status, retry_after_ms (not for BAD_REQUEST)
 *   BUY:                  status, [order], item, [qty, state, deadline_ms]
 *                         (OK), available, [retry_after_ms] (NOT_STARTED)
 *   CONFIRM, CANCEL, ORDER_STATUS:
 *                         status, order, then when the shard found the
 *                         order (state != 0): item, qty, state,
 *                         [deadline_ms] (non-zero)
 *   ITEM_STATUS:          status, item, available (OK), [retry_after_ms]
 *   codec errors:         {"status":"BAD_REQUEST","error":"<why>"}
 * A BUY OK whose shard left state 0 says "RESERVED" (the state it created).
 * retry_after_ms of a 429/503 is the shard's figure, or 1000 when it gave
 * none, so Retry-After and retry_after_ms always agree.
 *
 * The largest response (a BUY OK with 20-digit ids and every header) is
 * under 400 bytes; DP_HTTP_RESP_MAX (512) bounds it and the renderers check
 * the room as they go, returning 0 rather than truncating.
 */
#include <string.h>
#include <time.h>

#include "dp_http.h"
#include "fs_common.h"

#define DEFAULT_RETRY_MS 1000u

/* An appender over out[0..cap); ok turns false on overflow and stays so. */
struct buf {
	char *p;
	size_t len, cap;
	bool ok;
};

static void put(struct buf *b, const char *s, size_t n)
{
	if (!b->ok || b->cap - b->len < n) {
		b->ok = false;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void put_u64(struct buf *b, uint64_t v)
{
	char t[20];
	size_t n = 0;

	do {
		t[sizeof(t) - 1 - n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	put(b, t + sizeof(t) - n, n);
}

static void field_u64(struct buf *b, const char *name, uint64_t v)
{
	put(b, ",\"", 2);
	puts_(b, name);
	put(b, "\":", 2);
	put_u64(b, v);
}

static void field_str(struct buf *b, const char *name, const char *v)
{
	put(b, ",\"", 2);
	puts_(b, name);
	put(b, "\":\"", 3);
	puts_(b, v);
	put(b, "\"", 1);
}

unsigned dp_http_status_code(unsigned st)
{
	switch (st) {
	case FS_ST_RATE_LIMITED: return 429;
	case FS_ST_BUSY:
	case FS_ST_UNAVAILABLE: return 503;
	case FS_ST_BAD_REQUEST: return 400;
	default: return 200;
	}
}

static const char *reason(unsigned code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Error";
	}
}

static uint64_t ns_to_ms(uint64_t ns)
{
	return ns / (uint64_t)FS_NS_PER_MS;
}

/* The JSON body of a shard's answer. */
static void body_resp(struct buf *b, const struct fs_resp *r, uint32_t retry_ms)
{
	unsigned code = dp_http_status_code(r->status);

	if (r->op == FS_OP_TIME && r->status == FS_ST_OK) {
		puts_(b, "{\"now_ms\":");
		put_u64(b, ns_to_ms(r->server_time_ns));
		put(b, "}", 1);
		return;
	}
	puts_(b, "{\"status\":\"");
	puts_(b, fs_status_name(r->status));
	put(b, "\"", 1);
	if (code != 200) {
		if (code != 400)
			field_u64(b, "retry_after_ms", retry_ms);
		put(b, "}", 1);
		return;
	}
	switch (r->op) {
	case FS_OP_BUY:
		if (r->status == FS_ST_OK)
			field_u64(b, "order", r->order_id);
		field_u64(b, "item", r->item_id);
		if (r->status == FS_ST_OK) {
			field_u64(b, "qty", r->qty);
			field_str(b, "state",
				  fs_state_name(r->state ? r->state : FS_STATE_RESERVED));
			if (r->deadline_ns)
				field_u64(b, "deadline_ms", ns_to_ms(r->deadline_ns));
		}
		field_u64(b, "available", r->available);
		break;
	case FS_OP_CONFIRM:
	case FS_OP_CANCEL:
	case FS_OP_ORDER_STATUS:
		field_u64(b, "order", r->order_id);
		if (r->state) {
			field_u64(b, "item", r->item_id);
			field_u64(b, "qty", r->qty);
			field_str(b, "state", fs_state_name(r->state));
			if (r->deadline_ns)
				field_u64(b, "deadline_ms", ns_to_ms(r->deadline_ns));
		}
		break;
	case FS_OP_ITEM_STATUS:
		field_u64(b, "item", r->item_id);
		if (r->status == FS_ST_OK)
			field_u64(b, "available", r->available);
		break;
	default: break;
	}
	if (r->retry_after_ms && r->status != FS_ST_OK)
		field_u64(b, "retry_after_ms", r->retry_after_ms);
	put(b, "}", 1);
}

/* Status line and headers around a body already in body[0..blen). */
static size_t assemble(unsigned code, uint8_t route, bool close, bool ka10, uint32_t retry_ms,
		       const char *date, const char *body, size_t blen, char *out, size_t cap)
{
	struct buf b = {out, 0, cap, true};

	puts_(&b, "HTTP/1.1 ");
	put_u64(&b, code);
	put(&b, " ", 1);
	puts_(&b, reason(code));
	puts_(&b, "\r\nDate: ");
	put(&b, date, DP_HTTP_DATE_LEN);
	puts_(&b, "\r\nContent-Type: application/json\r\nContent-Length: ");
	put_u64(&b, blen);
	puts_(&b, route == DP_HTTP_R_ITEM && code == 200 ? "\r\nCache-Control: public, max-age=1"
							 : "\r\nCache-Control: no-store");
	if (code == 429 || code == 503) {
		puts_(&b, "\r\nRetry-After: ");
		put_u64(&b, (retry_ms + 999) / 1000 ? (retry_ms + 999) / 1000 : 1);
	}
	if (code == 405) {
		bool post = route == DP_HTTP_R_BUY || route == DP_HTTP_R_CONFIRM ||
			    route == DP_HTTP_R_CANCEL;
		puts_(&b, post ? "\r\nAllow: POST" : "\r\nAllow: GET");
	}
	if (close)
		puts_(&b, "\r\nConnection: close");
	else if (ka10)
		puts_(&b, "\r\nConnection: keep-alive");
	puts_(&b, "\r\n\r\n");
	put(&b, body, blen);
	return b.ok ? b.len : 0;
}

size_t dp_http_render_resp(const struct fs_resp *resp, uint8_t route, bool close, bool ka10,
			   const char *date, char *out, size_t cap)
{
	char body[DP_HTTP_RESP_MAX];
	struct buf b = {body, 0, sizeof(body), true};
	unsigned code = dp_http_status_code(resp->status);
	uint32_t retry_ms = resp->retry_after_ms ? resp->retry_after_ms : DEFAULT_RETRY_MS;

	body_resp(&b, resp, retry_ms);
	FS_ASSERT(b.ok);
	return assemble(code, route, close, ka10, retry_ms, date, body, b.len, out, cap);
}

size_t dp_http_render_error(unsigned code, const char *why, uint8_t route, bool close, bool ka10,
			    const char *date, char *out, size_t cap)
{
	char body[DP_HTTP_RESP_MAX];
	struct buf b = {body, 0, sizeof(body), true};

	puts_(&b, "{\"status\":\"BAD_REQUEST\"");
	field_str(&b, "error", why);
	put(&b, "}", 1);
	FS_ASSERT(b.ok);
	return assemble(code, route, close, ka10, DEFAULT_RETRY_MS, date, body, b.len, out, cap);
}

void dp_http_format_date(int64_t unix_s, char *out)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t)unix_s;
	struct tm tm;
	char *p = out;

	gmtime_r(&t, &tm);
	FS_ASSERT(tm.tm_year + 1900 >= 0);
	FS_ASSERT(tm.tm_year + 1900 <= 9999);
	memcpy(p, days[tm.tm_wday], 3);
	p += 3;
	*p++ = ',';
	*p++ = ' ';
	*p++ = (char)('0' + tm.tm_mday / 10);
	*p++ = (char)('0' + tm.tm_mday % 10);
	*p++ = ' ';
	memcpy(p, months[tm.tm_mon], 3);
	p += 3;
	*p++ = ' ';
	unsigned y = (unsigned)(tm.tm_year + 1900);
	*p++ = (char)('0' + y / 1000);
	*p++ = (char)('0' + y / 100 % 10);
	*p++ = (char)('0' + y / 10 % 10);
	*p++ = (char)('0' + y % 10);
	*p++ = ' ';
	int f[3] = {tm.tm_hour, tm.tm_min, tm.tm_sec};
	for (int i = 0; i < 3; i++) {
		*p++ = (char)('0' + f[i] / 10);
		*p++ = (char)('0' + f[i] % 10);
		*p++ = i < 2 ? ':' : ' ';
	}
	memcpy(p, "GMT", 4);
	FS_ASSERT(p + 3 - out == DP_HTTP_DATE_LEN);
}

void dp_http_ctx_clock(struct dp_http_ctx *ctx, int64_t mono_ns, int64_t unix_ns)
{
	int64_t s = unix_ns / FS_NS_PER_S;

	ctx->mono_ns = mono_ns;
	ctx->mono_ms = mono_ns / FS_NS_PER_MS;
	ctx->unix_ms = unix_ns / FS_NS_PER_MS;
	if (s != ctx->date_s) {
		dp_http_format_date(s, ctx->date);
		ctx->date_s = s;
	}
}

void dp_http_ctx_init(struct dp_http_ctx *ctx, const struct dp_http_cfg *cfg, int64_t mono_ns,
		      int64_t unix_ns)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->cfg = cfg;
	ctx->date_s = -1;
	dp_http_ctx_clock(ctx, mono_ns, unix_ns);
}
