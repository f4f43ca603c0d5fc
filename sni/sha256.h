/* SPDX-License-Identifier: MIT */
/*
 * sha256: SHA-256 (FIPS 180-4) of a buffer, in one call.
 *
 * Only proxy authentication hashes anything, once per CONNECT that carries
 * credentials, so a hundred lines checked against the FIPS 180-4 and RFC
 * 6234 vectors (test/sni/test_proxyauth.c) were preferred to a link
 * dependency on libcrypto for the whole gateway, static image included.
 */
#ifndef SNIGATE_SNI_SHA256_H
#define SNIGATE_SNI_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32 /* bytes of a digest */

/*
 * The digest of p[0..n) into out. The input may be a secret: nothing of it
 * is left in memory this function used once it returns.
 */
void sha256(const void *p, size_t n, uint8_t out[SHA256_LEN]);

#endif
