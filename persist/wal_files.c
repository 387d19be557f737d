/*
 * wal_files.c — the files of the write-ahead log: the syscall table every
 * file operation goes through (the fault seam), paths, directory creation
 * and fsync, and the listing of a shard's segments.
 *
 * FILES
 *
 *   DIR/shard-NN/wal-<LSN>.log     NN = shard id, two decimal digits;
 *                                  LSN = first LSN of the segment, 16 lowercase
 *                                  hex digits (so names sort in LSN order).
 *
 * A segment is a plain concatenation of records, no file header: the name
 * carries the first LSN and the first record must have it. A new segment is
 * started at the first append after the current one has passed
 * segment_bytes (a soft limit: a segment ends on a batch boundary). The next
 * file is created with O_EXCL, preallocated with fallocate(KEEP_SIZE) (the
 * file size stays the data size, so recovery never sees preallocated zeros),
 * and the directory is fsynced before any record is written to it. LSNs start
 * at 1 and increase by exactly 1 per record, across segments.
 *
 * FAULT SEAM: every file syscall goes through struct wal_ops (open, close,
 * mkdir, pread, fstat, fallocate, ftruncate, fsync, unlink); io_uring
 * completions pass through io_hook (as enum wal_io). Tests inject EIO, ENOSPC, short writes
 * and failing fdatasyncs with them.
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
/* Syscall table (the fault seam)                                     */
/* ------------------------------------------------------------------ */

static int sys_open(void *ctx, const char *path, int flags, mode_t mode)
{
	(void)ctx;
	int fd = open(path, flags, mode);
	return fd < 0 ? -errno : fd;
}

static int sys_close(void *ctx, int fd)
{
	(void)ctx;
	return close(fd) ? -errno : 0;
}

static int sys_mkdir(void *ctx, const char *path, mode_t mode)
{
	(void)ctx;
	return mkdir(path, mode) ? -errno : 0;
}

static ssize_t sys_pread(void *ctx, int fd, void *buf, size_t n, off_t off)
{
	(void)ctx;
	ssize_t r = pread(fd, buf, n, off);
	return r < 0 ? -errno : r;
}

static int sys_fstat(void *ctx, int fd, struct stat *st)
{
	(void)ctx;
	return fstat(fd, st) ? -errno : 0;
}

static int sys_fallocate(void *ctx, int fd, int mode, off_t off, off_t len)
{
	(void)ctx;
	return fallocate(fd, mode, off, len) ? -errno : 0;
}

static int sys_ftruncate(void *ctx, int fd, off_t len)
{
	(void)ctx;
	return ftruncate(fd, len) ? -errno : 0;
}

static int sys_fsync(void *ctx, int fd)
{
	(void)ctx;
	return fsync(fd) ? -errno : 0;
}

static int sys_unlink(void *ctx, const char *path)
{
	(void)ctx;
	return unlink(path) ? -errno : 0;
}

const struct wal_ops wal_sys_ops = {
	.open = sys_open,
	.close = sys_close,
	.mkdir = sys_mkdir,
	.pread = sys_pread,
	.fstat = sys_fstat,
	.fallocate = sys_fallocate,
	.ftruncate = sys_ftruncate,
	.fsync = sys_fsync,
	.unlink = sys_unlink,
	.ctx = NULL,
};

const struct wal_ops *wal_ops_default(void)
{
	return &wal_sys_ops;
}

/* Read-only table (offline tools, the change feed): reading works, anything
 * that would change a file or directory fails with -EROFS, which
 * wal_replay's torn-tail step takes as "report, do not cut". */
static int ro_open(void *ctx, const char *path, int flags, mode_t mode)
{
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)))
		return -EROFS;
	return sys_open(ctx, path, flags, mode);
}

static int ro_mkdir(void *ctx, const char *path, mode_t mode)
{
	(void)ctx, (void)path, (void)mode;
	return -EROFS;
}

static int ro_fallocate(void *ctx, int fd, int mode, off_t off, off_t len)
{
	(void)ctx, (void)fd, (void)mode, (void)off, (void)len;
	return -EROFS;
}

static int ro_ftruncate(void *ctx, int fd, off_t len)
{
	(void)ctx, (void)fd, (void)len;
	return -EROFS;
}

static int ro_fsync(void *ctx, int fd)
{
	(void)ctx, (void)fd;
	return -EROFS;
}

static int ro_unlink(void *ctx, const char *path)
{
	(void)ctx, (void)path;
	return -EROFS;
}

static const struct wal_ops ro_ops = {
	.open = ro_open,
	.close = sys_close,
	.mkdir = ro_mkdir,
	.pread = sys_pread,
	.fstat = sys_fstat,
	.fallocate = ro_fallocate,
	.ftruncate = ro_ftruncate,
	.fsync = ro_fsync,
	.unlink = ro_unlink,
	.ctx = NULL,
};

const struct wal_ops *wal_ops_readonly(void)
{
	return &ro_ops;
}

/* ------------------------------------------------------------------ */
/* Paths and directories                                              */
/* ------------------------------------------------------------------ */

int wal_shard_path(char out[FS_PATH_MAX], const char *dir, unsigned shard_id)
{
	int n = snprintf(out, FS_PATH_MAX, "%s/shard-%02u", dir, shard_id);
	return n < 0 || n >= FS_PATH_MAX ? -ENAMETOOLONG : 0;
}

int wal_seg_path(char out[FS_PATH_MAX], const char *shard_dir, uint64_t lsn)
{
	int n = snprintf(out, FS_PATH_MAX, "%s/wal-%016" PRIx64 ".log", shard_dir, lsn);
	return n < 0 || n >= FS_PATH_MAX ? -ENAMETOOLONG : 0;
}

/* "wal-" 16 lowercase hex digits ".log", nothing else. */
static bool seg_name_parse(const char *name, uint64_t *lsn)
{
	uint64_t v = 0;

	if (strlen(name) != SEG_NAME_LEN || memcmp(name, "wal-", 4) || strcmp(name + 20, ".log"))
		return false;
	for (int i = 4; i < 20; i++) {
		char c = name[i];
		unsigned d;
		if (c >= '0' && c <= '9')
			d = (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			d = (unsigned)(c - 'a' + 10);
		else
			return false;
		v = v << 4 | d;
	}
	*lsn = v;
	return v != 0;
}

int wal_fsync_dir(const struct wal_ops *ops, const char *path)
{
	int fd = ops->open(ops->ctx, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	int rc;

	if (fd < 0)
		return fd;
	rc = ops->fsync(ops->ctx, fd);
	ops->close(ops->ctx, fd);
	return rc;
}

int wal_replace_file(const char *dir, const char *tmp, const char *path, const void *buf,
		     size_t len, bool *created)
{
	const char *p = buf;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int rc = 0;

	*created = fd >= 0;
	if (fd < 0)
		return -errno;
	while (rc == 0 && len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = w < 0 ? -errno : -EIO;
		else
			p += w, len -= (size_t)w;
	}
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc == 0)
		rc = wal_fsync_dir(&wal_sys_ops, dir);
	if (rc < 0)
		(void)unlink(tmp);
	return rc;
}

/* Make the entry of a just created path durable: fsync its parent. */
static int fsync_parent(const struct wal_ops *ops, char *path)
{
	char *slash = strrchr(path, '/');
	int rc;

	if (!slash)
		return wal_fsync_dir(ops, ".");
	if (slash == path)
		return wal_fsync_dir(ops, "/");
	*slash = '\0';
	rc = wal_fsync_dir(ops, path);
	*slash = '/';
	return rc;
}

/* mkdir -p, fsyncing the parent of every directory it creates. */
int wal_mkdir_p(const struct wal_ops *ops, const char *path)
{
	char buf[FS_PATH_MAX];
	size_t n = strlen(path);

	if (n == 0 || n >= sizeof(buf))
		return n ? -ENAMETOOLONG : -EINVAL;
	memcpy(buf, path, n + 1);
	for (size_t i = 1; i <= n; i++) {
		char c = buf[i];
		int rc;
		if ((c != '/' && c != '\0') || buf[i - 1] == '/')
			continue;
		buf[i] = '\0';
		rc = ops->mkdir(ops->ctx, buf, 0755);
		if (rc == 0)
			rc = fsync_parent(ops, buf);
		else if (rc == -EEXIST)
			rc = 0;
		buf[i] = c;
		if (rc)
			return rc;
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The segments of a shard directory, sorted; a missing directory is empty.
 * Control plane only (allocates). */
int wal_seg_list_load(const char *shard_dir, struct wal_seg_list *sl, char *err, size_t errlen)
{
	struct dirent *de;
	DIR *d;

	memset(sl, 0, sizeof(*sl));
	sl->lsn = calloc(WAL_SEGMENTS_MAX, sizeof(*sl->lsn));
	if (!sl->lsn)
		return -ENOMEM;
	d = opendir(shard_dir);
	if (!d) {
		int rc = errno == ENOENT ? 0 : -errno;
		if (rc)
			fs_errf(err, errlen, "%s: cannot list: %s", shard_dir, fs_strerror(rc));
		return rc;
	}
	while ((de = readdir(d))) {
		uint64_t lsn;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!seg_name_parse(de->d_name, &lsn)) {
			sl->ignored++;
			continue;
		}
		if (sl->n == WAL_SEGMENTS_MAX) {
			closedir(d);
			fs_errf(err, errlen, "%s: more than %u segments", shard_dir, WAL_SEGMENTS_MAX);
			return -E2BIG;
		}
		sl->lsn[sl->n++] = lsn;
	}
	closedir(d);
	qsort(sl->lsn, sl->n, sizeof(*sl->lsn), cmp_u64);
	return 0;
}

