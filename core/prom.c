/* SPDX-License-Identifier: MIT */
/* prom: Prometheus text format 0.0.4 writer; see prom.h. */
#include "core/prom.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool name_ok(const char *s, bool colon)
{
	if (!s || !*s || (*s >= '0' && *s <= '9'))
		return false;
	for (; *s; s++) {
		char ch = *s;

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || (colon && ch == ':')))
			return false;
	}
	return true;
}

static bool metric_name_ok(const char *s)
{
	return name_ok(s, true);
}

static bool label_name_ok(const char *s)
{
	return name_ok(s, false) && strncmp(s, "__", 2);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !memcmp(s + n - m, suffix, m);
}

static bool labels_ok(const struct prom_label *l, size_t n, bool histogram)
{
	for (size_t i = 0; i < n; i++) {
		if (!label_name_ok(l[i].name) || !l[i].value)
			return false;
		if (histogram && !strcmp(l[i].name, "le"))
			return false;
		for (size_t j = 0; j < i; j++)
			if (!strcmp(l[i].name, l[j].name))
				return false;
	}
	return true;
}

/*
 * s with backslash and line feed escaped, and the double quote too when
 * quote: the label value rules, or with !quote the HELP rules.
 */
static void put_escaped(struct admin_buf *b, const char *s, bool quote)
{
	const char *run = s;

	for (; *s; s++) {
		const char *esc = *s == '\\'	       ? "\\\\"
				  : *s == '\n'	       ? "\\n"
				  : quote && *s == '"' ? "\\\""
						       : NULL;

		if (!esc)
			continue;
		admin_buf_append(b, run, (size_t)(s - run));
		admin_buf_append(b, esc, 2);
		run = s + 1;
	}
	admin_buf_append(b, run, (size_t)(s - run));
}

char *prom_format_double(char *buf, double v)
{
	if (isnan(v))
		return strcpy(buf, "NaN");
	if (isinf(v))
		return strcpy(buf, v > 0 ? "+Inf" : "-Inf");
	if (v == 0)
		return strcpy(buf, "0"); /* also -0, which no counter means */
	/* Integral and inside int64_t: printed as that integer, exactly. */
	if (v > -9223372036854775808.0 && v < 9223372036854775808.0 && v == (double)(int64_t)v) {
		snprintf(buf, PROM_NUM_MAX, "%" PRId64, (int64_t)v);
		return buf;
	}
	/*
	 * The shortest of 15, 16, 17 significant digits that reads back as v.
	 * Any decimal of at most DBL_DIG (15) digits survives the round trip, so
	 * when a shorter form exists %.15g finds it (%g drops trailing zeros).
	 */
	for (int prec = 15; prec < 17; prec++) {
		snprintf(buf, PROM_NUM_MAX, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			return buf;
	}
	snprintf(buf, PROM_NUM_MAX, "%.17g", v);
	return buf;
}

size_t prom_bucket(const double *bounds, size_t n, double v)
{
	size_t lo = 0, hi = n;

	/* The first bound >= v; n when v is above them all (or NaN). */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v <= bounds[mid])
			hi = mid;
		else
			lo = mid + 1;
	}
	return isnan(v) ? n : lo;
}

int prom_header(struct admin_buf *b, const char *name, const char *help, enum prom_type type)
{
	static const char *const types[] = {
		[PROM_COUNTER] = "counter",
		[PROM_GAUGE] = "gauge",
		[PROM_HISTOGRAM] = "histogram",
		[PROM_UNTYPED] = "untyped",
	};

	if (!metric_name_ok(name) || (unsigned)type > PROM_UNTYPED || !help)
		return -EINVAL;
	/* The Prometheus naming convention, which promtool lints. */
	if ((type == PROM_COUNTER) != ends_with(name, "_total"))
		return -EINVAL;
	admin_buf_printf(b, "# HELP %s ", name);
	put_escaped(b, help, false);
	return admin_buf_printf(b, "\n# TYPE %s %s\n", name, types[type]);
}

/* name{labels[,le="le"]} and the space before the value. */
static void put_series(struct admin_buf *b, const char *name, const char *suffix,
		       const struct prom_label *l, size_t n, const char *le)
{
	admin_buf_printf(b, "%s%s", name, suffix);
	if (n || le) {
		admin_buf_append(b, "{", 1);
		for (size_t i = 0; i < n; i++) {
			admin_buf_printf(b, "%s%s=\"", i ? "," : "", l[i].name);
			put_escaped(b, l[i].value, true);
			admin_buf_append(b, "\"", 1);
		}
		if (le)
			admin_buf_printf(b, "%sle=\"%s\"", n ? "," : "", le);
		admin_buf_append(b, "}", 1);
	}
	admin_buf_append(b, " ", 1);
}

int prom_sample(struct admin_buf *b, const char *name, const struct prom_label *labels,
		size_t n_labels, double value)
{
	char num[PROM_NUM_MAX];

	if (!metric_name_ok(name) || !labels_ok(labels, n_labels, false))
		return -EINVAL;
	put_series(b, name, "", labels, n_labels, NULL);
	return admin_buf_printf(b, "%s\n", prom_format_double(num, value));
}

int prom_sample_u64(struct admin_buf *b, const char *name, const struct prom_label *labels,
		    size_t n_labels, uint64_t value)
{
	if (!metric_name_ok(name) || !labels_ok(labels, n_labels, false))
		return -EINVAL;
	put_series(b, name, "", labels, n_labels, NULL);
	return admin_buf_printf(b, "%" PRIu64 "\n", value);
}

int prom_histogram(struct admin_buf *b, const char *name, const struct prom_label *labels,
		   size_t n_labels, const double *bounds, const uint64_t *counts, size_t n,
		   double sum)
{
	char num[PROM_NUM_MAX], le[PROM_NUM_MAX];
	uint64_t cum = 0;

	if (!metric_name_ok(name) || !labels_ok(labels, n_labels, true))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isfinite(bounds[i]) || (i && !(bounds[i - 1] < bounds[i])))
			return -EINVAL;
	for (size_t i = 0; i <= n; i++) {
		cum += counts[i];
		put_series(b, name, "_bucket", labels, n_labels,
			   i < n ? prom_format_double(le, bounds[i]) : "+Inf");
		admin_buf_printf(b, "%" PRIu64 "\n", cum);
	}
	put_series(b, name, "_sum", labels, n_labels, NULL);
	admin_buf_printf(b, "%s\n", prom_format_double(num, sum));
	put_series(b, name, "_count", labels, n_labels, NULL);
	return admin_buf_printf(b, "%" PRIu64 "\n", cum);
}
