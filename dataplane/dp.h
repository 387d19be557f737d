/*
 * dp.h — the data plane: the FSP/1 wire codec and the front ends that move
 * FSP datagrams between the network and the shards.
 *
 * Codec: byte-exact to PROTOCOL.md; strict on input. A datagram whose length
 * is not 8 + 64 * count, whose magic or version differs, or whose count is 0
 * or > 32 is malformed: dp_fsp_parse_header() says so and the caller drops and
 * counts it. Field-level problems inside a well-framed message (unknown op,
 * qty 0, ...) are the store's to answer with BAD_REQUEST.
 *
 * Front end: see dp_engine_* below (kernel mode: one SO_REUSEPORT UDP socket
 * per worker lcore, recvmmsg/sendmmsg bursts; DPDK mode: one RX and one TX
 * queue per worker on every ethdev port, ARP/ICMP/UDP in user space and an
 * exception path to the kernel; both: hand-off to owner shards over DPDK
 * single-producer/single-consumer rings, the same worker logic).
 */
#ifndef DP_H
#define DP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs_common.h"
#include "fs_proto.h"

/* ---- codec ---- */

enum dp_fsp_err {
	DP_FSP_ERR_SHORT = 1,   /* shorter than the 8-byte header */
	DP_FSP_ERR_MAGIC = 2,
	DP_FSP_ERR_VERSION = 3,
	DP_FSP_ERR_COUNT = 4,   /* count 0 or > 32 */
	DP_FSP_ERR_LENGTH = 5,  /* length != 8 + 64 * count */
};

/* Check the framing of a datagram of len bytes. Returns the message count
 * (1..32) or -enum dp_fsp_err. Never reads beyond len. */
int dp_fsp_parse_header(const uint8_t *buf, size_t len);

/* Human name of a framing error ("bad magic", ...). */
const char *dp_fsp_err_name(int err);

/* Write the 8-byte header (magic, version, count, reserved 0). */
void dp_fsp_write_header(uint8_t *buf, unsigned count);

/* One 64-byte message <-> host-order struct. Reserved bytes are ignored on
 * decode and written as zero on encode. */
void dp_fsp_decode_req(const uint8_t *msg, struct fs_req *out);
void dp_fsp_encode_req(const struct fs_req *req, uint8_t *msg);
void dp_fsp_decode_resp(const uint8_t *msg, struct fs_resp *out);
void dp_fsp_encode_resp(const struct fs_resp *resp, uint8_t *msg);

/* ---- front end (engine) ---- */

struct cfg;
struct store_catalog;
struct store_shard;
struct store_change;
struct dp_engine;
struct wal;

/* Semi-synchronous acks ([replication] ack = standby): the replication
 * thread publishes, per shard, up to which LSN the standby has the records
 * durably (held OKs up to it may go) and, once the standby is lost under
 * on_standby_loss = wait, up to which LSN held OKs answer UNAVAILABLE
 * instead. Written by that thread (release), read by the shard's worker
 * once per loop (acquire): no lock on the data path.
 * Wake-up: a worker about to sleep with held answers sets waiting, issues a
 * seq_cst fence and re-reads the two LSNs (dp_engine_sleep; it also polls
 * efd); the replication thread, after moving them, fences and writes efd
 * if waiting is set. efd is owned by the replication thread (-1: none). */
struct dp_repl_gate {
	_Atomic uint64_t release_lsn;
	_Atomic uint64_t unavail_lsn;
	_Atomic int waiting;
	int efd;
};

/* The link between a shard and its write-ahead log. The shard's journal
 * hook (dp_journal_hook, ctx = this) appends every change to wal; the worker
 * that owns the shard submits one batch per loop (group commit), holds OK
 * answers until their batch is durable, and on a storage fault (err != 0)
 * turns the shard UNAVAILABLE and answers every held OK as UNAVAILABLE. */
struct dp_journal {
	struct wal *wal;       /* NULL: durability none, nothing is logged */
	struct dp_repl_gate *repl; /* NULL: acks wait for the local log only */
	uint64_t last_lsn;     /* LSN of the newest record appended (start: the log's end) */
	int err;               /* first storage error (-errno), 0 while healthy */
	bool dirty;            /* records appended since the last submit */
	uint64_t submitted;    /* last ticket wal_submit handed out */
	uint64_t appended;     /* records appended */
};

/* store_journal_fn for shards created with ctx = a struct dp_journal. */
void dp_journal_hook(void *ctx, const struct store_change *ch);
/* An admin record (persist.h, WAL_REC_ADMIN) into the same batch, on the
 * worker's thread (dp_engine_on_workers): committed with the worker's next
 * group commit. 0, or the log's first error (-errno; nothing appended). */
int dp_journal_admin(struct dp_journal *j, const void *payload, uint32_t len);

/* Initialise DPDK's EAL for cfg's mode (kernel: no hugepages, no PCI;
 * workers + 1 lcores). Call once, before anything else DPDK. 0 or -errno,
 * logged. */
int dp_eal_init(const struct cfg *cfg);

/* rte_eal_cleanup(), then remove EAL's runtime directory (/var/run/dpdk/PREFIX,
 * or under $XDG_RUNTIME_DIR) if it is empty: with --in-memory or --no-shconf
 * EAL creates it empty and never removes it. One still holding shared-config
 * files (multi-process setups) is left as EAL left it. */
void dp_eal_cleanup(void);

/* What the caller hands the engine: a validated config, the catalog and one
 * shard per worker (shards[i] is owned by worker i from launch until wait
 * returns). All must outlive the engine. */
struct dp_engine_params {
	const struct cfg *cfg;
	struct store_catalog *cat;
	struct store_shard **shards;
	struct dp_journal **journals; /* one per worker; NULL (or NULL entries) without a log */
	unsigned nworkers;
};

/* Allocate every worker's buffers and hand-off rings and open and bind the
 * sockets (kernel mode). Nothing is received before dp_engine_launch.
 * 0 or -errno with a one-line reason in err. EAL must be initialised. */
int dp_engine_create(const struct dp_engine_params *p, struct dp_engine **out, char *err,
		     size_t errlen);

/* Start worker i on the i-th worker lcore. 0 or -errno. */
int dp_engine_launch(struct dp_engine *e);

/* Ask every worker to finish its current burst and return. Async-signal-safe
 * (an atomic store and eventfd writes). */
void dp_engine_stop(struct dp_engine *e);

/* Wait until every worker has returned. */
void dp_engine_wait(struct dp_engine *e);

/* Close sockets and free everything; after wait. */
void dp_engine_free(struct dp_engine *e);

/* Run fn(ctx, i) on worker i's own thread, between two of its bursts, for
 * every worker i, and return when all have run it (or -ETIMEDOUT after
 * timeout_ms, with the request withdrawn from workers that did not start).
 * The shard is quiescent while fn runs: this is how the control plane takes
 * a consistent per-shard image without locks. Control plane only; one call
 * at a time. 0, -ETIMEDOUT. */
typedef void (*dp_worker_fn)(void *ctx, unsigned worker);
int dp_engine_on_workers(struct dp_engine *e, dp_worker_fn fn, void *ctx, int timeout_ms);

#define DP_STATS_DROP_REASONS 16   /* >= the classifier's drop reasons */

/* Why the HTTP front end closed a connection (dp_stats.http_closed). */
enum dp_http_close {
	DP_HCLOSE_CLIENT = 0,     /* the client closed, or asked to (Connection: close, HTTP/1.0) */
	DP_HCLOSE_IDLE_TIMEOUT,   /* a kept-alive connection idle too long */
	DP_HCLOSE_HEADER_TIMEOUT, /* a request not complete in time (408) */
	DP_HCLOSE_WRITE_TIMEOUT,  /* the client stopped reading its answers */
	DP_HCLOSE_LIMIT,          /* a request past a limit (413, 414, 431) */
	DP_HCLOSE_BAD_REQUEST,    /* another codec error that closes (400, 405, 501, ...) */
	DP_HCLOSE_ERROR,          /* the socket failed */
	DP_HCLOSE_TABLE_FULL,     /* accepted and closed at once: no free connection */
	DP_HTTP_CLOSE_REASONS
};
/* "client_close", "idle_timeout", ...; "?" beyond. */
const char *dp_http_close_name(unsigned reason);

/* Counters summed over workers (control plane; relaxed reads). */
struct dp_stats {
	uint64_t rx_dgrams, rx_msgs;
	uint64_t malformed;               /* datagrams dropped unanswered */
	uint64_t malformed_by_kind[6];    /* index = DP_FSP_ERR_*, [0] = truncated/oversize */
	uint64_t tx_dgrams, tx_msgs;
	uint64_t tx_dropped;              /* responses the kernel would not take */
	uint64_t handoffs;                /* messages sent to another worker's shard */
	uint64_t handoff_busy;            /* hand-off ring full: answered BUSY */
	uint64_t local_answers;           /* answered by the receiving worker's gate */
	uint64_t executed;                /* decided by an owner shard */
	uint64_t rate_limited;
	uint64_t by_status[FS_ST_COUNT];  /* every answer sent, by status */
	uint64_t sleeps;                  /* times an idle worker blocked */
	uint64_t held;                    /* OK answers that waited for the log */
	uint64_t unavailable;             /* answers turned UNAVAILABLE by a storage fault */
	uint64_t wal_batches;             /* group commits submitted */
	uint64_t returned;                /* answers that came back from an owner to the receiving worker */
	uint64_t pending_busy;            /* answered BUSY: the receiving worker's pending table was full */

	/* mode = dpdk: the user-space network stack in front of the workers */
	uint64_t rx_frames;               /* Ethernet frames received on the data ports */
	uint64_t arp_replies, icmp_replies;
	uint64_t frames_dropped;          /* dropped by the classifier, by reason below */
	uint64_t frames_dropped_by_reason[DP_STATS_DROP_REASONS]; /* dp_engine_drop_name(i) */
	uint64_t exc_to_kernel, exc_from_kernel; /* exception path frames, each way */
	uint64_t exc_dropped;             /* exception frames refused (rate bound, no path, full) */
	uint64_t tx_frames;               /* frames sent on the data ports */
	uint64_t tx_nombuf;               /* replies not built: mbuf pool empty */

	/* [net] http_port: the public HTTP API (kernel mode; dpdk mode through the exception TAP) */
	uint64_t http_accepted;           /* connections accepted */
	uint64_t http_refused;            /* connections closed at once: table full */
	uint64_t http_open;               /* connections open now */
	uint64_t http_requests;           /* requests handed to the engine */
	uint64_t http_errors;             /* answered by the codec itself (4xx) */
	uint64_t http_timeouts;           /* header timeouts (408) and idle closes */
	uint64_t http_closed[DP_HTTP_CLOSE_REASONS]; /* connections closed, by dp_http_close_name(i) */
};
void dp_engine_stats(const struct dp_engine *e, struct dp_stats *out);

/* ---- per-worker counters (/metrics, DPDK telemetry) ----
 *
 * Written by the worker only (relaxed stores into its own cache-aligned
 * block), read from any thread with relaxed loads: a recent value per
 * counter, never a torn one. Nothing here takes a lock. */

/* Where a worker's TSC cycles go (docs/architecture.md, "Cycle accounting"):
 * one rte_rdtsc() at each stage boundary of a loop, and per datagram at the
 * boundaries of its decode/gate/decide/reply phases. A loop that did no work
 * goes to IDLE whole (ops->idle: pause or sleep included). */
enum dp_cycle_stage {
	DP_STAGE_RX = 0,  /* the front end's receive + classify (and HTTP parsing), minus the engine stages it calls */
	DP_STAGE_DECODE,  /* FSP framing check + message decode */
	DP_STAGE_GATE,    /* rate limits + store_gate */
	DP_STAGE_HANDOFF, /* staging and ring enqueue to owners, return rings both ways */
	DP_STAGE_OWNER,   /* owner decisions (inline and from the rings), group commit, held releases */
	DP_STAGE_REPLY,   /* encoding answers into response datagrams */
	DP_STAGE_TX,      /* ops->tx: the front end builds frames, checksums, sends */
	DP_STAGE_IDLE,    /* loops that found nothing to do */
	DP_STAGE_COUNT
};
const char *dp_stage_name(unsigned stage);

enum { DP_PROTO_FSP = 0, DP_PROTO_HTTP = 1, DP_PROTO_COUNT = 2 };

struct dp_worker_stats {
	struct dp_stats st;                 /* this worker's engine and front-end counters */
	uint64_t cycles[DP_STAGE_COUNT];    /* TSC cycles by stage */
	uint64_t busy_loops, idle_loops;
	uint64_t requests[DP_PROTO_COUNT][FS_OP_MAX + 1][FS_ST_COUNT]; /* answers by protocol, op (0: unknown op), status */
	uint64_t decision_hist[FS_LAT_BUCKETS + 1]; /* receive -> answer handed to the front end, per bucket */
	uint64_t decision_sum_ns, decision_count;
	uint64_t handoff_ring_used;         /* entries waiting in the rings into this worker (hand-off) */
	uint64_t return_ring_used;          /* entries waiting in the return rings into this worker */
	uint64_t attempts_overflow;         /* BUY attempts of items its attempts table had no room for */
};

/* Worker count of the engine. */
unsigned dp_engine_nworkers(const struct dp_engine *e);

/* Worker i's counters (i < dp_engine_nworkers). Any thread. */
void dp_engine_worker_stats(const struct dp_engine *e, unsigned i, struct dp_worker_stats *out);

/* BUY messages received for item_id, summed over workers (every BUY that
 * arrived, whatever its answer). Any thread. */
uint64_t dp_engine_item_attempts(const struct dp_engine *e, uint32_t item_id);

/* TSC ticks per second (rte_get_tsc_hz) and whether the per-datagram stage
 * split is compiled in (meson -Dcycle_accounting). */
uint64_t dp_engine_tsc_hz(void);
bool dp_engine_stage_accounting(void);

/* Name of frames_dropped_by_reason[i] ("bad_udp_cksum", ...); "?" beyond. */
const char *dp_engine_drop_name(unsigned i);

/* Log the DPDK counters (frames by verdict, drops by reason, exception
 * path) in a few lines; nothing in kernel mode. Control plane. */
void dp_engine_log_net(const struct dp_engine *e, const char *when);

/* Control plane, from its loop (polls at most every 500 ms; a link query may
 * be a syscall, so never from a worker): in DPDK mode, log a data port whose
 * link went down or came back, e.g. a memif peer disconnecting (the memif PMD
 * raises no link-state event). While a link is down its TX ring refuses
 * frames: dropped, counted. No-op in kernel mode. */
void dp_engine_watch_links(struct dp_engine *e);

#endif
