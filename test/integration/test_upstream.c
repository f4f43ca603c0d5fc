/* SPDX-License-Identifier: MIT */
/*
 * The upstream side of an allowed name, through the real gateway: the
 * address policy (every default-denied range, allow entries, the gateway
 * itself), failover to the next address, the static hosts map, and what a
 * burst of 1,000 connections to one cold name costs the DNS server.
 *
 * These tests run their own unbound, with remote control on, so they can
 * read its query counter; and their own snigate command lines, because the
 * harness's gateways allow loopback upstreams, which is what is under test.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test/integration/harness.h"

#define LOG_MS 5000

static int dns_port;
static char dns_conf[300];

static void dns_start(void)
{
	char text[4096];
	int ctl = h_free_port();

	dns_port = h_free_port();
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
		 "  rrset-roundrobin: no\n"
		 "  local-zone: \"test.\" static\n"
		 "  local-data: \"test. 3600 IN SOA ns.test. admin.test. 1 3600 600 86400 1\"\n"
		 "  local-data: \"lo.test. 300 IN A 127.0.0.1\"\n"
		 "  local-data: \"meta.test. 300 IN A 169.254.169.254\"\n"
		 "  local-data: \"ten.test. 300 IN A 10.1.2.3\"\n"
		 "  local-data: \"six.test. 300 IN AAAA ::1\"\n"
		 "  local-data: \"mapped.test. 300 IN AAAA ::ffff:127.0.0.1\"\n"
		 "  local-data: \"self.test. 300 IN A 127.0.0.1\"\n"
		 /* Nothing listens on 127.0.0.2: refused, then the second address. */
		 "  local-data: \"multi2.test. 300 IN A 127.0.0.2\"\n"
		 "  local-data: \"multi2.test. 300 IN A 127.0.0.1\"\n"
		 "  local-data: \"a.burst.test. 300 IN A 127.0.0.1\"\n"
		 "  local-data: \"b.burst.test. 300 IN A 127.0.0.1\"\n"
		 "remote-control:\n"
		 "  control-enable: yes\n"
		 "  control-interface: 127.0.0.1\n"
		 "  control-port: %d\n"
		 "  control-use-cert: no\n",
		 dns_port, h_dir(), ctl);
	h_write_file(h_path(dns_conf, sizeof(dns_conf), "unbound-up.conf"), text);
	const char *argv[] = {"unbound", "-d", "-c", dns_conf, NULL};
	struct h_proc *p = h_spawn("unbound", argv, NULL);
	uint64_t end = h_now_ms() + 10000;
	while (h_now_ms() < end && h_alive(p)) {
		const char *st[] = {"unbound-control", "-c", dns_conf, "status", NULL};
		if (h_run("unbound-control", st, NULL, 5000, NULL) == 0)
			return;
		h_sleep_ms(50);
	}
	char *err = h_read_file(p->err);
	cr_assert_fail("unbound did not start:\n%s", err);
}

/* total.num.queries: every query unbound received, from any client. */
static long long dns_queries(void)
{
	struct h_proc *p;
	const char *argv[] = {"unbound-control", "-c", dns_conf, "stats_noreset", NULL};
	cr_assert_eq(h_run("unbound-control", argv, NULL, 5000, &p), 0);
	const char *out = h_read_file(p->out);
	const char *s = strstr(out, "total.num.queries=");
	cr_assert_not_null(s, "no total.num.queries in:\n%s", out);
	return atoll(s + strlen("total.num.queries="));
}

static void setup(void)
{
	dns_start();
	h_start_s_server();
}

TestSuite(upstream, .init = setup, .fini = h_teardown, .timeout = 180);

/* Flags of the harness's gateways that keep side-by-side runs apart, if this build has them. */
static bool has_flag(const char *flag)
{
	static char *help;
	if (!help) {
		struct h_proc *p;
		const char *argv[] = {getenv("SNIGATE_BIN"), "--help", NULL};
		h_run("snigate-help", argv, NULL, 5000, &p);
		help = h_read_file(p->out);
	}
	return strstr(help, flag) != NULL;
}

/* snigate on 127.0.0.1:port with args and nothing else of the harness's defaults. */
static struct h_gw gw_start(int port, const char *const args[])
{
	const char *bin = getenv("SNIGATE_BIN");
	const char *argv[64] = {bin};
	char listen[64], resolver[64];
	struct h_gw g = {.port = port};
	int n = 1;

	cr_assert(bin && *bin, "SNIGATE_BIN is not set (meson test sets it)");
	snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
	snprintf(resolver, sizeof(resolver), "127.0.0.1:%d", dns_port);
	argv[n++] = "--listen";
	argv[n++] = listen;
	argv[n++] = "--resolver";
	argv[n++] = resolver;
	argv[n++] = "--client-hello-timeout";
	argv[n++] = "2s";
	if (has_flag("--admin")) {
		argv[n++] = "--admin";
		argv[n++] = "127.0.0.1:0";
		argv[n++] = "--control";
		argv[n++] = "127.0.0.1:0";
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
		cr_assert_fail("snigate did not become ready:\n%s", err);
	}
	return g;
}

static enum h_outcome raw_hello(const struct h_gw *g, const char *sni, int timeout_ms)
{
	uint8_t hello[4096];
	struct hello_opts o = {.sni = sni};
	size_t n = h_hello(&o, hello, sizeof(hello));
	int fd = h_connect(g->port);

	h_send_all(fd, hello, n);
	enum h_outcome r = h_wait(fd, timeout_ms, NULL, 0, NULL);
	close(fd);
	return r;
}

/* The name's access line, which must carry every needle. */
static void expect_line(const struct h_gw *g, const char *sni, const char *reason,
			const char *upstream)
{
	char s[96], r[96], u[96], line[1024];
	const char *needles[4] = {s, NULL, NULL, NULL};
	unsigned k = 1;

	snprintf(s, sizeof(s), "\"sni\":\"%s\"", sni);
	snprintf(r, sizeof(r), "\"reason\":\"%s\"", reason ? reason : "");
	snprintf(u, sizeof(u), "\"upstream\":\"%s\"", upstream ? upstream : "");
	if (reason)
		needles[k++] = r;
	if (upstream)
		needles[k++] = u;
	if (!h_log_wait(g, needles, LOG_MS, line, sizeof(line))) {
		char *out = h_read_file(g->p->out);
		cr_assert_fail("no access line with %s %s %s in:\n%s", s, reason ? r : "",
			       upstream ? u : "", out);
	}
}

static long long stat_of(const struct h_gw *g, const char *key)
{
	long long v = -1;
	cr_assert(h_stats(g, key, &v), "no %s in the stats line", key);
	return v;
}

/* ---- the address policy ---- */

static const struct {
	const char *name;
	const char *addr; /* as the access log writes it, without the port */
} denied[] = {
	{"lo.test", "127.0.0.1"}, {"meta.test", "169.254.169.254"},	 {"ten.test", "10.1.2.3"},
	{"six.test", "[::1]"},	  {"mapped.test", "[::ffff:127.0.0.1]"},
};
#define N_DENIED (sizeof(denied) / sizeof(denied[0]))

Test(upstream, every_default_denied_range_is_reset_and_counted)
{
	char up[16], where[96];
	snprintf(up, sizeof(up), "%d", H.tls_port);
	/* AUTO: AAAA first, A when there is none, so one gateway sees both families. */
	const char *args[] = {"--allow",
			      "lo.test",
			      "--allow",
			      "meta.test",
			      "--allow",
			      "ten.test",
			      "--allow",
			      "six.test",
			      "--allow",
			      "mapped.test",
			      "--upstream-port",
			      up,
			      "--lookup-family",
			      "AUTO",
			      "--threads",
			      "1",
			      NULL};
	struct h_gw g = gw_start(h_free_port(), args);

	for (size_t i = 0; i < N_DENIED; i++) {
		uint64_t t0 = h_now_ms();
		enum h_outcome r = raw_hello(&g, denied[i].name, 5000);
		cr_assert_eq(r, H_RESET, "%s (%s): %s", denied[i].name, denied[i].addr,
			     h_outcome_str(r));
		cr_assert_lt(h_now_ms() - t0, 2000, "%s: the reset must not wait for a connect",
			     denied[i].name);
		snprintf(where, sizeof(where), "%s:%d", denied[i].addr, H.tls_port);
		expect_line(&g, denied[i].name, "upstream_denied", where);
	}
	cr_assert_eq(h_snigate_stop(&g), 0);
	cr_assert_eq(stat_of(&g, "upstream_denied"), (long long)N_DENIED);
	cr_assert_eq(stat_of(&g, "relayed"), 0, "nothing was connected upstream");
	const char *err = h_read_file(g.p->err);
	/* The first denial is written out; the next ones in that second are counted. */
	cr_assert(strstr(err, "upstream denied: lo.test resolved to 127.0.0.1"),
		  "the denial names the name and the address:\n%s", err);
}

Test(upstream, an_allow_entry_lifts_only_its_own_range)
{
	char up[16];
	snprintf(up, sizeof(up), "%d", H.tls_port);
	const char *args[] = {"--allow",
			      "lo.test",
			      "--allow",
			      "meta.test",
			      "--allow",
			      "ten.test",
			      "--allow",
			      "six.test",
			      "--allow",
			      "mapped.test",
			      "--upstream-port",
			      up,
			      "--lookup-family",
			      "AUTO",
			      "--threads",
			      "1",
			      "--allow-upstream",
			      "127.0.0.0/8",
			      NULL};
	struct h_gw g = gw_start(h_free_port(), args);

	enum h_outcome r = raw_hello(&g, "lo.test", 5000);
	cr_assert_eq(r, H_DATA, "127.0.0.1 is allowed by 127.0.0.0/8: %s", h_outcome_str(r));
	r = raw_hello(&g, "mapped.test", 5000);
	cr_assert_eq(r, H_DATA, "::ffff:127.0.0.1 is 127.0.0.1: %s", h_outcome_str(r));
	for (size_t i = 1; i < N_DENIED - 1; i++) {
		r = raw_hello(&g, denied[i].name, 5000);
		cr_assert_eq(r, H_RESET, "%s stays denied: %s", denied[i].name, h_outcome_str(r));
		expect_line(&g, denied[i].name, "upstream_denied", NULL);
	}
	cr_assert_eq(h_snigate_stop(&g), 0);
	cr_assert_eq(stat_of(&g, "upstream_denied"), 3, "169.254.169.254, 10.1.2.3 and ::1");

	/* Each range comes back only with its own entry. */
	const char *args2[] = {"--allow",
			       "meta.test",
			       "--allow",
			       "six.test",
			       "--allow",
			       "ten.test",
			       "--upstream-port",
			       up,
			       "--lookup-family",
			       "AUTO",
			       "--allow-upstream",
			       "169.254.0.0/16",
			       "--allow-upstream",
			       "::1",
			       "--allow-upstream",
			       "10.0.0.0/8",
			       NULL};
	g = gw_start(h_free_port(), args2);
	/* Nothing answers at the first and third; what matters is that the policy let them try. */
	raw_hello(&g, "meta.test", 1000);
	raw_hello(&g, "ten.test", 1000);
	r = raw_hello(&g, "six.test", 5000);
	cr_assert_neq(r, H_TIMEOUT, "six.test: %s", h_outcome_str(r));
	cr_assert_eq(h_snigate_stop(&g), 0);
	cr_assert_eq(stat_of(&g, "upstream_denied"), 0, "all three ranges were allowed again");
}

Test(upstream, the_gateway_never_dials_itself)
{
	int port = h_free_port();
	char up[16];
	snprintf(up, sizeof(up), "%d", port);
	/* Everything allowed, and self.test's answer is the gateway's own address and port. */
	const char *args[] = {"--allow",
			      "self.test",
			      "--upstream-port",
			      up,
			      "--allow-upstream",
			      "0.0.0.0/0",
			      "--allow-upstream",
			      "::/0",
			      NULL};
	struct h_gw g = gw_start(port, args);

	/* The startup check says so before any client comes. */
	cr_assert(h_file_wait(g.p->err, "DNS LOOP", 5000), "no loop warning:\n%s",
		  h_read_file(g.p->err));
	enum h_outcome r = raw_hello(&g, "self.test", 5000);
	cr_assert_eq(r, H_RESET, "%s", h_outcome_str(r));
	char where[64];
	snprintf(where, sizeof(where), "127.0.0.1:%d", port);
	expect_line(&g, "self.test", "upstream_denied", where);
	cr_assert_eq(h_snigate_stop(&g), 0);
	cr_assert_eq(stat_of(&g, "upstream_denied"), 1);
	cr_assert_eq(stat_of(&g, "accepted"), 1, "it did not connect to itself");
	const char *err = h_read_file(g.p->err);
	cr_assert(strstr(err, "own listener"), "%s", err);
}

Test(upstream, no_loop_warning_for_a_correct_resolver)
{
	char up[16];
	snprintf(up, sizeof(up), "%d", H.tls_port);
	const char *args[] = {"--allow", "lo.test", "--upstream-port", up, NULL};
	struct h_gw g = gw_start(h_free_port(), args);
	h_sleep_ms(500);
	cr_assert_eq(h_snigate_stop(&g), 0);
	cr_assert_null(strstr(h_read_file(g.p->err), "DNS LOOP"), "%s", h_read_file(g.p->err));
}

Test(upstream, bad_allow_upstream_is_refused_at_start)
{
	struct h_proc *p;
	const char *argv[] = {getenv("SNIGATE_BIN"), "--check",	   "--listen",
			      "127.0.0.1:8443",	     "--allow",	   "lo.test",
			      "--allow-upstream",    "10.1.2.3/8", NULL};
	cr_assert_eq(h_run("snigate", argv, NULL, 10000, &p), 2);
	const char *err = h_read_file(p->err);
	cr_assert(strstr(err, "--allow-upstream 10.1.2.3/8: has bits set past the prefix length"),
		  "%s", err);
	cr_assert(has_flag("--allow-upstream CIDR"), "--help lists the flag");
}

/* ---- addresses in order ---- */

Test(upstream, a_refused_first_address_fails_over_to_the_second)
{
	/* The sink listens on 127.0.0.1 only (s_server takes every loopback address). */
	struct h_sink_opts so = {.send_len = 16, .send_seed = 3};
	struct h_sink *sink = h_sink_start(&so);
	char up[16], where[64];
	snprintf(up, sizeof(up), "%d", h_sink_port(sink));
	const char *args[] = {"--allow", "multi2.test",	     "--upstream-port",
			      up,	 "--allow-upstream", "127.0.0.0/8",
			      NULL};
	struct h_gw g = gw_start(h_free_port(), args);

	enum h_outcome r = raw_hello(&g, "multi2.test", 5000);
	cr_assert_eq(r, H_DATA, "127.0.0.2 refuses, 127.0.0.1 answers: %s", h_outcome_str(r));
	snprintf(where, sizeof(where), "127.0.0.1:%d", h_sink_port(sink));
	cr_assert_eq(h_snigate_stop(&g), 0);
	/* The client closed without reading: the reason is its reset, not the failover. */
	expect_line(&g, "multi2.test", NULL, where);
	cr_assert_eq(h_sink_accepted(sink), 1);
}

/* ---- the static map ---- */

Test(upstream, static_hosts_bypass_dns)
{
	char conf[300], text[1024];
	int port = h_free_port();

	snprintf(text, sizeof(text),
		 "listeners:\n"
		 "  - address: 127.0.0.1:%d\n"
		 "    upstream_port: %d\n"
		 "allow:\n"
		 "  - pinned.test\n"
		 "resolver:\n"
		 "  forwarders: [\"127.0.0.1:%d\"]\n"
		 "  hosts:\n"
		 "    pinned.test: [127.0.0.1]\n"
		 "upstream:\n"
		 "  allow: [127.0.0.0/8]\n",
		 port, H.tls_port, dns_port);
	h_write_file(h_path(conf, sizeof(conf), "hosts.yaml"), text);
	const char *args[] = {"-c", conf, NULL};
	const char *bin = getenv("SNIGATE_BIN");
	const char *argv[8] = {bin, "-c", conf, NULL};
	(void)args;
	if (has_flag("--admin")) {
		argv[3] = "--admin";
		argv[4] = "127.0.0.1:0";
		argv[5] = "--control";
		argv[6] = "127.0.0.1:0";
	}
	struct h_gw g = {.port = port, .p = h_spawn("snigate", argv, NULL)};
	g.p->gateway = true;
	cr_assert(h_file_wait(g.p->err, "snigate: ready", 15000), "%s", h_read_file(g.p->err));
	h_sleep_ms(300); /* the startup loop check asks the server about pinned.test once */
	long long q0 = dns_queries();

	for (int i = 0; i < 3; i++) {
		enum h_outcome r = raw_hello(&g, "pinned.test", 5000);
		cr_assert_eq(r, H_DATA, "pinned.test is not in DNS, only in the map: %s",
			     h_outcome_str(r));
	}
	cr_assert_eq(dns_queries(), q0, "the map was used, not the server");
	cr_assert_eq(h_snigate_stop(&g), 0);
	cr_assert_eq(stat_of(&g, "dns_queries"), 0);
}

/* ---- a burst to one cold name ---- */

/* n connections at once, each sending a hello for sni; returns when all have ended. */
static void burst(const struct h_gw *g, const char *sni, int n)
{
	uint8_t hello[4096];
	struct hello_opts o = {.sni = sni};
	size_t len = h_hello(&o, hello, sizeof(hello));
	int *fds = calloc((size_t)n, sizeof(*fds));

	for (int i = 0; i < n; i++)
		fds[i] = h_connect(g->port);
	for (int i = 0; i < n; i++)
		h_send_all(fds[i], hello, len);
	for (int i = 0; i < n; i++) {
		enum h_outcome r = h_wait(fds[i], 10000, NULL, 0, NULL);
		cr_assert(r == H_RESET || r == H_EOF, "connection %d: %s", i, h_outcome_str(r));
		close(fds[i]);
	}
	free(fds);
}

Test(upstream, a_thousand_connections_to_a_cold_name_cost_one_query_per_thread)
{
	struct rlimit rl;
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
	cr_assert_geq(rl.rlim_cur, 2200, "RLIMIT_NOFILE %llu is too low for 1,000 clients",
		      (unsigned long long)rl.rlim_cur);

	/* Nothing listens on port 1: each connection ends with a quick refusal. */
	for (int threads = 1; threads <= 2; threads++) {
		char t[4];
		const char *name = threads == 1 ? "a.burst.test" : "b.burst.test";
		snprintf(t, sizeof(t), "%d", threads);
		/* A wildcard, so the startup check has no exact name to ask about. */
		const char *args[] = {
			"--allow",	    "*.burst.test", "--upstream-port", "1", "--threads", t,
			"--allow-upstream", "127.0.0.0/8",  "--no-access-log", NULL};
		struct h_gw g = gw_start(h_free_port(), args);
		long long q0 = dns_queries();
		uint64_t t0 = h_now_ms();
		burst(&g, name, 1000);
		long long q = dns_queries() - q0;
		cr_log_info("1,000 connections to cold %s, %d thread(s): %lld query(ies) at the "
			    "server, %llu ms",
			    name, threads, q, (unsigned long long)(h_now_ms() - t0));
		cr_assert_eq(h_snigate_stop(&g), 0);
		cr_assert_eq(stat_of(&g, "accepted"), 1000);
		cr_assert_geq(q, 1);
		cr_assert_leq(q, threads, "at most one query per thread, got %lld", q);
		cr_assert_eq(stat_of(&g, "dns_queries"), q);
	}
}
