/*
 * flashsale_top.c — `flashsale top`: a live terminal view for sale night.
 *
 * Every interval (default 1 s) it fetches GET /metrics from the operations
 * listener ([admin] address:port, HTTP/1.1, one short connection), parses the
 * Prometheus text (name{labels} value lines; comments skipped), keeps the
 * previous fetch to turn counters into rates, and redraws one screen with
 * plain ANSI escapes (no curses): requests/s by status, each item's stock
 * draining with a bar (the hottest first), each shard's log, drops by kind,
 * snapshot age, and a red ALERT line when a shard is UNAVAILABLE, a
 * hand-off ring or a pending table is full (BUSY answers), the appliance is
 * not ready or cannot be reached; each worker's busy share of its TSC
 * cycles and the p99 of the commit- and decision-latency histograms over
 * the last interval (the upper bound of the bucket it falls in).
 *
 * Bounded: at most TOP_BODY_MAX bytes of metrics and TOP_SAMPLES_MAX
 * samples per fetch (more: the rest is ignored, and said so). A fetch waits
 * at most the interval. Ctrl-C ends it.
 */
#include "flashsale_top.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "fs_common.h"

#define TOP_BODY_MAX	(8u << 20)
#define TOP_SAMPLES_MAX 65536u
#define TOP_ITEMS_SHOWN 12u
#define TOP_BAR_WIDTH	30u

struct sample {
	char name[64];
	char labels[96];
	double v;
};

struct fetch {
	struct sample *s;
	unsigned n;
	bool truncated;
	double at; /* monotonic seconds */
};

static volatile sig_atomic_t g_stop;

static void on_sigint(int sig)
{
	(void)sig;
	g_stop = 1;
}

static double mono_s(void)
{
	return (double)fs_mono_ns() / 1e9;
}

static void usage(FILE *f)
{
	fputs("usage: flashsale top [--admin ADDR:PORT | --config FILE] [--interval-ms N]\n"
	      "                     [--iterations N]\n"
	      "\n"
	      "A live view of a running appliance for sale night, refreshed from GET /metrics\n"
	      "on its operations listener: requests/s by status, each item's stock draining,\n"
	      "each shard's log, drops, snapshot age, and an ALERT line when a shard is\n"
	      "UNAVAILABLE, a hand-off ring is full (BUSY) or the appliance is not ready.\n"
	      "\n"
	      "  --admin ADDR:PORT  the operations listener (default 127.0.0.1:8081)\n"
	      "  --config FILE      take [admin] address and port from the appliance's INI\n"
	      "  --interval-ms N    refresh period (default 1000, at least 100)\n"
	      "  --iterations N     stop after N screens (default 0: until Ctrl-C)\n"
	      "  -h, --help         this text\n"
	      "\n"
	      "Exit status: 0 (Ctrl-C or --iterations done), 2 usage or config error.\n"
	      "e.g. flashsale top --config /etc/flashsale/flashsale.ini\n",
	      f);
}

/* GET /metrics into a malloc'd, NUL-terminated body. 0 or -errno; why names it. */
static int http_get(const struct sockaddr_in *a, int timeout_ms, char **body, char *why,
		    size_t whylen)
{
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: flashsale\r\n"
				  "Connection: close\r\nUser-Agent: flashsale-top\r\n\r\n";
	size_t cap = 1 << 16, len = 0;
	char *buf = NULL, *hdr_end;
	double deadline = mono_s() + timeout_ms / 1e3;
	int fd, rc = 0;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0 ||
	    send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof(req) - 1)) {
		rc = -errno;
		snprintf(why, whylen, "%s", fs_strerror(rc));
		goto out;
	}
	buf = malloc(cap);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (len + 1 == cap) {
			char *nb;
			if (cap >= TOP_BODY_MAX) {
				snprintf(why, whylen, "metrics larger than %u bytes", TOP_BODY_MAX);
				rc = -EFBIG;
				goto out;
			}
			nb = realloc(buf, cap * 2);
			if (nb == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t r = recv(fd, buf + len, cap - 1 - len, 0);
		if (r == 0)
			break;
		if (r < 0 || mono_s() > deadline) {
			rc = r < 0 ? -errno : -ETIMEDOUT;
			snprintf(why, whylen, "reading the answer: %s", fs_strerror(rc));
			goto out;
		}
		len += (size_t)r;
	}
	buf[len] = '\0';
	if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0 || (hdr_end = strstr(buf, "\r\n\r\n")) == NULL) {
		char *eol = strstr(buf, "\r\n");
		snprintf(why, whylen, "answer: %.*s", eol ? (int)(eol - buf) : 40, buf);
		rc = -EPROTO;
		goto out;
	}
	memmove(buf, hdr_end + 4, len - (size_t)(hdr_end + 4 - buf) + 1);
	*body = buf;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return rc;
}

/* "name{labels} value" lines into f (comments and oversize names skipped). */
static void parse_body(char *body, struct fetch *f)
{
	f->n = 0;
	f->truncated = false;
	for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n")) {
		char *sp, *brace;
		struct sample *s;

		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (f->n == TOP_SAMPLES_MAX) {
			f->truncated = true;
			return;
		}
		sp = strrchr(line, ' ');
		if (sp == NULL)
			continue;
		*sp = '\0';
		s = &f->s[f->n];
		brace = strchr(line, '{');
		s->labels[0] = '\0';
		if (brace) {
			*brace = '\0';
			size_t ll = strlen(brace + 1);
			if (ll == 0 || ll > sizeof(s->labels))
				continue;
			snprintf(s->labels, sizeof(s->labels), "%.*s", (int)ll - 1, brace + 1);
		}
		if (strlen(line) >= sizeof(s->name))
			continue;
		snprintf(s->name, sizeof(s->name), "%s", line);
		s->v = strtod(sp + 1, NULL);
		f->n++;
	}
}

static const struct sample *find(const struct fetch *f, const char *name, const char *labels)
{
	for (unsigned i = 0; i < f->n; i++)
		if (strcmp(f->s[i].name, name) == 0 && strcmp(f->s[i].labels, labels) == 0)
			return &f->s[i];
	return NULL;
}

static double val(const struct fetch *f, const char *name, const char *labels)
{
	const struct sample *s = find(f, name, labels);
	return s ? s->v : NAN;
}

/* Per-second rate of a counter between two fetches (0 without a previous one). */
static double rate(const struct fetch *cur, const struct fetch *prev, const char *name,
		   const char *labels)
{
	double a = val(cur, name, labels), b = prev && prev->n ? val(prev, name, labels) : NAN;

	if (isnan(a) || isnan(b) || cur->at <= prev->at || a < b)
		return 0;
	return (a - b) / (cur->at - prev->at);
}

/* The value of label key in "k=\"v\",..." into out. */
static bool label(const char *labels, const char *key, char *out, size_t len)
{
	char pat[40];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "%s=\"", key);
	p = strstr(labels, pat);
	if (p == NULL)
		return false;
	p += strlen(pat);
	e = strchr(p, '"');
	if (e == NULL)
		return false;
	snprintf(out, len, "%.*s", (int)(e - p), p);
	return true;
}

struct item_row {
	char id[24];
	double total, avail, reserved, paid, sold_per_s;
};

static int by_heat(const void *a, const void *b)
{
	const struct item_row *x = a, *y = b;

	if (x->sold_per_s != y->sold_per_s)
		return x->sold_per_s < y->sold_per_s ? 1 : -1;
	return strcmp(x->id, y->id);
}

static void bar(double avail, double total)
{
	unsigned full = total > 0 ? (unsigned)lround(avail / total * TOP_BAR_WIDTH) : 0;

	if (full > TOP_BAR_WIDTH)
		full = TOP_BAR_WIDTH;
	fputs(avail <= 0 ? "\033[31m[" : avail < total / 10 ? "\033[33m[" : "\033[32m[", stdout);
	for (unsigned i = 0; i < TOP_BAR_WIDTH; i++)
		fputs(i < full ? "#" : ".", stdout);
	fputs("]\033[0m", stdout);
}

/* The q-quantile of a histogram over the interval between prev and cur (the
 * upper bound of the bucket it falls in, as "<= 256us"), or "-" without
 * observations in the interval. */
static const char *fmt_quantile(const struct fetch *cur, const struct fetch *prev,
				const char *name, double q, char *out, size_t len)
{
	char bname[80], le[32];
	double bound[FS_LAT_BUCKETS + 1], cnt[FS_LAT_BUCKETS + 1], total;
	unsigned n = 0;

	snprintf(out, len, "-");
	if (prev == NULL || prev->n == 0)
		return out;
	snprintf(bname, sizeof(bname), "%s_bucket", name);
	for (unsigned i = 0; i < cur->n && n <= FS_LAT_BUCKETS; i++) {
		const struct sample *s = &cur->s[i];
		double before;
		if (strcmp(s->name, bname) != 0 || !label(s->labels, "le", le, sizeof(le)))
			continue;
		before = val(prev, bname, s->labels);
		bound[n] = strcmp(le, "+Inf") == 0 ? INFINITY : strtod(le, NULL);
		cnt[n++] = isnan(before) ? s->v : s->v - before; /* cumulative, in le order */
	}
	if (n == 0 || (total = cnt[n - 1]) <= 0)
		return out;
	for (unsigned k = 0; k < n; k++) {
		if (cnt[k] < q * total)
			continue;
		if (isinf(bound[k]))
			snprintf(out, len, "> %.0fs", bound[k - (k > 0)]);
		else if (bound[k] < 1e-3)
			snprintf(out, len, "<= %.0fus", bound[k] * 1e6);
		else if (bound[k] < 1)
			snprintf(out, len, "<= %.0fms", bound[k] * 1e3);
		else
			snprintf(out, len, "<= %.1fs", bound[k]);
		break;
	}
	return out;
}

static void draw(const char *target, const struct fetch *cur, const struct fetch *prev,
		 const char *err)
{
	char when[32], alerts[512] = "", q1[24], q2[24];
	time_t now = time(NULL);
	size_t an = 0;

	strftime(when, sizeof(when), "%H:%M:%S", localtime(&now));
	fputs("\033[H\033[2J", stdout); /* home, clear */
	printf("\033[1mflashsale top\033[0m  %s  %s", target, when);
	if (err) {
		printf("\n\n\033[1;31mALERT: cannot read /metrics: %s\033[0m\n", err);
		fflush(stdout);
		return;
	}
	printf("  workers %.0f  ready %s  snapshot %.0fs ago%s\n\n",
	       val(cur, "flashsale_workers", ""),
	       val(cur, "flashsale_ready", "") == 1 ? "yes" : "\033[31mNO\033[0m",
	       val(cur, "flashsale_snapshot_age_seconds", ""),
	       val(cur, "flashsale_snapshot_in_progress", "") == 1 ? " (writing one)" : "");

	/* requests/s by status (summed over protocol and op) */
	struct {
		char st[24];
		double r, v;
	} by[24];
	unsigned nby = 0;
	double total_rps = 0;
	for (unsigned i = 0; i < cur->n; i++) {
		const struct sample *s = &cur->s[i];
		char st[24];
		unsigned k;
		if (strcmp(s->name, "flashsale_requests_total") != 0 ||
		    !label(s->labels, "status", st, sizeof(st)))
			continue;
		for (k = 0; k < nby && strcmp(by[k].st, st) != 0; k++)
			;
		if (k == nby) {
			if (nby == sizeof(by) / sizeof(by[0]))
				continue;
			snprintf(by[nby].st, sizeof(by[nby].st), "%s", st);
			by[nby].r = by[nby].v = 0;
			nby++;
		}
		by[k].r += rate(cur, prev, s->name, s->labels);
		by[k].v += s->v;
	}
	printf("\033[1mrequests/s\033[0m ");
	for (unsigned k = 0; k < nby; k++) {
		total_rps += by[k].r;
		if (by[k].r > 0 || by[k].v > 0)
			printf(" %s %.0f", by[k].st, by[k].r);
	}
	printf("  (total %.0f/s)\n\n", total_rps);

	/* items, hottest first */
	struct item_row rows[TOP_ITEMS_SHOWN * 8];
	unsigned nrows = 0, nitems = 0;
	for (unsigned i = 0; i < cur->n; i++) {
		const struct sample *s = &cur->s[i];
		struct item_row *r;
		char lab[64];
		if (strcmp(s->name, "flashsale_item_total") != 0)
			continue;
		nitems++;
		if (nrows == sizeof(rows) / sizeof(rows[0]))
			continue;
		r = &rows[nrows++];
		label(s->labels, "item", r->id, sizeof(r->id));
		snprintf(lab, sizeof(lab), "item=\"%s\"", r->id);
		r->total = s->v;
		r->avail = val(cur, "flashsale_item_available", lab);
		r->reserved = val(cur, "flashsale_item_reserved", lab);
		r->paid = val(cur, "flashsale_item_paid", lab);
		double before = prev && prev->n ? val(prev, "flashsale_item_available", lab) : NAN;
		r->sold_per_s = !isnan(before) && cur->at > prev->at && before > r->avail
					? (before - r->avail) / (cur->at - prev->at)
					: 0;
	}
	qsort(rows, nrows, sizeof(rows[0]), by_heat);
	printf("\033[1m%-10s %-*s %21s %9s %9s %8s\033[0m\n", "item", TOP_BAR_WIDTH + 2, "stock",
	       "available/total", "reserved", "paid", "sold/s");
	for (unsigned i = 0; i < nrows && i < TOP_ITEMS_SHOWN; i++) {
		printf("%-10s ", rows[i].id);
		bar(rows[i].avail, rows[i].total);
		printf(" %10.0f/%-10.0f %9.0f %9.0f %8.0f\n", rows[i].avail, rows[i].total,
		       rows[i].reserved, rows[i].paid, rows[i].sold_per_s);
	}
	if (nitems > TOP_ITEMS_SHOWN)
		printf("... and %u more items\n", nitems - TOP_ITEMS_SHOWN);

	/* shards: their logs */
	printf("\n\033[1m%-6s %12s %12s %10s %14s %s\033[0m\n", "shard", "records/s", "log KiB/s",
	       "fsyncs/s", "durable lsn", "state");
	for (unsigned i = 0; i < cur->n; i++) {
		const struct sample *s = &cur->s[i];
		char sh[16];
		if (strcmp(s->name, "flashsale_shard_unavailable") != 0 ||
		    !label(s->labels, "shard", sh, sizeof(sh)))
			continue;
		printf("%-6s %12.0f %12.1f %10.0f %14.0f %s\n", sh,
		       rate(cur, prev, "flashsale_wal_records_total", s->labels),
		       rate(cur, prev, "flashsale_wal_bytes_total", s->labels) / 1024,
		       rate(cur, prev, "flashsale_wal_fsyncs_total", s->labels),
		       val(cur, "flashsale_wal_durable_lsn", s->labels),
		       s->v == 1 ? "\033[31mUNAVAILABLE\033[0m" : "ok");
		if (s->v == 1)
			an += (size_t)snprintf(alerts + an, sizeof(alerts) - an,
					       " shard %s UNAVAILABLE (its log failed);", sh);
	}
	printf("commit latency p99 %s   decision latency p99 %s   (over the last interval)\n",
	       fmt_quantile(cur, prev, "flashsale_wal_commit_latency_seconds", 0.99, q1, sizeof(q1)),
	       fmt_quantile(cur, prev, "flashsale_decision_latency_seconds", 0.99, q2, sizeof(q2)));

	/* workers: busy share of their TSC cycles over the interval */
	printf("\n\033[1mworkers\033[0m busy %%:");
	for (unsigned i = 0; i < cur->n; i++) {
		const struct sample *s = &cur->s[i];
		char wk[16], st[16];
		if (strcmp(s->name, "flashsale_worker_cycles_total") != 0 ||
		    !label(s->labels, "stage", st, sizeof(st)) || strcmp(st, "idle") != 0 ||
		    !label(s->labels, "worker", wk, sizeof(wk)))
			continue;
		double idle = rate(cur, prev, s->name, s->labels), all = 0;
		for (unsigned j = 0; j < cur->n; j++) {
			char w2[16];
			if (strcmp(cur->s[j].name, "flashsale_worker_cycles_total") == 0 &&
			    label(cur->s[j].labels, "worker", w2, sizeof(w2)) && strcmp(w2, wk) == 0)
				all += rate(cur, prev, cur->s[j].name, cur->s[j].labels);
		}
		if (all > 0)
			printf("  %s: %.0f%%", wk, 100.0 * (all - idle) / all);
		else
			printf("  %s: -", wk);
	}
	printf("\n");

	/* drops and back pressure */
	double busy = rate(cur, prev, "flashsale_handoff_busy_total", ""),
	       pend = rate(cur, prev, "flashsale_pending_busy_total", "");
	printf("\n\033[1mdrops/s\033[0m  malformed %.0f  tx dropped %.0f  hand-off ring full %.0f  "
	       "pending full %.0f  rate-limited %.0f  unavailable %.0f\n",
	       rate(cur, prev, "flashsale_malformed_total", ""),
	       rate(cur, prev, "flashsale_tx_dropped_total", ""), busy, pend,
	       rate(cur, prev, "flashsale_rate_limited_total", ""),
	       rate(cur, prev, "flashsale_unavailable_total", ""));
	printf("hand-offs/s %.0f   held for the log/s %.0f   worker sleeps/s %.0f\n",
	       rate(cur, prev, "flashsale_handoffs_total", ""),
	       rate(cur, prev, "flashsale_held_total", ""),
	       rate(cur, prev, "flashsale_worker_sleeps_total", ""));

	if (val(cur, "flashsale_storage_failed", "") == 1 && an < sizeof(alerts))
		an += (size_t)snprintf(alerts + an, sizeof(alerts) - an, " storage fault;");
	if (busy > 0 && an < sizeof(alerts))
		an += (size_t)snprintf(alerts + an, sizeof(alerts) - an,
				       " hand-off ring full (%.0f BUSY/s);", busy);
	if (pend > 0 && an < sizeof(alerts))
		an += (size_t)snprintf(alerts + an, sizeof(alerts) - an,
				       " pending table full (%.0f BUSY/s);", pend);
	if (val(cur, "flashsale_ready", "") != 1 && an < sizeof(alerts))
		an += (size_t)snprintf(alerts + an, sizeof(alerts) - an, " not ready (/readyz);");
	if (cur->truncated && an < sizeof(alerts))
		an += (size_t)snprintf(alerts + an, sizeof(alerts) - an,
				       " more than %u samples: the rest not shown;",
				       TOP_SAMPLES_MAX);
	if (an)
		printf("\n\033[1;31mALERT:%s\033[0m\n", alerts);
	else
		printf("\n\033[32mno alerts\033[0m\n");
	fflush(stdout);
}

static int parse_target(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;

	if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
		return -EINVAL;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
	port = strtoul(colon + 1, &end, 10);
	if (*end || port == 0 || port > 65535 || inet_pton(AF_INET, host, &a->sin_addr) != 1)
		return -EINVAL;
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)port);
	return 0;
}

int flashsale_top_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"admin", required_argument, NULL, 'a'},
		{"config", required_argument, NULL, 'c'},
		{"interval-ms", required_argument, NULL, 'i'},
		{"iterations", required_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(8081),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	const char *config = NULL, *admin = NULL;
	long interval_ms = 1000, iterations = 0;
	struct fetch f[2] = {{0}, {0}};
	char target[64], *end;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a': admin = optarg; break;
		case 'c': config = optarg; break;
		case 'i':
			interval_ms = strtol(optarg, &end, 10);
			if (*end || interval_ms < 100 || interval_ms > 3600000) {
				fprintf(stderr, "flashsale top: --interval-ms: 100..3600000\n");
				return 2;
			}
			break;
		case 'n':
			iterations = strtol(optarg, &end, 10);
			if (*end || iterations < 0) {
				fprintf(stderr, "flashsale top: --iterations: a count >= 0\n");
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "flashsale top: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (admin && config) {
		fprintf(stderr, "flashsale top: --admin and --config exclude each other\n");
		return 2;
	}
	if (admin && parse_target(admin, &a) < 0) {
		fprintf(stderr, "flashsale top: --admin '%s': expected IPv4:PORT\n", admin);
		return 2;
	}
	if (config) {
		struct cfg cfg;
		char err[1024];
		if (cfg_load(config, fs_now_ns(), &cfg, err, sizeof(err)) < 0) {
			fprintf(stderr, "flashsale top: %s\n", err);
			return 2;
		}
		if (cfg.admin_port == 0) {
			fprintf(stderr,
				"flashsale top: %s: [admin] port = 0: no operations listener\n",
				config);
			cfg_free(&cfg);
			return 2;
		}
		a.sin_addr = cfg.admin_address;
		a.sin_port = htons(cfg.admin_port);
		cfg_free(&cfg);
	}
	snprintf(target, sizeof(target), "%s:%u", inet_ntoa(a.sin_addr), ntohs(a.sin_port));
	f[0].s = calloc(TOP_SAMPLES_MAX, sizeof(*f[0].s));
	f[1].s = calloc(TOP_SAMPLES_MAX, sizeof(*f[1].s));
	if (!f[0].s || !f[1].s) {
		fprintf(stderr, "flashsale top: out of memory\n");
		return 1;
	}
	signal(SIGINT, on_sigint);
	signal(SIGTERM, on_sigint);
	signal(SIGPIPE, SIG_IGN);
	for (long k = 0, cur = 0; !g_stop && (iterations == 0 || k < iterations); k++) {
		char *body = NULL, why[160] = "";
		double t0 = mono_s();
		int rc = http_get(&a, (int)interval_ms, &body, why, sizeof(why));

		if (rc == 0) {
			f[cur].at = mono_s();
			parse_body(body, &f[cur]);
			free(body);
			draw(target, &f[cur], &f[cur ^ 1], NULL);
			cur ^= 1;
		} else {
			f[cur ^ 1].n = 0; /* no rates across a gap */
			draw(target, NULL, NULL, why[0] ? why : fs_strerror(rc));
		}
		double left = interval_ms / 1e3 - (mono_s() - t0);
		if (!g_stop && left > 0 && (iterations == 0 || k + 1 < iterations))
			poll(NULL, 0, (int)(left * 1e3));
	}
	free(f[0].s);
	free(f[1].s);
	return 0;
}
