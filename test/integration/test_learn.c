/* SPDX-License-Identifier: MIT */
/*
 * snigate learn, end to end: a gateway in audit mode lets a mixed set of
 * clients through (raw TLS, curl through HTTP CONNECT, a CONNECT to a
 * second port, names on and off the list, noise that names nothing), then
 * `snigate learn -c` turns its access log into a configuration that
 * `snigate --check` accepts as it is, and a gateway enforcing that
 * configuration lets the same connections through and resets a name it
 * never saw. The same by proxy user and by source address, and the
 * command's errors.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "test/integration/harness.h"

static void setup(void)
{
	h_start_unbound();
	h_start_s_server();
}

TestSuite(learn, .init = setup, .fini = h_teardown, .timeout = 180);

/* alice:s3cret and bob:hunter2, as `printf %s alice:s3cret | sha256sum` gives them. */
#define ALICE_HASH "1fe25d9a2d615222be6f64cccdf98ccb67023a1b492f090876ad1bf896833f04"
#define BOB_HASH   "d1821c3f59d1c8bf4047bc688d2f23d25eb1161ffd863fe9e6993724e582395b"

/* The audit run's config: listener "main" on port, CONNECT to the TLS peer and to extra_port. */
static const char *write_conf(int port, int extra_port, const char *listener_extra)
{
	static char conf[256];
	char text[4096];

	h_path(conf, sizeof(conf), "audit.yaml");
	/* hosts: names the test unbound does not know; never.test too, so DNS cannot refuse it. */
	snprintf(text, sizeof(text),
		 "listeners:\n"
		 "  - name: main\n"
		 "    address: 127.0.0.1:%d\n"
		 "    upstream_port: %d\n"
		 "    connect_ports: [%d, %d]\n"
		 "%s"
		 "mode: audit\n"
		 "allow: [allowed.test]\n"
		 "resolver:\n"
		 "  forwarders: [\"127.0.0.1:%d\"]\n"
		 "  hosts:\n"
		 "    one.test: [127.0.0.1]\n"
		 "    a.wild.test: [127.0.0.1]\n"
		 "    b.wild.test: [127.0.0.1]\n"
		 "    c.wild.test: [127.0.0.1]\n"
		 "    port.test: [127.0.0.1]\n"
		 "    raw.test: [127.0.0.1]\n"
		 "    never.test: [127.0.0.1]\n"
		 "upstream:\n"
		 "  allow: [127.0.0.0/8]\n"
		 "timeouts: {client_hello: 2s, connect: 2s, request_head: 2s}\n",
		 port, H.tls_port, H.tls_port, extra_port, listener_extra ? listener_extra : "",
		 H.dns_port);
	h_write_file(conf, text);
	return conf;
}

static struct h_gw start(int port, const char *conf)
{
	const char *args[] = {"-c", conf, "--threads", "2", NULL};
	return h_snigate_args(port, args);
}

/* A raw ClientHello for sni: H_DATA when the upstream answered, H_RESET when refused. */
static enum h_outcome raw_tls(const struct h_gw *g, const char *sni)
{
	struct hello_opts o = {.sni = sni};
	uint8_t hello[4096], buf[64];
	size_t n = h_hello(&o, hello, sizeof(hello)), got;
	int fd = h_connect(g->port);

	h_send_all(fd, hello, n);
	enum h_outcome r = h_wait(fd, 5000, buf, sizeof(buf), &got);
	close(fd);
	return r;
}

/*
 * CONNECT host:port by hand, then a ClientHello for host and our FIN: the
 * status code of the answer (0 for none). The upstream may be any TCP
 * peer: the gateway's verdict is the status.
 */
static int raw_connect(const struct h_gw *g, const char *host, int port)
{
	char req[256], buf[1024];
	uint8_t hello[4096];
	size_t got = 0;
	int code = 0, fd = h_connect(g->port);

	snprintf(req, sizeof(req), "CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n", host, port,
		 host, port);
	h_send_all(fd, req, strlen(req));
	buf[0] = '\0';
	while (!strstr(buf, "\r\n\r\n") && got < sizeof(buf) - 1) {
		size_t k = 0;
		if (h_wait(fd, 5000, buf + got, sizeof(buf) - 1 - got, &k) != H_DATA)
			break;
		got += k;
		buf[got] = '\0';
	}
	sscanf(buf, "HTTP/1.1 %d", &code);
	if (code == 200) {
		struct hello_opts o = {.sni = host};
		size_t n = h_hello(&o, hello, sizeof(hello));
		h_send_all(fd, hello, n);
		shutdown(fd, SHUT_WR);
		/* Until the upstream's answer or its close: the connection then ends and is logged.
		 */
		h_wait(fd, 5000, buf, sizeof(buf), &got);
	}
	close(fd);
	return code;
}

/* curl through the gateway's CONNECT (userinfo may be NULL) to https://host:TLS/; HTTP code or
 * -exit. */
static int curl_proxy(const struct h_gw *g, const char *userinfo, const char *host, char *err,
		      size_t len)
{
	char proxy[160], url[128], body[300];
	struct h_proc *p;

	h_make_cert();
	snprintf(proxy, sizeof(proxy), "http://%s%s127.0.0.1:%d", userinfo ? userinfo : "",
		 userinfo ? "@" : "", g->port);
	snprintf(url, sizeof(url), "https://%s:%d/", host, H.tls_port);
	h_path(body, sizeof(body), "body");
	const char *argv[] = {"curl", "-sS", "--max-time", "10", "-x",		 proxy, "--cacert",
			      H.cert, "-o",  body,	   "-w", "%{http_code}", url,	NULL};
	int rc = h_run("curl", argv, NULL, 20000, &p);
	snprintf(err, len, "%s", h_read_file(p->err));
	return rc ? -rc : atoi(h_read_file(p->out));
}

/* Wait until the gateway has written n access lines, then stop it. */
static void stop_after(struct h_gw *g, int n)
{
	uint64_t end = h_now_ms() + 5000;

	while (h_log_count(g, NULL) < n && h_now_ms() < end)
		h_sleep_ms(20);
	cr_assert_geq(h_log_count(g, NULL), n, "%s", h_read_file(g->p->out));
	cr_assert_eq(h_snigate_stop(g), 0);
}

/*
 * snigate learn with args (NULL-terminated), reading stdin_path (may be
 * NULL); the exit code, with *out the process (its stdout is the proposal).
 */
static int learn(const char *const args[], const char *stdin_path, struct h_proc **out)
{
	const char *argv[24] = {getenv("SNIGATE_BIN"), "learn"};
	int n = 2;

	for (int i = 0; args[i]; i++) {
		cr_assert_lt(n, 22);
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	return h_run("snigate-learn", argv, stdin_path, 20000, out);
}

/* snigate --check -c conf, as it is: must exit 0. */
static void check_ok(const char *conf)
{
	struct h_proc *p;
	const char *argv[] = {getenv("SNIGATE_BIN"), "--check", "-c", conf, NULL};
	int rc = h_run("snigate-check", argv, NULL, 20000, &p);

	cr_assert_eq(rc, 0, "--check -c %s: exit %d\n%s%s\n--- the file:\n%s", conf, rc,
		     h_read_file(p->out), h_read_file(p->err), h_read_file(conf));
	cr_assert(strstr(h_read_file(p->out), ": ok ("), "%s", h_read_file(p->out));
}

static void expect_line(const struct h_gw *g, const char *const needles[])
{
	char line[2048];

	if (h_log_wait(g, needles, 5000, line, sizeof(line)))
		return;
	cr_assert_fail("no access line with %s and %s; the log is:\n%s", needles[0],
		       needles[1] ? needles[1] : "", h_read_file(g->p->out));
}

/* What both runs send; in audit and once learnt, every one of them gets through. */
static void replay(const struct h_gw *g, int sink_port)
{
	char err[2048];

	cr_assert_eq(raw_tls(g, "allowed.test"), H_DATA);
	cr_assert_eq(raw_tls(g, "one.test"), H_DATA, "a name off the list");
	cr_assert_eq(raw_tls(g, "a.wild.test"), H_DATA);
	cr_assert_eq(raw_tls(g, "b.wild.test"), H_DATA);
	cr_assert_eq(curl_proxy(g, NULL, "allowed.test", err, sizeof(err)), 200, "%s", err);
	cr_assert_eq(curl_proxy(g, NULL, "x.wild.test", err, sizeof(err)), 200, "%s", err);
	cr_assert_eq(raw_connect(g, "port.test", sink_port), 200);
}

Test(learn, an_audit_log_becomes_an_enforced_config_that_passes_the_same_traffic)
{
	struct h_sink_opts so = {0};
	struct h_sink *sink = h_sink_start(&so);
	int port = h_free_port(), sp = h_sink_port(sink);
	const char *conf = write_conf(port, sp, NULL);
	struct h_gw g = start(port, conf);
	struct h_proc *p;
	char err[2048], auth[64];

	replay(&g, sp);
	/* Noise that names nothing learnable: an IP address and a request that is no CONNECT. */
	cr_assert_eq(raw_connect(&g, "127.0.0.1", H.tls_port), 403);
	int fd = h_connect(g.port);
	h_send_all(fd, "GET / HTTP/1.1\r\n\r\n", 18);
	h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);
	const char *a[] = {"\"sni\":\"one.test\"", "\"decision\":\"would_deny\"", NULL};
	expect_line(&g, a);
	stop_after(&g, 9);

	/* The access log (stdout) and snigate's own lines (stderr), which are skipped. */
	const char *args[] = {"-c", conf, "--wildcards", "2", g.p->out, g.p->err, NULL};
	int rc = learn(args, NULL, &p);
	const char *learned = p->out, *msg = h_read_file(p->err);
	cr_assert_eq(rc, 0, "%s", msg);
	cr_assert(strstr(msg, "snigate: learn: "), "%s", msg);
	cr_assert(strstr(msg, " lines, 7 connections used, "), "%s", msg);
	cr_assert(strstr(msg, "2 denied"), "the IP address and the GET: %s", msg);
	cr_assert(strstr(msg, "not access lines"), "%s", msg);
	const char *text = h_read_file(learned);
	snprintf(auth, sizeof(auth), "{name: \"allowed.test\", ports: [%d]}", H.tls_port);
	cr_assert(strstr(text, auth), "%s", text);
	snprintf(auth, sizeof(auth), "{name: \"port.test\", ports: [%d]}", sp);
	cr_assert(strstr(text, auth), "%s", text);
	cr_assert(strstr(text, "      - \"one.test\"\n"), "%s", text);
	cr_assert(strstr(text, "\"*.wild.test\""), "%s", text);
	cr_assert(strstr(text, "    match: {listeners: [\"main\"]}\n"), "%s", text);
	cr_assert(strstr(text, "\nallow: []\n"), "the top-level allow is replaced:\n%s", text);
	check_ok(learned);

	/* Enforced: the same connections pass, and a wildcard's new name too. */
	g = start(port, learned);
	replay(&g, sp);
	cr_assert_eq(raw_tls(&g, "c.wild.test"), H_DATA);
	const char *b[] = {"\"sni\":\"one.test\"", "\"decision\":\"allow\"", "\"policy\":\"main\"",
			   NULL};
	expect_line(&g, b);
	/* A name never seen is reset; a learnt name on a port it never used is refused. */
	cr_assert_eq(raw_tls(&g, "never.test"), H_RESET);
	const char *c[] = {"\"sni\":\"never.test\"", "\"reason\":\"not_allowed\"",
			   "\"decision\":\"deny\"", NULL};
	expect_line(&g, c);
	cr_assert_eq(raw_connect(&g, "port.test", H.tls_port), 403);
	const char *d[] = {"\"authority\":\"port.test:", "\"reason\":\"port_not_allowed\"", NULL};
	expect_line(&g, d);
	cr_assert_lt(curl_proxy(&g, NULL, "never.test", err, sizeof(err)), 0);
	cr_assert_eq(h_snigate_stop(&g), 0);
}

Test(learn, by_proxy_user_each_user_gets_what_it_used)
{
	struct h_sink_opts so = {0};
	struct h_sink *sink = h_sink_start(&so);
	int port = h_free_port();
	char users[256], extra[512], err[2048];
	struct h_proc *p;

	h_path(users, sizeof(users), "users");
	h_write_file(users, "alice:{SHA256}" ALICE_HASH "\n"
			    "bob:{SHA256}" BOB_HASH "\n");
	snprintf(extra, sizeof(extra), "    proxy_auth_file: %s\n", users);
	const char *conf = write_conf(port, h_sink_port(sink), extra);
	struct h_gw g = start(port, conf);

	cr_assert_eq(curl_proxy(&g, "alice:s3cret", "allowed.test", err, sizeof(err)), 200, "%s",
		     err);
	cr_assert_eq(curl_proxy(&g, "bob:hunter2", "x.wild.test", err, sizeof(err)), 200, "%s",
		     err);
	cr_assert_eq(raw_tls(&g, "raw.test"), H_DATA, "no user: the listener's group");
	stop_after(&g, 3);

	const char *args[] = {"--by", "user", "-c", conf, "-", NULL};
	int rc = learn(args, g.p->out, &p);
	cr_assert_eq(rc, 0, "%s", h_read_file(p->err));
	const char *learned = p->out, *text = h_read_file(learned);
	cr_assert(strstr(text, "    match: {proxy_users: [\"alice\"]}\n"), "%s", text);
	cr_assert(strstr(text, "    match: {proxy_users: [\"bob\"]}\n"), "%s", text);
	check_ok(learned);

	g = start(port, learned);
	cr_assert_eq(curl_proxy(&g, "alice:s3cret", "allowed.test", err, sizeof(err)), 200, "%s",
		     err);
	cr_assert_eq(curl_proxy(&g, "bob:hunter2", "x.wild.test", err, sizeof(err)), 200, "%s",
		     err);
	cr_assert_eq(raw_tls(&g, "raw.test"), H_DATA);
	/* Each user only what it used. */
	cr_assert_lt(curl_proxy(&g, "alice:s3cret", "x.wild.test", err, sizeof(err)), 0);
	const char *a[] = {"\"user\":\"alice\"", "\"reason\":\"not_allowed\"",
			   "\"policy\":\"alice\"", NULL};
	expect_line(&g, a);
	cr_assert_lt(curl_proxy(&g, "bob:hunter2", "allowed.test", err, sizeof(err)), 0);
	const char *b[] = {"\"user\":\"bob\"", "\"reason\":\"not_allowed\"", NULL};
	expect_line(&g, b);
	cr_assert_eq(h_snigate_stop(&g), 0);
}

Test(learn, by_source_address)
{
	int port = h_free_port();
	const char *conf = write_conf(port, 1, NULL);
	struct h_gw g = start(port, conf);
	char err[2048];
	struct h_proc *p;

	cr_assert_eq(h_curl_from(g.port, "127.0.0.2", "allowed.test", err, sizeof(err)), 200, "%s",
		     err);
	cr_assert_eq(h_curl_from(g.port, "127.0.0.3", "x.wild.test", err, sizeof(err)), 200, "%s",
		     err);
	cr_assert_eq(h_curl_from(g.port, "127.0.0.1", "a.wild.test", err, sizeof(err)), 200, "%s",
		     err);
	stop_after(&g, 3);

	const char *args[] = {"-c",	  conf,
			      "--by",	  "cidr",
			      "--source", "review=127.0.0.2/32",
			      "--source", "dev=127.0.0.3",
			      g.p->out,	  NULL};
	int rc = learn(args, NULL, &p);
	const char *msg = h_read_file(p->err);
	cr_assert_eq(rc, 0, "%s", msg);
	cr_assert(strstr(msg, "snigate: learn: client \"127.0.0.1\": 1 connection in no --source, "
			      "not used\n"),
		  "%s", msg);
	const char *learned = p->out;
	check_ok(learned);

	g = start(port, learned);
	cr_assert_eq(h_curl_from(g.port, "127.0.0.2", "allowed.test", err, sizeof(err)), 200, "%s",
		     err);
	cr_assert_eq(h_curl_from(g.port, "127.0.0.3", "x.wild.test", err, sizeof(err)), 200, "%s",
		     err);
	cr_assert_lt(h_curl_from(g.port, "127.0.0.3", "allowed.test", err, sizeof(err)), 0);
	const char *a[] = {"\"client\":\"127.0.0.3:", "\"reason\":\"not_allowed\"",
			   "\"policy\":\"dev\"", NULL};
	expect_line(&g, a);
	cr_assert_lt(h_curl_from(g.port, "127.0.0.1", "a.wild.test", err, sizeof(err)), 0);
	const char *b[] = {"\"client\":\"127.0.0.1:", "\"reason\":\"no_policy\"", NULL};
	expect_line(&g, b);
	cr_assert_eq(h_snigate_stop(&g), 0);
}

/* Without -c, in every grouping that allows it, the output still passes --check as it is. */
Test(learn, without_a_config_and_the_errors)
{
	char log[256], text[4096];
	struct h_proc *p;
	size_t o = 0;

	h_path(log, sizeof(log), "access.log");
	o += (size_t)snprintf(text + o, sizeof(text) - o,
			      "snigate: ready\n"
			      "{\"ts\":\"2026-12-07T10:00:00.000Z\",\"client\":\"10.1.0.1:5\","
			      "\"listener\":\"0.0.0.0:8443\",\"path\":\"tls\",\"authority\":null,"
			      "\"sni\":\"api.example.com\",\"decision\":\"would_deny\","
			      "\"reason\":\"done\",\"policy\":\"default\",\"user\":null}\n");
	snprintf(
		text + o, sizeof(text) - o,
		"{\"ts\":\"2026-12-07T10:01:00.000Z\",\"client\":\"[fd00::1]:5\","
		"\"listener\":\"[::]:8443\",\"path\":\"connect\",\"authority\":\"git.example.com:22\","
		"\"sni\":null,\"decision\":\"allow\",\"reason\":\"done\",\"policy\":\"default\","
		"\"user\":null}\n");
	h_write_file(log, text);

	const char *by_listener[] = {log, NULL};
	const char *by_cidr[] = {"--by",     "cidr",	    "--source", "v4=10.0.0.0/8",
				 "--source", "v6=fd00::/8", "--mode",	"audit",
				 log,	     NULL};
	const char *const *cases[] = {by_listener, by_cidr};
	for (size_t i = 0; i < 2; i++) {
		cr_assert_eq(learn(cases[i], NULL, &p), 0, "%s", h_read_file(p->err));
		const char *out = h_read_file(p->out);
		cr_assert(strstr(out, "  - {name: \"0.0.0.0_8443\", address: \"0.0.0.0:8443\"}\n"),
			  "%s", out);
		cr_assert(strstr(out, "{name: \"git.example.com\", ports: [22]}"), "%s", out);
		check_ok(p->out);
	}

	/* Errors: one line, exit 2. */
	const char *bad[][8] = {
		{"/nonexistent/access.log", NULL},
		{"--by", "cidr", "--source", "a=10.0.0.1/8", log, NULL},
		{"--by", "cidr", log, NULL},
		{"--by", "user", log, NULL},
		{"--wildcards", "1", log, NULL},
		{"--mode", "learn", log, NULL},
		{"--bogus", NULL},
		{"/dev/null", NULL},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = learn(bad[i], NULL, &p);
		const char *msg = h_read_file(p->err), *e = strstr(msg, "snigate: error: ");
		cr_assert_eq(rc, 2, "%s: exit %d\n%s", bad[i][0], rc, msg);
		cr_assert_str_eq(h_read_file(p->out), "", "%s", bad[i][0]);
		if (i == 6)
			continue; /* getopt's own line and the usage */
		cr_assert(e && !strchr(strchr(e, '\n') + 1, '\n') &&
				  !strstr(e + 1, "snigate: error"),
			  "%s: one error line, last:\n%s", bad[i][0], msg);
	}
	cr_assert_eq(learn((const char *[]){"--help", NULL}, NULL, &p), 0);
	cr_assert(strstr(h_read_file(p->out), "usage: snigate learn "), "%s", h_read_file(p->out));
}
