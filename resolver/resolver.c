/* SPDX-License-Identifier: MIT */
/*
 * resolver: libunbound in asynchronous mode behind a small per-thread cache.
 *
 * libunbound runs its queries on a thread of its own (ub_ctx_async(ctx, 1):
 * the default would fork a process out of a multi-threaded program) and
 * reports on a pipe, ub_fd(), which the worker polls in its io_uring ring.
 * Our cache sits in front of it for two reasons: a hit costs no round trip
 * through that thread at all, and an entry carries the list of connections
 * waiting for it, which is what turns a burst to one cold name into one query.
 *
 * Entries are kept in a chained hash table and an LRU list; an entry with a
 * query in flight is never evicted, because libunbound holds its pointer.
 */
#include "resolver/resolver.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unbound.h>

#define RR_A	1
#define RR_AAAA 28
#define RR_IN	1

struct entry {
	struct entry *hnext;	       /* hash chain */
	struct entry *lru_prev;	       /* towards most recently used */
	struct entry *lru_next;	       /* towards least recently used */
	struct resolver *r;	       /* owner, for the libunbound callback */
	struct resolver_wait *waiters; /* connections waiting for this name */
	uint64_t expires_ms;	       /* answer valid until; 0 = never answered */
	enum resolver_status st;       /* cached outcome, valid when expires_ms > now */
	struct resolver_answer ans;    /* cached addresses when st == RESOLVER_OK */
	uint8_t pending;	       /* queries in flight (ALL sends two) */
	uint8_t fallback_done;	       /* the second family of a *_PREFERRED / AUTO was asked */
	bool saw_nx;		       /* some answer of this round said NXDOMAIN */
	bool saw_err;		       /* some answer of this round failed */
	unsigned min_ttl;	       /* smallest TTL seen in this round */
	uint8_t len;
	char name[254];
};

struct resolver {
	struct ub_ctx *ub;
	struct entry **table; /* chained, table_mask + 1 buckets */
	size_t table_mask;
	struct entry *lru_head; /* most recent */
	struct entry *lru_tail; /* least recent */
	unsigned count;
	unsigned cache_size;
	unsigned max_ttl_s;
	unsigned negative_ttl_s;
	enum resolver_family family;
	uint64_t now_ms; /* clock of the current resolver_process() */
	uint64_t queries;
};

static pthread_mutex_t create_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t hash_name(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)s[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

static void lru_unlink(struct resolver *r, struct entry *e)
{
	if (e->lru_prev)
		e->lru_prev->lru_next = e->lru_next;
	else
		r->lru_head = e->lru_next;
	if (e->lru_next)
		e->lru_next->lru_prev = e->lru_prev;
	else
		r->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void lru_push_front(struct resolver *r, struct entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = r->lru_head;
	if (r->lru_head)
		r->lru_head->lru_prev = e;
	r->lru_head = e;
	if (!r->lru_tail)
		r->lru_tail = e;
}

static struct entry **bucket(struct resolver *r, const char *name, size_t len)
{
	return &r->table[hash_name(name, len) & r->table_mask];
}

static struct entry *find(struct resolver *r, const char *name, size_t len)
{
	for (struct entry *e = *bucket(r, name, len); e; e = e->hnext)
		if (e->len == len && memcmp(e->name, name, len) == 0)
			return e;
	return NULL;
}

static void entry_remove(struct resolver *r, struct entry *e)
{
	struct entry **pp = bucket(r, e->name, e->len);
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	lru_unlink(r, e);
	r->count--;
	free(e);
}

/* Make room by dropping least recently used entries that nobody waits on. */
static void evict(struct resolver *r)
{
	struct entry *e = r->lru_tail;
	while (e && r->count >= r->cache_size) {
		struct entry *prev = e->lru_prev;
		if (e->pending == 0)
			entry_remove(r, e);
		e = prev;
	}
}

static void on_answer(void *arg, int err, struct ub_result *res);

static int send_query(struct entry *e, int rrtype)
{
	int id;
	int rc = ub_resolve_async(e->r->ub, e->name, rrtype, RR_IN, e, on_answer, &id);
	if (rc != 0)
		return -EIO;
	e->pending++;
	e->r->queries++;
	return 0;
}

static int first_type(enum resolver_family f)
{
	return (f == RESOLVER_V6_ONLY || f == RESOLVER_AUTO) ? RR_AAAA : RR_A;
}

static int start_round(struct resolver *r, struct entry *e)
{
	e->ans.n = 0;
	e->saw_nx = e->saw_err = false;
	e->fallback_done = 0;
	e->min_ttl = ~0u;
	int rc = send_query(e, first_type(r->family));
	if (rc == 0 && r->family == RESOLVER_ALL)
		rc = send_query(e, RR_AAAA);
	return rc;
}

static void add_addrs(struct entry *e, const struct ub_result *res)
{
	size_t alen = res->qtype == RR_A ? 4 : 16;
	for (int i = 0; res->data[i] && e->ans.n < RESOLVER_MAX_ADDRS; i++) {
		if ((size_t)res->len[i] != alen)
			continue;
		e->ans.a[e->ans.n].family = alen == 4 ? AF_INET : AF_INET6;
		memcpy(e->ans.a[e->ans.n].addr, res->data[i], alen);
		e->ans.n++;
	}
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

static void finish_round(struct resolver *r, struct entry *e)
{
	unsigned ttl;

	if (e->ans.n > 0) {
		e->st = RESOLVER_OK;
		if (r->family == RESOLVER_ALL)
			order_v4_first(&e->ans);
		ttl = e->min_ttl < r->max_ttl_s ? e->min_ttl : r->max_ttl_s;
	} else if (e->saw_nx) {
		e->st = RESOLVER_NXDOMAIN;
		ttl = r->negative_ttl_s;
	} else if (e->saw_err) {
		e->st = RESOLVER_ERROR;
		ttl = 0; /* a failure is not remembered: the next connection asks again */
	} else {
		e->st = RESOLVER_NODATA;
		ttl = r->negative_ttl_s;
	}
	/* expires_ms == now means "answered, already stale": +1 keeps 0 for "never". */
	e->expires_ms = r->now_ms + (uint64_t)ttl * 1000 + (ttl ? 0 : 1);

	/*
	 * Move the waiters to a local list first: a callback may cancel another
	 * waiter of the same name, and resolver_cancel() then unlinks it here.
	 */
	struct resolver_wait *head = e->waiters;
	e->waiters = NULL;
	if (head)
		head->pprev = &head;
	while (head) {
		struct resolver_wait *w = head;
		resolver_cancel(w);
		w->cb(w->arg, e->st, &e->ans);
	}
}

static void on_answer(void *arg, int err, struct ub_result *res)
{
	struct entry *e = arg;
	struct resolver *r = e->r;
	int qtype = res ? res->qtype : 0;

	e->pending--;
	if (err != 0 || !res) {
		e->saw_err = true;
	} else if (res->havedata) {
		add_addrs(e, res);
		if ((unsigned)res->ttl < e->min_ttl)
			e->min_ttl = res->ttl < 0 ? 0 : (unsigned)res->ttl;
	} else if (res->nxdomain) {
		e->saw_nx = true;
	} else if (res->rcode != 0) {
		e->saw_err = true;
	}
	if (res)
		ub_resolve_free(res);

	bool preferred = r->family == RESOLVER_V4_PREFERRED || r->family == RESOLVER_AUTO;
	if (e->pending == 0 && preferred && e->ans.n == 0 && !e->saw_nx && !e->fallback_done) {
		e->fallback_done = 1;
		if (send_query(e, qtype == RR_A ? RR_AAAA : RR_A) == 0)
			return;
		e->saw_err = true;
	}
	if (e->pending == 0)
		finish_round(r, e);
}

int resolver_new(struct resolver **out, const struct resolver_opts *o, const char **err_str)
{
	struct resolver *r = calloc(1, sizeof(*r));
	int rc;

	if (err_str)
		*err_str = NULL;
	if (!r)
		return -ENOMEM;
	r->cache_size = o->cache_size ? o->cache_size : 1;
	r->max_ttl_s = o->max_ttl_s;
	r->negative_ttl_s = o->negative_ttl_s;
	r->family = o->family;
	size_t buckets = 64;
	while (buckets < r->cache_size && buckets < (1u << 24))
		buckets <<= 1;
	r->table = calloc(buckets, sizeof(*r->table));
	r->table_mask = buckets - 1;
	/* ub_ctx_create() touches libunbound globals: workers start together. */
	pthread_mutex_lock(&create_lock);
	r->ub = ub_ctx_create();
	pthread_mutex_unlock(&create_lock);
	if (!r->table || !r->ub) {
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
	for (unsigned i = 0; i < o->n_forwarders; i++)
		if ((rc = ub_ctx_set_fwd(r->ub, o->forwarders[i])) != 0)
			goto err_ub;
	if (o->n_forwarders == 0 && (rc = ub_ctx_resolvconf(r->ub, o->resolv_conf)) != 0)
		goto err_ub;
	*out = r;
	return 0;
err_ub:
	if (err_str)
		*err_str = ub_strerror(rc);
	rc = -EINVAL;
err:
	if (r->ub)
		ub_ctx_delete(r->ub);
	free(r->table);
	free(r);
	return rc;
}

void resolver_free(struct resolver *r)
{
	if (!r)
		return;
	/* Deleting the context first guarantees no callback can see freed entries. */
	ub_ctx_delete(r->ub);
	while (r->lru_head) {
		struct entry *e = r->lru_head;
		for (struct resolver_wait *w = e->waiters; w;) {
			struct resolver_wait *next = w->next;
			w->next = NULL;
			w->pprev = NULL;
			w = next;
		}
		lru_unlink(r, e);
		free(e);
	}
	free(r->table);
	free(r);
}

static void enqueue(struct entry *e, struct resolver_wait *w, resolver_cb cb, void *arg)
{
	w->cb = cb;
	w->arg = arg;
	w->next = e->waiters;
	if (w->next)
		w->next->pprev = &w->next;
	w->pprev = &e->waiters;
	e->waiters = w;
}

int resolver_lookup(struct resolver *r, const char *name, size_t len, uint64_t now_ms,
		    struct resolver_wait *w, resolver_cb cb, void *arg, enum resolver_status *st,
		    struct resolver_answer *ans)
{
	struct entry *e;

	if (len == 0 || len >= sizeof(e->name))
		return -EINVAL;
	e = find(r, name, len);
	if (e) {
		lru_unlink(r, e);
		lru_push_front(r, e);
		if (e->pending) {
			enqueue(e, w, cb, arg);
			return -EINPROGRESS;
		}
		if (e->expires_ms > now_ms) {
			*st = e->st;
			*ans = e->ans;
			return 0;
		}
	} else {
		if (r->count >= r->cache_size)
			evict(r);
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->r = r;
		e->len = (uint8_t)len;
		memcpy(e->name, name, len);
		struct entry **b = bucket(r, name, len);
		e->hnext = *b;
		*b = e;
		lru_push_front(r, e);
		r->count++;
	}
	r->now_ms = now_ms;
	if (start_round(r, e) != 0) {
		if (e->pending == 0) {
			entry_remove(r, e);
			return -EIO;
		}
		/* ALL: the first query went out; its answer still serves the waiter. */
	}
	enqueue(e, w, cb, arg);
	return -EINPROGRESS;
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

int resolver_fd(const struct resolver *r)
{
	return ub_fd(r->ub);
}

int resolver_process(struct resolver *r, uint64_t now_ms)
{
	r->now_ms = now_ms;
	return ub_process(r->ub) == 0 ? 0 : -EIO;
}

uint64_t resolver_queries(const struct resolver *r)
{
	return r->queries;
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
	}
	return "unknown";
}
