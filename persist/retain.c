/*
 * retain.c — log retention that respects consumers of the change feed (like
 * a PostgreSQL replication slot), bounded so that a dead consumer cannot
 * fill the disk.
 *
 * CONSUMERS. A consumer (flashsale-export, or anything reading the logs)
 * registers by keeping one file per consumer in the data directory:
 *
 *   DIR/consumers/NAME        NAME: [A-Za-z0-9_-], 1..RETAIN_NAME_MAX-1 chars
 *
 * It is text, one line per shard, "shard N LSN" (LSN: the last record of
 * shard N the consumer has applied and committed; 0 = none), after a first
 * line "flashsale-consumer 1" and optional "# ..." comments. It is written
 * atomically (DIR/consumers/.NAME.tmp, fsync, rename, fsync the directory)
 * by the consumer after each of its own commits (retain_consumer_write), so
 * a reader sees the old or the new file, never a mix. A file per consumer
 * was chosen because the appliance has no operations listener a consumer
 * could report to yet, because it costs the data path nothing (only the
 * snapshot's trim reads it), and because an operator can see, edit or
 * delete (= unregister) a consumer with ls and rm. A shard missing from the
 * file counts as LSN 0 (the consumer needs all of it).
 *
 * THE TRIM. After a snapshot with shard LSN S, the segments wholly before
 * S + 1 are no longer needed for recovery. Each consumer c needs LSNs from
 * need(c) = lsn(c) + 1 on. The log is trimmed to
 *
 *   keep = min(S + 1, need(c) for every consumer c that is not cut loose)
 *
 * (wal_remove_before(keep): segments wholly before keep go; the last
 * segment never goes). A consumer is cut loose when keeping its segments
 * would retain more than max_bytes of segments beyond what recovery needs
 * (the segments from the one holding need(c) up to, not including, the one
 * holding S + 1). Cutting goes lowest need first, since retained bytes only
 * grow as need falls, so each consumer is decided on its own. A consumer is
 * counted as cut (retain_plan.cut) only when this trim removes a segment it
 * still had; one whose need was already gone before (cut by an earlier trim
 * and not yet resynced) is counted in .lost instead, so one dead consumer
 * is reported once, not at every snapshot. A cut consumer finds its next
 * LSN missing (a gap) and must resync from snapshot.db: flashsale-export
 * does that by itself; flashsale feed exits 4.
 *
 * WHERE IT IS CALLED. retain_trim() replaces the trim's
 * wal_remove_before(dir, shard, NULL, S + 1) after snapshot.db is renamed
 * into place (app/flashsaled.c's snapshot code today; persist/'s snapshot
 * orchestration after the restructuring): the snapshot must be durable
 * before a segment is removed, exactly as before.
 */
#include "persist.h"
#include "wal_private.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONSUMERS_DIR "consumers"
#define FILE_MAGIC    "flashsale-consumer 1"

static atomic_uint_fast64_t g_cut_total;

uint64_t retain_consumers_cut_total(void)
{
	return (uint64_t)atomic_load(&g_cut_total);
}

bool retain_name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= RETAIN_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* ---- the plan: pure, unit-tested ---- */

/* Bytes of the segments that hold LSNs in [need, keep_default): kept only
 * for a consumer that needs LSN need. segs are sorted by first_lsn. */
static uint64_t extra_bytes(const struct retain_seg *segs, unsigned nseg, uint64_t need,
			    uint64_t keep_default)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i + 1 < nseg; i++) {
		uint64_t next = segs[i + 1].first_lsn; /* segment i holds [first, next) */
		if (next <= need)
			continue; /* wholly before need: goes anyway */
		if (next > keep_default)
			break; /* recovery keeps it anyway */
		sum += segs[i].bytes;
	}
	return sum;
}

void retain_plan(uint64_t snap_lsn, const struct retain_seg *segs, unsigned nseg,
		 const uint64_t consumer_lsn[], unsigned nconsumers, uint64_t max_bytes,
		 struct retain_plan *out)
{
	uint64_t keep_default = snap_lsn + 1;

	FS_ASSERT(nconsumers <= RETAIN_CONSUMERS_MAX);
	for (unsigned i = 1; i < nseg; i++)
		FS_ASSERT(segs[i].first_lsn > segs[i - 1].first_lsn);
	memset(out, 0, sizeof(*out));
	out->keep_lsn = keep_default;
	out->need_lsn = UINT64_MAX;
	for (unsigned c = 0; c < nconsumers; c++) {
		uint64_t need = consumer_lsn[c] + 1;
		uint64_t extra;

		if (need >= keep_default)
			continue; /* recovery's own retention covers it */
		if (nseg > 0 && need < segs[0].first_lsn) {
			out->lost |= 1ull << c; /* already gone: resync pending */
			out->nlost++;
			continue;
		}
		extra = extra_bytes(segs, nseg, need, keep_default);
		if (extra > max_bytes) {
			out->cut |= 1ull << c;
			out->ncut++;
			continue;
		}
		if (need < out->need_lsn)
			out->need_lsn = need;
		if (extra > out->kept_bytes)
			out->kept_bytes = extra;
	}
	if (out->need_lsn < out->keep_lsn)
		out->keep_lsn = out->need_lsn;
}

/* ---- consumer files ---- */

static int consumers_path(char *out, size_t cap, const char *dir, const char *name,
			  const char *prefix, const char *suffix)
{
	int n = snprintf(out, cap, "%s/" CONSUMERS_DIR "%s%s%s%s", dir, name ? "/" : "",
			 prefix ? prefix : "", name ? name : "", suffix ? suffix : "");

	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

int retain_consumer_write(const char *dir, const char *name, unsigned nshards, const uint64_t lsn[],
			  char *err, size_t errlen)
{
	char cdir[FS_PATH_MAX], tmp[FS_PATH_MAX], path[FS_PATH_MAX];
	char buf[64 + FS_WORKERS_MAX * 48];
	size_t len = 0;
	bool created;
	int rc = 0;

	if (!retain_name_valid(name) || nshards > FS_WORKERS_MAX) {
		fs_errf(err, errlen, "consumer name '%s': use 1-%d of A-Z a-z 0-9 _ -",
			name ? name : "", RETAIN_NAME_MAX - 1);
		return -EINVAL;
	}
	if (consumers_path(cdir, sizeof(cdir), dir, NULL, NULL, NULL) ||
	    consumers_path(tmp, sizeof(tmp), dir, name, ".", ".tmp") ||
	    consumers_path(path, sizeof(path), dir, name, NULL, NULL)) {
		fs_errf(err, errlen, "%s: path too long", dir);
		return -ENAMETOOLONG;
	}
	if (mkdir(cdir, 0755) < 0 && errno != EEXIST) {
		rc = -errno;
		fs_errf(err, errlen, "%s: mkdir: %s", cdir, fs_strerror(rc));
		return rc;
	}
	len += (size_t)snprintf(buf + len, sizeof(buf) - len,
				FILE_MAGIC "\n# shard, last LSN applied (retain.c)\n");
	for (unsigned i = 0; i < nshards; i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "shard %u %" PRIu64 "\n", i,
					lsn[i]);
	FS_ASSERT(len < sizeof(buf));
	rc = wal_replace_file(cdir, tmp, path, buf, len, &created);
	if (rc < 0 && !created)
		fs_errf(err, errlen, "%s: open: %s", tmp, fs_strerror(rc));
	else if (rc < 0)
		fs_errf(err, errlen, "%s: %s", path, fs_strerror(rc));
	return rc;
}

int retain_consumer_remove(const char *dir, const char *name)
{
	char cdir[FS_PATH_MAX], path[FS_PATH_MAX];

	if (!retain_name_valid(name))
		return -EINVAL;
	if (consumers_path(cdir, sizeof(cdir), dir, NULL, NULL, NULL) ||
	    consumers_path(path, sizeof(path), dir, name, NULL, NULL))
		return -ENAMETOOLONG;
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : -errno;
	return wal_fsync_dir(&wal_sys_ops, cdir);
}

int retain_consumer_parse(const char *text, struct retain_consumer *out, char *err, size_t errlen)
{
	const char *p = text;
	unsigned line = 0;
	bool magic = false;

	memset(out->lsn, 0, sizeof(out->lsn));
	out->nshards = 0;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t n = eol ? (size_t)(eol - p) : strlen(p);
		char l[128];
		unsigned sh;
		unsigned long long v;
		int used = 0;

		line++;
		if (n >= sizeof(l)) {
			fs_errf(err, errlen, "line %u: too long", line);
			return -EBADMSG;
		}
		memcpy(l, p, n);
		l[n] = 0;
		p += n + (eol ? 1 : 0);
		if (!magic) {
			if (strcmp(l, FILE_MAGIC) != 0) {
				fs_errf(err, errlen, "line 1: expected '" FILE_MAGIC "'");
				return -EBADMSG;
			}
			magic = true;
		} else if (l[0] == '#' || l[0] == 0) {
			continue;
		} else if (sscanf(l, "shard %u %llu%n", &sh, &v, &used) != 2 || l[used] != 0 ||
			   sh >= FS_WORKERS_MAX || strchr(l, '-')) {
			fs_errf(err, errlen, "line %u: expected 'shard N LSN'", line);
			return -EBADMSG;
		} else {
			out->lsn[sh] = v;
			if (sh + 1 > out->nshards)
				out->nshards = sh + 1;
		}
	}
	if (!magic) {
		fs_errf(err, errlen, "empty file");
		return -EBADMSG;
	}
	return 0;
}

int retain_consumer_read(const char *dir, const char *name, struct retain_consumer *out, char *err,
			 size_t errlen)
{
	char path[FS_PATH_MAX], buf[64 + FS_WORKERS_MAX * 48 + 512], why[160];
	ssize_t n;
	int fd, rc;

	memset(out, 0, sizeof(*out));
	if (!retain_name_valid(name))
		return -EINVAL;
	snprintf(out->name, sizeof(out->name), "%s", name);
	if (consumers_path(path, sizeof(path), dir, name, NULL, NULL))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		fs_errf(err, errlen, "%s: %s", path, fs_strerror(rc));
		return rc;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	rc = n < 0 ? -errno : 0;
	close(fd);
	if (rc == 0 && (size_t)n == sizeof(buf) - 1)
		rc = -EFBIG;
	if (rc < 0) {
		fs_errf(err, errlen, "%s: %s", path, fs_strerror(rc));
		return rc;
	}
	buf[n] = 0;
	rc = retain_consumer_parse(buf, out, why, sizeof(why));
	if (rc < 0)
		fs_errf(err, errlen, "%s: %s", path, why);
	return rc;
}

int retain_consumers_load(const char *dir, struct retain_consumer out[], unsigned cap, unsigned *n,
			  char *err, size_t errlen)
{
	char cdir[FS_PATH_MAX];
	struct dirent *de;
	DIR *d;
	int rc = 0;

	*n = 0;
	if (consumers_path(cdir, sizeof(cdir), dir, NULL, NULL, NULL))
		return -ENAMETOOLONG;
	d = opendir(cdir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (rc == 0 && (de = readdir(d))) {
		if (!retain_name_valid(de->d_name))
			continue; /* ., .., .NAME.tmp, anything else */
		if (*n >= cap) {
			fs_errf(err, errlen, "%s: more than %u consumers", cdir, cap);
			rc = -E2BIG;
			break;
		}
		rc = retain_consumer_read(dir, de->d_name, &out[*n], err, errlen);
		if (rc == -ENOENT) /* unregistered while we listed */
			rc = 0;
		else if (rc == 0)
			(*n)++;
	}
	closedir(d);
	return rc;
}

/* ---- the trim ---- */

static int cmp_seg(const void *a, const void *b)
{
	const struct retain_seg *x = a, *y = b;

	return x->first_lsn < y->first_lsn ? -1 : x->first_lsn > y->first_lsn;
}

int retain_list_segments(const char *dir, unsigned shard, struct retain_seg **segs, unsigned *nseg)
{
	char sdir[FS_PATH_MAX], path[FS_PATH_MAX + 32];
	struct retain_seg *v = NULL;
	unsigned n = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int rc = 0;

	*segs = NULL;
	*nseg = 0;
	if (snprintf(sdir, sizeof(sdir), "%s/shard-%02u", dir, shard) >= (int)sizeof(sdir))
		return -ENAMETOOLONG;
	d = opendir(sdir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		unsigned long long lsn;
		struct stat st;
		char tail[8];

		if (strlen(de->d_name) != 24 ||
		    sscanf(de->d_name, "wal-%16llx%7s", &lsn, tail) != 2 ||
		    strcmp(tail, ".log") != 0 || lsn == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", sdir, de->d_name);
		if (stat(path, &st) < 0)
			continue; /* removed while we listed */
		if (n == cap) {
			unsigned ncap = cap ? cap * 2 : 16;
			struct retain_seg *nv;
			if (ncap > WAL_SEGMENTS_MAX || !(nv = realloc(v, ncap * sizeof(*v)))) {
				rc = -ENOMEM;
				break;
			}
			v = nv;
			cap = ncap;
		}
		v[n++] = (struct retain_seg){.first_lsn = lsn, .bytes = (uint64_t)st.st_size};
	}
	closedir(d);
	if (rc) {
		free(v);
		return rc;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_seg);
	*segs = v;
	*nseg = n;
	return 0;
}

int retain_trim(const char *dir, unsigned shard, const struct wal_ops *ops, uint64_t snap_lsn,
		uint64_t max_bytes, struct retain_report *rep, char *err, size_t errlen)
{
	struct retain_consumer *cons = calloc(RETAIN_CONSUMERS_MAX, sizeof(*cons));
	uint64_t need[RETAIN_CONSUMERS_MAX];
	struct retain_seg *segs = NULL;
	unsigned ncons = 0, nseg = 0;
	int rc;

	memset(rep, 0, sizeof(*rep));
	fs_errf(err, errlen, "%s", "");
	if (!cons)
		return -ENOMEM;
	rc = retain_consumers_load(dir, cons, RETAIN_CONSUMERS_MAX, &ncons, err, errlen);
	if (rc < 0) {
		/* An unreadable consumer file must not stop the trim for good
		 * (the disk would fill): trim as recovery needs and say so. */
		rep->consumers_unreadable = true;
		ncons = 0;
	}
	for (unsigned c = 0; c < ncons; c++)
		need[c] = cons[c].lsn[shard];
	if (retain_list_segments(dir, shard, &segs, &nseg) < 0)
		nseg = 0;
	retain_plan(snap_lsn, segs, nseg, need, ncons, max_bytes, &rep->plan);
	free(segs);
	for (unsigned c = 0; c < ncons; c++)
		if (rep->plan.cut & (1ull << c))
			snprintf(rep->cut_names[rep->ncut_names++], RETAIN_NAME_MAX, "%s",
				 cons[c].name);
	free(cons);
	atomic_fetch_add(&g_cut_total, rep->plan.ncut);
	rc = wal_remove_before(dir, shard, ops, rep->plan.keep_lsn);
	if (rc < 0)
		return rc;
	rep->removed = (unsigned)rc;
	return 0;
}
