/*
 * repl_log.c — the standby's copy of a shard's log (repl.h): segments in
 * the primary's format, appended with write() and made durable with
 * fdatasync() before the standby acknowledges them.
 *
 * Why not wal_write.c's io_uring log: that one assigns LSNs and encodes
 * records itself (the shard's worker is its only writer); the standby must
 * keep the primary's bytes and LSNs unchanged so that CRCs stay end to end
 * and a later promote recovers exactly what the primary acknowledged. The
 * standby writes one batch per received frame from one thread, so plain
 * write + fdatasync is enough (measured in docs/benchmarks.md, "Standby").
 *
 * Crash safety follows the log's rules: a segment is named after its first
 * LSN and continues the previous one; a torn tail is only ever in the last
 * segment (a new segment starts only after the previous one was
 * fdatasync'd, at an acknowledged boundary); repl_log_open cuts it the way
 * recovery does (wal_replay), so what was acknowledged stays and a partial
 * write never survives as a record.
 */
#include "repl.h"
#include "wal_private.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <unistd.h>

static int no_apply(void *ctx, uint64_t lsn, const struct store_change *ch)
{
	(void)ctx;
	(void)lsn;
	(void)ch;
	return 0;
}

int repl_log_open(struct repl_log *l, const char *dir, unsigned shard, uint64_t from_lsn,
		  char *err, size_t errlen)
{
	struct wal_replay_info info;
	char sdir[FS_PATH_MAX];
	int rc;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->shard = shard;
	snprintf(l->dir, sizeof(l->dir), "%s", dir);
	if ((rc = wal_shard_path(sdir, dir, shard)) < 0)
		return rc;
	if ((rc = wal_mkdir_p(&wal_sys_ops, sdir)) < 0) {
		fs_errf(err, errlen, "%s: cannot create: %s", sdir, fs_strerror(rc));
		return rc;
	}
	rc = wal_replay(dir, shard, wal_ops_default(), from_lsn, no_apply, NULL, &info, err,
			errlen);
	if (rc < 0)
		return rc;
	if (info.torn)
		fs_log("warn", "standby: shard %u: torn tail cut from %s at offset %" PRIu64
			       " (%" PRIu64 " bytes never acknowledged to the primary)",
		       shard, info.torn_file, info.torn_offset, info.torn_bytes);
	l->next_lsn = info.next_lsn;
	l->synced_lsn = info.next_lsn - 1;
	return 0;
}

static int seg_create(struct repl_log *l)
{
	char sdir[FS_PATH_MAX], path[FS_PATH_MAX];
	int rc;

	if ((rc = wal_shard_path(sdir, l->dir, l->shard)) < 0 ||
	    (rc = wal_seg_path(path, sdir, l->next_lsn)) < 0)
		return rc;
	/* O_APPEND, not O_EXCL: a segment named next_lsn can only be an empty
	 * one left by a previous run (anything in it would have moved next_lsn). */
	l->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (l->fd < 0)
		return -errno;
	l->seg_lsn = l->next_lsn;
	l->seg_bytes = 0;
	l->new_seg = true;
	return 0;
}

int repl_log_append(struct repl_log *l, const void *records, uint32_t len, uint64_t last_lsn)
{
	const uint8_t *p = records;
	int rc;

	FS_ASSERT(last_lsn >= l->next_lsn);
	if (l->fd >= 0 && l->seg_bytes >= REPL_SEGMENT_BYTES) {
		/* Roll over at an acknowledged boundary only: the old one complete. */
		if ((rc = repl_log_sync(l)) < 0)
			return rc;
		repl_log_close(l);
	}
	if (l->fd < 0 && (rc = seg_create(l)) < 0)
		return rc;
	while (len) {
		ssize_t n = write(l->fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (uint32_t)n;
		l->seg_bytes += (uint64_t)n;
	}
	l->next_lsn = last_lsn + 1;
	l->dirty = true;
	return 0;
}

int repl_log_sync(struct repl_log *l)
{
	char sdir[FS_PATH_MAX];
	int rc;

	if (!l->dirty)
		return 0;
	if (fdatasync(l->fd) < 0)
		return -errno;
	if (l->new_seg) {
		if ((rc = wal_shard_path(sdir, l->dir, l->shard)) < 0 ||
		    (rc = wal_fsync_dir(&wal_sys_ops, sdir)) < 0)
			return rc;
		l->new_seg = false;
	}
	l->dirty = false;
	l->synced_lsn = l->next_lsn - 1;
	return 0;
}

void repl_log_close(struct repl_log *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
}

/* Before segments are removed or cut: the open one closed, the shard's
 * segments listed into *sl (sdir: their directory). 0 or -errno; sl->lsn is
 * the caller's to free either way. */
static int log_segments(struct repl_log *l, char *sdir, struct wal_seg_list *sl, char *err,
			size_t errlen)
{
	int rc;

	repl_log_close(l);
	*sl = (struct wal_seg_list){0};
	if ((rc = wal_shard_path(sdir, l->dir, l->shard)) < 0)
		return rc;
	return wal_seg_list_load(sdir, sl, err, errlen);
}

int repl_log_reset(struct repl_log *l, uint64_t next_lsn)
{
	char sdir[FS_PATH_MAX];
	struct wal_seg_list sl;
	char err[256];
	int rc;

	rc = log_segments(l, sdir, &sl, err, sizeof(err));
	if (rc < 0) {
		free(sl.lsn);
		return rc;
	}
	for (unsigned i = 0; i < sl.n; i++) {
		char path[FS_PATH_MAX];
		if (wal_seg_path(path, sdir, sl.lsn[i]) == 0 && unlink(path) < 0 && errno != ENOENT) {
			rc = -errno;
			break;
		}
	}
	free(sl.lsn);
	if (rc == 0)
		rc = wal_fsync_dir(&wal_sys_ops, sdir);
	l->next_lsn = next_lsn;
	l->synced_lsn = next_lsn - 1;
	l->dirty = false;
	return rc;
}

/* The file offset of record lsn in the segment at path (read whole). */
static int find_offset(const char *path, uint64_t lsn, uint64_t *off, char *err, size_t errlen)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;
	int rc = 0, fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	buf = aligned_alloc(WAL_REC_ALIGN, ((size_t)st.st_size + 8) & ~(size_t)7);
	if (!buf) {
		rc = -ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = pread(fd, buf + got, (size_t)st.st_size - got, (off_t)got);
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			goto out;
		}
		got += (size_t)n;
	}
	rc = -ENOENT;
	for (size_t at = 0; at < got;) {
		struct wal_record rec;
		int k = wal_record_decode(buf + at, got - at, &rec);
		if (k < 0 || rec.lsn > lsn)
			break;
		if (rec.lsn == lsn) {
			*off = at;
			rc = 0;
			break;
		}
		at += (size_t)k;
	}
out:
	if (rc < 0)
		fs_errf(err, errlen, "%s: LSN %" PRIu64 " not found: %s", path, lsn, fs_strerror(rc));
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

int repl_log_truncate(struct repl_log *l, uint64_t keep_below, char *err, size_t errlen)
{
	char sdir[FS_PATH_MAX], path[FS_PATH_MAX];
	struct wal_seg_list sl;
	uint64_t off = 0;
	int rc;

	rc = log_segments(l, sdir, &sl, err, errlen);
	for (unsigned i = sl.n; rc == 0 && i-- > 0;) {
		if ((rc = wal_seg_path(path, sdir, sl.lsn[i])) < 0)
			break;
		if (sl.lsn[i] >= keep_below) {
			if (unlink(path) < 0)
				rc = -errno;
			continue;
		}
		rc = find_offset(path, keep_below, &off, err, errlen);
		if (rc == 0) {
			int fd = open(path, O_WRONLY | O_CLOEXEC);
			if (fd < 0 || ftruncate(fd, (off_t)off) < 0 || fsync(fd) < 0)
				rc = -errno;
			if (fd >= 0)
				close(fd);
		} else if (rc == -ENOENT) {
			rc = 0; /* the segment ends before keep_below: nothing to cut */
		}
		break;
	}
	free(sl.lsn);
	if (rc == 0)
		rc = wal_fsync_dir(&wal_sys_ops, sdir);
	if (rc < 0)
		return rc;
	l->next_lsn = keep_below;
	l->synced_lsn = keep_below - 1;
	l->dirty = false;
	return 0;
}

int repl_file_replace(const char *dir, const char *tmp, const char *path, const void *buf,
		      size_t len)
{
	bool created;
	return wal_replace_file(dir, tmp, path, buf, len, &created);
}

int repl_dir_sync(const char *dir)
{
	return wal_fsync_dir(&wal_sys_ops, dir);
}
