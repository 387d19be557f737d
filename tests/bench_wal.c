/*
 * bench_wal.c — throughput and commit latency of persist/wal_*.c.
 *
 * One shard, two kinds of load:
 *  - closed loop (default): keep `qd` commits of `records` change records
 *    in flight; latency runs from wal_submit to the wal_poll that reports the
 *    ticket durable. This is saturation: queueing included.
 *  - open loop (--rate R): records arrive at R per second; each commit takes
 *    all that arrived since the last one (as a shard's burst does), at most
 *    qd in flight; latency runs from the arrival of the commit's OLDEST
 *    record to durable, i.e. what the slowest reservation in it waited.
 * Waiting is on the WAL's eventfd (ppoll), or busy polling with --spin (a
 * DPDK lcore's way). Each case runs --seconds in a fresh directory under
 * --dir (default /tmp), removed afterwards. Prints figures, asserts nothing.
 *
 *   bench_wal                      the matrix; about 50 s
 *   bench_wal --mode sync --records 64 --qd 8 [--no-prealloc] [--spin]
 *   bench_wal --mode sync --rate 100000 --qd 4
 *
 * Columns: load = closed or the offered rate, records = mean per commit,
 * qd = commits in flight at most, pre = fallocate of segments, app_ns = CPU
 * per wal_append (encode + CRC32C), fsync/s = fdatasyncs completed.
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "persist.h"

#define TICKET_RING 256 /* > WAL_QUEUE_DEPTH_MAX */
#define SAMPLES_MAX (8u << 20)

struct opts {
	const char *dir;
	double seconds;
	int mode; /* -1: matrix */
	unsigned records, qd;
	double rate; /* records/s offered (open loop); 0 = closed loop */
	bool no_prealloc, spin;
};

struct result {
	uint64_t commits, records;
	double elapsed_s;
	double p50_us, p99_us, max_us;
	double append_ns;
	struct wal_stats st;
};

static const char *mode_name(int m)
{
	return m == WAL_DURABILITY_SYNC ? "sync" : m == WAL_DURABILITY_BATCH ? "batch" : "none";
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void die(const char *what, int rc)
{
	fprintf(stderr, "bench_wal: %s: %s\n", what, fs_strerror(rc));
	exit(1);
}

/* Sleep until a completion arrives, at most timeout_ns; not when spinning. */
static void wait_event(struct wal *w, bool spin, int64_t timeout_ns)
{
	struct pollfd pfd = {.fd = wal_event_fd(w), .events = POLLIN};
	struct timespec ts = {.tv_sec = timeout_ns / FS_NS_PER_S,
			      .tv_nsec = timeout_ns % FS_NS_PER_S};
	uint64_t v;

	if (spin)
		return;
	if (ppoll(&pfd, 1, &ts, NULL) == 1 && read(pfd.fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		die("eventfd read", -errno);
}

/* One shard's load: closed loop (o->rate == 0: commits of o->records, qd in
 * flight) or open loop (records arrive at o->rate per second; a commit takes
 * all that arrived since the last one, as a shard's burst would). */
struct load {
	int64_t start;
	int64_t first_ns[TICKET_RING]; /* per ticket: latency starts here */
	uint32_t recs[TICKET_RING];    /* per ticket: records */
	uint64_t submitted, durable, seen, appended, durable_records;
	uint32_t in_batch; /* records appended, not yet submitted */
	int64_t batch_first_ns;
	double append_ns;
};

static void append_one(struct wal *w, struct load *l, int64_t arrival_ns)
{
	struct store_change c = {.type = STORE_CH_RESERVE,
				 .qty = 1,
				 .item_id = 1001,
				 .order_id = l->appended << 8,
				 .user_id = l->appended,
				 .request_id = l->appended,
				 .time_ns = arrival_ns};
	int64_t t0 = fs_mono_ns(), lsn = wal_append(w, &c);

	if (lsn < 0)
		die("wal_append", (int)lsn);
	l->append_ns += (double)(fs_mono_ns() - t0);
	if (l->in_batch++ == 0)
		l->batch_first_ns = arrival_ns;
	l->appended++;
}

/* Append what is due, submit while fewer than qd commits are in flight. */
static void load_fill(struct wal *w, const struct opts *o, struct load *l, int64_t now)
{
	uint64_t due = o->rate ? (uint64_t)((double)(now - l->start) * o->rate / 1e9) : 0;
	uint32_t cap = WAL_BATCH_BYTES_DEFAULT / WAL_CHANGE_RECORD_BYTES;
	uint64_t ticket;
	int rc;

	while (l->submitted - l->durable < o->qd) {
		if (o->rate)
			while (l->appended < due && l->in_batch < cap)
				append_one(w, l,
					   l->start +
						   (int64_t)((double)l->appended * 1e9 / o->rate));
		else if (l->in_batch == 0)
			for (unsigned i = 0; i < o->records; i++)
				append_one(w, l, fs_mono_ns());
		if (l->in_batch == 0)
			return;
		if (!o->rate)
			l->batch_first_ns = fs_mono_ns();
		rc = wal_submit(w, &ticket);
		if (rc == -EBUSY)
			return;
		if (rc)
			die("wal_submit", rc);
		l->submitted = ticket;
		l->first_ns[ticket % TICKET_RING] = l->batch_first_ns;
		l->recs[ticket % TICKET_RING] = l->in_batch;
		l->in_batch = 0;
	}
}

static void run_loop(struct wal *w, const struct opts *o, int mode, uint32_t *lat, struct result *r)
{
	struct load *l = calloc(1, sizeof(*l));
	int64_t now, end;
	int rc;

	if (!l)
		die("calloc", -ENOMEM);
	now = l->start = fs_mono_ns();
	end = l->start + (int64_t)(o->seconds * 1e9);
	while (now < end) {
		load_fill(w, o, l, now);
		if ((rc = wal_poll(w, &l->durable)))
			die("wal_poll", rc);
		now = fs_mono_ns();
		if (mode == WAL_DURABILITY_BATCH && (rc = wal_tick(w, now)))
			die("wal_tick", rc);
		if (l->durable == l->seen)
			wait_event(w, o->spin, o->rate ? 50000 : FS_NS_PER_MS);
		for (; l->seen < l->durable; l->seen++) {
			unsigned i = (unsigned)((l->seen + 1) % TICKET_RING);
			l->durable_records += l->recs[i];
			if (r->commits < SAMPLES_MAX)
				lat[r->commits++] = (uint32_t)(now - l->first_ns[i]);
		}
	}
	r->elapsed_s = (double)(now - l->start) / 1e9;
	r->records = l->durable_records;
	r->append_ns = l->appended ? l->append_ns / (double)l->appended : 0;
	free(l);
}

static void run_case(const struct opts *o, int mode, uint32_t *lat, struct result *r)
{
	char root[FS_PATH_MAX], err[1024];
	struct wal_replay_info info;
	struct wal_params p = {0};
	struct wal *w;
	int rc;

	memset(r, 0, sizeof(*r));
	snprintf(root, sizeof(root), "%s/bench_wal.XXXXXX", o->dir);
	if (!mkdtemp(root))
		die(root, -errno);
	p.dir = root;
	p.durability = (enum wal_durability)mode;
	p.queue_depth = o->qd;
	p.no_prealloc = o->no_prealloc;
	p.eventfd = true;
	if ((rc = wal_replay(root, 0, NULL, 1, NULL, NULL, &info, err, sizeof(err))) ||
	    (rc = wal_open(&p, &info, &w, err, sizeof(err)))) {
		fprintf(stderr, "bench_wal: %s\n", err);
		exit(1);
	}
	run_loop(w, o, mode, lat, r);
	wal_stats(w, &r->st);
	if ((rc = wal_close(w)))
		die("wal_close", rc);
	nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	qsort(lat, r->commits, sizeof(*lat), cmp_u32);
	if (r->commits) {
		r->p50_us = lat[r->commits / 2] / 1e3;
		r->p99_us = lat[r->commits * 99 / 100] / 1e3;
		r->max_us = lat[r->commits - 1] / 1e3;
	}
}

static void print_case(const struct opts *o, int mode, uint32_t *lat)
{
	char load[32] = "closed";
	struct result r;

	run_case(o, mode, lat, &r);
	if (o->rate)
		snprintf(load, sizeof(load), "%.0f/s", o->rate);
	printf("%-5s %-8s %7.1f %3u %-4s %-5s %9.0f %11.0f %8.1f %8.1f %8.1f %7.0f %7.0f\n",
	       mode_name(mode), load, r.commits ? (double)r.records / (double)r.commits : 0, o->qd,
	       o->no_prealloc ? "no" : "yes", o->spin ? "spin" : "event", r.commits / r.elapsed_s,
	       r.records / r.elapsed_s, r.p50_us, r.p99_us, r.max_us,
	       (double)r.st.fsyncs / r.elapsed_s, r.append_ns);
	fflush(stdout);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: bench_wal [--dir DIR] [--seconds S] [--mode sync|batch|none]\n"
		"                 [--records N | --rate RECORDS_PER_S] [--qd N] [--no-prealloc]\n"
		"                 [--spin]\n");
	exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{"dir", required_argument, 0, 'd'},
		{"seconds", required_argument, 0, 's'},
		{"mode", required_argument, 0, 'm'},
		{"records", required_argument, 0, 'r'},
		{"qd", required_argument, 0, 'q'},
		{"no-prealloc", no_argument, 0, 'P'},
		{"spin", no_argument, 0, 'S'},
		{"rate", required_argument, 0, 'R'},
		{0, 0, 0, 0},
	};
	int c;

	*o = (struct opts){.dir = "/tmp", .seconds = 2, .mode = -1, .records = 64, .qd = 8};
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'd')
			o->dir = optarg;
		else if (c == 's')
			o->seconds = atof(optarg);
		else if (c == 'm')
			o->mode = !strcmp(optarg, "sync")    ? 0
				  : !strcmp(optarg, "batch") ? 1
				  : !strcmp(optarg, "none")  ? 2
							     : -2;
		else if (c == 'r')
			o->records = (unsigned)atoi(optarg);
		else if (c == 'q')
			o->qd = (unsigned)atoi(optarg);
		else if (c == 'P')
			o->no_prealloc = true;
		else if (c == 'S')
			o->spin = true;
		else if (c == 'R')
			o->rate = atof(optarg);
		else
			usage();
	}
	if (optind != argc || o->mode == -2 || o->seconds <= 0 || o->records < 1 || o->rate < 0 ||
	    o->records * WAL_CHANGE_RECORD_BYTES > WAL_BATCH_BYTES_DEFAULT || o->qd < 1 ||
	    o->qd > WAL_QUEUE_DEPTH_MAX)
		usage();
}

static void header(int argc, char **argv)
{
	struct utsname u;

	printf("# command:");
	for (int i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	uname(&u);
	printf("\n# kernel %s, %ld CPUs, change record %u bytes\n"
	       "# latency: closed loop = submit -> durable; open loop = arrival of the commit's "
	       "oldest record -> durable\n",
	       u.release, sysconf(_SC_NPROCESSORS_ONLN), WAL_CHANGE_RECORD_BYTES);
	printf("%-5s %-8s %7s %3s %-4s %-5s %9s %11s %8s %8s %8s %7s %7s\n", "mode", "load",
	       "records", "qd", "pre", "wait", "commits/s", "records/s", "p50_us", "p99_us",
	       "max_us", "fsync/s", "app_ns");
}

int main(int argc, char **argv)
{
	static const unsigned batch[] = {1, 16, 64, 256}, depth[] = {1, 2, 4, 8};
	uint32_t *lat = malloc(SAMPLES_MAX * sizeof(*lat));
	struct opts o;

	parse(argc, argv, &o);
	if (!lat)
		die("malloc", -ENOMEM);
	header(argc, argv);
	if (o.mode >= 0) {
		print_case(&o, o.mode, lat);
	} else {
		for (unsigned b = 0; b < sizeof(batch) / sizeof(*batch); b++)
			for (unsigned d = 0; d < sizeof(depth) / sizeof(*depth); d++) {
				o.records = batch[b];
				o.qd = depth[d];
				print_case(&o, WAL_DURABILITY_SYNC, lat);
			}
		o.records = 64;
		o.qd = 16;
		print_case(&o, WAL_DURABILITY_SYNC, lat);
		o.qd = 8;
		o.no_prealloc = true;
		print_case(&o, WAL_DURABILITY_SYNC, lat);
		o.no_prealloc = false;
		print_case(&o, WAL_DURABILITY_BATCH, lat);
		print_case(&o, WAL_DURABILITY_NONE, lat);
		for (unsigned d = 1; d < sizeof(depth) / sizeof(*depth); d++) {
			o.rate = 100000;
			o.qd = depth[d];
			print_case(&o, WAL_DURABILITY_SYNC, lat);
		}
		o.rate = 200000;
		o.qd = 4;
		print_case(&o, WAL_DURABILITY_SYNC, lat);
	}
	free(lat);
	return 0;
}
