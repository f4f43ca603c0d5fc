/* SPDX-License-Identifier: MIT */
/*
 * dump: a struct conf written back as snigate's own YAML, every setting
 * spelled out, so that conf_load_buf() of the output gives the same struct
 * (snigate convert, and later GET /config).
 */
#ifndef SNIGATE_CONF_DUMP_H
#define SNIGATE_CONF_DUMP_H

#include <stdio.h>

#include "conf/conf.h"

enum {
	/*
	 * Replace secret values by "<redacted>" (for an admin endpoint). No
	 * field of struct conf is secret yet; a field that is, when added,
	 * goes through the dump's secret() helper.
	 */
	CONF_DUMP_REDACT = 1u << 0,
};

/* Write c to f. Returns 0, or -EIO when f reports a write error. */
int conf_dump_yaml(const struct conf *c, FILE *f, unsigned flags);

/* The same into a malloc'd, NUL-terminated string; NULL when out of memory. */
char *conf_dump_yaml_str(const struct conf *c, unsigned flags);

/*
 * Any row's value in c as one line of YAML flow style: every entry of a
 * list, every field of each listener in table order. What a round trip
 * must keep. 0, or -EIO.
 */
int conf_setting_write(const struct conf_setting *s, const struct conf *c, FILE *f);

/*
 * conf/CONFIG.md's reference table, generated from conf_settings[]: "|
 * Field | Type | Default | Range / values |", then a row a setting.
 * 0, or -EIO.
 */
int conf_reference_md(FILE *f);

#endif
