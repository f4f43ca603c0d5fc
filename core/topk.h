/* SPDX-License-Identifier: MIT */
/*
 * topk: the most frequent names of a stream in fixed memory, by the
 * space-saving algorithm (Metwally, Agrawal, El Abbadi, "Efficient
 * computation of frequent and top-k elements in data streams", ICDT 2005).
 * snigate keeps one per worker for denied SNIs, so that an attacker spraying
 * random names costs a bounded table, never more memory.
 *
 * k names are monitored, each with a count and an error. A name seen while
 * the table is full takes the slot of the least counted one, m, and starts at
 * count m + 1 with error m. For every monitored name the true number of adds
 * lies in [count - err, count]; every name seen more than total / k times is
 * monitored; err never exceeds total / k. While no more than k distinct names
 * have been added, every count is exact (err 0).
 *
 * All memory is allocated by topk_new(); topk_add() allocates nothing and
 * costs O(log k): one keyed hash of the name (SipHash, seeded per table, so
 * chains cannot be grown by chosen names) and a sift in a min-heap.
 * Names are byte strings compared exactly (the caller normalises case) and
 * cut to TOPK_NAME_MAX bytes.
 *
 * Not thread-safe: one table per thread, or a lock held by the caller.
 */
#ifndef SNIGATE_TOPK_H
#define SNIGATE_TOPK_H

#include <stddef.h>
#include <stdint.h>

#define TOPK_MAX_K    1024
#define TOPK_NAME_MAX 320 /* "policy/name": 63 + 1 + 253, and some spare */

struct topk;

struct topk_item {
	char name[TOPK_NAME_MAX + 1]; /* NUL-terminated copy */
	size_t len;		      /* bytes in name, without the NUL */
	uint64_t count;		      /* an upper bound of the true count */
	uint64_t err;		      /* count - err is a lower bound */
};

/* A table of k (1..TOPK_MAX_K) names, or NULL with errno EINVAL or ENOMEM. */
struct topk *topk_new(unsigned k);
/* Accepts NULL. */
void topk_free(struct topk *t);

/* Count one occurrence of name[0..len). */
void topk_add(struct topk *t, const char *name, size_t len);

/*
 * Copy up to max monitored names into out, most counted first (ties: the
 * smaller error, then the name); returns how many were copied.
 */
unsigned topk_list(const struct topk *t, struct topk_item *out, unsigned max);

/*
 * Fold src into dst (dst != src; their k may differ), as if dst had also seen
 * src's stream. Counts and errors of a name in both add up; a name missing
 * from a FULL table may have been seen there up to that table's minimum count
 * m times, so it is credited m with error m (0 and 0 from a table that is not
 * full, whose counts are exact). Then dst keeps its k largest. So every true
 * count still lies in [count - err, count], and every name whose true count
 * exceeds dst's new minimum is monitored, but an error may now reach
 * total_src / k_src + total_dst / k_dst (the totals before the merge).
 * dst can then go on counting.
 */
void topk_merge(struct topk *dst, const struct topk *src);

/* Adds counted, including those merged in. */
uint64_t topk_total(const struct topk *t);
/* Bytes the table holds: fixed from topk_new() on. */
size_t topk_bytes(const struct topk *t);

#endif
