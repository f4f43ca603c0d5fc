/* SPDX-License-Identifier: MIT */
/*
 * corefile: the CoreDNS Corefile of the pod-scoped egress-dns, generated from
 * the gateway's own allowlist, and the check that a Corefile still matches
 * it. The allowlist lived twice in the Envoy deployment (Corefile rewrites
 * and server_names); drift meant DNS sent a client to the gateway and the
 * gateway reset it. Generating one from the other and checking in CI ends
 * that.
 *
 * The generated Corefile also answers every HTTPS and SVCB query (types 65
 * and 64) itself, with an empty NOERROR: a real record would hand a client
 * the server's ECH keys and address hints, and with them a way around the
 * gateway.
 *
 * Pure functions: text in, text or findings out, errors returned.
 */
#ifndef SNIGATE_CONF_COREFILE_H
#define SNIGATE_CONF_COREFILE_H

#include <stddef.h>

#include "conf/conf.h"

#define COREFILE_MAX_UPSTREAMS 15 /* CoreDNS forward takes at most 15 TOs */

#define COREFILE_DEFAULT_UPSTREAM "/etc/resolv.conf"

struct corefile_opts {
	/* The gateway Service: NAME.NAMESPACE.svc.CLUSTER_DOMAIN (a trailing dot is fine). */
	const char *gateway;
	/*
	 * Where other names go: "IP", "IP:port", "[IPv6]:port" or an absolute
	 * path to a resolv.conf; 0..15 of them. None: COREFILE_DEFAULT_UPSTREAM,
	 * the egress-dns pod's own resolver, which is the cluster DNS under
	 * dnsPolicy ClusterFirst and moves with it.
	 */
	const char *const *upstreams;
	unsigned n_upstreams;
	/* Named in the header comment; NULL for none. */
	const char *source;
};

/*
 * The Corefile for c's allowlist into *out (malloc'd, NUL-terminated).
 * Returns 0, -EINVAL with err->field naming the bad option ("gateway",
 * "upstream[1]"), or -ENOMEM.
 */
int corefile_generate(const struct conf *c, const struct corefile_opts *o, char **out,
		      struct conf_error *err);

/* One name a Corefile rewrites to the gateway. */
struct corefile_name {
	char *name;   /* "api.github.com", "*.githubusercontent.com", or "regex PATTERN" */
	char *target; /* the rewrite's target, lower case, no trailing dot */
	unsigned line;
	int understood; /* 0 for a rewrite whose match is not a host name or wildcard */
};

struct corefile {
	struct corefile_name *v;
	size_t n;
};

/*
 * Read a Corefile's name rewrites. Also refuses what would crash-loop
 * CoreDNS in the way the Envoy deployment met: a forward whose TO is a zone
 * ("forward cluster.local in-addr.arpa 10.43.0.10"). Returns 0, or -EINVAL
 * with err (file, line, msg), or -ENOMEM.
 */
int corefile_parse(const char *buf, size_t len, const char *file, struct corefile *out,
		   struct conf_error *err);
void corefile_free(struct corefile *cf);

enum corefile_drift_kind {
	COREFILE_ONLY_IN_CONFIG,   /* allowlisted, but DNS does not send it to the gateway */
	COREFILE_ONLY_IN_COREFILE, /* sent to the gateway, which will reset it */
	COREFILE_WRONG_TARGET,	   /* rewritten to something else than the gateway */
};

struct corefile_drift {
	enum corefile_drift_kind kind;
	char *name;
	unsigned line; /* in the config for ONLY_IN_CONFIG, in the Corefile otherwise */
	char *target;  /* WRONG_TARGET: where it goes */
};

/*
 * Differences between c's allowlist and cf's rewrites, config order first,
 * then Corefile order. gateway (may be NULL) is the target every rewrite
 * must have; without it they must all have the same one. Returns 0 with
 * *out (free with corefile_drift_free) and *n (0: in sync), or -ENOMEM.
 */
int corefile_diff(const struct conf *c, const struct corefile *cf, const char *gateway,
		  struct corefile_drift **out, size_t *n);
void corefile_drift_free(struct corefile_drift *d, size_t n);

#endif
