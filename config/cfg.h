/*
 * cfg.h — the appliance configuration: one INI file, loaded once, validated
 * whole, then immutable (CONFIG.md is the contract; docs/configuration.md
 * documents every key with its default and range).
 *
 * The loader is table driven (a schema row per key: section, name, type,
 * bounds, default, where it goes), in the manner of nginx's ngx_command_t.
 * It does not use DPDK's rte_cfgfile: that parser keeps no line numbers and
 * config/ must build and be tested without DPDK (CONVENTIONS.md).
 *
 * Every error names the place: "FILE:LINE: [section] key: what is wrong"
 * (line 0 for whole-file checks such as a missing section).
 */
#ifndef CFG_H
#define CFG_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fs_common.h"

enum cfg_mode { CFG_MODE_KERNEL = 0, CFG_MODE_DPDK = 1 };
enum cfg_durability { CFG_DUR_SYNC = 0, CFG_DUR_BATCH = 1, CFG_DUR_NONE = 2 };
enum cfg_repl_role { CFG_ROLE_PRIMARY = 0, CFG_ROLE_STANDBY = 1 };
enum cfg_repl_ack { CFG_ACK_LOCAL = 0, CFG_ACK_STANDBY = 1 };
enum cfg_repl_loss { CFG_LOSS_WAIT = 0, CFG_LOSS_DEGRADE = 1 };

#define CFG_HOSTPORT_BYTES 32 /* "a.b.c.d:port" */

struct cfg_activity {
	uint32_t id;                 /* from the section name [activity.ID], 1..2^32-1 */
	char name[FS_NAME_MAX];
	int64_t start_ns;            /* unix ns; "now", "now+30s", "now-1h" resolve at load */
	int64_t end_ns;              /* > start_ns */
	bool require_token;
	uint8_t token_key[16];
	bool has_payment_key;        /* payment_key given: CONFIRM (and payment CANCEL) need its token */
	uint8_t payment_key[16];
	uint32_t pay_timeout_s;      /* 1..86400, default 900 */
};

struct cfg_item {
	uint32_t id;                 /* from [item.ID], 1..2^32-1 */
	uint32_t activity_id;        /* must name a configured activity */
	uint32_t total;              /* units, 0..2^31-1 */
	uint64_t price_cents;
	uint32_t per_user_limit;     /* >= 1, default 1 */
	uint16_t max_per_order;      /* 1..per_user_limit, default 1 */
	uint16_t activity_index;     /* index into cfg.activities, set by the loader */
};

#define CFG_TRUSTED_PROXIES_BYTES 1024
#define CFG_IPHDR_NAME_BYTES 32 /* = DP_HTTP_HDRNAME_MAX */

struct cfg {
	char path[FS_PATH_MAX];      /* the file this came from */

	/* [appliance] */
	enum cfg_mode mode;
	unsigned workers;            /* 1..FS_WORKERS_MAX, default 2 */
	char eal[FS_EAL_ARGS_MAX];   /* extra EAL arguments, "" if none */
	unsigned idle_sleep_us;      /* kernel mode: how long an idle worker blocks, default 100000 */

	/* [net] */
	char address_str[INET_ADDRSTRLEN];
	struct in_addr address;      /* network order */
	uint16_t udp_port;           /* 1..65535, default 7700 */
	uint16_t http_port;          /* 0 = off, default 8080 */
	char trusted_proxies[CFG_TRUSTED_PROXIES_BYTES]; /* CIDR list, "" = none (HTTP-API.md) */
	char client_ip_header[CFG_IPHDR_NAME_BYTES];     /* default X-Forwarded-For */
	unsigned http_max_conns;     /* HTTP connections per worker, preallocated, default 4096 */
	unsigned http_head_max;      /* request line + headers bytes, default 8192 */
	unsigned http_body_max;      /* body bytes, default 4096 */
	unsigned http_header_timeout_ms; /* default 10000 */
	unsigned http_idle_timeout_ms;   /* default 900000 */
	unsigned http_pipeline_max;  /* pipelined requests queued per connection, default 64 */
	unsigned ring_size;          /* hand-off ring entries, power of 2, default 4096 */

	/* [persist] */
	char persist_dir[FS_PATH_MAX];
	enum cfg_durability durability;
	unsigned snapshot_interval_s;   /* default 30 */
	unsigned consumer_retention_mb; /* log kept for change-feed consumers, per shard; default 4096 */
	unsigned sync_interval_ms;      /* batch mode, default 10 */

	/* [limits] */
	uint64_t max_orders;         /* per appliance, default 1000000, >= sum of item totals */
	uint64_t max_idempotency;    /* stored answers per appliance, default 2 * max_orders */
	unsigned idempotency_retention_s; /* >= 600, default 600 */
	unsigned per_ip_rate, per_ip_burst;     /* 0 = off */
	unsigned per_user_rate, per_user_burst; /* 0 = off */

	/* [admin] */
	char admin_address_str[INET_ADDRSTRLEN]; /* the operations listener */
	struct in_addr admin_address; /* network order, default 127.0.0.1 */
	uint16_t admin_port;         /* 0 = off, default 8081 */
	bool admin_enabled;
	uint8_t admin_key[32];

	/* [replication] (docs/configuration.md; persist/repl.h) */
	enum cfg_repl_role repl_role;     /* default primary */
	char repl_primary_str[CFG_HOSTPORT_BYTES]; /* standby: the primary's address:port */
	struct in_addr repl_primary;      /* network order */
	uint16_t repl_primary_port;       /* 0 = none */
	char repl_listen_str[CFG_HOSTPORT_BYTES];  /* primary: address:port or port; "" = off */
	struct in_addr repl_listen;       /* network order; a bare port: [net] address */
	uint16_t repl_listen_port;        /* 0 = no standby */
	enum cfg_repl_ack repl_ack;       /* default local */
	unsigned repl_standby_timeout_ms; /* default 1000 */
	enum cfg_repl_loss repl_on_loss;  /* default wait */

	unsigned n_activities;
	struct cfg_activity *activities; /* n_activities entries, in file order */
	unsigned n_items;
	struct cfg_item *items;          /* n_items entries, in file order */
};

/* Load and validate path into *out (zeroed first). On failure returns
 * -EINVAL (or -errno for an unreadable file), writes one line
 * "FILE:LINE: [section] key: reason" into err (errlen bytes), and leaves
 * nothing allocated. now_ns resolves relative times ("now+10s"). */
int cfg_load(const char *path, int64_t now_ns, struct cfg *out, char *err, size_t errlen);

/* Same, from a string (for tests); name is used in messages in place of a path. */
int cfg_load_string(const char *name, const char *text, int64_t now_ns, struct cfg *out,
		    char *err, size_t errlen);

/* Free what cfg_load allocated; safe on a zeroed struct. */
void cfg_free(struct cfg *c);

/* Lookups; NULL if absent. O(n) — control plane and start-up only. */
const struct cfg_item *cfg_find_item(const struct cfg *c, uint32_t item_id);
const struct cfg_activity *cfg_find_activity(const struct cfg *c, uint32_t activity_id);

/* "kernel"/"dpdk", "sync"/"batch"/"none". */
const char *cfg_mode_name(enum cfg_mode m);
const char *cfg_durability_name(enum cfg_durability d);

/* Print a human summary of what was loaded (one line per activity and item
 * up to a limit) through fs_log. */
void cfg_log_summary(const struct cfg *c);

#endif
