/* SPDX-License-Identifier: MIT */
/*
 * cache: the resolver's answer cache, without libunbound, so its rules can be
 * tested with a clock the test moves.
 *
 * An entry holds the outcome of the last lookup of one name and how long it
 * stands:
 *  - a positive answer lives for its TTL clamped to [min_ttl, max_ttl], and
 *    is refreshed in the background when it is hit in the last tenth of that
 *    lifetime (prefetch), so a busy name never waits on DNS;
 *  - NXDOMAIN and no-data live for neg_ttl, upstream failures and timeouts
 *    for err_ttl;
 *  - when a refresh fails, the last good answer is served instead for up to
 *    stale_s past its expiry (stale-if-error), and after that first failure
 *    it is served at once while a refresh runs in the background.
 * The table is bounded: inserting into a full table evicts the least
 * recently used entry, even one whose query is still in flight; the owner's
 * evict hook detaches that query first, so no pointer to a freed entry stays.
 *
 * Private to resolver/. Not thread-safe.
 */
#ifndef SNIGATE_RESOLVER_CACHE_H
#define SNIGATE_RESOLVER_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "resolver/resolver.h"

#define RCACHE_NAME_MAX 253

struct rcache_entry {
	struct rcache_entry *hnext;    /* hash chain */
	struct rcache_entry *lru_prev; /* towards most recently used */
	struct rcache_entry *lru_next; /* towards least recently used */
	uint64_t stored_ms;	       /* when the outcome was stored */
	uint64_t expires_ms;	       /* the outcome stands until; 0 = never stored */
	uint64_t good_until_ms;	       /* the good answer in ans is fresh until */
	uint64_t stale_until_ms;       /* and may be served stale until */
	enum resolver_status st;       /* outcome served while it stands */
	struct resolver_answer ans;    /* addresses when st == RESOLVER_OK */
	bool has_good;		       /* ans is a good answer, fresh or not */
	bool failing;		       /* the last refresh failed: ans is served stale */
	void *inflight;		       /* owner's query for this name, or NULL */
	uint8_t len;
	char name[RCACHE_NAME_MAX + 1];
};

struct rcache_opts {
	unsigned size;	    /* entries at most; 0 is taken as 1 */
	unsigned min_ttl_s; /* floor on a positive answer's TTL */
	unsigned max_ttl_s; /* ceiling on it; 0 = positive answers are not kept */
	unsigned neg_ttl_s; /* NXDOMAIN / no-data */
	unsigned err_ttl_s; /* SERVFAIL, REFUSED, timeout; never less than 1 s */
	unsigned stale_s;   /* serve a good answer this long past expiry when refreshes fail */
	bool prefetch;	    /* refresh a positive answer hit in the last 10% of its life */
	/* Called before an entry with inflight != NULL is freed. */
	void (*evict)(void *ctx, struct rcache_entry *e);
	void *ctx;
};

struct rcache;

enum rcache_verdict {
	RC_MISS,	  /* nothing usable: the caller must ask upstream and wait */
	RC_HIT,		  /* serve e->st / e->ans */
	RC_HIT_REFRESH,	  /* serve them, and refresh the name in the background */
	RC_STALE,	  /* serve the expired e->ans (stale-if-error) */
	RC_STALE_REFRESH, /* the same, and refresh in the background */
};

int rcache_new(struct rcache **out, const struct rcache_opts *o); /* 0 or -ENOMEM */
void rcache_free(struct rcache *c); /* calls evict for entries still in flight */

struct rcache_entry *rcache_find(struct rcache *c, const char *name, size_t len);
/*
 * A new, empty entry for name (which must not be in the table), most recently
 * used. Evicts the least recently used entry first when the table is full.
 * NULL when out of memory or len is 0 or too long.
 */
struct rcache_entry *rcache_insert(struct rcache *c, const char *name, size_t len);
void rcache_remove(struct rcache *c, struct rcache_entry *e); /* no evict hook */
/* Mark e most recently used and say what may be served from it at now. */
enum rcache_verdict rcache_get(struct rcache *c, struct rcache_entry *e, uint64_t now);
/*
 * Store the outcome of a lookup round. ttl_s is the answer's own TTL (only
 * for RESOLVER_OK). Returns true when st was a failure and the previous good
 * answer stands in for it: e->st is then RESOLVER_OK and e->ans that answer.
 */
bool rcache_store(struct rcache *c, struct rcache_entry *e, enum resolver_status st,
		  const struct resolver_answer *ans, unsigned ttl_s, uint64_t now);
unsigned rcache_count(const struct rcache *c);

#endif
