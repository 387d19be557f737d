/*
 * fs_metrics.c — the worker families of /metrics (fs_metrics.h), rendered
 * by the operations listener thread from live, relaxed reads of the
 * workers' own counters (dp_engine_worker_stats): nothing here waits for a
 * worker and no worker takes a lock or does an atomic read-modify-write for
 * them.
 *
 *   flashsale_requests_total{protocol,op,status}   answers produced, where
 *       they are produced (the engine): protocol "fsp" (UDP datagrams, both
 *       modes) or "http" (the public HTTP API); op "unknown" for an op byte
 *       outside 1..6.
 *   flashsale_item_attempts_total{item}            BUY messages that passed
 *       the rate limits for a known item (whatever the answer).
 *   flashsale_worker_*{worker}                     per worker: datagrams and
 *       messages in and out, loops busy and idle, TSC cycles by stage
 *       (docs/architecture.md "Cycle accounting"), entries waiting in its
 *       incoming hand-off and return rings, hand-offs, drops by reason, and
 *       in dpdk mode the classifier's frame drops by reason.
 *   flashsale_tsc_hz                               TSC ticks per second, to
 *       turn cycles into time.
 *   flashsale_http_connections_*                  the public HTTP API: open
 *       now, accepted, closed by reason (dp_http_close_name).
 *   flashsale_decision_latency_seconds             histogram: request taken
 *       by the worker -> its answer handed to the front end, per response
 *       (datagram or HTTP answer); merged over workers.
 *   flashsale_wal_commit_latency_seconds           histogram: record appended
 *       -> its batch durable, per record; merged over shards.
 *
 * Histogram buckets are fixed and log-spaced (fs_lat_bound_ns: 1 us * 4^k);
 * counters keep per-bucket counts, summed here into cumulative _bucket{le}.
 */
#include "fs_metrics.h"
#include "store.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "fs_common.h"
#include "fs_proto.h"

void fs_metrics_put(struct fs_metrics_out *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	r = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
	va_end(ap);
	if (r < 0 || (size_t)r >= b->cap - b->n) {
		b->overflow = true;
		return;
	}
	b->n += (size_t)r;
}

#define put fs_metrics_put
#define family fs_metrics_family

void fs_metrics_family(struct fs_metrics_out *b, const char *name, const char *type,
		       const char *help)
{
	put(b, "# HELP flashsale_%s %s\n# TYPE flashsale_%s %s\n", name, help, name, type);
}

static const char *op_label(unsigned op)
{
	return op == 0 ? "unknown" : fs_op_name(op);
}

const char *fs_metrics_drop_name(unsigned i)
{
	static const char *const names[FS_METRICS_DROPS] = {
		"malformed",	     /* datagrams dropped unanswered */
		"tx_refused",	     /* response datagrams the front end would not take */
		"handoff_ring_full", /* messages answered BUSY: hand-off ring full */
		"pending_full",	     /* messages answered BUSY: pending table full */
	};

	return i < FS_METRICS_DROPS ? names[i] : "?";
}

uint64_t fs_metrics_drop_value(const struct dp_stats *s, unsigned i)
{
	switch (i) {
	case 0: return s->malformed;
	case 1: return s->tx_dropped;
	case 2: return s->handoff_busy;
	case 3: return s->pending_busy;
	default: return 0;
	}
}

static void render_requests(struct fs_metrics_out *b, const struct dp_worker_stats *sum)
{
	static const char *const proto[DP_PROTO_COUNT] = {"fsp", "http"};

	family(b, "requests_total", "counter",
	       "answers produced, by protocol (fsp: UDP messages, http: the public API), op and status");
	for (unsigned p = 0; p < DP_PROTO_COUNT; p++)
		for (unsigned op = 0; op <= FS_OP_MAX; op++)
			for (unsigned st = 0; st < FS_ST_COUNT; st++)
				put(b,
				    "flashsale_requests_total{protocol=\"%s\",op=\"%s\",status=\"%s\"} "
				    "%" PRIu64 "\n",
				    proto[p], op_label(op), fs_status_name(st), sum->requests[p][op][st]);
}

static void render_attempts(struct fs_metrics_out *b, const struct store_catalog *cat,
			    const struct dp_engine *e, uint64_t overflow)
{
	struct cfg_item it;

	family(b, "item_attempts_total", "counter",
	       "BUY messages that passed the rate limits for the item, whatever the answer");
	/* Every item of the catalog, those created at run time too. */
	for (uint32_t i = 0; store_catalog_item_at(cat, i, &it, NULL) == 0; i++)
		put(b, "flashsale_item_attempts_total{item=\"%" PRIu32 "\"} %" PRIu64 "\n", it.id,
		    dp_engine_item_attempts(e, it.id));
	family(b, "item_attempts_overflow_total", "counter",
	       "BUY attempts not counted by item: a worker's attempts table had no slot");
	put(b, "flashsale_item_attempts_overflow_total %" PRIu64 "\n", overflow);
}

/* One per-worker family: name, type, help and the value of worker i. */
struct wfam {
	const char *name, *type, *help;
	size_t off; /* into struct dp_worker_stats */
};

static void render_workers(struct fs_metrics_out *b, const struct dp_worker_stats *ws, unsigned n,
			   bool dpdk)
{
#define W(name, type, help, field) {name, type, help, offsetof(struct dp_worker_stats, field)}
	static const struct wfam f[] = {
		W("worker_rx_datagrams_total", "counter", "FSP datagrams received, per worker", st.rx_dgrams),
		W("worker_rx_messages_total", "counter", "FSP messages received, per worker", st.rx_msgs),
		W("worker_tx_datagrams_total", "counter", "response datagrams sent, per worker", st.tx_dgrams),
		W("worker_tx_messages_total", "counter", "response messages sent, per worker", st.tx_msgs),
		W("worker_handoffs_total", "counter", "messages this worker handed to another worker's shard",
		  st.handoffs),
		W("worker_returned_total", "counter", "answers owners sent back to this worker", st.returned),
		W("worker_executed_total", "counter", "requests decided on this worker's shard", st.executed),
		W("worker_busy_loops_total", "counter", "worker loops that did work", busy_loops),
		W("worker_idle_loops_total", "counter", "worker loops that found nothing to do", idle_loops),
		W("worker_handoff_ring_entries", "gauge",
		  "messages waiting in the hand-off rings into this worker (sampled)", handoff_ring_used),
		W("worker_return_ring_entries", "gauge",
		  "answers waiting in the return rings into this worker (sampled)", return_ring_used),
	};
#undef W
	for (size_t k = 0; k < sizeof(f) / sizeof(f[0]); k++) {
		family(b, f[k].name, f[k].type, f[k].help);
		for (unsigned i = 0; i < n; i++)
			put(b, "flashsale_%s{worker=\"%u\"} %" PRIu64 "\n", f[k].name, i,
			    *(const uint64_t *)((const char *)&ws[i] + f[k].off));
	}
	family(b, "worker_drops_total", "counter",
	       "messages or datagrams a worker dropped or refused (answered BUSY), by reason");
	for (unsigned i = 0; i < n; i++)
		for (unsigned r = 0; r < FS_METRICS_DROPS; r++)
			put(b, "flashsale_worker_drops_total{worker=\"%u\",reason=\"%s\"} %" PRIu64 "\n",
			    i, fs_metrics_drop_name(r), fs_metrics_drop_value(&ws[i].st, r));
	if (dpdk) {
		family(b, "worker_frames_dropped_total", "counter",
		       "Ethernet frames a worker's classifier dropped, by reason (mode = dpdk)");
		for (unsigned i = 0; i < n; i++)
			for (unsigned r = 0; r < DP_STATS_DROP_REASONS; r++)
				if (strcmp(dp_engine_drop_name(r), "?") != 0)
					put(b,
					    "flashsale_worker_frames_dropped_total{worker=\"%u\",reason=\"%s\"} "
					    "%" PRIu64 "\n",
					    i, dp_engine_drop_name(r), ws[i].st.frames_dropped_by_reason[r]);
	}
	family(b, "worker_cycles_total", "counter",
	       "TSC cycles of each worker, by stage (idle: loops that found nothing to do)");
	for (unsigned i = 0; i < n; i++)
		for (unsigned s = 0; s < DP_STAGE_COUNT; s++)
			put(b, "flashsale_worker_cycles_total{worker=\"%u\",stage=\"%s\"} %" PRIu64 "\n",
			    i, dp_stage_name(s), ws[i].cycles[s]);
}

/* A histogram from per-bucket counts (FS_LAT_BUCKETS + 1, the last +Inf). */
static void render_hist(struct fs_metrics_out *b, const char *name, const char *help,
			const uint64_t *counts, uint64_t sum_ns)
{
	uint64_t cum = 0;

	family(b, name, "histogram", help);
	for (unsigned k = 0; k < FS_LAT_BUCKETS; k++) {
		cum += counts[k];
		put(b, "flashsale_%s_bucket{le=\"%g\"} %" PRIu64 "\n", name,
		    (double)fs_lat_bound_ns(k) / 1e9, cum);
	}
	cum += counts[FS_LAT_BUCKETS];
	put(b, "flashsale_%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name, cum);
	put(b, "flashsale_%s_sum %.9f\n", name, (double)sum_ns / 1e9);
	put(b, "flashsale_%s_count %" PRIu64 "\n", name, cum);
}

void fs_metrics_gather(const struct dp_engine *e, struct dp_worker_stats *ws)
{
	unsigned n = dp_engine_nworkers(e);
	struct dp_worker_stats *sum = &ws[n];

	memset(sum, 0, sizeof(*sum));
	for (unsigned i = 0; i < n; i++) {
		dp_engine_worker_stats(e, i, &ws[i]);
		for (unsigned p = 0; p < DP_PROTO_COUNT; p++)
			for (unsigned op = 0; op <= FS_OP_MAX; op++)
				for (unsigned st = 0; st < FS_ST_COUNT; st++)
					sum->requests[p][op][st] += ws[i].requests[p][op][st];
		for (unsigned k = 0; k <= FS_LAT_BUCKETS; k++)
			sum->decision_hist[k] += ws[i].decision_hist[k];
		sum->decision_sum_ns += ws[i].decision_sum_ns;
		sum->attempts_overflow += ws[i].attempts_overflow;
		for (unsigned s = 0; s < DP_STAGE_COUNT; s++)
			sum->cycles[s] += ws[i].cycles[s];
	}
}

/* The public HTTP API's connections ([net] http_port). */
static void render_http(struct fs_metrics_out *b, const struct dp_stats *s)
{
	family(b, "http_connections_open", "gauge", "connections of the public HTTP API open now");
	put(b, "flashsale_http_connections_open %" PRIu64 "\n", s->http_open);
	family(b, "http_connections_accepted_total", "counter",
	       "connections of the public HTTP API accepted (table_full closes included)");
	put(b, "flashsale_http_connections_accepted_total %" PRIu64 "\n",
	    s->http_accepted + s->http_refused);
	family(b, "http_connections_closed_total", "counter",
	       "connections of the public HTTP API closed, by reason");
	for (unsigned r = 0; r < DP_HTTP_CLOSE_REASONS; r++)
		put(b, "flashsale_http_connections_closed_total{reason=\"%s\"} %" PRIu64 "\n",
		    dp_http_close_name(r), s->http_closed[r]);
	family(b, "http_requests_total", "counter",
	       "HTTP requests parsed and handed to the engine");
	put(b, "flashsale_http_requests_total %" PRIu64 "\n", s->http_requests);
	family(b, "http_codec_errors_total", "counter",
	       "HTTP requests answered by the codec itself (4xx: malformed, past a limit, 408)");
	put(b, "flashsale_http_codec_errors_total %" PRIu64 "\n", s->http_errors);
}

void fs_metrics_render(struct fs_metrics_out *b, const struct cfg *cfg,
		       const struct store_catalog *cat, const struct dp_engine *e,
		       const struct wal_stats *wal, unsigned nshards, struct dp_worker_stats *ws)
{
	unsigned n = dp_engine_nworkers(e);
	const struct dp_worker_stats *sum = &ws[n];

	fs_metrics_gather(e, ws);
	render_requests(b, sum);
	render_attempts(b, cat, e, sum->attempts_overflow);
	render_workers(b, ws, n, cfg->mode == CFG_MODE_DPDK);
	if (cfg->http_port) {
		struct dp_stats st;
		dp_engine_stats(e, &st);
		render_http(b, &st);
	}
	family(b, "tsc_hz", "gauge", "TSC ticks per second (worker_cycles_total / tsc_hz = seconds)");
	put(b, "flashsale_tsc_hz %" PRIu64 "\n", dp_engine_tsc_hz());
	render_hist(b, "decision_latency_seconds",
		    "request taken by a worker -> answer handed to the front end, per response",
		    sum->decision_hist, sum->decision_sum_ns);
	if (wal != NULL) {
		uint64_t hist[FS_LAT_BUCKETS + 1] = {0}, sum_ns = 0;
		for (unsigned i = 0; i < nshards; i++) {
			for (unsigned k = 0; k <= FS_LAT_BUCKETS; k++)
				hist[k] += wal[i].commit_hist[k];
			sum_ns += wal[i].commit_sum_ns;
		}
		render_hist(b, "wal_commit_latency_seconds",
			    "log record appended -> its batch durable as configured, per record",
			    hist, sum_ns);
	}
}
