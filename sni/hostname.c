/* SPDX-License-Identifier: MIT */
/*
 * hostname: the host name rule, checked and folded in one pass.
 *
 * The byte loop does one table load per byte and no branch on the data: it
 * writes the folded byte, records where the dots are, and ORs together
 * whether any byte was refused. The label lengths are then checked from the
 * recorded dots, a handful of compares. This is the allowlist's lookup path
 * and the gateway's per-connection cost, so it is the case kept fast.
 *
 * Only when that says no does a second, plain left-to-right scan find which
 * problem comes first, so every caller reports the same reason for the same
 * bytes whatever order the fast pass happened to notice things in. One scan with
 * early exits would read simpler, but it branches on every byte of every
 * valid name to make the rare invalid one cheaper.
 */
#include "sni/hostname.h"

/*
 * host_lower[c]: c lower-cased if a host name may contain it (letters,
 * digits, '-', '_', '.'), else 0. One load per byte instead of a chain of
 * range compares; the picohttpparser token_char_map idea.
 */
static const char host_lower[256] = "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0" /* 0x00 */
				    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0" /* 0x10 */
				    "\0\0\0\0\0\0\0\0\0\0\0\0\0-.\0"   /* 0x20 */
				    "0123456789\0\0\0\0\0\0"	       /* 0x30 */
				    "\0abcdefghijklmno"		       /* 0x40 */
				    "pqrstuvwxyz\0\0\0\0_"	       /* 0x50 */
				    "\0abcdefghijklmno"		       /* 0x60 */
				    "pqrstuvwxyz\0\0\0\0\0";	       /* 0x70; 0x80-0xff: 0 */

static enum hostname_err err_at(struct hostname *out, size_t at, enum hostname_err e)
{
	out->at = at;
	return e;
}

/* The first problem in p[0..len), trailing dot already gone; there is one. */
static enum hostname_err first_problem(const uint8_t *p, size_t len, struct hostname *out)
{
	size_t label = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i] == '.') {
			if (label == 0)
				return err_at(out, i, HOSTNAME_E_EMPTY_LABEL); /* ".a", "a..b" */
			label = 0;
			continue;
		}
		/* NUL, space, '*', '/', ':', non-ASCII, ... */
		if (!host_lower[p[i]])
			return err_at(out, i, HOSTNAME_E_BAD_BYTE);
		if (++label > HOSTNAME_LABEL_MAX)
			return err_at(out, i, HOSTNAME_E_LABEL_LONG); /* RFC 1035 2.3.4 */
	}
	/* Nothing else is left to be wrong: the name ended in an empty label ("a.."). */
	return err_at(out, len, HOSTNAME_E_EMPTY_LABEL);
}

enum hostname_err hostname_fold(const char *name, size_t len, struct hostname *out)
{
	const uint8_t *p = (const uint8_t *)name;
	unsigned bad = 0;
	size_t i, nd = 0, start = 0;

	len = hostname_trim(name, len);
	if (len == 0)
		return err_at(out, 0, HOSTNAME_E_EMPTY);
	if (len > HOSTNAME_MAX)
		return err_at(out, 0, HOSTNAME_E_TOO_LONG);
	for (i = 0; i < len; i++) {
		char l = host_lower[p[i]];

		bad |= l == 0;
		out->name[i] = l;
		/* Written every time, kept only when l is a dot; nd <= i < HOSTNAME_MAX. */
		out->dot[nd] = (uint8_t)i;
		nd += l == '.';
	}
	if (bad)
		return first_problem(p, len, out);
	for (i = 0; i < nd; i++) {
		if (out->dot[i] == start || out->dot[i] - start > HOSTNAME_LABEL_MAX)
			return first_problem(p, len, out);
		start = out->dot[i] + 1;
	}
	if (start == len || len - start > HOSTNAME_LABEL_MAX)
		return first_problem(p, len, out);
	out->name[len] = '\0';
	out->len = (uint8_t)len;
	out->n_dots = (uint8_t)nd;
	out->at = 0;
	return HOSTNAME_OK;
}
