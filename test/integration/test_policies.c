/* SPDX-License-Identifier: MIT */
/*
 * Policies per workload, with real clients: curl from two loopback source
 * addresses (127.0.0.2 and 127.0.0.3, which Linux routes to lo without any
 * set-up), and curl through HTTP CONNECT as two proxy users. The first
 * policy that matches decides; one that none matches is a reset with
 * reason no_policy; the access line names the policy and the user.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <time.h>

#include <criterion/criterion.h>

#include "test/integration/harness.h"

static void setup(void)
{
	h_start_unbound();
	h_start_s_server();
}

TestSuite(policies, .init = setup, .fini = h_teardown, .timeout = 120);

/* alice:s3cret and bob:hunter2, as `printf %s alice:s3cret | sha256sum` gives them. */
#define ALICE_HASH "1fe25d9a2d615222be6f64cccdf98ccb67023a1b492f090876ad1bf896833f04"
#define BOB_HASH   "d1821c3f59d1c8bf4047bc688d2f23d25eb1161ffd863fe9e6993724e582395b"

/* The test's config: one listener "main" on port, with body (policies, top-level allow). */
static void write_conf(int port, const char *body)
{
	char conf[256], text[4096];

	h_path(conf, sizeof(conf), "policies.yaml");
	snprintf(text, sizeof(text),
		 "listeners:\n"
		 "  - name: main\n"
		 "    address: 127.0.0.1:%d\n"
		 "    upstream_port: %d\n"
		 "    connect_ports: [%d]\n"
		 "%s"
		 "resolver:\n"
		 "  forwarders: [\"127.0.0.1:%d\"]\n"
		 "upstream:\n"
		 "  allow: [127.0.0.0/8]\n"
		 "timeouts: {client_hello: 2s, connect: 2s}\n",
		 port, H.tls_port, H.tls_port, body, H.dns_port);
	h_write_file(conf, text);
}

static struct h_gw start(const char *body)
{
	char conf[256];
	int port = h_free_port();

	write_conf(port, body);
	h_path(conf, sizeof(conf), "policies.yaml");
	const char *args[] = {"-c", conf, "--threads", "2", NULL};
	return h_snigate_args(port, args);
}

/* curl as user through the gateway's HTTP CONNECT to host; the HTTP code or -exit. */
static int curl_as(const struct h_gw *g, const char *userinfo, const char *host, char *err,
		   size_t len)
{
	char proxy[160], url[128], body[300];
	struct h_proc *p;

	h_make_cert();
	snprintf(proxy, sizeof(proxy), "http://%s@127.0.0.1:%d", userinfo, g->port);
	snprintf(url, sizeof(url), "https://%s:%d/", host, H.tls_port);
	h_path(body, sizeof(body), "body");
	const char *argv[] = {"curl", "-sS", "--max-time", "10", "-x",		 proxy, "--cacert",
			      H.cert, "-o",  body,	   "-w", "%{http_code}", url,	NULL};
	int rc = h_run("curl", argv, NULL, 20000, &p);
	snprintf(err, len, "%s", h_read_file(p->err));
	return rc ? -rc : atoi(h_read_file(p->out));
}

/* GET path from the control endpoint, with curl: the body. */
static char *control_get(const struct h_gw *g, const char *path)
{
	char url[256];
	struct h_proc *p;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", h_control_port(g), path);
	const char *argv[] = {"curl", "-sS", "--max-time", "10", url, NULL};
	cr_assert_eq(h_run("curl", argv, NULL, 20000, &p), 0, "%s", h_read_file(p->err));
	return h_read_file(p->out);
}

static void expect_line(const struct h_gw *g, const char *const needles[])
{
	char line[2048];

	if (h_log_wait(g, needles, 5000, line, sizeof(line)))
		return;
	cr_assert_fail("no access line with %s and %s; the log is:\n%s", needles[0],
		       needles[1] ? needles[1] : "", h_read_file(g->p->out));
}

Test(policies, the_source_address_picks_the_policy)
{
	struct h_gw g = start("policies:\n"
			      "  - name: review\n"
			      "    match: {sources: [127.0.0.2/32]}\n"
			      "    allow: [allowed.test]\n"
			      "  - name: dev\n"
			      "    match: {sources: [127.0.0.3]}\n"
			      "    allow: [x.wild.test]\n");
	char err[2048];

	cr_assert_eq(h_curl_from(g.port, "127.0.0.2", "allowed.test", err, sizeof(err)), 200, "%s",
		     err);
	const char *a[] = {"\"sni\":\"allowed.test\"", "\"policy\":\"review\"",
			   "\"decision\":\"allow\"", NULL};
	expect_line(&g, a);

	/* dev may not reach review's name, and review may not reach dev's. */
	cr_assert_lt(h_curl_from(g.port, "127.0.0.3", "allowed.test", err, sizeof(err)), 0);
	const char *b[] = {"\"client\":\"127.0.0.3:", "\"policy\":\"dev\"",
			   "\"reason\":\"not_allowed\"", NULL};
	expect_line(&g, b);
	cr_assert_lt(h_curl_from(g.port, "127.0.0.2", "x.wild.test", err, sizeof(err)), 0);
	cr_assert_eq(h_curl_from(g.port, "127.0.0.3", "x.wild.test", err, sizeof(err)), 200, "%s",
		     err);

	/* /denied for one policy shows only what that policy denied. */
	char *dev = control_get(&g, "/denied?policy=dev");
	cr_assert(strstr(dev, "{\"name\":\"allowed.test\",\"policy\":\"dev\",\"count\":1,"), "%s",
		  dev);
	cr_assert_null(strstr(dev, "x.wild.test"), "%s", dev);
	cr_assert(strstr(dev, "{\"total\":1,"), "%s", dev);
	char *all = control_get(&g, "/denied");
	cr_assert(strstr(all, "\"name\":\"x.wild.test\",\"policy\":\"review\""), "%s", all);
	cr_assert(strstr(all, "{\"total\":2,"), "%s", all);

	/* 127.0.0.1 is in no policy and there is no top-level allow: no_policy. */
	cr_assert_lt(h_curl_from(g.port, "127.0.0.1", "allowed.test", err, sizeof(err)), 0);
	const char *c[] = {"\"client\":\"127.0.0.1:", "\"reason\":\"no_policy\"", "\"policy\":null",
			   NULL};
	expect_line(&g, c);
	cr_assert_eq(h_snigate_stop(&g), 0);
}

Test(policies, the_top_level_allow_catches_the_rest_and_audit_is_per_policy)
{
	struct h_gw g = start("policies:\n"
			      "  - name: learn\n"
			      "    match: {sources: [127.0.0.3/32]}\n"
			      "    mode: audit\n"
			      "allow: [allowed.test]\n");
	char err[2048];

	/* The audit policy lets a name off every list through, and says so. */
	cr_assert_eq(h_curl_from(g.port, "127.0.0.3", "x.wild.test", err, sizeof(err)), 200, "%s",
		     err);
	const char *a[] = {"\"sni\":\"x.wild.test\"", "\"decision\":\"would_deny\"",
			   "\"policy\":\"learn\"", NULL};
	expect_line(&g, a);
	/* Anyone else falls to the top-level allow, enforced. */
	cr_assert_eq(h_curl_from(g.port, "127.0.0.2", "allowed.test", err, sizeof(err)), 200, "%s",
		     err);
	const char *b[] = {"\"client\":\"127.0.0.2:", "\"policy\":\"default\"", NULL};
	expect_line(&g, b);
	cr_assert_lt(h_curl_from(g.port, "127.0.0.2", "x.wild.test", err, sizeof(err)), 0);
	cr_assert_eq(h_snigate_stop(&g), 0);
}

Test(policies, the_proxy_user_picks_the_policy_and_entries_carry_ports_and_expiry)
{
	char users[256], body[2048], past[64];
	time_t t = time(NULL) - 3600;
	struct tm tm;

	strftime(past, sizeof(past), "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&t, &tm));
	h_path(users, sizeof(users), "users");
	h_write_file(users, "alice:{SHA256}" ALICE_HASH "\n"
			    "bob:{SHA256}" BOB_HASH "\n");
	snprintf(body, sizeof(body),
		 "    proxy_auth_file: %s\n"
		 "policies:\n"
		 "  - name: ci\n"
		 "    match: {proxy_users: [alice]}\n"
		 "    allow:\n"
		 "      - allowed.test\n"
		 "      - {name: a.b.wild.test, expires: \"%s\", owner: platform}\n"
		 "  - name: other\n"
		 "    match: {proxy_users: [bob]}\n"
		 "    allow: [{name: x.wild.test, ports: [1]}]\n",
		 users, past);
	struct h_gw g = start(body);
	char err[2048];

	cr_assert_eq(curl_as(&g, "alice:s3cret", "allowed.test", err, sizeof(err)), 200, "%s", err);
	const char *a[] = {"\"user\":\"alice\"", "\"policy\":\"ci\"", "\"decision\":\"allow\"",
			   NULL};
	expect_line(&g, a);
	/* An entry past its expiry no longer matches, with its own reason. */
	cr_assert_lt(curl_as(&g, "alice:s3cret", "a.b.wild.test", err, sizeof(err)), 0);
	cr_assert(strstr(err, "403"), "%s", err);
	const char *b[] = {"\"authority\":\"a.b.wild.test:", "\"reason\":\"expired\"", NULL};
	expect_line(&g, b);
	/* bob's policy lists x.wild.test on port 1 only: its ports replace the listener's. */
	cr_assert_lt(curl_as(&g, "bob:hunter2", "x.wild.test", err, sizeof(err)), 0);
	const char *c[] = {"\"user\":\"bob\"", "\"reason\":\"port_not_allowed\"",
			   "\"policy\":\"other\"", NULL};
	expect_line(&g, c);
	/* and bob's policy is not alice's. */
	cr_assert_lt(curl_as(&g, "bob:hunter2", "allowed.test", err, sizeof(err)), 0);
	const char *d[] = {"\"user\":\"bob\"", "\"reason\":\"not_allowed\"", NULL};
	expect_line(&g, d);
	cr_assert_eq(h_snigate_stop(&g), 0);
}

/* A reload changes the policies for new connections; each line says which generation decided. */
Test(policies, a_reload_swaps_the_policies_and_the_log_names_the_generation)
{
	const char *v1 =
		"policies:\n"
		"  - {name: review, match: {sources: [127.0.0.2]}, allow: [allowed.test]}\n";
	const char *v2 =
		"policies:\n"
		"  - {name: review, match: {sources: [127.0.0.2]}, allow: [x.wild.test]}\n";
	struct h_gw g = start(v1);
	char err[2048];

	cr_assert_eq(h_curl_from(g.port, "127.0.0.2", "allowed.test", err, sizeof(err)), 200, "%s",
		     err);
	const char *a[] = {"\"sni\":\"allowed.test\"", "\"decision\":\"allow\"", "\"gen\":0", NULL};
	expect_line(&g, a);
	write_conf(g.port, v2);
	kill(g.p->pid, SIGHUP);
	cr_assert(h_file_wait(g.p->err, "reload (SIGHUP): generation 1", 5000), "%s",
		  h_read_file(g.p->err));
	cr_assert_lt(h_curl_from(g.port, "127.0.0.2", "allowed.test", err, sizeof(err)), 0);
	const char *b[] = {"\"reason\":\"not_allowed\"", "\"gen\":1", NULL};
	expect_line(&g, b);
	cr_assert_eq(h_curl_from(g.port, "127.0.0.2", "x.wild.test", err, sizeof(err)), 200, "%s",
		     err);
	cr_assert_eq(h_snigate_stop(&g), 0);
}

/*
 * An ECH hello names the provider's client-facing server, not the site: a
 * policy with ech: deny resets it; the default lets it through by that name.
 */
Test(policies, ech_deny_resets_an_ech_hello_for_its_policy_only)
{
	struct h_gw g = start("policies:\n"
			      "  - name: strict\n"
			      "    match: {sources: [127.0.0.2]}\n"
			      "    ech: deny\n"
			      "    allow: [allowed.test]\n"
			      "allow: [allowed.test]\n");
	struct hello_opts o = {.sni = "allowed.test", .ech = true, .grease = true};
	uint8_t hello[4096], buf[64];
	size_t n = h_hello(&o, hello, sizeof(hello)), got;

	int fd = h_connect_from("127.0.0.2", g.port);
	h_send_all(fd, hello, n);
	enum h_outcome r = h_wait(fd, 5000, buf, sizeof(buf), &got);
	close(fd);
	cr_assert_eq(r, H_RESET, "strict: %s", h_outcome_str(r));
	const char *a[] = {"\"reason\":\"ech\"", "\"policy\":\"strict\"", "\"ech\":true", NULL};
	expect_line(&g, a);

	/* The default policy lets the same hello through to the upstream. */
	fd = h_connect_from("127.0.0.3", g.port);
	h_send_all(fd, hello, n);
	r = h_wait(fd, 5000, buf, sizeof(buf), &got);
	close(fd);
	cr_assert_neq(r, H_RESET, "default: %s", h_outcome_str(r));
	const char *b[] = {"\"client\":\"127.0.0.3:", "\"decision\":\"allow\"",
			   "\"policy\":\"default\"", NULL};
	expect_line(&g, b);
	/* And without ECH, strict lets its name through. */
	struct hello_opts plain = {.sni = "allowed.test"};
	n = h_hello(&plain, hello, sizeof(hello));
	fd = h_connect_from("127.0.0.2", g.port);
	h_send_all(fd, hello, n);
	r = h_wait(fd, 5000, buf, sizeof(buf), &got);
	close(fd);
	cr_assert_neq(r, H_RESET, "strict without ECH: %s", h_outcome_str(r));
	cr_assert_eq(h_snigate_stop(&g), 0);
}

/* Sources decide even when nothing else needs the client's address (no access log). */
Test(policies, sources_match_with_the_access_log_off)
{
	struct h_gw g =
		start("policies:\n"
		      "  - {name: review, match: {sources: [127.0.0.2]}, allow: [allowed.test]}\n"
		      "log: {access: false}\n");
	char err[2048];

	cr_assert_eq(h_curl_from(g.port, "127.0.0.2", "allowed.test", err, sizeof(err)), 200, "%s",
		     err);
	cr_assert_lt(h_curl_from(g.port, "127.0.0.3", "allowed.test", err, sizeof(err)), 0);
	cr_assert_eq(h_snigate_stop(&g), 0);
	long long v;
	cr_assert(h_stats(&g, "no_policy", &v) && v == 1, "no_policy %lld", v);
	cr_assert(h_stats(&g, "allowed", &v) && v == 1, "allowed %lld", v);
}

/*
 * An SSRF exception for one name: without upstream.allow, loopback is
 * denied to every name but the one whose entry lists it.
 */
Test(policies, upstream_allow_is_an_exception_for_its_name_only)
{
	char conf[256], text[2048];
	int port = h_free_port();

	h_path(conf, sizeof(conf), "ssrf.yaml");
	snprintf(text, sizeof(text),
		 "listeners: [{address: \"127.0.0.1:%d\", upstream_port: %d}]\n"
		 "policies:\n"
		 "  - name: p\n"
		 "    allow:\n"
		 "      - {name: allowed.test, upstream_allow: [127.0.0.1/32]}\n"
		 "      - x.wild.test\n"
		 "resolver: {forwarders: [\"127.0.0.1:%d\"]}\n",
		 port, H.tls_port, H.dns_port);
	h_write_file(conf, text);
	const char *args[] = {"-c", conf, "--threads", "2", NULL};
	struct h_gw g = h_snigate_bare(port, args);
	char err[2048];

	cr_assert_eq(h_curl_from(g.port, "127.0.0.2", "allowed.test", err, sizeof(err)), 200, "%s",
		     err);
	cr_assert_lt(h_curl_from(g.port, "127.0.0.2", "x.wild.test", err, sizeof(err)), 0);
	const char *a[] = {"\"sni\":\"x.wild.test\"", "\"reason\":\"upstream_denied\"", NULL};
	expect_line(&g, a);
	cr_assert_eq(h_snigate_stop(&g), 0);
}

/* --check says what the policies' tables cost, as the workers will build them. */
Test(policies, check_reports_the_tables)
{
	char conf[256];
	struct h_proc *p;

	write_conf(h_free_port(),
		   "policies:\n"
		   "  - {name: a, match: {sources: [10.0.0.0/8]}, allow: [a.example, "
		   "\"*.b.example\"]}\n"
		   "  - {name: b, allow: [a.example, c.example]}\n");
	h_path(conf, sizeof(conf), "policies.yaml");
	const char *argv[] = {getenv("SNIGATE_BIN"), "--check", "-c", conf,
			      "--control",	     "off",	NULL};
	int rc = h_run("snigate", argv, NULL, 20000, &p);
	const char *out = h_read_file(p->out);
	cr_assert_eq(rc, 0, "%s%s", out, h_read_file(p->err));
	cr_assert(strstr(out, "ok (1 listeners, 2 policies, 4 allow entries)"), "%s", out);
	cr_assert(strstr(out, "snigate: policies: 3 distinct names, tables built in "), "%s", out);
	cr_assert(strstr(out, " KiB\n"), "%s", out);
}

/* GET /metrics from the admin endpoint. */
static char *metrics(const struct h_gw *g)
{
	char url[128];
	struct h_proc *p;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/metrics", h_admin_port(g));
	const char *argv[] = {"curl", "-sS", "--max-time", "10", url, NULL};
	cr_assert_eq(h_run("curl", argv, NULL, 20000, &p), 0, "%s", h_read_file(p->err));
	return h_read_file(p->out);
}

/* A denied hello for nope.test from src: reset by the gate. */
static void deny_from(const struct h_gw *g, const char *src)
{
	uint8_t hello[2048], buf[16];
	struct hello_opts o = {.sni = "nope.test"};
	size_t got, n = h_hello(&o, hello, sizeof(hello));
	int fd = h_connect_from(src, g->port);

	h_send_all(fd, hello, n);
	cr_assert_eq(h_wait(fd, 5000, buf, sizeof(buf), &got), H_RESET, "from %s", src);
	close(fd);
}

/* The value of the first sample line of page that holds every needle, or -1. */
static long long sample(const char *page, const char *const needles[])
{
	for (const char *l = page; l && *l;) {
		const char *e = strchr(l, '\n');
		size_t n = e ? (size_t)(e - l) : strlen(l);
		char line[1024];
		snprintf(line, sizeof(line), "%.*s", (int)n, l);
		bool all = line[0] != '#';
		for (int i = 0; all && needles[i]; i++)
			all = strstr(line, needles[i]) != NULL;
		if (all)
			return atoll(strrchr(line, ' ') + 1);
		l = e ? e + 1 : NULL;
	}
	return -1;
}

/*
 * snigate_connections_total's policy label is bounded: the first 32 policy
 * names the process sees have their own value, later ones (from a reload
 * too) count as "(other)", and a connection no policy decided has none.
 */
Test(policies, the_policy_label_of_the_counters_is_bounded)
{
	char body[8192], src[32], want[64];
	size_t o = snprintf(body, sizeof(body), "policies:\n");

	for (int i = 0; i < 40; i++)
		o += snprintf(
			body + o, sizeof(body) - o,
			"  - {name: p%02d, match: {sources: [127.0.1.%d]}, allow: [allowed.test]}\n",
			i, i + 1);
	struct h_gw g = start(body);
	for (int i = 0; i < 40; i++) {
		snprintf(src, sizeof(src), "127.0.1.%d", i + 1);
		deny_from(&g, src);
	}
	deny_from(&g, "127.0.0.9");
	h_sleep_ms(400); /* the workers publish their counters every ~100 ms */
	char *page = metrics(&g);
	for (int i = 0; i < 40; i++) {
		snprintf(want, sizeof(want), "policy=\"p%02d\"", i);
		const char *n[] = {"snigate_connections_total{", want, "reason=\"not_allowed\"",
				   NULL};
		cr_assert_eq(sample(page, n), i < 32 ? 1 : -1, "%s:\n%s", want, page);
	}
	const char *other[] = {"snigate_connections_total{", "policy=\"(other)\"",
			       "reason=\"not_allowed\"", NULL};
	cr_assert_eq(sample(page, other), 8, "%s", page);
	const char *none[] = {"snigate_connections_total{", "reason=\"no_policy\"", NULL};
	cr_assert_eq(sample(page, none), 1, "%s", page);
	cr_assert(!strstr(page, "policy=\"\""), "no policy is no label: %s", page);

	/* New names after a reload find the label full: (other), while p00 keeps its own. */
	o = snprintf(body, sizeof(body), "policies:\n");
	o += snprintf(body + o, sizeof(body) - o,
		      "  - {name: renamed, match: {sources: [127.0.1.1]}, allow: [allowed.test]}\n"
		      "  - {name: p00, match: {sources: [127.0.1.2]}, allow: [allowed.test]}\n");
	write_conf(g.port, body);
	kill(g.p->pid, SIGHUP);
	cr_assert(h_file_wait(g.p->err, "reload (SIGHUP): generation 1", 5000), "%s",
		  h_read_file(g.p->err));
	deny_from(&g, "127.0.1.1");
	deny_from(&g, "127.0.1.2");
	h_sleep_ms(400);
	page = metrics(&g);
	cr_assert_eq(sample(page, other), 9, "%s", page);
	const char *p00[] = {"snigate_connections_total{", "policy=\"p00\"",
			     "reason=\"not_allowed\"", NULL};
	cr_assert_eq(sample(page, p00), 2, "%s", page);
	cr_assert_eq(h_snigate_stop(&g), 0);
}
