/* SPDX-License-Identifier: MIT */
/*
 * fuzz_allowlist: allowlist_build() and allowlist_lookup() against a
 * reference matcher written from the documented rules alone.
 *
 * Input: the first byte says how many of the following '\n'-separated lines
 * (0..15) are allowlist entries; the remaining lines are names to look up.
 * Each entry is also looked up itself, with a label put in front, without
 * its "*." and in upper case, so the fuzzer need not guess the names that
 * sit on a rule's edge.
 *
 * The reference (sni/hostname.h and sni/allowlist.h): a host name is
 * 1..253 bytes of [A-Za-z0-9-_] labels of 1..63 bytes joined by single
 * dots; one trailing dot is dropped first, from an entry and from a
 * looked-up name alike. An entry is a host name or "*." and a host name,
 * 253 bytes at most counting the "*.". "*.x" matches one or more labels in
 * front of x, never x itself; matching ignores case; a name that is not a
 * host name matches nothing. It is a linear scan with plain compares, so it
 * shares nothing with the perfect hashes under test.
 *
 * Checked: the build fails exactly when the reference finds an invalid
 * entry, and at the first one; a lookup matches exactly when the reference
 * does, and the entry it names (allowlist_entry) is one that matches.
 */
#include "sni/allowlist.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_ENTRIES 15
#define MAX_QUERIES 64

static void check(bool ok)
{
	if (!ok)
		abort();
}

static bool ref_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_';
}

static bool ref_host(const char *s, size_t n)
{
	size_t i, label = 0;

	if (n == 0 || n > 253)
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (!ref_char((unsigned char)s[i]) || ++label > 63) {
			return false;
		}
	}
	return label > 0;
}

/* An entry is valid: a host name or "*." and one, trailing dot dropped first. */
static bool ref_entry_ok(const char *e)
{
	size_t n = strlen(e);

	if (n && e[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return false;
	if (e[0] == '*')
		return n >= 3 && e[1] == '.' && ref_host(e + 2, n - 2);
	return ref_host(e, n);
}

/* Entry e (valid) matches name[0..n). */
static bool ref_match_one(const char *e, const char *name, size_t n)
{
	size_t en = strlen(e);

	if (en && e[en - 1] == '.')
		en--;
	if (n && name[n - 1] == '.')
		n--;
	if (!ref_host(name, n))
		return false;
	if (e[0] != '*')
		return en == n && strncasecmp(e, name, n) == 0;
	/* "*.x": name is "<one or more labels>.x" */
	e += 1; /* ".x" */
	en -= 1;
	return n > en && strncasecmp(name + n - en, e, en) == 0;
}

static bool ref_match(char *const *entries, size_t n_entries, const char *name, size_t n)
{
	size_t i;

	for (i = 0; i < n_entries; i++)
		if (ref_match_one(entries[i], name, n))
			return true;
	return false;
}

static void lookup(const struct allowlist *al, char *const *entries, size_t n_entries,
		   const char *name, size_t n)
{
	long at = allowlist_lookup(al, name, n);
	char e[300];

	check(allowlist_match(al, name, n) == (at >= 0));
	check((at >= 0) == ref_match(entries, n_entries, name, n));
	if (at < 0)
		return;
	check((size_t)at < allowlist_count(al));
	size_t len = allowlist_entry(al, (size_t)at, e, sizeof(e));
	check(len > 0 && len == strlen(e));
	check(ref_match_one(e, name, n));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *lines[MAX_ENTRIES + MAX_QUERIES];
	size_t lens[MAX_ENTRIES + MAX_QUERIES];
	size_t n_lines = 0, n_entries, i, pos = 1, bad = SIZE_MAX;
	enum allowlist_err err = ALLOWLIST_OK;
	struct allowlist *al;

	if (size == 0)
		return 0;
	while (pos <= size && n_lines < MAX_ENTRIES + MAX_QUERIES) {
		const uint8_t *nl = memchr(data + pos, '\n', size - pos);
		size_t len = nl ? (size_t)(nl - (data + pos)) : size - pos;

		/* Exactly len bytes, so an over-read past a name is ASan's to see. */
		lines[n_lines] = malloc(len + 1);
		check(lines[n_lines] != NULL);
		memcpy(lines[n_lines], data + pos, len);
		lines[n_lines][len] = '\0';
		lens[n_lines++] = len;
		pos += len + 1;
	}
	n_entries = data[0] % (MAX_ENTRIES + 1);
	if (n_entries > n_lines)
		n_entries = n_lines;

	al = allowlist_build((const char *const *)lines, n_entries, &err, &bad);
	for (i = 0; i < n_entries && ref_entry_ok(lines[i]); i++)
		;
	if (i < n_entries) {
		check(al == NULL && err != ALLOWLIST_OK && bad == i);
		check(allowlist_strerror(err) != NULL);
		goto out;
	}
	check(al != NULL);
	check(allowlist_count(al) <= n_entries);

	for (i = n_entries; i < n_lines; i++)
		lookup(al, lines, n_entries, lines[i], lens[i]);
	for (i = 0; i < n_entries; i++) {
		char q[600];
		size_t n = strlen(lines[i]), k;

		lookup(al, lines, n_entries, lines[i], n);
		if (n + 5 > sizeof(q))
			continue;
		if (lines[i][0] == '*' && n >= 2) {
			lookup(al, lines, n_entries, lines[i] + 2, n - 2);
			memcpy(q, "a", 1);
			memcpy(q + 1, lines[i] + 1, n - 1);
			lookup(al, lines, n_entries, q, n);
			memcpy(q, "x-y.z", 5);
			memcpy(q + 5, lines[i] + 1, n - 1);
			lookup(al, lines, n_entries, q, n + 4);
		} else {
			memcpy(q, "a.", 2);
			memcpy(q + 2, lines[i], n);
			lookup(al, lines, n_entries, q, n + 2);
		}
		for (k = 0; k < n; k++)
			q[k] = (char)(lines[i][k] >= 'a' && lines[i][k] <= 'z' ? lines[i][k] - 32
									       : lines[i][k]);
		lookup(al, lines, n_entries, q, n);
	}
	allowlist_free(al);
out:
	for (i = 0; i < n_lines; i++)
		free(lines[i]);
	return 0;
}
