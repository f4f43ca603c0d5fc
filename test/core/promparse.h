/* SPDX-License-Identifier: MIT */
/*
 * promparse: a STRICT parser of the Prometheus text exposition format 0.0.4,
 * for tests. It accepts what Prometheus' own parser accepts, minus what a
 * well-behaved exporter never writes, plus promtool's naming lints, so a
 * document it accepts scrapes cleanly and lints cleanly. It rejects:
 *
 *  - a line that does not parse: bad metric or label names, a label value
 *    with an escape other than \\ \" \n or invalid UTF-8, a HELP text with an
 *    escape other than \\ \n, a value that is not a number (NaN, +Inf, -Inf
 *    and Inf are numbers), a CR or NUL anywhere, a last line without LF;
 *  - a sample whose family has no # TYPE before it, a TYPE after samples, a
 *    family without # HELP, a family (HELP or TYPE or samples) written twice
 *    or not in one block, the same series (name and label set) twice, one
 *    label twice in a sample, a reserved "__" label name;
 *  - naming: a counter not ending in _total, anything else ending in _total,
 *    a gauge or untyped name ending in _bucket, _sum or _count, an upper-case
 *    letter in a metric name (promtool wants snake_case);
 *  - histograms: a _bucket without le or le not a number, two buckets with
 *    one le, a series without a +Inf bucket, _sum or _count, cumulative
 *    counts that fall as le grows, _count != the +Inf bucket, a negative
 *    count; summaries: quantile missing or outside [0, 1], _sum or _count
 *    missing; counters: a negative or NaN value.
 */
#ifndef SNIGATE_TEST_PROMPARSE_H
#define SNIGATE_TEST_PROMPARSE_H

#include <stdbool.h>
#include <stddef.h>

enum promdoc_type { PD_COUNTER, PD_GAUGE, PD_HISTOGRAM, PD_SUMMARY, PD_UNTYPED };

struct promdoc_label {
	char *name;
	char *value; /* unescaped */
};

struct promdoc_sample {
	char *name;		      /* as written: foo_total, foo_bucket, foo_sum ... */
	struct promdoc_label *labels; /* sorted by name */
	size_t n_labels;
	double value;
	unsigned family; /* index into promdoc.families */
	unsigned line;	 /* 1-based */
};

struct promdoc_family {
	char *name;
	char *help; /* unescaped */
	enum promdoc_type type;
	size_t first, n; /* its samples: samples[first .. first + n) */
	unsigned line;	 /* where it starts */
};

struct promdoc {
	struct promdoc_family *families;
	size_t n_families;
	struct promdoc_sample *samples;
	size_t n_samples;
};

/*
 * Parse text[0..len). Returns 0 with *out set (free it with promdoc_free),
 * or -EINVAL with "line N: what is wrong" in err (and *out NULL), or -ENOMEM.
 */
int promdoc_parse(const char *text, size_t len, struct promdoc **out, char *err, size_t errlen);
void promdoc_free(struct promdoc *d);

/* The family called name, or NULL. */
const struct promdoc_family *promdoc_family(const struct promdoc *d, const char *name);

/*
 * Label selectors are written as inside the braces: `a="x",b="y"`, or "" for
 * none (the same escapes apply).
 *
 * promdoc_value: the sample called name whose label set is exactly sel;
 * false if there is none (or sel does not parse).
 */
bool promdoc_value(const struct promdoc *d, const char *name, const char *sel, double *v);
/*
 * The sum of the samples called name whose labels include all of sel's;
 * *matched (may be NULL) gets how many there were.
 */
double promdoc_sum(const struct promdoc *d, const char *name, const char *sel, size_t *matched);

#endif
