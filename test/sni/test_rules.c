/* SPDX-License-Identifier: MIT */
/*
 * test_rules: policy matching by listener, source and user; each policy's
 * verdict on a name (wildcard inheritance across policies, the deciding
 * entry's ports and expiry); every build error; a randomized comparison
 * with a linear-scan reference; and a 200-policy, 50k-name build.
 */
#include "sni/rules.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct rules_cidr cidr(const char *text)
{
	struct rules_cidr c = {0};
	char buf[64];
	char *slash;
	struct in_addr a4;

	snprintf(buf, sizeof(buf), "%s", text);
	slash = strchr(buf, '/');
	cr_assert_not_null(slash);
	*slash = '\0';
	if (inet_pton(AF_INET, buf, &a4) == 1) {
		c.addr[10] = c.addr[11] = 0xff;
		memcpy(c.addr + 12, &a4, 4);
		c.bits = (uint8_t)(96 + atoi(slash + 1));
	} else {
		cr_assert_eq(inet_pton(AF_INET6, buf, c.addr), 1, "%s", text);
		c.bits = (uint8_t)atoi(slash + 1);
	}
	return c;
}

/* An address as rules_match() takes it: IPv4 IPv4-mapped. */
static const uint8_t *addr(const char *text)
{
	static uint8_t a[16];
	struct in_addr a4;

	memset(a, 0, sizeof(a));
	if (inet_pton(AF_INET, text, &a4) == 1) {
		a[10] = a[11] = 0xff;
		memcpy(a + 12, &a4, 4);
	} else {
		cr_assert_eq(inet_pton(AF_INET6, text, a), 1, "%s", text);
	}
	return a;
}

static struct rules *build(const struct rules_policy *p, unsigned n)
{
	struct rules_error err = {.code = RULES_E_NOMEM};
	struct rules *r = NULL;
	int rc = rules_build(&r, p, n, &err);

	cr_assert_eq(rc, 0, "build failed: %s (policy %u entry %u other %u)",
		     rules_strerror(err.code), err.policy, err.entry, err.other);
	cr_assert_not_null(r);
	cr_assert_eq(rules_count(r), n);
	return r;
}

static struct rules_error build_err(const struct rules_policy *p, unsigned n, int want_rc)
{
	struct rules_error err = {0};
	struct rules *r = (struct rules *)1;

	cr_assert_eq(rules_build(&r, p, n, &err), want_rc);
	cr_assert_null(r);
	return err;
}

static int match(const struct rules *r, unsigned listener, const char *a, const char *user)
{
	return rules_match(r, listener, addr(a), user, user ? strlen(user) : 0);
}

static enum rules_verdict check(const struct rules *r, int p, const char *name)
{
	return rules_check(r, p, name, strlen(name), 0, 1000, NULL, NULL);
}

static enum rules_verdict check_at(const struct rules *r, int p, const char *name, uint16_t port,
				   int64_t now, bool *ports_checked)
{
	return rules_check(r, p, name, strlen(name), port, now, NULL, ports_checked);
}

#define ENTRIES(...)                                          \
	.entries = (const struct rules_entry[]){__VA_ARGS__}, \
	.n_entries =                                          \
		sizeof((const struct rules_entry[]){__VA_ARGS__}) / sizeof(struct rules_entry)
#define LISTENERS(...)                                \
	.listeners = (const unsigned[]){__VA_ARGS__}, \
	.n_listeners = sizeof((const unsigned[]){__VA_ARGS__}) / sizeof(unsigned)
#define USERS(...)                                   \
	.users = (const char *const[]){__VA_ARGS__}, \
	.n_users = sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)
#define E(n)                \
	{                   \
		.name = (n) \
	}
#define SOURCES(...)                                                                            \
	.sources = src_list((const char *const[]){__VA_ARGS__},                                 \
			    sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)), \
	.n_sources = sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *)

/* CIDR arrays for policy literals, from a static pool so that leak checks stay quiet. */
static struct rules_cidr *src_list(const char *const *text, size_t n)
{
	static struct rules_cidr pool[64];
	static size_t used;
	struct rules_cidr *c = pool + used;
	size_t i;

	cr_assert_leq(used + n, ARRAY_SIZE(pool));
	used += n;

	for (i = 0; i < n; i++)
		c[i] = cidr(text[i]);
	return c;
}

/* ---- matching ---- */

Test(rules, first_match_wins)
{
	const struct rules_policy p[] = {
		{.name = "a", LISTENERS(1), ENTRIES(E("a.com"))},
		{.name = "b", SOURCES("10.0.0.0/8"), ENTRIES(E("b.com"))},
		{.name = "c", ENTRIES(E("c.com"))},
	};
	struct rules *r = build(p, 3);

	cr_assert_eq(match(r, 1, "10.1.2.3", NULL), 0);
	cr_assert_eq(match(r, 2, "10.1.2.3", NULL), 1);
	cr_assert_eq(match(r, 2, "11.1.2.3", NULL), 2);
	cr_assert_eq(match(r, 1, "11.1.2.3", "bob"), 0);
	cr_assert_str_eq(rules_name(r, 1), "b");
	cr_assert_null(rules_name(r, 3));
	cr_assert_null(rules_name(r, -1));
	rules_free(r);
}

/* Only a policy with sources makes the gateway take each client's address. */
Test(rules, uses_sources)
{
	const struct rules_policy none[] = {
		{.name = "a", LISTENERS(1), ENTRIES(E("a.com"))},
		{.name = "b", USERS("bob"), ENTRIES(E("b.com"))},
	};
	const struct rules_policy some[] = {
		{.name = "a", LISTENERS(1), ENTRIES(E("a.com"))},
		{.name = "b", SOURCES("::/0"), ENTRIES(E("b.com"))},
	};
	struct rules *r = build(none, 2);

	cr_assert_not(rules_uses_sources(r));
	rules_free(r);
	r = build(some, 2);
	cr_assert(rules_uses_sources(r), "even a source of ::/0 is a source");
	rules_free(r);
	cr_assert_not(rules_uses_sources(NULL));
}

/* An entry's upstream exceptions belong to it, and to names its wildcard decides. */
Test(rules, upstream_allow_of_the_deciding_entry)
{
	const struct rules_cidr ex[] = {cidr("10.0.0.0/8"), cidr("fd00::/8")};
	const struct rules_cidr bad[] = {cidr("10.0.0.0/8")};
	struct rules_entry e[] = {
		{.name = "*.inside.example", .upstream_allow = ex, .n_upstream_allow = 2},
		{.name = "plain.inside.example"},
		{.name = "other.example"},
	};
	const struct rules_policy p[] = {
		{.name = "a", .entries = e, .n_entries = 3},
	};
	struct rules *r = build(p, 1);
	unsigned n = 99;
	long at;

	cr_assert_eq(rules_check(r, 0, "db.inside.example", 17, 0, 0, &at, NULL), RULES_ALLOW);
	const struct rules_cidr *u = rules_upstream_allow(r, 0, at, &n);
	cr_assert_eq(n, 2);
	cr_assert_eq(u[1].bits, ex[1].bits);
	/* The exact entry decides its own name: it has no exceptions. */
	cr_assert_eq(rules_check(r, 0, "plain.inside.example", 20, 0, 0, &at, NULL), RULES_ALLOW);
	cr_assert_null(rules_upstream_allow(r, 0, at, &n));
	cr_assert_eq(n, 0);
	cr_assert_eq(rules_check(r, 0, "other.example", 13, 0, 0, &at, NULL), RULES_ALLOW);
	cr_assert_null(rules_upstream_allow(r, 0, at, &n));
	cr_assert_null(rules_upstream_allow(r, 0, -1, &n));
	cr_assert_null(rules_upstream_allow(r, 5, 0, &n));
	rules_free(r);

	/* A CIDR with bits past its prefix is refused, naming the entry. */
	struct rules_cidr wrong = bad[0];
	wrong.addr[15] = 1;
	struct rules_entry we[] = {
		{.name = "a.example"},
		{.name = "b.example", .upstream_allow = &wrong, .n_upstream_allow = 1}};
	const struct rules_policy wp[] = {{.name = "w", .entries = we, .n_entries = 2}};
	struct rules_error err;
	cr_assert_eq(rules_build(&r, wp, 1, &err), -EINVAL);
	cr_assert_eq(err.code, RULES_E_CIDR);
	cr_assert_eq(err.entry, 1);
}

/* What --check reports: the tables grow with what they hold. */
Test(rules, bytes)
{
	const struct rules_policy one[] = {{.name = "a", ENTRIES(E("a.com"))}};
	const struct rules_policy two[] = {
		{.name = "a", SOURCES("10.0.0.0/8"), ENTRIES(E("a.com"), E("b.com"), E("*.c.com"))},
		{.name = "b", USERS("bob"), ENTRIES(E("d.com"))},
	};
	struct rules *r1 = build(one, 1), *r2 = build(two, 2);

	cr_assert_gt(rules_bytes(r1), allowlist_bytes(rules_allowlist(r1)));
	cr_assert_gt(rules_bytes(r2), rules_bytes(r1));
	cr_assert_eq(rules_bytes(NULL), 0);
	rules_free(r1);
	rules_free(r2);
}

Test(rules, no_policy_matches)
{
	const struct rules_policy p[] = {
		{.name = "a",
		 LISTENERS(1, 3),
		 SOURCES("192.168.0.0/16"),
		 USERS("alice"),
		 ENTRIES(E("a.com"))},
	};
	struct rules *r = build(p, 1);

	cr_assert_eq(match(r, 1, "192.168.1.1", "alice"), 0);
	cr_assert_eq(match(r, 3, "192.168.1.1", "alice"), 0);
	cr_assert_eq(match(r, 2, "192.168.1.1", "alice"), -1, "listener");
	cr_assert_eq(match(r, 1000000, "192.168.1.1", "alice"), -1, "unknown listener");
	cr_assert_eq(match(r, 1, "192.169.1.1", "alice"), -1, "source");
	cr_assert_eq(match(r, 1, "192.168.1.1", "Alice"), -1, "users are case-sensitive");
	cr_assert_eq(match(r, 1, "192.168.1.1", "alic"), -1, "a prefix is not the user");
	cr_assert_eq(match(r, 1, "192.168.1.1", NULL), -1, "no user");
	cr_assert_eq(rules_match(r, 1, addr("192.168.1.1"), "alicex", 5), 0,
		     "user_len bounds the name");
	rules_free(r);
}

Test(rules, empty_set_and_any_policy)
{
	struct rules *r = build(NULL, 0);
	const struct rules_policy p[] = {{.name = "all", .audit = true}};

	cr_assert_eq(match(r, 0, "1.2.3.4", NULL), -1);
	cr_assert_eq(check(r, 0, "a.com"), RULES_NOT_LISTED);
	cr_assert_eq(rules_next_expiry(r, 0), 0);
	rules_free(r);

	r = build(p, 1);
	cr_assert_eq(match(r, 77, "::1", "x"), 0);
	cr_assert_eq(match(r, 0, "0.0.0.0", NULL), 0);
	cr_assert(rules_audit(r, 0));
	cr_assert_not(rules_audit(r, 1));
	cr_assert_eq(check(r, 0, "a.com"), RULES_NOT_LISTED, "no entries");
	rules_free(r);
}

Test(rules, null_user_only_reaches_policies_without_users)
{
	const struct rules_policy p[] = {
		{.name = "u", USERS("alice", "bob"), ENTRIES(E("a.com"))},
		{.name = "v", USERS(""), ENTRIES(E("a.com"))},
		{.name = "any", LISTENERS(5), ENTRIES(E("a.com"))},
	};
	struct rules *r = build(p, 3);

	cr_assert_eq(match(r, 5, "1.1.1.1", "bob"), 0);
	cr_assert_eq(match(r, 5, "1.1.1.1", "alice"), 0);
	cr_assert_eq(match(r, 5, "1.1.1.1", ""), 1, "the empty user is a user");
	cr_assert_eq(match(r, 5, "1.1.1.1", NULL), 2);
	cr_assert_eq(match(r, 5, "1.1.1.1", "carol"), 2);
	cr_assert_eq(match(r, 4, "1.1.1.1", NULL), -1);
	rules_free(r);
}

Test(rules, keys_combined)
{
	const struct rules_policy p[] = {
		{.name = "l1u", LISTENERS(1), USERS("u"), ENTRIES(E("a.com"))},
		{.name = "l1s", LISTENERS(1), SOURCES("10.0.0.0/24"), ENTRIES(E("a.com"))},
		{.name = "su", SOURCES("10.0.0.0/16"), USERS("u", "w"), ENTRIES(E("a.com"))},
		{.name = "l2", LISTENERS(2, 1), ENTRIES(E("a.com"))},
	};
	struct rules *r = build(p, 4);

	cr_assert_eq(match(r, 1, "10.0.0.1", "u"), 0);
	cr_assert_eq(match(r, 1, "10.0.0.1", "w"), 1);
	cr_assert_eq(match(r, 1, "10.0.1.1", "w"), 2);
	cr_assert_eq(match(r, 2, "10.0.1.1", "w"), 2);
	cr_assert_eq(match(r, 2, "10.1.1.1", "w"), 3);
	cr_assert_eq(match(r, 1, "10.1.1.1", NULL), 3);
	cr_assert_eq(match(r, 3, "10.0.0.1", "u"), 2);
	cr_assert_eq(match(r, 3, "10.1.0.1", "u"), -1);
	rules_free(r);
}

Test(rules, sources_v4_v6_and_prefix_lengths)
{
	const struct rules_policy p[] = {
		{.name = "host4", SOURCES("10.1.2.3/32"), ENTRIES(E("a.com"))},
		{.name = "host6", SOURCES("2001:db8::1/128"), ENTRIES(E("a.com"))},
		{.name = "net24", SOURCES("10.1.2.0/24", "2001:db8:1::/48"), ENTRIES(E("a.com"))},
		{.name = "net8", SOURCES("10.0.0.0/8"), ENTRIES(E("a.com"))},
		{.name = "v4", SOURCES("0.0.0.0/0"), LISTENERS(1), ENTRIES(E("a.com"))},
		{.name = "v6", SOURCES("::/0"), LISTENERS(1), ENTRIES(E("a.com"))},
	};
	struct rules *r = build(p, 6);

	cr_assert_eq(match(r, 0, "10.1.2.3", NULL), 0);
	cr_assert_eq(match(r, 0, "::ffff:10.1.2.3", NULL), 0, "IPv4-mapped is IPv4");
	cr_assert_eq(match(r, 0, "10.1.2.4", NULL), 2);
	cr_assert_eq(match(r, 0, "10.1.3.4", NULL), 3);
	cr_assert_eq(match(r, 0, "11.1.3.4", NULL), -1);
	cr_assert_eq(match(r, 1, "11.1.3.4", NULL), 4, "0.0.0.0/0 is every IPv4 address");
	cr_assert_eq(match(r, 1, "2001:db9::", NULL), 5, "but no IPv6 one");
	cr_assert_eq(match(r, 0, "2001:db8::1", NULL), 1);
	cr_assert_eq(match(r, 0, "2001:db8::2", NULL), -1);
	cr_assert_eq(match(r, 0, "2001:db8:1:ffff::2", NULL), 2);
	cr_assert_eq(match(r, 0, "::a01:203", NULL), -1, "IPv4-compatible is not IPv4");
	cr_assert_eq(match(r, 1, "::a01:203", NULL), 5);
	rules_free(r);
}

Test(rules, nested_prefixes_across_policies)
{
	/* The wider prefix comes first in one pair and second in the other. */
	const struct rules_policy p[] = {
		{.name = "narrow", SOURCES("10.1.0.0/16"), LISTENERS(1), ENTRIES(E("a.com"))},
		{.name = "wide", SOURCES("10.0.0.0/8"), LISTENERS(1, 2), ENTRIES(E("a.com"))},
		{.name = "narrower", SOURCES("10.2.3.0/24"), USERS("u"), ENTRIES(E("a.com"))},
	};
	struct rules *r = build(p, 3);

	cr_assert_eq(match(r, 1, "10.1.9.9", NULL), 0);
	cr_assert_eq(match(r, 2, "10.1.9.9", NULL), 1);
	cr_assert_eq(match(r, 2, "10.2.3.9", "u"), 1);
	cr_assert_eq(match(r, 3, "10.2.3.9", "u"), 2);
	cr_assert_eq(match(r, 3, "10.2.4.9", "u"), -1);
	cr_assert_eq(match(r, 3, "10.2.3.9", NULL), -1);
	cr_assert_eq(match(r, 2, "11.2.3.9", "u"), -1);
	rules_free(r);
}

/* ---- names ---- */

Test(rules, each_policy_sees_only_its_names)
{
	const struct rules_policy p[] = {
		{.name = "a", LISTENERS(1), ENTRIES(E("a.com"), E("both.com"))},
		{.name = "b", LISTENERS(2), ENTRIES(E("b.com"), E("Both.com."))},
	};
	struct rules *r = build(p, 2);
	long e1 = -2, e2 = -2;

	cr_assert_eq(check(r, 0, "a.com"), RULES_ALLOW);
	cr_assert_eq(check(r, 0, "b.com"), RULES_NOT_LISTED);
	cr_assert_eq(check(r, 1, "b.com"), RULES_ALLOW);
	cr_assert_eq(check(r, 1, "a.com"), RULES_NOT_LISTED);
	cr_assert_eq(check(r, 1, "BOTH.COM."), RULES_ALLOW);
	cr_assert_eq(check(r, 0, "both.com"), RULES_ALLOW);
	cr_assert_eq(check(r, 2, "both.com"), RULES_NOT_LISTED, "no such policy");
	cr_assert_eq(check(r, -1, "both.com"), RULES_NOT_LISTED);
	cr_assert_eq(allowlist_count(rules_allowlist(r)), 3, "one union, duplicates merged");
	rules_check(r, 0, "both.com", 8, 0, 0, &e1, NULL);
	rules_check(r, 1, "Both.Com", 8, 0, 0, &e2, NULL);
	cr_assert_geq(e1, 0);
	cr_assert_eq(e1, e2);
	rules_check(r, 1, "nope.com", 8, 0, 0, &e1, NULL);
	cr_assert_eq(e1, -1);
	rules_check(r, 1, "a.com", 5, 0, 0, &e1, NULL);
	cr_assert_geq(e1, 0, "listed by another policy: still an index");
	rules_check(r, 0, "bad name", 8, 0, 0, &e1, NULL);
	cr_assert_eq(e1, -1);
	rules_free(r);
}

Test(rules, exact_in_one_policy_wildcard_in_another)
{
	const struct rules_policy p[] = {
		{.name = "exact", LISTENERS(1), ENTRIES(E("api.x.com"))},
		{.name = "wild", LISTENERS(2), ENTRIES(E("*.x.com"))},
		{.name = "top", LISTENERS(3), ENTRIES(E("*.com"))},
	};
	struct rules *r = build(p, 3);

	cr_assert_eq(check(r, 1, "api.x.com"), RULES_ALLOW, "the wildcard covers the exact");
	cr_assert_eq(check(r, 2, "api.x.com"), RULES_ALLOW);
	cr_assert_eq(check(r, 0, "api.x.com"), RULES_ALLOW);
	cr_assert_eq(check(r, 0, "www.x.com"), RULES_NOT_LISTED, "an exact does not widen");
	cr_assert_eq(check(r, 1, "www.x.com"), RULES_ALLOW);
	cr_assert_eq(check(r, 2, "www.x.com"), RULES_ALLOW, "*.com covers *.x.com");
	cr_assert_eq(check(r, 1, "x.com"), RULES_NOT_LISTED, "no apex");
	cr_assert_eq(check(r, 2, "x.com"), RULES_ALLOW);
	cr_assert_eq(check(r, 2, "A.B.API.X.COM."), RULES_ALLOW);
	cr_assert_eq(check(r, 1, "a.b.api.x.com"), RULES_ALLOW);
	cr_assert_eq(check(r, 0, "a.b.api.x.com"), RULES_NOT_LISTED);
	cr_assert_eq(check(r, 1, "y.com"), RULES_NOT_LISTED);
	rules_free(r);
}

Test(rules, nested_wildcards_in_both_orders)
{
	const struct rules_policy p[] = {
		{.name = "outer", LISTENERS(1), ENTRIES(E("*.a.com"))},
		{.name = "inner", LISTENERS(2), ENTRIES(E("*.b.a.com"), E("c.b.a.com"))},
		{.name = "inner2", LISTENERS(3), ENTRIES(E("*.x.b.a.com"))},
		{.name = "outer2", LISTENERS(4), ENTRIES(E("*.A.COM."))},
	};
	struct rules *r = build(p, 4);
	const char *names[] = {"q.b.a.com", "c.b.a.com", "z.x.b.a.com",
			       "x.b.a.com", "b.a.com",	 "q.a.com"};
	/* Rows: names; columns: policies. */
	const enum rules_verdict want[][4] = {
		{RULES_ALLOW, RULES_ALLOW, RULES_NOT_LISTED, RULES_ALLOW},
		{RULES_ALLOW, RULES_ALLOW, RULES_NOT_LISTED, RULES_ALLOW},
		{RULES_ALLOW, RULES_ALLOW, RULES_ALLOW, RULES_ALLOW},
		{RULES_ALLOW, RULES_ALLOW, RULES_NOT_LISTED, RULES_ALLOW},
		{RULES_ALLOW, RULES_NOT_LISTED, RULES_NOT_LISTED, RULES_ALLOW},
		{RULES_ALLOW, RULES_NOT_LISTED, RULES_NOT_LISTED, RULES_ALLOW},
	};
	size_t i;
	int j;

	for (i = 0; i < ARRAY_SIZE(names); i++)
		for (j = 0; j < 4; j++)
			cr_assert_eq(check(r, j, names[i]), want[i][j], "%s policy %d", names[i],
				     j);
	cr_assert_eq(check(r, 0, "a.com"), RULES_NOT_LISTED);
	rules_free(r);
}

static const uint16_t p443[] = {443};
static const uint16_t p443_8443[] = {8443, 443};

Test(rules, ports_of_the_deciding_entry)
{
	const struct rules_policy p[] = {
		{.name = "a",
		 LISTENERS(0),
		 ENTRIES({.name = "*.x.com", .ports = p443, .n_ports = 1},
			 {.name = "api.x.com", .ports = p443_8443, .n_ports = 2},
			 {.name = "open.x.com"}, {.name = "*.y.x.com"})},
		{.name = "b", LISTENERS(1), ENTRIES(E("open.x.com"), E("q.x.com"))},
	};
	struct rules *r = build(p, 2);
	bool pc = true;

	cr_assert_eq(check_at(r, 0, "w.x.com", 443, 0, &pc), RULES_ALLOW);
	cr_assert(pc);
	cr_assert_eq(check_at(r, 0, "w.x.com", 8443, 0, &pc), RULES_PORT);
	cr_assert(pc);
	cr_assert_eq(check_at(r, 0, "w.x.com", 0, 0, &pc), RULES_ALLOW, "raw TLS: no ports");
	cr_assert_not(pc);
	cr_assert_eq(check_at(r, 0, "api.x.com", 8443, 0, &pc), RULES_ALLOW);
	cr_assert(pc);
	cr_assert_eq(check_at(r, 0, "api.x.com", 80, 0, NULL), RULES_PORT);
	cr_assert_eq(check_at(r, 0, "open.x.com", 80, 0, &pc), RULES_ALLOW,
		     "the exact entry without ports decides, not the wildcard");
	cr_assert_not(pc);
	cr_assert_eq(check_at(r, 0, "z.y.x.com", 80, 0, &pc), RULES_ALLOW,
		     "the longer wildcard decides");
	cr_assert_not(pc);
	cr_assert_eq(check_at(r, 0, "q.x.com", 80, 0, &pc), RULES_PORT,
		     "listed only by b: a's wildcard decides for a");
	cr_assert(pc);
	cr_assert_eq(check_at(r, 1, "q.x.com", 80, 0, &pc), RULES_ALLOW);
	cr_assert_not(pc);
	cr_assert_eq(check_at(r, 1, "w.x.com", 443, 0, &pc), RULES_NOT_LISTED);
	cr_assert_not(pc);
	rules_free(r);
}

Test(rules, expiry_of_the_deciding_entry)
{
	const struct rules_policy p[] = {
		{.name = "a",
		 LISTENERS(0),
		 ENTRIES({.name = "*.x.com"}, {.name = "old.x.com", .expires = 100},
			 {.name = "*.t.x.com", .expires = 200, .ports = p443, .n_ports = 1})},
		{.name = "b", LISTENERS(1), ENTRIES({.name = "old.x.com", .expires = 50})},
	};
	struct rules *r = build(p, 2);
	bool pc = true;

	cr_assert_eq(check_at(r, 0, "old.x.com", 0, 99, NULL), RULES_ALLOW);
	cr_assert_eq(check_at(r, 0, "old.x.com", 0, 100, NULL), RULES_EXPIRED,
		     "the expired exact entry decides over the wildcard");
	cr_assert_eq(check_at(r, 0, "new.x.com", 0, 100000, NULL), RULES_ALLOW);
	cr_assert_eq(check_at(r, 0, "a.t.x.com", 443, 199, &pc), RULES_ALLOW);
	cr_assert(pc);
	cr_assert_eq(check_at(r, 0, "a.t.x.com", 80, 200, &pc), RULES_EXPIRED,
		     "expiry is checked before ports");
	cr_assert_eq(check_at(r, 1, "old.x.com", 0, 60, NULL), RULES_EXPIRED);
	cr_assert_eq(check_at(r, 0, "old.x.com", 0, 60, NULL), RULES_ALLOW);
	cr_assert_eq(rules_next_expiry(r, 0), 50);
	cr_assert_eq(rules_next_expiry(r, 50), 100);
	cr_assert_eq(rules_next_expiry(r, 99), 100);
	cr_assert_eq(rules_next_expiry(r, 100), 200);
	cr_assert_eq(rules_next_expiry(r, 200), 0);
	rules_free(r);
}

Test(rules, strings)
{
	cr_assert_str_eq(rules_verdict_str(RULES_ALLOW), "allow");
	cr_assert_str_eq(rules_verdict_str(RULES_NOT_LISTED), "not_listed");
	cr_assert_str_eq(rules_verdict_str(RULES_EXPIRED), "expired");
	cr_assert_str_eq(rules_verdict_str(RULES_PORT), "port");
	cr_assert_str_eq(rules_strerror(RULES_E_NOMEM), "out of memory");
	cr_assert_str_eq(rules_strerror(RULES_E_CIDR), "not a valid CIDR");
	cr_assert_str_eq(rules_strerror(RULES_E_DUPLICATE), "two policies have one name");
}

/* ---- build errors ---- */

Test(rules, error_too_many)
{
	struct rules_policy *p = calloc(RULES_MAX_POLICIES + 1, sizeof(*p));
	char(*names)[16] = calloc(RULES_MAX_POLICIES + 1, 16);
	static const uint16_t ports[RULES_MAX_PORTS + 1] = {1};
	struct rules_error err;
	struct rules *r;
	unsigned i;

	for (i = 0; i <= RULES_MAX_POLICIES; i++) {
		snprintf(names[i], 16, "p%u", i);
		p[i].name = names[i];
		p[i].listeners = calloc(1, sizeof(unsigned));
		*(unsigned *)p[i].listeners = i; /* distinct, so none shadows another */
		p[i].n_listeners = 1;
	}
	err = build_err(p, RULES_MAX_POLICIES + 1, -EINVAL);
	cr_assert_eq(err.code, RULES_E_TOO_MANY);
	r = build(p, RULES_MAX_POLICIES);
	cr_assert_eq(match(r, RULES_MAX_POLICIES - 1, "1.1.1.1", NULL), RULES_MAX_POLICIES - 1);
	rules_free(r);

	{
		const struct rules_policy q[] = {
			{.name = "a", ENTRIES({.name = "a.com", .ports = ports, .n_ports = 32})},
			{.name = "b",
			 LISTENERS(1),
			 ENTRIES(E("b.com"), {.name = "c.com", .ports = ports, .n_ports = 33})},
		};

		err = build_err(q, 2, -EINVAL);
		cr_assert_eq(err.code, RULES_E_TOO_MANY);
		cr_assert_eq(err.policy, 1);
		cr_assert_eq(err.entry, 1);
	}
	for (i = 0; i <= RULES_MAX_POLICIES; i++)
		free((void *)p[i].listeners);
	free(p);
	free(names);
}

Test(rules, error_duplicate_name)
{
	const struct rules_policy p[] = {
		{.name = "a", LISTENERS(1)}, {.name = "b", LISTENERS(2)},
		{.name = "c", LISTENERS(3)}, {.name = "b", LISTENERS(4)},
		{.name = "a", LISTENERS(5)},
	};
	struct rules_error err = build_err(p, 5, -EINVAL);

	cr_assert_eq(err.code, RULES_E_DUPLICATE);
	cr_assert_eq(err.policy, 3);
	cr_assert_eq(err.other, 1);
}

Test(rules, error_cidr)
{
	struct rules_cidr bad[] = {cidr("10.0.0.0/8"), cidr("10.0.0.1/24")};
	struct rules_cidr wide = {.bits = 129};
	struct rules_cidr v6 = cidr("2001:db8::1/127");
	struct rules_policy p[] = {
		{.name = "a", LISTENERS(1), SOURCES("::/0", "1.2.3.4/32", "2001:db8::/32")},
		{.name = "b", LISTENERS(2), .sources = bad, .n_sources = 2},
	};
	struct rules_error err = build_err(p, 2, -EINVAL);

	cr_assert_eq(err.code, RULES_E_CIDR);
	cr_assert_eq(err.policy, 1);
	cr_assert_eq(err.entry, 1);
	p[1].sources = &wide;
	p[1].n_sources = 1;
	err = build_err(p, 2, -EINVAL);
	cr_assert_eq(err.code, RULES_E_CIDR);
	cr_assert_eq(err.entry, 0);
	p[1].sources = &v6;
	err = build_err(p, 2, -EINVAL);
	cr_assert_eq(err.code, RULES_E_CIDR);
	cr_assert_eq(err.policy, 1);
	v6.bits = 128;
	rules_free(build(p, 2));
}

Test(rules, error_name_maps_back_to_policy_and_entry)
{
	const struct rules_policy p[] = {
		{.name = "a", LISTENERS(1), ENTRIES(E("a.com"), E("*.b.com"))},
		{.name = "b", LISTENERS(2)},
		{.name = "c", LISTENERS(3), ENTRIES(E("c.com"), E("d.com"), E("a.*.com"))},
	};
	struct rules_error err = build_err(p, 3, -EINVAL);

	cr_assert_eq(err.code, RULES_E_NAME);
	cr_assert_eq(err.policy, 2);
	cr_assert_eq(err.entry, 2);
	cr_assert_eq(err.allowlist, ALLOWLIST_E_BAD_WILDCARD);
	{
		const struct rules_policy q[] = {
			{.name = "a", ENTRIES(E("a..com"))},
		};

		err = build_err(q, 1, -EINVAL);
		cr_assert_eq(err.code, RULES_E_NAME);
		cr_assert_eq(err.policy, 0);
		cr_assert_eq(err.entry, 0);
		cr_assert_eq(err.allowlist, ALLOWLIST_E_EMPTY_NAME);
	}
}

/* ---- shadowing ---- */

Test(rules, shadowed_policies)
{
	const struct rules_policy any_first[] = {
		{.name = "any"},
		{.name = "later", LISTENERS(1), ENTRIES(E("a.com"))},
	};
	const struct rules_policy by_listener[] = {
		{.name = "l12", LISTENERS(1, 2)},
		{.name = "l3", LISTENERS(3)},
		{.name = "l2", LISTENERS(2), SOURCES("10.0.0.0/8"), USERS("u")},
	};
	const struct rules_policy by_source[] = {
		{.name = "s", SOURCES("10.0.0.0/8", "2001:db8::/32"), USERS("u", "v")},
		{.name = "t", SOURCES("10.2.0.0/16", "2001:db8:5::/48"), USERS("v")},
	};
	const struct rules_policy partial[] = {
		{.name = "s", LISTENERS(1), SOURCES("10.0.0.0/8"), USERS("u", "v")},
		{.name = "wider_src",
		 LISTENERS(1),
		 SOURCES("10.2.0.0/16", "11.0.0.0/8"),
		 USERS("v")},
		{.name = "more_users", LISTENERS(1), SOURCES("10.2.0.0/16"), USERS("v", "w")},
		{.name = "more_lis", LISTENERS(1, 2), SOURCES("10.2.0.0/16"), USERS("v")},
		{.name = "any_src", LISTENERS(1), USERS("v")},
		{.name = "any_user", LISTENERS(1), SOURCES("10.3.0.0/16")},
		{.name = "any_lis", SOURCES("10.3.0.0/16"), USERS("u")},
	};
	struct rules_error err;

	err = build_err(any_first, 2, -EINVAL);
	cr_assert_eq(err.code, RULES_E_SHADOWED);
	cr_assert_eq(err.policy, 1);
	cr_assert_eq(err.other, 0);
	err = build_err(by_listener, 3, -EINVAL);
	cr_assert_eq(err.code, RULES_E_SHADOWED);
	cr_assert_eq(err.policy, 2);
	cr_assert_eq(err.other, 0);
	err = build_err(by_source, 2, -EINVAL);
	cr_assert_eq(err.code, RULES_E_SHADOWED);
	cr_assert_eq(err.policy, 1);
	cr_assert_eq(err.other, 0);
	rules_free(build(partial, ARRAY_SIZE(partial)));
}

Test(rules, shadow_reports_first_pair)
{
	const struct rules_policy p[] = {
		{.name = "a", LISTENERS(1)},
		{.name = "b", LISTENERS(2)},
		{.name = "c", LISTENERS(3)},
		{.name = "d", LISTENERS(2), USERS("x")},
		{.name = "e", LISTENERS(1), USERS("x")},
	};
	struct rules_error err = build_err(p, 5, -EINVAL);

	cr_assert_eq(err.code, RULES_E_SHADOWED);
	cr_assert_eq(err.policy, 3);
	cr_assert_eq(err.other, 1);
}

/* ---- randomized comparison with a linear-scan reference ---- */

static uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
	uint64_t z = (rng_state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return (uint32_t)((z ^ (z >> 31)) % n);
}

static const char *const labels[] = {"a", "b", "c", "d"};
static const char *const user_pool[] = {"u0", "u1", "u2", "u3"};

/* A name of 1..4 labels from a 4-letter alphabet, ending in "a" or "b" as a TLD. */
static void rand_name(char *buf, size_t len, bool upper)
{
	unsigned n = 1 + rnd(4), i;
	size_t off = 0;

	for (i = 0; i < n; i++)
		off += (size_t)snprintf(buf + off, len - off, "%s%s", i ? "." : "",
					labels[rnd(ARRAY_SIZE(labels))]);
	if (upper && rnd(2))
		for (i = 0; i < off; i++)
			if (buf[i] != '.')
				buf[i] = (char)(buf[i] & ~0x20);
	if (upper && rnd(4) == 0)
		snprintf(buf + off, len - off, ".");
}

/* name (folded, no dot) matched by entry e: exact 2, wildcard 1 + its suffix length, else 0. */
static size_t ref_spec(const char *e, const char *name)
{
	char f[300];
	size_t el, nl = strlen(name), i;

	snprintf(f, sizeof(f), "%s", e);
	el = strlen(f);
	if (el && f[el - 1] == '.')
		f[--el] = '\0';
	for (i = 0; i < el; i++)
		f[i] = (char)(f[i] >= 'A' && f[i] <= 'Z' ? f[i] | 0x20 : f[i]);
	if (f[0] != '*')
		return strcmp(f, name) ? 0 : 1000;
	el -= 2;
	if (nl <= el + 1 || strcmp(name + nl - el, f + 2) || name[nl - el - 1] != '.')
		return 0;
	return 1 + el;
}

static void fold(char *out, const char *in)
{
	size_t n = strlen(in), i;

	if (n && in[n - 1] == '.')
		n--;
	for (i = 0; i < n; i++)
		out[i] = (char)(in[i] >= 'A' && in[i] <= 'Z' ? in[i] | 0x20 : in[i]);
	out[n] = '\0';
}

static enum rules_verdict ref_check(const struct rules_policy *p, const char *raw, uint16_t port,
				    int64_t now, bool *pc)
{
	char name[300];
	const struct rules_entry *best = NULL;
	size_t best_s = 0, s, k, i;

	fold(name, raw);
	*pc = false;
	for (k = 0; k < p->n_entries; k++)
		if ((s = ref_spec(p->entries[k].name, name)) > best_s) {
			best_s = s;
			best = &p->entries[k];
		}
	if (!best)
		return RULES_NOT_LISTED;
	if (best->expires && now >= best->expires)
		return RULES_EXPIRED;
	if (!port || !best->n_ports)
		return RULES_ALLOW;
	*pc = true;
	for (i = 0; i < best->n_ports; i++)
		if (best->ports[i] == port)
			return RULES_ALLOW;
	return RULES_PORT;
}

static bool ref_in_cidr(const struct rules_cidr *c, const uint8_t *a)
{
	unsigned d;

	for (d = 0; d < c->bits; d++)
		if ((a[d / 8] ^ c->addr[d / 8]) >> (7 - d % 8) & 1)
			return false;
	return true;
}

static bool ref_covers(const struct rules_policy *i, const struct rules_policy *j)
{
	unsigned a, b;
	bool ok;

	if (i->n_listeners) {
		if (!j->n_listeners)
			return false;
		for (a = 0; a < j->n_listeners; a++) {
			for (ok = false, b = 0; b < i->n_listeners; b++)
				ok |= i->listeners[b] == j->listeners[a];
			if (!ok)
				return false;
		}
	}
	if (i->n_sources) {
		if (!j->n_sources)
			return false;
		for (a = 0; a < j->n_sources; a++) {
			for (ok = false, b = 0; b < i->n_sources; b++)
				ok |= i->sources[b].bits <= j->sources[a].bits &&
				      ref_in_cidr(&i->sources[b], j->sources[a].addr);
			if (!ok)
				return false;
		}
	}
	if (i->n_users) {
		if (!j->n_users)
			return false;
		for (a = 0; a < j->n_users; a++) {
			for (ok = false, b = 0; b < i->n_users; b++)
				ok |= !strcmp(i->users[b], j->users[a]);
			if (!ok)
				return false;
		}
	}
	return true;
}

static int ref_match(const struct rules_policy *p, unsigned n, unsigned l, const uint8_t *a,
		     const char *user)
{
	unsigned i, k;

	for (i = 0; i < n; i++) {
		bool ok = !p[i].n_listeners;

		for (k = 0; k < p[i].n_listeners; k++)
			ok |= p[i].listeners[k] == l;
		if (!ok)
			continue;
		ok = !p[i].n_sources;
		for (k = 0; k < p[i].n_sources; k++)
			ok |= ref_in_cidr(&p[i].sources[k], a);
		if (!ok)
			continue;
		ok = !p[i].n_users;
		for (k = 0; user && k < p[i].n_users; k++)
			ok |= !strcmp(p[i].users[k], user);
		if (ok)
			return (int)i;
	}
	return -1;
}

#define RP 12 /* policies per round */
#define RE 8  /* entries per policy at most */
#define RS 3  /* sources, listeners, users per policy at most */

struct rand_set {
	struct rules_policy p[RP];
	struct rules_entry e[RP][RE];
	char ename[RP][RE][40];
	char pname[RP][8];
	unsigned lis[RP][RS];
	struct rules_cidr src[RP][RS];
	const char *users[RP][RS];
	uint16_t ports[RP][RE][3];
};

/* A v4 CIDR in 10.0.0.0/14 with a prefix of 12..18 bits past the /96. */
static struct rules_cidr rand_cidr(void)
{
	struct rules_cidr c = {0};
	unsigned bits = 12 + rnd(7), d;

	c.addr[10] = c.addr[11] = 0xff;
	c.addr[12] = 10;
	c.addr[13] = (uint8_t)rnd(4);
	c.addr[14] = (uint8_t)(rnd(4) << 6);
	c.bits = (uint8_t)(96 + bits);
	for (d = c.bits; d < 128; d++)
		c.addr[d / 8] &= (uint8_t) ~(0x80 >> (d % 8));
	return c;
}

static unsigned rand_set_fill(struct rand_set *s)
{
	unsigned n = 1 + rnd(RP), i, k;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < n; i++) {
		struct rules_policy *p = &s->p[i];

		snprintf(s->pname[i], sizeof(s->pname[i]), "p%u", i);
		p->name = s->pname[i];
		p->n_listeners = rnd(3) ? rnd(RS) : 0;
		for (k = 0; k < p->n_listeners; k++)
			s->lis[i][k] = rnd(4);
		p->listeners = s->lis[i];
		p->n_sources = rnd(2) ? rnd(RS + 1) : 0;
		for (k = 0; k < p->n_sources; k++)
			s->src[i][k] = rand_cidr();
		p->sources = s->src[i];
		p->n_users = rnd(3) ? 0 : 1 + rnd(RS);
		for (k = 0; k < p->n_users; k++)
			s->users[i][k] = user_pool[rnd(ARRAY_SIZE(user_pool))];
		p->users = s->users[i];
		p->n_entries = rnd(RE + 1);
		for (k = 0; k < p->n_entries; k++) {
			struct rules_entry *e = &s->e[i][k];
			char *nm = s->ename[i][k];

			if (rnd(3) == 0) {
				memcpy(nm, "*.", 2);
				rand_name(nm + 2, sizeof(s->ename[i][k]) - 2, true);
			} else {
				rand_name(nm, sizeof(s->ename[i][k]), true);
			}
			e->name = nm;
			if (rnd(3) == 0) {
				e->n_ports = 1 + rnd(3);
				for (unsigned q = 0; q < e->n_ports; q++)
					s->ports[i][k][q] = (uint16_t)(440 + rnd(6));
				e->ports = s->ports[i][k];
			}
			if (rnd(3) == 0)
				e->expires = 100 + rnd(5) * 10;
		}
		p->entries = s->e[i];
	}
	return n;
}

Test(rules, randomized_against_reference, .timeout = 60)
{
	static struct rand_set s;
	unsigned round, built = 0, shadowed = 0, cases = 0, listed = 0;

	rng_state = 42;
	for (round = 0; round < 400; round++) {
		unsigned n = rand_set_fill(&s), q;
		struct rules_error err;
		struct rules *r = NULL;
		int rc = rules_build(&r, s.p, n, &err);

		/* Drop each shadowed policy, checking the pair named against the reference. */
		while (rc) {
			unsigned j, i;

			cr_assert_eq(err.code, RULES_E_SHADOWED, "round %u: %s", round,
				     rules_strerror(err.code));
			for (j = 1; j < n; j++) {
				for (i = 0; i < j && !ref_covers(&s.p[i], &s.p[j]); i++)
					;
				if (i < j)
					break;
			}
			cr_assert_eq(err.policy, j, "round %u", round);
			cr_assert_eq(err.other, i, "round %u", round);
			memmove(&s.p[j], &s.p[j + 1], (n - j - 1) * sizeof(s.p[0]));
			n--;
			shadowed++;
			rc = rules_build(&r, s.p, n, &err);
		}
		built++;
		for (q = 0; q < 30; q++) {
			uint8_t a[16] = {0};
			const char *user = rnd(3) ? user_pool[rnd(ARRAY_SIZE(user_pool))] : NULL;
			unsigned l = rnd(5);
			char name[40];
			uint16_t port = rnd(3) ? (uint16_t)(440 + rnd(6)) : 0;
			int64_t now = 95 + rnd(60);
			int p = (int)rnd(n + 1) - (rnd(8) == 0);
			bool pc1, pc2;
			long e;
			enum rules_verdict v, want;

			a[10] = a[11] = 0xff;
			a[12] = 10;
			a[13] = (uint8_t)rnd(5);
			a[14] = (uint8_t)rnd(256);
			a[15] = (uint8_t)rnd(256);
			cr_assert_eq(rules_match(r, l, a, user, user ? strlen(user) : 0),
				     ref_match(s.p, n, l, a, user), "round %u query %u", round, q);

			rand_name(name, sizeof(name), true);
			v = rules_check(r, p, name, strlen(name), port, now, &e, &pc1);
			want = p >= 0 && (unsigned)p < n ? ref_check(&s.p[p], name, port, now, &pc2)
							 : (pc2 = false, RULES_NOT_LISTED);
			cr_assert_eq(v, want, "round %u: policy %d name %s port %u now %lld: %s",
				     round, p, name, port, (long long)now, rules_verdict_str(v));
			cr_assert_eq(pc1, pc2, "round %u: ports_checked for %s", round, name);
			{
				/* *entry: set exactly when some policy lists the name. */
				bool any = false;
				bool dummy;
				unsigned i;

				for (i = 0; i < n; i++)
					any |= ref_check(&s.p[i], name, 0, 0, &dummy) !=
					       RULES_NOT_LISTED;
				cr_assert_eq(e >= 0, any, "round %u: entry for %s", round, name);
				listed += any;
			}
			cases++;
		}
		rules_free(r);
	}
	cr_assert_gt(shadowed, 50, "built %u shadowed %u", built, shadowed);
	cr_assert_gt(listed, cases / 10);
	cr_log_info("randomized: %u sets built, %u shadowed, %u cases", built, shadowed, cases);
}

/* ---- scale ---- */

Test(rules, large_set_builds, .timeout = 120)
{
	enum { NP = 200, NN = 50000, NC = 5000 };
	struct rules_policy *p = calloc(NP, sizeof(*p));
	struct rules_entry *e = calloc(NN, sizeof(*e));
	struct rules_cidr *c = calloc(NC, sizeof(*c));
	char(*names)[32] = calloc(NN, 32);
	char(*pn)[16] = calloc(NP, 16);
	unsigned i, per = NN / NP, cper = NC / NP;
	struct rules *r;
	char buf[32];

	for (i = 0; i < NN; i++) {
		/* Every tenth name a wildcard. */
		snprintf(names[i], 32, "%sn%u.p%u.example", i % 10 ? "" : "*.", i, i / per);
		e[i].name = names[i];
		e[i].expires = i % 7 == 0 ? 1000 + i : 0;
	}
	for (i = 0; i < NC; i++) {
		/* Policy q owns 10.q.x.0/24 for its 25 x. */
		c[i].addr[10] = c[i].addr[11] = 0xff;
		c[i].addr[12] = 10;
		c[i].addr[13] = (uint8_t)(i / cper);
		c[i].addr[14] = (uint8_t)(i % cper);
		c[i].bits = 120;
	}
	for (i = 0; i < NP; i++) {
		snprintf(pn[i], 16, "pol%u", i);
		p[i].name = pn[i];
		p[i].entries = e + i * per;
		p[i].n_entries = per;
		p[i].sources = c + i * cper;
		p[i].n_sources = cper;
	}
	r = build(p, NP);
	cr_assert_eq(allowlist_count(rules_allowlist(r)), NN);
	cr_assert_eq(match(r, 0, "10.0.0.1", NULL), 0);
	cr_assert_eq(match(r, 0, "10.199.24.200", NULL), 199);
	cr_assert_eq(match(r, 0, "10.199.25.200", NULL), -1);
	cr_assert_eq(match(r, 0, "10.77.3.3", NULL), 77);
	for (i = 1; i < NN; i += 997) {
		unsigned q = i / per;

		snprintf(buf, sizeof(buf), "%sn%u.p%u.example", i % 10 ? "" : "x.", i, q);
		cr_assert_eq(check_at(r, (int)q, buf, 0, 0, NULL), RULES_ALLOW, "%s", buf);
		cr_assert_eq(check_at(r, (int)(q + 1) % NP, buf, 0, 0, NULL), RULES_NOT_LISTED);
		cr_assert_eq(check_at(r, (int)q, buf, 0, 1000000, NULL),
			     i % 7 == 0 ? RULES_EXPIRED : RULES_ALLOW, "%s", buf);
	}
	cr_assert_eq(check_at(r, 0, "x.n0.p0.example", 0, 999, NULL), RULES_ALLOW);
	cr_assert_eq(check_at(r, 0, "x.n0.p0.example", 0, 1000, NULL), RULES_EXPIRED);
	cr_assert_eq(rules_next_expiry(r, 0), 1000);
	cr_assert_eq(rules_next_expiry(r, 1000), 1007);
	rules_free(r);
	free(p);
	free(e);
	free(c);
	free(names);
	free(pn);
}
