/* SPDX-License-Identifier: MIT */
/*
 * admin: the endpoint over real HTTP. A test ops table (flags the test flips,
 * counters the callbacks bump) stands in for the gateway; clients are a real
 * curl and raw sockets, for what curl will not send (garbage, half requests,
 * stalls, a crowd).
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/admin.h"
#include "core/prom.h"
#include "prom_example.h"
#include "promparse.h"

/* ---- the stand-in gateway ---- */

static struct {
	atomic_bool ready;
	atomic_bool healthy;
	atomic_int drains;
	atomic_int metrics_calls;
	atomic_bool metrics_fail; /* the body fails as after ENOMEM */
} st;

static bool t_ready(void *arg)
{
	(void)arg;
	return atomic_load(&st.ready);
}

static bool t_healthy(void *arg, struct admin_buf *why)
{
	(void)arg;
	if (atomic_load(&st.healthy))
		return true;
	admin_buf_printf(why, "worker %d: no heartbeat for %d s\n", 1, 12);
	return false;
}

static void t_metrics(void *arg, struct admin_buf *out)
{
	(void)arg;
	atomic_fetch_add(&st.metrics_calls, 1);
	prom_example(out);
	if (atomic_load(&st.metrics_fail))
		out->err = -ENOMEM;
}

static void t_config(void *arg, struct admin_buf *out)
{
	(void)arg;
	admin_buf_printf(out, "listeners:\n  - address: 127.0.0.1:8443\nproxy_auth: <redacted>\n");
}

static void t_denied(void *arg, const char *query, struct admin_buf *out)
{
	(void)arg;
	admin_buf_printf(out,
			 "{\"total\":3,\"top\":[{\"sni\":\"evil.example\",\"count\":3,\"err\":0}]"
			 ",\"query\":\"%s\"}\n",
			 query);
}

static void t_drain(void *arg)
{
	(void)arg;
	atomic_fetch_add(&st.drains, 1);
}

static const struct admin_ops ops = {
	.ready = t_ready,
	.healthy = t_healthy,
	.metrics = t_metrics,
	.config = t_config,
	.denied = t_denied,
	.drain = t_drain,
};

static struct admin *adm;
static uint16_t port;

static void start(void)
{
	char err[256];
	bool nonlo = true;

	atomic_store(&st.ready, false);
	atomic_store(&st.healthy, true);
	cr_assert_eq(admin_start("127.0.0.1:0", ADMIN_CONTROL, &ops, NULL, &nonlo, &adm, err,
				 sizeof(err)),
		     0, "%s", err);
	cr_assert_not(nonlo);
	cr_assert_eq(admin_set_token(adm, NULL, 0), 0);
	port = admin_port(adm);
	cr_assert_neq(port, 0);
}

static void stop(void)
{
	admin_stop(adm);
	adm = NULL;
}

TestSuite(admin, .init = start, .fini = stop, .timeout = 60);

/* ---- clients ---- */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct resp {
	char raw[65536];
	int status;
	const char *body; /* into raw */
};

static void resp_parse(struct resp *r)
{
	char *sep = strstr(r->raw, "\r\n\r\n");

	r->status = !strncmp(r->raw, "HTTP/1.1 ", 9) ? atoi(r->raw + 9) : -1;
	r->body = sep ? sep + 4 : "";
}

/* The value of header name in r (case-insensitive name), copied into buf; NULL if absent. */
static const char *header(const struct resp *r, const char *name, char *buf, size_t len)
{
	size_t n = strlen(name);

	for (const char *p = strstr(r->raw, "\r\n"); p && p < r->body; p = strstr(p + 2, "\r\n")) {
		if (!strncasecmp(p + 2, name, n) && p[2 + n] == ':') {
			const char *v = p + 3 + n, *e;

			while (*v == ' ')
				v++;
			e = strstr(v, "\r\n");
			snprintf(buf, len, "%.*s", (int)(e - v), v);
			return buf;
		}
	}
	return NULL;
}

static void need_curl(void)
{
	if (system("command -v curl >/dev/null 2>&1"))
		cr_skip_test("curl is not installed");
}

/* curl -s -i [extra...] http://127.0.0.1:port/path; returns curl's exit status. */
static int curl(struct resp *r, const char *extra1, const char *extra2, const char *path)
{
	char url[128];
	const char *argv[12];
	int n = 0, p[2], status;
	size_t len = 0;
	ssize_t got;
	pid_t pid;

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	argv[n++] = "curl";
	argv[n++] = "-s";
	argv[n++] = "-i";
	argv[n++] = "--max-time";
	argv[n++] = "5";
	if (extra1)
		argv[n++] = extra1;
	if (extra2)
		argv[n++] = extra2;
	argv[n++] = url;
	argv[n] = NULL;
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(p[1], 1);
		execvp("curl", (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	while ((got = read(p[0], r->raw + len, sizeof(r->raw) - 1 - len)) > 0)
		len += (size_t)got;
	close(p[0]);
	r->raw[len] = '\0';
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	resp_parse(r);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int raw_connect(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "%s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

static void raw_send(int fd, const char *s, size_t n)
{
	cr_assert_eq(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Read until EOF (the server half-closes after its response). */
static void raw_read(int fd, struct resp *r)
{
	size_t len = 0;
	ssize_t got;

	while ((got = recv(fd, r->raw + len, sizeof(r->raw) - 1 - len, 0)) > 0)
		len += (size_t)got;
	r->raw[len] = '\0';
	resp_parse(r);
}

static void raw(const char *req, size_t n, struct resp *r)
{
	int fd = raw_connect();

	raw_send(fd, req, n);
	raw_read(fd, r);
	close(fd);
}

#define RAW(req, r) raw(req, sizeof(req) - 1, r)

/* ---- probes and bodies ---- */

Test(admin, ready_follows_the_flag)
{
	struct resp r;
	char h[128];

	need_curl();
	cr_assert_eq(curl(&r, NULL, NULL, "/ready"), 0);
	cr_assert_eq(r.status, 503, "starting: not ready\n%s", r.raw);
	cr_assert_str_eq(r.body, "not ready\n");
	atomic_store(&st.ready, true);
	cr_assert_eq(curl(&r, NULL, NULL, "/ready"), 0);
	cr_assert_eq(r.status, 200, "%s", r.raw);
	cr_assert_str_eq(r.body, "ready\n");
	cr_assert_str_eq(header(&r, "Content-Type", h, sizeof(h)), "text/plain; charset=utf-8");
	cr_assert_str_eq(header(&r, "Content-Length", h, sizeof(h)), "6");
	cr_assert_str_eq(header(&r, "Connection", h, sizeof(h)), "close");
	atomic_store(&st.ready, false); /* draining */
	cr_assert_eq(curl(&r, NULL, NULL, "/ready"), 0);
	cr_assert_eq(r.status, 503);
}

Test(admin, healthz_gives_the_reason)
{
	struct resp r;

	need_curl();
	cr_assert_eq(curl(&r, NULL, NULL, "/healthz"), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.body, "ok\n");
	atomic_store(&st.healthy, false);
	cr_assert_eq(curl(&r, NULL, NULL, "/healthz"), 0);
	cr_assert_eq(r.status, 503);
	cr_assert_str_eq(r.body, "worker 1: no heartbeat for 12 s\n");
}

Test(admin, metrics_parse_strictly)
{
	struct resp r;
	struct promdoc *d;
	char h[128], err[256];

	need_curl();
	cr_assert_eq(curl(&r, NULL, NULL, "/metrics"), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(header(&r, "Content-Type", h, sizeof(h)),
			 "text/plain; version=0.0.4; charset=utf-8");
	cr_assert_eq(atoi(header(&r, "Content-Length", h, sizeof(h))), (int)strlen(r.body));
	cr_assert_eq(promdoc_parse(r.body, strlen(r.body), &d, err, sizeof(err)), 0, "%s", err);
	cr_assert_not_null(promdoc_family(d, "snigate_connections_total"));
	promdoc_free(d);
}

Test(admin, failed_body_is_500)
{
	struct resp r;

	atomic_store(&st.metrics_fail, true);
	RAW("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_assert_eq(r.status, 500, "%s", r.raw);
	cr_assert_str_eq(r.body, "internal error\n");
}

Test(admin, config_and_denied)
{
	struct resp r;
	char h[128];

	need_curl();
	cr_assert_eq(curl(&r, NULL, NULL, "/config"), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(header(&r, "Content-Type", h, sizeof(h)), "text/plain; charset=utf-8");
	cr_assert(strstr(r.body, "proxy_auth: <redacted>"));
	cr_assert_eq(curl(&r, NULL, NULL, "/denied"), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(header(&r, "Content-Type", h, sizeof(h)), "application/json");
	cr_assert_eq(r.body[0], '{');
	cr_assert(strstr(r.body, ",\"query\":\"\"}"), "%s", r.body);
	/* A query string does not change the route, and reaches the callback whole. */
	cr_assert_eq(curl(&r, NULL, NULL, "/denied?policy=dev#frag"), 0);
	cr_assert_eq(r.status, 200);
	cr_assert(strstr(r.body, ",\"query\":\"policy=dev\"}"), "%s", r.body);
}

Test(admin, drain_is_post_only)
{
	struct resp r;
	char h[128];

	need_curl();
	cr_assert_eq(curl(&r, "-X", "POST", "/drain"), 0);
	cr_assert_eq(r.status, 202, "%s", r.raw);
	cr_assert_eq(atomic_load(&st.drains), 1, "one POST, one drain");
	cr_assert_eq(curl(&r, NULL, NULL, "/drain"), 0);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(header(&r, "Allow", h, sizeof(h)), "POST");
	cr_assert_eq(curl(&r, "-X", "PUT", "/drain"), 0);
	cr_assert_eq(r.status, 405);
	cr_assert_eq(atomic_load(&st.drains), 1, "GET and PUT drain nothing");
	cr_assert_eq(curl(&r, "-X", "POST", "/ready"), 0);
	cr_assert_eq(r.status, 405);
	cr_assert_str_eq(header(&r, "Allow", h, sizeof(h)), "GET, HEAD");
	/* A POST with a body is answered too (the body is read and dropped). */
	cr_assert_eq(curl(&r, "--data-binary", "now please", "/drain"), 0);
	cr_assert_eq(r.status, 202);
	cr_assert_eq(atomic_load(&st.drains), 2);
}

Test(admin, unknown_paths_are_404)
{
	struct resp r;

	need_curl();
	cr_assert_eq(curl(&r, NULL, NULL, "/nope"), 0);
	cr_assert_eq(r.status, 404);
	cr_assert_eq(curl(&r, NULL, NULL, "/"), 0);
	cr_assert_eq(r.status, 404);
	cr_assert_eq(curl(&r, NULL, NULL, "/ready/"), 0);
	cr_assert_eq(r.status, 404);
	cr_assert_eq(curl(&r, NULL, NULL, "/READY"), 0);
	cr_assert_eq(r.status, 404);
}

Test(admin, head_has_length_but_no_body)
{
	struct resp r;
	char h[128];

	atomic_store(&st.ready, true);
	RAW("HEAD /ready HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_assert_eq(r.status, 200, "%s", r.raw);
	cr_assert_str_eq(header(&r, "Content-Length", h, sizeof(h)), "6");
	cr_assert_str_eq(r.body, "");
	RAW("HEAD /nope HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 404);
	cr_assert_str_eq(r.body, "");
}

Test(admin, raw_request_forms)
{
	struct resp r;

	atomic_store(&st.ready, true);
	RAW("GET /ready HTTP/1.0\r\n\r\n", &r);
	cr_assert_eq(r.status, 200, "HTTP/1.0 without headers");
	RAW("GET /ready HTTP/1.1\nHost: x\n\n", &r);
	cr_assert_eq(r.status, 200, "bare LF line ends");
	RAW("GET http://127.0.0.1/ready HTTP/1.1\r\nHost: x\r\n\r\n", &r);
	cr_assert_eq(r.status, 200, "absolute form");
	RAW("OPTIONS /metrics HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 405);
}

Test(admin, malformed_is_400)
{
	static const char *const bad[] = {
		"garbage\r\n\r\n",
		"GET /ready\r\n\r\n",
		"GET /ready HTTP/2.0\r\n\r\n",
		"GET ready HTTP/1.1\r\n\r\n",
		"GET  /ready HTTP/1.1\r\n\r\n",
		"GET /ready HTTP/1.1\r\nno colon here\r\n\r\n",
		"GET /ready HTTP/1.1\r\n folded: header\r\n\r\n",
		"GET /ready HTTP/1.1\r\nBad Name: x\r\n\r\n",
		"get /ready HTTP/1.1\r\n\r\n",
		"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", /* a TLS hello: 400 at once */
	};
	struct resp r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint64_t t0 = now_ms();

		raw(bad[i], strlen(bad[i]), &r);
		cr_assert_eq(r.status, 400, "bad[%zu]: %s", i, r.raw);
		cr_assert_lt(now_ms() - t0, 2000, "bad[%zu] answered without waiting", i);
	}
	/* A NUL in the head. */
	static const char nul[] = "GET /ready HTTP/1.1\r\nX: a\0b\r\n\r\n";
	raw(nul, sizeof(nul) - 1, &r);
	cr_assert_eq(r.status, 400);
}

Test(admin, head_too_large_is_431)
{
	static char req[ADMIN_HEAD_MAX + 64];
	struct resp r;
	int fd = raw_connect();

	strcpy(req, "GET /ready HTTP/1.1\r\nX-Pad: ");
	memset(req + strlen(req), 'a', sizeof(req) - strlen(req));
	/* The server answers once it has 8 KiB; the rest may meet a closed socket. */
	(void)send(fd, req, sizeof(req), MSG_NOSIGNAL);
	raw_read(fd, &r);
	close(fd);
	cr_assert_eq(r.status, 431, "%s", r.raw);
}

/* ---- several clients ---- */

Test(admin, stalled_client_does_not_block_others, .timeout = 30)
{
	struct resp r;
	uint64_t t0;
	int fd;

	need_curl();
	atomic_store(&st.ready, true);
	fd = raw_connect();
	raw_send(fd, "GET /ready HTTP/1.1\r\nHo", 23);
	usleep(100 * 1000);
	t0 = now_ms();
	cr_assert_eq(curl(&r, NULL, NULL, "/ready"), 0);
	cr_assert_eq(r.status, 200);
	cr_assert_lt(now_ms() - t0, 1000, "served while another client stalls");
	/* The stalled one gets a 408 once its head is late. */
	raw_read(fd, &r);
	close(fd);
	cr_assert_eq(r.status, 408, "%s", r.raw);
	cr_assert_geq(now_ms() - t0, ADMIN_HEAD_TIMEOUT_MS - 500);
}

Test(admin, seventy_clients_at_once)
{
	enum { N = ADMIN_MAX_CLIENTS + 6 };
	static const char req[] = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd[N];
	struct resp r;
	uint64_t t0 = now_ms();

	for (int i = 0; i < N; i++) {
		fd[i] = raw_connect();
		raw_send(fd[i], req, sizeof(req) - 1);
	}
	for (int i = 0; i < N; i++) {
		raw_read(fd[i], &r);
		close(fd[i]);
		cr_assert_eq(r.status, 200, "client %d: %.80s", i, r.raw);
		cr_assert_eq(strlen(r.body), (size_t)atoi(strstr(r.raw, "Content-Length: ") + 16));
	}
	cr_assert_eq(atomic_load(&st.metrics_calls), N);
	cr_assert_lt(now_ms() - t0, 5000);
}

Test(admin, stalled_crowd_does_not_starve_probes, .timeout = 30)
{
	enum { N = ADMIN_MAX_CLIENTS + 6 };
	int fd[N];
	struct resp r;
	uint64_t t0;

	need_curl();
	atomic_store(&st.ready, true);
	for (int i = 0; i < N; i++)
		fd[i] = raw_connect(); /* and say nothing */
	usleep(200 * 1000);
	t0 = now_ms();
	cr_assert_eq(curl(&r, NULL, NULL, "/ready"), 0, "%s", r.raw);
	cr_assert_eq(r.status, 200);
	cr_assert_lt(now_ms() - t0, ADMIN_EVICT_MS + 1500, "a stalled client gave up its slot");
	for (int i = 0; i < N; i++)
		close(fd[i]);
}

Test(admin, stop_is_prompt_with_clients_connected)
{
	struct resp r;
	int a = raw_connect(), b = raw_connect();
	uint64_t t0;

	raw_send(b, "GET /rea", 8);
	usleep(100 * 1000);
	t0 = now_ms();
	stop();
	cr_assert_lt(now_ms() - t0, 500, "admin_stop took %llu ms",
		     (unsigned long long)(now_ms() - t0));
	raw_read(a, &r); /* EOF: the socket was closed */
	cr_assert_eq(r.raw[0], '\0');
	close(a);
	close(b);
}

/* ---- start-up ---- */

Test(admin_start, addresses)
{
	static const char *const bad[] = {
		"",
		"127.0.0.1",
		"127.0.0.1:",
		"127.0.0.1:65536",
		"127.0.0.1:-1",
		":9901",
		"::1:9901",
		"[::1]9901",
		"[::1",
		"example.com:9901",
		"127.0.0.1:99a",
		"1.2.3:80",
	};
	struct admin *a;
	bool nonlo;
	char err[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		a = (struct admin *)1;
		cr_assert_eq(admin_start(bad[i], ADMIN_CONTROL, &ops, NULL, &nonlo, &a, err,
					 sizeof(err)),
			     -EINVAL, "\"%s\"", bad[i]);
		cr_assert_null(a);
		cr_assert(strstr(err, "bad address"), "%s", err);
	}
	cr_assert_eq(
		admin_start("0.0.0.0:0", ADMIN_CONTROL, &ops, NULL, &nonlo, &a, err, sizeof(err)),
		0, "%s", err);
	cr_assert(nonlo, "0.0.0.0 is reachable from other hosts");
	admin_stop(a);
	cr_assert_eq(
		admin_start("localhost:0", ADMIN_CONTROL, &ops, NULL, &nonlo, &a, err, sizeof(err)),
		0, "%s", err);
	cr_assert_not(nonlo);
	admin_stop(a);
	cr_assert_eq(
		admin_start("127.0.0.9:0", ADMIN_CONTROL, &ops, NULL, &nonlo, &a, err, sizeof(err)),
		0, "%s", err);
	cr_assert_not(nonlo, "all of 127/8 is loopback");
	admin_stop(a);
	/* IPv6 may be off in a container; then the bind fails and that is all. */
	int r = admin_start("[::1]:0", ADMIN_CONTROL, &ops, NULL, &nonlo, &a, err, sizeof(err));
	if (r == 0) {
		cr_assert_not(nonlo);
		admin_stop(a);
	} else {
		cr_assert(r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT, "%s", err);
	}
	r = admin_start("[::]:0", ADMIN_CONTROL, &ops, NULL, &nonlo, &a, err, sizeof(err));
	cr_assert(nonlo);
	if (r == 0)
		admin_stop(a);
	admin_stop(NULL);
}

Test(admin_start, port_in_use)
{
	struct admin *a, *b;
	bool nonlo;
	char addr[64], err[256];

	cr_assert_eq(
		admin_start("127.0.0.1:0", ADMIN_CONTROL, &ops, NULL, &nonlo, &a, err, sizeof(err)),
		0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", admin_port(a));
	cr_assert_eq(admin_start(addr, ADMIN_CONTROL, &ops, NULL, &nonlo, &b, err, sizeof(err)),
		     -EADDRINUSE);
	cr_assert_null(b);
	cr_assert(strstr(err, "bind") && strstr(err, addr), "%s", err);
	admin_stop(a);
}

static void only_ready_start(void)
{
	static const struct admin_ops few = {.ready = t_ready};
	char err[256];
	bool nonlo;

	atomic_store(&st.ready, true);
	cr_assert_eq(admin_start("127.0.0.1:0", ADMIN_CONTROL, &few, NULL, &nonlo, &adm, err,
				 sizeof(err)),
		     0);
	cr_assert_eq(admin_set_token(adm, NULL, 0), 0);
	port = admin_port(adm);
}

Test(admin_start, null_callbacks_are_404, .init = only_ready_start, .fini = stop)
{
	struct resp r;

	RAW("GET /ready HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 200);
	RAW("GET /metrics HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 404);
	RAW("POST /drain HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 404);
}

/* ---- roles: the probe port serves probes and metrics, nothing else ---- */

static void probes_start(void)
{
	char err[256];
	bool nonlo;

	atomic_store(&st.ready, true);
	atomic_store(&st.healthy, true);
	atomic_store(&st.drains, 0);
	cr_assert_eq(admin_start("127.0.0.1:0", ADMIN_PROBES, &ops, NULL, &nonlo, &adm, err,
				 sizeof(err)),
		     0, "%s", err);
	port = admin_port(adm);
}

Test(admin_probes, serves_probes_and_metrics_only, .init = probes_start, .fini = stop)
{
	struct resp r;

	RAW("GET /ready HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 200, "%s", r.raw);
	RAW("GET /healthz HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 200, "%s", r.raw);
	RAW("GET /metrics HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 200, "%s", r.raw);
	/* Control routes do not exist here: 404, not 401 or 405, so nothing says they would. */
	RAW("POST /drain HTTP/1.1\r\nContent-Length: 0\r\n\r\n", &r);
	cr_assert_eq(r.status, 404, "%s", r.raw);
	RAW("GET /drain HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 404, "%s", r.raw);
	RAW("GET /config HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 404, "%s", r.raw);
	RAW("GET /denied HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 404, "%s", r.raw);
	cr_assert_eq(atomic_load(&st.drains), 0, "the probe port drained the gateway");
	RAW("POST /ready HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 405, "%s", r.raw);
}

/* ---- the bearer token ---- */

#define TOKEN "s3cr3t-T0ken_with.all~chars+/="

static void token_start(void)
{
	probes_start();
	admin_stop(adm);
	char err[256];
	bool nonlo;
	cr_assert_eq(admin_start("127.0.0.1:0", ADMIN_CONTROL, &ops, NULL, &nonlo, &adm, err,
				 sizeof(err)),
		     0, "%s", err);
	cr_assert_eq(admin_set_token(adm, TOKEN, strlen(TOKEN)), 0);
	port = admin_port(adm);
}

Test(admin_token, missing_is_401_wrong_is_403_and_neither_drains, .init = token_start, .fini = stop)
{
	struct resp r;
	char h[128];

	need_curl();
	cr_assert_eq(curl(&r, "-X", "POST", "/drain"), 0);
	cr_assert_eq(r.status, 401, "%s", r.raw);
	cr_assert_str_eq(header(&r, "WWW-Authenticate", h, sizeof(h)), "Bearer realm=\"snigate\"");
	cr_assert_eq(curl(&r, "-H", "Authorization: Bearer wrong-token-of-some-length", "/drain"),
		     0);
	cr_assert_eq(r.status, 403, "%s", r.raw); /* curl -H alone sends GET: auth comes first */
	RAW("POST /drain HTTP/1.1\r\nAuthorization: Bearer s3cr3t-T0ken_with.all~chars+/\r\n\r\n",
	    &r);
	cr_assert_eq(r.status, 403, "a prefix of the token: %s", r.raw);
	RAW("POST /drain HTTP/1.1\r\nAuthorization: Bearer " TOKEN "x\r\n\r\n", &r);
	cr_assert_eq(r.status, 403, "the token and one more byte: %s", r.raw);
	RAW("POST /drain HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\n\r\n", &r);
	cr_assert_eq(r.status, 401, "another scheme: %s", r.raw);
	RAW("POST /drain HTTP/1.1\r\nAuthorization: Bearer\r\n\r\n", &r);
	cr_assert_eq(r.status, 401, "no credentials: %s", r.raw);
	RAW("GET /config HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 401, "%s", r.raw);
	cr_assert_null(strstr(r.raw, "redacted"), "the config leaked: %s", r.raw);
	RAW("GET /metrics HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 401, "the control port guards every route: %s", r.raw);
	cr_assert_eq(atomic_load(&st.drains), 0, "an unauthorized request drained the gateway");

	/* Two credentials: which one counts would be a guess. */
	RAW("POST /drain HTTP/1.1\r\nAuthorization: Bearer " TOKEN "\r\nauthorization: Bearer "
	    "x\r\n\r\n",
	    &r);
	cr_assert_eq(r.status, 400, "%s", r.raw);
	cr_assert_eq(atomic_load(&st.drains), 0);

	/* The right token: a wrong method is still 405, POST drains. */
	RAW("GET /drain HTTP/1.1\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", &r);
	cr_assert_eq(r.status, 405, "%s", r.raw);
	RAW("POST /drain HTTP/1.1\r\nauthorization:   bearer " TOKEN "  \r\n\r\n", &r);
	cr_assert_eq(r.status, 202, "scheme case and white space: %s", r.raw);
	cr_assert_eq(atomic_load(&st.drains), 1);
	RAW("GET /config HTTP/1.1\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", &r);
	cr_assert_eq(r.status, 200, "%s", r.raw);
}

Test(admin_token, rotation_and_bad_tokens, .init = token_start, .fini = stop)
{
	struct resp r;

	cr_assert_eq(admin_set_token(adm, "has space in it!", 16), -EINVAL);
	cr_assert_eq(admin_set_token(adm, "line\r\nInjected: 1", 18), -EINVAL);
	RAW("GET /config HTTP/1.1\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", &r);
	cr_assert_eq(r.status, 200, "a refused token must leave the old one: %s", r.raw);
	cr_assert_eq(admin_set_token(adm, "the-new-token-0123456789", 24), 0);
	RAW("GET /config HTTP/1.1\r\nAuthorization: Bearer " TOKEN "\r\n\r\n", &r);
	cr_assert_eq(r.status, 403, "the old token after rotation: %s", r.raw);
	RAW("GET /config HTTP/1.1\r\nAuthorization: Bearer the-new-token-0123456789\r\n\r\n", &r);
	cr_assert_eq(r.status, 200, "%s", r.raw);
	cr_assert_eq(admin_set_token(adm, NULL, 0), 0);
	RAW("GET /config HTTP/1.1\r\n\r\n", &r);
	cr_assert_eq(r.status, 200, "no token configured: %s", r.raw);
}

/* ---- a Unix socket ---- */

static int unix_get(const char *path, const char *req, struct resp *r)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = 10};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	raw_send(fd, req, strlen(req));
	raw_read(fd, r);
	close(fd);
	return 0;
}

Test(admin_start, unix_socket)
{
	char dir[] = "/tmp/snigate-admin-XXXXXX", path[64], addr[80], err[256];
	struct admin *a = NULL, *b = NULL;
	struct resp r;
	struct stat sb;
	bool nonlo = true;

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/control.sock", dir);
	snprintf(addr, sizeof(addr), "unix:%s", path);
	/* A stale socket file, as a killed gateway leaves it, is replaced. */
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	cr_assert_eq(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(s);
	cr_assert_eq(admin_start(addr, ADMIN_CONTROL, &ops, NULL, &nonlo, &a, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_not(nonlo, "a Unix socket is local");
	cr_assert_eq(admin_port(a), 0);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0600, "mode %o", sb.st_mode & 0777);
	/* Until it is told its token (here: none), a control endpoint serves nothing. */
	cr_assert_eq(unix_get(path, "GET /config HTTP/1.1\r\n\r\n", &r), 0);
	cr_assert_eq(r.status, 503, "before admin_set_token(): %s", r.raw);
	cr_assert_eq(admin_set_token(a, NULL, 0), 0);
	cr_assert_eq(unix_get(path, "GET /config HTTP/1.1\r\n\r\n", &r), 0);
	cr_assert_eq(r.status, 200, "%s", r.raw);
	/* One that something still listens on is not taken over. */
	cr_assert_eq(admin_start(addr, ADMIN_CONTROL, &ops, NULL, &nonlo, &b, err, sizeof(err)),
		     -EADDRINUSE, "%s", err);
	cr_assert_eq(unix_get(path, "GET /ready HTTP/1.1\r\n\r\n", &r), 0, "the first one is gone");
	admin_stop(a);
	cr_assert_neq(stat(path, &sb), 0, "admin_stop() leaves the socket file");
	/* A socket file that is no longer ours is left alone at stop. */
	cr_assert_eq(admin_start(addr, ADMIN_CONTROL, &ops, NULL, &nonlo, &a, err, sizeof(err)), 0,
		     "%s", err);
	cr_assert_eq(unlink(path), 0);
	s = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&sun, sizeof(sun)), 0);
	admin_stop(a);
	cr_assert_eq(stat(path, &sb), 0, "admin_stop() removed another process's socket");
	close(s);
	unlink(path);
	/* Nor is a file that is not a socket. */
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(admin_start(addr, ADMIN_CONTROL, &ops, NULL, &nonlo, &b, err, sizeof(err)),
		     -EEXIST, "%s", err);
	cr_assert_eq(stat(path, &sb), 0, "a regular file was removed");
	unlink(path);
	cr_assert_eq(admin_start("unix:relative/path", ADMIN_CONTROL, &ops, NULL, &nonlo, &b, err,
				 sizeof(err)),
		     -EINVAL);
	rmdir(dir);
}
