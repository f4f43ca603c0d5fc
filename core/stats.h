/* SPDX-License-Identifier: MIT */
/*
 * stats: why connections ended, counted per worker and summed on demand.
 * Reasons 1..SNI_R__COUNT-1 are the parser's own (enum sni_reason).
 */
#ifndef SNIGATE_STATS_H
#define SNIGATE_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "sni/sni.h"

enum reason {
	RS_NONE = 0,
	/* 1 .. SNI_R__COUNT - 1: enum sni_reason */
	RS_NOT_ALLOWED = 32, /* valid SNI, not on the allowlist */
	RS_HELLO_TIMEOUT,    /* no whole ClientHello within timeouts.client_hello */
	RS_HELLO_EOF,	     /* client closed before a whole ClientHello */
	RS_OVERLOAD,	     /* limits.max_connections reached */
	RS_DNS_NXDOMAIN,
	RS_DNS_NODATA,
	RS_DNS_ERROR,
	RS_DNS_TIMEOUT,
	RS_CONNECT_REFUSED,
	RS_CONNECT_TIMEOUT,
	RS_CONNECT_ERROR,
	RS_DONE,	   /* both directions finished cleanly */
	RS_CLIENT_RESET,   /* client reset or failed while relaying */
	RS_UPSTREAM_RESET, /* upstream reset or failed while relaying */
	RS_IDLE_TIMEOUT,
	RS_SHUTDOWN,	  /* the gateway stopped */
	RS_INTERNAL,	  /* out of memory, pipes or fds */
	RS_PENDING_LIMIT, /* limits.max_pending_hellos reached */
	RS_SOURCE_LIMIT,  /* limits.max_per_source_ip reached */
	/* the answer's addresses are refused by the upstream policy (resolver/policy.h) */
	RS_UPSTREAM_DENIED,
	RS_PROTOCOL,	     /* first bytes neither a TLS record nor an HTTP request (auto) */
	RS_BAD_REQUEST,	     /* CONNECT: malformed request head (400) */
	RS_BAD_METHOD,	     /* CONNECT: a method other than CONNECT (405) */
	RS_HEAD_TOO_LARGE,   /* CONNECT: request head over the limits (431) */
	RS_BAD_VERSION,	     /* CONNECT: not HTTP/1.0 or 1.1 (505) */
	RS_HEAD_TIMEOUT,     /* CONNECT: no whole request head within timeouts.request_head */
	RS_HEAD_EOF,	     /* CONNECT: closed before a whole request head */
	RS_PORT_NOT_ALLOWED, /* CONNECT: port not in the listener's connect_ports (403) */
	RS_IP_LITERAL,	     /* CONNECT: an IP address target not on the allowlist (403) */
	RS_AUTH_REQUIRED,    /* CONNECT: no Proxy-Authorization (407) */
	RS_AUTH_FAILED,	     /* CONNECT: wrong or malformed credentials (407) */
	RS_SNI_MISMATCH,     /* CONNECT: the ClientHello names another host than the CONNECT */
	RS_NO_POLICY,	     /* no policy matches the connection (policies[].match) */
	RS_EXPIRED,	     /* the policy's entry for the name is past its expires */
	RS_ECH,		     /* the hello offers Encrypted Client Hello, which its policy denies */
	/* listeners[].proxy_protocol: a trusted peer sent no PROXY v2 header first */
	RS_PROXY_MISSING,
	RS_PROXY_MALFORMED, /* a trusted peer's header is not one (sni/proxyproto.h says why) */
	RS_PROXY_UNTRUSTED, /* a PROXY header from a peer outside proxy_protocol.trusted */
	RS__COUNT
};

/* How the client asked: a raw ClientHello, or HTTP CONNECT first. */
enum path { PATH_TLS = 0, PATH_CONNECT, PATH__COUNT };
/* What the gate decided; WOULD_DENY: not on the list, let through in audit mode. */
enum decision { DEC_DENY = 0, DEC_ALLOW, DEC_WOULD_DENY, DEC__COUNT };

/* Histogram upper bounds (the last bucket is +Inf). */
#define HELLO_BUCKETS	10 /* ClientHello bytes */
#define CONNECT_BUCKETS 13 /* upstream connect, seconds */
extern const double stats_hello_bounds[HELLO_BUCKETS];
extern const double stats_connect_bounds[CONNECT_BUCKETS];

struct stats {
	uint64_t accepted;
	uint64_t denied;			/* reset before anything was connected upstream */
	uint64_t allowed;			/* SNI on the allowlist */
	uint64_t would_deny;			/* audit mode: not on the list, let through */
	uint64_t log_dropped;			/* denial access lines over log.access_deny_rate */
	uint64_t hello_hist[HELLO_BUCKETS + 1]; /* whole ClientHellos by size */
	uint64_t hello_bytes;
	uint64_t connect_hist[CONNECT_BUCKETS + 1]; /* successful upstream connects */
	uint64_t connect_us;
	uint64_t relayed; /* upstream connected, bytes flowed */
	uint64_t bytes_up;
	uint64_t bytes_down;
	uint64_t dns_queries;
	uint64_t reason[RS__COUNT];
};

const char *reason_str(enum reason r);	   /* NULL for unused slots */
const char *path_str(enum path p);	   /* "tls", "connect" */
const char *decision_str(enum decision d); /* "deny", "allow", "would_deny" */
void stats_hello(struct stats *s, size_t bytes);
void stats_connect(struct stats *s, uint64_t us);
void stats_add(struct stats *sum, const struct stats *s);
/* {"accepted":1,...} into buf; returns the length written. */
size_t stats_json(const struct stats *s, char *buf, size_t len);

#endif
