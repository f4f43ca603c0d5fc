/* SPDX-License-Identifier: MIT */
/*
 * fuzz_connect: libFuzzer target for connect_parse(), connect_classify(),
 * proxy_auth_check() and connect_response().
 *
 * Beyond "does not crash", it checks what connect.h promises: the status
 * and reason are in range and agree; a head is OK only with a valid host,
 * port and version, its Proxy-Authorization view inside the head, and it
 * parses the same when cut to head_len and waits when cut one byte shorter;
 * an answer never changes when the input is cut short (it may only turn
 * into NEED_MORE); stricter limits can only turn an answer into 431, and
 * 431 stays 431. The input is also handed to the Basic-auth decoder as a
 * header value and to connect_response() as a body.
 *
 * Built with -Dfuzzers=true; test/fuzz/replay.c runs the same checks over
 * corpus/connect in every build.
 */
#include "sni/connect.h"

#include <stdlib.h>
#include <string.h>

#include "sni/proxyauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool same(enum connect_status a, const struct connect_req *ra, enum connect_status b,
		 const struct connect_req *rb)
{
	return a == b && !memcmp(ra, rb, sizeof(*ra));
}

static void check_ok(const uint8_t *data, const struct connect_req *r)
{
	size_t i;

	check(r->reason == CONNECT_R_NONE);
	check(r->head_len >= 2 && r->head_len <= CONNECT_MAX_HEAD_DEFAULT);
	check(data[r->head_len - 1] == '\n');
	check(r->http_minor <= 1 && r->port >= 1);
	check(r->host_len >= 1 && r->host[r->host_len] == '\0' && strlen(r->host) == r->host_len);
	check(r->host_kind <= CONNECT_HOST_IPV6);
	if (r->host_kind == CONNECT_HOST_NAME) {
		check(r->host[0] != '.' && r->host[r->host_len - 1] != '.');
		for (i = 0; i < r->host_len; i++) {
			char c = r->host[i];

			check((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
			      c == '_' || (c == '.' && r->host[i + 1] != '.'));
		}
	}
	if (r->auth)
		check(r->auth >= data && r->auth + r->auth_len <= data + r->head_len);
	else
		check(r->auth_len == 0);
}

/* A two-user credentials set without a file: "u:p" and "alice:s3cret". */
static struct proxy_auth *auth_set(void)
{
	static struct proxy_auth *a;
	uint8_t h[SHA256_LEN];

	if (!a) {
		a = proxy_auth_new();
		check(a != NULL);
		sha256("u:p", 3, h);
		check(proxy_auth_add(a, "u", 1, h) == 0);
		sha256("alice:s3cret", 12, h);
		check(proxy_auth_add(a, "alice", 5, h) == 0);
	}
	return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct connect_limits tight = {
		.max_line = 40, .max_headers = 3, .max_head = 200};
	struct connect_req r, r2;
	enum connect_status st, st2;
	enum connect_first k = connect_classify(data, size);
	enum proxy_auth_result ar;

	check(k <= CONNECT_FIRST_OTHER);
	check((k == CONNECT_FIRST_NEED_MORE) == (size == 0 || (size == 1 && data[0] == 0x16)));

	st = connect_parse(data, size, NULL, &r);
	check(st <= CONNECT_BAD_VERSION);
	switch (st) {
	case CONNECT_NEED_MORE:
		check(size < CONNECT_MAX_HEAD_DEFAULT && r.reason == CONNECT_R_NONE);
		break;
	case CONNECT_OK:
		check_ok(data, &r);
		check(k == CONNECT_FIRST_HTTP);
		st2 = connect_parse(data, r.head_len, NULL, &r2);
		check(same(st, &r, st2, &r2));
		st2 = connect_parse(data, r.head_len - 1, NULL, &r2);
		check(st2 == CONNECT_NEED_MORE);
		ar = proxy_auth_check(auth_set(), r.auth, r.auth_len);
		check(ar <= PROXY_AUTH_WRONG && (ar == PROXY_AUTH_MISSING) == !r.auth);
		break;
	default:
		check(r.reason > CONNECT_R_NONE && r.reason < CONNECT_R__COUNT);
		check(strcmp(connect_reason_str(r.reason), "unknown") != 0);
		check((st == CONNECT_TOO_LARGE) == (r.reason >= CONNECT_R_LINE_TOO_LONG &&
						    r.reason <= CONNECT_R_HEAD_TOO_LARGE));
		check((st == CONNECT_BAD_METHOD) == (r.reason == CONNECT_R_METHOD));
		break;
	}
	check(st == CONNECT_NEED_MORE || connect_status_code(st) >= 200);

	/* Cut short, an answer may only become a wait. */
	if (size) {
		st2 = connect_parse(data, size - 1, NULL, &r2);
		check(st2 == CONNECT_NEED_MORE || (st != CONNECT_OK && same(st, &r, st2, &r2)) ||
		      (st == CONNECT_OK && r.head_len < size && same(st, &r, st2, &r2)));
		st2 = connect_parse(data, size / 2, NULL, &r2);
		check(st2 == CONNECT_NEED_MORE || same(st, &r, st2, &r2));
	}

	/* Stricter limits: the same answer, or 431; a 431 stays a 431. */
	st2 = connect_parse(data, size, &tight, &r2);
	if (st == CONNECT_TOO_LARGE)
		check(st2 == CONNECT_TOO_LARGE);
	else if (st2 != CONNECT_TOO_LARGE)
		check(same(st, &r, st2, &r2));

	/* The whole input as a Proxy-Authorization value. */
	ar = proxy_auth_check(auth_set(), data, size);
	check(ar <= PROXY_AUTH_WRONG && ar != PROXY_AUTH_MISSING);

	/* The input as a response body: bounded, printable, and always fits 512 bytes. */
	if (size < 1024) {
		char body[1024], out[512];
		size_t n, i;

		memcpy(body, data, size);
		body[size] = '\0';
		n = connect_response(size % 2 ? 403 : 407, body, out, sizeof(out));
		check(n > 0 && n <= sizeof(out));
		for (i = 0; i < n; i++)
			check(out[i] == '\r' || out[i] == '\n' ||
			      ((unsigned char)out[i] >= 0x20 && (unsigned char)out[i] < 0x7f));
	}
	return 0;
}
