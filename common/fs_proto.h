/*
 * fs_proto.h — FSP/1 (PROTOCOL.md) as plain host-order C values.
 *
 * The wire codec (dataplane/dp_fsp.h) turns 64-byte big-endian messages into
 * these structs and back; the store decides on them. Keeping the decision
 * logic on host-order structs lets store/ be tested without packets.
 */
#ifndef FS_PROTO_H
#define FS_PROTO_H

#include <stdint.h>

#define FSP_MAGIC 0x4653u
#define FSP_VERSION 1u
#define FSP_HDR_LEN 8u
#define FSP_MSG_LEN 64u
#define FSP_TOKEN_LEN 16u
#define FSP_DEFAULT_PORT 7700u

enum fs_op {
	FS_OP_BUY = 1,
	FS_OP_CONFIRM = 2,
	FS_OP_CANCEL = 3,
	FS_OP_ORDER_STATUS = 4,
	FS_OP_ITEM_STATUS = 5,
	FS_OP_TIME = 6,
};
#define FS_OP_MAX 6

enum fs_status {
	FS_ST_OK = 0,
	FS_ST_SOLD_OUT = 1,
	FS_ST_LIMIT_EXCEEDED = 2,
	FS_ST_NOT_STARTED = 3,
	FS_ST_ENDED = 4,
	FS_ST_BAD_TOKEN = 5,
	FS_ST_RATE_LIMITED = 6,
	FS_ST_BUSY = 7,
	FS_ST_NOT_FOUND = 8,
	FS_ST_BAD_REQUEST = 9,
	FS_ST_UNKNOWN_ITEM = 10,
	FS_ST_WRONG_STATE = 11,
	FS_ST_UNAVAILABLE = 12,
};
#define FS_ST_COUNT 13

enum fs_order_state {
	FS_STATE_NONE = 0,
	FS_STATE_RESERVED = 1,
	FS_STATE_PAID = 2,
	FS_STATE_CANCELLED = 3,
	FS_STATE_EXPIRED = 4,
};

/* A request message (PROTOCOL.md "Request message"), host order. */
struct fs_req {
	uint8_t op;
	uint8_t flags;
	uint16_t qty;
	uint32_t item_id;
	uint64_t user_id;
	uint64_t request_id;
	uint64_t order_id;
	uint8_t token[FSP_TOKEN_LEN];
	uint64_t ref;
};

/* A response message (PROTOCOL.md "Response message"), host order. */
struct fs_resp {
	uint8_t op;
	uint8_t status;
	uint16_t qty;
	uint32_t item_id;
	uint64_t user_id;
	uint64_t request_id;
	uint64_t order_id;
	uint64_t server_time_ns;
	uint64_t deadline_ns;
	uint32_t available;
	uint8_t state;
	uint32_t retry_after_ms;
};

/* Name of an op / status / order state ("BUY", "SOLD_OUT", "RESERVED");
 * "?" for an unknown value. */
const char *fs_op_name(unsigned op);
const char *fs_status_name(unsigned status);
const char *fs_state_name(unsigned state);
/* Parse a status/op name (case-insensitive); -1 if unknown. */
int fs_op_parse(const char *name);

/* The shard that owns an item: a pure function, the same on every core. */
static inline unsigned fs_shard_of_item(uint32_t item_id, unsigned nshards)
{
	uint32_t h = item_id * 0x9E3779B1u; /* Fibonacci hashing spreads sequential ids */
	h ^= h >> 16;
	return h % nshards;
}

/* Order ids carry their shard in the low bits, so CONFIRM/CANCEL/ORDER_STATUS
 * are routed without a lookup. */
static inline unsigned fs_shard_of_order(uint64_t order_id)
{
	return (unsigned)(order_id & ((1u << 8) - 1));
}
static inline uint64_t fs_order_seq(uint64_t order_id)
{
	return order_id >> 8;
}
static inline uint64_t fs_order_id(uint64_t seq, unsigned shard)
{
	return (seq << 8) | shard;
}

#endif
