/*
 * fs_telemetry.c — the counters of /metrics as DPDK telemetry commands, for
 * mode = dpdk (EAL's telemetry socket, /var/run/dpdk/<file-prefix>/
 * dpdk_telemetry.v2; dpdk-telemetry.py reads it). Kernel mode runs EAL with
 * --no-telemetry and registers nothing.
 *
 *   /flashsale/stats        engine totals (dp_engine_stats), answers by
 *                           protocol/op as arrays by status ("status_names"
 *                           gives the order), BUY attempts overflow, the
 *                           decision-latency histogram (cumulative counts,
 *                           "latency_bounds_ns"; the last is +Inf), tsc_hz
 *   /flashsale/workers      per-worker arrays (index = worker): datagrams,
 *                           busy and idle cycles, ring fill;
 *   /flashsale/workers,N    every counter of worker N: packets, loops,
 *                           cycles by stage, ring fill, drops by reason,
 *                           frames dropped by its classifier
 *   /flashsale/items[,S]    items S.. S+FS_TEL_ITEMS_PAGE-1 (cfg order):
 *                           id, total, available, reserved, paid, attempts
 *   /flashsale/wal          per-shard log counters (the sample the control
 *                           loop gathers once a second) and the merged
 *                           commit-latency histogram
 *
 * The callbacks run on DPDK's telemetry thread. They read what /metrics
 * reads: the workers' own counters with relaxed loads and the published
 * sample, which this file copies under its own mutex (taken only by the
 * telemetry thread and the control thread, never by a worker). A reply is
 * at most 16 KiB (DPDK's limit): hence the per-worker and per-page forms.
 */
#include "fs_telemetry.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_telemetry.h>

#include "fs_common.h"
#include "fs_metrics.h"
#include "fs_proto.h"
#include "persist.h"

#define FS_TEL_ITEMS_PAGE 128u

static struct {
	pthread_mutex_t mu;
	const struct cfg *cfg;
	struct dp_engine *e; /* NULL: not running */
	const struct store_catalog *cat;
	bool have_sample;
	struct wal_stats wal[FS_WORKERS_MAX];
	struct store_item_counts *items; /* per catalog index, store_catalog_capacity(cfg) */
	uint32_t cap_items;
	struct dp_worker_stats ws[FS_WORKERS_MAX + 1];
} g_tel = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* A u64 array of n values, or NULL (out of memory: the key is left out). */
static struct rte_tel_data *u64_array(const uint64_t *v, unsigned n, size_t stride)
{
	struct rte_tel_data *a = rte_tel_data_alloc();

	if (a == NULL)
		return NULL;
	rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
	for (unsigned i = 0; i < n; i++)
		rte_tel_data_add_array_u64(a, *(const uint64_t *)((const char *)v + i * stride));
	return a;
}

static void dict_array(struct rte_tel_data *d, const char *name, const uint64_t *v, unsigned n,
		       size_t stride)
{
	struct rte_tel_data *a = u64_array(v, n, stride);

	if (a && rte_tel_data_add_dict_container(d, name, a, 0) < 0)
		rte_tel_data_free(a);
}

static void add_histogram(struct rte_tel_data *d, const char *name, const uint64_t *counts,
			  uint64_t sum_ns)
{
	uint64_t cum[FS_LAT_BUCKETS + 1], c = 0;
	char key[64];

	for (unsigned k = 0; k <= FS_LAT_BUCKETS; k++)
		cum[k] = c += counts[k];
	snprintf(key, sizeof(key), "%s_buckets", name);
	dict_array(d, key, cum, FS_LAT_BUCKETS + 1, sizeof(uint64_t));
	snprintf(key, sizeof(key), "%s_sum_ns", name);
	rte_tel_data_add_dict_u64(d, key, sum_ns);
	snprintf(key, sizeof(key), "%s_count", name);
	rte_tel_data_add_dict_u64(d, key, c);
}

static void add_bounds(struct rte_tel_data *d)
{
	uint64_t b[FS_LAT_BUCKETS];

	for (unsigned k = 0; k < FS_LAT_BUCKETS; k++)
		b[k] = fs_lat_bound_ns(k);
	dict_array(d, "latency_bounds_ns", b, FS_LAT_BUCKETS, sizeof(uint64_t));
}

static int not_running(struct rte_tel_data *d)
{
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_string(d, "state", "not running");
	return 0;
}

static void stats_totals(struct rte_tel_data *d, const struct dp_stats *s)
{
#define U(name, v) rte_tel_data_add_dict_u64(d, name, v)
	U("rx_datagrams", s->rx_dgrams);
	U("rx_messages", s->rx_msgs);
	U("tx_datagrams", s->tx_dgrams);
	U("tx_messages", s->tx_msgs);
	U("tx_dropped", s->tx_dropped);
	U("malformed", s->malformed);
	U("handoffs", s->handoffs);
	U("handoff_busy", s->handoff_busy);
	U("pending_busy", s->pending_busy);
	U("returned", s->returned);
	U("local_answers", s->local_answers);
	U("executed", s->executed);
	U("rate_limited", s->rate_limited);
	U("held", s->held);
	U("unavailable", s->unavailable);
	U("rx_frames", s->rx_frames);
	U("tx_frames", s->tx_frames);
	U("frames_dropped", s->frames_dropped);
	U("tx_nombuf", s->tx_nombuf);
	U("exception_to_kernel", s->exc_to_kernel);
	U("exception_from_kernel", s->exc_from_kernel);
	U("exception_dropped", s->exc_dropped);
#undef U
}

static int cmd_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	static const char *const proto[DP_PROTO_COUNT] = {"fsp", "http"};
	const struct dp_worker_stats *sum;
	struct rte_tel_data *names;
	struct dp_stats s;

	(void)cmd;
	(void)params;
	pthread_mutex_lock(&g_tel.mu);
	if (g_tel.e == NULL) {
		pthread_mutex_unlock(&g_tel.mu);
		return not_running(d);
	}
	dp_engine_stats(g_tel.e, &s);
	fs_metrics_gather(g_tel.e, g_tel.ws);
	sum = &g_tel.ws[dp_engine_nworkers(g_tel.e)];
	rte_tel_data_start_dict(d);
	stats_totals(d, &s);
	names = rte_tel_data_alloc();
	if (names) {
		rte_tel_data_start_array(names, RTE_TEL_STRING_VAL);
		for (unsigned st = 0; st < FS_ST_COUNT; st++)
			rte_tel_data_add_array_string(names, fs_status_name(st));
		if (rte_tel_data_add_dict_container(d, "status_names", names, 0) < 0)
			rte_tel_data_free(names);
	}
	for (unsigned p = 0; p < DP_PROTO_COUNT; p++)
		for (unsigned op = 0; op <= FS_OP_MAX; op++) {
			char key[48];
			snprintf(key, sizeof(key), "requests_%s_%s", proto[p],
				 op ? fs_op_name(op) : "unknown");
			dict_array(d, key, sum->requests[p][op], FS_ST_COUNT, sizeof(uint64_t));
		}
	rte_tel_data_add_dict_u64(d, "item_attempts_overflow", sum->attempts_overflow);
	rte_tel_data_add_dict_u64(d, "tsc_hz", dp_engine_tsc_hz());
	add_bounds(d);
	add_histogram(d, "decision_latency", sum->decision_hist, sum->decision_sum_ns);
	pthread_mutex_unlock(&g_tel.mu);
	return 0;
}

/* Every counter of one worker. */
static void worker_one(struct rte_tel_data *d, unsigned i, const struct dp_worker_stats *w)
{
	char key[48];

	rte_tel_data_add_dict_u64(d, "worker", i);
	rte_tel_data_add_dict_u64(d, "rx_datagrams", w->st.rx_dgrams);
	rte_tel_data_add_dict_u64(d, "rx_messages", w->st.rx_msgs);
	rte_tel_data_add_dict_u64(d, "tx_datagrams", w->st.tx_dgrams);
	rte_tel_data_add_dict_u64(d, "tx_messages", w->st.tx_msgs);
	rte_tel_data_add_dict_u64(d, "handoffs", w->st.handoffs);
	rte_tel_data_add_dict_u64(d, "returned", w->st.returned);
	rte_tel_data_add_dict_u64(d, "executed", w->st.executed);
	rte_tel_data_add_dict_u64(d, "busy_loops", w->busy_loops);
	rte_tel_data_add_dict_u64(d, "idle_loops", w->idle_loops);
	rte_tel_data_add_dict_u64(d, "handoff_ring_entries", w->handoff_ring_used);
	rte_tel_data_add_dict_u64(d, "return_ring_entries", w->return_ring_used);
	rte_tel_data_add_dict_u64(d, "frames_dropped", w->st.frames_dropped);
	for (unsigned s = 0; s < DP_STAGE_COUNT; s++) {
		snprintf(key, sizeof(key), "cycles_%s", dp_stage_name(s));
		rte_tel_data_add_dict_u64(d, key, w->cycles[s]);
	}
	for (unsigned r = 0; r < FS_METRICS_DROPS; r++) {
		snprintf(key, sizeof(key), "drops_%s", fs_metrics_drop_name(r));
		rte_tel_data_add_dict_u64(d, key, fs_metrics_drop_value(&w->st, r));
	}
	rte_tel_data_add_dict_u64(d, "tsc_hz", dp_engine_tsc_hz());
}

static int cmd_workers(const char *cmd, const char *params, struct rte_tel_data *d)
{
	uint64_t busy[FS_WORKERS_MAX];
	unsigned n;

	(void)cmd;
	pthread_mutex_lock(&g_tel.mu);
	if (g_tel.e == NULL) {
		pthread_mutex_unlock(&g_tel.mu);
		return not_running(d);
	}
	n = dp_engine_nworkers(g_tel.e);
	fs_metrics_gather(g_tel.e, g_tel.ws);
	rte_tel_data_start_dict(d);
	if (params != NULL && params[0] != '\0') {
		char *end;
		unsigned long i = strtoul(params, &end, 10);
		pthread_mutex_unlock(&g_tel.mu);
		if (*end != '\0' || i >= n)
			return -EINVAL;
		pthread_mutex_lock(&g_tel.mu);
		worker_one(d, (unsigned)i, &g_tel.ws[i]);
		pthread_mutex_unlock(&g_tel.mu);
		return 0;
	}
	for (unsigned i = 0; i < n; i++) {
		busy[i] = 0;
		for (unsigned s = 0; s < DP_STAGE_COUNT; s++)
			if (s != DP_STAGE_IDLE)
				busy[i] += g_tel.ws[i].cycles[s];
	}
	rte_tel_data_add_dict_u64(d, "workers", n);
	rte_tel_data_add_dict_u64(d, "tsc_hz", dp_engine_tsc_hz());
#define A(name, field) dict_array(d, name, &g_tel.ws[0].field, n, sizeof(g_tel.ws[0]))
	A("rx_datagrams", st.rx_dgrams);
	A("tx_datagrams", st.tx_dgrams);
	A("idle_cycles", cycles[DP_STAGE_IDLE]);
	A("handoff_ring_entries", handoff_ring_used);
#undef A
	dict_array(d, "busy_cycles", busy, n, sizeof(uint64_t));
	pthread_mutex_unlock(&g_tel.mu);
	return 0;
}

static int cmd_items(const char *cmd, const char *params, struct rte_tel_data *d)
{
	uint64_t v[6][FS_TEL_ITEMS_PAGE];
	static const char *const keys[6] = {"id", "total", "available", "reserved", "paid",
					    "attempts"};
	unsigned start = 0, n = 0;

	(void)cmd;
	if (params != NULL && params[0] != '\0') {
		char *end;
		unsigned long s = strtoul(params, &end, 10);
		if (*end != '\0' || s > FS_ITEMS_MAX)
			return -EINVAL;
		start = (unsigned)s;
	}
	pthread_mutex_lock(&g_tel.mu);
	if (g_tel.e == NULL) {
		pthread_mutex_unlock(&g_tel.mu);
		return not_running(d);
	}
	/* Every item of the catalog, in catalog order (the config's first,
	 * then those created at run time). */
	for (unsigned i = start; n < FS_TEL_ITEMS_PAGE; i++, n++) {
		struct cfg_item it;
		int64_t a;

		if (store_catalog_item_at(g_tel.cat, i, &it, NULL) != 0)
			break;
		/* the catalog's capacity is store_catalog_capacity(cfg): cap_items */
		FS_ASSERT(i < g_tel.cap_items);
		a = store_item_available(g_tel.cat, it.id);
		v[0][n] = it.id;
		v[1][n] = g_tel.have_sample ? g_tel.items[i].total : it.total;
		v[2][n] = a < 0 ? 0 : (uint64_t)a;
		v[3][n] = g_tel.have_sample ? g_tel.items[i].reserved : 0;
		v[4][n] = g_tel.have_sample ? g_tel.items[i].paid : 0;
		v[5][n] = dp_engine_item_attempts(g_tel.e, it.id);
	}
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "items", store_catalog_items(g_tel.cat));
	rte_tel_data_add_dict_u64(d, "start", start);
	for (unsigned k = 0; k < 6; k++)
		dict_array(d, keys[k], v[k], n, sizeof(uint64_t));
	pthread_mutex_unlock(&g_tel.mu);
	return 0;
}

static int cmd_wal(const char *cmd, const char *params, struct rte_tel_data *d)
{
	uint64_t hist[FS_LAT_BUCKETS + 1] = {0}, sum_ns = 0;
	unsigned n;

	(void)cmd;
	(void)params;
	pthread_mutex_lock(&g_tel.mu);
	if (g_tel.e == NULL || !g_tel.have_sample) {
		pthread_mutex_unlock(&g_tel.mu);
		return not_running(d);
	}
	n = dp_engine_nworkers(g_tel.e);
	rte_tel_data_start_dict(d);
	rte_tel_data_add_dict_u64(d, "shards", n);
#define A(name, field) dict_array(d, name, &g_tel.wal[0].field, n, sizeof(g_tel.wal[0]))
	A("records", records);
	A("bytes", bytes);
	A("batches", batches);
	A("fsyncs", fsyncs);
	A("durable_lsn", durable_lsn);
#undef A
	for (unsigned i = 0; i < n; i++) {
		for (unsigned k = 0; k <= FS_LAT_BUCKETS; k++)
			hist[k] += g_tel.wal[i].commit_hist[k];
		sum_ns += g_tel.wal[i].commit_sum_ns;
	}
	add_bounds(d);
	add_histogram(d, "commit_latency", hist, sum_ns);
	pthread_mutex_unlock(&g_tel.mu);
	return 0;
}

int fs_telemetry_register(const struct cfg *cfg)
{
	static const struct {
		const char *cmd, *help;
		telemetry_cb fn;
	} c[] = {
		{"/flashsale/stats", "Engine totals, answers by protocol/op/status, decision latency.",
		 cmd_stats},
		{"/flashsale/workers", "Per-worker arrays; with a worker index: all its counters.",
		 cmd_workers},
		{"/flashsale/items", "Items (param: first index): stock, orders, BUY attempts.",
		 cmd_items},
		{"/flashsale/wal", "Per-shard log counters and the commit-latency histogram.", cmd_wal},
	};

	if (cfg->mode != CFG_MODE_DPDK)
		return 0;
	g_tel.cfg = cfg;
	g_tel.cap_items = store_catalog_capacity(cfg);
	g_tel.items = calloc(g_tel.cap_items ? g_tel.cap_items : 1, sizeof(*g_tel.items));
	if (g_tel.items == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		int rc = rte_telemetry_register_cmd(c[i].cmd, c[i].fn, c[i].help);
		if (rc < 0)
			return rc;
	}
	return 0;
}

void fs_telemetry_attach(struct dp_engine *e, const struct store_catalog *cat)
{
	pthread_mutex_lock(&g_tel.mu);
	if (g_tel.cfg != NULL) {
		g_tel.e = e;
		g_tel.cat = cat;
	}
	pthread_mutex_unlock(&g_tel.mu);
}

void fs_telemetry_detach(void)
{
	pthread_mutex_lock(&g_tel.mu);
	g_tel.e = NULL;
	g_tel.cat = NULL;
	g_tel.have_sample = false;
	pthread_mutex_unlock(&g_tel.mu);
}

void fs_telemetry_publish(const struct fs_ops_sample *s)
{
	pthread_mutex_lock(&g_tel.mu);
	if (g_tel.cfg != NULL && s->have_shards) {
		memcpy(g_tel.wal, s->wal, sizeof(g_tel.wal));
		if (s->items)
			memcpy(g_tel.items, s->items, g_tel.cap_items * sizeof(*g_tel.items));
		g_tel.have_sample = true;
	}
	pthread_mutex_unlock(&g_tel.mu);
}
