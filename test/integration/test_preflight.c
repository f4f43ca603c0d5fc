/* SPDX-License-Identifier: MIT */
/*
 * Preflight, as an operator meets it: `snigate --check` and a plain start on
 * a host that refuses io_uring (a seccomp filter, kernel.io_uring_disabled),
 * has too few fds for the limits, or has the port taken. The hostile host is
 * made for real by pf_exec (a seccomp filter, setrlimit, setresuid) around
 * the real binary.
 *
 * Suite preflight_sysctl changes a host-wide sysctl; meson runs it alone.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/integration/harness.h"

TestSuite(preflight, .fini = h_teardown, .timeout = 60);

static const char *env(const char *name)
{
	const char *v = getenv(name);
	cr_assert(v && *v, "%s is not set (meson test sets it)", name);
	return v;
}

/*
 * Run snigate with args, under pf_exec with wrap (NULL-terminated, may be
 * NULL) when given. Returns the exit code; *p gets the process.
 */
static int run(struct h_proc **p, const char *const wrap[], const char *const args[])
{
	const char *argv[48];
	int n = 0;

	if (wrap) {
		argv[n++] = env("PF_EXEC");
		for (int i = 0; wrap[i]; i++)
			argv[n++] = wrap[i];
		argv[n++] = "--";
	}
	argv[n++] = env("SNIGATE_BIN");
	for (int i = 0; args[i]; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	return h_run("snigate", argv, NULL, 20000, p);
}

/* stdout and stderr of p, one after the other. */
static char *output(const struct h_proc *p)
{
	static char buf[16384];
	snprintf(buf, sizeof(buf), "%s%s", h_read_file(p->out), h_read_file(p->err));
	return buf;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;
	for (const char *q = hay; (q = strstr(q, needle)); q++)
		n++;
	return n;
}

Test(preflight, check_reports_the_kernel_and_io_uring)
{
	char listen[32];
	struct utsname u;
	struct h_proc *p;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", h_free_port());
	const char *args[] = {"--check", "--listen", listen,	    "--allow",
			      "a.test",	 "--admin",  "127.0.0.1:0", NULL};
	int rc = run(&p, NULL, args);
	const char *out = h_read_file(p->out), *err = h_read_file(p->err);

	cr_assert_eq(rc, 0, "--check exited %d:\n%s%s", rc, out, err);
	/* The config's line stays as it was. */
	cr_assert(strstr(out, "snigate: command line: ok (1 listeners, 1 allowlist entries)\n"),
		  "%s", out);
	cr_assert_eq(uname(&u), 0);
	char want[128];
	snprintf(want, sizeof(want), "snigate: kernel: Linux %s (", u.release);
	cr_assert(strstr(out, want), "no '%s' in:\n%s", want, out);
	cr_assert(strstr(out, "snigate: io_uring: ok: "), "%s%s", out, err);
	cr_assert(strstr(out, "multishot accept works"), "%s", out);
	unsigned maj = 0, min = 0;
	sscanf(u.release, "%u.%u", &maj, &min);
	if (maj > 6 || (maj == 6 && min >= 1))
		cr_assert(strstr(out, "SINGLE_ISSUER|DEFER_TASKRUN"), "%s", out);
	char lst[64];
	snprintf(lst, sizeof(lst), "snigate: listener %s: can be bound", listen);
	cr_assert(strstr(out, lst), "no '%s' in:\n%s", lst, out);
	cr_assert(strstr(out, "snigate: RLIMIT_NOFILE: "), "%s%s", out, err);
	cr_assert(!strstr(err, "error"), "%s", err);
}

/* Under a filter that fails io_uring_setup with e: --check names seccomp and the fix. */
static void seccomp_check(const char *e)
{
	const char *wrap[] = {"--seccomp-uring", e, NULL};
	const char *args[] = {"--check", "--listen", "127.0.0.1:8443", "--allow", "a.test", NULL};
	struct h_proc *p;
	int rc = run(&p, wrap, args);
	const char *out = output(p);
	char want[96];

	cr_assert_eq(rc, 1, "--check under a seccomp filter (%s) exited %d:\n%s", e, rc, out);
	cr_assert(strstr(out, "ok (1 listeners, 1 allowlist entries)"), "%s", out);
	snprintf(want, sizeof(want), "io_uring_setup fails with %s: a seccomp filter blocks it", e);
	cr_assert(strstr(out, want), "no '%s' in:\n%s", want, out);
	cr_assert(strstr(out, "snigate: error: io_uring: unusable: "), "%s", out);
	cr_assert(strstr(out, "; fix: run snigate under a seccomp profile that allows "
			      "io_uring_setup, io_uring_enter and io_uring_register"),
		  "%s", out);
	cr_assert(strstr(out, "k8s/components/seccomp-io-uring"), "%s", out);
}

Test(preflight, check_names_seccomp_enosys)
{
	seccomp_check("ENOSYS");
}

Test(preflight, check_names_seccomp_eperm)
{
	seccomp_check("EPERM");
}

/* A plain start under the filter: one error line with the cause and fix, exit 1. */
static void seccomp_start(const char *e)
{
	const char *wrap[] = {"--seccomp-uring", e, NULL};
	char listen[32];
	struct h_proc *p;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", h_free_port());
	const char *args[] = {"--listen", listen, "--allow", "a.test", "--admin", "off", NULL};
	int rc = run(&p, wrap, args);
	const char *err = h_read_file(p->err);

	cr_assert_eq(rc, 1, "a start under a seccomp filter (%s) exited %d:\n%s", e, rc, err);
	cr_assert_eq(count(err, "snigate: error: "), 1, "not one error line:\n%s", err);
	cr_assert(strstr(err, "snigate: error: io_uring: unusable: io_uring_setup fails with "),
		  "%s", err);
	cr_assert(strstr(err, "a seccomp filter blocks it"), "%s", err);
	cr_assert(strstr(err, "k8s/components/seccomp-io-uring"), "%s", err);
	/* Stopped before any worker: not the bare errno of a worker's ring. */
	cr_assert(!strstr(err, "worker"), "%s", err);
	cr_assert(!strstr(err, "snigate: ready"), "%s", err);
}

Test(preflight, start_under_seccomp_enosys_exits_1)
{
	seccomp_start("ENOSYS");
}

Test(preflight, start_under_seccomp_eperm_exits_1)
{
	seccomp_start("EPERM");
}

Test(preflight, low_nofile_against_max_connections_is_reported)
{
	char conf[256], text[512];
	struct h_proc *p;

	snprintf(text, sizeof(text),
		 "listeners:\n  - address: 127.0.0.1:%d\n"
		 "allow:\n  - a.test\nlimits:\n  max_connections: 100000\n",
		 h_free_port());
	h_write_file(h_path(conf, sizeof(conf), "big.yaml"), text);
	const char *wrap[] = {"--nofile", "1024", NULL};
	const char *args[] = {"--check", "-c", conf, "--threads", "2", "--admin", "off", NULL};
	int rc = run(&p, wrap, args);
	const char *out = output(p);

	/* Too few fds is a risk, not a host that cannot run the gateway. */
	cr_assert_eq(rc, 0, "--check exited %d:\n%s", rc, out);
	cr_assert(strstr(out, "snigate: warning: RLIMIT_NOFILE: 1024 is short: "
			      "limits.max_connections 100000 over 2 threads needs up to "),
		  "%s", out);
	unsigned long long need = 0, fit = ~0ULL;
	const char *q = strstr(out, "needs up to ");
	cr_assert(q && sscanf(q, "needs up to %llu", &need) == 1, "%s", out);
	cr_assert_geq(need, 600000ULL, "6 fds a connection at least: %s", out);
	q = strstr(out, "about ");
	cr_assert(q && sscanf(q, "about %llu connections fit", &fit) == 1, "%s", out);
	cr_assert_lt(fit, 1024 / 6, "%s", out);
	cr_assert(strstr(out, "fails with EMFILE") || strstr(out, "fail with EMFILE"), "%s", out);
	cr_assert(strstr(out, "; fix: raise the hard limit to "), "%s", out);

	/* Limits that fit the fds there are (raising the hard limit needs CAP_SYS_RESOURCE). */
	struct rlimit rl;
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max < 8192)
		return;
	char hard[32];
	snprintf(hard, sizeof(hard), "%llu", (unsigned long long)rl.rlim_max);
	snprintf(text, sizeof(text),
		 "listeners:\n  - address: 127.0.0.1:%d\n"
		 "allow:\n  - a.test\nlimits:\n  max_connections: 1000\n",
		 h_free_port());
	h_write_file(conf, text);
	const char *roomy[] = {"--nofile", hard, NULL};
	rc = run(&p, roomy, args);
	out = output(p);
	cr_assert_eq(rc, 0, "%s", out);
	char want[128];
	snprintf(want, sizeof(want),
		 "snigate: RLIMIT_NOFILE: %s covers limits.max_connections 1000 over 2 threads",
		 hard);
	cr_assert(strstr(out, want), "no '%s' in:\n%s", want, out);
	cr_assert(!strstr(out, "warning: RLIMIT_NOFILE"), "%s", out);
}

/* A listening socket on 127.0.0.1 without SO_REUSEPORT, as another program's would be. */
static int hold_port(int *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

Test(preflight, a_port_held_by_another_socket_is_in_use)
{
	char listen[32], admin[32], want[128];
	int lp, ap;
	int lfd = hold_port(&lp), afd = hold_port(&ap);
	struct h_proc *p;

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", lp);
	snprintf(admin, sizeof(admin), "127.0.0.1:%d", ap);
	const char *args[] = {"--check", "--listen", listen, "--allow",
			      "a.test",	 "--admin",  admin,  NULL};
	int rc = run(&p, NULL, args);
	const char *out = output(p);

	/* --check may run beside a gateway or in a build: a taken port warns. */
	cr_assert_eq(rc, 0, "--check exited %d:\n%s", rc, out);
	snprintf(want, sizeof(want),
		 "snigate: warning: listener %s: cannot be bound (EADDRINUSE): in use", listen);
	cr_assert(strstr(out, want), "no '%s' in:\n%s", want, out);
	snprintf(want, sizeof(want),
		 "snigate: warning: admin.address %s: cannot be bound (EADDRINUSE): in use", admin);
	cr_assert(strstr(out, want), "no '%s' in:\n%s", want, out);
	snprintf(want, sizeof(want),
		 "; fix: stop what holds it (find it with: ss -ltnp 'sport = :%d')", lp);
	cr_assert(strstr(out, want), "no '%s' in:\n%s", want, out);

	/* A start fails on it, before any worker, with the same words. */
	const char *start[] = {"--listen", listen, "--allow", "a.test", "--admin", "off", NULL};
	rc = run(&p, NULL, start);
	const char *err = h_read_file(p->err);
	cr_assert_eq(rc, 1, "a start on a taken port exited %d:\n%s", rc, err);
	snprintf(want, sizeof(want),
		 "snigate: error: listener %s: cannot be bound (EADDRINUSE): in use", listen);
	cr_assert(strstr(err, want), "no '%s' in:\n%s", want, err);
	cr_assert_eq(count(err, "snigate: error: "), 1, "%s", err);
	close(lfd);
	close(afd);
}

/*
 * --check beside a running gateway on the same port: the probe binds like a
 * worker (SO_REUSEPORT) and never listens, so it reports the port as usable
 * and no connection made meanwhile can land on it: the gateway accepts every
 * one (a probe that listened would take some into its own queue).
 */
Test(preflight, check_beside_a_running_gateway_leaves_it_alone, .timeout = 120)
{
	/* More threads than CPUs: unpinned, so no SO_INCOMING_CPU steers around the probe. */
	char threads[24];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	snprintf(threads, sizeof(threads), "%ld", (ncpu > 0 ? ncpu : 1) + 1);
	const char *extra[] = {"--threads", threads, NULL};
	struct h_gw g = h_snigate(443, extra);
	char listen[32], want[96];
	struct h_proc *checks[8];
	enum { N = sizeof(checks) / sizeof(checks[0]) };

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", g.port);
	const char *argv[] = {env("SNIGATE_BIN"), "--check", "--listen", listen, "--allow",
			      "a.test",		  "--admin", "off",	 NULL};
	for (int i = 0; i < N; i++)
		checks[i] = h_spawn("check", argv, NULL);

	/* Denied names are reset by the gateway itself, so each round trip is quick. */
	uint8_t hello[2048];
	struct hello_opts ho = {.sni = "denied.test"};
	size_t n = h_hello(&ho, hello, sizeof(hello));
	long long conns = 0;
	for (bool running = true; (running || conns < 50) && conns < 5000;) {
		int fd = h_connect(g.port);
		h_send_all(fd, hello, n);
		enum h_outcome o = h_wait(fd, 5000, NULL, 0, NULL);
		cr_assert_eq(o, H_RESET, "connection %lld: %s", conns, h_outcome_str(o));
		close(fd);
		conns++;
		running = false;
		for (int i = 0; i < N; i++)
			running |= h_alive(checks[i]);
	}
	snprintf(want, sizeof(want), "snigate: listener %s: can be bound", listen);
	for (int i = 0; i < N; i++) {
		cr_assert(h_wait_exit(checks[i], 20000));
		const char *out = output(checks[i]);
		cr_assert_eq(h_exit_code(checks[i]), 0, "%s", out);
		cr_assert(strstr(out, want), "no '%s' in:\n%s", want, out);
	}
	cr_assert(h_alive(g.p));
	cr_assert_eq(h_snigate_stop(&g), 0);
	long long accepted = -1;
	cr_assert(h_stats(&g, "accepted", &accepted));
	cr_assert_eq(accepted, conns, "the gateway accepted %lld of %lld connections", accepted,
		     conns);
}

/* ---- kernel.io_uring_disabled: host-wide, so run alone and always put back ---- */

#define SYSCTL "/proc/sys/kernel/io_uring_disabled"

TestSuite(preflight_sysctl, .fini = h_teardown, .timeout = 60);

static int sysctl_read(void)
{
	int v = -1;
	FILE *f = fopen(SYSCTL, "re");
	if (f) {
		if (fscanf(f, "%d", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int sysctl_write(int v)
{
	int fd = open(SYSCTL, O_WRONLY | O_CLOEXEC);
	char b[8];
	int n = snprintf(b, sizeof(b), "%d\n", v), ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, b, (size_t)n) == n;
	close(fd);
	return ok ? 0 : -EIO;
}

/*
 * A child that puts the old value back when the pipe closes, which happens
 * when the test is done with it or dies in any way (an assertion, criterion's
 * timeout kill). It inherits the lock, so a second copy of this test (the
 * sanitizer build's) cannot read the changed value as the old one.
 */
static pid_t guard_start(int old, int *wfd)
{
	int pp[2];

	cr_assert_eq(pipe2(pp, O_CLOEXEC), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		char c;
		close(pp[1]);
		while (read(pp[0], &c, 1) != 0 && errno == EINTR)
			;
		_exit(sysctl_write(old) == 0 ? 0 : 1);
	}
	close(pp[0]);
	*wfd = pp[1];
	return pid;
}

/* Copy the binary where uid 65534 may run it (the build tree may be closed to it). */
static void copy_exe(const char *src, char *dst, size_t len)
{
	char dir[256], buf[65536];
	ssize_t n;

	snprintf(dir, sizeof(dir), "/tmp/snigate-pf.XXXXXX");
	cr_assert(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	cr_assert_eq(chmod(dir, 0755), 0);
	snprintf(dst, len, "%s/snigate", dir);
	int in = open(src, O_RDONLY | O_CLOEXEC),
	    out = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0755);
	cr_assert(in >= 0 && out >= 0, "copying %s: %s", src, strerror(errno));
	while ((n = read(in, buf, sizeof(buf))) > 0)
		cr_assert_eq(write(out, buf, (size_t)n), n);
	close(in);
	close(out);
}

Test(preflight_sysctl, io_uring_disabled_is_named)
{
	char exe[300], lock[] = "/tmp/snigate-io_uring_disabled.lock";

	if (access(SYSCTL, F_OK) != 0)
		cr_skip_test("%s is absent (kernels before 6.6)", SYSCTL);
	if (geteuid() != 0 || access(SYSCTL, W_OK) != 0)
		cr_skip_test("%s is not writable here (needs root on the host)", SYSCTL);
	copy_exe(env("SNIGATE_BIN"), exe, sizeof(exe));
	setenv("SNIGATE_BIN", exe, 1);

	int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(lfd, 0);
	cr_assert_eq(flock(lfd, LOCK_EX), 0);
	int old = sysctl_read(), wfd;
	cr_assert_geq(old, 0);
	pid_t guard = guard_start(old, &wfd);
	/*
	 * 1, not 2: root (CAP_SYS_ADMIN) keeps io_uring, so whatever else runs
	 * on this machine as root is unaffected; snigate runs as 65534.
	 */
	int werr = sysctl_write(1);
	struct h_proc *pc = NULL, *ps = NULL;
	int rc_check = -1, rc_start = -1;
	if (werr == 0) {
		const char *wrap[] = {"--uid", "65534", NULL};
		const char *check[] = {"--check", "--listen", "127.0.0.1:8443",
				       "--allow", "a.test",   "--admin",
				       "off",	  NULL};
		char listen[32];
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", h_free_port());
		const char *start[] = {"--listen", listen, "--allow", "a.test",
				       "--admin",  "off",  NULL};
		rc_check = run(&pc, wrap, check);
		rc_start = run(&ps, wrap, start);
	}
	/* Put it back before any assertion can end the test. */
	int rerr = sysctl_write(old);
	close(wfd);
	int st;
	waitpid(guard, &st, 0);
	int now = sysctl_read();
	flock(lfd, LOCK_UN);
	close(lfd);

	cr_assert_eq(werr, 0, "writing 1 to %s: %s", SYSCTL, strerror(-werr));
	cr_assert_eq(rerr, 0, "restoring %s", SYSCTL);
	cr_assert_eq(now, old, "%s is %d, was %d", SYSCTL, now, old);

	const char *out = output(pc);
	cr_assert_eq(rc_check, 1, "--check with io_uring_disabled=1 exited %d:\n%s", rc_check, out);
	cr_assert(strstr(out, "snigate: error: io_uring: unusable: kernel.io_uring_disabled is 1"),
		  "%s", out);
	cr_assert(strstr(out, "; fix: "), "%s", out);
	cr_assert(strstr(out, "kernel.io_uring_disabled=0"), "%s", out);
	const char *err = h_read_file(ps->err);
	cr_assert_eq(rc_start, 1, "a start with io_uring_disabled=1 exited %d:\n%s", rc_start, err);
	cr_assert_eq(count(err, "snigate: error: "), 1, "%s", err);
	cr_assert(strstr(err, "kernel.io_uring_disabled is 1"), "%s", err);
	unlink(exe);
	*strrchr(exe, '/') = '\0';
	rmdir(exe);
}
