/*
 * fs_http.c — the control plane's small HTTP/1.0 endpoint on [net]
 * http_port (main lcore only, never on the purchase path).
 *
 *   GET /healthz   "ok"
 *   GET /metrics   Prometheus text: front-end counters, answers by status,
 *                  per-item available units
 *   GET /items     JSON: every item with its available units
 *   POST /admin/snapshot   take a snapshot now; needs the [admin] key as
 *                  "Authorization: Bearer <64 hex digits>" (403 without an
 *                  admin key configured, 401 for a wrong one)
 *   GET|POST /admin/...    with fs_http_set_admin_api: the same bearer
 *                  check, then the whole admin API (fs_admin.c). Interim:
 *                  the operations listener takes this route over.
 *
 * One request per connection, answered and closed. Bounded: at most
 * HTTP_CONN_MAX connections open, requests over HTTP_REQ_MAX bytes or slower
 * than HTTP_TIMEOUT_NS are closed. The listening socket is non-blocking and
 * served from the control loop's poll, so a stuck client cannot stall it.
 */
#include "fs_http.h"

#include "fs_admin.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fs_common.h"
#include "fs_token.h"

#include <sodium.h>

#define HTTP_CONN_MAX 16
#define HTTP_REQ_MAX 4096
#define HTTP_RESP_MAX (256 * 1024)
#define HTTP_TIMEOUT_NS (2 * FS_NS_PER_S)

struct http_conn {
	int fd;
	size_t len;
	int64_t started_ns;
	char buf[HTTP_REQ_MAX];
};

struct fs_http {
	int lfd;
	const struct cfg *cfg;
	const struct store_catalog *cat;
	fs_http_stats_fn stats;
	void *ctx;
	bool admin;
	uint8_t admin_key[32];
	int (*snapshot)(void *ctx);
	void *admin_ctx;
	struct fs_admin *admin_api; /* every /admin/ request goes here when set */
	struct http_conn conn[HTTP_CONN_MAX];
	char out[HTTP_RESP_MAX];
};

int fs_http_open(const struct cfg *cfg, const struct store_catalog *cat, fs_http_stats_fn stats,
		 void *ctx, struct fs_http **out)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(cfg->http_port),
				.sin_addr = cfg->address};
	struct fs_http *h;
	int one = 1;

	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	h->cfg = cfg;
	h->cat = cat;
	h->stats = stats;
	h->ctx = ctx;
	for (int i = 0; i < HTTP_CONN_MAX; i++)
		h->conn[i].fd = -1;
	h->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->lfd < 0 || setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(h->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(h->lfd, 64) < 0) {
		int e = -errno;
		fs_http_close(h);
		return e;
	}
	*out = h;
	return 0;
}

void fs_http_set_admin(struct fs_http *h, const uint8_t *key, int (*snapshot)(void *ctx),
		       void *ctx)
{
	h->admin = key != NULL;
	if (key)
		memcpy(h->admin_key, key, sizeof(h->admin_key));
	h->snapshot = snapshot;
	h->admin_ctx = ctx;
}

void fs_http_set_admin_api(struct fs_http *h, struct fs_admin *a)
{
	h->admin_api = a;
}

void fs_http_close(struct fs_http *h)
{
	if (h == NULL)
		return;
	for (int i = 0; i < HTTP_CONN_MAX; i++)
		if (h->conn[i].fd >= 0)
			close(h->conn[i].fd);
	if (h->lfd >= 0)
		close(h->lfd);
	free(h);
}

/* Append to h->out; returns the new length (capped). */
static size_t put(struct fs_http *h, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static size_t put(struct fs_http *h, size_t n, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (n >= sizeof(h->out))
		return n;
	va_start(ap, fmt);
	r = vsnprintf(h->out + n, sizeof(h->out) - n, fmt, ap);
	va_end(ap);
	n += r > 0 ? (size_t)r : 0;
	return n < sizeof(h->out) ? n : sizeof(h->out) - 1;
}

static size_t body_metrics(struct fs_http *h)
{
	struct dp_stats s;
	size_t n = 0;

	h->stats(h->ctx, &s);
#define M(name, help, v)                                                                    \
	n = put(h, n, "# HELP flashsale_" name " " help "\n# TYPE flashsale_" name            \
		      " counter\nflashsale_" name " %" PRIu64 "\n", (uint64_t)(v))
	M("rx_datagrams_total", "FSP datagrams received", s.rx_dgrams);
	M("rx_messages_total", "FSP messages received", s.rx_msgs);
	M("malformed_total", "datagrams dropped unanswered as malformed", s.malformed);
	M("tx_datagrams_total", "response datagrams sent", s.tx_dgrams);
	M("tx_messages_total", "response messages sent", s.tx_msgs);
	M("tx_dropped_total", "responses the kernel would not take", s.tx_dropped);
	M("handoffs_total", "messages handed to another core's shard", s.handoffs);
	M("handoff_busy_total", "messages answered BUSY because a hand-off ring was full",
	  s.handoff_busy);
	M("rate_limited_total", "messages answered RATE_LIMITED", s.rate_limited);
	M("held_total", "OK answers that waited for their log batch", s.held);
	M("unavailable_total", "answers turned UNAVAILABLE by a storage fault", s.unavailable);
	M("wal_batches_total", "group commits submitted to the write-ahead log", s.wal_batches);
	if (h->cfg->mode == CFG_MODE_DPDK) {
		M("rx_frames_total", "Ethernet frames received on the data ports", s.rx_frames);
		M("tx_frames_total", "Ethernet frames sent on the data ports", s.tx_frames);
		M("arp_replies_total", "ARP requests answered", s.arp_replies);
		M("icmp_replies_total", "ICMP echo requests answered", s.icmp_replies);
		M("exception_to_kernel_total", "frames passed to the kernel (exception path)",
		  s.exc_to_kernel);
		M("exception_from_kernel_total", "frames the kernel sent out through the port",
		  s.exc_from_kernel);
		M("exception_dropped_total", "exception-path frames refused", s.exc_dropped);
		M("tx_nombuf_total", "replies not built: mbuf pool empty", s.tx_nombuf);
		n = put(h, n, "# HELP flashsale_frames_dropped_total frames dropped, by reason\n"
			      "# TYPE flashsale_frames_dropped_total counter\n");
		for (unsigned i = 0; i < DP_STATS_DROP_REASONS; i++)
			if (strcmp(dp_engine_drop_name(i), "?") != 0)
				n = put(h, n, "flashsale_frames_dropped_total{reason=\"%s\"} %" PRIu64 "\n",
					dp_engine_drop_name(i), s.frames_dropped_by_reason[i]);
	}
#undef M
	n = put(h, n, "# HELP flashsale_answers_total answers sent, by status\n"
		      "# TYPE flashsale_answers_total counter\n");
	for (unsigned st = 0; st < FS_ST_COUNT; st++)
		n = put(h, n, "flashsale_answers_total{status=\"%s\"} %" PRIu64 "\n",
			fs_status_name(st), s.by_status[st]);
	n = put(h, n, "# HELP flashsale_item_available units still buyable\n"
		      "# TYPE flashsale_item_available gauge\n");
	for (unsigned i = 0; i < h->cfg->n_items; i++)
		n = put(h, n, "flashsale_item_available{item=\"%" PRIu32 "\"} %" PRId64 "\n",
			h->cfg->items[i].id, store_item_available(h->cat, h->cfg->items[i].id));
	return n;
}

static size_t body_items(struct fs_http *h)
{
	size_t n = put(h, 0, "[");

	for (unsigned i = 0; i < h->cfg->n_items; i++) {
		const struct cfg_item *it = &h->cfg->items[i];
		n = put(h, n,
			"%s{\"item_id\":%" PRIu32 ",\"activity_id\":%" PRIu32 ",\"total\":%" PRIu32
			",\"available\":%" PRId64 ",\"per_user_limit\":%" PRIu32 "}",
			i ? "," : "", it->id, it->activity_id, it->total,
			store_item_available(h->cat, it->id), it->per_user_limit);
	}
	return put(h, n, "]\n");
}

/* "Authorization: Bearer <64 hex>" matching the admin key (constant time). */
static bool admin_authorized(const struct fs_http *h, const char *req)
{
	const char *a = strcasestr(req, "\nAuthorization: Bearer ");
	char hex[65];
	uint8_t key[32];

	if (a == NULL)
		return false;
	a += strlen("\nAuthorization: Bearer ");
	if (sscanf(a, "%64[0-9a-fA-F]", hex) != 1 || fs_hex_parse(hex, key, sizeof(key)) < 0)
		return false;
	return crypto_verify_32(key, h->admin_key) == 0;
}

static size_t admin_request(struct fs_http *h, const char *req, const char **status)
{
	int rc;

	if (!h->admin) {
		*status = "403 Forbidden";
		return put(h, 0, "admin API off: set [admin] key\n");
	}
	if (!admin_authorized(h, req)) {
		*status = "401 Unauthorized";
		return put(h, 0, "bad or missing bearer key\n");
	}
	rc = h->snapshot(h->admin_ctx);
	if (rc < 0) {
		*status = "500 Internal Server Error";
		return put(h, 0, "{\"ok\":false,\"error\":\"%s\"}\n", fs_strerror(rc));
	}
	return put(h, 0, "{\"ok\":true}\n");
}

/* Length of the header block (through its blank line), 0 if not complete. */
static size_t header_len(const char *buf)
{
	const char *e = strstr(buf, "\r\n\r\n");

	if (e)
		return (size_t)(e - buf) + 4;
	e = strstr(buf, "\n\n");
	return e ? (size_t)(e - buf) + 2 : 0;
}

static size_t content_length(const char *buf)
{
	const char *p = strcasestr(buf, "\nContent-Length:");
	unsigned long v;

	if (!p || sscanf(p + 16, " %lu", &v) != 1)
		return 0;
	return v;
}

/* ---- the admin API (fs_admin.c): authenticated, then handed over ---- */

static const char *status_line(int code)
{
	switch (code) {
	case 200: return "200 OK";
	case 400: return "400 Bad Request";
	case 401: return "401 Unauthorized";
	case 403: return "403 Forbidden";
	case 404: return "404 Not Found";
	case 405: return "405 Method Not Allowed";
	case 409: return "409 Conflict";
	case 503: return "503 Service Unavailable";
	default: return "500 Internal Server Error";
	}
}

static size_t admin_api_request(struct fs_http *h, const char *req, size_t len,
				const char **status)
{
	char method[8], path[128];
	size_t hl = header_len(req), body_len;
	int code = 500;
	size_t n;

	if (!h->admin) {
		*status = "403 Forbidden";
		return put(h, 0, "{\"ok\":false,\"error\":\"admin API off: set [admin] key\"}\n");
	}
	if (!admin_authorized(h, req)) {
		*status = "401 Unauthorized";
		return put(h, 0, "{\"ok\":false,\"error\":\"bad or missing bearer key\"}\n");
	}
	if (sscanf(req, "%7s /admin%127[^ ?\r\n]", method, path) != 2) {
		*status = "404 Not Found";
		return put(h, 0, "{\"ok\":false,\"error\":\"bad admin path\"}\n");
	}
	body_len = len > hl ? len - hl : 0;
	n = fs_admin_handle(h->admin_api, method, path, req + hl, body_len, h->out,
			    sizeof(h->out), &code);
	*status = status_line(code);
	return n;
}

static void respond(struct http_conn *c, struct fs_http *h)
{
	const char *status = "200 OK", *type = "text/plain; charset=utf-8";
	char head[256];
	size_t n;

	if (h->admin_api && (strncmp(c->buf, "GET /admin/", 11) == 0 ||
			     strncmp(c->buf, "POST /admin/", 12) == 0)) {
		n = admin_api_request(h, c->buf, c->len, &status);
		type = "application/json";
	} else if (strncmp(c->buf, "POST /admin/snapshot ", 21) == 0) {
		n = admin_request(h, c->buf, &status);
	} else if (strncmp(c->buf, "GET /metrics ", 13) == 0) {
		n = body_metrics(h);
		type = "text/plain; version=0.0.4";
	} else if (strncmp(c->buf, "GET /items ", 11) == 0) {
		n = body_items(h);
		type = "application/json";
	} else if (strncmp(c->buf, "GET /healthz ", 13) == 0) {
		n = put(h, 0, "ok\n");
	} else if (strncmp(c->buf, "GET ", 4) == 0) {
		status = "404 Not Found";
		n = put(h, 0, "not found: try /healthz, /metrics, /items\n");
	} else {
		status = "405 Method Not Allowed";
		n = put(h, 0, "only GET\n");
	}
	int hn = snprintf(head, sizeof(head),
			  "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			  "Connection: close\r\n\r\n", status, type, n);
	/* Small replies to a local operator: a short blocking-ish send is fine;
	 * MSG_DONTWAIT keeps a stalled peer from blocking the control plane. */
	(void)!send(c->fd, head, (size_t)hn, MSG_DONTWAIT | MSG_NOSIGNAL);
	(void)!send(c->fd, h->out, n, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void conn_close(struct http_conn *c)
{
	close(c->fd);
	c->fd = -1;
	c->len = 0;
}

static void accept_all(struct fs_http *h, int64_t now_ns)
{
	for (;;) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		int i;

		if (fd < 0)
			return;
		for (i = 0; i < HTTP_CONN_MAX && h->conn[i].fd >= 0; i++)
			;
		if (i == HTTP_CONN_MAX) { /* bounded: refuse rather than queue */
			close(fd);
			continue;
		}
		h->conn[i].fd = fd;
		h->conn[i].len = 0;
		h->conn[i].started_ns = now_ns;
	}
}

static void conn_read(struct fs_http *h, struct http_conn *c, int64_t now_ns)
{
	ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);

	if (r > 0) {
		c->len += (size_t)r;
		c->buf[c->len] = '\0';
		size_t hl = header_len(c->buf);
		/* Complete when the headers and the body (Content-Length) are in. */
		if (hl && c->len >= hl + content_length(c->buf)) {
			respond(c, h);
			conn_close(c);
		} else if (c->len >= sizeof(c->buf) - 1) {
			conn_close(c);
		}
	} else if (r == 0 || (errno != EAGAIN && errno != EINTR) ||
		   now_ns - c->started_ns > HTTP_TIMEOUT_NS) {
		conn_close(c);
	}
}

void fs_http_poll(struct fs_http *h, int timeout_ms)
{
	struct pollfd pfd[HTTP_CONN_MAX + 1];
	struct http_conn *map[HTTP_CONN_MAX + 1];
	int64_t now_ns = fs_mono_ns();
	nfds_t n = 0;

	pfd[n].fd = h->lfd;
	pfd[n++].events = POLLIN;
	for (int i = 0; i < HTTP_CONN_MAX; i++) {
		struct http_conn *c = &h->conn[i];
		if (c->fd < 0)
			continue;
		if (now_ns - c->started_ns > HTTP_TIMEOUT_NS) {
			conn_close(c);
			continue;
		}
		map[n] = c;
		pfd[n].fd = c->fd;
		pfd[n++].events = POLLIN;
	}
	if (poll(pfd, n, timeout_ms) <= 0)
		return;
	now_ns = fs_mono_ns();
	for (nfds_t i = 1; i < n; i++)
		if (pfd[i].revents)
			conn_read(h, map[i], now_ns);
	if (pfd[0].revents & POLLIN)
		accept_all(h, now_ns);
}
