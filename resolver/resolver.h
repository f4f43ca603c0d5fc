/* SPDX-License-Identifier: MIT */
/*
 * resolver: name -> addresses for allowed host names, per worker thread.
 *
 * Each worker owns one resolver: an embedded libunbound context (so queries
 * never block the ring), a TTL-bounded answer cache, and coalescing, so that
 * a burst of connections to one cold name sends one query from this thread.
 * The owner polls resolver_fd() in its ring and calls resolver_process()
 * when it is readable; callbacks run from there and nowhere else.
 *
 * Nothing here is thread-safe; nothing here logs.
 */
#ifndef SNIGATE_RESOLVER_H
#define SNIGATE_RESOLVER_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#define RESOLVER_MAX_ADDRS 8

enum resolver_family {
	RESOLVER_V4_ONLY = 0,
	RESOLVER_V6_ONLY,
	RESOLVER_V4_PREFERRED, /* A, then AAAA only when there is no A */
	RESOLVER_AUTO,	       /* AAAA, then A only when there is no AAAA */
	RESOLVER_ALL,	       /* A and AAAA; IPv4 first */
};

enum resolver_status {
	RESOLVER_OK = 0,
	RESOLVER_NXDOMAIN, /* the name does not exist */
	RESOLVER_NODATA,   /* the name exists but has no address of the wanted families */
	RESOLVER_ERROR,	   /* SERVFAIL, refused, no upstream reachable, out of memory */
};

struct resolver_answer {
	unsigned n; /* 1..RESOLVER_MAX_ADDRS when RESOLVER_OK */
	struct {
		sa_family_t family; /* AF_INET or AF_INET6 */
		uint8_t addr[16];   /* network order; 4 bytes used for AF_INET */
	} a[RESOLVER_MAX_ADDRS];
};

struct resolver_opts {
	const char *const *forwarders; /* "IP" or "IP@port"; n_forwarders == 0: use resolv_conf */
	unsigned n_forwarders;
	const char *resolv_conf;
	enum resolver_family family;
	unsigned cache_size;	 /* names kept; least recently used evicted first */
	unsigned max_ttl_s;	 /* cap on a positive answer's lifetime */
	unsigned negative_ttl_s; /* lifetime of NXDOMAIN / NODATA */
};

struct resolver;

typedef void (*resolver_cb)(void *arg, enum resolver_status st, const struct resolver_answer *ans);

/*
 * A waiter for one lookup, embedded in the caller's object so a lookup
 * allocates nothing per connection. The fields are private.
 */
struct resolver_wait {
	struct resolver_wait *next;
	struct resolver_wait **pprev;
	resolver_cb cb;
	void *arg;
};

/* Returns 0 or -errno; err_str (may be NULL) receives libunbound's reason. */
int resolver_new(struct resolver **out, const struct resolver_opts *o, const char **err_str);
/* Cancels every waiter without calling it. */
void resolver_free(struct resolver *r);

/*
 * Look name up (len bytes, lower case, no trailing dot). now_ms is the
 * caller's monotonic clock.
 * - Returns 0 when the cache answered: *st and *ans are filled, w is unused.
 * - Returns -EINPROGRESS when w was queued: cb(arg, ...) is called exactly
 *   once from a later resolver_process(), unless resolver_cancel(w) runs first.
 * - Returns another -errno on failure; w is unused.
 */
int resolver_lookup(struct resolver *r, const char *name, size_t len, uint64_t now_ms,
		    struct resolver_wait *w, resolver_cb cb, void *arg, enum resolver_status *st,
		    struct resolver_answer *ans);

/* Forget a queued waiter; its callback will not be called. Safe on an idle w. */
void resolver_cancel(struct resolver_wait *w);

/* The fd to poll for POLLIN. */
int resolver_fd(const struct resolver *r);
/* Deliver finished queries; now_ms stamps cache entries. Returns 0 or -errno. */
int resolver_process(struct resolver *r, uint64_t now_ms);

/* Queries sent to libunbound so far (for coalescing checks and metrics). */
uint64_t resolver_queries(const struct resolver *r);

const char *resolver_status_str(enum resolver_status st);

#endif
