/*
 * test_manifest.c — persist/persist_manifest.c: DIR/MANIFEST round trip,
 * atomic replacement, and every way a damaged or missing manifest is
 * reported (never read as "no state").
 */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "persist.h"

static char g_dir[64];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	strcpy(g_dir, "/tmp/test_manifest.XXXXXX");
	return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(g_dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

static void path_of(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", g_dir, name);
}

static size_t slurp(char *buf, size_t cap)
{
	char path[128];
	FILE *f;
	size_t n;

	path_of(path, sizeof(path), PERSIST_MANIFEST_FILE);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(buf, 1, cap - 1, f);
	fclose(f);
	buf[n] = '\0';
	return n;
}

static void spit(const char *buf, size_t n)
{
	char path[128];
	FILE *f;

	path_of(path, sizeof(path), PERSIST_MANIFEST_FILE);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(buf, 1, n, f), n);
	fclose(f);
}

static void write_sample(struct persist_manifest *m)
{
	char err[256];

	memset(m, 0, sizeof(*m));
	m->n_shards = 3;
	for (unsigned i = 0; i < 3; i++)
		m->shard[i] = (struct persist_manifest_shard){
			.hw_lsn = 1000 * i + 7, .segment_lsn = 0x10 * i + 1, .snapshot_lsn = 5 * i};
	assert_int_equal(persist_manifest_write(g_dir, m, err, sizeof(err)), 0);
}

static void test_manifest_roundtrip(void **state)
{
	struct persist_manifest m, r;
	char err[256], buf[4096], tmp[128];

	(void)state;
	write_sample(&m);
	assert_int_equal(persist_manifest_read(g_dir, &r, err, sizeof(err)), 0);
	assert_memory_equal(&m, &r, sizeof(m));
	slurp(buf, sizeof(buf));
	assert_non_null(strstr(buf, "flashsale-manifest 1\nshards 3\n"));
	assert_non_null(strstr(buf, "shard 1 hw 1007 segment 0000000000000011 snapshot 5\n"));
	path_of(tmp, sizeof(tmp), PERSIST_MANIFEST_FILE ".tmp");
	assert_int_equal(access(tmp, F_OK), -1); /* renamed away */
	/* Replaced whole. */
	m.shard[2].hw_lsn = 99999;
	assert_int_equal(persist_manifest_write(g_dir, &m, err, sizeof(err)), 0);
	assert_int_equal(persist_manifest_read(g_dir, &r, err, sizeof(err)), 0);
	assert_int_equal(r.shard[2].hw_lsn, 99999);
}

static void test_manifest_missing(void **state)
{
	struct persist_manifest r;
	char err[256];

	(void)state;
	assert_int_equal(persist_manifest_read(g_dir, &r, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "MANIFEST"));
}

static void test_manifest_damaged(void **state)
{
	struct persist_manifest m, r;
	char err[256], buf[4096], bad[4096];
	size_t n;

	(void)state;
	write_sample(&m);
	n = slurp(buf, sizeof(buf));
	/* Every single-bit flip is caught (by the CRC, or the parser). */
	for (size_t i = 0; i < n; i++) {
		memcpy(bad, buf, n);
		bad[i] ^= 0x04;
		spit(bad, n);
		assert_int_equal(persist_manifest_read(g_dir, &r, err, sizeof(err)), -EBADMSG);
	}
	/* Every truncation too. */
	for (size_t len = 0; len < n; len++) {
		spit(buf, len);
		assert_int_equal(persist_manifest_read(g_dir, &r, err, sizeof(err)), -EBADMSG);
	}
	spit(buf, n);
	assert_int_equal(persist_manifest_read(g_dir, &r, err, sizeof(err)), 0);
}

static void test_manifest_write_fails_in_missing_dir(void **state)
{
	struct persist_manifest m = {.n_shards = 1};
	char err[256], gone[128];

	(void)state;
	path_of(gone, sizeof(gone), "gone");
	assert_int_equal(persist_manifest_write(gone, &m, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "gone"));
	assert_int_equal(access(gone, F_OK), -1); /* nothing recreated */
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_manifest_roundtrip),
		T(test_manifest_missing),
		T(test_manifest_damaged),
		T(test_manifest_write_fails_in_missing_dir),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
