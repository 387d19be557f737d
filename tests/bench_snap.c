/*
 * bench_snap.c — what a snapshot costs: the worker's stall (image capture),
 * writing snapshot.db, and a restart's load (snap_read + restore + audit),
 * with the file size and bytes per order.
 *
 * A world of 4 shards and 16 items (one activity) is filled with N orders
 * through store_execute (one BUY per user; half confirmed, a tenth
 * cancelled: about 1.6 stored answers per order), then:
 *   capture   store_image_capture of every shard, twice (the first into fresh
 *             images; the second is the steady state the daemon sees); the
 *             figure is the slowest shard's, i.e. the longest worker stall
 *   write     snap_write (one transaction, checkpoint, fsync, rename)
 *   read      snap_read into fresh shards (stream + rebuild + audit)
 * Each size runs in a fresh directory under --dir (default /tmp), removed
 * afterwards. Prints figures, asserts nothing (exit 1 only on an error).
 *
 *   bench_snap                        1,000,000 then 10,000,000 orders
 *   bench_snap --orders 2000000 [--dir /var/tmp]
 */
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "cfg.h"
#include "persist.h"
#include "store.h"

#define SHARDS 4
#define ITEMS  16
#define T0     (1700000000LL * FS_NS_PER_S)

struct bworld {
	struct cfg cfg;
	struct cfg_activity act;
	struct cfg_item items[ITEMS];
	struct store_catalog *cat;
	struct store_shard *sh[SHARDS];
};

static int bworld_init(struct bworld *w, uint64_t n, const char *dir)
{
	memset(w, 0, sizeof(*w));
	snprintf(w->cfg.path, sizeof(w->cfg.path), "bench");
	snprintf(w->cfg.persist_dir, sizeof(w->cfg.persist_dir), "%s", dir);
	w->cfg.workers = SHARDS;
	w->cfg.max_orders = n + ITEMS;
	w->cfg.max_idempotency = 2 * n;
	w->cfg.idempotency_retention_s = 600;
	w->cfg.n_activities = 1;
	w->cfg.activities = &w->act;
	w->act = (struct cfg_activity){.id = 1, .start_ns = T0 - FS_NS_PER_S,
				       .end_ns = T0 + 3600 * FS_NS_PER_S, .pay_timeout_s = 900};
	snprintf(w->act.name, sizeof(w->act.name), "bench");
	w->cfg.n_items = ITEMS;
	w->cfg.items = w->items;
	for (unsigned i = 0; i < ITEMS; i++)
		w->items[i] = (struct cfg_item){.id = 1001 + i, .activity_id = 1,
						.total = (uint32_t)(n / ITEMS + 1),
						.per_user_limit = 1, .max_per_order = 1};
	if (store_catalog_create(&w->cfg, SHARDS, &w->cat))
		return -ENOMEM;
	for (unsigned s = 0; s < SHARDS; s++) {
		struct store_shard_params p = {.shard_id = s, .first_seq = 1,
					       .idempotency_retention_ns = 600 * FS_NS_PER_S};
		store_shard_capacity(w->cat, s, &p);
		if (store_shard_create(w->cat, &p, &w->sh[s]))
			return -ENOMEM;
	}
	return 0;
}

static void bworld_free(struct bworld *w)
{
	for (unsigned s = 0; s < SHARDS; s++)
		store_shard_free(w->sh[s]);
	store_catalog_free(w->cat);
}

static void fill(struct bworld *w, uint64_t n)
{
	for (uint64_t u = 1; u <= n; u++) {
		struct fs_req req = {.op = FS_OP_BUY, .user_id = u, .request_id = u,
				     .item_id = 1001 + (uint32_t)(u % ITEMS), .qty = 1};
		unsigned owner = fs_shard_of_item(req.item_id, SHARDS);
		struct fs_resp r;

		store_execute(w->sh[owner], &req, T0, &r);
		if (r.status != FS_ST_OK) {
			fprintf(stderr, "fill: BUY %" PRIu64 ": status %u\n", u, r.status);
			exit(1);
		}
		if (u % 2 == 0 || u % 10 == 1) {
			req.op = u % 2 == 0 ? FS_OP_CONFIRM : FS_OP_CANCEL;
			req.order_id = r.order_id;
			req.request_id = u | 1ull << 40;
			store_execute(w->sh[owner], &req, T0 + FS_NS_PER_S, &r);
		}
		if (u % 1000000 == 0) {
			fprintf(stderr, "\r  filled %" PRIu64 "M orders", u / 1000000);
			fflush(stderr);
		}
	}
	if (n >= 1000000)
		fputc('\n', stderr);
}

static double ms(int64_t ns)
{
	return (double)ns / 1e6;
}

/* The slowest shard's capture: the longest stall any worker sees. */
static double capture_all(struct bworld *w, struct store_image **imgs)
{
	int64_t worst = 0;

	for (unsigned s = 0; s < SHARDS; s++) {
		int64_t t0 = fs_mono_ns(), d;
		store_image_capture(w->sh[s], imgs[s]);
		d = fs_mono_ns() - t0;
		worst = d > worst ? d : worst;
	}
	return ms(worst);
}

static int rm_entry(const char *p, const struct stat *sb, int type, struct FTW *f)
{
	(void)sb, (void)type, (void)f;
	return remove(p);
}

static int run(uint64_t n, const char *base)
{
	char dir[FS_PATH_MAX], err[1024];
	struct store_image *imgs[SHARDS];
	uint64_t lsn[SHARDS] = {1, 2, 3, 4}, got[SHARDS];
	struct bworld a, b;
	struct snap_stats st;
	double cap1, cap2;
	int64_t t0, t_read;
	bool found;

	snprintf(dir, sizeof(dir), "%s/bench_snap.XXXXXX", base);
	if (!mkdtemp(dir) || bworld_init(&a, n, dir)) {
		perror("setup");
		return 1;
	}
	fprintf(stderr, "%" PRIu64 " orders: filling\n", n);
	fill(&a, n);
	for (unsigned s = 0; s < SHARDS; s++)
		if (store_image_create(a.sh[s], &imgs[s]))
			return 1;
	cap1 = capture_all(&a, imgs);
	cap2 = capture_all(&a, imgs);
	fprintf(stderr, "  writing snapshot.db\n");
	if (snap_write(dir, &a.cfg, SHARDS, imgs, lsn, &st, err, sizeof(err))) {
		fprintf(stderr, "snap_write: %s\n", err);
		return 1;
	}
	for (unsigned s = 0; s < SHARDS; s++)
		store_image_free(imgs[s]);
	bworld_free(&a);
	if (bworld_init(&b, n, dir))
		return 1;
	fprintf(stderr, "  reading it back\n");
	t0 = fs_mono_ns();
	if (snap_read(dir, &b.cfg, b.cat, b.sh, got, &found, err, sizeof(err)) || !found) {
		fprintf(stderr, "snap_read: %s\n", err);
		return 1;
	}
	t_read = fs_mono_ns() - t0;
	printf("%10" PRIu64 " %10" PRIu64 " %9.1f %9.1f %9.0f %9.0f %9.0f %8.1f %7.1f\n", n,
	       st.idem_entries, cap1, cap2, ms(st.write_ns), ms(st.total_ns), ms(t_read),
	       (double)st.bytes / 1048576.0, (double)st.bytes / (double)n);
	fflush(stdout);
	bworld_free(&b);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"orders", required_argument, NULL, 'n'},
					     {"dir", required_argument, NULL, 'd'},
					     {NULL, 0, NULL, 0}};
	uint64_t sizes[2] = {1000000, 10000000};
	unsigned nsizes = 2;
	const char *dir = "/tmp";
	struct utsname u;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'n') {
			sizes[0] = strtoull(optarg, NULL, 10);
			nsizes = 1;
		} else if (c == 'd') {
			dir = optarg;
		} else {
			fprintf(stderr, "usage: bench_snap [--orders N] [--dir DIR]\n");
			return 2;
		}
	}
	uname(&u);
	printf("# bench_snap: %d shards, %d items; %s %s, %ld CPUs; command:", SHARDS, ITEMS,
	       u.sysname, u.release, sysconf(_SC_NPROCESSORS_ONLN));
	for (int i = 0; i < argc; i++)
		printf(" %s", argv[i]);
	printf("\n#   capture = slowest shard's store_image_capture (first / steady), write =\n"
	       "#   building the db / with fsync + rename, read = snap_read + restore + audit\n");
	printf("%10s %10s %9s %9s %9s %9s %9s %8s %7s\n", "orders", "answers", "cap1_ms",
	       "cap_ms", "build_ms", "write_ms", "read_ms", "MiB", "B/ord");
	for (unsigned i = 0; i < nsizes; i++)
		if (run(sizes[i], dir))
			return 1;
	return 0;
}
