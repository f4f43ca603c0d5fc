/* SPDX-License-Identifier: MIT */
/*
 * proxyauth: the credential set and the Basic check.
 *
 * The check decodes into a fixed stack buffer, hashes, wipes the plain text
 * at once, and then compares the digest with every entry: every entry and
 * every byte, OR-ing the differences, with no early exit and no branch on
 * a secret. Its time depends on the number of entries only. A hash table
 * keyed by user would be faster for thousands of users, but the lookup
 * would then tell, by its timing, whether a user name exists.
 *
 * Wipes use explicit_bzero: a memset of memory that is about to be freed or
 * go out of scope is a dead store the compiler may drop.
 */
#include "sni/proxyauth.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "sni/base64.h"

struct proxy_auth *proxy_auth_new(void)
{
	return calloc(1, sizeof(struct proxy_auth));
}

int proxy_auth_add(struct proxy_auth *a, const char *user, size_t user_len,
		   const uint8_t hash[SHA256_LEN])
{
	struct proxy_auth_entry *e;
	size_t i;

	/* Linear, at most 4096 users once at load: not worth an index. */
	for (i = 0; i < a->n; i++)
		if (strlen(a->v[i].user) == user_len && !memcmp(a->v[i].user, user, user_len))
			return -EEXIST;
	if (a->n == PROXY_AUTH_MAX_USERS)
		return -ENOSPC;
	if (a->n == a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 8;
		struct proxy_auth_entry *v = realloc(a->v, ncap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		a->v = v;
		a->cap = ncap;
	}
	e = &a->v[a->n];
	e->user = strndup(user, user_len);
	if (!e->user)
		return -ENOMEM;
	memcpy(e->hash, hash, SHA256_LEN);
	a->n++;
	return 0;
}

void proxy_auth_free(struct proxy_auth *a)
{
	size_t i;

	if (!a)
		return;
	for (i = 0; i < a->n; i++)
		free(a->v[i].user);
	if (a->v)
		explicit_bzero(a->v, a->cap * sizeof(*a->v));
	free(a->v);
	free(a);
}

/* p[0..n) is lc, ignoring ASCII case; lc is lower case. Not locale-dependent. */
static bool ascii_case_eq(const uint8_t *p, size_t n, const char *lc)
{
	size_t i;

	if (strlen(lc) != n)
		return false;
	for (i = 0; i < n; i++) {
		uint8_t c = p[i] >= 'A' && p[i] <= 'Z' ? (uint8_t)(p[i] + 32) : p[i];

		if (c != (uint8_t)lc[i])
			return false;
	}
	return true;
}

enum proxy_auth_result proxy_auth_check(const struct proxy_auth *a, const uint8_t *value,
					size_t len)
{
	return proxy_auth_check_user(a, value, len, NULL);
}

enum proxy_auth_result proxy_auth_check_user(const struct proxy_auth *a, const uint8_t *value,
					     size_t len, const char **user)
{
	/*
	 * The decoder wants room for n / 4 * 3 bytes, padding counted, so a
	 * value at the limit needs up to 2 bytes more than it decodes to.
	 */
	uint8_t text[PROXY_AUTH_MAX_USER_PASS + 3];
	uint8_t hash[SHA256_LEN];
	unsigned match = 0;
	size_t i, j, who = 0;
	long n;

	if (user)
		*user = NULL;
	if (!value)
		return PROXY_AUTH_MISSING;
	/* RFC 9110 11.1: the scheme is case-insensitive; 11.4: token68 after 1*SP. */
	if (len < 6 || !ascii_case_eq(value, 5, "basic") || value[5] != ' ')
		return PROXY_AUTH_SCHEME;
	for (i = 5; i < len && value[i] == ' '; i++)
		;
	/*
	 * A value too long for text is refused by the decoder before it
	 * writes; one that fits but decodes to over the limit is refused
	 * here. Either way the answer is "malformed", not "wrong".
	 */
	n = base64_decode(value + i, len - i, text, sizeof(text));
	if (n < 0 || (size_t)n > PROXY_AUTH_MAX_USER_PASS || !memchr(text, ':', (size_t)n)) {
		explicit_bzero(text, sizeof(text));
		return PROXY_AUTH_MALFORMED;
	}
	sha256(text, (size_t)n, hash);
	explicit_bzero(text, sizeof(text));
	for (i = 0; a && i < a->n; i++) {
		unsigned diff = 0;

		for (j = 0; j < SHA256_LEN; j++)
			diff |= (unsigned)(a->v[i].hash[j] ^ hash[j]);
		/* 1 when diff == 0, without a branch on it. */
		unsigned m = ((diff | (0u - diff)) >> (sizeof(unsigned) * 8 - 1)) ^ 1u;
		size_t mask = 0 - (size_t)m;
		match |= m;
		who = (who & ~mask) | (i & mask);
	}
	explicit_bzero(hash, sizeof(hash));
	if (match && user)
		*user = a->v[who].user;
	return match ? PROXY_AUTH_OK : PROXY_AUTH_WRONG;
}

const char *proxy_auth_result_str(enum proxy_auth_result r)
{
	switch (r) {
	case PROXY_AUTH_OK:
		return "ok";
	case PROXY_AUTH_MISSING:
		return "missing";
	case PROXY_AUTH_SCHEME:
		return "scheme";
	case PROXY_AUTH_MALFORMED:
		return "malformed";
	case PROXY_AUTH_WRONG:
		return "wrong";
	}
	return "unknown";
}
