/* SPDX-License-Identifier: MIT */
/*
 * PROXY protocol v2 on a listener that trusts 127.0.0.1: HAProxy, started
 * here with `send-proxy-v2`, relays clients bound to 127.0.0.2 and 127.0.0.3,
 * and the policies must see those addresses, not HAProxy's. Hand-built
 * headers from the trusted address and from an untrusted one check the
 * refusals, each with its reason, and that every other connection keeps
 * flowing meanwhile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "test/integration/harness.h"

static void setup(void)
{
	h_start_unbound();
	h_start_s_server();
}

TestSuite(proxy, .init = setup, .fini = h_teardown, .timeout = 120);

static const uint8_t SIG[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

/*
 * review: clients on 127.0.0.2; dev: 127.0.0.3; lb: what HAProxy itself
 * (127.0.0.1) may reach, which its LOCAL connections and a direct client on
 * 127.0.0.1 would get if the header were ignored.
 */
static const char POLICIES[] = "policies:\n"
			       "  - name: review\n"
			       "    match: {sources: [127.0.0.2/32]}\n"
			       "    allow: [allowed.test]\n"
			       "  - name: dev\n"
			       "    match: {sources: [127.0.0.3/32, 10.9.0.0/16]}\n"
			       "    allow: [x.wild.test]\n"
			       "  - name: lb\n"
			       "    match: {sources: [127.0.0.1/32]}\n"
			       "    allow: [big.test]\n";

static struct h_gw start(const char *extra)
{
	char conf[256], text[4096];
	int port = h_free_port();

	h_path(conf, sizeof(conf), "proxy.yaml");
	snprintf(text, sizeof(text),
		 "listeners:\n"
		 "  - name: main\n"
		 "    address: 127.0.0.1:%d\n"
		 "    upstream_port: %d\n"
		 "    proxy_protocol: {trusted: [127.0.0.1/32]}\n"
		 "%s%s"
		 "resolver:\n"
		 "  forwarders: [\"127.0.0.1:%d\"]\n"
		 "upstream:\n"
		 "  allow: [127.0.0.0/8]\n"
		 "timeouts: {client_hello: 2s, connect: 2s}\n",
		 port, H.tls_port, POLICIES, extra ? extra : "", H.dns_port);
	h_write_file(conf, text);
	const char *args[] = {"-c", conf, "--threads", "2", NULL};
	return h_snigate_args(port, args);
}

/* HAProxy in TCP mode on a fresh port, relaying to the gateway with send-proxy-v2. */
static int start_haproxy(const struct h_gw *g)
{
	char cfg[256], text[1024];
	int port = h_free_port();

	cr_assert_eq(access("/usr/sbin/haproxy", X_OK), 0,
		     "haproxy is not installed (make deps installs it)");
	h_path(cfg, sizeof(cfg), "haproxy.cfg");
	/*
	 * check-send-proxy: its health checks open with a LOCAL header, the
	 * balancer speaking for itself, which must be taken as such.
	 */
	snprintf(text, sizeof(text),
		 "global\n"
		 "  maxconn 100\n"
		 "defaults\n"
		 "  mode tcp\n"
		 "  timeout connect 2s\n"
		 "  timeout client 10s\n"
		 "  timeout server 10s\n"
		 "frontend fe\n"
		 "  bind 127.0.0.1:%d\n"
		 "  default_backend be\n"
		 "backend be\n"
		 "  server gw 127.0.0.1:%d send-proxy-v2 check check-send-proxy inter 300ms\n",
		 port, g->port);
	h_write_file(cfg, text);
	const char *argv[] = {"/usr/sbin/haproxy", "-db", "-f", cfg, NULL};
	struct h_proc *p = h_spawn("haproxy", argv, NULL);
	cr_assert(h_port_wait(port, 5000), "haproxy did not listen: %s", h_read_file(p->err));
	return port;
}

static void expect_line(const struct h_gw *g, const char *const needles[])
{
	char line[2048];

	if (h_log_wait(g, needles, 5000, line, sizeof(line)))
		return;
	cr_assert_fail("no access line with %s and %s; the log is:\n%s", needles[0],
		       needles[1] ? needles[1] : "", h_read_file(g->p->out));
}

/* A v2 header into buf: ver_cmd, family, then body; returns its size. */
static size_t header(uint8_t *buf, uint8_t ver_cmd, uint8_t fam, const void *body, size_t n)
{
	memcpy(buf, SIG, 12);
	buf[12] = ver_cmd;
	buf[13] = fam;
	buf[14] = (uint8_t)(n >> 8);
	buf[15] = (uint8_t)n;
	memcpy(buf + 16, body, n);
	return 16 + n;
}

/* A PROXY header for TCP over IPv4 from client a.b.c.d:40000 to 127.0.0.1:443. */
static size_t header_v4(uint8_t *buf, const char *client)
{
	uint8_t body[12] = {0, 0, 0, 0, 127, 0, 0, 1, 0x9c, 0x40, 0x01, 0xbb};

	inet_pton(AF_INET, client, body);
	return header(buf, 0x21, 0x11, body, sizeof(body));
}

/* send() that tolerates the gateway's reset: the outcome is read afterwards. */
static void send_some(int fd, const void *buf, size_t n)
{
	ssize_t k = send(fd, buf, n, MSG_NOSIGNAL);
	(void)k;
}

/* Send pre (a header, or anything) and then a ClientHello for sni, from src; the outcome. */
static enum h_outcome send_from(const char *src, int port, const void *pre, size_t n,
				const char *sni)
{
	uint8_t hello[2048], buf[64];
	struct hello_opts o = {.sni = sni};
	size_t got;
	int fd = h_connect_from(src, port);

	if (n)
		send_some(fd, pre, n);
	if (sni) {
		size_t hl = h_hello(&o, hello, sizeof(hello));
		/* What a refused header leaves unread makes the reset: let it land first. */
		h_sleep_ms(20);
		send_some(fd, hello, hl);
	}
	enum h_outcome r = h_wait(fd, 5000, buf, sizeof(buf), &got);
	/* A send() that met the reset took its error: the socket's TCP state still says so. */
	if ((r == H_EOF || r == H_ERROR) && h_wait_peer_reset(fd, 1000))
		r = H_RESET;
	close(fd);
	return r;
}

Test(proxy, haproxy_send_proxy_v2_carries_the_client_to_the_policies)
{
	struct h_gw g = start(NULL);
	int hp = start_haproxy(&g);
	char err[2048];

	/* Through HAProxy, 127.0.0.2 is review and 127.0.0.3 is dev: the header decides. */
	cr_assert_eq(h_curl_from(hp, "127.0.0.2", "allowed.test", err, sizeof(err)), 200, "%s",
		     err);
	const char *a[] = {"\"client\":\"127.0.0.2:", "\"policy\":\"review\"",
			   "\"via\":\"127.0.0.1:", "\"decision\":\"allow\"", NULL};
	expect_line(&g, a);
	cr_assert_lt(h_curl_from(hp, "127.0.0.3", "allowed.test", err, sizeof(err)), 0);
	const char *b[] = {"\"client\":\"127.0.0.3:", "\"policy\":\"dev\"",
			   "\"reason\":\"not_allowed\"", "\"via\":\"127.0.0.1:", NULL};
	expect_line(&g, b);
	cr_assert_eq(h_curl_from(hp, "127.0.0.3", "x.wild.test", err, sizeof(err)), 200, "%s", err);

	/*
	 * HAProxy's own health checks (a LOCAL header, then a reset) are not
	 * taken for a missing, malformed or untrusted header.
	 */
	h_sleep_ms(1000);
	cr_assert_eq(h_log_count(&g, "\"reason\":\"proxy_untrusted\""), 0, "%s",
		     h_read_file(g.p->out));
	cr_assert_eq(h_log_count(&g, "\"reason\":\"proxy_malformed\""), 0, "%s",
		     h_read_file(g.p->out));
	cr_assert_eq(h_log_count(&g, "\"reason\":\"proxy_missing\""), 0, "%s",
		     h_read_file(g.p->out));

	/* 127.0.0.2 straight to the gateway: not a balancer, so no header, and served as itself. */
	cr_assert_eq(h_curl_from(g.port, "127.0.0.2", "allowed.test", err, sizeof(err)), 200, "%s",
		     err);
	const char *c[] = {"\"client\":\"127.0.0.2:", "\"policy\":\"review\"", "\"via\":null",
			   NULL};
	expect_line(&g, c);
	cr_assert_eq(h_snigate_stop(&g), 0);
}

Test(proxy, the_trusted_peer_must_send_a_header_and_others_must_not)
{
	struct h_gw g = start(NULL);
	uint8_t hdr[64];
	size_t n = header_v4(hdr, "127.0.0.2");

	/* The trusted address, straight: no header, so it cannot pass for its clients. */
	cr_assert_eq(send_from("127.0.0.1", g.port, NULL, 0, "big.test"), H_RESET);
	const char *a[] = {"\"client\":\"127.0.0.1:", "\"reason\":\"proxy_missing\"", NULL};
	expect_line(&g, a);
	/* v1's text header is not taken either. */
	const char v1[] = "PROXY TCP4 127.0.0.2 127.0.0.1 40000 443\r\n";
	cr_assert_eq(send_from("127.0.0.1", g.port, v1, strlen(v1), "allowed.test"), H_RESET);
	cr_assert_eq(h_log_count(&g, "\"reason\":\"proxy_missing\""), 2);

	/* An untrusted peer's header claims a client it may not name. */
	cr_assert_eq(send_from("127.0.0.3", g.port, hdr, n, "allowed.test"), H_RESET);
	const char *b[] = {"\"client\":\"127.0.0.3:", "\"reason\":\"proxy_untrusted\"", NULL};
	expect_line(&g, b);

	/* The same header from the trusted peer is believed: review, allowed, relayed. */
	cr_assert_eq(send_from("127.0.0.1", g.port, hdr, n, "allowed.test"), H_DATA);
	const char *c[] = {"\"client\":\"127.0.0.2:40000\"", "\"policy\":\"review\"",
			   "\"via\":\"127.0.0.1:", NULL};
	expect_line(&g, c);
	cr_assert_eq(h_snigate_stop(&g), 0);
}

Test(proxy, hostile_headers_from_the_trusted_peer_are_reset_with_their_reason)
{
	struct h_gw g = start(NULL);
	uint8_t buf[512], body[300] = {0}, good[64];
	size_t gn = header_v4(good, "127.0.0.2");
	char err[2048];

	/* Held open through every hostile one: a relayed connection keeps flowing. */
	int keep = h_connect_from("127.0.0.1", g.port);
	uint8_t hello[2048], reply[64];
	struct hello_opts o = {.sni = "allowed.test"};
	size_t got, hl = h_hello(&o, hello, sizeof(hello));
	h_send_all(keep, good, gn);
	h_send_all(keep, hello, hl);
	cr_assert_eq(h_wait(keep, 5000, reply, sizeof(reply), &got), H_DATA);

	memcpy(body, "\x7f\x00\x00\x02\x7f\x00\x00\x01\x9c\x40\x01\xbb", 12);
	/* A TLV that claims 4 KiB where 3 bytes are. */
	memcpy(body + 12,
	       "\xea\x10\x00"
	       "abc",
	       6);
	size_t n = header(buf, 0x21, 0x11, body, 18);
	cr_assert_eq(send_from("127.0.0.1", g.port, buf, n, "allowed.test"), H_RESET);
	/* A UNIX-socket client, and UDP: nothing a policy could match. */
	n = header(buf, 0x21, 0x31, body, 216);
	cr_assert_eq(send_from("127.0.0.1", g.port, buf, n, "allowed.test"), H_RESET);
	n = header(buf, 0x21, 0x12, body, 12);
	cr_assert_eq(send_from("127.0.0.1", g.port, buf, n, "allowed.test"), H_RESET);
	/* A length of 64 KiB: refused from the first 16 bytes, not waited for. */
	n = header(buf, 0x21, 0x11, body, 12);
	buf[14] = buf[15] = 0xff;
	cr_assert_eq(send_from("127.0.0.1", g.port, buf, 16, NULL), H_RESET);
	/* Version 1 in the binary form, and command 2. */
	n = header(buf, 0x11, 0x11, body, 12);
	cr_assert_eq(send_from("127.0.0.1", g.port, buf, n, "allowed.test"), H_RESET);
	n = header(buf, 0x22, 0x11, body, 12);
	cr_assert_eq(send_from("127.0.0.1", g.port, buf, n, "allowed.test"), H_RESET);
	for (int i = 0; i < 6 && h_log_count(&g, "\"reason\":\"proxy_malformed\"") < 6; i++)
		h_sleep_ms(200);
	cr_assert_eq(h_log_count(&g, "\"reason\":\"proxy_malformed\""), 6, "%s",
		     h_read_file(g.p->out));

	/*
	 * The held connection saw none of it. (openssl s_server serves one
	 * connection at a time: it is let go before the next allowed one.)
	 */
	cr_assert_neq(h_wait(keep, 300, reply, sizeof(reply), &got), H_RESET,
		      "the held connection was reset");
	close(keep);

	/* Truncated: half a header, then the peer gives up. */
	int fd = h_connect_from("127.0.0.1", g.port);
	h_send_all(fd, good, 10);
	h_sleep_ms(100);
	close(fd);
	const char *a[] = {"\"client\":\"127.0.0.1:", "\"reason\":\"hello_eof\"", NULL};
	expect_line(&g, a);

	/* LOCAL: the balancer itself, decided as 127.0.0.1 (policy lb). */
	n = header(buf, 0x20, 0x00, "", 0);
	cr_assert_eq(send_from("127.0.0.1", g.port, buf, n, "big.test"), H_DATA);
	const char *b[] = {"\"sni\":\"big.test\"", "\"policy\":\"lb\"", "\"via\":null", NULL};
	expect_line(&g, b);

	/* A header in three segments, the hello in a fourth: waited for, then believed. */
	fd = h_connect_from("127.0.0.1", g.port);
	h_send_all(fd, good, 5);
	h_sleep_ms(50);
	h_send_all(fd, good + 5, 13);
	h_sleep_ms(50);
	h_send_all(fd, good + 18, gn - 18);
	h_sleep_ms(50);
	h_send_all(fd, hello, hl);
	cr_assert_eq(h_wait(fd, 5000, reply, sizeof(reply), &got), H_DATA);
	close(fd);

	/* And new clients are served as before. */
	cr_assert_eq(h_curl_from(g.port, "127.0.0.2", "allowed.test", err, sizeof(err)), 200, "%s",
		     err);
	cr_assert_eq(h_snigate_stop(&g), 0);
}

Test(proxy, the_source_limit_counts_the_carried_client_not_the_balancer)
{
	struct h_gw g = start("limits: {max_per_source_ip: 1}\n");
	uint8_t a[64], b[64], d[64];
	size_t an = header_v4(a, "10.9.0.1"), bn = header_v4(b, "10.9.0.2");
	size_t dn = header_v4(d, "10.9.0.3");

	/*
	 * Two clients behind one balancer, each waiting to send its hello: a
	 * slot is the carried client's, taken once its header is read.
	 */
	int f1 = h_connect_from("127.0.0.1", g.port), f2 = h_connect_from("127.0.0.1", g.port);
	h_send_all(f1, a, an);
	h_send_all(f2, b, bn);
	h_sleep_ms(300);
	/* A second connection of 10.9.0.1 is over its limit; 10.9.0.3, a third client, is not. */
	cr_assert_eq(send_from("127.0.0.1", g.port, a, an, "x.wild.test"), H_RESET);
	const char *c[] = {"\"client\":\"10.9.0.1:40000\"", "\"reason\":\"source_limit\"", NULL};
	expect_line(&g, c);
	cr_assert_eq(send_from("127.0.0.1", g.port, d, dn, "x.wild.test"), H_DATA);
	cr_assert_eq(h_log_count(&g, "\"reason\":\"source_limit\""), 1, "%s",
		     h_read_file(g.p->out));
	close(f1);
	close(f2);
	cr_assert_eq(h_snigate_stop(&g), 0);
}
