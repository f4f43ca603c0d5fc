/* SPDX-License-Identifier: MIT */
/*
 * core.h: what worker.c (the ring and its event loop) and conn.c (the
 * connection state machine) share. Private to core/.
 */
#ifndef SNIGATE_CORE_H
#define SNIGATE_CORE_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "sni/allowlist.h"
#include "sni/sni.h"
#include "resolver/resolver.h"
#include "resolver/policy.h"
#include "core/accesslog.h"
#include "core/pipepool.h"
#include "core/slab.h"
#include "core/stats.h"
#include "core/topk.h"
#include "core/worker.h"

/*
 * What a completion is for. The tag sits in the low 4 bits of user_data, the
 * object (conn, listener or worker; all malloc'ed, so 16-byte aligned) above.
 */
enum op {
	OP_IGNORE = 0, /* cancel requests: their own completions carry nothing */
	OP_ACCEPT,     /* multishot accept on a listener */
	OP_STOP,       /* the worker's stop eventfd became readable */
	OP_DNS,	       /* the resolver's fd became readable */
	OP_CIN,	       /* poll: client readable (ClientHello, or relay source) */
	OP_COUT,       /* poll: client writable (relay destination) */
	OP_UIN,	       /* poll: upstream readable */
	OP_UOUT,       /* poll: upstream writable */
	OP_CONNECT,    /* connect to the upstream */
};

#define OP_MASK 0xfULL

_Static_assert(OP_CONNECT <= OP_MASK, "op tags fit the alignment");

static inline uint64_t ud_pack(const void *p, enum op op)
{
	/* The tag needs the low bits free: every tagged object is 16-byte aligned. */
	return (uint64_t)(uintptr_t)p | op;
}

static inline enum op ud_op(uint64_t ud)
{
	return (enum op)(ud & OP_MASK);
}

static inline void *ud_ptr(uint64_t ud)
{
	return (void *)(uintptr_t)(ud & ~OP_MASK);
}

/* An intrusive doubly-linked list; a detached node points at itself. */
struct list {
	struct list *prev;
	struct list *next;
};

static inline void list_init(struct list *l)
{
	l->prev = l->next = l;
}

static inline bool list_empty(const struct list *l)
{
	return l->next == l;
}

static inline void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

static inline void list_add_tail(struct list *head, struct list *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

struct listener {
	int fd; /* owned; closed by stop_listeners() or worker_destroy() */
	/*
	 * The socket unit's socket this listener dups instead of binding its
	 * own (core/sockact.h), or -1. Borrowed: the gateway closes it.
	 */
	int inherited;
	bool kept; /* the socket unit keeps inherited: a drain neither filters nor resets it */
	const struct conf_listener *cl; /* its configuration */
	struct worker *w;
	bool armed;		/* a multishot accept is in flight */
	uint64_t retry_at;	/* re-arm after an accept error, not before */
	char name[64];		/* "127.0.0.1:8443", for logs */
} __attribute__((aligned(16))); /* array elements carry an op tag in their low bits */

_Static_assert(_Alignof(struct listener) >= OP_MASK + 1, "listener addresses carry a tag");

/*
 * One per thread. Everything in it is touched by its own thread only, except
 * stop_fd (written by the main thread) and st (read by the main thread once
 * the worker has exited).
 */
struct worker {
	unsigned id;
	int cpu; /* pinned to this CPU, -1 = not pinned */
	pthread_t thread;
	struct io_uring ring;
	bool ring_ok;
	const struct conf *conf; /* == wc->conf; switched only between loop turns */
	const struct allowlist *al;
	const struct worker_config *wc;
	struct listener *ls;
	unsigned n_ls;
	int stop_fd; /* eventfd that wakes the thread for cmd: owned, closed by worker_destroy() */
	bool stopping;
	/*
	 * No new handshakes: the listeners drop SYNs and are closed once their
	 * queues stay empty (drain_close_at); exit once live reaches 0 after that.
	 */
	bool draining;
	uint64_t drain_close_at; /* when the draining listeners close; 0 once closed */

	/* Written by other threads (with a write to stop_fd), read by this one. */
	atomic_uint cmd;	      /* CMD_* bits */
	atomic_uint_least64_t handed; /* listeners handed to a successor (worker_hand_over()) */
	_Atomic(const struct worker_config *) next_wc;
	/* Written by this thread, read by others. */
	atomic_uint gen;		 /* wc->gen in use */
	atomic_uint_least64_t heartbeat; /* now, every loop turn */
	atomic_bool done;		 /* loop returned */

	/*
	 * What other threads read of the counters: a copy taken every ~100 ms
	 * under mu, so the hot path counts with plain increments. mu also
	 * guards denied, which the deny path feeds directly (uncontended but
	 * for the rare admin read).
	 */
	pthread_mutex_t mu;
	struct stats pub_st;
	uint64_t *pub_keys; /* WORKER_NKEYS(n_ls) */
	uint64_t *pub_names;
	const struct allowlist *pub_al; /* what pub_names counts */
	unsigned pub_live;
	struct resolver_stats pub_rs;
	uint64_t pub_at;
	bool dirty; /* something happened since the last copy */
	struct topk *denied;

	struct slab_cache hs_cache; /* conn.c's handshake objects */
	uint64_t *keys;		    /* live counters behind pub_keys */
	uint64_t *names;	    /* allowed connections per allowlist entry of al */
	unsigned n_hello;	    /* connections waiting for their ClientHello */
	unsigned max_hellos;	    /* 0 = no limit */
	struct accesslog alog;	    /* which access lines this thread writes */
	unsigned accept_errs;	    /* accept failures since the last warning */
	uint64_t accept_warned;
	unsigned policy_quiet;	/* refused-address warnings held back this second */
	uint64_t policy_warned; /* when the last one was written */
	struct resolver *res;
	struct pipepool *pp;
	uint8_t *peek; /* MSG_PEEK target shared by every connection of this thread */
	size_t peek_len;
	uint8_t *scratch; /* ClientHello reassembly for the parser */
	size_t scratch_len;
	/*
	 * Deadline queues. Every connection in one queue has the same timeout,
	 * so appending keeps each queue sorted and only heads are checked.
	 */
	struct list q_hello;   /* CONN_ST_HELLO, client_hello timeout */
	struct list q_head;    /* CONN_ST_HEAD, request_head timeout */
	struct list q_linger;  /* CONN_ST_LINGER, LINGER_MS */
	struct list q_dns;     /* CONN_ST_RESOLVE, dns timeout */
	struct list q_connect; /* CONN_ST_CONNECT, connect timeout */
	struct list q_relay;   /* CONN_ST_RELAY, idle timeout, least recently active first */
	struct list q_ready;   /* relay directions that stopped at their byte budget */
	unsigned live;	       /* connections allocated */
	unsigned max_live;     /* 0 = no limit */
	uint64_t now;	       /* monotonic ms, refreshed once per loop turn */
	struct stats st;
	int ready_fd;  /* eventfd the thread writes once set up; owned by the gateway */
	int start_err; /* set by the thread before it signals readiness */
	const char *start_msg;
};

struct io_uring_sqe *worker_sqe(struct worker *w);
uint64_t now_ms(void);

#define CMD_STOP   1u
#define CMD_DRAIN  2u
#define CMD_CONFIG 4u

/* Per-source-IP connection counts shared by all workers (limits.max_per_source_ip). */
bool srclimit_take(const struct sockaddr *sa, unsigned limit);
void srclimit_put(const struct sockaddr *sa);

#endif
