/*
 * fs_common.h — limits, assertions, error strings and clocks shared by every
 * flashsale module.
 *
 * Every bound the appliance has lives here or comes from the config (which
 * checks it against these). Units are last in names (_ns, _ms, _s).
 *
 * Error convention (CONVENTIONS.md): functions return 0 on success and
 * -errno on failure; burst functions return a count; fs_strerror() names an
 * error. Programmer errors (a broken invariant) abort through FS_ASSERT, which
 * is always on; expensive O(n) checks go under FS_DEBUG_EXPENSIVE.
 */
#ifndef FS_COMMON_H
#define FS_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define FS_WORKERS_MAX 64        /* worker lcores = shards; order ids keep 8 shard bits */
#define FS_ACTIVITIES_MAX 256    /* activities in one config */
#define FS_ITEMS_MAX 65536       /* items in one config */
#define FS_BURST_MAX 32          /* datagrams per rx/tx burst */
#define FS_MSGS_MAX 32           /* FSP messages per datagram (PROTOCOL.md) */
#define FS_RING_SIZE_DEFAULT 4096 /* hand-off ring entries per (producer, owner) pair */
#define FS_ORDER_SHARD_BITS 8    /* order_id = (seq << 8) | shard */

#define FS_NAME_MAX 64           /* activity names, truncated beyond */
#define FS_PATH_MAX 1024
#define FS_EAL_ARGS_MAX 1024

_Static_assert(FS_WORKERS_MAX <= (1u << FS_ORDER_SHARD_BITS), "shard id must fit in order id");

#define FS_NS_PER_S 1000000000LL
#define FS_NS_PER_MS 1000000LL

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

/* Always-on assertion: a failure is a bug, never bad input. */
#define FS_ASSERT(cond)                                                              \
	do {                                                                         \
		if (unlikely(!(cond)))                                               \
			fs_assert_fail(#cond, __FILE__, __LINE__, __func__);        \
	} while (0)

#ifdef FS_DEBUG_EXPENSIVE
#define FS_ASSERT_EXPENSIVE(cond) FS_ASSERT(cond)
#else
#define FS_ASSERT_EXPENSIVE(cond) ((void)0)
#endif

/* Prints "file:line: func: assertion `expr' failed" to stderr and aborts. */
_Noreturn void fs_assert_fail(const char *expr, const char *file, int line, const char *func);

/* Human text for a negative errno (or 0); never NULL. */
const char *fs_strerror(int err);

/* printf into a caller's error buffer (err may be NULL or errlen 0: then
 * nothing is written). The one-line error texts of every module go here. */
void fs_errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Wall clock (CLOCK_REALTIME) in unix nanoseconds: sale windows, deadlines,
 * server_time. */
int64_t fs_now_ns(void);

/* Monotonic clock in nanoseconds: timers, latency. */
int64_t fs_mono_ns(void);

/* Steady clock in unix nanoseconds: CLOCK_MONOTONIC plus the offset
 * (wall - monotonic) sampled once, when the process starts. It reads
 * like the wall clock as of that moment and then never steps: a change of
 * the wall clock (an operator, NTP stepping) does not move it. Reservation
 * deadlines, idempotency retention and everything persisted with them run
 * on it; sale windows and server_time stay on fs_now_ns. Thread-safe. */
int64_t fs_steady_ns(void);

/* Log to stderr with a UTC timestamp and a level word ("info", "warn",
 * "error"). Control plane only: never on the data path. */
void fs_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Latency histograms (Prometheus, /metrics): FS_LAT_BUCKETS fixed
 * log-spaced upper bounds, 1 us * 4^k (1 us .. ~4.2 s), plus +Inf at index
 * FS_LAT_BUCKETS. Counts are per bucket (not cumulative); the renderer sums
 * them into the cumulative _bucket{le} series. */
#define FS_LAT_BUCKETS 12
static inline uint64_t fs_lat_bound_ns(unsigned k)
{
	return 1000ull << (2 * k);
}
/* Index of the bucket ns falls in: 0..FS_LAT_BUCKETS (the last is +Inf). */
static inline unsigned fs_lat_bucket(uint64_t ns)
{
	unsigned k = 0;

	while (k < FS_LAT_BUCKETS && ns > fs_lat_bound_ns(k))
		k++;
	return k;
}

#endif
