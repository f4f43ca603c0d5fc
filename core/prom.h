/* SPDX-License-Identifier: MIT */
/*
 * prom: a writer of the Prometheus text exposition format, version 0.0.4
 * (https://prometheus.io/docs/instrumenting/exposition_formats/), into an
 * admin_buf. One family is written as prom_header() followed by all of its
 * samples, and a family is written only once per scrape.
 *
 * Names are checked, not trusted: a metric name must match
 * [a-zA-Z_:][a-zA-Z0-9_:]*, a label name [a-zA-Z_][a-zA-Z0-9_]* without the
 * reserved "__" prefix, and a counter's name must end in "_total". Label
 * values are escaped (backslash, double quote, line feed), HELP text too
 * (backslash, line feed). Every function returns 0, -EINVAL for a bad name or
 * histogram shape (nothing is written then), or the buffer's sticky error.
 *
 * Numbers: integral values up to 2^63 in magnitude print as integers, so a
 * counter stays exact up to 2^53 (the float64 every scraper parses into) and
 * reads naturally beyond; other values print in the shortest form that
 * strtod() reads back to the same double; NaN, +Inf and -Inf as Prometheus
 * spells them.
 */
#ifndef SNIGATE_PROM_H
#define SNIGATE_PROM_H

#include <stddef.h>
#include <stdint.h>

#include "core/admin.h"

enum prom_type { PROM_COUNTER, PROM_GAUGE, PROM_HISTOGRAM, PROM_UNTYPED };

struct prom_label {
	const char *name;
	const char *value; /* any bytes but NUL; escaped on output */
};

/* "# HELP name help" and "# TYPE name type". */
int prom_header(struct admin_buf *b, const char *name, const char *help, enum prom_type type);

/* One sample: name{labels} value. labels may be NULL when n_labels is 0. */
int prom_sample(struct admin_buf *b, const char *name, const struct prom_label *labels,
		size_t n_labels, double value);
/* The same for a counter kept as an integer: exact whatever its size. */
int prom_sample_u64(struct admin_buf *b, const char *name, const struct prom_label *labels,
		    size_t n_labels, uint64_t value);

/*
 * One histogram series: name_bucket{labels,le="..."} for each bound and
 * +Inf, then name_sum and name_count. bounds[0..n) must be finite and
 * strictly increasing; labels must not include "le".
 *
 * counts[0..n] are NOT cumulative: counts[i] is the number of observations
 * v with bounds[i-1] < v <= bounds[i], and counts[n] those above bounds[n-1].
 * That is what a per-core histogram naturally keeps (one increment per
 * observation, at prom_bucket()) and what sums across cores bucket by bucket.
 * The writer accumulates; _count is the total, so it always equals +Inf.
 */
int prom_histogram(struct admin_buf *b, const char *name, const struct prom_label *labels,
		   size_t n_labels, const double *bounds, const uint64_t *counts, size_t n,
		   double sum);

/* The index in counts[0..n] (see prom_histogram) of the bucket v falls in. */
size_t prom_bucket(const double *bounds, size_t n, double v);

/*
 * v formatted as prom_sample() writes it, into buf (at least PROM_NUM_MAX
 * bytes); returns buf.
 */
#define PROM_NUM_MAX 32
char *prom_format_double(char *buf, double v);

#endif
