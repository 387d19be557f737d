/*
 * fuzz_wal.c — the write-ahead log's record decoder on arbitrary bytes (what
 * recovery reads from a damaged disk): it must classify every input as a
 * record, a torn tail or corruption without over-reading, and a record it
 * accepts must re-encode to the same bytes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "persist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The decoder wants 8-byte alignment, as records have on disk. */
	uint64_t *buf = malloc(size ? (size + 7) & ~(size_t)7 : 8);
	uint8_t again[WAL_RECORD_MAX];
	struct wal_record rec;
	int n;

	memcpy(buf, data, size);
	n = wal_record_decode(buf, size, &rec);
	FS_ASSERT(n == -ENODATA || n == -EBADMSG || (n > 0 && (size_t)n <= size));
	if (n > 0) {
		struct store_change ch;
		if (rec.type == WAL_REC_CHANGE && rec.len == WAL_CHANGE_BYTES &&
		    wal_change_decode(rec.payload, &ch) == 0) {
			uint8_t p[WAL_CHANGE_BYTES];
			wal_change_encode(p, &ch);
			FS_ASSERT(memcmp(p, rec.payload, sizeof(p)) == 0);
		}
		FS_ASSERT(wal_record_encode(again, sizeof(again), rec.lsn, rec.type, rec.payload,
					    rec.len) == n);
		FS_ASSERT(memcmp(again, buf, (size_t)n) == 0);
	}
	free(buf);
	return 0;
}

size_t fuzz_seed(size_t i, const uint8_t **data)
{
	static uint64_t rec[(WAL_CHANGE_RECORD_BYTES + 7) / 8 * 2];
	struct store_change ch = {.type = STORE_CH_RESERVE, .qty = 2, .item_id = 1001,
				  .order_id = 257, .user_id = 777, .request_id = 42,
				  .time_ns = 1700000000000000000LL};
	uint8_t p[WAL_CHANGE_BYTES];
	int n;

	if (i > 1)
		return 0;
	if (i == 1)
		ch.type = STORE_CH_PAY, ch.ref = 9;
	wal_change_encode(p, &ch);
	n = wal_record_encode(rec, sizeof(rec), 5 + i, WAL_REC_CHANGE, p, sizeof(p));
	*data = (const uint8_t *)rec;
	return n > 0 ? (size_t)n : 0;
}
