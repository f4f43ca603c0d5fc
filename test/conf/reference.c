/* SPDX-License-Identifier: MIT */
/*
 * config_reference FILE: rewrite the reference table in FILE (conf/CONFIG.md)
 * from conf_settings[]. `ninja -C build config-reference` runs it; the conf
 * test fails while the committed table differs from what this writes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/dump.h"
#include "test/conf/reference.h"

int main(int argc, char **argv)
{
	char *md = NULL, *table = NULL;
	size_t len = 0, at, n;
	FILE *f;

	if (argc != 2) {
		fprintf(stderr, "usage: config_reference CONFIG.md\n");
		return 2;
	}
	if (!(f = fopen(argv[1], "r")) || getdelim(&md, &len, '\0', f) < 0) {
		perror(argv[1]);
		return 1;
	}
	fclose(f);
	if (!reference_find(md, &at, &n)) {
		fprintf(stderr, "%s: no \"%s\" table\n", argv[1], REFERENCE_HEADER);
		return 1;
	}
	if (!(table = reference_table())) {
		perror("config_reference");
		return 1;
	}
	if (!(f = fopen(argv[1], "w")) ||
	    fprintf(f, "%.*s%s%s", (int)at, md, table, md + at + n) < 0 || fclose(f)) {
		perror(argv[1]);
		return 1;
	}
	free(md);
	free(table);
	return 0;
}
