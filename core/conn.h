/* SPDX-License-Identifier: MIT */
/*
 * conn: the life of one client connection, as one state machine (conn.c).
 * The worker hands it accepted sockets, the completions of its requests
 * and the turns of its deadline queues; nothing else touches a connection.
 */
#ifndef SNIGATE_CORE_CONN_H
#define SNIGATE_CORE_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "core/core.h"

/*
 * Every state change goes through conn.c's set_state(), checked against
 * conn_transition_ok(); what may follow what is the table atop conn.c.
 */
enum conn_state {
	CONN_ST_NEW,	 /* allocated by conn_accept(), nothing read yet */
	CONN_ST_HELLO,	 /* waiting for a whole ClientHello; in flight: OP_CIN */
	CONN_ST_HEAD,	 /* HTTP CONNECT: waiting for the whole request head; in flight: OP_CIN */
	CONN_ST_LINGER,	 /* an HTTP error was sent: reading what the client still sends, to EOF */
	CONN_ST_RESOLVE, /* allowed, waiting for the resolver; nothing in the ring */
	CONN_ST_CONNECT, /* connecting to one address of the answer; in flight: OP_CONNECT */
	CONN_ST_RELAY,	 /* splicing both ways; in flight: up to the four polls */
	CONN_ST_CLOSING, /* ended; waiting for cancelled requests, then freed */
};
/* Outside the enum, so that a switch over states needs no case for it. */
#define CONN_ST__COUNT (CONN_ST_CLOSING + 1)

/* A set of states, for masks such as CONN_SB(CONN_ST_HELLO) | CONN_SB(CONN_ST_HEAD). */
#define CONN_SB(st) (1u << (st))

/* True when a connection in state from may move to state to. */
bool conn_transition_ok(enum conn_state from, enum conn_state to);
/* "HELLO", "RELAY", ...: for debug logs; never NULL. */
const char *conn_state_name(enum conn_state s);

/* Take fd, just accepted on l: a new connection, or a refusal (logged, counted, closed). */
void conn_accept(struct worker *w, struct listener *l, int fd);
/*
 * A completion for a connection: obj and op from its user_data, res and
 * flags from the CQE (IORING_CQE_F_MORE says a multishot poll is still armed).
 */
void conn_complete(struct worker *w, void *obj, enum op op, int res, unsigned flags);
/* End what timed out in q, one of the worker's deadline queues: the queue says what timed out. */
void conn_expire(struct worker *w, struct list *q);
/* The earliest deadline in q, or UINT64_MAX when q is empty. */
uint64_t conn_first_deadline(const struct list *q);
/* Pump the relay directions that stopped at their byte budget last turn. */
void conn_run_ready(struct worker *w);
/* Reset every connection of w: the worker is stopping. */
void conn_shutdown_all(struct worker *w);
/* Set up, and free, what conn.c keeps for reuse: worker_create() and worker_destroy() call them. */
void conn_cache_init(struct worker *w);
void conn_cache_free(struct worker *w);

#endif
