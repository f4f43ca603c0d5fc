/* SPDX-License-Identifier: MIT */
/*
 * conf_error: what both loaders (conf.c for snigate's YAML, envoy.c for the
 * Envoy bootstrap) and the line map share: filling a struct conf_error,
 * quoting user text for a message, and reading a config file. Internal to
 * conf/; core/ sees struct conf_error through conf/conf.h only.
 */
#ifndef SNIGATE_CONF_CONF_ERROR_H
#define SNIGATE_CONF_CONF_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#include "conf/conf.h"

#define CONF_MAX_FILE_BYTES (64u << 20) /* larger is a mistake, not a config */

/*
 * Fill err: file (its end kept when too long, since that tells files
 * apart), line, field (its middle cut when too long: the head says which
 * listener, the tail which key) and the message. Returns rc.
 */
int conf_error_set(struct conf_error *err, int rc, const char *file, unsigned line,
		   const char *field, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
int conf_error_vset(struct conf_error *err, int rc, const char *file, unsigned line,
		    const char *field, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));

/* s in double quotes into buf: bounded ("..." when cut), control bytes as '?'; buf. */
const char *conf_quote(const char *s, char *buf, size_t len);

/*
 * The whole file into *out (malloc'd, not NUL-terminated) and *len. Returns
 * 0, or a negative errno with err naming the file ("cannot open: ...", "is a
 * directory", "larger than 64 MiB").
 */
int conf_read_file(const char *path, char **out, size_t *len, struct conf_error *err);

#endif
