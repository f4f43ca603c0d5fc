/* SPDX-License-Identifier: MIT */
/*
 * faultshim: an LD_PRELOAD library that makes the POSIX calls snigate's
 * workers make outside io_uring fail or fall short on purpose, from a seed.
 *
 *   SNIGATE_FAULTS="seed=7,splice_short=0.2,splice_eagain=0.05,splice_eintr=0.02,
 *                   splice_reset=0.001,pipe2=0.01,setpipe=0.2,socket=0.01,setsockopt=0.05"
 *
 *   splice_short   ask the kernel for fewer bytes than snigate asked (1 to len-1)
 *   splice_eagain  -1/EAGAIN, nothing moved
 *   splice_eintr   -1/EINTR, nothing moved
 *   splice_reset   -1/ECONNRESET, nothing moved: the peer reset, as far as
 *                  snigate can tell; its connection must end, and only it
 *   pipe2          -1/ENOMEM or EMFILE (alternately)
 *   setpipe        fcntl(F_SETPIPE_SZ): -1/ENOMEM or EPERM (alternately)
 *   socket         -1/EMFILE
 *   setsockopt     -1/ENOMEM
 *
 * Four faults are left out unless asked for, each one the kernel never gives
 * snigate and snigate does not survive (test/RELIABILITY.md, "Faults on
 * purpose", has what each does when made):
 *   after_fin=1       EAGAIN and EINTR on a socket whose peer has sent its
 *                     FIN. Before the FIN snigate re-arms a one-shot poll,
 *                     which checks readiness as it is armed, so a made-up
 *                     EAGAIN costs a wakeup, as a real one does. After it
 *                     the poll is multishot and posts only on the socket's
 *                     next wakeup, and a made-up EAGAIN brings none: a read
 *                     after a FIN never says EAGAIN (it returns bytes or 0),
 *                     and a write says it only with the send buffer full,
 *                     whose draining wakes the poll.
 *   eintr_on_write=1  EINTR on a splice into a socket. A worker's splice
 *                     should never say EINTR (it is non-blocking, and the
 *                     workers block every signal), but snigate checks for
 *                     it: on a read it passes for EAGAIN and is always
 *                     made; on a write dir_pump tries again (before it did,
 *                     it stopped the pump with bytes in the pipe and no
 *                     poll that would empty it). faults.sh's exact schedule
 *                     asks for it.
 *   fail_linger=1     setsockopt(SO_LINGER) fails: Linux cannot fail it on a
 *                     socket, and snigate does not check it; a reset would
 *                     go out as a FIN, and a cut stream pass for a whole one.
 *   fail_rcvlowat=1   setsockopt(SO_RCVLOWAT) fails: the same, and the mark
 *                     raised for a hello would stay raised for the relay.
 *   strict=0          all four.
 * Every other socket option snigate sets is a hint (TCP_NODELAY) or checked.
 *
 * At exit it writes one line to stderr, "faultshim: result k=v ...", with
 * every call seen and every fault made, for the test to check snigate's
 * counters against.
 */
/*
 * Meson builds with _FILE_OFFSET_BITS=64, under which <fcntl.h> makes fcntl
 * a name for fcntl64: both are defined here, so neither may be renamed.
 */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

/* Faults, in the order their rates are laid out on [0, 1). */
enum fault {
	F_SHORT,
	F_EAGAIN,
	F_EINTR,
	F_RESET,
	F_PIPE2,
	F_SETPIPE,
	F_SOCKET,
	F_SETSOCKOPT,
	F__COUNT,
};

static const char *const fault_key[F__COUNT] = {
	[F_SHORT] = "splice_short", [F_EAGAIN] = "splice_eagain",  [F_EINTR] = "splice_eintr",
	[F_RESET] = "splice_reset", [F_PIPE2] = "pipe2",	   [F_SETPIPE] = "setpipe",
	[F_SOCKET] = "socket",	    [F_SETSOCKOPT] = "setsockopt",
};

/* Calls seen in armed threads. */
enum call {
	C_SPLICE,
	C_PIPE2,
	C_SETPIPE,
	C_SOCKET,
	C_SETSOCKOPT,
	C__COUNT,
};

static const char *const call_key[C__COUNT] = {
	[C_SPLICE] = "splice_calls",	     [C_PIPE2] = "pipe2_calls",
	[C_SETPIPE] = "setpipe_calls",	     [C_SOCKET] = "socket_calls",
	[C_SETSOCKOPT] = "setsockopt_calls",
};

static double rate[F__COUNT];
static uint64_t seed;
static bool after_fin, eintr_on_write, fail_linger, fail_rcvlowat;
static bool enabled;

static atomic_ulong n_fault[F__COUNT];
static atomic_ulong n_call[C__COUNT];
/* EAGAIN or EINTR drawn but not made: after the peer's FIN, EINTR on a write. */
static atomic_ulong n_held_fin, n_held_write;

static ssize_t (*real_splice)(int, loff_t *, int, loff_t *, size_t, unsigned);
static int (*real_pipe2)(int[2], int);
static int (*real_fcntl)(int, int, ...);
static int (*real_fcntl64)(int, int, ...);
static int (*real_socket)(int, int, int);
static int (*real_setsockopt)(int, int, int, const void *, socklen_t);

/* Per thread: 0 undecided, 1 armed, -1 never (not a worker). */
static __thread int armed;
static __thread uint64_t prng;

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* A uniform draw on [0, 1): 53 bits, as a double holds them. */
static double draw(void)
{
	return (double)(splitmix(&prng) >> 11) * (1.0 / 9007199254740992.0);
}

/* Decided at the thread's first splice; its worker number picks its stream. */
static void arm(void)
{
	char name[17] = "";
	char *end;

	if (armed || !enabled)
		return;
	armed = -1;
	if (prctl(PR_GET_NAME, name, 0, 0, 0) < 0 || strncmp(name, "snigate-w", 9) != 0)
		return;
	unsigned long n = strtoul(name + 9, &end, 10);
	if (end == name + 9 || *end)
		return;
	prng = seed * 0x100000001b3ULL ^ (n + 1) * 0x9e3779b97f4a7c15ULL;
	armed = 1;
}

/* One draw; the first fault among those listed whose share of [0, 1) it falls in. */
static int pick(const enum fault *fs, size_t n)
{
	double u = draw(), acc = 0;

	for (size_t i = 0; i < n; i++) {
		acc += rate[fs[i]];
		if (u < acc)
			return (int)fs[i];
	}
	return -1;
}

static bool is_socket(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

/* Whether the peer of socket fd has sent its FIN (or reset): POLLRDHUP is then set. */
static bool peer_fin(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLRDHUP};

	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static void *next(const char *name)
{
	void *f = dlsym(RTLD_NEXT, name);

	if (!f) {
		fprintf(stderr, "faultshim: %s not found: %s\n", name, dlerror());
		abort();
	}
	return f;
}

/*
 * From the constructor, or from the first call when another library's
 * constructor makes one before ours has run.
 */
static void load_symbols(void)
{
	if (real_setsockopt)
		return;
	real_splice = next("splice");
	real_pipe2 = next("pipe2");
	real_fcntl = next("fcntl");
	real_fcntl64 = dlsym(RTLD_NEXT, "fcntl64");
	if (!real_fcntl64)
		real_fcntl64 = real_fcntl;
	real_socket = next("socket");
	real_setsockopt = next("setsockopt");
}

__attribute__((constructor)) static void init(void)
{
	const char *env = getenv("SNIGATE_FAULTS");
	char buf[512];

	load_symbols();
	if (!env || !*env)
		return;
	if (strlen(env) >= sizeof(buf)) {
		fprintf(stderr, "faultshim: SNIGATE_FAULTS too long\n");
		abort();
	}
	strcpy(buf, env);
	for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv;
	     kv = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(kv, '=');
		bool known = false;
		if (!eq) {
			fprintf(stderr, "faultshim: '%s': want key=value\n", kv);
			abort();
		}
		*eq = 0;
		if (!strcmp(kv, "seed")) {
			seed = strtoull(eq + 1, NULL, 0);
			known = true;
		} else if (!strcmp(kv, "strict")) {
			after_fin = eintr_on_write = fail_linger = fail_rcvlowat = !atoi(eq + 1);
			known = true;
		} else if (!strcmp(kv, "after_fin")) {
			after_fin = atoi(eq + 1) != 0;
			known = true;
		} else if (!strcmp(kv, "eintr_on_write")) {
			eintr_on_write = atoi(eq + 1) != 0;
			known = true;
		} else if (!strcmp(kv, "fail_linger")) {
			fail_linger = atoi(eq + 1) != 0;
			known = true;
		} else if (!strcmp(kv, "fail_rcvlowat")) {
			fail_rcvlowat = atoi(eq + 1) != 0;
			known = true;
		}
		for (int f = 0; f < F__COUNT && !known; f++) {
			if (!strcmp(kv, fault_key[f])) {
				rate[f] = strtod(eq + 1, NULL);
				known = true;
			}
		}
		if (!known) {
			/* A misspelt rate would make a schedule that tests nothing. */
			fprintf(stderr, "faultshim: unknown key '%s'\n", kv);
			abort();
		}
	}
	enabled = true;
	fprintf(stderr, "faultshim: seed %llu%s%s%s%s\n", (unsigned long long)seed,
		after_fin ? ", after_fin" : "", eintr_on_write ? ", eintr_on_write" : "",
		fail_linger ? ", fail_linger" : "", fail_rcvlowat ? ", fail_rcvlowat" : "");
}

__attribute__((destructor)) static void report(void)
{
	char line[1024];
	int n;

	if (!enabled)
		return;
	n = snprintf(line, sizeof(line), "faultshim: result seed=%llu", (unsigned long long)seed);
	for (int c = 0; c < C__COUNT; c++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%lu", call_key[c],
			      atomic_load(&n_call[c]));
	for (int f = 0; f < F__COUNT; f++)
		n += snprintf(line + n, sizeof(line) - (size_t)n, " %s=%lu", fault_key[f],
			      atomic_load(&n_fault[f]));
	snprintf(line + n, sizeof(line) - (size_t)n, " held_after_fin=%lu held_on_write=%lu\n",
		 atomic_load(&n_held_fin), atomic_load(&n_held_write));
	/* stdio may be closed by now; one write(2) of the whole line is not interleaved. */
	if (write(2, line, strlen(line)) < 0) {
		/* Nowhere left to say so. */
	}
}

static void count(enum fault f)
{
	atomic_fetch_add_explicit(&n_fault[f], 1, memory_order_relaxed);
}

static void seen(enum call c)
{
	atomic_fetch_add_explicit(&n_call[c], 1, memory_order_relaxed);
}

ssize_t splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len,
	       unsigned int flags)
{
	static const enum fault fs[] = {F_SHORT, F_EAGAIN, F_EINTR, F_RESET};

	load_symbols();
	arm();
	if (armed <= 0)
		return real_splice(fd_in, off_in, fd_out, off_out, len, flags);
	seen(C_SPLICE);
	int f = pick(fs, sizeof(fs) / sizeof(fs[0]));
	if (f == F_EAGAIN || f == F_EINTR) {
		bool rd = is_socket(fd_in); /* socket -> pipe; else pipe -> socket */
		if (f == F_EINTR && !rd && !eintr_on_write) {
			atomic_fetch_add_explicit(&n_held_write, 1, memory_order_relaxed);
			f = -1;
		} else if (!after_fin && peer_fin(rd ? fd_in : fd_out)) {
			atomic_fetch_add_explicit(&n_held_fin, 1, memory_order_relaxed);
			f = -1;
		}
	}
	switch (f) {
	case F_SHORT:
		if (len < 2)
			break;
		count(F_SHORT);
		len = 1 + (size_t)(splitmix(&prng) % (len - 1));
		break;
	case F_EAGAIN:
		count(F_EAGAIN);
		errno = EAGAIN;
		return -1;
	case F_EINTR:
		count(F_EINTR);
		errno = EINTR;
		return -1;
	case F_RESET:
		count(F_RESET);
		errno = ECONNRESET;
		return -1;
	default:
		break;
	}
	return real_splice(fd_in, off_in, fd_out, off_out, len, flags);
}

int pipe2(int fds[2], int flags)
{
	static const enum fault fs[] = {F_PIPE2};

	load_symbols();
	if (armed > 0) {
		seen(C_PIPE2);
		if (pick(fs, 1) == F_PIPE2) {
			/* Both ways a pipe is refused: no memory, and the fd limit. */
			unsigned long k = atomic_fetch_add(&n_fault[F_PIPE2], 1);
			errno = k % 2 ? EMFILE : ENOMEM;
			return -1;
		}
	}
	return real_pipe2(fds, flags);
}

/* F_SETPIPE_SZ only; every other command goes straight through. */
static int fcntl_common(bool is64, int fd, int cmd, void *arg)
{
	static const enum fault fs[] = {F_SETPIPE};

	load_symbols();
	int (*real)(int, int, ...) = is64 ? real_fcntl64 : real_fcntl;
	if (cmd == F_SETPIPE_SZ && armed > 0) {
		seen(C_SETPIPE);
		if (pick(fs, 1) == F_SETPIPE) {
			/* Over the user's pipe memory (EPERM), or no memory for the ring. */
			unsigned long k = atomic_fetch_add(&n_fault[F_SETPIPE], 1);
			errno = k % 2 ? EPERM : ENOMEM;
			return -1;
		}
	}
	return real(fd, cmd, arg);
}

/*
 * The third argument, when there is one, is an int or a pointer; both travel
 * in the same register, so passing on a pointer's worth serves every command.
 */
int fcntl(int fd, int cmd, ...)
{
	va_list ap;

	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(false, fd, cmd, arg);
}

int fcntl64(int fd, int cmd, ...)
{
	va_list ap;

	va_start(ap, cmd);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	return fcntl_common(true, fd, cmd, arg);
}

int socket(int domain, int type, int protocol)
{
	static const enum fault fs[] = {F_SOCKET};

	load_symbols();
	if (armed > 0) {
		seen(C_SOCKET);
		if (pick(fs, 1) == F_SOCKET) {
			count(F_SOCKET);
			errno = EMFILE;
			return -1;
		}
	}
	return real_socket(domain, type, protocol);
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	static const enum fault fs[] = {F_SETSOCKOPT};

	load_symbols();
	if (armed > 0) {
		seen(C_SETSOCKOPT);
		bool spared = level == SOL_SOCKET && ((name == SO_LINGER && !fail_linger) ||
						      (name == SO_RCVLOWAT && !fail_rcvlowat));
		if (pick(fs, 1) == F_SETSOCKOPT && !spared) {
			count(F_SETSOCKOPT);
			errno = ENOMEM;
			return -1;
		}
	}
	return real_setsockopt(fd, level, name, val, len);
}
