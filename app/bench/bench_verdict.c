/*
 * bench_verdict.c — the verdict over the merged results (bench.h,
 * "Verdict"): (1) per item, units won by OK BUYs == available_before -
 * available_after; (2) no user over its item's per_user_limit; (3) no
 * duplicate order id and none 0 among OK answers. Every failed check adds
 * a reason to one line.
 */
#include "bench.h"

#include <stdarg.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Check (2): users over their item's per_user_limit. */
static void check_limits(const struct bench *b, struct verdict *v)
{
	for (unsigned t = 0; t < b->n_threads; t++) {
		const struct bench_thread *th = &b->th[t];
		for (uint64_t j = 0; j < th->n_users; j++) {
			uint64_t g = bench_user_gidx(th, j);
			const struct bench_item *it = &b->items[g % b->n_items];
			if (it->per_user_limit == 0) {
				v->limit_unknown = true;
				continue;
			}
			if (th->user_won[j] <= it->per_user_limit)
				continue;
			if (v->over_limit++ == 0 || b->o.user_base + g < v->first_over_user)
				v->first_over_user = b->o.user_base + g;
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* Check (3): duplicate order ids among the OK answers of all threads. */
static void check_orders(const struct bench *b, struct verdict *v)
{
	uint64_t n = 0, *all;

	for (unsigned t = 0; t < b->n_threads; t++) {
		n += b->th[t].n_ok;
		v->unchecked += b->th[t].ok_overflow;
	}
	all = malloc((n ? n : 1) * sizeof(*all));
	if (!all) {
		v->unchecked += n;
		return;
	}
	n = 0;
	for (unsigned t = 0; t < b->n_threads; t++) {
		memcpy(all + n, b->th[t].ok_orders, b->th[t].n_ok * sizeof(*all));
		n += b->th[t].n_ok;
	}
	qsort(all, n, sizeof(*all), cmp_u64);
	for (uint64_t i = 1; i < n; i++)
		v->dup_orders += all[i] == all[i - 1];
	v->ok_ids = n;
	free(all);
}

static void add_reason(struct verdict *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void add_reason(struct verdict *v, const char *fmt, ...)
{
	size_t len = strlen(v->reasons);
	va_list ap;

	if (len > 0 && len + 2 < sizeof(v->reasons)) {
		strcpy(v->reasons + len, "; ");
		len += 2;
	}
	va_start(ap, fmt);
	vsnprintf(v->reasons + len, sizeof(v->reasons) - len, fmt, ap);
	va_end(ap);
	v->pass = false;
}

bool bench_item_checked(const struct bench_item *it)
{
	return it->st_before == FS_ST_OK && it->st_after == FS_ST_OK;
}

bool bench_item_ok(const struct bench_item *it)
{
	return bench_item_checked(it) &&
	       (int64_t)it->won == (int64_t)it->avail_before - (int64_t)it->avail_after;
}

void bench_judge(const struct bench *b, const struct bench_stats *tot, struct verdict *v)
{
	memset(v, 0, sizeof(*v));
	v->pass = true;
	for (unsigned i = 0; i < b->n_items; i++) {
		v->unknown_items += !bench_item_checked(&b->items[i]);
		v->bad_items += bench_item_checked(&b->items[i]) && !bench_item_ok(&b->items[i]);
	}
	check_limits(b, v);
	check_orders(b, v);
	if (v->bad_items)
		add_reason(v, "%u item(s) won != sold", v->bad_items);
	if (v->unknown_items)
		add_reason(v, "%u item(s) without ITEM_STATUS", v->unknown_items);
	if ((v->bad_items || v->unknown_items) && tot->lost > tot->late)
		add_reason(v, "%" PRIu64 " BUYs never answered", tot->lost - tot->late);
	if (v->over_limit)
		add_reason(v, "%" PRIu64 " user(s) over per_user_limit, first user %" PRIu64,
			   v->over_limit, v->first_over_user);
	if (v->dup_orders)
		add_reason(v, "%" PRIu64 " duplicate order id(s)", v->dup_orders);
	if (tot->zero_orders)
		add_reason(v, "%" PRIu64 " OK answer(s) with order id 0", tot->zero_orders);
	if (v->unchecked)
		add_reason(v, "%" PRIu64 " order id(s) not checked", v->unchecked);
}
