/* SPDX-License-Identifier: MIT */
/*
 * yamldoc: the one libyaml reader that both loaders (conf.c for snigate's own
 * format, envoy.c for the Envoy bootstrap) share. A file is parsed once into
 * a libyaml document, which keeps a start mark on every node, so an error
 * anywhere can name its line. Syntax errors, a second document and an alias
 * without an anchor are reported here, the same way for both formats.
 *
 * Internal to conf/.
 */
#ifndef SNIGATE_CONF_YAMLDOC_H
#define SNIGATE_CONF_YAMLDOC_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "conf/conf.h"

struct conf_yaml {
	yaml_document_t doc;
	const char *buf; /* the text it came from, borrowed: syntax hints read it */
	size_t len;
};

/*
 * Parse buf (len bytes; NULL is an empty file) into y. Returns 0, or
 * -EINVAL / -ENOMEM with err naming file and line. On success
 * conf_yaml_free() must follow.
 */
int conf_yaml_parse(struct conf_yaml *y, const char *buf, size_t len, const char *file,
		    struct conf_error *err);
void conf_yaml_free(struct conf_yaml *y);

/* The top node, or NULL when the file holds no document. */
yaml_node_t *conf_yaml_root(struct conf_yaml *y);
yaml_node_t *conf_yaml_node(struct conf_yaml *y, int id);
/* The value of key in mapping m, or NULL (m NULL or not a mapping, key absent). */
yaml_node_t *conf_yaml_get(struct conf_yaml *y, const yaml_node_t *m, const char *key);

/* NULL, or a plain ~ / null / empty scalar. */
bool conf_yaml_is_null(const yaml_node_t *n);
/*
 * A scalar's text; NULL for a collection and for a scalar with a NUL byte
 * ("a.com\0x" in double quotes), which read as a C string would be a shorter
 * name than written.
 */
const char *conf_yaml_scalar(const yaml_node_t *n);
/* "a mapping", "a list", "a value", "a value with a NUL byte" */
const char *conf_yaml_kind(const yaml_node_t *n);
/* 1-based line of n; 0 for NULL. */
unsigned conf_yaml_line(const yaml_node_t *n);

/*
 * One entry of the walk: a mapping key (key set) or a sequence item (key
 * NULL), with its path ("listeners[0].address") and value. alias: the value
 * is a node defined earlier in the file (an *alias); the walk does not go
 * below it, so a file of aliases cannot multiply itself, and its line is
 * that of the key, since libyaml keeps no mark for the alias itself.
 */
struct conf_yaml_entry {
	const char *path;
	const yaml_node_t *key; /* NULL for a sequence item */
	const yaml_node_t *val;
	unsigned line; /* of the key; of the item, or of its list when an alias */
	bool alias;
};

/*
 * Call fn for every mapping key and sequence item below root, in file
 * order, parents first. Stops at the first non-zero return of fn, which it
 * returns. Refuses (-EINVAL with err) a key that is not a plain scalar or
 * is an alias, nesting deeper than max_depth, and a path longer than
 * path_len - 1 bytes.
 */
int conf_yaml_walk(struct conf_yaml *y, const yaml_node_t *root, unsigned max_depth,
		   size_t path_len, int (*fn)(void *ctx, const struct conf_yaml_entry *e),
		   void *ctx, const char *file, struct conf_error *err);

#endif
