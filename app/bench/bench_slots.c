/*
 * bench_slots.c — the request-id slot table of one thread (bench.h, "Request
 * ids and the slot table"): O(1) take, free, append, unlink and expiry. Free
 * slots wait in a FIFO ring so a slot that timed out keeps its request id as
 * long as possible; in-flight slots are a doubly linked list in send order,
 * so with one timeout for all only the head can be due.
 */
#include "bench.h"

uint64_t bench_user_gidx(const struct bench_thread *th, uint64_t user_local)
{
	return th->id + user_local * th->b->n_threads;
}

uint32_t bench_slot_take(struct bench_thread *th, uint32_t user_local)
{
	uint32_t s;
	struct slot *e;
	uint64_t gen;

	FS_ASSERT(th->free_count > 0);
	s = th->free_ring[th->free_head];
	th->free_head = (th->free_head + 1) & (th->nslots - 1);
	th->free_count--;
	e = &th->slots[s];
	gen = ((e->request_id >> SLOT_BITS) + 1) & GEN_MASK;
	if (gen == 0)
		gen = 1; /* request_id is never 0 */
	e->request_id = th->b->nonce << (SLOT_BITS + GEN_BITS) | gen << SLOT_BITS | s;
	e->user_local = user_local;
	e->state = SLOT_BUILT;
	th->busy++;
	return s;
}

void bench_slot_free(struct bench_thread *th, uint32_t s)
{
	FS_ASSERT(th->free_count < th->nslots && th->busy > 0);
	th->free_ring[(th->free_head + th->free_count) & (th->nslots - 1)] = s;
	th->free_count++;
	th->busy--;
}

void bench_infl_append(struct bench_thread *th, uint32_t s)
{
	struct slot *e = &th->slots[s];

	e->prev = th->infl_tail;
	e->next = SLOT_NIL;
	if (th->infl_tail != SLOT_NIL)
		th->slots[th->infl_tail].next = s;
	else
		th->infl_head = s;
	th->infl_tail = s;
}

void bench_infl_unlink(struct bench_thread *th, uint32_t s)
{
	struct slot *e = &th->slots[s];

	if (e->prev != SLOT_NIL)
		th->slots[e->prev].next = e->next;
	else
		th->infl_head = e->next;
	if (e->next != SLOT_NIL)
		th->slots[e->next].prev = e->prev;
	else
		th->infl_tail = e->prev;
}

/* Messages unanswered for timeout_ns are lost; the list is in send order,
 * so only its head can be due. */
void bench_expire(struct bench_thread *th, int64_t now)
{
	int64_t limit = now - th->b->timeout_ns;

	while (th->infl_head != SLOT_NIL && th->slots[th->infl_head].send_ns <= limit) {
		uint32_t s = th->infl_head;
		bench_infl_unlink(th, s);
		th->slots[s].state = SLOT_LOST;
		bench_slot_free(th, s);
		th->st.lost++;
	}
}
