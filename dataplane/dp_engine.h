/*
 * dp_engine.h — the contract between the worker engine (dp_engine.c) and its
 * front ends (kernel sockets in dp_kernel.c, DPDK ports in dp_dpdk.c, a fake
 * in tests/test_engine.c). Private to dataplane/ (and its tests).
 *
 * The engine owns the worker loop, the hand-off rings, owner decisions, the
 * durability hold queue, timers, sleeping and waking, and the dp_engine_* API
 * of dp.h. A front end only moves datagrams: it supplies ONE struct dp_fe_ops,
 * chosen once when the engine is created, and the engine calls it only
 * through that pointer (no mode branches in the engine). The front end calls
 * back only the narrow API below; struct dp_worker is opaque to it.
 *
 * The engine never knows where a datagram came from beyond a struct dp_peer:
 * the requester's IPv4 address and UDP port (every front end), plus for DPDK
 * the Ethernet source and the ethdev port it arrived on, so an answer decided
 * on another core (hand-off) or later (held for the log) goes back the right
 * way.
 */
#ifndef DP_ENGINE_H
#define DP_ENGINE_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_ether.h>

#include "dp.h"
#include "dp_limits.h"

/* Where a request came from and its answer goes. */
struct dp_peer {
	struct sockaddr_in sa;       /* IPv4 address and UDP port, network order */
	struct rte_ether_addr mac;   /* DPDK: the requester's Ethernet source */
	uint16_t port;               /* DPDK: index of the port it came in on */
};

static inline bool dp_peer_same(const struct dp_peer *a, const struct dp_peer *b)
{
	return a->sa.sin_addr.s_addr == b->sa.sin_addr.s_addr && a->sa.sin_port == b->sa.sin_port &&
	       a->port == b->port && rte_is_same_ether_addr(&a->mac, &b->mac);
}

/* One response datagram the engine hands a front end to send: header and
 * count messages already encoded in buf. */
struct dp_txslot {
	struct dp_peer dst;
	uint32_t count;
	uint64_t t0;                 /* engine: TSC when its request was taken (latency histogram) */
	uint8_t buf[DP_DGRAM_MAX_BYTES];
};

static inline size_t dp_txslot_len(const struct dp_txslot *t)
{
	return FSP_HDR_LEN + (size_t)FSP_MSG_LEN * t->count;
}

struct cfg;
struct dp_worker; /* opaque to front ends */

/* A front end. fe is its engine-wide state, fw[i] worker i's (both set by
 * create). Every hook runs on worker i's own thread except create, start,
 * free, stats, watch and log (control plane). NULL hooks are skipped. */
struct dp_fe_ops {
	const char *name;
	/* Any worker may send an answer to any peer (UDP: same address and
	 * port on every worker; DPDK: every worker has a TX queue on every
	 * port). Then the answer to a one-message request datagram leaves from
	 * whichever worker decided it; otherwise (a connection owned by one
	 * worker) every answer comes back to the receiving worker. */
	bool reply_from_any_worker;
	/* Open ports or sockets for nworkers workers; nothing is received
	 * before launch. 0 or -errno with a one-line reason in err. On failure
	 * free is still called with what was set. */
	int (*create)(const struct cfg *cfg, unsigned nworkers, void **fe, void *fw[], char *err,
		      size_t errlen);
	void (*start)(void *fe);                 /* just before the workers launch */
	void (*free)(void *fe, void *fw[], unsigned nworkers);
	/* Receive one burst and feed every FSP datagram to dp_engine_rx_dgram.
	 * Returns units of work done (0: nothing arrived). */
	unsigned (*rx)(void *fw, struct dp_worker *w, int64_t now_ns, int64_t mono_ns);
	/* Send n staged response datagrams (n may be 0: flush what the front
	 * end queued itself). Returns how many it took; the engine counts the
	 * rest as tx_dropped. */
	unsigned (*tx)(void *fw, const struct dp_txslot *t, unsigned n);
	/* The loop found nothing to do for idle_loops loops in a row: pause or
	 * block (dp_engine_sleep). Returns true when the count is to restart. */
	bool (*idle)(void *fw, struct dp_worker *w, unsigned idle_loops);
	void (*timer)(void *fw);                 /* every DP_TIMER_NS */
	/* Add the front end's own counters into out. */
	void (*stats)(const void *fe, void *const fw[], unsigned nworkers, struct dp_stats *out);
	void (*watch)(void *fe);                 /* dp_engine_watch_links */
	void (*log)(const void *fe, const struct dp_stats *s, const char *when);
	/* Connection front ends (HTTP): the answer to a request fed through
	 * dp_engine_rx_req that was not answered at once, called on the worker
	 * that received it, from inside the engine's loop (after rx, before
	 * tx): complete the request and queue its output; never feed the
	 * engine a new request from here. Exactly once per such request. */
	void (*answer)(void *fw, uint64_t cookie, const struct fs_resp *r);
};

extern const struct dp_fe_ops dp_kernel_ops; /* dp_kernel.c */
extern const struct dp_fe_ops dp_dpdk_ops;   /* dp_dpdk.c */

/* Feed one received FSP datagram (buf[0..len), the UDP payload) to worker w:
 * framing check, gate, inline owner decision or hand-off; local answers are
 * staged. truncated: the datagram did not fit the receive buffer (counted as
 * malformed).
 *
 * inplace (buf itself, when the front end can send from it; else NULL): when
 * every message of the datagram was answered on this core at once, the
 * response datagram is written there instead of a tx slot, after the request
 * was read in full; it is never longer than the request. Returns its length,
 * or 0 when nothing was written in place. */
size_t dp_engine_rx_dgram(struct dp_worker *w, const uint8_t *buf, size_t len, bool truncated,
			  const struct dp_peer *src, int64_t now_ns, int64_t mono_ns,
			  uint8_t *inplace);

/* Optional, before dp_engine_rx_dgram on a burst (DPDK front end: one pass
 * over the burst first): prefetch what the gate will read for every BUY of
 * the datagram buf[0..len) (store_gate_prefetch), so the burst's cache misses
 * overlap instead of costing one each in turn. Reads buf only; changes no
 * state and no answer; a malformed datagram is ignored. */
void dp_engine_prefetch_dgram(const struct dp_worker *w, const uint8_t *buf, size_t len);

/* Feed one request read from a connection owned by worker w (HTTP): the
 * per-address (client_ip, IPv4 host order) and per-user rate limits, the
 * gate, then an inline decision on this worker's shard or a hand-off to its
 * owner, exactly as one message of an FSP datagram. Returns true with *resp
 * set when it is answered now; false when the answer comes later through
 * ops->answer(fw, cookie, ...) on this worker (another owner decided it, or
 * it waited for the log), over the same pending table and return rings as a
 * multi-message datagram. After dp_engine_stop nothing new is decided: the
 * answer is BUSY at once. Never allocates. */
bool dp_engine_rx_req(struct dp_worker *w, const struct fs_req *req, uint32_t client_ip,
		      uint64_t cookie, int64_t now_ns, int64_t mono_ns, struct fs_resp *resp);

/* Charge one request that never reaches the gate (the HTTP codec refused
 * it: malformed, bad body, unknown path, a limit) to client_ip's (IPv4,
 * host order) per-address bucket of worker w. true: allowed (or no
 * per-address limit); false: the bucket is empty, *retry_ms set, counted
 * as rate_limited. Never allocates. */
bool dp_engine_charge_ip(struct dp_worker *w, uint32_t client_ip, int64_t mono_ns,
			 uint32_t *retry_ms);

/* Block for at most us microseconds on rx_fd (-1: none), the worker's wake
 * eventfd and its log's completion eventfd, unless work is already pending. */
void dp_engine_sleep(struct dp_worker *w, int rx_fd, unsigned us);

/* dp_engine_create with an explicit front end (dp_engine_create picks one
 * from cfg->mode; tests pass a fake). */
int dp_engine_create_fe(const struct dp_engine_params *p, const struct dp_fe_ops *ops,
			struct dp_engine **out, char *err, size_t errlen);

/* Test seam: run one loop iteration of worker i on the caller's thread (the
 * engine must not be launched). After dp_engine_stop, iterations run the
 * shutdown drain. Returns true while the worker would keep looping, false
 * once it would have returned. */
bool dp_engine_poll_once(struct dp_engine *e, unsigned i);

#endif
