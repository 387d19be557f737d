/*
 * flashsaled — the flash-sale appliance daemon.
 *
 * Reads like DPDK's examples/l2fwd/main.c: load and validate the config
 * (before anything else, so a bad file never opens a port) → lock the data
 * directory → EAL init (dataplane/dp_eal.c; kernel or dpdk mode) → allocate
 * catalog and shards → recover (snapshot, then each shard's log; audit) and
 * open the logs → open the front end (sockets or ethdev ports) → launch one
 * worker per worker lcore → the main lcore runs the control plane (HTTP,
 * stats, periodic snapshots, signals) → orderly teardown: workers drain and
 * wait for their logs, final counters, audit, shutdown snapshot.
 *
 * Exit status: 0 after a clean stop, 1 on a runtime failure (including a
 * failed audit), 2 on a usage or configuration error.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/stat.h>
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
#include "fs_http.h"
#include "fs_token.h"
#include "persist.h"

#include <liburing.h>
#include "store.h"

#define FLASHSALE_VERSION "0.1.0"
#define STATS_LOG_INTERVAL_NS (10 * FS_NS_PER_S)

static atomic_int g_quit;
static struct dp_engine *g_engine;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: flashsaled --config FILE [--check]\n"
		"\n"
		"The flashsale appliance: answers FSP/1 (UDP) purchase requests for the\n"
		"activities and items in FILE.\n"
		"\n"
		"  -c, --config FILE   the INI configuration (see docs/configuration.md)\n"
		"      --check         validate FILE, print what it holds, and exit\n"
		"  -V, --version       print the version and exit\n"
		"  -h, --help          this text\n"
		"\n"
		"Runs in the foreground; SIGINT or SIGTERM stop it cleanly.\n"
		"Exit status: 0 clean stop, 1 runtime failure, 2 usage or config error.\n"
		"Example: flashsaled --config config/flashsale.ini\n");
}

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&g_quit, 1);
	if (g_engine)
		dp_engine_stop(g_engine);
}

static struct dp_journal g_journals[FS_WORKERS_MAX];
static struct dp_journal *g_journal_ptrs[FS_WORKERS_MAX];

static void shards_free(struct store_shard **shards, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (g_journals[i].wal) {
			int rc = wal_close(g_journals[i].wal);
			if (rc < 0)
				fs_log("error", "shard %u: closing the log: %s", i, fs_strerror(rc));
			g_journals[i].wal = NULL;
		}
		store_shard_free(shards[i]);
	}
}

/* Test seam (like SQLite's aSyscall[]): FLASHSALE_TEST_FAULT=KIND:N makes
 * every shard's log fail its (N+1)-th completion of that kind, so the
 * integration tests can watch the daemon fail closed. KIND is write-eio,
 * write-enospc, fsync-eio or short-write (a short write must be resubmitted
 * and succeed). Unset in production; logged loudly when set. */
struct fault_plan {
	int opcode;   /* IORING_OP_WRITE_FIXED or IORING_OP_FSYNC */
	int res;      /* the injected result; 0 = short write */
	long after;   /* matching completions to let through first */
	long seen[FS_WORKERS_MAX];
	unsigned shard_of_ctx[FS_WORKERS_MAX];
};
static struct fault_plan g_fault;

static int fault_hook(void *ctx, int opcode, int res)
{
	unsigned shard = *(unsigned *)ctx;

	if (opcode != g_fault.opcode || res < 0 || g_fault.seen[shard]++ != g_fault.after)
		return res;
	if (g_fault.res == 0)
		return res > 1 ? res / 2 : res; /* short write */
	return g_fault.res;
}

static int fault_plan_load(void)
{
	const char *env = getenv("FLASHSALE_TEST_FAULT");
	char kind[32];

	if (env == NULL || env[0] == '\0')
		return 0;
	if (sscanf(env, "%31[a-z-]:%ld", kind, &g_fault.after) != 2 || g_fault.after < 0)
		goto bad;
	if (strcmp(kind, "write-eio") == 0)
		g_fault = (struct fault_plan){IORING_OP_WRITE_FIXED, -EIO, g_fault.after, {0}, {0}};
	else if (strcmp(kind, "write-enospc") == 0)
		g_fault = (struct fault_plan){IORING_OP_WRITE_FIXED, -ENOSPC, g_fault.after, {0}, {0}};
	else if (strcmp(kind, "fsync-eio") == 0)
		g_fault = (struct fault_plan){IORING_OP_FSYNC, -EIO, g_fault.after, {0}, {0}};
	else if (strcmp(kind, "short-write") == 0)
		g_fault = (struct fault_plan){IORING_OP_WRITE_FIXED, 0, g_fault.after, {0}, {0}};
	else
		goto bad;
	fs_log("warn", "FLASHSALE_TEST_FAULT=%s: injecting a storage fault (test seam)", env);
	return 1;
bad:
	fs_log("error", "FLASHSALE_TEST_FAULT=%s: expected write-eio|write-enospc|fsync-eio|"
			"short-write:N", env);
	return -EINVAL;
}

/* Open shard i's log for appending after what recovery found. */
static int open_log(const struct cfg *cfg, unsigned i, const struct wal_replay_info *info)
{
	char err[1024] = "";
	struct wal_params p = {
		.dir = cfg->persist_dir,
		.shard_id = i,
		.durability = (enum wal_durability)cfg->durability,
		.sync_interval_ms = cfg->sync_interval_ms,
		.eventfd = true,
	};
	int rc;

	if (g_fault.opcode) {
		g_fault.shard_of_ctx[i] = i;
		p.cqe_hook = fault_hook;
		p.hook_ctx = &g_fault.shard_of_ctx[i];
	}
	rc = wal_open(&p, info, &g_journals[i].wal, err, sizeof(err));
	if (rc < 0) {
		fs_log("error", "shard %u: cannot open the log: %s", i, err);
		return rc;
	}
	g_journal_ptrs[i] = &g_journals[i];
	return 0;
}

/* Load the newest snapshot and replay each shard's log after it (torn tails
 * cut and reported; anything else wrong refuses the start, naming the file
 * and offset or the item), audit, then open the logs. Before any port. */
static int recover(const struct cfg *cfg, struct store_catalog *cat, struct store_shard **shards)
{
	static struct persist_recover_info infos[FS_WORKERS_MAX];
	char err[1024] = "";
	int rc = persist_recover(cfg, cat, shards, infos, 0, err, sizeof(err));

	if (rc < 0) {
		fs_log("error", "recovery refused: %s", err[0] ? err : fs_strerror(rc));
		return rc;
	}
	for (unsigned i = 0; i < cfg->workers; i++) {
		const struct persist_recover_info *in = &infos[i];
		if (in->wal.torn)
			fs_log("warn", "shard %u: torn tail cut from %s at offset %" PRIu64
				       " (%" PRIu64 " bytes of a write never acknowledged)",
			       i, in->wal.torn_file, in->wal.torn_offset, in->wal.torn_bytes);
		fs_log("info", "shard %u: %s%" PRIu64 " orders from the snapshot (LSN %" PRIu64
			       "), then %" PRIu64 " log records from %u segments in %.1f ms; next LSN %"
			       PRIu64, i, in->snapshot ? "" : "no snapshot, ", in->snapshot_orders,
		       in->snapshot_lsn, in->wal.replayed, in->wal.segments,
		       (double)in->replay_ns / 1e6, in->wal.next_lsn);
		struct store_stats st;
		store_shard_stats(shards[i], &st);
		fs_log("info", "shard %u: audit ok after recovery, %" PRIu64 " orders", i, st.orders);
		rc = open_log(cfg, i, &in->wal);
		if (rc < 0)
			return rc;
	}
	if (cfg->workers)
		fs_log("info", "recovery: snapshot load %.1f ms", (double)infos[0].snapshot_ns / 1e6);
	return 0;
}

/* ---- snapshots ----
 *
 * A snapshot is taken without stopping the data path for more than a burst:
 * each worker copies its own shard into a preallocated image between two
 * bursts (dp_engine_on_workers) and notes the LSN of the last record the
 * image includes. The control plane then waits until every log is durable up
 * to that LSN (a snapshot must never hold a change the log could still
 * lose), writes all images to SQLite in one transaction (snap_write: a new
 * file renamed over snapshot.db), and removes log segments wholly before the
 * snapshot. */
struct snapshotter {
	const struct cfg *cfg;
	struct dp_engine *eng;         /* NULL once the workers have stopped */
	struct store_shard **shards;
	struct store_image *imgs[FS_WORKERS_MAX];
	uint64_t lsn[FS_WORKERS_MAX], durable[FS_WORKERS_MAX];
	int err[FS_WORKERS_MAX];
	int64_t capture_ns[FS_WORKERS_MAX];
	int64_t next_ns;               /* monotonic time of the next periodic one */
};

static struct snapshotter g_snap;

static void log_position(struct snapshotter *sn, unsigned i)
{
	struct wal_stats ws;

	wal_stats(g_journals[i].wal, &ws);
	sn->durable[i] = ws.durable_lsn;
	sn->err[i] = g_journals[i].err;
}

static void capture_on_worker(void *ctx, unsigned i)
{
	struct snapshotter *sn = ctx;
	int64_t t0 = fs_mono_ns();
	struct wal_stats ws;

	store_image_capture(sn->shards[i], sn->imgs[i]);
	wal_stats(g_journals[i].wal, &ws);
	sn->lsn[i] = ws.next_lsn - 1;
	sn->err[i] = g_journals[i].err;
	sn->capture_ns[i] = fs_mono_ns() - t0;
}

static void position_on_worker(void *ctx, unsigned i)
{
	log_position(ctx, i);
}

static void snapshots_init(struct snapshotter *sn, const struct cfg *cfg,
			   struct store_shard **shards)
{
	sn->cfg = cfg;
	sn->shards = shards;
	sn->next_ns = fs_mono_ns() + (int64_t)cfg->snapshot_interval_s * FS_NS_PER_S;
}

/* Images are allocated at the first snapshot, not at start: a shard's image
 * is as large as its tables, and allocating it would slow every restart. */
static int snapshot_images(struct snapshotter *sn)
{
	for (unsigned i = 0; i < sn->cfg->workers; i++) {
		int rc;
		if (sn->imgs[i])
			continue;
		rc = store_image_create(sn->shards[i], &sn->imgs[i]);
		if (rc < 0) {
			fs_log("error", "shard %u: no memory for its snapshot image: %s", i,
			       fs_strerror(rc));
			return rc;
		}
	}
	return 0;
}

static void snapshots_free(struct snapshotter *sn)
{
	for (unsigned i = 0; i < FS_WORKERS_MAX; i++) {
		store_image_free(sn->imgs[i]);
		sn->imgs[i] = NULL;
	}
}

/* Capture every shard (on its worker, or here once the workers stopped) and
 * wait until each log is durable up to the captured LSN. */
static int snapshot_capture(struct snapshotter *sn)
{
	unsigned n = sn->cfg->workers;
	int64_t deadline = fs_mono_ns() + 10 * FS_NS_PER_S;
	bool ready;
	int rc = snapshot_images(sn);

	if (rc < 0)
		return rc;
	if (sn->eng) {
		if (dp_engine_on_workers(sn->eng, capture_on_worker, sn, 5000) < 0)
			return -ETIMEDOUT;
	} else {
		for (unsigned i = 0; i < n; i++)
			capture_on_worker(sn, i);
	}
	do {
		ready = true;
		if (sn->eng) {
			if (dp_engine_on_workers(sn->eng, position_on_worker, sn, 5000) < 0)
				return -ETIMEDOUT;
		} else {
			for (unsigned i = 0; i < n; i++)
				log_position(sn, i);
		}
		for (unsigned i = 0; i < n; i++) {
			if (sn->err[i])
				return sn->err[i];
			ready &= sn->durable[i] >= sn->lsn[i];
		}
		if (!ready)
			usleep(1000);
	} while (!ready && fs_mono_ns() < deadline);
	return ready ? 0 : -ETIMEDOUT;
}

/* Take one snapshot now. 0 or -errno (logged); the previous snapshot stays
 * in place on any failure. */
static int snapshot_take(struct snapshotter *sn, const char *why)
{
	const struct cfg *cfg = sn->cfg;
	struct snap_stats st = {0};
	char err[1024] = "";
	int64_t stall = 0;
	unsigned removed = 0;
	int rc = snapshot_capture(sn);

	if (rc < 0) {
		fs_log("error", "snapshot (%s) not taken: %s", why,
		       rc == -ETIMEDOUT ? "workers or the log did not answer in time"
					: fs_strerror(rc));
		return rc;
	}
	rc = snap_write(cfg->persist_dir, cfg, cfg->workers, sn->imgs, sn->lsn, &st, err,
			sizeof(err));
	if (rc < 0) {
		fs_log("error", "snapshot (%s) not written: %s", why, err[0] ? err : fs_strerror(rc));
		return rc;
	}
	for (unsigned i = 0; i < cfg->workers; i++) {
		stall = sn->capture_ns[i] > stall ? sn->capture_ns[i] : stall;
		/* retain.c: keep what registered change-feed consumers still need */
		struct retain_report rr;
		rc = retain_trim(cfg->persist_dir, i, NULL, sn->lsn[i], RETAIN_MAX_BYTES_DEFAULT, &rr,
				 err, sizeof(err));
		for (unsigned c = 0; c < rr.ncut_names; c++)
			fs_log("warn", "shard %u: consumer %s cut loose (over %llu MiB of log behind): "
			       "it must resync from snapshot.db", i, rr.cut_names[c],
			       RETAIN_MAX_BYTES_DEFAULT >> 20);
		if (rr.consumers_unreadable)
			fs_log("warn", "shard %u: consumers ignored by the trim: %s", i, err);
		if (rc == 0)
			removed += rr.removed;
		else
			fs_log("warn", "shard %u: removing log segments before LSN %" PRIu64 ": %s", i,
			       rr.plan.keep_lsn, fs_strerror(rc));
	}
	fs_log("info", "snapshot (%s): %" PRIu64 " orders, %" PRIu64 " stored answers, %.1f MB "
		       "in %.0f ms (worker stall at most %.2f ms); %u old log segments removed",
	       why, st.orders, st.idem_entries, (double)st.bytes / 1e6, (double)st.total_ns / 1e6,
	       (double)stall / 1e6, removed);
	return 0;
}

static int shards_create(const struct cfg *cfg, struct store_catalog *cat,
			 struct store_shard **shards)
{
	int rc;

	for (unsigned i = 0; i < cfg->workers; i++) {
		/* Order sequences start at 1 and continue from the log. */
		struct store_shard_params p = {
			.shard_id = i,
			.idempotency_retention_ns =
				(int64_t)cfg->idempotency_retention_s * FS_NS_PER_S,
			.first_seq = 1,
			.journal = dp_journal_hook,
			.journal_ctx = &g_journals[i],
		};

		store_shard_capacity(cat, i, &p);
		rc = store_shard_create(cat, &p, &shards[i]);
		if (rc < 0) {
			fs_log("error", "shard %u: cannot allocate %" PRIu64 " orders: %s", i,
			       p.max_orders, fs_strerror(rc));
			shards_free(shards, i);
			return rc;
		}
		fs_log("info", "shard %u: capacity %" PRIu64 " orders, %" PRIu64 " stored answers",
		       i, p.max_orders, p.max_idempotency);
	}
	rc = recover(cfg, cat, shards);
	if (rc < 0)
		shards_free(shards, cfg->workers);
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
}

static int admin_snapshot(void *ctx)
{
	return snapshot_take(ctx, "admin request");
}

static void http_stats(void *ctx, struct dp_stats *out)
{
	dp_engine_stats(ctx, out);
}

/* The control plane on the main lcore: wait for a signal, serve HTTP, log
 * counters and link changes. */
static void control_loop(struct fs_http *http)
{
	int64_t next = fs_mono_ns() + STATS_LOG_INTERVAL_NS;
	uint64_t last_rx = 0;

	while (!atomic_load(&g_quit)) {
		if (http)
			fs_http_poll(http, 100);
		else
			usleep(100 * 1000);
		if (fs_mono_ns() >= g_snap.next_ns) {
			snapshot_take(&g_snap, "periodic");
			g_snap.next_ns = fs_mono_ns() +
					 (int64_t)g_snap.cfg->snapshot_interval_s * FS_NS_PER_S;
		}
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
static int lock_data_dir(const struct cfg *cfg)
{
	char path[FS_PATH_MAX + 32], pid[32];
	int fd, rc = mkdirs(cfg->persist_dir);

	if (rc < 0) {
		fs_log("error", "%s: [persist] dir %s: cannot create: %s", cfg->path,
		       cfg->persist_dir, fs_strerror(rc));
		return rc;
	}
	snprintf(path, sizeof(path), "%s/flashsaled.lock", cfg->persist_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		fs_log("error", "%s: cannot open: %s", path, strerror(errno));
		return -errno;
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

static int parse_args(int argc, char **argv, const char **config, bool *check)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'k'},
		{"help", no_argument, NULL, 'h'},         {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	int c;

	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': *config = optarg; break;
		case 'k': *check = true; break;
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
	return 0;
}

static int run(const struct cfg *cfg)
{
	struct store_catalog *cat = NULL;
	struct store_shard *shards[FS_WORKERS_MAX] = {0};
	struct fs_http *http = NULL;
	char err[512] = "";
	int rc, status = 1;

	rc = store_catalog_create(cfg, cfg->workers, &cat);
	if (rc < 0) {
		fs_log("error", "catalog: %s", fs_strerror(rc));
		return 1;
	}
	if (shards_create(cfg, cat, shards) < 0)
		goto out_cat;
	/* (persist_recover audited every shard: the invariants hold before any
	 * port opens, or we never got here.) */
	snapshots_init(&g_snap, cfg, shards);
	struct dp_engine_params p = {.cfg = cfg, .cat = cat, .shards = shards,
				     .journals = g_journal_ptrs, .nworkers = cfg->workers};
	rc = dp_engine_create(&p, &g_engine, err, sizeof(err));
	if (rc < 0) {
		fs_log("error", "front end: %s", err);
		goto out_shards;
	}
	g_snap.eng = g_engine;
	if (cfg->http_port) {
		rc = fs_http_open(cfg, cat, http_stats, g_engine, &http);
		if (rc < 0) {
			fs_log("error", "cannot listen for HTTP on %s:%u: %s", cfg->address_str,
			       cfg->http_port, fs_strerror(rc));
			goto out_engine;
		}
		fs_http_set_admin(http, cfg->admin_enabled ? cfg->admin_key : NULL, admin_snapshot,
				  &g_snap);
		fs_log("info", "HTTP on %s:%u: /healthz /metrics /items%s", cfg->address_str,
		       cfg->http_port, cfg->admin_enabled ? " POST /admin/snapshot" : "");
	}
	if (dp_engine_launch(g_engine) < 0) {
		fs_log("error", "cannot launch workers on lcores");
		dp_engine_wait(g_engine);
		goto out_engine;
	}
	fs_log("info", "ready: FSP/1 on udp %s:%u, %u workers (%s mode), durability %s",
	       cfg->address_str, cfg->udp_port, cfg->workers, cfg_mode_name(cfg->mode),
	       cfg_durability_name(cfg->durability));
	control_loop(http);
	fs_log("info", "stopping");
	dp_engine_stop(g_engine);
	dp_engine_wait(g_engine);
	g_snap.eng = NULL;
	struct dp_stats s;
	dp_engine_stats(g_engine, &s);
	log_stats("final", &s);
	dp_engine_log_net(g_engine, "final");
	status = audit_all(shards, cfg->workers);
	/* A clean stop leaves a snapshot, so the next start replays nothing. */
	if (status == 0 && snapshot_take(&g_snap, "shutdown") < 0)
		fs_log("warn", "no shutdown snapshot: the next start replays the log instead");
out_engine:
	fs_http_close(http);
	dp_engine_free(g_engine);
	g_engine = NULL;
out_shards:
	snapshots_free(&g_snap);
	shards_free(shards, cfg->workers);
out_cat:
	store_catalog_free(cat);
	return status;
}

int main(int argc, char **argv)
{
	const char *config = NULL;
	bool check = false;
	struct cfg cfg;
	char err[1024];
	int rc, status;

	if (parse_args(argc, argv, &config, &check) < 0)
		return 2;
	if (fs_token_init() < 0) {
		fprintf(stderr, "flashsaled: libsodium init failed\n");
		return 1;
	}
	rc = cfg_load(config, fs_now_ns(), &cfg, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "flashsaled: %s\n", err);
		return 2;
	}
	fs_log("info", "flashsaled " FLASHSALE_VERSION ": config %s", config);
	cfg_log_summary(&cfg);
	if (check) {
		printf("%s: configuration OK (%u activities, %u items)\n", config,
		       cfg.n_activities, cfg.n_items);
		cfg_free(&cfg);
		return 0;
	}
	int lock_fd = -1;
	if (fault_plan_load() < 0 || (lock_fd = lock_data_dir(&cfg)) < 0 ||
	    dp_eal_init(&cfg) < 0) {
		if (lock_fd >= 0)
			close(lock_fd);
		cfg_free(&cfg);
		return 2;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	status = run(&cfg);
	dp_eal_cleanup();
	close(lock_fd);
	cfg_free(&cfg);
	fs_log("info", "stopped (exit %d)", status);
	return status;
}
