/* SPDX-License-Identifier: MIT */
/*
 * Split everywhere: the decision on a ClientHello must not depend on how its
 * bytes arrive. Each hello is first sent whole to learn the decision, then
 * through real sockets to a real snigate in pieces: one byte at a time,
 * cut at every record boundary, and cut in two at every point. Every way
 * must give the same decision: an allowed hello reaches the upstream (the
 * sink) byte for byte, a denied one is reset and reaches nothing.
 *
 * Segments are kept apart by TCP_NODELAY (h_connect sets it) and a short
 * pause after each (0.2 ms between single bytes, 1-2 ms otherwise). Every
 * 2-way split point of every hello is tried: about 4,100 connections, 25 s
 * on two shared cores. The harness's sink keeps 1,024 connections, so a
 * hello with more split points moves to a fresh sink and gateway on the way.
 * After each gateway's run its sockets and fds are back to their count after
 * a warm-up, and its allowed and denied counters equal what the sink and the
 * clients saw.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test/integration/harness.h"

#define MAX_CUTS 4096

/*
 * The harness's sink keeps at most 1,024 connections (SINK_MAX), so a run
 * moves to a fresh sink and gateway before that; a test may start 4 sinks.
 */
#define SINK_ROTATE 960

struct split_run {
	struct h_gw gw;
	struct h_gw *g;
	struct h_sink *s;
	const char *const *extra; /* the gateway's extra arguments */
	unsigned accepted;	  /* connections of this sink */
	unsigned tried;		  /* connections to this gateway */
	unsigned total;		  /* connections over all gateways */
	unsigned gateways;
	int fds0, socks0, pipes0; /* this gateway's fds after its warm-up */
	bool allowed;		  /* the decision on the whole hello */
};

static void rotate(struct split_run *r, const uint8_t *hello, size_t len);

static void setup(void)
{
	h_start_unbound();
}

TestSuite(split, .init = setup, .fini = h_teardown, .timeout = 240);

/* send() without SIGPIPE; false when the peer is gone. */
static bool send_part(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p += k;
		n -= (size_t)k;
	}
	return true;
}

/*
 * Send hello cut at cuts[0..n_cuts) (ascending, inside 1..len-1), pausing
 * pause_us after each piece. Returns true for "allowed" (the sink got the
 * whole hello, byte for byte) and false for "denied" (reset, nothing
 * upstream); anything else fails the test.
 */
static bool decide(struct split_run *r, const uint8_t *hello, size_t len, const size_t *cuts,
		   size_t n_cuts, unsigned pause_us, const char *what)
{
	int fd = h_connect(r->g->port);
	size_t at = 0;
	bool sent = true;

	for (size_t i = 0; i <= n_cuts && sent; i++) {
		size_t end = i < n_cuts ? cuts[i] : len;

		cr_assert(end > at && end <= len, "%s: bad cut %zu", what, end);
		sent = send_part(fd, hello + at, end - at);
		at = end;
		if (i < n_cuts && pause_us)
			usleep(pause_us);
	}
	r->tried++;
	r->total++;
	cr_assert(sent, "%s: the gateway was gone before the whole hello was sent", what);

	/* Allowed: a new sink connection soon; denied: a reset and no connection. */
	uint64_t end = h_now_ms() + 5000;
	while (h_sink_accepted(r->s) == r->accepted && h_now_ms() < end) {
		enum h_outcome o = h_wait(fd, 2, NULL, 0, NULL);

		if (o == H_RESET || o == H_EOF || o == H_ERROR) {
			close(fd);
			h_sleep_ms(5);
			cr_assert_eq(h_sink_accepted(r->s), r->accepted,
				     "%s: reset, yet the upstream got a connection", what);
			cr_assert_eq(o, H_RESET, "%s: %s instead of a reset", what,
				     h_outcome_str(o));
			return false;
		}
	}
	cr_assert_gt(h_sink_accepted(r->s), r->accepted, "%s: neither relayed nor reset within 5 s",
		     what);
	shutdown(fd, SHUT_WR);
	const struct h_sink_conn *c = h_sink_wait(r->s, r->accepted, 5000);
	cr_assert_not_null(c, "%s: the upstream connection did not finish", what);
	r->accepted++;
	cr_assert_eq(c->cap_len, len, "%s: upstream got %zu bytes of a %zu-byte hello", what,
		     c->cap_len, len);
	cr_assert(!memcmp(c->cap, hello, len), "%s: upstream got other bytes", what);
	/* The upstream's FIN comes through: the gateway is done with this one. */
	enum h_outcome o = h_wait(fd, 5000, NULL, 0, NULL);
	cr_assert_eq(o, H_EOF, "%s: %s after the upstream closed", what, h_outcome_str(o));
	close(fd);
	return true;
}

/* decide(), on a fresh gateway when this sink is nearly full. */
static bool decide_next(struct split_run *r, const uint8_t *hello, size_t len, const size_t *cuts,
			size_t n_cuts, unsigned pause_us, const char *what)
{
	if (r->accepted >= SINK_ROTATE)
		rotate(r, hello, len);
	return decide(r, hello, len, cuts, n_cuts, pause_us, what);
}

/* Offsets where one TLS record ends and the next begins (not 0, not len). */
static size_t record_bounds(const uint8_t *hello, size_t len, size_t *out, size_t cap)
{
	size_t n = 0, at = 0;

	while (at + 5 <= len) {
		at += 5 + ((size_t)hello[at + 3] << 8 | hello[at + 4]);
		if (at < len && n < cap)
			out[n++] = at;
	}
	return n;
}

/*
 * Every way of cutting one hello: whole (its decision goes to r->allowed),
 * 1 byte at a time, at its record boundaries, and in two at every point.
 */
static void split_everywhere(struct split_run *r, const uint8_t *hello, size_t len,
			     const char *name)
{
	static size_t cuts[MAX_CUTS];
	char what[160];
	size_t n, i;
	unsigned t0 = r->total;
	uint64_t ms = h_now_ms();

	cr_assert_lt(len, MAX_CUTS);
	snprintf(what, sizeof(what), "%s whole", name);
	r->allowed = decide_next(r, hello, len, NULL, 0, 0, what);

	/* 1 byte at a time. */
	for (i = 0; i < len - 1; i++)
		cuts[i] = i + 1;
	snprintf(what, sizeof(what), "%s 1 byte at a time", name);
	cr_assert_eq(decide_next(r, hello, len, cuts, len - 1, 200, what), r->allowed, "%s", what);

	/* Every record boundary at once, then each alone. */
	n = record_bounds(hello, len, cuts, MAX_CUTS);
	if (n) {
		size_t one[1];

		snprintf(what, sizeof(what), "%s at all %zu record boundaries", name, n);
		cr_assert_eq(decide_next(r, hello, len, cuts, n, 2000, what), r->allowed, "%s",
			     what);
		for (i = 0; i < n; i++) {
			one[0] = cuts[i];
			snprintf(what, sizeof(what), "%s at record boundary %zu", name, one[0]);
			cr_assert_eq(decide_next(r, hello, len, one, 1, 2000, what), r->allowed,
				     "%s", what);
		}
	}

	/* Every 2-way split, the ones inside the record header (points 1..4) included. */
	for (i = 1; i < len; i++) {
		size_t one[1] = {i};

		snprintf(what, sizeof(what), "%s split at %zu", name, i);
		cr_assert_eq(decide_next(r, hello, len, one, 1, 1000, what), r->allowed, "%s",
			     what);
	}
	cr_log_info("%s (%zu bytes, %s): %u connections, same decision, %llu ms", name, len,
		    r->allowed ? "allowed" : "denied", r->total - t0,
		    (unsigned long long)(h_now_ms() - ms));
}

static void fd_baseline(const struct h_gw *g, int *fds, int *socks, int *pipes)
{
	char sum[512];

	*fds = h_fd_count(g->p->pid, socks, pipes);
	cr_assert_gt(*fds, 0);
	h_fd_summary(g->p->pid, sum, sizeof(sum));
	cr_log_info("gateway fds after the warm-up: %s", sum);
}

/*
 * The gateway's sockets and other fds come back to exactly where they
 * started. Pipes may be up to two more (4 fds): core/pipepool.c keeps the
 * pipes a thread has used, up to 64, and a connection that starts while the
 * previous one is still being torn down takes a second pipe into the pool.
 * A leak grows with the hundreds of connections; the pool does not.
 */
#define POOL_SLACK 4
static void fd_back(const struct h_gw *g, int fds0, int socks0, int pipes0)
{
	int fds = 0, socks = 0, pipes = 0;
	uint64_t end = h_now_ms() + 5000;
	char sum[512];

	do {
		fds = h_fd_count(g->p->pid, &socks, &pipes);
		if (socks == socks0 && fds - pipes == fds0 - pipes0 && pipes >= pipes0 &&
		    pipes <= pipes0 + POOL_SLACK)
			return;
		h_sleep_ms(50);
	} while (h_now_ms() < end);
	h_fd_summary(g->p->pid, sum, sizeof(sum));
	cr_assert_fail("fds %d (sockets %d, pipes %d), started at %d (%d, %d): %s", fds, socks,
		       pipes, fds0, socks0, pipes0, sum);
}

static size_t read_capture(const char *file, uint8_t *buf, size_t cap)
{
	char path[512];
	const char *src = getenv("SNIGATE_SRC");
	FILE *f;
	size_t n;

	cr_assert(src && *src, "SNIGATE_SRC is not set (meson test sets it)");
	snprintf(path, sizeof(path), "%s/test/sni/data/%s", src, file);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, cap, f);
	fclose(f);
	cr_assert_gt(n, 0);
	return n;
}

/*
 * Before counting the gateway's fds: each hello whole a few times from every
 * CPU, so every worker thread has resolved the names (libunbound starts its
 * own thread, with an epoll set and pipes, on a worker's first query) and
 * pooled the pipes a sequential connection uses. Listeners are steered by
 * SO_INCOMING_CPU, so a connection reaches the worker of the CPU this
 * thread sends from.
 */
static void warm_up(struct split_run *r, const uint8_t *hello, size_t len)
{
	cpu_set_t all, one;
	long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);

	cr_assert_eq(sched_getaffinity(0, sizeof(all), &all), 0);
	for (int cpu = 0; cpu < n_cpu && cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &all))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
		for (int i = 0; i < 8; i++)
			decide(r, hello, len, NULL, 0, 0, "warm-up");
	}
	cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0);
}

/* Check the gateway's fds and counters, then stop it. */
static void finish(struct split_run *r)
{
	long long v;

	fd_back(r->g, r->fds0, r->socks0, r->pipes0);
	cr_assert_eq(h_snigate_stop(r->g), 0);
	cr_assert(h_stats(r->g, "allowed", &v));
	cr_assert_eq(v, (long long)r->accepted, "allowed %lld, the sink saw %u", v, r->accepted);
	cr_assert(h_stats(r->g, "denied", &v));
	cr_assert_eq(v, (long long)(r->tried - r->accepted));
	r->g = NULL;
}

/* A fresh sink and gateway, warmed up with hello, its fds counted. */
static void rotate(struct split_run *r, const uint8_t *hello, size_t len)
{
	struct h_sink_opts so = {.capture = 65536};

	if (r->g)
		finish(r);
	r->s = h_sink_start(&so);
	r->gw = h_snigate(h_sink_port(r->s), r->extra);
	r->g = &r->gw;
	r->accepted = r->tried = 0;
	r->gateways++;
	warm_up(r, hello, len);
	h_sleep_ms(300);
	fd_baseline(r->g, &r->fds0, &r->socks0, &r->pipes0);
}

/* Every split of one hello, on gateways of its own; want_allowed: the expected decision. */
static void split_one(const char *name, const uint8_t *hello, size_t len, bool want_allowed,
		      const char *const extra[])
{
	struct split_run r = {.extra = extra};

	rotate(&r, hello, len);
	split_everywhere(&r, hello, len, name);
	cr_assert_eq(r.allowed, want_allowed, "%s was %s", name, r.allowed ? "allowed" : "denied");
	finish(&r);
	cr_log_info("%s: %u connections on %u gateway(s)", name, r.total, r.gateways);
}

Test(split, tls13_hellos_allowed_and_denied, .timeout = 240)
{
	static uint8_t b[8192];
	struct hello_opts plain = {.sni = "allowed.test"};
	struct hello_opts denied = {.sni = "denied.test", .grease = true};

	split_one("TLS 1.3 allowed.test", b, h_hello(&plain, b, sizeof(b)), true, NULL);
	split_one("TLS 1.3 denied.test", b, h_hello(&denied, b, sizeof(b)), false, NULL);
}

Test(split, post_quantum_hello, .timeout = 240)
{
	static uint8_t b[8192];
	struct hello_opts pq = {.sni = "big.test", .size = 1800, .pq_keyshare = true};
	size_t n = h_hello(&pq, b, sizeof(b));

	cr_assert_eq(n, 1800);
	split_one("post-quantum big.test", b, n, true, NULL);
}

Test(split, four_record_hello, .timeout = 240)
{
	static uint8_t b[8192];
	struct hello_opts rec = {.sni = "a.b.wild.test", .size = 900, .records = 4};

	split_one("4-record a.b.wild.test", b, h_hello(&rec, b, sizeof(b)), true, NULL);
}

Test(split, captured_hellos, .timeout = 240)
{
	static uint8_t b[8192];
	char conf[300], text[256];

	/* curl.bin names example.com: allow it and point it at the sink through resolver.hosts. */
	snprintf(text, sizeof(text), "resolver:\n  hosts:\n    example.com: [127.0.0.1]\n");
	h_write_file(h_path(conf, sizeof(conf), "hosts.yaml"), text);
	const char *extra[] = {"-c", conf, "--allow", "example.com", NULL};

	split_one("curl capture example.com", b, read_capture("curl.bin", b, sizeof(b)), true,
		  extra);
	split_one("openssl TLS 1.2 www.example.org", b,
		  read_capture("openssl_tls12_upper.bin", b, sizeof(b)), false, extra);
}
