/* SPDX-License-Identifier: MIT */
/*
 * reference: where conf/CONFIG.md holds the table that conf_reference_md()
 * writes, shared by the conf test (which compares) and config_reference
 * (which rewrites).
 */
#ifndef SNIGATE_TEST_CONF_REFERENCE_H
#define SNIGATE_TEST_CONF_REFERENCE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/dump.h"

#define REFERENCE_HEADER "| Field | Type | Default | Range / values |"

/* The table in md: from its header line to the last "|" line after it. */
static inline bool reference_find(const char *md, size_t *at, size_t *n)
{
	const char *h = strstr(md, "\n" REFERENCE_HEADER "\n"), *e;

	if (!h)
		return false;
	h++;
	for (e = h; *e == '|';)
		e = strchr(e, '\n') ? strchr(e, '\n') + 1 : e + strlen(e);
	*at = (size_t)(h - md);
	*n = (size_t)(e - h);
	return true;
}

/* conf_reference_md() into a malloc'd string; NULL when out of memory. */
static inline char *reference_table(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	if (conf_reference_md(f) | fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}

#endif
