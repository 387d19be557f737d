/*
 * fuzz_driver.c — a deterministic stand-in for libFuzzer, so every harness
 * runs in CI under gcc with AddressSanitizer/UBSan: each iteration takes a
 * seed, applies a few random mutations (bit flips, byte sets, inserts,
 * truncation, splices of another seed) and calls the harness. Also feeds
 * every prefix of every seed. usage: fuzz_X [--iterations N] [--seed S]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

#define FUZZ_BUF_MAX 8192

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rng(void)
{
	uint64_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static size_t mutate(uint8_t *buf, size_t len)
{
	unsigned n = 1 + rng() % 4;

	for (unsigned k = 0; k < n; k++) {
		size_t pos = len ? rng() % len : 0;
		switch (rng() % 6) {
		case 0: if (len) buf[pos] ^= (uint8_t)(1u << (rng() % 8)); break;
		case 1: if (len) buf[pos] = (uint8_t)rng(); break;
		case 2: if (len) buf[pos] = (uint8_t[]){0, 0xff, 0x7f, 0x80, '\n', '='}[rng() % 6]; break;
		case 3: len = len ? rng() % len : 0; break; /* truncate */
		case 4: /* insert a byte */
			if (len < FUZZ_BUF_MAX) {
				memmove(buf + pos + 1, buf + pos, len - pos);
				buf[pos] = (uint8_t)rng();
				len++;
			}
			break;
		default: { /* splice another seed's tail */
			const uint8_t *o;
			size_t ol = 0, i = 0;
			while (fuzz_seed(i, &o))
				i++;
			ol = i ? fuzz_seed(rng() % i, &o) : 0;
			if (ol) {
				size_t from = rng() % ol, take = ol - from;
				if (pos + take > FUZZ_BUF_MAX)
					take = FUZZ_BUF_MAX - pos;
				memcpy(buf + pos, o + from, take);
				len = pos + take > len ? pos + take : len;
			}
		}
		}
	}
	return len;
}

/* Run the harness on an exactly-sized heap copy, so ASan sees any over-read. */
static void run(const uint8_t *data, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, data, len);
	LLVMFuzzerTestOneInput(copy, len);
	free(copy);
}

int main(int argc, char **argv)
{
	unsigned long iterations = 20000;
	static uint8_t buf[FUZZ_BUF_MAX];
	const uint8_t *seed;
	size_t nseeds = 0, len;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--iterations") == 0)
			iterations = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--seed") == 0)
			rng_state = strtoull(argv[i + 1], NULL, 10) | 1;
	}
	while ((len = fuzz_seed(nseeds, &seed)) > 0) {
		for (size_t p = 0; p <= len; p++)
			run(seed, p);
		nseeds++;
	}
	for (unsigned long it = 0; it < iterations && nseeds; it++) {
		len = fuzz_seed(rng() % nseeds, &seed);
		len = len > FUZZ_BUF_MAX ? FUZZ_BUF_MAX : len;
		memcpy(buf, seed, len);
		len = mutate(buf, len);
		run(buf, len);
	}
	printf("%s: %zu seeds, %lu mutated inputs, no failure\n", argv[0], nseeds, iterations);
	return 0;
}
