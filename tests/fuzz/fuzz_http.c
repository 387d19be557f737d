/*
 * fuzz_http.c — the HTTP connection (dataplane/dp_http_conn.c) on arbitrary
 * byte streams, fed in pseudo-random splits (derived from the input, so a
 * crash replays) while requests are completed in random order, output is
 * sent in random pieces and the clock jumps past timeouts; in half the
 * runs the per-address bucket of refused requests is empty at random, so
 * codec errors turn into 429s.
 *
 * Checks, besides memory safety: the connection always makes progress
 * (never stuck with input waiting, nothing pending and nothing to send);
 * every response that comes out is whole (status line, headers, a body of
 * exactly Content-Length bytes that is one JSON object, at most
 * DP_HTTP_RESP_MAX bytes); and there is exactly one response per request
 * handed out, in order, plus the codec's own answers (unless an idle
 * timeout dropped answers the "peer" had not read).
 */
#include <string.h>

#include "dp_http.h"
#include "fs_common.h"
#include "fuzz.h"

#define OUT_KEEP 8192

static uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

struct out_check {
	char buf[OUT_KEEP];
	size_t len;
	uint64_t responses;
};

/* Take whole responses off the front of the collected output; check each. */
static void check_responses(struct out_check *o)
{
	for (;;) {
		char *end = memmem(o->buf, o->len, "\r\n\r\n", 4), *cl;
		size_t hlen, blen = 0, total;

		if (!end) {
			FS_ASSERT(o->len < DP_HTTP_RESP_MAX);
			return;
		}
		FS_ASSERT(o->len >= 13 && memcmp(o->buf, "HTTP/1.1 ", 9) == 0);
		FS_ASSERT(o->buf[9] >= '1' && o->buf[9] <= '5' && o->buf[12] == ' ');
		hlen = (size_t)(end - o->buf) + 4;
		cl = memmem(o->buf, hlen, "\r\nContent-Length: ", 18);
		FS_ASSERT(cl != NULL);
		for (cl += 18; *cl >= '0' && *cl <= '9'; cl++)
			blen = blen * 10 + (size_t)(*cl - '0');
		total = hlen + blen;
		FS_ASSERT(total <= DP_HTTP_RESP_MAX);
		if (o->len < total)
			return;
		FS_ASSERT(blen >= 2 && o->buf[hlen] == '{' && o->buf[total - 1] == '}');
		o->responses++;
		memmove(o->buf, o->buf + total, o->len - total);
		o->len -= total;
	}
}

static void send_some(struct dp_http_conn *c, struct out_check *o, bool all)
{
	const char *d;
	size_t n;

	while ((n = dp_http_conn_tx_data(c, &d)) > 0) {
		if (!all)
			n = 1 + rng() % n;
		if (n > sizeof(o->buf) - o->len)
			n = sizeof(o->buf) - o->len;
		memcpy(o->buf + o->len, d, n);
		o->len += n;
		dp_http_conn_tx_done(c, n);
		check_responses(o);
		if (!all)
			return;
	}
}

static void answer(struct dp_http_conn *c, const struct dp_http_req *q)
{
	struct fs_resp r;

	if (q->req.op == FS_OP_TIME && rng() % 2) {
		dp_http_conn_complete_time(c, q->slot);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.op = q->req.op;
	r.status = (uint8_t)(rng() % FS_ST_COUNT);
	r.qty = (uint16_t)rng();
	r.item_id = (uint32_t)rng();
	r.order_id = rng() % 4 ? rng() % 100000 : UINT64_MAX;
	r.server_time_ns = rng();
	r.deadline_ns = rng() % 2 ? rng() : 0;
	r.available = (uint32_t)rng();
	r.state = (uint8_t)(rng() % 5);
	r.retry_after_ms = rng() % 2 ? (uint32_t)rng() : 0;
	dp_http_conn_complete(c, q->slot, &r);
}

/* The per-address bucket of refused requests: empty at random (429s). */
static bool fuzz_charge(void *arg, uint32_t client_ip, int64_t mono_ns, uint32_t *retry_ms)
{
	(void)arg;
	(void)client_ip;
	(void)mono_ns;
	*retry_ms = (uint32_t)(rng() % 5000);
	return rng() % 3 != 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct dp_http_cfg cfg;
	static struct dp_http_ctx ctx;
	static struct dp_http_conn conn;
	static struct out_check out;
	struct dp_http_req pend[DP_HTTP_PIPELINE_MAX];
	unsigned npend = 0, stuck = 0;
	bool dropped = false;
	uint64_t handed = 0, h = 0xcbf29ce484222325ull;
	int64_t mono = 1000000000000LL, unix_ns = 1762790400000000000LL;
	size_t pos = 0;
	char err[128];

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	rng_state = h | 1;
	dp_http_cfg_defaults(&cfg);
	cfg.pipeline_max = 1 + (unsigned)(h >> 8) % DP_HTTP_PIPELINE_MAX;
	strcpy(cfg.client_ip_header, h & 1 ? "X-Forwarded-For" : "CF-Connecting-IP");
	cfg.ntrusted = (unsigned)dp_http_cidr_parse("10.0.0.0/8 127.0.0.1", cfg.trusted,
						    DP_HTTP_TRUSTED_MAX, err, sizeof(err));
	FS_ASSERT(dp_http_cfg_init(&cfg, err, sizeof(err)) == 0);
	dp_http_ctx_init(&ctx, &cfg, mono, unix_ns);
	if (h & 2)
		ctx.charge = fuzz_charge; /* refused requests may turn into 429s */
	dp_http_conn_init(&conn, &ctx, 0x7f000001);
	out.len = 0;
	out.responses = 0;

	while (!dp_http_conn_want_close(&conn)) {
		size_t want = pos < size ? 1 + rng() % (size - pos) : 0, took;
		bool progress = false;

		want = want > 64 && rng() % 4 ? 1 + rng() % 64 : want;
		took = dp_http_conn_input(&conn, data + pos, want);
		pos += took;
		progress |= took > 0;
		while (npend < DP_HTTP_PIPELINE_MAX &&
		       dp_http_conn_next(&conn, &pend[npend]) == 1) {
			npend++;
			handed++;
			progress = true;
		}
		/* Complete a random pending request (out of order). */
		if (npend && rng() % 3) {
			unsigned k = (unsigned)(rng() % npend);
			answer(&conn, &pend[k]);
			pend[k] = pend[--npend];
			progress = true;
		}
		if (rng() % 2) {
			const char *d;
			progress |= dp_http_conn_tx_data(&conn, &d) > 0;
			send_some(&conn, &out, false);
		}
		if (rng() % 16 == 0) {
			mono += (int64_t)(rng() % 20000) * FS_NS_PER_MS;
			const char *d;
			size_t before = dp_http_conn_tx_data(&conn, &d);
			dp_http_ctx_clock(&ctx, mono, unix_ns + mono);
			dp_http_conn_tick(&conn);
			/* An idle timeout drops answers the peer did not read. */
			dropped |= before > 0 && dp_http_conn_tx_data(&conn, &d) == 0;
		}
		if (pos == size && npend == 0) {
			const char *d;
			if (dp_http_conn_tx_data(&conn, &d) == 0)
				break;
		}
		stuck = progress ? 0 : stuck + 1;
		FS_ASSERT(stuck < 1000);
	}
	while (npend) {
		answer(&conn, &pend[npend - 1]);
		npend--;
	}
	send_some(&conn, &out, true);
	FS_ASSERT(dp_http_conn_pending(&conn) == 0);
	FS_ASSERT(ctx.stats.requests >= handed);
	if (dropped) {
		FS_ASSERT(out.responses <= ctx.stats.responses);
		return 0;
	}
	FS_ASSERT(out.len == 0);
	FS_ASSERT(out.responses == ctx.stats.responses);
	FS_ASSERT(out.responses >= handed);
	return 0;
}

static const char *const seeds[] = {
	"GET /v1/time HTTP/1.1\r\nHost: a\r\n\r\n",
	("GET /v1/items/1001 HTTP/1.1\r\nHost: a\r\nX-Forwarded-For: 1.2.3.4, 10.0.0.1\r\n\r\n"
	 "GET /v1/orders/257?user=777&token=86625a502acbba02624797a4a09b3aca HTTP/1.1\r\n"
	 "Host: a\r\n\r\n"),
	("POST /v1/buy HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
	 "Content-Length: 91\r\n\r\n{\"item\":1001,\"user\":777,\"request_id\":42,\"qty\":1,"
	 "\"token\":\"86625a502acbba02624797a4a09b3aca\"}"),
	("POST /v1/orders/5/confirm HTTP/1.1\r\nHost: a\r\nContent-Length: 79\r\n\r\n"
	 "{\"user\":777,\"request_id\":43,\"ref\":9,\"token\":\"2aab79309e8ecea7c4f043f199fe45aa\"}"
	 "POST /v1/orders/5/cancel HTTP/1.1\r\nHost: a\r\nContent-Length: 28\r\n"
	 "Connection: close\r\n\r\n{\"user\":777,\"request_id\":44}"),
	"GET /v1/time HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /v1/time HTTP/1.0\r\n\r\n",
	"POST /v1/buy HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: "
	"chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
	("GET /v1/buy HTTP/1.1\r\nHost: a\r\nCF-Connecting-IP: 2001:db8::1\r\n\r\n"
	 "GET /nope HTTP/1.1\r\nHost: a\r\n\r\n"),
};

size_t fuzz_seed(size_t i, const uint8_t **data)
{
	if (i >= sizeof(seeds) / sizeof(seeds[0]))
		return 0;
	*data = (const uint8_t *)seeds[i];
	return strlen(seeds[i]);
}
