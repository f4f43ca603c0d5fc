/* SPDX-License-Identifier: MIT */
/*
 * The check runs its own resolver (the workers' are not up yet, and belong
 * to their threads), asking the same servers as the workers' with its own
 * small cache and a timeout that is the whole check's. Every query goes out
 * before the thread starts; the thread only delivers the answers, so the
 * main thread never waits on DNS. A wildcard entry has no name to ask about.
 */
#include "core/loopcheck.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/worker.h"
#include "resolver/resolver.h"

#define LOOP_CHECK_MS	 2000 /* the whole check; it never delays startup */
#define LOOP_CHECK_NAMES 256

struct loop_name {
	struct resolver_wait w;
	struct loopcheck *lc;
	char name[256];
	bool done; /* answered, or given up */
};

/* Built before the thread starts; from then on the thread's until loopcheck_stop(). */
struct loopcheck {
	pthread_t thread;
	bool started;
	atomic_bool stop; /* set by loopcheck_stop() */
	struct resolver *r;
	const struct upstream_policy *pol; /* borrowed, see loopcheck_start() */
	struct loop_name *names;
	unsigned n;
	uint16_t ports[CONF_MAX_LISTENERS]; /* upstream_port of each listener */
	unsigned n_ports;
};

static uint64_t loop_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* An allowlisted name that resolves to one of the gateway's listeners: the loop. */
static void loop_answer(void *arg, enum resolver_status st, const struct resolver_answer *ans)
{
	struct loop_name *ln = arg;
	struct loopcheck *lc = ln->lc;

	ln->done = true;
	for (unsigned i = 0; st == RESOLVER_OK && i < ans->n; i++) {
		for (unsigned k = 0; k < lc->n_ports; k++) {
			if (policy_check(lc->pol, ans->a[i].family, ans->a[i].addr, lc->ports[k]) !=
			    POLICY_SELF)
				continue;
			char ip[64];
			inet_ntop(ans->a[i].family, ans->a[i].addr, ip, sizeof(ip));
			log_msg(CONF_LOG_WARN,
				"DNS LOOP: the resolver answers allowlisted name %s with %s, and "
				"port %u there is this gateway itself; connections to %s will be "
				"refused. Point the resolver at the real cluster DNS, never at the "
				"egress DNS that sends clients here.",
				ln->name, ip, lc->ports[k], ln->name);
			return;
		}
	}
}

static void *loop_check_main(void *arg)
{
	struct loopcheck *lc = arg;
	uint64_t end = loop_now() + LOOP_CHECK_MS;
	bool pending = true;

	while (pending && !atomic_load(&lc->stop) && loop_now() < end) {
		struct pollfd p = {.fd = resolver_fd(lc->r), .events = POLLIN};
		if (poll(&p, 1, 100) == 1)
			resolver_process(lc->r, loop_now());
		pending = false;
		for (unsigned i = 0; i < lc->n; i++)
			pending |= !lc->names[i].done;
	}
	return NULL;
}

void loopcheck_stop(struct loopcheck *lc)
{
	if (!lc)
		return;
	if (lc->started) {
		atomic_store(&lc->stop, true);
		pthread_join(lc->thread, NULL);
	}
	resolver_free(lc->r); /* cancels what did not answer */
	free(lc->names);
	free(lc);
}

struct loopcheck *loopcheck_start(const struct conf *c, const struct upstream_policy *pol)
{
	struct loopcheck *lc = calloc(1, sizeof(*lc));
	struct resolver_opts ro;

	if (!lc)
		return NULL;
	lc->pol = pol;
	atomic_init(&lc->stop, false);
	worker_resolver_servers(c, &ro);
	ro.cache_size = LOOP_CHECK_NAMES;
	ro.timeout_ms = LOOP_CHECK_MS;
	for (unsigned i = 0; i < c->n_listeners && i < CONF_MAX_LISTENERS; i++)
		lc->ports[lc->n_ports++] = c->listeners[i].upstream_port;
	lc->names = calloc(LOOP_CHECK_NAMES, sizeof(*lc->names));
	if (!lc->names || resolver_new(&lc->r, &ro, NULL) < 0) {
		loopcheck_stop(lc);
		return NULL;
	}
	for (unsigned i = 0; i < c->n_allow && lc->n < LOOP_CHECK_NAMES; i++) {
		struct loop_name *ln = &lc->names[lc->n];
		size_t len = strlen(c->allow[i]);
		if (c->allow[i][0] == '*' || len == 0 || len >= sizeof(ln->name))
			continue;
		for (size_t k = 0; k < len; k++)
			ln->name[k] = (char)tolower((unsigned char)c->allow[i][k]);
		if (ln->name[len - 1] == '.')
			ln->name[--len] = '\0';
		ln->lc = lc;
		enum resolver_status st;
		struct resolver_answer ans;
		int rc = resolver_lookup(lc->r, ln->name, len, loop_now(), &ln->w, loop_answer, ln,
					 &st, &ans);
		if (rc == 0)
			loop_answer(ln, st, &ans);
		else if (rc != -EINPROGRESS)
			ln->done = true;
		lc->n++;
	}
	/* The thread owns lc from here; the caller only stops and joins it. */
	lc->started = pthread_create(&lc->thread, NULL, loop_check_main, lc) == 0;
	return lc;
}
