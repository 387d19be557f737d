/*
 * fuzz_fsp.c — the FSP/1 codec on arbitrary datagrams: framing must reject
 * or accept without over-reading, and every accepted message must survive a
 * decode → encode → decode round trip unchanged.
 */
#include <string.h>

#include "dp.h"
#include "fs_common.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int count = dp_fsp_parse_header(data, size);
	uint8_t again[FSP_MSG_LEN];

	if (count < 0) {
		FS_ASSERT(count >= -DP_FSP_ERR_LENGTH);
		return 0;
	}
	FS_ASSERT(count >= 1 && count <= 32 && size == FSP_HDR_LEN + FSP_MSG_LEN * (size_t)count);
	for (int i = 0; i < count; i++) {
		const uint8_t *m = data + FSP_HDR_LEN + FSP_MSG_LEN * (size_t)i;
		struct fs_req a, b;
		struct fs_resp ra, rb;

		/* Zero the structs' padding so memcmp compares fields only. */
		memset(&a, 0, sizeof(a));
		memset(&b, 0, sizeof(b));
		memset(&ra, 0, sizeof(ra));
		memset(&rb, 0, sizeof(rb));
		dp_fsp_decode_req(m, &a);
		dp_fsp_encode_req(&a, again);
		dp_fsp_decode_req(again, &b);
		FS_ASSERT(memcmp(&a, &b, sizeof(a)) == 0);
		dp_fsp_decode_resp(m, &ra);
		dp_fsp_encode_resp(&ra, again);
		dp_fsp_decode_resp(again, &rb);
		FS_ASSERT(memcmp(&ra, &rb, sizeof(ra)) == 0);
	}
	return 0;
}

/* The PROTOCOL.md example BUY, and a two-message datagram. */
static const uint8_t seed_buy[] = {
	0x46, 0x53, 0x01, 0x01, 0, 0, 0, 0,
	0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x03, 0xe9, 0, 0, 0, 0, 0, 0, 0x03, 0x09,
	0, 0, 0, 0, 0, 0, 0, 0x2a, 0, 0, 0, 0, 0, 0, 0, 0,
	0x86, 0x62, 0x5a, 0x50, 0x2a, 0xcb, 0xba, 0x02, 0x62, 0x47, 0x97, 0xa4, 0xa0, 0x9b, 0x3a, 0xca,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

size_t fuzz_seed(size_t i, const uint8_t **data)
{
	static uint8_t two[8 + 128];

	if (i == 0) {
		*data = seed_buy;
		return sizeof(seed_buy);
	}
	if (i == 1) {
		memcpy(two, seed_buy, sizeof(seed_buy));
		memcpy(two + 72, seed_buy + 8, 64);
		two[3] = 2;
		*data = two;
		return sizeof(two);
	}
	return 0;
}
