/* SPDX-License-Identifier: MIT */
/*
 * allowlist: the set of host names a client may reach.
 *
 * Built once at config load, then read-only, so every worker thread can share
 * one without locks. Exact names and "*.suffix" wildcards live in two
 * minimal perfect hashes (CHD-style displacement); a lookup hashes once per
 * candidate and confirms with a full compare, so a name that is not in the
 * set can never be taken for one that is.
 *
 * "*.example.com" matches one or more labels in front of example.com
 * ("a.example.com", "a.b.example.com") but not the apex "example.com"; list
 * the apex as well if it is wanted. Entries and looked-up names follow the
 * host name rule of sni/hostname.h: matching is case-insensitive and one
 * trailing dot, in an entry or a name, is removed.
 */
#ifndef SNIGATE_ALLOWLIST_H
#define SNIGATE_ALLOWLIST_H

#include <stdbool.h>
#include <stddef.h>

struct allowlist;

enum allowlist_err {
	ALLOWLIST_OK = 0,
	ALLOWLIST_E_NOMEM = 1,
	ALLOWLIST_E_EMPTY_NAME,	  /* "", ".", or an empty label ("a..b", ".a") */
	ALLOWLIST_E_TOO_LONG,	  /* over 253 bytes or a label over 63 */
	ALLOWLIST_E_BAD_CHAR,	  /* a byte not allowed in a host name */
	ALLOWLIST_E_BAD_WILDCARD, /* '*' anywhere but a leading "*." label, or "*." alone */
};

/*
 * Build from n entries. Duplicates are allowed and merged. On error returns
 * NULL, stores the error in *err and the index of the offending entry in
 * *bad_index (when not NULL).
 */
struct allowlist *allowlist_build(const char *const *names, size_t n, enum allowlist_err *err,
				  size_t *bad_index);
void allowlist_free(struct allowlist *al);

/*
 * name need not be NUL-terminated nor lower case; len excludes any
 * terminator. False for anything that is not a valid host name (bad bytes,
 * empty labels, too long), so such a name cannot reach a wildcard.
 */
bool allowlist_match(const struct allowlist *al, const char *name, size_t len);

/*
 * The same match, saying which entry: an index in 0..allowlist_count()-1
 * (stable for this allowlist, so per-name counters can be an array), or -1.
 */
long allowlist_lookup(const struct allowlist *al, const char *name, size_t len);
/* Entry idx as configured ("example.com", "*.example.com") into buf; returns its length. */
size_t allowlist_entry(const struct allowlist *al, size_t idx, char *buf, size_t len);

size_t allowlist_count(const struct allowlist *al); /* distinct entries, exact + wildcard */
/* Bytes the built tables hold (names, slots, displacements), for --check. */
size_t allowlist_bytes(const struct allowlist *al);
const char *allowlist_strerror(enum allowlist_err e);

#endif
