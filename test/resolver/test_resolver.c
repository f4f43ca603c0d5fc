/* SPDX-License-Identifier: MIT */
/*
 * resolver against a real unbound server started on a loopback port. The
 * clock is the caller's (resolver_lookup takes now_ms), so TTL expiry is
 * tested by moving it, not by sleeping.
 */
#include <criterion/criterion.h>
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

static pid_t unbound_pid = -1;
static char dir[] = "/tmp/snigate-resolver-XXXXXX";
static char fwd[64];

static int free_udp_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	bind(fd, (struct sockaddr *)&a, sizeof(a));
	getsockname(fd, (struct sockaddr *)&a, &l);
	close(fd);
	return ntohs(a.sin_port);
}

/* A query that answers proves unbound is up; poll it for a few seconds. */
static bool unbound_up(int port)
{
	static const uint8_t q[] = {0x12, 0x34, 1, 0,	0,   1,	  0,   0, 0, 0, 0, 0,
				    1,	  'a',	4, 't', 'e', 's', 't', 0, 0, 1, 0, 1};
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons(port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	bool ok = false;
	for (int i = 0; i < 100 && !ok; i++) {
		uint8_t buf[512];
		sendto(fd, q, sizeof(q), 0, (struct sockaddr *)&a, sizeof(a));
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 50) == 1 && recv(fd, buf, sizeof(buf), 0) > 0)
			ok = true;
	}
	close(fd);
	return ok;
}

static void start_unbound(void)
{
	char path[128];
	int port = free_udp_port();

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/unbound.conf", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fprintf(f,
		"server:\n  interface: 127.0.0.1\n  port: %d\n  do-daemonize: no\n"
		"  chroot: \"\"\n  username: \"\"\n  pidfile: \"\"\n  use-syslog: no\n"
		"  directory: \"%s\"\n  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n"
		"  module-config: \"iterator\"\n  verbosity: 0\n  logfile: \"%s/unbound.log\"\n"
		"  local-zone: \"test.\" static\n"
		"  local-data: \"a.test. 300 IN A 127.0.0.2\"\n"
		"  local-data: \"a.test. 300 IN A 127.0.0.3\"\n"
		"  local-data: \"short.test. 1 IN A 127.0.0.4\"\n"
		"  local-data: \"six.test. 300 IN AAAA ::1\"\n"
		"  local-data: \"both.test. 300 IN A 127.0.0.5\"\n"
		"  local-data: \"both.test. 300 IN AAAA ::2\"\n",
		port, dir, dir);
	fclose(f);
	unbound_pid = fork();
	if (unbound_pid == 0) {
		execlp("unbound", "unbound", "-d", "-c", path, (char *)NULL);
		_exit(127);
	}
	snprintf(fwd, sizeof(fwd), "127.0.0.1@%d", port);
	cr_assert(unbound_up(port), "unbound did not answer on port %d", port);
}

static void stop_unbound(void)
{
	if (unbound_pid > 0) {
		kill(unbound_pid, SIGTERM);
		waitpid(unbound_pid, NULL, 0);
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0) {
		/* a leftover temp dir is not a test failure */
	}
}

TestSuite(resolver, .init = start_unbound, .fini = stop_unbound, .timeout = 30);

struct result {
	int calls;
	enum resolver_status st;
	struct resolver_answer ans;
};

static void cb(void *arg, enum resolver_status st, const struct resolver_answer *ans)
{
	struct result *r = arg;
	r->calls++;
	r->st = st;
	r->ans = *ans;
}

static struct resolver *make(enum resolver_family fam)
{
	const char *f[] = {fwd};
	struct resolver_opts o = {.forwarders = f,
				  .n_forwarders = 1,
				  .family = fam,
				  .cache_size = 64,
				  .max_ttl_s = 3600,
				  .negative_ttl_s = 5};
	struct resolver *r;
	const char *err;
	cr_assert_eq(resolver_new(&r, &o, &err), 0, "resolver_new: %s", err ? err : "?");
	return r;
}

/* Drive the resolver until *calls reaches want or 5 s pass. */
static void drive(struct resolver *r, int *calls, int want, uint64_t now)
{
	for (int i = 0; i < 500 && *calls < want; i++) {
		struct pollfd p = {.fd = resolver_fd(r), .events = POLLIN};
		if (poll(&p, 1, 10) == 1)
			cr_assert_eq(resolver_process(r, now), 0);
	}
}

static int lookup(struct resolver *r, const char *name, uint64_t now, struct resolver_wait *w,
		  struct result *res)
{
	return resolver_lookup(r, name, strlen(name), now, w, cb, res, &res->st, &res->ans);
}

Test(resolver, answers_all_addresses_then_serves_from_cache)
{
	struct resolver *r = make(RESOLVER_V4_ONLY);
	struct resolver_wait w = {0};
	struct result res = {0};

	cr_assert_eq(lookup(r, "a.test", 1000, &w, &res), -EINPROGRESS);
	drive(r, &res.calls, 1, 1000);
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(res.st, RESOLVER_OK);
	cr_assert_eq(res.ans.n, 2);
	cr_assert_eq(res.ans.a[0].family, AF_INET);

	struct result again = {0};
	cr_assert_eq(lookup(r, "a.test", 2000, &w, &again), 0, "second lookup must hit the cache");
	cr_assert_eq(again.st, RESOLVER_OK);
	cr_assert_eq(again.ans.n, 2);
	cr_assert_eq(resolver_queries(r), 1);
	resolver_free(r);
}

Test(resolver, burst_to_one_cold_name_sends_one_query)
{
	struct resolver *r = make(RESOLVER_V4_ONLY);
	static struct resolver_wait w[1000];
	static struct result res[1000];
	int total = 0;

	for (int i = 0; i < 1000; i++)
		cr_assert_eq(lookup(r, "a.test", 1000, &w[i], &res[i]), -EINPROGRESS);
	cr_assert_eq(resolver_queries(r), 1);
	for (int i = 0; i < 500 && total < 1000; i++) {
		struct pollfd p = {.fd = resolver_fd(r), .events = POLLIN};
		if (poll(&p, 1, 10) == 1)
			resolver_process(r, 1000);
		total = 0;
		for (int k = 0; k < 1000; k++)
			total += res[k].calls;
	}
	cr_assert_eq(total, 1000);
	for (int k = 0; k < 1000; k++)
		cr_assert_eq(res[k].st, RESOLVER_OK);
	resolver_free(r);
}

Test(resolver, ttl_expiry_asks_again)
{
	struct resolver *r = make(RESOLVER_V4_ONLY);
	struct resolver_wait w = {0};
	struct result res = {0};

	cr_assert_eq(lookup(r, "short.test", 1000, &w, &res), -EINPROGRESS);
	drive(r, &res.calls, 1, 1000);
	cr_assert_eq(res.st, RESOLVER_OK);
	cr_assert_eq(lookup(r, "short.test", 1500, &w, &res), 0, "within its 1 s TTL");
	cr_assert_eq(lookup(r, "short.test", 2600, &w, &res), -EINPROGRESS, "past its TTL");
	cr_assert_eq(resolver_queries(r), 2);
	drive(r, &res.calls, 2, 2600);
	cr_assert_eq(res.calls, 2);
	resolver_free(r);
}

Test(resolver, nxdomain_is_reported_and_cached_negatively)
{
	struct resolver *r = make(RESOLVER_V4_ONLY);
	struct resolver_wait w = {0};
	struct result res = {0};

	cr_assert_eq(lookup(r, "nx.test", 1000, &w, &res), -EINPROGRESS);
	drive(r, &res.calls, 1, 1000);
	cr_assert_eq(res.st, RESOLVER_NXDOMAIN);
	cr_assert_eq(lookup(r, "nx.test", 3000, &w, &res), 0);
	cr_assert_eq(res.st, RESOLVER_NXDOMAIN);
	cr_assert_eq(lookup(r, "nx.test", 7000, &w, &res), -EINPROGRESS, "negative TTL is 5 s");
	drive(r, &res.calls, 2, 7000);
	resolver_free(r);
}

Test(resolver, families)
{
	struct {
		enum resolver_family fam;
		const char *name;
		enum resolver_status st;
		unsigned n;
		sa_family_t first;
	} cases[] = {
		{RESOLVER_V4_ONLY, "six.test", RESOLVER_NODATA, 0, 0},
		{RESOLVER_V6_ONLY, "six.test", RESOLVER_OK, 1, AF_INET6},
		{RESOLVER_V6_ONLY, "a.test", RESOLVER_NODATA, 0, 0},
		{RESOLVER_V4_PREFERRED, "six.test", RESOLVER_OK, 1, AF_INET6},
		{RESOLVER_V4_PREFERRED, "both.test", RESOLVER_OK, 1, AF_INET},
		{RESOLVER_AUTO, "both.test", RESOLVER_OK, 1, AF_INET6},
		{RESOLVER_AUTO, "a.test", RESOLVER_OK, 2, AF_INET},
		{RESOLVER_ALL, "both.test", RESOLVER_OK, 2, AF_INET},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resolver *r = make(cases[i].fam);
		struct resolver_wait w = {0};
		struct result res = {0};
		cr_assert_eq(lookup(r, cases[i].name, 1000, &w, &res), -EINPROGRESS);
		drive(r, &res.calls, 1, 1000);
		cr_assert_eq(res.calls, 1, "case %zu", i);
		cr_assert_eq(res.st, cases[i].st, "case %zu: %s", i, resolver_status_str(res.st));
		cr_assert_eq(res.ans.n, cases[i].n, "case %zu", i);
		if (cases[i].n)
			cr_assert_eq(res.ans.a[0].family, cases[i].first, "case %zu", i);
		resolver_free(r);
	}
}

Test(resolver, cancelled_waiter_is_not_called)
{
	struct resolver *r = make(RESOLVER_V4_ONLY);
	struct resolver_wait w1 = {0}, w2 = {0};
	struct result r1 = {0}, r2 = {0};

	cr_assert_eq(lookup(r, "a.test", 1000, &w1, &r1), -EINPROGRESS);
	cr_assert_eq(lookup(r, "a.test", 1000, &w2, &r2), -EINPROGRESS);
	resolver_cancel(&w1);
	resolver_cancel(&w1); /* twice is harmless */
	drive(r, &r2.calls, 1, 1000);
	cr_assert_eq(r2.calls, 1);
	cr_assert_eq(r1.calls, 0);
	resolver_free(r);
}

Test(resolver, cache_is_bounded)
{
	const char *f[] = {fwd};
	struct resolver_opts o = {.forwarders = f,
				  .n_forwarders = 1,
				  .cache_size = 2,
				  .max_ttl_s = 3600,
				  .negative_ttl_s = 5};
	struct resolver *r;
	cr_assert_eq(resolver_new(&r, &o, NULL), 0);
	const char *names[] = {"a.test", "both.test", "short.test"};
	for (int i = 0; i < 3; i++) {
		struct resolver_wait w = {0};
		struct result res = {0};
		cr_assert_eq(lookup(r, names[i], 1000, &w, &res), -EINPROGRESS);
		drive(r, &res.calls, 1, 1000);
	}
	struct resolver_wait w = {0};
	struct result res = {0};
	cr_assert_eq(lookup(r, "a.test", 1000, &w, &res), -EINPROGRESS,
		     "the least recently used name was evicted");
	drive(r, &res.calls, 1, 1000);
	resolver_free(r);
}

Test(resolver, bad_forwarder_is_an_error)
{
	const char *f[] = {"not-an-ip"};
	struct resolver_opts o = {.forwarders = f, .n_forwarders = 1, .cache_size = 2};
	struct resolver *r = NULL;
	const char *err = NULL;
	cr_assert_lt(resolver_new(&r, &o, &err), 0);
	cr_assert_not_null(err);
}
