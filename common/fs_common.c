/*
 * fs_common.c — assertion failure, error strings, clocks and the control
 * plane's logger. Nothing here is on the data path except the clocks.
 *
 * Three clocks: the wall clock (fs_now_ns: sale windows, server_time), the
 * monotonic clock (fs_mono_ns: timers, rate limits, latency) and the steady
 * clock (fs_steady_ns: monotonic, anchored to the wall clock once per
 * process, for reservation deadlines and idempotency retention).
 */
#include "fs_common.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

_Noreturn void fs_assert_fail(const char *expr, const char *file, int line, const char *func)
{
	fprintf(stderr, "%s:%d: %s: assertion `%s' failed\n", file, line, func, expr);
	fflush(stderr);
	abort();
}

const char *fs_strerror(int err)
{
	if (err == 0)
		return "success";
	if (err < 0)
		err = -err;
	/* strerror() is fine here: control plane only, and glibc's table is static. */
	return strerror(err);
}

void fs_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int64_t fs_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * FS_NS_PER_S + ts.tv_nsec;
}

int64_t fs_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * FS_NS_PER_S + ts.tv_nsec;
}

/* (wall - mono) at the first fs_steady_ns; INT64_MIN until then. Threads
 * racing on the first call each sample, and the first CAS wins for all.
 * steady_at_start makes that first call when the program is loaded, so the
 * anchor is the wall clock at process start, not at the first purchase. */
static _Atomic int64_t g_steady_offset = INT64_MIN;

int64_t fs_steady_ns(void);

__attribute__((constructor)) static void steady_at_start(void)
{
	(void)fs_steady_ns();
}

int64_t fs_steady_ns(void)
{
	int64_t off = atomic_load_explicit(&g_steady_offset, memory_order_relaxed);

	if (unlikely(off == INT64_MIN)) {
		int64_t want = fs_now_ns() - fs_mono_ns(), expected = INT64_MIN;

		if (atomic_compare_exchange_strong(&g_steady_offset, &expected, want))
			off = want;
		else
			off = expected;
	}
	return fs_mono_ns() + off;
}

void fs_log(const char *level, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, ts.tv_nsec / 1000000, level);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	/* One write per line so lines from several threads do not interleave. */
	fprintf(stderr, "%s\n", line);
}
