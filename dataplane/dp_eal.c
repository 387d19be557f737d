/*
 * dp_eal.c — EAL initialisation for both front ends.
 *
 * EAL runs in both modes so lcores, rings and logging are one code path.
 * Kernel mode: --no-huge --no-shconf --no-pci --no-telemetry -m 64, and
 * lcores 0..workers mapped onto every CPU this process may use (workers may
 * outnumber CPUs: they block in the kernel when idle).
 * DPDK mode: the operator's [appliance] eal words first, then --no-pci
 * unless they select PCI devices, and an lcore mapping unless they name
 * lcores (-l/--lcores/-c), in which case there must be workers + 1 lcores.
 */
#include "dp.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>

#include "cfg.h"
#include "fs_common.h"

#define EAL_ARGV_MAX 64

/* "(0,1,...)": every CPU this process may run on. */
static int cpu_group(char *out, size_t len)
{
	cpu_set_t set;
	size_t n = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -errno;
	n += (size_t)snprintf(out + n, len - n, "(");
	for (int c = 0; c < CPU_SETSIZE && n < len; c++)
		if (CPU_ISSET(c, &set))
			n += (size_t)snprintf(out + n, len - n, "%s%d", n > 1 ? "," : "", c);
	if (n + 2 > len)
		return -ENAMETOOLONG;
	snprintf(out + n, len - n, ")");
	return 0;
}

/* Build the EAL argument vector for kernel mode into argv (strings in buf). */
static int eal_args_kernel(const struct cfg *cfg, char *buf, size_t len, char **argv)
{
	char group[512];
	size_t n = 0;
	int argc = 0, rc = cpu_group(group, sizeof(group));

	if (rc < 0)
		return rc;
	argv[argc++] = "flashsaled";
	argv[argc++] = "--lcores";
	argv[argc++] = buf;
	for (unsigned l = 0; l <= cfg->workers && n < len; l++)
		n += (size_t)snprintf(buf + n, len - n, "%s%u@%s", l ? "," : "", l, group);
	if (n >= len)
		return -ENAMETOOLONG;
	argv[argc++] = "--main-lcore=0";
	argv[argc++] = "--no-huge";
	argv[argc++] = "--no-shconf";
	argv[argc++] = "--no-pci";
	argv[argc++] = "--no-telemetry";
	argv[argc++] = "-m";
	argv[argc++] = "64";
	argv[argc++] = "--log-level=lib.eal:error";
	argv[argc] = NULL;
	return argc;
}

/* Split the operator's eal string on blanks into argv (in place in buf);
 * '...' and "..." group words. Returns the new argc or -E2BIG. */
static int eal_split(char *buf, char **argv, int argc, int max)
{
	char *p = buf;

	while (*p) {
		char *out, quote = 0;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		if (argc >= max)
			return -E2BIG;
		argv[argc++] = out = p;
		for (; *p && (quote || (*p != ' ' && *p != '\t')); p++) {
			if ((*p == '\'' || *p == '"') && (quote == 0 || quote == *p))
				quote = quote ? 0 : *p;
			else
				*out++ = *p;
		}
		if (*p)
			p++;
		*out = '\0';
	}
	return argc;
}

/* Does argv[from..argc) carry one of the options (exactly, or as a prefix
 * followed by '=' or a value glued to a short option)? */
static bool has_opt(char **argv, int from, int argc, const char *const *opts)
{
	for (int i = from; i < argc; i++)
		for (const char *const *o = opts; *o; o++) {
			size_t n = strlen(*o);
			if (strncmp(argv[i], *o, n) == 0 &&
			    (argv[i][n] == '\0' || argv[i][n] == '=' || (*o)[1] != '-'))
				return true;
		}
	return false;
}

/* DPDK mode: the operator's eal words, then what they leave out: --no-pci
 * unless they select or block PCI devices, and an lcore mapping unless they
 * name lcores (then there must be workers + 1 of them, checked after init):
 * main and workers on distinct CPUs when there are enough, else all of them
 * floating over every CPU (workers back off when idle). */
static int eal_args_dpdk(const struct cfg *cfg, char *buf, size_t len, char **argv)
{
	static const char *const lcore_opts[] = {"-l", "--lcores", "-c", NULL};
	static const char *const pci_opts[] = {"-a", "--allow", "-b", "--block", "-w",
					       "--pci-whitelist", "--no-pci", NULL};
	static const char *const log_opts[] = {"--log-level", NULL};
	static char words[FS_EAL_ARGS_MAX];
	int argc = 1, user;

	argv[0] = "flashsaled";
	snprintf(words, sizeof(words), "%s", cfg->eal);
	argc = eal_split(words, argv, argc, EAL_ARGV_MAX - 8);
	if (argc < 0)
		return argc;
	user = argc;
	if (!has_opt(argv, 1, user, pci_opts))
		argv[argc++] = "--no-pci";
	if (!has_opt(argv, 1, user, log_opts))
		argv[argc++] = "--log-level=lib.eal:error";
	if (!has_opt(argv, 1, user, lcore_opts)) {
		char group[512];
		size_t n = 0;
		int rc = cpu_group(group, sizeof(group));
		cpu_set_t set;
		int cpus[FS_WORKERS_MAX + 1], ncpu = 0;

		if (rc < 0)
			return rc;
		if (sched_getaffinity(0, sizeof(set), &set) < 0)
			return -errno;
		for (int c = 0; c < CPU_SETSIZE && ncpu <= (int)cfg->workers; c++)
			if (CPU_ISSET(c, &set))
				cpus[ncpu++] = c;
		for (unsigned l = 0; l <= cfg->workers && n < len; l++) {
			if (ncpu > (int)cfg->workers)
				n += (size_t)snprintf(buf + n, len - n, "%s%u@%d", l ? "," : "", l, cpus[l]);
			else
				n += (size_t)snprintf(buf + n, len - n, "%s%u@%s", l ? "," : "", l, group);
		}
		if (n >= len)
			return -ENAMETOOLONG;
		argv[argc++] = "--lcores";
		argv[argc++] = buf;
		argv[argc++] = "--main-lcore=0";
	}
	argv[argc] = NULL;
	return argc;
}

int dp_eal_init(const struct cfg *cfg)
{
	static char lcores[4096];
	char *argv[EAL_ARGV_MAX];
	int argc = cfg->mode == CFG_MODE_DPDK ? eal_args_dpdk(cfg, lcores, sizeof(lcores), argv)
					      : eal_args_kernel(cfg, lcores, sizeof(lcores), argv);

	if (argc < 0) {
		fs_log("error", "cannot build EAL arguments: %s", fs_strerror(argc));
		return argc;
	}
	if (cfg->mode != CFG_MODE_DPDK && cfg->eal[0])
		fs_log("warn", "[appliance] eal is for mode = dpdk; ignored in kernel mode");
	if (cfg->mode == CFG_MODE_DPDK) {
		char line[2048];
		size_t n = 0;
		for (int i = 1; i < argc && n < sizeof(line); i++)
			n += (size_t)snprintf(line + n, sizeof(line) - n, " %s", argv[i]);
		fs_log("info", "EAL arguments:%s", line);
	}
	if (rte_eal_init(argc, argv) < 0) {
		fs_log("error", "EAL init failed: %s%s", rte_strerror(rte_errno),
		       cfg->mode == CFG_MODE_DPDK
			       ? " (no hugepages? reserve them, or add --no-huge -m 512 or "
				 "--in-memory to [appliance] eal)"
			       : "");
		return -rte_errno;
	}
	if (rte_lcore_count() != cfg->workers + 1) {
		fs_log("error", "EAL gave %u lcores, need workers + 1 = %u (main + one per worker; "
				"see -l/--lcores in [appliance] eal)", rte_lcore_count(), cfg->workers + 1);
		return -EINVAL;
	}
	return 0;
}


void dp_eal_cleanup(void)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	if (dir[0] != '\0' && rmdir(dir) < 0 && errno != ENOENT && errno != ENOTEMPTY &&
	    errno != EEXIST)
		fs_log("warn", "EAL runtime directory %s not removed: %s", dir, fs_strerror(-errno));
}
