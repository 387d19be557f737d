/*
 * fuzz_admin_def.c — the catalog definition on arbitrary bytes, both ways in:
 * the admin API's JSON body (app/fs_admin_def.c, fs_admin_parse_def) and the
 * log record (persist/wal_record.c, wal_catalog_decode).
 *
 * Checks, besides memory safety: the JSON reader is deterministic and an
 * accepted body has request_id and activity_id > 0 and at most
 * STORE_DEFINE_ITEMS_MAX items, each with an id; every refusal has a
 * sentence. A record the decoder accepts encodes back to the same bytes
 * (the format has one spelling), and every accepted definition (from either
 * side) survives encode + decode unchanged.
 */
#include <errno.h>
#include <string.h>

#include "fs_admin.h"
#include "fs_common.h"
#include "fuzz.h"

static void roundtrip(const struct store_catalog_def *d)
{
	static uint8_t buf[WAL_PAYLOAD_MAX];
	static struct store_catalog_def back;
	int n = wal_catalog_encode(buf, sizeof(buf), d);

	FS_ASSERT(n > 0);
	FS_ASSERT(wal_catalog_decode(buf, (uint32_t)n, &back) == 0);
	FS_ASSERT(back.request_id == d->request_id && back.act.id == d->act.id &&
		  back.n_items == d->n_items && back.has_activity == d->has_activity);
	for (uint32_t k = 0; k < d->n_items; k++)
		FS_ASSERT(memcmp(&back.items[k], &d->items[k], sizeof(d->items[k])) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct store_catalog_def a, b;
	static uint8_t again[WAL_PAYLOAD_MAX];
	char why[192];
	bool act = size && (data[0] & 1);

	for (int pass = 0; pass < 2; pass++, act = !act) {
		int rc = fs_admin_parse_def((const char *)data, size, act, &a, why, sizeof(why));
		FS_ASSERT(rc == 0 || rc == -EINVAL);
		FS_ASSERT(fs_admin_parse_def((const char *)data, size, act, &b, why, sizeof(why)) ==
			  rc);
		if (rc) {
			FS_ASSERT(why[0] != '\0');
			continue;
		}
		FS_ASSERT(a.request_id && a.act.id && a.n_items <= STORE_DEFINE_ITEMS_MAX);
		for (uint32_t k = 0; k < a.n_items; k++)
			FS_ASSERT(a.items[k].id != 0);
		roundtrip(&a);
	}
	if (size <= WAL_PAYLOAD_MAX && wal_catalog_decode(data, (uint32_t)size, &a) == 0) {
		FS_ASSERT(wal_catalog_encode(again, sizeof(again), &a) == (int)size);
		FS_ASSERT(memcmp(again, data, size) == 0);
		roundtrip(&a);
	}
	return 0;
}

static const char *const seeds[] = {
	"{\"request_id\":1,\"activity_id\":7,\"name\":\"x \\\" y\",\"start_ns\":-1,\"end_ns\":2,"
	"\"pay_timeout_s\":60,\"require_token\":true,\"token_key\":"
	"\"000102030405060708090a0b0c0d0e0f\","
	"\"payment_key\":\"f0e0d0c0b0a090807060504030201000\",\"items\":[{\"item_id\":1,\"total\":"
	"2,"
	"\"price_cents\":3,\"per_user_limit\":4,\"max_per_order\":1},{\"item_id\":2,\"total\":0}]}",
	"{\"request_id\":9,\"activity_id\":3,\"items\":[{\"item_id\":5,\"total\":1}]}",
	" { \"request_id\" : 1 , \"activity_id\" : 1 , \"start_ns\" : 0 , \"end_ns\" : 1 } ",
};

/* Seed 3 onwards: encoded records. */
size_t fuzz_seed(size_t i, const uint8_t **data)
{
	static uint8_t rec[2][WAL_PAYLOAD_MAX];
	static struct store_catalog_def d;
	int n;

	if (i < sizeof(seeds) / sizeof(seeds[0])) {
		*data = (const uint8_t *)seeds[i];
		return strlen(seeds[i]);
	}
	i -= sizeof(seeds) / sizeof(seeds[0]);
	if (i >= 2)
		return 0;
	memset(&d, 0, sizeof(d));
	d.request_id = 77;
	d.act.id = 5;
	d.has_activity = i == 0;
	if (d.has_activity) {
		d.act.start_ns = 1;
		d.act.end_ns = 2;
		d.act.pay_timeout_s = 900;
		d.act.require_token = true;
		strcpy(d.act.name, "seed");
	}
	d.n_items = 2;
	d.items[0] = (struct store_item_def){
		.id = 1, .total = 3, .per_user_limit = 1, .max_per_order = 1};
	d.items[1] = (struct store_item_def){
		.id = 2, .total = 4, .per_user_limit = 2, .max_per_order = 2, .price_cents = 100};
	n = wal_catalog_encode(rec[i], sizeof(rec[i]), &d);
	*data = rec[i];
	return n > 0 ? (size_t)n : 0;
}
