/* SPDX-License-Identifier: MIT */
/*
 * Hostile input through a real gateway: names at and past every length
 * limit, IDN and IP literals in the SNI, a hello declaring 16 MiB, malformed
 * server_name extensions (twice, wrong name type, empty list), ECH, a
 * denied name (no DNS query, no upstream connection), an allowed name that
 * resolves to a forbidden address, and 2,000 silent connections held while
 * allowed traffic flows. Each case asserts the exact outcome (relayed to the
 * sink, or reset) and the access log's reason, and ends with the gateway's
 * sockets and pipes back at their count from before the case.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test/integration/harness.h"

#define LOG_MS 5000

static void setup(void)
{
	h_start_unbound();
}

TestSuite(hostile, .init = setup, .fini = h_teardown, .timeout = 180);

/* ---- helpers ---- */

enum sni_shape {
	SNI_PLAIN = 0,
	SNI_TWICE,	/* the server_name extension twice */
	SNI_NAME_TYPE,	/* name type 1, not host_name (0) */
	SNI_EMPTY_LIST, /* server_name with an empty name list */
};

/*
 * A minimal TLS 1.3 ClientHello naming name[0..n) (any bytes, any length up
 * to 16 KiB), in the given shape: bench/hello.c refuses names over 255 bytes
 * and makes only well-formed hellos, which is the point here.
 */
static size_t sni_hello_shaped(const char *name, size_t n, enum sni_shape shape, uint8_t *out,
			       size_t cap)
{
	static const uint8_t tail[] = {
		0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04,	/* supported_versions: 1.3 */
		0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1d, /* supported_groups: x25519 */
	};
	size_t list = shape == SNI_EMPTY_LIST ? 0 : 3 + n;
	size_t sni = 4 + 2 + list;
	size_t ext = sni * (shape == SNI_TWICE ? 2 : 1) + sizeof(tail);
	size_t body = 2 + 32 + 1 + 4 + 2 + 2 + ext;
	size_t total = 5 + 4 + body, at = 0;

	cr_assert_leq(total, cap);
	cr_assert_lt(4 + body, 16384);
	out[at++] = 0x16, out[at++] = 0x03, out[at++] = 0x01;
	out[at++] = (uint8_t)((4 + body) >> 8), out[at++] = (uint8_t)(4 + body);
	out[at++] = 0x01, out[at++] = 0, out[at++] = (uint8_t)(body >> 8),
	out[at++] = (uint8_t)body;
	out[at++] = 0x03, out[at++] = 0x03;
	for (int i = 0; i < 32; i++)
		out[at++] = (uint8_t)(i * 7 + 1);
	out[at++] = 0;							  /* session id */
	out[at++] = 0, out[at++] = 2, out[at++] = 0x13, out[at++] = 0x01; /* TLS_AES_128_GCM */
	out[at++] = 1, out[at++] = 0;					  /* null compression */
	out[at++] = (uint8_t)(ext >> 8), out[at++] = (uint8_t)ext;
	for (int k = 0; k < (shape == SNI_TWICE ? 2 : 1); k++) {
		out[at++] = 0, out[at++] = 0; /* server_name */
		out[at++] = (uint8_t)((list + 2) >> 8), out[at++] = (uint8_t)(list + 2);
		out[at++] = (uint8_t)(list >> 8), out[at++] = (uint8_t)list;
		if (shape == SNI_EMPTY_LIST)
			continue;
		out[at++] = shape == SNI_NAME_TYPE ? 1 : 0; /* host_name is 0 */
		out[at++] = (uint8_t)(n >> 8), out[at++] = (uint8_t)n;
		memcpy(out + at, name, n);
		at += n;
	}
	memcpy(out + at, tail, sizeof(tail));
	at += sizeof(tail);
	cr_assert_eq(at, total);
	return total;
}

static size_t sni_hello(const char *name, size_t n, uint8_t *out, size_t cap)
{
	return sni_hello_shaped(name, n, SNI_PLAIN, out, cap);
}

/* A name of exactly len bytes: labels of 63 ('a', 'b', ...) joined by dots, then ".test". */
static void long_name(char *buf, size_t len)
{
	size_t at = 0;
	char c = 'a';

	cr_assert_geq(len, 6);
	while (at < len - 5) {
		size_t label = len - 5 - at > 63 ? 63 : len - 5 - at;

		memset(buf + at, c++, label);
		at += label;
		if (at < len - 5)
			buf[at++] = '.';
	}
	memcpy(buf + at, ".test", 6);
	cr_assert_eq(strlen(buf), len, "long_name(%zu) made %zu bytes", len, strlen(buf));
}

static bool send_raw(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return false;
		p = (const uint8_t *)p + k;
		n -= (size_t)k;
	}
	return true;
}

static void expect_log(const struct h_gw *g, const char *const needles[], char *line, size_t len)
{
	if (h_log_wait(g, needles, LOG_MS, line, len))
		return;
	char want[512] = "";
	for (int i = 0; needles[i]; i++)
		snprintf(want + strlen(want), sizeof(want) - strlen(want), " %s", needles[i]);
	cr_assert_fail("no access log line with%s; the log is:\n%s", want, h_read_file(g->p->out));
}

/*
 * Send hello; expect it relayed whole to the sink as connection *idx (then
 * closed by us) or, with reason set, reset with that reason in the log line
 * that names sni_log (may be NULL) and nothing at the sink.
 */
static void expect(struct h_gw *g, struct h_sink *s, unsigned *accepted, const uint8_t *hello,
		   size_t len, const char *reason, const char *sni_log, const char *what)
{
	int fd = h_connect(g->port);
	char line[2048], sni_needle[300], reason_needle[80];

	cr_assert(send_raw(fd, hello, len), "%s: could not send the hello", what);
	if (reason) {
		enum h_outcome o = h_wait(fd, 5000, NULL, 0, NULL);
		close(fd);
		cr_assert_eq(o, H_RESET, "%s: %s, want a reset (%s)", what, h_outcome_str(o),
			     reason);
		snprintf(reason_needle, sizeof(reason_needle), "\"reason\":\"%s\"", reason);
		snprintf(sni_needle, sizeof(sni_needle), "\"sni\":%s%s%s", sni_log ? "\"" : "",
			 sni_log ? sni_log : "null", sni_log ? "\"" : "");
		const char *want[] = {reason_needle, "\"decision\":\"deny\"", sni_needle, NULL};
		expect_log(g, want, line, sizeof(line));
		h_sleep_ms(50);
		cr_assert_eq(h_sink_accepted(s), *accepted, "%s: denied, yet the upstream got it",
			     what);
		return;
	}
	const struct h_sink_conn *c;
	uint64_t end = h_now_ms() + 5000;
	while (h_sink_accepted(s) == *accepted && h_now_ms() < end)
		h_sleep_ms(5);
	cr_assert_gt(h_sink_accepted(s), *accepted, "%s: not relayed (%s)", what,
		     h_outcome_str(h_wait(fd, 0, NULL, 0, NULL)));
	shutdown(fd, SHUT_WR);
	c = h_sink_wait(s, *accepted, 5000);
	cr_assert_not_null(c, "%s: the upstream connection did not finish", what);
	(*accepted)++;
	cr_assert_eq(c->cap_len, len, "%s: upstream got %zu of %zu bytes", what, c->cap_len, len);
	cr_assert(!memcmp(c->cap, hello, len), "%s: upstream got other bytes", what);
	enum h_outcome o = h_wait(fd, 5000, NULL, 0, NULL);
	cr_assert_eq(o, H_EOF, "%s: %s after the upstream closed", what, h_outcome_str(o));
	close(fd);
	snprintf(sni_needle, sizeof(sni_needle), "\"sni\":\"%s\"", sni_log);
	const char *want[] = {sni_needle, "\"decision\":\"allow\"", NULL};
	expect_log(g, want, line, sizeof(line));
}

struct fds {
	int all, socks, pipes;
};

static struct fds fds_now(const struct h_gw *g)
{
	struct fds f;

	f.all = h_fd_count(g->p->pid, &f.socks, &f.pipes);
	cr_assert_gt(f.all, 0);
	return f;
}

/* Sockets and every other fd exactly as before; pipes at most two more (the pipe pool). */
static void fds_back(const struct h_gw *g, struct fds before, const char *what)
{
	uint64_t end = h_now_ms() + 10000;
	struct fds f;
	char sum[512];

	do {
		f = fds_now(g);
		if (f.socks == before.socks && f.all - f.pipes == before.all - before.pipes &&
		    f.pipes <= before.pipes + 4)
			return;
		h_sleep_ms(50);
	} while (h_now_ms() < end);
	h_fd_summary(g->p->pid, sum, sizeof(sum));
	cr_assert_fail("%s: gateway holds %d fds (%d sockets, %d pipes), had %d (%d, %d): %s", what,
		       f.all, f.socks, f.pipes, before.all, before.socks, before.pipes, sum);
}

/*
 * hello (allowed, naming sni) whole a few times from every CPU: listeners are
 * steered by SO_INCOMING_CPU, so this starts every worker's resolver
 * (libunbound's own thread, epoll set and pipes come with the first query)
 * and pipe pool. Returns the gateway's fds after that.
 */
static struct fds warm_every_worker_hello(struct h_gw *g, struct h_sink *s, unsigned *accepted,
					  const uint8_t *hello, size_t len, const char *sni)
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
		for (int i = 0; i < 4; i++)
			expect(g, s, accepted, hello, len, NULL, sni, "warm-up");
	}
	cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0);
	h_sleep_ms(200);
	return fds_now(g);
}

/*
 * A gateway on the sink whose resolver.hosts maps each of names (NULL-
 * terminated) to 127.0.0.1, with those names allowed too; extra (may be
 * NULL) is added. Connections to these names need no DNS at all, so the
 * first one on a worker costs no fds the later ones would not.
 */
static struct h_gw gw_hosts(struct h_sink *s, const char *const names[], const char *extra_yaml)
{
	static char text[8192], conf[300];
	static const char *argv[40];
	size_t at = 0;
	int n = 0;

	at += (size_t)snprintf(text + at, sizeof(text) - at, "resolver:\n  hosts:\n");
	for (int i = 0; names[i]; i++)
		at += (size_t)snprintf(text + at, sizeof(text) - at, "    %s: [127.0.0.1]\n",
				       names[i]);
	if (extra_yaml)
		at += (size_t)snprintf(text + at, sizeof(text) - at, "%s", extra_yaml);
	cr_assert_lt(at, sizeof(text));
	h_write_file(h_path(conf, sizeof(conf), "hosts.yaml"), text);
	argv[n++] = "-c";
	argv[n++] = conf;
	for (int i = 0; names[i]; i++) {
		cr_assert_lt(n, 36);
		argv[n++] = "--allow";
		argv[n++] = names[i];
	}
	argv[n] = NULL;
	return h_snigate(h_sink_port(s), argv);
}

/* ---- names at the length limits ---- */

/*
 * unbound answering the long names with 127.0.0.1, so that the long name
 * goes through the real resolver path too.
 */
static int dns_long_names(const char *const names[])
{
	static char text[8192], path[300];
	int port = h_free_port();
	size_t at;

	at = (size_t)snprintf(
		text, sizeof(text),
		"server:\n"
		"  interface: 127.0.0.1\n"
		"  port: %d\n"
		"  do-daemonize: no\n"
		"  chroot: \"\"\n"
		"  username: \"\"\n"
		"  pidfile: \"\"\n"
		"  use-syslog: no\n"
		"  logfile: \"\"\n"
		"  directory: \"%s\"\n"
		"  do-ip6: no\n"
		"  access-control: 127.0.0.0/8 allow\n"
		"  module-config: \"iterator\"\n"
		"  local-zone: \"test.\" static\n"
		"  local-data: \"test. 3600 IN SOA ns.test. admin.test. 1 3600 600 86400 1\"\n",
		port, h_dir());
	for (int i = 0; names[i]; i++)
		at += (size_t)snprintf(text + at, sizeof(text) - at,
				       "  local-data: \"%s. 300 IN A 127.0.0.1\"\n", names[i]);
	cr_assert_lt(at, sizeof(text));
	h_write_file(h_path(path, sizeof(path), "unbound-long.conf"), text);
	const char *argv[] = {"unbound", "-d", "-c", path, NULL};
	struct h_proc *p = h_spawn("unbound-long", argv, NULL);
	uint64_t end = h_now_ms() + 10000;
	while (h_now_ms() < end && h_alive(p) && !h_port_wait(port, 100))
		;
	cr_assert(h_alive(p), "unbound did not start: %s", h_read_file(p->err));
	return port;
}

Test(hostile, sni_length_limits_253_allowed_254_255_256_reset)
{
	struct h_sink_opts so = {.capture = 65536};
	struct h_sink *s = h_sink_start(&so);
	static char n253[300], n63[80], dotted[320];
	static uint8_t hello[20000];
	unsigned accepted = 0;
	size_t len;

	long_name(n253, 253);
	memset(n63, 'q', 63);
	strcpy(n63 + 63, ".test");
	const char *names[] = {n253, n63, NULL};
	const char *extra[] = {"--allow", n253, "--allow", n63, NULL};
	struct h_gw g = h_snigate_dns(h_sink_port(s), dns_long_names(names), extra);
	struct fds before;

	/* Both names whole first, so each worker's resolver has started before counting. */
	len = sni_hello(n253, 253, hello, sizeof(hello));
	warm_every_worker_hello(&g, s, &accepted, hello, len, n253);
	len = sni_hello(n63, strlen(n63), hello, sizeof(hello));
	before = warm_every_worker_hello(&g, s, &accepted, hello, len, n63);
	unsigned warm = accepted;

	/* 253 bytes, the most a host name may have: allowed and relayed. */
	len = sni_hello(n253, 253, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, NULL, n253, "253-byte SNI");
	/* The same with a trailing dot (254 bytes on the wire) is the same name. */
	snprintf(dotted, sizeof(dotted), "%s.", n253);
	len = sni_hello(dotted, 254, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, NULL, n253, "253-byte SNI with a trailing dot");

	/* 254, 255, 256 bytes: too long, whatever the allowlist says. */
	for (size_t n = 254; n <= 256; n++) {
		static char big[300];
		char what[64];

		long_name(big, n);
		len = sni_hello(big, n, hello, sizeof(hello));
		snprintf(what, sizeof(what), "%zu-byte SNI", n);
		expect(&g, s, &accepted, hello, len, "name_too_long", NULL, what);
	}

	/* Labels: 63 bytes allowed, 64 too long. */
	len = sni_hello(n63, strlen(n63), hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, NULL, n63, "63-byte label");
	char n64[80];
	memset(n64, 'q', 64);
	strcpy(n64 + 64, ".test");
	len = sni_hello(n64, strlen(n64), hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, "name_too_long", NULL, "64-byte label");

	/* Empty labels, an empty name, a lone dot. */
	len = sni_hello("a..test", 7, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, "name_invalid", NULL, "empty label");
	len = sni_hello("", 0, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, "name_empty", NULL, "empty name");

	fds_back(&g, before, "length limits");
	cr_assert_eq(accepted - warm, 3);
}

/*
 * A host name may have 253 bytes and the allowlist takes them, so
 * resolver.hosts must too: its YAML key path "resolver.hosts.<name>[i]" once
 * overflowed the 128-byte field path and a name over 109 bytes was refused.
 */
Test(hostile, hosts_entry_of_253_bytes_loads)
{
	static char n253[300], text[1024], path[300];
	struct h_proc *p;

	long_name(n253, 253);
	snprintf(text, sizeof(text),
		 "listeners: [{address: 127.0.0.1:8443}]\n"
		 "allow: [%s]\n"
		 "resolver:\n"
		 "  hosts:\n"
		 "    %s: [127.0.0.1]\n",
		 n253, n253);
	h_write_file(h_path(path, sizeof(path), "hosts253.yaml"), text);
	const char *argv[] = {getenv("SNIGATE_BIN"), "--check", "-c", path, NULL};
	int rc = h_run("snigate-check", argv, NULL, 10000, &p);
	cr_assert_eq(rc, 0, "a 253-byte resolver.hosts name: %s", h_read_file(p->err));
}

/* ---- IDN, IP literals, bytes that are not a host name ---- */

Test(hostile, idn_a_label_allowed_when_listed_raw_utf8_and_ip_literal_refused)
{
	struct h_sink_opts so = {.capture = 65536};
	struct h_sink *s = h_sink_start(&so);
	static uint8_t hello[4096];
	unsigned accepted = 0;
	size_t len;
	const char *names[] = {"xn--bcher-kva.test", NULL};
	struct h_gw g = gw_hosts(s, names, NULL);
	struct fds before;

	len = sni_hello("xn--bcher-kva.test", 18, hello, sizeof(hello));
	before = warm_every_worker_hello(&g, s, &accepted, hello, len, "xn--bcher-kva.test");
	unsigned warm = accepted;
	expect(&g, s, &accepted, hello, len, NULL, "xn--bcher-kva.test", "IDN A-label");
	/* Upper case A-label: the same name. */
	len = sni_hello("XN--BCHER-KVA.TEST", 18, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, NULL, "xn--bcher-kva.test", "upper-case A-label");
	/* Another A-label is another name. */
	len = sni_hello("xn--bcher-kvb.test", 18, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, "not_allowed", "xn--bcher-kvb.test", "other A-label");
	/* The U-label, raw UTF-8, is not a host name (RFC 6066 says A-labels). */
	const char *u = "b\xc3\xbc"
			"cher.test";
	len = sni_hello(u, strlen(u), hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, "name_invalid", NULL, "U-label");
	/* NUL inside the name. */
	len = sni_hello("allowed\0test", 12, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, "name_invalid", NULL, "NUL in the name");

	/*
	 * RFC 6066 3: "Literal IPv4 and IPv6 addresses are not permitted in
	 * HostName". The parser takes bytes, not meaning: "127.0.0.1" is made of
	 * host name bytes, so it parses as a name and the allowlist refuses it.
	 * An IPv6 literal has ':' and is not a host name at all.
	 */
	len = sni_hello("127.0.0.1", 9, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, "not_allowed", "127.0.0.1", "IPv4 literal");
	len = sni_hello("::1", 3, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, "name_invalid", NULL, "IPv6 literal");
	len = sni_hello("[::1]", 5, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, "name_invalid", NULL, "bracketed IPv6 literal");

	fds_back(&g, before, "IDN and literals");
	cr_assert_eq(accepted - warm, 2);
}

/* ---- a hello that declares 16 MiB ---- */

Test(hostile, hello_declaring_16_mib_is_reset_at_once)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	char line[1024];
	/* A full-size record whose handshake header says 16 MiB - 1 of ClientHello. */
	uint8_t head[9 + 64] = {0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0xff, 0xff, 0xff, 0x03, 0x03};
	struct fds before = fds_now(&g);

	int fd = h_connect(g.port);
	uint64_t t0 = h_now_ms();
	cr_assert(send_raw(fd, head, sizeof(head)));
	enum h_outcome o = h_wait(fd, 5000, NULL, 0, NULL);
	uint64_t dt = h_now_ms() - t0;
	close(fd);
	cr_log_info("16 MiB hello: %s after %llu ms", h_outcome_str(o), (unsigned long long)dt);
	cr_assert_eq(o, H_RESET, "16 MiB hello: %s", h_outcome_str(o));
	/* The hello timeout is 1 s: a reset well before it was decided from the header. */
	cr_assert_lt(dt, 500, "reset after %llu ms: it waited for bytes", (unsigned long long)dt);
	const char *want[] = {"\"reason\":\"too_large\"", "\"decision\":\"deny\"", NULL};
	expect_log(&g, want, line, sizeof(line));

	/* The same length in a record over 2^14 + 2048 bytes is a bad record. */
	uint8_t rec[] = {0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff};
	fd = h_connect(g.port);
	cr_assert(send_raw(fd, rec, sizeof(rec)));
	o = h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);
	cr_assert_eq(o, H_RESET, "65535-byte record: %s", h_outcome_str(o));
	const char *want_rec[] = {"\"reason\":\"record_length\"", NULL};
	expect_log(&g, want_rec, line, sizeof(line));
	h_sleep_ms(100);
	cr_assert_eq(h_sink_accepted(s), 0);
	fds_back(&g, before, "16 MiB hello");
}

/* ---- malformed server_name extensions ---- */

Test(hostile, malformed_server_name_extensions_are_reset_with_their_reason)
{
	struct h_sink_opts so = {.capture = 65536};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	static uint8_t hello[4096];
	unsigned accepted = 0;
	size_t len;
	struct fds before = fds_now(&g);

	/* Two server_name extensions, even naming an allowed host twice (RFC 8446 4.2). */
	len = sni_hello_shaped("allowed.test", 12, SNI_TWICE, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, "dup_extension", NULL, "server_name twice");
	/* A name type other than host_name, and an empty name list (RFC 6066 3). */
	len = sni_hello_shaped("allowed.test", 12, SNI_NAME_TYPE, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, "sni_malformed", NULL, "name type 1");
	len = sni_hello_shaped("allowed.test", 12, SNI_EMPTY_LIST, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, "sni_malformed", NULL, "empty server_name list");
	/* The extensions block one byte longer than what is left of the hello. */
	len = sni_hello("allowed.test", 12, hello, sizeof(hello));
	hello[51]++;
	expect(&g, s, &accepted, hello, len, "malformed", NULL, "extensions overrun");
	fds_back(&g, before, "malformed server_name");
	/* The control: the same hello, well formed, is relayed. */
	hello[51]--;
	expect(&g, s, &accepted, hello, len, NULL, "allowed.test", "well-formed control");
	cr_assert_eq(accepted, 1);
}

/* ---- ECH ---- */

Test(hostile, ech_hello_is_routed_by_its_outer_sni)
{
	struct h_sink_opts so = {.capture = 65536};
	struct h_sink *s = h_sink_start(&so);
	struct h_gw g = h_snigate(h_sink_port(s), NULL);
	static uint8_t hello[8192];
	unsigned accepted = 0;
	char line[2048];

	struct hello_opts ok = {.sni = "allowed.test", .ech = true, .grease = true};
	size_t len = h_hello(&ok, hello, sizeof(hello));
	struct fds before = warm_every_worker_hello(&g, s, &accepted, hello, len, "allowed.test");
	expect(&g, s, &accepted, hello, len, NULL, "allowed.test", "ECH, allowed outer name");
	const char *want[] = {"\"sni\":\"allowed.test\"", "\"ech\":true", NULL};
	expect_log(&g, want, line, sizeof(line));

	struct hello_opts no = {.sni = "denied.test", .ech = true};
	len = h_hello(&no, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, "not_allowed", "denied.test",
	       "ECH, denied outer name");
	const char *want_no[] = {"\"sni\":\"denied.test\"", "\"ech\":true", NULL};
	expect_log(&g, want_no, line, sizeof(line));

	/* ECH with no outer SNI at all is still no SNI. */
	struct hello_opts none = {.sni = NULL, .ech = true};
	len = h_hello(&none, hello, sizeof(hello));
	expect(&g, s, &accepted, hello, len, "no_sni", NULL, "ECH without an outer SNI");
	fds_back(&g, before, "ECH");
}

/* ---- a denied name costs no DNS query and no upstream connection ---- */

/* Datagrams waiting on fd, without blocking. */
static int udp_pending(int fd)
{
	uint8_t buf[1500];
	int n = 0;

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		n++;
	return n;
}

Test(hostile, denied_names_cause_no_dns_query_and_no_connection)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	char resolver[64], listen_on[64], up[16];
	static uint8_t hello[4096];
	unsigned accepted = 0;

	/*
	 * The gateway's only DNS server is this socket, which counts what it is
	 * sent and answers nothing. The allowlist is a wildcard only, so the
	 * start-up loop check (exact names only) asks nothing either.
	 */
	int dns = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(dns, 0);
	cr_assert_eq(bind(dns, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(getsockname(dns, (struct sockaddr *)&a, &al), 0);
	snprintf(resolver, sizeof(resolver), "127.0.0.1:%d", ntohs(a.sin_port));
	int port = h_free_port();
	snprintf(listen_on, sizeof(listen_on), "127.0.0.1:%d", port);
	snprintf(up, sizeof(up), "%d", h_sink_port(s));
	const char *args[] = {"--listen",   listen_on, "--allow",	  "*.wild.test",
			      "--resolver", resolver,  "--upstream-port", up,
			      "--threads",  "2",       "--dns-timeout",	  "1s",
			      NULL};
	struct h_gw g = h_snigate_args(port, args);

	h_sleep_ms(300);
	cr_assert_eq(udp_pending(dns), 0, "the gateway asked DNS before any client came");
	struct fds before = fds_now(&g);
	const char *denied[] = {"denied.test", "wild.test",   "x.wild.test.evil",
				"xwild.test",  "wild.test.x", "evil.test"};
	for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
		struct hello_opts o = {.sni = denied[i]};
		size_t len = h_hello(&o, hello, sizeof(hello));
		expect(&g, s, &accepted, hello, len, "not_allowed", denied[i], denied[i]);
	}
	h_sleep_ms(300);
	cr_assert_eq(udp_pending(dns), 0, "a denied name caused a DNS query");
	cr_assert_eq(h_sink_accepted(s), 0, "a denied name reached the upstream");
	fds_back(&g, before, "denied names");

	/* The control: an allowed name does reach this DNS server. */
	struct hello_opts o = {.sni = "a.wild.test"};
	size_t len = h_hello(&o, hello, sizeof(hello));
	int fd = h_connect(g.port);
	cr_assert(send_raw(fd, hello, len));
	struct pollfd p = {.fd = dns, .events = POLLIN};
	cr_assert_eq(poll(&p, 1, 3000), 1, "the allowed name never reached the DNS socket");
	enum h_outcome out = h_wait(fd, 5000, NULL, 0, NULL);
	close(fd);
	cr_assert_eq(out, H_RESET, "unanswered DNS: %s", h_outcome_str(out));
	char line[1024];
	const char *want[] = {"\"sni\":\"a.wild.test\"", "\"reason\":\"dns_timeout\"", NULL};
	expect_log(&g, want, line, sizeof(line));
	close(dns);
}

/* ---- an allowed name pointing at a forbidden address ---- */

Test(hostile, allowed_name_resolving_to_a_denied_address_is_upstream_denied)
{
	struct h_sink_opts so = {0};
	struct h_sink *s = h_sink_start(&so);
	static uint8_t hello[4096];
	char conf[300], line[2048];
	/* The harness allows 127.0.0.0/8 upstream (its peers live there); these are not. */
	const char *text = "resolver:\n"
			   "  lookup_family: all\n"
			   "  hosts:\n"
			   "    meta.test: [169.254.169.254]\n"
			   "    ten.test: [10.1.2.3]\n"
			   "    mapped.test: ['::ffff:169.254.169.254']\n"
			   "    zero.test: [0.0.0.0]\n";
	h_write_file(h_path(conf, sizeof(conf), "evil.yaml"), text);
	const char *extra[] = {"-c",	  conf,	       "--allow", "meta.test",
			       "--allow", "ten.test",  "--allow", "mapped.test",
			       "--allow", "zero.test", NULL};
	struct h_gw g = h_snigate(h_sink_port(s), extra);
	struct fds before = fds_now(&g);
	const struct {
		const char *name, *addr;
	} cases[] = {
		{"meta.test", "169.254.169.254"},
		{"ten.test", "10.1.2.3"},
		{"mapped.test", "169.254.169.254"},
		{"zero.test", "0.0.0.0"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct hello_opts o = {.sni = cases[i].name};
		size_t len = h_hello(&o, hello, sizeof(hello));
		int fd = h_connect(g.port);
		uint64_t t0 = h_now_ms();
		char sni[80];

		cr_assert(send_raw(fd, hello, len));
		enum h_outcome r = h_wait(fd, 8000, NULL, 0, NULL);
		uint64_t dt = h_now_ms() - t0;
		close(fd);
		cr_assert_eq(r, H_RESET, "%s: %s", cases[i].name, h_outcome_str(r));
		/* No connect was tried: that would take the 5 s connect timeout or fail otherwise.
		 */
		cr_assert_lt(dt, 1000, "%s: reset after %llu ms", cases[i].name,
			     (unsigned long long)dt);
		snprintf(sni, sizeof(sni), "\"sni\":\"%s\"", cases[i].name);
		const char *want[] = {sni, "\"decision\":\"allow\"",
				      "\"reason\":\"upstream_denied\"", NULL};
		expect_log(&g, want, line, sizeof(line));
		cr_assert(strstr(line, cases[i].addr), "%s: the line does not name %s: %s",
			  cases[i].name, cases[i].addr, line);
	}
	h_sleep_ms(100);
	cr_assert_eq(h_sink_accepted(s), 0);
	fds_back(&g, before, "upstream_denied");
}

/* ---- 2,000 silent connections ---- */

#define SILENT 2000

static int curl_allowed(const struct h_gw *g, uint64_t *ms);

/*
 * curl from every CPU in turn (it inherits this thread's affinity): listeners
 * are steered by SO_INCOMING_CPU, so each worker resolves the name and pools
 * its pipes before the fds are counted.
 */
static void warm_every_worker(const struct h_gw *g)
{
	cpu_set_t all, one;
	long n_cpu = sysconf(_SC_NPROCESSORS_ONLN);
	uint64_t ms;

	cr_assert_eq(sched_getaffinity(0, sizeof(all), &all), 0);
	for (int cpu = 0; cpu < n_cpu && cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &all))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		cr_assert_eq(sched_setaffinity(0, sizeof(one), &one), 0);
		for (int i = 0; i < 3; i++)
			cr_assert_eq(curl_allowed(g, &ms), 0);
	}
	cr_assert_eq(sched_setaffinity(0, sizeof(all), &all), 0);
}

static int curl_allowed(const struct h_gw *g, uint64_t *ms)
{
	char connect_to[128], body[300];
	struct h_proc *p;

	snprintf(connect_to, sizeof(connect_to), "allowed.test:443:127.0.0.1:%d", g->port);
	h_path(body, sizeof(body), "body");
	const char *argv[] = {
		"curl",	    "-sS",  "--max-time", "10", "--connect-to",		 connect_to,
		"--cacert", H.cert, "-o",	  body, "https://allowed.test/", NULL};
	uint64_t t0 = h_now_ms();
	int rc = h_run("curl", argv, NULL, 15000, &p);
	*ms = h_now_ms() - t0;
	if (rc)
		cr_log_error("curl: %s", h_read_file(p->err));
	return rc;
}

Test(hostile, silent_connections_are_reset_and_do_not_slow_allowed_traffic, .timeout = 120)
{
	static int fds[SILENT];
	static struct pollfd pf[SILENT];
	struct rlimit rl;
	uint64_t ms;

	/* 2,000 client sockets here, as many on the gateway (it inherits this limit). */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < 3 * SILENT) {
		rl.rlim_cur = rl.rlim_max < 4 * SILENT ? rl.rlim_max : 4 * SILENT;
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	cr_assert_geq(rl.rlim_cur, 3 * SILENT, "RLIMIT_NOFILE %llu is too low",
		      (unsigned long long)rl.rlim_cur);
	h_start_s_server();
	struct h_gw g = h_snigate(H.tls_port, NULL);
	/* Warm the path (DNS, pipes) first, so the fd count after is comparable. */
	warm_every_worker(&g);
	h_sleep_ms(300);
	struct fds before = fds_now(&g);

	uint64_t t0 = h_now_ms();
	for (int i = 0; i < SILENT; i++) {
		fds[i] = h_connect(g.port);
		pf[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
	}
	uint64_t t_open = h_now_ms() - t0;

	/* While they are all held: allowed traffic still gets through, promptly. */
	cr_assert_eq(curl_allowed(&g, &ms), 0, "curl failed with %d silent connections", SILENT);
	cr_log_info("%d silent connections opened in %llu ms; curl meanwhile took %llu ms", SILENT,
		    (unsigned long long)t_open, (unsigned long long)ms);
	cr_assert_lt(ms, 2000, "curl took %llu ms next to the silent connections",
		     (unsigned long long)ms);

	/*
	 * TCP_DEFER_ACCEPT hands a silent connection to snigate only after about
	 * 2 s (with retransmitted SYN-ACKs, up to ~4 s); then the 1 s hello
	 * timeout runs. Every one must be reset, none left hanging.
	 */
	int reset = 0, other = 0, left = SILENT;
	uint64_t end = h_now_ms() + 15000;
	while (left && h_now_ms() < end) {
		int n = poll(pf, SILENT, 200);
		cr_assert_geq(n, 0);
		for (int i = 0; i < SILENT && n; i++) {
			if (pf[i].fd < 0 || !pf[i].revents)
				continue;
			n--;
			enum h_outcome o = h_wait(fds[i], 0, NULL, 0, NULL);
			if (o == H_RESET)
				reset++;
			else
				other++;
			close(fds[i]);
			pf[i].fd = -1;
			left--;
		}
	}
	uint64_t t_all = h_now_ms() - t0;
	for (int i = 0; i < SILENT; i++)
		if (pf[i].fd >= 0)
			close(fds[i]);
	cr_log_info("%d reset, %d other, %d still open %llu ms after the first connect", reset,
		    other, left, (unsigned long long)t_all);
	cr_assert_eq(left, 0, "%d silent connections still open after 15 s", left);
	cr_assert_eq(reset, SILENT, "%d of %d reset (%d ended otherwise)", reset, SILENT, other);

	fds_back(&g, before, "silent connections");
	/* And the gateway still serves. */
	cr_assert_eq(curl_allowed(&g, &ms), 0);
	cr_assert_eq(h_snigate_stop(&g), 0);
	long long v;
	cr_assert(h_stats(&g, "hello_timeout", &v));
	cr_assert_eq(v, SILENT, "hello_timeout %lld", v);
}
