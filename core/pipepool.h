/* SPDX-License-Identifier: MIT */
/*
 * pipepool: pipes for splice(), per worker thread, in two size classes.
 *
 * A connection holds a pipe only while bytes sit in it; an idle connection
 * holds none (HAProxy's get_pipe/put_pipe model). The pool owns every pipe it
 * hands out until it is put back or killed: a caller must put back only an
 * EMPTY pipe, and kill one that still holds bytes (they belong to a
 * connection that is going away). Memory of all pools together is capped by
 * one process-wide budget, the only shared state, an atomic counter.
 */
#ifndef SNIGATE_PIPEPOOL_H
#define SNIGATE_PIPEPOOL_H

#include <stddef.h>

struct pipe {
	int rfd;	   /* read end: splice from here into the destination socket */
	int wfd;	   /* write end: splice the source socket into here */
	size_t size;	   /* capacity in bytes, as granted by F_SETPIPE_SZ */
	struct pipe *next; /* free list link while pooled */
};

struct pipepool;

/* small/large: pipe sizes in bytes; budget: bytes of pipes all pools may hold. */
void pipepool_set_budget(unsigned long long budget);
struct pipepool *pipepool_new(size_t small, size_t large);
void pipepool_free(struct pipepool *pp);

/* A pipe of the small class, or NULL with errno set (EMFILE, ENOBUFS for the budget). */
struct pipe *pipe_get(struct pipepool *pp);
/* A pipe of the large class, or NULL; callers keep their small pipe then. */
struct pipe *pipe_get_large(struct pipepool *pp);
/* Return an empty pipe to the pool. */
void pipe_put(struct pipepool *pp, struct pipe *p);
/* Close a pipe that may still hold bytes. */
void pipe_kill(struct pipepool *pp, struct pipe *p);

/* Pipe bytes held by all pools, in use or pooled. */
unsigned long long pipepool_bytes(void);

#endif
