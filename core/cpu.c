/* SPDX-License-Identifier: MIT */
/*
 * cpu: the thread count and placement; see cpu.h. The cgroup files are read
 * once at start, so none of this is on a connection's path.
 */
#include "core/cpu.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *cpu_source_str(enum cpu_source s)
{
	switch (s) {
	case CPU_FROM_CONFIG:
		return "config";
	case CPU_FROM_QUOTA:
		return "cgroup_quota";
	case CPU_FROM_AFFINITY:
		return "affinity";
	case CPU_FROM_LIST:
		return "cpu_affinity_list";
	}
	return "unknown";
}

static bool in_mask(const int *mask, unsigned n, int cpu)
{
	for (unsigned i = 0; i < n; i++)
		if (mask[i] == cpu)
			return true;
	return false;
}

int cpu_plan_compute(const struct conf *c, const int *mask, unsigned n_mask, unsigned n_online,
		     double quota, struct cpu_plan *p)
{
	const unsigned n_list = c->cpu_affinity.n_cpus;
	unsigned base = n_mask ? n_mask : 1;
	char pin[96];

	memset(p, 0, sizeof(*p));
	p->quota = quota;
	p->n_mask = n_mask;
	if (c->cpu_affinity.mode == CONF_AFFINITY_LIST) {
		for (unsigned i = 0; i < n_list; i++) {
			if (!in_mask(mask, n_mask, c->cpu_affinity.cpus[i])) {
				snprintf(p->why, sizeof(p->why),
					 "cpu_affinity: CPU %u is not in this process's affinity "
					 "mask (%u CPUs)",
					 c->cpu_affinity.cpus[i], n_mask);
				return -EINVAL;
			}
		}
		base = n_list;
	}
	p->source = c->cpu_affinity.mode == CONF_AFFINITY_LIST ? CPU_FROM_LIST : CPU_FROM_AFFINITY;
	p->threads = base;
	if (quota > 0) {
		/* Rounded up: 1.5 CPUs of quota is work for two threads part of the time. */
		unsigned q = quota >= CPU_MAX_THREADS ? CPU_MAX_THREADS : (unsigned)quota;
		q += quota - q > 1e-6;
		if (q <= base) { /* a tie is the quota's: it is what a larger node would keep */
			p->threads = q;
			p->source = CPU_FROM_QUOTA;
		}
	}
	if (c->threads) {
		p->threads = c->threads;
		p->source = CPU_FROM_CONFIG;
	}
	if (p->threads < 1)
		p->threads = 1;
	if (p->threads > CPU_MAX_THREADS)
		p->threads = CPU_MAX_THREADS;

	for (unsigned i = 0; i < p->threads; i++)
		p->cpu[i] = -1;
	switch (c->cpu_affinity.mode) {
	case CONF_AFFINITY_NONE:
		snprintf(pin, sizeof(pin), "not pinned (cpu_affinity: none)");
		break;
	case CONF_AFFINITY_AUTO:
		/* Only an exclusive cpuset is ours to pin in: anything larger is shared. */
		if (n_mask == p->threads && n_mask < n_online) {
			for (unsigned i = 0; i < p->threads; i++)
				p->cpu[i] = mask[i];
			p->pinned = true;
			snprintf(pin, sizeof(pin), "pinned (cpu_affinity: auto, exclusive cpuset)");
		} else {
			snprintf(pin, sizeof(pin),
				 n_mask != p->threads
					 ? "not pinned (cpu_affinity: auto, %u CPUs in "
					   "the mask for %u threads)"
					 : "not pinned (cpu_affinity: auto, the mask is "
					   "all %u CPUs)",
				 n_mask, p->threads);
		}
		break;
	case CONF_AFFINITY_LIST:
		for (unsigned i = 0; i < p->threads; i++)
			p->cpu[i] = c->cpu_affinity.cpus[i % n_list];
		p->pinned = true;
		snprintf(pin, sizeof(pin), "pinned to cpu_affinity's %u CPUs", n_list);
		break;
	}
	switch (p->source) {
	case CPU_FROM_CONFIG:
		snprintf(p->why, sizeof(p->why), "threads: %u; %s", c->threads, pin);
		break;
	case CPU_FROM_QUOTA:
		snprintf(p->why, sizeof(p->why), "cgroup CPU quota %.2f; %s", quota, pin);
		break;
	case CPU_FROM_AFFINITY:
		snprintf(p->why, sizeof(p->why), "%u CPUs in the affinity mask; %s", n_mask, pin);
		break;
	case CPU_FROM_LIST:
		snprintf(p->why, sizeof(p->why), "cpu_affinity list; %s", pin);
		break;
	}
	return 0;
}

/* ---- cgroup quota ---- */

/* The tightest quota of dir and each parent up to top, in CPUs; 0 = none. */
static double walk_quota(char *dir, size_t top_len, bool v2)
{
	double best = 0;

	for (;;) {
		char f[PATH_MAX + 32];
		FILE *fp;
		double q = 0;

		if (v2) {
			char a[32];
			long long period;
			snprintf(f, sizeof(f), "%s/cpu.max", dir);
			if ((fp = fopen(f, "re"))) {
				if (fscanf(fp, "%31s %lld", a, &period) == 2 && strcmp(a, "max") &&
				    period > 0)
					q = strtod(a, NULL) / (double)period;
				fclose(fp);
			}
		} else {
			long long quota = -1, period = 0;
			snprintf(f, sizeof(f), "%s/cpu.cfs_quota_us", dir);
			if ((fp = fopen(f, "re"))) {
				if (fscanf(fp, "%lld", &quota) != 1)
					quota = -1;
				fclose(fp);
			}
			snprintf(f, sizeof(f), "%s/cpu.cfs_period_us", dir);
			if (quota > 0 && (fp = fopen(f, "re"))) {
				if (fscanf(fp, "%lld", &period) == 1 && period > 0)
					q = (double)quota / (double)period;
				fclose(fp);
			}
		}
		if (q > 0 && (best == 0 || q < best))
			best = q;
		char *slash = strrchr(dir, '/');
		if (strlen(dir) <= top_len || !slash || (size_t)(slash - dir) < top_len)
			return best;
		*slash = '\0';
	}
}

/* Whether a comma-separated option list holds opt. */
static bool has_opt(const char *list, const char *opt)
{
	size_t n = strlen(opt);

	for (const char *p = list; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, opt, n) && (p[n] == ',' || p[n] == '\0' || p[n] == '\n'))
			return true;
	return false;
}

double cpu_quota_read(const char *proc_cgroup, const char *mountinfo, const char *root)
{
	char v1_path[PATH_MAX] = "", v2_path[PATH_MAX] = "", line[4096];
	bool v1 = false, v2 = false;
	double best = 0;
	FILE *f;

	if (!(f = fopen(proc_cgroup, "re")))
		return 0;
	while (fgets(line, sizeof(line), f)) {
		/* hierarchy-ID:controller-list:cgroup-path */
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c1 = '\0';
		*c2 = '\0';
		if (!strcmp(line, "0") && !c1[1]) {
			snprintf(v2_path, sizeof(v2_path), "%s", c2 + 1);
			v2 = true;
		} else if (has_opt(c1 + 1, "cpu")) {
			snprintf(v1_path, sizeof(v1_path), "%s", c2 + 1);
			v1 = true;
		}
	}
	fclose(f);
	if (!(f = fopen(mountinfo, "re")))
		return 0;
	while (fgets(line, sizeof(line), f)) {
		/* id parent major:minor root mount-point options [tags] - fstype source super */
		char mroot[PATH_MAX], mpoint[PATH_MAX], fstype[32], super[512];
		const char *dash = strstr(line, " - ");
		bool is_v2;
		if (!dash || sscanf(line, "%*s %*s %*s %4095s %4095s", mroot, mpoint) != 2 ||
		    sscanf(dash + 3, "%31s %*s %511s", fstype, super) != 2)
			continue;
		is_v2 = !strcmp(fstype, "cgroup2");
		if (is_v2 ? !v2 : !(v1 && !strcmp(fstype, "cgroup") && has_opt(super, "cpu")))
			continue;
		const char *path = is_v2 ? v2_path : v1_path;
		size_t rl = strlen(mroot);
		/* Inside a cgroup namespace the path is already relative to the mount's root. */
		if (strcmp(mroot, "/") && !strncmp(path, mroot, rl))
			path += rl;
		char dir[PATH_MAX];
		int top = snprintf(dir, sizeof(dir), "%s%s", root, mpoint);
		if (top < 0 || (size_t)top >= sizeof(dir))
			continue;
		if (strcmp(path, "/"))
			snprintf(dir + top, sizeof(dir) - (size_t)top, "%s", path);
		double q = walk_quota(dir, (size_t)top, is_v2);
		if (q > 0 && (best == 0 || q < best))
			best = q;
	}
	fclose(f);
	return best;
}

int cpu_plan_make(const struct conf *c, struct cpu_plan *p)
{
	static int mask[CPU_SETSIZE];
	unsigned n = 0;
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) == 0) {
		for (int i = 0; i < CPU_SETSIZE; i++)
			if (CPU_ISSET(i, &set))
				mask[n++] = i;
	} else {
		long k = sysconf(_SC_NPROCESSORS_ONLN);
		for (long i = 0; i < k && i < CPU_SETSIZE; i++)
			mask[n++] = (int)i;
	}
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	return cpu_plan_compute(c, mask, n, online > 0 ? (unsigned)online : n,
				cpu_quota_read("/proc/self/cgroup", "/proc/self/mountinfo", ""), p);
}
