/* SPDX-License-Identifier: MIT */
/*
 * worker: a thread with its own io_uring ring, listeners and connections.
 * The gateway (gateway.c) creates one per CPU, starts, reconfigures, drains
 * and stops them, and reads their counters; that is all it knows of them.
 */
#ifndef SNIGATE_WORKER_H
#define SNIGATE_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "sni/allowlist.h"
#include "core/stats.h"
#include "core/topk.h"
#include "resolver/policy.h"
#include "sni/connect.h"
#include "sni/rules.h"
#include "resolver/resolver.h"

struct worker;

/*
 * The policy label of snigate_connections_total, bounded: slot 0 is "no
 * policy decided", slot 1 every policy past the first WORKER_POLICY_NAMES
 * names the process has seen (over every reload), and each other slot one
 * of those names, which the gateway keeps (gateway_policy_slot_name()).
 */
#define WORKER_POLICY_NAMES 32
#define WORKER_POLICY_SLOTS (WORKER_POLICY_NAMES + 2)
#define WORKER_SLOT_NONE    0
#define WORKER_SLOT_OTHER   1

/*
 * What a worker runs with. The gateway builds one per (re)load and keeps it alive
 * until every worker has moved past it (worker_config_gen()). A new one must
 * list the same listeners, in the same order, as the first.
 */
struct worker_config {
	const struct conf *conf;
	/* The access policies; al is their union of names (rules_allowlist()). */
	const struct rules *rules;
	bool need_source; /* a policy matches on sources: take each client's address */
	const struct allowlist *al;
	/*
	 * Where allowed names may connect; never NULL. Borrowed, like the rest:
	 * gateway.c's gen_build() makes the one policy of each generation, and
	 * the workers and the startup loop check only read it.
	 */
	const struct upstream_policy *policy;
	/* per listener: CONNECT credentials (listeners[i].proxy_auth_file), or NULL */
	const struct proxy_auth *const *auth;
	/* per policy of rules: its slot in the counters' policy label */
	const uint8_t *policy_slot;
	/*
	 * per listener: the peers whose PROXY protocol header is believed and
	 * required (listeners[i].proxy_protocol.trusted); n 0: none is taken.
	 */
	const struct worker_trusted {
		const struct policy_cidr *v;
		unsigned n;
	} * trusted;
	unsigned gen; /* increases with every reload */
};

/*
 * c and al must outlive the worker. inherited: per listener, a listening
 * socket to share (a dup of it) rather than bind one, or -1; NULL for none;
 * kept: the socket unit keeps them open (core/sockact.h).
 * cpu: CPU to pin to, or -1. max_live:
 * connections this worker may hold, 0 = no limit. ready_fd: an eventfd the
 * thread writes to once it is set up (successfully or not).
 */
struct worker *worker_create(unsigned id, int cpu, const struct worker_config *wc,
			     unsigned max_live, unsigned max_hellos, int ready_fd,
			     const int *inherited, bool kept);
/*
 * Listener i's descriptor, for a takeover (core/takeover.h). Gateway thread,
 * while serving: only a drain, which that thread starts, changes it.
 */
int worker_listener_fd(const struct worker *w, unsigned i);
/*
 * The listeners in mask (bit i: listener i) were handed to a successor: the
 * drain that follows stops accepting from them and closes its descriptors,
 * without the SYN filter and the wait that keep a closing socket's queue.
 */
void worker_hand_over(struct worker *w, uint64_t mask);
int worker_start(struct worker *w); /* 0 or -errno */
/* Ask the worker to close its listeners and connections and exit. Any thread. */
void worker_stop(struct worker *w);
/* Close the listeners; the thread exits once its last connection has ended. Any thread. */
void worker_drain(struct worker *w);
/* True once the thread's loop has returned (it can then be joined at once). */
bool worker_done(const struct worker *w);
/* Switch to wc at the next loop turn; wc must outlive the switch. Any thread. */
void worker_set_config(struct worker *w, const struct worker_config *wc);
/* The generation in use; once it is wc->gen, the previous config is no longer read. */
unsigned worker_config_gen(const struct worker *w);
/* Monotonic ms of the last loop turn; a live worker turns at least once a second. */
uint64_t worker_heartbeat(const struct worker *w);

/*
 * Counters as last published by the thread (at most ~100 ms old), safe from
 * any thread. Each adds into what the caller passes.
 * keys: WORKER_NKEYS(n_listeners) counters, see WORKER_KEY().
 * names: allowlist_count(al) counters of allowed connections per entry;
 * false (nothing added) while the worker is not yet on al.
 */
#define WORKER_KEY(l, slot, path, dec, reason)                                               \
	(((((size_t)(l)*WORKER_POLICY_SLOTS + (slot)) * PATH__COUNT + (path)) * DEC__COUNT + \
	  (dec)) *                                                                           \
		 RS__COUNT +                                                                 \
	 (reason))
#define WORKER_NKEYS(n_ls) \
	((size_t)(n_ls)*WORKER_POLICY_SLOTS * PATH__COUNT * DEC__COUNT * RS__COUNT)
void worker_read(const struct worker *w, struct stats *st, uint64_t *keys, unsigned *live);
bool worker_read_names(const struct worker *w, const struct allowlist *al, uint64_t *names);
/* Add the worker's resolver counters into sum. */
void worker_read_resolver(const struct worker *w, struct resolver_stats *sum);
/* Merge the worker's top denied names into t. */
void worker_read_denied(const struct worker *w, struct topk *t);
/* Wait for the thread; returns its setup error (0 or -errno). */
int worker_join(struct worker *w);
/* The setup error (0 or -errno), valid once the worker signalled ready_fd. */
int worker_start_error(const struct worker *w);
/* What failed during setup (a listener name, or a reason), or NULL. */
const char *worker_start_msg(const struct worker *w);
/* Counters; read only after worker_join(). */
const struct stats *worker_stats(const struct worker *w);
void worker_destroy(struct worker *w);

/*
 * Where the workers' resolvers send their queries for c: forwarders (or
 * resolv.conf), transport and address family; every other field of *ro is
 * zero. For anything else that must ask the same servers.
 */
void worker_resolver_servers(const struct conf *c, struct resolver_opts *ro);

#endif
