/* SPDX-License-Identifier: MIT */
/*
 * resolver_bench: what a lookup costs, against a real unbound on loopback.
 *
 *   hit        a name in our cache: resolver_lookup() returns the answer
 *   miss (lu)  not in our cache, in libunbound's: one round through its thread
 *   miss (srv) a cold name: one query to the server on loopback and back
 *   burst      1,000 lookups of one cold name at once: queries sent
 *
 * usage: resolver_bench [HIT_ITERATIONS]   (needs unbound and unbound-control)
 * Built with -Dbench=true (the default); not a test.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "resolver/resolver.h"

#define N_COLD 2000

static pid_t ub_pid;
static char dir[] = "/tmp/snigate-rbench-XXXXXX";
static char conf[160];

static uint64_t ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	bind(u, (struct sockaddr *)&a, sizeof(a));
	getsockname(u, (struct sockaddr *)&a, &l);
	close(u);
	return ntohs(a.sin_port);
}

static long long server_queries(void)
{
	char cmd[256], line[256];
	long long v = -1;
	snprintf(cmd, sizeof(cmd), "unbound-control -c %s stats_noreset 2>/dev/null", conf);
	FILE *p = popen(cmd, "r");
	while (p && fgets(line, sizeof(line), p))
		if (sscanf(line, "total.num.queries=%lld", &v) == 1)
			break;
	if (p)
		pclose(p);
	return v;
}

static int start_once(void)
{
	int port = free_port(), ctl = free_port();
	snprintf(conf, sizeof(conf), "%s/unbound.conf", dir);
	FILE *f = fopen(conf, "w");
	if (!f)
		return -1;
	fprintf(f,
		"server:\n  interface: 127.0.0.1\n  port: %d\n  do-daemonize: no\n  chroot: \"\"\n"
		"  username: \"\"\n  pidfile: \"\"\n  use-syslog: no\n  directory: \"%s\"\n"
		"  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n  module-config: \"iterator\"\n"
		"  verbosity: 0\n  logfile: \"%s/unbound.log\"\n  local-zone: \"bench.\" static\n",
		port, dir, dir);
	for (int i = 0; i < N_COLD; i++)
		fprintf(f, "  local-data: \"n%d.bench. 300 IN A 192.0.2.%d\"\n", i, i % 250 + 1);
	fprintf(f, "  local-data: \"burst.bench. 300 IN A 192.0.2.1\"\n");
	fprintf(f, "  local-data: \"hot.bench. 300 IN A 192.0.2.1\"\n");
	fprintf(f,
		"remote-control:\n  control-enable: yes\n  control-interface: 127.0.0.1\n"
		"  control-port: %d\n  control-use-cert: no\n",
		ctl);
	fclose(f);
	ub_pid = fork();
	if (ub_pid == 0) {
		execlp("unbound", "unbound", "-d", "-c", conf, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		if (server_queries() >= 0)
			return port;
		if (waitpid(ub_pid, NULL, WNOHANG) == ub_pid)
			return -1; /* a port was taken after all */
		usleep(50000);
	}
	return -1;
}

static int start_unbound(void)
{
	if (!mkdtemp(dir))
		return -1;
	for (int attempt = 0; attempt < 5; attempt++) {
		int port = start_once();
		if (port > 0)
			return port;
	}
	return -1;
}

struct res {
	int calls;
	enum resolver_status st;
};

static void cb(void *arg, enum resolver_status st, const struct resolver_answer *ans)
{
	struct res *r = arg;
	(void)ans;
	r->calls++;
	r->st = st;
}

static void wait_calls(struct resolver *r, int *calls, int want)
{
	while (*calls < want) {
		struct pollfd p = {.fd = resolver_fd(r), .events = POLLIN};
		if (poll(&p, 1, 1000) == 1)
			resolver_process(r, ns() / 1000000);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static void report(const char *what, uint64_t *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	printf("%-34s median %7.1f us  p99 %7.1f us  (n=%u)\n", what, v[n / 2] / 1000.0,
	       v[n * 99 / 100] / 1000.0, n);
}

static struct resolver *make(const char *fwd, unsigned cache_size)
{
	const char *f[] = {fwd};
	struct resolver_opts o = {.forwarders = f,
				  .n_forwarders = 1,
				  .cache_size = cache_size,
				  .min_ttl_s = 5,
				  .max_ttl_s = 300,
				  .negative_ttl_s = 5,
				  .error_ttl_s = 2,
				  .stale_s = 300,
				  .prefetch = true,
				  .timeout_ms = 4750};
	struct resolver *r;
	const char *err = NULL;
	if (resolver_new(&r, &o, &err) < 0) {
		fprintf(stderr, "resolver_new: %s\n", err ? err : "?");
		exit(1);
	}
	return r;
}

int main(int argc, char **argv)
{
	long iters = argc > 1 ? atol(argv[1]) : 10000000;
	char fwd[64], name[64];
	static uint64_t lat[N_COLD];
	int port = start_unbound();

	if (port < 0) {
		fprintf(stderr, "unbound did not start\n");
		return 1;
	}
	snprintf(fwd, sizeof(fwd), "127.0.0.1@%d", port);

	/* hit */
	struct resolver *r = make(fwd, 4096);
	struct resolver_wait w = {0};
	struct resolver_answer ans;
	enum resolver_status st;
	struct res rs = {0};
	uint64_t now = ns() / 1000000;
	if (resolver_lookup(r, "hot.bench", 9, now, &w, cb, &rs, &st, &ans) == -EINPROGRESS)
		wait_calls(r, &rs.calls, 1);
	uint64_t t0 = ns();
	long ok = 0;
	for (long i = 0; i < iters; i++)
		ok += resolver_lookup(r, "hot.bench", 9, now, &w, cb, &rs, &st, &ans) == 0;
	uint64_t dt = ns() - t0;
	printf("%-34s %7.1f ns per lookup (%ld lookups, %ld hits)\n", "hit (our cache)",
	       (double)dt / (double)iters, iters, ok);

	/* miss, to the server */
	for (int i = 0; i < N_COLD; i++) {
		struct res one = {0};
		int len = snprintf(name, sizeof(name), "n%d.bench", i);
		t0 = ns();
		if (resolver_lookup(r, name, (size_t)len, ns() / 1000000, &w, cb, &one, &st,
				    &ans) == -EINPROGRESS)
			wait_calls(r, &one.calls, 1);
		lat[i] = ns() - t0;
	}
	report("miss (server on loopback)", lat, N_COLD);
	resolver_free(r);

	/* miss in our cache, hit in libunbound's: a cache of one name, two names in turn */
	r = make(fwd, 1);
	for (int i = 0; i < N_COLD; i++) {
		struct res one = {0};
		const char *nm = (i & 1) ? "n1.bench" : "n0.bench";
		t0 = ns();
		if (resolver_lookup(r, nm, 8, ns() / 1000000, &w, cb, &one, &st, &ans) ==
		    -EINPROGRESS)
			wait_calls(r, &one.calls, 1);
		lat[i] = ns() - t0;
	}
	report("miss (libunbound's cache)", lat + 2, N_COLD - 2);
	resolver_free(r);

	/* burst */
	r = make(fwd, 4096);
	static struct resolver_wait ws[1000];
	struct res br = {0};
	long long q0 = server_queries();
	t0 = ns();
	for (int i = 0; i < 1000; i++)
		if (resolver_lookup(r, "burst.bench", 11, ns() / 1000000, &ws[i], cb, &br, &st,
				    &ans) == 0)
			br.calls++;
	wait_calls(r, &br.calls, 1000);
	dt = ns() - t0;
	printf("%-34s %llu quer%s sent, %lld seen by the server, all answered in %.1f ms\n",
	       "burst (1,000 lookups, cold name)", (unsigned long long)resolver_queries(r),
	       resolver_queries(r) == 1 ? "y" : "ies", server_queries() - q0, dt / 1e6);
	struct resolver_stats s;
	resolver_stats(r, &s);
	printf("%-34s miss %llu, coalesced %llu, hit %llu\n", "", (unsigned long long)s.miss,
	       (unsigned long long)s.coalesced, (unsigned long long)s.hit);
	resolver_free(r);

	fflush(stdout);
	kill(ub_pid, SIGTERM);
	waitpid(ub_pid, NULL, 0);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
