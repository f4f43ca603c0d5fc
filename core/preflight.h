/* SPDX-License-Identifier: MIT */
/*
 * preflight: whether this host can run a gateway with this configuration,
 * found out by trying rather than by guessing. It sets up (and tears down) an
 * io_uring with the flags the workers use, arms a multishot accept on it,
 * binds each listener's and admin address and lets it go, and reads
 * RLIMIT_NOFILE and a few /proc files to say why something failed.
 *
 * Nothing here prints: preflight_run() fills a report of findings, each with
 * the fix in one line, and preflight_print() is the one place they are
 * written (core/main.c calls it for --check and at start).
 *
 * The binding probes leave a gateway already running on the same ports alone:
 * they bind as the listeners do (SO_REUSEADDR | SO_REUSEPORT), never listen,
 * and close at once, so no connection can ever be queued on them.
 */
#ifndef SNIGATE_PREFLIGHT_H
#define SNIGATE_PREFLIGHT_H

#include <stdbool.h>
#include <stddef.h>

#include "conf/conf.h"

/* Kernel versions each io_uring feature the workers use arrived in. */
#define PF_KERNEL_MIN_MAJOR   5 /* COOP_TASKRUN, multishot accept, cancel-all */
#define PF_KERNEL_MIN_MINOR   19
#define PF_KERNEL_DEFER_MAJOR 6 /* SINGLE_ISSUER | DEFER_TASKRUN */
#define PF_KERNEL_DEFER_MINOR 1

/*
 * fds one connection holds at most (core/conn.c): the client socket, one
 * upstream socket at a time, and a pipe (two fds) per direction while bytes
 * sit in it. A connection still waiting for DNS holds one socket, and the
 * resolver's query socket for it stays within the other five.
 */
#define PF_FDS_PER_CONN 6

enum pf_level {
	PF_OK = 0, /* as it should be; said by --check only */
	PF_WARN,   /* runs, but degraded or at risk (fewer fds than the limits need) */
	PF_ERROR,  /* this start would fail here, now: a port cannot be bound */
	PF_FATAL,  /* this host cannot run the gateway at all: io_uring is unusable */
};

struct pf_finding {
	enum pf_level level;
	char topic[96]; /* "kernel", "io_uring", "RLIMIT_NOFILE", "listener 0.0.0.0:443" */
	char msg[512];	/* what was found */
	char fix[512];	/* one line: what to do about it; "" for PF_OK */
};

#define PF_MAX_FINDINGS (CONF_MAX_LISTENERS + 8)

struct pf_kver {
	unsigned major, minor, patch;
};

struct pf_report {
	struct pf_finding f[PF_MAX_FINDINGS];
	unsigned n;
	enum pf_level worst;
	char release[65]; /* uname -r */
	struct pf_kver kernel;
	bool uring_ok;	       /* a ring with the workers' flags (or their fallback) was set up */
	bool defer_taskrun;    /* ... with SINGLE_ISSUER | DEFER_TASKRUN */
	bool multishot_accept; /* a multishot accept stayed armed after its first connection */
	int uring_err;	       /* positive errno of io_uring_setup when !uring_ok */
};

/* Addresses bound besides the listeners: the admin endpoint and the like. */
struct pf_addr {
	const char *field; /* "admin.address": names it in the report */
	const char *addr;  /* "host:port", "[v6]:port", "localhost:port"; others are not probed */
};

struct pf_opts {
	unsigned threads; /* workers the gateway will start; 0: count the CPUs of the affinity mask
			   */
	const struct pf_addr *addrs;
	unsigned n_addrs;
	bool binds; /* probe the listeners and addrs */
	/* per listener: a socket the process was handed (core/sockact.h), not probed; or NULL */
	const int *inherited;
	/* addrs are shared with a takeover's predecessor (admin_share_addresses()) */
	bool share_addrs;
};

/* Runs every check; never fails (what could not be checked is a finding too). */
void preflight_run(const struct conf *c, const struct pf_opts *o, struct pf_report *r);

/*
 * Writes the report. check: every finding, OK ones on stdout, problems on
 * stderr ("snigate: warning: ..." / "snigate: error: ..."), in order. At
 * start (!check): problems only, through core/log, and one info line.
 */
void preflight_print(const struct pf_report *r, bool check);

/* ---- the pure parts, exposed for unit tests ---- */

/* "6.8.0-45-generic" -> 6.8.0; "6.1" -> 6.1.0. 0 or -EINVAL. */
int pf_kver_parse(const char *release, struct pf_kver *v);
bool pf_kver_atleast(const struct pf_kver *v, unsigned major, unsigned minor);

/* What the host says about io_uring: read by pf_uring_env_read(), or made up by tests. */
struct pf_uring_env {
	struct pf_kver kernel;
	int disabled;	    /* kernel.io_uring_disabled: 0, 1, 2; -1 absent (before 6.6) */
	long group;	    /* kernel.io_uring_group; -1 unset or absent */
	bool in_group;	    /* the process is in that group */
	bool cap_sys_admin; /* effective CAP_SYS_ADMIN: io_uring_disabled=1 lets it through */
	int seccomp;	    /* /proc/self/status Seccomp: 0, 1 strict, 2 filter; -1 unknown */
	unsigned long long memlock; /* RLIMIT_MEMLOCK soft, bytes; ~0ULL for unlimited */
};
void pf_uring_env_read(struct pf_uring_env *e);

/*
 * Why call ("io_uring_setup", "io_uring_enter") failed with err (a positive
 * errno) in env e, and the fix, one line each.
 */
void pf_uring_explain(int err, const char *call, const struct pf_uring_env *e, char *why,
		      size_t wlen, char *fix, size_t flen);

/* Why bind() on port failed with err (positive errno), and the fix, one line each. */
void pf_bind_explain(int err, const char *addr, unsigned port, int unpriv_start, bool cap_bind,
		     char *why, size_t wlen, char *fix, size_t flen);

/* The fds a gateway may hold at most: what RLIMIT_NOFILE is compared with. */
struct pf_fd_budget {
	unsigned threads;
	unsigned long long max_conns;  /* connections all threads may hold; 0: no limit */
	unsigned long long per_thread; /* ring, eventfd, listeners, resolver, pooled pipes */
	unsigned long long process;    /* stdio, signal/event fds, admin clients, DNS check */
	unsigned long long fixed;      /* process + threads * per_thread */
	unsigned long long need;       /* fixed + max_conns * PF_FDS_PER_CONN; fixed if no limit */
};
/* n_addrs: admin-like endpoints (each a listener, an eventfd and its clients). */
void pf_fd_budget(const struct conf *c, unsigned threads, unsigned n_addrs, struct pf_fd_budget *b);
/* Connections that fit in nofile fds beside the fixed overhead (0 when none do). */
unsigned long long pf_fd_capacity(const struct pf_fd_budget *b, unsigned long long nofile);

#endif
