/*
 * test_fsp.c — the FSP/1 wire codec (dataplane/dp_fsp.c) against PROTOCOL.md,
 * byte for byte, plus the token functions and name tables the codec's users
 * rely on.
 *
 * Layout tests compare against byte arrays written out by hand from the
 * PROTOCOL.md tables (not produced by the encoder), so an encoder and decoder
 * that agree with each other but not with the spec still fail. Framing tests
 * hand dp_fsp_parse_header() heap copies of exactly len bytes, so an
 * over-read shows up under AddressSanitizer.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "dp.h"
#include "fs_proto.h"
#include "fs_token.h"

#define DGRAM_MAX (FSP_HDR_LEN + FSP_MSG_LEN * 33)

/* The PROTOCOL.md example: one BUY (item 1001, user 777, request_id 42,
 * qty 1, the BUY token of the test vectors) in one 72-byte datagram. */
static const uint8_t example_buy[72] = {
	0x46, 0x53, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x03, 0xe9,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x09,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x86, 0x62, 0x5a, 0x50, 0x2a, 0xcb, 0xba, 0x02,
	0x62, 0x47, 0x97, 0xa4, 0xa0, 0x9b, 0x3a, 0xca,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static const uint8_t key_seq[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
				    0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};

/* A request with a distinct non-zero value in every field, and its bytes. */
static struct fs_req sample_req(void)
{
	struct fs_req r = {
		.op = 0x02,
		.flags = 0x81,
		.qty = 0x0304,
		.item_id = 0x05060708u,
		.user_id = 0x1112131415161718ull,
		.request_id = 0x2122232425262728ull,
		.order_id = 0x3132333435363738ull,
		.ref = 0x5152535455565758ull,
	};
	for (unsigned i = 0; i < FSP_TOKEN_LEN; i++)
		r.token[i] = (uint8_t)(0x41 + i);
	return r;
}

static const uint8_t sample_req_bytes[64] = {
	0x02, 0x81, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
	0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
	0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38,
	0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
	0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f, 0x50,
	0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static struct fs_resp sample_resp(void)
{
	struct fs_resp r = {
		.op = 0x04,
		.status = 0x0b,
		.qty = 0x0304,
		.item_id = 0x05060708u,
		.user_id = 0x1112131415161718ull,
		.request_id = 0x2122232425262728ull,
		.order_id = 0x3132333435363738ull,
		.server_time_ns = 0x4142434445464748ull,
		.deadline_ns = 0x494a4b4c4d4e4f50ull,
		.available = 0x51525354u,
		.state = 0x03,
		.retry_after_ms = 0x61626364u,
	};
	return r;
}

static const uint8_t sample_resp_bytes[64] = {
	0x04, 0x0b, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
	0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18,
	0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28,
	0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38,
	0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
	0x49, 0x4a, 0x4b, 0x4c, 0x4d, 0x4e, 0x4f, 0x50,
	0x51, 0x52, 0x53, 0x54, 0x03, 0x00, 0x00, 0x00,
	0x61, 0x62, 0x63, 0x64, 0x00, 0x00, 0x00, 0x00,
};

static void assert_req_equal(const struct fs_req *a, const struct fs_req *b)
{
	assert_int_equal(a->op, b->op);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->qty, b->qty);
	assert_int_equal(a->item_id, b->item_id);
	assert_int_equal(a->user_id, b->user_id);
	assert_int_equal(a->request_id, b->request_id);
	assert_int_equal(a->order_id, b->order_id);
	assert_memory_equal(a->token, b->token, FSP_TOKEN_LEN);
	assert_int_equal(a->ref, b->ref);
}

static void assert_resp_equal(const struct fs_resp *a, const struct fs_resp *b)
{
	assert_int_equal(a->op, b->op);
	assert_int_equal(a->status, b->status);
	assert_int_equal(a->qty, b->qty);
	assert_int_equal(a->item_id, b->item_id);
	assert_int_equal(a->user_id, b->user_id);
	assert_int_equal(a->request_id, b->request_id);
	assert_int_equal(a->order_id, b->order_id);
	assert_int_equal(a->server_time_ns, b->server_time_ns);
	assert_int_equal(a->deadline_ns, b->deadline_ns);
	assert_int_equal(a->available, b->available);
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->retry_after_ms, b->retry_after_ms);
}

/* Parse a heap copy of exactly len bytes so ASan catches any over-read. */
static int parse_exact(const uint8_t *bytes, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	if (len)
		memcpy(copy, bytes, len);
	int rc = dp_fsp_parse_header(copy, len);
	free(copy);
	return rc;
}

/* A well-formed datagram of count messages in buf (count <= 33). */
static size_t build_dgram(uint8_t *buf, unsigned count)
{
	size_t len = FSP_HDR_LEN + (size_t)FSP_MSG_LEN * count;
	memset(buf, 0x5a, len);
	buf[0] = 0x46;
	buf[1] = 0x53;
	buf[2] = 1;
	buf[3] = (uint8_t)count;
	memset(buf + 4, 0, 4);
	return len;
}

/* ---- request / response layout and round trip ---- */

static void test_dp_fsp_encode_req_layout(void **state)
{
	(void)state;
	struct fs_req r = sample_req();
	uint8_t msg[64];

	memset(msg, 0xee, sizeof(msg)); /* stale bytes must all be overwritten */
	dp_fsp_encode_req(&r, msg);
	assert_memory_equal(msg, sample_req_bytes, 64);
}

static void test_dp_fsp_decode_req_layout(void **state)
{
	(void)state;
	struct fs_req want = sample_req(), got;

	memset(&got, 0, sizeof(got));
	dp_fsp_decode_req(sample_req_bytes, &got);
	assert_req_equal(&got, &want);
}

static void test_dp_fsp_req_roundtrip(void **state)
{
	(void)state;
	struct fs_req r = sample_req(), back;
	uint8_t msg[64];

	dp_fsp_encode_req(&r, msg);
	memset(&back, 0xcc, sizeof(back));
	dp_fsp_decode_req(msg, &back);
	assert_req_equal(&back, &r);

	/* All-ones values survive too (no sign extension, no truncation). */
	memset(&r, 0xff, sizeof(r));
	dp_fsp_encode_req(&r, msg);
	dp_fsp_decode_req(msg, &back);
	assert_req_equal(&back, &r);
	for (unsigned i = 0; i < 56; i++)
		assert_int_equal(msg[i], 0xff);
	for (unsigned i = 56; i < 64; i++)
		assert_int_equal(msg[i], 0);
}

static void test_dp_fsp_encode_resp_layout(void **state)
{
	(void)state;
	struct fs_resp r = sample_resp();
	uint8_t msg[64];

	memset(msg, 0xee, sizeof(msg));
	dp_fsp_encode_resp(&r, msg);
	assert_memory_equal(msg, sample_resp_bytes, 64);
}

static void test_dp_fsp_decode_resp_layout(void **state)
{
	(void)state;
	struct fs_resp want = sample_resp(), got;

	memset(&got, 0, sizeof(got));
	dp_fsp_decode_resp(sample_resp_bytes, &got);
	assert_resp_equal(&got, &want);
}

static void test_dp_fsp_resp_roundtrip(void **state)
{
	(void)state;
	struct fs_resp r = sample_resp(), back;
	uint8_t msg[64];

	dp_fsp_encode_resp(&r, msg);
	memset(&back, 0xcc, sizeof(back));
	dp_fsp_decode_resp(msg, &back);
	assert_resp_equal(&back, &r);

	memset(&r, 0xff, sizeof(r));
	dp_fsp_encode_resp(&r, msg);
	dp_fsp_decode_resp(msg, &back);
	assert_resp_equal(&back, &r);
	for (unsigned i = 53; i < 56; i++)
		assert_int_equal(msg[i], 0);
	for (unsigned i = 60; i < 64; i++)
		assert_int_equal(msg[i], 0);
}

/* ---- the PROTOCOL.md 72-byte BUY example ---- */

static struct fs_req example_req(void)
{
	struct fs_req r = {
		.op = FS_OP_BUY, .qty = 1, .item_id = 1001, .user_id = 777, .request_id = 42,
	};
	fs_token_buy(key_seq, 777, 1, r.token);
	return r;
}

static void test_dp_fsp_encode_example_buy(void **state)
{
	(void)state;
	struct fs_req r = example_req();
	uint8_t dgram[72];

	memset(dgram, 0xee, sizeof(dgram));
	dp_fsp_write_header(dgram, 1);
	dp_fsp_encode_req(&r, dgram + FSP_HDR_LEN);
	assert_memory_equal(dgram, example_buy, sizeof(example_buy));
}

static void test_dp_fsp_decode_example_buy(void **state)
{
	(void)state;
	struct fs_req want = example_req(), got;

	assert_int_equal(parse_exact(example_buy, sizeof(example_buy)), 1);
	dp_fsp_decode_req(example_buy + FSP_HDR_LEN, &got);
	assert_req_equal(&got, &want);
	assert_int_equal(got.flags, 0);
	assert_int_equal(got.order_id, 0);
	assert_int_equal(got.ref, 0);
}

static void test_dp_fsp_write_header_bytes(void **state)
{
	(void)state;
	static const uint8_t want[8] = {0x46, 0x53, 0x01, 0x20, 0, 0, 0, 0};
	uint8_t hdr[8];

	memset(hdr, 0xee, sizeof(hdr));
	dp_fsp_write_header(hdr, 32);
	assert_memory_equal(hdr, want, sizeof(want));
}

/* ---- framing ---- */

static void test_dp_fsp_parse_header_valid(void **state)
{
	(void)state;
	uint8_t buf[DGRAM_MAX];

	for (unsigned count = 1; count <= 32; count++) {
		size_t len = build_dgram(buf, count);
		assert_int_equal(parse_exact(buf, len), (int)count);
	}
}

static void test_dp_fsp_parse_header_short(void **state)
{
	(void)state;
	uint8_t buf[DGRAM_MAX];

	build_dgram(buf, 1);
	assert_int_equal(dp_fsp_parse_header(NULL, 0), -DP_FSP_ERR_SHORT);
	for (size_t len = 0; len < FSP_HDR_LEN; len++)
		assert_int_equal(parse_exact(buf, len), -DP_FSP_ERR_SHORT);
}

static void test_dp_fsp_parse_header_header_only(void **state)
{
	(void)state;
	uint8_t buf[DGRAM_MAX];

	build_dgram(buf, 1);
	assert_int_equal(parse_exact(buf, FSP_HDR_LEN), -DP_FSP_ERR_LENGTH);
	build_dgram(buf, 0);
	assert_int_equal(parse_exact(buf, FSP_HDR_LEN), -DP_FSP_ERR_COUNT);
}

static void test_dp_fsp_parse_header_bad_magic(void **state)
{
	(void)state;
	uint8_t buf[DGRAM_MAX];
	size_t len = build_dgram(buf, 1);

	buf[0] = 0x53; /* byte-swapped magic "SF" */
	buf[1] = 0x46;
	assert_int_equal(parse_exact(buf, len), -DP_FSP_ERR_MAGIC);
	buf[0] = 0x46;
	buf[1] = 0x54;
	assert_int_equal(parse_exact(buf, len), -DP_FSP_ERR_MAGIC);
	buf[0] = 0x00;
	buf[1] = 0x53;
	assert_int_equal(parse_exact(buf, len), -DP_FSP_ERR_MAGIC);
}

static void test_dp_fsp_parse_header_bad_version(void **state)
{
	(void)state;
	uint8_t buf[DGRAM_MAX];
	size_t len = build_dgram(buf, 1);

	buf[2] = 0;
	assert_int_equal(parse_exact(buf, len), -DP_FSP_ERR_VERSION);
	buf[2] = 2;
	assert_int_equal(parse_exact(buf, len), -DP_FSP_ERR_VERSION);
	buf[2] = 0xff;
	assert_int_equal(parse_exact(buf, len), -DP_FSP_ERR_VERSION);
}

static void test_dp_fsp_parse_header_bad_count(void **state)
{
	(void)state;
	uint8_t buf[DGRAM_MAX];
	size_t len;

	len = build_dgram(buf, 0);
	assert_int_equal(parse_exact(buf, len), -DP_FSP_ERR_COUNT);
	len = build_dgram(buf, 1); /* count 0 with one message's worth of bytes */
	buf[3] = 0;
	assert_int_equal(parse_exact(buf, len), -DP_FSP_ERR_COUNT);
	len = build_dgram(buf, 33); /* a full 33-message datagram is still too many */
	assert_int_equal(parse_exact(buf, len), -DP_FSP_ERR_COUNT);
	buf[3] = 0xff;
	assert_int_equal(parse_exact(buf, len), -DP_FSP_ERR_COUNT);
}

static void test_dp_fsp_parse_header_bad_length(void **state)
{
	(void)state;
	static const unsigned counts[] = {1, 2, 31, 32};
	uint8_t buf[DGRAM_MAX];

	for (unsigned i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		unsigned count = counts[i];
		size_t len = FSP_HDR_LEN + (size_t)FSP_MSG_LEN * count;

		build_dgram(buf, count + 1); /* room for the longer cases */
		buf[3] = (uint8_t)count;
		assert_int_equal(parse_exact(buf, len), (int)count);
		assert_int_equal(parse_exact(buf, len - 1), -DP_FSP_ERR_LENGTH);
		assert_int_equal(parse_exact(buf, len + 1), -DP_FSP_ERR_LENGTH);
		assert_int_equal(parse_exact(buf, len + FSP_MSG_LEN), -DP_FSP_ERR_LENGTH);
		assert_int_equal(parse_exact(buf, len - FSP_MSG_LEN), -DP_FSP_ERR_LENGTH);
	}
}

static void test_dp_fsp_parse_header_reserved_ignored(void **state)
{
	(void)state;
	uint8_t buf[DGRAM_MAX];
	size_t len = build_dgram(buf, 3);

	memset(buf + 4, 0xff, 4);
	assert_int_equal(parse_exact(buf, len), 3);
}

static void test_dp_fsp_err_name_all(void **state)
{
	(void)state;
	static const int codes[] = {DP_FSP_ERR_SHORT, DP_FSP_ERR_MAGIC, DP_FSP_ERR_VERSION,
				    DP_FSP_ERR_COUNT, DP_FSP_ERR_LENGTH};
	const char *unknown = dp_fsp_err_name(0);

	assert_non_null(unknown);
	for (unsigned i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		const char *n = dp_fsp_err_name(-codes[i]);
		assert_non_null(n);
		assert_string_not_equal(n, unknown);
		assert_string_equal(n, dp_fsp_err_name(codes[i]));
		for (unsigned j = 0; j < i; j++)
			assert_string_not_equal(n, dp_fsp_err_name(-codes[j]));
	}
	assert_string_equal(dp_fsp_err_name(-99), unknown);
	assert_non_null(dp_fsp_err_name(INT32_MIN));
}

/* ---- reserved bytes in messages ---- */

static void test_dp_fsp_decode_req_reserved_ignored(void **state)
{
	(void)state;
	struct fs_req want = sample_req(), got;
	uint8_t msg[64];

	memcpy(msg, sample_req_bytes, 64);
	memset(msg + 56, 0xa5, 8);
	dp_fsp_decode_req(msg, &got);
	assert_req_equal(&got, &want);
}

static void test_dp_fsp_decode_resp_reserved_ignored(void **state)
{
	(void)state;
	struct fs_resp want = sample_resp(), got;
	uint8_t msg[64];

	memcpy(msg, sample_resp_bytes, 64);
	memset(msg + 53, 0xa5, 3);
	memset(msg + 60, 0x5a, 4);
	dp_fsp_decode_resp(msg, &got);
	assert_resp_equal(&got, &want);
}

/* ---- tokens (PROTOCOL.md "Test vectors") ---- */

static void test_siphashx24_reference_vector(void **state)
{
	(void)state;
	uint8_t want[16], out[16];

	assert_int_equal(fs_hex_parse("a3817f04ba25a8e66df67214c7550293", want, 16), 0);
	assert_int_equal(crypto_shorthash_siphashx24(out, (const unsigned char *)"", 0, key_seq),
			 0);
	assert_memory_equal(out, want, 16);
}

static void test_fs_token_buy_vector(void **state)
{
	(void)state;
	uint8_t want[16], out[16];

	assert_int_equal(fs_hex_parse("86625a502acbba02624797a4a09b3aca", want, 16), 0);
	fs_token_buy(key_seq, 777, 1, out);
	assert_memory_equal(out, want, 16);
	assert_true(fs_token_equal(out, want));
	fs_token_buy(key_seq, 778, 1, out);
	assert_false(fs_token_equal(out, want));
}

static void test_fs_token_pay_vector(void **state)
{
	(void)state;
	uint8_t key[16], want[16], out[16];
	char hex[33];

	assert_int_equal(fs_hex_parse("f0e0d0c0b0a090807060504030201000", key, 16), 0);
	assert_int_equal(fs_hex_parse("2aab79309e8ecea7c4f043f199fe45aa", want, 16), 0);
	fs_token_pay(key, 5, 777, 9, out);
	assert_memory_equal(out, want, 16);
	fs_hex_format(out, 16, hex);
	assert_string_equal(hex, "2aab79309e8ecea7c4f043f199fe45aa");
	fs_token_pay(key, 5, 777, 10, out);
	assert_false(fs_token_equal(out, want));
}

static void test_fs_hex_parse_errors(void **state)
{
	(void)state;
	uint8_t out[16];

	assert_int_equal(fs_hex_parse("", out, 16), -EINVAL);
	assert_int_equal(fs_hex_parse("000102030405060708090a0b0c0d0e0", out, 16), -EINVAL);
	assert_int_equal(fs_hex_parse("000102030405060708090a0b0c0d0e0f0", out, 16), -EINVAL);
	assert_int_equal(fs_hex_parse("000102030405060708090a0b0c0d0e0f00", out, 16), -EINVAL);
	assert_int_equal(fs_hex_parse("000102030405060708090a0b0c0d0e0g", out, 16), -EINVAL);
	assert_int_equal(fs_hex_parse("x00102030405060708090a0b0c0d0e0f", out, 16), -EINVAL);
	assert_int_equal(fs_hex_parse("00010203040506070809 a0b0c0d0e0f", out, 16), -EINVAL);
	assert_int_equal(fs_hex_parse("0x0102030405060708090a0b0c0d0e0f", out, 16), -EINVAL);

	/* Upper case is accepted and means the same bytes. */
	assert_int_equal(fs_hex_parse("000102030405060708090A0B0C0D0E0F", out, 16), 0);
	assert_memory_equal(out, key_seq, 16);
}

/* ---- name tables ---- */

static void test_fs_op_name_all(void **state)
{
	(void)state;
	static const char *const want[FS_OP_MAX + 1] = {
		NULL, "BUY", "CONFIRM", "CANCEL", "ORDER_STATUS", "ITEM_STATUS", "TIME",
	};

	for (unsigned op = 1; op <= FS_OP_MAX; op++) {
		assert_string_equal(fs_op_name(op), want[op]);
		assert_int_equal(fs_op_parse(want[op]), (int)op);
	}
	assert_int_equal(fs_op_parse("buy"), FS_OP_BUY);
	assert_int_equal(fs_op_parse("item_status"), FS_OP_ITEM_STATUS);
	assert_int_equal(fs_op_parse("SELL"), -1);
	assert_int_equal(fs_op_parse(""), -1);
	assert_string_equal(fs_op_name(0), "?");
	assert_string_equal(fs_op_name(FS_OP_MAX + 1), "?");
	assert_string_equal(fs_op_name(255), "?");
	assert_string_equal(fs_op_name(~0u), "?");
}

static void test_fs_status_name_all(void **state)
{
	(void)state;
	static const char *const want[FS_ST_COUNT] = {
		"OK", "SOLD_OUT", "LIMIT_EXCEEDED", "NOT_STARTED", "ENDED",
		"BAD_TOKEN", "RATE_LIMITED", "BUSY", "NOT_FOUND", "BAD_REQUEST",
		"UNKNOWN_ITEM", "WRONG_STATE", "UNAVAILABLE",
	};

	for (unsigned st = 0; st < FS_ST_COUNT; st++)
		assert_string_equal(fs_status_name(st), want[st]);
	assert_string_equal(fs_status_name(FS_ST_COUNT), "?");
	assert_string_equal(fs_status_name(255), "?");
	assert_string_equal(fs_status_name(~0u), "?");
}

static void test_fs_state_name_all(void **state)
{
	(void)state;
	static const char *const want[] = {"NONE", "RESERVED", "PAID", "CANCELLED", "EXPIRED"};

	for (unsigned s = 0; s <= FS_STATE_EXPIRED; s++)
		assert_string_equal(fs_state_name(s), want[s]);
	assert_string_equal(fs_state_name(FS_STATE_EXPIRED + 1), "?");
	assert_string_equal(fs_state_name(255), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dp_fsp_encode_req_layout),
		cmocka_unit_test(test_dp_fsp_decode_req_layout),
		cmocka_unit_test(test_dp_fsp_req_roundtrip),
		cmocka_unit_test(test_dp_fsp_encode_resp_layout),
		cmocka_unit_test(test_dp_fsp_decode_resp_layout),
		cmocka_unit_test(test_dp_fsp_resp_roundtrip),
		cmocka_unit_test(test_dp_fsp_encode_example_buy),
		cmocka_unit_test(test_dp_fsp_decode_example_buy),
		cmocka_unit_test(test_dp_fsp_write_header_bytes),
		cmocka_unit_test(test_dp_fsp_parse_header_valid),
		cmocka_unit_test(test_dp_fsp_parse_header_short),
		cmocka_unit_test(test_dp_fsp_parse_header_header_only),
		cmocka_unit_test(test_dp_fsp_parse_header_bad_magic),
		cmocka_unit_test(test_dp_fsp_parse_header_bad_version),
		cmocka_unit_test(test_dp_fsp_parse_header_bad_count),
		cmocka_unit_test(test_dp_fsp_parse_header_bad_length),
		cmocka_unit_test(test_dp_fsp_parse_header_reserved_ignored),
		cmocka_unit_test(test_dp_fsp_err_name_all),
		cmocka_unit_test(test_dp_fsp_decode_req_reserved_ignored),
		cmocka_unit_test(test_dp_fsp_decode_resp_reserved_ignored),
		cmocka_unit_test(test_siphashx24_reference_vector),
		cmocka_unit_test(test_fs_token_buy_vector),
		cmocka_unit_test(test_fs_token_pay_vector),
		cmocka_unit_test(test_fs_hex_parse_errors),
		cmocka_unit_test(test_fs_op_name_all),
		cmocka_unit_test(test_fs_status_name_all),
		cmocka_unit_test(test_fs_state_name_all),
	};

	if (fs_token_init() != 0) {
		fprintf(stderr, "test_fsp: libsodium init failed\n");
		return 1;
	}
	return cmocka_run_group_tests_name("fsp", tests, NULL, NULL);
}
