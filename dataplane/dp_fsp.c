/*
 * dp_fsp.c — the FSP/1 wire codec (PROTOCOL.md is normative; this is its
 * byte-for-byte reading).
 *
 * Every integer on the wire is unsigned big-endian. A datagram is an 8-byte
 * header followed by count 64-byte messages:
 *
 *   datagram header (8 bytes)
 *     0  2  magic     0x4653 ("FS")
 *     2  1  version   1
 *     3  1  count     1..32
 *     4  4  reserved  written 0, ignored on receive
 *     8  64*count messages
 *
 *   request message (64 bytes)          response message (64 bytes)
 *     0  1  op                            0  1  op
 *     1  1  flags                         1  1  status
 *     2  2  qty                           2  2  qty
 *     4  4  item_id                       4  4  item_id
 *     8  8  user_id                       8  8  user_id
 *    16  8  request_id                   16  8  request_id
 *    24  8  order_id                     24  8  order_id
 *    32 16  token (opaque bytes)         32  8  server_time (unix ns)
 *    48  8  ref                          40  8  deadline (unix ns)
 *    56  8  reserved                     48  4  available
 *                                        52  1  state
 *                                        53  3  reserved
 *                                        56  4  retry_after_ms
 *                                        60  4  reserved
 *
 * Framing is strict: dp_fsp_parse_header() accepts a datagram only when its
 * length is exactly 8 + 64 * count, the magic and version match and count is
 * 1..32. It checks the length against the 8-byte header before touching any
 * byte, so a short buffer is never over-read. Field values inside a
 * well-framed message are not judged here; the store answers BAD_REQUEST.
 *
 * Reserved bytes (header 4..7, request 56..63, response 53..55 and 60..63)
 * are ignored on decode and written as zero on encode, so that a peer that
 * one day uses them does not break us, and we never leak stack bytes.
 * Request flags are a field of struct fs_req and are carried as they are.
 *
 * Speed: this runs once per message on the data path. Each field is one
 * unaligned load or store (memcpy, which compilers turn into a single mov)
 * plus a byte swap (be64toh and friends, one bswap); there are no loops over
 * bytes. Encoders write every byte of the 64, so callers need not clear the
 * buffer first.
 */
#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dp.h"
#include "fs_common.h"

/* Offsets within the header and the messages: PROTOCOL.md's tables. */
enum {
	HDR_MAGIC = 0,
	HDR_VERSION = 2,
	HDR_COUNT = 3,
	HDR_RESERVED = 4,

	MSG_OP = 0,
	MSG_FLAGS_STATUS = 1,
	MSG_QTY = 2,
	MSG_ITEM = 4,
	MSG_USER = 8,
	MSG_REQUEST = 16,
	MSG_ORDER = 24,

	REQ_TOKEN = 32,
	REQ_REF = 48,
	REQ_RESERVED = 56,

	RESP_SERVER_TIME = 32,
	RESP_DEADLINE = 40,
	RESP_AVAILABLE = 48,
	RESP_STATE = 52,
	RESP_RESERVED1 = 53,
	RESP_RETRY_AFTER = 56,
	RESP_RESERVED2 = 60,
};

#define FSP_COUNT_MAX 32u

_Static_assert(FSP_HDR_LEN == 8, "FSP header is 8 bytes");
_Static_assert(FSP_MSG_LEN == 64, "FSP messages are 64 bytes");
_Static_assert(FSP_COUNT_MAX == FS_MSGS_MAX, "one limit for messages per datagram");
_Static_assert(REQ_TOKEN + FSP_TOKEN_LEN == REQ_REF, "token is followed by ref");
_Static_assert(REQ_RESERVED + 8 == FSP_MSG_LEN, "request ends with 8 reserved bytes");
_Static_assert(RESP_STATE + 1 == RESP_RESERVED1 && RESP_RESERVED1 + 3 == RESP_RETRY_AFTER,
	       "state and 3 reserved bytes share one 32-bit word");
_Static_assert(RESP_RESERVED2 + 4 == FSP_MSG_LEN, "response ends with 4 reserved bytes");

static inline uint16_t ld16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return be16toh(v);
}

static inline uint32_t ld32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static inline uint64_t ld64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static inline void st16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void st32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void st64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, sizeof(v));
}

int dp_fsp_parse_header(const uint8_t *buf, size_t len)
{
	if (unlikely(len < FSP_HDR_LEN))
		return -DP_FSP_ERR_SHORT;
	if (unlikely(ld16(buf + HDR_MAGIC) != FSP_MAGIC))
		return -DP_FSP_ERR_MAGIC;
	if (unlikely(buf[HDR_VERSION] != FSP_VERSION))
		return -DP_FSP_ERR_VERSION;

	unsigned count = buf[HDR_COUNT];
	if (unlikely(count == 0 || count > FSP_COUNT_MAX))
		return -DP_FSP_ERR_COUNT;
	if (unlikely(len != FSP_HDR_LEN + (size_t)FSP_MSG_LEN * count))
		return -DP_FSP_ERR_LENGTH;
	return (int)count;
}

const char *dp_fsp_err_name(int err)
{
	/* Accept -code (as returned) or code; unsigned negation cannot overflow. */
	unsigned code = err < 0 ? 0u - (unsigned)err : (unsigned)err;

	switch (code) {
	case DP_FSP_ERR_SHORT:
		return "short datagram";
	case DP_FSP_ERR_MAGIC:
		return "bad magic";
	case DP_FSP_ERR_VERSION:
		return "bad version";
	case DP_FSP_ERR_COUNT:
		return "bad count";
	case DP_FSP_ERR_LENGTH:
		return "bad length";
	default:
		return "unknown framing error";
	}
}

void dp_fsp_write_header(uint8_t *buf, unsigned count)
{
	/* A count outside 1..32 would frame a datagram no peer accepts: a bug. */
	FS_ASSERT(count >= 1);
	FS_ASSERT(count <= FSP_COUNT_MAX);
	st16(buf + HDR_MAGIC, (uint16_t)FSP_MAGIC);
	buf[HDR_VERSION] = (uint8_t)FSP_VERSION;
	buf[HDR_COUNT] = (uint8_t)count;
	st32(buf + HDR_RESERVED, 0);
}

void dp_fsp_decode_req(const uint8_t *msg, struct fs_req *out)
{
	out->op = msg[MSG_OP];
	out->flags = msg[MSG_FLAGS_STATUS];
	out->qty = ld16(msg + MSG_QTY);
	out->item_id = ld32(msg + MSG_ITEM);
	out->user_id = ld64(msg + MSG_USER);
	out->request_id = ld64(msg + MSG_REQUEST);
	out->order_id = ld64(msg + MSG_ORDER);
	memcpy(out->token, msg + REQ_TOKEN, FSP_TOKEN_LEN);
	out->ref = ld64(msg + REQ_REF);
}

void dp_fsp_encode_req(const struct fs_req *req, uint8_t *msg)
{
	msg[MSG_OP] = req->op;
	msg[MSG_FLAGS_STATUS] = req->flags;
	st16(msg + MSG_QTY, req->qty);
	st32(msg + MSG_ITEM, req->item_id);
	st64(msg + MSG_USER, req->user_id);
	st64(msg + MSG_REQUEST, req->request_id);
	st64(msg + MSG_ORDER, req->order_id);
	memcpy(msg + REQ_TOKEN, req->token, FSP_TOKEN_LEN);
	st64(msg + REQ_REF, req->ref);
	st64(msg + REQ_RESERVED, 0);
}

void dp_fsp_decode_resp(const uint8_t *msg, struct fs_resp *out)
{
	out->op = msg[MSG_OP];
	out->status = msg[MSG_FLAGS_STATUS];
	out->qty = ld16(msg + MSG_QTY);
	out->item_id = ld32(msg + MSG_ITEM);
	out->user_id = ld64(msg + MSG_USER);
	out->request_id = ld64(msg + MSG_REQUEST);
	out->order_id = ld64(msg + MSG_ORDER);
	out->server_time_ns = ld64(msg + RESP_SERVER_TIME);
	out->deadline_ns = ld64(msg + RESP_DEADLINE);
	out->available = ld32(msg + RESP_AVAILABLE);
	out->state = msg[RESP_STATE];
	out->retry_after_ms = ld32(msg + RESP_RETRY_AFTER);
}

void dp_fsp_encode_resp(const struct fs_resp *resp, uint8_t *msg)
{
	msg[MSG_OP] = resp->op;
	msg[MSG_FLAGS_STATUS] = resp->status;
	st16(msg + MSG_QTY, resp->qty);
	st32(msg + MSG_ITEM, resp->item_id);
	st64(msg + MSG_USER, resp->user_id);
	st64(msg + MSG_REQUEST, resp->request_id);
	st64(msg + MSG_ORDER, resp->order_id);
	st64(msg + RESP_SERVER_TIME, resp->server_time_ns);
	st64(msg + RESP_DEADLINE, resp->deadline_ns);
	st32(msg + RESP_AVAILABLE, resp->available);
	/* state (1 byte) and the 3 reserved bytes after it form one 32-bit word. */
	st32(msg + RESP_STATE, (uint32_t)resp->state << 24);
	st32(msg + RESP_RETRY_AFTER, resp->retry_after_ms);
	st32(msg + RESP_RESERVED2, 0);
}
