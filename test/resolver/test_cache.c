/* SPDX-License-Identifier: MIT */
/*
 * The resolver's cache on its own, with a clock the test moves: TTL floor
 * and ceiling, negative and error lifetimes, prefetch window, stale-if-error
 * and the LRU bound, which holds even while every entry has a query in flight.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "resolver/cache.h"

static struct resolver_answer one_addr(uint8_t last)
{
	struct resolver_answer a = {.n = 1};
	a.a[0].family = AF_INET;
	a.a[0].addr[0] = 192;
	a.a[0].addr[1] = 0;
	a.a[0].addr[2] = 2;
	a.a[0].addr[3] = last;
	return a;
}

static int evicted;

static void on_evict(void *ctx, struct rcache_entry *e)
{
	(void)ctx;
	evicted++;
	e->inflight = NULL;
}

static struct rcache *make(unsigned size, bool prefetch)
{
	struct rcache_opts o = {.size = size,
				.min_ttl_s = 5,
				.max_ttl_s = 300,
				.neg_ttl_s = 10,
				.err_ttl_s = 2,
				.stale_s = 60,
				.prefetch = prefetch,
				.evict = on_evict};
	struct rcache *c;
	cr_assert_eq(rcache_new(&c, &o), 0);
	evicted = 0;
	return c;
}

static struct rcache_entry *put(struct rcache *c, const char *name)
{
	struct rcache_entry *e = rcache_insert(c, name, strlen(name));
	cr_assert_not_null(e);
	return e;
}

Test(cache, new_entry_is_a_miss)
{
	struct rcache *c = make(8, false);
	struct rcache_entry *e = put(c, "a.test");
	cr_assert_eq(rcache_get(c, e, 1000), RC_MISS);
	cr_assert_eq(rcache_find(c, "a.test", 6), e);
	cr_assert_null(rcache_find(c, "b.test", 6));
	rcache_free(c);
}

Test(cache, ttl_is_clamped_to_floor_and_ceiling)
{
	struct rcache *c = make(8, false);
	struct resolver_answer a = one_addr(1);
	struct rcache_entry *e = put(c, "a.test");

	rcache_store(c, e, RESOLVER_OK, &a, 1, 1000); /* TTL 1 s, floor 5 s */
	cr_assert_eq(rcache_get(c, e, 5999), RC_HIT);
	cr_assert_eq(rcache_get(c, e, 6000), RC_MISS);

	rcache_store(c, e, RESOLVER_OK, &a, 86400, 10000); /* a day, ceiling 300 s */
	cr_assert_eq(rcache_get(c, e, 10000 + 299999), RC_HIT);
	cr_assert_eq(rcache_get(c, e, 10000 + 300000), RC_MISS);

	rcache_store(c, e, RESOLVER_OK, &a, 42, 0);
	cr_assert_eq(rcache_get(c, e, 41999), RC_HIT);
	cr_assert_eq(rcache_get(c, e, 42000), RC_MISS);
	rcache_free(c);
}

Test(cache, negative_and_error_lifetimes)
{
	struct rcache *c = make(8, false);
	struct rcache_entry *nx = put(c, "nx.test"), *nd = put(c, "nd.test"),
			    *sf = put(c, "sf.test");

	rcache_store(c, nx, RESOLVER_NXDOMAIN, NULL, 0, 1000);
	rcache_store(c, nd, RESOLVER_NODATA, NULL, 0, 1000);
	rcache_store(c, sf, RESOLVER_ERROR, NULL, 0, 1000);
	cr_assert_eq(rcache_get(c, nx, 10999), RC_HIT);
	cr_assert_eq(nx->st, RESOLVER_NXDOMAIN);
	cr_assert_eq(rcache_get(c, nx, 11000), RC_MISS);
	cr_assert_eq(rcache_get(c, nd, 10999), RC_HIT);
	cr_assert_eq(nd->st, RESOLVER_NODATA);
	/* SERVFAIL is remembered for err_ttl (2 s), not for a millisecond. */
	cr_assert_eq(rcache_get(c, sf, 1001), RC_HIT);
	cr_assert_eq(rcache_get(c, sf, 2999), RC_HIT);
	cr_assert_eq(sf->st, RESOLVER_ERROR);
	cr_assert_eq(rcache_get(c, sf, 3000), RC_MISS);
	rcache_free(c);
}

Test(cache, error_ttl_zero_is_one_second)
{
	struct rcache_opts o = {.size = 4, .max_ttl_s = 300};
	struct rcache *c;
	cr_assert_eq(rcache_new(&c, &o), 0);
	struct rcache_entry *e = put(c, "sf.test");
	rcache_store(c, e, RESOLVER_ERROR, NULL, 0, 1000);
	cr_assert_eq(rcache_get(c, e, 1999), RC_HIT);
	cr_assert_eq(rcache_get(c, e, 2000), RC_MISS);
	rcache_free(c);
}

Test(cache, prefetch_in_the_last_tenth)
{
	struct rcache *c = make(8, true);
	struct resolver_answer a = one_addr(1);
	struct rcache_entry *e = put(c, "a.test");
	int q = 0;

	rcache_store(c, e, RESOLVER_OK, &a, 100, 0);
	cr_assert_eq(rcache_get(c, e, 89999), RC_HIT);
	cr_assert_eq(rcache_get(c, e, 90000), RC_HIT_REFRESH);
	e->inflight = &q; /* the owner started the refresh */
	cr_assert_eq(rcache_get(c, e, 95000), RC_HIT, "one refresh at a time");
	/* The refresh answers: a new lifetime, no refresh wanted. */
	e->inflight = NULL;
	struct resolver_answer b = one_addr(2);
	rcache_store(c, e, RESOLVER_OK, &b, 100, 95000);
	cr_assert_eq(rcache_get(c, e, 96000), RC_HIT);
	cr_assert_eq(e->ans.a[0].addr[3], 2);

	/* Negative answers are not prefetched. */
	struct rcache_entry *nx = put(c, "nx.test");
	rcache_store(c, nx, RESOLVER_NXDOMAIN, NULL, 0, 0);
	cr_assert_eq(rcache_get(c, nx, 9999), RC_HIT);
	rcache_free(c);
}

Test(cache, no_prefetch_when_off)
{
	struct rcache *c = make(8, false);
	struct resolver_answer a = one_addr(1);
	struct rcache_entry *e = put(c, "a.test");
	rcache_store(c, e, RESOLVER_OK, &a, 100, 0);
	cr_assert_eq(rcache_get(c, e, 99999), RC_HIT);
	rcache_free(c);
}

Test(cache, stale_if_error)
{
	struct rcache *c = make(8, false);
	struct resolver_answer a = one_addr(7);
	struct rcache_entry *e = put(c, "a.test");

	rcache_store(c, e, RESOLVER_OK, &a, 10, 0); /* fresh until 10 s, stale until 70 s */
	cr_assert_eq(rcache_get(c, e, 10000), RC_MISS, "expired: the first caller waits");
	/* That refresh fails: the good answer stands in for it. */
	cr_assert(rcache_store(c, e, RESOLVER_ERROR, NULL, 0, 10500));
	cr_assert_eq(e->st, RESOLVER_OK);
	cr_assert_eq(e->ans.a[0].addr[3], 7);
	/* Served stale for err_ttl without asking... */
	cr_assert_eq(rcache_get(c, e, 12499), RC_STALE);
	/* ...then served stale at once while a refresh runs in the background. */
	cr_assert_eq(rcache_get(c, e, 12500), RC_STALE_REFRESH);
	int q;
	e->inflight = &q;
	cr_assert_eq(rcache_get(c, e, 13000), RC_STALE);
	e->inflight = NULL;
	cr_assert(rcache_store(c, e, RESOLVER_ERROR, NULL, 0, 13000));
	/* Past the grace period: the failure is the answer. */
	cr_assert_eq(rcache_get(c, e, 69999), RC_STALE_REFRESH);
	cr_assert_eq(rcache_get(c, e, 70000), RC_MISS);
	cr_assert(!rcache_store(c, e, RESOLVER_ERROR, NULL, 0, 70000));
	cr_assert_eq(e->st, RESOLVER_ERROR);
	cr_assert_eq(rcache_get(c, e, 70001), RC_HIT);
	rcache_free(c);
}

Test(cache, stale_ends_with_a_good_answer_or_nxdomain)
{
	struct rcache *c = make(8, false);
	struct resolver_answer a = one_addr(7), b = one_addr(8);
	struct rcache_entry *e = put(c, "a.test");

	rcache_store(c, e, RESOLVER_OK, &a, 10, 0);
	cr_assert(rcache_store(c, e, RESOLVER_ERROR, NULL, 0, 11000));
	rcache_store(c, e, RESOLVER_OK, &b, 10, 14000);
	cr_assert_eq(rcache_get(c, e, 15000), RC_HIT);
	cr_assert_eq(e->ans.a[0].addr[3], 8);
	/* NXDOMAIN is an answer, not a failure: no stale after it. */
	rcache_store(c, e, RESOLVER_NXDOMAIN, NULL, 0, 30000);
	cr_assert(!rcache_store(c, e, RESOLVER_ERROR, NULL, 0, 41000));
	cr_assert_eq(e->st, RESOLVER_ERROR);
	rcache_free(c);
}

Test(cache, failed_prefetch_keeps_the_fresh_answer)
{
	struct rcache *c = make(8, true);
	struct resolver_answer a = one_addr(7);
	struct rcache_entry *e = put(c, "a.test");

	rcache_store(c, e, RESOLVER_OK, &a, 100, 0);
	cr_assert_eq(rcache_get(c, e, 95000), RC_HIT_REFRESH);
	cr_assert(rcache_store(c, e, RESOLVER_ERROR, NULL, 0, 95100));
	cr_assert_eq(rcache_get(c, e, 99999), RC_HIT, "still fresh, and no second prefetch");
	/* After expiry a busy name does not wait: stale at once, refresh behind. */
	cr_assert_eq(rcache_get(c, e, 100000), RC_STALE_REFRESH);
	rcache_free(c);
}

Test(cache, zero_stale_means_none)
{
	struct rcache_opts o = {.size = 4, .max_ttl_s = 300, .err_ttl_s = 1};
	struct rcache *c;
	struct resolver_answer a = one_addr(1);
	cr_assert_eq(rcache_new(&c, &o), 0);
	struct rcache_entry *e = put(c, "a.test");
	rcache_store(c, e, RESOLVER_OK, &a, 10, 0);
	cr_assert(!rcache_store(c, e, RESOLVER_ERROR, NULL, 0, 10000));
	cr_assert_eq(e->st, RESOLVER_ERROR);
	rcache_free(c);
}

Test(cache, max_ttl_zero_keeps_nothing)
{
	struct rcache_opts o = {.size = 4, .max_ttl_s = 0};
	struct rcache *c;
	struct resolver_answer a = one_addr(1);
	cr_assert_eq(rcache_new(&c, &o), 0);
	struct rcache_entry *e = put(c, "a.test");
	rcache_store(c, e, RESOLVER_OK, &a, 300, 5000);
	cr_assert_eq(rcache_get(c, e, 5000), RC_MISS);
	rcache_free(c);
}

Test(cache, lru_evicts_least_recently_used)
{
	struct rcache *c = make(3, false);
	struct resolver_answer a = one_addr(1);
	struct rcache_entry *x = put(c, "x.test"), *y = put(c, "y.test"), *z = put(c, "z.test");
	rcache_store(c, x, RESOLVER_OK, &a, 100, 0);
	rcache_store(c, y, RESOLVER_OK, &a, 100, 0);
	rcache_store(c, z, RESOLVER_OK, &a, 100, 0);
	rcache_get(c, x, 1); /* x is now the most recent; y the least */
	put(c, "w.test");
	cr_assert_eq(rcache_count(c), 3);
	cr_assert_null(rcache_find(c, "y.test", 6));
	cr_assert_not_null(rcache_find(c, "x.test", 6));
	cr_assert_not_null(rcache_find(c, "z.test", 6));
	cr_assert_eq(evicted, 0, "nothing was in flight");
	rcache_free(c);
}

Test(cache, in_flight_entries_do_not_block_eviction)
{
	struct rcache *c = make(4, false);
	int token;
	char name[32];

	for (int i = 0; i < 100; i++) {
		snprintf(name, sizeof(name), "n%d.test", i);
		struct rcache_entry *e = put(c, name);
		e->inflight = &token; /* every entry has a query running */
		cr_assert_leq(rcache_count(c), 4);
	}
	cr_assert_eq(evicted, 96, "each eviction detached its query first");
	cr_assert_not_null(rcache_find(c, "n99.test", 8));
	cr_assert_null(rcache_find(c, "n0.test", 7));
	rcache_free(c);
	cr_assert_eq(evicted, 100, "freeing detaches the rest");
}

Test(cache, names_too_long_or_empty)
{
	struct rcache *c = make(4, false);
	char big[300];
	memset(big, 'a', sizeof(big));
	cr_assert_null(rcache_insert(c, big, 254));
	cr_assert_not_null(rcache_insert(c, big, 253));
	cr_assert_null(rcache_insert(c, big, 0));
	rcache_free(c);
}
