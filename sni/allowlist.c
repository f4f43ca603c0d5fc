/* SPDX-License-Identifier: MIT */
/*
 * allowlist: two minimal perfect hashes, exact names and wildcard suffixes.
 *
 * Each table is CHD ("compress, hash and displace", Belazzougui et al.
 * 2009) without the compression: a key's 64-bit hash h picks a bucket, and
 * the bucket's displacement pair (d0, d1) places the key at
 * (f(h, d0) + d1) mod m, where f is a multiply that maps h into [0, m) a
 * different way for each d0. The build places the big buckets first and
 * searches each a pair that lands all its keys in free slots; single-key
 * buckets, which are the last and hardest to place by search, take the next
 * free slot directly (d1 is solved for). m is the number of keys, so the
 * slot array is dense. A lookup is one hash, three multiplies, one slot
 * (8 bytes: pool offset, length, 16 bits of hash) and, unless the tag or
 * length already differ, one memcmp; no division and no probing.
 *
 * Rejected: a sorted array with binary search (log n string compares, a
 * cache miss per step at 100k names), and open addressing, which is about
 * as fast on hits but slower on misses (probe chains) and needs several
 * times the memory per name (empty slots, a pointer and a hash per slot).
 * bench/ALLOWLIST.md has the numbers.
 *
 * Keys are stored as hostname_fold() leaves them (lower case, no trailing
 * dot) in one string pool; the query is folded once into a stack buffer by
 * the same function, so entries and queries cannot disagree about a name.
 * After allowlist_build() nothing is written, so readers need no locks.
 */
#include "sni/allowlist.h"

#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "sni/hostname.h"

#define BUCKET_LOAD    4  /* average keys per bucket: bucket array is n/4 pairs */
#define MAX_D0	       64 /* then give up on this seed */
#define MAX_SEED_TRIES 32

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct slot {
	uint32_t off; /* name offset in the pool */
	uint16_t len; /* name length, 1..253 */
	uint16_t tag; /* low 16 bits of the name's hash: most misses stop here, off the pool */
};

struct disp {
	uint32_t d0; /* which f(h, d0) places the bucket's keys */
	uint32_t d1; /* additive shift, < m */
};

/* One minimal perfect hash over a set of distinct names. */
struct mph {
	uint64_t seed;
	uint32_t m;	    /* keys == slots; 0 for an empty table */
	uint32_t r;	    /* buckets */
	struct disp *disp;  /* r displacement pairs */
	struct slot *slots; /* m slots, in hash order */
};

struct allowlist {
	struct mph exact;  /* "example.com" */
	struct mph suffix; /* "*.example.com", stored as "example.com" */
	char *pool;	   /* all names, back to back, not NUL-terminated */
	size_t pool_len;
	size_t suffix_min; /* shortest and longest suffix, to skip hopeless candidates */
	size_t suffix_max;
};

struct key_hash {
	uint64_t h;
	uint32_t bucket;
};

/* Lemire's multiply-shift range reduction: x in [0, 2^32) to [0, n). */
static inline uint32_t reduce(uint32_t x, uint32_t n)
{
	return (uint32_t)(((uint64_t)x * n) >> 32);
}

static inline struct key_hash key_hash(const struct mph *t, const char *s, size_t len)
{
	uint64_t h = hostname_hash(s, len, t->seed);
	struct key_hash k = {.h = h, .bucket = reduce((uint32_t)(h >> 32), t->r)};

	return k;
}

/*
 * The key's base slot under d0, in [0, m). d0 must change how the keys of
 * a bucket sit relative to each other, not just shift them all alike (that
 * is d1's job): (h + d0 * K) * C would do only the latter, as it is linear
 * in h. XOR and a folded 128-bit product are not.
 */
static inline uint32_t f_d0(uint64_t h, uint32_t d0, uint32_t m)
{
	uint64_t x =
		hostname__mum(h ^ d0 * UINT64_C(0x9e3779b97f4a7c15), UINT64_C(0x8ebc6af09c88c6e3));

	return reduce((uint32_t)(x >> 32), m);
}

static inline uint32_t place(const struct mph *t, struct key_hash k, struct disp d)
{
	uint32_t p = f_d0(k.h, d.d0, t->m) + d.d1; /* both < m, so one subtraction wraps it */

	return p >= t->m ? p - t->m : p;
}

/* The slot holding s, or -1. */
static long mph_find(const struct mph *t, const char *pool, const char *s, size_t len)
{
	struct key_hash k;
	const struct slot *sl;
	uint32_t i;

	if (!t->m)
		return -1;
	k = key_hash(t, s, len);
	i = place(t, k, t->disp[k.bucket]);
	sl = &t->slots[i];
	if (sl->tag == (uint16_t)k.h && sl->len == len && memcmp(pool + sl->off, s, len) == 0)
		return (long)i;
	return -1;
}

/* ---- names ---- */

/*
 * Why a config entry's host name part fails, in allowlist terms. A '*'
 * there is reported as a misplaced wildcard, since that is what it is in a
 * config entry.
 */
static enum allowlist_err name_error(enum hostname_err e, const char *s, const struct hostname *h)
{
	switch (e) {
	case HOSTNAME_OK:
		return ALLOWLIST_OK;
	case HOSTNAME_E_TOO_LONG:
	case HOSTNAME_E_LABEL_LONG:
		return ALLOWLIST_E_TOO_LONG;
	case HOSTNAME_E_EMPTY:
	case HOSTNAME_E_EMPTY_LABEL:
		return ALLOWLIST_E_EMPTY_NAME;
	case HOSTNAME_E_BAD_BYTE:
		break;
	}
	return s[h->at] == '*' ? ALLOWLIST_E_BAD_WILDCARD : ALLOWLIST_E_BAD_CHAR;
}

bool allowlist_match(const struct allowlist *al, const char *name, size_t len)
{
	return allowlist_lookup(al, name, len) >= 0;
}

long allowlist_lookup(const struct allowlist *al, const char *name, size_t len)
{
	struct hostname h;
	size_t i;
	long at;

	if (!al || !name)
		return -1;
	/*
	 * Refusing what is not a host name also keeps ".example.com" from
	 * reaching "*.example.com" through an empty leftmost label.
	 */
	if (hostname_fold(name, len, &h) != HOSTNAME_OK)
		return -1;
	if ((at = mph_find(&al->exact, al->pool, h.name, h.len)) >= 0)
		return at;
	/* Strip one label at a time: "*.b.c" matches "a.b.c" and "x.a.b.c", never "b.c". */
	for (i = 0; i < h.n_dots; i++) {
		size_t rest = h.len - h.dot[i] - 1;

		if (rest < al->suffix_min)
			break;
		if (rest <= al->suffix_max &&
		    (at = mph_find(&al->suffix, al->pool, h.name + h.dot[i] + 1, rest)) >= 0)
			return (long)al->exact.m + at;
	}
	return -1;
}

static size_t mph_bytes(const struct mph *t)
{
	return (size_t)t->r * sizeof(*t->disp) + (size_t)t->m * sizeof(*t->slots);
}

size_t allowlist_bytes(const struct allowlist *al)
{
	return al ? sizeof(*al) + mph_bytes(&al->exact) + mph_bytes(&al->suffix) + al->pool_len : 0;
}

size_t allowlist_entry(const struct allowlist *al, size_t idx, char *buf, size_t len)
{
	const struct slot *sl;
	bool wild = idx >= al->exact.m;
	int n;

	if (idx >= (size_t)al->exact.m + al->suffix.m || !len)
		return 0;
	sl = wild ? &al->suffix.slots[idx - al->exact.m] : &al->exact.slots[idx];
	n = snprintf(buf, len, "%s%.*s", wild ? "*." : "", (int)sl->len, al->pool + sl->off);
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}

/* ---- build ---- */

struct build_key {
	uint32_t off;
	uint32_t len;
	struct key_hash h;
};

static inline bool bit_get(const uint64_t *bits, uint32_t i)
{
	return bits[i >> 6] & UINT64_C(1) << (i & 63);
}

static inline void bit_set(uint64_t *bits, uint32_t i)
{
	bits[i >> 6] |= UINT64_C(1) << (i & 63);
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* Scratch arrays for one build, sized for n keys and r buckets. */
struct mph_work {
	uint32_t *bstart;  /* r + 1: bucket b's keys are members[bstart[b] .. bstart[b + 1]) */
	uint32_t *member;  /* n: key indices grouped by bucket */
	uint32_t *order;   /* r: buckets, largest first */
	uint64_t *used;	   /* m bits: slot taken */
	uint32_t base[64]; /* f_d0() of one bucket's keys */
};

static void slot_fill(struct slot *sl, const struct build_key *k)
{
	sl->off = k->off;
	sl->len = (uint16_t)k->len;
	sl->tag = (uint16_t)k->h.h;
}

/*
 * Search a (d0, d1) that puts every key of bucket b in a free slot. For a
 * given d0 the keys keep their distances whatever d1 is, so a d0 under which
 * two keys coincide is skipped outright.
 */
static bool place_bucket(struct mph *t, const struct build_key *keys, struct mph_work *w,
			 uint32_t b)
{
	const uint32_t *mem = w->member + w->bstart[b];
	uint32_t s = w->bstart[b + 1] - w->bstart[b];
	uint32_t m = t->m;
	uint32_t d0, d1, i, j;

	for (d0 = 0; d0 < MAX_D0; d0++) {
		for (i = 0; i < s; i++) {
			w->base[i] = f_d0(keys[mem[i]].h.h, d0, m);
			for (j = 0; j < i; j++)
				if (w->base[j] == w->base[i])
					goto next_d0;
		}
		for (d1 = 0; d1 < m; d1++) {
			for (i = 0; i < s; i++) {
				uint32_t p = w->base[i] + d1;

				if (p >= m)
					p -= m;
				if (bit_get(w->used, p))
					break;
			}
			if (i < s)
				continue;
			for (i = 0; i < s; i++) {
				uint32_t p = w->base[i] + d1;

				if (p >= m)
					p -= m;
				bit_set(w->used, p);
				slot_fill(&t->slots[p], &keys[mem[i]]);
			}
			t->disp[b].d0 = d0;
			t->disp[b].d1 = d1;
			return true;
		}
next_d0:;
	}
	return false;
}

/*
 * One attempt with t->seed. Returns false when some bucket cannot be
 * placed (two of its keys collide under every d0, or it is just unlucky); the
 * caller then retries with another seed.
 */
static bool mph_try(struct mph *t, const char *pool, struct build_key *keys, struct mph_work *w)
{
	uint32_t n = t->m, r = t->r;
	uint32_t by_size[65] = {0};
	uint32_t i, b, s, f, free_slot = 0;
	const struct build_key *k;

	memset(w->bstart, 0, (r + 1) * sizeof(*w->bstart));
	for (i = 0; i < n; i++) {
		keys[i].h = key_hash(t, pool + keys[i].off, keys[i].len);
		w->bstart[keys[i].h.bucket + 1]++;
	}
	for (b = 0; b < r; b++) {
		s = w->bstart[b + 1];
		if (s > ARRAY_SIZE(w->base))
			return false; /* a freak bucket: a new seed spreads it */
		by_size[s]++;
		w->bstart[b + 1] += w->bstart[b];
	}
	/* Counting sorts: keys by bucket, then buckets by size, largest first. */
	{
		uint32_t fill_pos[65];
		uint32_t acc = 0;

		for (s = 64;; s--) {
			fill_pos[s] = acc;
			acc += by_size[s];
			if (s == 0)
				break;
		}
		for (b = 0; b < r; b++) {
			s = w->bstart[b + 1] - w->bstart[b];
			w->order[fill_pos[s]++] = b;
		}
	}
	for (i = 0; i < n; i++) {
		/* bstart[b] is used as the fill cursor, then restored below. */
		b = keys[i].h.bucket;
		w->member[w->bstart[b]++] = i;
	}
	for (b = r; b > 0; b--)
		w->bstart[b] = w->bstart[b - 1];
	w->bstart[0] = 0;

	memset(w->used, 0, ((size_t)n + 63) / 64 * sizeof(*w->used));
	memset(t->disp, 0, (size_t)r * sizeof(*t->disp));
	for (i = 0; i < r; i++) {
		b = w->order[i];
		s = w->bstart[b + 1] - w->bstart[b];
		if (s == 0)
			break;
		if (s > 1) {
			if (!place_bucket(t, keys, w, b))
				return false;
			continue;
		}
		/*
		 * A lone key: with m == n the free slots left are exactly as
		 * many as the lone keys, so hand them out in order and solve
		 * d1 = slot - f (mod m) instead of searching for one.
		 */
		k = &keys[w->member[w->bstart[b]]];
		while (bit_get(w->used, free_slot))
			free_slot++;
		bit_set(w->used, free_slot);
		slot_fill(&t->slots[free_slot], k);
		t->disp[b].d0 = 0;
		f = f_d0(k->h.h, 0, n);
		t->disp[b].d1 = free_slot >= f ? free_slot - f : free_slot + n - f;
	}
	return true;
}

static void mph_release(struct mph *t)
{
	free(t->disp);
	free(t->slots);
	t->disp = NULL;
	t->slots = NULL;
}

/* Build t over n distinct keys. Returns false on allocation failure or bad luck. */
static bool mph_build(struct mph *t, const char *pool, struct build_key *keys, uint32_t n,
		      uint64_t *rng)
{
	struct mph_work w = {0};
	bool ok = false;
	int tries;

	t->m = n;
	if (!n)
		return true;
	t->r = (n + BUCKET_LOAD - 1) / BUCKET_LOAD;
	t->disp = malloc((size_t)t->r * sizeof(*t->disp));
	t->slots = malloc((size_t)n * sizeof(*t->slots));
	w.bstart = malloc(((size_t)t->r + 1) * sizeof(*w.bstart));
	w.member = malloc((size_t)n * sizeof(*w.member));
	w.order = malloc((size_t)t->r * sizeof(*w.order));
	w.used = malloc(((size_t)n + 63) / 64 * sizeof(*w.used));
	if (!t->disp || !t->slots || !w.bstart || !w.member || !w.order || !w.used)
		goto out_free_work;
	for (tries = 0; tries < MAX_SEED_TRIES && !ok; tries++) {
		t->seed = splitmix64(rng);
		ok = mph_try(t, pool, keys, &w);
	}
out_free_work:
	free(w.bstart);
	free(w.member);
	free(w.order);
	free(w.used);
	if (!ok)
		mph_release(t);
	return ok;
}

/*
 * Drop repeated names from keys, keeping first occurrences in order.
 * Returns the new count, or UINT32_MAX when out of memory. A temporary
 * open-addressing set is enough: it lives for one call.
 */
static uint32_t dedupe(const char *pool, struct build_key *keys, uint32_t n)
{
	size_t cap = 16, mask, i;
	uint32_t *set, out = 0;

	while (cap < (size_t)n * 2)
		cap <<= 1;
	mask = cap - 1;
	set = malloc(cap * sizeof(*set));
	if (!set)
		return UINT32_MAX;
	memset(set, 0xff, cap * sizeof(*set));
	for (i = 0; i < n; i++) {
		const char *s = pool + keys[i].off;
		size_t h = (size_t)hostname_hash(s, keys[i].len, 0) & mask;
		bool dup = false;

		for (; set[h] != UINT32_MAX; h = (h + 1) & mask) {
			const struct build_key *o = &keys[set[h]];

			if (o->len == keys[i].len && !memcmp(pool + o->off, s, o->len)) {
				dup = true;
				break;
			}
		}
		if (dup)
			continue;
		keys[out] = keys[i];
		set[h] = out++;
	}
	free(set);
	return out;
}

/*
 * Check and normalise one config entry into pool + *off. Sets *wild for a
 * "*." entry, whose suffix alone is stored. The trailing dot goes before
 * the "*." is looked for, so "*." and "*.." are misplaced wildcards, not
 * empty names, and the 253-byte limit counts the "*.".
 */
static enum allowlist_err entry_take(const char *e, char *pool, size_t *off, uint32_t *len,
				     bool *wild, struct hostname *h)
{
	/* Anything longer than this is too long whatever it holds; no need to strlen it all. */
	size_t n = e ? strnlen(e, HOSTNAME_MAX + 4) : 0;
	size_t t = hostname_trim(e, n);
	enum hostname_err err;

	if (t == 0)
		return ALLOWLIST_E_EMPTY_NAME;
	if (t > HOSTNAME_MAX)
		return ALLOWLIST_E_TOO_LONG;
	*wild = e[0] == '*';
	if (*wild) {
		/* Only a whole leftmost "*" label; "*." and "*" alone name nothing. */
		if (t < 3 || e[1] != '.')
			return ALLOWLIST_E_BAD_WILDCARD;
		e += 2;
		n -= 2;
	}
	err = hostname_fold(e, n, h);
	if (err != HOSTNAME_OK)
		return name_error(err, e, h);
	memcpy(pool + *off, h->name, h->len);
	*len = h->len;
	*off += h->len;
	return ALLOWLIST_OK;
}

static struct allowlist *fail(struct allowlist *al, enum allowlist_err e, size_t i,
			      enum allowlist_err *err, size_t *bad_index)
{
	if (err)
		*err = e;
	if (bad_index)
		*bad_index = i;
	allowlist_free(al);
	return NULL;
}

struct allowlist *allowlist_build(const char *const *names, size_t n, enum allowlist_err *err,
				  size_t *bad_index)
{
	struct allowlist *al;
	struct build_key *keys = NULL, *wkeys;
	uint32_t n_exact = 0, n_wild = 0, i;
	size_t off = 0, pool_len = 1;
	uint64_t rng = UINT64_C(0x5a17e9a7e5eed);
	struct hostname h;

	/* Offsets and counts are 32-bit; that is 16 million names of the longest kind. */
	if (n > UINT32_MAX / (HOSTNAME_MAX + 1))
		return fail(NULL, ALLOWLIST_E_NOMEM, n, err, bad_index);
	al = calloc(1, sizeof(*al));
	if (!al)
		return fail(NULL, ALLOWLIST_E_NOMEM, n, err, bad_index);
	for (i = 0; i < n; i++)
		pool_len += names[i] ? strnlen(names[i], HOSTNAME_MAX + 4) : 0;
	al->pool = malloc(pool_len);
	al->pool_len = pool_len;
	keys = malloc((n ? n : 1) * sizeof(*keys));
	if (!al->pool || !keys)
		goto out_nomem;

	/* Exact keys fill keys[] from the front, suffixes from the back. */
	for (i = 0; i < n; i++) {
		struct build_key k = {.off = (uint32_t)off};
		bool wild;
		enum allowlist_err e = entry_take(names[i], al->pool, &off, &k.len, &wild, &h);

		if (e != ALLOWLIST_OK) {
			free(keys);
			return fail(al, e, i, err, bad_index);
		}
		if (wild)
			keys[n - 1 - n_wild++] = k;
		else
			keys[n_exact++] = k;
	}
	n_exact = dedupe(al->pool, keys, n_exact);
	wkeys = keys + n - n_wild;
	n_wild = dedupe(al->pool, wkeys, n_wild);
	if (n_exact == UINT32_MAX || n_wild == UINT32_MAX)
		goto out_nomem;
	al->suffix_min = SIZE_MAX;
	for (i = 0; i < n_wild; i++) {
		if (wkeys[i].len < al->suffix_min)
			al->suffix_min = wkeys[i].len;
		if (wkeys[i].len > al->suffix_max)
			al->suffix_max = wkeys[i].len;
	}
	/*
	 * With distinct keys a failure after MAX_SEED_TRIES seeds is not
	 * going to happen in practice; report it as the resource failure
	 * it would be.
	 */
	if (!mph_build(&al->exact, al->pool, keys, n_exact, &rng) ||
	    !mph_build(&al->suffix, al->pool, wkeys, n_wild, &rng))
		goto out_nomem;
	free(keys);
	if (err)
		*err = ALLOWLIST_OK;
	return al;

out_nomem:
	free(keys);
	return fail(al, ALLOWLIST_E_NOMEM, n, err, bad_index);
}

void allowlist_free(struct allowlist *al)
{
	if (!al)
		return;
	mph_release(&al->exact);
	mph_release(&al->suffix);
	free(al->pool);
	free(al);
}

size_t allowlist_count(const struct allowlist *al)
{
	return al ? (size_t)al->exact.m + al->suffix.m : 0;
}

const char *allowlist_strerror(enum allowlist_err e)
{
	switch (e) {
	case ALLOWLIST_OK:
		return "ok";
	case ALLOWLIST_E_NOMEM:
		return "out of memory";
	case ALLOWLIST_E_EMPTY_NAME:
		return "empty name or label";
	case ALLOWLIST_E_TOO_LONG:
		return "name over 253 bytes or label over 63";
	case ALLOWLIST_E_BAD_CHAR:
		return "byte not allowed in a host name";
	case ALLOWLIST_E_BAD_WILDCARD:
		return "'*' allowed only as a whole leftmost label (\"*.example.com\")";
	}
	return "unknown error";
}
