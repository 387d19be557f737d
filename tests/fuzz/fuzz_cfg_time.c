/*
 * fuzz_cfg_time.c — the time parser of config/ (cfg_time.c) on arbitrary
 * text. Beyond "no crash, no over-read, no UB" it checks what the parser
 * promises:
 *   - a failure says why (a non-empty sentence) and leaves *out alone;
 *   - a success is a time in 1970..2262 (never negative);
 *   - the answer depends only on the text and "now": a second call agrees;
 *   - an absolute time (not "now...") does not depend on "now", and a
 *     relative one moves with it, second for second;
 *   - cfg_time_format_utc of the result parses back to the same second,
 *     and so does the result written as unix seconds.
 * The seeds are the corpus: every form and every way each can fail.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg_internal.h"
#include "fuzz.h"

#define FUZZ_NOW_NS (1700000000LL * FS_NS_PER_S)
#define FUZZ_NOW_SHIFT_NS (3600LL * FS_NS_PER_S)
#define FUZZ_TEXT_MAX_BYTES 64

/* text must parse (at FUZZ_NOW_NS) to the second of want_ns. */
static void expect_same_second(const char *text, int64_t want_ns)
{
	const char *why = NULL;
	int64_t got = -1;

	FS_ASSERT(cfg_time_parse(text, FUZZ_NOW_NS, &got, &why) == 0);
	FS_ASSERT(got == want_ns / FS_NS_PER_S * FS_NS_PER_S);
}

static void check_round_trips(int64_t ns)
{
	char text[FUZZ_TEXT_MAX_BYTES];

	cfg_time_format_utc(ns, text, sizeof(text));
	expect_same_second(text, ns);
	snprintf(text, sizeof(text), "%" PRId64, (int64_t)(ns / FS_NS_PER_S));
	expect_same_second(text, ns);
}

/* Against another "now": absolute forms stay, relative ones move with it. */
static void check_now_shift(const char *s, int64_t ns)
{
	const char *why = NULL;
	int64_t later = -1;
	int rc = cfg_time_parse(s, FUZZ_NOW_NS + FUZZ_NOW_SHIFT_NS, &later, &why);

	if (strncmp(s, "now", 3) != 0) {
		FS_ASSERT(rc == 0 && later == ns);
		return;
	}
	/* Moving "now" later can only push a relative time out of range at
	 * the top, never below 1970. */
	FS_ASSERT(rc == 0 ? later == ns + FUZZ_NOW_SHIFT_NS : why && why[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	const char *why = NULL, *why2 = NULL;
	int64_t ns = -7, ns2 = -7;
	int rc, rc2;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	rc = cfg_time_parse(s, FUZZ_NOW_NS, &ns, &why);
	rc2 = cfg_time_parse(s, FUZZ_NOW_NS, &ns2, &why2);
	FS_ASSERT(rc == rc2 && ns == ns2);
	if (rc != 0) {
		FS_ASSERT(rc == -EINVAL && ns == -7 && why && why[0] && why == why2);
	} else {
		FS_ASSERT(ns >= 0);
		check_round_trips(ns);
		check_now_shift(s, ns);
	}
	free(s);
	return 0;
}

static const char *const seeds[] = {
	"2026-11-11T00:00:00+08:00",
	"2026-11-11T00:30:00Z",
	"2024-02-29 23:59:59-05:30",
	"1970-01-01t00:00:00z",
	"2262-04-11T23:47:16Z",
	"2262-04-11T23:47:17Z",       /* after 2262 */
	"1969-12-31T23:59:59Z",       /* before 1970 */
	"2023-02-29T00:00:00Z",       /* no such day */
	"2026-13-01T00:00:00Z",
	"2026-11-11T24:00:00Z",
	"2026-11-11T00:00:00",        /* no zone */
	"2026-11-11T00:00:00.5Z",     /* fractional seconds */
	"2026-11-11T00:00:00+8:00",
	"2026-11-11T00:00:00+24:00",
	"2026-11-11T00:00:00Zjunk",
	"0",
	"1700000000",
	"9223372036",
	"9223372037",
	"18446744073709551616",
	"now",
	"now+30s",
	"now - 1h",
	"now+ 2 d",
	"now-10m",
	"now+1000000000000",
	"now+1000000000001",
	"now-999999999d",
	"now+5x",
	"tomorrow",
	"",
};

size_t fuzz_seed(size_t i, const uint8_t **data)
{
	if (i >= sizeof(seeds) / sizeof(seeds[0]))
		return 0;
	*data = (const uint8_t *)seeds[i];
	return strlen(seeds[i]) ? strlen(seeds[i]) : 1; /* "" as one NUL byte */
}
