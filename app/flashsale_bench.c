/*
 * flashsale_bench.c — flashsale-bench: the FSP/1 load generator (kernel UDP
 * sockets, no DPDK) and the checker of a flash sale's outcome.
 *
 * A run
 *   1. Load the appliance INI (--config): server address and udp_port, the
 *      items (per_user_limit, max_per_order) and their activities' token
 *      keys, so that every BUY carries fs_token_buy(token_key, user_id,
 *      activity_id) when the activity has require_token.
 *   2. ITEM_STATUS for every item under test: available_before.
 *   3. T threads, each with its own connected UDP socket, send BUY messages
 *      in datagrams of --batch messages with sendmmsg and read the answers
 *      with recvmmsg. Closed loop (--concurrency C: at most C * batch
 *      messages in flight per thread, i.e. C full datagrams) or open loop
 *      (--rate R messages/s in total, paced per thread from the start).
 *   4. Wait up to --timeout-ms for stragglers, ITEM_STATUS again
 *      (available_after), print the figures and the verdict.
 *
 * Workload
 *   Users are user_base .. user_base + users - 1. User index i (user_id -
 *   user_base) always buys item items[i % n_items], qty --qty, and belongs
 *   to thread i % T, so all of a user's attempts leave from one socket, in
 *   order. Attempts go in rounds: round a sends one BUY for every user of
 *   the thread, then round a + 1, for --attempts rounds (or, with --loop,
 *   until --duration ends). Every attempt carries a new request_id.
 *
 * Request ids and the slot table (bounded, O(1) per message)
 *   request_id = nonce (18 bits) | gen (26) | slot (20). Each thread owns
 *   nslots slots (a power of two, >= 4096 and >= twice what it can have in
 *   flight). A message takes a free slot, bumps the slot's generation and
 *   keeps its send time there. An answer finds its slot from the low bits
 *   and is trusted only if the slot holds exactly that request_id and the
 *   user_id matches; anything else is counted (stale, duplicate), never
 *   acted on. The nonce comes from --seed (default: the clock), so runs
 *   against the same server do not replay each other's idempotent answers;
 *   the same --seed twice does, on purpose.
 *   In-flight slots are on a doubly linked list in send order. The timeout
 *   is the same for all, so the head is always the next to expire: expiry
 *   is O(1) per message. Free slots wait in a FIFO ring, so a slot that
 *   timed out keeps its request_id as long as possible and an answer that
 *   comes late is still matched ("late") and still counts for the verdict.
 *
 * Latency: per message, from just before the sendmmsg that carried it to
 *   the recvmmsg that returned its answer, in a log-linear histogram (HDR
 *   style: exact below 256 ns, then 128 buckets per power of two, so a
 *   percentile is within 0.8%). Throughput is over the sending interval
 *   (first to last sendmmsg of any thread), counting answers that arrived
 *   while their thread was still sending.
 *
 * Verdict (not with --echo or --no-verdict)
 *   (1) per item: units won by OK BUYs in this run == available_before -
 *       available_after. This assumes no other client, CANCEL or expiry
 *       during the run (pay_timeout_s must outlast it).
 *   (2) no user won more units than its item's per_user_limit in this run
 *       (needs --config).
 *   (3) no duplicate order id, and no order id 0, among OK answers.
 *
 * Threads share nothing mutable while running except relaxed progress
 * counters and the stop flag; all allocation happens before the run.
 *
 * Exit: 0 PASS (or --echo / --no-verdict), 1 FAIL, 2 usage, config or
 * socket error, 3 the server never answered anything.
 *
 * `flashsale-bench pcap ...` instead writes BUY datagrams as Ethernet frames
 * to a pcap file for pktgen's replay (see "pcap" below).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "cfg.h"
#include "dp.h"
#include "fs_common.h"
#include "fs_proto.h"
#include "fs_token.h"

/* ---- limits ---- */

#define BENCH_DGRAM_MAX (FSP_HDR_LEN + FSP_MSG_LEN * FS_MSGS_MAX)
#define BENCH_RX_BUF (BENCH_DGRAM_MAX + FSP_MSG_LEN) /* an oversized answer shows as such */
#define BENCH_THREADS_MAX 64
#define BENCH_USERS_MAX (1ull << 24)
#define BENCH_ATTEMPTS_MAX 1000000ull
#define BENCH_CONCURRENCY_MAX 4096ull
#define BENCH_RATE_MAX 100000000ull
#define BENCH_TIMEOUT_MS_MAX 60000ull
#define BENCH_DURATION_MAX_S 86400.0
#define BENCH_OK_ORDERS_MAX (1ull << 24)          /* order ids kept per thread for check (3) */
#define BENCH_SOCKBUF (4 << 20)                   /* capped by net.core.{r,w}mem_max */
#define BENCH_WAIT_MAX_NS (100 * FS_NS_PER_MS)    /* a waiting thread looks up this often */
#define BENCH_TICK_NS (50 * FS_NS_PER_MS)         /* the main thread's polling step */
#define BENCH_NO_ANSWER_MIN_NS (3 * FS_NS_PER_S)  /* give up on a silent server after this */
#define BENCH_STATUS_TRIES 3                      /* ITEM_STATUS rounds before giving up */
#define BENCH_STATUS_WINDOW (16 * FS_MSGS_MAX)    /* ITEM_STATUS messages in flight */
#define BENCH_ITEMS_SHOWN 32                      /* item lines printed in full */

#define SLOT_BITS 20
#define GEN_BITS 26
#define NONCE_BITS 18
#define SLOT_MASK ((1ull << SLOT_BITS) - 1)
#define GEN_MASK ((1ull << GEN_BITS) - 1)
#define NONCE_MASK ((1ull << NONCE_BITS) - 1)
#define SLOTS_MIN 4096ull
#define SLOT_NIL UINT32_MAX
#define STATUS_NONE 0xffu /* no ITEM_STATUS answer (yet) */

_Static_assert(SLOT_BITS + GEN_BITS + NONCE_BITS == 64, "request_id is 64 bits");
_Static_assert(2 * BENCH_CONCURRENCY_MAX * FS_MSGS_MAX <= (1ull << SLOT_BITS),
	       "a closed-loop window fits in the slot bits");
_Static_assert(BENCH_USERS_MAX <= UINT32_MAX, "user_local is 32 bits");
_Static_assert(FS_ST_COUNT < STATUS_NONE, "STATUS_NONE is not a status");

#define HIST_SUB_BITS 8
#define HIST_SUB (1u << HIST_SUB_BITS)  /* values below are exact */
#define HIST_HALF (HIST_SUB / 2)        /* buckets per power of two above */
#define HIST_MSB_MAX 39                 /* values clamp at 2^40 - 1 ns (18 min) */
#define HIST_VMAX ((1ull << (HIST_MSB_MAX + 1)) - 1)
#define HIST_BUCKETS (HIST_SUB + (HIST_MSB_MAX - HIST_SUB_BITS + 1) * HIST_HALF)

/* ---- types ---- */

struct bench_opts {
	const char *config_path;
	const char *server;
	const char *items;
	uint64_t port;         /* 0: from the config, else 7700 */
	uint64_t users;
	uint64_t user_base;
	uint64_t attempts;
	uint64_t qty;
	uint64_t batch;
	uint64_t concurrency;
	uint64_t rate;         /* messages/s in total; 0: closed loop */
	uint64_t threads;
	uint64_t timeout_ms;
	uint64_t seed;
	double duration_s;     /* 0: until all work is sent */
	bool concurrency_set;
	bool seed_set;
	bool loop;
	bool json;
	bool echo;
	bool no_verdict;
};

struct bench_item {
	uint32_t id;
	uint32_t activity_id;
	uint32_t per_user_limit;  /* 0: unknown (no --config) */
	uint16_t max_per_order;
	bool require_token;
	uint8_t token_key[FS_KEY_LEN];
	uint8_t st_before;        /* ITEM_STATUS answer status, STATUS_NONE if none */
	uint8_t st_after;
	uint32_t avail_before;
	uint32_t avail_after;
	uint64_t won;             /* units won by OK BUYs, summed over the threads */
};

enum slot_state { SLOT_FREE = 0, SLOT_BUILT, SLOT_INFLIGHT, SLOT_LOST, SLOT_DONE };

struct slot {
	uint64_t request_id;
	int64_t send_ns;
	uint32_t prev, next;      /* in-flight list, oldest first */
	uint32_t user_local;      /* the user's index among the thread's users */
	uint8_t state;            /* enum slot_state */
};

/* Per-thread counters, summed after the run; X-macro so that summing and
 * printing cannot miss one. */
#define BENCH_COUNTERS(X)                                                            \
	X(sent_msgs) X(sent_dgrams) X(rx_dgrams) X(rx_msgs) X(answered)              \
	X(answered_in_window) X(lost) X(late) X(stale) X(dup) X(malformed)           \
	X(mismatched) X(refused) X(slot_stalls) X(zero_orders) X(lat_count)

struct bench_stats {
#define X(name) uint64_t name;
	BENCH_COUNTERS(X)
#undef X
	uint64_t status[FS_ST_COUNT + 1];   /* [FS_ST_COUNT]: codes we do not know */
	uint64_t hist[HIST_BUCKETS];        /* latency, ns */
	uint64_t lat_max_ns;
	int64_t first_send_ns;              /* 0: nothing sent */
	int64_t last_send_ns;
};

struct bench;

struct bench_thread {
	struct bench *b;
	unsigned id;
	int fd;
	int fatal;                 /* -errno of a hard socket error, else 0 */
	pthread_t tid;
	bool started;

	struct slot *slots;
	uint32_t *free_ring;       /* FIFO of free slots */
	uint32_t nslots, free_head, free_count;
	uint32_t infl_head, infl_tail;
	uint32_t busy;             /* slots built or in flight */

	uint64_t n_users;          /* users i with i % T == id */
	uint64_t next_user;        /* work cursor: user_local and round */
	uint64_t round;
	uint64_t built_msgs;       /* open-loop pacing */
	bool gen_done;             /* every attempt has been built */
	bool stopped;              /* duration over, signal, or a hard error */
	bool sending_over;

	uint8_t (*txbuf)[BENCH_DGRAM_MAX];
	uint8_t (*rxbuf)[BENCH_RX_BUF];
	struct iovec tx_iov[FS_BURST_MAX], rx_iov[FS_BURST_MAX];
	struct mmsghdr tx_mh[FS_BURST_MAX], rx_mh[FS_BURST_MAX];
	uint32_t tx_slot[FS_BURST_MAX][FS_MSGS_MAX];
	unsigned tx_count[FS_BURST_MAX];
	unsigned tx_pending;       /* datagrams built, not yet sent */

	uint32_t *user_won;        /* n_users: units won per user */
	uint64_t *item_won;        /* n_items: units won per item */
	uint64_t *ok_orders;       /* order ids of OK answers, for check (3) */
	uint64_t n_ok, ok_cap, ok_overflow;

	struct bench_stats st;

	/* Progress for the main thread (relaxed; written only by this thread). */
	_Atomic uint64_t pub_sent, pub_answered, pub_ok, pub_lost;
	atomic_bool finished;
};

struct bench {
	struct bench_opts o;
	struct cfg cfg;
	bool have_cfg;
	struct sockaddr_in server;
	char target[INET_ADDRSTRLEN + 8];
	struct bench_item *items;
	unsigned n_items;
	uint64_t nonce;
	int64_t timeout_ns;
	int64_t start_ns;
	int64_t end_ns;            /* 0: no --duration */
	bool gave_up;              /* the server stayed silent: stopped early */
	struct bench_thread *th;
	unsigned n_threads;
};

struct verdict {
	unsigned bad_items;        /* check (1) failed */
	unsigned unknown_items;    /* no ITEM_STATUS before or after */
	uint64_t over_limit;       /* check (2): users over per_user_limit */
	uint64_t first_over_user;
	bool limit_unknown;        /* no per_user_limit known (no --config) */
	uint64_t ok_ids;           /* OK answers whose order id was checked */
	uint64_t dup_orders;       /* check (3) */
	uint64_t unchecked;        /* order ids not kept (table full / no memory) */
	bool pass;
	char reasons[512];
};

/* Set by SIGINT/SIGTERM or by the main thread; read by the senders. */
static atomic_bool g_stop;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&g_stop, true);
}

/* ---- options ---- */

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
	      "  flashsale-bench pcap --help   write BUY frames to a pcap file (pktgen replay)\n",
	      f);
}

static int parse_u64(const char *name, const char *s, uint64_t min, uint64_t max,
		     uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "flashsale-bench: --%s: want an integer in %" PRIu64 "..%" PRIu64
			", got '%s'\n", name, min, max, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
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
			return parse_u64(n->name, arg, n->min, n->max,
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
static int parse_args(int argc, char **argv, struct bench_opts *o)
{
	int c, rc = 0;

	memset(o, 0, sizeof(*o));
	o->users = 10000;
	o->user_base = 1;
	o->attempts = 1;
	o->qty = 1;
	o->batch = 1;
	o->concurrency = 64;
	o->threads = 1;
	o->timeout_ms = 1000;
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

/* ---- setup: config, target, items ---- */

static int resolve_target(struct bench *b)
{
	struct sockaddr_in *sa = &b->server;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa->sin_port = htons(FSP_DEFAULT_PORT);
	if (b->have_cfg) {
		/* A server bound to 0.0.0.0 is reached on the loopback. */
		if (b->cfg.address.s_addr != htonl(INADDR_ANY))
			sa->sin_addr = b->cfg.address;
		sa->sin_port = htons(b->cfg.udp_port);
	}
	if (b->o.server && inet_pton(AF_INET, b->o.server, &sa->sin_addr) != 1) {
		fprintf(stderr, "flashsale-bench: --server: not an IPv4 address: '%s'\n",
			b->o.server);
		return -EINVAL;
	}
	if (b->o.port)
		sa->sin_port = htons((uint16_t)b->o.port);
	inet_ntop(AF_INET, &sa->sin_addr, b->target, INET_ADDRSTRLEN);
	snprintf(b->target + strlen(b->target), 8, ":%u", ntohs(sa->sin_port));
	return 0;
}

/* Item ids from --items into ids[] (at most max). Returns the count or -EINVAL. */
static int parse_item_list(const char *s, uint32_t *ids, unsigned max)
{
	unsigned n = 0;

	while (*s) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno || end == s || *s == '-' || v == 0 || v > UINT32_MAX || n == max ||
		    (*end != ',' && *end != '\0') || (*end == ',' && end[1] == '\0')) {
			fprintf(stderr, "flashsale-bench: --items: bad list at '%s' (ids 1..%u, "
				"at most %u)\n", s, UINT32_MAX, max);
			return -EINVAL;
		}
		ids[n++] = (uint32_t)v;
		s = *end == ',' ? end + 1 : end;
	}
	return (int)n;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Fill limits and the token key of one item from the config. */
static int item_from_cfg(const struct bench *b, struct bench_item *it)
{
	const struct cfg_item *ci = cfg_find_item(&b->cfg, it->id);
	const struct cfg_activity *ca;

	if (!ci) {
		fprintf(stderr, "flashsale-bench: item %u is not in %s\n", it->id, b->o.config_path);
		return -EINVAL;
	}
	ca = cfg_find_activity(&b->cfg, ci->activity_id);
	FS_ASSERT(ca != NULL); /* the loader checked the reference */
	it->activity_id = ci->activity_id;
	it->per_user_limit = ci->per_user_limit;
	it->max_per_order = ci->max_per_order;
	it->require_token = ca->require_token;
	memcpy(it->token_key, ca->token_key, FS_KEY_LEN);
	if (b->o.qty > ci->max_per_order && !b->o.json)
		fprintf(stderr, "flashsale-bench: note: --qty %" PRIu64 " > max_per_order %u of "
			"item %u: expect LIMIT_EXCEEDED\n", b->o.qty, ci->max_per_order, it->id);
	return 0;
}

/* The item ids under test, without duplicates; ids is n entries, owned by
 * the caller. */
static int check_unique(const uint32_t *ids, unsigned n)
{
	uint32_t *s = malloc((size_t)n * sizeof(*s));

	if (!s)
		return -ENOMEM;
	memcpy(s, ids, (size_t)n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_u32);
	for (unsigned i = 1; i < n; i++) {
		if (s[i] == s[i - 1]) {
			fprintf(stderr, "flashsale-bench: --items: item %u given twice\n", s[i]);
			free(s);
			return -EINVAL;
		}
	}
	free(s);
	return 0;
}

static int setup_items(struct bench *b)
{
	uint32_t *ids = calloc(FS_ITEMS_MAX, sizeof(*ids));
	int n = 0, rc = 0;

	if (!ids)
		return -ENOMEM;
	if (b->o.items)
		n = parse_item_list(b->o.items, ids, FS_ITEMS_MAX);
	else if (b->have_cfg)
		for (unsigned i = 0; i < b->cfg.n_items; i++)
			ids[n++] = b->cfg.items[i].id;
	else
		ids[n++] = 1; /* --echo without items: any id will do */
	if (n == 0) {
		fprintf(stderr, "flashsale-bench: no items to buy\n");
		n = -EINVAL;
	}
	if (n < 0 || check_unique(ids, (unsigned)n) != 0 ||
	    !(b->items = calloc((size_t)n, sizeof(*b->items)))) {
		free(ids);
		return -EINVAL;
	}
	b->n_items = (unsigned)n;
	for (unsigned i = 0; i < b->n_items && rc == 0; i++) {
		struct bench_item *it = &b->items[i];
		it->id = ids[i];
		it->st_before = it->st_after = STATUS_NONE;
		it->max_per_order = UINT16_MAX;
		if (b->have_cfg)
			rc = item_from_cfg(b, it);
	}
	free(ids);
	return rc;
}

/* splitmix64: one good mix of the seed into the request-id nonce. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static int setup(struct bench *b)
{
	char err[512];
	int rc;

	if (b->o.config_path) {
		rc = cfg_load(b->o.config_path, fs_now_ns(), &b->cfg, err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "flashsale-bench: %s\n", err);
			return rc;
		}
		b->have_cfg = true;
	}
	rc = resolve_target(b);
	if (rc == 0)
		rc = setup_items(b);
	if (rc != 0)
		return rc;
	if (!b->o.seed_set)
		b->o.seed = (uint64_t)fs_now_ns() ^ ((uint64_t)getpid() << 32);
	b->nonce = mix64(b->o.seed) & NONCE_MASK;
	b->timeout_ns = (int64_t)b->o.timeout_ms * FS_NS_PER_MS;
	b->n_threads = (unsigned)b->o.threads;
	return 0;
}

/* A UDP socket connected to the target (so the kernel filters other
 * sources and reports ICMP errors). Returns the fd or -errno. */
static int bench_socket(const struct bench *b)
{
	int sz = BENCH_SOCKBUF, err;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* Best effort: the kernel caps these at net.core.{r,w}mem_max. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (connect(fd, (const struct sockaddr *)&b->server, sizeof(b->server)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* ---- ITEM_STATUS before and after the run ---- */

static uint8_t *item_st(struct bench_item *it, bool after)
{
	return after ? &it->st_after : &it->st_before;
}

/* Send ITEM_STATUS for the items of [lo, hi) that have no answer yet, in
 * datagrams of up to 32. Request ids are index + 1 (+ 2^40 after the run). */
static void status_send(struct bench *b, int fd, unsigned lo, unsigned hi, bool after)
{
	uint8_t buf[BENCH_DGRAM_MAX];
	unsigned n = 0;

	for (unsigned i = lo; i < hi; i++) {
		struct fs_req q = {.op = FS_OP_ITEM_STATUS, .item_id = b->items[i].id};
		if (*item_st(&b->items[i], after) != STATUS_NONE)
			continue;
		q.request_id = (after ? 1ull << 40 : 0) + i + 1;
		dp_fsp_encode_req(&q, buf + FSP_HDR_LEN + FSP_MSG_LEN * n++);
		if (n == FS_MSGS_MAX || i + 1 == hi) {
			dp_fsp_write_header(buf, n);
			(void)send(fd, buf, FSP_HDR_LEN + FSP_MSG_LEN * n, 0);
			n = 0;
		}
	}
	if (n > 0) {
		dp_fsp_write_header(buf, n);
		(void)send(fd, buf, FSP_HDR_LEN + FSP_MSG_LEN * n, 0);
	}
}

/* Take one ITEM_STATUS answer datagram; returns how many items it answered. */
static unsigned status_take(struct bench *b, const uint8_t *buf, ssize_t len, bool after)
{
	int n = len > 0 ? dp_fsp_parse_header(buf, (size_t)len) : -1;
	unsigned got = 0;

	for (int m = 0; m < n; m++) {
		struct fs_resp r;
		uint64_t idx;
		struct bench_item *it;

		dp_fsp_decode_resp(buf + FSP_HDR_LEN + FSP_MSG_LEN * m, &r);
		idx = r.request_id - (after ? 1ull << 40 : 0) - 1;
		if (r.op != FS_OP_ITEM_STATUS || idx >= b->n_items)
			continue;
		it = &b->items[idx];
		if (r.item_id != it->id || *item_st(it, after) != STATUS_NONE)
			continue;
		*item_st(it, after) = r.status < FS_ST_COUNT ? r.status : FS_ST_COUNT;
		*(after ? &it->avail_after : &it->avail_before) = r.available;
		got++;
	}
	return got;
}

/* One window [lo, hi): send, then read answers until all came or timeout. */
static void status_window(struct bench *b, int fd, unsigned lo, unsigned hi, bool after)
{
	uint8_t buf[BENCH_RX_BUF];
	int64_t deadline = fs_mono_ns() + b->timeout_ns;
	unsigned missing = 0;

	for (unsigned i = lo; i < hi; i++)
		missing += *item_st(&b->items[i], after) == STATUS_NONE;
	if (missing == 0)
		return;
	status_send(b, fd, lo, hi, after);
	while (missing > 0) {
		int64_t left_ms = (deadline - fs_mono_ns()) / FS_NS_PER_MS;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left_ms <= 0 || poll(&p, 1, (int)left_ms) <= 0)
			break;
		ssize_t len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		unsigned got = status_take(b, buf, len, after);
		missing -= got < missing ? got : missing;
	}
}

/* ITEM_STATUS for every item, up to BENCH_STATUS_TRIES rounds. Returns how
 * many items were answered, or -errno if no socket. */
static int query_items(struct bench *b, bool after)
{
	int fd = bench_socket(b);
	int answered = 0;

	if (fd < 0) {
		fprintf(stderr, "flashsale-bench: socket: %s\n", fs_strerror(fd));
		return fd;
	}
	for (int t = 0; t < BENCH_STATUS_TRIES; t++)
		for (unsigned lo = 0; lo < b->n_items; lo += BENCH_STATUS_WINDOW) {
			unsigned hi = lo + BENCH_STATUS_WINDOW;
			status_window(b, fd, lo, hi < b->n_items ? hi : b->n_items, after);
		}
	close(fd);
	for (unsigned i = 0; i < b->n_items; i++)
		answered += *item_st(&b->items[i], after) != STATUS_NONE;
	return answered;
}

/* Before the run: every item must be known to the server. Returns 0, 2
 * (config error) or 3 (no answer at all). */
static int pre_status(struct bench *b)
{
	int answered = query_items(b, false);

	if (answered < 0)
		return 2;
	if (answered == 0) {
		fprintf(stderr, "flashsale-bench: no answer to ITEM_STATUS from %s within %" PRIu64
			" ms (x%d): is the server up?\n", b->target, b->o.timeout_ms,
			BENCH_STATUS_TRIES);
		return 3;
	}
	for (unsigned i = 0; i < b->n_items; i++) {
		const struct bench_item *it = &b->items[i];
		if (it->st_before == FS_ST_UNKNOWN_ITEM) {
			fprintf(stderr, "flashsale-bench: the server does not know item %u "
				"(another config?)\n", it->id);
			return 2;
		}
		if (it->st_before == STATUS_NONE)
			fprintf(stderr, "flashsale-bench: warning: no ITEM_STATUS for item %u\n",
				it->id);
		else if (it->st_before != FS_ST_OK)
			fprintf(stderr, "flashsale-bench: warning: ITEM_STATUS of item %u: %s\n",
				it->id, fs_status_name(it->st_before));
	}
	return 0;
}

/* ---- the latency histogram ---- */

static unsigned hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < HIST_SUB)
		return (unsigned)v;
	if (v > HIST_VMAX)
		v = HIST_VMAX;
	msb = 63u - (unsigned)__builtin_clzll(v);
	shift = msb - (HIST_SUB_BITS - 1);
	return HIST_SUB + (shift - 1) * HIST_HALF + (unsigned)((v >> shift) - HIST_HALF);
}

/* The highest value that lands in bucket idx. */
static uint64_t hist_upper(unsigned idx)
{
	unsigned k, shift;

	if (idx < HIST_SUB)
		return idx;
	k = idx - HIST_SUB;
	shift = k / HIST_HALF + 1;
	return ((uint64_t)(HIST_HALF + k % HIST_HALF + 1) << shift) - 1;
}

static uint64_t hist_pct(const struct bench_stats *st, double q)
{
	uint64_t rank, acc = 0;

	if (st->lat_count == 0)
		return 0;
	rank = (uint64_t)ceil(q * (double)st->lat_count);
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		acc += st->hist[i];
		if (acc >= rank)
			return hist_upper(i) < st->lat_max_ns ? hist_upper(i) : st->lat_max_ns;
	}
	return st->lat_max_ns;
}

/* ---- the slot table ---- */

static uint64_t user_gidx(const struct bench_thread *th, uint64_t user_local)
{
	return th->id + user_local * th->b->n_threads;
}

static uint32_t slot_take(struct bench_thread *th, uint32_t user_local)
{
	uint32_t s;
	struct slot *e;
	uint64_t gen;

	FS_ASSERT(th->free_count > 0);
	s = th->free_ring[th->free_head];
	th->free_head = (th->free_head + 1) & (th->nslots - 1);
	th->free_count--;
	e = &th->slots[s];
	gen = ((e->request_id >> SLOT_BITS) + 1) & GEN_MASK;
	if (gen == 0)
		gen = 1; /* request_id is never 0 */
	e->request_id = th->b->nonce << (SLOT_BITS + GEN_BITS) | gen << SLOT_BITS | s;
	e->user_local = user_local;
	e->state = SLOT_BUILT;
	th->busy++;
	return s;
}

static void slot_free(struct bench_thread *th, uint32_t s)
{
	FS_ASSERT(th->free_count < th->nslots && th->busy > 0);
	th->free_ring[(th->free_head + th->free_count) & (th->nslots - 1)] = s;
	th->free_count++;
	th->busy--;
}

static void infl_append(struct bench_thread *th, uint32_t s)
{
	struct slot *e = &th->slots[s];

	e->prev = th->infl_tail;
	e->next = SLOT_NIL;
	if (th->infl_tail != SLOT_NIL)
		th->slots[th->infl_tail].next = s;
	else
		th->infl_head = s;
	th->infl_tail = s;
}

static void infl_unlink(struct bench_thread *th, uint32_t s)
{
	struct slot *e = &th->slots[s];

	if (e->prev != SLOT_NIL)
		th->slots[e->prev].next = e->next;
	else
		th->infl_head = e->next;
	if (e->next != SLOT_NIL)
		th->slots[e->next].prev = e->prev;
	else
		th->infl_tail = e->prev;
}

/* Messages unanswered for timeout_ns are lost; the list is in send order,
 * so only its head can be due. */
static void expire(struct bench_thread *th, int64_t now)
{
	int64_t limit = now - th->b->timeout_ns;

	while (th->infl_head != SLOT_NIL && th->slots[th->infl_head].send_ns <= limit) {
		uint32_t s = th->infl_head;
		infl_unlink(th, s);
		th->slots[s].state = SLOT_LOST;
		slot_free(th, s);
		th->st.lost++;
	}
}

/* ---- sending ---- */

/* Advance the work cursor: next user, and a new round after the last. */
static void next_work(struct bench_thread *th)
{
	if (++th->next_user < th->n_users)
		return;
	th->next_user = 0;
	th->round++;
	if (!th->b->o.loop && th->round >= th->b->o.attempts)
		th->gen_done = true;
}

static void build_msg(struct bench_thread *th, uint32_t s, uint8_t *msg)
{
	const struct bench *b = th->b;
	uint64_t gidx = user_gidx(th, th->next_user);
	const struct bench_item *it = &b->items[gidx % b->n_items];
	struct fs_req q = {
		.op = FS_OP_BUY,
		.qty = (uint16_t)b->o.qty,
		.item_id = it->id,
		.user_id = b->o.user_base + gidx,
		.request_id = th->slots[s].request_id,
	};

	if (it->require_token)
		fs_token_buy(it->token_key, q.user_id, it->activity_id, q.token);
	dp_fsp_encode_req(&q, msg);
}

/* Build datagram d of the pending burst from the work cursor; returns its
 * message count (0 when the work is done). */
static unsigned build_dgram(struct bench_thread *th, unsigned d)
{
	uint8_t *buf = th->txbuf[d];
	unsigned n = 0;

	while (n < th->b->o.batch && !th->gen_done) {
		uint32_t s = slot_take(th, (uint32_t)th->next_user);
		build_msg(th, s, buf + FSP_HDR_LEN + (size_t)FSP_MSG_LEN * n);
		th->tx_slot[d][n++] = s;
		next_work(th);
	}
	if (n > 0)
		dp_fsp_write_header(buf, n);
	th->tx_count[d] = n;
	th->tx_iov[d].iov_len = FSP_HDR_LEN + (size_t)FSP_MSG_LEN * n;
	th->built_msgs += n;
	return n;
}

/* How many more datagrams may be built now: the closed-loop window or the
 * open-loop schedule, the burst room and the free slots. */
static unsigned tx_budget(struct bench_thread *th, int64_t now)
{
	const struct bench *b = th->b;
	uint64_t m = b->o.batch, want, n;

	if (th->gen_done || th->stopped)
		return 0;
	if (b->o.rate) {
		double due = (double)(now - b->start_ns) * 1e-9 * (double)b->o.rate /
			     (double)b->n_threads;
		want = due > (double)th->built_msgs ? (uint64_t)(due - (double)th->built_msgs) / m
						    : 0;
	} else {
		uint64_t window = b->o.concurrency * m;
		want = th->busy + m <= window ? (window - th->busy) / m : 0;
	}
	n = want < FS_BURST_MAX - th->tx_pending ? want : FS_BURST_MAX - th->tx_pending;
	if (n > th->free_count / m) {
		th->st.slot_stalls++;
		n = th->free_count / m;
	}
	return (unsigned)n;
}

/* Datagrams [0, sent) left: stamp their messages and put them in flight,
 * then move the unsent rest to the front. */
static void tx_sent(struct bench_thread *th, unsigned sent, int64_t t)
{
	for (unsigned d = 0; d < sent; d++) {
		for (unsigned m = 0; m < th->tx_count[d]; m++) {
			uint32_t s = th->tx_slot[d][m];
			th->slots[s].send_ns = t;
			th->slots[s].state = SLOT_INFLIGHT;
			infl_append(th, s);
		}
		th->st.sent_msgs += th->tx_count[d];
	}
	th->st.sent_dgrams += sent;
	if (th->st.first_send_ns == 0)
		th->st.first_send_ns = t;
	th->st.last_send_ns = t;
	for (unsigned d = sent; d < th->tx_pending; d++) {
		unsigned to = d - sent;
		memcpy(th->txbuf[to], th->txbuf[d], th->tx_iov[d].iov_len);
		memcpy(th->tx_slot[to], th->tx_slot[d], sizeof(th->tx_slot[d]));
		th->tx_count[to] = th->tx_count[d];
		th->tx_iov[to].iov_len = th->tx_iov[d].iov_len;
	}
	th->tx_pending -= sent;
}

/* Give back the slots of datagrams that will never be sent. */
static void tx_drop(struct bench_thread *th)
{
	for (unsigned d = 0; d < th->tx_pending; d++)
		for (unsigned m = 0; m < th->tx_count[d]; m++) {
			th->slots[th->tx_slot[d][m]].state = SLOT_FREE;
			slot_free(th, th->tx_slot[d][m]);
		}
	th->tx_pending = 0;
}

static void tx_error(struct bench_thread *th, int err)
{
	if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == EINTR)
		return;
	if (err == ECONNREFUSED) {
		/* An ICMP port unreachable for an earlier datagram; these were not sent. */
		th->st.refused++;
		return;
	}
	th->fatal = -err;
	th->stopped = true;
	tx_drop(th);
}

/* Build what the budget allows and send the pending burst. Returns the
 * datagrams sent. */
static unsigned tx_some(struct bench_thread *th, int64_t now)
{
	unsigned want = tx_budget(th, now);
	int64_t t;
	int r;

	for (unsigned i = 0; i < want; i++) {
		if (build_dgram(th, th->tx_pending) == 0)
			break;
		th->tx_pending++;
	}
	if (th->tx_pending == 0)
		return 0;
	t = fs_mono_ns();
	r = sendmmsg(th->fd, th->tx_mh, th->tx_pending, MSG_DONTWAIT);
	if (r <= 0) {
		if (r < 0)
			tx_error(th, errno);
		return 0;
	}
	tx_sent(th, (unsigned)r, t);
	return (unsigned)r;
}

/* ---- receiving ---- */

/* Book an answer's outcome for the verdict. */
static void account(struct bench_thread *th, const struct slot *e, const struct fs_resp *r)
{
	const struct bench *b = th->b;
	uint32_t ii = (uint32_t)(user_gidx(th, e->user_local) % b->n_items);
	uint32_t w;

	if (b->o.echo)
		return; /* an echo is our own request: nothing to book */
	th->st.status[r->status < FS_ST_COUNT ? r->status : FS_ST_COUNT]++;
	if (r->op != FS_OP_BUY || r->item_id != b->items[ii].id) {
		th->st.mismatched++;
		return;
	}
	if (r->status != FS_ST_OK)
		return;
	w = th->user_won[e->user_local];
	th->user_won[e->user_local] = w > UINT32_MAX - r->qty ? UINT32_MAX : w + r->qty;
	th->item_won[ii] += r->qty;
	if (r->order_id == 0)
		th->st.zero_orders++;
	else if (th->n_ok < th->ok_cap)
		th->ok_orders[th->n_ok++] = r->order_id;
	else
		th->ok_overflow++;
}

static void rx_msg(struct bench_thread *th, const uint8_t *msg, int64_t now)
{
	struct fs_resp r;
	uint64_t s;
	struct slot *e;

	dp_fsp_decode_resp(msg, &r);
	th->st.rx_msgs++;
	s = r.request_id & SLOT_MASK;
	e = s < th->nslots ? &th->slots[s] : NULL;
	if (!e || e->request_id != r.request_id || e->state == SLOT_FREE ||
	    e->state == SLOT_BUILT ||
	    r.user_id != th->b->o.user_base + user_gidx(th, e->user_local)) {
		th->st.stale++;
		return;
	}
	if (e->state == SLOT_DONE) {
		th->st.dup++;
		return;
	}
	if (e->state == SLOT_INFLIGHT) {
		uint64_t lat = now > e->send_ns ? (uint64_t)(now - e->send_ns) : 0;
		th->st.hist[hist_index(lat)]++;
		th->st.lat_count++;
		if (lat > th->st.lat_max_ns)
			th->st.lat_max_ns = lat;
		infl_unlink(th, (uint32_t)s);
		slot_free(th, (uint32_t)s);
		th->st.answered++;
		th->st.answered_in_window += !th->sending_over;
	} else {
		th->st.late++; /* SLOT_LOST: counted lost, answered after all */
	}
	e->state = SLOT_DONE;
	account(th, e, &r);
}

/* One received datagram: framing first, then every message. */
static void rx_dgram(struct bench_thread *th, unsigned i, int64_t now)
{
	const uint8_t *buf = th->rxbuf[i];
	int n = (th->rx_mh[i].msg_hdr.msg_flags & MSG_TRUNC)
			? -DP_FSP_ERR_LENGTH
			: dp_fsp_parse_header(buf, th->rx_mh[i].msg_len);

	if (n < 0) {
		th->st.malformed++;
		return;
	}
	for (int m = 0; m < n; m++)
		rx_msg(th, buf + FSP_HDR_LEN + (size_t)FSP_MSG_LEN * m, now);
}

static unsigned rx_some(struct bench_thread *th)
{
	int r = recvmmsg(th->fd, th->rx_mh, FS_BURST_MAX, MSG_DONTWAIT, NULL);
	int64_t now;

	if (r <= 0) {
		if (r < 0 && errno == ECONNREFUSED)
			th->st.refused++;
		return 0;
	}
	now = fs_mono_ns();
	for (int i = 0; i < r; i++)
		rx_dgram(th, (unsigned)i, now);
	th->st.rx_dgrams += (uint64_t)r;
	return (unsigned)r;
}

/* ---- the sender/receiver thread ---- */

/* Block until the socket is ready or the next thing is due: the oldest
 * message's timeout, the open-loop schedule, the end of the run. */
static void wait_io(const struct bench_thread *th, int64_t now)
{
	const struct bench *b = th->b;
	int64_t w = BENCH_WAIT_MAX_NS;
	struct pollfd p = {.fd = th->fd, .events = POLLIN};
	struct timespec ts;

	if (th->tx_pending)
		p.events |= POLLOUT;
	if (th->infl_head != SLOT_NIL) {
		int64_t due = th->slots[th->infl_head].send_ns + b->timeout_ns - now;
		w = due < w ? due : w;
	}
	if (!th->sending_over && b->end_ns && b->end_ns - now < w)
		w = b->end_ns - now;
	if (!th->sending_over && b->o.rate) {
		double next = (double)(th->built_msgs + b->o.batch) * 1e9 * (double)b->n_threads /
			      (double)b->o.rate;
		int64_t due = b->start_ns + (int64_t)next - now;
		w = due < w ? due : w;
	}
	if (w < 0)
		w = 0;
	ts.tv_sec = w / FS_NS_PER_S;
	ts.tv_nsec = w % FS_NS_PER_S;
	(void)ppoll(&p, 1, &ts, NULL);
}

static void publish(struct bench_thread *th)
{
	atomic_store_explicit(&th->pub_sent, th->st.sent_msgs, memory_order_relaxed);
	atomic_store_explicit(&th->pub_answered, th->st.answered, memory_order_relaxed);
	atomic_store_explicit(&th->pub_ok, th->st.status[FS_ST_OK], memory_order_relaxed);
	atomic_store_explicit(&th->pub_lost, th->st.lost, memory_order_relaxed);
}

static void *thread_main(void *arg)
{
	struct bench_thread *th = arg;
	const struct bench *b = th->b;

	for (;;) {
		int64_t now = fs_mono_ns();
		unsigned tx, rx;

		expire(th, now);
		if (!th->stopped && (atomic_load_explicit(&g_stop, memory_order_relaxed) ||
				     (b->end_ns && now >= b->end_ns))) {
			th->stopped = true;
			tx_drop(th);
		}
		th->sending_over = th->stopped || (th->gen_done && th->tx_pending == 0);
		if (th->sending_over && th->busy == 0)
			break;
		tx = tx_some(th, now);
		rx = rx_some(th);
		publish(th);
		if (tx == 0 && rx == 0)
			wait_io(th, now);
	}
	publish(th);
	atomic_store_explicit(&th->finished, true, memory_order_release);
	return NULL;
}

/* ---- thread setup ---- */

/* Slots per thread: twice what can be in flight, a power of two. */
static uint32_t slots_needed(const struct bench *b)
{
	uint64_t want, n = SLOTS_MIN;

	if (b->o.rate)
		want = b->o.rate / b->n_threads * b->o.timeout_ms / 1000 * 2;
	else
		want = 2 * b->o.concurrency * b->o.batch;
	while (n < want && n < (1ull << SLOT_BITS))
		n <<= 1;
	return (uint32_t)n;
}

/* Order ids kept per thread for check (3): all the stock there is, plus
 * room for what an oversell would show. */
static uint64_t ok_capacity(const struct bench *b, uint64_t n_users)
{
	uint64_t stock = 1024;

	if (b->o.echo)
		return 0;
	for (unsigned i = 0; i < b->n_items; i++)
		stock += b->items[i].avail_before;
	if (!b->o.loop && n_users * b->o.attempts < stock)
		stock = n_users * b->o.attempts;
	return stock < BENCH_OK_ORDERS_MAX ? stock : BENCH_OK_ORDERS_MAX;
}

static void thread_io_init(struct bench_thread *th)
{
	for (unsigned i = 0; i < FS_BURST_MAX; i++) {
		th->tx_iov[i].iov_base = th->txbuf[i];
		th->tx_mh[i].msg_hdr.msg_iov = &th->tx_iov[i];
		th->tx_mh[i].msg_hdr.msg_iovlen = 1;
		th->rx_iov[i].iov_base = th->rxbuf[i];
		th->rx_iov[i].iov_len = BENCH_RX_BUF;
		th->rx_mh[i].msg_hdr.msg_iov = &th->rx_iov[i];
		th->rx_mh[i].msg_hdr.msg_iovlen = 1;
	}
}

static int thread_init(struct bench *b, struct bench_thread *th, unsigned id)
{
	th->b = b;
	th->id = id;
	th->n_users = (b->o.users - id + b->n_threads - 1) / b->n_threads;
	th->nslots = slots_needed(b);
	th->ok_cap = ok_capacity(b, th->n_users);
	th->infl_head = th->infl_tail = SLOT_NIL;
	th->free_count = th->nslots;
	atomic_init(&th->pub_sent, 0);
	atomic_init(&th->pub_answered, 0);
	atomic_init(&th->pub_ok, 0);
	atomic_init(&th->pub_lost, 0);
	atomic_init(&th->finished, false);
	th->slots = calloc(th->nslots, sizeof(*th->slots));
	th->free_ring = calloc(th->nslots, sizeof(*th->free_ring));
	th->txbuf = calloc(FS_BURST_MAX, sizeof(*th->txbuf));
	th->rxbuf = calloc(FS_BURST_MAX, sizeof(*th->rxbuf));
	th->user_won = calloc(th->n_users, sizeof(*th->user_won));
	th->item_won = calloc(b->n_items, sizeof(*th->item_won));
	th->ok_orders = calloc(th->ok_cap + 1, sizeof(*th->ok_orders));
	th->fd = bench_socket(b);
	if (!th->slots || !th->free_ring || !th->txbuf || !th->rxbuf || !th->user_won ||
	    !th->item_won || !th->ok_orders)
		return -ENOMEM;
	if (th->fd < 0)
		return th->fd;
	for (uint32_t i = 0; i < th->nslots; i++)
		th->free_ring[i] = i;
	thread_io_init(th);
	return 0;
}

static void thread_fini(struct bench_thread *th)
{
	if (th->fd >= 0)
		close(th->fd);
	free(th->slots);
	free(th->free_ring);
	free(th->txbuf);
	free(th->rxbuf);
	free(th->user_won);
	free(th->item_won);
	free(th->ok_orders);
}

/* Allocate every thread, then start them with the signals blocked (only
 * the main thread takes SIGINT/SIGTERM). */
static int start_threads(struct bench *b)
{
	sigset_t block, old;
	int rc = 0;

	b->th = calloc(b->n_threads, sizeof(*b->th));
	if (!b->th)
		return -ENOMEM;
	for (unsigned i = 0; i < b->n_threads; i++)
		b->th[i].fd = -1;
	for (unsigned i = 0; i < b->n_threads && rc == 0; i++)
		rc = thread_init(b, &b->th[i], i);
	if (rc != 0) {
		fprintf(stderr, "flashsale-bench: thread setup: %s\n", fs_strerror(rc));
		return rc;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	b->start_ns = fs_mono_ns();
	if (b->o.duration_s > 0)
		b->end_ns = b->start_ns + (int64_t)(b->o.duration_s * 1e9);
	for (unsigned i = 0; i < b->n_threads && rc == 0; i++) {
		rc = -pthread_create(&b->th[i].tid, NULL, thread_main, &b->th[i]);
		b->th[i].started = rc == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		fprintf(stderr, "flashsale-bench: pthread_create: %s\n", fs_strerror(rc));
		atomic_store(&g_stop, true);
	}
	return rc;
}

/* ---- the main thread during the run ---- */

struct progress {
	uint64_t sent, answered, ok, lost;
	bool all_done;
};

static void progress_sum(const struct bench *b, struct progress *p)
{
	memset(p, 0, sizeof(*p));
	p->all_done = true;
	for (unsigned i = 0; i < b->n_threads; i++) {
		struct bench_thread *th = &b->th[i];
		p->sent += atomic_load_explicit(&th->pub_sent, memory_order_relaxed);
		p->answered += atomic_load_explicit(&th->pub_answered, memory_order_relaxed);
		p->ok += atomic_load_explicit(&th->pub_ok, memory_order_relaxed);
		p->lost += atomic_load_explicit(&th->pub_lost, memory_order_relaxed);
		p->all_done &= !th->started ||
			       atomic_load_explicit(&th->finished, memory_order_acquire);
	}
}

/* Progress to stderr once a second; stop a run into silence. */
static void monitor(struct bench *b)
{
	int64_t next = b->start_ns + FS_NS_PER_S, silent_ns = 2 * b->timeout_ns;
	uint64_t last_answered = 0;
	struct timespec tick = {.tv_sec = 0, .tv_nsec = BENCH_TICK_NS};
	struct progress p;

	if (silent_ns < BENCH_NO_ANSWER_MIN_NS)
		silent_ns = BENCH_NO_ANSWER_MIN_NS;
	for (progress_sum(b, &p); !p.all_done; progress_sum(b, &p)) {
		int64_t now = fs_mono_ns();
		if (p.answered == 0 && p.sent > 0 && now - b->start_ns > silent_ns &&
		    !atomic_load(&g_stop)) {
			fprintf(stderr, "flashsale-bench: no answer from %s after %.1f s: "
				"stopping\n", b->target, (double)(now - b->start_ns) / 1e9);
			b->gave_up = true;
			atomic_store(&g_stop, true);
		}
		if (now >= next) {
			fprintf(stderr, "[%6.1f s] sent %" PRIu64 "  answered %" PRIu64 "  %" PRIu64
				" msgs/s  OK %" PRIu64 "  lost %" PRIu64 "\n",
				(double)(now - b->start_ns) / 1e9, p.sent, p.answered,
				p.answered - last_answered, p.ok, p.lost);
			last_answered = p.answered;
			next += FS_NS_PER_S;
		}
		nanosleep(&tick, NULL);
	}
}

/* ---- results ---- */

static void merge(struct bench *b, struct bench_stats *tot)
{
	memset(tot, 0, sizeof(*tot));
	for (unsigned t = 0; t < b->n_threads; t++) {
		const struct bench_stats *s = &b->th[t].st;
#define X(name) tot->name += s->name;
		BENCH_COUNTERS(X)
#undef X
		for (unsigned i = 0; i <= FS_ST_COUNT; i++)
			tot->status[i] += s->status[i];
		for (unsigned i = 0; i < HIST_BUCKETS; i++)
			tot->hist[i] += s->hist[i];
		if (s->lat_max_ns > tot->lat_max_ns)
			tot->lat_max_ns = s->lat_max_ns;
		if (s->first_send_ns && (!tot->first_send_ns || s->first_send_ns < tot->first_send_ns))
			tot->first_send_ns = s->first_send_ns;
		if (s->last_send_ns > tot->last_send_ns)
			tot->last_send_ns = s->last_send_ns;
		for (unsigned i = 0; i < b->n_items; i++)
			b->items[i].won += b->th[t].item_won[i];
	}
}

/* Check (2): users over their item's per_user_limit. */
static void check_limits(const struct bench *b, struct verdict *v)
{
	for (unsigned t = 0; t < b->n_threads; t++) {
		const struct bench_thread *th = &b->th[t];
		for (uint64_t j = 0; j < th->n_users; j++) {
			uint64_t g = user_gidx(th, j);
			const struct bench_item *it = &b->items[g % b->n_items];
			if (it->per_user_limit == 0) {
				v->limit_unknown = true;
				continue;
			}
			if (th->user_won[j] <= it->per_user_limit)
				continue;
			if (v->over_limit++ == 0 || b->o.user_base + g < v->first_over_user)
				v->first_over_user = b->o.user_base + g;
		}
	}
}

/* Check (3): duplicate order ids among the OK answers of all threads. */
static void check_orders(const struct bench *b, struct verdict *v)
{
	uint64_t n = 0, *all;

	for (unsigned t = 0; t < b->n_threads; t++) {
		n += b->th[t].n_ok;
		v->unchecked += b->th[t].ok_overflow;
	}
	all = malloc((n ? n : 1) * sizeof(*all));
	if (!all) {
		v->unchecked += n;
		return;
	}
	n = 0;
	for (unsigned t = 0; t < b->n_threads; t++) {
		memcpy(all + n, b->th[t].ok_orders, b->th[t].n_ok * sizeof(*all));
		n += b->th[t].n_ok;
	}
	qsort(all, n, sizeof(*all), cmp_u64);
	for (uint64_t i = 1; i < n; i++)
		v->dup_orders += all[i] == all[i - 1];
	v->ok_ids = n;
	free(all);
}

static void add_reason(struct verdict *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_reason(struct verdict *v, const char *fmt, ...)
{
	size_t len = strlen(v->reasons);
	va_list ap;

	if (len > 0 && len + 2 < sizeof(v->reasons)) {
		strcpy(v->reasons + len, "; ");
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(v->reasons + len, sizeof(v->reasons) - len, fmt, ap);
	va_end(ap);
	v->pass = false;
}

static bool item_checked(const struct bench_item *it)
{
	return it->st_before == FS_ST_OK && it->st_after == FS_ST_OK;
}

static bool item_ok(const struct bench_item *it)
{
	return item_checked(it) &&
	       (int64_t)it->won == (int64_t)it->avail_before - (int64_t)it->avail_after;
}

static void judge(const struct bench *b, const struct bench_stats *tot, struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->pass = true;
	for (unsigned i = 0; i < b->n_items; i++) {
		v->unknown_items += !item_checked(&b->items[i]);
		v->bad_items += item_checked(&b->items[i]) && !item_ok(&b->items[i]);
	}
	check_limits(b, v);
	check_orders(b, v);
	if (v->bad_items)
		add_reason(v, "%u item(s) won != sold", v->bad_items);
	if (v->unknown_items)
		add_reason(v, "%u item(s) without ITEM_STATUS", v->unknown_items);
	if ((v->bad_items || v->unknown_items) && tot->lost > tot->late)
		add_reason(v, "%" PRIu64 " BUYs never answered", tot->lost - tot->late);
	if (v->over_limit)
		add_reason(v, "%" PRIu64 " user(s) over per_user_limit, first user %" PRIu64,
			   v->over_limit, v->first_over_user);
	if (v->dup_orders)
		add_reason(v, "%" PRIu64 " duplicate order id(s)", v->dup_orders);
	if (tot->zero_orders)
		add_reason(v, "%" PRIu64 " OK answer(s) with order id 0", tot->zero_orders);
	if (v->unchecked)
		add_reason(v, "%" PRIu64 " order id(s) not checked", v->unchecked);
}

/* ---- reports ---- */

struct figures {
	double interval_s;         /* first to last send */
	double msgs_per_s;         /* answered during the sending interval */
	double dgrams_per_s;       /* sent */
	double p50_us, p99_us, p999_us, max_us;
};

static void figures(const struct bench_stats *tot, int64_t end_ns, struct figures *f)
{
	int64_t span = tot->last_send_ns - tot->first_send_ns;

	/* A run that fits in one burst has no sending interval to speak of:
	 * measure it to the end of the run instead. */
	if (span < FS_NS_PER_MS && tot->first_send_ns)
		span = end_ns - tot->first_send_ns;
	if (span <= 0)
		span = 1;
	f->interval_s = (double)span / 1e9;
	f->msgs_per_s = (double)tot->answered_in_window / f->interval_s;
	f->dgrams_per_s = (double)tot->sent_dgrams / f->interval_s;
	f->p50_us = (double)hist_pct(tot, 0.50) / 1e3;
	f->p99_us = (double)hist_pct(tot, 0.99) / 1e3;
	f->p999_us = (double)hist_pct(tot, 0.999) / 1e3;
	f->max_us = (double)tot->lat_max_ns / 1e3;
}

static const char *mode_text(const struct bench *b, char *buf, size_t len)
{
	if (b->o.rate)
		snprintf(buf, len, "open loop %" PRIu64 " msgs/s", b->o.rate);
	else
		snprintf(buf, len, "closed loop %" PRIu64 " datagrams in flight per thread",
			 b->o.concurrency);
	return buf;
}

static void print_items_text(const struct bench *b)
{
	unsigned shown = 0, hidden_bad = 0;

	for (unsigned i = 0; i < b->n_items; i++) {
		const struct bench_item *it = &b->items[i];
		bool ok = item_ok(it);
		if (shown >= BENCH_ITEMS_SHOWN && ok) {
			continue;
		}
		if (shown >= BENCH_ITEMS_SHOWN * 4) {
			hidden_bad += !ok;
			continue;
		}
		shown++;
		if (!item_checked(it)) {
			printf("item %u: ITEM_STATUS %s before, %s after: not checked\n", it->id,
			       fs_status_name(it->st_before), fs_status_name(it->st_after));
			continue;
		}
		printf("item %u: available %u -> %u, won %" PRIu64 " by OK BUYs: %s%s\n", it->id,
		       it->avail_before, it->avail_after, it->won, ok ? "ok" : "MISMATCH",
		       !ok || it->avail_after != 0 ? ""
		       : it->avail_before > 0      ? ", sold exactly the stock"
						   : " (sold out before the run)");
	}
	if (b->n_items > shown)
		printf("(%u more items not shown, %u of them mismatched)\n", b->n_items - shown,
		       hidden_bad);
}

static void print_verdict_text(const struct bench *b, const struct verdict *v)
{
	print_items_text(b);
	if (v->limit_unknown)
		printf("per-user limit: not checked (no --config)\n");
	else if (v->over_limit == 0)
		printf("per-user limit: no user over per_user_limit (%" PRIu64 " users)\n",
		       b->o.users);
	else
		printf("per-user limit: %" PRIu64 " users OVER per_user_limit (first: user %" PRIu64
		       ")\n", v->over_limit, v->first_over_user);
	printf("order ids: %" PRIu64 " from OK answers, %" PRIu64 " duplicate(s)%s\n", v->ok_ids,
	       v->dup_orders, v->unchecked ? ", some not checked" : "");
	if (v->pass)
		printf("verdict: PASS\n");
	else
		printf("verdict: FAIL (%s)\n", v->reasons);
}

static void print_text(const struct bench *b, const struct bench_stats *tot,
		       const struct figures *f, const struct verdict *v)
{
	char mode[96];

	printf("flashsale-bench: target %s%s, %u thread(s), batch %" PRIu64 ", %s\n", b->target,
	       b->o.echo ? " (echo)" : "", b->n_threads, b->o.batch,
	       mode_text(b, mode, sizeof(mode)));
	printf("messages:   sent %" PRIu64 "  answered %" PRIu64 "  lost %" PRIu64 "  (late %" PRIu64
	       ", stale %" PRIu64 ", duplicate %" PRIu64 ", mismatched %" PRIu64 ")\n",
	       tot->sent_msgs, tot->answered, tot->lost, tot->late, tot->stale, tot->dup,
	       tot->mismatched);
	printf("datagrams:  sent %" PRIu64 "  received %" PRIu64 "  malformed %" PRIu64
	       "  (refused %" PRIu64 ", slot stalls %" PRIu64 ")\n", tot->sent_dgrams,
	       tot->rx_dgrams, tot->malformed, tot->refused, tot->slot_stalls);
	printf("throughput: %.0f answered msgs/s, %.0f datagrams/s sent, over %.3f s\n",
	       f->msgs_per_s, f->dgrams_per_s, f->interval_s);
	printf("latency us: p50 %.1f  p99 %.1f  p999 %.1f  max %.1f  (%" PRIu64 " samples)\n",
	       f->p50_us, f->p99_us, f->p999_us, f->max_us, tot->lat_count);
	if (!b->o.echo) {
		printf("status:    ");
		for (unsigned i = 0; i <= FS_ST_COUNT; i++)
			if (tot->status[i])
				printf(" %s %" PRIu64, i < FS_ST_COUNT ? fs_status_name(i) : "unknown",
				       tot->status[i]);
		printf("\n");
	}
	if (v)
		print_verdict_text(b, v);
}

static void print_json_items(const struct bench *b)
{
	printf(",\"items\":[");
	for (unsigned i = 0; i < b->n_items; i++) {
		const struct bench_item *it = &b->items[i];
		printf("%s{\"id\":%u,\"won\":%" PRIu64, i ? "," : "", it->id, it->won);
		if (it->st_before == FS_ST_OK)
			printf(",\"available_before\":%u", it->avail_before);
		if (it->st_after == FS_ST_OK)
			printf(",\"available_after\":%u", it->avail_after);
		printf(",\"checked\":%s,\"ok\":%s}", item_checked(it) ? "true" : "false",
		       item_ok(it) ? "true" : "false");
	}
	printf("]");
}

static void print_json_verdict(const struct bench *b, const struct verdict *v)
{
	print_json_items(b);
	printf(",\"users_over_limit\":%" PRIu64 ",\"limit_checked\":%s,\"ok_order_ids\":%" PRIu64
	       ",\"duplicate_order_ids\":%" PRIu64 ",\"unchecked_order_ids\":%" PRIu64
	       ",\"verdict\":\"%s\",\"reasons\":\"%s\"", v->over_limit,
	       v->limit_unknown ? "false" : "true", v->ok_ids, v->dup_orders, v->unchecked,
	       v->pass ? "PASS" : "FAIL", v->reasons);
}

static void print_json(const struct bench *b, const struct bench_stats *tot,
		       const struct figures *f, const struct verdict *v)
{
	printf("{\"target\":\"%s\",\"echo\":%s,\"threads\":%u,\"batch\":%" PRIu64
	       ",\"mode\":\"%s\",\"concurrency\":%" PRIu64 ",\"rate\":%" PRIu64
	       ",\"users\":%" PRIu64 ",\"attempts\":%" PRIu64 ",\"loop\":%s,\"seed\":%" PRIu64,
	       b->target, b->o.echo ? "true" : "false", b->n_threads, b->o.batch,
	       b->o.rate ? "open" : "closed", b->o.rate ? 0 : b->o.concurrency, b->o.rate,
	       b->o.users, b->o.attempts, b->o.loop ? "true" : "false", b->o.seed);
#define X(name) printf(",\"" #name "\":%" PRIu64, tot->name);
	BENCH_COUNTERS(X)
#undef X
	printf(",\"interval_s\":%.6f,\"answered_msgs_per_s\":%.1f,\"sent_dgrams_per_s\":%.1f",
	       f->interval_s, f->msgs_per_s, f->dgrams_per_s);
	printf(",\"latency_us\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}", f->p50_us,
	       f->p99_us, f->p999_us, f->max_us);
	printf(",\"status\":{");
	for (unsigned i = 0, n = 0; i <= FS_ST_COUNT; i++)
		if (tot->status[i])
			printf("%s\"%s\":%" PRIu64, n++ ? "," : "",
			       i < FS_ST_COUNT ? fs_status_name(i) : "unknown", tot->status[i]);
	printf("}");
	if (v)
		print_json_verdict(b, v);
	else
		printf(",\"verdict\":\"%s\"", b->o.echo ? "echo" : "skipped");
	printf("}\n");
}

/* ---- main ---- */

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND; /* a second ^C kills at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void announce(const struct bench *b)
{
	char mode[96];

	if (b->o.json)
		return;
	fprintf(stderr, "flashsale-bench: %s%s, %u item(s), %" PRIu64 " users from %" PRIu64
		", %s, batch %" PRIu64 ", %s, %u thread(s), timeout %" PRIu64 " ms, seed %" PRIu64
		"\n", b->target, b->o.echo ? " (echo)" : "", b->n_items, b->o.users,
		b->o.user_base, b->o.loop ? "looping" : "rounds", b->o.batch,
		mode_text(b, mode, sizeof(mode)), b->n_threads, b->o.timeout_ms, b->o.seed);
}

/* Join the threads; returns the first hard socket error seen (or 0). */
static int join_threads(struct bench *b)
{
	int fatal = 0;

	for (unsigned i = 0; i < b->n_threads; i++) {
		if (b->th[i].started)
			pthread_join(b->th[i].tid, NULL);
		if (b->th[i].fatal && !fatal)
			fatal = b->th[i].fatal;
	}
	if (fatal)
		fprintf(stderr, "flashsale-bench: send: %s\n", fs_strerror(fatal));
	return fatal;
}

/* After the run: merge, ask ITEM_STATUS again, judge, print. Returns the
 * exit code. */
static int finish(struct bench *b, int fatal)
{
	struct bench_stats *tot = calloc(1, sizeof(*tot));
	struct verdict v;
	struct figures f;
	bool judged = !b->o.echo && !b->o.no_verdict;
	int64_t end_ns = fs_mono_ns();
	int rc;

	if (!tot)
		return 2;
	merge(b, tot);
	figures(tot, end_ns, &f);
	if (!b->o.echo && tot->answered + tot->late > 0)
		(void)query_items(b, true);
	if (judged)
		judge(b, tot, &v);
	if (b->o.json)
		print_json(b, tot, &f, judged ? &v : NULL);
	else
		print_text(b, tot, &f, judged ? &v : NULL);
	if (tot->answered + tot->late == 0)
		rc = 3;
	else if (fatal)
		rc = 2;
	else
		rc = judged && !v.pass ? 1 : 0;
	free(tot);
	return rc;
}

static void cleanup(struct bench *b)
{
	if (b->th)
		for (unsigned i = 0; i < b->n_threads; i++)
			thread_fini(&b->th[i]);
	free(b->th);
	free(b->items);
	if (b->have_cfg)
		cfg_free(&b->cfg);
}

/* ---- pcap: BUY datagrams as Ethernet frames, for pktgen replay ----
 *
 * flashsale-bench pcap --config FILE --out F.pcap --count N writes N frames,
 * each one Ethernet II + IPv4 (no options, DF, TTL 64, valid header checksum)
 * + UDP (valid checksum) + one FSP/1 datagram of --batch BUY messages, to a
 * classic libpcap file (LINKTYPE_ETHERNET). Every message has its own user
 * (user-base + index) and request id (seed << 32 | index + 1) and a valid
 * token for its item's activity, so a replay is N * batch distinct purchase
 * attempts, not one attempt repeated (the appliance would answer repeats
 * from its idempotency table). Source ports cycle over --src-ports values,
 * so a NIC with RSS spreads the replay over its queues. The frames are built
 * here byte by byte (no DPDK): the file is an outside check of what the
 * appliance parses.
 */

#define PCAP_COUNT_MAX 10000000ull
#define PCAP_BATCH_MAX 22 /* 8 + 64 * 22 + 28 <= 1500: one unfragmented packet */
#define PCAP_FRAME_MAX (14 + 20 + 8 + FSP_HDR_LEN + FSP_MSG_LEN * PCAP_BATCH_MAX)

struct pcap_opts {
	const char *out, *config_path;
	uint64_t count, batch, user_base, seed, src_port, src_ports, port;
	uint8_t dst_mac[6], src_mac[6];
	struct in_addr src_ip, dst_ip;
	bool dst_ip_set;
};

struct pcap_item {
	uint32_t id, activity_id;
	bool token;
	uint8_t key[16];
};

static void pcap_usage(FILE *f)
{
	fputs("usage: flashsale-bench pcap --config FILE --out F.pcap --count N [options]\n"
	      "Write N Ethernet frames, each a UDP datagram of --batch distinct FSP/1 BUY\n"
	      "messages (distinct users and request ids, valid tokens) for pktgen's\n"
	      "`-s P:F.pcap` replay.\n"
	      "  --config FILE   appliance INI: items, token keys, address, udp_port\n"
	      "  --out FILE      the pcap file to write\n"
	      "  --count N       frames, 1..10000000\n"
	      "  --batch M       BUY messages per datagram, 1..22 (default 1)\n"
	      "  --user-base N   first user id (default 1)\n"
	      "  --seed N        high 32 bits of every request id (default 1)\n"
	      "  --dst-mac MAC   the appliance's MAC (default ff:ff:ff:ff:ff:ff)\n"
	      "  --src-mac MAC   (default 02:00:00:00:00:01)\n"
	      "  --dst-ip ADDR   (default: [net] address of the config)\n"
	      "  --src-ip ADDR   (default 10.99.0.1)\n"
	      "  --port N        destination UDP port (default: [net] udp_port)\n"
	      "  --src-port N    first source port (default 40000)\n"
	      "  --src-ports N   source ports to cycle over, for RSS (default 64)\n"
	      "example: flashsale-bench pcap --config config/flashsale.ini --out buy.pcap \\\n"
	      "           --count 100000 --dst-mac 02:00:00:00:00:02\n",
	      f);
}

static int pcap_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		if (v[i] > 255)
			return -EINVAL;
		mac[i] = (uint8_t)v[i];
	}
	return 0;
}

static int pcap_opt(struct pcap_opts *o, const char *name, const char *arg)
{
	static const struct { const char *name; uint64_t min, max; size_t off; } nums[] = {
		{"count", 1, PCAP_COUNT_MAX, offsetof(struct pcap_opts, count)},
		{"batch", 1, PCAP_BATCH_MAX, offsetof(struct pcap_opts, batch)},
		{"user-base", 1, UINT64_MAX / 2, offsetof(struct pcap_opts, user_base)},
		{"seed", 0, UINT32_MAX, offsetof(struct pcap_opts, seed)},
		{"port", 1, 65535, offsetof(struct pcap_opts, port)},
		{"src-port", 1, 65535, offsetof(struct pcap_opts, src_port)},
		{"src-ports", 1, 65535, offsetof(struct pcap_opts, src_ports)},
	};
	int rc = 0;

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		if (strcmp(name, nums[i].name) == 0)
			return parse_u64(name, arg, nums[i].min, nums[i].max,
					 (uint64_t *)((char *)o + nums[i].off));
	if (strcmp(name, "out") == 0)
		o->out = arg;
	else if (strcmp(name, "config") == 0)
		o->config_path = arg;
	else if (strcmp(name, "dst-mac") == 0)
		rc = pcap_mac(arg, o->dst_mac);
	else if (strcmp(name, "src-mac") == 0)
		rc = pcap_mac(arg, o->src_mac);
	else if (strcmp(name, "dst-ip") == 0)
		rc = inet_pton(AF_INET, arg, &o->dst_ip) == 1 ? (o->dst_ip_set = true, 0) : -EINVAL;
	else if (strcmp(name, "src-ip") == 0)
		rc = inet_pton(AF_INET, arg, &o->src_ip) == 1 ? 0 : -EINVAL;
	else
		rc = -EINVAL;
	if (rc < 0)
		fprintf(stderr, "flashsale-bench pcap: --%s: bad value '%s'\n", name, arg);
	return rc;
}

/* Returns 0 to run, 1 after --help, -EINVAL on a usage error. */
static int pcap_args(int argc, char **argv, struct pcap_opts *o)
{
	static const char *const names[] = {"out", "config", "count", "batch", "user-base",
					    "seed", "dst-mac", "src-mac", "dst-ip", "src-ip",
					    "port", "src-port", "src-ports"};
	struct option opts[sizeof(names) / sizeof(names[0]) + 2];
	int c, idx, rc = 0;

	memset(o, 0, sizeof(*o));
	o->batch = 1, o->user_base = 1, o->seed = 1, o->src_port = 40000, o->src_ports = 64;
	memset(o->dst_mac, 0xff, 6);
	memcpy(o->src_mac, (uint8_t[6]){0x02, 0, 0, 0, 0, 0x01}, 6);
	o->src_ip.s_addr = htonl(0x0a630001); /* 10.99.0.1 */
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		opts[i] = (struct option){names[i], required_argument, NULL, 0};
	opts[sizeof(names) / sizeof(names[0])] = (struct option){"help", no_argument, NULL, 'h'};
	opts[sizeof(names) / sizeof(names[0]) + 1] = (struct option){NULL, 0, NULL, 0};
	optind = 1;
	while (rc == 0 && (c = getopt_long(argc, argv, "h", opts, &idx)) != -1) {
		if (c == 'h') {
			pcap_usage(stdout);
			return 1;
		}
		rc = c == 0 ? pcap_opt(o, opts[idx].name, optarg) : -EINVAL;
	}
	if (rc == 0 && (optind < argc || !o->out || !o->config_path || !o->count)) {
		fprintf(stderr, "flashsale-bench pcap: --config, --out and --count are required\n");
		rc = -EINVAL;
	}
	if (rc == 0 && o->src_port + o->src_ports - 1 > 65535)
		rc = -EINVAL, fprintf(stderr, "flashsale-bench pcap: --src-port + --src-ports > 65536\n");
	if (rc != 0)
		fputs("flashsale-bench pcap: --help for usage\n", stderr);
	return rc;
}

static uint32_t cksum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t cksum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }

/* Ethernet + IPv4 + UDP headers around the payload_len bytes at f + 42. */
static void pcap_headers(const struct pcap_opts *o, uint8_t *f, uint16_t sport, uint16_t id,
			 size_t payload_len)
{
	uint8_t *ip = f + 14, *udp = f + 34;
	uint16_t udp_len = (uint16_t)(8 + payload_len);
	uint32_t sum;

	memcpy(f, o->dst_mac, 6);
	memcpy(f + 6, o->src_mac, 6);
	put16(f + 12, 0x0800);
	ip[0] = 0x45, ip[1] = 0;
	put16(ip + 2, (uint16_t)(20 + udp_len));
	put16(ip + 4, id);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64, ip[9] = 17;
	put16(ip + 10, 0);
	memcpy(ip + 12, &o->src_ip, 4);
	memcpy(ip + 16, &o->dst_ip, 4);
	put16(ip + 10, cksum_fold(cksum_add(0, ip, 20)));
	put16(udp, sport);
	put16(udp + 2, (uint16_t)o->port);
	put16(udp + 4, udp_len);
	put16(udp + 6, 0);
	sum = cksum_add(0, ip + 12, 8) + 17 + udp_len;
	sum = cksum_fold(cksum_add(sum, udp, udp_len));
	put16(udp + 6, sum ? (uint16_t)sum : 0xffff);
}

static int pcap_items(const struct cfg *c, struct pcap_item *items)
{
	for (unsigned i = 0; i < c->n_items; i++) {
		const struct cfg_activity *a = cfg_find_activity(c, c->items[i].activity_id);
		items[i].id = c->items[i].id;
		items[i].activity_id = c->items[i].activity_id;
		items[i].token = a && a->require_token;
		if (a)
			memcpy(items[i].key, a->token_key, 16);
	}
	return (int)c->n_items;
}

/* Frame i: batch messages for users user_base + i * batch + k. */
static size_t pcap_frame(const struct pcap_opts *o, const struct pcap_item *items,
			 unsigned n_items, uint64_t i, uint8_t *f)
{
	uint8_t *dg = f + 42;

	dp_fsp_write_header(dg, (unsigned)o->batch);
	for (uint64_t k = 0; k < o->batch; k++) {
		uint64_t idx = i * o->batch + k;
		const struct pcap_item *it = &items[idx % n_items];
		struct fs_req r = {.op = FS_OP_BUY, .qty = 1, .item_id = it->id,
				   .user_id = o->user_base + idx,
				   .request_id = o->seed << 32 | (idx + 1)};
		if (it->token)
			fs_token_buy(it->key, r.user_id, it->activity_id, r.token);
		dp_fsp_encode_req(&r, dg + FSP_HDR_LEN + FSP_MSG_LEN * k);
	}
	pcap_headers(o, f, (uint16_t)(o->src_port + i % o->src_ports), (uint16_t)i,
		     FSP_HDR_LEN + FSP_MSG_LEN * o->batch);
	return 42 + FSP_HDR_LEN + FSP_MSG_LEN * o->batch;
}

static int pcap_write_file(const struct pcap_opts *o, const struct pcap_item *items,
			   unsigned n_items)
{
	static const uint32_t hdr[6] = {0xa1b2c3d4, 2 | 4 << 16, 0, 0, 65535, 1};
	uint8_t frame[PCAP_FRAME_MAX];
	FILE *f = fopen(o->out, "wb");
	int64_t t0 = fs_now_ns() / 1000;

	if (f == NULL) {
		fprintf(stderr, "flashsale-bench pcap: %s: %s\n", o->out, strerror(errno));
		return -errno;
	}
	/* Host-order (little-endian here) classic pcap, microsecond stamps. */
	fwrite(hdr, sizeof(hdr), 1, f);
	for (uint64_t i = 0; i < o->count; i++) {
		uint32_t len = (uint32_t)pcap_frame(o, items, n_items, i, frame);
		int64_t us = t0 + (int64_t)i;
		uint32_t rec[4] = {(uint32_t)(us / 1000000), (uint32_t)(us % 1000000), len, len};
		fwrite(rec, sizeof(rec), 1, f);
		fwrite(frame, len, 1, f);
	}
	if (fclose(f) != 0) {
		fprintf(stderr, "flashsale-bench pcap: %s: %s\n", o->out, strerror(errno));
		return -EIO;
	}
	return 0;
}

static int pcap_main(int argc, char **argv)
{
	struct pcap_opts o;
	struct pcap_item *items;
	struct cfg c;
	char err[1024];
	int rc = pcap_args(argc, argv, &o);

	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (cfg_load(o.config_path, fs_now_ns(), &c, err, sizeof(err)) < 0) {
		fprintf(stderr, "flashsale-bench pcap: %s\n", err);
		return 2;
	}
	if (!o.dst_ip_set)
		o.dst_ip = c.address;
	if (!o.port)
		o.port = c.udp_port;
	items = calloc(c.n_items ? c.n_items : 1, sizeof(*items));
	rc = items == NULL || c.n_items == 0 ? -EINVAL : pcap_write_file(&o, items, (unsigned)pcap_items(&c, items));
	if (rc == 0)
		printf("%s: %" PRIu64 " frames, %" PRIu64 " BUY messages (users %" PRIu64 "..%" PRIu64
		       ") to %s:%" PRIu64 "\n", o.out, o.count, o.count * o.batch, o.user_base,
		       o.user_base + o.count * o.batch - 1, inet_ntoa(o.dst_ip), o.port);
	free(items);
	cfg_free(&c);
	return rc == 0 ? 0 : 2;
}

int main(int argc, char **argv)
{
	static struct bench b; /* large; and zeroed */
	int rc;

	if (argc > 1 && strcmp(argv[1], "pcap") == 0) {
		if (fs_token_init() != 0)
			return 2;
		return pcap_main(argc - 1, argv + 1);
	}
	rc = parse_args(argc, argv, &b.o);

	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (fs_token_init() != 0) {
		fprintf(stderr, "flashsale-bench: libsodium init failed\n");
		return 2;
	}
	rc = setup(&b) != 0 ? 2 : 0;
	if (rc == 0 && !b.o.echo)
		rc = pre_status(&b);
	if (rc == 0) {
		announce(&b);
		install_signals();
		if (start_threads(&b) != 0)
			rc = 2;
		if (b.th) {
			monitor(&b);
			int fatal = join_threads(&b);
			if (rc == 0)
				rc = finish(&b, fatal);
		}
	}
	cleanup(&b);
	return rc;
}
