/* SPDX-License-Identifier: MIT */
/*
 * Pipes are cheap to keep and costly to make (pipe2 + fcntl), so a bounded
 * number stay pooled per class. Beyond that they are closed, so a burst of
 * streaming connections does not pin their memory for ever.
 */
#include "core/pipepool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

/*
 * Pipes kept per thread: many small ones, for the common short burst; few
 * large ones, which are 16 times the memory and only streaming flows use.
 */
static const unsigned pool_keep[2] = {64, 8};

struct class
{
	struct pipe *free; /* pooled, empty pipes */
	unsigned n_free;
	size_t size; /* size asked of F_SETPIPE_SZ */
};

struct pipepool {
	struct class cls[2]; /* 0: small, 1: large */
};

static atomic_ullong pool_bytes;
static unsigned long long pool_budget = ~0ULL;

void pipepool_set_budget(unsigned long long budget)
{
	pool_budget = budget;
}

unsigned long long pipepool_bytes(void)
{
	return atomic_load_explicit(&pool_bytes, memory_order_relaxed);
}

struct pipepool *pipepool_new(size_t small, size_t large)
{
	struct pipepool *pp = calloc(1, sizeof(*pp));
	if (!pp)
		return NULL;
	pp->cls[0].size = small;
	pp->cls[1].size = large;
	return pp;
}

static void pipe_close(struct pipe *p)
{
	close(p->rfd);
	close(p->wfd);
	atomic_fetch_sub_explicit(&pool_bytes, p->size, memory_order_relaxed);
	free(p);
}

/* Close this thread's pooled pipes; returns whether there were any. */
static bool trim(struct pipepool *pp)
{
	bool any = false;
	for (int c = 0; c < 2; c++) {
		while (pp->cls[c].free) {
			struct pipe *p = pp->cls[c].free;
			pp->cls[c].free = p->next;
			pipe_close(p);
			any = true;
		}
		pp->cls[c].n_free = 0;
	}
	return any;
}

void pipepool_free(struct pipepool *pp)
{
	if (!pp)
		return;
	trim(pp);
	free(pp);
}

static struct pipe *get(struct pipepool *pp, int c)
{
	struct class *cl = &pp->cls[c];
	struct pipe *p = cl->free;
	int fds[2];

	if (p) {
		cl->free = p->next;
		cl->n_free--;
		return p;
	}
	for (;;) {
		unsigned long long now =
			atomic_fetch_add_explicit(&pool_bytes, cl->size, memory_order_relaxed);
		if (now + cl->size <= pool_budget)
			break;
		atomic_fetch_sub_explicit(&pool_bytes, cl->size, memory_order_relaxed);
		/* Idle pooled pipes count against the budget too: a live flow comes first. */
		if (!trim(pp)) {
			errno = ENOBUFS;
			return NULL;
		}
	}
	p = malloc(sizeof(*p));
	if (!p || pipe2(fds, O_NONBLOCK | O_CLOEXEC) < 0) {
		int e = p ? errno : ENOMEM;
		free(p);
		atomic_fetch_sub_explicit(&pool_bytes, cl->size, memory_order_relaxed);
		errno = e;
		return NULL;
	}
	p->rfd = fds[0];
	p->wfd = fds[1];
	p->next = NULL;
	/* 64 KiB is what pipe2 gives by default, so only other sizes cost a syscall. */
	long got = cl->size == 65536 ? 65536 : fcntl(p->wfd, F_SETPIPE_SZ, (int)cl->size);
	if (got <= 0) {
		/* Over fs.pipe-max-size or the user's soft limit: keep what pipe2 gave. */
		got = fcntl(p->wfd, F_GETPIPE_SZ);
		if (got <= 0)
			got = 4096;
	}
	p->size = cl->size;
	if ((size_t)got != cl->size) {
		atomic_fetch_add_explicit(&pool_bytes, (size_t)got, memory_order_relaxed);
		atomic_fetch_sub_explicit(&pool_bytes, cl->size, memory_order_relaxed);
		p->size = (size_t)got;
	}
	return p;
}

struct pipe *pipe_get(struct pipepool *pp)
{
	return get(pp, 0);
}

struct pipe *pipe_get_large(struct pipepool *pp)
{
	if (pp->cls[1].size <= pp->cls[0].size)
		return NULL;
	return get(pp, 1);
}

void pipe_put(struct pipepool *pp, struct pipe *p)
{
	int c = p->size >= pp->cls[1].size && pp->cls[1].size > pp->cls[0].size;
	struct class *cl = &pp->cls[c];
	if (cl->n_free >= pool_keep[c] || p->size != cl->size) {
		pipe_close(p);
		return;
	}
	p->next = cl->free;
	cl->free = p;
	cl->n_free++;
}

void pipe_kill(struct pipepool *pp, struct pipe *p)
{
	(void)pp;
	pipe_close(p);
}
