/* SPDX-License-Identifier: MIT */
/*
 * HTTP CONNECT on the same listener as raw TLS: real proxy clients (curl -x,
 * openssl s_client -proxy, Python's urllib with HTTPS_PROXY) through snigate
 * to openssl s_server, names resolved by unbound; every refusal's status;
 * the CONNECT host and the ClientHello's SNI held to each other; proxy
 * authentication.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test/integration/harness.h"

static void setup(void)
{
	h_start_unbound();
	h_start_s_server();
}

TestSuite(connect, .init = setup, .fini = h_teardown, .timeout = 120);

/* alice:s3cret, as `printf %s alice:s3cret | sha256sum` gives it. */
#define ALICE_HASH "1fe25d9a2d615222be6f64cccdf98ccb67023a1b492f090876ad1bf896833f04"

static int closed_port; /* nothing listens there */
static int full_port;	/* a listener whose queue is full: connects hang */

/* snigate with one listener serving both kinds of client; listener_extra goes under it. */
static struct h_gw start(const char *listener_extra, const char *top_extra)
{
	char conf[256], text[2048];
	int port = h_free_port();

	closed_port = h_free_port();
	full_port = h_listen_full();
	h_path(conf, sizeof(conf), "connect.yaml");
	snprintf(text, sizeof(text),
		 "listeners:\n"
		 "  - address: 127.0.0.1:%d\n"
		 "    upstream_port: %d\n"
		 "    connect_ports: [%d, %d, %d]\n"
		 "%s"
		 "allow:\n"
		 "  - allowed.test\n"
		 "  - \"*.wild.test\"\n"
		 "  - nx.test\n"
		 "  - 127.0.0.1\n"
		 "resolver:\n"
		 "  forwarders: [\"127.0.0.1:%d\"]\n"
		 "timeouts:\n"
		 "  request_head: 1s\n"
		 "  client_hello: 1s\n"
		 "  connect: 1s\n"
		 "%s",
		 port, H.tls_port, H.tls_port, closed_port, full_port,
		 listener_extra ? listener_extra : "", H.dns_port, top_extra ? top_extra : "");
	h_write_file(conf, text);
	const char *args[] = {"-c", conf, "--threads", "2", NULL};
	return h_snigate_args(port, args);
}

static void expect_log(const struct h_gw *g, const char *const needles[], char *line, size_t len)
{
	if (h_log_wait(g, needles, 5000, line, len))
		return;
	char *log = h_read_file(g->p->out);
	cr_assert_fail("no access log line with %s...; the log is:\n%s", needles[0], log);
}

/* Send req on a new connection; read the answer to EOF (or timeout) into buf. */
static enum h_outcome ask(const struct h_gw *g, const void *req, size_t len, char *buf, size_t cap,
			  int fd_out[1])
{
	int fd = h_connect(g->port);
	size_t got = 0;
	enum h_outcome r = H_TIMEOUT;

	if (len)
		h_send_all(fd, req, len);
	buf[0] = 0;
	for (;;) {
		size_t k = 0;
		r = h_wait(fd, 5000, buf + got, cap - 1 - got, &k);
		if (r != H_DATA)
			break;
		got += k;
		buf[got] = 0;
		/* Stop at the end of a 200 head: the tunnel stays open. */
		if (fd_out && strstr(buf, "\r\n\r\n"))
			break;
		if (got == cap - 1)
			break;
	}
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return got ? H_DATA : r;
}

static void expect_status(const struct h_gw *g, const char *req, int status, const char *reason)
{
	char buf[4096], want[64], line[1280];

	enum h_outcome r = ask(g, req, strlen(req), buf, sizeof(buf), NULL);
	cr_assert_eq(r, H_DATA, "%.60s...: %s instead of a status", req, h_outcome_str(r));
	snprintf(want, sizeof(want), "HTTP/1.1 %d ", status);
	cr_assert(!strncmp(buf, want, strlen(want)), "%.60s: got\n%s", req, buf);
	cr_assert(strstr(buf, "Connection: close\r\n"), "no Connection: close:\n%s", buf);
	snprintf(want, sizeof(want), "\"reason\":\"%s\"", reason);
	const char *needles[] = {want, "\"path\":\"connect\"", NULL};
	expect_log(g, needles, line, sizeof(line));
}

static int curl_proxy(const struct h_gw *g, const char *userinfo, const char *host, int port,
		      struct h_proc **p)
{
	char proxy[128], url[128], body[300];

	h_make_cert();
	snprintf(proxy, sizeof(proxy), "http://%s%s127.0.0.1:%d", userinfo ? userinfo : "",
		 userinfo ? "@" : "", g->port);
	snprintf(url, sizeof(url), "https://%s:%d/", host, port);
	h_path(body, sizeof(body), "body");
	const char *argv[] = {"curl", "-sS", "--max-time", "20", "-x",		 proxy, "--cacert",
			      H.cert, "-o",  body,	   "-w", "%{http_code}", url,	NULL};
	return h_run("curl", argv, NULL, 30000, p);
}

/* ---- real clients ---- */

Test(connect, curl_through_https_proxy_and_raw_tls_on_the_same_port)
{
	struct h_gw g = start(NULL, NULL);
	struct h_proc *p;
	char line[1280], body[300];

	int rc = curl_proxy(&g, NULL, "allowed.test", H.tls_port, &p);
	cr_assert_eq(rc, 0, "curl -x failed (%d):\n%s", rc, h_read_file(p->err));
	cr_assert_str_eq(h_read_file(p->out), "200");
	h_path(body, sizeof(body), "body");
	cr_assert(strstr(h_read_file(body), "s_server"), "not the upstream's page");
	char auth[64];
	snprintf(auth, sizeof(auth), "\"authority\":\"allowed.test:%d\"", H.tls_port);
	const char *want[] = {"\"path\":\"connect\"",	  auth,
			      "\"sni\":\"allowed.test\"", "\"decision\":\"allow\"",
			      "\"reason\":\"done\"",	  NULL};
	expect_log(&g, want, line, sizeof(line));

	/* The same port, a raw TLS client: the SNI path. */
	char connect_to[128], url[128];
	snprintf(connect_to, sizeof(connect_to), "allowed.test:443:127.0.0.1:%d", g.port);
	snprintf(url, sizeof(url), "https://allowed.test/");
	const char *argv[] = {"curl",	      "-sS",	   "--max-time", "20",
			      "--connect-to", connect_to,  "--cacert",	 H.cert,
			      "-o",	      "/dev/null", url,		 NULL};
	rc = h_run("curl", argv, NULL, 30000, &p);
	cr_assert_eq(rc, 0, "raw TLS curl failed (%d):\n%s", rc, h_read_file(p->err));
	const char *want_tls[] = {"\"path\":\"tls\"", "\"decision\":\"allow\"", NULL};
	expect_log(&g, want_tls, line, sizeof(line));
}

Test(connect, openssl_and_python_through_the_proxy)
{
	struct h_gw g = start(NULL, NULL);
	struct h_proc *p;
	char proxy[64], target[64], script[512], url[96];

	snprintf(proxy, sizeof(proxy), "127.0.0.1:%d", g.port);
	snprintf(target, sizeof(target), "allowed.test:%d", H.tls_port);
	const char *argv[] = {"openssl",
			      "s_client",
			      "-proxy",
			      proxy,
			      "-connect",
			      target,
			      "-servername",
			      "allowed.test",
			      "-CAfile",
			      H.cert,
			      "-verify_return_error",
			      NULL};
	char in[256];
	h_path(in, sizeof(in), "s_client.in");
	h_write_file(in, "Q\n");
	int rc = h_run("s_client", argv, in, 30000, &p);
	cr_assert_eq(rc, 0, "s_client -proxy failed (%d):\n%s", rc, h_read_file(p->out));
	cr_assert(strstr(h_read_file(p->out), "Verify return code: 0 (ok)"), "%s",
		  h_read_file(p->out));

	/* Python's standard library, the way pip and friends use HTTPS_PROXY. */
	h_path(script, sizeof(script), "fetch.py");
	snprintf(url, sizeof(url), "https://allowed.test:%d/", H.tls_port);
	char py[1024];
	snprintf(py, sizeof(py),
		 "import os, ssl, urllib.request\n"
		 "os.environ['HTTPS_PROXY'] = 'http://127.0.0.1:%d'\n"
		 "ctx = ssl.create_default_context(cafile='%s')\n"
		 "body = urllib.request.urlopen('%s', context=ctx, timeout=20).read()\n"
		 "assert b's_server' in body, body[:200]\n"
		 "print('ok')\n",
		 g.port, H.cert, url);
	h_write_file(script, py);
	const char *pyargv[] = {"python3", script, NULL};
	rc = h_run("python3", pyargv, NULL, 30000, &p);
	cr_assert_eq(rc, 0, "python urllib through HTTPS_PROXY failed (%d):\n%s", rc,
		     h_read_file(p->err));
	cr_assert_str_eq(h_read_file(p->out), "ok\n");
}

/* ---- refusals ---- */

Test(connect, denied_host_is_403_for_curl)
{
	struct h_gw g = start(NULL, NULL);
	struct h_proc *p;
	char line[1280];

	int rc = curl_proxy(&g, NULL, "denied.test", H.tls_port, &p);
	cr_assert_neq(rc, 0, "a denied host got through");
	cr_assert(strstr(h_read_file(p->err), "403"), "curl did not see a 403:\n%s",
		  h_read_file(p->err));
	const char *want[] = {"\"authority\":", "\"decision\":\"deny\"",
			      "\"reason\":\"not_allowed\"", NULL};
	expect_log(&g, want, line, sizeof(line));
}

Test(connect, every_status)
{
	struct h_gw g = start(NULL, NULL);
	char req[512];

	snprintf(req, sizeof(req), "CONNECT allowed.test:444 HTTP/1.1\r\n\r\n");
	expect_status(&g, req, 403, "port_not_allowed");
	expect_status(&g, "GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n", 405, "bad_method");
	expect_status(&g, "CONNECT allowed.test HTTP/1.1\r\n\r\n", 400, "bad_request");
	expect_status(&g, "CONNECT allowed.test:443 HTTP/1.1\r\nX y: z\r\n\r\n", 400,
		      "bad_request");
	expect_status(&g, "CONNECT allowed.test:443 HTTP/2.0\r\n\r\n", 505, "bad_version");
	snprintf(req, sizeof(req), "CONNECT 10.1.2.3:%d HTTP/1.1\r\n\r\n", H.tls_port);
	expect_status(&g, req, 403, "ip_literal");
	snprintf(req, sizeof(req), "CONNECT nx.test:%d HTTP/1.1\r\n\r\n", H.tls_port);
	expect_status(&g, req, 502, "dns_nxdomain");
	snprintf(req, sizeof(req), "CONNECT allowed.test:%d HTTP/1.1\r\n\r\n", closed_port);
	expect_status(&g, req, 502, "connect_refused");
	snprintf(req, sizeof(req), "CONNECT allowed.test:%d HTTP/1.1\r\n\r\n", full_port);
	expect_status(&g, req, 504, "connect_timeout");
}

Test(connect, headers_of_64_kib_are_431)
{
	struct h_gw g = start(NULL, NULL);
	size_t cap = 70 << 10;
	char *req = malloc(cap), buf[4096], line[1280];
	size_t n = (size_t)snprintf(req, cap, "CONNECT allowed.test:%d HTTP/1.1\r\n", H.tls_port);

	while (n < (64u << 10))
		n += (size_t)snprintf(req + n, cap - n, "X-Filler-%zu: %060d\r\n", n, 0);
	n += (size_t)snprintf(req + n, cap - n, "\r\n");
	enum h_outcome r = ask(&g, req, n, buf, sizeof(buf), NULL);
	free(req);
	cr_assert_eq(r, H_DATA, "%s instead of 431", h_outcome_str(r));
	cr_assert(!strncmp(buf, "HTTP/1.1 431 ", 13), "got\n%s", buf);
	const char *want[] = {"\"reason\":\"head_too_large\"", NULL};
	expect_log(&g, want, line, sizeof(line));
}

Test(connect, slow_head_is_closed_at_the_timeout)
{
	struct h_gw g = start(NULL, NULL);
	char line[1280];
	int fd = h_connect(g.port);

	h_send_all(fd, "CONNECT allowed.test:443 HTTP/1.1\r\nHost: a", 42);
	uint64_t t0 = h_now_ms();
	enum h_outcome r = h_wait(fd, 5000, NULL, 0, NULL);
	uint64_t dt = h_now_ms() - t0;
	close(fd);
	cr_assert(r == H_RESET || r == H_EOF, "a stalled head got %s", h_outcome_str(r));
	cr_assert(dt >= 800 && dt < 3000, "closed after %llu ms, timeout 1 s",
		  (unsigned long long)dt);
	const char *want[] = {"\"reason\":\"head_timeout\"", NULL};
	expect_log(&g, want, line, sizeof(line));
}

/* ---- the SNI must be the CONNECT host ---- */

Test(connect, another_sni_after_connect_is_reset)
{
	struct h_gw g = start(NULL, NULL);
	char req[256], buf[1024], line[1280];
	uint8_t hello[4096];
	int fd;

	snprintf(req, sizeof(req), "CONNECT allowed.test:%d HTTP/1.1\r\nHost: x\r\n\r\n",
		 H.tls_port);
	enum h_outcome r = ask(&g, req, strlen(req), buf, sizeof(buf), &fd);
	cr_assert_eq(r, H_DATA);
	cr_assert(!strcmp(buf, "HTTP/1.1 200 Connection Established\r\n\r\n"), "got\n%s", buf);
	/* An allowed tunnel, then TLS for a name the allowlist refuses. */
	struct hello_opts o = {.sni = "denied.test"};
	size_t n = h_hello(&o, hello, sizeof(hello));
	h_send_all(fd, hello, n);
	r = h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);
	cr_assert_eq(r, H_RESET, "SNI denied.test inside CONNECT allowed.test: %s",
		     h_outcome_str(r));
	const char *want[] = {"\"reason\":\"sni_mismatch\"", "\"sni\":\"denied.test\"",
			      "\"decision\":\"deny\"", NULL};
	expect_log(&g, want, line, sizeof(line));

	/* And a tunnel that never speaks TLS is reset at the hello timeout. */
	r = ask(&g, req, strlen(req), buf, sizeof(buf), &fd);
	cr_assert_eq(r, H_DATA);
	h_send_all(fd, "hello", 5);
	r = h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);
	cr_assert_eq(r, H_RESET, "plain bytes in a tunnel: %s", h_outcome_str(r));
}

/* ---- proxy authentication ---- */

Test(connect, proxy_auth_right_wrong_missing)
{
	char users[256], extra[512], line[1280];
	h_path(users, sizeof(users), "users");
	h_write_file(users, "alice:{SHA256}" ALICE_HASH "\n");
	snprintf(extra, sizeof(extra), "    proxy_auth_file: %s\n", users);
	struct h_gw g = start(extra, NULL);
	struct h_proc *p;

	int rc = curl_proxy(&g, "alice:s3cret", "allowed.test", H.tls_port, &p);
	cr_assert_eq(rc, 0, "right credentials refused (%d):\n%s", rc, h_read_file(p->err));
	cr_assert_str_eq(h_read_file(p->out), "200");

	rc = curl_proxy(&g, "alice:wrong", "allowed.test", H.tls_port, &p);
	cr_assert_neq(rc, 0);
	cr_assert(strstr(h_read_file(p->err), "407"), "%s", h_read_file(p->err));
	const char *want_bad[] = {"\"reason\":\"auth_failed\"", NULL};
	expect_log(&g, want_bad, line, sizeof(line));

	char req[256], buf[1024];
	snprintf(req, sizeof(req), "CONNECT allowed.test:%d HTTP/1.1\r\n\r\n", H.tls_port);
	enum h_outcome r = ask(&g, req, strlen(req), buf, sizeof(buf), NULL);
	cr_assert_eq(r, H_DATA);
	cr_assert(!strncmp(buf, "HTTP/1.1 407 ", 13), "got\n%s", buf);
	cr_assert(strstr(buf, "Proxy-Authenticate: Basic realm=\"snigate\"\r\n"), "%s", buf);
	const char *want_none[] = {"\"reason\":\"auth_required\"", NULL};
	expect_log(&g, want_none, line, sizeof(line));
	/* The credentials never reach the log. */
	cr_assert_null(strstr(h_read_file(g.p->out), "s3cret"));
	cr_assert_null(strstr(h_read_file(g.p->out), "YWxpY2U6"));
}
