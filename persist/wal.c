/*
 * wal.c — the per-shard write-ahead log: record format, group commit over
 * io_uring, and recovery.
 *
 * Each shard (one worker thread) owns one log; nothing here is shared with
 * another shard, so there are no locks. Every state change the shard decides
 * (struct store_change) is appended before its OK reply is released, and the
 * reply waits until the record is durable as configured.
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
 * Preallocation was measured: on this ext4 it changes neither the cost of an
 * append + fdatasync (~200 us) nor the WAL's throughput beyond noise; it stays
 * on (params.no_prealloc turns it off) because it reserves the segment's
 * space up front and keeps it contiguous. Zero-filling segments instead made
 * fdatasync ~30% faster (no size change to journal) but doubles the bytes
 * written and makes preallocated zeros look like a torn tail: not done.
 *
 * RECORD FORMAT (all integers little-endian, every record starts at a
 * multiple of 8 bytes from the start of its segment)
 *
 *   offset size
 *     0     4   len     payload length in bytes, 1..WAL_PAYLOAD_MAX (4096)
 *     4     4   crc     CRC32C over bytes 8 .. 24+len-1 (lsn, type, the 7
 *                       reserved bytes and the payload); CRC32C as in iSCSI:
 *                       initial value ~0, final xor ~0 (rte_hash_crc gives
 *                       the raw register, wal_crc32c adds the inversions)
 *     8     8   lsn     >= 1
 *    16     1   type    1 = change (WAL_REC_CHANGE), 2 = admin (WAL_REC_ADMIN)
 *    17     7   zero    reserved, must be zero
 *    24   len   payload
 *  24+len   p   zero    padding to the next multiple of 8 (0..7 bytes),
 *                       must be zero; not covered by the CRC
 *
 * Payload of a change record (type 1), exactly 48 bytes, the fields of
 * struct store_change encoded one by one (no struct is ever written raw):
 *
 *     0     8   order_id
 *     8     8   user_id
 *    16     8   request_id   (0 for EXPIRE)
 *    24     8   ref          (CONFIRM payment reference)
 *    32     8   time_ns      (int64, two's complement)
 *    40     4   item_id
 *    44     2   qty
 *    46     1   type         enum store_change_type, 1..4
 *    47     1   zero         reserved
 *
 * so a change record is 24 + 48 = 72 bytes. An admin record (type 2) is
 * reserved for admin changes (stock, activities): its payload is opaque
 * bytes of any length up to WAL_PAYLOAD_MAX; wal_record_encode/decode handle
 * it like any record. Nothing writes one yet except wal_append_admin, and
 * wal_replay refuses one that it would have to replay (-ENOTSUP) rather than
 * skip a state change it cannot apply.
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
 * Every completion is checked (the optional cqe_hook sees it first):
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
 * Known limit: after a power loss during a multi-page write the disk may keep
 * a later page of an unacknowledged batch and not an earlier one. Step 4 then
 * sees a bad record followed by a valid one and refuses to start, though no
 * acknowledged record is damaged; an operator must look (a process crash
 * cannot cause this: the page cache holds the writes in order).
 *
 * wal_remove_before(lsn) deletes segment i when segment i+1 exists and starts
 * at or before lsn (so all of i is < lsn); the last segment is never deleted.
 *
 * FAULT SEAM: every file syscall goes through struct wal_ops (open, close,
 * mkdir, pread, fstat, fallocate, ftruncate, fsync, unlink); io_uring
 * completions pass through cqe_hook. Tests inject EIO, ENOSPC, short writes
 * and failing fdatasyncs with them.
 *
 * CHECKSUMS: rte_hash_crc() from <rte_hash_crc.h> (header-inline CRC32C with
 * the SSE4.2 crc32 instruction). It needs no EAL initialisation: an
 * RTE_INIT constructor picks the instruction set via cpuid
 * (rte_cpu_get_flag_enabled, in librte_eal, which is linked); without it the
 * software table, also CRC32C, is used. It reads 8 bytes at a time through
 * a uint64_t pointer, so records are kept 8-byte aligned.
 */
#include "persist.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <rte_hash_crc.h>

#include "cfg.h"

_Static_assert(WAL_REC_HDR_BYTES == 24, "record header layout");
_Static_assert(WAL_CHANGE_BYTES == 8 * 5 + 4 + 2 + 1 + 1, "change payload layout");
_Static_assert(WAL_CHANGE_RECORD_BYTES == 72, "change record size");
_Static_assert(WAL_CHANGE_RECORD_BYTES % WAL_REC_ALIGN == 0, "change records need no padding");
_Static_assert(WAL_RECORD_MAX % WAL_REC_ALIGN == 0, "largest record is aligned");
_Static_assert(sizeof(struct store_change) == 48,
	       "struct store_change changed: update wal_change_encode/decode and the format");
_Static_assert(WAL_BATCH_BYTES_DEFAULT >= WAL_RECORD_MAX, "a batch holds the largest record");
_Static_assert(WAL_BATCH_BYTES_MAX <= UINT32_MAX / 2, "batch offsets fit in 32 bits");
_Static_assert(WAL_QUEUE_DEPTH_MAX + 1 < 0xff, "slot index fits in user_data's 8 bits");
_Static_assert(WAL_OPEN_SEGMENTS <= 0xff, "segment index fits in user_data's 8 bits");
_Static_assert((int)WAL_DURABILITY_SYNC == (int)CFG_DUR_SYNC &&
		       (int)WAL_DURABILITY_BATCH == (int)CFG_DUR_BATCH &&
		       (int)WAL_DURABILITY_NONE == (int)CFG_DUR_NONE,
	       "wal_durability mirrors cfg_durability");

#define SEG_NAME_LEN 24 /* "wal-" + 16 hex + ".log" */
#define SEG_FILE_MAX (WAL_SEGMENT_BYTES_MAX + WAL_BATCH_BYTES_MAX)
#define SLOT_NONE    0xffu
#define CQE_BUDGET   1024 /* completions handled per wal_poll */

/* ------------------------------------------------------------------ */
/* Little-endian fields, CRC, records                                  */
/* ------------------------------------------------------------------ */

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

uint32_t wal_crc32c(const void *data, size_t len)
{
	FS_ASSERT(((uintptr_t)data & 7) == 0);
	FS_ASSERT(len <= UINT32_MAX);
	return ~rte_hash_crc(data, (uint32_t)len, 0xffffffffu);
}

static bool rec_type_known(uint8_t type)
{
	return type == WAL_REC_CHANGE || type == WAL_REC_ADMIN;
}

int wal_record_encode(void *buf, size_t cap, uint64_t lsn, uint8_t type, const void *payload,
		      uint32_t len)
{
	uint8_t *p = buf;
	size_t size = wal_record_size(len);

	if (lsn == 0 || !rec_type_known(type) || len == 0 || len > WAL_PAYLOAD_MAX ||
	    (type == WAL_REC_CHANGE && len != WAL_CHANGE_BYTES))
		return -EINVAL;
	if (size > cap)
		return -ENOBUFS;
	FS_ASSERT(((uintptr_t)buf & (WAL_REC_ALIGN - 1)) == 0);
	put_le32(p, len);
	put_le64(p + 8, lsn);
	p[16] = type;
	memset(p + 17, 0, 7);
	memcpy(p + WAL_REC_HDR_BYTES, payload, len);
	memset(p + WAL_REC_HDR_BYTES + len, 0, size - WAL_REC_HDR_BYTES - len);
	put_le32(p + 4, wal_crc32c(p + 8, 16 + (size_t)len));
	return (int)size;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* wal_record_decode with the reason for a refusal in *why. */
static int rec_decode(const uint8_t *p, size_t avail, struct wal_record *out, const char **why)
{
	uint32_t len;
	size_t size;

	if (avail < WAL_REC_HDR_BYTES) {
		*why = "record header cut short";
		return -ENODATA;
	}
	len = get_le32(p);
	if (len == 0 || len > WAL_PAYLOAD_MAX) {
		*why = "bad record length";
		return -EBADMSG;
	}
	size = wal_record_size(len);
	if (size > avail) {
		*why = "record cut short";
		return -ENODATA;
	}
	if (wal_crc32c(p + 8, 16 + (size_t)len) != get_le32(p + 4)) {
		*why = "bad CRC";
		return -EBADMSG;
	}
	if (!all_zero(p + 17, 7) ||
	    !all_zero(p + WAL_REC_HDR_BYTES + len, size - WAL_REC_HDR_BYTES - len)) {
		*why = "nonzero reserved or padding bytes";
		return -EBADMSG;
	}
	if (!rec_type_known(p[16]) || (p[16] == WAL_REC_CHANGE && len != WAL_CHANGE_BYTES)) {
		*why = "unknown record type or bad length for its type";
		return -EBADMSG;
	}
	if (get_le64(p + 8) == 0) {
		*why = "LSN 0";
		return -EBADMSG;
	}
	out->lsn = get_le64(p + 8);
	out->type = p[16];
	out->len = len;
	out->payload = p + WAL_REC_HDR_BYTES;
	return (int)size;
}

int wal_record_decode(const void *buf, size_t avail, struct wal_record *out)
{
	const char *why;

	return rec_decode(buf, avail, out, &why);
}

void wal_change_encode(uint8_t out[WAL_CHANGE_BYTES], const struct store_change *ch)
{
	/* An unknown change type is the shard's bug, never bad input. */
	FS_ASSERT(ch->type >= STORE_CH_RESERVE && ch->type <= STORE_CH_EXPIRE);
	put_le64(out + 0, ch->order_id);
	put_le64(out + 8, ch->user_id);
	put_le64(out + 16, ch->request_id);
	put_le64(out + 24, ch->ref);
	put_le64(out + 32, (uint64_t)ch->time_ns);
	put_le32(out + 40, ch->item_id);
	put_le16(out + 44, ch->qty);
	out[46] = ch->type;
	out[47] = 0;
}

int wal_change_decode(const uint8_t in[WAL_CHANGE_BYTES], struct store_change *ch)
{
	if (in[46] < STORE_CH_RESERVE || in[46] > STORE_CH_EXPIRE || in[47] != 0)
		return -EBADMSG;
	memset(ch, 0, sizeof(*ch));
	ch->order_id = get_le64(in + 0);
	ch->user_id = get_le64(in + 8);
	ch->request_id = get_le64(in + 16);
	ch->ref = get_le64(in + 24);
	ch->time_ns = (int64_t)get_le64(in + 32);
	ch->item_id = get_le32(in + 40);
	ch->qty = get_le16(in + 44);
	ch->type = in[46];
	return 0;
}

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

static const struct wal_ops sys_ops = {
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
	return &sys_ops;
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

static int shard_path(char out[FS_PATH_MAX], const char *dir, unsigned shard_id)
{
	int n = snprintf(out, FS_PATH_MAX, "%s/shard-%02u", dir, shard_id);
	return n < 0 || n >= FS_PATH_MAX ? -ENAMETOOLONG : 0;
}

static int seg_path(char out[FS_PATH_MAX], const char *shard_dir, uint64_t lsn)
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

static int fsync_dir(const struct wal_ops *ops, const char *path)
{
	int fd = ops->open(ops->ctx, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	int rc;

	if (fd < 0)
		return fd;
	rc = ops->fsync(ops->ctx, fd);
	ops->close(ops->ctx, fd);
	return rc;
}

/* Make the entry of a just created path durable: fsync its parent. */
static int fsync_parent(const struct wal_ops *ops, char *path)
{
	char *slash = strrchr(path, '/');
	int rc;

	if (!slash)
		return fsync_dir(ops, ".");
	if (slash == path)
		return fsync_dir(ops, "/");
	*slash = '\0';
	rc = fsync_dir(ops, path);
	*slash = '/';
	return rc;
}

/* mkdir -p, fsyncing the parent of every directory it creates. */
static int mkdir_p(const struct wal_ops *ops, const char *path)
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

struct seg_list {
	uint64_t *lsn; /* sorted first LSNs */
	unsigned n;
	unsigned ignored;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The segments of a shard directory, sorted; a missing directory is empty.
 * Control plane only (allocates). */
static int seg_list_load(const char *shard_dir, struct seg_list *sl, char *err, size_t errlen)
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

/* ------------------------------------------------------------------ */
/* Recovery                                                           */
/* ------------------------------------------------------------------ */

struct replay {
	const struct wal_ops *ops;
	uint64_t from_lsn;
	wal_replay_fn fn;
	void *ctx;
	struct wal_replay_info *info;
	char *err;
	size_t errlen;
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
		if (rec_decode(buf + o, size - o, &rec, &why) > 0)
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
		fs_errf(r->err, r->errlen,
		     "%s: offset %zu: admin record (LSN %" PRIu64 ") not supported yet", r->path,
		     off, rec->lsn);
		return -ENOTSUP;
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
		n = rec_decode(buf + off, size - off, &rec, &why);
		if (n < 0) {
			if (!last)
				return corrupt(r, off, "%s (in a segment that is not the last)",
					       why);
			next = find_valid_after(buf, size, off + WAL_REC_ALIGN);
			if (next != SIZE_MAX)
				return corrupt(r, off,
					       "%s, followed by a valid record at offset %zu", why,
					       next);
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
static int replay_segments(struct replay *r, const char *shard_dir, const struct seg_list *sl)
{
	size_t size = 0, end = 0;
	uint8_t *buf;
	int rc;

	r->expect = sl->lsn[0];
	for (unsigned i = 0; i < sl->n; i++) {
		bool last = i + 1 == sl->n;
		if ((rc = seg_path(r->path, shard_dir, sl->lsn[i])))
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
	struct replay r = {
		.ops = ops ? ops : &sys_ops,
		.from_lsn = from_lsn ? from_lsn : 1,
		.fn = fn,
		.ctx = ctx,
		.info = info,
		.err = err,
		.errlen = errlen,
	};
	char shard_dir[FS_PATH_MAX];
	struct seg_list sl;
	int rc;

	memset(info, 0, sizeof(*info));
	fs_errf(err, errlen, "%s", "");
	if (!dir)
		return -EINVAL;
	if ((rc = shard_path(shard_dir, dir, shard_id))) {
		fs_errf(err, errlen, "%s: path too long", dir);
		return rc;
	}
	rc = seg_list_load(shard_dir, &sl, err, errlen);
	info->ignored_files = sl.ignored;
	if (rc == 0 && sl.n == 0)
		info->next_lsn = r.from_lsn;
	else if (rc == 0)
		rc = replay_segments(&r, shard_dir, &sl);
	free(sl.lsn);
	return rc;
}

int wal_remove_before(const char *dir, unsigned shard_id, const struct wal_ops *ops, uint64_t lsn)
{
	char shard_dir[FS_PATH_MAX], path[FS_PATH_MAX];
	struct seg_list sl;
	int rc, removed = 0;

	ops = ops ? ops : &sys_ops;
	if (!dir)
		return -EINVAL;
	if ((rc = shard_path(shard_dir, dir, shard_id)))
		return rc;
	rc = seg_list_load(shard_dir, &sl, NULL, 0);
	for (unsigned i = 0; rc == 0 && i + 1 < sl.n && sl.lsn[i + 1] <= lsn; i++) {
		rc = seg_path(path, shard_dir, sl.lsn[i]);
		if (rc == 0)
			rc = ops->unlink(ops->ctx, path);
		if (rc == 0)
			removed++;
	}
	free(sl.lsn);
	if (removed) {
		int frc = fsync_dir(ops, shard_dir);
		rc = rc ? rc : frc;
	}
	return rc ? rc : removed;
}

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
	wal_cqe_hook_fn hook;
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
		res = w->hook(w->hook_ctx,
			      op != OP_WRITE ? IORING_OP_FSYNC
			      : w->fixed     ? IORING_OP_WRITE_FIXED
					     : IORING_OP_WRITE,
			      res);
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

	for (unsigned n = 0; n < CQE_BUDGET && io_uring_peek_cqe(&w->ring, &cqe) == 0; n++) {
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
static void wal_retire(struct wal *w)
{
	for (unsigned k = 0; k < w->sealed; k++) {
		struct wal_batch *b = &w->b[(w->head + k) % w->nb];
		if (b->state != B_DONE || b->ticket >= w->failed_ticket)
			break;
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

int wal_poll(struct wal *w, uint64_t *durable_ticket)
{
	if (io_uring_sq_ready(&w->ring))
		ring_submit(w);
	wal_reap(w);
	wal_retire(w);
	wal_kick(w);
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

	if ((rc = seg_path(path, w->dir, lsn)))
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
	w->ops = p->ops ? *p->ops : sys_ops;
	w->mode = p->durability;
	w->segment_bytes = p->segment_bytes ? p->segment_bytes : WAL_SEGMENT_BYTES_DEFAULT;
	w->batch_bytes = p->batch_bytes ? p->batch_bytes : WAL_BATCH_BYTES_DEFAULT;
	w->qd = p->queue_depth ? p->queue_depth : WAL_QUEUE_DEPTH_DEFAULT;
	w->nb = w->qd + 1;
	w->sync_interval_ns = (int64_t)(p->sync_interval_ms ? p->sync_interval_ms
							    : WAL_SYNC_INTERVAL_MS_DEFAULT) *
			      FS_NS_PER_MS;
	w->last_sync_ns = fs_mono_ns();
	w->hook = p->cqe_hook;
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
	if ((rc = seg_path(path, w->dir, info->segment_lsn)))
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
	if ((rc = shard_path(w->dir, p->dir, p->shard_id))) {
		fs_errf(err, errlen, "%s: path too long", p->dir);
		goto fail;
	}
	if ((rc = mkdir_p(&w->ops, w->dir))) {
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
