/*
 * cfg_idmap.c — the id -> index hash of [activity.N] and [item.N], alive
 * only while one file loads.
 *
 * Open addressing with linear probing over a power-of-two slot array, kept
 * at most half full (it doubles before an insert would pass that), so a
 * probe always meets an empty slot and a lookup is O(1) on average. A slot
 * holds (id << 32) | (index + 1); 0 is empty, which index + 1 never is.
 * Ids are spread by Knuth's multiplicative hash (2654435761, about 2^32 /
 * phi): config ids are often dense runs (1001, 1002, ...), which it scatters
 * evenly. There is no delete: the loader only adds. With it a duplicate
 * among FS_ITEMS_MAX items is found at its own line in one pass, and every
 * item finds its activity without a scan.
 */
#include "cfg_internal.h"

#include <errno.h>
#include <stdlib.h>

#define IDMAP_KNUTH_MULT 2654435761u
#define IDMAP_LOAD_DEN 2 /* at most 1 / IDMAP_LOAD_DEN of the slots in use */

static size_t id_home(uint32_t id, size_t cap)
{
	return (size_t)(id * IDMAP_KNUTH_MULT) & (cap - 1);
}

long cfg_idmap_get(const struct cfg_idmap *m, uint32_t id)
{
	if (m->cap == 0)
		return -1;
	for (size_t i = id_home(id, m->cap);; i = (i + 1) & (m->cap - 1)) {
		uint64_t s = m->slot[i];

		if (s == 0)
			return -1;
		if ((uint32_t)(s >> 32) == id)
			return (long)(uint32_t)s - 1;
	}
}

static void idmap_insert(uint64_t *slot, size_t cap, uint64_t v)
{
	size_t i = id_home((uint32_t)(v >> 32), cap);

	while (slot[i] != 0)
		i = (i + 1) & (cap - 1);
	slot[i] = v;
}

int cfg_idmap_put(struct cfg_idmap *m, uint32_t id, unsigned idx)
{
	FS_ASSERT(cfg_idmap_get(m, id) < 0);
	if ((m->n + 1) * IDMAP_LOAD_DEN > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : CFG_IDMAP_INITIAL_CAP;
		uint64_t *slot = calloc(cap, sizeof *slot);

		if (!slot)
			return -ENOMEM;
		for (size_t i = 0; i < m->cap; i++)
			if (m->slot[i])
				idmap_insert(slot, cap, m->slot[i]);
		free(m->slot);
		m->slot = slot;
		m->cap = cap;
	}
	idmap_insert(m->slot, m->cap, (uint64_t)id << 32 | (idx + 1u));
	m->n++;
	return 0;
}

void cfg_idmap_free(struct cfg_idmap *m)
{
	free(m->slot);
	m->slot = NULL;
	m->cap = m->n = 0;
}
