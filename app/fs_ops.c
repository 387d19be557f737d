/*
 * fs_ops.c — the operations listener on [admin] address:port: what an
 * operator, a load balancer's health check and Prometheus talk to. Never the
 * public port ([net] http_port serves only /v1/..., HTTP-API.md).
 *
 *   GET /healthz   200 "ok" while the process runs (answers during recovery)
 *   GET /readyz    200 once recovered, the workers launched and every log
 *                  healthy; 503 with the reason otherwise (starting,
 *                  stopping, storage fault)
 *   GET /metrics   Prometheus text exposition format 0.0.4
 *   GET /items     JSON: every configured item and its available units
 *   /admin/...     only with "Authorization: Bearer <[admin] key, 64 hex>":
 *                  401 for a missing or wrong key, 403 when no key is
 *                  configured (the admin API is off). Run on the control
 *                  thread (fs_ops_serve_admin), e.g. POST /admin/snapshot.
 *
 * Why a thread of its own. The control thread writes snapshots (seconds for
 * millions of orders) and runs the admin work; a health check must not wait
 * for either, nor for a slow client. So this thread owns every socket of the
 * listener and answers /healthz, /readyz and /metrics itself from state that
 * is safe to read from any thread (fs_ops.h, struct fs_ops_view) and from
 * the numbers the control thread publishes (struct fs_ops_sample, copied
 * under a mutex held for microseconds, never across a snapshot). An /admin/
 * request is checked here (key, limits) and then queued, one at a time, for
 * the control thread; its connection waits, every other one is served. The
 * thread inherits the main thread's CPU affinity: in DPDK mode the main
 * lcore's core, never a worker's.
 *
 * HTTP/1.1 with keep-alive (HTTP/1.0 closes unless it asks to keep alive),
 * Content-Length bodies only (Transfer-Encoding: 501), pipelined requests
 * answered in order. Bounded everywhere, nothing allocated after open:
 *   - OPS_CONN_MAX connections. When the table is full a new connection
 *     evicts the one whose unfinished request started longest ago (else the
 *     longest idle one): a crowd of slow clients cannot lock anyone out.
 *   - request line + headers <= OPS_HEAD_MAX (431), body <= OPS_BODY_MAX
 *     (413), target < OPS_TARGET_MAX (414), at most OPS_HEADERS_MAX lines.
 *   - a request must arrive whole within OPS_HEADER_TIMEOUT_MS of its first
 *     byte (slowloris), a kept-alive connection may idle OPS_IDLE_TIMEOUT_MS,
 *     a response must drain within OPS_WRITE_TIMEOUT_MS (slow readers).
 *   - responses up to OPS_SMALL_OUT bytes go in the connection's own buffer,
 *     larger ones (/metrics, /items, admin answers) take one of OPS_BIG_BUFS
 *     buffers sized for the config at open; none free: 503, retry.
 * Evictions and timeouts are counted (flashsale_ops_*), not logged one by
 * one. The admin key never appears in a log or an answer.
 */
#include "fs_ops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fs_common.h"
#include "fs_metrics.h"
#include "fs_proto.h"
#include "fs_token.h"

#define OPS_CONN_MAX	      128
#define OPS_HEAD_MAX	      8192u
#define OPS_BODY_MAX	      8192u
#define OPS_IN_MAX	      (OPS_HEAD_MAX + OPS_BODY_MAX)
#define OPS_TARGET_MAX	      256u
#define OPS_HEADERS_MAX	      64u
#define OPS_SMALL_OUT	      2048u
#define OPS_BIG_BUFS	      4u
#define OPS_ADMIN_OUT_MAX     65536u
#define OPS_HEADER_TIMEOUT_MS 5000
#define OPS_IDLE_TIMEOUT_MS   30000
#define OPS_WRITE_TIMEOUT_MS  10000
#define OPS_POLL_MS	      100
#define OPS_RESP_HEAD_MAX     512u

_Static_assert(OPS_ADMIN_OUT_MAX + OPS_RESP_HEAD_MAX <= 16u << 20, "admin answers stay small");

enum conn_state {
	C_FREE = 0,
	C_READ,	 /* reading a request (in_len bytes so far; 0: idle) */
	C_ADMIN, /* waiting for the control thread (queued or not yet) */
	C_WRITE, /* sending out[out_off..out_len) */
};

struct ops_req {
	char method[8];
	char path[OPS_TARGET_MAX]; /* without the query */
	char query[OPS_TARGET_MAX]; /* after '?' (admin paging), or "" */
	size_t head_len;	   /* through the blank line */
	size_t body_len;
	const char *auth; /* Authorization value (in c->in), or NULL */
	size_t auth_len;
	bool keep_alive;
};

struct ops_conn {
	int fd;
	uint8_t state;	  /* enum conn_state */
	bool close_after; /* close once out is sent */
	bool submitted;	  /* C_ADMIN: the job slot holds our request */
	int big;	  /* index of the big buffer held, or -1 */
	uint32_t gen;	  /* bumped at every accept: matches admin answers */
	char peer[INET_ADDRSTRLEN];
	int64_t deadline_ns;	/* header, idle, write timeout by state */
	int64_t started_ns;	/* first byte of the current request; 0: idle */
	size_t in_len, req_len; /* bytes buffered; bytes of the request in progress */
	struct ops_req req;
	char *out;
	size_t out_len, out_off;
	char small[OPS_SMALL_OUT];
	char in[OPS_IN_MAX];
};

enum job_state { JOB_FREE = 0, JOB_QUEUED, JOB_RUNNING, JOB_DONE };

/* The one /admin/ request handed to the control thread at a time. The
 * listener writes the request fields only in JOB_FREE, the control thread
 * the answer only in JOB_RUNNING; state changes under ops.mu. */
struct ops_job {
	int state;
	unsigned conn;
	uint32_t gen;
	char method[8];
	char path[OPS_TARGET_MAX];
	char body[OPS_BODY_MAX + 1];
	size_t body_len;
	char out[OPS_ADMIN_OUT_MAX];
	size_t out_len;
	int status;
};

struct ops_counters {
	uint64_t accepted, evicted_full, header_timeouts, idle_timeouts, write_timeouts;
	uint64_t bad_requests, no_buffer, admin_denied;
	uint64_t by_code[6]; /* 1xx..5xx by first digit; [0] unused */
};

struct fs_ops {
	const struct cfg *cfg;
	int lfd, evfd;
	int64_t opened_ns; /* snapshot age counts from here until the first */
	pthread_t thread;
	bool thread_started;
	atomic_bool stop, ready, attached;

	pthread_mutex_t mu; /* view, sample, job.state */
	pthread_cond_t job_cv;
	struct fs_ops_view view;
	uint32_t cap_items; /* catalog capacity: items[] of the samples */
	struct fs_ops_sample sample;
	struct ops_job job;
	fs_ops_admin_fn admin_fn;
	void *admin_ctx;

	/* listener thread only */
	struct ops_counters n;
	unsigned nconn;
	struct ops_conn *conn; /* OPS_CONN_MAX */
	size_t big_cap;
	char *big[OPS_BIG_BUFS];
	bool big_used[OPS_BIG_BUFS];
	char *render; /* big_cap - OPS_RESP_HEAD_MAX bytes */
	size_t render_cap;
	struct wal_stats wal_copy[FS_WORKERS_MAX];
	struct store_item_counts *items_copy; /* n_items */
	struct dp_worker_stats *wstats;	      /* FS_WORKERS_MAX + 1: fs_metrics scratch */
};

static const char *reason_phrase(int code)
{
	switch (code) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return code < 300 ? "OK" : code < 500 ? "Client Error" : "Server Error";
	}
}

/* ---- buffers ---- */

static int big_take(struct fs_ops *o)
{
	for (unsigned i = 0; i < OPS_BIG_BUFS; i++)
		if (!o->big_used[i]) {
			o->big_used[i] = true;
			return (int)i;
		}
	return -1;
}

static void conn_release_out(struct fs_ops *o, struct ops_conn *c)
{
	if (c->big >= 0) {
		FS_ASSERT(o->big_used[c->big]);
		o->big_used[c->big] = false;
		c->big = -1;
	}
	c->out = NULL;
	c->out_len = c->out_off = 0;
}

static void conn_close(struct fs_ops *o, struct ops_conn *c)
{
	FS_ASSERT(c->state != C_FREE);
	close(c->fd);
	conn_release_out(o, c);
	c->fd = -1;
	c->state = C_FREE;
	c->in_len = c->req_len = 0;
	c->submitted = false;
	FS_ASSERT(o->nconn > 0);
	o->nconn--;
}

/* Queue a response (head + body) on c and switch it to C_WRITE. ctype NULL:
 * text/plain. head_only (HEAD): Content-Length of body, no body bytes. */
static void respond(struct fs_ops *o, struct ops_conn *c, int code, const char *ctype,
		    const char *extra, const char *body, size_t blen, bool head_only)
{
	char head[OPS_RESP_HEAD_MAX];
	int hn;
	size_t total;

	if (code >= 400 && code != 401 && code != 403 && code != 404 && code != 405 && code != 503)
		c->close_after = true; /* a malformed request: the stream may be out of step */
	hn = snprintf(head, sizeof(head),
		      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		      "Cache-Control: no-store\r\n%s%s\r\n",
		      code, reason_phrase(code), ctype ? ctype : "text/plain; charset=utf-8", blen,
		      extra ? extra : "", c->close_after ? "Connection: close\r\n" : "");
	FS_ASSERT(hn > 0 && (size_t)hn < sizeof(head));
	total = (size_t)hn + (head_only ? 0 : blen);
	conn_release_out(o, c);
	if (total <= sizeof(c->small)) {
		c->out = c->small;
	} else if (total <= o->big_cap && (c->big = big_take(o)) >= 0) {
		c->out = o->big[c->big];
	} else {
		static const char busy[] =
			"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n"
			"Content-Length: 18\r\nRetry-After: 1\r\nConnection: close\r\n\r\n"
			"busy: retry in 1s\n";
		_Static_assert(sizeof(busy) <= OPS_SMALL_OUT, "fits the small buffer");
		o->n.no_buffer++;
		o->n.by_code[5]++;
		c->out = c->small;
		memcpy(c->out, busy, sizeof(busy) - 1);
		c->out_len = sizeof(busy) - 1;
		c->out_off = 0;
		c->close_after = true;
		c->state = C_WRITE;
		return;
	}
	memcpy(c->out, head, (size_t)hn);
	if (!head_only && blen)
		memcpy(c->out + hn, body, blen);
	c->out_len = total;
	c->out_off = 0;
	c->state = C_WRITE;
	if (code >= 100 && code < 600)
		o->n.by_code[code / 100]++;
}

static void respond_text(struct fs_ops *o, struct ops_conn *c, int code, const char *extra,
			 const char *text)
{
	respond(o, c, code, NULL, extra, text, strlen(text), false);
}

/* ---- rendering ---- */

/* The bounded buffer and its printf are fs_metrics.c's (overflow latches: the
 * caller answers 500 rather than truncate). */
#define put fs_metrics_put
#define family fs_metrics_family

static void metric_u64(struct fs_metrics_out *b, const char *name, const char *type, const char *help,
		       uint64_t v)
{
	family(b, name, type, help);
	put(b, "flashsale_%s %" PRIu64 "\n", name, v);
}

static void render_front_end(struct fs_metrics_out *b, const struct cfg *cfg, const struct dp_stats *s)
{
	/* index = DP_FSP_ERR_* (dp.h); [0] = truncated or oversize */
	static const char *const mal_kind[6] = {"truncated",   "short",	    "bad_magic",
						"bad_version", "bad_count", "bad_length"};
#define C(name, help, v) metric_u64(b, name, "counter", help, (uint64_t)(v))
	/* flashsale_requests_total{protocol,op,status}: fs_metrics.c */
	C("rx_datagrams_total", "FSP datagrams received", s->rx_dgrams);
	C("rx_messages_total", "FSP messages received", s->rx_msgs);
	C("malformed_total", "datagrams dropped unanswered as malformed", s->malformed);
	family(b, "malformed_by_kind_total", "counter", "malformed datagrams, by kind");
	for (unsigned k = 0; k < 6; k++)
		put(b, "flashsale_malformed_by_kind_total{kind=\"%s\"} %" PRIu64 "\n", mal_kind[k],
		    s->malformed_by_kind[k]);
	C("tx_datagrams_total", "response datagrams sent", s->tx_dgrams);
	C("tx_messages_total", "response messages sent", s->tx_msgs);
	C("tx_dropped_total", "responses the kernel would not take", s->tx_dropped);
	C("handoffs_total", "messages handed to another worker's shard", s->handoffs);
	C("handoff_busy_total", "messages answered BUSY because a hand-off ring was full",
	  s->handoff_busy);
	C("returned_total", "answers that came back from an owner to the receiving worker",
	  s->returned);
	C("pending_busy_total", "answered BUSY: the receiving worker's pending table was full",
	  s->pending_busy);
	C("local_answers_total", "answered by the receiving worker's gate", s->local_answers);
	C("executed_total", "requests decided by an owner shard", s->executed);
	C("rate_limited_total", "messages answered RATE_LIMITED", s->rate_limited);
	C("held_total", "OK answers that waited for their log batch", s->held);
	C("unavailable_total", "answers turned UNAVAILABLE by a storage fault", s->unavailable);
	C("worker_sleeps_total", "times an idle worker blocked", s->sleeps);
	if (cfg->mode == CFG_MODE_DPDK) {
		C("rx_frames_total", "Ethernet frames received on the data ports", s->rx_frames);
		C("tx_frames_total", "Ethernet frames sent on the data ports", s->tx_frames);
		C("arp_replies_total", "ARP requests answered", s->arp_replies);
		C("icmp_replies_total", "ICMP echo requests answered", s->icmp_replies);
		C("exception_to_kernel_total", "frames passed to the kernel (exception path)",
		  s->exc_to_kernel);
		C("exception_from_kernel_total", "frames the kernel sent out through the port",
		  s->exc_from_kernel);
		C("exception_dropped_total", "exception-path frames refused", s->exc_dropped);
		C("tx_nombuf_total", "replies not built: mbuf pool empty", s->tx_nombuf);
		family(b, "frames_dropped_total", "counter", "frames dropped, by reason");
		for (unsigned i = 0; i < DP_STATS_DROP_REASONS; i++)
			if (strcmp(dp_engine_drop_name(i), "?") != 0)
				put(b,
				    "flashsale_frames_dropped_total{reason=\"%s\"} %" PRIu64 "\n",
				    dp_engine_drop_name(i), s->frames_dropped_by_reason[i]);
	}
#undef C
}

/* The i-th item of the catalog (the config's first, then those created at
 * run time), or of the config before the catalog is attached. */
static bool item_at(const struct fs_ops *o, uint32_t i, struct cfg_item *out)
{
	if (atomic_load(&o->attached))
		return store_catalog_item_at(o->view.cat, i, out, NULL) == 0;
	if (i >= o->cfg->n_items)
		return false;
	*out = o->cfg->items[i];
	return true;
}

static void render_items(struct fs_metrics_out *b, const struct fs_ops *o, bool have_counts)
{
	struct cfg_item it;

	family(b, "item_total", "gauge", "units configured for sale");
	for (uint32_t i = 0; item_at(o, i, &it); i++)
		put(b, "flashsale_item_total{item=\"%" PRIu32 "\"} %" PRIu32 "\n", it.id, it.total);
	family(b, "item_available", "gauge", "units still buyable (published by the owner)");
	for (uint32_t i = 0; item_at(o, i, &it); i++) {
		int64_t a = store_item_available(o->view.cat, it.id);
		put(b, "flashsale_item_available{item=\"%" PRIu32 "\"} %" PRId64 "\n", it.id,
		    a < 0 ? 0 : a);
	}
	if (!have_counts)
		return;
	family(b, "item_reserved", "gauge", "units in reserved (unpaid) orders");
	for (uint32_t i = 0; item_at(o, i, &it); i++)
		put(b, "flashsale_item_reserved{item=\"%" PRIu32 "\"} %" PRIu64 "\n", it.id,
		    o->items_copy[i].reserved);
	family(b, "item_paid", "gauge", "units in paid orders");
	for (uint32_t i = 0; item_at(o, i, &it); i++)
		put(b, "flashsale_item_paid{item=\"%" PRIu32 "\"} %" PRIu64 "\n", it.id,
		    o->items_copy[i].paid);
}

static void render_wal(struct fs_metrics_out *b, const struct fs_ops *o, bool have_stats)
{
	static const struct {
		const char *name, *type, *help;
		size_t off;
	} f[] = {
		{"wal_records_total", "counter", "records appended to the shard's log",
		 offsetof(struct wal_stats, records)},
		{"wal_bytes_total", "counter", "bytes appended to the shard's log",
		 offsetof(struct wal_stats, bytes)},
		{"wal_batches_total", "counter", "group commits submitted",
		 offsetof(struct wal_stats, batches)},
		{"wal_fsyncs_total", "counter", "fdatasyncs completed",
		 offsetof(struct wal_stats, fsyncs)},
		{"wal_busy_total", "counter", "appends refused: log queue full (-EBUSY)",
		 offsetof(struct wal_stats, busy)},
		{"wal_nobufs_total", "counter", "appends refused: no batch buffer (-ENOBUFS)",
		 offsetof(struct wal_stats, nobufs)},
		{"wal_segments_created_total", "counter", "log segments created",
		 offsetof(struct wal_stats, segments_created)},
	};
	unsigned n = o->view.n_shards;

	family(b, "wal_durable_lsn", "gauge", "last log sequence number durable as configured");
	for (unsigned i = 0; i < n; i++) {
		struct wal_position p = {0};
		if (o->view.wal[i])
			wal_position(o->view.wal[i], &p);
		put(b, "flashsale_wal_durable_lsn{shard=\"%u\"} %" PRIu64 "\n", i, p.durable_lsn);
	}
	family(b, "shard_unavailable", "gauge",
	       "1 when the shard's log failed: it answers UNAVAILABLE (look at the log)");
	for (unsigned i = 0; i < n; i++) {
		struct wal_position p = {0};
		if (o->view.wal[i])
			wal_position(o->view.wal[i], &p);
		put(b, "flashsale_shard_unavailable{shard=\"%u\"} %d\n", i, p.failed ? 1 : 0);
	}
	if (!have_stats)
		return;
	for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
		family(b, f[k].name, f[k].type, f[k].help);
		for (unsigned i = 0; i < n; i++)
			put(b, "flashsale_%s{shard=\"%u\"} %" PRIu64 "\n", f[k].name, i,
			    *(const uint64_t *)((const char *)&o->wal_copy[i] + f[k].off));
	}
}

static void render_ops(struct fs_metrics_out *b, const struct fs_ops *o)
{
	static const char *const cls[6] = {"", "1xx", "2xx", "3xx", "4xx", "5xx"};

	metric_u64(b, "ops_connections", "gauge", "open connections of the operations listener",
		   o->nconn);
	metric_u64(b, "ops_accepted_total", "counter", "connections accepted", o->n.accepted);
	family(b, "ops_evicted_total", "counter",
	       "connections closed by the listener's bounds, by reason");
	put(b, "flashsale_ops_evicted_total{reason=\"table_full\"} %" PRIu64 "\n",
	    o->n.evicted_full);
	put(b, "flashsale_ops_evicted_total{reason=\"header_timeout\"} %" PRIu64 "\n",
	    o->n.header_timeouts);
	put(b, "flashsale_ops_evicted_total{reason=\"idle_timeout\"} %" PRIu64 "\n",
	    o->n.idle_timeouts);
	put(b, "flashsale_ops_evicted_total{reason=\"write_timeout\"} %" PRIu64 "\n",
	    o->n.write_timeouts);
	family(b, "ops_responses_total", "counter",
	       "responses of the operations listener, by class");
	for (unsigned k = 1; k < 6; k++)
		put(b, "flashsale_ops_responses_total{code=\"%s\"} %" PRIu64 "\n", cls[k],
		    o->n.by_code[k]);
	metric_u64(b, "ops_admin_denied_total", "counter", "/admin/ requests refused (401, 403)",
		   o->n.admin_denied);
}

/* [replication] (app/fs_repl.c) */
static void render_repl(struct fs_metrics_out *b, const struct fs_repl_stats *r)
{
	metric_u64(b, "replication_standby", "gauge", "1 on a standby (not serving until promote)",
		   !r->primary);
	metric_u64(b, "replication_epoch", "gauge", "fencing epoch of this appliance", r->epoch);
	metric_u64(b, "replication_fenced", "gauge",
		   "1 when a promoted standby fenced this appliance off", r->fenced_by != 0);
	metric_u64(b, "replication_connected", "gauge",
		   "1 while the replication link is up (primary: a standby; standby: its primary)",
		   r->connected);
	metric_u64(b, "replication_lag_records", "gauge",
		   "primary: records durable here and not yet acknowledged by the standby",
		   r->lag_records);
	family(b, "replication_lag_seconds", "gauge",
	       "primary: seconds since the standby's acks last moved while records wait");
	put(b, "flashsale_replication_lag_seconds %.3f\n", r->lag_seconds);
	metric_u64(b, "replication_acks_degraded", "gauge",
		   "1 while acks do not wait for the standby (on_standby_loss = degrade)",
		   r->degraded);
	metric_u64(b, "replication_standby_lost", "gauge",
		   "1 while the standby is lost (ack = standby)", r->lost);
	metric_u64(b, "replication_acks_degraded_total", "counter",
		   "times acks degraded to local because the standby was lost", r->degraded_total);
	metric_u64(b, "replication_records_total", "counter",
		   "log records shipped (primary) or received (standby)", r->records);
	metric_u64(b, "replication_bytes_total", "counter",
		   "log bytes shipped (primary) or received (standby)", r->bytes);
	metric_u64(b, "replication_snapshots_total", "counter",
		   "snapshots sent to (primary) or installed from (standby) the peer", r->snapshots);
	metric_u64(b, "replication_refused_total", "counter",
		   "replication links or frames refused", r->refused);
}

/* ---- readiness ---- */

/* NULL when ready, else why not. */
static const char *not_ready(struct fs_ops *o, char *buf, size_t len)
{
	int failed = 0;

	pthread_mutex_lock(&o->mu);
	if (o->sample.have_repl && o->sample.repl.fenced_by) {
		snprintf(buf, len, "not ready: fenced off by epoch %" PRIu64 " (a standby was "
				   "promoted): purchases answer UNAVAILABLE\n",
			 o->sample.repl.fenced_by);
		pthread_mutex_unlock(&o->mu);
		return buf;
	}
	if (!atomic_load(&o->ready) && o->sample.have_repl && !o->sample.repl.primary) {
		pthread_mutex_unlock(&o->mu);
		return "not ready: standby (following the primary; serves after promote)\n";
	}
	pthread_mutex_unlock(&o->mu);
	if (!atomic_load(&o->ready))
		return atomic_load(&o->attached) ? "not ready: starting or stopping\n"
						 : "not ready: recovering\n";
	pthread_mutex_lock(&o->mu);
	failed = o->sample.storage_failed;
	for (unsigned i = 0; !failed && i < o->view.n_shards; i++) {
		struct wal_position p = {0};
		if (o->view.wal[i])
			wal_position(o->view.wal[i], &p);
		failed = p.failed;
	}
	pthread_mutex_unlock(&o->mu);
	if (failed == 0)
		return NULL;
	snprintf(buf, len, "not ready: storage fault (%s): shards answer UNAVAILABLE\n",
		 fs_strerror(failed));
	return buf;
}

/* The worker families (fs_metrics.c), into the same buffer. */
static void render_workers(struct fs_metrics_out *b, struct fs_ops *o, bool have_wal)
{
	fs_metrics_render(b, o->cfg, o->view.cat, o->view.engine, have_wal ? o->wal_copy : NULL,
			  o->view.n_shards, o->wstats);
}

/* /metrics into o->render; its length, or 0 if it did not fit. */
static size_t render_metrics(struct fs_ops *o)
{
	struct fs_metrics_out b = {.p = o->render, .cap = o->render_cap};
	struct fs_ops_sample s;
	int64_t now = fs_mono_ns();
	char why[160];
	bool attached, ready = not_ready(o, why, sizeof(why)) == NULL;

	pthread_mutex_lock(&o->mu);
	attached = atomic_load(&o->attached);
	s = o->sample;
	if (s.have_shards) {
		memcpy(o->wal_copy, s.wal, sizeof(o->wal_copy));
		memcpy(o->items_copy, o->sample.items, o->cap_items * sizeof(*o->items_copy));
	}
	put(&b, "# HELP flashsale_up 1 while the daemon runs\n# TYPE flashsale_up gauge\n"
		"flashsale_up 1\n");
	metric_u64(&b, "ready", "gauge", "1 when /readyz answers 200", ready);
	metric_u64(&b, "workers", "gauge", "worker lcores (= shards)", o->cfg->workers);
	if (attached) {
		struct dp_stats st;
		dp_engine_stats(o->view.engine, &st);
		render_front_end(&b, o->cfg, &st);
		render_items(&b, o, s.have_shards);
		render_wal(&b, o, s.have_shards);
		render_workers(&b, o, s.have_shards);
	}
	pthread_mutex_unlock(&o->mu);
	metric_u64(&b, "storage_failed", "gauge",
		   "1 after a storage fault (persist_failed): shards answer UNAVAILABLE",
		   s.storage_failed ? 1 : 0);
	metric_u64(&b, "snapshots_total", "counter", "snapshots written", s.snapshots_ok);
	metric_u64(&b, "snapshot_failures_total", "counter", "snapshots that failed",
		   s.snapshots_failed);
	family(&b, "snapshot_age_seconds", "gauge",
	       "seconds since the last snapshot was written (since start when none yet)");
	put(&b, "flashsale_snapshot_age_seconds %.3f\n",
	    (double)(now - (s.snapshot_last_ok_ns ? s.snapshot_last_ok_ns : o->opened_ns)) / 1e9);
	family(&b, "snapshot_duration_seconds", "gauge", "how long the last snapshot took");
	put(&b, "flashsale_snapshot_duration_seconds %.6f\n",
	    (double)s.snapshot_last_duration_ns / 1e9);
	metric_u64(&b, "snapshot_in_progress", "gauge", "1 while a snapshot is being written",
		   s.snapshot_running_since_ns ? 1 : 0);
	metric_u64(&b, "consumers_cut_total", "counter",
		   "change-feed consumers cut loose past [persist] consumer_retention_mb",
		   retain_consumers_cut_total());
	if (s.have_repl)
		render_repl(&b, &s.repl);
	render_ops(&b, o);
	return b.overflow ? 0 : b.n;
}

static size_t render_items_json(struct fs_ops *o)
{
	struct fs_metrics_out b = {.p = o->render, .cap = o->render_cap};

	struct cfg_item item;

	put(&b, "[");
	for (uint32_t i = 0; item_at(o, i, &item); i++) {
		const struct cfg_item *it = &item;
		int64_t a =
			atomic_load(&o->attached) ? store_item_available(o->view.cat, it->id) : -1;
		put(&b,
		    "%s{\"item_id\":%" PRIu32 ",\"activity_id\":%" PRIu32 ",\"total\":%" PRIu32
		    ",\"available\":%" PRId64 ",\"per_user_limit\":%" PRIu32 "}",
		    i ? "," : "", it->id, it->activity_id, it->total, a, it->per_user_limit);
	}
	put(&b, "]\n");
	return b.overflow ? 0 : b.n;
}

/* ---- requests ---- */

static bool tchar(int ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

static bool token_has(const char *v, size_t n, const char *word)
{
	size_t w = strlen(word);

	for (size_t i = 0; i + w <= n; i++)
		if (strncasecmp(v + i, word, w) == 0 &&
		    (i == 0 || v[i - 1] == ' ' || v[i - 1] == ',') &&
		    (i + w == n || v[i + w] == ' ' || v[i + w] == ','))
			return true;
	return false;
}

/* Parse the request at the start of c->in. 1: complete (c->req filled,
 * c->req_len set); 0: need more bytes; else the HTTP status to refuse with. */
static int parse(struct ops_conn *c)
{
	struct ops_req *r = &c->req;
	const char *p = c->in, *end, *eol, *sp1, *sp2, *q;
	size_t scan = c->in_len < OPS_HEAD_MAX ? c->in_len : OPS_HEAD_MAX;
	bool have_cl = false, http11, ka = false, close = false;
	uint64_t cl = 0;
	unsigned lines = 0;

	memset(r, 0, sizeof(*r));
	end = memmem(p, scan, "\r\n\r\n", 4);
	if (end == NULL)
		return c->in_len >= OPS_HEAD_MAX ? 431 : 0;
	r->head_len = (size_t)(end - p) + 4;
	/* request line: METHOD SP target SP HTTP/1.x */
	eol = memmem(p, r->head_len, "\r\n", 2);
	sp1 = memchr(p, ' ', (size_t)(eol - p));
	if (sp1 == NULL || sp1 == p || sp1 - p >= (ptrdiff_t)sizeof(r->method))
		return 400;
	for (q = p; q < sp1; q++)
		if (*q < 'A' || *q > 'Z')
			return 400;
	sp2 = memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1));
	if (sp2 == NULL || sp2 == sp1 + 1 || sp1[1] != '/')
		return 400;
	if (eol - sp2 - 1 != 8 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return memcmp(sp2 + 1, "HTTP/", 5) == 0 ? 505 : 400;
	if (sp2[8] != '0' && sp2[8] != '1')
		return 505;
	http11 = sp2[8] == '1';
	memcpy(r->method, p, (size_t)(sp1 - p));
	for (q = sp1 + 1; q < sp2 && *q != '?'; q++)
		if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
			return 400;
	if (q - sp1 - 1 >= (ptrdiff_t)sizeof(r->path))
		return 414;
	memcpy(r->path, sp1 + 1, (size_t)(q - sp1 - 1));
	r->query[0] = '\0';
	if (q < sp2) { /* the query: printable ASCII, kept for the admin API's paging */
		const char *qs = q + 1;
		for (q = qs; q < sp2; q++)
			if ((unsigned char)*q <= ' ' || (unsigned char)*q >= 0x7f)
				return 400;
		if (sp2 - qs >= (ptrdiff_t)sizeof(r->query))
			return 414;
		memcpy(r->query, qs, (size_t)(sp2 - qs));
		r->query[sp2 - qs] = '\0';
	}
	/* header lines */
	for (p = eol + 2; p < end + 2; p = eol + 2) {
		const char *colon, *v, *ve;
		eol = memmem(p, (size_t)(end + 2 - p), "\r\n", 2);
		FS_ASSERT(eol != NULL);
		if (++lines > OPS_HEADERS_MAX)
			return 431;
		for (colon = p; colon < eol && tchar(*colon); colon++)
			;
		if (colon == p || colon == eol || *colon != ':')
			return 400; /* no name, whitespace before ':', obs-fold, no colon */
		for (v = colon + 1; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		for (ve = eol; ve > v && (ve[-1] == ' ' || ve[-1] == '\t'); ve--)
			;
		size_t nl = (size_t)(colon - p), vl = (size_t)(ve - v);
		for (q = v; q < ve; q++)
			if ((unsigned char)*q < ' ' && *q != '\t')
				return 400;
		if (nl == 14 && strncasecmp(p, "Content-Length", nl) == 0) {
			uint64_t x = 0;
			if (vl == 0 || vl > 10)
				return 400;
			for (q = v; q < ve; q++) {
				if (*q < '0' || *q > '9')
					return 400;
				x = x * 10 + (uint64_t)(*q - '0');
			}
			if (have_cl && x != cl)
				return 400;
			have_cl = true;
			cl = x;
		} else if (nl == 17 && strncasecmp(p, "Transfer-Encoding", nl) == 0) {
			return 501;
		} else if (nl == 10 && strncasecmp(p, "Connection", nl) == 0) {
			close |= token_has(v, vl, "close");
			ka |= token_has(v, vl, "keep-alive");
		} else if (nl == 13 && strncasecmp(p, "Authorization", nl) == 0) {
			if (r->auth)
				return 400;
			r->auth = v;
			r->auth_len = vl;
		}
	}
	if (cl > OPS_BODY_MAX)
		return 413;
	r->body_len = (size_t)cl;
	r->keep_alive = !close && (http11 || ka);
	if (c->in_len < r->head_len + r->body_len)
		return 0;
	c->req_len = r->head_len + r->body_len;
	return 1;
}

/* 0 authorized, else 401 or 403. Constant time in the key. */
static int admin_auth(const struct fs_ops *o, const struct ops_req *r)
{
	uint8_t key[32];
	char hex[65];

	if (!o->cfg->admin_enabled)
		return 403;
	if (r->auth == NULL || r->auth_len != 7 + 64 || strncasecmp(r->auth, "Bearer ", 7) != 0)
		return 401;
	memcpy(hex, r->auth + 7, 64);
	hex[64] = '\0';
	if (fs_hex_parse(hex, key, sizeof(key)) < 0)
		return 401;
	int bad = sodium_memcmp(key, o->cfg->admin_key, sizeof(key));
	sodium_memzero(key, sizeof(key));
	sodium_memzero(hex, sizeof(hex));
	return bad ? 401 : 0;
}

/* Hand c's /admin/ request to the control thread if the slot is free. */
static void admin_submit(struct fs_ops *o, struct ops_conn *c)
{
	struct ops_job *j = &o->job;

	pthread_mutex_lock(&o->mu);
	if (j->state == JOB_FREE) {
		j->conn = (unsigned)(c - o->conn);
		j->gen = c->gen;
		snprintf(j->method, sizeof(j->method), "%s", c->req.method);
		snprintf(j->path, sizeof(j->path), "%s%s%.*s", c->req.path + strlen("/admin"),
			 c->req.query[0] ? "?" : "", (int)(sizeof(j->path) / 2), c->req.query);
		memcpy(j->body, c->in + c->req.head_len, c->req.body_len);
		j->body[c->req.body_len] = '\0';
		j->body_len = c->req.body_len;
		j->out_len = 0;
		j->status = 500;
		j->state = JOB_QUEUED;
		c->submitted = true;
		pthread_cond_signal(&o->job_cv);
	}
	pthread_mutex_unlock(&o->mu);
}

static void handle(struct fs_ops *o, struct ops_conn *c, int64_t now)
{
	const struct ops_req *r = &c->req;
	bool get = strcmp(r->method, "GET") == 0, head = strcmp(r->method, "HEAD") == 0;
	char why[160];
	size_t n;

	(void)now;
	c->close_after = !r->keep_alive;
	if (strncmp(r->path, "/admin/", 7) == 0 || strcmp(r->path, "/admin") == 0) {
		int code = admin_auth(o, r);
		if (code) {
			o->n.admin_denied++;
			const char *msg = code == 401
						  ? "{\"error\":\"missing or wrong bearer key\"}\n"
						  : "{\"error\":\"admin API off: no [admin] key "
						    "configured\"}\n";
			respond(o, c, code, "application/json",
				code == 401 ? "WWW-Authenticate: Bearer\r\n" : NULL, msg,
				strlen(msg), false);
			return;
		}
		c->state = C_ADMIN;
		c->submitted = false;
		admin_submit(o, c);
		return;
	}
	if (strcmp(r->path, "/healthz") == 0 || strcmp(r->path, "/readyz") == 0 ||
	    strcmp(r->path, "/metrics") == 0 || strcmp(r->path, "/items") == 0) {
		if (!get && !head) {
			respond_text(o, c, 405, "Allow: GET, HEAD\r\n", "only GET and HEAD here\n");
			return;
		}
	} else {
		respond_text(o, c, 404, NULL,
			     "not found: /healthz /readyz /metrics /items /admin/...\n");
		return;
	}
	if (strcmp(r->path, "/healthz") == 0) {
		respond(o, c, 200, NULL, NULL, "ok\n", 3, head);
	} else if (strcmp(r->path, "/readyz") == 0) {
		const char *no = not_ready(o, why, sizeof(why));
		if (no)
			respond(o, c, 503, NULL, NULL, no, strlen(no), head);
		else
			respond(o, c, 200, NULL, NULL, "ready\n", 6, head);
	} else if (strcmp(r->path, "/metrics") == 0) {
		n = render_metrics(o);
		if (n == 0)
			respond_text(o, c, 500, NULL, "metrics did not fit the buffer (a bug)\n");
		else
			respond(o, c, 200, "text/plain; version=0.0.4; charset=utf-8", NULL,
				o->render, n, head);
	} else {
		n = render_items_json(o);
		if (n == 0)
			respond_text(o, c, 500, NULL, "items did not fit the buffer (a bug)\n");
		else
			respond(o, c, 200, "application/json", NULL, o->render, n, head);
	}
}

/* Parse and answer what c holds, as long as it is reading. */
static void process(struct fs_ops *o, struct ops_conn *c, int64_t now)
{
	while (c->state == C_READ && c->in_len > 0) {
		int rc = parse(c);
		if (rc == 0) {
			if (c->started_ns == 0) {
				c->started_ns = now;
				c->deadline_ns = now + OPS_HEADER_TIMEOUT_MS * FS_NS_PER_MS;
			}
			return;
		}
		if (rc != 1) {
			o->n.bad_requests++;
			c->close_after = true;
			respond_text(o, c, rc, NULL, "bad request\n");
			c->deadline_ns = now + OPS_WRITE_TIMEOUT_MS * FS_NS_PER_MS;
			return;
		}
		handle(o, c, now);
		c->deadline_ns = now + OPS_WRITE_TIMEOUT_MS * FS_NS_PER_MS;
	}
}

/* After a response went out: drop the request's bytes, read the next. */
static void conn_next(struct fs_ops *o, struct ops_conn *c, int64_t now)
{
	conn_release_out(o, c);
	if (c->close_after) {
		conn_close(o, c);
		return;
	}
	FS_ASSERT(c->req_len <= c->in_len);
	memmove(c->in, c->in + c->req_len, c->in_len - c->req_len);
	c->in_len -= c->req_len;
	c->req_len = 0;
	c->state = C_READ;
	c->started_ns = 0;
	c->deadline_ns = now + OPS_IDLE_TIMEOUT_MS * FS_NS_PER_MS;
	process(o, c, now);
}

static void conn_write(struct fs_ops *o, struct ops_conn *c, int64_t now)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w <= 0) {
			conn_close(o, c);
			return;
		}
		c->out_off += (size_t)w;
	}
	conn_next(o, c, now);
}

static void conn_read(struct fs_ops *o, struct ops_conn *c, int64_t now)
{
	ssize_t r;

	if (c->in_len == sizeof(c->in))
		return; /* full: parse() has already refused it or will */
	r = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (r <= 0) {
		conn_close(o, c);
		return;
	}
	c->in_len += (size_t)r;
	process(o, c, now);
	if (c->state == C_WRITE)
		conn_write(o, c, now);
}

/* The connection to give up for a newcomer when the table is full: the
 * oldest unfinished request, else the longest idle; -1 if every connection
 * is busy answering (admin or writing). */
static int victim(const struct fs_ops *o)
{
	int best = -1, idle = -1;

	for (int i = 0; i < OPS_CONN_MAX; i++) {
		const struct ops_conn *c = &o->conn[i];
		if (c->state != C_READ)
			continue;
		if (c->started_ns) {
			if (best < 0 || c->started_ns < o->conn[best].started_ns)
				best = i;
		} else if (idle < 0 || c->deadline_ns < o->conn[idle].deadline_ns) {
			idle = i;
		}
	}
	return best >= 0 ? best : idle;
}

static void accept_all(struct fs_ops *o, int64_t now)
{
	for (unsigned k = 0; k < 4 * OPS_CONN_MAX; k++) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		int fd = accept4(o->lfd, (struct sockaddr *)&peer, &plen,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		int i;

		if (fd < 0)
			return;
		o->n.accepted++;
		for (i = 0; i < OPS_CONN_MAX && o->conn[i].state != C_FREE; i++)
			;
		if (i == OPS_CONN_MAX) {
			i = victim(o);
			if (i < 0) { /* every slot is answering: refuse the newcomer */
				close(fd);
				o->n.evicted_full++;
				continue;
			}
			conn_close(o, &o->conn[i]);
			o->n.evicted_full++;
		}
		struct ops_conn *c = &o->conn[i];
		c->fd = fd;
		c->state = C_READ;
		c->gen++;
		c->close_after = false;
		c->submitted = false;
		c->big = -1;
		c->in_len = c->req_len = 0;
		c->started_ns = 0;
		c->deadline_ns = now + OPS_HEADER_TIMEOUT_MS * FS_NS_PER_MS;
		inet_ntop(AF_INET, &peer.sin_addr, c->peer, sizeof(c->peer));
		o->nconn++;
		conn_read(o, c, now); /* the request often came with the connection */
	}
}

/* An answer from the control thread: send it, free the slot, submit the
 * next waiting /admin/ request. */
static void admin_collect(struct fs_ops *o, int64_t now)
{
	struct ops_job *j = &o->job;
	bool done;

	pthread_mutex_lock(&o->mu);
	done = j->state == JOB_DONE;
	pthread_mutex_unlock(&o->mu);
	if (!done)
		return;
	struct ops_conn *c = &o->conn[j->conn];
	if (c->state == C_ADMIN && c->gen == j->gen && c->submitted) {
		fs_log("info", "admin: %s /admin%s from %s: %d", j->method, j->path, c->peer,
		       j->status);
		c->submitted = false;
		respond(o, c, j->status, "application/json", NULL, j->out, j->out_len, false);
		c->deadline_ns = now + OPS_WRITE_TIMEOUT_MS * FS_NS_PER_MS;
	}
	pthread_mutex_lock(&o->mu);
	j->state = JOB_FREE;
	pthread_mutex_unlock(&o->mu);
	if (c->state == C_WRITE)
		conn_write(o, c, now);
	for (int i = 0; i < OPS_CONN_MAX; i++)
		if (o->conn[i].state == C_ADMIN && !o->conn[i].submitted) {
			admin_submit(o, &o->conn[i]);
			break;
		}
}

static void sweep_timeouts(struct fs_ops *o, int64_t now)
{
	for (int i = 0; i < OPS_CONN_MAX; i++) {
		struct ops_conn *c = &o->conn[i];
		if (c->state == C_FREE || c->state == C_ADMIN || now < c->deadline_ns)
			continue;
		if (c->state == C_WRITE)
			o->n.write_timeouts++;
		else if (c->started_ns || c->in_len)
			o->n.header_timeouts++;
		else
			o->n.idle_timeouts++;
		conn_close(o, c);
	}
}

static void *ops_thread(void *arg)
{
	struct fs_ops *o = arg;
	struct pollfd pfd[OPS_CONN_MAX + 2];
	int map[OPS_CONN_MAX + 2];

	while (!atomic_load(&o->stop)) {
		nfds_t n = 0;
		pfd[n] = (struct pollfd){.fd = o->lfd, .events = POLLIN};
		map[n++] = -1;
		pfd[n] = (struct pollfd){.fd = o->evfd, .events = POLLIN};
		map[n++] = -1;
		for (int i = 0; i < OPS_CONN_MAX; i++) {
			struct ops_conn *c = &o->conn[i];
			if (c->state == C_FREE)
				continue;
			pfd[n] = (struct pollfd){
				.fd = c->fd,
				.events = c->state == C_WRITE ? POLLOUT
					  : c->state == C_READ && c->in_len < sizeof(c->in) ? POLLIN
											    : 0};
			map[n++] = i;
		}
		int rc = poll(pfd, n, OPS_POLL_MS);
		int64_t now = fs_mono_ns();
		if (rc > 0) {
			if (pfd[1].revents) {
				uint64_t v;
				(void)!read(o->evfd, &v, sizeof(v));
			}
			for (nfds_t k = 2; k < n; k++) {
				struct ops_conn *c = &o->conn[map[k]];
				short ev = pfd[k].revents;
				if (ev == 0 || c->state == C_FREE || c->fd != pfd[k].fd)
					continue;
				if (c->state == C_WRITE && (ev & (POLLOUT | POLLERR | POLLHUP)))
					conn_write(o, c, now);
				else if (c->state == C_READ && (ev & (POLLIN | POLLERR | POLLHUP)))
					conn_read(o, c, now);
				else if (c->state == C_ADMIN && (ev & (POLLERR | POLLHUP)))
					conn_close(o, c); /* the answer is dropped (gen) */
			}
			if (pfd[0].revents & POLLIN)
				accept_all(o, now);
		}
		admin_collect(o, now);
		sweep_timeouts(o, now);
	}
	return NULL;
}

/* ---- the control thread's side ---- */

int fs_ops_serve_admin(struct fs_ops *o, int timeout_ms)
{
	struct ops_job *j = &o->job;
	struct timespec ts;
	uint64_t one = 1;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&o->mu);
	while (j->state != JOB_QUEUED) {
		if (pthread_cond_timedwait(&o->job_cv, &o->mu, &ts) == ETIMEDOUT)
			break;
	}
	if (j->state != JOB_QUEUED) {
		pthread_mutex_unlock(&o->mu);
		return 0;
	}
	j->state = JOB_RUNNING;
	pthread_mutex_unlock(&o->mu);

	int status = 501;
	size_t len;
	if (o->admin_fn) {
		len = o->admin_fn(o->admin_ctx, j->method, j->path, j->body, j->body_len, j->out,
				  sizeof(j->out), &status);
	} else {
		len = (size_t)snprintf(j->out, sizeof(j->out),
				       "{\"error\":\"not implemented: %s /admin%s\"}\n", j->method,
				       j->path);
	}
	FS_ASSERT(len <= sizeof(j->out));
	FS_ASSERT(status >= 100 && status <= 599);
	pthread_mutex_lock(&o->mu);
	j->out_len = len;
	j->status = status;
	j->state = JOB_DONE;
	pthread_mutex_unlock(&o->mu);
	(void)!write(o->evfd, &one, sizeof(one));
	return 1;
}

void fs_ops_publish(struct fs_ops *o, const struct fs_ops_sample *s)
{
	pthread_mutex_lock(&o->mu);
	struct store_item_counts *items = o->sample.items;
	o->sample = *s;
	o->sample.items = items;
	if (s->have_shards && s->items)
		memcpy(items, s->items, o->cap_items * sizeof(*items));
	pthread_mutex_unlock(&o->mu);
}

void fs_ops_set_admin(struct fs_ops *o, fs_ops_admin_fn fn, void *ctx)
{
	pthread_mutex_lock(&o->mu);
	o->admin_fn = fn;
	o->admin_ctx = ctx;
	pthread_mutex_unlock(&o->mu);
}

void fs_ops_attach(struct fs_ops *o, const struct fs_ops_view *v)
{
	FS_ASSERT(v->n_shards <= FS_WORKERS_MAX);
	pthread_mutex_lock(&o->mu);
	o->view = *v;
	atomic_store(&o->attached, true);
	pthread_mutex_unlock(&o->mu);
}

void fs_ops_detach(struct fs_ops *o)
{
	if (o == NULL)
		return;
	pthread_mutex_lock(&o->mu);
	atomic_store(&o->ready, false);
	atomic_store(&o->attached, false);
	memset(&o->view, 0, sizeof(o->view));
	o->sample.have_shards = false;
	pthread_mutex_unlock(&o->mu);
}

void fs_ops_set_ready(struct fs_ops *o, bool ready)
{
	if (o)
		atomic_store(&o->ready, ready);
}

/* ---- open, close ---- */

int fs_ops_open(const struct cfg *cfg, struct fs_ops **out)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(cfg->admin_port),
				.sin_addr = cfg->admin_address};
	struct fs_ops *o;
	pthread_condattr_t ca;
	sigset_t block, old;
	int one = 1, rc;

	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return -ENOMEM;
	o->cfg = cfg;
	o->lfd = o->evfd = -1;
	o->opened_ns = fs_mono_ns();
	pthread_mutex_init(&o->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&o->job_cv, &ca);
	pthread_condattr_destroy(&ca);
	/* Sized for the config: about 20 lines per shard, 4 per item (at most
	 * 64 bytes each; fs_metrics.c: ~30 per worker, 1 per item, ~200 fixed),
	 * the rest fixed; render_metrics refuses (500) rather than truncates.
	 * OPS_BIG_BUFS + 1 of these: 0.6 MiB for a few items, 105 MiB at
	 * FS_ITEMS_MAX. */
	o->cap_items = store_catalog_capacity(cfg); /* items created at run time too */
	o->render_cap = 96 * 1024 + (size_t)cfg->workers * 6 * 1024 + (size_t)o->cap_items * 320;
	if (o->render_cap < OPS_ADMIN_OUT_MAX)
		o->render_cap = OPS_ADMIN_OUT_MAX;
	o->big_cap = o->render_cap + OPS_RESP_HEAD_MAX;
	o->conn = calloc(OPS_CONN_MAX, sizeof(*o->conn));
	o->render = malloc(o->render_cap);
	o->items_copy = calloc(o->cap_items, sizeof(*o->items_copy));
	o->sample.items = calloc(o->cap_items, sizeof(*o->sample.items));
	o->wstats = calloc(FS_WORKERS_MAX + 1, sizeof(*o->wstats));
	rc = o->conn && o->render && o->items_copy && o->sample.items && o->wstats ? 0 : -ENOMEM;
	for (unsigned i = 0; rc == 0 && i < OPS_BIG_BUFS; i++)
		if ((o->big[i] = malloc(o->big_cap)) == NULL)
			rc = -ENOMEM;
	if (rc < 0)
		goto fail;
	for (int i = 0; i < OPS_CONN_MAX; i++) {
		o->conn[i].fd = -1;
		o->conn[i].big = -1;
	}
	o->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	o->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (o->evfd < 0 || o->lfd < 0 ||
	    setsockopt(o->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) {
		rc = -errno;
		goto fail;
	}
	rc = bind(o->lfd, (struct sockaddr *)&a, sizeof(a)) < 0 ? -errno : 0;
	if (rc == -EADDRNOTAVAIL && cfg->mode == CFG_MODE_DPDK) {
		/* The appliance's own address lives on the exception-path TAP,
		 * which the engine creates after recovery: bind it ahead. */
		fs_log("info",
		       "[admin] address %s is not up yet (the exception-path interface "
		       "comes up with the engine): listening for it",
		       cfg->admin_address_str);
		rc = setsockopt(o->lfd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) < 0 ||
				     bind(o->lfd, (struct sockaddr *)&a, sizeof(a)) < 0
			     ? -errno
			     : 0;
	}
	if (rc < 0 || listen(o->lfd, 512) < 0) {
		rc = rc < 0 ? rc : -errno;
		goto fail;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	rc = -pthread_create(&o->thread, NULL, ops_thread, o);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc < 0)
		goto fail;
	o->thread_started = true;
	pthread_setname_np(o->thread, "fs-ops");
	*out = o;
	return 0;
fail:
	fs_ops_close(o);
	return rc;
}

void fs_ops_close(struct fs_ops *o)
{
	uint64_t one = 1;

	if (o == NULL)
		return;
	if (o->thread_started) {
		atomic_store(&o->stop, true);
		(void)!write(o->evfd, &one, sizeof(one));
		pthread_join(o->thread, NULL);
	}
	for (int i = 0; o->conn && i < OPS_CONN_MAX; i++)
		if (o->conn[i].state != C_FREE)
			conn_close(o, &o->conn[i]);
	if (o->lfd >= 0)
		close(o->lfd);
	if (o->evfd >= 0)
		close(o->evfd);
	for (unsigned i = 0; i < OPS_BIG_BUFS; i++)
		free(o->big[i]);
	free(o->render);
	free(o->items_copy);
	free(o->sample.items);
	free(o->wstats);
	free(o->conn);
	pthread_cond_destroy(&o->job_cv);
	pthread_mutex_destroy(&o->mu);
	free(o);
}
