/*
 * test_wal.c — persist/wal_*.c: record codec, group commit, recovery (torn
 * tails, corruption, gaps), segments, and storage faults injected through
 * the ops table and the completion hook. Every test works in its own
 * mkdtemp directory under /tmp, removed by the teardown.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
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

#define REC	  WAL_CHANGE_RECORD_BYTES
#define MAXREC	  4096
#define HOOK_HALF 1 /* write_res: report half the bytes */

struct hook {
	int writes, fsyncs;	 /* completions seen */
	int write_at, write_res; /* alter the write_at-th write completion */
	int fsync_at, fsync_res; /* alter the fsync_at-th fsync completion */
	bool fsync_sticky;	 /* ... and every later one (a dead disk) */
};

struct fx {
	char root[64];
	struct wal_params p;
	struct hook hook;
	struct wal_ops ops; /* default syscalls with a few switchable faults */
	int fail_fsync, fail_ftruncate;
	char err[1024];
	uint64_t lsn[MAXREC];
	struct store_change ch[MAXREC];
	unsigned n;
	int cb_fail_at_lsn;
};

/* ---- fixture ---- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int fault_fsync(void *ctx, int fd)
{
	struct fx *f = ctx;
	return f->fail_fsync ? -EIO : wal_ops_default()->fsync(NULL, fd);
}

static int fault_ftruncate(void *ctx, int fd, off_t len)
{
	struct fx *f = ctx;
	return f->fail_ftruncate ? -EIO : wal_ops_default()->ftruncate(NULL, fd, len);
}

static int hook_fn(void *ctx, enum wal_io io, int res)
{
	struct hook *h = ctx;

	if (io == WAL_IO_WRITE) {
		if (++h->writes == h->write_at)
			return h->write_res == HOOK_HALF ? res / 2 : h->write_res;
	} else if (io == WAL_IO_FSYNC) {
		if (++h->fsyncs == h->fsync_at ||
		    (h->fsync_sticky && h->fsync_at && h->fsyncs > h->fsync_at))
			return h->fsync_res;
	}
	return res;
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->root, "/tmp/test_wal.XXXXXX");
	assert_non_null(mkdtemp(f->root));
	f->ops = *wal_ops_default();
	f->ops.fsync = fault_fsync;
	f->ops.ftruncate = fault_ftruncate;
	f->ops.ctx = f;
	f->p.dir = f->root;
	f->p.shard_id = 0;
	f->p.ops = &f->ops;
	f->p.io_hook = hook_fn;
	f->p.hook_ctx = &f->hook;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	nftw(f->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- helpers ---- */

static struct store_change change_of(uint64_t i)
{
	struct store_change c = {
		.type = (uint8_t)(1 + i % 4),
		.qty = (uint16_t)(1 + i % 7),
		.item_id = (uint32_t)(1000 + i),
		.order_id = (i << 8) | 3,
		.user_id = 0x1122334455667788ull ^ i,
		.request_id = i % 4 == 3 ? 0 : 77 + i,
		.ref = i * 31,
		.time_ns = 1700000000000000000ll + (int64_t)i,
	};
	return c;
}

static void assert_change_equal(const struct store_change *a, const struct store_change *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->qty, b->qty);
	assert_int_equal(a->item_id, b->item_id);
	assert_int_equal(a->order_id, b->order_id);
	assert_int_equal(a->user_id, b->user_id);
	assert_int_equal(a->request_id, b->request_id);
	assert_int_equal(a->ref, b->ref);
	assert_int_equal(a->time_ns, b->time_ns);
}

static int collect(void *ctx, uint64_t lsn, const struct store_change *ch)
{
	struct fx *f = ctx;

	if (f->cb_fail_at_lsn && lsn == (uint64_t)f->cb_fail_at_lsn)
		return -EINTR;
	assert_true(f->n < MAXREC);
	f->lsn[f->n] = lsn;
	f->ch[f->n++] = *ch;
	return 0;
}

static int replay(struct fx *f, uint64_t from, struct wal_replay_info *info)
{
	f->n = 0;
	return wal_replay(f->root, 0, &f->ops, from, collect, f, info, f->err, sizeof(f->err));
}

static struct wal *open_wal(struct fx *f)
{
	struct wal_replay_info info;
	struct wal *w = NULL;

	assert_int_equal(replay(f, 1, &info), 0);
	assert_int_equal(wal_open(&f->p, &info, &w, f->err, sizeof(f->err)), 0);
	return w;
}

/* Append changes first..first+n-1 (LSNs equal to them) and submit. */
static uint64_t append_submit(struct wal *w, uint64_t first, unsigned n)
{
	uint64_t ticket = 0;

	for (unsigned i = 0; i < n; i++) {
		struct store_change c = change_of(first + i);
		assert_int_equal(wal_append(w, &c), (int64_t)(first + i));
	}
	/* As a shard does: on -EBUSY reap completions and try again. */
	for (int rc; (rc = wal_submit(w, &ticket)) != 0;) {
		assert_int_equal(rc, -EBUSY);
		assert_int_equal(wal_poll(w, NULL), 0);
	}
	return ticket;
}

/* Replay from 1 and check LSNs 1..n carry change_of(lsn). */
static void assert_log(struct fx *f, unsigned n)
{
	struct wal_replay_info info;

	assert_int_equal(replay(f, 1, &info), 0);
	assert_int_equal(f->n, n);
	for (unsigned i = 0; i < n; i++) {
		struct store_change c = change_of(i + 1);
		assert_int_equal(f->lsn[i], i + 1);
		assert_change_equal(&f->ch[i], &c);
	}
	assert_int_equal(info.next_lsn, n + 1);
}

static void seg_file(struct fx *f, uint64_t lsn, char *out)
{
	snprintf(out, FS_PATH_MAX, "%s/shard-00/wal-%016" PRIx64 ".log", f->root, lsn);
}

static size_t file_read(const char *path, uint8_t *buf, size_t cap)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	assert_true(fd >= 0);
	n = read(fd, buf, cap);
	assert_true(n >= 0 && (size_t)n < cap);
	close(fd);
	return (size_t)n;
}

static void file_write(const char *path, const void *buf, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, n), (ssize_t)n);
	close(fd);
}

static off_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* Write a hand-made segment holding change records with the given LSNs. */
static void craft_segment(struct fx *f, uint64_t name_lsn, const uint64_t *lsns, unsigned n)
{
	_Alignas(8) uint8_t buf[64 * REC];
	uint8_t payload[WAL_CHANGE_BYTES];
	char dir[FS_PATH_MAX], path[FS_PATH_MAX];
	size_t off = 0;

	snprintf(dir, sizeof(dir), "%s/shard-00", f->root);
	mkdir(dir, 0755);
	for (unsigned i = 0; i < n; i++) {
		struct store_change c = change_of(lsns[i]);
		wal_change_encode(payload, &c);
		assert_int_equal(wal_record_encode(buf + off, sizeof(buf) - off, lsns[i],
						   WAL_REC_CHANGE, payload, WAL_CHANGE_BYTES),
				 REC);
		off += REC;
	}
	seg_file(f, name_lsn, path);
	file_write(path, buf, off);
}

/* ---- codec ---- */

static void test_wal_crc32c_vector(void **state)
{
	_Alignas(8) char buf[16] = "123456789";

	(void)state;
	/* rte_hash_crc used without rte_eal_init: the header is enough. */
	assert_int_equal(wal_crc32c(buf, 9), 0xe3069283u);
	assert_int_equal(wal_crc32c(buf, 0), 0);
}

static void test_wal_change_encode_every_type(void **state)
{
	uint8_t a[WAL_CHANGE_BYTES], b[WAL_CHANGE_BYTES];
	struct store_change in, out;

	(void)state;
	for (uint8_t t = STORE_CH_RESERVE; t <= STORE_CH_EXPIRE; t++) {
		in = change_of(t);
		in.type = t;
		wal_change_encode(a, &in);
		assert_int_equal(wal_change_decode(a, &out), 0);
		assert_change_equal(&in, &out);
		wal_change_encode(b, &out);
		assert_memory_equal(a, b, sizeof(a));
	}
	/* Extremes, and the explicit little-endian layout. */
	memset(&in, 0xff, sizeof(in));
	in.type = STORE_CH_PAY;
	in.time_ns = INT64_MIN;
	wal_change_encode(a, &in);
	assert_int_equal(wal_change_decode(a, &out), 0);
	assert_change_equal(&in, &out);
	in = (struct store_change){.type = STORE_CH_RESERVE,
				   .qty = 0x0102,
				   .item_id = 0x03040506,
				   .order_id = 0x0708090a0b0c0d0eull};
	wal_change_encode(a, &in);
	assert_int_equal(a[0], 0x0e);
	assert_int_equal(a[7], 0x07);
	assert_int_equal(a[40], 0x06);
	assert_int_equal(a[43], 0x03);
	assert_int_equal(a[44], 0x02);
	assert_int_equal(a[45], 0x01);
	assert_int_equal(a[46], STORE_CH_RESERVE);
	assert_int_equal(a[47], 0);
}

static void test_wal_change_decode_bad_type(void **state)
{
	uint8_t a[WAL_CHANGE_BYTES];
	struct store_change c = change_of(1), out;

	(void)state;
	wal_change_encode(a, &c);
	a[46] = 0;
	assert_int_equal(wal_change_decode(a, &out), -EBADMSG);
	a[46] = STORE_CH_WINDOW + 1;
	assert_int_equal(wal_change_decode(a, &out), -EBADMSG);
	a[46] = STORE_CH_PAY;
	a[47] = 1;
	assert_int_equal(wal_change_decode(a, &out), -EBADMSG);
}

static void change_equal(const struct store_change *a, const struct store_change *b)
{
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->qty, b->qty);
	assert_int_equal(a->item_id, b->item_id);
	assert_true(a->order_id == b->order_id && a->user_id == b->user_id &&
		    a->request_id == b->request_id && a->ref == b->ref && a->time_ns == b->time_ns);
}

/* The admin change types (STOCK, WINDOW) ride in the same 48 bytes. */
static void test_wal_change_admin_roundtrip(void **state)
{
	uint8_t a[WAL_CHANGE_BYTES];
	struct store_change st = {.type = STORE_CH_STOCK, .item_id = 7, .order_id = 100,
				  .ref = 40, .user_id = (uint64_t)(int64_t)-60,
				  .request_id = 0xfeedULL, .time_ns = 123456789};
	struct store_change win = {.type = STORE_CH_WINDOW, .user_id = 3,
				   .order_id = (uint64_t)(int64_t)-5, .ref = 1ULL << 62,
				   .request_id = 9, .time_ns = -1};
	struct store_change out;

	(void)state;
	wal_change_encode(a, &st);
	assert_int_equal(a[46], STORE_CH_STOCK);
	assert_int_equal(wal_change_decode(a, &out), 0);
	change_equal(&out, &st);
	wal_change_encode(a, &win);
	assert_int_equal(a[46], STORE_CH_WINDOW);
	assert_int_equal(wal_change_decode(a, &out), 0);
	change_equal(&out, &win);
}

static void test_wal_record_encode_admin_generic(void **state)
{
	_Alignas(8) uint8_t buf[WAL_RECORD_MAX + 8];
	uint8_t payload[WAL_PAYLOAD_MAX];
	struct wal_record rec;

	(void)state;
	for (unsigned i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 1);
	for (uint32_t len = 1; len <= 17; len++) {
		int n = wal_record_encode(buf, sizeof(buf), 9, WAL_REC_ADMIN, payload, len);
		assert_int_equal(n, (int)wal_record_size(len));
		assert_int_equal(n % 8, 0);
		assert_int_equal(wal_record_decode(buf, (size_t)n, &rec), n);
		assert_int_equal(rec.lsn, 9);
		assert_int_equal(rec.type, WAL_REC_ADMIN);
		assert_int_equal(rec.len, len);
		assert_memory_equal(rec.payload, payload, len);
		for (int i = WAL_REC_HDR_BYTES + (int)len; i < n; i++)
			assert_int_equal(buf[i], 0);
	}
	assert_int_equal(
		wal_record_encode(buf, sizeof(buf), 1, WAL_REC_ADMIN, payload, WAL_PAYLOAD_MAX),
		WAL_RECORD_MAX);
	assert_int_equal(wal_record_decode(buf, WAL_RECORD_MAX, &rec), WAL_RECORD_MAX);
	assert_int_equal(wal_record_encode(buf, sizeof(buf), 1, WAL_REC_ADMIN, payload, 0),
			 -EINVAL);
	assert_int_equal(
		wal_record_encode(buf, sizeof(buf), 1, WAL_REC_ADMIN, payload, WAL_PAYLOAD_MAX + 1),
		-EINVAL);
	assert_int_equal(wal_record_encode(buf, sizeof(buf), 0, WAL_REC_ADMIN, payload, 4),
			 -EINVAL);
	assert_int_equal(wal_record_encode(buf, sizeof(buf), 1, 3, payload, 4), -EINVAL);
	assert_int_equal(wal_record_encode(buf, sizeof(buf), 1, WAL_REC_CHANGE, payload, 40),
			 -EINVAL);
	assert_int_equal(wal_record_encode(buf, 31, 1, WAL_REC_ADMIN, payload, 8), -ENOBUFS);
}

static void test_wal_record_decode_invalid(void **state)
{
	_Alignas(8) uint8_t buf[2 * REC];
	uint8_t payload[WAL_CHANGE_BYTES];
	struct store_change c = change_of(5);
	struct wal_record rec;

	(void)state;
	wal_change_encode(payload, &c);
	assert_int_equal(
		wal_record_encode(buf, sizeof(buf), 5, WAL_REC_CHANGE, payload, WAL_CHANGE_BYTES),
		REC);
	for (size_t n = 0; n < REC; n++)
		assert_int_equal(wal_record_decode(buf, n, &rec), -ENODATA);
	for (size_t i = 4; i < REC; i++) { /* every covered byte is checked */
		buf[i] ^= 0x10;
		assert_int_equal(wal_record_decode(buf, REC, &rec), -EBADMSG);
		buf[i] ^= 0x10;
	}
	assert_int_equal(wal_record_decode(buf, REC, &rec), REC);
	buf[0] = 0; /* length 0 */
	assert_int_equal(wal_record_decode(buf, REC, &rec), -EBADMSG);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(wal_record_decode(buf, sizeof(buf), &rec), -EBADMSG);
	/* Nonzero padding of an admin record (not covered by the CRC). */
	assert_int_equal(wal_record_encode(buf, sizeof(buf), 1, WAL_REC_ADMIN, payload, 3), 32);
	buf[30] = 1;
	assert_int_equal(wal_record_decode(buf, 32, &rec), -EBADMSG);
}

/* ---- writing and replaying ---- */

static void test_wal_replay_missing_dir(void **state)
{
	struct fx *f = *state;
	struct wal_replay_info info;

	assert_int_equal(replay(f, 0, &info), 0);
	assert_int_equal(info.next_lsn, 1);
	assert_int_equal(info.segment_lsn, 0);
	assert_int_equal(replay(f, 5, &info), 0);
	assert_int_equal(info.next_lsn, 5);
}

static void test_wal_append_replay_roundtrip(void **state)
{
	struct fx *f = *state;
	struct wal_replay_info info;
	uint64_t durable = 0, lsn = 1;
	struct wal *w = open_wal(f);

	for (unsigned b = 0; b < 10; b++, lsn += 100)
		append_submit(w, lsn, 100);
	assert_int_equal(wal_wait(w, &durable), 0);
	assert_int_equal(durable, 10);
	assert_int_equal(wal_close(w), 0);
	assert_log(f, 1000);

	/* from_lsn: earlier records are read and checked, not replayed. */
	assert_int_equal(replay(f, 501, &info), 0);
	assert_int_equal(f->n, 500);
	assert_int_equal(f->lsn[0], 501);
	assert_int_equal(info.records, 1000);
	assert_int_equal(info.replayed, 500);
	assert_int_equal(info.first_lsn, 1);

	/* Reopen: LSNs and tickets continue. */
	w = open_wal(f);
	assert_int_equal(append_submit(w, 1001, 5), 1);
	assert_int_equal(wal_close(w), 0);
	assert_log(f, 1005);
}

static void test_wal_submit_group_commit(void **state)
{
	struct fx *f = *state;
	struct wal_stats st;
	uint64_t durable = 0;
	struct wal *w = open_wal(f);

	assert_int_equal(append_submit(w, 1, 300), 1);
	assert_int_equal(wal_wait(w, &durable), 0);
	assert_int_equal(durable, 1);
	wal_stats(w, &st);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.fsyncs, 1);
	assert_int_equal(st.records, 300);
	assert_int_equal(st.durable_lsn, 300);
	assert_int_equal(st.synced_lsn, 300);
	assert_true(st.fixed_buffers);
	/* An empty submit sends nothing and names the newest ticket. */
	assert_int_equal(wal_submit(w, &durable), 0);
	assert_int_equal(durable, 1);
	assert_int_equal(wal_close(w), 0);
	assert_log(f, 300);
}

static void test_wal_append_batch_full(void **state)
{
	struct fx *f = *state;
	unsigned fit = WAL_RECORD_MAX / REC;
	uint64_t ticket;
	struct wal *w;

	f->p.batch_bytes = WAL_RECORD_MAX;
	w = open_wal(f);
	for (unsigned i = 1; i <= fit; i++) {
		struct store_change c = change_of(i);
		assert_int_equal(wal_append(w, &c), (int64_t)i);
	}
	struct store_change c = change_of(fit + 1);
	assert_int_equal(wal_append(w, &c), -ENOBUFS);
	assert_int_equal(wal_submit(w, &ticket), 0);
	assert_int_equal(wal_append(w, &c), (int64_t)fit + 1);
	assert_int_equal(wal_submit(w, &ticket), 0);
	assert_int_equal(ticket, 2);
	assert_int_equal(wal_close(w), 0);
	assert_log(f, fit + 1);
}

static void test_wal_submit_queue_full(void **state)
{
	struct fx *f = *state;
	uint64_t ticket = 0, durable = 0;
	struct store_change c = change_of(2);
	struct wal *w;

	f->p.queue_depth = 1;
	w = open_wal(f);
	assert_int_equal(append_submit(w, 1, 1), 1);
	assert_int_equal(wal_append(w, &c), 2);
	assert_int_equal(wal_submit(w, &ticket), -EBUSY); /* nothing reaped yet */
	assert_int_equal(wal_wait(w, &durable), 0);
	assert_int_equal(durable, 1);
	assert_int_equal(wal_submit(w, &ticket), 0);
	assert_int_equal(ticket, 2);
	assert_int_equal(wal_close(w), 0);
	assert_log(f, 2);
}

/* Many small batches in flight, tiny segments: tickets become durable in
 * order, segment barriers hold, replay sees every record once. */
static void test_wal_submit_many_in_flight(void **state)
{
	struct fx *f = *state;
	uint64_t durable = 0, prev = 0, ticket, lsn = 1;
	struct wal_replay_info info;
	struct wal_stats st;
	struct wal *w;

	f->p.segment_bytes = 1024;
	w = open_wal(f);
	for (unsigned b = 0; b < 300; b++) {
		for (unsigned i = 0; i < 3; i++, lsn++) {
			struct store_change c = change_of(lsn);
			assert_int_equal(wal_append(w, &c), (int64_t)lsn);
		}
		int rc;
		while ((rc = wal_submit(w, &ticket)) == -EBUSY) {
			assert_int_equal(wal_poll(w, &durable), 0);
			assert_true(durable >= prev);
			prev = durable;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(ticket, b + 1);
	}
	assert_int_equal(wal_wait(w, &durable), 0);
	assert_int_equal(durable, 300);
	wal_stats(w, &st);
	assert_int_equal(st.durable_lsn, 900);
	assert_true(st.segments_created > 10);
	assert_int_equal(wal_close(w), 0);
	assert_log(f, 900);
	assert_int_equal(replay(f, 1, &info), 0);
	assert_int_equal(info.segments, st.segments_created);
}

static void test_wal_open_mode_none(void **state)
{
	struct fx *f = *state;
	struct wal_stats st;
	uint64_t durable = 0;
	struct wal *w;

	f->p.durability = WAL_DURABILITY_NONE;
	w = open_wal(f);
	append_submit(w, 1, 10);
	assert_int_equal(wal_wait(w, &durable), 0);
	assert_int_equal(durable, 1);
	wal_stats(w, &st);
	assert_int_equal(st.fsyncs, 0);
	assert_int_equal(wal_close(w), 0);
	assert_log(f, 10);
}

static void test_wal_event_fd_signals(void **state)
{
	struct fx *f = *state;
	struct pollfd pfd = {.events = POLLIN};
	uint64_t durable = 0, v;
	struct wal *w;

	assert_int_equal(wal_event_fd(w = open_wal(f)), -ENOENT);
	assert_int_equal(wal_close(w), 0);
	f->p.eventfd = true;
	w = open_wal(f);
	pfd.fd = wal_event_fd(w);
	assert_true(pfd.fd >= 0);
	append_submit(w, 1, 4);
	for (int i = 0; i < 100 && durable < 1; i++) {
		assert_int_equal(poll(&pfd, 1, 2000), 1);
		assert_int_equal(read(pfd.fd, &v, sizeof(v)), (ssize_t)sizeof(v));
		assert_int_equal(wal_poll(w, &durable), 0);
	}
	assert_int_equal(durable, 1);
	assert_int_equal(wal_close(w), 0);
}

/* ---- recovery ---- */

static void test_wal_replay_torn_tail_every_offset(void **state)
{
	struct fx *f = *state;
	uint8_t orig[8 * REC];
	char path[FS_PATH_MAX];
	struct wal_replay_info info;
	struct wal *w;
	size_t size;

	w = open_wal(f);
	append_submit(w, 1, 4);
	assert_int_equal(wal_close(w), 0);
	seg_file(f, 1, path);
	size = file_read(path, orig, sizeof(orig));
	assert_int_equal(size, 4 * REC);
	for (size_t len = 3 * REC; len < 4 * REC; len++) {
		file_write(path, orig, len);
		assert_int_equal(replay(f, 1, &info), 0);
		assert_int_equal(f->n, 3);
		assert_int_equal(info.next_lsn, 4);
		assert_int_equal(info.append_offset, 3 * REC);
		assert_int_equal(info.torn, len > 3 * REC);
		if (len > 3 * REC) {
			assert_string_equal(info.torn_file, path);
			assert_int_equal(info.torn_offset, 3 * REC);
			assert_int_equal(info.torn_bytes, len - 3 * REC);
		}
		assert_int_equal(file_size(path), 3 * REC);
		/* Reopen: the next append gets LSN 4 and lands where the tail was. */
		assert_int_equal(wal_open(&f->p, &info, &w, f->err, sizeof(f->err)), 0);
		append_submit(w, 4, 1);
		assert_int_equal(wal_close(w), 0);
		assert_log(f, 4);
	}
}

static void test_wal_replay_torn_zero_tail(void **state)
{
	struct fx *f = *state;
	uint8_t buf[8 * REC] = {0};
	char path[FS_PATH_MAX];
	struct wal_replay_info info;
	struct wal *w = open_wal(f);

	append_submit(w, 1, 3);
	assert_int_equal(wal_close(w), 0);
	seg_file(f, 1, path);
	assert_int_equal(file_read(path, buf, sizeof(buf)), 3 * REC);
	file_write(path, buf, 3 * REC + 100); /* zeros after the last record */
	assert_int_equal(replay(f, 1, &info), 0);
	assert_true(info.torn);
	assert_int_equal(info.torn_bytes, 100);
	assert_int_equal(file_size(path), 3 * REC);
	assert_log(f, 3);
}

/* A bad last record at or below the acknowledged LSN is corruption; above
 * it, a torn tail as before. A log ending before it is refused. */
static void test_wal_replay_acked_tail_is_corruption(void **state)
{
	struct fx *f = *state;
	uint8_t buf[8 * REC];
	char path[FS_PATH_MAX];
	struct wal_replay_info info;
	struct wal *w = open_wal(f);

	append_submit(w, 1, 4);
	assert_int_equal(wal_close(w), 0);
	seg_file(f, 1, path);
	assert_int_equal(file_read(path, buf, sizeof(buf)), 4 * REC);
	buf[3 * REC + WAL_REC_HDR_BYTES + 3] ^= 0x01; /* one bit of LSN 4's payload */
	file_write(path, buf, 4 * REC);
	f->n = 0;
	assert_int_equal(wal_replay_acked(f->root, 0, &f->ops, 1, 4, collect, f, &info, f->err,
					  sizeof(f->err)),
			 -EBADMSG);
	assert_non_null(strstr(f->err, path));
	assert_non_null(strstr(f->err, "offset 216"));
	assert_non_null(strstr(f->err, "acknowledged"));
	assert_int_equal(file_size(path), 4 * REC); /* nothing cut */
	/* Acknowledged only up to 3: LSN 4 is a torn tail and is cut. */
	assert_int_equal(wal_replay_acked(f->root, 0, &f->ops, 1, 3, collect, f, &info, f->err,
					  sizeof(f->err)),
			 0);
	assert_true(info.torn);
	assert_int_equal(info.next_lsn, 4);
	/* Now the log ends at 3: acknowledged 4 is missing. */
	assert_int_equal(wal_replay_acked(f->root, 0, &f->ops, 1, 4, collect, f, &info, f->err,
					  sizeof(f->err)),
			 -EBADMSG);
	assert_non_null(strstr(f->err, "before LSN 4"));
	/* No segment at all, though 4 were acknowledged. */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(wal_replay_acked(f->root, 0, &f->ops, 1, 4, collect, f, &info, f->err,
					  sizeof(f->err)),
			 -EBADMSG);
	assert_non_null(strstr(f->err, "no log segment"));
	assert_int_equal(wal_replay_acked(f->root, 0, &f->ops, 1, 0, collect, f, &info, f->err,
					  sizeof(f->err)),
			 0);
}

/* A fault injected from another thread fails the log at its next poll;
 * the published position follows the log. */
static void test_wal_inject_fault(void **state)
{
	struct fx *f = *state;
	struct wal_position pos;
	uint64_t durable = 0, ticket;
	struct store_change c = change_of(9);
	struct wal *w = open_wal(f);

	wal_position(w, &pos);
	assert_int_equal(pos.segment_lsn, 1);
	assert_int_equal(pos.durable_lsn, 0);
	append_submit(w, 1, 3);
	assert_int_equal(wal_wait(w, &durable), 0);
	wal_position(w, &pos);
	assert_int_equal(pos.durable_lsn, 3);
	assert_int_equal(pos.failed, 0);
	wal_inject_fault(w, -ENOENT);
	assert_int_equal(wal_append(w, &c), 4); /* not seen before the next poll */
	assert_int_equal(wal_poll(w, &durable), -ENOENT);
	assert_int_equal(durable, 1);
	assert_int_equal(wal_append(w, &c), -ENOENT);
	assert_int_equal(wal_submit(w, &ticket), -ENOENT);
	wal_position(w, &pos);
	assert_int_equal(pos.failed, -ENOENT);
	assert_int_equal(pos.durable_lsn, 3);
	assert_int_equal(wal_close(w), -ENOENT);
}

static void test_wal_replay_bad_crc_last_record(void **state)
{
	struct fx *f = *state;
	uint8_t buf[8 * REC];
	char path[FS_PATH_MAX];
	struct wal_replay_info info;
	struct wal *w = open_wal(f);

	append_submit(w, 1, 3);
	assert_int_equal(wal_close(w), 0);
	seg_file(f, 1, path);
	file_read(path, buf, sizeof(buf));
	buf[2 * REC + 40] ^= 0x01; /* last record: a torn tail, nothing after */
	file_write(path, buf, 3 * REC);
	assert_int_equal(replay(f, 1, &info), 0);
	assert_int_equal(f->n, 2);
	assert_true(info.torn);
	assert_int_equal(info.torn_offset, 2 * REC);
	assert_int_equal(file_size(path), 2 * REC);
}

static void test_wal_replay_flipped_byte_middle(void **state)
{
	struct fx *f = *state;
	uint8_t buf[8 * REC], after[8 * REC];
	char path[FS_PATH_MAX], want[FS_PATH_MAX + 32];
	struct wal_replay_info info;
	struct wal *w = open_wal(f);

	append_submit(w, 1, 3);
	assert_int_equal(wal_close(w), 0);
	seg_file(f, 1, path);
	file_read(path, buf, sizeof(buf));
	buf[REC + 30] ^= 0x40; /* middle record's payload */
	file_write(path, buf, 3 * REC);
	assert_int_equal(replay(f, 1, &info), -EBADMSG);
	snprintf(want, sizeof(want), "%s: offset %u: bad CRC", path, REC);
	assert_non_null(strstr(f->err, want));
	assert_non_null(strstr(f->err, "followed by a valid record at offset 144"));
	/* Nothing changed. */
	assert_int_equal(file_read(path, after, sizeof(after)), 3 * REC);
	assert_memory_equal(after, buf, 3 * REC);
	/* A bad length in the middle is refused the same way. */
	buf[REC + 30] ^= 0x40;
	buf[REC + 1] = 0x7f;
	file_write(path, buf, 3 * REC);
	assert_int_equal(replay(f, 1, &info), -EBADMSG);
	assert_non_null(strstr(f->err, "offset 72: bad record length"));
	assert_int_equal(file_size(path), 3 * REC);
}

static void test_wal_replay_lsn_gap(void **state)
{
	struct fx *f = *state;
	struct wal_replay_info info;
	const uint64_t inside[] = {1, 2, 4}, first[] = {1, 2}, second[] = {4, 5};
	const uint64_t wrong_name[] = {6};
	char path[FS_PATH_MAX];

	craft_segment(f, 1, inside, 3);
	assert_int_equal(replay(f, 1, &info), -EBADMSG);
	assert_non_null(strstr(
		f->err, "wal-0000000000000001.log: offset 144: LSN gap: expected 3, found 4"));
	/* Across segments: the second one's name skips LSN 3. */
	craft_segment(f, 1, first, 2);
	craft_segment(f, 4, second, 2);
	assert_int_equal(replay(f, 1, &info), -EBADMSG);
	assert_non_null(strstr(
		f->err,
		"wal-0000000000000004.log: offset 0: LSN gap: segment starts at 4, expected 3"));
	/* A segment whose first record is not its name. */
	seg_file(f, 4, path);
	unlink(path);
	craft_segment(f, 3, wrong_name, 1);
	assert_int_equal(replay(f, 1, &info), -EBADMSG);
	assert_non_null(strstr(f->err, "LSN gap: expected 3, found 6"));
}

static void test_wal_replay_bad_non_last_segment(void **state)
{
	struct fx *f = *state;
	uint8_t buf[8 * REC] = {0};
	const uint64_t first[] = {1, 2}, second[] = {3};
	char path[FS_PATH_MAX];
	struct wal_replay_info info;

	craft_segment(f, 1, first, 2);
	craft_segment(f, 3, second, 1);
	seg_file(f, 1, path);
	file_read(path, buf, sizeof(buf));
	file_write(path, buf, 2 * REC - 10); /* a torn tail, but not in the last segment */
	assert_int_equal(replay(f, 1, &info), -EBADMSG);
	assert_non_null(
		strstr(f->err, "offset 72: record cut short (in a segment that is not the last)"));
	assert_int_equal(file_size(path), 2 * REC - 10);
}

static void test_wal_replay_snapshot_outside_log(void **state)
{
	struct fx *f = *state;
	struct wal_replay_info info;
	struct wal *w = open_wal(f);

	append_submit(w, 1, 3);
	assert_int_equal(wal_close(w), 0);
	assert_int_equal(replay(f, 4, &info), 0); /* snapshot holds all: nothing to replay */
	assert_int_equal(f->n, 0);
	assert_int_equal(info.next_lsn, 4);
	assert_int_equal(replay(f, 10, &info), -EBADMSG);
	assert_non_null(strstr(f->err, "log ends at LSN 3, before from_lsn 10"));
}

static void test_wal_replay_callback_error(void **state)
{
	struct fx *f = *state;
	struct wal_replay_info info;
	struct wal *w = open_wal(f);

	append_submit(w, 1, 3);
	assert_int_equal(wal_close(w), 0);
	f->cb_fail_at_lsn = 2;
	assert_int_equal(replay(f, 1, &info), -EINTR);
	assert_int_equal(f->n, 1);
	assert_non_null(strstr(f->err, "LSN 2"));
}

static void test_wal_replay_admin_record_refused(void **state)
{
	struct fx *f = *state;
	struct wal_replay_info info;
	const char note[] = "stock +5";
	struct store_change c = change_of(2);
	uint64_t ticket;
	struct wal *w = open_wal(f);

	assert_int_equal(wal_append_admin(w, note, sizeof(note)), 1);
	assert_int_equal(wal_append(w, &c), 2);
	assert_int_equal(wal_submit(w, &ticket), 0);
	assert_int_equal(wal_close(w), 0);
	assert_int_equal(replay(f, 1, &info), -ENOTSUP);
	assert_non_null(strstr(f->err, "admin record"));
	assert_int_equal(replay(f, 2, &info), 0); /* already in the snapshot */
	assert_int_equal(f->n, 1);
	assert_change_equal(&f->ch[0], &c);
}

static void test_wal_replay_truncate_fails(void **state)
{
	struct fx *f = *state;
	uint8_t buf[8 * REC];
	char path[FS_PATH_MAX];
	struct wal_replay_info info;
	struct wal *w = open_wal(f);

	append_submit(w, 1, 3);
	assert_int_equal(wal_close(w), 0);
	seg_file(f, 1, path);
	file_read(path, buf, sizeof(buf));
	file_write(path, buf, 3 * REC - 5);
	f->fail_ftruncate = 1;
	assert_int_equal(replay(f, 1, &info), -EIO);
	assert_non_null(strstr(f->err, "truncating the torn tail at offset 144"));
	assert_int_equal(file_size(path), 3 * REC - 5);
}

static void test_wal_open_segment_changed(void **state)
{
	struct fx *f = *state;
	struct wal_replay_info info;
	char path[FS_PATH_MAX];
	struct wal *w = open_wal(f);
	int fd;

	append_submit(w, 1, 2);
	assert_int_equal(wal_close(w), 0);
	assert_int_equal(replay(f, 1, &info), 0);
	seg_file(f, 1, path);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_int_equal(write(fd, "12345678", 8), 8);
	close(fd);
	assert_int_equal(wal_open(&f->p, &info, &w, f->err, sizeof(f->err)), -EBADMSG);
	assert_null(w);
	assert_non_null(strstr(f->err, "size changed since wal_replay"));
}

/* ---- segments ---- */

static void test_wal_append_segment_rollover(void **state)
{
	struct fx *f = *state;
	struct wal_replay_info info;
	char path[FS_PATH_MAX];
	uint64_t durable;
	struct wal *w;

	f->p.segment_bytes = 200; /* rolls after every second batch of 2 records */
	w = open_wal(f);
	for (uint64_t lsn = 1; lsn <= 20; lsn += 2) {
		append_submit(w, lsn, 2);
		assert_int_equal(wal_wait(w, &durable), 0);
	}
	assert_int_equal(wal_close(w), 0);
	for (uint64_t first = 1; first <= 17; first += 4) {
		seg_file(f, first, path);
		assert_int_equal(file_size(path), 4 * REC);
	}
	assert_int_equal(replay(f, 1, &info), 0);
	assert_int_equal(info.segments, 5);
	assert_int_equal(info.segment_lsn, 17);
	assert_log(f, 20);

	assert_int_equal(wal_remove_before(f->root, 0, &f->ops, 10), 2); /* 1-4, 5-8 */
	seg_file(f, 5, path);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(replay(f, 10, &info), 0);
	assert_int_equal(info.first_lsn, 9);
	assert_int_equal(f->n, 11);
	assert_int_equal(replay(f, 1, &info), -EBADMSG);
	assert_non_null(strstr(f->err, "log starts at LSN 9, after from_lsn 1"));
	/* The last segment is never removed, whatever the LSN. */
	assert_int_equal(wal_remove_before(f->root, 0, &f->ops, 1000), 2);
	assert_int_equal(wal_remove_before(f->root, 0, &f->ops, 1000), 0);
	assert_int_equal(replay(f, 21, &info), 0);
	assert_int_equal(info.segments, 1);
	assert_int_equal(info.next_lsn, 21);
	/* And appending continues in it. */
	assert_int_equal(wal_open(&f->p, &info, &w, f->err, sizeof(f->err)), 0);
	append_submit(w, 21, 1);
	assert_int_equal(wal_close(w), 0);
	assert_int_equal(replay(f, 17, &info), 0);
	assert_int_equal(f->n, 5);
}

static void test_wal_append_rollover_dir_fsync_fails(void **state)
{
	struct fx *f = *state;
	struct store_change c = change_of(3);
	uint64_t durable = 0, ticket;
	struct wal_stats st;
	struct wal *w;

	f->p.segment_bytes = WAL_SEGMENT_BYTES_MIN;
	w = open_wal(f);
	assert_int_equal(append_submit(w, 1, 1), 1); /* in flight */
	assert_int_equal(append_submit(w, 2, 1), 2); /* queued behind it */
	f->fail_fsync = 1;
	assert_int_equal(wal_append(w, &c), -EIO); /* new segment: directory fsync fails */
	f->fail_fsync = 0;
	assert_int_equal(wal_append(w, &c), -EIO);
	assert_int_equal(wal_submit(w, &ticket), -EIO);
	/* Tickets sealed before the failure still complete in the old segment. */
	assert_int_equal(wal_wait(w, &durable), -EIO);
	assert_int_equal(durable, 2);
	assert_int_equal(wal_poll(w, &durable), -EIO);
	wal_stats(w, &st);
	assert_int_equal(st.failed_ticket, 3);
	assert_int_equal(st.durable_lsn, 2);
	assert_int_equal(wal_close(w), -EIO);
	assert_log(f, 2); /* the empty segment left behind is harmless */
}

/* ---- injected I/O faults ---- */

static void write_fault(struct fx *f, int res)
{
	struct store_change c = change_of(5);
	struct wal_stats st;
	uint64_t durable = 9, ticket;
	struct wal *w = open_wal(f);

	append_submit(w, 1, 2);
	assert_int_equal(wal_wait(w, &durable), 0);
	f->hook.write_at = f->hook.writes + 1;
	f->hook.write_res = res;
	assert_int_equal(append_submit(w, 3, 2), 2);
	assert_int_equal(wal_wait(w, &durable), res);
	assert_int_equal(durable, 1);
	assert_int_equal(wal_poll(w, &durable), res);
	assert_int_equal(durable, 1);
	assert_int_equal(wal_append(w, &c), res);
	assert_int_equal(wal_submit(w, &ticket), res);
	assert_int_equal(wal_tick(w, INT64_MAX), res);
	wal_stats(w, &st);
	assert_int_equal(st.failed, res);
	assert_int_equal(st.failed_ticket, 2);
	assert_int_equal(st.durable_lsn, 2);
	assert_int_equal(wal_close(w), res);
}

static void test_wal_poll_write_eio(void **state)
{
	write_fault(*state, -EIO);
}

static void test_wal_poll_write_enospc(void **state)
{
	write_fault(*state, -ENOSPC);
}

static void test_wal_submit_short_write(void **state)
{
	struct fx *f = *state;
	struct wal_stats st;
	uint64_t durable;
	struct wal *w = open_wal(f);

	f->hook.write_at = 1;
	f->hook.write_res = HOOK_HALF;
	append_submit(w, 1, 10);
	assert_int_equal(wal_wait(w, &durable), 0);
	assert_int_equal(durable, 1);
	wal_stats(w, &st);
	assert_int_equal(st.short_writes, 1);
	assert_int_equal(f->hook.writes, 2);
	append_submit(w, 11, 3);
	assert_int_equal(wal_close(w), 0);
	assert_log(f, 13); /* every record once */
}

static void test_wal_submit_write_eagain(void **state)
{
	struct fx *f = *state;
	struct wal_stats st;
	uint64_t durable;
	struct wal *w = open_wal(f);

	f->hook.write_at = 1;
	f->hook.write_res = -EAGAIN;
	append_submit(w, 1, 5);
	assert_int_equal(wal_wait(w, &durable), 0);
	assert_int_equal(durable, 1);
	wal_stats(w, &st);
	assert_int_equal(st.eagain_retries, 1);
	assert_int_equal(wal_close(w), 0);
	assert_log(f, 5);
}

static void test_wal_poll_fsync_eio(void **state)
{
	struct fx *f = *state;
	struct store_change c = change_of(9);
	uint64_t durable = 0, ticket;
	struct wal_stats st;
	struct wal *w = open_wal(f);

	assert_int_equal(append_submit(w, 1, 2), 1);
	assert_int_equal(wal_wait(w, &durable), 0);
	assert_int_equal(durable, 1);
	/* From now on every fdatasync fails: tickets 2 and 3 overlap, and
	 * either may complete first. */
	f->hook.fsync_at = f->hook.fsyncs + 1;
	f->hook.fsync_res = -EIO;
	f->hook.fsync_sticky = true;
	assert_int_equal(append_submit(w, 3, 2), 2);
	assert_int_equal(append_submit(w, 5, 2), 3); /* queued behind the failing one */
	assert_int_equal(wal_wait(w, &durable), -EIO);
	assert_int_equal(durable, 1);
	for (int i = 0; i < 3; i++) { /* permanent: never durable, never retried */
		assert_int_equal(wal_poll(w, &durable), -EIO);
		assert_int_equal(durable, 1);
	}
	assert_int_equal(wal_append(w, &c), -EIO);
	assert_int_equal(wal_submit(w, &ticket), -EIO);
	wal_stats(w, &st);
	assert_int_equal(st.failed_ticket, 2);
	assert_int_equal(st.durable_lsn, 2);
	assert_int_equal(wal_close(w), -EIO);
}

static void test_wal_tick_batch_mode(void **state)
{
	struct fx *f = *state;
	struct wal_stats st;
	uint64_t durable = 0;
	struct wal *w;

	f->p.durability = WAL_DURABILITY_BATCH;
	f->p.sync_interval_ms = 50;
	w = open_wal(f);
	append_submit(w, 1, 5);
	for (int i = 0; i < 2000 && durable < 1; i++) {
		assert_int_equal(wal_poll(w, &durable), 0);
		usleep(1000);
	}
	assert_int_equal(durable, 1); /* acknowledged on the write */
	wal_stats(w, &st);
	assert_int_equal(st.fsyncs, 0);
	assert_int_equal(st.synced_lsn, 0);
	assert_int_equal(wal_tick(w, fs_mono_ns()), 0); /* interval not over: nothing */
	assert_int_equal(wal_tick(w, fs_mono_ns() + 60 * FS_NS_PER_MS), 0);
	for (int i = 0; i < 2000 && st.synced_lsn < 5; i++) {
		assert_int_equal(wal_poll(w, &durable), 0);
		wal_stats(w, &st);
		usleep(1000);
	}
	assert_int_equal(st.synced_lsn, 5);
	assert_int_equal(st.fsyncs, 1);
	append_submit(w, 6, 2);
	assert_int_equal(wal_close(w), 0); /* wal_wait syncs the rest */
	assert_log(f, 7);
}

static void test_wal_tick_fsync_eio(void **state)
{
	struct fx *f = *state;
	struct store_change c = change_of(3);
	uint64_t durable = 0;
	struct wal *w;

	f->p.durability = WAL_DURABILITY_BATCH;
	w = open_wal(f);
	f->hook.fsync_at = 1;
	f->hook.fsync_res = -EIO;
	append_submit(w, 1, 2);
	for (int i = 0; i < 2000 && durable < 1; i++) {
		assert_int_equal(wal_poll(w, &durable), 0);
		usleep(1000);
	}
	assert_int_equal(durable, 1);
	assert_int_equal(wal_tick(w, fs_mono_ns() + FS_NS_PER_S), 0);
	assert_int_equal(wal_wait(w, &durable), -EIO);
	assert_int_equal(durable, 1); /* acknowledged before: the documented loss window */
	assert_int_equal(wal_append(w, &c), -EIO);
	assert_int_equal(wal_close(w), -EIO);
}

/* ---- catalog definitions (admin record kind 1) ---- */

static void mk_def(struct store_catalog_def *d, bool act, uint32_t n)
{
	memset(d, 0, sizeof(*d));
	d->request_id = 0x8000000000000001ULL;
	d->time_ns = -5;
	d->has_activity = act;
	d->act.id = 77;
	if (act) {
		snprintf(d->act.name, sizeof(d->act.name), "Singles' Day \"x\"");
		d->act.start_ns = 1000;
		d->act.end_ns = 2000;
		d->act.pay_timeout_s = 900;
		d->act.require_token = true;
		d->act.has_payment_key = true;
		for (int i = 0; i < 16; i++) {
			d->act.token_key[i] = (uint8_t)i;
			d->act.payment_key[i] = (uint8_t)(0xf0 - i);
		}
	}
	for (uint32_t k = 0; k < n; k++)
		d->items[d->n_items++] = (struct store_item_def){.id = 9000 + k,
								 .total = 100 + k,
								 .per_user_limit = 3,
								 .max_per_order = 2,
								 .price_cents = 1ULL << 40};
}

static void test_wal_catalog_roundtrip(void **state)
{
	(void)state;
	static struct store_catalog_def d, back;
	uint8_t buf[WAL_PAYLOAD_MAX];
	int n;

	for (int act = 0; act < 2; act++) {
		uint32_t counts[] = {0, 1, STORE_DEFINE_ITEMS_MAX};
		for (unsigned c = 0; c < 3; c++) {
			if (!act && counts[c] == 0)
				continue;
			mk_def(&d, act, counts[c]);
			n = wal_catalog_encode(buf, sizeof(buf), &d);
			assert_int_equal(n, WAL_CATALOG_HDR_BYTES +
						    counts[c] * WAL_CATALOG_ITEM_BYTES);
			assert_int_equal(wal_catalog_decode(buf, (uint32_t)n, &back), 0);
			assert_memory_equal(&back.act, &d.act, sizeof(d.act));
			assert_int_equal(back.request_id, d.request_id);
			assert_int_equal(back.time_ns, d.time_ns);
			assert_int_equal(back.has_activity, d.has_activity);
			assert_int_equal(back.n_items, d.n_items);
			assert_memory_equal(back.items, d.items, d.n_items * sizeof(d.items[0]));
		}
	}
	mk_def(&d, true, 2);
	assert_int_equal(wal_catalog_encode(buf, 100, &d), -ENOBUFS);
	d.n_items = STORE_DEFINE_ITEMS_MAX + 1;
	assert_int_equal(wal_catalog_encode(buf, sizeof(buf), &d), -EINVAL);
}

static void test_wal_catalog_decode_invalid(void **state)
{
	(void)state;
	static struct store_catalog_def d, back;
	uint8_t buf[WAL_PAYLOAD_MAX];
	int n;

	mk_def(&d, true, 2);
	n = wal_catalog_encode(buf, sizeof(buf), &d);
	assert_int_equal(wal_catalog_decode(buf, (uint32_t)n - 1, &back), -EBADMSG);
	assert_int_equal(wal_catalog_decode(buf, 10, &back), -EBADMSG);
	buf[0] = 2;
	assert_int_equal(wal_catalog_decode(buf, (uint32_t)n, &back), -EBADMSG);
	buf[0] = WAL_ADMIN_CATALOG;
	buf[1] |= 8;
	assert_int_equal(wal_catalog_decode(buf, (uint32_t)n, &back), -EBADMSG);
	buf[1] &= 7;
	buf[44] = 1;
	assert_int_equal(wal_catalog_decode(buf, (uint32_t)n, &back), -EBADMSG);
	buf[44] = 0;
	buf[80 + 63] = 'x'; /* name not terminated */
	assert_int_equal(wal_catalog_decode(buf, (uint32_t)n, &back), -EBADMSG);
	buf[80 + 63] = 0;
	buf[WAL_CATALOG_HDR_BYTES + 14] = 1; /* an item's reserved bytes */
	assert_int_equal(wal_catalog_decode(buf, (uint32_t)n, &back), -EBADMSG);
	buf[WAL_CATALOG_HDR_BYTES + 14] = 0;
	assert_int_equal(wal_catalog_decode(buf, (uint32_t)n, &back), 0);
	mk_def(&d, false, 1); /* items only: the activity fields must be zero */
	n = wal_catalog_encode(buf, sizeof(buf), &d);
	buf[30] = 1;
	assert_int_equal(wal_catalog_decode(buf, (uint32_t)n, &back), -EBADMSG);
}

static int admin_seen;
static uint64_t admin_lsn;
static int collect_admin(void *ctx, uint64_t lsn, const uint8_t *p, uint32_t len)
{
	struct store_catalog_def d;

	(void)ctx;
	assert_int_equal(wal_catalog_decode(p, len, &d), 0);
	assert_int_equal(d.n_items, 3);
	admin_seen++;
	admin_lsn = lsn;
	return 0;
}

static void test_wal_replay_ex_catalog_record(void **state)
{
	struct fx *f = *state;
	static struct store_catalog_def d;
	struct wal_replay_info info;
	uint8_t buf[WAL_PAYLOAD_MAX];
	struct store_change c1 = change_of(1), c3 = change_of(3);
	uint64_t ticket;
	struct wal *w = open_wal(f);
	int n;

	mk_def(&d, true, 3);
	n = wal_catalog_encode(buf, sizeof(buf), &d);
	assert_int_equal(wal_append(w, &c1), 1);
	assert_int_equal(wal_append_admin(w, buf, (uint32_t)n), 2);
	assert_int_equal(wal_append(w, &c3), 3);
	assert_int_equal(wal_submit(w, &ticket), 0);
	assert_int_equal(wal_close(w), 0);
	/* readers that do not know admin records refuse rather than skip */
	assert_int_equal(replay(f, 1, &info), -ENOTSUP);
	f->n = 0;
	admin_seen = 0;
	assert_int_equal(wal_replay_ex(f->root, 0, &f->ops, 1, 0, collect, collect_admin, f, &info,
				       f->err, sizeof(f->err)),
			 0);
	assert_int_equal(f->n, 2);
	assert_int_equal(admin_seen, 1);
	assert_int_equal(admin_lsn, 2);
	assert_int_equal(info.replayed, 3);
	/* the catalog pass: admin records only */
	f->n = 0;
	admin_seen = 0;
	assert_int_equal(wal_replay_ex(f->root, 0, &f->ops, 1, 0, NULL, collect_admin, f, &info,
				       f->err, sizeof(f->err)),
			 0);
	assert_int_equal(f->n, 0);
	assert_int_equal(admin_seen, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wal_crc32c_vector),
		cmocka_unit_test(test_wal_change_encode_every_type),
		cmocka_unit_test(test_wal_change_decode_bad_type),
		cmocka_unit_test(test_wal_change_admin_roundtrip),
		cmocka_unit_test(test_wal_record_encode_admin_generic),
		cmocka_unit_test(test_wal_record_decode_invalid),
		cmocka_unit_test(test_wal_catalog_roundtrip),
		cmocka_unit_test(test_wal_catalog_decode_invalid),
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_wal_replay_ex_catalog_record),
		T(test_wal_replay_missing_dir),
		T(test_wal_append_replay_roundtrip),
		T(test_wal_submit_group_commit),
		T(test_wal_append_batch_full),
		T(test_wal_submit_queue_full),
		T(test_wal_submit_many_in_flight),
		T(test_wal_open_mode_none),
		T(test_wal_event_fd_signals),
		T(test_wal_replay_torn_tail_every_offset),
		T(test_wal_replay_torn_zero_tail),
		T(test_wal_replay_bad_crc_last_record),
		T(test_wal_replay_acked_tail_is_corruption),
		T(test_wal_inject_fault),
		T(test_wal_replay_flipped_byte_middle),
		T(test_wal_replay_lsn_gap),
		T(test_wal_replay_bad_non_last_segment),
		T(test_wal_replay_snapshot_outside_log),
		T(test_wal_replay_callback_error),
		T(test_wal_replay_admin_record_refused),
		T(test_wal_replay_truncate_fails),
		T(test_wal_open_segment_changed),
		T(test_wal_append_segment_rollover),
		T(test_wal_append_rollover_dir_fsync_fails),
		T(test_wal_poll_write_eio),
		T(test_wal_poll_write_enospc),
		T(test_wal_submit_short_write),
		T(test_wal_submit_write_eagain),
		T(test_wal_poll_fsync_eio),
		T(test_wal_tick_batch_mode),
		T(test_wal_tick_fsync_eio),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
