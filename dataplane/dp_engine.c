/*
 * dp_engine.c — the worker engine every front end shares: the worker loop,
 * hand-off rings, owner decisions, the durability hold queue (dp_hold.c),
 * timers, sleeping and waking, control-plane calls, and the dp_engine_* API
 * of dp.h. The front end (kernel sockets, DPDK ports, a test fake) is one
 * struct dp_fe_ops chosen at create (dp_engine.h); the engine calls it only
 * through that pointer.
 *
 * One worker per EAL worker lcore; worker i owns shard i. The loop of a
 * worker (worker_step):
 *
 *   1. ops->rx: the front end receives a burst and feeds each FSP datagram
 *      to dp_engine_rx_dgram.
 *   2. For each datagram: strict framing check (malformed: dropped and
 *      counted, never answered), then per message the per-address and
 *      per-user rate limits and store_gate(). Answers that need no state are
 *      collected into one response datagram for that request datagram.
 *      Messages for this worker's own shard are decided inline; messages for
 *      another shard are staged per owner and handed off in bursts through a
 *      single-producer/single-consumer rte_ring (by value: no buffers to give
 *      back). Two rings per (producer, owner) pair: CONFIRM/CANCEL/
 *      ORDER_STATUS go on the priority ring, which owners drain first, so
 *      payment traffic is not starved by a BUY spike. A full ring is the
 *      admission limit: the message is answered BUSY with retry_after_ms.
 *   3. Drain the incoming rings (bounded per loop) and decide each message on
 *      the shard; each answer goes back to the receiving worker over a return
 *      ring (below), or straight to the peer when it is a whole response.
 *   4. Group commit: submit this loop's log records, release held answers
 *      whose batch is durable (in ticket order), the same way.
 *   5. Take the answers that came back on the return rings; ops->tx: send
 *      everything staged.
 *   6. Every DP_TIMER_NS: expire due reservations, trim idempotency entries,
 *      ops->timer.
 *   7. Idle: ops->idle after each empty loop; the front end pauses or blocks
 *      in dp_engine_sleep(). Producers write the owner's eventfd only when it
 *      says it is asleep (Dekker-style: sleeping flag, full fence, re-check),
 *      so the busy path makes no syscalls of its own. With answers held for
 *      the standby (ack = standby) the worker also sets its gate's waiting
 *      flag and polls the gate's eventfd: the replication thread writes it
 *      when an ACK moves the gate (dp.h, struct dp_repl_gate).
 *
 * Return path (no amplification: PROTOCOL.md wants ONE response datagram per
 * request datagram, no larger than it). A datagram whose answers are not all
 * known when it is received (some messages handed to other owners, or held
 * for the log) takes a slot of the receiving worker's pending table
 * (DP_PENDING_DGRAMS_MAX, preallocated): peer, message count, the answers
 * encoded so far. Hand-offs and held answers carry the slot's tag (slot and
 * generation). Owners stage answers per producer (DP_RETURN_STAGE_MSGS_MAX)
 * and push them onto the return ring owner -> producer (SP/SC, ring_size
 * entries, by value); the producer adds each to its slot, and the last one
 * sends the datagram and frees the slot. Every message gets exactly one
 * answer, so got == count completes a slot. Bounds, and nothing is lost:
 *   - pending table full: the messages that would need a slot are answered
 *     BUSY (DP_PENDING_BUSY_RETRY_MS) inside the same single response;
 *   - an owner dequeues hand-offs from producer p only while its return
 *     stage to p has room for their answers, so a full return ring stalls
 *     that owner's intake (the hand-off ring fills, p answers BUSY) instead
 *     of dropping a decided answer; a held answer whose stage is full stays
 *     at the head of the hold queue and is retried next loop.
 * A one-message datagram is its own response: when the front end lets any
 * worker send to any peer (reply_from_any_worker: UDP, DPDK) its answer is
 * sent by whichever worker decided it (tag DP_TAG_DIRECT), as before. The
 * HTTP front end (connections owned by one worker) will get every answer
 * back on the connection's worker through the same path.
 *
 * Stop (worker_quiesce): every worker stops receiving and flushes its staged
 * hand-offs; each keeps draining, deciding, waiting for its log and
 * returning answers until it owes nothing; it returns once all workers owe
 * nothing and its own return rings are empty, when its pending table is
 * empty (asserted): everything received was answered.
 *
 * Counters (dp_engine_worker_stats): each worker writes its own, with a
 * relaxed load and store (CTR_ADD: no locked instruction), in a block of its
 * own cache lines; any thread reads them relaxed. Answers are counted by
 * protocol, op and status where they are produced; BUY attempts by item in a
 * small per-worker table; TSC cycles by stage at each stage boundary of a
 * loop and, on one datagram in DP_CYCLE_SAMPLE_DGRAMS, at each phase of
 * dp_engine_rx_dgram (docs/architecture.md, "Cycle accounting"); the
 * decision-latency histogram from the loop TSC at which a request was taken
 * (carried by pending slots and held answers) to tx_flush.
 *
 * Order the engine relies on (asserted): hold-queue tickets never decrease
 * and held answers leave in ticket order (dp_hold.c). With
 * -Dexpensive_asserts=true every loop that decided something on the shard
 * ends with store_audit of it (FS_ASSERT_EXPENSIVE).
 */
#include "dp.h"
#include "dp_engine.h"
#include "dp_hold.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rte_common.h>
#include <rte_cycles.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "cfg.h"
#include "fs_common.h"
#include "persist.h"
#include "store.h"

enum { RING_CTL = 0, RING_BUY = 1, RING_KINDS = 2 };

/* Where an owner's answer goes: a tag names a slot of the receiving
 * worker's pending table (low 16 bits) and that slot's generation (high 16);
 * DP_TAG_DIRECT: the answer is a whole response datagram by itself and the
 * deciding worker sends it to the peer. */
#define DP_TAG_DIRECT UINT32_MAX
#define DP_TAG_NONE (UINT32_MAX - 1) /* no pending slot (free, or none taken) */

/* One message handed to its owner shard; copied by value through the ring. */
struct dp_handoff {
	struct fs_req req;
	struct dp_peer src;
	uint32_t tag;         /* the producer's pending slot, or DP_TAG_DIRECT */
	uint16_t producer;
	uint16_t pad;
};
_Static_assert(sizeof(struct dp_handoff) % 4 == 0, "rte_ring elements are multiples of 4 bytes");

/* One answer on its way back from the owner to the receiving worker. */
struct dp_answer {
	struct fs_resp resp;
	uint32_t tag;         /* the receiving worker's pending slot */
	uint32_t pad;
};
_Static_assert(sizeof(struct dp_answer) % 4 == 0, "rte_ring elements are multiples of 4 bytes");
_Static_assert(sizeof(struct dp_answer) == 72, "docs/architecture.md gives the return-ring element size");
_Static_assert(sizeof(struct dp_handoff) == 88, "docs/architecture.md gives the hand-off element size");

/* A request datagram waiting on the receiving worker for answers decided
 * elsewhere (another owner) or later (held for the log). Answers are encoded
 * into buf as they arrive; when got == expected (the request's message
 * count: every message gets exactly one answer) buf leaves as the one
 * response datagram. */
struct dp_pending {
	struct dp_peer src;
	uint64_t cookie;      /* conn: the front end's name for the request */
	uint32_t tag;         /* DP_TAG_NONE while free */
	uint64_t rx_tsc;      /* loop TSC when it was received (latency histogram) */
	uint8_t expected, got;
	bool conn;            /* one request of a connection (dp_engine_rx_req) */
	uint8_t buf[DP_DGRAM_MAX_BYTES];
};

struct dp_rstage {
	unsigned n;
	struct dp_answer a[DP_RETURN_STAGE_MSGS_MAX];
};

struct dp_stage {
	unsigned n;
	struct dp_handoff h[DP_STAGE_MSGS_MAX];
};

/* Counters only the worker writes (CTR_ADD: a relaxed load and store, no
 * read-modify-write instruction) and any thread reads (CTR_GET). */
#define CTR_ADD(x, v) __atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) + (v), __ATOMIC_RELAXED)
#define CTR_GET(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

/* The per-datagram stage split (meson -Dcycle_accounting, on by default):
 * a TSC read at each phase boundary of dp_engine_rx_dgram, on one datagram
 * in DP_CYCLE_SAMPLE_DGRAMS (a TSC read costs ~80 cycles on a VM: six per
 * datagram would be 10-20 % of a one-message datagram's work), its phases
 * counted DP_CYCLE_SAMPLE_DGRAMS times. Off, those cycles stay in
 * DP_STAGE_RX; the loop-level stages are always measured. */
_Static_assert((DP_CYCLE_SAMPLE_DGRAMS & (DP_CYCLE_SAMPLE_DGRAMS - 1)) == 0,
	       "the sample period is a power of two");

/* BUY attempts of one item on one worker (key = item_id + 1; 0: free). */
struct dp_item_ctr {
	uint64_t key;
	uint64_t n;
};

/* What a worker publishes beyond struct dp_stats (dp_worker_stats). */
struct dp_worker_pub {
	uint64_t cycles[DP_STAGE_COUNT];
	uint64_t busy_loops, idle_loops;
	uint64_t requests[DP_PROTO_COUNT][FS_OP_MAX + 1][FS_ST_COUNT];
	uint64_t lat_hist[FS_LAT_BUCKETS + 1];
	uint64_t lat_sum_ns, lat_count;
	uint64_t att_overflow;
};

struct dp_worker {
	unsigned id;
	struct dp_engine *eng;
	void *fe;                      /* the front end's per-worker state */
	struct store_shard *shard;
	struct store_ratelimit *ip_rl, *user_rl;
	int64_t next_timer_ns;
	unsigned idle;                 /* empty loops in a row */
	bool rx_stopped;               /* after stop: receives nothing more */
	bool owner_done;               /* after stop: owes no answer to anyone */
	bool done;                     /* returned (or would have) after stop */

	/* in[k][p]: from producer p (NULL for p == id); out[k][o]: to owner o */
	struct rte_ring *in[RING_KINDS][FS_WORKERS_MAX];
	struct rte_ring *out[RING_KINDS][FS_WORKERS_MAX];
	struct dp_stage *stage[RING_KINDS]; /* [nworkers] each */

	/* the return path: ret_in[o] answers from owner o to us; ret_out[p]
	 * our answers to producer p (NULL for o, p == id) */
	struct rte_ring *ret_in[FS_WORKERS_MAX];
	struct rte_ring *ret_out[FS_WORKERS_MAX];
	struct dp_rstage *rstage;      /* [nworkers] */
	struct dp_answer ret_drain[DP_RETURN_DRAIN_MSGS_MAX];
	struct dp_pending *pend;       /* DP_PENDING_DGRAMS_MAX */
	uint16_t *pend_free;           /* stack of free slots */
	unsigned pend_nfree;
	uint16_t pend_gen;

	unsigned tx_n;
	struct dp_txslot tx[DP_TX_DGRAMS_MAX];

	struct dp_handoff drain[DP_DRAIN_MSGS_MAX];

	/* durability: the shard's log and the answers waiting for it */
	struct dp_journal *j;          /* NULL: durability none */
	int wal_efd;                   /* completion eventfd, -1 if none */
	bool failed;                   /* storage fault seen: shard is UNAVAILABLE */
	struct dp_hold hold;
	uint64_t gate_rel, gate_unav;  /* the repl gate as held_release last read it */

	struct dp_stats st;

	/* cycle accounting (worker-private): this loop's start and the cycles
	 * dp_engine_rx_dgram spent in engine stages inside ops->rx */
	uint64_t loop_tsc;
	uint64_t cyc_in[DP_STAGE_COUNT];
	unsigned cyc_dgrams;           /* datagrams seen: every DP_CYCLE_SAMPLE_DGRAMS-th is split */
	int64_t rx_net;                /* receive cycles less the (sampled) engine stages, summed */
	int64_t rx_pub;                /* what of it pub.cycles[DP_STAGE_RX] holds */
	unsigned now_answers;          /* answered this loop without a tx slot (in place, HTTP inline) */
	struct dp_item_ctr *att;       /* att_mask + 1 slots */
	unsigned att_mask;

	alignas(RTE_CACHE_LINE_SIZE) struct dp_worker_pub pub;

	/* Written by other cores: producers read `sleeping` and write efd
	 * (wake), so they get a cache line of their own, away from the
	 * counters and buffers this core writes on every loop. */
	alignas(RTE_CACHE_LINE_SIZE) atomic_int sleeping;
	int efd;

	/* control-plane request to run on this thread (dp_engine_on_workers) */
	alignas(RTE_CACHE_LINE_SIZE) _Atomic(dp_worker_fn) call_fn;
	void *call_ctx;
	atomic_int call_done;
} __rte_cache_aligned;

_Static_assert(sizeof(struct dp_stats) % sizeof(uint64_t) == 0, "dp_stats is summed as uint64_t words");
_Static_assert(offsetof(struct dp_worker, sleeping) % RTE_CACHE_LINE_SIZE == 0,
	       "the wake fields start a cache line");
_Static_assert(offsetof(struct dp_worker, call_fn) - offsetof(struct dp_worker, sleeping) >=
		       RTE_CACHE_LINE_SIZE,
	       "the wake fields have the cache line to themselves");

struct dp_engine {
	const struct cfg *cfg;
	const struct dp_fe_ops *ops;
	void *fe;                      /* the front end's engine-wide state */
	void *fw[FS_WORKERS_MAX];      /* its per-worker state */
	struct store_catalog *cat;
	struct dp_journal **journals;
	unsigned n;
	atomic_int quit;
	atomic_uint rx_stopped;        /* workers that receive nothing more */
	atomic_uint owners_done;       /* workers that owe no answer any more */
	struct dp_worker *w[FS_WORKERS_MAX];
	double ns_per_tsc;
	uint64_t tsc_read_cycles;      /* what one rte_rdtsc() adds to an interval (tsc_read_cost) */
	void *ring_mem[RING_KINDS][FS_WORKERS_MAX][FS_WORKERS_MAX];
	void *ret_mem[FS_WORKERS_MAX][FS_WORKERS_MAX]; /* [owner][producer] */
};

/* ---------------------------------------------------------------- tx */

/* The decision-latency histogram: n answers taken cycles TSC ticks ago. */
static void lat_observe(struct dp_worker *w, uint64_t cycles, uint64_t n)
{
	uint64_t ns = (uint64_t)((double)cycles * w->eng->ns_per_tsc);

	CTR_ADD(w->pub.lat_hist[fs_lat_bucket(ns)], n);
	CTR_ADD(w->pub.lat_sum_ns, ns * n);
	CTR_ADD(w->pub.lat_count, n);
}

/* Every answer handed to the front end now: those received in this loop in
 * one observation, the others (returned, held) one by one. */
static void lat_flush(struct dp_worker *w)
{
	uint64_t now = rte_rdtsc(), same = w->now_answers;

	for (unsigned i = 0; i < w->tx_n; i++) {
		if (w->tx[i].t0 == w->loop_tsc)
			same++;
		else
			lat_observe(w, now - w->tx[i].t0, 1);
	}
	if (same)
		lat_observe(w, now - w->loop_tsc, same);
	w->now_answers = 0;
}

static void tx_flush(struct dp_worker *w)
{
	unsigned sent;

	if (w->tx_n || w->now_answers)
		lat_flush(w);
	sent = w->eng->ops->tx(w->fe, w->tx, w->tx_n);

	FS_ASSERT(sent <= w->tx_n);
	/* What the front end would not take (socket buffer full): UDP may
	 * drop; count it. */
	for (unsigned i = sent; i < w->tx_n; i++) {
		w->st.tx_dropped++;
		w->st.tx_msgs -= w->tx[i].count;
		w->st.tx_dgrams--;
	}
	w->tx_n = 0;
}

/* Open a response datagram to dst; flushes first when all slots are used. */
static struct dp_txslot *tx_open(struct dp_worker *w, const struct dp_peer *dst, uint64_t t0)
{
	struct dp_txslot *t;

	if (unlikely(w->tx_n == DP_TX_DGRAMS_MAX))
		tx_flush(w);
	t = &w->tx[w->tx_n];
	t->dst = *dst;
	t->count = 0;
	t->t0 = t0;
	return t;
}

/* One answer produced: by status (dp_stats) and by protocol, op, status. */
static inline void count_answer(struct dp_worker *w, unsigned proto, const struct fs_resp *r)
{
	unsigned st = r->status < FS_ST_COUNT ? r->status : 0;
	unsigned op = r->op <= FS_OP_MAX ? r->op : 0;

	w->st.by_status[st]++;
	CTR_ADD(w->pub.requests[proto][op][st], 1);
}

/* Close a datagram opened by tx_open: queue it if it holds anything. */
static void tx_close(struct dp_worker *w, struct dp_txslot *t)
{
	if (t == NULL || t->count == 0)
		return;
	FS_ASSERT(t == &w->tx[w->tx_n]);
	dp_fsp_write_header(t->buf, t->count);
	w->tx_n++;
	w->st.tx_dgrams++;
	w->st.tx_msgs += t->count;
}

static void tx_add(struct dp_worker *w, struct dp_txslot *t, const struct fs_resp *r)
{
	FS_ASSERT(t->count < FS_MSGS_MAX);
	dp_fsp_encode_resp(r, t->buf + FSP_HDR_LEN + FSP_MSG_LEN * t->count);
	t->count++;
	count_answer(w, DP_PROTO_FSP, r);
}
/* One answer as a response datagram of its own (it answers a one-message
 * request datagram). */
static void send_one(struct dp_worker *w, const struct dp_peer *dst, const struct fs_resp *r,
		     uint64_t t0)
{
	struct dp_txslot *t = tx_open(w, dst, t0);

	tx_add(w, t, r);
	tx_close(w, t);
}

/* ---------------------------------------------------------------- pending */

/* Take a pending slot for a request datagram of count messages from src.
 * Returns its tag, or DP_TAG_NONE when the table is full. */
static uint32_t pending_alloc(struct dp_worker *w, const struct dp_peer *src, unsigned count)
{
	struct dp_pending *p;
	unsigned slot;

	if (unlikely(w->pend_nfree == 0))
		return DP_TAG_NONE;
	slot = w->pend_free[--w->pend_nfree];
	p = &w->pend[slot];
	FS_ASSERT(p->tag == DP_TAG_NONE);
	w->pend_gen++;
	p->tag = (uint32_t)w->pend_gen << 16 | slot;
	p->src = *src;
	p->expected = (uint8_t)count;
	p->got = 0;
	p->rx_tsc = w->loop_tsc;
	p->conn = false;
	return p->tag;
}

static void pending_free(struct dp_worker *w, struct dp_pending *p, unsigned slot)
{
	p->tag = DP_TAG_NONE;
	FS_ASSERT(w->pend_nfree < DP_PENDING_DGRAMS_MAX);
	w->pend_free[w->pend_nfree++] = (uint16_t)slot;
}

/* One answer for the request datagram of tag; the last one sends the
 * response datagram and frees the slot. */
static void pending_add(struct dp_worker *w, uint32_t tag, const struct fs_resp *r)
{
	unsigned slot = tag & 0xffff;
	struct dp_pending *p;
	struct dp_txslot *t;

	FS_ASSERT(slot < DP_PENDING_DGRAMS_MAX);
	p = &w->pend[slot];
	FS_ASSERT(p->tag == tag);
	FS_ASSERT(p->got < p->expected);
	if (p->conn) {
		/* A connection's request: its answer goes to the front end. */
		count_answer(w, DP_PROTO_HTTP, r);
		lat_observe(w, rte_rdtsc() - p->rx_tsc, 1);
		pending_free(w, p, slot);
		w->eng->ops->answer(w->fe, p->cookie, r);
		return;
	}
	dp_fsp_encode_resp(r, p->buf + FSP_HDR_LEN + FSP_MSG_LEN * p->got);
	p->got++;
	count_answer(w, DP_PROTO_FSP, r);
	if (p->got < p->expected)
		return;
	t = tx_open(w, &p->src, p->rx_tsc);
	memcpy(t->buf + FSP_HDR_LEN, p->buf + FSP_HDR_LEN, (size_t)FSP_MSG_LEN * p->got);
	t->count = p->got;
	tx_close(w, t);
	pending_free(w, p, slot);
}

static unsigned pending_used(const struct dp_worker *w)
{
	return w->pend ? DP_PENDING_DGRAMS_MAX - w->pend_nfree : 0;
}

/* ---------------------------------------------------------------- hand-off */

static void wake(struct dp_worker *owner)
{
	uint64_t one = 1;

	/* Pairs with the fence in dp_engine_sleep(): either the owner sees our
	 * entries before it blocks, or we see it asleep and wake it. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&owner->sleeping, memory_order_relaxed))
		(void)!write(owner->efd, &one, sizeof(one));
}

/* A rejection decided by the front end (BUSY, RATE_LIMITED): the request's
 * identifying fields echoed, everything else zero. */
static void reject(struct fs_resp *r, const struct fs_req *req, uint8_t status,
		   uint32_t retry_after_ms)
{
	memset(r, 0, sizeof(*r));
	r->op = req->op;
	r->status = status;
	r->item_id = req->item_id;
	r->user_id = req->user_id;
	r->request_id = req->request_id;
	r->order_id = req->order_id;
	r->retry_after_ms = retry_after_ms;
}

/* ---------------------------------------------------------------- return path */

/* Push staged answers for producer p onto its return ring; what does not fit
 * stays staged (retried next loop: never dropped). */
static void return_flush(struct dp_worker *w, unsigned p)
{
	struct dp_rstage *s = &w->rstage[p];
	unsigned done;

	if (s->n == 0)
		return;
	done = rte_ring_enqueue_burst_elem(w->ret_out[p], s->a, sizeof(struct dp_answer), s->n,
					   NULL);
	if (done == 0)
		return;
	s->n -= done;
	memmove(s->a, s->a + done, s->n * sizeof(s->a[0]));
	wake(w->eng->w[p]);
}

static void return_all_flush(struct dp_worker *w)
{
	for (unsigned p = 0; p < w->eng->n; p++)
		return_flush(w, p);
}

static unsigned returns_staged(const struct dp_worker *w)
{
	unsigned n = 0;

	for (unsigned p = 0; p < w->eng->n; p++)
		n += w->rstage[p].n;
	return n;
}

/* Route an answer this worker decided for a request that producer received.
 * Returns false (nothing done) only when the return stage to producer is full
 * even after a flush: the caller keeps the answer and retries later. */
static bool deliver(struct dp_worker *w, unsigned producer, uint32_t tag,
		    const struct dp_peer *src, const struct fs_resp *r, uint64_t t0)
{
	struct dp_rstage *s;

	if (tag == DP_TAG_DIRECT) {
		send_one(w, src, r, t0);
		return true;
	}
	if (producer == w->id) {
		pending_add(w, tag, r);
		return true;
	}
	s = &w->rstage[producer];
	if (s->n == DP_RETURN_STAGE_MSGS_MAX)
		return_flush(w, producer);
	if (s->n == DP_RETURN_STAGE_MSGS_MAX)
		return false;
	s->a[s->n].resp = *r;
	s->a[s->n].tag = tag;
	s->n++;
	return true;
}

/* Take the answers owners sent back to us into their pending datagrams. */
static unsigned returns_drain(struct dp_worker *w)
{
	unsigned done = 0;

	for (unsigned o = 0; o < w->eng->n; o++) {
		unsigned n;

		if (w->ret_in[o] == NULL)
			continue;
		n = rte_ring_dequeue_burst_elem(w->ret_in[o], w->ret_drain, sizeof(struct dp_answer),
						DP_RETURN_DRAIN_MSGS_MAX, NULL);
		for (unsigned i = 0; i < n; i++)
			pending_add(w, w->ret_drain[i].tag, &w->ret_drain[i].resp);
		w->st.returned += n;
		done += n;
	}
	return done;
}

static void busy_answer(struct dp_worker *w, const struct dp_handoff *h)
{
	struct fs_resp r;
	bool ok;

	reject(&r, &h->req, FS_ST_BUSY, DP_BUSY_RETRY_MS);
	r.server_time_ns = (uint64_t)fs_now_ns();
	ok = deliver(w, w->id, h->tag, &h->src, &r, w->loop_tsc); /* our own: never staged */
	FS_ASSERT(ok);
	w->st.handoff_busy++;
}

static void stage_flush(struct dp_worker *w, unsigned kind, unsigned owner)
{
	struct dp_stage *s = &w->stage[kind][owner];
	unsigned done;

	if (s->n == 0)
		return;
	done = rte_ring_enqueue_burst_elem(w->out[kind][owner], s->h, sizeof(struct dp_handoff),
					   s->n, NULL);
	w->st.handoffs += done;
	/* Bounded queue: what does not fit is refused now, not queued without bound. */
	for (unsigned i = done; i < s->n; i++)
		busy_answer(w, &s->h[i]);
	s->n = 0;
	if (done)
		wake(w->eng->w[owner]);
}

static void stage_all_flush(struct dp_worker *w)
{
	for (unsigned k = 0; k < RING_KINDS; k++)
		for (unsigned o = 0; o < w->eng->n; o++)
			stage_flush(w, k, o);
}

static void stage_add(struct dp_worker *w, unsigned owner, const struct fs_req *req,
		      const struct dp_peer *src, uint32_t tag)
{
	unsigned kind = req->op == FS_OP_BUY ? RING_BUY : RING_CTL;
	struct dp_stage *s = &w->stage[kind][owner];
	struct dp_handoff *h;

	if (s->n == DP_STAGE_MSGS_MAX)
		stage_flush(w, kind, owner);
	h = &s->h[s->n++];
	h->req = *req;
	h->src = *src;
	h->tag = tag;
	h->producer = (uint16_t)w->id;
}

/* ---------------------------------------------------------------- durability */

static bool is_state_op(uint8_t op)
{
	return op == FS_OP_BUY || op == FS_OP_CONFIRM || op == FS_OP_CANCEL;
}

/* Append one record (a change, or an admin record when ch is NULL) to the
 * worker's current batch; a full batch is committed first. */
static void journal_append(struct dp_journal *j, const struct store_change *ch, const void *payload,
			   uint32_t len)
{
	int64_t r;

	if (j->wal == NULL || j->err)
		return;
	r = ch ? wal_append(j->wal, ch) : wal_append_admin(j->wal, payload, len);
	if (r == -ENOBUFS) {
		/* Batch buffer full: commit it now and continue in a new one. */
		uint64_t t, durable;
		int rc = wal_submit(j->wal, &t);
		while (rc == -EBUSY && (rc = wal_poll(j->wal, &durable)) == 0)
			rc = wal_submit(j->wal, &t);
		if (rc == 0) {
			j->submitted = t;
			j->dirty = false;
			r = ch ? wal_append(j->wal, ch) : wal_append_admin(j->wal, payload, len);
		} else {
			r = rc;
		}
	}
	if (r < 0) {
		j->err = (int)r;
		return;
	}
	j->last_lsn = (uint64_t)r;
	j->dirty = true;
	j->appended++;
}

void dp_journal_hook(void *ctx, const struct store_change *ch)
{
	journal_append(ctx, ch, NULL, 0);
}

int dp_journal_admin(struct dp_journal *j, const void *payload, uint32_t len)
{
	journal_append(j, NULL, payload, len);
	return j->err ? j->err : 0;
}

static void journal_fail(struct dp_worker *w, int err)
{
	if (w->j->err == 0)
		w->j->err = err;
	if (!w->failed) {
		w->failed = true;
		store_shard_set_unavailable(w->shard, true);
		/* Once per shard and fault: not a data-path log line. */
		fs_log("error", "shard %u: storage fault (%s): the shard answers UNAVAILABLE to "
				"every state change until restart; nothing unlogged was acknowledged",
		       w->id, fs_strerror(w->j->err));
	}
}

static void unavailable(struct fs_resp *r)
{
	r->status = FS_ST_UNAVAILABLE;
	r->deadline_ns = 0;
	r->state = 0;
	if (r->op == FS_OP_BUY) {
		r->order_id = 0;
		r->qty = 0;
	}
}

static void held_push(struct dp_worker *w, uint64_t ticket, const struct dp_peer *dst,
		      unsigned producer, uint32_t tag, const struct fs_resp *resp)
{
	struct dp_held h = {.ticket = ticket, .lsn = w->j->last_lsn, .dst = *dst, .tag = tag,
			    .producer = (uint16_t)producer, .tsc = w->loop_tsc, .resp = *resp};

	dp_hold_push(&w->hold, &h);
	w->st.held++;
}

/* Release held answers whose batch is durable (all of them, as UNAVAILABLE,
 * once the log failed), oldest first: in ticket order. An answer whose
 * return stage is full stays at the head and is retried next loop. Returns
 * how many were released. */
static unsigned held_release(struct dp_worker *w, uint64_t durable, bool failed)
{
	const struct dp_repl_gate *g = w->j ? w->j->repl : NULL;
	uint64_t rel = UINT64_MAX, unav = 0;
	unsigned n = 0;
	struct dp_held *h;

	if (g) { /* [replication] ack = standby: also wait for the standby */
		rel = w->gate_rel = atomic_load_explicit(&g->release_lsn, memory_order_acquire);
		unav = w->gate_unav = atomic_load_explicit(&g->unavail_lsn, memory_order_acquire);
	}
	while ((h = dp_hold_head(&w->hold)) != NULL) {
		if (!failed && h->ticket > durable)
			break;
		if (!failed && h->lsn > rel) {
			if (h->lsn > unav)
				break;
			if (h->resp.status != FS_ST_UNAVAILABLE) { /* the standby is lost */
				unavailable(&h->resp);
				w->st.unavailable++;
			}
		}
		if (failed && h->resp.status != FS_ST_UNAVAILABLE) {
			unavailable(&h->resp);
			w->st.unavailable++;
		}
		if (!deliver(w, h->producer, h->tag, &h->dst, &h->resp, h->tsc))
			break;
		dp_hold_pop(&w->hold);
		n++;
	}
	return n;
}

/* End of a loop: submit this loop's records as one group commit, reap
 * completions, release what became durable. Returns work done. */
static unsigned journal_step(struct dp_worker *w)
{
	struct dp_journal *j = w->j;
	uint64_t durable = 0;
	int rc;

	if (j == NULL || j->wal == NULL)
		return 0;
	if (j->err == 0 && j->dirty) {
		uint64_t t;
		rc = wal_submit(j->wal, &t);
		if (rc == 0) {
			j->submitted = t;
			j->dirty = false;
			w->st.wal_batches++;
		} else if (rc != -EBUSY) {
			journal_fail(w, rc);
		}
	}
	if (j->err == 0 && (rc = wal_tick(j->wal, fs_mono_ns())) < 0)
		journal_fail(w, rc);
	if (j->err == 0 && (rc = wal_poll(j->wal, &durable)) < 0)
		journal_fail(w, rc);
	if (j->err)
		return held_release(w, 0, true);
	return held_release(w, durable, false);
}

/* Decide one request on this worker's shard. Returns true when resp is to be
 * sent now; false when it was held until its log batch is durable. */
static bool owner_decide(struct dp_worker *w, const struct fs_req *req, int64_t now_ns,
			 const struct dp_peer *src, unsigned producer, uint32_t tag,
			 struct fs_resp *resp)
{
	struct dp_journal *j = w->j;
	bool logged = j != NULL && j->wal != NULL;

	if (logged && unlikely(dp_hold_full(&w->hold)) && is_state_op(req->op)) {
		/* Bounded: the disk is behind; shed instead of queueing. */
		reject(resp, req, FS_ST_BUSY, DP_HELD_BUSY_RETRY_MS);
		return true;
	}
	store_execute(w->shard, req, now_ns, resp);
	w->st.executed++;
	if (!logged)
		return true;
	if (unlikely(j->err)) {
		journal_fail(w, j->err);
		if (is_state_op(req->op) && resp->status == FS_ST_OK) {
			unavailable(resp);
			w->st.unavailable++;
		}
		return true;
	}
	if (resp->status != FS_ST_OK || !is_state_op(req->op))
		return true;
	/* An OK (new, or a repeat of one whose record may still be in flight)
	 * waits for the batch holding its record: the open one if this loop
	 * appended, else the last submitted. */
	held_push(w, j->dirty ? j->submitted + 1 : j->submitted, src, producer, tag, resp);
	return false;
}

/* Whether deciding req on this shard may hold its answer for the log. */
static bool may_hold(const struct dp_worker *w, const struct fs_req *req)
{
	return w->j != NULL && w->j->wal != NULL && w->j->err == 0 && is_state_op(req->op);
}

/* ---------------------------------------------------------------- rx */

static bool rate_check(struct dp_worker *w, const struct fs_req *req, uint32_t src_ip,
		       int64_t mono_ns, struct fs_resp *r)
{
	uint32_t retry_ms = 0;
	bool ok = true;

	if (w->ip_rl && !store_ratelimit_allow(w->ip_rl, src_ip, mono_ns, &retry_ms))
		ok = false;
	else if (w->user_rl && req->user_id != 0 &&
		 !store_ratelimit_allow(w->user_rl, req->user_id, mono_ns, &retry_ms))
		ok = false;
	if (ok)
		return true;
	reject(r, req, FS_ST_RATE_LIMITED, retry_ms);
	w->st.rate_limited++;
	return false;
}

/* Write the answers of a request datagram, all decided on this core, as one
 * response datagram at dst (the request's own payload in DPDK mode: read in
 * full before this runs, and never shorter than the answer). Counted as
 * tx_close and tx_add count a staged datagram. Returns its length. */
static size_t inplace_write(struct dp_worker *w, const struct fs_resp *out, unsigned n,
			    uint8_t *dst)
{
	for (unsigned i = 0; i < n; i++) {
		dp_fsp_encode_resp(&out[i], dst + FSP_HDR_LEN + FSP_MSG_LEN * i);
		count_answer(w, DP_PROTO_FSP, &out[i]);
	}
	w->now_answers++;
	dp_fsp_write_header(dst, n);
	w->st.tx_dgrams++;
	w->st.tx_msgs += n;
	return FSP_HDR_LEN + FSP_MSG_LEN * (size_t)n;
}

/* Where the answer to a message decided elsewhere or later goes: straight to
 * the peer when it is the whole response (a one-message datagram, and the
 * deciding worker may send to the peer), else into the datagram's pending
 * slot, taken on first need (*pend). DP_TAG_NONE: the table is full. */
static uint32_t route(struct dp_worker *w, const struct dp_peer *src, unsigned count,
		      unsigned owner, uint32_t *pend)
{
	if (count == 1 && (owner == w->id || w->eng->ops->reply_from_any_worker))
		return DP_TAG_DIRECT;
	if (*pend == DP_TAG_NONE)
		*pend = pending_alloc(w, src, count);
	return *pend;
}

void dp_engine_prefetch_dgram(const struct dp_worker *w, const uint8_t *buf, size_t len)
{
	int count = dp_fsp_parse_header(buf, len);

	for (int i = 0; i < count; i++) {
		const uint8_t *m = buf + FSP_HDR_LEN + FSP_MSG_LEN * (size_t)i;
		uint32_t item;
		uint64_t user, request;

		if (m[0] != FS_OP_BUY) /* op; item at 4, user at 8, request at 16 (PROTOCOL.md) */
			continue;
		memcpy(&item, m + 4, 4);
		memcpy(&user, m + 8, 8);
		memcpy(&request, m + 16, 8);
		store_gate_prefetch(w->eng->cat, be32toh(item), be64toh(user), be64toh(request));
	}
}

/* One BUY that reached the gate for an item the catalog knows. */
static void count_attempt(struct dp_worker *w, uint32_t item_id)
{
	uint64_t key = (uint64_t)item_id + 1;
	unsigned h = (item_id * 2654435761u) & w->att_mask;

	for (unsigned k = 0; k < DP_ATTEMPTS_PROBES; k++, h = (h + 1) & w->att_mask) {
		struct dp_item_ctr *c = &w->att[h];
		if (c->key == 0)
			__atomic_store_n(&c->key, key, __ATOMIC_RELAXED);
		if (c->key == key) {
			CTR_ADD(c->n, 1);
			return;
		}
	}
	CTR_ADD(w->pub.att_overflow, 1);
}

/* Rate limits and gate of one message. True when r is its answer now;
 * false: decide it on *owner. */
static bool gate_one(struct dp_worker *w, const struct fs_req *req, uint32_t src_ip,
		     int64_t now_ns, int64_t mono_ns, struct fs_resp *r, unsigned *owner)
{
	bool answered;

	if (!rate_check(w, req, src_ip, mono_ns, r))
		return true;
	answered = store_gate(w->eng->cat, req, now_ns, r, owner);
	if (answered)
		w->st.local_answers++;
	if (req->op == FS_OP_BUY && !(answered && r->status == FS_ST_UNKNOWN_ITEM))
		count_attempt(w, req->item_id);
	return answered;
}

/* Whether this datagram's phases are timed; *t = its start if so. */
static inline bool stage_begin(struct dp_worker *w, uint64_t *t)
{
#ifdef FS_CYCLE_ACCOUNTING
	if (likely((++w->cyc_dgrams & (DP_CYCLE_SAMPLE_DGRAMS - 1)) != 0))
		return false;
	*t = rte_rdtsc();
	return true;
#else
	(void)w;
	*t = 0;
	return false;
#endif
}

/* Cycles since *t into stage, scaled by the sample period (a sampled
 * datagram stands for DP_CYCLE_SAMPLE_DGRAMS of them). */
static inline void stage_mark(struct dp_worker *w, bool timed, unsigned stage, uint64_t *t)
{
	uint64_t now;

	if (likely(!timed))
		return;
	now = rte_rdtsc();
	/* Less the TSC read itself, which the interval holds once. */
	if (now - *t > w->eng->tsc_read_cycles)
		w->cyc_in[stage] += (now - *t - w->eng->tsc_read_cycles) * DP_CYCLE_SAMPLE_DGRAMS;
	*t = now;
}

/* Message states inside dp_engine_rx_dgram. */
enum { M_OPEN = 0, M_ANSWERED, M_HANDED, M_HELD };

/* The datagram is worked in phases over all its messages (decode, gate,
 * hand-off, owner decisions, reply), so that the stage split costs one TSC
 * read per phase, not per message. A message's gate never depends on an
 * earlier message's decision in the same datagram beyond what the owner
 * re-checks itself (the gate is a fast path; the owner is authoritative). */
size_t dp_engine_rx_dgram(struct dp_worker *w, const uint8_t *buf, size_t len, bool truncated,
			  const struct dp_peer *src, int64_t now_ns, int64_t mono_ns,
			  uint8_t *inplace)
{
	struct fs_req req[FS_MSGS_MAX];
	struct fs_resp out[FS_MSGS_MAX];
	unsigned owner[FS_MSGS_MAX];
	uint32_t tag[FS_MSGS_MAX];
	uint8_t state[FS_MSGS_MAX];
	unsigned n_out = 0;
	uint32_t pend = DP_TAG_NONE;
	uint64_t t;
	bool timed = stage_begin(w, &t);
	int count = truncated ? -DP_FSP_ERR_LENGTH : dp_fsp_parse_header(buf, len);

	w->st.rx_dgrams++;
	if (unlikely(count < 0)) {
		w->st.malformed++;
		w->st.malformed_by_kind[truncated ? 0 : -count]++;
		stage_mark(w, timed, DP_STAGE_DECODE, &t);
		return 0;
	}
	w->st.rx_msgs += (unsigned)count;
	for (int i = 0; i < count; i++)
		dp_fsp_decode_req(buf + FSP_HDR_LEN + FSP_MSG_LEN * (size_t)i, &req[i]);
	/* Start the owner's table lookups of the datagram's BUYs now, so that
	 * their cache misses overlap each other and the gate phase. */
	for (int i = 0; count > 1 && i < count; i++)
		store_execute_prefetch(w->shard, &req[i]);
	stage_mark(w, timed, DP_STAGE_DECODE, &t);

	for (int i = 0; i < count; i++)
		state[i] = gate_one(w, &req[i], src->sa.sin_addr.s_addr, now_ns, mono_ns, &out[i],
				    &owner[i]) ? M_ANSWERED : M_OPEN;
	stage_mark(w, timed, DP_STAGE_GATE, &t);

	for (int i = 0; i < count; i++) {
		tag[i] = DP_TAG_DIRECT;
		if (state[i] != M_OPEN || (owner[i] == w->id && !may_hold(w, &req[i])))
			continue;
		tag[i] = route(w, src, (unsigned)count, owner[i], &pend);
		if (unlikely(tag[i] == DP_TAG_NONE)) {
			/* Bounded: no room to gather the answers; refuse now. */
			reject(&out[i], &req[i], FS_ST_BUSY, DP_PENDING_BUSY_RETRY_MS);
			w->st.pending_busy++;
			state[i] = M_ANSWERED;
		} else if (owner[i] != w->id) {
			stage_add(w, owner[i], &req[i], src, tag[i]);
			state[i] = M_HANDED;
		}
	}
	stage_mark(w, timed, DP_STAGE_HANDOFF, &t);

	for (int i = 0; i < count; i++)
		if (state[i] == M_OPEN)
			state[i] = owner_decide(w, &req[i], now_ns, src, w->id, tag[i], &out[i])
					   ? M_ANSWERED : M_HELD;
	stage_mark(w, timed, DP_STAGE_OWNER, &t);

	/* The answers this core has now, in message order, join the pending
	 * datagram when there is one (the rest come later); otherwise they are
	 * the whole response: in place when the front end can send from the
	 * request, else staged. */
	for (int i = 0; i < count; i++) {
		if (state[i] != M_ANSWERED)
			continue;
		out[i].server_time_ns = (uint64_t)now_ns;
		if ((unsigned)i != n_out)
			out[n_out] = out[i];
		n_out++;
	}
	size_t inplace_len = 0;
	if (pend != DP_TAG_NONE) {
		for (unsigned i = 0; i < n_out; i++)
			pending_add(w, pend, &out[i]);
	} else if (n_out && inplace != NULL && n_out == (unsigned)count) {
		inplace_len = inplace_write(w, out, n_out, inplace);
	} else if (n_out) {
		struct dp_txslot *ts = tx_open(w, src, w->loop_tsc);
		for (unsigned i = 0; i < n_out; i++)
			tx_add(w, ts, &out[i]);
		tx_close(w, ts);
	}
	stage_mark(w, timed, DP_STAGE_REPLY, &t);
	return inplace_len;
}

bool dp_engine_charge_ip(struct dp_worker *w, uint32_t client_ip, int64_t mono_ns,
			 uint32_t *retry_ms)
{
	*retry_ms = 0;
	/* The same key space as UDP sources (network order). */
	if (w->ip_rl == NULL || store_ratelimit_allow(w->ip_rl, htonl(client_ip), mono_ns, retry_ms))
		return true;
	w->st.rate_limited++;
	w->st.by_status[FS_ST_RATE_LIMITED]++;
	return false;
}

bool dp_engine_rx_req(struct dp_worker *w, const struct fs_req *req, uint32_t client_ip,
		      uint64_t cookie, int64_t now_ns, int64_t mono_ns, struct fs_resp *resp)
{
	static const struct dp_peer nopeer; /* answers come back by cookie, not by address */
	uint32_t tag;
	unsigned owner;

	FS_ASSERT(w->eng->ops->answer != NULL);
	if (unlikely(w->rx_stopped)) {
		/* Stopping: every worker already stopped taking requests. */
		reject(resp, req, FS_ST_BUSY, DP_PENDING_BUSY_RETRY_MS);
		goto answered;
	}
	/* The same key space as UDP sources (network order). */
	if (gate_one(w, req, htonl(client_ip), now_ns, mono_ns, resp, &owner))
		goto answered;
	if (owner == w->id && !may_hold(w, req)) {
		bool now = owner_decide(w, req, now_ns, &nopeer, w->id, DP_TAG_DIRECT, resp);
		FS_ASSERT(now);
		goto answered;
	}
	tag = pending_alloc(w, &nopeer, 1);
	if (unlikely(tag == DP_TAG_NONE)) {
		reject(resp, req, FS_ST_BUSY, DP_PENDING_BUSY_RETRY_MS);
		w->st.pending_busy++;
		goto answered;
	}
	w->pend[tag & 0xffff].conn = true;
	w->pend[tag & 0xffff].cookie = cookie;
	if (owner != w->id) {
		stage_add(w, owner, req, &nopeer, tag);
		return false;
	}
	if (!owner_decide(w, req, now_ns, &nopeer, w->id, tag, resp))
		return false; /* held for the log; comes back through pending_add */
	/* Decided now after all (not an OK): the slot is not needed. */
	pending_free(w, &w->pend[tag & 0xffff], tag & 0xffff);
answered:
	resp->server_time_ns = (uint64_t)now_ns;
	count_answer(w, DP_PROTO_HTTP, resp);
	w->now_answers++;
	return true;
}

/* ---------------------------------------------------------------- owner */

/* Decide up to max entries of the hand-off ring from producer p. Every
 * answer that goes back to p needs room in our return stage to p, so no more
 * is taken than fits: a full return ring slows the owner down (the
 * hand-off ring fills, producers answer BUSY) and never loses an answer. */
static unsigned drain_ring(struct dp_worker *w, struct rte_ring *r, unsigned p, unsigned max,
			   int64_t now_ns)
{
	struct dp_rstage *rs = &w->rstage[p];
	unsigned n;

	if (rs->n > 0)
		return_flush(w, p);
	max = RTE_MIN(max, (unsigned)DP_RETURN_STAGE_MSGS_MAX - rs->n);
	n = rte_ring_dequeue_burst_elem(r, w->drain, sizeof(struct dp_handoff),
					RTE_MIN(max, (unsigned)DP_DRAIN_MSGS_MAX), NULL);
	/* Start the table lookups of the next few requests while deciding this
	 * one, so their cache misses overlap (store_prefetch changes nothing). */
	for (unsigned i = 0; i < n && i < DP_PREFETCH_AHEAD_MSGS; i++)
		store_prefetch(w->shard, &w->drain[i].req);
	for (unsigned i = 0; i < n; i++) {
		const struct dp_handoff *h = &w->drain[i];
		struct fs_resp resp;
		bool ok;

		if (i + DP_PREFETCH_AHEAD_MSGS < n)
			store_prefetch(w->shard, &w->drain[i + DP_PREFETCH_AHEAD_MSGS].req);
		FS_ASSERT(h->producer == p);
		if (!owner_decide(w, &h->req, now_ns, &h->src, h->producer, h->tag, &resp))
			continue; /* held for the log */
		ok = deliver(w, h->producer, h->tag, &h->src, &resp, w->loop_tsc);
		FS_ASSERT(ok); /* room was reserved above */
	}
	return_flush(w, p);
	return n;
}

static unsigned drain_all(struct dp_worker *w, int64_t now_ns)
{
	unsigned budget = DP_DRAIN_LOOP_MSGS_MAX, done = 0;

	for (unsigned k = 0; k < RING_KINDS; k++)
		for (unsigned p = 0; p < w->eng->n && done < budget; p++)
			if (w->in[k][p])
				done += drain_ring(w, w->in[k][p], p, budget - done, now_ns);
	return done;
}

static void timers(struct dp_worker *w, int64_t now_ns)
{
	store_expire(w->shard, now_ns, DP_EXPIRE_ORDERS_PER_TICK);
	store_idem_trim(w->shard, now_ns, DP_IDEM_TRIM_PER_TICK);
	if (w->eng->ops->timer)
		w->eng->ops->timer(w->fe);
}

/* ---------------------------------------------------------------- loop */

static bool in_rings_empty(const struct dp_worker *w)
{
	for (unsigned k = 0; k < RING_KINDS; k++)
		for (unsigned p = 0; p < w->eng->n; p++)
			if (w->in[k][p] && !rte_ring_empty(w->in[k][p]))
				return false;
	return true;
}

static bool ret_rings_empty(const struct dp_worker *w)
{
	for (unsigned o = 0; o < w->eng->n; o++)
		if (w->ret_in[o] && !rte_ring_empty(w->ret_in[o]))
			return false;
	return true;
}

static bool rings_empty(const struct dp_worker *w)
{
	return in_rings_empty(w) && ret_rings_empty(w);
}

/* After the fence in dp_engine_sleep: did the replication thread move the
 * gate since held_release last read it? (Then do not block: the next loop
 * may release answers.) */
static bool gate_moved(const struct dp_worker *w, const struct dp_repl_gate *g)
{
	return atomic_load_explicit(&g->release_lsn, memory_order_acquire) != w->gate_rel ||
	       atomic_load_explicit(&g->unavail_lsn, memory_order_acquire) != w->gate_unav;
}

void dp_engine_sleep(struct dp_worker *w, int rx_fd, unsigned us)
{
	/* Held answers that also wait for the standby's ack (ack = standby):
	 * the replication thread wakes us through the gate's eventfd. */
	struct dp_repl_gate *g = w->j && w->j->repl && w->hold.n > 0 ? w->j->repl : NULL;
	struct pollfd pfd[4] = {{.fd = rx_fd, .events = POLLIN},
				{.fd = w->efd, .events = POLLIN},
				{.fd = w->wal_efd, .events = POLLIN},
				{.fd = g ? g->efd : -1, .events = POLLIN}}; /* < 0: ignored */
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};
	uint64_t v;

	/* Records not yet submitted are committed by the next loop, not slept on. */
	if (w->j && w->j->dirty && w->j->err == 0)
		return;
	/* Answers waiting for room on a return ring: the producer is draining
	 * it and does not wake us, so keep looping. */
	if (returns_staged(w) > 0)
		return;
	/* Held answers wait for a completion: without an eventfd to wake us,
	 * sleep only briefly. */
	if (w->hold.n > 0 && (w->wal_efd < 0 || (g && g->efd < 0)) &&
	    us > DP_SLEEP_HELD_NOWAKE_US)
		ts = (struct timespec){.tv_sec = 0, .tv_nsec = DP_SLEEP_HELD_NOWAKE_US * 1000};
	atomic_store_explicit(&w->sleeping, 1, memory_order_relaxed);
	if (g)
		atomic_store_explicit(&g->waiting, 1, memory_order_relaxed);
	/* Pairs with wake() and with the replication thread's fence (dp.h,
	 * struct dp_repl_gate): either we see its new entries / LSNs here, or
	 * it sees us asleep / waiting and writes an eventfd we poll. */
	atomic_thread_fence(memory_order_seq_cst);
	if (rings_empty(w) && !atomic_load_explicit(&w->eng->quit, memory_order_relaxed) &&
	    !(g && gate_moved(w, g))) {
		w->st.sleeps++;
		(void)ppoll(pfd, 4, &ts, NULL);
	}
	atomic_store_explicit(&w->sleeping, 0, memory_order_relaxed);
	if (g)
		atomic_store_explicit(&g->waiting, 0, memory_order_relaxed);
	if (pfd[1].revents & POLLIN)
		(void)!read(w->efd, &v, sizeof(v));
	if (pfd[2].revents & POLLIN)
		(void)!read(w->wal_efd, &v, sizeof(v));
	if (pfd[3].revents & POLLIN)
		(void)!read(pfd[3].fd, &v, sizeof(v));
}

/* A control-plane call between bursts (dp_engine_on_workers). */
static void worker_calls(struct dp_worker *w)
{
	dp_worker_fn fn = atomic_load_explicit(&w->call_fn, memory_order_acquire);

	if (likely(fn == NULL))
		return;
	/* Claim it first: the control plane withdraws a call with the same CAS
	 * and then knows whether we run it (and waits for call_done) or not. */
	if (!atomic_compare_exchange_strong(&w->call_fn, &fn, NULL))
		return;
	fn(w->call_ctx, w->id);
	atomic_store_explicit(&w->call_done, 1, memory_order_release);
}

/* Expensive check (debug builds): the shard's invariants still hold after a
 * loop that decided something on it. */
static void audit_shard(const struct dp_worker *w, uint64_t executed_before)
{
#ifdef FS_DEBUG_EXPENSIVE
	char err[256] = "";
	int rc;

	if (w->st.executed == executed_before)
		return;
	rc = store_audit(w->shard, err, sizeof(err));
	if (rc != 0)
		fprintf(stderr, "shard %u: store_audit: %s\n", w->id, err);
	FS_ASSERT_EXPENSIVE(rc == 0);
#else
	(void)w;
	(void)executed_before;
#endif
}

/* Cycles since *t into this loop's stage (loop-level boundaries; without
 * -Dcycle_accounting only the loop's start and end are read). */
static inline void loop_mark(uint64_t cyc[DP_STAGE_COUNT], unsigned stage, uint64_t *t)
{
#ifdef FS_CYCLE_ACCOUNTING
	uint64_t now = rte_rdtsc();

	cyc[stage] += now - *t;
	*t = now;
#else
	(void)cyc;
	(void)stage;
	(void)t;
#endif
}

/* End of a loop (t: the last stage boundary): a loop that did work adds its
 * stages (the receive stage less what the engine spent inside it; the tail
 * after tx, audit and timers, to owner; without -Dcycle_accounting all of
 * it to receive), one that did not goes to idle whole, from its start to
 * now (after ops->idle). */
static void loop_account(struct dp_worker *w, uint64_t cyc[DP_STAGE_COUNT], bool busy, uint64_t t)
{
	uint64_t end = rte_rdtsc();

	if (!busy) {
		CTR_ADD(w->pub.cycles[DP_STAGE_IDLE], end - w->loop_tsc);
		CTR_ADD(w->pub.idle_loops, 1);
	} else {
#ifdef FS_CYCLE_ACCOUNTING
		cyc[DP_STAGE_OWNER] += end - t;
#else
		cyc[DP_STAGE_RX] = end - t;
#endif
		uint64_t in = 0;
		for (unsigned s = 0; s < DP_STAGE_COUNT; s++) {
			in += w->cyc_in[s];
			cyc[s] += w->cyc_in[s];
		}
		/* The engine stages are sampled estimates: in one loop they may
		 * exceed the receive call they ran in. Receive keeps a running
		 * net sum and publishes its highs, so the counter never goes
		 * back and the stages add up to the busy cycles over time. */
		w->rx_net += (int64_t)cyc[DP_STAGE_RX] - (int64_t)in;
		cyc[DP_STAGE_RX] = 0;
		if (w->rx_net > w->rx_pub) {
			cyc[DP_STAGE_RX] = (uint64_t)(w->rx_net - w->rx_pub);
			w->rx_pub = w->rx_net;
		}
		for (unsigned s = 0; s < DP_STAGE_COUNT; s++)
			if (cyc[s])
				CTR_ADD(w->pub.cycles[s], cyc[s]);
		CTR_ADD(w->pub.busy_loops, 1);
	}
	memset(w->cyc_in, 0, sizeof(w->cyc_in));
}

/* One loop of a running worker. */
static void worker_run(struct dp_worker *w)
{
	const struct dp_fe_ops *ops = w->eng->ops;
	uint64_t executed = w->st.executed;
	uint64_t cyc[DP_STAGE_COUNT] = {0}, t;
	unsigned work;
	int64_t now_ns, mono_ns;

	store_shard_clock_tick(w->shard); /* one steady-clock read per loop at most */
	worker_calls(w);
	t = w->loop_tsc = rte_rdtsc();
	now_ns = fs_now_ns();
	mono_ns = fs_mono_ns();
	work = ops->rx(w->fe, w, now_ns, mono_ns);
	loop_mark(cyc, DP_STAGE_RX, &t);
	stage_all_flush(w);
	loop_mark(cyc, DP_STAGE_HANDOFF, &t);
	now_ns = fs_now_ns();
	work += drain_all(w, now_ns);
	work += journal_step(w);
	loop_mark(cyc, DP_STAGE_OWNER, &t);
	return_all_flush(w);
	work += returns_drain(w);
	loop_mark(cyc, DP_STAGE_HANDOFF, &t);
	tx_flush(w);
	loop_mark(cyc, DP_STAGE_TX, &t);
	audit_shard(w, executed);
	if (unlikely(mono_ns >= w->next_timer_ns)) { /* sampled before rx: at most one burst late */
		timers(w, now_ns);
		w->next_timer_ns = mono_ns + DP_TIMER_NS;
	}
	if (work)
		w->idle = 0;
	else if (ops->idle(w->fe, w, ++w->idle))
		w->idle = 0;
	loop_account(w, cyc, work != 0, t);
}

/* After stop, once every worker stopped receiving and we hold nothing
 * more to decide: wait for the log so that held answers go out (or turn
 * UNAVAILABLE). */
static void finish_log(struct dp_worker *w)
{
	uint64_t durable = 0;
	int rc;

	if (w->j == NULL || w->j->wal == NULL || w->j->err) {
		held_release(w, 0, true);
		return;
	}
	rc = wal_wait(w->j->wal, &durable);
	if (rc < 0)
		journal_fail(w, rc);
	held_release(w, durable, rc < 0);
}

/* One loop after stop. Every worker first stops receiving (its staged
 * hand-offs flushed); then it keeps deciding what is in its rings, releasing
 * held answers and returning answers, until it owes nothing (owner_done);
 * it returns once every worker owes nothing and all answers that came back
 * to it went out. So everything that was received is answered. Returns
 * false once the worker is done. */
static bool worker_quiesce(struct dp_worker *w)
{
	struct dp_engine *e = w->eng;
	unsigned work = 0;

	w->loop_tsc = rte_rdtsc();
	store_shard_clock_tick(w->shard);
	if (!w->rx_stopped) {
		stage_all_flush(w);
		w->rx_stopped = true;
		atomic_fetch_add(&e->rx_stopped, 1);
	}
	work += drain_all(w, fs_now_ns());
	work += journal_step(w);
	return_all_flush(w);
	work += returns_drain(w);
	if (!w->owner_done && atomic_load(&e->rx_stopped) == e->n && in_rings_empty(w)) {
		if (w->hold.n > 0)
			finish_log(w);
		else if (returns_staged(w) == 0) {
			w->owner_done = true;
			atomic_fetch_add(&e->owners_done, 1);
		}
	}
	if (w->owner_done && atomic_load(&e->owners_done) == e->n) {
		returns_drain(w);
		if (ret_rings_empty(w)) {
			tx_flush(w);
			FS_ASSERT(pending_used(w) == 0); /* every answer came back */
			w->done = true;
			return false;
		}
	}
	tx_flush(w);
	if (work == 0)
		sched_yield();
	return true;
}

static bool worker_step(struct dp_worker *w)
{
	if (w->done)
		return false;
	if (likely(!atomic_load_explicit(&w->eng->quit, memory_order_relaxed))) {
		worker_run(w);
		return true;
	}
	return worker_quiesce(w);
}

static int worker_main(void *arg)
{
	struct dp_worker *w = arg;

	w->next_timer_ns = fs_mono_ns();
	while (worker_step(w))
		;
	return 0;
}

bool dp_engine_poll_once(struct dp_engine *e, unsigned i)
{
	FS_ASSERT(i < e->n);
	return worker_step(e->w[i]);
}

/* ---------------------------------------------------------------- setup */

static int worker_create(struct dp_engine *e, unsigned id, struct store_shard *shard,
			 char *err, size_t errlen)
{
	const struct cfg *cfg = e->cfg;
	struct dp_worker *w = aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL(sizeof(*w), RTE_CACHE_LINE_SIZE));
	int rc;

	if (w == NULL) {
		snprintf(err, errlen, "worker %u: out of memory", id);
		return -ENOMEM;
	}
	memset(w, 0, sizeof(*w));
	e->w[id] = w;
	w->id = id;
	w->eng = e;
	w->shard = shard;
	w->efd = w->wal_efd = -1;
	w->next_timer_ns = fs_mono_ns();
	w->j = e->journals ? e->journals[id] : NULL;
	if (w->j && w->j->wal) {
		if (dp_hold_init(&w->hold) < 0)
			return -ENOMEM;
		w->wal_efd = wal_event_fd(w->j->wal);
		if (w->wal_efd < 0)
			w->wal_efd = -1;
	}
	for (unsigned k = 0; k < RING_KINDS; k++) {
		w->stage[k] = calloc(e->n, sizeof(struct dp_stage));
		if (w->stage[k] == NULL)
			return -ENOMEM;
	}
	w->rstage = calloc(e->n, sizeof(*w->rstage));
	w->pend = calloc(DP_PENDING_DGRAMS_MAX, sizeof(*w->pend));
	w->pend_free = calloc(DP_PENDING_DGRAMS_MAX, sizeof(*w->pend_free));
	if (w->rstage == NULL || w->pend == NULL || w->pend_free == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < DP_PENDING_DGRAMS_MAX; i++) {
		w->pend[i].tag = DP_TAG_NONE;
		/* a stack: slot 0 on top */
		w->pend_free[i] = (uint16_t)(DP_PENDING_DGRAMS_MAX - 1 - i);
	}
	w->pend_nfree = DP_PENDING_DGRAMS_MAX;
	w->att_mask = DP_ATTEMPTS_SLOTS_MIN - 1;
	while (w->att_mask + 1 < 2 * (uint64_t)store_catalog_capacity(cfg)) /* items created at run time too */
		w->att_mask = w->att_mask << 1 | 1;
	w->att = calloc(w->att_mask + 1, sizeof(*w->att));
	if (w->att == NULL)
		return -ENOMEM;
	if (cfg->per_ip_rate && (rc = store_ratelimit_create(cfg->per_ip_rate, cfg->per_ip_burst,
							      DP_RATELIMIT_BUCKETS, &w->ip_rl)) < 0)
		return rc;
	if (cfg->per_user_rate &&
	    (rc = store_ratelimit_create(cfg->per_user_rate, cfg->per_user_burst,
					 DP_RATELIMIT_BUCKETS, &w->user_rl)) < 0)
		return rc;
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (w->efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		return -errno;
	}
	return 0;
}
/* One SP/SC ring of size entries of elem bytes in our own cache-aligned
 * memory (rte_ring_init), not in an EAL memzone: kernel mode runs EAL with
 * --no-huge and a small -m. *mem owns it. */
static int ring_new(unsigned elem, unsigned size, const char *name, void **mem,
		    struct rte_ring **out, char *err, size_t errlen)
{
	ssize_t bytes = rte_ring_get_memsize_elem(elem, size);
	struct rte_ring *r;
	int rc;

	if (bytes < 0) {
		snprintf(err, errlen, "ring_size %u: %s", size, fs_strerror((int)bytes));
		return (int)bytes;
	}
	r = aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL((size_t)bytes, RTE_CACHE_LINE_SIZE));
	if (r == NULL) {
		snprintf(err, errlen, "rings: out of memory");
		return -ENOMEM;
	}
	*mem = r;
	rc = rte_ring_init(r, name, size, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (rc < 0) {
		snprintf(err, errlen, "rte_ring_init: %s", fs_strerror(rc));
		return rc;
	}
	*out = r;
	return 0;
}

/* Per ordered pair of workers: two hand-off rings (producer to owner) and
 * one return ring (owner back to producer), each [net] ring_size entries. */
static int rings_create(struct dp_engine *e, char *err, size_t errlen)
{
	unsigned size = e->cfg->ring_size;

	for (unsigned p = 0; p < e->n; p++)
		for (unsigned o = 0; o < e->n; o++) {
			char name[RTE_RING_NAMESIZE];
			struct rte_ring *r;
			int rc;

			if (p == o)
				continue;
			for (unsigned k = 0; k < RING_KINDS; k++) {
				snprintf(name, sizeof(name), "fs%u_%u_%u", k, p, o);
				rc = ring_new(sizeof(struct dp_handoff), size, name, &e->ring_mem[k][p][o],
					      &r, err, errlen);
				if (rc < 0)
					return rc;
				e->w[p]->out[k][o] = r;
				e->w[o]->in[k][p] = r;
			}
			snprintf(name, sizeof(name), "fsr_%u_%u", o, p);
			rc = ring_new(sizeof(struct dp_answer), size, name, &e->ret_mem[o][p], &r, err,
				      errlen);
			if (rc < 0)
				return rc;
			e->w[o]->ret_out[p] = r;
			e->w[p]->ret_in[o] = r;
		}
	return 0;
}

/* The front end of each mode, chosen once here (CONVENTIONS.md: an ops
 * struct chosen at start, as DPDK l3fwd picks its lookup mode). */
static const struct dp_fe_ops *const fe_by_mode[] = {
	[CFG_MODE_KERNEL] = &dp_kernel_ops,
	[CFG_MODE_DPDK] = &dp_dpdk_ops,
};

int dp_engine_create(const struct dp_engine_params *p, struct dp_engine **out, char *err,
		     size_t errlen)
{
	unsigned mode = (unsigned)p->cfg->mode;

	if (mode >= RTE_DIM(fe_by_mode) || fe_by_mode[mode] == NULL) {
		snprintf(err, errlen, "mode %u has no front end", mode);
		return -EINVAL;
	}
	return dp_engine_create_fe(p, fe_by_mode[mode], out, err, errlen);
}

/* The smallest difference of two back-to-back TSC reads: what a read adds to
 * a timed interval (1 on this VM, whose reads cost ~80 cycles of throughput
 * each but overlap; tens of cycles on some bare-metal CPUs). */
static uint64_t tsc_read_cost(void)
{
	uint64_t best = UINT64_MAX;

	for (unsigned i = 0; i < 256; i++) {
		uint64_t a = rte_rdtsc(), b = rte_rdtsc();
		if (b - a < best)
			best = b - a;
	}
	return best;
}

int dp_engine_create_fe(const struct dp_engine_params *p, const struct dp_fe_ops *ops,
			struct dp_engine **out, char *err, size_t errlen)
{
	struct dp_engine *e;
	int rc;

	if (p->nworkers == 0 || p->nworkers > FS_WORKERS_MAX) {
		snprintf(err, errlen, "workers %u out of range 1..%u", p->nworkers, FS_WORKERS_MAX);
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	e->cfg = p->cfg;
	e->ops = ops;
	e->cat = p->cat;
	e->n = p->nworkers;
	e->journals = p->journals;
	e->ns_per_tsc = 1e9 / (double)(rte_get_tsc_hz() ? rte_get_tsc_hz() : 1);
	e->tsc_read_cycles = tsc_read_cost();
	for (unsigned i = 0; i < e->n; i++) {
		rc = worker_create(e, i, p->shards[i], err, errlen);
		if (rc < 0)
			goto fail;
	}
	rc = rings_create(e, err, errlen);
	if (rc < 0)
		goto fail;
	rc = ops->create(e->cfg, e->n, &e->fe, e->fw, err, errlen);
	if (rc < 0)
		goto fail;
	for (unsigned i = 0; i < e->n; i++)
		e->w[i]->fe = e->fw[i];
	*out = e;
	return 0;
fail:
	if (err[0] == '\0')
		snprintf(err, errlen, "%s", fs_strerror(rc));
	dp_engine_free(e);
	return rc;
}

/* A launch that failed part-way: stop, and run the shutdown of the workers
 * that never started here, interleaved, so the started ones (which wait for
 * every worker to owe nothing) finish and everything received is answered. */
static int launch_failed(struct dp_engine *e, unsigned started, int rc)
{
	bool running = true;

	dp_engine_stop(e);
	while (running) {
		running = false;
		for (unsigned i = started; i < e->n; i++)
			running |= worker_step(e->w[i]);
	}
	return rc;
}

int dp_engine_launch(struct dp_engine *e)
{
	unsigned i = 0, lcore;

	if (e->ops->start)
		e->ops->start(e->fe);
	RTE_LCORE_FOREACH_WORKER(lcore) {
		if (i == e->n)
			break;
		int rc = rte_eal_remote_launch(worker_main, e->w[i], lcore);
		if (rc < 0)
			return launch_failed(e, i, rc);
		i++;
	}
	if (i < e->n)
		return launch_failed(e, i, -ENODEV);
	return 0;
}

int dp_engine_on_workers(struct dp_engine *e, dp_worker_fn fn, void *ctx, int timeout_ms)
{
	int64_t end = fs_mono_ns() + (int64_t)timeout_ms * FS_NS_PER_MS;
	uint64_t one = 1;
	unsigned pending = e->n;

	for (unsigned i = 0; i < e->n; i++) {
		struct dp_worker *w = e->w[i];
		w->call_ctx = ctx;
		atomic_store(&w->call_done, 0);
		atomic_store_explicit(&w->call_fn, fn, memory_order_release);
		(void)!write(w->efd, &one, sizeof(one)); /* wake a sleeper */
	}
	while (pending > 0 && fs_mono_ns() < end) {
		pending = 0;
		for (unsigned i = 0; i < e->n; i++)
			pending += !atomic_load_explicit(&e->w[i]->call_done, memory_order_acquire);
		if (pending)
			usleep(200);
	}
	if (pending == 0)
		return 0;
	/* Withdraw from workers that have not started it; wait out any that did. */
	for (unsigned i = 0; i < e->n; i++) {
		dp_worker_fn expect = fn;
		struct dp_worker *w = e->w[i];
		if (!atomic_compare_exchange_strong(&w->call_fn, &expect, NULL))
			while (!atomic_load_explicit(&w->call_done, memory_order_acquire))
				usleep(100);
	}
	return -ETIMEDOUT;
}

void dp_engine_stop(struct dp_engine *e)
{
	uint64_t one = 1;

	atomic_store(&e->quit, 1);
	for (unsigned i = 0; i < e->n; i++)
		if (e->w[i] && e->w[i]->efd >= 0)
			(void)!write(e->w[i]->efd, &one, sizeof(one));
}

void dp_engine_wait(struct dp_engine *e)
{
	rte_eal_mp_wait_lcore();
	(void)e;
}

void dp_engine_free(struct dp_engine *e)
{
	if (e == NULL)
		return;
	e->ops->free(e->fe, e->fw, e->n);
	for (unsigned i = 0; i < e->n; i++) {
		struct dp_worker *w = e->w[i];
		if (w == NULL)
			continue;
		if (w->efd >= 0)
			close(w->efd);
		for (unsigned k = 0; k < RING_KINDS; k++)
			free(w->stage[k]);
		free(w->rstage);
		free(w->pend);
		free(w->pend_free);
		free(w->att);
		dp_hold_fini(&w->hold);
		store_ratelimit_free(w->ip_rl);
		store_ratelimit_free(w->user_rl);
		free(w);
	}
	for (unsigned k = 0; k < RING_KINDS; k++)
		for (unsigned p = 0; p < e->n; p++)
			for (unsigned o = 0; o < e->n; o++)
				free(e->ring_mem[k][p][o]);
	for (unsigned o = 0; o < e->n; o++)
		for (unsigned p = 0; p < e->n; p++)
			free(e->ret_mem[o][p]);
	free(e);
}

void dp_engine_stats(const struct dp_engine *e, struct dp_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < e->n; i++) {
		/* Plain reads of another core's counters: approximate while
		 * running, exact after wait. Every field is a uint64_t. */
		const uint64_t *src = (const uint64_t *)&e->w[i]->st;
		uint64_t *dst = (uint64_t *)out;
		for (size_t f = 0; f < sizeof(*out) / sizeof(uint64_t); f++)
			dst[f] += src[f];
	}
	if (e->ops->stats)
		e->ops->stats(e->fe, e->fw, e->n, out);
}

unsigned dp_engine_nworkers(const struct dp_engine *e)
{
	return e->n;
}

static uint64_t rings_used(struct rte_ring *const *r, unsigned n)
{
	uint64_t used = 0;

	for (unsigned i = 0; i < n; i++)
		if (r[i])
			used += rte_ring_count(r[i]);
	return used;
}

void dp_engine_worker_stats(const struct dp_engine *e, unsigned i, struct dp_worker_stats *out)
{
	const struct dp_worker *w;
	const uint64_t *src;
	uint64_t *dst;

	FS_ASSERT(i < e->n);
	w = e->w[i];
	memset(out, 0, sizeof(*out));
	/* The engine's dp_stats are plain per-worker counters (as summed by
	 * dp_engine_stats); the published block is read relaxed. */
	src = (const uint64_t *)&w->st;
	dst = (uint64_t *)&out->st;
	for (size_t f = 0; f < sizeof(out->st) / sizeof(uint64_t); f++)
		dst[f] = __atomic_load_n(&src[f], __ATOMIC_RELAXED);
	for (unsigned s = 0; s < DP_STAGE_COUNT; s++)
		out->cycles[s] = CTR_GET(w->pub.cycles[s]);
	out->busy_loops = CTR_GET(w->pub.busy_loops);
	out->idle_loops = CTR_GET(w->pub.idle_loops);
	for (unsigned p = 0; p < DP_PROTO_COUNT; p++)
		for (unsigned op = 0; op <= FS_OP_MAX; op++)
			for (unsigned st = 0; st < FS_ST_COUNT; st++)
				out->requests[p][op][st] = CTR_GET(w->pub.requests[p][op][st]);
	for (unsigned k = 0; k <= FS_LAT_BUCKETS; k++)
		out->decision_hist[k] = CTR_GET(w->pub.lat_hist[k]);
	out->decision_sum_ns = CTR_GET(w->pub.lat_sum_ns);
	out->decision_count = CTR_GET(w->pub.lat_count);
	out->attempts_overflow = CTR_GET(w->pub.att_overflow);
	/* rte_ring_count reads the producer and consumer tails: safe from any
	 * thread, a recent value. */
	out->handoff_ring_used = rings_used(w->in[RING_CTL], e->n) + rings_used(w->in[RING_BUY], e->n);
	out->return_ring_used = rings_used(w->ret_in, e->n);
	/* The front end's own counters of this worker (frames, classifier
	 * drops, HTTP): its stats hook over a one-worker slice. */
	if (e->ops->stats)
		e->ops->stats(e->fe, &e->fw[i], 1, &out->st);
}

uint64_t dp_engine_item_attempts(const struct dp_engine *e, uint32_t item_id)
{
	uint64_t key = (uint64_t)item_id + 1, sum = 0;

	for (unsigned i = 0; i < e->n; i++) {
		const struct dp_worker *w = e->w[i];
		unsigned h = (item_id * 2654435761u) & w->att_mask;
		for (unsigned k = 0; k < DP_ATTEMPTS_PROBES; k++, h = (h + 1) & w->att_mask) {
			uint64_t kk = CTR_GET(w->att[h].key);
			if (kk == key)
				sum += CTR_GET(w->att[h].n);
			if (kk == key || kk == 0)
				break;
		}
	}
	return sum;
}

uint64_t dp_engine_tsc_hz(void)
{
	return rte_get_tsc_hz();
}

bool dp_engine_stage_accounting(void)
{
#ifdef FS_CYCLE_ACCOUNTING
	return true;
#else
	return false;
#endif
}

const char *dp_stage_name(unsigned stage)
{
	static const char *const names[DP_STAGE_COUNT] = {
		[DP_STAGE_RX] = "rx",		[DP_STAGE_DECODE] = "decode",
		[DP_STAGE_GATE] = "gate",	[DP_STAGE_HANDOFF] = "handoff",
		[DP_STAGE_OWNER] = "owner",	[DP_STAGE_REPLY] = "reply",
		[DP_STAGE_TX] = "tx",		[DP_STAGE_IDLE] = "idle",
	};

	return stage < DP_STAGE_COUNT ? names[stage] : "?";
}

void dp_engine_watch_links(struct dp_engine *e)
{
	if (e->ops->watch)
		e->ops->watch(e->fe);
}

void dp_engine_log_net(const struct dp_engine *e, const char *when)
{
	struct dp_stats s;

	if (e->ops->log == NULL)
		return;
	dp_engine_stats(e, &s);
	e->ops->log(e->fe, &s, when);
}
