/* SPDX-License-Identifier: MIT */
/*
 * psl: the Public Suffix List, compiled in at build time from the list that
 * Debian's publicsuffix package ships (sni/psl_gen.py), so a wildcard such
 * as "*.co.uk" can be recognised for what it is: every name anyone may
 * register under a registry. ICANN suffixes are the registries' own; the
 * PRIVATE section lists names under which anyone can host content
 * (github.io, s3.amazonaws.com).
 *
 * Lookups follow the list's algorithm (publicsuffix.org/list/): a rule
 * "a.b", a wildcard "*.b" that covers one label more, an exception "!x.b";
 * and the default rule "*": any single label is a public suffix.
 */
#ifndef SNIGATE_SNI_PSL_H
#define SNIGATE_SNI_PSL_H

#include <stdint.h>

enum {
	PSL_ICANN = 1,
	PSL_PRIVATE = 2,
	PSL_BELOW_PRIVATE = 4, /* a PRIVATE suffix lies below this name */
};

struct psl_rule {
	const char *rule; /* lower case A-labels: "co.uk", "*.ck", "!www.ck" */
	uint8_t flags;
};

/* The compiled list, sorted by strcmp(): for psl.c and its tests. */
extern const struct psl_rule psl_rules[];
extern const unsigned psl_n_rules;
extern const char psl_version[]; /* the list's date, for --check */

enum psl_kind {
	PSL_NOT = 0,	/* not a public suffix */
	PSL_IS_ICANN,	/* a registry's suffix, or a single label */
	PSL_IS_PRIVATE, /* a suffix where anyone can host content */
};

/*
 * Whether name (lower case, no trailing dot, no "*.") is a public suffix.
 * *below_private (may be NULL) says whether a PRIVATE suffix lies below it,
 * so that "*.name" would cover content anyone can publish.
 */
enum psl_kind psl_suffix(const char *name, int *below_private);

#endif
