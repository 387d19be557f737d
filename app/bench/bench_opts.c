/*
 * bench_opts.c — flashsale-bench's command line. The integer options are a
 * schema table (name, bounds, where the value goes), as in config/; the rest
 * is a switch. Cross-option rules (--loop needs --duration, --rate excludes
 * --concurrency, ...) are checked once every option is read. Defaults and
 * bounds are the BENCH_* constants of bench.h.
 */
#include "bench.h"

#include <getopt.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_CONFIG = 256, OPT_SERVER, OPT_PORT, OPT_USERS, OPT_USER_BASE, OPT_ITEMS,
	OPT_ATTEMPTS, OPT_QTY, OPT_BATCH, OPT_CONCURRENCY, OPT_RATE, OPT_DURATION,
	OPT_LOOP, OPT_THREADS, OPT_TIMEOUT, OPT_SEED, OPT_JSON, OPT_ECHO, OPT_NO_VERDICT,
};

static const struct option long_opts[] = {
	{"config", required_argument, NULL, OPT_CONFIG},
	{"server", required_argument, NULL, OPT_SERVER},
	{"port", required_argument, NULL, OPT_PORT},
	{"users", required_argument, NULL, OPT_USERS},
	{"user-base", required_argument, NULL, OPT_USER_BASE},
	{"items", required_argument, NULL, OPT_ITEMS},
	{"attempts", required_argument, NULL, OPT_ATTEMPTS},
	{"qty", required_argument, NULL, OPT_QTY},
	{"batch", required_argument, NULL, OPT_BATCH},
	{"concurrency", required_argument, NULL, OPT_CONCURRENCY},
	{"rate", required_argument, NULL, OPT_RATE},
	{"duration", required_argument, NULL, OPT_DURATION},
	{"loop", no_argument, NULL, OPT_LOOP},
	{"threads", required_argument, NULL, OPT_THREADS},
	{"timeout-ms", required_argument, NULL, OPT_TIMEOUT},
	{"seed", required_argument, NULL, OPT_SEED},
	{"json", no_argument, NULL, OPT_JSON},
	{"echo", no_argument, NULL, OPT_ECHO},
	{"no-verdict", no_argument, NULL, OPT_NO_VERDICT},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* The integer options: a schema row each (name, bounds, where it goes). */
struct num_opt {
	int id;
	const char *name;
	uint64_t min, max;
	size_t off;
};

static const struct num_opt num_opts[] = {
	{OPT_PORT, "port", 1, 65535, offsetof(struct bench_opts, port)},
	{OPT_USERS, "users", 1, BENCH_USERS_MAX, offsetof(struct bench_opts, users)},
	{OPT_USER_BASE, "user-base", 1, UINT64_MAX / 2, offsetof(struct bench_opts, user_base)},
	{OPT_ATTEMPTS, "attempts", 1, BENCH_ATTEMPTS_MAX, offsetof(struct bench_opts, attempts)},
	{OPT_QTY, "qty", 1, UINT16_MAX, offsetof(struct bench_opts, qty)},
	{OPT_BATCH, "batch", 1, FS_MSGS_MAX, offsetof(struct bench_opts, batch)},
	{OPT_CONCURRENCY, "concurrency", 1, BENCH_CONCURRENCY_MAX,
	 offsetof(struct bench_opts, concurrency)},
	{OPT_RATE, "rate", 1, BENCH_RATE_MAX, offsetof(struct bench_opts, rate)},
	{OPT_THREADS, "threads", 1, BENCH_THREADS_MAX, offsetof(struct bench_opts, threads)},
	{OPT_TIMEOUT, "timeout-ms", 1, BENCH_TIMEOUT_MS_MAX,
	 offsetof(struct bench_opts, timeout_ms)},
	{OPT_SEED, "seed", 0, UINT64_MAX, offsetof(struct bench_opts, seed)},
};


static void usage(FILE *f)
{
	fputs("usage: flashsale-bench [options]\n"
	      "FSP/1 flash-sale load generator and outcome checker (kernel UDP sockets).\n"
	      "\n"
	      "target:\n"
	      "  --config FILE     appliance INI: address, udp_port, items, limits, token keys\n"
	      "  --server ADDR     IPv4 address (overrides the config; default 127.0.0.1)\n"
	      "  --port N          UDP port (overrides the config; default 7700)\n"
	      "  --echo            the target is an echo server: answers are the echoed\n"
	      "                    requests; no ITEM_STATUS queries, no verdict\n"
	      "workload:\n"
	      "  --users N         distinct users, 1..16777216 (default 10000)\n"
	      "  --user-base N     first user id (default 1)\n"
	      "  --items LIST      comma-separated item ids (default: every item in the\n"
	      "                    config); user_id u buys items[(u - user-base) % n_items]\n"
	      "  --attempts K      BUY attempts per user, sent in rounds over all users\n"
	      "                    (default 1); every attempt has its own request_id\n"
	      "  --qty N           units per BUY (default 1)\n"
	      "  --duration S      stop sending after S seconds (default: when all is sent)\n"
	      "  --loop            keep sending rounds (fresh request ids, the same users)\n"
	      "                    until --duration ends: steady state on a sold-out sale\n"
	      "load:\n"
	      "  --batch M         messages per datagram, 1..32 (default 1)\n"
	      "  --concurrency C   closed loop: C datagrams (C*M messages) in flight per\n"
	      "                    thread, 1..4096 (default 64)\n"
	      "  --rate R          open loop: R messages/s in total (instead of --concurrency)\n"
	      "  --threads T       threads, each with its own UDP socket (default 1)\n"
	      "  --timeout-ms N    unanswered this long counts as lost (default 1000)\n"
	      "  --seed N          request-id nonce (default: from the clock); the same seed\n"
	      "                    against the same server replays idempotent answers\n"
	      "output:\n"
	      "  --json            one JSON object with all results on stdout\n"
	      "  --no-verdict      figures only; exit 0 unless nothing answered\n"
	      "  -h, --help        this text\n"
	      "\n"
	      "Progress goes to stderr once a second. Exit: 0 PASS (or --echo/--no-verdict),\n"
	      "1 FAIL, 2 usage/config error, 3 the server never answered.\n"
	      "\n"
	      "examples:\n"
	      "  flashsale-bench --config config/flashsale.ini --users 200000 --attempts 3\n"
	      "  flashsale-bench --config config/flashsale.ini --loop --duration 10 --batch 16\n"
	      "  flashsale-bench --config config/flashsale.ini --rate 100000 --duration 5 --json\n"
	      "  bench_echo --port 7710 --duration 10 &\n"
	      "  flashsale-bench --echo --server 127.0.0.1 --port 7710 --loop --duration 3\n"
	      "\n"
	      "  flashsale-pcapgen --help      write BUY frames to a pcap file (pktgen replay;\n"
	      "                                also as flashsale-bench pcap)\n",
	      f);
}

static int parse_duration(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0 && v <= BENCH_DURATION_MAX_S)) {
		fprintf(stderr, "flashsale-bench: --duration: want seconds in (0, %.0f], got '%s'\n",
			BENCH_DURATION_MAX_S, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* One option. Returns 0, or -EINVAL on a bad value. */
static int parse_opt(struct bench_opts *o, int c, const char *arg)
{
	for (size_t i = 0; i < sizeof(num_opts) / sizeof(num_opts[0]); i++) {
		const struct num_opt *n = &num_opts[i];
		if (n->id == c) {
			o->concurrency_set |= c == OPT_CONCURRENCY;
			o->seed_set |= c == OPT_SEED;
			return bench_parse_u64("flashsale-bench", n->name, arg, n->min, n->max,
					       (uint64_t *)((char *)o + n->off));
		}
	}
	switch (c) {
	case OPT_CONFIG:
		o->config_path = arg;
		return 0;
	case OPT_SERVER:
		o->server = arg;
		return 0;
	case OPT_ITEMS:
		o->items = arg;
		return 0;
	case OPT_DURATION:
		return parse_duration(arg, &o->duration_s);
	case OPT_LOOP:
		o->loop = true;
		return 0;
	case OPT_JSON:
		o->json = true;
		return 0;
	case OPT_ECHO:
		o->echo = true;
		return 0;
	case OPT_NO_VERDICT:
		o->no_verdict = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static int check_opts(const struct bench_opts *o)
{
	const char *why = NULL;

	if (o->loop && o->duration_s == 0)
		why = "--loop needs --duration";
	else if (o->rate && o->concurrency_set)
		why = "--rate (open loop) and --concurrency (closed loop) exclude each other";
	else if (o->threads > o->users)
		why = "--threads must not exceed --users";
	else if (o->user_base > UINT64_MAX / 2 - o->users)
		why = "--user-base + --users is too large";
	else if (!o->config_path && !o->items && !o->echo)
		why = "give --config (or --items, or --echo)";
	if (why) {
		fprintf(stderr, "flashsale-bench: %s\n", why);
		return -EINVAL;
	}
	return 0;
}

/* Returns 0 to run, 1 after --help, -EINVAL on a usage error. */
int bench_parse_args(int argc, char **argv, struct bench_opts *o)
{
	int c, rc = 0;

	memset(o, 0, sizeof(*o));
	o->users = BENCH_DEFAULT_USERS;
	o->user_base = 1;
	o->attempts = 1;
	o->qty = 1;
	o->batch = 1;
	o->concurrency = BENCH_DEFAULT_CONCURRENCY;
	o->threads = 1;
	o->timeout_ms = BENCH_DEFAULT_TIMEOUT_MS;
	while (rc == 0 && (c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		rc = parse_opt(o, c, optarg);
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "flashsale-bench: unexpected argument '%s'\n", argv[optind]);
		rc = -EINVAL;
	}
	if (rc == 0)
		rc = check_opts(o);
	if (rc != 0)
		fputs("flashsale-bench: --help for usage\n", stderr);
	return rc;
}
