/*
 * bench.h — flashsale-bench: the FSP/1 load generator (kernel UDP sockets,
 * no DPDK) and the checker of a flash sale's outcome; private to app/bench/.
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
 * `flashsale-bench pcap ...` is flashsale-pcapgen (pcap.c) under its old
 * name: BUY datagrams as Ethernet frames in a pcap file for pktgen's replay.
 *
 * Files (one role each; this header and bench_hist.h are all they share):
 *   bench_main.c     main: options, setup, the run, the exit code
 *   bench_opts.c     the command line (a schema row per integer option)
 *   bench_num.c      decimal option values (shared with the pcap writer)
 *   bench_setup.c    config, target address, items under test, sockets
 *   bench_status.c   ITEM_STATUS before and after the run
 *   bench_slots.c    the request-id slot table and the in-flight list
 *   bench_hist.c     the latency histogram (bench_hist.h; also flashsale-bench-dpdk)
 *   bench_io.c       building, sending and receiving datagrams
 *   bench_thread.c   the sender/receiver threads, progress, merging results
 *   bench_verdict.c  the three checks and the verdict
 *   bench_report.c   figures, text and JSON output
 *   pcap.c           the pcap writer (flashsale-pcapgen, pcapgen_main.c)
 */
#ifndef BENCH_H
#define BENCH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "cfg.h"
#include "fs_common.h"
#include "fs_proto.h"
#include "fs_token.h"

#include "bench_hist.h"


#define BENCH_DGRAM_MAX_BYTES (FSP_HDR_LEN + FSP_MSG_LEN * FS_MSGS_MAX)
/* An oversized answer shows as such. */
#define BENCH_RX_BUF_BYTES (BENCH_DGRAM_MAX_BYTES + FSP_MSG_LEN)
#define BENCH_THREADS_MAX 64
#define BENCH_USERS_MAX (1ull << 24)
#define BENCH_ATTEMPTS_MAX 1000000ull
#define BENCH_CONCURRENCY_MAX 4096ull
#define BENCH_RATE_MAX 100000000ull
#define BENCH_TIMEOUT_MS_MAX 60000ull
#define BENCH_DURATION_MAX_S 86400.0
#define BENCH_OK_ORDERS_MAX (1ull << 24)          /* order ids kept per thread for check (3) */
#define BENCH_SOCKBUF_BYTES (4 << 20)                   /* capped by net.core.{r,w}mem_max */
#define BENCH_WAIT_MAX_NS (100 * FS_NS_PER_MS)    /* a waiting thread looks up this often */
#define BENCH_TICK_NS (50 * FS_NS_PER_MS)         /* the main thread's polling step */
#define BENCH_NO_ANSWER_MIN_NS (3 * FS_NS_PER_S)  /* give up on a silent server after this */
#define BENCH_STATUS_TRIES 3                      /* ITEM_STATUS rounds before giving up */
#define BENCH_STATUS_WINDOW (16 * FS_MSGS_MAX)    /* ITEM_STATUS messages in flight */
#define BENCH_ITEMS_SHOWN 32                      /* item lines printed in full */
#define BENCH_ITEMS_SHOWN_BAD (4 * BENCH_ITEMS_SHOWN) /* lines at most, mismatches included */
#define BENCH_STATUS_AFTER_ID (1ull << 40)        /* ITEM_STATUS request ids after the run */
#define BENCH_OK_ORDERS_SPARE 1024                /* order ids kept beyond the stock */
#define BENCH_PROGRESS_NS FS_NS_PER_S             /* progress line to stderr this often */
#define BENCH_DEFAULT_USERS 10000
#define BENCH_DEFAULT_CONCURRENCY 64
#define BENCH_DEFAULT_TIMEOUT_MS 1000
#define BENCH_REASONS_BYTES 512                   /* verdict reasons, one line */
#define BENCH_MODE_TEXT_BYTES 96
#define BENCH_ERR_BYTES 512                       /* a config error message */

/* The pcap writer (pcap.c). */
#define PCAP_COUNT_MAX 10000000ull
#define PCAP_BATCH_MAX 22 /* 8 + 64 * 22 + 28 <= 1500: one unfragmented packet */
#define PCAP_FRAME_MAX_BYTES (14 + 20 + 8 + FSP_HDR_LEN + FSP_MSG_LEN * PCAP_BATCH_MAX)
#define PCAP_ERR_BYTES 1024      /* a config error message */

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

	uint8_t (*txbuf)[BENCH_DGRAM_MAX_BYTES];
	uint8_t (*rxbuf)[BENCH_RX_BUF_BYTES];
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
	char reasons[BENCH_REASONS_BYTES];
};


/* Set by SIGINT/SIGTERM or by the main thread; read by the senders. */
extern atomic_bool bench_stop;

/* ---- bench_num.c ---- */

/* s as a decimal integer in min..max into *out; on a bad value prints
 * "PROG: --NAME: want an integer in MIN..MAX, got 'S'" and returns -EINVAL. */
int bench_parse_u64(const char *prog, const char *name, const char *s, uint64_t min,
		    uint64_t max, uint64_t *out);

/* ---- bench_opts.c ---- */

/* argv into *o (defaults first). Returns 0 to run, 1 after --help, -EINVAL
 * on a usage error (reported on stderr). */
int bench_parse_args(int argc, char **argv, struct bench_opts *o);

/* ---- bench_setup.c ---- */

/* Config, target, items, nonce, thread count from b->o: 0 or -errno
 * (reported). Allocates b->items (freed by the caller). */
int bench_setup(struct bench *b);

/* A UDP socket connected to the target: the fd or -errno. */
int bench_socket(const struct bench *b);

/* ---- bench_status.c ---- */

/* ITEM_STATUS for every item (after: the second round): how many items were
 * answered, or -errno without a socket. */
int bench_query_items(struct bench *b, bool after);

/* Before the run: every item must be known to the server. Returns 0, 2
 * (config error) or 3 (no answer at all). */
int bench_pre_status(struct bench *b);

/* ---- bench_slots.c ---- */

/* The global user index (user_id - user_base) of a thread's user. */
uint64_t bench_user_gidx(const struct bench_thread *th, uint64_t user_local);

/* A free slot, with a fresh request id, for a message of user_local. */
uint32_t bench_slot_take(struct bench_thread *th, uint32_t user_local);

/* Slot s back to the FIFO of free slots. */
void bench_slot_free(struct bench_thread *th, uint32_t s);

/* In-flight list (send order): append s at the tail, unlink s. */
void bench_infl_append(struct bench_thread *th, uint32_t s);
void bench_infl_unlink(struct bench_thread *th, uint32_t s);

/* Messages in flight for timeout_ns or longer at now are lost. */
void bench_expire(struct bench_thread *th, int64_t now);

/* ---- bench_io.c ---- */

/* Build what the budget allows and send the pending burst; returns the
 * datagrams sent. */
unsigned bench_tx_some(struct bench_thread *th, int64_t now);

/* Give back the slots of datagrams that will never be sent. */
void bench_tx_drop(struct bench_thread *th);

/* One recvmmsg burst, every answer booked; returns the datagrams read. */
unsigned bench_rx_some(struct bench_thread *th);

/* ---- bench_thread.c ---- */

/* Allocate every thread and start them (signals blocked in them): 0 or
 * -errno (reported; b->th may be partly set up, see bench_cleanup). */
int bench_start_threads(struct bench *b);

/* The main thread during the run: progress once a second, stop a run into
 * silence; returns when every thread has finished. */
void bench_monitor(struct bench *b);

/* Join the threads; the first hard socket error seen (or 0). */
int bench_join_threads(struct bench *b);

/* The threads' counters summed into *tot, their wins into the items. */
void bench_merge(struct bench *b, struct bench_stats *tot);

/* Close and free what bench_start_threads set up. */
void bench_threads_fini(struct bench *b);

/* ---- bench_verdict.c ---- */

/* Both ITEM_STATUS answers came back OK. */
bool bench_item_checked(const struct bench_item *it);

/* Checked, and won == available_before - available_after. */
bool bench_item_ok(const struct bench_item *it);

/* Checks (1) to (3) over the merged results into *v. */
void bench_judge(const struct bench *b, const struct bench_stats *tot, struct verdict *v);

/* ---- bench_report.c ---- */

struct figures {
	double interval_s;         /* first to last send */
	double msgs_per_s;         /* answered during the sending interval */
	double dgrams_per_s;       /* sent */
	double p50_us, p99_us, p999_us, max_us;
};

/* Throughput and latency figures of the merged results. */
void bench_figures(const struct bench_stats *tot, int64_t end_ns, struct figures *f);

/* "open loop R msgs/s" or "closed loop C datagrams in flight per thread". */
const char *bench_mode_text(const struct bench *b, char *buf, size_t len);

/* The results on stdout, as text or one JSON object; v is NULL without a
 * verdict. */
void bench_print_text(const struct bench *b, const struct bench_stats *tot,
		      const struct figures *f, const struct verdict *v);
void bench_print_json(const struct bench *b, const struct bench_stats *tot,
		      const struct figures *f, const struct verdict *v);

/* ---- pcap.c: the pcap writer (flashsale-pcapgen) ---- */

/* Runs the pcap writer on argv (argv[0] is the program or subcommand
 * name); prog prefixes messages ("flashsale-pcapgen", or "flashsale-bench
 * pcap" for the old form). fs_token_init must have succeeded. Returns the
 * exit code: 0, or 2 on a usage, config or file error. */
int pcapgen_main(const char *prog, int argc, char **argv);

#endif
