/*
 * flashsaled — the flash-sale appliance daemon.
 *
 * Reads like DPDK's examples/l2fwd/main.c: load and validate the config
 * (before anything else, so a bad file never opens a port) → lock the data
 * directory → EAL init (dataplane/dp_eal.c; kernel or dpdk mode) → open the
 * durable state (persist_open: shards created, snapshot loaded, logs
 * replayed, audited, logs open) → create the engine (sockets or ethdev
 * ports) → launch one worker per worker lcore → the main lcore runs the
 * control plane (stats, periodic snapshots, admin work, signals; the
 * operations listener fs_ops.c serves /healthz and /metrics on a thread of
 * its own so neither waits for a snapshot) → orderly
 * teardown: workers drain and wait for their logs, final counters, audit,
 * shutdown snapshot, close the durable state.
 *
 * Replication ([replication], app/fs_repl.c): a standby runs only the
 * operations listener and the follower thread until `flashsale admin
 * promote`; then it bumps the epoch and goes on exactly like a primary's
 * start (recovery of what it received, engine, workers). A primary with
 * [replication] listen runs the sender thread beside the workers; one
 * fenced off by a promoted standby fails every shard (UNAVAILABLE) and
 * refuses to start again as a primary.
 *
 * Exit status (for supervisors; --help and docs/operations.md): 0 after a
 * clean stop; 1 on a runtime failure (a failed audit, no front end); 2 on a
 * usage or configuration error (including state that does not fit the
 * config, a data directory locked by another daemon, and a primary fenced
 * off by a promoted standby); 3 when the
 * durable state is missing, damaged or failed: a start refused because the
 * data directory, its manifest, a shard or a segment is missing or an
 * acknowledged record is damaged; a storage fault or lost files during the
 * run; a failed shutdown snapshot.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/random.h>
#include <sys/file.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>

#include "cfg.h"
#include "dp.h"
#include "fs_common.h"
#include "fs_admin.h"
#include "fs_ops.h"
#include "fs_repl.h"
#include "fs_telemetry.h"
#include "fs_token.h"
#include "persist.h"
#include "store.h"

#define FLASHSALE_VERSION "0.1.0"
#define STATS_LOG_INTERVAL_NS (10 * FS_NS_PER_S) /* counters logged at most this often */
#define CONTROL_POLL_MS	      100		   /* the control loop wakes at least this often */
#define METRICS_SAMPLE_NS     FS_NS_PER_S	   /* shard numbers gathered for /metrics */
#define METRICS_SAMPLE_MS     1000		   /* ... waiting at most this for the workers */

enum {
	EXIT_CLEAN = 0,	  /* a clean stop */
	EXIT_RUNTIME = 1, /* a failed audit, a front end that would not start */
	EXIT_USAGE = 2,	  /* usage, config, or a data directory in use */
	EXIT_STORAGE = 3, /* durable state missing, damaged or failed */
};

static atomic_int g_quit;
static struct fs_repl *g_repl;	 /* the replication thread (either side), NULL: none */
static bool g_promote;		 /* standby: POST /admin/promote done, go serve */
static uint64_t g_fenced_done;	 /* primary: the fence we acted on */
static atomic_int g_hup;
static struct dp_engine *g_engine;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flashsaled --config FILE [--init | --check]\n"
		"\n"
		"The flashsale appliance: answers FSP/1 (UDP) purchase requests for the\n"
		"activities and items in FILE.\n"
		"\n"
		"  -c, --config FILE   the INI configuration (see docs/configuration.md)\n"
		"      --init          first start of a new appliance: create the data\n"
		"                      directory ([persist] dir) and its MANIFEST, then run;\n"
		"                      refused if the directory already holds state. Every\n"
		"                      later start is without --init, and refuses to run\n"
		"                      (naming what is missing) if the state was lost\n"
		"      --check         validate FILE, print what it holds, and exit\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          this text\n"
		"\n"
		"Runs in the foreground; SIGINT or SIGTERM stop it cleanly; SIGHUP\n"
		"reloads nothing yet (logged). Under systemd (NOTIFY_SOCKET set) it\n"
		"sends READY=1 once recovered and serving (systemd/flashsaled.service).\n"
		"[admin] address:port (default 127.0.0.1:8081) serves /healthz, /readyz,\n"
		"/metrics and the /admin/ API (docs/operations.md).\n"
		"[replication] role = standby follows a primary and serves nothing until\n"
		"`flashsale admin promote` (docs/operations.md, \"Failover runbook\").\n"
		"Exit status: 0 clean stop; 1 runtime failure (failed audit); 2 usage or\n"
		"config error, the data directory is in use, or this appliance was fenced\n"
		"off by a promoted standby (rejoin it as a standby); 3 durable state missing,\n"
		"damaged or failed (start refused, storage fault or lost files during the\n"
		"run, failed shutdown snapshot): do not restart blindly, look at the log.\n"
		"Example: flashsaled --config config/flashsale.ini --init   (first start)\n"
		"         flashsaled --config config/flashsale.ini          (every later one)\n");
}

static void on_signal(int sig)
{
	if (sig == SIGHUP) {
		atomic_store(&g_hup, 1);
		return;
	}
	atomic_store(&g_quit, 1);
	if (g_engine)
		dp_engine_stop(g_engine);
}

static struct dp_journal g_journals[FS_WORKERS_MAX];
static struct dp_journal *g_journal_ptrs[FS_WORKERS_MAX];

/* Test seam (like SQLite's aSyscall[]): FLASHSALE_TEST_FAULT=KIND:N makes
 * every shard's log fail its (N+1)-th completion of that kind, so the
 * integration tests can watch the daemon fail closed. KIND is write-eio,
 * write-enospc, fsync-eio or short-write (a short write must be resubmitted
 * and succeed). Unset in production; logged loudly when set. */
struct fault_plan {
	enum wal_io io; /* 0: no plan */
	int res;        /* the injected result; 0 = short write */
	long after;     /* matching completions to let through first */
	long seen[FS_WORKERS_MAX];
};
static struct fault_plan g_fault;

static int fault_hook(void *ctx, unsigned shard, enum wal_io io, int res)
{
	struct fault_plan *f = ctx;

	if (io != f->io || res < 0 || f->seen[shard]++ != f->after)
		return res;
	if (f->res == 0)
		return res > 1 ? res / 2 : res; /* short write */
	return f->res;
}

static int fault_plan_load(void)
{
	static const struct {
		const char *kind;
		enum wal_io io;
		int res;
	} kinds[] = {
		{"write-eio", WAL_IO_WRITE, -EIO},
		{"write-enospc", WAL_IO_WRITE, -ENOSPC},
		{"fsync-eio", WAL_IO_FSYNC, -EIO},
		{"short-write", WAL_IO_WRITE, 0},
	};
	const char *env = getenv("FLASHSALE_TEST_FAULT");
	char kind[32];
	long after;

	if (env == NULL || env[0] == '\0')
		return 0;
	if (sscanf(env, "%31[a-z-]:%ld", kind, &after) != 2 || after < 0)
		goto bad;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		if (strcmp(kind, kinds[k].kind) != 0)
			continue;
		g_fault = (struct fault_plan){kinds[k].io, kinds[k].res, after, {0}};
		fs_log("warn", "FLASHSALE_TEST_FAULT=%s: injecting a storage fault (test seam)",
		       env);
		return 1;
	}
bad:
	fs_log("error", "FLASHSALE_TEST_FAULT=%s: expected write-eio|write-enospc|fsync-eio|"
			"short-write:N", env);
	return -EINVAL;
}

/* Open the durable state (shards recovered from snapshot and logs, audited,
 * logs open) and link each shard's log to its worker. Before any port. */
static int durable_open(const struct cfg *cfg, bool init, struct store_catalog *cat,
			struct persist **ps)
{
	struct persist_params p = {
		.cfg = cfg,
		.cat = cat,
		.flags = init ? PERSIST_OPEN_INIT : 0,
		.journal = dp_journal_hook,
		.eventfd = true,
		.io_hook = g_fault.io ? fault_hook : NULL,
		.io_hook_ctx = &g_fault,
		.steady_ns = fs_steady_ns,
	};
	char err[2048] = "";
	int rc;

	for (unsigned i = 0; i < cfg->workers; i++)
		p.journal_ctx[i] = &g_journals[i];
	/* Test seam: FLASHSALE_TEST_SEGMENT_BYTES=N makes log segments of N
	 * bytes, so a test can trim the log past a standby with a few hundred
	 * records. Unset in production; logged loudly when set. */
	const char *seg = getenv("FLASHSALE_TEST_SEGMENT_BYTES");
	if (seg && *seg) {
		p.segment_bytes = strtoull(seg, NULL, 10);
		fs_log("warn", "FLASHSALE_TEST_SEGMENT_BYTES=%s: log segments of %" PRIu64
			       " bytes (test seam)", seg, p.segment_bytes);
	}
	rc = persist_open(&p, ps, err, sizeof(err));
	if (rc < 0) {
		fs_log("error", "recovery refused: %s", err[0] ? err : fs_strerror(rc));
		return rc;
	}
	for (unsigned i = 0; i < cfg->workers; i++) {
		g_journals[i].wal = persist_wal(*ps, i);
		g_journal_ptrs[i] = &g_journals[i];
	}
	return 0;
}

static int durable_close(struct persist *ps)
{
	for (unsigned i = 0; i < FS_WORKERS_MAX; i++)
		g_journals[i].wal = NULL;
	return persist_close(ps);
}

/* ---- snapshots (persist_snapshot; captured on the workers) ---- */

static struct persist *g_persist;
static bool g_workers_run; /* between launch and wait */

static int on_workers(void *ctx, persist_worker_fn fn, void *fn_ctx, int timeout_ms)
{
	return dp_engine_on_workers(ctx, fn, fn_ctx, timeout_ms);
}

/* ---- the operations listener's numbers (fs_ops_publish) ---- */

static struct fs_ops *g_ops;
static struct fs_ops_sample g_sample; /* items: catalog capacity, allocated in run() */
static const struct cfg *g_cfg;

/* On worker w, between two bursts: its log's counters and the counts of the
 * items its shard owns (each item is owned by one shard: disjoint slots). */
static void sample_on_worker(void *ctx, unsigned w)
{
	struct store_shard **shards = persist_shards(g_persist);
	struct fs_ops_sample *s = ctx;
	struct wal *wal = persist_wal(g_persist, w);

	if (wal)
		wal_stats(wal, &s->wal[w]);
	struct cfg_item it;

	/* Catalog index order: the config's items, then those created at run time. */
	for (uint32_t i = 0;
	     store_catalog_item_at(store_shard_catalog(shards[w]), i, &it, NULL) == 0; i++) {
		struct store_item_counts c;
		if (fs_shard_of_item(it.id, g_cfg->workers) == w &&
		    store_item_counts(shards[w], it.id, &c) == 0)
			s->items[i] = c;
	}
}

static void ops_publish(bool gather)
{
	/* The sample feeds /metrics and, in dpdk mode, DPDK telemetry. */
	if (g_ops == NULL && g_cfg->mode != CFG_MODE_DPDK)
		return;
	if (gather && g_workers_run)
		g_sample.have_shards =
			dp_engine_on_workers(g_engine, sample_on_worker, &g_sample,
					     METRICS_SAMPLE_MS) == 0 || g_sample.have_shards;
	g_sample.storage_failed = g_persist ? persist_failed(g_persist) : 0;
	g_sample.have_repl = g_repl != NULL;
	if (g_repl)
		fs_repl_stats(g_repl, &g_sample.repl);
	if (g_repl && g_sample.repl.primary && g_fenced_done)
		g_sample.repl.fenced_by = g_fenced_done;
	if (g_ops)
		fs_ops_publish(g_ops, &g_sample);
	fs_telemetry_publish(&g_sample);
}

/* While the workers run: capture on them; after they stopped: here. */
static int snapshot_take(const char *why)
{
	int64_t t0 = fs_mono_ns();
	int rc;

	g_sample.snapshot_running_since_ns = t0;
	ops_publish(false);
	rc = persist_snapshot(g_persist, g_workers_run ? on_workers : NULL, g_engine, why);
	g_sample.snapshot_running_since_ns = 0;
	g_sample.snapshot_last_duration_ns = fs_mono_ns() - t0;
	if (rc == 0) {
		g_sample.snapshots_ok++;
		g_sample.snapshot_last_ok_ns = fs_mono_ns();
	} else {
		g_sample.snapshots_failed++;
	}
	ops_publish(false);
	return rc;
}

static void log_stats(const char *when, const struct dp_stats *s)
{
	fs_log("info",
	       "%s: rx %" PRIu64 " datagrams / %" PRIu64 " messages, malformed %" PRIu64
	       ", tx %" PRIu64 " datagrams / %" PRIu64 " messages (dropped %" PRIu64
	       "), hand-offs %" PRIu64 " (busy %" PRIu64 "), rate-limited %" PRIu64,
	       when, s->rx_dgrams, s->rx_msgs, s->malformed, s->tx_dgrams, s->tx_msgs,
	       s->tx_dropped, s->handoffs, s->handoff_busy, s->rate_limited);
	char line[1024];
	size_t n = 0;
	for (unsigned st = 0; st < FS_ST_COUNT; st++)
		if (s->by_status[st])
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%" PRIu64,
					      fs_status_name(st), s->by_status[st]);
	if (n)
		fs_log("info", "%s: answers by status:%s", when, line);
	if (s->http_accepted)
		fs_log("info",
		       "%s: http: %" PRIu64 " connections accepted (%" PRIu64 " open, %" PRIu64
		       " refused: table full), %" PRIu64 " requests, %" PRIu64
		       " codec errors, %" PRIu64 " timeouts",
		       when, s->http_accepted, s->http_open, s->http_refused, s->http_requests,
		       s->http_errors, s->http_timeouts);
}

/* GET /admin/promote: what this appliance has (role, epoch, link, LSNs);
 * POST on a standby: stop following, bump the epoch durably, then serve
 * (the control loop goes on into the primary's start). */
static size_t promote_request(const char *method, char *out, size_t outlen, int *status)
{
	struct fs_repl_stats st = {0};
	char err[512] = "";
	size_t n = 0;
	bool standby = g_repl && g_persist == NULL;
	int k;

	if (g_repl)
		fs_repl_stats(g_repl, &st);
	if (strcmp(method, "POST") == 0 && standby) {
		uint64_t epoch = 0;
		fs_repl_stats(g_repl, &st);
		fs_repl_stop(g_repl); /* everything received is fdatasync'd */
		g_repl = NULL;
		int rc = fs_repl_promote(g_cfg, &epoch, err, sizeof(err));
		if (rc < 0) {
			fs_log("error", "promote FAILED: %s: restart the standby", err);
			*status = 500;
			k = snprintf(out, outlen, "{\"ok\":false,\"error\":\"%s\"}\n",
				     fs_strerror(rc));
			return k < 0 ? 0 : (size_t)k < outlen ? (size_t)k : outlen - 1;
		}
		fs_log("warn", "PROMOTED: epoch %" PRIu64 "; this standby stops following and becomes "
			       "the primary (recovering what it received, then serving)", epoch);
		g_promote = true;
		st.epoch = epoch;
		*status = 200;
	} else if (strcmp(method, "POST") == 0) {
		*status = 409;
		k = snprintf(out, outlen, "{\"ok\":false,\"error\":\"not a standby: nothing to "
					  "promote\"}\n");
		return k < 0 ? 0 : (size_t)k < outlen ? (size_t)k : outlen - 1;
	} else if (strcmp(method, "GET") == 0) {
		*status = 200;
	} else {
		*status = 405;
		k = snprintf(out, outlen, "{\"error\":\"GET or POST /admin/promote\"}\n");
		return k < 0 ? 0 : (size_t)k < outlen ? (size_t)k : outlen - 1;
	}
	k = snprintf(out, outlen, "{\"ok\":true,\"role\":\"%s\",\"promoted\":%s,\"epoch\":%" PRIu64
		     ",\"connected\":%s,\"fenced_by\":%" PRIu64 ",\"records\":%" PRIu64
		     ",\"lag_records\":%" PRIu64 ",\"lsn\":[",
		     g_promote || !standby ? "primary" : "standby", g_promote ? "true" : "false",
		     st.epoch, st.connected ? "true" : "false", st.fenced_by, st.records,
		     st.lag_records);
	n = k < 0 ? 0 : (size_t)k;
	for (unsigned i = 0; i < st.nshards && n < outlen; i++) {
		k = snprintf(out + n, outlen - n, "%s%" PRIu64, i ? "," : "", st.lsn[i]);
		n += k < 0 ? 0 : (size_t)k;
	}
	if (n < outlen) {
		k = snprintf(out + n, outlen - n, "]}\n");
		n += k < 0 ? 0 : (size_t)k;
	}
	return n < outlen ? n : outlen - 1;
}

/* GET /admin/digest: per shard the LSNs its log holds ({"first","last"});
 * GET /admin/digest/S/FROM/TO: the digest of shard S's records FROM..TO
 * (fs_repl_digest), 409 when the log does not hold them all. For
 * `flashsale audit --against`. */
static size_t digest_request(const char *method, const char *path, char *out, size_t outlen,
			     int *status)
{
	unsigned shard;
	uint64_t from, to, dg, n;
	char tail;
	struct fs_repl_stats st = {0};
	size_t k = 0;
	int w;

	*status = 200;
	if (strcmp(method, "GET") != 0) {
		*status = 405;
		w = snprintf(out, outlen, "{\"error\":\"GET /admin/digest\"}\n");
		return w < 0 ? 0 : (size_t)w < outlen ? (size_t)w : outlen - 1;
	}
	if (strcmp(path, "/digest") == 0) {
		if (g_repl && !g_persist)
			fs_repl_stats(g_repl, &st);
		w = snprintf(out, outlen, "{\"shards\":[");
		k = w < 0 ? 0 : (size_t)w;
		for (unsigned i = 0; i < g_cfg->workers && k < outlen; i++) {
			struct wal_position pos = {0};
			uint64_t last = 0;
			if (g_persist) {
				wal_position(persist_wal(g_persist, i), &pos);
				last = pos.durable_lsn;
			} else {
				last = st.lsn[i];
			}
			w = snprintf(out + k, outlen - k, "%s{\"first\":%" PRIu64 ",\"last\":%" PRIu64 "}",
				     i ? "," : "", fs_repl_log_first(g_cfg->persist_dir, i), last);
			k += w < 0 ? 0 : (size_t)w;
		}
		if (k < outlen) {
			w = snprintf(out + k, outlen - k, "]}\n");
			k += w < 0 ? 0 : (size_t)w;
		}
		return k < outlen ? k : outlen - 1;
	}
	if (sscanf(path, "/digest/%u/%" SCNu64 "/%" SCNu64 "%c", &shard, &from, &to, &tail) != 3 ||
	    shard >= g_cfg->workers) {
		*status = 404;
		w = snprintf(out, outlen, "{\"error\":\"GET /admin/digest or /admin/digest/SHARD/FROM/TO\"}\n");
		return w < 0 ? 0 : (size_t)w < outlen ? (size_t)w : outlen - 1;
	}
	int rc = fs_repl_digest(g_cfg->persist_dir, shard, from, to, &dg, &n);
	if (rc < 0) {
		*status = rc == -ERANGE ? 409 : 500;
		w = snprintf(out, outlen, "{\"error\":\"shard %u: LSNs %" PRIu64 "..%" PRIu64 ": %s\"}\n",
			     shard, from, to, rc == -ERANGE ? "not all in the log" : fs_strerror(rc));
	} else {
		w = snprintf(out, outlen, "{\"shard\":%u,\"from\":%" PRIu64 ",\"to\":%" PRIu64
			     ",\"records\":%" PRIu64 ",\"digest\":\"%016" PRIx64 "\"}\n",
			     shard, from, to, n, dg);
	}
	return w < 0 ? 0 : (size_t)w < outlen ? (size_t)w : outlen - 1;
}

/* Every authenticated /admin/ request, on this (the control) thread:
 * POST /admin/snapshot here, the rest in fs_admin.c. */
/* fs_admin_journal_fn: an admin record into a worker's log batch (runs on
 * that worker's thread, from dp_engine_on_workers). */
static int admin_journal(void *ctx, unsigned shard, const void *rec, uint32_t len)
{
	(void)ctx;
	return dp_journal_admin(&g_journals[shard], rec, len);
}

static size_t admin_request(void *ctx, const char *method, const char *path, const char *body,
			    size_t len, char *out, size_t outlen, int *status)
{
	int rc, n;

	if (strcmp(path, "/promote") == 0)
		return promote_request(method, out, outlen, status);
	if (strncmp(path, "/digest", 7) == 0)
		return digest_request(method, path, out, outlen, status);
	if (strncmp(path, "/state", 6) == 0)
		return fs_admin_state(g_cfg, method, path, out, outlen, status);
	if (strcmp(path, "/snapshot") != 0 && ctx == NULL) {
		*status = 503;
		n = snprintf(out, outlen, "{\"error\":\"standby: only /admin/promote until "
					  "promoted\"}\n");
		return n < 0 ? 0 : (size_t)n < outlen ? (size_t)n : outlen - 1;
	}
	if (strcmp(path, "/snapshot") != 0)
		return fs_admin_handle(ctx, method, path, body, len, out, outlen, status);
	if (g_persist == NULL) {
		*status = 503;
		n = snprintf(out, outlen, "{\"error\":\"standby: no snapshot before promote\"}\n");
		return n < 0 ? 0 : (size_t)n < outlen ? (size_t)n : outlen - 1;
	}
	if (strcmp(method, "POST") != 0) {
		*status = 405;
		n = snprintf(out, outlen, "{\"error\":\"POST /admin/snapshot\"}\n");
	} else if ((rc = snapshot_take("admin request")) < 0) {
		*status = 500;
		n = snprintf(out, outlen, "{\"ok\":false,\"error\":\"%s\"}\n", fs_strerror(rc));
	} else {
		*status = 200;
		n = snprintf(out, outlen, "{\"ok\":true}\n");
	}
	return n < 0 ? 0 : (size_t)n < outlen ? (size_t)n : outlen - 1;
}

/* systemd's readiness protocol (sd_notify(3)) without libsystemd: one
 * datagram to $NOTIFY_SOCKET (a path, or "@name" in the abstract
 * namespace). Nothing when unset. */
static void notify_systemd(const char *state)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	size_t n;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (n = strlen(path)) >= sizeof(a.sun_path))
		return;
	memcpy(a.sun_path, path, n);
	if (a.sun_path[0] == '@')
		a.sun_path[0] = '\0';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&a,
		   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
		fs_log("warn", "NOTIFY_SOCKET %s: %s", path, fs_strerror(-errno));
	close(fd);
}

/* A promoted standby fenced us off: record it durably, fail every shard
 * (UNAVAILABLE on every front end), /readyz 503. Once. */
static void fence_check(void)
{
	uint64_t by = fs_repl_fenced(g_repl), cluster, epoch, fenced;

	if (by == 0 || by == g_fenced_done)
		return;
	g_fenced_done = by;
	persist_repl_get(g_persist, &cluster, &epoch, &fenced);
	if (persist_repl_set(g_persist, cluster, epoch, by) < 0)
		fs_log("error", "fence not recorded in the manifest: failing the shards anyway");
	for (unsigned i = 0; i < g_cfg->workers; i++)
		wal_inject_fault(persist_wal(g_persist, i), -ESTALE);
	fs_log("error", "FENCED by epoch %" PRIu64 ": every shard answers UNAVAILABLE; stop this "
			"daemon and rejoin it as a standby (docs/operations.md, Failover runbook)", by);
	ops_publish(false);
}

/* The control plane on the main lcore: wait for a signal, run queued admin
 * work, take periodic snapshots, gather numbers for /metrics, log counters
 * and link changes. */
static void control_loop(const struct cfg *cfg)
{
	int64_t snapshot_interval_ns = (int64_t)cfg->snapshot_interval_s * FS_NS_PER_S;
	int64_t next_snapshot = fs_mono_ns() + snapshot_interval_ns;
	int64_t next = fs_mono_ns() + STATS_LOG_INTERVAL_NS;
	int64_t next_sample = 0;
	uint64_t last_rx = 0;

	while (!atomic_load(&g_quit)) {
		if (g_ops)
			fs_ops_serve_admin(g_ops, CONTROL_POLL_MS);
		else
			usleep(CONTROL_POLL_MS * 1000);
		if (atomic_exchange(&g_hup, 0))
			fs_log("info", "SIGHUP: nothing is reloadable yet: configuration unchanged "
				       "(restart to apply config changes; stock changes go "
				       "through the admin API)");
		if (fs_mono_ns() >= next_sample) {
			ops_publish(true);
			next_sample = fs_mono_ns() + METRICS_SAMPLE_NS;
		}
		if (fs_mono_ns() >= next_snapshot) {
			snapshot_take("periodic");
			next_snapshot = fs_mono_ns() + snapshot_interval_ns;
		}
		persist_watch(g_persist, fs_mono_ns());
		fence_check();
		dp_engine_watch_links(g_engine);
		if (fs_mono_ns() < next)
			continue;
		next += STATS_LOG_INTERVAL_NS;
		struct dp_stats s;
		dp_engine_stats(g_engine, &s);
		if (s.rx_dgrams != last_rx) {
			log_stats("stats", &s);
			dp_engine_log_net(g_engine, "stats");
		}
		last_rx = s.rx_dgrams;
	}
}

/* A standby: follow the primary (fs_repl.c) until promoted (returns 0)
 * or stopped (returns 1), serving only the operations listener. --init
 * first creates the data directory like a primary's. -errno on failure. */
static int standby_run(const struct cfg *cfg, bool init, struct store_catalog *cat)
{
	struct fs_repl_standby_params sp = {.cfg = cfg, .nshards = cfg->workers};
	int64_t next_sample = 0;
	int rc;

	if (init) {
		struct persist_params p = {.cfg = cfg, .cat = cat, .flags = PERSIST_OPEN_INIT,
					   .steady_ns = fs_steady_ns};
		struct persist *ps;
		char err[2048] = "";
		rc = persist_open(&p, &ps, err, sizeof(err));
		if (rc < 0) {
			fs_log("error", "standby --init refused: %s", err[0] ? err : fs_strerror(rc));
			return rc;
		}
		if ((rc = persist_close(ps)) < 0)
			return rc;
	}
	rc = fs_repl_standby_start(&sp, &g_repl);
	if (rc < 0)
		return rc;
	ops_publish(false);
	fs_log("info", "ready: STANDBY of %s; purchases are not served here until "
		       "`flashsale admin promote`", cfg->repl_primary_str);
	notify_systemd("READY=1\nSTATUS=standby");
	while (!atomic_load(&g_quit) && !g_promote) {
		if (g_ops)
			fs_ops_serve_admin(g_ops, CONTROL_POLL_MS);
		else
			usleep(CONTROL_POLL_MS * 1000);
		if (fs_mono_ns() >= next_sample) {
			ops_publish(false);
			next_sample = fs_mono_ns() + METRICS_SAMPLE_NS;
		}
	}
	if (g_promote)
		return 0;
	fs_repl_stop(g_repl);
	g_repl = NULL;
	fs_log("info", "standby stopping");
	return 1;
}

/* The primary's side of [replication]: refuse to serve once fenced, draw
 * the cluster id, start the sender, gate acks on the standby. 0, or
 * -ESTALE (fenced: refuse to start), or -errno. */
static int primary_repl_start(const struct cfg *cfg)
{
	struct fs_repl_primary_params pp = {.cfg = cfg, .nshards = cfg->workers};
	uint64_t cluster, epoch, fenced, pe = 0;
	unsigned pn = 0;
	bool promoted = fs_repl_promoted(cfg, &pe, pp.epoch_lsn, &pn) == 0;
	int rc;

	for (unsigned i = 0; i < cfg->workers; i++)
		g_journals[i].last_lsn = persist_info(g_persist, i)->wal.next_lsn - 1;
	persist_repl_get(g_persist, &cluster, &epoch, &fenced);
	if (promoted && pe > epoch) { /* a promote cut short before its manifest */
		epoch = pe;
		fenced = 0;
		if ((rc = persist_repl_set(g_persist, cluster, epoch, fenced)) < 0)
			return rc;
	}
	if (fenced > epoch) {
		fs_log("error", "%s/MANIFEST: this appliance was FENCED OFF by epoch %" PRIu64
				" (a standby was promoted; ours is %" PRIu64 "): it refuses to run as "
				"a primary; rejoin it as a standby ([replication] role = standby, "
				"primary = the new primary; docs/operations.md, Failover runbook)",
		       cfg->persist_dir, fenced, epoch);
		return -ESTALE;
	}
	pp.fence_old = promoted && cfg->repl_primary_port != 0;
	if (cfg->repl_listen_port == 0 && !pp.fence_old)
		return 0;
	if (cluster == 0) {
		if (getrandom(&cluster, sizeof(cluster), 0) != sizeof(cluster) ||
		    (rc = persist_repl_set(g_persist, cluster, epoch, fenced)) < 0)
			return -EIO;
	}
	pp.cluster = cluster;
	pp.epoch = epoch;
	for (unsigned i = 0; i < cfg->workers; i++)
		pp.wal[i] = persist_wal(g_persist, i);
	if (!promoted)
		memset(pp.epoch_lsn, 0, sizeof(pp.epoch_lsn));
	rc = fs_repl_primary_start(&pp, &g_repl);
	if (rc < 0)
		return rc;
	/* ack = local too: after a restart its answers wait for the first
	 * handshake with a standby, when one followed this primary before
	 * (fs_repl.c, degrade_blocked); otherwise its gate stays open. */
	for (unsigned i = 0; i < cfg->workers; i++)
		g_journals[i].repl = fs_repl_gate(g_repl, i);
	return 0;
}

static int audit_all(struct store_shard **shards, unsigned n)
{
	int bad = 0;

	for (unsigned i = 0; i < n; i++) {
		char err[256] = "";
		struct store_stats st;
		int rc = store_audit(shards[i], err, sizeof(err));

		store_shard_stats(shards[i], &st);
		if (rc < 0) {
			fs_log("error", "shard %u: AUDIT FAILED: %s", i, err);
			bad = 1;
		} else {
			fs_log("info", "shard %u: audit ok, %" PRIu64 " orders, %" PRIu64 " expired",
			       i, st.orders, st.expired);
		}
	}
	return bad;
}

/* mkdir -p */
static int mkdirs(const char *path)
{
	char tmp[FS_PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* One daemon per data directory: an flock held for the process's life (the
 * kernel drops it when the process dies, even on kill -9). Returns the fd. */
static int lock_data_dir(const struct cfg *cfg, bool init)
{
	char path[FS_PATH_MAX + 32], pid[32];
	int fd, rc = init ? mkdirs(cfg->persist_dir) : 0;

	if (rc < 0) {
		fs_log("error", "%s: [persist] dir %s: cannot create: %s", cfg->path,
		       cfg->persist_dir, fs_strerror(rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/flashsaled.lock", cfg->persist_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT && !init) {
		fs_log("error", "%s: the data directory is missing: its state is lost, or this is "
				"a new appliance (start it once with flashsaled --init)",
		       cfg->persist_dir);
		return -ENOENT;
	}
	if (fd < 0) {
		rc = -errno;
		fs_log("error", "%s: cannot open: %s", path, fs_strerror(rc));
		return rc;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ssize_t n = read(fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = '\0';
		fs_log("error", "%s: data directory in use by another flashsaled (pid %s)",
		       cfg->persist_dir, n > 0 ? strtok(pid, "\n") : "?");
		close(fd);
		return -EBUSY;
	}
	if (ftruncate(fd, 0) == 0) {
		int n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
		(void)!pwrite(fd, pid, (size_t)n, 0);
	}
	return fd;
}

static int parse_args(int argc, char **argv, const char **config, bool *check, bool *init)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'k'},
		{"init", no_argument, NULL, 'i'},
		{"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': *config = optarg; break;
		case 'k': *check = true; break;
		case 'i': *init = true; break;
		case 'h': usage(stdout); exit(0);
		case 'V': printf("flashsaled " FLASHSALE_VERSION "\n"); exit(0);
		default: usage(stderr); return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "flashsaled: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	if (*config == NULL) {
		fprintf(stderr, "flashsaled: --config FILE is required (try --help)\n");
		return -EINVAL;
	}
	if (*init && *check) {
		fprintf(stderr, "flashsaled: --init and --check exclude each other\n");
		return -EINVAL;
	}
	return 0;
}

static int run(const struct cfg *cfg, bool init)
{
	struct store_catalog *cat = NULL;
	struct store_shard **shards;
	struct fs_admin *admin = NULL;
	char err[512] = "";
	int rc, status = EXIT_RUNTIME;

	g_cfg = cfg;
	g_sample = (struct fs_ops_sample){0};
	g_sample.items = calloc(store_catalog_capacity(cfg), sizeof(*g_sample.items));
	if (g_sample.items == NULL)
		return EXIT_RUNTIME;
	/* The operations listener first: /healthz answers (and /readyz says
	 * "recovering") while the state is recovered, and a port in use is
	 * found before the long part. */
	if (cfg->admin_port) {
		rc = fs_ops_open(cfg, &g_ops);
		if (rc < 0) {
			fs_log("error", "cannot listen on [admin] %s:%u: %s", cfg->admin_address_str,
			       cfg->admin_port, fs_strerror(rc));
			free(g_sample.items);
			return EXIT_RUNTIME;
		}
		fs_ops_set_admin(g_ops, admin_request, NULL);
		fs_log("info", "operations listener on %s:%u: /healthz /readyz /metrics /items%s",
		       cfg->admin_address_str, cfg->admin_port,
		       cfg->admin_enabled ? " /admin/" : " (admin API off: no [admin] key)");
	}
	rc = store_catalog_create(cfg, cfg->workers, &cat);
	if (rc < 0) {
		fs_log("error", "catalog: %s", fs_strerror(rc));
		goto out_ops;
	}
	if (cfg->repl_role == CFG_ROLE_STANDBY) {
		uint64_t pe, el[FS_WORKERS_MAX];
		unsigned pn;
		if (fs_repl_promoted(cfg, &pe, el, &pn) == 0) {
			fs_log("warn", "%s/%s: this standby was promoted (epoch %" PRIu64 "): it runs "
				       "as the primary; set [replication] role = primary",
			       cfg->persist_dir, FS_REPL_PROMOTED_FILE, pe);
		} else {
			rc = standby_run(cfg, init, cat);
			if (rc != 0) {
				status = rc > 0 ? EXIT_CLEAN
					 : rc == -EINVAL || rc == -EEXIST ? EXIT_USAGE : EXIT_STORAGE;
				goto out_cat;
			}
			init = false; /* the state exists now */
		}
	}
	rc = durable_open(cfg, init, cat, &g_persist);
	if (rc < 0) {
		status = rc == -EINVAL || rc == -EEXIST ? EXIT_USAGE : EXIT_STORAGE;
		goto out_cat;
	}
	rc = primary_repl_start(cfg);
	if (rc < 0) {
		status = rc == -ESTALE ? EXIT_USAGE : EXIT_RUNTIME;
		goto out_shards;
	}
	/* (persist_open audited every shard: the invariants hold before any
	 * port opens, or we never got here.) */
	shards = persist_shards(g_persist);
	struct dp_engine_params p = {.cfg = cfg, .cat = cat, .shards = shards,
				     .journals = g_journal_ptrs, .nworkers = cfg->workers};
	rc = dp_engine_create(&p, &g_engine, err, sizeof(err));
	if (rc < 0) {
		fs_log("error", "front end: %s", err);
		goto out_shards;
	}
	/* The workers own [net] http_port (the public HTTP API,
	 * dataplane/dp_http_front.c); /metrics, /healthz and /admin are on the
	 * [admin] listener (fs_ops.c). DPDK mode serves it on kernel TCP
	 * through the exception path and logs that itself, or that it cannot
	 * without a TAP (docs/architecture.md, "HTTP front end"). */
	if (cfg->http_port && cfg->mode == CFG_MODE_KERNEL)
		fs_log("info", "public HTTP API on %s:%u (workers): /v1/*", cfg->address_str,
		       cfg->http_port);
	if (g_ops) {
		struct fs_ops_view v = {.engine = g_engine, .cat = cat, .n_shards = cfg->workers};
		for (unsigned i = 0; i < cfg->workers; i++)
			v.wal[i] = persist_wal(g_persist, i);
		fs_ops_attach(g_ops, &v);
		/* The admin API (fs_admin.c) behind the listener's bearer check. */
		struct fs_admin_params ap = {.cfg = cfg,
					     .cat = cat,
					     .ps = g_persist,
					     .on_workers = on_workers,
					     .on_workers_ctx = g_engine,
					     .journal = admin_journal,
					     .workers_running = &g_workers_run};
		if (cfg->admin_enabled && (rc = fs_admin_create(&ap, &admin)) < 0) {
			fs_log("error", "admin API: %s", fs_strerror(rc));
			goto out_engine;
		}
		fs_ops_set_admin(g_ops, admin_request, admin);
	}
	fs_telemetry_attach(g_engine, cat);
	if (dp_engine_launch(g_engine) < 0) {
		fs_log("error", "cannot launch workers on lcores");
		dp_engine_wait(g_engine);
		goto out_engine;
	}
	g_workers_run = true;
	fs_log("info", "ready: FSP/1 on udp %s:%u, %u workers (%s mode), durability %s",
	       cfg->address_str, cfg->udp_port, cfg->workers, cfg_mode_name(cfg->mode),
	       cfg_durability_name(cfg->durability));
	fs_ops_set_ready(g_ops, true);
	ops_publish(true);
	notify_systemd("READY=1\nSTATUS=serving");
	control_loop(cfg);
	fs_ops_set_ready(g_ops, false);
	notify_systemd("STOPPING=1");
	fs_log("info", "stopping");
	dp_engine_stop(g_engine);
	dp_engine_wait(g_engine);
	g_workers_run = false; /* snapshots now capture here */
	fs_repl_stop(g_repl); /* after the workers: held answers may wait on it */
	g_repl = NULL;
	struct dp_stats s;
	dp_engine_stats(g_engine, &s);
	log_stats("final", &s);
	dp_engine_log_net(g_engine, "final");
	status = audit_all(shards, cfg->workers) ? EXIT_RUNTIME : EXIT_CLEAN;
	if (status == EXIT_CLEAN && (rc = persist_failed(g_persist)) < 0) {
		fs_log("error", "storage fault during the run (%s): exit %d", fs_strerror(rc),
		       EXIT_STORAGE);
		status = EXIT_STORAGE;
	}
	/* A clean stop leaves a snapshot, so the next start replays nothing. */
	if (status == EXIT_CLEAN && snapshot_take("shutdown") < 0) {
		fs_log("error", "no shutdown snapshot: the next start replays the log instead");
		status = EXIT_STORAGE;
	}
out_engine:
	fs_telemetry_detach();
	fs_ops_detach(g_ops);
	fs_admin_free(admin);
	dp_engine_free(g_engine);
	g_engine = NULL;
out_shards:
	fs_repl_stop(g_repl);
	g_repl = NULL;
	if (durable_close(g_persist) < 0 && status == EXIT_CLEAN)
		status = EXIT_STORAGE;
	g_persist = NULL;
out_cat:
	store_catalog_free(cat);
out_ops:
	fs_ops_close(g_ops);
	g_ops = NULL;
	free(g_sample.items);
	g_sample.items = NULL;
	return status;
}

/* Refuse a config this machine cannot hold (store_memory_check), counting
 * besides the store: the hand-off rings (two kinds per producer/owner pair,
 * 80-byte entries rounded up), the log's batch buffers and EAL's -m 64. */
static int memory_check(const struct cfg *cfg)
{
	uint64_t w = cfg->workers, other = 2 * w * w * cfg->ring_size * 128 +
					    w * WAL_QUEUE_DEPTH_DEFAULT * WAL_BATCH_BYTES_DEFAULT +
					    (64u << 20);
	struct store_budget b;
	char err[2048];

	if (store_memory_check(cfg, cfg->workers, other, &b, err, sizeof(err)) < 0) {
		fprintf(stderr, "flashsaled: %s\n", err);
		return -ENOMEM;
	}
	fs_log("info", "memory: %.1f MiB (shard tables %.1f, snapshot images %.1f, other %.1f)",
	       (double)b.total / (1 << 20), (double)b.shards / (1 << 20),
	       (double)b.images / (1 << 20), (double)b.other / (1 << 20));
	return 0;
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	bool check = false, init = false;
	struct cfg cfg;
	char err[1024];
	int rc, status;

	if (parse_args(argc, argv, &config, &check, &init) < 0)
		return EXIT_USAGE;
	if (fs_token_init() < 0) {
		fprintf(stderr, "flashsaled: libsodium init failed\n");
		return EXIT_RUNTIME;
	}
	rc = cfg_load(config, fs_now_ns(), &cfg, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "flashsaled: %s\n", err);
		return EXIT_USAGE;
	}
	fs_log("info", "flashsaled " FLASHSALE_VERSION ": config %s", config);
	cfg_log_summary(&cfg);
	if (memory_check(&cfg) < 0) { /* before anything big is allocated */
		cfg_free(&cfg);
		return 2;
	}
	if (check) {
		printf("%s: configuration OK (%u activities, %u items)\n", config,
		       cfg.n_activities, cfg.n_items);
		cfg_free(&cfg);
		return 0;
	}
	int lock_fd = -1;
	if (fault_plan_load() < 0 || (lock_fd = lock_data_dir(&cfg, init)) < 0 ||
	    dp_eal_init(&cfg) < 0) {
		if (lock_fd >= 0)
			close(lock_fd);
		cfg_free(&cfg);
		return lock_fd == -ENOENT ? EXIT_STORAGE : EXIT_USAGE;
	}
	if ((rc = fs_telemetry_register(&cfg)) < 0)
		fs_log("warn", "DPDK telemetry: /flashsale/ commands not registered: %s",
		       fs_strerror(rc));
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	status = run(&cfg, init);
	dp_eal_cleanup();
	close(lock_fd);
	cfg_free(&cfg);
	fs_log("info", "stopped (exit %d)", status);
	return status;
}
