/* SPDX-License-Identifier: MIT */
/*
 * preflight's pure parts: kernel versions, the fd arithmetic, and which cause
 * and fix each io_uring and bind failure is given. The real probes run in
 * test/integration/test_preflight.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "core/preflight.h"

Test(preflight, kernel_versions_parse)
{
	static const struct {
		const char *s;
		unsigned a, b, c;
	} ok[] = {
		{"6.8.0-45-generic", 6, 8, 0},
		{"5.19.17", 5, 19, 17},
		{"6.1", 6, 1, 0},
		{"6.18.44-fc-v1272", 6, 18, 44},
		{"4.18.0-553.el8_10.x86_64", 4, 18, 0},
		{"6.6.0+", 6, 6, 0},
	};
	static const char *const bad[] = {"", "abc", "6", "6.", "v6.1", "-6.1"};
	struct pf_kver v;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		cr_assert_eq(pf_kver_parse(ok[i].s, &v), 0, "%s", ok[i].s);
		cr_assert(v.major == ok[i].a && v.minor == ok[i].b && v.patch == ok[i].c,
			  "%s: %u.%u.%u", ok[i].s, v.major, v.minor, v.patch);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(pf_kver_parse(bad[i], &v), -EINVAL, "'%s' parsed", bad[i]);
}

Test(preflight, kernel_version_compares)
{
	struct pf_kver v518 = {5, 18, 99}, v519 = {5, 19, 0}, v600 = {6, 0, 0}, v61 = {6, 1, 0},
		       v70 = {7, 0, 0};

	cr_assert(!pf_kver_atleast(&v518, 5, 19));
	cr_assert(pf_kver_atleast(&v519, 5, 19));
	cr_assert(pf_kver_atleast(&v600, 5, 19));
	cr_assert(!pf_kver_atleast(&v600, 6, 1));
	cr_assert(pf_kver_atleast(&v61, 6, 1));
	cr_assert(pf_kver_atleast(&v70, 6, 1));
}

static struct conf *conf_with(unsigned listeners, unsigned max, unsigned per)
{
	struct conf *c = conf_new_default();
	struct conf_error err = {0};
	char hp[32];

	cr_assert_not_null(c);
	for (unsigned i = 0; i < listeners; i++) {
		snprintf(hp, sizeof(hp), "127.0.0.1:%u", 8443 + i);
		cr_assert_eq(conf_add_listener(c, hp, &err), 0, "%s", err.msg);
	}
	c->limits.max_connections = max;
	c->limits.max_connections_per_thread = per;
	return c;
}

Test(preflight, fd_budget_counts_six_per_connection_and_the_overhead)
{
	struct pf_fd_budget a, b, one;
	struct conf *c = conf_with(1, 1000, 0);

	pf_fd_budget(c, 4, 1, &a);
	cr_assert_eq(a.threads, 4);
	cr_assert_eq(a.max_conns, 1000);
	cr_assert_eq(a.fixed, a.process + 4 * a.per_thread);
	cr_assert_eq(a.need, a.fixed + 1000 * PF_FDS_PER_CONN);
	cr_assert_eq(PF_FDS_PER_CONN, 6, "two sockets and two pipes of two ends");

	/* Each thread takes ceil(max / threads), as core/gateway.c divides it. */
	c->limits.max_connections = 1001;
	pf_fd_budget(c, 4, 1, &b);
	cr_assert_eq(b.max_conns, 4 * 251);

	/* A listener more: one fd more in every thread. */
	struct conf_error err = {0};
	cr_assert_eq(conf_add_listener(c, "127.0.0.1:9443", &err), 0, "%s", err.msg);
	c->limits.max_connections = 1000;
	pf_fd_budget(c, 4, 1, &b);
	cr_assert_eq(b.per_thread, a.per_thread + 1);
	cr_assert_eq(b.need, a.need + 4);

	/* No admin endpoint: its listener, eventfd and client slots go. */
	pf_fd_budget(c, 4, 0, &b);
	cr_assert_lt(b.process, a.process);

	/* A thread more costs its per-thread share, pooled pipes included. */
	conf_free(c);
	c = conf_with(1, 1000, 0);
	pf_fd_budget(c, 1, 1, &one);
	cr_assert_gt(one.per_thread, 2 * 72, "pooled pipes hold two fds each");
	cr_assert_eq(a.fixed - one.fixed, 3 * one.per_thread);
	conf_free(c);
}

Test(preflight, fd_budget_follows_the_per_thread_limit)
{
	struct pf_fd_budget b;
	struct conf *c = conf_with(1, 0, 100);

	/* Only a per-thread limit: it bounds every thread. */
	pf_fd_budget(c, 8, 1, &b);
	cr_assert_eq(b.max_conns, 800);
	/* Both: the smaller wins. */
	c->limits.max_connections = 400;
	pf_fd_budget(c, 8, 1, &b);
	cr_assert_eq(b.max_conns, 400);
	c->limits.max_connections = 8000;
	pf_fd_budget(c, 8, 1, &b);
	cr_assert_eq(b.max_conns, 800);
	/* Neither: no limit, and need is the overhead alone. */
	c->limits.max_connections = 0;
	c->limits.max_connections_per_thread = 0;
	pf_fd_budget(c, 8, 1, &b);
	cr_assert_eq(b.max_conns, 0);
	cr_assert_eq(b.need, b.fixed);
	/* threads 0 is taken as one, not as a division by zero. */
	c->limits.max_connections = 10;
	pf_fd_budget(c, 0, 1, &b);
	cr_assert_eq(b.threads, 1);
	cr_assert_eq(b.max_conns, 10);
	conf_free(c);
}

Test(preflight, fd_capacity)
{
	struct pf_fd_budget b;
	struct conf *c = conf_with(1, 0, 0);

	pf_fd_budget(c, 2, 1, &b);
	cr_assert_eq(pf_fd_capacity(&b, b.fixed), 0);
	cr_assert_eq(pf_fd_capacity(&b, b.fixed - 1), 0);
	cr_assert_eq(pf_fd_capacity(&b, b.fixed + 5), 0);
	cr_assert_eq(pf_fd_capacity(&b, b.fixed + 6), 1);
	cr_assert_eq(pf_fd_capacity(&b, b.fixed + 6000), 1000);
	conf_free(c);
}

static struct pf_uring_env env_plain(void)
{
	struct pf_uring_env e = {
		.kernel = {6, 8, 0}, .disabled = 0, .group = -1, .seccomp = 0, .memlock = 8 << 20};
	return e;
}

static void explain(int err, const struct pf_uring_env *e, char *why, char *fix)
{
	pf_uring_explain(err, "io_uring_setup", e, why, 512, fix, 512);
	cr_assert(*why && *fix, "err %d gave no cause or no fix", err);
}

Test(preflight, io_uring_seccomp_is_named_with_its_fix)
{
	struct pf_uring_env e = env_plain();
	char why[512], fix[512];

	e.seccomp = 2;
	for (int i = 0; i < 2; i++) {
		int err = i ? EPERM : ENOSYS;
		explain(err, &e, why, fix);
		cr_assert(strstr(why, "seccomp filter"), "%s", why);
		cr_assert(strstr(why, err == EPERM ? "EPERM" : "ENOSYS"), "%s", why);
		cr_assert(strstr(fix, "k8s/components/seccomp-io-uring"), "%s", fix);
		cr_assert(strstr(fix, "io_uring_setup, io_uring_enter and io_uring_register"), "%s",
			  fix);
	}
	/* No filter: ENOSYS is the kernel's. */
	e.seccomp = 0;
	explain(ENOSYS, &e, why, fix);
	cr_assert(!strstr(why, "seccomp filter blocks"), "%s", why);
	cr_assert(strstr(why, "CONFIG_IO_URING"), "%s", why);
}

Test(preflight, io_uring_disabled_comes_before_seccomp)
{
	struct pf_uring_env e = env_plain();
	char why[512], fix[512];

	e.seccomp = 2; /* a container has both; the sysctl is what refused */
	e.disabled = 2;
	explain(EPERM, &e, why, fix);
	cr_assert(strstr(why, "kernel.io_uring_disabled is 2"), "%s", why);
	cr_assert(strstr(fix, "kernel.io_uring_disabled=0"), "%s", fix);

	e.disabled = 1;
	explain(EPERM, &e, why, fix);
	cr_assert(strstr(why, "kernel.io_uring_disabled is 1 and kernel.io_uring_group is unset"),
		  "%s", why);
	e.group = 1234;
	explain(EPERM, &e, why, fix);
	cr_assert(strstr(why, "not in kernel.io_uring_group (gid 1234)"), "%s", why);
	cr_assert(strstr(fix, "kernel.io_uring_disabled=0"), "%s", fix);

	/* In the group, or CAP_SYS_ADMIN: the sysctl let it through, so it is the filter. */
	e.in_group = true;
	explain(EPERM, &e, why, fix);
	cr_assert(strstr(why, "seccomp filter"), "%s", why);
	e.in_group = false;
	e.cap_sys_admin = true;
	explain(EPERM, &e, why, fix);
	cr_assert(strstr(why, "seccomp filter"), "%s", why);

	/* Neither sysctl nor filter: an LSM. */
	e.seccomp = 0;
	explain(EPERM, &e, why, fix);
	cr_assert(strstr(why, "security module"), "%s", why);
}

Test(preflight, io_uring_memory_and_old_kernels)
{
	struct pf_uring_env e = env_plain();
	char why[512], fix[512];

	e.kernel = (struct pf_kver){5, 10, 0};
	e.memlock = 64 << 10;
	explain(ENOMEM, &e, why, fix);
	cr_assert(strstr(why, "RLIMIT_MEMLOCK is 64 KiB, and kernels before 5.12"), "%s", why);
	cr_assert(strstr(fix, "RLIMIT_MEMLOCK"), "%s", fix);

	e.kernel = (struct pf_kver){5, 15, 0};
	explain(EINVAL, &e, why, fix);
	cr_assert(strstr(why, "5.15"), "%s", why);
	cr_assert(strstr(why, "COOP_TASKRUN"), "%s", why);
	cr_assert(strstr(fix, "Linux 5.19 or later"), "%s", fix);

	explain(EMFILE, &e, why, fix);
	cr_assert(strstr(fix, "RLIMIT_NOFILE"), "%s", fix);
	explain(EFAULT, &e, why, fix);
	cr_assert(strstr(why, "EFAULT"), "%s", why);
}

Test(preflight, bind_failures_name_their_fix)
{
	char why[512], fix[512];

	pf_bind_explain(EACCES, "0.0.0.0:443", 443, 1024, false, why, sizeof(why), fix,
			sizeof(fix));
	cr_assert(strstr(why, "net.ipv4.ip_unprivileged_port_start (1024)"), "%s", why);
	cr_assert(strstr(why, "CAP_NET_BIND_SERVICE"), "%s", why);
	cr_assert(strstr(fix, "cap_net_bind_service"), "%s", fix);
	cr_assert(strstr(fix, "ip_unprivileged_port_start=443"), "%s", fix);

	/* Not privileged here, or the capability is there: not the port rule. */
	pf_bind_explain(EACCES, "0.0.0.0:443", 443, 1024, true, why, sizeof(why), fix, sizeof(fix));
	cr_assert(strstr(why, "security module"), "%s", why);
	pf_bind_explain(EACCES, "0.0.0.0:8443", 8443, 1024, false, why, sizeof(why), fix,
			sizeof(fix));
	cr_assert(strstr(why, "security module"), "%s", why);

	pf_bind_explain(EADDRINUSE, "127.0.0.1:8443", 8443, 1024, false, why, sizeof(why), fix,
			sizeof(fix));
	cr_assert(strstr(why, "in use"), "%s", why);
	cr_assert(strstr(fix, "ss -ltnp 'sport = :8443'"), "%s", fix);

	pf_bind_explain(EADDRNOTAVAIL, "10.9.9.9:8443", 8443, 1024, false, why, sizeof(why), fix,
			sizeof(fix));
	cr_assert(strstr(why, "not assigned"), "%s", why);
	cr_assert(strstr(fix, "0.0.0.0"), "%s", fix);
}
