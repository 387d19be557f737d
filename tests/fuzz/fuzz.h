/*
 * fuzz.h — the contract between a fuzz harness and its two drivers.
 *
 * Each harness (fuzz_<parser>.c) defines LLVMFuzzerTestOneInput, which must
 * accept any bytes without crashing, reading out of bounds, leaking or
 * tripping UBSan, and fuzz_seed(), which hands out valid example inputs.
 * Drivers: libFuzzer (clang -fsanitize=fuzzer, scripts/fuzz.sh) for
 * coverage-guided runs, and fuzz_driver.c, a deterministic mutation loop
 * that runs as an ordinary meson test under the sanitizer build.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The i-th seed input (i = 0, 1, ...): its length, with *data set; 0 when
 * there are no more. */
size_t fuzz_seed(size_t i, const uint8_t **data);

#endif
