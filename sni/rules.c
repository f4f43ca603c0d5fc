/* SPDX-License-Identifier: MIT */
/*
 * rules: policies as bitsets, so every question is a few mask operations.
 *
 * A policy is bit p of an n-bit set (words of 64). Matching a connection
 * ANDs three sets: the policies that take its listener, its source and its
 * user; the lowest bit left is the answer. Each key has an "any" set (the
 * policies that do not name it) ORed into what the key's own index gives:
 *  - listeners: a sorted array of the listener indexes policies name, each
 *    with its set. Indexes are small in practice, but a direct table sized
 *    by the largest one would let one odd index cost gigabytes.
 *  - sources: a binary trie over the 128 address bits, one node per prefix
 *    bit; the node where a CIDR ends holds the set of policies listing it.
 *    Walking an address from the root ORs the sets of every prefix that
 *    contains it, at most 129 nodes, however many CIDRs there are.
 *  - users: a sorted array of names with their sets (binary search).
 *
 * Names: one allowlist over every entry of every policy. Union entry e has
 * the set of policies that list it, ORed with the sets of every wildcard
 * that covers it: the allowlist answers with the most specific entry only,
 * so "a.x.com" must also carry the bit of a policy that lists "*.x.com".
 * Which of a policy's own entries decides a name depends only on e (the
 * name's own exact entry, or failing that the longest wildcard covering
 * it, is among e and the wildcards covering e), so a policy whose entries
 * carry ports or expiry gets a sorted (e -> own entry) array; one without
 * them answers from the bit alone.
 *
 * Shadowing reuses the same sets: the policies that cover all of j's
 * listeners are the AND of its listeners' sets, those that cover each of
 * its CIDRs the OR along the trie walk down to the CIDR's length, so
 * checking every pair costs n walks, not n^2 comparisons of lists.
 */
#include "sni/rules.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sni/hostname.h"

#define MAX_WORDS (RULES_MAX_POLICIES / 64)
#define ENTRY_BUF (HOSTNAME_MAX + 4) /* "*." + name + NUL, with room to spare */
#define NO_NODE	  0		     /* node 0 is the root, never anyone's child */
#define NO_MASK	  UINT32_MAX

struct attr {
	const uint16_t *ports; /* into rules.ports */
	unsigned n_ports;
	int64_t expires;
	struct rules_cidr *up; /* owned: upstream_allow */
	unsigned n_up;
};

/* Union entry idx is decided, for one policy, by its own entry attr. */
struct decide {
	uint32_t idx;
	uint32_t attr;
};

struct rpol {
	char *name;
	bool audit;
	struct attr *attrs; /* per own entry; NULL when no entry has ports, expiry or exceptions */
	unsigned n_attrs;
	struct decide *decide;
	uint32_t n_decide;
};

struct node {
	uint32_t child[2];
	uint32_t mask; /* index into src_masks, or NO_MASK */
};

struct user {
	char *name;
	size_t len;
	uint32_t mask; /* index into user_masks */
};

struct rules {
	unsigned n;
	unsigned words;
	struct rpol *pol;

	struct allowlist *al;
	size_t n_union;
	uint64_t *bits; /* n_union rows of words */

	uint64_t *any; /* three rows: any listener, any source, any user */

	unsigned *lis; /* distinct listener indexes, ascending */
	unsigned n_lis;
	uint64_t *lis_masks;

	struct node *trie;
	uint32_t n_nodes, cap_nodes;
	/*
	 * Where an IPv4 client's walk stands after the 96 bits of ::ffff:0:0/96,
	 * which every IPv4 address shares: the node (0 when the path ends
	 * earlier) and the masks met on the way. Saves 96 steps of each walk.
	 */
	uint32_t v4_node;
	uint64_t *v4_acc;
	uint64_t *src_masks;
	uint32_t n_src_masks, cap_src_masks;

	struct user *users; /* ascending by user_cmp */
	unsigned n_users;
	uint64_t *user_masks;

	uint16_t *ports;
	int64_t *expiries; /* distinct, ascending */
	size_t n_expiries;
};

enum { ANY_LIS, ANY_SRC, ANY_USER };

static inline uint64_t *row(uint64_t *m, const struct rules *r, size_t i)
{
	return m + i * r->words;
}

static inline void set_bit(uint64_t *m, unsigned p)
{
	m[p >> 6] |= UINT64_C(1) << (p & 63);
}

static inline bool get_bit(const uint64_t *m, unsigned p)
{
	return m[p >> 6] >> (p & 63) & 1;
}

static inline unsigned addr_bit(const uint8_t *a, unsigned d)
{
	return a[d >> 3] >> (7 - (d & 7)) & 1;
}

static void *grow(void *p, uint32_t *cap, uint32_t need, size_t size)
{
	uint32_t c = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return p;
	while (c < need)
		c *= 2;
	q = realloc(p, (size_t)c * size);
	if (q)
		*cap = c;
	return q;
}

/* ---- lookups shared by build and match ---- */

static int user_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	return c ? c : (alen > blen) - (alen < blen);
}

static long user_find(const struct rules *r, const char *u, size_t len)
{
	size_t lo = 0, hi = r->n_users;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = user_cmp(r->users[mid].name, r->users[mid].len, u, len);

		if (!c)
			return (long)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static long lis_find(const struct rules *r, unsigned l)
{
	size_t lo = 0, hi = r->n_lis;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->lis[mid] == l)
			return (long)mid;
		if (r->lis[mid] < l)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

/* OR into acc the sets of every trie prefix of addr up to depth bits. */
static void trie_walk(const struct rules *r, const uint8_t *addr, unsigned bits, uint64_t *acc)
{
	static const uint8_t v4_prefix[12] = {[10] = 0xff, [11] = 0xff};
	uint32_t node = 0;
	unsigned d = 0, w;

	if (r->v4_acc && bits == 128 && !memcmp(addr, v4_prefix, sizeof(v4_prefix))) {
		for (w = 0; w < r->words; w++)
			acc[w] |= r->v4_acc[w];
		if (!(node = r->v4_node))
			return;
		d = 96;
	}
	for (;; d++) {
		const struct node *nd = &r->trie[node];

		if (nd->mask != NO_MASK) {
			const uint64_t *m = row(r->src_masks, r, nd->mask);

			for (w = 0; w < r->words; w++)
				acc[w] |= m[w];
		}
		if (d == bits || !(node = nd->child[addr_bit(addr, d)]))
			return;
	}
}

/* ---- build ---- */

static int fail(struct rules *r, struct rules_error *err, enum rules_err code, unsigned policy,
		unsigned entry, unsigned other)
{
	rules_free(r);
	err->code = code;
	err->policy = policy;
	err->entry = entry;
	err->other = other;
	return code == RULES_E_NOMEM ? -ENOMEM : -EINVAL;
}

static bool cidr_valid(const struct rules_cidr *c)
{
	unsigned d;

	if (c->bits > 128)
		return false;
	for (d = c->bits; d < 128; d++)
		if (addr_bit(c->addr, d))
			return false;
	return true;
}

static bool trie_add(struct rules *r, const struct rules_cidr *c, unsigned p)
{
	uint32_t node = 0;
	unsigned d;

	for (d = 0; d < c->bits; d++) {
		unsigned b = addr_bit(c->addr, d);
		uint32_t next = r->trie[node].child[b];

		if (next == NO_NODE) {
			struct node *t = grow(r->trie, &r->cap_nodes, r->n_nodes + 1, sizeof(*t));

			if (!t)
				return false;
			r->trie = t;
			next = r->n_nodes++;
			t[next] = (struct node){.mask = NO_MASK};
			t[node].child[b] = next;
		}
		node = next;
	}
	if (r->trie[node].mask == NO_MASK) {
		uint32_t cap = r->cap_src_masks;
		uint64_t *m = grow(r->src_masks, &cap, r->n_src_masks + 1, r->words * sizeof(*m));

		if (!m)
			return false;
		r->src_masks = m;
		r->cap_src_masks = cap;
		memset(row(m, r, r->n_src_masks), 0, r->words * sizeof(*m));
		r->trie[node].mask = r->n_src_masks++;
	}
	set_bit(row(r->src_masks, r, r->trie[node].mask), p);
	return true;
}

struct user_ref {
	const char *name;
	size_t len;
	unsigned policy;
};

static int user_ref_cmp(const void *a, const void *b)
{
	const struct user_ref *x = a, *y = b;
	int c = user_cmp(x->name, x->len, y->name, y->len);

	return c ? c : (x->policy > y->policy) - (x->policy < y->policy);
}

static int unsigned_cmp(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return (x > y) - (x < y);
}

static int i64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static bool build_listeners(struct rules *r, const struct rules_policy *pol)
{
	size_t total = 0, k = 0;
	unsigned p, i;
	long at;

	for (p = 0; p < r->n; p++)
		total += pol[p].n_listeners;
	r->lis = malloc((total ? total : 1) * sizeof(*r->lis));
	if (!r->lis)
		return false;
	for (p = 0; p < r->n; p++)
		for (i = 0; i < pol[p].n_listeners; i++)
			r->lis[k++] = pol[p].listeners[i];
	qsort(r->lis, total, sizeof(*r->lis), unsigned_cmp);
	for (k = 0; k < total; k++)
		if (!r->n_lis || r->lis[r->n_lis - 1] != r->lis[k])
			r->lis[r->n_lis++] = r->lis[k];
	r->lis_masks = calloc((size_t)(r->n_lis ? r->n_lis : 1) * r->words, sizeof(uint64_t));
	if (!r->lis_masks)
		return false;
	for (p = 0; p < r->n; p++) {
		if (!pol[p].n_listeners)
			set_bit(row(r->any, r, ANY_LIS), p);
		for (i = 0; i < pol[p].n_listeners; i++) {
			at = lis_find(r, pol[p].listeners[i]);
			set_bit(row(r->lis_masks, r, (size_t)at), p);
		}
	}
	return true;
}

static bool build_users(struct rules *r, const struct rules_policy *pol)
{
	struct user_ref *refs;
	size_t total = 0, k = 0;
	unsigned p, i;
	bool ok = false;

	for (p = 0; p < r->n; p++)
		total += pol[p].n_users;
	refs = malloc((total ? total : 1) * sizeof(*refs));
	r->users = calloc(total ? total : 1, sizeof(*r->users));
	r->user_masks = calloc((total ? total : 1) * r->words, sizeof(uint64_t));
	if (!refs || !r->users || !r->user_masks)
		goto out;
	for (p = 0; p < r->n; p++) {
		if (!pol[p].n_users)
			set_bit(row(r->any, r, ANY_USER), p);
		for (i = 0; i < pol[p].n_users; i++) {
			const char *u = pol[p].users[i] ? pol[p].users[i] : "";

			refs[k++] = (struct user_ref){.name = u, .len = strlen(u), .policy = p};
		}
	}
	qsort(refs, total, sizeof(*refs), user_ref_cmp);
	for (k = 0; k < total; k++) {
		struct user *last = r->n_users ? &r->users[r->n_users - 1] : NULL;

		if (!last || user_cmp(last->name, last->len, refs[k].name, refs[k].len)) {
			last = &r->users[r->n_users];
			last->name = malloc(refs[k].len + 1);
			if (!last->name)
				goto out;
			memcpy(last->name, refs[k].name, refs[k].len + 1);
			last->len = refs[k].len;
			last->mask = r->n_users++;
		}
		set_bit(row(r->user_masks, r, last->mask), refs[k].policy);
	}
	ok = true;
out:
	free(refs);
	return ok;
}

static bool build_sources(struct rules *r, const struct rules_policy *pol)
{
	unsigned p, i;

	r->trie = grow(NULL, &r->cap_nodes, 1, sizeof(*r->trie));
	if (!r->trie)
		return false;
	r->trie[0] = (struct node){.mask = NO_MASK};
	r->n_nodes = 1;
	for (p = 0; p < r->n; p++) {
		if (!pol[p].n_sources)
			set_bit(row(r->any, r, ANY_SRC), p);
		for (i = 0; i < pol[p].n_sources; i++)
			if (!trie_add(r, &pol[p].sources[i], p))
				return false;
	}
	return true;
}

/* ---- names ---- */

/* Union entry texts, sorted, to find an entry (wildcards included) by its text. */
struct text_ref {
	const char *s;
	uint32_t idx;
};

struct names {
	char *pool;
	const char **text; /* n_union: entry e as allowlist_entry() spells it */
	struct text_ref *sorted;
	uint32_t *cover_start; /* n_union + 1: cover[cover_start[e] ..) are the wildcards covering e
				*/
	uint32_t *cover;       /* longest suffix first */
	uint64_t *own;	       /* n_union rows: the policies listing the entry itself */
	int32_t *own_of;       /* scratch for one policy: union index -> own entry, or -1 */
};

static int text_ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct text_ref *)a)->s, ((const struct text_ref *)b)->s);
}

static long text_find(const struct names *nm, size_t n, const char *s)
{
	struct text_ref key = {.s = s};
	const struct text_ref *t = bsearch(&key, nm->sorted, n, sizeof(key), text_ref_cmp);

	return t ? (long)t->idx : -1;
}

/* The union index of a spec entry the allowlist accepted: its folded text, looked up. */
static long spec_find(const struct names *nm, size_t n, const char *name)
{
	char buf[ENTRY_BUF];
	size_t len = hostname_trim(name, strnlen(name, sizeof(buf) - 1)), i;

	for (i = 0; i < len; i++)
		buf[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] | 0x20) : name[i];
	buf[len] = '\0';
	return text_find(nm, n, buf);
}

static void names_free(struct names *nm)
{
	free(nm->pool);
	free(nm->text);
	free(nm->sorted);
	free(nm->cover_start);
	free(nm->cover);
	free(nm->own);
	free(nm->own_of);
}

static bool names_index(struct rules *r, struct names *nm)
{
	size_t n = r->n_union, e, off = 0, n_cover = 0, cap = 16;
	char buf[ENTRY_BUF];

	for (e = 0; e < n; e++)
		off += allowlist_entry(r->al, e, buf, sizeof(buf)) + 1;
	nm->pool = malloc(off + 1);
	nm->text = malloc((n ? n : 1) * sizeof(*nm->text));
	nm->sorted = malloc((n ? n : 1) * sizeof(*nm->sorted));
	nm->cover_start = malloc((n + 1) * sizeof(*nm->cover_start));
	nm->cover = malloc(cap * sizeof(*nm->cover));
	if (!nm->pool || !nm->text || !nm->sorted || !nm->cover_start || !nm->cover)
		return false;
	for (e = 0, off = 0; e < n; e++) {
		nm->text[e] = nm->pool + off;
		off += allowlist_entry(r->al, e, nm->pool + off, ENTRY_BUF) + 1;
		nm->sorted[e] = (struct text_ref){.s = nm->text[e], .idx = (uint32_t)e};
	}
	qsort(nm->sorted, n, sizeof(*nm->sorted), text_ref_cmp);

	for (e = 0; e < n; e++) {
		const char *base = nm->text[e][0] == '*' ? nm->text[e] + 2 : nm->text[e];
		const char *dot;

		nm->cover_start[e] = (uint32_t)n_cover;
		/* "a.b.c" and "*.a.b.c" are both covered by "*.b.c" and "*.c", longest first. */
		for (dot = strchr(base, '.'); dot; dot = strchr(dot + 1, '.')) {
			long w;

			buf[0] = '*';
			strcpy(buf + 1, dot);
			if ((w = text_find(nm, n, buf)) < 0)
				continue;
			if (n_cover == cap) {
				uint32_t *c = realloc(nm->cover, 2 * cap * sizeof(*c));

				if (!c)
					return false;
				nm->cover = c;
				cap *= 2;
			}
			nm->cover[n_cover++] = (uint32_t)w;
		}
	}
	nm->cover_start[n] = (uint32_t)n_cover;
	return true;
}

static bool has_attrs(const struct rules_policy *p)
{
	unsigned k;

	for (k = 0; k < p->n_entries; k++)
		if (p->entries[k].n_ports || p->entries[k].expires ||
		    p->entries[k].n_upstream_allow)
			return true;
	return false;
}

/* The (union entry -> deciding own entry) array of a policy with ports or expiry. */
static bool build_decide(struct rules *r, struct names *nm, const struct rules_policy *spec,
			 unsigned p, uint16_t **ports_at)
{
	struct rpol *rp = &r->pol[p];
	size_t e, n_decide = 0;
	unsigned k;
	long u;

	rp->attrs = calloc(spec->n_entries, sizeof(*rp->attrs));
	if (!rp->attrs)
		return false;
	rp->n_attrs = spec->n_entries;
	for (k = 0; k < spec->n_entries; k++) {
		const struct rules_entry *se = &spec->entries[k];

		if (se->n_upstream_allow) {
			size_t sz = se->n_upstream_allow * sizeof(*rp->attrs[k].up);
			if (!(rp->attrs[k].up = malloc(sz)))
				return false;
			memcpy(rp->attrs[k].up, se->upstream_allow, sz);
			rp->attrs[k].n_up = se->n_upstream_allow;
		}
		rp->attrs[k].expires = se->expires;
		rp->attrs[k].n_ports = se->ports ? se->n_ports : 0;
		rp->attrs[k].ports = *ports_at;
		if (rp->attrs[k].n_ports)
			memcpy(*ports_at, se->ports, se->n_ports * sizeof(**ports_at));
		*ports_at += rp->attrs[k].n_ports;
		u = spec_find(nm, r->n_union, se->name);
		/* A name listed twice in one policy: the first listing decides. */
		if (nm->own_of[u] < 0)
			nm->own_of[u] = (int32_t)k;
	}
	for (e = 0; e < r->n_union; e++)
		n_decide += get_bit(row(r->bits, r, e), p);
	rp->decide = malloc((n_decide ? n_decide : 1) * sizeof(*rp->decide));
	if (!rp->decide)
		return false;
	for (e = 0; e < r->n_union; e++) {
		int32_t a = nm->own_of[e];
		uint32_t c;

		if (!get_bit(row(r->bits, r, e), p))
			continue;
		for (c = nm->cover_start[e]; a < 0 && c < nm->cover_start[e + 1]; c++)
			a = nm->own_of[nm->cover[c]];
		rp->decide[rp->n_decide++] =
			(struct decide){.idx = (uint32_t)e, .attr = (uint32_t)a};
	}
	for (k = 0; k < spec->n_entries; k++)
		nm->own_of[spec_find(nm, r->n_union, spec->entries[k].name)] = -1;
	return true;
}

static bool build_names(struct rules *r, const struct rules_policy *pol)
{
	struct names nm = {0};
	size_t e, n_ports = 0, n_exp = 0;
	unsigned p, k, w;
	uint16_t *ports_at;
	bool ok = false;

	r->n_union = allowlist_count(r->al);
	if (!names_index(r, &nm))
		goto out;
	nm.own = calloc((r->n_union ? r->n_union : 1) * r->words, sizeof(uint64_t));
	r->bits = calloc((r->n_union ? r->n_union : 1) * r->words, sizeof(uint64_t));
	nm.own_of = malloc((r->n_union ? r->n_union : 1) * sizeof(*nm.own_of));
	if (!nm.own || !r->bits || !nm.own_of)
		goto out;
	memset(nm.own_of, 0xff, r->n_union * sizeof(*nm.own_of));
	for (p = 0; p < r->n; p++)
		for (k = 0; k < pol[p].n_entries; k++)
			set_bit(row(nm.own, r,
				    (size_t)spec_find(&nm, r->n_union, pol[p].entries[k].name)),
				p);
	for (e = 0; e < r->n_union; e++) {
		uint64_t *b = row(r->bits, r, e);
		uint32_t c;

		memcpy(b, row(nm.own, r, e), r->words * sizeof(*b));
		for (c = nm.cover_start[e]; c < nm.cover_start[e + 1]; c++)
			for (w = 0; w < r->words; w++)
				b[w] |= row(nm.own, r, nm.cover[c])[w];
	}

	for (p = 0; p < r->n; p++)
		for (k = 0; k < pol[p].n_entries; k++) {
			n_ports += pol[p].entries[k].ports ? pol[p].entries[k].n_ports : 0;
			n_exp += pol[p].entries[k].expires != 0;
		}
	r->ports = malloc((n_ports ? n_ports : 1) * sizeof(*r->ports));
	r->expiries = malloc((n_exp ? n_exp : 1) * sizeof(*r->expiries));
	if (!r->ports || !r->expiries)
		goto out;
	ports_at = r->ports;
	for (p = 0; p < r->n; p++) {
		for (k = 0; k < pol[p].n_entries; k++)
			if (pol[p].entries[k].expires)
				r->expiries[r->n_expiries++] = pol[p].entries[k].expires;
		if (has_attrs(&pol[p]) && !build_decide(r, &nm, &pol[p], p, &ports_at))
			goto out;
	}
	qsort(r->expiries, r->n_expiries, sizeof(*r->expiries), i64_cmp);
	for (e = 0, n_exp = 0; e < r->n_expiries; e++)
		if (!n_exp || r->expiries[n_exp - 1] != r->expiries[e])
			r->expiries[n_exp++] = r->expiries[e];
	r->n_expiries = n_exp;
	ok = true;
out:
	names_free(&nm);
	return ok;
}

/* Policies that cover key by key everything policy j matches: see the comment at the top. */
static unsigned shadowed_by(const struct rules *r, const struct rules_policy *pj, unsigned j)
{
	uint64_t cand[MAX_WORDS] = {0}, t[MAX_WORDS];
	unsigned w, i;

	for (w = 0; w < r->words; w++)
		cand[w] = ~UINT64_C(0);

	if (pj->n_listeners) {
		memcpy(t, cand, sizeof(t));
		for (i = 0; i < pj->n_listeners; i++) {
			const uint64_t *m =
				row(r->lis_masks, r, (size_t)lis_find(r, pj->listeners[i]));

			for (w = 0; w < r->words; w++)
				t[w] &= m[w];
		}
	} else {
		memset(t, 0, sizeof(t));
	}
	for (w = 0; w < r->words; w++)
		cand[w] &= t[w] | r->any[ANY_LIS * r->words + w];

	if (pj->n_sources) {
		uint64_t all[MAX_WORDS];

		memcpy(all, cand, sizeof(all));
		for (i = 0; i < pj->n_sources; i++) {
			memset(t, 0, sizeof(t));
			trie_walk(r, pj->sources[i].addr, pj->sources[i].bits, t);
			for (w = 0; w < r->words; w++)
				all[w] &= t[w];
		}
		memcpy(t, all, sizeof(t));
	} else {
		memset(t, 0, sizeof(t));
	}
	for (w = 0; w < r->words; w++)
		cand[w] &= t[w] | r->any[ANY_SRC * r->words + w];

	if (pj->n_users) {
		memcpy(t, cand, sizeof(t));
		for (i = 0; i < pj->n_users; i++) {
			const char *u = pj->users[i] ? pj->users[i] : "";
			long at = user_find(r, u, strlen(u));

			for (w = 0; w < r->words; w++)
				t[w] &= row(r->user_masks, r, (size_t)at)[w];
		}
	} else {
		memset(t, 0, sizeof(t));
	}
	for (w = 0; w < r->words; w++)
		cand[w] &= t[w] | r->any[ANY_USER * r->words + w];

	/* Only earlier policies can shadow j; j covers itself. */
	for (w = 0; w < r->words && w * 64 < j; w++) {
		uint64_t m = cand[w];

		if (j - w * 64 < 64)
			m &= (UINT64_C(1) << (j - w * 64)) - 1;
		if (m)
			return w * 64 + (unsigned)__builtin_ctzll(m);
	}
	return j;
}

int rules_build(struct rules **out, const struct rules_policy *pol, unsigned n,
		struct rules_error *err)
{
	struct rules_error dummy;
	struct rules *r;
	const char **names = NULL;
	size_t total = 0, k = 0, bad = 0;
	enum allowlist_err ae = ALLOWLIST_OK;
	unsigned p, i, e;

	if (!err)
		err = &dummy;
	*err = (struct rules_error){0};
	*out = NULL;
	if (n > RULES_MAX_POLICIES)
		return fail(NULL, err, RULES_E_TOO_MANY, n, 0, 0);
	for (p = 0; p < n; p++) {
		for (e = 0; e < pol[p].n_entries; e++)
			if (pol[p].entries[e].n_ports > RULES_MAX_PORTS)
				return fail(NULL, err, RULES_E_TOO_MANY, p, e, 0);
		for (i = 0; i < p; i++)
			if (!strcmp(pol[i].name ? pol[i].name : "", pol[p].name ? pol[p].name : ""))
				return fail(NULL, err, RULES_E_DUPLICATE, p, 0, i);
		for (i = 0; i < pol[p].n_sources; i++)
			if (!cidr_valid(&pol[p].sources[i]))
				return fail(NULL, err, RULES_E_CIDR, p, i, 0);
		for (e = 0; e < pol[p].n_entries; e++)
			for (i = 0; i < pol[p].entries[e].n_upstream_allow; i++)
				if (!cidr_valid(&pol[p].entries[e].upstream_allow[i]))
					return fail(NULL, err, RULES_E_CIDR, p, e, 0);
		total += pol[p].n_entries;
	}

	r = calloc(1, sizeof(*r));
	if (!r)
		return fail(NULL, err, RULES_E_NOMEM, 0, 0, 0);
	r->n = n;
	r->words = n ? (n + 63) / 64 : 1;
	r->pol = calloc(n ? n : 1, sizeof(*r->pol));
	r->any = calloc(3 * (size_t)r->words, sizeof(*r->any));
	names = malloc((total ? total : 1) * sizeof(*names));
	if (!r->pol || !r->any || !names)
		goto nomem;
	for (p = 0; p < n; p++) {
		r->pol[p].name = strdup(pol[p].name ? pol[p].name : "");
		r->pol[p].audit = pol[p].audit;
		if (!r->pol[p].name)
			goto nomem;
		for (e = 0; e < pol[p].n_entries; e++)
			names[k++] = pol[p].entries[e].name;
	}
	r->al = allowlist_build(names, total, &ae, &bad);
	free(names);
	names = NULL;
	if (!r->al) {
		if (ae == ALLOWLIST_E_NOMEM)
			goto nomem;
		for (p = 0; bad >= pol[p].n_entries; p++)
			bad -= pol[p].n_entries;
		err->allowlist = ae;
		return fail(r, err, RULES_E_NAME, p, (unsigned)bad, 0);
	}
	if (!build_listeners(r, pol) || !build_users(r, pol) || !build_sources(r, pol) ||
	    !build_names(r, pol))
		goto nomem;
	for (p = 1; p < n; p++) {
		unsigned by = shadowed_by(r, &pol[p], p);

		if (by < p)
			return fail(r, err, RULES_E_SHADOWED, p, 0, by);
	}
	/* The IPv4 shortcut: the plain walk of ::ffff:0:0/96, done once. */
	static const uint8_t v4[16] = {[10] = 0xff, [11] = 0xff};
	if (!(r->v4_acc = calloc(r->words, sizeof(*r->v4_acc))))
		return fail(r, err, RULES_E_NOMEM, 0, 0, 0);
	{
		uint32_t node = 0;
		unsigned d;
		for (d = 0;; d++) {
			const struct node *nd = &r->trie[node];
			if (nd->mask != NO_MASK)
				for (unsigned w = 0; w < r->words; w++)
					r->v4_acc[w] |= row(r->src_masks, r, nd->mask)[w];
			if (d == 96 || !(node = nd->child[addr_bit(v4, d)]))
				break;
		}
		/* At 96 the node's own mask is in v4_acc already: the walk goes on below it. */
		r->v4_node = d == 96 ? node : 0;
	}
	*out = r;
	return 0;

nomem:
	free(names);
	return fail(r, err, RULES_E_NOMEM, 0, 0, 0);
}

void rules_free(struct rules *r)
{
	unsigned i;

	if (!r)
		return;
	if (r->pol)
		for (i = 0; i < r->n; i++) {
			free(r->pol[i].name);
			for (unsigned k = 0; r->pol[i].attrs && k < r->pol[i].n_attrs; k++)
				free(r->pol[i].attrs[k].up);
			free(r->pol[i].attrs);
			free(r->pol[i].decide);
		}
	free(r->pol);
	allowlist_free(r->al);
	free(r->bits);
	free(r->any);
	free(r->lis);
	free(r->lis_masks);
	free(r->trie);
	free(r->v4_acc);
	free(r->src_masks);
	if (r->users)
		for (i = 0; i < r->n_users; i++)
			free(r->users[i].name);
	free(r->users);
	free(r->user_masks);
	free(r->ports);
	free(r->expiries);
	free(r);
}

/* ---- queries ---- */

int rules_match(const struct rules *r, unsigned listener, const uint8_t addr[16], const char *user,
		size_t user_len)
{
	uint64_t src[MAX_WORDS];
	const uint64_t *lm = NULL, *um = NULL;
	unsigned w;
	long at;

	if (!r || !r->n)
		return -1;
	if ((at = lis_find(r, listener)) >= 0)
		lm = row(r->lis_masks, r, (size_t)at);
	if (user && (at = user_find(r, user, user_len)) >= 0)
		um = row(r->user_masks, r, (size_t)at);
	memcpy(src, row(r->any, r, ANY_SRC), r->words * sizeof(*src));
	trie_walk(r, addr, 128, src);
	for (w = 0; w < r->words; w++) {
		uint64_t m = src[w] & (r->any[ANY_LIS * r->words + w] | (lm ? lm[w] : 0)) &
			     (r->any[ANY_USER * r->words + w] | (um ? um[w] : 0));

		if (m)
			return (int)(w * 64 + (unsigned)__builtin_ctzll(m));
	}
	return -1;
}

static const struct attr *decide_find(const struct rpol *rp, uint32_t idx)
{
	size_t lo = 0, hi = rp->n_decide;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rp->decide[mid].idx == idx)
			return &rp->attrs[rp->decide[mid].attr];
		if (rp->decide[mid].idx < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

enum rules_verdict rules_check(const struct rules *r, int p, const char *name, size_t len,
			       uint16_t port, int64_t now, long *entry, bool *ports_checked)
{
	const struct attr *a;
	long e;
	unsigned i;

	if (ports_checked)
		*ports_checked = false;
	e = r ? allowlist_lookup(r->al, name, len) : -1;
	if (entry)
		*entry = e;
	if (e < 0 || p < 0 || (unsigned)p >= r->n || !get_bit(row(r->bits, r, (size_t)e), p))
		return RULES_NOT_LISTED;
	if (!r->pol[p].attrs || !(a = decide_find(&r->pol[p], (uint32_t)e)))
		return RULES_ALLOW;
	if (a->expires && now >= a->expires)
		return RULES_EXPIRED;
	if (!port || !a->n_ports)
		return RULES_ALLOW;
	if (ports_checked)
		*ports_checked = true;
	for (i = 0; i < a->n_ports; i++)
		if (a->ports[i] == port)
			return RULES_ALLOW;
	return RULES_PORT;
}

const struct rules_cidr *rules_upstream_allow(const struct rules *r, int p, long entry, unsigned *n)
{
	const struct attr *a;

	*n = 0;
	if (!r || p < 0 || (unsigned)p >= r->n || entry < 0 || (size_t)entry >= r->n_union ||
	    !r->pol[p].attrs || !(a = decide_find(&r->pol[p], (uint32_t)entry)) || !a->n_up)
		return NULL;
	*n = a->n_up;
	return a->up;
}

size_t rules_bytes(const struct rules *r)
{
	size_t b, w8;

	if (!r)
		return 0;
	w8 = r->words * sizeof(uint64_t);
	b = sizeof(*r) + r->n * sizeof(*r->pol) + allowlist_bytes(r->al) + r->n_union * w8 +
	    3 * w8 + r->n_lis * (sizeof(*r->lis) + w8) + r->cap_nodes * sizeof(*r->trie) +
	    r->cap_src_masks * w8 + r->n_users * (sizeof(*r->users) + w8) +
	    r->n_expiries * sizeof(*r->expiries) + w8;
	for (unsigned i = 0; i < r->n_users; i++)
		b += r->users[i].len + 1;
	for (unsigned p = 0; p < r->n; p++) {
		b += strlen(r->pol[p].name) + 1 + r->pol[p].n_decide * sizeof(*r->pol[p].decide);
		for (unsigned k = 0; r->pol[p].attrs && k < r->pol[p].n_attrs; k++)
			b += sizeof(*r->pol[p].attrs) +
			     r->pol[p].attrs[k].n_ports * sizeof(uint16_t) +
			     r->pol[p].attrs[k].n_up * sizeof(*r->pol[p].attrs[k].up);
	}
	return b;
}

unsigned rules_count(const struct rules *r)
{
	return r ? r->n : 0;
}

bool rules_uses_sources(const struct rules *r)
{
	const uint64_t *any = r ? r->any + (size_t)ANY_SRC * r->words : NULL;

	for (unsigned p = 0; r && p < r->n; p++)
		if (!(any[p >> 6] >> (p & 63) & 1))
			return true;
	return false;
}

const char *rules_name(const struct rules *r, int p)
{
	return r && p >= 0 && (unsigned)p < r->n ? r->pol[p].name : NULL;
}

bool rules_audit(const struct rules *r, int p)
{
	return r && p >= 0 && (unsigned)p < r->n && r->pol[p].audit;
}

const struct allowlist *rules_allowlist(const struct rules *r)
{
	return r ? r->al : NULL;
}

int64_t rules_next_expiry(const struct rules *r, int64_t now)
{
	size_t lo = 0, hi;

	if (!r)
		return 0;
	hi = r->n_expiries;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->expiries[mid] <= now)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->n_expiries ? r->expiries[lo] : 0;
}

const char *rules_verdict_str(enum rules_verdict v)
{
	switch (v) {
	case RULES_ALLOW:
		return "allow";
	case RULES_NOT_LISTED:
		return "not_listed";
	case RULES_EXPIRED:
		return "expired";
	case RULES_PORT:
		return "port";
	}
	return "unknown";
}

const char *rules_strerror(enum rules_err e)
{
	switch (e) {
	case RULES_OK:
		return "ok";
	case RULES_E_NOMEM:
		return "out of memory";
	case RULES_E_TOO_MANY:
		return "too many policies or ports";
	case RULES_E_NAME:
		return "not a valid name";
	case RULES_E_CIDR:
		return "not a valid CIDR";
	case RULES_E_DUPLICATE:
		return "two policies have one name";
	case RULES_E_SHADOWED:
		return "can never match: an earlier policy matches everything it would";
	}
	return "unknown error";
}
