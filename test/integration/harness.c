/* SPDX-License-Identifier: MIT */
#include "test/integration/harness.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 32
#define MAX_SINKS 4
#define SINK_MAX  1024
#define SINK_BUF  (256u << 10)

struct h_env H;

static char dir[64];
static struct h_proc procs[MAX_PROCS];
static int n_procs;
static struct h_sink *sinks[MAX_SINKS];
static int n_sinks;
static int held_fds[16];
static int n_held;
static char **owned; /* h_read_file() results, freed by h_teardown() */
static void sink_free(struct h_sink *s);
static size_t n_owned, cap_owned;

uint64_t h_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void h_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

const char *h_dir(void)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/snigate-it-XXXXXX");
		cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	}
	return dir;
}

const char *h_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", h_dir(), name);
	return buf;
}

void h_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	cr_assert_eq(fclose(f), 0);
}

/* The whole file, malloc'ed; the caller frees it. */
static char *read_raw(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	cr_assert_not_null(buf);
	if (f) {
		size_t k;
		while ((k = fread(buf + n, 1, cap - n - 1, f)) > 0) {
			n += k;
			if (cap - n - 1 == 0) {
				cap *= 2;
				buf = realloc(buf, cap);
				cr_assert_not_null(buf);
			}
		}
		fclose(f);
	}
	buf[n] = 0;
	return buf;
}

char *h_read_file(const char *path)
{
	char *s = read_raw(path);

	/* Owned here, so tests can use the text in messages and never free it. */
	if (n_owned == cap_owned) {
		cap_owned = cap_owned ? 2 * cap_owned : 64;
		owned = realloc(owned, cap_owned * sizeof(*owned));
		cr_assert_not_null(owned);
	}
	owned[n_owned++] = s;
	return s;
}

bool h_file_wait(const char *path, const char *needle, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		char *s = read_raw(path);
		bool found = strstr(s, needle) != NULL;
		free(s);
		if (found)
			return true;
		if (h_now_ms() >= end)
			return false;
		h_sleep_ms(10);
	}
}

static int bound_port(int type, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0);
	int got = -1;

	cr_assert_geq(fd, 0);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &al) == 0)
		got = ntohs(a.sin_port);
	close(fd);
	return got;
}

int h_free_port(void)
{
	int p = bound_port(SOCK_STREAM, 0);
	cr_assert_gt(p, 0, "no free loopback port");
	return p;
}

/* unbound takes the port for UDP and TCP both. */
static int free_port_udp_tcp(void)
{
	for (int i = 0; i < 50; i++) {
		int p = bound_port(SOCK_DGRAM, 0);
		if (p > 0 && bound_port(SOCK_STREAM, p) == p)
			return p;
	}
	cr_assert_fail("no loopback port free for both UDP and TCP");
	return -1;
}

bool h_port_wait(int port, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};

	for (;;) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int rc = connect(fd, (struct sockaddr *)&a, sizeof(a));
		close(fd);
		if (rc == 0)
			return true;
		if (h_now_ms() >= end)
			return false;
		h_sleep_ms(20);
	}
}

/* ---- processes ---- */

struct h_proc *h_spawn(const char *name, const char *const argv[], const char *stdin_path)
{
	cr_assert_lt(n_procs, MAX_PROCS, "too many processes in one test");
	struct h_proc *p = &procs[n_procs++];
	pid_t parent = getpid();
	const char *in = stdin_path ? stdin_path : "/dev/null";

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->out, sizeof(p->out), "%s/%s.%d.out", h_dir(), name, n_procs);
	snprintf(p->err, sizeof(p->err), "%s/%s.%d.err", h_dir(), name, n_procs);

	pid_t pid = fork();
	cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* Only async-signal-safe calls from here: the test may have threads. */
		sigset_t none;
		setpgid(0, 0);
		/* Criterion kills a test that runs past its timeout; take the peers along. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		int fi = open(in, O_RDONLY);
		int fo = open(p->out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fe = open(p->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fi < 0 || fo < 0 || fe < 0)
			_exit(127);
		dup2(fi, 0);
		dup2(fo, 1);
		dup2(fe, 2);
		/* No test socket or criterion pipe may live on in a peer. */
		close_range(3, ~0U, 0);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	setpgid(pid, pid); /* the child does it too; whichever runs first wins */
	p->pid = pid;
	return p;
}

bool h_alive(struct h_proc *p)
{
	if (p->reaped)
		return false;
	pid_t r = waitpid(p->pid, &p->status, WNOHANG);
	if (r == p->pid || (r < 0 && errno == ECHILD)) {
		p->reaped = true;
		return false;
	}
	return true;
}

bool h_wait_exit(struct h_proc *p, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;

	while (h_alive(p)) {
		if (h_now_ms() >= end)
			return false;
		h_sleep_ms(5);
	}
	return true;
}

static void kill_reap(struct h_proc *p)
{
	if (p->reaped)
		return;
	kill(-p->pid, SIGKILL);
	kill(p->pid, SIGKILL);
	while (waitpid(p->pid, &p->status, 0) < 0 && errno == EINTR)
		;
	p->reaped = true;
}

int h_stop(struct h_proc *p, int sig, int timeout_ms)
{
	if (h_alive(p)) {
		kill(p->pid, sig);
		if (!h_wait_exit(p, timeout_ms)) {
			kill_reap(p);
			return -1;
		}
	}
	return p->status;
}

int h_exit_code(const struct h_proc *p)
{
	if (!p->reaped)
		return -1;
	if (WIFEXITED(p->status))
		return WEXITSTATUS(p->status);
	if (WIFSIGNALED(p->status))
		return 128 + WTERMSIG(p->status);
	return -1;
}

int h_run(const char *name, const char *const argv[], const char *stdin_path, int timeout_ms,
	  struct h_proc **out)
{
	struct h_proc *p = h_spawn(name, argv, stdin_path);

	if (out)
		*out = p;
	if (!h_wait_exit(p, timeout_ms)) {
		kill_reap(p);
		return -1;
	}
	return h_exit_code(p);
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

/* The start of a sanitizer report in a gateway's stderr, or NULL. */
static const char *sanitizer_report(const char *err)
{
	static const char *const marks[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
					    "runtime error:", "WARNING: ThreadSanitizer", NULL};
	const char *first = NULL;

	for (int i = 0; marks[i]; i++) {
		const char *m = strstr(err, marks[i]);
		if (m && (!first || m < first))
			first = m;
	}
	return first;
}

/* Inodes of every TCP socket in pid's network namespace, sorted; NULL on error. */
static int cmp_ul(const void *a, const void *b)
{
	unsigned long x = *(const unsigned long *)a, y = *(const unsigned long *)b;
	return x < y ? -1 : x > y;
}

static unsigned long *tcp_inodes(pid_t pid, size_t *n)
{
	unsigned long *v = NULL;
	size_t cap = 0;
	char path[64], line[512];

	*n = 0;
	for (int six = 0; six < 2; six++) {
		snprintf(path, sizeof(path), "/proc/%d/net/tcp%s", (int)pid, six ? "6" : "");
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			unsigned long ino;
			/* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
			if (sscanf(line, "%*s %*s %*s %*s %*s %*s %*s %*s %*s %lu", &ino) != 1)
				continue;
			if (*n == cap) {
				unsigned long *nv = realloc(v, (cap ? cap * 2 : 256) * sizeof(*v));
				if (!nv)
					break;
				v = nv;
				cap = cap ? cap * 2 : 256;
			}
			v[(*n)++] = ino;
		}
		fclose(f);
	}
	if (v)
		qsort(v, *n, sizeof(*v), cmp_ul);
	return v;
}

/*
 * Call fn with the link target of each of pid's open fds ("socket:[123]",
 * "pipe:[4]", "anon_inode:[io_uring]", a path). Fds closed while we look are
 * skipped. Returns -1 when /proc/PID/fd cannot be read (pid is gone).
 */
static int fd_walk(pid_t pid, void (*fn)(char *link, void *arg), void *arg)
{
	char path[64], fp[340], link[128];

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(fp, sizeof(fp), "%s/%s", path, e->d_name);
		ssize_t k = readlink(fp, link, sizeof(link) - 1);
		if (k < 0)
			continue;
		link[k] = 0;
		fn(link, arg);
	}
	closedir(d);
	return 0;
}

struct tcp_count {
	const unsigned long *ino;
	size_t ni;
	int n;
};

static void count_tcp(char *link, void *arg)
{
	struct tcp_count *t = arg;
	unsigned long i;

	if (sscanf(link, "socket:[%lu]", &i) == 1 && t->ino &&
	    bsearch(&i, t->ino, t->ni, sizeof(*t->ino), cmp_ul))
		t->n++;
}

/*
 * pid's TCP sockets: its listeners and the two of every connection. Not its
 * UDP sockets: libunbound keeps one for a query nobody answers.
 */
static int tcp_fd_count(pid_t pid)
{
	struct tcp_count t = {0};
	unsigned long *ino = tcp_inodes(pid, &t.ni);

	t.ino = ino;
	int rc = fd_walk(pid, count_tcp, &t);
	free(ino);
	return rc < 0 ? -1 : t.n;
}

static void record_base(struct h_proc *p)
{
	int socks = 0, pipes = 0, n = h_fd_count(p->pid, &socks, &pipes);

	p->base_sockets = tcp_fd_count(p->pid);
	p->has_base = n >= 0 && p->base_sockets >= 0;
	p->base_other = n - socks - pipes;
}

/* The test's own TCP sockets (its clients), not criterion's unix sockets. */
static void close_test_sockets(void)
{
	DIR *d = opendir("/proc/self/fd");
	int fds[4096], n = 0;

	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d)) != NULL && n < 4096;) {
		int fd = atoi(e->d_name), dom = 0, type = 0;
		socklen_t l = sizeof(int);
		if (e->d_name[0] == '.' || fd <= 2 || fd == dirfd(d))
			continue;
		bool held = false;
		for (int i = 0; i < n_held; i++)
			held |= held_fds[i] == fd;
		if (held || getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0 ||
		    (dom != AF_INET && dom != AF_INET6))
			continue;
		l = sizeof(int);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0 && type == SOCK_STREAM)
			fds[n++] = fd;
	}
	closedir(d);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/*
 * Every gateway still running is back to the sockets it had when it said
 * ready: each connection's two closed. Runs after the sinks and the test's
 * clients are closed, so every relay has ended. Other fds are only reported:
 * libunbound's thread makes its event base at the first lookup, and pipes
 * stay in the per-thread pool.
 */
static bool fds_back_to_base(void)
{
	bool ok = true;

	for (int i = 0; i < n_procs; i++) {
		struct h_proc *p = &procs[i];
		int tcp = 0;
		if (!p->gateway || !p->has_base || !h_alive(p))
			continue;
		uint64_t end = h_now_ms() + 5000;
		for (;;) {
			tcp = tcp_fd_count(p->pid);
			if (tcp < 0 || tcp <= p->base_sockets || h_now_ms() >= end)
				break;
			h_sleep_ms(50);
		}
		if (tcp > p->base_sockets) {
			char now[1024];
			int socks = 0, pipes = 0, n = h_fd_count(p->pid, &socks, &pipes);
			h_fd_summary(p->pid, now, sizeof(now));
			cr_log_error(
				"%s (pid %d) holds %d TCP sockets 5 s after every client and "
				"upstream closed, %d when it was ready (other fds: %d, then %d): "
				"%s",
				p->name, (int)p->pid, tcp, p->base_sockets, n - socks - pipes,
				p->base_other, now);
			ok = false;
		}
	}
	return ok;
}

void h_teardown(void)
{
	bool bad = false;

	/*
	 * Sinks, peers and the test's own clients gone (a gateway only sees
	 * resets), every gateway must let go of every connection.
	 */
	for (int i = 0; i < n_sinks; i++)
		sink_free(sinks[i]);
	n_sinks = 0;
	for (int i = n_procs - 1; i >= 0; i--)
		if (!procs[i].gateway)
			kill_reap(&procs[i]);
	close_test_sockets();
	if (!fds_back_to_base())
		bad = true;
	/* Gateways first and gently, so a sanitizer build gets to check for leaks. */
	for (int i = n_procs - 1; i >= 0; i--) {
		struct h_proc *p = &procs[i];
		bool was_running = h_alive(p);
		if (!p->gateway)
			continue;
		if (was_running && h_stop(p, SIGTERM, 5000) == -1) {
			cr_log_error("%s (pid %d) ignored SIGTERM for 5 s", p->name, (int)p->pid);
			bad = true;
		} else if (was_running && h_exit_code(p) != 0) {
			cr_log_error("%s (pid %d) exited %d on SIGTERM", p->name, (int)p->pid,
				     h_exit_code(p));
			bad = true;
		}
		char *err = read_raw(p->err);
		const char *rep = sanitizer_report(err);
		if (rep) {
			cr_log_error("%s (pid %d) stderr has a sanitizer report:\n%.3000s", p->name,
				     (int)p->pid, rep);
			bad = true;
		}
		free(err);
	}
	/* Then the peers. */
	for (int i = n_procs - 1; i >= 0; i--)
		kill_reap(&procs[i]);
	n_procs = 0;
	for (int i = 0; i < n_held; i++)
		close(held_fds[i]);
	n_held = 0;
	if (dir[0]) {
		const char *keep = getenv("SNIGATE_IT_KEEP");
		if (keep && *keep && strcmp(keep, "0"))
			cr_log_warn("kept %s", dir);
		else
			nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		dir[0] = 0;
	}
	memset(&H, 0, sizeof(H));
	for (size_t i = 0; i < n_owned; i++)
		free(owned[i]);
	free(owned);
	owned = NULL;
	n_owned = cap_owned = 0;
	if (bad)
		abort();
}

/* ---- unbound ---- */

/* One A or AAAA query over UDP; returns the rcode and answer count, or -1 without reply. */
static int dns_query(int port, const char *name, uint16_t qtype, int *ancount)
{
	uint8_t q[512], r[1024];
	size_t n = 12;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int rc = -1;

	memset(q, 0, 12);
	q[0] = 0x5e;
	q[1] = 0x17;
	q[2] = 0x01; /* RD */
	q[5] = 1;    /* QDCOUNT */
	for (const char *s = name; *s;) {
		const char *dot = strchr(s, '.');
		size_t l = dot ? (size_t)(dot - s) : strlen(s);
		q[n++] = (uint8_t)l;
		memcpy(q + n, s, l);
		n += l;
		s += l + (dot ? 1 : 0);
	}
	q[n++] = 0;
	q[n++] = (uint8_t)(qtype >> 8);
	q[n++] = (uint8_t)qtype;
	q[n++] = 0;
	q[n++] = 1; /* IN */

	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	for (int i = 0; i < 20 && rc < 0; i++) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		sendto(fd, q, n, 0, (struct sockaddr *)&a, sizeof(a));
		if (poll(&pf, 1, 250) == 1) {
			ssize_t k = recv(fd, r, sizeof(r), 0);
			if (k >= 12 && r[0] == 0x5e && r[1] == 0x17) {
				rc = r[3] & 0x0f;
				*ancount = (r[6] << 8) | r[7];
			}
		}
	}
	close(fd);
	return rc;
}

void h_start_unbound(void)
{
	char conf[300], text[4096];

	if (H.unbound)
		return;
	H.dns_port = free_port_udp_tcp();
	snprintf(text, sizeof(text),
		 "server:\n"
		 "  interface: 127.0.0.1\n"
		 "  port: %d\n"
		 "  do-daemonize: no\n"
		 "  chroot: \"\"\n"
		 "  username: \"\"\n"
		 "  pidfile: \"\"\n"
		 "  use-syslog: no\n"
		 "  logfile: \"\"\n"
		 "  verbosity: 1\n"
		 "  directory: \"%s\"\n"
		 "  do-ip6: no\n"
		 "  access-control: 127.0.0.0/8 allow\n"
		 "  module-config: \"iterator\"\n"
		 "  local-zone: \"test.\" static\n"
		 "  local-data: \"allowed.test. 300 IN A 127.0.0.1\"\n"
		 "  local-data: \"x.wild.test. 300 IN A 127.0.0.1\"\n"
		 "  local-data: \"a.b.wild.test. 300 IN A 127.0.0.1\"\n"
		 /* Names that must be refused resolve too: only the allowlist may stop them. */
		 "  local-data: \"wild.test. 300 IN A 127.0.0.1\"\n"
		 "  local-data: \"denied.test. 300 IN A 127.0.0.1\"\n"
		 "  local-data: \"big.test. 300 IN A 127.0.0.1\"\n"
		 "  local-data: \"v6only.test. 300 IN AAAA ::1\"\n"
		 /* Nothing listens on 127.0.0.2: the first address is refused, the second works. */
		 "  local-data: \"multi.test. 300 IN A 127.0.0.2\"\n"
		 "  local-data: \"multi.test. 300 IN A 127.0.0.1\"\n"
		 "  rrset-roundrobin: no\n"
		 "  local-zone: \"refused.test.\" refuse\n",
		 H.dns_port, h_dir());
	h_write_file(h_path(conf, sizeof(conf), "unbound.conf"), text);
	const char *argv[] = {"unbound", "-d", "-c", conf, NULL};
	H.unbound = h_spawn("unbound", argv, NULL);

	int an = 0, rc = -1;
	uint64_t end = h_now_ms() + 10000;
	while (rc < 0 && h_now_ms() < end && h_alive(H.unbound))
		rc = dns_query(H.dns_port, "allowed.test", 1, &an);
	if (rc != 0 || an < 1) {
		char *err = h_read_file(H.unbound->err);
		cr_assert_fail("unbound on port %d does not answer allowed.test (rcode %d, %d "
			       "answers):\n%s",
			       H.dns_port, rc, an, err);
	}
	rc = dns_query(H.dns_port, "nx.test", 1, &an);
	cr_assert_eq(rc, 3, "unbound must answer nx.test with NXDOMAIN, got rcode %d", rc);
	rc = dns_query(H.dns_port, "v6only.test", 1, &an);
	cr_assert(rc == 0 && an == 0, "v6only.test must have no A record (rcode %d, %d answers)",
		  rc, an);
}

int h_dns_blackhole(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert_lt(n_held, 16);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	held_fds[n_held++] = fd;
	return ntohs(a.sin_port);
}

int h_listen_full(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_lt(n_held, 12);
	cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(lfd, 0), 0);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
	held_fds[n_held++] = lfd;
	for (int i = 0; i < 3; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		connect(fd, (struct sockaddr *)&a, sizeof(a));
		held_fds[n_held++] = fd;
	}
	h_sleep_ms(300);
	int probe = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	connect(probe, (struct sockaddr *)&a, sizeof(a));
	struct pollfd pf = {.fd = probe, .events = POLLOUT};
	int r = poll(&pf, 1, 500);
	close(probe);
	cr_assert_eq(r, 0, "this kernel completes connects to a listener with a full queue");
	return ntohs(a.sin_port);
}

/* ---- TLS peer ---- */

void h_make_cert(void)
{
	struct h_proc *p;

	if (H.cert[0])
		return;
	h_path(H.cert, sizeof(H.cert), "cert.pem");
	h_path(H.key, sizeof(H.key), "key.pem");
	const char *argv[] = {"openssl",
			      "req",
			      "-x509",
			      "-newkey",
			      "ec",
			      "-pkeyopt",
			      "ec_paramgen_curve:P-256",
			      "-nodes",
			      "-days",
			      "2",
			      "-subj",
			      "/CN=allowed.test",
			      "-addext",
			      "subjectAltName=DNS:allowed.test,DNS:*.wild.test,DNS:big.test",
			      "-keyout",
			      H.key,
			      "-out",
			      H.cert,
			      NULL};
	int rc = h_run("openssl-req", argv, NULL, 30000, &p);
	if (rc != 0) {
		char *err = h_read_file(p->err);
		cr_assert_fail("openssl req exited %d:\n%s", rc, err);
	}
}

void h_start_s_server(void)
{
	char port[16];

	if (H.s_server)
		return;
	h_make_cert();
	for (int attempt = 0; attempt < 3; attempt++) {
		H.tls_port = h_free_port();
		snprintf(port, sizeof(port), "%d", H.tls_port);
		const char *argv[] = {"openssl", "s_server", "-accept", port,	"-cert",
				      H.cert,	 "-key",     H.key,	"-www", NULL};
		H.s_server = h_spawn("s_server", argv, NULL);
		/* It prints ACCEPT once listening; a stolen port makes it exit instead. */
		uint64_t end = h_now_ms() + 10000;
		while (h_now_ms() < end && h_alive(H.s_server) &&
		       !h_file_wait(H.s_server->out, "ACCEPT", 50))
			;
		if (h_alive(H.s_server) && h_file_wait(H.s_server->out, "ACCEPT", 0))
			return;
		h_stop(H.s_server, SIGKILL, 1000);
	}
	char *err = h_read_file(H.s_server->err);
	cr_assert_fail("openssl s_server did not start:\n%s", err);
}

/* ---- snigate ---- */

struct h_gw h_snigate(int upstream_port, const char *const extra[])
{
	return h_snigate_dns(upstream_port, 0, extra);
}

struct h_gw h_snigate_dns(int upstream_port, int dns_port, const char *const extra[])
{
	const char *bin = getenv("SNIGATE_BIN");
	struct h_gw g = {.upstream_port = upstream_port};
	char listen[64], resolver[64], up[16];

	cr_assert(bin && *bin, "SNIGATE_BIN is not set (meson test sets it)");
	if (!dns_port) {
		h_start_unbound();
		dns_port = H.dns_port;
	}
	snprintf(resolver, sizeof(resolver), "127.0.0.1:%d", dns_port);
	snprintf(up, sizeof(up), "%d", upstream_port);

	for (int attempt = 0; attempt < 3; attempt++) {
		const char *argv[80];
		int n = 0;

		g.port = h_free_port();
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", g.port);
		argv[n++] = bin;
		argv[n++] = "--listen";
		argv[n++] = listen;
		argv[n++] = "--allow";
		argv[n++] = "allowed.test";
		argv[n++] = "--allow";
		argv[n++] = "*.wild.test";
		argv[n++] = "--allow";
		argv[n++] = "nx.test";
		argv[n++] = "--allow";
		argv[n++] = "v6only.test";
		argv[n++] = "--allow";
		argv[n++] = "big.test";
		argv[n++] = "--allow";
		argv[n++] = "multi.test";
		argv[n++] = "--allow";
		argv[n++] = "refused.test";
		argv[n++] = "--resolver";
		argv[n++] = resolver;
		argv[n++] = "--upstream-port";
		argv[n++] = up;
		argv[n++] = "--threads";
		argv[n++] = "2";
		argv[n++] = "--client-hello-timeout";
		argv[n++] = "1s";
		/* The peers listen on loopback, which the upstream policy denies by default. */
		argv[n++] = "--allow-upstream";
		argv[n++] = "127.0.0.0/8";
		argv[n++] = "--allow-upstream";
		argv[n++] = "::1";
		/* Tests run side by side: no fixed admin port, and a short drain at teardown. */
		argv[n++] = "--admin";
		argv[n++] = "127.0.0.1:0";
		argv[n++] = "--control";
		argv[n++] = "127.0.0.1:0";
		argv[n++] = "--drain-timeout";
		argv[n++] = "2s";
		for (int i = 0; extra && extra[i]; i++) {
			cr_assert_lt(n, 78);
			argv[n++] = extra[i];
		}
		argv[n] = NULL;
		g.p = h_spawn("snigate", argv, NULL);
		g.p->gateway = true;

		uint64_t end = h_now_ms() + 15000;
		while (h_now_ms() < end && h_alive(g.p) &&
		       !h_file_wait(g.p->err, "snigate: ready", 50))
			;
		if (h_file_wait(g.p->err, "snigate: ready", 0)) {
			cr_assert(h_alive(g.p), "snigate said ready, then exited");
			record_base(g.p);
			return g;
		}
		if (h_alive(g.p))
			break; /* running but never ready: not a port race */
		if (h_exit_code(g.p) != 1)
			break; /* only a runtime failure (a stolen port) is worth a retry */
	}
	char *err = h_read_file(g.p->err);
	int code = h_alive(g.p) ? -1 : h_exit_code(g.p);
	cr_assert_fail("snigate did not become ready (exit %d):\n%s", code, err);
	return g;
}

static struct h_gw snigate_start(int port, const char *const args[], bool loopback_peers);

struct h_gw h_snigate_args(int port, const char *const args[])
{
	return snigate_start(port, args, true);
}

struct h_gw h_snigate_bare(int port, const char *const args[])
{
	return snigate_start(port, args, false);
}

static struct h_gw snigate_start(int port, const char *const args[], bool loopback_peers)
{
	const char *bin = getenv("SNIGATE_BIN");
	const char *argv[64] = {bin};
	struct h_gw g = {.port = port};
	int n = 1;

	cr_assert(bin && *bin, "SNIGATE_BIN is not set (meson test sets it)");
	/* The same defaults as h_snigate(), before args, which may override them. */
	argv[n++] = "--admin";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--control";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--drain-timeout";
	argv[n++] = "2s";
	/* Loopback peers again; a test's own --allow-upstream adds to this one. */
	if (loopback_peers) {
		argv[n++] = "--allow-upstream";
		argv[n++] = "127.0.0.0/8";
		argv[n++] = "--allow-upstream";
		argv[n++] = "::1";
	}
	for (int i = 0; args[i]; i++) {
		cr_assert_lt(n, 62);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	g.p = h_spawn("snigate", argv, NULL);
	g.p->gateway = true;
	uint64_t end = h_now_ms() + 15000;
	while (h_now_ms() < end && h_alive(g.p) && !h_file_wait(g.p->err, "snigate: ready", 50))
		;
	if (!h_file_wait(g.p->err, "snigate: ready", 0) || !h_alive(g.p)) {
		char *err = h_read_file(g.p->err);
		int code = h_alive(g.p) ? -1 : h_exit_code(g.p);
		cr_assert_fail("snigate did not become ready (exit %d):\n%s", code, err);
	}
	record_base(g.p);
	return g;
}

/* The port of ", <what> ADDR:PORT," in the ready line; 0 when it has none. */
static int ready_port(const struct h_gw *g, const char *what)
{
	const char *err = h_read_file(g->p->err);
	const char *a = strstr(err, "snigate: ready:");
	a = a ? strstr(a, what) : NULL;
	if (!a)
		return 0;
	a += strlen(what);
	const char *colon = strchr(a, ',');
	while (colon && colon > a && colon[-1] != ':')
		colon--;
	return colon ? atoi(colon) : 0;
}

int h_admin_port(const struct h_gw *g)
{
	return ready_port(g, ", admin ");
}

int h_control_port(const struct h_gw *g)
{
	return ready_port(g, ", control ");
}

int h_snigate_stop(struct h_gw *g)
{
	h_stop(g->p, SIGTERM, 10000);
	const char *err = h_read_file(g->p->err);
	const char *rep = sanitizer_report(err);
	cr_assert_null(rep, "snigate's stderr has a sanitizer report:\n%.3000s", rep);
	return h_exit_code(g->p);
}

bool h_json_num(const char *line, const char *key, long long *v)
{
	char pat[80];
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	const char *s = strstr(line, pat);
	if (!s)
		return false;
	s += strlen(pat);
	char *end;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return end != s && !errno;
}

bool h_json_str(const char *line, const char *key, char *out, size_t len)
{
	char pat[80];
	snprintf(pat, sizeof(pat), "\"%s\":\"", key);
	const char *s = strstr(line, pat);
	if (!s)
		return false;
	s += strlen(pat);
	const char *e = strchr(s, '"');
	if (!e || (size_t)(e - s) >= len)
		return false;
	memcpy(out, s, (size_t)(e - s));
	out[e - s] = 0;
	return true;
}

bool h_stats(const struct h_gw *g, const char *key, long long *val)
{
	char *err = read_raw(g->p->err), *last = NULL, *s = err;
	bool ok = false;

	while ((s = strstr(s, "snigate: stats ")) != NULL) {
		last = s;
		s++;
	}
	if (last) {
		char *nl = strchr(last, '\n');
		if (nl)
			*nl = 0;
		ok = h_json_num(last, key, val);
	}
	free(err);
	return ok;
}

static bool line_has_all(const char *line, const char *const needles[])
{
	for (int i = 0; needles[i]; i++)
		if (!strstr(line, needles[i]))
			return false;
	return true;
}

bool h_log_wait(const struct h_gw *g, const char *const needles[], int timeout_ms, char *line,
		size_t len)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		char *log = read_raw(g->p->out), *save = NULL;
		bool found = false;
		for (char *l = strtok_r(log, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			if (line_has_all(l, needles)) {
				if (line)
					snprintf(line, len, "%s", l);
				found = true;
				break;
			}
		}
		free(log);
		if (found)
			return true;
		if (h_now_ms() >= end)
			return false;
		h_sleep_ms(20);
	}
}

int h_log_count(const struct h_gw *g, const char *needle)
{
	char *log = read_raw(g->p->out), *save = NULL;
	int n = 0;

	for (char *l = strtok_r(log, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
		if (!needle || strstr(l, needle))
			n++;
	free(log);
	return n;
}

struct fd_kinds {
	int n, sockets, pipes;
	char kinds[32][48];
	int counts[32], nk;
};

static void count_kind(char *link, void *arg)
{
	struct fd_kinds *k = arg;

	k->n++;
	if (!strncmp(link, "socket:", 7))
		k->sockets++;
	else if (!strncmp(link, "pipe:", 5))
		k->pipes++;
	/* "socket:[123]" and "pipe:[456]" by kind; anon inodes and files as they are. */
	char *br = strchr(link, '[');
	if (br && (!strncmp(link, "socket:", 7) || !strncmp(link, "pipe:", 5)))
		*br = 0;
	int i;
	for (i = 0; i < k->nk && strcmp(k->kinds[i], link); i++)
		;
	if (i == k->nk && k->nk < 32) {
		snprintf(k->kinds[k->nk], sizeof(k->kinds[0]), "%.47s", link);
		k->counts[k->nk++] = 0;
	}
	if (i < k->nk)
		k->counts[i]++;
}

int h_fd_count(pid_t pid, int *sockets, int *pipes)
{
	struct fd_kinds k = {0};

	if (fd_walk(pid, count_kind, &k) < 0)
		return -1;
	if (sockets)
		*sockets = k.sockets;
	if (pipes)
		*pipes = k.pipes;
	return k.n;
}

void h_fd_summary(pid_t pid, char *buf, size_t len)
{
	struct fd_kinds k = {0};

	buf[0] = 0;
	if (fd_walk(pid, count_kind, &k) < 0)
		return;
	for (int i = 0; i < k.nk; i++) {
		size_t l = strlen(buf);
		snprintf(buf + l, len - l, "%s%s x%d", i ? ", " : "", k.kinds[i], k.counts[i]);
	}
}

/* ---- raw clients ---- */

int h_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect to %d: %s", port,
		     strerror(errno));
	return fd;
}

int h_connect6(int port)
{
	struct sockaddr_in6 a = {.sin6_family = AF_INET6,
				 .sin6_port = htons((uint16_t)port),
				 .sin6_addr = IN6ADDR_LOOPBACK_INIT};
	int one = 1;
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0, "connect to [::1]:%d: %s",
		     port, strerror(errno));
	return fd;
}

int h_connect_from(const char *src, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET}, b = {.sin_family = AF_INET};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0, "socket: %s", strerror(errno));
	cr_assert_eq(inet_pton(AF_INET, src, &a.sin_addr), 1, "%s is not an IPv4 address", src);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "bind %s: %s", src,
		     strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	b.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &b.sin_addr);
	cr_assert_eq(connect(fd, (struct sockaddr *)&b, sizeof(b)), 0,
		     "connect from %s to 127.0.0.1:%d: %s", src, port, strerror(errno));
	return fd;
}

int h_curl_from(int port, const char *src, const char *host, char *err, size_t len)
{
	char connect_to[128], url[128], body[300];
	struct h_proc *p;

	h_make_cert();
	snprintf(connect_to, sizeof(connect_to), "%s:443:127.0.0.1:%d", host, port);
	snprintf(url, sizeof(url), "https://%s/", host);
	h_path(body, sizeof(body), "body");
	const char *argv[] = {"curl", "-sS",	      "--max-time", "10",	    "--interface",
			      src,    "--connect-to", connect_to,   "--cacert",	    H.cert,
			      "-o",   body,	      "-w",	    "%{http_code}", url,
			      NULL};
	int rc = h_run("curl", argv, NULL, 20000, &p);
	snprintf(err, len, "%s", h_read_file(p->err));
	return rc ? -rc : atoi(h_read_file(p->out));
}

size_t h_hello(const struct hello_opts *o, uint8_t *buf, size_t cap)
{
	long n = hello_build(o, buf, cap);
	cr_assert_gt(n, 0, "hello_build(sni=%s, size=%zu, records=%u) failed",
		     o->sni ? o->sni : "(none)", o->size, o->records);
	return (size_t)n;
}

void h_send_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		cr_assert_gt(n, 0, "send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

enum h_outcome h_wait(int fd, int timeout_ms, void *buf, size_t len, size_t *got)
{
	uint8_t tmp[4096];
	struct pollfd pf = {.fd = fd, .events = POLLIN};

	if (got)
		*got = 0;
	if (!buf || !len) {
		buf = tmp;
		len = sizeof(tmp);
	}
	int r;
	while ((r = poll(&pf, 1, timeout_ms)) < 0 && errno == EINTR)
		;
	if (r == 0)
		return H_TIMEOUT;
	ssize_t n;
	while ((n = recv(fd, buf, len, MSG_DONTWAIT)) < 0 && errno == EINTR)
		;
	if (n > 0) {
		if (got)
			*got = (size_t)n;
		return H_DATA;
	}
	if (n == 0)
		return H_EOF;
	return errno == ECONNRESET ? H_RESET : H_ERROR;
}

const char *h_outcome_str(enum h_outcome o)
{
	static const char *const s[] = {"reset", "eof", "data", "timeout", "error"};
	return s[o];
}

enum h_outcome h_recv_all(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;

	while (len > 0) {
		uint64_t now = h_now_ms();
		size_t got;
		if (now >= end)
			return H_TIMEOUT;
		enum h_outcome o = h_wait(fd, (int)(end - now), p, len, &got);
		if (o != H_DATA)
			return o;
		p += got;
		len -= got;
	}
	return H_DATA;
}

void h_close_rst(int fd)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};
	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

static bool tcp_closed(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &l) == 0 && ti.tcpi_state == TCP_CLOSE;
}

bool h_wait_peer_reset(int fd, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;

	while (!tcp_closed(fd)) {
		if (h_now_ms() >= end)
			return false;
		h_sleep_ms(5);
	}
	return true;
}

/* ---- streams ---- */

static uint64_t mix(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void h_pattern(uint64_t seed, uint64_t off, uint8_t *buf, size_t len)
{
	uint64_t base = mix(seed) * 0x2545f4914f6cdd1dULL;

	while (len > 0) {
		uint64_t w = mix(base + off / 8);
		unsigned skip = (unsigned)(off % 8);
		size_t k = 8 - skip < len ? 8 - skip : len;
		memcpy(buf, (uint8_t *)&w + skip, k);
		buf += k;
		off += k;
		len -= k;
	}
}

#define FNV_PRIME 0x100000001b3ULL

void h_hash_init(struct h_hash *hs)
{
	memset(hs, 0, sizeof(*hs));
	hs->h = 0xcbf29ce484222325ULL;
}

void h_hash_update(struct h_hash *hs, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t w;

	hs->n += len;
	while (len > 0 && hs->np) {
		hs->part[hs->np++] = *p++;
		len--;
		if (hs->np == 8) {
			memcpy(&w, hs->part, 8);
			hs->h = (hs->h ^ w) * FNV_PRIME;
			hs->np = 0;
		}
	}
	for (; len >= 8; p += 8, len -= 8) {
		memcpy(&w, p, 8);
		hs->h = (hs->h ^ w) * FNV_PRIME;
	}
	memcpy(hs->part, p, len);
	hs->np = (unsigned)len;
}

uint64_t h_hash_final(const struct h_hash *hs)
{
	uint64_t h = hs->h;
	for (unsigned i = 0; i < hs->np; i++)
		h = (h ^ hs->part[i]) * FNV_PRIME;
	return (h ^ hs->n) * FNV_PRIME;
}

/* ---- sink ---- */

struct sink_conn {
	struct h_sink_conn pub;
	struct h_sink *s;
	int fd;	      /* -1 once closed; guarded by s->mu */
	pthread_t th; /* the handler */
	bool has_th;
	atomic_bool done;
};

struct h_sink {
	struct h_sink_opts o;
	int lfd;
	int port;
	pthread_t th;
	atomic_bool stopping;
	atomic_uint accepted;
	pthread_mutex_t mu;
	struct sink_conn *c[SINK_MAX];
};

static void *sink_writer(void *arg)
{
	struct sink_conn *c = arg;
	struct h_sink *s = c->s;
	uint8_t *buf = malloc(SINK_BUF);
	uint64_t off = 0;

	while (buf && off < s->o.send_len) {
		size_t k =
			s->o.send_len - off < SINK_BUF ? (size_t)(s->o.send_len - off) : SINK_BUF;
		h_pattern(s->o.send_seed, off, buf, k);
		h_hash_update(&c->pub.sent_hash, buf, k);
		size_t done = 0;
		while (done < k) {
			ssize_t n = send(c->fd, buf + done, k - done, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				c->pub.werr = n < 0 ? errno : EPIPE;
				goto out;
			}
			done += (size_t)n;
			off += (uint64_t)n;
			c->pub.sent = off;
		}
	}
	shutdown(c->fd, SHUT_WR);
out:
	free(buf);
	return NULL;
}

static void sink_read(struct sink_conn *c, const uint8_t *buf, size_t n, uint8_t *expect)
{
	struct h_sink *s = c->s;
	struct h_sink_conn *pc = &c->pub;
	uint64_t at = pc->received;

	h_hash_update(&pc->hash, buf, n);
	if (pc->cap_len < s->o.capture) {
		size_t k = s->o.capture - pc->cap_len < n ? s->o.capture - pc->cap_len : n;
		memcpy(pc->cap + pc->cap_len, buf, k);
		pc->cap_len += k;
	}
	if (s->o.verify_seed && pc->bad_at < 0 && at + n > s->o.verify_from) {
		size_t skip = at < s->o.verify_from ? (size_t)(s->o.verify_from - at) : 0;
		uint64_t soff = at + skip - s->o.verify_from;
		h_pattern(s->o.verify_seed, soff, expect, n - skip);
		if (memcmp(buf + skip, expect, n - skip)) {
			for (size_t i = skip; i < n; i++) {
				if (buf[i] != expect[i - skip]) {
					pc->bad_at = (int64_t)(at + i);
					break;
				}
			}
		}
	}
	pc->received += n;
}

static void *sink_handler(void *arg)
{
	struct sink_conn *c = arg;
	struct h_sink *s = c->s;
	struct h_sink_conn *pc = &c->pub;
	uint8_t *buf = malloc(SINK_BUF), *expect = malloc(SINK_BUF);
	bool writer = s->o.send_len > 0 && !s->o.send_after_eof;
	bool rst = false;
	pthread_t wt;

	if (!buf || !expect)
		goto out;
	if (s->o.rst_after_send_ms) {
		sink_writer(c);
		h_sleep_ms(s->o.rst_after_send_ms);
		rst = true;
		goto out;
	}
	if (writer && pthread_create(&wt, NULL, sink_writer, c) != 0)
		writer = false;
	for (;;) {
		ssize_t n = recv(c->fd, buf, SINK_BUF, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pc->rerr = errno;
			break;
		}
		if (n == 0) {
			pc->eof = true;
			break;
		}
		sink_read(c, buf, (size_t)n, expect);
		if (s->o.rst_after && pc->received >= s->o.rst_after) {
			rst = true;
			break;
		}
	}
	pc->t_eof = h_now_ms();
	if (s->o.send_after_eof && pc->eof && !rst)
		sink_writer(c);
	if (writer)
		pthread_join(wt, NULL);
	if (s->o.hold_ms && pc->eof && !rst) {
		/* After EOF only the TCP state can tell a later reset from nothing. */
		uint64_t end = h_now_ms() + s->o.hold_ms;
		while (h_now_ms() < end && !atomic_load(&s->stopping)) {
			if (tcp_closed(c->fd)) {
				int e = 0;
				socklen_t el = sizeof(e);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &e, &el);
				pc->late_err = e ? e : ECONNRESET;
				pc->t_late = h_now_ms();
				break;
			}
			h_sleep_ms(5);
		}
	}
out:
	pthread_mutex_lock(&s->mu);
	if (rst)
		h_close_rst(c->fd);
	else
		close(c->fd);
	c->fd = -1;
	pthread_mutex_unlock(&s->mu);
	free(buf);
	free(expect);
	atomic_store(&c->done, true);
	return NULL;
}

static void *sink_accept(void *arg)
{
	struct h_sink *s = arg;

	for (;;) {
		int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL; /* shut down by h_sink_stop() */
		}
		unsigned idx = atomic_load(&s->accepted);
		struct sink_conn *c = calloc(1, sizeof(*c));
		if (atomic_load(&s->stopping) || idx >= SINK_MAX || !c) {
			free(c);
			close(fd);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->s = s;
		c->fd = fd;
		c->pub.bad_at = -1;
		h_hash_init(&c->pub.hash);
		h_hash_init(&c->pub.sent_hash);
		c->pub.cap = s->o.capture ? malloc(s->o.capture) : NULL;
		s->c[idx] = c;
		c->has_th = pthread_create(&c->th, NULL, sink_handler, c) == 0;
		if (!c->has_th) {
			close(fd);
			c->fd = -1;
			atomic_store(&c->done, true);
		}
		/* Publish only a fully set up connection. */
		atomic_store(&s->accepted, idx + 1);
	}
}

struct h_sink *h_sink_start(const struct h_sink_opts *o)
{
	struct h_sink *s = calloc(1, sizeof(*s));
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);

	cr_assert_not_null(s);
	cr_assert_lt(n_sinks, MAX_SINKS);
	s->o = *o;
	pthread_mutex_init(&s->mu, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(s->lfd, 0);
	cr_assert_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(s->lfd, 1024), 0);
	cr_assert_eq(getsockname(s->lfd, (struct sockaddr *)&a, &al), 0);
	s->port = ntohs(a.sin_port);
	cr_assert_eq(pthread_create(&s->th, NULL, sink_accept, s), 0);
	sinks[n_sinks++] = s;
	return s;
}

int h_sink_port(const struct h_sink *s)
{
	return s->port;
}

unsigned h_sink_accepted(const struct h_sink *s)
{
	return atomic_load(&((struct h_sink *)s)->accepted);
}

const struct h_sink_conn *h_sink_wait(struct h_sink *s, unsigned idx, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		if (atomic_load(&s->accepted) > idx && atomic_load(&s->c[idx]->done))
			return &s->c[idx]->pub;
		if (h_now_ms() >= end)
			return NULL;
		h_sleep_ms(5);
	}
}

void h_sink_stop(struct h_sink *s)
{
	if (!s || atomic_exchange(&s->stopping, true))
		return;
	/* shutdown() wakes a blocked accept(); close() alone would not. */
	shutdown(s->lfd, SHUT_RDWR);
	pthread_join(s->th, NULL);
	close(s->lfd);
	unsigned n = atomic_load(&s->accepted);
	for (unsigned i = 0; i < n; i++) {
		struct sink_conn *c = s->c[i];
		pthread_mutex_lock(&s->mu);
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
		pthread_mutex_unlock(&s->mu);
		if (c->has_th)
			pthread_join(c->th, NULL);
		free(c->pub.cap);
		free(c);
	}
}

static void sink_free(struct h_sink *s)
{
	h_sink_stop(s);
	pthread_mutex_destroy(&s->mu);
	free(s);
}
