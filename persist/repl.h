/*
 * repl.h — the persist/ side of log shipping to a hot standby: the wire
 * frames (repl_frame.c) and the standby's copy of the log (repl_log.c).
 * The threads, sockets and the release watermark are app/fs_repl.c's; the
 * design is docs/architecture.md, "Replication".
 *
 * THE LINK is one TCP connection, opened by the standby. Every message is a
 * frame: a 24-byte header and a payload.
 *
 *	off  0  u32 magic "FSR1" (0x31525346, little endian)
 *	     4  u8  type (enum repl_type)
 *	     5  u8  flags (0)
 *	     6  u16 shard (RECORDS; else 0)
 *	     8  u32 payload length (<= REPL_PAYLOAD_MAX)
 *	    12  u32 CRC32C of the payload (0 when empty)
 *	    16  u64 epoch of the sender (fencing)
 *
 * HELLO    standby -> primary: u64 cluster, u32 nshards, u32 0, then
 *          nshards x u64: the next LSN the standby needs per shard.
 * WELCOME  primary -> standby: u64 cluster, u32 nshards, u32 0 (the
 *          primary's epoch in the header). Streaming starts.
 * REFUSE   either way: a sentence (why the link is refused); then close.
 * RECORDS  primary -> standby: WAL records of one shard, bytes unchanged
 *          from the primary's segment (wal_record.c's layout, each with its
 *          own CRC32C), contiguous LSNs continuing the standby's position.
 *          The standby checks every record and refuses the frame whole.
 * ACK      standby -> primary: nshards x u64: the highest LSN per shard
 *          that is durable (fdatasync'd) in the standby's own log.
 * SNAP     primary -> standby: a chunk of snapshot.db; flags REPL_SNAP_FIRST
 *          on the first, REPL_SNAP_LAST on the last (then the standby
 *          installs it and reconnects).
 * FENCE    a promoted standby -> its old primary: "epoch E is in charge".
 * PING     either way, every REPL_PING_MS: the link is alive.
 * TRUNCATE primary -> a standby of an older epoch: nshards x u64, the first
 *          LSN of the primary's epoch per shard; the standby discards its
 *          records from there on (an old primary's unreplicated tail,
 *          repl_log_truncate) and reconnects.
 *
 * Everything here is pure or file I/O of the caller's thread; control plane
 * only (allocates, blocks).
 */
#ifndef REPL_H
#define REPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs_common.h"
#include "persist.h"

#define REPL_MAGIC	      0x31525346u /* "FSR1" */
#define REPL_HDR_BYTES	      24u
#define REPL_PAYLOAD_MAX      (256u << 10) /* one frame's payload */
#define REPL_HELLO_BYTES(n)   (16u + 8u * (n))
#define REPL_PING_MS	      200   /* a ping each way when idle */
#define REPL_DEAD_MS	      3000  /* no frame for this long: the link is dead */
#define REPL_RECONNECT_MS     200   /* between two connection attempts */
#define REPL_SEGMENT_BYTES    (64ull << 20) /* the standby's segments roll over past this */
#define REPL_CONSUMER_NAME    "standby" /* DIR/consumers/NAME on the primary (retain.c) */

enum repl_type {
	REPL_HELLO = 1,
	REPL_WELCOME = 2,
	REPL_REFUSE = 3,
	REPL_RECORDS = 4,
	REPL_ACK = 5,
	REPL_SNAP = 6,
	REPL_FENCE = 7,
	REPL_PING = 8,
	REPL_TRUNCATE = 9,
	REPL_TYPE_MAX = 9,
};

#define REPL_SNAP_FIRST 1u
#define REPL_SNAP_LAST	2u

struct repl_hdr {
	uint8_t type, flags;
	uint16_t shard;
	uint32_t len, crc;
	uint64_t epoch;
};

/* Write the header of a frame carrying payload[0..len) (8-byte aligned).
 * Computes the CRC. */
void repl_hdr_encode(uint8_t out[REPL_HDR_BYTES], uint8_t type, uint8_t flags, uint16_t shard,
		     uint64_t epoch, const void *payload, uint32_t len);

/* Decode and check a header (magic, known type, flags, length bound).
 * 0 or -EBADMSG with what in err. */
int repl_hdr_decode(const uint8_t in[REPL_HDR_BYTES], struct repl_hdr *h, char *err,
		    size_t errlen);

/* The payload (8-byte aligned) against h->crc. 0 or -EBADMSG. */
int repl_payload_check(const struct repl_hdr *h, const void *payload);

struct repl_hello {
	uint64_t cluster;
	unsigned nshards;
	uint64_t next_lsn[FS_WORKERS_MAX]; /* HELLO only */
};

/* HELLO (with next_lsn) or WELCOME (without) payloads. encode returns the
 * length; decode 0 or -EBADMSG. */
uint32_t repl_hello_encode(void *out, const struct repl_hello *h, bool with_lsn);
int repl_hello_decode(const void *in, uint32_t len, struct repl_hello *h, bool with_lsn);

/* ACK payloads: nshards x u64. */
uint32_t repl_ack_encode(void *out, const uint64_t *lsn, unsigned nshards);
int repl_ack_decode(const void *in, uint32_t len, uint64_t *lsn, unsigned nshards);

/* A RECORDS payload (8-byte aligned): every record complete and valid
 * (length, CRC, padding: wal_record_decode) and LSNs contiguous from
 * expect_lsn. *n = records, *last = the last LSN. 0, or -EBADMSG with the
 * offset and what in err. Nothing of a refused payload may be written. */
int repl_records_check(const void *payload, uint32_t len, uint64_t expect_lsn, unsigned *n,
		       uint64_t *last, char *err, size_t errlen);

/* ---- the standby's log (repl_log.c) ----
 *
 * The standby writes what it receives into DIR/shard-NN/wal-<first>.log
 * files of the very format the primary's log has (so recovery at promote
 * is the ordinary recovery: the same replay, every record type), with
 * write() + fdatasync() per received batch before the ACK. A new segment
 * starts at every (re)start of the follower and past REPL_SEGMENT_BYTES;
 * a new segment's directory entry is fsynced before anything in it is
 * acknowledged. */
struct repl_log {
	char dir[FS_PATH_MAX];
	unsigned shard;
	int fd;		  /* the segment being appended; -1: none yet */
	uint64_t seg_lsn; /* its name */
	uint64_t seg_bytes;
	uint64_t next_lsn; /* the next LSN this log expects */
	uint64_t synced_lsn; /* durable up to */
	bool dirty, new_seg;
};

/* Open shard's log for appending: replay it (cutting a torn tail, as
 * recovery does) from from_lsn (the snapshot's LSN + 1; 1 without one) to
 * learn where it ends. 0 or -errno with the file in err. */
int repl_log_open(struct repl_log *l, const char *dir, unsigned shard, uint64_t from_lsn,
		  char *err, size_t errlen);

/* Append a checked RECORDS payload whose first LSN is l->next_lsn. */
int repl_log_append(struct repl_log *l, const void *records, uint32_t len, uint64_t last_lsn);

/* Make everything appended durable (fdatasync; the directory for a new
 * segment). 0 or -errno. */
int repl_log_sync(struct repl_log *l);

/* Forget shard's segments (a snapshot installed beyond them) and continue
 * at next_lsn. 0 or -errno. */
int repl_log_reset(struct repl_log *l, uint64_t next_lsn);

void repl_log_close(struct repl_log *l);

/* Discard every record of shard's log from LSN keep_below on: later
 * segments removed, the one holding keep_below cut before it (ftruncate,
 * fsync, directory fsync); continue at keep_below. 0, or -errno with the
 * file in err (-ENOENT: keep_below - 1 is not in the log). */
int repl_log_truncate(struct repl_log *l, uint64_t keep_below, char *err, size_t errlen);

/* The log's durable-file primitives for the replication glue: write a small
 * file whole (tmp, fsync, rename, fsync dir) and fsync a directory. */
int repl_file_replace(const char *dir, const char *tmp, const char *path, const void *buf,
		      size_t len);
int repl_dir_sync(const char *dir);

#endif
