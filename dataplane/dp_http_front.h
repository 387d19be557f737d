/*
 * dp_http_front.h — the public HTTP/1.1 API on the workers (HTTP-API.md):
 * TCP listeners and connections around the codec of dp_http.h. Private to
 * dataplane/: the kernel front end (dp_kernel.c) and the DPDK front end
 * (dp_dpdk.c, kernel TCP through its exception TAP) own one per worker and
 * drive it from their own loop and epoll set; design notes in
 * dp_http_front.c and docs/architecture.md ("HTTP front end").
 */
#ifndef DP_HTTP_FRONT_H
#define DP_HTTP_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs_proto.h"

struct cfg;
struct dp_stats;
struct dp_worker;
struct dp_hfe; /* engine-wide: the codec's configuration */
struct dp_hfw; /* one worker's listener and connection table */

/* epoll data of the events that belong to the HTTP front end are < this. */
#define DP_HFE_EV_LIMIT (UINT64_C(1) << 40)

/* Check cfg's HTTP keys and build the codec configuration; raise
 * RLIMIT_NOFILE for nworkers connection tables; prove nobody listens on
 * [net] http_port yet. 0 or -errno with a reason in err. */
int dp_hfe_create(const struct cfg *cfg, unsigned nworkers, struct dp_hfe **out, char *err,
		  size_t errlen);
void dp_hfe_free(struct dp_hfe *fe);

/* Worker id's listener (SO_REUSEPORT on address:http_port), registered in
 * epfd, and its preallocated connection table. */
int dp_hfw_create(struct dp_hfe *fe, const struct cfg *cfg, unsigned id, int epfd,
		  struct dp_hfw **out, char *err, size_t errlen);
void dp_hfw_free(struct dp_hfw *h);

/* One epoll event whose data (< DP_HFE_EV_LIMIT) is ours. */
void dp_hfw_event(struct dp_hfw *h, uint64_t data, uint32_t events);
/* Accept, read, parse and feed requests to the engine; returns work done. */
unsigned dp_hfw_rx(struct dp_hfw *h, struct dp_worker *w, int64_t now_ns, int64_t mono_ns);
/* Whether dp_hfw_rx has work without a new epoll event: connections on the
 * ready list, or a listener with connections left to accept (a front end
 * that polls epoll only now and then skips dp_hfw_rx otherwise). */
bool dp_hfw_pending(const struct dp_hfw *h);
/* Bytes the open connections still owe their peers: rendered and not yet
 * written, plus written and not yet acknowledged (SIOCOUTQ). Control
 * plane, after the workers returned (a front end that must keep its path
 * to the kernel open until the answers are out). */
size_t dp_hfw_unsent(const struct dp_hfw *h);
/* Send what the connections have rendered; close those that are done. */
void dp_hfw_tx(struct dp_hfw *h);
/* An answer that came back from the engine (dp_fe_ops.answer). */
void dp_hfw_answer(struct dp_hfw *h, uint64_t cookie, const struct fs_resp *r);
/* Header and idle timeouts (a slice of the table per call). */
void dp_hfw_timer(struct dp_hfw *h);
/* Add this worker's counters. */
void dp_hfw_stats(const struct dp_hfw *h, struct dp_stats *out);

#endif
