/*
 * test_retain.c — persist/retain.c: the retention plan (lowest LSN any
 * consumer still needs, bounded), consumer files (atomic write, parse,
 * errors) and the trim over real segment files in a mkdtemp directory.
 */
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
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

#include "persist.h"

/* Segments [1,100) [100,200) [200,300) [300,...) of 1000 bytes each. */
static const struct retain_seg SEGS[] = {
	{1, 1000},
	{100, 1000},
	{200, 1000},
	{300, 1000},
};
#define NSEG ((unsigned)(sizeof(SEGS) / sizeof(SEGS[0])))

static void test_retain_plan_no_consumers(void **state)
{
	struct retain_plan p;

	(void)state;
	retain_plan(250, SEGS, NSEG, NULL, 0, 0, &p);
	assert_int_equal(p.keep_lsn, 251);
	assert_true(p.need_lsn == UINT64_MAX);
	assert_int_equal(p.ncut, 0);
	assert_int_equal(p.kept_bytes, 0);
}

static void test_retain_plan_consumer_ahead_of_snapshot(void **state)
{
	uint64_t lsn[] = {400, 251};
	struct retain_plan p;

	(void)state;
	retain_plan(250, SEGS, NSEG, lsn, 2, 0, &p);
	assert_int_equal(p.keep_lsn, 251); /* recovery's own need is lower */
	assert_int_equal(p.ncut, 0);
}

static void test_retain_plan_consumer_behind_within_bound(void **state)
{
	uint64_t lsn[] = {150}; /* needs 151: segment [100,200) */
	struct retain_plan p;

	(void)state;
	retain_plan(250, SEGS, NSEG, lsn, 1, 1000, &p);
	assert_int_equal(p.keep_lsn, 151);
	assert_int_equal(p.need_lsn, 151);
	assert_int_equal(p.kept_bytes, 1000); /* [100,200) only; [200,300) recovery keeps */
	assert_int_equal(p.ncut, 0);
}

static void test_retain_plan_consumer_past_bound_is_cut(void **state)
{
	uint64_t lsn[] = {50, 150}; /* consumer 0 needs 2000 bytes, consumer 1 needs 1000 */
	struct retain_plan p;

	(void)state;
	retain_plan(250, SEGS, NSEG, lsn, 2, 1999, &p);
	assert_int_equal(p.ncut, 1);
	assert_int_equal(p.cut, 1);
	assert_int_equal(p.keep_lsn, 151); /* consumer 1 is kept */
	retain_plan(250, SEGS, NSEG, lsn, 2, 999, &p);
	assert_int_equal(p.ncut, 2);
	assert_int_equal(p.cut, 3);
	assert_int_equal(p.keep_lsn, 251);
	retain_plan(250, SEGS, NSEG, lsn, 2, 2000, &p);
	assert_int_equal(p.ncut, 0);
	assert_int_equal(p.keep_lsn, 51);
}

static void test_retain_plan_never_applied_consumer(void **state)
{
	uint64_t lsn[] = {0}; /* needs LSN 1 */
	struct retain_plan p;

	(void)state;
	retain_plan(250, SEGS, NSEG, lsn, 1, UINT64_MAX, &p);
	assert_int_equal(p.keep_lsn, 1);
	assert_int_equal(p.kept_bytes, 2000);
}

static void test_retain_plan_lost_consumer_counted_once(void **state)
{
	static const struct retain_seg later[] = {{200, 1000}, {300, 1000}};
	uint64_t lsn[] = {50}; /* needs 51: already removed by an earlier trim */
	struct retain_plan p;

	(void)state;
	retain_plan(350, later, 2, lsn, 1, 0, &p);
	assert_int_equal(p.ncut, 0);
	assert_int_equal(p.nlost, 1);
	assert_int_equal(p.keep_lsn, 351);
}

static void test_retain_plan_no_segments(void **state)
{
	uint64_t lsn[] = {5};
	struct retain_plan p;

	(void)state;
	retain_plan(10, NULL, 0, lsn, 1, 0, &p);
	assert_int_equal(p.keep_lsn, 6); /* nothing to remove anyway */
	assert_int_equal(p.ncut, 0);
}

static void test_retain_name_valid_rules(void **state)
{
	char longname[RETAIN_NAME_MAX + 1];

	(void)state;
	assert_true(retain_name_valid("export-1_a"));
	assert_false(retain_name_valid(""));
	assert_false(retain_name_valid(NULL));
	assert_false(retain_name_valid(".x"));
	assert_false(retain_name_valid("a/b"));
	assert_false(retain_name_valid(".exporter.tmp"));
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	assert_false(retain_name_valid(longname));
	longname[RETAIN_NAME_MAX - 1] = 0;
	assert_true(retain_name_valid(longname));
}

static void test_retain_consumer_parse_invalid(void **state)
{
	struct retain_consumer c;
	char err[128];

	(void)state;
	assert_int_equal(retain_consumer_parse("", &c, err, sizeof(err)), -EBADMSG);
	assert_int_equal(retain_consumer_parse("hello\n", &c, err, sizeof(err)), -EBADMSG);
	assert_int_equal(
		retain_consumer_parse("flashsale-consumer 1\nshard 0 -5\n", &c, err, sizeof(err)),
		-EBADMSG);
	assert_string_equal(err, "line 2: expected 'shard N LSN'");
	assert_int_equal(
		retain_consumer_parse("flashsale-consumer 1\nshard 64 5\n", &c, err, sizeof(err)),
		-EBADMSG);
	assert_int_equal(
		retain_consumer_parse("flashsale-consumer 1\nshard 1 5 x\n", &c, err, sizeof(err)),
		-EBADMSG);
	assert_int_equal(
		retain_consumer_parse("flashsale-consumer 1\n# c\n\nshard 1 18446744073709551615\n",
				      &c, err, sizeof(err)),
		0);
	assert_int_equal(c.nshards, 2);
	assert_int_equal(c.lsn[0], 0);
	assert_true(c.lsn[1] == UINT64_MAX);
}

/* ---- with files ---- */

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	char *dir = malloc(64);

	if (!dir)
		return -1;
	snprintf(dir, 64, "/tmp/test_retain.XXXXXX");
	if (!mkdtemp(dir)) {
		free(dir);
		return -1;
	}
	*state = dir;
	return 0;
}

static int teardown(void **state)
{
	nftw(*state, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(*state);
	return 0;
}

static void make_segment(const char *dir, unsigned shard, uint64_t first, size_t bytes)
{
	char path[FS_PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/shard-%02u", dir, shard);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/shard-%02u/wal-%016" PRIx64 ".log", dir, shard, first);
	f = fopen(path, "w");
	assert_non_null(f);
	for (size_t i = 0; i < bytes; i++)
		fputc(0, f);
	fclose(f);
}

static bool segment_exists(const char *dir, unsigned shard, uint64_t first)
{
	char path[FS_PATH_MAX];

	snprintf(path, sizeof(path), "%s/shard-%02u/wal-%016" PRIx64 ".log", dir, shard, first);
	return access(path, F_OK) == 0;
}

static void test_retain_consumer_write_read_roundtrip(void **state)
{
	const char *dir = *state;
	uint64_t lsn[] = {7, 0, UINT64_MAX - 1};
	struct retain_consumer c, all[4];
	char err[256], path[FS_PATH_MAX];
	unsigned n;

	assert_int_equal(retain_consumer_write(dir, "exp", 3, lsn, err, sizeof(err)), 0);
	lsn[0] = 8; /* rewritten in place */
	assert_int_equal(retain_consumer_write(dir, "exp", 3, lsn, err, sizeof(err)), 0);
	assert_int_equal(retain_consumer_read(dir, "exp", &c, err, sizeof(err)), 0);
	assert_string_equal(c.name, "exp");
	assert_int_equal(c.nshards, 3);
	assert_int_equal(c.lsn[0], 8);
	assert_true(c.lsn[2] == UINT64_MAX - 1);
	snprintf(path, sizeof(path), "%s/consumers/.exp.tmp", dir);
	assert_int_equal(access(path, F_OK), -1); /* renamed away */
	assert_int_equal(retain_consumer_write(dir, "b", 1, lsn, err, sizeof(err)), 0);
	assert_int_equal(retain_consumers_load(dir, all, 4, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(retain_consumers_load(dir, all, 1, &n, err, sizeof(err)), -E2BIG);
	assert_int_equal(retain_consumer_write(dir, "../x", 1, lsn, err, sizeof(err)), -EINVAL);
	assert_int_equal(retain_consumer_read(dir, "none", &c, err, sizeof(err)), -ENOENT);
	/* removed: gone from the listing; removing nothing is not an error */
	assert_int_equal(retain_consumer_remove(dir, "b"), 0);
	assert_int_equal(retain_consumer_read(dir, "b", &c, err, sizeof(err)), -ENOENT);
	assert_int_equal(retain_consumers_load(dir, all, 4, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(retain_consumer_remove(dir, "b"), 0);
	assert_int_equal(retain_consumer_remove(dir, "../x"), -EINVAL);
}

static void test_retain_consumers_load_no_directory(void **state)
{
	struct retain_consumer c[1];
	char err[64];
	unsigned n = 9;

	assert_int_equal(retain_consumers_load(*state, c, 1, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
}

static void test_retain_trim_keeps_what_consumer_needs(void **state)
{
	const char *dir = *state;
	struct retain_report rep;
	uint64_t lsn[] = {150, 10};
	char err[256];

	for (unsigned i = 0; i < NSEG; i++)
		make_segment(dir, 0, SEGS[i].first_lsn, 100);
	assert_int_equal(retain_consumer_write(dir, "exp", 2, lsn, err, sizeof(err)), 0);
	assert_int_equal(retain_trim(dir, 0, NULL, 250, 1000, &rep, err, sizeof(err)), 0);
	assert_int_equal(rep.removed, 1); /* [1,100) */
	assert_int_equal(rep.plan.keep_lsn, 151);
	assert_false(segment_exists(dir, 0, 1));
	assert_true(segment_exists(dir, 0, 100));
	assert_int_equal(rep.ncut_names, 0);
}

static void test_retain_trim_cuts_consumer_past_bound(void **state)
{
	const char *dir = *state;
	uint64_t before = retain_consumers_cut_total();
	struct retain_report rep;
	uint64_t lsn[] = {5};
	char err[256];

	for (unsigned i = 0; i < NSEG; i++)
		make_segment(dir, 0, SEGS[i].first_lsn, 100);
	assert_int_equal(retain_consumer_write(dir, "slow", 1, lsn, err, sizeof(err)), 0);
	assert_int_equal(retain_trim(dir, 0, NULL, 250, 150, &rep, err, sizeof(err)), 0);
	assert_int_equal(rep.plan.ncut, 1);
	assert_int_equal(rep.ncut_names, 1);
	assert_string_equal(rep.cut_names[0], "slow");
	assert_int_equal(rep.removed, 2);
	assert_false(segment_exists(dir, 0, 100));
	assert_true(segment_exists(dir, 0, 200));
	assert_int_equal(retain_consumers_cut_total(), before + 1);
	/* the next trim sees it already lost and does not count it again */
	assert_int_equal(retain_trim(dir, 0, NULL, 320, 150, &rep, err, sizeof(err)), 0);
	assert_int_equal(rep.plan.ncut, 0);
	assert_int_equal(rep.plan.nlost, 1);
	assert_int_equal(retain_consumers_cut_total(), before + 1);
}

static void test_retain_trim_bad_consumer_file_trims_for_recovery(void **state)
{
	const char *dir = *state;
	struct retain_report rep;
	char err[256], path[FS_PATH_MAX];
	FILE *f;

	for (unsigned i = 0; i < NSEG; i++)
		make_segment(dir, 0, SEGS[i].first_lsn, 100);
	snprintf(path, sizeof(path), "%s/consumers", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/consumers/bad", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("garbage\n", f);
	fclose(f);
	assert_int_equal(retain_trim(dir, 0, NULL, 250, 0, &rep, err, sizeof(err)), 0);
	assert_true(rep.consumers_unreadable);
	assert_non_null(strstr(err, "consumers/bad: line 1"));
	assert_int_equal(rep.removed, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_retain_plan_no_consumers),
		cmocka_unit_test(test_retain_plan_consumer_ahead_of_snapshot),
		cmocka_unit_test(test_retain_plan_consumer_behind_within_bound),
		cmocka_unit_test(test_retain_plan_consumer_past_bound_is_cut),
		cmocka_unit_test(test_retain_plan_never_applied_consumer),
		cmocka_unit_test(test_retain_plan_lost_consumer_counted_once),
		cmocka_unit_test(test_retain_plan_no_segments),
		cmocka_unit_test(test_retain_name_valid_rules),
		cmocka_unit_test(test_retain_consumer_parse_invalid),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_retain_consumer_write_read_roundtrip),
		T(test_retain_consumers_load_no_directory),
		T(test_retain_trim_keeps_what_consumer_needs),
		T(test_retain_trim_cuts_consumer_past_bound),
		T(test_retain_trim_bad_consumer_file_trims_for_recovery),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
