/*
 * dp_eal.c — EAL initialisation for both front ends.
 *
 * EAL runs in both modes so lcores, rings and logging are one code path.
 * Kernel mode: --no-huge --no-shconf --no-pci --no-telemetry -m 64, and
 * lcores 0..workers mapped onto every CPU this process may use (workers may
 * outnumber CPUs: they block in the kernel when idle).
 */
#include "dp.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

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

int dp_eal_init(const struct cfg *cfg)
{
	static char lcores[4096];
	char *argv[EAL_ARGV_MAX];
	int argc = eal_args_kernel(cfg, lcores, sizeof(lcores), argv);

	if (argc < 0) {
		fs_log("error", "cannot build EAL arguments: %s", fs_strerror(argc));
		return argc;
	}
	if (cfg->eal[0])
		fs_log("warn", "[appliance] eal is for mode = dpdk; ignored in kernel mode");
	if (rte_eal_init(argc, argv) < 0) {
		fs_log("error", "EAL init failed: %s", rte_strerror(rte_errno));
		return -rte_errno;
	}
	if (rte_lcore_count() != cfg->workers + 1) {
		fs_log("error", "EAL gave %u lcores, need workers + 1 = %u", rte_lcore_count(),
		       cfg->workers + 1);
		return -EINVAL;
	}
	return 0;
}

