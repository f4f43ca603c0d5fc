/* SPDX-License-Identifier: MIT */
/*
 * slab: objects of one fixed size for one thread, carved from 64 KiB slabs
 * mapped straight from the kernel. A slab that empties goes back to the
 * kernel (but for the last one, kept spare), so after a burst the memory is
 * returned instead of staying in malloc's free lists under every long-lived
 * connection. Not thread-safe: a cache belongs to one thread.
 */
#ifndef SNIGATE_CORE_SLAB_H
#define SNIGATE_CORE_SLAB_H

#include <stddef.h>

struct slab;

struct slab_cache {
	struct slab *avail; /* slabs with a free object; owned, see slab_cache_release() */
	unsigned n;	    /* slabs mapped */
	unsigned per_slab;  /* objects in one slab */
	size_t size;	    /* bytes per object, rounded up to max_align_t */
};

/* The largest object a cache takes: a slab must hold a few. */
#define SLAB_MAX_OBJ (8u << 10)

/* Set up an empty cache of size-byte objects (1 to SLAB_MAX_OBJ); maps nothing yet. */
void slab_cache_init(struct slab_cache *sc, size_t size);
/* A zeroed object aligned for any type, or NULL when the kernel refuses memory. */
void *slab_alloc(struct slab_cache *sc);
/* Give p (from slab_alloc(sc)) back; NULL is ignored. p is no longer valid afterwards. */
void slab_free(struct slab_cache *sc, void *p);
/* Unmap every slab. Every object must have been freed; the cache is empty and reusable. */
void slab_cache_release(struct slab_cache *sc);

#endif
