/*
 * test_repl.c — persist/repl_frame.c and repl_log.c: the replication
 * link's frame codec (header round trip, every refusal: magic, type,
 * flags, length, shard, payload CRC), HELLO/ACK payloads, the standby's
 * check of a RECORDS payload (a flipped bit in any record, a record cut
 * short, a gap in LSNs: refused whole), garbage fed to the decoders, and
 * the standby's log (append, sync, reopen, torn tail cut, truncate, reset) in a
 * mkdtemp directory, replayed by the ordinary recovery code.
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

#include "repl.h"

static _Alignas(8) uint8_t g_buf[REPL_HDR_BYTES + REPL_PAYLOAD_MAX];

/* n change records with LSNs first.. into out; returns bytes. */
static uint32_t make_records(uint8_t *out, uint64_t first, unsigned n)
{
	uint32_t len = 0;

	for (unsigned i = 0; i < n; i++) {
		struct store_change ch = {.type = STORE_CH_RESERVE, .order_id = first + i,
					  .user_id = 7, .item_id = 1001, .qty = 1};
		uint8_t pl[WAL_CHANGE_BYTES];
		wal_change_encode(pl, &ch);
		int rc = wal_record_encode(out + len, REPL_PAYLOAD_MAX - len, first + i,
					   WAL_REC_CHANGE, pl, WAL_CHANGE_BYTES);
		assert_true(rc > 0);
		len += (uint32_t)rc;
	}
	return len;
}

static void test_hdr_roundtrip(void **state)
{
	_Alignas(8) uint8_t pl[16] = "hello, standby!";
	struct repl_hdr h;
	char err[128];

	(void)state;
	repl_hdr_encode(g_buf, REPL_RECORDS, 0, 3, 42, pl, sizeof(pl));
	assert_int_equal(repl_hdr_decode(g_buf, &h, err, sizeof(err)), 0);
	assert_int_equal(h.type, REPL_RECORDS);
	assert_int_equal(h.shard, 3);
	assert_int_equal(h.len, sizeof(pl));
	assert_true(h.epoch == 42);
	assert_int_equal(repl_payload_check(&h, pl), 0);
	pl[5] ^= 1;
	assert_int_equal(repl_payload_check(&h, pl), -EBADMSG);
	/* an empty frame */
	repl_hdr_encode(g_buf, REPL_PING, 0, 0, 7, NULL, 0);
	assert_int_equal(repl_hdr_decode(g_buf, &h, err, sizeof(err)), 0);
	assert_int_equal(repl_payload_check(&h, NULL), 0);
}

static void test_hdr_refusals(void **state)
{
	uint8_t b[REPL_HDR_BYTES];
	struct repl_hdr h;
	char err[128];

	(void)state;
	repl_hdr_encode(b, REPL_PING, 0, 0, 1, NULL, 0);
	b[0] ^= 0xff; /* magic */
	assert_int_equal(repl_hdr_decode(b, &h, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "magic"));
	repl_hdr_encode(b, REPL_PING, 0, 0, 1, NULL, 0);
	b[4] = 0; /* type 0 */
	assert_int_equal(repl_hdr_decode(b, &h, err, sizeof(err)), -EBADMSG);
	b[4] = REPL_TYPE_MAX + 1;
	assert_int_equal(repl_hdr_decode(b, &h, err, sizeof(err)), -EBADMSG);
	repl_hdr_encode(b, REPL_PING, 0, 0, 1, NULL, 0);
	b[5] = 1; /* flags on a PING */
	assert_int_equal(repl_hdr_decode(b, &h, err, sizeof(err)), -EBADMSG);
	repl_hdr_encode(b, REPL_SNAP, REPL_SNAP_FIRST | REPL_SNAP_LAST, 0, 1, NULL, 0);
	assert_int_equal(repl_hdr_decode(b, &h, err, sizeof(err)), 0);
	repl_hdr_encode(b, REPL_PING, 0, 0, 1, NULL, 0);
	b[8] = 0xff, b[9] = 0xff, b[10] = 0xff, b[11] = 0x7f; /* length */
	assert_int_equal(repl_hdr_decode(b, &h, err, sizeof(err)), -EBADMSG);
	repl_hdr_encode(b, REPL_ACK, 0, 0, 1, NULL, 0);
	b[6] = 2; /* a shard on a non-RECORDS frame */
	assert_int_equal(repl_hdr_decode(b, &h, err, sizeof(err)), -EBADMSG);
	repl_hdr_encode(b, REPL_RECORDS, 0, FS_WORKERS_MAX, 1, NULL, 0);
	assert_int_equal(repl_hdr_decode(b, &h, err, sizeof(err)), -EBADMSG);
}

static void test_hello_ack(void **state)
{
	_Alignas(8) uint8_t b[REPL_HELLO_BYTES(FS_WORKERS_MAX)];
	struct repl_hello h = {.cluster = 0x1122334455667788ull, .nshards = 3,
			       .next_lsn = {1, 500, 9}}, o;
	uint64_t lsn[3] = {4, 5, 6}, back[3];

	(void)state;
	uint32_t n = repl_hello_encode(b, &h, true);
	assert_int_equal(n, REPL_HELLO_BYTES(3));
	assert_int_equal(repl_hello_decode(b, n, &o, true), 0);
	assert_true(o.cluster == h.cluster && o.nshards == 3 && o.next_lsn[1] == 500);
	assert_int_equal(repl_hello_decode(b, n - 1, &o, true), -EBADMSG);
	assert_int_equal(repl_hello_decode(b, 16, &o, false), 0);
	b[16] = 0, memset(b + 16, 0, 8); /* next LSN 0 is not a position */
	assert_int_equal(repl_hello_decode(b, n, &o, true), -EBADMSG);
	h.nshards = 1;
	n = repl_hello_encode(b, &h, false);
	b[8] = 0; /* 0 shards */
	assert_int_equal(repl_hello_decode(b, n, &o, false), -EBADMSG);
	n = repl_ack_encode(b, lsn, 3);
	assert_int_equal(repl_ack_decode(b, n, back, 3), 0);
	assert_memory_equal(lsn, back, sizeof(lsn));
	assert_int_equal(repl_ack_decode(b, n, back, 2), -EBADMSG);
}

static void test_records_check(void **state)
{
	uint8_t *p = g_buf;
	uint32_t len = make_records(p, 10, 20);
	unsigned n;
	uint64_t last;
	char err[128];

	(void)state;
	assert_int_equal(repl_records_check(p, len, 10, &n, &last, err, sizeof(err)), 0);
	assert_int_equal(n, 20);
	assert_true(last == 29);
	/* not contiguous with the standby's position */
	assert_int_equal(repl_records_check(p, len, 11, &n, &last, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "LSN"));
	/* cut short anywhere inside a record */
	for (uint32_t cut = 8; cut < len; cut += 8)
		if (cut % WAL_CHANGE_RECORD_BYTES)
			assert_int_equal(repl_records_check(p, cut, 10, &n, &last, err, sizeof(err)),
					 -EBADMSG);
	/* a flipped bit in any byte of any record */
	for (uint32_t i = 0; i < len; i += 7) {
		p[i] ^= 0x10;
		assert_int_equal(repl_records_check(p, len, 10, &n, &last, err, sizeof(err)),
				 -EBADMSG);
		p[i] ^= 0x10;
	}
	/* a gap in the middle: records 10..14, then 16.. */
	uint32_t a = make_records(p, 10, 5);
	uint32_t b = make_records(p + a, 16, 3);
	assert_int_equal(repl_records_check(p, a + b, 10, &n, &last, err, sizeof(err)), -EBADMSG);
	assert_int_equal(repl_records_check(p, 0, 10, &n, &last, err, sizeof(err)), -EBADMSG);
}

static void test_garbage(void **state)
{
	struct repl_hdr h;
	struct repl_hello o;
	unsigned n;
	uint64_t last;
	char err[128];

	(void)state;
	srand(13);
	for (int round = 0; round < 20000; round++) {
		uint32_t len = (uint32_t)(rand() % 512) & ~7u;
		for (uint32_t i = 0; i < len + REPL_HDR_BYTES; i++)
			g_buf[i] = (uint8_t)rand();
		(void)repl_hdr_decode(g_buf, &h, err, sizeof(err));
		(void)repl_hello_decode(g_buf, len, &o, round & 1);
		if (len)
			assert_int_equal(repl_records_check(g_buf, len, 1, &n, &last, err,
							    sizeof(err)), -EBADMSG);
	}
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int count_rec(void *ctx, uint64_t lsn, const struct store_change *ch)
{
	uint64_t *n = ctx;
	assert_true(ch->order_id == lsn);
	(*n)++;
	return 0;
}

static void test_standby_log(void **state)
{
	char dir[] = "/tmp/test_repl_XXXXXX", err[256], seg[FS_PATH_MAX + 64];
	struct repl_log l;
	struct wal_replay_info info;
	uint64_t n = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(repl_log_open(&l, dir, 0, 1, err, sizeof(err)), 0);
	assert_true(l.next_lsn == 1);
	uint32_t len = make_records(g_buf, 1, 50);
	assert_int_equal(repl_log_append(&l, g_buf, len, 50), 0);
	assert_int_equal(repl_log_sync(&l), 0);
	assert_true(l.synced_lsn == 50);
	len = make_records(g_buf, 51, 10);
	/* a torn write of the next batch: its first bytes reached the file */
	assert_int_equal(repl_log_append(&l, g_buf, 40, 51), 0);
	repl_log_close(&l);
	/* reopen: the torn tail is cut, the log continues at 51 in a new segment */
	assert_int_equal(repl_log_open(&l, dir, 0, 1, err, sizeof(err)), 0);
	assert_true(l.next_lsn == 51);
	assert_int_equal(repl_log_append(&l, g_buf, len, 60), 0);
	assert_int_equal(repl_log_sync(&l), 0);
	repl_log_close(&l);
	snprintf(seg, sizeof(seg), "%s/shard-00/wal-%016x.log", dir, 51);
	assert_int_equal(access(seg, F_OK), 0);
	/* the ordinary recovery reads it whole */
	assert_int_equal(wal_replay(dir, 0, wal_ops_default(), 1, count_rec, &n, &info, err,
				    sizeof(err)), 0);
	assert_true(n == 60 && info.next_lsn == 61);
	/* truncate inside the second segment, then inside the first (an old
	 * primary's tail): replay ends just before the cut, and appends go on */
	assert_int_equal(repl_log_open(&l, dir, 0, 1, err, sizeof(err)), 0);
	assert_int_equal(repl_log_truncate(&l, 56, err, sizeof(err)), 0);
	assert_true(l.next_lsn == 56);
	n = 0;
	assert_int_equal(wal_replay(dir, 0, wal_ops_default(), 1, count_rec, &n, &info, err,
				    sizeof(err)), 0);
	assert_true(n == 55 && info.next_lsn == 56);
	assert_int_equal(repl_log_truncate(&l, 45, err, sizeof(err)), 0);
	assert_int_equal(access(seg, F_OK), -1); /* the segment of 51.. is gone */
	n = 0;
	assert_int_equal(wal_replay(dir, 0, wal_ops_default(), 1, count_rec, &n, &info, err,
				    sizeof(err)), 0);
	assert_true(n == 44 && info.next_lsn == 45);
	len = make_records(g_buf, 45, 5);
	assert_int_equal(repl_log_append(&l, g_buf, len, 49), 0);
	assert_int_equal(repl_log_sync(&l), 0);
	repl_log_close(&l);
	n = 0;
	assert_int_equal(wal_replay(dir, 0, wal_ops_default(), 1, count_rec, &n, &info, err,
				    sizeof(err)), 0);
	assert_true(n == 49 && info.next_lsn == 50);
	/* reset (a snapshot installed past it) */
	assert_int_equal(repl_log_open(&l, dir, 0, 1, err, sizeof(err)), 0);
	assert_int_equal(repl_log_reset(&l, 1001), 0);
	assert_true(l.next_lsn == 1001);
	repl_log_close(&l);
	nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hdr_roundtrip),
		cmocka_unit_test(test_hdr_refusals),
		cmocka_unit_test(test_hello_ack),
		cmocka_unit_test(test_records_check),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_standby_log),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
