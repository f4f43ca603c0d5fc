/* SPDX-License-Identifier: MIT */
/*
 * fuzz_proxyproto: libFuzzer target for proxyproto_parse(), the PROXY
 * protocol v2 header a trusted balancer sends before the ClientHello.
 *
 * Beyond "does not crash" (the input is copied to a buffer of exactly its
 * size, so ASan sees any read past it), it checks what proxyproto.h
 * promises: an OK header's length is within the bytes given and within
 * PROXYPROTO_MAX, its family and command agree, and its authority lies
 * inside the header; NEED_MORE asks for more than it was given and no more
 * than PROXYPROTO_MAX; the answer on the header cut to its own length is
 * the same, and on every shorter cut is NEED_MORE or the same refusal, never
 * an OK of another length.
 *
 * Built with -Dfuzzers=true; test/fuzz/replay.c runs the same checks over
 * corpus/proxyproto in every build.
 */
#include "sni/proxyproto.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

static enum proxyproto_result parse_copy(const uint8_t *data, size_t n, struct proxyproto_header *h)
{
	uint8_t *b = malloc(n ? n : 1);
	check(b != NULL);
	memcpy(b, data, n);
	enum proxyproto_result r = proxyproto_parse(b, n, h);
	/* authority points into b: checked against it, then made relative. */
	if (h->authority) {
		check(h->authority >= b + PROXYPROTO_FIXED &&
		      h->authority + h->authority_len <= b + h->len);
		h->authority = (const uint8_t *)(uintptr_t)(h->authority - b);
	}
	free(b);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxyproto_header h, g;
	enum proxyproto_result r = parse_copy(data, size, &h);

	switch (r) {
	case PROXYPROTO_OK:
		check(h.len >= PROXYPROTO_FIXED && h.len <= size && h.len <= PROXYPROTO_MAX);
		check(h.reason == PROXYPROTO_R_NONE);
		check(h.command == PROXYPROTO_LOCAL ? h.family == 0
						    : h.family == AF_INET || h.family == AF_INET6);
		/* Bytes after the header are the client's: they change nothing. */
		check(parse_copy(data, h.len, &g) == PROXYPROTO_OK && !memcmp(&g, &h, sizeof(g)));
		break;
	case PROXYPROTO_NEED_MORE:
		check(h.want > size && h.want <= PROXYPROTO_MAX);
		break;
	case PROXYPROTO_REJECT:
		check(h.reason > PROXYPROTO_R_NONE && h.reason < PROXYPROTO_R__COUNT);
		check(h.len == 0 && h.family == 0 && !h.authority);
		break;
	default:
		check(0);
	}
	/* A shorter read can only wait, or refuse for the same reason, never accept. */
	for (size_t cut = 0; cut < size && cut < PROXYPROTO_FIXED + 64; cut++) {
		enum proxyproto_result s = parse_copy(data, cut, &g);
		check(s != PROXYPROTO_OK || (r == PROXYPROTO_OK && g.len <= cut && g.len == h.len));
		if (s == PROXYPROTO_REJECT)
			check(r == PROXYPROTO_REJECT && g.reason == h.reason);
	}
	return 0;
}
