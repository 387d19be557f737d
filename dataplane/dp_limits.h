/*
 * dp_limits.h — every budget of the data plane in one place, with its unit
 * last in the name. Private to dataplane/.
 *
 * Bounds shared with other modules stay in common/fs_common.h (FS_WORKERS_MAX,
 * FS_BURST_MAX datagrams per rx/tx burst, FS_MSGS_MAX messages per datagram,
 * FS_RING_SIZE_DEFAULT hand-off ring entries, which config checks); sizes
 * chosen by the operator come from cfg ([net] ring_size, idle_sleep_us).
 * Everything here is a compile-time budget of the engine (dp_engine.c,
 * dp_hold.c) or of one front end (dp_kernel.c, dp_dpdk.c); relationships
 * between them are checked with static asserts at the end.
 */
#ifndef DP_LIMITS_H
#define DP_LIMITS_H

#include "fs_common.h"
#include "fs_proto.h"

/* ---- datagrams ---- */
/* 2,056: the largest FSP datagram */
#define DP_DGRAM_MAX_BYTES (FSP_HDR_LEN + FSP_MSG_LEN * FS_MSGS_MAX)
/* kernel receive buffer: > DP_DGRAM_MAX_BYTES, so oversize shows as too long */
#define DP_RX_BUF_BYTES 4096

/* ---- engine: per worker and loop ---- */
#define DP_TX_DGRAMS_MAX 256            /* response datagrams staged before a front-end flush */
#define DP_STAGE_MSGS_MAX 64            /* hand-offs staged per (owner, ring kind) */
#define DP_DRAIN_MSGS_MAX 256           /* hand-off ring entries dequeued per ring burst */
/* hand-off entries decided per loop, all rings together */
#define DP_DRAIN_LOOP_MSGS_MAX (4 * DP_DRAIN_MSGS_MAX)
#define DP_PREFETCH_AHEAD_MSGS 4        /* ring entries prefetched ahead of their decision */
#define DP_BUSY_RETRY_MS 10             /* retry_after_ms of a BUSY for a full hand-off ring */
#define DP_HELD_ANSWERS_MAX 16384       /* OK answers waiting for their group commit */
#define DP_HELD_BUSY_RETRY_MS 5         /* retry_after_ms when the held queue is full */
#define DP_RATELIMIT_BUCKETS 65536      /* rate-limit buckets per worker and kind */

/* ---- engine: the return path (answers back to the receiving worker) ---- */
/* request datagrams per worker waiting for answers from owners or the log */
#define DP_PENDING_DGRAMS_MAX 1024
#define DP_PENDING_BUSY_RETRY_MS 10     /* retry_after_ms: pending table full */
#define DP_RETURN_STAGE_MSGS_MAX 32     /* answers staged per (owner, producer) */
#define DP_RETURN_DRAIN_MSGS_MAX 256    /* return-ring entries taken per ring burst */

/* ---- engine: timers and idling ---- */
#define DP_TIMER_NS (10 * FS_NS_PER_MS) /* reservation expiry and idempotency trim period */
#define DP_EXPIRE_ORDERS_PER_TICK 4096  /* reservations expired per timer tick */
#define DP_IDEM_TRIM_PER_TICK 4096      /* idempotency entries trimmed per timer tick */
#define DP_SLEEP_HELD_NOWAKE_US 50      /* longest sleep with held answers and no log eventfd */

/* ---- kernel front end ---- */
#define DP_KERNEL_IDLE_LOOPS 64         /* empty loops before an idle worker blocks in ppoll */
#define DP_SOCKET_BUF_BYTES (4 << 20)   /* SO_RCVBUF / SO_SNDBUF asked for (capped by rmem_max) */

/* ---- DPDK front end ---- */
#define DP_PORTS_MAX 4                  /* data ports used; later ones are ignored (warned) */
#define DP_RX_DESCS 1024                /* RX descriptors per queue (adjusted by the PMD) */
#define DP_TX_DESCS 1024                /* TX descriptors per queue */
#define DP_TAP_DESCS 256                /* descriptors per TAP queue */
#define DP_RX_BURST 64                  /* frames per rte_eth_rx_burst on a data port (issue 12:
					 * the per-call costs of the PMD and the loop spread over
					 * twice testpmd's default 32) */
#define DP_TXBUF_FRAMES 128             /* frames staged per (worker, port) before a tx burst */
#define DP_TX_BURST_TRIES 4             /* rte_eth_tx_burst attempts before counting a drop */
#define DP_MBUF_CACHE_MBUFS 256         /* per-lcore mempool cache */
#define DP_MBUF_ROOM_BYTES 2304         /* mbuf room after the headroom: largest answer */
#define DP_LINK_WAIT_MS 5000            /* link-up wait at start */
#define DP_LINK_WATCH_MS 500            /* link-state poll period of the control plane */
#define DP_EXC_RATE_PPS 20000           /* exception frames per worker and direction */
#define DP_EXC_BURST_FRAMES 2048        /* exception token-bucket depth */
#define DP_SPIN_LOOPS 512               /* empty loops that only rte_pause() */
#define DP_SLEEP_MIN_US 10              /* first idle sleep of a DPDK worker */
#define DP_SLEEP_MAX_US 1000            /* longest idle sleep of a DPDK worker */
#define DP_TAP_IFNAME "fsx"             /* exception TAP name prefix (+ port index) */
#define DP_TAP_PREFIX_BITS 24           /* netmask of the TAP's address */
#define DP_DPDK_HTTP_POLL_US 50         /* longest gap between HTTP epoll polls of a busy worker */
#define DP_DPDK_HTTP_FLUSH_WAIT_US 2000 /* at stop: closed sockets' last frames reach the TAP */
#define DP_DPDK_HTTP_LINGER_MS 1000     /* at stop: longest wait for HTTP answers to be acked */

_Static_assert(DP_RX_BUF_BYTES > DP_DGRAM_MAX_BYTES, "oversize datagrams must be detectable");
_Static_assert(DP_DRAIN_MSGS_MAX <= DP_DRAIN_LOOP_MSGS_MAX, "a ring burst fits the loop budget");
_Static_assert(DP_MBUF_ROOM_BYTES >= 42 + DP_DGRAM_MAX_BYTES, "an mbuf holds the largest answer");
_Static_assert(DP_PENDING_DGRAMS_MAX <= 0xffff, "a pending slot fits the low 16 bits of a tag");
_Static_assert(DP_SLEEP_MIN_US <= DP_SLEEP_MAX_US, "idle back-off bounds");

/* Per-worker BUY-attempt counters by item (/metrics item_attempts_total):
 * an open-addressing table of at least 2 x the configured items (and at
 * least DP_ATTEMPTS_SLOTS_MIN) slots, probed at most DP_ATTEMPTS_PROBES
 * slots; an item that finds no slot is counted in attempts_overflow. */
#define DP_ATTEMPTS_SLOTS_MIN 64u
#define DP_ATTEMPTS_PROBES 16u

/* Cycle accounting: one received datagram in this many has its decode,
 * gate, hand-off, owner and reply phases timed (docs/architecture.md). */
#define DP_CYCLE_SAMPLE_DGRAMS 32u

#endif
