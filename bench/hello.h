/* SPDX-License-Identifier: MIT */
/*
 * hello: craft TLS 1.3-shaped ClientHellos for tests and the load generator.
 *
 * The output is what a modern client sends: random, session id, cipher
 * suites, and the usual extensions (server_name, supported_groups,
 * signature_algorithms, supported_versions, key_share, psk modes, ALPN),
 * padded with the padding extension (RFC 7685) to reach a chosen size, so a
 * post-quantum X25519MLKEM768-sized hello (~1.8 KB) or an 8 KiB one can be
 * reproduced. The handshake message may be split over several TLS records.
 * It is not meant to complete a handshake with a real server.
 */
#ifndef SNIGATE_BENCH_HELLO_H
#define SNIGATE_BENCH_HELLO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hello_opts {
	const char *sni;  /* NULL: no server_name extension at all */
	size_t size;	  /* wanted total wire size in bytes, 0 = natural size (~300) */
	unsigned records; /* split the handshake message over this many records; 0 or 1 = one */
	bool ech;	  /* add an encrypted_client_hello extension (GREASE-like payload) */
	bool grease;	  /* add GREASE cipher suite, group and extension values (RFC 8701) */
	bool pq_keyshare; /* add an X25519MLKEM768 (0x11ec) key share of 1216 bytes */
};

/*
 * Write the ClientHello records into out (capacity cap). Returns the number
 * of bytes written, or -1 when cap is too small or the options cannot be met
 * (a size smaller than the natural size, an SNI over 255 bytes).
 */
long hello_build(const struct hello_opts *o, uint8_t *out, size_t cap);

#endif
