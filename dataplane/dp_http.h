/*
 * dp_http.h — the public HTTP/1.1 buying API (HTTP-API.md) as a codec without
 * I/O: private to dataplane/, used by the worker front ends.
 *
 * Nothing here touches a socket, a clock or the heap. A front end owns an
 * array of struct dp_http_conn (one per TCP connection, allocated once at
 * start), reads bytes into a connection, pulls parsed requests out as
 * struct fs_req (the same decision as FSP/1), hands each to a shard, and
 * gives the answer back as struct fs_resp; the connection renders it and
 * appends it to its output buffer strictly in request order, however the
 * answers arrive. Time comes from the caller (struct dp_http_ctx), once per
 * loop iteration.
 *
 * The front end's loop, per connection (all calls on the connection's core):
 *
 *   accept:     dp_http_conn_init(c, ctx, peer_ipv4)
 *   readable:   room = dp_http_conn_rx_space(c, &buf); n = recv(buf, room);
 *               dp_http_conn_rx_commit(c, n)            (n == 0: peer closed)
 *               while (dp_http_conn_next(c, &req) == 1)
 *                       decide req.req (shard, ring, rate limit on req.client_ip)
 *                       ... later: dp_http_conn_complete(c, req.slot, &resp)
 *   writable:   out = dp_http_conn_tx_data(c, &len); n = send(out, len);
 *               dp_http_conn_tx_done(c, n)
 *   timer:      dp_http_conn_tick(c); dp_http_conn_deadline_ms(c) says when
 *   close when: dp_http_conn_want_close(c) and dp_http_conn_tx_data() is empty
 *
 * rx_space() is 0 while the input buffer is full (the pipeline queue is full
 * and the request after it is waiting): stop reading, which is TCP back
 * pressure on that one client. Calling dp_http_conn_next() again after
 * dp_http_conn_complete() or dp_http_conn_tx_done() picks up where it
 * stopped.
 *
 * Files: dp_http_conn.c (connection, parser callbacks, slot ring, timers),
 * dp_http_route.c (paths, query, JSON bodies → struct fs_req),
 * dp_http_resp.c (struct fs_resp → status line, headers, JSON),
 * dp_http_json.c (strict JSON reader), dp_http_addr.c (client address and
 * trusted_proxies). Design notes: docs/architecture.md, "HTTP codec".
 */
#ifndef DP_HTTP_H
#define DP_HTTP_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs_proto.h"

/* Compile-time bounds; the configured limits must stay within them. */
#define DP_HTTP_HEAD_MAX_DEFAULT	  8192u /* request line + headers, bytes */
#define DP_HTTP_HEAD_MAX_MAX		  65536u
#define DP_HTTP_BODY_MAX		  4096u /* body buffer; also the default limit */
#define DP_HTTP_HEADER_TIMEOUT_MS_DEFAULT 10000u
#define DP_HTTP_IDLE_TIMEOUT_MS_DEFAULT	  900000u
#define DP_HTTP_PIPELINE_MAX		  64u /* slots per connection; also the default */
#define DP_HTTP_URL_MAX			  DP_HTTP_HEAD_MAX_DEFAULT /* request target kept; longer: 414 */
#define DP_HTTP_IN_MAX			  4096u	 /* unparsed input staged per connection */
#define DP_HTTP_OUT_MAX			  16384u /* rendered responses not yet sent */
#define DP_HTTP_RESP_MAX		  512u	 /* the largest single response we render */
#define DP_HTTP_IPHDR_MAX		  512u	 /* client-IP header value kept (its tail) */
#define DP_HTTP_HDRNAME_MAX		  32u	 /* header names we compare against */
#define DP_HTTP_TRUSTED_MAX		  64u	 /* CIDRs in [net] trusted_proxies */
#define DP_HTTP_DATE_LEN		  29u	 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

_Static_assert(DP_HTTP_OUT_MAX >= 2 * DP_HTTP_RESP_MAX, "output must hold a response");
_Static_assert((DP_HTTP_PIPELINE_MAX & (DP_HTTP_PIPELINE_MAX - 1)) == 0, "ring size power of 2");

/* ---- client address (dp_http_addr.c) ---- */

struct dp_http_cidr {
	uint32_t net; /* host order, host bits zero */
	uint32_t mask;
};

/* Parse a trusted_proxies value: CIDRs ("10.0.0.0/8") or single addresses
 * separated by commas and/or blanks; empty is an empty list. Host bits set
 * below the prefix are an error. Returns the count (0..max) or -EINVAL
 * (err names the entry) or -ENOSPC (more than max entries). */
int dp_http_cidr_parse(const char *text, struct dp_http_cidr *out, unsigned max, char *err,
		       size_t errlen);

/* Whether ip (host order) is inside one of the n CIDRs. */
bool dp_http_cidr_match(const struct dp_http_cidr *list, unsigned n, uint32_t ip);

/* The client's IPv4 (host order) for per-address rate limits (HTTP-API.md
 * "The client's address"). peer: the TCP peer. hdr/hdr_len: the configured
 * client-IP header's value (NULL when absent; several header lines joined by
 * ","). xff: the header is X-Forwarded-For (a list, rightmost untrusted entry
 * wins) rather than a single-address header. From an untrusted peer, or when
 * the header is absent or malformed, the peer is the client. An IPv6 client
 * is mapped to a stable address in 240.0.0.0/4 (a hash of its /64). */
uint32_t dp_http_client_ip(uint32_t peer, const char *hdr, size_t hdr_len, bool xff,
			   const struct dp_http_cidr *trusted, unsigned ntrusted);

/* ---- JSON reader (dp_http_json.c) ---- */

enum dp_json_kind {
	DP_JSON_U64,   /* a JSON integer 0..max (no sign, fraction or exponent) */
	DP_JSON_TOKEN, /* a string of exactly 32 hex digits → 16 bytes */
};

/* One field the caller wants out of an object; unknown members are skipped. */
struct dp_json_field {
	const char *name;
	uint8_t kind; /* enum dp_json_kind */
	bool required;
	bool seen;		      /* out */
	uint64_t max;		      /* DP_JSON_U64: largest accepted value */
	uint64_t u64;		      /* out */
	uint8_t token[FSP_TOKEN_LEN]; /* out */
};

enum dp_json_err {
	DP_JSON_OK = 0,
	DP_JSON_MALFORMED = 1, /* not one RFC 8259 object (incl. bad UTF-8, trailing bytes) */
	DP_JSON_DEPTH,	       /* nesting deeper than DP_JSON_DEPTH_MAX */
	DP_JSON_TYPE,	       /* a wanted field of the wrong type (null included) */
	DP_JSON_RANGE,	       /* a wanted integer out of range (negative, too large) */
	DP_JSON_TOKEN_FORMAT,  /* a token that is not 32 hex digits */
	DP_JSON_DUPLICATE,     /* a wanted field given twice */
	DP_JSON_MISSING,       /* a required field absent */
};
#define DP_JSON_DEPTH_MAX 16

/* Read the object in buf[0..len) into fields[0..n). 0 or -enum dp_json_err.
 * Never reads beyond len, never allocates, no recursion. */
int dp_json_read(const char *buf, size_t len, struct dp_json_field *fields, unsigned n);
const char *dp_json_err_name(int err);

/* ---- configuration and per-worker context ---- */

enum dp_http_iphdr {
	DP_HTTP_IPHDR_XFF,   /* X-Forwarded-For */
	DP_HTTP_IPHDR_SINGLE /* CF-Connecting-IP, True-Client-IP, Ali-CDN-Real-IP, ... */
};

/* Read-only after dp_http_cfg_init(); shared by every worker. */
struct dp_http_cfg {
	uint32_t head_max; /* request line + headers, bytes */
	uint32_t body_max; /* ≤ DP_HTTP_BODY_MAX */
	uint32_t header_timeout_ms;
	uint32_t idle_timeout_ms;
	uint32_t pipeline_max;			    /* 1..DP_HTTP_PIPELINE_MAX */
	char client_ip_header[DP_HTTP_HDRNAME_MAX]; /* header name, e.g. "X-Forwarded-For" */
	uint8_t iphdr_kind;			    /* enum dp_http_iphdr, derived from the name */
	unsigned ntrusted;
	struct dp_http_cidr trusted[DP_HTTP_TRUSTED_MAX];
};

/* Defaults of HTTP-API.md "Limits", X-Forwarded-For, no trusted proxies. */
void dp_http_cfg_defaults(struct dp_http_cfg *cfg);
/* Validate the limits, derive iphdr_kind and set http_parser's process-wide
 * header-size limit to head_max (every connection shares it). 0 or -EINVAL
 * with the offending field named in err. Call once, before any connection. */
int dp_http_cfg_init(struct dp_http_cfg *cfg, char *err, size_t errlen);

/* Per-worker counters (summed by the control plane). */
struct dp_http_stats {
	uint64_t requests;   /* requests parsed (valid or not) */
	uint64_t responses;  /* responses rendered */
	uint64_t by_code[6]; /* 1xx..5xx by first digit (index 1..5) */
	uint64_t errors;     /* answered by the codec itself (4xx/5xx without a shard) */
	uint64_t limited;    /* of those, 429 because the client's bucket was empty */
	uint64_t timeouts;   /* 408 sent or idle connections closed */
};

/* Per-worker time and counters: the front end updates the clock once per
 * loop iteration (dp_http_ctx_clock); connections only read it. */
struct dp_http_ctx {
	const struct dp_http_cfg *cfg;
	/* The per-address bucket of a request the codec refuses itself
	 * (malformed, bad route or body, a limit, a header timeout): every
	 * request counts against its client's bucket (HTTP-API.md). client_ip
	 * (host order) is the address derived from the headers once they are
	 * complete, the TCP peer before. Returns true when a token was there
	 * (the codec's own status is answered); false with *retry_ms set when
	 * the bucket is empty (the answer is 429 RATE_LIMITED instead; a
	 * closing error still closes). NULL: nothing is charged. */
	bool (*charge)(void *arg, uint32_t client_ip, int64_t mono_ns, uint32_t *retry_ms);
	void *charge_arg;
	int64_t mono_ns;		 /* monotonic, for charge */
	int64_t mono_ms;		 /* monotonic, for timeouts */
	int64_t unix_ms;		 /* wall clock, for Date and /v1/time */
	int64_t date_s;			 /* the second `date` was formatted for */
	char date[DP_HTTP_DATE_LEN + 1]; /* IMF-fixdate of unix_ms */
	struct dp_http_stats stats;
};

void dp_http_ctx_init(struct dp_http_ctx *ctx, const struct dp_http_cfg *cfg, int64_t mono_ns,
		      int64_t unix_ns);
/* Set the clock; re-formats the Date string only when the second changed. */
void dp_http_ctx_clock(struct dp_http_ctx *ctx, int64_t mono_ns, int64_t unix_ns);
/* Format unix seconds as an IMF-fixdate (RFC 9110) into out[DP_HTTP_DATE_LEN + 1]. */
void dp_http_format_date(int64_t unix_s, char *out);

/* ---- requests and responses ---- */

/* Routes of HTTP-API.md "Endpoints". */
enum dp_http_route {
	DP_HTTP_R_NONE = 0,
	DP_HTTP_R_TIME,	   /* GET /v1/time */
	DP_HTTP_R_ITEM,	   /* GET /v1/items/{item} */
	DP_HTTP_R_BUY,	   /* POST /v1/buy */
	DP_HTTP_R_CONFIRM, /* POST /v1/orders/{order}/confirm */
	DP_HTTP_R_CANCEL,  /* POST /v1/orders/{order}/cancel */
	DP_HTTP_R_ORDER,   /* GET /v1/orders/{order}?user=&token= */
};

/* A request that passed the codec: decide req and complete the slot. */
struct dp_http_req {
	struct fs_req req;  /* op TIME included: see dp_http_conn_complete_time() */
	uint32_t client_ip; /* host order: the rate-limit key (dp_http_client_ip) */
	uint16_t slot;	    /* pass back to dp_http_conn_complete() */
};

/* One parsed HTTP request before routing (filled by the parser callbacks). */
struct dp_http_msg {
	uint8_t method; /* enum http_method */
	uint8_t http_minor;
	bool keep_alive; /* http_should_keep_alive() at headers complete */
	bool has_host;
	bool has_te;	   /* any Transfer-Encoding */
	bool has_cl;	   /* a Content-Length */
	bool headers_done; /* the headers are complete: the client-IP header counts */
	bool in_headers;   /* the request line is behind us */
	bool in_iphdr;	   /* the header being read is the client-IP header */
	uint8_t hdr_state; /* which header's name/value is being read */
	uint16_t name_len;
	uint16_t url_len;
	uint16_t body_len;
	uint16_t iphdr_len;
	uint16_t iphdr_count; /* client-IP header lines seen */
	char name[DP_HTTP_HDRNAME_MAX];
	char url[DP_HTTP_URL_MAX];
	char iphdr[DP_HTTP_IPHDR_MAX];
	char body[DP_HTTP_BODY_MAX];
};

/* Route a complete message (method, URL, body) to an fs_req. Returns 0 and
 * fills req, or the HTTP status to answer (400, 404, 405) with *route set to
 * the matched route (for 405's Allow) and *why a short reason. Pure. */
int dp_http_route_msg(const struct dp_http_msg *m, struct fs_req *req, uint8_t *route,
		      const char **why);

/* Render the answer to a request of op (struct fs_resp, status from
 * PROTOCOL.md) into out[0..cap). route decides Cache-Control; close adds
 * "Connection: close", ka10 "Connection: keep-alive" (an HTTP/1.0 client
 * that asked for it). Returns the length, or 0 when cap is too small. */
size_t dp_http_render_resp(const struct fs_resp *resp, uint8_t route, bool close, bool ka10,
			   const char *date, char *out, size_t cap);
/* Render a codec error (400, 404, 405, 408, 411, 413, 414, 431, 505):
 * {"status":"BAD_REQUEST","error":why}; route sets 405's Allow. */
size_t dp_http_render_error(unsigned code, const char *why, uint8_t route, bool close, bool ka10,
			    const char *date, char *out, size_t cap);
/* The HTTP status for a PROTOCOL.md status (200, 400, 429, 503). */
unsigned dp_http_status_code(unsigned fs_status);

/* ---- the connection (dp_http_conn.c) ---- */

enum dp_http_slot_state {
	DP_HTTP_SLOT_FREE = 0,
	DP_HTTP_SLOT_PENDING, /* handed to the caller, no answer yet */
	DP_HTTP_SLOT_DONE,    /* answer known, waiting for its turn in the output */
};

struct dp_http_slot {
	uint8_t state;	   /* enum dp_http_slot_state */
	uint8_t route;	   /* enum dp_http_route */
	bool close;	   /* close the connection after this response */
	bool ka10;	   /* HTTP/1.0 keep-alive */
	uint16_t err_code; /* != 0: a codec error to render instead of resp */
	const char *why;   /* err_code's reason (a static string) */
	struct fs_resp resp;
};

struct dp_http_conn {
	http_parser parser;
	struct dp_http_ctx *ctx;
	uint32_t peer_ip;  /* host order */
	bool stopped;	   /* no more requests are read (close pending, or error) */
	bool want_close;   /* the response that closes was rendered */
	uint16_t close_code; /* why (metrics): the closing response's error code, 0 for a
			      * client's Connection: close, 1 for an idle timeout */
	bool in_msg;	   /* a request has begun and is not complete */
	bool msg_done;	   /* on_message_complete ran (the parser paused) */
	bool iphdr_trunc;  /* the client-IP header lost its head */
	uint16_t err_code; /* set by a callback that rejected the request */
	const char *err_why;
	int64_t accept_ms;	   /* monotonic */
	int64_t msg_start_ms;	   /* first byte of the current request, or accept */
	int64_t active_ms;	   /* last input or output progress, for idle */
	uint64_t nreq;		   /* requests parsed (or timed out) so far */
	uint32_t head, count;	   /* slot ring: oldest, number in use */
	uint32_t in_off, in_len;   /* unparsed input is in[in_off..in_len) */
	uint32_t out_off, out_len; /* unsent bytes are out[out_off..out_len) */
	struct dp_http_slot slots[DP_HTTP_PIPELINE_MAX];
	struct dp_http_msg msg;
	char in[DP_HTTP_IN_MAX];
	char out[DP_HTTP_OUT_MAX];
};

/* Start a connection accepted at ctx->mono_ms from peer (IPv4, host order). */
void dp_http_conn_init(struct dp_http_conn *c, struct dp_http_ctx *ctx, uint32_t peer_ip);

/* Where the next received bytes go: *buf and the room there (0: stop reading). */
size_t dp_http_conn_rx_space(struct dp_http_conn *c, char **buf);
/* n bytes were written at the rx_space() buffer. */
void dp_http_conn_rx_commit(struct dp_http_conn *c, size_t n);
/* Copy up to len bytes in (rx_space + rx_commit); returns how many were taken. */
size_t dp_http_conn_input(struct dp_http_conn *c, const void *data, size_t len);

/* Parse on: 1 with *out set for a request to decide (its slot is PENDING), 0
 * when more input or a free slot is needed, or the connection stopped
 * reading. Malformed requests are answered here (a DONE slot). */
int dp_http_conn_next(struct dp_http_conn *c, struct dp_http_req *out);

/* Give the answer for a PENDING slot (resp->op is the request's op).
 * Responses render into the output as soon as every earlier one has. */
void dp_http_conn_complete(struct dp_http_conn *c, uint16_t slot, const struct fs_resp *resp);
/* Answer a TIME request from ctx->unix_ms ({"now_ms":...}). */
void dp_http_conn_complete_time(struct dp_http_conn *c, uint16_t slot);

/* Bytes waiting to be sent (*data, length; 0 when none). */
size_t dp_http_conn_tx_data(struct dp_http_conn *c, const char **data);
/* n of them were sent. */
void dp_http_conn_tx_done(struct dp_http_conn *c, size_t n);

/* Check the header and idle timeouts at ctx->mono_ms: a header timeout
 * queues 408 and stops reading; idle sets want_close. */
void dp_http_conn_tick(struct dp_http_conn *c);
/* The monotonic ms at which dp_http_conn_tick() next has something to do,
 * or INT64_MAX. */
int64_t dp_http_conn_deadline_ms(const struct dp_http_conn *c);

/* Close once the output is drained: a close was asked for (Connection:
 * close, HTTP/1.0, an error past a limit) and its response is in the output,
 * or the connection idled out. */
bool dp_http_conn_want_close(const struct dp_http_conn *c);
/* Requests handed out and not completed (a closing front end must still
 * complete them: shards answer every request). */
unsigned dp_http_conn_pending(const struct dp_http_conn *c);

#endif
