/*
 * fs_token.h — FSP/1 tokens (PROTOCOL.md "Tokens"): SipHash-2-4 with 128-bit
 * output, computed by libsodium's crypto_shorthash_siphashx24. libsodium is a
 * dependency so that the MAC is a well-reviewed implementation rather than our
 * own.
 */
#ifndef FS_TOKEN_H
#define FS_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FS_KEY_LEN 16

/* Must be called once before any other function here (sodium_init). 0 or -EIO. */
int fs_token_init(void);

/* BUY/CANCEL/ORDER_STATUS token: siphashx24(key, be64(user_id) || be32(activity_id)). */
void fs_token_buy(const uint8_t key[FS_KEY_LEN], uint64_t user_id, uint32_t activity_id,
		  uint8_t out[16]);

/* CONFIRM (and payment-system CANCEL) token:
 * siphashx24(key, be64(order_id) || be64(user_id) || be64(ref)). */
void fs_token_pay(const uint8_t key[FS_KEY_LEN], uint64_t order_id, uint64_t user_id,
		  uint64_t ref, uint8_t out[16]);

/* Constant-time comparison of two 16-byte tokens. */
bool fs_token_equal(const uint8_t a[16], const uint8_t b[16]);

/* Parse exactly 2*n hex digits into out; 0 or -EINVAL. */
int fs_hex_parse(const char *hex, uint8_t *out, size_t n);
/* Write 2*n lowercase hex digits and a NUL into out (size >= 2n+1). */
void fs_hex_format(const uint8_t *in, size_t n, char *out);

#endif
