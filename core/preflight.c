/* SPDX-License-Identifier: MIT */
/*
 * preflight: see preflight.h. Every check tries the real thing where it can
 * (io_uring_setup, a multishot accept, bind) and reads /proc only to explain
 * a failure, since the same errno has several causes: EPERM from
 * io_uring_setup is kernel.io_uring_disabled or a seccomp filter or an LSM.
 */
#include "core/preflight.h"

#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/admin.h"
#include "core/log.h"

/* The size of each worker's ring (core/worker.c): ENOMEM must show here, not there. */
#define PF_RING_ENTRIES 4096
#define PF_CQ_ENTRIES	(PF_RING_ENTRIES * 4)

/*
 * fds of one libunbound context: measured idle at an epoll fd, a timerfd and
 * two socketpairs; its own thread adds an event base and up to ten TCP
 * connections to forwarders. Query sockets are counted per connection.
 */
#define PF_RESOLVER_FDS 16
/* core/pipepool.c keeps up to 64 small and 8 large empty pipes per thread. */
#define PF_POOLED_PIPES 72
/* A reload's config read, the access log reopened, /proc reads. */
#define PF_SLACK_FDS 8

#define CAP_BIT_NET_BIND_SERVICE 10
#define CAP_BIT_SYS_ADMIN	 21

#define SECCOMP_FIX                                                                           \
	"run snigate under a seccomp profile that allows io_uring_setup, io_uring_enter and " \
	"io_uring_register: k8s/seccomp/snigate.json (Kubernetes: add the component "         \
	"k8s/components/seccomp-io-uring; docker or podman: --security-opt "                  \
	"seccomp=k8s/seccomp/snigate.json)"

/* ---- pure parts ---- */

int pf_kver_parse(const char *release, struct pf_kver *v)
{
	unsigned n[3] = {0, 0, 0};
	const char *p = release;
	int i;

	for (i = 0; i < 3; i++) {
		if (*p < '0' || *p > '9')
			break;
		unsigned long x = 0;
		while (*p >= '0' && *p <= '9' && x < 100000)
			x = x * 10 + (unsigned long)(*p++ - '0');
		n[i] = (unsigned)x;
		if (*p != '.')
			break;
		p++;
	}
	/* "6.1" is a version, "6" or "6." is not. */
	if (i < 1 || (i == 1 && p[-1] == '.'))
		return -EINVAL;
	v->major = n[0];
	v->minor = n[1];
	v->patch = n[2];
	return 0;
}

bool pf_kver_atleast(const struct pf_kver *v, unsigned major, unsigned minor)
{
	return v->major > major || (v->major == major && v->minor >= minor);
}

static const char *errname(int err)
{
	const char *s = strerrorname_np(err);
	return s ? s : "?";
}

/* A seccomp filter answers EPERM or ENOSYS: the same story either way. */
static void seccomp_explain(int err, const char *call, char *why, size_t wlen, char *fix,
			    size_t flen)
{
	snprintf(why, wlen,
		 "%s fails with %s: a seccomp filter blocks it (this process runs under one; "
		 "newer container runtimes' default profiles do this)",
		 call, errname(err));
	snprintf(fix, flen, "%s", SECCOMP_FIX);
}

void pf_uring_explain(int err, const char *call, const struct pf_uring_env *e, char *why,
		      size_t wlen, char *fix, size_t flen)
{
	const struct pf_kver *k = &e->kernel;

	switch (err) {
	case EPERM:
		if (e->disabled == 2) {
			snprintf(why, wlen,
				 "kernel.io_uring_disabled is 2: io_uring is off for every process "
				 "on this host");
			snprintf(fix, flen,
				 "sysctl -w kernel.io_uring_disabled=0 on the host (or 1 with "
				 "kernel.io_uring_group set to a group snigate runs in); it is "
				 "node-wide, no container setting changes it");
			return;
		}
		if (e->disabled == 1 && !e->cap_sys_admin && !e->in_group) {
			if (e->group < 0)
				snprintf(
					why, wlen,
					"kernel.io_uring_disabled is 1 and kernel.io_uring_group is "
					"unset: only CAP_SYS_ADMIN processes may use io_uring");
			else
				snprintf(why, wlen,
					 "kernel.io_uring_disabled is 1 and this process is not in "
					 "kernel.io_uring_group (gid %ld)",
					 e->group);
			snprintf(fix, flen,
				 "run snigate with the io_uring group as a group (%s), or set "
				 "sysctl kernel.io_uring_disabled=0 on the host",
				 e->group < 0 ? "set kernel.io_uring_group first; Kubernetes: "
						"runAsGroup or supplementalGroups"
					      : "Kubernetes: runAsGroup or supplementalGroups; "
						"systemd: SupplementaryGroups=");
			return;
		}
		if (e->seccomp == 2) {
			seccomp_explain(err, call, why, wlen, fix, flen);
			return;
		}
		snprintf(why, wlen,
			 "%s fails with EPERM, with neither kernel.io_uring_disabled nor a "
			 "seccomp filter in the way: a security module (SELinux, AppArmor) or a "
			 "sandbox refuses it",
			 call);
		snprintf(fix, flen, "allow io_uring to snigate in that policy");
		return;
	case ENOSYS:
		if (e->seccomp == 2) {
			seccomp_explain(err, call, why, wlen, fix, flen);
			return;
		}
		snprintf(why, wlen,
			 "%s fails with ENOSYS and no seccomp filter is in the way: this kernel "
			 "(%u.%u) has no io_uring (built without CONFIG_IO_URING, or a sandbox "
			 "such as gVisor)",
			 call, k->major, k->minor);
		snprintf(fix, flen, "run snigate on a Linux %u.%u or later kernel with io_uring",
			 PF_KERNEL_MIN_MAJOR, PF_KERNEL_MIN_MINOR);
		return;
	case ENOMEM:
		if (e->memlock == ~0ULL)
			snprintf(why, wlen,
				 "io_uring_setup fails with ENOMEM: no memory for a %u-entry ring "
				 "(RLIMIT_MEMLOCK is unlimited: the cgroup's memory limit?)",
				 PF_RING_ENTRIES);
		else
			snprintf(
				why, wlen,
				"io_uring_setup fails with ENOMEM: no memory for a %u-entry ring; "
				"RLIMIT_MEMLOCK is %llu KiB%s",
				PF_RING_ENTRIES, e->memlock / 1024,
				pf_kver_atleast(k, 5, 12)
					? " (this kernel counts rings against the cgroup's memory, "
					  "not it)"
					: ", and kernels before 5.12 count ring memory against it");
		snprintf(
			fix, flen,
			"raise RLIMIT_MEMLOCK (ulimit -l unlimited, systemd LimitMEMLOCK=infinity, "
			"docker --ulimit memlock=-1) and the container's memory limit");
		return;
	case EINVAL:
		snprintf(why, wlen,
			 "io_uring_setup fails with EINVAL for the workers' flags and their "
			 "fallback: this kernel (%u.%u) lacks IORING_SETUP_COOP_TASKRUN (Linux "
			 "%u.%u)",
			 k->major, k->minor, PF_KERNEL_MIN_MAJOR, PF_KERNEL_MIN_MINOR);
		snprintf(fix, flen,
			 "run snigate on Linux %u.%u or later (%u.%u or later for "
			 "DEFER_TASKRUN)",
			 PF_KERNEL_MIN_MAJOR, PF_KERNEL_MIN_MINOR, PF_KERNEL_DEFER_MAJOR,
			 PF_KERNEL_DEFER_MINOR);
		return;
	case EMFILE:
	case ENFILE:
		snprintf(why, wlen, "%s fails with %s: out of file descriptors", call,
			 errname(err));
		snprintf(fix, flen, "raise RLIMIT_NOFILE (ulimit -n, systemd LimitNOFILE=)");
		return;
	default:
		snprintf(why, wlen, "%s fails with %s (%s)", call, errname(err), strerror(err));
		snprintf(fix, flen, "none known; check dmesg and the kernel's io_uring support");
		return;
	}
}

void pf_bind_explain(int err, const char *addr, unsigned port, int unpriv_start, bool cap_bind,
		     char *why, size_t wlen, char *fix, size_t flen)
{
	switch (err) {
	case EACCES:
		if ((int)port < unpriv_start && !cap_bind) {
			snprintf(why, wlen,
				 "port %u is below net.ipv4.ip_unprivileged_port_start (%d) and "
				 "this process lacks CAP_NET_BIND_SERVICE",
				 port, unpriv_start);
			snprintf(fix, flen,
				 "give snigate CAP_NET_BIND_SERVICE (setcap "
				 "cap_net_bind_service=+ep, or systemd AmbientCapabilities=), or "
				 "set net.ipv4.ip_unprivileged_port_start=%u in its network "
				 "namespace (a safe pod sysctl, as k8s/base does), or listen on "
				 "port %d or above",
				 port, unpriv_start);
			return;
		}
		snprintf(why, wlen,
			 "bind refused with EACCES although the port is not privileged here: a "
			 "security module (SELinux port labels, AppArmor) refuses it");
		snprintf(fix, flen, "allow snigate to bind port %u in that policy", port);
		return;
	case EADDRINUSE:
		snprintf(why, wlen,
			 "in use: another socket holds %s (not a SO_REUSEPORT listener of this "
			 "user, such as a running snigate)",
			 addr);
		snprintf(fix, flen,
			 "stop what holds it (find it with: ss -ltnp 'sport = :%u') or choose "
			 "another port",
			 port);
		return;
	case EADDRNOTAVAIL:
		snprintf(why, wlen,
			 "the address is not assigned to any interface in this network namespace");
		snprintf(fix, flen,
			 "listen on an address of this host (ip -brief address), or on 0.0.0.0 / "
			 "[::]");
		return;
	case EAFNOSUPPORT:
		snprintf(why, wlen, "IPv6 is disabled on this host");
		snprintf(fix, flen, "listen on an IPv4 address, or enable IPv6");
		return;
	default:
		snprintf(why, wlen, "bind fails with %s (%s)", errname(err), strerror(err));
		snprintf(fix, flen, "none known; check the address");
		return;
	}
}

void pf_fd_budget(const struct conf *c, unsigned threads, unsigned n_addrs, struct pf_fd_budget *b)
{
	unsigned long long n = threads ? threads : 1, max_live = 0;

	/* Per thread, as core/gateway.c divides the limits. */
	if (c->limits.max_connections)
		max_live = (c->limits.max_connections + n - 1) / n;
	unsigned long long per = c->limits.max_connections_per_thread;
	if (per && (!max_live || per < max_live))
		max_live = per;
	b->threads = (unsigned)n;
	b->max_conns = max_live * n;
	/* ring, stop eventfd, listeners, resolver, pooled pipes, one accepted-then-refused fd */
	b->per_thread = 2 + c->n_listeners + PF_RESOLVER_FDS + 2ULL * PF_POOLED_PIPES + 1;
	/* stdio, signalfd, wake and ready eventfds, inotify, the DNS loop check's resolver */
	b->process = 3 + 4 + PF_RESOLVER_FDS + PF_SLACK_FDS +
		     (unsigned long long)n_addrs * (2 + ADMIN_MAX_CLIENTS);
	b->fixed = b->process + n * b->per_thread;
	b->need = b->fixed + b->max_conns * PF_FDS_PER_CONN;
}

unsigned long long pf_fd_capacity(const struct pf_fd_budget *b, unsigned long long nofile)
{
	return nofile > b->fixed ? (nofile - b->fixed) / PF_FDS_PER_CONN : 0;
}

/* ---- reading the host ---- */

/* One number from a /proc file; false when absent or unreadable. */
static bool read_long(const char *path, long *v)
{
	FILE *f = fopen(path, "re");
	bool ok;

	if (!f)
		return false;
	ok = fscanf(f, "%ld", v) == 1;
	fclose(f);
	return ok;
}

struct status {
	unsigned long long cap_eff;
	int seccomp;
};

static void read_status(struct status *s)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");

	s->cap_eff = 0;
	s->seccomp = -1;
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "CapEff:", 7))
			s->cap_eff = strtoull(line + 7, NULL, 16);
		else if (!strncmp(line, "Seccomp:", 8))
			s->seccomp = atoi(line + 8);
	}
	fclose(f);
}

static bool in_group(gid_t g)
{
	gid_t groups[256];
	int n = getgroups(256, groups);

	if (getegid() == g)
		return true;
	for (int i = 0; i < n; i++)
		if (groups[i] == g)
			return true;
	return false;
}

void pf_uring_env_read(struct pf_uring_env *e)
{
	struct utsname u;
	struct status st;
	struct rlimit rl;
	long v;

	memset(e, 0, sizeof(*e));
	if (uname(&u) == 0)
		pf_kver_parse(u.release, &e->kernel);
	e->disabled = read_long("/proc/sys/kernel/io_uring_disabled", &v) ? (int)v : -1;
	e->group = read_long("/proc/sys/kernel/io_uring_group", &v) ? v : -1;
	e->in_group = e->group >= 0 && in_group((gid_t)e->group);
	read_status(&st);
	e->cap_sys_admin = st.cap_eff >> CAP_BIT_SYS_ADMIN & 1;
	e->seccomp = st.seccomp;
	e->memlock = ~0ULL;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		e->memlock = rl.rlim_cur;
}

/* ---- the report ---- */

static struct pf_finding *add(struct pf_report *r, enum pf_level lvl, const char *topic)
{
	/* The last slot is reused rather than lose the worst level. */
	struct pf_finding *f = &r->f[r->n < PF_MAX_FINDINGS ? r->n++ : PF_MAX_FINDINGS - 1];

	memset(f, 0, sizeof(*f));
	f->level = lvl;
	snprintf(f->topic, sizeof(f->topic), "%s", topic);
	if (lvl > r->worst)
		r->worst = lvl;
	return f;
}

static void kernel_check(struct pf_report *r)
{
	struct utsname u;
	struct pf_finding *f;

	if (uname(&u) < 0 || pf_kver_parse(u.release, &r->kernel) < 0) {
		f = add(r, PF_WARN, "kernel");
		snprintf(f->msg, sizeof(f->msg), "cannot tell the kernel version");
		snprintf(f->fix, sizeof(f->fix), "none needed if io_uring below is ok");
		return;
	}
	snprintf(r->release, sizeof(r->release), "%s", u.release);
	/* io_uring below decides; the version only explains. */
	f = add(r, PF_OK, "kernel");
	snprintf(f->msg, sizeof(f->msg),
		 "Linux %s (%u.%u; snigate needs %u.%u, %u.%u for "
		 "DEFER_TASKRUN)",
		 u.release, r->kernel.major, r->kernel.minor, PF_KERNEL_MIN_MAJOR,
		 PF_KERNEL_MIN_MINOR, PF_KERNEL_DEFER_MAJOR, PF_KERNEL_DEFER_MINOR);
}

/* The workers' ring setup (core/worker.c setup()), fallback included. */
static int ring_setup(struct io_uring *ring, bool *defer)
{
	struct io_uring_params p = {0};
	int rc;

	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE;
	p.cq_entries = PF_CQ_ENTRIES;
	rc = io_uring_queue_init_params(PF_RING_ENTRIES, ring, &p);
	*defer = rc == 0;
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		p.flags = IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE;
		p.cq_entries = PF_CQ_ENTRIES;
		rc = io_uring_queue_init_params(PF_RING_ENTRIES, ring, &p);
	}
	return rc;
}

/*
 * Arm a multishot accept on a listening Unix socket (autobound: an abstract
 * name, no file, no port) and connect to it. A kernel that knows multishot
 * accept completes it with the new fd and IORING_CQE_F_MORE; one that does
 * not fails it with EINVAL. Returns 0 with *ok; -errno when the sockets
 * refused, or when the ring did, and then *ring_err is set (io_uring_enter
 * blocked, say).
 */
static int multishot_probe(struct io_uring *ring, bool *ok, bool *ring_err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	socklen_t len = sizeof(sa_family_t);
	struct __kernel_timespec ts = {.tv_sec = 2};
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	int lfd, cfd = -1, rc;

	*ok = false;
	*ring_err = false;
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return -errno;
	if (bind(lfd, (struct sockaddr *)&sa, len) < 0 || listen(lfd, 4) < 0) {
		rc = -errno;
		goto out;
	}
	len = sizeof(sa);
	if (getsockname(lfd, (struct sockaddr *)&sa, &len) < 0) {
		rc = -errno;
		goto out;
	}
	sqe = io_uring_get_sqe(ring);
	io_uring_prep_multishot_accept(sqe, lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, 1);
	rc = io_uring_submit(ring);
	if (rc < 0) {
		*ring_err = true;
		goto out;
	}
	cfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (cfd < 0 || connect(cfd, (struct sockaddr *)&sa, len) < 0) {
		rc = -errno;
		goto out;
	}
	rc = io_uring_wait_cqe_timeout(ring, &cqe, &ts);
	if (rc < 0) {
		*ring_err = rc != -ETIME;
		goto out;
	}
	*ok = cqe->res >= 0 && (cqe->flags & IORING_CQE_F_MORE);
	if (cqe->res >= 0)
		close(cqe->res);
	io_uring_cqe_seen(ring, cqe);
	rc = 0;
out:
	/* The accept still armed goes with the ring (io_uring_queue_exit cancels it). */
	if (cfd >= 0)
		close(cfd);
	close(lfd);
	return rc;
}

/* The opcodes core/ submits; a kernel lacking one cannot run the workers. */
static const struct {
	int op;
	const char *name;
} needed_ops[] = {
	{IORING_OP_ACCEPT, "ACCEPT"},
	{IORING_OP_CONNECT, "CONNECT"},
	{IORING_OP_CLOSE, "CLOSE"},
	{IORING_OP_POLL_ADD, "POLL_ADD"},
	{IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"},
};

static void uring_check(struct pf_report *r)
{
	struct pf_uring_env env;
	struct io_uring ring;
	struct pf_finding *f;
	bool defer = false, ms = false, ring_err = false;
	char why[384], fix[384];
	int rc;

	pf_uring_env_read(&env);
	rc = ring_setup(&ring, &defer);
	if (rc < 0) {
		r->uring_err = -rc;
		pf_uring_explain(-rc, "io_uring_setup", &env, why, sizeof(why), fix, sizeof(fix));
		f = add(r, PF_FATAL, "io_uring");
		snprintf(f->msg, sizeof(f->msg), "unusable: %s", why);
		snprintf(f->fix, sizeof(f->fix), "%s", fix);
		return;
	}
	rc = multishot_probe(&ring, &ms, &ring_err);
	struct io_uring_probe *probe = rc == 0 ? io_uring_get_probe_ring(&ring) : NULL;
	const char *missing = NULL;
	for (size_t i = 0; probe && i < sizeof(needed_ops) / sizeof(needed_ops[0]); i++)
		if (!io_uring_opcode_supported(probe, needed_ops[i].op))
			missing = needed_ops[i].name;
	io_uring_free_probe(probe);
	io_uring_queue_exit(&ring);

	if (ring_err) {
		/* Set up, but io_uring_enter refused: a filter that knows one call only. */
		r->uring_err = -rc;
		pf_uring_explain(-rc, "io_uring_enter", &env, why, sizeof(why), fix, sizeof(fix));
		f = add(r, PF_FATAL, "io_uring");
		snprintf(f->msg, sizeof(f->msg), "unusable: io_uring_setup works, but %s", why);
		snprintf(f->fix, sizeof(f->fix), "%s", fix);
		return;
	}
	if (rc < 0) {
		/* No Unix socket here: the version is the best there is. */
		ms = pf_kver_atleast(&r->kernel, PF_KERNEL_MIN_MAJOR, PF_KERNEL_MIN_MINOR);
	}
	if (!ms || missing) {
		r->uring_err = EINVAL;
		f = add(r, PF_FATAL, "io_uring");
		if (missing)
			snprintf(f->msg, sizeof(f->msg),
				 "unusable: this kernel's io_uring lacks IORING_OP_%s", missing);
		else
			snprintf(f->msg, sizeof(f->msg),
				 "unusable: no multishot accept (Linux %u.%u), which every "
				 "listener needs",
				 PF_KERNEL_MIN_MAJOR, PF_KERNEL_MIN_MINOR);
		snprintf(f->fix, sizeof(f->fix), "run snigate on Linux %u.%u or later",
			 PF_KERNEL_MIN_MAJOR, PF_KERNEL_MIN_MINOR);
		return;
	}
	r->uring_ok = true;
	r->defer_taskrun = defer;
	r->multishot_accept = true;
	char note[160] = "";
	if (env.disabled == 1)
		snprintf(note, sizeof(note), "; kernel.io_uring_disabled is 1 and this process %s",
			 env.cap_sys_admin ? "has CAP_SYS_ADMIN" : "is in kernel.io_uring_group");
	if (defer) {
		f = add(r, PF_OK, "io_uring");
		snprintf(f->msg, sizeof(f->msg),
			 "ok: a %u-entry ring with SINGLE_ISSUER|DEFER_TASKRUN, as each worker "
			 "sets up; multishot accept works%s",
			 PF_RING_ENTRIES, note);
		return;
	}
	f = add(r, PF_WARN, "io_uring");
	snprintf(f->msg, sizeof(f->msg),
		 "no IORING_SETUP_DEFER_TASKRUN (Linux %u.%u; this is %u.%u): the workers fall "
		 "back to COOP_TASKRUN, where completions run at every kernel entry rather than "
		 "in one batch per wait, so each connection costs more CPU%s",
		 PF_KERNEL_DEFER_MAJOR, PF_KERNEL_DEFER_MINOR, r->kernel.major, r->kernel.minor,
		 note);
	snprintf(f->fix, sizeof(f->fix), "run snigate on Linux %u.%u or later",
		 PF_KERNEL_DEFER_MAJOR, PF_KERNEL_DEFER_MINOR);
}

static unsigned affinity_cpus(void)
{
	cpu_set_t set;

	if (sched_getaffinity(0, sizeof(set), &set) < 0) {
		long k = sysconf(_SC_NPROCESSORS_ONLN);
		return k > 0 ? (unsigned)k : 1;
	}
	int n = CPU_COUNT(&set);
	return n > 0 ? (unsigned)n : 1;
}

static void nofile_check(const struct conf *c, const struct pf_opts *o, struct pf_report *r)
{
	struct pf_fd_budget b;
	struct pf_finding *f;
	struct rlimit rl;
	char lim[160];

	unsigned n_addrs = 0;
	for (unsigned i = 0; i < o->n_addrs; i++)
		n_addrs += o->addrs[i].addr != NULL;
	pf_fd_budget(c, o->threads ? o->threads : affinity_cpus(), n_addrs, &b);
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		f = add(r, PF_WARN, "RLIMIT_NOFILE");
		snprintf(f->msg, sizeof(f->msg), "cannot be read: %s", strerror(errno));
		snprintf(f->fix, sizeof(f->fix), "none known");
		return;
	}
	/* core/gateway.c raises the soft limit to the hard one; an unlimited hard one cannot be. */
	unsigned long long have = rl.rlim_max == RLIM_INFINITY ? rl.rlim_cur : rl.rlim_max;
	if (rl.rlim_cur < rl.rlim_max && rl.rlim_max != RLIM_INFINITY)
		snprintf(lim, sizeof(lim),
			 "%llu (the soft limit %llu, raised to the hard one at "
			 "start)",
			 have, (unsigned long long)rl.rlim_cur);
	else
		snprintf(lim, sizeof(lim), "%llu", have);
	unsigned long long fit = pf_fd_capacity(&b, have);
	const char *then = "past that, accepts fail with EMFILE (each listener retries every 100 "
			   "ms) and connections that cannot get a pipe or upstream socket are "
			   "reset";

	if (b.max_conns && have >= b.need) {
		f = add(r, PF_OK, "RLIMIT_NOFILE");
		snprintf(f->msg, sizeof(f->msg),
			 "%s covers limits.max_connections %llu over %u threads: up to %llu fds "
			 "(%d a connection, %llu fixed)",
			 lim, b.max_conns, b.threads, b.need, PF_FDS_PER_CONN, b.fixed);
		return;
	}
	if (b.max_conns) {
		f = add(r, PF_WARN, "RLIMIT_NOFILE");
		snprintf(f->msg, sizeof(f->msg),
			 "%s is short: limits.max_connections %llu over %u threads needs up to "
			 "%llu fds (%d a connection, %llu fixed); about %llu connections fit, %s",
			 lim, b.max_conns, b.threads, b.need, PF_FDS_PER_CONN, b.fixed, fit, then);
		snprintf(f->fix, sizeof(f->fix),
			 "raise the hard limit to %llu (ulimit -Hn, systemd LimitNOFILE=, docker "
			 "--ulimit nofile=%llu:%llu) or set limits.max_connections to %llu",
			 b.need, b.need, b.need, fit);
		return;
	}
	/* No limit: the fds are the limit. Fewer than this is a gateway for a handful. */
	f = add(r, fit >= 1024 ? PF_OK : PF_WARN, "RLIMIT_NOFILE");
	snprintf(f->msg, sizeof(f->msg),
		 "%s with no limits.max_connections: about %llu connections fit over %u threads "
		 "(%d fds a connection, %llu fixed); %s",
		 lim, fit, b.threads, PF_FDS_PER_CONN, b.fixed, then);
	if (f->level == PF_WARN)
		snprintf(f->fix, sizeof(f->fix),
			 "raise the hard limit (ulimit -Hn, systemd LimitNOFILE=, docker --ulimit "
			 "nofile=N:N) to %llu or more",
			 b.fixed + 1024ULL * PF_FDS_PER_CONN);
}

/* Bind as core/worker.c's listeners (reuseport) or core/admin.c does, then close. */
static int bind_probe(const struct sockaddr_storage *sa, socklen_t len, bool reuseport)
{
	int fd = socket(sa->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1, rc = 0;

	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		if (sa->ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	}
	/* Never listen(): a gateway on this port must not see connections queued here. */
	if (bind(fd, (const struct sockaddr *)sa, len) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static void bind_one(struct pf_report *r, const char *topic, const char *shown,
		     const struct sockaddr_storage *sa, socklen_t len, bool reuseport)
{
	struct pf_finding *f;
	struct status st;
	long start = 1024;
	unsigned port =
		ntohs(sa->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port
						: ((const struct sockaddr_in *)sa)->sin_port);
	int rc = bind_probe(sa, len, reuseport);

	if (rc == 0) {
		f = add(r, PF_OK, topic);
		snprintf(f->msg, sizeof(f->msg), "can be bound");
		return;
	}
	read_status(&st);
	read_long("/proc/sys/net/ipv4/ip_unprivileged_port_start", &start);
	f = add(r, PF_ERROR, topic);
	char why[384];
	pf_bind_explain(-rc, shown, port, (int)start, st.cap_eff >> CAP_BIT_NET_BIND_SERVICE & 1,
			why, sizeof(why), f->fix, sizeof(f->fix));
	snprintf(f->msg, sizeof(f->msg), "cannot be bound (%s): %s", errname(-rc), why);
}

static void binds_check(const struct conf *c, const struct pf_opts *o, struct pf_report *r)
{
	char topic[96], shown[80];

	for (unsigned i = 0; i < c->n_listeners; i++) {
		const struct conf_listener *l = &c->listeners[i];
		snprintf(shown, sizeof(shown), strchr(l->address, ':') ? "[%s]:%u" : "%s:%u",
			 l->address, l->port);
		snprintf(topic, sizeof(topic), "listener %s", shown);
		if (o->inherited && o->inherited[i] >= 0) {
			struct pf_finding *f = add(r, PF_OK, topic);
			snprintf(f->msg, sizeof(f->msg),
				 "a socket from socket activation; not probed");
			continue;
		}
		bind_one(r, topic, shown, &l->sa, l->sa_len, true);
	}
	for (unsigned i = 0; i < o->n_addrs; i++) {
		const struct pf_addr *a = &o->addrs[i];
		struct sockaddr_storage ss;
		socklen_t len;
		if (!a->addr)
			continue;
		snprintf(topic, sizeof(topic), "%s %s", a->field, a->addr);
		if (admin_addr_parse(a->addr, &ss, &len) < 0 || ss.ss_family == AF_UNIX) {
			struct pf_finding *f = add(r, PF_OK, topic);
			snprintf(f->msg, sizeof(f->msg), "a Unix socket; not probed");
			continue;
		}
		bind_one(r, topic, a->addr, &ss, len, o->share_addrs);
	}
}

void preflight_run(const struct conf *c, const struct pf_opts *o, struct pf_report *r)
{
	memset(r, 0, sizeof(*r));
	kernel_check(r);
	uring_check(r);
	nofile_check(c, o, r);
	if (o->binds)
		binds_check(c, o, r);
}

void preflight_print(const struct pf_report *r, bool check)
{
	for (unsigned i = 0; i < r->n; i++) {
		const struct pf_finding *f = &r->f[i];
		if (check) {
			/* Only io_uring fails --check; the rest depends on where it runs. */
			if (f->level == PF_OK)
				printf("snigate: %s: %s\n", f->topic, f->msg);
			else
				fprintf(stderr, "snigate: %s: %s: %s; fix: %s\n",
					f->level == PF_FATAL ? "error" : "warning", f->topic,
					f->msg, f->fix);
			/* One stream read after the other (2>&1) keeps this order. */
			fflush(stdout);
			fflush(stderr);
		} else if (f->level == PF_WARN && !strcmp(f->topic, "RLIMIT_NOFILE")) {
			/* core/gateway.c says it at start, once it has raised the limit. */
			continue;
		} else if (f->level != PF_OK) {
			log_msg(f->level >= PF_ERROR ? CONF_LOG_ERROR : CONF_LOG_WARN,
				"%s: %s; fix: %s", f->topic, f->msg, f->fix);
		}
	}
	if (!check && r->uring_ok)
		log_msg(CONF_LOG_INFO, "Linux %s, io_uring %s, multishot accept", r->release,
			r->defer_taskrun ? "SINGLE_ISSUER|DEFER_TASKRUN" : "COOP_TASKRUN");
}
