/* SPDX-License-Identifier: MIT */
/*
 * cpu: how many workers to start and where, from what the process may really
 * use. A pod without an exclusive cpuset sees the whole node in its affinity
 * mask; what it may use is its CPU quota. So `threads: 0` means the cgroup's
 * quota (v2 cpu.max, v1 cpu.cfs_quota_us / cpu.cfs_period_us, the tightest
 * along the path, rounded up) within the affinity mask, at least one.
 *
 * Pinning is opt-in: every replica on a node pinning worker 0 to CPU 0 is
 * worse than none. CONF_AFFINITY_AUTO pins only when the affinity mask is
 * exactly as large as the thread count, which is what an exclusive cpuset
 * (the kubelet's static CPU manager) looks like, and smaller than the
 * machine: a process that may run everywhere has nothing exclusive.
 */
#ifndef SNIGATE_CPU_H
#define SNIGATE_CPU_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"

#define CPU_MAX_THREADS 1024

/* What limited the thread count (metrics label values). */
enum cpu_source {
	CPU_FROM_CONFIG = 0, /* threads: N */
	CPU_FROM_QUOTA,	     /* the cgroup's CPU quota */
	CPU_FROM_AFFINITY,   /* the affinity mask (taskset, cpuset) */
	CPU_FROM_LIST,	     /* cpu_affinity's list */
};

struct cpu_plan {
	unsigned threads;
	enum cpu_source source;
	bool pinned;		  /* cpu[] holds CPUs, else every entry is -1 */
	int cpu[CPU_MAX_THREADS]; /* per worker (i % threads); -1 = not pinned */
	double quota;		  /* CPUs the cgroup quota allows; 0 = no quota */
	unsigned n_mask;	  /* CPUs in the affinity mask */
	char why[160];		  /* "cgroup CPU quota 1.50; not pinned (cpu_affinity: none)" */
};

/* Label text: "config", "cgroup_quota", "affinity", "cpu_affinity_list". */
const char *cpu_source_str(enum cpu_source s);

/*
 * The plan, from explicit inputs (a pure function, tested as such): the
 * configured threads and affinity, the affinity mask mask[0..n_mask) in
 * ascending order, the CPUs online, and the quota in CPUs (0 = none). Returns 0, or -EINVAL
 * with p->why saying why (a cpu_affinity CPU outside the mask).
 */
int cpu_plan_compute(const struct conf *c, const int *mask, unsigned n_mask, unsigned n_online,
		     double quota, struct cpu_plan *p);

/*
 * The CPU quota of this process's cgroup, in CPUs (0 = none), read from
 * proc_cgroup (/proc/self/cgroup) and the cgroup mounts in mountinfo
 * (/proc/self/mountinfo); root is prepended to every mount point ("" for
 * the real ones, a temporary tree in tests). Never fails: anything
 * unreadable counts as no quota.
 */
double cpu_quota_read(const char *proc_cgroup, const char *mountinfo, const char *root);

/* The plan for this process: its affinity mask and its cgroup's quota. */
int cpu_plan_make(const struct conf *c, struct cpu_plan *p);

#endif
