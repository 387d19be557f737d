/*
 * fs_repl.c — log shipping to a hot standby: the replication thread of the
 * primary (sender) and of the standby (follower), one per daemon, never a
 * worker's nor the operations listener's. Frames: persist/repl.h. Design
 * and failover: docs/architecture.md "Replication", docs/operations.md
 * "Failover runbook".
 *
 * PRIMARY. Listens on [replication] listen; one standby at a time (a newer
 * connection replaces an older one). The standby's HELLO carries its
 * cluster id, epoch and per-shard next LSN. Refused (REFUSE, logged):
 * another cluster (a standby with no state adopts ours), another shard
 * count, a standby ahead of this primary's log (diverged), and a standby of
 * a NEWER epoch (then this primary has been fenced off: see below). A
 * standby of an older epoch holding records past this epoch's first LSN (an
 * old primary's unreplicated tail) gets TRUNCATE and cuts them
 * (repl_log_truncate) before it reconnects. Accepted: WELCOME, then each
 * shard's records are read from the segment files (persist/wal_tail.c, the
 * change feed's reader) up to the local log's durable LSN (wal_position),
 * and sent unchanged in RECORDS frames. The primary never interprets a
 * record: every type ships. A shard whose next LSN was trimmed away (the
 * standby fell past the retention) gets snapshot.db instead (SNAP frames),
 * and the standby reconnects from the snapshot's LSNs. The standby's acked
 * LSNs are kept in DIR/consumers/standby (persist/retain.c), so the
 * snapshot's trim keeps what it still needs, up to
 * [persist] consumer_retention_mb.
 *
 * SEMI-SYNCHRONOUS ACKS (ack = standby). Per shard the thread publishes a
 * struct dp_repl_gate: release_lsn = the LSN the standby has durably; the
 * worker releases a held OK only when its record is durable locally AND
 * its LSN <= release_lsn (dp_engine.c, held_release). The standby is LOST
 * when records wait and no ack moved for standby_timeout_ms (or no standby
 * is connected for that long while records wait). Then, by
 * on_standby_loss: "wait" publishes unavail_lsn = the local durable LSN
 * (held OKs turn UNAVAILABLE: the outcome is unknown to the client, an
 * idempotent retry gets the stored answer once a standby has it), or
 * "degrade" publishes release_lsn = UINT64_MAX (local acks). Both are
 * logged and counted; the primary leaves the lost state when a standby is
 * connected, acking, and within REPL_CATCHUP_RECORDS of every shard.
 *
 * WAKE-UPS (no polling). The primary's thread blocks in poll() on the
 * listening socket, the standby's socket and r->wn.efd, which the logs
 * write after a group commit moves their durable LSN while the thread says
 * it waits (struct wal_notify: flag, seq_cst fence, re-read wal_position,
 * block; the log's thread fences and reads the flag), plus REPL_IDLE_MS for
 * the timers. It ships one RECORDS frame per shard with records, all in one
 * sendmsg. When an ACK moves a gate, gates_publish fences and writes the
 * gate's eventfd if its worker sleeps waiting for it (struct dp_repl_gate,
 * dp_engine_sleep). TCP_NODELAY on both ends (sock_opts).
 *
 * STANDBY. Connects to [replication] primary, sends HELLO, checks every
 * RECORDS frame (repl_records_check: CRC32C of every record, LSN
 * contiguity; a bad frame closes the link and nothing of it is written),
 * appends the bytes to its own segments (persist/repl_log.c), fdatasyncs,
 * then ACKs. A link cut mid-frame is a closed link: only whole frames are
 * looked at, so a torn record is never written. It does not apply records
 * to shards while following: its shards are built at promote by the
 * ordinary recovery (snapshot + log replay), the very code that replays
 * every record type after a crash, so the standby cannot drift from what
 * recovery would build. The price is that a promote takes one recovery
 * (docs/benchmarks.md). A standby answers no purchases: its public ports
 * are not opened until promote.
 *
 * FENCING. Every frame carries the sender's epoch; the MANIFEST holds the
 * epoch. A promote (fs_repl_promote) bumps it durably and records each
 * shard's first LSN of the new epoch in DIR/PROMOTED. The promoted
 * appliance's thread then sends FENCE frames to its old primary
 * ([replication] primary) every REPL_FENCE_MS; an old primary that gets a
 * FENCE (or a HELLO) of a higher epoch records fenced = that epoch in its
 * manifest and fails every shard's log (UNAVAILABLE on every front end,
 * /readyz 503); restarted, it refuses to run as a primary until it is
 * reconfigured as a standby.
 */
#include "fs_repl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "repl.h"
#include "wal_tail.h"

#define REPL_BUF_BYTES	     (REPL_HDR_BYTES + REPL_PAYLOAD_MAX)
#define REPL_CATCHUP_RECORDS 4096 /* per shard: a standby this close is caught up */
#define REPL_FENCE_MS	     1000 /* a promoted appliance fences its old primary this often */
#define REPL_CONSUMER_MS     1000 /* DIR/consumers/standby rewritten at most this often */
#define REPL_MANIFEST_MS     1000 /* the standby's manifest, likewise */
#define REPL_IDLE_MS	     20	  /* the sender's longest block (timers: ping, loss, fence) */
#define REPL_HELLO_WAIT_MS   2000

struct conn {
	int fd;
	uint8_t *rbuf; /* REPL_BUF_BYTES, 8-aligned */
	size_t rlen;
	uint8_t *wbuf; /* a frame being built */
	int64_t last_rx_ns, last_tx_ns;
	char peer[64];
};

struct fs_repl {
	const struct cfg *cfg;
	bool primary;
	/* A standby followed this primary before (its consumer file exists) and
	 * none has connected since this start: no local-ack degrade yet, since
	 * that standby may have been promoted (its FENCE may be on the way). */
	bool degrade_blocked;
	unsigned n;
	pthread_t th;
	bool started;
	atomic_bool stop;
	uint64_t cluster, epoch;
	/* primary */
	struct fs_repl_primary_params pp;
	int lfd;
	struct conn c;
	bool have;				/* c is a streaming standby */
	struct wal_tail tail[FS_WORKERS_MAX];
	uint64_t acked[FS_WORKERS_MAX], durable[FS_WORKERS_MAX];
	struct dp_repl_gate gate[FS_WORKERS_MAX];
	uint64_t gate_rel[FS_WORKERS_MAX], gate_unav[FS_WORKERS_MAX]; /* as published */
	struct wal_notify wn;			 /* the logs wake the sender (wal_set_notify) */
	uint8_t *sbuf;				 /* primary_ship: one frame slot per shard */
	bool notifying;				 /* wn registered with pp.wal[] */
	bool lost, lost_logged;
	int64_t stall_since_ns, last_progress_ns, consumer_ns, fence_ns;
	uint64_t consumer_lsn[FS_WORKERS_MAX];
	atomic_uint_fast64_t fenced_by;
	/* standby */
	struct repl_log log[FS_WORKERS_MAX];
	struct persist_manifest man;
	int64_t man_ns;
	int snap_fd;
	/* stats, read by the control thread */
	pthread_mutex_t mu;
	struct fs_repl_stats st;
};

/* ---- the connection: whole frames in, whole frames out ---- */

static int conn_init(struct conn *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->rbuf = aligned_alloc(8, REPL_BUF_BYTES);
	c->wbuf = aligned_alloc(8, REPL_BUF_BYTES);
	return c->rbuf && c->wbuf ? 0 : -ENOMEM;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->rlen = 0;
}

static void conn_free(struct conn *c)
{
	conn_close(c);
	free(c->rbuf);
	free(c->wbuf);
}

static void sock_opts(int fd)
{
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	(void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* A TCP connection to addr:port within timeout_ms: the fd (nonblocking,
 * TCP_NODELAY), or -errno. */
static int tcp_connect(struct in_addr addr, uint16_t port, int timeout_ms)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = addr, .sin_port = htons(port)};
	struct pollfd pf = {.events = POLLOUT};
	int fd, rc, soerr = 0;
	socklen_t sl = sizeof(soerr);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
		rc = -errno;
		close(fd);
		return rc;
	}
	pf.fd = fd;
	if (poll(&pf, 1, timeout_ms) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
		close(fd);
		return soerr ? -soerr : -ETIMEDOUT;
	}
	sock_opts(fd);
	return fd;
}

/* Write len bytes, waiting (bounded by REPL_DEAD_MS) for room. */
static int conn_write(struct conn *c, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int64_t deadline = fs_mono_ns() + (int64_t)REPL_DEAD_MS * 1000000;

	while (len) {
		ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
		if (fs_mono_ns() > deadline)
			return -ETIMEDOUT;
		(void)poll(&pf, 1, 10);
	}
	c->last_tx_ns = fs_mono_ns();
	return 0;
}

/* Write every iovec (advanced in place) with as few writev calls as the
 * socket allows, waiting (bounded by REPL_DEAD_MS) for room. */
static int conn_writev(struct conn *c, struct iovec *iov, int cnt)
{
	int64_t deadline = fs_mono_ns() + (int64_t)REPL_DEAD_MS * 1000000;
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)cnt};

	while (mh.msg_iovlen) {
		ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		if (n < 0) {
			struct pollfd pf = {.fd = c->fd, .events = POLLOUT};
			if (fs_mono_ns() > deadline)
				return -ETIMEDOUT;
			(void)poll(&pf, 1, 10);
			continue;
		}
		while (mh.msg_iovlen && (size_t)n >= mh.msg_iov->iov_len) {
			n -= (ssize_t)mh.msg_iov->iov_len;
			mh.msg_iov++;
			mh.msg_iovlen--;
		}
		if (mh.msg_iovlen) {
			mh.msg_iov->iov_base = (uint8_t *)mh.msg_iov->iov_base + n;
			mh.msg_iov->iov_len -= (size_t)n;
		}
	}
	c->last_tx_ns = fs_mono_ns();
	return 0;
}

/* Send a frame whose payload is at c->wbuf + REPL_HDR_BYTES. */
static int conn_send(struct conn *c, uint8_t type, uint8_t flags, uint16_t shard, uint64_t epoch,
		     uint32_t len)
{
	repl_hdr_encode(c->wbuf, type, flags, shard, epoch, c->wbuf + REPL_HDR_BYTES, len);
	return conn_write(c, c->wbuf, REPL_HDR_BYTES + len);
}

static int conn_send_text(struct conn *c, uint8_t type, uint64_t epoch, const char *text)
{
	size_t n = strlen(text);
	if (n > 512)
		n = 512;
	memcpy(c->wbuf + REPL_HDR_BYTES, text, n);
	return conn_send(c, type, 0, 0, epoch, (uint32_t)n);
}

/* Read what is there (nonblocking). 0, or -ECONNRESET at EOF, or -errno. */
static int conn_fill(struct conn *c)
{
	while (c->rlen < REPL_BUF_BYTES) {
		ssize_t n = recv(c->fd, c->rbuf + c->rlen, REPL_BUF_BYTES - c->rlen, 0);
		if (n > 0) {
			c->rlen += (size_t)n;
			c->last_rx_ns = fs_mono_ns();
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN ? 0 : -errno;
	}
	return 0;
}

/* The first whole frame in the buffer: 1 with *h and *payload (8-aligned,
 * valid until conn_consume), 0 if incomplete, -EBADMSG (logged by caller
 * with err). */
static int conn_frame(struct conn *c, struct repl_hdr *h, const uint8_t **payload, char *err,
		      size_t errlen)
{
	if (c->rlen < REPL_HDR_BYTES)
		return 0;
	if (repl_hdr_decode(c->rbuf, h, err, errlen) < 0)
		return -EBADMSG;
	if (c->rlen < REPL_HDR_BYTES + h->len)
		return 0;
	*payload = c->rbuf + REPL_HDR_BYTES;
	if (repl_payload_check(h, *payload) < 0) {
		fs_errf(err, errlen, "frame type %u: payload checksum mismatch", h->type);
		return -EBADMSG;
	}
	return 1;
}

static void conn_consume(struct conn *c, const struct repl_hdr *h)
{
	size_t used = REPL_HDR_BYTES + h->len;
	memmove(c->rbuf, c->rbuf + used, c->rlen - used); /* keeps payloads 8-aligned */
	c->rlen -= used;
}

/* Wait (bounded) for one whole frame. 1, -ETIMEDOUT, -EBADMSG, -errno. */
static int conn_wait_frame(struct fs_repl *r, struct conn *c, struct repl_hdr *h,
			   const uint8_t **payload, int timeout_ms, char *err, size_t errlen)
{
	int64_t deadline = fs_mono_ns() + (int64_t)timeout_ms * 1000000;

	for (;;) {
		int rc = conn_frame(c, h, payload, err, errlen);
		if (rc != 0)
			return rc;
		if (fs_mono_ns() > deadline || atomic_load(&r->stop))
			return -ETIMEDOUT;
		struct pollfd pf = {.fd = c->fd, .events = POLLIN};
		(void)poll(&pf, 1, 50);
		if ((rc = conn_fill(c)) < 0)
			return rc;
	}
}

static void stats_note(struct fs_repl *r, uint64_t records, uint64_t bytes)
{
	pthread_mutex_lock(&r->mu);
	r->st.records += records;
	r->st.bytes += bytes;
	pthread_mutex_unlock(&r->mu);
}

static void stats_count(struct fs_repl *r, uint64_t *field)
{
	pthread_mutex_lock(&r->mu);
	(*field)++;
	pthread_mutex_unlock(&r->mu);
}

/* ---- primary ---- */

static void fenced(struct fs_repl *r, uint64_t epoch, const char *how)
{
	if (epoch <= atomic_load(&r->fenced_by))
		return;
	atomic_store(&r->fenced_by, epoch);
	fs_log("error", "replication: %s of epoch %" PRIu64 " (ours %" PRIu64 "): a standby was "
			"promoted; this appliance is FENCED OFF and refuses every purchase from now "
			"on; reconfigure it as a standby ([replication] role = standby)",
	       how, epoch, r->epoch);
}

static void gates_publish(struct fs_repl *r)
{
	bool degrade = r->lost && r->cfg->repl_on_loss == CFG_LOSS_DEGRADE && !r->degrade_blocked;
	/* ack = local: answers wait for nobody, except after a start while
	 * degrade_blocked (then as with ack = standby, until a standby is met) */
	bool local = r->cfg->repl_ack != CFG_ACK_STANDBY && !r->degrade_blocked;
	bool fail = r->lost && !degrade && !local;

	uint64_t moved = 0; /* bit i: shard i's gate moved (FS_WORKERS_MAX <= 64) */

	for (unsigned i = 0; i < r->n; i++) {
		uint64_t rel = degrade || local ? UINT64_MAX : r->acked[i];
		uint64_t unav = fail ? r->durable[i] : 0;
		if (rel == r->gate_rel[i] && unav == r->gate_unav[i])
			continue;
		r->gate_rel[i] = rel;
		r->gate_unav[i] = unav;
		atomic_store_explicit(&r->gate[i].release_lsn, rel, memory_order_release);
		atomic_store_explicit(&r->gate[i].unavail_lsn, unav, memory_order_release);
		moved |= 1ull << i;
	}
	if (!moved)
		return;
	/* Wake the workers that sleep with answers held for these LSNs. Pairs
	 * with the fence in dp_engine_sleep (dp.h, struct dp_repl_gate). */
	atomic_thread_fence(memory_order_seq_cst);
	for (unsigned i = 0; i < r->n; i++) {
		uint64_t one = 1;
		if ((moved >> i & 1) && r->gate[i].efd >= 0 &&
		    atomic_load_explicit(&r->gate[i].waiting, memory_order_relaxed))
			(void)!write(r->gate[i].efd, &one, sizeof(one));
	}
}

/* Lost / found policy (ack = standby), once per loop. */
static void loss_check(struct fs_repl *r, int64_t now)
{
	int64_t timeout = (int64_t)r->cfg->repl_standby_timeout_ms * 1000000;
	uint64_t behind = 0, worst = 0;

	for (unsigned i = 0; i < r->n; i++) {
		uint64_t d = r->durable[i] > r->acked[i] ? r->durable[i] - r->acked[i] : 0;
		behind += d;
		worst = d > worst ? d : worst;
	}
	if (behind == 0 || r->last_progress_ns > r->stall_since_ns)
		r->stall_since_ns = behind ? now : 0;
	r->last_progress_ns = r->stall_since_ns ? r->last_progress_ns : now;
	pthread_mutex_lock(&r->mu);
	r->st.lag_records = behind;
	r->st.lag_seconds = r->stall_since_ns ? (double)(now - r->stall_since_ns) / 1e9 : 0;
	pthread_mutex_unlock(&r->mu);
	if (r->cfg->repl_ack != CFG_ACK_STANDBY && !r->degrade_blocked)
		return;
	if (!r->lost && r->stall_since_ns && now - r->stall_since_ns > timeout) {
		bool deg = r->cfg->repl_on_loss == CFG_LOSS_DEGRADE && !r->degrade_blocked;
		r->lost = true;
		pthread_mutex_lock(&r->mu);
		r->st.lost = true;
		r->st.degraded = deg;
		r->st.degraded_total += r->st.degraded;
		pthread_mutex_unlock(&r->mu);
		fs_log("error", "replication: the standby is %s and %" PRIu64 " records wait for "
				"it for more than standby_timeout_ms = %u: %s",
		       r->have ? "not acknowledging" : "gone", behind, r->cfg->repl_standby_timeout_ms,
		       deg ? "DEGRADED to local acks (on_standby_loss = degrade): a failover "
			     "now may lose acknowledged orders"
			   : r->degrade_blocked
			       ? "state changes answer UNAVAILABLE until a standby connects (no "
				 "degrade before the first handshake after a start: the old "
				 "standby may have been promoted)"
			       : "state changes answer UNAVAILABLE until it is back "
				 "(on_standby_loss = wait)");
	} else if (r->lost && r->have && worst <= REPL_CATCHUP_RECORDS &&
		   now - r->last_progress_ns < timeout / 2 + 1) {
		r->lost = false;
		pthread_mutex_lock(&r->mu);
		r->st.lost = r->st.degraded = false;
		pthread_mutex_unlock(&r->mu);
		fs_log("info", "replication: the standby caught up: acks wait for it again");
	}
}

static void consumer_note(struct fs_repl *r, int64_t now, bool force)
{
	char err[FS_PATH_MAX + 128];

	if (!force && now - r->consumer_ns < (int64_t)REPL_CONSUMER_MS * 1000000)
		return;
	if (memcmp(r->consumer_lsn, r->acked, sizeof(uint64_t) * r->n) == 0)
		return;
	r->consumer_ns = now;
	if (retain_consumer_write(r->cfg->persist_dir, REPL_CONSUMER_NAME, r->n, r->acked, err,
				  sizeof(err)) < 0)
		fs_log("warn", "replication: %s", err);
	else
		memcpy(r->consumer_lsn, r->acked, sizeof(uint64_t) * r->n);
}

static void primary_drop(struct fs_repl *r, const char *why)
{
	if (r->c.fd >= 0)
		fs_log("warn", "replication: standby %s disconnected: %s", r->c.peer, why);
	conn_close(&r->c);
	r->have = false;
	pthread_mutex_lock(&r->mu);
	r->st.connected = false;
	pthread_mutex_unlock(&r->mu);
}

static void refuse(struct fs_repl *r, struct conn *c, const char *why)
{
	fs_log("error", "replication: %s refused: %s", c->peer, why);
	(void)conn_send_text(c, REPL_REFUSE, r->epoch, why);
	stats_count(r, &r->st.refused);
}

/* The standby's HELLO (or an old primary's... a promoted peer's FENCE). */
static int primary_hello(struct fs_repl *r, struct conn *c)
{
	struct repl_hello h;
	struct repl_hdr hd;
	const uint8_t *pl;
	char err[256], why[320];
	bool tail = false;
	int rc = conn_wait_frame(r, c, &hd, &pl, REPL_HELLO_WAIT_MS, err, sizeof(err));

	if (rc < 0) {
		fs_log("warn", "replication: %s: no HELLO: %s", c->peer,
		       rc == -EBADMSG ? err : fs_strerror(rc));
		return -EPROTO;
	}
	if (hd.epoch > r->epoch) { /* a promoted appliance: FENCE, or its HELLO */
		fenced(r, hd.epoch, hd.type == REPL_FENCE ? "FENCE" : "a standby");
		refuse(r, c, "fenced: epoch acknowledged, this appliance stops serving");
		return -ESTALE;
	}
	if (hd.type != REPL_HELLO || repl_hello_decode(pl, hd.len, &h, true) < 0) {
		refuse(r, c, "expected a HELLO frame");
		return -EPROTO;
	}
	conn_consume(c, &hd);
	if (h.nshards != r->n) {
		snprintf(why, sizeof(why), "the standby has %u shards, this primary %u (workers "
					   "must match)", h.nshards, r->n);
		refuse(r, c, why);
		return -EPROTO;
	}
	bool fresh = h.cluster == 0;
	for (unsigned i = 0; i < r->n; i++)
		fresh &= h.next_lsn[i] == 1;
	if (h.cluster != r->cluster && !fresh) {
		snprintf(why, sizeof(why), "cluster %016" PRIx64 " is not this primary's %016" PRIx64
					   " (a standby of another appliance, or one with state: "
					   "reseed it with an empty data directory)",
			 h.cluster, r->cluster);
		refuse(r, c, why);
		return -EPROTO;
	}
	for (unsigned i = 0; i < r->n; i++)
		if (hd.epoch < r->epoch && r->pp.epoch_lsn[i] && h.next_lsn[i] > r->pp.epoch_lsn[i])
			tail = true;
	for (unsigned i = 0; !tail && i < r->n; i++) {
		struct wal_position pos;
		wal_position(r->pp.wal[i], &pos);
		if (h.next_lsn[i] > pos.durable_lsn + 1) {
			snprintf(why, sizeof(why), "shard %u: the standby has LSNs up to %" PRIu64
						   ", this primary only %" PRIu64 ": the logs diverged "
						   "(was it promoted?)",
				 i, h.next_lsn[i] - 1, pos.durable_lsn);
			refuse(r, c, why);
			return -EPROTO;
		}
	}
	if (tail) { /* an old primary rejoining: it must drop its unreplicated tail */
		fs_log("warn", "replication: %s (epoch %" PRIu64 ") holds records past the first LSNs "
			       "of epoch %" PRIu64 " (an old primary's unreplicated tail): told to "
			       "discard them", c->peer, hd.epoch, r->epoch);
		(void)conn_send(c, REPL_TRUNCATE, 0, 0, r->epoch,
				repl_ack_encode(c->wbuf + REPL_HDR_BYTES, r->pp.epoch_lsn, r->n));
		return -EAGAIN;
	}
	h.cluster = r->cluster;
	h.nshards = r->n;
	rc = conn_send(c, REPL_WELCOME, 0, 0, r->epoch,
		       repl_hello_encode(c->wbuf + REPL_HDR_BYTES, &h, false));
	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < r->n; i++) {
		wal_tail_seek(&r->tail[i], h.next_lsn[i]);
		r->acked[i] = h.next_lsn[i] - 1;
	}
	fs_log("info", "replication: standby %s connected (epoch %" PRIu64 "), shard 0 from LSN %" PRIu64
		       "%s", c->peer, hd.epoch, h.next_lsn[0], fresh ? " (a new standby)" : "");
	r->degrade_blocked = false; /* the epoch is known: degrading is safe again */
	if (r->cfg->repl_ack != CFG_ACK_STANDBY && r->lost) { /* nothing waits any more */
		r->lost = false;
		pthread_mutex_lock(&r->mu);
		r->st.lost = r->st.degraded = false;
		pthread_mutex_unlock(&r->mu);
	}
	return 0;
}

static void primary_accept(struct fs_repl *r)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	struct conn nc;
	int fd = accept4(r->lfd, (struct sockaddr *)&a, &al, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	nc = r->c; /* reuse the buffers of the slot */
	if (r->c.fd >= 0)
		primary_drop(r, "replaced by a new connection");
	nc.fd = fd;
	nc.rlen = 0;
	nc.last_rx_ns = nc.last_tx_ns = fs_mono_ns();
	snprintf(nc.peer, sizeof(nc.peer), "%s:%u", inet_ntoa(a.sin_addr), ntohs(a.sin_port));
	sock_opts(fd);
	r->c = nc;
	if (primary_hello(r, &r->c) < 0) {
		conn_close(&r->c);
		return;
	}
	r->have = true;
	r->last_progress_ns = fs_mono_ns();
	pthread_mutex_lock(&r->mu);
	r->st.connected = true;
	pthread_mutex_unlock(&r->mu);
}

/* snapshot.db to the standby; it installs it and reconnects. */
static int primary_send_snapshot(struct fs_repl *r, unsigned shard)
{
	char path[FS_PATH_MAX + 32];
	uint8_t flags = REPL_SNAP_FIRST;
	struct stat st;
	int fd, rc = 0;
	uint64_t off = 0;

	snprintf(path, sizeof(path), "%s/snapshot.db", r->cfg->persist_dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size == 0) {
		rc = fd < 0 ? -errno : -ENODATA;
		fs_log("error", "replication: shard %u: the standby needs LSN %" PRIu64 ", trimmed "
				"from the log, and %s is unreadable: %s",
		       shard, r->tail[shard].next_lsn, path, fs_strerror(rc));
		if (fd >= 0)
			close(fd);
		return rc;
	}
	fs_log("warn", "replication: shard %u: the standby needs LSN %" PRIu64 ", which the "
		       "snapshot's trim removed (past [persist] consumer_retention_mb): sending "
		       "snapshot.db (%lld bytes) to reseed it",
	       shard, r->tail[shard].next_lsn, (long long)st.st_size);
	while (rc == 0 && off < (uint64_t)st.st_size) {
		ssize_t n = pread(fd, r->c.wbuf + REPL_HDR_BYTES, REPL_PAYLOAD_MAX, (off_t)off);
		if (n <= 0) {
			rc = n < 0 ? -errno : -EIO;
			break;
		}
		off += (uint64_t)n;
		if (off >= (uint64_t)st.st_size)
			flags |= REPL_SNAP_LAST;
		rc = conn_send(&r->c, REPL_SNAP, flags, 0, r->epoch, (uint32_t)n);
		flags &= (uint8_t)~REPL_SNAP_FIRST;
	}
	close(fd);
	if (rc == 0)
		stats_count(r, &r->st.snapshots);
	return rc;
}

/* Ship what is durable locally and not sent yet: one RECORDS frame per
 * shard that has any, all of them in one writev (with TCP_NODELAY: one
 * segment train, no wait for the next batch). Returns records sent, or
 * -errno when the link must go. */
static int primary_ship(struct fs_repl *r)
{
	struct iovec iov[FS_WORKERS_MAX];
	uint64_t bytes = 0;
	int sent = 0, niov = 0;

	for (unsigned i = 0; i < r->n; i++) {
		struct wal_tail *t = &r->tail[i];
		uint8_t *f = r->sbuf + (size_t)i * REPL_BUF_BYTES;
		uint32_t len = 0, cnt = 0;
		int rc = 0;

		while (t->next_lsn <= r->durable[i] &&
		       len + WAL_RECORD_MAX <= REPL_PAYLOAD_MAX) {
			struct wal_record rec;
			const uint8_t *raw;
			size_t rawlen;
			rc = wal_tail_next(t, &rec, &raw, &rawlen);
			if (rc != WAL_TAIL_RECORD)
				break;
			memcpy(f + REPL_HDR_BYTES + len, raw, rawlen);
			len += (uint32_t)rawlen;
			cnt++;
		}
		if (len) {
			repl_hdr_encode(f, REPL_RECORDS, 0, (uint16_t)i, r->epoch,
					f + REPL_HDR_BYTES, len);
			iov[niov++] = (struct iovec){.iov_base = f, .iov_len = REPL_HDR_BYTES + len};
			bytes += len;
			sent += (int)cnt;
		}
		if (rc == WAL_TAIL_GAP || rc < 0) {
			int s = niov ? conn_writev(&r->c, iov, niov) : 0;
			if (s < 0)
				return s;
			stats_note(r, (uint64_t)sent, bytes);
			if (rc < 0 && rc != WAL_TAIL_GAP)
				return rc;
			s = primary_send_snapshot(r, i);
			return s < 0 ? s : -EAGAIN; /* the standby reconnects from the snapshot */
		}
	}
	if (niov) {
		int s = conn_writev(&r->c, iov, niov);
		if (s < 0)
			return s;
		stats_note(r, (uint64_t)sent, bytes);
	}
	return sent;
}

static int primary_read(struct fs_repl *r)
{
	char err[256];
	int eof = conn_fill(&r->c), rc; /* whole frames before an EOF still count */

	if (eof < 0 && eof != -ECONNRESET)
		return eof;
	for (;;) {
		struct repl_hdr h;
		const uint8_t *pl;
		uint64_t lsn[FS_WORKERS_MAX];
		rc = conn_frame(&r->c, &h, &pl, err, sizeof(err));
		if (rc == 0)
			return eof;
		if (rc < 0) {
			fs_log("error", "replication: standby %s: %s", r->c.peer, err);
			return rc;
		}
		if (h.epoch > r->epoch) {
			fenced(r, h.epoch, "a frame");
			return -ESTALE;
		}
		if (h.type == REPL_ACK) {
			if (repl_ack_decode(pl, h.len, lsn, r->n) < 0) {
				fs_log("error", "replication: standby %s: bad ACK", r->c.peer);
				return -EBADMSG;
			}
			for (unsigned i = 0; i < r->n; i++)
				if (lsn[i] > r->acked[i]) {
					r->acked[i] = lsn[i];
					r->last_progress_ns = fs_mono_ns();
				}
		} else if (h.type == REPL_REFUSE) {
			fs_log("error", "replication: standby %s refused: %.*s", r->c.peer,
			       (int)h.len, (const char *)pl);
			conn_consume(&r->c, &h);
			return -EPROTO;
		} else if (h.type != REPL_PING) {
			fs_log("error", "replication: standby %s: unexpected frame type %u",
			       r->c.peer, h.type);
			return -EPROTO;
		}
		conn_consume(&r->c, &h);
	}
}

/* A promoted appliance tells its old primary, every REPL_FENCE_MS. */
static void fence_old(struct fs_repl *r, int64_t now)
{
	struct conn c = r->c;
	int fd;

	if (!r->pp.fence_old || now - r->fence_ns < (int64_t)REPL_FENCE_MS * 1000000)
		return;
	r->fence_ns = now;
	fd = tcp_connect(r->cfg->repl_primary, r->cfg->repl_primary_port, 100);
	if (fd < 0)
		return;
	c.fd = fd; /* r->c's write buffer: not streaming while this runs */
	if (conn_send(&c, REPL_FENCE, 0, 0, r->epoch, 0) == 0)
		fs_log("info", "replication: FENCE (epoch %" PRIu64 ") delivered to the old primary "
			       "%s", r->epoch, r->cfg->repl_primary_str);
	close(fd);
}

/* Block until there is something to do: a connection to accept, a frame
 * from the standby (an ACK), a shard's log durable further than shipped
 * (the log's thread writes r->wn.efd after a group commit, only while
 * waiting is set: struct wal_notify), or REPL_IDLE_MS for the timers. After
 * a shipment, only a look (no block): more may be durable already. */
static void primary_wait(struct fs_repl *r, bool busy)
{
	struct pollfd pf[3] = {{.fd = r->lfd, .events = POLLIN},
			       {.fd = r->have ? r->c.fd : -1, .events = POLLIN},
			       {.fd = r->wn.efd, .events = POLLIN}}; /* < 0: ignored */
	int ms = busy ? 0 : REPL_IDLE_MS;
	uint64_t v;

	if (!busy && r->have && r->wn.efd >= 0) {
		atomic_store_explicit(&r->wn.waiting, 1, memory_order_relaxed);
		/* Pairs with the fence in wal_publish: either we see the new
		 * durable LSN now, or the log's thread sees us waiting. */
		atomic_thread_fence(memory_order_seq_cst);
		for (unsigned i = 0; i < r->n; i++) {
			struct wal_position pos;
			wal_position(r->pp.wal[i], &pos);
			if (pos.durable_lsn > r->durable[i]) /* moved since this loop read it */
				ms = 0;
		}
	} else if (!busy && r->have) {
		ms = 1; /* no eventfd: poll the logs */
	}
	int rc = poll(pf, 3, ms);
	atomic_store_explicit(&r->wn.waiting, 0, memory_order_relaxed);
	if (rc <= 0)
		return;
	if (pf[2].revents & POLLIN)
		(void)!read(r->wn.efd, &v, sizeof(v));
	if (pf[0].revents & POLLIN)
		primary_accept(r);
}

static void *primary_main(void *arg)
{
	struct fs_repl *r = arg;

	while (!atomic_load(&r->stop)) {
		int64_t now = fs_mono_ns();
		int shipped = 0;

		for (unsigned i = 0; i < r->n; i++) {
			struct wal_position pos;
			wal_position(r->pp.wal[i], &pos);
			r->durable[i] = pos.durable_lsn;
		}
		if (r->have) {
			int rc = primary_read(r);
			if (rc == 0)
				rc = shipped = primary_ship(r);
			if (rc >= 0 && now - r->c.last_tx_ns > (int64_t)REPL_PING_MS * 1000000)
				rc = conn_send(&r->c, REPL_PING, 0, 0, r->epoch, 0);
			if (rc >= 0 && now - r->c.last_rx_ns > (int64_t)REPL_DEAD_MS * 1000000)
				rc = -ETIMEDOUT;
			if (rc < 0)
				primary_drop(r, rc == -EAGAIN ? "reseeding from the snapshot"
							      : rc == -ECONNRESET ? "closed"
							      : fs_strerror(rc));
		}
		loss_check(r, now);
		gates_publish(r);
		consumer_note(r, now, false);
		pthread_mutex_lock(&r->mu);
		memcpy(r->st.lsn, r->acked, sizeof(uint64_t) * r->n);
		r->st.fenced_by = atomic_load(&r->fenced_by);
		pthread_mutex_unlock(&r->mu);
		fence_old(r, now);
		primary_wait(r, shipped > 0);
	}
	consumer_note(r, fs_mono_ns(), true);
	return NULL;
}

static int listen_on(const struct cfg *cfg)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = cfg->repl_listen,
				.sin_port = htons(cfg->repl_listen_port)};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 4) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	return fd;
}

static struct fs_repl *repl_alloc(const struct cfg *cfg, unsigned n, bool primary)
{
	struct fs_repl *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->cfg = cfg;
	r->n = n;
	r->primary = primary;
	r->lfd = -1;
	r->snap_fd = -1;
	r->wn.efd = -1;
	for (unsigned i = 0; i < FS_WORKERS_MAX; i++)
		r->tail[i].fd = r->log[i].fd = r->gate[i].efd = -1; /* never fd 0 by accident */
	pthread_mutex_init(&r->mu, NULL);
	r->st.primary = primary;
	r->st.nshards = n;
	if (conn_init(&r->c) < 0) {
		fs_repl_stop(r);
		return NULL;
	}
	return r;
}

static int thread_start(struct fs_repl *r, void *(*fn)(void *))
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old); /* signals stay with the main thread */
	rc = pthread_create(&r->th, NULL, fn, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc)
		return -rc;
	r->started = true;
	return 0;
}

int fs_repl_primary_start(const struct fs_repl_primary_params *p, struct fs_repl **out)
{
	struct fs_repl *r = repl_alloc(p->cfg, p->nshards, true);
	int rc = 0;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->pp = *p;
	r->sbuf = aligned_alloc(8, (size_t)r->n * REPL_BUF_BYTES);
	r->wn.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!r->sbuf || r->wn.efd < 0) {
		rc = r->sbuf ? -errno : -ENOMEM;
		fs_log("error", "replication: %s", r->sbuf ? "eventfd" : "no memory");
		fs_repl_stop(r);
		return rc;
	}
	r->cluster = p->cluster;
	r->epoch = p->epoch;
	r->st.epoch = p->epoch;
	r->st.cluster = p->cluster;
	for (unsigned i = 0; i < r->n; i++) {
		struct wal_position pos;
		wal_position(p->wal[i], &pos);
		r->acked[i] = 0;
		/* No standby yet: held OKs wait (bounded by the loss policy). */
		atomic_init(&r->gate[i].release_lsn, 0);
		atomic_init(&r->gate[i].unavail_lsn, 0);
		r->gate[i].efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (rc == 0 && r->gate[i].efd < 0)
			rc = -errno;
		if (rc == 0)
			rc = wal_tail_init(&r->tail[i], p->cfg->persist_dir, "replication", i,
					   pos.durable_lsn + 1);
	}
	/* What the last standby acknowledged (its consumer file) is what it
	 * has: recovered records up to there need not wait for it again. */
	struct retain_consumer rcn;
	char err[FS_PATH_MAX + 128];
	if (rc == 0 && retain_consumer_read(p->cfg->persist_dir, REPL_CONSUMER_NAME, &rcn, err,
					    sizeof(err)) == 0) {
		for (unsigned i = 0; i < r->n && i < rcn.nshards; i++)
			r->acked[i] = rcn.lsn[i];
		r->degrade_blocked = p->cfg->repl_ack != CFG_ACK_STANDBY ||
				     p->cfg->repl_on_loss == CFG_LOSS_DEGRADE;
		if (r->degrade_blocked)
			fs_log("warn", "replication: a standby followed this primary before; until a "
				       "standby connects, OKs wait for it and a lost standby means "
				       "UNAVAILABLE, not local acks (ack = local and on_standby_loss "
				       "= degrade apply after the first handshake: that standby may "
				       "have been promoted)");
	}
	memcpy(r->consumer_lsn, r->acked, sizeof(r->acked));
	r->last_progress_ns = fs_mono_ns();
	if (rc == 0 && p->cfg->repl_listen_port) {
		r->lfd = listen_on(p->cfg);
		if (r->lfd < 0) {
			rc = r->lfd;
			fs_log("error", "replication: cannot listen on %s:%u: %s",
			       inet_ntoa(p->cfg->repl_listen), p->cfg->repl_listen_port,
			       fs_strerror(rc));
		}
	}
	if (rc == 0) {
		for (unsigned i = 0; i < r->n; i++)
			wal_set_notify(p->wal[i], &r->wn);
		r->notifying = true;
		rc = thread_start(r, primary_main);
	}
	if (rc < 0) {
		fs_repl_stop(r);
		return rc;
	}
	fs_log("info", "replication: primary, epoch %" PRIu64 ", cluster %016" PRIx64
		       ", standbys on %s:%u, ack = %s, standby_timeout_ms = %u, on_standby_loss = %s%s",
	       r->epoch, r->cluster, inet_ntoa(p->cfg->repl_listen), p->cfg->repl_listen_port,
	       p->cfg->repl_ack == CFG_ACK_STANDBY ? "standby" : "local",
	       p->cfg->repl_standby_timeout_ms,
	       p->cfg->repl_on_loss == CFG_LOSS_DEGRADE ? "degrade" : "wait",
	       p->fence_old ? "; fencing the old primary" : "");
	*out = r;
	return 0;
}

struct dp_repl_gate *fs_repl_gate(struct fs_repl *r, unsigned shard)
{
	FS_ASSERT(r->primary && shard < r->n);
	return &r->gate[shard];
}

uint64_t fs_repl_fenced(const struct fs_repl *r)
{
	return r ? atomic_load(&((struct fs_repl *)r)->fenced_by) : 0;
}

void fs_repl_stats(const struct fs_repl *r, struct fs_repl_stats *out)
{
	struct fs_repl *m = (struct fs_repl *)r;
	pthread_mutex_lock(&m->mu);
	*out = m->st;
	pthread_mutex_unlock(&m->mu);
}

void fs_repl_stop(struct fs_repl *r)
{
	if (!r)
		return;
	atomic_store(&r->stop, true);
	if (r->started)
		pthread_join(r->th, NULL);
	for (unsigned i = 0; r->notifying && i < r->n; i++)
		wal_set_notify(r->pp.wal[i], NULL);
	if (r->wn.efd >= 0)
		close(r->wn.efd);
	for (unsigned i = 0; i < FS_WORKERS_MAX; i++)
		if (r->gate[i].efd >= 0)
			close(r->gate[i].efd);
	free(r->sbuf);
	if (r->lfd >= 0)
		close(r->lfd);
	if (r->snap_fd >= 0)
		close(r->snap_fd);
	conn_free(&r->c);
	for (unsigned i = 0; i < r->n; i++) {
		if (r->tail[i].buf)
			wal_tail_free(&r->tail[i]);
		repl_log_close(&r->log[i]);
	}
	pthread_mutex_destroy(&r->mu);
	free(r);
}

/* ---- standby ---- */

static int manifest_note(struct fs_repl *r, bool force)
{
	struct persist_manifest m = r->man;
	char err[FS_PATH_MAX + 128];
	int64_t now = fs_mono_ns();
	int rc;

	if (!force && now - r->man_ns < (int64_t)REPL_MANIFEST_MS * 1000000)
		return 0;
	for (unsigned i = 0; i < r->n; i++) {
		m.shard[i].hw_lsn = r->log[i].synced_lsn;
		if (r->log[i].fd >= 0)
			m.shard[i].segment_lsn = r->log[i].seg_lsn;
	}
	m.cluster = r->cluster;
	if (!force && memcmp(&m, &r->man, sizeof(m)) == 0)
		return 0;
	r->man_ns = now;
	rc = persist_manifest_write(r->cfg->persist_dir, &m, err, sizeof(err));
	if (rc < 0) {
		fs_log("error", "standby: %s", err);
		return rc;
	}
	r->man = m;
	return 0;
}

static void standby_publish(struct fs_repl *r, bool connected)
{
	pthread_mutex_lock(&r->mu);
	r->st.connected = connected;
	r->st.cluster = r->cluster;
	for (unsigned i = 0; i < r->n; i++)
		r->st.lsn[i] = r->log[i].synced_lsn;
	pthread_mutex_unlock(&r->mu);
}

/* Open every shard's log where it ends; a snapshot.db ahead of a log (one
 * installed just before a crash) resets that log to it. */
static int standby_logs_open(struct fs_repl *r, char *err, size_t errlen)
{
	struct snap_meta meta;
	bool found = false;
	int rc = snap_read_meta(r->cfg->persist_dir, &meta, &found, err, errlen);

	if (rc < 0)
		return rc;
	for (unsigned i = 0; i < r->n; i++) {
		repl_log_close(&r->log[i]);
		uint64_t from = r->man.shard[i].snapshot_lsn + 1;
		rc = repl_log_open(&r->log[i], r->cfg->persist_dir, i, from, err, errlen);
		if (rc < 0)
			return rc;
		if (found && r->log[i].next_lsn <= meta.shard[i].lsn) {
			rc = repl_log_reset(&r->log[i], meta.shard[i].lsn + 1);
			if (rc < 0)
				return rc;
			r->man.shard[i].segment_lsn = 0;
		}
		if (found)
			r->man.shard[i].snapshot_lsn = meta.shard[i].lsn;
	}
	return manifest_note(r, true);
}

static int standby_snap(struct fs_repl *r, const struct repl_hdr *h, const uint8_t *pl)
{
	char tmp[FS_PATH_MAX + 32], path[FS_PATH_MAX + 32], err[512];
	int rc = 0;

	snprintf(tmp, sizeof(tmp), "%s/snapshot.db.repl", r->cfg->persist_dir);
	snprintf(path, sizeof(path), "%s/snapshot.db", r->cfg->persist_dir);
	if (h->flags & REPL_SNAP_FIRST) {
		if (r->snap_fd >= 0)
			close(r->snap_fd);
		r->snap_fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (r->snap_fd < 0)
			return -errno;
		fs_log("warn", "standby: the primary is reseeding this standby with its snapshot "
			       "(it fell past the primary's log retention)");
	}
	if (r->snap_fd < 0)
		return -EPROTO;
	for (uint32_t off = 0; off < h->len;) {
		ssize_t n = write(r->snap_fd, pl + off, h->len - off);
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		off += (uint32_t)n;
	}
	if (!(h->flags & REPL_SNAP_LAST))
		return 0;
	if (fsync(r->snap_fd) < 0)
		rc = -errno;
	close(r->snap_fd);
	r->snap_fd = -1;
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc == 0)
		rc = repl_dir_sync(r->cfg->persist_dir);
	if (rc == 0)
		rc = standby_logs_open(r, err, sizeof(err));
	if (rc < 0) {
		fs_log("error", "standby: installing the primary's snapshot: %s",
		       err[0] ? err : fs_strerror(rc));
		return rc;
	}
	stats_count(r, &r->st.snapshots);
	fs_log("info", "standby: snapshot installed; shard 0 continues from LSN %" PRIu64
		       ": reconnecting", r->log[0].next_lsn);
	return -EAGAIN; /* reconnect with the new positions */
}

/* The new primary's TRUNCATE: this appliance was a primary of an older
 * epoch and holds records the new one never had; discard them (never past
 * its snapshot: then it must be reseeded) and reconnect. */
static int standby_truncate(struct fs_repl *r, const struct repl_hdr *hd, const uint8_t *pl)
{
	uint64_t keep[FS_WORKERS_MAX];
	struct snap_meta meta;
	bool found = false;
	char err[512] = "";
	int rc;

	if (repl_ack_decode(pl, hd->len, keep, r->n) < 0)
		return -EPROTO;
	rc = snap_read_meta(r->cfg->persist_dir, &meta, &found, err, sizeof(err));
	for (unsigned i = 0; rc == 0 && i < r->n; i++) {
		if (!keep[i] || r->log[i].next_lsn <= keep[i])
			continue;
		if (found && meta.shard[i].lsn >= keep[i]) {
			fs_log("error", "standby: shard %u: the primary (epoch %" PRIu64 ") replaced "
					"LSNs from %" PRIu64 ", but this appliance's snapshot.db already "
					"holds up to %" PRIu64 ": it cannot discard them; reseed it (move "
					"the data directory away, start with --init)",
			       i, hd->epoch, keep[i], meta.shard[i].lsn);
			return -EPERM;
		}
		uint64_t dropped = r->log[i].next_lsn - keep[i];
		rc = repl_log_truncate(&r->log[i], keep[i], err, sizeof(err));
		if (r->man.shard[i].segment_lsn >= keep[i])
			r->man.shard[i].segment_lsn = 0; /* removed; the next one is named keep */
		if (rc == 0)
			fs_log("warn", "standby: shard %u: DISCARDED %" PRIu64 " records from LSN %" PRIu64
				       " on (this appliance's unreplicated tail from before epoch %" PRIu64
				       ")", i, dropped, keep[i], hd->epoch);
	}
	if (rc < 0) {
		fs_log("error", "standby: discarding the unreplicated tail: %s",
		       err[0] ? err : fs_strerror(rc));
		return rc;
	}
	rc = manifest_note(r, true);
	return rc < 0 ? rc : -EAGAIN;
}

static int standby_connect(struct fs_repl *r)
{
	struct repl_hello h = {.cluster = r->cluster, .nshards = r->n};
	struct repl_hdr hd;
	const uint8_t *pl;
	char err[256];
	int fd, rc;

	fd = tcp_connect(r->cfg->repl_primary, r->cfg->repl_primary_port, REPL_DEAD_MS);
	if (fd < 0)
		return fd;
	r->c.fd = fd;
	r->c.rlen = 0;
	r->c.last_rx_ns = r->c.last_tx_ns = fs_mono_ns();
	snprintf(r->c.peer, sizeof(r->c.peer), "%s", r->cfg->repl_primary_str);
	for (unsigned i = 0; i < r->n; i++)
		h.next_lsn[i] = r->log[i].next_lsn;
	rc = conn_send(&r->c, REPL_HELLO, 0, 0, r->epoch,
		       repl_hello_encode(r->c.wbuf + REPL_HDR_BYTES, &h, true));
	if (rc == 0)
		rc = conn_wait_frame(r, &r->c, &hd, &pl, REPL_HELLO_WAIT_MS, err, sizeof(err));
	if (rc < 0)
		goto fail;
	if (hd.type == REPL_REFUSE) {
		fs_log("error", "standby: the primary %s refused this standby: %.*s", r->c.peer,
		       (int)hd.len, (const char *)pl);
		stats_count(r, &r->st.refused);
		rc = -EPERM;
		goto fail;
	}
	if (hd.type == REPL_TRUNCATE) {
		rc = standby_truncate(r, &hd, pl);
		goto fail;
	}
	if (hd.type != REPL_WELCOME || repl_hello_decode(pl, hd.len, &h, false) < 0 ||
	    h.nshards != r->n) {
		fs_log("error", "standby: %s: not a WELCOME for %u shards", r->c.peer, r->n);
		rc = -EPROTO;
		goto fail;
	}
	if (hd.epoch < r->epoch) {
		fs_log("error", "standby: %s is at epoch %" PRIu64 ", this standby at %" PRIu64
				": an old primary (fenced); not following it",
		       r->c.peer, hd.epoch, r->epoch);
		rc = -ESTALE;
		goto fail;
	}
	conn_consume(&r->c, &hd);
	if (r->cluster != h.cluster || r->epoch != hd.epoch) {
		r->cluster = h.cluster;
		r->epoch = hd.epoch;
		r->man.epoch = hd.epoch;
		if ((rc = manifest_note(r, true)) < 0)
			goto fail;
	}
	fs_log("info", "standby: following the primary %s (cluster %016" PRIx64 ", epoch %" PRIu64
		       "), shard 0 from LSN %" PRIu64, r->c.peer, r->cluster, r->epoch,
	       r->log[0].next_lsn);
	standby_publish(r, true);
	return 0;
fail:
	conn_close(&r->c);
	return rc;
}

/* Frames until the buffer is empty; then sync and ACK. 0 or -errno. */
static int standby_step(struct fs_repl *r)
{
	char err[256];
	bool got = false;
	int eof = conn_fill(&r->c), rc; /* whole frames before an EOF still count */

	if (eof < 0 && eof != -ECONNRESET)
		return eof;
	for (;;) {
		struct repl_hdr h;
		const uint8_t *pl;
		rc = conn_frame(&r->c, &h, &pl, err, sizeof(err));
		if (rc == 0)
			break;
		if (rc < 0) {
			fs_log("error", "standby: from %s: %s: link closed, nothing of it written",
			       r->c.peer, err);
			stats_count(r, &r->st.refused);
			return rc;
		}
		if (h.epoch != r->epoch) {
			fs_log("error", "standby: %s: frame of epoch %" PRIu64 ", expected %" PRIu64,
			       r->c.peer, h.epoch, r->epoch);
			return -ESTALE;
		}
		if (h.type == REPL_RECORDS) {
			unsigned n;
			uint64_t last;
			if (h.shard >= r->n) {
				fs_log("error", "standby: RECORDS for shard %u of %u", h.shard, r->n);
				return -EPROTO;
			}
			struct repl_log *l = &r->log[h.shard];
			rc = repl_records_check(pl, h.len, l->next_lsn, &n, &last, err, sizeof(err));
			if (rc < 0) {
				fs_log("error", "standby: shard %u: RECORDS frame refused: %s: link "
						"closed, nothing of it written", h.shard, err);
				stats_count(r, &r->st.refused);
				return rc;
			}
			rc = repl_log_append(l, pl, h.len, last);
			if (rc < 0) {
				fs_log("error", "standby: shard %u: writing its log: %s", h.shard,
				       fs_strerror(rc));
				return rc;
			}
			stats_note(r, n, h.len);
			got = true;
		} else if (h.type == REPL_SNAP) {
			rc = standby_snap(r, &h, pl);
			if (rc < 0)
				return rc;
		} else if (h.type == REPL_REFUSE) {
			fs_log("error", "standby: the primary refused: %.*s", (int)h.len,
			       (const char *)pl);
			return -EPERM;
		} else if (h.type != REPL_PING) {
			fs_log("error", "standby: unexpected frame type %u", h.type);
			return -EPROTO;
		}
		conn_consume(&r->c, &h);
	}
	if (!got)
		return eof;
	uint64_t lsn[FS_WORKERS_MAX];
	for (unsigned i = 0; i < r->n; i++) {
		if ((rc = repl_log_sync(&r->log[i])) < 0) {
			fs_log("error", "standby: shard %u: fdatasync: %s", i, fs_strerror(rc));
			return rc;
		}
		lsn[i] = r->log[i].synced_lsn;
	}
	standby_publish(r, true);
	rc = conn_send(&r->c, REPL_ACK, 0, 0, r->epoch,
		       repl_ack_encode(r->c.wbuf + REPL_HDR_BYTES, lsn, r->n));
	return rc < 0 ? rc : eof;
}

static void *standby_main(void *arg)
{
	struct fs_repl *r = arg;
	int64_t next_try = 0;
	int last_err = 0;

	while (!atomic_load(&r->stop)) {
		int64_t now = fs_mono_ns();
		if (r->c.fd < 0) {
			if (now < next_try) {
				usleep(20000);
				continue;
			}
			next_try = now + (int64_t)REPL_RECONNECT_MS * 1000000;
			int rc = standby_connect(r);
			if (rc == -EAGAIN) { /* truncated or reseeded: again at once */
				next_try = 0;
				continue;
			}
			if (rc < 0 && rc != last_err && rc != -EPERM && rc != -ESTALE)
				fs_log("warn", "standby: cannot reach the primary %s: %s (retrying "
					       "every %d ms)", r->cfg->repl_primary_str, fs_strerror(rc),
				       REPL_RECONNECT_MS);
			last_err = rc;
			if (rc < 0)
				next_try = now + (int64_t)(rc == -EPERM || rc == -ESTALE ? 5000 : REPL_RECONNECT_MS) * 1000000;
			continue;
		}
		struct pollfd pf = {.fd = r->c.fd, .events = POLLIN};
		(void)poll(&pf, 1, 50);
		int rc = standby_step(r);
		now = fs_mono_ns();
		if (rc >= 0 && now - r->c.last_tx_ns > (int64_t)REPL_PING_MS * 1000000)
			rc = conn_send(&r->c, REPL_PING, 0, 0, r->epoch, 0);
		if (rc >= 0 && now - r->c.last_rx_ns > (int64_t)REPL_DEAD_MS * 1000000)
			rc = -ETIMEDOUT;
		(void)manifest_note(r, false);
		if (rc < 0) {
			if (rc != -EAGAIN)
				fs_log("warn", "standby: link to the primary lost: %s; reconnecting",
				       rc == -ECONNRESET ? "closed" : fs_strerror(rc));
			conn_close(&r->c);
			standby_publish(r, false);
			last_err = 0;
			next_try = fs_mono_ns() + (int64_t)REPL_RECONNECT_MS * 1000000;
		}
	}
	for (unsigned i = 0; i < r->n; i++)
		(void)repl_log_sync(&r->log[i]);
	(void)manifest_note(r, true);
	return NULL;
}

int fs_repl_standby_start(const struct fs_repl_standby_params *p, struct fs_repl **out)
{
	struct fs_repl *r = repl_alloc(p->cfg, p->nshards, false);
	char err[1024] = "";
	int rc;

	*out = NULL;
	if (!r)
		return -ENOMEM;
	rc = persist_manifest_read(p->cfg->persist_dir, &r->man, err, sizeof(err));
	if (rc == 0 && r->man.n_shards != r->n) {
		fs_errf(err, sizeof(err), "%s/MANIFEST: %u shards, the config has workers = %u",
			p->cfg->persist_dir, r->man.n_shards, r->n);
		rc = -EINVAL;
	}
	if (rc == 0 && r->man.fenced)
		r->man.fenced = 0; /* rejoining as a standby: the fence is honoured */
	r->cluster = r->man.cluster;
	r->epoch = r->man.epoch;
	r->st.epoch = r->epoch;
	if (rc == 0)
		rc = standby_logs_open(r, err, sizeof(err));
	if (rc == 0)
		rc = thread_start(r, standby_main);
	if (rc < 0) {
		fs_log("error", "standby: cannot start: %s", err[0] ? err : fs_strerror(rc));
		fs_repl_stop(r);
		return rc;
	}
	standby_publish(r, false);
	fs_log("info", "standby: following %s (epoch %" PRIu64 "); shard 0 has LSNs up to %" PRIu64
		       "; purchases are not served until promote",
	       p->cfg->repl_primary_str, r->epoch,
	       r->log[0].next_lsn - 1);
	*out = r;
	return 0;
}

/* ---- consistency check ---- */

uint64_t fs_repl_log_first(const char *dir, unsigned shard)
{
	struct retain_seg *segs = NULL;
	unsigned n = 0;
	uint64_t first = 0;

	if (retain_list_segments(dir, shard, &segs, &n) == 0 && n > 0)
		first = segs[0].first_lsn;
	free(segs);
	return first;
}

int fs_repl_digest(const char *dir, unsigned shard, uint64_t from, uint64_t to,
		   uint64_t *digest, uint64_t *records)
{
	struct wal_tail t;
	uint64_t h = 0xcbf29ce484222325ull, n = 0;
	int rc;

	if (from == 0 || from > to)
		return -ERANGE;
	if ((rc = wal_tail_init(&t, dir, "audit", shard, from)) < 0)
		return rc;
	while (t.next_lsn <= to) {
		struct wal_record rec;
		const uint8_t *raw;
		size_t rawlen;
		rc = wal_tail_next(&t, &rec, &raw, &rawlen);
		if (rc != WAL_TAIL_RECORD)
			break;
		uint8_t key[12];
		memcpy(key, &rec.lsn, 8);
		memcpy(key + 8, raw + 4, 4); /* the record's CRC32C (wal_record.c's layout) */
		for (unsigned i = 0; i < sizeof(key); i++)
			h = (h ^ key[i]) * 0x100000001b3ull;
		n++;
	}
	wal_tail_free(&t);
	if (t.next_lsn <= to)
		return rc < 0 && rc != WAL_TAIL_GAP ? rc : -ERANGE;
	*digest = h;
	*records = n;
	return 0;
}

/* ---- promote ---- */

int fs_repl_promote(const struct cfg *cfg, uint64_t *epoch, char *err, size_t errlen)
{
	struct persist_manifest m;
	char path[FS_PATH_MAX + 32], tmp[FS_PATH_MAX + 32], buf[64 + FS_WORKERS_MAX * 48];
	size_t n = 0;
	int rc = persist_manifest_read(cfg->persist_dir, &m, err, errlen);

	if (rc < 0)
		return rc;
	m.epoch++;
	m.fenced = 0;
	if (m.cluster == 0) { /* a standby that never met its primary */
		if (getrandom(&m.cluster, sizeof(m.cluster), 0) != sizeof(m.cluster))
			return -EIO;
	}
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "epoch %" PRIu64 "\n", m.epoch);
	for (unsigned i = 0; i < m.n_shards; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "shard %u lsn %" PRIu64 "\n", i,
				      m.shard[i].hw_lsn + 1);
	snprintf(path, sizeof(path), "%s/" FS_REPL_PROMOTED_FILE, cfg->persist_dir);
	snprintf(tmp, sizeof(tmp), "%s/" FS_REPL_PROMOTED_FILE ".tmp", cfg->persist_dir);
	/* PROMOTED first: a crash before the manifest leaves PROMOTED with an
	 * epoch the manifest lacks, which the next start completes. */
	rc = repl_file_replace(cfg->persist_dir, tmp, path, buf, n);
	if (rc < 0) {
		fs_errf(err, errlen, "%s: %s", path, fs_strerror(rc));
		return rc;
	}
	rc = persist_manifest_write(cfg->persist_dir, &m, err, errlen);
	if (rc < 0)
		return rc;
	*epoch = m.epoch;
	/* The standby this appliance had in an earlier life as a primary (if
	 * any) belongs to an older epoch: forget it, so that this promote's
	 * start is not held for it (degrade_blocked). The next standby that
	 * follows writes the file anew, and from then a restart is held. */
	rc = retain_consumer_remove(cfg->persist_dir, REPL_CONSUMER_NAME);
	if (rc < 0) /* the promote itself is done: its next start is held, no more */
		fs_log("warn", "%s/consumers/" REPL_CONSUMER_NAME ": not removed: %s",
		       cfg->persist_dir, fs_strerror(rc));
	return 0;
}

int fs_repl_promoted(const struct cfg *cfg, uint64_t *epoch, uint64_t epoch_lsn[FS_WORKERS_MAX],
		     unsigned *nshards)
{
	char path[FS_PATH_MAX + 32], line[128];
	FILE *f;
	unsigned i;
	uint64_t v;

	snprintf(path, sizeof(path), "%s/" FS_REPL_PROMOTED_FILE, cfg->persist_dir);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	*nshards = 0;
	if (!fgets(line, sizeof(line), f) || sscanf(line, "epoch %" SCNu64, epoch) != 1) {
		fclose(f);
		return -EBADMSG;
	}
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "shard %u lsn %" SCNu64, &i, &v) == 2 && i < FS_WORKERS_MAX) {
			epoch_lsn[i] = v;
			*nshards = i + 1 > *nshards ? i + 1 : *nshards;
		}
	fclose(f);
	return 0;
}
