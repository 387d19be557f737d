/*
 * wal_private.h — what the files of the write-ahead log share; never included
 * outside persist/wal_*.c.
 *
 * Each shard (one worker thread) owns one log; nothing here is shared with
 * another shard, so there are no locks. Every state change the shard decides
 * (struct store_change) is appended before its OK reply is released, and the
 * reply waits until the record is durable as configured.
 *
 * The log is split by role, like Knot DNS's journal_read.c/journal_write.c:
 *
 *   wal_record.c   the record codec: byte layout, CRC32C, change payloads
 *   wal_files.c    the syscall table (fault seam), paths, segment listing
 *   wal_replay.c   reading: recovery of a shard's log (wal_replay) and
 *                  removal of segments a snapshot made redundant
 *   wal_write.c    writing: group commit over io_uring (wal_open .. close)
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
 * FAULT SEAM: every file syscall goes through struct wal_ops (open, close,
 * mkdir, pread, fstat, fallocate, ftruncate, fsync, unlink); io_uring
 * completions pass through io_hook (as enum wal_io, never an io_uring
 * opcode, so callers need not include liburing.h). Tests inject EIO, ENOSPC, short writes
 * and failing fdatasyncs with them.
 *
 */
#ifndef WAL_PRIVATE_H
#define WAL_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "persist.h"

#define SEG_NAME_LEN 24 /* "wal-" + 16 hex + ".log" */
#define SEG_FILE_MAX (WAL_SEGMENT_BYTES_MAX + WAL_BATCH_BYTES_MAX)

/* wal_record.c: decode and verify one record; *why says what is wrong. */
int wal_rec_decode(const uint8_t *p, size_t avail, struct wal_record *out, const char **why);

/* wal_files.c */
extern const struct wal_ops wal_sys_ops; /* the real syscalls */
int wal_shard_path(char out[FS_PATH_MAX], const char *dir, unsigned shard_id); /* DIR/shard-NN */
int wal_seg_path(char out[FS_PATH_MAX], const char *shard_dir, uint64_t lsn);  /* .../wal-LSN.log */
int wal_fsync_dir(const struct wal_ops *ops, const char *path);
/* Replace path with buf[0..len) durably: write tmp whole, fsync it, rename it
 * over path, fsync dir (path's directory). 0 or -errno; *created says
 * whether tmp could be created (for the caller's message); tmp is removed
 * on failure. The manifest and the consumer files are written this way. */
int wal_replace_file(const char *dir, const char *tmp, const char *path, const void *buf,
		     size_t len, bool *created);
/* mkdir -p, fsyncing the parent of every directory it creates. */
int wal_mkdir_p(const struct wal_ops *ops, const char *path);

struct wal_seg_list {
	uint64_t *lsn; /* sorted first LSNs */
	unsigned n;
	unsigned ignored;
};

/* The segments of a shard directory, sorted; a missing directory is empty.
 * Control plane only (allocates sl->lsn: free it). */
int wal_seg_list_load(const char *shard_dir, struct wal_seg_list *sl, char *err, size_t errlen);

#endif
