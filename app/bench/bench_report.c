/*
 * bench_report.c — the results: throughput over the sending interval,
 * latency percentiles, counters, per-status counts, per-item lines and the
 * verdict, as text or as one JSON object (--json). Scripts and the
 * integration tests read both formats: keys and wording are an interface.
 */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double pct_us(const struct bench_stats *tot, double q)
{
	return (double)bench_hist_pct(tot->hist, tot->lat_count, tot->lat_max_ns, q) / 1e3;
}

void bench_figures(const struct bench_stats *tot, int64_t end_ns, struct figures *f)
{
	int64_t span = tot->last_send_ns - tot->first_send_ns;

	/* A run that fits in one burst has no sending interval to speak of:
	 * measure it to the end of the run instead. */
	if (span < FS_NS_PER_MS && tot->first_send_ns)
		span = end_ns - tot->first_send_ns;
	if (span <= 0)
		span = 1;
	f->interval_s = (double)span / 1e9;
	f->msgs_per_s = (double)tot->answered_in_window / f->interval_s;
	f->dgrams_per_s = (double)tot->sent_dgrams / f->interval_s;
	f->p50_us = pct_us(tot, 0.50);
	f->p99_us = pct_us(tot, 0.99);
	f->p999_us = pct_us(tot, 0.999);
	f->max_us = (double)tot->lat_max_ns / 1e3;
}

const char *bench_mode_text(const struct bench *b, char *buf, size_t len)
{
	if (b->o.rate)
		snprintf(buf, len, "open loop %" PRIu64 " msgs/s", b->o.rate);
	else
		snprintf(buf, len, "closed loop %" PRIu64 " datagrams in flight per thread",
			 b->o.concurrency);
	return buf;
}

static void print_items_text(const struct bench *b)
{
	unsigned shown = 0, hidden_bad = 0;

	for (unsigned i = 0; i < b->n_items; i++) {
		const struct bench_item *it = &b->items[i];
		bool ok = bench_item_ok(it);
		if (shown >= BENCH_ITEMS_SHOWN && ok) {
			continue;
		}
		if (shown >= BENCH_ITEMS_SHOWN_BAD) {
			hidden_bad += !ok;
			continue;
		}
		shown++;
		if (!bench_item_checked(it)) {
			printf("item %u: ITEM_STATUS %s before, %s after: not checked\n", it->id,
			       fs_status_name(it->st_before), fs_status_name(it->st_after));
			continue;
		}
		printf("item %u: available %u -> %u, won %" PRIu64 " by OK BUYs: %s%s\n", it->id,
		       it->avail_before, it->avail_after, it->won, ok ? "ok" : "MISMATCH",
		       !ok || it->avail_after != 0 ? ""
		       : it->avail_before > 0      ? ", sold exactly the stock"
						   : " (sold out before the run)");
	}
	if (b->n_items > shown)
		printf("(%u more items not shown, %u of them mismatched)\n", b->n_items - shown,
		       hidden_bad);
}

static void print_verdict_text(const struct bench *b, const struct verdict *v)
{
	print_items_text(b);
	if (v->limit_unknown)
		printf("per-user limit: not checked (no --config)\n");
	else if (v->over_limit == 0)
		printf("per-user limit: no user over per_user_limit (%" PRIu64 " users)\n",
		       b->o.users);
	else
		printf("per-user limit: %" PRIu64 " users OVER per_user_limit (first: user %" PRIu64
		       ")\n", v->over_limit, v->first_over_user);
	printf("order ids: %" PRIu64 " from OK answers, %" PRIu64 " duplicate(s)%s\n", v->ok_ids,
	       v->dup_orders, v->unchecked ? ", some not checked" : "");
	if (v->pass)
		printf("verdict: PASS\n");
	else
		printf("verdict: FAIL (%s)\n", v->reasons);
}

void bench_print_text(const struct bench *b, const struct bench_stats *tot,
		      const struct figures *f, const struct verdict *v)
{
	char mode[BENCH_MODE_TEXT_BYTES];

	printf("flashsale-bench: target %s%s, %u thread(s), batch %" PRIu64 ", %s\n", b->target,
	       b->o.echo ? " (echo)" : "", b->n_threads, b->o.batch,
	       bench_mode_text(b, mode, sizeof(mode)));
	printf("messages:   sent %" PRIu64 "  answered %" PRIu64 "  lost %" PRIu64 "  (late %" PRIu64
	       ", stale %" PRIu64 ", duplicate %" PRIu64 ", mismatched %" PRIu64 ")\n",
	       tot->sent_msgs, tot->answered, tot->lost, tot->late, tot->stale, tot->dup,
	       tot->mismatched);
	printf("datagrams:  sent %" PRIu64 "  received %" PRIu64 "  malformed %" PRIu64
	       "  (refused %" PRIu64 ", slot stalls %" PRIu64 ")\n", tot->sent_dgrams,
	       tot->rx_dgrams, tot->malformed, tot->refused, tot->slot_stalls);
	printf("throughput: %.0f answered msgs/s, %.0f datagrams/s sent, over %.3f s\n",
	       f->msgs_per_s, f->dgrams_per_s, f->interval_s);
	printf("latency us: p50 %.1f  p99 %.1f  p999 %.1f  max %.1f  (%" PRIu64 " samples)\n",
	       f->p50_us, f->p99_us, f->p999_us, f->max_us, tot->lat_count);
	if (!b->o.echo) {
		printf("status:    ");
		for (unsigned i = 0; i <= FS_ST_COUNT; i++)
			if (tot->status[i])
				printf(" %s %" PRIu64, i < FS_ST_COUNT ? fs_status_name(i) : "unknown",
				       tot->status[i]);
		printf("\n");
	}
	if (v)
		print_verdict_text(b, v);
}

static void print_json_items(const struct bench *b)
{
	printf(",\"items\":[");
	for (unsigned i = 0; i < b->n_items; i++) {
		const struct bench_item *it = &b->items[i];
		printf("%s{\"id\":%u,\"won\":%" PRIu64, i ? "," : "", it->id, it->won);
		if (it->st_before == FS_ST_OK)
			printf(",\"available_before\":%u", it->avail_before);
		if (it->st_after == FS_ST_OK)
			printf(",\"available_after\":%u", it->avail_after);
		printf(",\"checked\":%s,\"ok\":%s}", bench_item_checked(it) ? "true" : "false",
		       bench_item_ok(it) ? "true" : "false");
	}
	printf("]");
}

static void print_json_verdict(const struct bench *b, const struct verdict *v)
{
	print_json_items(b);
	printf(",\"users_over_limit\":%" PRIu64 ",\"limit_checked\":%s,\"ok_order_ids\":%" PRIu64
	       ",\"duplicate_order_ids\":%" PRIu64 ",\"unchecked_order_ids\":%" PRIu64
	       ",\"verdict\":\"%s\",\"reasons\":\"%s\"", v->over_limit,
	       v->limit_unknown ? "false" : "true", v->ok_ids, v->dup_orders, v->unchecked,
	       v->pass ? "PASS" : "FAIL", v->reasons);
}

void bench_print_json(const struct bench *b, const struct bench_stats *tot,
		      const struct figures *f, const struct verdict *v)
{
	printf("{\"target\":\"%s\",\"echo\":%s,\"threads\":%u,\"batch\":%" PRIu64
	       ",\"mode\":\"%s\",\"concurrency\":%" PRIu64 ",\"rate\":%" PRIu64
	       ",\"users\":%" PRIu64 ",\"attempts\":%" PRIu64 ",\"loop\":%s,\"seed\":%" PRIu64,
	       b->target, b->o.echo ? "true" : "false", b->n_threads, b->o.batch,
	       b->o.rate ? "open" : "closed", b->o.rate ? 0 : b->o.concurrency, b->o.rate,
	       b->o.users, b->o.attempts, b->o.loop ? "true" : "false", b->o.seed);
#define X(name) printf(",\"" #name "\":%" PRIu64, tot->name);
	BENCH_COUNTERS(X)
#undef X
	printf(",\"interval_s\":%.6f,\"answered_msgs_per_s\":%.1f,\"sent_dgrams_per_s\":%.1f",
	       f->interval_s, f->msgs_per_s, f->dgrams_per_s);
	printf(",\"latency_us\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}", f->p50_us,
	       f->p99_us, f->p999_us, f->max_us);
	printf(",\"status\":{");
	for (unsigned i = 0, n = 0; i <= FS_ST_COUNT; i++)
		if (tot->status[i])
			printf("%s\"%s\":%" PRIu64, n++ ? "," : "",
			       i < FS_ST_COUNT ? fs_status_name(i) : "unknown", tot->status[i]);
	printf("}");
	if (v)
		print_json_verdict(b, v);
	else
		printf(",\"verdict\":\"%s\"", b->o.echo ? "echo" : "skipped");
	printf("}\n");
}
