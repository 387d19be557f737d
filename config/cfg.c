/*
 * cfg.c — the INI loader behind cfg.h (contract: CONFIG.md; every key with
 * its default and range: docs/configuration.md): the load from start to
 * end, the error messages, the section instances, lookups and the summary.
 * How the work is shared among config/'s files: cfg_internal.h.
 *
 * A load
 *   The file is read whole (at most CFG_FILE_MAX_BYTES). The [appliance],
 *   [net], [persist], [limits] and [admin] defaults go into the struct cfg
 *   first, so a file that leaves a section out still gets them. The lexer
 *   (cfg_lex.c) then hands over one header or key/value pair per line: a
 *   header opens a section instance here, a pair goes to the schema
 *   (cfg_schema.c). Sections: [appliance], [net], [persist], [limits],
 *   [admin] (each at most once) and any number of [activity.N] and
 *   [item.N], N decimal 1..4294967295 without leading zeros. Activities and
 *   items grow by doubling (CFG_MULTI_INITIAL_CAP first) up to
 *   FS_ACTIVITIES_MAX / FS_ITEMS_MAX; their ids go into an id map
 *   (cfg_idmap.c) that lives only while loading, so a duplicate is found at
 *   its own line. After the last line the schema's whole-file checks run.
 *
 * Invariants
 *   The first error stops the load; its message is one line
 *   "FILE:LINE: [section] key: what is wrong" (control characters that came
 *   from the file are replaced so it stays one line; key material is never
 *   echoed). On any error every allocation is released and *out is zeroed.
 *   On success activities and items are in file order, every
 *   item.activity_index is valid, and nothing changes the struct again.
 */
#include "cfg_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- errors ---- */

void cfg_one_line(char *s)
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
	cfg_one_line(L->err);
	return -EINVAL;
}

int cfg_fail(struct loader *L, unsigned line, const char *sec, const char *key,
	     const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(L, line, sec, key, fmt, ap);
	va_end(ap);
	return rc;
}

int cfg_bad(struct loader *L, const struct cfg_row *r, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail(L, L->line, L->sec_name, r->key, fmt, ap);
	va_end(ap);
	return rc;
}

/* ---- sections ---- */

static int open_single(struct loader *L, enum cfg_sec k)
{
	struct sec_meta *m = &L->single[k];

	if (m->line)
		return cfg_fail(L, L->line, L->sec_name, NULL,
				"duplicate section (first at line %u)", m->line);
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
	long first = cfg_idmap_get(act ? &L->act_ids : &L->item_ids, id);
	int rc = 0;

	if (first >= 0)
		return cfg_fail(L, L->line, L->sec_name, NULL,
				"duplicate section (first at line %u)",
				(act ? L->act_meta : L->item_meta)[first].line);
	if (n >= max)
		return cfg_fail(L, L->line, L->sec_name, NULL,
				"too many [%s.N] sections (at most %u)", cfg_sec_names[k], max);
	if (n == cap) {
		unsigned grown = cap ? cap * 2 : CFG_MULTI_INITIAL_CAP;

		rc = act ? grow_activities(L, grown) : grow_items(L, grown);
	}
	if (rc == 0)
		rc = cfg_idmap_put(act ? &L->act_ids : &L->item_ids, id, n);
	if (rc) {
		cfg_fail(L, L->line, L->sec_name, NULL, "out of memory");
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
	cfg_schema_defaults(L, k, L->base);
	return 0;
}

/* The N of [activity.N] / [item.N]: 1..2^32-1, decimal, no leading zero. */
static int parse_id(const char *s, uint32_t *id)
{
	uint64_t v;

	if (s[0] == '0' || cfg_lex_u64(s, &v) != 0 || v < 1 || v > UINT32_MAX)
		return -EINVAL;
	*id = (uint32_t)v;
	return 0;
}

int cfg_open_section(struct loader *L, const char *name)
{
	for (int k = 0; k < SEC_N_SINGLE; k++)
		if (strcmp(name, cfg_sec_names[k]) == 0)
			return open_single(L, (enum cfg_sec)k);
	for (int k = SEC_ACTIVITY; k <= SEC_ITEM; k++) {
		size_t n = strlen(cfg_sec_names[k]);
		uint32_t id;

		if (strncmp(name, cfg_sec_names[k], n) != 0 || (name[n] != '.' && name[n] != '\0'))
			continue;
		if (name[n] == '\0' || parse_id(name + n + 1, &id) != 0)
			return cfg_fail(L, L->line, L->sec_name, NULL,
					"bad section id: expected [%s.N] with N a decimal "
					"number 1..4294967295 (no leading zeros)",
					cfg_sec_names[k]);
		return open_multi(L, (enum cfg_sec)k, id);
	}
	return cfg_fail(L, L->line, L->sec_name, NULL,
			"unknown section (known: appliance, net, persist, limits, admin, "
			"activity.N, item.N)");
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

	cfg_copy_str(out->path, sizeof out->path, name);
	for (int k = 0; k < SEC_N_SINGLE; k++)
		cfg_schema_defaults(&L, (enum cfg_sec)k, out);
	rc = cfg_lex_text(&L, text, len);
	if (rc == 0)
		rc = cfg_schema_validate(&L);
	free(L.act_meta);
	free(L.item_meta);
	cfg_idmap_free(&L.act_ids);
	cfg_idmap_free(&L.item_ids);
	if (rc)
		cfg_free(out);
	return rc;
}

static void set_err(char *err, size_t errlen, const char *path, const char *what, int rc)
{
	if (err && errlen) {
		snprintf(err, errlen, "%s: %s: %s", path, what, fs_strerror(rc));
		cfg_one_line(err);
	}
}

/* Reads a whole file of at most CFG_FILE_MAX_BYTES bytes; 0 or -errno. */
static int read_all(int fd, char **text, size_t *len)
{
	size_t cap = 0, n = 0;
	char *buf = NULL;

	for (;;) {
		ssize_t got;

		if (n == cap) {
			char *nb = cap >= CFG_FILE_MAX_BYTES ? NULL : realloc(buf, cap ? cap * 2 : CFG_READ_CHUNK_BYTES);

			if (!nb) {
				free(buf);
				return cap >= CFG_FILE_MAX_BYTES ? -EFBIG : -ENOMEM;
			}
			buf = nb;
			cap = cap ? cap * 2 : CFG_READ_CHUNK_BYTES;
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

/* ---- summary ---- */

static void log_activities(const struct cfg *c)
{
	char t0[CFG_UTC_TEXT_BYTES], t1[CFG_UTC_TEXT_BYTES];

	for (unsigned i = 0; i < c->n_activities; i++) {
		const struct cfg_activity *a = &c->activities[i];

		cfg_time_format_utc(a->start_ns, t0, sizeof t0);
		cfg_time_format_utc(a->end_ns, t1, sizeof t1);
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
	       "per-ip rate %u/s burst %u, per-user rate %u/s burst %u",
	       c->max_orders, c->max_idempotency, c->idempotency_retention_s, c->per_ip_rate,
	       c->per_ip_burst, c->per_user_rate, c->per_user_burst);
	if (c->admin_port)
		fs_log("info", "config: operations listener %s:%u, admin API %s",
		       c->admin_address_str, (unsigned)c->admin_port,
		       c->admin_enabled ? "on" : "off (no key)");
	else
		fs_log("info", "config: operations listener off ([admin] port = 0)");
	if (c->durability == CFG_DUR_NONE)
		fs_log("warn", "config: durability = none: acknowledged orders are NOT durable, "
			       "a crash or restart loses them (for benchmarks and demos only)");
	fs_log("info", "config: %u activities, %u items", c->n_activities, c->n_items);
	log_activities(c);
	log_items(c);
}
