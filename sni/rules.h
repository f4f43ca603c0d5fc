/* SPDX-License-Identifier: MIT */
/*
 * rules: which access policy a connection falls under, and whether that
 * policy lets it reach a name.
 *
 * A policy matches a connection by up to three keys, each "any" when the
 * policy does not name it: the listener it arrived on, its source address
 * (CIDRs), and, for HTTP CONNECT, the authenticated proxy user. Policies are
 * ordered; the first one that matches decides. No match is a denial of its
 * own (reason no_policy).
 *
 * Every policy's names live in one allowlist (sni/allowlist.h), with a set
 * of policy bits per entry, so a lookup costs one hash probe per label
 * however many policies there are. The allowlist returns the most specific
 * entry that matches a name, so an entry also carries the bits of every
 * policy whose wildcard covers it ("a.example.com" listed by one policy
 * is still reached by another that lists "*.example.com"). Within a policy
 * the most specific of its own entries decides, with that entry's ports and
 * expiry. Sources are matched with a binary prefix trie whose nodes carry
 * policy bits, so a source check walks at most 128 nodes whatever the
 * number of CIDRs.
 *
 * Immutable once built: any number of threads may read one. Nothing here
 * logs or reads files.
 */
#ifndef SNIGATE_SNI_RULES_H
#define SNIGATE_SNI_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sni/allowlist.h"

#define RULES_MAX_POLICIES 1024
#define RULES_MAX_PORTS	   32 /* ports of one entry */

/* An address prefix: IPv6, or IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d/96+n). */
struct rules_cidr {
	uint8_t addr[16]; /* bits past the prefix are zero */
	uint8_t bits;	  /* 0..128 */
};

/* One allow entry of one policy. */
struct rules_entry {
	const char *name; /* "api.github.com", "*.example.com"; the allowlist's rule */
	/* CONNECT ports this name may be reached on; NULL/0: the listener's */
	const uint16_t *ports;
	unsigned n_ports; /* 0..RULES_MAX_PORTS */
	int64_t expires;  /* Unix seconds from which the entry no longer matches; 0: never */
	/* Upstream addresses this name may reach although the upstream policy denies them. */
	const struct rules_cidr *upstream_allow;
	unsigned n_upstream_allow;
};

struct rules_policy {
	const char *name; /* for logs and metrics; unique */
	bool audit;	  /* names off this policy are let through and counted as would_deny */
	/* What the policy matches; a count of 0 is "any". */
	const unsigned *listeners; /* listener indexes */
	unsigned n_listeners;
	const struct rules_cidr *sources;
	unsigned n_sources;
	const char *const *users; /* authenticated proxy users (HTTP CONNECT) */
	unsigned n_users;
	const struct rules_entry *entries;
	unsigned n_entries;
};

enum rules_err {
	RULES_OK = 0,
	RULES_E_NOMEM,
	RULES_E_TOO_MANY,  /* more than RULES_MAX_POLICIES policies, or too many ports */
	RULES_E_NAME,	   /* an entry is not a valid name: see err.allowlist */
	RULES_E_CIDR,	   /* a source (or an entry's upstream_allow) with bits set past its
			      prefix, or bits > 128 */
	RULES_E_DUPLICATE, /* two policies share a name */
	RULES_E_SHADOWED,  /* err.policy can never match: err.other matches all it would */
};

struct rules_error {
	enum rules_err code;
	unsigned policy; /* the policy at fault */
	unsigned entry;	 /* RULES_E_NAME: its entry; RULES_E_CIDR: its source */
	unsigned other;	 /* RULES_E_DUPLICATE, RULES_E_SHADOWED: the earlier policy */
	enum allowlist_err allowlist;
};

struct rules;

/*
 * Build from n policies, in order. The specs and what they point to are
 * copied. Returns 0 and *out, or -ENOMEM / -EINVAL with *err filled.
 * RULES_E_SHADOWED: a later policy whose every listener, source and user is
 * also matched by one earlier policy could never decide anything; a
 * policy with no entries is not refused here (conf/ allows it in audit
 * mode only).
 */
int rules_build(struct rules **out, const struct rules_policy *p, unsigned n,
		struct rules_error *err);
void rules_free(struct rules *r);

/*
 * The index of the first policy matching a connection, or -1. addr is the
 * source as 16 bytes (IPv4 as IPv4-mapped); user is the authenticated proxy
 * user or NULL for none (a policy that names users matches no connection
 * without one).
 */
int rules_match(const struct rules *r, unsigned listener, const uint8_t addr[16], const char *user,
		size_t user_len);

enum rules_verdict {
	RULES_ALLOW = 0,
	RULES_NOT_LISTED, /* no entry of the policy matches the name */
	RULES_EXPIRED,	  /* the policy's entry for it is past its expiry */
	RULES_PORT,	  /* CONNECT port not in the entry's ports */
};

/*
 * Policy p's verdict on name (any case, not NUL-terminated). port: the
 * CONNECT port, or 0 for a raw TLS connection (an entry's ports apply to
 * CONNECT only). *ports_checked (may be NULL) is set when the entry carried
 * ports, so the caller skips the listener's connect_ports. now: Unix
 * seconds. *entry (may be NULL) gets the union allowlist's index of the
 * name when any policy lists it (for per-name counters), else -1.
 */
enum rules_verdict rules_check(const struct rules *r, int p, const char *name, size_t len,
			       uint16_t port, int64_t now, long *entry, bool *ports_checked);

/*
 * The upstream_allow CIDRs of the entry that decides entry (rules_check()'s
 * *entry) for policy p, and their count in *n; NULL and 0 for none. They
 * live as long as r.
 */
const struct rules_cidr *rules_upstream_allow(const struct rules *r, int p, long entry,
					      unsigned *n);

unsigned rules_count(const struct rules *r); /* policies */
/* Bytes the built tables hold, the union allowlist's included, for --check. */
size_t rules_bytes(const struct rules *r);
/* Whether any policy matches on sources: only then is a client's address needed. */
bool rules_uses_sources(const struct rules *r);
const char *rules_name(const struct rules *r, int p);
bool rules_audit(const struct rules *r, int p);
/* The union of every policy's names: what per-name counters and /metrics index. */
const struct allowlist *rules_allowlist(const struct rules *r);
/* The earliest expiry of any entry of any policy after now, or 0 for none. */
int64_t rules_next_expiry(const struct rules *r, int64_t now);

/* "allow", "not_listed", "expired", "port": for logs and counters. */
const char *rules_verdict_str(enum rules_verdict v);
const char *rules_strerror(enum rules_err e);

#endif
