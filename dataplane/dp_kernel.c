/*
 * dp_kernel.c — the kernel-socket front end: the embedded default that runs
 * on any Linux box and in CI. It only moves datagrams; the worker logic is
 * the engine's (dp_engine.c), reached through dp_engine_rx_dgram and
 * dp_engine_sleep, and the engine calls this file only through
 * dp_kernel_ops.
 *
 * Worker i has one UDP socket bound to [net] address:udp_port with
 * SO_REUSEPORT, so the kernel spreads client flows over the workers. Per loop:
 * recvmmsg() a burst of up to FS_BURST_MAX datagrams (non-blocking) into
 * fixed buffers of DP_RX_BUF_BYTES (a datagram that does not fit, or is
 * longer than the largest FSP datagram, is passed on as truncated: malformed);
 * sendmmsg() the engine's staged response datagrams from the same socket (a
 * full socket buffer: the engine counts the rest as dropped). After
 * DP_KERNEL_IDLE_LOOPS empty loops the worker blocks in ppoll on its socket,
 * its wake eventfd and its log's eventfd for at most idle_sleep_us
 * (dp_engine_sleep), so an idle daemon costs ~0% CPU.
 *
 * With [net] http_port set, worker i also serves the public HTTP API
 * (dp_http_front.c): its TCP listener and connections join one epoll set per
 * worker together with the UDP socket (level-triggered there), so one
 * front end moves both protocols: rx takes the epoll events (timeout 0),
 * reads datagrams when the UDP socket is among them, then serves ready
 * connections; tx sends datagrams, then
 * flushes connections; an idle worker sleeps on the epoll descriptor.
 *
 * SO_REUSEPORT would let a second daemon (same user) join our port and take
 * half the traffic, each selling the whole stock. So before the workers bind,
 * one plain bind proves nobody serves the port yet.
 */
#include "dp_engine.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cfg.h"
#include "dp_http_front.h"
#include "fs_common.h"

#define DP_KERNEL_EV_UDP UINT64_MAX /* epoll data of the UDP socket */
#define DP_KERNEL_EVENTS 64         /* epoll events taken per loop */

struct dp_kfe {
	struct dp_hfe *http; /* NULL: http_port = 0 */
};

struct dp_kworker {
	int fd;
	int epfd;                    /* -1 without HTTP */
	struct dp_hfw *http;
	struct epoll_event ev[DP_KERNEL_EVENTS];
	unsigned idle_sleep_us;
	struct mmsghdr rx_msgs[FS_BURST_MAX];
	struct iovec rx_iov[FS_BURST_MAX];
	struct dp_peer rx_peer[FS_BURST_MAX];
	uint8_t rx_buf[FS_BURST_MAX][DP_RX_BUF_BYTES];
	struct mmsghdr tx_msgs[DP_TX_DGRAMS_MAX];
	struct iovec tx_iov[DP_TX_DGRAMS_MAX];
};

/* With HTTP: take the epoll events first (timeout 0). The UDP socket is in
 * the set level-triggered, so it is reported whenever datagrams wait, and
 * recvmmsg runs only then (no empty recvmmsg per loop). Returns whether
 * the UDP socket is readable. */
static bool http_events(struct dp_kworker *k, unsigned *work)
{
	bool udp = false;
	int n = epoll_wait(k->epfd, k->ev, DP_KERNEL_EVENTS, 0);

	for (int i = 0; i < n; i++) {
		if (k->ev[i].data.u64 == DP_KERNEL_EV_UDP)
			udp = true;
		else if (k->ev[i].data.u64 < DP_HFE_EV_LIMIT)
			dp_hfw_event(k->http, k->ev[i].data.u64, k->ev[i].events);
	}
	*work += n > 0 ? (unsigned)n : 0;
	return udp;
}

static unsigned kernel_rx(void *fw, struct dp_worker *w, int64_t now_ns, int64_t mono_ns)
{
	struct dp_kworker *k = fw;
	unsigned work = 0;
	int n = 0;

	if (k->http == NULL || http_events(k, &work)) {
		for (unsigned i = 0; i < FS_BURST_MAX; i++) {
			k->rx_msgs[i].msg_hdr.msg_namelen = sizeof(k->rx_peer[i].sa);
			k->rx_msgs[i].msg_hdr.msg_flags = 0;
		}
		n = recvmmsg(k->fd, k->rx_msgs, FS_BURST_MAX, MSG_DONTWAIT, NULL);
	}
	for (int i = 0; i < n; i++) {
		const struct mmsghdr *m = &k->rx_msgs[i];
		bool trunc = (m->msg_hdr.msg_flags & MSG_TRUNC) || m->msg_len > DP_DGRAM_MAX_BYTES;
		dp_engine_rx_dgram(w, k->rx_buf[i], m->msg_len, trunc, &k->rx_peer[i], now_ns, mono_ns,
				   NULL);
	}
	work += n > 0 ? (unsigned)n : 0;
	if (k->http)
		work += dp_hfw_rx(k->http, w, now_ns, mono_ns);
	return work;
}

static unsigned kernel_tx(void *fw, const struct dp_txslot *t, unsigned n)
{
	struct dp_kworker *k = fw;
	unsigned off = 0;

	for (unsigned i = 0; i < n; i++) {
		k->tx_iov[i].iov_base = (void *)t[i].buf;
		k->tx_iov[i].iov_len = dp_txslot_len(&t[i]);
		k->tx_msgs[i].msg_hdr.msg_name = (void *)&t[i].dst.sa;
		k->tx_msgs[i].msg_hdr.msg_namelen = sizeof(t[i].dst.sa);
		k->tx_msgs[i].msg_hdr.msg_iov = &k->tx_iov[i];
		k->tx_msgs[i].msg_hdr.msg_iovlen = 1;
	}
	while (off < n) {
		int r = sendmmsg(k->fd, k->tx_msgs + off, n - off, MSG_DONTWAIT);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			break; /* socket buffer full (or an error): the engine counts the rest */
		}
		off += (unsigned)r;
	}
	if (k->http)
		dp_hfw_tx(k->http);
	return off;
}

static void kernel_answer(void *fw, uint64_t cookie, const struct fs_resp *r)
{
	struct dp_kworker *k = fw;

	FS_ASSERT(k->http != NULL);
	dp_hfw_answer(k->http, cookie, r);
}

static void kernel_timer(void *fw)
{
	struct dp_kworker *k = fw;

	if (k->http)
		dp_hfw_timer(k->http);
}

static void kernel_stats(const void *fe, void *const fw[], unsigned nworkers,
			 struct dp_stats *out)
{
	(void)fe;
	for (unsigned i = 0; i < nworkers; i++) {
		const struct dp_kworker *k = fw[i];
		if (k && k->http)
			dp_hfw_stats(k->http, out);
	}
}

static bool kernel_idle(void *fw, struct dp_worker *w, unsigned idle_loops)
{
	struct dp_kworker *k = fw;

	if (idle_loops < DP_KERNEL_IDLE_LOOPS)
		return false;
	dp_engine_sleep(w, k->http ? k->epfd : k->fd, k->idle_sleep_us);
	return true;
}

static int open_socket(const struct cfg *cfg, char *err, size_t errlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(cfg->udp_port),
				.sin_addr = cfg->address};
	int one = 1, buf = DP_SOCKET_BUF_BYTES;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -errno;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		snprintf(err, errlen, "cannot bind UDP %s:%u: %s", cfg->address_str, cfg->udp_port,
			 strerror(e));
		close(fd);
		return -e;
	}
	/* Best effort: a larger buffer absorbs bursts; the kernel caps it at rmem_max. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	return fd;
}

static int probe_port_free(const struct cfg *cfg, char *err, size_t errlen)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(cfg->udp_port),
				.sin_addr = cfg->address};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int rc = 0;

	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		rc = -errno;
		snprintf(err, errlen, "UDP %s:%u is already in use (another flashsaled?): %s",
			 cfg->address_str, cfg->udp_port, strerror(-rc));
	}
	close(fd);
	return rc;
}

static int kernel_create(const struct cfg *cfg, unsigned nworkers, void **fe, void *fw[],
			 char *err, size_t errlen)
{
	int rc = probe_port_free(cfg, err, errlen);
	struct dp_kfe *kfe = calloc(1, sizeof(*kfe));

	*fe = kfe;
	if (kfe == NULL)
		return -ENOMEM;
	if (rc < 0)
		return rc;
	if (cfg->http_port && (rc = dp_hfe_create(cfg, nworkers, &kfe->http, err, errlen)) < 0)
		return rc;
	for (unsigned id = 0; id < nworkers; id++) {
		struct dp_kworker *k = calloc(1, sizeof(*k));
		if (k == NULL)
			return -ENOMEM;
		fw[id] = k;
		k->epfd = -1;
		k->idle_sleep_us = cfg->idle_sleep_us;
		k->fd = open_socket(cfg, err, errlen);
		if (k->fd < 0)
			return k->fd;
		if (kfe->http) {
			struct epoll_event ev = {.events = EPOLLIN, .data.u64 = DP_KERNEL_EV_UDP};
			k->epfd = epoll_create1(EPOLL_CLOEXEC);
			if (k->epfd < 0 || epoll_ctl(k->epfd, EPOLL_CTL_ADD, k->fd, &ev) < 0) {
				snprintf(err, errlen, "epoll: %s", strerror(errno));
				return -errno;
			}
			rc = dp_hfw_create(kfe->http, cfg, id, k->epfd, &k->http, err, errlen);
			if (rc < 0)
				return rc;
		}
		for (unsigned i = 0; i < FS_BURST_MAX; i++) {
			k->rx_iov[i].iov_base = k->rx_buf[i];
			k->rx_iov[i].iov_len = DP_RX_BUF_BYTES;
			k->rx_msgs[i].msg_hdr.msg_iov = &k->rx_iov[i];
			k->rx_msgs[i].msg_hdr.msg_iovlen = 1;
			k->rx_msgs[i].msg_hdr.msg_name = &k->rx_peer[i].sa;
		}
	}
	return 0;
}

static void kernel_free(void *fe, void *fw[], unsigned nworkers)
{
	struct dp_kfe *kfe = fe;

	for (unsigned i = 0; i < nworkers; i++) {
		struct dp_kworker *k = fw[i];
		if (k == NULL)
			continue;
		dp_hfw_free(k->http);
		if (k->epfd >= 0)
			close(k->epfd);
		if (k->fd >= 0)
			close(k->fd);
		free(k);
		fw[i] = NULL;
	}
	if (kfe)
		dp_hfe_free(kfe->http);
	free(kfe);
}

const struct dp_fe_ops dp_kernel_ops = {
	.name = "kernel",
	.reply_from_any_worker = true,
	.create = kernel_create,
	.free = kernel_free,
	.rx = kernel_rx,
	.tx = kernel_tx,
	.idle = kernel_idle,
	.timer = kernel_timer,
	.stats = kernel_stats,
	.answer = kernel_answer,
};
