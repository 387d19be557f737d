/*
 * bench_setup.c — before the run: the appliance config (--config), the
 * target address, the items under test with their limits and token keys,
 * the request-id nonce from --seed, and the connected UDP sockets every
 * thread and the ITEM_STATUS rounds use.
 */
#include "bench.h"

#include <unistd.h>
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int resolve_target(struct bench *b)
{
	struct sockaddr_in *sa = &b->server;

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa->sin_port = htons(FSP_DEFAULT_PORT);
	if (b->have_cfg) {
		/* A server bound to 0.0.0.0 is reached on the loopback. */
		if (b->cfg.address.s_addr != htonl(INADDR_ANY))
			sa->sin_addr = b->cfg.address;
		sa->sin_port = htons(b->cfg.udp_port);
	}
	if (b->o.server && inet_pton(AF_INET, b->o.server, &sa->sin_addr) != 1) {
		fprintf(stderr, "flashsale-bench: --server: not an IPv4 address: '%s'\n",
			b->o.server);
		return -EINVAL;
	}
	if (b->o.port)
		sa->sin_port = htons((uint16_t)b->o.port);
	inet_ntop(AF_INET, &sa->sin_addr, b->target, INET_ADDRSTRLEN);
	snprintf(b->target + strlen(b->target), 8, ":%u", ntohs(sa->sin_port));
	return 0;
}

/* Item ids from --items into ids[] (at most max). Returns the count or -EINVAL. */
static int parse_item_list(const char *s, uint32_t *ids, unsigned max)
{
	unsigned n = 0;

	while (*s) {
		char *end;
		unsigned long long v;

		errno = 0;
		v = strtoull(s, &end, 10);
		if (errno || end == s || *s == '-' || v == 0 || v > UINT32_MAX || n == max ||
		    (*end != ',' && *end != '\0') || (*end == ',' && end[1] == '\0')) {
			fprintf(stderr, "flashsale-bench: --items: bad list at '%s' (ids 1..%u, "
				"at most %u)\n", s, UINT32_MAX, max);
			return -EINVAL;
		}
		ids[n++] = (uint32_t)v;
		s = *end == ',' ? end + 1 : end;
	}
	return (int)n;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* Fill limits and the token key of one item from the config. */
static int item_from_cfg(const struct bench *b, struct bench_item *it)
{
	const struct cfg_item *ci = cfg_find_item(&b->cfg, it->id);
	const struct cfg_activity *ca;

	if (!ci) {
		fprintf(stderr, "flashsale-bench: item %u is not in %s\n", it->id, b->o.config_path);
		return -EINVAL;
	}
	ca = cfg_find_activity(&b->cfg, ci->activity_id);
	FS_ASSERT(ca != NULL); /* the loader checked the reference */
	it->activity_id = ci->activity_id;
	it->per_user_limit = ci->per_user_limit;
	it->max_per_order = ci->max_per_order;
	it->require_token = ca->require_token;
	memcpy(it->token_key, ca->token_key, FS_KEY_LEN);
	if (b->o.qty > ci->max_per_order && !b->o.json)
		fprintf(stderr, "flashsale-bench: note: --qty %" PRIu64 " > max_per_order %u of "
			"item %u: expect LIMIT_EXCEEDED\n", b->o.qty, ci->max_per_order, it->id);
	return 0;
}

/* The item ids under test, without duplicates; ids is n entries, owned by
 * the caller. */
static int check_unique(const uint32_t *ids, unsigned n)
{
	uint32_t *s = malloc((size_t)n * sizeof(*s));

	if (!s)
		return -ENOMEM;
	memcpy(s, ids, (size_t)n * sizeof(*s));
	qsort(s, n, sizeof(*s), cmp_u32);
	for (unsigned i = 1; i < n; i++) {
		if (s[i] == s[i - 1]) {
			fprintf(stderr, "flashsale-bench: --items: item %u given twice\n", s[i]);
			free(s);
			return -EINVAL;
		}
	}
	free(s);
	return 0;
}

static int setup_items(struct bench *b)
{
	uint32_t *ids = calloc(FS_ITEMS_MAX, sizeof(*ids));
	int n = 0, rc = 0;

	if (!ids)
		return -ENOMEM;
	if (b->o.items)
		n = parse_item_list(b->o.items, ids, FS_ITEMS_MAX);
	else if (b->have_cfg)
		for (unsigned i = 0; i < b->cfg.n_items; i++)
			ids[n++] = b->cfg.items[i].id;
	else
		ids[n++] = 1; /* --echo without items: any id will do */
	if (n == 0) {
		fprintf(stderr, "flashsale-bench: no items to buy\n");
		n = -EINVAL;
	}
	if (n < 0 || check_unique(ids, (unsigned)n) != 0 ||
	    !(b->items = calloc((size_t)n, sizeof(*b->items)))) {
		free(ids);
		return -EINVAL;
	}
	b->n_items = (unsigned)n;
	for (unsigned i = 0; i < b->n_items && rc == 0; i++) {
		struct bench_item *it = &b->items[i];
		it->id = ids[i];
		it->st_before = it->st_after = STATUS_NONE;
		it->max_per_order = UINT16_MAX;
		if (b->have_cfg)
			rc = item_from_cfg(b, it);
	}
	free(ids);
	return rc;
}

/* splitmix64: one good mix of the seed into the request-id nonce. */
static uint64_t mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

int bench_setup(struct bench *b)
{
	char err[BENCH_ERR_BYTES];
	int rc;

	if (b->o.config_path) {
		rc = cfg_load(b->o.config_path, fs_now_ns(), &b->cfg, err, sizeof(err));
		if (rc != 0) {
			fprintf(stderr, "flashsale-bench: %s\n", err);
			return rc;
		}
		b->have_cfg = true;
	}
	rc = resolve_target(b);
	if (rc == 0)
		rc = setup_items(b);
	if (rc != 0)
		return rc;
	if (!b->o.seed_set)
		b->o.seed = (uint64_t)fs_now_ns() ^ ((uint64_t)getpid() << 32);
	b->nonce = mix64(b->o.seed) & NONCE_MASK;
	b->timeout_ns = (int64_t)b->o.timeout_ms * FS_NS_PER_MS;
	b->n_threads = (unsigned)b->o.threads;
	return 0;
}

/* A UDP socket connected to the target (so the kernel filters other
 * sources and reports ICMP errors). Returns the fd or -errno. */
int bench_socket(const struct bench *b)
{
	int sz = BENCH_SOCKBUF_BYTES, err;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	/* Best effort: the kernel caps these at net.core.{r,w}mem_max. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (connect(fd, (const struct sockaddr *)&b->server, sizeof(b->server)) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}
