/*
 * test_http_codec.c — the public HTTP API codec (dataplane/dp_http_*.c)
 * against HTTP-API.md: every endpoint, status code and header the contract
 * names, valid and invalid; pipelining with answers completed out of order;
 * limits; keep-alive and close rules; the client-address rule from trusted
 * and untrusted peers; and the JSON reader's edge cases.
 *
 * Expected responses are written out by hand from the contract, not produced
 * by the renderer. Time is a fake clock moved by the tests (no sleeping).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "dp_http.h"
#include "fs_token.h"

#define T0_UNIX_NS (784111777LL * 1000000000LL) /* Sun, 06 Nov 1994 08:49:37 GMT */
#define T0_MONO_NS (1000LL * 1000000000LL)
#define DATE0	   "Sun, 06 Nov 1994 08:49:37 GMT"
#define OUTBUF	   65536

static struct dp_http_cfg cfg;
static struct dp_http_ctx ctx;
static struct dp_http_conn *conn;
static int64_t mono_ns = T0_MONO_NS, unix_ns = T0_UNIX_NS;

static const char tok_hex[] = "86625a502acbba02624797a4a09b3aca";
static const uint8_t tok[16] = {0x86, 0x62, 0x5a, 0x50, 0x2a, 0xcb, 0xba, 0x02,
				0x62, 0x47, 0x97, 0xa4, 0xa0, 0x9b, 0x3a, 0xca};

static void clock_advance_ms(int64_t ms)
{
	mono_ns += ms * 1000000LL;
	unix_ns += ms * 1000000LL;
	dp_http_ctx_clock(&ctx, mono_ns, unix_ns);
}

static void init_cfg(unsigned pipeline_max)
{
	char err[128];

	dp_http_cfg_defaults(&cfg);
	cfg.pipeline_max = pipeline_max;
	assert_int_equal(dp_http_cidr_parse("10.0.0.0/8, 192.0.2.0/24", cfg.trusted,
					    DP_HTTP_TRUSTED_MAX, err, sizeof(err)),
			 2);
	cfg.ntrusted = 2;
	assert_int_equal(dp_http_cfg_init(&cfg, err, sizeof(err)), 0);
	mono_ns = T0_MONO_NS;
	unix_ns = T0_UNIX_NS;
	dp_http_ctx_init(&ctx, &cfg, mono_ns, unix_ns);
}

static int setup(void **state)
{
	(void)state;
	init_cfg(DP_HTTP_PIPELINE_MAX);
	conn = malloc(sizeof(*conn));
	assert_non_null(conn);
	dp_http_conn_init(conn, &ctx, 0x7f000001);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(conn);
	conn = NULL;
	return 0;
}

/* Feed s whole; when it is larger than the input buffer, parse between
 * chunks (nothing may complete before the last one). */
static void feed(const char *s)
{
	size_t len = strlen(s), off = 0;

	for (;;) {
		struct dp_http_req r;
		off += dp_http_conn_input(conn, s + off, len - off);
		if (off == len)
			return;
		assert_int_equal(dp_http_conn_next(conn, &r), 0);
	}
}

/* Everything in the output, NUL-terminated, and marked sent. */
static size_t drain(char *buf)
{
	const char *d;
	size_t n = dp_http_conn_tx_data(conn, &d), total = 0;

	while (n > 0) {
		memcpy(buf + total, d, n);
		total += n;
		dp_http_conn_tx_done(conn, n);
		n = dp_http_conn_tx_data(conn, &d);
	}
	buf[total] = '\0';
	return total;
}

struct resp {
	unsigned code;
	char head[2048];
	char body[1024];
	size_t len; /* bytes of the whole response */
};

/* Split off the first response of s: status, head, body by Content-Length. */
static size_t parse_resp(const char *s, struct resp *r)
{
	const char *end = strstr(s, "\r\n\r\n"), *cl;
	size_t hlen, blen;

	assert_non_null(end);
	assert_memory_equal(s, "HTTP/1.1 ", 9);
	r->code = (unsigned)atoi(s + 9);
	hlen = (size_t)(end - s) + 4;
	assert_true(hlen < sizeof(r->head));
	memcpy(r->head, s, hlen);
	r->head[hlen] = '\0';
	cl = strcasestr(r->head, "\r\nContent-Length: ");
	assert_non_null(cl);
	blen = (size_t)atoi(cl + 18);
	assert_true(blen < sizeof(r->body));
	memcpy(r->body, end + 4, blen);
	r->body[blen] = '\0';
	r->len = hlen + blen;
	return r->len;
}

/* A header's value in r (a static copy), or NULL. */
static const char *hdr(const struct resp *r, const char *name)
{
	static char v[256];
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\r\n%s: ", name);
	p = strstr(r->head, pat);
	if (!p)
		return NULL;
	p += strlen(pat);
	e = strstr(p, "\r\n");
	snprintf(v, sizeof(v), "%.*s", (int)(e - p), p);
	return v;
}

/* Exactly one response in the output. */
static void one_resp(struct resp *r)
{
	char *buf = malloc(OUTBUF);
	size_t n = drain(buf);

	assert_true(n > 0);
	assert_int_equal(parse_resp(buf, r), n);
	free(buf);
}

static void no_output(void)
{
	const char *d;
	assert_int_equal(dp_http_conn_tx_data(conn, &d), 0);
}

static char reqbuf[16384];

static const char *post(const char *path, const char *body)
{
	snprintf(reqbuf, sizeof(reqbuf),
		 "POST %s HTTP/1.1\r\nHost: origin\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n%s",
		 path, strlen(body), body);
	return reqbuf;
}

static const char *get(const char *target)
{
	snprintf(reqbuf, sizeof(reqbuf), "GET %s HTTP/1.1\r\nHost: origin\r\n\r\n", target);
	return reqbuf;
}

/* Feed one request that must reach the caller; returns it. */
static struct dp_http_req expect_req(const char *text)
{
	struct dp_http_req r;

	feed(text);
	assert_int_equal(dp_http_conn_next(conn, &r), 1);
	return r;
}

/* Feed one request the codec must answer itself with code. */
static void expect_error(const char *text, unsigned code, struct resp *r)
{
	struct dp_http_req q;

	feed(text);
	assert_int_equal(dp_http_conn_next(conn, &q), 0);
	one_resp(r);
	assert_int_equal(r->code, code);
	assert_string_equal(hdr(r, "Content-Type"), "application/json");
	assert_string_equal(hdr(r, "Cache-Control"), "no-store");
	assert_non_null(strstr(r->body, "{\"status\":\"BAD_REQUEST\",\"error\":\""));
}

/* ======================= JSON reader ======================= */

enum { J_ID, J_TOKEN, J_SMALL, J_N };

static int json(const char *text, struct dp_json_field *f)
{
	struct dp_json_field init[J_N] = {
		[J_ID] = {.name = "id", .kind = DP_JSON_U64, .max = UINT64_MAX, .required = true},
		[J_TOKEN] = {.name = "token", .kind = DP_JSON_TOKEN},
		[J_SMALL] = {.name = "small", .kind = DP_JSON_U64, .max = 65535},
	};
	char *copy = malloc(strlen(text) + 1); /* exact size: ASan sees over-reads */
	int rc;

	memcpy(copy, text, strlen(text));
	memcpy(f, init, sizeof(init));
	rc = dp_json_read(copy, strlen(text), f, J_N);
	free(copy);
	return rc;
}

static void test_json_read_ids_full_range(void **state)
{
	struct dp_json_field f[J_N];
	(void)state;

	assert_int_equal(json("{\"id\":18446744073709551615}", f), 0);
	assert_true(f[J_ID].u64 == UINT64_MAX);
	assert_int_equal(json("{\"id\":0}", f), 0);
	assert_true(f[J_ID].u64 == 0);
	assert_int_equal(json(" \t\r\n{ \"id\" : 42 , \"small\":65535}\n", f), 0);
	assert_true(f[J_ID].u64 == 42 && f[J_SMALL].u64 == 65535 && f[J_SMALL].seen);
	assert_false(f[J_TOKEN].seen);
}

static void test_json_read_out_of_range(void **state)
{
	struct dp_json_field f[J_N];
	(void)state;

	assert_int_equal(json("{\"id\":18446744073709551616}", f), -DP_JSON_RANGE);
	assert_int_equal(json("{\"id\":99999999999999999999999}", f), -DP_JSON_RANGE);
	assert_int_equal(json("{\"id\":-1}", f), -DP_JSON_RANGE);
	assert_int_equal(json("{\"id\":-0}", f), -DP_JSON_RANGE);
	assert_int_equal(json("{\"id\":1.0}", f), -DP_JSON_RANGE);
	assert_int_equal(json("{\"id\":1.5}", f), -DP_JSON_RANGE);
	assert_int_equal(json("{\"id\":1e2}", f), -DP_JSON_RANGE);
	assert_int_equal(json("{\"id\":1,\"small\":65536}", f), -DP_JSON_RANGE);
}

static void test_json_read_wrong_type(void **state)
{
	struct dp_json_field f[J_N];
	(void)state;

	assert_int_equal(json("{\"id\":\"42\"}", f), -DP_JSON_TYPE);
	assert_int_equal(json("{\"id\":null}", f), -DP_JSON_TYPE);
	assert_int_equal(json("{\"id\":true}", f), -DP_JSON_TYPE);
	assert_int_equal(json("{\"id\":[1]}", f), -DP_JSON_TYPE);
	assert_int_equal(json("{\"id\":{\"a\":1}}", f), -DP_JSON_TYPE);
	assert_int_equal(json("{\"id\":1,\"token\":7}", f), -DP_JSON_TYPE);
	assert_int_equal(json("{\"id\":1,\"token\":null}", f), -DP_JSON_TYPE);
}

static void test_json_read_malformed(void **state)
{
	struct dp_json_field f[J_N];
	static const char *const bad[] = {
		"",
		" ",
		"[]",
		"42",
		"\"id\"",
		"{",
		"{\"id\"",
		"{\"id\":",
		"{\"id\":1",
		"{\"id\":1,",
		"{\"id\":1,}",
		"{\"id\":01}",
		"{\"id\":+1}",
		"{\"id\":.5}",
		"{\"id\":1.}",
		"{\"id\":1e}",
		"{\"id\":0x10}",
		"{\"id\":1}x",
		"{\"id\":1}{}",
		"{id:1}",
		"{'id':1}",
		"{\"id\" 1}",
		"{\"id\":1 \"small\":2}",
		"{\"id\":1,\"x\":tru}",
		"{\"id\":1,\"x\":nul}",
		"{\"id\":1,\"x\":\"a\x01\"}",
		"{\"id\":1,\"x\":\"\\x\"}",
		"{\"id\":1,\"x\":\"\\u12\"}",
		"{\"id\":1,\"x\":\"\\ud800\"}",
		"{\"id\":1,\"x\":\"\\udc00\"}",
		"{\"id\":1,\"x\":\"\xff\"}",
		"{\"id\":1,\"x\":\"\xc0\xaf\"}",
		"{\"id\":1,\"x\":\"\xed\xa0\x80\"}",
		"{\"id\":1,\"x\":\"\xf4\x90\x80\x80\"}",
		"{\"id\":1,\"x\":[1,]}",
		"{\"id\":1,\"x\":{\"a\"}}",
		"{\"id\":1,\"x\":-}",
		"{\"id\":1,\"x\":1e+}",
		"\xef\xbb\xbf{\"id\":1}",
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = json(bad[i], f);
		if (rc != -DP_JSON_MALFORMED)
			fail_msg("case %zu '%s': %d", i, bad[i], rc);
	}
	/* Explicit length: an embedded NUL after the object is trailing garbage. */
	assert_int_equal(dp_json_read("{\"id\":1}\0", 9, f, J_N), -DP_JSON_MALFORMED);
}

static void test_json_read_truncated_prefixes(void **state)
{
	static const char full[] = "{\"id\":123,\"token\":\"86625a502acbba02624797a4a09b3aca\","
				   "\"x\":[1,{\"y\":\"\\u00e9\"},-2.5e3,null,true]}";
	struct dp_json_field f[J_N];
	(void)state;

	assert_int_equal(json(full, f), 0);
	for (size_t n = 0; n < sizeof(full) - 1; n++) {
		char *p = malloc(n + 1);
		memcpy(p, full, n);
		p[n] = '\0';
		assert_int_not_equal(json(p, f), 0);
		free(p);
	}
}

static void test_json_read_unknown_members_skipped(void **state)
{
	struct dp_json_field f[J_N];
	(void)state;

	assert_int_equal(
		json("{\"a\":{\"b\":[1,2,{\"c\":null}],\"d\":\"e\\\"\\\\\\/\\b\\f\\n\\r\\t\"},"
		     "\"id\":5,\"n\":-12.5E+7,\"big\":123456789012345678901234567890,"
		     "\"u\":\"\\ud83d\\ude00 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
		     "\"e\":{},\"f\":[],\"t\":true,\"fa\":false,\"nu\":null,\"id2\":1}",
		     f),
		0);
	assert_true(f[J_ID].u64 == 5);
	/* Member names are compared after escape decoding. */
	assert_int_equal(json("{\"\\u0069d\":7}", f), 0);
	assert_true(f[J_ID].u64 == 7);
	/* Names are case-sensitive: "ID" is unknown, so id is missing. */
	assert_int_equal(json("{\"ID\":7}", f), -DP_JSON_MISSING);
	assert_int_equal(json("{}", f), -DP_JSON_MISSING);
}

static void test_json_read_duplicate_keys(void **state)
{
	struct dp_json_field f[J_N];
	(void)state;

	assert_int_equal(json("{\"id\":1,\"id\":1}", f), -DP_JSON_DUPLICATE);
	assert_int_equal(json("{\"id\":1,\"\\u0069d\":2}", f), -DP_JSON_DUPLICATE);
	assert_int_equal(json("{\"id\":1,\"token\":\"86625a502acbba02624797a4a09b3aca\","
			      "\"token\":\"86625a502acbba02624797a4a09b3aca\"}",
			      f),
			 -DP_JSON_DUPLICATE);
	/* Unknown members may repeat: they are ignored. */
	assert_int_equal(json("{\"id\":1,\"x\":1,\"x\":2}", f), 0);
}

static void test_json_read_depth_limit(void **state)
{
	char text[256];
	struct dp_json_field f[J_N];
	(void)state;

	/* The outer object is level 1; 15 more levels is the limit of 16. */
	for (int levels = 14; levels <= 40; levels++) {
		size_t n = 0;
		n += (size_t)sprintf(text + n, "{\"id\":1,\"x\":");
		for (int i = 0; i < levels; i++)
			text[n++] = i % 2 ? '[' : '{',
			n += i % 2 ? 0 : (size_t)sprintf(text + n, "\"k\":");
		text[n++] = '0';
		for (int i = levels - 1; i >= 0; i--)
			text[n++] = i % 2 ? ']' : '}';
		text[n++] = '}';
		text[n] = '\0';
		assert_int_equal(json(text, f),
				 levels + 1 <= DP_JSON_DEPTH_MAX ? 0 : -DP_JSON_DEPTH);
	}
}

static void test_json_read_tokens(void **state)
{
	struct dp_json_field f[J_N];
	(void)state;

	assert_int_equal(json("{\"id\":1,\"token\":\"86625a502acbba02624797a4a09b3aca\"}", f), 0);
	assert_memory_equal(f[J_TOKEN].token, tok, 16);
	assert_int_equal(json("{\"id\":1,\"token\":\"86625A502ACBBA02624797A4A09B3ACA\"}", f), 0);
	assert_memory_equal(f[J_TOKEN].token, tok, 16);
	assert_int_equal(json("{\"id\":1,\"token\":\"86625a502acbba02624797a4a09b3ac\"}", f),
			 -DP_JSON_TOKEN_FORMAT);
	assert_int_equal(json("{\"id\":1,\"token\":\"86625a502acbba02624797a4a09b3acaa\"}", f),
			 -DP_JSON_TOKEN_FORMAT);
	assert_int_equal(json("{\"id\":1,\"token\":\"86625a502acbba02624797a4a09b3acg\"}", f),
			 -DP_JSON_TOKEN_FORMAT);
	assert_int_equal(json("{\"id\":1,\"token\":\"\"}", f), -DP_JSON_TOKEN_FORMAT);
	/* Escaped hex digits decode to the same token. */
	assert_int_equal(
		json("{\"id\":1,\"token\":\"\\u0038\\u0036625a502acbba02624797a4a09b3aca\"}", f),
		0);
	assert_memory_equal(f[J_TOKEN].token, tok, 16);
}

/* ======================= routes ======================= */

static struct dp_http_req req_of(const char *text)
{
	struct dp_http_req r = expect_req(text);
	return r;
}

static void test_route_time(void **state)
{
	struct dp_http_req r;
	struct resp p;
	(void)state;

	r = req_of("GET /v1/time HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(r.req.op, FS_OP_TIME);
	assert_int_equal(r.client_ip, 0x7f000001);
	no_output();
	dp_http_conn_complete_time(conn, r.slot);
	one_resp(&p);
	assert_int_equal(p.code, 200);
	assert_string_equal(p.body, "{\"now_ms\":784111777000}");
	assert_string_equal(hdr(&p, "Date"), DATE0);
	assert_string_equal(hdr(&p, "Cache-Control"), "no-store");
	assert_string_equal(hdr(&p, "Content-Type"), "application/json");
	assert_string_equal(hdr(&p, "Content-Length"), "23");
	assert_null(hdr(&p, "Connection"));
	assert_false(dp_http_conn_want_close(conn));
}

static void test_route_item(void **state)
{
	struct dp_http_req r;
	struct fs_resp a = {
		.op = FS_OP_ITEM_STATUS, .status = FS_ST_OK, .item_id = 1001, .available = 999};
	struct resp p;
	(void)state;

	r = req_of(get("/v1/items/1001"));
	assert_int_equal(r.req.op, FS_OP_ITEM_STATUS);
	assert_int_equal(r.req.item_id, 1001);
	dp_http_conn_complete(conn, r.slot, &a);
	one_resp(&p);
	assert_int_equal(p.code, 200);
	assert_string_equal(p.body, "{\"status\":\"OK\",\"item\":1001,\"available\":999}");
	assert_string_equal(hdr(&p, "Cache-Control"), "public, max-age=1");

	r = req_of(get("/v1/items/4294967295"));
	assert_int_equal(r.req.item_id, UINT32_MAX);
	a.status = FS_ST_UNKNOWN_ITEM;
	a.item_id = UINT32_MAX;
	dp_http_conn_complete(conn, r.slot, &a);
	one_resp(&p);
	assert_int_equal(p.code, 200);
	assert_string_equal(p.body, "{\"status\":\"UNKNOWN_ITEM\",\"item\":4294967295}");
	assert_string_equal(hdr(&p, "Cache-Control"), "public, max-age=1");

	/* A rate-limited answer is the client's own: never cached by the CDN. */
	r = req_of(get("/v1/items/7"));
	a.status = FS_ST_RATE_LIMITED;
	a.retry_after_ms = 250;
	dp_http_conn_complete(conn, r.slot, &a);
	one_resp(&p);
	assert_int_equal(p.code, 429);
	assert_string_equal(hdr(&p, "Cache-Control"), "no-store");
}

static void test_route_buy(void **state)
{
	struct dp_http_req r;
	struct fs_resp a = {.op = FS_OP_BUY,
			    .status = FS_ST_OK,
			    .qty = 1,
			    .item_id = 1001,
			    .user_id = 777,
			    .request_id = 42,
			    .order_id = 257,
			    .deadline_ns = 1762791300123000000ull,
			    .available = 999};
	char buf[4096];
	(void)state;

	r = req_of(post("/v1/buy", "{\"item\":1001,\"user\":777,\"request_id\":42,\"qty\":1,"
				   "\"token\":\"86625a502acbba02624797a4a09b3aca\"}"));
	assert_int_equal(r.req.op, FS_OP_BUY);
	assert_int_equal(r.req.item_id, 1001);
	assert_true(r.req.user_id == 777 && r.req.request_id == 42 && r.req.qty == 1);
	assert_true(r.req.order_id == 0 && r.req.ref == 0);
	assert_memory_equal(r.req.token, tok, 16);
	dp_http_conn_complete(conn, r.slot, &a);
	drain(buf);
	/* The whole response, byte for byte. */
	assert_string_equal(buf, "HTTP/1.1 200 OK\r\n"
				 "Date: " DATE0 "\r\n"
				 "Content-Type: application/json\r\n"
				 "Content-Length: 110\r\n"
				 "Cache-Control: no-store\r\n"
				 "\r\n"
				 "{\"status\":\"OK\",\"order\":257,\"item\":1001,\"qty\":1,"
				 "\"state\":\"RESERVED\",\"deadline_ms\":1762791300123,"
				 "\"available\":999}");

	/* qty defaults to 1, token to zero (BAD_TOKEN is the shard's answer). */
	r = req_of(post("/v1/buy", "{\"item\":1001,\"user\":18446744073709551615,"
				   "\"request_id\":18446744073709551615}"));
	assert_int_equal(r.req.qty, 1);
	assert_true(r.req.user_id == UINT64_MAX && r.req.request_id == UINT64_MAX);
	assert_memory_equal(r.req.token, (uint8_t[16]){0}, 16);
	memset(&a, 0, sizeof(a));
	a.op = FS_OP_BUY;
	a.status = FS_ST_SOLD_OUT;
	a.item_id = 1001;
	dp_http_conn_complete(conn, r.slot, &a);
	struct resp p;
	one_resp(&p);
	assert_int_equal(p.code, 200);
	assert_string_equal(p.body, "{\"status\":\"SOLD_OUT\",\"item\":1001,\"available\":0}");

	/* NOT_STARTED says when to come back. */
	r = req_of(post("/v1/buy", "{\"item\":5,\"user\":1,\"request_id\":1,\"qty\":3}"));
	assert_int_equal(r.req.qty, 3);
	a.status = FS_ST_NOT_STARTED;
	a.item_id = 5;
	a.available = 100;
	a.retry_after_ms = 5000;
	dp_http_conn_complete(conn, r.slot, &a);
	one_resp(&p);
	assert_int_equal(p.code, 200);
	assert_string_equal(p.body, "{\"status\":\"NOT_STARTED\",\"item\":5,\"available\":100,"
				    "\"retry_after_ms\":5000}");
	assert_null(hdr(&p, "Retry-After"));
}

static void test_route_buy_invalid_bodies(void **state)
{
	static const char *const bodies[] = {
		"{\"user\":777,\"request_id\":42}",			/* item missing */
		"{\"item\":1001,\"request_id\":42}",			/* user missing */
		"{\"item\":1001,\"user\":777}",				/* request_id missing */
		"{\"item\":4294967296,\"user\":777,\"request_id\":42}", /* item range */
		"{\"item\":1001,\"user\":777,\"request_id\":42,\"qty\":65536}",
		"{\"item\":1001,\"user\":-777,\"request_id\":42}",
		"{\"item\":1001,\"user\":777.0,\"request_id\":42}",
		"{\"item\":\"1001\",\"user\":777,\"request_id\":42}",
		"{\"item\":1001,\"user\":777,\"request_id\":42,\"token\":\"abc\"}",
		"{\"item\":1001,\"user\":777,\"request_id\":42,\"token\":null}",
		"{\"item\":1001,\"item\":1002,\"user\":777,\"request_id\":42}",
		"{\"item\":1001,\"user\":777,\"request_id\":42",
		"",
		"[]",
	};
	struct resp p;
	(void)state;

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		expect_error(post("/v1/buy", bodies[i]), 400, &p);
		/* A bad body keeps the connection: framing is intact. */
		assert_false(dp_http_conn_want_close(conn));
		assert_null(hdr(&p, "Connection"));
	}
	/* And the next request on it still works. */
	struct dp_http_req r = req_of(get("/v1/time"));
	assert_int_equal(r.req.op, FS_OP_TIME);
}

static void test_route_confirm_cancel(void **state)
{
	struct dp_http_req r;
	struct fs_resp a = {.op = FS_OP_CONFIRM,
			    .status = FS_ST_OK,
			    .qty = 2,
			    .item_id = 1001,
			    .order_id = 5,
			    .state = FS_STATE_PAID};
	struct resp p;
	(void)state;

	r = req_of(post("/v1/orders/5/confirm", "{\"user\":777,\"request_id\":43,\"ref\":9,"
						"\"token\":\"2aab79309e8ecea7c4f043f199fe45aa\"}"));
	assert_int_equal(r.req.op, FS_OP_CONFIRM);
	assert_true(r.req.order_id == 5 && r.req.user_id == 777 && r.req.request_id == 43 &&
		    r.req.ref == 9 && r.req.item_id == 0 && r.req.qty == 0);
	assert_int_equal(r.req.token[0], 0x2a);
	dp_http_conn_complete(conn, r.slot, &a);
	one_resp(&p);
	assert_int_equal(p.code, 200);
	assert_string_equal(p.body, "{\"status\":\"OK\",\"order\":5,\"item\":1001,\"qty\":2,"
				    "\"state\":\"PAID\"}");

	/* CONFIRM needs ref; item and qty are not its fields (ignored). */
	expect_error(post("/v1/orders/5/confirm", "{\"user\":777,\"request_id\":43}"), 400, &p);
	r = req_of(post("/v1/orders/5/confirm",
			"{\"user\":777,\"request_id\":43,\"ref\":1,\"item\":\"x\",\"qty\":-1}"));
	assert_true(r.req.item_id == 0 && r.req.qty == 0);
	/* A BUY's ref is just an unknown member too. */
	dp_http_conn_complete_time(conn, r.slot);
	drain(reqbuf + 8192);
	r = req_of(post("/v1/buy", "{\"item\":1,\"user\":2,\"request_id\":3,\"ref\":\"x\","
				   "\"\\u0001\":\"y\"}"));
	assert_true(r.req.ref == 0 && r.req.item_id == 1);
	dp_http_conn_complete_time(conn, r.slot);
	drain(reqbuf + 8192);
	r = req_of(post("/v1/orders/5/confirm",
			"{\"user\":777,\"request_id\":43,\"ref\":1,\"\\u0001\":\"x\"}"));
	a.status = FS_ST_WRONG_STATE;
	a.state = FS_STATE_CANCELLED;
	dp_http_conn_complete(conn, r.slot, &a);
	one_resp(&p);
	assert_string_equal(p.body, "{\"status\":\"WRONG_STATE\",\"order\":5,\"item\":1001,"
				    "\"qty\":2,\"state\":\"CANCELLED\"}");

	/* CANCEL: ref optional; the largest order id. */
	r = req_of(post("/v1/orders/18446744073709551615/cancel",
			"{\"user\":777,\"request_id\":44,\"token\":\""
			"86625a502acbba02624797a4a09b3aca"
			"\"}"));
	assert_int_equal(r.req.op, FS_OP_CANCEL);
	assert_true(r.req.order_id == UINT64_MAX && r.req.ref == 0 && r.req.request_id == 44);
	memset(&a, 0, sizeof(a));
	a.op = FS_OP_CANCEL;
	a.status = FS_ST_NOT_FOUND;
	a.order_id = UINT64_MAX;
	dp_http_conn_complete(conn, r.slot, &a);
	one_resp(&p);
	assert_int_equal(p.code, 200);
	assert_string_equal(p.body, "{\"status\":\"NOT_FOUND\",\"order\":18446744073709551615}");

	r = req_of(post("/v1/orders/6/cancel", "{\"user\":1,\"request_id\":2,\"ref\":3}"));
	assert_true(r.req.ref == 3 && r.req.order_id == 6);
	a.status = FS_ST_BAD_TOKEN;
	a.order_id = 6;
	dp_http_conn_complete(conn, r.slot, &a);
	one_resp(&p);
	assert_int_equal(p.code, 200);
	assert_string_equal(p.body, "{\"status\":\"BAD_TOKEN\",\"order\":6}");

	/* An order id past 2^64−1 is out of range. */
	expect_error(post("/v1/orders/18446744073709551616/cancel", "{}"), 400, &p);
}

static void test_route_order_status(void **state)
{
	struct dp_http_req r;
	struct fs_resp a = {.op = FS_OP_ORDER_STATUS,
			    .status = FS_ST_OK,
			    .qty = 1,
			    .item_id = 1001,
			    .order_id = 257,
			    .state = FS_STATE_RESERVED,
			    .deadline_ns = 1762791300123000000ull};
	struct resp p;
	char target[128];
	(void)state;

	snprintf(target, sizeof(target), "/v1/orders/257?user=777&token=%s", tok_hex);
	r = req_of(get(target));
	assert_int_equal(r.req.op, FS_OP_ORDER_STATUS);
	assert_true(r.req.order_id == 257 && r.req.user_id == 777 && r.req.request_id == 0);
	assert_memory_equal(r.req.token, tok, 16);
	dp_http_conn_complete(conn, r.slot, &a);
	one_resp(&p);
	assert_int_equal(p.code, 200);
	assert_string_equal(p.body, "{\"status\":\"OK\",\"order\":257,\"item\":1001,\"qty\":1,"
				    "\"state\":\"RESERVED\",\"deadline_ms\":1762791300123}");
	assert_string_equal(hdr(&p, "Cache-Control"), "no-store");

	/* Token optional, unknown parameters ignored, upper-case hex. */
	r = req_of(get("/v1/orders/257?cb=123&user=9&x"));
	assert_true(r.req.user_id == 9);
	assert_memory_equal(r.req.token, (uint8_t[16]){0}, 16);
	a.status = FS_ST_NOT_FOUND;
	a.state = 0;
	dp_http_conn_complete(conn, r.slot, &a);
	one_resp(&p);
	assert_string_equal(p.body, "{\"status\":\"NOT_FOUND\",\"order\":257}");
	r = req_of(get("/v1/orders/1?user=1&token=86625A502ACBBA02624797A4A09B3ACA"));
	assert_memory_equal(r.req.token, tok, 16);
	dp_http_conn_complete(conn, r.slot, &a);
	drain(reqbuf + 8192);

	static const char *const bad[] = {
		"/v1/orders/257", /* user missing */
		"/v1/orders/257?token=86625a502acbba02624797a4a09b3aca",
		"/v1/orders/257?user=", /* empty */
		"/v1/orders/257?user=abc",
		"/v1/orders/257?user=-1",
		"/v1/orders/257?user=18446744073709551616",
		"/v1/orders/257?user=1&user=2",	      /* twice */
		"/v1/orders/257?user=1&token=86625a", /* short token */
		"/v1/orders/257?user=1&token=86625a502acbba02624797a4a09b3acz",
		"/v1/orders/257?user=%37", /* no percent-decoding */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_error(get(bad[i]), 400, &p);
}

static void test_route_unknown_path_404(void **state)
{
	static const char *const paths[] = {
		"/",
		"/v1",
		"/v1/",
		"/v1/time/",
		"/v1/timex",
		"/v2/time",
		"/V1/time",
		"/v1/items",
		"/v1/items/",
		"/v1/items/abc",
		"/v1/items/01",
		"/v1/items/1/x",
		"/v1/items/-1",
		"/v1/orders/",
		"/v1/orders/5/",
		"/v1/orders/5/pay",
		"/v1/orders/x/cancel",
		"/v1/buy/",
		"/metrics",
		"/healthz",
		"/admin/snapshot",
		"/v1/%74ime",
		"/v1/./time",
	};
	struct resp p;
	(void)state;

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		expect_error(get(paths[i]), 404, &p);
		assert_false(dp_http_conn_want_close(conn));
	}
	expect_error(post("/v1/nope", "{}"), 404, &p);
}

static void test_route_wrong_method_405(void **state)
{
	struct resp p;
	(void)state;

	expect_error(post("/v1/time", "{}"), 405, &p);
	assert_string_equal(hdr(&p, "Allow"), "GET");
	expect_error(post("/v1/items/1", "{}"), 405, &p);
	assert_string_equal(hdr(&p, "Allow"), "GET");
	expect_error(post("/v1/orders/1", "{}"), 405, &p);
	assert_string_equal(hdr(&p, "Allow"), "GET");
	expect_error(get("/v1/buy"), 405, &p);
	assert_string_equal(hdr(&p, "Allow"), "POST");
	expect_error(get("/v1/orders/1/confirm"), 405, &p);
	assert_string_equal(hdr(&p, "Allow"), "POST");
	expect_error("DELETE /v1/orders/1/cancel HTTP/1.1\r\nHost: a\r\n\r\n", 405, &p);
	assert_string_equal(hdr(&p, "Allow"), "POST");
	expect_error("HEAD /v1/time HTTP/1.1\r\nHost: a\r\n\r\n", 405, &p);
	assert_string_equal(hdr(&p, "Allow"), "GET");
	expect_error("PUT /v1/buy HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 405, &p);
	assert_false(dp_http_conn_want_close(conn));
}

static void test_route_absolute_form_target(void **state)
{
	struct dp_http_req r;
	(void)state;

	r = req_of("GET http://origin.example/v1/items/3 HTTP/1.1\r\nHost: origin.example\r\n\r\n");
	assert_int_equal(r.req.op, FS_OP_ITEM_STATUS);
	assert_int_equal(r.req.item_id, 3);
}

/* ======================= responses ======================= */

static void complete_status(const char *target, uint8_t op, uint8_t st, uint32_t retry_ms,
			    struct resp *p)
{
	struct dp_http_req r = req_of(get(target));
	struct fs_resp a = {.op = op, .status = st, .retry_after_ms = retry_ms};

	dp_http_conn_complete(conn, r.slot, &a);
	one_resp(p);
}

static void test_resp_rate_limited_429(void **state)
{
	struct resp p;
	(void)state;

	complete_status("/v1/time", FS_OP_TIME, FS_ST_RATE_LIMITED, 1000, &p);
	assert_int_equal(p.code, 429);
	assert_string_equal(hdr(&p, "Retry-After"), "1");
	assert_string_equal(p.body, "{\"status\":\"RATE_LIMITED\",\"retry_after_ms\":1000}");
	complete_status("/v1/time", FS_OP_TIME, FS_ST_RATE_LIMITED, 1, &p);
	assert_string_equal(hdr(&p, "Retry-After"), "1"); /* at least 1 */
	assert_string_equal(p.body, "{\"status\":\"RATE_LIMITED\",\"retry_after_ms\":1}");
	complete_status("/v1/items/1", FS_OP_ITEM_STATUS, FS_ST_RATE_LIMITED, 2001, &p);
	assert_string_equal(hdr(&p, "Retry-After"), "3"); /* whole seconds, rounded up */
}

static void test_resp_busy_unavailable_503(void **state)
{
	struct resp p;
	(void)state;

	complete_status("/v1/items/1", FS_OP_ITEM_STATUS, FS_ST_BUSY, 50, &p);
	assert_int_equal(p.code, 503);
	assert_string_equal(hdr(&p, "Retry-After"), "1");
	assert_string_equal(p.body, "{\"status\":\"BUSY\",\"retry_after_ms\":50}");
	/* No figure from the shard: 1000 ms, and the two headers agree. */
	complete_status("/v1/items/1", FS_OP_ITEM_STATUS, FS_ST_UNAVAILABLE, 0, &p);
	assert_int_equal(p.code, 503);
	assert_string_equal(hdr(&p, "Retry-After"), "1");
	assert_string_equal(p.body, "{\"status\":\"UNAVAILABLE\",\"retry_after_ms\":1000}");
	assert_string_equal(hdr(&p, "Cache-Control"), "no-store");
}

static void test_resp_bad_request_400(void **state)
{
	struct resp p;
	(void)state;

	complete_status("/v1/orders/1?user=0", FS_OP_ORDER_STATUS, FS_ST_BAD_REQUEST, 0, &p);
	assert_int_equal(p.code, 400);
	assert_string_equal(p.body, "{\"status\":\"BAD_REQUEST\"}");
	assert_null(hdr(&p, "Retry-After"));
	assert_false(dp_http_conn_want_close(conn));
}

static void test_resp_every_business_outcome_200(void **state)
{
	static const uint8_t sts[] = {FS_ST_OK,		 FS_ST_SOLD_OUT,     FS_ST_LIMIT_EXCEEDED,
				      FS_ST_NOT_STARTED, FS_ST_ENDED,	     FS_ST_BAD_TOKEN,
				      FS_ST_NOT_FOUND,	 FS_ST_UNKNOWN_ITEM, FS_ST_WRONG_STATE};
	struct resp p;
	char want[64];
	(void)state;

	for (size_t i = 0; i < sizeof(sts); i++) {
		complete_status("/v1/items/1", FS_OP_ITEM_STATUS, sts[i], 0, &p);
		assert_int_equal(p.code, 200);
		snprintf(want, sizeof(want), "{\"status\":\"%s\"", fs_status_name(sts[i]));
		assert_memory_equal(p.body, want, strlen(want));
		assert_int_equal(dp_http_status_code(sts[i]), 200);
	}
}

static void test_resp_date_format(void **state)
{
	char d[DP_HTTP_DATE_LEN + 1];
	(void)state;

	dp_http_format_date(784111777, d);
	assert_string_equal(d, DATE0);
	dp_http_format_date(0, d);
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
	dp_http_format_date(1762790400, d);
	assert_string_equal(d, "Mon, 10 Nov 2025 16:00:00 GMT");
	/* The context re-formats when the second changes. */
	clock_advance_ms(999);
	assert_string_equal(ctx.date, DATE0);
	clock_advance_ms(1);
	assert_string_equal(ctx.date, "Sun, 06 Nov 1994 08:49:38 GMT");
}

/* ======================= connection rules ======================= */

static void test_conn_http10_closes(void **state)
{
	struct dp_http_req r;
	struct resp p;
	(void)state;

	r = req_of("GET /v1/time HTTP/1.0\r\n\r\nGET /v1/time HTTP/1.0\r\n\r\n");
	dp_http_conn_complete_time(conn, r.slot);
	assert_int_equal(dp_http_conn_next(conn, &r), 0); /* the second is dropped */
	one_resp(&p);
	assert_string_equal(hdr(&p, "Connection"), "close");
	assert_true(dp_http_conn_want_close(conn));
}

static void test_conn_http10_keep_alive(void **state)
{
	struct dp_http_req r;
	struct resp p;
	(void)state;

	r = req_of("GET /v1/time HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	dp_http_conn_complete_time(conn, r.slot);
	one_resp(&p);
	assert_string_equal(hdr(&p, "Connection"), "keep-alive");
	assert_false(dp_http_conn_want_close(conn));
	r = req_of("GET /v1/time HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	dp_http_conn_complete_time(conn, r.slot);
	one_resp(&p);
	assert_false(dp_http_conn_want_close(conn));
	/* A codec answer to a keep-alive 1.0 client says so too. */
	expect_error("GET /nope HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 404, &p);
	assert_string_equal(hdr(&p, "Connection"), "keep-alive");
	assert_false(dp_http_conn_want_close(conn));
	expect_error("GET /nope HTTP/1.0\r\n\r\n", 404, &p);
	assert_string_equal(hdr(&p, "Connection"), "close");
	assert_true(dp_http_conn_want_close(conn));
}

static void test_conn_connection_close(void **state)
{
	struct dp_http_req r;
	struct resp p;
	(void)state;

	r = req_of("GET /v1/time HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
		   "GET /v1/time HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(dp_http_conn_next(conn, &r), 0);
	assert_false(dp_http_conn_want_close(conn)); /* not before its answer is out */
	dp_http_conn_complete_time(conn, r.slot);
	one_resp(&p);
	assert_string_equal(hdr(&p, "Connection"), "close");
	assert_true(dp_http_conn_want_close(conn));
	/* Whatever arrives after is dropped. */
	feed(get("/v1/time"));
	assert_int_equal(dp_http_conn_next(conn, &r), 0);
	no_output();
}

static void test_conn_upgrade_answered_then_closed(void **state)
{
	struct dp_http_req r, more;
	struct resp p;
	(void)state;

	r = req_of(
		"GET /v1/time HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\n"
		"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\nPRI * HTTP/2.0");
	assert_int_equal(r.req.op, FS_OP_TIME);
	assert_int_equal(dp_http_conn_next(conn, &more), 0);
	dp_http_conn_complete_time(conn, r.slot);
	one_resp(&p);
	assert_int_equal(p.code, 200);
	assert_string_equal(hdr(&p, "Connection"), "close");
	assert_true(dp_http_conn_want_close(conn));
}

static void test_conn_pipelining_out_of_order(void **state)
{
	struct dp_http_req r[4];
	struct fs_resp a = {.op = FS_OP_ITEM_STATUS, .status = FS_ST_OK};
	char *buf = malloc(OUTBUF);
	struct resp p;
	size_t off = 0;
	(void)state;

	feed("GET /v1/items/1 HTTP/1.1\r\nHost: a\r\n\r\n"
	     "GET /v1/items/2 HTTP/1.1\r\nHost: a\r\n\r\n"
	     "GET /v1/nothing HTTP/1.1\r\nHost: a\r\n\r\n"
	     "GET /v1/items/3 HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(dp_http_conn_next(conn, &r[0]), 1);
	assert_int_equal(dp_http_conn_next(conn, &r[1]), 1);
	assert_int_equal(dp_http_conn_next(conn, &r[3]), 1); /* the 404 is answered inside */
	assert_int_equal(dp_http_conn_next(conn, &r[2]), 0);
	assert_int_equal(dp_http_conn_pending(conn), 3);
	/* Answers come back 3, 2, 1: nothing leaves until 1 has. */
	a.item_id = 3;
	dp_http_conn_complete(conn, r[3].slot, &a);
	a.item_id = 2;
	dp_http_conn_complete(conn, r[1].slot, &a);
	no_output();
	a.item_id = 1;
	dp_http_conn_complete(conn, r[0].slot, &a);
	drain(buf);
	off += parse_resp(buf + off, &p);
	assert_string_equal(p.body, "{\"status\":\"OK\",\"item\":1,\"available\":0}");
	off += parse_resp(buf + off, &p);
	assert_string_equal(p.body, "{\"status\":\"OK\",\"item\":2,\"available\":0}");
	off += parse_resp(buf + off, &p);
	assert_int_equal(p.code, 404);
	off += parse_resp(buf + off, &p);
	assert_string_equal(p.body, "{\"status\":\"OK\",\"item\":3,\"available\":0}");
	assert_int_equal(buf[off], '\0');
	assert_int_equal(dp_http_conn_pending(conn), 0);
	free(buf);
}

static void test_conn_pipeline_limit_backpressure(void **state)
{
	struct dp_http_req r[3];
	struct resp p;
	(void)state;

	init_cfg(2);
	dp_http_conn_init(conn, &ctx, 0x7f000001);
	feed("GET /v1/time HTTP/1.1\r\nHost: a\r\n\r\nGET /v1/time HTTP/1.1\r\nHost: a\r\n\r\n"
	     "GET /v1/time HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(dp_http_conn_next(conn, &r[0]), 1);
	assert_int_equal(dp_http_conn_next(conn, &r[1]), 1);
	assert_int_equal(dp_http_conn_next(conn, &r[2]), 0); /* queue full: it waits */
	/* No header timeout while we are the ones not reading. */
	assert_true(dp_http_conn_deadline_ms(conn) == INT64_MAX);
	dp_http_conn_complete_time(conn, r[0].slot);
	assert_int_equal(dp_http_conn_next(conn, &r[2]), 1);
	dp_http_conn_complete_time(conn, r[1].slot);
	dp_http_conn_complete_time(conn, r[2].slot);
	char *buf = malloc(OUTBUF);
	size_t n = drain(buf), off = 0;
	for (int i = 0; i < 3; i++) {
		off += parse_resp(buf + off, &p);
		assert_int_equal(p.code, 200);
	}
	assert_int_equal(off, n);
	free(buf);
	/* The input buffer fills and rx_space says stop reading. */
	init_cfg(1);
	dp_http_conn_init(conn, &ctx, 0x7f000001);
	feed(get("/v1/time"));
	assert_int_equal(dp_http_conn_next(conn, &r[0]), 1);
	char *bytes = malloc(DP_HTTP_IN_MAX * 2);
	memset(bytes, 'x', DP_HTTP_IN_MAX * 2);
	assert_int_equal(dp_http_conn_input(conn, bytes, DP_HTTP_IN_MAX * 2), DP_HTTP_IN_MAX);
	char *space;
	assert_int_equal(dp_http_conn_rx_space(conn, &space), 0);
	free(bytes);
}

static void test_conn_split_bytes(void **state)
{
	const char *text;
	struct dp_http_req r;
	int got = 0;
	(void)state;

	text = post("/v1/buy", "{\"item\":1001,\"user\":777,\"request_id\":42}");
	for (size_t i = 0; text[i]; i++) {
		assert_int_equal(dp_http_conn_input(conn, text + i, 1), 1);
		int rc = dp_http_conn_next(conn, &r);
		if (rc == 1) {
			assert_int_equal(text[i + 1], '\0'); /* only on the last byte */
			got++;
		}
	}
	assert_int_equal(got, 1);
	assert_true(r.req.op == FS_OP_BUY && r.req.item_id == 1001 && r.req.user_id == 777);
}

static void test_conn_post_without_length_411(void **state)
{
	struct resp p;
	(void)state;

	expect_error("POST /v1/buy HTTP/1.1\r\nHost: a\r\n\r\n", 411, &p);
	assert_string_equal(hdr(&p, "Connection"), "close");
	assert_true(dp_http_conn_want_close(conn));
}

static void test_conn_transfer_encoding_411(void **state)
{
	static const char *const reqs[] = {
		"POST /v1/buy HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
		"5\r\n{\"a\":\r\n0\r\n\r\n",
		"POST /v1/buy HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
		"POST /v1/buy HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n"
		"Transfer-Encoding: chunked\r\n\r\n{}",
		"POST /v1/buy HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		"Content-Length: 2\r\n\r\n{}",
		"GET /v1/time HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	};
	struct resp p;
	(void)state;

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		dp_http_conn_init(conn, &ctx, 1);
		expect_error(reqs[i], 411, &p);
		assert_string_equal(hdr(&p, "Connection"), "close");
		assert_true(dp_http_conn_want_close(conn));
	}
}

static void test_conn_body_too_large_413(void **state)
{
	struct resp p;
	char *body = malloc(DP_HTTP_BODY_MAX + 2);
	struct dp_http_req r;
	(void)state;

	/* Exactly the limit is accepted (and must still be valid JSON). */
	memset(body, ' ', DP_HTTP_BODY_MAX);
	memcpy(body, "{\"item\":1,\"user\":2,\"request_id\":3}", 35);
	body[DP_HTTP_BODY_MAX] = '\0';
	r = req_of(post("/v1/buy", body));
	assert_int_equal(r.req.item_id, 1);
	dp_http_conn_complete_time(conn, r.slot); /* any answer */
	drain(reqbuf + 8192);
	/* One byte more is refused before the body is read. */
	expect_error("POST /v1/buy HTTP/1.1\r\nHost: a\r\nContent-Length: 4097\r\n\r\n", 413, &p);
	assert_true(dp_http_conn_want_close(conn));
	free(body);
}

static void test_conn_head_limits_414_431(void **state)
{
	struct resp p;
	static char text[20000];
	struct dp_http_req r;
	size_t n;
	(void)state;

	/* A request line alone over the limit: 414. */
	n = (size_t)sprintf(text, "GET /v1/orders/1?user=1&pad=");
	memset(text + n, 'a', DP_HTTP_HEAD_MAX_DEFAULT);
	strcpy(text + n + DP_HTTP_HEAD_MAX_DEFAULT, " HTTP/1.1\r\nHost: a\r\n\r\n");
	expect_error(text, 414, &p);
	assert_true(dp_http_conn_want_close(conn));

	/* A long target within the limit, with unknown parameters, is served. */
	dp_http_conn_init(conn, &ctx, 1);
	n = (size_t)sprintf(text, "GET /v1/orders/1?user=1&pad=");
	memset(text + n, 'a', 8000);
	strcpy(text + n + 8000, " HTTP/1.1\r\nHost: a\r\n\r\n");
	r = req_of(text);
	assert_int_equal(r.req.user_id, 1);

	/* Request line and headers over 8 KiB: 431. */
	dp_http_conn_init(conn, &ctx, 1);
	n = (size_t)sprintf(text, "GET /v1/time HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(text + n, "X-Pad-%03d: %080d\r\n", i, 0);
	strcpy(text + n, "\r\n");
	expect_error(text, 431, &p);
	assert_true(dp_http_conn_want_close(conn));

	/* Headers just under the limit are fine. */
	dp_http_conn_init(conn, &ctx, 1);
	n = (size_t)sprintf(text, "GET /v1/time HTTP/1.1\r\nHost: a\r\n");
	for (int i = 0; i < 80; i++)
		n += (size_t)sprintf(text + n, "X-Pad-%03d: %080d\r\n", i, 0);
	strcpy(text + n, "\r\n");
	r = req_of(text);
	assert_int_equal(r.req.op, FS_OP_TIME);

	/* The boundary: request line + headers of exactly head_max bytes pass, one more is 431. */
	for (size_t extra = 0; extra <= 1; extra++) {
		dp_http_conn_init(conn, &ctx, 1);
		n = (size_t)sprintf(text, "GET /v1/time HTTP/1.1\r\nHost: a\r\nX-Pad: ");
		size_t pad = DP_HTTP_HEAD_MAX_DEFAULT + extra - n - 4;
		memset(text + n, 'p', pad);
		strcpy(text + n + pad, "\r\n\r\n");
		assert_int_equal(strlen(text), DP_HTTP_HEAD_MAX_DEFAULT + extra);
		if (extra == 0) {
			r = req_of(text);
			assert_int_equal(r.req.op, FS_OP_TIME);
		} else {
			expect_error(text, 431, &p);
		}
	}

	/* The limit is per request: two pipelined 5 KB heads are both served. */
	dp_http_conn_init(conn, &ctx, 1);
	n = 0;
	for (int k = 0; k < 2; k++) {
		n += (size_t)sprintf(text + n, "GET /v1/time HTTP/1.1\r\nHost: a\r\nX-Pad: ");
		memset(text + n, 'p', 5000);
		n += 5000;
		n += (size_t)sprintf(text + n, "\r\n\r\n");
	}
	size_t off = 0;
	int got = 0;
	while (off < n) {
		off += dp_http_conn_input(conn, text + off, n - off);
		while (dp_http_conn_next(conn, &r) == 1)
			got++;
	}
	assert_int_equal(got, 2);
	assert_false(dp_http_conn_want_close(conn));
}

static void test_conn_malformed_400_closes(void **state)
{
	static const char *const reqs[] = {
		"GARBAGE\r\n\r\n",
		"GET /v1/time HTTP/1.1\r\n\r\n", /* no Host */
		"GET /v1/time HTTP/1.x\r\nHost: a\r\n\r\n",
		"GET /v1/time HTTP/1.1\r\nHost a\r\n\r\n",
		"GET /v1/time HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: "
		"2\r\n\r\n",
		"POST /v1/buy HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
		"POST /v1/buy HTTP/1.1\r\nHost: a\r\nContent-Length: "
		"99999999999999999999999\r\n\r\n",
		"GET /v1/ti me HTTP/1.1\r\nHost: a\r\n\r\n",
	};
	struct resp p;
	(void)state;

	for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
		dp_http_conn_init(conn, &ctx, 1);
		expect_error(reqs[i], 400, &p);
		assert_string_equal(hdr(&p, "Connection"), "close");
		assert_true(dp_http_conn_want_close(conn));
	}
}

static void test_conn_wrong_version_505(void **state)
{
	struct resp p;
	(void)state;

	expect_error("GET /v1/time HTTP/2.0\r\nHost: a\r\n\r\n", 505, &p);
	assert_true(dp_http_conn_want_close(conn));
	/* A request line without a version is HTTP/0.9. */
	dp_http_conn_init(conn, &ctx, 1);
	expect_error("GET /v1/time\r\nHost: a\r\n\r\n", 505, &p);
	assert_true(dp_http_conn_want_close(conn));
}

static void test_conn_header_timeout_408(void **state)
{
	struct dp_http_req r;
	struct resp p;
	(void)state;

	/* First request: counted from accept, even with no byte at all. */
	assert_true(dp_http_conn_deadline_ms(conn) == ctx.mono_ms + 10000);
	clock_advance_ms(9999);
	dp_http_conn_tick(conn);
	no_output();
	clock_advance_ms(1);
	dp_http_conn_tick(conn);
	one_resp(&p);
	assert_int_equal(p.code, 408);
	assert_string_equal(hdr(&p, "Connection"), "close");
	assert_true(dp_http_conn_want_close(conn));

	/* A later request: from its first byte; idle time before it is free. */
	dp_http_conn_init(conn, &ctx, 1);
	r = req_of(get("/v1/time"));
	dp_http_conn_complete_time(conn, r.slot);
	one_resp(&p);
	clock_advance_ms(60000);
	dp_http_conn_tick(conn);
	assert_false(dp_http_conn_want_close(conn));
	feed("GET /v1/time HTTP/1.1\r\nHo");
	assert_int_equal(dp_http_conn_next(conn, &r), 0);
	assert_true(dp_http_conn_deadline_ms(conn) == ctx.mono_ms + 10000);
	clock_advance_ms(5000);
	feed("st: a\r\n"); /* progress does not extend the header timeout */
	assert_int_equal(dp_http_conn_next(conn, &r), 0);
	clock_advance_ms(5000);
	dp_http_conn_tick(conn);
	one_resp(&p);
	assert_int_equal(p.code, 408);
	assert_true(dp_http_conn_want_close(conn));

	/* The body must follow its headers within the same time. */
	dp_http_conn_init(conn, &ctx, 1);
	feed("POST /v1/buy HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n{\"item\"");
	assert_int_equal(dp_http_conn_next(conn, &r), 0);
	clock_advance_ms(10000);
	dp_http_conn_tick(conn);
	one_resp(&p);
	assert_int_equal(p.code, 408);
}

static void test_conn_idle_timeout(void **state)
{
	struct dp_http_req r;
	struct resp p;
	(void)state;

	r = req_of(get("/v1/time"));
	/* Waiting on a shard is not idle. */
	clock_advance_ms(2000000);
	dp_http_conn_tick(conn);
	assert_false(dp_http_conn_want_close(conn));
	dp_http_conn_complete_time(conn, r.slot);
	one_resp(&p);
	assert_true(dp_http_conn_deadline_ms(conn) == ctx.mono_ms + 900000);
	clock_advance_ms(899999);
	dp_http_conn_tick(conn);
	assert_false(dp_http_conn_want_close(conn));
	clock_advance_ms(1);
	dp_http_conn_tick(conn);
	assert_true(dp_http_conn_want_close(conn));
	no_output(); /* idle connections are closed without a response */

	/* A peer that stops reading its answers is idle too; they are dropped. */
	dp_http_conn_init(conn, &ctx, 1);
	r = req_of("GET /v1/time HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
	dp_http_conn_complete_time(conn, r.slot);
	assert_true(dp_http_conn_want_close(conn));
	const char *d;
	assert_true(dp_http_conn_tx_data(conn, &d) > 0);
	clock_advance_ms(900000);
	dp_http_conn_tick(conn);
	assert_true(dp_http_conn_want_close(conn));
	no_output();
}

static void test_conn_output_backpressure(void **state)
{
	struct dp_http_req r[DP_HTTP_PIPELINE_MAX];
	char *all = malloc(DP_HTTP_PIPELINE_MAX * 64);
	char *buf = malloc(OUTBUF * 2);
	struct fs_resp a = {.op = FS_OP_BUY,
			    .status = FS_ST_OK,
			    .qty = 65535,
			    .item_id = UINT32_MAX,
			    .order_id = UINT64_MAX,
			    .deadline_ns = UINT64_MAX,
			    .available = UINT32_MAX};
	const char *d;
	size_t n, total = 0, off = 0;
	struct resp p;
	(void)state;

	all[0] = '\0';
	for (unsigned i = 0; i < DP_HTTP_PIPELINE_MAX; i++)
		strcat(all, "GET /v1/time HTTP/1.1\r\nHost: a\r\n\r\n");
	feed(all);
	for (unsigned i = 0; i < DP_HTTP_PIPELINE_MAX; i++)
		assert_int_equal(dp_http_conn_next(conn, &r[i]), 1);
	for (unsigned i = 0; i < DP_HTTP_PIPELINE_MAX; i++)
		dp_http_conn_complete(conn, r[i].slot, &a); /* the largest body there is */
	assert_true(dp_http_conn_pending(conn) == 0);
	/* Send a few bytes at a time; every response still comes out whole. */
	while ((n = dp_http_conn_tx_data(conn, &d)) > 0) {
		n = n > 1000 ? 1000 : n;
		memcpy(buf + total, d, n);
		total += n;
		dp_http_conn_tx_done(conn, n);
	}
	buf[total] = '\0';
	for (unsigned i = 0; i < DP_HTTP_PIPELINE_MAX; i++) {
		off += parse_resp(buf + off, &p);
		assert_int_equal(p.code, 200);
		assert_non_null(strstr(p.body, "\"order\":18446744073709551615"));
		assert_true(p.len <= DP_HTTP_RESP_MAX);
	}
	assert_int_equal(off, total);
	free(all);
	free(buf);
}

static void test_conn_stats(void **state)
{
	struct dp_http_req r;
	struct resp p;
	(void)state;

	r = req_of(get("/v1/time"));
	dp_http_conn_complete_time(conn, r.slot);
	one_resp(&p);
	expect_error(get("/nope"), 404, &p);
	assert_true(ctx.stats.requests == 2 && ctx.stats.responses == 2);
	assert_true(ctx.stats.by_code[2] == 1 && ctx.stats.by_code[4] == 1 &&
		    ctx.stats.errors == 1);
}

static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d);

/* A fake per-address bucket: records who was charged; refuses once
 * charge_tokens is used up. */
static unsigned charge_calls, charge_tokens;
static uint32_t charge_last_ip;

static bool fake_charge(void *arg, uint32_t client_ip, int64_t mono, uint32_t *retry_ms)
{
	assert_ptr_equal(arg, &charge_calls);
	assert_true(mono == ctx.mono_ns);
	charge_calls++;
	charge_last_ip = client_ip;
	if (charge_tokens == 0) {
		*retry_ms = 2500;
		return false;
	}
	charge_tokens--;
	return true;
}

/* Every request the codec refuses is charged to its client (HTTP-API.md:
 * every request counts): the header's address once the headers are
 * complete and the peer is trusted, the TCP peer otherwise or before; an
 * empty bucket turns the error into 429 (and a closing error still closes).
 * Requests the codec passes on are charged by the engine, not here. */
static void test_conn_refused_requests_charged(void **state)
{
	const char *xff = "GET /nope HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n";
	struct dp_http_req r;
	struct resp p;
	(void)state;

	ctx.charge = fake_charge;
	ctx.charge_arg = &charge_calls;
	charge_calls = 0;
	charge_tokens = 2;
	/* Untrusted peer (127.0.0.1): its X-Forwarded-For is ignored. */
	expect_error(xff, 404, &p);
	assert_true(charge_calls == 1 && charge_last_ip == ip4(127, 0, 0, 1));
	/* A request that reaches the caller is not charged by the codec. */
	r = req_of(get("/v1/time"));
	dp_http_conn_complete_time(conn, r.slot);
	one_resp(&p);
	assert_int_equal(charge_calls, 1);
	/* Trusted edge: the header's client is charged. */
	dp_http_conn_init(conn, &ctx, ip4(10, 1, 2, 3));
	feed("POST /v1/buy HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.7\r\n"
	     "Content-Length: 5\r\n\r\n{bad}");
	assert_int_equal(dp_http_conn_next(conn, &r), 0);
	one_resp(&p);
	assert_int_equal(p.code, 400);
	assert_true(charge_calls == 2 && charge_last_ip == ip4(203, 0, 113, 7));
	/* The bucket is empty: 429 with Retry-After, the connection stays. */
	feed(xff);
	assert_int_equal(dp_http_conn_next(conn, &r), 0);
	one_resp(&p);
	assert_int_equal(p.code, 429);
	assert_string_equal(hdr(&p, "Retry-After"), "3");
	assert_string_equal(p.body, "{\"status\":\"RATE_LIMITED\",\"retry_after_ms\":2500}");
	assert_null(hdr(&p, "Connection"));
	assert_false(dp_http_conn_want_close(conn));
	assert_true(charge_calls == 3 && charge_last_ip == ip4(203, 0, 113, 7));
	assert_true(ctx.stats.limited == 1);
	/* Refused before the headers are complete (a framing error): the peer;
	 * 429, and the connection still closes. */
	feed("GET /v1/time HTTP/1.1\r\nX-Forwarded-For: 203.0.113.7\r\nBad Header\r\n\r\n");
	assert_int_equal(dp_http_conn_next(conn, &r), 0);
	one_resp(&p);
	assert_int_equal(p.code, 429);
	assert_string_equal(hdr(&p, "Connection"), "close");
	assert_true(dp_http_conn_want_close(conn));
	assert_true(charge_calls == 4 && charge_last_ip == ip4(10, 1, 2, 3));
	/* A header timeout is charged too (to the peer: no headers yet). */
	dp_http_conn_init(conn, &ctx, ip4(10, 1, 2, 4));
	charge_tokens = 1;
	clock_advance_ms(DP_HTTP_HEADER_TIMEOUT_MS_DEFAULT);
	dp_http_conn_tick(conn);
	one_resp(&p);
	assert_int_equal(p.code, 408);
	assert_true(charge_calls == 5 && charge_last_ip == ip4(10, 1, 2, 4));
	ctx.charge = NULL;
}

/* ======================= client address ======================= */

static uint32_t ip4(unsigned a, unsigned b, unsigned c, unsigned d)
{
	return a << 24 | b << 16 | c << 8 | d;
}

static uint32_t client(uint32_t peer, const char *h)
{
	return dp_http_client_ip(peer, h, h ? strlen(h) : 0, true, cfg.trusted, cfg.ntrusted);
}

static void test_client_ip_xff_trusted_peer(void **state)
{
	uint32_t edge = ip4(10, 1, 2, 3);
	(void)state;

	assert_int_equal(client(edge, "203.0.113.7"), ip4(203, 0, 113, 7));
	/* Rightmost untrusted: a client-forged left part is ignored. */
	assert_int_equal(client(edge, "1.1.1.1, 203.0.113.7"), ip4(203, 0, 113, 7));
	assert_int_equal(client(edge, "1.1.1.1,203.0.113.7, 10.9.9.9 ,192.0.2.5"),
			 ip4(203, 0, 113, 7));
	/* All trusted: the leftmost. */
	assert_int_equal(client(edge, "10.0.0.1, 10.0.0.2"), ip4(10, 0, 0, 1));
	/* Absent or malformed: the peer. */
	assert_int_equal(client(edge, NULL), edge);
	assert_int_equal(client(edge, ""), edge);
	assert_int_equal(client(edge, "1.2.3.4, garbage"), edge);
	assert_int_equal(client(edge, "1.2.3.4, 203.0.113.7:443"), edge);
	assert_int_equal(client(edge, "1.2.3.4,"), edge);
	assert_int_equal(client(edge, "01.2.3.4"), edge);
	/* A malformed entry left of the client does not matter. */
	assert_int_equal(client(edge, "garbage, 203.0.113.7"), ip4(203, 0, 113, 7));
	/* IPv4-mapped IPv6 is the IPv4 address; other IPv6 maps into 240/4. */
	assert_int_equal(client(edge, "::ffff:203.0.113.7"), ip4(203, 0, 113, 7));
	uint32_t a = client(edge, "2001:db8:1:2::1"), b = client(edge, "[2001:db8:1:2::ffff]"),
		 c = client(edge, "2001:db8:1:3::1");
	assert_true((a >> 28) == 0xf && a == b && a != c);
}

static void test_client_ip_untrusted_peer_ignores_header(void **state)
{
	uint32_t peer = ip4(198, 51, 100, 9);
	(void)state;

	assert_int_equal(client(peer, "203.0.113.7"), peer);
	assert_int_equal(client(peer, "10.0.0.1"), peer);
	assert_int_equal(
		dp_http_client_ip(peer, "203.0.113.7", 11, false, cfg.trusted, cfg.ntrusted), peer);
}

static void test_client_ip_single_address_header(void **state)
{
	uint32_t edge = ip4(192, 0, 2, 77);
	(void)state;

	assert_int_equal(
		dp_http_client_ip(edge, " 203.0.113.7 ", 13, false, cfg.trusted, cfg.ntrusted),
		ip4(203, 0, 113, 7));
	/* A list (or the header twice, joined) is malformed for a single-address header. */
	assert_int_equal(
		dp_http_client_ip(edge, "1.2.3.4,5.6.7.8", 15, false, cfg.trusted, cfg.ntrusted),
		edge);
	assert_int_equal(dp_http_client_ip(edge, "nope", 4, false, cfg.trusted, cfg.ntrusted),
			 edge);
}

static void test_client_ip_through_connection(void **state)
{
	struct dp_http_req r;
	char err[128];
	(void)state;

	/* From a trusted edge, X-Forwarded-For over two header lines. */
	dp_http_conn_init(conn, &ctx, ip4(10, 0, 0, 1));
	r = req_of("GET /v1/time HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.7\r\n"
		   "x-forwarded-for: 10.0.0.9\r\n\r\n");
	assert_int_equal(r.client_ip, ip4(203, 0, 113, 7));
	/* The next request on the same connection without the header: the peer. */
	r = req_of(get("/v1/time"));
	assert_int_equal(r.client_ip, ip4(10, 0, 0, 1));
	/* From an untrusted peer the header is ignored. */
	dp_http_conn_init(conn, &ctx, ip4(198, 51, 100, 1));
	r = req_of("GET /v1/time HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n");
	assert_int_equal(r.client_ip, ip4(198, 51, 100, 1));
	/* A header longer than we keep: its tail still counts. */
	dp_http_conn_init(conn, &ctx, ip4(10, 0, 0, 1));
	char *text = malloc(4096);
	size_t n = (size_t)sprintf(text, "GET /v1/time HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: ");
	for (int i = 0; i < 100; i++)
		n += (size_t)sprintf(text + n, "11.22.33.%d, ", i);
	sprintf(text + n, "203.0.113.8\r\n\r\n");
	r = req_of(text);
	assert_int_equal(r.client_ip, ip4(203, 0, 113, 8));
	free(text);

	/* CF-Connecting-IP configured: X-Forwarded-For is then just a header. */
	dp_http_cfg_defaults(&cfg);
	strcpy(cfg.client_ip_header, "CF-Connecting-IP");
	cfg.ntrusted = (unsigned)dp_http_cidr_parse("10.0.0.0/8", cfg.trusted, DP_HTTP_TRUSTED_MAX,
						    err, sizeof(err));
	assert_int_equal(dp_http_cfg_init(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.iphdr_kind, DP_HTTP_IPHDR_SINGLE);
	dp_http_conn_init(conn, &ctx, ip4(10, 0, 0, 1));
	r = req_of("GET /v1/time HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.1.1.1\r\n"
		   "cf-connecting-ip: 203.0.113.9\r\n\r\n");
	assert_int_equal(r.client_ip, ip4(203, 0, 113, 9));
	r = req_of("GET /v1/time HTTP/1.1\r\nHost: a\r\nCF-Connecting-IP: 203.0.113.9\r\n"
		   "CF-Connecting-IP: 203.0.113.10\r\n\r\n");
	assert_int_equal(r.client_ip, ip4(10, 0, 0, 1));
}

static void test_cidr_parse(void **state)
{
	struct dp_http_cidr l[4];
	char err[160];
	(void)state;

	assert_int_equal(dp_http_cidr_parse("", l, 4, err, sizeof(err)), 0);
	assert_int_equal(dp_http_cidr_parse(" 10.0.0.0/8,192.0.2.0/24  198.51.100.7 0.0.0.0/0", l,
					    4, err, sizeof(err)),
			 4);
	assert_true(l[0].net == ip4(10, 0, 0, 0) && l[0].mask == 0xff000000u);
	assert_true(l[2].net == ip4(198, 51, 100, 7) && l[2].mask == 0xffffffffu);
	assert_true(l[3].mask == 0);
	assert_true(dp_http_cidr_match(l, 2, ip4(192, 0, 2, 255)));
	assert_false(dp_http_cidr_match(l, 2, ip4(192, 0, 3, 0)));
	assert_int_equal(dp_http_cidr_parse("10.0.0.1/8", l, 4, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "10.0.0.1/8"));
	static const char *const bad[] = {"10.0.0.0/33", "10.0.0.0/",	"10.0.0/8", "10.0.0.0/08",
					  "a.b.c.d",	 "10.0.0.0/8x", "::1/128",  "256.0.0.0"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(dp_http_cidr_parse(bad[i], l, 4, err, sizeof(err)), -EINVAL);
	assert_int_equal(dp_http_cidr_parse("1.0.0.0/8 2.0.0.0/8 3.0.0.0/8 4.0.0.0/8 5.0.0.0/8", l,
					    4, err, sizeof(err)),
			 -ENOSPC);
}

static void test_cfg_init_rejects_bad_limits(void **state)
{
	struct dp_http_cfg c;
	char err[160];
	(void)state;

	dp_http_cfg_defaults(&c);
	c.body_max = DP_HTTP_BODY_MAX + 1;
	assert_int_equal(dp_http_cfg_init(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "body_max"));
	dp_http_cfg_defaults(&c);
	c.pipeline_max = 0;
	assert_int_equal(dp_http_cfg_init(&c, err, sizeof(err)), -EINVAL);
	dp_http_cfg_defaults(&c);
	strcpy(c.client_ip_header, "X Forwarded");
	assert_int_equal(dp_http_cfg_init(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "client_ip_header"));
	dp_http_cfg_defaults(&c);
	c.head_max = 10;
	assert_int_equal(dp_http_cfg_init(&c, err, sizeof(err)), -EINVAL);
	/* Restore http_parser's process-wide limit for the other tests. */
	dp_http_cfg_defaults(&c);
	assert_int_equal(dp_http_cfg_init(&c, err, sizeof(err)), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_json_read_ids_full_range),
		T(test_json_read_out_of_range),
		T(test_json_read_wrong_type),
		T(test_json_read_malformed),
		T(test_json_read_truncated_prefixes),
		T(test_json_read_unknown_members_skipped),
		T(test_json_read_duplicate_keys),
		T(test_json_read_depth_limit),
		T(test_json_read_tokens),
		T(test_route_time),
		T(test_route_item),
		T(test_route_buy),
		T(test_route_buy_invalid_bodies),
		T(test_route_confirm_cancel),
		T(test_route_order_status),
		T(test_route_unknown_path_404),
		T(test_route_wrong_method_405),
		T(test_route_absolute_form_target),
		T(test_resp_rate_limited_429),
		T(test_resp_busy_unavailable_503),
		T(test_resp_bad_request_400),
		T(test_resp_every_business_outcome_200),
		T(test_resp_date_format),
		T(test_conn_http10_closes),
		T(test_conn_http10_keep_alive),
		T(test_conn_connection_close),
		T(test_conn_upgrade_answered_then_closed),
		T(test_conn_pipelining_out_of_order),
		T(test_conn_pipeline_limit_backpressure),
		T(test_conn_split_bytes),
		T(test_conn_post_without_length_411),
		T(test_conn_transfer_encoding_411),
		T(test_conn_body_too_large_413),
		T(test_conn_head_limits_414_431),
		T(test_conn_malformed_400_closes),
		T(test_conn_wrong_version_505),
		T(test_conn_header_timeout_408),
		T(test_conn_idle_timeout),
		T(test_conn_output_backpressure),
		T(test_conn_stats),
		T(test_conn_refused_requests_charged),
		T(test_client_ip_xff_trusted_peer),
		T(test_client_ip_untrusted_peer_ignores_header),
		T(test_client_ip_single_address_header),
		T(test_client_ip_through_connection),
		T(test_cidr_parse),
		T(test_cfg_init_rejects_bad_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
