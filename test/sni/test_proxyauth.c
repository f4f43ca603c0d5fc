/* SPDX-License-Identifier: MIT */
/*
 * test_proxyauth: the Basic check and the credential set (sni/proxyauth.h),
 * and the two primitives under it, checked against their standards' own
 * vectors: SHA-256 (FIPS 180-4 and RFC 6234 section 8.5) and base64
 * (RFC 4648 section 10).
 *
 * Header values sit flush against a PROT_NONE page, as in test_connect.c,
 * so a read past the value is a SIGSEGV in the plain gcc build too.
 */
#include "sni/proxyauth.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sni/base64.h"
#include "sni/connect.h"
#include "sni/sha256.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SPAN	      8192 /* largest input any test feeds */

#include "guard.h"

TestSuite(sha256, .init = guard_setup, .fini = guard_teardown);
TestSuite(base64, .init = guard_setup, .fini = guard_teardown);
TestSuite(proxy_auth, .init = guard_setup, .fini = guard_teardown);

static void hex(const uint8_t *h, char *out)
{
	for (int i = 0; i < SHA256_LEN; i++)
		sprintf(out + 2 * i, "%02x", h[i]);
}

/* ---- SHA-256 ---- */

Test(sha256, standard_vectors)
{
	/*
	 * FIPS 180-4 examples (NIST CSRC "SHA256.pdf"), which RFC 6234 8.5
	 * repeats as TEST1, TEST2_1 and TEST3, plus its TEST4: 64 bytes, ten
	 * times. The 896-bit FIPS message is in as well.
	 */
	static const struct {
		const char *in;
		unsigned repeat;
		const char *want;
	} v[] = {
		{"", 1, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", 1, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1,
		 "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
		{"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu",
		 1, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
		{"a", 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"},
		{"0123456701234567012345670123456701234567012345670123456701234567", 10,
		 "594847328451bdfa85056225462cc1d867d877fb388df0ce35f25ab5562bfbb5"},
	};
	uint8_t h[SHA256_LEN];
	char got[2 * SHA256_LEN + 1];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		size_t n = strlen(v[i].in), total = n * v[i].repeat;
		char *m = malloc(total + 1);

		cr_assert_not_null(m);
		for (unsigned r = 0; r < v[i].repeat; r++)
			memcpy(m + r * n, v[i].in, n);
		sha256(m, total, h);
		free(m);
		hex(h, got);
		cr_assert_str_eq(got, v[i].want, "vector %zu", i);
	}
}

/*
 * Lengths on each side of the padding edges (55/56 bytes: the length field
 * fits the last block or not; 63/64/65 and 119/120: block boundaries), with
 * byte i = 7i + 1, flush against the guard page. Digests from Python's
 * hashlib.
 */
Test(sha256, padding_edges)
{
	static const struct {
		size_t n;
		const char *want;
	} v[] = {
		{55, "16fa57a0a3423a715d594516339f36189d6b5f93754a9714fef202616a9fabfe"},
		{56, "c37b44e5f1b18554b36966f4f8e08bfbf3164c4b6c10374d12d89850892073c5"},
		{63, "bbba992d2c85af960fb2987a1fd05e0aa82a3db3c740dd8982a9e273b75e36a3"},
		{64, "66bd4633ed6f71c4ecfa4763bf7ba1c8ec7612de9aa6c0578a7b675207c71e0b"},
		{65, "9f7dc47107b750a1f3d35db5d9547f24ef40da5b731b9540d4f43710a154f6c9"},
		{119, "a3ed307b730fa77c07531300c6e4a282330011d4d4caf6bb7b63ae05950f4b66"},
		{120, "8e3b15d9fea7472655aa069620b7f8c2e55ee1499f763200a7515fe826e99d20"},
	};
	uint8_t in[128], h[SHA256_LEN];
	char got[2 * SHA256_LEN + 1];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7 + 1);
	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		sha256(flush(in, v[i].n), v[i].n, h);
		hex(h, got);
		cr_assert_str_eq(got, v[i].want, "%zu bytes", v[i].n);
	}
}

/* ---- base64 ---- */

static long decode_str(const char *s, uint8_t *out, size_t cap)
{
	return base64_decode(flush(s, strlen(s)), strlen(s), out, cap);
}

Test(base64, rfc4648_vectors)
{
	/* RFC 4648 10, "BASE64" column. */
	static const struct {
		const char *plain;
		const char *coded;
	} v[] = {
		{"", ""},
		{"f", "Zg=="},
		{"fo", "Zm8="},
		{"foo", "Zm9v"},
		{"foob", "Zm9vYg=="},
		{"fooba", "Zm9vYmE="},
		{"foobar", "Zm9vYmFy"},
	};
	uint8_t out[16];

	for (size_t i = 0; i < ARRAY_SIZE(v); i++) {
		long n = decode_str(v[i].coded, out, sizeof(out));

		cr_assert_eq(n, (long)strlen(v[i].plain), "%s", v[i].coded);
		cr_assert(!memcmp(out, v[i].plain, (size_t)n), "%s", v[i].coded);
	}
}

Test(base64, every_byte_value)
{
	/* Bytes 0..255 in order, the whole alphabet in the encoding, '+' and '/' included. */
	static const char coded[] =
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7"
		"PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5fYGFiY2RlZmdoaWprbG1ub3BxcnN0dXZ3"
		"eHl6e3x9fn+AgYKDhIWGh4iJiouMjY6PkJGSk5SVlpeYmZqbnJ2en6ChoqOkpaanqKmqq6ytrq+wsbKz"
		"tLW2t7i5uru8vb6/wMHCw8TFxsfIycrLzM3Oz9DR0tPU1dbX2Nna29zd3t/g4eLj5OXm5+jp6uvs7e7v"
		"8PHy8/T19vf4+fr7/P3+/w==";
	uint8_t out[258];

	cr_assert_eq(decode_str(coded, out, sizeof(out)), 256);
	for (int i = 0; i < 256; i++)
		cr_assert_eq(out[i], i);
}

Test(base64, strict)
{
	static const char *const bad[] = {
		"Zg",	    /* unpadded */
		"Zg=",	    /* length not a multiple of 4 */
		"Z===",	    /* three pads */
		"====",	    /* only padding */
		"Zg==Zg==", /* padding before the end */
		"Z=g=",	    /* data after a pad */
		"Zm9v\n",   /* line break */
		"Zm 9",	    /* space */
		"Zm9-",	    /* base64url alphabet */
		"Zm9_",	    /* base64url alphabet */
		"Zm9\x80",  /* non-ASCII */
	};
	uint8_t out[16];

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
		cr_assert_eq(decode_str(bad[i], out, sizeof(out)), -1, "%s", bad[i]);
	/* Unused bits before the padding are not looked at (RFC 4648 3.5 allows it). */
	cr_assert_eq(decode_str("Zh==", out, sizeof(out)), 1);
	cr_assert_eq(out[0], 'f');
	/* cap is checked against n / 4 * 3, before anything is written. */
	cr_assert_eq(decode_str("Zm9vYmFy", out, 5), -1);
	cr_assert_eq(decode_str("Zm9vYmFy", out, 6), 6);
	cr_assert_eq(decode_str("Zm9vYg==", out, 5), -1);
}

/* ---- the credential set ---- */

/* The set "u:p", "alice:s3cret", built as a loader would. */
static struct proxy_auth *two_users(void)
{
	struct proxy_auth *a = proxy_auth_new();
	uint8_t h[SHA256_LEN];

	cr_assert_not_null(a);
	sha256("u:p", 3, h);
	cr_assert_eq(proxy_auth_add(a, "u", 1, h), 0);
	sha256("alice:s3cret", 12, h);
	cr_assert_eq(proxy_auth_add(a, "alice", 5, h), 0);
	return a;
}

Test(proxy_auth, add)
{
	struct proxy_auth *a = two_users();
	uint8_t h[SHA256_LEN] = {0};
	char user[32];

	cr_assert_eq(a->n, 2);
	cr_assert_str_eq(a->v[0].user, "u");
	cr_assert_str_eq(a->v[1].user, "alice");
	/* user_len counts, not a terminator: "alice" again, from a longer buffer. */
	cr_assert_eq(proxy_auth_add(a, "alice:x", 5, h), -EEXIST);
	cr_assert_eq(proxy_auth_add(a, "alic", 4, h), 0);
	cr_assert_eq(a->n, 3);
	for (unsigned i = 3; i < PROXY_AUTH_MAX_USERS; i++) {
		int n = snprintf(user, sizeof(user), "user%u", i);

		cr_assert_eq(proxy_auth_add(a, user, (size_t)n, h), 0);
	}
	cr_assert_eq(a->n, PROXY_AUTH_MAX_USERS);
	cr_assert_eq(proxy_auth_add(a, "one-more", 8, h), -ENOSPC);
	cr_assert_eq(a->n, PROXY_AUTH_MAX_USERS);
	proxy_auth_free(a);
	proxy_auth_free(NULL);
}

static enum proxy_auth_result check_str(const struct proxy_auth *a, const char *v)
{
	return proxy_auth_check(a, flush(v, strlen(v)), strlen(v));
}

Test(proxy_auth, check)
{
	struct proxy_auth *a = two_users();

	/* right: "u:p" = dTpw, "alice:s3cret" = YWxpY2U6czNjcmV0 */
	cr_assert_eq(check_str(a, "Basic dTpw"), PROXY_AUTH_OK);
	cr_assert_eq(check_str(a, "Basic YWxpY2U6czNjcmV0"), PROXY_AUTH_OK);
	cr_assert_eq(check_str(a, "basic YWxpY2U6czNjcmV0"), PROXY_AUTH_OK);
	cr_assert_eq(check_str(a, "BASIC    dTpw"), PROXY_AUTH_OK);
	/* wrong: "u:q", "alice:s3cre", "alice:s3cret " */
	cr_assert_eq(check_str(a, "Basic dTpx"), PROXY_AUTH_WRONG);
	cr_assert_eq(check_str(a, "Basic YWxpY2U6czNjcmU="), PROXY_AUTH_WRONG);
	cr_assert_eq(check_str(a, "Basic YWxpY2U6czNjcmV0IA=="), PROXY_AUTH_WRONG);
	/* another user's password */
	cr_assert_eq(check_str(a, "Basic dTpzM2NyZXQ="), PROXY_AUTH_WRONG);
	/* missing */
	cr_assert_eq(proxy_auth_check(a, NULL, 0), PROXY_AUTH_MISSING);
	/* scheme */
	cr_assert_eq(check_str(a, "Bearer dTpw"), PROXY_AUTH_SCHEME);
	cr_assert_eq(check_str(a, "Basic"), PROXY_AUTH_SCHEME);
	cr_assert_eq(check_str(a, "Basicx dTpw"), PROXY_AUTH_SCHEME);
	cr_assert_eq(check_str(a, ""), PROXY_AUTH_SCHEME);
	cr_assert_eq(check_str(a, "Basic\tdTpw"), PROXY_AUTH_SCHEME);
	/* malformed base64 */
	cr_assert_eq(check_str(a, "Basic "), PROXY_AUTH_MALFORMED);
	cr_assert_eq(check_str(a, "Basic dTp"), PROXY_AUTH_MALFORMED);
	cr_assert_eq(check_str(a, "Basic dT=w"), PROXY_AUTH_MALFORMED);
	cr_assert_eq(check_str(a, "Basic dTpw===="), PROXY_AUTH_MALFORMED);
	cr_assert_eq(check_str(a, "Basic d!pw"), PROXY_AUTH_MALFORMED);
	cr_assert_eq(check_str(a, "Basic dTpw dTpw"), PROXY_AUTH_MALFORMED);
	cr_assert_eq(check_str(a, "Basic dXNlcg=="), PROXY_AUTH_MALFORMED); /* "user", no ':' */
	/* longer than PROXY_AUTH_MAX_USER_PASS decoded */
	char big[1200] = "Basic ";
	memset(big + 6, 'Q', 1000);
	big[1006] = '\0';
	cr_assert_eq(check_str(a, big), PROXY_AUTH_MALFORMED);
	/* no credentials loaded: nothing matches */
	cr_assert_eq(check_str(NULL, "Basic dTpw"), PROXY_AUTH_WRONG);

	cr_assert_str_eq(proxy_auth_result_str(PROXY_AUTH_OK), "ok");
	cr_assert_str_eq(proxy_auth_result_str(PROXY_AUTH_MISSING), "missing");
	cr_assert_str_eq(proxy_auth_result_str(PROXY_AUTH_SCHEME), "scheme");
	cr_assert_str_eq(proxy_auth_result_str(PROXY_AUTH_MALFORMED), "malformed");
	cr_assert_str_eq(proxy_auth_result_str(PROXY_AUTH_WRONG), "wrong");
	cr_assert_str_eq(proxy_auth_result_str((enum proxy_auth_result)99), "unknown");
	proxy_auth_free(a);
}

/* The limit is on the decoded "user:password": 512 bytes pass the decoder, 513 do not. */
/* Which user matched: what a policy's proxy_users is checked against. */
Test(proxy_auth, check_user_says_who)
{
	struct proxy_auth *a = two_users();
	const char *who = "x";

	cr_assert_eq(proxy_auth_check_user(a, flush("Basic YWxpY2U6czNjcmV0", 22), 22, &who),
		     PROXY_AUTH_OK);
	cr_assert_str_eq(who, "alice");
	cr_assert_eq(proxy_auth_check_user(a, flush("Basic dTpw", 10), 10, &who), PROXY_AUTH_OK);
	cr_assert_str_eq(who, "u");
	cr_assert_eq(proxy_auth_check_user(a, flush("Basic dTpx", 10), 10, &who), PROXY_AUTH_WRONG);
	cr_assert_null(who, "no user on a failure");
	cr_assert_eq(proxy_auth_check_user(a, NULL, 0, &who), PROXY_AUTH_MISSING);
	cr_assert_null(who);
	cr_assert_eq(proxy_auth_check_user(a, flush("Basic dTpw", 10), 10, NULL), PROXY_AUTH_OK);
	proxy_auth_free(a);
}

Test(proxy_auth, user_pass_limit)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct proxy_auth *a = proxy_auth_new();
	uint8_t plain[PROXY_AUTH_MAX_USER_PASS + 1], h[SHA256_LEN];
	char value[800];

	cr_assert_not_null(a);
	for (size_t len = PROXY_AUTH_MAX_USER_PASS - 1; len <= PROXY_AUTH_MAX_USER_PASS + 1;
	     len++) {
		size_t o;

		memset(plain, 'x', len);
		plain[0] = 'u';
		plain[1] = ':';
		memcpy(value, "Basic ", 6);
		o = 6;
		for (size_t i = 0; i < len; i += 3) {
			uint32_t v = (uint32_t)plain[i] << 16 |
				     (uint32_t)(i + 1 < len ? plain[i + 1] : 0) << 8 |
				     (i + 2 < len ? plain[i + 2] : 0);

			value[o++] = b64[v >> 18 & 63];
			value[o++] = b64[v >> 12 & 63];
			value[o++] = i + 1 < len ? b64[v >> 6 & 63] : '=';
			value[o++] = i + 2 < len ? b64[v & 63] : '=';
		}
		value[o] = '\0';
		sha256(plain, len, h);
		proxy_auth_free(a);
		a = proxy_auth_new();
		cr_assert_eq(proxy_auth_add(a, "u", 1, h), 0);
		cr_assert_eq(check_str(a, value),
			     len <= PROXY_AUTH_MAX_USER_PASS ? PROXY_AUTH_OK : PROXY_AUTH_MALFORMED,
			     "%zu bytes", len);
	}
	proxy_auth_free(a);
}

/* The parser's view goes straight into the check, as the gateway does it. */
Test(proxy_auth, from_parsed_head)
{
	struct proxy_auth *a = two_users();
	static const char in[] =
		"CONNECT h:443 HTTP/1.1\r\nProxy-Authorization: Basic dTpw\r\n\r\n";
	static const char bare[] = "CONNECT h:443 HTTP/1.1\r\n\r\n";
	struct connect_req r;

	cr_assert_eq(connect_parse(flush(in, sizeof(in) - 1), sizeof(in) - 1, NULL, &r),
		     CONNECT_OK);
	cr_assert_eq(proxy_auth_check(a, r.auth, r.auth_len), PROXY_AUTH_OK);
	cr_assert_eq(connect_parse(flush(bare, sizeof(bare) - 1), sizeof(bare) - 1, NULL, &r),
		     CONNECT_OK);
	cr_assert_eq(proxy_auth_check(a, r.auth, r.auth_len), PROXY_AUTH_MISSING);
	proxy_auth_free(a);
}
