/*
 * dp_dpdk.c — the DPDK front end: ethdev ports in front of the same engine
 * as kernel mode (dp_engine.c holds the worker; this file only moves frames,
 * reaching the engine through dp_engine_rx_dgram and dp_engine_sleep, and is
 * reached only through dp_dpdk_ops).
 *
 * Ports. Every ethdev EAL probed at start is a data port (a PCI NIC, or vdevs
 * from [appliance] eal: net_af_packet, net_pcap, net_memif, ...), at most
 * DP_PORTS_MAX. Each port gets one TX queue per worker (a TX queue is never
 * shared, so no locks) and one RX queue per worker when the port has that
 * many (RSS over IP/UDP when the port offers it; a port with fewer RX queues
 * is polled by the first workers only, the others still own their shards and
 * drain their rings). mbufs come from one pool per NUMA socket of the worker
 * lcores, sized from the descriptors, staging arrays and caches of the
 * workers on that socket, so a full load never finds the pool empty by
 * design (an empty pool is counted as tx_nombuf, never waited on).
 *
 * Per worker and loop: rte_eth_rx_burst on its RX queue of every port →
 * dp_net_classify → ARP request: answered in place; ICMP echo: answered in
 * place; FSP: dp_engine_rx_dgram (gate, inline owner, hand-off rings, held
 * answers — identical to kernel mode); exception: to the kernel; drop:
 * counted by reason. A request datagram whose answers all come from the
 * receiving core (the common case: sold out, bad token, TIME, ITEM_STATUS)
 * is answered in place: the response overwrites the request's payload (never
 * longer: no amplification) and dp_net_udp_reply_headers turns the frame
 * around (its checksums after the burst, dp_net_udp_reply_checksums), so the
 * reply costs no mbuf. Datagrams the engine gathered through
 * its return path (answers from owner cores or released by the log), and the
 * answer to a one-message datagram decided on another core, are staged as
 * datagrams (struct dp_txslot, each with its
 * requester's MAC, IP, port and ethdev port), built into fresh mbufs with
 * dp_net_udp_build at the end of the loop. Frames go out with
 * rte_eth_tx_burst on the worker's own TX queue; a TX ring that stays full
 * drops and counts (tx_dropped, frames).
 *
 * Exception path. For each data port the daemon creates a TAP interface
 * (net_tap vdev, kernel name DP_TAP_IFNAME + port index) with the port's MAC
 * and the appliance's address (/DP_TAP_PREFIX_BITS), so the kernel stack serves
 * what is not fast path: TCP to the HTTP port, SSH, ARP replies to the
 * kernel's own requests, IPv6, ... Frames classified EXCEPTION go to the TAP
 * on the worker's queue; what the kernel sends on the TAP goes out of the
 * port. Both ways are bounded by a token bucket per worker (DP_EXC_RATE_PPS),
 * so a flood of non-FSP traffic cannot take the workers from FSP; refused
 * frames are counted (exc_dropped). Without a TAP (not root, no /dev/net/tun)
 * the daemon warns and drops exception frames, counted.
 *
 * HTTP. With [net] http_port set, every worker also hosts the public HTTP
 * API (dp_http_front.c, the same code as kernel mode) on kernel TCP behind
 * the exception path, until a user-space TCP stack exists: its own epoll
 * set and SO_REUSEPORT listener on address:http_port, bound once the TAPs
 * carry the address. TCP frames reach the kernel through the TAP like any
 * exception frame, and the answers leave the same way (exc_from_kernel), so
 * every HTTP packet crosses the exception path twice and shares its bound
 * (DP_EXC_RATE_PPS per worker and direction). The worker never blocks on
 * it and a loop pays no syscall for it: epoll_wait (timeout 0) runs at most
 * every DP_DPDK_HTTP_POLL_US (TSC), busy or idle, and on the first loop
 * after an idle sleep; the connections' own work (parse, feed the engine,
 * send) runs only when some connection has something to do, so a loop
 * without HTTP costs a TSC read and two tests. Answers decided by another
 * owner or held for the log come back to
 * the connection's worker (dp_engine_rx_req's pending slot and ops->answer;
 * reply_from_any_worker applies only to datagrams). An idle worker sleeps
 * on the epoll set too, so a connection wakes it. At stop, after the
 * workers returned, the control thread keeps the exception path moving
 * (http_linger: clients' ACKs in, kernel frames out) until every
 * connection's answers are acknowledged or DP_DPDK_HTTP_LINGER_MS passed,
 * then closes the connections and sends their last frames, so the answers
 * of the shutdown drain reach their clients as in kernel mode. Without a
 * TAP (not root, no /dev/net/tun) HTTP is not reachable: the daemon says so
 * and serves FSP/1.
 *
 * Idle. Workers busy-poll while there is traffic. After DP_SPIN_LOOPS empty
 * loops (rte_pause) they sleep in ppoll on their wake and log eventfds for
 * 10, 20, ... up to min(DP_SLEEP_MAX_US, idle_sleep_us) µs, so a small box
 * with more lcores than CPUs is not starved and an idle daemon costs little
 * (two idle workers: ~5% of a CPU with the 1000 µs cap, ~20% with 200 µs);
 * the price is up to that long on the first packet after an idle spell.
 * idle_sleep_us = 0 never sleeps (dedicated, isolated worker CPUs).
 *
 * Nothing here allocates or makes syscalls on the data path after start
 * except what the PMD itself does (net_af_packet sends with a syscall; a PCI
 * NIC does not) and the ppoll of an idle worker.
 */
#include "dp_engine.h"
#include "dp_net.h"

#include <errno.h>
#include <inttypes.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_pause.h>

#include "cfg.h"
#include "dp_http_front.h"

/* Budgets: dp_limits.h. */
#define DP_DPDK_HTTP_EVENTS 64 /* epoll events taken per HTTP poll */
#define DP_MBUF_DATA (RTE_PKTMBUF_HEADROOM + DP_MBUF_ROOM_BYTES)
_Static_assert(DP_RX_BURST >= FS_BURST_MAX, "the TAP's bursts use the same staging array");

_Static_assert(DP_NET_DROP_COUNT <= DP_STATS_DROP_REASONS, "dp_stats holds every drop reason");
_Static_assert(DP_MBUF_DATA - RTE_PKTMBUF_HEADROOM >= DP_NET_UDP_HDRS_LEN + DP_DGRAM_MAX_BYTES,
	       "an mbuf holds the largest answer");

struct dp_txq {
	unsigned n;
	struct rte_mbuf *m[DP_TXBUF_FRAMES];
};

struct dp_bucket {
	int64_t last_ns;
	uint32_t tokens;
};

struct dp_port {
	uint16_t id;                 /* ethdev port id */
	uint16_t nrxq, ntxq;
	int exc_id;                  /* the TAP's ethdev port id, -1 without */
	uint16_t exc_nq;             /* TAP queues (one per worker) */
	char name[RTE_ETH_NAME_MAX_LEN];
	struct dp_net_local local;
	uint64_t tx_ol_flags;        /* mbuf flags for checksum offload, 0 in software */
	bool rx_cksum_offload;       /* the port verifies IPv4 and UDP checksums (mbuf flags) */
	bool announced;              /* gratuitous ARP sent (at start, or by worker 0
				      * once the link came up) */
	bool link_up;                /* last state seen (links_wait, then the watch) */
};

/* One worker's public HTTP API (see "HTTP" above). */
struct dp_dpdk_http {
	struct dp_hfw *h;            /* NULL: HTTP not served */
	int epfd;                    /* its listener and connections; -1 without */
	uint64_t next_tsc;           /* epoll_wait under load not before this */
	struct epoll_event ev[DP_DPDK_HTTP_EVENTS];
};

struct dp_dpdk_worker {
	struct dp_dpdk *d;
	uint16_t q;                  /* queue id on every port = worker id */
	struct rte_mempool *pool;
	struct dp_txq tx[DP_PORTS_MAX];   /* to the data ports */
	struct dp_txq exc[DP_PORTS_MAX];  /* to port p's TAP */
	struct dp_bucket to_kernel, from_kernel;
	struct dp_net_stats net;
	struct rte_mbuf *rx[DP_RX_BURST];
	struct rte_mbuf *done[DP_RX_BURST];
	struct rte_mbuf *reply[DP_RX_BURST];    /* FSP replies in place of this burst, checksums to do */
	unsigned nreply;
	struct dp_net_pkt pkt[DP_RX_BURST];      /* stage 2's parse of rx[i] */
	uint8_t verdict[DP_RX_BURST];            /* stage 2's enum dp_net_verdict of rx[i] */
	unsigned exc_poll;           /* busy loops, for the TAP poll every DP_EXC_POLL_BUSY */
	unsigned sleep_us;           /* current idle back-off */
	struct dp_stats st;          /* this front end's counters (frames, drops) */
	struct dp_dpdk_http http;
} __rte_cache_aligned;

struct dp_dpdk {
	const struct cfg *cfg;
	unsigned n;                  /* workers */
	unsigned nports;
	struct dp_port port[DP_PORTS_MAX];
	struct rte_mempool *pool[RTE_MAX_NUMA_NODES];
	struct dp_dpdk_worker *w[FS_WORKERS_MAX];
	int64_t watch_next_ns;       /* dp_engine_watch_links: next poll */
	struct dp_hfe *http;         /* NULL: HTTP not served */
	uint64_t http_poll_tsc;      /* DP_DPDK_HTTP_POLL_US in TSC cycles */
};

/* ---------------------------------------------------------------- tx */

static bool bucket_take(struct dp_bucket *b, int64_t mono_ns)
{
	if (mono_ns - b->last_ns >= FS_NS_PER_MS) {
		uint64_t add = (uint64_t)(mono_ns - b->last_ns) * DP_EXC_RATE_PPS / FS_NS_PER_S;
		b->tokens = (uint32_t)RTE_MIN((uint64_t)DP_EXC_BURST_FRAMES, b->tokens + add);
		b->last_ns = mono_ns;
	}
	if (b->tokens == 0)
		return false;
	b->tokens--;
	return true;
}

/* Send what is staged on one queue; what the ring will not take is dropped
 * and counted (never waited for). Returns frames sent. */
static unsigned txq_send(uint16_t port, uint16_t q, struct dp_txq *t, uint64_t *dropped)
{
	unsigned sent = 0;

	for (unsigned tries = 0; sent < t->n && tries < DP_TX_BURST_TRIES; tries++)
		sent += rte_eth_tx_burst(port, q, t->m + sent, (uint16_t)(t->n - sent));
	if (sent < t->n) {
		*dropped += t->n - sent;
		rte_pktmbuf_free_bulk(t->m + sent, t->n - sent);
	}
	t->n = 0;
	return sent;
}

static void tx_data(struct dp_dpdk_worker *dw, unsigned p, struct rte_mbuf *m)
{
	struct dp_txq *t = &dw->tx[p];

	if (unlikely(t->n == DP_TXBUF_FRAMES))
		dw->st.tx_frames += txq_send(dw->d->port[p].id, dw->q, t, &dw->st.tx_dropped);
	t->m[t->n++] = m;
}

/* Set a reply's length (padded to the Ethernet minimum) and offload flags. */
static void frame_finish(const struct dp_port *P, struct rte_mbuf *m, int len, bool ip)
{
	int padded = dp_net_pad(rte_pktmbuf_mtod(m, uint8_t *), (uint16_t)len,
				(uint16_t)(m->buf_len - m->data_off));

	FS_ASSERT(padded >= len);
	m->data_len = (uint16_t)padded;
	m->pkt_len = (uint32_t)padded;
	m->ol_flags = 0;
	if (ip && P->tx_ol_flags) {
		m->ol_flags = P->tx_ol_flags;
		m->l2_len = sizeof(struct rte_ether_hdr);
		m->l3_len = sizeof(struct rte_ipv4_hdr);
	}
}

/* One staged response datagram → one frame. */
static void build_answer(struct dp_dpdk_worker *dw, const struct dp_txslot *t)
{
	const struct dp_port *P = &dw->d->port[t->dst.port];
	struct rte_mbuf *m = rte_pktmbuf_alloc(dw->pool);
	int len;

	if (unlikely(m == NULL)) {
		dw->st.tx_nombuf++;
		dw->st.tx_dropped++;
		return;
	}
	len = dp_net_udp_build(&P->local, rte_pktmbuf_mtod(m, uint8_t *),
			       (uint16_t)(m->buf_len - m->data_off), &t->dst.mac,
			       t->dst.sa.sin_addr.s_addr, t->dst.sa.sin_port, t->buf,
			       (uint16_t)(FSP_HDR_LEN + FSP_MSG_LEN * t->count));
	FS_ASSERT(len > 0); /* DP_MBUF_DATA holds the largest answer */
	frame_finish(P, m, len, true);
	tx_data(dw, t->dst.port, m);
}

/* ops->tx: the engine's staged datagrams become frames; everything queued
 * on this worker's TX queues (replies, exception frames) goes out. Every
 * datagram is taken (a frame that cannot be built or sent is counted here). */
static unsigned dpdk_tx(void *fw, const struct dp_txslot *t, unsigned n)
{
	struct dp_dpdk_worker *dw = fw;
	struct dp_dpdk *d = dw->d;

	if (dw->http.h)
		dp_hfw_tx(dw->http.h); /* to the kernel now; out through the TAP next loop */
	for (unsigned i = 0; i < n; i++)
		build_answer(dw, &t[i]);
	for (unsigned p = 0; p < d->nports; p++) {
		if (dw->tx[p].n)
			dw->st.tx_frames += txq_send(d->port[p].id, dw->q, &dw->tx[p], &dw->st.tx_dropped);
		if (dw->exc[p].n)
			dw->st.exc_to_kernel += txq_send((uint16_t)d->port[p].exc_id, dw->q, &dw->exc[p],
							&dw->st.exc_dropped);
	}
	return n;
}

/* ---------------------------------------------------------------- HTTP */

/* Per loop (ops->rx): take the HTTP sockets' events without a syscall per
 * loop — epoll_wait (timeout 0) once DP_DPDK_HTTP_POLL_US have passed since
 * the last one (TSC), busy or idle, and on the first loop after an idle
 * sleep (which also waits on the epoll set, so a connection wakes the
 * worker) — then let the connections parse, feed the engine and queue
 * output, only when some have something to do. A loop without HTTP work
 * costs a TSC read and two tests. Returns units of work. */
static unsigned http_rx(struct dp_dpdk_worker *dw, struct dp_worker *w, int64_t now_ns,
			int64_t mono_ns)
{
	struct dp_dpdk_http *x = &dw->http;
	unsigned work = 0;
	uint64_t tsc;

	if (likely(x->h == NULL))
		return 0;
	tsc = rte_rdtsc();
	if (unlikely(tsc >= x->next_tsc)) {
		int n = epoll_wait(x->epfd, x->ev, DP_DPDK_HTTP_EVENTS, 0);
		for (int i = 0; i < n; i++)
			dp_hfw_event(x->h, x->ev[i].data.u64, x->ev[i].events);
		work += n > 0 ? (unsigned)n : 0;
		x->next_tsc = tsc + dw->d->http_poll_tsc;
	}
	if (work || dp_hfw_pending(x->h))
		work += dp_hfw_rx(x->h, w, now_ns, mono_ns);
	return work;
}

/* ops->answer: an HTTP request's answer came back to its worker. */
static void dpdk_answer(void *fw, uint64_t cookie, const struct fs_resp *r)
{
	struct dp_dpdk_worker *dw = fw;

	FS_ASSERT(dw->http.h != NULL);
	dp_hfw_answer(dw->http.h, cookie, r);
}

/* The descriptor an idle worker also sleeps on: its HTTP epoll set (the
 * loop after the sleep polls it). */
static int http_sleep_fd(struct dp_dpdk_worker *dw)
{
	if (dw->http.h == NULL)
		return -1;
	dw->http.next_tsc = 0;
	return dw->http.epfd;
}

/* ---------------------------------------------------------------- rx */

/* An exception frame from port p to its TAP. False: not taken (caller frees). */
static bool exc_to_kernel(struct dp_dpdk_worker *dw, unsigned p, struct rte_mbuf *m, int64_t mono_ns)
{
	const struct dp_port *P = &dw->d->port[p];
	struct dp_txq *t = &dw->exc[p];

	if (P->exc_id < 0 || !bucket_take(&dw->to_kernel, mono_ns))
		return false;
	if (unlikely(t->n == DP_TXBUF_FRAMES))
		dw->st.exc_to_kernel += txq_send((uint16_t)P->exc_id, dw->q, t, &dw->st.exc_dropped);
	m->ol_flags = 0;
	t->m[t->n++] = m;
	return true;
}

/* An FSP datagram into the worker. When the receiving core answered every
 * message (sold out, bad token, TIME, ITEM_STATUS, an inline owner decision
 * not held for the log), the answer overwrites the request's payload and the
 * frame is turned around: nothing allocated, nothing freed. Returns true when
 * m was reused so; false when the caller frees it (answers staged, handed
 * off or held, or none). */
static bool rx_fsp(struct dp_dpdk_worker *dw, struct dp_worker *w, unsigned p,
		   struct rte_mbuf *m,
		   const struct dp_net_pkt *pkt, int64_t now_ns, int64_t mono_ns)
{
	const struct dp_port *P = &dw->d->port[p];
	uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
	uint8_t *payload = frame + pkt->payload_off;
	struct dp_peer src = {.sa = {.sin_family = AF_INET, .sin_port = pkt->src_port_be,
				     .sin_addr = {.s_addr = pkt->src_ip_be}},
			      .mac = pkt->src_mac, .port = (uint16_t)p};
	size_t n = dp_engine_rx_dgram(w, payload, pkt->payload_len, false, &src, now_ns, mono_ns,
				      payload);
	int len;

	if (n == 0)
		return false;
	FS_ASSERT(n <= pkt->payload_len); /* no amplification */
	len = dp_net_udp_reply_headers(&P->local, frame, (uint16_t)(m->buf_len - m->data_off), pkt,
				       (uint16_t)n);
	FS_ASSERT(len > 0); /* the request held it */
	frame_finish(P, m, len, true);
	dw->reply[dw->nreply++] = m; /* checksums and TX after the burst (replies_send) */
	return true;
}

/* The in-place replies of a burst: checksums now that the encoder's stores
 * have left the store buffer (dp_net_udp_reply_headers), then onto the
 * port's TX buffer in arrival order. */
static void replies_send(struct dp_dpdk_worker *dw, unsigned p)
{
	const struct dp_port *P = &dw->d->port[p];

	for (unsigned i = 0; i < dw->nreply; i++) {
		dp_net_udp_reply_checksums(&P->local, rte_pktmbuf_mtod(dw->reply[i], uint8_t *));
		tx_data(dw, p, dw->reply[i]);
	}
	dw->nreply = 0;
}

/* The checksums the port verified as good (RX checksum offload), as
 * dp_net_classify_hw takes them; 0 without offload. */
static inline unsigned rx_hw_verdicts(const struct dp_port *P, const struct rte_mbuf *m)
{
	unsigned hw = 0;

	if (!P->rx_cksum_offload)
		return 0;
	if ((m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_GOOD)
		hw |= DP_NET_HW_IP_GOOD;
	if ((m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD)
		hw |= DP_NET_HW_L4_GOOD;
	return hw;
}

/* Stage 2 for one frame: classify it (headers, checksums; counted) and, for
 * an FSP datagram, prefetch what the gate will read for its BUYs. */
static enum dp_net_verdict rx_classify(struct dp_dpdk_worker *dw, struct dp_worker *w,
				       const struct dp_port *P, struct rte_mbuf *m,
				       struct dp_net_pkt *pkt)
{
	uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
	enum dp_net_verdict v;

	if (unlikely(m->nb_segs != 1)) {
		/* No scatter is configured; a chained frame is not ours to parse. */
		dp_net_count(&dw->net, DP_NET_DROP, DP_NET_DROP_SHORT);
		return DP_NET_DROP;
	}
	v = dp_net_classify_hw(&P->local, frame, m->data_len, pkt, rx_hw_verdicts(P, m));
	dp_net_count(&dw->net, v, pkt->drop);
	if (v == DP_NET_FSP)
		dp_engine_prefetch_dgram(w, frame + pkt->payload_off, pkt->payload_len);
	return v;
}

/* Stage 3 for one classified frame. Returns true when m was reused for a
 * reply or passed on; false when the caller frees it. */
static bool rx_frame(struct dp_dpdk_worker *dw, struct dp_worker *w, unsigned p,
		     struct rte_mbuf *m, enum dp_net_verdict v, const struct dp_net_pkt *pkt,
		     int64_t now_ns, int64_t mono_ns)
{
	const struct dp_port *P = &dw->d->port[p];
	uint8_t *frame = rte_pktmbuf_mtod(m, uint8_t *);
	int len;

	switch (v) {
	case DP_NET_FSP:
		return rx_fsp(dw, w, p, m, pkt, now_ns, mono_ns);
	case DP_NET_ARP_REQUEST:
		len = dp_net_arp_reply(&P->local, frame, m->data_len);
		if (len < 0)
			return false;
		frame_finish(P, m, len, false);
		tx_data(dw, p, m);
		dw->st.arp_replies++;
		return true;
	case DP_NET_ICMP_ECHO:
		len = dp_net_icmp_echo_reply(&P->local, frame, m->data_len);
		if (len < 0)
			return false;
		frame_finish(P, m, len, true);
		tx_data(dw, p, m);
		dw->st.icmp_replies++;
		return true;
	case DP_NET_EXCEPTION:
		if (exc_to_kernel(dw, p, m, mono_ns))
			return true;
		dw->st.exc_dropped++;
		return false;
	default:
		return false;
	}
}

/* What the kernel sent on port p's TAP goes out of port p (bounded). */
static unsigned exc_from_kernel(struct dp_dpdk_worker *dw, unsigned p, int64_t mono_ns)
{
	const struct dp_port *P = &dw->d->port[p];
	unsigned n;

	if (P->exc_id < 0 || dw->q >= P->exc_nq)
		return 0;
	n = rte_eth_rx_burst((uint16_t)P->exc_id, dw->q, dw->rx, FS_BURST_MAX);
	for (unsigned i = 0; i < n; i++) {
		struct rte_mbuf *m = dw->rx[i];
		if (m->nb_segs != 1 || !bucket_take(&dw->from_kernel, mono_ns)) {
			dw->st.exc_dropped++;
			rte_pktmbuf_free(m);
			continue;
		}
		m->ol_flags = 0;
		tx_data(dw, p, m);
		dw->st.exc_from_kernel++;
	}
	return n;
}

/* ops->rx: one receive pass over every port, in stages over each burst so
 * that the cache misses of a burst overlap instead of coming one frame at a
 * time (issue 12; the stage boundaries are where per-stage accounting goes):
 *   1. RX: rte_eth_rx_burst of up to DP_RX_BURST (64) frames on this
 *      worker's queue of the port (twice testpmd's default: the PMD's
 *      per-call work, reading the other side's ring indexes, and the loop's
 *      own spread over more frames; docs/benchmarks.md, issue 12);
 *   2. classify every frame (rx_classify: headers and checksums, counted)
 *      and prefetch the gate's lines for every BUY of each FSP datagram;
 *   3. act on every frame in arrival order (rx_frame: the engine and the
 *      in-place reply's headers, ARP, ICMP, exception), ARP and ICMP replies
 *      queued on the port's TX buffer (sent as one burst per port by dpdk_tx
 *      at the end of the engine's loop);
 *   4. the in-place FSP replies' checksums, then onto the TX buffer
 *      (replies_send: summed a burst after their payloads were written, the
 *      loads no longer wait on the store buffer);
 *   5. free, in bulk, what was not reused.
 * Then the exception TAP: every loop while the port is idle, every
 * DP_EXC_POLL_BUSY-th loop while frames arrive (each TAP poll is a readv
 * syscall; under load that was ~8% of the worker's time for nothing). */
#define DP_EXC_POLL_BUSY 16u
static unsigned dpdk_rx(void *fw, struct dp_worker *w, int64_t now_ns, int64_t mono_ns)
{
	struct dp_dpdk_worker *dw = fw;
	struct dp_dpdk *d = dw->d;
	unsigned work = 0;

	for (unsigned p = 0; p < d->nports; p++) {
		const struct dp_port *P = &d->port[p];
		unsigned n = 0, nfree = 0;

		if (dw->q < P->nrxq)
			n = rte_eth_rx_burst(P->id, dw->q, dw->rx, DP_RX_BURST);
		for (unsigned i = 0; i < n; i++) {
			if (i + 2 < n) /* a NIC DMAed it: not in cache yet */
				rte_prefetch0(rte_pktmbuf_mtod(dw->rx[i + 2], void *));
			dw->verdict[i] = (uint8_t)rx_classify(dw, w, P, dw->rx[i], &dw->pkt[i]);
		}
		for (unsigned i = 0; i < n; i++)
			if (!rx_frame(dw, w, p, dw->rx[i], (enum dp_net_verdict)dw->verdict[i],
				      &dw->pkt[i], now_ns, mono_ns))
				dw->done[nfree++] = dw->rx[i];
		replies_send(dw, p);
		if (nfree)
			rte_pktmbuf_free_bulk(dw->done, nfree);
		dw->st.rx_frames += n;
		work += n;
		if (n == 0 || ++dw->exc_poll % DP_EXC_POLL_BUSY == 0)
			work += exc_from_kernel(dw, p, mono_ns);
	}
	return work + http_rx(dw, w, now_ns, mono_ns);
}

/* ops->idle: busy-poll under load; pause, then sleeps doubling from
 * DP_SLEEP_MIN_US to min(DP_SLEEP_MAX_US, idle_sleep_us) when idle. The count
 * never restarts here: it restarts when the engine finds work. */
static bool dpdk_idle(void *fw, struct dp_worker *w, unsigned idle)
{
	struct dp_dpdk_worker *dw = fw;
	unsigned cap = RTE_MIN((unsigned)DP_SLEEP_MAX_US, dw->d->cfg->idle_sleep_us);

	if (idle == 1)
		dw->sleep_us = 0; /* the first empty loop after work */
	if (idle < DP_SPIN_LOOPS || cap == 0) {
		rte_pause();
		return false;
	}
	dw->sleep_us = dw->sleep_us ? RTE_MIN(dw->sleep_us * 2, cap) : RTE_MIN((unsigned)DP_SLEEP_MIN_US, cap);
	dp_engine_sleep(w, http_sleep_fd(dw), dw->sleep_us);
	return false;
}

/* ---------------------------------------------------------------- setup */

/* The lcore worker i runs on: the i-th worker lcore, as dp_engine_launch
 * assigns them. */
static unsigned worker_lcore(unsigned i)
{
	unsigned lcore, k = 0;

	RTE_LCORE_FOREACH_WORKER(lcore) {
		if (k++ == i)
			return lcore;
	}
	return rte_get_main_lcore();
}

static unsigned worker_socket(unsigned i)
{
	int s = (int)rte_lcore_to_socket_id(worker_lcore(i));

	return s < 0 || s >= RTE_MAX_NUMA_NODES ? 0 : (unsigned)s;
}

/* mbufs one worker can hold at once: its RX and TX rings and staging on
 * every port and TAP, one burst, and its share of the pool cache. */
static unsigned mbufs_per_worker(unsigned nports)
{
	return nports * (DP_RX_DESCS + DP_TX_DESCS + 2 * DP_TXBUF_FRAMES + 2 * DP_TAP_DESCS) + DP_RX_BURST +
	       DP_MBUF_CACHE_MBUFS * 3 / 2;
}

/* One pool per NUMA socket that runs workers, sized for those workers. */
static int pools_create(struct dp_dpdk *d, char *err, size_t errlen)
{
	unsigned per_socket[RTE_MAX_NUMA_NODES] = {0};

	for (unsigned i = 0; i < d->n; i++)
		per_socket[worker_socket(i)]++;
	for (unsigned s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		char name[RTE_MEMPOOL_NAMESIZE];
		unsigned n = per_socket[s] * mbufs_per_worker(d->nports);

		if (per_socket[s] == 0)
			continue;
		snprintf(name, sizeof(name), "fs_mbuf_s%u", s);
		d->pool[s] = rte_pktmbuf_pool_create(name, n, DP_MBUF_CACHE_MBUFS, 0, DP_MBUF_DATA, (int)s);
		if (d->pool[s] == NULL) {
			snprintf(err, errlen, "cannot allocate %u mbufs (%u MiB) on socket %u: %s "
					      "(raise -m or the hugepages)", n,
				 (unsigned)((uint64_t)n * (DP_MBUF_DATA + 192) >> 20), s,
				 rte_strerror(rte_errno));
			return -ENOMEM;
		}
		fs_log("info", "dpdk: %u mbufs on socket %u for %u workers", n, s, per_socket[s]);
	}
	return 0;
}

static void port_offloads(struct dp_port *P, const struct rte_eth_dev_info *info,
			  struct rte_eth_conf *conf)
{
	if (P->nrxq > 1 && info->flow_type_rss_offloads) {
		conf->rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf->rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & info->flow_type_rss_offloads;
	}
	if ((info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_IPV4_CKSUM) &&
	    (info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_UDP_CKSUM)) {
		conf->rxmode.offloads |= RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
		P->rx_cksum_offload = true;
	}
	if ((info->tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) &&
	    (info->tx_offload_capa & RTE_ETH_TX_OFFLOAD_UDP_CKSUM)) {
		conf->txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
		P->local.tx_ip_cksum_offload = true;
		P->local.tx_udp_cksum_offload = true;
		P->tx_ol_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM | RTE_MBUF_F_TX_UDP_CKSUM;
	}
}

/* Configure queues (one TX per worker, one RX per worker when there are that
 * many), set up descriptors from each worker's socket pool, start. */
static int port_setup(struct dp_dpdk *d, struct dp_port *P, char *err,
		      size_t errlen)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	uint16_t nrxd = DP_RX_DESCS, ntxd = DP_TX_DESCS;
	int rc, sock = rte_eth_dev_socket_id(P->id);

	memset(&conf, 0, sizeof(conf));
	rte_eth_dev_get_name_by_port(P->id, P->name);
	if ((rc = rte_eth_dev_info_get(P->id, &info)) < 0)
		goto fail;
	if (info.max_tx_queues < d->n) {
		snprintf(err, errlen, "port %s has %u TX queues, workers = %u needs one per worker "
				      "(net_af_packet: qpairs=%u; net_pcap: one tx_pcap per worker)",
			 P->name, info.max_tx_queues, d->n, d->n);
		return -EINVAL;
	}
	P->ntxq = (uint16_t)d->n;
	P->nrxq = (uint16_t)RTE_MIN(d->n, (unsigned)info.max_rx_queues);
	if (P->nrxq < d->n)
		fs_log("warn", "port %s: %u RX queues for %u workers: workers %u.. only decide for "
			       "their shards", P->name, P->nrxq, d->n, P->nrxq);
	port_offloads(P, &info, &conf);
	if ((rc = rte_eth_dev_configure(P->id, P->nrxq, P->ntxq, &conf)) < 0 ||
	    (rc = rte_eth_dev_adjust_nb_rx_tx_desc(P->id, &nrxd, &ntxd)) < 0)
		goto fail;
	for (uint16_t q = 0; q < P->nrxq; q++)
		if ((rc = rte_eth_rx_queue_setup(P->id, q, nrxd, (unsigned)sock, NULL,
						 d->pool[worker_socket(q)])) < 0)
			goto fail;
	for (uint16_t q = 0; q < P->ntxq; q++)
		if ((rc = rte_eth_tx_queue_setup(P->id, q, ntxd, (unsigned)sock, NULL)) < 0)
			goto fail;
	if ((rc = rte_eth_macaddr_get(P->id, &P->local.mac)) < 0 ||
	    (rc = rte_eth_dev_start(P->id)) < 0)
		goto fail;
	P->local.ip_be = d->cfg->address.s_addr;
	P->local.udp_port_be = htons(d->cfg->udp_port);
	fs_log("info", "port %u %s (%s): MAC " RTE_ETHER_ADDR_PRT_FMT ", %u RX / %u TX queues, "
		       "%u/%u descriptors%s%s%s", P->id, P->name, info.driver_name,
	       RTE_ETHER_ADDR_BYTES(&P->local.mac), P->nrxq, P->ntxq, nrxd, ntxd,
	       conf.rxmode.mq_mode == RTE_ETH_MQ_RX_RSS ? ", RSS" : "",
	       P->tx_ol_flags ? ", TX checksum offload" : "",
	       P->rx_cksum_offload ? ", RX checksum offload" : "");
	return 0;
fail:
	snprintf(err, errlen, "port %s: setup failed: %s", P->name, rte_strerror(-rc));
	return rc;
}

/* Wait (bounded) for every port's link; a port still down is a warning, not
 * a failure: a memif or a cable may come up later. */
static void links_wait(struct dp_dpdk *d)
{
	int64_t end = fs_mono_ns() + DP_LINK_WAIT_MS * FS_NS_PER_MS;

	for (unsigned p = 0; p < d->nports; p++) {
		struct rte_eth_link link;

		for (;;) {
			memset(&link, 0, sizeof(link));
			if (rte_eth_link_get_nowait(d->port[p].id, &link) == 0 && link.link_status)
				break;
			if (fs_mono_ns() >= end)
				break;
			usleep(10000);
		}
		d->port[p].link_up = link.link_status;
		if (link.link_status)
			fs_log("info", "port %s: link up, %u Mb/s %s", d->port[p].name, link.link_speed,
			       link.link_duplex ? "full-duplex" : "half-duplex");
		else
			fs_log("warn", "port %s: link still down after %d ms (cable, switch, or a "
				       "memif peer not connected yet); serving anyway", d->port[p].name,
			       DP_LINK_WAIT_MS);
	}
}

/* ---------------------------------------------------------------- exception path */

/* Give the TAP's kernel interface the appliance's address and bring it up. */
static int tap_address(const char *ifname, struct in_addr addr)
{
	struct ifreq ifr;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
	int rc = 0, fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	sin->sin_family = AF_INET;
	sin->sin_addr = addr;
	if (ioctl(fd, SIOCSIFADDR, &ifr) < 0)
		rc = -errno;
	sin->sin_addr.s_addr = htonl(~0u << (32 - DP_TAP_PREFIX_BITS));
	if (rc == 0 && ioctl(fd, SIOCSIFNETMASK, &ifr) < 0)
		rc = -errno;
	if (rc == 0 && ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			rc = -errno;
	}
	close(fd);
	return rc;
}

/* The appliance's address is IPv4 only: keep the kernel from sending IPv6
 * autoconfiguration (MLD, router solicitations) out of the port. Best effort. */
static void tap_no_ipv6(const char *ifname)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
	f = fopen(path, "w");
	if (f == NULL)
		return;
	fputs("1\n", f);
	fclose(f);
}

static int tap_queues(struct dp_dpdk *d, struct dp_port *P, uint16_t id)
{
	struct rte_eth_conf conf;
	int rc;

	memset(&conf, 0, sizeof(conf));
	rc = rte_eth_dev_configure(id, (uint16_t)d->n, (uint16_t)d->n, &conf);
	for (uint16_t q = 0; rc == 0 && q < d->n; q++) {
		rc = rte_eth_rx_queue_setup(id, q, DP_TAP_DESCS, rte_eth_dev_socket_id(id), NULL,
					    d->pool[worker_socket(q)]);
		if (rc == 0)
			rc = rte_eth_tx_queue_setup(id, q, DP_TAP_DESCS, rte_eth_dev_socket_id(id), NULL);
	}
	if (rc == 0)
		rc = rte_eth_dev_start(id);
	if (rc == 0) {
		P->exc_id = id;
		P->exc_nq = (uint16_t)d->n;
	}
	return rc;
}

/* Create port p's exception TAP with the port's MAC; failure leaves the
 * exception path off for that port (warned), never the daemon. */
static void tap_create(struct dp_dpdk *d, unsigned p)
{
	struct dp_port *P = &d->port[p];
	char name[32], ifname[IFNAMSIZ], args[160];
	uint16_t id;
	int rc;

	P->exc_id = -1;
	snprintf(name, sizeof(name), "net_tap_fs%u", p);
	snprintf(ifname, sizeof(ifname), DP_TAP_IFNAME "%u", p);
	snprintf(args, sizeof(args), "%s,iface=%s,mac=" RTE_ETHER_ADDR_PRT_FMT, name, ifname,
		 RTE_ETHER_ADDR_BYTES(&P->local.mac));
	rc = rte_dev_probe(args); /* hot-plug the vdev: EAL's own, no bus library to link */
	if (rc == 0)
		rc = rte_eth_dev_get_port_by_name(name, &id);
	if (rc == 0)
		rc = tap_queues(d, P, id);
	if (rc == 0)
		rc = tap_address(ifname, d->cfg->address);
	if (rc == 0)
		tap_no_ipv6(ifname);
	if (rc < 0) {
		fs_log("warn", "port %s: no exception path (TAP %s: %s): TCP, HTTP and other "
			       "non-FSP traffic to %s is dropped (counted)", P->name, ifname,
		       fs_strerror(rc < 0 ? rc : -EIO), d->cfg->address_str);
		if (P->exc_id >= 0) {
			rte_eth_dev_stop((uint16_t)P->exc_id);
			rte_eth_dev_close((uint16_t)P->exc_id);
		}
		P->exc_id = -1;
		return;
	}
	fs_log("info", "port %s: exception path to the kernel through TAP %s (%s/%d), at most "
		       "%u frames/s per worker each way", P->name, ifname, d->cfg->address_str,
	       DP_TAP_PREFIX_BITS, DP_EXC_RATE_PPS);
}

/* ---------------------------------------------------------------- HTTP setup */

/* Whether some port has an exception TAP (so the address is on a kernel
 * interface and TCP to it reaches the kernel). */
static bool http_reachable(const struct dp_dpdk *d)
{
	for (unsigned p = 0; p < d->nports; p++)
		if (d->port[p].exc_id >= 0)
			return true;
	return false;
}

/* After the TAPs have the address: with [net] http_port, every worker's
 * HTTP listener (dp_hfe_create first proves nobody listens on the port).
 * Without a TAP HTTP is not reachable: warned, not an error. */
static int http_create(struct dp_dpdk *d, char *err, size_t errlen)
{
	const struct cfg *cfg = d->cfg;
	int rc;

	for (unsigned i = 0; i < d->n; i++)
		d->w[i]->http.epfd = -1;
	if (cfg->http_port == 0)
		return 0;
	if (!http_reachable(d)) {
		fs_log("warn", "the public HTTP API (/v1) is not reachable in dpdk mode without an "
			       "exception TAP (needs root and /dev/net/tun): http_port %u is unused; "
			       "FSP/1 is served", cfg->http_port);
		return 0;
	}
	if ((rc = dp_hfe_create(cfg, d->n, &d->http, err, errlen)) < 0)
		return rc;
	for (unsigned i = 0; i < d->n; i++) {
		struct dp_dpdk_http *x = &d->w[i]->http;
		x->epfd = epoll_create1(EPOLL_CLOEXEC);
		if (x->epfd < 0) {
			snprintf(err, errlen, "epoll: %s", strerror(errno));
			return -errno;
		}
		if ((rc = dp_hfw_create(d->http, cfg, i, x->epfd, &x->h, err, errlen)) < 0)
			return rc;
	}
	d->http_poll_tsc = rte_get_tsc_hz() / 1000000 * DP_DPDK_HTTP_POLL_US;
	fs_log("info", "public HTTP API on %s:%u (workers): /v1/*, on kernel TCP through the "
		       "exception path (at most %u frames/s per worker each way; polled at least "
		       "every %u us under load)", cfg->address_str, cfg->http_port, DP_EXC_RATE_PPS,
	       DP_DPDK_HTTP_POLL_US);
	return 0;
}

/* After the workers returned: what the kernel queued on the TAPs since the
 * workers stopped reading them (HTTP answers sent during the shutdown
 * drain, the closed connections' FINs) leaves through the ports, once, on
 * the workers' own queues (they are idle now). Best effort: a TX ring that
 * is full drops the rest. */
static void http_exc_flush(struct dp_dpdk *d)
{
	struct rte_mbuf *m[FS_BURST_MAX];

	for (unsigned p = 0; p < d->nports; p++) {
		const struct dp_port *P = &d->port[p];
		for (uint16_t q = 0; P->exc_id >= 0 && q < P->exc_nq && q < P->ntxq; q++) {
			for (unsigned round = 0; round < DP_TAP_DESCS / FS_BURST_MAX; round++) {
				uint16_t n = rte_eth_rx_burst((uint16_t)P->exc_id, q, m, FS_BURST_MAX);
				uint16_t k = 0, sent;
				if (n == 0)
					break;
				for (uint16_t i = 0; i < n; i++) {
					if (m[i]->nb_segs != 1) {
						rte_pktmbuf_free(m[i]);
						continue;
					}
					m[i]->ol_flags = 0;
					m[k++] = m[i];
				}
				sent = rte_eth_tx_burst(P->id, q, m, k);
				if (sent < k)
					rte_pktmbuf_free_bulk(m + sent, k - sent);
			}
		}
	}
}

/* One relay pass on the control thread (the workers returned): exception
 * frames from the ports to their TAPs (the clients' ACKs), what the kernel
 * sent on the TAPs out of the ports; every other frame is dropped (the
 * daemon is stopping). Unbounded by the token buckets: it runs only at stop. */
static void http_relay(struct dp_dpdk *d)
{
	struct rte_mbuf *m[FS_BURST_MAX], *fwd[FS_BURST_MAX];

	for (unsigned p = 0; p < d->nports; p++) {
		const struct dp_port *P = &d->port[p];
		for (uint16_t q = 0; P->exc_id >= 0 && q < P->nrxq && q < P->exc_nq; q++) {
			uint16_t n = rte_eth_rx_burst(P->id, q, m, FS_BURST_MAX), k = 0, sent;
			for (uint16_t i = 0; i < n; i++) {
				struct dp_net_pkt pkt;
				if (m[i]->nb_segs == 1 &&
				    dp_net_classify(&P->local, rte_pktmbuf_mtod(m[i], uint8_t *),
						    m[i]->data_len, &pkt) == DP_NET_EXCEPTION) {
					m[i]->ol_flags = 0;
					fwd[k++] = m[i];
				} else {
					rte_pktmbuf_free(m[i]);
				}
			}
			sent = rte_eth_tx_burst((uint16_t)P->exc_id, q, fwd, k);
			if (sent < k)
				rte_pktmbuf_free_bulk(fwd + sent, k - sent);
		}
	}
	http_exc_flush(d);
}

/* At stop, before the connections close: keep the exception path moving
 * until every connection's answers are written and acknowledged (or
 * DP_DPDK_HTTP_LINGER_MS passed: a peer that stopped reading), so that the
 * answers of the shutdown drain reach their clients as in kernel mode.
 * Without this the kernel could not see the clients' ACKs and a close()
 * would discard what is still unsent. */
static void http_linger(struct dp_dpdk *d)
{
	int64_t end = fs_mono_ns() + (int64_t)DP_DPDK_HTTP_LINGER_MS * FS_NS_PER_MS;

	for (;;) {
		size_t owed = 0;
		for (unsigned i = 0; i < d->n; i++) {
			struct dp_dpdk_http *x = d->w[i] ? &d->w[i]->http : NULL;
			int n;
			if (x == NULL || x->h == NULL)
				continue; /* a start that failed half-way */
			n = epoll_wait(x->epfd, x->ev, DP_DPDK_HTTP_EVENTS, 0);
			for (int e = 0; e < n; e++)
				dp_hfw_event(x->h, x->ev[e].data.u64, x->ev[e].events);
			dp_hfw_tx(x->h);
			owed += dp_hfw_unsent(x->h);
		}
		http_relay(d);
		if (owed == 0 || fs_mono_ns() >= end)
			break;
		usleep(100); /* the kernel's TCP needs the CPU more than this loop */
	}
}

/* Close the HTTP listeners and connections, then send what that and the
 * shutdown drain left on the TAPs (before the ports and TAPs stop). */
static void http_free(struct dp_dpdk *d)
{
	bool served = false;

	if (d->http == NULL)
		return;
	for (unsigned i = 0; i < d->n; i++)
		served |= d->w[i] && d->w[i]->http.h;
	if (served)
		http_linger(d);
	for (unsigned i = 0; i < d->n; i++) {
		struct dp_dpdk_http *x = d->w[i] ? &d->w[i]->http : NULL;
		if (x == NULL)
			continue;
		dp_hfw_free(x->h);
		x->h = NULL;
		if (x->epfd >= 0)
			close(x->epfd);
		x->epfd = -1;
	}
	dp_hfe_free(d->http);
	d->http = NULL;
	usleep(DP_DPDK_HTTP_FLUSH_WAIT_US); /* let the kernel finish what close() started */
	http_exc_flush(d);
}

/* ---------------------------------------------------------------- engine */

static int workers_attach(struct dp_dpdk *d, void *fw[])
{
	for (unsigned i = 0; i < d->n; i++) {
		unsigned s = worker_socket(i);
		struct dp_dpdk_worker *dw = rte_zmalloc_socket("fs_dw", sizeof(*dw),
							       RTE_CACHE_LINE_SIZE, (int)s);
		if (dw == NULL)
			return -ENOMEM;
		dw->d = d;
		dw->q = (uint16_t)i;
		dw->pool = d->pool[s];
		dw->to_kernel.tokens = dw->from_kernel.tokens = DP_EXC_BURST_FRAMES;
		d->w[i] = dw;
		fw[i] = dw;
	}
	return 0;
}

/* ops->create: take every ethdev EAL probed as a data port: queues per
 * worker, pools per socket, link-up wait, exception path. */
static int dpdk_create(const struct cfg *cfg, unsigned nworkers, void **fe, void *fw[],
		       char *err, size_t errlen)
{
	struct dp_dpdk *d = calloc(1, sizeof(*d));
	uint16_t pid;
	int rc;

	if (d == NULL)
		return -ENOMEM;
	*fe = d;
	d->cfg = cfg;
	d->n = nworkers;
	RTE_ETH_FOREACH_DEV(pid) {
		if (d->nports == DP_PORTS_MAX) {
			fs_log("warn", "dpdk: more than %d ports; port %u and later are not used",
			       DP_PORTS_MAX, pid);
			break;
		}
		d->port[d->nports].exc_id = -1;
		d->port[d->nports++].id = pid;
	}
	if (d->nports == 0) {
		snprintf(err, errlen, "mode = dpdk: EAL found no port; name one in [appliance] eal "
				      "(-a PCI-ADDRESS of a NIC bound to vfio-pci, or a vdev such as "
				      "--vdev=net_af_packet0,iface=eth1)");
		return -ENODEV;
	}
	if ((rc = pools_create(d, err, errlen)) < 0)
		return rc;
	for (unsigned p = 0; p < d->nports; p++)
		if ((rc = port_setup(d, &d->port[p], err, errlen)) < 0)
			return rc;
	if ((rc = workers_attach(d, fw)) < 0) {
		snprintf(err, errlen, "dpdk: worker state: out of memory");
		return rc;
	}
	for (unsigned p = 0; p < d->nports; p++)
		tap_create(d, p);
	if ((rc = http_create(d, err, errlen)) < 0)
		return rc;
	links_wait(d);
	d->watch_next_ns = fs_mono_ns() + DP_LINK_WATCH_MS * FS_NS_PER_MS;
	return 0;
}

static struct rte_mbuf *garp_build(const struct dp_port *P, struct rte_mempool *pool)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	int len;

	if (m == NULL)
		return NULL;
	len = dp_net_gratuitous_arp(&P->local, rte_pktmbuf_mtod(m, uint8_t *),
				    (uint16_t)(m->buf_len - m->data_off));
	FS_ASSERT(len > 0);
	frame_finish(P, m, len, false);
	return m;
}

/* ops->start: announce our address on every port (gratuitous ARP). */
static void dpdk_start(void *fe)
{
	struct dp_dpdk *d = fe;

	for (unsigned p = 0; p < d->nports; p++) {
		struct dp_port *P = &d->port[p];
		struct rte_eth_link link = {0};
		struct rte_mbuf *m;

		if (rte_eth_link_get_nowait(P->id, &link) != 0 || !link.link_status) {
			fs_log("info", "port %s: link down: the gratuitous ARP waits for link-up",
			       P->name);
			continue;
		}
		if ((m = garp_build(P, d->w[0]->pool)) == NULL)
			continue;
		/* Queue 0 belongs to worker 0, which has not been launched yet. */
		if (rte_eth_tx_burst(P->id, 0, &m, 1) != 1) {
			rte_pktmbuf_free(m);
			fs_log("warn", "port %s: gratuitous ARP not sent (TX ring full)", P->name);
			continue;
		}
		P->announced = true;
		fs_log("info", "port %s: announced %s at " RTE_ETHER_ADDR_PRT_FMT " (gratuitous ARP)",
		       P->name, d->cfg->address_str, RTE_ETHER_ADDR_BYTES(&P->local.mac));
	}
}

/* ops->timer: worker 0 announces our address on a port whose link was down
 * at start as soon as it comes up. */
static void dpdk_timer(void *fw)
{
	struct dp_dpdk_worker *dw = fw;
	struct dp_dpdk *d = dw->d;

	if (dw->http.h)
		dp_hfw_timer(dw->http.h); /* header and idle timeouts */
	if (dw->q != 0)
		return;
	for (unsigned p = 0; p < d->nports; p++) {
		struct dp_port *P = &d->port[p];
		struct rte_eth_link link = {0};
		struct rte_mbuf *m;

		/* Only until the first announcement: a link query may be a syscall. */
		if (likely(P->announced))
			continue;
		if (rte_eth_link_get_nowait(P->id, &link) != 0 || !link.link_status)
			continue;
		if ((m = garp_build(P, dw->pool)) == NULL)
			continue;
		tx_data(dw, p, m);
		P->announced = true;
	}
}

static void port_log_stats(const struct dp_port *P, uint16_t id, const char *what)
{
	struct rte_eth_stats s;

	if (rte_eth_stats_get(id, &s) != 0)
		return;
	fs_log("info", "%s %s: rx %" PRIu64 " frames (%" PRIu64 " missed, %" PRIu64
		       " errors, %" PRIu64 " no mbuf), tx %" PRIu64 " frames (%" PRIu64 " errors)",
	       what, P->name, s.ipackets, s.imissed, s.ierrors, s.rx_nombuf, s.opackets,
	       s.oerrors);
}

/* ops->free: stop the ports, log their counters, free pools; after the
 * workers returned. */
static void dpdk_free(void *fe, void *fw[], unsigned nworkers)
{
	struct dp_dpdk *d = fe;

	if (d == NULL)
		return;
	http_free(d);
	for (unsigned p = 0; p < d->nports; p++) {
		struct dp_port *P = &d->port[p];
		if (P->name[0] == '\0')
			continue; /* never set up */
		port_log_stats(P, P->id, "port");
		rte_eth_dev_stop(P->id);
		rte_eth_dev_close(P->id);
		if (P->exc_id >= 0) {
			port_log_stats(P, (uint16_t)P->exc_id, "exception TAP of");
			rte_eth_dev_stop((uint16_t)P->exc_id);
			rte_eth_dev_close((uint16_t)P->exc_id);
		}
	}
	for (unsigned i = 0; i < nworkers; i++) {
		struct dp_dpdk_worker *dw = d->w[i];
		if (dw == NULL)
			continue;
		for (unsigned p = 0; p < d->nports; p++) {
			rte_pktmbuf_free_bulk(dw->tx[p].m, dw->tx[p].n);
			rte_pktmbuf_free_bulk(dw->exc[p].m, dw->exc[p].n);
		}
		fw[i] = NULL;
		rte_free(dw);
	}
	for (unsigned s = 0; s < RTE_MAX_NUMA_NODES; s++)
		rte_mempool_free(d->pool[s]);
	free(d);
}

/* ops->stats: the frame counters of every worker and the classifier's drops. */
static void dpdk_stats(const void *fe, void *const fw[], unsigned nworkers, struct dp_stats *out)
{
	(void)fe;
	for (unsigned i = 0; i < nworkers; i++) {
		const struct dp_dpdk_worker *dw = fw[i];
		const uint64_t *src;
		uint64_t *dst = (uint64_t *)out;

		if (dw == NULL)
			continue;
		src = (const uint64_t *)&dw->st;
		for (size_t f = 0; f < sizeof(*out) / sizeof(uint64_t); f++)
			dst[f] += src[f];
		if (dw->http.h)
			dp_hfw_stats(dw->http.h, out);
		out->frames_dropped += dw->net.verdict[DP_NET_DROP];
		for (unsigned r = 0; r < DP_NET_DROP_COUNT; r++)
			out->frames_dropped_by_reason[r] += dw->net.drop[r];
	}
}

/* ops->watch (dp_engine_watch_links). */
static void dpdk_watch(void *fe)
{
	struct dp_dpdk *d = fe;
	int64_t now = fs_mono_ns();

	if (d == NULL || now < d->watch_next_ns)
		return;
	d->watch_next_ns = now + DP_LINK_WATCH_MS * FS_NS_PER_MS;
	for (unsigned p = 0; p < d->nports; p++) {
		struct dp_port *P = &d->port[p];
		struct rte_eth_link link;

		memset(&link, 0, sizeof(link));
		if (rte_eth_link_get_nowait(P->id, &link) != 0 || link.link_status == P->link_up)
			continue;
		P->link_up = link.link_status;
		if (link.link_status)
			fs_log("info", "port %s: link up, %u Mb/s (peer connected)", P->name,
			       link.link_speed);
		else
			fs_log("warn", "port %s: link down (peer disconnected, or cable): answers "
				       "to it are dropped, counted, until it is back", P->name);
	}
}

const char *dp_engine_drop_name(unsigned i)
{
	return i < DP_NET_DROP_COUNT ? dp_net_drop_name((enum dp_net_drop)i) : "?";
}

/* ops->log (dp_engine_log_net): frames by verdict, drops by reason,
 * exception path. */
static void dpdk_log(const void *fe, const struct dp_stats *sp, const char *when)
{
	const struct dp_stats s = *sp;
	char line[1024] = "";
	size_t n = 0;

	(void)fe;
	fs_log("info", "%s: frames rx %" PRIu64 " tx %" PRIu64 " (tx dropped %" PRIu64
		       ", no mbuf %" PRIu64 "), ARP replies %" PRIu64 ", ICMP echo replies %" PRIu64
		       ", exception path: to kernel %" PRIu64 ", from kernel %" PRIu64
		       ", refused %" PRIu64, when, s.rx_frames, s.tx_frames, s.tx_dropped,
	       s.tx_nombuf, s.arp_replies, s.icmp_replies, s.exc_to_kernel, s.exc_from_kernel,
	       s.exc_dropped);
	for (unsigned r = 1; r < DP_STATS_DROP_REASONS; r++)
		if (s.frames_dropped_by_reason[r] && n < sizeof(line))
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s=%" PRIu64,
					      dp_engine_drop_name(r), s.frames_dropped_by_reason[r]);
	fs_log("info", "%s: frames dropped %" PRIu64 "%s%s", when, s.frames_dropped,
	       n ? " by reason:" : "", line);
}

const struct dp_fe_ops dp_dpdk_ops = {
	.name = "dpdk",
	.reply_from_any_worker = true,
	.create = dpdk_create,
	.start = dpdk_start,
	.free = dpdk_free,
	.rx = dpdk_rx,
	.tx = dpdk_tx,
	.idle = dpdk_idle,
	.timer = dpdk_timer,
	.stats = dpdk_stats,
	.watch = dpdk_watch,
	.log = dpdk_log,
	.answer = dpdk_answer,
};
