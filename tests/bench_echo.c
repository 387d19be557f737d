/*
 * bench_echo.c — the "ceiling" baseline for flashsale-bench: a UDP echo
 * server with the same socket setup as the appliance's kernel front end and
 * none of its work, so `flashsale-bench --echo` against it measures what the
 * kernel's UDP path and the generator alone cost on this machine.
 *
 * Shape (mirrors dataplane's kernel mode):
 *   - N worker threads (--workers, default 2), each with its own UDP socket
 *     bound with SO_REUSEPORT to --address:--port (default 127.0.0.1:7710);
 *     the kernel spreads flows over the sockets by a hash of the 4-tuple.
 *   - A worker reads a burst of up to FS_BURST_MAX (32) datagrams with one
 *     recvmmsg(MSG_WAITFORONE) and sends them all back, unchanged, to their
 *     sources with sendmmsg. An echo is never larger than its request, so
 *     the no-amplification rule of PROTOCOL.md holds trivially.
 *   - An idle worker blocks in recvmmsg; SO_RCVTIMEO of 100 ms wakes it to
 *     look at the stop flag, so idle workers cost nothing and stop promptly.
 *   - The run is bounded: --duration S (default 60) then exit; SIGINT or
 *     SIGTERM stop it sooner. At exit it prints what it echoed.
 *
 * Datagrams are echoed whatever they hold; "messages" counts 64-byte FSP
 * messages in datagrams that carry the FSP magic, for comparison with the
 * bench's own message counts. A burst that sendmmsg cannot take whole (a
 * full socket buffer) is dropped and counted, as a real server would.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "fs_common.h"
#include "fs_proto.h"

#define ECHO_WORKERS_DEFAULT 2
#define ECHO_PORT_DEFAULT 7710
#define ECHO_DURATION_DEFAULT_S 60
#define ECHO_DURATION_MAX_S 86400
#define ECHO_DGRAM_MAX 65536          /* any UDP datagram is echoed whole */
#define ECHO_SOCKBUF (4 << 20)        /* capped by net.core.{r,w}mem_max */
#define ECHO_RCVTIMEO_MS 100

struct echo_worker {
	pthread_t tid;
	int fd;
	uint64_t dgrams;
	uint64_t msgs;
	uint64_t dropped;
	uint64_t errors;
	uint8_t (*buf)[ECHO_DGRAM_MAX];
	struct sockaddr_in peer[FS_BURST_MAX];
	struct iovec iov[FS_BURST_MAX];
	struct mmsghdr mh[FS_BURST_MAX];
};

struct echo_opts {
	unsigned workers;
	struct sockaddr_in addr;
	unsigned duration_s;
};

/* Set by the signal handler and by main at the deadline; lock-free, so
 * writing it from a handler is allowed (C11 7.14.1.1). */
static atomic_bool g_stop;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&g_stop, true);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_echo [--workers N] [--address A] [--port P] [--duration S]\n"
		"UDP echo server: the ceiling baseline for flashsale-bench --echo.\n"
		"  --workers N    threads, each with its own SO_REUSEPORT socket (default %d)\n"
		"  --address A    IPv4 address to bind (default 127.0.0.1)\n"
		"  --port P       UDP port (default %d)\n"
		"  --duration S   exit after S seconds, 1..%d (default %d)\n"
		"  -h, --help     this text\n"
		"example:\n"
		"  bench_echo --port 7710 --duration 10 &\n"
		"  flashsale-bench --echo --server 127.0.0.1 --port 7710 --loop --duration 3\n",
		ECHO_WORKERS_DEFAULT, ECHO_PORT_DEFAULT, ECHO_DURATION_MAX_S,
		ECHO_DURATION_DEFAULT_S);
}

static int parse_uint(const char *name, const char *s, unsigned min, unsigned max,
		      unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "bench_echo: --%s: want an integer in %u..%u, got '%s'\n", name,
			min, max, s);
		return -EINVAL;
	}
	*out = (unsigned)v;
	return 0;
}

/* Returns 0 to run, 1 after --help, -EINVAL on a usage error. */
static int parse_args(int argc, char **argv, struct echo_opts *o)
{
	static const struct option longopts[] = {
		{"workers", required_argument, NULL, 'w'},
		{"address", required_argument, NULL, 'a'},
		{"port", required_argument, NULL, 'p'},
		{"duration", required_argument, NULL, 'd'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	unsigned port = ECHO_PORT_DEFAULT;
	int c, rc = 0;

	o->workers = ECHO_WORKERS_DEFAULT;
	o->duration_s = ECHO_DURATION_DEFAULT_S;
	o->addr.sin_family = AF_INET;
	o->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	while (rc == 0 && (c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'w':
			rc = parse_uint("workers", optarg, 1, FS_WORKERS_MAX, &o->workers);
			break;
		case 'a':
			if (inet_pton(AF_INET, optarg, &o->addr.sin_addr) != 1) {
				fprintf(stderr, "bench_echo: --address: not an IPv4 address: '%s'\n",
					optarg);
				rc = -EINVAL;
			}
			break;
		case 'p':
			rc = parse_uint("port", optarg, 1, 65535, &port);
			break;
		case 'd':
			rc = parse_uint("duration", optarg, 1, ECHO_DURATION_MAX_S, &o->duration_s);
			break;
		case 'h':
			usage(stdout);
			return 1;
		default:
			rc = -EINVAL;
		}
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "bench_echo: unexpected argument '%s'\n", argv[optind]);
		rc = -EINVAL;
	}
	o->addr.sin_port = htons((uint16_t)port);
	return rc;
}

/* One worker's socket: SO_REUSEPORT, big buffers (best effort), a receive
 * timeout so a blocked recvmmsg returns to look at the stop flag. Returns the
 * fd or -errno. */
static int echo_socket(const struct sockaddr_in *addr)
{
	struct timeval tv = {.tv_sec = 0, .tv_usec = ECHO_RCVTIMEO_MS * 1000};
	int one = 1, sz = ECHO_SOCKBUF;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int err;

	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	return fd;
}

/* Count the FSP messages of one datagram for the report (not validated:
 * the echo does not judge what it returns). */
static uint64_t fsp_msgs(const uint8_t *buf, size_t len)
{
	if (len < FSP_HDR_LEN || buf[0] != (FSP_MAGIC >> 8) || buf[1] != (FSP_MAGIC & 0xff))
		return 0;
	return (len - FSP_HDR_LEN) / FSP_MSG_LEN;
}

/* Echo one received burst of n datagrams back to their sources. */
static void echo_burst(struct echo_worker *w, unsigned n)
{
	unsigned done = 0;

	for (unsigned i = 0; i < n; i++) {
		w->iov[i].iov_len = w->mh[i].msg_len;
		w->msgs += fsp_msgs(w->buf[i], w->mh[i].msg_len);
	}
	while (done < n) {
		int r = sendmmsg(w->fd, w->mh + done, n - done, 0);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			w->dropped += n - done;
			break;
		}
		done += (unsigned)r;
	}
	w->dgrams += done;
}

/* Re-arm the burst's headers for the next recvmmsg (the kernel wrote the
 * lengths and the peers' addresses into them). */
static void rearm(struct echo_worker *w, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		w->iov[i].iov_base = w->buf[i];
		w->iov[i].iov_len = ECHO_DGRAM_MAX;
		memset(&w->mh[i].msg_hdr, 0, sizeof(w->mh[i].msg_hdr));
		w->mh[i].msg_hdr.msg_name = &w->peer[i];
		w->mh[i].msg_hdr.msg_namelen = sizeof(w->peer[i]);
		w->mh[i].msg_hdr.msg_iov = &w->iov[i];
		w->mh[i].msg_hdr.msg_iovlen = 1;
	}
}

static void *worker_main(void *arg)
{
	struct echo_worker *w = arg;

	rearm(w, FS_BURST_MAX);
	while (!atomic_load_explicit(&g_stop, memory_order_relaxed)) {
		int n = recvmmsg(w->fd, w->mh, FS_BURST_MAX, MSG_WAITFORONE, NULL);
		if (n <= 0) {
			/* EAGAIN: the 100 ms receive timeout; EINTR: a signal. */
			if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				w->errors++;
			continue;
		}
		echo_burst(w, (unsigned)n);
		rearm(w, (unsigned)n);
	}
	return NULL;
}

/* Sleep until the deadline or a stop signal, in short steps. */
static void wait_deadline(unsigned duration_s)
{
	int64_t end = fs_mono_ns() + (int64_t)duration_s * FS_NS_PER_S;
	struct timespec step = {.tv_sec = 0, .tv_nsec = 50 * FS_NS_PER_MS};

	while (!atomic_load(&g_stop) && fs_mono_ns() < end)
		nanosleep(&step, NULL);
	atomic_store(&g_stop, true);
}

/* Open the sockets and start the workers with SIGINT/SIGTERM blocked, so
 * only the main thread takes the signals. Returns how many started. */
static unsigned start_workers(const struct echo_opts *o, struct echo_worker *w)
{
	sigset_t block, old;
	unsigned n;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (n = 0; n < o->workers; n++) {
		int fd = echo_socket(&o->addr);
		if (fd < 0) {
			fprintf(stderr, "bench_echo: socket for worker %u: %s\n", n,
				fs_strerror(fd));
			break;
		}
		w[n].fd = fd;
		w[n].buf = calloc(FS_BURST_MAX, ECHO_DGRAM_MAX);
		if (!w[n].buf || pthread_create(&w[n].tid, NULL, worker_main, &w[n]) != 0) {
			fprintf(stderr, "bench_echo: cannot start worker %u\n", n);
			free(w[n].buf);
			close(fd);
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return n;
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

int main(int argc, char **argv)
{
	struct echo_opts o;
	struct echo_worker *w;
	uint64_t dgrams = 0, msgs = 0, dropped = 0, errors = 0;
	char addr[INET_ADDRSTRLEN];
	unsigned started;
	int64_t t0;
	int rc;

	memset(&o, 0, sizeof(o));
	rc = parse_args(argc, argv, &o);
	if (rc != 0)
		return rc > 0 ? 0 : 2;
	w = calloc(o.workers, sizeof(*w));
	if (!w)
		return 2;
	install_signals();
	t0 = fs_mono_ns();
	started = start_workers(&o, w);
	inet_ntop(AF_INET, &o.addr.sin_addr, addr, sizeof(addr));
	if (started == o.workers) {
		fprintf(stderr, "bench_echo: %u workers echoing on %s:%u for at most %u s\n",
			started, addr, ntohs(o.addr.sin_port), o.duration_s);
		wait_deadline(o.duration_s);
	}
	atomic_store(&g_stop, true);
	for (unsigned i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		close(w[i].fd);
		free(w[i].buf);
		dgrams += w[i].dgrams;
		msgs += w[i].msgs;
		dropped += w[i].dropped;
		errors += w[i].errors;
	}
	printf("bench_echo: echoed %llu datagrams, %llu messages in %.2f s on %s:%u "
	       "(%u workers; dropped %llu, receive errors %llu)\n",
	       (unsigned long long)dgrams, (unsigned long long)msgs,
	       (double)(fs_mono_ns() - t0) / FS_NS_PER_S, addr, ntohs(o.addr.sin_port), started,
	       (unsigned long long)dropped, (unsigned long long)errors);
	free(w);
	return started == o.workers ? 0 : 2;
}
