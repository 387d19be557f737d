/*
 * bench_status.c — ITEM_STATUS for every item under test, before the run
 * (available_before, and is every item known?) and after it
 * (available_after), in windows of BENCH_STATUS_WINDOW messages, up to
 * BENCH_STATUS_TRIES rounds. Request ids are the item's index + 1 (plus
 * BENCH_STATUS_AFTER_ID after the run), so an answer finds its item without
 * a table and a late answer to the first round cannot pass for the second.
 */
#include "bench.h"

#include <poll.h>
#include <unistd.h>
#include "dp.h"
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint8_t *item_st(struct bench_item *it, bool after)
{
	return after ? &it->st_after : &it->st_before;
}

/* Send ITEM_STATUS for the items of [lo, hi) that have no answer yet, in
 * datagrams of up to 32. Request ids are index + 1 (+ 2^40 after the run). */
static void status_send(struct bench *b, int fd, unsigned lo, unsigned hi, bool after)
{
	uint8_t buf[BENCH_DGRAM_MAX_BYTES];
	unsigned n = 0;

	for (unsigned i = lo; i < hi; i++) {
		struct fs_req q = {.op = FS_OP_ITEM_STATUS, .item_id = b->items[i].id};
		if (*item_st(&b->items[i], after) != STATUS_NONE)
			continue;
		q.request_id = (after ? BENCH_STATUS_AFTER_ID : 0) + i + 1;
		dp_fsp_encode_req(&q, buf + FSP_HDR_LEN + FSP_MSG_LEN * n++);
		if (n == FS_MSGS_MAX || i + 1 == hi) {
			dp_fsp_write_header(buf, n);
			(void)send(fd, buf, FSP_HDR_LEN + FSP_MSG_LEN * n, 0);
			n = 0;
		}
	}
	if (n > 0) {
		dp_fsp_write_header(buf, n);
		(void)send(fd, buf, FSP_HDR_LEN + FSP_MSG_LEN * n, 0);
	}
}

/* Take one ITEM_STATUS answer datagram; returns how many items it answered. */
static unsigned status_take(struct bench *b, const uint8_t *buf, ssize_t len, bool after)
{
	int n = len > 0 ? dp_fsp_parse_header(buf, (size_t)len) : -1;
	unsigned got = 0;

	for (int m = 0; m < n; m++) {
		struct fs_resp r;
		uint64_t idx;
		struct bench_item *it;

		dp_fsp_decode_resp(buf + FSP_HDR_LEN + FSP_MSG_LEN * m, &r);
		idx = r.request_id - (after ? BENCH_STATUS_AFTER_ID : 0) - 1;
		if (r.op != FS_OP_ITEM_STATUS || idx >= b->n_items)
			continue;
		it = &b->items[idx];
		if (r.item_id != it->id || *item_st(it, after) != STATUS_NONE)
			continue;
		*item_st(it, after) = r.status < FS_ST_COUNT ? r.status : FS_ST_COUNT;
		*(after ? &it->avail_after : &it->avail_before) = r.available;
		got++;
	}
	return got;
}

/* One window [lo, hi): send, then read answers until all came or timeout. */
static void status_window(struct bench *b, int fd, unsigned lo, unsigned hi, bool after)
{
	uint8_t buf[BENCH_RX_BUF_BYTES];
	int64_t deadline = fs_mono_ns() + b->timeout_ns;
	unsigned missing = 0;

	for (unsigned i = lo; i < hi; i++)
		missing += *item_st(&b->items[i], after) == STATUS_NONE;
	if (missing == 0)
		return;
	status_send(b, fd, lo, hi, after);
	while (missing > 0) {
		int64_t left_ms = (deadline - fs_mono_ns()) / FS_NS_PER_MS;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (left_ms <= 0 || poll(&p, 1, (int)left_ms) <= 0)
			break;
		ssize_t len = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		unsigned got = status_take(b, buf, len, after);
		missing -= got < missing ? got : missing;
	}
}

/* ITEM_STATUS for every item, up to BENCH_STATUS_TRIES rounds. Returns how
 * many items were answered, or -errno if no socket. */
int bench_query_items(struct bench *b, bool after)
{
	int fd = bench_socket(b);
	int answered = 0;

	if (fd < 0) {
		fprintf(stderr, "flashsale-bench: socket: %s\n", fs_strerror(fd));
		return fd;
	}
	for (int t = 0; t < BENCH_STATUS_TRIES; t++)
		for (unsigned lo = 0; lo < b->n_items; lo += BENCH_STATUS_WINDOW) {
			unsigned hi = lo + BENCH_STATUS_WINDOW;
			status_window(b, fd, lo, hi < b->n_items ? hi : b->n_items, after);
		}
	close(fd);
	for (unsigned i = 0; i < b->n_items; i++)
		answered += *item_st(&b->items[i], after) != STATUS_NONE;
	return answered;
}

/* Before the run: every item must be known to the server. Returns 0, 2
 * (config error) or 3 (no answer at all). */
int bench_pre_status(struct bench *b)
{
	int answered = bench_query_items(b, false);

	if (answered < 0)
		return 2;
	if (answered == 0) {
		fprintf(stderr, "flashsale-bench: no answer to ITEM_STATUS from %s within %" PRIu64
			" ms (x%d): is the server up?\n", b->target, b->o.timeout_ms,
			BENCH_STATUS_TRIES);
		return 3;
	}
	for (unsigned i = 0; i < b->n_items; i++) {
		const struct bench_item *it = &b->items[i];
		if (it->st_before == FS_ST_UNKNOWN_ITEM) {
			fprintf(stderr, "flashsale-bench: the server does not know item %u "
				"(another config?)\n", it->id);
			return 2;
		}
		if (it->st_before == STATUS_NONE)
			fprintf(stderr, "flashsale-bench: warning: no ITEM_STATUS for item %u\n",
				it->id);
		else if (it->st_before != FS_ST_OK)
			fprintf(stderr, "flashsale-bench: warning: ITEM_STATUS of item %u: %s\n",
				it->id, fs_status_name(it->st_before));
	}
	return 0;
}
