/* SPDX-License-Identifier: MIT */
/*
 * psl: the compiled Public Suffix List and the list's algorithm: rules,
 * wildcards, exceptions, the default rule, both sections, IDN rules in
 * their A-label form.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "sni/psl.h"

Test(psl, the_list_is_compiled_in_and_sorted)
{
	cr_assert_gt(psl_n_rules, 5000, "%u rules", psl_n_rules);
	for (unsigned i = 1; i < psl_n_rules; i++)
		cr_assert_lt(strcmp(psl_rules[i - 1].rule, psl_rules[i].rule), 0, "%s, %s",
			     psl_rules[i - 1].rule, psl_rules[i].rule);
	cr_assert(strlen(psl_version) >= 10, "%s", psl_version);
}

Test(psl, suffixes)
{
	static const struct {
		const char *name;
		enum psl_kind kind;
		int below_private;
	} t[] = {
		{"com", PSL_IS_ICANN, 0},    /* a rule; a TLD is not flagged for what is below */
		{"co.uk", PSL_IS_ICANN, 1},  /* a second-level registry */
		{"example.com", PSL_NOT, 0}, /* registrable, not a suffix */
		{"github.io", PSL_IS_PRIVATE, 0}, /* anyone hosts content there */
		{"amazonaws.com", PSL_NOT, 1},	  /* not a suffix, but s3.amazonaws.com is */
		{"s3.amazonaws.com", PSL_IS_PRIVATE, 0},
		{"foo.ck", PSL_IS_ICANN, 0},	     /* the wildcard "*.ck" */
		{"www.ck", PSL_NOT, 0},		     /* its exception "!www.ck" */
		{"zz-no-such-tld", PSL_IS_ICANN, 0}, /* the default rule "*" */
		{"xn--55qx5d.cn", PSL_IS_ICANN, 0},  /* 公司.cn, as its A-label */
		{"a.b.example.com", PSL_NOT, 0},
		{"", PSL_NOT, 0},
	};

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int below = -1;
		cr_assert_eq(psl_suffix(t[i].name, &below), t[i].kind, "%s", t[i].name);
		cr_assert_eq(below, t[i].below_private, "%s: below_private %d", t[i].name, below);
		cr_assert_eq(psl_suffix(t[i].name, NULL), t[i].kind, "%s", t[i].name);
	}
}
