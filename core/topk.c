/* SPDX-License-Identifier: MIT */
/* topk: space-saving top-K over a keyed hash and a min-heap; see topk.h. */
#include "core/topk.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define NIL UINT32_MAX

struct entry {
	uint64_t count;
	uint64_t err;
	uint64_t hash;	/* of name under the table's key; saves rehashing on eviction */
	uint32_t hnext; /* next entry in the same hash bucket, or NIL */
	uint32_t hpos;	/* index in heap[] */
	uint16_t len;
	char name[TOPK_NAME_MAX];
};

struct topk {
	unsigned k;	  /* slots */
	unsigned n;	  /* slots in use; entries e[0..n) */
	uint32_t mask;	  /* hash buckets - 1 (a power of two >= 2k) */
	uint64_t total;	  /* adds, merged ones included */
	uint64_t key[2];  /* SipHash key */
	size_t bytes;	  /* the one allocation's size */
	uint32_t *bucket; /* first entry of each hash chain, or NIL */
	uint32_t *heap;	  /* entry indices, a min-heap on count */
	struct entry *e;
};

/* ---- SipHash-2-4 (Aumasson, Bernstein), 64-bit output ---- */

static inline uint64_t rotl(uint64_t x, int b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIPROUND                   \
	do {                       \
		v0 += v1;          \
		v1 = rotl(v1, 13); \
		v1 ^= v0;          \
		v0 = rotl(v0, 32); \
		v2 += v3;          \
		v3 = rotl(v3, 16); \
		v3 ^= v2;          \
		v0 += v3;          \
		v3 = rotl(v3, 21); \
		v3 ^= v0;          \
		v2 += v1;          \
		v1 = rotl(v1, 17); \
		v1 ^= v2;          \
		v2 = rotl(v2, 32); \
	} while (0)

static uint64_t siphash(const uint64_t key[2], const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t v0 = 0x736f6d6570736575ULL ^ key[0];
	uint64_t v1 = 0x646f72616e646f6dULL ^ key[1];
	uint64_t v2 = 0x6c7967656e657261ULL ^ key[0];
	uint64_t v3 = 0x7465646279746573ULL ^ key[1];
	uint64_t m, b = (uint64_t)len << 56;
	size_t i;

	for (i = 0; i + 8 <= len; i += 8) {
		m = 0;
		for (int j = 0; j < 8; j++)
			m |= (uint64_t)p[i + j] << (8 * j);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (int j = 0; i + j < len; j++)
		b |= (uint64_t)p[i + j] << (8 * j);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* ---- hash chains ---- */

static uint32_t lookup(const struct topk *t, uint64_t h, const char *name, size_t len)
{
	for (uint32_t i = t->bucket[h & t->mask]; i != NIL; i = t->e[i].hnext) {
		const struct entry *e = &t->e[i];

		if (e->hash == h && e->len == len && !memcmp(e->name, name, len))
			return i;
	}
	return NIL;
}

static void hash_insert(struct topk *t, uint32_t i)
{
	uint32_t *head = &t->bucket[t->e[i].hash & t->mask];

	t->e[i].hnext = *head;
	*head = i;
}

static void hash_remove(struct topk *t, uint32_t i)
{
	uint32_t *link = &t->bucket[t->e[i].hash & t->mask];

	while (*link != i)
		link = &t->e[*link].hnext;
	*link = t->e[i].hnext;
}

/* ---- min-heap on count ---- */

static bool less(const struct topk *t, uint32_t a, uint32_t b)
{
	return t->e[a].count < t->e[b].count;
}

static void heap_set(struct topk *t, uint32_t pos, uint32_t i)
{
	t->heap[pos] = i;
	t->e[i].hpos = pos;
}

static void sift_up(struct topk *t, uint32_t pos)
{
	uint32_t i = t->heap[pos];

	while (pos > 0) {
		uint32_t parent = (pos - 1) / 2;

		if (!less(t, i, t->heap[parent]))
			break;
		heap_set(t, pos, t->heap[parent]);
		pos = parent;
	}
	heap_set(t, pos, i);
}

static void sift_down(struct topk *t, uint32_t pos)
{
	uint32_t i = t->heap[pos];

	for (;;) {
		uint32_t c = 2 * pos + 1;

		if (c >= t->n)
			break;
		if (c + 1 < t->n && less(t, t->heap[c + 1], t->heap[c]))
			c++;
		if (!less(t, t->heap[c], i))
			break;
		heap_set(t, pos, t->heap[c]);
		pos = c;
	}
	heap_set(t, pos, i);
}

/* ---- table ---- */

struct topk *topk_new(unsigned k)
{
	size_t nb = 2, bytes;
	struct topk *t;

	if (k == 0 || k > TOPK_MAX_K) {
		errno = EINVAL;
		return NULL;
	}
	while (nb < 2 * (size_t)k)
		nb *= 2;
	/* One block, the entries first so they stay aligned: struct, e[k], heap[k], bucket[nb]. */
	bytes = sizeof(*t) + k * sizeof(struct entry) + k * sizeof(uint32_t) +
		nb * sizeof(uint32_t);
	t = calloc(1, bytes);
	if (!t)
		return NULL;
	t->k = k;
	t->mask = (uint32_t)(nb - 1);
	t->bytes = bytes;
	t->e = (struct entry *)(t + 1);
	t->heap = (uint32_t *)(t->e + k);
	t->bucket = t->heap + k;
	memset(t->bucket, 0xff, nb * sizeof(uint32_t)); /* NIL */
	/*
	 * The key only has to be unknown to whoever chooses the names; if the
	 * kernel has no entropy yet, time and address are still not chosen by them.
	 */
	if (getrandom(t->key, sizeof(t->key), GRND_NONBLOCK) != (ssize_t)sizeof(t->key)) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		t->key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)(uintptr_t)t;
		t->key[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4fULL ^ (uint64_t)(uintptr_t)&ts;
	}
	return t;
}

void topk_free(struct topk *t)
{
	free(t);
}

/* Slot i now holds name with count and err, and the hash table finds it. */
static void entry_fill(struct topk *t, uint32_t i, uint64_t h, const char *name, size_t len,
		       uint64_t count, uint64_t err)
{
	struct entry *e = &t->e[i];

	e->count = count;
	e->err = err;
	e->hash = h;
	e->len = (uint16_t)len;
	memcpy(e->name, name, len);
	hash_insert(t, i);
}

/* Put name into a free slot (t->n < t->k) with count and err. */
static void insert_new(struct topk *t, uint64_t h, const char *name, size_t len, uint64_t count,
		       uint64_t err)
{
	uint32_t i = t->n++;

	entry_fill(t, i, h, name, len, count, err);
	heap_set(t, t->n - 1, i);
	sift_up(t, t->n - 1);
}

/* Give the least counted slot (t->n == t->k) to name with count and err. */
static void replace_min(struct topk *t, uint64_t h, const char *name, size_t len, uint64_t count,
			uint64_t err)
{
	uint32_t i = t->heap[0];

	hash_remove(t, i);
	entry_fill(t, i, h, name, len, count, err);
	sift_down(t, 0);
}

void topk_add(struct topk *t, const char *name, size_t len)
{
	uint64_t h, min;
	uint32_t i;

	if (len > TOPK_NAME_MAX)
		len = TOPK_NAME_MAX;
	h = siphash(t->key, name, len);
	t->total++;
	i = lookup(t, h, name, len);
	if (i != NIL) {
		t->e[i].count++;
		sift_down(t, t->e[i].hpos);
		return;
	}
	if (t->n < t->k) {
		insert_new(t, h, name, len, 1, 0);
		return;
	}
	min = t->e[t->heap[0]].count;
	replace_min(t, h, name, len, min + 1, min);
}

static int cmp_entries(const void *a, const void *b, void *arg)
{
	const struct topk *t = arg;
	const struct entry *x = &t->e[*(const uint32_t *)a];
	const struct entry *y = &t->e[*(const uint32_t *)b];
	int r;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->err != y->err)
		return x->err < y->err ? -1 : 1;
	r = memcmp(x->name, y->name, x->len < y->len ? x->len : y->len);
	return r ? r : (int)x->len - (int)y->len;
}

unsigned topk_list(const struct topk *t, struct topk_item *out, unsigned max)
{
	uint32_t order[TOPK_MAX_K];
	unsigned n;

	for (uint32_t i = 0; i < t->n; i++)
		order[i] = i;
	qsort_r(order, t->n, sizeof(order[0]), cmp_entries, (void *)t);
	n = t->n < max ? t->n : max;
	for (unsigned i = 0; i < n; i++) {
		const struct entry *e = &t->e[order[i]];

		memcpy(out[i].name, e->name, e->len);
		out[i].name[e->len] = '\0';
		out[i].len = e->len;
		out[i].count = e->count;
		out[i].err = e->err;
	}
	return n;
}

void topk_merge(struct topk *dst, const struct topk *src)
{
	/* What a name missing from a full table may have been counted there. */
	uint64_t mdst = dst->n == dst->k ? dst->e[dst->heap[0]].count : 0;
	uint64_t msrc = src->n == src->k ? src->e[src->heap[0]].count : 0;
	bool seen[TOPK_MAX_K] = {false};

	for (uint32_t i = 0; i < dst->n; i++) {
		struct entry *d = &dst->e[i];
		uint32_t j = lookup(src, siphash(src->key, d->name, d->len), d->name, d->len);

		if (j != NIL) {
			d->count += src->e[j].count;
			d->err += src->e[j].err;
			seen[j] = true;
		} else {
			d->count += msrc;
			d->err += msrc;
		}
	}
	/* Counts rose by different amounts: rebuild the heap bottom-up. */
	for (uint32_t pos = dst->n / 2; pos-- > 0;)
		sift_down(dst, pos);
	/* Names only src has: keep each one that beats dst's current minimum. */
	for (uint32_t j = 0; j < src->n; j++) {
		const struct entry *s = &src->e[j];
		uint64_t h, count = s->count + mdst, err = s->err + mdst;

		if (seen[j])
			continue;
		h = siphash(dst->key, s->name, s->len);
		if (dst->n < dst->k)
			insert_new(dst, h, s->name, s->len, count, err);
		else if (count > dst->e[dst->heap[0]].count)
			replace_min(dst, h, s->name, s->len, count, err);
	}
	dst->total += src->total;
}

uint64_t topk_total(const struct topk *t)
{
	return t->total;
}

size_t topk_bytes(const struct topk *t)
{
	return t->bytes;
}
