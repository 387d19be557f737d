/*
 * test_common.c — common/: names, hex, tokens (PROTOCOL.md test vectors),
 * clocks, Internet checksums (RFC 1071's example and a textbook header).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fs_cksum.h"
#include "fs_common.h"
#include "fs_proto.h"
#include "fs_token.h"

static void hex16(const char *hex, uint8_t out[16])
{
	assert_int_equal(fs_hex_parse(hex, out, 16), 0);
}

static void test_fs_token_buy_vector(void **state)
{
	(void)state;
	uint8_t key[16], want[16], got[16];
	hex16("000102030405060708090a0b0c0d0e0f", key);
	hex16("86625a502acbba02624797a4a09b3aca", want);
	fs_token_buy(key, 777, 1, got);
	assert_memory_equal(got, want, 16);
	assert_true(fs_token_equal(got, want));
	got[15] ^= 1;
	assert_false(fs_token_equal(got, want));
}

static void test_fs_token_pay_vector(void **state)
{
	(void)state;
	uint8_t key[16], want[16], got[16];
	hex16("f0e0d0c0b0a090807060504030201000", key);
	hex16("2aab79309e8ecea7c4f043f199fe45aa", want);
	fs_token_pay(key, 5, 777, 9, got);
	assert_memory_equal(got, want, 16);
}

static void test_fs_hex_parse_invalid(void **state)
{
	(void)state;
	uint8_t out[4];
	assert_int_equal(fs_hex_parse("0011223", out, 4), -EINVAL);
	assert_int_equal(fs_hex_parse("001122334", out, 4), -EINVAL);
	assert_int_equal(fs_hex_parse("0011223g", out, 4), -EINVAL);
	assert_int_equal(fs_hex_parse("", out, 4), -EINVAL);
	assert_int_equal(fs_hex_parse("DEADbeef", out, 4), 0);
	assert_int_equal(out[0], 0xde);
	assert_int_equal(out[3], 0xef);
	char s[9];
	fs_hex_format(out, 4, s);
	assert_string_equal(s, "deadbeef");
}

static void test_fs_names_all_values(void **state)
{
	(void)state;
	assert_string_equal(fs_op_name(FS_OP_BUY), "BUY");
	assert_string_equal(fs_op_name(FS_OP_TIME), "TIME");
	assert_string_equal(fs_op_name(0), "?");
	assert_string_equal(fs_op_name(7), "?");
	for (unsigned s = 0; s < FS_ST_COUNT; s++)
		assert_string_not_equal(fs_status_name(s), "?");
	assert_string_equal(fs_status_name(FS_ST_UNAVAILABLE), "UNAVAILABLE");
	assert_string_equal(fs_status_name(FS_ST_COUNT), "?");
	assert_string_equal(fs_state_name(FS_STATE_EXPIRED), "EXPIRED");
	assert_string_equal(fs_state_name(9), "?");
	assert_int_equal(fs_op_parse("confirm"), FS_OP_CONFIRM);
	assert_int_equal(fs_op_parse("nope"), -1);
}

static void test_fs_shard_of_order_roundtrip(void **state)
{
	(void)state;
	uint64_t id = fs_order_id(123456789, 5);
	assert_int_equal(fs_shard_of_order(id), 5);
	assert_int_equal(fs_order_seq(id), 123456789);
	/* The item mapping is a pure function and covers every shard. */
	unsigned seen[4] = {0};
	for (uint32_t item = 1; item <= 1000; item++) {
		unsigned s = fs_shard_of_item(item, 4);
		assert_true(s < 4);
		assert_int_equal(s, fs_shard_of_item(item, 4));
		seen[s]++;
	}
	for (unsigned s = 0; s < 4; s++)
		assert_true(seen[s] > 150);
}

static void test_fs_clocks_advance(void **state)
{
	(void)state;
	int64_t a = fs_mono_ns(), w = fs_now_ns();
	assert_true(w > 1600000000LL * FS_NS_PER_S);
	assert_true(fs_mono_ns() >= a);
	assert_string_equal(fs_strerror(-ENOSPC), strerror(ENOSPC));
	assert_string_equal(fs_strerror(0), "success");
}

/* RFC 1071 section 3's example: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2. */
static void test_fs_cksum_add_rfc1071_example(void **state)
{
	(void)state;
	static const uint8_t b[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	static const uint8_t odd[] = {0xab, 0xcd, 0xef};

	assert_int_equal(fs_cksum_fold(fs_cksum_add(0, b, sizeof(b))), 0xddf2);
	/* Split at an even offset, the partial sums add up. */
	assert_int_equal(fs_cksum_fold(fs_cksum_add(fs_cksum_add(0, b, 4), b + 4, 4)), 0xddf2);
	/* An odd last byte is the high byte of a zero-padded word. */
	assert_int_equal(fs_cksum_fold(fs_cksum_add(0, odd, sizeof(odd))), 0xabcd + 0xef00 - 0xffff);
	assert_int_equal(fs_cksum_fold(0x1fffeu), 0xffff);
}

/* The textbook IPv4 header whose checksum is b1e6, then a small UDP
 * datagram: what fs_cksum computes makes each block fold to ffff. */
static void test_fs_cksum_ipv4_udp_captured_frame(void **state)
{
	(void)state;
	static const uint8_t ip[20] = {0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06,
				       0xb1, 0xe6, 0xac, 0x10, 0x0a, 0x63, 0xac, 0x10, 0x0a, 0x0c};
	uint8_t pkt[20 + 12] = {0x45, 0x00, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0x40, 0x11,
				0x00, 0x00, 0x0a, 0x63, 0x00, 0x01, 0x0a, 0x63, 0x00, 0x02,
				0x9c, 0x40, 0x1e, 0x14, 0x00, 0x0c, 0x00, 0x00, 'a', 'b', 'c', 'd'};
	uint16_t c;

	assert_int_equal(fs_cksum_ipv4_hdr(ip), 0xb1e6); /* the classic textbook header */
	assert_int_equal(fs_cksum_fold(fs_cksum_add(0, ip, sizeof(ip))), FS_CKSUM_OK);
	c = fs_cksum_ipv4_hdr(pkt);
	pkt[10] = (uint8_t)(c >> 8), pkt[11] = (uint8_t)c;
	assert_int_equal(fs_cksum_fold(fs_cksum_add(0, pkt, 20)), FS_CKSUM_OK);
	c = fs_cksum_udp4(pkt, pkt + 20, 12);
	pkt[26] = (uint8_t)(c >> 8), pkt[27] = (uint8_t)c;
	assert_int_equal(fs_cksum_fold(fs_cksum_ipv4_pseudo(pkt, 12) + fs_cksum_add(0, pkt + 20, 12)),
			 FS_CKSUM_OK);
	/* The stored field is not summed: a stale value changes nothing. */
	pkt[26] ^= 0x5a;
	assert_int_equal(fs_cksum_udp4(pkt, pkt + 20, 12), c);
}

/* The steady clock starts at the wall clock and then runs with the monotonic
 * one (same offset on every call and thread). */
static void test_fs_steady_tracks_monotonic(void **state)
{
	int64_t w = fs_now_ns(), s = fs_steady_ns(), m = fs_mono_ns();
	int64_t s2, m2;

	(void)state;
	assert_true(s > w - FS_NS_PER_S && s < w + FS_NS_PER_S);
	for (int i = 0; i < 1000; i++) {
		m2 = fs_mono_ns();
		s2 = fs_steady_ns();
		assert_true(s2 >= s);
		assert_true(s2 - m2 >= s - m - FS_NS_PER_MS && s2 - m2 <= s - m + FS_NS_PER_MS);
		s = s2;
		m = m2;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fs_token_buy_vector),
		cmocka_unit_test(test_fs_token_pay_vector),
		cmocka_unit_test(test_fs_hex_parse_invalid),
		cmocka_unit_test(test_fs_names_all_values),
		cmocka_unit_test(test_fs_shard_of_order_roundtrip),
		cmocka_unit_test(test_fs_clocks_advance),
		cmocka_unit_test(test_fs_cksum_add_rfc1071_example),
		cmocka_unit_test(test_fs_cksum_ipv4_udp_captured_frame),
		cmocka_unit_test(test_fs_steady_tracks_monotonic),
	};
	if (fs_token_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
