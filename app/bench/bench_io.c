/*
 * bench_io.c — one thread's datagrams: build BUY messages from the work
 * cursor within the closed-loop window or the open-loop schedule, send the
 * burst with sendmmsg, read answers with recvmmsg, match each to its slot
 * and book its outcome for the verdict. No allocation, no locks: all
 * buffers belong to the thread and were allocated before the run.
 */
#include "bench.h"

#include "dp.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Advance the work cursor: next user, and a new round after the last. */
static void next_work(struct bench_thread *th)
{
	if (++th->next_user < th->n_users)
		return;
	th->next_user = 0;
	th->round++;
	if (!th->b->o.loop && th->round >= th->b->o.attempts)
		th->gen_done = true;
}

static void build_msg(struct bench_thread *th, uint32_t s, uint8_t *msg)
{
	const struct bench *b = th->b;
	uint64_t gidx = bench_user_gidx(th, th->next_user);
	const struct bench_item *it = &b->items[gidx % b->n_items];
	struct fs_req q = {
		.op = FS_OP_BUY,
		.qty = (uint16_t)b->o.qty,
		.item_id = it->id,
		.user_id = b->o.user_base + gidx,
		.request_id = th->slots[s].request_id,
	};

	if (it->require_token)
		fs_token_buy(it->token_key, q.user_id, it->activity_id, q.token);
	dp_fsp_encode_req(&q, msg);
}

/* Build datagram d of the pending burst from the work cursor; returns its
 * message count (0 when the work is done). */
static unsigned build_dgram(struct bench_thread *th, unsigned d)
{
	uint8_t *buf = th->txbuf[d];
	unsigned n = 0;

	while (n < th->b->o.batch && !th->gen_done) {
		uint32_t s = bench_slot_take(th, (uint32_t)th->next_user);
		build_msg(th, s, buf + FSP_HDR_LEN + (size_t)FSP_MSG_LEN * n);
		th->tx_slot[d][n++] = s;
		next_work(th);
	}
	if (n > 0)
		dp_fsp_write_header(buf, n);
	th->tx_count[d] = n;
	th->tx_iov[d].iov_len = FSP_HDR_LEN + (size_t)FSP_MSG_LEN * n;
	th->built_msgs += n;
	return n;
}

/* How many more datagrams may be built now: the closed-loop window or the
 * open-loop schedule, the burst room and the free slots. */
static unsigned tx_budget(struct bench_thread *th, int64_t now)
{
	const struct bench *b = th->b;
	uint64_t m = b->o.batch, want, n;

	if (th->gen_done || th->stopped)
		return 0;
	if (b->o.rate) {
		double due = (double)(now - b->start_ns) * 1e-9 * (double)b->o.rate /
			     (double)b->n_threads;
		want = due > (double)th->built_msgs ? (uint64_t)(due - (double)th->built_msgs) / m
						    : 0;
	} else {
		uint64_t window = b->o.concurrency * m;
		want = th->busy + m <= window ? (window - th->busy) / m : 0;
	}
	n = want < FS_BURST_MAX - th->tx_pending ? want : FS_BURST_MAX - th->tx_pending;
	if (n > th->free_count / m) {
		th->st.slot_stalls++;
		n = th->free_count / m;
	}
	return (unsigned)n;
}

/* Datagrams [0, sent) left: stamp their messages and put them in flight,
 * then move the unsent rest to the front. */
static void tx_sent(struct bench_thread *th, unsigned sent, int64_t t)
{
	for (unsigned d = 0; d < sent; d++) {
		for (unsigned m = 0; m < th->tx_count[d]; m++) {
			uint32_t s = th->tx_slot[d][m];
			th->slots[s].send_ns = t;
			th->slots[s].state = SLOT_INFLIGHT;
			bench_infl_append(th, s);
		}
		th->st.sent_msgs += th->tx_count[d];
	}
	th->st.sent_dgrams += sent;
	if (th->st.first_send_ns == 0)
		th->st.first_send_ns = t;
	th->st.last_send_ns = t;
	for (unsigned d = sent; d < th->tx_pending; d++) {
		unsigned to = d - sent;
		memcpy(th->txbuf[to], th->txbuf[d], th->tx_iov[d].iov_len);
		memcpy(th->tx_slot[to], th->tx_slot[d], sizeof(th->tx_slot[d]));
		th->tx_count[to] = th->tx_count[d];
		th->tx_iov[to].iov_len = th->tx_iov[d].iov_len;
	}
	th->tx_pending -= sent;
}

/* Give back the slots of datagrams that will never be sent. */
void bench_tx_drop(struct bench_thread *th)
{
	for (unsigned d = 0; d < th->tx_pending; d++)
		for (unsigned m = 0; m < th->tx_count[d]; m++) {
			th->slots[th->tx_slot[d][m]].state = SLOT_FREE;
			bench_slot_free(th, th->tx_slot[d][m]);
		}
	th->tx_pending = 0;
}

static void tx_error(struct bench_thread *th, int err)
{
	if (err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS || err == EINTR)
		return;
	if (err == ECONNREFUSED) {
		/* An ICMP port unreachable for an earlier datagram; these were not sent. */
		th->st.refused++;
		return;
	}
	th->fatal = -err;
	th->stopped = true;
	bench_tx_drop(th);
}

/* Build what the budget allows and send the pending burst. Returns the
 * datagrams sent. */
unsigned bench_tx_some(struct bench_thread *th, int64_t now)
{
	unsigned want = tx_budget(th, now);
	int64_t t;
	int r;

	for (unsigned i = 0; i < want; i++) {
		if (build_dgram(th, th->tx_pending) == 0)
			break;
		th->tx_pending++;
	}
	if (th->tx_pending == 0)
		return 0;
	t = fs_mono_ns();
	r = sendmmsg(th->fd, th->tx_mh, th->tx_pending, MSG_DONTWAIT);
	if (r <= 0) {
		if (r < 0)
			tx_error(th, errno);
		return 0;
	}
	tx_sent(th, (unsigned)r, t);
	return (unsigned)r;
}

/* Book an answer's outcome for the verdict. */
static void account(struct bench_thread *th, const struct slot *e, const struct fs_resp *r)
{
	const struct bench *b = th->b;
	uint32_t ii = (uint32_t)(bench_user_gidx(th, e->user_local) % b->n_items);
	uint32_t w;

	if (b->o.echo)
		return; /* an echo is our own request: nothing to book */
	th->st.status[r->status < FS_ST_COUNT ? r->status : FS_ST_COUNT]++;
	if (r->op != FS_OP_BUY || r->item_id != b->items[ii].id) {
		th->st.mismatched++;
		return;
	}
	if (r->status != FS_ST_OK)
		return;
	w = th->user_won[e->user_local];
	th->user_won[e->user_local] = w > UINT32_MAX - r->qty ? UINT32_MAX : w + r->qty;
	th->item_won[ii] += r->qty;
	if (r->order_id == 0)
		th->st.zero_orders++;
	else if (th->n_ok < th->ok_cap)
		th->ok_orders[th->n_ok++] = r->order_id;
	else
		th->ok_overflow++;
}

static void rx_msg(struct bench_thread *th, const uint8_t *msg, int64_t now)
{
	struct fs_resp r;
	uint64_t s;
	struct slot *e;

	dp_fsp_decode_resp(msg, &r);
	th->st.rx_msgs++;
	s = r.request_id & SLOT_MASK;
	e = s < th->nslots ? &th->slots[s] : NULL;
	if (!e || e->request_id != r.request_id || e->state == SLOT_FREE ||
	    e->state == SLOT_BUILT ||
	    r.user_id != th->b->o.user_base + bench_user_gidx(th, e->user_local)) {
		th->st.stale++;
		return;
	}
	if (e->state == SLOT_DONE) {
		th->st.dup++;
		return;
	}
	if (e->state == SLOT_INFLIGHT) {
		uint64_t lat = now > e->send_ns ? (uint64_t)(now - e->send_ns) : 0;
		th->st.hist[bench_hist_index(lat)]++;
		th->st.lat_count++;
		if (lat > th->st.lat_max_ns)
			th->st.lat_max_ns = lat;
		bench_infl_unlink(th, (uint32_t)s);
		bench_slot_free(th, (uint32_t)s);
		th->st.answered++;
		th->st.answered_in_window += !th->sending_over;
	} else {
		th->st.late++; /* SLOT_LOST: counted lost, answered after all */
	}
	e->state = SLOT_DONE;
	account(th, e, &r);
}

/* One received datagram: framing first, then every message. */
static void rx_dgram(struct bench_thread *th, unsigned i, int64_t now)
{
	const uint8_t *buf = th->rxbuf[i];
	int n = (th->rx_mh[i].msg_hdr.msg_flags & MSG_TRUNC)
			? -DP_FSP_ERR_LENGTH
			: dp_fsp_parse_header(buf, th->rx_mh[i].msg_len);

	if (n < 0) {
		th->st.malformed++;
		return;
	}
	for (int m = 0; m < n; m++)
		rx_msg(th, buf + FSP_HDR_LEN + (size_t)FSP_MSG_LEN * m, now);
}

unsigned bench_rx_some(struct bench_thread *th)
{
	int r = recvmmsg(th->fd, th->rx_mh, FS_BURST_MAX, MSG_DONTWAIT, NULL);
	int64_t now;

	if (r <= 0) {
		if (r < 0 && errno == ECONNREFUSED)
			th->st.refused++;
		return 0;
	}
	now = fs_mono_ns();
	for (int i = 0; i < r; i++)
		rx_dgram(th, (unsigned)i, now);
	th->st.rx_dgrams += (uint64_t)r;
	return (unsigned)r;
}
