/*
 * fs_token.c — FSP/1 tokens on libsodium's SipHash-2-4-128
 * (crypto_shorthash_siphashx24). Messages are built big-endian as
 * PROTOCOL.md "Tokens" specifies; keys are 16 bytes.
 */
#include "fs_token.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

_Static_assert(crypto_shorthash_siphashx24_BYTES == 16, "siphashx24 is 128-bit");
_Static_assert(crypto_shorthash_siphashx24_KEYBYTES == FS_KEY_LEN, "siphash key is 16 bytes");

int fs_token_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

void fs_token_buy(const uint8_t key[FS_KEY_LEN], uint64_t user_id, uint32_t activity_id,
		  uint8_t out[16])
{
	uint8_t msg[12];
	uint64_t u = htobe64(user_id);
	uint32_t a = htobe32(activity_id);

	memcpy(msg, &u, 8);
	memcpy(msg + 8, &a, 4);
	crypto_shorthash_siphashx24(out, msg, sizeof(msg), key);
}

void fs_token_pay(const uint8_t key[FS_KEY_LEN], uint64_t order_id, uint64_t user_id,
		  uint64_t ref, uint8_t out[16])
{
	uint8_t msg[24];
	uint64_t v[3] = {htobe64(order_id), htobe64(user_id), htobe64(ref)};

	memcpy(msg, v, sizeof(msg));
	crypto_shorthash_siphashx24(out, msg, sizeof(msg), key);
}

bool fs_token_equal(const uint8_t a[16], const uint8_t b[16])
{
	return crypto_verify_16(a, b) == 0;
}

static int hex_val(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int fs_hex_parse(const char *hex, uint8_t *out, size_t n)
{
	if (strlen(hex) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_val(hex[2 * i]), lo = hex_val(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

void fs_hex_format(const uint8_t *in, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * n] = '\0';
}
