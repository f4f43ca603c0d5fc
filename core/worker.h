/* SPDX-License-Identifier: MIT */
/*
 * worker: a thread with its own io_uring ring, listeners and connections.
 * main.c creates one per CPU, starts them, and stops them; that is all it
 * knows of them.
 */
#ifndef SNIGATE_WORKER_H
#define SNIGATE_WORKER_H

#include "conf/conf.h"
#include "sni/allowlist.h"
#include "core/stats.h"

struct worker;

/*
 * c and al must outlive the worker. cpu: CPU to pin to, or -1. max_live:
 * connections this worker may hold, 0 = no limit. ready_fd: an eventfd the
 * thread writes to once it is set up (successfully or not).
 */
struct worker *worker_create(unsigned id, int cpu, const struct conf *c, const struct allowlist *al,
			     unsigned max_live, int ready_fd);
int worker_start(struct worker *w); /* 0 or -errno */
/* Ask the worker to close its listeners and connections and exit. Any thread. */
void worker_stop(struct worker *w);
/* Wait for the thread; returns its setup error (0 or -errno). */
int worker_join(struct worker *w);
/* The setup error (0 or -errno), valid once the worker signalled ready_fd. */
int worker_start_error(const struct worker *w);
/* What failed during setup (a listener name, or a reason), or NULL. */
const char *worker_start_msg(const struct worker *w);
/* Counters; read only after worker_join() (or racy, for a rough view). */
const struct stats *worker_stats(const struct worker *w);
void worker_destroy(struct worker *w);

#endif
