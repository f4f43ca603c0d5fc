/* SPDX-License-Identifier: MIT */
/*
 * Each slab is SLAB_BYTES, mapped at an address aligned to its size, so the
 * slab of any object is its address with the low bits cleared: freeing needs
 * no lookup and no per-object header. The header sits at the start of the
 * slab; free objects are linked through their first word.
 *
 * malloc was the alternative: it keeps freed handshake objects in its arenas
 * for good, under connections that may idle for an hour.
 */
#include "core/slab.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define SLAB_BYTES (64u << 10)
#define ALIGN	   _Alignof(max_align_t)
#define ROUND(n)   (((n) + ALIGN - 1) & ~(size_t)(ALIGN - 1))

struct slab {
	struct slab *next; /* in the cache's avail list while listed */
	struct slab *prev;
	void *free;    /* free objects, each holding the next in its first word */
	unsigned used; /* objects handed out */
	bool listed;   /* in the cache's avail list: has a free object */
};

static struct slab *slab_of(void *p)
{
	return (struct slab *)((uintptr_t)p & ~(uintptr_t)(SLAB_BYTES - 1));
}

static void slab_list(struct slab_cache *sc, struct slab *sl)
{
	sl->prev = NULL;
	sl->next = sc->avail;
	if (sl->next)
		sl->next->prev = sl;
	sc->avail = sl;
	sl->listed = true;
}

static void slab_unlist(struct slab_cache *sc, struct slab *sl)
{
	if (sl->prev)
		sl->prev->next = sl->next;
	else
		sc->avail = sl->next;
	if (sl->next)
		sl->next->prev = sl->prev;
	sl->listed = false;
}

static struct slab *slab_new(struct slab_cache *sc)
{
	/* Twice the size, to cut an aligned slab out of it: slab_of() masks addresses. */
	uint8_t *m = mmap(NULL, 2 * SLAB_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			  -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	uint8_t *a = (uint8_t *)(((uintptr_t)m + SLAB_BYTES - 1) & ~(uintptr_t)(SLAB_BYTES - 1));
	if (a > m)
		munmap(m, (size_t)(a - m));
	if (a + SLAB_BYTES < m + 2 * SLAB_BYTES)
		munmap(a + SLAB_BYTES, (size_t)(m + 2 * SLAB_BYTES - (a + SLAB_BYTES)));
	struct slab *sl = (struct slab *)a;
	uint8_t *objs = a + ROUND(sizeof(*sl));
	sl->free = NULL;
	for (size_t i = sc->per_slab; i-- > 0;) {
		void *o = objs + i * sc->size;
		*(void **)o = sl->free;
		sl->free = o;
	}
	sl->used = 0;
	slab_list(sc, sl);
	sc->n++;
	return sl;
}

void slab_cache_init(struct slab_cache *sc, size_t size)
{
	assert(size > 0 && size <= SLAB_MAX_OBJ);
	sc->avail = NULL;
	sc->n = 0;
	sc->size = ROUND(size < sizeof(void *) ? sizeof(void *) : size);
	sc->per_slab = (unsigned)((SLAB_BYTES - ROUND(sizeof(struct slab))) / sc->size);
}

void *slab_alloc(struct slab_cache *sc)
{
	struct slab *sl = sc->avail;

	if (!sl && !(sl = slab_new(sc)))
		return NULL;
	void *p = sl->free;
	sl->free = *(void **)p;
	if (++sl->used == sc->per_slab)
		slab_unlist(sc, sl);
	memset(p, 0, sc->size);
	return p;
}

void slab_free(struct slab_cache *sc, void *p)
{
	if (!p)
		return;
	struct slab *sl = slab_of(p);
	*(void **)p = sl->free;
	sl->free = p;
	sl->used--;
	if (!sl->listed)
		slab_list(sc, sl);
	/* An empty slab goes back to the kernel, unless it is the last one. */
	if (sl->used == 0 && sc->n > 1) {
		slab_unlist(sc, sl);
		munmap(sl, SLAB_BYTES);
		sc->n--;
	}
}

void slab_cache_release(struct slab_cache *sc)
{
	/* With every object freed, every slab is empty and listed. */
	while (sc->avail) {
		struct slab *sl = sc->avail;
		assert(sl->used == 0);
		slab_unlist(sc, sl);
		munmap(sl, SLAB_BYTES);
	}
	sc->n = 0;
}
