/* SPDX-License-Identifier: MIT */
/*
 * sni: find the server_name in a TLS ClientHello that may still be arriving.
 *
 * The caller peeks the socket (MSG_PEEK), so every call sees the stream from
 * byte 0; the parser is stateless and simply re-parses the longer buffer, as
 * picohttpparser does. The ClientHello may be fragmented over several TLS
 * records (RFC 8446 5.1 allows it) and several TCP segments; the handshake
 * message is reassembled into caller-provided scratch memory, so the parser
 * never allocates and never reads outside [buf, buf + len).
 *
 * Every rejection carries a reason, used as-is by metrics and the access log.
 */
#ifndef SNIGATE_SNI_H
#define SNIGATE_SNI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sni/hostname.h"

#define SNI_NAME_MAX HOSTNAME_MAX /* RFC 1035 presentation form, without trailing dot */

enum sni_status {
	SNI_OK = 0,    /* a complete ClientHello with a valid host_name */
	SNI_NEED_MORE, /* a valid prefix: peek again once out->want bytes are there */
	SNI_REJECT,    /* not a ClientHello we accept; out->reason says why */
};

enum sni_reason {
	SNI_R_NONE = 0,
	SNI_R_NOT_HANDSHAKE,	/* first record is not content type 22 (e.g. plain HTTP) */
	SNI_R_RECORD_VERSION,	/* record legacy_version major byte is not 3 */
	SNI_R_RECORD_LENGTH,	/* record length 0 or > 2^14 + 2048 */
	SNI_R_NOT_CLIENT_HELLO, /* handshake type is not 1, or a non-handshake record interleaves */
	SNI_R_TOO_LARGE,	/* ClientHello larger than the configured maximum */
	SNI_R_MALFORMED,	/* a length or vector that does not fit its parent */
	SNI_R_DUP_EXTENSION,	/* an extension type appears twice (RFC 8446 4.2) */
	SNI_R_NO_SNI,		/* no server_name extension at all */
	SNI_R_SNI_MALFORMED,	/* server_name list empty, bad lengths, or name type != host_name */
	SNI_R_NAME_EMPTY,	/* a zero-length host_name, or just "." */
	SNI_R_NAME_TOO_LONG,	/* host_name over 253 bytes, or a label over 63 */
	SNI_R_NAME_INVALID,	/* a byte or label shape not allowed in a DNS host name */
	SNI_R__COUNT
};

struct sni_hello {
	enum sni_reason reason; /* set when SNI_REJECT */
	size_t want;	  /* SNI_NEED_MORE: total bytes needed for the next step (>= len + 1) */
	size_t wire_len;  /* SNI_OK: bytes of the records that carried the ClientHello */
	bool ech;	  /* encrypted_client_hello (0xfe0d) extension present */
	uint16_t version; /* ClientHello legacy_version */
	uint8_t name_len; /* SNI_OK: length of name, 1..SNI_NAME_MAX */
	char name[SNI_NAME_MAX + 1]; /* SNI_OK: lower-cased host name, NUL-terminated */
};

/*
 * Parse the start of a client-to-server TLS stream.
 *
 * buf/len: the bytes peeked so far. scratch/scratch_len: memory the handshake
 * message is reassembled into when it spans records (a hello in one record
 * is parsed in place); scratch_len is also the largest ClientHello body
 * accepted, the 4-byte handshake header not counted (a larger one is
 * SNI_R_TOO_LARGE). On SNI_NEED_MORE, out->want is never more than the
 * records needed for a scratch_len-sized message, so a caller may size its
 * peek to it. Nothing in out points into buf or scratch.
 *
 * Bytes after the records that carry the hello (wire_len) are not looked
 * at; a record that carries bytes beyond the end of the hello is
 * SNI_R_MALFORMED, as nothing may follow it before the server answers.
 *
 * The host_name must pass the host name rule of sni/hostname.h, which
 * every other path shares: one trailing dot ("example.com.", not RFC 6066
 * compliant) is dropped, so it matches the same allowlist entry as
 * "example.com"; upper case is folded; internationalised names pass as
 * A-labels ("xn--..."). A name that fails is SNI_R_NAME_EMPTY,
 * SNI_R_NAME_TOO_LONG or SNI_R_NAME_INVALID, after the first problem in it.
 */
enum sni_status sni_parse(const uint8_t *buf, size_t len, uint8_t *scratch, size_t scratch_len,
			  struct sni_hello *out);

/* A short stable token for a reason ("no_sni", "malformed", ...), for logs and metrics. */
const char *sni_reason_str(enum sni_reason r);

#endif
