/* SPDX-License-Identifier: MIT */
/*
 * test_allowlist: exact and wildcard matching, entry validation, and a
 * 100k-name set checked member by member and against 100k non-members.
 */
#include "sni/allowlist.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static struct allowlist *build(const char *const *names, size_t n)
{
	enum allowlist_err err = ALLOWLIST_E_NOMEM;
	size_t bad = 12345;
	struct allowlist *al = allowlist_build(names, n, &err, &bad);

	cr_assert_not_null(al, "build failed: %s at %zu", allowlist_strerror(err), bad);
	cr_assert_eq(err, ALLOWLIST_OK);
	return al;
}

static bool match(const struct allowlist *al, const char *name)
{
	return allowlist_match(al, name, strlen(name));
}

Test(allowlist, exact_names)
{
	static const char *const names[] = {"example.com", "api.example.net", "a"};
	struct allowlist *al = build(names, ARRAY_SIZE(names));

	cr_assert(match(al, "example.com"));
	cr_assert(match(al, "api.example.net"));
	cr_assert(match(al, "a"));
	cr_assert_not(match(al, "www.example.com"), "an exact entry is not a wildcard");
	cr_assert_not(match(al, "example.net"));
	cr_assert_eq(allowlist_count(al), 3);
	allowlist_free(al);
}

Test(allowlist, wildcard_matches_one_or_more_labels)
{
	static const char *const names[] = {"*.example.com"};
	struct allowlist *al = build(names, 1);

	cr_assert(match(al, "www.example.com"));
	cr_assert(match(al, "a.b.example.com"));
	cr_assert(match(al, "x.y.z.w.example.com"));
	cr_assert_not(match(al, "wwwexample.com"));
	cr_assert_not(match(al, "www.example.co"));
	cr_assert_not(match(al, "www.example.com.evil"));
	allowlist_free(al);
}

Test(allowlist, wildcard_does_not_match_apex)
{
	static const char *const names[] = {"*.example.com"};
	struct allowlist *al = build(names, 1);

	cr_assert_not(match(al, "example.com"));
	cr_assert_not(match(al, "example.com."));
	cr_assert_not(match(al, ".example.com"), "an empty label is not a label");
	cr_assert_not(match(al, "a..example.com"));
	allowlist_free(al);
}

Test(allowlist, apex_and_wildcard_together)
{
	static const char *const names[] = {"*.example.com", "example.com"};
	struct allowlist *al = build(names, 2);

	cr_assert(match(al, "example.com"));
	cr_assert(match(al, "www.example.com"));
	cr_assert_eq(allowlist_count(al), 2);
	allowlist_free(al);
}

Test(allowlist, case_insensitive)
{
	static const char *const names[] = {"Example.COM", "*.Wild.Example"};
	struct allowlist *al = build(names, 2);

	cr_assert(match(al, "example.com"));
	cr_assert(match(al, "EXAMPLE.COM"));
	cr_assert(match(al, "eXaMpLe.CoM"));
	cr_assert(match(al, "WWW.WILD.EXAMPLE"));
	allowlist_free(al);
}

Test(allowlist, trailing_dot_in_entry_and_query)
{
	static const char *const names[] = {"example.com.", "*.wild.example."};
	struct allowlist *al = build(names, 2);

	cr_assert(match(al, "example.com"));
	cr_assert(match(al, "example.com."));
	cr_assert(match(al, "a.wild.example."));
	cr_assert(match(al, "a.wild.example"));
	cr_assert_not(match(al, "example.com.."));
	allowlist_free(al);
}

Test(allowlist, near_misses)
{
	static const char *const names[] = {"example.com", "*.wild.example.org"};
	static const char *const misses[] = {
		"xample.com",
		"example.co",
		"example.comm",
		"eexample.com",
		"example",
		"com",
		"example.com.au",
		"www.example.com",
		"wild.example.org",
		"ild.example.org",
		"awild.example.org",
		"a.wild.example.or",
		"a.wild.example.orgg",
		"a.xwild.example.org",
		"",
		".",
	};
	struct allowlist *al = build(names, 2);

	for (size_t i = 0; i < ARRAY_SIZE(misses); i++)
		cr_assert_not(match(al, misses[i]), "%s matched", misses[i]);
	allowlist_free(al);
}

Test(allowlist, query_need_not_be_terminated)
{
	static const char *const names[] = {"example.com"};
	struct allowlist *al = build(names, 1);
	const char q[] = "example.comXYZ";

	cr_assert(allowlist_match(al, q, 11));
	cr_assert_not(allowlist_match(al, q, 12));
	cr_assert_not(allowlist_match(al, q, 10));
	allowlist_free(al);
}

Test(allowlist, invalid_queries_never_match)
{
	static const char *const names[] = {"*.example.com"};
	struct allowlist *al = build(names, 1);
	char longq[400];

	memset(longq, 'a', sizeof(longq));
	memcpy(longq + sizeof(longq) - 12, ".example.com", 12);
	cr_assert_not(allowlist_match(al, longq, sizeof(longq)));
	cr_assert_not(allowlist_match(al, "a b.example.com", 15));
	cr_assert_not(allowlist_match(al, "a\0b.example.com", 15));
	cr_assert_not(allowlist_match(al, NULL, 0));
	cr_assert_not(allowlist_match(NULL, "x.example.com", 13));
	allowlist_free(al);
}

Test(allowlist, empty)
{
	struct allowlist *al = build(NULL, 0);

	cr_assert_eq(allowlist_count(al), 0);
	cr_assert_not(match(al, "example.com"));
	cr_assert_not(match(al, ""));
	allowlist_free(al);
	allowlist_free(NULL);
}

Test(allowlist, duplicates_merged)
{
	static const char *const names[] = {"example.com",   "EXAMPLE.com",    "example.com.",
					    "*.example.com", "*.Example.Com.", "b.example",
					    "example.com"};
	struct allowlist *al = build(names, ARRAY_SIZE(names));

	cr_assert_eq(allowlist_count(al), 3);
	cr_assert(match(al, "example.com"));
	cr_assert(match(al, "x.example.com"));
	cr_assert(match(al, "b.example"));
	allowlist_free(al);
}

struct bad_case {
	const char *entry;
	enum allowlist_err err;
};

Test(allowlist, invalid_entries)
{
	static char long_name[300], long_label[80];
	static const struct bad_case cases[] = {
		{"", ALLOWLIST_E_EMPTY_NAME},
		{".", ALLOWLIST_E_EMPTY_NAME},
		{"a..b", ALLOWLIST_E_EMPTY_NAME},
		{".a", ALLOWLIST_E_EMPTY_NAME},
		{"a..", ALLOWLIST_E_EMPTY_NAME},
		{"*..a", ALLOWLIST_E_EMPTY_NAME},
		{long_name, ALLOWLIST_E_TOO_LONG},
		{long_label, ALLOWLIST_E_TOO_LONG},
		{"exa mple.com", ALLOWLIST_E_BAD_CHAR},
		{"ex\xc3\xa4mple.com", ALLOWLIST_E_BAD_CHAR},
		{"example.com:443", ALLOWLIST_E_BAD_CHAR},
		{"http://example.com", ALLOWLIST_E_BAD_CHAR},
		{"*", ALLOWLIST_E_BAD_WILDCARD},
		{"*.", ALLOWLIST_E_BAD_WILDCARD},
		{"**.example.com", ALLOWLIST_E_BAD_WILDCARD},
		{"*example.com", ALLOWLIST_E_BAD_WILDCARD},
		{"a.*.example.com", ALLOWLIST_E_BAD_WILDCARD},
		{"www.example.*", ALLOWLIST_E_BAD_WILDCARD},
		{"*.*.example.com", ALLOWLIST_E_BAD_WILDCARD},
	};

	memset(long_name, 'a', sizeof(long_name) - 1);
	for (size_t i = 50; i < sizeof(long_name) - 1; i += 50)
		long_name[i] = '.';
	memset(long_label, 'b', 64);
	memcpy(long_label + 64, ".com", 5);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		/* The bad entry in the middle of good ones: bad_index must point at it. */
		const char *names[] = {"good.example", "*.also.good", cases[i].entry, "more.good"};
		enum allowlist_err err = ALLOWLIST_OK;
		size_t bad = 99;
		struct allowlist *al = allowlist_build(names, 4, &err, &bad);

		cr_assert_null(al, "entry %zu accepted", i);
		cr_assert_eq(err, cases[i].err, "entry %zu: got %s", i, allowlist_strerror(err));
		cr_assert_eq(bad, 2);
		cr_assert_str_neq(allowlist_strerror(err), "unknown error");
	}
}

Test(allowlist, every_byte_value_in_an_entry)
{
	for (int c = 1; c < 256; c++) {
		char entry[] = {'a', (char)c, 'b', '.', 'c', 'o', 'm', '\0'};
		const char *names[] = {entry};
		bool valid = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
		enum allowlist_err err;
		size_t bad;
		struct allowlist *al = allowlist_build(names, 1, &err, &bad);

		if (!valid) {
			cr_assert_null(al, "byte %d accepted", c);
			cr_assert_eq(err,
				     c == '*' ? ALLOWLIST_E_BAD_WILDCARD : ALLOWLIST_E_BAD_CHAR);
			continue;
		}
		cr_assert_not_null(al, "byte %d refused", c);
		cr_assert(match(al, entry));
		/* the same query with that byte as a different valid one must miss */
		entry[1] = (c | 0x20) == 'x' ? 'y' : 'x';
		cr_assert_not(match(al, entry), "byte %d", c);
		allowlist_free(al);
	}
}

Test(allowlist, null_entry_is_empty_name)
{
	const char *names[] = {"ok.example", NULL};
	enum allowlist_err err;
	size_t bad;

	cr_assert_null(allowlist_build(names, 2, &err, &bad));
	cr_assert_eq(err, ALLOWLIST_E_EMPTY_NAME);
	cr_assert_eq(bad, 1);
	/* err and bad_index may be left out */
	cr_assert_null(allowlist_build(names, 2, NULL, NULL));
}

Test(allowlist, limits_are_inclusive)
{
	char n253[254], l63[80];
	const char *names[2] = {n253, l63};
	struct allowlist *al;

	memset(n253, 'c', 253);
	n253[253] = '\0';
	for (size_t i = 63; i < 253; i += 64)
		n253[i] = '.';
	memset(l63, 'd', 63);
	memcpy(l63 + 63, ".com", 5);
	al = build(names, 2);
	cr_assert(match(al, n253));
	cr_assert(match(al, l63));
	allowlist_free(al);
}

/* ---- scale ---- */

static uint64_t rng = 0x1234567;

static uint64_t next(void)
{
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A distinct random-looking host name for i, in a family (members vs non-members). */
static void name_for(char *out, size_t cap, size_t i, char family)
{
	static const char *const tld[] = {"com", "net", "org", "io", "example"};
	uint64_t r = next();

	snprintf(out, cap, "%c%zx-%c%c%c.%s", family, i, 'a' + (int)(r % 26),
		 'a' + (int)((r >> 8) % 26), 'a' + (int)((r >> 16) % 26), tld[(r >> 24) % 5]);
}

Test(allowlist, hundred_thousand_names, .timeout = 60)
{
	enum { N = 100000 };
	static char buf[2 * N][40];
	static const char *names[N];
	struct allowlist *al;
	struct timespec t0, t1;
	double ms;

	for (size_t i = 0; i < N; i++) {
		name_for(buf[i], sizeof(buf[i]), i, 'm');
		/* every tenth a wildcard */
		if (i % 10 == 0) {
			memmove(buf[i] + 2, buf[i], strlen(buf[i]) + 1);
			memcpy(buf[i], "*.", 2);
		}
		names[i] = buf[i];
		name_for(buf[N + i], sizeof(buf[N + i]), i, 'n');
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	al = build(names, N);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	cr_log_info("built 100k names in %.1f ms", ms);
	/* Generous for sanitizer builds on a busy machine; a plain build takes ~20 ms. */
	cr_expect_lt(ms, 1000.0, "build took %.1f ms", ms);
	cr_assert_eq(allowlist_count(al), N);

	for (size_t i = 0; i < N; i++) {
		char q[48];

		if (i % 10 == 0) {
			snprintf(q, sizeof(q), "x.%s", buf[i] + 2);
			cr_assert(match(al, q), "%s not found", q);
			cr_assert_not(match(al, buf[i] + 2), "%s: apex matched", buf[i] + 2);
		} else {
			cr_assert(match(al, buf[i]), "%s not found", buf[i]);
			/* upper-cased, it is the same name */
			for (char *c = buf[i]; *c; c++)
				*c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
			cr_assert(match(al, buf[i]), "%s not found", buf[i]);
		}
		cr_assert_not(match(al, buf[N + i]), "%s found", buf[N + i]);
	}
	allowlist_free(al);
}

Test(allowlist, lookup_names_each_entry_once)
{
	static const char *const names[] = {"example.com", "*.example.com", "API.Example.NET.",
					    "*.b.c", "a"};
	struct allowlist *al = build(names, ARRAY_SIZE(names));
	static const char *const want[] = {"example.com", "*.example.com", "api.example.net",
					   "*.b.c", "a"};
	static const char *const query[] = {"EXAMPLE.com", "x.y.example.com", "api.example.net",
					    "q.b.c", "a"};
	bool seen[8] = {0};
	char buf[300];

	cr_assert_eq(allowlist_count(al), 5);
	for (size_t i = 0; i < ARRAY_SIZE(query); i++) {
		long at = allowlist_lookup(al, query[i], strlen(query[i]));
		cr_assert(at >= 0 && at < 5, "%s: index %ld", query[i], at);
		cr_assert(!seen[at], "%s: index %ld given twice", query[i], at);
		seen[at] = true;
		size_t n = allowlist_entry(al, (size_t)at, buf, sizeof(buf));
		cr_assert_eq(n, strlen(want[i]));
		cr_assert_str_eq(buf, want[i]);
	}
	cr_assert_eq(allowlist_lookup(al, "b.c", 3), -1);
	cr_assert_eq(allowlist_lookup(al, "nope.net", 8), -1);
	cr_assert_eq(allowlist_entry(al, 5, buf, sizeof(buf)), 0);
	/* A short buffer is cut, never overrun. */
	cr_assert_eq(allowlist_entry(al, (size_t)allowlist_lookup(al, "a.example.com", 13), buf, 4),
		     3);
	cr_assert_str_eq(buf, "*.e");
	allowlist_free(al);
}
