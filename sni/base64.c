/* SPDX-License-Identifier: MIT */
/*
 * base64: the decoder. Four characters make 24 bits, written as three bytes,
 * or fewer when the quantum ends in padding. The alphabet is looked up with
 * range compares rather than a 256-byte table: the input is one header
 * value, and the compares read as the RFC's table does.
 */
#include "sni/base64.h"

/* RFC 4648 4, Table 1: the value of an alphabet character, or -1. */
static int b64val(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

long base64_decode(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
	size_t i, o = 0;

	if (n % 4 || n / 4 * 3 > cap)
		return -1;
	for (i = 0; i < n; i += 4) {
		int v[4], k, pad = 0;
		uint32_t bits;

		for (k = 0; k < 4; k++) {
			/* RFC 4648 3.2: '=' only ends the data, as "xx==" or "xxx=". */
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad) /* "a=b=" */
				return -1;
			v[k] = b64val(in[i + k]);
			if (v[k] < 0)
				return -1;
		}
		bits = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
		       (uint32_t)v[3];
		out[o++] = (uint8_t)(bits >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(bits >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)bits;
	}
	return (long)o;
}
