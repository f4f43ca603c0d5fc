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
static char conf_path[160];
static char fwd[64];
static int dns_port;

/* A port free for both UDP and TCP: unbound binds both and fails if either is taken. */
static int free_port(void)
{
	for (int tries = 0; tries < 50; tries++) {
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
		socklen_t l = sizeof(a);
		int u = socket(AF_INET, SOCK_DGRAM, 0), t = socket(AF_INET, SOCK_STREAM, 0);
		int ok = bind(u, (struct sockaddr *)&a, sizeof(a)) == 0 &&
			 getsockname(u, (struct sockaddr *)&a, &l) == 0 &&
			 bind(t, (struct sockaddr *)&a, sizeof(a)) == 0;
		close(u);
		close(t);
		if (ok)
			return ntohs(a.sin_port);
	}
	return -1;
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
		if (waitpid(unbound_pid, NULL, WNOHANG) == unbound_pid) {
			unbound_pid = -1;
			break;
		}
	}
	close(fd);
	return ok;
}

static void start_unbound(void)
{
	cr_assert_not_null(mkdtemp(dir));
	snprintf(conf_path, sizeof(conf_path), "%s/unbound.conf", dir);
	for (int attempt = 0; attempt < 5; attempt++) {
		int port = free_port(), ctl = free_port();
		FILE *f = fopen(conf_path, "w");
		cr_assert_not_null(f);
		fprintf(f,
			"server:\n  interface: 127.0.0.1\n  port: %d\n  do-daemonize: no\n"
			"  chroot: \"\"\n  username: \"\"\n  pidfile: \"\"\n  use-syslog: no\n"
			"  directory: \"%s\"\n  do-ip6: no\n  access-control: 127.0.0.0/8 allow\n"
			"  module-config: \"iterator\"\n  verbosity: 0\n  logfile: \"%s/unbound.log\"\n"
			"  local-zone: \"test.\" static\n"
			/* A SOA, as real zones have: it sets the negative TTL (1 s). */
			"  local-data: \"test. 3600 IN SOA ns.test. admin.test. 1 3600 600 86400 1\"\n"
			"  local-data: \"a.test. 300 IN A 127.0.0.2\"\n"
			"  local-data: \"a.test. 300 IN A 127.0.0.3\"\n"
			"  local-data: \"short.test. 1 IN A 127.0.0.4\"\n"
			"  local-data: \"six.test. 300 IN AAAA ::1\"\n"
			"  local-data: \"both.test. 300 IN A 127.0.0.5\"\n"
			"  local-data: \"both.test. 300 IN AAAA ::2\"\n"
			"  local-data: \"ttl.test. 2 IN A 127.0.0.10\"\n"
			"  local-data: \"pre.test. 2 IN A 127.0.0.11\"\n"
			"  local-data: \"stale.test. 2 IN A 127.0.0.12\"\n"
			"  local-zone: \"refused.test.\" refuse\n"
			"remote-control:\n  control-enable: yes\n  control-interface: 127.0.0.1\n"
			"  control-port: %d\n  control-use-cert: no\n",
			port, dir, dir, ctl);
		fclose(f);
		unbound_pid = fork();
		if (unbound_pid == 0) {
			execlp("unbound", "unbound", "-d", "-c", conf_path, (char *)NULL);
			_exit(127);
		}
		dns_port = port;
		snprintf(fwd, sizeof(fwd), "127.0.0.1@%d", port);
		if (unbound_up(port))
			return;
		if (unbound_pid > 0) {
			kill(unbound_pid, SIGKILL);
			waitpid(unbound_pid, NULL, 0);
		}
	}
	cr_assert_fail("unbound did not start");
}

static void kill_unbound(void)
{
	if (unbound_pid > 0) {
		kill(unbound_pid, SIGTERM);
		waitpid(unbound_pid, NULL, 0);
		unbound_pid = -1;
	}
}

static void stop_unbound(void)
{
	kill_unbound();
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0) {
		/* a leftover temp dir is not a test failure */
	}
}

/* unbound-control against the test's server; asserts success. */
static void ubctl(const char *args)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "unbound-control -c %s %s >/dev/null 2>&1", conf_path, args);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}

/* total.num.queries as unbound counts them (without resetting). */
static long long server_queries(void)
{
	char cmd[512], line[256];
	long long v = -1;
	snprintf(cmd, sizeof(cmd), "unbound-control -c %s stats_noreset 2>/dev/null", conf_path);
	FILE *p = popen(cmd, "r");
	cr_assert_not_null(p);
	while (fgets(line, sizeof(line), p))
		if (sscanf(line, "total.num.queries=%lld", &v) == 1)
			break;
	pclose(p);
	cr_assert_geq(v, 0, "no total.num.queries from unbound-control");
	return v;
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

/* ---- cache rules against the real server (the clock is still the test's) ---- */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct resolver *make_opts(struct resolver_opts *o)
{
	static const char *f[1];
	struct resolver *r;
	const char *err = NULL;
	f[0] = fwd;
	if (!o->n_forwarders) {
		o->forwarders = f;
		o->n_forwarders = 1;
	}
	if (!o->cache_size)
		o->cache_size = 64;
	if (!o->max_ttl_s)
		o->max_ttl_s = 3600;
	cr_assert_eq(resolver_new(&r, o, &err), 0, "resolver_new: %s", err ? err : "?");
	return r;
}

/* Like drive(), on the real clock shifted by offset: round deadlines are real. */
static void drive_real(struct resolver *r, int *calls, int want, uint64_t offset, int max_ms)
{
	uint64_t end = mono_ms() + (uint64_t)max_ms;
	while (*calls < want && mono_ms() < end) {
		struct pollfd p = {.fd = resolver_fd(r), .events = POLLIN};
		if (poll(&p, 1, 10) == 1)
			cr_assert_eq(resolver_process(r, mono_ms() + offset), 0);
	}
}

static uint8_t last_octet(const struct result *res)
{
	return res->ans.a[0].addr[3];
}

/*
 * These run on the real clock: libunbound keeps a copy of each answer for its
 * TTL in real time, so a moved clock would only test our half of the cache.
 */
static void sleep_until(uint64_t t)
{
	uint64_t now = mono_ms();
	if (t > now)
		usleep((useconds_t)(t - now) * 1000);
}

Test(resolver, record_changed_on_the_server_is_seen_after_its_ttl_not_before)
{
	struct resolver_opts o = {0};
	struct resolver *r = make_opts(&o);
	struct resolver_wait w = {0};
	struct result res = {0};
	long long q0 = server_queries();
	uint64_t t0 = mono_ms();

	cr_assert_eq(lookup(r, "ttl.test", t0, &w, &res), -EINPROGRESS); /* TTL 2 s */
	drive_real(r, &res.calls, 1, 0, 5000);
	cr_assert_eq(res.st, RESOLVER_OK);
	cr_assert_eq(last_octet(&res), 10);
	ubctl("local_data_remove ttl.test");
	ubctl("local_data 'ttl.test. 2 IN A 127.0.0.20'");

	sleep_until(t0 + 1000);
	cr_assert_eq(lookup(r, "ttl.test", mono_ms(), &w, &res), 0, "still within its 2 s TTL");
	cr_assert_eq(last_octet(&res), 10, "the old address until the TTL runs out");
	/* libunbound counts whole seconds: its copy may live up to a second longer. */
	sleep_until(t0 + 3100);
	cr_assert_eq(lookup(r, "ttl.test", mono_ms(), &w, &res), -EINPROGRESS,
		     "TTL over: ask again");
	drive_real(r, &res.calls, 2, 0, 5000);
	cr_assert_eq(res.calls, 2);
	cr_assert_eq(last_octet(&res), 20, "the new address after the TTL");
	cr_assert_eq(server_queries() - q0, 2, "one query per TTL");
	resolver_free(r);
}

Test(resolver, ttl_floor_and_ceiling)
{
	struct resolver_opts o = {.min_ttl_s = 5, .max_ttl_s = 60};
	struct resolver *r = make_opts(&o);
	struct resolver_wait w = {0};
	struct result res = {0};

	cr_assert_eq(lookup(r, "short.test", 1000, &w, &res), -EINPROGRESS); /* TTL 1 s */
	drive(r, &res.calls, 1, 1000);
	cr_assert_eq(lookup(r, "short.test", 5999, &w, &res), 0, "the 5 s floor holds it");
	cr_assert_eq(lookup(r, "short.test", 6000, &w, &res), -EINPROGRESS);
	drive(r, &res.calls, 2, 6000);
	cr_assert_eq(lookup(r, "a.test", 10000, &w, &res), -EINPROGRESS); /* TTL 300 s */
	drive(r, &res.calls, 3, 10000);
	cr_assert_eq(lookup(r, "a.test", 69999, &w, &res), 0);
	cr_assert_eq(lookup(r, "a.test", 70000, &w, &res), -EINPROGRESS, "the 60 s ceiling");
	drive(r, &res.calls, 4, 70000);
	resolver_free(r);
}

Test(resolver, negative_answer_is_cached_then_the_name_appears)
{
	struct resolver_opts o = {.negative_ttl_s = 1};
	struct resolver *r = make_opts(&o);
	struct resolver_wait w = {0};
	struct result res = {0};
	uint64_t t0 = mono_ms();

	cr_assert_eq(lookup(r, "late.test", t0, &w, &res), -EINPROGRESS);
	drive_real(r, &res.calls, 1, 0, 5000);
	cr_assert_eq(res.st, RESOLVER_NXDOMAIN);
	ubctl("local_data 'late.test. 300 IN A 127.0.0.30'");
	cr_assert_eq(lookup(r, "late.test", mono_ms(), &w, &res), 0);
	cr_assert_eq(res.st, RESOLVER_NXDOMAIN, "NXDOMAIN is remembered for negative_ttl");
	sleep_until(t0 + 2100); /* libunbound's copy counts whole seconds */
	cr_assert_eq(lookup(r, "late.test", mono_ms(), &w, &res), -EINPROGRESS);
	drive_real(r, &res.calls, 2, 0, 5000);
	cr_assert_eq(res.st, RESOLVER_OK, "%s", resolver_status_str(res.st));
	cr_assert_eq(last_octet(&res), 30);
	struct resolver_stats s;
	resolver_stats(r, &s);
	cr_assert_eq(s.nxdomain, 1, "%llu", (unsigned long long)s.nxdomain);
	cr_assert_eq(s.miss, 2, "%llu", (unsigned long long)s.miss);
	cr_assert_eq(s.hit, 1, "%llu", (unsigned long long)s.hit);
	resolver_free(r);
}

Test(resolver, servfail_is_cached_for_error_ttl_not_a_millisecond)
{
	struct resolver_opts o = {.error_ttl_s = 2};
	struct resolver *r = make_opts(&o);
	struct resolver_wait w = {0};
	struct result res = {0};

	cr_assert_eq(lookup(r, "refused.test", 1000, &w, &res), -EINPROGRESS);
	drive(r, &res.calls, 1, 1000);
	cr_assert_eq(res.st, RESOLVER_ERROR);
	cr_assert_eq(lookup(r, "refused.test", 1002, &w, &res), 0);
	cr_assert_eq(lookup(r, "refused.test", 2999, &w, &res), 0);
	cr_assert_eq(res.st, RESOLVER_ERROR);
	cr_assert_eq(resolver_queries(r), 1);
	cr_assert_eq(lookup(r, "refused.test", 3000, &w, &res), -EINPROGRESS);
	drive(r, &res.calls, 2, 3000);
	struct resolver_stats s;
	resolver_stats(r, &s);
	cr_assert_eq(s.servfail, 2);
	resolver_free(r);
}

Test(resolver, stale_answer_is_served_when_the_server_is_stopped)
{
	struct resolver_opts o = {.stale_s = 60, .error_ttl_s = 1, .timeout_ms = 1500};
	struct resolver *r = make_opts(&o);
	struct resolver_wait w = {0};
	struct result res = {0};
	uint64_t t0 = mono_ms();

	cr_assert_eq(lookup(r, "stale.test", t0, &w, &res), -EINPROGRESS); /* TTL 2 s */
	drive_real(r, &res.calls, 1, 0, 5000);
	cr_assert_eq(res.st, RESOLVER_OK);
	cr_assert_eq(last_octet(&res), 12);

	kill_unbound();
	sleep_until(t0 + 3100); /* past its TTL, here and in libunbound (whole seconds) */
	uint64_t t1 = mono_ms();
	cr_assert_eq(lookup(r, "stale.test", t1, &w, &res), -EINPROGRESS,
		     "expired: the first caller waits for the refresh");
	drive_real(r, &res.calls, 2, 0, 5000);
	cr_assert_eq(res.calls, 2, "the failed refresh still answers");
	cr_assert_eq(res.st, RESOLVER_OK, "%s", resolver_status_str(res.st));
	cr_assert_eq(last_octet(&res), 12, "with the last good address");
	cr_log_info("refresh against a stopped server failed after %llu ms",
		    (unsigned long long)(mono_ms() - t1));

	struct result again = {0};
	cr_assert_eq(lookup(r, "stale.test", mono_ms(), &w, &again), 0,
		     "once a refresh failed, the stale answer is served at once");
	cr_assert_eq(again.st, RESOLVER_OK);
	struct resolver_stats s;
	resolver_stats(r, &s);
	cr_assert_eq(s.stale, 2, "both stale answers are counted (%llu)",
		     (unsigned long long)s.stale);
	cr_assert_eq(s.servfail + s.timeout, 1);
	resolver_free(r);
}

/* The same server again, on the same port (its config file is still there). */
static void restart_unbound(void)
{
	for (int attempt = 0; attempt < 3 && unbound_pid < 0; attempt++) {
		unbound_pid = fork();
		if (unbound_pid == 0) {
			execlp("unbound", "unbound", "-d", "-c", conf_path, (char *)NULL);
			_exit(127);
		}
		if (!unbound_up(dns_port)) {
			kill(unbound_pid, SIGKILL);
			waitpid(unbound_pid, NULL, 0);
			unbound_pid = -1;
		}
	}
	cr_assert_gt(unbound_pid, 0, "unbound did not restart on port %d", dns_port);
}

/*
 * libunbound marks a forwarder that stops answering as down and, by default,
 * does not ask it again for 15 minutes however soon it is back (found by the
 * soak: lookups failed long after DNS had restarted). With our settings the
 * round-trip backoff stops at timeout_ms, so 300 ms here marks the server
 * down within a few lookups, and it is asked again within infra-host-ttl.
 */
Test(resolver, lookups_resume_soon_after_a_forwarder_marked_down_is_back)
{
	struct resolver_opts o = {.error_ttl_s = 1, .timeout_ms = 300};
	struct resolver *r = make_opts(&o);
	struct resolver_wait w = {0};
	char name[32];
	unsigned failed = 0;

	kill_unbound();
	/* Distinct names, so that each is a new round against the stopped server. */
	for (int i = 0; i < 8; i++) {
		struct result res = {0};
		snprintf(name, sizeof(name), "down%d.test", i);
		if (lookup(r, name, mono_ms(), &w, &res) == -EINPROGRESS)
			drive_real(r, &res.calls, 1, 0, 3000);
		cr_assert_eq(res.calls, 1);
		failed += res.st != RESOLVER_OK;
	}
	cr_assert_eq(failed, 8, "a stopped server answered");

	restart_unbound();
	uint64_t t0 = mono_ms(), end = t0 + 20000;
	struct result res = {0};
	while (mono_ms() < end) {
		memset(&res, 0, sizeof(res));
		if (lookup(r, "a.test", mono_ms(), &w, &res) == -EINPROGRESS)
			drive_real(r, &res.calls, 1, 0, 3000);
		if (res.st == RESOLVER_OK)
			break;
		usleep(250 * 1000);
	}
	cr_assert_eq(res.st, RESOLVER_OK, "no answer %llu ms after the server came back: %s",
		     (unsigned long long)(mono_ms() - t0), resolver_status_str(res.st));
	cr_log_info("answers resumed %llu ms after the server came back",
		    (unsigned long long)(mono_ms() - t0));
	resolver_free(r);
}

Test(resolver, prefetch_refreshes_a_hot_name_before_it_expires)
{
	struct resolver_opts o = {.prefetch = true, .min_ttl_s = 1};
	struct resolver *r = make_opts(&o);
	struct resolver_wait w = {0};
	struct result res = {0};
	long long q0 = server_queries();
	uint64_t t0 = mono_ms();

	cr_assert_eq(lookup(r, "pre.test", t0, &w, &res), -EINPROGRESS); /* TTL 2 s */
	drive_real(r, &res.calls, 1, 0, 5000);
	ubctl("local_data_remove pre.test");
	ubctl("local_data 'pre.test. 2 IN A 127.0.0.21'");
	cr_assert_eq(lookup(r, "pre.test", mono_ms(), &w, &res), 0);
	cr_assert_eq(resolver_queries(r), 1, "not yet in the last tenth");

	/* A busy name: looked up every 5 ms; not one lookup may wait. */
	uint64_t end = t0 + 6000;
	while (last_octet(&res) != 21 && mono_ms() < end) {
		struct pollfd p = {.fd = resolver_fd(r), .events = POLLIN};
		if (poll(&p, 1, 5) == 1)
			resolver_process(r, mono_ms());
		int rc = lookup(r, "pre.test", mono_ms(), &w, &res);
		cr_assert_eq(rc, 0, "a hot name waited on DNS at +%llu ms",
			     (unsigned long long)(mono_ms() - t0));
	}
	cr_assert_eq(last_octet(&res), 21, "the new address arrived by prefetch");
	struct resolver_stats s;
	resolver_stats(r, &s);
	cr_assert_geq(s.prefetch, 1);
	cr_assert_eq(s.miss, 1, "only the first lookup ever waited");
	cr_log_info("prefetch: %llu background rounds, %lld server queries, new answer at +%llu ms",
		    (unsigned long long)s.prefetch, server_queries() - q0,
		    (unsigned long long)(mono_ms() - t0));
	resolver_free(r);
}

Test(resolver, unanswered_query_times_out)
{
	int bh = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	cr_assert_eq(bind(bh, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(bh, (struct sockaddr *)&a, &al);
	char hole[64];
	snprintf(hole, sizeof(hole), "127.0.0.1@%d", ntohs(a.sin_port));
	const char *f[] = {hole};
	struct resolver_opts o = {.forwarders = f, .n_forwarders = 1, .timeout_ms = 300};
	struct resolver *r = make_opts(&o);
	struct resolver_wait w = {0};
	struct result res = {0};

	uint64_t t0 = mono_ms();
	cr_assert_eq(lookup(r, "a.test", t0, &w, &res), -EINPROGRESS);
	drive_real(r, &res.calls, 1, 0, 5000);
	uint64_t dt = mono_ms() - t0;
	cr_assert_eq(res.calls, 1);
	cr_assert_eq(res.st, RESOLVER_TIMEOUT, "%s", resolver_status_str(res.st));
	cr_assert(dt >= 250 && dt < 2000, "timed out after %llu ms", (unsigned long long)dt);
	cr_assert_eq(lookup(r, "a.test", mono_ms(), &w, &res), 0, "the timeout is remembered");
	cr_assert_eq(res.st, RESOLVER_TIMEOUT);
	struct resolver_stats s;
	resolver_stats(r, &s);
	cr_assert_eq(s.timeout, 1);
	resolver_free(r);
	close(bh);
}

Test(resolver, static_hosts_are_never_asked)
{
	struct resolver_host h = {.name = "pinned.test", .ans = {.n = 2}};
	h.ans.a[0].family = AF_INET;
	memcpy(h.ans.a[0].addr, (uint8_t[]){10, 9, 9, 9}, 4);
	h.ans.a[1].family = AF_INET6;
	h.ans.a[1].addr[15] = 5;
	long long q0 = server_queries();
	enum resolver_family fams[] = {RESOLVER_V4_ONLY, RESOLVER_AUTO, RESOLVER_ALL,
				       RESOLVER_V6_ONLY};
	sa_family_t first[] = {AF_INET, AF_INET6, AF_INET, AF_INET6};
	unsigned n[] = {1, 1, 2, 1};

	for (int i = 0; i < 4; i++) {
		struct resolver_opts o = {.family = fams[i], .hosts = &h, .n_hosts = 1};
		struct resolver *r = make_opts(&o);
		struct resolver_wait w = {0};
		struct result res = {0};
		cr_assert_eq(lookup(r, "pinned.test", 1000, &w, &res), 0);
		cr_assert_eq(res.st, RESOLVER_OK);
		cr_assert_eq(res.ans.n, n[i], "family %d", i);
		cr_assert_eq(res.ans.a[0].family, first[i], "family %d", i);
		cr_assert_eq(resolver_queries(r), 0);
		resolver_free(r);
	}
	cr_assert_eq(server_queries(), q0, "the server never saw pinned.test");
}

Test(resolver, forwarders_over_tcp)
{
	struct resolver_opts o = {.tcp = true};
	struct resolver *r = make_opts(&o);
	struct resolver_wait w = {0};
	struct result res = {0};

	cr_assert_eq(lookup(r, "a.test", 1000, &w, &res), -EINPROGRESS);
	drive(r, &res.calls, 1, 1000);
	cr_assert_eq(res.st, RESOLVER_OK);
	cr_assert_eq(res.ans.n, 2);
	resolver_free(r);
}

Test(resolver, names_in_flight_do_not_block_eviction)
{
	struct resolver_opts o = {.cache_size = 2, .negative_ttl_s = 5};
	struct resolver *r = make_opts(&o);
	const char *names[] = {"a.test", "both.test", "short.test", "ttl.test", "nx.test"};
	struct resolver_wait w[5] = {0};
	struct result res[5] = {0};
	int total = 0;

	for (int i = 0; i < 5; i++)
		cr_assert_eq(lookup(r, names[i], 1000, &w[i], &res[i]), -EINPROGRESS);
	for (int k = 0; k < 500 && total < 5; k++) {
		struct pollfd p = {.fd = resolver_fd(r), .events = POLLIN};
		if (poll(&p, 1, 10) == 1)
			resolver_process(r, 1000);
		total = 0;
		for (int i = 0; i < 5; i++)
			total += res[i].calls;
	}
	cr_assert_eq(total, 5, "every waiter is answered, evicted or not");
	cr_assert_eq(res[4].st, RESOLVER_NXDOMAIN);
	cr_assert_eq(res[0].st, RESOLVER_OK);
	/* Only the two most recent names were kept. */
	struct result again = {0};
	cr_assert_eq(lookup(r, "nx.test", 1000, &w[0], &again), 0);
	cr_assert_eq(lookup(r, "ttl.test", 1000, &w[0], &again), 0);
	cr_assert_eq(lookup(r, "a.test", 1000, &w[0], &again), -EINPROGRESS);
	drive(r, &again.calls, 1, 1000);
	resolver_free(r);
}

Test(resolver, burst_counts_one_query_at_the_server)
{
	struct resolver_opts o = {0};
	struct resolver *r = make_opts(&o);
	static struct resolver_wait w[1000];
	static struct result res[1000];
	long long q0 = server_queries();
	int total = 0;

	for (int i = 0; i < 1000; i++)
		cr_assert_eq(lookup(r, "both.test", 1000, &w[i], &res[i]), -EINPROGRESS);
	for (int i = 0; i < 500 && total < 1000; i++) {
		struct pollfd p = {.fd = resolver_fd(r), .events = POLLIN};
		if (poll(&p, 1, 10) == 1)
			resolver_process(r, 1000);
		total = 0;
		for (int k = 0; k < 1000; k++)
			total += res[k].calls;
	}
	cr_assert_eq(total, 1000);
	cr_assert_eq(server_queries() - q0, 1, "unbound saw one query for 1,000 lookups");
	struct resolver_stats s;
	resolver_stats(r, &s);
	cr_assert_eq(s.miss, 1);
	cr_assert_eq(s.coalesced, 999);
	uint64_t rounds = 0;
	for (int i = 0; i < RESOLVER_LAT_BUCKETS; i++)
		rounds += s.lat[i];
	cr_assert_eq(rounds, 1, "one latency sample per upstream round");
	struct resolver_stats sum = {0};
	resolver_stats_add(&sum, &s);
	resolver_stats_add(&sum, &s);
	cr_assert_eq(sum.coalesced, 1998);
	resolver_free(r);
}
