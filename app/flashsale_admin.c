/*
 * flashsale_admin.c — `flashsale admin ACTION`: the admin API from the
 * command line (docs/operations.md "Admin API").
 *
 * One HTTP/1.0 request to the appliance's admin endpoint, its JSON answer
 * printed as it came. The key is read from the environment
 * (FLASHSALE_ADMIN_KEY) or from a file (--key-file), never from the command
 * line, where any user of the host could read it in the process list. The
 * endpoint is the operations listener's [admin] address and port of
 * --config, or --server and --http-port.
 *
 * `audit --against ADDR:PORT` talks to two appliances: the log digests of
 * both over the LSNs both hold (GET /admin/digest), then the state both
 * recover read-only at the last of them (GET /admin/state: per-item counts,
 * per-shard order digests), compared field by field.
 *
 * Exit status: 0 answered 200, 1 answered with another status, 2 usage or
 * config error, 3 no answer (connection refused, timeout). audit --against:
 * 0 equal, 1 different, 2 could not compare.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "fs_common.h"
#include "fs_proto.h"

int flashsale_admin_main(int argc, char **argv);

#define ADMIN_TIMEOUT_S	  30
#define ADMIN_ANSWER_MAX  (8u << 20)
#define ADMIN_KEY_HEX_LEN 64

enum { EXIT_OK = 0, EXIT_ANSWER = 1, EXIT_USAGE = 2, EXIT_NOANSWER = 3 };

static const char USAGE[] =
	"usage: flashsale admin ACTION [options]\n"
	"\n"
	"Call the appliance's admin API and print its JSON answer.\n"
	"\n"
	"Actions:\n"
	"  items [--from I] [--limit N]       the items: total, available, reserved, paid, sold\n"
	"                                     (one page; its \"next\" is the next --from)\n"
	"  catalog [--from I] [--limit N]     activities (current windows) and items (paged)\n"
	"  create-activity --file F           a new activity with its items, as JSON (F: a\n"
	"                                     file, or - for stdin; docs/operations.md)\n"
	"  add-items --file F                 items added to an existing activity, as JSON\n"
	"  audit [--against ADDR:PORT]        run the audit on the live appliance; with\n"
	"                                     --against: compare its log with the other\n"
	"                                     appliance's (its operations listener, same\n"
	"                                     key) shard by shard: a digest of every record\n"
	"                                     over the LSNs both hold (primary vs standby),\n"
	"                                     then per-item counts and order digests of the\n"
	"                                     state at the last LSN both hold (exit 0 equal,\n"
	"                                     1 different, 2 could not compare)\n"
	"  snapshot                           take a snapshot now\n"
	"  stock --item ID --delta N          add (or, negative, remove) units; never below\n"
	"                                     what is reserved + paid\n"
	"  open --activity ID [--end-ns NS]   open the sale now\n"
	"  close --activity ID                close the sale now\n"
	"  window --activity ID --start-ns NS --end-ns NS\n"
	"  promote [--check]                  a standby: stop following, bump the fencing\n"
	"                                     epoch, serve as the primary (--check: only\n"
	"                                     show role, epoch, link and LSNs it holds)\n"
	"\n"
	"Options:\n"
	"  --config FILE      take the endpoint from [admin] address and port\n"
	"  --server ADDR      endpoint address (default 127.0.0.1)\n"
	"  --http-port N      endpoint TCP port (default 8081)\n"
	"  --key-file FILE    file holding the 64 hex digits of the [admin] key; else the\n"
	"                     environment variable FLASHSALE_ADMIN_KEY (never an option)\n"
	"  --request-id N     names the change (stock, open, close, window): a retry with\n"
	"                     the same id gets the first answer (default: from time and pid);\n"
	"                     create-activity and add-items take it from the JSON file\n"
	"  --file F           the JSON body (at most 8 KiB) of create-activity / add-items\n"
	"  --from I, --limit N  the page of a listing (catalog index; 1..65536 items)\n"
	"  -h, --help         this text\n"
	"\n"
	"e.g. FLASHSALE_ADMIN_KEY=$(cat /etc/flashsale/admin.key) \\\n"
	"       flashsale admin stock --config flashsale.ini --item 1001 --delta 500 --request-id 42\n"
	"\n"
	"Exit status: 0 OK (HTTP 200), 1 another answer, 2 usage or config error, 3 no answer.\n";

struct admin_cli {
	const char *config, *server, *key_file, *action;
	char server_buf[INET_ADDRSTRLEN];
	unsigned port;
	char key[ADMIN_KEY_HEX_LEN + 1];
	uint64_t request_id, item, activity, from, limit;
	const char *against;
	int64_t delta, start_ns, end_ns;
	const char *file;
	unsigned given;
};

enum {
	A_CONFIG = 1,
	A_SERVER,
	A_HTTP_PORT,
	A_KEY_FILE,
	A_REQUEST_ID,
	A_ITEM,
	A_DELTA,
	A_ACTIVITY,
	A_START_NS,
	A_END_NS,
	A_CHECK,
	A_AGAINST,
	A_FILE,
	A_FROM,
	A_LIMIT,
};
#define GIVEN(x) (1u << (x))

static const struct option OPTS[] = {
	{"config", required_argument, NULL, A_CONFIG},
	{"server", required_argument, NULL, A_SERVER},
	{"http-port", required_argument, NULL, A_HTTP_PORT},
	{"key-file", required_argument, NULL, A_KEY_FILE},
	{"request-id", required_argument, NULL, A_REQUEST_ID},
	{"item", required_argument, NULL, A_ITEM},
	{"delta", required_argument, NULL, A_DELTA},
	{"activity", required_argument, NULL, A_ACTIVITY},
	{"start-ns", required_argument, NULL, A_START_NS},
	{"end-ns", required_argument, NULL, A_END_NS},
	{"check", no_argument, NULL, A_CHECK},
	{"against", required_argument, NULL, A_AGAINST},
	{"file", required_argument, NULL, A_FILE},
	{"from", required_argument, NULL, A_FROM},
	{"limit", required_argument, NULL, A_LIMIT},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static int usage(const char *fmt, const char *arg)
{
	fputs("flashsale admin: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (try 'flashsale admin --help')\n", stderr);
	return EXIT_USAGE;
}

static int num_u(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

static int num_i(const char *s, int64_t *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || end == s)
		return -EINVAL;
	*out = v;
	return 0;
}

/* The key: 64 hex digits from --key-file (surrounding whitespace allowed)
 * or FLASHSALE_ADMIN_KEY. */
static int read_key(struct admin_cli *a)
{
	char buf[256] = "";
	const char *src = getenv("FLASHSALE_ADMIN_KEY"), *what = "FLASHSALE_ADMIN_KEY";
	size_t n = 0;
	char *p;

	if (a->key_file) {
		FILE *f = fopen(a->key_file, "r");
		if (!f) {
			fprintf(stderr, "flashsale admin: %s: %s\n", a->key_file, strerror(errno));
			return EXIT_USAGE;
		}
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = '\0';
		src = buf;
		what = a->key_file;
	}
	if (!src)
		return usage("no key: set FLASHSALE_ADMIN_KEY or give --key-file%s", "");
	while (*src == ' ' || *src == '\t' || *src == '\n' || *src == '\r')
		src++;
	snprintf(a->key, sizeof(a->key), "%s", src);
	for (p = a->key; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F')))
			break;
	src += p - a->key;
	while (*src == ' ' || *src == '\t' || *src == '\n' || *src == '\r')
		src++;
	if (p - a->key != ADMIN_KEY_HEX_LEN || *src) {
		fprintf(stderr, "flashsale admin: %s: the key must be 64 hex digits\n", what);
		return EXIT_USAGE;
	}
	return 0;
}

static int parse(struct admin_cli *a, int argc, char **argv)
{
	uint64_t v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", OPTS, NULL)) != -1) {
		const char *arg = optarg;
		int bad = 0;
		if (c == 'h') {
			fputs(USAGE, stdout);
			exit(EXIT_OK);
		}
		if (c == '?')
			return usage("unknown option %s", argv[optind - 1]);
		if (c == ':')
			return usage("option %s needs a value", argv[optind - 1]);
		a->given |= GIVEN(c);
		switch (c) {
		case A_CONFIG: a->config = arg; break;
		case A_SERVER: a->server = arg; break;
		case A_KEY_FILE: a->key_file = arg; break;
		case A_HTTP_PORT:
			bad = num_u(arg, 65535, &v) || v == 0;
			a->port = (unsigned)v;
			break;
		case A_REQUEST_ID: bad = num_u(arg, UINT64_MAX, &a->request_id) || !a->request_id; break;
		case A_ITEM: bad = num_u(arg, UINT32_MAX, &a->item) || !a->item; break;
		case A_ACTIVITY: bad = num_u(arg, UINT32_MAX, &a->activity) || !a->activity; break;
		case A_DELTA: bad = num_i(arg, &a->delta); break;
		case A_START_NS: bad = num_i(arg, &a->start_ns); break;
		case A_END_NS: bad = num_i(arg, &a->end_ns); break;
		case A_AGAINST: a->against = arg; break;
		case A_FILE: a->file = arg; break;
		case A_FROM: bad = num_u(arg, UINT32_MAX, &a->from); break;
		case A_LIMIT: bad = num_u(arg, 65536, &a->limit) || !a->limit; break;
		}
		if (bad)
			return usage("bad value '%s'", arg);
	}
	if (optind != argc - 1)
		return usage("give exactly one ACTION%s", "");
	a->action = argv[optind];
	return 0;
}

/* The JSON body of create-activity / add-items from a file or stdin. */
static int read_body(const char *file, char *body, size_t cap)
{
	FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	size_t n;

	if (!f) {
		fprintf(stderr, "flashsale admin: %s: %s\n", file, strerror(errno));
		return EXIT_USAGE;
	}
	n = fread(body, 1, cap - 1, f);
	if (n == cap - 1 && fgetc(f) != EOF) {
		fprintf(stderr,
			"flashsale admin: %s: more than %zu bytes (the admin API takes "
			"8 KiB: split the items over several add-items calls)\n",
			file, cap - 1);
		n = 0;
	}
	body[n] = '\0';
	if (f != stdin)
		fclose(f);
	return n ? 0 : EXIT_USAGE;
}

/* The request for the action: method, path and body. */
static int build(const struct admin_cli *a, const char **method, const char **path, char *body,
		 size_t cap)
{
	static const struct {
		const char *name, *method;
		unsigned need, allow;
	} acts[] = {
		{"items", "GET", 0, GIVEN(A_FROM) | GIVEN(A_LIMIT)},
		{"catalog", "GET", 0, GIVEN(A_FROM) | GIVEN(A_LIMIT)},
		{"create-activity", "POST", GIVEN(A_FILE), 0},
		{"add-items", "POST", GIVEN(A_FILE), 0},
		{"audit", "GET", 0, GIVEN(A_AGAINST)},
		{"snapshot", "POST", 0, 0},
		{"stock", "POST", GIVEN(A_ITEM) | GIVEN(A_DELTA), GIVEN(A_REQUEST_ID)},
		{"open", "POST", GIVEN(A_ACTIVITY), GIVEN(A_REQUEST_ID) | GIVEN(A_END_NS)},
		{"close", "POST", GIVEN(A_ACTIVITY), GIVEN(A_REQUEST_ID)},
		{"window", "POST", GIVEN(A_ACTIVITY) | GIVEN(A_START_NS) | GIVEN(A_END_NS),
		 GIVEN(A_REQUEST_ID)},
		{"promote", "POST", 0, GIVEN(A_CHECK)},
	};
	static char pathbuf[96];
	unsigned common = GIVEN(A_CONFIG) | GIVEN(A_SERVER) | GIVEN(A_HTTP_PORT) | GIVEN(A_KEY_FILE);
	uint64_t rid = a->request_id;
	size_t k;

	for (k = 0; k < sizeof(acts) / sizeof(acts[0]); k++)
		if (strcmp(acts[k].name, a->action) == 0)
			break;
	if (k == sizeof(acts) / sizeof(acts[0]))
		return usage("unknown action '%s'", a->action);
	if ((a->given & acts[k].need) != acts[k].need)
		return usage("%s: a required option is missing", a->action);
	if (a->given & ~(acts[k].need | acts[k].allow | common))
		return usage("%s: an option does not apply", a->action);
	*method = acts[k].method;
	if (a->given & GIVEN(A_CHECK))
		*method = "GET"; /* promote --check: what it has, no change */
	snprintf(pathbuf, sizeof(pathbuf), "/admin/%s",
		 strcmp(acts[k].name, "create-activity") == 0 ? "activities"
		 : strcmp(acts[k].name, "add-items") == 0     ? "items"
							      : acts[k].name);
	if (a->given & (GIVEN(A_FROM) | GIVEN(A_LIMIT)))
		snprintf(pathbuf + strlen(pathbuf), sizeof(pathbuf) - strlen(pathbuf),
			 "?from=%" PRIu64 "&limit=%" PRIu64, a->from, a->limit ? a->limit : 1000);
	*path = pathbuf;
	if (a->file)
		return read_body(a->file, body, cap);
	if (rid == 0) /* like the FSP commands: unique enough per host */
		rid = ((uint64_t)fs_now_ns() << 16) ^ (uint64_t)getpid();
	body[0] = '\0';
	if (strcmp(a->action, "stock") == 0)
		snprintf(body, cap, "{\"request_id\":%" PRIu64 ",\"item_id\":%" PRIu64 ",\"delta\":%" PRId64 "}",
			 rid, a->item, a->delta);
	else if (strcmp(a->action, "open") == 0 && (a->given & GIVEN(A_END_NS)))
		snprintf(body, cap, "{\"request_id\":%" PRIu64 ",\"activity_id\":%" PRIu64
			 ",\"end_ns\":%" PRId64 "}", rid, a->activity, a->end_ns);
	else if (strcmp(a->action, "open") == 0 || strcmp(a->action, "close") == 0)
		snprintf(body, cap, "{\"request_id\":%" PRIu64 ",\"activity_id\":%" PRIu64 "}", rid,
			 a->activity);
	else if (strcmp(a->action, "window") == 0)
		snprintf(body, cap, "{\"request_id\":%" PRIu64 ",\"activity_id\":%" PRIu64
			 ",\"start_ns\":%" PRId64 ",\"end_ns\":%" PRId64 "}",
			 rid, a->activity, a->start_ns, a->end_ns);
	return 0;
}

/* One request; *out = the answer's body (malloc'd, NUL-terminated; free
 * it), *code_out = its HTTP status. EXIT_OK, EXIT_NOANSWER or EXIT_USAGE. */
static int request(const struct admin_cli *a, const char *method, const char *path,
		   const char *body, char **out, int *code_out)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)a->port)};
	struct timeval tv = {.tv_sec = ADMIN_TIMEOUT_S};
	char head[512];
	char *ans = malloc(ADMIN_ANSWER_MAX + 1);
	size_t n = 0;
	int fd, hn, code = 0;
	const char *b;

	if (!ans)
		return EXIT_NOANSWER;
	if (inet_pton(AF_INET, a->server, &sa.sin_addr) != 1) {
		free(ans);
		return usage("bad server address '%s'", a->server);
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		fprintf(stderr, "flashsale admin: %s:%u: %s\n", a->server, a->port, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(ans);
		return EXIT_NOANSWER;
	}
	hn = snprintf(head, sizeof(head),
		      "%s %s HTTP/1.0\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"
		      "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
		      method, path, a->server, a->key, strlen(body));
	if (send(fd, head, (size_t)hn, MSG_NOSIGNAL) != hn ||
	    send(fd, body, strlen(body), MSG_NOSIGNAL) != (ssize_t)strlen(body)) {
		fprintf(stderr, "flashsale admin: send: %s\n", strerror(errno));
		close(fd);
		free(ans);
		return EXIT_NOANSWER;
	}
	for (;;) {
		ssize_t r = recv(fd, ans + n, ADMIN_ANSWER_MAX - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == ADMIN_ANSWER_MAX)
			break;
	}
	close(fd);
	ans[n] = '\0';
	if (sscanf(ans, "HTTP/1.%*d %d", &code) != 1) {
		fprintf(stderr, "flashsale admin: no HTTP answer from %s:%u\n", a->server, a->port);
		free(ans);
		return EXIT_NOANSWER;
	}
	b = strstr(ans, "\r\n\r\n");
	b = b ? b + 4 : "";
	memmove(ans, b, strlen(b) + 1);
	*out = ans;
	*code_out = code;
	return EXIT_OK;
}

static int exchange(const struct admin_cli *a, const char *method, const char *path,
		    const char *body)
{
	char *ans = NULL;
	int code = 0, rc = request(a, method, path, body, &ans, &code);

	if (rc != EXIT_OK)
		return rc;
	fputs(ans, stdout);
	if (code != 200)
		fprintf(stderr, "flashsale admin: HTTP %d\n", code);
	free(ans);
	return code == 200 ? EXIT_OK : EXIT_ANSWER;
}

/* The LSN ranges of every shard's log ("first"/"last" pairs of GET
 * /admin/digest). Returns shards found, or -1 (printed). */
static int ranges(const struct admin_cli *a, uint64_t first[], uint64_t last[])
{
	char *ans = NULL, *p;
	int code = 0, n = 0;

	if (request(a, "GET", "/admin/digest", "", &ans, &code) != EXIT_OK)
		return -1;
	if (code != 200) {
		fprintf(stderr, "flashsale audit: %s:%u: HTTP %d: %s", a->server, a->port, code, ans);
		free(ans);
		return -1;
	}
	for (p = ans; n < FS_WORKERS_MAX && (p = strstr(p, "{\"first\":")) != NULL; p++, n++)
		if (sscanf(p, "{\"first\":%" SCNu64 ",\"last\":%" SCNu64, &first[n], &last[n]) != 2)
			break;
	free(ans);
	return n;
}

/* Digest of shard's records from..to on a; 0, or 1 (printed). */
static int digest(const struct admin_cli *a, unsigned shard, uint64_t from, uint64_t to,
		  uint64_t *records, char hex[17])
{
	char path[96], *ans = NULL, *p;
	int code = 0;

	snprintf(path, sizeof(path), "/admin/digest/%u/%" PRIu64 "/%" PRIu64, shard, from, to);
	if (request(a, "GET", path, "", &ans, &code) != EXIT_OK)
		return 1;
	p = strstr(ans, "\"records\":");
	if (code != 200 || !p ||
	    sscanf(p, "\"records\":%" SCNu64 ",\"digest\":\"%16[0-9a-f]", records, hex) != 2) {
		fprintf(stderr, "flashsale audit: %s:%u: HTTP %d: %s", a->server, a->port, code, ans);
		free(ans);
		return 1;
	}
	free(ans);
	return 0;
}

/* ---- the state at a common LSN (GET /admin/state/L0,L1,...) ---- */

struct st_shard {
	uint64_t lsn, orders;
	char digest[17];
};

struct st_item {
	uint32_t id;
	uint64_t total, available, reserved, paid;
};

struct st_answer {
	int nshards;
	struct st_shard shard[FS_WORKERS_MAX];
	size_t nitems;
	struct st_item *items; /* malloc'd */
};

/* GET path on a into *st: 0; 1 refused at those LSNs (409: a snapshot past
 * one, printed: fall back to the logs); -1 no usable answer (printed). */
static int state(const struct admin_cli *a, const char *path, struct st_answer *st)
{
	char *ans = NULL, *p;
	int code = 0;
	size_t cap = 0;

	memset(st, 0, sizeof(*st));
	if (request(a, "GET", path, "", &ans, &code) != EXIT_OK)
		return -1;
	if (code != 200) {
		printf("%s:%u: no state at those LSNs (HTTP %d): %s", a->server, a->port, code, ans);
		free(ans);
		return code == 409 ? 1 : -1;
	}
	for (p = ans; st->nshards < FS_WORKERS_MAX && (p = strstr(p, "{\"shard\":")) != NULL; p++) {
		struct st_shard *s = &st->shard[st->nshards];
		unsigned i;
		if (sscanf(p, "{\"shard\":%u,\"lsn\":%" SCNu64 ",\"orders\":%" SCNu64
			      ",\"digest\":\"%16[0-9a-f]",
			   &i, &s->lsn, &s->orders, s->digest) != 4 || i != (unsigned)st->nshards)
			break;
		st->nshards++;
	}
	for (p = ans; (p = strstr(p, "{\"id\":")) != NULL; p++) {
		struct st_item it;
		if (sscanf(p, "{\"id\":%" SCNu32 ",\"total\":%" SCNu64 ",\"available\":%" SCNu64
			      ",\"reserved\":%" SCNu64 ",\"paid\":%" SCNu64,
			   &it.id, &it.total, &it.available, &it.reserved, &it.paid) != 5)
			break;
		if (st->nitems == cap) {
			struct st_item *m = realloc(st->items, (cap ? cap * 2 : 64) * sizeof(*m));
			if (!m)
				break;
			st->items = m;
			cap = cap ? cap * 2 : 64;
		}
		st->items[st->nitems++] = it;
	}
	free(ans);
	if (st->nshards == 0) {
		printf("%s:%u: the state answer has no shards\n", a->server, a->port);
		free(st->items);
		return -1;
	}
	return 0;
}

static const struct st_item *find_item(const struct st_answer *st, uint32_t id)
{
	for (size_t k = 0; k < st->nitems; k++)
		if (st->items[k].id == id)
			return &st->items[k];
	return NULL;
}

static void print_item(const char *who, const struct st_item *it)
{
	if (it)
		printf(" %s%stotal %" PRIu64 " available %" PRIu64 " reserved %" PRIu64
		       " paid %" PRIu64, who, who[0] ? " " : "", it->total, it->available, it->reserved, it->paid);
	else
		printf(" %s (no such item)", who);
}

/* Per-item counts and per-shard order digests of a and b at LSNs to[]:
 * differences found (printed), or -1 when they could not be had (printed:
 * the caller falls back to the log digests), -2 no answer. */
static int compare_state(const struct admin_cli *a, const struct admin_cli *b, const uint64_t to[],
			 int n)
{
	static char path[32 + FS_WORKERS_MAX * 21];
	struct st_answer sa, sb;
	size_t k = (size_t)snprintf(path, sizeof(path), "/admin/state/");
	int ra, rb, bad = 0;

	for (int i = 0; i < n; i++)
		k += (size_t)snprintf(path + k, sizeof(path) - k, "%s%" PRIu64, i ? "," : "", to[i]);
	ra = state(a, path, &sa);
	rb = ra < 0 ? -1 : state(b, path, &sb);
	if (ra != 0 || rb != 0) {
		if (ra == 0)
			free(sa.items);
		if (rb == 0)
			free(sb.items);
		if (ra < 0 || rb < 0)
			return -2;
		printf("state: not comparable at those LSNs (a snapshot is past one of them): "
		       "compared the logs only\n");
		return -1;
	}
	for (int i = 0; i < n && i < sa.nshards && i < sb.nshards; i++) {
		bool same = sa.shard[i].orders == sb.shard[i].orders &&
			    strcmp(sa.shard[i].digest, sb.shard[i].digest) == 0;
		printf("shard %d: at LSN %" PRIu64 ": %" PRIu64 " orders, digest %s %s %" PRIu64
		       " orders, digest %s%s\n",
		       i, to[i], sa.shard[i].orders, sa.shard[i].digest, same ? "==" : "!=",
		       sb.shard[i].orders, sb.shard[i].digest, same ? "" : "  DIFFERENT orders");
		bad += !same;
	}
	if (sa.nshards != n || sb.nshards != n) {
		printf("DIFFERENT: state answers with %d and %d shards, not %d\n", sa.nshards,
		       sb.nshards, n);
		bad++;
	}
	for (int pass = 0; pass < 2; pass++) {
		const struct st_answer *x = pass ? &sb : &sa, *y = pass ? &sa : &sb;
		for (size_t j = 0; j < x->nitems; j++) {
			const struct st_item *ix = &x->items[j], *iy = find_item(y, ix->id);
			if (pass && iy)
				continue; /* both have it: compared in the first pass */
			bool same = iy && memcmp(ix, iy, sizeof(*ix)) == 0;
			const struct st_item *here = pass ? iy : ix, *there = pass ? ix : iy;
			printf("item %" PRIu32 " (shard %u):", ix->id, fs_shard_of_item(ix->id, (unsigned)n));
			if (same) {
				print_item("", here);
				printf(" (equal)\n");
			} else {
				print_item("here", here);
				printf(",");
				print_item("there", there);
				printf("  DIFFERENT\n");
			}
			bad += !same;
		}
	}
	free(sa.items);
	free(sb.items);
	return bad;
}

/* `audit --against ADDR:PORT`: the logs of both appliances over the LSNs
 * both hold, shard by shard, then the state both recover at the last LSN
 * both hold (per-item counts, per-shard order digests). 0 all equal, 1 a
 * difference, 2 could not compare (no answer). */
static int against(const struct admin_cli *a)
{
	enum { CANNOT = 2 };
	struct admin_cli b = *a;
	uint64_t f1[FS_WORKERS_MAX], l1[FS_WORKERS_MAX], f2[FS_WORKERS_MAX], l2[FS_WORKERS_MAX];
	uint64_t to[FS_WORKERS_MAX];
	char host[INET_ADDRSTRLEN];
	unsigned port;
	int n1, n2, bad = 0, sbad;

	if (sscanf(a->against, "%15[0-9.]:%u", host, &port) != 2 || port == 0 || port > 65535)
		return usage("--against: expected ADDR:PORT, not '%s'", a->against);
	snprintf(b.server_buf, sizeof(b.server_buf), "%s", host);
	b.server = b.server_buf;
	b.port = port;
	if ((n1 = ranges(a, f1, l1)) < 0 || (n2 = ranges(&b, f2, l2)) < 0)
		return CANNOT;
	if (n1 != n2) {
		printf("DIFFERENT: %s:%u has %d shards, %s:%u has %d\n", a->server, a->port, n1,
		       b.server, b.port, n2);
		return EXIT_ANSWER;
	}
	for (int i = 0; i < n1; i++) {
		uint64_t from = f1[i] > f2[i] ? f1[i] : f2[i];
		uint64_t r1 = 0, r2 = 0;
		char h1[17] = "", h2[17] = "";
		to[i] = l1[i] < l2[i] ? l1[i] : l2[i];
		if (!f1[i] || !f2[i] || from > to[i]) {
			printf("shard %d: no LSN in both logs (%" PRIu64 "..%" PRIu64 " here, %" PRIu64
			       "..%" PRIu64 " there): nothing to compare\n",
			       i, f1[i], l1[i], f2[i], l2[i]);
			continue;
		}
		if (digest(a, (unsigned)i, from, to[i], &r1, h1) ||
		    digest(&b, (unsigned)i, from, to[i], &r2, h2))
			return CANNOT;
		bool same = r1 == r2 && strcmp(h1, h2) == 0;
		printf("shard %d: LSN %" PRIu64 "..%" PRIu64 ": %" PRIu64 " records, digest %s %s %s\n",
		       i, from, to[i], r1, h1, same ? "==" : "!=", h2);
		bad += !same;
	}
	if ((sbad = compare_state(a, &b, to, n1)) == -2)
		return CANNOT;
	if (sbad > 0)
		printf("DIFFERENT: the appliances' states disagree at the common LSNs (see above)\n");
	else if (sbad == 0)
		printf("audit against the other appliance: the same item counts and orders at the "
		       "same LSNs\n");
	printf("%s\n", bad ? "DIFFERENT: the appliances' logs disagree (see above)"
			   : "audit against the other appliance: the same records at the same LSNs");
	return bad || sbad > 0 ? EXIT_ANSWER : EXIT_OK;
}

int flashsale_admin_main(int argc, char **argv)
{
	struct admin_cli a = {.server = "127.0.0.1", .port = 8081};
	const char *method, *path;
	static char body[8193]; /* the listener takes 8 KiB */
	int rc;

	if ((rc = parse(&a, argc, argv)) != 0)
		return rc;
	if (a.config) {
		struct cfg cfg;
		char err[512];
		if (cfg_load(a.config, fs_now_ns(), &cfg, err, sizeof(err)) != 0) {
			fprintf(stderr, "flashsale admin: %s\n", err);
			return EXIT_USAGE;
		}
		if (!(a.given & GIVEN(A_SERVER))) {
			snprintf(a.server_buf, sizeof(a.server_buf), "%s", cfg.admin_address_str);
			a.server = a.server_buf;
		}
		if (!(a.given & GIVEN(A_HTTP_PORT)))
			a.port = cfg.admin_port;
		cfg_free(&cfg);
		if (a.port == 0) {
			fprintf(stderr, "flashsale admin: %s: [admin] port is 0 (no operations listener)\n", a.config);
			return EXIT_USAGE;
		}
	}
	if ((rc = build(&a, &method, &path, body, sizeof(body))) != 0 || (rc = read_key(&a)) != 0)
		return rc;
	if (a.against)
		return against(&a);
	return exchange(&a, method, path, body);
}
