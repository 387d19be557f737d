/*
 * flashsale.c — the FSP/1 client and admin CLI (no DPDK).
 *
 *   flashsale [global options] COMMAND [options]
 *
 * One command sends one request: a datagram with count 1 (PROTOCOL.md
 * "Datagram") over a UDP socket connected to server:port, then polls for the
 * response whose (user_id, request_id) match the request. Anything else that
 * arrives — a malformed datagram (checked with dp_fsp_parse_header, exactly as
 * the appliance checks ours), a late answer to an earlier try of another
 * process — is ignored. When a try times out the SAME datagram is resent:
 * the request_id does not change, so BUY/CONFIRM/CANCEL stay idempotent and a
 * retry can never reserve twice.
 *
 * Options are parsed once with getopt_long over one table; each command row
 * says which command options it accepts and which it needs, so a misplaced
 * option is a usage error that names it. --config fills in what the options
 * did not say (server address, port, an item's activity and that activity's
 * keys); an explicit option always wins.
 *
 * Tokens (PROTOCOL.md "Tokens"): --token is sent as given; otherwise BUY and
 * ORDER_STATUS use the buy form fs_token_buy(token_key, user, activity),
 * CONFIRM the payment form fs_token_pay(payment_key, order, user, ref), and
 * CANCEL the payment form when --payment-key is given explicitly, else the buy
 * form (the appliance accepts either for CANCEL).
 *
 * feed and audit are not FSP requests: they read the data directory
 * (persist/: the logs and snapshot.db) and never change a file, so they can
 * run next to a live daemon. feed prints the change records of the logs as
 * JSON lines (seq = the shard's LSN; a consumer's offset older than the log
 * is a gap: exit 4, resync from snapshot.db). audit opens the durable state
 * exactly as the daemon does (persist_open, read-only: the manifest checks,
 * snapshot + logs into shards built from --config), runs store_audit,
 * checks every logged change against the recovered orders and every item's
 * units, and prints a summary.
 *
 * top is the live sale-night view over the operations listener's /metrics
 * (flashsale_top.c, its own options: flashsale top --help).
 *
 * Exit status: 0 OK, 1 the appliance answered with another status (printed;
 * for feed and audit: a failure or a violation), 2 usage or config error,
 * 3 no answer after all tries (or a socket error), 4 feed gap.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "cfg.h"
#include "dp.h"
#include "flashsale_top.h"
#include "fs_common.h"
#include "fs_proto.h"
#include "fs_token.h"
#include "persist.h"
#include "store.h"

#define EXIT_NOT_OK 1
#define EXIT_USAGE 2
#define EXIT_NO_ANSWER 3
#define EXIT_GAP 4

#define DEFAULT_SERVER "127.0.0.1"
#define DEFAULT_TIMEOUT_MS 1000u
#define DEFAULT_RETRIES 3u
#define TIMEOUT_MS_MAX 3600000u
#define RETRIES_MAX 1000u
#define RX_BUF_LEN (FSP_HDR_LEN + FSP_MSG_LEN * FS_MSGS_MAX)

/* Option ids: the index into long_opts and the bit in the masks below. */
enum opt_id {
	OPT_SERVER, OPT_PORT, OPT_CONFIG, OPT_TIMEOUT_MS, OPT_RETRIES, OPT_JSON, OPT_HELP,
	OPT_USER, OPT_REQUEST_ID, OPT_ITEM, OPT_QTY, OPT_ORDER, OPT_REF, OPT_TOKEN,
	OPT_TOKEN_KEY, OPT_ACTIVITY, OPT_PAYMENT_KEY, OPT_DATA, OPT_AFTER, OPT_SHARD, OPT_LIMIT,
	OPT_HTTP, OPT_COUNT
};

#define BIT(o) (1u << (o))
/* Options every command accepts. */
#define GLOBAL_OPTS                                                                          \
	(BIT(OPT_SERVER) | BIT(OPT_PORT) | BIT(OPT_CONFIG) | BIT(OPT_TIMEOUT_MS) |           \
	 BIT(OPT_RETRIES) | BIT(OPT_JSON) | BIT(OPT_HELP) | BIT(OPT_HTTP))
/* Token material is accepted by every command and used where the op needs a
 * token, so a script can pass one set of keys to all its calls. */
#define KEY_OPTS                                                                             \
	(BIT(OPT_TOKEN) | BIT(OPT_TOKEN_KEY) | BIT(OPT_ACTIVITY) | BIT(OPT_PAYMENT_KEY))
#define ID_OPTS (BIT(OPT_USER) | BIT(OPT_REQUEST_ID))

static const struct option long_opts[OPT_COUNT + 1] = {
	[OPT_SERVER] = {"server", required_argument, NULL, OPT_SERVER},
	[OPT_PORT] = {"port", required_argument, NULL, OPT_PORT},
	[OPT_CONFIG] = {"config", required_argument, NULL, OPT_CONFIG},
	[OPT_TIMEOUT_MS] = {"timeout-ms", required_argument, NULL, OPT_TIMEOUT_MS},
	[OPT_RETRIES] = {"retries", required_argument, NULL, OPT_RETRIES},
	[OPT_JSON] = {"json", no_argument, NULL, OPT_JSON},
	[OPT_HELP] = {"help", no_argument, NULL, OPT_HELP},
	[OPT_USER] = {"user", required_argument, NULL, OPT_USER},
	[OPT_REQUEST_ID] = {"request-id", required_argument, NULL, OPT_REQUEST_ID},
	[OPT_ITEM] = {"item", required_argument, NULL, OPT_ITEM},
	[OPT_QTY] = {"qty", required_argument, NULL, OPT_QTY},
	[OPT_ORDER] = {"order", required_argument, NULL, OPT_ORDER},
	[OPT_REF] = {"ref", required_argument, NULL, OPT_REF},
	[OPT_TOKEN] = {"token", required_argument, NULL, OPT_TOKEN},
	[OPT_TOKEN_KEY] = {"token-key", required_argument, NULL, OPT_TOKEN_KEY},
	[OPT_ACTIVITY] = {"activity", required_argument, NULL, OPT_ACTIVITY},
	[OPT_PAYMENT_KEY] = {"payment-key", required_argument, NULL, OPT_PAYMENT_KEY},
	[OPT_DATA] = {"data", required_argument, NULL, OPT_DATA},
	[OPT_AFTER] = {"after", required_argument, NULL, OPT_AFTER},
	[OPT_SHARD] = {"shard", required_argument, NULL, OPT_SHARD},
	[OPT_LIMIT] = {"limit", required_argument, NULL, OPT_LIMIT},
	[OPT_HTTP] = {"http", required_argument, NULL, OPT_HTTP},
	[OPT_COUNT] = {NULL, 0, NULL, 0},
};

_Static_assert(OPT_COUNT <= 32, "option masks are 32 bits");
_Static_assert(OPT_COUNT < ':', "option ids must not collide with getopt's ':', '?' and 'h'");

struct command;

/* Everything the command line and the config said, then the request. */
struct cli {
	const char *server;
	uint16_t port;
	const char *config;
	unsigned timeout_ms;
	unsigned retries;
	bool json;
	bool help;
	const char *http;         /* --http URL: the public HTTP API instead of FSP/1 */

	uint64_t user_id, request_id, order_id, ref;
	uint32_t item_id, activity_id;
	uint16_t qty;
	uint8_t token[FSP_TOKEN_LEN];
	uint8_t token_key[FS_KEY_LEN];
	uint8_t payment_key[FS_KEY_LEN];

	const char *data_dir;     /* feed, audit: the persist directory */
	uint64_t after[FS_WORKERS_MAX]; /* feed: per shard, print LSNs > after[shard] */
	unsigned shard;           /* feed --shard */
	uint64_t limit;           /* feed --limit; 0 = none */

	uint32_t given;           /* BIT(OPT_*) of the options on the command line */
	bool have_activity;       /* activity_id known (option or config) */
	bool have_token_key;      /* token_key known (option or config) */
	bool have_payment_key;    /* payment_key known (option or config) */
	char server_buf[INET_ADDRSTRLEN];
	const struct command *cmd;
};

/* The answer and when it came, for TIME's clock offset. */
struct exchange {
	struct fs_resp resp;
	int64_t sent_ns;          /* wall clock when the answered try was sent */
	int64_t recv_ns;          /* wall clock when its answer arrived */
	unsigned tries;           /* datagrams sent */
	bool refused;             /* an ICMP port unreachable came back */
};

struct command {
	const char *name;
	unsigned op;              /* FSP op; 0 for commands that are not FSP requests */
	uint32_t allowed;         /* command options accepted (globals always are) */
	uint32_t required;        /* command options that must be given */
	int (*run)(struct cli *cli);
	const char *usage;        /* help: synopsis, what it does, an example */
};

static int run_fsp(struct cli *cli);
static int run_feed(struct cli *cli);
static int run_audit(struct cli *cli);

/* The command table. feed and audit read the data directory (read-only),
 * not the appliance over FSP. */
static const struct command commands[] = {
	{"buy", FS_OP_BUY, ID_OPTS | KEY_OPTS | BIT(OPT_ITEM) | BIT(OPT_QTY),
	 BIT(OPT_USER) | BIT(OPT_ITEM), run_fsp,
	 "  buy --user ID --item ID [--qty N] [--request-id ID]\n"
	 "      [--token HEX | --token-key HEX --activity ID]\n"
	 "      Reserve qty units (default 1) of an item; prints the order and its deadline.\n"
	 "      e.g. flashsale buy --user 777 --item 1001 --token-key "
	 "000102030405060708090a0b0c0d0e0f --activity 1\n"
	 "           flashsale --config flashsale.ini buy --user 777 --item 1001 --qty 2\n"},
	{"confirm", FS_OP_CONFIRM,
	 ID_OPTS | KEY_OPTS | BIT(OPT_ORDER) | BIT(OPT_REF) | BIT(OPT_ITEM),
	 BIT(OPT_USER) | BIT(OPT_ORDER), run_fsp,
	 "  confirm --user ID --order ID [--ref N] [--request-id ID]\n"
	 "      [--token HEX | --payment-key HEX]\n"
	 "      Mark a reserved order paid (payment system); token = "
	 "siphash(payment_key, order, user, ref).\n"
	 "      e.g. flashsale confirm --user 777 --order 5 --ref 9 --payment-key "
	 "f0e0d0c0b0a090807060504030201000\n"},
	{"cancel", FS_OP_CANCEL,
	 ID_OPTS | KEY_OPTS | BIT(OPT_ORDER) | BIT(OPT_REF) | BIT(OPT_ITEM),
	 BIT(OPT_USER) | BIT(OPT_ORDER), run_fsp,
	 "  cancel --user ID --order ID [--request-id ID]\n"
	 "      [--token HEX | --token-key HEX --activity ID | --payment-key HEX [--ref N]]\n"
	 "      Cancel a reserved order and release its units; with --payment-key the\n"
	 "      payment-system token is sent, else the user's buy token.\n"
	 "      e.g. flashsale cancel --user 777 --order 5 --token-key "
	 "000102030405060708090a0b0c0d0e0f --activity 1\n"},
	{"order", FS_OP_ORDER_STATUS, ID_OPTS | KEY_OPTS | BIT(OPT_ORDER) | BIT(OPT_ITEM),
	 BIT(OPT_USER) | BIT(OPT_ORDER), run_fsp,
	 "  order --user ID --order ID [--token HEX | --token-key HEX --activity ID]\n"
	 "      Show an order: item, qty, state (RESERVED, PAID, CANCELLED, EXPIRED), deadline.\n"
	 "      e.g. flashsale --json order --user 777 --order 5 --token "
	 "86625a502acbba02624797a4a09b3aca\n"},
	{"item", FS_OP_ITEM_STATUS, ID_OPTS | KEY_OPTS | BIT(OPT_ITEM), BIT(OPT_ITEM), run_fsp,
	 "  item --item ID\n"
	 "      Show how many units of an item are still buyable.\n"
	 "      e.g. flashsale --server 10.0.0.5 item --item 1001\n"},
	{"time", FS_OP_TIME, ID_OPTS | KEY_OPTS, 0, run_fsp,
	 "  time\n"
	 "      Show the appliance's clock and its offset from this host's clock.\n"
	 "      e.g. flashsale --port 7701 time\n"},
	{"feed", 0, BIT(OPT_DATA) | BIT(OPT_AFTER) | BIT(OPT_SHARD) | BIT(OPT_LIMIT),
	 BIT(OPT_DATA) | BIT(OPT_AFTER), run_feed,
	 "  feed --data DIR --after SHARD:SEQ[,SHARD:SEQ...] [--shard N] [--limit N]\n"
	 "      Print the change feed read from DIR's logs (read-only; safe on a live\n"
	 "      appliance): one JSON line per reserve/pay/cancel/expire (and admin\n"
	 "      STOCK/WINDOW change) with seq = the shard's LSN > SEQ (shards not named\n"
	 "      start at 0), shard by shard, in order.\n"
	 "      Exit 4 when SEQ is older than the log keeps: resync from snapshot.db.\n"
	 "      e.g. flashsale feed --data var/flashsale --after 0:1200 --shard 0 --limit 100\n"},
	{"audit", 0, BIT(OPT_DATA), 0, run_audit,
	 "  audit --config FILE [--data DIR]\n"
	 "      Recover snapshot + logs offline (read-only, DIR defaults to [persist] dir),\n"
	 "      check every invariant and that every logged order is in the state; print\n"
	 "      a summary. Exit 0 clean, 1 on any violation or unreadable state.\n"
	 "      e.g. flashsale audit --config flashsale.ini --data var/flashsale\n"
	 "  audit --config FILE --against ADDR:PORT\n"
	 "      Live primary vs standby: compare their logs shard by shard (a digest\n"
	 "      of every record over the LSNs both hold) through both operations\n"
	 "      listeners ([admin] of FILE, and ADDR:PORT; key in FLASHSALE_ADMIN_KEY),\n"
	 "      then per-item counts and per-shard order digests of the state both\n"
	 "      recover (read-only) at the last LSN both hold (GET /admin/state).\n"
	 "      Exit 0 the same, 1 different, 2 could not compare.\n"
	 "      (flashsale admin audit --against)\n"},
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* ---- messages ---- */

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("flashsale: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (try 'flashsale --help')\n", stderr);
	return -EINVAL;
}

static void print_help(FILE *f, const struct command *only)
{
	fputs("usage: flashsale [global options] COMMAND [options]\n"
	      "\n"
	      "Send one FSP/1 request to a flashsale appliance and print its answer.\n"
	      "\n"
	      "Global options:\n"
	      "  --server ADDR      appliance IPv4 address or host name (default " DEFAULT_SERVER
	      ")\n"
	      "  --port N           appliance UDP port (default 7700)\n"
	      "  --config FILE      appliance INI: takes [net] address and udp_port, and for\n"
	      "                     --item (or --activity) the activity id, token_key and\n"
	      "                     payment_key; explicit options override it\n"
	      "  --timeout-ms N     wait per try (default 1000)\n"
	      "  --retries N        resends after the first try, same request_id (default 3)\n"
	      "  --json             print the answer as one JSON object\n"
	      "  --http URL         use the public HTTP API (HTTP-API.md) at URL, e.g.\n"
	      "                     http://127.0.0.1:8080, instead of FSP/1; prints the\n"
	      "                     HTTP status and the JSON body\n"
	      "  -h, --help         this text; 'flashsale COMMAND --help' for one command\n"
	      "\n"
	      "Command options: --user ID, --request-id ID (default: from time and pid),\n"
	      "  --item ID, --qty N, --order ID, --ref N, --token HEX (32 hex digits),\n"
	      "  --token-key HEX with --activity ID, --payment-key HEX. The token options are\n"
	      "  accepted by every command and used where its op needs a token: buy and order\n"
	      "  use the token key, confirm the payment key, cancel the payment key if given\n"
	      "  (else the token key). --item on confirm/cancel/order only selects the\n"
	      "  activity in --config; it is not sent.\n"
	      "\n"
	      "Commands:\n",
	      f);
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!only || only == &commands[i])
			fputs(commands[i].usage, f);
	fputs("  admin ACTION [options]\n"
	      "      The admin API (stock, open, close, window, items, catalog, audit,\n"
	      "      snapshot, promote); key from FLASHSALE_ADMIN_KEY or --key-file. 'flashsale admin --help'.\n"
	      "      e.g. flashsale admin stock --config flashsale.ini --item 1001 --delta 500\n",
	      f);
	if (!only)
		fputs("  top [--admin ADDR:PORT | --config FILE] [--interval-ms N]\n"
		      "      Live sale-night view from the operations listener's /metrics\n"
		      "      (its own options: flashsale top --help).\n"
		      "      e.g. flashsale top --config flashsale.ini\n",
		      f);
	if (!only)
		fputs("  export --config FILE --db CONNINFO [...]\n"
		      "      Orders into PostgreSQL, exactly once: runs flashsale-export (its own\n"
		      "      options: flashsale export --help).\n"
		      "      e.g. flashsale export --config flashsale.ini --db 'host=/run/postgresql dbname=shop'\n",
		      f);
	fputs("\nExit status: 0 OK, 1 answered with another status (feed, audit: failed),\n"
	      "2 usage or config error, 3 no answer after all retries, 4 feed gap.\n",
	      f);
}

/* ---- option parsing ---- */

/* A decimal number in 0..max; no sign, no spaces, no trailing junk. */
static int parse_num(enum opt_id id, const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return usage_error("--%s: '%s' is not a number", long_opts[id].name, s);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0')
		return usage_error("--%s: '%s' is not a number", long_opts[id].name, s);
	if (errno == ERANGE || v > max)
		return usage_error("--%s: %s is out of range (0..%" PRIu64 ")", long_opts[id].name,
				   s, max);
	*out = v;
	return 0;
}

static int parse_hex16(enum opt_id id, const char *s, uint8_t out[16])
{
	if (fs_hex_parse(s, out, 16) != 0)
		return usage_error("--%s: '%s' is not 32 hex digits", long_opts[id].name, s);
	return 0;
}

/* Global options: where to send and how to wait and print. */
static int set_global_option(struct cli *cli, enum opt_id id, const char *arg)
{
	uint64_t v = 0;
	int rc = 0;

	switch (id) {
	case OPT_SERVER:
		cli->server = arg;
		break;
	case OPT_CONFIG:
		cli->config = arg;
		break;
	case OPT_JSON:
		cli->json = true;
		break;
	case OPT_HTTP:
		cli->http = arg;
		break;
	case OPT_HELP:
		cli->help = true;
		break;
	case OPT_PORT:
		rc = parse_num(id, arg, UINT16_MAX, &v);
		if (rc == 0 && v == 0)
			rc = usage_error("--port: 0 is not a port");
		cli->port = (uint16_t)v;
		break;
	case OPT_TIMEOUT_MS:
		rc = parse_num(id, arg, TIMEOUT_MS_MAX, &v);
		if (rc == 0 && v == 0)
			rc = usage_error("--timeout-ms: must be at least 1");
		cli->timeout_ms = (unsigned)v;
		break;
	case OPT_RETRIES:
		rc = parse_num(id, arg, RETRIES_MAX, &v);
		cli->retries = (unsigned)v;
		break;
	default:
		FS_ASSERT(0);
	}
	return rc;
}

/* --after SHARD:SEQ[,SHARD:SEQ...] */
static int parse_after(struct cli *cli, const char *arg)
{
	const char *p = arg;

	for (;;) {
		char *end;
		unsigned long sh;
		unsigned long long seq;

		if (*p < '0' || *p > '9')
			break;
		sh = strtoul(p, &end, 10);
		if (*end != ':' || sh >= FS_WORKERS_MAX || end[1] < '0' || end[1] > '9')
			break;
		errno = 0;
		seq = strtoull(end + 1, &end, 10);
		if (errno == ERANGE)
			break;
		cli->after[sh] = seq;
		if (*end == '\0')
			return 0;
		if (*end != ',')
			break;
		p = end + 1;
	}
	return usage_error("--after: '%s' is not SHARD:SEQ[,SHARD:SEQ...] (shard < %u)", arg,
			   FS_WORKERS_MAX);
}

/* Command options; numbers are range-checked against their wire field. */
static int set_command_option(struct cli *cli, enum opt_id id, const char *arg)
{
	uint64_t v = 0;
	int rc;

	switch (id) {
	case OPT_TOKEN:
		return parse_hex16(id, arg, cli->token);
	case OPT_TOKEN_KEY:
		return parse_hex16(id, arg, cli->token_key);
	case OPT_PAYMENT_KEY:
		return parse_hex16(id, arg, cli->payment_key);
	case OPT_USER:
		return parse_num(id, arg, UINT64_MAX, &cli->user_id);
	case OPT_REQUEST_ID:
		return parse_num(id, arg, UINT64_MAX, &cli->request_id);
	case OPT_ORDER:
		return parse_num(id, arg, UINT64_MAX, &cli->order_id);
	case OPT_REF:
		return parse_num(id, arg, UINT64_MAX, &cli->ref);
	case OPT_QTY:
		rc = parse_num(id, arg, UINT16_MAX, &v);
		cli->qty = (uint16_t)v;
		return rc;
	case OPT_ITEM:
		rc = parse_num(id, arg, UINT32_MAX, &v);
		cli->item_id = (uint32_t)v;
		return rc;
	case OPT_ACTIVITY:
		rc = parse_num(id, arg, UINT32_MAX, &v);
		cli->activity_id = (uint32_t)v;
		return rc;
	case OPT_DATA:
		cli->data_dir = arg;
		return 0;
	case OPT_AFTER:
		return parse_after(cli, arg);
	case OPT_SHARD:
		rc = parse_num(id, arg, FS_WORKERS_MAX - 1, &v);
		cli->shard = (unsigned)v;
		return rc;
	case OPT_LIMIT:
		return parse_num(id, arg, UINT64_MAX, &cli->limit);
	default:
		FS_ASSERT(0);
		return -EINVAL;
	}
}

static int set_option(struct cli *cli, enum opt_id id, const char *arg)
{
	bool repeatable = id == OPT_JSON || id == OPT_HELP;
	int rc;

	if ((cli->given & BIT(id)) && !repeatable)
		return usage_error("--%s given twice", long_opts[id].name);
	cli->given |= BIT(id);
	if (BIT(id) & GLOBAL_OPTS)
		rc = set_global_option(cli, id, arg);
	else
		rc = set_command_option(cli, id, arg);
	return rc;
}

static const struct command *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Options given but not accepted by the command, and required ones missing. */
static int check_command_options(const struct cli *cli)
{
	const struct command *cmd = cli->cmd;
	uint32_t stray = cli->given & ~(cmd->allowed | GLOBAL_OPTS);
	uint32_t missing = cmd->required & ~cli->given;

	for (unsigned id = 0; id < OPT_COUNT; id++) {
		if (stray & BIT(id))
			return usage_error("option --%s does not apply to '%s'", long_opts[id].name,
					   cmd->name);
		if (missing & BIT(id))
			return usage_error("'%s' needs --%s", cmd->name, long_opts[id].name);
	}
	return 0;
}

static int parse_args(struct cli *cli, int argc, char **argv)
{
	int c;

	opterr = 0; /* our messages name the option and point at --help */
	while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
		if (c == 'h')
			c = OPT_HELP;
		if (c == '?')
			return usage_error("unknown option '%s'", argv[optind - 1]);
		if (c == ':')
			return usage_error("option '%s' needs a value", argv[optind - 1]);
		if (set_option(cli, (enum opt_id)c, optarg) != 0)
			return -EINVAL;
	}
	if (optind == argc)
		return cli->help ? 0 : usage_error("no command given");
	cli->cmd = find_command(argv[optind]);
	if (!cli->cmd)
		return usage_error("unknown command '%s'", argv[optind]);
	if (optind + 1 < argc)
		return usage_error("unexpected argument '%s'", argv[optind + 1]);
	return cli->help ? 0 : check_command_options(cli);
}

/* ---- config ---- */

/* Take from the config what the options did not say. */
static void apply_config(struct cli *cli, const struct cfg *c)
{
	if (!(cli->given & BIT(OPT_SERVER))) {
		/* An appliance listening on 0.0.0.0 is reached on loopback from here. */
		if (c->address.s_addr == htonl(INADDR_ANY))
			cli->server = DEFAULT_SERVER;
		else
			cli->server = strcpy(cli->server_buf, c->address_str);
	}
	if (!(cli->given & BIT(OPT_PORT)))
		cli->port = c->udp_port;

	if (!cli->have_activity && (cli->given & BIT(OPT_ITEM))) {
		const struct cfg_item *item = cfg_find_item(c, cli->item_id);
		if (item) {
			cli->activity_id = item->activity_id;
			cli->have_activity = true;
		}
	}
	if (!cli->have_activity && c->n_activities == 1) {
		cli->activity_id = c->activities[0].id;
		cli->have_activity = true;
	}
	const struct cfg_activity *act =
		cli->have_activity ? cfg_find_activity(c, cli->activity_id) : NULL;
	if (!act)
		return;
	if (!cli->have_token_key && act->require_token) {
		memcpy(cli->token_key, act->token_key, FS_KEY_LEN);
		cli->have_token_key = true;
	}
	if (!cli->have_payment_key && act->has_payment_key) {
		memcpy(cli->payment_key, act->payment_key, FS_KEY_LEN);
		cli->have_payment_key = true;
	}
}

static int load_config(struct cli *cli)
{
	struct cfg c;
	char err[512];

	if (cfg_load(cli->config, fs_now_ns(), &c, err, sizeof(err)) != 0) {
		fprintf(stderr, "flashsale: --config %s: %s\n", cli->config, err);
		return -EINVAL;
	}
	apply_config(cli, &c);
	cfg_free(&c);
	return 0;
}

/* ---- the request ---- */

/* A key given on the command line must be usable: the buy form needs the
 * activity, from --activity or from the config (--item's activity, or the
 * only one). */
static int check_token_inputs(const struct cli *cli)
{
	if ((cli->given & BIT(OPT_TOKEN_KEY)) && !cli->have_activity)
		return usage_error("--token-key needs --activity ID%s",
				   cli->config ? " (--item's activity not found in --config)" : "");
	return 0;
}

/* Fill cli->token unless --token gave it; see the header comment. */
static void compute_token(struct cli *cli)
{
	bool buy_form = cli->have_token_key && cli->have_activity;
	unsigned op = cli->cmd->op;

	if (cli->given & BIT(OPT_TOKEN))
		return;
	if (op == FS_OP_CONFIRM ||
	    (op == FS_OP_CANCEL && ((cli->given & BIT(OPT_PAYMENT_KEY)) || !buy_form))) {
		if (cli->have_payment_key)
			fs_token_pay(cli->payment_key, cli->order_id, cli->user_id, cli->ref,
				     cli->token);
		return;
	}
	if ((op == FS_OP_BUY || op == FS_OP_CANCEL || op == FS_OP_ORDER_STATUS) && buy_form)
		fs_token_buy(cli->token_key, cli->user_id, cli->activity_id, cli->token);
}

/* Unique enough per user: microseconds since the epoch and the low pid bits. */
static uint64_t default_request_id(void)
{
	uint64_t us = (uint64_t)fs_now_ns() / 1000u;
	uint64_t id = (us << 12) | ((uint64_t)getpid() & 0xfffu);

	return id ? id : 1;
}

/* Fields a command does not use stay 0, as PROTOCOL.md asks. */
static void build_request(const struct cli *cli, struct fs_req *req)
{
	unsigned op = cli->cmd->op;

	memset(req, 0, sizeof(*req));
	req->op = (uint8_t)op;
	req->user_id = cli->user_id;
	req->request_id = cli->request_id;
	if (op == FS_OP_BUY)
		req->qty = cli->qty;
	if (op == FS_OP_BUY || op == FS_OP_ITEM_STATUS)
		req->item_id = cli->item_id;
	if (op == FS_OP_CONFIRM || op == FS_OP_CANCEL || op == FS_OP_ORDER_STATUS)
		req->order_id = cli->order_id;
	/* CANCEL carries ref too: the payment form of its token covers it (see
	 * the report on PROTOCOL.md; --ref defaults to 0, the table's value). */
	if (op == FS_OP_CONFIRM || op == FS_OP_CANCEL)
		req->ref = cli->ref;
	if (op != FS_OP_ITEM_STATUS && op != FS_OP_TIME)
		memcpy(req->token, cli->token, FSP_TOKEN_LEN);
}

/* ---- the exchange ---- */

static int resolve(const struct cli *cli, struct sockaddr_in *sa)
{
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_DGRAM};
	struct addrinfo *res;
	int rc = getaddrinfo(cli->server, NULL, &hints, &res);

	if (rc != 0) {
		fprintf(stderr, "flashsale: --server %s: %s\n", cli->server, gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(sa, res->ai_addr, sizeof(*sa));
	sa->sin_port = htons(cli->port);
	freeaddrinfo(res);
	return 0;
}

/* Does this datagram carry the answer to req? Copies it into *out if so. */
static bool match_response(const uint8_t *buf, size_t len, const struct fs_req *req,
			   struct fs_resp *out)
{
	int count = dp_fsp_parse_header(buf, len);

	for (int i = 0; i < count; i++) {
		struct fs_resp r;
		dp_fsp_decode_resp(buf + FSP_HDR_LEN + (size_t)i * FSP_MSG_LEN, &r);
		if (r.user_id == req->user_id && r.request_id == req->request_id) {
			*out = r;
			return true;
		}
	}
	return false;
}

/* Wait until deadline (monotonic ns) for the answer. 1 answered, 0 timed out,
 * -errno on a socket error. */
static int wait_answer(int fd, int64_t deadline_ns, const struct fs_req *req,
		       struct exchange *ex)
{
	uint8_t buf[RX_BUF_LEN];

	for (;;) {
		int64_t left_ns = deadline_ns - fs_mono_ns();
		if (left_ns <= 0)
			return 0;
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		int n = poll(&pfd, 1, (int)((left_ns + FS_NS_PER_MS - 1) / FS_NS_PER_MS));
		if (n < 0 && errno != EINTR)
			return -errno;
		if (n <= 0)
			continue;
		/* MSG_TRUNC returns the real length, so an oversized datagram is
		 * never mistaken for a shorter well-framed one. */
		ssize_t len = recv(fd, buf, sizeof(buf), MSG_TRUNC);
		if (len < 0 && errno == ECONNREFUSED) {
			ex->refused = true; /* nobody listens (yet); keep waiting */
			continue;
		}
		if (len < 0 && errno != EINTR && errno != EAGAIN)
			return -errno;
		if (len > 0 && (size_t)len <= sizeof(buf) &&
		    match_response(buf, (size_t)len, req, &ex->resp)) {
			ex->recv_ns = fs_now_ns();
			return 1;
		}
	}
}

/* One send. A pending ICMP error from an earlier try fails the send with
 * ECONNREFUSED without sending, so note it and send again once. */
static int send_dgram(int fd, const uint8_t *dgram, size_t len, struct exchange *ex)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		if (send(fd, dgram, len, 0) >= 0)
			return 0;
		if (errno != ECONNREFUSED)
			return -errno;
		ex->refused = true;
	}
	return 0; /* still refused: wait out the try as if it were lost */
}

/* Send req, resending the same bytes after each timeout. 0 answered,
 * -ETIMEDOUT after all tries, other -errno on a socket error. */
static int exchange(const struct cli *cli, const struct sockaddr_in *sa, const struct fs_req *req,
		    struct exchange *ex)
{
	uint8_t dgram[FSP_HDR_LEN + FSP_MSG_LEN];
	int fd, rc = -ETIMEDOUT;

	dp_fsp_write_header(dgram, 1);
	dp_fsp_encode_req(req, dgram + FSP_HDR_LEN);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0) {
		rc = -errno;
		goto out;
	}
	for (ex->tries = 0; ex->tries <= cli->retries; ex->tries++) {
		ex->sent_ns = fs_now_ns();
		rc = send_dgram(fd, dgram, sizeof(dgram), ex);
		if (rc != 0)
			goto out;
		rc = -ETIMEDOUT;
		int got = wait_answer(fd, fs_mono_ns() + (int64_t)cli->timeout_ms * FS_NS_PER_MS,
				      req, ex);
		if (got != 0) {
			ex->tries++;
			rc = got > 0 ? 0 : got;
			goto out;
		}
	}
out:
	close(fd);
	return rc;
}

/* ---- output ---- */

/* "2026-11-22T02:30:00Z" (or with ".mmm" when ms is set); raw ns if absurd. */
static void format_time(uint64_t ns, bool ms, char *out, size_t len)
{
	time_t s = (time_t)(ns / (uint64_t)FS_NS_PER_S);
	struct tm tm;
	char base[32];

	if (ns / (uint64_t)FS_NS_PER_S > 253402300799ull || !gmtime_r(&s, &tm)) {
		snprintf(out, len, "%" PRIu64 "ns", ns);
		return;
	}
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	if (ms)
		snprintf(out, len, "%s.%03uZ", base,
			 (unsigned)(ns % (uint64_t)FS_NS_PER_S / (uint64_t)FS_NS_PER_MS));
	else
		snprintf(out, len, "%sZ", base);
}

/* NTP-style: server clock minus the midpoint of our send and receive. */
static int64_t clock_offset_ns(const struct exchange *ex)
{
	return (int64_t)ex->resp.server_time_ns - (ex->sent_ns + (ex->recv_ns - ex->sent_ns) / 2);
}

static void print_json(const struct exchange *ex)
{
	const struct fs_resp *r = &ex->resp;

	printf("{\"op\":\"%s\",\"status\":\"%s\",\"status_code\":%u,\"order_id\":%" PRIu64
	       ",\"item_id\":%" PRIu32 ",\"qty\":%u,\"user_id\":%" PRIu64
	       ",\"request_id\":%" PRIu64 ",\"server_time_ns\":%" PRIu64
	       ",\"deadline_ns\":%" PRIu64 ",\"available\":%" PRIu32
	       ",\"state\":\"%s\",\"retry_after_ms\":%" PRIu32,
	       fs_op_name(r->op), fs_status_name(r->status), r->status, r->order_id, r->item_id,
	       r->qty, r->user_id, r->request_id, r->server_time_ns, r->deadline_ns, r->available,
	       fs_state_name(r->state), r->retry_after_ms);
	if (r->op == FS_OP_TIME)
		printf(",\"offset_ns\":%" PRId64 ",\"rtt_ns\":%" PRId64, clock_offset_ns(ex),
		       ex->recv_ns - ex->sent_ns);
	printf("}\n");
}

/* The op-specific part of the human line. */
static void print_human_fields(const struct exchange *ex)
{
	const struct fs_resp *r = &ex->resp;
	bool ok = r->status == FS_ST_OK;
	char t[48];

	switch (r->op) {
	case FS_OP_BUY:
		if (ok)
			printf(" order=%" PRIu64, r->order_id);
		printf(" item=%" PRIu32, r->item_id);
		if (ok)
			printf(" qty=%u", r->qty);
		break;
	case FS_OP_CONFIRM:
	case FS_OP_CANCEL:
	case FS_OP_ORDER_STATUS:
		printf(" order=%" PRIu64, r->order_id);
		if (r->op == FS_OP_ORDER_STATUS && ok)
			printf(" item=%" PRIu32 " qty=%u", r->item_id, r->qty);
		if (r->state)
			printf(" state=%s", fs_state_name(r->state));
		break;
	case FS_OP_ITEM_STATUS:
		printf(" item=%" PRIu32 " available=%" PRIu32, r->item_id, r->available);
		break;
	case FS_OP_TIME:
		format_time(r->server_time_ns, true, t, sizeof(t));
		printf(" server_time=%s offset=%+.3fms rtt=%.3fms", t,
		       (double)clock_offset_ns(ex) / 1e6, (double)(ex->recv_ns - ex->sent_ns) / 1e6);
		break;
	default:
		printf(" item=%" PRIu32 " order=%" PRIu64, r->item_id, r->order_id);
		break;
	}
	if (r->deadline_ns) {
		format_time(r->deadline_ns, false, t, sizeof(t));
		printf(" deadline=%s", t);
	}
	if (r->op == FS_OP_BUY)
		printf(" available=%" PRIu32, r->available);
}

static void print_human(const struct exchange *ex)
{
	printf("%s %s", fs_op_name(ex->resp.op), fs_status_name(ex->resp.status));
	print_human_fields(ex);
	if (ex->resp.retry_after_ms)
		printf(" retry_after_ms=%" PRIu32, ex->resp.retry_after_ms);
	printf("\n");
}

/* ---- commands ---- */

/* ---- --http: the same request over the public HTTP API ---- */

static void hex32(const uint8_t t[FSP_TOKEN_LEN], char out[2 * FSP_TOKEN_LEN + 1])
{
	for (unsigned i = 0; i < FSP_TOKEN_LEN; i++)
		snprintf(out + 2 * i, 3, "%02x", t[i]);
}

/* The HTTP request for req (HTTP-API.md "Endpoints") into out. */
static int http_build(const struct fs_req *req, const char *host, char *out, size_t cap)
{
	char body[256] = "", path[256], tok[2 * FSP_TOKEN_LEN + 1];
	bool has_tok = false;
	const char *method = "POST";

	for (unsigned i = 0; i < FSP_TOKEN_LEN; i++)
		has_tok |= req->token[i] != 0;
	hex32(req->token, tok);
	switch (req->op) {
	case FS_OP_BUY:
		snprintf(path, sizeof(path), "/v1/buy");
		snprintf(body, sizeof(body),
			 "{\"item\":%" PRIu32 ",\"user\":%" PRIu64 ",\"request_id\":%" PRIu64
			 ",\"qty\":%u%s%s%s}",
			 req->item_id, req->user_id, req->request_id, req->qty,
			 has_tok ? ",\"token\":\"" : "", has_tok ? tok : "", has_tok ? "\"" : "");
		break;
	case FS_OP_CONFIRM:
	case FS_OP_CANCEL:
		snprintf(path, sizeof(path), "/v1/orders/%" PRIu64 "/%s", req->order_id,
			 req->op == FS_OP_CONFIRM ? "confirm" : "cancel");
		snprintf(body, sizeof(body),
			 "{\"user\":%" PRIu64 ",\"request_id\":%" PRIu64 ",\"ref\":%" PRIu64
			 "%s%s%s}",
			 req->user_id, req->request_id, req->ref, has_tok ? ",\"token\":\"" : "",
			 has_tok ? tok : "", has_tok ? "\"" : "");
		break;
	case FS_OP_ORDER_STATUS:
		method = "GET";
		snprintf(path, sizeof(path), "/v1/orders/%" PRIu64 "?user=%" PRIu64 "%s%s",
			 req->order_id, req->user_id, has_tok ? "&token=" : "", has_tok ? tok : "");
		break;
	case FS_OP_ITEM_STATUS:
		method = "GET";
		snprintf(path, sizeof(path), "/v1/items/%" PRIu32, req->item_id);
		break;
	default:
		method = "GET";
		snprintf(path, sizeof(path), "/v1/time");
		break;
	}
	int n = *method == 'G'
			? snprintf(out, cap, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n",
				   path, host)
			: snprintf(out, cap,
				   "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n"
				   "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
				   path, host, strlen(body), body);
	return n > 0 && (size_t)n < cap ? n : -ENOSPC;
}

/* One try: connect, send, read until the server closes. Returns the bytes
 * read or -errno. */
static ssize_t http_try(const struct sockaddr_in *sa, const char *msg, size_t len, char *buf,
			size_t cap, unsigned timeout_ms)
{
	struct timeval tv = {.tv_sec = timeout_ms / 1000, .tv_usec = (timeout_ms % 1000) * 1000};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	size_t got = 0;

	if (fd < 0)
		return -errno;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) < 0 ||
	    send(fd, msg, len, MSG_NOSIGNAL) != (ssize_t)len) {
		int e = errno;
		close(fd);
		return -e;
	}
	for (;;) {
		ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);
		if (n < 0) {
			int e = errno;
			close(fd);
			return -(e == EAGAIN ? ETIMEDOUT : e);
		}
		if (n == 0 || got + (size_t)n >= cap - 1) {
			got += (size_t)n;
			break;
		}
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	return (ssize_t)got;
}

/* --http URL: parse "http://HOST[:PORT][/]" into an address. */
static int http_resolve(const char *url, struct sockaddr_in *sa, char *host, size_t hostcap)
{
	const char *p = strncmp(url, "http://", 7) == 0 ? url + 7 : NULL;
	char port[8] = "80";
	struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res;
	size_t n;
	int rc;

	if (p == NULL)
		return usage_error("--http: '%s' is not http://HOST[:PORT]", url);
	n = strcspn(p, ":/");
	if (n == 0 || n >= hostcap)
		return usage_error("--http: no host in '%s'", url);
	memcpy(host, p, n);
	host[n] = '\0';
	if (p[n] == ':') {
		size_t m = strcspn(p + n + 1, "/");
		if (m == 0 || m >= sizeof(port))
			return usage_error("--http: bad port in '%s'", url);
		memcpy(port, p + n + 1, m);
		port[m] = '\0';
	}
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		fprintf(stderr, "flashsale: --http %s: %s\n", url, gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(sa, res->ai_addr, sizeof(*sa));
	freeaddrinfo(res);
	return 0;
}

/* The request over HTTP; the same request_id on every try (idempotent).
 * Prints the status line's code and the JSON body; exit 0 when the answer
 * is 200 with "status":"OK" (or the time). */
static int run_http(struct cli *cli, const struct fs_req *req)
{
	char host[256], msg[1024], buf[4096];
	struct sockaddr_in sa;
	ssize_t n = -ETIMEDOUT;
	int len, code = 0;
	const char *body;

	if (http_resolve(cli->http, &sa, host, sizeof(host)) < 0)
		return EXIT_USAGE;
	len = http_build(req, host, msg, sizeof(msg));
	FS_ASSERT(len > 0);
	for (unsigned t = 0; t <= cli->retries; t++) {
		n = http_try(&sa, msg, (size_t)len, buf, sizeof(buf), cli->timeout_ms);
		if (n > 0 && sscanf(buf, "HTTP/1.%*d %d", &code) == 1 && code != 503)
			break;
	}
	if (n <= 0 || code == 0) {
		fprintf(stderr, "flashsale: no HTTP answer from %s after %u tr%s: %s\n", cli->http,
			cli->retries + 1, cli->retries ? "ies" : "y",
			n < 0 ? fs_strerror((int)n) : "not HTTP");
		return EXIT_NO_ANSWER;
	}
	body = strstr(buf, "\r\n\r\n");
	body = body ? body + 4 : "";
	if (cli->json)
		printf("%s\n", body);
	else
		printf("HTTP %d %s\n", code, body);
	fflush(stdout);
	return code == 200 && (req->op == FS_OP_TIME || strstr(body, "\"status\":\"OK\"")) ? 0
											 : EXIT_NOT_OK;
}

static int run_fsp(struct cli *cli)
{
	struct sockaddr_in sa;
	struct fs_req req;
	struct exchange ex = {0};
	int rc;

	if (cli->http) {
		compute_token(cli);
		build_request(cli, &req);
		return run_http(cli, &req);
	}
	if (resolve(cli, &sa) != 0)
		return EXIT_USAGE;
	compute_token(cli);
	build_request(cli, &req);
	rc = exchange(cli, &sa, &req, &ex);
	if (rc != 0) {
		fprintf(stderr, "flashsale: no answer from %s:%u to %s request_id=%" PRIu64
				" after %u tr%s of %u ms%s%s%s\n",
			cli->server, cli->port, fs_op_name(req.op), req.request_id, ex.tries,
			ex.tries == 1 ? "y" : "ies", cli->timeout_ms,
			ex.refused ? " (port unreachable: is flashsaled running?)" : "",
			rc != -ETIMEDOUT ? ": " : "", rc != -ETIMEDOUT ? fs_strerror(rc) : "");
		return EXIT_NO_ANSWER;
	}
	if (ex.resp.op != req.op)
		fprintf(stderr, "flashsale: warning: answer carries op %u, request was %u\n",
			ex.resp.op, req.op);
	if (cli->json)
		print_json(&ex);
	else
		print_human(&ex);
	fflush(stdout);
	return ex.resp.status == FS_ST_OK ? 0 : EXIT_NOT_OK;
}

/* ---- feed: the change feed, read from the logs ---- */

struct feed {
	unsigned shard;
	uint64_t after;   /* print LSNs > after; then the last printed */
	uint64_t printed; /* over all shards */
	uint64_t limit;   /* 0 = none */
};

static const char *event_name(uint8_t type)
{
	switch (type) {
	case STORE_CH_RESERVE: return "RESERVED";
	case STORE_CH_PAY: return "PAID";
	case STORE_CH_CANCEL: return "CANCELLED";
	case STORE_CH_EXPIRE: return "EXPIRED";
	case STORE_CH_STOCK: return "STOCK";
	case STORE_CH_WINDOW: return "WINDOW";
	default: return "UNKNOWN";
	}
}

static int feed_print(void *ctx, uint64_t lsn, const struct store_change *ch)
{
	struct feed *f = ctx;

	if (lsn <= f->after)
		return 0;
	if (f->limit && f->printed >= f->limit)
		return 1; /* stops the replay */
	if (ch->type == STORE_CH_STOCK)
		printf("{\"shard\":%u,\"seq\":%" PRIu64 ",\"event\":\"STOCK\",\"item_id\":%" PRIu32
		       ",\"total_before\":%" PRIu64 ",\"total\":%" PRIu64 ",\"requested\":%" PRId64
		       ",\"request_id\":%" PRIu64 ",\"time_ns\":%" PRId64 "}\n",
		       f->shard, lsn, ch->item_id, ch->order_id, ch->ref, (int64_t)ch->user_id,
		       ch->request_id, ch->time_ns);
	else if (ch->type == STORE_CH_WINDOW)
		printf("{\"shard\":%u,\"seq\":%" PRIu64 ",\"event\":\"WINDOW\",\"activity_id\":%"
		       PRIu64 ",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 ",\"request_id\":%" PRIu64
		       ",\"time_ns\":%" PRId64 "}\n",
		       f->shard, lsn, ch->user_id, (int64_t)ch->order_id, (int64_t)ch->ref,
		       ch->request_id, ch->time_ns);
	else
	printf("{\"shard\":%u,\"seq\":%" PRIu64 ",\"event\":\"%s\",\"order_id\":%" PRIu64
	       ",\"user_id\":%" PRIu64 ",\"item_id\":%" PRIu32 ",\"qty\":%u,\"request_id\":%" PRIu64
	       ",\"ref\":%" PRIu64 ",\"time_ns\":%" PRId64 "}\n",
	       f->shard, lsn, event_name(ch->type), ch->order_id, ch->user_id, ch->item_id,
	       ch->qty, ch->request_id, ch->ref, ch->time_ns);
	f->after = lsn;
	f->printed++;
	return 0;
}

/* A catalog definition (admin record in shard 0's log): one CATALOG line
 * with the activity (when it creates one) and its items. */
static int feed_print_admin(void *ctx, uint64_t lsn, const uint8_t *p, uint32_t len)
{
	static struct store_catalog_def d; /* 4 KiB */
	struct feed *f = ctx;

	if (lsn <= f->after)
		return 0;
	if (f->limit && f->printed >= f->limit)
		return 1;
	if (wal_catalog_decode(p, len, &d) != 0)
		return -EBADMSG;
	printf("{\"shard\":%u,\"seq\":%" PRIu64 ",\"event\":\"CATALOG\",\"activity_id\":%" PRIu32
	       ",\"new_activity\":%s",
	       f->shard, lsn, d.act.id, d.has_activity ? "true" : "false");
	if (d.has_activity) {
		printf(",\"name\":\"");
		for (const char *c = d.act.name; *c; c++)
			if (*c == '"' || *c == '\\')
				printf("\\%c", *c);
			else if ((unsigned char)*c < 0x20)
				printf("\\u%04x", (unsigned char)*c);
			else
				putchar(*c);
		printf("\",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64
		       ",\"pay_timeout_s\":%" PRIu32 ",\"require_token\":%s",
		       d.act.start_ns, d.act.end_ns, d.act.pay_timeout_s,
		       d.act.require_token ? "true" : "false");
	}
	printf(",\"items\":[");
	for (uint32_t k = 0; k < d.n_items; k++)
		printf("%s{\"item_id\":%" PRIu32 ",\"total\":%" PRIu32 ",\"price_cents\":%" PRIu64
		       ",\"per_user_limit\":%" PRIu32 ",\"max_per_order\":%u}",
		       k ? "," : "", d.items[k].id, d.items[k].total, d.items[k].price_cents,
		       d.items[k].per_user_limit, d.items[k].max_per_order);
	printf("],\"request_id\":%" PRIu64 ",\"time_ns\":%" PRId64 "}\n", d.request_id, d.time_ns);
	f->after = lsn;
	f->printed++;
	return 0;
}

/* Lowest first LSN among DIR/shard-NN's segments; 0 when there is none,
 * -1 when the shard directory does not exist. */
static int64_t first_retained_lsn(const char *dir, unsigned shard)
{
	char path[FS_PATH_MAX + 16];
	struct dirent *de;
	uint64_t lo = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/shard-%02u", dir, shard);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		unsigned long long lsn;
		char tail[8];
		if (strlen(de->d_name) == 24 &&
		    sscanf(de->d_name, "wal-%16llx%7s", &lsn, tail) == 2 &&
		    strcmp(tail, ".log") == 0 && lsn > 0 && (lo == 0 || lsn < lo))
			lo = lsn;
	}
	closedir(d);
	return (int64_t)lo;
}

/* Records after f->after are gone from the log: the consumer must resync. */
static int feed_gap(const char *dir, struct feed *f, uint64_t first, const struct snap_meta *m,
		    bool have_snap)
{
	fprintf(stderr,
		"flashsale: feed: gap on shard %u: you asked for seq > %" PRIu64
		", the log now starts at seq %" PRIu64 " (older segments were removed after a "
		"snapshot). Resync shard %u from %s/snapshot.db (orders WHERE shard = %u)",
		f->shard, f->after, first, f->shard, dir, f->shard);
	if (have_snap && f->shard < m->n_shards)
		fprintf(stderr, ", which holds it up to seq %" PRIu64 " (shards.lsn)",
			m->shard[f->shard].lsn);
	fprintf(stderr, ", then continue with --after %u:<shards.lsn>.\n", f->shard);
	return EXIT_GAP;
}

/* One shard: check for a gap, then print; a live log may be read while a
 * batch is half written or a segment just created, so an inconsistency is
 * retried a few times from the last printed record before it is reported. */
static int feed_shard(const char *dir, struct feed *f, const struct snap_meta *m, bool have_snap)
{
	int64_t first = first_retained_lsn(dir, f->shard);
	struct wal_replay_info info;
	char err[1024] = "";
	int rc = -EBADMSG;

	if (first <= 0) { /* no log (yet): only the snapshot can be ahead */
		if (have_snap && f->shard < m->n_shards && m->shard[f->shard].lsn > f->after)
			return feed_gap(dir, f, m->shard[f->shard].lsn + 1, m, have_snap);
		return 0;
	}
	if ((uint64_t)first > f->after + 1)
		return feed_gap(dir, f, (uint64_t)first, m, have_snap);
	for (int attempt = 0; attempt < 3 && rc == -EBADMSG; attempt++) {
		if (attempt)
			usleep(200 * 1000);
		rc = wal_replay_ex(dir, f->shard, wal_ops_readonly(), (uint64_t)first, 0,
				   feed_print, feed_print_admin, f, &info, err, sizeof(err));
	}
	if (rc == -ECANCELED && f->limit && f->printed >= f->limit)
		return 0;
	if (rc < 0) {
		fflush(stdout);
		fprintf(stderr, "flashsale: feed: shard %u: %s\n", f->shard,
			err[0] ? err : fs_strerror(rc));
		return EXIT_NOT_OK;
	}
	return 0;
}

static int run_feed(struct cli *cli)
{
	struct snap_meta *m = calloc(1, sizeof(*m));
	struct feed f = {.limit = cli->limit};
	bool have_snap = false;
	char err[512];
	int rc = 0;

	if (!m)
		return EXIT_NOT_OK;
	if (snap_read_meta(cli->data_dir, m, &have_snap, err, sizeof(err)) < 0) {
		fprintf(stderr, "flashsale: feed: %s\n", err);
		free(m);
		return EXIT_NOT_OK;
	}
	for (unsigned sh = 0; sh < FS_WORKERS_MAX && rc == 0; sh++) {
		if ((cli->given & BIT(OPT_SHARD)) ? sh != cli->shard
						  : first_retained_lsn(cli->data_dir, sh) < 0)
			continue;
		if (f.limit && f.printed >= f.limit)
			break;
		f.shard = sh;
		f.after = cli->after[sh];
		rc = feed_shard(cli->data_dir, &f, m, have_snap);
	}
	fflush(stdout);
	free(m);
	return rc;
}

/* ---- audit: offline recovery and checks ---- */

struct audit_ctx {
	struct store_shard *s;
	unsigned shard;
	uint64_t checked, violations;
};

/* A catalog definition: only in shard 0's log, and every item it created
 * is in the recovered catalog, on its owner shard. */
static int audit_admin(void *ctx, uint64_t lsn, const uint8_t *p, uint32_t len)
{
	static struct store_catalog_def d;
	struct audit_ctx *a = ctx;
	const char *why = NULL;

	a->checked++;
	if (wal_catalog_decode(p, len, &d) != 0)
		why = "admin record that is not a catalog definition";
	else if (a->shard != 0)
		why = "catalog definition outside shard 0's log";
	for (uint32_t k = 0; !why && k < d.n_items; k++) {
		struct cfg_item it;
		if (store_catalog_item_def(store_shard_catalog(a->s), d.items[k].id, &it) != 0 ||
		    it.activity_id != d.act.id)
			why = "an item it created is not in the recovered catalog";
	}
	if (why) {
		a->violations++;
		printf("VIOLATION shard %u seq %" PRIu64 " CATALOG: %s\n", a->shard, lsn, why);
	}
	return 0;
}

/* Every logged change must be reflected in the recovered state: the order
 * exists with the logged user, item and qty, and a settled order is in the
 * state its (final) change says. */
static int audit_change(void *ctx, uint64_t lsn, const struct store_change *ch)
{
	static const uint8_t final_state[] = {
		[STORE_CH_PAY] = FS_STATE_PAID,
		[STORE_CH_CANCEL] = FS_STATE_CANCELLED,
		[STORE_CH_EXPIRE] = FS_STATE_EXPIRED,
	};
	struct audit_ctx *a = ctx;
	struct store_order_view o;
	const char *why = NULL;

	struct store_item_counts c;

	a->checked++;
	/* Admin changes: the item is this shard's (its total is audited with
	 * the shard), a window change is in shard 0's log. */
	if (ch->type == STORE_CH_STOCK || ch->type == STORE_CH_WINDOW) {
		if (ch->type == STORE_CH_STOCK && store_item_counts(a->s, ch->item_id, &c) != 0)
			why = "stock change of an item this shard does not own";
		else if (ch->type == STORE_CH_WINDOW && a->shard != 0)
			why = "window change outside shard 0's log";
		if (why) {
			a->violations++;
			printf("VIOLATION shard %u seq %" PRIu64 " %s: %s\n", a->shard, lsn,
			       event_name(ch->type), why);
		}
		return 0;
	}
	if (store_order_get(a->s, ch->order_id, &o) != 0)
		why = "order missing from the recovered state";
	else if (o.user_id != ch->user_id || o.item_id != ch->item_id || o.qty != ch->qty)
		why = "order differs from the log (user, item or qty)";
	else if (ch->type != STORE_CH_RESERVE && o.state != final_state[ch->type])
		why = "order not in the state the log settled it in";
	if (why) {
		a->violations++;
		printf("VIOLATION shard %u seq %" PRIu64 " %s order %" PRIu64 ": %s\n", a->shard,
		       lsn, event_name(ch->type), ch->order_id, why);
	}
	return 0;
}

static void audit_print_shard(const struct store_shard *s, unsigned i,
			      const struct persist_recover_info *in, uint64_t by_state[5])
{
	struct store_stats st;

	store_shard_stats(s, &st);
	memset(by_state, 0, 5 * sizeof(*by_state));
	for (uint64_t seq = st.next_seq - st.orders; seq < st.next_seq; seq++) {
		struct store_order_view o;
		if (store_order_get(s, fs_order_id(seq, i), &o) == 0 && o.state <= 4)
			by_state[o.state]++;
	}
	printf("shard %u: snapshot LSN %" PRIu64 " (%" PRIu64 " orders), log LSNs %" PRIu64
	       "..%" PRIu64 " (%" PRIu64 " replayed, %u segments), next order seq %" PRIu64
	       ", %" PRIu64 " stored answers\n",
	       i, in->snapshot_lsn, in->snapshot_orders, in->wal.first_lsn, in->wal.next_lsn - 1,
	       in->wal.replayed, in->wal.segments, st.next_seq, st.idem_entries);
	printf("shard %u: orders %" PRIu64 ": RESERVED %" PRIu64 " PAID %" PRIu64
	       " CANCELLED %" PRIu64 " EXPIRED %" PRIu64 "\n",
	       i, st.orders, by_state[1], by_state[2], by_state[3], by_state[4]);
	if (in->wal.torn)
		printf("shard %u: torn tail in %s at offset %" PRIu64 " (%" PRIu64
		       " bytes, left in place)\n",
		       i, in->wal.torn_file, in->wal.torn_offset, in->wal.torn_bytes);
}

/* Per item (the config's and those created at run time): available +
 * reserved + paid == total. Returns violations. */
static uint64_t audit_items(const struct cfg *cfg, struct store_shard **sh)
{
	const struct store_catalog *cat = store_shard_catalog(sh[0]);
	struct cfg_item item;
	uint64_t bad = 0;

	for (uint32_t k = 0; store_catalog_item_at(cat, k, &item, NULL) == 0; k++) {
		const struct cfg_item *it = &item;
		struct store_item_counts c;
		unsigned owner = fs_shard_of_item(it->id, cfg->workers);

		if (store_item_counts(sh[owner], it->id, &c) != 0)
			continue;
		printf("item %" PRIu32 ": total %" PRIu64 " available %" PRIu64 " reserved %" PRIu64
		       " paid %" PRIu64 "%s\n",
		       c.item_id, c.total, c.available, c.reserved, c.paid,
		       c.available + c.reserved + c.paid == c.total ? "" : "  VIOLATION");
		bad += c.available + c.reserved + c.paid != c.total;
	}
	return bad;
}

/* The audit proper, over recovered shards. Returns violations. */
static uint64_t audit_check(const struct cfg *cfg, struct store_shard **sh,
			    const struct persist_recover_info *infos)
{
	uint64_t bad = 0, total[5] = {0};

	for (unsigned i = 0; i < cfg->workers; i++) {
		struct audit_ctx a = {.s = sh[i], .shard = i};
		struct wal_replay_info info;
		uint64_t by_state[5];
		char err[512];
		int rc;

		audit_print_shard(sh[i], i, &infos[i], by_state);
		for (unsigned st = 1; st < 5; st++)
			total[st] += by_state[st];
		if ((rc = store_audit(sh[i], err, sizeof(err))) != 0) {
			printf("VIOLATION shard %u: %s\n", i, err);
			bad++;
		}
		rc = infos[i].wal.first_lsn == 0
			     ? 0
			     : wal_replay_ex(cfg->persist_dir, i, wal_ops_readonly(),
					     infos[i].wal.first_lsn, 0, audit_change, audit_admin,
					     &a, &info, err, sizeof(err));
		if (rc < 0) {
			printf("VIOLATION shard %u: re-reading the log: %s\n", i, err);
			bad++;
		}
		printf("shard %u: %" PRIu64 " logged changes checked against the state\n", i,
		       a.checked);
		bad += a.violations;
	}
	bad += audit_items(cfg, sh);
	printf("orders: RESERVED %" PRIu64 " PAID %" PRIu64 " CANCELLED %" PRIu64
	       " EXPIRED %" PRIu64 "\n", total[1], total[2], total[3], total[4]);
	return bad;
}

static int run_audit(struct cli *cli)
{
	struct persist_recover_info *infos = calloc(FS_WORKERS_MAX, sizeof(*infos));
	struct store_catalog *cat = NULL;
	struct persist *ps = NULL;
	struct cfg cfg;
	char err[2048];
	uint64_t bad = 0;
	int rc, status = EXIT_NOT_OK;

	if (!cli->config) {
		free(infos);
		(void)usage_error("'audit' needs --config FILE");
		return EXIT_USAGE;
	}
	if (!infos || cfg_load(cli->config, fs_now_ns(), &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "flashsale: --config %s: %s\n", cli->config, infos ? err : "");
		free(infos);
		return EXIT_USAGE;
	}
	if (cli->data_dir)
		snprintf(cfg.persist_dir, sizeof(cfg.persist_dir), "%s", cli->data_dir);
	if (access(cfg.persist_dir, R_OK | X_OK) != 0) {
		fprintf(stderr, "flashsale: audit: %s: %s\n", cfg.persist_dir, strerror(errno));
		cfg_free(&cfg);
		free(infos);
		return EXIT_NOT_OK;
	}
	printf("audit of %s (config %s, %u shards), read-only\n", cfg.persist_dir, cfg.path,
	       cfg.workers);
	if ((rc = store_catalog_create(&cfg, cfg.workers, &cat)) < 0) {
		fprintf(stderr, "flashsale: audit: catalog: %s\n", fs_strerror(rc));
		goto out;
	}
	/* The daemon's own open, read-only: the same shards, the same recovery. */
	struct persist_params pp = {.cfg = &cfg, .cat = cat, .flags = PERSIST_OPEN_READONLY};
	rc = persist_open(&pp, &ps, err, sizeof(err));
	if (rc < 0) {
		printf("VIOLATION recovery refused: %s\n", err);
		goto out;
	}
	for (unsigned i = 0; i < cfg.workers; i++)
		infos[i] = *persist_info(ps, i);
	bad = audit_check(&cfg, persist_shards(ps), infos);
	printf("%s: %" PRIu64 " violation%s\n", bad ? "AUDIT FAILED" : "audit ok", bad,
	       bad == 1 ? "" : "s");
	status = bad ? EXIT_NOT_OK : 0;
out:
	fflush(stdout);
	persist_close(ps);
	store_catalog_free(cat);
	cfg_free(&cfg);
	free(infos);
	return status;
}

int flashsale_admin_main(int argc, char **argv); /* flashsale_admin.c */

/* flashsale export ... is flashsale-export, a program of its own so that
 * only it links libpq: run the one installed next to this one (else the one
 * on PATH) with the same arguments. Returns only when it cannot be run. */
static int run_export(const char *self, int argc, char **argv)
{
	char path[FS_PATH_MAX];
	const char *slash = strrchr(self, '/');

	(void)argc;
	argv[0] = "flashsale-export";
	if (slash && (size_t)(slash - self) + sizeof("/flashsale-export") <= sizeof(path)) {
		snprintf(path, sizeof(path), "%.*s/flashsale-export", (int)(slash - self), self);
		execv(path, argv);
	}
	execvp("flashsale-export", argv);
	fprintf(stderr, "flashsale export: cannot run flashsale-export (%s): build it with "
			"libpq-dev installed (scripts/install-deps.sh)\n",
		strerror(errno));
	return EXIT_USAGE;
}

int main(int argc, char **argv)
{
	struct cli cli = {
		.server = DEFAULT_SERVER,
		.port = FSP_DEFAULT_PORT,
		.timeout_ms = DEFAULT_TIMEOUT_MS,
		.retries = DEFAULT_RETRIES,
		.qty = 1,
	};

	/* The admin API has its own options (and its key never on the command
	 * line): flashsale admin ACTION ... (flashsale_admin.c). */
	if (argc >= 2 && strcmp(argv[1], "admin") == 0)
		return flashsale_admin_main(argc - 1, argv + 1);
	/* audit --against ADDR:PORT: two live appliances (primary and standby)
	 * through their admin APIs: flashsale admin audit --against. */
	for (int i = 2; argc >= 2 && strcmp(argv[1], "audit") == 0 && i < argc; i++)
		if (strncmp(argv[i], "--against", 9) == 0)
			return flashsale_admin_main(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "top") == 0)
		return flashsale_top_main(argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "export") == 0)
		return run_export(argv[0], argc - 1, argv + 1);
	if (parse_args(&cli, argc, argv) != 0)
		return EXIT_USAGE;
	if (cli.help) {
		print_help(stdout, cli.cmd);
		return 0;
	}
	if (fs_token_init() != 0) {
		fprintf(stderr, "flashsale: libsodium failed to initialise\n");
		return EXIT_USAGE;
	}
	cli.have_activity = cli.given & BIT(OPT_ACTIVITY);
	cli.have_token_key = cli.given & BIT(OPT_TOKEN_KEY);
	cli.have_payment_key = cli.given & BIT(OPT_PAYMENT_KEY);
	if (cli.config && load_config(&cli) != 0)
		return EXIT_USAGE;
	if (check_token_inputs(&cli) != 0)
		return EXIT_USAGE;
	if (!(cli.given & BIT(OPT_REQUEST_ID)))
		cli.request_id = default_request_id();
	return cli.cmd->run(&cli);
}
