/* SPDX-License-Identifier: MIT */
/*
 * A guard page for the sni tests: input is copied flush against a PROT_NONE
 * page, so a parser that reads one byte past what it was given faults.
 * Include after defining SPAN, the largest input the test file feeds; use
 * guard_setup/guard_teardown as the suites' .init/.fini.
 */
#ifndef SNIGATE_TEST_SNI_GUARD_H
#define SNIGATE_TEST_SNI_GUARD_H

#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static uint8_t *map;
static size_t map_len;
static uint8_t *guard; /* first byte of the PROT_NONE page */

static void guard_setup(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t len = (SPAN + page - 1) / page * page;

	map_len = len + page;
	map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(map, MAP_FAILED);
	cr_assert_eq(mprotect(map + len, page, PROT_NONE), 0);
	guard = map + len;
}

static void guard_teardown(void)
{
	munmap(map, map_len);
}

/* src[0..len) flush against the guard page. */
static const uint8_t *flush(const void *src, size_t len)
{
	uint8_t *p = guard - len;

	cr_assert_leq(len, SPAN);
	if (len)
		memmove(p, src, len);
	return p;
}

#endif
