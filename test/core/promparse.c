/* SPDX-License-Identifier: MIT */
/* promparse: strict Prometheus text format 0.0.4 parser for tests; see promparse.h. */
#include "promparse.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE ((size_t)-1)

struct ctx {
	struct promdoc *d;
	size_t cap_fam, cap_smp;
	bool *has_type; /* per family, grown with families */
	size_t cur;	/* the family being written, or NONE */
	unsigned line;
	char *err;
	size_t errlen;
};

static int fail(struct ctx *c, unsigned line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, unsigned line, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (!c->errlen)
		return -EINVAL;
	if (line)
		n = snprintf(c->err, c->errlen, "line %u: ", line);
	if (n < 0 || (size_t)n >= c->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t ncap;
	void *np;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	while (ncap < need)
		ncap *= 2;
	np = realloc(*p, ncap * size);
	if (!np)
		return -ENOMEM;
	*p = np;
	*cap = ncap;
	return 0;
}

/* ---- tokens ---- */

static bool is_name_start(char ch, bool colon)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' ||
	       (colon && ch == ':');
}

static bool is_name_char(char ch, bool colon)
{
	return is_name_start(ch, colon) || (ch >= '0' && ch <= '9');
}

/* A metric (colon) or label name at *s; advances past it. NULL if none there. */
static char *read_name(const char **s, const char *end, bool colon)
{
	const char *start = *s, *p = *s;

	if (p == end || !is_name_start(*p, colon))
		return NULL;
	while (p < end && is_name_char(*p, colon))
		p++;
	*s = p;
	return strndup(start, (size_t)(p - start));
}

static bool utf8_ok(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char b = s[i];
		size_t k;
		uint32_t cp;

		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			k = 1;
			cp = b & 0x1f;
		} else if (b >= 0xe0 && b <= 0xef) {
			k = 2;
			cp = b & 0x0f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			k = 3;
			cp = b & 0x07;
		} else {
			return false;
		}
		if (n - i <= k)
			return false;
		for (size_t j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		/* Overlong forms, surrogates, past U+10FFFF. */
		if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k + 1;
	}
	return true;
}

/*
 * A quoted label value at *s (the opening quote), unescaped into a new
 * string; advances past the closing quote. NULL with *why set on error.
 */
static char *read_value(const char **s, const char *end, const char **why)
{
	const char *p = *s + 1;
	char *out, *o;

	out = o = malloc((size_t)(end - *s) + 1);
	if (!out) {
		*why = "out of memory";
		return NULL;
	}
	for (; p < end && *p != '"'; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		if (++p == end)
			break;
		if (*p == '\\' || *p == '"')
			*o++ = *p;
		else if (*p == 'n')
			*o++ = '\n';
		else {
			*why = "bad escape in label value (only \\\\, \\\" and \\n)";
			free(out);
			return NULL;
		}
	}
	if (p == end) {
		*why = "unterminated label value";
		free(out);
		return NULL;
	}
	*o = '\0';
	if (!utf8_ok((const unsigned char *)out, (size_t)(o - out))) {
		*why = "label value is not UTF-8";
		free(out);
		return NULL;
	}
	*s = p + 1;
	return out;
}

static void labels_free(struct promdoc_label *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(l[i].name);
		free(l[i].value);
	}
	free(l);
}

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct promdoc_label *)a)->name,
		      ((const struct promdoc_label *)b)->name);
}

/*
 * name="value" pairs separated by commas (a trailing comma is allowed, as in
 * Prometheus), up to `close` ('}') or to end when close is 0 (a selector).
 * On success *s is past the closing brace and the labels are sorted by name.
 */
static int read_labels(const char **s, const char *end, char close, struct promdoc_label **out,
		       size_t *n_out, const char **why)
{
	struct promdoc_label *l = NULL;
	size_t n = 0, cap = 0;
	const char *p = *s;

	*why = NULL;
	for (;;) {
		char *name, *value;

		if (close ? (p < end && *p == close) : p == end)
			break;
		name = read_name(&p, end, false);
		if (!name) {
			*why = "bad label name";
			goto out_fail;
		}
		if (!strncmp(name, "__", 2)) {
			*why = "reserved label name (\"__\" prefix)";
			free(name);
			goto out_fail;
		}
		if (p == end || *p != '=' || p + 1 == end || p[1] != '"') {
			*why = "want label=\"value\"";
			free(name);
			goto out_fail;
		}
		p++;
		value = read_value(&p, end, why);
		if (!value) {
			free(name);
			goto out_fail;
		}
		if (grow((void **)&l, &cap, n + 1, sizeof(*l))) {
			*why = "out of memory";
			free(name);
			free(value);
			goto out_fail;
		}
		l[n].name = name;
		l[n++].value = value;
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (close ? (p < end && *p == close) : p == end)
			break;
		*why = close ? "want , or } after a label" : "want , between labels";
		goto out_fail;
	}
	if (close)
		p++;
	if (n > 1) /* qsort's base may not be NULL, even for no elements */
		qsort(l, n, sizeof(*l), label_cmp);
	for (size_t i = 1; i < n; i++) {
		if (!strcmp(l[i - 1].name, l[i].name)) {
			*why = "label given twice";
			goto out_fail;
		}
	}
	*s = p;
	*out = l;
	*n_out = n;
	return 0;

out_fail:
	labels_free(l, n);
	return -EINVAL;
}

/* Go's ParseFloat accepts more (hex, "infinity", underscores); exporters write this. */
static bool parse_number(const char *s, const char *e, double *v)
{
	size_t n = (size_t)(e - s);
	const char *p = s;
	char buf[64], *stop;
	bool digits = false;

	if (n == 3 && !memcmp(s, "NaN", 3)) {
		*v = NAN;
		return true;
	}
	if ((n == 4 && (!memcmp(s, "+Inf", 4) || !memcmp(s, "-Inf", 4))) ||
	    (n == 3 && !memcmp(s, "Inf", 3))) {
		*v = *s == '-' ? -INFINITY : INFINITY;
		return true;
	}
	if (p < e && (*p == '+' || *p == '-'))
		p++;
	for (; p < e && *p >= '0' && *p <= '9'; p++)
		digits = true;
	if (p < e && *p == '.')
		for (p++; p < e && *p >= '0' && *p <= '9'; p++)
			digits = true;
	if (!digits)
		return false;
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		if (p == e || *p < '0' || *p > '9')
			return false;
		while (p < e && *p >= '0' && *p <= '9')
			p++;
	}
	if (p != e || n >= sizeof(buf))
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*v = strtod(buf, &stop);
	return stop == buf + n;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* ---- families ---- */

static const char *const type_names[] = {
	[PD_COUNTER] = "counter", [PD_GAUGE] = "gauge",	    [PD_HISTOGRAM] = "histogram",
	[PD_SUMMARY] = "summary", [PD_UNTYPED] = "untyped",
};

/* The current family is complete: it must have had both directives. */
static int family_finish(struct ctx *c)
{
	const struct promdoc_family *f;

	if (c->cur == NONE)
		return 0;
	f = &c->d->families[c->cur];
	if (!c->has_type[c->cur])
		return fail(c, f->line, "family %s has no # TYPE", f->name);
	if (!f->help)
		return fail(c, f->line, "family %s has no # HELP", f->name);
	return 0;
}

/* The family a HELP or TYPE line for name belongs to: the current one, or a new one. */
static int family_for(struct ctx *c, const char *name, size_t *fi)
{
	struct promdoc *d = c->d;
	struct promdoc_family *f;
	int r;

	if (c->cur != NONE && !strcmp(d->families[c->cur].name, name)) {
		*fi = c->cur;
		return 0;
	}
	for (size_t i = 0; i < d->n_families; i++)
		if (!strcmp(d->families[i].name, name))
			return fail(c, c->line, "family %s written twice (first at line %u)", name,
				    d->families[i].line);
	r = family_finish(c);
	if (r)
		return r;
	if (grow((void **)&d->families, &c->cap_fam, d->n_families + 1, sizeof(*d->families)))
		return -ENOMEM;
	{
		/* has_type grows in step with families; its capacity is the same. */
		bool *ht = realloc(c->has_type, c->cap_fam * sizeof(bool));

		if (!ht)
			return -ENOMEM;
		c->has_type = ht;
	}
	f = &d->families[d->n_families];
	*f = (struct promdoc_family){.type = PD_UNTYPED, .first = d->n_samples, .line = c->line};
	f->name = strdup(name);
	if (!f->name)
		return -ENOMEM;
	c->has_type[d->n_families] = false;
	c->cur = *fi = d->n_families++;
	return 0;
}

/* promtool's naming lints, and ours, for a family now that its type is known. */
static int family_lint(struct ctx *c, const struct promdoc_family *f)
{
	for (const char *p = f->name; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			return fail(c, c->line, "%s: metric names are snake_case", f->name);
	if (f->type == PD_COUNTER && !ends_with(f->name, "_total"))
		return fail(c, c->line, "counter %s does not end in _total", f->name);
	if (f->type != PD_COUNTER && ends_with(f->name, "_total"))
		return fail(c, c->line, "%s %s ends in _total", type_names[f->type], f->name);
	if ((f->type == PD_GAUGE || f->type == PD_UNTYPED) &&
	    (ends_with(f->name, "_bucket") || ends_with(f->name, "_sum") ||
	     ends_with(f->name, "_count")))
		return fail(c, c->line, "%s %s ends in a histogram/summary suffix",
			    type_names[f->type], f->name);
	return 0;
}

/* "# HELP name text" and "# TYPE name type"; any other # line is a comment. */
static int parse_comment(struct ctx *c, const char *p, const char *end)
{
	const char *q = p + 1, *tok;
	bool help;
	char *name;
	size_t fi = NONE;
	int r;

	while (q < end && is_blank(*q))
		q++;
	tok = q;
	while (q < end && !is_blank(*q))
		q++;
	if (!((q - tok == 4) && (!memcmp(tok, "HELP", 4) || !memcmp(tok, "TYPE", 4))))
		return 0; /* a comment */
	help = !memcmp(tok, "HELP", 4);
	if (end - p < 7 || memcmp(p, help ? "# HELP " : "# TYPE ", 7))
		return fail(c, c->line, "write \"# %s \" exactly", help ? "HELP" : "TYPE");
	q = p + 7;
	name = read_name(&q, end, true);
	if (!name || (q < end && *q != ' ')) {
		free(name);
		return fail(c, c->line, "bad metric name in # %s", help ? "HELP" : "TYPE");
	}
	r = family_for(c, name, &fi);
	free(name);
	if (r)
		return r;
	if (help) {
		struct promdoc_family *f = &c->d->families[fi];
		char *o;

		if (f->help)
			return fail(c, c->line, "second # HELP for %s", f->name);
		if (q < end)
			q++; /* the space before the text */
		f->help = o = malloc((size_t)(end - q) + 1);
		if (!o)
			return -ENOMEM;
		for (; q < end; q++) {
			if (*q != '\\') {
				*o++ = *q;
				continue;
			}
			if (++q == end || (*q != '\\' && *q != 'n'))
				return fail(c, c->line, "bad escape in HELP (only \\\\ and \\n)");
			*o++ = *q == 'n' ? '\n' : '\\';
		}
		*o = '\0';
		return 0;
	}
	if (c->has_type[fi])
		return fail(c, c->line, "second # TYPE for %s", c->d->families[fi].name);
	if (c->d->families[fi].n)
		return fail(c, c->line, "# TYPE for %s after its samples", c->d->families[fi].name);
	if (q == end)
		return fail(c, c->line, "# TYPE without a type");
	q++;
	for (int t = 0; t <= PD_UNTYPED; t++) {
		size_t tl = strlen(type_names[t]);

		if ((size_t)(end - q) == tl && !memcmp(q, type_names[t], tl)) {
			c->d->families[fi].type = (enum promdoc_type)t;
			c->has_type[fi] = true;
			return family_lint(c, &c->d->families[fi]);
		}
	}
	return fail(c, c->line, "unknown type \"%.*s\"", (int)(end - q), q);
}

/* The suffix name has in family f ("" for the base name), or NULL if not f's. */
static const char *suffix_in(const struct promdoc_family *f, const char *name)
{
	size_t fl = strlen(f->name);

	if (strncmp(name, f->name, fl))
		return NULL;
	name += fl;
	switch (f->type) {
	case PD_HISTOGRAM:
		if (!strcmp(name, "_bucket") || !strcmp(name, "_sum") || !strcmp(name, "_count"))
			return name;
		return NULL;
	case PD_SUMMARY:
		if (!*name || !strcmp(name, "_sum") || !strcmp(name, "_count"))
			return name;
		return NULL;
	default:
		return *name ? NULL : name;
	}
}

static int parse_sample(struct ctx *c, const char *p, const char *end)
{
	struct promdoc *d = c->d;
	struct promdoc_sample *s;
	struct promdoc_label *labels = NULL;
	size_t n_labels = 0;
	const char *q = p, *vs, *why;
	char *name;
	double v;
	int r;

	name = read_name(&q, end, true);
	if (!name)
		return fail(c, c->line, "bad metric name");
	if (c->cur == NONE || !c->has_type[c->cur] || !suffix_in(&d->families[c->cur], name)) {
		for (size_t i = 0; i < d->n_families; i++) {
			if (i != c->cur && c->has_type[i] && suffix_in(&d->families[i], name)) {
				r = fail(c, c->line, "sample %s: family %s is not in one block",
					 name, d->families[i].name);
				free(name);
				return r;
			}
		}
		r = fail(c, c->line, "sample %s has no # TYPE before it", name);
		free(name);
		return r;
	}
	if (q < end && *q == '{') {
		q++;
		if (read_labels(&q, end, '}', &labels, &n_labels, &why)) {
			r = fail(c, c->line, "%s: %s", name, why);
			free(name);
			return r;
		}
	}
	if (q == end || !is_blank(*q)) {
		r = fail(c, c->line, "%s: want a blank before the value", name);
		goto out_free;
	}
	while (q < end && is_blank(*q))
		q++;
	for (vs = q; q < end && !is_blank(*q); q++)
		;
	if (!parse_number(vs, q, &v)) {
		r = fail(c, c->line, "%s: value \"%.*s\" is not a number", name, (int)(q - vs), vs);
		goto out_free;
	}
	while (q < end && is_blank(*q))
		q++;
	if (q < end) { /* a timestamp: an integer of milliseconds */
		const char *digits;

		if (*q == '-')
			q++;
		for (digits = q; q < end && *q >= '0' && *q <= '9'; q++)
			;
		if (q == digits) {
			r = fail(c, c->line, "%s: junk after the value", name);
			goto out_free;
		}
		while (q < end && is_blank(*q))
			q++;
		if (q != end) {
			r = fail(c, c->line, "%s: junk after the value", name);
			goto out_free;
		}
	}
	if (grow((void **)&d->samples, &c->cap_smp, d->n_samples + 1, sizeof(*d->samples))) {
		r = -ENOMEM;
		goto out_free;
	}
	s = &d->samples[d->n_samples++];
	*s = (struct promdoc_sample){.name = name,
				     .labels = labels,
				     .n_labels = n_labels,
				     .value = v,
				     .family = (unsigned)c->cur,
				     .line = c->line};
	d->families[c->cur].n++;
	return 0;

out_free:
	free(name);
	labels_free(labels, n_labels);
	return r;
}

/* ---- whole-document checks ---- */

static int series_cmp(const void *a, const void *b)
{
	const struct promdoc_sample *x = *(const struct promdoc_sample *const *)a;
	const struct promdoc_sample *y = *(const struct promdoc_sample *const *)b;
	int r = strcmp(x->name, y->name);

	if (r)
		return r;
	if (x->n_labels != y->n_labels)
		return x->n_labels < y->n_labels ? -1 : 1;
	for (size_t i = 0; i < x->n_labels; i++) {
		r = strcmp(x->labels[i].name, y->labels[i].name);
		if (!r)
			r = strcmp(x->labels[i].value, y->labels[i].value);
		if (r)
			return r;
	}
	/* Equal series: order by line so the error names the second one. */
	return x->line < y->line ? -1 : x->line > y->line;
}

static bool same_series(const struct promdoc_sample *x, const struct promdoc_sample *y)
{
	if (strcmp(x->name, y->name) || x->n_labels != y->n_labels)
		return false;
	for (size_t i = 0; i < x->n_labels; i++)
		if (strcmp(x->labels[i].name, y->labels[i].name) ||
		    strcmp(x->labels[i].value, y->labels[i].value))
			return false;
	return true;
}

static int check_duplicates(struct ctx *c)
{
	struct promdoc *d = c->d;
	struct promdoc_sample **v;
	int r = 0;

	if (d->n_samples < 2)
		return 0;
	v = malloc(d->n_samples * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < d->n_samples; i++)
		v[i] = &d->samples[i];
	qsort(v, d->n_samples, sizeof(*v), series_cmp);
	for (size_t i = 1; i < d->n_samples && !r; i++)
		if (same_series(v[i - 1], v[i]))
			r = fail(c, v[i]->line, "series %s repeated (first at line %u)", v[i]->name,
				 v[i - 1]->line);
	free(v);
	return r;
}

static const struct promdoc_label *label_get(const struct promdoc_sample *s, const char *name)
{
	for (size_t i = 0; i < s->n_labels; i++)
		if (!strcmp(s->labels[i].name, name))
			return &s->labels[i];
	return NULL;
}

/* Same labels once `skip` is left out of both. */
static bool same_labels_but(const struct promdoc_sample *x, const struct promdoc_sample *y,
			    const char *skip)
{
	size_t i = 0, j = 0;

	for (;;) {
		while (i < x->n_labels && !strcmp(x->labels[i].name, skip))
			i++;
		while (j < y->n_labels && !strcmp(y->labels[j].name, skip))
			j++;
		if (i == x->n_labels || j == y->n_labels)
			return i == x->n_labels && j == y->n_labels;
		if (strcmp(x->labels[i].name, y->labels[j].name) ||
		    strcmp(x->labels[i].value, y->labels[j].value))
			return false;
		i++;
		j++;
	}
}

struct bucket {
	double le, v;
	unsigned line;
};

static int bucket_cmp(const void *a, const void *b)
{
	double x = ((const struct bucket *)a)->le, y = ((const struct bucket *)b)->le;

	return x < y ? -1 : x > y;
}

/* One histogram series: samples g[0..n) of family f, all with the same labels but le. */
static int check_histogram_series(struct ctx *c, const struct promdoc_family *f,
				  struct promdoc_sample **g, size_t n)
{
	const char *base = f->name;
	size_t fl = strlen(base), nb = 0;
	const struct promdoc_sample *sum = NULL, *count = NULL;
	struct bucket *b = calloc(n, sizeof(*b));
	unsigned line = g[0]->line;
	int r = 0;

	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < n && !r; i++) {
		const char *sfx = g[i]->name + fl;
		const struct promdoc_label *le = label_get(g[i], "le");

		if (!strcmp(sfx, "_bucket")) {
			if (!le ||
			    !parse_number(le->value, le->value + strlen(le->value), &b[nb].le) ||
			    isnan(b[nb].le))
				r = fail(c, g[i]->line, "%s_bucket: le missing or not a number",
					 base);
			b[nb].v = g[i]->value;
			b[nb++].line = g[i]->line;
		} else if (le) {
			r = fail(c, g[i]->line, "%s: le on a non-bucket sample", g[i]->name);
		} else if (!strcmp(sfx, "_sum")) {
			sum = g[i];
		} else {
			count = g[i];
		}
		if (!r && strcmp(sfx, "_sum") && !(g[i]->value >= 0))
			r = fail(c, g[i]->line, "%s: a count must be >= 0", g[i]->name);
	}
	if (r)
		goto out;
	qsort(b, nb, sizeof(*b), bucket_cmp);
	for (size_t i = 1; i < nb && !r; i++) {
		if (b[i].le == b[i - 1].le)
			r = fail(c, b[i].line, "%s_bucket: two buckets with one le", base);
		else if (b[i].v < b[i - 1].v)
			r = fail(c, b[i].line, "%s_bucket: count falls as le grows", base);
	}
	if (r)
		goto out;
	if (!nb || !isinf(b[nb - 1].le) || b[nb - 1].le < 0)
		r = fail(c, line, "%s: series without a +Inf bucket", base);
	else if (!count)
		r = fail(c, line, "%s: series without _count", base);
	else if (!sum)
		r = fail(c, line, "%s: series without _sum", base);
	else if (count->value != b[nb - 1].v)
		r = fail(c, count->line, "%s_count is not the +Inf bucket", base);
out:
	free(b);
	return r;
}

static int check_summary_series(struct ctx *c, const struct promdoc_family *f,
				struct promdoc_sample **g, size_t n)
{
	size_t fl = strlen(f->name);
	bool sum = false, count = false;

	for (size_t i = 0; i < n; i++) {
		const char *sfx = g[i]->name + fl;
		const struct promdoc_label *q = label_get(g[i], "quantile");
		double qv;

		if (!*sfx) {
			if (!q || !parse_number(q->value, q->value + strlen(q->value), &qv) ||
			    !(qv >= 0 && qv <= 1))
				return fail(c, g[i]->line, "%s: quantile missing or outside [0, 1]",
					    f->name);
		} else if (q) {
			return fail(c, g[i]->line, "%s: quantile on %s", f->name, g[i]->name);
		} else if (!strcmp(sfx, "_sum")) {
			sum = true;
		} else {
			count = true;
		}
	}
	if (!sum || !count)
		return fail(c, g[0]->line, "%s: series without _sum or _count", f->name);
	return 0;
}

/* Histograms and summaries: group each family's samples by labels (but le / quantile). */
static int check_families(struct ctx *c)
{
	struct promdoc *d = c->d;
	int r = 0;

	for (size_t fi = 0; fi < d->n_families && !r; fi++) {
		const struct promdoc_family *f = &d->families[fi];
		struct promdoc_sample **g;
		const char *skip;
		bool *done;

		if (f->type == PD_COUNTER) {
			for (size_t i = 0; i < f->n && !r; i++)
				if (!(d->samples[f->first + i].value >= 0))
					r = fail(c, d->samples[f->first + i].line,
						 "counter %s is negative or NaN", f->name);
			continue;
		}
		if (f->type != PD_HISTOGRAM && f->type != PD_SUMMARY)
			continue;
		skip = f->type == PD_HISTOGRAM ? "le" : "quantile";
		g = malloc((f->n + 1) * sizeof(*g));
		done = calloc(f->n + 1, sizeof(*done));
		if (!g || !done) {
			free(g);
			free(done);
			return -ENOMEM;
		}
		for (size_t i = 0; i < f->n && !r; i++) {
			size_t n = 0;

			if (done[i])
				continue;
			for (size_t j = i; j < f->n; j++) {
				if (!done[j] && same_labels_but(&d->samples[f->first + i],
								&d->samples[f->first + j], skip)) {
					done[j] = true;
					g[n++] = &d->samples[f->first + j];
				}
			}
			r = f->type == PD_HISTOGRAM ? check_histogram_series(c, f, g, n)
						    : check_summary_series(c, f, g, n);
		}
		free(g);
		free(done);
	}
	return r;
}

/* ---- entry points ---- */

void promdoc_free(struct promdoc *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_samples; i++) {
		free(d->samples[i].name);
		labels_free(d->samples[i].labels, d->samples[i].n_labels);
	}
	for (size_t i = 0; i < d->n_families; i++) {
		free(d->families[i].name);
		free(d->families[i].help);
	}
	free(d->samples);
	free(d->families);
	free(d);
}

int promdoc_parse(const char *text, size_t len, struct promdoc **out, char *err, size_t errlen)
{
	struct ctx c = {.cur = NONE, .err = err, .errlen = errlen};
	const char *p = text, *end = text + len;
	int r = 0;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	c.d = calloc(1, sizeof(*c.d));
	if (!c.d)
		return -ENOMEM;
	if (memchr(text, '\0', len)) {
		r = fail(&c, 0, "NUL byte in the document");
		goto out;
	}
	if (len && text[len - 1] != '\n') {
		r = fail(&c, 0, "the last line does not end in a line feed");
		goto out;
	}
	while (p < end && !r) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		c.line++;
		if (memchr(p, '\r', (size_t)(eol - p)))
			r = fail(&c, c.line, "carriage return (lines end in LF only)");
		else if (eol == p)
			; /* empty lines are allowed */
		else if (*p == '#')
			r = parse_comment(&c, p, eol);
		else
			r = parse_sample(&c, p, eol);
		p = eol + 1;
	}
	if (!r)
		r = family_finish(&c);
	if (!r)
		r = check_duplicates(&c);
	if (!r)
		r = check_families(&c);
out:
	free(c.has_type);
	if (r) {
		if (r == -ENOMEM && errlen)
			snprintf(err, errlen, "out of memory");
		promdoc_free(c.d);
		return r;
	}
	*out = c.d;
	return 0;
}

const struct promdoc_family *promdoc_family(const struct promdoc *d, const char *name)
{
	for (size_t i = 0; i < d->n_families; i++)
		if (!strcmp(d->families[i].name, name))
			return &d->families[i];
	return NULL;
}

/* Whether every label of sel is in s (exact: and nothing else). */
static bool labels_match(const struct promdoc_sample *s, const struct promdoc_label *sel, size_t n,
			 bool exact)
{
	if (exact && s->n_labels != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const struct promdoc_label *l = label_get(s, sel[i].name);

		if (!l || strcmp(l->value, sel[i].value))
			return false;
	}
	return true;
}

static double select_samples(const struct promdoc *d, const char *name, const char *sel, bool exact,
			     size_t *matched, bool *ok)
{
	struct promdoc_label *l;
	const char *p = sel, *why;
	size_t n, m = 0;
	double sum = 0;

	*ok = !read_labels(&p, sel + strlen(sel), 0, &l, &n, &why);
	if (!*ok)
		return 0;
	for (size_t i = 0; i < d->n_samples; i++) {
		if (strcmp(d->samples[i].name, name) || !labels_match(&d->samples[i], l, n, exact))
			continue;
		sum += d->samples[i].value;
		m++;
	}
	labels_free(l, n);
	if (matched)
		*matched = m;
	return sum;
}

bool promdoc_value(const struct promdoc *d, const char *name, const char *sel, double *v)
{
	size_t m;
	bool ok;
	double sum = select_samples(d, name, sel, true, &m, &ok);

	/* Duplicate series are rejected by the parser: m is 0 or 1. */
	if (!ok || m != 1)
		return false;
	*v = sum;
	return true;
}

double promdoc_sum(const struct promdoc *d, const char *name, const char *sel, size_t *matched)
{
	bool ok;

	if (matched)
		*matched = 0;
	return select_samples(d, name, sel, false, matched, &ok);
}
