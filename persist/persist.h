/*
 * persist.h — the persist/ module: the appliance's durable state.
 *
 *   persist_state.c  one call opens it (create the shards, load the
 *                    snapshot, replay the logs, audit, open the logs), one
 *                    takes a snapshot, one closes it: what flashsaled and
 *                    flashsale audit use
 *   wal_record.c     the log's record codec (byte layout, CRC32C)
 *   wal_files.c      the log's files: syscall table (fault seam), paths
 *   wal_replay.c     reading a shard's log (recovery)
 *   wal_write.c      writing it: group commit over io_uring
 *   snap.c           SQLite snapshots of every shard
 *   recover.c        start-up recovery from both
 *   wal_tail.c       following a live log at a file position (wal_tail.h:
 *                    the change feed's and the replication sender's reader)
 *   repl_frame.c     the replication link's frames, repl_log.c the standby's
 *                    copy of the log (repl.h; app/fs_repl.c runs them)
 * The change feed is the logs read with wal_ops_readonly() (flashsale feed).
 *
 * One WAL per shard, used by that shard's thread only; nothing is shared
 * between shards. The on-disk format, the write path and the recovery
 * algorithm are described byte by byte in the header comments of
 * wal_record.c, wal_write.c and wal_replay.c.
 *
 * Life of a shard's log:
 *
 *	wal_replay(dir, shard, ops, from_lsn, fn, ctx, &info, err, len);
 *	wal_open(&params, &info, &w, err, len);      // continues after info
 *	loop: lsn = wal_append(w, &change) ... ;      // encode into the batch
 *	      wal_submit(w, &ticket);                // one io_uring submission
 *	      wal_poll(w, &durable_ticket);          // release replies <= it
 *	      wal_tick(w, fs_mono_ns());             // batch mode's fsync timer
 *	wal_wait(w, &durable_ticket); wal_close(w);
 *
 * Errors are 0 or -errno (CONVENTIONS.md); err/errlen buffers receive a
 * sentence naming the file and offset when a function says so.
 */
#ifndef PERSIST_H
#define PERSIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "fs_common.h"
#include "store.h"

/* ---- limits and budgets (every bound of the module, units last in names;
 * WAL params are checked against them) ---- */

/* The control plane's durability work (persist_state.c). */
#define PERSIST_WORKER_CALL_TIMEOUT_MS	 5000  /* workers must run a snapshot capture within */
#define PERSIST_SNAPSHOT_DURABLE_WAIT_MS 10000 /* logs must be durable up to the capture within */
#define PERSIST_DURABLE_POLL_US		 1000  /* between two looks at the logs' durable LSN */
#define PERSIST_WATCH_INTERVAL_MS	 1000  /* files checked, manifest high-water recorded */

/* Snapshots (snap.c). */
#define SNAP_IMAGE_CHUNK_BYTES (16u << 20) /* one BLOB row of a raw shard image */

/* Queue depth: 8 bounds memory; on the test VM 2-4 met >= 100k durable
 * records/s with p99 <= 2 ms (bench_wal), 8 only with a p99 near 2-4 ms. */
#define WAL_QUEUE_DEPTH_DEFAULT	     8 /* batches submitted and not yet retired */
#define WAL_QUEUE_DEPTH_MAX	     64
#define WAL_BATCH_BYTES_DEFAULT	     (64u << 10) /* one batch buffer; 910 change records */
#define WAL_BATCH_BYTES_MAX	     (4u << 20)
#define WAL_SEGMENT_BYTES_DEFAULT    (64ull << 20)
#define WAL_SEGMENT_BYTES_MIN	     64ull /* tiny segments are for tests */
#define WAL_SEGMENT_BYTES_MAX	     (1ull << 30)
#define WAL_SYNC_INTERVAL_MS_DEFAULT 10 /* durability = batch */
#define WAL_SYNC_INTERVAL_MS_MAX     60000
#define WAL_SEGMENTS_MAX	     65536 /* segment files one replay accepts */
#define WAL_OPEN_SEGMENTS	     4	   /* segment files a WAL keeps open at once */
#define WAL_RETRIES_MAX		     64	   /* resubmissions of one batch (EAGAIN, short) */
#define WAL_CQES_PER_POLL_MAX	     1024  /* completions handled per wal_poll */

/* ---- record format (wal_record.c's header comment has the byte layout) ---- */

#define WAL_REC_HDR_BYTES	24u   /* len u32, crc u32, lsn u64, type u8, 7 zero bytes */
#define WAL_REC_ALIGN		8u    /* every record is padded to a multiple of 8 */
#define WAL_PAYLOAD_MAX		4096u /* largest payload of any record type */
#define WAL_RECORD_MAX		(WAL_REC_HDR_BYTES + WAL_PAYLOAD_MAX)
#define WAL_CHANGE_BYTES	48u /* payload of a WAL_REC_CHANGE: a store_change */
#define WAL_CHANGE_RECORD_BYTES (WAL_REC_HDR_BYTES + WAL_CHANGE_BYTES)

enum wal_rec_type {
	WAL_REC_CHANGE = 1, /* a struct store_change, WAL_CHANGE_BYTES */
	WAL_REC_ADMIN = 2,  /* admin record: byte 0 is its kind (enum wal_admin_kind) */
};

/* Kinds of admin record (byte 0 of a WAL_REC_ADMIN payload). */
enum wal_admin_kind {
	WAL_ADMIN_CATALOG = 1, /* a store_catalog_def: activity and/or items created */
};
#define WAL_CATALOG_HDR_BYTES  144u /* kind .. name: layout in wal_record.c */
#define WAL_CATALOG_ITEM_BYTES 32u
_Static_assert(WAL_CATALOG_HDR_BYTES + STORE_DEFINE_ITEMS_MAX * WAL_CATALOG_ITEM_BYTES <=
		       WAL_PAYLOAD_MAX,
	       "a whole definition fits one record");

/* Size of a whole record (header + payload + padding) for a payload length. */
static inline size_t wal_record_size(uint32_t payload_len)
{
	return (WAL_REC_HDR_BYTES + (size_t)payload_len + WAL_REC_ALIGN - 1) &
	       ~(size_t)(WAL_REC_ALIGN - 1);
}

/* A decoded record; payload points into the caller's buffer. */
struct wal_record {
	uint64_t lsn;
	uint8_t type; /* enum wal_rec_type */
	uint32_t len; /* payload bytes */
	const uint8_t *payload;
};

/* CRC32C (Castagnoli; init and final xor ~0) of len bytes; data must be
 * 8-byte aligned. crc32c("123456789") == 0xe3069283. */
uint32_t wal_crc32c(const void *data, size_t len);

/* Encode one record of any type at buf (8-byte aligned, cap bytes).
 * Returns the record size (a multiple of 8), -ENOBUFS when it does not fit,
 * -EINVAL for lsn 0, an unknown type or a bad payload length. */
int wal_record_encode(void *buf, size_t cap, uint64_t lsn, uint8_t type, const void *payload,
		      uint32_t len);

/* Decode and verify the record at buf (8-byte aligned; avail bytes there).
 * Returns its size, -ENODATA when it is cut short by avail (a torn tail),
 * -EBADMSG when it is invalid (length, CRC, padding, type, LSN 0). */
int wal_record_decode(const void *buf, size_t avail, struct wal_record *out);

/* The explicit little-endian payload of a change record. decode returns 0,
 * or -EBADMSG for an unknown change type or a nonzero reserved byte. */
void wal_change_encode(uint8_t out[WAL_CHANGE_BYTES], const struct store_change *ch);
int wal_change_decode(const uint8_t in[WAL_CHANGE_BYTES], struct store_change *ch);

/* The payload of a catalog definition (WAL_REC_ADMIN, kind
 * WAL_ADMIN_CATALOG): encode returns its length (<= cap), -ENOBUFS, or
 * -EINVAL (too many items). decode: 0, or -EBADMSG (another kind, bad
 * length, nonzero reserved bytes, an unterminated name). */
int wal_catalog_encode(uint8_t *out, size_t cap, const struct store_catalog_def *def);
int wal_catalog_decode(const uint8_t *in, uint32_t len, struct store_catalog_def *def);

/* ---- fault seam ---- */

/* Every file syscall of the WAL goes through this table (SQLite's
 * aSyscall[]). Each returns 0 (open: an fd; pread: bytes read) or -errno,
 * never -1/errno. ctx is passed back untouched. Directory listing
 * (opendir/readdir) is not in the table. wal_ops_default() are the real
 * syscalls; tests copy it and override a few entries. */
struct wal_ops {
	int (*open)(void *ctx, const char *path, int flags, mode_t mode);
	int (*close)(void *ctx, int fd);
	int (*mkdir)(void *ctx, const char *path, mode_t mode);
	ssize_t (*pread)(void *ctx, int fd, void *buf, size_t n, off_t off);
	int (*fstat)(void *ctx, int fd, struct stat *st);
	int (*fallocate)(void *ctx, int fd, int mode, off_t off, off_t len);
	int (*ftruncate)(void *ctx, int fd, off_t len);
	int (*fsync)(void *ctx, int fd); /* directories, and a truncated tail */
	int (*unlink)(void *ctx, const char *path);
	void *ctx;
};
const struct wal_ops *wal_ops_default(void);
/* Read-only table: opening for write, ftruncate, fsync, fallocate, mkdir
 * and unlink fail with -EROFS. wal_replay with it never changes a file: a
 * torn tail is reported (info.torn, torn_kept) and left in place. */
const struct wal_ops *wal_ops_readonly(void);

/* What a completion of the log was (the fault kinds of the test seam; not
 * io_uring opcodes, so no caller needs liburing.h). */
enum wal_io {
	WAL_IO_WRITE = 1, /* a batch's write (fixed buffer or plain) */
	WAL_IO_FSYNC = 2, /* an fdatasync: linked to a write, periodic, or a segment's */
};

/* Completion hook: sees every io_uring completion of the WAL before it is
 * handled, with its kind and result; returns the result to use. Tests turn
 * a write into -EIO, -ENOSPC or a short count, or an fdatasync into -EIO. */
typedef int (*wal_io_hook_fn)(void *ctx, enum wal_io io, int res);

/* ---- recovery ---- */

struct wal_replay_info {
	uint64_t next_lsn;	/* LSN the next append gets (>= 1) */
	uint64_t segment_lsn;	/* first LSN (name) of the segment to append to; 0: none exists */
	uint64_t append_offset; /* its size after recovery: where appends continue */
	uint64_t first_lsn;	/* lowest LSN in the log; 0 when it holds no record */
	uint64_t records;	/* valid records read */
	uint64_t replayed;	/* records given to the callback (lsn >= from_lsn) */
	unsigned segments;	/* segment files read */
	unsigned ignored_files; /* files in the shard directory that are not segments */
	bool torn;		/* a torn tail was cut off the last segment: */
	char torn_file[FS_PATH_MAX];
	uint64_t torn_offset; /*   where it was truncated */
	uint64_t torn_bytes;  /*   how many bytes were dropped */
	bool torn_kept;	      /* read-only ops: the torn tail was left in place */
};

/* Called for each change record with lsn >= from_lsn, in LSN order; ch is
 * valid during the call only. A nonzero return aborts the replay with it. */
typedef int (*wal_replay_fn)(void *ctx, uint64_t lsn, const struct store_change *ch);

/* Called for each admin record (wal_replay_ex) with lsn >= from_lsn. */
typedef int (*wal_replay_admin_fn)(void *ctx, uint64_t lsn, const uint8_t *payload, uint32_t len);

/* Read DIR/shard-NN's segments in order, verify length, CRC and LSN
 * continuity, call fn for records with lsn >= from_lsn (0 means 1). A torn
 * tail of the last segment is truncated (through ops) and reported in info;
 * anything else invalid is corruption: -EBADMSG with "FILE: offset N: what"
 * in err and no file changed. Also -EBADMSG when the log starts after
 * from_lsn or ends before from_lsn - 1; -ENOTSUP for an admin record (no
 * reader yet); a callback's error as it is; a syscall's error. When an error
 * is returned fn may already have seen records: discard what it built.
 * A missing directory is an empty log. ops NULL = real syscalls. */
int wal_replay(const char *dir, unsigned shard_id, const struct wal_ops *ops, uint64_t from_lsn,
	       wal_replay_fn fn, void *ctx, struct wal_replay_info *info, char *err, size_t errlen);

/* wal_replay, told that every record up to acked_lsn was acknowledged (the
 * manifest's high-water LSN; 0 = unknown): a bad record at or below it is
 * corruption, never a torn tail, and a log ending before it (or missing) is
 * -EBADMSG naming the file and offset. */
int wal_replay_acked(const char *dir, unsigned shard_id, const struct wal_ops *ops,
		     uint64_t from_lsn, uint64_t acked_lsn, wal_replay_fn fn, void *ctx,
		     struct wal_replay_info *info, char *err, size_t errlen);

/* wal_replay_acked that also hands admin records to admin_fn (NULL:
 * -ENOTSUP for one, as wal_replay) and skips change records when fn is
 * NULL. Recovery reads shard 0's catalog records this way first. */
int wal_replay_ex(const char *dir, unsigned shard_id, const struct wal_ops *ops, uint64_t from_lsn,
		  uint64_t acked_lsn, wal_replay_fn fn, wal_replay_admin_fn admin_fn, void *ctx,
		  struct wal_replay_info *info, char *err, size_t errlen);

/* Delete the segments wholly before lsn (every record < lsn), after a
 * snapshot. The last segment is never deleted. Safe while the shard's WAL
 * is open in another thread. Returns how many were deleted, or -errno. */
int wal_remove_before(const char *dir, unsigned shard_id, const struct wal_ops *ops, uint64_t lsn);

/* ---- writing ---- */

/* Values equal cfg.h's enum cfg_durability (asserted in wal_write.c). */
enum wal_durability {
	WAL_DURABILITY_SYNC = 0,  /* write linked to fdatasync; durable = fsync completed */
	WAL_DURABILITY_BATCH = 1, /* durable = written; fdatasync every sync_interval_ms */
	WAL_DURABILITY_NONE = 2,  /* write only, never fsync: benchmarks */
};

struct wal_params {
	const char *dir;   /* persist dir; segments go to DIR/shard-NN */
	unsigned shard_id; /* < FS_WORKERS_MAX */
	enum wal_durability durability;
	uint64_t segment_bytes;	   /* roll to a new segment past this; 0 = default */
	uint32_t batch_bytes;	   /* one batch buffer, >= WAL_RECORD_MAX; 0 = default */
	unsigned queue_depth;	   /* batches in flight; 0 = default */
	uint32_t sync_interval_ms; /* batch mode; 0 = default */
	bool no_prealloc;	   /* do not fallocate(KEEP_SIZE) new segments */
	bool eventfd;		   /* register an eventfd: see wal_event_fd() */
	const struct wal_ops *ops; /* NULL = real syscalls; copied at open */
	wal_io_hook_fn io_hook;    /* NULL = none */
	void *hook_ctx;
};

struct wal;

/* Open the shard's WAL for appending where info (from wal_replay on the
 * same directory, just before) says: mkdir -p DIR/shard-NN, create the first
 * segment if there is none, set up io_uring with queue_depth + 1 batch
 * buffers allocated and registered here (nothing is allocated later).
 * 0, -EINVAL (params), -ENOMEM, -EBADMSG (segment changed since replay) or a
 * syscall's error, with a sentence in err. */
int wal_open(const struct wal_params *p, const struct wal_replay_info *info, struct wal **out,
	     char *err, size_t errlen);

/* Wait for everything in flight (wal_wait), close files, free. Returns the
 * WAL's failure (0 if none). */
int wal_close(struct wal *w);

/* Encode one change into the current batch. Returns its LSN (>= 1);
 * -ENOBUFS when the batch is full (wal_submit first); the failure (-EIO,
 * -ENOSPC, ...) once the log has failed, or when creating the next segment
 * fails (which fails the log). Never blocks except to create a segment
 * (open, fallocate, directory fsync) once per segment_bytes. */
int64_t wal_append(struct wal *w, const struct store_change *ch);

/* Same for an admin record (payload: byte 0 its kind, enum wal_admin_kind). */
int64_t wal_append_admin(struct wal *w, const void *payload, uint32_t len);

/* Send the current batch as one io_uring submission (write, linked to
 * fdatasync in sync mode): now, or, while the previous batch's write is
 * still in the kernel (one write at a time, see wal_write.c), from a later
 * wal_poll, so keep polling. *ticket = its batch number (1, 2, ...): when
 * wal_poll reports it durable, every record appended before this call is
 * durable. An empty batch sends nothing and gives the newest ticket (0 if
 * none yet). -EBUSY when queue_depth batches are already in flight (poll,
 * then retry; the records stay in the batch); the failure once failed. */
int wal_submit(struct wal *w, uint64_t *ticket);

/* Reap completions without blocking; *durable_ticket = the highest ticket
 * that, with all earlier ones, is durable as configured. Returns 0, or the
 * failure once the log has failed (the failed ticket and later ones never
 * become durable; *durable_ticket is still set). */
int wal_poll(struct wal *w, uint64_t *durable_ticket);

/* Batch mode: fdatasync what was written when sync_interval_ms passed since
 * the last one. now_ns is fs_mono_ns(). Returns 0 or the failure. */
int wal_tick(struct wal *w, int64_t now_ns);

/* Block until every submitted batch completed (in batch mode also fdatasync
 * what was written). Shutdown and tests. Same returns as wal_poll. */
int wal_wait(struct wal *w, uint64_t *durable_ticket);

/* The eventfd registered with io_uring (params.eventfd): readable when a
 * completion arrived; read 8 bytes to clear it, then wal_poll. -ENOENT if
 * none. Owned by the WAL. */
int wal_event_fd(const struct wal *w);

/* A thread outside the log that waits for it to become durable further (the
 * replication sender): it sets waiting, issues a seq_cst fence, re-reads
 * wal_position and only then blocks on efd. The log's thread, at a wal_poll
 * or wal_wait that moved the durable LSN, issues a seq_cst fence and writes
 * efd if waiting is set (so a group commit costs one fence and a load, and a
 * write only when somebody sleeps). Owned by the waiter; efd nonblocking. */
struct wal_notify {
	_Atomic int waiting;
	int efd;
};
/* Register n (NULL: none), from any thread; n outlives the registration. */
void wal_set_notify(struct wal *w, struct wal_notify *n);

struct wal_stats {
	uint64_t records, bytes; /* appended */
	uint64_t batches;	 /* submitted (tickets handed out) */
	uint64_t next_lsn;
	uint64_t durable_ticket, durable_lsn; /* durable as configured */
	uint64_t synced_lsn;		      /* covered by a completed fdatasync */
	uint64_t fsyncs;		      /* fdatasyncs completed (linked and periodic) */
	uint64_t short_writes, eagain_retries;
	uint64_t busy, nobufs; /* -EBUSY and -ENOBUFS answers */
	uint64_t segments_created, prealloc_failures, submit_retries;
	int failed;		/* 0 or the failure */
	uint64_t failed_ticket; /* first ticket that never becomes durable */
	bool fixed_buffers;	/* buffers registered with io_uring */
	/* Commit latency, per record: its batch's first append -> the batch
	 * durable as configured (fs_mono_ns; an upper bound for the batch's
	 * later records). Per bucket of fs_lat_bucket, [FS_LAT_BUCKETS] = +Inf. */
	uint64_t commit_hist[FS_LAT_BUCKETS + 1];
	uint64_t commit_sum_ns, commit_count;
};
void wal_stats(const struct wal *w, struct wal_stats *out);

/* ---- for the control plane, from any thread ---- */

/* Where the log stands, as published by its thread at every wal_poll
 * (relaxed atomics: a recent value, never a torn one). */
struct wal_position {
	uint64_t durable_lsn; /* durable as configured */
	uint64_t synced_lsn;  /* covered by a completed fdatasync */
	uint64_t segment_lsn; /* first LSN (name) of the segment appended to */
	int failed;	      /* 0 or the log's failure */
};
void wal_position(const struct wal *w, struct wal_position *out);

/* Fail the log from outside with err (< 0), as if a write had failed: its
 * thread picks it up at its next wal_poll (woken through the eventfd, if
 * any), so the shard answers UNAVAILABLE. The storage watch uses it when a
 * segment file disappears under the log. */
void wal_inject_fault(struct wal *w, int err);

/* ---- snapshots (snap.c) ----
 *
 * DIR/snapshot.db is the newest complete snapshot of every shard (SQLite;
 * the schema, which downstream systems read, is in snap.c's header comment
 * and docs/operations.md). It is written whole to snapshot.db.tmp and
 * renamed over it, so a crash mid-write leaves the previous one. Control
 * plane only: these allocate and block. */

#define SNAP_FORMAT_VERSION 1

struct snap_stats {
	uint64_t orders, idem_entries, items; /* rows written */
	uint64_t bytes;			      /* size of snapshot.db */
	int64_t write_ns;		      /* building the database */
	int64_t total_ns;		      /* including fsyncs and rename */
};

/* Write imgs[0..n_shards) (captured by store_image_capture; imgs[i] is shard
 * i) as DIR/snapshot.db. lsn[i] = the LSN of the last log record of shard i
 * that imgs[i] includes; its log must be durable up to lsn[i] before this is
 * called (recovery replays from lsn[i] + 1). stats may be NULL. 0 or -errno
 * (-ENOSPC, -EIO, ...) with a sentence in err; snapshot.db is untouched on
 * failure. */
int snap_write(const char *dir, const struct cfg *cfg, unsigned n_shards,
	       struct store_image *const imgs[], const uint64_t lsn[], struct snap_stats *stats,
	       char *err, size_t errlen);

struct snap_meta {
	unsigned format_version, n_shards;
	int64_t created_ns;
	struct {
		uint64_t lsn, first_seq, next_seq;
	} shard[FS_WORKERS_MAX];
};

/* Read only the meta and shards tables of DIR/snapshot.db (*found = false
 * and 0 when there is none). Lets a caller size shards before creating
 * them. 0, -EBADMSG (format), or an SQLite failure as -errno. */
int snap_read_meta(const char *dir, struct snap_meta *meta, bool *found, char *err, size_t errlen);

/* Load DIR/snapshot.db into shards[0..nshards of cat), freshly created from
 * cat and not yet used. lsn[i] = shard i's snapshot LSN (0 without a
 * snapshot: *found = false, shards untouched). Never writes a file (opened
 * immutable). 0; -EINVAL with the item or activity named in err when the
 * snapshot does not match the config (an item missing from the config, a
 * different total or activity, another shard count); -EBADMSG for a
 * damaged or inconsistent file; -ENOSPC when a shard's capacity is too
 * small. On error discard the shards. */
int snap_read(const char *dir, const struct cfg *cfg, struct store_catalog *cat,
	      struct store_shard *const shards[], uint64_t lsn[], bool *found, char *err,
	      size_t errlen);

/* ---- recovery (recover.c) ---- */

#define PERSIST_RECOVER_READONLY 1u /* change no file: offline tools */

struct persist_recover_info {
	bool snapshot;		  /* snapshot.db was loaded */
	uint64_t snapshot_lsn;	  /* this shard's LSN in it (0: none) */
	uint64_t snapshot_orders; /* orders it restored */
	struct wal_replay_info wal; /* the log replayed after it: pass to wal_open;
				     * wal.torn (and torn_kept when read-only) */
	int64_t snapshot_ns, replay_ns; /* time spent (the snapshot: all shards) */
};

/* Recover every shard of cat (shards[i] freshly created from cat, nothing
 * decided yet, any first_seq: the snapshot sets it) from cfg->persist_dir:
 * snap_read, then each shard's log from its snapshot LSN + 1 with
 * store_apply, then store_audit. infos[i] (nshards entries) says what was
 * found; infos[i].wal is what wal_open continues from. flags:
 * PERSIST_RECOVER_READONLY never changes a file (torn tails are reported,
 * not cut). 0, or -errno with "shard N: FILE: offset P: what" or the
 * snapshot's complaint (naming the item) in err; on error discard the
 * shards and refuse to start. */
int persist_recover(const struct cfg *cfg, struct store_catalog *cat,
		    struct store_shard *const shards[], struct persist_recover_info infos[],
		    unsigned flags, char *err, size_t errlen);

/* The same, with acked_lsn[i] = shard i's manifest high-water LSN (see
 * wal_replay_acked); acked_lsn NULL = persist_recover. */
int persist_recover_acked(const struct cfg *cfg, struct store_catalog *cat,
			  struct store_shard *const shards[], struct persist_recover_info infos[],
			  const uint64_t acked_lsn[], unsigned flags, char *err, size_t errlen);

/* The same, stopped at to_lsn[i] in shard i (NULL: the whole log): changes
 * and catalog definitions after it are read (and checked) but not applied,
 * so the shards hold the state exactly at those LSNs (flashsale audit
 * --against). -ERANGE with the shard named in err when shard i's snapshot
 * is past to_lsn[i] or its log ends before it. Meant read-only. */
int persist_recover_upto(const struct cfg *cfg, struct store_catalog *cat,
			 struct store_shard *const shards[], struct persist_recover_info infos[],
			 const uint64_t acked_lsn[], const uint64_t to_lsn[], unsigned flags,
			 char *err, size_t errlen);

/* ---- the manifest (persist_manifest.c: format and write discipline) ---- */

#define PERSIST_MANIFEST_FILE "MANIFEST"

struct persist_manifest {
	unsigned n_shards;
	/* Replication (optional line, written when any is nonzero): the
	 * cluster's id (the primary draws it; a new standby adopts it), the
	 * fencing epoch (bumped by a promote), and the higher epoch that fenced
	 * this appliance off (0: none; then it must not serve as a primary). */
	uint64_t cluster, epoch, fenced;
	struct persist_manifest_shard {
		uint64_t hw_lsn;       /* durable high-water LSN when written */
		uint64_t segment_lsn;  /* newest segment's name then (0: none) */
		uint64_t snapshot_lsn; /* the shard's LSN in snapshot.db then (0: none) */
	} shard[FS_WORKERS_MAX];
};

/* Read DIR/MANIFEST: 0, -ENOENT when there is none, -EBADMSG (damaged, with
 * the line in err) or another -errno. */
int persist_manifest_read(const char *dir, struct persist_manifest *m, char *err,
			  size_t errlen);
/* Write it whole: MANIFEST.tmp, fsync, rename, fsync DIR. 0 or -errno. */
int persist_manifest_write(const char *dir, const struct persist_manifest *m, char *err,
			   size_t errlen);

/* ---- the durable state (persist_state.c) ----
 *
 *	persist_open(&params, &ps, err, len);        // shards recovered, logs open
 *	shards = persist_shards(ps); wal = persist_wal(ps, i);
 *	loop: persist_snapshot(ps, on_workers, eng, "periodic");
 *	persist_snapshot(ps, NULL, NULL, "shutdown"); // workers stopped
 *	persist_close(ps);
 *
 * Control plane only: these allocate and block. */

#define PERSIST_OPEN_READONLY 1u /* offline tools: change no file, open no log */
#define PERSIST_OPEN_INIT     2u /* a new appliance: create DIR and its manifest;
				  * refused if DIR holds any state */

/* The test seam: sees every completion of shard's log (see wal_io_hook_fn). */
typedef int (*persist_io_hook_fn)(void *ctx, unsigned shard, enum wal_io io, int res);

struct persist_params {
	const struct cfg *cfg;	  /* validated; persist_dir is the data directory */
	struct store_catalog *cat; /* from cfg, one shard per worker */
	unsigned flags;		  /* PERSIST_OPEN_* */
	store_journal_fn journal; /* every shard's change hook (NULL: none) ... */
	void *journal_ctx[FS_WORKERS_MAX]; /* ... and shard i's ctx */
	bool eventfd;		  /* each log registers an eventfd (wal_event_fd) */
	persist_io_hook_fn io_hook; /* NULL = none */
	void *io_hook_ctx;
	int64_t (*steady_ns)(void); /* shards' steady clock (store_shard_params); NULL: wall */
	uint64_t segment_bytes;	    /* each log's segment size (wal_params); 0: default */
	const uint64_t *to_lsn;	    /* read-only: recover up to to_lsn[i] only
				     * (persist_recover_upto); NULL: all */
};

struct persist;

/* Open the appliance's durable state: check DIR against its manifest
 * (PERSIST_OPEN_INIT: create both first), create one shard per worker (sized
 * by store_shard_capacity), recover them (snapshot, each log up to at least
 * the manifest's high-water LSN, audit) and, unless read-only, open every
 * shard's log where its replay ended and record the new high-water marks.
 * Logs what it found (not when read-only). 0, or -errno with the reason
 * (what is missing, file and offset, or the item) in err: refuse to start.
 * -ENOENT / -EBADMSG: state missing or damaged; -EEXIST: --init on existing
 * state; -EINVAL: the state does not fit the config. */
int persist_open(const struct persist_params *p, struct persist **out, char *err,
		 size_t errlen);

/* The shards (shards[i] is shard i; the caller's workers own them between
 * launch and stop; persist_close frees them), shard i's log (NULL when
 * read-only) and what its recovery found. */
struct store_shard **persist_shards(struct persist *ps);
struct wal *persist_wal(const struct persist *ps, unsigned shard);
const struct persist_recover_info *persist_info(const struct persist *ps, unsigned shard);

/* Runs fn(fn_ctx, i) on the thread of every worker i, between two of its
 * bursts, and returns when all have (dp_engine_on_workers has this shape);
 * 0 or -ETIMEDOUT. */
typedef void (*persist_worker_fn)(void *fn_ctx, unsigned shard);
typedef int (*persist_on_workers_fn)(void *ctx, persist_worker_fn fn, void *fn_ctx,
				     int timeout_ms);

/* Take a snapshot now: capture every shard on its worker (on_workers; NULL
 * once the workers have stopped: captured here), wait until every log is
 * durable up to what was captured, write snapshot.db, remove the log
 * segments it made redundant. why names it in the log lines. 0 or -errno
 * (logged); the previous snapshot stays in place on any failure. */
int persist_snapshot(struct persist *ps, persist_on_workers_fn on_workers, void *ctx,
		     const char *why);

/* Admin changes: run fn(fn_ctx, i) on the thread of every worker i
 * (on_workers; NULL once the workers have stopped: here), where fn makes
 * the change on the shard(s) it concerns through the store (journalled by
 * the shard's hook), then wait until every log is durable up to what it
 * held just after fn. 0: the change is durable (answer OK); -ETIMEDOUT
 * (a worker or the log did not answer within the snapshot budgets), or the
 * log's failure. Control plane only, one call at a time. */
int persist_run_durable(struct persist *ps, persist_on_workers_fn on_workers, void *ctx,
			persist_worker_fn fn, void *fn_ctx);
unsigned persist_nshards(const struct persist *ps);

/* The storage watch, called by the control plane at every turn of its loop;
 * does something every PERSIST_WATCH_INTERVAL_MS. (1) Each shard's current
 * segment must still be linked (st_nlink > 0) and still be what its path
 * names (same inode): else the data directory or the segment was removed or
 * replaced, and that shard's log is failed (wal_inject_fault), so the shard
 * answers UNAVAILABLE within about one interval, like any storage fault.
 * (2) When a shard's durable LSN moved, the manifest is rewritten with it.
 * Returns 0, or the first storage failure seen (state lost: -ENOENT). */
int persist_watch(struct persist *ps, int64_t now_ns);

/* 0 while every log is healthy; else the first failure (-errno) of a log,
 * or of the watch. */
int persist_failed(const struct persist *ps);

/* Replication's fields of the manifest (cluster, epoch, fenced): read the
 * current ones, or set them and write the manifest now (control thread).
 * 0 or -errno. */
void persist_repl_get(const struct persist *ps, uint64_t *cluster, uint64_t *epoch,
		      uint64_t *fenced);
int persist_repl_set(struct persist *ps, uint64_t cluster, uint64_t epoch, uint64_t fenced);

/* Close the logs (after the workers stopped), record the final high-water
 * marks in the manifest, free the shards and the snapshot images. Returns
 * the first storage failure of any log or of the watch (0: none). */
int persist_close(struct persist *ps);

/* ---- retention that respects consumers (retain.c) ----
 *
 * A consumer of the change feed registers with a file DIR/consumers/NAME
 * holding, per shard, the last LSN it applied; the snapshot's trim keeps
 * the segments every consumer still needs, up to max_bytes beyond what
 * recovery needs, and cuts loose a consumer past that (it must resync from
 * snapshot.db). Format and algorithm: retain.c's header comment. */

#define RETAIN_NAME_MAX		 64 /* consumer names, including the NUL */
#define RETAIN_CONSUMERS_MAX	 64 /* files in DIR/consumers (a bit each in a plan) */
#define RETAIN_MAX_BYTES_DEFAULT (4ull << 30) /* per shard, beyond recovery's needs */

struct retain_consumer {
	char name[RETAIN_NAME_MAX];
	unsigned nshards;		/* highest shard in the file + 1 */
	uint64_t lsn[FS_WORKERS_MAX];	/* last LSN applied per shard; 0 = none */
};

struct retain_seg {
	uint64_t first_lsn; /* the segment's name */
	uint64_t bytes;	    /* its size */
};

struct retain_plan {
	uint64_t keep_lsn;   /* wal_remove_before(keep_lsn): <= snap_lsn + 1 */
	uint64_t need_lsn;   /* lowest LSN a kept consumer needs; UINT64_MAX: none */
	uint64_t kept_bytes; /* bytes kept only for consumers */
	uint64_t cut, lost;  /* bit c: consumer c cut loose now / already past the log */
	unsigned ncut, nlost;
};

/* True for a valid consumer name: 1..RETAIN_NAME_MAX-1 of [A-Za-z0-9_-]. */
bool retain_name_valid(const char *name);

/* The lowest LSN any consumer still needs, bounded. snap_lsn: the shard's
 * LSN in the snapshot just written (recovery needs snap_lsn + 1 on);
 * segs[0..nseg): the shard's segments sorted by first_lsn;
 * consumer_lsn[c]: the last LSN consumer c applied (nconsumers <=
 * RETAIN_CONSUMERS_MAX); max_bytes: segment bytes that may be kept beyond
 * recovery's needs for one consumer. Pure; fills *out. */
void retain_plan(uint64_t snap_lsn, const struct retain_seg *segs, unsigned nseg,
		 const uint64_t consumer_lsn[], unsigned nconsumers, uint64_t max_bytes,
		 struct retain_plan *out);

/* Atomically (tmp, fsync, rename, fsync dir) write DIR/consumers/NAME with
 * lsn[0..nshards). Creates DIR/consumers. 0 or -errno with the file named
 * in err. For consumers, after each of their own commits. */
int retain_consumer_write(const char *dir, const char *name, unsigned nshards,
			  const uint64_t lsn[], char *err, size_t errlen);

/* Parse a consumer file's text into out->lsn/nshards (name untouched).
 * 0 or -EBADMSG with "line N: what" in err. */
/* Forget consumer name of dir (its file, durably removed); 0 when it had
 * none, or -errno. */
int retain_consumer_remove(const char *dir, const char *name);
int retain_consumer_parse(const char *text, struct retain_consumer *out, char *err,
			  size_t errlen);

/* Read DIR/consumers/NAME. 0, -ENOENT, -EBADMSG (file and line in err). */
int retain_consumer_read(const char *dir, const char *name, struct retain_consumer *out,
			 char *err, size_t errlen);

/* Read every consumer file of DIR (up to cap; -E2BIG past it). *n = how
 * many. No directory: 0 consumers. */
int retain_consumers_load(const char *dir, struct retain_consumer out[], unsigned cap,
			  unsigned *n, char *err, size_t errlen);

/* DIR/shard-NN's segments with their sizes, sorted; *segs is malloc'd
 * (free it; NULL when none). No directory: none. 0 or -errno. */
int retain_list_segments(const char *dir, unsigned shard, struct retain_seg **segs,
			 unsigned *nseg);

struct retain_report {
	struct retain_plan plan;
	unsigned removed;		     /* segments deleted */
	bool consumers_unreadable;	     /* a consumer file was bad: trimmed for recovery only */
	unsigned ncut_names;
	char cut_names[RETAIN_CONSUMERS_MAX][RETAIN_NAME_MAX]; /* consumers cut loose */
};

/* The snapshot's trim of one shard: load the consumers, plan, and
 * wal_remove_before(plan.keep_lsn). Call it where the trim called
 * wal_remove_before(dir, shard, ops, snap_lsn + 1), after snapshot.db is in
 * place. The caller logs rep (cut consumers by name; a bad consumer file,
 * whose complaint is in err, while 0 is returned). 0 or wal_remove_before's
 * -errno. */
int retain_trim(const char *dir, unsigned shard, const struct wal_ops *ops, uint64_t snap_lsn,
		uint64_t max_bytes, struct retain_report *rep, char *err, size_t errlen);

/* Consumers cut loose since start (all shards): for /metrics. */
uint64_t retain_consumers_cut_total(void);

#endif
