/* SPDX-License-Identifier: MIT */
/*
 * CPU placement, end to end: the real binary under a real cgroup CPU quota
 * (v1 cpu.cfs_quota_us, or v2 cpu.max where this machine delegates the cpu
 * controller to cgroup2), under a narrowed affinity mask as taskset sets it,
 * and two gateways side by side with the defaults. What the kernel says
 * about each worker thread (/proc/PID/task/TID: comm "snigate-wN",
 * Cpus_allowed_list) is the evidence, with the ready line and /metrics.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

static char cg_dir[600]; /* a cgroup this test made, removed also after a failed assertion */

static void teardown(void)
{
	h_teardown(); /* the gateway in it is gone after this */
	for (int i = 0; cg_dir[0] && i < 50 && rmdir(cg_dir) < 0 && errno == EBUSY; i++)
		usleep(20000);
}

TestSuite(cpu, .fini = teardown, .timeout = 90);

static struct h_gw start(const char *const extra[])
{
	h_start_unbound();
	const char *args[16];
	char listen[32], resolver[32];
	int n = 0, port = h_free_port();

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(resolver, sizeof(resolver), "127.0.0.1:%d", H.dns_port);
	args[n++] = "--listen";
	args[n++] = listen;
	args[n++] = "--allow";
	args[n++] = "allowed.test";
	args[n++] = "--resolver";
	args[n++] = resolver;
	for (int i = 0; extra && extra[i]; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	return h_snigate_args(port, args);
}

static const char *ready_line(const struct h_gw *g)
{
	static char line[1024];
	const char *r = strstr(h_read_file(g->p->err), "snigate: ready:");
	cr_assert_not_null(r);
	snprintf(line, sizeof(line), "%.*s", (int)strcspn(r, "\n"), r);
	return line;
}

/* Worker threads of pid: how many, and into allowed[i] each one's Cpus_allowed_list. */
static int workers(pid_t pid, char allowed[][64], int max)
{
	char dir[64], path[384], buf[4096];
	int n = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/task", (int)pid);
	DIR *d = opendir(dir);
	cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s/comm", dir, e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		bool worker = fgets(buf, sizeof(buf), f) && !strncmp(buf, "snigate-w", 9);
		fclose(f);
		if (!worker || n == max)
			continue;
		snprintf(path, sizeof(path), "%s/%s/status", dir, e->d_name);
		f = fopen(path, "r");
		cr_assert_not_null(f);
		allowed[n][0] = '\0';
		while (fgets(buf, sizeof(buf), f))
			if (!strncmp(buf, "Cpus_allowed_list:", 18))
				sscanf(buf + 18, " %63s", allowed[n]);
		fclose(f);
		n++;
	}
	closedir(d);
	return n;
}

/* This process's own mask, as the kernel prints it ("0-1"). */
static void my_mask(char *out, size_t len)
{
	char buf[256];
	FILE *f = fopen("/proc/self/status", "r");
	cr_assert_not_null(f);
	out[0] = '\0';
	while (fgets(buf, sizeof(buf), f))
		if (!strncmp(buf, "Cpus_allowed_list:", 18))
			sscanf(buf + 18, " %63s", out);
	fclose(f);
	(void)len;
}

static int n_cpus(void)
{
	cpu_set_t s;
	cr_assert_eq(sched_getaffinity(0, sizeof(s), &s), 0);
	return CPU_COUNT(&s);
}

Test(cpu, two_gateways_with_defaults_pin_nothing)
{
	char mask[64], a[8][64], b[8][64];
	my_mask(mask, sizeof(mask));
	struct h_gw g1 = start(NULL), g2 = start(NULL);
	int n1 = workers(g1.p->pid, a, 8), n2 = workers(g2.p->pid, b, 8);

	cr_assert_eq(n1, n_cpus(), "threads 0 without a quota: one per CPU in the mask (%s)",
		     ready_line(&g1));
	cr_assert_eq(n2, n1);
	for (int i = 0; i < n1; i++) {
		cr_assert_str_eq(a[i], mask, "gateway 1 pinned a worker to %s", a[i]);
		cr_assert_str_eq(b[i], mask, "gateway 2 pinned a worker to %s", b[i]);
	}
	cr_assert(strstr(ready_line(&g1), "not pinned (cpu_affinity: none)"), "%s",
		  ready_line(&g1));
	/* auto on the whole machine is no exclusive cpuset either. */
	const char *autop[] = {"--cpu-affinity", "auto", NULL};
	struct h_gw g3 = start(autop);
	int n3 = workers(g3.p->pid, a, 8);
	for (int i = 0; i < n3; i++)
		cr_assert_str_eq(a[i], mask, "auto pinned a worker on a shared mask: %s",
				 ready_line(&g3));
}

Test(cpu, a_list_pins_each_worker)
{
	if (n_cpus() < 2)
		cr_skip_test("needs 2 CPUs in the affinity mask");
	const char *extra[] = {"--threads", "3", "--cpu-affinity", "1,0", NULL};
	struct h_gw g = start(extra);
	char a[8][64];
	int n = workers(g.p->pid, a, 8), on0 = 0, on1 = 0;

	cr_assert_eq(n, 3, "%s", ready_line(&g));
	for (int i = 0; i < n; i++) {
		on0 += !strcmp(a[i], "0");
		on1 += !strcmp(a[i], "1");
	}
	/* A CPU list is a set, as in cpuset.cpus: worker i takes its i-th CPU in order. */
	cr_assert(on0 == 2 && on1 == 1, "workers on CPU 0: %d, on CPU 1: %d (%s)", on0, on1,
		  ready_line(&g));
	cr_assert(strstr(ready_line(&g), "3 threads (threads: 3; pinned to cpu_affinity's 2 CPUs)"),
		  "%s", ready_line(&g));
}

/* taskset -c 1: the mask narrows to one CPU, so threads 0 is one worker. */
Test(cpu, taskset_narrows_threads_and_auto_pins_an_exclusive_cpu)
{
	if (n_cpus() < 2)
		cr_skip_test("needs 2 CPUs in the affinity mask");
	cpu_set_t all, one;
	cr_assert_eq(sched_getaffinity(0, sizeof(all), &all), 0);
	CPU_ZERO(&one);
	CPU_SET(1, &one);
	/* What taskset does, here before the fork so that the gateway inherits it. */
	cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
	const char *autop[] = {"--cpu-affinity", "auto", NULL};
	struct h_gw g = start(autop);
	cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0);
	char a[8][64];
	int n = workers(g.p->pid, a, 8);

	cr_assert_eq(n, 1, "%s", ready_line(&g));
	cr_assert_str_eq(a[0], "1");
	cr_assert(strstr(ready_line(&g),
			 "1 threads (1 CPUs in the affinity mask; pinned (cpu_affinity: auto, "
			 "exclusive cpuset))"),
		  "%s", ready_line(&g));
}

/* ---- a real cgroup quota ---- */

static bool write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok;
}

/* Where this process sits in the hierarchy mounted at mnt ("cpu" v1, or "" for v2). */
static bool own_cgroup(const char *controller, char *out, size_t len)
{
	char buf[512];
	FILE *f = fopen("/proc/self/cgroup", "r");
	bool found = false;
	cr_assert_not_null(f);
	while (!found && fgets(buf, sizeof(buf), f)) {
		buf[strcspn(buf, "\n")] = '\0';
		char *c1 = strchr(buf, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		bool v2 = !*controller && c1 + 1 == c2 && !strncmp(buf, "0:", 2);
		bool v1 = *controller && strstr(c1 + 1, controller);
		if (v1 || v2) {
			snprintf(out, len, "%s", c2 + 1);
			found = true;
		}
	}
	fclose(f);
	return found;
}

/*
 * Make dir (a child of this process's cgroup, with quota text written to
 * quota_file), move this process in, start a gateway, move back. The
 * gateway stays in the child; the caller removes it after the gateway ends.
 */
static struct h_gw start_in(const char *parent, const char *dir, const char *const files[][2])
{
	char procs[512], back[512];
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	snprintf(back, sizeof(back), "%s/cgroup.procs", parent);
	for (int i = 0; files[i][0]; i++) {
		char f[512];
		snprintf(f, sizeof(f), "%s/%s", dir, files[i][0]);
		cr_assert(write_file(f, files[i][1]), "write %s: %s", f, strerror(errno));
	}
	char me[16];
	snprintf(me, sizeof(me), "%d", (int)getpid());
	cr_assert(write_file(procs, me), "join %s: %s", procs, strerror(errno));
	struct h_gw g = start(NULL);
	cr_assert(write_file(back, me), "leave %s: %s", dir, strerror(errno));
	return g;
}

/*
 * A gateway in a fresh child of this process's cgroup v1 cpu hierarchy with
 * quota_us per 100 ms period; returns its worker count, the ready line in line.
 */
static int run_in_v1_quota(const char *quota_us, const char **line)
{
	char own[256], parent[512], dir[600];
	if (!own_cgroup("cpu", own, sizeof(own)) || access("/sys/fs/cgroup/cpu", W_OK))
		cr_skip_test("no writable cgroup v1 cpu hierarchy at /sys/fs/cgroup/cpu");
	snprintf(parent, sizeof(parent), "/sys/fs/cgroup/cpu%s", strcmp(own, "/") ? own : "");
	snprintf(dir, sizeof(dir), "%s/snigate-test-%d", parent, (int)getpid());
	if (mkdir(dir, 0755) < 0)
		cr_skip_test("cannot make %s: %s", dir, strerror(errno));
	snprintf(cg_dir, sizeof(cg_dir), "%s", dir);
	const char *const files[][2] = {
		{"cpu.cfs_period_us", "100000"}, {"cpu.cfs_quota_us", quota_us}, {NULL, NULL}};
	static struct h_gw g;
	g = start_in(parent, dir, files);
	char a[8][64];
	*line = ready_line(&g);
	return workers(g.p->pid, a, 8);
}

Test(cpu, cgroup_v1_cfs_quota)
{
	const char *line;
	int n = run_in_v1_quota("150000", &line);

	if (n_cpus() >= 2) {
		cr_assert_eq(n, 2, "a 1.5 CPU quota is two workers: %s", line);
		cr_assert(strstr(line, "2 threads (cgroup CPU quota 1.50; not pinned"), "%s", line);
	} else {
		cr_assert_eq(n, 1, "%s", line);
	}
}

/* 250m, as a pod that requests and limits a quarter CPU: one worker, whatever the mask. */
Test(cpu, cgroup_v1_quota_below_the_mask)
{
	const char *line;
	int n = run_in_v1_quota("25000", &line);

	cr_assert_eq(n, 1, "a 0.25 CPU quota on %d CPUs: %s", n_cpus(), line);
	cr_assert(strstr(line, "1 threads (cgroup CPU quota 0.25; not pinned"), "%s", line);
}

Test(cpu, cgroup_v2_cpu_max)
{
	char own[256], parent[512], dir[600], ctl[600], buf[256] = "";
	const char *mnt = NULL;
	static const char *const mounts[] = {"/sys/fs/cgroup", "/sys/fs/cgroup/unified"};

	if (!own_cgroup("", own, sizeof(own)))
		cr_skip_test("this process is in no cgroup v2 hierarchy");
	for (size_t i = 0; i < 2 && !mnt; i++) {
		snprintf(ctl, sizeof(ctl), "%s%s/cgroup.controllers", mounts[i],
			 strcmp(own, "/") ? own : "");
		FILE *f = fopen(ctl, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && strstr(buf, "cpu"))
			mnt = mounts[i];
		fclose(f);
	}
	if (!mnt)
		cr_skip_test("cgroup v2 here does not offer the cpu controller (%s: \"%.*s\"); "
			     "cgroup_v1_cfs_quota covers the quota",
			     ctl, (int)strcspn(buf, "\n"), buf);
	snprintf(parent, sizeof(parent), "%s%s", mnt, strcmp(own, "/") ? own : "");
	snprintf(ctl, sizeof(ctl), "%s/cgroup.subtree_control", parent);
	if (!write_file(ctl, "+cpu"))
		cr_skip_test("cannot enable cpu in %s: %s", ctl, strerror(errno));
	snprintf(dir, sizeof(dir), "%s/snigate-test-%d", parent, (int)getpid());
	if (mkdir(dir, 0755) < 0)
		cr_skip_test("cannot make %s: %s", dir, strerror(errno));
	snprintf(cg_dir, sizeof(cg_dir), "%s", dir);
	static const char *const files[][2] = {{"cpu.max", "150000 100000"}, {NULL, NULL}};
	struct h_gw g = start_in(parent, dir, files);
	const char *line = ready_line(&g);
	cr_assert(strstr(line, "(cgroup CPU quota 1.50;") || n_cpus() < 2, "%s", line);
	h_snigate_stop(&g);
}
