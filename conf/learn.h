/* SPDX-License-Identifier: MIT */
/*
 * learn: a proposed `policies:` list from access logs (`snigate learn`).
 *
 * Feed it the lines of one or more access logs (core/accesslog.c's JSON,
 * audit mode's "would_deny" included); it groups the connections that got
 * past the gate by a name, one group a policy, and writes a whole
 * configuration that lists exactly those names, each with a comment saying
 * how often, when and on which ports it was seen.
 *
 * Which lines count: decision "allow" or "would_deny" with a host name,
 * the SNI for a raw TLS client, the CONNECT authority's host for a proxy
 * client. Denials, lines without a name (hello timeouts, protocol errors),
 * IP addresses, lines that are not access lines (snigate's own log lines,
 * blank lines) and malformed ones are counted and left out.
 *
 * The output loads as it is: learn_write() loads and validates its own
 * text with conf/ before handing it out, so a proposal that `snigate
 * --check` would refuse is an error here, never a file.
 *
 * Nothing here prints; errors come back in a struct conf_error, and what a
 * user should hear about besides (clients in no --source, listeners not in
 * the config) comes back as notes for the caller to print.
 */
#ifndef SNIGATE_CONF_LEARN_H
#define SNIGATE_CONF_LEARN_H

#include <stdio.h>

#include "conf/conf.h"

#define LEARN_LINE_MAX 16384 /* bytes; a longer line is malformed (access lines are < 2 KiB) */

enum learn_by {
	LEARN_BY_LISTENER = 0, /* a policy a listener: match: {listeners: [L]} */
	LEARN_BY_USER,	       /* a policy a proxy user; clients without one: by listener */
	LEARN_BY_CIDR,	       /* a policy a --source NAME=CIDR: match: {sources: [CIDR]} */
};

/* --source NAME=CIDR: NAME is the policy's name, CIDR as conf/ reads a source. */
struct learn_source {
	const char *name;
	const char *cidr;
};

struct learn_opts {
	enum learn_by by;
	const struct learn_source *sources; /* LEARN_BY_CIDR: first match wins, in order */
	unsigned n_sources;
	/*
	 * 0: exact names only, with a comment where a wildcard could stand.
	 * N >= 2: N or more names below one registrable domain become
	 * "*.domain" (never at or above a public suffix).
	 */
	unsigned wildcards;
	enum conf_mode mode; /* each policy's mode: CONF_ENFORCE (default, 0 too) or CONF_AUDIT */
	/*
	 * The configuration the logs came from (-c), or NULL. With it, the
	 * output is this configuration with its policies and top-level allow
	 * replaced, and its listeners are what listener groups match; learn
	 * names an unnamed listener a policy needs. Without it, the output
	 * has the listeners the logs name and the defaults for the rest, and
	 * LEARN_BY_USER is refused (the users' credentials are the config's).
	 * learn_write() changes it (listener names, policies, allow).
	 */
	struct conf *base;
};

/* What happened to the lines fed so far. */
struct learn_counts {
	unsigned long long lines;      /* every line */
	unsigned long long used;       /* connections in the proposal */
	unsigned long long other;      /* not an access line: blank, or not starting with '{' */
	unsigned long long malformed;  /* started with '{' but is not a usable access line */
	unsigned long long denied;     /* decision "deny" */
	unsigned long long no_name;    /* let through, but with no host name (none logged) */
	unsigned long long ip_literal; /* the host is an IP address */
	unsigned long long unmatched;  /* LEARN_BY_CIDR: the client is in no source */
	unsigned long long unknown_listener; /* on a listener the configuration does not have */
};

struct learn;

/*
 * Check o and start. Returns 0 and *out, or -EINVAL with err->field naming
 * the option ("--source", "--by", "--wildcards", "--mode") and err->msg
 * why, or -ENOMEM. o->sources and o->base must outlive *out.
 */
int learn_new(const struct learn_opts *o, struct learn **out, struct conf_error *err);

/* One line, without its newline ("\r\n" is fine). Returns 0, or -ENOMEM. */
int learn_line(struct learn *l, const char *line, size_t len);

/*
 * Every line of f, each bounded by LEARN_LINE_MAX. name is for errors.
 * Returns 0, -EIO (err says which file) or -ENOMEM.
 */
int learn_read(struct learn *l, FILE *f, const char *name, struct conf_error *err);

void learn_counts(const struct learn *l, struct learn_counts *out);

/*
 * The proposal: a whole configuration in snigate's YAML, malloc'd and
 * NUL-terminated, into *out. inputs (n_inputs of them, "-" for stdin) are
 * named in its header comment. Returns 0; -EINVAL with err when there is
 * nothing to propose (no usable connection), more groups than
 * CONF_MAX_POLICIES, or when the text does not load (err says why); or
 * -ENOMEM.
 */
int learn_write(struct learn *l, const char *const *inputs, unsigned n_inputs, char **out,
		struct conf_error *err);

/*
 * Things worth a line on stderr, valid after learn_write() until
 * learn_free(): "client 10.9.0.7 (3 connections) is in no --source".
 */
unsigned learn_n_notes(const struct learn *l);
const char *learn_note(const struct learn *l, unsigned i);

void learn_free(struct learn *l);

/* "listener", "user", "cidr" into *out; 0 or -EINVAL. */
int learn_by_parse(const char *s, enum learn_by *out);

#endif
