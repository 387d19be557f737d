/*
 * cfg.c — the INI loader behind cfg.h (contract: CONFIG.md; every key with
 * its default and range: docs/configuration.md).
 *
 * Syntax
 *   The file is read whole (at most CFG_FILE_MAX bytes) and cut into lines of
 *   at most CFG_LINE_MAX bytes ("\r\n" is accepted). A line is blank, a
 *   comment (first non-blank character ';' or '#'), a section header
 *   "[name]" or "key = value". A value ends at an inline comment: a ';' that
 *   starts the value or follows a blank. Whitespace around section names,
 *   keys and values is trimmed. A '#' inside a value is kept, so
 *   "name = Lot #7" means what it says. Sections: [appliance], [net],
 *   [persist], [limits], [admin] (each at most once) and any number of
 *   [activity.N] and [item.N], N decimal 1..4294967295 without leading zeros.
 *
 * The schema table
 *   Keys are not matched by a chain of strcmp: cfg_schema[] has one row per
 *   key (section, name, setter, where the value goes, bounds, default text,
 *   flags), in the manner of nginx's ngx_command_t with
 *   ngx_conf_num_bounds_t. A setter parses and checks one value and stores it
 *   at base + off, where base is the struct cfg for the five singleton
 *   sections, or the struct cfg_activity / struct cfg_item being filled.
 *   Defaults are text run through the same setters when a section opens, so
 *   a default can never bypass validation. Keys whose default depends on
 *   another key (max_idempotency, the bursts, an activity's name) are derived
 *   in code, noted in their rows.
 *
 * Where errors point
 *   Every section instance has a struct sec_meta: the line of its header and
 *   of every key seen in it (0 = absent), indexed by the key's slot (its
 *   position among its section's rows). That one record answers "duplicate
 *   key?", "required key missing?" and "which line do we blame?" for the
 *   whole-file checks that run after parsing, in this order: per activity
 *   (required keys, token_key when tokens are required, end after start),
 *   per item (required keys, max_per_order <= per_user_limit, the activity
 *   exists anywhere in the file), then [limits] (bursts, the preallocated
 *   capacities against the stock). The ids of [activity.N] and [item.N] go
 *   into a small open-addressing hash (id -> index) that lives only while
 *   loading, so a duplicate among 65536 items is found at its own line in
 *   one pass and items find their activity in O(1).
 *
 * Invariants
 *   The first error stops the load; its message is one line
 *   "FILE:LINE: [section] key: what is wrong" (control characters that came
 *   from the file are replaced so it stays one line; key material is never
 *   echoed). On any error every allocation is released and *out is zeroed.
 *   On success activities and items are in file order, every
 *   item.activity_index is valid, and nothing changes the struct again.
 */
#include "cfg.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs_token.h"

#define CFG_LINE_MAX 4096          /* bytes in one line, without its newline */
#define CFG_FILE_MAX (64u << 20)   /* far above 65536 items; refuses /dev/zero */
#define CFG_SEC_KEYS_MAX 16        /* keys in one section (asserted) */
#define CFG_SECNAME_MAX 80         /* section name as quoted in messages */
#define CFG_ITEMS_SHOWN 20         /* cfg_log_summary lists this many items */
#define CFG_TIME_FORMS "expected YYYY-MM-DDTHH:MM:SS followed by Z or +hh:mm/-hh:mm, " \
		       "unix seconds, or now, now+N, now-N (N with unit s, m, h or d)"

#define ROW_REQUIRED 1u            /* the section is incomplete without it */
#define ROW_TRUNCATE 2u            /* too long a string is cut, not refused */
#define NO_AUX SIZE_MAX

#define STR_(x) #x
#define STR(x) STR_(x)

_Static_assert(FS_ACTIVITIES_MAX <= UINT16_MAX + 1, "activity_index is a uint16_t");
_Static_assert(sizeof(enum cfg_mode) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum cfg_durability) == sizeof(int), "enums are stored as int");

enum cfg_sec {
	SEC_APPLIANCE,
	SEC_NET,
	SEC_PERSIST,
	SEC_LIMITS,
	SEC_ADMIN,
	SEC_ACTIVITY,
	SEC_ITEM,
	SEC_N,
	SEC_NONE = SEC_N, /* before the first header */
};
#define SEC_N_SINGLE SEC_ACTIVITY /* sections below this appear at most once */

static const char *const sec_names[SEC_N] = {
	"appliance", "net", "persist", "limits", "admin", "activity", "item",
};

/* Lines of one section instance: its header and each key seen (0 = absent). */
struct sec_meta {
	unsigned line;
	unsigned key_line[CFG_SEC_KEYS_MAX];
};

/* id -> index of an [activity.N] or [item.N]; slots hold (id << 32) |
 * (index + 1), 0 is empty; cap is a power of two, at most half full. */
struct id_map {
	uint64_t *slot;
	size_t cap, n;
};

struct loader {
	const char *name;          /* file name used in messages */
	int64_t now_ns;            /* "now" in relative times */
	struct cfg *c;
	char *err;
	size_t errlen;
	bool failed;               /* the first error wins */
	unsigned line;             /* current line, 1-based */
	enum cfg_sec kind;         /* current section */
	char sec_name[CFG_SECNAME_MAX];
	void *base;                /* where the current section's values go */
	struct sec_meta *meta;     /* the current section's lines */
	struct sec_meta single[SEC_N_SINGLE];
	struct sec_meta *act_meta, *item_meta; /* parallel to c->activities, c->items */
	unsigned act_cap, item_cap;
	struct id_map act_ids, item_ids;
};

struct cfg_row {
	enum cfg_sec sec;
	const char *key;
	int (*set)(struct loader *L, const struct cfg_row *r, void *base, const char *val);
	size_t off;                /* the field in base */
	size_t size;               /* its size in bytes */
	uint64_t min, max;         /* numbers: bounds; strings: min is the shortest length */
	const char *def;           /* default, run through set; NULL: required or derived */
	unsigned flags;            /* ROW_* */
	const char *const *names;  /* enum: the accepted words, index = value */
	size_t aux;                /* hex: bool set when given; ipv4: the struct in_addr */
};

/* ---- errors ---- */

static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

static int vfail(struct loader *L, unsigned line, const char *sec, const char *key,
		 const char *fmt, va_list ap)
{
	int n;

	if (L->failed || !L->err || L->errlen == 0) {
		L->failed = true;
		return -EINVAL;
	}
	L->failed = true;
	if (sec && key)
		n = snprintf(L->err, L->errlen, "%s:%u: [%s] %s: ", L->name, line, sec, key);
	else if (sec)
		n = snprintf(L->err, L->errlen, "%s:%u: [%s]: ", L->name, line, sec);
	else if (key)
		n = snprintf(L->err, L->errlen, "%s:%u: %s: ", L->name, line, key);
	else
		n = snprintf(L->err, L->errlen, "%s:%u: ", L->name, line);
	if (n >= 0 && (size_t)n < L->errlen)
		vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
	one_line(L->err);
	return -EINVAL;
}

/* Records "NAME:line: [sec] key: ..." (sec and key may be NULL); -EINVAL. */
__attribute__((format(printf, 5, 6))) static int fail(struct loader *L, unsigned line,
						       const char *sec, const char *key,
						       const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(L, line, sec, key, fmt, ap);
	va_end(ap);
	return rc;
}

/* A bad value for row r on the current line; -EINVAL. */
__attribute__((format(printf, 3, 4))) static int bad(struct loader *L, const struct cfg_row *r,
						     const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(L, L->line, L->sec_name, r->key, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- small text helpers ---- */

static char *skip_ws(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return (char *)s;
}

static void rtrim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
}

static char *trim(char *s)
{
	s = skip_ws(s);
	rtrim(s);
	return s;
}

/* Copies src into dst (size bytes), cut short if need be. */
static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* Length of the longest prefix of s of at most max bytes that does not end
 * inside a UTF-8 sequence (s is at least max + 1 bytes long). */
static size_t utf8_cut(const char *s, size_t max)
{
	size_t n = max;

	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	return n;
}

/* Decimal digits only (no sign, no blanks): 0, -EINVAL or -ERANGE. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;
	bool over = false;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (*s < '0' || *s > '9')
			return -EINVAL;
		if (v > (UINT64_MAX - d) / 10)
			over = true;
		else
			v = v * 10 + d;
	}
	*out = v;
	return over ? -ERANGE : 0;
}

/* ---- times ---- */

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
	return era * 146097 + (int64_t)doe - 719468;
}

static unsigned days_in_month(int y, int m)
{
	static const unsigned days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
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
		if (!take_num(&p, 2, &oh) || !take_char(&p, ":") || !take_num(&p, 2, &om)) {
			*why = "the zone offset must be +hh:mm or -hh:mm";
			return -EINVAL;
		}
		if (oh > 23 || om > 59) {
			*why = "zone offset out of range";
			return -EINVAL;
		}
		*east_s = sign * (oh * 3600 + om * 60);
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

	if (!take_num(&p, 4, &y) || !take_char(&p, "-") || !take_num(&p, 2, &mo) ||
	    !take_char(&p, "-") || !take_num(&p, 2, &d) || !take_char(&p, "Tt ") ||
	    !take_num(&p, 2, &h) || !take_char(&p, ":") || !take_num(&p, 2, &mi) ||
	    !take_char(&p, ":") || !take_num(&p, 2, &se)) {
		*why = CFG_TIME_FORMS;
		return -EINVAL;
	}
	if (parse_zone(p, &east_s, why))
		return -EINVAL;
	if (mo < 1 || mo > 12) {
		*why = "month out of range";
		return -EINVAL;
	}
	if (d < 1 || (unsigned)d > days_in_month(y, mo)) {
		*why = "day out of range for the month";
		return -EINVAL;
	}
	if (h > 23 || mi > 59 || se > 59) {
		*why = "time of day out of range";
		return -EINVAL;
	}
	*out_s = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + se -
		 east_s;
	return 0;
}

/* now, now+N[smhd], now-N[smhd] (blanks allowed around the sign). */
static int parse_relative(const char *s, int64_t now_ns, int64_t *out_ns, const char **why)
{
	const char *p = skip_ws(s + 3);
	int64_t sign, unit_s = 1, n = 0, off_ns;

	*why = CFG_TIME_FORMS;
	if (*p == '\0') {
		*out_ns = now_ns;
		return 0;
	}
	if (*p != '+' && *p != '-')
		return -EINVAL;
	sign = *p++ == '-' ? -1 : 1;
	p = skip_ws(p);
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		n = n * 10 + (*p - '0');
		if (n > 1000000000000LL) {
			*why = "relative time too far away";
			return -EINVAL;
		}
	}
	p = skip_ws(p);
	if (*p && strchr("smhd", *p)) {
		unit_s = *p == 's' ? 1 : *p == 'm' ? 60 : *p == 'h' ? 3600 : 86400;
		p++;
	}
	if (*p)
		return -EINVAL;
	if (__builtin_mul_overflow(n, unit_s * FS_NS_PER_S, &off_ns) ||
	    __builtin_add_overflow(now_ns, sign * off_ns, out_ns)) {
		*why = "relative time too far away";
		return -EINVAL;
	}
	return 0;
}

/* Any of the time forms to unix ns, not before 1970; *why says what is wrong. */
static int parse_time(const char *s, int64_t now_ns, int64_t *out_ns, const char **why)
{
	const int64_t max_s = INT64_MAX / FS_NS_PER_S;
	uint64_t u;
	int64_t sec;
	int rc;

	if (strncmp(s, "now", 3) == 0) {
		if (parse_relative(s, now_ns, out_ns, why))
			return -EINVAL;
		if (*out_ns < 0) {
			*why = "the time is before 1970";
			return -EINVAL;
		}
		return 0;
	}
	rc = parse_u64(s, &u);
	if (rc != -EINVAL) {
		if (rc == -ERANGE || u > (uint64_t)max_s) {
			*why = "unix seconds out of range";
			return -EINVAL;
		}
		*out_ns = (int64_t)u * FS_NS_PER_S;
		return 0;
	}
	if (parse_iso(s, &sec, why))
		return -EINVAL;
	if (sec < 0 || sec > max_s) {
		*why = sec < 0 ? "the time is before 1970" : "the time is after 2262";
		return -EINVAL;
	}
	*out_ns = sec * FS_NS_PER_S;
	return 0;
}

/* ---- setters: parse one value for row r, store it at base + r->off ---- */

static void *field(void *base, size_t off)
{
	return (char *)base + off;
}

static void store_uint(void *dst, size_t size, uint64_t v)
{
	FS_ASSERT(size == 8 || v >> (size * 8) == 0);
	if (size == 1) {
		uint8_t x = (uint8_t)v;
		memcpy(dst, &x, 1);
	} else if (size == 2) {
		uint16_t x = (uint16_t)v;
		memcpy(dst, &x, 2);
	} else if (size == 4) {
		uint32_t x = (uint32_t)v;
		memcpy(dst, &x, 4);
	} else {
		FS_ASSERT(size == 8);
		memcpy(dst, &v, 8);
	}
}

static int get_uint(struct loader *L, const struct cfg_row *r, const char *val, uint64_t *v)
{
	int rc = parse_u64(val, v);

	if (rc == -EINVAL)
		return bad(L, r, "not a whole number: '%.64s'", val);
	if (rc == -ERANGE || *v < r->min || *v > r->max)
		return bad(L, r, "%.64s is out of range %" PRIu64 "..%" PRIu64, val, r->min, r->max);
	return 0;
}

static int set_uint(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	uint64_t v;
	int rc = get_uint(L, r, val, &v);

	if (rc)
		return rc;
	store_uint(field(base, r->off), r->size, v);
	return 0;
}

static int set_pow2(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	uint64_t v;
	int rc = get_uint(L, r, val, &v);

	if (rc)
		return rc;
	if (v & (v - 1))
		return bad(L, r, "%" PRIu64 " is not a power of two", v);
	store_uint(field(base, r->off), r->size, v);
	return 0;
}

static int set_str(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	char *dst = field(base, r->off);
	size_t n = strlen(val);

	if (n < r->min)
		return bad(L, r, "must not be empty");
	if (n >= r->size) {
		if (!(r->flags & ROW_TRUNCATE))
			return bad(L, r, "longer than %zu bytes", r->size - 1);
		n = utf8_cut(val, r->size - 1);
	}
	memcpy(dst, val, n);
	dst[n] = '\0';
	return 0;
}

static int set_enum(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	char known[128] = "";
	size_t used = 0;

	for (int i = 0; r->names[i]; i++) {
		if (strcasecmp(val, r->names[i]) == 0) {
			memcpy(field(base, r->off), &i, sizeof i);
			return 0;
		}
		used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
					 i ? " | " : "", r->names[i]);
		FS_ASSERT(used < sizeof known);
	}
	return bad(L, r, "must be one of %s, not '%.64s'", known, val);
}

static int set_bool(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	bool v;

	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		if (strcasecmp(val, yes[i]) == 0 || strcasecmp(val, no[i]) == 0) {
			v = strcasecmp(val, yes[i]) == 0;
			memcpy(field(base, r->off), &v, sizeof v);
			return 0;
		}
	}
	return bad(L, r, "must be yes or no (also true/false, on/off, 1/0), not '%.64s'", val);
}

/* Key material: never echoed into a message. */
static int set_hex(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	size_t n = strlen(val);
	bool given = true;

	if (n != r->size * 2)
		return bad(L, r, "must be exactly %zu hex digits, not %zu characters", r->size * 2,
			   n);
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)val[i]))
			return bad(L, r, "character %zu is not a hex digit", i + 1);
	if (fs_hex_parse(val, field(base, r->off), r->size) != 0)
		return bad(L, r, "not a valid hex string");
	if (r->aux != NO_AUX)
		memcpy(field(base, r->aux), &given, sizeof given);
	return 0;
}

static int set_ipv4(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	struct in_addr a;

	FS_ASSERT(r->size >= INET_ADDRSTRLEN);
	if (inet_pton(AF_INET, val, &a) != 1)
		return bad(L, r, "not an IPv4 address (a.b.c.d): '%.64s'", val);
	memcpy(field(base, r->aux), &a, sizeof a);
	if (!inet_ntop(AF_INET, &a, field(base, r->off), (socklen_t)r->size))
		return bad(L, r, "cannot format '%.64s'", val);
	return 0;
}

static int set_time(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	const char *why = CFG_TIME_FORMS;
	int64_t ns;

	if (parse_time(val, L->now_ns, &ns, &why))
		return bad(L, r, "bad time '%.64s': %s", val, why);
	memcpy(field(base, r->off), &ns, sizeof ns);
	return 0;
}

/* ---- the schema ---- */

static const char *const mode_names[] = { "kernel", "dpdk", NULL };
static const char *const durability_names[] = { "sync", "batch", "none", NULL };

#define FSIZE(st, f) sizeof(((st *)0)->f)
#define ROW(sec, key, set, st, f, lo, hi, def, flags, names, aux) \
	{ sec, key, set, offsetof(st, f), FSIZE(st, f), lo, hi, def, flags, names, aux }
#define UINT(sec, key, st, f, lo, hi, def) ROW(sec, key, set_uint, st, f, lo, hi, def, 0, NULL, NO_AUX)
#define G(key, f, lo, hi, def, sec) UINT(sec, key, struct cfg, f, lo, hi, def)

static const struct cfg_row cfg_schema[] = {
	ROW(SEC_APPLIANCE, "mode", set_enum, struct cfg, mode, 0, 0, "kernel", 0, mode_names,
	    NO_AUX),
	G("workers", workers, 1, FS_WORKERS_MAX, "2", SEC_APPLIANCE),
	ROW(SEC_APPLIANCE, "eal", set_str, struct cfg, eal, 0, 0, "", 0, NULL, NO_AUX),
	G("idle_sleep_us", idle_sleep_us, 0, 1000000, "100000", SEC_APPLIANCE),

	ROW(SEC_NET, "address", set_ipv4, struct cfg, address_str, 0, 0, "127.0.0.1", 0, NULL,
	    offsetof(struct cfg, address)),
	G("udp_port", udp_port, 1, 65535, "7700", SEC_NET),
	G("http_port", http_port, 0, 65535, "8080", SEC_NET),
	ROW(SEC_NET, "ring_size", set_pow2, struct cfg, ring_size, 64, 1048576,
	    STR(FS_RING_SIZE_DEFAULT), 0, NULL, NO_AUX),

	ROW(SEC_PERSIST, "dir", set_str, struct cfg, persist_dir, 1, 0, "var/flashsale", 0, NULL,
	    NO_AUX),
	ROW(SEC_PERSIST, "durability", set_enum, struct cfg, durability, 0, 0, "sync", 0,
	    durability_names, NO_AUX),
	G("snapshot_interval_s", snapshot_interval_s, 1, 86400, "30", SEC_PERSIST),
	G("sync_interval_ms", sync_interval_ms, 1, 10000, "10", SEC_PERSIST),

	G("max_orders", max_orders, 1, 1000000000, "1000000", SEC_LIMITS),
	/* default 2 * max_orders, derived in check_limits */
	G("max_idempotency", max_idempotency, 1, 4000000000u, NULL, SEC_LIMITS),
	G("idempotency_retention_s", idempotency_retention_s, 600, 604800, "600", SEC_LIMITS),
	/* a burst defaults to its rate, derived in check_limits */
	G("per_ip_rate", per_ip_rate, 0, 100000000, "0", SEC_LIMITS),
	G("per_ip_burst", per_ip_burst, 0, 100000000, NULL, SEC_LIMITS),
	G("per_user_rate", per_user_rate, 0, 100000000, "0", SEC_LIMITS),
	G("per_user_burst", per_user_burst, 0, 100000000, NULL, SEC_LIMITS),

	ROW(SEC_ADMIN, "key", set_hex, struct cfg, admin_key, 0, 0, NULL, 0, NULL,
	    offsetof(struct cfg, admin_enabled)),

	/* name defaults to "activity N", set in open_multi */
	ROW(SEC_ACTIVITY, "name", set_str, struct cfg_activity, name, 1, 0, NULL, ROW_TRUNCATE,
	    NULL, NO_AUX),
	ROW(SEC_ACTIVITY, "start", set_time, struct cfg_activity, start_ns, 0, 0, NULL,
	    ROW_REQUIRED, NULL, NO_AUX),
	ROW(SEC_ACTIVITY, "end", set_time, struct cfg_activity, end_ns, 0, 0, NULL, ROW_REQUIRED,
	    NULL, NO_AUX),
	ROW(SEC_ACTIVITY, "require_token", set_bool, struct cfg_activity, require_token, 0, 0,
	    "no", 0, NULL, NO_AUX),
	/* required when require_token is yes, checked in check_activities */
	ROW(SEC_ACTIVITY, "token_key", set_hex, struct cfg_activity, token_key, 0, 0, NULL, 0,
	    NULL, NO_AUX),
	ROW(SEC_ACTIVITY, "payment_key", set_hex, struct cfg_activity, payment_key, 0, 0, NULL, 0,
	    NULL, offsetof(struct cfg_activity, has_payment_key)),
	UINT(SEC_ACTIVITY, "pay_timeout_s", struct cfg_activity, pay_timeout_s, 1, 86400, "900"),

	ROW(SEC_ITEM, "activity", set_uint, struct cfg_item, activity_id, 1, UINT32_MAX, NULL,
	    ROW_REQUIRED, NULL, NO_AUX),
	ROW(SEC_ITEM, "total", set_uint, struct cfg_item, total, 0, INT32_MAX, NULL,
	    ROW_REQUIRED, NULL, NO_AUX),
	UINT(SEC_ITEM, "price_cents", struct cfg_item, price_cents, 0, INT64_MAX, "0"),
	UINT(SEC_ITEM, "per_user_limit", struct cfg_item, per_user_limit, 1, 1000000, "1"),
	UINT(SEC_ITEM, "max_per_order", struct cfg_item, max_per_order, 1, 65535, "1"),
};

#define CFG_ROWS (sizeof cfg_schema / sizeof cfg_schema[0])

/* The row for key in section k and its slot in struct sec_meta; NULL if none. */
static const struct cfg_row *find_row(enum cfg_sec k, const char *key, unsigned *slot)
{
	unsigned s = 0;

	for (size_t i = 0; i < CFG_ROWS; i++) {
		const struct cfg_row *r = &cfg_schema[i];

		if (r->sec != k)
			continue;
		FS_ASSERT(s < CFG_SEC_KEYS_MAX);
		if (strcmp(r->key, key) == 0) {
			*slot = s;
			return r;
		}
		s++;
	}
	return NULL;
}

/* The line key was given on in the section instance m (0 if absent). */
static unsigned line_of(enum cfg_sec k, const struct sec_meta *m, const char *key)
{
	unsigned slot;
	const struct cfg_row *r = find_row(k, key, &slot);

	FS_ASSERT(r != NULL);
	return m->key_line[slot];
}

static void apply_defaults(struct loader *L, enum cfg_sec k, void *base)
{
	for (size_t i = 0; i < CFG_ROWS; i++) {
		const struct cfg_row *r = &cfg_schema[i];

		if (r->sec == k && r->def) {
			int rc = r->set(L, r, base, r->def);

			FS_ASSERT(rc == 0); /* a default that fails its own row is a bug */
		}
	}
}

/* ---- id -> index map for [activity.N] and [item.N] ---- */

static size_t id_home(uint32_t id, size_t cap)
{
	return (size_t)(id * 2654435761u) & (cap - 1);
}

static long idmap_get(const struct id_map *m, uint32_t id)
{
	if (m->cap == 0)
		return -1;
	for (size_t i = id_home(id, m->cap);; i = (i + 1) & (m->cap - 1)) {
		uint64_t s = m->slot[i];

		if (s == 0)
			return -1;
		if ((uint32_t)(s >> 32) == id)
			return (long)(uint32_t)s - 1;
	}
}

static void idmap_insert(uint64_t *slot, size_t cap, uint64_t v)
{
	size_t i = id_home((uint32_t)(v >> 32), cap);

	while (slot[i] != 0)
		i = (i + 1) & (cap - 1);
	slot[i] = v;
}

/* Adds id -> idx (id not present); 0 or -ENOMEM. */
static int idmap_put(struct id_map *m, uint32_t id, unsigned idx)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 16;
		uint64_t *slot = calloc(cap, sizeof *slot);

		if (!slot)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++)
			if (m->slot[i])
				idmap_insert(slot, cap, m->slot[i]);
		free(m->slot);
		m->slot = slot;
		m->cap = cap;
	}
	idmap_insert(m->slot, m->cap, (uint64_t)id << 32 | (idx + 1u));
	m->n++;
	return 0;
}

/* ---- sections ---- */

static int open_single(struct loader *L, enum cfg_sec k)
{
	struct sec_meta *m = &L->single[k];

	if (m->line)
		return fail(L, L->line, L->sec_name, NULL, "duplicate section (first at line %u)",
			    m->line);
	m->line = L->line;
	L->kind = k;
	L->base = L->c;
	L->meta = m;
	return 0;
}

static int grow_activities(struct loader *L, unsigned cap)
{
	struct cfg_activity *a = realloc(L->c->activities, cap * sizeof *a);
	struct sec_meta *m;

	if (!a)
		return -ENOMEM;
	L->c->activities = a;
	m = realloc(L->act_meta, cap * sizeof *m);
	if (!m)
		return -ENOMEM;
	L->act_meta = m;
	L->act_cap = cap;
	return 0;
}

static int grow_items(struct loader *L, unsigned cap)
{
	struct cfg_item *it = realloc(L->c->items, cap * sizeof *it);
	struct sec_meta *m;

	if (!it)
		return -ENOMEM;
	L->c->items = it;
	m = realloc(L->item_meta, cap * sizeof *m);
	if (!m)
		return -ENOMEM;
	L->item_meta = m;
	L->item_cap = cap;
	return 0;
}

/* Room for one more activity (k == SEC_ACTIVITY) or item with this id. */
static int make_room(struct loader *L, enum cfg_sec k, uint32_t id)
{
	bool act = k == SEC_ACTIVITY;
	unsigned n = act ? L->c->n_activities : L->c->n_items;
	unsigned cap = act ? L->act_cap : L->item_cap;
	unsigned max = act ? FS_ACTIVITIES_MAX : FS_ITEMS_MAX;
	long first = idmap_get(act ? &L->act_ids : &L->item_ids, id);
	int rc = 0;

	if (first >= 0)
		return fail(L, L->line, L->sec_name, NULL, "duplicate section (first at line %u)",
			    (act ? L->act_meta : L->item_meta)[first].line);
	if (n >= max)
		return fail(L, L->line, L->sec_name, NULL, "too many [%s.N] sections (at most %u)",
			    sec_names[k], max);
	if (n == cap)
		rc = act ? grow_activities(L, cap ? cap * 2 : 8) : grow_items(L, cap ? cap * 2 : 8);
	if (rc == 0)
		rc = idmap_put(act ? &L->act_ids : &L->item_ids, id, n);
	if (rc) {
		fail(L, L->line, L->sec_name, NULL, "out of memory");
		return rc;
	}
	return 0;
}

static int open_multi(struct loader *L, enum cfg_sec k, uint32_t id)
{
	struct cfg *c = L->c;
	int rc = make_room(L, k, id);

	if (rc)
		return rc;
	if (k == SEC_ACTIVITY) {
		struct cfg_activity *a = &c->activities[c->n_activities];

		memset(a, 0, sizeof *a);
		a->id = id;
		snprintf(a->name, sizeof a->name, "activity %" PRIu32, id);
		L->base = a;
		L->meta = &L->act_meta[c->n_activities++];
	} else {
		struct cfg_item *it = &c->items[c->n_items];

		memset(it, 0, sizeof *it);
		it->id = id;
		L->base = it;
		L->meta = &L->item_meta[c->n_items++];
	}
	memset(L->meta, 0, sizeof *L->meta);
	L->meta->line = L->line;
	L->kind = k;
	apply_defaults(L, k, L->base);
	return 0;
}

/* The N of [activity.N] / [item.N]: 1..2^32-1, decimal, no leading zero. */
static int parse_id(const char *s, uint32_t *id)
{
	uint64_t v;

	if (s[0] == '0' || parse_u64(s, &v) != 0 || v < 1 || v > UINT32_MAX)
		return -EINVAL;
	*id = (uint32_t)v;
	return 0;
}

static int open_section(struct loader *L, const char *name)
{
	for (int k = 0; k < SEC_N_SINGLE; k++)
		if (strcmp(name, sec_names[k]) == 0)
			return open_single(L, (enum cfg_sec)k);
	for (int k = SEC_ACTIVITY; k <= SEC_ITEM; k++) {
		size_t n = strlen(sec_names[k]);
		uint32_t id;

		if (strncmp(name, sec_names[k], n) != 0 || (name[n] != '.' && name[n] != '\0'))
			continue;
		if (name[n] == '\0' || parse_id(name + n + 1, &id) != 0)
			return fail(L, L->line, L->sec_name, NULL,
				    "bad section id: expected [%s.N] with N a decimal number "
				    "1..4294967295 (no leading zeros)",
				    sec_names[k]);
		return open_multi(L, (enum cfg_sec)k, id);
	}
	return fail(L, L->line, L->sec_name, NULL,
		    "unknown section (known: appliance, net, persist, limits, admin, "
		    "activity.N, item.N)");
}

/* s starts with '['. */
static int parse_header(struct loader *L, char *s)
{
	char *close = strchr(s, ']');
	char *rest, *name;

	if (!close)
		return fail(L, L->line, NULL, NULL, "section header without a closing ']'");
	*close = '\0';
	name = trim(s + 1);
	copy_str(L->sec_name, sizeof L->sec_name, name);
	rest = skip_ws(close + 1);
	if (*rest && *rest != ';' && *rest != '#')
		return fail(L, L->line, L->sec_name, NULL, "unexpected text after ']'");
	return open_section(L, name);
}

/* ---- keys and lines ---- */

static int unknown_key(struct loader *L, const char *key)
{
	char known[256] = "";
	size_t used = 0;

	for (size_t i = 0; i < CFG_ROWS; i++) {
		if (cfg_schema[i].sec != L->kind && strcmp(cfg_schema[i].key, key) == 0)
			return fail(L, L->line, L->sec_name, key, "unknown key here (it belongs in [%s%s])",
				    sec_names[cfg_schema[i].sec],
				    cfg_schema[i].sec >= SEC_N_SINGLE ? ".N" : "");
	}
	for (size_t i = 0; i < CFG_ROWS; i++) {
		if (cfg_schema[i].sec != L->kind)
			continue;
		used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
					 used ? ", " : "", cfg_schema[i].key);
		FS_ASSERT(used < sizeof known);
	}
	return fail(L, L->line, L->sec_name, key, "unknown key (known here: %s)", known);
}

static int handle_key(struct loader *L, const char *key, const char *val)
{
	const struct cfg_row *r;
	unsigned slot;

	if (L->kind == SEC_NONE)
		return fail(L, L->line, NULL, key, "key outside any section (put a [section] header above it)");
	r = find_row(L->kind, key, &slot);
	if (!r)
		return unknown_key(L, key);
	if (L->meta->key_line[slot])
		return fail(L, L->line, L->sec_name, key, "duplicate key (first at line %u)",
			    L->meta->key_line[slot]);
	L->meta->key_line[slot] = L->line;
	if (*val == '\0' && r->set != set_str)
		return bad(L, r, "the value is missing");
	return r->set(L, r, L->base, val);
}

/* Cuts an inline comment: a ';' that starts the value or follows a blank. */
static void strip_comment(char *v)
{
	for (char *p = v; *p; p++) {
		if (*p == ';' && (p == v || p[-1] == ' ' || p[-1] == '\t')) {
			*p = '\0';
			return;
		}
	}
}

static int parse_line(struct loader *L, char *s)
{
	const char *sec = L->kind == SEC_NONE ? NULL : L->sec_name;
	char *eq, *key, *val;

	s = skip_ws(s);
	if (*s == '\0' || *s == ';' || *s == '#')
		return 0;
	if (*s == '[')
		return parse_header(L, s);
	eq = strchr(s, '=');
	if (!eq)
		return fail(L, L->line, sec, NULL, "expected [section] or key = value");
	*eq = '\0';
	key = trim(s);
	if (*key == '\0')
		return fail(L, L->line, sec, NULL, "expected [section] or key = value (no key before '=')");
	val = skip_ws(eq + 1);
	strip_comment(val);
	rtrim(val);
	return handle_key(L, key, val);
}

static int parse_text(struct loader *L, const char *text, size_t len)
{
	char buf[CFG_LINE_MAX + 1];
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		const char *sec = L->kind == SEC_NONE ? NULL : L->sec_name;
		int rc;

		L->line++;
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n > CFG_LINE_MAX)
			return fail(L, L->line, sec, NULL, "line longer than %d bytes", CFG_LINE_MAX);
		if (memchr(p, '\0', n))
			return fail(L, L->line, sec, NULL, "the line holds a NUL byte");
		memcpy(buf, p, n);
		buf[n] = '\0';
		rc = parse_line(L, buf);
		if (rc)
			return rc;
		p = nl ? nl + 1 : end;
	}
	return 0;
}

/* ---- whole-file checks ---- */

static void fmt_utc(int64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / FS_NS_PER_S);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "@%" PRId64 "s", (int64_t)(ns / FS_NS_PER_S));
}

static int check_required(struct loader *L, enum cfg_sec k, const struct sec_meta *m,
			  const char *sec)
{
	unsigned slot = 0;

	for (size_t i = 0; i < CFG_ROWS; i++) {
		const struct cfg_row *r = &cfg_schema[i];

		if (r->sec != k)
			continue;
		if ((r->flags & ROW_REQUIRED) && m->key_line[slot] == 0)
			return fail(L, m->line, sec, r->key, "missing (required in every [%s.N])",
				    sec_names[k]);
		slot++;
	}
	return 0;
}

static int check_activities(struct loader *L)
{
	char sec[CFG_SECNAME_MAX], t0[32], t1[32];

	for (unsigned i = 0; i < L->c->n_activities; i++) {
		const struct cfg_activity *a = &L->c->activities[i];
		const struct sec_meta *m = &L->act_meta[i];
		int rc;

		snprintf(sec, sizeof sec, "activity.%" PRIu32, a->id);
		rc = check_required(L, SEC_ACTIVITY, m, sec);
		if (rc)
			return rc;
		if (a->require_token && !line_of(SEC_ACTIVITY, m, "token_key"))
			return fail(L, m->line, sec, "token_key",
				    "missing (required when require_token is yes)");
		if (a->end_ns <= a->start_ns) {
			fmt_utc(a->start_ns, t0, sizeof t0);
			fmt_utc(a->end_ns, t1, sizeof t1);
			return fail(L, line_of(SEC_ACTIVITY, m, "end"), sec, "end",
				    "%s is not after start %s", t1, t0);
		}
	}
	return 0;
}

static int check_items(struct loader *L)
{
	char sec[CFG_SECNAME_MAX];

	for (unsigned i = 0; i < L->c->n_items; i++) {
		struct cfg_item *it = &L->c->items[i];
		const struct sec_meta *m = &L->item_meta[i];
		long a;
		int rc;

		snprintf(sec, sizeof sec, "item.%" PRIu32, it->id);
		rc = check_required(L, SEC_ITEM, m, sec);
		if (rc)
			return rc;
		if (it->max_per_order > it->per_user_limit)
			return fail(L, line_of(SEC_ITEM, m, "max_per_order"), sec, "max_per_order",
				    "%u is more than per_user_limit %" PRIu32,
				    (unsigned)it->max_per_order, it->per_user_limit);
		a = idmap_get(&L->act_ids, it->activity_id);
		if (a < 0)
			return fail(L, line_of(SEC_ITEM, m, "activity"), sec, "activity",
				    "no [activity.%" PRIu32 "] in this file", it->activity_id);
		it->activity_index = (uint16_t)a;
	}
	return 0;
}

/* A burst not given follows its rate; a burst of 0 under a rate refuses all. */
static int derive_burst(struct loader *L, unsigned rate, unsigned *burst, const char *rate_key,
			const char *burst_key)
{
	unsigned line = line_of(SEC_LIMITS, &L->single[SEC_LIMITS], burst_key);

	if (line == 0) {
		*burst = rate;
		return 0;
	}
	if (rate > 0 && *burst == 0)
		return fail(L, line, "limits", burst_key,
			    "must be at least 1 when %s is set (a burst of 0 refuses every request)",
			    rate_key);
	return 0;
}

/* The stock must fit the preallocated orders, and answers the orders. */
static int check_capacity(struct loader *L)
{
	struct cfg *c = L->c;
	const struct sec_meta *lm = &L->single[SEC_LIMITS];
	unsigned orders_line = line_of(SEC_LIMITS, lm, "max_orders");
	unsigned idem_line = line_of(SEC_LIMITS, lm, "max_idempotency");
	uint64_t sum = 0;
	char sec[CFG_SECNAME_MAX];

	for (unsigned i = 0; i < c->n_items; i++) {
		sum += c->items[i].total;
		if (sum > c->max_orders && orders_line == 0) {
			snprintf(sec, sizeof sec, "item.%" PRIu32, c->items[i].id);
			return fail(L, line_of(SEC_ITEM, &L->item_meta[i], "total"), sec, "total",
				    "the items' stock reaches %" PRIu64 " units here, more than "
				    "[limits] max_orders = %" PRIu64 " (the default); raise max_orders",
				    sum, c->max_orders);
		}
	}
	if (sum > c->max_orders)
		return fail(L, orders_line, "limits", "max_orders",
			    "%" PRIu64 " is less than the %" PRIu64 " units of stock in the items",
			    c->max_orders, sum);
	if (idem_line == 0)
		c->max_idempotency = 2 * c->max_orders;
	else if (c->max_idempotency < c->max_orders)
		return fail(L, idem_line, "limits", "max_idempotency",
			    "%" PRIu64 " is less than max_orders = %" PRIu64, c->max_idempotency,
			    c->max_orders);
	return 0;
}

static int check_limits(struct loader *L)
{
	struct cfg *c = L->c;
	int rc;

	rc = derive_burst(L, c->per_ip_rate, &c->per_ip_burst, "per_ip_rate", "per_ip_burst");
	if (rc == 0)
		rc = derive_burst(L, c->per_user_rate, &c->per_user_burst, "per_user_rate",
				  "per_user_burst");
	if (rc == 0)
		rc = check_capacity(L);
	return rc;
}

/* ---- loading ---- */

static int load(const char *name, const char *text, size_t len, int64_t now_ns, struct cfg *out,
		char *err, size_t errlen)
{
	struct loader L = {
		.name = name, .now_ns = now_ns, .c = out, .err = err, .errlen = errlen,
		.kind = SEC_NONE,
	};
	int rc;

	copy_str(out->path, sizeof out->path, name);
	for (int k = 0; k < SEC_N_SINGLE; k++)
		apply_defaults(&L, (enum cfg_sec)k, out);
	rc = parse_text(&L, text, len);
	if (rc == 0)
		rc = check_activities(&L);
	if (rc == 0)
		rc = check_items(&L);
	if (rc == 0)
		rc = check_limits(&L);
	free(L.act_meta);
	free(L.item_meta);
	free(L.act_ids.slot);
	free(L.item_ids.slot);
	if (rc)
		cfg_free(out);
	return rc;
}

static void set_err(char *err, size_t errlen, const char *path, const char *what, int rc)
{
	if (err && errlen) {
		snprintf(err, errlen, "%s: %s: %s", path, what, fs_strerror(rc));
		one_line(err);
	}
}

/* Reads a whole file of at most CFG_FILE_MAX bytes; 0 or -errno. */
static int read_all(int fd, char **text, size_t *len)
{
	size_t cap = 0, n = 0;
	char *buf = NULL;

	for (;;) {
		ssize_t got;

		if (n == cap) {
			char *nb = cap >= CFG_FILE_MAX ? NULL : realloc(buf, cap ? cap * 2 : 65536);

			if (!nb) {
				free(buf);
				return cap >= CFG_FILE_MAX ? -EFBIG : -ENOMEM;
			}
			buf = nb;
			cap = cap ? cap * 2 : 65536;
		}
		got = read(fd, buf + n, cap - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			int rc = -errno;

			free(buf);
			return rc;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	*text = buf;
	*len = n;
	return 0;
}

int cfg_load(const char *path, int64_t now_ns, struct cfg *out, char *err, size_t errlen)
{
	char *text = NULL;
	size_t len = 0;
	int fd, rc;

	FS_ASSERT(path && out);
	memset(out, 0, sizeof *out);
	if (err && errlen)
		err[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		set_err(err, errlen, path, "cannot open", rc);
		return rc;
	}
	rc = read_all(fd, &text, &len);
	close(fd);
	if (rc) {
		set_err(err, errlen, path, "cannot read", rc);
		return rc;
	}
	rc = load(path, text, len, now_ns, out, err, errlen);
	free(text);
	return rc;
}

int cfg_load_string(const char *name, const char *text, int64_t now_ns, struct cfg *out,
		    char *err, size_t errlen)
{
	FS_ASSERT(name && text && out);
	memset(out, 0, sizeof *out);
	if (err && errlen)
		err[0] = '\0';
	return load(name, text, strlen(text), now_ns, out, err, errlen);
}

void cfg_free(struct cfg *c)
{
	if (!c)
		return;
	free(c->activities);
	free(c->items);
	memset(c, 0, sizeof *c);
}

const struct cfg_item *cfg_find_item(const struct cfg *c, uint32_t item_id)
{
	for (unsigned i = 0; i < c->n_items; i++)
		if (c->items[i].id == item_id)
			return &c->items[i];
	return NULL;
}

const struct cfg_activity *cfg_find_activity(const struct cfg *c, uint32_t activity_id)
{
	for (unsigned i = 0; i < c->n_activities; i++)
		if (c->activities[i].id == activity_id)
			return &c->activities[i];
	return NULL;
}

const char *cfg_mode_name(enum cfg_mode m)
{
	return (unsigned)m < 2 ? mode_names[m] : "?";
}

const char *cfg_durability_name(enum cfg_durability d)
{
	return (unsigned)d < 3 ? durability_names[d] : "?";
}

/* ---- summary ---- */

static void log_activities(const struct cfg *c)
{
	char t0[32], t1[32];

	for (unsigned i = 0; i < c->n_activities; i++) {
		const struct cfg_activity *a = &c->activities[i];

		fmt_utc(a->start_ns, t0, sizeof t0);
		fmt_utc(a->end_ns, t1, sizeof t1);
		fs_log("info",
		       "config: activity %" PRIu32 " \"%s\": %s .. %s, require_token %s, "
		       "pay timeout %" PRIu32 " s",
		       a->id, a->name, t0, t1, a->require_token ? "yes" : "no", a->pay_timeout_s);
		if (!a->has_payment_key)
			fs_log("warn",
			       "config: activity %" PRIu32 " has no payment_key: CONFIRM needs no "
			       "token for it, anyone who knows an order id can mark it paid",
			       a->id);
	}
}

static void log_items(const struct cfg *c)
{
	unsigned shown = c->n_items < CFG_ITEMS_SHOWN ? c->n_items : CFG_ITEMS_SHOWN;

	for (unsigned i = 0; i < shown; i++) {
		const struct cfg_item *it = &c->items[i];

		fs_log("info",
		       "config: item %" PRIu32 ": activity %" PRIu32 ", total %" PRIu32
		       ", per-user limit %" PRIu32 ", max per order %u, price %" PRIu64 " cents",
		       it->id, it->activity_id, it->total, it->per_user_limit,
		       (unsigned)it->max_per_order, it->price_cents);
	}
	if (c->n_items > shown)
		fs_log("info", "config: ... and %u more items", c->n_items - shown);
}

void cfg_log_summary(const struct cfg *c)
{
	char http[16];

	if (c->http_port)
		snprintf(http, sizeof http, "%u", (unsigned)c->http_port);
	else
		snprintf(http, sizeof http, "off");
	fs_log("info", "config %s: mode %s, %u workers%s%s", c->path, cfg_mode_name(c->mode),
	       c->workers, c->eal[0] ? ", eal: " : "", c->eal);
	fs_log("info", "config: udp %s:%u, http port %s, ring size %u", c->address_str,
	       (unsigned)c->udp_port, http, c->ring_size);
	fs_log("info", "config: persist dir %s, durability %s, snapshot every %u s", c->persist_dir,
	       cfg_durability_name(c->durability), c->snapshot_interval_s);
	fs_log("info",
	       "config: max_orders %" PRIu64 ", max_idempotency %" PRIu64 " kept %u s, "
	       "per-ip rate %u/s burst %u, per-user rate %u/s burst %u, admin API %s",
	       c->max_orders, c->max_idempotency, c->idempotency_retention_s, c->per_ip_rate,
	       c->per_ip_burst, c->per_user_rate, c->per_user_burst,
	       c->admin_enabled ? "on" : "off");
	if (c->durability == CFG_DUR_NONE)
		fs_log("warn", "config: durability = none: acknowledged orders are NOT durable, "
			       "a crash or restart loses them (for benchmarks and demos only)");
	fs_log("info", "config: %u activities, %u items", c->n_activities, c->n_items);
	log_activities(c);
	log_items(c);
}
