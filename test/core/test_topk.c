/* SPDX-License-Identifier: MIT */
/*
 * topk: exact while the names fit, heavy hitters found in a spray of random
 * names within the stated error bounds, fixed memory, merging.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/topk.h"

static void add_str(struct topk *t, const char *s)
{
	topk_add(t, s, strlen(s));
}

/* The item called name in it[0..n), or NULL. */
static const struct topk_item *find(const struct topk_item *it, unsigned n, const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (!strcmp(it[i].name, name))
			return &it[i];
	return NULL;
}

/* A deterministic generator, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

Test(topk, bad_k)
{
	errno = 0;
	cr_assert_null(topk_new(0));
	cr_assert_eq(errno, EINVAL);
	cr_assert_null(topk_new(TOPK_MAX_K + 1));
	struct topk *t = topk_new(TOPK_MAX_K);
	cr_assert_not_null(t);
	topk_free(t);
	topk_free(NULL);
}

Test(topk, exact_when_names_fit)
{
	struct topk *t = topk_new(16);
	struct topk_item it[16];
	char name[32];

	/* name i is added i times: 16 names, exactly k. */
	for (int i = 1; i <= 16; i++) {
		snprintf(name, sizeof(name), "host%02d.example", i);
		for (int j = 0; j < i; j++)
			add_str(t, name);
	}
	unsigned n = topk_list(t, it, 16);
	cr_assert_eq(n, 16);
	for (unsigned i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "host%02u.example", 16 - i);
		cr_assert_str_eq(it[i].name, name, "sorted by count, most first");
		cr_assert_eq(it[i].count, 16 - i);
		cr_assert_eq(it[i].err, 0, "exact while distinct names <= k");
		cr_assert_eq(it[i].len, strlen(name));
	}
	cr_assert_eq(topk_total(t), 16 * 17 / 2);
	cr_assert_eq(topk_list(t, it, 3), 3, "max caps the copy");
	cr_assert_str_eq(it[0].name, "host16.example");
	topk_free(t);
}

Test(topk, names_are_bytes_and_capped)
{
	struct topk *t = topk_new(4);
	struct topk_item it[4];
	char long_name[400];

	memset(long_name, 'a', sizeof(long_name));
	topk_add(t, long_name, sizeof(long_name));
	topk_add(t, long_name, TOPK_NAME_MAX); /* the same once cut */
	topk_add(t, "A.example", 9);
	topk_add(t, "a.example", 9); /* case matters: the caller normalises */
	topk_add(t, "x\0y", 3);
	cr_assert_eq(topk_list(t, it, 4), 4);
	cr_assert_eq(it[0].len, TOPK_NAME_MAX);
	cr_assert_eq(it[0].count, 2);
	cr_assert_eq(strlen(it[0].name), TOPK_NAME_MAX, "NUL-terminated");
	const struct topk_item *bin = NULL;
	for (int i = 0; i < 4; i++)
		if (it[i].len == 3)
			bin = &it[i];
	cr_assert_not_null(bin);
	cr_assert_eq(memcmp(bin->name, "x\0y", 3), 0);
	topk_free(t);
}

/* 100,000 adds: a few hot names among random ones, as an attacker's spray would be. */
#define SPRAY	 100000
#define HOT	 5
#define HOT_EACH 2000

Test(topk, heavy_hitters_in_a_spray)
{
	struct topk *t = topk_new(64);
	size_t bytes = topk_bytes(t);
	uint64_t truth[HOT] = {0};
	struct topk_item it[64];
	char name[64];

	for (int i = 0; i < SPRAY; i++) {
		uint64_t r = rng();

		/* One add in ten goes to a hot name; the rest are (nearly all) distinct. */
		if (r % 10 == 0) {
			unsigned h = (unsigned)(r >> 32) % HOT;

			snprintf(name, sizeof(name), "hot%u.attacker.example", h);
			truth[h]++;
		} else {
			snprintf(name, sizeof(name), "%016llx.random.example",
				 (unsigned long long)rng());
		}
		add_str(t, name);
		if (i % 10000 == 0)
			cr_assert_eq(topk_bytes(t), bytes, "memory fixed at creation");
	}
	cr_assert_eq(topk_bytes(t), bytes);
	cr_assert_eq(topk_total(t), SPRAY);

	unsigned n = topk_list(t, it, 64);
	cr_assert_eq(n, 64);
	for (unsigned h = 0; h < HOT; h++) {
		snprintf(name, sizeof(name), "hot%u.attacker.example", h);
		const struct topk_item *x = find(it, n, name);

		cr_assert_not_null(x, "%s (true count %llu) is monitored", name,
				   (unsigned long long)truth[h]);
		cr_assert_geq(x->count, truth[h], "%s: count is an upper bound", name);
		cr_assert_leq(x->count - x->err, truth[h], "%s: count - err is a lower bound",
			      name);
		cr_assert_leq(x->err, SPRAY / 64, "err <= total / k");
	}
	/* The hot names are the top five. */
	for (unsigned i = 0; i < HOT; i++)
		cr_assert_eq(strncmp(it[i].name, "hot", 3), 0, "rank %u is %s", i, it[i].name);
	topk_free(t);
}

Test(topk, bytes_do_not_depend_on_names)
{
	struct topk *t = topk_new(TOPK_MAX_K);
	size_t bytes = topk_bytes(t);
	char name[300];

	cr_assert_lt(bytes, 512 * 1024, "the largest table is a few hundred KiB");
	for (int i = 0; i < SPRAY; i++) {
		size_t pad = (size_t)(rng() % 230);
		int len = snprintf(name, sizeof(name), "%llx", (unsigned long long)rng());

		/* Names up to about 250 bytes, as long as a denied SNI can be. */
		memset(name + len, 'z', pad);
		topk_add(t, name, (size_t)len + pad);
	}
	cr_assert_eq(topk_bytes(t), bytes);
	cr_assert_eq(topk_total(t), SPRAY);
	topk_free(t);
}

Test(topk, merge_sums_equal_names)
{
	struct topk *a = topk_new(8), *b = topk_new(8);
	struct topk_item it[8];

	for (int i = 0; i < 5; i++)
		add_str(a, "one.example");
	for (int i = 0; i < 3; i++)
		add_str(a, "two.example");
	for (int i = 0; i < 4; i++)
		add_str(b, "two.example");
	add_str(b, "three.example");
	topk_merge(a, b);
	cr_assert_eq(topk_total(a), 13);
	cr_assert_eq(topk_list(a, it, 8), 3);
	cr_assert_str_eq(it[0].name, "two.example");
	cr_assert_eq(it[0].count, 7);
	cr_assert_eq(it[0].err, 0, "neither table was full: exact");
	cr_assert_str_eq(it[1].name, "one.example");
	cr_assert_eq(it[1].count, 5);
	cr_assert_str_eq(it[2].name, "three.example");
	cr_assert_eq(it[2].count, 1);
	/* b is untouched, and a goes on counting. */
	cr_assert_eq(topk_total(b), 5);
	add_str(a, "three.example");
	cr_assert_eq(topk_list(a, it, 8), 3);
	cr_assert_eq(find(it, 3, "three.example")->count, 2);
	topk_free(a);
	topk_free(b);
}

/* Per-thread tables merged for /denied: the bounds hold against the true totals. */
Test(topk, merge_of_full_tables_keeps_bounds)
{
	enum { THREADS = 4, K = 32 };
	struct topk *per[THREADS], *sum = topk_new(K);
	uint64_t truth[HOT] = {0};
	struct topk_item it[K];
	char name[64];

	for (int t = 0; t < THREADS; t++)
		per[t] = topk_new(K);
	for (int i = 0; i < SPRAY; i++) {
		uint64_t r = rng();
		int t = (int)(r % THREADS);

		if ((r >> 8) % 8 == 0) {
			unsigned h = (unsigned)(r >> 32) % HOT;

			snprintf(name, sizeof(name), "hot%u.example", h);
			truth[h]++;
		} else {
			snprintf(name, sizeof(name), "%llx.example", (unsigned long long)rng());
		}
		add_str(per[t], name);
	}
	size_t bytes = topk_bytes(sum);
	for (int t = 0; t < THREADS; t++)
		topk_merge(sum, per[t]);
	cr_assert_eq(topk_bytes(sum), bytes);
	cr_assert_eq(topk_total(sum), SPRAY);
	unsigned n = topk_list(sum, it, K);
	cr_assert_eq(n, K);
	for (unsigned h = 0; h < HOT; h++) {
		snprintf(name, sizeof(name), "hot%u.example", h);
		const struct topk_item *x = find(it, n, name);

		cr_assert_not_null(x, "%s survives the merge", name);
		cr_assert_geq(x->count, truth[h], "%s: %llu >= true %llu", name,
			      (unsigned long long)x->count, (unsigned long long)truth[h]);
		cr_assert_leq(x->count - x->err, truth[h], "%s: lower bound", name);
		/* The documented bound: the sum of each table's total / k. */
		cr_assert_leq(x->err, SPRAY / K, "%s: err %llu", name, (unsigned long long)x->err);
	}
	for (int t = 0; t < THREADS; t++)
		topk_free(per[t]);
	topk_free(sum);
}
