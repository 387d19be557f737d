/*
 * dp_http_front.c — the public HTTP/1.1 API on the workers: kernel TCP
 * sockets around the sans-I/O codec (dp_http.h), feeding the engine the same
 * struct fs_req an FSP/1 message becomes (dp_engine_rx_req).
 *
 * Ownership. Worker i has its own TCP listener on [net] address:http_port
 * (SO_REUSEPORT: the kernel spreads connections over the workers) and the
 * connections it accepted; a connection never moves. The kernel front end
 * (dp_kernel.c) owns one epoll set per worker holding its UDP socket
 * (level-triggered) and the listener and connections (edge-triggered), and
 * calls this file from its hooks: rx (epoll events, then this file's ready
 * list), tx (the flush list), timer, answer. One epoll set per worker means
 * an idle worker blocks on one descriptor (dp_engine_sleep) whichever
 * protocol arrives.
 *
 * Requests. A parsed request goes through dp_engine_rx_req: the same
 * per-address bucket (keyed by the client address the codec derived from
 * the trusted proxy's header, else the TCP peer) and per-user bucket, gate,
 * hand-off rings and owner decisions as FSP/1. A request the codec refuses
 * itself (malformed, bad body, unknown path, a limit) is charged to the
 * same per-address bucket through the codec's charge hook
 * (dp_engine_charge_ip), so a client sending garbage is limited like any
 * other and gets 429 once its bucket is empty. Answered at once: completed
 * here. Otherwise its answer comes back to THIS worker over the engine's
 * pending table and return rings (the FSP no-amplification path) and
 * arrives through dp_hfw_answer with the cookie (connection index,
 * generation, codec slot); an OK waits for the log as in FSP/1. The codec
 * renders answers strictly in request order (pipelining).
 *
 * Bounds, no allocation after start: http_max_conns connections per worker
 * are allocated once (calloc; pages are touched only when a connection
 * uses them); a full table accepts and closes (counted as refused). Per
 * connection the codec bounds input, output and pipelined requests; a
 * connection whose pipeline is full stops being read (TCP back pressure on
 * that client only). A connection closed by its peer while answers are
 * still owed stays allocated ("dead": no descriptor) until the engine has
 * returned every one of them, so a cookie never names a reused connection.
 * Reads: one recv per ready connection per loop, up to the codec's free
 * input room; writes: everything rendered, until EAGAIN (then EPOLLOUT).
 *
 * Timers: every engine timer tick (DP_TIMER_NS) a slice of the open
 * connections (a dense list, DP_HFW_SCAN_CONNS per tick) is checked against the codec's deadline
 * (header timeout: 408 and close; idle keep-alive: close); a peer that stopped reading its answers
 * is closed after the idle timeout without progress.
 */
#include "dp_http_front.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg.h"
#include "dp.h"
#include "dp_engine.h"
#include "dp_http.h"
#include "fs_common.h"

#define DP_HFW_ACCEPT_BURST 64	 /* connections accepted per loop */
#define DP_HFW_SCAN_CONNS   1024 /* connections checked per timer tick */
#define DP_HFW_BACKLOG	    4096 /* listen() backlog (capped by somaxconn) */
#define DP_HFW_EV_LISTEN    (DP_HFE_EV_LIMIT - 1)
#define DP_HFW_FD_SPARE	    256 /* descriptors beyond the connection tables */

struct dp_hfe {
	struct dp_http_cfg hcfg;
};

struct hconn {
	struct dp_http_conn h;
	int fd;	       /* -1 when closed */
	uint16_t gen;  /* bumped on release: cookies of an earlier use no longer match */
	bool used;     /* accepted, or dead and still owed answers */
	bool dead;     /* closed; waiting only for owed answers */
	bool rd;       /* the socket may have unread bytes */
	bool eof;      /* the peer finished sending (or the socket failed) */
	bool wblocked; /* the last send hit EAGAIN: wait for EPOLLOUT */
	bool in_ready; /* on the ready list (never cleared by reuse: no duplicates) */
	bool in_flush; /* on the flush list (same) */
	uint32_t opos; /* index in the open list while it has a descriptor */
};

struct dp_hfw {
	struct dp_hfe *fe;
	struct dp_http_ctx ctx;
	int lfd, epfd;
	bool lready;
	unsigned nconns;
	struct hconn *c;
	uint32_t *freel, nfree;
	uint32_t *ready, nready;
	uint32_t *flush, nflush;
	uint32_t *open, nopen; /* connections with a descriptor, dense: the timer's scan */
	unsigned scan;
	struct dp_worker *w; /* set by rx (the worker calling us) */
	uint64_t accepted, refused, closed, requests, timeouts, dropped_answers;
	uint64_t closed_by[DP_HTTP_CLOSE_REASONS]; /* metrics: why (refused as table_full) */
};

/* ---------------------------------------------------------------- setup */

static int tcp_socket(const struct cfg *cfg, bool reuseport, char *err, size_t errlen)
{
	struct sockaddr_in a = {
		.sin_family = AF_INET, .sin_port = htons(cfg->http_port), .sin_addr = cfg->address};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if ((reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s HTTP %s:%u: %s",
			 reuseport ? "cannot bind" : "is another flashsaled serving?",
			 cfg->address_str, cfg->http_port, strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

static void raise_nofile(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want)
		fs_log("warn",
		       "HTTP: RLIMIT_NOFILE is %llu, below the %llu the connection tables "
		       "need: connections past it are refused",
		       (unsigned long long)rl.rlim_cur, (unsigned long long)want);
}

int dp_hfe_create(const struct cfg *cfg, unsigned nworkers, struct dp_hfe **out, char *err,
		  size_t errlen)
{
	struct dp_hfe *fe = calloc(1, sizeof(*fe));
	struct dp_http_cfg *h;
	int n, fd;

	*out = fe;
	if (fe == NULL)
		return -ENOMEM;
	h = &fe->hcfg;
	dp_http_cfg_defaults(h);
	h->head_max = cfg->http_head_max;
	h->body_max = cfg->http_body_max;
	h->header_timeout_ms = cfg->http_header_timeout_ms;
	h->idle_timeout_ms = cfg->http_idle_timeout_ms;
	h->pipeline_max = cfg->http_pipeline_max;
	snprintf(h->client_ip_header, sizeof(h->client_ip_header), "%s", cfg->client_ip_header);
	n = dp_http_cidr_parse(cfg->trusted_proxies, h->trusted, DP_HTTP_TRUSTED_MAX, err, errlen);
	if (n < 0) {
		char why[256];
		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "[net] trusted_proxies: %s",
			 n == -ENOSPC ? "too many entries" : why);
		return n;
	}
	h->ntrusted = (unsigned)n;
	if ((n = dp_http_cfg_init(h, err, errlen)) < 0)
		return n;
	raise_nofile((rlim_t)nworkers * (cfg->http_max_conns + 1) + DP_HFW_FD_SPARE);
	/* As for UDP: a plain bind proves no other daemon serves the port. */
	fd = tcp_socket(cfg, false, err, errlen);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

void dp_hfe_free(struct dp_hfe *fe)
{
	free(fe);
}

/* ctx.charge: a request the codec refused counts against its client's
 * per-address bucket, on this worker like every other request. */
static bool hfw_charge(void *arg, uint32_t client_ip, int64_t mono_ns, uint32_t *retry_ms)
{
	struct dp_hfw *h = arg;

	*retry_ms = 0;
	if (h->w == NULL)
		return true; /* no rx yet, so nothing can have been refused */
	return dp_engine_charge_ip(h->w, client_ip, mono_ns, retry_ms);
}

int dp_hfw_create(struct dp_hfe *fe, const struct cfg *cfg, unsigned id, int epfd,
		  struct dp_hfw **out, char *err, size_t errlen)
{
	struct dp_hfw *h = calloc(1, sizeof(*h));
	struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.u64 = DP_HFW_EV_LISTEN};

	*out = h;
	if (h == NULL)
		return -ENOMEM;
	h->fe = fe;
	h->epfd = epfd;
	h->lfd = -1;
	h->nconns = cfg->http_max_conns;
	dp_http_ctx_init(&h->ctx, &fe->hcfg, fs_mono_ns(), fs_now_ns());
	h->ctx.charge = hfw_charge;
	h->ctx.charge_arg = h;
	h->c = calloc(h->nconns, sizeof(*h->c));
	h->freel = calloc(h->nconns, sizeof(uint32_t));
	/* While a batch is served its entries stay until the end, and each
	 * connection may be pushed once more for the next loop: 2x. */
	h->ready = calloc(2 * (size_t)h->nconns, sizeof(uint32_t));
	h->flush = calloc(h->nconns, sizeof(uint32_t));
	h->open = calloc(h->nconns, sizeof(uint32_t));
	if (h->c == NULL || h->freel == NULL || h->ready == NULL || h->flush == NULL ||
	    h->open == NULL) {
		snprintf(err, errlen, "worker %u: no memory for %u HTTP connections", id,
			 h->nconns);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < h->nconns; i++) {
		h->c[i].fd = -1;
		h->freel[i] = h->nconns - 1 - i; /* a stack: 0 on top */
	}
	h->nfree = h->nconns;
	h->lfd = tcp_socket(cfg, true, err, errlen);
	if (h->lfd < 0)
		return h->lfd;
	if (listen(h->lfd, DP_HFW_BACKLOG) < 0 || epoll_ctl(epfd, EPOLL_CTL_ADD, h->lfd, &ev) < 0) {
		snprintf(err, errlen, "listen HTTP %s:%u: %s", cfg->address_str, cfg->http_port,
			 strerror(errno));
		return -errno;
	}
	return 0;
}

void dp_hfw_free(struct dp_hfw *h)
{
	if (h == NULL)
		return;
	for (unsigned i = 0; h->c && i < h->nconns; i++)
		if (h->c[i].fd >= 0)
			close(h->c[i].fd);
	if (h->lfd >= 0)
		close(h->lfd);
	free(h->c);
	free(h->freel);
	free(h->ready);
	free(h->flush);
	free(h->open);
	free(h);
}

/* ---------------------------------------------------------------- lists */

static void push_ready(struct dp_hfw *h, uint32_t i)
{
	if (h->c[i].in_ready)
		return;
	FS_ASSERT(h->nready < 2 * h->nconns);
	h->c[i].in_ready = true;
	h->ready[h->nready++] = i;
}

static void push_flush(struct dp_hfw *h, uint32_t i)
{
	if (h->c[i].in_flush)
		return;
	FS_ASSERT(h->nflush < h->nconns);
	h->c[i].in_flush = true;
	h->flush[h->nflush++] = i;
}

static uint64_t cookie_of(uint32_t i, uint16_t gen, uint16_t slot)
{
	return (uint64_t)i << 32 | (uint64_t)gen << 16 | slot;
}

/* ---------------------------------------------------------------- connections */

static void release(struct dp_hfw *h, uint32_t i)
{
	struct hconn *c = &h->c[i];

	c->used = c->dead = false;
	c->gen++;
	FS_ASSERT(h->nfree < h->nconns);
	h->freel[h->nfree++] = i;
}

const char *dp_http_close_name(unsigned reason)
{
	static const char *const names[DP_HTTP_CLOSE_REASONS] = {
		[DP_HCLOSE_CLIENT] = "client_close",
		[DP_HCLOSE_IDLE_TIMEOUT] = "idle_timeout",
		[DP_HCLOSE_HEADER_TIMEOUT] = "header_timeout",
		[DP_HCLOSE_WRITE_TIMEOUT] = "write_timeout",
		[DP_HCLOSE_LIMIT] = "limit",
		[DP_HCLOSE_BAD_REQUEST] = "bad_request",
		[DP_HCLOSE_ERROR] = "error",
		[DP_HCLOSE_TABLE_FULL] = "table_full",
	};

	return reason < DP_HTTP_CLOSE_REASONS ? names[reason] : "?";
}

/* Why the codec closes a connection it wants closed (metrics). */
static unsigned close_reason(const struct hconn *c)
{
	switch (c->h.close_code) {
	case 0: return DP_HCLOSE_CLIENT;
	case 1: return DP_HCLOSE_IDLE_TIMEOUT;
	case 408: return DP_HCLOSE_HEADER_TIMEOUT;
	case 413: case 414: case 431: return DP_HCLOSE_LIMIT;
	default: return DP_HCLOSE_BAD_REQUEST;
	}
}

static void conn_close(struct dp_hfw *h, uint32_t i, unsigned reason)
{
	struct hconn *c = &h->c[i];

	FS_ASSERT(reason < DP_HTTP_CLOSE_REASONS);
	h->closed_by[reason]++;
	FS_ASSERT(c->used);
	FS_ASSERT(!c->dead);
	FS_ASSERT(c->fd >= 0);
	close(c->fd); /* also leaves the epoll set */
	c->fd = -1;
	/* swap-remove from the open list */
	FS_ASSERT(h->nopen > 0);
	FS_ASSERT(h->open[c->opos] == i);
	h->open[c->opos] = h->open[--h->nopen];
	h->c[h->open[c->opos]].opos = c->opos;
	h->closed++;
	if (dp_http_conn_pending(&c->h) > 0)
		c->dead = true; /* the engine still owes answers: keep the cookie valid */
	else
		release(h, i);
}

static bool tx_empty(struct hconn *c)
{
	const char *d;

	return dp_http_conn_tx_data(&c->h, &d) == 0;
}

/* Close a connection that is finished: a closing response went out, the
 * peer is gone and nothing is left to answer, or the socket failed. */
static bool maybe_close(struct dp_hfw *h, uint32_t i, bool failed)
{
	struct hconn *c = &h->c[i];

	if (failed) {
		conn_close(h, i, DP_HCLOSE_ERROR);
		return true;
	}
	if (dp_http_conn_want_close(&c->h) && tx_empty(c)) {
		conn_close(h, i, close_reason(c));
		return true;
	}
	if (c->eof && c->h.count == 0 && tx_empty(c)) {
		conn_close(h, i, DP_HCLOSE_CLIENT);
		return true;
	}
	return false;
}

/* Send everything rendered; more renders as room frees. */
static void conn_send(struct dp_hfw *h, uint32_t i)
{
	struct hconn *c = &h->c[i];
	bool failed = false, progressed = false;
	const char *d;
	size_t len;

	if (!c->used || c->dead)
		return;
	while (!c->wblocked && (len = dp_http_conn_tx_data(&c->h, &d)) > 0) {
		ssize_t n = send(c->fd, d, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			dp_http_conn_tx_done(&c->h, (size_t)n);
			progressed = true;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->wblocked = true;
		} else {
			failed = true;
			break;
		}
	}
	if (maybe_close(h, i, failed))
		return;
	/* Output room freed: a pipeline that was full may go on. */
	if (progressed && (c->rd || c->h.in_off < c->h.in_len))
		push_ready(h, i);
}

/* Read once, parse, feed the engine. Returns requests handed over. */
static unsigned conn_service(struct dp_hfw *h, uint32_t i, int64_t now_ns, int64_t mono_ns)
{
	struct hconn *c = &h->c[i];
	struct dp_http_req rq;
	unsigned n_req = 0;
	bool failed = false;

	if (!c->used || c->dead)
		return 0;
	if (c->rd && !c->eof) {
		char *buf;
		size_t room = dp_http_conn_rx_space(&c->h, &buf);
		if (room > 0) {
			ssize_t n = recv(c->fd, buf, room, MSG_DONTWAIT);
			if (n > 0) {
				dp_http_conn_rx_commit(&c->h, (size_t)n);
				if ((size_t)n == room)
					push_ready(h, i); /* maybe more: next loop */
				else
					c->rd = false; /* drained (stream socket) */
			} else if (n == 0) {
				c->eof = true;
			} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
				c->rd = false;
			} else if (errno != EINTR) {
				c->eof = true;
				failed = true;
			}
		}
	}
	while (!failed && dp_http_conn_next(&c->h, &rq) == 1) {
		struct fs_resp r;
		n_req++;
		if (dp_engine_rx_req(h->w, &rq.req, rq.client_ip, cookie_of(i, c->gen, rq.slot),
				     now_ns, mono_ns, &r))
			dp_http_conn_complete(&c->h, rq.slot, &r);
	}
	h->requests += n_req;
	if (failed) {
		conn_close(h, i, DP_HCLOSE_ERROR);
		return n_req;
	}
	push_flush(h, i);
	return n_req;
}

static unsigned accept_some(struct dp_hfw *h)
{
	unsigned n = 0;

	while (h->lready && n < DP_HFW_ACCEPT_BURST) {
		struct sockaddr_in sa;
		socklen_t sl = sizeof(sa);
		int one = 1,
		    fd = accept4(h->lfd, (struct sockaddr *)&sa, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
		struct hconn *c;
		uint32_t i;

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* EAGAIN: all taken; EMFILE and the like: retried on the
			 * next connection's edge */
			h->lready = false;
			break;
		}
		n++;
		if (h->nfree == 0 || sa.sin_family != AF_INET) {
			close(fd); /* bounded: the table is full */
			h->refused++;
			h->closed_by[DP_HCLOSE_TABLE_FULL]++;
			continue;
		}
		i = h->freel[--h->nfree];
		c = &h->c[i];
		FS_ASSERT(!c->used);
		FS_ASSERT(c->fd < 0);
		ev.data.u64 = i;
		if (epoll_ctl(h->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
			close(fd);
			h->freel[h->nfree++] = i;
			h->refused++;
			h->closed_by[DP_HCLOSE_TABLE_FULL]++;
			continue;
		}
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->opos = h->nopen;
		h->open[h->nopen++] = i;
		c->used = true;
		c->dead = c->eof = c->wblocked = false;
		c->rd = true;
		dp_http_conn_init(&c->h, &h->ctx, ntohl(sa.sin_addr.s_addr));
		h->accepted++;
		push_ready(h, i);
	}
	return n;
}

/* ---------------------------------------------------------------- hooks */

void dp_hfw_event(struct dp_hfw *h, uint64_t data, uint32_t events)
{
	struct hconn *c;

	if (data == DP_HFW_EV_LISTEN) {
		h->lready = true;
		return;
	}
	FS_ASSERT(data < h->nconns);
	c = &h->c[data];
	if (!c->used || c->dead)
		return;
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		c->rd = true;
		push_ready(h, (uint32_t)data);
	}
	if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
		c->wblocked = false;
		push_flush(h, (uint32_t)data);
	}
}

unsigned dp_hfw_rx(struct dp_hfw *h, struct dp_worker *w, int64_t now_ns, int64_t mono_ns)
{
	unsigned work = 0, n;

	h->w = w;
	dp_http_ctx_clock(&h->ctx, mono_ns, now_ns);
	work += accept_some(h);
	/* Connections pushed while serving this batch wait for the next loop. */
	n = h->nready;
	for (unsigned k = 0; k < n; k++) {
		uint32_t i = h->ready[k];
		h->c[i].in_ready = false;
		work += 1 + conn_service(h, i, now_ns, mono_ns);
	}
	memmove(h->ready, h->ready + n, (h->nready - n) * sizeof(h->ready[0]));
	h->nready -= n;
	return work + (h->lready ? 1 : 0);
}

size_t dp_hfw_unsent(const struct dp_hfw *h)
{
	size_t n = 0;

	for (uint32_t k = 0; k < h->nopen; k++) {
		const struct hconn *c = &h->c[h->open[k]];
		int q = 0;

		n += c->h.out_len - c->h.out_off;
		if (ioctl(c->fd, SIOCOUTQ, &q) == 0 && q > 0)
			n += (size_t)q;
	}
	return n;
}

bool dp_hfw_pending(const struct dp_hfw *h)
{
	return h->nready > 0 || h->lready;
}

void dp_hfw_tx(struct dp_hfw *h)
{
	unsigned n = h->nflush;

	for (unsigned k = 0; k < n; k++) {
		uint32_t i = h->flush[k];
		h->c[i].in_flush = false;
		conn_send(h, i);
	}
	memmove(h->flush, h->flush + n, (h->nflush - n) * sizeof(h->flush[0]));
	h->nflush -= n;
}

void dp_hfw_answer(struct dp_hfw *h, uint64_t cookie, const struct fs_resp *r)
{
	uint32_t i = (uint32_t)(cookie >> 32);
	uint16_t gen = (uint16_t)(cookie >> 16), slot = (uint16_t)cookie;
	struct hconn *c;

	FS_ASSERT(i < h->nconns);
	c = &h->c[i];
	FS_ASSERT(c->used);
	FS_ASSERT(c->gen == gen); /* a dead connection is kept until answered */
	dp_http_conn_complete(&c->h, slot, r);
	if (c->dead) {
		h->dropped_answers++;
		if (dp_http_conn_pending(&c->h) == 0)
			release(h, i);
		return;
	}
	push_flush(h, i);
	if (c->rd || c->h.in_off < c->h.in_len)
		push_ready(h, i); /* a slot freed: parse on */
}

void dp_hfw_timer(struct dp_hfw *h)
{
	const struct dp_http_cfg *cfg = &h->fe->hcfg;
	unsigned n = h->nopen < DP_HFW_SCAN_CONNS ? h->nopen : DP_HFW_SCAN_CONNS;

	dp_http_ctx_clock(&h->ctx, fs_mono_ns(), fs_now_ns());
	/* A slice of the open connections (a close swaps the last one into
	 * the hole, which is then checked on the next round). */
	for (unsigned k = 0; k < n && h->nopen > 0; k++) {
		uint32_t i;
		struct hconn *c;

		if (h->scan >= h->nopen)
			h->scan = 0;
		i = h->open[h->scan++];
		c = &h->c[i];
		FS_ASSERT(c->used);
		FS_ASSERT(!c->dead);
		if (c->wblocked && h->ctx.mono_ms - c->h.active_ms >= cfg->idle_timeout_ms) {
			/* The peer stopped reading its answers for an idle timeout. */
			h->timeouts++;
			conn_close(h, i, DP_HCLOSE_WRITE_TIMEOUT);
			continue;
		}
		if (h->ctx.mono_ms < dp_http_conn_deadline_ms(&c->h))
			continue;
		h->timeouts++;
		dp_http_conn_tick(&c->h);
		conn_send(h, i);
	}
}

void dp_hfw_stats(const struct dp_hfw *h, struct dp_stats *out)
{
	out->http_accepted += h->accepted;
	out->http_refused += h->refused;
	out->http_open += h->accepted - h->closed;
	out->http_requests += h->requests;
	out->http_timeouts += h->timeouts;
	out->http_errors += h->ctx.stats.errors;
	for (unsigned r = 0; r < DP_HTTP_CLOSE_REASONS; r++)
		out->http_closed[r] += h->closed_by[r];
}
