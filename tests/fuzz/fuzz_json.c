/*
 * fuzz_json.c — the strict JSON reader (dataplane/dp_http_json.c) on
 * arbitrary bytes, with the field set of a BUY body.
 *
 * Checks, besides memory safety (the driver hands an exactly-sized heap
 * copy, so an over-read is an ASan report): the reader is deterministic; a
 * text it accepts has every required field and values within their bounds,
 * is still accepted (with the same values) inside JSON whitespace, ends with
 * the object's closing brace, and is rejected once that brace is cut off.
 */
#include <stdlib.h>
#include <string.h>

#include "dp_http.h"
#include "fs_common.h"
#include "fuzz.h"

enum { F_ITEM, F_USER, F_REQUEST_ID, F_QTY, F_TOKEN, F_COUNT };

static int read_buy(const char *text, size_t len, struct dp_json_field *f)
{
	const struct dp_json_field init[F_COUNT] = {
		[F_ITEM] = {.name = "item",
			    .kind = DP_JSON_U64,
			    .max = UINT32_MAX,
			    .required = true},
		[F_USER] = {.name = "user",
			    .kind = DP_JSON_U64,
			    .max = UINT64_MAX,
			    .required = true},
		[F_REQUEST_ID] = {.name = "request_id",
				  .kind = DP_JSON_U64,
				  .max = UINT64_MAX,
				  .required = true},
		[F_QTY] = {.name = "qty", .kind = DP_JSON_U64, .max = UINT16_MAX},
		[F_TOKEN] = {.name = "token", .kind = DP_JSON_TOKEN},
	};

	memcpy(f, init, sizeof(init));
	return dp_json_read(text, len, f, F_COUNT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dp_json_field a[F_COUNT], b[F_COUNT];
	const char *text = (const char *)data;
	int rc = read_buy(text, size, a), rc2;
	char *wrapped;

	FS_ASSERT(rc <= 0 && rc >= -DP_JSON_MISSING);
	rc2 = read_buy(text, size, b);
	FS_ASSERT(rc == rc2);
	if (rc != 0)
		return 0;
	for (int i = 0; i < F_COUNT; i++)
		FS_ASSERT(!a[i].required || a[i].seen);
	FS_ASSERT(a[F_ITEM].u64 <= UINT32_MAX && (!a[F_QTY].seen || a[F_QTY].u64 <= UINT16_MAX));
	FS_ASSERT(memcmp(a, b, sizeof(a)) == 0);
	wrapped = malloc(size + 4);
	memcpy(wrapped + 2, data, size);
	memcpy(wrapped, " \n", 2);
	memcpy(wrapped + 2 + size, "\t\r", 2);
	FS_ASSERT(read_buy(wrapped, size + 4, b) == 0);
	FS_ASSERT(b[F_USER].u64 == a[F_USER].u64 && b[F_REQUEST_ID].u64 == a[F_REQUEST_ID].u64);
	free(wrapped);
	/* The text ends at its closing brace (plus whitespace): one byte less fails. */
	size_t end = size;
	while (end > 0 && (text[end - 1] == ' ' || text[end - 1] == '\t' || text[end - 1] == '\n' ||
			   text[end - 1] == '\r'))
		end--;
	FS_ASSERT(end > 0 && text[end - 1] == '}');
	FS_ASSERT(read_buy(text, end - 1, b) != 0);
	return 0;
}

static const char *const seeds[] = {
	"{\"item\":1001,\"user\":777,\"request_id\":42,\"qty\":1,"
	"\"token\":\"86625a502acbba02624797a4a09b3aca\"}",
	"{\"item\":4294967295,\"user\":18446744073709551615,\"request_id\":1}",
	" { \"request_id\" : 9 , \"user\" : 1 , \"item\" : 0 , \"x\" : [ 1.5e-3 , null , true , "
	"false , { \"y\" : \"\\u00e9\\ud83d\\ude00\\n\" } ] } ",
	"{\"item\":1,\"user\":2,\"request_id\":3,\"\\u0071ty\":7,\"note\":\"caf\xc3\xa9 "
	"\xe2\x82\xac\"}",
	"{\"item\":1,\"user\":2,\"request_id\":3,\"a\":{\"b\":{\"c\":{\"d\":[[[[1]]]]}}}}",
	"{\"item\":1,\"item\":2,\"user\":-1,\"request_id\":1.0}",
};

size_t fuzz_seed(size_t i, const uint8_t **data)
{
	if (i >= sizeof(seeds) / sizeof(seeds[0]))
		return 0;
	*data = (const uint8_t *)seeds[i];
	return strlen(seeds[i]);
}
