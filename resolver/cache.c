/* SPDX-License-Identifier: MIT */
/*
 * cache: a chained hash table of names with an LRU list through it. See
 * cache.h for the rules; this file only keeps them.
 */
#include "resolver/cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct rcache {
	struct rcache_entry **table; /* chained, mask + 1 buckets */
	size_t mask;
	struct rcache_entry *lru_head; /* most recent */
	struct rcache_entry *lru_tail; /* least recent: evicted first */
	unsigned count;
	struct rcache_opts o;
};

static uint64_t hash_name(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

static struct rcache_entry **bucket(struct rcache *c, const char *name, size_t len)
{
	return &c->table[hash_name(name, len) & c->mask];
}

static void lru_unlink(struct rcache *c, struct rcache_entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		c->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		c->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct rcache *c, struct rcache_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = c->lru_head;
	if (c->lru_head)
		c->lru_head->lru_prev = e;
	c->lru_head = e;
	if (!c->lru_tail)
		c->lru_tail = e;
}

int rcache_new(struct rcache **out, const struct rcache_opts *o)
{
	struct rcache *c = calloc(1, sizeof(*c));
	size_t buckets = 64;

	if (!c)
		return -ENOMEM;
	c->o = *o;
	if (!c->o.size)
		c->o.size = 1;
	/* A failure is remembered at least a second, or a dead upstream sees every lookup. */
	if (!c->o.err_ttl_s)
		c->o.err_ttl_s = 1;
	while (buckets < c->o.size && buckets < (1u << 24))
		buckets <<= 1;
	c->table = calloc(buckets, sizeof(*c->table));
	if (!c->table) {
		free(c);
		return -ENOMEM;
	}
	c->mask = buckets - 1;
	*out = c;
	return 0;
}

void rcache_free(struct rcache *c)
{
	if (!c)
		return;
	while (c->lru_head) {
		struct rcache_entry *e = c->lru_head;
		lru_unlink(c, e);
		if (e->inflight && c->o.evict)
			c->o.evict(c->o.ctx, e);
		free(e);
	}
	free(c->table);
	free(c);
}

struct rcache_entry *rcache_find(struct rcache *c, const char *name, size_t len)
{
	for (struct rcache_entry *e = *bucket(c, name, len); e; e = e->hnext)
		if (e->len == len && memcmp(e->name, name, len) == 0)
			return e;
	return NULL;
}

void rcache_remove(struct rcache *c, struct rcache_entry *e)
{
	struct rcache_entry **pp = bucket(c, e->name, e->len);
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(c, e);
	c->count--;
	free(e);
}

struct rcache_entry *rcache_insert(struct rcache *c, const char *name, size_t len)
{
	if (len == 0 || len > RCACHE_NAME_MAX)
		return NULL;
	/*
	 * The bound holds even when every entry has a query in flight: the
	 * owner detaches the query (its waiters still get their answer, it is
	 * just not kept), so a burst of cold names cannot grow the table.
	 */
	while (c->count >= c->o.size && c->lru_tail) {
		struct rcache_entry *old = c->lru_tail;
		if (old->inflight && c->o.evict)
			c->o.evict(c->o.ctx, old);
		rcache_remove(c, old);
	}
	struct rcache_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->len = (uint8_t)len;
	memcpy(e->name, name, len);
	struct rcache_entry **b = bucket(c, name, len);
	e->hnext = *b;
	*b = e;
	lru_push_front(c, e);
	c->count++;
	return e;
}

enum rcache_verdict rcache_get(struct rcache *c, struct rcache_entry *e, uint64_t now)
{
	lru_unlink(c, e);
	lru_push_front(c, e);
	if (e->expires_ms == 0)
		return RC_MISS;
	if (now < e->expires_ms) {
		if (e->failing && now >= e->good_until_ms)
			return RC_STALE;
		/* After a failed prefetch the answer runs out; then it is served stale. */
		if (c->o.prefetch && e->st == RESOLVER_OK && !e->inflight && !e->failing) {
			uint64_t life = e->expires_ms - e->stored_ms;
			if (now >= e->expires_ms - life / 10)
				return RC_HIT_REFRESH;
		}
		return RC_HIT;
	}
	/*
	 * Expired. Once a refresh has failed, the good answer is served at
	 * once while another is tried; before that, the caller waits for the
	 * refresh, and gets the good answer only if that one fails too.
	 */
	if (e->has_good && e->failing && now < e->stale_until_ms)
		return e->inflight ? RC_STALE : RC_STALE_REFRESH;
	return RC_MISS;
}

bool rcache_store(struct rcache *c, struct rcache_entry *e, enum resolver_status st,
		  const struct resolver_answer *ans, unsigned ttl_s, uint64_t now)
{
	const struct rcache_opts *o = &c->o;

	switch (st) {
	case RESOLVER_OK:
		if (ttl_s < o->min_ttl_s)
			ttl_s = o->min_ttl_s;
		if (ttl_s > o->max_ttl_s)
			ttl_s = o->max_ttl_s;
		e->st = RESOLVER_OK;
		e->ans = *ans;
		e->has_good = true;
		e->failing = false;
		e->stored_ms = now;
		e->expires_ms = now + (uint64_t)ttl_s * 1000;
		e->good_until_ms = e->expires_ms;
		e->stale_until_ms = e->expires_ms + (uint64_t)o->stale_s * 1000;
		/* max_ttl 0: not kept, but expires_ms must still say "stored". */
		if (ttl_s == 0) {
			e->expires_ms = now ? now : 1;
			e->has_good = false;
		}
		return false;
	case RESOLVER_NXDOMAIN:
	case RESOLVER_NODATA:
		/* An authoritative answer, not a failure: the old addresses are gone. */
		e->st = st;
		e->has_good = false;
		e->failing = false;
		e->stored_ms = now;
		e->expires_ms = now + (uint64_t)o->neg_ttl_s * 1000;
		if (e->expires_ms == 0)
			e->expires_ms = 1;
		return false;
	case RESOLVER_ERROR:
	case RESOLVER_TIMEOUT:
		break;
	}
	if (e->has_good && now < e->stale_until_ms) {
		/*
		 * Keep serving the good answer. A prefetch that failed leaves a
		 * fresh answer as it was; an expired one is served stale for
		 * err_ttl, then a refresh is tried again.
		 */
		e->failing = true;
		e->st = RESOLVER_OK;
		if (now >= e->expires_ms) {
			uint64_t retry = now + (uint64_t)o->err_ttl_s * 1000;
			e->expires_ms = retry < e->stale_until_ms ? retry : e->stale_until_ms;
		}
		return true;
	}
	e->st = st;
	e->has_good = false;
	e->failing = false;
	e->stored_ms = now;
	e->expires_ms = now + (uint64_t)o->err_ttl_s * 1000;
	return false;
}

unsigned rcache_count(const struct rcache *c)
{
	return c->count;
}
