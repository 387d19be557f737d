/*
 * bench_main.c — flashsale-bench's main: options, config and items,
 * ITEM_STATUS before, the threads, ITEM_STATUS after, verdict and report.
 * Exit: 0 PASS (or --echo / --no-verdict), 1 FAIL, 2 usage, config or
 * socket error, 3 the server never answered anything. `flashsale-bench pcap
 * ...` hands over to the pcap writer (pcapgen_main, also flashsale-pcapgen).
 */
#include "bench.h"

#include <signal.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

atomic_bool bench_stop;

static void on_signal(int sig)
{
	(void)sig;
	atomic_store(&bench_stop, true);
}

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND; /* a second ^C kills at once */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void announce(const struct bench *b)
{
	char mode[BENCH_MODE_TEXT_BYTES];

	if (b->o.json)
		return;
	fprintf(stderr, "flashsale-bench: %s%s, %u item(s), %" PRIu64 " users from %" PRIu64
		", %s, batch %" PRIu64 ", %s, %u thread(s), timeout %" PRIu64 " ms, seed %" PRIu64
		"\n", b->target, b->o.echo ? " (echo)" : "", b->n_items, b->o.users,
		b->o.user_base, b->o.loop ? "looping" : "rounds", b->o.batch,
		bench_mode_text(b, mode, sizeof(mode)), b->n_threads, b->o.timeout_ms, b->o.seed);
}

/* After the run: merge, ask ITEM_STATUS again, judge, print. Returns the
 * exit code. */
static int finish(struct bench *b, int fatal)
{
	struct bench_stats *tot = calloc(1, sizeof(*tot));
	struct verdict v;
	struct figures f;
	bool judged = !b->o.echo && !b->o.no_verdict;
	int64_t end_ns = fs_mono_ns();
	int rc;

	if (!tot)
		return 2;
	bench_merge(b, tot);
	bench_figures(tot, end_ns, &f);
	if (!b->o.echo && tot->answered + tot->late > 0)
		(void)bench_query_items(b, true);
	if (judged)
		bench_judge(b, tot, &v);
	if (b->o.json)
		bench_print_json(b, tot, &f, judged ? &v : NULL);
	else
		bench_print_text(b, tot, &f, judged ? &v : NULL);
	if (tot->answered + tot->late == 0)
		rc = 3;
	else if (fatal)
		rc = 2;
	else
		rc = judged && !v.pass ? 1 : 0;
	free(tot);
	return rc;
}

static void cleanup(struct bench *b)
{
	bench_threads_fini(b);
	free(b->items);
	if (b->have_cfg)
		cfg_free(&b->cfg);
}

int main(int argc, char **argv)
{
	static struct bench b; /* large; and zeroed */
	int rc;

	if (argc > 1 && strcmp(argv[1], "pcap") == 0) {
		if (fs_token_init() != 0)
			return 2;
		return pcapgen_main("flashsale-bench pcap", argc - 1, argv + 1);
	}
	rc = bench_parse_args(argc, argv, &b.o);

	if (rc != 0)
		return rc > 0 ? 0 : 2;
	if (fs_token_init() != 0) {
		fprintf(stderr, "flashsale-bench: libsodium init failed\n");
		return 2;
	}
	rc = bench_setup(&b) != 0 ? 2 : 0;
	if (rc == 0 && !b.o.echo)
		rc = bench_pre_status(&b);
	if (rc == 0) {
		announce(&b);
		install_signals();
		if (bench_start_threads(&b) != 0)
			rc = 2;
		if (b.th) {
			bench_monitor(&b);
			int fatal = bench_join_threads(&b);
			if (rc == 0)
				rc = finish(&b, fatal);
		}
	}
	cleanup(&b);
	return rc;
}
