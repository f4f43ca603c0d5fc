/* SPDX-License-Identifier: MIT */
/*
 * proxyauth: check a Proxy-Authorization: Basic value against a set of
 * credentials.
 *
 * A credential is a user name and the SHA-256 of the bytes "user:password",
 * the exact string a client base64-encodes for Basic auth (RFC 7617 2). The
 * set holds hashes only, so whoever reads it, in memory or in the file it
 * came from, holds nothing a client could replay. The hash is unsalted and
 * fast, so it protects random tokens well and guessable passwords poorly:
 * use generated credentials.
 *
 * A check hashes the presented "user:password" once and compares it with
 * every entry in constant time, so the time taken says nothing about which
 * entry, user or byte matched. Nothing here reads files: the set is built
 * by its loader (conf/credentials.h) with proxy_auth_add().
 */
#ifndef SNIGATE_SNI_PROXYAUTH_H
#define SNIGATE_SNI_PROXYAUTH_H

#include <stddef.h>
#include <stdint.h>

#include "sni/sha256.h"

#define PROXY_AUTH_MAX_USERS	 4096
#define PROXY_AUTH_MAX_USER_PASS 512 /* decoded "user:password" bytes accepted */

struct proxy_auth_entry {
	char *user;		  /* owned; for the operator and the duplicate check */
	uint8_t hash[SHA256_LEN]; /* SHA-256 of "user:password" */
};

struct proxy_auth {
	struct proxy_auth_entry *v; /* owned; v[0..n) */
	size_t n;		    /* entries, 0..PROXY_AUTH_MAX_USERS */
	size_t cap;		    /* entries allocated in v */
};

/* An empty set, or NULL when out of memory. Free with proxy_auth_free(). */
struct proxy_auth *proxy_auth_new(void);

/*
 * Add user[0..user_len) with hash, the SHA-256 of "user:password". Returns
 * 0, -EEXIST when the user is already in the set, -ENOSPC when the set
 * holds PROXY_AUTH_MAX_USERS, or -ENOMEM. The caller has checked the user
 * name (non-empty, no ':', no control bytes); a set is unchanged on error.
 */
int proxy_auth_add(struct proxy_auth *a, const char *user, size_t user_len,
		   const uint8_t hash[SHA256_LEN]);

/* Frees everything and wipes the hashes; NULL is fine. */
void proxy_auth_free(struct proxy_auth *a);

enum proxy_auth_result {
	PROXY_AUTH_OK = 0,
	PROXY_AUTH_MISSING,   /* no Proxy-Authorization header (value NULL) */
	PROXY_AUTH_SCHEME,    /* a scheme other than Basic */
	PROXY_AUTH_MALFORMED, /* not base64, too long, or no ':' in the decoded text */
	PROXY_AUTH_WRONG,     /* well-formed, no entry matches */
};

/*
 * Check a Proxy-Authorization value (connect_req.auth/auth_len; NULL for
 * absent): "Basic" (any case), one or more spaces, then padded base64 of
 * "user:password". a NULL is an empty set: nothing matches. Every result
 * but PROXY_AUTH_OK is answered 407. Nothing of the value is kept or
 * copied out; the decoded text lives on the stack and is wiped before
 * returning.
 */
enum proxy_auth_result proxy_auth_check(const struct proxy_auth *a, const uint8_t *value,
					size_t len);

/*
 * The same, and on PROXY_AUTH_OK *user (may be NULL) points at the user
 * that matched, owned by a; which entry matched is picked without a
 * branch, so the compare stays constant time.
 */
enum proxy_auth_result proxy_auth_check_user(const struct proxy_auth *a, const uint8_t *value,
					     size_t len, const char **user);

/* "ok", "missing", "scheme", "malformed", "wrong": for logs and counters. */
const char *proxy_auth_result_str(enum proxy_auth_result r);

#endif
