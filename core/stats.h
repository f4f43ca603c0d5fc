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
	RS_SHUTDOWN, /* the gateway stopped */
	RS_INTERNAL, /* out of memory, pipes or fds */
	RS__COUNT
};

struct stats {
	uint64_t accepted;
	uint64_t denied;  /* reset before anything was connected upstream */
	uint64_t allowed; /* SNI on the allowlist */
	uint64_t relayed; /* upstream connected, bytes flowed */
	uint64_t bytes_up;
	uint64_t bytes_down;
	uint64_t dns_queries;
	uint64_t reason[RS__COUNT];
};

const char *reason_str(enum reason r); /* NULL for unused slots */
void stats_add(struct stats *sum, const struct stats *s);
/* {"accepted":1,...} into buf; returns the length written. */
size_t stats_json(const struct stats *s, char *buf, size_t len);

#endif
