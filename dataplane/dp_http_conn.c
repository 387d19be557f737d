/*
 * dp_http_conn.c — one HTTP/1.1 connection of the public API, without I/O:
 * parser callbacks, the ring of in-flight requests, output in request order,
 * and the header/idle timers.
 *
 * Parsing is Node's http_parser 2.9 (Debian libhttp-parser-dev): a reviewed,
 * allocation-free, streaming request parser that already gets the hard parts
 * of RFC 9112 right (header folding, CR/LF rules, Content-Length overflow and
 * duplicates, Transfer-Encoding vs Content-Length smuggling, keep-alive rules
 * of 1.0 and 1.1). Its callbacks copy what we need (method, target, the few
 * headers that matter, body) into the fixed buffers of struct dp_http_msg, so
 * parsed input is dropped at once: the input buffer only holds bytes not yet
 * parsed. on_message_complete pauses the parser, so one call parses at most
 * one request and the next stays in the buffer until a slot is free.
 *
 * The slot ring: slots[(head + i) % DP_HTTP_PIPELINE_MAX], i < count, are the
 * requests of this connection in arrival order; a request being parsed
 * owns slots[(head + count) % N] (parsing only starts while count <
 * pipeline_max, so it always has one). A slot is PENDING while a shard
 * decides and DONE once answered (or answered by the codec: a 4xx). DONE
 * slots at the head are rendered into the output and freed; a DONE slot
 * behind a PENDING one waits, which is how answers that arrive out of order
 * (different shards, different cores) leave in request order. When the
 * output has no room for another response, rendering stops until the front
 * end sends some (tx_done).
 *
 * Limits (HTTP-API.md "Limits"), each answered and then closed:
 *   request line + headers > head_max  414 (still in the request line) /
 *                                      431 (http_parser's header-size limit,
 *                                      which counts both, set from head_max)
 *   request target > DP_HTTP_URL_MAX   414 (the default head limit: only a
 *                                      larger configured head_max reaches it)
 *   Content-Length > body_max          413 (before reading the body)
 *   POST without Content-Length, any Transfer-Encoding   411
 *   HTTP major version other than 1    505
 *   framing errors (http_parser)       400
 *   HTTP/1.1 without Host              400 (RFC 9112 §3.2)
 *   header timeout                     408
 * Errors in the request itself (route, query, JSON: 400, 404, 405) keep the
 * connection: framing is intact. Pipelined requests beyond pipeline_max are
 * not an error: they wait unparsed (TCP back pressure on that client alone).
 *
 * Every refused request is charged (ctx->charge, the front end's per-address
 * bucket; HTTP-API.md: every request counts against its client's bucket):
 * to the address the client-IP header names once the headers are complete
 * (a 400/404/405 route or body error, 411, 413, 505, a missing Host, a
 * header timeout while the body is awaited), to the TCP peer before (414,
 * 431, framing errors, a header timeout). An empty bucket turns the answer
 * into 429 RATE_LIMITED with Retry-After; an error that closes still closes.
 *
 * Timers, on the caller's monotonic clock (ctx->mono_ms): the header
 * timeout runs from accept for the first request and from the first parsed
 * byte for later ones, until the whole request (body included) is in. The
 * idle timeout runs while nothing is in flight: no partial request and no
 * slot in use; it is reset by any input or output progress. When it expires
 * unsent output is dropped too (a peer that stopped reading), so the
 * connection can close at once.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "dp_http.h"
#include "fs_common.h"

#define RING_MASK (DP_HTTP_PIPELINE_MAX - 1)

enum { HS_NONE, HS_FIELD, HS_VALUE };

static struct dp_http_conn *conn_of(http_parser *p)
{
	return p->data;
}

static int reject(struct dp_http_conn *c, uint16_t code, const char *why)
{
	c->err_code = code;
	c->err_why = why;
	return -1;
}

static int on_message_begin(http_parser *p)
{
	struct dp_http_conn *c = conn_of(p);
	struct dp_http_msg *m = &c->msg;

	m->keep_alive = m->has_host = m->has_te = m->has_cl = m->headers_done = false;
	m->in_headers = m->in_iphdr = false;
	m->hdr_state = HS_NONE;
	m->name_len = m->url_len = m->body_len = m->iphdr_len = m->iphdr_count = 0;
	c->iphdr_trunc = false;
	c->in_msg = true;
	if (c->nreq > 0)
		c->msg_start_ms = c->ctx->mono_ms;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct dp_http_conn *c = conn_of(p);
	struct dp_http_msg *m = &c->msg;

	if (len > DP_HTTP_URL_MAX - m->url_len)
		return reject(c, 414, "request target too long");
	memcpy(m->url + m->url_len, at, len);
	m->url_len = (uint16_t)(m->url_len + len);
	return 0;
}

/* The header name in m->name is complete: note what it is. */
static void classify_name(struct dp_http_conn *c)
{
	struct dp_http_msg *m = &c->msg;
	const char *ip = c->ctx->cfg->client_ip_header;
	size_t n = m->name_len;

	m->in_iphdr = false;
	if (n > DP_HTTP_HDRNAME_MAX)
		return; /* a long name: none of ours */
	if (n == 17 && strncasecmp(m->name, "transfer-encoding", 17) == 0)
		m->has_te = true;
	else if (n == 4 && strncasecmp(m->name, "host", 4) == 0)
		m->has_host = true;
	else if (n == 14 && strncasecmp(m->name, "content-length", 14) == 0)
		m->has_cl = true;
	else if (n == strlen(ip) && strncasecmp(m->name, ip, n) == 0)
		m->in_iphdr = true;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct dp_http_msg *m = &conn_of(p)->msg;

	m->in_headers = true;
	if (m->hdr_state != HS_FIELD)
		m->name_len = 0;
	m->hdr_state = HS_FIELD;
	for (size_t i = 0; i < len && m->name_len <= DP_HTTP_HDRNAME_MAX; i++) {
		if (m->name_len < DP_HTTP_HDRNAME_MAX)
			m->name[m->name_len] = at[i];
		m->name_len++; /* DP_HTTP_HDRNAME_MAX + 1: too long to be ours */
	}
	return 0;
}

/* Append to the client-IP header value, keeping its tail (the rightmost
 * entries are the ones that count). */
static void iphdr_append(struct dp_http_conn *c, const char *at, size_t len)
{
	struct dp_http_msg *m = &c->msg;
	size_t keep;

	if (len >= DP_HTTP_IPHDR_MAX) {
		memcpy(m->iphdr, at + len - DP_HTTP_IPHDR_MAX, DP_HTTP_IPHDR_MAX);
		m->iphdr_len = DP_HTTP_IPHDR_MAX;
		c->iphdr_trunc = true;
		return;
	}
	if (m->iphdr_len + len > DP_HTTP_IPHDR_MAX) {
		keep = DP_HTTP_IPHDR_MAX - len;
		memmove(m->iphdr, m->iphdr + m->iphdr_len - keep, keep);
		m->iphdr_len = (uint16_t)keep;
		c->iphdr_trunc = true;
	}
	memcpy(m->iphdr + m->iphdr_len, at, len);
	m->iphdr_len = (uint16_t)(m->iphdr_len + len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct dp_http_conn *c = conn_of(p);
	struct dp_http_msg *m = &c->msg;

	if (m->hdr_state == HS_FIELD) {
		classify_name(c);
		if (m->in_iphdr && m->iphdr_count++ > 0)
			iphdr_append(c, ",", 1); /* RFC 9110 §5.3: lines join with commas */
	}
	m->hdr_state = HS_VALUE;
	if (m->in_iphdr)
		iphdr_append(c, at, len);
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct dp_http_conn *c = conn_of(p);
	struct dp_http_msg *m = &c->msg;
	const struct dp_http_cfg *cfg = c->ctx->cfg;

	if (m->hdr_state == HS_FIELD)
		classify_name(c);
	m->headers_done = true; /* a refusal from here on is charged to the header's client */
	m->method = (uint8_t)p->method;
	m->http_minor = (uint8_t)(p->http_minor > 255 ? 255 : p->http_minor);
	m->keep_alive = http_should_keep_alive(p) != 0;
	if (p->http_major != 1)
		return reject(c, 505, "only HTTP/1.x is served");
	if (m->has_te || p->uses_transfer_encoding || (p->flags & F_CHUNKED))
		return reject(c, 411, "Transfer-Encoding is not accepted; send Content-Length");
	if (p->method == HTTP_POST && !(p->flags & F_CONTENTLENGTH))
		return reject(c, 411, "POST needs Content-Length");
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > cfg->body_max)
		return reject(c, 413, "body too large");
	if (p->http_minor >= 1 && !m->has_host)
		return reject(c, 400, "HTTP/1.1 request without Host");
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct dp_http_msg *m = &conn_of(p)->msg;

	/* Content-Length was checked against body_max ≤ DP_HTTP_BODY_MAX. */
	FS_ASSERT(len <= DP_HTTP_BODY_MAX - m->body_len);
	memcpy(m->body + m->body_len, at, len);
	m->body_len = (uint16_t)(m->body_len + len);
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct dp_http_conn *c = conn_of(p);

	c->msg_done = true;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- configuration ---- */

void dp_http_cfg_defaults(struct dp_http_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->head_max = DP_HTTP_HEAD_MAX_DEFAULT;
	cfg->body_max = DP_HTTP_BODY_MAX;
	cfg->header_timeout_ms = DP_HTTP_HEADER_TIMEOUT_MS_DEFAULT;
	cfg->idle_timeout_ms = DP_HTTP_IDLE_TIMEOUT_MS_DEFAULT;
	cfg->pipeline_max = DP_HTTP_PIPELINE_MAX;
	memcpy(cfg->client_ip_header, "X-Forwarded-For", sizeof("X-Forwarded-For"));
	cfg->iphdr_kind = DP_HTTP_IPHDR_XFF;
}

static bool is_tchar(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

int dp_http_cfg_init(struct dp_http_cfg *cfg, char *err, size_t errlen)
{
	size_t n = strnlen(cfg->client_ip_header, sizeof(cfg->client_ip_header));

	if (cfg->head_max < 256 || cfg->head_max > DP_HTTP_HEAD_MAX_MAX) {
		fs_errf(err, errlen, "http head_max %u: must be 256..%u", cfg->head_max,
			DP_HTTP_HEAD_MAX_MAX);
		return -EINVAL;
	}
	if (cfg->body_max < 1 || cfg->body_max > DP_HTTP_BODY_MAX) {
		fs_errf(err, errlen, "http body_max %u: must be 1..%u", cfg->body_max,
			DP_HTTP_BODY_MAX);
		return -EINVAL;
	}
	if (cfg->header_timeout_ms == 0 || cfg->idle_timeout_ms == 0) {
		fs_errf(err, errlen, "http timeouts must be > 0");
		return -EINVAL;
	}
	if (cfg->pipeline_max < 1 || cfg->pipeline_max > DP_HTTP_PIPELINE_MAX) {
		fs_errf(err, errlen, "http pipeline_max %u: must be 1..%u", cfg->pipeline_max,
			DP_HTTP_PIPELINE_MAX);
		return -EINVAL;
	}
	if (n == 0 || n == sizeof(cfg->client_ip_header)) {
		fs_errf(err, errlen, "client_ip_header: must be 1..%zu characters",
			sizeof(cfg->client_ip_header) - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if (!is_tchar(cfg->client_ip_header[i])) {
			fs_errf(err, errlen, "client_ip_header '%s': not a header name",
				cfg->client_ip_header);
			return -EINVAL;
		}
	}
	if (cfg->ntrusted > DP_HTTP_TRUSTED_MAX) {
		fs_errf(err, errlen, "trusted_proxies: more than %u entries", DP_HTTP_TRUSTED_MAX);
		return -EINVAL;
	}
	cfg->iphdr_kind = strcasecmp(cfg->client_ip_header, "X-Forwarded-For") == 0
				  ? DP_HTTP_IPHDR_XFF
				  : DP_HTTP_IPHDR_SINGLE;
	http_parser_set_max_header_size(cfg->head_max);
	return 0;
}

/* ---- the connection ---- */

void dp_http_conn_init(struct dp_http_conn *c, struct dp_http_ctx *ctx, uint32_t peer_ip)
{
	/* Only the bookkeeping is cleared: the buffers are written before read. */
	memset(c, 0, offsetof(struct dp_http_conn, msg));
	http_parser_init(&c->parser, HTTP_REQUEST);
	c->parser.data = c;
	c->ctx = ctx;
	c->peer_ip = peer_ip;
	c->accept_ms = c->msg_start_ms = c->active_ms = ctx->mono_ms;
}

size_t dp_http_conn_rx_space(struct dp_http_conn *c, char **buf)
{
	if (c->stopped) {
		/* Bytes after a close or an error are read and dropped. */
		*buf = c->in;
		return DP_HTTP_IN_MAX;
	}
	if (c->in_off > 0) {
		/* Parsed bytes are dropped here, once per read, not per request. */
		memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
		c->in_len -= c->in_off;
		c->in_off = 0;
	}
	*buf = c->in + c->in_len;
	return DP_HTTP_IN_MAX - c->in_len;
}

void dp_http_conn_rx_commit(struct dp_http_conn *c, size_t n)
{
	if (n == 0)
		return;
	c->active_ms = c->ctx->mono_ms;
	if (c->stopped)
		return;
	FS_ASSERT(n <= DP_HTTP_IN_MAX - c->in_len);
	c->in_len += (uint32_t)n;
}

size_t dp_http_conn_input(struct dp_http_conn *c, const void *data, size_t len)
{
	char *buf;
	size_t room = dp_http_conn_rx_space(c, &buf);

	if (len < room)
		room = len;
	memcpy(buf, data, room);
	dp_http_conn_rx_commit(c, room);
	return room;
}

/* Render every answered slot at the head that fits into the output. */
static void flush(struct dp_http_conn *c)
{
	struct dp_http_ctx *ctx = c->ctx;

	while (c->count > 0 && c->slots[c->head].state == DP_HTTP_SLOT_DONE) {
		struct dp_http_slot *s = &c->slots[c->head];
		size_t n;

		if (DP_HTTP_OUT_MAX - c->out_len < DP_HTTP_RESP_MAX && c->out_off > 0) {
			memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
			c->out_len -= c->out_off;
			c->out_off = 0;
		}
		if (DP_HTTP_OUT_MAX - c->out_len < DP_HTTP_RESP_MAX)
			return; /* wait for tx_done */
		if (s->err_code)
			n = dp_http_render_error(s->err_code, s->why, s->route, s->close, s->ka10,
						 ctx->date, c->out + c->out_len,
						 DP_HTTP_OUT_MAX - c->out_len);
		else
			n = dp_http_render_resp(&s->resp, s->route, s->close, s->ka10, ctx->date,
						c->out + c->out_len, DP_HTTP_OUT_MAX - c->out_len);
		FS_ASSERT(n > 0);
		FS_ASSERT(n <= DP_HTTP_RESP_MAX);
		c->out_len += (uint32_t)n;
		ctx->stats.responses++;
		ctx->stats
			.by_code[(s->err_code ? s->err_code : dp_http_status_code(s->resp.status)) /
				 100]++;
		if (s->close) {
			c->want_close = true;
			c->close_code = s->err_code;
		}
		s->state = DP_HTTP_SLOT_FREE;
		c->head = (c->head + 1) & RING_MASK;
		c->count--;
	}
}

/* The client address of the request being refused or routed: from the
 * client-IP header once the headers are complete (trusted peers only,
 * dp_http_client_ip), the TCP peer before. */
static uint32_t msg_client_ip(const struct dp_http_conn *c)
{
	const struct dp_http_msg *m = &c->msg;
	const struct dp_http_cfg *cfg = c->ctx->cfg;
	const char *hdr = m->iphdr;
	size_t hlen = m->iphdr_len;

	if (!m->headers_done)
		return c->peer_ip;
	if (c->iphdr_trunc) {
		/* The leftmost entry may be cut: drop it. */
		const char *comma = memchr(hdr, ',', hlen);
		hlen = comma ? hlen - (size_t)(comma + 1 - hdr) : 0;
		hdr = comma ? comma + 1 : hdr;
	}
	return dp_http_client_ip(c->peer_ip, m->iphdr_count && hlen ? hdr : NULL, hlen,
				 cfg->iphdr_kind == DP_HTTP_IPHDR_XFF, cfg->trusted, cfg->ntrusted);
}

/* Queue a codec answer in the next slot; close after it when asked. The
 * refused request is charged to its client's bucket first (ctx->charge):
 * when that is empty the answer is 429 RATE_LIMITED instead of code (a
 * closing error still closes: the framing is lost either way). */
static void queue_error(struct dp_http_conn *c, uint16_t code, const char *why, uint8_t route,
			bool close, bool ka10)
{
	struct dp_http_slot *s = &c->slots[(c->head + c->count) & RING_MASK];
	struct dp_http_ctx *ctx = c->ctx;
	uint32_t retry_ms = 0;

	FS_ASSERT(c->count < ctx->cfg->pipeline_max);
	FS_ASSERT(s->state == DP_HTTP_SLOT_FREE);
	s->state = DP_HTTP_SLOT_DONE;
	s->route = route;
	s->err_code = code;
	s->why = why;
	s->close = close;
	s->ka10 = ka10;
	if (ctx->charge &&
	    !ctx->charge(ctx->charge_arg, msg_client_ip(c), ctx->mono_ns, &retry_ms)) {
		memset(&s->resp, 0, sizeof(s->resp));
		s->resp.status = FS_ST_RATE_LIMITED;
		s->resp.retry_after_ms = retry_ms;
		s->err_code = 0;
		ctx->stats.limited++;
	}
	c->msg.headers_done = false; /* the next refusal before its headers: the peer */
	c->count++;
	ctx->stats.errors++;
	if (close) {
		c->stopped = true;
		c->in_len = c->in_off = 0;
	}
	flush(c);
}

/* The parser failed: answer with the status the failure calls for, close. */
static void parse_failed(struct dp_http_conn *c)
{
	enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
	uint16_t code = 400;
	const char *why = http_errno_description(e);

	if (c->err_code) {
		code = c->err_code;
		why = c->err_why;
	} else if (e == HPE_HEADER_OVERFLOW) {
		code = c->msg.in_headers ? 431 : 414;
		why = c->msg.in_headers ? "request line and headers too large"
					: "request line too large";
	} else if ((e == HPE_INVALID_TRANSFER_ENCODING || e == HPE_UNEXPECTED_CONTENT_LENGTH) &&
		   (c->msg.has_te || c->parser.uses_transfer_encoding)) {
		code = 411;
		why = "Transfer-Encoding is not accepted; send Content-Length";
	}
	c->in_msg = false;
	c->nreq++;
	c->ctx->stats.requests++;
	queue_error(c, code, why, DP_HTTP_R_NONE, true, false);
}

/* A request is complete: route it. 1 when it goes to the caller. */
static int finish_msg(struct dp_http_conn *c, struct dp_http_req *out)
{
	struct dp_http_msg *m = &c->msg;
	uint16_t idx = (uint16_t)((c->head + c->count) & RING_MASK);
	struct dp_http_slot *s = &c->slots[idx];
	bool close = !m->keep_alive || c->parser.upgrade;
	const char *why = NULL;
	uint8_t route;
	int code;

	c->msg_done = false;
	c->in_msg = false;
	c->nreq++;
	c->ctx->stats.requests++;
	code = dp_http_route_msg(m, &out->req, &route, &why);
	if (code) {
		/* queue_error charges the client's bucket (and forgets headers_done) */
		queue_error(c, (uint16_t)code, why, route, close, !close && m->http_minor == 0);
		return 0;
	}
	FS_ASSERT(s->state == DP_HTTP_SLOT_FREE);
	s->state = DP_HTTP_SLOT_PENDING;
	s->route = route;
	s->err_code = 0;
	s->close = close;
	s->ka10 = !close && m->http_minor == 0;
	c->count++;
	if (close) {
		c->stopped = true;
		c->in_len = c->in_off = 0;
	}
	out->client_ip = msg_client_ip(c);
	m->headers_done = false;
	out->slot = idx;
	return 1;
}

int dp_http_conn_next(struct dp_http_conn *c, struct dp_http_req *out)
{
	for (;;) {
		size_t n;
		enum http_errno e;

		if (c->stopped || c->in_off == c->in_len || c->count >= c->ctx->cfg->pipeline_max)
			return 0;
		n = http_parser_execute(&c->parser, &settings, c->in + c->in_off,
					c->in_len - c->in_off);
		FS_ASSERT(n <= c->in_len - c->in_off);
		c->in_off += (uint32_t)n;
		e = HTTP_PARSER_ERRNO(&c->parser);
		if (e == HPE_PAUSED) {
			http_parser_pause(&c->parser, 0);
			FS_ASSERT(c->msg_done);
			if (finish_msg(c, out))
				return 1;
			continue;
		}
		if (e != HPE_OK) {
			parse_failed(c);
			return 0;
		}
		if (c->in_off < c->in_len) {
			/* Stopped early without an error: an upgrade; finish_msg closed. */
			c->stopped = true;
			c->in_len = c->in_off = 0;
		}
		return 0;
	}
}

void dp_http_conn_complete(struct dp_http_conn *c, uint16_t slot, const struct fs_resp *resp)
{
	struct dp_http_slot *s = &c->slots[slot & RING_MASK];

	FS_ASSERT(slot < DP_HTTP_PIPELINE_MAX);
	FS_ASSERT(s->state == DP_HTTP_SLOT_PENDING);
	s->resp = *resp;
	s->state = DP_HTTP_SLOT_DONE;
	c->active_ms = c->ctx->mono_ms;
	flush(c);
}

void dp_http_conn_complete_time(struct dp_http_conn *c, uint16_t slot)
{
	struct fs_resp r;

	memset(&r, 0, sizeof(r));
	r.op = FS_OP_TIME;
	r.status = FS_ST_OK;
	r.server_time_ns = (uint64_t)c->ctx->unix_ms * (uint64_t)FS_NS_PER_MS;
	dp_http_conn_complete(c, slot, &r);
}

size_t dp_http_conn_tx_data(struct dp_http_conn *c, const char **data)
{
	*data = c->out + c->out_off;
	return c->out_len - c->out_off;
}

void dp_http_conn_tx_done(struct dp_http_conn *c, size_t n)
{
	FS_ASSERT(n <= c->out_len - c->out_off);
	if (n == 0)
		return;
	c->out_off += (uint32_t)n;
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	c->active_ms = c->ctx->mono_ms;
	flush(c);
}

/* Waiting for a request's bytes (the first one, or one that has begun)? */
static bool awaiting_request(const struct dp_http_conn *c)
{
	return !c->stopped && (c->in_msg || (c->nreq == 0 && c->count == 0));
}

int64_t dp_http_conn_deadline_ms(const struct dp_http_conn *c)
{
	const struct dp_http_cfg *cfg = c->ctx->cfg;

	if (awaiting_request(c))
		return c->msg_start_ms + cfg->header_timeout_ms;
	if (c->count == 0 && !c->in_msg)
		return c->active_ms + cfg->idle_timeout_ms;
	return INT64_MAX;
}

void dp_http_conn_tick(struct dp_http_conn *c)
{
	if (c->ctx->mono_ms < dp_http_conn_deadline_ms(c))
		return;
	c->ctx->stats.timeouts++;
	if (awaiting_request(c)) {
		c->in_msg = false;
		c->nreq++;
		queue_error(c, 408, "request not complete within the header timeout",
			    DP_HTTP_R_NONE, true, false);
		return;
	}
	/* Idle: nothing in flight and no progress either way, which includes a
	 * peer that stopped reading its answers; those are dropped. */
	c->stopped = true;
	c->in_len = c->in_off = 0;
	c->out_off = c->out_len = 0;
	c->want_close = true;
	c->close_code = 1;
}

bool dp_http_conn_want_close(const struct dp_http_conn *c)
{
	return c->want_close && c->count == 0;
}

unsigned dp_http_conn_pending(const struct dp_http_conn *c)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < c->count; i++)
		n += c->slots[(c->head + i) & RING_MASK].state == DP_HTTP_SLOT_PENDING;
	return n;
}
