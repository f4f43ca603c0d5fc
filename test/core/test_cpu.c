/* SPDX-License-Identifier: MIT */
/*
 * cpu: the thread count and pinning from explicit inputs, and the cgroup
 * quota read from a tree laid out as the kernel lays out /proc and
 * /sys/fs/cgroup (v1 and v2). test/integration/test_cpu.c runs the real
 * binary under a real quota and taskset.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "core/cpu.h"

static struct conf *conf_with(unsigned threads, const char *affinity)
{
	struct conf *c = conf_new_default();
	const char *why;
	cr_assert_not_null(c);
	c->threads = threads;
	if (affinity)
		cr_assert_eq(conf_affinity_parse(affinity, c, &why), 0, "%s", affinity);
	return c;
}

static const int node64[64] = {0,  1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15,
			       16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
			       32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
			       48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63};

Test(cpu_plan, a_small_quota_on_a_big_node_starts_few_unpinned_workers)
{
	struct conf *c = conf_with(0, NULL);
	struct cpu_plan p;

	/* 250m on a 64-core node: one worker, not 64, and not pinned to CPU 0. */
	cr_assert_eq(cpu_plan_compute(c, node64, 64, 64, 0.25, &p), 0);
	cr_assert_eq(p.threads, 1);
	cr_assert_eq(p.source, CPU_FROM_QUOTA);
	cr_assert_not(p.pinned);
	cr_assert_eq(p.cpu[0], -1);
	cr_assert(strstr(p.why, "cgroup CPU quota 0.25"), "%s", p.why);
	/* 1.5 CPUs round up to 2; an exact 3.0 stays 3. */
	cr_assert_eq(cpu_plan_compute(c, node64, 64, 64, 1.5, &p), 0);
	cr_assert_eq(p.threads, 2);
	cr_assert_eq(cpu_plan_compute(c, node64, 64, 64, 3.0, &p), 0);
	cr_assert_eq(p.threads, 3);
	/* A quota larger than the mask: the mask decides. */
	cr_assert_eq(cpu_plan_compute(c, node64, 4, 64, 16, &p), 0);
	cr_assert_eq(p.threads, 4);
	cr_assert_eq(p.source, CPU_FROM_AFFINITY);
	/* Equal: the quota is named, since it is what would still bind on a larger node. */
	cr_assert_eq(cpu_plan_compute(c, node64, 4, 64, 4, &p), 0);
	cr_assert_eq(p.threads, 4);
	cr_assert_eq(p.source, CPU_FROM_QUOTA);
	/* No quota: the mask. */
	cr_assert_eq(cpu_plan_compute(c, node64, 64, 64, 0, &p), 0);
	cr_assert_eq(p.threads, 64);
	cr_assert_not(p.pinned);
	conf_free(c);
}

Test(cpu_plan, threads_from_the_config_win)
{
	struct conf *c = conf_with(6, NULL);
	struct cpu_plan p;

	cr_assert_eq(cpu_plan_compute(c, node64, 64, 64, 0.5, &p), 0);
	cr_assert_eq(p.threads, 6);
	cr_assert_eq(p.source, CPU_FROM_CONFIG);
	cr_assert_not(p.pinned);
	conf_free(c);
}

Test(cpu_plan, auto_pins_only_on_an_exclusive_cpuset)
{
	static const int cpuset[] = {12, 13, 40, 41};
	struct conf *c = conf_with(0, "auto");
	struct cpu_plan p;

	/* The kubelet's static CPU manager: a mask exactly as large as the threads. */
	cr_assert_eq(cpu_plan_compute(c, cpuset, 4, 64, 0, &p), 0);
	cr_assert_eq(p.threads, 4);
	cr_assert(p.pinned, "%s", p.why);
	cr_assert_eq(p.cpu[0], 12);
	cr_assert_eq(p.cpu[3], 41);
	/* A shared mask (a quota below it): not ours to pin in. */
	cr_assert_eq(cpu_plan_compute(c, node64, 64, 64, 2, &p), 0);
	cr_assert_eq(p.threads, 2);
	cr_assert_not(p.pinned, "%s", p.why);
	cr_assert_eq(p.cpu[0], -1);
	cr_assert(strstr(p.why, "64 CPUs in the mask for 2 threads"), "%s", p.why);
	/* The whole machine is nobody's exclusive cpuset. */
	cr_assert_eq(cpu_plan_compute(c, cpuset, 4, 4, 0, &p), 0);
	cr_assert_not(p.pinned, "%s", p.why);
	cr_assert(strstr(p.why, "the mask is all 4 CPUs"), "%s", p.why);
	conf_free(c);
	/* Two replicas with the defaults never pin, so never onto the same CPU. */
	c = conf_with(0, NULL);
	cr_assert_eq(cpu_plan_compute(c, cpuset, 4, 64, 0, &p), 0);
	cr_assert_not(p.pinned);
	conf_free(c);
}

Test(cpu_plan, a_list_pins_round_robin_and_must_lie_in_the_mask)
{
	struct conf *c = conf_with(5, "2-3,7");
	struct cpu_plan p;

	cr_assert_eq(cpu_plan_compute(c, node64, 8, 64, 0, &p), 0);
	cr_assert(p.pinned);
	cr_assert_eq(p.cpu[0], 2);
	cr_assert_eq(p.cpu[2], 7);
	cr_assert_eq(p.cpu[3], 2);
	cr_assert_eq(p.cpu[4], 3);
	conf_free(c);
	c = conf_with(0, "2-3,7");
	cr_assert_eq(cpu_plan_compute(c, node64, 8, 64, 0, &p), 0);
	cr_assert_eq(p.threads, 3, "threads 0 with a list: one per listed CPU");
	cr_assert_eq(p.source, CPU_FROM_LIST);
	cr_assert_eq(cpu_plan_compute(c, node64, 64, 64, 1, &p), 0);
	cr_assert_eq(p.threads, 1, "the quota still caps a list");
	cr_assert_eq(cpu_plan_compute(c, node64, 4, 64, 0, &p), -EINVAL);
	cr_assert(strstr(p.why, "CPU 7 is not in this process's affinity mask"), "%s", p.why);
	conf_free(c);
}

/* ---- the quota, from a tree shaped like /proc and /sys/fs/cgroup ---- */

static char root[64];

static void put(const char *rel, const char *text)
{
	char path[256], dir[512];
	snprintf(path, sizeof(path), "%s%s", root, rel);
	snprintf(dir, sizeof(dir), "mkdir -p \"$(dirname '%s')\"", path);
	cr_assert_eq(system(dir), 0);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s", path);
	fputs(text, f);
	fclose(f);
}

static double quota(void)
{
	char cg[128], mi[128];
	snprintf(cg, sizeof(cg), "%s/proc/cgroup", root);
	snprintf(mi, sizeof(mi), "%s/proc/mountinfo", root);
	return cpu_quota_read(cg, mi, root);
}

static void mkroot(void)
{
	snprintf(root, sizeof(root), "/tmp/snigate-cpu-XXXXXX");
	cr_assert_not_null(mkdtemp(root));
}

static void rmroot(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(cpu_quota, .init = mkroot, .fini = rmroot);

Test(cpu_quota, v2_tightest_along_the_path)
{
	put("/proc/cgroup", "0::/kubepods/burstable/pod1/ctr\n");
	put("/proc/mountinfo", "30 22 0:27 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n");
	put("/sys/fs/cgroup/kubepods/burstable/pod1/ctr/cpu.max", "max 100000\n");
	put("/sys/fs/cgroup/kubepods/burstable/pod1/cpu.max", "150000 100000\n");
	put("/sys/fs/cgroup/kubepods/burstable/cpu.max", "max 100000\n");
	put("/sys/fs/cgroup/kubepods/cpu.max", "800000 100000\n");
	cr_assert_float_eq(quota(), 1.5, 1e-9);
	put("/sys/fs/cgroup/kubepods/burstable/pod1/cpu.max", "max 100000\n");
	cr_assert_float_eq(quota(), 8, 1e-9);
	put("/sys/fs/cgroup/kubepods/cpu.max", "max 100000\n");
	cr_assert_eq(quota(), 0, "no quota anywhere");
}

Test(cpu_quota, v2_inside_a_cgroup_namespace)
{
	/* The container sees itself at "/" with the mount rooted at its own cgroup. */
	put("/proc/cgroup", "0::/\n");
	put("/proc/mountinfo",
	    "1 0 0:27 / /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw,nsdelegate\n");
	put("/sys/fs/cgroup/cpu.max", "25000 100000\n");
	cr_assert_float_eq(quota(), 0.25, 1e-9);
}

Test(cpu_quota, v1_cfs)
{
	put("/proc/cgroup", "4:memory:/x\n3:cpu,cpuacct:/kubepods/pod2/ctr\n2:cpuset:/\n0::/\n");
	put("/proc/mountinfo",
	    "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct\n"
	    "33 30 0:30 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
	    "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n");
	put("/sys/fs/cgroup/cpu,cpuacct/kubepods/pod2/ctr/cpu.cfs_quota_us", "-1\n");
	put("/sys/fs/cgroup/cpu,cpuacct/kubepods/pod2/ctr/cpu.cfs_period_us", "100000\n");
	put("/sys/fs/cgroup/cpu,cpuacct/kubepods/pod2/cpu.cfs_quota_us", "250000\n");
	put("/sys/fs/cgroup/cpu,cpuacct/kubepods/pod2/cpu.cfs_period_us", "100000\n");
	cr_assert_float_eq(quota(), 2.5, 1e-9);
	/* cpuset and cpuacct alone are not the cpu controller. */
	put("/proc/cgroup", "3:cpuacct:/kubepods/pod2/ctr\n2:cpuset:/kubepods/pod2\n");
	cr_assert_eq(quota(), 0);
}

Test(cpu_quota, unreadable_means_none)
{
	put("/proc/cgroup", "garbage without colons\n::\n");
	put("/proc/mountinfo", "short line\n");
	cr_assert_eq(quota(), 0);
	rmroot();
	mkroot();
	cr_assert_eq(quota(), 0, "no files at all");
}
