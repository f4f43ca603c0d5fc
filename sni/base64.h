/* SPDX-License-Identifier: MIT */
/*
 * base64: strict decoding of padded base64 (RFC 4648 4), the form HTTP
 * Basic credentials take (RFC 7617 2).
 *
 * Strict means: the standard alphabet only (not base64url), a length that
 * is a multiple of 4, padding only as the last one or two characters, and
 * no whitespace or line breaks. Garbage is refused rather than skipped, so
 * what is checked is exactly what the client sent. Unused bits before the
 * padding need not be zero ("Zh==" decodes as "Zg==" does); RFC 4648 3.5
 * lets a decoder take them, and clients that set them would otherwise be
 * refused for no gain in safety: the decoded bytes are what gets checked.
 */
#ifndef SNIGATE_SNI_BASE64_H
#define SNIGATE_SNI_BASE64_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decode in[0..n) into out[0..cap). Returns the decoded length (0 for empty
 * input), or -1 when the input is not strict padded base64 or cap is under
 * n / 4 * 3, the most it could decode to. On -1, out may hold part of the
 * decoded bytes; a caller decoding a secret wipes it either way.
 */
long base64_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap);

#endif
