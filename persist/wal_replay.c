/*
 * wal_replay.c — reading the write-ahead log: recovery of one shard's log
 * (wal_replay) and removal of the segments a snapshot made redundant.
 *
 * RECOVERY (wal_replay)
 *  1. List DIR/shard-NN; names that are not wal-<16 hex>.log are counted and
 *     ignored. Sort by first LSN. An empty or missing directory is an empty
 *     log: next LSN = max(1, from_lsn).
 *  2. The first segment must start at or before from_lsn (else records the
 *     snapshot needs are gone: -EBADMSG). Each segment's name must equal the
 *     LSN that follows the previous segment's last record.
 *  3. Read a segment whole, walk its records from offset 0. A record is valid
 *     when its length is in range, it fits in the file, the CRC matches, the
 *     reserved and padding bytes are zero, the type is known (a change
 *     record is 48 bytes and its change type is 1..4), and its LSN is the
 *     expected one. A valid record with another LSN is a gap: corruption.
 *     Records with lsn >= from_lsn go to the callback; a callback error
 *     aborts the replay with it.
 *  4. At the first invalid record at offset P:
 *       - in a segment that is not the last: corruption;
 *       - in the last segment, if a valid record (length, CRC, padding) starts
 *         at any multiple of 8 after P: corruption ("a bad record followed by
 *         a valid one": a flipped bit in the middle, never a torn write);
 *       - otherwise it is a torn tail (short header, short record, bad CRC,
 *         zeros, or a bad length, with nothing valid after): P is where the
 *         log ends.
 *     Corruption returns -EBADMSG, "FILE: offset P: what" in err, and changes
 *     no file.
 *  5. If the log ends before from_lsn - 1 (the snapshot is ahead of the log):
 *     -EBADMSG. Otherwise a torn tail is truncated to P (ftruncate, fsync,
 *     through the ops table) and reported in info; info gives the next LSN,
 *     the last segment and P, where wal_open continues appending. With
 *     wal_ops_readonly() (whose open-for-write fails with -EROFS) the tail
 *     is reported but not cut (info.torn_kept): offline tools and the change
 *     feed read a live log this way and stop quietly at its end.
 * ACKNOWLEDGED RECORDS (wal_replay_acked): the caller may say that every
 * record up to acked_lsn was acknowledged (persist/'s manifest records each
 * shard's durable high-water LSN). Then step 4's "torn tail" at an LSN <=
 * acked_lsn is corruption (a flipped bit in a record some client holds an
 * OK for, named by file and offset), and a log that ends before acked_lsn,
 * or has no segment at all, is refused: acknowledged records are missing.
 * Records after acked_lsn are judged as in step 4 (the manifest is written
 * at most every PERSIST_WATCH_INTERVAL_MS, so the newest acknowledged
 * records may lie beyond it). wal_replay is wal_replay_acked with 0.
 *
 * Known limit: after a power loss during a multi-page write the disk may keep
 * a later page of an unacknowledged batch and not an earlier one. Step 4 then
 * sees a bad record followed by a valid one and refuses to start, though no
 * acknowledged record is damaged; an operator must look (a process crash
 * cannot cause this: the page cache holds the writes in order).
 *
 * wal_remove_before(lsn) deletes segment i when segment i+1 exists and starts
 * at or before lsn (so all of i is < lsn); the last segment is never deleted.
 *
 */
#include "wal_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Recovery                                                           */
/* ------------------------------------------------------------------ */

struct replay {
	const struct wal_ops *ops;
	uint64_t from_lsn;
	wal_replay_fn fn;
	wal_replay_admin_fn admin_fn; /* NULL: an admin record is -ENOTSUP */
	void *ctx;
	struct wal_replay_info *info;
	char *err;
	size_t errlen;
	uint64_t acked_lsn;	/* every record <= it was acknowledged (0: unknown) */
	uint64_t expect;	/* LSN the next record must have */
	char path[FS_PATH_MAX]; /* segment being read */
};

__attribute__((format(printf, 3, 4))) static int corrupt(struct replay *r, size_t off,
							 const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	fs_errf(r->err, r->errlen, "%s: offset %zu: %s", r->path, off, what);
	return -EBADMSG;
}

/* Read r->path whole into a fresh 8-byte aligned buffer. */
static int seg_read(struct replay *r, uint8_t **out, size_t *size)
{
	const struct wal_ops *ops = r->ops;
	struct stat st;
	size_t got = 0, cap;
	uint8_t *buf;
	int fd, rc;

	fd = ops->open(ops->ctx, r->path, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0) {
		fs_errf(r->err, r->errlen, "%s: open: %s", r->path, fs_strerror(fd));
		return fd;
	}
	rc = ops->fstat(ops->ctx, fd, &st);
	if (rc == 0 && (uint64_t)st.st_size > SEG_FILE_MAX)
		rc = -EFBIG;
	cap = rc ? 0 : ((size_t)st.st_size + 8) & ~(size_t)7;
	buf = rc ? NULL : aligned_alloc(8, cap);
	if (rc == 0 && !buf)
		rc = -ENOMEM;
	while (rc == 0 && got < (size_t)st.st_size) {
		ssize_t n =
			ops->pread(ops->ctx, fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n == -EINTR)
			continue;
		if (n <= 0)
			rc = n < 0 ? (int)n : -EIO; /* shrank under us */
		else
			got += (size_t)n;
	}
	ops->close(ops->ctx, fd);
	if (rc) {
		free(buf);
		fs_errf(r->err, r->errlen, "%s: read: %s", r->path, fs_strerror(rc));
		return rc;
	}
	*out = buf;
	*size = got;
	return 0;
}

/* Offset of the first valid record at a multiple of 8 from `from`, or
 * SIZE_MAX. Garbage is rejected on the length before any CRC is computed. */
static size_t find_valid_after(const uint8_t *buf, size_t size, size_t from)
{
	struct wal_record rec;
	const char *why;

	for (size_t o = from; o + WAL_REC_HDR_BYTES <= size; o += WAL_REC_ALIGN)
		if (wal_rec_decode(buf + o, size - o, &rec, &why) > 0)
			return o;
	return SIZE_MAX;
}

/* Hand one valid record with the expected LSN to the callback. */
static int replay_deliver(struct replay *r, const struct wal_record *rec, size_t off)
{
	struct store_change ch;
	int rc;

	if (rec->type == WAL_REC_ADMIN) {
		if (rec->lsn < r->from_lsn)
			return 0;
		if (!r->admin_fn) {
			fs_errf(r->err, r->errlen,
				"%s: offset %zu: admin record (LSN %" PRIu64 ") not read here",
				r->path, off, rec->lsn);
			return -ENOTSUP;
		}
		rc = r->admin_fn(r->ctx, rec->lsn, rec->payload, rec->len);
		if (rc) {
			fs_errf(r->err, r->errlen,
				"%s: offset %zu: admin record (LSN %" PRIu64 ") refused: %s",
				r->path, off, rec->lsn, fs_strerror(rc < 0 ? rc : -ECANCELED));
			return rc < 0 ? rc : -ECANCELED;
		}
		r->info->replayed++;
		return 0;
	}
	if (wal_change_decode(rec->payload, &ch))
		return corrupt(r, off, "bad change payload (LSN %" PRIu64 ")", rec->lsn);
	if (rec->lsn < r->from_lsn)
		return 0;
	rc = r->fn ? r->fn(r->ctx, rec->lsn, &ch) : 0;
	if (rc) {
		fs_errf(r->err, r->errlen, "%s: offset %zu: replay of LSN %" PRIu64 " failed: %s",
		     r->path, off, rec->lsn, fs_strerror(rc < 0 ? rc : -ECANCELED));
		return rc < 0 ? rc : -ECANCELED;
	}
	r->info->replayed++;
	return 0;
}

/* Walk one segment's records; *end = where the valid records end. */
static int replay_scan(struct replay *r, const uint8_t *buf, size_t size, bool last, size_t *end)
{
	size_t off = 0, next;
	struct wal_record rec;
	const char *why;
	int n, rc;

	while (off < size) {
		n = wal_rec_decode(buf + off, size - off, &rec, &why);
		if (n < 0) {
			if (!last)
				return corrupt(r, off, "%s (in a segment that is not the last)",
					       why);
			next = find_valid_after(buf, size, off + WAL_REC_ALIGN);
			if (next != SIZE_MAX)
				return corrupt(r, off,
					       "%s, followed by a valid record at offset %zu", why,
					       next);
			if (r->expect <= r->acked_lsn)
				return corrupt(r, off,
					       "%s in LSN %" PRIu64 ", which was acknowledged (the "
					       "manifest's high-water LSN is %" PRIu64
					       "): corruption, not a torn write",
					       why, r->expect, r->acked_lsn);
			break; /* torn tail */
		}
		if (rec.lsn != r->expect)
			return corrupt(r, off, "LSN gap: expected %" PRIu64 ", found %" PRIu64,
				       r->expect, rec.lsn);
		rc = replay_deliver(r, &rec, off);
		if (rc)
			return rc;
		if (r->info->records++ == 0)
			r->info->first_lsn = rec.lsn;
		r->expect++;
		off += (size_t)n;
	}
	*end = off;
	return 0;
}

static int replay_truncate(struct replay *r, size_t end, size_t size)
{
	const struct wal_ops *ops = r->ops;
	int fd, rc;

	fd = ops->open(ops->ctx, r->path, O_WRONLY | O_CLOEXEC, 0);
	if (fd == -EROFS) {
		rc = 0; /* read-only ops: report the tail, leave the file alone */
		r->info->torn_kept = true;
	} else if (fd < 0) {
		rc = fd;
	} else {
		rc = ops->ftruncate(ops->ctx, fd, (off_t)end);
		if (rc == 0)
			rc = ops->fsync(ops->ctx, fd);
		ops->close(ops->ctx, fd);
	}
	if (rc) {
		fs_errf(r->err, r->errlen, "%s: truncating the torn tail at offset %zu: %s", r->path,
		     end, fs_strerror(rc));
		return rc;
	}
	r->info->torn = true;
	snprintf(r->info->torn_file, sizeof(r->info->torn_file), "%s", r->path);
	r->info->torn_offset = end;
	r->info->torn_bytes = size - end;
	return 0;
}

/* Steps 2-5 of the recovery algorithm over the listed segments. */
static int replay_segments(struct replay *r, const char *shard_dir, const struct wal_seg_list *sl)
{
	size_t size = 0, end = 0;
	uint8_t *buf;
	int rc;

	r->expect = sl->lsn[0];
	for (unsigned i = 0; i < sl->n; i++) {
		bool last = i + 1 == sl->n;
		if ((rc = wal_seg_path(r->path, shard_dir, sl->lsn[i])))
			return rc;
		if (i == 0 && sl->lsn[0] > r->from_lsn)
			return corrupt(r, 0,
				       "log starts at LSN %" PRIu64 ", after from_lsn %" PRIu64
				       " (records missing)",
				       sl->lsn[0], r->from_lsn);
		if (sl->lsn[i] != r->expect)
			return corrupt(r, 0,
				       "LSN gap: segment starts at %" PRIu64 ", expected %" PRIu64,
				       sl->lsn[i], r->expect);
		if ((rc = seg_read(r, &buf, &size)))
			return rc;
		rc = replay_scan(r, buf, size, last, &end);
		free(buf);
		if (rc)
			return rc;
		r->info->segments++;
	}
	if (r->expect < r->from_lsn)
		return corrupt(r, end, "log ends at LSN %" PRIu64 ", before from_lsn %" PRIu64,
			       r->expect - 1, r->from_lsn);
	if (r->expect - 1 < r->acked_lsn)
		return corrupt(r, end,
			       "log ends at LSN %" PRIu64 " (%zu bytes), before LSN %" PRIu64
			       ", the manifest's high-water mark: acknowledged records are missing "
			       "(segment truncated, or later segments removed)",
			       r->expect - 1, size, r->acked_lsn);
	if (end < size && (rc = replay_truncate(r, end, size)))
		return rc;
	r->info->next_lsn = r->expect;
	r->info->segment_lsn = sl->lsn[sl->n - 1];
	r->info->append_offset = end;
	return 0;
}

int wal_replay(const char *dir, unsigned shard_id, const struct wal_ops *ops, uint64_t from_lsn,
	       wal_replay_fn fn, void *ctx, struct wal_replay_info *info, char *err, size_t errlen)
{
	return wal_replay_acked(dir, shard_id, ops, from_lsn, 0, fn, ctx, info, err, errlen);
}

int wal_replay_acked(const char *dir, unsigned shard_id, const struct wal_ops *ops,
		     uint64_t from_lsn, uint64_t acked_lsn, wal_replay_fn fn, void *ctx,
		     struct wal_replay_info *info, char *err, size_t errlen)
{
	return wal_replay_ex(dir, shard_id, ops, from_lsn, acked_lsn, fn, NULL, ctx, info, err,
			     errlen);
}

int wal_replay_ex(const char *dir, unsigned shard_id, const struct wal_ops *ops, uint64_t from_lsn,
		  uint64_t acked_lsn, wal_replay_fn fn, wal_replay_admin_fn admin_fn, void *ctx,
		  struct wal_replay_info *info, char *err, size_t errlen)
{
	struct replay r = {
		.ops = ops ? ops : &wal_sys_ops,
		.from_lsn = from_lsn ? from_lsn : 1,
		.acked_lsn = acked_lsn,
		.fn = fn,
		.admin_fn = admin_fn,
		.ctx = ctx,
		.info = info,
		.err = err,
		.errlen = errlen,
	};
	char shard_dir[FS_PATH_MAX];
	struct wal_seg_list sl;
	int rc;

	memset(info, 0, sizeof(*info));
	fs_errf(err, errlen, "%s", "");
	if (!dir)
		return -EINVAL;
	if ((rc = wal_shard_path(shard_dir, dir, shard_id))) {
		fs_errf(err, errlen, "%s: path too long", dir);
		return rc;
	}
	rc = wal_seg_list_load(shard_dir, &sl, err, errlen);
	info->ignored_files = sl.ignored;
	if (rc == 0 && sl.n == 0 && r.from_lsn - 1 < acked_lsn) {
		fs_errf(err, errlen,
			"%s: no log segment, but LSNs up to %" PRIu64 " were acknowledged (the "
			"manifest's high-water mark): the log is lost",
			shard_dir, acked_lsn);
		rc = -EBADMSG;
	} else if (rc == 0 && sl.n == 0) {
		info->next_lsn = r.from_lsn;
	} else if (rc == 0) {
		rc = replay_segments(&r, shard_dir, &sl);
	}
	free(sl.lsn);
	return rc;
}

int wal_remove_before(const char *dir, unsigned shard_id, const struct wal_ops *ops, uint64_t lsn)
{
	char shard_dir[FS_PATH_MAX], path[FS_PATH_MAX];
	struct wal_seg_list sl;
	int rc, removed = 0;

	ops = ops ? ops : &wal_sys_ops;
	if (!dir)
		return -EINVAL;
	if ((rc = wal_shard_path(shard_dir, dir, shard_id)))
		return rc;
	rc = wal_seg_list_load(shard_dir, &sl, NULL, 0);
	for (unsigned i = 0; rc == 0 && i + 1 < sl.n && sl.lsn[i + 1] <= lsn; i++) {
		rc = wal_seg_path(path, shard_dir, sl.lsn[i]);
		if (rc == 0)
			rc = ops->unlink(ops->ctx, path);
		if (rc == 0)
			removed++;
	}
	free(sl.lsn);
	if (removed) {
		int frc = wal_fsync_dir(ops, shard_dir);
		rc = rc ? rc : frc;
	}
	return rc ? rc : removed;
}

