/* SPDX-License-Identifier: MIT */
/*
 * test_connect: the CONNECT head parser, first-byte classifier and
 * responses (sni/connect.h). The Basic check is test_proxyauth.c's.
 *
 * Every parser input is copied so that its last byte sits right before a
 * PROT_NONE page, as in test_sni.c: a read past len is a SIGSEGV even in
 * the plain gcc build. Cases are one-line table rows (picohttpparser's
 * PARSE table); each row is also parsed cut at every byte, which must wait
 * until the answer is decided and then give exactly the same answer.
 */
#include "sni/connect.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SPAN	      (80 * 1024) /* largest input any test feeds */

#include "guard.h"

TestSuite(classify, .init = guard_setup, .fini = guard_teardown);
TestSuite(connect, .init = guard_setup, .fini = guard_teardown);
TestSuite(response);

static enum connect_status parse_lim(const void *src, size_t len, const struct connect_limits *lim,
				     struct connect_req *r)
{
	const uint8_t *p = flush(src, len);
	enum connect_status st;

	memset(r, 0xa5, sizeof(*r)); /* no field may be left over */
	st = connect_parse(p, len, lim, r);
	/* Make auth comparable across copies: an offset from the start. */
	if (r->auth)
		r->auth = (const uint8_t *)(uintptr_t)(r->auth - p + 1);
	return st;
}

static enum connect_status parse(const char *s, struct connect_req *r)
{
	return parse_lim(s, strlen(s), NULL, r);
}

/* ---- classify ---- */

Test(classify, first_bytes)
{
	static const struct {
		const char *in;
		size_t n;
		enum connect_first want;
	} cases[] = {
		{"", 0, CONNECT_FIRST_NEED_MORE},     {"\x16", 1, CONNECT_FIRST_NEED_MORE},
		{"\x16\x03", 2, CONNECT_FIRST_TLS},   {"\x16\x03\x01\x02", 4, CONNECT_FIRST_TLS},
		{"\x16\x02", 2, CONNECT_FIRST_OTHER}, {"\x15\x03", 2, CONNECT_FIRST_OTHER},
		{"C", 1, CONNECT_FIRST_HTTP},	      {"GET /", 5, CONNECT_FIRST_HTTP},
		{"Z", 1, CONNECT_FIRST_HTTP},	      {"c", 1, CONNECT_FIRST_OTHER},
		{"\0", 1, CONNECT_FIRST_OTHER},	      {" CONNECT", 8, CONNECT_FIRST_OTHER},
		{"\x80\x01", 2, CONNECT_FIRST_OTHER}, /* SSLv2-style hello */
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		cr_expect_eq(connect_classify(flush(cases[i].in, cases[i].n), cases[i].n),
			     cases[i].want, "case %zu", i);
}

/* ---- the case table ---- */

#define CRLF	    "\r\n"
#define REQ(target) "CONNECT " target " HTTP/1.1" CRLF CRLF

struct pcase {
	const char *in;
	enum connect_status st;
	enum connect_reason reason;
	const char *host; /* checked when st == CONNECT_OK */
	uint16_t port;
	enum connect_host_kind kind;
};

static const struct pcase cases[] = {
	/* good */
	{REQ("api.github.com:443"), CONNECT_OK, 0, "api.github.com", 443, CONNECT_HOST_NAME},
	{REQ("API.GitHub.COM:443"), CONNECT_OK, 0, "api.github.com", 443, CONNECT_HOST_NAME},
	{REQ("example.com.:443"), CONNECT_OK, 0, "example.com", 443, CONNECT_HOST_NAME},
	{REQ("under_score.example:443"), CONNECT_OK, 0, "under_score.example", 443, 0},
	{REQ("xn--bcher-kva.example:443"), CONNECT_OK, 0, "xn--bcher-kva.example", 443, 0},
	{REQ("localhost:1"), CONNECT_OK, 0, "localhost", 1, CONNECT_HOST_NAME},
	{REQ("h:65535"), CONNECT_OK, 0, "h", 65535, CONNECT_HOST_NAME},
	{REQ("h:00443"), CONNECT_OK, 0, "h", 443, CONNECT_HOST_NAME},
	{REQ("127.0.0.1:443"), CONNECT_OK, 0, "127.0.0.1", 443, CONNECT_HOST_IPV4},
	{REQ("127.0.0.1.:443"), CONNECT_OK, 0, "127.0.0.1", 443, CONNECT_HOST_IPV4},
	{REQ("[::1]:443"), CONNECT_OK, 0, "::1", 443, CONNECT_HOST_IPV6},
	{REQ("[2001:DB8:0:0::1]:8443"), CONNECT_OK, 0, "2001:db8::1", 8443, CONNECT_HOST_IPV6},
	{REQ("[::ffff:10.0.0.1]:443"), CONNECT_OK, 0, "::ffff:10.0.0.1", 443, CONNECT_HOST_IPV6},
	{"CONNECT h.example:443 HTTP/1.0" CRLF CRLF, CONNECT_OK, 0, "h.example", 443, 0},
	/* bare LF, and the two mixed */
	{"CONNECT h.example:443 HTTP/1.1\n\n", CONNECT_OK, 0, "h.example", 443, 0},
	{"CONNECT h.example:443 HTTP/1.1\nHost: x\n\n", CONNECT_OK, 0, "h.example", 443, 0},
	{"CONNECT h.example:443 HTTP/1.1\r\nHost: x\n\r\n", CONNECT_OK, 0, "h.example", 443, 0},
	{"CONNECT h.example:443 HTTP/1.1\nHost: x\r\n\n", CONNECT_OK, 0, "h.example", 443, 0},
	/* fields we look at, and fields we do not */
	{"CONNECT h.example:443 HTTP/1.1" CRLF "Host: h.example:443" CRLF
	 "User-Agent: curl/7.88.1" CRLF "Proxy-Connection: Keep-Alive" CRLF "X-Empty:" CRLF
	 "X-Tab:\tv\t" CRLF "X-Obs-Text: \xc3\xa9" CRLF "Content-Length: 0" CRLF CRLF,
	 CONNECT_OK, 0, "h.example", 443, 0},

	/* 405 */
	{"GET / HTTP/1.1" CRLF CRLF, CONNECT_BAD_METHOD, CONNECT_R_METHOD},
	{"GET ", CONNECT_BAD_METHOD, CONNECT_R_METHOD}, /* decided at the space */
	{"POST http://x/ HTTP/1.1" CRLF, CONNECT_BAD_METHOD, CONNECT_R_METHOD},
	{"CONNECTX h:443 HTTP/1.1" CRLF CRLF, CONNECT_BAD_METHOD, CONNECT_R_METHOD},
	{"CONNEC h:443 HTTP/1.1" CRLF CRLF, CONNECT_BAD_METHOD, CONNECT_R_METHOD},
	{"connect h:443 HTTP/1.1" CRLF CRLF, CONNECT_BAD_METHOD, CONNECT_R_METHOD},

	/* 505 and the version's 400s */
	{"CONNECT h:443 HTTP/2.0" CRLF CRLF, CONNECT_BAD_VERSION, CONNECT_R_VERSION},
	{"CONNECT h:443 HTTP/0.9" CRLF CRLF, CONNECT_BAD_VERSION, CONNECT_R_VERSION},
	{"CONNECT h:443 HTTP/1.2" CRLF CRLF, CONNECT_BAD_VERSION, CONNECT_R_VERSION},
	{"CONNECT h:443 HTTP/2" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_VERSION},
	{"CONNECT h:443 http/1.1" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_VERSION},
	{"CONNECT h:443 HTTP/1.1 " CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_VERSION},
	{"CONNECT h:443 HTTP/1.10" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_VERSION},
	{"CONNECT h:443 " CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_VERSION},

	/* request line shape */
	{" CONNECT h:443 HTTP/1.1" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_REQUEST_LINE},
	{"CONNECT  h:443 HTTP/1.1" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_REQUEST_LINE},
	{"CONNECT h:443" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_REQUEST_LINE},
	{"CONNECT\th:443 HTTP/1.1" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_REQUEST_LINE},
	{"CON\"NECT h:443 HTTP/1.1" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_REQUEST_LINE},
	{"CONNECT h:443 HTTP/1.1\r\r\n\r\n", CONNECT_BAD_REQUEST, CONNECT_R_LINE_ENDING},
	{"CONNECT h:443 HTTP/1.1\rX", CONNECT_BAD_REQUEST, CONNECT_R_LINE_ENDING},

	/* authority and port */
	{REQ("h"), CONNECT_BAD_REQUEST, CONNECT_R_AUTHORITY},
	{REQ("h:"), CONNECT_BAD_REQUEST, CONNECT_R_PORT},
	{REQ("h:0"), CONNECT_BAD_REQUEST, CONNECT_R_PORT},
	{REQ("h:00000"), CONNECT_BAD_REQUEST, CONNECT_R_PORT},
	{REQ("h:65536"), CONNECT_BAD_REQUEST, CONNECT_R_PORT},
	{REQ("h:99999"), CONNECT_BAD_REQUEST, CONNECT_R_PORT},
	{REQ("h:000443"), CONNECT_BAD_REQUEST, CONNECT_R_PORT},
	{REQ("h:44a"), CONNECT_BAD_REQUEST, CONNECT_R_PORT},
	{REQ("h:+443"), CONNECT_BAD_REQUEST, CONNECT_R_PORT},
	{REQ("h:443:443"), CONNECT_BAD_REQUEST, CONNECT_R_PORT},
	{REQ("https://h:443"), CONNECT_BAD_REQUEST, CONNECT_R_PORT}, /* host "https" */
	{REQ("user@h:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ(":443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ(".:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("a..b:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ(".a:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("a.b..:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("a*b:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("*.example.com:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("h\x80:443"), CONNECT_BAD_REQUEST, CONNECT_R_AUTHORITY},
	{REQ("127.1:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("1.2.3.4.5:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("127.0.0.01:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("256.0.0.1:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("example.123:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("::1:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("[::1]"), CONNECT_BAD_REQUEST, CONNECT_R_AUTHORITY},
	{REQ("[::1]443"), CONNECT_BAD_REQUEST, CONNECT_R_AUTHORITY},
	{REQ("[::1:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("[]:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("[fe80::1%25eth0]:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("[v1.x]:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("[127.0.0.1]:443"), CONNECT_BAD_REQUEST, CONNECT_R_HOST},
	{REQ("[::1]:0"), CONNECT_BAD_REQUEST, CONNECT_R_PORT},

	/* header fields */
	{"CONNECT h:443 HTTP/1.1" CRLF "X: a" CRLF " b" CRLF CRLF, CONNECT_BAD_REQUEST,
	 CONNECT_R_OBS_FOLD},
	{"CONNECT h:443 HTTP/1.1" CRLF "X: a" CRLF "\tb" CRLF CRLF, CONNECT_BAD_REQUEST,
	 CONNECT_R_OBS_FOLD},
	{"CONNECT h:443 HTTP/1.1" CRLF " X: a" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_OBS_FOLD},
	{"CONNECT h:443 HTTP/1.1" CRLF "X : a" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_FIELD},
	{"CONNECT h:443 HTTP/1.1" CRLF "X\t: a" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_FIELD},
	{"CONNECT h:443 HTTP/1.1" CRLF "NoColon" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_FIELD},
	{"CONNECT h:443 HTTP/1.1" CRLF ": v" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_FIELD},
	{"CONNECT h:443 HTTP/1.1" CRLF "X\x7f: a" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_CTL},
	{"CONNECT h:443 HTTP/1.1" CRLF "X: a\x7f" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_CTL},
	{"CONNECT h:443 HTTP/1.1" CRLF "X: a\x01" CRLF CRLF, CONNECT_BAD_REQUEST, CONNECT_R_CTL},
	{"CONNECT h:443 HTTP/1.1" CRLF "X: a\rb" CRLF CRLF, CONNECT_BAD_REQUEST,
	 CONNECT_R_LINE_ENDING},
	{"CONNECT h:443 HTTP/1.1" CRLF "Transfer-Encoding: chunked" CRLF CRLF, CONNECT_BAD_REQUEST,
	 CONNECT_R_CONTENT},
	{"CONNECT h:443 HTTP/1.1" CRLF "content-length: 5" CRLF CRLF, CONNECT_BAD_REQUEST,
	 CONNECT_R_CONTENT},
	{"CONNECT h:443 HTTP/1.1" CRLF "Content-Length:" CRLF CRLF, CONNECT_BAD_REQUEST,
	 CONNECT_R_CONTENT},
	{"CONNECT h:443 HTTP/1.1" CRLF "Proxy-Authorization: Basic a" CRLF
	 "proxy-authorization: Basic b" CRLF CRLF,
	 CONNECT_BAD_REQUEST, CONNECT_R_DUP_AUTH},
};

static void check_case(size_t i, const struct pcase *c, enum connect_status st,
		       const struct connect_req *r)
{
	cr_assert_eq(st, c->st, "case %zu (%s): status %d, want %d (reason %s)", i, c->in, st,
		     c->st, connect_reason_str(r->reason));
	if (st != CONNECT_OK) {
		cr_assert_eq(r->reason, c->reason, "case %zu (%s): reason %s, want %s", i, c->in,
			     connect_reason_str(r->reason), connect_reason_str(c->reason));
		return;
	}
	cr_assert_eq(r->reason, CONNECT_R_NONE);
	cr_assert_str_eq(r->host, c->host, "case %zu", i);
	cr_assert_eq(r->host_len, strlen(c->host));
	cr_assert_eq(r->port, c->port, "case %zu", i);
	cr_assert_eq(r->host_kind, c->kind, "case %zu", i);
	cr_assert_eq(r->head_len, strlen(c->in), "case %zu", i);
}

Test(connect, table)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct connect_req r;

		check_case(i, &cases[i], parse(cases[i].in, &r), &r);
	}
}

/*
 * Every cut of every row: a wait, until the answer is decided; from then on
 * the same answer, field for field.
 */
Test(connect, every_split)
{
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const char *in = cases[i].in;
		size_t n = strlen(in), k;
		struct connect_req full, r;
		enum connect_status fst = parse(in, &full), st;
		bool decided = false;

		for (k = 0; k <= n; k++) {
			st = parse_lim(in, k, NULL, &r);
			if (st == CONNECT_NEED_MORE) {
				cr_assert(!decided, "case %zu: waits again at %zu", i, k);
				cr_assert_eq(r.reason, CONNECT_R_NONE);
				cr_assert_null(r.auth);
				continue;
			}
			decided = true;
			cr_assert_eq(st, fst, "case %zu cut at %zu: %d, want %d", i, k, st, fst);
			cr_assert(!memcmp(&r, &full, sizeof(r)), "case %zu cut at %zu differs", i,
				  k);
		}
		cr_assert(decided, "case %zu never decided", i);
	}
}

Test(connect, head_len_stops_at_empty_line)
{
	static const char in[] = "CONNECT h.example:443 HTTP/1.1\r\n\r\n\x16\x03\x01\x02\x00";
	struct connect_req r;

	cr_assert_eq(parse_lim(in, sizeof(in) - 1, NULL, &r), CONNECT_OK);
	cr_assert_eq(r.head_len, strlen("CONNECT h.example:443 HTTP/1.1\r\n\r\n"));
	cr_assert_eq(r.http_minor, 1);
}

Test(connect, ip_literal_bytes)
{
	struct connect_req r;
	static const uint8_t v4[4] = {10, 0, 0, 1};
	static const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

	cr_assert_eq(parse(REQ("10.0.0.1:443"), &r), CONNECT_OK);
	cr_assert_eq(r.host_kind, CONNECT_HOST_IPV4);
	cr_assert(!memcmp(r.addr, v4, 4));
	cr_assert_eq(parse(REQ("[2001:db8::1]:443"), &r), CONNECT_OK);
	cr_assert_eq(r.host_kind, CONNECT_HOST_IPV6);
	cr_assert(!memcmp(r.addr, v6, 16));
}

Test(connect, host_lengths)
{
	char name[300], in[400];
	struct connect_req r;
	size_t i;

	/* 63-byte label fine, 64 not */
	memset(name, 'a', 63);
	strcpy(name + 63, ".example");
	snprintf(in, sizeof(in), REQ("%s:443"), name);
	cr_assert_eq(parse(in, &r), CONNECT_OK);
	memset(name, 'a', 64);
	strcpy(name + 64, ".example");
	snprintf(in, sizeof(in), REQ("%s:443"), name);
	cr_assert_eq(parse(in, &r), CONNECT_BAD_REQUEST);
	cr_assert_eq(r.reason, CONNECT_R_HOST);

	/* 253 bytes fine (and 253 + trailing dot), 254 not */
	for (i = 0; i < 253; i++)
		name[i] = i % 2 ? '.' : 'a';
	name[252] = 'b';
	name[253] = '\0';
	snprintf(in, sizeof(in), REQ("%s:443"), name);
	cr_assert_eq(parse(in, &r), CONNECT_OK);
	cr_assert_eq(r.host_len, 253);
	snprintf(in, sizeof(in), REQ("%s.:443"), name);
	cr_assert_eq(parse(in, &r), CONNECT_OK);
	cr_assert_eq(r.host_len, 253);
	snprintf(in, sizeof(in), REQ("a%s:443"), name);
	cr_assert_eq(parse(in, &r), CONNECT_BAD_REQUEST);
	cr_assert_eq(r.reason, CONNECT_R_HOST);
}

Test(connect, nul_anywhere_is_400)
{
	static const char base[] = "CONNECT h.example:443 HTTP/1.1\r\nHost: h\r\n\r\n";
	char in[sizeof(base)];
	struct connect_req r;

	/* A NUL in place of each byte up to the last LF is refused, never accepted. */
	for (size_t i = 0; i + 1 < sizeof(base) - 1; i++) {
		enum connect_status st;

		memcpy(in, base, sizeof(base));
		in[i] = '\0';
		st = parse_lim(in, sizeof(base) - 1, NULL, &r);
		cr_assert(st == CONNECT_BAD_REQUEST || st == CONNECT_BAD_METHOD ||
				  st == CONNECT_BAD_VERSION,
			  "NUL at %zu: status %d", i, st);
	}
}

Test(connect, proxy_authorization_view)
{
	static const char in[] =
		"CONNECT h:443 HTTP/1.1\r\nProxy-Authorization:   Basic dTpw  \r\n\r\n";
	const uint8_t *p = flush(in, sizeof(in) - 1);
	struct connect_req r;

	cr_assert_eq(connect_parse(p, sizeof(in) - 1, NULL, &r), CONNECT_OK);
	cr_assert_not_null(r.auth);
	cr_assert_eq(r.auth_len, strlen("Basic dTpw"));
	cr_assert(!memcmp(r.auth, "Basic dTpw", r.auth_len));
	cr_assert(r.auth >= p && r.auth + r.auth_len <= p + r.head_len);

	cr_assert_eq(parse("CONNECT h:443 HTTP/1.1\r\nProxy-Authorization:\r\n\r\n", &r),
		     CONNECT_OK);
	cr_assert_not_null(r.auth);
	cr_assert_eq(r.auth_len, 0);
	cr_assert_eq(parse(REQ("h:443"), &r), CONNECT_OK);
	cr_assert_null(r.auth);
}

/* ---- limits ---- */

static size_t pad_headers(char *buf, size_t cap, unsigned count, size_t value_len)
{
	size_t o = (size_t)snprintf(buf, cap, "CONNECT h.example:443 HTTP/1.1\r\n");

	for (unsigned i = 0; i < count; i++) {
		o += (size_t)snprintf(buf + o, cap - o, "X-Pad-%u: ", i);
		cr_assert_lt(o + value_len + 2, cap);
		memset(buf + o, 'v', value_len);
		o += value_len;
		memcpy(buf + o, "\r\n", 2);
		o += 2;
	}
	cr_assert_lt(o + 2, cap);
	memcpy(buf + o, "\r\n", 2);
	return o + 2;
}

Test(connect, headers_64k_is_431)
{
	static char buf[SPAN];
	struct connect_req r;
	size_t n = pad_headers(buf, sizeof(buf), 50, 1300); /* ~66 KiB in 50 fields */

	cr_assert_gt(n, 64 * 1024);
	cr_assert_eq(parse_lim(buf, n, NULL, &r), CONNECT_TOO_LARGE);
	cr_assert_eq(r.reason, CONNECT_R_HEAD_TOO_LARGE);
	cr_assert_eq(connect_status_code(CONNECT_TOO_LARGE), 431);
	/* Decided once 16 KiB are in: no need to wait for the rest. */
	cr_assert_eq(parse_lim(buf, CONNECT_MAX_HEAD_DEFAULT, NULL, &r), CONNECT_TOO_LARGE);
	cr_assert_eq(parse_lim(buf, CONNECT_MAX_HEAD_DEFAULT - 1, NULL, &r), CONNECT_NEED_MORE);

	/* One 64 KiB field: the line limit fires first. */
	n = pad_headers(buf, sizeof(buf), 1, 64 * 1024);
	cr_assert_eq(parse_lim(buf, n, NULL, &r), CONNECT_TOO_LARGE);
	cr_assert_eq(r.reason, CONNECT_R_LINE_TOO_LONG);
}

Test(connect, header_count)
{
	static char buf[8192];
	struct connect_req r;
	size_t n = pad_headers(buf, sizeof(buf), CONNECT_MAX_HEADERS_DEFAULT, 4);

	cr_assert_eq(parse_lim(buf, n, NULL, &r), CONNECT_OK);
	cr_assert_eq(r.n_headers, CONNECT_MAX_HEADERS_DEFAULT);
	n = pad_headers(buf, sizeof(buf), CONNECT_MAX_HEADERS_DEFAULT + 1, 4);
	cr_assert_eq(parse_lim(buf, n, NULL, &r), CONNECT_TOO_LARGE);
	cr_assert_eq(r.reason, CONNECT_R_TOO_MANY_HEADERS);

	/* A configured limit. */
	n = pad_headers(buf, sizeof(buf), 3, 4);
	cr_assert_eq(parse_lim(buf, n, &(struct connect_limits){.max_headers = 3}, &r), CONNECT_OK);
	cr_assert_eq(parse_lim(buf, n, &(struct connect_limits){.max_headers = 2}, &r),
		     CONNECT_TOO_LARGE);
}

Test(connect, line_and_head_limits_exact)
{
	static const char in[] = "CONNECT h.example:443 HTTP/1.1\r\nX-A: 0123456789\r\n\r\n";
	size_t n = sizeof(in) - 1;
	size_t rl = strlen("CONNECT h.example:443 HTTP/1.1");
	struct connect_req r;

	/* max_head is the head's length exactly: fits; one less: 431 */
	cr_assert_eq(parse_lim(in, n, &(struct connect_limits){.max_head = n}, &r), CONNECT_OK);
	cr_assert_eq(parse_lim(in, n, &(struct connect_limits){.max_head = n - 1}, &r),
		     CONNECT_TOO_LARGE);
	cr_assert_eq(r.reason, CONNECT_R_HEAD_TOO_LARGE);
	/* max_line is the request line without CRLF: fits; one less: 431 */
	cr_assert_eq(parse_lim(in, n, &(struct connect_limits){.max_line = rl}, &r), CONNECT_OK);
	cr_assert_eq(parse_lim(in, n, &(struct connect_limits){.max_line = rl - 1}, &r),
		     CONNECT_TOO_LARGE);
	cr_assert_eq(r.reason, CONNECT_R_LINE_TOO_LONG);
	/* The same with bare LF: the terminator is never counted. */
	cr_assert_eq(parse_lim("CONNECT h.example:443 HTTP/1.1\n\n", rl + 2,
			       &(struct connect_limits){.max_line = rl}, &r),
		     CONNECT_OK);
}

Test(connect, long_request_line_is_431)
{
	static char buf[SPAN];
	struct connect_req r;
	size_t n;

	memcpy(buf, "CONNECT ", 8);
	memset(buf + 8, 'a', 9000);
	n = 8 + 9000;
	cr_assert_eq(parse_lim(buf, n, NULL, &r), CONNECT_TOO_LARGE);
	cr_assert_eq(r.reason, CONNECT_R_LINE_TOO_LONG);
	/* Decided at byte max_line + 1. */
	cr_assert_eq(parse_lim(buf, CONNECT_MAX_LINE_DEFAULT, NULL, &r), CONNECT_NEED_MORE);
	cr_assert_eq(parse_lim(buf, CONNECT_MAX_LINE_DEFAULT + 1, NULL, &r), CONNECT_TOO_LARGE);
}

Test(connect, status_codes)
{
	cr_assert_eq(connect_status_code(CONNECT_OK), 200);
	cr_assert_eq(connect_status_code(CONNECT_BAD_REQUEST), 400);
	cr_assert_eq(connect_status_code(CONNECT_BAD_METHOD), 405);
	cr_assert_eq(connect_status_code(CONNECT_TOO_LARGE), 431);
	cr_assert_eq(connect_status_code(CONNECT_BAD_VERSION), 505);
	for (int i = 0; i < CONNECT_R__COUNT; i++)
		cr_assert_str_neq(connect_reason_str(i), "unknown", "reason %d", i);
	cr_assert_str_eq(connect_reason_str(CONNECT_R__COUNT), "unknown");
}

/* ---- responses ---- */

Test(response, established)
{
	char out[128];
	size_t n = connect_response(200, "ignored", out, sizeof(out));

	cr_assert_eq(n, strlen("HTTP/1.1 200 Connection Established\r\n\r\n"));
	cr_assert(!memcmp(out, "HTTP/1.1 200 Connection Established\r\n\r\n", n));
	cr_assert_eq(connect_response(200, NULL, out, n - 1), 0);
}

static void response_str(int status, const char *body, char *out, size_t cap)
{
	size_t n = connect_response(status, body, out, cap - 1);

	cr_assert_gt(n, 0, "status %d", status);
	out[n] = '\0';
}

Test(response, error_shape)
{
	char out[512];

	response_str(403, "host not allowed: evil.example", out, sizeof(out));
	cr_assert_str_eq(out, "HTTP/1.1 403 Forbidden\r\n"
			      "Connection: close\r\n"
			      "Content-Type: text/plain\r\n"
			      "Content-Length: 31\r\n"
			      "\r\n"
			      "host not allowed: evil.example\n");

	response_str(407, NULL, out, sizeof(out));
	cr_assert_str_eq(out, "HTTP/1.1 407 Proxy Authentication Required\r\n"
			      "Proxy-Authenticate: Basic realm=\"snigate\"\r\n"
			      "Connection: close\r\n"
			      "Content-Type: text/plain\r\n"
			      "Content-Length: 30\r\n"
			      "\r\n"
			      "Proxy Authentication Required\n");

	response_str(405, NULL, out, sizeof(out));
	cr_assert(strstr(out, "HTTP/1.1 405 Method Not Allowed\r\nAllow: CONNECT\r\n") == out);

	static const int all[] = {400, 403, 405, 407, 431, 502, 503, 504, 505};
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		response_str(all[i], NULL, out, sizeof(out));
		cr_assert(strstr(out, "Connection: close\r\n"), "status %d", all[i]);
		char want[16];

		snprintf(want, sizeof(want), "HTTP/1.1 %d ", all[i]);
		cr_assert(!strncmp(out, want, strlen(want)), "status %d", all[i]);
	}
}

Test(response, body_is_one_safe_line)
{
	char body[600], out[512];

	response_str(403, "a\r\nSet-Cookie: x\x01\xff", out, sizeof(out));
	cr_assert(strstr(out, "\r\n\r\na??Set-Cookie: x??\n"));
	cr_assert_null(strstr(out, "\r\nSet-Cookie"));

	memset(body, 'b', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	response_str(403, body, out, sizeof(out));
	cr_assert(strstr(out, "Content-Length: 201\r\n"));
}

Test(response, refuses_unknown_status_and_small_buffers)
{
	char out[512];
	size_t n;

	cr_assert_eq(connect_response(418, NULL, out, sizeof(out)), 0);
	cr_assert_eq(connect_response(0, NULL, out, sizeof(out)), 0);
	n = connect_response(502, NULL, out, sizeof(out));
	cr_assert_gt(n, 0);
	cr_assert_eq(connect_response(502, NULL, out, n), 0); /* no silent truncation */
	cr_assert_eq(connect_response(502, NULL, out, n + 1), n);
}
