/* SPDX-License-Identifier: MIT */
/*
 * accesslog: the JSON line written when a connection ends, and which lines
 * are written at all. Denials are written at most log.access_deny_rate per
 * second and thread, so a scan cannot turn the log into the bottleneck (the
 * rest are counted); allowed connections are sampled at log.access_sample.
 */
#ifndef SNIGATE_CORE_ACCESSLOG_H
#define SNIGATE_CORE_ACCESSLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/conf.h"
#include "core/stats.h"

/* One thread's sampling state: accesslog_init() it, then ask accesslog_wanted(). */
struct accesslog {
	double tokens; /* denial lines that may still be written this second */
	uint64_t at;   /* monotonic ms of the last refill of tokens */
	uint64_t rng;  /* xorshift state for sampling allowed lines */
};

/* What one line says. Times are monotonic ms; 0 where the phase was not reached. */
struct access_entry {
	const struct sockaddr *client;	 /* family 0 when unknown: shown as "?" */
	const struct sockaddr *upstream; /* the address dialled last, or NULL */
	/* The balancer whose PROXY protocol header named client, or NULL. */
	const struct sockaddr *via;
	const char *listener; /* "127.0.0.1:8443" */
	enum path path;
	const char *host; /* CONNECT: the authority's host, or NULL */
	uint16_t port;	  /* CONNECT: the authority's port */
	const char *sni;  /* the ClientHello's name, or NULL */
	enum decision decision;
	enum reason reason;
	uint64_t bytes_up;   /* client to upstream */
	uint64_t bytes_down; /* upstream to client */
	uint64_t t0;	     /* accepted */
	uint64_t t_hello;    /* whole ClientHello (or CONNECT head) seen */
	uint64_t t_dns;	     /* name resolved */
	uint64_t t_connect;  /* upstream connected */
	uint64_t now;	     /* ended */
	bool ech;	     /* the hello offered Encrypted Client Hello */
	const char *policy;  /* the policy that decided, or NULL before one did */
	const char *user;    /* CONNECT: the authenticated proxy user, or NULL */
	unsigned gen;	     /* the configuration generation that decided, when policy is set */
};

/* seed: differs per thread, so that threads sample different connections. */
void accesslog_init(struct accesslog *a, const struct conf *c, unsigned seed);
/*
 * True when the line of a connection ending now should be written: allowed
 * says whether the gate let it through (audit mode included). A denial held
 * back by the rate adds one to *dropped.
 */
bool accesslog_wanted(struct accesslog *a, const struct conf *c, bool allowed, uint64_t now,
		      uint64_t *dropped);
/* Write e's line (the caller asked accesslog_wanted() first). */
void accesslog_write(const struct access_entry *e);
/* "192.0.2.1:443", "[2001:db8::1]:443" or "?" into buf; returns what snprintf returns. */
size_t accesslog_addr(const struct sockaddr *sa, char *buf, size_t len);

#endif
