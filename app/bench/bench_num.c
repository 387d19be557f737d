/*
 * bench_num.c — decimal option values for flashsale-bench and its pcap
 * writer: digits only (no sign, no blanks, no suffix), in a closed range,
 * with one message format naming the program and the option.
 */
#include "bench.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int bench_parse_u64(const char *prog, const char *name, const char *s, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max) {
		fprintf(stderr, "%s: --%s: want an integer in %" PRIu64 "..%" PRIu64
			", got '%s'\n", prog, name, min, max, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}
