/* SPDX-License-Identifier: MIT */
/*
 * psl: public suffix lookups over the compiled list.
 */
#include "sni/psl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 256

static int cmp(const void *key, const void *e)
{
	return strcmp(key, ((const struct psl_rule *)e)->rule);
}

static const struct psl_rule *find(const char *s)
{
	return bsearch(s, psl_rules, psl_n_rules, sizeof(psl_rules[0]), cmp);
}

static enum psl_kind kind_of(uint8_t flags)
{
	return flags & PSL_ICANN ? PSL_IS_ICANN : PSL_IS_PRIVATE;
}

enum psl_kind psl_suffix(const char *name, int *below_private)
{
	char key[NAME_MAX_LEN + 2];
	const struct psl_rule *r;
	const char *dot = strchr(name, '.');

	if (below_private)
		*below_private = (r = find(name)) && (r->flags & PSL_BELOW_PRIVATE);
	if (strlen(name) > NAME_MAX_LEN || !*name)
		return PSL_NOT;
	/* An exception takes the name out of the wildcard that would cover it. */
	snprintf(key, sizeof(key), "!%s", name);
	if (find(key))
		return PSL_NOT;
	if ((r = find(name)) && (r->flags & (PSL_ICANN | PSL_PRIVATE)))
		return kind_of(r->flags);
	if (!dot)
		return PSL_IS_ICANN; /* the default rule "*" */
	snprintf(key, sizeof(key), "*%s", dot);
	if ((r = find(key)))
		return kind_of(r->flags);
	return PSL_NOT;
}
