/*
 * wal_write.c — writing the write-ahead log: group commit over io_uring,
 * segment creation and rollover, failure handling (wal_open .. wal_close).
 *
 * WRITE PATH (group commit)
 *
 * The WAL owns queue_depth + 1 batch buffers of batch_bytes, allocated once
 * at open and registered with io_uring_register_buffers (if registration is
 * refused, e.g. RLIMIT_MEMLOCK, plain IORING_OP_WRITE is used and
 * stats.fixed_buffers says so). wal_append encodes a record into the filling
 * buffer and returns its LSN; wal_submit seals the buffer as batch number
 * "ticket" and hands it to the kernel as one submission: IORING_OP_WRITE_FIXED
 * at the batch's file offset, linked (IOSQE_IO_LINK) to an
 * IORING_OP_FSYNC(DATASYNC) in sync mode. Tickets become durable in order:
 * wal_poll reports the highest ticket that, with all earlier ones, is.
 *
 * Only one write is in the kernel at a time; fdatasyncs overlap freely. A
 * sealed batch waits (state QUEUED) until the previous batch's write has
 * completed, and is then submitted from wal_poll. The reason is holes: were
 * two writes in flight, the later one could complete first (the earlier one
 * punted to an io-wq worker, or short and resubmitted), and a crash in that
 * window would leave zeros followed by valid records, which recovery must
 * call corruption. A write is a page-cache copy; the expensive part, the
 * fdatasync, still overlaps across up to queue_depth batches, and a later
 * fdatasync also covers earlier writes.
 *
 * Measured (bench_wal; 2-vCPU VM, ext4 on virtio, Linux 6.18): ext4 buffered
 * writes are punted to an io-wq worker (~65 us submit to completion when the
 * shard sleeps on the eventfd), so a batch queued behind another pays one such
 * round trip. Letting writes overlap was ~100 us better at p50 and 15-20%
 * faster in closed-loop sync mode; the rule stays, for the reason above.
 *
 * The first batch of a new segment additionally waits until every earlier
 * batch is durable (sync mode) or the old segment has been fdatasynced
 * (batch mode), so that a non-last segment never has a torn tail.
 *
 * Every completion is checked (the optional io_hook sees it first,
 * as WAL_IO_WRITE or WAL_IO_FSYNC):
 *  - write short: the rest is resubmitted (with its fdatasync), same ticket;
 *  - write -EAGAIN: resubmitted; at most WAL_RETRIES_MAX times per batch;
 *  - write -EIO, -ENOSPC, any other error, or 0 bytes: the WAL FAILS;
 *  - fdatasync: any error FAILS the WAL. A failed fdatasync is never retried:
 *    after a writeback error Linux may drop the dirty pages and report
 *    success to the next fsync, so a retry would lie. -ECANCELED (the linked
 *    fsync of a short or failed write) is not an error of its own.
 * Resubmission bumps the batch's generation, which is in every SQE's
 * user_data; completions of an older generation only release their slot.
 *
 * FAILED is permanent for this struct wal: the failed ticket and every later
 * one never become durable; wal_append, wal_submit, wal_poll, wal_tick and
 * wal_wait return the error (-EIO, -ENOSPC, ...), and the shard answers
 * UNAVAILABLE. Earlier tickets still in flight may yet become durable.
 * Records of failed batches may nevertheless be on disk and come back at
 * recovery: they were never acknowledged (as with a crash before the ack),
 * and idempotent retries make that harmless.
 *
 * DURABILITY MODES
 *  - sync:  a ticket is durable when its linked fdatasync completed. Nothing
 *           acknowledged is lost on a process crash or power loss.
 *  - batch: a ticket is "durable" when its write completed (it is in the page
 *           cache); wal_tick issues an fdatasync of every segment with
 *           unsynced data each sync_interval_ms. A process crash loses
 *           nothing acknowledged (the kernel still has the pages); power loss
 *           or a kernel crash loses the records acknowledged since the last
 *           completed fdatasync: at most sync_interval_ms worth, plus the
 *           duration of that fdatasync. stats.synced_lsn is what is safe from
 *           power loss. A failed periodic fdatasync fails the WAL.
 *  - none:  writes only, never fsync; for benchmarks. Power loss may lose
 *           anything, and may even leave a log recovery refuses.
 *
 * Preallocation was measured: on this ext4 it changes neither the cost of an
 * append + fdatasync (~200 us) nor the WAL's throughput beyond noise; it stays
 * on (params.no_prealloc turns it off) because it reserves the segment's
 * space up front and keeps it contiguous. Zero-filling segments instead made
 * fdatasync ~30% faster (no size change to journal) but doubles the bytes
 * written and makes preallocated zeros look like a torn tail: not done.
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
#include <liburing.h>
#include <stdatomic.h>
#include <sys/eventfd.h>

#include "cfg.h"

_Static_assert(WAL_BATCH_BYTES_DEFAULT >= WAL_RECORD_MAX, "a batch holds the largest record");
_Static_assert(WAL_BATCH_BYTES_MAX <= UINT32_MAX / 2, "batch offsets fit in 32 bits");
_Static_assert(WAL_QUEUE_DEPTH_MAX + 1 < 0xff, "slot index fits in user_data's 8 bits");
_Static_assert(WAL_OPEN_SEGMENTS <= 0xff, "segment index fits in user_data's 8 bits");
_Static_assert((int)WAL_DURABILITY_SYNC == (int)CFG_DUR_SYNC &&
		       (int)WAL_DURABILITY_BATCH == (int)CFG_DUR_BATCH &&
		       (int)WAL_DURABILITY_NONE == (int)CFG_DUR_NONE,
	       "wal_durability mirrors cfg_durability");

#define SLOT_NONE    0xffu

/* ------------------------------------------------------------------ */
/* The WAL handle                                                     */
/* ------------------------------------------------------------------ */

enum batch_state {
	B_FREE = 0,
	B_FILLING, /* records being appended */
	B_QUEUED,  /* sealed with a ticket, waiting for the previous write */
	B_WRITING, /* write (and linked fdatasync) in the kernel */
	B_SYNCING, /* write done, fdatasync in flight (sync mode) */
	B_DONE,	   /* durable as configured */
	B_FAILED,  /* never durable */
};

enum { OP_WRITE = 1, OP_FSYNC = 2, OP_SEGSYNC = 3 };

struct wal_batch {
	uint8_t *buf;  /* batch_bytes, registered buffer index = slot */
	uint32_t len;  /* bytes encoded */
	uint32_t done; /* bytes whose write completed */
	uint64_t ticket;
	uint64_t first_lsn, last_lsn;
	int64_t first_append_ns; /* fs_mono_ns of its first record (commit-latency histogram) */
	uint64_t off; /* file offset of buf[0] */
	uint32_t gen; /* bumped per (re)submission; in user_data */
	uint16_t retries;
	uint8_t seg;		       /* index in wal.seg */
	uint8_t state;		       /* enum batch_state */
	uint16_t sqes;		       /* SQEs of every generation not yet reaped */
	bool new_segment;	       /* first batch of its segment: a barrier */
	bool fsync_ok, fsync_canceled; /* current generation */
};

struct wal_seg {
	int fd; /* -1: entry free */
	uint64_t first_lsn;
	unsigned refs;	  /* batches on it + periodic fdatasyncs in flight */
	uint64_t written; /* end offset of the completed writes */
	uint64_t written_lsn;
	uint64_t synced;	       /* end offset covered by a completed fdatasync */
	uint64_t sync_bytes, sync_lsn; /* what the fdatasync in flight covers */
	bool syncing;
};

struct wal {
	struct io_uring ring;
	struct wal_ops ops;
	enum wal_durability mode;
	uint64_t segment_bytes;
	uint32_t batch_bytes;
	unsigned qd, nb; /* queue depth, buffers (qd + 1) */
	int64_t sync_interval_ns, last_sync_ns;
	wal_io_hook_fn hook;
	void *hook_ctx;
	bool prealloc, fixed, ring_ok;
	int dirfd, efd;
	char dir[FS_PATH_MAX]; /* DIR/shard-NN */
	uint8_t *mem;	       /* nb * batch_bytes */
	struct wal_batch b[WAL_QUEUE_DEPTH_MAX + 1];
	unsigned head, sealed; /* oldest sealed slot; sealed slots */
	struct wal_seg seg[WAL_OPEN_SEGMENTS];
	unsigned cur;	  /* segment being appended to */
	uint64_t seg_off; /* its size once every sealed batch is written */
	uint64_t next_lsn, next_ticket;
	uint64_t durable_ticket, durable_lsn;
	unsigned sqes; /* all SQEs not yet reaped */
	int failed;
	uint64_t failed_ticket; /* UINT64_MAX while not failed */
	struct wal_stats st;
	/* Written by the log's thread at wal_poll, read by the control plane. */
	_Atomic uint64_t pub_durable_lsn, pub_synced_lsn, pub_segment_lsn;
	_Atomic int pub_failed;
	_Atomic int injected; /* wal_inject_fault: picked up by wal_poll */
	_Atomic(struct wal_notify *) notify; /* wal_set_notify */
	uint64_t notified_lsn;		     /* durable_lsn when notify was last looked at */
};

static unsigned fill_slot(const struct wal *w)
{
	return (w->head + w->sealed) % w->nb;
}

static uint64_t ud_make(unsigned slot, unsigned op, unsigned seg, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint64_t)seg << 16 | (uint64_t)op << 8 | slot;
}

static void ring_submit(struct wal *w)
{
	/* On failure (-EAGAIN, -EBUSY, -EINTR) the SQEs stay in the ring and
	 * the next wal_poll or wal_wait submits them. */
	if (io_uring_submit(&w->ring) < 0)
		w->st.submit_retries++;
}

/* Enter FAILED (or move failed_ticket down): ticket and later never durable. */
static void wal_fail(struct wal *w, uint64_t ticket, int err)
{
	FS_ASSERT(err < 0);
	if (!w->failed)
		w->failed = err;
	if (ticket < w->failed_ticket)
		w->failed_ticket = ticket;
	for (unsigned k = 0; k < w->sealed; k++) {
		struct wal_batch *b = &w->b[(w->head + k) % w->nb];
		if (b->ticket >= w->failed_ticket && (b->state == B_QUEUED || b->ticket == ticket))
			b->state = B_FAILED;
	}
}

static void batch_issue(struct wal *w, unsigned slot)
{
	struct wal_batch *b = &w->b[slot];
	struct wal_seg *s = &w->seg[b->seg];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
	uint32_t n = b->len - b->done;

	FS_ASSERT(sqe && n > 0 && s->fd >= 0);
	b->gen++;
	if (w->fixed)
		io_uring_prep_write_fixed(sqe, s->fd, b->buf + b->done, n, b->off + b->done,
					  (int)slot);
	else
		io_uring_prep_write(sqe, s->fd, b->buf + b->done, n, b->off + b->done);
	io_uring_sqe_set_data64(sqe, ud_make(slot, OP_WRITE, b->seg, b->gen));
	b->sqes++;
	w->sqes++;
	if (w->mode == WAL_DURABILITY_SYNC) {
		sqe->flags |= IOSQE_IO_LINK;
		sqe = io_uring_get_sqe(&w->ring);
		FS_ASSERT(sqe);
		io_uring_prep_fsync(sqe, s->fd, IORING_FSYNC_DATASYNC);
		io_uring_sqe_set_data64(sqe, ud_make(slot, OP_FSYNC, b->seg, b->gen));
		b->sqes++;
		w->sqes++;
	}
	b->state = B_WRITING;
	b->fsync_ok = b->fsync_canceled = false;
	ring_submit(w);
}

/* fdatasync a segment on its own (batch mode timer, segment barrier). */
static void seg_sync_issue(struct wal *w, unsigned i)
{
	struct wal_seg *s = &w->seg[i];
	struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);

	FS_ASSERT(sqe && s->fd >= 0 && !s->syncing);
	io_uring_prep_fsync(sqe, s->fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data64(sqe, ud_make(SLOT_NONE, OP_SEGSYNC, i, 0));
	s->sync_bytes = s->written;
	s->sync_lsn = s->written_lsn;
	s->syncing = true;
	s->refs++;
	w->sqes++;
	ring_submit(w);
}

/* True when no segment but `keep` holds unsynced data (issuing fdatasyncs
 * for those that do). */
static bool old_segments_synced(struct wal *w, unsigned keep)
{
	bool ok = true;

	if (w->mode == WAL_DURABILITY_NONE)
		return true;
	for (unsigned i = 0; i < WAL_OPEN_SEGMENTS; i++) {
		struct wal_seg *s = &w->seg[i];
		if (i == keep || s->fd < 0 || s->synced >= s->written)
			continue;
		if (!s->syncing)
			seg_sync_issue(w, i);
		ok = false;
	}
	return ok;
}

/* Hand the next sealed batch to the kernel when the rules allow it: one
 * write at a time, and a segment's first batch after all earlier are safe.
 * After a failure only batches before failed_ticket are still QUEUED
 * (wal_fail marks the others): those may still complete. */
static void wal_kick(struct wal *w)
{
	bool earlier_done = true;

	for (unsigned k = 0; k < w->sealed; k++) {
		unsigned slot = (w->head + k) % w->nb;
		struct wal_batch *b = &w->b[slot];
		if (b->state == B_WRITING)
			return;
		if (b->state == B_QUEUED) {
			if (b->new_segment && !(earlier_done && old_segments_synced(w, b->seg)))
				return;
			batch_issue(w, slot);
			return;
		}
		if (b->state != B_DONE)
			earlier_done = false;
	}
}

static void batch_durable(struct wal *w, struct wal_batch *b)
{
	struct wal_seg *s = &w->seg[b->seg];

	b->state = B_DONE;
	if (w->mode != WAL_DURABILITY_SYNC)
		return;
	w->st.fsyncs++;
	if (b->off + b->len > s->synced)
		s->synced = b->off + b->len;
	if (b->last_lsn > w->st.synced_lsn)
		w->st.synced_lsn = b->last_lsn;
}

static void batch_write_done(struct wal *w, struct wal_batch *b, int res)
{
	struct wal_seg *s = &w->seg[b->seg];
	uint32_t rest = b->len - b->done;

	if (res == -EAGAIN || (res > 0 && (uint32_t)res < rest)) {
		if (res > 0) {
			b->done += (uint32_t)res;
			w->st.short_writes++;
		} else {
			w->st.eagain_retries++;
		}
		if (b->ticket >= w->failed_ticket) /* never write after a failure */
			b->state = B_FAILED;
		else if (++b->retries > WAL_RETRIES_MAX)
			wal_fail(w, b->ticket, -EIO);
		else
			batch_issue(w, (unsigned)(b - w->b));
		return;
	}
	if (res <= 0) {
		wal_fail(w, b->ticket, res < 0 ? res : -EIO);
		return;
	}
	FS_ASSERT((uint32_t)res == rest);
	b->done = b->len;
	s->written = b->off + b->len;
	s->written_lsn = b->last_lsn;
	if (w->mode != WAL_DURABILITY_SYNC)
		batch_durable(w, b);
	else if (b->fsync_canceled)
		wal_fail(w, b->ticket, -EIO); /* cannot happen: a full write does not cancel */
	else if (b->fsync_ok)
		batch_durable(w, b);
	else
		b->state = B_SYNCING;
}

static void batch_fsync_done(struct wal *w, struct wal_batch *b, int res)
{
	if (res >= 0) {
		b->fsync_ok = true;
		if (b->state == B_SYNCING)
			batch_durable(w, b);
		return;
	}
	if (res == -ECANCELED && b->state == B_WRITING) {
		b->fsync_canceled = true; /* the write's completion decides */
		return;
	}
	/* Never retried: see "Every completion is checked" above. */
	wal_fail(w, b->ticket, res == -ECANCELED ? -EIO : res);
}

static void seg_sync_done(struct wal *w, unsigned i, int res)
{
	struct wal_seg *s = &w->seg[i];

	FS_ASSERT(i < WAL_OPEN_SEGMENTS && s->syncing && s->refs > 0);
	s->syncing = false;
	s->refs--;
	if (res < 0) {
		/* Batch mode acknowledged these already; nothing later may be. */
		wal_fail(w, w->durable_ticket + 1, res);
		return;
	}
	w->st.fsyncs++;
	if (s->sync_bytes > s->synced)
		s->synced = s->sync_bytes;
	if (s->sync_lsn > w->st.synced_lsn)
		w->st.synced_lsn = s->sync_lsn;
}

static void wal_complete(struct wal *w, uint64_t ud, int res)
{
	unsigned slot = ud & 0xff, op = (ud >> 8) & 0xff, seg = (ud >> 16) & 0xff;
	uint32_t gen = (uint32_t)(ud >> 32);
	struct wal_batch *b;

	FS_ASSERT(w->sqes > 0);
	w->sqes--;
	if (w->hook)
		res = w->hook(w->hook_ctx, op == OP_WRITE ? WAL_IO_WRITE : WAL_IO_FSYNC, res);
	if (op == OP_SEGSYNC) {
		seg_sync_done(w, seg, res);
		return;
	}
	FS_ASSERT(slot < w->nb && (op == OP_WRITE || op == OP_FSYNC));
	b = &w->b[slot];
	FS_ASSERT(b->sqes > 0 && b->seg == seg);
	b->sqes--;
	if (gen != b->gen || (b->state != B_WRITING && b->state != B_SYNCING))
		return; /* an older generation, or a batch that already failed */
	if (op == OP_WRITE)
		batch_write_done(w, b, res);
	else
		batch_fsync_done(w, b, res);
}

static void wal_reap(struct wal *w)
{
	struct io_uring_cqe *cqe;

	for (unsigned n = 0; n < WAL_CQES_PER_POLL_MAX && io_uring_peek_cqe(&w->ring, &cqe) == 0; n++) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&w->ring, cqe);
		wal_complete(w, ud, res);
	}
}

static void seg_close_idle(struct wal *w)
{
	for (unsigned i = 0; i < WAL_OPEN_SEGMENTS; i++) {
		struct wal_seg *s = &w->seg[i];
		if (i == w->cur || s->fd < 0 || s->refs)
			continue;
		if (w->mode != WAL_DURABILITY_NONE && s->synced < s->written)
			continue;
		w->ops.close(w->ops.ctx, s->fd); /* after fdatasync: nothing to report */
		s->fd = -1;
	}
}

/* Advance the durable ticket over the prefix of done batches, then free
 * the slots nothing refers to any more. */
/* A batch became durable: its records into the commit-latency histogram. */
static void commit_observe(struct wal *w, const struct wal_batch *b, int64_t now_ns)
{
	uint64_t n = b->last_lsn - b->first_lsn + 1;
	uint64_t ns = now_ns > b->first_append_ns ? (uint64_t)(now_ns - b->first_append_ns) : 0;

	w->st.commit_hist[fs_lat_bucket(ns)] += n;
	w->st.commit_sum_ns += ns * n;
	w->st.commit_count += n;
}

static void wal_retire(struct wal *w)
{
	int64_t now_ns = 0;

	for (unsigned k = 0; k < w->sealed; k++) {
		struct wal_batch *b = &w->b[(w->head + k) % w->nb];
		if (b->state != B_DONE || b->ticket >= w->failed_ticket)
			break;
		if (b->ticket > w->durable_ticket) {
			if (now_ns == 0)
				now_ns = fs_mono_ns();
			commit_observe(w, b, now_ns);
		}
		w->durable_ticket = b->ticket;
		w->durable_lsn = b->last_lsn;
	}
	while (w->sealed) {
		struct wal_batch *b = &w->b[w->head];
		if ((b->state != B_DONE && b->state != B_FAILED) || b->sqes)
			break;
		FS_ASSERT(w->seg[b->seg].refs > 0);
		w->seg[b->seg].refs--;
		b->state = B_FREE;
		b->len = b->done = 0;
		w->head = (w->head + 1) % w->nb;
		w->sealed--;
	}
	seg_close_idle(w);
}

static void wal_publish(struct wal *w)
{
	atomic_store_explicit(&w->pub_durable_lsn, w->durable_lsn, memory_order_relaxed);
	atomic_store_explicit(&w->pub_synced_lsn, w->st.synced_lsn, memory_order_relaxed);
	atomic_store_explicit(&w->pub_segment_lsn, w->seg[w->cur].first_lsn,
			      memory_order_relaxed);
	atomic_store_explicit(&w->pub_failed, w->failed, memory_order_relaxed);
	if (w->durable_lsn != w->notified_lsn) { /* once per completed group commit */
		struct wal_notify *n = atomic_load_explicit(&w->notify, memory_order_acquire);
		w->notified_lsn = w->durable_lsn;
		if (n) {
			uint64_t one = 1;
			/* Pairs with the waiter's fence: either it sees the new
			 * pub_durable_lsn before it blocks, or we see it waiting. */
			atomic_thread_fence(memory_order_seq_cst);
			if (atomic_load_explicit(&n->waiting, memory_order_relaxed))
				(void)!write(n->efd, &one, sizeof(one));
		}
	}
}

int wal_poll(struct wal *w, uint64_t *durable_ticket)
{
	int inj = atomic_load_explicit(&w->injected, memory_order_relaxed);

	if (inj && !w->failed)
		wal_fail(w, w->durable_ticket + 1, inj);
	if (io_uring_sq_ready(&w->ring))
		ring_submit(w);
	wal_reap(w);
	wal_retire(w);
	wal_kick(w);
	wal_publish(w);
	if (durable_ticket)
		*durable_ticket = w->durable_ticket;
	return w->failed;
}

int wal_tick(struct wal *w, int64_t now_ns)
{
	if (w->failed)
		return w->failed;
	if (w->mode != WAL_DURABILITY_BATCH || now_ns - w->last_sync_ns < w->sync_interval_ns)
		return 0;
	w->last_sync_ns = now_ns;
	for (unsigned i = 0; i < WAL_OPEN_SEGMENTS; i++) {
		struct wal_seg *s = &w->seg[i];
		if (s->fd >= 0 && s->written > s->synced && !s->syncing)
			seg_sync_issue(w, i);
	}
	return 0;
}

/* wal_wait's "anything left to start?": batch mode syncs what was written. */
static bool wait_more(struct wal *w)
{
	bool issued = false;

	/* With nothing in flight wal_kick has issued every QUEUED batch. */
	for (unsigned k = 0; k < w->sealed; k++)
		FS_ASSERT(w->b[(w->head + k) % w->nb].state != B_QUEUED);
	if (w->failed)
		return false;
	for (unsigned i = 0; w->mode == WAL_DURABILITY_BATCH && i < WAL_OPEN_SEGMENTS; i++) {
		struct wal_seg *s = &w->seg[i];
		if (s->fd >= 0 && s->written > s->synced && !s->syncing) {
			seg_sync_issue(w, i);
			issued = true;
		}
	}
	return issued;
}

int wal_wait(struct wal *w, uint64_t *durable_ticket)
{
	for (;;) {
		int rc;
		wal_poll(w, NULL);
		if (w->sqes == 0 && !wait_more(w))
			break;
		rc = io_uring_submit_and_wait(&w->ring, 1);
		FS_ASSERT(rc >= 0 || rc == -EINTR || rc == -EAGAIN || rc == -EBUSY || rc == -ETIME);
	}
	wal_retire(w);
	wal_publish(w);
	if (durable_ticket)
		*durable_ticket = w->durable_ticket;
	return w->failed;
}

/* ---- appending ---- */

/* Create segment entry i named after lsn: O_EXCL, preallocate, fsync dir. */
static int seg_create(struct wal *w, unsigned i, uint64_t lsn)
{
	char path[FS_PATH_MAX];
	struct wal_seg *s = &w->seg[i];
	int fd, rc;

	if ((rc = wal_seg_path(path, w->dir, lsn)))
		return rc;
	fd = w->ops.open(w->ops.ctx, path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return fd;
	if (w->prealloc &&
	    w->ops.fallocate(w->ops.ctx, fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)w->segment_bytes))
		w->st.prealloc_failures++; /* an optimisation only; writes report real ENOSPC */
	rc = w->ops.fsync(w->ops.ctx, w->dirfd);
	if (rc) {
		w->ops.close(w->ops.ctx, fd);
		return rc;
	}
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->first_lsn = lsn;
	w->st.segments_created++;
	return 0;
}

/* At the first append of a batch: start a new segment when the current one
 * has passed segment_bytes and an entry is free (else keep going: soft). */
static int maybe_rollover(struct wal *w)
{
	int rc;

	if (w->seg_off < w->segment_bytes)
		return 0;
	seg_close_idle(w);
	for (unsigned i = 0; i < WAL_OPEN_SEGMENTS; i++) {
		if (w->seg[i].fd >= 0)
			continue;
		rc = seg_create(w, i, w->next_lsn);
		if (rc) {
			wal_fail(w, w->next_ticket, rc);
			return rc;
		}
		w->cur = i;
		w->seg_off = 0;
		return 0;
	}
	return 0;
}

static int64_t wal_append_rec(struct wal *w, uint8_t type, const void *payload, uint32_t len)
{
	struct wal_batch *b = &w->b[fill_slot(w)];
	size_t size = wal_record_size(len);
	int n;

	if (unlikely(w->failed))
		return w->failed;
	if (b->state == B_FREE) {
		int rc = maybe_rollover(w);
		if (rc)
			return rc;
		b->state = B_FILLING;
		b->len = b->done = 0;
		b->retries = 0;
		b->first_lsn = w->next_lsn;
		b->first_append_ns = fs_mono_ns();
		b->seg = (uint8_t)w->cur;
		b->new_segment = w->seg_off == 0;
		w->seg[w->cur].refs++;
	}
	if (b->len + size > w->batch_bytes) {
		w->st.nobufs++;
		return -ENOBUFS;
	}
	n = wal_record_encode(b->buf + b->len, w->batch_bytes - b->len, w->next_lsn, type, payload,
			      len);
	FS_ASSERT(n == (int)size);
	b->len += (uint32_t)n;
	b->last_lsn = w->next_lsn;
	w->st.records++;
	w->st.bytes += (uint64_t)n;
	return (int64_t)w->next_lsn++;
}

int64_t wal_append(struct wal *w, const struct store_change *ch)
{
	uint8_t payload[WAL_CHANGE_BYTES];

	wal_change_encode(payload, ch);
	return wal_append_rec(w, WAL_REC_CHANGE, payload, WAL_CHANGE_BYTES);
}

int64_t wal_append_admin(struct wal *w, const void *payload, uint32_t len)
{
	if (len == 0 || len > WAL_PAYLOAD_MAX)
		return -EINVAL;
	return wal_append_rec(w, WAL_REC_ADMIN, payload, len);
}

/* The first half of the assertion pair: what goes to disk decodes back to
 * the batch's LSNs (wal_replay checks the second half as input). */
static void batch_check(const struct wal_batch *b)
{
	uint64_t lsn = b->first_lsn;
	uint32_t off = 0;
	struct wal_record rec;

	while (off < b->len) {
		int n = wal_record_decode(b->buf + off, b->len - off, &rec);
		FS_ASSERT(n > 0 && rec.lsn == lsn);
		off += (uint32_t)n;
		lsn++;
	}
	FS_ASSERT(off == b->len && lsn - 1 == b->last_lsn);
}

int wal_submit(struct wal *w, uint64_t *ticket)
{
	struct wal_batch *b = &w->b[fill_slot(w)];

	if (unlikely(w->failed))
		return w->failed;
	if (b->state == B_FREE) {
		*ticket = w->next_ticket - 1;
		return 0;
	}
	if (w->sealed == w->qd) {
		w->st.busy++;
		return -EBUSY;
	}
	FS_ASSERT(b->state == B_FILLING && b->len > 0);
	batch_check(b);
	b->ticket = w->next_ticket++;
	b->off = w->seg_off;
	w->seg_off += b->len;
	b->state = B_QUEUED;
	w->sealed++;
	w->st.batches++;
	*ticket = b->ticket;
	wal_kick(w);
	return 0;
}

/* ---- open and close ---- */

static int params_check(const struct wal_params *p, const struct wal_replay_info *info, char *err,
			size_t errlen)
{
	const char *what = NULL;

	if (!p || !p->dir || !info)
		what = "params, dir and info are required";
	else if (p->shard_id >= FS_WORKERS_MAX)
		what = "shard_id out of range";
	else if (p->durability > WAL_DURABILITY_NONE)
		what = "unknown durability";
	else if (p->segment_bytes && (p->segment_bytes < WAL_SEGMENT_BYTES_MIN ||
				      p->segment_bytes > WAL_SEGMENT_BYTES_MAX))
		what = "segment_bytes out of range";
	else if (p->batch_bytes && (p->batch_bytes < WAL_RECORD_MAX ||
				    p->batch_bytes > WAL_BATCH_BYTES_MAX || p->batch_bytes % 8))
		what = "batch_bytes out of range or not a multiple of 8";
	else if (p->queue_depth > WAL_QUEUE_DEPTH_MAX)
		what = "queue_depth out of range";
	else if (p->sync_interval_ms > WAL_SYNC_INTERVAL_MS_MAX)
		what = "sync_interval_ms out of range";
	else if (info->next_lsn == 0 || (info->segment_lsn && info->segment_lsn > info->next_lsn))
		what = "info does not come from wal_replay";
	if (!what)
		return 0;
	fs_errf(err, errlen, "wal_open: %s", what);
	return -EINVAL;
}

static void wal_init_fields(struct wal *w, const struct wal_params *p,
			    const struct wal_replay_info *info)
{
	w->ops = p->ops ? *p->ops : wal_sys_ops;
	w->mode = p->durability;
	w->segment_bytes = p->segment_bytes ? p->segment_bytes : WAL_SEGMENT_BYTES_DEFAULT;
	w->batch_bytes = p->batch_bytes ? p->batch_bytes : WAL_BATCH_BYTES_DEFAULT;
	w->qd = p->queue_depth ? p->queue_depth : WAL_QUEUE_DEPTH_DEFAULT;
	w->nb = w->qd + 1;
	w->sync_interval_ns = (int64_t)(p->sync_interval_ms ? p->sync_interval_ms
							    : WAL_SYNC_INTERVAL_MS_DEFAULT) *
			      FS_NS_PER_MS;
	w->last_sync_ns = fs_mono_ns();
	w->hook = p->io_hook;
	w->hook_ctx = p->hook_ctx;
	w->prealloc = !p->no_prealloc;
	w->dirfd = w->efd = -1;
	for (unsigned i = 0; i < WAL_OPEN_SEGMENTS; i++)
		w->seg[i].fd = -1;
	w->next_lsn = info->next_lsn;
	w->durable_lsn = w->st.synced_lsn = info->next_lsn - 1; /* open fsyncs it */
	w->next_ticket = 1;
	w->failed_ticket = UINT64_MAX;
}

/* Continue in the segment wal_replay left (fsynced once: what recovery read
 * from the page cache becomes durable before anything depends on it), or
 * create the first one. */
static int open_segment(struct wal *w, const struct wal_replay_info *info, char *err, size_t errlen)
{
	char path[FS_PATH_MAX];
	struct wal_seg *s = &w->seg[0];
	struct stat st;
	int rc;

	w->cur = 0;
	if (!info->segment_lsn) {
		rc = seg_create(w, 0, w->next_lsn);
		if (rc)
			fs_errf(err, errlen, "%s: creating the first segment: %s", w->dir,
			     fs_strerror(rc));
		return rc;
	}
	if ((rc = wal_seg_path(path, w->dir, info->segment_lsn)))
		return rc;
	s->fd = w->ops.open(w->ops.ctx, path, O_WRONLY | O_CLOEXEC, 0);
	if (s->fd < 0) {
		rc = s->fd;
		s->fd = -1;
		fs_errf(err, errlen, "%s: open: %s", path, fs_strerror(rc));
		return rc;
	}
	rc = w->ops.fstat(w->ops.ctx, s->fd, &st);
	if (rc == 0 && (uint64_t)st.st_size != info->append_offset)
		rc = -EBADMSG;
	if (rc == 0)
		rc = w->ops.fsync(w->ops.ctx, s->fd);
	if (rc) {
		fs_errf(err, errlen, "%s: %s", path,
		     rc == -EBADMSG ? "size changed since wal_replay" : fs_strerror(rc));
		return rc;
	}
	if (w->prealloc &&
	    w->ops.fallocate(w->ops.ctx, s->fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)w->segment_bytes))
		w->st.prealloc_failures++;
	s->first_lsn = info->segment_lsn;
	s->written = s->synced = info->append_offset;
	s->written_lsn = info->next_lsn - 1;
	w->seg_off = info->append_offset;
	return 0;
}

static int ring_setup(struct wal *w, bool want_eventfd, char *err, size_t errlen)
{
	struct io_uring_params up = {.flags = IORING_SETUP_CQSIZE};
	struct iovec iov[WAL_QUEUE_DEPTH_MAX + 1];
	unsigned entries = 2 * w->nb + WAL_OPEN_SEGMENTS + 2;
	int rc;

	up.cq_entries = 4 * entries;
	rc = io_uring_queue_init_params(entries, &w->ring, &up);
	if (rc) {
		fs_errf(err, errlen, "io_uring_queue_init: %s", fs_strerror(rc));
		return rc;
	}
	w->ring_ok = true;
	if (!(up.features & IORING_FEAT_NODROP)) {
		fs_errf(err, errlen,
		     "io_uring: kernel lacks IORING_FEAT_NODROP (Linux >= 5.5 needed)");
		return -ENOTSUP;
	}
	for (unsigned i = 0; i < w->nb; i++)
		iov[i] = (struct iovec){.iov_base = w->b[i].buf, .iov_len = w->batch_bytes};
	rc = io_uring_register_buffers(&w->ring, iov, w->nb);
	w->fixed = rc == 0;
	if (rc)
		fs_log("warn", "wal %s: io_uring_register_buffers: %s; using unregistered buffers",
		       w->dir, fs_strerror(rc));
	if (!want_eventfd)
		return 0;
	w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	rc = w->efd < 0 ? -errno : io_uring_register_eventfd(&w->ring, w->efd);
	if (rc)
		fs_errf(err, errlen, "io_uring eventfd: %s", fs_strerror(rc));
	return rc;
}

static void wal_free(struct wal *w)
{
	if (w->ring_ok)
		io_uring_queue_exit(&w->ring);
	for (unsigned i = 0; i < WAL_OPEN_SEGMENTS; i++)
		if (w->seg[i].fd >= 0)
			w->ops.close(w->ops.ctx, w->seg[i].fd);
	if (w->dirfd >= 0)
		w->ops.close(w->ops.ctx, w->dirfd);
	if (w->efd >= 0)
		close(w->efd);
	free(w->mem);
	free(w);
}

int wal_open(const struct wal_params *p, const struct wal_replay_info *info, struct wal **out,
	     char *err, size_t errlen)
{
	struct wal *w;
	int rc;

	*out = NULL;
	fs_errf(err, errlen, "%s", "");
	if ((rc = params_check(p, info, err, errlen)))
		return rc;
	if (!(w = calloc(1, sizeof(*w))))
		return -ENOMEM;
	wal_init_fields(w, p, info);
	/* aligned_alloc wants a size that is a multiple of the alignment. */
	w->mem = aligned_alloc(4096, ((size_t)w->nb * w->batch_bytes + 4095) & ~(size_t)4095);
	if (!w->mem) {
		rc = -ENOMEM;
		goto fail;
	}
	memset(w->mem, 0, (size_t)w->nb * w->batch_bytes);
	for (unsigned i = 0; i < w->nb; i++)
		w->b[i].buf = w->mem + (size_t)i * w->batch_bytes;
	if ((rc = wal_shard_path(w->dir, p->dir, p->shard_id))) {
		fs_errf(err, errlen, "%s: path too long", p->dir);
		goto fail;
	}
	if ((rc = wal_mkdir_p(&w->ops, w->dir))) {
		fs_errf(err, errlen, "%s: mkdir: %s", w->dir, fs_strerror(rc));
		goto fail;
	}
	w->dirfd = w->ops.open(w->ops.ctx, w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (w->dirfd < 0) {
		rc = w->dirfd;
		w->dirfd = -1;
		fs_errf(err, errlen, "%s: open: %s", w->dir, fs_strerror(rc));
		goto fail;
	}
	if ((rc = open_segment(w, info, err, errlen)) ||
	    (rc = ring_setup(w, p->eventfd, err, errlen)))
		goto fail;
	if (w->mode == WAL_DURABILITY_NONE)
		fs_log("warn",
		       "wal %s: durability = none: NOTHING IS FSYNCED, acknowledged records "
		       "are lost on power loss (benchmarks only)",
		       w->dir);
	wal_publish(w);
	*out = w;
	return 0;
fail:
	wal_free(w);
	return rc;
}

int wal_close(struct wal *w)
{
	int rc;

	if (!w)
		return 0;
	rc = wal_wait(w, NULL);
	wal_free(w);
	return rc;
}

int wal_event_fd(const struct wal *w)
{
	return w->efd >= 0 ? w->efd : -ENOENT;
}

void wal_set_notify(struct wal *w, struct wal_notify *n)
{
	atomic_store_explicit(&w->notify, n, memory_order_release);
}

void wal_stats(const struct wal *w, struct wal_stats *out)
{
	*out = w->st;
	out->next_lsn = w->next_lsn;
	out->durable_ticket = w->durable_ticket;
	out->durable_lsn = w->durable_lsn;
	out->failed = w->failed;
	out->failed_ticket = w->failed ? w->failed_ticket : 0;
	out->fixed_buffers = w->fixed;
}

void wal_position(const struct wal *w, struct wal_position *out)
{
	out->durable_lsn = atomic_load_explicit(&w->pub_durable_lsn, memory_order_relaxed);
	out->synced_lsn = atomic_load_explicit(&w->pub_synced_lsn, memory_order_relaxed);
	out->segment_lsn = atomic_load_explicit(&w->pub_segment_lsn, memory_order_relaxed);
	out->failed = atomic_load_explicit(&w->pub_failed, memory_order_relaxed);
}

void wal_inject_fault(struct wal *w, int err)
{
	uint64_t one = 1;

	FS_ASSERT(err < 0);
	atomic_store_explicit(&w->injected, err, memory_order_relaxed);
	if (w->efd >= 0)
		(void)!write(w->efd, &one, sizeof(one)); /* wake the log's thread */
}
