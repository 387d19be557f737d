/*
 * test_config.c — config/: the INI loader (cfg.h, CONFIG.md,
 * docs/configuration.md).
 *
 * Valid files are checked field by field; every error the loader knows is
 * checked for its return code and for the exact "NAME:LINE: [section] key:"
 * prefix of its one-line message, and for leaving nothing allocated. The two
 * shipped configs (config/flashsale.ini, config/flashsale-dpdk.ini) are
 * loaded from the source tree, found from __FILE__ (see source_file()).
 * Leaks are AddressSanitizer's to find: every successful load is cfg_free'd.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cfg.h"

#define NS FS_NS_PER_S
#define NOW_S 1700000000LL
#define NOW (NOW_S * NS)
#define ERR_LEN 512

static const uint8_t key16[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
static const uint8_t pay16[16] = { 0xf0, 0xe0, 0xd0, 0xc0, 0xb0, 0xa0, 0x90, 0x80,
				   0x70, 0x60, 0x50, 0x40, 0x30, 0x20, 0x10, 0x00 };

/* ---- helpers ---- */

static int load(const char *text, struct cfg *c, char *err)
{
	return cfg_load_string("t.ini", text, NOW, c, err, ERR_LEN);
}

static void assert_zeroed(const struct cfg *c)
{
	static const struct cfg zero;

	assert_memory_equal(c, &zero, sizeof zero);
}

/* text must fail with -EINVAL and a one-line message starting with prefix. */
static void expect_error(const char *text, const char *prefix)
{
	struct cfg c;
	char err[ERR_LEN];
	int rc = load(text, &c, err);

	if (rc != -EINVAL || strncmp(err, prefix, strlen(prefix)) != 0) {
		print_error("config:\n%s\nwant rc %d, prefix \"%s\"\ngot  rc %d, \"%s\"\n", text,
			    -EINVAL, prefix, rc, err);
		fail();
	}
	assert_null(strchr(err, '\n'));
	assert_zeroed(&c);
}

struct bad_case {
	const char *text;
	const char *prefix;
};

static void expect_errors(const struct bad_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		expect_error(cases[i].text, cases[i].prefix);
}

#define EXPECT_ERRORS(cases) expect_errors(cases, sizeof cases / sizeof cases[0])

/* Loads an activity whose start is `when` and returns start_ns. */
static int64_t start_of(const char *when)
{
	char text[256], err[ERR_LEN];
	struct cfg c;
	int64_t ns;

	snprintf(text, sizeof text, "[activity.1]\nstart = %s\nend = 4102444800\n", when);
	if (load(text, &c, err) != 0) {
		print_error("start = %s: %s\n", when, err);
		fail();
	}
	ns = c.activities[0].start_ns;
	cfg_free(&c);
	return ns;
}

/* Writes text to a fresh temporary file; the caller unlinks path. */
static void write_temp(char *path, size_t len, const void *text, size_t n)
{
	int fd;

	snprintf(path, len, "/tmp/test_config_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, n), (ssize_t)n);
	close(fd);
}

/* Strips the last path component of p in place ("." when none is left). */
static void up_one(char *p)
{
	char *slash = strrchr(p, '/');

	if (!slash)
		strcpy(p, ".");
	else if (slash == p)
		p[1] = '\0';
	else
		*slash = '\0';
}

static bool try_path(char *out, size_t len, const char *root, const char *rel)
{
	int n = snprintf(out, len, "%s/%s", root, rel);

	return n > 0 && (size_t)n < len && access(out, R_OK) == 0;
}

/*
 * Finds rel (e.g. "config/flashsale.ini") in the source tree. __FILE__ is
 * this file's path as the compiler saw it: absolute, or (meson) relative to
 * the build directory, e.g. "../tests/test_config.c". So the root is two
 * components up from __FILE__, taken as is (when cwd is the build dir, as
 * under meson test), or from the build dir found through /proc/self/exe
 * (<build>/tests/test_config), so the binary also runs from anywhere.
 * FLASHSALE_SOURCE_ROOT overrides all of that.
 */
static bool source_file(const char *rel, char *out, size_t len)
{
	char root[PATH_MAX], exe[PATH_MAX], both[2 * PATH_MAX + 2];
	const char *env = getenv("FLASHSALE_SOURCE_ROOT");
	ssize_t n;

	if (env && try_path(out, len, env, rel))
		return true;
	snprintf(root, sizeof root, "%s", __FILE__);
	up_one(root);
	up_one(root);
	if (try_path(out, len, root, rel))
		return true;
	if (root[0] == '/')
		return false;
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return false;
	exe[n] = '\0';
	up_one(exe); /* <build>/tests */
	up_one(exe); /* <build> */
	snprintf(both, sizeof both, "%s/%s", exe, root);
	return try_path(out, len, both, rel);
}

/* Runs cfg_log_summary with stderr sent to a file; returns what it wrote. */
static char *capture_summary(const struct cfg *c)
{
	FILE *tmp = tmpfile();
	int saved;
	long size;
	char *buf;

	assert_non_null(tmp);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	cfg_log_summary(c);
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	size = lseek(fileno(tmp), 0, SEEK_END); /* written through fd 2, not the FILE */
	assert_true(size > 0);
	buf = calloc(1, (size_t)size + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fileno(tmp), buf, (size_t)size, 0), size);
	fclose(tmp);
	return buf;
}

/* ---- valid files ---- */

static const char full_ini[] =
	"; every key, none at its default\n"
	"[appliance]\n"
	"mode = dpdk\n"
	"workers = 8\n"
	"eal = -l 0-8 -a 0000:3b:00.0 --in-memory\n"
	"idle_sleep_us = 250\n"
	"\n"
	"[net]\n"
	"address = 10.1.2.3\n"
	"udp_port = 9000\n"
	"http_port = 0\n"
	"ring_size = 8192\n"
	"\n"
	"[persist]\n"
	"dir = /var/lib/flashsale\n"
	"durability = batch\n"
	"snapshot_interval_s = 60\n"
	"sync_interval_ms = 5\n"
	"consumer_retention_mb = 128\n"
	"\n"
	"[limits]\n"
	"max_orders = 50000\n"
	"max_idempotency = 120000\n"
	"idempotency_retention_s = 3600\n"
	"per_ip_rate = 100\n"
	"per_ip_burst = 200\n"
	"per_user_rate = 5\n"
	"per_user_burst = 10\n"
	"\n"
	"[admin]\n"
	"key = 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n"
	"\n"
	"[activity.7]\n"
	"name = Spring sale\n"
	"start = 2026-03-01T10:00:00Z\n"
	"end = 2026-03-01T14:00:00+02:00\n"
	"require_token = yes\n"
	"token_key = 000102030405060708090a0b0c0d0e0f\n"
	"payment_key = f0e0d0c0b0a090807060504030201000\n"
	"pay_timeout_s = 600\n"
	"\n"
	"[item.42]\n"
	"activity = 7\n"
	"total = 1000\n"
	"price_cents = 4999\n"
	"per_user_limit = 3\n"
	"max_per_order = 2\n";

static void check_full_globals(const struct cfg *c)
{
	uint8_t admin[32];

	assert_string_equal(c->path, "t.ini");
	assert_int_equal(c->mode, CFG_MODE_DPDK);
	assert_int_equal(c->workers, 8);
	assert_string_equal(c->eal, "-l 0-8 -a 0000:3b:00.0 --in-memory");
	assert_int_equal(c->idle_sleep_us, 250);
	assert_string_equal(c->address_str, "10.1.2.3");
	assert_int_equal(c->address.s_addr, htonl(0x0a010203));
	assert_int_equal(c->udp_port, 9000);
	assert_int_equal(c->http_port, 0);
	assert_int_equal(c->ring_size, 8192);
	assert_string_equal(c->persist_dir, "/var/lib/flashsale");
	assert_int_equal(c->durability, CFG_DUR_BATCH);
	assert_int_equal(c->snapshot_interval_s, 60);
	assert_int_equal(c->sync_interval_ms, 5);
	assert_int_equal(c->consumer_retention_mb, 128);
	assert_int_equal(c->max_orders, 50000);
	assert_int_equal(c->max_idempotency, 120000);
	assert_int_equal(c->idempotency_retention_s, 3600);
	assert_int_equal(c->per_ip_rate, 100);
	assert_int_equal(c->per_ip_burst, 200);
	assert_int_equal(c->per_user_rate, 5);
	assert_int_equal(c->per_user_burst, 10);
	assert_true(c->admin_enabled);
	for (int i = 0; i < 32; i++)
		admin[i] = (uint8_t)i;
	assert_memory_equal(c->admin_key, admin, 32);
}

static void test_cfg_load_string_full_config_every_field(void **state)
{
	struct cfg c;
	char err[ERR_LEN];
	(void)state;

	assert_int_equal(load(full_ini, &c, err), 0);
	assert_string_equal(err, "");
	check_full_globals(&c);
	assert_int_equal(c.n_activities, 1);
	assert_int_equal(c.activities[0].id, 7);
	assert_string_equal(c.activities[0].name, "Spring sale");
	assert_int_equal(c.activities[0].start_ns, 1772359200LL * NS);
	assert_int_equal(c.activities[0].end_ns, (1772359200LL + 7200) * NS);
	assert_true(c.activities[0].require_token);
	assert_memory_equal(c.activities[0].token_key, key16, 16);
	assert_true(c.activities[0].has_payment_key);
	assert_memory_equal(c.activities[0].payment_key, pay16, 16);
	assert_int_equal(c.activities[0].pay_timeout_s, 600);
	assert_int_equal(c.n_items, 1);
	assert_int_equal(c.items[0].id, 42);
	assert_int_equal(c.items[0].activity_id, 7);
	assert_int_equal(c.items[0].total, 1000);
	assert_int_equal(c.items[0].price_cents, 4999);
	assert_int_equal(c.items[0].per_user_limit, 3);
	assert_int_equal(c.items[0].max_per_order, 2);
	assert_int_equal(c.items[0].activity_index, 0);
	cfg_free(&c);
	assert_zeroed(&c);
}

static void test_cfg_load_string_empty_file_gives_defaults(void **state)
{
	struct cfg c;
	char err[ERR_LEN];
	(void)state;

	assert_int_equal(load("", &c, err), 0);
	assert_int_equal(c.mode, CFG_MODE_KERNEL);
	assert_int_equal(c.workers, 2);
	assert_string_equal(c.eal, "");
	assert_int_equal(c.idle_sleep_us, 100000);
	assert_string_equal(c.address_str, "127.0.0.1");
	assert_int_equal(c.address.s_addr, htonl(0x7f000001));
	assert_int_equal(c.udp_port, 7700);
	assert_int_equal(c.http_port, 8080);
	assert_int_equal(c.ring_size, FS_RING_SIZE_DEFAULT);
	assert_string_equal(c.persist_dir, "var/flashsale");
	assert_int_equal(c.durability, CFG_DUR_SYNC);
	assert_int_equal(c.snapshot_interval_s, 30);
	assert_int_equal(c.sync_interval_ms, 10);
	assert_int_equal(c.consumer_retention_mb, 4096);
	assert_int_equal(c.max_orders, 1000000);
	assert_int_equal(c.max_idempotency, 2000000);
	assert_int_equal(c.idempotency_retention_s, 600);
	assert_int_equal(c.per_ip_rate, 0);
	assert_int_equal(c.per_ip_burst, 0);
	assert_int_equal(c.per_user_rate, 0);
	assert_int_equal(c.per_user_burst, 0);
	assert_false(c.admin_enabled);
	assert_int_equal(c.n_activities, 0);
	assert_null(c.activities);
	assert_int_equal(c.n_items, 0);
	assert_null(c.items);
	cfg_free(&c);
}

static void test_cfg_load_string_empty_sections_give_defaults(void **state)
{
	struct cfg c;
	char err[ERR_LEN];
	(void)state;

	assert_int_equal(load("[appliance]\n[net]\n[persist]\n[limits]\n[admin]\n", &c, err), 0);
	assert_int_equal(c.workers, 2);
	assert_int_equal(c.udp_port, 7700);
	assert_false(c.admin_enabled);
	cfg_free(&c);
}

static void test_cfg_load_string_activity_and_item_defaults(void **state)
{
	struct cfg c;
	char err[ERR_LEN];
	(void)state;

	assert_int_equal(load("[activity.9]\nstart = now\nend = now+1h\n"
			      "[item.3]\nactivity = 9\ntotal = 0\n",
			      &c, err),
			 0);
	assert_string_equal(c.activities[0].name, "activity 9");
	assert_false(c.activities[0].require_token);
	assert_false(c.activities[0].has_payment_key);
	assert_int_equal(c.activities[0].pay_timeout_s, 900);
	assert_int_equal(c.items[0].total, 0);
	assert_int_equal(c.items[0].price_cents, 0);
	assert_int_equal(c.items[0].per_user_limit, 1);
	assert_int_equal(c.items[0].max_per_order, 1);
	cfg_free(&c);
}

static void test_cfg_load_string_bursts_default_to_rates(void **state)
{
	struct cfg c;
	char err[ERR_LEN];
	(void)state;

	assert_int_equal(load("[limits]\nper_ip_rate = 50\nper_user_rate = 3\n", &c, err), 0);
	assert_int_equal(c.per_ip_burst, 50);
	assert_int_equal(c.per_user_burst, 3);
	cfg_free(&c);
	/* a burst with its rate off is accepted and kept */
	assert_int_equal(load("[limits]\nper_ip_burst = 7\nper_user_burst = 0\n", &c, err), 0);
	assert_int_equal(c.per_ip_rate, 0);
	assert_int_equal(c.per_ip_burst, 7);
	assert_int_equal(c.per_user_burst, 0);
	cfg_free(&c);
}

static void test_cfg_load_string_max_idempotency_defaults_to_twice_max_orders(void **state)
{
	struct cfg c;
	char err[ERR_LEN];
	(void)state;

	assert_int_equal(load("[limits]\nmax_orders = 1000000000\n", &c, err), 0);
	assert_int_equal(c.max_idempotency, 2000000000ULL);
	cfg_free(&c);
	assert_int_equal(load("[limits]\nmax_orders = 10\nmax_idempotency = 10\n", &c, err), 0);
	assert_int_equal(c.max_idempotency, 10);
	cfg_free(&c);
}

static void test_cfg_load_string_iso_times(void **state)
{
	(void)state;
	assert_int_equal(start_of("2026-11-11T00:00:00Z"), 1794355200LL * NS);
	assert_int_equal(start_of("2026-11-11T00:00:00+08:00"), (1794355200LL - 8 * 3600) * NS);
	assert_int_equal(start_of("2026-11-11T00:00:00-05:30"), (1794355200LL + 19800) * NS);
	assert_int_equal(start_of("2026-11-11 00:00:00+00:00"), 1794355200LL * NS);
	assert_int_equal(start_of("2028-02-29T23:59:59Z"), 1835481599LL * NS);
	assert_int_equal(start_of("1970-01-01T00:00:00Z"), 0);
}

static void test_cfg_load_string_unix_seconds(void **state)
{
	(void)state;
	assert_int_equal(start_of("1794355200"), 1794355200LL * NS);
	assert_int_equal(start_of("0"), 0);
}

static void test_cfg_load_string_relative_times(void **state)
{
	(void)state;
	assert_int_equal(start_of("now"), NOW);
	assert_int_equal(start_of("now+30s"), NOW + 30 * NS);
	assert_int_equal(start_of("now-5m"), NOW - 300 * NS);
	assert_int_equal(start_of("now+2h"), NOW + 7200 * NS);
	assert_int_equal(start_of("now+1d"), NOW + 86400 * NS);
	assert_int_equal(start_of("now+45"), NOW + 45 * NS);
	assert_int_equal(start_of("now + 10 s"), NOW + 10 * NS);
}

static void test_cfg_load_string_comments_blanks_and_crlf(void **state)
{
	struct cfg c;
	char err[ERR_LEN];
	(void)state;

	assert_int_equal(load("# hash comment\r\n"
			      "  ; indented comment\r\n"
			      "\r\n"
			      "  [ appliance ]   ; comment after a header\r\n"
			      "\tworkers\t=\t4\t; four\r\n"
			      "eal = --vdev=net_memif0,role=server;x\r\n"
			      "[activity.1]\r\n"
			      "name =   Lot #7 ;the name ends before this\r\n"
			      "start = now ; a comment\r\n"
			      "end = now+1h\r\n",
			      &c, err),
			 0);
	assert_int_equal(c.workers, 4);
	assert_string_equal(c.eal, "--vdev=net_memif0,role=server;x");
	assert_string_equal(c.activities[0].name, "Lot #7");
	assert_int_equal(c.activities[0].start_ns, NOW);
	cfg_free(&c);
}

static void test_cfg_load_string_words_ignore_case(void **state)
{
	struct cfg c;
	char err[ERR_LEN];
	(void)state;

	assert_int_equal(load("[appliance]\nmode = DPDK\n[persist]\ndurability = None\n"
			      "[activity.1]\nstart = now\nend = now+1s\nrequire_token = On\n"
			      "token_key = 000102030405060708090A0B0C0D0E0F\n",
			      &c, err),
			 0);
	assert_int_equal(c.mode, CFG_MODE_DPDK);
	assert_int_equal(c.durability, CFG_DUR_NONE);
	assert_true(c.activities[0].require_token);
	assert_memory_equal(c.activities[0].token_key, key16, 16);
	cfg_free(&c);
}

static void test_cfg_load_string_bools(void **state)
{
	static const char *const words[] = { "yes", "no", "true", "false", "1", "0", "on", "off" };
	char text[128], err[ERR_LEN];
	struct cfg c;
	(void)state;

	for (int i = 0; i < 8; i++) {
		snprintf(text, sizeof text,
			 "[activity.1]\nstart=now\nend=now+1s\nrequire_token=%s\n"
			 "token_key=000102030405060708090a0b0c0d0e0f\n",
			 words[i]);
		assert_int_equal(load(text, &c, err), 0);
		assert_int_equal(c.activities[0].require_token, i % 2 == 0);
		cfg_free(&c);
	}
}

static void test_cfg_load_string_long_name_truncated_on_utf8_boundary(void **state)
{
	char text[512], name[200], err[ERR_LEN];
	struct cfg c;
	size_t n;
	(void)state;

	/* 62 ASCII bytes then "é" (2 bytes) crosses the 63-byte limit */
	memset(name, 'a', 62);
	strcpy(name + 62, "\xc3\xa9tail");
	snprintf(text, sizeof text, "[activity.1]\nname = %s\nstart = now\nend = now+1s\n", name);
	assert_int_equal(load(text, &c, err), 0);
	n = strlen(c.activities[0].name);
	assert_int_equal(n, 62);
	assert_memory_equal(c.activities[0].name, name, 62);
	cfg_free(&c);
	/* plain ASCII keeps FS_NAME_MAX - 1 bytes */
	memset(name, 'b', 150);
	name[150] = '\0';
	snprintf(text, sizeof text, "[activity.1]\nname = %s\nstart = now\nend = now+1s\n", name);
	assert_int_equal(load(text, &c, err), 0);
	assert_int_equal(strlen(c.activities[0].name), FS_NAME_MAX - 1);
	cfg_free(&c);
}

static void test_cfg_load_string_keeps_file_order_and_links_items(void **state)
{
	struct cfg c;
	char err[ERR_LEN];
	(void)state;

	/* items may name an activity that comes later in the file */
	assert_int_equal(load("[item.20]\nactivity = 1\ntotal = 5\n"
			      "[activity.3]\nstart = now\nend = now+1h\n"
			      "[item.10]\nactivity = 3\ntotal = 6\n"
			      "[activity.1]\nstart = now\nend = now+2h\n"
			      "[item.4294967295]\nactivity = 3\ntotal = 7\n",
			      &c, err),
			 0);
	assert_int_equal(c.n_activities, 2);
	assert_int_equal(c.activities[0].id, 3);
	assert_int_equal(c.activities[1].id, 1);
	assert_int_equal(c.n_items, 3);
	assert_int_equal(c.items[0].id, 20);
	assert_int_equal(c.items[0].activity_index, 1);
	assert_int_equal(c.items[1].id, 10);
	assert_int_equal(c.items[1].activity_index, 0);
	assert_int_equal(c.items[2].id, 4294967295u);
	assert_int_equal(c.items[2].activity_index, 0);
	cfg_free(&c);
}

static void test_cfg_load_string_many_items(void **state)
{
	const unsigned n = 3000;
	size_t cap = 64 + n * 48, used;
	char *text = malloc(cap), err[ERR_LEN];
	struct cfg c;
	(void)state;

	assert_non_null(text);
	used = (size_t)snprintf(text, cap, "[activity.1]\nstart = now\nend = now+1h\n");
	for (unsigned i = 0; i < n; i++)
		used += (size_t)snprintf(text + used, cap - used,
					 "[item.%u]\nactivity = 1\ntotal = 10\n", 5000 - i);
	assert_int_equal(load(text, &c, err), 0);
	assert_int_equal(c.n_items, n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(c.items[i].id, 5000 - i);
	assert_ptr_equal(cfg_find_item(&c, 4000), &c.items[1000]);
	cfg_free(&c);
	free(text);
}

static void test_cfg_load_string_line_of_exactly_4096_bytes(void **state)
{
	char text[5000], err[ERR_LEN];
	struct cfg c;
	(void)state;

	strcpy(text, "[net]\n; ");
	memset(text + 8, 'x', 4096 - 2);
	text[8 + 4094] = '\0';
	strcat(text, "\nudp_port = 1\n");
	assert_int_equal(load(text, &c, err), 0);
	assert_int_equal(c.udp_port, 1);
	cfg_free(&c);
}

/* ---- errors ---- */

static void test_cfg_load_string_rejects_unknown_section(void **state)
{
	static const struct bad_case cases[] = {
		{ "[foo]\n", "t.ini:1: [foo]: unknown section" },
		{ "[net]\n[Net]\n", "t.ini:2: [Net]: unknown section" },
		{ "\n[items.1]\n", "t.ini:2: [items.1]: unknown section" },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_rejects_unknown_key(void **state)
{
	static const struct bad_case cases[] = {
		{ "[net]\nudp_prot = 1\n", "t.ini:2: [net] udp_prot: unknown key" },
		{ "[activity.1]\nstart = now\nend = now+1s\ntotal = 3\n",
		  "t.ini:4: [activity.1] total: unknown key" },
		{ "[item.1]\nname = x\n", "t.ini:2: [item.1] name: unknown key" },
		{ "[admin]\nkey2 = 1\n", "t.ini:2: [admin] key2: unknown key" },
		{ "[net]\nworkers = 2\n",
		  "t.ini:2: [net] workers: unknown key here (it belongs in [appliance])" },
		{ "[activity.1]\nper_user_limit = 2\n",
		  "t.ini:2: [activity.1] per_user_limit: unknown key here (it belongs in [item.N])" },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_rejects_duplicate_key(void **state)
{
	static const struct bad_case cases[] = {
		{ "[net]\nudp_port = 1\nudp_port = 2\n",
		  "t.ini:3: [net] udp_port: duplicate key (first at line 2)" },
		{ "[item.1]\nactivity = 1\ntotal = 1\ntotal = 1\n",
		  "t.ini:4: [item.1] total: duplicate key" },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_rejects_duplicate_section(void **state)
{
	static const struct bad_case cases[] = {
		{ "[net]\n\n[net]\n", "t.ini:3: [net]: duplicate section (first at line 1)" },
		{ "[activity.1]\nstart=now\nend=now+1s\n[activity.2]\nstart=now\nend=now+1s\n"
		  "[activity.1]\n",
		  "t.ini:7: [activity.1]: duplicate section (first at line 1)" },
		{ "[activity.1]\nstart=now\nend=now+1s\n[item.5]\nactivity=1\ntotal=1\n"
		  "[item.6]\nactivity=1\ntotal=1\n[item.5]\nactivity=1\ntotal=1\n",
		  "t.ini:10: [item.5]: duplicate section (first at line 4)" },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_rejects_bad_numbers(void **state)
{
	static const struct bad_case cases[] = {
		{ "[appliance]\nworkers = two\n", "t.ini:2: [appliance] workers: not a whole number" },
		{ "[appliance]\nworkers = 0\n", "t.ini:2: [appliance] workers: 0 is out of range 1..64" },
		{ "[appliance]\nworkers = 65\n", "t.ini:2: [appliance] workers: 65 is out of range" },
		{ "[appliance]\nworkers = -1\n", "t.ini:2: [appliance] workers: not a whole number" },
		{ "[appliance]\nworkers = 2.5\n", "t.ini:2: [appliance] workers: not a whole number" },
		{ "[appliance]\nworkers = 4 # four\n", "t.ini:2: [appliance] workers: not a whole" },
		{ "[appliance]\nworkers =\n", "t.ini:2: [appliance] workers: the value is missing" },
		{ "[appliance]\nidle_sleep_us = 1000001\n", "t.ini:2: [appliance] idle_sleep_us: " },
		{ "[net]\nudp_port = 0\n", "t.ini:2: [net] udp_port: 0 is out of range 1..65535" },
		{ "[net]\nudp_port = 65536\n", "t.ini:2: [net] udp_port: 65536 is out of range" },
		{ "[net]\nhttp_port = 99999999999999999999999\n", "t.ini:2: [net] http_port: " },
		{ "[net]\nring_size = 1000\n", "t.ini:2: [net] ring_size: 1000 is not a power of two" },
		{ "[net]\nring_size = 32\n", "t.ini:2: [net] ring_size: 32 is out of range" },
		{ "[net]\nring_size = 2097152\n", "t.ini:2: [net] ring_size: 2097152 is out of" },
		{ "[persist]\nsnapshot_interval_s = 86401\n", "t.ini:2: [persist] snapshot_interval_s: " },
		{ "[persist]\nsync_interval_ms = 0\n", "t.ini:2: [persist] sync_interval_ms: " },
		{ "[persist]\nconsumer_retention_mb = 1048577\n", "t.ini:2: [persist] consumer_retention_mb: " },
		{ "[limits]\nmax_orders = 0\n", "t.ini:2: [limits] max_orders: 0 is out of range" },
		{ "[limits]\nmax_orders = 1000000001\n", "t.ini:2: [limits] max_orders: " },
		{ "[limits]\nmax_idempotency = 4000000001\n", "t.ini:2: [limits] max_idempotency: " },
		{ "[limits]\nidempotency_retention_s = 599\n",
		  "t.ini:2: [limits] idempotency_retention_s: 599 is out of range 600..604800" },
		{ "[limits]\nper_ip_rate = 100000001\n", "t.ini:2: [limits] per_ip_rate: " },
		{ "[limits]\nper_user_burst = x\n", "t.ini:2: [limits] per_user_burst: " },
		{ "[activity.1]\npay_timeout_s = 0\n", "t.ini:2: [activity.1] pay_timeout_s: " },
		{ "[activity.1]\npay_timeout_s = 86401\n", "t.ini:2: [activity.1] pay_timeout_s: " },
		{ "[item.1]\ntotal = 2147483648\n", "t.ini:2: [item.1] total: 2147483648 is out of" },
		{ "[item.1]\nactivity = 0\n", "t.ini:2: [item.1] activity: 0 is out of range" },
		{ "[item.1]\nactivity = 4294967296\n", "t.ini:2: [item.1] activity: " },
		{ "[item.1]\nper_user_limit = 0\n", "t.ini:2: [item.1] per_user_limit: " },
		{ "[item.1]\nper_user_limit = 1000001\n", "t.ini:2: [item.1] per_user_limit: " },
		{ "[item.1]\nmax_per_order = 65536\n", "t.ini:2: [item.1] max_per_order: " },
		{ "[item.1]\nprice_cents = -5\n", "t.ini:2: [item.1] price_cents: not a whole" },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_rejects_bad_hex(void **state)
{
	static const struct bad_case cases[] = {
		{ "[admin]\nkey = 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1\n",
		  "t.ini:2: [admin] key: must be exactly 64 hex digits" },
		{ "[admin]\nkey = g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
		  "t.ini:2: [admin] key: character 1 is not a hex digit" },
		{ "[admin]\nkey =\n", "t.ini:2: [admin] key: the value is missing" },
		{ "[activity.1]\ntoken_key = 000102030405060708090a0b0c0d0e\n",
		  "t.ini:2: [activity.1] token_key: must be exactly 32 hex digits" },
		{ "[activity.1]\ntoken_key = 000102030405060708090a0b0c0d0e0f00\n",
		  "t.ini:2: [activity.1] token_key: must be exactly 32 hex digits" },
		{ "[activity.1]\npayment_key = f0e0d0c0b0a09080706050403020100z\n",
		  "t.ini:2: [activity.1] payment_key: character 32 is not a hex digit" },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_rejects_bad_bool_and_enum(void **state)
{
	static const struct bad_case cases[] = {
		{ "[activity.1]\nrequire_token = maybe\n",
		  "t.ini:2: [activity.1] require_token: must be yes or no" },
		{ "[activity.1]\nrequire_token = 2\n", "t.ini:2: [activity.1] require_token: " },
		{ "[appliance]\nmode = xdp\n",
		  "t.ini:2: [appliance] mode: must be one of kernel | dpdk, not 'xdp'" },
		{ "[persist]\ndurability = fsync\n",
		  "t.ini:2: [persist] durability: must be one of sync | batch | none" },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_rejects_bad_ipv4(void **state)
{
	static const struct bad_case cases[] = {
		{ "[net]\naddress = 10.0.0\n", "t.ini:2: [net] address: not an IPv4 address" },
		{ "[net]\naddress = 256.1.1.1\n", "t.ini:2: [net] address: not an IPv4 address" },
		{ "[net]\naddress = localhost\n", "t.ini:2: [net] address: not an IPv4 address" },
		{ "[net]\naddress = ::1\n", "t.ini:2: [net] address: not an IPv4 address" },
		{ "[net]\naddress = 1.2.3.4 5\n", "t.ini:2: [net] address: not an IPv4 address" },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_replication(void **state)
{
	static const struct bad_case cases[] = {
		{ "[replication]\nrole = backup\n",
		  "t.ini:2: [replication] role: must be one of primary | standby" },
		{ "[replication]\nrole = standby\n",
		  "t.ini:2: [replication] primary: role = standby needs primary = address:port" },
		{ "[replication]\nprimary = 10.0.0.1:7\n",
		  "t.ini:2: [replication] primary: only a standby follows a primary" },
		{ "[replication]\nrole = standby\nprimary = 10.0.0.1\n",
		  "t.ini:3: [replication] primary: expected address:port" },
		{ "[replication]\nrole = standby\nprimary = 10.0.0:7\n",
		  "t.ini:3: [replication] primary: not an IPv4 address:port" },
		{ "[replication]\nlisten = 10.0.0.1:70000\n",
		  "t.ini:2: [replication] listen: bad port" },
		{ "[replication]\nlisten = x\n", "t.ini:2: [replication] listen: bad port" },
		{ "[replication]\nack = standby\n",
		  "t.ini:2: [replication] ack: ack = standby needs listen" },
		{ "[replication]\nack = remote\n",
		  "t.ini:2: [replication] ack: must be one of local | standby" },
		{ "[replication]\nstandby_timeout_ms = 0\n",
		  "t.ini:2: [replication] standby_timeout_ms: 0 is out of range" },
		{ "[replication]\non_standby_loss = drop\n",
		  "t.ini:2: [replication] on_standby_loss: must be one of wait | degrade" },
	};
	struct cfg c;
	char err[ERR_LEN];

	(void)state;
	EXPECT_ERRORS(cases);
	assert_int_equal(load("", &c, err), 0);
	assert_int_equal(c.repl_role, CFG_ROLE_PRIMARY);
	assert_int_equal(c.repl_listen_port, 0);
	assert_int_equal(c.repl_ack, CFG_ACK_LOCAL);
	assert_int_equal(c.repl_standby_timeout_ms, 1000);
	assert_int_equal(c.repl_on_loss, CFG_LOSS_WAIT);
	cfg_free(&c);
	assert_int_equal(load("[net]\naddress = 10.9.8.7\n[replication]\nlisten = 7800\n"
			      "ack = standby\non_standby_loss = degrade\n", &c, err), 0);
	assert_int_equal(c.repl_listen_port, 7800);
	assert_int_equal(c.repl_listen.s_addr, c.address.s_addr);
	assert_int_equal(c.repl_ack, CFG_ACK_STANDBY);
	assert_int_equal(c.repl_on_loss, CFG_LOSS_DEGRADE);
	cfg_free(&c);
	assert_int_equal(load("[replication]\nrole = standby\nprimary = 10.1.2.3:7801\n"
			      "listen = 0.0.0.0:7802\n", &c, err), 0);
	assert_int_equal(c.repl_role, CFG_ROLE_STANDBY);
	assert_int_equal(c.repl_primary_port, 7801);
	assert_int_equal(ntohl(c.repl_primary.s_addr), 0x0a010203);
	assert_string_equal(c.repl_primary_str, "10.1.2.3:7801");
	assert_int_equal(c.repl_listen_port, 7802);
	assert_int_equal(c.repl_listen.s_addr, 0);
	cfg_free(&c);
}

static void test_cfg_load_string_rejects_bad_times(void **state)
{
	static const struct bad_case cases[] = {
		{ "[activity.1]\nstart = tomorrow\n", "t.ini:2: [activity.1] start: bad time" },
		{ "[activity.1]\nstart = 2026-13-01T00:00:00Z\n",
		  "t.ini:2: [activity.1] start: bad time '2026-13-01T00:00:00Z': month out of range" },
		{ "[activity.1]\nstart = 2026-02-29T00:00:00Z\n",
		  "t.ini:2: [activity.1] start: bad time '2026-02-29T00:00:00Z': day out of range" },
		{ "[activity.1]\nstart = 2026-11-11T24:00:00Z\n", "t.ini:2: [activity.1] start: bad" },
		{ "[activity.1]\nstart = 2026-11-11T00:00:00\n",
		  "t.ini:2: [activity.1] start: bad time '2026-11-11T00:00:00': the time needs a zone" },
		{ "[activity.1]\nstart = 2026-11-11T00:00:00.5Z\n",
		  "t.ini:2: [activity.1] start: bad time '2026-11-11T00:00:00.5Z': fractional" },
		{ "[activity.1]\nstart = 2026-11-11T00:00:00+0800\n", "t.ini:2: [activity.1] start: " },
		{ "[activity.1]\nstart = 2026-11-11T00:00:00+24:00\n", "t.ini:2: [activity.1] start: " },
		{ "[activity.1]\nstart = 2026-11-11T00:00:00Zjunk\n", "t.ini:2: [activity.1] start: " },
		{ "[activity.1]\nstart = 2026-1-11T00:00:00Z\n", "t.ini:2: [activity.1] start: bad" },
		{ "[activity.1]\nstart = 1969-12-31T23:59:59Z\n",
		  "t.ini:2: [activity.1] start: bad time '1969-12-31T23:59:59Z': the time is before" },
		{ "[activity.1]\nend = now+5w\n", "t.ini:2: [activity.1] end: bad time 'now+5w'" },
		{ "[activity.1]\nend = now+\n", "t.ini:2: [activity.1] end: bad time 'now+'" },
		{ "[activity.1]\nend = now*2\n", "t.ini:2: [activity.1] end: bad time" },
		{ "[activity.1]\nend = nowadays\n", "t.ini:2: [activity.1] end: bad time" },
		{ "[activity.1]\nend = now-100000d\n", "t.ini:2: [activity.1] end: bad time" },
		{ "[activity.1]\nend = now+999999999999999d\n", "t.ini:2: [activity.1] end: bad" },
		{ "[activity.1]\nend = 99999999999\n", "t.ini:2: [activity.1] end: bad time" },
		{ "[activity.1]\nend = 99999999999999999999999\n", "t.ini:2: [activity.1] end: bad" },
		{ "[activity.1]\nend =\n", "t.ini:2: [activity.1] end: the value is missing" },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_rejects_bad_section_id(void **state)
{
	static const struct bad_case cases[] = {
		{ "[item.0]\n", "t.ini:1: [item.0]: bad section id" },
		{ "[item.x]\n", "t.ini:1: [item.x]: bad section id" },
		{ "[item.]\n", "t.ini:1: [item.]: bad section id" },
		{ "[item]\n", "t.ini:1: [item]: bad section id" },
		{ "[item.-1]\n", "t.ini:1: [item.-1]: bad section id" },
		{ "[item.01]\n", "t.ini:1: [item.01]: bad section id" },
		{ "[item.1x]\n", "t.ini:1: [item.1x]: bad section id" },
		{ "\n[activity.4294967296]\n", "t.ini:2: [activity.4294967296]: bad section id" },
		{ "[activity.0]\n", "t.ini:1: [activity.0]: bad section id" },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_rejects_malformed_lines(void **state)
{
	static const struct bad_case cases[] = {
		{ "[net]\nudp_port 7700\n", "t.ini:2: [net]: expected [section] or key = value" },
		{ "[net]\n= 7700\n", "t.ini:2: [net]: expected [section] or key = value" },
		{ "hello\n", "t.ini:1: expected [section] or key = value" },
		{ "workers = 2\n", "t.ini:1: workers: key outside any section" },
		{ "[net\n", "t.ini:1: section header without a closing ']'" },
		{ "[net] udp_port = 1\n", "t.ini:1: [net]: unexpected text after ']'" },
		{ "[net]\n[]\n", "t.ini:2: []: unknown section" },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_rejects_bad_strings(void **state)
{
	char text[2200];
	(void)state;

	expect_error("[activity.1]\nname =\n", "t.ini:2: [activity.1] name: must not be empty");
	expect_error("[persist]\ndir = ; nothing\n", "t.ini:2: [persist] dir: must not be empty");
	strcpy(text, "[appliance]\neal = ");
	memset(text + strlen(text), 'x', FS_EAL_ARGS_MAX);
	strcpy(text + strlen("[appliance]\neal = ") + FS_EAL_ARGS_MAX, "\n");
	expect_error(text, "t.ini:2: [appliance] eal: longer than 1023 bytes");
	strcpy(text, "[persist]\ndir = ");
	memset(text + strlen(text), 'd', FS_PATH_MAX);
	strcpy(text + strlen("[persist]\ndir = ") + FS_PATH_MAX, "\n");
	expect_error(text, "t.ini:2: [persist] dir: longer than 1023 bytes");
}

static void test_cfg_load_string_rejects_long_line(void **state)
{
	char text[6000];
	(void)state;

	strcpy(text, "[net]\n\n; ");
	memset(text + 9, 'x', 4095);
	strcpy(text + 9 + 4095, "\n");
	expect_error(text, "t.ini:3: [net]: line longer than 4096 bytes");
	strcpy(text, "name = ");
	memset(text + 7, 'y', 5000);
	text[7 + 5000] = '\0';
	expect_error(text, "t.ini:1: line longer than 4096 bytes");
}

static void test_cfg_load_string_rejects_missing_required_keys(void **state)
{
	static const struct bad_case cases[] = {
		{ "[activity.1]\nend = now+1h\n", "t.ini:1: [activity.1] start: missing" },
		{ "\n[activity.1]\nstart = now\n", "t.ini:2: [activity.1] end: missing" },
		{ "[activity.1]\nstart = now\nend = now+1h\nrequire_token = yes\n",
		  "t.ini:1: [activity.1] token_key: missing (required when require_token is yes)" },
		{ "[activity.1]\nstart = now\nend = now+1h\n[item.2]\ntotal = 1\n",
		  "t.ini:4: [item.2] activity: missing" },
		{ "[activity.1]\nstart = now\nend = now+1h\n[item.2]\nactivity = 1\n",
		  "t.ini:4: [item.2] total: missing" },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_rejects_item_without_activity(void **state)
{
	static const struct bad_case cases[] = {
		{ "[activity.1]\nstart = now\nend = now+1h\n[item.2]\ntotal = 1\nactivity = 3\n",
		  "t.ini:6: [item.2] activity: no [activity.3] in this file" },
		{ "[item.2]\nactivity = 1\ntotal = 1\n",
		  "t.ini:2: [item.2] activity: no [activity.1] in this file" },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_rejects_end_not_after_start(void **state)
{
	static const struct bad_case cases[] = {
		{ "[activity.1]\nend = 2026-11-11T00:00:00Z\nstart = 2026-11-11T08:00:00+08:00\n",
		  "t.ini:2: [activity.1] end: 2026-11-11T00:00:00Z is not after start "
		  "2026-11-11T00:00:00Z" },
		{ "[activity.1]\nstart = now\nend = now-1s\n", "t.ini:3: [activity.1] end: " },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_rejects_max_per_order_above_limit(void **state)
{
	(void)state;
	expect_error("[activity.1]\nstart = now\nend = now+1h\n"
		     "[item.2]\nactivity = 1\ntotal = 1\nmax_per_order = 3\nper_user_limit = 2\n",
		     "t.ini:7: [item.2] max_per_order: 3 is more than per_user_limit 2");
}

static void test_cfg_load_string_rejects_stock_over_max_orders(void **state)
{
	static const struct bad_case cases[] = {
		/* max_orders given: blame it */
		{ "[activity.1]\nstart = now\nend = now+1h\n"
		  "[item.2]\nactivity = 1\ntotal = 60\n"
		  "[limits]\nmax_orders = 100\n"
		  "[item.3]\nactivity = 1\ntotal = 50\n",
		  "t.ini:8: [limits] max_orders: 100 is less than the 110 units" },
		/* the default: blame the total that went over */
		{ "[activity.1]\nstart = now\nend = now+1h\n"
		  "[item.2]\nactivity = 1\ntotal = 600000\n"
		  "[item.3]\nactivity = 1\ntotal = 400000\n"
		  "[item.4]\nactivity = 1\ntotal = 1\n"
		  "[item.5]\nactivity = 1\ntotal = 1\n",
		  "t.ini:12: [item.4] total: the items' stock reaches 1000001 units" },
	};
	(void)state;
	EXPECT_ERRORS(cases);
}

static void test_cfg_load_string_rejects_max_idempotency_below_max_orders(void **state)
{
	(void)state;
	expect_error("[limits]\nmax_idempotency = 999\nmax_orders = 1000\n",
		     "t.ini:2: [limits] max_idempotency: 999 is less than max_orders = 1000");
	expect_error("[limits]\nmax_idempotency = 999999\n",
		     "t.ini:2: [limits] max_idempotency: 999999 is less than max_orders");
}

static void test_cfg_load_string_rejects_zero_burst_under_rate(void **state)
{
	(void)state;
	expect_error("[limits]\nper_ip_rate = 10\nper_ip_burst = 0\n",
		     "t.ini:3: [limits] per_ip_burst: must be at least 1 when per_ip_rate");
	expect_error("[limits]\nper_user_burst = 0\nper_user_rate = 10\n",
		     "t.ini:2: [limits] per_user_burst: must be at least 1");
}

static void test_cfg_load_string_rejects_too_many_activities(void **state)
{
	size_t cap = (FS_ACTIVITIES_MAX + 1) * 64, used = 0;
	char *text = malloc(cap), prefix[64];
	(void)state;

	assert_non_null(text);
	for (unsigned i = 1; i <= FS_ACTIVITIES_MAX + 1; i++)
		used += (size_t)snprintf(text + used, cap - used,
					 "[activity.%u]\nstart = now\nend = now+1h\n", i);
	snprintf(prefix, sizeof prefix, "t.ini:%u: [activity.%u]: too many",
		 FS_ACTIVITIES_MAX * 3 + 1, FS_ACTIVITIES_MAX + 1);
	expect_error(text, prefix);
	free(text);
}

static void test_cfg_load_string_first_error_wins(void **state)
{
	(void)state;
	expect_error("[net]\nudp_port = 0\nhttp_port = x\n[bogus]\n",
		     "t.ini:2: [net] udp_port: ");
}

static void test_cfg_load_string_control_characters_stay_on_one_line(void **state)
{
	(void)state;
	expect_error("[net]\naddress = 1.2.3.4\r5\n", "t.ini:2: [net] address: ");
	expect_error("[net]\r\nbogus\rkey = 1\r\n", "t.ini:2: [net] bogus?key: unknown key");
}

static void test_cfg_load_string_small_or_no_error_buffer(void **state)
{
	struct cfg c;
	char err[12];
	(void)state;

	memset(err, 'z', sizeof err);
	assert_int_equal(cfg_load_string("t.ini", "[foo]\n", NOW, &c, err, sizeof err), -EINVAL);
	assert_int_equal(strlen(err), sizeof err - 1);
	assert_int_equal(cfg_load_string("t.ini", "[foo]\n", NOW, &c, NULL, 0), -EINVAL);
	assert_zeroed(&c);
}

/* ---- files ---- */

static void test_cfg_load_missing_file(void **state)
{
	const char *path = "/nonexistent/flashsale-test/none.ini";
	struct cfg c;
	char err[ERR_LEN], want[ERR_LEN];
	(void)state;

	assert_int_equal(cfg_load(path, NOW, &c, err, sizeof err), -ENOENT);
	snprintf(want, sizeof want, "%s: cannot open: ", path);
	assert_memory_equal(err, want, strlen(want));
	assert_zeroed(&c);
}

static void test_cfg_load_directory(void **state)
{
	struct cfg c;
	char err[ERR_LEN];
	(void)state;

	assert_int_equal(cfg_load("/tmp", NOW, &c, err, sizeof err), -EISDIR);
	assert_memory_equal(err, "/tmp: cannot read: ", strlen("/tmp: cannot read: "));
	assert_zeroed(&c);
}

static void test_cfg_load_names_the_path_in_errors(void **state)
{
	static const char text[] = "[net]\nudp_port = 7700\n\n[limits]\nmax_orders = lots\n";
	char path[64], err[ERR_LEN], want[128];
	struct cfg c;
	(void)state;

	write_temp(path, sizeof path, text, sizeof text - 1);
	assert_int_equal(cfg_load(path, NOW, &c, err, sizeof err), -EINVAL);
	snprintf(want, sizeof want, "%s:5: [limits] max_orders: not a whole number", path);
	assert_memory_equal(err, want, strlen(want));
	assert_zeroed(&c);
	unlink(path);
}

static void test_cfg_load_rejects_nul_byte(void **state)
{
	static const char text[] = "[net]\nudp_port = 77\0" "00\n";
	char path[64], err[ERR_LEN], want[128];
	struct cfg c;
	(void)state;

	write_temp(path, sizeof path, text, sizeof text - 1);
	assert_int_equal(cfg_load(path, NOW, &c, err, sizeof err), -EINVAL);
	snprintf(want, sizeof want, "%s:2: [net]: the line holds a NUL byte", path);
	assert_string_equal(err, want);
	unlink(path);
}

static void test_cfg_load_file_without_final_newline(void **state)
{
	static const char text[] = "[net]\r\nudp_port = 7800";
	char path[64], err[ERR_LEN];
	struct cfg c;
	(void)state;

	write_temp(path, sizeof path, text, sizeof text - 1);
	assert_int_equal(cfg_load(path, NOW, &c, err, sizeof err), 0);
	assert_int_equal(c.udp_port, 7800);
	assert_string_equal(c.path, path);
	cfg_free(&c);
	unlink(path);
}

static void test_cfg_load_shipped_default_config(void **state)
{
	char path[PATH_MAX], err[ERR_LEN];
	struct cfg c;
	(void)state;

	if (!source_file("config/flashsale.ini", path, sizeof path)) {
		print_error("cannot find config/flashsale.ini from __FILE__ %s; "
			    "set FLASHSALE_SOURCE_ROOT\n", __FILE__);
		fail();
	}
	if (cfg_load(path, NOW, &c, err, sizeof err) != 0) {
		print_error("%s\n", err);
		fail();
	}
	assert_int_equal(c.mode, CFG_MODE_KERNEL);
	assert_int_equal(c.workers, 2);
	assert_string_equal(c.address_str, "127.0.0.1");
	assert_int_equal(c.udp_port, 7700);
	assert_int_equal(c.http_port, 8080);
	assert_string_equal(c.persist_dir, "var/flashsale");
	assert_int_equal(c.durability, CFG_DUR_SYNC);
	assert_int_equal(c.max_orders, 1000000);
	assert_int_equal(c.n_activities, 1);
	assert_int_equal(c.activities[0].id, 1);
	assert_string_equal(c.activities[0].name, "Double 11 Moutai (demo)");
	assert_int_equal(c.activities[0].start_ns, NOW);
	assert_int_equal(c.activities[0].end_ns, NOW + 3600 * NS);
	assert_true(c.activities[0].require_token);
	assert_memory_equal(c.activities[0].token_key, key16, 16);
	assert_true(c.activities[0].has_payment_key);
	assert_memory_equal(c.activities[0].payment_key, pay16, 16);
	assert_int_equal(c.activities[0].pay_timeout_s, 900);
	assert_int_equal(c.n_items, 3);
	assert_int_equal(c.items[0].id, 1001);
	assert_int_equal(c.items[0].total, 1000);
	assert_int_equal(c.items[0].per_user_limit, 2);
	assert_int_equal(c.items[0].max_per_order, 1);
	assert_int_equal(c.items[0].price_cents, 149900);
	assert_int_equal(c.items[1].id, 1002);
	assert_int_equal(c.items[1].total, 5000);
	assert_int_equal(c.items[1].per_user_limit, 5);
	assert_int_equal(c.items[1].max_per_order, 2);
	assert_int_equal(c.items[2].id, 1003);
	assert_int_equal(c.items[2].total, 200);
	assert_int_equal(c.items[2].per_user_limit, 1);
	for (unsigned i = 0; i < c.n_items; i++) {
		assert_int_equal(c.items[i].activity_id, 1);
		assert_int_equal(c.items[i].activity_index, 0);
	}
	cfg_free(&c);
}

static void test_cfg_load_shipped_dpdk_config(void **state)
{
	char path[PATH_MAX], err[ERR_LEN];
	struct cfg c;
	(void)state;

	if (!source_file("config/flashsale-dpdk.ini", path, sizeof path)) {
		print_error("cannot find config/flashsale-dpdk.ini from __FILE__ %s; "
			    "set FLASHSALE_SOURCE_ROOT\n", __FILE__);
		fail();
	}
	if (cfg_load(path, NOW, &c, err, sizeof err) != 0) {
		print_error("%s\n", err);
		fail();
	}
	assert_int_equal(c.mode, CFG_MODE_DPDK);
	assert_int_equal(c.workers, 4);
	assert_non_null(strstr(c.eal, "-l 0-4"));
	assert_non_null(strstr(c.eal, "--in-memory"));
	assert_int_equal(c.durability, CFG_DUR_SYNC);
	assert_true(c.admin_enabled);
	assert_int_equal((ntohl(c.address.s_addr) >> 24), 10);
	assert_int_equal(c.n_activities, 2);
	assert_true(c.n_items >= 3);
	for (unsigned i = 0; i < c.n_activities; i++)
		assert_true(c.activities[i].end_ns > c.activities[i].start_ns);
	cfg_free(&c);
}

/* ---- lookups, names, summary ---- */

static void test_cfg_find_item_and_activity(void **state)
{
	struct cfg c;
	char err[ERR_LEN];
	(void)state;

	assert_int_equal(load(full_ini, &c, err), 0);
	assert_ptr_equal(cfg_find_item(&c, 42), &c.items[0]);
	assert_null(cfg_find_item(&c, 43));
	assert_ptr_equal(cfg_find_activity(&c, 7), &c.activities[0]);
	assert_null(cfg_find_activity(&c, 1));
	cfg_free(&c);
	assert_null(cfg_find_item(&c, 42));
	assert_null(cfg_find_activity(&c, 7));
}

static void test_cfg_mode_name_and_durability_name(void **state)
{
	(void)state;
	assert_string_equal(cfg_mode_name(CFG_MODE_KERNEL), "kernel");
	assert_string_equal(cfg_mode_name(CFG_MODE_DPDK), "dpdk");
	assert_string_equal(cfg_durability_name(CFG_DUR_SYNC), "sync");
	assert_string_equal(cfg_durability_name(CFG_DUR_BATCH), "batch");
	assert_string_equal(cfg_durability_name(CFG_DUR_NONE), "none");
	assert_string_equal(cfg_mode_name((enum cfg_mode)7), "?");
	assert_string_equal(cfg_durability_name((enum cfg_durability)7), "?");
}

static void test_cfg_free_zeroed_struct_twice(void **state)
{
	struct cfg c;
	(void)state;

	memset(&c, 0, sizeof c);
	cfg_free(&c);
	cfg_free(&c);
	cfg_free(NULL);
	assert_zeroed(&c);
}

static void test_cfg_log_summary_full_config(void **state)
{
	struct cfg c;
	char err[ERR_LEN], *out;
	(void)state;

	assert_int_equal(load(full_ini, &c, err), 0);
	out = capture_summary(&c);
	assert_non_null(strstr(out, "mode dpdk"));
	assert_non_null(strstr(out, "8 workers"));
	assert_non_null(strstr(out, "10.1.2.3:9000"));
	assert_non_null(strstr(out, "http port off"));
	assert_non_null(strstr(out, "durability batch"));
	assert_non_null(strstr(out, "/var/lib/flashsale"));
	assert_non_null(strstr(out, "activity 7 \"Spring sale\": 2026-03-01T10:00:00Z .. "
				    "2026-03-01T12:00:00Z, require_token yes, pay timeout 600 s"));
	assert_non_null(strstr(out, "item 42: activity 7, total 1000, per-user limit 3"));
	assert_null(strstr(out, "NOT durable"));
	assert_null(strstr(out, "no payment_key"));
	free(out);
	cfg_free(&c);
}

static void test_cfg_log_summary_warns_and_caps_items(void **state)
{
	size_t cap = 4096, used;
	char *text = malloc(cap), err[ERR_LEN], *out;
	struct cfg c;
	(void)state;

	assert_non_null(text);
	used = (size_t)snprintf(text, cap, "[persist]\ndurability = none\n"
					   "[activity.5]\nstart = now\nend = now+1h\n");
	for (unsigned i = 1; i <= 25; i++)
		used += (size_t)snprintf(text + used, cap - used,
					 "[item.%u]\nactivity = 5\ntotal = 1\n", i);
	assert_int_equal(load(text, &c, err), 0);
	out = capture_summary(&c);
	assert_non_null(strstr(out, "NOT durable"));
	assert_non_null(strstr(out, "activity 5 has no payment_key: CONFIRM needs no token"));
	assert_non_null(strstr(out, "item 20: "));
	assert_null(strstr(out, "item 21: "));
	assert_non_null(strstr(out, "... and 5 more items"));
	free(out);
	free(text);
	cfg_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cfg_load_string_full_config_every_field),
		cmocka_unit_test(test_cfg_load_string_empty_file_gives_defaults),
		cmocka_unit_test(test_cfg_load_string_empty_sections_give_defaults),
		cmocka_unit_test(test_cfg_load_string_activity_and_item_defaults),
		cmocka_unit_test(test_cfg_load_string_bursts_default_to_rates),
		cmocka_unit_test(test_cfg_load_string_max_idempotency_defaults_to_twice_max_orders),
		cmocka_unit_test(test_cfg_load_string_iso_times),
		cmocka_unit_test(test_cfg_load_string_unix_seconds),
		cmocka_unit_test(test_cfg_load_string_relative_times),
		cmocka_unit_test(test_cfg_load_string_comments_blanks_and_crlf),
		cmocka_unit_test(test_cfg_load_string_words_ignore_case),
		cmocka_unit_test(test_cfg_load_string_bools),
		cmocka_unit_test(test_cfg_load_string_long_name_truncated_on_utf8_boundary),
		cmocka_unit_test(test_cfg_load_string_keeps_file_order_and_links_items),
		cmocka_unit_test(test_cfg_load_string_many_items),
		cmocka_unit_test(test_cfg_load_string_line_of_exactly_4096_bytes),
		cmocka_unit_test(test_cfg_load_string_rejects_unknown_section),
		cmocka_unit_test(test_cfg_load_string_rejects_unknown_key),
		cmocka_unit_test(test_cfg_load_string_rejects_duplicate_key),
		cmocka_unit_test(test_cfg_load_string_rejects_duplicate_section),
		cmocka_unit_test(test_cfg_load_string_rejects_bad_numbers),
		cmocka_unit_test(test_cfg_load_string_rejects_bad_hex),
		cmocka_unit_test(test_cfg_load_string_rejects_bad_bool_and_enum),
		cmocka_unit_test(test_cfg_load_string_rejects_bad_ipv4),
		cmocka_unit_test(test_cfg_load_string_replication),
		cmocka_unit_test(test_cfg_load_string_rejects_bad_times),
		cmocka_unit_test(test_cfg_load_string_rejects_bad_section_id),
		cmocka_unit_test(test_cfg_load_string_rejects_malformed_lines),
		cmocka_unit_test(test_cfg_load_string_rejects_bad_strings),
		cmocka_unit_test(test_cfg_load_string_rejects_long_line),
		cmocka_unit_test(test_cfg_load_string_rejects_missing_required_keys),
		cmocka_unit_test(test_cfg_load_string_rejects_item_without_activity),
		cmocka_unit_test(test_cfg_load_string_rejects_end_not_after_start),
		cmocka_unit_test(test_cfg_load_string_rejects_max_per_order_above_limit),
		cmocka_unit_test(test_cfg_load_string_rejects_stock_over_max_orders),
		cmocka_unit_test(test_cfg_load_string_rejects_max_idempotency_below_max_orders),
		cmocka_unit_test(test_cfg_load_string_rejects_zero_burst_under_rate),
		cmocka_unit_test(test_cfg_load_string_rejects_too_many_activities),
		cmocka_unit_test(test_cfg_load_string_first_error_wins),
		cmocka_unit_test(test_cfg_load_string_control_characters_stay_on_one_line),
		cmocka_unit_test(test_cfg_load_string_small_or_no_error_buffer),
		cmocka_unit_test(test_cfg_load_missing_file),
		cmocka_unit_test(test_cfg_load_directory),
		cmocka_unit_test(test_cfg_load_names_the_path_in_errors),
		cmocka_unit_test(test_cfg_load_rejects_nul_byte),
		cmocka_unit_test(test_cfg_load_file_without_final_newline),
		cmocka_unit_test(test_cfg_load_shipped_default_config),
		cmocka_unit_test(test_cfg_load_shipped_dpdk_config),
		cmocka_unit_test(test_cfg_find_item_and_activity),
		cmocka_unit_test(test_cfg_mode_name_and_durability_name),
		cmocka_unit_test(test_cfg_free_zeroed_struct_twice),
		cmocka_unit_test(test_cfg_log_summary_full_config),
		cmocka_unit_test(test_cfg_log_summary_warns_and_caps_items),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
