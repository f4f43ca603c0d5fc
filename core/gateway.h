/* SPDX-License-Identifier: MIT */
/*
 * gateway: the process around the workers. Starts one worker per CPU and the
 * admin endpoint, then, on the main thread, turns signals, config file
 * changes and POST /drain into reloads and drains:
 *
 *   SIGHUP, or the config file changed (also a Kubernetes ConfigMap's
 *   "..data" symlink swap)  -> reload: load, validate, swap into every worker
 *   SIGTERM, SIGINT, POST /drain -> drain: /ready 503 at once, keep accepting
 *   for drain.delay, close the listeners, let connections finish for up to
 *   drain.timeout, then reset the rest and exit 0
 *   a second SIGTERM or SIGINT -> stop now
 *   SIGUSR1 -> counters as one JSON line on stderr
 */
#ifndef SNIGATE_GATEWAY_H
#define SNIGATE_GATEWAY_H

#include <stddef.h>

#include "conf/conf.h"

/*
 * Load the configuration again, as at start (the file, then the command
 * line over it), validated. Returns 0 and *out, or non-zero with a
 * one-line reason in err.
 */
typedef int (*gateway_load_fn)(void *arg, struct conf **out, char *err, size_t errlen);

/*
 * Block the signals gateway_run() reads from a signalfd. Call it before
 * starting any thread, which would otherwise take them (and die of them).
 */
void gateway_block_signals(void);

/* Listening sockets the process was handed instead of binding its own. */
struct gateway_inherit {
	/* per listener: the socket, or -1; the gateway closes them when it ends */
	const int *fds;
	/*
	 * The socket unit keeps them (core/sockact.h): never filtered nor closed
	 * under their queue at a drain. False for a takeover's.
	 */
	bool kept;
	int takeover;	/* the predecessor's connection, told READY once serving; or -1 */
	const int *src; /* per listener: the predecessor's index of fds[i] (takeover) */
};

/*
 * Run until stopped. Takes c (validated) and frees it. in may be NULL (the
 * gateway binds every listener). load may be NULL (no reloads). Returns the
 * process exit status: 0 after a stop or a drain, 1 when something failed
 * at start.
 */
int gateway_run(struct conf *c, const struct gateway_inherit *in, gateway_load_fn load, void *arg);

#endif
