/*
 * cfg_schema.c — the schema of the INI file and its validation (contract:
 * CONFIG.md; every key with its default and range: docs/configuration.md).
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
 *   exists anywhere in the file, found in the id map), then [limits]
 *   (bursts, the preallocated capacities against the stock).
 *
 * Invariants: key material (token_key, payment_key, admin key) is never
 * echoed into a message; a value is quoted up to CFG_VALUE_QUOTE_CHARS.
 */
#include "cfg_internal.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fs_token.h"

#define STR_(x) #x
#define STR(x) STR_(x)
#define VALQ "%." STR(CFG_VALUE_QUOTE_CHARS) "s" /* a value quoted in a message */

_Static_assert(FS_ACTIVITIES_MAX <= UINT16_MAX + 1, "activity_index is a uint16_t");
_Static_assert(sizeof(enum cfg_mode) == sizeof(int), "enums are stored as int");
_Static_assert(sizeof(enum cfg_durability) == sizeof(int), "enums are stored as int");

const char *const cfg_sec_names[SEC_N] = {
	"appliance", "net", "persist", "limits", "admin", "replication", "activity", "item",
};

const char *const cfg_mode_names[] = { "kernel", "dpdk", NULL };
const char *const cfg_durability_names[] = { "sync", "batch", "none", NULL };
static const char *const role_names[] = { "primary", "standby", NULL };
static const char *const ack_names[] = { "local", "standby", NULL };
static const char *const loss_names[] = { "wait", "degrade", NULL };

/* ---- setters: parse one value for row r, store it at base + r->off ---- */

static void *field(void *base, size_t off)
{
	return (char *)base + off;
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
	int rc = cfg_lex_u64(val, v);

	if (rc == -EINVAL)
		return cfg_bad(L, r, "not a whole number: '" VALQ "'", val);
	if (rc == -ERANGE || *v < r->min || *v > r->max)
		return cfg_bad(L, r, VALQ " is out of range %" PRIu64 "..%" PRIu64, val, r->min,
			       r->max);
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
		return cfg_bad(L, r, "%" PRIu64 " is not a power of two", v);
	store_uint(field(base, r->off), r->size, v);
	return 0;
}

static int set_str(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	char *dst = field(base, r->off);
	size_t n = strlen(val);

	if (n < r->min)
		return cfg_bad(L, r, "must not be empty");
	if (n >= r->size) {
		if (!(r->flags & CFG_ROW_TRUNCATE))
			return cfg_bad(L, r, "longer than %zu bytes", r->size - 1);
		n = utf8_cut(val, r->size - 1);
	}
	memcpy(dst, val, n);
	dst[n] = '\0';
	return 0;
}

/* [net] trusted_proxies: IPv4 addresses or CIDRs separated by commas and/or
 * blanks (the data plane parses it again with dp_http_cidr_parse; this
 * check gives the file and line). */
static int set_cidrs(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	const char *p = val;

	while (*p) {
		char ent[64];
		size_t n = strcspn(p, ", \t");
		unsigned long bits = 32;
		struct in_addr a;
		char *slash;

		if (n == 0) {
			p++;
			continue;
		}
		if (n >= sizeof(ent))
			return cfg_bad(L, r, "entry too long: '%.40s'", p);
		memcpy(ent, p, n);
		ent[n] = '\0';
		p += n;
		slash = strchr(ent, '/');
		if (slash) {
			char *end;
			*slash = '\0';
			bits = strtoul(slash + 1, &end, 10);
			if (slash[1] == '\0' || *end || bits > 32)
				return cfg_bad(L, r, "bad prefix length in '%s/%s'", ent, slash + 1);
		}
		if (inet_pton(AF_INET, ent, &a) != 1)
			return cfg_bad(L, r, "not an IPv4 address or CIDR: '%s'", ent);
		if (bits < 32 && (ntohl(a.s_addr) & (0xffffffffu >> bits)))
			return cfg_bad(L, r, "'%s/%lu' has host bits set", ent, bits);
	}
	return set_str(L, r, base, val);
}

/* [net] client_ip_header: an HTTP header name (RFC 9110 token). */
static int set_hdrname(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	for (const char *p = val; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("!#$%&'*+-.^_`|~", *p))
			return cfg_bad(L, r, "not a header name: '" VALQ "'", val);
	return set_str(L, r, base, val);
}

static int set_enum(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	char known[CFG_KNOWN_WORDS_BYTES] = "";
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
	return cfg_bad(L, r, "must be one of %s, not '" VALQ "'", known, val);
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
	return cfg_bad(L, r, "must be yes or no (also true/false, on/off, 1/0), not '" VALQ "'",
		       val);
}

/* Key material: never echoed into a message. */
static int set_hex(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	size_t n = strlen(val);
	bool given = true;

	if (n != r->size * 2)
		return cfg_bad(L, r, "must be exactly %zu hex digits, not %zu characters",
			       r->size * 2, n);
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)val[i]))
			return cfg_bad(L, r, "character %zu is not a hex digit", i + 1);
	if (fs_hex_parse(val, field(base, r->off), r->size) != 0)
		return cfg_bad(L, r, "not a valid hex string");
	if (r->aux != CFG_NO_AUX)
		memcpy(field(base, r->aux), &given, sizeof given);
	return 0;
}

static int set_ipv4(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	struct in_addr a;

	FS_ASSERT(r->size >= INET_ADDRSTRLEN);
	if (inet_pton(AF_INET, val, &a) != 1)
		return cfg_bad(L, r, "not an IPv4 address (a.b.c.d): '" VALQ "'", val);
	memcpy(field(base, r->aux), &a, sizeof a);
	if (!inet_ntop(AF_INET, &a, field(base, r->off), (socklen_t)r->size))
		return cfg_bad(L, r, "cannot format '" VALQ "'", val);
	return 0;
}

static int set_time(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	const char *why = CFG_TIME_FORMS;
	int64_t ns;

	if (cfg_time_parse(val, L->now_ns, &ns, &why))
		return cfg_bad(L, r, "bad time '" VALQ "': %s", val, why);
	memcpy(field(base, r->off), &ns, sizeof ns);
	return 0;
}

/* [replication] primary / listen: "a.b.c.d:port" (listen also a bare port,
 * on [net] address); the address goes to r->aux (struct in_addr) and the
 * port just after it (uint16_t at aux + sizeof(struct in_addr)). */
static int set_hostport(struct loader *L, const struct cfg_row *r, void *base, const char *val)
{
	char host[INET_ADDRSTRLEN] = "";
	const char *colon = strrchr(val, ':');
	const char *ps = colon ? colon + 1 : val;
	struct in_addr a = {0};
	uint64_t port;

	if (val[0] == '\0') {
		uint16_t z = 0;
		memcpy(field(base, r->aux), &a, sizeof a);
		memcpy(field(base, r->aux + sizeof a), &z, sizeof z);
		*(char *)field(base, r->off) = '\0';
		return 0;
	}
	if (colon && (size_t)(colon - val) >= sizeof host)
		return cfg_bad(L, r, "not address:port: '" VALQ "'", val);
	if (colon) {
		memcpy(host, val, (size_t)(colon - val));
		if (inet_pton(AF_INET, host, &a) != 1)
			return cfg_bad(L, r, "not an IPv4 address:port (a.b.c.d:port): '" VALQ "'",
				       val);
	} else if (r->min == 0) {
		return cfg_bad(L, r, "expected address:port, not '" VALQ "'", val);
	} else {
		a.s_addr = 0xffffffffu; /* a bare port: [net] address, set in check_replication */
	}
	if (cfg_lex_u64(ps, &port) != 0 || port == 0 || port > UINT16_MAX)
		return cfg_bad(L, r, "bad port in '" VALQ "' (1..65535)", val);
	uint16_t p16 = (uint16_t)port;
	memcpy(field(base, r->aux), &a, sizeof a);
	memcpy(field(base, r->aux + sizeof a), &p16, sizeof p16);
	return set_str(L, r, base, val);
}

/* ---- the schema ---- */

#define FSIZE(st, f) sizeof(((st *)0)->f)
#define ROW(sec, key, set, st, f, lo, hi, def, flags, names, aux) \
	{ sec, key, set, offsetof(st, f), FSIZE(st, f), lo, hi, def, flags, names, aux }
#define UINT(sec, key, st, f, lo, hi, def) \
	ROW(sec, key, set_uint, st, f, lo, hi, def, 0, NULL, CFG_NO_AUX)
#define G(key, f, lo, hi, def, sec) UINT(sec, key, struct cfg, f, lo, hi, def)

static const struct cfg_row cfg_schema[] = {
	ROW(SEC_APPLIANCE, "mode", set_enum, struct cfg, mode, 0, 0, "kernel", 0, cfg_mode_names,
	    CFG_NO_AUX),
	G("workers", workers, 1, FS_WORKERS_MAX, "2", SEC_APPLIANCE),
	ROW(SEC_APPLIANCE, "eal", set_str, struct cfg, eal, 0, 0, "", 0, NULL, CFG_NO_AUX),
	G("idle_sleep_us", idle_sleep_us, 0, CFG_IDLE_SLEEP_US_MAX, "100000", SEC_APPLIANCE),

	ROW(SEC_NET, "address", set_ipv4, struct cfg, address_str, 0, 0, "127.0.0.1", 0, NULL,
	    offsetof(struct cfg, address)),
	G("udp_port", udp_port, 1, UINT16_MAX, "7700", SEC_NET),
	G("http_port", http_port, 0, UINT16_MAX, "8080", SEC_NET),
	ROW(SEC_NET, "trusted_proxies", set_cidrs, struct cfg, trusted_proxies, 0, 0, "", 0, NULL,
	    CFG_NO_AUX),
	ROW(SEC_NET, "client_ip_header", set_hdrname, struct cfg, client_ip_header, 1, 0,
	    "X-Forwarded-For", 0, NULL, CFG_NO_AUX),
	G("http_max_conns", http_max_conns, 16, 1u << 20, "4096", SEC_NET),
	G("http_head_max", http_head_max, 256, 65536, "8192", SEC_NET),
	G("http_body_max", http_body_max, 64, 4096, "4096", SEC_NET),
	G("http_header_timeout_ms", http_header_timeout_ms, 100, 3600000, "10000", SEC_NET),
	G("http_idle_timeout_ms", http_idle_timeout_ms, 100, 86400000, "900000", SEC_NET),
	G("http_pipeline_max", http_pipeline_max, 1, 64, "64", SEC_NET),
	ROW(SEC_NET, "ring_size", set_pow2, struct cfg, ring_size, CFG_RING_SIZE_MIN,
	    CFG_RING_SIZE_MAX, STR(FS_RING_SIZE_DEFAULT), 0, NULL, CFG_NO_AUX),

	ROW(SEC_PERSIST, "dir", set_str, struct cfg, persist_dir, 1, 0, "var/flashsale", 0, NULL,
	    CFG_NO_AUX),
	ROW(SEC_PERSIST, "durability", set_enum, struct cfg, durability, 0, 0, "sync", 0,
	    cfg_durability_names, CFG_NO_AUX),
	G("snapshot_interval_s", snapshot_interval_s, 1, CFG_SNAPSHOT_INTERVAL_S_MAX, "30",
	  SEC_PERSIST),
	G("sync_interval_ms", sync_interval_ms, 1, CFG_SYNC_INTERVAL_MS_MAX, "10", SEC_PERSIST),
	G("consumer_retention_mb", consumer_retention_mb, 0, CFG_CONSUMER_RETENTION_MB_MAX, "4096",
	  SEC_PERSIST),

	G("max_orders", max_orders, 1, CFG_MAX_ORDERS_MAX, "1000000", SEC_LIMITS),
	/* default CFG_IDEMPOTENCY_PER_ORDER * max_orders, derived in check_capacity */
	G("max_idempotency", max_idempotency, 1, CFG_MAX_IDEMPOTENCY_MAX, NULL, SEC_LIMITS),
	G("idempotency_retention_s", idempotency_retention_s, CFG_RETENTION_S_MIN,
	  CFG_RETENTION_S_MAX, "600", SEC_LIMITS),
	/* a burst defaults to its rate, derived in derive_burst */
	G("per_ip_rate", per_ip_rate, 0, CFG_RATE_PER_S_MAX, "0", SEC_LIMITS),
	G("per_ip_burst", per_ip_burst, 0, CFG_RATE_PER_S_MAX, NULL, SEC_LIMITS),
	G("per_user_rate", per_user_rate, 0, CFG_RATE_PER_S_MAX, "0", SEC_LIMITS),
	G("per_user_burst", per_user_burst, 0, CFG_RATE_PER_S_MAX, NULL, SEC_LIMITS),

	ROW(SEC_ADMIN, "address", set_ipv4, struct cfg, admin_address_str, 0, 0, "127.0.0.1", 0,
	    NULL, offsetof(struct cfg, admin_address)),
	G("port", admin_port, 0, UINT16_MAX, "8081", SEC_ADMIN),
	ROW(SEC_ADMIN, "key", set_hex, struct cfg, admin_key, 0, 0, NULL, 0, NULL,
	    offsetof(struct cfg, admin_enabled)),

	ROW(SEC_REPLICATION, "role", set_enum, struct cfg, repl_role, 0, 0, "primary", 0,
	    role_names, CFG_NO_AUX),
	/* min 0: address:port only; 1: a bare port too */
	ROW(SEC_REPLICATION, "primary", set_hostport, struct cfg, repl_primary_str, 0, 0, "", 0,
	    NULL, offsetof(struct cfg, repl_primary)),
	ROW(SEC_REPLICATION, "listen", set_hostport, struct cfg, repl_listen_str, 1, 0, "", 0,
	    NULL, offsetof(struct cfg, repl_listen)),
	ROW(SEC_REPLICATION, "ack", set_enum, struct cfg, repl_ack, 0, 0, "local", 0, ack_names,
	    CFG_NO_AUX),
	G("standby_timeout_ms", repl_standby_timeout_ms, 1, CFG_STANDBY_TIMEOUT_MS_MAX, "1000",
	  SEC_REPLICATION),
	ROW(SEC_REPLICATION, "on_standby_loss", set_enum, struct cfg, repl_on_loss, 0, 0, "wait",
	    0, loss_names, CFG_NO_AUX),

	/* name defaults to "activity N", set in cfg.c's open_multi */
	ROW(SEC_ACTIVITY, "name", set_str, struct cfg_activity, name, 1, 0, NULL,
	    CFG_ROW_TRUNCATE, NULL, CFG_NO_AUX),
	ROW(SEC_ACTIVITY, "start", set_time, struct cfg_activity, start_ns, 0, 0, NULL,
	    CFG_ROW_REQUIRED, NULL, CFG_NO_AUX),
	ROW(SEC_ACTIVITY, "end", set_time, struct cfg_activity, end_ns, 0, 0, NULL,
	    CFG_ROW_REQUIRED, NULL, CFG_NO_AUX),
	ROW(SEC_ACTIVITY, "require_token", set_bool, struct cfg_activity, require_token, 0, 0,
	    "no", 0, NULL, CFG_NO_AUX),
	/* required when require_token is yes, checked in check_activities */
	ROW(SEC_ACTIVITY, "token_key", set_hex, struct cfg_activity, token_key, 0, 0, NULL, 0,
	    NULL, CFG_NO_AUX),
	ROW(SEC_ACTIVITY, "payment_key", set_hex, struct cfg_activity, payment_key, 0, 0, NULL, 0,
	    NULL, offsetof(struct cfg_activity, has_payment_key)),
	UINT(SEC_ACTIVITY, "pay_timeout_s", struct cfg_activity, pay_timeout_s, 1,
	     CFG_PAY_TIMEOUT_S_MAX, "900"),

	ROW(SEC_ITEM, "activity", set_uint, struct cfg_item, activity_id, 1, UINT32_MAX, NULL,
	    CFG_ROW_REQUIRED, NULL, CFG_NO_AUX),
	ROW(SEC_ITEM, "total", set_uint, struct cfg_item, total, 0, INT32_MAX, NULL,
	    CFG_ROW_REQUIRED, NULL, CFG_NO_AUX),
	UINT(SEC_ITEM, "price_cents", struct cfg_item, price_cents, 0, INT64_MAX, "0"),
	UINT(SEC_ITEM, "per_user_limit", struct cfg_item, per_user_limit, 1,
	     CFG_PER_USER_LIMIT_MAX, "1"),
	UINT(SEC_ITEM, "max_per_order", struct cfg_item, max_per_order, 1, UINT16_MAX, "1"),
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

void cfg_schema_defaults(struct loader *L, enum cfg_sec k, void *base)
{
	for (size_t i = 0; i < CFG_ROWS; i++) {
		const struct cfg_row *r = &cfg_schema[i];

		if (r->sec == k && r->def) {
			int rc = r->set(L, r, base, r->def);

			FS_ASSERT(rc == 0); /* a default that fails its own row is a bug */
		}
	}
}

/* ---- keys ---- */

static int unknown_key(struct loader *L, const char *key)
{
	char known[CFG_KNOWN_KEYS_BYTES] = "";
	size_t used = 0;

	for (size_t i = 0; i < CFG_ROWS; i++) {
		if (cfg_schema[i].sec != L->kind && strcmp(cfg_schema[i].key, key) == 0)
			return cfg_fail(L, L->line, L->sec_name, key,
					"unknown key here (it belongs in [%s%s])",
					cfg_sec_names[cfg_schema[i].sec],
					cfg_schema[i].sec >= SEC_N_SINGLE ? ".N" : "");
	}
	for (size_t i = 0; i < CFG_ROWS; i++) {
		if (cfg_schema[i].sec != L->kind)
			continue;
		used += (size_t)snprintf(known + used, sizeof known - used, "%s%s",
					 used ? ", " : "", cfg_schema[i].key);
		FS_ASSERT(used < sizeof known);
	}
	return cfg_fail(L, L->line, L->sec_name, key, "unknown key (known here: %s)", known);
}

int cfg_schema_key(struct loader *L, const char *key, const char *val)
{
	const struct cfg_row *r;
	unsigned slot;

	if (L->kind == SEC_NONE)
		return cfg_fail(L, L->line, NULL, key,
				"key outside any section (put a [section] header above it)");
	r = find_row(L->kind, key, &slot);
	if (!r)
		return unknown_key(L, key);
	if (L->meta->key_line[slot])
		return cfg_fail(L, L->line, L->sec_name, key, "duplicate key (first at line %u)",
				L->meta->key_line[slot]);
	L->meta->key_line[slot] = L->line;
	if (*val == '\0' && r->set != set_str)
		return cfg_bad(L, r, "the value is missing");
	return r->set(L, r, L->base, val);
}

/* ---- whole-file checks ---- */

static int check_required(struct loader *L, enum cfg_sec k, const struct sec_meta *m,
			  const char *sec)
{
	unsigned slot = 0;

	for (size_t i = 0; i < CFG_ROWS; i++) {
		const struct cfg_row *r = &cfg_schema[i];

		if (r->sec != k)
			continue;
		if ((r->flags & CFG_ROW_REQUIRED) && m->key_line[slot] == 0)
			return cfg_fail(L, m->line, sec, r->key, "missing (required in every [%s.N])",
					cfg_sec_names[k]);
		slot++;
	}
	return 0;
}

static int check_activities(struct loader *L)
{
	char sec[CFG_SECNAME_MAX_BYTES], t0[CFG_UTC_TEXT_BYTES], t1[CFG_UTC_TEXT_BYTES];

	for (unsigned i = 0; i < L->c->n_activities; i++) {
		const struct cfg_activity *a = &L->c->activities[i];
		const struct sec_meta *m = &L->act_meta[i];
		int rc;

		snprintf(sec, sizeof sec, "activity.%" PRIu32, a->id);
		rc = check_required(L, SEC_ACTIVITY, m, sec);
		if (rc)
			return rc;
		if (a->require_token && !line_of(SEC_ACTIVITY, m, "token_key"))
			return cfg_fail(L, m->line, sec, "token_key",
					"missing (required when require_token is yes)");
		if (a->end_ns <= a->start_ns) {
			cfg_time_format_utc(a->start_ns, t0, sizeof t0);
			cfg_time_format_utc(a->end_ns, t1, sizeof t1);
			return cfg_fail(L, line_of(SEC_ACTIVITY, m, "end"), sec, "end",
					"%s is not after start %s", t1, t0);
		}
	}
	return 0;
}

static int check_items(struct loader *L)
{
	char sec[CFG_SECNAME_MAX_BYTES];

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
			return cfg_fail(L, line_of(SEC_ITEM, m, "max_per_order"), sec,
					"max_per_order", "%u is more than per_user_limit %" PRIu32,
					(unsigned)it->max_per_order, it->per_user_limit);
		a = cfg_idmap_get(&L->act_ids, it->activity_id);
		if (a < 0)
			return cfg_fail(L, line_of(SEC_ITEM, m, "activity"), sec, "activity",
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
		return cfg_fail(L, line, "limits", burst_key,
				"must be at least 1 when %s is set (a burst of 0 refuses every "
				"request)",
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
	char sec[CFG_SECNAME_MAX_BYTES];

	for (unsigned i = 0; i < c->n_items; i++) {
		sum += c->items[i].total;
		if (sum > c->max_orders && orders_line == 0) {
			snprintf(sec, sizeof sec, "item.%" PRIu32, c->items[i].id);
			return cfg_fail(L, line_of(SEC_ITEM, &L->item_meta[i], "total"), sec, "total",
					"the items' stock reaches %" PRIu64 " units here, more than "
					"[limits] max_orders = %" PRIu64 " (the default); raise "
					"max_orders",
					sum, c->max_orders);
		}
	}
	if (sum > c->max_orders)
		return cfg_fail(L, orders_line, "limits", "max_orders",
				"%" PRIu64 " is less than the %" PRIu64 " units of stock in the items",
				c->max_orders, sum);
	if (idem_line == 0)
		c->max_idempotency = CFG_IDEMPOTENCY_PER_ORDER * c->max_orders;
	else if (c->max_idempotency < c->max_orders)
		return cfg_fail(L, idem_line, "limits", "max_idempotency",
				"%" PRIu64 " is less than max_orders = %" PRIu64, c->max_idempotency,
				c->max_orders);
	return 0;
}

/* [replication]: the keys a role needs, and none it cannot use. */
static int check_replication(struct loader *L)
{
	struct cfg *c = L->c;
	const struct sec_meta *m = &L->single[SEC_REPLICATION];
	unsigned role_line = line_of(SEC_REPLICATION, m, "role");

	_Static_assert(offsetof(struct cfg, repl_primary_port) ==
			       offsetof(struct cfg, repl_primary) + sizeof(struct in_addr),
		       "set_hostport stores the port after the address");
	_Static_assert(offsetof(struct cfg, repl_listen_port) ==
			       offsetof(struct cfg, repl_listen) + sizeof(struct in_addr),
		       "set_hostport stores the port after the address");
	if (c->repl_listen_port && c->repl_listen.s_addr == 0xffffffffu)
		c->repl_listen = c->address;
	if (c->repl_role == CFG_ROLE_STANDBY && c->repl_primary_port == 0)
		return cfg_fail(L, role_line, "replication", "primary",
				"role = standby needs primary = address:port");
	if (c->repl_role == CFG_ROLE_PRIMARY && c->repl_primary_port)
		return cfg_fail(L, line_of(SEC_REPLICATION, m, "primary"), "replication",
				"primary", "only a standby follows a primary (role = standby)");
	if (c->repl_ack == CFG_ACK_STANDBY && c->repl_listen_port == 0)
		return cfg_fail(L, line_of(SEC_REPLICATION, m, "ack"), "replication", "ack",
				"ack = standby needs listen = address:port for the standby");
	return 0;
}

int cfg_schema_validate(struct loader *L)
{
	struct cfg *c = L->c;
	int rc = check_activities(L);

	if (rc == 0)
		rc = check_items(L);
	if (rc == 0)
		rc = derive_burst(L, c->per_ip_rate, &c->per_ip_burst, "per_ip_rate",
				  "per_ip_burst");
	if (rc == 0)
		rc = derive_burst(L, c->per_user_rate, &c->per_user_burst, "per_user_rate",
				  "per_user_burst");
	if (rc == 0)
		rc = check_capacity(L);
	if (rc == 0)
		rc = check_replication(L);
	return rc;
}

const char *cfg_mode_name(enum cfg_mode m)
{
	return (unsigned)m <= CFG_MODE_DPDK ? cfg_mode_names[m] : "?";
}

const char *cfg_durability_name(enum cfg_durability d)
{
	return (unsigned)d <= CFG_DUR_NONE ? cfg_durability_names[d] : "?";
}
