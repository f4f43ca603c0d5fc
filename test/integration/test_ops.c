/* SPDX-License-Identifier: MIT */
/*
 * Operating snigate, end to end: the admin endpoint over real HTTP (curl),
 * /metrics parsed strictly (test/core/promparse) and checked against a known
 * sequence of connections, reloads under load (SIGHUP, a file change, a
 * Kubernetes ConfigMap "..data" swap) and refused ones, the drain on SIGTERM
 * and POST /drain, audit mode, the connection limits, EMFILE, and the access
 * log's sampling and denial rate limit.
 *
 * Counters reach /metrics up to ~100 ms after the fact, so values are polled
 * with a deadline; fixed sleeps appear only where the test is that nothing
 * more happens.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test/core/promparse.h"
#include "test/integration/harness.h"

extern char **environ;

static void setup(void)
{
	h_start_unbound();
}

TestSuite(ops, .init = setup, .fini = h_teardown, .timeout = 120);

#define LOG_MS	  5000 /* an access line is written at close; allow for a loaded machine */
#define METRIC_MS 5000
#define SEED_UP	  0x0b5e0001
#define SEED_DN	  0x0b5e0002
#define CHUNK	  (256u << 10)

/* ---- small helpers ---- */

/* The whole file, malloc'ed and NUL-terminated ("" when missing); the caller frees it. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	size_t cap = 8192, n = 0, k;
	char *s = malloc(cap);

	cr_assert_not_null(s);
	while (f && (k = fread(s + n, 1, cap - n - 1, f)) > 0) {
		n += k;
		if (n + 1 == cap) {
			cap *= 2;
			s = realloc(s, cap);
			cr_assert_not_null(s);
		}
	}
	if (f)
		fclose(f);
	s[n] = 0;
	return s;
}

/* Write text to path through a temp file and rename(2): an editor's (or kubectl's) save. */
static void write_atomic(const char *path, const char *text)
{
	char tmp[512];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	h_write_file(tmp, text);
	cr_assert_eq(rename(tmp, path), 0, "rename %s: %s", path, strerror(errno));
}

/*
 * One HTTP request with real curl, not through h_spawn() (whose process
 * table a polling loop would fill). Returns the status, 0 when nothing
 * answered; *body (may be NULL) gets the body, malloc'ed.
 */
static int http_h(int port, const char *method, const char *path, const char *header, char **body)
{
	static unsigned seq;
	char url[128], bodyf[300], codef[300], name[64];
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int st;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
	snprintf(name, sizeof(name), "curl.%u.body", seq);
	h_path(bodyf, sizeof(bodyf), name);
	snprintf(name, sizeof(name), "curl.%u.code", seq++);
	h_path(codef, sizeof(codef), name);
	const char *argv[] = {
		"curl",		"-s", "--max-time",	    "10",   "-X", method, "-o", bodyf, "-w",
		"%{http_code}", url,  header ? "-H" : NULL, header, NULL};
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, codef, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	int rc = posix_spawnp(&pid, "curl", &fa, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert_eq(rc, 0, "posix_spawnp curl: %s", strerror(rc));
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	char *code = slurp(codef);
	int status = atoi(code);
	free(code);
	if (body)
		*body = slurp(bodyf);
	unlink(codef);
	unlink(bodyf);
	return status;
}

static int http(int port, const char *method, const char *path, char **body)
{
	return http_h(port, method, path, NULL, body);
}

/* GET path: asserts the status, returns the body (malloc'ed). */
static char *get_ok(int port, const char *path, int want)
{
	char *body;
	int code = http(port, "GET", path, &body);
	cr_assert_eq(code, want, "GET %s: %d, want %d; body:\n%s", path, code, want, body);
	return body;
}

/* GET /metrics, parsed strictly: any line promparse refuses fails the test. */
static struct promdoc *scrape(int aport)
{
	struct promdoc *d = NULL;
	char err[256];
	char *body = get_ok(aport, "/metrics", 200);
	int rc = promdoc_parse(body, strlen(body), &d, err, sizeof(err));

	cr_assert_eq(rc, 0, "/metrics does not parse strictly: %s\n%s", err, body);
	free(body);
	return d;
}

/* name{sel} (the exact label set), or -1 when the series is absent. */
static double mval(const struct promdoc *d, const char *name, const char *sel)
{
	double v;
	return promdoc_value(d, name, sel, &v) ? v : -1;
}

/* One scrape's value of name{sel}; -1 when absent. */
static double metric(int aport, const char *name, const char *sel)
{
	struct promdoc *d = scrape(aport);
	double v = mval(d, name, sel);
	promdoc_free(d);
	return v;
}

/* Poll until name{sel} == want; returns the last value (-1: absent). */
static double metric_wait(int aport, const char *name, const char *sel, double want, int ms)
{
	uint64_t end = h_now_ms() + (uint64_t)ms;
	double v;

	while ((v = metric(aport, name, sel)) != want && h_now_ms() < end)
		h_sleep_ms(20);
	return v;
}

#define expect_metric(aport, name, sel, want)                                        \
	do {                                                                         \
		double v_ = metric_wait((aport), (name), (sel), (want), METRIC_MS);  \
		cr_assert_eq(v_, (want), "%s{%s} is %g, want %g", (name), (sel), v_, \
			     (double)(want));                                        \
	} while (0)

/* One scrape's name{sel} must be want (-1: the series must be absent). */
#define assert_val(d, name, sel, want)                                               \
	do {                                                                         \
		double v_ = mval((d), (name), (sel));                                \
		cr_assert_eq(v_, (want), "%s{%s} is %g, want %g", (name), (sel), v_, \
			     (double)(want));                                        \
	} while (0)

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

static size_t hello_for(const char *sni, uint8_t *buf, size_t cap)
{
	struct hello_opts o = {.sni = sni};
	return h_hello(&o, buf, cap);
}

/* Connect and send sni's hello; *hl (may be NULL) gets its length. */
static int open_hello(int port, const char *sni, size_t *hl)
{
	uint8_t hello[4096];
	size_t n = hello_for(sni, hello, sizeof(hello));
	int fd = h_connect(port);

	h_send_all(fd, hello, n);
	if (hl)
		*hl = n;
	return fd;
}

/* Connect and send the first half of sni's hello: a connection pending in its hello. */
static int open_half_hello(int port, const char *sni)
{
	uint8_t hello[4096];
	size_t n = hello_for(sni, hello, sizeof(hello));
	int fd = h_connect(port);

	h_send_all(fd, hello, n / 2);
	return fd;
}

/*
 * One short connection: sni's hello, then payload bytes of stream SEED_UP,
 * then FIN; read to the end. Returns how it ended (H_EOF: relayed and closed
 * cleanly, H_RESET: reset); *down (may be NULL) gets the bytes that came back.
 */
static enum h_outcome exchange(int port, const char *sni, size_t payload, uint64_t *down)
{
	uint8_t buf[16384];
	int fd = open_hello(port, sni, NULL);
	uint64_t got = 0, end = h_now_ms() + 10000;
	enum h_outcome o;

	for (size_t off = 0; off < payload;) {
		size_t k = payload - off < sizeof(buf) ? payload - off : sizeof(buf);
		h_pattern(SEED_UP, off, buf, k);
		ssize_t n = send(fd, buf, k, MSG_NOSIGNAL);
		if (n <= 0)
			break; /* reset under us: the read below says so */
		off += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	for (;;) {
		size_t k;
		uint64_t now = h_now_ms();
		o = h_wait(fd, now < end ? (int)(end - now) : 0, buf, sizeof(buf), &k);
		if (o != H_DATA)
			break;
		got += k;
	}
	close(fd);
	if (down)
		*down = got;
	return o;
}

/* 0 when something accepts on 127.0.0.1:port, else the connect errno. */
static int try_connect(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	int rc = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : errno;
	close(fd);
	return rc;
}

/* Poll until connecting to port is refused; returns when (ms), or 0 on timeout. */
static uint64_t wait_refused(int port, int timeout_ms)
{
	uint64_t end = h_now_ms() + (uint64_t)timeout_ms;

	while (h_now_ms() < end) {
		if (try_connect(port) == ECONNREFUSED)
			return h_now_ms();
		h_sleep_ms(10);
	}
	return 0;
}

/* A config file for h_snigate_args(): one listener and the unbound resolver. */
static void write_conf(const char *path, int port, int upstream_port, const char *allow,
		       const char *more)
{
	char text[2048];
	snprintf(text, sizeof(text),
		 "threads: 2\n"
		 "listeners:\n"
		 "  - address: 127.0.0.1:%d\n"
		 "    upstream_port: %d\n"
		 "allow:\n"
		 "%s"
		 "resolver:\n"
		 "  forwarders: [\"127.0.0.1:%d\"]\n"
		 "timeouts:\n"
		 "  client_hello: 2s\n"
		 "%s",
		 port, upstream_port, allow, H.dns_port, more ? more : "");
	h_write_file(path, text);
}

/* ---- streams (as in test_relay.c) ---- */

struct rx {
	int fd;
	uint64_t seed;
	uint64_t got;
	int64_t bad_at;
	struct h_hash hash;
	enum h_outcome end;
};

/* Read fd to its end, checking the bytes against stream rx->seed. */
static void *rx_run(void *arg)
{
	struct rx *rx = arg;
	uint8_t *buf = malloc(CHUNK), *want = malloc(CHUNK);

	rx->bad_at = -1;
	h_hash_init(&rx->hash);
	for (;;) {
		ssize_t n = recv(rx->fd, buf, CHUNK, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rx->end = n == 0 ? H_EOF : errno == ECONNRESET ? H_RESET : H_ERROR;
			break;
		}
		h_hash_update(&rx->hash, buf, (size_t)n);
		h_pattern(rx->seed, rx->got, want, (size_t)n);
		if (rx->bad_at < 0 && memcmp(buf, want, (size_t)n))
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] != want[i]) {
					rx->bad_at = (int64_t)(rx->got + (uint64_t)i);
					break;
				}
		rx->got += (uint64_t)n;
	}
	free(buf);
	free(want);
	return NULL;
}

/* A sender: len bytes of stream seed in chunks, pausing between them. */
struct tx {
	int fd;
	uint64_t seed, len, chunk;
	unsigned pause_ms;
	atomic_int *gate; /* non-NULL: send the second half only once *gate is non-zero */
	atomic_uint_fast64_t sent;
	struct h_hash hash; /* of what was sent */
	int err;	    /* errno that stopped it (send, or a reset seen while pausing) */
	uint64_t t_err, t_done;
};

static void *tx_run(void *arg)
{
	struct tx *t = arg;
	uint8_t *buf = malloc(t->chunk);
	uint64_t off = 0;

	h_hash_init(&t->hash);
	while (buf && off < t->len && !t->err) {
		if (t->gate && off >= t->len / 2)
			while (!atomic_load(t->gate))
				h_sleep_ms(5);
		size_t k = t->len - off < t->chunk ? (size_t)(t->len - off) : (size_t)t->chunk;
		h_pattern(t->seed, off, buf, k);
		h_hash_update(&t->hash, buf, k);
		for (size_t done = 0; done < k;) {
			ssize_t n = send(t->fd, buf + done, k - done, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				t->err = n < 0 ? errno : EPIPE;
				t->t_err = h_now_ms();
				break;
			}
			done += (size_t)n;
		}
		if (t->err)
			break;
		off += k;
		atomic_store(&t->sent, off);
		if (t->pause_ms && off < t->len) {
			/* Pause, watching for a reset: nothing else comes back on these. */
			struct pollfd pf = {.fd = t->fd, .events = POLLIN};
			if (poll(&pf, 1, (int)t->pause_ms) > 0) {
				char c;
				if (recv(t->fd, &c, 1, MSG_DONTWAIT) < 0 && errno != EAGAIN) {
					t->err = errno;
					t->t_err = h_now_ms();
				}
			}
		}
	}
	t->t_done = h_now_ms();
	free(buf);
	return NULL;
}

/* ---- /proc ---- */

/* utime + stime of pid, in clock ticks. */
static long long cpu_ticks(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	char *s = slurp(path);
	char *p = strrchr(s, ')');
	unsigned long long ut = 0, st = 0;

	cr_assert_not_null(p, "%s: %s", path, s);
	/* After "pid (comm)": state is field 3, utime 14, stime 15. */
	int n = sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st);
	free(s);
	cr_assert_eq(n, 2, "cannot parse %s", path);
	return (long long)(ut + st);
}

/* ================= 1. probes ================= */

Test(ops, probes_in_every_state_and_post_drain)
{
	struct h_sink_opts so = {.capture = 64};
	struct h_sink *s = h_sink_start(&so);
	const char *extra[] = {"--drain-delay", "2s", "--drain-timeout", "10s", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);
	int ap = h_admin_port(&g), cp = h_control_port(&g);
	char *body;
	int code;

	cr_assert_gt(ap, 0, "no admin port in the ready line:\n%s", h_read_file(g.p->err));
	cr_assert_gt(cp, 0, "no control port in the ready line:\n%s", h_read_file(g.p->err));

	/* Serving. The first /healthz comes right after "ready". */
	code = http(ap, "GET", "/healthz", &body);
	cr_expect_eq(code, 200, "/healthz right after ready: %d: %s", code, body);
	free(body);
	body = get_ok(ap, "/ready", 200);
	cr_assert_str_eq(body, "ready\n");
	free(body);
	h_sleep_ms(1100); /* past the workers' first idle wake-up */
	body = get_ok(ap, "/healthz", 200);
	free(body);
	/* Anything else: 404 for an unknown path, 405 for the wrong method. */
	cr_assert_eq(http(ap, "GET", "/nope", NULL), 404);
	cr_assert_eq(http(ap, "GET", "/", NULL), 404);
	cr_assert_eq(http(cp, "GET", "/drain", NULL), 405, "GET /drain must not drain");
	cr_assert_eq(http(ap, "POST", "/drain", NULL), 404, "the probe port has no /drain");
	cr_assert_eq(http(ap, "GET", "/config", NULL), 404, "the probe port has no /config");
	cr_assert_eq(http(ap, "POST", "/metrics", NULL), 405);
	cr_assert_eq(http(ap, "DELETE", "/ready", NULL), 405);
	body = get_ok(ap, "/ready", 200);
	free(body);

	/* A relayed connection stays open over the drain. */
	size_t hl;
	int held = open_hello(g.port, "allowed.test", &hl);
	uint64_t until = h_now_ms() + 5000;
	while (h_sink_accepted(s) < 1 && h_now_ms() < until)
		h_sleep_ms(5);
	cr_assert_eq(h_sink_accepted(s), 1, "the held connection never reached the upstream");

	uint64_t t0 = h_now_ms();
	code = http(cp, "POST", "/drain", &body);
	cr_assert_eq(code, 202, "POST /drain: %d %s", code, body);
	free(body);
	code = http(ap, "GET", "/ready", &body);
	cr_assert_eq(code, 503, "/ready at once after POST /drain: %d %s", code, body);
	free(body);
	code = http(ap, "GET", "/healthz", &body);
	cr_assert_eq(code, 200, "/healthz while draining: %d %s", code, body);
	free(body);
	cr_assert_eq(metric(ap, "snigate_draining", ""), 1);
	/* POST /drain again is harmless. */
	cr_assert_eq(http(cp, "POST", "/drain", NULL), 202);

	/* drain.delay: still accepting, and serving. */
	uint64_t down = 0;
	enum h_outcome o = exchange(g.port, "allowed.test", 100, &down);
	uint64_t dt = h_now_ms() - t0;
	cr_assert_lt(dt, 1800, "the machine is too slow for this check (%llu ms)",
		     (unsigned long long)dt);
	cr_assert_eq(o, H_EOF, "a connection during drain.delay: %s", h_outcome_str(o));
	const struct h_sink_conn *c = h_sink_wait(s, 1, 5000);
	cr_assert_not_null(c, "the connection during drain.delay never reached the upstream");
	cr_assert_eq(c->received, hl + 100);

	/* Then the listener closes, about drain.delay after the drain began. */
	uint64_t t_ref = wait_refused(g.port, 5000);
	cr_assert_neq(t_ref, 0, "the listener still accepts 5 s after drain.delay 2s");
	cr_assert_geq(t_ref - t0, 1900, "listener closed after %llu ms, before drain.delay",
		      (unsigned long long)(t_ref - t0));
	cr_assert_lt(t_ref - t0, 3500, "listener closed only after %llu ms",
		     (unsigned long long)(t_ref - t0));
	cr_assert(h_alive(g.p), "snigate exited with a connection still open (drain.timeout 10s)");
	code = http(ap, "GET", "/ready", NULL);
	cr_assert_eq(code, 503, "/ready after the listener closed: %d", code);

	/* The held connection still works, both ways closed cleanly; then snigate exits 0. */
	uint8_t more[1000];
	h_pattern(SEED_UP, 0, more, sizeof(more));
	h_send_all(held, more, sizeof(more));
	shutdown(held, SHUT_WR);
	o = h_wait(held, 5000, NULL, 0, NULL);
	close(held);
	cr_assert_eq(o, H_EOF, "the held connection ended with %s", h_outcome_str(o));
	uint64_t t_end = h_now_ms();
	c = h_sink_wait(s, 0, 5000);
	cr_assert_not_null(c);
	cr_assert(c->eof, "upstream of the held connection: errno %d, not EOF", c->rerr);
	cr_assert_eq(c->received, hl + sizeof(more));
	cr_assert(h_wait_exit(g.p, 3000), "snigate still runs 3 s after its last connection ended");
	cr_assert_eq(h_exit_code(g.p), 0, "exit code after POST /drain");
	cr_log_info("exit %llu ms after the last connection ended",
		    (unsigned long long)(h_now_ms() - t_end));
	cr_assert(strstr(h_read_file(g.p->err), "POST /drain: draining"));
}

/*
 * The control endpoint opened to the network: without the token 401, with a
 * wrong one 403, and neither drains; nor can the probe port reach /drain.
 */
Test(ops, control_needs_the_token_and_the_probe_port_cannot_drain)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	char tf[256];
	h_write_file(h_path(tf, sizeof(tf), "control-token"), "Zq3-token-for-the-control-port\n");
	/* drain.delay keeps the process up after the drain, long enough to ask /ready. */
	const char *extra[] = {
		"--control", "0.0.0.0:0", "--control-token-file", tf, "--drain-delay", "2s", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);
	int ap = h_admin_port(&g), cp = h_control_port(&g);
	char *body;

	cr_assert(strstr(h_read_file(g.p->err), ", control 0.0.0.0:"), "%s", h_read_file(g.p->err));
	cr_assert_eq(http(cp, "POST", "/drain", NULL), 401);
	cr_assert_eq(http_h(cp, "POST", "/drain", "Authorization: Bearer Zq3-token-for-the", NULL),
		     403);
	cr_assert_eq(http_h(cp, "POST", "/drain", "Authorization: Basic Zq3-token-for-the", NULL),
		     401);
	cr_assert_eq(http(cp, "GET", "/config", NULL), 401);
	cr_assert_eq(http(ap, "POST", "/drain", NULL), 404);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(http(ap, "POST", "/drain?now=1", NULL), 404);
	h_sleep_ms(300); /* a drain asked for would show by now */
	body = get_ok(ap, "/ready", 200);
	free(body);
	cr_assert_eq(metric(ap, "snigate_draining", ""), 0);
	cr_assert_eq(exchange(g.port, "allowed.test", 100, NULL), H_EOF,
		     "still relaying after the refused drains");
	cr_assert_null(strstr(h_read_file(g.p->err), "draining"), "%s", h_read_file(g.p->err));

	/* The right token: the config (without the token), then a real drain. */
	const char *auth = "Authorization: Bearer Zq3-token-for-the-control-port";
	cr_assert_eq(http_h(cp, "GET", "/config", auth, &body), 200);
	cr_assert(strstr(body, "token_file: "), "%s", body);
	cr_assert_null(strstr(body, "Zq3-token"), "/config shows the token: %s", body);
	free(body);
	cr_assert_eq(http_h(cp, "POST", "/drain", auth, NULL), 202);
	cr_assert_eq(http(ap, "GET", "/ready", NULL), 503);
	h_snigate_stop(&g);
	h_sink_stop(s);
}

/*
 * A rotated token (a Secret updated in place) takes effect by itself: the
 * token file's directory is watched like the config's. A file that no longer
 * holds a valid token is refused, and the token in force stays.
 */
Test(ops, control_token_rotates_without_a_restart)
{
	char tf[256], tmp[300], conf[256], text[512];
	h_write_file(h_path(tf, sizeof(tf), "control-token"), "first-token-0123456789\n");
	int port = h_free_port();
	snprintf(text, sizeof(text),
		 "listeners: [{address: 127.0.0.1:%d}]\nallow: [allowed.test]\n"
		 "resolver: {forwarders: [\"127.0.0.1:%d\"]}\n"
		 "admin:\n  address: 127.0.0.1:0\n  control:\n    address: 127.0.0.1:0\n"
		 "    token_file: %s\n",
		 port, H.dns_port, tf);
	h_write_file(h_path(conf, sizeof(conf), "rotate.yaml"), text);
	const char *args[] = {"-c", conf, "--upstream-port", "443", NULL};
	h_start_unbound();
	struct h_gw g = h_snigate_args(port, args);
	int cp = h_control_port(&g), ap = h_admin_port(&g);

	cr_assert_eq(
		http_h(cp, "GET", "/config", "Authorization: Bearer first-token-0123456789", NULL),
		200);
	/* Replaced by rename(2), as a kubelet or an editor does. */
	snprintf(tmp, sizeof(tmp), "%s.new", tf);
	h_write_file(tmp, "second-token-0123456789\n");
	cr_assert_eq(rename(tmp, tf), 0);
	int code = 0;
	for (uint64_t end = h_now_ms() + 5000; h_now_ms() < end; h_sleep_ms(50))
		if ((code = http_h(cp, "GET", "/config",
				   "Authorization: Bearer second-token-0123456789", NULL)) == 200)
			break;
	cr_assert_eq(code, 200, "the new token never took effect:\n%s", h_read_file(g.p->err));
	cr_assert_eq(
		http_h(cp, "GET", "/config", "Authorization: Bearer first-token-0123456789", NULL),
		403, "the old token still works");
	cr_assert_eq(metric(ap, "snigate_config_generation", ""), 1);

	/* A broken token file: refused, and the second token stays in force. */
	h_write_file(tmp, "bad token\n");
	cr_assert_eq(rename(tmp, tf), 0);
	expect_metric(ap, "snigate_config_reload_total", "result=\"failure\"", 1);
	cr_assert(strstr(h_read_file(g.p->err), "admin.control.token_file"), "%s",
		  h_read_file(g.p->err));
	cr_assert_eq(
		http_h(cp, "GET", "/config", "Authorization: Bearer second-token-0123456789", NULL),
		200);
	cr_assert_eq(metric(ap, "snigate_config_last_reload_successful", ""), 0);
	h_snigate_stop(&g);
}

/* ================= 2. metrics ================= */

Test(ops, metrics_parse_strictly_and_count_a_known_sequence)
{
	const uint64_t up = 500, dn = 1000;
	struct h_sink_opts so = {.send_len = dn, .send_seed = SEED_DN};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	int ap = h_admin_port(&g);
	uint8_t hello[4096], junk[512];
	double hello_sum = 0;
	char sel[256], lis[64];

	snprintf(lis, sizeof(lis), "127.0.0.1:%d", g.port);

	/* Before any connection: the families are there, the counters zero. */
	struct promdoc *d = scrape(ap);
	assert_val(d, "snigate_connections_accepted_total", "", 0);
	assert_val(d, "snigate_active_connections", "", 0);
	promdoc_free(d);

	/* 3 allowed, 3 denied (two names), 1 garbage. */
	for (int i = 0; i < 3; i++) {
		uint64_t got = 0;
		enum h_outcome o = exchange(g.port, "allowed.test", up, &got);
		cr_assert_eq(o, H_EOF, "allowed #%d: %s", i, h_outcome_str(o));
		cr_assert_eq(got, dn);
		hello_sum += (double)hello_for("allowed.test", hello, sizeof(hello));
	}
	const char *denied[] = {"denied.test", "zzz.test", "denied.test"};
	for (int i = 0; i < 3; i++) {
		int fd = open_hello(g.port, denied[i], NULL);
		enum h_outcome o = h_wait(fd, 5000, NULL, 0, NULL);
		close(fd);
		cr_assert_eq(o, H_RESET, "%s: %s", denied[i], h_outcome_str(o));
		hello_sum += (double)hello_for(denied[i], hello, sizeof(hello));
	}
	h_pattern(42, 0, junk, sizeof(junk));
	junk[0] = 0x80; /* neither a TLS record nor a request line */
	int fd = h_connect(g.port);
	h_send_all(fd, junk, sizeof(junk));
	enum h_outcome o = h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);
	cr_assert_eq(o, H_RESET, "garbage: %s", h_outcome_str(o));

	/* Counted when each connection ended; published within ~100 ms. */
	expect_metric(ap, "snigate_connections_accepted_total", "", 7);
	uint64_t end = h_now_ms() + METRIC_MS;
	size_t nser = 0;
	double total = 0;
	for (;;) {
		d = scrape(ap);
		total = promdoc_sum(d, "snigate_connections_total", "", &nser);
		if (total == 7 || h_now_ms() >= end)
			break;
		promdoc_free(d);
		h_sleep_ms(20);
	}
	cr_assert_eq(total, 7, "connections_total sums to %g over %zu series", total, nser);
	cr_assert_eq(nser, 3, "series: allow/done, deny/not_allowed, deny/unknown_protocol");

	snprintf(
		sel, sizeof(sel),
		"decision=\"allow\",listener=\"%s\",path=\"tls\",policy=\"default\",reason=\"done\"",
		lis);
	assert_val(d, "snigate_connections_total", sel, 3);
	snprintf(
		sel, sizeof(sel),
		"decision=\"deny\",listener=\"%s\",path=\"tls\",policy=\"default\",reason=\"not_allowed\"",
		lis);
	assert_val(d, "snigate_connections_total", sel, 3);
	size_t m = 0;
	double v = promdoc_sum(d, "snigate_connections_total",
			       "decision=\"deny\",reason=\"unknown_protocol\"", &m);
	cr_assert(v == 1 && m == 1, "unknown_protocol: %g in %zu series", v, m);
	assert_val(d, "snigate_active_connections", "", 0);
	assert_val(d, "snigate_allowed_connections_total", "name=\"allowed.test\"", 3);
	assert_val(d, "snigate_allowed_connections_total", "name=\"*.wild.test\"", 0);
	assert_val(d, "snigate_allowed_connections_total", "name=\"nx.test\"", 0);
	/* Every allowlist entry has its series, and only those. */
	promdoc_sum(d, "snigate_allowed_connections_total", "", &m);
	cr_assert_eq(m, 7, "one series per allowlist entry (7), got %zu", m);
	/* The six whole hellos, not the garbage. */
	assert_val(d, "snigate_clienthello_bytes_count", "", 6);
	assert_val(d, "snigate_clienthello_bytes_sum", "", hello_sum);
	assert_val(d, "snigate_clienthello_bytes_bucket", "le=\"+Inf\"", 6);
	assert_val(d, "snigate_upstream_connect_seconds_count", "", 3);
	/* Upstream counts the hellos too: they are relayed. */
	double hl = (double)hello_for("allowed.test", hello, sizeof(hello));
	assert_val(d, "snigate_bytes_total", "direction=\"upstream\"", 3 * (hl + up));
	assert_val(d, "snigate_bytes_total", "direction=\"downstream\"", 3.0 * dn);
	assert_val(d, "snigate_worker_threads", "", 2);
	assert_val(d, "snigate_draining", "", 0);
	assert_val(d, "snigate_config_generation", "", 0);
	assert_val(d, "snigate_config_reload_total", "result=\"success\"", 0);
	assert_val(d, "snigate_config_reload_total", "result=\"failure\"", 0);
	assert_val(d, "snigate_config_last_reload_successful", "", 1);
	assert_val(d, "snigate_access_log_dropped_total", "", 0);
	promdoc_sum(d, "snigate_build_info", "", &m);
	cr_assert_eq(m, 1);
	double now = (double)time(NULL);
	double st = mval(d, "snigate_start_time_seconds", "");
	cr_assert(st > now - 120 && st <= now + 1, "start time %f, now %f", st, now);
	assert_val(d, "snigate_config_last_reload_success_timestamp_seconds", "", st);
	/* Lookups: three allowed names resolved, by whatever path. */
	double lk = promdoc_sum(d, "snigate_dns_lookups_total", "outcome=\"hit\"", NULL) +
		    promdoc_sum(d, "snigate_dns_lookups_total", "outcome=\"miss\"", NULL) +
		    promdoc_sum(d, "snigate_dns_lookups_total", "outcome=\"coalesced\"", NULL);
	cr_assert_eq(lk, 3, "hit + miss + coalesced lookups: %g", lk);
	/* At least one round went to unbound, and its time is in the sum. */
	double dq = mval(d, "snigate_dns_upstream_seconds_count", "");
	double ds = mval(d, "snigate_dns_upstream_seconds_sum", "");
	cr_assert(dq >= 1 && ds > 0 && ds < dq * 5, "DNS rounds %g, sum %g s", dq, ds);

	/* Per worker: the two workers' figures add up to the totals. */
	cr_assert_eq(promdoc_sum(d, "snigate_worker_accepted_total", "", &m), 7);
	cr_assert_eq(m, 2, "one series per worker");
	cr_assert_eq(promdoc_sum(d, "snigate_worker_active_connections", "", &m), 0);
	cr_assert_eq(m, 2);
	double age = mval(d, "snigate_worker_loop_age_seconds", "worker=\"1\"");
	cr_assert(age >= 0 && age < 5, "worker 1 loop age %g s", age);
	assert_val(d, "snigate_ready", "", 1);
	assert_val(d, "snigate_healthy", "", 1);
	assert_val(d, "snigate_worker_threads_info", "pinned=\"false\",source=\"config\"", 1);
	/* The process, as the client libraries report it. */
	double fds = mval(d, "process_open_fds", ""), maxfds = mval(d, "process_max_fds", "");
	cr_assert(fds > 10 && fds < maxfds, "open fds %g of %g", fds, maxfds);
	cr_assert_gt(mval(d, "process_resident_memory_bytes", ""), 1 << 20);
	cr_assert_gt(mval(d, "process_cpu_seconds_total", ""), 0);
	cr_assert_eq(mval(d, "process_start_time_seconds", ""), st);
	cr_assert_gt(mval(d, "snigate_connections_limit", ""), 0);
	const struct promdoc_family *bi = promdoc_family(d, "snigate_build_info");
	cr_assert(bi && bi->n == 1);
	const struct promdoc_sample *bs = &d->samples[bi->first];
	cr_assert(bs->n_labels == 2 && !strcmp(bs->labels[0].name, "revision") &&
			  bs->labels[0].value[0],
		  "snigate_build_info has no revision label");

	/* Each family with its type. */
	static const struct {
		const char *name;
		enum promdoc_type type;
	} fam[] = {
		{"snigate_build_info", PD_GAUGE},
		{"snigate_connections_accepted_total", PD_COUNTER},
		{"snigate_connections_total", PD_COUNTER},
		{"snigate_active_connections", PD_GAUGE},
		{"snigate_bytes_total", PD_COUNTER},
		{"snigate_clienthello_bytes", PD_HISTOGRAM},
		{"snigate_upstream_connect_seconds", PD_HISTOGRAM},
		{"snigate_allowed_connections_total", PD_COUNTER},
		{"snigate_access_log_dropped_total", PD_COUNTER},
		{"snigate_pipe_bytes", PD_GAUGE},
		{"snigate_dns_lookups_total", PD_COUNTER},
		{"snigate_dns_queries_total", PD_COUNTER},
		{"snigate_dns_upstream_seconds", PD_HISTOGRAM},
		{"snigate_config_reload_total", PD_COUNTER},
		{"snigate_config_last_reload_success_timestamp_seconds", PD_GAUGE},
		{"snigate_config_generation", PD_GAUGE},
		{"snigate_draining", PD_GAUGE},
		{"snigate_worker_threads", PD_GAUGE},
		{"snigate_start_time_seconds", PD_GAUGE},
		{"snigate_worker_active_connections", PD_GAUGE},
		{"snigate_worker_accepted_total", PD_COUNTER},
		{"snigate_worker_loop_age_seconds", PD_GAUGE},
		{"snigate_worker_threads_info", PD_GAUGE},
		{"snigate_ready", PD_GAUGE},
		{"snigate_healthy", PD_GAUGE},
		{"snigate_connections_limit", PD_GAUGE},
		{"process_cpu_seconds_total", PD_COUNTER},
		{"process_open_fds", PD_GAUGE},
		{"process_max_fds", PD_GAUGE},
		{"process_resident_memory_bytes", PD_GAUGE},
		{"process_start_time_seconds", PD_GAUGE},
	};
	for (size_t i = 0; i < sizeof(fam) / sizeof(fam[0]); i++) {
		const struct promdoc_family *f = promdoc_family(d, fam[i].name);
		cr_assert_not_null(f, "no family %s", fam[i].name);
		cr_assert_eq(f->type, fam[i].type, "%s has type %d, want %d", fam[i].name, f->type,
			     fam[i].type);
	}
	promdoc_free(d);

	/* GET /denied: the two names, most denied first, with exact counts. */
	char *body = get_ok(h_control_port(&g), "/denied", 200);
	cr_assert(strstr(body, "{\"total\":3,"), "/denied total: %s", body);
	const char *a = strstr(
		body, "{\"name\":\"denied.test\",\"policy\":\"default\",\"count\":2,\"error\":0}");
	const char *b = strstr(
		body, "{\"name\":\"zzz.test\",\"policy\":\"default\",\"count\":1,\"error\":0}");
	cr_assert(a && b && a < b, "/denied: %s", body);
	cr_assert_null(strstr(body, "allowed.test"), "an allowed name in /denied: %s", body);
	free(body);

	/* GET /config: the running allowlist and listener. */
	body = get_ok(h_control_port(&g), "/config", 200);
	cr_assert(strstr(body, "\n  - \"allowed.test\"\n"), "/config: %s", body);
	cr_assert(strstr(body, "\n  - \"*.wild.test\"\n"), "/config: %s", body);
	snprintf(sel, sizeof(sel), "  - address: \"127.0.0.1:%d\"\n", g.port);
	cr_assert(strstr(body, sel), "/config lacks the listener port: %s", body);
	free(body);

	/* The stats line at exit agrees. */
	cr_assert_eq(h_snigate_stop(&g), 0);
	long long sv;
	cr_assert(h_stats(&g, "accepted", &sv));
	cr_assert_eq(sv, 7);
	cr_assert(h_stats(&g, "bytes_up", &sv));
	cr_assert_eq(sv, (long long)(3 * (hl + up)));
}

/* ================= 3. reload under load ================= */

#define LONG_N	  8
#define LONG_UP	  (16ULL << 20)
#define LONG_DN	  (8ULL << 20)
#define SHORT_MAX 900

struct shorts {
	int port;
	atomic_bool stop;
	atomic_int n;
	struct {
		const char *sni;
		uint64_t t0;
		enum h_outcome o;
	} c[SHORT_MAX];
};

/* A steady stream of short connections, cycling through three names. */
static void *shorts_run(void *arg)
{
	static const char *const names[] = {"allowed.test", "x.wild.test", "denied.test"};
	struct shorts *sh = arg;

	for (int i = 0; i < SHORT_MAX && !atomic_load(&sh->stop); i++) {
		sh->c[i].sni = names[i % 3];
		sh->c[i].t0 = h_now_ms();
		sh->c[i].o = exchange(sh->port, sh->c[i].sni, 0, NULL);
		atomic_store(&sh->n, i + 1);
		h_sleep_ms(2);
	}
	return NULL;
}

static void wait_shorts(struct shorts *sh, int more)
{
	int want = atomic_load(&sh->n) + more;
	uint64_t end = h_now_ms() + 10000;
	while (atomic_load(&sh->n) < want && h_now_ms() < end)
		h_sleep_ms(5);
	cr_assert_geq(atomic_load(&sh->n), want, "the short connections stalled");
}

/* Wait for the reload log line of generation gen; returns when it was seen. */
static uint64_t wait_generation(const struct h_gw *g, unsigned gen)
{
	char needle[64];
	snprintf(needle, sizeof(needle), ": generation %u,", gen);
	cr_assert(h_file_wait(g->p->err, needle, 5000), "no reload to generation %u:\n%s", gen,
		  h_read_file(g->p->err));
	return h_now_ms();
}

Test(ops, reload_under_load_keeps_every_transfer_and_switches_the_allowlist, .timeout = 180)
{
	uint8_t hello[4096];
	size_t hl = hello_for("allowed.test", hello, sizeof(hello));
	struct h_sink_opts lo = {.send_len = LONG_DN,
				 .send_seed = SEED_DN,
				 .send_after_eof = true,
				 .verify_from = hl,
				 .verify_seed = SEED_UP};
	struct h_sink *sl = h_sink_start(&lo);
	struct h_sink_opts so = {0};
	struct h_sink *ss = h_sink_start(&so);
	int p1 = h_free_port(), p2 = h_free_port();
	char conf[256], text[2048];

	/* Long transfers on one listener, short connections on the other. */
	static const char fmt[] = "threads: 2\n"
				  "listeners:\n"
				  "  - address: 127.0.0.1:%d\n"
				  "    upstream_port: %d\n"
				  "  - address: 127.0.0.1:%d\n"
				  "    upstream_port: %d\n"
				  "allow:\n"
				  "  - allowed.test\n"
				  "%s"
				  "resolver:\n"
				  "  forwarders: [\"127.0.0.1:%d\"]\n"
				  "timeouts:\n"
				  "  client_hello: 2s\n";
	h_path(conf, sizeof(conf), "gw.yaml");
	snprintf(text, sizeof(text), fmt, p1, h_sink_port(sl), p2, h_sink_port(ss), "", H.dns_port);
	h_write_file(conf, text);
	const char *args[] = {"-c", conf, NULL};
	struct h_gw g = h_snigate_args(p1, args);
	int ap = h_admin_port(&g);

	atomic_int gate = 0;
	struct tx tx[LONG_N];
	struct rx rx[LONG_N];
	pthread_t tt[LONG_N], rt[LONG_N], st;
	for (int i = 0; i < LONG_N; i++) {
		int fd = open_hello(p1, "allowed.test", NULL);
		tx[i] = (struct tx){.fd = fd,
				    .seed = SEED_UP,
				    .len = LONG_UP,
				    .chunk = CHUNK,
				    .pause_ms = 2,
				    .gate = &gate};
		rx[i] = (struct rx){.fd = fd, .seed = SEED_DN};
		cr_assert_eq(pthread_create(&tt[i], NULL, tx_run, &tx[i]), 0);
		cr_assert_eq(pthread_create(&rt[i], NULL, rx_run, &rx[i]), 0);
	}
	struct shorts *sh = calloc(1, sizeof(*sh));
	cr_assert_not_null(sh);
	sh->port = p2;
	cr_assert_eq(pthread_create(&st, NULL, shorts_run, sh), 0);
	wait_shorts(sh, 9);
	/* Reload in the middle of the first halves. */
	for (int i = 0; i < LONG_N; i++) {
		uint64_t end = h_now_ms() + 10000;
		while (atomic_load(&tx[i].sent) < LONG_UP / 8 && h_now_ms() < end)
			h_sleep_ms(2);
	}

	/* 1: the file rewritten in place, and SIGHUP. */
	uint64_t t_r1 = h_now_ms();
	snprintf(text, sizeof(text), fmt, p1, h_sink_port(sl), p2, h_sink_port(ss),
		 "  - \"*.wild.test\"\n", H.dns_port);
	h_write_file(conf, text);
	kill(g.p->pid, SIGHUP);
	uint64_t t_g1 = wait_generation(&g, 1);
	uint64_t sent_at_r1 = 0;
	for (int i = 0; i < LONG_N; i++)
		sent_at_r1 += atomic_load(&tx[i].sent);
	wait_shorts(sh, 9);

	/* 2: the file replaced by a rename, no signal. */
	uint64_t t_r2 = h_now_ms();
	snprintf(text, sizeof(text), fmt, p1, h_sink_port(sl), p2, h_sink_port(ss),
		 "  - \"*.wild.test\"\n  - denied.test\n", H.dns_port);
	write_atomic(conf, text);
	uint64_t t_g2 = wait_generation(&g, 2);
	wait_shorts(sh, 9);
	atomic_store(&gate, 1);
	atomic_store(&sh->stop, true);
	pthread_join(st, NULL);

	for (int i = 0; i < LONG_N; i++) {
		pthread_join(tt[i], NULL);
		cr_assert_eq(tx[i].err, 0, "long transfer %d: send failed: %s", i,
			     strerror(tx[i].err));
		shutdown(tx[i].fd, SHUT_WR);
	}
	for (int i = 0; i < LONG_N; i++) {
		pthread_join(rt[i], NULL);
		close(rx[i].fd);
	}
	cr_log_info("reloads with %llu of %llu MiB sent upstream",
		    (unsigned long long)(sent_at_r1 >> 20),
		    (unsigned long long)((LONG_N * LONG_UP) >> 20));
	cr_assert_lt(sent_at_r1, LONG_N * LONG_UP / 2 + 1, "gate broken");

	/* Every long transfer whole, both ways, with its checksum. */
	cr_assert_eq(h_sink_accepted(sl), LONG_N);
	for (int i = 0; i < LONG_N; i++) {
		const struct h_sink_conn *c = h_sink_wait(sl, (unsigned)i, 20000);
		cr_assert_not_null(c, "upstream %d never finished", i);
		cr_assert(c->eof, "upstream %d: read ended with errno %d, not EOF", i, c->rerr);
		cr_assert_eq(c->received, hl + LONG_UP, "upstream %d got %llu bytes", i,
			     (unsigned long long)c->received);
		cr_assert_eq(c->bad_at, -1, "upstream %d: stream corrupt at %lld", i,
			     (long long)c->bad_at);
		cr_assert_eq(c->werr, 0);
	}
	for (int i = 0; i < LONG_N; i++) {
		cr_assert_eq(rx[i].end, H_EOF, "client %d: ended with %s", i,
			     h_outcome_str(rx[i].end));
		cr_assert_eq(rx[i].got, LONG_DN, "client %d got %llu bytes", i,
			     (unsigned long long)rx[i].got);
		cr_assert_eq(rx[i].bad_at, -1, "client %d: stream corrupt at %lld", i,
			     (long long)rx[i].bad_at);
	}

	/* Short connections: each name as the allowlist of its time says. */
	int n = atomic_load(&sh->n), n_allowed = 0, n_wild = 0, n_denied_ok = 0;
	int before1 = 0, after1 = 0, before2 = 0, after2 = 0;
	for (int i = 0; i < n; i++) {
		const char *sni = sh->c[i].sni;
		uint64_t t = sh->c[i].t0;
		enum h_outcome o = sh->c[i].o;
		cr_assert(o == H_EOF || o == H_RESET, "short %d (%s): %s", i, sni,
			  h_outcome_str(o));
		if (!strcmp(sni, "allowed.test")) {
			cr_assert_eq(o, H_EOF, "short %d: allowed.test was reset", i);
			n_allowed++;
		} else if (!strcmp(sni, "x.wild.test")) {
			if (t < t_r1) {
				cr_assert_eq(o, H_RESET, "x.wild.test allowed before reload 1");
				before1++;
			} else if (t > t_g1) {
				cr_assert_eq(o, H_EOF, "x.wild.test reset after reload 1");
				after1++;
			}
			n_wild += o == H_EOF;
		} else {
			if (t < t_r2) {
				cr_assert_eq(o, H_RESET, "denied.test allowed before reload 2");
				before2++;
			} else if (t > t_g2) {
				cr_assert_eq(o, H_EOF, "denied.test reset after reload 2");
				after2++;
			}
			n_denied_ok += o == H_EOF;
		}
	}
	cr_assert(before1 && after1 && before2 && after2,
		  "each window needs connections: %d %d %d %d of %d", before1, after1, before2,
		  after2, n);
	free(sh);

	/* Counted: two reloads, no failure; no connection reset or cut. */
	expect_metric(ap, "snigate_config_reload_total", "result=\"success\"", 2);
	struct promdoc *d = scrape(ap);
	assert_val(d, "snigate_config_reload_total", "result=\"failure\"", 0);
	assert_val(d, "snigate_config_generation", "", 2);
	cr_assert_gt(mval(d, "snigate_config_last_reload_success_timestamp_seconds", ""),
		     mval(d, "snigate_start_time_seconds", ""));
	promdoc_free(d);
	char sel[160];
	snprintf(
		sel, sizeof(sel),
		"decision=\"allow\",listener=\"127.0.0.1:%d\",path=\"tls\",policy=\"default\",reason=\"done\"",
		p1);
	expect_metric(ap, "snigate_connections_total", sel, LONG_N);
	d = scrape(ap);
	static const char *const cut[] = {"client_reset", "upstream_reset", "shutdown", "internal",
					  "idle_timeout"};
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		char r[64];
		size_t m = 0;
		snprintf(r, sizeof(r), "reason=\"%s\"", cut[i]);
		promdoc_sum(d, "snigate_connections_total", r, &m);
		cr_assert_eq(m, 0, "a connection ended with %s", cut[i]);
	}
	/* Per-name counters followed the names through both reloads. */
	assert_val(d, "snigate_allowed_connections_total", "name=\"allowed.test\"",
		   LONG_N + n_allowed);
	assert_val(d, "snigate_allowed_connections_total", "name=\"*.wild.test\"", n_wild);
	assert_val(d, "snigate_allowed_connections_total", "name=\"denied.test\"", n_denied_ok);
	promdoc_free(d);
	char *body = get_ok(h_control_port(&g), "/config", 200);
	cr_assert(strstr(body, "\n  - \"*.wild.test\"\n  - \"denied.test\"\n"), "/config: %s",
		  body);
	free(body);
	cr_assert_eq(h_log_count(&g, "\"reason\":\"client_reset\""), 0);
	cr_assert_eq(h_log_count(&g, "\"reason\":\"upstream_reset\""), 0);
}

/* ================= 4. a refused reload ================= */

Test(ops, bad_reload_keeps_the_running_config)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	int port = h_free_port();
	char conf[256], needle[300];

	h_path(conf, sizeof(conf), "gw.yaml");
	write_conf(conf, port, h_sink_port(s), "  - allowed.test\n", NULL);
	const char *args[] = {"-c", conf, NULL};
	struct h_gw g = h_snigate_args(port, args);
	int ap = h_admin_port(&g);

	/* A bad value, on line 12, next to a new allowlist entry: nothing of it applies. */
	write_conf(conf, port, h_sink_port(s), "  - allowed.test\n  - \"*.wild.test\"\n",
		   "  connect: 5x\n");
	kill(g.p->pid, SIGHUP);
	expect_metric(ap, "snigate_config_reload_total", "result=\"failure\"", 1);
	snprintf(needle, sizeof(needle), "%s:12: timeouts.connect: ", conf);
	cr_assert(h_file_wait(g.p->err, needle, 2000), "stderr does not name %s:\n%s", needle,
		  h_read_file(g.p->err));
	cr_assert(strstr(h_read_file(g.p->err), "refused, the running configuration stays"));
	cr_assert_eq(exchange(port, "x.wild.test", 0, NULL), H_RESET,
		     "the refused file's allowlist was applied");
	cr_assert_eq(exchange(port, "allowed.test", 10, NULL), H_EOF);

	/* A listener port changed, by a file change alone: refused, still on the old port. */
	write_conf(conf, port + 1, h_sink_port(s), "  - allowed.test\n  - \"*.wild.test\"\n", NULL);
	expect_metric(ap, "snigate_config_reload_total", "result=\"failure\"", 2);
	cr_assert(h_file_wait(g.p->err, "listeners (an address or port) changed", 2000), "%s",
		  h_read_file(g.p->err));
	cr_assert_eq(exchange(port, "x.wild.test", 0, NULL), H_RESET);
	cr_assert_eq(exchange(port, "allowed.test", 10, NULL), H_EOF);
	/* Each bad file is counted once, not at every event. */
	h_sleep_ms(800);
	struct promdoc *d = scrape(ap);
	assert_val(d, "snigate_config_reload_total", "result=\"failure\"", 2);
	assert_val(d, "snigate_config_reload_total", "result=\"success\"", 0);
	assert_val(d, "snigate_config_generation", "", 0);
	assert_val(d, "snigate_config_last_reload_successful", "", 0);
	promdoc_free(d);
	char *body = get_ok(h_control_port(&g), "/config", 200);
	cr_assert_null(strstr(body, "wild"), "/config shows a refused allowlist: %s", body);
	free(body);

	/* A good file after the bad ones applies. */
	write_conf(conf, port, h_sink_port(s), "  - allowed.test\n  - \"*.wild.test\"\n", NULL);
	kill(g.p->pid, SIGHUP);
	expect_metric(ap, "snigate_config_generation", "", 1);
	d = scrape(ap);
	assert_val(d, "snigate_config_reload_total", "result=\"failure\"", 2);
	assert_val(d, "snigate_config_reload_total", "result=\"success\"", 1);
	assert_val(d, "snigate_config_last_reload_successful", "", 1);
	promdoc_free(d);
	cr_assert_eq(exchange(port, "x.wild.test", 10, NULL), H_EOF);
}

/* ================= 5. Kubernetes ConfigMap ================= */

/* What the kubelet does: a new timestamped dir, then "..data" swapped by rename(2). */
static void configmap_swap(const char *dir, const char *stamp, const char *text)
{
	char p[512], t[512];
	snprintf(p, sizeof(p), "%s/%s", dir, stamp);
	cr_assert_eq(mkdir(p, 0755), 0, "mkdir %s: %s", p, strerror(errno));
	snprintf(p, sizeof(p), "%s/%s/snigate.yaml", dir, stamp);
	h_write_file(p, text);
	snprintf(t, sizeof(t), "%s/..data_tmp", dir);
	cr_assert_eq(symlink(stamp, t), 0, "symlink: %s", strerror(errno));
	snprintf(p, sizeof(p), "%s/..data", dir);
	cr_assert_eq(rename(t, p), 0, "rename: %s", strerror(errno));
}

static void configmap_text(char *buf, size_t len, int port, int up, const char *allow)
{
	snprintf(buf, len,
		 "threads: 2\nlisteners:\n  - address: 127.0.0.1:%d\n"
		 "    upstream_port: %d\nallow:\n%sresolver:\n  forwarders: [\"127.0.0.1:%d\"]\n",
		 port, up, allow, H.dns_port);
}

Test(ops, configmap_symlink_swap_is_picked_up)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	int port = h_free_port();
	char dir[256], p[512], text[1024], old[512];

	h_path(dir, sizeof(dir), "configmap");
	cr_assert_eq(mkdir(dir, 0755), 0);
	configmap_text(text, sizeof(text), port, h_sink_port(s), "  - allowed.test\n");
	snprintf(p, sizeof(p), "%s/..2026_11_28_a", dir);
	cr_assert_eq(mkdir(p, 0755), 0);
	snprintf(p, sizeof(p), "%s/..2026_11_28_a/snigate.yaml", dir);
	h_write_file(p, text);
	snprintf(p, sizeof(p), "%s/..data", dir);
	cr_assert_eq(symlink("..2026_11_28_a", p), 0);
	snprintf(p, sizeof(p), "%s/snigate.yaml", dir);
	cr_assert_eq(symlink("..data/snigate.yaml", p), 0);
	const char *args[] = {"-c", p, NULL};
	struct h_gw g = h_snigate_args(port, args);
	int ap = h_admin_port(&g);

	cr_assert_eq(exchange(port, "x.wild.test", 0, NULL), H_RESET);
	cr_assert_eq(exchange(port, "allowed.test", 0, NULL), H_EOF);

	/* Swap in a list with the wildcard, then delete the old dir as the kubelet does. */
	configmap_text(text, sizeof(text), port, h_sink_port(s),
		       "  - allowed.test\n  - \"*.wild.test\"\n");
	uint64_t t0 = h_now_ms();
	configmap_swap(dir, "..2026_11_28_b", text);
	snprintf(old, sizeof(old), "%s/..2026_11_28_a/snigate.yaml", dir);
	unlink(old);
	snprintf(old, sizeof(old), "%s/..2026_11_28_a", dir);
	rmdir(old);
	expect_metric(ap, "snigate_config_generation", "", 1);
	cr_log_info("ConfigMap swap applied within %llu ms", (unsigned long long)(h_now_ms() - t0));
	cr_assert_lt(h_now_ms() - t0, 3000);
	cr_assert_eq(exchange(port, "x.wild.test", 0, NULL), H_EOF,
		     "the swapped-in allowlist is not in force");

	/* A second swap, dropping allowed.test. */
	configmap_text(text, sizeof(text), port, h_sink_port(s), "  - \"*.wild.test\"\n");
	configmap_swap(dir, "..2026_11_28_c", text);
	expect_metric(ap, "snigate_config_generation", "", 2);
	cr_assert_eq(exchange(port, "allowed.test", 0, NULL), H_RESET);
	cr_assert_eq(exchange(port, "a.b.wild.test", 0, NULL), H_EOF);
	h_sleep_ms(500);
	struct promdoc *d = scrape(ap);
	assert_val(d, "snigate_config_reload_total", "result=\"success\"", 2);
	assert_val(d, "snigate_config_reload_total", "result=\"failure\"", 0);
	promdoc_free(d);
}

/* ================= 6. drain ================= */

Test(ops, sigterm_drain_lets_a_transfer_finish_then_exits_0)
{
	uint8_t hello[4096];
	size_t hl = hello_for("allowed.test", hello, sizeof(hello));
	struct h_sink_opts so = {.verify_from = hl, .verify_seed = SEED_UP};
	struct h_sink *s = h_sink_start(&so);
	const char *extra[] = {"--drain-timeout", "10s", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);
	int ap = h_admin_port(&g);

	/* About 2 s: 20 chunks of 64 KiB, 100 ms apart. */
	int fd = open_hello(g.port, "allowed.test", NULL);
	struct tx t = {
		.fd = fd, .seed = SEED_UP, .len = 20 * 65536, .chunk = 65536, .pause_ms = 100};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, tx_run, &t), 0);
	while (atomic_load(&t.sent) < 2 * 65536)
		h_sleep_ms(5);
	uint64_t t0 = h_now_ms();
	kill(g.p->pid, SIGTERM);

	cr_assert_eq(http(ap, "GET", "/ready", NULL), 503, "/ready while draining");
	uint64_t t_ref = wait_refused(g.port, 1000);
	cr_assert_neq(t_ref, 0, "the listener still accepts 1 s after SIGTERM (drain.delay 0)");
	cr_assert(h_alive(g.p), "snigate exited with a transfer in flight");
	pthread_join(th, NULL);
	cr_assert_eq(t.err, 0, "the transfer was cut: %s after %llu ms", strerror(t.err),
		     (unsigned long long)(t.t_err - t0));
	cr_assert(h_alive(g.p), "snigate exited before the transfer ended");
	shutdown(fd, SHUT_WR);
	enum h_outcome o = h_wait(fd, 5000, NULL, 0, NULL);
	uint64_t t_end = h_now_ms();
	close(fd);
	cr_assert_eq(o, H_EOF, "the transfer ended with %s", h_outcome_str(o));
	const struct h_sink_conn *c = h_sink_wait(s, 0, 5000);
	cr_assert_not_null(c);
	cr_assert(c->eof, "upstream: errno %d, not EOF", c->rerr);
	cr_assert_eq(c->received, hl + t.len);
	cr_assert_eq(c->bad_at, -1);
	cr_assert_eq(h_sink_accepted(s), 1, "a connection after SIGTERM reached the upstream");

	cr_assert(h_wait_exit(g.p, 2000), "snigate still runs 2 s after the transfer ended");
	cr_assert_eq(h_exit_code(g.p), 0);
	cr_log_info("drain: listener closed %llu ms after SIGTERM, exit %llu ms after the "
		    "transfer ended (%llu ms after SIGTERM)",
		    (unsigned long long)(t_ref - t0), (unsigned long long)(h_now_ms() - t_end),
		    (unsigned long long)(t_end - t0));
	const char *want[] = {"\"reason\":\"done\"", NULL};
	char line[1024];
	expect_log(&g, want, line, sizeof(line));
	long long v;
	cr_assert(h_json_num(line, "bytes_up", &v));
	cr_assert_eq(v, (long long)(hl + t.len));
}

Test(ops, drain_timeout_resets_a_transfer_that_runs_over)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	const char *extra[] = {"--drain-timeout", "1s", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);

	/* Would take 5 s. */
	int fd = open_hello(g.port, "allowed.test", NULL);
	struct tx t = {
		.fd = fd, .seed = SEED_UP, .len = 50 * 16384, .chunk = 16384, .pause_ms = 100};
	pthread_t th;
	cr_assert_eq(pthread_create(&th, NULL, tx_run, &t), 0);
	while (atomic_load(&t.sent) < 2 * 16384)
		h_sleep_ms(5);
	uint64_t t0 = h_now_ms();
	kill(g.p->pid, SIGTERM);
	pthread_join(th, NULL);
	close(fd);
	cr_assert(t.err == ECONNRESET || t.err == EPIPE,
		  "the transfer was not reset (err %d, %llu of %llu bytes sent)", t.err,
		  (unsigned long long)atomic_load(&t.sent), (unsigned long long)t.len);
	uint64_t dt = t.t_err - t0;
	cr_log_info("reset %llu ms after SIGTERM", (unsigned long long)dt);
	cr_assert_geq(dt, 900, "reset after %llu ms, before drain.timeout 1s",
		      (unsigned long long)dt);
	cr_assert_lt(dt, 2500, "reset only after %llu ms", (unsigned long long)dt);
	const struct h_sink_conn *c = h_sink_wait(s, 0, 5000);
	cr_assert_not_null(c);
	cr_assert(!c->eof, "the upstream saw a FIN: a cut stream would pass for complete");
	cr_assert(h_wait_exit(g.p, 3000), "snigate did not exit after the drain timeout");
	cr_assert_eq(h_exit_code(g.p), 0);
	cr_assert(strstr(h_read_file(g.p->err), "drain: timeout"));
}

Test(ops, second_sigterm_stops_at_once)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	const char *extra[] = {"--drain-timeout", "10s", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);

	int fd = open_hello(g.port, "allowed.test", NULL);
	uint64_t end = h_now_ms() + 5000;
	while (h_sink_accepted(s) < 1 && h_now_ms() < end)
		h_sleep_ms(5);
	cr_assert_eq(h_sink_accepted(s), 1);
	kill(g.p->pid, SIGTERM);
	h_sleep_ms(300);
	cr_assert(h_alive(g.p), "snigate did not wait for the open connection");
	uint64_t t0 = h_now_ms();
	kill(g.p->pid, SIGTERM);
	cr_assert(h_wait_exit(g.p, 2000), "a second SIGTERM did not stop snigate");
	uint64_t dt = h_now_ms() - t0;
	cr_assert_lt(dt, 1000, "second SIGTERM: exit after %llu ms", (unsigned long long)dt);
	cr_assert_eq(h_exit_code(g.p), 0);
	cr_assert(h_wait_peer_reset(fd, 2000), "the open connection was not reset");
	close(fd);
	cr_assert(strstr(h_read_file(g.p->err), "second stop signal"));
}

/* ================= 7. audit mode ================= */

Test(ops, audit_lets_a_denied_name_through_and_counts_it)
{
	uint8_t hello[4096];
	size_t hl = hello_for("denied.test", hello, sizeof(hello));
	struct h_sink_opts so = {.capture = 4096, .send_len = 300, .send_seed = SEED_DN};
	struct h_sink *s = h_sink_start(&so);
	const char *extra[] = {"--audit", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);
	int ap = h_admin_port(&g);
	char line[1024], sel[200];

	cr_assert(strstr(h_read_file(g.p->err), "mode audit"), "ready line: %s",
		  h_read_file(g.p->err));
	uint64_t down = 0;
	enum h_outcome o = exchange(g.port, "denied.test", 100, &down);
	cr_assert_eq(o, H_EOF, "denied.test in audit mode: %s", h_outcome_str(o));
	cr_assert_eq(down, 300);
	const struct h_sink_conn *c = h_sink_wait(s, 0, 5000);
	cr_assert_not_null(c, "denied.test never reached the upstream in audit mode");
	cr_assert_eq(c->received, hl + 100);
	cr_assert_arr_eq(c->cap, hello, hl);
	const char *want[] = {"\"sni\":\"denied.test\"", "\"decision\":\"would_deny\"",
			      "\"reason\":\"done\"", NULL};
	expect_log(&g, want, line, sizeof(line));
	cr_assert_eq(exchange(g.port, "allowed.test", 0, NULL), H_EOF);
	snprintf(
		sel, sizeof(sel),
		"decision=\"would_deny\",listener=\"127.0.0.1:%d\",path=\"tls\",policy=\"default\",reason=\"done\"",
		g.port);
	expect_metric(ap, "snigate_connections_total", sel, 1);
	snprintf(
		sel, sizeof(sel),
		"decision=\"allow\",listener=\"127.0.0.1:%d\",path=\"tls\",policy=\"default\",reason=\"done\"",
		g.port);
	expect_metric(ap, "snigate_connections_total", sel, 1);
	struct promdoc *d = scrape(ap);
	size_t m;
	promdoc_sum(d, "snigate_connections_total", "decision=\"deny\"", &m);
	cr_assert_eq(m, 0, "a deny series in audit mode");
	promdoc_free(d);
	char *body = get_ok(h_control_port(&g), "/denied", 200);
	cr_assert(strstr(body, "{\"name\":\"denied.test\",\"policy\":\"default\",\"count\":1,"),
		  "/denied: %s", body);
	free(body);

	/* The same name without --audit: reset, nothing reaches the upstream. */
	struct h_gw e = h_snigate(h_sink_port(s), NULL);
	cr_assert(strstr(h_read_file(e.p->err), "mode enforce"));
	int fd = open_hello(e.port, "denied.test", NULL);
	o = h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);
	cr_assert_eq(o, H_RESET, "denied.test without --audit: %s", h_outcome_str(o));
	const char *want_e[] = {"\"sni\":\"denied.test\"", "\"decision\":\"deny\"",
				"\"reason\":\"not_allowed\"", NULL};
	expect_log(&e, want_e, line, sizeof(line));
	h_sleep_ms(100);
	cr_assert_eq(h_sink_accepted(s), 2, "a denied name reached the upstream");
}

Test(ops, audit_mode_per_listener)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	int p1 = h_free_port(), p2 = h_free_port();
	char conf[256], text[1024];

	snprintf(text, sizeof(text),
		 "threads: 2\nlisteners:\n"
		 "  - address: 127.0.0.1:%d\n    upstream_port: %d\n"
		 "  - address: 127.0.0.1:%d\n    upstream_port: %d\n"
		 "    mode: audit\n"
		 "allow:\n  - allowed.test\n"
		 "resolver:\n  forwarders: [\"127.0.0.1:%d\"]\n",
		 p1, h_sink_port(s), p2, h_sink_port(s), H.dns_port);
	h_write_file(h_path(conf, sizeof(conf), "gw.yaml"), text);
	const char *args[] = {"-c", conf, NULL};
	struct h_gw g = h_snigate_args(p1, args);

	cr_assert_eq(exchange(p1, "denied.test", 0, NULL), H_RESET, "enforcing listener");
	cr_assert_eq(exchange(p2, "denied.test", 0, NULL), H_EOF, "auditing listener");
	char sel[200];
	snprintf(
		sel, sizeof(sel),
		"decision=\"would_deny\",listener=\"127.0.0.1:%d\",path=\"tls\",policy=\"default\",reason=\"done\"",
		p2);
	expect_metric(h_admin_port(&g), "snigate_connections_total", sel, 1);
	snprintf(
		sel, sizeof(sel),
		"decision=\"deny\",listener=\"127.0.0.1:%d\",path=\"tls\",policy=\"default\",reason=\"not_allowed\"",
		p1);
	expect_metric(h_admin_port(&g), "snigate_connections_total", sel, 1);
}

/* ================= 8. limits ================= */

Test(ops, max_pending_hellos_resets_the_excess)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	char conf[256], line[1024], sel[200];
	int fds[6];

	/* Only limits matter: the listener and allowlist come from the flags. */
	h_write_file(h_path(conf, sizeof(conf), "limits.yaml"),
		     "listeners:\n  - address: 127.0.0.1:8443\n"
		     "allow:\n  - placeholder.test\n"
		     "limits:\n  max_pending_hellos: 4\n");
	const char *extra[] = {"-c", conf, "--threads", "1", "--client-hello-timeout", "20s", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);
	int ap = h_admin_port(&g);

	for (int i = 0; i < 4; i++)
		fds[i] = open_half_hello(g.port, "allowed.test");
	expect_metric(ap, "snigate_active_connections", "", 4);
	fds[4] = open_half_hello(g.port, "allowed.test");
	uint64_t t0 = h_now_ms();
	enum h_outcome o = h_wait(fds[4], 5000, NULL, 0, NULL);
	cr_assert_eq(o, H_RESET, "a 5th pending hello over max_pending_hellos 4: %s",
		     h_outcome_str(o));
	cr_assert_lt(h_now_ms() - t0, 1000);
	close(fds[4]);
	const char *want[] = {"\"reason\":\"pending_limit\"", NULL};
	expect_log(&g, want, line, sizeof(line));
	snprintf(
		sel, sizeof(sel),
		"decision=\"deny\",listener=\"127.0.0.1:%d\",path=\"tls\",reason=\"pending_limit\"",
		g.port);
	expect_metric(ap, "snigate_connections_total", sel, 1);
	for (int i = 0; i < 4; i++)
		cr_assert_eq(h_wait(fds[i], 0, NULL, 0, NULL), H_TIMEOUT,
			     "pending hello %d was ended too", i);

	/* One finishes its hello: relayed, and its slot is free for a new one. */
	uint8_t hello[4096];
	size_t n = hello_for("allowed.test", hello, sizeof(hello));
	h_send_all(fds[0], hello + n / 2, n - n / 2);
	shutdown(fds[0], SHUT_WR);
	o = h_wait(fds[0], 5000, NULL, 0, NULL);
	cr_assert_eq(o, H_EOF, "the completed hello: %s", h_outcome_str(o));
	close(fds[0]);
	expect_metric(ap, "snigate_active_connections", "", 3);
	fds[5] = open_half_hello(g.port, "allowed.test");
	cr_assert_eq(h_wait(fds[5], 500, NULL, 0, NULL), H_TIMEOUT,
		     "a pending hello under the limit was ended");
	expect_metric(ap, "snigate_active_connections", "", 4);
	for (int i = 1; i < 6; i++)
		if (i != 4)
			close(fds[i]);
	expect_metric(ap, "snigate_connections_total", sel, 1);
}

Test(ops, max_per_source_ip_resets_the_excess_of_one_address)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	char conf[256], line[1024], sel[200];
	uint8_t hello[4096];
	size_t n = hello_for("allowed.test", hello, sizeof(hello));

	h_write_file(h_path(conf, sizeof(conf), "limits.yaml"),
		     "listeners:\n  - address: 127.0.0.1:8443\n"
		     "allow:\n  - placeholder.test\n"
		     "limits:\n  max_per_source_ip: 2\n");
	const char *extra[] = {"-c", conf, "--client-hello-timeout", "20s", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);
	int ap = h_admin_port(&g);

	int a = h_connect_from("127.0.0.1", g.port);
	int b = h_connect_from("127.0.0.1", g.port);
	h_send_all(a, hello, n / 2);
	h_send_all(b, hello, n / 2);
	expect_metric(ap, "snigate_active_connections", "", 2);
	int c = h_connect_from("127.0.0.1", g.port);
	h_send_all(c, hello, n / 2);
	enum h_outcome o = h_wait(c, 5000, NULL, 0, NULL);
	close(c);
	cr_assert_eq(o, H_RESET, "a 3rd connection from 127.0.0.1: %s", h_outcome_str(o));
	const char *want[] = {"\"reason\":\"source_limit\"", "\"client\":\"127.0.0.1:", NULL};
	expect_log(&g, want, line, sizeof(line));

	/* Another address has its own budget. */
	int d = h_connect_from("127.0.0.2", g.port);
	h_send_all(d, hello, n);
	shutdown(d, SHUT_WR);
	o = h_wait(d, 5000, NULL, 0, NULL);
	close(d);
	cr_assert_eq(o, H_EOF, "127.0.0.2 next to two from 127.0.0.1: %s", h_outcome_str(o));

	/* A slot of 127.0.0.1 freed is a slot again. */
	close(a);
	expect_metric(ap, "snigate_active_connections", "", 1);
	int e = h_connect_from("127.0.0.1", g.port);
	h_send_all(e, hello, n);
	shutdown(e, SHUT_WR);
	o = h_wait(e, 5000, NULL, 0, NULL);
	close(e);
	cr_assert_eq(o, H_EOF, "127.0.0.1 after one of its connections closed: %s",
		     h_outcome_str(o));
	cr_assert_eq(h_wait(b, 0, NULL, 0, NULL), H_TIMEOUT, "the 2nd connection was ended");
	close(b);
	snprintf(sel, sizeof(sel),
		 "decision=\"deny\",listener=\"127.0.0.1:%d\",path=\"tls\",reason=\"source_limit\"",
		 g.port);
	expect_metric(ap, "snigate_connections_total", sel, 1);
}

Test(ops, out_of_fds_backs_off_then_serves_again, .timeout = 120)
{
	struct h_sink_opts so = {.send_len = 64, .send_seed = SEED_DN};
	struct h_sink *s = h_sink_start(&so);
	const char *extra[] = {"--threads", "1", "--client-hello-timeout", "30s", NULL};
	const char *bin = getenv("SNIGATE_BIN");
	char wrap[300], text[1024];
	enum { LIM = 64, EXTRA = 12, MAXC = 200 };
	int fds[MAXC], k = 0;

	/*
	 * Started under RLIMIT_NOFILE 64 (hard too): io_uring reads the limit
	 * when an accept is armed, so lowering it on a running process would
	 * not bite.
	 */
	cr_assert(bin && *bin);
	h_path(wrap, sizeof(wrap), "snigate-nofile.sh");
	snprintf(text, sizeof(text), "#!/bin/sh\nexec prlimit --nofile=%d:%d -- '%s' \"$@\"\n", LIM,
		 LIM, bin);
	h_write_file(wrap, text);
	cr_assert_eq(chmod(wrap, 0755), 0);
	setenv("SNIGATE_BIN", wrap, 1);
	struct h_gw g = h_snigate(h_sink_port(s), extra);
	setenv("SNIGATE_BIN", bin, 1);
	int ap = h_admin_port(&g);
	pid_t pid = g.p->pid;
	struct rlimit rl;
	cr_assert_eq(prlimit(pid, RLIMIT_NOFILE, NULL, &rl), 0);
	cr_assert_eq(rl.rlim_cur, LIM, "prlimit did not apply: %llu",
		     (unsigned long long)rl.rlim_cur);

	/* Pending hellos (one socket each) take the fds left, and a few more wait. */
	int n0 = h_fd_count(pid, NULL, NULL), lim = LIM;
	cr_assert_gt(n0, 0);
	cr_assert_lt(n0, LIM - 8, "snigate holds %d fds at start", n0);
	cr_log_info("snigate holds %d fds; RLIMIT_NOFILE %d", n0, LIM);

	for (k = 0; k < lim - n0 + EXTRA; k++)
		fds[k] = open_half_hello(g.port, "allowed.test");
	cr_assert(h_file_wait(g.p->err, "Too many open files", 3000),
		  "no accept error with %d connections and %d fds:\n%s", k, lim,
		  h_read_file(g.p->err));
	/* The admin endpoint, out of fds too, holds a connection in its queue. */
	int adm = h_connect(ap);
	h_sleep_ms(200);

	long long c0 = cpu_ticks(pid);
	uint64_t t0 = h_now_ms();
	h_sleep_ms(1000);
	long long c1 = cpu_ticks(pid);
	uint64_t dt = h_now_ms() - t0;
	long hz = sysconf(_SC_CLK_TCK);
	cr_log_info("out of fds: %lld ticks (of %ld/s) of CPU in %llu ms", c1 - c0, hz,
		    (unsigned long long)dt);
	cr_assert_lt(c1 - c0, hz / 5, "snigate burned %lld of %ld ticks while out of fds", c1 - c0,
		     hz);
	const char *err = h_read_file(g.p->err);
	int warns = 0;
	for (const char *p = err; (p = strstr(p, "Too many open files")); p++)
		warns++;
	cr_assert_eq(warns, 1, "accept errors warned %d times in ~1.5 s:\n%s", warns, err);

	/* Everything closed: the queue drains and a new connection is served. */
	close(adm);
	for (int i = 0; i < k; i++)
		close(fds[i]);
	expect_metric(ap, "snigate_connections_accepted_total", "", k);
	expect_metric(ap, "snigate_active_connections", "", 0);
	uint64_t got = 0;
	enum h_outcome o = exchange(g.port, "allowed.test", 10, &got);
	cr_assert_eq(o, H_EOF, "after the fds came back: %s", h_outcome_str(o));
	cr_assert_eq(got, 64);
	cr_assert_eq(http(ap, "GET", "/healthz", NULL), 200);
}

/* ================= 9. access log ================= */

Test(ops, access_log_deny_rate_and_sampling)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	char conf[256], sel[200];

	h_write_file(h_path(conf, sizeof(conf), "log.yaml"),
		     "listeners:\n  - address: 127.0.0.1:8443\n"
		     "allow:\n  - placeholder.test\n"
		     "log:\n  access_sample: 0\n  access_deny_rate: 5\n");
	const char *extra[] = {"-c", conf, "--threads", "1", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);
	int ap = h_admin_port(&g);

	/* access_sample 0: allowed connections leave no line. */
	for (int i = 0; i < 5; i++)
		cr_assert_eq(exchange(g.port, "allowed.test", 0, NULL), H_EOF);
	snprintf(
		sel, sizeof(sel),
		"decision=\"allow\",listener=\"127.0.0.1:%d\",path=\"tls\",policy=\"default\",reason=\"done\"",
		g.port);
	expect_metric(ap, "snigate_connections_total", sel, 5);
	cr_assert_eq(h_log_count(&g, NULL), 0, "sampled-out lines were written:\n%s",
		     h_read_file(g.p->out));
	cr_assert_eq(metric(ap, "snigate_access_log_dropped_total", ""), 0,
		     "sampled-out allowed lines counted as dropped denials");

	/* 50 denials at once: a bucket of 5, refilled at 5/s. */
	uint64_t t0 = h_now_ms();
	for (int i = 0; i < 50; i++) {
		int fd = open_hello(g.port, "denied.test", NULL);
		enum h_outcome o = h_wait(fd, 5000, NULL, 0, NULL);
		close(fd);
		cr_assert_eq(o, H_RESET, "denial %d: %s", i, h_outcome_str(o));
	}
	uint64_t dt = h_now_ms() - t0;
	snprintf(
		sel, sizeof(sel),
		"decision=\"deny\",listener=\"127.0.0.1:%d\",path=\"tls\",policy=\"default\",reason=\"not_allowed\"",
		g.port);
	expect_metric(ap, "snigate_connections_total", sel, 50);
	int lines = h_log_count(&g, "\"reason\":\"not_allowed\"");
	double dropped =
		metric_wait(ap, "snigate_access_log_dropped_total", "", 50 - lines, METRIC_MS);
	cr_log_info("50 denials in %llu ms: %d lines, %g dropped", (unsigned long long)dt, lines,
		    dropped);
	cr_assert_eq(lines + dropped, 50, "%d lines + %g dropped != 50 denials", lines, dropped);
	cr_assert_geq(lines, 5, "the bucket starts full (5)");
	cr_assert_leq(lines, 5 + (int)(dt * 5 / 1000) + 1, "%d lines in %llu ms at 5/s", lines,
		      (unsigned long long)dt);
	cr_assert_eq(h_log_count(&g, NULL), lines, "only denial lines");

	/* A second later the bucket has tokens again. */
	h_sleep_ms(1100);
	int fd = open_hello(g.port, "denied.test", NULL);
	cr_assert_eq(h_wait(fd, 5000, NULL, 0, NULL), H_RESET);
	close(fd);
	uint64_t end = h_now_ms() + LOG_MS;
	while (h_log_count(&g, "\"reason\":\"not_allowed\"") < lines + 1 && h_now_ms() < end)
		h_sleep_ms(20);
	cr_assert_eq(h_log_count(&g, "\"reason\":\"not_allowed\""), lines + 1,
		     "a denial after a quiet second was not logged");
	expect_metric(ap, "snigate_access_log_dropped_total", "", dropped);
}

/* ================= 10. top denied names ================= */

Test(ops, denied_names_are_a_bounded_top_list)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	const char *extra[] = {"--no-access-log", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);
	int ap = h_admin_port(&g);
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	enum { RANDOM = 3000, HOT = 40 };
	char name[64];

	/* 3,000 names seen once each, and one name 40 times among them. */
	for (int i = 0; i < RANDOM + HOT; i++) {
		if (i % (RANDOM / HOT + 1) == 0) {
			snprintf(name, sizeof(name), "hot.test");
		} else {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			snprintf(name, sizeof(name), "r%016llx.test", (unsigned long long)x);
		}
		int fd = open_hello(g.port, name, NULL);
		enum h_outcome o = h_wait(fd, 5000, NULL, 0, NULL);
		close(fd);
		cr_assert_eq(o, H_RESET, "%s: %s", name, h_outcome_str(o));
	}
	int hot = (RANDOM + HOT + RANDOM / HOT) / (RANDOM / HOT + 1);
	char sel[200];
	snprintf(
		sel, sizeof(sel),
		"decision=\"deny\",listener=\"127.0.0.1:%d\",path=\"tls\",policy=\"default\",reason=\"not_allowed\"",
		g.port);
	expect_metric(ap, "snigate_connections_total", sel, RANDOM + HOT);

	char *body = get_ok(h_control_port(&g), "/denied", 200), want[64];
	snprintf(want, sizeof(want), "{\"total\":%d,", RANDOM + HOT);
	cr_assert(!strncmp(body, want, strlen(want)), "/denied: %.300s", body);
	int listed = 0;
	for (const char *p = body; (p = strstr(p, "{\"name\":")); p++)
		listed++;
	cr_assert_eq(listed, 50, "/denied lists %d names, want the top 50", listed);
	/* The hot name first; its true count lies in [count - error, count]. */
	long long cnt = -1, err = -1;
	const char *h = strstr(body, "{\"name\":\"hot.test\",");
	cr_assert(h && h == strstr(body, "{\"name\":"), "hot.test is not first: %.600s", body);
	cr_assert(h_json_num(h, "count", &cnt) && h_json_num(h, "error", &err));
	cr_assert(cnt >= hot && cnt - err <= hot, "hot.test: count %lld error %lld, true %d", cnt,
		  err, hot);
	free(body);
}
