/* SPDX-License-Identifier: MIT */
/*
 * resolver: name -> addresses for allowed host names, per worker thread.
 *
 * Each worker owns one resolver: an embedded libunbound context (so queries
 * never block the ring), a TTL-bounded answer cache, and coalescing, so that
 * a burst of connections to one cold name sends one query from this thread.
 * The owner polls resolver_fd() in its ring and calls resolver_process()
 * when it is readable; callbacks run from there and nowhere else. That fd
 * also wakes the owner when an upstream round runs past timeout_ms.
 *
 * Nothing here is thread-safe; nothing here logs.
 */
#ifndef SNIGATE_RESOLVER_H
#define SNIGATE_RESOLVER_H

#include <stdbool.h>
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
	RESOLVER_TIMEOUT,  /* no answer within resolver_opts.timeout_ms */
};

struct resolver_answer {
	unsigned n; /* 1..RESOLVER_MAX_ADDRS when RESOLVER_OK */
	struct {
		sa_family_t family; /* AF_INET or AF_INET6 */
		uint8_t addr[16];   /* network order; 4 bytes used for AF_INET */
	} a[RESOLVER_MAX_ADDRS];
};

/* A static name: answered from here, never asked upstream. */
struct resolver_host {
	const char *name; /* lower case, no trailing dot */
	struct resolver_answer ans;
};

struct resolver_opts {
	const char *const *forwarders; /* "IP" or "IP@port"; n_forwarders == 0: use resolv_conf */
	unsigned n_forwarders;
	const char *resolv_conf;
	bool tcp; /* ask the forwarders over TCP only */
	enum resolver_family family;
	unsigned cache_size;	 /* names kept; least recently used evicted first */
	unsigned min_ttl_s;	 /* floor on a positive answer's lifetime */
	unsigned max_ttl_s;	 /* ceiling on it */
	unsigned negative_ttl_s; /* lifetime of NXDOMAIN / NODATA */
	unsigned error_ttl_s;	 /* lifetime of SERVFAIL / REFUSED / timeout; 0 is taken as 1 */
	unsigned stale_s; /* serve the last good answer this long past expiry if refreshes fail */
	bool prefetch;	  /* refresh an answer hit in the last 10% of its lifetime */
	unsigned timeout_ms; /* give up on an upstream round after this; 0 = libunbound's own */
	const struct resolver_host *hosts; /* copied */
	unsigned n_hosts;
};

/* Upper bounds of the latency histogram buckets, in microseconds; the last bucket is open. */
#define RESOLVER_LAT_BUCKETS 14
extern const uint32_t resolver_lat_bounds_us[RESOLVER_LAT_BUCKETS - 1];

/*
 * Counters of one resolver (one worker thread). Plain integers written by
 * their thread only; a reader on another thread gets a rough view.
 */
struct resolver_stats {
	uint64_t hit;	    /* answered from the cache, fresh (negative answers included) */
	uint64_t miss;	    /* had to wait for a new upstream round */
	uint64_t coalesced; /* waited on a round another lookup started */
	uint64_t stale;	    /* answered with an expired answer because refreshes failed */
	uint64_t prefetch;  /* background refreshes started (prefetch and stale refresh) */
	uint64_t hosts;	    /* answered from the static hosts map */
	uint64_t nxdomain;  /* rounds that ended NXDOMAIN */
	uint64_t nodata;    /* rounds that ended with no address of the wanted families */
	uint64_t servfail;  /* rounds that failed upstream (SERVFAIL, REFUSED, unreachable) */
	uint64_t timeout;   /* rounds given up after timeout_ms */
	uint64_t denied;    /* addresses the upstream policy refused (resolver_count_denied) */
	uint64_t queries;   /* queries handed to libunbound */
	uint64_t lat[RESOLVER_LAT_BUCKETS]; /* upstream round latency */
	uint64_t lat_sum_us;		    /* the sum of those latencies */
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

/* A copy of r's counters. */
void resolver_stats(const struct resolver *r, struct resolver_stats *out);
/* sum += s, for the caller that adds up its threads. */
void resolver_stats_add(struct resolver_stats *sum, const struct resolver_stats *s);
/* The caller's upstream policy refused n addresses of an answer. */
void resolver_count_denied(struct resolver *r, unsigned n);

const char *resolver_status_str(enum resolver_status st);

#endif
