/* SPDX-License-Identifier: MIT */
/*
 * proxyproto: the PROXY protocol version 2 header (haproxy.org's
 * proxy-protocol.txt, section 2.2) that a load balancer or SNAT hop puts in
 * front of a connection to say whose it is. Binary only: version 1's text
 * header is not accepted, since every balancer that matters sends v2.
 *
 * The parser reads the bytes it is given and nothing past them, like
 * sni_parse(): a header split across segments asks for more, and a header
 * whose fields or TLVs disagree with its length is refused. Whether the
 * sender may be believed is not its business (the listener's trusted list
 * is core's); it only says what the header claims.
 */
#ifndef SNIGATE_SNI_PROXYPROTO_H
#define SNIGATE_SNI_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>

/* The fixed part: the 12-byte signature, version and command, family, length. */
#define PROXYPROTO_FIXED 16
/*
 * The largest header taken, TLVs included. The length field allows 64 KiB;
 * the balancers in use send well under 1 KiB (addresses, a VPC endpoint or
 * link id, at most an SNI and a certificate's CN), and every byte of it is
 * read before the ClientHello can be.
 */
#define PROXYPROTO_MAX 4096

enum proxyproto_result {
	PROXYPROTO_OK,	      /* a whole, well-formed header of h->len bytes */
	PROXYPROTO_NEED_MORE, /* h->want bytes in all are needed to decide */
	PROXYPROTO_REJECT,    /* h->reason says why */
};

enum proxyproto_reason {
	PROXYPROTO_R_NONE = 0,
	PROXYPROTO_R_SIGNATURE, /* not a v2 signature: no header, or v1's "PROXY " text */
	PROXYPROTO_R_VERSION,	/* version other than 2 */
	PROXYPROTO_R_COMMAND,	/* command other than LOCAL or PROXY */
	/* PROXY with a family other than TCP over IPv4 or IPv6 (UNSPEC, UNIX, UDP) */
	PROXYPROTO_R_FAMILY,
	PROXYPROTO_R_TOO_LARGE, /* length over PROXYPROTO_MAX */
	PROXYPROTO_R_SHORT,	/* length shorter than the family's address block */
	PROXYPROTO_R_TLV,	/* a TLV runs past the header, or one is truncated */
	PROXYPROTO_R_CRC,	/* a PP2_TYPE_CRC32C TLV that does not match */
	PROXYPROTO_R__COUNT
};

enum proxyproto_command {
	PROXYPROTO_LOCAL = 0, /* the balancer's own connection (a health check): no client */
	PROXYPROTO_PROXY = 1, /* relayed for the client in src */
};

struct proxyproto_header {
	size_t len;  /* PROXYPROTO_OK: bytes the header takes, PROXYPROTO_FIXED.. */
	size_t want; /* PROXYPROTO_NEED_MORE: bytes needed in all */
	enum proxyproto_reason reason;
	enum proxyproto_command command;
	/* PROXY only: AF_INET or AF_INET6; 0 for LOCAL. */
	int family;
	uint8_t src[16], dst[16]; /* network order; 4 bytes used for AF_INET */
	uint16_t src_port, dst_port;
	/* PP2_TYPE_AUTHORITY (the host the client asked the balancer for), or NULL/0. */
	const uint8_t *authority; /* points into the buffer given to the parser */
	uint16_t authority_len;
};

/* Parse the header at the start of buf[0..len); fills h (zeroed first). */
enum proxyproto_result proxyproto_parse(const uint8_t *buf, size_t len,
					struct proxyproto_header *h);

/*
 * Whether buf[0..len) starts the v2 signature: all 12 bytes when len >= 12,
 * else as many as there are. One test for the first bytes of a connection
 * that is not expected to carry a header.
 */
int proxyproto_signature(const uint8_t *buf, size_t len);

/* "signature", "tlv", ...: for logs; never NULL. */
const char *proxyproto_reason_str(enum proxyproto_reason r);

#endif
