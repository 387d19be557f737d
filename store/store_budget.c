/*
 * store_budget.c — the memory budget: what the store will allocate for a
 * config, and what this machine (and the cgroup the daemon runs in) can
 * give, compared before anything big is allocated.
 *
 * Why. max_orders goes up to 10^9 and every table is preallocated, so a
 * config inside the documented ranges can ask for hundreds of gigabytes; the
 * daemon used to find out by allocating (and zeroing) its way into the OOM
 * killer, before any port opened. Now `flashsaled --check` and the start
 * compute the need first and refuse with both numbers.
 *
 * The need is exact for the store (store_shard_bytes and store_image_bytes
 * mirror the allocations of store_shard_create and store_image_create, and
 * the catalog is built for real: it is small, and it is what splits the
 * capacities between shards); the caller adds what other modules allocate
 * (hand-off rings, log buffers, EAL memory) as other_bytes.
 *
 * The allowance is the least of MemAvailable in /proc/meminfo (what the
 * kernel can hand out without swapping) and, for the cgroup v2 of the process
 * and each of its ancestors, memory.max - memory.current (cgroup v1:
 * memory.limit_in_bytes - memory.usage_in_bytes). Memory already in use by
 * others is accounted there, so the check answers "can this start now". It
 * reads files only; start-up only, never on the data path.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

int store_memory_need(const struct cfg *cfg, unsigned nshards, uint64_t other_bytes,
		      struct store_budget *out)
{
	struct store_catalog *cat;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = store_catalog_create(cfg, nshards, &cat)) != 0)
		return rc;
	out->catalog = store_catalog_bytes(cfg, nshards);
	for (unsigned i = 0; i < nshards; i++) {
		struct store_shard_params p = {.shard_id = i};
		struct store_memory m;

		store_shard_capacity(cat, i, &p);
		store_shard_bytes(cat, &p, &m);
		out->shards += m.total;
		out->images += store_image_bytes(cat, &p);
		if (p.max_orders > out->max_orders_shard)
			out->max_orders_shard = p.max_orders;
	}
	store_catalog_free(cat);
	out->other = other_bytes;
	out->total = out->catalog + out->shards + out->images + out->other;
	return 0;
}

/* The first number in file path; false if it is missing or not a number
 * ("max" in memory.max means no limit). */
static bool read_u64(const char *path, uint64_t *v)
{
	char buf[64], *end;
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (!ok)
		return false;
	errno = 0;
	*v = strtoull(buf, &end, 10);
	return errno == 0 && end != buf;
}

static uint64_t meminfo_available(void)
{
	char line[256];
	uint64_t kb = 0;
	bool found = false;
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return UINT64_MAX;
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "MemAvailable: %" SCNu64 " kB", &kb) == 1;
	fclose(f);
	return found ? kb * 1024 : UINT64_MAX;
}

/* Least headroom over the process's cgroup v2 and its ancestors, or v1. */
static uint64_t cgroup_headroom(char *where, size_t wherelen)
{
	char line[FS_PATH_MAX], dir[FS_PATH_MAX + 64], path[FS_PATH_MAX + 96];
	uint64_t best = UINT64_MAX, max, cur;
	FILE *f = fopen("/proc/self/cgroup", "r");
	char *rel = NULL;

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "0::", 3) == 0) {
			rel = line + 3;
			rel[strcspn(rel, "\n")] = '\0';
			break;
		}
	if (f)
		fclose(f);
	if (rel) {
		for (;;) {
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s", strcmp(rel, "/") ? rel : "");
			snprintf(path, sizeof(path), "%s/memory.max", dir);
			if (read_u64(path, &max)) {
				snprintf(path, sizeof(path), "%s/memory.current", dir);
				if (!read_u64(path, &cur))
					cur = 0;
				if ((cur < max ? max - cur : 0) < best) {
					best = cur < max ? max - cur : 0;
					fs_errf(where, wherelen, "%s/memory.max - memory.current",
						dir);
				}
			}
			char *slash = strrchr(rel, '/');
			if (!slash || slash == rel)
				break;
			*slash = '\0';
		}
	}
	if (read_u64("/sys/fs/cgroup/memory/memory.limit_in_bytes", &max) && max < (1ULL << 62)) {
		if (!read_u64("/sys/fs/cgroup/memory/memory.usage_in_bytes", &cur))
			cur = 0;
		if ((cur < max ? max - cur : 0) < best) {
			best = cur < max ? max - cur : 0;
			fs_errf(where, wherelen,
				"cgroup v1 memory.limit_in_bytes - usage_in_bytes");
		}
	}
	return best;
}

uint64_t store_memory_allowed(char *what, size_t whatlen)
{
	char where[FS_PATH_MAX + 128] = "";
	uint64_t avail = meminfo_available(), cg = cgroup_headroom(where, sizeof(where));

	if (cg < avail) {
		fs_errf(what, whatlen, "cgroup limit (%s)", where);
		return cg;
	}
	fs_errf(what, whatlen, "%s",
		avail == UINT64_MAX ? "unknown" : "MemAvailable in /proc/meminfo");
	return avail;
}

int store_memory_check(const struct cfg *cfg, unsigned nshards, uint64_t other_bytes,
		       struct store_budget *out, char *err, size_t errlen)
{
	char what[FS_PATH_MAX + 160];
	uint64_t allowed;
	int rc;

	if ((rc = store_memory_need(cfg, nshards, other_bytes, out)) != 0) {
		fs_errf(err, errlen, "memory budget: cannot size the store: %s", fs_strerror(rc));
		return rc;
	}
	allowed = store_memory_allowed(what, sizeof(what));
	if (out->total <= allowed)
		return 0;
	fs_errf(err, errlen,
		"[limits] max_orders = %" PRIu64 " (max_idempotency %" PRIu64 ") needs %" PRIu64
		" bytes (%.1f GiB: shard tables %" PRIu64 ", snapshot images %" PRIu64
		", other %" PRIu64 "), but this machine allows %" PRIu64 " bytes (%.1f GiB, %s); "
		"lower max_orders or max_idempotency",
		cfg->max_orders, cfg->max_idempotency ? cfg->max_idempotency : 2 * cfg->max_orders,
		out->total, (double)out->total / (1u << 30), out->shards, out->images, out->other,
		allowed, (double)allowed / (1u << 30), what);
	return -ENOMEM;
}
