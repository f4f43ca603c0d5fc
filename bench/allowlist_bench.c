/* SPDX-License-Identifier: MIT */
/*
 * allowlist_bench: the allowlist's minimal perfect hash against the two
 * obvious alternatives, for 10, 1,000 and 100,000 names.
 *
 *   ./build/bench/allowlist_bench [min_ms_per_cell]
 *
 * All three answer the same question the same way: lower-case the query
 * once, look for the exact name, then strip one leftmost label at a time and
 * look for the rest among the "*." suffixes. All three fold the query with
 * hostname_fold() and the open-addressing table uses hostname_hash(), the
 * allowlist's own, so the comparison is between table layouts, not hash
 * functions or name checks. Every run checks its answers (all hits found, no miss
 * found), so a fast wrong baseline cannot win. Each cell is the best of
 * five runs of at least min_ms_per_cell (default 100) milliseconds.
 */
#include "sni/allowlist.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sni/hostname.h"

#define N_QUERIES (1 << 16) /* distinct queries per kind, cycled through */

/* ---- baseline 1: open addressing, linear probing, load <= 1/2 ---- */

struct oa_slot {
	uint64_t h;
	const char *s; /* NULL: empty */
	size_t len;
};

struct oa {
	struct oa_slot *t;
	size_t mask;
};

/*
 * Names are copied into one pool, as allowlist_build() does: pointing at
 * the caller's strings would let the confirming memcmp hit the very bytes
 * the query was just read from, which flatters the baseline.
 */
static void pool_copy(const char *const *names, size_t n, char **copies)
{
	size_t total = 0, off = 0;
	char *pool;

	for (size_t i = 0; i < n; i++)
		total += strlen(names[i]) + 1;
	pool = malloc(total ? total : 1);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]) + 1;

		copies[i] = memcpy(pool + off, names[i], len);
		off += len;
	}
}

static void oa_build(struct oa *o, const char *const *in, size_t n)
{
	char **names = malloc((n ? n : 1) * sizeof(*names));
	size_t cap = 16;

	pool_copy(in, n, names);

	while (cap < n * 2)
		cap <<= 1;
	o->t = calloc(cap, sizeof(*o->t));
	o->mask = cap - 1;
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		uint64_t h = hostname_hash(names[i], len, 0);
		size_t j = h & o->mask;

		while (o->t[j].s)
			j = (j + 1) & o->mask;
		o->t[j] = (struct oa_slot){h, names[i], len};
	}
	free(names);
}

static bool oa_has(const struct oa *o, const char *s, size_t len)
{
	uint64_t h = hostname_hash(s, len, 0);

	for (size_t j = h & o->mask; o->t[j].s; j = (j + 1) & o->mask)
		if (o->t[j].h == h && o->t[j].len == len && !memcmp(o->t[j].s, s, len))
			return true;
	return false;
}

struct oa_list {
	struct oa exact;
	struct oa suffix;
};

static bool oa_match(const struct oa_list *l, const char *name, size_t len)
{
	struct hostname h;

	/* The baselines pay for the same per-byte work as allowlist_match(). */
	if (hostname_fold(name, len, &h) != HOSTNAME_OK)
		return false;
	if (oa_has(&l->exact, h.name, h.len))
		return true;
	for (size_t i = 0; i < h.n_dots; i++)
		if (oa_has(&l->suffix, h.name + h.dot[i] + 1, h.len - h.dot[i] - 1))
			return true;
	return false;
}

/* ---- baseline 2: linear scan ---- */

struct scan {
	const char *const *exact;
	size_t n_exact;
	const char *const *suffix;
	size_t n_suffix;
	size_t *exact_len;
	size_t *suffix_len;
};

static bool scan_match(const struct scan *l, const char *name, size_t len)
{
	struct hostname h;
	const char *key = h.name;

	if (hostname_fold(name, len, &h) != HOSTNAME_OK)
		return false;
	len = h.len;
	for (size_t i = 0; i < l->n_exact; i++)
		if (l->exact_len[i] == len && !memcmp(l->exact[i], key, len))
			return true;
	/* "*.s" matches when the key ends in ".s" with at least one byte before it */
	for (size_t i = 0; i < l->n_suffix; i++) {
		size_t sl = l->suffix_len[i];

		if (len > sl + 1 && key[len - sl - 1] == '.' &&
		    !memcmp(key + len - sl, l->suffix[i], sl))
			return true;
	}
	return false;
}

/* ---- workload ---- */

static uint64_t rng = 42;

static uint64_t next(void)
{
	uint64_t z = (rng += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Names shaped like real ones: a few labels, 10-30 bytes. */
static char *make_name(size_t i, char family)
{
	static const char *const words[] = {"api", "cdn",  "static",  "login", "eu-west-1",
					    "img", "auth", "storage", "prod",  "edge"};
	static const char *const tld[] = {"com", "net", "org", "io", "cloud"};
	char *s = malloc(64);
	uint64_t r = next();

	snprintf(s, 64, "%s.%c%zx%s.%s", words[r % 10], family, i, words[(r >> 8) % 10],
		 tld[(r >> 16) % 5]);
	return s;
}

enum kind { K_HIT, K_MISS, K_WILD, K__COUNT };
static const char *const kind_name[] = {"hit", "miss", "wildcard hit"};

struct workload {
	size_t n;
	char **entries; /* config form: "*.x" for wildcards */
	char **exact;
	char **suffix;
	size_t n_exact, n_suffix;
	char **q[K__COUNT];
	size_t *qlen[K__COUNT];
};

static void workload_init(struct workload *w, size_t n)
{
	memset(w, 0, sizeof(*w));
	w->n = n;
	w->entries = calloc(n, sizeof(char *));
	w->exact = calloc(n, sizeof(char *));
	w->suffix = calloc(n, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		char *s = make_name(i, 'm');

		/* one entry in ten is a wildcard, as in a typical egress policy */
		if (i % 10 == 5 || n == 1) {
			char *e = malloc(strlen(s) + 3);

			sprintf(e, "*.%s", s);
			w->entries[i] = e;
			w->suffix[w->n_suffix++] = s;
		} else {
			w->entries[i] = s;
			w->exact[w->n_exact++] = s;
		}
	}
	for (int k = 0; k < K__COUNT; k++) {
		w->q[k] = calloc(N_QUERIES, sizeof(char *));
		w->qlen[k] = calloc(N_QUERIES, sizeof(size_t));
	}
	for (size_t i = 0; i < N_QUERIES; i++) {
		char *wq = malloc(300);

		/* Hits in random order so a large table is not walked in cache order. */
		w->q[K_HIT][i] = w->exact[next() % w->n_exact];
		w->q[K_MISS][i] = make_name(i, 'z');
		snprintf(wq, 300, "www.%s", w->suffix[next() % w->n_suffix]);
		w->q[K_WILD][i] = wq;
		for (int k = 0; k < K__COUNT; k++)
			w->qlen[k][i] = strlen(w->q[k][i]);
	}
}

/*
 * This thread's CPU time, not wall time: on a shared machine a preempted
 * run would otherwise count the other tenants' time as ours.
 */
static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

enum impl { I_MPH, I_OA, I_SCAN, I__COUNT };
static const char *const impl_name[] = {"perfect hash", "open addressing", "linear scan"};

struct impls {
	struct allowlist *al;
	struct oa_list oa;
	struct scan scan;
};

static bool lookup(const struct impls *x, enum impl i, const char *s, size_t len)
{
	switch (i) {
	case I_MPH:
		return allowlist_match(x->al, s, len);
	case I_OA:
		return oa_match(&x->oa, s, len);
	case I_SCAN:
		return scan_match(&x->scan, s, len);
	case I__COUNT:
		break;
	}
	abort();
}

/* ns per lookup: best of five runs of at least min_ms each; the best is the least disturbed. */
static double measure(const struct impls *x, enum impl i, const struct workload *w, enum kind k,
		      double min_ms)
{
	double best = 1e18;

	for (int rep = 0; rep < 5; rep++) {
		size_t done = 0, found = 0;
		double t0 = now_ns(), t;

		do {
			for (size_t j = 0; j < 256; j++, done++) {
				size_t q = done & (N_QUERIES - 1);

				found += lookup(x, i, w->q[k][q], w->qlen[k][q]);
			}
			t = now_ns() - t0;
		} while (t < min_ms * 1e6);
		if (found != (k == K_MISS ? 0 : done)) {
			fprintf(stderr, "%s, %s: %zu of %zu found: wrong answers\n", impl_name[i],
				kind_name[k], found, done);
			exit(1);
		}
		if (t / (double)done < best)
			best = t / (double)done;
	}
	return best;
}

int main(int argc, char **argv)
{
	static const size_t sizes[] = {10, 1000, 100000};
	double min_ms = argc > 1 ? atof(argv[1]) : 100;

	printf("| names | lookup | perfect hash | open addressing | linear scan |\n");
	printf("|------:|--------|-------------:|----------------:|------------:|\n");
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		struct workload w;
		struct impls x;
		enum allowlist_err err;
		size_t bad;
		double t0, build_ms, oa_ms;
		char **sc_exact, **sc_suffix;

		workload_init(&w, sizes[s]);
		t0 = now_ns();
		x.al = allowlist_build((const char *const *)w.entries, w.n, &err, &bad);
		build_ms = (now_ns() - t0) / 1e6;
		if (!x.al) {
			fprintf(stderr, "build: %s at %zu\n", allowlist_strerror(err), bad);
			return 1;
		}
		t0 = now_ns();
		oa_build(&x.oa.exact, (const char *const *)w.exact, w.n_exact);
		oa_build(&x.oa.suffix, (const char *const *)w.suffix, w.n_suffix);
		oa_ms = (now_ns() - t0) / 1e6;
		sc_exact = malloc(w.n_exact * sizeof(char *));
		sc_suffix = malloc(w.n_suffix * sizeof(char *));
		pool_copy((const char *const *)w.exact, w.n_exact, sc_exact);
		pool_copy((const char *const *)w.suffix, w.n_suffix, sc_suffix);
		x.scan.exact = (const char *const *)sc_exact;
		x.scan.n_exact = w.n_exact;
		x.scan.suffix = (const char *const *)sc_suffix;
		x.scan.n_suffix = w.n_suffix;
		x.scan.exact_len = calloc(w.n_exact, sizeof(size_t));
		x.scan.suffix_len = calloc(w.n_suffix, sizeof(size_t));
		for (size_t i = 0; i < w.n_exact; i++)
			x.scan.exact_len[i] = strlen(w.exact[i]);
		for (size_t i = 0; i < w.n_suffix; i++)
			x.scan.suffix_len[i] = strlen(w.suffix[i]);

		for (int k = 0; k < K__COUNT; k++) {
			printf("| %zu | %s |", w.n, kind_name[k]);
			for (int i = 0; i < I__COUNT; i++)
				printf(" %.1f |",
				       measure(&x, (enum impl)i, &w, (enum kind)k, min_ms));
			printf("\n");
			fflush(stdout);
		}
		fprintf(stderr,
			"%zu names: perfect hash built in %.2f ms, open addressing in %.2f ms\n",
			w.n, build_ms, oa_ms);
		/* The process exits right after; the workload is not freed. */
		allowlist_free(x.al);
	}
	return 0;
}
