/*
 * fs_repl.h — the replication thread of either side (fs_repl.c; design in
 * docs/architecture.md, "Replication"; frames in persist/repl.h).
 *
 * Primary:  fs_repl_primary_start(&pp, &r)   after persist_open, before launch
 *           dp_journal.repl = fs_repl_gate(r)  (ack = standby) per shard
 *           loop: fs_repl_fenced(r)           control thread: a FENCE arrived
 *           fs_repl_stop(r)                   after the workers stopped
 * Standby:  fs_repl_standby_start(&sp, &r)    instead of persist_open
 *           fs_repl_stop(r); then promote: the ordinary start (recovery)
 *
 * One thread per side, never a worker's nor the operations listener's.
 */
#ifndef FS_REPL_H
#define FS_REPL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"
#include "dp.h"
#include "persist.h"

struct fs_repl;

struct fs_repl_primary_params {
	const struct cfg *cfg;
	unsigned nshards;
	struct wal *wal[FS_WORKERS_MAX]; /* wal_position from this thread */
	uint64_t cluster, epoch;
	uint64_t epoch_lsn[FS_WORKERS_MAX]; /* first LSN of this epoch per shard; 0: unknown */
	bool fence_old;			    /* promoted: FENCE cfg->repl_primary */
};

struct fs_repl_standby_params {
	const struct cfg *cfg;
	unsigned nshards;
};

/* Numbers for /metrics and `flashsale admin promote --check`. */
struct fs_repl_stats {
	bool primary, connected, degraded, lost;
	uint64_t epoch, cluster, fenced_by;
	uint64_t lag_records;	 /* primary: sum over shards of durable - acked */
	double lag_seconds;	 /* primary: since acks last moved while behind */
	uint64_t degraded_total; /* primary: times acks degraded to local */
	uint64_t records, bytes; /* shipped (primary) or received (standby) */
	uint64_t snapshots;	 /* sent (primary) or installed (standby) */
	uint64_t refused;	 /* frames or links refused */
	uint64_t lsn[FS_WORKERS_MAX]; /* primary: acked; standby: durable */
	unsigned nshards;
};

int fs_repl_primary_start(const struct fs_repl_primary_params *p, struct fs_repl **out);
int fs_repl_standby_start(const struct fs_repl_standby_params *p, struct fs_repl **out);

/* The release gate of shard i for its dp_journal (ack = standby). */
struct dp_repl_gate *fs_repl_gate(struct fs_repl *r, unsigned shard);

/* Nonzero: the epoch of a promoted standby that fenced this primary off. */
uint64_t fs_repl_fenced(const struct fs_repl *r);

void fs_repl_stats(const struct fs_repl *r, struct fs_repl_stats *out);

/* Stop and join the thread, close everything, free. NULL is fine. */
void fs_repl_stop(struct fs_repl *r);

/* ---- consistency check (flashsale audit --against; control thread) ----
 *
 * Both appliances hold the same records at the same LSNs (the bytes are
 * shipped unchanged), so comparing a digest of each shard's log over a
 * common LSN range compares their order histories up to that LSN. */

/* The first LSN shard's log in the data directory still holds (0: none). */
uint64_t fs_repl_log_first(const char *dir, unsigned shard);

/* FNV-1a 64 over the LSN and CRC32C of every record of shard's log in
 * [from, to]: 0 with *digest and *records, -ERANGE when the log does not
 * hold all of it, -errno. Reads the segment files (blocks). */
int fs_repl_digest(const char *dir, unsigned shard, uint64_t from, uint64_t to,
		   uint64_t *digest, uint64_t *records);

/* ---- promote (standby's data directory, control thread) ---- */

#define FS_REPL_PROMOTED_FILE "PROMOTED"

/* After fs_repl_stop of the standby: bump the epoch in DIR/MANIFEST and
 * write DIR/PROMOTED (epoch and each shard's first LSN of the new epoch),
 * durably. *epoch = the new epoch. 0 or -errno with err. */
int fs_repl_promote(const struct cfg *cfg, uint64_t *epoch, char *err, size_t errlen);

/* Read DIR/PROMOTED: 0 (filled), -ENOENT, -EBADMSG. */
int fs_repl_promoted(const struct cfg *cfg, uint64_t *epoch, uint64_t epoch_lsn[FS_WORKERS_MAX],
		     unsigned *nshards);

#endif
