/*
 * wal_tail.c — reading a live shard log at a file position (wal_tail.h).
 *
 * wal_replay() reads a whole log per call, which suits recovery, not a
 * tail; so each shard has a reader that keeps its segment open at a file
 * offset and decodes records with the public record codec
 * (wal_record_decode). LSNs must be contiguous: a record whose LSN is not
 * the next one is a gap (-EBADMSG, naming file and offset). At the end of
 * the data a record cut short or failing its CRC is a batch still being
 * written (or a torn tail the appliance cuts at restart): the reader waits
 * and reads it again; only if a later segment exists and the bad record is
 * still there after WAL_TAIL_GRACE_NS is it corruption. Only complete,
 * valid records are handed out, and recovery never cuts before the first
 * invalid one. When the segment holding the next LSN is gone (removed by
 * the snapshot's trim), the answer is WAL_TAIL_GAP: the consumer resyncs
 * from snapshot.db.
 */
#include "wal_tail.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int wal_tail_init(struct wal_tail *t, const char *dir, const char *who, unsigned shard,
		  uint64_t next_lsn)
{
	memset(t, 0, sizeof(*t));
	t->buf = aligned_alloc(WAL_REC_ALIGN, WAL_TAIL_BUF_BYTES);
	if (!t->buf)
		return -ENOMEM;
	t->dir = dir;
	t->who = who;
	t->shard = shard;
	t->fd = -1;
	t->next_lsn = next_lsn;
	return 0;
}

static void tail_close(struct wal_tail *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	t->len = 0;
	t->bad_since_ns = 0;
}

void wal_tail_free(struct wal_tail *t)
{
	tail_close(t);
	free(t->buf);
	t->buf = NULL;
}

void wal_tail_seek(struct wal_tail *t, uint64_t next_lsn)
{
	tail_close(t);
	t->next_lsn = next_lsn;
	t->seg_lsn = 0;
}

static int seg_open(struct wal_tail *t, uint64_t seg_lsn)
{
	snprintf(t->path, sizeof(t->path), "%s/shard-%02u/wal-%016" PRIx64 ".log", t->dir, t->shard,
		 seg_lsn);
	t->fd = open(t->path, O_RDONLY | O_CLOEXEC);
	if (t->fd < 0)
		return -errno;
	t->seg_lsn = seg_lsn;
	t->off = 0;
	t->buf_off = 0;
	t->len = 0;
	t->bad_since_ns = 0;
	return 0;
}

/* No segment of t's shard is left: does the manifest say snapshot.db holds
 * LSNs this reader has not had? (Then they were trimmed: resync.) */
static bool snapshot_ahead(const struct wal_tail *t)
{
	struct persist_manifest m;
	char err[256];

	if (persist_manifest_read(t->dir, &m, err, sizeof(err)) < 0 || t->shard >= m.n_shards)
		return false;
	return m.shard[t->shard].snapshot_lsn >= t->next_lsn;
}

/* Open the segment holding t->next_lsn: WAL_TAIL_NONE when there is no log
 * yet (or the next LSN is not written yet and no segment can hold it),
 * WAL_TAIL_GAP when the segments holding it were removed. */
static int tail_open(struct wal_tail *t)
{
	struct retain_seg *segs;
	unsigned n, pick = UINT32_MAX;
	int rc = retain_list_segments(t->dir, t->shard, &segs, &n);

	if (rc < 0) {
		fs_log("error", "%s: shard %u: listing %s/shard-%02u: %s", t->who, t->shard, t->dir,
		       t->shard, fs_strerror(rc));
		return rc;
	}
	for (unsigned i = 0; i < n; i++)
		if (segs[i].first_lsn <= t->next_lsn)
			pick = i;
	if (n > 0 && pick == UINT32_MAX)
		rc = WAL_TAIL_GAP;
	else if (n > 0)
		rc = seg_open(t, segs[pick].first_lsn);
	else if (snapshot_ahead(t))
		rc = WAL_TAIL_GAP; /* no segment left, and snapshot.db holds what we need */
	if (rc == -ENOENT)
		rc = WAL_TAIL_NONE; /* removed between the listing and the open: next call decides */
	free(segs);
	return rc;
}

/* Read more of the open segment into the buffer; returns bytes added. */
static ssize_t tail_fill(struct wal_tail *t)
{
	size_t keep = t->len - (size_t)(t->off - t->buf_off);
	ssize_t n;

	if (t->off != t->buf_off) {
		memmove(t->buf, t->buf + (t->off - t->buf_off), keep);
		t->buf_off = t->off;
		t->len = keep;
	}
	n = pread(t->fd, t->buf + t->len, WAL_TAIL_BUF_BYTES - t->len, (off_t)(t->buf_off + t->len));
	if (n < 0)
		return -errno;
	t->len += (size_t)n;
	return n;
}

/* Nothing valid at t->off: wait for it, move to the next segment, or fail. */
static int tail_stalled(struct wal_tail *t, int why)
{
	char next[FS_PATH_MAX + 64];
	struct retain_seg *segs;
	unsigned n;
	bool later = false;
	int64_t now = fs_mono_ns();

	t->len = 0; /* re-read from off next time: the writer may rewrite a torn tail */
	t->buf_off = t->off;
	snprintf(next, sizeof(next), "%s/shard-%02u/wal-%016" PRIx64 ".log", t->dir, t->shard,
		 t->next_lsn);
	if (why == -ENODATA && t->next_lsn != t->seg_lsn && access(next, F_OK) == 0) {
		close(t->fd);
		t->fd = -1;
		(void)seg_open(t, t->next_lsn); /* gone meanwhile: tail_open decides */
		return WAL_TAIL_RETRY;
	}
	if (retain_list_segments(t->dir, t->shard, &segs, &n) == 0) {
		later = n > 0 && segs[n - 1].first_lsn > t->seg_lsn;
		free(segs);
	}
	if (!later) {
		t->bad_since_ns = 0;
		if (why == -EBADMSG && now - t->warned_ns > WAL_TAIL_WARN_NS) {
			fs_log("warn",
			       "%s: shard %u: %s: offset %" PRIu64 ": invalid record at "
			       "the end of the log (being written, or a torn tail the appliance "
			       "cuts at restart): waiting",
			       t->who, t->shard, t->path, t->off);
			t->warned_ns = now;
		}
		return WAL_TAIL_NONE;
	}
	if (!t->bad_since_ns)
		t->bad_since_ns = now;
	if (now - t->bad_since_ns < WAL_TAIL_GRACE_NS)
		return WAL_TAIL_NONE;
	fs_log("error",
	       "%s: shard %u: %s: offset %" PRIu64 ": %s, and a later segment "
	       "exists: LSN %" PRIu64 " is missing from the log (gap or corruption)",
	       t->who, t->shard, t->path, t->off, why == -EBADMSG ? "invalid record" : "no record",
	       t->next_lsn);
	return -EBADMSG;
}

int wal_tail_next(struct wal_tail *t, struct wal_record *rec, const uint8_t **raw,
		  size_t *rawlen)
{
	for (;;) {
		size_t at;
		int rc;

		if (t->fd < 0 && (rc = tail_open(t)) != 0)
			return rc;
		if (t->fd < 0)
			return WAL_TAIL_NONE;
		at = (size_t)(t->off - t->buf_off);
		rc = t->len > at ? wal_record_decode(t->buf + at, t->len - at, rec) : -ENODATA;
		if (rc == -ENODATA || (rc == -EBADMSG && t->len - at < WAL_RECORD_MAX)) {
			ssize_t got = tail_fill(t);
			if (got < 0) {
				fs_log("error", "%s: %s: read: %s", t->who, t->path,
				       fs_strerror((int)got));
				return (int)got;
			}
			if (got > 0)
				continue;
			rc = tail_stalled(t, rc);
			if (rc == WAL_TAIL_RETRY)
				continue;
			return rc;
		}
		if (rc < 0) {
			rc = tail_stalled(t, rc);
			if (rc == WAL_TAIL_RETRY)
				continue;
			return rc;
		}
		if (rec->lsn < t->next_lsn) {
			t->off += (uint64_t)rc; /* a segment opened before our position */
			continue;
		}
		if (rec->lsn != t->next_lsn) {
			fs_log("error",
			       "%s: shard %u: %s: offset %" PRIu64 ": LSN %" PRIu64
			       ", expected %" PRIu64 ": the log is not contiguous",
			       t->who, t->shard, t->path, t->off, rec->lsn, t->next_lsn);
			return -EBADMSG;
		}
		*raw = t->buf + at;
		*rawlen = (size_t)rc;
		t->off += (uint64_t)rc;
		t->bad_since_ns = 0;
		t->next_lsn++;
		return WAL_TAIL_RECORD;
	}
}
