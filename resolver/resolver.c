/* SPDX-License-Identifier: MIT */
/*
 * resolver: libunbound in asynchronous mode behind a small per-thread cache.
 *
 * libunbound runs its queries on a thread of its own (ub_ctx_async(ctx, 1):
 * the default would fork a process out of a multi-threaded program) and
 * reports on a pipe, ub_fd(). Our cache (cache.c) sits in front of it for two
 * reasons: a hit costs no round trip through that thread at all, and a name
 * being looked up carries the list of connections waiting for it, which is
 * what turns a burst to one cold name into one query.
 *
 * A lookup round is a struct query, not the cache entry, so the table stays
 * bounded: evicting an entry whose round is still running only detaches the
 * round, whose waiters are still answered. Rounds carry a deadline; the fd we
 * hand out is an epoll set of ub_fd() and a timerfd for the oldest deadline,
 * so one poll in the owner's ring covers answers and timeouts alike.
 */
#include "resolver/resolver.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <unbound.h>

#include "resolver/cache.h"

#define RR_A	1
#define RR_AAAA 28
#define RR_IN	1
/* Seconds libunbound keeps a forwarder marked down (see resolver_new()). */
#define INFRA_HOST_TTL "10"

const uint32_t resolver_lat_bounds_us[RESOLVER_LAT_BUCKETS - 1] = {
	500,	1000,	2000,	5000,	 10000,	  25000,   50000,
	100000, 250000, 500000, 1000000, 2500000, 5000000,
};

struct query {
	struct query *prev, *next; /* r->live (oldest first) or r->dead */
	struct resolver *r;
	struct rcache_entry *e;	       /* NULL once the entry was evicted */
	struct resolver_wait *waiters; /* connections waiting for this round */
	uint64_t deadline_ms;	       /* 0: no deadline */
	uint64_t t0_ns;		       /* for the latency histogram */
	int ids[2];		       /* libunbound's ids of the queries in flight */
	uint8_t n_ids;
	uint8_t pending;    /* queries in flight (ALL sends two) */
	bool fallback_done; /* the second family of *_PREFERRED / AUTO was asked */
	bool saw_nx;	    /* some answer of this round said NXDOMAIN */
	bool saw_err;	    /* some answer of this round failed */
	bool done;	    /* delivered (timed out): only waiting for libunbound */
	unsigned min_ttl;   /* smallest TTL seen in this round */
	struct resolver_answer ans;
	uint8_t len;
	char name[RCACHE_NAME_MAX + 1];
};

struct host {
	char *name;
	size_t len;
	struct resolver_answer ans; /* already filtered and ordered for the family */
	enum resolver_status st;
};

struct resolver {
	struct ub_ctx *ub;
	struct rcache *cache;
	int epfd;	   /* what the owner polls: ub_fd() and tfd */
	int tfd;	   /* timerfd for the oldest live round's deadline */
	bool armed;	   /* tfd is set */
	struct query live; /* list head: rounds in deadline order */
	struct query dead; /* list head: rounds timed out, libunbound still holds them */
	enum resolver_family family;
	unsigned timeout_ms;
	struct host *hosts; /* sorted by name */
	unsigned n_hosts;
	uint64_t now_ms; /* clock of the current resolver_process() */
	struct resolver_stats st;
};

static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void q_unlink(struct query *q)
{
	q->prev->next = q->next;
	q->next->prev = q->prev;
	q->prev = q->next = q;
}

static void q_add_tail(struct query *head, struct query *q)
{
	q->prev = head->prev;
	q->next = head;
	head->prev->next = q;
	head->prev = q;
}

static void rearm(struct resolver *r)
{
	struct itimerspec its = {0};
	struct query *q = r->live.next;

	if (q == &r->live || !q->deadline_ms) {
		if (r->armed)
			timerfd_settime(r->tfd, 0, &its, NULL);
		r->armed = false;
		return;
	}
	/* Relative: the owner's clock need not be CLOCK_MONOTONIC (tests move theirs). */
	uint64_t left = q->deadline_ms > r->now_ms ? q->deadline_ms - r->now_ms : 0;
	if (left == 0)
		its.it_value.tv_nsec = 1; /* 0 would disarm it */
	its.it_value.tv_sec = (time_t)(left / 1000);
	its.it_value.tv_nsec += (long)(left % 1000) * 1000000;
	timerfd_settime(r->tfd, 0, &its, NULL);
	r->armed = true;
}

/* ---- waiters ---- */

static void enqueue(struct query *q, struct resolver_wait *w, resolver_cb cb, void *arg)
{
	w->cb = cb;
	w->arg = arg;
	w->next = q->waiters;
	if (w->next)
		w->next->pprev = &w->next;
	w->pprev = &q->waiters;
	q->waiters = w;
}

void resolver_cancel(struct resolver_wait *w)
{
	if (!w->pprev)
		return;
	*w->pprev = w->next;
	if (w->next)
		w->next->pprev = w->pprev;
	w->next = NULL;
	w->pprev = NULL;
}

static void deliver(struct query *q, enum resolver_status st, const struct resolver_answer *ans)
{
	/*
	 * Move the waiters to a local list first: a callback may cancel another
	 * waiter of the same name, and resolver_cancel() then unlinks it here.
	 */
	struct resolver_wait *head = q->waiters;
	q->waiters = NULL;
	if (head)
		head->pprev = &head;
	while (head) {
		struct resolver_wait *w = head;
		resolver_cancel(w);
		w->cb(w->arg, st, ans);
	}
}

/* ---- rounds ---- */

static void on_answer(void *arg, int err, struct ub_result *res);

static int send_query(struct query *q, int rrtype)
{
	int id;
	if (ub_resolve_async(q->r->ub, q->name, rrtype, RR_IN, q, on_answer, &id) != 0)
		return -EIO;
	if (q->n_ids < 2)
		q->ids[q->n_ids++] = id;
	q->pending++;
	q->r->st.queries++;
	return 0;
}

static int first_type(enum resolver_family f)
{
	return (f == RESOLVER_V6_ONLY || f == RESOLVER_AUTO) ? RR_AAAA : RR_A;
}

static void query_free(struct query *q)
{
	q_unlink(q);
	if (q->e)
		q->e->inflight = NULL;
	free(q);
}

/* Start a round for e; NULL when libunbound refused the query. */
static struct query *start_round(struct resolver *r, struct rcache_entry *e, uint64_t now)
{
	struct query *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->prev = q->next = q;
	q->r = r;
	q->e = e;
	q->len = e->len;
	memcpy(q->name, e->name, e->len);
	q->min_ttl = ~0u;
	q->t0_ns = mono_ns();
	q->deadline_ms = r->timeout_ms ? now + r->timeout_ms : 0;
	int rc = send_query(q, first_type(r->family));
	if (rc == 0 && r->family == RESOLVER_ALL && send_query(q, RR_AAAA) != 0)
		q->saw_err = true; /* the A query still answers */
	if (rc != 0) {
		free(q);
		return NULL;
	}
	e->inflight = q;
	q_add_tail(&r->live, q);
	if (q->prev == &r->live) {
		r->now_ms = now;
		rearm(r);
	}
	return q;
}

static void record_latency(struct resolver *r, const struct query *q)
{
	uint64_t us = (mono_ns() - q->t0_ns) / 1000;
	unsigned b = 0;
	while (b < RESOLVER_LAT_BUCKETS - 1 && us > resolver_lat_bounds_us[b])
		b++;
	r->st.lat[b]++;
	r->st.lat_sum_us += us;
}

/* IPv4 first when both families were asked together, as documented for ALL. */
static void order_v4_first(struct resolver_answer *a)
{
	struct resolver_answer t = {0};
	for (int pass = 0; pass < 2; pass++)
		for (unsigned i = 0; i < a->n; i++)
			if ((a->a[i].family == AF_INET) == (pass == 0))
				t.a[t.n++] = a->a[i];
	*a = t;
}

/* Store the round's outcome, answer its waiters, and forget it. */
static void finish_round(struct resolver *r, struct query *q, bool timed_out)
{
	enum resolver_status st;
	const struct resolver_answer *ans = &q->ans;

	record_latency(r, q);
	if (q->ans.n > 0) {
		st = RESOLVER_OK;
		if (r->family == RESOLVER_ALL)
			order_v4_first(&q->ans);
	} else if (timed_out) {
		st = RESOLVER_TIMEOUT;
		r->st.timeout++;
	} else if (q->saw_nx) {
		st = RESOLVER_NXDOMAIN;
		r->st.nxdomain++;
	} else if (q->saw_err) {
		st = RESOLVER_ERROR;
		r->st.servfail++;
	} else {
		st = RESOLVER_NODATA;
		r->st.nodata++;
	}
	if (q->e) {
		struct rcache_entry *e = q->e;
		e->inflight = NULL;
		q->e = NULL;
		if (rcache_store(r->cache, e, st, ans, q->min_ttl == ~0u ? 0 : q->min_ttl,
				 r->now_ms)) {
			/* The refresh failed: the last good answer stands in. */
			st = RESOLVER_OK;
			ans = &e->ans;
			for (struct resolver_wait *w = q->waiters; w; w = w->next)
				r->st.stale++;
		}
	}
	deliver(q, st, ans);
}

static void add_addrs(struct query *q, const struct ub_result *res)
{
	size_t alen = res->qtype == RR_A ? 4 : 16;
	for (int i = 0; res->data[i] && q->ans.n < RESOLVER_MAX_ADDRS; i++) {
		if ((size_t)res->len[i] != alen)
			continue;
		q->ans.a[q->ans.n].family = alen == 4 ? AF_INET : AF_INET6;
		memcpy(q->ans.a[q->ans.n].addr, res->data[i], alen);
		q->ans.n++;
	}
}

static void on_answer(void *arg, int err, struct ub_result *res)
{
	struct query *q = arg;
	struct resolver *r = q->r;
	int qtype = res ? res->qtype : 0;

	q->pending--;
	if (q->done) {
		/* Timed out and delivered already; libunbound has let go now. */
		if (res)
			ub_resolve_free(res);
		if (q->pending == 0)
			query_free(q);
		return;
	}
	if (err != 0 || !res) {
		q->saw_err = true;
	} else if (res->havedata) {
		add_addrs(q, res);
		if ((unsigned)res->ttl < q->min_ttl)
			q->min_ttl = res->ttl < 0 ? 0 : (unsigned)res->ttl;
	} else if (res->nxdomain) {
		q->saw_nx = true;
	} else if (res->rcode != 0) {
		q->saw_err = true;
	}
	if (res)
		ub_resolve_free(res);

	bool preferred = r->family == RESOLVER_V4_PREFERRED || r->family == RESOLVER_AUTO;
	if (q->pending == 0 && preferred && q->ans.n == 0 && !q->saw_nx && !q->fallback_done) {
		q->fallback_done = true;
		q->n_ids = 0;
		if (send_query(q, qtype == RR_A ? RR_AAAA : RR_A) == 0)
			return;
		q->saw_err = true;
	}
	if (q->pending == 0) {
		bool was_head = r->live.next == q;
		finish_round(r, q, false);
		query_free(q);
		if (was_head)
			rearm(r);
	}
}

/* Rounds past their deadline fail now; libunbound's late answers are dropped. */
static void expire_rounds(struct resolver *r)
{
	bool changed = false;

	while (r->live.next != &r->live) {
		struct query *q = r->live.next;
		if (!q->deadline_ms || q->deadline_ms > r->now_ms)
			break;
		changed = true;
		q_unlink(q);
		finish_round(r, q, true);
		/* A cancelled query never calls back; one that cannot be cancelled will. */
		for (unsigned i = 0; i < q->n_ids; i++)
			if (ub_cancel(r->ub, q->ids[i]) == 0 && q->pending)
				q->pending--;
		if (q->pending == 0) {
			free(q);
		} else {
			q->done = true;
			q_add_tail(&r->dead, q);
		}
	}
	if (changed)
		rearm(r);
}

/* Called by the cache before it frees an entry whose round is running. */
static void on_evict(void *ctx, struct rcache_entry *e)
{
	(void)ctx;
	struct query *q = e->inflight;
	q->e = NULL;
	e->inflight = NULL;
}

/* ---- static hosts ---- */

static int host_cmp(const void *a, const void *b)
{
	const struct host *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->name, y->name, n);
	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* The addresses of a static entry that the family wants, in its order. */
static void host_filter(enum resolver_family f, const struct resolver_answer *in,
			struct resolver_answer *out)
{
	struct resolver_answer v4 = {0}, v6 = {0};

	for (unsigned i = 0; i < in->n && i < RESOLVER_MAX_ADDRS; i++) {
		struct resolver_answer *d = in->a[i].family == AF_INET ? &v4 : &v6;
		d->a[d->n++] = in->a[i];
	}
	memset(out, 0, sizeof(*out));
	switch (f) {
	case RESOLVER_V4_ONLY:
		*out = v4;
		break;
	case RESOLVER_V6_ONLY:
		*out = v6;
		break;
	case RESOLVER_V4_PREFERRED:
		*out = v4.n ? v4 : v6;
		break;
	case RESOLVER_AUTO:
		*out = v6.n ? v6 : v4;
		break;
	case RESOLVER_ALL:
		*out = v4;
		for (unsigned i = 0; i < v6.n && out->n < RESOLVER_MAX_ADDRS; i++)
			out->a[out->n++] = v6.a[i];
		break;
	}
}

static int hosts_init(struct resolver *r, const struct resolver_opts *o)
{
	if (!o->n_hosts)
		return 0;
	r->hosts = calloc(o->n_hosts, sizeof(*r->hosts));
	if (!r->hosts)
		return -ENOMEM;
	for (unsigned i = 0; i < o->n_hosts; i++) {
		struct host *h = &r->hosts[i];
		if (!(h->name = strdup(o->hosts[i].name)))
			return -ENOMEM;
		h->len = strlen(h->name);
		host_filter(r->family, &o->hosts[i].ans, &h->ans);
		h->st = h->ans.n ? RESOLVER_OK : RESOLVER_NODATA;
		r->n_hosts = i + 1;
	}
	qsort(r->hosts, r->n_hosts, sizeof(*r->hosts), host_cmp);
	return 0;
}

static const struct host *host_find(const struct resolver *r, const char *name, size_t len)
{
	struct host key = {.name = (char *)name, .len = len};
	if (!r->n_hosts)
		return NULL;
	return bsearch(&key, r->hosts, r->n_hosts, sizeof(*r->hosts), host_cmp);
}

/* ---- lifetime ---- */

int resolver_new(struct resolver **out, const struct resolver_opts *o, const char **err_str)
{
	struct resolver *r = calloc(1, sizeof(*r));
	int rc;

	if (err_str)
		*err_str = NULL;
	if (!r)
		return -ENOMEM;
	r->live.prev = r->live.next = &r->live;
	r->dead.prev = r->dead.next = &r->dead;
	r->epfd = r->tfd = -1;
	r->family = o->family;
	r->timeout_ms = o->timeout_ms;
	struct rcache_opts co = {
		.size = o->cache_size,
		.min_ttl_s = o->min_ttl_s,
		.max_ttl_s = o->max_ttl_s,
		.neg_ttl_s = o->negative_ttl_s,
		.err_ttl_s = o->error_ttl_s,
		.stale_s = o->stale_s,
		.prefetch = o->prefetch,
		.evict = on_evict,
		.ctx = r,
	};
	if ((rc = rcache_new(&r->cache, &co)) < 0 || (rc = hosts_init(r, o)) < 0)
		goto err;
	/* ub_ctx_create() touches libunbound globals: workers start together. */
	pthread_mutex_lock(&create_lock);
	r->ub = ub_ctx_create();
	pthread_mutex_unlock(&create_lock);
	if (!r->ub) {
		rc = -ENOMEM;
		goto err;
	}
	/* A thread, not a forked process: we live inside a threaded program. */
	if ((rc = ub_ctx_async(r->ub, 1)) != 0)
		goto err_ub;
	/*
	 * libunbound answers "test." (RFC 6761) itself with NXDOMAIN, as a
	 * recursive server would; we forward, and test zones on private DNS
	 * are a normal sight on a cluster, so let the forwarder decide.
	 */
	if ((rc = ub_ctx_set_option(r->ub, "local-zone:", "test. transparent")) != 0)
		goto err_ub;
	if (o->tcp && (rc = ub_ctx_set_option(r->ub, "tcp-upstream:", "yes")) != 0)
		goto err_ub;
	/*
	 * libunbound keeps a cache of its own, which cannot be turned off (a
	 * zero size is rounded up, and capping its TTL also caps the TTL it
	 * reports). So it gets our bounds: nothing stays there longer than our
	 * ceiling, and its own prefetch refreshes a copy from the server when
	 * our prefetch reads it in its last tenth; the next prefetch then gets
	 * the new answer, still before anything expires.
	 */
	char num[16];
	snprintf(num, sizeof(num), "%u", o->max_ttl_s);
	if ((rc = ub_ctx_set_option(r->ub, "cache-max-ttl:", num)) != 0)
		goto err_ub;
	snprintf(num, sizeof(num), "%u", o->negative_ttl_s);
	if ((rc = ub_ctx_set_option(r->ub, "cache-max-negative-ttl:", num)) != 0)
		goto err_ub;
	if (o->prefetch && (rc = ub_ctx_set_option(r->ub, "prefetch:", "yes")) != 0)
		goto err_ub;
	/*
	 * A forwarder that stops answering is marked down by libunbound's
	 * infrastructure cache once its backoff reaches the largest round trip
	 * (120 s by default), and is then not asked again for infra-host-ttl
	 * (15 minutes by default), however soon it is back: the soak stopped
	 * unbound for 200 s and every lookup failed for minutes after it had
	 * restarted, once the stale answers ran out. So: no round trip longer
	 * than our own deadline, a down server forgotten after 10 s, and probed
	 * meanwhile.
	 */
	if (o->timeout_ms) {
		snprintf(num, sizeof(num), "%u", o->timeout_ms < 100 ? 100 : o->timeout_ms);
		if ((rc = ub_ctx_set_option(r->ub, "infra-cache-max-rtt:", num)) != 0)
			goto err_ub;
	}
	if ((rc = ub_ctx_set_option(r->ub, "infra-host-ttl:", INFRA_HOST_TTL)) != 0 ||
	    (rc = ub_ctx_set_option(r->ub, "infra-keep-probing:", "yes")) != 0)
		goto err_ub;
	for (unsigned i = 0; i < o->n_forwarders; i++)
		if ((rc = ub_ctx_set_fwd(r->ub, o->forwarders[i])) != 0)
			goto err_ub;
	if (o->n_forwarders == 0 && (rc = ub_ctx_resolvconf(r->ub, o->resolv_conf)) != 0)
		goto err_ub;
	r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->tfd < 0 || r->epfd < 0) {
		rc = -errno;
		goto err;
	}
	struct epoll_event ev = {.events = EPOLLIN};
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->tfd, &ev) < 0 ||
	    epoll_ctl(r->epfd, EPOLL_CTL_ADD, ub_fd(r->ub), &ev) < 0) {
		rc = -errno;
		goto err;
	}
	*out = r;
	return 0;
err_ub:
	if (err_str)
		*err_str = ub_strerror(rc);
	rc = -EINVAL;
err:
	resolver_free(r);
	return rc;
}

void resolver_free(struct resolver *r)
{
	if (!r)
		return;
	/* Deleting the context first guarantees no callback can see freed rounds. */
	if (r->ub)
		ub_ctx_delete(r->ub);
	struct query *heads[] = {&r->live, &r->dead};
	for (int i = 0; i < 2; i++) {
		while (heads[i]->next != heads[i]) {
			struct query *q = heads[i]->next;
			for (struct resolver_wait *w = q->waiters; w;) {
				struct resolver_wait *next = w->next;
				w->next = NULL;
				w->pprev = NULL;
				w = next;
			}
			query_free(q);
		}
	}
	rcache_free(r->cache);
	for (unsigned i = 0; i < r->n_hosts; i++)
		free(r->hosts[i].name);
	free(r->hosts);
	if (r->epfd >= 0)
		close(r->epfd);
	if (r->tfd >= 0)
		close(r->tfd);
	free(r);
}

/* ---- lookups ---- */

int resolver_lookup(struct resolver *r, const char *name, size_t len, uint64_t now_ms,
		    struct resolver_wait *w, resolver_cb cb, void *arg, enum resolver_status *st,
		    struct resolver_answer *ans)
{
	struct rcache_entry *e;

	if (len == 0 || len > RCACHE_NAME_MAX)
		return -EINVAL;
	const struct host *h = host_find(r, name, len);
	if (h) {
		r->st.hosts++;
		*st = h->st;
		*ans = h->ans;
		return 0;
	}
	r->now_ms = now_ms;
	e = rcache_find(r->cache, name, len);
	if (e) {
		switch (rcache_get(r->cache, e, now_ms)) {
		case RC_HIT_REFRESH:
		case RC_STALE_REFRESH:
			/* Background: no waiter; the answer in hand is served now. */
			if (start_round(r, e, now_ms))
				r->st.prefetch++;
			/* fall through */
		case RC_HIT:
		case RC_STALE:
			if (e->failing && now_ms >= e->good_until_ms)
				r->st.stale++;
			else
				r->st.hit++;
			*st = e->st;
			*ans = e->ans;
			return 0;
		case RC_MISS:
			break;
		}
		if (e->inflight) {
			r->st.coalesced++;
			enqueue(e->inflight, w, cb, arg);
			return -EINPROGRESS;
		}
	} else if (!(e = rcache_insert(r->cache, name, len))) {
		return -ENOMEM;
	}
	struct query *q = start_round(r, e, now_ms);
	if (!q) {
		if (e->expires_ms == 0)
			rcache_remove(r->cache, e);
		return -EIO;
	}
	r->st.miss++;
	enqueue(q, w, cb, arg);
	return -EINPROGRESS;
}

int resolver_fd(const struct resolver *r)
{
	return r->epfd;
}

int resolver_process(struct resolver *r, uint64_t now_ms)
{
	uint64_t ticks;
	int rc = 0;

	r->now_ms = now_ms;
	if (read(r->tfd, &ticks, sizeof(ticks)) < 0) {
		/* EAGAIN: the timer did not fire; nothing to clear. */
	}
	if (ub_poll(r->ub) && ub_process(r->ub) != 0)
		rc = -EIO;
	expire_rounds(r);
	return rc;
}

uint64_t resolver_queries(const struct resolver *r)
{
	return r->st.queries;
}

void resolver_stats(const struct resolver *r, struct resolver_stats *out)
{
	*out = r->st;
}

void resolver_stats_add(struct resolver_stats *sum, const struct resolver_stats *s)
{
	sum->hit += s->hit;
	sum->miss += s->miss;
	sum->coalesced += s->coalesced;
	sum->stale += s->stale;
	sum->prefetch += s->prefetch;
	sum->hosts += s->hosts;
	sum->nxdomain += s->nxdomain;
	sum->nodata += s->nodata;
	sum->servfail += s->servfail;
	sum->timeout += s->timeout;
	sum->denied += s->denied;
	sum->queries += s->queries;
	for (unsigned i = 0; i < RESOLVER_LAT_BUCKETS; i++)
		sum->lat[i] += s->lat[i];
	sum->lat_sum_us += s->lat_sum_us;
}

void resolver_count_denied(struct resolver *r, unsigned n)
{
	r->st.denied += n;
}

const char *resolver_status_str(enum resolver_status st)
{
	switch (st) {
	case RESOLVER_OK:
		return "ok";
	case RESOLVER_NXDOMAIN:
		return "nxdomain";
	case RESOLVER_NODATA:
		return "nodata";
	case RESOLVER_ERROR:
		return "error";
	case RESOLVER_TIMEOUT:
		return "timeout";
	}
	return "unknown";
}
