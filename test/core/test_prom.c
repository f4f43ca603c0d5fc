/* SPDX-License-Identifier: MIT */
/*
 * prom: the writer's exact output, escaping, names, numbers and histograms;
 * and the strict parser (promparse) against every rule it enforces, one
 * line of a table per rule, so integration tests can trust it on /metrics.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/admin.h"
#include "core/prom.h"
#include "prom_example.h"
#include "promparse.h"

/* b's bytes as a NUL-terminated string (appends the NUL outside len). */
static const char *str(struct admin_buf *b)
{
	admin_buf_append(b, "", 1);
	b->len--;
	return b->p ? b->p : "";
}

static struct promdoc *parse_ok(struct admin_buf *b)
{
	struct promdoc *d;
	char err[256];
	int r = promdoc_parse(b->p, b->len, &d, err, sizeof(err));

	cr_assert_eq(r, 0, "parse failed: %s\n%s", err, str(b));
	return d;
}

/* ---- admin_buf ---- */

Test(admin_buf, grows_and_errors_stick)
{
	struct admin_buf b = {0};
	char big[5000];

	memset(big, 'x', sizeof(big));
	cr_assert_eq(admin_buf_printf(&b, "%d-%s", 42, "a"), 0);
	cr_assert_eq(b.len, 4);
	for (int i = 0; i < 100; i++)
		cr_assert_eq(admin_buf_append(&b, big, sizeof(big)), 0);
	cr_assert_eq(admin_buf_printf(&b, "%.*s", 3000, big), 0);
	cr_assert_eq(b.len, 4 + 100 * sizeof(big) + 3000);
	cr_assert_eq(memcmp(b.p, "42-a", 4), 0);
	cr_assert_geq(b.cap, b.len);
	b.err = -ENOMEM; /* as after a failed realloc */
	size_t len = b.len;
	cr_assert_eq(admin_buf_append(&b, "y", 1), -ENOMEM);
	cr_assert_eq(admin_buf_printf(&b, "y"), -ENOMEM);
	cr_assert_eq(b.len, len, "nothing appended after an error");
	admin_buf_release(&b);
	cr_assert_null(b.p);
	cr_assert_eq(b.err, 0);
}

Test(admin_buf, body_limit)
{
	struct admin_buf b = {0};

	cr_assert_eq(admin_buf_append(&b, "", ADMIN_BODY_MAX + 1ul), -E2BIG);
	cr_assert_eq(b.len, 0);
	cr_assert_eq(admin_buf_printf(&b, "x"), -E2BIG, "sticky");
	admin_buf_release(&b);
}

/* ---- writer ---- */

Test(prom, exact_text)
{
	struct admin_buf b = {0};
	const struct prom_label l[] = {{"decision", "deny"}, {"reason", "not_allowed"}};

	cr_assert_eq(prom_header(&b, "snigate_connections_total", "Connections.", PROM_COUNTER), 0);
	cr_assert_eq(prom_sample_u64(&b, "snigate_connections_total", l, 2, 3), 0);
	cr_assert_eq(prom_header(&b, "snigate_active_connections", "Open now.", PROM_GAUGE), 0);
	cr_assert_eq(prom_sample(&b, "snigate_active_connections", NULL, 0, 2), 0);
	cr_assert_str_eq(str(&b),
			 "# HELP snigate_connections_total Connections.\n"
			 "# TYPE snigate_connections_total counter\n"
			 "snigate_connections_total{decision=\"deny\",reason=\"not_allowed\"} 3\n"
			 "# HELP snigate_active_connections Open now.\n"
			 "# TYPE snigate_active_connections gauge\n"
			 "snigate_active_connections 2\n");
	admin_buf_release(&b);
}

Test(prom, escaping)
{
	struct admin_buf b = {0};
	const char *nasty = "a\\b\"c\nd{}=,é";
	const struct prom_label l[] = {{"sni", nasty}};

	cr_assert_eq(
		prom_header(&b, "x_total", "help with \\ and\nnewline \"quotes\"", PROM_COUNTER),
		0);
	cr_assert_eq(prom_sample(&b, "x_total", l, 1, 1), 0);
	cr_assert_str_eq(str(&b), "# HELP x_total help with \\\\ and\\nnewline \"quotes\"\n"
				  "# TYPE x_total counter\n"
				  "x_total{sni=\"a\\\\b\\\"c\\nd{}=,é\"} 1\n");
	struct promdoc *d = parse_ok(&b);
	cr_assert_str_eq(d->samples[0].labels[0].value, nasty, "round trip through the parser");
	cr_assert_str_eq(d->families[0].help, "help with \\ and\nnewline \"quotes\"");
	promdoc_free(d);
	admin_buf_release(&b);
}

Test(prom, names_are_checked)
{
	struct admin_buf b = {0};
	const struct prom_label reserved[] = {{"__name__", "x"}};
	const struct prom_label twice[] = {{"a", "1"}, {"a", "2"}};
	const struct prom_label digit[] = {{"1a", "x"}};
	const struct prom_label colon[] = {{"a:b", "x"}};
	const struct prom_label le[] = {{"le", "1"}};
	const struct prom_label nullv[] = {{"a", NULL}};
	const double bounds[] = {1, 2}, unsorted[] = {2, 1}, inf[] = {1, INFINITY};
	const uint64_t counts[3] = {0};

	cr_assert_eq(prom_header(&b, "requests", "h", PROM_COUNTER), -EINVAL, "counter w/o _total");
	cr_assert_eq(prom_header(&b, "open_total", "h", PROM_GAUGE), -EINVAL, "gauge with _total");
	cr_assert_eq(prom_header(&b, "9lives", "h", PROM_GAUGE), -EINVAL);
	cr_assert_eq(prom_header(&b, "a-b", "h", PROM_GAUGE), -EINVAL);
	cr_assert_eq(prom_header(&b, "", "h", PROM_GAUGE), -EINVAL);
	cr_assert_eq(prom_header(&b, "ok", NULL, PROM_GAUGE), -EINVAL);
	cr_assert_eq(prom_header(&b, "ok", "h", (enum prom_type)9), -EINVAL);
	cr_assert_eq(prom_sample(&b, "a b", NULL, 0, 1), -EINVAL);
	cr_assert_eq(prom_sample(&b, "x", reserved, 1, 1), -EINVAL);
	cr_assert_eq(prom_sample(&b, "x", twice, 2, 1), -EINVAL);
	cr_assert_eq(prom_sample(&b, "x", digit, 1, 1), -EINVAL);
	cr_assert_eq(prom_sample(&b, "x", colon, 1, 1), -EINVAL, "colons only in metric names");
	cr_assert_eq(prom_sample(&b, "x", nullv, 1, 1), -EINVAL);
	cr_assert_eq(prom_sample_u64(&b, "x", reserved, 1, 1), -EINVAL);
	cr_assert_eq(prom_histogram(&b, "h", le, 1, bounds, counts, 2, 0), -EINVAL);
	cr_assert_eq(prom_histogram(&b, "h", NULL, 0, unsorted, counts, 2, 0), -EINVAL);
	cr_assert_eq(prom_histogram(&b, "h", NULL, 0, inf, counts, 2, 0), -EINVAL);
	cr_assert_eq(b.len, 0, "nothing written for a rejected call");
	cr_assert_eq(prom_sample(&b, "ns:sub_x", NULL, 0, 1), 0, "colons are fine in metric names");
	admin_buf_release(&b);
}

Test(prom, numbers)
{
	char buf[PROM_NUM_MAX];

	cr_assert_str_eq(prom_format_double(buf, 0), "0");
	cr_assert_str_eq(prom_format_double(buf, -0.0), "0");
	cr_assert_str_eq(prom_format_double(buf, 1), "1");
	cr_assert_str_eq(prom_format_double(buf, -3), "-3");
	cr_assert_str_eq(prom_format_double(buf, 0.1), "0.1");
	cr_assert_str_eq(prom_format_double(buf, 0.1 + 0.2), "0.30000000000000004");
	cr_assert_str_eq(prom_format_double(buf, 1e-9), "1e-09");
	cr_assert_str_eq(prom_format_double(buf, 9007199254740992.0), "9007199254740992", "2^53");
	cr_assert_str_eq(prom_format_double(buf, 1e18), "1000000000000000000");
	cr_assert_str_eq(prom_format_double(buf, 1e300), "1e+300");
	cr_assert_str_eq(prom_format_double(buf, NAN), "NaN");
	cr_assert_str_eq(prom_format_double(buf, INFINITY), "+Inf");
	cr_assert_str_eq(prom_format_double(buf, -INFINITY), "-Inf");

	/* Every double reads back bit for bit; integers below 2^53 print as integers. */
	uint64_t s = 88172645463325252ULL;
	for (int i = 0; i < 200000; i++) {
		double v;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		memcpy(&v, &s, sizeof(v));
		if (isnan(v))
			continue;
		prom_format_double(buf, v);
		cr_assert_eq(strtod(buf, NULL), v, "%s", buf);
		double n = (double)(s >> 11); /* an integer below 2^53 */
		prom_format_double(buf, n);
		cr_assert_eq(strtoull(buf, NULL, 10), s >> 11, "%s", buf);
		cr_assert_null(strpbrk(buf, ".e"), "%s", buf);
	}

	struct admin_buf b = {0};
	cr_assert_eq(prom_sample_u64(&b, "big", NULL, 0, UINT64_MAX), 0);
	cr_assert_str_eq(str(&b), "big 18446744073709551615\n", "u64 exact");
	admin_buf_release(&b);
}

Test(prom, histogram)
{
	struct admin_buf b = {0};
	const double bounds[] = {0.005, 0.1, 1};
	const uint64_t counts[] = {2, 0, 5, 1}; /* per bucket, not cumulative */
	const struct prom_label l[] = {{"listener", "a"}};

	cr_assert_eq(prom_header(&b, "lat_seconds", "Latency.", PROM_HISTOGRAM), 0);
	cr_assert_eq(prom_histogram(&b, "lat_seconds", l, 1, bounds, counts, 3, 2.5), 0);
	cr_assert_str_eq(str(&b), "# HELP lat_seconds Latency.\n"
				  "# TYPE lat_seconds histogram\n"
				  "lat_seconds_bucket{listener=\"a\",le=\"0.005\"} 2\n"
				  "lat_seconds_bucket{listener=\"a\",le=\"0.1\"} 2\n"
				  "lat_seconds_bucket{listener=\"a\",le=\"1\"} 7\n"
				  "lat_seconds_bucket{listener=\"a\",le=\"+Inf\"} 8\n"
				  "lat_seconds_sum{listener=\"a\"} 2.5\n"
				  "lat_seconds_count{listener=\"a\"} 8\n");
	struct promdoc *d = parse_ok(&b);
	double v;
	cr_assert(promdoc_value(d, "lat_seconds_bucket", "listener=\"a\",le=\"1\"", &v));
	cr_assert_eq(v, 7);
	cr_assert(promdoc_value(d, "lat_seconds_count", "listener=\"a\"", &v));
	cr_assert_eq(v, 8);
	promdoc_free(d);
	admin_buf_release(&b);

	/* No bounds at all: just +Inf. */
	const uint64_t one[] = {4};
	cr_assert_eq(prom_header(&b, "h", "H.", PROM_HISTOGRAM), 0);
	cr_assert_eq(prom_histogram(&b, "h", NULL, 0, NULL, one, 0, 1), 0);
	cr_assert_str_eq(str(&b), "# HELP h H.\n# TYPE h histogram\n"
				  "h_bucket{le=\"+Inf\"} 4\nh_sum 1\nh_count 4\n");
	admin_buf_release(&b);
}

Test(prom, bucket_index)
{
	const double bounds[] = {1, 2, 4};

	cr_assert_eq(prom_bucket(bounds, 3, -5), 0);
	cr_assert_eq(prom_bucket(bounds, 3, 1), 0, "le: the bound itself is inside");
	cr_assert_eq(prom_bucket(bounds, 3, 1.5), 1);
	cr_assert_eq(prom_bucket(bounds, 3, 4), 2);
	cr_assert_eq(prom_bucket(bounds, 3, 4.01), 3, "above all bounds: +Inf only");
	cr_assert_eq(prom_bucket(bounds, 3, NAN), 3);
	cr_assert_eq(prom_bucket(NULL, 0, 7), 0);
}

Test(prom, example_document_parses_strictly)
{
	struct admin_buf b = {0};
	double v;
	size_t m;

	cr_assert_eq(prom_example(&b), 0);
	struct promdoc *d = parse_ok(&b);
	cr_assert_eq(d->n_families, 10);
	const struct promdoc_family *f = promdoc_family(d, "snigate_upstream_connect_seconds");
	cr_assert_not_null(f);
	cr_assert_eq(f->type, PD_HISTOGRAM);
	cr_assert_eq(f->n, 2 * (11 + 2));
	cr_assert(promdoc_value(d, "snigate_connections_total",
				"listener=\"127.0.0.1:8443\",path=\"tls\",decision=\"deny\","
				"reason=\"not_allowed\"",
				&v));
	cr_assert_eq(v, 42);
	cr_assert_not(promdoc_value(d, "snigate_connections_total", "decision=\"deny\"", &v),
		      "value wants the exact label set");
	cr_assert_eq(promdoc_sum(d, "snigate_connections_total", "path=\"tls\"", &m),
		     9007199254740993.0 + 42);
	cr_assert_eq(m, 2);
	cr_assert_eq(promdoc_sum(d, "snigate_connections_total", "", &m), 9007199254740993.0 + 42);
	cr_assert_eq(m, 3);
	cr_assert(promdoc_value(d, "snigate_connections_total",
				"listener=\"odd \\\"name\\\"\\\\with\\nnewline\",path=\"connect\","
				"decision=\"would_deny\",reason=\"not_allowed\"",
				&v));
	cr_assert(promdoc_value(d, "snigate_dns_cache_ratio", "", &v));
	cr_assert(isnan(v));
	cr_assert(promdoc_value(d, "snigate_upstream_connect_seconds_bucket",
				"family=\"ipv4\",le=\"+Inf\"", &v));
	cr_assert_eq(v, 34);
	cr_assert(promdoc_value(d, "snigate_config_last_reload_success_timestamp_seconds", "", &v));
	cr_assert_eq(v, 1795867200.125);
	promdoc_free(d);
	admin_buf_release(&b);
}

/* ---- the parser, case by case ---- */

#define H(n, t) "# HELP " n " h\n# TYPE " n " " t "\n"

struct pcase {
	const char *doc;
	const char *why; /* a substring of the error; NULL: must parse */
};

static const struct pcase good[] = {
	{"", NULL},
	{"\n\n", NULL},
	{"# just a comment\n" H("a", "gauge") "a 1\n", NULL},
	{H("a", "gauge"), NULL}, /* a family with no samples */
	{"# TYPE a gauge\n# HELP a h\na 1\n", NULL},
	{H("a", "gauge") "a{x=\"1\",} 1\n", NULL},
	{H("a", "gauge") "a{} 1\n", NULL},
	{H("a", "gauge") "a 1 1700000000000\n", NULL},
	{H("a", "gauge") "a -1 -5\n", NULL},
	{H("a", "gauge") "a\t1.5e-3\n", NULL},
	{H("a", "gauge") "a +Inf\na{b=\"c\"} -Inf\na{b=\"d\"} NaN\na{b=\"e\"} Inf\n", NULL},
	{H("a", "gauge") "a .5\na{x=\"y\"} 5.\n", NULL},
	{H("ns:a", "untyped") "ns:a 1\n", NULL},
	{"# HELP a\n# TYPE a gauge\na 1\n", NULL}, /* an empty HELP */
	{H("s", "summary") "s{quantile=\"0.5\"} 1\ns{quantile=\"1\"} 2\ns_sum 3\ns_count 2\n",
	 NULL},
	{H("h", "histogram") "h_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n", NULL},
	{H("h", "histogram") "h_count 3\nh_bucket{le=\"1e1\"} 1\nh_sum 1\nh_bucket{le=\"+Inf\"} 3\n"
			     "h_bucket{le=\"2\"} 1\n",
	 NULL}, /* any order inside the family; le compared as numbers */
	{H("h",
	   "histogram") "h_bucket{a=\"1\",le=\"+Inf\"} 1\nh_sum{a=\"1\"} 1\nh_count{a=\"1\"} 1\n"
			"h_bucket{a=\"2\",le=\"+Inf\"} 2\nh_sum{a=\"2\"} 1\nh_count{a=\"2\"} 2\n",
	 NULL},
};

static const struct pcase bad[] = {
	/* lines */
	{H("a", "gauge") "a 1", "line feed"},
	{H("a", "gauge") "a 1\r\n", "carriage return"},
	{"#  HELP a h\n", "exactly"},
	{"# HELP 1a h\n", "bad metric name"},
	{"# TYPE a gauge extra\n", "unknown type"},
	{"# TYPE a gauges\n", "unknown type"},
	{"# TYPE a\n", "without a type"},
	{"# HELP a bad \\t escape\n# TYPE a gauge\n", "escape in HELP"},
	{H("a", "gauge") " a 1\n", "bad metric name"},
	{H("a", "gauge") "a{x=\"1\"}1\n", "blank before the value"},
	{H("a", "gauge") "a\n", "blank before the value"},
	{H("a", "gauge") "a one\n", "not a number"},
	{H("a", "gauge") "a 0x10\n", "not a number"},
	{H("a", "gauge") "a nan\n", "not a number"},
	{H("a", "gauge") "a infinity\n", "not a number"},
	{H("a", "gauge") "a 1e\n", "not a number"},
	{H("a", "gauge") "a 1 12.5\n", "junk"},
	{H("a", "gauge") "a 1 2 3\n", "junk"},
	/* labels */
	{H("a", "gauge") "a{x=1} 1\n", "label=\"value\""},
	{H("a", "gauge") "a{x=\"1\" y=\"2\"} 1\n", "want , or }"},
	{H("a", "gauge") "a{x=\"1} 1\n", "unterminated"},
	{H("a", "gauge") "a{x=\"\\t\"} 1\n", "bad escape"},
	{H("a", "gauge") "a{x=\"\xc3\x28\"} 1\n", "UTF-8"},
	{H("a", "gauge") "a{x=\"\xed\xa0\x80\"} 1\n", "UTF-8"}, /* a surrogate */
	{H("a", "gauge") "a{1x=\"1\"} 1\n", "bad label name"},
	{H("a", "gauge") "a{x:y=\"1\"} 1\n", "label=\"value\""},
	{H("a", "gauge") "a{__x=\"1\"} 1\n", "reserved"},
	{H("a", "gauge") "a{x=\"1\",x=\"2\"} 1\n", "twice"},
	{H("a", "gauge") "a{x=\"1\",,} 1\n", "bad label name"},
	/* families */
	{"a 1\n", "no # TYPE"},
	{"# HELP a h\na 1\n", "no # TYPE"},
	{"# TYPE a gauge\na 1\n", "no # HELP"},
	{"# HELP a h\n", "no # TYPE"},
	{H("a", "gauge") "a 1\n" H("b", "gauge") "b 1\na 2\n", "not in one block"},
	{H("a", "gauge") "a 1\n" H("b", "gauge") H("a", "gauge"), "written twice"},
	{H("a", "gauge") "a 1\n# HELP a again\n", "second # HELP"},
	{H("a", "gauge") "# TYPE a gauge\n", "second # TYPE"},
	{"# HELP a h\na 1\n# TYPE a gauge\n", "no # TYPE"},
	{H("a", "gauge") "b 1\n", "no # TYPE"},
	{H("a", "gauge") "a 1\na 2\n", "repeated"},
	{H("a", "gauge") "a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\n", "repeated"},
	/* names */
	{H("requests", "counter") "requests 1\n", "_total"},
	{H("open_total", "gauge") "open_total 1\n", "_total"},
	{H("queue_count", "gauge") "queue_count 1\n", "suffix"},
	{H("fooBar", "gauge") "fooBar 1\n", "snake_case"},
	{H("a_total", "counter") "a_total -1\n", "negative"},
	{H("a_total", "counter") "a_total NaN\n", "negative"},
	/* histograms */
	{H("h", "histogram") "h 1\n", "no # TYPE"},
	{H("h", "histogram") "h_bucket 1\nh_sum 1\nh_count 1\n", "le missing"},
	{H("h", "histogram") "h_bucket{le=\"x\"} 1\n", "le missing"},
	{H("h", "histogram") "h_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "+Inf"},
	{H("h", "histogram") "h_bucket{le=\"+Inf\"} 1\nh_sum 1\n", "_count"},
	{H("h", "histogram") "h_bucket{le=\"+Inf\"} 1\nh_count 1\n", "_sum"},
	{H("h", "histogram") "h_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 4\nh_sum 1\nh_count 4\n",
	 "falls"},
	{H("h", "histogram") "h_bucket{le=\"+Inf\"} 4\nh_sum 1\nh_count 5\n", "_count is not"},
	{H("h",
	   "histogram") "h_bucket{le=\"1\"} 1\nh_bucket{le=\"1.0\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
			"h_sum 1\nh_count 1\n",
	 "one le"},
	{H("h", "histogram") "h_bucket{le=\"+Inf\"} -1\nh_sum 1\nh_count -1\n", ">= 0"},
	{H("h", "histogram") "h_bucket{le=\"+Inf\"} 1\nh_sum{le=\"1\"} 1\nh_count 1\n", "le on"},
	{H("h",
	   "histogram") "h_bucket{a=\"1\",le=\"+Inf\"} 1\nh_sum{a=\"1\"} 1\nh_count{a=\"1\"} 1\n"
			"h_sum{a=\"2\"} 1\nh_count{a=\"2\"} 1\n",
	 "+Inf"},
	{H("s", "summary") "s 1\ns_sum 1\ns_count 1\n", "quantile"},
	{H("s", "summary") "s{quantile=\"2\"} 1\ns_sum 1\ns_count 1\n", "quantile"},
	{H("s", "summary") "s{quantile=\"0.5\"} 1\ns_count 1\n", "_sum or _count"},
};

Test(promparse, accepts_good)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct promdoc *d;
		char err[256];
		int r = promdoc_parse(good[i].doc, strlen(good[i].doc), &d, err, sizeof(err));

		cr_assert_eq(r, 0, "good[%zu] rejected: %s\n%s", i, err, good[i].doc);
		promdoc_free(d);
	}
}

Test(promparse, rejects_bad)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct promdoc *d = (struct promdoc *)1;
		char err[256];
		int r = promdoc_parse(bad[i].doc, strlen(bad[i].doc), &d, err, sizeof(err));

		cr_assert_eq(r, -EINVAL, "bad[%zu] accepted:\n%s", i, bad[i].doc);
		cr_assert_null(d);
		cr_assert(strstr(err, bad[i].why), "bad[%zu]: error \"%s\" lacks \"%s\"\n%s", i,
			  err, bad[i].why, bad[i].doc);
	}
}

Test(promparse, nul_and_line_numbers)
{
	static const char doc[] = H("a", "gauge") "a 1\na{x=\"\\q\"} 1\n";
	struct promdoc *d;
	char err[256];

	cr_assert_eq(promdoc_parse("a\0b\n", 4, &d, err, sizeof(err)), -EINVAL);
	cr_assert(strstr(err, "NUL"));
	cr_assert_eq(promdoc_parse(doc, strlen(doc), &d, err, sizeof(err)), -EINVAL);
	cr_assert(!strncmp(err, "line 4: ", 8), "%s", err);
}

Test(promparse, selectors)
{
	static const char doc[] = H("a", "gauge") "a{x=\"1\",y=\"2\"} 3\na{x=\"1\",y=\"3\"} 4\n";
	struct promdoc *d;
	char err[256];
	double v;
	size_t m;

	cr_assert_eq(promdoc_parse(doc, strlen(doc), &d, err, sizeof(err)), 0, "%s", err);
	cr_assert(promdoc_value(d, "a", "y=\"3\",x=\"1\"", &v), "label order does not matter");
	cr_assert_eq(v, 4);
	cr_assert_not(promdoc_value(d, "a", "x=\"1\"", &v));
	cr_assert_not(promdoc_value(d, "a", "x=1", &v), "a bad selector matches nothing");
	cr_assert_not(promdoc_value(d, "b", "", &v));
	cr_assert_eq(promdoc_sum(d, "a", "x=\"1\"", &m), 7);
	cr_assert_eq(m, 2);
	cr_assert_eq(promdoc_sum(d, "a", "x=\"2\"", &m), 0);
	cr_assert_eq(m, 0);
	promdoc_free(d);
}
