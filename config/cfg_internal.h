/*
 * cfg_internal.h — what the files of config/ share and nothing outside
 * config/ may include (the fuzz harness of the time parser and the unit
 * tests excepted): the loader's limits, its state while one file is read,
 * the schema row type and the functions each file offers the others.
 *
 * Who does what (a load runs top to bottom):
 *   cfg.c         cfg_load / cfg_load_string: read the file, run the lexer,
 *                 then the whole-file checks; error messages; section
 *                 instances ([appliance] once, [item.N] many); lookups and
 *                 the start-up summary.
 *   cfg_lex.c     the INI lexer: lines, comments, "[name]" and
 *                 "key = value"; hands each to the loader.
 *   cfg_schema.c  the schema table (one row per key), the setters that
 *                 parse and store a value, and the whole-file validation.
 *   cfg_time.c    the time forms (ISO 8601 with a zone, unix seconds,
 *                 now±N): pure functions, fuzzed on their own.
 *   cfg_idmap.c   the id -> index hash of [activity.N] and [item.N].
 */
#ifndef CFG_INTERNAL_H
#define CFG_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

/* ---- limits (every budget of config/, units last) ---- */

#define CFG_LINE_MAX_BYTES 4096        /* one line, without its newline */
#define CFG_FILE_MAX_BYTES (64u << 20) /* far above 65536 items; refuses /dev/zero */
#define CFG_READ_CHUNK_BYTES 65536u    /* first read buffer; doubles up to the file max */
#define CFG_SEC_KEYS_MAX 16            /* keys in one section (asserted) */
#define CFG_SECNAME_MAX_BYTES 80       /* section name as quoted in messages */
#define CFG_ITEMS_SHOWN 20             /* cfg_log_summary lists this many items */
#define CFG_MULTI_INITIAL_CAP 8        /* first allocation of activities / items */
#define CFG_IDMAP_INITIAL_CAP 16       /* first slot count of an id map */
#define CFG_KNOWN_WORDS_BYTES 128      /* "kernel | dpdk" in an enum's message */
#define CFG_KNOWN_KEYS_BYTES 256       /* a section's keys in an unknown-key message */
#define CFG_UTC_TEXT_BYTES 32          /* "2026-11-11T00:00:00Z" and room to spare */
#define CFG_VALUE_QUOTE_CHARS 64       /* a value is quoted in messages up to this */

/* Time forms (cfg_time.c). */
#define CFG_TIME_REL_MAX_N 1000000000000LL /* the N of now+N, in its unit */
#define CFG_TIME_MAX_S (INT64_MAX / FS_NS_PER_S) /* unix seconds that fit in int64 ns */
#define CFG_S_PER_MIN 60
#define CFG_S_PER_HOUR 3600
#define CFG_S_PER_DAY 86400
#define CFG_TIME_FORMS "expected YYYY-MM-DDTHH:MM:SS followed by Z or +hh:mm/-hh:mm, " \
		       "unix seconds, or now, now+N, now-N (N with unit s, m, h or d)"

/* Schema bounds that are not system limits from fs_common.h. */
#define CFG_IDLE_SLEEP_US_MAX 1000000u
#define CFG_RING_SIZE_MIN 64u
#define CFG_RING_SIZE_MAX 1048576u
#define CFG_SNAPSHOT_INTERVAL_S_MAX 86400u
#define CFG_CONSUMER_RETENTION_MB_MAX 1048576u /* 1 TiB of log per shard */
#define CFG_SYNC_INTERVAL_MS_MAX 10000u
#define CFG_MAX_ORDERS_MAX 1000000000u
#define CFG_MAX_IDEMPOTENCY_MAX 4000000000u
#define CFG_RETENTION_S_MIN 600u
#define CFG_RETENTION_S_MAX 604800u    /* a week */
#define CFG_RATE_PER_S_MAX 100000000u  /* per_*_rate and per_*_burst */
#define CFG_PAY_TIMEOUT_S_MAX 86400u
#define CFG_STANDBY_TIMEOUT_MS_MAX 600000u
#define CFG_PER_USER_LIMIT_MAX 1000000u
#define CFG_IDEMPOTENCY_PER_ORDER 2    /* max_idempotency default: this * max_orders */

#define CFG_ROW_REQUIRED 1u            /* the section is incomplete without it */
#define CFG_ROW_TRUNCATE 2u            /* too long a string is cut, not refused */
#define CFG_NO_AUX SIZE_MAX

enum cfg_sec {
	SEC_APPLIANCE,
	SEC_NET,
	SEC_PERSIST,
	SEC_LIMITS,
	SEC_ADMIN,
	SEC_REPLICATION,
	SEC_ACTIVITY,
	SEC_ITEM,
	SEC_N,
	SEC_NONE = SEC_N, /* before the first header */
};
#define SEC_N_SINGLE SEC_ACTIVITY /* sections below this appear at most once */

extern const char *const cfg_sec_names[SEC_N];

/* Lines of one section instance: its header and each key seen (0 = absent). */
struct sec_meta {
	unsigned line;
	unsigned key_line[CFG_SEC_KEYS_MAX];
};

/* id -> index of an [activity.N] or [item.N]; slots hold (id << 32) |
 * (index + 1), 0 is empty; cap is a power of two, at most half full. */
struct cfg_idmap {
	uint64_t *slot;
	size_t cap, n;
};

/* The state of one load; lives on cfg.c's stack. */
struct loader {
	const char *name;          /* file name used in messages */
	int64_t now_ns;            /* "now" in relative times */
	struct cfg *c;
	char *err;
	size_t errlen;
	bool failed;               /* the first error wins */
	unsigned line;             /* current line, 1-based */
	enum cfg_sec kind;         /* current section */
	char sec_name[CFG_SECNAME_MAX_BYTES];
	void *base;                /* where the current section's values go */
	struct sec_meta *meta;     /* the current section's lines */
	struct sec_meta single[SEC_N_SINGLE];
	struct sec_meta *act_meta, *item_meta; /* parallel to c->activities, c->items */
	unsigned act_cap, item_cap;
	struct cfg_idmap act_ids, item_ids;
};

/* One key of the schema (cfg_schema.c). */
struct cfg_row {
	enum cfg_sec sec;
	const char *key;
	int (*set)(struct loader *L, const struct cfg_row *r, void *base, const char *val);
	size_t off;                /* the field in base */
	size_t size;               /* its size in bytes */
	uint64_t min, max;         /* numbers: bounds; strings: min is the shortest length */
	const char *def;           /* default, run through set; NULL: required or derived */
	unsigned flags;            /* CFG_ROW_* */
	const char *const *names;  /* enum: the accepted words, index = value */
	size_t aux;                /* hex: bool set when given; ipv4: the struct in_addr */
};

/* ---- cfg.c: errors and section instances ---- */

/* Records "NAME:line: [sec] key: ..." (sec and key may be NULL) unless an
 * error is already recorded; returns -EINVAL. */
__attribute__((format(printf, 5, 6))) int cfg_fail(struct loader *L, unsigned line,
						   const char *sec, const char *key,
						   const char *fmt, ...);

/* A bad value for row r on the current line; -EINVAL. */
__attribute__((format(printf, 3, 4))) int cfg_bad(struct loader *L, const struct cfg_row *r,
						  const char *fmt, ...);

/* Replaces control characters so that s stays one line. */
void cfg_one_line(char *s);

/* Opens the section named name (trimmed text between the brackets) on the
 * current line: 0 or -EINVAL (duplicate, unknown, bad id, too many). */
int cfg_open_section(struct loader *L, const char *name);

/* ---- cfg_lex.c: the INI lexer ---- */

/* Cuts text (len bytes, need not be NUL-terminated) into lines and hands
 * each header to cfg_open_section and each pair to cfg_schema_key.
 * Returns 0 or the first error (recorded in L). */
int cfg_lex_text(struct loader *L, const char *text, size_t len);

/* s past blanks (spaces and tabs). */
char *cfg_lex_skip_ws(const char *s);

/* Decimal digits only (no sign, no blanks): 0, -EINVAL or -ERANGE (then
 * *out is a truncated value). */
int cfg_lex_u64(const char *s, uint64_t *out);

/* Copies src into dst (size bytes), cut short if need be. */
void cfg_copy_str(char *dst, size_t size, const char *src);

/* ---- cfg_schema.c: the schema and whole-file validation ---- */

/* Runs the defaults of section k through their setters into base. */
void cfg_schema_defaults(struct loader *L, enum cfg_sec k, void *base);

/* "key = val" in the current section: 0 or -EINVAL (unknown key,
 * duplicate, bad value). */
int cfg_schema_key(struct loader *L, const char *key, const char *val);

/* The whole-file checks after the last line: activities, items, [limits]. */
int cfg_schema_validate(struct loader *L);

/* The accepted words of [appliance] mode and [persist] durability. */
extern const char *const cfg_mode_names[];
extern const char *const cfg_durability_names[];

/* ---- cfg_time.c: time forms (pure) ---- */

/* Any time form (s NUL-terminated) to unix ns, not before 1970; now_ns
 * resolves "now", "now+N", "now-N". Returns 0, or -EINVAL with *why set to
 * a constant sentence that says what is wrong (*out_ns untouched). */
int cfg_time_parse(const char *s, int64_t now_ns, int64_t *out_ns, const char **why);

/* ns as "YYYY-MM-DDTHH:MM:SSZ" into buf (len bytes; "@Ns" if out of range). */
void cfg_time_format_utc(int64_t ns, char *buf, size_t len);

/* ---- cfg_idmap.c: id -> index ---- */

/* The index of id, or -1. */
long cfg_idmap_get(const struct cfg_idmap *m, uint32_t id);

/* Adds id -> idx (id not present); 0 or -ENOMEM. */
int cfg_idmap_put(struct cfg_idmap *m, uint32_t id, unsigned idx);

/* Frees the slots; the map is empty and usable again. */
void cfg_idmap_free(struct cfg_idmap *m);

#endif
