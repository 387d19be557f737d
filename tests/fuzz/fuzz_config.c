/*
 * fuzz_config.c — the INI loader on arbitrary text: it must either load and
 * free cleanly or return an error naming a place, never crash or leak.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	char err[512];
	struct cfg c;
	int rc;

	memcpy(text, data, size);
	text[size] = '\0';
	rc = cfg_load_string("fuzz.ini", text, 1700000000LL * FS_NS_PER_S, &c, err, sizeof(err));
	if (rc == 0)
		cfg_free(&c);
	else
		FS_ASSERT(strncmp(err, "fuzz.ini", 8) == 0);
	free(text);
	return 0;
}

static const char seed_full[] =
	"[appliance]\nmode = kernel\nworkers = 2\n\n[net]\naddress = 127.0.0.1\nudp_port = 7700\n"
	"http_port = 0\n\n[persist]\ndir = /tmp/x\ndurability = sync\n\n[limits]\n"
	"max_orders = 1000\nper_ip_rate = 10\n\n[activity.1]\nname = t\nstart = now-1s\n"
	"end = 2026-11-11T00:30:00+08:00\nrequire_token = yes\n"
	"token_key = 000102030405060708090a0b0c0d0e0f\n"
	"payment_key = f0e0d0c0b0a090807060504030201000\npay_timeout_s = 900\n\n"
	"[item.1001]\nactivity = 1\ntotal = 100\nper_user_limit = 2\nmax_per_order = 1\n";
static const char seed_small[] = "[activity.7]\nstart = 0\nend = now+1h\n[item.5]\nactivity = 7\ntotal = 0\n";

size_t fuzz_seed(size_t i, const uint8_t **data)
{
	if (i == 0) {
		*data = (const uint8_t *)seed_full;
		return sizeof(seed_full) - 1;
	}
	if (i == 1) {
		*data = (const uint8_t *)seed_small;
		return sizeof(seed_small) - 1;
	}
	return 0;
}
