/* SPDX-License-Identifier: MIT */
/*
 * metrics: the page GET /metrics answers, in the Prometheus text format
 * (core/prom.h writes it). What only the gateway knows comes in a struct
 * metrics_view; the workers' counters are read here, through worker.h.
 */
#ifndef SNIGATE_CORE_METRICS_H
#define SNIGATE_CORE_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "core/admin.h"
#include "core/cpu.h"
#include "core/worker.h"
#include "sni/allowlist.h"

/* The gateway's side of the page. Everything it points to must outlive metrics_gateway(). */
struct metrics_view {
	struct worker *const *ws;    /* the running workers */
	unsigned n;		     /* how many */
	const struct conf *conf;     /* the configuration in force */
	const struct allowlist *al;  /* its allowlist */
	unsigned gen;		     /* its generation */
	const struct cpu_plan *plan; /* how many workers, where, and why */
	double started_at;	     /* wall clock seconds */
	uint64_t now_ms;	     /* monotonic, against the workers' heartbeats */
	unsigned conn_limit;	     /* concurrent connections the process takes */
	bool ready;		     /* GET /ready answers 200 */
	bool healthy;		     /* GET /healthz answers 200 */
	bool draining;		     /* readiness is 503 for a drain */
	uint64_t reload_ok;	     /* reloads taken */
	uint64_t reload_failed;	     /* reloads refused */
	bool last_reload_failed;     /* the latest reload was refused */
	double reload_ok_at;	     /* wall clock seconds of the load in force */
	/* The policy label's names: slot i + 2 is slot_names[i] (core/worker.h). */
	const char *const *slot_names;
	unsigned n_slot_names;
};

/*
 * The process_* series (CPU, fds, memory, start time), from /proc. Slow on a
 * process with many fds: call it outside any lock the workers' path takes.
 */
void metrics_process(struct admin_buf *b, double started_at);
/* Every snigate_* series, after metrics_process(). Out of memory: b->err = -ENOMEM. */
void metrics_gateway(struct admin_buf *b, const struct metrics_view *v);

#endif
