/*
 * bench_thread.c — the sender/receiver threads: allocation before the run,
 * the loop (expire, send, receive, publish progress, wait), the main
 * thread's progress line and silence detection, joining and merging the
 * per-thread results. Threads share nothing mutable while running except
 * relaxed progress counters and bench_stop.
 */
#include "bench.h"

#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Block until the socket is ready or the next thing is due: the oldest
 * message's timeout, the open-loop schedule, the end of the run. */
static void wait_io(const struct bench_thread *th, int64_t now)
{
	const struct bench *b = th->b;
	int64_t w = BENCH_WAIT_MAX_NS;
	struct pollfd p = {.fd = th->fd, .events = POLLIN};
	struct timespec ts;

	if (th->tx_pending)
		p.events |= POLLOUT;
	if (th->infl_head != SLOT_NIL) {
		int64_t due = th->slots[th->infl_head].send_ns + b->timeout_ns - now;
		w = due < w ? due : w;
	}
	if (!th->sending_over && b->end_ns && b->end_ns - now < w)
		w = b->end_ns - now;
	if (!th->sending_over && b->o.rate) {
		double next = (double)(th->built_msgs + b->o.batch) * 1e9 * (double)b->n_threads /
			      (double)b->o.rate;
		int64_t due = b->start_ns + (int64_t)next - now;
		w = due < w ? due : w;
	}
	if (w < 0)
		w = 0;
	ts.tv_sec = w / FS_NS_PER_S;
	ts.tv_nsec = w % FS_NS_PER_S;
	(void)ppoll(&p, 1, &ts, NULL);
}

static void publish(struct bench_thread *th)
{
	atomic_store_explicit(&th->pub_sent, th->st.sent_msgs, memory_order_relaxed);
	atomic_store_explicit(&th->pub_answered, th->st.answered, memory_order_relaxed);
	atomic_store_explicit(&th->pub_ok, th->st.status[FS_ST_OK], memory_order_relaxed);
	atomic_store_explicit(&th->pub_lost, th->st.lost, memory_order_relaxed);
}

static void *thread_main(void *arg)
{
	struct bench_thread *th = arg;
	const struct bench *b = th->b;

	for (;;) {
		int64_t now = fs_mono_ns();
		unsigned tx, rx;

		bench_expire(th, now);
		if (!th->stopped && (atomic_load_explicit(&bench_stop, memory_order_relaxed) ||
				     (b->end_ns && now >= b->end_ns))) {
			th->stopped = true;
			bench_tx_drop(th);
		}
		th->sending_over = th->stopped || (th->gen_done && th->tx_pending == 0);
		if (th->sending_over && th->busy == 0)
			break;
		tx = bench_tx_some(th, now);
		rx = bench_rx_some(th);
		publish(th);
		if (tx == 0 && rx == 0)
			wait_io(th, now);
	}
	publish(th);
	atomic_store_explicit(&th->finished, true, memory_order_release);
	return NULL;
}

/* Slots per thread: twice what can be in flight, a power of two. */
static uint32_t slots_needed(const struct bench *b)
{
	uint64_t want, n = SLOTS_MIN;

	if (b->o.rate)
		want = b->o.rate / b->n_threads * b->o.timeout_ms / 1000 * 2;
	else
		want = 2 * b->o.concurrency * b->o.batch;
	while (n < want && n < (1ull << SLOT_BITS))
		n <<= 1;
	return (uint32_t)n;
}

/* Order ids kept per thread for check (3): all the stock there is, plus
 * room for what an oversell would show. */
static uint64_t ok_capacity(const struct bench *b, uint64_t n_users)
{
	uint64_t stock = BENCH_OK_ORDERS_SPARE;

	if (b->o.echo)
		return 0;
	for (unsigned i = 0; i < b->n_items; i++)
		stock += b->items[i].avail_before;
	if (!b->o.loop && n_users * b->o.attempts < stock)
		stock = n_users * b->o.attempts;
	return stock < BENCH_OK_ORDERS_MAX ? stock : BENCH_OK_ORDERS_MAX;
}

static void thread_io_init(struct bench_thread *th)
{
	for (unsigned i = 0; i < FS_BURST_MAX; i++) {
		th->tx_iov[i].iov_base = th->txbuf[i];
		th->tx_mh[i].msg_hdr.msg_iov = &th->tx_iov[i];
		th->tx_mh[i].msg_hdr.msg_iovlen = 1;
		th->rx_iov[i].iov_base = th->rxbuf[i];
		th->rx_iov[i].iov_len = BENCH_RX_BUF_BYTES;
		th->rx_mh[i].msg_hdr.msg_iov = &th->rx_iov[i];
		th->rx_mh[i].msg_hdr.msg_iovlen = 1;
	}
}

static int thread_init(struct bench *b, struct bench_thread *th, unsigned id)
{
	th->b = b;
	th->id = id;
	th->n_users = (b->o.users - id + b->n_threads - 1) / b->n_threads;
	th->nslots = slots_needed(b);
	th->ok_cap = ok_capacity(b, th->n_users);
	th->infl_head = th->infl_tail = SLOT_NIL;
	th->free_count = th->nslots;
	atomic_init(&th->pub_sent, 0);
	atomic_init(&th->pub_answered, 0);
	atomic_init(&th->pub_ok, 0);
	atomic_init(&th->pub_lost, 0);
	atomic_init(&th->finished, false);
	th->slots = calloc(th->nslots, sizeof(*th->slots));
	th->free_ring = calloc(th->nslots, sizeof(*th->free_ring));
	th->txbuf = calloc(FS_BURST_MAX, sizeof(*th->txbuf));
	th->rxbuf = calloc(FS_BURST_MAX, sizeof(*th->rxbuf));
	th->user_won = calloc(th->n_users, sizeof(*th->user_won));
	th->item_won = calloc(b->n_items, sizeof(*th->item_won));
	th->ok_orders = calloc(th->ok_cap + 1, sizeof(*th->ok_orders));
	th->fd = bench_socket(b);
	if (!th->slots || !th->free_ring || !th->txbuf || !th->rxbuf || !th->user_won ||
	    !th->item_won || !th->ok_orders)
		return -ENOMEM;
	if (th->fd < 0)
		return th->fd;
	for (uint32_t i = 0; i < th->nslots; i++)
		th->free_ring[i] = i;
	thread_io_init(th);
	return 0;
}

static void thread_fini(struct bench_thread *th)
{
	if (th->fd >= 0)
		close(th->fd);
	free(th->slots);
	free(th->free_ring);
	free(th->txbuf);
	free(th->rxbuf);
	free(th->user_won);
	free(th->item_won);
	free(th->ok_orders);
}

/* Allocate every thread, then start them with the signals blocked (only
 * the main thread takes SIGINT/SIGTERM). */
int bench_start_threads(struct bench *b)
{
	sigset_t block, old;
	int rc = 0;

	b->th = calloc(b->n_threads, sizeof(*b->th));
	if (!b->th)
		return -ENOMEM;
	for (unsigned i = 0; i < b->n_threads; i++)
		b->th[i].fd = -1;
	for (unsigned i = 0; i < b->n_threads && rc == 0; i++)
		rc = thread_init(b, &b->th[i], i);
	if (rc != 0) {
		fprintf(stderr, "flashsale-bench: thread setup: %s\n", fs_strerror(rc));
		return rc;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	b->start_ns = fs_mono_ns();
	if (b->o.duration_s > 0)
		b->end_ns = b->start_ns + (int64_t)(b->o.duration_s * 1e9);
	for (unsigned i = 0; i < b->n_threads && rc == 0; i++) {
		rc = -pthread_create(&b->th[i].tid, NULL, thread_main, &b->th[i]);
		b->th[i].started = rc == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		fprintf(stderr, "flashsale-bench: pthread_create: %s\n", fs_strerror(rc));
		atomic_store(&bench_stop, true);
	}
	return rc;
}

/* What the threads published, summed. */
struct progress {
	uint64_t sent, answered, ok, lost;
	bool all_done;
};

static void progress_sum(const struct bench *b, struct progress *p)
{
	memset(p, 0, sizeof(*p));
	p->all_done = true;
	for (unsigned i = 0; i < b->n_threads; i++) {
		struct bench_thread *th = &b->th[i];
		p->sent += atomic_load_explicit(&th->pub_sent, memory_order_relaxed);
		p->answered += atomic_load_explicit(&th->pub_answered, memory_order_relaxed);
		p->ok += atomic_load_explicit(&th->pub_ok, memory_order_relaxed);
		p->lost += atomic_load_explicit(&th->pub_lost, memory_order_relaxed);
		p->all_done &= !th->started ||
			       atomic_load_explicit(&th->finished, memory_order_acquire);
	}
}

/* Progress to stderr once a second; stop a run into silence. */
void bench_monitor(struct bench *b)
{
	int64_t next = b->start_ns + BENCH_PROGRESS_NS, silent_ns = 2 * b->timeout_ns;
	uint64_t last_answered = 0;
	struct timespec tick = {.tv_sec = 0, .tv_nsec = BENCH_TICK_NS};
	struct progress p;

	if (silent_ns < BENCH_NO_ANSWER_MIN_NS)
		silent_ns = BENCH_NO_ANSWER_MIN_NS;
	for (progress_sum(b, &p); !p.all_done; progress_sum(b, &p)) {
		int64_t now = fs_mono_ns();
		if (p.answered == 0 && p.sent > 0 && now - b->start_ns > silent_ns &&
		    !atomic_load(&bench_stop)) {
			fprintf(stderr, "flashsale-bench: no answer from %s after %.1f s: "
				"stopping\n", b->target, (double)(now - b->start_ns) / 1e9);
			b->gave_up = true;
			atomic_store(&bench_stop, true);
		}
		if (now >= next) {
			fprintf(stderr, "[%6.1f s] sent %" PRIu64 "  answered %" PRIu64 "  %" PRIu64
				" msgs/s  OK %" PRIu64 "  lost %" PRIu64 "\n",
				(double)(now - b->start_ns) / 1e9, p.sent, p.answered,
				p.answered - last_answered, p.ok, p.lost);
			last_answered = p.answered;
			next += BENCH_PROGRESS_NS;
		}
		nanosleep(&tick, NULL);
	}
}

/* Join the threads; returns the first hard socket error seen (or 0). */
int bench_join_threads(struct bench *b)
{
	int fatal = 0;

	for (unsigned i = 0; i < b->n_threads; i++) {
		if (b->th[i].started)
			pthread_join(b->th[i].tid, NULL);
		if (b->th[i].fatal && !fatal)
			fatal = b->th[i].fatal;
	}
	if (fatal)
		fprintf(stderr, "flashsale-bench: send: %s\n", fs_strerror(fatal));
	return fatal;
}

void bench_merge(struct bench *b, struct bench_stats *tot)
{
	memset(tot, 0, sizeof(*tot));
	for (unsigned t = 0; t < b->n_threads; t++) {
		const struct bench_stats *s = &b->th[t].st;
#define X(name) tot->name += s->name;
		BENCH_COUNTERS(X)
#undef X
		for (unsigned i = 0; i <= FS_ST_COUNT; i++)
			tot->status[i] += s->status[i];
		for (unsigned i = 0; i < HIST_BUCKETS; i++)
			tot->hist[i] += s->hist[i];
		if (s->lat_max_ns > tot->lat_max_ns)
			tot->lat_max_ns = s->lat_max_ns;
		if (s->first_send_ns && (!tot->first_send_ns || s->first_send_ns < tot->first_send_ns))
			tot->first_send_ns = s->first_send_ns;
		if (s->last_send_ns > tot->last_send_ns)
			tot->last_send_ns = s->last_send_ns;
		for (unsigned i = 0; i < b->n_items; i++)
			b->items[i].won += b->th[t].item_won[i];
	}
}


void bench_threads_fini(struct bench *b)
{
	if (b->th)
		for (unsigned i = 0; i < b->n_threads; i++)
			thread_fini(&b->th[i]);
	free(b->th);
	b->th = NULL;
}
