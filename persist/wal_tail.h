/*
 * wal_tail.h — following a live shard log from another process or thread
 * (wal_tail.c): the change feed's reader, shared by the exporter
 * (app/flashsale_export.c) and the primary's replication sender
 * (app/fs_repl.c). Records are handed out raw (the bytes on disk) and
 * decoded; the reader never interprets record types.
 */
#ifndef WAL_TAIL_H
#define WAL_TAIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "persist.h"

#define WAL_TAIL_BUF_BYTES	(1u << 20) /* per reader */
#define WAL_TAIL_GRACE_NS	(10 * FS_NS_PER_S) /* a bad record with a later segment: corruption after */
#define WAL_TAIL_WARN_NS	(10 * FS_NS_PER_S)

enum { WAL_TAIL_NONE = 0, WAL_TAIL_RECORD = 1, WAL_TAIL_RETRY = 2, WAL_TAIL_GAP = -EPIPE };

struct wal_tail {
	const char *dir;   /* the data directory */
	const char *who;   /* log prefix: "export", "replication" */
	unsigned shard;
	uint64_t next_lsn; /* the next LSN to hand out */
	uint64_t seg_lsn;  /* name of the open segment */
	int fd;		   /* -1: none open */
	uint64_t off;	   /* file offset of the next record */
	uint8_t *buf;	   /* WAL_TAIL_BUF_BYTES, 8-aligned; holds [buf_off, buf_off + len) */
	uint64_t buf_off;
	size_t len;
	int64_t bad_since_ns; /* an invalid/absent record at off since; 0 = none */
	int64_t warned_ns;
	char path[FS_PATH_MAX + 64];
};

/* Set up a reader of dir's shard starting at next_lsn (allocates the
 * buffer). 0 or -ENOMEM. */
int wal_tail_init(struct wal_tail *t, const char *dir, const char *who, unsigned shard,
		  uint64_t next_lsn);
void wal_tail_free(struct wal_tail *t);

/* Reposition at next_lsn (closes the segment). */
void wal_tail_seek(struct wal_tail *t, uint64_t next_lsn);

/* The next record, if there is one: WAL_TAIL_RECORD with *rec decoded and
 * *raw / *rawlen its bytes in the reader's buffer (valid until the next
 * call); WAL_TAIL_NONE at the end of what is written (try later);
 * WAL_TAIL_GAP when the segments holding next_lsn were removed (the
 * consumer fell past the retention: resync from snapshot.db); -EBADMSG for
 * a gap in LSNs or corruption (logged with file and offset); -errno. */
int wal_tail_next(struct wal_tail *t, struct wal_record *rec, const uint8_t **raw,
		  size_t *rawlen);

#endif
