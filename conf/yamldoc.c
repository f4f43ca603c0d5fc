/* SPDX-License-Identifier: MIT */
/*
 * yamldoc: parse a config file once into a libyaml document, and walk it.
 */
#include "conf/yamldoc.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf_error.h"

#define Q(s) conf_quote((s), (char[72]){0}, 72)

/* 1-based line of the last byte that is not white space; 0 for a blank text. */
static unsigned last_content_line(const char *buf, size_t len)
{
	size_t end = len;
	unsigned line = 1;

	while (end && isspace((unsigned char)buf[end - 1]))
		end--;
	if (!end)
		return 0;
	for (size_t i = 0; i < end; i++)
		line += buf[i] == '\n';
	return line;
}

/* Offset of the start of 0-based line line0 in buf (len when there is none). */
static size_t line_start(const char *buf, size_t len, size_t line0)
{
	size_t i = 0;

	for (size_t l = 0; l < line0 && i < len; i++)
		l += buf[i] == '\n';
	return i;
}

/*
 * Whether line0 holds "[hex:...]:" unquoted: a plain [ opens a flow list,
 * so an IPv6 address with its port, written as the docs show it but
 * without the quotes, reads as a list followed by nonsense.
 */
static bool line_has_bare_v6(const char *buf, size_t len, size_t line0)
{
	for (size_t i = line_start(buf, len, line0); i < len && buf[i] != '\n'; i++) {
		if (buf[i] != '[' || (i && buf[i - 1] == '"') || (i && buf[i - 1] == '\''))
			continue;
		size_t j = i + 1;
		while (j < len &&
		       (isxdigit((unsigned char)buf[j]) || buf[j] == ':' || buf[j] == '.'))
			j++;
		if (j + 1 < len && buf[j] == ']' && buf[j + 1] == ':' &&
		    memchr(buf + i, ':', j - i))
			return true;
	}
	return false;
}

static bool line_indented_with_tab(const char *buf, size_t len, size_t line0)
{
	for (size_t i = line_start(buf, len, line0); i < len && (buf[i] == ' ' || buf[i] == '\t');
	     i++)
		if (buf[i] == '\t')
			return true;
	return false;
}

static int syntax_error(const yaml_parser_t *p, const char *buf, size_t len, const char *file,
			struct conf_error *err)
{
	const char *problem = p->problem ? p->problem : "not valid YAML";
	unsigned line = (unsigned)p->problem_mark.line + 1;
	unsigned ctx_line = (unsigned)p->context_mark.line + 1;

	if (p->error == YAML_MEMORY_ERROR)
		return conf_error_set(err, -ENOMEM, file, 0, "", "out of memory");
	if (p->error == YAML_COMPOSER_ERROR && !strcmp(problem, "found undefined alias")) {
		char name[64] = "";
		size_t at = p->problem_mark.index;
		if (at < len && buf[at] == '*')
			sscanf(buf + at + 1, "%63[^] \t\r\n,}:]", name);
		return conf_error_set(err, -EINVAL, file, line, "",
				      "alias *%s has no anchor &%s before it", name, name);
	}
	/*
	 * An unclosed bracket or quote is noticed only at the end of the file,
	 * a line after the mistake; where the construct opened is the useful line.
	 */
	if (p->context && line > last_content_line(buf, len))
		return conf_error_set(err, -EINVAL, file, ctx_line, "",
				      "YAML syntax error %s: %s (reached the end of the file)",
				      p->context, problem);
	const char *hint = "";
	if (line_indented_with_tab(buf, len, p->problem_mark.line))
		hint = " (indent with spaces: YAML does not allow tabs)";
	else if (line_has_bare_v6(buf, len, p->problem_mark.line) ||
		 line_has_bare_v6(buf, len, p->context_mark.line))
		hint = " (quote an IPv6 address with its port: \"[::1]:8443\")";
	if (p->context && ctx_line != line)
		return conf_error_set(err, -EINVAL, file, line, "",
				      "YAML syntax error %s started on line %u: %s%s", p->context,
				      ctx_line, problem, hint);
	return conf_error_set(err, -EINVAL, file, line, "", "YAML syntax error: %s%s", problem,
			      hint);
}

int conf_yaml_parse(struct conf_yaml *y, const char *buf, size_t len, const char *file,
		    struct conf_error *err)
{
	yaml_parser_t p;
	yaml_document_t extra;
	int rc = 0;

	memset(y, 0, sizeof(*y));
	if (!buf) {
		buf = "";
		len = 0;
	}
	y->buf = buf;
	y->len = len;
	if (!yaml_parser_initialize(&p))
		return conf_error_set(err, -ENOMEM, file, 0, "", "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&p, &y->doc)) {
		rc = syntax_error(&p, buf, len, file, err);
		yaml_parser_delete(&p);
		return rc;
	}
	/* Both formats read one document; a loader would drop the rest unseen. */
	if (conf_yaml_root(y)) {
		if (!yaml_parser_load(&p, &extra)) {
			rc = syntax_error(&p, buf, len, file, err);
		} else {
			if (yaml_document_get_root_node(&extra))
				rc = conf_error_set(
					err, -EINVAL, file, (unsigned)extra.start_mark.line + 1, "",
					"a second YAML document starts here; put the whole configuration in one");
			yaml_document_delete(&extra);
		}
	}
	yaml_parser_delete(&p);
	if (rc)
		yaml_document_delete(&y->doc);
	return rc;
}

void conf_yaml_free(struct conf_yaml *y)
{
	yaml_document_delete(&y->doc);
}

yaml_node_t *conf_yaml_root(struct conf_yaml *y)
{
	return yaml_document_get_root_node(&y->doc);
}

yaml_node_t *conf_yaml_node(struct conf_yaml *y, int id)
{
	return yaml_document_get_node(&y->doc, id);
}

yaml_node_t *conf_yaml_get(struct conf_yaml *y, const yaml_node_t *m, const char *key)
{
	if (!m || m->type != YAML_MAPPING_NODE)
		return NULL;
	for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top;
	     p++) {
		const char *k = conf_yaml_scalar(conf_yaml_node(y, p->key));
		if (k && !strcmp(k, key))
			return conf_yaml_node(y, p->value);
	}
	return NULL;
}

bool conf_yaml_is_null(const yaml_node_t *n)
{
	if (!n)
		return true;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	const char *v = (const char *)n->data.scalar.value;
	return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
	       !strcmp(v, "NULL");
}

const char *conf_yaml_scalar(const yaml_node_t *n)
{
	if (!n || n->type != YAML_SCALAR_NODE ||
	    strlen((const char *)n->data.scalar.value) != n->data.scalar.length)
		return NULL;
	return (const char *)n->data.scalar.value;
}

const char *conf_yaml_kind(const yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE)
		return "a mapping";
	if (n->type == YAML_SEQUENCE_NODE)
		return "a list";
	return conf_yaml_scalar(n) ? "a value" : "a value with a NUL byte";
}

unsigned conf_yaml_line(const yaml_node_t *n)
{
	return n ? (unsigned)n->start_mark.line + 1 : 0;
}

/* ------------------------------------------------------------------------ */
/* The walk                                                                 */

struct walk {
	struct conf_yaml *y;
	unsigned max_depth;
	char *path;
	size_t path_len;
	int (*fn)(void *ctx, const struct conf_yaml_entry *e);
	void *ctx;
	const char *file;
	struct conf_error *err;
	/*
	 * Nodes already met, by index. libyaml's document resolves an alias to
	 * the anchored node and keeps no other trace of it, so a node met a
	 * second time is an alias.
	 */
	unsigned char *met;
	size_t end;	 /* end offset of the last scalar met where it stands */
	size_t lpos;	 /* the text up to here ... */
	unsigned lcount; /* ... holds this many line breaks: offsets only grow */
};

static bool seen(struct walk *w, const yaml_node_t *n)
{
	size_t i = (size_t)(n - w->y->doc.nodes.start);

	if (w->met[i])
		return true;
	w->met[i] = 1;
	if (n->type == YAML_SCALAR_NODE)
		w->end = n->end_mark.index;
	return false;
}

/*
 * The line of the alias met after w->end: the next "*" that starts a
 * token, comments skipped. libyaml keeps no mark for an alias, and the
 * anchored node's own line would point at the wrong place. The next
 * search starts past it.
 */
static unsigned alias_line(struct walk *w)
{
	const char *b = w->y->buf;
	size_t i = w->lpos;
	unsigned line;

	if (w->end < i) {
		i = 0;
		w->lcount = 0;
	}
	for (; i < w->end && i < w->y->len; i++)
		w->lcount += b[i] == '\n';
	w->lpos = i;
	line = w->lcount + 1;
	for (; i < w->y->len; i++) {
		if (b[i] == '\n')
			line++;
		else if (b[i] == '#' && (!i || isspace((unsigned char)b[i - 1])))
			while (i + 1 < w->y->len && b[i + 1] != '\n')
				i++;
		else if (b[i] == '*' && (!i || strchr(" \t\r\n[{,:-?", b[i - 1]))) {
			w->end = i + 1;
			return line;
		}
	}
	return 0;
}

static int walk_node(struct walk *w, const yaml_node_t *n, size_t plen, unsigned depth,
		     unsigned line);

static int walk_entry(struct walk *w, const yaml_node_t *k, const yaml_node_t *v, size_t plen,
		      unsigned depth, unsigned line)
{
	struct conf_yaml_entry e = {.path = w->path, .key = k, .val = v, .line = line};
	int rc;

	e.alias = seen(w, v);
	if (e.alias) {
		unsigned at = alias_line(w);
		e.line = at ? at : line;
	} else {
		e.line = conf_yaml_line(k ? k : v);
	}
	if ((rc = w->fn(w->ctx, &e)))
		return rc;
	if (e.alias || v->type == YAML_SCALAR_NODE)
		return 0;
	if (depth == w->max_depth)
		return conf_error_set(w->err, -EINVAL, w->file, e.line, w->path,
				      "nested too deeply");
	return walk_node(w, v, plen, depth + 1, e.line);
}

static int walk_node(struct walk *w, const yaml_node_t *n, size_t plen, unsigned depth,
		     unsigned line)
{
	int rc;

	if (n->type == YAML_MAPPING_NODE) {
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			const yaml_node_t *k = conf_yaml_node(w->y, p->key);
			const yaml_node_t *v = conf_yaml_node(w->y, p->value);
			const char *key = conf_yaml_scalar(k);

			w->path[plen] = '\0';
			if (seen(w, k)) {
				unsigned at = alias_line(w);
				return conf_error_set(w->err, -EINVAL, w->file,
						      at ? at : conf_yaml_line(k), w->path,
						      "keys must be plain names, not aliases");
			}
			if (!key)
				return conf_error_set(w->err, -EINVAL, w->file, conf_yaml_line(k),
						      w->path, "keys must be plain names, not %s",
						      conf_yaml_kind(k));
			int m = snprintf(w->path + plen, w->path_len - plen, "%s%s",
					 plen ? "." : "", key);
			/* A cut path could pass for another key; no setting is named this long. */
			if ((size_t)m >= w->path_len - plen) {
				w->path[plen] = '\0';
				return conf_error_set(w->err, -EINVAL, w->file, conf_yaml_line(k),
						      "", "key too long: %s", Q(key));
			}
			if ((rc = walk_entry(w, k, v, plen + (size_t)m, depth, line)))
				return rc;
		}
	} else if (n->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			const yaml_node_t *v = conf_yaml_node(w->y, *it);
			int m = snprintf(w->path + plen, w->path_len - plen, "[%u]",
					 (unsigned)(it - n->data.sequence.items.start));
			if ((size_t)m >= w->path_len - plen)
				return conf_error_set(w->err, -EINVAL, w->file, conf_yaml_line(v),
						      "", "nested too deeply");
			if ((rc = walk_entry(w, NULL, v, plen + (size_t)m, depth, line)))
				return rc;
		}
	}
	w->path[plen] = '\0';
	return 0;
}

int conf_yaml_walk(struct conf_yaml *y, const yaml_node_t *root, unsigned max_depth,
		   size_t path_len, int (*fn)(void *ctx, const struct conf_yaml_entry *e),
		   void *ctx, const char *file, struct conf_error *err)
{
	struct walk w = {.y = y,
			 .max_depth = max_depth,
			 .path_len = path_len,
			 .fn = fn,
			 .ctx = ctx,
			 .file = file,
			 .err = err};
	int rc;

	if (!root || !path_len)
		return 0;
	w.path = calloc(1, path_len);
	w.met = calloc((size_t)(y->doc.nodes.top - y->doc.nodes.start), 1);
	if (!w.path || !w.met)
		rc = conf_error_set(err, -ENOMEM, file, 0, "", "out of memory");
	else
		rc = seen(&w, root) ? 0 : walk_node(&w, root, 0, 1, conf_yaml_line(root));
	free(w.path);
	free(w.met);
	return rc;
}
