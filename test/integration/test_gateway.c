/* SPDX-License-Identifier: MIT */
/*
 * The gateway's decisions, end to end: real curl and openssl clients, raw
 * ClientHellos from bench/hello, unbound as the resolver and either openssl
 * s_server or the C sink as the upstream. Every denial must be a reset that
 * reaches nothing upstream; every allowed connection must carry the client's
 * bytes, ClientHello first, unchanged.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test/integration/harness.h"

static void setup(void)
{
	h_start_unbound();
}

TestSuite(gateway, .init = setup, .fini = h_teardown, .timeout = 120);

#define LOG_MS 5000 /* an access line is written at close; allow for a loaded machine */

static void expect_log(const struct h_gw *g, const char *const needles[], char *line, size_t len)
{
	if (h_log_wait(g, needles, LOG_MS, line, len))
		return;
	char want[512] = "";
	for (int i = 0; needles[i]; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), " %s", needles[i]);
	char *log = h_read_file(g->p->out);
	cr_assert_fail("no access log line with%s; the log is:\n%s", want, log);
}

/* The only access line of a one-connection gateway; "(none)" if it never came. */
static const char *only_line(const struct h_gw *g, char *line, size_t len)
{
	const char *any[] = {"{", NULL};
	if (!h_log_wait(g, any, LOG_MS, line, len))
		snprintf(line, len, "(none)");
	return line;
}

/* curl through the gateway with --connect-to; returns curl's exit code. */
static int curl(const struct h_gw *g, const char *host, struct h_proc **p)
{
	char connect_to[128], url[128], body[300];

	h_make_cert();
	snprintf(connect_to, sizeof(connect_to), "%s:443:127.0.0.1:%d", host, g->port);
	snprintf(url, sizeof(url), "https://%s/", host);
	h_path(body, sizeof(body), "body");
	const char *argv[] = {"curl",	  "-sS",	  "--max-time", "20", "--connect-to",
			      connect_to, "--cacert",	  H.cert,	"-o", body,
			      "-w",	  "%{http_code}", url,		NULL};
	return h_run("curl", argv, NULL, 30000, p);
}

/* openssl s_client through the gateway; servername NULL means -noservername. */
static int s_client(const struct h_gw *g, const char *servername, struct h_proc **p)
{
	char connect[64];

	h_make_cert();
	snprintf(connect, sizeof(connect), "127.0.0.1:%d", g->port);
	const char *argv[12] = {"openssl",
				"s_client",
				"-connect",
				connect,
				"-CAfile",
				H.cert,
				"-verify_return_error"};
	int n = 7;
	if (servername) {
		argv[n++] = "-servername";
		argv[n++] = servername;
	} else {
		argv[n++] = "-noservername";
	}
	argv[n] = NULL;
	return h_run("s_client", argv, NULL, 30000, p);
}

/* One raw connection: the hello (and nothing else), then the first thing that happens. */
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

/* Connect, send bytes as they are, report what came back. */
static enum h_outcome raw_bytes(const struct h_gw *g, const void *buf, size_t len)
{
	int fd = h_connect(g->port);

	h_send_all(fd, buf, len);
	enum h_outcome r = h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);
	return r;
}

/* ---- 1. allowed names ---- */

Test(gateway, curl_allowed_name_gets_upstream_page, .timeout = 120)
{
	struct h_proc *p;
	char line[1024], up[64], want_up[64];

	h_start_s_server();
	struct h_gw g = h_snigate(H.tls_port, NULL);
	int rc = curl(&g, "allowed.test", &p);
	char *out = h_read_file(p->out), *err = h_read_file(p->err);
	cr_assert_eq(rc, 0, "curl exited %d: %s", rc, err);
	cr_assert_str_eq(out, "200", "HTTP status %s", out);

	char bp[300];
	char *body = h_read_file(h_path(bp, sizeof(bp), "body"));
	/* s_server -www answers with a page about its own TLS session. */
	cr_assert(strstr(body, "s_server") || strstr(body, "Ciphers"),
		  "not s_server's page:\n%.400s", body);

	const char *want[] = {"\"sni\":\"allowed.test\"", "\"decision\":\"allow\"", NULL};
	expect_log(&g, want, line, sizeof(line));
	snprintf(want_up, sizeof(want_up), "127.0.0.1:%d", H.tls_port);
	cr_assert(h_json_str(line, "upstream", up, sizeof(up)), "no upstream in %s", line);
	cr_assert_str_eq(up, want_up);
	long long b;
	cr_assert(h_json_num(line, "bytes_up", &b) && b > 200, "bytes_up in %s", line);
	cr_assert(h_json_num(line, "bytes_down", &b) && b > 500, "bytes_down in %s", line);
	char reason[32];
	cr_assert(h_json_str(line, "reason", reason, sizeof(reason)));
	cr_assert_str_eq(reason, "done", "curl and s_server both close cleanly: %s", line);
}

Test(gateway, s_client_verifies_upstream_certificate, .timeout = 120)
{
	struct h_proc *p;

	h_start_s_server();
	struct h_gw g = h_snigate(H.tls_port, NULL);
	int rc = s_client(&g, "allowed.test", &p);
	char *out = h_read_file(p->out), *err = h_read_file(p->err);
	cr_assert_eq(rc, 0, "s_client exited %d:\n%s\n%s", rc, out, err);
	cr_assert(strstr(out, "Verify return code: 0 (ok)"), "not verified:\n%s", out);
	cr_assert(strstr(out, "CN = allowed.test"), "not the upstream's certificate:\n%s", out);
}

Test(gateway, curl_wildcard_name, .timeout = 120)
{
	struct h_proc *p;
	char line[1024];

	h_start_s_server();
	struct h_gw g = h_snigate(H.tls_port, NULL);
	int rc = curl(&g, "x.wild.test", &p);
	char *out = h_read_file(p->out), *err = h_read_file(p->err);
	cr_assert_eq(rc, 0, "curl exited %d: %s", rc, err);
	cr_assert_str_eq(out, "200");
	const char *want[] = {"\"sni\":\"x.wild.test\"", "\"decision\":\"allow\"", NULL};
	expect_log(&g, want, line, sizeof(line));
}

Test(gateway, uppercase_sni_is_allowed_and_logged_lower_case, .timeout = 120)
{
	struct h_proc *p;
	char line[1024];

	h_start_s_server();
	struct h_gw g = h_snigate(H.tls_port, NULL);
	int rc = s_client(&g, "ALLOWED.TEST", &p);
	char *out = h_read_file(p->out), *err = h_read_file(p->err);
	cr_assert_eq(rc, 0, "s_client exited %d:\n%s\n%s", rc, out, err);
	cr_assert(strstr(out, "Verify return code: 0 (ok)"), "not verified:\n%s", out);
	const char *want[] = {"\"sni\":\"allowed.test\"", "\"decision\":\"allow\"", NULL};
	expect_log(&g, want, line, sizeof(line));
}

Test(gateway, wildcard_takes_deeper_labels_and_mixed_case_not_the_apex, .timeout = 120)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	char line[1024];
	enum h_outcome r;

	/* The sink says nothing and closes after our FIN, so a timeout means "connected". */
	r = raw_hello(&g, "a.b.wild.test", 1500);
	cr_assert_eq(r, H_TIMEOUT, "a.b.wild.test: %s", h_outcome_str(r));
	cr_assert(h_sink_wait(s, 0, 5000), "a.b.wild.test never reached the upstream");
	r = raw_hello(&g, "X.Wild.TEST", 1500);
	cr_assert_eq(r, H_TIMEOUT, "X.Wild.TEST: %s", h_outcome_str(r));
	cr_assert(h_sink_wait(s, 1, 5000), "X.Wild.TEST never reached the upstream");
	const char *want[] = {"\"sni\":\"x.wild.test\"", "\"decision\":\"allow\"", NULL};
	expect_log(&g, want, line, sizeof(line));

	r = raw_hello(&g, "wild.test", 5000);
	cr_assert_eq(r, H_RESET, "the apex wild.test is not allowed by *.wild.test: %s",
		     h_outcome_str(r));
	const char *want_apex[] = {"\"sni\":\"wild.test\"", "\"reason\":\"not_allowed\"", NULL};
	expect_log(&g, want_apex, line, sizeof(line));
	h_sleep_ms(200);
	cr_assert_eq(h_sink_accepted(s), 2, "the apex reached the upstream");
}

/* ---- 2. denied name ---- */

Test(gateway, curl_denied_name_is_reset_and_nothing_connects, .timeout = 120)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	struct h_proc *p;
	char line[1024];

	h_make_cert();
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	int rc = curl(&g, "denied.test", &p);
	char *err = h_read_file(p->err);
	cr_assert(rc == 35 || rc == 56, "curl exit %d (want 35 or 56): %s", rc, err);
	cr_assert(strcasestr(err, "reset"), "curl did not see a reset: %s", err);

	const char *want[] = {"\"sni\":\"denied.test\"", "\"decision\":\"deny\"",
			      "\"reason\":\"not_allowed\"", "\"upstream\":null", NULL};
	expect_log(&g, want, line, sizeof(line));
	h_sleep_ms(200);
	cr_assert_eq(h_sink_accepted(s), 0, "a denied name reached the upstream");
}

Test(gateway, raw_denied_hello_gets_econnreset, .timeout = 120)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	char line[1024];

	enum h_outcome r = raw_hello(&g, "denied.test", 5000);
	cr_assert_eq(r, H_RESET, "denied.test: %s", h_outcome_str(r));
	/* A name that only shares a suffix with an allowed one is still another name. */
	r = raw_hello(&g, "notallowed.test", 5000);
	cr_assert_eq(r, H_RESET, "notallowed.test: %s", h_outcome_str(r));
	const char *want[] = {"\"sni\":\"notallowed.test\"", "\"reason\":\"not_allowed\"", NULL};
	expect_log(&g, want, line, sizeof(line));
	h_sleep_ms(200);
	cr_assert_eq(h_sink_accepted(s), 0, "a denied name reached the upstream");

	cr_assert_eq(h_snigate_stop(&g), 0, "snigate did not exit cleanly on SIGTERM");
	long long v;
	cr_assert(h_stats(&g, "not_allowed", &v), "no stats line with not_allowed");
	cr_assert_eq(v, 2);
	cr_assert(h_stats(&g, "denied", &v));
	cr_assert_eq(v, 2);
	cr_assert(h_stats(&g, "allowed", &v));
	cr_assert_eq(v, 0);
}

/* ---- 3. no SNI, garbage ---- */

Test(gateway, no_sni_and_garbage_are_reset_and_counted, .timeout = 120)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	struct h_proc *p;
	char line[1024];
	uint8_t buf[512];

	h_make_cert();
	struct h_gw g = h_snigate(h_sink_port(s), NULL);

	int rc = s_client(&g, NULL, &p);
	cr_assert_neq(rc, 0, "s_client -noservername got through");
	const char *want_nosni[] = {"\"decision\":\"deny\"", "\"reason\":\"no_sni\"", NULL};
	expect_log(&g, want_nosni, line, sizeof(line));
	cr_assert(strstr(line, "\"sni\":null"), "a hello without SNI logs sni null: %s", line);

	enum h_outcome r = raw_hello(&g, NULL, 5000);
	cr_assert_eq(r, H_RESET, "hello without SNI: %s", h_outcome_str(r));

	/* A request line on a listener that also serves CONNECT: 405, not a reset. */
	static const char http[] = "GET / HTTP/1.1\r\nHost: allowed.test\r\n\r\n";
	r = raw_bytes(&g, http, sizeof(http) - 1);
	cr_assert_eq(r, H_DATA, "plain HTTP: %s", h_outcome_str(r));
	const char *want_http[] = {"\"reason\":\"bad_method\"", "\"path\":\"connect\"", NULL};
	expect_log(&g, want_http, line, sizeof(line));

	h_pattern(42, 0, buf, sizeof(buf));
	buf[0] = 0x80; /* neither a TLS record type nor a method: fails at byte 0 */
	r = raw_bytes(&g, buf, sizeof(buf));
	cr_assert_eq(r, H_RESET, "random bytes: %s", h_outcome_str(r));
	const char *want_other[] = {"\"reason\":\"unknown_protocol\"", NULL};
	expect_log(&g, want_other, line, sizeof(line));

	/* A whole handshake record that is not a ClientHello (a ServerHello type). */
	h_pattern(43, 0, buf, 69);
	memcpy(buf, "\x16\x03\x01\x00\x40\x02", 6);
	r = raw_bytes(&g, buf, 69);
	cr_assert_eq(r, H_RESET, "handshake record with type 2: %s", h_outcome_str(r));
	const char *want_nch[] = {"\"reason\":\"not_client_hello\"", NULL};
	expect_log(&g, want_nch, line, sizeof(line));

	/* A ClientHello whose extensions length runs past its message. */
	struct hello_opts o = {.sni = "allowed.test"};
	size_t n = h_hello(&o, buf, sizeof(buf));
	size_t ext_len_at = 5 + 4 + 2 + 32 + 1 + buf[5 + 4 + 2 + 32];
	ext_len_at += 2 + ((buf[ext_len_at] << 8) | buf[ext_len_at + 1]);
	ext_len_at += 1 + buf[ext_len_at];
	buf[ext_len_at] = 0xff;
	r = raw_bytes(&g, buf, n);
	cr_assert_eq(r, H_RESET, "hello with a bad extensions length: %s", h_outcome_str(r));
	const char *want_mal[] = {"\"reason\":\"malformed\"", NULL};
	expect_log(&g, want_mal, line, sizeof(line));

	cr_assert_eq(h_log_count(&g, NULL), 6, "one access line per connection");
	cr_assert_eq(h_log_count(&g, "\"decision\":\"deny\""), 6);
	h_sleep_ms(200);
	cr_assert_eq(h_sink_accepted(s), 0, "something reached the upstream");

	cr_assert_eq(h_snigate_stop(&g), 0, "snigate did not exit cleanly on SIGTERM");
	long long v;
	cr_assert(h_stats(&g, "accepted", &v), "no stats line");
	cr_assert_eq(v, 6, "accepted");
	cr_assert(h_stats(&g, "denied", &v));
	cr_assert_eq(v, 6, "denied");
	cr_assert(h_stats(&g, "no_sni", &v));
	cr_assert_eq(v, 2, "no_sni");
	cr_assert(h_stats(&g, "bad_method", &v));
	cr_assert_eq(v, 1, "bad_method (the GET)");
	cr_assert(h_stats(&g, "unknown_protocol", &v));
	cr_assert_eq(v, 1, "unknown_protocol (random bytes)");
	cr_assert(h_stats(&g, "not_client_hello", &v));
	cr_assert_eq(v, 1, "not_client_hello");
	cr_assert(h_stats(&g, "malformed", &v));
	cr_assert_eq(v, 1, "malformed");
	cr_assert(h_stats(&g, "relayed", &v));
	cr_assert_eq(v, 0, "relayed");
}

/* ---- 4, 5. how the hello arrives ---- */

/*
 * Send hello in pieces (cut at the given offsets, pausing between them), then
 * FIN; the sink must see exactly the hello, then EOF.
 */
static void hello_reaches_upstream(struct h_gw *g, struct h_sink *s, unsigned idx,
				   const uint8_t *hello, size_t n, const size_t *cuts,
				   unsigned pause_ms)
{
	int fd = h_connect(g->port);
	size_t at = 0;

	for (const size_t *c = cuts; c && *c; c++) {
		cr_assert(*c > at && *c < n);
		h_send_all(fd, hello + at, *c - at);
		at = *c;
		h_sleep_ms(pause_ms);
	}
	h_send_all(fd, hello + at, n - at);
	shutdown(fd, SHUT_WR);
	/* The sink closes after our FIN: EOF here, no reset. */
	enum h_outcome r = h_wait(fd, 10000, NULL, 0, NULL);
	close(fd);
	cr_assert_eq(r, H_EOF, "hello of %zu bytes: the client saw %s", n, h_outcome_str(r));
	const struct h_sink_conn *c = h_sink_wait(s, idx, 5000);
	cr_assert_not_null(c, "hello of %zu bytes never reached the upstream", n);
	cr_assert(c->eof, "upstream saw an error (%d), not EOF", c->rerr);
	cr_assert_eq(c->received, n, "upstream got %llu bytes of a %zu-byte hello",
		     (unsigned long long)c->received, n);
	cr_assert_eq(c->cap_len, n);
	cr_assert_arr_eq(c->cap, hello, n, "the hello reached the upstream altered");
}

Test(gateway, hello_split_across_segments_is_relayed_intact, .timeout = 120)
{
	struct h_sink_opts so = {.capture = 65536};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	uint8_t hello[4096];
	struct hello_opts o = {.sni = "allowed.test"};
	size_t n = h_hello(&o, hello, sizeof(hello));
	char line[1024];

	size_t mid[] = {n / 2, 0};
	hello_reaches_upstream(&g, s, 0, hello, n, mid, 200);
	size_t hdr[] = {3, 0}; /* inside the record header */
	hello_reaches_upstream(&g, s, 1, hello, n, hdr, 200);
	size_t many[] = {1, 5, 9, 60, n - 1, 0};
	hello_reaches_upstream(&g, s, 2, hello, n, many, 100);

	const char *want[] = {"\"reason\":\"done\"", NULL};
	expect_log(&g, want, line, sizeof(line));
	long long up;
	cr_assert(h_json_num(line, "bytes_up", &up));
	cr_assert_eq(up, (long long)n, "bytes_up %lld for a %zu-byte hello", up, n);
}

Test(gateway, large_hellos_are_relayed_intact, .timeout = 120)
{
	struct h_sink_opts so = {.capture = 65536};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	static uint8_t hello[32768];

	struct hello_opts pq = {.sni = "big.test", .size = 1800, .pq_keyshare = true};
	size_t n = h_hello(&pq, hello, sizeof(hello));
	cr_assert_eq(n, 1800);
	hello_reaches_upstream(&g, s, 0, hello, n, NULL, 0);
	/* Over one MSS, and in two segments a moment apart. */
	size_t cut[] = {1400, 0};
	hello_reaches_upstream(&g, s, 1, hello, n, cut, 200);

	struct hello_opts k8 = {.sni = "big.test", .size = 8192, .records = 3};
	n = h_hello(&k8, hello, sizeof(hello));
	cr_assert_eq(n, 8192);
	hello_reaches_upstream(&g, s, 2, hello, n, NULL, 0);
	size_t cuts[] = {3000, 6000, 0};
	hello_reaches_upstream(&g, s, 3, hello, n, cuts, 150);

	struct hello_opts ech = {.sni = "big.test", .ech = true, .grease = true};
	n = h_hello(&ech, hello, sizeof(hello));
	hello_reaches_upstream(&g, s, 4, hello, n, NULL, 0);
	char line[1024];
	const char *want[] = {"\"ech\":true", "\"sni\":\"big.test\"", NULL};
	expect_log(&g, want, line, sizeof(line));
}

Test(gateway, hello_over_the_limit_is_reset, .timeout = 120)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	static uint8_t hello[65536];
	char line[1024];

	/* The default limit is 16 KiB. */
	struct hello_opts o = {.sni = "big.test", .size = 20000, .records = 2};
	size_t n = h_hello(&o, hello, sizeof(hello));
	enum h_outcome r = raw_bytes(&g, hello, n);
	cr_assert_eq(r, H_RESET, "a %zu-byte hello: %s", n, h_outcome_str(r));
	const char *want[] = {"\"reason\":\"too_large\"", "\"decision\":\"deny\"", NULL};
	expect_log(&g, want, line, sizeof(line));
	h_sleep_ms(200);
	cr_assert_eq(h_sink_accepted(s), 0);
}

/* ---- 6. slow and silent clients ---- */

Test(gateway, half_a_hello_is_reset_at_the_hello_timeout, .timeout = 120)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	uint8_t hello[4096];
	struct hello_opts o = {.sni = "allowed.test"};
	size_t n = h_hello(&o, hello, sizeof(hello));
	char line[1024];

	int fd = h_connect(g.port);
	h_send_all(fd, hello, n / 2);
	uint64_t t0 = h_now_ms();
	enum h_outcome r = h_wait(fd, 10000, NULL, 0, NULL);
	uint64_t dt = h_now_ms() - t0;
	close(fd);
	only_line(&g, line, sizeof(line));
	cr_log_info("half a hello: %s after %llu ms (hello timeout 1 s)", h_outcome_str(r),
		    (unsigned long long)dt);
	cr_assert_eq(r, H_RESET, "half a hello: %s after %llu ms; log: %s", h_outcome_str(r),
		     (unsigned long long)dt, line);
	cr_assert(strstr(line, "\"reason\":\"hello_timeout\"") &&
			  strstr(line, "\"decision\":\"deny\""),
		  "want deny/hello_timeout: %s", line);
	cr_assert_geq(dt, 800, "reset after %llu ms, before the 1 s hello timeout: %s",
		      (unsigned long long)dt, line);
	cr_assert_leq(dt, 3000, "reset only after %llu ms, hello timeout is 1 s: %s",
		      (unsigned long long)dt, line);
	cr_assert_eq(h_sink_accepted(s), 0);
}

Test(gateway, half_a_hello_then_fin_is_reset, .timeout = 120)
{
	struct h_gw g = h_snigate(h_free_port(), NULL);
	uint8_t hello[4096];
	struct hello_opts o = {.sni = "allowed.test"};
	size_t n = h_hello(&o, hello, sizeof(hello));
	char line[1024];

	int fd = h_connect(g.port);
	h_send_all(fd, hello, n / 2);
	shutdown(fd, SHUT_WR);
	uint64_t t0 = h_now_ms();
	enum h_outcome r = h_wait(fd, 10000, NULL, 0, NULL);
	uint64_t dt = h_now_ms() - t0;
	close(fd);
	cr_assert_eq(r, H_RESET, "half a hello then FIN: %s", h_outcome_str(r));
	cr_assert_lt(dt, 800, "the FIN was noticed only at the hello timeout (%llu ms)",
		     (unsigned long long)dt);
	const char *want[] = {"\"reason\":\"hello_eof\"", NULL};
	expect_log(&g, want, line, sizeof(line));
}

Test(gateway, silent_client_is_reset, .timeout = 120)
{
	struct h_gw g = h_snigate(h_free_port(), NULL);
	char line[1024];

	/*
	 * Nothing at all. The listener uses TCP_DEFER_ACCEPT, so the kernel holds
	 * such a client back from accept() for a few seconds before the 1 s hello
	 * timeout even starts.
	 */
	int fd = h_connect(g.port);
	uint64_t t0 = h_now_ms();
	enum h_outcome r = h_wait(fd, 15000, NULL, 0, NULL);
	uint64_t dt = h_now_ms() - t0;
	close(fd);
	only_line(&g, line, sizeof(line));
	cr_log_info("silent client: %s after %llu ms", h_outcome_str(r), (unsigned long long)dt);
	cr_assert_eq(r, H_RESET, "silent client: %s after %llu ms; log: %s", h_outcome_str(r),
		     (unsigned long long)dt, line);
	cr_assert(strstr(line, "\"reason\":\"hello_timeout\""), "want hello_timeout: %s", line);
}

/* ---- 9, 10. upstream and DNS failures ---- */

Test(gateway, refused_upstream_resets_the_client_quickly, .timeout = 120)
{
	int closed = h_free_port(); /* nothing listens there */
	struct h_gw g = h_snigate(closed, NULL);
	char line[1024], up[64], want_up[64];

	uint64_t t0 = h_now_ms();
	enum h_outcome r = raw_hello(&g, "allowed.test", 5000);
	uint64_t dt = h_now_ms() - t0;
	only_line(&g, line, sizeof(line));
	cr_assert_eq(r, H_RESET, "allowed name, refused upstream: %s; log: %s", h_outcome_str(r),
		     line);
	cr_assert(strstr(line, "\"reason\":\"connect_refused\"") &&
			  strstr(line, "\"sni\":\"allowed.test\"") &&
			  strstr(line, "\"decision\":\"allow\""),
		  "want allow/connect_refused: %s", line);
	cr_assert_lt(dt, 1000, "reset took %llu ms: %s", (unsigned long long)dt, line);
	snprintf(want_up, sizeof(want_up), "127.0.0.1:%d", closed);
	cr_assert(h_json_str(line, "upstream", up, sizeof(up)), "no upstream in %s", line);
	cr_assert_str_eq(up, want_up);

	cr_assert_eq(h_snigate_stop(&g), 0);
	long long v;
	cr_assert(h_stats(&g, "connect_refused", &v), "no stats line");
	cr_assert_eq(v, 1);
}

Test(gateway, nxdomain_resets_the_client_and_is_counted, .timeout = 120)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	char line[1024];

	enum h_outcome r = raw_hello(&g, "nx.test", 10000);
	cr_assert_eq(r, H_RESET, "allowed name without DNS data: %s", h_outcome_str(r));
	const char *want[] = {"\"reason\":\"dns_nxdomain\"", "\"sni\":\"nx.test\"",
			      "\"upstream\":null", NULL};
	expect_log(&g, want, line, sizeof(line));

	cr_assert_eq(h_snigate_stop(&g), 0);
	long long v;
	cr_assert(h_stats(&g, "dns_nxdomain", &v), "no stats line with dns_nxdomain");
	cr_assert_eq(v, 1);
	cr_assert(h_stats(&g, "allowed", &v));
	cr_assert_eq(v, 1);
	cr_assert(h_stats(&g, "relayed", &v));
	cr_assert_eq(v, 0);
	cr_assert_eq(h_sink_accepted(s), 0);
}

Test(gateway, name_without_ipv4_address_is_nodata, .timeout = 120)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	char line[1024];

	/* V4_ONLY is the default; v6only.test has an AAAA record and no A. */
	enum h_outcome r = raw_hello(&g, "v6only.test", 10000);
	cr_assert_eq(r, H_RESET, "v6only.test: %s", h_outcome_str(r));
	const char *want[] = {"\"reason\":\"dns_nodata\"", NULL};
	expect_log(&g, want, line, sizeof(line));
	cr_assert_eq(h_sink_accepted(s), 0);
}

/* ---- 11. many at once, and no leak ---- */

#define MANY 200

static void many_round(const struct h_gw *g, uint64_t greet_seed)
{
	static const char *const names[] = {"allowed.test", "denied.test", "x.wild.test", NULL};
	static int fds[MANY];
	uint8_t hello[4096], greet[16], want[16];

	h_pattern(greet_seed, 0, want, sizeof(want));
	for (int i = 0; i < MANY; i++)
		fds[i] = h_connect(g->port);
	for (int i = 0; i < MANY; i++) {
		struct hello_opts o = {.sni = names[i % 4 == 3 ? 3 : i % 3]};
		size_t n = h_hello(&o, hello, sizeof(hello));
		h_send_all(fds[i], hello, n);
	}
	for (int i = 0; i < MANY; i++) {
		bool allow = i % 4 != 3 && i % 3 != 1;
		if (allow) {
			enum h_outcome r = h_recv_all(fds[i], greet, sizeof(greet), 15000);
			cr_assert_eq(r, H_DATA, "connection %d (allowed): %s", i, h_outcome_str(r));
			cr_assert_arr_eq(greet, want, sizeof(want), "connection %d: wrong bytes",
					 i);
			shutdown(fds[i], SHUT_WR);
			r = h_wait(fds[i], 15000, NULL, 0, NULL);
			cr_assert_eq(r, H_EOF, "connection %d (allowed) ended with %s", i,
				     h_outcome_str(r));
		} else {
			enum h_outcome r = h_wait(fds[i], 15000, NULL, 0, NULL);
			cr_assert_eq(r, H_RESET, "connection %d (denied): %s", i, h_outcome_str(r));
		}
		close(fds[i]);
	}
}

static int allowed_in_round(void)
{
	int n = 0;
	for (int i = 0; i < MANY; i++)
		n += i % 4 != 3 && i % 3 != 1;
	return n;
}

/*
 * Each worker starts its resolver's thread (an epoll fd and pipes) on its
 * first lookup, and SO_INCOMING_CPU hands a connection to the worker on the
 * CPU that sent it. So run a few connections from every CPU we may use
 * before counting fds, or a worker first used later looks like a leak.
 */
static int warm_every_worker(const struct h_gw *g, uint64_t greet_seed)
{
	cpu_set_t all, one;
	uint8_t hello[4096], greet[16], want[16];
	struct hello_opts o = {.sni = "allowed.test"};
	size_t n = h_hello(&o, hello, sizeof(hello));
	int conns = 0;

	h_pattern(greet_seed, 0, want, sizeof(want));
	cr_assert_eq(sched_getaffinity(0, sizeof(all), &all), 0);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &all))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
		for (int i = 0; i < 4; i++) {
			int fd = h_connect(g->port);
			h_send_all(fd, hello, n);
			enum h_outcome r = h_recv_all(fd, greet, sizeof(greet), 15000);
			cr_assert_eq(r, H_DATA, "warm-up on cpu %d: %s", cpu, h_outcome_str(r));
			cr_assert_arr_eq(greet, want, sizeof(want));
			shutdown(fd, SHUT_WR);
			h_wait(fd, 15000, NULL, 0, NULL);
			close(fd);
			conns++;
		}
	}
	cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0);
	return conns;
}

/* Every connection logs one line as it ends: the count says all are gone. */
static bool wait_log_lines(const struct h_gw *g, int n)
{
	uint64_t end = h_now_ms() + LOG_MS;
	while (h_log_count(g, NULL) < n && h_now_ms() < end)
		h_sleep_ms(20);
	return h_log_count(g, NULL) == n;
}

static bool fds_back_to(pid_t pid, int base, int timeout_ms, int *now, int *socks, int *pipes)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		*now = h_fd_count(pid, socks, pipes);
		if (*now <= base)
			return true;
		if (h_now_ms() >= end)
			return false;
		h_sleep_ms(50);
	}
}

Test(gateway, many_concurrent_connections_get_their_outcome_and_leak_nothing, .timeout = 240)
{
	struct h_sink_opts so = {.send_len = 16, .send_seed = 7};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	int base, bs, bp, now, ns, np;
	int allowed = allowed_in_round();

	/* Warm every worker's resolver, cache and pipe pool; count fds after that. */
	int warm = warm_every_worker(&g, 7);
	unsigned warm_up = (unsigned)warm;
	cr_assert_eq(h_sink_accepted(s), warm_up);
	many_round(&g, 7);
	cr_assert(wait_log_lines(&g, warm + MANY), "%d access lines after %d connections",
		  h_log_count(&g, NULL), warm + MANY);
	cr_assert_eq(h_sink_accepted(s), warm_up + (unsigned)allowed);
	/* The access line is written just before the fds are closed. */
	h_sleep_ms(300);
	base = h_fd_count(g.p->pid, &bs, &bp);
	cr_assert_gt(base, 0);
	char before[1024], after[1024];
	h_fd_summary(g.p->pid, before, sizeof(before));

	for (int round = 0; round < 2; round++)
		many_round(&g, 7);
	cr_assert_eq(h_sink_accepted(s), warm_up + 3u * (unsigned)allowed,
		     "allowed connections upstream");
	cr_assert(wait_log_lines(&g, warm + 3 * MANY), "%d access lines after %d connections",
		  h_log_count(&g, NULL), warm + 3 * MANY);
	cr_assert_eq(h_log_count(&g, "\"reason\":\"done\""), (int)warm_up + 3 * allowed);
	cr_assert_eq(h_log_count(&g, "\"decision\":\"deny\""), 3 * (MANY - allowed));

	bool ok = fds_back_to(g.p->pid, base, 10000, &now, &ns, &np);
	h_fd_summary(g.p->pid, after, sizeof(after));
	cr_assert(ok,
		  "snigate holds %d fds (%d sockets, %d pipes) after the connections closed; "
		  "%d (%d sockets, %d pipes) before.\nbefore: %s\nafter:  %s",
		  now, ns, np, base, bs, bp, before, after);

	cr_assert_eq(h_snigate_stop(&g), 0);
	long long v;
	cr_assert(h_stats(&g, "accepted", &v), "no stats line");
	cr_assert_eq(v, warm + 3 * MANY);
	cr_assert(h_stats(&g, "relayed", &v));
	cr_assert_eq(v, (long long)warm_up + 3 * allowed);
	/* Two names, two threads, answers cached for 300 s: at most one query each. */
	cr_assert(h_stats(&g, "dns_queries", &v));
	cr_assert_leq(v, 4, "%lld DNS queries for 2 names on 2 threads", v);
}

/* ---- more failures and edges ---- */

Test(gateway, unanswered_connect_times_out, .timeout = 120)
{
	char line[1024];
	int port = h_listen_full();
	const char *extra[] = {"--connect-timeout", "500ms", NULL};
	struct h_gw g = h_snigate(port, extra);

	uint64_t t0 = h_now_ms();
	enum h_outcome r = raw_hello(&g, "allowed.test", 10000);
	uint64_t dt = h_now_ms() - t0;
	only_line(&g, line, sizeof(line));
	cr_log_info("connect to a full queue: %s after %llu ms (connect timeout 500 ms)",
		    h_outcome_str(r), (unsigned long long)dt);
	cr_assert_eq(r, H_RESET, "connect that never completes: %s after %llu ms; log: %s",
		     h_outcome_str(r), (unsigned long long)dt, line);
	cr_assert(strstr(line, "\"reason\":\"connect_timeout\""), "want connect_timeout: %s", line);
	cr_assert_geq(dt, 400, "reset after %llu ms, before the connect timeout: %s",
		      (unsigned long long)dt, line);
	cr_assert_leq(dt, 3000, "reset only after %llu ms: %s", (unsigned long long)dt, line);
}

Test(gateway, unanswered_dns_times_out, .timeout = 120)
{
	char line[1024];
	/* The default DNS timeout is 5 s; --dns-timeout is not part of the contract. */
	struct h_gw g = h_snigate_dns(h_free_port(), h_dns_blackhole(), NULL);

	uint64_t t0 = h_now_ms();
	enum h_outcome r = raw_hello(&g, "allowed.test", 20000);
	uint64_t dt = h_now_ms() - t0;
	only_line(&g, line, sizeof(line));
	cr_log_info("DNS that never answers: %s after %llu ms (DNS timeout 5 s)", h_outcome_str(r),
		    (unsigned long long)dt);
	cr_assert_eq(r, H_RESET, "DNS that never answers: %s; log: %s", h_outcome_str(r), line);
	cr_assert(strstr(line, "\"reason\":\"dns_timeout\""), "want dns_timeout after %llu ms: %s",
		  (unsigned long long)dt, line);
	cr_assert_geq(dt, 4500, "reset after %llu ms, before the DNS timeout: %s",
		      (unsigned long long)dt, line);
	cr_assert_leq(dt, 8000, "reset only after %llu ms: %s", (unsigned long long)dt, line);
}

Test(gateway, refused_dns_answer_is_dns_error, .timeout = 120)
{
	char line[1024];
	struct h_gw g = h_snigate(h_free_port(), NULL);

	uint64_t t0 = h_now_ms();
	enum h_outcome r = raw_hello(&g, "refused.test", 20000);
	uint64_t dt = h_now_ms() - t0;
	cr_log_info("REFUSED from the forwarder: %s after %llu ms", h_outcome_str(r),
		    (unsigned long long)dt);
	cr_assert_eq(r, H_RESET, "REFUSED from the forwarder: %s", h_outcome_str(r));
	const char *want[] = {"\"sni\":\"refused.test\"", NULL};
	expect_log(&g, want, line, sizeof(line));
	cr_assert(strstr(line, "\"reason\":\"dns_error\""), "want dns_error: %s", line);
}

Test(gateway, next_address_after_a_refused_one, .timeout = 120)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	char line[1024], want_up[64];

	/* multi.test is 127.0.0.2 (nothing listens there), then 127.0.0.1. */
	for (unsigned i = 0; i < 3; i++) {
		enum h_outcome r = raw_hello(&g, "multi.test", 1500);
		cr_assert_eq(r, H_TIMEOUT, "multi.test #%u: %s", i, h_outcome_str(r));
		cr_assert(h_sink_wait(s, i, 5000), "multi.test #%u never reached the upstream", i);
	}
	snprintf(want_up, sizeof(want_up), "\"upstream\":\"127.0.0.1:%d\"", h_sink_port(s));
	const char *want[] = {"\"sni\":\"multi.test\"", want_up, NULL};
	expect_log(&g, want, line, sizeof(line));
}

Test(gateway, ipv6_lookup_family, .timeout = 120)
{
	char line[1024], want_up[64];
	int port = h_free_port();
	const char *extra[] = {"--lookup-family", "V6_ONLY", NULL};
	struct h_gw g = h_snigate(port, extra);

	enum h_outcome r = raw_hello(&g, "allowed.test", 10000);
	cr_assert_eq(r, H_RESET, "allowed.test has no AAAA: %s", h_outcome_str(r));
	const char *want_nd[] = {"\"sni\":\"allowed.test\"", "\"reason\":\"dns_nodata\"", NULL};
	expect_log(&g, want_nd, line, sizeof(line));

	/* v6only.test is ::1, where nothing listens on that port. */
	r = raw_hello(&g, "v6only.test", 10000);
	cr_assert_eq(r, H_RESET, "v6only.test: %s", h_outcome_str(r));
	snprintf(want_up, sizeof(want_up), "\"upstream\":\"[::1]:%d\"", port);
	const char *want_v6[] = {"\"sni\":\"v6only.test\"", want_up, NULL};
	expect_log(&g, want_v6, line, sizeof(line));
	cr_assert(strstr(line, "\"reason\":\"connect_refused\""), "%s", line);
}

Test(gateway, sni_edge_names, .timeout = 120)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	char line[1024], long_label[80];
	enum h_outcome r;

	/* One trailing dot is tolerated and matched without it. */
	r = raw_hello(&g, "allowed.test.", 1500);
	cr_assert_eq(r, H_TIMEOUT, "allowed.test. (trailing dot): %s", h_outcome_str(r));
	cr_assert(h_sink_wait(s, 0, 5000), "allowed.test. never reached the upstream");
	const char *want_dot[] = {"\"sni\":\"allowed.test\"", "\"decision\":\"allow\"", NULL};
	expect_log(&g, want_dot, line, sizeof(line));

	r = raw_hello(&g, "bad!name.test", 5000);
	cr_assert_eq(r, H_RESET, "bad!name.test: %s", h_outcome_str(r));
	const char *want_inv[] = {"\"reason\":\"name_invalid\"", NULL};
	expect_log(&g, want_inv, line, sizeof(line));

	memset(long_label, 'a', 64);
	strcpy(long_label + 64, ".test");
	r = raw_hello(&g, long_label, 5000);
	cr_assert_eq(r, H_RESET, "64-byte label: %s", h_outcome_str(r));
	const char *want_long[] = {"\"reason\":\"name_too_long\"", NULL};
	expect_log(&g, want_long, line, sizeof(line));

	/* A prefix of an allowed name, and an allowed name inside a longer one. */
	r = raw_hello(&g, "allowed.tes", 5000);
	cr_assert_eq(r, H_RESET, "allowed.tes: %s", h_outcome_str(r));
	r = raw_hello(&g, "allowed.test.evil", 5000);
	cr_assert_eq(r, H_RESET, "allowed.test.evil: %s", h_outcome_str(r));
	h_sleep_ms(200);
	cr_assert_eq(h_sink_accepted(s), 1);
}

Test(gateway, slow_hellos_do_not_hold_up_others, .timeout = 120)
{
	struct h_sink_opts so = {.send_len = 16, .send_seed = 9};
	struct h_sink *s = h_sink_start(&so);
	const char *extra[] = {"--client-hello-timeout", "5s", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);
	uint8_t hello[4096], greet[16];
	struct hello_opts o = {.sni = "allowed.test"};
	size_t n = h_hello(&o, hello, sizeof(hello));
	static int slow[100];
	char line[1024];

	for (int i = 0; i < 100; i++) {
		slow[i] = h_connect(g.port);
		h_send_all(slow[i], hello, n / 2);
	}
	h_sleep_ms(200);
	uint64_t t0 = h_now_ms();
	int fd = h_connect(g.port);
	h_send_all(fd, hello, n);
	enum h_outcome r = h_recv_all(fd, greet, sizeof(greet), 10000);
	uint64_t dt = h_now_ms() - t0;
	cr_assert_eq(r, H_DATA, "a whole hello among 100 halves: %s", h_outcome_str(r));
	cr_assert_lt(dt, 2500, "a whole hello waited %llu ms behind 100 slow ones",
		     (unsigned long long)dt);
	shutdown(fd, SHUT_WR);
	close(fd);
	for (int i = 0; i < 100; i++) {
		r = h_wait(slow[i], 15000, NULL, 0, NULL);
		cr_assert_eq(r, H_RESET, "slow hello %d: %s", i, h_outcome_str(r));
		close(slow[i]);
	}
	const char *want[] = {"\"reason\":\"done\"", NULL};
	expect_log(&g, want, line, sizeof(line));
	uint64_t end = h_now_ms() + LOG_MS;
	while (h_log_count(&g, "hello_timeout") < 100 && h_now_ms() < end)
		h_sleep_ms(20);
	cr_assert_eq(h_log_count(&g, "hello_timeout"), 100);
}

Test(gateway, access_log_fields, .timeout = 120)
{
	struct h_gw g = h_snigate(h_free_port(), NULL);
	struct sockaddr_in me;
	socklen_t ml = sizeof(me);
	char line[1024], v[128], want[64];
	long long n;

	int fd = h_connect(g.port);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&me, &ml), 0);
	uint8_t hello[4096];
	struct hello_opts o = {.sni = "denied.test"};
	size_t hl = h_hello(&o, hello, sizeof(hello));
	h_send_all(fd, hello, hl);
	h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);

	const char *needles[] = {"\"sni\":\"denied.test\"", NULL};
	expect_log(&g, needles, line, sizeof(line));
	cr_assert_eq(line[0], '{', "not a JSON object: %s", line);
	cr_assert_eq(line[strlen(line) - 1], '}', "not a JSON object: %s", line);
	cr_assert(h_json_str(line, "ts", v, sizeof(v)), "no ts: %s", line);
	/* 2026-11-28T14:00:00.123Z */
	cr_assert(strlen(v) == 24 && v[4] == '-' && v[10] == 'T' && v[19] == '.' && v[23] == 'Z',
		  "ts %s is not RFC 3339 UTC with milliseconds", v);
	snprintf(want, sizeof(want), "127.0.0.1:%d", ntohs(me.sin_port));
	cr_assert(h_json_str(line, "client", v, sizeof(v)), "no client: %s", line);
	cr_assert_str_eq(v, want, "client");
	snprintf(want, sizeof(want), "127.0.0.1:%d", g.port);
	cr_assert(h_json_str(line, "listener", v, sizeof(v)), "no listener: %s", line);
	cr_assert_str_eq(v, want, "listener");
	cr_assert(strstr(line, "\"decision\":\"deny\""), "%s", line);
	cr_assert(strstr(line, "\"upstream\":null"), "%s", line);
	cr_assert(h_json_num(line, "bytes_up", &n) && n == 0, "bytes_up of a denied hello: %s",
		  line);
	cr_assert(h_json_num(line, "bytes_down", &n) && n == 0, "%s", line);
	cr_assert(h_json_num(line, "duration_ms", &n) && n >= 0 && n < 5000, "%s", line);
	cr_assert(strstr(line, "\"ech\":false"), "%s", line);
}

Test(gateway, no_access_log_flag_silences_stdout, .timeout = 120)
{
	const char *extra[] = {"--no-access-log", NULL};
	struct h_gw g = h_snigate(h_free_port(), extra);

	enum h_outcome r = raw_hello(&g, "denied.test", 5000);
	cr_assert_eq(r, H_RESET);
	cr_assert_eq(h_snigate_stop(&g), 0);
	char *out = h_read_file(g.p->out);
	cr_assert_str_empty(out, "--no-access-log, yet stdout has:\n%s", out);
	long long v;
	cr_assert(h_stats(&g, "not_allowed", &v), "no stats line");
	cr_assert_eq(v, 1, "counters must count without the access log");
}

Test(gateway, ipv6_listener_next_to_an_ipv4_one, .timeout = 120)
{
	struct h_sink_opts so = {.send_len = 16, .send_seed = 3};
	struct h_sink *s = h_sink_start(&so);
	char listen6[64], want[64], line[1024];
	int p6 = h_free_port();
	uint8_t hello[4096], greet[16];
	struct hello_opts o = {.sni = "allowed.test"};
	size_t n = h_hello(&o, hello, sizeof(hello));

	snprintf(listen6, sizeof(listen6), "[::1]:%d", p6);
	const char *extra[] = {"--listen", listen6, NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);

	int fds[2] = {h_connect6(p6), h_connect(g.port)};
	for (int i = 0; i < 2; i++) {
		h_send_all(fds[i], hello, n);
		enum h_outcome r = h_recv_all(fds[i], greet, sizeof(greet), 5000);
		cr_assert_eq(r, H_DATA, "%s listener: %s", i ? "IPv4" : "IPv6", h_outcome_str(r));
		shutdown(fds[i], SHUT_WR);
		h_wait(fds[i], 5000, NULL, 0, NULL);
		close(fds[i]);
	}
	snprintf(want, sizeof(want), "\"listener\":\"[::1]:%d\"", p6);
	const char *want6[] = {want, "\"client\":\"[::1]:", "\"reason\":\"done\"", NULL};
	expect_log(&g, want6, line, sizeof(line));
	snprintf(want, sizeof(want), "\"listener\":\"127.0.0.1:%d\"", g.port);
	const char *want4[] = {want, "\"reason\":\"done\"", NULL};
	expect_log(&g, want4, line, sizeof(line));
}

Test(gateway, every_listener_serves, .timeout = 120)
{
	struct h_sink_opts so = {.send_len = 16, .send_seed = 5};
	struct h_sink *s = h_sink_start(&so);
	char l1[64], l2[64];
	int ports[3];
	uint8_t hello[4096], greet[16];
	struct hello_opts o = {.sni = "allowed.test"};
	size_t n = h_hello(&o, hello, sizeof(hello));

	/* The harness adds the first --listen; two more after it. */
	ports[1] = h_free_port();
	do
		ports[2] = h_free_port();
	while (ports[2] == ports[1]);
	snprintf(l1, sizeof(l1), "127.0.0.1:%d", ports[1]);
	snprintf(l2, sizeof(l2), "127.0.0.1:%d", ports[2]);
	const char *extra[] = {"--listen", l1, "--listen", l2, NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);
	ports[0] = g.port;

	for (int i = 0; i < 3; i++) {
		int fd = h_connect(ports[i]);
		h_send_all(fd, hello, n);
		enum h_outcome r = h_recv_all(fd, greet, sizeof(greet), 5000);
		shutdown(fd, SHUT_WR);
		close(fd);
		cr_assert_eq(r, H_DATA, "listener %d of 3 (127.0.0.1:%d): %s", i + 1, ports[i],
			     h_outcome_str(r));
	}
}

Test(gateway, max_connections_resets_the_excess, .timeout = 120)
{
	char conf[300], line[1024];
	uint8_t hello[4096];
	struct hello_opts o = {.sni = "allowed.test"};
	size_t n = h_hello(&o, hello, sizeof(hello));

	/* Only limits matter here: the listener and allowlist are replaced by the flags. */
	h_write_file(h_path(conf, sizeof(conf), "limits.yaml"), "listeners:\n"
								"  - address: 127.0.0.1:8443\n"
								"allow:\n"
								"  - placeholder.test\n"
								"limits:\n"
								"  max_connections: 1\n");
	const char *extra[] = {"-c", conf, "--threads", "1", NULL};
	struct h_gw g = h_snigate(h_free_port(), extra);

	int a = h_connect(g.port);
	h_send_all(a, hello, n / 2);
	h_sleep_ms(300);
	int b = h_connect(g.port);
	h_send_all(b, hello, n / 2);
	uint64_t t0 = h_now_ms();
	enum h_outcome r = h_wait(b, 5000, NULL, 0, NULL);
	uint64_t dt = h_now_ms() - t0;
	close(b);
	cr_assert_eq(r, H_RESET, "a second connection over max_connections 1: %s",
		     h_outcome_str(r));
	cr_assert_lt(dt, 800, "the excess connection was reset only after %llu ms",
		     (unsigned long long)dt);
	r = h_wait(a, 0, NULL, 0, NULL);
	cr_assert_eq(r, H_TIMEOUT, "the first connection was ended too: %s", h_outcome_str(r));
	close(a);
	const char *want_eof[] = {"\"reason\":\"hello_eof\"", NULL};
	expect_log(&g, want_eof, line, sizeof(line));

	/* The slot is free again. */
	r = raw_hello(&g, "denied.test", 5000);
	cr_assert_eq(r, H_RESET);
	const char *want[] = {"\"reason\":\"not_allowed\"", NULL};
	expect_log(&g, want, line, sizeof(line));

	cr_assert_eq(h_snigate_stop(&g), 0);
	long long v;
	cr_assert(h_stats(&g, "overload", &v), "no stats line");
	cr_assert_eq(v, 1, "overload");
	cr_assert(h_stats(&g, "accepted", &v));
	cr_assert_eq(v, 3, "accepted");
	cr_assert_eq(h_log_count(&g, "\"reason\":\"overload\""), 1,
		     "the overload reset has no access line (one per connection is the contract)");
}

Test(gateway, config_file_alone_runs_the_gateway, .timeout = 120)
{
	struct h_sink_opts so = {.send_len = 16, .send_seed = 11};
	struct h_sink *s = h_sink_start(&so);
	char conf[300], text[1024], line[1024];
	int port = h_free_port();
	uint8_t hello[4096], greet[16];
	struct hello_opts o = {.sni = "x.wild.test"};
	size_t n = h_hello(&o, hello, sizeof(hello));

	snprintf(text, sizeof(text),
		 "threads: 2\n"
		 "listeners:\n"
		 "  - address: 127.0.0.1:%d\n"
		 "    upstream_port: %d\n"
		 "allow:\n"
		 "  - \"*.wild.test\"\n"
		 "resolver:\n"
		 "  forwarders: [\"127.0.0.1:%d\"]\n"
		 "timeouts:\n"
		 "  client_hello: 1s\n",
		 port, h_sink_port(s), H.dns_port);
	h_write_file(h_path(conf, sizeof(conf), "gw.yaml"), text);
	const char *args[] = {"-c", conf, NULL};
	struct h_gw g = h_snigate_args(port, args);

	int fd = h_connect(port);
	h_send_all(fd, hello, n);
	enum h_outcome r = h_recv_all(fd, greet, sizeof(greet), 5000);
	shutdown(fd, SHUT_WR);
	close(fd);
	cr_assert_eq(r, H_DATA, "allowed by the file's wildcard: %s", h_outcome_str(r));
	r = raw_hello(&g, "allowed.test", 5000);
	cr_assert_eq(r, H_RESET, "allowed.test is not in this file's allowlist: %s",
		     h_outcome_str(r));
	const char *want[] = {"\"sni\":\"allowed.test\"", "\"reason\":\"not_allowed\"", NULL};
	expect_log(&g, want, line, sizeof(line));
}
