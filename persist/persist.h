/*
 * persist.h — the persist/ module: the per-shard write-ahead log (io_uring,
 * group commit) and its replay (wal.c), SQLite snapshots of every shard
 * (snap.c) and start-up recovery from both (recover.c). The change feed is
 * the logs read with wal_ops_readonly() (flashsale feed).
 *
 * One WAL per shard, used by that shard's thread only; nothing is shared
 * between shards. The on-disk format, the write path and the recovery
 * algorithm are described byte by byte in the header comment of wal.c.
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

/* ---- limits (every bound of the WAL; params are checked against them) ---- */

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

/* ---- record format (wal.c's header comment has the byte layout) ---- */

#define WAL_REC_HDR_BYTES	24u   /* len u32, crc u32, lsn u64, type u8, 7 zero bytes */
#define WAL_REC_ALIGN		8u    /* every record is padded to a multiple of 8 */
#define WAL_PAYLOAD_MAX		4096u /* largest payload of any record type */
#define WAL_RECORD_MAX		(WAL_REC_HDR_BYTES + WAL_PAYLOAD_MAX)
#define WAL_CHANGE_BYTES	48u /* payload of a WAL_REC_CHANGE: a store_change */
#define WAL_CHANGE_RECORD_BYTES (WAL_REC_HDR_BYTES + WAL_CHANGE_BYTES)

enum wal_rec_type {
	WAL_REC_CHANGE = 1, /* a struct store_change, WAL_CHANGE_BYTES */
	WAL_REC_ADMIN = 2,  /* admin change (stock, activities): reserved, opaque bytes */
};

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

/* Completion hook: sees every io_uring completion of the WAL before it is
 * handled, with the request's opcode (IORING_OP_WRITE_FIXED, or
 * IORING_OP_WRITE when buffers could not be registered, IORING_OP_FSYNC) and
 * its result; returns the result to use. Tests turn a write into -EIO,
 * -ENOSPC or a short count, or an fdatasync into -EIO. */
typedef int (*wal_cqe_hook_fn)(void *ctx, int opcode, int res);

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

/* Delete the segments wholly before lsn (every record < lsn), after a
 * snapshot. The last segment is never deleted. Safe while the shard's WAL
 * is open in another thread. Returns how many were deleted, or -errno. */
int wal_remove_before(const char *dir, unsigned shard_id, const struct wal_ops *ops, uint64_t lsn);

/* ---- writing ---- */

/* Values equal cfg.h's enum cfg_durability (asserted in wal.c). */
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
	wal_cqe_hook_fn cqe_hook;  /* NULL = none */
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

/* Same for an admin record (reserved: wal_replay refuses them for now). */
int64_t wal_append_admin(struct wal *w, const void *payload, uint32_t len);

/* Send the current batch as one io_uring submission (write, linked to
 * fdatasync in sync mode): now, or, while the previous batch's write is
 * still in the kernel (one write at a time, see wal.c), from a later
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
};
void wal_stats(const struct wal *w, struct wal_stats *out);

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
