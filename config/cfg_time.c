/*
 * cfg_time.c — the time forms of [activity.N] start and end, to unix ns.
 *
 * Forms (CONFIG.md; docs/configuration.md):
 *   YYYY-MM-DDTHH:MM:SS followed by Z or +hh:mm / -hh:mm   (T may be t or a
 *       blank; no fractional seconds; the proleptic Gregorian calendar,
 *       days checked against the month, no leap seconds)
 *   unix seconds            decimal digits only
 *   now, now+N, now-N       N decimal with an optional unit s, m, h or d
 *                           (seconds by default); blanks allowed around the
 *                           sign and before the unit
 * The result must lie in [1970-01-01T00:00:00Z, 2262-04-11T23:47:16Z], what
 * an int64 count of ns holds.
 *
 * Invariants: pure functions of their arguments (no locale, no time zone
 * database, no allocation, no global state), so the same text and "now"
 * always give the same answer; *out_ns is written only on success, and
 * every failure sets *why to a constant sentence; arithmetic cannot
 * overflow (digit counts are fixed, N is bounded by CFG_TIME_REL_MAX_N and
 * the products are checked). The parser
 * is fuzzed on its own by tests/fuzz/fuzz_cfg_time.c, which also checks
 * cfg_time_format_utc against it.
 */
#include "cfg_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define ISO_YEAR_DIGITS 4
#define ISO_FIELD_DIGITS 2
#define MONTHS_PER_YEAR 12
#define HOUR_MAX 23
#define MINUTE_MAX 59
#define SECOND_MAX 59
#define DAYS_PER_400_YEARS 146097
#define DAYS_0000_03_01_TO_1970 719468 /* civil day numbering of H. Hinnant */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * DAYS_PER_400_YEARS + (int64_t)doe - DAYS_0000_03_01_TO_1970;
}

static unsigned days_in_month(int y, int m)
{
	static const unsigned days[MONTHS_PER_YEAR] = { 31, 28, 31, 30, 31, 30,
							31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return days[m - 1] + (m == 2 && leap);
}

/* Exactly n digits at *p; advances *p. */
static bool take_num(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		char ch = (*p)[i];

		if (ch < '0' || ch > '9')
			return false;
		v = v * 10 + (ch - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool take_char(const char **p, const char *set)
{
	if (**p == '\0' || !strchr(set, **p))
		return false;
	(*p)++;
	return true;
}

/* The zone after the seconds: Z or +hh:mm / -hh:mm, in seconds east of UTC. */
static int parse_zone(const char *p, int64_t *east_s, const char **why)
{
	int sign, oh, om;

	if (*p == '.') {
		*why = "fractional seconds are not supported";
		return -EINVAL;
	}
	if (take_char(&p, "Zz")) {
		*east_s = 0;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		if (!take_num(&p, ISO_FIELD_DIGITS, &oh) || !take_char(&p, ":") ||
		    !take_num(&p, ISO_FIELD_DIGITS, &om)) {
			*why = "the zone offset must be +hh:mm or -hh:mm";
			return -EINVAL;
		}
		if (oh > HOUR_MAX || om > MINUTE_MAX) {
			*why = "zone offset out of range";
			return -EINVAL;
		}
		*east_s = sign * (oh * CFG_S_PER_HOUR + om * CFG_S_PER_MIN);
	} else {
		*why = "the time needs a zone: Z or +hh:mm/-hh:mm after the seconds";
		return -EINVAL;
	}
	if (*p) {
		*why = "unexpected text after the zone";
		return -EINVAL;
	}
	return 0;
}

/* YYYY-MM-DD(T| )HH:MM:SS(Z|±hh:mm) to unix seconds. */
static int parse_iso(const char *s, int64_t *out_s, const char **why)
{
	const char *p = s;
	int y, mo, d, h, mi, se;
	int64_t east_s;

	if (!take_num(&p, ISO_YEAR_DIGITS, &y) || !take_char(&p, "-") ||
	    !take_num(&p, ISO_FIELD_DIGITS, &mo) || !take_char(&p, "-") ||
	    !take_num(&p, ISO_FIELD_DIGITS, &d) || !take_char(&p, "Tt ") ||
	    !take_num(&p, ISO_FIELD_DIGITS, &h) || !take_char(&p, ":") ||
	    !take_num(&p, ISO_FIELD_DIGITS, &mi) || !take_char(&p, ":") ||
	    !take_num(&p, ISO_FIELD_DIGITS, &se)) {
		*why = CFG_TIME_FORMS;
		return -EINVAL;
	}
	if (parse_zone(p, &east_s, why))
		return -EINVAL;
	if (mo < 1 || mo > MONTHS_PER_YEAR) {
		*why = "month out of range";
		return -EINVAL;
	}
	if (d < 1 || (unsigned)d > days_in_month(y, mo)) {
		*why = "day out of range for the month";
		return -EINVAL;
	}
	if (h > HOUR_MAX || mi > MINUTE_MAX || se > SECOND_MAX) {
		*why = "time of day out of range";
		return -EINVAL;
	}
	*out_s = days_from_civil(y, (unsigned)mo, (unsigned)d) * CFG_S_PER_DAY +
		 h * CFG_S_PER_HOUR + mi * CFG_S_PER_MIN + se - east_s;
	return 0;
}

/* The unit letter after N, in seconds (1 when there is none). */
static int64_t unit_of(char ch)
{
	return ch == 's' ? 1 : ch == 'm' ? CFG_S_PER_MIN : ch == 'h' ? CFG_S_PER_HOUR
								     : CFG_S_PER_DAY;
}

/* now, now+N[smhd], now-N[smhd] (blanks allowed around the sign). */
static int parse_relative(const char *s, int64_t now_ns, int64_t *out_ns, const char **why)
{
	const char *p = cfg_lex_skip_ws(s + 3);
	int64_t sign, unit_s = 1, n = 0, off_ns;

	*why = CFG_TIME_FORMS;
	if (*p == '\0') {
		*out_ns = now_ns;
		return 0;
	}
	if (*p != '+' && *p != '-')
		return -EINVAL;
	sign = *p++ == '-' ? -1 : 1;
	p = cfg_lex_skip_ws(p);
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (*p - '0');
		if (n > CFG_TIME_REL_MAX_N) {
			*why = "relative time too far away";
			return -EINVAL;
		}
	}
	p = cfg_lex_skip_ws(p);
	if (*p && strchr("smhd", *p))
		unit_s = unit_of(*p++);
	if (*p)
		return -EINVAL;
	if (__builtin_mul_overflow(n, unit_s * FS_NS_PER_S, &off_ns) ||
	    __builtin_add_overflow(now_ns, sign * off_ns, out_ns)) {
		*why = "relative time too far away";
		return -EINVAL;
	}
	return 0;
}

int cfg_time_parse(const char *s, int64_t now_ns, int64_t *out_ns, const char **why)
{
	uint64_t u;
	int64_t sec;
	int rc;

	if (strncmp(s, "now", 3) == 0) {
		int64_t ns;

		if (parse_relative(s, now_ns, &ns, why))
			return -EINVAL;
		if (ns < 0) {
			*why = "the time is before 1970";
			return -EINVAL;
		}
		*out_ns = ns;
		return 0;
	}
	rc = cfg_lex_u64(s, &u);
	if (rc != -EINVAL) {
		if (rc == -ERANGE || u > (uint64_t)CFG_TIME_MAX_S) {
			*why = "unix seconds out of range";
			return -EINVAL;
		}
		*out_ns = (int64_t)u * FS_NS_PER_S;
		return 0;
	}
	if (parse_iso(s, &sec, why))
		return -EINVAL;
	if (sec < 0 || sec > CFG_TIME_MAX_S) {
		*why = sec < 0 ? "the time is before 1970" : "the time is after 2262";
		return -EINVAL;
	}
	*out_ns = sec * FS_NS_PER_S;
	return 0;
}

void cfg_time_format_utc(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / FS_NS_PER_S);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "@%" PRId64 "s", (int64_t)(ns / FS_NS_PER_S));
}
