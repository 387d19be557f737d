/*
 * fs_proto.c — names of FSP/1 ops, status codes and order states, for logs,
 * the CLI and the bench.
 */
#include "fs_proto.h"

#include <stddef.h>
#include <strings.h>

static const char *const op_names[FS_OP_MAX + 1] = {
	[FS_OP_BUY] = "BUY",
	[FS_OP_CONFIRM] = "CONFIRM",
	[FS_OP_CANCEL] = "CANCEL",
	[FS_OP_ORDER_STATUS] = "ORDER_STATUS",
	[FS_OP_ITEM_STATUS] = "ITEM_STATUS",
	[FS_OP_TIME] = "TIME",
};

static const char *const status_names[FS_ST_COUNT] = {
	[FS_ST_OK] = "OK",
	[FS_ST_SOLD_OUT] = "SOLD_OUT",
	[FS_ST_LIMIT_EXCEEDED] = "LIMIT_EXCEEDED",
	[FS_ST_NOT_STARTED] = "NOT_STARTED",
	[FS_ST_ENDED] = "ENDED",
	[FS_ST_BAD_TOKEN] = "BAD_TOKEN",
	[FS_ST_RATE_LIMITED] = "RATE_LIMITED",
	[FS_ST_BUSY] = "BUSY",
	[FS_ST_NOT_FOUND] = "NOT_FOUND",
	[FS_ST_BAD_REQUEST] = "BAD_REQUEST",
	[FS_ST_UNKNOWN_ITEM] = "UNKNOWN_ITEM",
	[FS_ST_WRONG_STATE] = "WRONG_STATE",
	[FS_ST_UNAVAILABLE] = "UNAVAILABLE",
};

static const char *const state_names[] = {
	[FS_STATE_NONE] = "NONE",
	[FS_STATE_RESERVED] = "RESERVED",
	[FS_STATE_PAID] = "PAID",
	[FS_STATE_CANCELLED] = "CANCELLED",
	[FS_STATE_EXPIRED] = "EXPIRED",
};

const char *fs_op_name(unsigned op)
{
	return (op >= 1 && op <= FS_OP_MAX) ? op_names[op] : "?";
}

const char *fs_status_name(unsigned status)
{
	return status < FS_ST_COUNT ? status_names[status] : "?";
}

const char *fs_state_name(unsigned state)
{
	return state <= FS_STATE_EXPIRED ? state_names[state] : "?";
}

int fs_op_parse(const char *name)
{
	for (unsigned op = 1; op <= FS_OP_MAX; op++)
		if (strcasecmp(name, op_names[op]) == 0)
			return (int)op;
	return -1;
}
