/*
 * dp_internal.h — what the two front ends of the data plane share: the
 * worker (gate, inline owner decisions, hand-off rings, durability hold
 * queue; dp_kernel.c) and the per-mode I/O that feeds it (kernel sockets in
 * dp_kernel.c, DPDK ethdev ports in dp_dpdk.c). Private to dataplane/.
 *
 * The worker never knows where a datagram came from beyond a struct dp_peer:
 * the requester's IPv4 address and UDP port (both modes), plus in DPDK mode
 * the Ethernet source and the ethdev port it arrived on, so that an answer
 * decided on another core (hand-off) or later (held for the log) is built as
 * a frame to the right MAC and sent out of the right port.
 */
#ifndef DP_INTERNAL_H
#define DP_INTERNAL_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <rte_common.h>
#include <rte_ether.h>

#include "dp.h"
#include "fs_common.h"
#include "fs_proto.h"

#define DP_RX_BUF_LEN 4096           /* > 8 + 64 * 32 so oversize shows as too long */
#define DP_DGRAM_MAX (FSP_HDR_LEN + FSP_MSG_LEN * FS_MSGS_MAX)
#define DP_TX_SLOTS 256              /* response datagrams staged per loop */
#define DP_STAGE_MAX 64              /* hand-offs staged per (owner, ring) before a flush */
#define DP_DRAIN_MAX 256             /* ring entries decided per loop */
#define DP_PREFETCH_AHEAD 4          /* ring entries prefetched ahead of their decision */
#define DP_BUSY_RETRY_MS 10          /* retry_after_ms of a BUSY for a full ring */
#define FS_TIMER_NS (10 * FS_NS_PER_MS)
#define DP_RL_SLOTS 65536            /* rate-limit buckets per worker and kind */
#define DP_HELD_MAX 16384            /* OK answers waiting for their group commit */
#define DP_HELD_BUSY_RETRY_MS 5      /* retry_after_ms when the held queue is full */

enum { RING_CTL = 0, RING_BUY = 1, RING_KINDS = 2 };

/* Where a request came from and its answer goes. */
struct dp_peer {
	struct sockaddr_in sa;       /* IPv4 address and UDP port, network order */
	struct rte_ether_addr mac;   /* DPDK mode: the requester's Ethernet source */
	uint16_t port;               /* DPDK mode: index of the port it came in on */
};

static inline bool dp_peer_same(const struct dp_peer *a, const struct dp_peer *b)
{
	return a->sa.sin_addr.s_addr == b->sa.sin_addr.s_addr && a->sa.sin_port == b->sa.sin_port &&
	       a->port == b->port && rte_is_same_ether_addr(&a->mac, &b->mac);
}

/* One message handed to its owner shard; copied by value through the ring. */
struct dp_handoff {
	struct fs_req req;
	struct dp_peer src;
	uint32_t dgram_seq;   /* the producer's request datagram counter */
	uint16_t producer;
	uint16_t pad;
};
_Static_assert(sizeof(struct dp_handoff) % 4 == 0, "rte_ring elements are multiples of 4 bytes");

struct dp_txslot {
	struct dp_peer dst;
	uint32_t count;
	uint8_t buf[DP_DGRAM_MAX];
};

/* An OK answer waiting until its WAL batch (ticket) is durable. */
struct dp_held {
	uint64_t ticket;
	struct dp_peer dst;
	uint32_t key;         /* request datagram identity, for coalescing */
	struct fs_resp resp;
};

struct dp_stage {
	unsigned n;
	struct dp_handoff h[DP_STAGE_MAX];
};

struct dp_dpdk;        /* dp_dpdk.c: ports, pools, exception path */
struct dp_dpdk_worker; /* dp_dpdk.c: one worker's queues and counters */

struct dp_worker {
	unsigned id;
	int fd;                        /* kernel mode: the UDP socket; -1 in DPDK mode */
	int efd;
	atomic_int sleeping;
	struct dp_engine *eng;
	struct store_shard *shard;
	struct store_ratelimit *ip_rl, *user_rl;
	uint32_t dgram_seq;
	int64_t next_timer_ns;

	/* in[k][p]: from producer p (NULL for p == id); out[k][o]: to owner o */
	struct rte_ring *in[RING_KINDS][FS_WORKERS_MAX];
	struct rte_ring *out[RING_KINDS][FS_WORKERS_MAX];
	struct dp_stage *stage[RING_KINDS]; /* [nworkers] each */

	struct mmsghdr rx_msgs[FS_BURST_MAX];
	struct iovec rx_iov[FS_BURST_MAX];
	struct dp_peer rx_peer[FS_BURST_MAX];
	uint8_t rx_buf[FS_BURST_MAX][DP_RX_BUF_LEN];

	unsigned tx_n;
	struct mmsghdr tx_msgs[DP_TX_SLOTS];
	struct iovec tx_iov[DP_TX_SLOTS];
	struct dp_txslot tx[DP_TX_SLOTS];

	struct dp_handoff drain[DP_DRAIN_MAX];

	/* durability: the shard's log and the answers waiting for it */
	struct dp_journal *j;          /* NULL: durability none */
	int wal_efd;                   /* completion eventfd, -1 if none */
	bool failed;                   /* storage fault seen: shard is UNAVAILABLE */

	/* control-plane request to run on this thread (dp_engine_on_workers) */
	_Atomic(dp_worker_fn) call_fn;
	void *call_ctx;
	atomic_int call_done;
	unsigned held_head, held_n;
	struct dp_held *held;          /* DP_HELD_MAX, FIFO (tickets non-decreasing) */

	struct dp_dpdk_worker *dpdk;   /* DPDK mode: this worker's queues; NULL in kernel mode */
	unsigned sleep_us;             /* DPDK mode: current idle back-off */

	struct dp_stats st;
} __rte_cache_aligned;

_Static_assert(sizeof(struct dp_stats) % sizeof(uint64_t) == 0, "dp_stats is summed as uint64_t words");

struct dp_engine {
	const struct cfg *cfg;
	struct store_catalog *cat;
	struct dp_journal **journals;
	unsigned n;
	atomic_int quit;
	struct dp_worker *w[FS_WORKERS_MAX];
	void *ring_mem[RING_KINDS][FS_WORKERS_MAX][FS_WORKERS_MAX];
	struct dp_dpdk *dpdk;          /* DPDK mode; NULL in kernel mode */
};

/* ---- the shared worker (dp_kernel.c) ---- */

/* Feed one received FSP datagram (buf[0..len), the UDP payload) to worker w:
 * framing check, gate, inline owner decision or hand-off; local answers are
 * staged in w's tx slots. truncated: the datagram did not fit the receive
 * buffer (counted as malformed).
 *
 * inplace (DPDK mode: buf itself, the request mbuf's payload; NULL in kernel
 * mode): when every message of the datagram was answered on this core (no
 * hand-off, nothing held), the response datagram is written there instead of
 * a tx slot, after the request was read in full; it is never longer than the
 * request. Returns its length, or 0 when nothing was written in place (the
 * answers, if any, were staged, handed off or held). */
size_t dp_worker_rx_dgram(struct dp_worker *w, const uint8_t *buf, size_t len, bool truncated,
			  const struct dp_peer *src, int64_t now_ns, int64_t mono_ns,
			  uint8_t *inplace);

/* Block for at most us microseconds on rx_fd (-1: none), the worker's wake
 * eventfd and its log's completion eventfd, unless work is already pending. */
void dp_worker_sleep(struct dp_worker *w, int rx_fd, unsigned us);

/* ---- DPDK I/O (dp_dpdk.c) ---- */

/* Take every ethdev EAL probed as a data port: queues per worker, pools per
 * socket, link-up wait, exception path; set w->dpdk of every worker. */
int dp_dpdk_create(struct dp_engine *e, char *err, size_t errlen);

/* Announce our address on every port (gratuitous ARP); before launch. */
void dp_dpdk_announce(struct dp_engine *e);

/* One receive pass over every port of worker w: ARP/ICMP answered in place,
 * FSP into dp_worker_rx_dgram, the rest to the exception path. Returns the
 * frames handled. */
unsigned dp_dpdk_rx(struct dp_worker *w, int64_t now_ns, int64_t mono_ns);

/* Build w's staged response datagrams as frames and send them on w's TX
 * queues (with any ARP/ICMP replies and exception frames pending). */
void dp_dpdk_tx_flush(struct dp_worker *w);

/* Worker timer tick (every FS_TIMER_NS): worker 0 announces our address on
 * a port whose link was down at start as soon as it comes up. */
void dp_dpdk_timer(struct dp_worker *w);

/* Idle back-off of a DPDK worker after idle empty loops. */
void dp_dpdk_idle(struct dp_worker *w, unsigned idle);

/* Add the classifier's per-worker counters into out (dp_engine_stats). */
void dp_dpdk_stats_add(const struct dp_engine *e, struct dp_stats *out);

/* Stop the ports, log their counters, free pools; after the workers returned. */
void dp_dpdk_free(struct dp_engine *e);

#endif
