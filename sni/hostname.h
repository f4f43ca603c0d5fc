/* SPDX-License-Identifier: MIT */
/*
 * hostname: what snigate takes for a host name, how it folds case, and how
 * it hashes one.
 *
 * Every way a name comes in goes through this one rule: the ClientHello's
 * server_name (sni_parse()), the CONNECT authority (connect_parse()), and
 * allowlist entries and lookups (allowlist_build(), allowlist_lookup()). A
 * name valid on one path is therefore valid on every other, and
 * require_sni_match compares like with like.
 *
 * A host name is:
 *  - at most one trailing dot, which is dropped first: "example.com." is
 *    "example.com". RFC 6066 3 leaves the dot out of SNI, but some clients
 *    send it; dropping it makes such a name match its allowlist entry
 *    instead of being an unmatched near-twin. Only one dot goes: "a.." is
 *    not a name.
 *  - then 1..253 bytes (RFC 1035 presentation form without the root dot),
 *  - made of labels of 1..63 bytes (RFC 1035 2.3.4) joined by single dots,
 *    so ".a", "a..b" and "." are not names,
 *  - whose bytes are ASCII letters, digits, '-' and '_'. '_' is not LDH
 *    (RFC 952) but real names carry it (service and verification
 *    records), and refusing it would cut clients off for no gain. A '-'
 *    may start or end a label. Nothing else passes: NUL, space, '*', '/',
 *    ':', '%' and every byte >= 0x80 are refused. Internationalised names
 *    travel as A-labels ("xn--bcher-kva.example"), which pass as they are;
 *    no IDNA or Unicode mapping is done.
 *  - A label of digits only is a label like any other ("1.2.3.4" is a
 *    valid name here). Whether such text is an address is a question for
 *    the CONNECT parser, which refuses all-numeric names that are not a
 *    dotted quad; the rule itself does not care.
 *
 * Case: 'A'..'Z' fold to 'a'..'z', one byte to one byte, so a folded name
 * has the length of its input (less the trailing dot). Nothing else changes.
 *
 * Hash: a wyhash-style hash (after Wang Yi's wyhash, public domain) of the
 * folded bytes, seeded by the caller. It reads 4 or 8 bytes at a time and
 * folds 16-byte blocks with 128-bit multiplies, so a 30-byte name costs two
 * multiplies and a few loads, and it never reads outside [key, key + len).
 * It is inline here because the allowlist calls it once per candidate
 * suffix on every lookup. It is not a keyed hash for hostile input; the
 * allowlist confirms every hit with a full compare.
 */
#ifndef SNIGATE_SNI_HOSTNAME_H
#define SNIGATE_SNI_HOSTNAME_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HOSTNAME_MAX	   253 /* bytes, without the trailing dot */
#define HOSTNAME_LABEL_MAX 63

enum hostname_err {
	HOSTNAME_OK = 0,
	HOSTNAME_E_EMPTY,	/* no bytes, or only a dot */
	HOSTNAME_E_TOO_LONG,	/* over HOSTNAME_MAX bytes once the trailing dot is gone */
	HOSTNAME_E_LABEL_LONG,	/* a label over HOSTNAME_LABEL_MAX bytes */
	HOSTNAME_E_EMPTY_LABEL, /* ".a", "a..b", "a.." */
	HOSTNAME_E_BAD_BYTE,	/* a byte other than a letter, digit, '-', '_' or '.' */
};

/* A valid host name, folded. */
struct hostname {
	char name[HOSTNAME_MAX + 1]; /* lower case, no trailing dot, NUL-terminated */
	uint8_t len;		     /* strlen(name), 1..HOSTNAME_MAX */
	uint8_t n_dots;		     /* dots in name: one less than its labels */
	uint8_t dot[HOSTNAME_MAX];   /* dot[0..n_dots): where the dots are, left to right */
	size_t at;		     /* on error: offset in the input where it was found */
};

/* len less the one trailing dot a name may carry. name may be NULL when len is 0. */
static inline size_t hostname_trim(const char *name, size_t len)
{
	return len && name[len - 1] == '.' ? len - 1 : len;
}

/*
 * Check name[0..len) against the rule above and fold it into *out. name
 * need not be NUL-terminated and is read only inside [name, name + len).
 * Returns HOSTNAME_OK, or the first problem met reading left to right, with
 * out->at saying where (the length checks come first and report at 0); on
 * error the rest of *out is unspecified. The common case, a valid name,
 * costs one table load per byte with no branch on the data.
 */
enum hostname_err hostname_fold(const char *name, size_t len, struct hostname *out);

/*
 * The 128-bit multiply-fold the hash is built from. The double underscore,
 * as in libuv's uv__, marks a helper internal to sni/, not part of the
 * contract: allowlist.c uses it to place keys.
 */
static inline uint64_t hostname__mum(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

/* Unaligned native-endian loads; memcpy compiles to one mov. */
static inline uint64_t hostname__r8(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline uint64_t hostname__r4(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/* The hash of key[0..len) under seed; key is a folded name (or a suffix of one). */
static inline uint64_t hostname_hash(const char *key, size_t len, uint64_t seed)
{
	const uint64_t p1 = UINT64_C(0xe7037ed1a0b428db);
	const uint64_t p2 = UINT64_C(0x8ebc6af09c88c6e3);
	const uint8_t *p = (const uint8_t *)key;
	uint64_t a, b;

	if (len <= 16) {
		if (len >= 4) {
			/* Two overlapping 4-byte reads from each end cover 4..16 bytes. */
			a = hostname__r4(p) << 32 | hostname__r4(p + ((len >> 3) << 2));
			b = hostname__r4(p + len - 4) << 32 |
			    hostname__r4(p + len - 4 - ((len >> 3) << 2));
		} else if (len > 0) {
			a = (uint64_t)p[0] << 16 | (uint64_t)p[len >> 1] << 8 | p[len - 1];
			b = 0;
		} else {
			a = b = 0;
		}
	} else {
		size_t i = len;

		while (i > 16) {
			seed = hostname__mum(hostname__r8(p) ^ p1, hostname__r8(p + 8) ^ seed);
			p += 16;
			i -= 16;
		}
		/* The last 16 bytes, overlapping the previous block when len % 16 != 0. */
		a = hostname__r8(p + i - 16);
		b = hostname__r8(p + i - 8);
	}
	return hostname__mum(p1 ^ len, hostname__mum(a ^ p1, b ^ seed) ^ p2);
}

#endif
